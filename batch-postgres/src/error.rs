//! `PostgresError`: every way a write can fail, classified for batch-core's
//! retry and fallback, with the server's SQLSTATE kept.

use batch_core::{ConfigError, ErrorClass, SinkError};

/// An error reported by the PostgreSQL server for a statement: SQLSTATE,
/// message and the fields that point at the offending value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerError {
    /// The five-character SQLSTATE, e.g. `23514` for a CHECK violation.
    pub sqlstate: String,
    /// The server's primary message.
    pub message: String,
    /// The server's detail line, often naming the failing row's values.
    pub detail: Option<String>,
    /// The constraint that was violated, if any.
    pub constraint: Option<String>,
    /// The column concerned, if the server named one.
    pub column: Option<String>,
    /// The caller's row the error belongs to (its conflict key), when the
    /// request carried that one row.
    pub item: Option<String>,
    /// The server as `host:port`, for errors refusing the connection
    /// (authentication, missing database).
    pub target: Option<String>,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.target, &self.item) {
            (Some(target), _) => write!(f, "PostgreSQL at {target} refused the connection: ")?,
            (None, Some(item)) => write!(f, "PostgreSQL refused the write of {item}: ")?,
            (None, None) => f.write_str("PostgreSQL refused the write: ")?,
        }
        write!(f, "SQLSTATE {}: {}", self.sqlstate, self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

/// What a request was doing when it failed: only a write can have been
/// applied without its answer arriving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Opening the connection (TCP, TLS, authentication).
    Connect,
    /// Preparing statements or reading the catalog: nothing written.
    Prepare,
    /// Writing a batch.
    Write,
    /// Reading rows (a batch reader): nothing written.
    Read,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Connect => "connecting",
            Self::Prepare => "preparing statements",
            Self::Write => "writing a batch",
            Self::Read => "reading rows",
        })
    }
}

/// Why a batch (or a row of it) was not written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// The server refused the statement or the connection. Transient for
    /// serialization failures, deadlocks, shutdowns and resource shortages;
    /// fatal for authentication, a missing database, table or column, or a
    /// missing privilege; permanent for data and constraint errors; "too
    /// large" for program limits.
    #[error("{0}")]
    Server(Box<ServerError>),
    /// The connection could not be opened or was lost. The sink reconnects
    /// on its next write. Retried; replayed when the write may have been
    /// applied (`outcome_unknown`).
    #[error("PostgreSQL connection to {target} failed while {phase}: {}", chain(.source))]
    Connection {
        /// The server as `host:port`.
        target: String,
        /// What the request was doing.
        phase: Phase,
        /// `true` when the write had been sent, so it may have been applied.
        outcome_unknown: bool,
        /// The driver's error.
        #[source]
        source: postgres::Error,
    },
    /// The server did not answer within [`Connector::timeout`](crate::Connector::timeout).
    /// The connection is dropped and reopened on the next write.
    #[error(
        "PostgreSQL at {target} gave no answer within {after:?} while {phase}{}",
        if *.outcome_unknown { " (the write may have been applied)" } else { "" }
    )]
    Timeout {
        /// The server as `host:port`.
        target: String,
        /// The deadline that passed.
        after: std::time::Duration,
        /// What the request was doing.
        phase: Phase,
        /// `true` when the write had been sent, so it may have been applied.
        outcome_unknown: bool,
    },
    /// The TLS handshake failed for a reason no retry cures: the server's
    /// certificate is not trusted or not valid for the host name, or the
    /// server does not accept TLS although `sslmode` requires it. Fatal.
    #[error("PostgreSQL at {target}: TLS refused: {reason}")]
    Tls {
        /// The server as `host:port`.
        target: String,
        /// Why, in words.
        reason: String,
    },
    /// A value could not be encoded for its column (wrong Rust type for the
    /// column's SQL type, ...): refused client-side.
    #[error("could not encode {} for PostgreSQL: {message}", .item.as_deref().unwrap_or("a row"))]
    Encode {
        /// The caller's row (its conflict key), when the request carried one row.
        item: Option<String>,
        /// The driver's message with its causes.
        message: String,
    },
    /// The table or its columns do not fit the inserter's definition.
    #[error("table definition problem: {0}")]
    Schema(String),
    /// A row or an identifier was refused before it reached the server.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// A batch setting (e.g. from ENV) is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A session's runtime or connecting thread could not be started.
    #[error("could not start a thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// The batcher could not start: its durable buffer cannot be opened
    /// (the message names the directory and the cause), or a thread of it
    /// cannot be started. batch-core's [`StartError`](batch_core::StartError),
    /// unchanged (in an `Arc`, so that this error stays small).
    #[error(transparent)]
    Start(std::sync::Arc<batch_core::StartError>),
}

impl From<batch_core::StartError> for PostgresError {
    fn from(e: batch_core::StartError) -> Self {
        Self::Start(std::sync::Arc::new(e))
    }
}

/// `error: cause: cause ...`, the whole source chain in one line (the
/// driver's own text is often just "db error" or "error connecting to
/// server", with the reason in a source).
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        next = cause.source();
    }
    text
}

