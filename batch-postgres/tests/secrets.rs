//! Secrets stay out of what the library shows (issue 32), no server
//! needed: a connector built from a URL with a password shows it neither
//! in `Debug` nor in the message of a failed connection or a refused
//! connection string.

use batch_postgres::Connector;
use test_support::secrets::{PASSWORD, assert_error_hides, assert_hidden, assert_refusals_hide};

#[test]
fn the_password_is_masked() {
    for connector in [
        Connector::from_url(&format!("postgres://u:{PASSWORD}@127.0.0.1:1/db")),
        Connector::from_env(&format!(
            "host=127.0.0.1 port=1 user=u password={PASSWORD} sslmode=disable"
        )),
    ] {
        let connector = connector.expect("connector");
        assert_hidden(&format!("{connector:?}"), &[PASSWORD]);
        assert_hidden(connector.target(), &[PASSWORD]);
        // Nothing listens on port 1: the refused connection's error.
        let Err(err) = connector.connect() else {
            panic!("nothing listens on port 1, yet it connected");
        };
        assert_error_hides(&err, &[PASSWORD]);
    }
    let refused = [
        format!("u:{PASSWORD}@127.0.0.1:1"),
        format!("http://u:{PASSWORD}@127.0.0.1:1"),
        format!("postgres://u:{PASSWORD}@127.0.0.1:notaport/db"),
        format!("postgres://u:{PASSWORD}@127.0.0.1/db?sslmode=sometimes"),
    ];
    assert_refusals_hide(&refused, None, Connector::from_url);
}
