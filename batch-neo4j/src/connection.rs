//! `BoltSession`: one Bolt connection, its runtime, and reconnection.
//!
//! bolt-client is low-level (RUN/PULL messages, no pool, async only). This
//! module is the only place that knows it: it connects and authenticates,
//! runs statements in one explicit transaction, resets the connection after
//! a server failure, and drops it after a lost connection so that the next
//! call reconnects. It owns a current-thread tokio runtime and blocks on it,
//! so callers stay synchronous (the sink runs on batch-core's flusher thread).
//! Called from inside a caller's runtime, it blocks on a short-lived thread
//! of its own instead, since tokio forbids nesting runtimes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bolt_client::bolt_proto::message::{Begin, Pull, Record, RunWithMetadata};
use bolt_client::bolt_proto::version::{V3_0, V4_0, V4_1};
use bolt_client::bolt_proto::{Message, Value};
use bolt_client::error::CommunicationError;
use bolt_client::{Client, Metadata};
use tokio::io::{AsyncRead, AsyncWrite, BufStream};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

use crate::config::{Neo4jConfig, Security};
use crate::counters::QueryCounters;
use crate::error::{FATAL_PREFIX, Neo4jError};
use crate::routing::{FetchError, Router, RoutingTable, means_not_the_writer};

/// The byte stream under Bolt: a TCP stream, or TLS over one.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub(crate) type BoltClient = Client<Compat<BufStream<Box<dyn Io>>>>;

/// The Bolt versions offered, newest first: 4.4 down to 4.2 (one range
/// specifier, which servers from 4.3 understand and older ones skip; this
/// is what Neo4j's 4.4 drivers offer), then 4.1, 4.0 and 3.0. bolt-client 0.11 speaks Bolt 1
/// to 4.4 and nothing newer, so the server picks the newest of these it
/// speaks: 4.4 on Neo4j 4.4 to 5.x and 2025.x, which all accept it.
const VERSIONS: [u32; 4] = [V4_4_TO_4_2, V4_1, V4_0, V3_0];

/// Bolt's version range specifier `00 02 04 04`: minor versions 4 down to
/// 4 - 2 of major 4.
const V4_4_TO_4_2: u32 = 0x0002_0404;

/// How long a probe that explains a failed handshake may take.
#[cfg(feature = "tls")]
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// One Cypher statement with its parameters.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    /// The query text (labels and types in it are validated `Name`s).
    pub cypher: String,
    /// Named parameters.
    pub params: HashMap<String, Value>,
}

/// Why one exchange failed, before it is turned into a `Neo4jError`.
enum Step {
    /// A FAILURE message: the connection is usable after a RESET.
    Server { code: String, message: String },
    /// I/O or framing failed: the connection is gone.
    Lost(String),
    /// The client or server state machine was violated: do not reuse.
    Protocol(String),
}

impl From<CommunicationError> for Step {
    fn from(e: CommunicationError) -> Self {
        match e {
            CommunicationError::IoError(_) | CommunicationError::ProtocolError(_) => {
                Self::Lost(e.to_string())
            }
            other => Self::Protocol(other.to_string()),
        }
    }
}

/// A Bolt connection to one database, reopened on demand.
pub(crate) struct BoltSession {
    config: Neo4jConfig,
    /// The rustls configuration of a TLS scheme, made once (CA files read).
    tls: Option<TlsConfig>,
    client: Option<BoltClient>,
    /// `neo4j` schemes: the routing table; `config` is then the writer's.
    router: Option<Router>,
    /// Where routing tables fetched are counted.
    counters: Arc<QueryCounters>,
    /// Last field: dropped after the connection it drives.
    runtime: OwnRuntime,
}

/// batch-core's [`on_own_thread`](batch_core::on_own_thread) under this
/// crate's thread name.
pub(crate) fn on_own_thread<T: Send>(f: impl FnOnce() -> T + Send) -> std::io::Result<T> {
    batch_core::on_own_thread("batch-neo4j-io", f)
}

/// Whether this thread is inside a tokio runtime, where blocking on
/// another runtime (or dropping one) panics.
fn inside_a_runtime() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

/// The session's current-thread runtime. `None` only while it is dropped.
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl OwnRuntime {
    fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        Ok(Self(Some(runtime)))
    }

    /// Runs `future` to its end. Inside a caller's runtime, on a thread of
    /// [`on_own_thread`], so that no runtime is ever nested; an error only
    /// when that thread cannot be started.
    fn block_on<F>(&self, future: F) -> std::io::Result<F::Output>
    where
        F: std::future::Future + Send,
        F::Output: Send,
    {
        let runtime = self
            .0
            .as_ref()
            .ok_or_else(|| std::io::Error::other("the session's runtime is shut down"))?;
        if inside_a_runtime() {
            on_own_thread(|| runtime.block_on(future))
        } else {
            Ok(runtime.block_on(future))
        }
    }
}

impl Drop for OwnRuntime {
    /// Inside a caller's runtime a plain drop would wait for the runtime's
    /// threads there and panic; shut down without waiting instead (the
    /// session has no tasks left: it only ever blocks on one future).
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take()
            && inside_a_runtime()
        {
            runtime.shutdown_background();
        }
    }
}

