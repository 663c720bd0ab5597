//! `Connector`: how the sink opens (and, after a lost connection, reopens)
//! its PostgreSQL connection, and the deadline every request runs under.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use postgres::tls::{MakeTlsConnect, TlsConnect};
use postgres::{Config, NoTls, Socket};
use tokio::runtime::Runtime;

use crate::error::{Phase, PostgresError};
use crate::sslmode::SslMode;
use postgres::config::SslMode as DriverSslMode;

/// Used when the configuration sets no connect timeout, so that an
/// unreachable host cannot hang the flusher thread indefinitely.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The per-request timeout unless one is set: batch-core's
/// [`DEFAULT_REQUEST_TIMEOUT`](batch_core::DEFAULT_REQUEST_TIMEOUT), the
/// same for every backend.
pub use batch_core::DEFAULT_REQUEST_TIMEOUT as DEFAULT_TIMEOUT;

/// Opens a driver connection and returns its client and the future that
/// runs the connection (to be spawned on the session's runtime).
type OpenFn = dyn Fn(
        tokio_postgres::Config,
    ) -> BoxFuture<
        'static,
        Result<(tokio_postgres::Client, BoxFuture<'static, ()>), postgres::Error>,
    > + Send
    + Sync;

/// Opens a synchronous client (for DDL and tools, not for batches).
type SyncFn = dyn Fn(&Config) -> Result<postgres::Client, postgres::Error> + Send + Sync;

/// Opens connections for a sink. Kept (rather than one connection) because
/// a lost connection is reopened lazily on the next write.
///
/// Every request of the sink, the connection's startup included, runs
/// under a client-side deadline ([`timeout`](Self::timeout)): a server that
/// stops answering (a stopped process, a half-open network path) keeps its
/// TCP connection acknowledged by the kernel, so neither a server-side
/// `statement_timeout` nor TCP keepalives would ever end the wait.
#[derive(Clone)]
pub struct Connector {
    config: Config,
    async_config: tokio_postgres::Config,
    open: Arc<OpenFn>,
    open_sync: Arc<SyncFn>,
    timeout: Duration,
    target: Arc<str>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("target", &self.target)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// Connects without TLS with `config` (10 s TCP connect timeout unless
    /// set, 60 s per request).
    pub fn no_tls(config: Config) -> Self {
        Self::with_tls(config, NoTls)
    }

    /// Parses a `postgres://user@host:port/db` URL or a `key=value`
    /// connection string and connects as its `sslmode` says:
    ///
    /// - `disable`: plaintext.
    /// - `prefer` (the default, as in libpq): TLS when the server offers
    ///   it, else plaintext; verified like `require`.
    /// - `require`: TLS or no connection. Like libpq, the certificate is
    ///   **not** verified (encrypted, not authenticated) unless a CA file
    ///   is given (`sslrootcert`, or `UDS3_POSTGRES_CA_FILE` with
    ///   [`from_env`](Self::from_env)): then its chain is, as with
    ///   `verify-ca`.
    /// - `verify-ca`: TLS, the chain verified, not the host name.
    /// - `verify-full`: TLS, chain and host name verified. Use this one
    ///   against a server on an untrusted network.
    ///
    /// Trusted: `sslrootcert=<file>` alone (PEM; as in libpq, it replaces
    /// the public roots; `sslrootcert=system` means the public roots), else
    /// Mozilla's public roots. A refused handshake (untrusted certificate,
    /// wrong host name, a server without TLS when it is required) is
    /// [`PostgresError::Tls`], fatal.
    ///
    /// Without the `tls` feature, `prefer` connects in plaintext and
    /// `require`/`verify-*` are refused here. Reads no ENV variable: see
    /// [`from_env`](Self::from_env).
    pub fn from_url(url: &str) -> Result<Self, PostgresError> {
        Self::from_url_with(url, |_| None)
    }

    /// [`from_url`](Self::from_url), plus the CA file named by the ENV
    /// variable `UDS3_POSTGRES_CA_FILE`
    /// ([`POSTGRES_CA_FILE_VAR`](batch_core::tls::POSTGRES_CA_FILE_VAR)),
    /// read now: trusted besides Mozilla's roots when the URL names no
    /// `sslrootcert`, and then `require` verifies the chain.
    pub fn from_env(url: &str) -> Result<Self, PostgresError> {
        Self::from_url_with(url, |name| std::env::var_os(name))
    }

    /// [`from_url`](Self::from_url), the CA file variable read through
    /// `lookup`.
    fn from_url_with(
        url: &str,
        lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Self, PostgresError> {
        if let Some(problem) = shape_problem(url) {
            return Err(PostgresError::Invalid(problem));
        }
        let options = crate::sslmode::split(url).map_err(PostgresError::Invalid)?;
        let mut config: Config = options.rest.parse().map_err(|e| {
            PostgresError::Invalid(format!(
                "bad PostgreSQL connection string: {}",
                crate::error::chain(&e)
            ))
        })?;
        let mode = options.mode.unwrap_or(SslMode::Prefer);
        if mode == SslMode::Disable || (mode == SslMode::Prefer && config.get_hosts().is_empty()) {
            // Without a host name there is nothing to check a certificate
            // against: prefer falls back to plaintext.
            config.ssl_mode(DriverSslMode::Disable);
            return Ok(Self::no_tls(config));
        }
        config.ssl_mode(if mode == SslMode::Prefer {
            DriverSslMode::Prefer
        } else {
            DriverSslMode::Require
        });
        Self::rustls(config, mode, options.root_cert.as_deref(), lookup)
    }

    /// The TLS connector of `mode`; without `root_cert`, the CA file
    /// variable is read through `lookup`.
    #[cfg(feature = "tls")]
    fn rustls(
        config: Config,
        mode: SslMode,
        root_cert: Option<&str>,
        lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Self, PostgresError> {
        use batch_core::tls::{POSTGRES_CA_FILE_VAR, TlsSettings, Verify};
        let invalid = |e: batch_core::tls::TlsError| PostgresError::Invalid(e.to_string());
        let settings = match root_cert {
            Some("system") => TlsSettings::new(),
            Some(file) => TlsSettings::new().public_roots(false).ca_file(file),
            None => TlsSettings::from_env_with(POSTGRES_CA_FILE_VAR, lookup).map_err(invalid)?,
        };
        let verify = match mode {
            SslMode::VerifyFull => Verify::Full,
            SslMode::VerifyCa => Verify::ChainOnly,
            _ if root_cert.is_some() || !settings.ca_files().is_empty() => Verify::ChainOnly,
            _ => Verify::Nothing,
        };
        let tls = settings.client_config_verifying(verify).map_err(invalid)?;
        Ok(Self::with_tls(config, crate::tls::MakeRustls(tls)))
    }

    #[cfg(not(feature = "tls"))]
    fn rustls(
        config: Config,
        mode: SslMode,
        _root_cert: Option<&str>,
        _lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Self, PostgresError> {
        if mode == SslMode::Prefer {
            return Ok(Self::no_tls(config));
        }
        Err(PostgresError::Invalid(format!(
            "sslmode {mode:?} needs TLS: enable batch-postgres' feature \"tls\""
        )))
    }

    /// Connects with `tls`, e.g. a `postgres_openssl::MakeTlsConnector`.
    pub fn with_tls<T>(mut config: Config, tls: T) -> Self
    where
        T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
        T::Stream: Send + 'static,
        T::TlsConnect: Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        let async_config = to_async(&config);
        let target = target(&config).into();
        let sync_tls = tls.clone();
        Self {
            config,
            async_config,
            open: Arc::new(move |config: tokio_postgres::Config| {
                let tls = tls.clone();
                Box::pin(async move {
                    let (client, connection) = config.connect(tls).await?;
                    let connection: BoxFuture<'static, ()> = Box::pin(async move {
                        if let Err(e) = connection.await {
                            tracing::debug!(error = %e, "PostgreSQL connection ended");
                        }
                    });
                    Ok((client, connection))
                })
            }),
            open_sync: Arc::new(move |config: &Config| config.connect(sync_tls.clone())),
            timeout: DEFAULT_TIMEOUT,
            target,
        }
    }

    /// Sets the deadline of every request (default 60 s): connecting,
    /// preparing, and writing one batch. A write that times out after it
    /// was sent may have been applied; the batcher then replays it (see
    /// [`ErrorClass::OutcomeUnknown`](batch_core::ErrorClass::OutcomeUnknown)).
    /// A zero duration is raised to 1 ms.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The deadline of every request.
    pub fn request_timeout(&self) -> Duration {
        self.timeout
    }

    /// The server as `host:port` (several for a multi-host string), for
    /// messages; never the password.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Opens a synchronous client with the same configuration, for DDL and
    /// tools. Its requests have no deadline besides the TCP connect timeout.
    ///
    /// The `postgres` crate's client blocks and panics inside an async
    /// runtime: open, use and drop it on a plain thread or in
    /// `spawn_blocking`. (The inserters never use it.)
    pub fn connect(&self) -> Result<postgres::Client, PostgresError> {
        (self.open_sync)(&self.config)
            .map_err(|e| PostgresError::from_driver(e, Phase::Connect, &self.target))
    }

    /// [`open`](Self::open) on a thread of the library's, waiting for it:
    /// for callers that may be inside an async runtime, where blocking on
    /// the session's runtime would panic.
    pub(crate) fn open_elsewhere(&self) -> Result<Session, PostgresError> {
        let connector = self.clone();
        on_own_thread(move || connector.open())
    }

    /// Opens a session: a runtime of its own and a connected client, the
    /// whole startup under the deadline. Blocks on that runtime, so only
    /// for the library's own threads (see [`open_elsewhere`](Self::open_elsewhere)).
    pub(crate) fn open(&self) -> Result<Session, PostgresError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(PostgresError::Spawn)?;
        let runtime = SessionRuntime(Some(runtime));
        let open = (self.open)(self.async_config.clone());
        match runtime.within(self.timeout, open) {
            Err(Elapsed) => Err(self.timed_out(Phase::Connect, false)),
            Ok(Err(e)) => Err(PostgresError::from_driver(e, Phase::Connect, &self.target)),
            Ok(Ok((client, connection))) => {
                runtime.spawn(connection);
                Ok(Session { runtime, client })
            }
        }
    }

    /// Runs `sql` (DDL, several statements allowed) on a short connection
    /// of its own, under the deadline, on a thread of the library's (the
    /// caller may be inside an async runtime).
    pub(crate) fn batch_execute(&self, sql: &str) -> Result<(), PostgresError> {
        let (connector, sql) = (self.clone(), sql.to_owned());
        on_own_thread(move || {
            let session = connector.open()?;
            match session
                .runtime
                .within(connector.timeout, session.client.batch_execute(&sql))
            {
                Ok(Ok(())) => Ok(()),
                Err(Elapsed) => Err(connector.timed_out(Phase::Prepare, false)),
                Ok(Err(e)) => Err(PostgresError::from_driver(
                    e,
                    Phase::Prepare,
                    &connector.target,
                )),
            }
        })
    }

    /// A request's outcome as the library's: the driver's error with what
    /// the request was doing (`phase`), whether the connection is now
    /// `closed` and whether a write was `sent`; the deadline's expiry as a
    /// timeout.
    pub(crate) fn settle<T>(
        &self,
        result: Result<Result<T, postgres::Error>, Elapsed>,
        phase: Phase,
        closed: bool,
        sent: bool,
    ) -> Result<T, PostgresError> {
        match result {
            Ok(Ok(value)) => Ok(value),
            Err(Elapsed) => Err(self.timed_out(phase, sent)),
            Ok(Err(e)) => Err(PostgresError::from_request(
                e,
                phase,
                &self.target,
                closed,
                sent,
            )),
        }
    }

    /// The error of a request that got no answer within the deadline.
    pub(crate) fn timed_out(&self, phase: Phase, sent: bool) -> PostgresError {
        PostgresError::Timeout {
            target: self.target.to_string(),
            after: self.timeout,
            phase,
            outcome_unknown: sent,
        }
    }
}

