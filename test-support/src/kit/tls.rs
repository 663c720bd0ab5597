//! The TLS matrix against a backend's TLS endpoint ([`require_tls`]: a
//! certificate for `localhost` and `127.0.0.1` signed by the test CA):
//! writes land over TLS; an unrelated CA, the public roots alone, a host
//! name the certificate lacks and plaintext to the TLS port are each
//! fatal, name the server and why, and are tried once (one connection;
//! two where the client then probes which protocol the port speaks); a CA
//! file that cannot be read is named, and nothing is sent. Every refusal
//! goes through a [`Relay`], which counts the connections.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use batch_core::{BatcherSettings, ErrorClass, SinkError};

use super::{Backend, batches_of, write_through};
use crate::relay::Relay;
use crate::test_servers::{TlsEndpoint, require_tls};

/// A loopback address the test certificate does not name (all of
/// 127.0.0.0/8 loops back).
pub const UNNAMED_HOST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// A backend reached over TLS: how to make an inserter through a given URL
/// trusting a given CA file.
pub trait TlsBackend: Backend {
    /// The scheme a plaintext client is told to use on the TLS port.
    const TLS_SCHEME: &'static str = "https://";

    /// The URL the matrix reaches the endpoint by (default: its URL).
    fn url(endpoint: &TlsEndpoint) -> String {
        endpoint.url.clone()
    }

    /// `url` without TLS, same host and port (default: `http://`).
    fn plaintext(url: &str) -> String {
        url.replacen("https://", "http://", 1)
    }

    /// An inserter writing to `target` through the server at `url`,
    /// trusting the CA file `ca` alone, or Mozilla's public roots alone
    /// when `None`. `Err` ([`Refusal::of`]) for a backend that reads its
    /// CA file or connects when the inserter is made.
    fn inserter_via(
        url: &str,
        ca: Option<&Path>,
        target: &Self::Target,
        settings: BatcherSettings,
    ) -> Result<Self::Inserter, Refusal>;
}

/// Trust in the CA file `ca` alone, or in Mozilla's public roots alone
/// when `None`: what [`TlsBackend::inserter_via`] is asked for.
pub fn trusting(ca: Option<&Path>) -> batch_core::tls::TlsSettings {
    let settings = batch_core::tls::TlsSettings::new();
    match ca {
        Some(ca) => settings.public_roots(false).ca_file(ca),
        None => settings,
    }
}

/// A refused TLS connection.
#[derive(Debug)]
pub struct Refusal {
    /// The error's class.
    pub class: ErrorClass,
    /// The error's text.
    pub text: String,
    /// `host:port` the client dialed (filled in by [`refused`]).
    pub server: String,
    /// Connections the client opened (filled in by [`refused`]).
    pub connections: u64,
}

impl Refusal {
    /// The refusal `error` stands for.
    pub fn of(error: &impl SinkError) -> Self {
        Self {
            class: error.class(),
            text: error.to_string(),
            server: String::new(),
            connections: 0,
        }
    }

    /// Asserts a fatal error naming the server and each of `words`, after
    /// `connections` connections.
    pub fn assert_fatal(&self, connections: u64, words: &[&str]) {
        assert_eq!(self.class, ErrorClass::Fatal, "{}", self.text);
        for word in [self.server.as_str()].iter().chain(words) {
            assert!(self.text.contains(word), "{word:?} not in: {}", self.text);
        }
        assert_eq!(self.connections, connections, "tried once: {}", self.text);
    }
}

/// Declares the TLS matrix's tests for backend `$backend` (a type
/// implementing [`TlsBackend`]) in the calling test file. With
/// `tls_negotiated_on_the_plaintext_port` (PostgreSQL), there is no
/// TLS-only port to speak plaintext to, and that test is left out.
#[macro_export]
macro_rules! tls_matrix {
    ($backend:ty, tls_negotiated_on_the_plaintext_port) => {
        #[test]
        fn writes_land_over_tls() {
            $crate::kit::tls::writes_land_over_tls::<$backend>();
        }

        #[test]
        fn an_unrelated_ca_is_fatal_and_names_the_host() {
            $crate::kit::tls::an_unrelated_ca_is_fatal_and_names_the_host::<$backend>();
        }

        #[test]
        fn public_roots_alone_do_not_trust_the_test_ca() {
            $crate::kit::tls::public_roots_alone_do_not_trust_the_test_ca::<$backend>();
        }

        #[test]
        fn a_host_name_the_certificate_lacks_is_fatal() {
            $crate::kit::tls::a_host_name_the_certificate_lacks_is_fatal::<$backend>();
        }

        #[test]
        fn an_unreadable_ca_file_is_named_and_nothing_is_sent() {
            $crate::kit::tls::an_unreadable_ca_file_is_named_and_nothing_is_sent::<$backend>();
        }
    };
    ($backend:ty) => {
        $crate::tls_matrix!($backend, tls_negotiated_on_the_plaintext_port);

        #[test]
        fn plaintext_to_the_tls_port_is_fatal_and_probed_once() {
            $crate::kit::tls::plaintext_to_the_tls_port_is_fatal_and_probed_once::<$backend>();
        }
    };
}

