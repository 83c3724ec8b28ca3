//! TCP and TLS connections.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig as RustlsConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use crate::config::{ClientConfig, Roots, TlsConfig};
use crate::error::Error;

/// A byte stream to the server.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Dials one host: TCP, then TLS when configured, within a timeout. Built once (the CA file
/// is read then), used for every connection to that host.
pub(crate) struct Dialer {
    host: String,
    port: u16,
    addr: String,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    timeout: std::time::Duration,
}

impl Dialer {
    pub(crate) fn new(cfg: &ClientConfig) -> Result<Dialer, Error> {
        let addr = cfg.addr();
        let tls = match &cfg.tls {
            Some(t) => Some(tls_connector(t, &cfg.host, &addr)?),
            None => None,
        };
        Ok(Dialer {
            host: cfg.host.clone(),
            port: cfg.port,
            addr,
            tls,
            timeout: cfg.connect_timeout,
        })
    }

    /// `host:port`.
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    /// Connects (and runs the TLS handshake) within the connect timeout.
    pub(crate) async fn dial(&self) -> Result<Box<dyn Io>, Error> {
        let addr = &self.addr;
        let work = async {
            let tcp = TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|source| Error::Connect {
                    addr: addr.clone(),
                    source,
                })?;
            let _ = tcp.set_nodelay(true);
            match &self.tls {
                None => Ok(Box::new(tcp) as Box<dyn Io>),
                Some((connector, name)) => {
                    let s = connector
                        .connect(name.clone(), tcp)
                        .await
                        .map_err(|e| Error::Tls {
                            addr: addr.clone(),
                            message: e.to_string(),
                        })?;
                    Ok(Box::new(s) as Box<dyn Io>)
                }
            }
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(Error::ConnectTimeout {
                addr: addr.clone(),
                after: self.timeout,
            }),
        }
    }
}

/// Connects (and runs the TLS handshake) within `connect_timeout`; over HTTP, the first
/// HTTP connection is made here and the AMI byte stream is played by [`crate::http`].
pub(crate) async fn connect(cfg: &ClientConfig) -> Result<Box<dyn Io>, Error> {
    let dialer = Dialer::new(cfg)?;
    match &cfg.http {
        None => dialer.dial().await,
        Some(http) => crate::http::connect(cfg, http, dialer).await,
    }
}

fn tls_connector(
    t: &TlsConfig,
    host: &str,
    addr: &str,
) -> Result<(TlsConnector, ServerName<'static>), Error> {
    let err = |message: String| Error::Tls {
        addr: addr.to_owned(),
        message,
    };
    let mut roots = RootCertStore::empty();
    let pem_certs = |pem: &[u8]| -> Result<Vec<CertificateDer<'static>>, Error> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| err(format!("bad PEM: {e}")))?;
        if certs.is_empty() {
            return Err(err("no certificate in the PEM data".into()));
        }
        Ok(certs)
    };
    let certs = match &t.roots {
        Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            if found.certs.is_empty() {
                return Err(err(format!(
                    "no system certificate authorities found ({} errors)",
                    found.errors.len()
                )));
            }
            found.certs
        }
        Roots::PemFile(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| err(format!("cannot read CA file {}: {e}", path.display())))?;
            pem_certs(&pem)?
        }
        Roots::Pem(pem) => pem_certs(pem)?,
    };
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(err("no usable certificate authority".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = RustlsConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = t.server_name.as_deref().unwrap_or(host);
    let name = ServerName::try_from(name.trim_start_matches('[').trim_end_matches(']'))
        .map_err(|e| err(format!("invalid server name {name:?}: {e}")))?
        .to_owned();
    Ok((TlsConnector::from(Arc::new(config)), name))
}
