//! `CypherSession` against the test server, read-only: scalars, and a
//! list of maps as `UNWIND $rows` takes them, travel as parameters,
//! auto-commit and in a transaction.

mod common;

use std::time::Duration;

use batch_neo4j::{CypherParams, CypherSession, CypherValue, PropertyValue};

#[test]
fn parameters_travel_as_values_both_ways() {
    let config = common::config().timeout(Duration::from_secs(10));
    let mut session = CypherSession::connect(config).expect("connects");
    let cypher = "RETURN $x AS x, size($rows) AS n, $rows[1].name AS name";
    let params = || {
        let rows = vec![
            CypherValue::from([("name", "a".into())]),
            CypherValue::from([("name", "it's `b`".into()), ("gone", CypherValue::Null)]),
        ];
        CypherParams::from([("x".to_owned(), 7.into()), ("rows".to_owned(), rows.into())])
    };
    let expected = vec![vec![
        Some(PropertyValue::Int(7)),
        Some(PropertyValue::Int(2)),
        Some(PropertyValue::from("it's `b`")),
    ]];
    assert_eq!(
        session.run(cypher, params()).expect("auto-commit"),
        expected
    );
    assert_eq!(
        session
            .run_in_transaction(cypher, params)
            .expect("in a transaction"),
        expected
    );
}
