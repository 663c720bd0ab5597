//! TLS settings shared by every backend, feature `tls`: one stack, rustls
//! with the ring provider (no OpenSSL).
//!
//! [`TlsSettings`] says which certificate authorities a client trusts:
//! by default Mozilla's root certificates, compiled in
//! (`webpki-root-certs`), plus any CA files (PEM) given with
//! [`TlsSettings::ca_file`] or an ENV variable such as
//! [`CHROMA_CA_FILE_VAR`]. Compiled-in roots rather than the system store
//! (`rustls-native-certs`): a static or `scratch` container image has no
//! system store, and the same binary then trusts the same servers
//! everywhere. A managed database signed by a private CA (or one you want
//! to pin) is trusted through a CA file; [`TlsSettings::public_roots`]`(false)`
//! trusts that file alone.
//!
//! [`TlsSettings::client_config`] always verifies the chain and the host
//! name. PostgreSQL's `sslmode` asks for less in two modes, so
//! [`TlsSettings::client_config_verifying`] also offers
//! [`Verify::ChainOnly`] (`verify-ca`) and [`Verify::Nothing`] (`require`
//! without a CA file: encrypted, not authenticated, as libpq does).
//!
//! Every backend takes these settings the same way: a consuming
//! `.tls(TlsSettings) -> Self` on its client builder or configuration
//! (`ChromaClientBuilder`, `CouchDatabase`, `Neo4jConfig`), which cannot
//! fail. The CA files are read when the client is built
//! (`ChromaClientBuilder::build`) or, for a type with no build step, when
//! it first connects (`CouchDatabase`'s first request, a Neo4j sink's
//! connect); a file that cannot be used is then a fatal error naming it
//! ([`TlsError`]'s text), before anything is sent. One infallible setter
//! keeps the chains alike (no `?` in the middle of one backend's and not
//! another's), and the error still says which file. PostgreSQL is the
//! exception: it takes its trust from the connection string, as libpq
//! does (`sslrootcert=<file>`, what managed providers document), so
//! `Connector::from_url` reads the file and reports it.
//!
//! The same settings give ureq's [`TlsConfig`](ureq::tls::TlsConfig) (the
//! HTTP backends, through [`http::Endpoint`](crate::http::Endpoint)) and a
//! [`rustls::ClientConfig`] (for drivers that take one).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{DigitallySignedStruct, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// ENV variable with a CA file (PEM) trusted by Chroma clients in addition
/// to the public roots.
pub const CHROMA_CA_FILE_VAR: &str = "UDS3_CHROMA_CA_FILE";
/// ENV variable with a CA file (PEM) trusted by CouchDB clients in
/// addition to the public roots.
pub const COUCHDB_CA_FILE_VAR: &str = "UDS3_COUCHDB_CA_FILE";

/// ENV variable with a CA file (PEM) trusted by PostgreSQL clients in
/// addition to the public roots.
pub const POSTGRES_CA_FILE_VAR: &str = "UDS3_POSTGRES_CA_FILE";

/// ENV variable with a CA file (PEM) trusted by Neo4j clients in
/// addition to the public roots.
pub const NEO4J_CA_FILE_VAR: &str = "UDS3_NEO4J_CA_FILE";

/// A rustls client configuration that accepts any server certificate, for
/// a URI scheme that asks for exactly that (Bolt's `bolt+ssc://`,
/// "self-signed certificate"): [`Verify::Nothing`], so neither issuer nor
/// host name is checked, but the handshake signatures are. Encrypts; does
/// not authenticate the server.
pub fn any_certificate_config() -> Result<Arc<rustls::ClientConfig>, TlsError> {
    TlsSettings::new().client_config_verifying(Verify::Nothing)
}

/// How much of the server's certificate a client checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Verify {
    /// The chain up to a trusted root, and the host name.
    #[default]
    Full,
    /// The chain up to a trusted root, not the host name (PostgreSQL's
    /// `sslmode=verify-ca`).
    ChainOnly,
    /// Nothing: any certificate is accepted (the handshake signature is
    /// still checked against it). Encrypts, but a man in the middle is not
    /// noticed (PostgreSQL's `sslmode=require` without a CA file).
    Nothing,
}

/// A TLS setting that cannot be used: a CA file that cannot be read or
/// holds no certificate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The CA file could not be read.
    #[error("cannot read CA file {path}: {source}")]
    ReadCaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The CA file is not PEM, or holds no usable certificate.
    #[error("CA file {path}: {reason}")]
    BadCaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Public roots switched off and no CA file given: nothing is trusted.
    #[error("no trusted certificates: public roots are off and no CA file is given")]
    NoRoots,
    /// The ENV variable naming a CA file is not valid Unicode.
    #[error("{var} is not valid Unicode: {value:?}")]
    NotUnicode {
        /// The variable.
        var: &'static str,
        /// Its value, lossily converted.
        value: String,
    },
}

/// Which certificate authorities a client trusts. Cheap to clone; files
/// are read when a configuration is made from it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct TlsSettings {
    public_roots: bool,
    ca_files: Vec<PathBuf>,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self::new()
    }
}

