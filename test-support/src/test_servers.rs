//! Where the test servers are, and how a test reaches, stops and starts them.
//!
//! This module is the one place that holds the defaults shared by
//! `cargo xtask services` (which installs and runs the servers) and the backend
//! tests and benches (which talk to them; they take xtask as a dev-dependency
//! without default features). Every address comes from an environment variable
//! and falls back to a default on a non-standard loopback port, so a real local
//! server never clashes:
//!
//! | variable | default |
//! | --- | --- |
//! | `UDS3_POSTGRES_URL` | `postgres://postgres@127.0.0.1:25432/postgres` |
//! | `UDS3_CHROMA_URL` | `http://127.0.0.1:28000` |
//! | `UDS3_NEO4J_URI` | `bolt://127.0.0.1:27687` |
//! | `UDS3_NEO4J_USER` | `neo4j` |
//! | `UDS3_NEO4J_PASSWORD` | `uds3-batch-dev` |
//! | `UDS3_COUCHDB_URL` | `http://127.0.0.1:25984` |
//! | `UDS3_POSTGRES_TLS_URL` | `postgres://postgres@localhost:25432/postgres?sslmode=require` |
//! | `UDS3_CHROMA_TLS_URL` | `https://localhost:28443` |
//! | `UDS3_NEO4J_TLS_URI` | `bolt+s://localhost:27688` |
//! | `UDS3_COUCHDB_TLS_URL` | `https://localhost:26984` |
//! | `UDS3_TLS_CA_FILE` | `$UDS3_SERVICES_DIR/tls/ca.pem` |
//! | `UDS3_TLS_OTHER_CA_FILE` | `$UDS3_SERVICES_DIR/tls/other-ca.pem` |
//!
//! The TLS endpoints (`cargo xtask services up` starts them too) serve a
//! certificate for `localhost` and `127.0.0.1` signed by the test CA in
//! `UDS3_TLS_CA_FILE`; `UDS3_TLS_OTHER_CA_FILE` is an unrelated CA, for tests
//! that a client refuses a server its CA did not sign. PostgreSQL serves TLS
//! on its usual port (the client asks for it with `sslmode`); Chroma,
//! pouchdb-server and Neo4j's Bolt port get a TLS front end (stunnel) on
//! ports of their own. The PostgreSQL TLS URL holds only what the Rust
//! `postgres` crate parses (`sslmode=require`; a rustls connector with the
//! test CA verifies the certificate); libpq (`psql`) verifies only with
//! `sslmode=verify-full&sslrootcert=...`: see [`Endpoints::postgres_tls_libpq_url`].
//!
//! A test that needs a TLS endpoint calls [`require_tls`].
//!
//! A test that needs a server calls [`require`], which fails the test with a
//! message naming `cargo xtask services up` when the server cannot be reached:
//! such a test never passes silently. [`stop`], [`start`] and [`restart`] run
//! `cargo xtask services stop|start|restart NAME` for tests that check that a
//! server restart loses nothing.
//!
//! [`postgres`]: PostgreSQL servers a test runs itself (a primary and a
//! streaming standby for failover tests), from the same Debian binaries.
//!
//! std only: it needs none of xtask's features.

pub mod postgres;