impl std::fmt::Debug for BoltSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoltSession")
            .field("addr", &self.config.addr)
            .field("connected", &self.client.is_some())
            .finish()
    }
}

impl BoltSession {
    /// Starts the runtime and connects (so that a wrong address or password
    /// fails here, not at the first flush); a `neo4j` scheme fetches the
    /// routing table first, counted in `counters`.
    pub(crate) fn open(
        config: Neo4jConfig,
        counters: Arc<QueryCounters>,
    ) -> Result<Self, Neo4jError> {
        let runtime = OwnRuntime::start()
            .map_err(|e| Neo4jError::Config(format!("cannot start a tokio runtime: {e}")))?;
        let tls = tls_config(&config)?;
        let mut session = Self {
            router: Router::new(&config),
            config,
            tls,
            client: None,
            counters,
            runtime,
        };
        session.connected()?;
        Ok(session)
    }

    /// A session whose connection reads the server's answers from
    /// `answers` (the handshake's version first) and swallows what it
    /// sends, through the same handshake, HELLO and probe as a real one:
    /// the fuzz targets' way in. A reconnect goes to `config`'s address.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn over_answers(config: Neo4jConfig, answers: Vec<u8>) -> Result<Self, Neo4jError> {
        let runtime = OwnRuntime::start()
            .map_err(|e| Neo4jError::Config(format!("cannot start a tokio runtime: {e}")))?;
        let stream: Box<dyn Io> = Box::new(crate::fuzzing::Answers::new(answers));
        let started = runtime.block_on(async {
            match Client::new(BufStream::new(stream).compat(), &VERSIONS).await {
                Ok(client) => greet(&config, client).await,
                Err(e) => Err(Neo4jError::Connection {
                    addr: config.addr.clone(),
                    message: e.to_string(),
                }),
            }
        });
        let client = started.map_err(|e| Neo4jError::Config(e.to_string()))??;
        Ok(Self {
            config,
            tls: None,
            client: Some(client),
            router: None,
            counters: Arc::default(),
            runtime,
        })
    }

    /// A session to the same server that connects at its first use: only
    /// its own runtime is started here. It starts from this session's
    /// routing table and refreshes its own.
    // Without the `tls` feature the TLS config is uninhabited (Copy).
    #[cfg_attr(not(feature = "tls"), allow(clippy::clone_on_copy))]
    pub(crate) fn sibling(&self) -> std::io::Result<Self> {
        Ok(Self {
            config: self.config.clone(),
            tls: self.tls.clone(),
            client: None,
            router: self.router.clone(),
            counters: Arc::clone(&self.counters),
            runtime: OwnRuntime::start()?,
        })
    }

    /// The Bolt version agreed with the server, as (major, minor); `None`
    /// while not connected.
    pub(crate) fn bolt_version(&self) -> Option<(u8, u8)> {
        let version = self.client.as_ref()?.version();
        Some(((version & 0xff) as u8, (version >> 8 & 0xff) as u8))
    }

    /// The last routing table fetched (`neo4j` schemes only).
    pub(crate) fn routing_table(&self) -> Option<&RoutingTable> {
        self.router.as_ref()?.table()
    }

    /// Runs the statements `statements()` gives in one explicit
    /// transaction and returns each statement's records. They are moved
    /// into the request (a batch's parameters are its largest part), so
    /// `statements` is called again, to build them anew, only if the
    /// request must be sent once more on a new connection. On any error
    /// the transaction is rolled back (RESET, or the connection is
    /// dropped) and nothing was committed, except when the answer to the
    /// COMMIT is lost: then the outcome is unknown and the error is
    /// [`Neo4jError::OutcomeUnknown`].
    pub(crate) fn run_in_transaction(
        &mut self,
        mut statements: impl FnMut() -> Vec<Statement>,
    ) -> Result<Vec<Vec<Record>>, Neo4jError> {
        self.on_live_session(|session| {
            let db = session.db_metadata()?;
            let timeout = session.config.timeout;
            let mut commit_sent = false;
            let statements = statements();
            let (runtime, client) = session.parts()?;
            let result = runtime
                .block_on(bounded(
                    timeout,
                    transaction(client, db, statements, &mut commit_sent),
                ))
                .unwrap_or_else(|e| Err(no_thread(&e)));
            session.settle(result, commit_sent)
        })
    }

    /// Runs one statement in an auto-commit transaction. A statement whose
    /// answer is lost after it was sent may have been applied
    /// ([`Neo4jError::OutcomeUnknown`]).
    pub(crate) fn run(&mut self, statement: &Statement) -> Result<Vec<Record>, Neo4jError> {
        self.on_live_session(|session| {
            let db = session.db_metadata()?;
            let timeout = session.config.timeout;
            let mut sent = false;
            let (runtime, client) = session.parts()?;
            let result = runtime
                .block_on(bounded(
                    timeout,
                    auto_commit(client, db, statement, &mut sent),
                ))
                .unwrap_or_else(|e| Err(no_thread(&e)));
            session.settle(result, sent)
        })
    }

    /// Runs `exchange`, and once more on a new connection when the server
    /// refused it because the session itself is spent (see
    /// [`connection_is_spent`]): such a FAILURE means nothing was applied,
    /// and a restarting server revokes its sessions that way. If the new
    /// connection is refused too, the server means it: a `Security` code
    /// stays a server error (fatal), any other spent-session code becomes
    /// a (transient) connection error.
    ///
    /// With routing (`neo4j` schemes), a routing table past its TTL is
    /// fetched again first; a writer that answers that it is none
    /// ([`means_not_the_writer`]) or is lost before the COMMIT makes the
    /// session fetch a new table and send the request once more, to the
    /// new writer (it was rolled back: a plain retry). Refused a second
    /// time, the error is a (transient) connection error for batch-core's
    /// retries. A lost answer to a COMMIT also drops the table, and stays
    /// [`Neo4jError::OutcomeUnknown`] (batch-core replays it).
    fn on_live_session<T>(
        &mut self,
        mut exchange: impl FnMut(&mut Self) -> Result<T, Neo4jError>,
    ) -> Result<T, Neo4jError> {
        self.honour_ttl()?;
        let reused = self.client.is_some();
        let result = match exchange(self) {
            Err(Neo4jError::Server { code, message, .. })
                if reused && connection_is_spent(&code) =>
            {
                tracing::info!(addr = %self.config.addr, %code, %message, "session refused; reconnecting once");
                exchange(self)
            }
            Err(e) if self.writer_is_gone(&e) => {
                tracing::info!(addr = %self.config.addr, error = %e, "writer refused or lost; refreshing the routing table and retrying once");
                exchange(self)
            }
            other => other,
        };
        let result = match result {
            Err(e) if self.writer_is_gone(&e) => Err(match e {
                Neo4jError::Server {
                    addr,
                    code,
                    message,
                } => Neo4jError::Connection {
                    addr,
                    message: format!("{code}: {message} (again after a routing table refresh)"),
                },
                other => other,
            }),
            Err(e @ Neo4jError::OutcomeUnknown { .. }) => {
                if let Some(router) = &mut self.router {
                    router.forget();
                }
                Err(e)
            }
            other => other,
        };
        match result {
            Err(Neo4jError::Server {
                addr,
                code,
                message,
            }) if connection_is_spent(&code) && !code.starts_with(FATAL_PREFIX) => {
                Err(Neo4jError::Connection {
                    addr,
                    message: format!("{code}: {message}"),
                })
            }
            other => other,
        }
    }

    /// Connects now if not connected.
    pub(crate) fn connect(&mut self) -> Result<(), Neo4jError> {
        self.connected().map(|_| ())
    }

    /// With routing: whether `error` says the writer is no writer any
    /// more (a FAILURE [`means_not_the_writer`]) or is gone (connection
    /// lost or refused, nothing committed). If so the routing table and
    /// the connection are dropped, so that the next attempt fetches a new
    /// table and connects to its writer.
    fn writer_is_gone(&mut self, error: &Neo4jError) -> bool {
        let Some(router) = &mut self.router else {
            return false;
        };
        let gone = match error {
            Neo4jError::Server { code, .. } => means_not_the_writer(code),
            Neo4jError::Connection { .. } => true,
            _ => false,
        };
        if gone {
            router.forget();
            self.client = None;
        }
        gone
    }

    /// With routing: fetches the routing table again when its TTL is over
    /// and moves to its writer if that changed (the connection to the old
    /// one is dropped).
    fn honour_ttl(&mut self) -> Result<(), Neo4jError> {
        let stale = self
            .router
            .as_ref()
            .is_some_and(|r| r.writer(Instant::now()).is_none());
        if stale && self.client.is_some() {
            let before = self.config.addr.clone();
            // The router's connection is not needed: the writer's is open,
            // or is dropped below and opened again at once.
            drop(self.route()?);
            if self.config.addr != before {
                tracing::info!(from = %before, to = %self.config.addr, "routing table names a new writer");
                self.client = None;
            }
        }
        Ok(())
    }

    /// With routing: aims the session at the writer of a routing table
    /// within its TTL, fetching one when there is none. The routers of the
    /// last table are asked first, then the URI's server; a router that
    /// cannot be reached, or whose table names no writer (a cluster
    /// electing one), is skipped. None answering is a connection error
    /// (transient); a refused certificate or credentials stay fatal.
    /// When the router that answered is the writer itself (a single
    /// server), its connection is returned, to be used for the writes: one
    /// connection instead of two.
    fn route(&mut self) -> Result<Option<BoltClient>, Neo4jError> {
        // A copy (a few strings): the loop below borrows the runtime.
        let Some(router) = self.router.clone() else {
            return Ok(None);
        };
        if let Some(writer) = router.writer(Instant::now()) {
            self.config = writer;
            return Ok(None);
        }
        let mut last = None;
        for target in router.routers() {
            let timeout = target.timeout;
            let fetched = self
                .runtime
                .block_on(async {
                    tokio::time::timeout(timeout, fetch_table(&router, &target, self.tls.as_ref()))
                        .await
                })
                .map_err(|e| Neo4jError::Connection {
                    addr: target.addr.clone(),
                    message: format!("cannot start a thread to connect on: {e}"),
                })
                .and_then(|r| {
                    r.unwrap_or_else(|_| {
                        Err(Neo4jError::Connection {
                            addr: target.addr.clone(),
                            message: format!("no routing table within {timeout:?}"),
                        })
                    })
                });
            match fetched {
                Ok((table, client)) => match table.writers.first() {
                    Some(writer) => {
                        tracing::debug!(router = %target.addr, ?table, "routing table fetched");
                        self.counters.record_routing_table();
                        let spare = (*writer == target.addr).then_some(client);
                        // The new table's writer, even if its TTL is 0
                        // (then the next request asks again).
                        self.config = target.at(writer);
                        let mut router = router;
                        router.install(table, Instant::now());
                        self.router = Some(router);
                        return Ok(spare);
                    }
                    None => {
                        last = Some(Neo4jError::Connection {
                            addr: target.addr.clone(),
                            message: format!(
                                "routing table names no writer for database {:?} (a cluster electing a leader?): {table:?}",
                                target.database.as_deref().unwrap_or("(default)")
                            ),
                        });
                    }
                },
                Err(e)
                    if matches!(e, Neo4jError::Tls { .. })
                        || e.code().is_some_and(|c| c.starts_with(FATAL_PREFIX)) =>
                {
                    return Err(e);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Neo4jError::Connection {
            addr: self.config.addr.clone(),
            message: "no router to ask for a routing table".to_owned(),
        }))
    }

    /// RUN/BEGIN metadata naming the database, for Bolt 4+ only.
    fn db_metadata(&mut self) -> Result<Option<HashMap<String, Value>>, Neo4jError> {
        let version = self.connected()?.version();
        Ok(db_metadata(&self.config, version))
    }

    /// The open connection, connecting first if there is none.
    fn connected(&mut self) -> Result<&mut BoltClient, Neo4jError> {
        if self.client.is_none() {
            let spare = self.route()?;
            let timeout = self.config.timeout;
            let (config, tls) = (&self.config, self.tls.as_ref());
            let client = self
                .runtime
                .block_on(async {
                    tokio::time::timeout(timeout, async {
                        match spare {
                            Some(client) => probe(config, client).await,
                            None => connect(config, tls).await,
                        }
                    })
                    .await
                })
                .map_err(|e| Neo4jError::Connection {
                    addr: self.config.addr.clone(),
                    message: format!("cannot start a thread to connect on: {e}"),
                })?
                .map_err(|_| Neo4jError::Connection {
                    addr: self.config.addr.clone(),
                    message: format!("no answer within {timeout:?} while connecting"),
                })??;
            tracing::debug!(addr = %self.config.addr, version = client.version(), "Bolt connection opened");
            self.client = Some(client);
        }
        self.client.as_mut().ok_or_else(|| Neo4jError::Connection {
            addr: self.config.addr.clone(),
            message: "not connected".to_owned(),
        })
    }

    /// The runtime and the open connection, borrowed together.
    fn parts(&mut self) -> Result<(&OwnRuntime, &mut BoltClient), Neo4jError> {
        self.connected()?;
        let addr = &self.config.addr;
        let client = self.client.as_mut().ok_or_else(|| Neo4jError::Connection {
            addr: addr.clone(),
            message: "not connected".to_owned(),
        })?;
        Ok((&self.runtime, client))
    }

    /// Turns a step error into a `Neo4jError`, leaving the connection
    /// clean (RESET after a FAILURE) or dropping it. `sent`: the COMMIT (or
    /// the auto-commit statement) had been sent, so a lost answer leaves
    /// the outcome unknown.
    fn settle<T>(&mut self, result: Result<T, Step>, sent: bool) -> Result<T, Neo4jError> {
        let error = match result {
            Ok(value) => return Ok(value),
            Err(step) => step,
        };
        let addr = self.config.addr.clone();
        match error {
            Step::Server { code, message } if connection_is_spent(&code) => {
                tracing::debug!(%addr, %code, "connection no longer usable; dropping it");
                self.client = None;
                Err(Neo4jError::Server {
                    addr,
                    code,
                    message,
                })
            }
            Step::Server { code, message } => {
                let reset_ok = match self.client.as_mut() {
                    Some(client) => matches!(
                        self.runtime.block_on(client.reset()),
                        Ok(Ok(Message::Success(_)))
                    ),
                    None => false,
                };
                if !reset_ok {
                    tracing::debug!(%addr, "RESET failed; dropping the connection");
                    self.client = None;
                }
                Err(Neo4jError::Server {
                    addr,
                    code,
                    message,
                })
            }
            Step::Lost(message) | Step::Protocol(message) if sent => {
                self.client = None;
                Err(Neo4jError::OutcomeUnknown { addr, message })
            }
            Step::Lost(message) => {
                self.client = None;
                Err(Neo4jError::Connection { addr, message })
            }
            Step::Protocol(message) => {
                self.client = None;
                Err(Neo4jError::Protocol(format!("{addr}: {message}")))
            }
        }
    }
}

