//! `TableSink`: batch-core's `Sink` for any table described by a
//! `TableSpec`, with three interchangeable write methods.

use std::cell::Cell;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::marker::PhantomData;
use std::sync::Arc;

use batch_core::{ItemCheck, ItemOutcome, Sink};
use futures_util::future::{try_join, try_join_all};
use postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::{Client, Statement};

use crate::column_array::ColumnArray;
use crate::connector::{Connector, Elapsed, Session};
use crate::error::{Phase, PostgresError};
use crate::row::Row;
use crate::row_values::RowValues;
use crate::spec::TableSpec;
use crate::statements;

/// SQLSTATE of a unique key the table already holds.
const UNIQUE_VIOLATION: &str = "23505";

/// How a batch reaches the server. The first three give the same rows and
/// the same outcomes (upserts); they differ only in speed (see the crate's
/// benchmark). [`CopyInsert`](Self::CopyInsert) only inserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WriteMethod {
    /// One statement per batch: every column sent as one array parameter
    /// and expanded with `UNNEST`. One round trip, one commit. The default,
    /// because it measured fastest at UDS3's batch sizes.
    #[default]
    Unnest,
    /// Binary `COPY` into a temporary staging table, then one upsert from
    /// it, in one transaction.
    Copy,
    /// One upsert statement per row inside one transaction (one round trip
    /// per row): the baseline, like UDS3 v2.2 without `execute_batch` paging.
    PerRow,
    /// Binary `COPY` straight into the table: insert-only, for tables that
    /// need no upsert (append logs), at the speed of `COPY`. A batch that
    /// fails (a bad row, a key already stored) fails as a whole and is
    /// bisected like any other, down to the row at fault; a row whose key
    /// the table already holds (SQLSTATE 23505) comes back as a conflict,
    /// never updated.
    CopyInsert,
}

/// Statements prepared on the current connection.
struct Prepared {
    /// Element type of every column, in spec order.
    types: Vec<Type>,
    /// The method's main statement ...
    statement: Statement,
    /// ... and its text.
    sql: String,
    /// COPY text (COPY method only).
    copy: Option<String>,
    /// The replay's check whether a stored row equals the row sent
    /// (prepared at the first replay).
    check: Option<Statement>,
}

/// An open connection and what was prepared on it.
struct Live {
    session: Session,
    prepared: Option<Prepared>,
}

/// Writes rows of type `R` to one table, one statement (and one commit) per
/// batch. Reconnects lazily after a lost connection; every request runs
/// under the connector's deadline ([`Connector::timeout`]).
pub struct TableSink<R> {
    connector: Connector,
    spec: Arc<TableSpec>,
    method: WriteMethod,
    live: Option<Live>,
    _row: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for TableSink<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableSink")
            .field("table", &self.spec.table)
            .field("method", &self.method)
            .field("connected", &self.live.is_some())
            .finish()
    }
}

/// The rows of one write: which were sent and which were left out.
struct Plan<'a, R> {
    /// Outcome of every item decided before sending (refused by the
    /// preflight, or superseded by a later row of the same key).
    outcomes: Vec<Option<ItemOutcome<PostgresError>>>,
    /// Index in `items` and row, of every row sent.
    sent: Vec<(usize, &'a R)>,
    /// The values of every row sent, in `sent`'s order: taken once, for
    /// the preflight and whichever method writes them.
    values: RowValues<'a>,
}

impl<R: Row> TableSink<R> {
    /// A sink for `spec` that connects with `connector` on its first write.
    pub fn new(connector: Connector, spec: TableSpec) -> Self {
        Self {
            connector,
            spec: Arc::new(spec),
            method: WriteMethod::default(),
            live: None,
            _row: PhantomData,
        }
    }

    /// Chooses the write method (default [`WriteMethod::Unnest`]).
    #[must_use]
    pub fn with_method(mut self, method: WriteMethod) -> Self {
        self.method = method;
        self
    }

