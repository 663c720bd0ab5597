//! PostgreSQL: the library's one-statement upserts against the same
//! statement sent without it, and against `COPY` of the same rows.

use std::io::Write as _;
use std::time::{Duration, Instant, SystemTime};

use batch_postgres::{
    Connector, DocumentRow, PostgreSQLBatchInserter, Row, TableName, TableSink, WriteMethod,
    documents_spec,
};

use batch_postgres::postgres::binary_copy::BinaryCopyInWriter;
use batch_postgres::postgres::types::Type;
use test_support::test_servers::Endpoints;

use crate::backend::Backend;
use crate::drive::{CLOSE_TIMEOUT, Run, drive_many, timed};
use crate::mode::{Mode, Profile};

pub struct Postgres {
    url: String,
    /// The same server with `sslmode=verify-full` and the test CA.
    tls_url: String,
    run_no: u64,
}

impl Postgres {
    pub fn new(endpoints: &Endpoints) -> Self {
        Self {
            url: plaintext_url(endpoints),
            tls_url: endpoints.postgres_tls_libpq_url(),
            run_no: 0,
        }
    }
}

/// The server's URL with `sslmode=disable` unless it names a mode:
/// plaintext means plaintext (without `sslmode`, the default, `prefer`,
/// would take the TLS the test server also offers).
pub fn plaintext_url(endpoints: &Endpoints) -> String {
    let url = &endpoints.postgres_url;
    if url.contains("sslmode=") {
        url.clone()
    } else if url.contains('?') {
        format!("{url}&sslmode=disable")
    } else {
        format!("{url}?sslmode=disable")
    }
}

fn rows(items: usize) -> Vec<DocumentRow> {
    (0..items as u64).map(row).collect()
}

/// The bench's document row number `i` (its id `doc-{i:08}`, unique per
/// `i`); the soak makes its rows with it too.
pub fn row(i: u64) -> DocumentRow {
    DocumentRow::new(
        format!("doc-{i:08}"),
        format!("/corpus/{}/urteil-{i}.txt", 1990 + i % 35),
        ["judgment", "statute", "decree", "contract"][(i % 4) as usize],
        (1000 + i * 7 % 5000) as i64,
        (i % 40) as i64,
    )
    .created_at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + i))
    .quality_score((i % 100) as f64 / 100.0)
}

const PROFILE: Profile = Profile {
    name: "postgres",
    claimed: "50-100x",
    batch_sizes: &[10, 100, 1000],
    per_item: (500, 1000),
    batched: (10_000, 20_000),
    large: (20_000, 300_000),
};

