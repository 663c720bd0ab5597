//! `Neo4jConfig`: where the server is and how relationships find their nodes.

use batch_core::server_url::{ServerUrl, UrlProblem, masked};

use crate::error::Neo4jError;
use crate::name::Name;

/// Which end of a relationship the `MERGE` pattern starts from.
///
/// MERGE walks the relationships of the node it starts at; starting at the
/// end with few relationships is much faster (measured on ArcadeDB: 10
/// documents x 500 chunks, 940 rows/s from the document side, 3.9k rows/s
/// from the chunk side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MergeAnchor {
    /// `MERGE (b)<-[r:T]-(a)`: start at the end node. Right for
    /// one-to-many relationships such as `(:Document)-[:HAS_CHUNK]->(:Chunk)`.
    #[default]
    EndNode,
    /// `MERGE (a)-[r:T]->(b)`: start at the start node.
    StartNode,
}

/// The per-request timeout unless one is set: batch-core's
/// [`DEFAULT_REQUEST_TIMEOUT`](batch_core::DEFAULT_REQUEST_TIMEOUT), the
/// same for every backend.
pub use batch_core::DEFAULT_REQUEST_TIMEOUT as DEFAULT_TIMEOUT;

/// How the Bolt connection is secured, from the URI scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Security {
    /// `bolt://`, `neo4j://`: plaintext.
    Plain,
    /// `bolt+s://`, `neo4j+s://`: TLS, certificate and host name verified.
    Verified,
    /// `bolt+ssc://`, `neo4j+ssc://`: TLS, any certificate accepted.
    SelfSigned,
}

/// Connection and query settings of a `Neo4jBatchCreator`.
#[derive(Clone)]
pub struct Neo4jConfig {
    pub(crate) addr: String,
    /// The host as written in the URI (checked against the certificate).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) host: String,
    pub(crate) security: Security,
    /// `neo4j` schemes: the routing context (the URI's query string, as
    /// key/value pairs), and the writer is taken from the server's routing
    /// table; `None` for `bolt` schemes (one server, as named).
    pub(crate) routing: Option<Vec<(String, String)>>,
    /// Trusted CAs for `+s` schemes; `None`: Mozilla's public roots.
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<batch_core::tls::TlsSettings>,
    pub(crate) user: String,
    pub(crate) password: String,
    pub(crate) database: Option<String>,
    pub(crate) from_label: Name,
    pub(crate) to_label: Name,
    pub(crate) anchor: MergeAnchor,
    pub(crate) try_apoc: bool,
    pub(crate) timeout: std::time::Duration,
}

