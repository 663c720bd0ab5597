//! `Connector`: how the sink opens (and, after a lost connection, reopens)
//! its PostgreSQL connection.

use std::sync::Arc;
use std::time::Duration;

use postgres::{Client, Config, NoTls};

use crate::error::PostgresError;

/// Used when the configuration sets no connect timeout, so that an
/// unreachable host cannot hang the flusher thread indefinitely.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

type ConnectFn = dyn Fn() -> Result<Client, postgres::Error> + Send + Sync;

/// Opens connections for a sink. Kept (rather than one `Client`) because a
/// lost connection is reopened lazily on the next write.
#[derive(Clone)]
pub struct Connector(Arc<ConnectFn>);

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Connector(..)")
    }
}

impl Connector {
    /// Connects without TLS with `config` (10 s connect timeout unless set).
    pub fn no_tls(mut config: Config) -> Self {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        Self(Arc::new(move || config.connect(NoTls)))
    }

    /// Parses a `postgres://user@host:port/db` URL or a `key=value`
    /// connection string, and connects without TLS.
    pub fn from_url(url: &str) -> Result<Self, PostgresError> {
        let config: Config = url.parse().map_err(|e| {
            PostgresError::Invalid(format!("bad PostgreSQL connection string: {e}"))
        })?;
        Ok(Self::no_tls(config))
    }

    /// Any way of connecting, e.g. with a TLS connector:
    /// `Connector::custom(move || config.connect(tls.clone()))`.
    pub fn custom(
        connect: impl Fn() -> Result<Client, postgres::Error> + Send + Sync + 'static,
    ) -> Self {
        Self(Arc::new(connect))
    }

    /// Opens a new connection.
    pub fn connect(&self) -> Result<Client, PostgresError> {
        (self.0)().map_err(PostgresError::Connection)
    }
}
