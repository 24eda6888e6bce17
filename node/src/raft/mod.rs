//! The Raft layer: openraft's type configuration for Boxoffice groups and the RocksDB-backed log
//! store and state machine behind it. This is the only module that names openraft types, so an
//! openraft upgrade stays here.

pub mod expiry;
pub mod log_store;
pub mod proposer;
pub mod state_machine;
pub mod transport;

use std::fmt;
use std::io;

use boxoffice_statemachine::{codec, Command, Outcome};
use serde::{Deserialize, Serialize};

/// What one Raft entry carries: a batch of ticketing commands, applied in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub commands: Vec<Command>,
}

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "proposal of {} command(s)", self.commands.len())
    }
}

/// The outcomes of a proposal's commands, in the same order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalOutcomes {
    pub outcomes: Vec<Outcome>,
}

openraft::declare_raft_types!(
    /// The openraft types of every Boxoffice group.
    pub TypeConfig:
        D = Proposal,
        R = ProposalOutcomes,
);

/// Largest Raft record (entry, vote, snapshot) we agree to decode, in bytes.
const RAFT_RECORD_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Encodes a Raft record with the project's versioned encoding.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    codec::encode(value)
}

/// Decodes a Raft record; corrupt bytes are an `InvalidData` I/O error for openraft.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, io::Error> {
    codec::decode(bytes, RAFT_RECORD_BYTES_MAX)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// A RocksDB failure as openraft wants storage errors.
pub(crate) fn rocks(error: rocksdb::Error) -> io::Error {
    io::Error::other(error)
}