/// 1000 items in batches of 100 through the TLS endpoint, trusting the
/// test CA alone: 10 requests, all on the server.
pub fn writes_land_over_tls<B: TlsBackend>() {
    let tls = require_tls(B::SERVICE);
    let target = B::fresh("tls");
    let settings = batches_of(100);
    let inserter = B::inserter_via(&B::url(&tls), Some(&tls.ca_file), &target, settings)
        .unwrap_or_else(|refusal| panic!("{refusal:?}"));
    let stats = write_through::<B>(&inserter, &target, "t", 0..1000);
    assert_eq!(stats.total_requests, 10, "batches of 100: {stats:?}");
    drop(inserter);
    assert_eq!(B::count(&target), 1000);
}

/// A CA that did not sign the server's certificate.
pub fn an_unrelated_ca_is_fatal_and_names_the_host<B: TlsBackend>() {
    let tls = require_tls(B::SERVICE);
    refused::<B>(&B::url(&tls), Some(&tls.other_ca_file)).assert_fatal(1, &["unknown issuer"]);
}

/// Mozilla's roots do not include the test CA.
pub fn public_roots_alone_do_not_trust_the_test_ca<B: TlsBackend>() {
    let tls = require_tls(B::SERVICE);
    refused::<B>(&B::url(&tls), None).assert_fatal(1, &["unknown issuer"]);
}

/// The right CA, but dialed as [`UNNAMED_HOST`].
pub fn a_host_name_the_certificate_lacks_is_fatal<B: TlsBackend>() {
    let tls = require_tls(B::SERVICE);
    let host = UNNAMED_HOST.to_string();
    refused_at::<B>(&B::url(&tls), UNNAMED_HOST, &host, Some(&tls.ca_file))
        .assert_fatal(1, &["not valid for the host name"]);
}

/// A CA file that does not exist: the error names it, and no connection
/// is opened.
pub fn an_unreadable_ca_file_is_named_and_nothing_is_sent<B: TlsBackend>() {
    let tls = require_tls(B::SERVICE);
    let missing = "/nonexistent/uds3-ca.pem";
    let refusal = refused::<B>(&B::url(&tls), Some(Path::new(missing)));
    assert!(refusal.text.contains(missing), "{}", refusal.text);
    assert_eq!(refusal.connections, 0, "nothing sent: {}", refusal.text);
}

/// Plaintext to the TLS port: the client asks the port once more, finds
/// TLS, and says which scheme to use.
pub fn plaintext_to_the_tls_port_is_fatal_and_probed_once<B: TlsBackend>() {
    let tls = require_tls(B::SERVICE);
    refused::<B>(&B::plaintext(&B::url(&tls)), Some(&tls.ca_file))
        .assert_fatal(2, &["speaks TLS", B::TLS_SCHEME]);
}

/// The refusal of a first write through the server at `url`, reached
/// through a relay on 127.0.0.1 under `url`'s own host name, trusting
/// `ca` as [`TlsBackend::inserter_via`] says. Not retriable, whatever else
/// it is.
pub fn refused<B: TlsBackend>(url: &str, ca: Option<&Path>) -> Refusal {
    let host = parse(url).host_str().expect("a host").to_owned();
    refused_at::<B>(url, Ipv4Addr::LOCALHOST, &host, ca)
}

/// [`refused`] with the relay on `ip`, dialed as `host`.
fn refused_at<B: TlsBackend>(url: &str, ip: Ipv4Addr, host: &str, ca: Option<&Path>) -> Refusal {
    let (relay, url) = relayed(url, ip.into(), host);
    let mut refusal = first_write::<B>(&url, ca);
    refusal.server = format!("{host}:{}", relay.port());
    refusal.connections = relay.connections();
    eprintln!("refused: {refusal:?}");
    assert!(
        !matches!(
            refusal.class,
            ErrorClass::Transient | ErrorClass::OutcomeUnknown
        ),
        "never retried: {}",
        refusal.text
    );
    refusal
}

/// The error of making an inserter through `url`, or else of its first
/// write (4 items, one batch), which must fail as a whole after one
/// request: no retry, no smaller batch.
fn first_write<B: TlsBackend>(url: &str, ca: Option<&Path>) -> Refusal {
    let target = B::fresh("tls-refused");
    let settings = batches_of(4);
    let inserter = match B::inserter_via(url, ca, &target, settings) {
        Ok(inserter) => inserter,
        Err(refusal) => return refusal,
    };
    let batcher = B::batcher(&inserter);
    for i in 0..4 {
        batcher.add(B::item(&target, "r", i)).expect("add");
    }
    let report = batcher.flush();
    let stats = batcher.stats();
    assert_eq!(report.failed.len(), 4, "{stats:?}");
    assert_eq!(
        (
            stats.total_requests,
            stats.total_retries,
            stats.total_fallbacks
        ),
        (1, 0, 0),
        "one request, no retry, no smaller batch: {stats:?}"
    );
    Refusal::of(report.failed[0].error.sink_error().expect("a sink error"))
}

/// A relay on `ip` in front of the server of `url`, and `url` dialing it
/// as `host` (the name TLS checks).
pub fn relayed(url: &str, ip: IpAddr, host: &str) -> (Relay, String) {
    let mut dialed = parse(url);
    let server = format!(
        "{}:{}",
        dialed.host_str().expect("a host"),
        dialed.port().expect("a port")
    );
    let relay = Relay::start_on(ip, &server, Duration::ZERO).expect("a relay");
    dialed.set_host(Some(host)).expect("a host name");
    dialed.set_port(Some(relay.port())).expect("a port");
    (relay, dialed.to_string())
}

/// `url`, parsed (the `url` crate).
fn parse(url: &str) -> url::Url {
    url::Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
}
