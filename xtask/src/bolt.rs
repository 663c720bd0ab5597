//! A blocking Bolt connection on bolt-client, for readiness and smoke
//! checks: connect, authenticate, run auto-commit queries.
//!
//! Offers Bolt 4.4, 4.0 and 3.0 (Neo4j 4.4 and 5.x speak 4.4). Each connection owns a
//! current-thread tokio runtime and blocks on it; every step must finish
//! within the timeout given to [`Bolt::connect`].

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use bolt_client::bolt_proto::Message;
use bolt_client::bolt_proto::message::{Begin, Pull, Record, RunWithMetadata};
use bolt_client::bolt_proto::version::{V3_0, V4_0, V4_4};
use bolt_client::error::CommunicationResult;
use bolt_client::{Client, Metadata, Params};
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

pub use bolt_client::bolt_proto::Value;

/// An open, authenticated Bolt connection.
pub struct Bolt {
    runtime: Runtime,
    client: Client<Compat<BufStream<TcpStream>>>,
    database: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for Bolt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bolt")
            .field("version", &self.client.version())
            .field("database", &self.database)
            .finish()
    }
}

impl Bolt {
    /// Connects to `host:port`, negotiates a version and authenticates with
    /// basic auth. This, and later each query, fails if it takes longer
    /// than `timeout`.
    pub fn connect(
        host: &str,
        port: u16,
        user: &str,
        password: &str,
        timeout: Duration,
    ) -> Result<Bolt, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
        let client = runtime.block_on(within(timeout, "connecting", async {
            let stream = TcpStream::connect((host, port))
                .await
                .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
            stream
                .set_nodelay(true)
                .map_err(|e| format!("bolt i/o: {e}"))?;
            let mut client = Client::new(BufStream::new(stream).compat(), &[V4_4, V4_0, V3_0, 0])
                .await
                .map_err(|e| format!("Bolt handshake with {host}:{port}: {e}"))?;
            let hello = Metadata::from_iter([
                ("user_agent", "uds3-xtask/0.1"),
                ("scheme", "basic"),
                ("principal", user),
                ("credentials", password),
            ]);
            expect_success(client.hello(hello).await, "HELLO")?;
            Ok(client)
        }))?;
        Ok(Bolt {
            runtime,
            client,
            database: None,
            timeout,
        })
    }

    /// Runs later queries in the database `name` (Bolt 4 and later; with
    /// Bolt 3 they run in the server's default database).
    pub fn database(mut self, name: &str) -> Bolt {
        self.database = Some(name.to_owned());
        self
    }

    /// Runs one auto-commit query and returns its records.
    pub fn query(
        &mut self,
        cypher: &str,
        params: HashMap<String, Value>,
    ) -> Result<Vec<Vec<Value>>, String> {
        let db = self.db_metadata();
        let client = &mut self.client;
        self.runtime
            .block_on(within(self.timeout, "running a query", async {
                let records = run_and_pull(client, cypher, params, db).await?;
                Ok(records.iter().map(|r| r.fields().to_vec()).collect())
            }))
    }

    /// Runs one query in an explicit transaction as batch-neo4j sends a
    /// batch (BEGIN, RUN and PULL pipelined in one write, then COMMIT) and
    /// returns how many records it gave.
    pub fn transaction(
        &mut self,
        cypher: &str,
        params: HashMap<String, Value>,
    ) -> Result<usize, String> {
        let db = self.db_field().unwrap_or_default();
        let pull = if self.client.version() & 0xff >= 4 {
            Message::Pull(Pull::new(HashMap::from([(
                "n".to_owned(),
                Value::from(-1_i64),
            )])))
        } else {
            Message::PullAll
        };
        let messages = vec![
            Message::Begin(Begin::new(db)),
            Message::RunWithMetadata(RunWithMetadata::new(
                cypher.to_owned(),
                params,
                HashMap::new(),
            )),
            pull,
        ];
        let client = &mut self.client;
        self.runtime
            .block_on(within(self.timeout, "running a transaction", async {
                let answers = client
                    .pipeline(messages)
                    .await
                    .map_err(|e| format!("BEGIN, RUN and PULL: {e}"))?;
                let mut answers = answers.into_iter();
                let mut next =
                    |what: &str| answers.next().ok_or_else(|| format!("no answer to {what}"));
                expect_success(Ok(next("BEGIN")?), "BEGIN")?;
                expect_success(Ok(next("RUN")?), "RUN")?;
                let mut records = 0;
                loop {
                    match next("PULL")? {
                        Message::Record(_) => records += 1,
                        summary => break expect_success(Ok(summary), "PULL")?,
                    }
                }
                expect_success(client.commit().await, "COMMIT")?;
                Ok(records)
            }))
    }

    /// The database to run in, for Bolt 4 and later.
    fn db_metadata(&self) -> Option<Metadata> {
        self.db_field().map(Metadata::from)
    }

    /// The `db` field of BEGIN and RUN, for Bolt 4 and later.
    fn db_field(&self) -> Option<HashMap<String, Value>> {
        match &self.database {
            Some(db) if self.client.version() & 0xff >= 4 => {
                Some(HashMap::from([("db".to_owned(), Value::from(db.as_str()))]))
            }
            _ => None,
        }
    }

    /// Says GOODBYE and closes the connection.
    pub fn close(mut self) {
        // Best effort: the server closes its side either way.
        let (timeout, client) = (self.timeout, &mut self.client);
        let _ = self
            .runtime
            .block_on(async { tokio::time::timeout(timeout, client.goodbye()).await });
    }
}

/// RUN, then PULL of every record.
async fn run_and_pull(
    client: &mut Client<Compat<BufStream<TcpStream>>>,
    cypher: &str,
    params: HashMap<String, Value>,
    db: Option<Metadata>,
) -> Result<Vec<Record>, String> {
    let params = Params::from_iter(params);
    expect_success(client.run(cypher, Some(params), db).await, "RUN")?;
    let all = Metadata::from_iter([("n", -1_i64)]);
    let (records, summary) = client
        .pull(Some(all))
        .await
        .map_err(|e| format!("PULL: {e}"))?;
    expect_success(Ok(summary), "PULL")?;
    Ok(records)
}

/// `step`, or an error if it does not finish within `timeout`.
async fn within<T>(
    timeout: Duration,
    what: &str,
    step: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::time::timeout(timeout, step)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {timeout:?} while {what}")))
}

/// `Ok` for a SUCCESS; the server's code and message for a FAILURE.
fn expect_success(answer: CommunicationResult<Message>, what: &str) -> Result<(), String> {
    match answer.map_err(|e| format!("{what}: {e}"))? {
        Message::Success(_) => Ok(()),
        Message::Failure(failure) => {
            let text = |key: &str| match failure.metadata().get(key) {
                Some(Value::String(s)) => s.clone(),
                _ => "?".to_owned(),
            };
            Err(format!(
                "{what} failed: {} {}",
                text("code"),
                text("message")
            ))
        }
        Message::Ignored => Err(format!("{what} ignored")),
        other => Err(format!("{what}: unexpected answer {other:?}")),
    }
}