impl TlsSettings {
    /// Mozilla's public roots, no CA file.
    pub fn new() -> Self {
        Self {
            public_roots: true,
            ca_files: Vec::new(),
        }
    }

    /// [`new`](Self::new) plus the CA file named by the ENV variable `var`
    /// (e.g. [`CHROMA_CA_FILE_VAR`]), if it is set and not empty. The file
    /// itself is read later, when a configuration is made.
    pub fn from_env(var: &'static str) -> Result<Self, TlsError> {
        Self::from_env_with(var, |name| std::env::var_os(name))
    }

    /// [`from_env`](Self::from_env) with a custom variable lookup.
    pub fn from_env_with(
        var: &'static str,
        lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Self, TlsError> {
        let settings = Self::new();
        match lookup(var) {
            None => Ok(settings),
            Some(raw) => {
                let value = raw.into_string().map_err(|raw| TlsError::NotUnicode {
                    var,
                    value: raw.to_string_lossy().into_owned(),
                })?;
                let value = value.trim();
                Ok(if value.is_empty() {
                    settings
                } else {
                    settings.ca_file(value)
                })
            }
        }
    }

    /// Also trusts the certificates in the PEM file `path` (one or more
    /// `BEGIN CERTIFICATE` blocks), e.g. a private CA or a cloud
    /// provider's CA bundle.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_files.push(path.into());
        self
    }

    /// Whether Mozilla's public roots are trusted (default `true`). With
    /// `false`, only the CA files are.
    pub fn public_roots(mut self, on: bool) -> Self {
        self.public_roots = on;
        self
    }

    /// The CA files given.
    pub fn ca_files(&self) -> &[PathBuf] {
        &self.ca_files
    }

    /// Every trusted certificate: the public roots (if on), then those of
    /// the CA files, read now.
    pub fn root_certificates(&self) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        let mut certs = Vec::new();
        if self.public_roots {
            certs.extend(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
        }
        for path in &self.ca_files {
            certs.extend(read_ca_file(path)?);
        }
        if certs.is_empty() {
            return Err(TlsError::NoRoots);
        }
        Ok(certs)
    }

    /// A rustls client configuration (ring provider, TLS 1.2 and 1.3,
    /// host names verified, no client certificate) trusting these roots.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        self.client_config_verifying(Verify::Full)
    }

    /// [`client_config`](Self::client_config) checking the server's
    /// certificate as `verify` says. [`Verify::Nothing`] reads no CA file.
    pub fn client_config_verifying(
        &self,
        verify: Verify,
    ) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::BadCaFile {
                path: PathBuf::new(),
                reason: format!("rustls refused its own defaults: {e}"),
            })?;
        let config = match verify {
            Verify::Full => builder
                .with_root_certificates(self.root_store()?)
                .with_no_client_auth(),
            Verify::ChainOnly => {
                let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(self.root_store()?),
                    provider(),
                )
                .build()
                .map_err(|e| TlsError::BadCaFile {
                    path: PathBuf::new(),
                    reason: format!("rustls refused the roots: {e}"),
                })?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(ChainOnly(webpki)))
                    .with_no_client_auth()
            }
            Verify::Nothing => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Unverified(provider())))
                .with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }

    fn root_store(&self) -> Result<RootCertStore, TlsError> {
        let mut store = RootCertStore::empty();
        let (_, ignored) = store.add_parsable_certificates(self.root_certificates()?);
        // A CA file whose every certificate was refused trusts nothing.
        if store.is_empty() {
            return Err(TlsError::NoRoots);
        }
        if ignored > 0 {
            tracing::debug!(ignored, "root certificates rustls could not parse");
        }
        Ok(store)
    }

    /// ureq's TLS configuration (rustls with the ring provider) trusting
    /// these roots.
    #[cfg(feature = "http")]
    pub fn ureq_config(&self) -> Result<ureq::tls::TlsConfig, TlsError> {
        Ok(ureq_config_of(&self.root_certificates()?))
    }
}

#[cfg(feature = "http")]
fn ureq_config_of(roots: &[CertificateDer<'_>]) -> ureq::tls::TlsConfig {
    let certs: Vec<ureq::tls::Certificate<'static>> = roots
        .iter()
        .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
        .unversioned_rustls_crypto_provider(provider())
        .build()
}

/// Verifies the chain, not the host name: rustls' WebPKI verifier checks
/// the chain first, so its name error means the chain passed.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::CertificateError as C;
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                C::NotValidForName | C::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Accepts any certificate; checks only that the handshake was signed
/// with the certificate's key.
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Why a rustls error stopped a handshake, in words, with a hint; `host`
/// is the name the certificate was checked against. For the backends'
/// error messages.
pub fn describe(error: &rustls::Error, host: &str) -> String {
    use rustls::{CertificateError as C, Error as E};
    match error {
        E::InvalidCertificate(c) => {
            let what = match c {
                C::UnknownIssuer => "is not signed by a trusted CA (unknown issuer); \
                     trust its CA with a CA file"
                    .to_owned(),
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    format!("is not valid for the host name {host:?}")
                }
                C::Expired | C::ExpiredContext { .. } => "has expired".to_owned(),
                C::NotValidYet | C::NotValidYetContext { .. } => "is not valid yet".to_owned(),
                C::Revoked => "is revoked".to_owned(),
                other => format!("was refused ({other:?})"),
            };
            format!("the server's certificate {what} ({error})")
        }
        E::InvalidMessage(_)
        | E::InappropriateMessage { .. }
        | E::InappropriateHandshakeMessage { .. } => {
            format!(
                "the server does not speak TLS there (a plaintext port? then use http://): {error}"
            )
        }
        E::AlertReceived(alert) => {
            format!("the server refused the TLS handshake (alert {alert:?})")
        }
        other => format!("TLS handshake failed: {other}"),
    }
}

