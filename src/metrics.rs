//! Prometheus metrics. One registry per process; each layer gets only its
//! own handle: [`HttpMetrics`] for requests under the base URI (the names,
//! labels and buckets MediaWiki's dashboards know), [`StorageMetrics`] for
//! Cassandra (which the reference never had).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The reference's buckets for `http_request_duration_seconds`.
pub const HTTP_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

/// Cassandra statements' buckets, up to the default query timeout.
const CASSANDRA_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 12.0,
];

/// The buckets above `base` up to past `timeout`: 2.5, 5 and 10 s, then
/// 15 s doubled until a request that ran into the query timeout (which
/// takes a little longer than the timeout) lands below the top bucket
/// rather than only in `+Inf`.
pub fn buckets_past(base: &[f64], timeout: Duration) -> Vec<f64> {
    let top = base.last().copied().unwrap_or(0.0);
    let mut out = base.to_vec();
    out.extend([2.5, 5.0, 10.0].into_iter().filter(|&b| b > top));
    let mut b = 15.0_f64;
    loop {
        if out.last().is_none_or(|&last| b > last) {
            out.push(b);
        }
        if b > timeout.as_secs_f64() {
            return out;
        }
        b *= 2.0;
    }
}

/// The series that alerting rules read, created at 0 when the process
/// starts: a `rate()` over a series that appears with its first error
/// misses that first burst. Methods and codes kask answers in normal
/// operation and in a Cassandra failure.
pub const PRESET_HTTP_SERIES: [(&str, u16); 7] = [
    ("GET", 200),
    ("GET", 404),
    ("GET", 500),
    ("POST", 201),
    ("POST", 500),
    ("DELETE", 204),
    ("DELETE", 500),
];

/// `kask_cassandra_errors_total`'s `kind` label values.
pub const ERROR_KINDS: [&str; 2] = ["timeout", "error"];

/// The build, as `/healthz` and `kask_build_info` report it.
#[derive(Debug, Clone)]
pub struct BuildInfo {
    pub version: &'static str,
    pub build_date: &'static str,
    pub build_host: &'static str,
    pub rust_version: &'static str,
}

impl BuildInfo {
    pub fn current() -> BuildInfo {
        BuildInfo {
            version: env!("CARGO_PKG_VERSION"),
            build_date: option_env!("KASK_BUILD_DATE").unwrap_or("unknown"),
            build_host: option_env!("KASK_BUILD_HOST").unwrap_or("unknown"),
            rust_version: option_env!("KASK_RUST_VERSION").unwrap_or("unknown"),
        }
    }
}

pub struct Metrics {
    registry: Registry,
    pub(crate) http: HttpMetrics,
    pub storage: StorageMetrics,
    ready: IntGauge,
    pooled: IntGauge,
}

#[derive(Clone)]
pub(crate) struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    /// The label pairs of nearly every request, resolved once on first use
    /// instead of hashed per request.
    hot: Arc<[OnceLock<(IntCounter, Histogram)>; HOT_PAIRS.len()]>,
}

const HOT_PAIRS: [(&str, u16); 5] = [
    ("GET", 200),
    ("GET", 404),
    ("POST", 201),
    ("DELETE", 204),
    ("GET", 500),
];

/// Methods counted under their own `method` label value; any other is
/// counted as `other`, so that made-up methods cannot grow `/metrics`
/// (the reference labels each distinct method).
const METHODS: [&str; 9] = [
    "GET", "POST", "DELETE", "PUT", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT",
];

impl HttpMetrics {
    pub fn observe(&self, method: &str, code: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = HOT_PAIRS
            .iter()
            .position(|&(m, c)| c == code && m == method)
        {
            let (count, hist) = self.hot[i].get_or_init(|| self.series(method, &code.to_string()));
            count.inc();
            hist.observe(seconds);
            return;
        }
        let method = METHODS
            .iter()
            .find(|&&m| m == method)
            .map_or("other", |m| m);
        let (count, hist) = self.series(method, &code.to_string());
        count.inc();
        hist.observe(seconds);
    }

    fn series(&self, method: &str, code: &str) -> (IntCounter, Histogram) {
        (
            self.requests.with_label_values(&[code, method]),
            self.duration.with_label_values(&[code, method]),
        )
    }
}

/// The storage operations, as the `operation` label names them.
const OPERATIONS: [&str; 3] = ["get", "set", "delete"];

#[derive(Clone)]
pub struct StorageMetrics {
    /// By [`OPERATIONS`], resolved once; `duration_vec` for anything else.
    duration: [Histogram; 3],
    duration_vec: HistogramVec,
    errors: IntCounterVec,
    nodes: IntGaugeVec,
}

impl StorageMetrics {
    /// One statement: its `operation` (get, set, delete), how long it took,
    /// and the `kind` of its failure (timeout, error), if it failed.
    pub fn observe(&self, operation: &str, elapsed: Duration, error: Option<&str>) {
        match OPERATIONS.iter().position(|&o| o == operation) {
            Some(i) => self.duration[i].observe(elapsed.as_secs_f64()),
            None => self
                .duration_vec
                .with_label_values(&[operation])
                .observe(elapsed.as_secs_f64()),
        }
        if let Some(kind) = error {
            self.errors.with_label_values(&[operation, kind]).inc();
        }
    }

