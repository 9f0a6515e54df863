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
use crate::config::{Credentials, StoreConfig};

/// An `OPTIONS` request in protocol v4 (which every Cassandra since 2.2
/// reads), stream 0, empty body.
const OPTIONS_V4: [u8; 9] = [0x04, 0, 0, 0, 0x05, 0, 0, 0, 0];
const OPCODE_ERROR: u8 = 0x00;
const OPCODE_SUPPORTED: u8 = 0x06;
/// A SUPPORTED answer is a few hundred bytes; anything larger is not one.
const MAX_SUPPORTED_BODY: usize = 64 * 1024;

/// The protocol version to use: the configured one, or the highest that
/// both kask and the first reachable contact point handle: v5 where the
/// server lists it (Cassandra 4.x and 5.x), v4 otherwise (3.x).
pub async fn negotiate(
    cfg: &StoreConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<Version, ConnectError> {
    // Always probed, even with the version configured: the probe says why
    // a contact point cannot be used (TLS settings among the reasons),
    // where the driver retries without saying.
    let configured = match cfg.protocol_version {
        Some(5) => Some(Version::V5),
        Some(_) => Some(Version::V4),
        None => None,
    };
    let mut last = String::new();
    for host in &cfg.hosts {
        match tokio::time::timeout(cfg.connect_timeout, probe(host, cfg.port, tls.clone())).await {
            Ok(Ok(Ok(v))) => return Ok(configured.unwrap_or(v)),
            Ok(Ok(Err(e))) => return Err(ConnectError(format!("{host}:{}: {e}", cfg.port))),
            Ok(Err(e)) => {
                let client_cert = cfg.tls.as_ref().is_some_and(|t| t.client_cert.is_some());
                let explained = crate::tls::explain_cassandra_error(
                    &e,
                    host,
                    cfg.port,
                    tls.clone(),
                    client_cert,
                    cfg.connect_timeout,
                )
                .await;
                let why = explained.unwrap_or_else(|| e.to_string());
                last = format!("{host}:{}: {why}", cfg.port);
            }
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
        "cannot use any Cassandra contact point ({last})"
    )))
}