    /// Opens the connection now, so that a wrong URL or a down server is
    /// reported when the inserter is built rather than at the first flush.
    /// Connects on a thread of the library's and waits for it (at most the
    /// connector's deadline), so it may be called from async code.
    pub fn connect(&mut self) -> Result<(), PostgresError> {
        if self.live.is_none() {
            self.live = Some(Live {
                session: self.connector.open_elsewhere()?,
                prepared: None,
            });
        }
        Ok(())
    }

    /// The SQL text this sink runs for each batch, as prepared on its
    /// connection (connecting and reading the table's column types first,
    /// on this thread): the `UNNEST` upsert, the upsert from the staging
    /// table that `COPY ... FROM STDIN BINARY` fills, or the one-row upsert.
    /// For review, `EXPLAIN`, or timing the same statement without the
    /// batcher. Built only from quoted identifiers and type names the
    /// server formatted; rows always travel as parameters.
    pub fn statement_sql(&mut self) -> Result<String, PostgresError> {
        self.connect()?;
        let live = self.prepared()?;
        Ok(live
            .prepared
            .as_ref()
            .map_or_else(String::new, |p| p.sql.clone()))
    }

    /// The table this sink writes.
    pub fn spec(&self) -> &TableSpec {
        &self.spec
    }

    /// The write method in use.
    pub fn method(&self) -> WriteMethod {
        self.method
    }

    fn live(&mut self) -> Result<&mut Live, PostgresError> {
        if self
            .live
            .as_ref()
            .is_some_and(|l| l.session.client.is_closed())
        {
            tracing::info!(table = %self.spec.table, "PostgreSQL connection lost, reconnecting");
            self.live = None;
        }
        let live = match self.live.take() {
            Some(live) => live,
            None => Live {
                session: self.connector.open()?,
                prepared: None,
            },
        };
        Ok(self.live.insert(live))
    }

    /// Turns a request's result into the sink's, dropping the connection
    /// when it is no longer usable (closed, or abandoned at the deadline:
    /// dropping it closes the socket, so a late answer cannot mix with the
    /// next request's). `sent`: the write had been sent.
    fn settle<T>(
        &mut self,
        result: Result<Result<T, postgres::Error>, Elapsed>,
        phase: Phase,
        sent: bool,
    ) -> Result<T, PostgresError> {
        let closed = match &result {
            Ok(Ok(_)) => false,
            Err(Elapsed) => true,
            Ok(Err(_)) => self
                .live
                .as_ref()
                .is_none_or(|l| l.session.client.is_closed()),
        };
        if closed {
            self.live = None;
        }
        self.connector.settle(result, phase, closed, sent)
    }

    /// Connects and prepares if needed; the connection returned holds its
    /// statements (`prepared` is `Some`).
    fn prepared(&mut self) -> Result<&mut Live, PostgresError> {
        let timeout = self.connector.request_timeout();
        let (spec, method) = (Arc::clone(&self.spec), self.method);
        let live = self.live()?;
        if live.prepared.is_none() {
            let Session { runtime, client } = &mut live.session;
            let result = runtime.within(timeout, prepare(client, &spec, method));
            let prepared = self.settle(result, Phase::Prepare, false)??;
            self.same_live()?.prepared = Some(prepared);
        }
        self.same_live()
    }

    /// The connection the operation's last request used, never a new one:
    /// statements (and the COPY method's staging table) belong to the
    /// connection they were prepared on. [`live`](Self::live) would open
    /// a new connection if that one ended right after answering, and hand
    /// it the old one's statements: every write then failed for good
    /// (SQLSTATE 26000, "prepared statement does not exist"). A request on
    /// a connection that ended fails as a lost connection and is retried.
    fn same_live(&mut self) -> Result<&mut Live, PostgresError> {
        self.live.as_mut().ok_or_else(not_prepared)
    }