/// The ring crypto provider, explicitly: no process-wide default needed.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::ReadCaFile {
        path: path.to_owned(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadCaFile {
            path: path.to_owned(),
            reason: format!("not valid PEM: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::BadCaFile {
            path: path.to_owned(),
            reason: "no BEGIN CERTIFICATE block in it".to_owned(),
        });
    }
    let mut store = RootCertStore::empty();
    let (_, ignored) = store.add_parsable_certificates(certs.iter().cloned());
    if ignored > 0 {
        return Err(TlsError::BadCaFile {
            path: path.to_owned(),
            reason: format!(
                "{ignored} of {} certificates cannot be used as a CA",
                certs.len()
            ),
        });
    }
    Ok(certs)
}

/// Declares a builder's `tls` and `ca_file` on a type with a field
/// `tls: Option<TlsSettings>`, so that the backends take TLS alike; `$doc`
/// is `tls`'s doc: which connections the settings are for, and the
/// default.
#[macro_export]
macro_rules! tls_setters {
    ($doc:literal) => {
        #[doc = $doc]
        pub fn tls(mut self, settings: $crate::tls::TlsSettings) -> Self {
            self.tls = Some(settings);
            self
        }

        /// Also trusts the CA certificates in the PEM file `path` (a
        /// private CA, a managed database's CA bundle): shorthand for
        /// [`tls`](Self::tls) adding a CA file to the current settings,
        /// whose trusted roots stay.
        pub fn ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
            let settings = self.tls.take().unwrap_or_default();
            self.tls = Some(settings.ca_file(path));
            self
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed EC P-256 CA certificate (`CN=uds3 unit test CA`).
    const TEST_CA: &str = include_str!("../tests/data/unit-ca.pem");

    fn temp_file(name: &str, text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("{}-{name}", std::process::id()));
        std::fs::write(&path, text).expect("write temp file");
        path
    }

    #[test]
    fn client_config_trusts_public_roots_and_ca_files() {
        let public = TlsSettings::new().root_certificates().expect("roots");
        assert!(public.len() > 100, "{}", public.len());
        let ca = temp_file("ca.pem", TEST_CA);
        let settings = TlsSettings::new().ca_file(&ca);
        assert_eq!(
            settings.root_certificates().expect("roots").len(),
            public.len() + 1
        );
        let config = settings.client_config().expect("client config");
        assert!(config.alpn_protocols.is_empty());
        let only = TlsSettings::new().public_roots(false).ca_file(&ca);
        assert_eq!(only.root_certificates().expect("roots").len(), 1);
        only.client_config()
            .expect("client config of the CA file alone");
        std::fs::remove_file(ca).ok();
    }

    #[test]
    fn bad_ca_files_are_named() {
        let err = TlsSettings::new()
            .ca_file("/nonexistent/ca.pem")
            .client_config()
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        let junk = temp_file("junk.pem", "not a certificate\n");
        let err = TlsSettings::new()
            .ca_file(&junk)
            .root_certificates()
            .unwrap_err();
        assert!(err.to_string().contains("no BEGIN CERTIFICATE"), "{err}");
        std::fs::remove_file(junk).ok();
        let err = TlsSettings::new()
            .public_roots(false)
            .client_config()
            .unwrap_err();
        assert!(matches!(err, TlsError::NoRoots), "{err}");
    }

    #[test]
    fn env_variable_adds_a_ca_file() {
        let none = TlsSettings::from_env_with(CHROMA_CA_FILE_VAR, |_| None).expect("unset");
        assert_eq!(none, TlsSettings::new());
        let empty =
            TlsSettings::from_env_with(CHROMA_CA_FILE_VAR, |_| Some(" ".into())).expect("empty");
        assert_eq!(empty, TlsSettings::new());
        let set = TlsSettings::from_env_with(CHROMA_CA_FILE_VAR, |name| {
            (name == CHROMA_CA_FILE_VAR).then(|| "/etc/ca.pem".into())
        })
        .expect("set");
        assert_eq!(set.ca_files(), [PathBuf::from("/etc/ca.pem")]);
    }
}