/// Logs in to the first contact point that answers, as the driver will,
/// to name the reason when the server refuses: the driver retries a refused
/// login for ever without saying why, so a wrong password looked like an
/// unreachable cluster. A node that cannot be reached is left to the driver
/// to report.
pub async fn check_login(
    cfg: &StoreConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<(), ConnectError> {
    for host in &cfg.hosts {
        let attempt = login(host, cfg.port, tls.clone(), cfg.auth.as_ref());
        match tokio::time::timeout(cfg.connect_timeout, attempt).await {
            Ok(Ok(Ok(()))) => return Ok(()),
            Ok(Ok(Err(why))) => return Err(ConnectError(format!("{host}:{}: {why}", cfg.port))),
            Ok(Err(_)) | Err(_) => continue,
        }
    }
    Ok(())
}

const OPCODE_STARTUP: u8 = 0x01;
const OPCODE_READY: u8 = 0x02;
const OPCODE_AUTHENTICATE: u8 = 0x03;
const OPCODE_AUTH_CHALLENGE: u8 = 0x0e;
const OPCODE_AUTH_RESPONSE: u8 = 0x0f;
const OPCODE_AUTH_SUCCESS: u8 = 0x10;
/// The ERROR code of a refused login.
const BAD_CREDENTIALS: u32 = 0x0100;

/// STARTUP, then the SASL PLAIN login the driver does (protocol v4, which
/// every server kask supports reads): `Ok(Err(..))` says why the server
/// refused.
async fn login(
    host: &str,
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
    auth: Option<&Credentials>,
) -> std::io::Result<Result<(), String>> {
    let tcp = TcpStream::connect((host, port)).await?;
    match tls {
        None => login_on(tcp, auth).await,
        Some(cfg) => {
            let name = ServerName::try_from(host.to_string())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            login_on(
                tokio_rustls::TlsConnector::from(cfg)
                    .connect(name, tcp)
                    .await?,
                auth,
            )
            .await
        }
    }
}

async fn login_on<S: AsyncReadExt + AsyncWriteExt + Unpin>(
    mut s: S,
    auth: Option<&Credentials>,
) -> std::io::Result<Result<(), String>> {
    let mut startup = Vec::new();
    startup.extend_from_slice(&1u16.to_be_bytes());
    for v in ["CQL_VERSION", "3.0.0"] {
        startup.extend_from_slice(&(v.len() as u16).to_be_bytes());
        startup.extend_from_slice(v.as_bytes());
    }
    let (opcode, body) = exchange(&mut s, OPCODE_STARTUP, &startup).await?;
    let authenticator = match opcode {
        OPCODE_READY => return Ok(Ok(())),
        OPCODE_AUTHENTICATE => read_string(&body).unwrap_or_default(),
        OPCODE_ERROR => return Ok(Err(error_message(&body))),
        other => {
            return Ok(Err(format!(
                "the server answered STARTUP with opcode {other:#04x}"
            )))
        }
    };
    let Some(c) = auth else {
        return Ok(Err(format!(
            "the server requires a login ({authenticator}): set cassandra.authentication.username and password"
        )));
    };
    let mut token = vec![0u8];
    token.extend_from_slice(c.username.as_bytes());
    token.push(0);
    token.extend_from_slice(c.password.expose().as_bytes());
    let mut response = (token.len() as u32).to_be_bytes().to_vec();
    response.extend_from_slice(&token);
    let (opcode, body) = exchange(&mut s, OPCODE_AUTH_RESPONSE, &response).await?;
    Ok(match opcode {
        OPCODE_AUTH_SUCCESS | OPCODE_AUTH_CHALLENGE => Ok(()),
        OPCODE_ERROR if error_code(&body) == Some(BAD_CREDENTIALS) => Err(format!(
            "Cassandra refused the login of user {:?}: {} (check cassandra.authentication.username and password)",
            c.username,
            error_message(&body)
        )),
        OPCODE_ERROR => Err(format!("the login failed: {}", error_message(&body))),
        other => Err(format!("the server answered the login with opcode {other:#04x}")),
    })
}

/// Sends one v4 request frame on stream 1 and reads the answer's opcode and
/// body (at most 64 KiB of it).
async fn exchange<S: AsyncReadExt + AsyncWriteExt + Unpin>(
    s: &mut S,
    opcode: u8,
    body: &[u8],
) -> std::io::Result<(u8, Vec<u8>)> {
    let mut frame = vec![0x04, 0, 0, 1, opcode];
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(body);
    s.write_all(&frame).await?;
    let mut header = [0u8; 9];
    s.read_exact(&mut header).await?;
    let len = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) as usize;
    let mut answer = vec![0u8; len.min(MAX_SUPPORTED_BODY)];
    s.read_exact(&mut answer).await?;
    Ok((header[4], answer))
}

fn error_code(body: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(body.get(..4)?.try_into().ok()?))
}

/// An ERROR body's message (after its code).
fn error_message(body: &[u8]) -> String {
    body.get(4..)
        .and_then(read_string)
        .unwrap_or_else(|| "(no message)".into())
}

/// A protocol `[string]`: a u16 length, then UTF-8.
fn read_string(b: &[u8]) -> Option<String> {
    let len = u16::from_be_bytes([*b.first()?, *b.get(1)?]) as usize;
    Some(String::from_utf8_lossy(b.get(2..2 + len)?).into_owned())
}

/// Sends OPTIONS to `host:port` and reads the answer: an I/O error when the
/// node cannot be asked, `Ok(Err(..))` when it answered and kask cannot
/// talk to it, else the version to speak.
pub async fn probe(
    host: &str,
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> std::io::Result<Result<Version, String>> {
    async fn ask<S: AsyncReadExt + AsyncWriteExt + Unpin>(
        mut s: S,
    ) -> std::io::Result<([u8; 9], Vec<u8>)> {
        s.write_all(&OPTIONS_V4).await?;
        let mut header = [0u8; 9];
        s.read_exact(&mut header).await?;
        let len = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) as usize;
        let mut body = vec![0u8; len.min(MAX_SUPPORTED_BODY)];
        s.read_exact(&mut body).await?;
        Ok((header, body))
    }
    let tcp = TcpStream::connect((host, port)).await?;
    let (header, body) = match tls {
        None => ask(tcp).await?,
        Some(cfg) => {
            let name = ServerName::try_from(host.to_string())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            ask(tokio_rustls::TlsConnector::from(cfg)
                .connect(name, tcp)
                .await?)
            .await?
        }
    };
    Ok(choose_version(&header, &body))
}

