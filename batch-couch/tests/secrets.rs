//! Secrets stay out of what the library shows (issue 32), no server
//! needed: a database handle built from a URL with a password shows it
//! neither in `Debug` nor in the message of a refused URL or a failed
//! request; and a percent-encoded password is sent decoded.

use batch_core::testing::authorization_probe::AuthorizationProbe;
use batch_couch::CouchDatabase;

const PASSWORD: &str = "pw-S3cret";

fn assert_hidden(shown: &str) {
    assert!(!shown.contains(PASSWORD), "the password shows in {shown}");
}

#[test]
fn the_password_is_masked() {
    let url = format!("http://admin:{PASSWORD}@127.0.0.1:1/prefix");
    let db = CouchDatabase::new(&url, "docs").expect("database");
    assert_hidden(&format!("{db:?}"));
    assert_hidden(db.server_url());
    // Nothing listens on port 1: the refused request's error.
    let err = db.create_if_missing().expect_err("nothing listens");
    assert_hidden(&err.to_string());
    assert_hidden(&format!("{err:?}"));
    for refused in [
        format!("admin:{PASSWORD}@127.0.0.1:1"),
        format!("ftp://admin:{PASSWORD}@127.0.0.1:1"),
        format!("http://admin:{PASSWORD}@:1"),
        format!("http://admin:{PASSWORD}%FF@127.0.0.1:1"),
        format!("http://admin:{PASSWORD}@127.0.0.1:99999"),
        format!("http://admin:pa/{PASSWORD}@127.0.0.1:1"),
    ] {
        let err = CouchDatabase::new(&refused, "docs").expect_err(&refused);
        assert_hidden(&err.to_string());
        assert_hidden(&format!("{err:?}"));
        assert!(err.to_string().contains("admin:***@"), "{err}");
    }
}

#[test]
fn a_percent_encoded_password_is_sent_decoded() {
    let probe = AuthorizationProbe::start();
    let db = CouchDatabase::new(&probe.url("admin:p%40ss"), "docs").expect("database");
    assert!(db.create_if_missing().expect("the probe answers"));
    // base64 of `admin:p@ss`.
    assert_eq!(probe.received().as_deref(), Some("Basic YWRtaW46cEBzcw=="));
}