    /// Checks what only the server's column types tell, without a round
    /// trip: non-NULL, well-typed conflict keys. (The row's own validation
    /// and its column count were checked in `add`, by `item_check`.)
    /// Appends the key's encoding, which tells rows of one key apart, to
    /// `keys`.
    fn preflight(
        &self,
        row: &R,
        values: &[&(dyn ToSql + Sync)],
        types: &[Type],
        scratch: &mut bytes::BytesMut,
        keys: &mut Vec<u8>,
    ) -> Result<(), PostgresError> {
        for &k in &self.spec.key {
            scratch.clear();
            let column = &self.spec.columns[k];
            let (Some(value), Some(ty)) = (values.get(k), types.get(k)) else {
                return Err(PostgresError::Invalid(format!(
                    "row {} has {} values, no value for conflict key column {column}",
                    self.name(row),
                    values.len()
                )));
            };
            match value.to_sql_checked(ty, scratch) {
                Ok(IsNull::No) => {
                    keys.extend_from_slice(&scratch.len().to_be_bytes());
                    keys.extend_from_slice(scratch);
                }
                Ok(IsNull::Yes) => {
                    return Err(PostgresError::Invalid(format!(
                        "row {}: conflict key column {column} must not be NULL",
                        self.name(row)
                    )));
                }
                Err(e) => {
                    return Err(PostgresError::Invalid(format!(
                        "row {}: conflict key column {column}: {e}",
                        self.name(row)
                    )));
                }
            }
        }
        Ok(())
    }

    /// Names a row by its conflict key, e.g. `document_id="d17"`.
    fn name(&self, row: &R) -> String {
        name_row(&self.spec, row)
    }

