//! TLS towards Cassandra: the chain is always verified against the
//! configured CA; the name is checked against the configured host names
//! (not the IP the driver connects to) unless host verification is off.
//! Certificates are made here; the server is a rustls endpoint on loopback.

use std::path::Path;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A CA `ca` and a server certificate for `name` signed by it.
    fn new(name: &str) -> Pki {
        let dir = tempfile::tempdir().unwrap();
        for ca in ["ca", "other-ca"] {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let cert = params.self_signed(&key).unwrap();
            std::fs::write(dir.path().join(format!("{ca}.pem")), cert.pem()).unwrap();
            if ca == "ca" {
                let server_key = KeyPair::generate().unwrap();
                let server = CertificateParams::new(vec![name.to_string()])
                    .unwrap()
                    .signed_by(&server_key, &cert, &key)
                    .unwrap();
                std::fs::write(dir.path().join("server.pem"), server.pem()).unwrap();
                std::fs::write(dir.path().join("server.key"), server_key.serialize_pem()).unwrap();
            }
        }
        Pki { dir }
    }

    fn path(&self, f: &str) -> std::path::PathBuf {
        self.dir.path().join(f)
    }
}

/// Handshakes with a server presenting `server.pem`, connecting by IP as
/// the driver does; returns whether the handshake (and one echo) worked.
async fn handshake(pki: &Pki, ca: &Path, hosts: &[&str], verify_hostname: bool) -> bool {
    let server_cfg =
        kask::tls::server_config(&pki.path("server.pem"), &pki.path("server.key"), None).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        if let Ok(mut s) = acceptor.accept(tcp).await {
            let mut b = [0u8; 4];
            if s.read_exact(&mut b).await.is_ok() {
                let _ = s.write_all(&b).await;
            }
        }
    });
    let hosts: Vec<String> = hosts.iter().map(|s| s.to_string()).collect();
    let client = kask::tls::client_config(ca, None, &hosts, verify_hostname).unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::IpAddress(addr.ip().into());
    match tokio_rustls::TlsConnector::from(Arc::new(client))
        .connect(name, tcp)
        .await
    {
        Err(_) => false,
        Ok(mut s) => {
            s.write_all(b"ping").await.unwrap();
            let mut b = [0u8; 4];
            s.read_exact(&mut b).await.is_ok() && &b == b"ping"
        }
    }
}

#[tokio::test]
async fn the_configured_host_name_is_verified_not_the_ip() {
    let pki = Pki::new("cassandra1.eqiad.wmnet");
    let ca = pki.path("ca.pem");
    assert!(
        handshake(&pki, &ca, &["cassandra1.eqiad.wmnet"], true).await,
        "right name, right CA"
    );
    assert!(
        handshake(
            &pki,
            &ca,
            &["cassandra2.eqiad.wmnet", "cassandra1.eqiad.wmnet"],
            true
        )
        .await,
        "any configured host name may match"
    );
    assert!(
        !handshake(&pki, &ca, &["cassandra9.codfw.wmnet"], true).await,
        "a name that is not in the certificate"
    );
}

#[tokio::test]
async fn turning_host_verification_off_keeps_the_chain_check() {
    let pki = Pki::new("cassandra1.eqiad.wmnet");
    assert!(
        handshake(&pki, &pki.path("ca.pem"), &["elsewhere.example"], false).await,
        "name check off"
    );
    assert!(
        !handshake(
            &pki,
            &pki.path("other-ca.pem"),
            &["cassandra1.eqiad.wmnet"],
            false
        )
        .await,
        "a certificate from another CA is refused even with host verification off"
    );
    assert!(
        !handshake(
            &pki,
            &pki.path("other-ca.pem"),
            &["cassandra1.eqiad.wmnet"],
            true
        )
        .await
    );
}

#[test]
fn unreadable_files_name_the_file() {
    let e = kask::tls::client_config(Path::new("/nonexistent/ca.pem"), None, &["h".into()], true)
        .unwrap_err();
    assert!(e.to_string().starts_with("/nonexistent/ca.pem: "), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let e = kask::tls::client_config(&junk, None, &["h".into()], true).unwrap_err();
    assert!(e.to_string().contains("contains no PEM certificate"), "{e}");
}
