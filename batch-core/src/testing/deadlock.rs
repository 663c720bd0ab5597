//! A sink whose first requests are rolled back as deadlocked, for tests of
//! how deadlocks are retried and counted ([`SinkError::is_deadlock`]).

use crate::{ErrorClass, ItemOutcome, Sink, SinkError};

/// A transaction the server rolled back as deadlocked: transient, and a
/// sign of contention.
#[derive(Debug, thiserror::Error)]
#[error("deadlock detected (rolled back)")]
pub struct Deadlock;

impl SinkError for Deadlock {
    fn class(&self) -> ErrorClass {
        ErrorClass::Transient
    }
    fn is_deadlock(&self) -> bool {
        true
    }
}

/// Deadlocks on its first `deadlocks` requests, then writes everything.
#[derive(Debug)]
pub struct DeadlocksFirst {
    /// Requests still to be rolled back.
    pub deadlocks: u32,
}

impl Sink for DeadlocksFirst {
    type Item = u32;
    type Error = Deadlock;

    fn write_batch(&mut self, items: &[u32]) -> Result<Vec<ItemOutcome<Deadlock>>, Deadlock> {
        if self.deadlocks > 0 {
            self.deadlocks -= 1;
            return Err(Deadlock);
        }
        Ok(items.iter().map(|_| ItemOutcome::Written).collect())
    }
}
