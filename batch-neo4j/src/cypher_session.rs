//! `CypherSession`: one Cypher statement of the caller's own over the
//! crate's Bolt connection.
//!
//! For tools around the library (readiness and smoke checks of a test
//! server, a benchmark's baseline that sends the library's own statement
//! without the batcher): the same connection code as [`Neo4jSink`]
//! (handshake, TLS, routing, the `timeout` of [`Neo4jConfig`] on every
//! step), without a second Bolt client beside it.
//!
//! [`Neo4jSink`]: crate::Neo4jSink

use std::sync::Arc;

use crate::config::Neo4jConfig;
use crate::connection::{BoltSession, Statement};
use crate::cypher_value::{CypherParams, params_to_bolt};
use crate::error::Neo4jError;
use crate::property::{PropertyValue, from_bolt};

/// Records of one statement: each value as a [`PropertyValue`], `None`
/// for null and for values a property cannot hold (maps, nodes).
pub type CypherRows = Vec<Vec<Option<PropertyValue>>>;

/// An open, authenticated Bolt connection that runs statements it is
/// given, blocking (from any thread, inside a tokio runtime too). The
/// text is sent as is: never build it from untrusted input; pass values
/// as parameters.
#[derive(Debug)]
pub struct CypherSession {
    session: BoltSession,
}

impl CypherSession {
    /// Connects and authenticates (a wrong address or password fails
    /// here), with `config`'s database and timeout.
    pub fn connect(config: Neo4jConfig) -> Result<Self, Neo4jError> {
        Ok(Self {
            session: BoltSession::open(config, Arc::default())?,
        })
    }

    /// Runs one statement in an auto-commit transaction (RUN and PULL in
    /// one write) and returns its records.
    pub fn run(&mut self, cypher: &str, params: CypherParams) -> Result<CypherRows, Neo4jError> {
        let records = self.session.run(&Statement {
            cypher: cypher.to_owned(),
            params: params_to_bolt(params),
        })?;
        Ok(rows(&records))
    }

    /// Runs one statement in an explicit transaction exactly as the sink
    /// sends a batch: BEGIN, RUN and PULL in one write, then COMMIT, and
    /// returns its records. Like a batch's statements, the parameters are
    /// moved into the request: `params` is called again, to build them
    /// anew, only if the request must be sent once more on a new
    /// connection (the old one was spent or lost before the COMMIT).
    pub fn run_in_transaction(
        &mut self,
        cypher: &str,
        mut params: impl FnMut() -> CypherParams,
    ) -> Result<CypherRows, Neo4jError> {
        let mut results = self.session.run_in_transaction(|| {
            vec![Statement {
                cypher: cypher.to_owned(),
                params: params_to_bolt(params()),
            }]
        })?;
        Ok(results
            .pop()
            .map(|records| rows(&records))
            .unwrap_or_default())
    }
}

/// Records as [`CypherRows`].
fn rows(records: &[bolt_client::bolt_proto::message::Record]) -> CypherRows {
    records
        .iter()
        .map(|r| r.fields().iter().map(from_bolt).collect())
        .collect()
}
