//! Shared HTTP plumbing of the HTTP sinks (Chroma, CouchDB), feature `http`:
//! one agent set-up, one request path that reads error bodies (JSON or not),
//! and one mapping from status codes and transport errors to [`ErrorClass`].

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::{ErrorClass, SinkError};
use crate::server_url::{ServerUrl, UrlProblem};

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
    /// TLS failed: a certificate that is not trusted, not valid for the
    /// host or expired, or one side not speaking TLS (`http://` to a TLS
    /// port, `https://` to a plaintext one). Fatal: retrying cannot help.
    #[error("TLS with {address} failed: {reason} (URL {url})")]
    Tls {
        /// The request URL (no credentials).
        url: String,
        /// `host:port` of the server.
        address: String,
        /// What went wrong, with a hint.
        reason: String,
        /// The transport error, if the failure surfaced as one (boxed: it
        /// is large and rare).
        #[source]
        source: Option<Box<ureq::Error>>,
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
            Self::Tls { .. } => ErrorClass::Fatal,
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
/// permanent. A TLS failure (see [`tls_problem`]) is fatal: the same
/// certificate or port is met again on every retry.
pub fn class_of_transport(error: &ureq::Error) -> ErrorClass {
    use ureq::Timeout;
    if tls_problem(error, "").is_some() {
        return ErrorClass::Fatal;
    }
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

/// Why TLS failed, in words, if `error` is a TLS failure: a certificate
/// refused by rustls (unknown CA, wrong host name, expired), a server that
/// does not speak TLS, or ureq's own TLS errors. `host` is the name the
/// certificate was checked against (for the message).
pub fn tls_problem(error: &ureq::Error, host: &str) -> Option<String> {
    match error {
        ureq::Error::Tls(what) => Some(format!("TLS failed: {what}")),
        ureq::Error::TlsRequired => Some("TLS required, but the connection is plaintext".into()),
        #[cfg(feature = "tls")]
        ureq::Error::Rustls(e) => Some(crate::tls::describe(e, host)),
        #[cfg(feature = "tls")]
        ureq::Error::Io(e) => {
            let inner = e.get_ref()?;
            inner
                .downcast_ref::<rustls::Error>()
                .map(|e| crate::tls::describe(e, host))
        }
        _ => {
            let _ = host;
            None
        }
    }
}

/// Whether the server at `address` (`host:port`, `host` as the TLS name)
/// answers a TLS ClientHello with a TLS record (handshake or alert). Only
/// asked after an `http://` request got no answer; `false` without the
/// `tls` feature.
#[cfg(feature = "tls")]
fn speaks_tls(address: &str, host: &str, timeout: Duration) -> bool {
    use std::io::{Read, Write};
    use std::net::{TcpStream, ToSocketAddrs};
    let probe = || -> Option<bool> {
        let timeout = timeout.min(Duration::from_secs(5));
        let addr = address.to_socket_addrs().ok()?.next()?;
        let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
        stream.set_read_timeout(Some(timeout)).ok()?;
        stream.set_write_timeout(Some(timeout)).ok()?;
        let config = crate::tls::TlsSettings::new().client_config().ok()?;
        let name = rustls::pki_types::ServerName::try_from(host.to_owned()).ok()?;
        let mut conn = rustls::ClientConnection::new(config, name).ok()?;
        let mut hello = Vec::new();
        conn.write_tls(&mut hello).ok()?;
        stream.write_all(&hello).ok()?;
        let mut head = [0u8; 2];
        stream.read_exact(&mut head).ok()?;
        Some(matches!(head, [0x15 | 0x16, 0x03]))
    };
    probe().unwrap_or(false)
}

#[cfg(not(feature = "tls"))]
fn speaks_tls(_address: &str, _host: &str, _timeout: Duration) -> bool {
    false
}

/// A base URL and an `Authorization` header value, taken apart from a URL
/// that may carry `user:password@` (sent as HTTP basic auth).
#[derive(Clone)]
pub struct Endpoint {
    /// The URL without credentials or trailing `/`.
    base: String,
    /// `host:port` of the server, the port filled in from the scheme.
    address: String,
    /// The host, as TLS checks it.
    host: String,
    /// Whether the scheme is `http` (no TLS).
    plaintext: bool,
    authorization: Option<String>,
    secret_header: Option<(&'static str, String)>,
    timeout: Duration,
    /// Which CAs `https://` trusts; read when the agent is made.
    #[cfg(feature = "tls")]
    tls: crate::tls::TlsSettings,
    /// The agent, made at the first request (so a CA file is read then,
    /// and a bad one is that request's error, naming the file); shared by
    /// clones, so one connection pool serves them all.
    agent: Arc<OnceLock<Result<ureq::Agent, String>>>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("base", &self.base)
            .field("timeout", &self.timeout)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "secret_header",
                &self
                    .secret_header
                    .as_ref()
                    .map(|(name, _)| (name, "<redacted>")),
            )
            .finish()
    }
}

impl Endpoint {
    /// An endpoint at `url` (`http(s)://[user:password@]host:port[/prefix]`)
    /// with a per-request timeout; a URL [`check_url`] refuses is refused
    /// with its message. `https://` trusts Mozilla's public roots (feature
    /// `tls`); [`tls`](Self::tls) says otherwise.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, String> {
        let url = check_url(url)?;
        Ok(Self {
            base: url.without_credentials().trim_end_matches('/').to_owned(),
            address: url.address(80),
            host: url.host(),
            plaintext: url.scheme() == "http",
            authorization: basic_authorization(&url),
            secret_header: None,
            timeout,
            #[cfg(feature = "tls")]
            tls: crate::tls::TlsSettings::new(),
            agent: Arc::new(OnceLock::new()),
        })
    }

    /// Uses `settings` for `https://`. Cannot fail: the CA files are read
    /// at the first request (or by [`ready`](Self::ready)), and one that
    /// cannot be used fails it with an [`HttpError::Tls`] naming the file.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, settings: crate::tls::TlsSettings) -> Self {
        self.tls = settings;
        self.agent = Arc::new(OnceLock::new());
        self
    }

    /// Makes the agent now, reading the CA files: for callers with a
    /// build step that report a bad CA file there. Sends nothing.
    pub fn ready(&self) -> Result<(), HttpError> {
        self.agent(&self.base).map(|_| ())
    }

    /// The agent, made on first use; a TLS setting that cannot be used is
    /// an [`HttpError::Tls`] for `url`.
    fn agent(&self, url: &str) -> Result<&ureq::Agent, HttpError> {
        let made = self.agent.get_or_init(|| {
            #[cfg(feature = "tls")]
            let made = self
                .tls
                .ureq_config()
                .map(|config| agent(self.timeout, config))
                .map_err(|e| e.to_string());
            #[cfg(not(feature = "tls"))]
            let made = Ok(plaintext_agent(self.timeout));
            made
        });
        made.as_ref().map_err(|reason| HttpError::Tls {
            url: url.to_owned(),
            address: self.address.clone(),
            reason: reason.clone(),
            source: None,
        })
    }

    /// Whether an `Authorization` header is sent: basic auth from the URL's
    /// `user:password@`, or a value given to [`with_authorization`](Self::with_authorization).
    pub fn has_authorization(&self) -> bool {
        self.authorization.is_some()
    }

    /// Replaces the `Authorization` header value (e.g. `Bearer ...`).
    pub fn with_authorization(mut self, value: impl Into<String>) -> Self {
        self.authorization = Some(value.into());
        self
    }

    /// One more header sent with every request whose value is a secret
    /// (e.g. `X-Chroma-Token`): never shown by `Debug`.
    pub fn with_secret_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.secret_header = Some((name, value.into()));
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
        let agent = self.agent(&url)?;
        let transport = |source| self.transport_error(&url, source);
        let builder = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("Accept", "application/json");
        let builder = match &self.authorization {
            Some(auth) => builder.header("Authorization", auth),
            None => builder,
        };
        let builder = match &self.secret_header {
            Some((name, value)) => builder.header(*name, value),
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
                agent.run(request)
            }
            None => {
                let request = builder.body(()).map_err(|e| HttpError::Decode {
                    url: url.clone(),
                    message: e.to_string(),
                })?;
                agent.run(request)
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

    /// A transport error as an [`HttpError`]: [`HttpError::Tls`] when TLS
    /// failed, [`HttpError::Transport`] otherwise.
    fn transport_error(&self, url: &str, source: ureq::Error) -> HttpError {
        let problem = tls_problem(&source, &self.host).or_else(|| {
            // `http://` to a TLS port: the server hangs up without an
            // answer, which looks like a lost connection. Ask the port.
            let no_answer = !matches!(
                class_of_transport(&source),
                ErrorClass::Transient | ErrorClass::Permanent
            );
            let ask = self.plaintext && no_answer;
            (ask && speaks_tls(&self.address, &self.host, self.timeout)).then(|| {
                "the server speaks TLS on this port, but the URL is http://: use https://"
                    .to_owned()
            })
        });
        match problem {
            Some(reason) => HttpError::Tls {
                url: url.to_owned(),
                address: self.address.clone(),
                reason,
                source: Some(Box::new(source)),
            },
            None => HttpError::Transport {
                url: url.to_owned(),
                source,
            },
        }
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

/// The agent: statuses are answers (not errors), one timeout per request,
/// and rustls with `tls` for `https://`.
#[cfg(feature = "tls")]
fn agent(timeout: Duration, tls: ureq::tls::TlsConfig) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .tls_config(tls)
        .build()
        .into()
}

/// The agent without TLS (`https://` is refused by [`check_url`]).
#[cfg(not(feature = "tls"))]
fn plaintext_agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
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

/// Parses a server URL ([`ServerUrl`]) and refuses one that is not
/// `http://` or `https://` with a host: backends call it (through
/// [`Endpoint::new`]) when they are built, so `127.0.0.1:11000` is refused
/// with a message that says what is missing, before any request. Every
/// message names the URL with its password masked.
pub fn check_url(url: &str) -> Result<ServerUrl, String> {
    let url = ServerUrl::parse(url).map_err(|e| match e.problem() {
        UrlProblem::NoScheme => format!(
            "server URL {:?} has no scheme: write http://{} (or https://...)",
            e.masked(),
            e.masked()
        ),
        problem => format!("server URL {:?} {problem}", e.masked()),
    })?;
    let shown = url.masked();
    let scheme = url.scheme();
    if !matches!(scheme, "http" | "https") {
        return Err(format!(
            "server URL {shown:?} has scheme {scheme:?}; only http:// and https:// are supported"
        ));
    }
    if url.user().is_some_and(|user| user.contains(':')) {
        return Err(format!(
            "server URL {shown:?} is refused: the user name holds a ':' (percent-encoded), \
             which HTTP Basic auth cannot carry"
        ));
    }
    if cfg!(not(feature = "tls")) && scheme == "https" {
        return Err(format!(
            "server URL {shown:?} is https://, but this build has no TLS: turn on the `tls` feature \
             (on by default in batch-chroma, batch-couch and uds3-batch)"
        ));
    }
    Ok(url)
}

/// The `Authorization: Basic` value of a URL's user and password
/// (percent-decoded: `p%40ss` is sent as `p@ss`, as every other client
/// does); `None` without credentials. A user without password is sent
/// alone, as `user`.
fn basic_authorization(url: &ServerUrl) -> Option<String> {
    if !url.has_credentials() {
        return None;
    }
    let mut pair = url.user().unwrap_or_default().to_owned();
    if let Some(password) = url.password() {
        pair.push(':');
        pair.push_str(password);
    }
    Some(format!("Basic {}", STANDARD.encode(pair.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_without_scheme_or_host_are_refused_and_passwords_hidden() {
        assert!(check_url("http://127.0.0.1:5984").is_ok());
        // https:// needs the `tls` feature, and says so without it.
        assert_eq!(
            check_url("https://u:p@db.example:443/prefix").is_ok(),
            cfg!(feature = "tls")
        );
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

    /// The base URL and `Authorization` value an endpoint at `url` uses.
    fn split_credentials(url: &str) -> (String, Option<String>) {
        let endpoint = Endpoint::new(url, Duration::from_secs(1)).expect(url);
        (endpoint.base, endpoint.authorization)
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
        // The userinfo is percent-decoded, then base64-encoded: user:p@ss.
        assert_eq!(auth.as_deref(), Some("Basic dXNlcjpwQHNz"));
        assert_eq!(
            split_credentials("http://h:1/x"),
            ("http://h:1/x".to_owned(), None)
        );
    }

    /// The Basic auth pair a URL's userinfo is sent as.
    fn sent_pair(url: &str) -> String {
        let (_, auth) = split_credentials(url);
        let auth = auth.expect("credentials");
        let encoded = auth.strip_prefix("Basic ").expect("basic");
        String::from_utf8(STANDARD.decode(encoded).expect("base64")).expect("utf-8")
    }

    #[test]
    fn user_and_password_are_percent_decoded() {
        // @ : / % # in the password, and all but ':' in the user.
        let url = "http://us%40er%2F%25%23:p%40s%3As%2Fw%25d%23@127.0.0.1:5984/db";
        assert!(check_url(url).is_ok());
        assert_eq!(sent_pair(url), "us@er/%#:p@s:s/w%d#");
        assert_eq!(split_credentials(url).0, "http://127.0.0.1:5984/db");
        // A raw '@' in the password still ends at the last '@'.
        assert_eq!(sent_pair("http://u:p@ss@h:1"), "u:p@ss");
        // Not encoded: sent as written. No password: the user alone.
        assert_eq!(sent_pair("http://admin:secret@h:1"), "admin:secret");
        assert_eq!(sent_pair("http://admin@h:1"), "admin");
        // A '%' not followed by two hex digits stays as it is.
        assert_eq!(sent_pair("http://u:100%@h:1"), "u:100%");
    }

    /// The wire value: the `Authorization` header a local listener
    /// receives from a real request (no test server takes a password with
    /// these characters without changing its shared configuration).
    #[test]
    fn the_decoded_password_is_what_the_server_receives() {
        let probe = crate::testing::authorization_probe::AuthorizationProbe::start();
        let url = probe.url("us%40er:p%40s%3As%2Fw%25d%23");
        let endpoint = Endpoint::new(&url, Duration::from_secs(10)).expect("a valid URL");
        let (status, _) = endpoint.request("GET", "/", None).expect("request");
        assert_eq!(status, 200);
        let received = probe.received().expect("an Authorization header");
        let expected = format!("Basic {}", STANDARD.encode("us@er:p@s:s/w%d#"));
        assert_eq!(received, expected);
        assert!(!format!("{endpoint:?}").contains("p@s"), "{endpoint:?}");
    }

    #[test]
    fn undecodable_userinfo_is_refused_with_the_password_masked() {
        let err = check_url("http://user:s%FFcret@127.0.0.1:5984").unwrap_err();
        assert!(err.contains("password is not valid UTF-8"), "{err}");
        assert!(
            err.contains("127.0.0.1:5984") && err.contains("user:***@"),
            "{err}"
        );
        assert!(!err.contains("s%FFcret"), "{err}");
        let err = check_url("http://u%FF:secret@h:1").unwrap_err();
        assert!(
            err.contains("user name is not valid UTF-8") && !err.contains("secret"),
            "{err}"
        );
        let err = check_url("http://a%3Ab:secret@h:1").unwrap_err();
        assert!(err.contains("':'") && !err.contains("secret"), "{err}");
    }

    #[test]
    fn refused_connection_is_transient() {
        // Port 9 (discard) on loopback: nothing listens there in CI.
        let endpoint = Endpoint::new("http://127.0.0.1:9", Duration::from_secs(2)).expect("URL");
        let err = endpoint.request("GET", "/", None).unwrap_err();
        assert_eq!(err.class(), ErrorClass::Transient, "{err}");
    }
}
