//! Asking a node which native protocol version it speaks, without the
//! driver: one `OPTIONS` frame. Used to choose the version at start
//! ([`negotiate`]) and, by the health supervisor, to tell whether a node the
//! driver has down answers CQL again ([`probe`]).

use std::sync::Arc;

use cdrs_tokio::frame::Version;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::ConnectError;
use crate::config::StoreConfig;

/// An `OPTIONS` request in protocol v4, stream 0, empty body.
const OPTIONS_V4: [u8; 9] = [0x04, 0, 0, 0, 0x05, 0, 0, 0, 0];
const OPCODE_ERROR: u8 = 0x00;

/// The protocol version to use: the configured one, or what the first
/// reachable contact point answers to [`probe`].
pub async fn negotiate(
    cfg: &StoreConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<Version, ConnectError> {
    match cfg.protocol_version {
        Some(3) => return Ok(Version::V3),
        Some(5) => return Ok(Version::V5),
        Some(_) => return Ok(Version::V4),
        None => {}
    }
    let mut last = String::new();
    for host in &cfg.hosts {
        match tokio::time::timeout(cfg.connect_timeout, probe(host, cfg.port, tls.clone())).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => last = format!("{host}:{}: {e}", cfg.port),
            Err(_) => {
                last = format!(
                    "{host}:{}: no answer within {} ms",
                    cfg.port,
                    cfg.connect_timeout.as_millis()
                )
            }
        }
    }
    Err(ConnectError(format!(
        "cannot reach any Cassandra contact point ({last})"
    )))
}

/// Sends a v4 `OPTIONS` to `host:port`: a server that answers in an older
/// version, or with an error, gets v3. Production Cassandra 4.x/5.x
/// answers v4.
pub async fn probe(
    host: &str,
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> std::io::Result<Version> {
    let tcp = TcpStream::connect((host, port)).await?;
    let mut header = [0u8; 9];
    match tls {
        None => {
            let mut s = tcp;
            s.write_all(&OPTIONS_V4).await?;
            s.read_exact(&mut header).await?;
        }
        Some(cfg) => {
            let name = ServerName::try_from(host.to_string())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            let mut s = tokio_rustls::TlsConnector::from(cfg)
                .connect(name, tcp)
                .await?;
            s.write_all(&OPTIONS_V4).await?;
            s.read_exact(&mut header).await?;
        }
    }
    let server_version = header[0] & 0x7f;
    Ok(if server_version < 4 || header[4] == OPCODE_ERROR {
        Version::V3
    } else {
        Version::V4
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that answers the v4 OPTIONS probe with `reply`.
    async fn fake_server(reply: [u8; 9]) -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut req = [0u8; 9];
            s.read_exact(&mut req).await.unwrap();
            assert_eq!(req, OPTIONS_V4);
            s.write_all(&reply).await.unwrap();
        });
        port
    }

    #[tokio::test]
    async fn protocol_negotiation() {
        // Cassandra 4.x/5.x: SUPPORTED in v4
        let port = fake_server([0x84, 0, 0, 0, 0x06, 0, 0, 0, 0]).await;
        assert_eq!(probe("127.0.0.1", port, None).await.unwrap(), Version::V4);
        // Cassandra 2.1: a protocol error, answered in v3
        let port = fake_server([0x83, 0, 0, 0, 0x00, 0, 0, 0, 0]).await;
        assert_eq!(probe("127.0.0.1", port, None).await.unwrap(), Version::V3);
    }
}