/// `step`, or a lost connection if the server does not finish it within
/// `timeout` (the connection is then dropped: its state is unknown).
async fn bounded<T>(
    timeout: std::time::Duration,
    step: impl std::future::Future<Output = Result<T, Step>>,
) -> Result<T, Step> {
    tokio::time::timeout(timeout, step)
        .await
        .unwrap_or_else(|_| Err(Step::Lost(format!("no answer within {timeout:?}"))))
}

/// Failures that are about the connection, not the request: a
/// `Security` code on a connection that was fine (Neo4j's
/// `AuthorizationExpired` or `TokenExpired`; ArcadeDB, the test server
/// until issue 31, revoked the session of a user given a new password,
/// which Neo4j 5 does not do: it checks credentials at HELLO only), or a
/// `Request` code (`Request.Invalid`: the connection's state machine is
/// off, and stays off after a RESET). Such a connection is dropped and
/// the request tried once on a new one: reconnecting either works, fails
/// to connect (transient), or fails at HELLO, where bad credentials are a
/// fatal `Unauthorized`.
fn connection_is_spent(code: &str) -> bool {
    code.starts_with("Neo.ClientError.Security.") || code.starts_with("Neo.ClientError.Request.")
}

/// Nothing was sent: the thread to send it on could not be started.
fn no_thread(e: &std::io::Error) -> Step {
    Step::Lost(format!("cannot start a thread for the request: {e}"))
}

