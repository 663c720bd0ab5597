//! `ChromaClient`: the base URL, tenant, database and auth header of one
//! Chroma server, and the few calls the inserter needs around its writes.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use batch_core::http::Endpoint;
use serde::Deserialize;

use crate::error::ChromaError;

/// The per-request timeout unless one is set: batch-core's
/// [`DEFAULT_REQUEST_TIMEOUT`](batch_core::DEFAULT_REQUEST_TIMEOUT), the
/// same for every backend.
pub use batch_core::DEFAULT_REQUEST_TIMEOUT as DEFAULT_TIMEOUT;

/// What `GET /api/v2/pre-flight-checks` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct PreFlight {
    /// Most records one request may carry (the server does not enforce it).
    pub max_batch_size: usize,
    /// Whether embeddings may be sent as base64 of little-endian f32.
    #[serde(default)]
    pub supports_base64_encoding: bool,
}

/// A connection to one Chroma database: cheap to clone, shared by the
/// collections it opens.
///
/// Its calls are sync: each sends a request and waits for the answer on
/// the calling thread. From async code run them in
/// `tokio::task::spawn_blocking` (or your runtime's equivalent), so that
/// a slow server does not hold up a runtime worker.
#[derive(Debug, Clone)]
pub struct ChromaClient {
    pub(crate) endpoint: Endpoint,
    tenant: String,
    database: String,
    pre_flight: Arc<OnceLock<PreFlight>>,
}

impl ChromaClient {
    /// A client for `url` (`http://host:port`, optionally with
    /// `user:password@` for basic auth) on `default_tenant` /
    /// `default_database`. No request is made yet; a URL without
    /// `http://`/`https://` or host is refused here, with a message that
    /// says so, rather than at the first request. Reads no ENV variable:
    /// see [`from_env`](Self::from_env).
    pub fn new(url: &str) -> Result<Self, ChromaError> {
        Self::builder(url).build()
    }

    /// [`new`](Self::new), plus what the ENV gives: the CA file in
    /// [`CHROMA_CA_FILE_VAR`](batch_core::tls::CHROMA_CA_FILE_VAR) and the
    /// token in [`TOKEN_VAR`] (see [`ChromaClientBuilder::from_env`]).
    pub fn from_env(url: &str) -> Result<Self, ChromaError> {
        ChromaClientBuilder::from_env(url)?.build()
    }

    /// A builder to set tenant, database, auth header and timeout. Reads
    /// no ENV variable: see [`ChromaClientBuilder::from_env`].
    pub fn builder(url: &str) -> ChromaClientBuilder {
        ChromaClientBuilder {
            url: url.to_owned(),
            tenant: "default_tenant".to_owned(),
            database: "default_database".to_owned(),
            authorization: None,
            token: None,
            env_token: None,
            #[cfg(feature = "tls")]
            tls: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The database.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The base URL (without credentials).
    pub fn base_url(&self) -> &str {
        self.endpoint.base()
    }

    /// `GET /api/v2/heartbeat`: `Ok` if the server answers.
    pub fn heartbeat(&self) -> Result<(), ChromaError> {
        self.endpoint.request_ok("GET", "/api/v2/heartbeat", None)?;
        Ok(())
    }

    /// The server's limits, read once per client (and its clones). A sink
    /// built after this call knows them from the start; otherwise it reads
    /// them at its first write.
    pub fn pre_flight(&self) -> Result<PreFlight, ChromaError> {
        if let Some(p) = self.pre_flight.get() {
            return Ok(*p);
        }
        let path = "/api/v2/pre-flight-checks";
        let (_, body) = self.endpoint.request_ok("GET", path, None)?;
        let parsed: PreFlight = self.decode(path, &body)?;
        Ok(*self.pre_flight.get_or_init(|| parsed))
    }

    /// The pre-flight checks if this client (or a clone) has read them.
    pub(crate) fn cached_pre_flight(&self) -> Option<PreFlight> {
        self.pre_flight.get().copied()
    }

    /// Deletes the collection `name` (404 if it does not exist).
    pub fn delete_collection(&self, name: &str) -> Result<(), ChromaError> {
        check_name("collection name", name)?;
        let path = format!("{}/{}", self.collections_path(), name);
        self.endpoint.request_ok("DELETE", &path, None)?;
        Ok(())
    }

    /// `/api/v2/tenants/{t}/databases/{db}/collections`.
    pub(crate) fn collections_path(&self) -> String {
        format!(
            "/api/v2/tenants/{}/databases/{}/collections",
            self.tenant, self.database
        )
    }

    pub(crate) fn decode<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &str,
    ) -> Result<T, ChromaError> {
        serde_json::from_str(body).map_err(|e| ChromaError::Response {
            url: self.endpoint.url(path),
            message: format!("{e} in {:.200}", body),
        })
    }
}

/// What Chroma answers about a collection (the fields used here).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CollectionInfo {
    pub(crate) id: String,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) dimension: Option<usize>,
    #[serde(default)]
    pub(crate) metadata: Option<serde_json::Value>,
}

