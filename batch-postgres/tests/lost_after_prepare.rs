//! A connection that ends right after its statements were prepared (the
//! client reads the answer and the end of the connection together): the
//! statements went with it, and the reconnected session prepares its own.
//! Before, the new session was handed the old one's statements, so every
//! write failed with SQLSTATE 26000 ("prepared statement does not exist"),
//! a permanent error: the whole batch came back failed (seen in the
//! failover test under load).

mod common;

use std::time::Duration;

use batch_core::{BatcherSettings, RetryPolicy};
use batch_postgres::{DocumentRow, WriteMethod};
use common::{client, count, drop_table, table, through_relay_with};

const ROWS: u32 = 40;

#[test]
fn statements_prepared_on_a_lost_connection_are_prepared_again() {
    for method in [
        WriteMethod::Unnest,
        WriteMethod::Copy,
        WriteMethod::PerRow,
        WriteMethod::CopyInsert,
    ] {
        let t = table("docs_lost_after_prepare");
        let retry = RetryPolicy::new(
            5,
            Duration::from_millis(10),
            Duration::from_millis(50),
            Duration::from_secs(30),
        )
        .expect("retry");
        let settings = BatcherSettings::builder()
            .batch_size(ROWS as usize)
            .retry(retry)
            .build()
            .expect("settings");
        let (relay, ins) = through_relay_with(&t, method, settings);
        // The statement a connection prepares last, before its first write.
        let last_prepared: &[u8] = if method == WriteMethod::CopyInsert {
            b"COPY"
        } else {
            b"INSERT INTO"
        };
        relay.cut_after_answer_to(last_prepared);
        for d in 0..ROWS {
            ins.add(DocumentRow::new(format!("d{d}"), "/p", "c", 1, 1))
                .expect("add");
        }
        let report = ins.flush();
        assert!(
            relay.cut_done(),
            "{method:?}: the relay never saw the prepare"
        );
        let errors: Vec<String> = report.failed.iter().map(|f| f.error.to_string()).collect();
        assert!(
            report.is_complete(),
            "{method:?}: {} failed, e.g. {:?}",
            errors.len(),
            errors.first()
        );
        let stats = ins.stats();
        assert_eq!(
            count(&mut client(), &t),
            i64::from(ROWS),
            "{method:?}: rows in the table"
        );
        assert_eq!(
            (stats.total_added, stats.total_conflicts, stats.total_failed),
            (u64::from(ROWS), 0, 0),
            "{method:?}: {stats:?}"
        );
        assert!(relay.connections() >= 2, "{method:?}: reconnected");
        drop(ins);
        drop_table(&mut client(), &t);
    }
}
