//! Routing for the `neo4j` schemes: the routing table (Bolt's `ROUTE`),
//! which server takes the writes, and when to ask again.
//!
//! bolt-client 0.11 sends `ROUTE` itself ([`Client::route`](bolt_client::Client::route), Bolt 4.3 and
//! 4.4), so the project needs no Bolt framing of its own: this module keeps
//! the table and reads the server's answer; `connection` decides when to
//! fetch it (no table, TTL over, the writer refused a write or was lost).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bolt_client::bolt_proto::{Message, Value};
use bolt_client::error::CommunicationError;
use bolt_client::{Metadata, RoutingContext};

use crate::config::Neo4jConfig;
use crate::connection::BoltClient;

/// Codes with which a server says it takes no writes for the database (any
/// more): a follower, or a leader that stepped down. Nothing was written;
/// the routing table is fetched again and the batch sent to the new
/// writer.
pub(crate) fn means_not_the_writer(code: &str) -> bool {
    matches!(
        code,
        "Neo.ClientError.Cluster.NotALeader"
            | "Neo.ClientError.General.ForbiddenOnReadOnlyDatabase"
    )
}

/// A routing table as the server sent it in answer to `ROUTE`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RoutingTable {
    /// `host:port` of the servers that take writes (role `WRITE`; the
    /// leader of the database, one at most). Writes go to the first.
    pub writers: Vec<String>,
    /// `host:port` of the servers that serve reads (role `READ`). Not used
    /// by this crate: its reader reads from the writer too.
    pub readers: Vec<String>,
    /// `host:port` of the servers that answer `ROUTE` (role `ROUTE`),
    /// asked first at the next refresh.
    pub routers: Vec<String>,
    /// How long the table may be used (the server's `ttl`).
    pub ttl: Duration,
}

