//! Secrets stay out of what the library shows (issue 32), no server
//! needed: a connector built from a URL with a password shows it neither
//! in `Debug` nor in the message of a failed connection or a refused
//! connection string.

use batch_postgres::Connector;

const PASSWORD: &str = "pw-S3cret";

fn assert_hidden(shown: &str) {
    assert!(!shown.contains(PASSWORD), "the password shows in {shown}");
}

#[test]
fn the_password_is_masked() {
    for connector in [
        Connector::from_url(&format!("postgres://u:{PASSWORD}@127.0.0.1:1/db")),
        Connector::from_env(&format!(
            "host=127.0.0.1 port=1 user=u password={PASSWORD} sslmode=disable"
        )),
    ] {
        let connector = connector.expect("connector");
        assert_hidden(&format!("{connector:?}"));
        assert_hidden(connector.target());
        // Nothing listens on port 1: the refused connection's error.
        let Err(err) = connector.connect() else {
            panic!("nothing listens on port 1, yet it connected");
        };
        assert_hidden(&err.to_string());
        assert_hidden(&format!("{err:?}"));
    }
    for refused in [
        format!("u:{PASSWORD}@127.0.0.1:1"),
        format!("http://u:{PASSWORD}@127.0.0.1:1"),
        format!("postgres://u:{PASSWORD}@127.0.0.1:notaport/db"),
        format!("postgres://u:{PASSWORD}@127.0.0.1/db?sslmode=sometimes"),
    ] {
        let err = Connector::from_url(&refused).expect_err(&refused);
        assert_hidden(&err.to_string());
        assert_hidden(&format!("{err:?}"));
    }
}
