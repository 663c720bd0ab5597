//! The soak's tables on the server: made, counted, and dropped however
//! the run ends.

use batch_postgres::{Connector, TableName};

/// Drops the soak's table when the run ends, however it ends, so that the
/// shared server does not fill up.
pub(crate) struct DropTable {
    pub(crate) connector: Connector,
    pub(crate) table: TableName,
}

impl Drop for DropTable {
    fn drop(&mut self) {
        let sql = format!("DROP TABLE IF EXISTS {}", self.table.quoted());
        if let Err(e) = execute(&self.connector, &sql) {
            eprintln!("soak: could not drop {}: {e}", self.table.quoted());
        }
    }
}

/// Runs `sql` on a connection of its own.
pub(crate) fn execute(connector: &Connector, sql: &str) -> Result<(), String> {
    let mut client = connector.connect().map_err(|e| e.to_string())?;
    client.batch_execute(sql).map_err(|e| e.to_string())
}

/// `count(*)` of `table`, on a connection of its own.
pub(crate) fn count_rows(connector: &Connector, table: &TableName) -> Result<u64, String> {
    let count: i64 = connector
        .connect()
        .map_err(|e| e.to_string())
        .and_then(|mut c| {
            c.query_one(&format!("SELECT count(*) FROM {}", table.quoted()), &[])
                .map_err(|e| e.to_string())
        })
        .map_err(|e| format!("counting the rows of {}: {e}", table.quoted()))?
        .get(0);
    Ok(u64::try_from(count).unwrap_or(0))
}