    pub fn set_nodes(&self, up: usize, down: usize) {
        self.nodes.with_label_values(&["up"]).set(up as i64);
        self.nodes.with_label_values(&["down"]).set(down as i64);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// With buckets past the default query timeout.
    pub fn new() -> Metrics {
        Metrics::with_query_timeout(Duration::from_millis(
            crate::config::DEFAULT_QUERY_TIMEOUT_MS,
        ))
    }

    /// With latency buckets that reach past `query_timeout`
    /// (`cassandra.query_timeout_ms`), so that slow requests are told apart
    /// from ones that ran into the timeout.
    pub fn with_query_timeout(query_timeout: Duration) -> Metrics {
        let build = BuildInfo::current();
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "Count of HTTP requests under the base URI, by status code and method",
            ),
            &["code", "method"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Latency of HTTP requests under the base URI",
            )
            .buckets(buckets_past(&HTTP_BUCKETS, query_timeout)),
            &["code", "method"],
        )
        .expect("valid metric");
        let build_info = IntGauge::with_opts(
            Opts::new("kask_build_info", "Build information; always 1")
                .const_label("version", build.version)
                .const_label("build_date", build.build_date)
                .const_label("build_host", build.build_host)
                .const_label("rust_version", build.rust_version),
        )
        .expect("valid metric");
        build_info.set(1);
        let storage_duration = HistogramVec::new(
            HistogramOpts::new(
                "kask_cassandra_request_duration_seconds",
                "Latency of Cassandra statements, by operation",
            )
            .buckets(buckets_past(&CASSANDRA_BUCKETS, query_timeout)),
            &["operation"],
        )
        .expect("valid metric");
        let storage_errors = IntCounterVec::new(
            Opts::new(
                "kask_cassandra_errors_total",
                "Failed Cassandra statements, by operation and kind (timeout, error)",
            ),
            &["operation", "kind"],
        )
        .expect("valid metric");
        let nodes = IntGaugeVec::new(
            Opts::new(
                "kask_cassandra_nodes",
                "Cassandra nodes known to the driver, by state (up, down)",
            ),
            &["state"],
        )
        .expect("valid metric");
        let ready = IntGauge::new(
            "kask_ready",
            "1 if the instance is ready for traffic (pooled, connected, not draining), as /readyz answers; else 0",
        )
        .expect("valid metric");
        let pooled = IntGauge::new(
            "kask_pooled",
            "1 if the instance is pooled (kask pool), 0 if depooled (kask depool)",
        )
        .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(ready.clone()),
            Box::new(pooled.clone()),
            Box::new(duration.clone()),
            Box::new(build_info),
            Box::new(storage_duration.clone()),
            Box::new(storage_errors.clone()),
            Box::new(nodes.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        // Every series an alert reads exists from the start, at 0.
        for (method, code) in PRESET_HTTP_SERIES {
            let code = code.to_string();
            requests.with_label_values(&[code.as_str(), method]);
            duration.with_label_values(&[code.as_str(), method]);
        }
        for op in OPERATIONS {
            for kind in ERROR_KINDS {
                storage_errors.with_label_values(&[op, kind]);
            }
        }
        for state in ["up", "down"] {
            nodes.with_label_values(&[state]).set(0);
        }
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("process collector registered once");
        Metrics {
            registry,
            http: HttpMetrics {
                requests,
                duration,
                hot: Arc::new(Default::default()),
            },
            storage: StorageMetrics {
                duration: OPERATIONS.map(|op| storage_duration.with_label_values(&[op])),
                duration_vec: storage_duration.clone(),
                errors: storage_errors,
                nodes,
            },
            ready,
            pooled,
        }
    }

    /// `kask_ready` and `kask_pooled`, set just before each scrape.
    pub fn set_readiness(&self, ready: bool, pooled: bool) {
        self.ready.set(ready.into());
        self.pooled.set(pooled.into());
    }

    /// The text exposition format.
    pub fn render(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(8 * 1024);
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding cannot fail");
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_reach_past_the_query_timeout() {
        let ms = Duration::from_millis;
        let http = buckets_past(&HTTP_BUCKETS, ms(12_000));
        assert_eq!(&http[..10], &HTTP_BUCKETS);
        assert_eq!(&http[10..], &[2.5, 5.0, 10.0, 15.0]);
        assert_eq!(
            &buckets_past(&HTTP_BUCKETS, ms(15_000))[10..],
            &[2.5, 5.0, 10.0, 15.0, 30.0]
        );
        assert_eq!(
            &buckets_past(&HTTP_BUCKETS, ms(100_000))[10..],
            &[2.5, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0]
        );
        assert_eq!(
            &buckets_past(&HTTP_BUCKETS, ms(500))[10..],
            &[2.5, 5.0, 10.0, 15.0]
        );
        let cassandra = buckets_past(&CASSANDRA_BUCKETS, ms(12_000));
        assert_eq!(&cassandra[14..], &[15.0]);
        for (b, t) in [(&http, 12.0), (&cassandra, 12.0)] {
            assert!(b.windows(2).all(|w| w[0] < w[1]), "{b:?}");
            assert!(*b.last().unwrap() > t);
        }
    }
}