use std::fmt;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Environment variable with the PostgreSQL URL.
pub const POSTGRES_URL_VAR: &str = "UDS3_POSTGRES_URL";
/// Environment variable with the Chroma base URL.
pub const CHROMA_URL_VAR: &str = "UDS3_CHROMA_URL";
/// Environment variable with the Bolt URI (Neo4j).
pub const NEO4J_URI_VAR: &str = "UDS3_NEO4J_URI";
/// Environment variable with the Bolt user.
pub const NEO4J_USER_VAR: &str = "UDS3_NEO4J_USER";
/// Environment variable with the Bolt password.
pub const NEO4J_PASSWORD_VAR: &str = "UDS3_NEO4J_PASSWORD";
/// Environment variable with the CouchDB base URL (may carry `user:pass@`).
pub const COUCHDB_URL_VAR: &str = "UDS3_COUCHDB_URL";
/// Environment variable with the PostgreSQL URL for TLS connections.
pub const POSTGRES_TLS_URL_VAR: &str = "UDS3_POSTGRES_TLS_URL";
/// Environment variable with the Chroma base URL over HTTPS.
pub const CHROMA_TLS_URL_VAR: &str = "UDS3_CHROMA_TLS_URL";
/// Environment variable with the Bolt URI over TLS (`bolt+s://`).
pub const NEO4J_TLS_URI_VAR: &str = "UDS3_NEO4J_TLS_URI";
/// Environment variable with the CouchDB base URL over HTTPS.
pub const COUCHDB_TLS_URL_VAR: &str = "UDS3_COUCHDB_TLS_URL";
/// Environment variable with the PEM file of the CA that signed the TLS
/// endpoints' certificate.
pub const TLS_CA_FILE_VAR: &str = "UDS3_TLS_CA_FILE";
/// Environment variable with the PEM file of a CA that did not sign the TLS
/// endpoints' certificate (for "wrong CA" tests).
pub const TLS_OTHER_CA_FILE_VAR: &str = "UDS3_TLS_OTHER_CA_FILE";
/// Environment variable with the folder that holds all services' state.
pub const SERVICES_DIR_VAR: &str = "UDS3_SERVICES_DIR";
/// Environment variable with the path of the xtask binary that [`stop`],
/// [`start`] and [`restart`] run (`cargo xtask test` sets it).
pub const XTASK_VAR: &str = "UDS3_XTASK";

// The default ports lie below Linux's ephemeral range (32768-60999), so an
// outgoing connection in TIME-WAIT can never hold one when a server starts.

/// Default of [`POSTGRES_URL_VAR`]: trust authentication on loopback.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:25432/postgres";
/// Default of [`CHROMA_URL_VAR`].
pub const DEFAULT_CHROMA_URL: &str = "http://127.0.0.1:28000";
/// Default of [`NEO4J_URI_VAR`].
pub const DEFAULT_NEO4J_URI: &str = "bolt://127.0.0.1:27687";
/// Default of [`NEO4J_USER_VAR`] (Neo4j's built-in admin user).
pub const DEFAULT_NEO4J_USER: &str = "neo4j";
/// Default of [`NEO4J_PASSWORD_VAR`] (Neo4j wants at least 8 characters).
pub const DEFAULT_NEO4J_PASSWORD: &str = "uds3-batch-dev";
/// Default of [`COUCHDB_URL_VAR`].
pub const DEFAULT_COUCHDB_URL: &str = "http://127.0.0.1:25984";
/// Default of [`POSTGRES_TLS_URL_VAR`]: the PostgreSQL server of
/// [`DEFAULT_POSTGRES_URL`], by the certificate's name, asking for TLS.
pub const DEFAULT_POSTGRES_TLS_URL: &str =
    "postgres://postgres@localhost:25432/postgres?sslmode=require";
/// Default of [`CHROMA_TLS_URL_VAR`].
pub const DEFAULT_CHROMA_TLS_URL: &str = "https://localhost:28443";
/// Default of [`NEO4J_TLS_URI_VAR`].
pub const DEFAULT_NEO4J_TLS_URI: &str = "bolt+s://localhost:27688";
/// Default of [`COUCHDB_TLS_URL_VAR`].
pub const DEFAULT_COUCHDB_TLS_URL: &str = "https://localhost:26984";
/// Where `cargo xtask services up` writes the test CA, in the state folder.
pub const TLS_CA_FILE: &str = "tls/ca.pem";
/// Where `cargo xtask services up` writes the unrelated CA, in the state folder.
pub const TLS_OTHER_CA_FILE: &str = "tls/other-ca.pem";
/// The graph database that the local Neo4j serves over Bolt (its default
/// database, so sessions that name none land there too).
pub const NEO4J_DATABASE: &str = "neo4j";

/// A name no other test, test thread or earlier run uses:
/// `{prefix}_{pid}_{nanos}_{n}`, only ASCII letters, digits and `_` besides
/// the prefix, so it is a valid Neo4j label, PostgreSQL identifier, CouchDB
/// database name (with a lowercase prefix) and Chroma collection name.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{}_{nanos}_{n}", std::process::id())
}

/// How long [`require`] waits for a TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// One of the four servers the backends are tested against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// PostgreSQL (`postgres`).
    Postgres,
    /// Chroma (`chroma`).
    Chroma,
    /// A Bolt + Cypher server: Neo4j (`neo4j`).
    Neo4j,
    /// A CouchDB HTTP API: pouchdb-server locally, or Apache CouchDB (`couch`).
    Couch,
}