/// Builds a [`ChromaClient`]. Its `Debug` masks the URL's password and
/// every token.
#[derive(Clone)]
#[must_use]
pub struct ChromaClientBuilder {
    url: String,
    tenant: String,
    database: String,
    authorization: Option<String>,
    token: Option<(&'static str, String)>,
    /// [`TOKEN_VAR`]'s value, read by [`from_env`](Self::from_env).
    env_token: Option<String>,
    #[cfg(feature = "tls")]
    tls: Option<batch_core::tls::TlsSettings>,
    timeout: Duration,
}

impl std::fmt::Debug for ChromaClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |given: bool| given.then_some("<redacted>");
        let mut f = f.debug_struct("ChromaClientBuilder");
        f.field("url", &batch_core::server_url::masked(&self.url))
            .field("tenant", &self.tenant)
            .field("database", &self.database)
            .field("authorization", &secret(self.authorization.is_some()))
            .field(
                "token",
                &self.token.as_ref().map(|(name, _)| (name, "<redacted>")),
            )
            .field("env_token", &secret(self.env_token.is_some()));
        #[cfg(feature = "tls")]
        f.field("tls", &self.tls);
        f.field("timeout", &self.timeout).finish()
    }
}

/// ENV variable with a Chroma token, sent as `Authorization: Bearer
/// <token>` when nothing more explicit names credentials; read only by
/// the `from_env` constructors ([`ChromaClient::from_env`],
/// [`ChromaClientBuilder::from_env`]).
///
/// Precedence, most explicit first: the builder's
/// [`authorization`](ChromaClientBuilder::authorization),
/// [`token`](ChromaClientBuilder::token) or
/// [`x_chroma_token`](ChromaClientBuilder::x_chroma_token); then
/// `user:password@` in the URL (basic auth); then this variable. An ambient
/// variable never replaces credentials the code or URL gives.
pub const TOKEN_VAR: &str = "UDS3_CHROMA_TOKEN";

/// The `Authorization` value to set: the builder's; else, unless other
/// credentials are `explicit` (an `X-Chroma-Token`, or basic auth from the
/// URL), a non-blank token from the environment (if
/// [`from_env`](ChromaClientBuilder::from_env) read one) as `Bearer <token>`.
fn authorization(
    given: Option<String>,
    explicit: bool,
    env_token: impl FnOnce() -> Option<String>,
) -> Option<String> {
    match given {
        Some(auth) => Some(auth),
        None if explicit => None,
        None => env_token()
            .filter(|t| !t.trim().is_empty())
            .map(|t| format!("Bearer {}", t.trim())),
    }
}

impl ChromaClientBuilder {
    /// [`ChromaClient::builder`], plus what the ENV gives, read now: the
    /// CA file named by [`CHROMA_CA_FILE_VAR`](batch_core::tls::CHROMA_CA_FILE_VAR)
    /// (trusted besides Mozilla's roots; [`tls`](Self::tls) replaces it,
    /// [`ca_file`](Self::ca_file) adds to it) and the token in
    /// [`TOKEN_VAR`] (used only when nothing more explicit names
    /// credentials). A CA file variable that is not Unicode is refused.
    pub fn from_env(url: &str) -> Result<Self, ChromaError> {
        Self::from_env_with(url, |name| std::env::var_os(name))
    }

    /// [`from_env`](Self::from_env) with the variables read through `lookup`.
    fn from_env_with(
        url: &str,
        lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Self, ChromaError> {
        let mut builder = ChromaClient::builder(url);
        #[cfg(feature = "tls")]
        {
            use batch_core::tls::{CHROMA_CA_FILE_VAR, TlsSettings};
            let settings = TlsSettings::from_env_with(CHROMA_CA_FILE_VAR, &lookup)
                .map_err(|e| ChromaError::Setting(e.to_string()))?;
            builder.tls = Some(settings);
        }
        builder.env_token = lookup(TOKEN_VAR).and_then(|token| token.into_string().ok());
        Ok(builder)
    }

    /// The tenant (default `default_tenant`).
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = tenant.into();
        self
    }

    /// The database (default `default_database`).
    pub fn database(mut self, database: impl Into<String>) -> Self {
        self.database = database.into();
        self
    }

    /// The `Authorization` header value sent with every request (e.g.
    /// `Bearer <token>`); replaces basic auth from the URL.
    pub fn authorization(mut self, value: impl Into<String>) -> Self {
        self.authorization = Some(value.into());
        self
    }

