//! `Neo4jError`: every way a Bolt write can fail, classified for batch-core.

use batch_core::{ConfigError, ErrorClass, SinkError};

/// An error of the Neo4j backend. [`SinkError::class`] tells batch-core
/// whether to retry it (lost connection, `Neo.TransientError.*`), to replay
/// it (answer to a COMMIT lost), to fail the batch at once (security), or
/// to isolate the bad rows (everything else). Messages name the server's
/// `host:port`, never the password.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Neo4jError {
    /// The connection could not be opened, or was lost before the COMMIT
    /// was sent: the server rolls back a transaction that never got its
    /// COMMIT, so nothing was written.
    #[error("connection to {addr} failed: {message}")]
    Connection {
        /// `host:port` of the server.
        addr: String,
        /// What went wrong.
        message: String,
    },
    /// The COMMIT (or an auto-commit statement) was sent and its answer
    /// never came (timeout, lost connection): the transaction may have been
    /// committed. batch-core replays the batch, which counts rows the lost
    /// attempt stored as written.
    #[error(
        "connection to {addr} lost after the commit was sent, so it may have been applied: {message}"
    )]
    OutcomeUnknown {
        /// `host:port` of the server.
        addr: String,
        /// What went wrong.
        message: String,
    },
    /// The TLS connection could not be made: the server's certificate was
    /// refused (unknown issuer, wrong host name, expired), the server
    /// speaks TLS to a `bolt://` URI or plaintext Bolt to a `bolt+s://`
    /// one. No retry can fix it: fatal.
    #[error("TLS connection to {addr} failed: {message}")]
    Tls {
        /// `host:port` of the server.
        addr: String,
        /// Why, with a hint.
        message: String,
    },
    /// The server answered with a FAILURE message.
    #[error("server {addr} answered {code}: {message}")]
    Server {
        /// `host:port` of the server.
        addr: String,
        /// The Neo4j status code, e.g. `Neo.TransientError.Transaction.DeadlockDetected`.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The server refused the login (HELLO): a wrong user or password, an
    /// expired credential, a locked user. Named with the user and the
    /// server, never the password; classified by its code, so
    /// `Neo.ClientError.Security.*` is fatal (one connection, no retry).
    #[error("server {addr} refused the login of user {user:?}: {code}: {message}")]
    LoginRefused {
        /// `host:port` of the server.
        addr: String,
        /// The user the login was for.
        user: String,
        /// The Neo4j status code, e.g. `Neo.ClientError.Security.Unauthorized`.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The server answered something the Bolt state machine did not expect.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A relationship whose start or end node does not exist: nothing was
    /// created for it. The other rows of its batch are unaffected.
    #[error(
        "endpoint not found: no ({from_label} {{id: {from_id:?}}}) or no ({to_label} {{id: {to_id:?}}}) for relationship {rel_type}"
    )]
    EndpointNotFound {
        /// The relationship type.
        rel_type: String,
        /// Label of the start node.
        from_label: String,
        /// Id of the start node.
        from_id: String,
        /// Label of the end node.
        to_label: String,
        /// Id of the end node.
        to_id: String,
    },
    /// The item was refused before any round trip: a relationship type or
    /// label that is not an identifier, an empty id, a reserved property
    /// key, a property value Neo4j cannot store.
    #[error("invalid item: {0}")]
    Invalid(String),
    /// A configuration value that cannot be used (URI, labels, ENV).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The batcher could not start: its durable buffer cannot be opened
    /// (the message names the directory and the cause), or a thread of it
    /// cannot be started. batch-core's [`StartError`](batch_core::StartError),
    /// shared (the error is `Clone`).
    #[error(transparent)]
    Start(std::sync::Arc<batch_core::StartError>),
}

impl From<batch_core::StartError> for Neo4jError {
    fn from(e: batch_core::StartError) -> Self {
        Self::Start(std::sync::Arc::new(e))
    }
}

impl Neo4jError {
    /// The Neo4j status code, for server errors.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Server { code, .. } | Self::LoginRefused { code, .. } => Some(code),
            _ => None,
        }
    }
}

impl From<ConfigError> for Neo4jError {
    fn from(e: ConfigError) -> Self {
        Self::Config(e.to_string())
    }
}

/// Status codes that mean "try again" although they are not
/// `Neo.TransientError.*`: a database that does not exist yet is what a
/// server answers in the seconds after a (re)start, before the database is
/// open. Retries are bounded by batch-core's retry policy, so a database
/// that really does not exist still ends as a failure.
const RETRYABLE_CODES: &[&str] = &["Neo.ClientError.Database.DatabaseNotFound"];

/// Status codes no retry and no smaller batch can fix: bad credentials,
/// missing permissions. The connection layer already reconnected once
/// (a restarting server revokes sessions with such a code), so what is
/// left is the server's real answer.
pub(crate) const FATAL_PREFIX: &str = "Neo.ClientError.Security.";