/// An open connection: the client and the runtime that drives it. Dropping
/// it closes the socket (the runtime drops the connection task).
pub(crate) struct Session {
    pub(crate) runtime: SessionRuntime,
    pub(crate) client: tokio_postgres::Client,
}

/// A session's current-thread runtime. Dropped without waiting for
/// anything, so that it may be dropped anywhere: tokio panics when a
/// runtime is dropped the ordinary way inside another one, and a sink can
/// end up dropped on a caller's thread (e.g. when its batcher could not
/// start).
pub(crate) struct SessionRuntime(Option<Runtime>);

impl SessionRuntime {
    /// Runs `future` for at most `timeout`, blocking the calling thread:
    /// only for the library's own threads.
    pub(crate) fn within<F: Future>(
        &self,
        timeout: Duration,
        future: F,
    ) -> Result<F::Output, Elapsed> {
        match &self.0 {
            Some(runtime) => runtime
                .block_on(async { tokio::time::timeout(timeout, future).await })
                .map_err(|_| Elapsed),
            // Only `drop` takes the runtime out.
            None => Err(Elapsed),
        }
    }

    /// Spawns the connection task, which runs whenever `within` runs.
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        if let Some(runtime) = &self.0 {
            runtime.spawn(task);
        }
    }
}

impl Drop for SessionRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// The deadline passed before the future finished.
#[derive(Debug)]
pub(crate) struct Elapsed;

