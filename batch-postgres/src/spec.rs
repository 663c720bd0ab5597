//! `TableSpec`: which table, which columns, which conflict key, and what a
//! conflict does. Everything is validated when the spec is built.

use std::collections::HashSet;

use crate::error::PostgresError;
use crate::ident::{Ident, TableName};

/// The name of the row-number column the batch statements add to their
/// source rows; refused as a user column so it cannot clash.
pub(crate) const ORD_COLUMN: &str = "__uds3_batch_ord";

/// What happens when a row's conflict key already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnConflict {
    /// `ON CONFLICT (key) DO UPDATE SET` every non-key column not listed in
    /// [`TableSpec::keep_on_update`]. Within one batch the last row of a key
    /// wins, as sequential execution would give. A row identical to the
    /// stored one is not rewritten and counts as a conflict (if the last row
    /// of a repeated key equals the stored row, all rows of that key count
    /// as conflicts: the final state is the sequential one). The default.
    #[default]
    Update,
    /// `ON CONFLICT (key) DO NOTHING`: an existing key counts as a conflict.
    /// Within one batch the first row of a key wins, as sequential
    /// execution would give; later ones count as conflicts.
    DoNothing,
}

/// A validated description of the target table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub(crate) table: TableName,
    pub(crate) columns: Vec<Ident>,
    pub(crate) key: Vec<usize>,
    pub(crate) update: Vec<usize>,
    pub(crate) on_conflict: OnConflict,
}

impl TableSpec {
    /// A spec writing `columns` of `table`, upserting on `conflict_key`
    /// (which must have a unique index or constraint on the server).
    ///
    /// Fails on an invalid identifier, a duplicate column, an empty column
    /// list or key, or a key column not among `columns`. Rows whose key
    /// holds a NULL are handed back as invalid without a round trip (NULL
    /// never conflicts, so "last one wins" could not be honoured).
    pub fn new<C, K>(table: TableName, columns: C, conflict_key: K) -> Result<Self, PostgresError>
    where
        C: IntoIterator,
        C::Item: Into<String>,
        K: IntoIterator,
        K::Item: Into<String>,
    {
        let columns = columns
            .into_iter()
            .map(Ident::new)
            .collect::<Result<Vec<_>, _>>()?;
        if columns.is_empty() {
            return Err(PostgresError::Invalid(
                "a table spec needs at least one column".into(),
            ));
        }
        let mut seen = HashSet::new();
        for column in &columns {
            if column.as_str() == ORD_COLUMN {
                return Err(PostgresError::Invalid(format!(
                    "column name {ORD_COLUMN} is reserved by batch-postgres"
                )));
            }
            if !seen.insert(column.as_str()) {
                return Err(PostgresError::Invalid(format!(
                    "column {} is listed twice",
                    column.quoted()
                )));
            }
        }
        let key = Self::indices(&columns, conflict_key, "conflict key")?;
        if key.is_empty() {
            return Err(PostgresError::Invalid(
                "the conflict key needs at least one column".into(),
            ));
        }
        let update = (0..columns.len()).filter(|i| !key.contains(i)).collect();
        Ok(Self {
            table,
            columns,
            key,
            update,
            on_conflict: OnConflict::Update,
        })
    }

    /// Columns left unchanged when an existing row is updated (UDS3 keeps
    /// `created_at`). They are still written on insert.
    pub fn keep_on_update<K>(mut self, columns: K) -> Result<Self, PostgresError>
    where
        K: IntoIterator,
        K::Item: Into<String>,
    {
        let keep = Self::indices(&self.columns, columns, "keep_on_update")?;
        self.update.retain(|i| !keep.contains(i));
        Ok(self)
    }

    /// Sets what a conflict does (default [`OnConflict::Update`]).
    #[must_use]
    pub fn on_conflict(mut self, on_conflict: OnConflict) -> Self {
        self.on_conflict = on_conflict;
        self
    }

    /// The target table.
    pub fn table(&self) -> &TableName {
        &self.table
    }

    /// The columns every row provides, in order.
    pub fn columns(&self) -> &[Ident] {
        &self.columns
    }

    /// The conflict key's columns.
    pub fn conflict_key(&self) -> impl Iterator<Item = &Ident> {
        self.key.iter().map(|&i| &self.columns[i])
    }

    /// What a conflict does.
    pub fn conflict_action(&self) -> OnConflict {
        self.on_conflict
    }

    /// `true` when a conflict leads to an update (there is something to set).
    pub(crate) fn updates(&self) -> bool {
        self.on_conflict == OnConflict::Update && !self.update.is_empty()
    }

    fn indices<K>(columns: &[Ident], names: K, what: &str) -> Result<Vec<usize>, PostgresError>
    where
        K: IntoIterator,
        K::Item: Into<String>,
    {
        let mut out = Vec::new();
        for name in names {
            let name = name.into();
            let index = columns
                .iter()
                .position(|c| c.as_str() == name)
                .ok_or_else(|| {
                    PostgresError::Invalid(format!(
                        "{what} column {name:?} is not among the columns"
                    ))
                })?;
            if !out.contains(&index) {
                out.push(index);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> TableName {
        TableName::new("t").expect("valid")
    }

    #[test]
    fn key_must_be_among_columns_and_columns_unique() {
        assert!(TableSpec::new(table(), ["a", "b"], ["c"]).is_err());
        assert!(TableSpec::new(table(), ["a", "a"], ["a"]).is_err());
        assert!(TableSpec::new(table(), Vec::<String>::new(), ["a"]).is_err());
        assert!(TableSpec::new(table(), ["a"], Vec::<String>::new()).is_err());
        assert!(TableSpec::new(table(), ["a", ORD_COLUMN], ["a"]).is_err());
    }

    #[test]
    fn update_columns_exclude_key_and_kept_columns() {
        let spec = TableSpec::new(table(), ["id", "a", "created"], ["id"])
            .and_then(|s| s.keep_on_update(["created"]))
            .expect("valid");
        assert_eq!(spec.update, vec![1]);
        assert!(spec.updates());
        assert!(!spec.clone().on_conflict(OnConflict::DoNothing).updates());
    }
}
