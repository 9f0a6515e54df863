//! Health supervision: the part of reconnection the driver does not do (see
//! [`super::session`] for how the work is divided).
//!
//! Every [`HEALTH_CHECK_INTERVAL`] the supervisor reads the driver's view of
//! the nodes. When some are down, it asks each of them (and the contact
//! points, when no node is up) for a CQL answer; a TCP accept is not enough.
//! When one answers, the session is rebuilt and swapped in: no restart, and
//! requests in flight finish on the old one. A rebuild that did not bring a
//! node back doubles the pause before the next check, up to
//! [`MAX_REBUILD_PAUSE`] (a node may answer CQL and still be unusable).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How often the supervisor looks at node health.
pub const HEALTH_CHECK_INTERVAL: Duration = Duration::from_secs(2);
/// The longest pause between two session rebuilds that did not help.
pub const MAX_REBUILD_PAUSE: Duration = Duration::from_secs(60);

/// Nodes as the driver sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nodes {
    pub up: usize,
    pub down: usize,
}

/// What the supervisor reads from, and does to, the store. The store
/// implements it; the tests below use a scripted one.
pub trait Cluster: Send + Sync + 'static {
    /// The driver's view now (and published as metrics).
    fn nodes(&self) -> Nodes;
    /// Where to look for a node that is back: the nodes the driver has
    /// down, and the contact points when no node is up.
    fn candidates(&self, nodes: Nodes) -> impl Future<Output = Vec<SocketAddr>> + Send;
    /// Whether `addr` answers CQL.
    fn answers(&self, addr: SocketAddr) -> impl Future<Output = bool> + Send;
    /// Builds a new session and swaps it in; the nodes as the new one sees
    /// them.
    fn rebuild(&self) -> impl Future<Output = Result<Nodes, String>> + Send;
}

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No node down.
    AllUp,
    /// Nodes down, none answers.
    NoneAnswers,
    /// A node answered; the new session has more nodes up.
    RebuildHelped,
    /// A node answered; the new session has no more nodes up.
    RebuildDidNotHelp,
    /// A node answered; building a new session failed.
    RebuildFailed,
}

/// The pause before the next check, after one that ended in `outcome` and
/// was preceded by `pause`.
pub fn next_pause(pause: Duration, outcome: Outcome) -> Duration {
    match outcome {
        Outcome::AllUp | Outcome::RebuildHelped => HEALTH_CHECK_INTERVAL,
        Outcome::NoneAnswers => pause,
        Outcome::RebuildDidNotHelp | Outcome::RebuildFailed => (pause * 2).min(MAX_REBUILD_PAUSE),
    }
}

/// Checks `cluster` for as long as the task runs (the store aborts it when
/// it is dropped).
pub async fn supervise<C: Cluster>(cluster: Arc<C>) {
    let mut pause = HEALTH_CHECK_INTERVAL;
    loop {
        tokio::time::sleep(pause).await;
        let outcome = check(&*cluster).await;
        pause = next_pause(pause, outcome);
    }
}

async fn check<C: Cluster>(cluster: &C) -> Outcome {
    let before = cluster.nodes();
    if before.down == 0 {
        return Outcome::AllUp;
    }
    let mut back = None;
    for addr in cluster.candidates(before).await {
        if cluster.answers(addr).await {
            back = Some(addr);
            break;
        }
    }
    let Some(addr) = back else {
        return Outcome::NoneAnswers;
    };
    log::warn!(
        "Cassandra at {addr} answers again but the driver has it down ({} up, {} down); rebuilding the session",
        before.up,
        before.down
    );
    match cluster.rebuild().await {
        Ok(after) => {
            log::info!(
                "Cassandra session rebuilt: {} node(s) up, {} down",
                after.up,
                after.down
            );
            if after.up > before.up {
                Outcome::RebuildHelped
            } else {
                Outcome::RebuildDidNotHelp
            }
        }
        Err(e) => {
            log::warn!("rebuilding the Cassandra session failed, will retry: {e}");
            Outcome::RebuildFailed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tokio::time::Instant;

    #[test]
    fn backoff() {
        let s = Duration::from_secs;
        assert_eq!(next_pause(s(8), Outcome::AllUp), HEALTH_CHECK_INTERVAL);
        assert_eq!(
            next_pause(s(8), Outcome::RebuildHelped),
            HEALTH_CHECK_INTERVAL
        );
        assert_eq!(next_pause(s(8), Outcome::NoneAnswers), s(8));
        assert_eq!(next_pause(s(2), Outcome::RebuildDidNotHelp), s(4));
        assert_eq!(next_pause(s(4), Outcome::RebuildFailed), s(8));
        assert_eq!(next_pause(s(32), Outcome::RebuildFailed), s(60));
        assert_eq!(
            next_pause(s(60), Outcome::RebuildDidNotHelp),
            MAX_REBUILD_PAUSE
        );
    }

    /// One node, down in the driver's view. It answers CQL from `answers_at`
    /// on, and a rebuild brings it up from `usable_at` on.
    struct Scripted {
        start: Instant,
        answers_at: Duration,
        usable_at: Duration,
        up: Mutex<bool>,
        checks: Mutex<Vec<Duration>>,
        rebuilds: Mutex<Vec<Duration>>,
    }

    impl Scripted {
        fn now(&self) -> Duration {
            Instant::now() - self.start
        }
    }

    impl Cluster for Scripted {
        fn nodes(&self) -> Nodes {
            self.checks.lock().unwrap().push(self.now());
            let up = *self.up.lock().unwrap() as usize;
            Nodes { up, down: 1 - up }
        }
        async fn candidates(&self, _: Nodes) -> Vec<SocketAddr> {
            vec!["127.0.0.1:9042".parse().unwrap()]
        }
        async fn answers(&self, _: SocketAddr) -> bool {
            self.now() >= self.answers_at
        }
        async fn rebuild(&self) -> Result<Nodes, String> {
            self.rebuilds.lock().unwrap().push(self.now());
            let up = self.now() >= self.usable_at;
            *self.up.lock().unwrap() = up;
            Ok(Nodes {
                up: up as usize,
                down: 1 - up as usize,
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn checks_back_off_while_rebuilds_do_not_help_and_recover_when_one_does() {
        let s = Duration::from_secs;
        let cluster = Arc::new(Scripted {
            start: Instant::now(),
            answers_at: s(5),
            usable_at: s(100),
            up: Mutex::new(false),
            checks: Mutex::new(Vec::new()),
            rebuilds: Mutex::new(Vec::new()),
        });
        let task = tokio::spawn(supervise(cluster.clone()));
        tokio::time::sleep(s(200)).await;
        task.abort();
        // Every 2 s while the node does not answer; from 5 s it answers but
        // rebuilds do not help: 4, 8, 16, 32, then 60 s apart; the rebuild at
        // 122 s brings it up, and checks are 2 s apart again.
        let checks = cluster.checks.lock().unwrap().clone();
        let expected: Vec<Duration> = [2, 4, 6, 10, 18, 34, 66, 126, 128, 130]
            .into_iter()
            .map(s)
            .collect();
        assert_eq!(checks[..expected.len()], expected[..], "{checks:?}");
        let rebuilds = cluster.rebuilds.lock().unwrap().clone();
        assert_eq!(rebuilds, [6, 10, 18, 34, 66, 126].map(s));
        assert!(checks.len() > expected.len() + 30, "{checks:?}");
        assert!(checks[expected.len() - 2..]
            .windows(2)
            .all(|w| w[1] - w[0] == s(2)));
    }
}
