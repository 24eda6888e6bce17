//! The Raft layer: openraft's type configuration for Boxoffice groups and the RocksDB-backed log
//! store and state machine behind it. This is the only module that names openraft types, so an
//! openraft upgrade stays here.

pub mod admission;
pub mod append_batch;
pub mod append_stream;
pub mod expiry;
pub mod log_store;
pub mod proposer;
pub mod quiesce;
pub mod read_barrier;
pub mod state_machine;
pub mod tickets;
pub mod transport;

use std::fmt;
use std::io;

use boxoffice_statemachine::{codec, Command, Outcome};
use serde::{Deserialize, Serialize};

use crate::meta::{MetaCommand, MetaOutcome};
pub use tickets::{EncodedTickets, TicketsBuilder};

/// Runs `work`, which holds its thread for long (a whole-state scan: an audit, a snapshot built or
/// installed), without holding up the tasks queued behind it on this worker: on a multi-threaded
/// runtime they move to another worker first, so heartbeats keep their time and no election
/// follows. (On a current-thread runtime, as in some tests, it simply runs.)
pub fn whole_state_work<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// What one Raft entry carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Proposal {
    /// For a data group: ticketing commands, applied in order, as builds before 2026-11-29 wrote
    /// them (decoded with the entry). Still read, so that such a log applies; no longer written.
    TicketList(Vec<Command>),
    /// For a data group: the leader's clock, committed so a read that follows answers at this time
    /// (state time moves forward to it; nothing else changes).
    TimeStamp { at_ms: u64 },
    /// For the meta group: a change to the cluster map.
    Cluster(MetaCommand),
    /// For a data group: ticketing commands, applied in order, encoded once by the proposer.
    Tickets(EncodedTickets),
}

impl Proposal {
    /// An entry of ticketing `commands`.
    pub fn tickets(commands: &[Command]) -> Proposal {
        Proposal::Tickets(EncodedTickets::encode(commands))
    }
}

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Proposal::Tickets(tickets) => write!(f, "{} ticketing command(s)", tickets.count()),
            Proposal::TicketList(commands) => {
                write!(f, "{} ticketing command(s)", commands.len())
            }
            Proposal::TimeStamp { at_ms } => write!(f, "time stamp {at_ms} ms"),
            Proposal::Cluster(command) => write!(f, "cluster map change {command:?}"),
        }
    }
}

/// What applying a proposal answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProposalOutcomes {
    /// A blank or membership entry.
    #[default]
    None,
    /// The outcome of each ticketing command, in order.
    Tickets(Vec<Outcome>),
    Cluster(MetaOutcome),
}

impl ProposalOutcomes {
    /// The ticketing outcomes (none for other entries).
    pub fn into_tickets(self) -> Vec<Outcome> {
        match self {
            ProposalOutcomes::Tickets(outcomes) => outcomes,
            _ => Vec::new(),
        }
    }
}

openraft::declare_raft_types!(
    /// The openraft types of every Boxoffice group.
    pub TypeConfig:
        D = Proposal,
        R = ProposalOutcomes,
);

/// Largest Raft record (entry, vote, snapshot) we agree to decode, in bytes.
pub const RAFT_RECORD_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Encodes a Raft record with the project's versioned encoding.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    codec::encode(value)
}

/// Decodes a Raft record; corrupt bytes are an `InvalidData` I/O error for openraft.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, io::Error> {
    codec::decode(bytes, RAFT_RECORD_BYTES_MAX)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Locks `mutex`, taking over a lock poisoned by a panicked holder (the data stays usable: each
/// critical section leaves it whole).
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A RocksDB failure as openraft wants storage errors.
pub(crate) fn rocks(error: rocksdb::Error) -> io::Error {
    io::Error::other(error)
}

/// A copy of a group's current Raft metrics (role, leader, indexes, replication progress).
pub fn metrics(raft: &transport::GroupRaft) -> openraft::RaftMetrics<TypeConfig> {
    use openraft::async_runtime::watch::WatchReceiver;
    raft.metrics().borrow_watched().clone()
}

/// Whether `raft`'s node is the group's leader now, by its metrics (no message to the Raft task).
pub fn leads(raft: &transport::GroupRaft) -> bool {
    use openraft::async_runtime::watch::WatchReceiver;
    raft.metrics().borrow_watched().state == openraft::ServerState::Leader
}

/// The index of the last entry `raft`'s node has applied (0 before any), by its metrics.
pub fn applied_index(raft: &transport::GroupRaft) -> u64 {
    use openraft::async_runtime::watch::WatchReceiver;
    let metrics = raft.metrics();
    let metrics = metrics.borrow_watched();
    metrics
        .last_applied
        .as_ref()
        .map_or(0, |applied| applied.index)
}

/// The leader `raft`'s node currently knows of (from its metrics: no message to the Raft task).
pub fn known_leader(raft: &transport::GroupRaft) -> Option<u64> {
    use openraft::async_runtime::watch::WatchReceiver;
    raft.metrics().borrow_watched().current_leader
}