/// Status codes of a statement no item is at fault for: every batch gets
/// the same answer, so it is [`ErrorClass::Fatal`] (one request, then
/// every item handed back), not bisected into 2n-1 requests that each
/// fail the same way. A syntax error (a statement this library built
/// wrong), a procedure the server lacks, a database that is read-only.
const FATAL_CODES: &[&str] = &[
    "Neo.ClientError.Statement.SyntaxError",
    "Neo.ClientError.Procedure.ProcedureNotFound",
    "Neo.ClientError.General.ForbiddenOnReadOnlyDatabase",
];

/// Schema errors: [`ErrorClass::Fatal`] (an index or constraint the
/// statement needs is missing or conflicting), except
/// [`ITEM_SCHEMA_CODES`].
const SCHEMA_PREFIX: &str = "Neo.ClientError.Schema.";

/// The schema errors one item causes: a value a uniqueness constraint
/// already holds, a property key Neo4j refuses (empty, or with a NUL;
/// `add` refuses those before). [`ErrorClass::Permanent`], so bisection
/// isolates the item and the rest of its batch is written.
const ITEM_SCHEMA_CODES: &[&str] = &[
    "Neo.ClientError.Schema.ConstraintValidationFailed",
    "Neo.ClientError.Schema.TokenNameError",
];

/// What Neo4j 5 (5.26 tested) answers when a transaction needs more
/// memory than it may use. The same code also means the memory pool of
/// all transactions (`db.memory.transaction.total.max`) is exhausted for
/// now, which a retry may cure; the message tells them apart by naming
/// the setting reached (see [`TX_MEMORY_LIMIT`]).
const MEMORY_POOL_CODE: &str = "Neo.TransientError.General.MemoryPoolOutOfMemoryError";

/// In a [`MEMORY_POOL_CODE`] message: the limit of one transaction
/// (`db.memory.transaction.max` in Neo4j 5, `dbms.memory.transaction.max`
/// in 4.x) was reached, e.g. "The allocation of an extra 2.0 MiB would use
/// more than the limit 32.0 MiB. Currently using 32.0 MiB.
/// db.memory.transaction.max threshold reached". The same batch fails the
/// same way however often it is retried, and its halves use about half
/// the memory: [`ErrorClass::TooLarge`].
const TX_MEMORY_LIMIT: &str = "memory.transaction.max threshold";

/// Status codes that say the transaction was too large whatever its
/// message: Neo4j's documented code for the limit of one transaction.
const TOO_LARGE_CODES: &[&str] = &["Neo.TransientError.General.TransactionMemoryLimit"];

/// The code of a transaction the server rolled back because it waited for
/// a lock held by another that waited for one of its own.
const DEADLOCK_CODE: &str = "Neo.TransientError.Transaction.DeadlockDetected";

/// The class of a FAILURE with `code` and `message`.
fn server_class(code: &str, message: &str) -> ErrorClass {
    let too_large = TOO_LARGE_CODES.contains(&code)
        || (code == MEMORY_POOL_CODE && message.contains(TX_MEMORY_LIMIT));
    if too_large {
        ErrorClass::TooLarge
    } else if code.starts_with("Neo.TransientError.") || RETRYABLE_CODES.contains(&code) {
        ErrorClass::Transient
    } else if code.starts_with(FATAL_PREFIX)
        || FATAL_CODES.contains(&code)
        // The server takes no writes (a follower, a read replica): no
        // item caused it, so no bisection. A `neo4j` URI has already
        // refreshed its routing table and turned a repeat into a
        // (transient) connection error; a `bolt` URI names this one
        // server, so the answer stands.
        || crate::routing::means_not_the_writer(code)
        || (code.starts_with(SCHEMA_PREFIX) && !ITEM_SCHEMA_CODES.contains(&code))
    {
        ErrorClass::Fatal
    } else {
        ErrorClass::Permanent
    }
}

