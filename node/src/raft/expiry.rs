//! The leader's expiry sweeper: while this node leads a group, it proposes `Expire` commands on a
//! timer when the group's earliest hold expiry has passed, and again, after a wait as long as the
//! last sweep took, while a sweep reports more expired holds, so holds return to sale without
//! client traffic (and idle groups write nothing), and buyers keep their share of the group.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use boxoffice_statemachine::limits::EXPIRE_BATCH_MAX;
use boxoffice_statemachine::{query, Action, Effect, Outcome, RequestId};
use tokio::task::JoinHandle;

use super::proposer::{Clock, Committed, Proposer};
use super::transport::GroupRaft;
use crate::storage::GroupState;

/// Holds one sweep releases (the state machine allows up to `limits::EXPIRE_BATCH_MAX`). A group
/// applies one command at a time, so a sweep delays the customer commands queued behind it: 256
/// single-seat holds apply in a few milliseconds, where 4,096 held a storm's holds and buys up for
/// a tenth of a second. More sweeps follow while holds remain.
const SWEEP_HOLDS_MAX: u32 = 256;
const _: () = assert!(SWEEP_HOLDS_MAX >= 1 && SWEEP_HOLDS_MAX <= EXPIRE_BATCH_MAX);

/// After a sweep that leaves expired holds behind, the sweeper waits this many times as long as
/// the sweep took (proposed to applied) before the next: sweeping takes at most 1 / (1 + this) of
/// the time, and the commands of buyers, who go on buying while a storm of holds expires, the
/// rest. The busier the group, the longer a sweep takes and the longer the wait.
const SWEEP_WAIT_PER_SWEEP_TIME: u32 = 1;

/// Counters of one group's sweeper.
#[derive(Debug, Default)]
pub struct SweepStats {
    /// Expire commands applied by this node as leader.
    pub sweeps: AtomicU64,
    /// Holds those sweeps released.
    pub holds_expired: AtomicU64,
}

/// One group's sweeper on one node.
pub struct Sweeper {
    pub node_id: u64,
    pub group: u64,
    pub raft: GroupRaft,
    /// The group's state, read to know when a sweep has work.
    pub state: GroupState,
    pub proposer: Proposer,
    /// The proposer's clock.
    pub clock: Arc<dyn Clock>,
    pub every: Duration,
    pub stats: Arc<SweepStats>,
}

impl std::fmt::Debug for Sweeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sweeper")
            .field("node_id", &self.node_id)
            .field("group", &self.group)
            .field("every", &self.every)
            .finish()
    }
}

/// Starts `sweeper`; abort the handle to stop it.
pub fn start_sweeper(sweeper: Sweeper) -> JoinHandle<()> {
    let Sweeper {
        node_id,
        group,
        raft,
        state,
        proposer,
        clock,
        every,
        stats,
    } = sweeper;
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Request ids must not repeat across restarts within the retention: start from the clock.
        let started = super::proposer::SystemClock.now_ms();
        let mut sequence = 0u64;
        loop {
            ticker.tick().await;
            if super::known_leader(&raft) != Some(node_id) {
                continue;
            }
            // A sweep proposed now is stamped by the proposer's clock, no earlier than this reading.
            let due = match query::next_hold_expiry(&state) {
                Ok(Some(expires_at_ms)) => expires_at_ms <= clock.now_ms(),
                Ok(None) => false,
                Err(error) => {
                    tracing::warn!(group, %error, "cannot read the expiry index");
                    false
                }
            };
            if !due {
                continue;
            }
            drain(|| {
                sequence += 1;
                // Unique per group, node, start and sweep.
                let id = RequestId::new(format!("expire:{group}:{node_id}:{started}:{sequence}"));
                let (proposer, stats) = (&proposer, &stats);
                async move {
                    let sweep = Action::Expire {
                        holds_max: SWEEP_HOLDS_MAX,
                    };
                    match proposer.propose(id.ok()?, sweep).await {
                        Ok(Committed {
                            outcome: Outcome::Accepted(Effect::Expired { holds, more }),
                            ..
                        }) => {
                            stats.sweeps.fetch_add(1, Ordering::Relaxed);
                            stats
                                .holds_expired
                                .fetch_add(u64::from(holds), Ordering::Relaxed);
                            crate::metrics::metrics()
                                .holds_expired_total
                                .inc_by(u64::from(holds));
                            Some(more)
                        }
                        // Lost leadership, overloaded or stopped: try again on the next tick.
                        _ => None,
                    }
                }
            })
            .await;
        }
    })
}

/// Runs `sweep` until it reports no more expired holds (`Some(false)`) or fails (`None`), waiting
/// after each sweep that leaves holds behind [`SWEEP_WAIT_PER_SWEEP_TIME`] times as long as it took.
async fn drain<Sweep, Swept>(mut sweep: Sweep)
where
    Sweep: FnMut() -> Swept,
    Swept: std::future::Future<Output = Option<bool>>,
{
    loop {
        let proposed = tokio::time::Instant::now();
        match sweep().await {
            Some(true) => {
                tokio::time::sleep(proposed.elapsed() * SWEEP_WAIT_PER_SWEEP_TIME).await;
            }
            Some(false) | None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::time::Instant;

    /// A sweep that takes `took` and leaves holds behind `remaining` more times.
    fn sweeps(
        took: Duration,
        mut remaining: u32,
    ) -> impl FnMut() -> futures_util::future::BoxFuture<'static, Option<bool>> {
        move || {
            let more = remaining > 0;
            remaining = remaining.saturating_sub(1);
            Box::pin(async move {
                tokio::time::sleep(took).await;
                Some(more)
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_sweep_that_leaves_holds_behind_is_followed_by_a_wait_as_long_as_it_took() {
        let started = Instant::now();
        // Three sweeps of 10 ms, the first two leaving holds behind: 10 + 10, 10 + 10, 10.
        drain(sweeps(Duration::from_millis(10), 2)).await;
        assert_eq!(started.elapsed(), Duration::from_millis(50));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_sweep_ends_the_drain_at_once() {
        let started = Instant::now();
        drain(|| async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            None
        })
        .await;
        assert_eq!(started.elapsed(), Duration::from_millis(10));
    }
}