impl Service {
    /// All services, in the order they are listed and started.
    pub const ALL: [Service; 4] = [
        Service::Postgres,
        Service::Chroma,
        Service::Neo4j,
        Service::Couch,
    ];

    /// The name used on the command line (`postgres`, `chroma`, `neo4j`, `couch`).
    pub fn name(self) -> &'static str {
        match self {
            Service::Postgres => "postgres",
            Service::Chroma => "chroma",
            Service::Neo4j => "neo4j",
            Service::Couch => "couch",
        }
    }

    /// The service with this command-line name, if any.
    pub fn from_name(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The environment variable that holds this service's URL.
    pub fn env_var(self) -> &'static str {
        match self {
            Service::Postgres => POSTGRES_URL_VAR,
            Service::Chroma => CHROMA_URL_VAR,
            Service::Neo4j => NEO4J_URI_VAR,
            Service::Couch => COUCHDB_URL_VAR,
        }
    }

    /// The environment variable that holds this service's TLS URL.
    pub fn tls_env_var(self) -> &'static str {
        match self {
            Service::Postgres => POSTGRES_TLS_URL_VAR,
            Service::Chroma => CHROMA_TLS_URL_VAR,
            Service::Neo4j => NEO4J_TLS_URI_VAR,
            Service::Couch => COUCHDB_TLS_URL_VAR,
        }
    }

    /// The port used when a TLS URL names none (the protocol's usual port).
    pub fn default_tls_port(self) -> u16 {
        match self {
            Service::Postgres => 5432,
            Service::Chroma => 443,
            Service::Neo4j => 7687,
            Service::Couch => 6984,
        }
    }

    /// The port used when the URL names none (the protocol's usual port).
    pub fn default_port(self) -> u16 {
        match self {
            Service::Postgres => 5432,
            Service::Chroma => 8000,
            Service::Neo4j => 7687,
            Service::Couch => 5984,
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The addresses and credentials of all four servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// PostgreSQL URL, e.g. `postgres://postgres@127.0.0.1:25432/postgres`.
    pub postgres_url: String,
    /// Chroma base URL, e.g. `http://127.0.0.1:28000`.
    pub chroma_url: String,
    /// Bolt URI, e.g. `bolt://127.0.0.1:27687`.
    pub neo4j_uri: String,
    /// Bolt user.
    pub neo4j_user: String,
    /// Bolt password.
    pub neo4j_password: String,
    /// CouchDB base URL, e.g. `http://127.0.0.1:25984`; `user:pass@` in it
    /// means basic authentication.
    pub couchdb_url: String,
    /// PostgreSQL URL for TLS, e.g.
    /// `postgres://postgres@localhost:25432/postgres?sslmode=require`.
    pub postgres_tls_url: String,
    /// Chroma base URL over HTTPS, e.g. `https://localhost:28443`.
    pub chroma_tls_url: String,
    /// Bolt URI over TLS, e.g. `bolt+s://localhost:27688`.
    pub neo4j_tls_uri: String,
    /// CouchDB base URL over HTTPS, e.g. `https://localhost:26984`.
    pub couchdb_tls_url: String,
    /// PEM file of the CA that signed the TLS endpoints' certificate.
    pub tls_ca_file: PathBuf,
    /// PEM file of a CA unrelated to the TLS endpoints.
    pub tls_other_ca_file: PathBuf,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            postgres_url: DEFAULT_POSTGRES_URL.to_owned(),
            chroma_url: DEFAULT_CHROMA_URL.to_owned(),
            neo4j_uri: DEFAULT_NEO4J_URI.to_owned(),
            neo4j_user: DEFAULT_NEO4J_USER.to_owned(),
            neo4j_password: DEFAULT_NEO4J_PASSWORD.to_owned(),
            couchdb_url: DEFAULT_COUCHDB_URL.to_owned(),
            postgres_tls_url: DEFAULT_POSTGRES_TLS_URL.to_owned(),
            chroma_tls_url: DEFAULT_CHROMA_TLS_URL.to_owned(),
            neo4j_tls_uri: DEFAULT_NEO4J_TLS_URI.to_owned(),
            couchdb_tls_url: DEFAULT_COUCHDB_TLS_URL.to_owned(),
            tls_ca_file: default_services_dir().join(TLS_CA_FILE),
            tls_other_ca_file: default_services_dir().join(TLS_OTHER_CA_FILE),
        }
    }
}

