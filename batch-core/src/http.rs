//! Shared HTTP plumbing of the HTTP sinks (Chroma, CouchDB), feature `http`:
//! one agent set-up, one request path that reads error bodies (JSON or not),
//! and one mapping from status codes and transport errors to [`ErrorClass`].

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::{ErrorClass, SinkError};

/// An HTTP request that failed as a whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The server answered with a non-success status.
    #[error("HTTP {status} from {url}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The request URL (no credentials).
        url: String,
        /// The response body as text (JSON or not), cut to 2 KiB.
        body: String,
    },
    /// No answer: refused connection, reset, timeout.
    #[error("HTTP request to {url} failed: {source}")]
    Transport {
        /// The request URL (no credentials).
        url: String,
        /// The transport error.
        #[source]
        source: ureq::Error,
    },
    /// A success answer whose body could not be read as expected.
    #[error("unexpected response from {url}: {message}")]
    Decode {
        /// The request URL (no credentials).
        url: String,
        /// What was wrong.
        message: String,
    },
}

impl HttpError {
    /// The status code, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl SinkError for HttpError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Status { status, .. } => class_of_status(*status),
            Self::Transport { source, .. } => class_of_transport(source),
            Self::Decode { .. } => ErrorClass::Permanent,
        }
    }
}

/// 413 asks for a smaller request; 408, 425, 429 and 5xx are transient;
/// 401, 403, 404 and 407 are fatal (no item is at fault: credentials, a
/// missing database or collection); every other status (400, 409, 415,
/// 422, ...) is permanent and blamed on the items.
pub fn class_of_status(status: u16) -> ErrorClass {
    match status {
        413 => ErrorClass::TooLarge,
        408 | 425 | 429 | 500..=599 => ErrorClass::Transient,
        401 | 403 | 404 | 407 => ErrorClass::Fatal,
        _ => ErrorClass::Permanent,
    }
}

/// A request that never reached the server (refused connection, unknown
/// host, connect or resolve timeout) is transient. One that may have been
/// sent and lost its answer (a timeout after connecting, a connection
/// reset, a broken response) is [`ErrorClass::OutcomeUnknown`]: the
/// server may have applied it. A bad URL or a local encoding problem is
/// permanent.
pub fn class_of_transport(error: &ureq::Error) -> ErrorClass {
    use ureq::Timeout;
    match error {
        ureq::Error::ConnectionFailed
        | ureq::Error::HostNotFound
        | ureq::Error::Timeout(Timeout::Resolve | Timeout::Connect) => ErrorClass::Transient,
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            ErrorClass::Transient
        }
        ureq::Error::Io(_)
        | ureq::Error::Timeout(_)
        | ureq::Error::Protocol(_)
        | ureq::Error::BodyStalled => ErrorClass::OutcomeUnknown,
        _ => ErrorClass::Permanent,
    }
}

/// A base URL and an `Authorization` header value, taken apart from a URL
/// that may carry `user:password@` (sent as HTTP basic auth).
#[derive(Clone)]
pub struct Endpoint {
    base: String,
    authorization: Option<String>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("base", &self.base)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Endpoint {
    /// An endpoint at `url` (`http://[user:password@]host:port[/prefix]`)
    /// with a per-request timeout.
    pub fn new(url: &str, timeout: Duration) -> Self {
        let (base, authorization) = split_credentials(url.trim_end_matches('/'));
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build();
        Self {
            base,
            authorization,
            agent: config.into(),
        }
    }

    /// Replaces the `Authorization` header value (e.g. `Bearer ...`).
    pub fn with_authorization(mut self, value: impl Into<String>) -> Self {
        self.authorization = Some(value.into());
        self
    }

    /// The base URL, without credentials.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `base + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request; a JSON body when `body` is given. Returns the status
    /// and body text of any answer the server gave (non-success included),
    /// or a transport error.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(u16, String), HttpError> {
        let url = self.url(path);
        let transport = |source| HttpError::Transport {
            url: url.clone(),
            source,
        };
        let builder = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("Accept", "application/json");
        let builder = match &self.authorization {
            Some(auth) => builder.header("Authorization", auth),
            None => builder,
        };
        let response = match body {
            Some(bytes) => {
                let request = builder
                    .header("Content-Type", "application/json")
                    .body(bytes)
                    .map_err(|e| HttpError::Decode {
                        url: url.clone(),
                        message: e.to_string(),
                    })?;
                self.agent.run(request)
            }
            None => {
                let request = builder.body(()).map_err(|e| HttpError::Decode {
                    url: url.clone(),
                    message: e.to_string(),
                })?;
                self.agent.run(request)
            }
        };
        let mut response = response.map_err(transport)?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_string()
            .map_err(transport)?;
        Ok((status, text))
    }

