//! A connection the server terminates (SQLSTATE 57P01) is retried and
//! reopened lazily: nothing is lost, nothing is written twice.

mod common;

use std::time::Duration;

use batch_core::BatcherSettings;
use batch_postgres::{Connector, DocumentRow, PostgreSQLBatchInserter};
use common::{METHODS, client, count, drop_table, table, unique};

#[test]
fn terminated_backend_is_reconnected_and_nothing_is_lost() {
    for method in METHODS {
        let t = table("docs_terminated");
        let app = unique("uds3_term");
        let mut config = common::config();
        config.application_name(&app);
        let connector = Connector::no_tls(config);
        let settings = BatcherSettings::builder()
            .batch_size(10)
            .build()
            .expect("settings");
        let ins = PostgreSQLBatchInserter::with_method(connector, t.clone(), method, settings)
            .expect("inserter");
        ins.ensure_schema().expect("schema");
        for round in 0..3 {
            let terminated: i64 = client()
                .query_one(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                    &[&app],
                )
                .expect("terminate")
                .get(0);
            assert!(
                terminated >= 1,
                "{method:?}: the inserter's backend was found"
            );
            for i in 0..25 {
                ins.add(DocumentRow::new(format!("t{round}-{i}"), "/p", "c", 1, 1))
                    .expect("add");
            }
            let report = ins.flush();
            assert!(report.is_complete(), "{method:?}: {report:?}");
        }
        let stats = ins.close(Duration::from_secs(30));
        assert!(stats.is_complete());
        let stats = ins.stats();
        assert_eq!(count(&mut client(), &t), 75, "{method:?}");
        assert_eq!(
            (stats.total_added, stats.total_failed),
            (75, 0),
            "{method:?}"
        );
        assert!(stats.total_retries >= 3, "{method:?}: {stats:?}");
        drop_table(&mut client(), &t);
    }
}