/// The state folder of `cargo xtask services`: `$UDS3_SERVICES_DIR`, else
/// `<workspace>/.services`.
pub fn services_dir() -> PathBuf {
    std::env::var_os(SERVICES_DIR_VAR)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(default_services_dir)
}

fn default_services_dir() -> PathBuf {
    crate::workspace_root().join(".services")
}

impl Endpoints {
    /// Reads every variable, using the default for each one unset or empty.
    /// Values are taken as they are: a malformed URL is reported by whoever
    /// parses it ([`Endpoints::parts`]), naming its variable.
    pub fn from_env() -> Endpoints {
        let d = Endpoints::default();
        Endpoints {
            postgres_url: var(POSTGRES_URL_VAR).unwrap_or(d.postgres_url),
            chroma_url: var(CHROMA_URL_VAR).unwrap_or(d.chroma_url),
            neo4j_uri: var(NEO4J_URI_VAR).unwrap_or(d.neo4j_uri),
            neo4j_user: var(NEO4J_USER_VAR).unwrap_or(d.neo4j_user),
            neo4j_password: var(NEO4J_PASSWORD_VAR).unwrap_or(d.neo4j_password),
            couchdb_url: var(COUCHDB_URL_VAR).unwrap_or(d.couchdb_url),
            postgres_tls_url: var(POSTGRES_TLS_URL_VAR).unwrap_or(d.postgres_tls_url),
            chroma_tls_url: var(CHROMA_TLS_URL_VAR).unwrap_or(d.chroma_tls_url),
            neo4j_tls_uri: var(NEO4J_TLS_URI_VAR).unwrap_or(d.neo4j_tls_uri),
            couchdb_tls_url: var(COUCHDB_TLS_URL_VAR).unwrap_or(d.couchdb_tls_url),
            tls_ca_file: var(TLS_CA_FILE_VAR)
                .map(PathBuf::from)
                .unwrap_or_else(|| services_dir().join(TLS_CA_FILE)),
            tls_other_ca_file: var(TLS_OTHER_CA_FILE_VAR)
                .map(PathBuf::from)
                .unwrap_or_else(|| services_dir().join(TLS_OTHER_CA_FILE)),
        }
    }

    /// The TLS URL of one service.
    pub fn tls_url(&self, service: Service) -> &str {
        match service {
            Service::Postgres => &self.postgres_tls_url,
            Service::Chroma => &self.chroma_tls_url,
            Service::Neo4j => &self.neo4j_tls_uri,
            Service::Couch => &self.couchdb_tls_url,
        }
    }

    /// The parsed TLS URL of one service.
    pub fn tls_parts(&self, service: Service) -> Result<UrlParts, String> {
        UrlParts::parse(self.tls_url(service))
            .map_err(|e| format!("{}={:?}: {e}", service.tls_env_var(), self.tls_url(service)))
    }

    /// Host and port of one service's TLS endpoint (the protocol's usual
    /// port if the URL names none).
    pub fn tls_host_port(&self, service: Service) -> Result<(String, u16), String> {
        let parts = self.tls_parts(service)?;
        let port = parts.port.unwrap_or(service.default_tls_port());
        Ok((parts.host, port))
    }

    /// The PostgreSQL TLS URL in the form libpq (`psql`) verifies: its
    /// `sslmode` replaced by `verify-full` and `sslrootcert` set to the test
    /// CA. The Rust `postgres` crate does not parse this form.
    pub fn postgres_tls_libpq_url(&self) -> String {
        let url = &self.postgres_tls_url;
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut params: Vec<String> = query
            .split('&')
            .filter(|p| {
                !p.is_empty() && !p.starts_with("sslmode=") && !p.starts_with("sslrootcert=")
            })
            .map(str::to_owned)
            .collect();
        params.push("sslmode=verify-full".into());
        params.push(format!(
            "sslrootcert={}",
            percent_encode(&self.tls_ca_file.display().to_string())
        ));
        format!("{base}?{}", params.join("&"))
    }

