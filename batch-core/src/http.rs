//! Shared HTTP plumbing of the HTTP sinks (Chroma, CouchDB), feature `http`:
//! one agent set-up, one request path that reads error bodies (JSON or not),
//! and one mapping from status codes and transport errors to [`ErrorClass`].

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::percent_decode_str;

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

/// Whether the server at `address` answers a TLS ClientHello with a TLS
/// record (handshake or alert). Only asked after an `http://` request got
/// no answer; `false` without the `tls` feature.
#[cfg(feature = "tls")]
fn speaks_tls(address: &str, timeout: Duration) -> bool {
    use std::io::{Read, Write};
    use std::net::{TcpStream, ToSocketAddrs};
    let probe = || -> Option<bool> {
        let timeout = timeout.min(Duration::from_secs(5));
        let addr = address.to_socket_addrs().ok()?.next()?;
        let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
        stream.set_read_timeout(Some(timeout)).ok()?;
        stream.set_write_timeout(Some(timeout)).ok()?;
        let config = crate::tls::TlsSettings::new().client_config().ok()?;
        let name = rustls::pki_types::ServerName::try_from(host_of(address).to_owned()).ok()?;
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
fn speaks_tls(_address: &str, _timeout: Duration) -> bool {
    false
}

/// `host:port` of an `http(s)://[userinfo@]host[:port]/...` URL, the port
/// filled in from the scheme (80, 443).
pub(crate) fn address_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let authority = rest.split('/').next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let has_port = match host_port.rsplit_once(':') {
        Some((host, port)) => {
            !port.is_empty()
                && !host.ends_with(':')
                && (!host.starts_with('[') || host.ends_with(']'))
        }
        None => false,
    };
    if has_port {
        host_port.to_owned()
    } else if scheme.eq_ignore_ascii_case("https") {
        format!("{host_port}:443")
    } else {
        format!("{host_port}:80")
    }
}

/// The host of `host:port` (brackets of an IPv6 literal removed).
pub(crate) fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// A base URL and an `Authorization` header value, taken apart from a URL
/// that may carry `user:password@` (sent as HTTP basic auth).
#[derive(Clone)]
pub struct Endpoint {
    base: String,
    authorization: Option<String>,
    secret_header: Option<(&'static str, String)>,
    timeout: Duration,
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
    /// with a per-request timeout. `https://` trusts Mozilla's public roots
    /// (feature `tls`); [`with_tls`](Self::with_tls) adds CA files.
    pub fn new(url: &str, timeout: Duration) -> Self {
        let (base, authorization) = split_credentials(url.trim_end_matches('/'));
        Self {
            base,
            authorization,
            secret_header: None,
            timeout,
            agent: default_agent(timeout),
        }
    }

    /// Uses `settings` for `https://` (reads its CA files now).
    #[cfg(feature = "tls")]
    pub fn with_tls(
        mut self,
        settings: &crate::tls::TlsSettings,
    ) -> Result<Self, crate::tls::TlsError> {
        self.agent = agent(self.timeout, settings.ureq_config()?);
        Ok(self)
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

    /// A transport error as an [`HttpError`]: [`HttpError::Tls`] when TLS
    /// failed, [`HttpError::Transport`] otherwise.
    fn transport_error(&self, url: &str, source: ureq::Error) -> HttpError {
        let address = address_of(&self.base);
        let problem = tls_problem(&source, host_of(&address)).or_else(|| {
            // `http://` to a TLS port: the server hangs up without an
            // answer, which looks like a lost connection. Ask the port.
            let plaintext = self
                .base
                .get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("http://"));
            let no_answer = !matches!(
                class_of_transport(&source),
                ErrorClass::Transient | ErrorClass::Permanent
            );
            (plaintext && no_answer && speaks_tls(&address, self.timeout)).then(|| {
                "the server speaks TLS on this port, but the URL is http://: use https://"
                    .to_owned()
            })
        });
        match problem {
            Some(reason) => HttpError::Tls {
                url: url.to_owned(),
                address,
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

/// [`agent`] trusting the public roots.
#[cfg(feature = "tls")]
fn default_agent(timeout: Duration) -> ureq::Agent {
    agent(timeout, crate::tls::default_ureq_config())
}

/// The agent without TLS (`https://` is refused by [`check_url`]).
#[cfg(not(feature = "tls"))]
fn default_agent(timeout: Duration) -> ureq::Agent {
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
    if let Some((userinfo, _)) = authority.rsplit_once('@') {
        decode_userinfo(userinfo).map_err(|why| format!("server URL {:?}: {why}", redact(url)))?;
    }
    if cfg!(not(feature = "tls")) && scheme.eq_ignore_ascii_case("https") {
        return Err(format!(
            "server URL {:?} is https://, but this build has no TLS: turn on the `tls` feature \
             (on by default in batch-chroma, batch-couch and uds3-batch)",
            redact(url)
        ));
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
/// and a basic `Authorization` value. The user and password are
/// percent-decoded, as every other client does (`p%40ss` is sent as
/// `p@ss`); userinfo [`check_url`] refuses (not UTF-8 once decoded, a `:`
/// in the user) is sent as decoded all the same (lossily), never as
/// written.
pub(crate) fn split_credentials(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let (user, password) = match userinfo.split_once(':') {
                Some((user, password)) => (user, Some(password)),
                None => (userinfo, None),
            };
            let mut pair = percent_decode_str(user).decode_utf8_lossy().into_owned();
            if let Some(password) = password {
                pair.push(':');
                pair.push_str(&percent_decode_str(password).decode_utf8_lossy());
            }
            let auth = format!("Basic {}", STANDARD.encode(pair.as_bytes()));
            (format!("{scheme}://{host}{path}"), Some(auth))
        }
        None => (url.to_owned(), None),
    }
}

/// The user and password of a URL's userinfo (`user[:password]`),
/// percent-decoded with servo's `percent-encoding` (the decoder of the `url`
/// crate, already in the tree through ureq). Refused, saying which part
/// (never its value): a part that is not UTF-8 once decoded, and a user
/// with a `:` (Basic auth cannot carry it: the server would split there).
fn decode_userinfo(userinfo: &str) -> Result<(String, Option<String>), String> {
    let (user, password) = match userinfo.split_once(':') {
        Some((user, password)) => (user, Some(password)),
        None => (userinfo, None),
    };
    let decode = |part: &str, what: &str| {
        percent_decode_str(part)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| format!("the {what} is not valid UTF-8 once percent-decoded"))
    };
    let user = decode(user, "user name")?;
    if user.contains(':') {
        return Err(
            "the user name holds a ':' (percent-encoded), which HTTP Basic auth cannot carry"
                .to_owned(),
        );
    }
    let password = password.map(|p| decode(p, "password")).transpose()?;
    Ok((user, password))
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
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut authorization = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).expect("read") == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("authorization")
                {
                    authorization = Some(value.trim().to_owned());
                }
            }
            let mut stream = stream;
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .expect("answer");
            authorization
        });
        let url = format!("http://us%40er:p%40s%3As%2Fw%25d%23@{addr}");
        check_url(&url).expect("a valid URL");
        let endpoint = Endpoint::new(&url, Duration::from_secs(10));
        let (status, _) = endpoint.request("GET", "/", None).expect("request");
        assert_eq!(status, 200);
        let received = server
            .join()
            .expect("listener")
            .expect("an Authorization header");
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
        let endpoint = Endpoint::new("http://127.0.0.1:9", Duration::from_secs(2));
        let err = endpoint.request("GET", "/", None).unwrap_err();
        assert_eq!(err.class(), ErrorClass::Transient, "{err}");
    }
}
