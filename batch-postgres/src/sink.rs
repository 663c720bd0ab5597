//! `TableSink`: batch-core's `Sink` for any table described by a
//! `TableSpec`, with three interchangeable write methods.

use std::marker::PhantomData;
use std::sync::Arc;

use batch_core::{ItemCheck, ItemOutcome, Sink};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{IsNull, ToSql, Type};
use postgres::{Client, Statement};

use crate::column_array::ColumnArray;
use crate::connector::Connector;
use crate::error::PostgresError;
use crate::row::Row;
use crate::spec::TableSpec;
use crate::statements;

/// How a batch reaches the server. All three give the same rows and the
/// same outcomes; they differ only in speed (see the crate's benchmark).
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
}

/// Statements prepared on the current connection.
struct Prepared {
    /// Element type of every column, in spec order.
    types: Vec<Type>,
    /// The method's main statement.
    statement: Statement,
    /// COPY text (COPY method only).
    copy: Option<String>,
}

/// An open connection and what was prepared on it.
struct Session {
    client: Client,
    prepared: Option<Prepared>,
}

/// Writes rows of type `R` to one table, one statement (and one commit) per
/// batch. Reconnects lazily after a lost connection.
pub struct TableSink<R> {
    connector: Connector,
    spec: Arc<TableSpec>,
    method: WriteMethod,
    session: Option<Session>,
    _row: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for TableSink<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableSink")
            .field("table", &self.spec.table)
            .field("method", &self.method)
            .field("connected", &self.session.is_some())
            .finish()
    }
}