    /// The URL of one service.
    pub fn url(&self, service: Service) -> &str {
        match service {
            Service::Postgres => &self.postgres_url,
            Service::Chroma => &self.chroma_url,
            Service::Neo4j => &self.neo4j_uri,
            Service::Couch => &self.couchdb_url,
        }
    }

    /// The parsed URL of one service.
    pub fn parts(&self, service: Service) -> Result<UrlParts, String> {
        UrlParts::parse(self.url(service))
            .map_err(|e| format!("{}={:?}: {e}", service.env_var(), self.url(service)))
    }

    /// Host and port of one service (the protocol's usual port if the URL names none).
    pub fn host_port(&self, service: Service) -> Result<(String, u16), String> {
        let parts = self.parts(service)?;
        let port = parts.port.unwrap_or(service.default_port());
        Ok((parts.host, port))
    }

    /// Every variable with its value, in the order `cargo xtask services env` prints them.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            (POSTGRES_URL_VAR, self.postgres_url.clone()),
            (CHROMA_URL_VAR, self.chroma_url.clone()),
            (NEO4J_URI_VAR, self.neo4j_uri.clone()),
            (NEO4J_USER_VAR, self.neo4j_user.clone()),
            (NEO4J_PASSWORD_VAR, self.neo4j_password.clone()),
            (COUCHDB_URL_VAR, self.couchdb_url.clone()),
            (POSTGRES_TLS_URL_VAR, self.postgres_tls_url.clone()),
            (CHROMA_TLS_URL_VAR, self.chroma_tls_url.clone()),
            (NEO4J_TLS_URI_VAR, self.neo4j_tls_uri.clone()),
            (COUCHDB_TLS_URL_VAR, self.couchdb_tls_url.clone()),
            (TLS_CA_FILE_VAR, self.tls_ca_file.display().to_string()),
            (
                TLS_OTHER_CA_FILE_VAR,
                self.tls_other_ca_file.display().to_string(),
            ),
        ]
    }
}

/// The parts of a `scheme://[user[:password]@]host[:port][/path]` URL,
/// as batch-core's [`ServerUrl`](batch_core::server_url::ServerUrl)
/// (the `url` crate) parses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlParts {
    /// The scheme, e.g. `http`, `bolt`, `postgres`.
    pub scheme: String,
    /// The user, percent-decoded, if the URL has one.
    pub user: Option<String>,
    /// The password, percent-decoded, if the URL has one.
    pub password: Option<String>,
    /// The host, without brackets for an IPv6 address.
    pub host: String,
    /// The port the URL names, else its scheme's known default (`http`
    /// 80, `https` 443); `None` for other schemes without one.
    pub port: Option<u16>,
    /// The path and query (`/db?x=1`; `/` at least for `http(s)`, may be
    /// empty for other schemes).
    pub path: String,
}

impl UrlParts {
    /// Splits a URL into its parts.
    pub fn parse(url: &str) -> Result<UrlParts, String> {
        let url =
            batch_core::server_url::ServerUrl::parse(url).map_err(|e| e.problem().to_string())?;
        Ok(UrlParts {
            scheme: url.scheme().to_owned(),
            user: url.user().map(str::to_owned),
            password: url.password().map(str::to_owned),
            host: url.host(),
            port: url.port(),
            path: url.path_and_query().to_owned(),
        })
    }

