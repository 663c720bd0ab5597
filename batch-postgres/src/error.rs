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
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SQLSTATE {}: {}", self.sqlstate, self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

/// Why a batch (or a row of it) was not written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// The server refused the statement. Transient for serialization
    /// failures, deadlocks, shutdowns and resource shortages; permanent for
    /// data and constraint errors; "too large" for program limits.
    #[error("PostgreSQL refused the write: {0}")]
    Server(ServerError),
    /// The connection could not be opened or was lost. The sink reconnects
    /// on its next write; retried as transient.
    #[error("PostgreSQL connection failed: {0}")]
    Connection(#[source] postgres::Error),
    /// A value could not be encoded for its column (wrong Rust type for the
    /// column's SQL type, a NULL conflict key, ...): refused client-side.
    #[error("could not encode a row for PostgreSQL: {0}")]
    Encode(#[source] postgres::Error),
    /// The table or its columns do not fit the inserter's definition.
    #[error("table definition problem: {0}")]
    Schema(String),
    /// A row or an identifier was refused before it reached the server.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// A batch setting (e.g. from ENV) is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The batcher's flusher thread could not be started.
    #[error("could not start the flusher thread: {0}")]
    Spawn(#[source] std::io::Error),
}

impl PostgresError {
    /// The SQLSTATE of a server error, e.g. `Some("23505")`.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Self::Server(e) => Some(&e.sqlstate),
            _ => None,
        }
    }

    /// Classifies a driver error. `connection_closed` tells whether the
    /// client is unusable afterwards (then the error is a connection loss
    /// whatever its text says).
    pub(crate) fn from_driver(error: postgres::Error, connection_closed: bool) -> Self {
        if let Some(db) = error.as_db_error() {
            return Self::Server(ServerError {
                sqlstate: db.code().code().to_owned(),
                message: db.message().to_owned(),
                detail: db.detail().map(str::to_owned),
                constraint: db.constraint().map(str::to_owned),
                column: db.column().map(str::to_owned),
            });
        }
        if connection_closed || error.is_closed() {
            Self::Connection(error)
        } else {
            Self::Encode(error)
        }
    }
}

/// Whether a SQLSTATE names a condition that may pass if the same
/// statement is sent again: connection exceptions (08), serialization
/// failure, deadlock, lock timeout, admin/crash shutdown, cannot connect
/// now, and insufficient resources (53: too many connections, disk full,
/// out of memory).
pub(crate) fn sqlstate_class(code: &str) -> ErrorClass {
    match code {
        "40001" | "40P01" | "55P03" | "57P01" | "57P02" | "57P03" => ErrorClass::Transient,
        _ if code.starts_with("08") || code.starts_with("53") => ErrorClass::Transient,
        // program_limit_exceeded / statement_too_complex: a smaller batch may pass.
        "54000" | "54001" => ErrorClass::TooLarge,
        _ => ErrorClass::Permanent,
    }
}

impl SinkError for PostgresError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Server(e) => sqlstate_class(&e.sqlstate),
            Self::Connection(_) => ErrorClass::Transient,
            Self::Encode(_)
            | Self::Schema(_)
            | Self::Invalid(_)
            | Self::Config(_)
            | Self::Spawn(_) => ErrorClass::Permanent,
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
        for code in ["22021", "22P02", "23505", "23514", "42P01", "42703"] {
            assert_eq!(sqlstate_class(code), ErrorClass::Permanent, "{code}");
        }
        assert_eq!(sqlstate_class("54000"), ErrorClass::TooLarge);
    }

    #[test]
    fn server_error_display_names_sqlstate_and_message() {
        let e = PostgresError::Server(ServerError {
            sqlstate: "23514".into(),
            message: "new row violates check constraint \"c\"".into(),
            detail: Some("Failing row contains (x).".into()),
            constraint: Some("c".into()),
            column: None,
        });
        let text = e.to_string();
        assert!(
            text.contains("23514") && text.contains("check constraint"),
            "{text}"
        );
        assert_eq!(e.sqlstate(), Some("23514"));
        assert_eq!(e.class(), ErrorClass::Permanent);
    }
}