impl SinkError for Neo4jError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Connection { .. } => ErrorClass::Transient,
            Self::OutcomeUnknown { .. } => ErrorClass::OutcomeUnknown,
            Self::Server { code, message, .. } | Self::LoginRefused { code, message, .. } => {
                server_class(code, message)
            }
            Self::Tls { .. } => ErrorClass::Fatal,
            _ => ErrorClass::Permanent,
        }
    }

    /// `Neo.TransientError.Transaction.DeadlockDetected`: counted in
    /// `total_deadlocks`, and an adaptive in-flight limit backs off.
    fn is_deadlock(&self) -> bool {
        self.code() == Some(DEADLOCK_CODE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: &str) -> Neo4jError {
        Neo4jError::Server {
            addr: "127.0.0.1:7687".into(),
            code: code.into(),
            message: String::new(),
        }
    }

    #[test]
    fn transient_codes_are_retried_and_others_are_not() {
        assert!(server("Neo.TransientError.Transaction.DeadlockDetected").is_retriable());
        assert!(server("Neo.ClientError.Database.DatabaseNotFound").is_retriable());
        assert!(!server("Neo.ClientError.Statement.SyntaxError").is_retriable());
        assert!(!server("Neo.DatabaseError.General.UnknownError").is_retriable());
        assert!(
            Neo4jError::Connection {
                addr: "x".into(),
                message: "reset".into()
            }
            .is_retriable()
        );
        assert!(!Neo4jError::Protocol("?".into()).is_retriable());
    }

    fn server_said(code: &str, message: &str) -> Neo4jError {
        Neo4jError::Server {
            addr: "127.0.0.1:7687".into(),
            code: code.into(),
            message: message.into(),
        }
    }

    #[test]
    fn the_limit_of_one_transaction_is_too_large_and_the_pool_of_all_is_transient() {
        // The messages Neo4j 5.26 sends (the first seen in
        // tests/status_codes.rs, the second the same text for the pool).
        let one = server_said(
            MEMORY_POOL_CODE,
            "The allocation of an extra 2.0 MiB would use more than the limit 32.0 MiB. \
             Currently using 32.0 MiB. db.memory.transaction.max threshold reached",
        );
        assert_eq!(one.class(), ErrorClass::TooLarge);
        let all = server_said(
            MEMORY_POOL_CODE,
            "The allocation of an extra 2.0 MiB would use more than the limit 1.0 GiB. \
             Currently using 1.0 GiB. db.memory.transaction.total.max threshold reached",
        );
        assert_eq!(all.class(), ErrorClass::Transient);
        let documented = server_said("Neo.TransientError.General.TransactionMemoryLimit", "");
        assert_eq!(documented.class(), ErrorClass::TooLarge);
    }

    #[test]
    fn statement_and_schema_errors_are_fatal_item_ones_permanent_deadlocks_named() {
        for code in [
            "Neo.ClientError.Statement.SyntaxError",
            "Neo.ClientError.Procedure.ProcedureNotFound",
            "Neo.ClientError.Schema.IndexNotFound",
            "Neo.ClientError.General.ForbiddenOnReadOnlyDatabase",
        ] {
            assert_eq!(server(code).class(), ErrorClass::Fatal, "{code}");
        }
        for code in [
            "Neo.ClientError.Schema.ConstraintValidationFailed",
            "Neo.ClientError.Schema.TokenNameError",
            "Neo.ClientError.Statement.TypeError",
            "Neo.ClientError.Statement.SemanticError",
        ] {
            assert_eq!(server(code).class(), ErrorClass::Permanent, "{code}");
        }
        assert!(server(DEADLOCK_CODE).is_deadlock());
        assert!(server(DEADLOCK_CODE).is_retriable());
        assert!(!server("Neo.TransientError.Transaction.LockClientStopped").is_deadlock());
    }

    #[test]
    fn security_failures_are_fatal_and_a_lost_commit_answer_is_unknown() {
        for code in [
            "Neo.ClientError.Security.Unauthorized",
            "Neo.ClientError.Security.Forbidden",
        ] {
            assert_eq!(server(code).class(), ErrorClass::Fatal, "{code}");
        }
        let lost = Neo4jError::OutcomeUnknown {
            addr: "127.0.0.1:7687".into(),
            message: "no answer within 1s".into(),
        };
        assert_eq!(lost.class(), ErrorClass::OutcomeUnknown);
        assert!(lost.to_string().contains("127.0.0.1:7687"), "{lost}");
    }

    /// Issue 31: a server that takes no writes, reached through a `bolt`
    /// URI, fails the batch once instead of bisecting it item by item.
    #[test]
    fn a_server_that_takes_no_writes_is_fatal() {
        for code in [
            "Neo.ClientError.Cluster.NotALeader",
            "Neo.ClientError.General.ForbiddenOnReadOnlyDatabase",
        ] {
            assert_eq!(server(code).class(), ErrorClass::Fatal, "{code}");
        }
    }

    #[test]
    fn tls_failures_are_fatal_and_named() {
        let e = Neo4jError::Tls {
            addr: "db.example:7687".into(),
            message: "unknown issuer".into(),
        };
        assert_eq!(e.class(), ErrorClass::Fatal);
        assert_eq!(
            e.to_string(),
            "TLS connection to db.example:7687 failed: unknown issuer"
        );
    }

    #[test]
    fn a_server_error_names_the_server_and_its_code() {
        let e = Neo4jError::Server {
            addr: "db.example:7687".into(),
            code: "Neo.ClientError.Security.Unauthorized".into(),
            message: "Authentication failed".into(),
        };
        assert_eq!(
            e.to_string(),
            "server db.example:7687 answered Neo.ClientError.Security.Unauthorized: Authentication failed"
        );
    }
}