#[cfg(feature = "tls")]
type TlsConfig = std::sync::Arc<rustls::ClientConfig>;
/// Without the `tls` feature no TLS scheme parses, so there is never one.
#[cfg(not(feature = "tls"))]
type TlsConfig = std::convert::Infallible;

/// The rustls configuration of `config`'s scheme: `None` for plaintext.
#[cfg(feature = "tls")]
fn tls_config(config: &Neo4jConfig) -> Result<Option<TlsConfig>, Neo4jError> {
    use batch_core::tls::{TlsSettings, any_certificate_config};
    let made = match config.security {
        Security::Plain => return Ok(None),
        Security::SelfSigned => any_certificate_config(),
        Security::Verified => match &config.tls {
            Some(settings) => settings.client_config(),
            None => TlsSettings::new().client_config(),
        },
    };
    made.map(Some)
        .map_err(|e| Neo4jError::Config(format!("TLS for {}: {e}", config.addr)))
}

#[cfg(not(feature = "tls"))]
fn tls_config(config: &Neo4jConfig) -> Result<Option<TlsConfig>, Neo4jError> {
    match config.security {
        Security::Plain => Ok(None),
        Security::Verified | Security::SelfSigned => Err(Neo4jError::Config(format!(
            "{}: TLS needs batch-neo4j's feature \"tls\"",
            config.addr
        ))),
    }
}

