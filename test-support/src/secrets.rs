//! Secrets kept out of what a backend shows: the password every backend's
//! `tests/secrets.rs` hides, and the checks they share (no server needed).

use std::fmt::{Debug, Display};

/// The password the secrets tests put in URLs and configurations.
pub const PASSWORD: &str = "pw-S3cret";

/// Panics if `shown` holds any of `secrets`, naming it.
pub fn assert_hidden(shown: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!shown.contains(secret), "{secret} shows in {shown}");
    }
}

/// Panics if `error`, displayed or debugged, holds any of `secrets`.
pub fn assert_error_hides<E: Display + Debug>(error: &E, secrets: &[&str]) {
    assert_hidden(&error.to_string(), secrets);
    assert_hidden(&format!("{error:?}"), secrets);
}

/// Each of `urls` is refused by `parse`, and its error hides
/// [`PASSWORD`]; with `masked` (e.g. `"admin:***@"`) it also shows where
/// the password was.
pub fn assert_refusals_hide<T, E: Display + Debug>(
    urls: &[String],
    masked: Option<&str>,
    parse: impl Fn(&str) -> Result<T, E>,
) {
    for url in urls {
        let Err(error) = parse(url) else {
            panic!("{url} was accepted");
        };
        assert_error_hides(&error, &[PASSWORD]);
        if let Some(masked) = masked {
            assert!(error.to_string().contains(masked), "{error}");
        }
    }
}

/// URLs an HTTP backend refuses, each with [`PASSWORD`] for user `admin`:
/// no scheme, a foreign scheme, no host, bad percent-encoding, a port out
/// of range, and a `/` written raw in the password.
pub fn refused_http_urls() -> Vec<String> {
    vec![
        format!("admin:{PASSWORD}@127.0.0.1:1"),
        format!("ftp://admin:{PASSWORD}@127.0.0.1:1"),
        format!("http://admin:{PASSWORD}@:1"),
        format!("http://admin:{PASSWORD}%FF@127.0.0.1:1"),
        format!("http://admin:{PASSWORD}@127.0.0.1:99999"),
        format!("http://admin:pa/{PASSWORD}@127.0.0.1:1"),
    ]
}