    /// Whether the host is this machine's loopback (`127.x.x.x`, `localhost`, `::1`).
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost"
            || self.host == "::1"
            || self
                .host
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

/// Whether a TCP connection to the service opens within about two seconds.
pub fn reachable(service: Service) -> bool {
    Endpoints::from_env()
        .host_port(service)
        .is_ok_and(|(host, port)| tcp_reachable(&host, port, CONNECT_TIMEOUT))
}

/// Whether a TCP connection to `host:port` opens within `timeout`.
pub fn tcp_reachable(host: &str, port: u16, timeout: Duration) -> bool {
    let Ok(addrs) = (host, port).to_socket_addrs() else {
        return false;
    };
    addrs
        .into_iter()
        .any(|addr| TcpStream::connect_timeout(&addr, timeout).is_ok())
}

/// Returns the service's URL if a TCP connection to it opens within about two
/// seconds.
///
/// # Panics
/// If it cannot be reached, with a message that names the environment variable
/// and says to start the servers with `cargo xtask services up`: a test that
/// needs a server never passes without one.
pub fn require(service: Service) -> String {
    require_at(&Endpoints::from_env(), service)
}

/// Like [`require`], with the addresses given rather than read from the environment.
///
/// # Panics
/// If the service cannot be reached; see [`require`].
pub fn require_at(endpoints: &Endpoints, service: Service) -> String {
    let url = endpoints.url(service).to_owned();
    let var_name = service.env_var();
    let source = if var(var_name).is_some() {
        format!("from {var_name}")
    } else {
        format!("the default; set {var_name} to change it")
    };
    match endpoints.host_port(service) {
        Ok((host, port)) if tcp_reachable(&host, port, CONNECT_TIMEOUT) => url,
        Ok(_) => panic!(
            "the {service} server at {url} ({source}) is not reachable: \
             start it with `cargo xtask services up` \
             (or point {var_name} at a running server)"
        ),
        Err(e) => {
            panic!("{e}: fix {var_name}, then start the server with `cargo xtask services up`")
        }
    }
}

/// A TLS endpoint that answered: its URL and the CA files to trust (or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsEndpoint {
    /// The TLS URL (from the service's `UDS3_*_TLS_*` variable).
    pub url: String,
    /// PEM file of the CA that signed the server's certificate.
    pub ca_file: PathBuf,
    /// PEM file of an unrelated CA: a client that trusts only it must refuse
    /// the server.
    pub other_ca_file: PathBuf,
}

impl TlsEndpoint {
    /// The CA certificate, PEM.
    ///
    /// # Panics
    /// If the file cannot be read.
    pub fn ca_pem(&self) -> Vec<u8> {
        read_or_panic(&self.ca_file)
    }

    /// The unrelated CA certificate, PEM.
    ///
    /// # Panics
    /// If the file cannot be read.
    pub fn other_ca_pem(&self) -> Vec<u8> {
        read_or_panic(&self.other_ca_file)
    }
}

fn read_or_panic(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e} (`cargo xtask services up` writes it)",
            path.display()
        )
    })
}

/// Returns the service's TLS endpoint if a TCP connection to it opens within
/// about two seconds and both CA files exist.
///
/// # Panics
/// If it cannot be reached or a CA file is missing, with a message that
/// names the variable and says to run `cargo xtask services up`.
pub fn require_tls(service: Service) -> TlsEndpoint {
    require_tls_at(&Endpoints::from_env(), service)
}

/// Like [`require_tls`], with the addresses given rather than read from the
/// environment.
///
/// # Panics
/// See [`require_tls`].
pub fn require_tls_at(endpoints: &Endpoints, service: Service) -> TlsEndpoint {
    let url = endpoints.tls_url(service).to_owned();
    let var_name = service.tls_env_var();
    let source = if var(var_name).is_some() {
        format!("from {var_name}")
    } else {
        format!("the default; set {var_name} to change it")
    };
    for (file, file_var) in [
        (&endpoints.tls_ca_file, TLS_CA_FILE_VAR),
        (&endpoints.tls_other_ca_file, TLS_OTHER_CA_FILE_VAR),
    ] {
        if !file.is_file() {
            panic!(
                "the CA file {} ({file_var}) does not exist: \
                 run `cargo xtask services up`, which writes it",
                file.display()
            );
        }
    }
    match endpoints.tls_host_port(service) {
        Ok((host, port)) if tcp_reachable(&host, port, CONNECT_TIMEOUT) => TlsEndpoint {
            url,
            ca_file: endpoints.tls_ca_file.clone(),
            other_ca_file: endpoints.tls_other_ca_file.clone(),
        },
        Ok(_) => panic!(
            "the {service} TLS endpoint at {url} ({source}) is not reachable: \
             start it with `cargo xtask services up` \
             (or point {var_name} at a running server)"
        ),
        Err(e) => {
            panic!("{e}: fix {var_name}, then start the server with `cargo xtask services up`")
        }
    }
}

