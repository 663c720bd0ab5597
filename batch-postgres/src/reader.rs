//! `PostgreSQLBatchReader`: UDS3 v2.3's batch reader, one `SELECT` joined
//! with `unnest($1)` of the ids per chunk of ids.

use batch_core::read::{BatchReader, ReadSource};
use postgres::Statement;

use crate::connector::{Connector, Elapsed, Session};
use crate::documents::{DOCUMENT_COLUMNS, DocumentRow};
use crate::error::{Phase, PostgresError};
use crate::ident::TableName;

/// Ids per `SELECT`: one array parameter carries them, so the limit is
/// the answer's size.
pub const MAX_IDS_PER_READ: usize = 10_000;

/// Reads many rows of a documents table by `document_id`.
///
/// ```no_run
/// use batch_postgres::{Connector, DocumentsTable, PostgreSQLBatchReader, TableName};
///
/// let connector = Connector::from_url("postgres://ingest@127.0.0.1:5432/app")?;
/// let table = TableName::new("documents")?;
/// let reader = PostgreSQLBatchReader::new(DocumentsTable::new(connector, table));
/// let rows = reader.get_many(&["doc-1", "doc-2"])?;
/// println!("{} found, missing {:?}", rows.found.len(), rows.missing);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type PostgreSQLBatchReader = BatchReader<DocumentsTable>;

/// A documents table to read from: its connector, and the connection and
/// prepared statements of the reads (opened at the first read).
pub struct DocumentsTable {
    connector: Connector,
    table: TableName,
    live: Option<Live>,
}

struct Live {
    session: Session,
    rows: Statement,
    ids: Statement,
}

impl std::fmt::Debug for DocumentsTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentsTable")
            .field("target", &self.connector.target())
            .field("table", &self.table)
            .field("connected", &self.live.is_some())
            .finish()
    }
}

impl DocumentsTable {
    /// The table `table` on the server `connector` reaches. Sends nothing.
    pub fn new(connector: Connector, table: TableName) -> Self {
        Self {
            connector,
            table,
            live: None,
        }
    }

    /// The table read.
    pub fn table(&self) -> &TableName {
        &self.table
    }

    /// A connection, and the statements prepared on it.
    fn open(&self) -> Result<Live, PostgresError> {
        let session = self.connector.open()?;
        let table = self.table.quoted();
        // A join with the unnested ids, not `= ANY($1)`: on a table
        // without statistics (fresh, or never analyzed) `= ANY` took
        // 1.0 ms for 100 ids against 0.14 ms for the join.
        let ids = "JOIN unnest($1::text[]) AS wanted(id) ON document_id = wanted.id";
        let rows_sql = format!("SELECT {} FROM {table} {ids}", DOCUMENT_COLUMNS.join(", "));
        let ids_sql = format!("SELECT document_id FROM {table} {ids}");
        let prepared = session
            .runtime
            .within(self.connector.request_timeout(), async {
                Ok::<_, postgres::Error>((
                    session.client.prepare(&rows_sql).await?,
                    session.client.prepare(&ids_sql).await?,
                ))
            });
        let closed = session.client.is_closed();
        let (rows, ids) = self
            .connector
            .settle(prepared, Phase::Read, closed, false)?;
        Ok(Live { session, rows, ids })
    }

    /// Runs `statement` (rows or ids) with `ids` as `$1`, on the open
    /// connection or a new one; a connection that failed or timed out is
    /// dropped, so the next try opens a new one.
    fn query(
        &mut self,
        ids: &[String],
        which: fn(&Live) -> &Statement,
    ) -> Result<Vec<postgres::Row>, PostgresError> {
        let live = match self.live.take() {
            Some(live) => live,
            None => self.open()?,
        };
        let result = live.session.runtime.within(
            self.connector.request_timeout(),
            live.session.client.query(which(&live), &[&ids]),
        );
        let keep = match &result {
            Ok(Ok(_)) => true,
            Err(Elapsed) => false,
            Ok(Err(_)) => !live.session.client.is_closed(),
        };
        let closed = !keep;
        if keep {
            self.live = Some(live);
        }
        self.connector.settle(result, Phase::Read, closed, false)
    }
}

impl ReadSource for DocumentsTable {
    type Value = DocumentRow;
    type Error = PostgresError;
    const BACKEND: &'static str = "postgres";
    const MAX_IDS_PER_REQUEST: usize = MAX_IDS_PER_READ;

    fn check_id(&self, id: &str) -> Result<(), String> {
        if id.contains('\0') {
            return Err("PostgreSQL text cannot hold a NUL character".to_owned());
        }
        Ok(())
    }

    fn read(&mut self, ids: &[String]) -> Result<Vec<(String, DocumentRow)>, PostgresError> {
        self.query(ids, |live| &live.rows)?
            .iter()
            .map(|row| {
                let decoded = DocumentRow::from_row(row).map_err(|e| {
                    PostgresError::Schema(format!(
                        "a row of {} does not read as a document row: {e}",
                        self.table.quoted()
                    ))
                })?;
                Ok((decoded.document_id.clone(), decoded))
            })
            .collect()
    }

    fn exists(&mut self, ids: &[String]) -> Result<Vec<String>, PostgresError> {
        self.query(ids, |live| &live.ids)?
            .iter()
            .map(|row| {
                row.try_get::<_, String>(0).map_err(|e| {
                    PostgresError::Schema(format!(
                        "a document_id of {} does not read as text: {e}",
                        self.table.quoted()
                    ))
                })
            })
            .collect()
    }
}