    /// Decides which rows go to the server: rows the preflight refuses come
    /// back failed, and of several rows with one key only the one
    /// sequential execution would leave behind is sent (the last for
    /// updates, the first for DO NOTHING); the others are superseded and
    /// count as conflicts, so that the written count equals the rows the
    /// table gained or changed.
    fn plan<'a>(&self, items: &'a [R], types: &[Type]) -> Plan<'a, R> {
        let mut outcomes: Vec<Option<ItemOutcome<PostgresError>>> = Vec::with_capacity(items.len());
        let mut values = RowValues::with_capacity(items.len(), self.spec.columns.len());
        // Every row's key encoding, one after another in one buffer, and
        // where each ends (the preflight refuses a row before its key is
        // complete, so a refused row's bytes are cut off again).
        let mut keys: Vec<u8> = Vec::with_capacity(items.len() * 24);
        let mut key_ends: Vec<Option<usize>> = Vec::with_capacity(items.len());
        let mut scratch = bytes::BytesMut::new();
        for item in items {
            let start = keys.len();
            let checked = match values.push(item) {
                Ok(()) => {
                    let last = values.len() - 1;
                    let row_values = values.get(last).unwrap_or_default();
                    self.preflight(item, row_values, types, &mut scratch, &mut keys)
                        .inspect_err(|_| values.pop())
                }
                Err(count) => Err(PostgresError::Invalid(format!(
                    "row {} has {count} values for {} columns",
                    self.name(item),
                    self.spec.columns.len()
                ))),
            };
            match checked {
                Ok(()) => {
                    outcomes.push(None);
                    key_ends.push(Some(keys.len()));
                }
                Err(e) => {
                    keys.truncate(start);
                    outcomes.push(Some(ItemOutcome::Failed(e)));
                    key_ends.push(None);
                }
            }
        }
        // Of several rows with one key, the one sequential execution would
        // leave behind is sent.
        let last_wins = self.spec.updates();
        let mut seen: HashMap<&[u8], usize, foldhash::fast::RandomState> =
            HashMap::with_capacity_and_hasher(items.len(), Default::default());
        let mut start = 0;
        for (i, end) in key_ends.iter().enumerate() {
            let Some(end) = *end else { continue };
            match seen.entry(&keys[start..end]) {
                Entry::Vacant(e) => {
                    e.insert(i);
                }
                Entry::Occupied(mut e) if last_wins => {
                    outcomes[*e.get()] = Some(ItemOutcome::Conflict);
                    e.insert(i);
                }
                Entry::Occupied(_) => outcomes[i] = Some(ItemOutcome::Conflict),
            }
            start = end;
        }
        // `values` holds the rows the preflight passed; keep those sent.
        let mut sent = Vec::with_capacity(items.len());
        let mut kept = RowValues::with_capacity(0, values.width);
        let mut passed = 0;
        let all_sent = outcomes.iter().all(Option::is_none);
        for (i, item) in items.iter().enumerate() {
            if key_ends[i].is_none() {
                continue;
            }
            if outcomes[i].is_none() {
                sent.push((i, item));
                if !all_sent {
                    kept.flat
                        .extend_from_slice(values.get(passed).unwrap_or_default());
                }
            }
            passed += 1;
        }
        Plan {
            outcomes,
            sent,
            values: if all_sent { values } else { kept },
        }
    }

    /// One write of `items`: the outcomes, and the indices of the rows the
    /// server left unchanged (already stored as sent, or a DO NOTHING
    /// conflict).
    #[allow(clippy::type_complexity)] // a pair of plain vectors
    fn write(
        &mut self,
        items: &[R],
    ) -> Result<(Vec<ItemOutcome<PostgresError>>, Vec<usize>), PostgresError> {
        let types = self.prepared()?.prepared.as_ref().map(|p| p.types.clone());
        let types = types.unwrap_or_default();
        let Plan {
            mut outcomes,
            sent,
            values,
        } = self.plan(items, &types);
        let mut unchanged = Vec::new();
        if !sent.is_empty() {
            let rows: Vec<&R> = sent.iter().map(|(_, r)| *r).collect();
            let timeout = self.connector.request_timeout();
            let (spec, method) = (Arc::clone(&self.spec), self.method);
            let was_sent = Cell::new(false);
            let result = {
                let Live {
                    session: Session { runtime, client },
                    prepared,
                } = self.prepared()?;
                // Never "nothing written": the rows would count as
                // conflicts without having been sent.
                let prepared = prepared.as_ref().ok_or_else(not_prepared)?;
                let values = &values;
                let was_sent = &was_sent;
                runtime.within(timeout, async move {
                    match method {
                        WriteMethod::Unnest => {
                            write_unnest(client, prepared, &spec, values, was_sent).await
                        }
                        WriteMethod::Copy => write_copy(client, prepared, values, was_sent).await,
                        WriteMethod::PerRow => {
                            write_per_row(client, prepared, values, was_sent).await
                        }
                        WriteMethod::CopyInsert => {
                            write_copy_insert(client, prepared, values, was_sent).await
                        }
                    }
                })
            };
            let written = match self.settle(result, Phase::Write, was_sent.get()) {
                Ok(written) => written,
                // Insert-only: the one row's key is already stored. A
                // conflict (a replay then asks whether it is this row).
                Err(e)
                    if rows.len() == 1
                        && method == WriteMethod::CopyInsert
                        && e.sqlstate() == Some(UNIQUE_VIOLATION) =>
                {
                    Vec::new()
                }
                Err(e) if rows.len() == 1 => return Err(e.for_item(self.name(rows[0]))),
                Err(e) => return Err(e),
            };
            let mut was_written = vec![false; sent.len()];
            for ord in written {
                let slot = usize::try_from(ord - 1)
                    .ok()
                    .and_then(|n| was_written.get_mut(n));
                match slot {
                    Some(slot) => *slot = true,
                    // Committed already: an error here would claim nothing
                    // was written. Cannot happen unless the statement is wrong.
                    None => tracing::error!(
                        ord,
                        batch = sent.len(),
                        "server reported an unknown row number"
                    ),
                }
            }
            for ((index, _), written) in sent.iter().zip(was_written) {
                outcomes[*index] = Some(if written {
                    ItemOutcome::Written
                } else {
                    unchanged.push(*index);
                    ItemOutcome::Conflict
                });
            }
        }
        let outcomes = outcomes
            .into_iter()
            .map(|o| o.unwrap_or(ItemOutcome::Conflict))
            .collect();
        Ok((outcomes, unchanged))
    }

    /// For each of `rows`, whether the table holds it as this sink would
    /// have written it (key and every column a write sets equal, compared
    /// as text so that any column type works). One pipelined round trip.
    fn stored_as_sent(&mut self, rows: &[&R]) -> Result<Vec<bool>, PostgresError> {
        let timeout = self.connector.request_timeout();
        let spec = Arc::clone(&self.spec);
        let columns = statements::compared_columns(&spec);
        let live = self.prepared()?;
        let needs_check = live.prepared.as_ref().is_some_and(|p| p.check.is_none());
        if needs_check {
            let types: Vec<Type> = live
                .prepared
                .as_ref()
                .map(|p| columns.iter().map(|&c| p.types[c].clone()).collect())
                .unwrap_or_default();
            let sql = statements::stored_equal(&spec);
            let Session { runtime, client } = &mut live.session;
            let result = runtime.within(timeout, client.prepare_typed(&sql, &types));
            let check = self.settle(result, Phase::Prepare, false)?;
            if let Some(prepared) = self.same_live()?.prepared.as_mut() {
                prepared.check = Some(check);
            }
        }
        let result = {
            let live = self.same_live()?;
            // Never "not stored": the rows would count as conflicts.
            let check = live
                .prepared
                .as_ref()
                .and_then(|p| p.check.clone())
                .ok_or_else(not_prepared)?;
            let params: Vec<Vec<&(dyn ToSql + Sync)>> = rows
                .iter()
                .map(|row| {
                    let values = row.values();
                    columns.iter().map(|&c| values[c]).collect()
                })
                .collect();
            let client = &live.session.client;
            let check = &check;
            live.session.runtime.within(
                timeout,
                try_join_all(params.iter().map(|values| async move {
                    client
                        .query_opt(check, values)
                        .await
                        .map(|row| row.is_some())
                })),
            )
        };
        self.settle(result, Phase::Prepare, false)
    }
}