impl<R: Row> TableSink<R> {
    /// A sink for `spec` that connects with `connector` on its first write.
    pub fn new(connector: Connector, spec: TableSpec) -> Self {
        Self {
            connector,
            spec: Arc::new(spec),
            method: WriteMethod::default(),
            session: None,
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
    pub fn connect(&mut self) -> Result<(), PostgresError> {
        self.session()?;
        Ok(())
    }

    /// The table this sink writes.
    pub fn spec(&self) -> &TableSpec {
        &self.spec
    }

    /// The write method in use.
    pub fn method(&self) -> WriteMethod {
        self.method
    }

    fn session(&mut self) -> Result<&mut Session, PostgresError> {
        if self.session.as_ref().is_some_and(|s| s.client.is_closed()) {
            tracing::info!(table = %self.spec.table, "PostgreSQL connection lost, reconnecting");
            self.session = None;
        }
        if self.session.is_none() {
            let client = self.connector.connect()?;
            self.session = Some(Session {
                client,
                prepared: None,
            });
        }
        self.session
            .as_mut()
            .ok_or_else(|| PostgresError::Invalid("no session after connecting".into()))
    }

    /// Connects and prepares if needed, then runs `f`; a lost connection
    /// is dropped so the next call reconnects.
    fn with_prepared<T>(
        &mut self,
        f: impl FnOnce(&mut Client, &Prepared, &TableSpec) -> Result<T, postgres::Error>,
    ) -> Result<T, PostgresError> {
        let spec = Arc::clone(&self.spec);
        let method = self.method;
        let session = self.session()?;
        let result = match &session.prepared {
            Some(prepared) => f(&mut session.client, prepared, &spec),
            None => match prepare(&mut session.client, &spec, method) {
                Ok(Ok(prepared)) => {
                    let prepared = session.prepared.insert(prepared);
                    f(&mut session.client, prepared, &spec)
                }
                Ok(Err(schema)) => return Err(schema),
                Err(e) => Err(e),
            },
        };
        let closed = session.client.is_closed();
        if closed {
            self.session = None;
        }
        result.map_err(|e| PostgresError::from_driver(e, closed))
    }

    /// Checks what only the server's column types tell, without a round
    /// trip: non-NULL, well-typed conflict keys. (The row's own validation
    /// and its column count were checked in `add`, by `item_check`.)
    fn preflight(&self, row: &R, types: &[Type]) -> Result<(), PostgresError> {
        let values = row.values();
        let mut scratch = bytes::BytesMut::new();
        for &k in &self.spec.key {
            scratch.clear();
            let column = &self.spec.columns[k];
            let (Some(value), Some(ty)) = (values.get(k), types.get(k)) else {
                return Err(PostgresError::Invalid(format!(
                    "row has {} values, no value for conflict key column {column}",
                    values.len()
                )));
            };
            match value.to_sql_checked(ty, &mut scratch) {
                Ok(IsNull::No) => {}
                Ok(IsNull::Yes) => {
                    return Err(PostgresError::Invalid(format!(
                        "conflict key column {column} must not be NULL"
                    )));
                }
                Err(e) => {
                    return Err(PostgresError::Invalid(format!(
                        "conflict key column {column}: {e}"
                    )));
                }
            }
        }
        Ok(())
    }

    fn column_types(&mut self) -> Result<Vec<Type>, PostgresError> {
        self.with_prepared(|_, prepared, _| Ok(prepared.types.clone()))
    }
}

/// Prepares the method's statements on a fresh connection. The outer
/// `Result` carries driver errors, the inner one schema problems.
fn prepare(
    client: &mut Client,
    spec: &TableSpec,
    method: WriteMethod,
) -> Result<Result<Prepared, PostgresError>, postgres::Error> {
    let probe = match client.prepare(&statements::column_probe(spec)) {
        Ok(probe) => probe,
        Err(e) if e.as_db_error().is_some() => {
            return Ok(Err(PostgresError::from_driver(e, false)));
        }
        Err(e) => return Err(e),
    };
    let types: Vec<Type> = probe.columns().iter().map(|c| c.type_().clone()).collect();
    let (statement, copy) = match method {
        WriteMethod::Unnest => {
            let array_types = match array_types(client, spec)? {
                Ok(array_types) => array_types,
                Err(schema) => return Ok(Err(schema)),
            };
            let sql = statements::upsert_from(spec, &statements::unnest_source(spec, &array_types));
            (client.prepare(&sql)?, None)
        }
        WriteMethod::Copy => {
            client.batch_execute(&statements::create_stage(spec))?;
            let sql = statements::upsert_from(spec, &statements::stage_source(spec));
            (
                client.prepare(&sql)?,
                Some(statements::copy_into_stage(spec)),
            )
        }
        WriteMethod::PerRow => (client.prepare(&statements::single_row(spec))?, None),
    };
    Ok(Ok(Prepared {
        types,
        statement,
        copy,
    }))
}

/// Reads each column's array type from the catalog (once per connection).
fn array_types(
    client: &mut Client,
    spec: &TableSpec,
) -> Result<Result<Vec<String>, PostgresError>, postgres::Error> {
    let rows = client.query(statements::COLUMN_TYPES, &[&spec.table.quoted()])?;
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

fn write_unnest<R: Row>(
    client: &mut Client,
    prepared: &Prepared,
    spec: &TableSpec,
    rows: &[&R],
) -> Result<Vec<i64>, postgres::Error> {
    let values: Vec<Vec<&(dyn ToSql + Sync)>> = rows.iter().map(|r| r.values()).collect();
    let arrays: Vec<ColumnArray<'_>> = spec
        .columns
        .iter()
        .enumerate()
        .map(|(c, column)| ColumnArray {
            column,
            values: values.iter().map(|v| v[c]).collect(),
            not_null: spec.key.contains(&c),
        })
        .collect();
    let params: Vec<&(dyn ToSql + Sync)> =
        arrays.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
    let written = client.query(&prepared.statement, &params)?;
    Ok(written.iter().map(|r| r.get(0)).collect())
}

fn write_copy<R: Row>(
    client: &mut Client,
    prepared: &Prepared,
    rows: &[&R],
) -> Result<Vec<i64>, postgres::Error> {
    let mut tx = client.transaction()?;
    let copy = prepared.copy.as_deref().unwrap_or_default();
    let mut types = prepared.types.clone();
    types.push(Type::INT8);
    let mut writer = BinaryCopyInWriter::new(tx.copy_in(copy)?, &types);
    for (n, row) in rows.iter().enumerate() {
        let ord = i64::try_from(n + 1).unwrap_or(i64::MAX);
        let mut values = row.values();
        values.push(&ord);
        writer.write(&values)?;
    }
    writer.finish()?;
    let written = tx.query(&prepared.statement, &[])?;
    tx.commit()?;
    Ok(written.iter().map(|r| r.get(0)).collect())
}

fn write_per_row<R: Row>(
    client: &mut Client,
    prepared: &Prepared,
    rows: &[&R],
) -> Result<Vec<i64>, postgres::Error> {
    let mut tx = client.transaction()?;
    let mut written = Vec::new();
    for (n, row) in rows.iter().enumerate() {
        if !tx.query(&prepared.statement, &row.values())?.is_empty() {
            written.push(i64::try_from(n + 1).unwrap_or(i64::MAX));
        }
    }
    tx.commit()?;
    Ok(written)
}

impl<R: Row> Sink for TableSink<R> {
    type Item = R;
    type Error = PostgresError;

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

    fn write_batch(
        &mut self,
        items: &[R],
    ) -> Result<Vec<ItemOutcome<PostgresError>>, PostgresError> {
        let types = self.column_types()?;
        let mut outcomes: Vec<Option<ItemOutcome<PostgresError>>> = Vec::with_capacity(items.len());
        let mut sent: Vec<(usize, &R)> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match self.preflight(item, &types) {
                Ok(()) => {
                    sent.push((i, item));
                    outcomes.push(None);
                }
                Err(e) => outcomes.push(Some(ItemOutcome::Failed(e))),
            }
        }
        if !sent.is_empty() {
            let rows: Vec<&R> = sent.iter().map(|(_, r)| *r).collect();
            let method = self.method;
            let written = self.with_prepared(|client, prepared, spec| match method {
                WriteMethod::Unnest => write_unnest(client, prepared, spec, &rows),
                WriteMethod::Copy => write_copy(client, prepared, &rows),
                WriteMethod::PerRow => write_per_row(client, prepared, &rows),
            })?;
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
                    ItemOutcome::Conflict
                });
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or(ItemOutcome::Conflict))
            .collect())
    }
}