/// Held by every test of one binary that stops or restarts a shared
/// server: cargo runs a binary's tests in parallel, and two restarts at
/// once would stop the server under each other's stream.
pub fn one_restart_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Stops the local server of `service` (`cargo xtask services stop NAME`).
///
/// # Panics
/// If the xtask command fails.
pub fn stop(service: Service) {
    run_xtask(&["services", "stop", service.name()]);
}

/// Starts the local server of `service` and returns once it is ready
/// (`cargo xtask services start NAME`).
///
/// # Panics
/// If the xtask command fails or the server does not get ready.
pub fn start(service: Service) {
    run_xtask(&["services", "start", service.name()]);
}

/// Stops, then starts the local server of `service`; returns once it is ready
/// (`cargo xtask services restart NAME`).
///
/// # Panics
/// If the xtask command fails or the server does not get ready.
pub fn restart(service: Service) {
    run_xtask(&["services", "restart", service.name()]);
}

/// A server paused by [`pause`]; resumed when dropped, so a failing test
/// never leaves the shared server stopped.
#[derive(Debug)]
#[must_use = "the server is resumed when this is dropped"]
pub struct Paused(Service);

impl Paused {
    /// Resumes the server now.
    pub fn resume(self) {}
}

impl Drop for Paused {
    fn drop(&mut self) {
        // Never panic in drop (a test may already be unwinding).
        let mut cmd = xtask_command();
        cmd.args(["services", "resume", self.0.name()]);
        match cmd.output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "cannot resume {}: {}",
                self.0.name(),
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("cannot resume {}: {e}", self.0.name()),
        }
    }
}

/// Pauses the local server of `service` (SIGSTOP of its process group,
/// `cargo xtask services pause NAME`): its sockets stay open and nothing
/// answers, like a hung server. It is resumed when the guard drops.
///
/// # Panics
/// If the xtask command fails (e.g. the server was not started by `up`).
pub fn pause(service: Service) -> Paused {
    run_xtask(&["services", "pause", service.name()]);
    Paused(service)
}

/// For a crash test's kill point "with the server paused": pauses
/// `service` when `pause` is set and waits `settle` for requests to go
/// out and hang; the server resumes when the guard drops (after the kill).
pub fn pause_if(pause: bool, service: Service, settle: Duration) -> Option<Paused> {
    pause.then(|| {
        let paused = self::pause(service);
        std::thread::sleep(settle);
        paused
    })
}