/// A step found no statements on the connection it was given: a bug of
/// this crate, reported as an error rather than taken as "nothing
/// written". Permanent, so a batch falls back to smaller requests, each
/// preparing afresh.
fn not_prepared() -> PostgresError {
    PostgresError::Invalid(
        "internal error: no statements prepared on the connection in use (please report)"
            .to_owned(),
    )
}

/// Names a row by its conflict key: `id="d17"`, or `(a, b)=("x", 2)`.
/// Each value's text is cut at 100 characters: a name, not the content.
fn name_row<R: Row>(spec: &TableSpec, row: &R) -> String {
    name_values(spec, &row.values())
}

/// [`name_row`] of a row's values.
fn name_values(spec: &TableSpec, values: &[&(dyn ToSql + Sync)]) -> String {
    let shown = |k: usize| {
        let text = values
            .get(k)
            .map_or_else(|| "?".to_owned(), |v| format!("{v:?}"));
        match text.char_indices().nth(100) {
            Some((cut, _)) => format!("{}...", &text[..cut]),
            None => text,
        }
    };
    if let [k] = spec.key[..] {
        format!("{}={}", spec.columns[k].as_str(), shown(k))
    } else {
        let names: Vec<String> = spec
            .key
            .iter()
            .map(|&k| spec.columns[k].as_str().to_owned())
            .collect();
        let shown: Vec<String> = spec.key.iter().map(|&k| shown(k)).collect();
        format!("({})=({})", names.join(", "), shown.join(", "))
    }
}