async fn tcp_connect(config: &Neo4jConfig) -> Result<TcpStream, Neo4jError> {
    let lost = |e: &std::io::Error| Neo4jError::Connection {
        addr: config.addr.clone(),
        message: e.to_string(),
    };
    let stream = TcpStream::connect(&config.addr)
        .await
        .map_err(|e| lost(&e))?;
    stream.set_nodelay(true).map_err(|e| lost(&e))?;
    Ok(stream)
}

/// TLS over `tcp`, or an error naming the reason: refused certificates
/// and a plaintext Bolt server are [`Neo4jError::Tls`] (fatal); a
/// connection lost for another reason stays a connection error.
#[cfg(feature = "tls")]
async fn tls_handshake(
    config: &Neo4jConfig,
    tls: &TlsConfig,
    tcp: TcpStream,
) -> Result<Box<dyn Io>, Neo4jError> {
    let refused = |message: String| Neo4jError::Tls {
        addr: config.addr.clone(),
        message,
    };
    let name = rustls::pki_types::ServerName::try_from(config.host.clone()).map_err(|e| {
        refused(format!(
            "{:?} is not a host name TLS can check: {e}",
            config.host
        ))
    })?;
    let error = match tokio_rustls::TlsConnector::from(tls.clone())
        .connect(name, tcp)
        .await
    {
        Ok(stream) => return Ok(Box::new(stream)),
        Err(e) => e,
    };
    if let Some(e) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        use rustls::Error as E;
        return Err(refused(match e {
            E::InvalidMessage(_)
            | E::InappropriateMessage { .. }
            | E::InappropriateHandshakeMessage { .. } => {
                format!(
                    "the server does not speak TLS there (a plaintext port? then use bolt://): {e}"
                )
            }
            other => batch_core::tls::describe(other, &config.host),
        }));
    }
    // A plaintext Bolt server closes the connection on a ClientHello;
    // so does a server going away. Ask which.
    if speaks_plain_bolt(config).await {
        return Err(refused(
            "the server speaks plaintext Bolt on this port, not TLS: use bolt:// (or the server's TLS port)"
                .to_owned(),
        ));
    }
    Err(Neo4jError::Connection {
        addr: config.addr.clone(),
        message: format!("TLS handshake failed: {error}"),
    })
}

