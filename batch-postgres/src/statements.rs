//! The SQL text of every write method, built only from quoted identifiers
//! and type names the server itself formatted.

use crate::spec::{ORD_COLUMN, OnConflict, TableSpec};

/// The temporary table the COPY method stages a batch in.
pub(crate) const STAGE_TABLE: &str = "\"uds3_batch_stage\"";

/// Alias of the target table inside the upsert (for the no-op guard).
const TARGET: &str = "\"uds3_target\"";

/// Each column's array type, as `format_type` spells it (`text[]`,
/// `timestamp with time zone[]`), whether the column is itself an array,
/// and whether a array type exists.
pub(crate) const COLUMN_TYPES: &str = "SELECT a.attname::text, format_type(t.typarray, NULL), \
     t.typarray <> 0, t.typcategory = 'A' \
     FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
     WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped";

fn column_list(spec: &TableSpec) -> String {
    join(spec.columns.iter().map(|c| c.quoted()))
}

fn join(parts: impl Iterator<Item = String>) -> String {
    parts.collect::<Vec<_>>().join(", ")
}

fn ord() -> String {
    format!("\"{ORD_COLUMN}\"")
}

/// `ON CONFLICT (...) DO UPDATE SET ... WHERE <changed>` or `DO NOTHING`.
/// The guard skips rows identical to the stored ones: they are not
/// rewritten (no dead tuple, no trigger) and count as conflicts.
fn conflict_clause(spec: &TableSpec) -> String {
    let key = join(spec.conflict_key().map(|c| c.quoted()));
    if !spec.updates() {
        return format!("ON CONFLICT ({key}) DO NOTHING");
    }
    let update = || spec.update.iter().map(|&i| spec.columns[i].quoted());
    let set = join(update().map(|c| format!("{c} = EXCLUDED.{c}")));
    let old = join(update().map(|c| format!("{TARGET}.{c}")));
    let new = join(update().map(|c| format!("EXCLUDED.{c}")));
    format!("ON CONFLICT ({key}) DO UPDATE SET {set} WHERE ROW({old}) IS DISTINCT FROM ROW({new})")
}

/// One statement writing every row of `source` (a query yielding the
/// spec's columns plus the 1-based row number `ORD_COLUMN`) and returning
/// the row numbers that were written.
///
/// Duplicate keys in one batch: the sink sends only the row sequential
/// execution would leave behind (last for updates, first for DO NOTHING)
/// and counts the others as conflicts. `DISTINCT ON` keeps the same row
/// here as a second guard, since ON CONFLICT cannot touch a row twice in
/// one statement.
pub(crate) fn upsert_from(spec: &TableSpec, source: &str) -> String {
    let key: Vec<String> = spec.conflict_key().map(|c| c.quoted()).collect();
    let ord = ord();
    let columns = column_list(spec);
    let direction = if spec.on_conflict == OnConflict::DoNothing || !spec.updates() {
        "ASC"
    } else {
        "DESC"
    };
    let reported = if direction == "DESC" { "src" } else { "pick" };
    let matches = key
        .iter()
        .map(|k| format!("{reported}.{k} = ins.{k}"))
        .collect::<Vec<_>>()
        .join(" AND ");
    format!(
        "WITH src AS ({source}), \
         pick AS (SELECT DISTINCT ON ({key}) * FROM src ORDER BY {key}, {ord} {direction}), \
         ins AS (INSERT INTO {table} AS {TARGET} ({columns}) SELECT {columns} FROM pick \
         {conflict} RETURNING {key}) \
         SELECT {reported}.{ord} FROM {reported} JOIN ins ON {matches}",
        key = key.join(", "),
        table = spec.table.quoted(),
        conflict = conflict_clause(spec),
    )
}

/// The `UNNEST` source: one array parameter per column, cast to the
/// column's array type.
pub(crate) fn unnest_source(spec: &TableSpec, array_types: &[String]) -> String {
    let arrays = join(
        array_types
            .iter()
            .enumerate()
            .map(|(i, ty)| format!("${}::{ty}", i + 1)),
    );
    format!(
        "SELECT * FROM UNNEST({arrays}) WITH ORDINALITY AS u({columns}, {ord})",
        columns = column_list(spec),
        ord = ord()
    )
}