/// Prepares the method's statements on a fresh connection, in two round
/// trips: the column probe goes out together with what the method needs
/// from the server (the array types, or the stage table), since neither
/// waits for the other; the method's statement follows. The outer
/// `Result` carries driver errors, the inner one schema problems.
async fn prepare(
    client: &Client,
    spec: &TableSpec,
    method: WriteMethod,
) -> Result<Result<Prepared, PostgresError>, postgres::Error> {
    let probe_sql = statements::column_probe(spec);
    let probe = client.prepare(&probe_sql);
    let (probe, sql, copy) = match method {
        WriteMethod::Unnest => {
            let (probe, array_types) = try_join(probe, array_types(client, spec)).await?;
            let array_types = match array_types {
                Ok(array_types) => array_types,
                Err(schema) => return Ok(Err(schema)),
            };
            let sql = statements::upsert_from(spec, &statements::unnest_source(spec, &array_types));
            (probe, sql, None)
        }
        WriteMethod::Copy => {
            let create_stage = statements::create_stage(spec);
            let (probe, ()) = try_join(probe, client.batch_execute(&create_stage)).await?;
            (
                probe,
                statements::upsert_from(spec, &statements::stage_source(spec)),
                Some(statements::copy_into_stage(spec)),
            )
        }
        WriteMethod::PerRow => (probe.await?, statements::single_row(spec), None),
        WriteMethod::CopyInsert => (probe.await?, statements::copy_into_table(spec), None),
    };
    let types: Vec<Type> = probe.columns().iter().map(|c| c.type_().clone()).collect();
    let statement = client.prepare(&sql).await?;
    Ok(Ok(Prepared {
        types,
        statement,
        sql,
        copy,
        check: None,
    }))
}

/// Reads each column's array type from the catalog (once per connection),
/// in one round trip (typed: no prepare of its own).
async fn array_types(
    client: &Client,
    spec: &TableSpec,
) -> Result<Result<Vec<String>, PostgresError>, postgres::Error> {
    let table = spec.table.quoted();
    let rows = client
        .query_typed(statements::COLUMN_TYPES, &[(&table, Type::TEXT)])
        .await?;
    let mut out = Vec::with_capacity(spec.columns.len());
    for column in &spec.columns {
        let Some(row) = rows.iter().find(|r| r.get::<_, &str>(0) == column.as_str()) else {
            return Ok(Err(PostgresError::Schema(format!(
                "table {} has no column {column}",
                spec.table
            ))));
        };
        let (array_type, has_array, is_array): (String, bool, bool) =
            (row.get(1), row.get(2), row.get(3));
        if !has_array || is_array {
            return Ok(Err(PostgresError::Schema(format!(
                "column {column} has a type UNNEST cannot carry (an array or a type without \
                 array type); use WriteMethod::Copy or WriteMethod::PerRow"
            ))));
        }
        out.push(array_type);
    }
    Ok(Ok(out))
}

/// One statement, sent in autocommit: from the moment it is sent its
/// outcome is unknown until the answer arrives.
async fn write_unnest(
    client: &Client,
    prepared: &Prepared,
    spec: &TableSpec,
    values: &RowValues<'_>,
    sent: &Cell<bool>,
) -> Result<Vec<i64>, postgres::Error> {
    let name = |n: usize| {
        values
            .get(n)
            .map_or_else(String::new, |v| name_values(spec, v))
    };
    let arrays: Vec<ColumnArray<'_>> = spec
        .columns
        .iter()
        .enumerate()
        .map(|(c, column)| ColumnArray {
            column,
            values: values.rows().map(|v| v[c]).collect(),
            not_null: spec.key.contains(&c),
            name: &name,
        })
        .collect();
    let params: Vec<&(dyn ToSql + Sync)> =
        arrays.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
    sent.set(true);
    let written = client.query(&prepared.statement, &params).await?;
    Ok(written.iter().map(|r| r.get(0)).collect())
}

/// COPY into the staging table and one upsert from it, in one
/// transaction: only the COMMIT's answer can leave the outcome unknown.
async fn write_copy(
    client: &mut Client,
    prepared: &Prepared,
    values: &RowValues<'_>,
    sent: &Cell<bool>,
) -> Result<Vec<i64>, postgres::Error> {
    let tx = client.transaction().await?;
    let copy = prepared.copy.as_deref().unwrap_or_default();
    let mut types = prepared.types.clone();
    types.push(Type::INT8);
    let writer = BinaryCopyInWriter::new(tx.copy_in(copy).await?, &types);
    let mut writer = std::pin::pin!(writer);
    for (n, row) in values.rows().enumerate() {
        let ord = i64::try_from(n + 1).unwrap_or(i64::MAX);
        let mut row = row.to_vec();
        row.push(&ord);
        writer.as_mut().write(&row).await?;
    }
    writer.finish().await?;
    let written = tx.query(&prepared.statement, &[]).await?;
    sent.set(true);
    tx.commit().await?;
    Ok(written.iter().map(|r| r.get(0)).collect())
}

