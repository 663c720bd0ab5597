//! Secrets stay out of what the library shows (issue 32), no server
//! needed: a database handle built from a URL with a password shows it
//! neither in `Debug` nor in the message of a refused URL or a failed
//! request; and a percent-encoded password is sent decoded.

use batch_core::testing::authorization_probe::AuthorizationProbe;
use batch_couch::CouchDatabase;
use test_support::secrets::{
    PASSWORD, assert_error_hides, assert_hidden, assert_refusals_hide, refused_http_urls,
};

#[test]
fn the_password_is_masked() {
    let url = format!("http://admin:{PASSWORD}@127.0.0.1:1/prefix");
    let db = CouchDatabase::new(&url, "docs").expect("database");
    assert_hidden(&format!("{db:?}"), &[PASSWORD]);
    assert_hidden(db.server_url(), &[PASSWORD]);
    // Nothing listens on port 1: the refused request's error.
    let err = db.create_if_missing().expect_err("nothing listens");
    assert_error_hides(&err, &[PASSWORD]);
    assert_refusals_hide(&refused_http_urls(), Some("admin:***@"), |url| {
        CouchDatabase::new(url, "docs")
    });
}

#[test]
fn a_percent_encoded_password_is_sent_decoded() {
    let probe = AuthorizationProbe::start();
    let db = CouchDatabase::new(&probe.url("admin:p%40ss"), "docs").expect("database");
    assert!(db.create_if_missing().expect("the probe answers"));
    // base64 of `admin:p@ss`.
    assert_eq!(probe.received().as_deref(), Some("Basic YWRtaW46cEBzcw=="));
}