/// `work` on a thread of the library's ([`batch_core::on_own_thread`]):
/// blocking I/O and the session's runtime never run on a caller's thread,
/// which may be a runtime worker (a runtime started inside another one
/// panics). A panic there comes back as an error.
fn on_own_thread<T: Send>(
    work: impl FnOnce() -> Result<T, PostgresError> + Send,
) -> Result<T, PostgresError> {
    batch_core::on_own_thread("batch-postgres-connect", work).map_err(PostgresError::Spawn)?
}

/// `host:port` of every host of `config`, comma-separated.
fn target(config: &Config) -> String {
    let ports = config.get_ports();
    let port = |i: usize| ports.get(i).or(ports.first()).copied().unwrap_or(5432);
    let hosts: Vec<String> = if config.get_hosts().is_empty() {
        config
            .get_hostaddrs()
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{a}:{}", port(i)))
            .collect()
    } else {
        config
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, h)| match h {
                postgres::config::Host::Tcp(h) if h.contains(':') => {
                    format!("[{h}]:{}", port(i))
                }
                postgres::config::Host::Tcp(h) => format!("{h}:{}", port(i)),
                postgres::config::Host::Unix(path) => {
                    format!("{}/.s.PGSQL.{}", path.display(), port(i))
                }
            })
            .collect()
    };
    if hosts.is_empty() {
        "localhost:5432".to_owned()
    } else {
        hosts.join(",")
    }
}

