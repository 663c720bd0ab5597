//! `sslmode` against the test server, which runs with `ssl=on` (a
//! certificate for `localhost` and `127.0.0.1` signed by the test CA): the
//! kit's TLS matrix (`test_support::kit::tls`) with `verify-full` and
//! `sslrootcert`, and what the other modes do.

#![cfg(feature = "tls")]

mod common;

use batch_postgres::Connector;
use common::tls::url;
use test_support::kit::tls::{UNNAMED_HOST, refused, relayed};
use test_support::test_servers::{Service, require_tls};

test_support::tls_matrix!(common::Postgres, tls_negotiated_on_the_plaintext_port);

/// Whether a session through `url` runs over TLS (`pg_stat_ssl`).
fn session_is_tls(url: &str) -> bool {
    Connector::from_url(url)
        .expect("connector")
        .connect()
        .expect("connect")
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .expect("pg_stat_ssl")
        .get(0)
}

#[test]
fn an_untrusted_certificate_is_fatal_in_the_other_verifying_modes() {
    let ep = require_tls(Service::Postgres);
    for mode in ["verify-ca", "require"] {
        refused::<common::Postgres>(&url(&ep, mode), Some(&ep.other_ca_file))
            .assert_fatal(1, &["unknown issuer"]);
    }
}

#[test]
fn verify_ca_ignores_the_host_name() {
    let ep = require_tls(Service::Postgres);
    let with_ca = format!(
        "{}&sslrootcert={}",
        url(&ep, "verify-ca"),
        ep.ca_file.display()
    );
    let (_relay, unnamed) = relayed(&with_ca, UNNAMED_HOST.into(), &UNNAMED_HOST.to_string());
    assert!(session_is_tls(&unnamed), "verify-ca ignores the host name");
}

#[test]
fn every_mode_but_disable_encrypts() {
    let ep = require_tls(Service::Postgres);
    let verified = format!(
        "{}&sslrootcert={}",
        url(&ep, "verify-full"),
        ep.ca_file.display()
    );
    assert!(session_is_tls(&verified), "sslmode=verify-full");
    assert!(session_is_tls(&url(&ep, "require")), "sslmode=require");
    assert!(!session_is_tls(&url(&ep, "disable")), "sslmode=disable");
}