impl Backend for Postgres {
    fn profile(&self) -> &'static Profile {
        &PROFILE
    }

    fn insert_only(&self) -> bool {
        true
    }

    fn durable(&self) -> bool {
        true
    }

    fn run(&mut self, mode: Mode, items: usize) -> Result<Run, String> {
        self.run_no += 1;
        let name = format!("bench_documents_{}_{}", std::process::id(), self.run_no);
        let url = if mode.is_tls() {
            &self.tls_url
        } else {
            &self.url
        };
        let connector = Connector::from_url(url).map_err(|e| e.to_string())?;
        let mut client = connector.connect().map_err(|e| e.to_string())?;
        let table = TableName::new(name.clone()).map_err(|e| e.to_string())?;
        client
            .batch_execute(&batch_postgres::create_documents_table(&table))
            .map_err(|e| e.to_string())?;
        let rows = rows(items);
        let run = match mode {
            Mode::Raw(batch_size) => {
                // The library's own statement (its UNNEST upsert, as the
                // sink prepares it), one execution per batch, one array
                // per column, on a plain connection.
                let sql = statement_sql(&connector, &table, WriteMethod::Unnest)?;
                // From nothing, as a new inserter starts: connect, prepare.
                let started = Instant::now();
                let mut client = connector.connect().map_err(|e| e.to_string())?;
                let statement = client.prepare(&sql).map_err(|e| e.to_string())?;
                let mut requests = 0;
                for chunk in rows.chunks(batch_size.max(1)) {
                    send_unnest(&mut client, &statement, chunk)?;
                    requests += 1;
                }
                // Freed on the clock, as a library run frees its rows.
                drop(rows);
                Run {
                    items,
                    seconds: started.elapsed().as_secs_f64(),
                    requests,
                    add_us: None,
                    handoff: None,
                }
            }
            Mode::RawInsertOnly(batch_size) => {
                // The insert-only method's own statement (binary COPY
                // straight into the table, as the sink prepares it), one
                // COPY per batch, on a plain connection.
                let sql = statement_sql(&connector, &table, WriteMethod::CopyInsert)?;
                let types = [
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::INT8,
                    Type::INT8,
                    Type::TIMESTAMPTZ,
                    Type::FLOAT8,
                    Type::TEXT,
                ];
                let started = Instant::now();
                let mut client = connector.connect().map_err(|e| e.to_string())?;
                let mut requests = 0;
                for chunk in rows.chunks(batch_size.max(1)) {
                    let copy = client.copy_in(&sql).map_err(|e| e.to_string())?;
                    let mut writer = BinaryCopyInWriter::new(copy, &types);
                    for r in chunk {
                        writer.write(&r.values()).map_err(|e| e.to_string())?;
                    }
                    writer.finish().map_err(|e| e.to_string())?;
                    requests += 1;
                }
                // Freed on the clock, as a library run frees its rows.
                drop(rows);
                Run {
                    items,
                    seconds: started.elapsed().as_secs_f64(),
                    requests,
                    add_us: None,
                    handoff: None,
                }
            }
            Mode::Ceiling => {
                let mut text = String::with_capacity(items * 120);
                for r in &rows {
                    let created = r
                        .created_at
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map_err(|e| e.to_string())?;
                    text.push_str(&format!(
                        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                        r.document_id,
                        r.file_path,
                        r.classification,
                        r.content_length,
                        r.legal_terms_count,
                        to_timestamp(created.as_secs()),
                        r.quality_score.map_or("\\N".to_owned(), |q| q.to_string()),
                        r.processing_status,
                    ));
                }
                let started = Instant::now();
                let mut writer = client
                    .copy_in(&format!(
                        "COPY {} (document_id, file_path, classification, content_length, legal_terms_count, created_at, quality_score, processing_status) FROM STDIN",
                        table.quoted()
                    ))
                    .map_err(|e| e.to_string())?;
                writer
                    .write_all(text.as_bytes())
                    .map_err(|e| e.to_string())?;
                writer.finish().map_err(|e| e.to_string())?;
                Run {
                    items,
                    seconds: started.elapsed().as_secs_f64(),
                    requests: 1,
                    add_us: None,
                    handoff: None,
                }
            }
            _ => {
                let (settings, _buffer) = mode.settings("bench-postgres")?;
                let method = if matches!(mode, Mode::InsertOnly(_)) {
                    WriteMethod::CopyInsert
                } else {
                    WriteMethod::default()
                };
                let (inserter, setup) = timed(|| {
                    PostgreSQLBatchInserter::with_method(connector, table.clone(), method, settings)
                        .map_err(|e| e.to_string())
                })?;
                drive_many(
                    rows,
                    mode,
                    |row| inserter.add(row).map_err(|f| f.to_string()),
                    |rows| inserter.add_many(rows).map_err(|f| f.to_string()),
                    || {
                        (
                            inserter.close(CLOSE_TIMEOUT),
                            inserter.stats(),
                            inserter.timings(),
                        )
                    },
                )?
                .after_setup(setup)
            }
        };
        let count: i64 = client
            .query_one(&format!("SELECT count(*) FROM {}", table.quoted()), &[])
            .map_err(|e| e.to_string())?
            .get(0);
        client
            .batch_execute(&format!("DROP TABLE {}", table.quoted()))
            .map_err(|e| e.to_string())?;
        if count != items as i64 {
            return Err(format!("{count} of {items} rows in the table"));
        }
        Ok(run)
    }
}

/// Sends `chunk` with the library's UNNEST upsert `statement` (prepared
/// from [`statement_sql`]), one array per column, as its sink does.
pub fn send_unnest(
    client: &mut batch_postgres::postgres::Client,
    statement: &batch_postgres::postgres::Statement,
    chunk: &[DocumentRow],
) -> Result<(), String> {
    let ids: Vec<&str> = chunk.iter().map(|r| r.document_id.as_str()).collect();
    let paths: Vec<&str> = chunk.iter().map(|r| r.file_path.as_str()).collect();
    let classes: Vec<&str> = chunk.iter().map(|r| r.classification.as_str()).collect();
    let lengths: Vec<i64> = chunk.iter().map(|r| r.content_length).collect();
    let terms: Vec<i64> = chunk.iter().map(|r| r.legal_terms_count).collect();
    let created: Vec<SystemTime> = chunk.iter().map(|r| r.created_at).collect();
    let scores: Vec<Option<f64>> = chunk.iter().map(|r| r.quality_score).collect();
    let status: Vec<&str> = chunk.iter().map(|r| r.processing_status.as_str()).collect();
    client
        .query(
            statement,
            &[
                &ids, &paths, &classes, &lengths, &terms, &created, &scores, &status,
            ],
        )
        .map(drop)
        .map_err(|e| e.to_string())
}

/// The SQL a sink of `method` runs for each batch, as it prepares it.
pub fn statement_sql(
    connector: &Connector,
    table: &TableName,
    method: WriteMethod,
) -> Result<String, String> {
    let spec = documents_spec(table.clone()).map_err(|e| e.to_string())?;
    TableSink::<DocumentRow>::new(connector.clone(), spec)
        .with_method(method)
        .statement_sql()
        .map_err(|e| e.to_string())
}

/// `YYYY-MM-DD HH:MM:SS+00` for seconds since the epoch (civil-from-days).
fn to_timestamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}+00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
