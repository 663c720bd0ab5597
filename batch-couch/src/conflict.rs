//! `ConflictPolicy`: what a `conflict` answer of `_bulk_docs` means.

/// What to do with a document whose id already exists with another
/// revision (`_bulk_docs` answers `conflict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ConflictPolicy {
    /// Keep the stored document and count the conflict in
    /// `total_conflicts` as an idempotent success (UDS3 v2.2's behaviour).
    #[default]
    Skip,
    /// Replace the stored document: fetch the current revisions of the
    /// conflicting ids with one `_all_docs` request, resend them with
    /// `_rev`, and repeat while other writers keep winning, up to
    /// [`CouchOptions::overwrite_attempts`](crate::CouchOptions) times.
    /// Replaced documents count as written.
    Overwrite,
    /// Hand the document back to the caller with
    /// [`CouchError::Conflict`](crate::CouchError::Conflict).
    Fail,
}