/// The same configuration for the asynchronous driver the sink runs on
/// (the synchronous `Config` wraps one but does not hand it out).
fn to_async(config: &Config) -> tokio_postgres::Config {
    let mut out = tokio_postgres::Config::new();
    if let Some(user) = config.get_user() {
        out.user(user);
    }
    if let Some(password) = config.get_password() {
        out.password(password);
    }
    if let Some(dbname) = config.get_dbname() {
        out.dbname(dbname);
    }
    if let Some(options) = config.get_options() {
        out.options(options);
    }
    if let Some(name) = config.get_application_name() {
        out.application_name(name);
    }
    for host in config.get_hosts() {
        match host {
            postgres::config::Host::Tcp(h) => out.host(h),
            postgres::config::Host::Unix(path) => out.host_path(path),
        };
    }
    for addr in config.get_hostaddrs() {
        out.hostaddr(*addr);
    }
    for port in config.get_ports() {
        out.port(*port);
    }
    if let Some(t) = config.get_connect_timeout() {
        out.connect_timeout(*t);
    }
    if let Some(t) = config.get_tcp_user_timeout() {
        out.tcp_user_timeout(*t);
    }
    out.keepalives(config.get_keepalives())
        .keepalives_idle(config.get_keepalives_idle());
    if let Some(t) = config.get_keepalives_interval() {
        out.keepalives_interval(t);
    }
    if let Some(n) = config.get_keepalives_retries() {
        out.keepalives_retries(n);
    }
    out.ssl_mode(config.get_ssl_mode())
        .ssl_negotiation(config.get_ssl_negotiation())
        .target_session_attrs(config.get_target_session_attrs())
        .channel_binding(config.get_channel_binding())
        .load_balance_hosts(config.get_load_balance_hosts());
    out
}