/// Creates the per-connection staging table of the COPY method; emptied
/// at every commit or rollback.
pub(crate) fn create_stage(spec: &TableSpec) -> String {
    format!(
        "CREATE TEMP TABLE IF NOT EXISTS {STAGE_TABLE} ON COMMIT DELETE ROWS AS \
         SELECT {columns}, 0::bigint AS {ord} FROM {table} WITH NO DATA",
        columns = column_list(spec),
        table = spec.table.quoted(),
        ord = ord()
    )
}

/// The binary COPY into the staging table.
pub(crate) fn copy_into_stage(spec: &TableSpec) -> String {
    format!(
        "COPY pg_temp.{STAGE_TABLE} ({columns}, {ord}) FROM STDIN BINARY",
        columns = column_list(spec),
        ord = ord()
    )
}

/// The insert-only binary COPY straight into the table.
pub(crate) fn copy_into_table(spec: &TableSpec) -> String {
    format!(
        "COPY {table} ({columns}) FROM STDIN BINARY",
        table = spec.table.quoted(),
        columns = column_list(spec)
    )
}

/// The staging table as the upsert's source.
pub(crate) fn stage_source(spec: &TableSpec) -> String {
    format!(
        "SELECT {columns}, {ord} FROM pg_temp.{STAGE_TABLE}",
        columns = column_list(spec),
        ord = ord()
    )
}

/// A single-row upsert returning one row when the row was written.
pub(crate) fn single_row(spec: &TableSpec) -> String {
    let params = join((1..=spec.columns.len()).map(|i| format!("${i}")));
    format!(
        "INSERT INTO {table} AS {TARGET} ({columns}) VALUES ({params}) {conflict} RETURNING 1",
        table = spec.table.quoted(),
        columns = column_list(spec),
        conflict = conflict_clause(spec),
    )
}

/// The columns a write sets, in spec order: every column when a conflict
/// changes nothing, else the key and the updated columns (not the ones
/// kept on update, which an update leaves as they were).
pub(crate) fn compared_columns(spec: &TableSpec) -> Vec<usize> {
    if spec.updates() {
        (0..spec.columns.len())
            .filter(|c| spec.key.contains(c) || spec.update.contains(c))
            .collect()
    } else {
        (0..spec.columns.len()).collect()
    }
}

/// Returns a row when the table holds a row with the key of `$1..` whose
/// compared columns all equal the parameters (one per
/// [`compared_columns`], prepared with the columns' types). Compared as
/// text, so that types without an equality operator (json, ...) work too.
pub(crate) fn stored_equal(spec: &TableSpec) -> String {
    let conditions = compared_columns(spec)
        .iter()
        .enumerate()
        .map(|(n, &c)| {
            let column = spec.columns[c].quoted();
            if spec.key.contains(&c) {
                format!("{TARGET}.{column} = ${}", n + 1)
            } else {
                format!(
                    "({TARGET}.{column})::text IS NOT DISTINCT FROM (${})::text",
                    n + 1
                )
            }
        })
        .collect::<Vec<_>>()
        .join(" AND ");
    format!(
        "SELECT 1 FROM {table} AS {TARGET} WHERE {conditions}",
        table = spec.table.quoted()
    )
}

/// Selects the spec's columns, prepared (never run) to learn their types.
pub(crate) fn column_probe(spec: &TableSpec) -> String {
    format!(
        "SELECT {columns} FROM {table} LIMIT 0",
        columns = column_list(spec),
        table = spec.table.quoted()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ident::TableName;

    #[test]
    fn upsert_quotes_everything_and_guards_no_op_updates() {
        let spec = TableSpec::new(
            TableName::new("do\"cs").expect("valid"),
            ["id", "v", "created"],
            ["id"],
        )
        .and_then(|s| s.keep_on_update(["created"]))
        .expect("valid");
        let sql = upsert_from(&spec, "SELECT 1");
        assert!(
            sql.contains("INSERT INTO \"do\"\"cs\" AS \"uds3_target\""),
            "{sql}"
        );
        assert!(
            sql.contains("DO UPDATE SET \"v\" = EXCLUDED.\"v\" WHERE"),
            "{sql}"
        );
        assert!(!sql.contains("\"created\" = EXCLUDED"), "{sql}");
        assert!(sql.contains("DESC"), "{sql}");
    }
}