/// Runs the xtask binary with `args`.
///
/// The binary is `$UDS3_XTASK` if set, else `target/debug/xtask` of this
/// workspace if built, else `cargo run -q -p xtask --`.
///
/// # Panics
/// If the command cannot be run or exits non-zero; the message holds its output.
pub fn run_xtask(args: &[&str]) {
    let mut cmd = xtask_command();
    cmd.args(args);
    let shown = format!("{cmd:?}");
    let output = match cmd.output() {
        Ok(output) => output,
        Err(e) => panic!("cannot run {shown}: {e}"),
    };
    if !output.status.success() {
        panic!(
            "{shown} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// The command that runs xtask (see [`run_xtask`]).
fn xtask_command() -> Command {
    if let Some(xtask) = std::env::var_os(XTASK_VAR).filter(|v| !v.is_empty()) {
        return Command::new(xtask);
    }
    let root = crate::workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let built = target.join("debug").join("xtask");
    if built.is_file() {
        return Command::new(built);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["run", "-q", "-p", "xtask", "--"])
        .current_dir(root);
    cmd
}

/// The value of an environment variable, `None` if unset or empty.
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Escapes what may not stand in a URL query value as `%XX`.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse() {
        let e = Endpoints::default();
        assert_eq!(
            e.host_port(Service::Postgres),
            Ok(("127.0.0.1".to_owned(), 25432))
        );
        assert_eq!(
            e.host_port(Service::Chroma),
            Ok(("127.0.0.1".to_owned(), 28000))
        );
        assert_eq!(
            e.host_port(Service::Neo4j),
            Ok(("127.0.0.1".to_owned(), 27687))
        );
        assert_eq!(
            e.host_port(Service::Couch),
            Ok(("127.0.0.1".to_owned(), 25984))
        );
        let pg = e.parts(Service::Postgres).expect("default parses");
        assert_eq!(pg.user.as_deref(), Some("postgres"));
        assert_eq!(pg.path, "/postgres");
        assert!(pg.is_loopback());
    }

    #[test]
    fn url_parts() {
        let u = UrlParts::parse("http://ad%40min:p%3Ass@[::1]:5984/db?x=1").expect("parses");
        assert_eq!(u.scheme, "http");
        assert_eq!(u.user.as_deref(), Some("ad@min"));
        assert_eq!(u.password.as_deref(), Some("p:ss"));
        assert_eq!(u.host, "::1");
        assert_eq!(u.port, Some(5984));
        assert_eq!(u.path, "/db?x=1");
        assert!(u.is_loopback());
        let u = UrlParts::parse("neo4j://graph.example").expect("parses");
        assert_eq!(u.port, None);
        assert!(!u.is_loopback());
        assert!(UrlParts::parse("127.0.0.1:80").is_err());
        assert!(UrlParts::parse("http://h:99999").is_err());
    }

    #[test]
    #[should_panic(expected = "start it with `cargo xtask services up`")]
    fn require_fails_loudly_without_a_server() {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let endpoints = Endpoints {
            couchdb_url: format!("http://127.0.0.1:{port}"),
            ..Endpoints::default()
        };
        require_at(&endpoints, Service::Couch);
    }

    #[test]
    fn require_returns_the_url_of_a_listening_server() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let endpoints = Endpoints {
            chroma_url: format!("http://127.0.0.1:{port}"),
            ..Endpoints::default()
        };
        assert_eq!(
            require_at(&endpoints, Service::Chroma),
            format!("http://127.0.0.1:{port}")
        );
    }

    #[test]
    fn tls_defaults() {
        let e = Endpoints::default();
        assert_eq!(
            e.tls_host_port(Service::Postgres),
            Ok(("localhost".to_owned(), 25432))
        );
        assert_eq!(
            e.tls_host_port(Service::Chroma),
            Ok(("localhost".to_owned(), 28443))
        );
        assert_eq!(
            e.tls_host_port(Service::Neo4j),
            Ok(("localhost".to_owned(), 27688))
        );
        assert_eq!(
            e.tls_host_port(Service::Couch),
            Ok(("localhost".to_owned(), 26984))
        );
        assert!(e.tls_ca_file.ends_with("tls/ca.pem"));
        assert!(e.tls_other_ca_file.ends_with("tls/other-ca.pem"));
        let names: Vec<_> = e.vars().into_iter().map(|(n, _)| n).collect();
        for var in [
            POSTGRES_TLS_URL_VAR,
            CHROMA_TLS_URL_VAR,
            NEO4J_TLS_URI_VAR,
            COUCHDB_TLS_URL_VAR,
            TLS_CA_FILE_VAR,
            TLS_OTHER_CA_FILE_VAR,
        ] {
            assert!(names.contains(&var), "{var} missing from vars()");
        }
    }

    #[test]
    fn libpq_url_verifies_with_the_ca() {
        let e = Endpoints {
            postgres_tls_url: "postgres://u@localhost:1/db?sslmode=require&application_name=x"
                .into(),
            tls_ca_file: PathBuf::from("/s dir/tls/ca.pem"),
            ..Endpoints::default()
        };
        assert_eq!(
            e.postgres_tls_libpq_url(),
            "postgres://u@localhost:1/db?application_name=x&sslmode=verify-full&sslrootcert=/s%20dir/tls/ca.pem"
        );
        let e = Endpoints {
            postgres_tls_url: "postgres://u@localhost:1/db".into(),
            tls_ca_file: PathBuf::from("/ca.pem"),
            ..Endpoints::default()
        };
        assert_eq!(
            e.postgres_tls_libpq_url(),
            "postgres://u@localhost:1/db?sslmode=verify-full&sslrootcert=/ca.pem"
        );
    }

    #[test]
    #[should_panic(expected = "run `cargo xtask services up`")]
    fn require_tls_fails_loudly_without_a_ca() {
        let endpoints = Endpoints {
            tls_ca_file: PathBuf::from("/nonexistent/uds3/ca.pem"),
            ..Endpoints::default()
        };
        require_tls_at(&endpoints, Service::Chroma);
    }

    #[test]
    fn names_round_trip() {
        for s in Service::ALL {
            assert_eq!(Service::from_name(s.name()), Some(s));
        }
        assert_eq!(Service::from_name("arcadedb"), None);
    }
}