impl RoutingTable {
    /// The table in a SUCCESS's metadata:
    /// `{rt: {ttl: 300, db: "neo4j", servers: [{role: "WRITE", addresses: [...]}, ...]}}`.
    pub(crate) fn from_metadata(metadata: &HashMap<String, Value>) -> Result<Self, String> {
        let rt = match metadata.get("rt") {
            Some(Value::Map(rt)) => rt,
            other => return Err(format!("ROUTE answered without a routing table: {other:?}")),
        };
        let ttl = match rt.get("ttl") {
            Some(Value::Integer(ttl)) if *ttl >= 0 => Duration::from_secs(*ttl as u64),
            other => return Err(format!("routing table without a valid ttl: {other:?}")),
        };
        let servers = match rt.get("servers") {
            Some(Value::List(servers)) => servers,
            other => return Err(format!("routing table without servers: {other:?}")),
        };
        let mut table = Self {
            writers: Vec::new(),
            readers: Vec::new(),
            routers: Vec::new(),
            ttl,
        };
        for server in servers {
            let Value::Map(server) = server else {
                return Err(format!("routing table entry is not a map: {server:?}"));
            };
            let addresses = match server.get("addresses") {
                Some(Value::List(addresses)) => addresses
                    .iter()
                    .map(|a| match a {
                        Value::String(a) => Ok(a.clone()),
                        other => Err(format!("routing table address is not a string: {other:?}")),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                other => return Err(format!("routing table entry without addresses: {other:?}")),
            };
            match server.get("role") {
                Some(Value::String(role)) if role == "WRITE" => table.writers.extend(addresses),
                Some(Value::String(role)) if role == "READ" => table.readers.extend(addresses),
                Some(Value::String(role)) if role == "ROUTE" => table.routers.extend(addresses),
                // A role added by a later server version: not ours to use.
                Some(Value::String(role)) => {
                    tracing::debug!(%role, "routing table role ignored");
                }
                other => return Err(format!("routing table entry without a role: {other:?}")),
            }
        }
        Ok(table)
    }

    /// The table of a server too old for `ROUTE` (Bolt before 4.3): the
    /// server named in the URI does everything, for `ttl`.
    fn single(addr: &str, ttl: Duration) -> Self {
        Self {
            writers: vec![addr.to_owned()],
            readers: vec![addr.to_owned()],
            routers: vec![addr.to_owned()],
            ttl,
        }
    }
}

/// How long the single-server table of a server without `ROUTE` is kept
/// (Neo4j's default routing TTL).
const NO_ROUTE_TTL: Duration = Duration::from_secs(300);

/// The routing context of a `neo4j` URI, sent with HELLO and `ROUTE`: the
/// URI's query string and the `address` the URI named; `None` for a
/// `bolt` URI (no routing: HELLO then carries no `routing` field).
pub(crate) fn context(config: &Neo4jConfig) -> Option<HashMap<String, Value>> {
    let pairs = config.routing.as_ref()?;
    let mut context: HashMap<String, Value> = pairs
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect();
    context
        .entry("address".to_owned())
        .or_insert_with(|| Value::from(config.addr.as_str()));
    Some(context)
}

/// The routing state of one session: the URI's server, the routing
/// context, and the last table with the time it was fetched.
#[derive(Debug, Clone)]
pub(crate) struct Router {
    /// The settings of the URI's server (the first router asked).
    seed: Neo4jConfig,
    /// The URI's query string as `ROUTE` context, with `address`.
    context: HashMap<String, Value>,
    table: Option<(RoutingTable, Instant)>,
}

impl Router {
    /// A router for a `neo4j` URI; `None` for a `bolt` one.
    pub(crate) fn new(config: &Neo4jConfig) -> Option<Self> {
        Some(Self {
            seed: config.clone(),
            context: context(config)?,
            table: None,
        })
    }

    /// The settings for the writer of a table still within its TTL at
    /// `now`; `None` when there is no such table (fetch one).
    pub(crate) fn writer(&self, now: Instant) -> Option<Neo4jConfig> {
        let (table, fetched) = self.table.as_ref()?;
        if now.saturating_duration_since(*fetched) >= table.ttl {
            return None;
        }
        table.writers.first().map(|w| self.seed.at(w))
    }

    /// The last table fetched, expired or not.
    pub(crate) fn table(&self) -> Option<&RoutingTable> {
        self.table.as_ref().map(|(table, _)| table)
    }

    /// Forgets the table: the next connection fetches a new one.
    pub(crate) fn forget(&mut self) {
        self.table = None;
    }

    /// Keeps `table`, fetched at `now`.
    pub(crate) fn install(&mut self, table: RoutingTable, now: Instant) {
        self.table = Some((table, now));
    }

    /// The servers to ask for a table, in order: the routers of the last
    /// table, then the URI's server (as Neo4j's drivers fall back to it
    /// when every known router is gone).
    pub(crate) fn routers(&self) -> Vec<Neo4jConfig> {
        let mut addrs: Vec<&str> = self
            .table()
            .map(|t| t.routers.iter().map(String::as_str).collect())
            .unwrap_or_default();
        if !addrs.contains(&self.seed.addr.as_str()) {
            addrs.push(&self.seed.addr);
        }
        addrs.into_iter().map(|a| self.seed.at(a)).collect()
    }

    /// `ROUTE` on `client` (authenticated, idle) for the configured
    /// database. Bolt before 4.3 has no `ROUTE`: the table is then the
    /// router itself (logged as a warning).
    pub(crate) async fn fetch(
        &self,
        client: &mut BoltClient,
        router: &str,
    ) -> Result<Result<RoutingTable, (String, String)>, FetchError> {
        let db = self
            .seed
            .database
            .as_deref()
            .map_or(Value::Null, Value::from);
        let metadata = Metadata::from(HashMap::from([("db", db)]));
        let context = RoutingContext::from(self.context.clone());
        match client.route(context, Vec::new(), Some(metadata)).await {
            Ok(Message::Success(success)) => RoutingTable::from_metadata(success.metadata())
                .map(Ok)
                .map_err(FetchError::Protocol),
            Ok(Message::Failure(failure)) => {
                let text = |key: &str| match failure.metadata().get(key) {
                    Some(Value::String(s)) => s.clone(),
                    other => format!("{other:?}"),
                };
                Ok(Err((text("code"), text("message"))))
            }
            Ok(other) => Err(FetchError::Protocol(format!(
                "unexpected answer to ROUTE: {other:?}"
            ))),
            Err(CommunicationError::UnsupportedOperation(version)) => {
                tracing::warn!(
                    %router,
                    version = format!("{}.{}", version & 0xff, version >> 8 & 0xff),
                    "Bolt before 4.3 has no ROUTE: writing to the URI's server"
                );
                Ok(Ok(RoutingTable::single(router, NO_ROUTE_TTL)))
            }
            Err(e @ (CommunicationError::IoError(_) | CommunicationError::ProtocolError(_))) => {
                Err(FetchError::Lost(e.to_string()))
            }
            Err(e) => Err(FetchError::Protocol(e.to_string())),
        }
    }
}

/// Why `ROUTE` got no answer to use.
#[derive(Debug)]
pub(crate) enum FetchError {
    /// The connection was lost.
    Lost(String),
    /// The answer was not a routing table.
    Protocol(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers(entries: &[(&str, &[&str])]) -> Value {
        Value::List(
            entries
                .iter()
                .map(|(role, addresses)| {
                    Value::Map(HashMap::from([
                        ("role".to_owned(), Value::from(*role)),
                        (
                            "addresses".to_owned(),
                            Value::List(addresses.iter().map(|a| Value::from(*a)).collect()),
                        ),
                    ]))
                })
                .collect(),
        )
    }

    fn answer(ttl: i64, servers: Value) -> HashMap<String, Value> {
        HashMap::from([(
            "rt".to_owned(),
            Value::Map(HashMap::from([
                ("ttl".to_owned(), Value::from(ttl)),
                ("db".to_owned(), Value::from("neo4j")),
                ("servers".to_owned(), servers),
            ])),
        )])
    }

    #[test]
    fn a_route_answer_becomes_the_table() {
        let table = RoutingTable::from_metadata(&answer(
            10,
            servers(&[
                ("WRITE", &["a:7687"]),
                ("READ", &["b:7687", "c:7687"]),
                ("ROUTE", &["a:7687", "b:7687"]),
                ("SOMETHING_NEW", &["d:7687"]),
            ]),
        ))
        .unwrap();
        assert_eq!(table.writers, ["a:7687"]);
        assert_eq!(table.readers, ["b:7687", "c:7687"]);
        assert_eq!(table.routers, ["a:7687", "b:7687"]);
        assert_eq!(table.ttl, Duration::from_secs(10));
        let err = RoutingTable::from_metadata(&answer(-1, servers(&[]))).unwrap_err();
        assert!(err.contains("ttl"), "{err}");
        let err = RoutingTable::from_metadata(&HashMap::new()).unwrap_err();
        assert!(err.contains("without a routing table"), "{err}");
    }

    #[test]
    fn the_writer_is_used_within_the_ttl_only_and_routers_end_with_the_uri() {
        let config = Neo4jConfig::new("neo4j://seed:1?region=eu", "u", "p").unwrap();
        let mut router = Router::new(&config).unwrap();
        assert_eq!(router.context["address"], Value::from("seed:1"));
        assert_eq!(router.context["region"], Value::from("eu"));
        let t0 = Instant::now();
        assert!(router.writer(t0).is_none(), "no table yet");
        let table = RoutingTable::from_metadata(&answer(
            10,
            servers(&[("WRITE", &["[::1]:2"]), ("ROUTE", &["r:3"])]),
        ))
        .unwrap();
        router.install(table, t0);
        let writer = router.writer(t0 + Duration::from_secs(9)).unwrap();
        assert_eq!(
            (writer.addr.as_str(), writer.host.as_str()),
            ("[::1]:2", "::1")
        );
        assert!(
            router.writer(t0 + Duration::from_secs(10)).is_none(),
            "TTL over"
        );
        let asked: Vec<String> = router.routers().into_iter().map(|c| c.addr).collect();
        assert_eq!(asked, ["r:3", "seed:1"]);
        router.forget();
        assert!(router.writer(t0).is_none());
        assert!(Router::new(&Neo4jConfig::new("bolt://seed:1", "u", "p").unwrap()).is_none());
    }

    #[test]
    fn not_a_leader_and_read_only_mean_not_the_writer() {
        assert!(means_not_the_writer("Neo.ClientError.Cluster.NotALeader"));
        assert!(means_not_the_writer(
            "Neo.ClientError.General.ForbiddenOnReadOnlyDatabase"
        ));
        assert!(!means_not_the_writer(
            "Neo.TransientError.Transaction.DeadlockDetected"
        ));
    }
}
