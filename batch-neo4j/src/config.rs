//! `Neo4jConfig`: where the server is and how relationships find their nodes.

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

/// Connection and query settings of a `Neo4jBatchCreator`.
#[derive(Clone)]
pub struct Neo4jConfig {
    pub(crate) addr: String,
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
    /// A configuration for `uri` (`bolt://host:port`, or `neo4j://host:port`
    /// used as a direct connection; port 7687 by default) with basic
    /// authentication. A URI without scheme is refused rather than guessed. Defaults: database `neo4j`, start nodes
    /// labelled `Document`, end nodes labelled `Chunk`, MERGE anchored on
    /// the end node. TLS schemes (`bolt+s`, `neo4j+s`, ...) are refused.
    pub fn new(
        uri: &str,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Self, Neo4jError> {
        Ok(Self {
            addr: parse_uri(uri)?,
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

    /// `host:port` of the server.
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

fn parse_uri(uri: &str) -> Result<String, Neo4jError> {
    let shown = masked(uri);
    let rest = match uri.split_once("://") {
        Some(("bolt" | "neo4j", rest)) => rest,
        Some((scheme, _)) => {
            return Err(Neo4jError::Config(format!(
                "URI {shown:?}: scheme {scheme:?} is not supported (TLS is not implemented); use bolt://host:port"
            )));
        }
        None => {
            return Err(Neo4jError::Config(format!(
                "URI {shown:?} has no scheme: write bolt://{shown}"
            )));
        }
    };
    let host_port = rest.split(['/', '?']).next().unwrap_or_default();
    if host_port.is_empty() || host_port.contains('@') {
        return Err(Neo4jError::Config(format!(
            "URI {shown:?} has no host (credentials belong in Neo4jConfig::new, not the URI)"
        )));
    }
    let has_port = host_port
        .rsplit_once(':')
        .is_some_and(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    Ok(if has_port {
        host_port.to_owned()
    } else {
        format!("{host_port}:7687")
    })
}

/// `uri` with any `user:password@` replaced by `***@`, for messages.
fn masked(uri: &str) -> String {
    let (scheme, rest) = match uri.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), uri),
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}***{}", &rest[at..]),
        None => uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{Neo4jConfig, parse_uri};

    #[test]
    fn uris_become_host_port() {
        assert_eq!(
            parse_uri("bolt://127.0.0.1:27687").unwrap(),
            "127.0.0.1:27687"
        );
        assert_eq!(parse_uri("neo4j://db").unwrap(), "db:7687");
        assert!(parse_uri("bolt+s://x").is_err());
        assert!(parse_uri("bolt://").is_err());
    }

    #[test]
    fn a_uri_without_scheme_is_refused_with_a_message_saying_so() {
        let err = Neo4jConfig::new("127.0.0.1:27687", "root", "pw").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration: URI \"127.0.0.1:27687\" has no scheme: write bolt://127.0.0.1:27687"
        );
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