/// What is wrong with the shape of a connection string the driver would
/// only call "unexpected EOF": no scheme and no `key=value`, or another
/// scheme. Never shows a password.
fn shape_problem(url: &str) -> Option<String> {
    match url.split_once("://") {
        Some((scheme, _)) if scheme == "postgres" || scheme == "postgresql" => None,
        Some((scheme, rest)) => {
            let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
            Some(format!(
                "PostgreSQL connection URL with scheme {scheme:?}: write postgres://user@{host}"
            ))
        }
        None if url.contains('=') => None,
        None => {
            let host = url.rsplit_once('@').map_or(url, |(_, h)| h);
            Some(format!(
                "PostgreSQL connection string {host:?} has no scheme: write postgres://user@{host}/database (or key=value pairs)"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 30, defect 7: the driver's URL parser percent-decodes the
    /// user and the password (`p%40ss` is `p@ss`), as libpq does; the
    /// checks in front of it keep them as written.
    #[test]
    fn url_credentials_are_percent_decoded() {
        let url = "postgres://us%40er%2F%23:p%40s%3As%2Fw%25d%23@127.0.0.1:25432/db";
        let connector = Connector::from_url(url).expect("a valid URL");
        assert_eq!(connector.async_config.get_user(), Some("us@er/#"));
        assert_eq!(
            connector.async_config.get_password(),
            Some(&b"p@s:s/w%d#"[..])
        );
        assert_eq!(connector.config.get_password(), Some(&b"p@s:s/w%d#"[..]));
    }

    #[test]
    fn a_connection_string_without_scheme_is_refused_with_the_fix() {
        let err = Connector::from_url("127.0.0.1:11000")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no scheme") && err.contains("postgres://user@127.0.0.1:11000"),
            "{err}"
        );
        let err = Connector::from_url("http://u:secret@h:1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"http\"") && !err.contains("secret"), "{err}");
        assert!(Connector::from_url("postgresql://u@h:1/db").is_ok());
        assert!(Connector::from_url("host=h port=1 user=u").is_ok());
    }

    #[test]
    fn sslmode_and_sslrootcert_reach_the_connector() {
        for url in [
            "postgres://u@h/db?sslmode=disable",
            "postgres://u@h/db?sslmode=prefer",
            "postgres://u@h/db?sslmode=require",
            "host=h user=u sslmode=require",
        ] {
            let c = Connector::from_url(url).expect(url);
            assert_eq!(c.target(), "h:5432", "{url}");
        }
        let c = Connector::from_url("postgres://u@h/db?sslmode=disable").expect("disable");
        assert_eq!(c.async_config.get_ssl_mode(), DriverSslMode::Disable);
        let c = Connector::from_url("postgres://u@h/db?sslmode=verify-ca&sslrootcert=system")
            .expect("verify-ca");
        assert_eq!(c.async_config.get_ssl_mode(), DriverSslMode::Require);
        let err = Connector::from_url(
            "postgres://u:secret@h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("/nonexistent/ca.pem") && !err.contains("secret"),
            "{err}"
        );
        let err = Connector::from_url("postgres://u@h/db?sslmode=allow")
            .unwrap_err()
            .to_string();
        assert!(err.contains("allow"), "{err}");
    }

    #[test]
    fn target_names_host_and_port_but_not_the_password() {
        let c = Connector::from_url("postgres://u:secret@db.example:6543/x").expect("url");
        assert_eq!(c.target(), "db.example:6543");
        assert!(!format!("{c:?}").contains("secret"));
        let c = Connector::from_url("host=a,b port=1,2 user=u").expect("string");
        assert_eq!(c.target(), "a:1,b:2");
    }

    /// `from_url` reads no ENV; `from_env` reads the CA file variable
    /// (here through a lookup, as `from_env` reads the process's): a CA
    /// file that cannot be read is refused, naming it.
    #[cfg(feature = "tls")]
    #[test]
    fn only_from_env_reads_the_ca_file_variable() {
        use batch_core::tls::POSTGRES_CA_FILE_VAR;
        let url = "postgres://u@h/db?sslmode=require";
        assert!(Connector::from_url(url).is_ok());
        let ca = |name: &str| (name == POSTGRES_CA_FILE_VAR).then(|| "/nonexistent/ca.pem".into());
        let err = Connector::from_url_with(url, ca)
            .expect_err("the CA file is read")
            .to_string();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
        // sslrootcert wins over the variable.
        let url = "postgres://u@h/db?sslmode=require&sslrootcert=system";
        assert!(Connector::from_url_with(url, ca).is_ok());
    }
}