impl std::fmt::Debug for Neo4jConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Neo4jConfig")
            .field("addr", &self.addr)
            .field("security", &self.security)
            .field("routing", &self.routing)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("database", &self.database)
            .field("from_label", &self.from_label)
            .field("to_label", &self.to_label)
            .field("anchor", &self.anchor)
            .field("try_apoc", &self.try_apoc)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Neo4jConfig {
    /// A configuration for `uri` with basic authentication; port 7687 by
    /// default. A URI without scheme is refused rather than guessed.
    /// Defaults: database `neo4j`, start nodes labelled `Document`, end
    /// nodes labelled `Chunk`, MERGE anchored on the end node.
    ///
    /// Schemes:
    /// - `bolt://host:port`: plaintext.
    /// - `bolt+s://host:port`: TLS (feature `tls`, on by default); the
    ///   server's certificate must be signed by a trusted CA (Mozilla's
    ///   roots, plus a CA file given with [`ca_file`](Self::ca_file) /
    ///   [`tls`](Self::tls), or named by `UDS3_NEO4J_CA_FILE` with
    ///   [`from_env`](Self::from_env)) and name the host. Host names are
    ///   always verified.
    /// - `bolt+ssc://host:port`: TLS accepting any certificate
    ///   ("self-signed"): encrypted, but the server is not authenticated.
    /// - `neo4j://`, `neo4j+s://`, `neo4j+ssc://`: the same security, with
    ///   routing: the server named is asked for its routing table (Bolt's
    ///   `ROUTE`), and writes go to a WRITE server of that table (see the
    ///   crate docs, "Bolt version and routing"). A query string is the
    ///   routing context sent with `ROUTE`
    ///   (`neo4j://db:7687?policy=eu&region=west`): `key=value` pairs, keys
    ///   not empty, unique, and not `address` (which the library sets).
    ///   `bolt` schemes take no query string.
    ///
    /// Credentials in the URI (`bolt://user:password@host`) are refused:
    /// they belong in `user` and `password`. Reads no ENV variable.
    pub fn new(
        uri: &str,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Self, Neo4jError> {
        let parsed = parse_uri(uri)?;
        Ok(Self {
            addr: parsed.addr,
            host: parsed.host,
            security: parsed.security,
            routing: parsed.routing,
            #[cfg(feature = "tls")]
            tls: None,
            user: user.into(),
            password: password.into(),
            database: Some("neo4j".to_owned()),
            from_label: Name::parse("Document", "label").map_err(Neo4jError::Config)?,
            to_label: Name::parse("Chunk", "label").map_err(Neo4jError::Config)?,
            anchor: MergeAnchor::default(),
            try_apoc: false,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// [`new`](Self::new), plus the CA file named by the ENV variable
    /// `UDS3_NEO4J_CA_FILE` ([`NEO4J_CA_FILE_VAR`](batch_core::tls::NEO4J_CA_FILE_VAR)),
    /// if set, trusted by `+s` schemes besides Mozilla's roots: the
    /// variable is read now, the file when a connection is opened.
    /// [`tls`](Self::tls) afterwards replaces it; [`ca_file`](Self::ca_file)
    /// adds to it. Without the `tls` feature it reads nothing.
    pub fn from_env(
        uri: &str,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Self, Neo4jError> {
        let config = Self::new(uri, user, password)?;
        #[cfg(feature = "tls")]
        let config = config.tls_from_env(|name| std::env::var_os(name))?;
        Ok(config)
    }

    /// The TLS settings of [`from_env`](Self::from_env), the variable
    /// read through `lookup`.
    #[cfg(feature = "tls")]
    fn tls_from_env(
        self,
        lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Self, Neo4jError> {
        let settings =
            batch_core::tls::TlsSettings::from_env_with(batch_core::tls::NEO4J_CA_FILE_VAR, lookup)
                .map_err(|e| Neo4jError::Config(e.to_string()))?;
        Ok(self.tls(settings))
    }

    /// The database to write to (Bolt 4+). `None` uses the server's
    /// default. One sink keeps one connection, so one database.
    pub fn database(mut self, database: Option<String>) -> Self {
        self.database = database;
        self
    }

    /// Labels of the start and end nodes that `add_relationship` matches
    /// by id. Matching by label uses the label's id index; UDS3 v2.2's
    /// label-less `MATCH (n {id: ...})` scanned every node.
    pub fn labels(mut self, from_label: &str, to_label: &str) -> Result<Self, Neo4jError> {
        self.from_label = Name::parse(from_label, "label").map_err(Neo4jError::Config)?;
        self.to_label = Name::parse(to_label, "label").map_err(Neo4jError::Config)?;
        Ok(self)
    }

    /// Which end the MERGE pattern starts from.
    pub fn anchor(mut self, anchor: MergeAnchor) -> Self {
        self.anchor = anchor;
        self
    }

    /// Whether to merge relationships with `apoc.merge.relationship` when
    /// the server has it (probed once per sink, remembered; the grouped
    /// `MERGE` runs otherwise). Off by default: on ArcadeDB 26.10 the APOC
    /// path measured 0.7-3.4k rows/s against 2.4-13k rows/s for the
    /// grouped MERGE anchored on the end node, in the same runs of
    /// `cargo bench -p batch-neo4j --bench unwind` (1-4x slower each time).
    pub fn try_apoc(mut self, try_apoc: bool) -> Self {
        self.try_apoc = try_apoc;
        self
    }

    /// How long one connect, transaction or statement may wait for the
    /// server (default 60 s). A server that stops answering without
    /// closing the socket then counts as a lost connection instead of
    /// blocking the flusher forever: transient (retried) before the COMMIT
    /// was sent, outcome unknown (replayed) after.
    pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = timeout;
        self
    }

    #[cfg(feature = "tls")]
    batch_core::tls_setters!(
        "Which certificate authorities a `bolt+s://` / `neo4j+s://` connection trusts \
         (default: Mozilla's roots; CA files are read when the connection is opened). \
         Not used by the other schemes."
    );

    /// Whether the connection uses TLS (`+s` and `+ssc` schemes).
    pub fn is_tls(&self) -> bool {
        self.security != Security::Plain
    }

    /// `host:port` of the server.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Whether the URI's scheme is a `neo4j` one: writes go to a WRITE
    /// server of the routing table.
    pub fn is_routing(&self) -> bool {
        self.routing.is_some()
    }

    /// The same settings aimed at `addr` (`host:port`, from a routing
    /// table): TLS then checks the certificate against that host.
    pub(crate) fn at(&self, addr: &str) -> Self {
        let mut config = self.clone();
        // The routing context keeps the address the URI named (Bolt's
        // HELLO and ROUTE send it as `address`), wherever the session goes.
        if let Some(pairs) = config.routing.as_mut()
            && !pairs.iter().any(|(k, _)| k == "address")
        {
            pairs.push(("address".to_owned(), self.addr.clone()));
        }
        config.host = host_of(addr);
        config.addr = addr.to_owned();
        config
    }
}

/// The host of a routing table's `host:port` (`[::1]:7687` gives `::1`),
/// for TLS; the address itself if it is no `host:port`.
fn host_of(addr: &str) -> String {
    ServerUrl::parse(&format!("bolt://{addr}")).map_or_else(|_| addr.to_owned(), |url| url.host())
}

/// A parsed URI.
#[derive(Debug, PartialEq, Eq)]
struct ParsedUri {
    addr: String,
    host: String,
    security: Security,
    routing: Option<Vec<(String, String)>>,
}

/// Bolt's port when the URI names none.
const DEFAULT_PORT: u16 = 7687;

/// Parses a Bolt URI with batch-core's [`ServerUrl`]; the schemes, the
/// default port, the refusal of credentials and the routing context are
/// Neo4j's rules, here.
fn parse_uri(uri: &str) -> Result<ParsedUri, Neo4jError> {
    let shown = masked(uri);
    let refused = |why: String| Err(Neo4jError::Config(format!("URI {shown:?}{why}")));
    let url = match ServerUrl::parse(uri) {
        Ok(url) => url,
        Err(e) if *e.problem() == UrlProblem::NoScheme => {
            return refused(format!(" has no scheme: write bolt://{shown}"));
        }
        // Checked before the rest: a password written unencoded may hold
        // a '/', '?' or '#' ("bolt://u:pa/ss@db" is no host "u" with a
        // bad port), and a Bolt URI has no other use for an '@'.
        Err(_) if uri.contains('@') => return refused(CREDENTIALS.to_owned()),
        Err(e) => return refused(format!(" {}", e.problem())),
    };
    let scheme = url.scheme();
    let security = match scheme {
        "bolt" | "neo4j" => Security::Plain,
        "bolt+s" | "neo4j+s" => Security::Verified,
        "bolt+ssc" | "neo4j+ssc" => Security::SelfSigned,
        _ => {
            return refused(format!(
                ": scheme {scheme:?} is not supported; use bolt://, bolt+s:// or bolt+ssc:// (or neo4j://, neo4j+s://, neo4j+ssc:// for routing)"
            ));
        }
    };
    if url.has_credentials() || uri.contains('@') {
        return refused(CREDENTIALS.to_owned());
    }
    if security != Security::Plain && !cfg!(feature = "tls") {
        return refused(
            ": TLS needs batch-neo4j's feature \"tls\" (on by default), which this build lacks"
                .to_owned(),
        );
    }
    let routing = match (scheme.starts_with("neo4j"), url.query()) {
        (true, query) => Some(routing_context(query.unwrap_or_default(), &shown)?),
        (false, Some(query)) if !query.is_empty() => {
            return refused(
                ": a bolt:// URI takes no query string (a routing context belongs to neo4j://)"
                    .to_owned(),
            );
        }
        (false, _) => None,
    };
    Ok(ParsedUri {
        addr: url.address(DEFAULT_PORT),
        host: url.host(),
        security,
        routing,
    })
}

/// Why a URI with `user:password@` is refused (after the masked URI).
const CREDENTIALS: &str = " holds credentials: they belong in Neo4jConfig::new, not the URI";

/// The routing context of a `neo4j` URI's query string: `key=value`
/// pairs joined by `&`, as Neo4j's drivers read them (no key empty or
/// repeated, no value empty, no `address`: the library sends the
/// address itself). `shown` is the URI, password masked, for messages.
fn routing_context(query: &str, shown: &str) -> Result<Vec<(String, String)>, Neo4jError> {
    let mut context: Vec<(String, String)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let refused = |why: &str| {
            Err(Neo4jError::Config(format!(
                "URI {shown:?}: routing context {pair:?} {why}"
            )))
        };
        let Some((key, value)) = pair.split_once('=') else {
            return refused("is not key=value");
        };
        if key.is_empty() || value.is_empty() {
            return refused("has an empty key or value");
        }
        if key == "address" {
            return refused("sets \"address\", which the library sets to the URI's host:port");
        }
        if context.iter().any(|(k, _)| k == key) {
            return refused("repeats a key");
        }
        context.push((key.to_owned(), value.to_owned()));
    }
    Ok(context)
}

#[cfg(test)]
mod tests {
    use super::{Neo4jConfig, Security, parse_uri};

    fn addr(uri: &str) -> String {
        parse_uri(uri).unwrap().addr
    }

    #[test]
    fn relationship_statement_is_the_batch_statement_and_checks_the_type() {
        let config = Neo4jConfig::new("bolt://db:1", "u", "p")
            .and_then(|c| c.labels("Doc", "Chunk"))
            .unwrap();
        let cypher = config.relationship_statement("HAS_CHUNK").unwrap();
        assert!(
            cypher.starts_with("UNWIND $rows AS row MATCH (a:`Doc` {id: row.from})"),
            "{cypher}"
        );
        assert!(
            cypher.contains("MERGE (b)<-[r:`HAS_CHUNK`]-(a)"),
            "{cypher}"
        );
        assert!(cypher.ends_with("RETURN row.i AS i, written"), "{cypher}");
        let err = config
            .relationship_statement("HAS CHUNK`) DETACH DELETE (x")
            .unwrap_err();
        assert!(err.to_string().contains("relationship type"), "{err}");
    }

    #[test]
    fn uris_become_host_port() {
        assert_eq!(addr("bolt://127.0.0.1:27687"), "127.0.0.1:27687");
        assert_eq!(addr("neo4j://db"), "db:7687");
        assert_eq!(addr("neo4j://db.example/x"), "db.example:7687");
        assert!(parse_uri("bolt://").is_err());
        assert!(parse_uri("bolt+s://").is_err());
    }

    #[test]
    fn tls_schemes_are_parsed() {
        for (uri, security) in [
            ("bolt://db:1", Security::Plain),
            ("neo4j://db:1", Security::Plain),
            ("bolt+s://db:1", Security::Verified),
            ("neo4j+s://db:1", Security::Verified),
            ("bolt+ssc://db:1", Security::SelfSigned),
            ("neo4j+ssc://db:1", Security::SelfSigned),
        ] {
            let parsed = parse_uri(uri);
            if security != Security::Plain && !cfg!(feature = "tls") {
                let err = parsed.unwrap_err().to_string();
                assert!(err.contains("feature \"tls\""), "{err}");
                continue;
            }
            let parsed = parsed.unwrap();
            assert_eq!(parsed.security, security, "{uri}");
            assert_eq!(parsed.host, "db", "{uri}");
            assert_eq!(parsed.addr, "db:1", "{uri}");
        }
        assert_eq!(parse_uri("bolt://[::1]:7").unwrap().host, "::1");
        let err = parse_uri("bolt+tls://db").unwrap_err().to_string();
        assert!(err.contains("\"bolt+tls\" is not supported"), "{err}");
        assert!(err.contains("bolt+s://"), "{err}");
    }

    /// Issue 31: a `neo4j` URI's query string is its routing context; a
    /// `bolt` URI takes none, and a malformed context is refused naming
    /// the URI (password masked).
    #[test]
    fn routing_context_from_the_query_string() {
        let routing = |uri: &str| parse_uri(uri).map(|p| p.routing);
        assert_eq!(routing("bolt://db:1").unwrap(), None);
        assert_eq!(routing("neo4j://db:1").unwrap(), Some(vec![]));
        assert_eq!(
            routing("neo4j://db:1?policy=eu&region=west#x").unwrap(),
            Some(vec![
                ("policy".to_owned(), "eu".to_owned()),
                ("region".to_owned(), "west".to_owned())
            ])
        );
        let config = Neo4jConfig::new("neo4j://db?policy=eu", "u", "p").unwrap();
        assert_eq!((config.addr(), config.is_routing()), ("db:7687", true));
        assert!(
            !Neo4jConfig::new("bolt://db", "u", "p")
                .unwrap()
                .is_routing()
        );
        for (uri, why) in [
            ("bolt://db:1?policy=eu", "takes no query string"),
            ("neo4j://db:1?policy", "is not key=value"),
            ("neo4j://db:1?=eu", "empty key or value"),
            ("neo4j://db:1?policy=", "empty key or value"),
            ("neo4j://db:1?a=1&a=2", "repeats a key"),
            ("neo4j://db:1?address=other:2", "\"address\""),
        ] {
            let err = Neo4jConfig::new(uri, "u", "p").unwrap_err().to_string();
            assert!(err.contains(why) && err.contains(uri), "{uri}: {err}");
        }
        let err = Neo4jConfig::new("neo4j://root:hunter22@db?policy", "u", "p")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter22"), "{err}");
        let err = Neo4jConfig::new("neo4j+tls://db:1?policy=eu", "u", "p")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"neo4j+tls://db:1?policy=eu\"") && err.contains("not supported"),
            "{err}"
        );
    }

    #[test]
    fn a_uri_without_scheme_is_refused_with_a_message_saying_so() {
        let err = Neo4jConfig::new("127.0.0.1:27687", "root", "pw").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration: URI \"127.0.0.1:27687\" has no scheme: write bolt://127.0.0.1:27687"
        );
    }

    /// Issue 30, defect 7: Bolt takes its user and password as they are
    /// (Neo4jConfig::new), not from the URI, so nothing is percent-decoded
    /// there; credentials in the URI are refused, and never shown, whatever
    /// `@ : / % #` they hold, written raw or percent-encoded.
    #[test]
    fn special_characters_in_credentials() {
        let config = Neo4jConfig::new("bolt://db:7687", "us@er/%#", "p@s:s/w%d#").expect("config");
        assert_eq!(
            (config.user.as_str(), config.password.as_str()),
            ("us@er/%#", "p@s:s/w%d#")
        );
        assert!(!format!("{config:?}").contains("p@s"), "{config:?}");
        for (uri, secret) in [
            ("bolt://root:p%40s%3As%2Fw%25d%23@db:7687", "p%40s"),
            ("neo4j://root:p@s:s/w%d#@db:7687", "s/w%d#"),
            ("bolt://root:pa/ss@db:7687", "pa/ss"),
            ("bolt://root:pa?ss@db:7687", "pa?ss"),
            ("bolt://root:pa#ss@db:7687", "pa#ss"),
        ] {
            let err = Neo4jConfig::new(uri, "root", "pw").unwrap_err().to_string();
            assert!(!err.contains(secret), "{uri}: {err}");
            assert!(
                err.contains("***@db:7687") && err.contains("Neo4jConfig::new"),
                "{err}"
            );
        }
    }

    /// `new` reads no ENV; `from_env` takes the CA file variable (read
    /// here through a lookup, as `from_env` reads the process's).
    #[cfg(feature = "tls")]
    #[test]
    fn only_from_env_reads_the_ca_file_variable() {
        use batch_core::tls::NEO4J_CA_FILE_VAR;
        let config = Neo4jConfig::new("bolt+s://db:7687", "u", "p").expect("config");
        assert_eq!(config.tls, None);
        let lookup = |name: &str| (name == NEO4J_CA_FILE_VAR).then(|| "/etc/ca.pem".into());
        let config = config.tls_from_env(lookup).expect("from env");
        let files = config.tls.as_ref().map(|t| t.ca_files().to_vec());
        assert_eq!(files, Some(vec!["/etc/ca.pem".into()]));
        // Given afterwards, a CA file adds to the variable's.
        let config = config.ca_file("/etc/other.pem");
        assert_eq!(config.tls.map(|t| t.ca_files().len()), Some(2));
    }

    #[test]
    fn credentials_in_a_uri_are_never_shown() {
        for uri in ["bolt://root:hunter22@", "root:hunter22@db:7687"] {
            let err = Neo4jConfig::new(uri, "root", "pw").unwrap_err().to_string();
            assert!(!err.contains("hunter22"), "{err}");
            assert!(err.contains("***@"), "{err}");
        }
    }
}
