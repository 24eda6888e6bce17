//! A group leader's read barrier: linearizable reads that arrive together share one read-index
//! round (leadership confirmed by a quorum, then everything committed before it applied here).
//!
//! A round that began after a read arrived serves it: the round's confirmation happened within
//! the read's lifetime, and the state applied by its end holds every write acknowledged before
//! the read arrived. Callers queue in turn (FIFO); each finds either a round begun after its
//! arrival already done, and takes its result (a failed round fails it too, so a partition costs
//! the queue one round's wait, not one each), or begins one itself. So a read waits for at most
//! two rounds, and a burst of reads costs two rounds, not one each.
//!
//! A round is bounded by [`READ_ROUND_MS_MAX`]: openraft's wait for the state to catch up with a
//! read index has no end of its own, and a round that never ended would hold every read behind it.

use std::time::{Duration, Instant};

use openraft::error::{LinearizableReadError, RaftError};
use openraft::ReadPolicy;

use super::transport::GroupRaft;
use super::TypeConfig;

/// Longest a read-index round may take before it fails, in milliseconds.
pub const READ_ROUND_MS_MAX: u64 = 2_000;

/// Why a read could not be linearized here.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    /// Not the leader (with a forward to it), or no quorum.
    #[error(transparent)]
    Raft(#[from] RaftError<TypeConfig, LinearizableReadError<TypeConfig>>),
    #[error("the read-index round did not end within {READ_ROUND_MS_MAX} ms")]
    TimedOut,
}

/// One group's read barrier; cheap to share behind an `Arc`.
pub struct ReadBarrier {
    raft: GroupRaft,
    /// When the last round began, and how it ended; held while a round runs.
    last_round: tokio::sync::Mutex<Option<(Instant, Result<(), ReadError>)>>,
}

impl std::fmt::Debug for ReadBarrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadBarrier").finish_non_exhaustive()
    }
}

impl ReadBarrier {
    pub fn new(raft: GroupRaft) -> ReadBarrier {
        ReadBarrier {
            raft,
            last_round: tokio::sync::Mutex::new(None),
        }
    }

    /// Returns once this node has confirmed it leads the group after the call began, and has
    /// applied every entry committed before that: a read of the state from here is linearizable.
    pub async fn pass(&self) -> Result<(), ReadError> {
        let arrived = Instant::now();
        let mut last_round = self.last_round.lock().await;
        if let Some((began, ended)) = &*last_round {
            if *began >= arrived {
                return ended.clone();
            }
        }
        let began = Instant::now();
        let round = self.raft.ensure_linearizable(ReadPolicy::ReadIndex);
        let ended =
            match tokio::time::timeout(Duration::from_millis(READ_ROUND_MS_MAX), round).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(error)) => Err(ReadError::Raft(error)),
                Err(_) => Err(ReadError::TimedOut),
            };
        *last_round = Some((began, ended.clone()));
        ended
    }
}