/// Binary COPY of the rows straight into the table: every row is written,
/// or (an error) none. Only the answer to the end of the copy can leave
/// the outcome unknown.
async fn write_copy_insert(
    client: &mut Client,
    prepared: &Prepared,
    values: &RowValues<'_>,
    sent: &Cell<bool>,
) -> Result<Vec<i64>, postgres::Error> {
    let writer =
        BinaryCopyInWriter::new(client.copy_in(&prepared.statement).await?, &prepared.types);
    let mut writer = std::pin::pin!(writer);
    for row in values.rows() {
        writer.as_mut().write(row).await?;
    }
    sent.set(true);
    writer.finish().await?;
    Ok((1..=i64::try_from(values.len()).unwrap_or(i64::MAX)).collect())
}

/// One upsert per row in one transaction; only the COMMIT's answer can
/// leave the outcome unknown.
async fn write_per_row(
    client: &mut Client,
    prepared: &Prepared,
    values: &RowValues<'_>,
    sent: &Cell<bool>,
) -> Result<Vec<i64>, postgres::Error> {
    let tx = client.transaction().await?;
    let mut written = Vec::new();
    for (n, row) in values.rows().enumerate() {
        if !tx.query(&prepared.statement, row).await?.is_empty() {
            written.push(i64::try_from(n + 1).unwrap_or(i64::MAX));
        }
    }
    sent.set(true);
    tx.commit().await?;
    Ok(written)
}

impl<R: Row> Sink for TableSink<R> {
    type Item = R;
    type Error = PostgresError;
    const BACKEND: &'static str = "postgres";

    /// The same table through the same connector, on a session of its own
    /// that connects at its first write (never here: this may run inside
    /// an async runtime).
    fn sibling(&self) -> Option<Self> {
        Some(Self {
            connector: self.connector.clone(),
            spec: Arc::clone(&self.spec),
            method: self.method,
            live: None,
            _row: PhantomData,
        })
    }

    /// Connects and prepares the method's statements, on the writer's
    /// thread, so that a sibling's first batch costs one round trip.
    fn connect_ahead(&mut self) -> Result<(), PostgresError> {
        self.prepared().map(|_| ())
    }

    /// The row's own [`Row::validate`] and its column count.
    fn item_check(&self) -> Option<ItemCheck<R>> {
        let columns = self.spec.columns.len();
        Some(Arc::new(move |row: &R| {
            row.validate()?;
            let values = row.values().len();
            if values == columns {
                Ok(())
            } else {
                Err(format!("row has {values} values for {columns} columns"))
            }
        }))
    }

    /// [`Row::key`].
    fn item_key(item: &R) -> Option<String> {
        item.key()
    }

    /// [`Row::codec`].
    fn codec() -> Option<batch_core::Codec<R>> {
        R::codec()
    }

    fn write_batch(
        &mut self,
        items: &[R],
    ) -> Result<Vec<ItemOutcome<PostgresError>>, PostgresError> {
        self.write(items).map(|(outcomes, _)| outcomes)
    }

    /// Writes again, then asks the server about every row the upsert left
    /// unchanged (its `WHERE` guard skips rows identical to the stored
    /// ones, and RETURNING omits them): a row stored exactly as sent was
    /// written by the attempt whose answer was lost, so it counts as
    /// written, not as a conflict.
    fn replay_batch(
        &mut self,
        items: &[R],
    ) -> Result<Vec<ItemOutcome<PostgresError>>, PostgresError> {
        let (mut outcomes, unchanged) = self.write(items)?;
        if unchanged.is_empty() {
            return Ok(outcomes);
        }
        let rows: Vec<&R> = unchanged.iter().map(|&i| &items[i]).collect();
        let stored = self.stored_as_sent(&rows)?;
        for (&i, stored) in unchanged.iter().zip(stored) {
            if stored {
                outcomes[i] = ItemOutcome::Written;
            }
        }
        Ok(outcomes)
    }
}