#[cfg(not(feature = "tls"))]
async fn tls_handshake(
    _: &Neo4jConfig,
    tls: &TlsConfig,
    _: TcpStream,
) -> Result<Box<dyn Io>, Neo4jError> {
    match *tls {}
}

/// Whether a new connection to the server completes a plaintext Bolt
/// handshake (within [`PROBE_TIMEOUT`]).
#[cfg(feature = "tls")]
async fn speaks_plain_bolt(config: &Neo4jConfig) -> bool {
    let probe = async {
        let tcp = tcp_connect(config).await.ok()?;
        let stream: Box<dyn Io> = Box::new(tcp);
        Client::new(BufStream::new(stream).compat(), &VERSIONS)
            .await
            .ok()
    };
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, probe).await,
        Ok(Some(_))
    )
}

/// Whether a new connection to the server completes a TLS handshake,
/// accepting any certificate (within [`PROBE_TIMEOUT`]).
#[cfg(feature = "tls")]
async fn speaks_tls(config: &Neo4jConfig) -> bool {
    let probe = async {
        let tls = batch_core::tls::any_certificate_config().ok()?;
        let name = rustls::pki_types::ServerName::try_from(config.host.clone()).ok()?;
        let tcp = tcp_connect(config).await.ok()?;
        tokio_rustls::TlsConnector::from(tls)
            .connect(name, tcp)
            .await
            .ok()
    };
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, probe).await,
        Ok(Some(_))
    )
}

#[cfg(not(feature = "tls"))]
async fn speaks_tls(_: &Neo4jConfig) -> bool {
    false
}

/// A routing table from the router `target`, over a connection of its own
/// (TLS, handshake, HELLO, `ROUTE`), returned with the table: the caller
/// keeps it if the router is the writer.
async fn fetch_table(
    router: &Router,
    target: &Neo4jConfig,
    tls: Option<&TlsConfig>,
) -> Result<(RoutingTable, BoltClient), Neo4jError> {
    let mut client = authenticated(target, tls).await?;
    match router.fetch(&mut client, &target.addr).await {
        Ok(Ok(table)) => Ok((table, client)),
        Ok(Err((code, message))) => Err(Neo4jError::Server {
            addr: target.addr.clone(),
            code,
            message: format!("answering ROUTE: {message}"),
        }),
        Err(FetchError::Lost(message)) => Err(Neo4jError::Connection {
            addr: target.addr.clone(),
            message,
        }),
        Err(FetchError::Protocol(message)) => {
            Err(Neo4jError::Protocol(format!("{}: {message}", target.addr)))
        }
    }
}

/// A connection that has passed HELLO and can serve the database.
async fn connect(config: &Neo4jConfig, tls: Option<&TlsConfig>) -> Result<BoltClient, Neo4jError> {
    let client = authenticated(config, tls).await?;
    probe(config, client).await
}

/// TCP, TLS when asked, the Bolt handshake and HELLO.
async fn authenticated(
    config: &Neo4jConfig,
    tls: Option<&TlsConfig>,
) -> Result<BoltClient, Neo4jError> {
    let lost = |e: &dyn std::fmt::Display| Neo4jError::Connection {
        addr: config.addr.clone(),
        message: e.to_string(),
    };
    let tcp = tcp_connect(config).await?;
    let stream: Box<dyn Io> = match tls {
        Some(tls) => tls_handshake(config, tls, tcp).await?,
        None => Box::new(tcp),
    };
    let client = match Client::new(BufStream::new(stream).compat(), &VERSIONS).await {
        Ok(client) => client,
        // A TLS port answers the Bolt preamble with an alert or by closing.
        Err(e) if tls.is_none() && speaks_tls(config).await => {
            return Err(Neo4jError::Tls {
                addr: config.addr.clone(),
                message: format!(
                    "the server speaks TLS on this port, not plaintext Bolt: use bolt+s:// (or bolt+ssc:// for a self-signed certificate) ({e})"
                ),
            });
        }
        Err(e) => return Err(lost(&e)),
    };
    hello(config, client).await
}

/// HELLO and a probe on a fresh Bolt connection (the fuzz targets' way in).
#[cfg(feature = "fuzzing")]
async fn greet(config: &Neo4jConfig, client: BoltClient) -> Result<BoltClient, Neo4jError> {
    probe(config, hello(config, client).await?).await
}

/// HELLO on a fresh Bolt connection.
async fn hello(config: &Neo4jConfig, mut client: BoltClient) -> Result<BoltClient, Neo4jError> {
    let lost = |e: &dyn std::fmt::Display| Neo4jError::Connection {
        addr: config.addr.clone(),
        message: e.to_string(),
    };
    let mut hello = HashMap::from([
        (
            "user_agent",
            Value::from(concat!("uds3-batch/", env!("CARGO_PKG_VERSION"))),
        ),
        ("scheme", Value::from("basic")),
        ("principal", Value::from(config.user.as_str())),
        ("credentials", Value::from(config.password.as_str())),
    ]);
    // A `neo4j` URI tells the server the client routes (Bolt 4.1+), with
    // the same context `ROUTE` sends.
    if let Some(context) = crate::routing::context(config) {
        hello.insert("routing", Value::from(context));
    }
    let hello = Metadata::from(hello);
    match client.hello(hello).await {
        Ok(Message::Success(_)) => {}
        Ok(Message::Failure(f)) => {
            let (code, message) = failure_fields(f.metadata());
            return Err(Neo4jError::LoginRefused {
                addr: config.addr.clone(),
                user: config.user.clone(),
                code,
                message,
            });
        }
        Ok(other) => {
            return Err(Neo4jError::Protocol(format!(
                "{}: unexpected answer to HELLO: {other:?}",
                config.addr
            )));
        }
        Err(e) => return Err(lost(&e)),
    }
    Ok(client)
}

