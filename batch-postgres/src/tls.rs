//! The TLS connector: tokio-postgres' `MakeTlsConnect` over tokio-rustls,
//! with a rustls configuration from batch-core's
//! [`TlsSettings`](batch_core::tls::TlsSettings).
//!
//! Our own rather than `tokio-postgres-rustls`: that crate pulls
//! x509-cert, sha2 and const-oid for channel binding, and the verifiers
//! `sslmode` needs come from batch-core anyway. Channel binding
//! (`SCRAM-SHA-256-PLUS`) is therefore not offered; SCRAM works without it.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::Socket;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

/// Makes one rustls handshake per connection.
#[derive(Clone)]
pub(crate) struct MakeRustls(pub(crate) Arc<rustls::ClientConfig>);

impl MakeTlsConnect<Socket> for MakeRustls {
    type Stream = RustlsStream;
    type TlsConnect = RustlsConnect;
    type Error = HandshakeError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, HandshakeError> {
        let name = ServerName::try_from(domain.to_owned()).map_err(|e| HandshakeError {
            reason: format!("{domain:?} is not a valid TLS server name: {e}"),
        })?;
        Ok(RustlsConnect {
            config: self.0.clone(),
            name,
        })
    }
}

/// One handshake with the server `name`.
pub(crate) struct RustlsConnect {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

impl TlsConnect<Socket> for RustlsConnect {
    type Stream = RustlsStream;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = BoxFuture<'static, Result<RustlsStream, Self::Error>>;

    fn connect(self, stream: Socket) -> Self::Future {
        Box::pin(async move {
            let host = self.name.to_str().into_owned();
            tokio_rustls::TlsConnector::from(self.config)
                .connect(self.name, stream)
                .await
                .map(|s| RustlsStream(Box::new(s)))
                .map_err(|e| classify(e, &host))
        })
    }
}

/// A rustls refusal becomes a [`HandshakeError`] (fatal, no retry cures
/// it); a socket error stays an I/O error (the connection was lost).
fn classify(error: io::Error, host: &str) -> Box<dyn std::error::Error + Send + Sync> {
    match error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        Some(tls) => {
            let mut reason = batch_core::tls::describe(tls, host);
            if matches!(
                tls,
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
            ) {
                reason.push_str(&format!(
                    "; give it with sslrootcert=<file> or {} (read by Connector::from_env)",
                    batch_core::tls::POSTGRES_CA_FILE_VAR
                ));
            }
            Box::new(HandshakeError { reason })
        }
        None => Box::new(error),
    }
}

/// The TLS handshake was refused (untrusted certificate, wrong host
/// name, ...): the reason in words.
#[derive(Debug)]
pub(crate) struct HandshakeError {
    pub(crate) reason: String,
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for HandshakeError {}

/// A TLS connection to the server.
pub(crate) struct RustlsStream(Box<tokio_rustls::client::TlsStream<Socket>>);

impl AsyncRead for RustlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for RustlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

impl TlsStream for RustlsStream {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}
