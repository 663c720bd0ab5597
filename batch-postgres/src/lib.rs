//! batch-postgres: a uds3-batch backend (filled in by its own issue).