/// The connection once the server can serve the database.
async fn probe(config: &Neo4jConfig, mut client: BoltClient) -> Result<BoltClient, Neo4jError> {
    let lost = |e: &dyn std::fmt::Display| Neo4jError::Connection {
        addr: config.addr.clone(),
        message: e.to_string(),
    };
    // A restarting server can accept Bolt connections (and even HELLO)
    // before it can serve the database (ArcadeDB answered BEGIN with "not
    // expected in state: AUTHENTICATION" or DatabaseNotFound; Neo4j 5
    // answers Neo.TransientError.General.DatabaseUnavailable). Probe with
    // RETURN 1 and report a server that cannot answer yet as a (transient)
    // connection error, so batch-core waits and retries on a new one.
    let probe = Statement {
        cypher: "RETURN 1".to_owned(),
        params: HashMap::new(),
    };
    let db = db_metadata(config, client.version());
    match run_and_pull(&mut client, &probe, db, &mut false).await {
        Ok(_) => Ok(client),
        Err(Step::Server { code, message }) => Err(lost(&format!(
            "server not ready for database {:?}: {code}: {message}",
            config.database.as_deref().unwrap_or("(default)")
        ))),
        Err(Step::Lost(m) | Step::Protocol(m)) => Err(lost(&m)),
    }
}

/// RUN/BEGIN metadata naming the database, for Bolt 4+ only.
fn db_metadata(config: &Neo4jConfig, version: u32) -> Option<HashMap<String, Value>> {
    match &config.database {
        Some(db) if version & 0xff >= 4 => {
            Some(HashMap::from([("db".to_owned(), Value::from(db.as_str()))]))
        }
        _ => None,
    }
}

fn failure_fields(metadata: &HashMap<String, Value>) -> (String, String) {
    let text = |key: &str| match metadata.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    };
    (text("code"), text("message"))
}

/// A SUCCESS is fine; a FAILURE carries the server's code; anything else
/// (IGNORED, ...) means the state machine is off.
fn expect_success(answer: Message, what: &str) -> Result<(), Step> {
    match answer {
        Message::Success(_) => Ok(()),
        Message::Failure(f) => {
            let (code, message) = failure_fields(f.metadata());
            Err(Step::Server { code, message })
        }
        other => Err(Step::Protocol(format!(
            "unexpected answer to {what}: {other:?}"
        ))),
    }
}

/// RUN and PULL of one statement; `sent` is set once the RUN goes out.
async fn run_and_pull(
    client: &mut BoltClient,
    statement: &Statement,
    metadata: Option<HashMap<String, Value>>,
    sent: &mut bool,
) -> Result<Vec<Record>, Step> {
    // RUN and PULL in one write: one round trip, not two.
    let messages = vec![
        Message::RunWithMetadata(RunWithMetadata::new(
            statement.cypher.clone(),
            statement.params.clone(),
            metadata.unwrap_or_default(),
        )),
        pull_message(client),
    ];
    *sent = true;
    let mut answers = client.pipeline(messages).await?.into_iter();
    statement_answers(&mut || answers.next())
}

/// PULL of every record: `PULL {n: -1}` from Bolt 4, `PULL_ALL` before.
fn pull_message(client: &BoltClient) -> Message {
    if client.version() & 0xff >= 4 {
        Message::Pull(Pull::new(HashMap::from([(
            "n".to_owned(),
            Value::from(-1_i64),
        )])))
    } else {
        Message::PullAll
    }
}

/// One statement's answers in a pipeline: RUN's SUCCESS, its records,
/// PULL's summary.
fn statement_answers(next: &mut impl FnMut() -> Option<Message>) -> Result<Vec<Record>, Step> {
    let mut next =
        |what: &str| next().ok_or_else(|| Step::Protocol(format!("no answer to {what}")));
    expect_success(next("RUN")?, "RUN")?;
    let mut records = Vec::new();
    loop {
        match next("PULL")? {
            Message::Record(record) => records.push(record),
            summary => {
                expect_success(summary, "PULL")?;
                return Ok(records);
            }
        }
    }
}

