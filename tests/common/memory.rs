//! kask's front door in this process, with the in-memory store standing in
//! for Cassandra: for the tests of the HTTP layer only.

use std::net::SocketAddr;
use std::sync::Arc;

use kask::config::Config;
use kask::http::server::Listener;
use kask::metrics::Metrics;
use kask::storage::memory::MemoryStore;

pub struct Server {
    pub addr: SocketAddr,
    pub store: Arc<MemoryStore>,
    _rt: tokio::runtime::Runtime,
}

/// kask's front door, as the daemon runs it, with the in-memory store.
pub fn start(yaml: &str) -> Server {
    start_until(yaml, std::future::pending())
}

/// As [`start`], serving until `shutdown` completes (the daemon's SIGTERM).
#[allow(dead_code)]
pub fn start_until(
    yaml: &str,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Server {
    let cfg = Config::parse(yaml, std::path::Path::new("test.yaml")).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let store = Arc::new(MemoryStore::new());
    let tcp = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = tcp.local_addr().unwrap();
    let service = {
        let store = store.clone();
        async move {
            kask::run(
                &cfg,
                store,
                Arc::new(Metrics::new()),
                Listener::new(tcp, None),
                shutdown,
            )
            .await
        }
    };
    rt.spawn(service);
    Server {
        addr,
        store,
        _rt: rt,
    }
}
