//! Across a network every round trip costs a batch the network's round
//! trip time: a batch is one round trip (the prepared upsert, autocommit),
//! and a connection prepares once, at its first batch, in two. Counted by a relay
//! between the inserter and the real server
//! (`test_support::relay::Relay::turns`), never timed.

mod common;

use std::time::Duration;

use batch_core::BatcherSettings;
use batch_postgres::DocumentRow;
use common::{client, count, drop_table, table, through_relay};

fn rows(range: std::ops::Range<u32>) -> impl Iterator<Item = DocumentRow> {
    range.map(|d| DocumentRow::new(format!("d{d}"), "/p", "c", 1, 1))
}

#[test]
fn a_batch_is_one_round_trip_once_its_connection_has_prepared() {
    let t = table("docs_turns");
    let settings = BatcherSettings::builder().batch_size(10).build();
    let (relay, ins) = through_relay(&t, settings.expect("settings"));
    let connected = relay.turns();
    for row in rows(0..10) {
        ins.add(row).expect("add");
    }
    assert!(ins.flush().is_complete());
    let first = relay.turns() - connected;
    let mut later = Vec::new();
    for k in 1..4 {
        let before = relay.turns();
        for row in rows(k * 10..k * 10 + 10) {
            ins.add(row).expect("add");
        }
        assert!(ins.flush().is_complete());
        later.push(relay.turns() - before);
    }
    assert_eq!(count(&mut client(), &t), 40);
    assert_eq!(later, [1, 1, 1], "one round trip per batch");
    // The column probe together with the array types, the upsert's
    // prepare, then the batch (five before the first two went together
    // and the array types stopped preparing a statement of their own).
    assert_eq!(first, 3, "the connection's first batch prepares");
    assert_eq!(relay.connections(), 1);
    drop(ins);
    drop_table(&mut client(), &t);
}

#[test]
fn adaptive_siblings_connect_and_prepare_before_their_first_batch() {
    let t = table("docs_turns_ahead");
    let settings = BatcherSettings::builder()
        .batch_size(10)
        .max_in_flight(4)
        .adaptive_concurrency(true)
        .build();
    let (relay, ins) = through_relay(&t, settings.expect("settings"));
    // Nothing added yet: the three siblings connect and prepare as the
    // inserter starts (before, each did so inside its first batch, three
    // round trips where a batch needs one).
    let ready = relay
        .settle(4, Duration::from_millis(300), Duration::from_secs(30))
        .unwrap_or_else(|seen| {
            panic!("siblings did not connect ahead: {seen:?} (connections, turns)")
        });
    for row in rows(0..400) {
        ins.add(row).expect("add");
    }
    assert!(ins.flush().is_complete());
    assert_eq!(count(&mut client(), &t), 400);
    assert_eq!(relay.turns() - ready, 40, "every batch one round trip");
    assert_eq!(relay.connections(), 4);
    drop(ins);
    drop_table(&mut client(), &t);
}