/// The version to speak, from the server's answer to a v4 OPTIONS.
fn choose_version(header: &[u8; 9], body: &[u8]) -> Result<Version, String> {
    let server = header[0] & 0x7f;
    if server < 4 || header[4] == OPCODE_ERROR {
        return Err(format!(
            "the server does not speak native protocol v4 (it answered in v{server}): \
             Cassandra 2.1 and older are not supported; kask needs Cassandra 2.2 or newer, \
             and is tested on 4.1 and 5.0"
        ));
    }
    if header[4] != OPCODE_SUPPORTED {
        return Err(format!(
            "the server answered OPTIONS with opcode {:#04x}, not SUPPORTED",
            header[4]
        ));
    }
    let v5 = supported_versions(body)
        .unwrap_or_default()
        .iter()
        .any(|v| v == "5/v5");
    Ok(if v5 { Version::V5 } else { Version::V4 })
}

/// The PROTOCOL_VERSIONS entry of a SUPPORTED body (a string multimap), if
/// the server sends one (Cassandra 4.0 and newer do).
fn supported_versions(body: &[u8]) -> Option<Vec<String>> {
    fn u16_at(b: &[u8], at: &mut usize) -> Option<usize> {
        let v = u16::from_be_bytes([*b.get(*at)?, *b.get(*at + 1)?]) as usize;
        *at += 2;
        Some(v)
    }
    fn string(b: &[u8], at: &mut usize) -> Option<String> {
        let len = u16_at(b, at)?;
        let s = std::str::from_utf8(b.get(*at..*at + len)?)
            .ok()?
            .to_string();
        *at += len;
        Some(s)
    }
    let mut at = 0;
    for _ in 0..u16_at(body, &mut at)? {
        let key = string(body, &mut at)?;
        let values = (0..u16_at(body, &mut at)?)
            .map(|_| string(body, &mut at))
            .collect::<Option<Vec<_>>>()?;
        if key == "PROTOCOL_VERSIONS" {
            return Some(values);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cassandra 4.1.5's answer to a v4 OPTIONS, as read off a real node.
    const SUPPORTED_41: &[u8] = b"\x00\x03\x00\x11PROTOCOL_VERSIONS\x00\x04\x00\x043/v3\x00\x044/v4\x00\x045/v5\x00\t6/v6-beta\x00\x0bCOMPRESSION\x00\x02\x00\x06snappy\x00\x03lz4\x00\x0bCQL_VERSION\x00\x01\x00\x053.4.6";
    const HEADER_SUPPORTED_V4: [u8; 9] = [0x84, 0, 0, 0, 0x06, 0, 0, 0, 0x66];

    #[test]
    fn version_choice() {
        // Cassandra 4.x/5.x lists v5: speak it.
        assert_eq!(
            choose_version(&HEADER_SUPPORTED_V4, SUPPORTED_41),
            Ok(Version::V5)
        );
        assert_eq!(
            supported_versions(SUPPORTED_41).unwrap(),
            ["3/v3", "4/v4", "5/v5", "6/v6-beta"]
        );
        // Cassandra 3.x lists no versions (or only beta v5): v4.
        let no_versions = b"\x00\x01\x00\x0bCQL_VERSION\x00\x01\x00\x053.4.4";
        assert_eq!(
            choose_version(&HEADER_SUPPORTED_V4, no_versions),
            Ok(Version::V4)
        );
        let beta = b"\x00\x01\x00\x11PROTOCOL_VERSIONS\x00\x02\x00\x044/v4\x00\x0a5/v5-beta";
        assert_eq!(choose_version(&HEADER_SUPPORTED_V4, beta), Ok(Version::V4));
        // A truncated body is no list, not a panic.
        assert_eq!(
            choose_version(&HEADER_SUPPORTED_V4, &SUPPORTED_41[..30]),
            Ok(Version::V4)
        );
        // Cassandra 2.1: a protocol error, answered in v3.
        let old = choose_version(&[0x83, 0, 0, 0, 0x00, 0, 0, 0, 0], b"").unwrap_err();
        assert!(
            old.contains("Cassandra 2.1 and older are not supported"),
            "{old}"
        );
    }
}