    /// Like [`request`](Self::request), but a non-2xx status is an
    /// [`HttpError::Status`].
    pub fn request_ok(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(u16, String), HttpError> {
        let (status, text) = self.request(method, path, body)?;
        if (200..300).contains(&status) {
            Ok((status, text))
        } else {
            Err(HttpError::Status {
                status,
                url: self.url(path),
                body: truncate(text, 2048),
            })
        }
    }
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// Refuses a server URL that is not `http://` or `https://` with a host:
/// backends call it when they are built, so `127.0.0.1:11000` is refused
/// with a message that says what is missing, before any request.
pub fn check_url(url: &str) -> Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "server URL {:?} has no scheme: write http://{} (or https://...)",
            redact(url),
            redact(url)
        ));
    };
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
        return Err(format!(
            "server URL {:?} has scheme {scheme:?}; only http:// and https:// are supported",
            redact(url)
        ));
    }
    let authority = rest.split('/').next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.is_empty() || host.starts_with(':') {
        return Err(format!("server URL {:?} has no host", redact(url)));
    }
    Ok(())
}

/// `url` with any password replaced by `***`, for messages.
fn redact(url: &str) -> String {
    let (prefix, rest) = url.split_once("://").map_or(("", url), |(s, r)| (s, r));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    if prefix.is_empty() {
        format!("{authority}{path}")
    } else {
        format!("{prefix}://{authority}{path}")
    }
}

/// Splits `scheme://user:pass@host/...` into the URL without credentials
/// and a basic `Authorization` value.
fn split_credentials(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let auth = format!("Basic {}", STANDARD.encode(userinfo.as_bytes()));
            (format!("{scheme}://{host}{path}"), Some(auth))
        }
        None => (url.to_owned(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_without_scheme_or_host_are_refused_and_passwords_hidden() {
        assert!(check_url("http://127.0.0.1:5984").is_ok());
        assert!(check_url("https://u:p@db.example:443/prefix").is_ok());
        let err = check_url("127.0.0.1:11000").unwrap_err();
        assert!(
            err.contains("no scheme") && err.contains("http://127.0.0.1:11000"),
            "{err}"
        );
        let err = check_url("ftp://h:1").unwrap_err();
        assert!(err.contains("\"ftp\""), "{err}");
        let err = check_url("http://user:secret@:5984").unwrap_err();
        assert!(err.contains("no host") && !err.contains("secret"), "{err}");
        let err = check_url("user:secret@host:1").unwrap_err();
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn statuses_are_classified() {
        assert_eq!(class_of_status(413), ErrorClass::TooLarge);
        for s in [408, 429, 500, 502, 503] {
            assert_eq!(class_of_status(s), ErrorClass::Transient, "{s}");
        }
        for s in [400, 409, 415, 422] {
            assert_eq!(class_of_status(s), ErrorClass::Permanent, "{s}");
        }
        for s in [401, 403, 404, 407] {
            assert_eq!(class_of_status(s), ErrorClass::Fatal, "{s}");
        }
    }

    #[test]
    fn credentials_become_basic_auth() {
        let (base, auth) = split_credentials("http://admin:secret@127.0.0.1:5984/prefix");
        assert_eq!(base, "http://127.0.0.1:5984/prefix");
        assert_eq!(auth.as_deref(), Some("Basic YWRtaW46c2VjcmV0"));
        let (base, auth) = split_credentials("http://127.0.0.1:5984");
        assert_eq!(base, "http://127.0.0.1:5984");
        assert_eq!(auth, None);
    }

    #[test]
    fn credentials_become_a_basic_auth_header() {
        let (url, auth) = split_credentials("http://user:p%40ss@127.0.0.1:5984/db");
        assert_eq!(url, "http://127.0.0.1:5984/db");
        // The userinfo is sent as written in the URL, base64-encoded.
        assert_eq!(auth.as_deref(), Some("Basic dXNlcjpwJTQwc3M="));
        assert_eq!(
            split_credentials("http://h:1/x"),
            ("http://h:1/x".to_owned(), None)
        );
    }

    #[test]
    fn refused_connection_is_transient() {
        // Port 9 (discard) on loopback: nothing listens there in CI.
        let endpoint = Endpoint::new("http://127.0.0.1:9", Duration::from_secs(2));
        let err = endpoint.request("GET", "/", None).unwrap_err();
        assert_eq!(err.class(), ErrorClass::Transient, "{err}");
    }
}
