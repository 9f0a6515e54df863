//! The relay in front of a fake node (a plain TCP listener): what it sends
//! on, and what it does when the node goes away. Needs no Cassandra.

use kask_cql_relay::{serve, Config};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

fn v3_frame(stream: i16, opcode: u8, body: &[u8]) -> Vec<u8> {
    let mut f = vec![0x03, 0x00];
    f.extend_from_slice(&stream.to_be_bytes());
    f.push(opcode);
    f.extend_from_slice(&(body.len() as u32).to_be_bytes());
    f.extend_from_slice(body);
    f
}

fn query(text: &str) -> Vec<u8> {
    let mut body = (text.len() as i32).to_be_bytes().to_vec();
    body.extend_from_slice(text.as_bytes());
    body.extend_from_slice(&[0x00, 0x06, 0x00]); // LOCAL_QUORUM, no flags
    body
}

async fn read_exactly(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    timeout(Duration::from_secs(5), stream.read_exact(&mut buf))
        .await
        .expect("bytes within 5 s")
        .expect("read");
    buf
}

/// Reads until the peer closes; fails if it sends anything or stays open.
async fn expect_closed(stream: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 64];
    let n = timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("{what}: still open after 5 s"))
        .unwrap_or(0);
    assert_eq!(n, 0, "{what}: got bytes instead of a close");
}

async fn relay_in_front_of(node: &TcpListener) -> std::net::SocketAddr {
    let node_addr = node.local_addr().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(
        listener,
        Config {
            node: node_addr,
            broadcast_address: node_addr.ip(),
        },
    ));
    addr
}

#[tokio::test]
async fn frames_pass_untouched_except_the_keyspaces_query() {
    let node = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay = relay_in_front_of(&node).await;
    let mut client = TcpStream::connect(relay).await.unwrap();
    let (mut node_side, _) = node.accept().await.unwrap();

    // Any other frame, even of an unknown version, arrives byte for byte.
    let mut v4_options = v3_frame(9, 0x05, b"");
    v4_options[0] = 0x04;
    let plain = v3_frame(3, 0x07, &query("SELECT value FROM ks.t WHERE key = ?"));
    client
        .write_all(&[v4_options.clone(), plain.clone()].concat())
        .await
        .unwrap();
    assert_eq!(
        read_exactly(&mut node_side, v4_options.len()).await,
        v4_options
    );
    assert_eq!(read_exactly(&mut node_side, plain.len()).await, plain);

    // The driver's keyspaces query is rewritten on the same stream, with its
    // parameters kept.
    let asked = v3_frame(
        5,
        0x07,
        &query("SELECT keyspace_name, toJson(replication) AS replication FROM system_schema.keyspaces WHERE keyspace_name = ?"),
    );
    client.write_all(&asked).await.unwrap();
    let expected = v3_frame(
        5,
        0x07,
        &query("SELECT keyspace_name, strategy_class, strategy_options FROM system.schema_keyspaces WHERE keyspace_name = ?"),
    );
    assert_eq!(read_exactly(&mut node_side, expected.len()).await, expected);

    // Answers come back untouched too (an ERROR on the rewritten stream is
    // not a result to fix).
    let error = {
        let mut body = 0x2200i32.to_be_bytes().to_vec();
        body.extend_from_slice(&[0, 2, b'n', b'o']);
        let mut f = v3_frame(5, 0x00, &body);
        f[0] = 0x83;
        f
    };
    node_side.write_all(&error).await.unwrap();
    assert_eq!(read_exactly(&mut client, error.len()).await, error);
}

#[tokio::test]
async fn clients_are_closed_when_the_node_goes_and_while_it_is_down() {
    let node = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay = relay_in_front_of(&node).await;
    let mut client = TcpStream::connect(relay).await.unwrap();
    let (node_side, _) = node.accept().await.unwrap();

    drop(node_side);
    drop(node);
    expect_closed(&mut client, "client of a node that went away").await;

    let mut late = TcpStream::connect(relay)
        .await
        .expect("the relay still accepts");
    expect_closed(&mut late, "client of a node that is down").await;
}