/// BEGIN and every statement's RUN and PULL in one write, then COMMIT:
/// two round trips per batch whatever its statements, instead of two per
/// statement plus two (across a network each one costs a batch its round
/// trip time). After a FAILURE the server answers the rest of the pipeline
/// with IGNORED, so the first FAILURE is the batch's error. `commit_sent`
/// is set just before the COMMIT goes out: until then a lost connection
/// leaves an uncommitted transaction, which the server rolls back.
async fn transaction(
    client: &mut BoltClient,
    db: Option<HashMap<String, Value>>,
    statements: Vec<Statement>,
    commit_sent: &mut bool,
) -> Result<Vec<Vec<Record>>, Step> {
    let mut messages = Vec::with_capacity(1 + 2 * statements.len());
    messages.push(Message::Begin(Begin::new(db.unwrap_or_default())));
    let count = statements.len();
    for statement in statements {
        messages.push(Message::RunWithMetadata(RunWithMetadata::new(
            statement.cypher,
            statement.params,
            HashMap::new(),
        )));
        messages.push(pull_message(client));
    }
    let mut answers = client.pipeline(messages).await?.into_iter();
    let begin = answers
        .next()
        .ok_or_else(|| Step::Protocol("no answer to BEGIN".to_owned()))?;
    expect_success(begin, "BEGIN")?;
    let mut results = Vec::with_capacity(count);
    for _ in 0..count {
        results.push(statement_answers(&mut || answers.next())?);
    }
    *commit_sent = true;
    expect_success(client.commit().await?, "COMMIT").map_err(|step| match step {
        Step::Server { code, message } if commit_may_have_landed(&code) => Step::Lost(format!(
            "COMMIT answered {code}: {message} (the commit may have landed)"
        )),
        other => other,
    })?;
    Ok(results)
}

/// Whether a FAILURE answering COMMIT leaves the commit's outcome unknown.
/// Neo4j 5 that shuts down mid-commit answers
/// `Neo.TransientError.General.DatabaseUnavailable` for a transaction it
/// has committed (seen on 5.26: the retry then found every row). A
/// `General` transient error or a `DatabaseError` is about the server, not
/// the transaction, so it does not say the transaction was rolled back;
/// a `ClientError` (a constraint) or a `TransientError.Transaction.*` (a
/// deadlock, a terminated transaction) does.
fn commit_may_have_landed(code: &str) -> bool {
    code.starts_with("Neo.TransientError.General.") || code.starts_with("Neo.DatabaseError.")
}

async fn auto_commit(
    client: &mut BoltClient,
    db: Option<HashMap<String, Value>>,
    statement: &Statement,
    sent: &mut bool,
) -> Result<Vec<Record>, Step> {
    run_and_pull(client, statement, db, sent).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The version bolt-client agrees on with a server speaking `server`
    /// ((major, minor) pairs), which picks as Bolt servers do: the first
    /// offer it speaks, the newest version of a range.
    fn negotiated(server: &'static [(u32, u32)]) -> (u8, u8) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (ours, mut theirs) = tokio::io::duplex(64);
            let answer = tokio::spawn(async move {
                let mut offer = [0_u8; 20];
                theirs.read_exact(&mut offer).await.unwrap();
                let picked = offer[4..]
                    .chunks(4)
                    .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
                    .find_map(|spec| {
                        let (major, minor, range) =
                            (spec & 0xff, spec >> 8 & 0xff, spec >> 16 & 0xff);
                        (minor.saturating_sub(range)..=minor)
                            .rev()
                            .find(|m| server.contains(&(major, *m)))
                            .map(|m| m << 8 | major)
                    })
                    .unwrap_or(0);
                theirs.write_all(&picked.to_be_bytes()).await.unwrap();
                theirs
            });
            let stream: Box<dyn Io> = Box::new(ours);
            let client = Client::new(BufStream::new(stream).compat(), &VERSIONS).await;
            drop(answer.await);
            let version = client.expect("a version both speak").version();
            ((version & 0xff) as u8, (version >> 8 & 0xff) as u8)
        })
    }

    /// Issue 31: the newest version both sides speak. Neo4j 5.26 speaks
    /// 4.4 and 5.0-5.8; bolt-client stops at 4.4.
    #[test]
    fn the_newest_bolt_version_both_sides_speak_is_agreed() {
        const NEO4J_5: &[(u32, u32)] = &[(4, 4), (5, 0), (5, 4), (5, 8)];
        const NEO4J_4_3: &[(u32, u32)] = &[(4, 0), (4, 1), (4, 2), (4, 3)];
        const NEO4J_4_1: &[(u32, u32)] = &[(4, 0), (4, 1)];
        const NEO4J_3_5: &[(u32, u32)] = &[(3, 0)];
        assert_eq!(negotiated(NEO4J_5), (4, 4));
        assert_eq!(negotiated(NEO4J_4_3), (4, 3));
        assert_eq!(negotiated(NEO4J_4_1), (4, 1));
        assert_eq!(negotiated(NEO4J_3_5), (3, 0));
    }

    #[test]
    fn a_commit_refused_by_the_server_not_the_transaction_may_have_landed() {
        assert!(commit_may_have_landed(
            "Neo.TransientError.General.DatabaseUnavailable"
        ));
        assert!(commit_may_have_landed(
            "Neo.DatabaseError.General.UnknownError"
        ));
        assert!(!commit_may_have_landed(
            "Neo.TransientError.Transaction.DeadlockDetected"
        ));
        assert!(!commit_may_have_landed(
            "Neo.ClientError.Schema.ConstraintValidationFailed"
        ));
    }
}
