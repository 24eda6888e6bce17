//! The batching proposer of one group: commands from many callers are stamped with the leader's
//! clock and packed into Raft entries (bounded by count and bytes), with a bounded number of entries
//! in flight; each caller gets its own command's outcome back. It also keeps the group's read
//! barrier, so reads and the time stamps that serve them are found in one place.
//!
//! Little's law: a group commits `entries in flight x commands per entry / (round trip + fsync)`
//! commands per second, so batching and pipelining are what make one group fast.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use boxoffice_statemachine::{Action, Command, Outcome, RequestId};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::read_barrier::ReadBarrier;
use super::transport::GroupRaft;
use super::{Proposal, TicketsBuilder};

/// Bounds of one group's proposer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProposerLimits {
    /// Commands waiting to be packed; more are refused as overloaded.
    pub queue_commands_max: usize,
    /// Commands in one Raft entry.
    pub batch_commands_max: usize,
    /// Encoded commands in one Raft entry, in bytes (a single larger command still goes alone).
    pub batch_bytes_max: usize,
    /// Raft entries proposed and not yet applied.
    pub batches_in_flight_max: usize,
}

impl Default for ProposerLimits {
    fn default() -> Self {
        ProposerLimits {
            queue_commands_max: 100_000,
            batch_commands_max: 1_024,
            batch_bytes_max: 1024 * 1024,
            batches_in_flight_max: 16,
        }
    }
}

/// Why a command was not applied by this node; the caller may retry it (same request id) elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    #[error("this node is not the group's leader (leader: {leader:?})")]
    NotLeader { leader: Option<u64> },
    #[error("the group's proposal queue is full")]
    Overloaded,
    #[error("the proposer has stopped")]
    Stopped,
    #[error("Raft failed: {0}")]
    Raft(String),
}

/// The proposer's clock: milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> u64;
}

/// Largest shift of the wall clock `SystemClock::set_offset_ms` is asked for through the API
/// (`clock_offset_ms_max`), either way: one day, in milliseconds.
pub const CLOCK_OFFSET_MS_MAX: u64 = 24 * 60 * 60 * 1_000;

/// Test only (`testing.clock_offset_control`): how far this process's wall clock is shifted, in
/// milliseconds. Process-wide, as a production process runs one node.
static CLOCK_OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// The system clock, shifted by the test-only offset (0 unless a test set one).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    /// The offset added to the system time now, in milliseconds.
    pub fn offset_ms() -> i64 {
        CLOCK_OFFSET_MS.load(Ordering::Relaxed)
    }

    /// Test only: shifts this process's wall clock by `offset_ms` from the system time (absolute,
    /// not added to the previous offset); returns the previous offset. The API bounds it by
    /// [`CLOCK_OFFSET_MS_MAX`]; readings saturate at the ends of the range either way.
    pub fn set_offset_ms(offset_ms: i64) -> i64 {
        CLOCK_OFFSET_MS.swap(offset_ms, Ordering::Relaxed)
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let system_ms = u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX);
        shifted(system_ms, SystemClock::offset_ms())
    }
}

/// `system_ms` moved by `offset_ms`, saturating at 0 and `u64::MAX`.
fn shifted(system_ms: u64, offset_ms: i64) -> u64 {
    system_ms.saturating_add_signed(offset_ms)
}

/// A command's outcome and the log index of the Raft entry that carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub outcome: Outcome,
    pub log_index: u64,
}

/// What waits in a proposer's queue.
// Time stamps are rare and commands the bulk: boxing each command to shrink the rare variant
// would cost an allocation per command.
#[allow(clippy::large_enum_variant)]
enum Pending {
    /// A command; its caller gets the command's outcome.
    Command {
        request_id: RequestId,
        action: Action,
        reply: oneshot::Sender<Result<Committed, ProposeError>>,
        /// When it was queued (for the queue-wait metric).
        queued: std::time::Instant,
    },
    /// A time stamp; its caller gets the log index of the entry that carried the clock reading (a
    /// batch with commands carries it in their stamps; a batch of stamps alone in one time stamp).
    TimeStamp {
        reply: oneshot::Sender<Result<u64, ProposeError>>,
    },
}

