//! `WriteMode`: `/add` (UDS3 v2.2) or `/upsert` (idempotent re-runs).

/// Which endpoint records are written to, and what an id that is already
/// there means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// `/add`, UDS3 v2.2's behaviour. The server silently ignores ids that
    /// already exist, so the sink asks which ids exist first and counts
    /// them as conflicts (`total_conflicts`), not as written. A duplicate
    /// id inside one batch keeps its first record; later ones are conflicts.
    #[default]
    Add,
    /// `/upsert`: existing records are replaced (Chroma merges metadata
    /// keys: keys absent from the new record keep their old values). A
    /// duplicate id inside one batch keeps its last record; earlier ones
    /// are counted as conflicts (superseded, never sent).
    Upsert,
}

impl WriteMode {
    /// The endpoint suffix, `/add` or `/upsert`.
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            Self::Add => "/add",
            Self::Upsert => "/upsert",
        }
    }
}