impl PostgresError {
    /// The SQLSTATE of a server error, e.g. `Some("23505")`.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Self::Server(e) => Some(&e.sqlstate),
            _ => None,
        }
    }

    /// Classifies a driver error of a request that was `phase`. `target`
    /// names the server in connection errors.
    pub(crate) fn from_driver(error: postgres::Error, phase: Phase, target: &str) -> Self {
        Self::from_request(error, phase, target, false, false)
    }

    /// Classifies a driver error. `closed`: the client is unusable
    /// afterwards (then it is a connection loss whatever its text says);
    /// `sent`: the write had been sent, so a lost answer leaves its outcome
    /// unknown.
    pub(crate) fn from_request(
        error: postgres::Error,
        phase: Phase,
        target: &str,
        closed: bool,
        sent: bool,
    ) -> Self {
        if let Some(db) = error.as_db_error() {
            return Self::Server(Box::new(ServerError {
                sqlstate: db.code().code().to_owned(),
                message: db.message().to_owned(),
                detail: db.detail().map(str::to_owned),
                constraint: db.constraint().map(str::to_owned),
                column: db.column().map(str::to_owned),
                item: None,
                target: (phase == Phase::Connect).then(|| target.to_owned()),
            }));
        }
        if phase == Phase::Connect
            && let Some(reason) = tls_refusal(&error)
        {
            return Self::Tls {
                target: target.to_owned(),
                reason,
            };
        }
        if phase == Phase::Connect || closed || error.is_closed() || is_io(&error) {
            Self::Connection {
                target: target.to_owned(),
                phase,
                outcome_unknown: sent && phase == Phase::Write,
                source: error,
            }
        } else {
            Self::Encode {
                item: None,
                message: chain(&error),
            }
        }
    }

    /// Names the caller's row in an error that belongs to it.
    pub(crate) fn for_item(mut self, name: String) -> Self {
        match &mut self {
            Self::Server(e) if e.target.is_none() => e.item = Some(name),
            Self::Encode { item, .. } => *item = Some(name),
            _ => {}
        }
        self
    }
}

/// Why the TLS handshake was refused, if it was (not a lost socket).
fn tls_refusal(error: &postgres::Error) -> Option<String> {
    let mut next = std::error::Error::source(error);
    while let Some(cause) = next {
        #[cfg(feature = "tls")]
        if let Some(refused) = cause.downcast_ref::<crate::tls::HandshakeError>() {
            return Some(refused.reason.clone());
        }
        match cause.to_string().as_str() {
            "server does not support TLS" => {
                return Some(
                    "the server does not accept TLS connections, and sslmode requires TLS \
                     (sslmode=prefer or disable connect in plaintext)"
                        .to_owned(),
                );
            }
            "no hostname provided for TLS handshake" => {
                return Some("TLS needs a host name to check the certificate against: give host=, not only hostaddr=".to_owned());
            }
            _ => {}
        }
        next = cause.source();
    }
    None
}

/// Whether the driver error came from the socket (a reset, a broken pipe).
fn is_io(error: &postgres::Error) -> bool {
    let mut next = std::error::Error::source(error);
    while let Some(cause) = next {
        if cause.is::<std::io::Error>() {
            return true;
        }
        next = cause.source();
    }
    false
}

/// Whether a SQLSTATE names a condition that may pass if the same
/// statement is sent again: connection exceptions (08), serialization
/// failure, deadlock, lock timeout, admin/crash shutdown, cannot connect
/// now, and insufficient resources (53: too many connections, disk full,
/// out of memory). Conditions no item causes and no retry cures are fatal:
/// authentication (28), a missing database (3D000), schema (3F000), table
/// (42P01) or column (42703), a missing privilege (42501).
pub(crate) fn sqlstate_class(code: &str) -> ErrorClass {
    match code {
        "40001" | "40P01" | "55P03" | "57P01" | "57P02" | "57P03" => ErrorClass::Transient,
        _ if code.starts_with("08") || code.starts_with("53") => ErrorClass::Transient,
        // program_limit_exceeded / statement_too_complex: a smaller batch may pass.
        "54000" | "54001" => ErrorClass::TooLarge,
        "3D000" | "3F000" | "42P01" | "42703" | "42501" => ErrorClass::Fatal,
        _ if code.starts_with("28") => ErrorClass::Fatal,
        _ => ErrorClass::Permanent,
    }
}

impl SinkError for PostgresError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Server(e) => sqlstate_class(&e.sqlstate),
            Self::Connection {
                outcome_unknown, ..
            }
            | Self::Timeout {
                outcome_unknown, ..
            } => {
                if *outcome_unknown {
                    ErrorClass::OutcomeUnknown
                } else {
                    ErrorClass::Transient
                }
            }
            Self::Schema(_) | Self::Tls { .. } => ErrorClass::Fatal,
            Self::Encode { .. }
            | Self::Invalid(_)
            | Self::Config(_)
            | Self::Spawn(_)
            | Self::Start(_) => ErrorClass::Permanent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_are_classified_as_the_issue_asks() {
        for code in ["40001", "40P01", "57P01", "53300", "08006", "08001"] {
            assert_eq!(sqlstate_class(code), ErrorClass::Transient, "{code}");
        }
        for code in ["22021", "22P02", "23505", "23514"] {
            assert_eq!(sqlstate_class(code), ErrorClass::Permanent, "{code}");
        }
        for code in ["28P01", "28000", "3D000", "42P01", "42703", "42501"] {
            assert_eq!(sqlstate_class(code), ErrorClass::Fatal, "{code}");
        }
        assert_eq!(sqlstate_class("54000"), ErrorClass::TooLarge);
    }

    #[test]
    fn server_error_display_names_sqlstate_and_message() {
        let e = PostgresError::Server(Box::new(ServerError {
            sqlstate: "23514".into(),
            message: "new row violates check constraint \"c\"".into(),
            detail: Some("Failing row contains (x).".into()),
            constraint: Some("c".into()),
            column: None,
            item: Some("id=\"x\"".into()),
            target: None,
        }));
        let text = e.to_string();
        assert!(
            text.contains("23514")
                && text.contains("check constraint")
                && text.contains("id=\"x\""),
            "{text}"
        );
        assert_eq!(e.sqlstate(), Some("23514"));
        assert_eq!(e.class(), ErrorClass::Permanent);
    }
}