/// A handle to submit commands to one group's batching proposer.
#[derive(Clone)]
pub struct Proposer {
    queue: mpsc::Sender<Pending>,
    clock: Arc<dyn Clock>,
    /// Held while a reader decides on and commits a time stamp (see [`Proposer::stamping`]).
    stamping: Arc<tokio::sync::Mutex<()>>,
    /// Recent time from proposing an entry to its outcome, in microseconds (moving average).
    commit_latency_us: Arc<AtomicU64>,
    /// The holds its leader refuses from reads share read-index rounds through it.
    reads: Arc<ReadBarrier>,
}

/// How loaded a group's proposer is now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Load {
    /// Commands waiting to be packed into an entry.
    pub waiting_commands: usize,
    /// Of the queue's bound, the share in use (0 to 1).
    pub queue_fill: f64,
    /// Recent time from proposing an entry to its outcome (moving average).
    pub commit_latency: std::time::Duration,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pending::Command { request_id, .. } => f
                .debug_struct("Command")
                .field("request_id", request_id)
                .finish(),
            Pending::TimeStamp { .. } => f.write_str("TimeStamp"),
        }
    }
}

impl std::fmt::Debug for Proposer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proposer")
            .field("load", &self.load())
            .finish()
    }
}

impl Proposer {
    /// Starts the proposer task for `raft`; it stops when every handle is dropped.
    pub fn start(raft: GroupRaft, clock: Arc<dyn Clock>, limits: ProposerLimits) -> Proposer {
        let (queue, waiting) = mpsc::channel(limits.queue_commands_max.max(1));
        let commit_latency_us = Arc::new(AtomicU64::new(0));
        let reads = Arc::new(ReadBarrier::new(raft.clone()));
        tokio::spawn(run(
            raft,
            clock.clone(),
            limits,
            waiting,
            commit_latency_us.clone(),
        ));
        Proposer {
            queue,
            clock,
            stamping: Arc::default(),
            commit_latency_us,
            reads,
        }
    }

    /// The group's read barrier: what a linearizable read of its state waits on.
    pub fn reads(&self) -> &ReadBarrier {
        &self.reads
    }

    /// The proposer's load now: what the admitter meters waiting-room admissions by.
    pub fn load(&self) -> Load {
        let waiting_commands = self.queue.max_capacity() - self.queue.capacity();
        Load {
            waiting_commands,
            queue_fill: waiting_commands as f64 / self.queue.max_capacity().max(1) as f64,
            commit_latency: std::time::Duration::from_micros(
                self.commit_latency_us.load(Ordering::Relaxed),
            ),
        }
    }

    /// Proposes `action` under `request_id` and waits for its outcome.
    pub async fn propose(
        &self,
        request_id: RequestId,
        action: Action,
    ) -> Result<Committed, ProposeError> {
        let (reply, outcome) = oneshot::channel();
        self.enqueue(Pending::Command {
            request_id,
            action,
            reply,
            queued: std::time::Instant::now(),
        })?;
        outcome.await.map_err(|_| ProposeError::Stopped)?
    }

    /// This proposer's clock now: what the next entry will be stamped with, at the earliest.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Commits the clock's reading (with the next batch, or alone) and waits until it is applied
    /// here; returns the log index of the entry that carried it. State time is then at least the
    /// reading taken when the call began, and, as a committed write of this leader, every entry
    /// acknowledged before the call is applied too.
    pub async fn stamp_time(&self) -> Result<u64, ProposeError> {
        let (reply, applied) = oneshot::channel();
        self.enqueue(Pending::TimeStamp { reply })?;
        applied.await.map_err(|_| ProposeError::Stopped)?
    }

    /// The turn to decide on a time stamp: held across checking state time and
    /// [`Proposer::stamp_time`], so callers that find it behind at once share one stamp.
    pub async fn stamping(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.stamping.lock().await
    }

    fn enqueue(&self, pending: Pending) -> Result<(), ProposeError> {
        self.queue.try_send(pending).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => ProposeError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => ProposeError::Stopped,
        })
    }
}