    /// Chroma token auth as `Authorization: Bearer <token>` (Chroma's
    /// default token header); replaces the token of [`TOKEN_VAR`] that
    /// [`from_env`](Self::from_env) read.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.authorization = Some(format!("Bearer {}", token.into()));
        self
    }

    /// Chroma token auth as `X-Chroma-Token: <token>`, for servers set up
    /// with that header (`CHROMA_AUTH_TOKEN_TRANSPORT_HEADER`).
    pub fn x_chroma_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(("X-Chroma-Token", token.into()));
        self
    }

    #[cfg(feature = "tls")]
    batch_core::tls_setters!(
        "TLS settings for `https://` (default: Mozilla's public roots, plus the CA file in \
         [`CHROMA_CA_FILE_VAR`](batch_core::tls::CHROMA_CA_FILE_VAR) if \
         [`from_env`](Self::from_env) read one). Replaces that default, ENV variable included."
    );

    /// Per-request timeout (default [`DEFAULT_TIMEOUT`]). A request that
    /// timed out may still have been applied: the batcher retries it as
    /// [`OutcomeUnknown`](batch_core::ErrorClass::OutcomeUnknown).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The client. No request is made yet; a URL without
    /// `http://`/`https://` or host, and a tenant or database name that is
    /// not a plain path segment, are refused.
    pub fn build(self) -> Result<ChromaClient, ChromaError> {
        let endpoint = Endpoint::new(&self.url, self.timeout).map_err(ChromaError::Setting)?;
        check_name("tenant", &self.tenant)?;
        check_name("database", &self.database)?;
        #[cfg(feature = "tls")]
        let endpoint = match self.tls {
            Some(settings) => endpoint.tls(settings),
            None => endpoint,
        };
        // The CA files are read here, so a bad one fails `build`.
        endpoint
            .ready()
            .map_err(|e| ChromaError::Setting(e.to_string()))?;
        let explicit = self.token.is_some() || endpoint.has_authorization();
        let env_token = || self.env_token;
        let endpoint = match authorization(self.authorization, explicit, env_token) {
            Some(auth) => endpoint.with_authorization(auth),
            None => endpoint,
        };
        let endpoint = match self.token {
            Some((name, token)) => endpoint.with_secret_header(name, token),
            None => endpoint,
        };
        Ok(ChromaClient {
            endpoint,
            tenant: self.tenant,
            database: self.database,
            pre_flight: Arc::new(OnceLock::new()),
        })
    }
}

/// Names go into URL paths, so only Chroma's own name characters
/// (`[A-Za-z0-9._-]`) are let through.
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), ChromaError> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ChromaError::Setting(format!(
            "{what} {name:?} may only contain A-Z, a-z, 0-9, '.', '_' and '-'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::{ChromaClientBuilder, TOKEN_VAR, authorization};

    fn env(token: &str) -> impl FnOnce() -> Option<String> {
        let token = token.to_owned();
        move || Some(token)
    }

    #[test]
    fn the_builders_authorization_beats_everything() {
        let given = Some("Bearer code".to_owned());
        assert_eq!(
            authorization(given, true, env("ambient")).as_deref(),
            Some("Bearer code")
        );
    }

    #[test]
    fn url_credentials_or_an_x_chroma_token_beat_the_environment() {
        // `explicit`: basic auth from the URL (kept by the endpoint) or an
        // X-Chroma-Token header: the ambient variable must not replace it.
        assert_eq!(authorization(None, true, env("ambient")), None);
    }

    #[test]
    fn the_environment_token_is_used_when_nothing_else_names_credentials() {
        assert_eq!(
            authorization(None, false, env(" t0k \n")).as_deref(),
            Some("Bearer t0k")
        );
        assert_eq!(authorization(None, false, env("  ")), None);
        assert_eq!(authorization(None, false, || None), None);
    }

    /// `from_env` takes the token and the CA file variable (read here
    /// through a lookup, as `from_env` reads the process's).
    #[test]
    fn from_env_reads_the_token_and_the_ca_file() {
        let token = |name: &str| (name == TOKEN_VAR).then(|| "t0k".into());
        let client = ChromaClientBuilder::from_env_with("http://127.0.0.1:1", token)
            .and_then(ChromaClientBuilder::build)
            .expect("client");
        assert!(client.endpoint.has_authorization());
        // The plain builder reads no ENV, whatever the process's holds.
        let client = super::ChromaClient::new("http://127.0.0.1:1").expect("client");
        assert!(!client.endpoint.has_authorization());
        #[cfg(feature = "tls")]
        {
            use batch_core::tls::CHROMA_CA_FILE_VAR;
            let ca =
                |name: &str| (name == CHROMA_CA_FILE_VAR).then(|| "/nonexistent/ca.pem".into());
            let err = ChromaClientBuilder::from_env_with("https://127.0.0.1:1", ca)
                .and_then(ChromaClientBuilder::build)
                .expect_err("the CA file is read at build");
            assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        }
    }
}
