//! openraft's own storage test suite, run against our RocksDB log store and state machine: the
//! contract we did not write (vote and log durability, truncation, purge, apply, snapshots).
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use boxoffice_node::raft::log_store::LogStore;
use boxoffice_node::raft::state_machine::StateMachine;
use boxoffice_node::raft::TypeConfig;
use boxoffice_node::storage::NodeStorage;
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::StorageError;
use tempfile::TempDir;

/// Every store the suite asks for is a fresh node database, seen as group 42 (so that keys carry a
/// non-zero group prefix).
struct RocksGroup;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for RocksGroup {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError<TypeConfig>> {
        let dir = TempDir::new().unwrap();
        let storage = NodeStorage::open(dir.path()).unwrap();
        // Another group's data beside it must not leak into group 42.
        let _neighbour = storage.group_state(43);
        Ok((
            dir,
            LogStore::new(storage.clone(), 42),
            StateMachine::new(storage, 42),
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openraft_storage_suite_passes() {
    Suite::test_all(RocksGroup).await.unwrap();
}
