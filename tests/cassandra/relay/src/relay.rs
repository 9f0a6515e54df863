//! Accept loop and the two pumps of each client connection.
//!
//! Each client gets its own connection to the node. One task copies frames
//! client -> node and notes which streams carry a query to fix; the other
//! copies node -> client and fixes the results of those streams. Neither
//! waits for the other, so any number of requests may be in flight.

use crate::fixup::{self, Fixup};
use crate::frame::{self, Frame, FLAG_COMPRESSION, FLAG_TRACING, OP_QUERY, OP_RESULT, OP_STARTUP};
use bytes::BytesMut;
use cassandra_protocol::compression::Compression;
use cassandra_protocol::frame::message_startup::BodyReqStartup;
use cassandra_protocol::frame::{FromCursor, Version};
use std::collections::HashMap;
use std::io::{self, Cursor};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// A node that does not answer a connect within this time counts as down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Reads are at least this large, so that small frames travel in batches.
const READ_CHUNK: usize = 64 * 1024;

/// Where to forward, and what to report as the node's `broadcast_address`.
#[derive(Debug, Clone)]
pub struct Config {
    pub node: SocketAddr,
    pub broadcast_address: IpAddr,
}

/// Serves clients from `listener` until the process ends.
pub async fn serve(listener: TcpListener, config: Config) -> io::Result<()> {
    let config = Arc::new(config);
    loop {
        let (client, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors and the like: keep serving the others.
            Err(e) => {
                eprintln!("kask-cql-relay: accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let config = Arc::clone(&config);
        tokio::spawn(async move {
            if let Err(e) = connection(client, &config).await {
                eprintln!("kask-cql-relay: client {peer}: {e}");
            }
        });
    }
}

/// What the two pumps of one connection share.
#[derive(Default)]
struct Shared {
    /// Set by the client's STARTUP; needed to read and rewrite bodies.
    compression: Option<Compression>,
    /// Streams whose result has to be fixed.
    pending: HashMap<i16, Fixup>,
}

async fn connection(client: TcpStream, config: &Config) -> io::Result<()> {
    // While the node is down the client is closed at once (it was accepted,
    // so it sees the connection close, not a refusal).
    let node = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(config.node)).await {
        Ok(Ok(node)) => node,
        Ok(Err(e)) => {
            return Err(io::Error::new(
                e.kind(),
                format!("node {}: {e}", config.node),
            ))
        }
        Err(_) => {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "node connect timed out",
            ))
        }
    };
    client.set_nodelay(true)?;
    node.set_nodelay(true)?;
    let (client_read, client_write) = client.into_split();
    let (node_read, node_write) = node.into_split();
    let shared = Mutex::new(Shared::default());
    let requests = pump(client_read, node_write, |f, out| {
        on_request(f, out, &shared)
    });
    let responses = pump(node_read, client_write, |f, out| {
        on_response(f, out, &shared, config.broadcast_address)
    });
    // Whichever side closes first ends the connection; dropping both halves
    // of both sockets closes them, so a client sees the node go away.
    tokio::select! {
        r = requests => r,
        r = responses => r,
    }
}

/// Copies frames from `from` to `to`, each through `handle`, which appends
/// what is to be sent to its output buffer.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut handle: impl FnMut(Frame, &mut Vec<u8>),
) -> io::Result<()> {
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut output = Vec::with_capacity(READ_CHUNK);
    loop {
        let want = frame::needed(&input)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
            .unwrap_or(0);
        input.reserve(want.saturating_sub(input.len()).max(READ_CHUNK));
        if from.read_buf(&mut input).await? == 0 {
            return Ok(());
        }
        while let Some(frame) =
            frame::split(&mut input).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
        {
            handle(frame, &mut output);
        }
        if !output.is_empty() {
            to.write_all(&output).await?;
            output.clear();
        }
    }
}

fn on_request(frame: Frame, out: &mut Vec<u8>, shared: &Mutex<Shared>) {
    match frame.opcode {
        OP_STARTUP => {
            if let Ok(startup) =
                BodyReqStartup::from_cursor(&mut Cursor::new(frame.body()), Version::V3)
            {
                let compression = startup
                    .map
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("COMPRESSION"))
                    .and_then(|(_, v)| Compression::from_protocol_string(v).ok());
                shared.lock().unwrap().compression = compression;
            }
        }
        // Only v3 is fixed: it is the only version the node and driver share;
        // any other version goes to the node untouched, to be refused there.
        OP_QUERY if frame.version == 3 => {
            if let Some(rewritten) = inspect_query(&frame, shared) {
                out.extend_from_slice(&rewritten);
                return;
            }
        }
        _ => {}
    }
    out.extend_from_slice(frame.raw());
}

/// Notes a query whose result needs fixing; returns the rewritten frame if
/// the query itself changes.
fn inspect_query(frame: &Frame, shared: &Mutex<Shared>) -> Option<Vec<u8>> {
    let compression = shared.lock().unwrap().compression;
    let body = read_body(frame, compression)?;
    let (fixup, new_query) = fixup::classify(fixup::query_text(&body)?)?;
    // Noted before the request leaves, so the answer cannot arrive first.
    shared.lock().unwrap().pending.insert(frame.stream, fixup);
    let new_query = new_query?;
    let new_body = fixup::replace_query_text(&body, &new_query)?;
    Some(frame.with_body(&write_body(frame, compression, new_body)?))
}

fn on_response(frame: Frame, out: &mut Vec<u8>, shared: &Mutex<Shared>, broadcast: IpAddr) {
    // Events (stream -1) and everything on streams nobody marked pass as is.
    let (fixup, compression) = {
        let mut shared = shared.lock().unwrap();
        if shared.pending.is_empty() || frame.stream < 0 {
            drop(shared);
            out.extend_from_slice(frame.raw());
            return;
        }
        (shared.pending.remove(&frame.stream), shared.compression)
    };
    if let (Some(fixup), OP_RESULT) = (fixup, frame.opcode) {
        let fixed = read_body(&frame, compression).and_then(|body| {
            match fixup::fix_result(fixup, &body, frame.flags & FLAG_TRACING != 0, broadcast) {
                Ok(fixed) => fixed,
                Err(e) => {
                    eprintln!("kask-cql-relay: cannot fix {fixup:?} result: {e}; passing it on");
                    None
                }
            }
        });
        if let Some(body) = fixed.and_then(|body| write_body(&frame, compression, body)) {
            out.extend_from_slice(&frame.with_body(&body));
            return;
        }
    }
    out.extend_from_slice(frame.raw());
}

/// The body uncompressed, if it can be read.
fn read_body(frame: &Frame, compression: Option<Compression>) -> Option<Vec<u8>> {
    if frame.flags & FLAG_COMPRESSION == 0 {
        return Some(frame.body().to_vec());
    }
    compression?.decode(frame.body().to_vec()).ok()
}

/// A new body, compressed again if the frame it replaces was.
fn write_body(frame: &Frame, compression: Option<Compression>, body: Vec<u8>) -> Option<Vec<u8>> {
    if frame.flags & FLAG_COMPRESSION == 0 {
        return Some(body);
    }
    compression?.encode(&body).ok()
}