/// openraft refuses writes from a leader whose last quorum acknowledgement is older than its lease
/// (the longest election timeout). A quiet group sends no heartbeats, so its leader's lease lapses
/// while idle: before writing, a leader whose acknowledgement is older than half the lease renews it
/// with one read-index round (a heartbeat to the followers). Under load the lease stays fresh and
/// this costs a metrics read.
pub(crate) async fn renew_write_lease(raft: &GroupRaft) {
    let stale = {
        use openraft::async_runtime::watch::WatchReceiver;
        let half_lease = std::time::Duration::from_millis(raft.config().election_timeout_max / 2);
        let metrics = raft.metrics();
        let metrics = metrics.borrow_watched();
        metrics.state == openraft::ServerState::Leader
            && metrics
                .last_quorum_acked
                .as_ref()
                .is_none_or(|acked| openraft::Instant::elapsed(&**acked) > half_lease)
    };
    if stale {
        // A failure here (lost leadership, no quorum) shows again in the write that follows.
        let _ = raft
            .ensure_linearizable(openraft::ReadPolicy::ReadIndex)
            .await;
    }
}

async fn run(
    raft: GroupRaft,
    clock: Arc<dyn Clock>,
    limits: ProposerLimits,
    mut waiting: mpsc::Receiver<Pending>,
    commit_latency_us: Arc<AtomicU64>,
) {
    let in_flight = Arc::new(Semaphore::new(limits.batches_in_flight_max.max(1)));
    while let Some(first) = waiting.recv().await {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        // Take what is already waiting, up to the batch bounds; never wait for more. Each command
        // is encoded here, once: the entry carries these bytes to the log and to every follower.
        let at_ms = clock.now_ms();
        let metrics = crate::metrics::metrics();
        let mut tickets = TicketsBuilder::default();
        let mut replies = Vec::new();
        let mut stamped = Vec::new();
        // Commands and time stamps taken for this entry.
        let mut packed = 0usize;
        let mut next = Some(first);
        while let Some(pending) = next.take() {
            match pending {
                Pending::Command {
                    request_id,
                    action,
                    reply,
                    queued,
                } => {
                    metrics
                        .proposer_wait_seconds
                        .observe(queued.elapsed().as_secs_f64());
                    tickets.push(&Command {
                        request_id,
                        at_ms,
                        action,
                    });
                    replies.push(reply);
                }
                Pending::TimeStamp { reply } => stamped.push(reply),
            }
            packed += 1;
            if packed < limits.batch_commands_max && tickets.bytes() < limits.batch_bytes_max {
                next = waiting.try_recv().ok();
            }
        }
        metrics.entry_commands.observe(packed as f64);
        // Commands carry the clock reading in their stamps; time stamps alone need an entry of
        // their own.
        let proposal = if tickets.count() == 0 {
            Proposal::TimeStamp { at_ms }
        } else {
            Proposal::Tickets(tickets.finish())
        };
        let raft = raft.clone();
        let commit_latency_us = commit_latency_us.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            renew_write_lease(&raft).await;
            let result = raft.client_write(proposal).await;
            // A moving average over about eight entries.
            let elapsed = started.elapsed();
            crate::metrics::metrics()
                .entry_commit_seconds
                .observe(elapsed.as_secs_f64());
            let took = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
            let before = commit_latency_us.load(Ordering::Relaxed);
            let average = before - before / 8 + took / 8;
            commit_latency_us.store(average, Ordering::Relaxed);
            drop(permit);
            match result {
                Ok(response) => {
                    let log_index = response.log_id.index;
                    let outcomes = response.data.into_tickets();
                    for (reply, outcome) in replies.into_iter().zip(outcomes) {
                        // A caller that gave up no longer listens; its outcome stays remembered.
                        let _ = reply.send(Ok(Committed { outcome, log_index }));
                    }
                    for reply in stamped {
                        let _ = reply.send(Ok(log_index));
                    }
                }
                Err(error) => {
                    let error = match error.forward_to_leader() {
                        Some(forward) => ProposeError::NotLeader {
                            leader: forward.leader_id,
                        },
                        None => ProposeError::Raft(error.to_string()),
                    };
                    for reply in replies {
                        let _ = reply.send(Err(error.clone()));
                    }
                    for reply in stamped {
                        let _ = reply.send(Err(error.clone()));
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_shifts_the_clock_and_saturates() {
        assert_eq!(shifted(1_000, 0), 1_000);
        assert_eq!(shifted(1_000, 60_000), 61_000);
        assert_eq!(shifted(61_000, -60_000), 1_000);
        assert_eq!(shifted(1_000, -60_000), 0);
        assert_eq!(shifted(u64::MAX - 1, i64::MAX), u64::MAX);
        assert_eq!(shifted(0, i64::MIN), 0);
    }
}
