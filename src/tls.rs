//! TLS, both ways: the server's certificate for HTTP clients (with optional
//! client-certificate checks) and the client configuration towards
//! Cassandra. PEM files only; ring as the crypto provider.
//!
//! Towards Cassandra the chain is always verified against the configured CA.
//! The name is checked against the *configured host names*, not the
//! addresses they resolve to: the driver connects by IP, certificates carry
//! host names. `enable_host_verification: false` turns off only the name
//! check.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig,
    SignatureScheme,
};

/// A TLS setup problem, naming the file involved.
#[derive(Debug)]
pub struct TlsError {
    pub path: Option<PathBuf>,
    pub message: String,
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{}: {}", p.display(), self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for TlsError {}

fn err(path: &Path, message: impl fmt::Display) -> TlsError {
    TlsError {
        path: Some(path.to_owned()),
        message: message.to_string(),
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Whether `path` holds PEM certificates, for the config check.
pub(crate) fn check_certs(path: &Path) -> Result<(), String> {
    load_certs(path).map(drop).map_err(|e| e.to_string())
}

/// Whether `path` holds a PEM private key, for the config check.
pub(crate) fn check_key(path: &Path) -> Result<(), String> {
    load_key(path).map(drop).map_err(|e| e.to_string())
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let data = std::fs::read(path).map_err(|e| err(path, e))?;
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut data.as_slice()).collect();
    let certs = certs.map_err(|e| err(path, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(err(path, "contains no PEM certificate"));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let data = std::fs::read(path).map_err(|e| err(path, e))?;
    rustls_pemfile::private_key(&mut data.as_slice())
        .map_err(|e| err(path, format!("not a PEM key file: {e}")))?
        .ok_or_else(|| err(path, "contains no PEM private key"))
}

fn load_roots(path: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots
            .add(cert)
            .map_err(|e| err(path, format!("unusable CA certificate: {e}")))?;
    }
    Ok(Arc::new(roots))
}

/// The HTTP server's TLS configuration; with `client_ca`, clients must
/// present a certificate signed by it.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<ServerConfig, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError {
            path: None,
            message: e.to_string(),
        })?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(load_roots(ca)?, provider())
                .build()
                .map_err(|e| err(ca, e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(load_certs(cert)?, load_key(key)?)
        .map_err(|e| err(key, format!("does not match {}: {e}", cert.display())))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The client configuration towards Cassandra.
pub fn client_config(
    ca: &Path,
    client_cert: Option<(&Path, &Path)>,
    hosts: &[String],
    verify_hostname: bool,
) -> Result<ClientConfig, TlsError> {
    let inner = WebPkiServerVerifier::builder_with_provider(load_roots(ca)?, provider())
        .build()
        .map_err(|e| err(ca, e))?;
    let names = hosts
        .iter()
        .filter_map(|h| ServerName::try_from(h.clone()).ok())
        .collect();
    let verifier = Arc::new(ConfiguredNames {
        inner,
        names,
        verify_hostname,
    });
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError {
            path: None,
            message: e.to_string(),
        })?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match client_cert {
        None => Ok(builder.with_no_client_auth()),
        Some((cert, key)) => builder
            .with_client_auth_cert(load_certs(cert)?, load_key(key)?)
            .map_err(|e| err(key, format!("does not match {}: {e}", cert.display()))),
    }
}

/// Verifies the chain with webpki, and the name against the configured host
/// names (whichever the connection was made for: the driver gives one server
/// name for all nodes).
#[derive(Debug)]
struct ConfiguredNames {
    inner: Arc<WebPkiServerVerifier>,
    names: Vec<ServerName<'static>>,
    verify_hostname: bool,
}

impl ServerCertVerifier for ConfiguredNames {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut last = None;
        for name in self
            .names
            .iter()
            .chain(std::iter::once(&server_name.to_owned()))
        {
            match self
                .inner
                .verify_server_cert(end_entity, intermediates, name, ocsp_response, now)
            {
                Ok(ok) => return Ok(ok),
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                )) if !self.verify_hostname => return Ok(ServerCertVerified::assertion()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName,
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// What a failed exchange with a Cassandra node means for kask's settings:
/// the fix, as one phrase naming the key, or `None` when the error is not
/// about TLS. `client_cert`: whether kask presented a client certificate.
pub fn cassandra_hint(e: &std::io::Error, client_cert: bool) -> Option<&'static str> {
    use rustls::AlertDescription as Alert;
    const CLIENT_CERT_NEEDED: &str = "the node requires a client certificate (require_client_auth): set cassandra.tls.cert and cassandra.tls.key";
    const CLIENT_CERT_REFUSED: &str = "the node refused the client certificate in cassandra.tls.cert: it must be valid and signed by a CA in the nodes' client_encryption_options truststore";
    let tls = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(match tls {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "the node's certificate names none of cassandra.hosts: list the nodes in cassandra.hosts by a name their certificates carry (enable_host_verification: false checks the CA only)"
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => {
                "the node's certificate is outside its validity period: renew it on the node (or check this host's clock)"
            }
            _ => "the node's certificate is not signed by the CA in cassandra.tls.ca: set cassandra.tls.ca to the CA that signed the nodes' certificates",
        },
        rustls::Error::AlertReceived(Alert::CertificateRequired) => CLIENT_CERT_NEEDED,
        rustls::Error::AlertReceived(Alert::HandshakeFailure) if !client_cert => CLIENT_CERT_NEEDED,
        // What Cassandra 4.1 (netty with BoringSSL) sends when its trust
        // store does not accept the client certificate.
        rustls::Error::AlertReceived(Alert::InternalError) if client_cert => CLIENT_CERT_REFUSED,
        rustls::Error::AlertReceived(
            Alert::BadCertificate
            | Alert::UnknownCA
            | Alert::CertificateUnknown
            | Alert::UnsupportedCertificate
            | Alert::CertificateExpired
            | Alert::CertificateRevoked
            | Alert::DecryptError
            | Alert::AccessDenied
            | Alert::HandshakeFailure,
        ) => CLIENT_CERT_REFUSED,
        rustls::Error::InvalidMessage(_)
        | rustls::Error::InappropriateMessage { .. }
        | rustls::Error::InappropriateHandshakeMessage { .. } => {
            "the node does not answer TLS on this port: enable client_encryption_options on the nodes, or remove cassandra.tls"
        }
        _ => return None,
    })
}

/// Explains `e`, an error of a first exchange with the Cassandra node at
/// `host`:`port` (with `tls` if configured): the error and the fix, as
/// [`cassandra_hint`] gives it, or `None`. When the node just closed the
/// connection, a TLS node is asked again why: a handshake, then a wait of up
/// to `wait` for its alert with nothing sent (a node that closes with a
/// request unread resets the connection, and the reset may lose the alert);
/// its alert then stands for the error, so that every attempt says the same.
pub async fn explain_cassandra_error(
    e: &std::io::Error,
    host: &str,
    port: u16,
    tls: Option<Arc<ClientConfig>>,
    client_cert: bool,
    wait: std::time::Duration,
) -> Option<String> {
    use std::io::ErrorKind;
    use tokio::io::AsyncReadExt;
    if let Some(hint) = cassandra_hint(e, client_cert) {
        return Some(format!("{e}: {hint}"));
    }
    if !matches!(
        e.kind(),
        ErrorKind::ConnectionReset
            | ErrorKind::UnexpectedEof
            | ErrorKind::BrokenPipe
            | ErrorKind::ConnectionAborted
    ) {
        return None;
    }
    let Some(tls) = tls else {
        // Reset or end of file, whichever comes first: the same to a reader.
        return Some("the node closed the connection without an answer: if its client_encryption_options are enabled, set cassandra.tls.ca".into());
    };
    let name = ServerName::try_from(host.to_string()).ok()?;
    let again = async {
        let tcp = tokio::net::TcpStream::connect((host, port)).await?;
        let mut s = tokio_rustls::TlsConnector::from(tls)
            .connect(name, tcp)
            .await?;
        s.read(&mut [0u8; 1]).await
    };
    match tokio::time::timeout(wait, again).await {
        Ok(Err(alert)) => {
            cassandra_hint(&alert, client_cert).map(|hint| format!("{alert}: {hint}"))
        }
        _ => None,
    }
}
