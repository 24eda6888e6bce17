//! The node's one RocksDB: column families for the Raft log, Raft metadata and the state machines of
//! every group, and the ticketing state of one group seen through the state machine's `Store` trait.
//!
//! Every key of every column family starts with the group id (8 bytes, big-endian), so one group's
//! keys are contiguous and ordered exactly as the state machine orders them.

pub mod cache;
pub mod flusher;

use std::path::Path;
use std::sync::Arc;

use boxoffice_statemachine::{Entries, KvStore, Store, StoreError, WriteBatch};
use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, Direction, IteratorMode, Options, ReadOptions, DB,
};

/// Column family of the Raft log entries of every group.
pub const CF_RAFT_LOG: &str = "raft_log";
/// Column family of Raft metadata (vote, committed, last purged) of every group.
pub const CF_RAFT_META: &str = "raft_meta";
/// Column family of the state machines of every group.
pub const CF_STATE: &str = "state";

const COLUMN_FAMILIES: [&str; 3] = [CF_RAFT_LOG, CF_RAFT_META, CF_STATE];

/// The block cache every column family shares, in bytes.
const BLOCK_CACHE_BYTES: usize = 256 * 1024 * 1024;

/// A Raft group: group 0 is the meta group, data groups count from 1.
pub type GroupId = u64;

/// A failure of the node's storage.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot open the RocksDB at {path}: {source}")]
    Open {
        path: String,
        source: rocksdb::Error,
    },
    #[error("cannot start the WAL flusher: {0}")]
    Flusher(String),
    #[error("RocksDB failed: {0}")]
    Rocks(#[from] rocksdb::Error),
}

impl From<StorageError> for StoreError {
    fn from(error: StorageError) -> Self {
        StoreError::Io(error.to_string())
    }
}

/// The node's RocksDB, shared by every group it hosts.
#[derive(Clone)]
pub struct NodeStorage {
    db: Arc<DB>,
    flusher: flusher::Flusher,
}

impl std::fmt::Debug for NodeStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeStorage")
            .field("path", &self.db.path())
            .finish()
    }
}

impl NodeStorage {
    /// Opens (creating if needed) the node's database under `path`.
    pub fn open(path: &Path) -> Result<NodeStorage, StorageError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        // Every write that must be durable is synced through the flusher or `sync`; the others
        // (applied state, committed index) are rebuilt from the log after a crash, so the WAL is
        // written to the OS only when one of those syncs asks, not on every write.
        options.set_manual_wal_flush(true);
        let cache = rocksdb::Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let families = COLUMN_FAMILIES.iter().map(|name| {
            let mut family = Options::default();
            let mut table = rocksdb::BlockBasedOptions::default();
            table.set_block_cache(&cache);
            table.set_bloom_filter(10.0, false);
            family.set_block_based_table_factory(&table);
            if *name == CF_STATE {
                // Most state reads are point lookups, and many miss (a new request id, a seat
                // never held): a bloom filter over the memtable answers those without a search.
                family.set_memtable_prefix_bloom_ratio(0.1);
                family.set_memtable_whole_key_filtering(true);
            }
            ColumnFamilyDescriptor::new(*name, family)
        });
        let db = DB::open_cf_descriptors(&options, path, families).map_err(|source| {
            StorageError::Open {
                path: path.display().to_string(),
                source,
            }
        })?;
        let db = Arc::new(db);
        let flusher = flusher::Flusher::start(db.clone())
            .map_err(|e| StorageError::Flusher(e.to_string()))?;
        Ok(NodeStorage { db, flusher })
    }

    pub(crate) fn db(&self) -> &Arc<DB> {
        &self.db
    }

    pub(crate) fn cf(&self, name: &str) -> &ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("every column family is created at open")
    }

    /// The ticketing state of `group`, as the state machine reads and writes it.
    pub fn group_state(&self, group: GroupId) -> GroupState {
        GroupState {
            storage: self.clone(),
            group,
        }
    }

    /// The group-commit flusher: many appends, one sync.
    pub fn flusher(&self) -> &flusher::Flusher {
        &self.flusher
    }

    /// Makes every write so far durable (flushes the write-ahead log to disk).
    pub fn sync(&self) -> Result<(), StorageError> {
        Ok(self.db.flush_wal(true)?)
    }

    /// Deletes every key of `group` (its log, Raft metadata and state), durably. Only for a group
    /// this node no longer hosts and whose Raft is shut down.
    pub fn delete_group(&self, group: GroupId) -> Result<(), StorageError> {
        let mut batch = rocksdb::WriteBatch::default();
        let (from, to) = (group_key(group, &[]), group_key(group + 1, &[]));
        for name in COLUMN_FAMILIES {
            batch.delete_range_cf(self.cf(name), &from, &to);
        }
        self.db.write(batch)?;
        self.sync()
    }
}

/// `key` prefixed with the group id.
pub fn group_key(group: GroupId, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + key.len());
    out.extend_from_slice(&group.to_be_bytes());
    out.extend_from_slice(key);
    out
}

/// One group's state machine keys in the `state` column family.
#[derive(Debug, Clone)]
pub struct GroupState {
    storage: NodeStorage,
    group: GroupId,
}

impl GroupState {
    /// The node storage this state lives in.
    pub fn storage(&self) -> &NodeStorage {
        &self.storage
    }

    /// The group this state belongs to.
    pub fn group(&self) -> GroupId {
        self.group
    }

    /// A consistent point-in-time view of the group's state, for queries that read many keys
    /// while the group keeps applying.
    pub fn reader(&self) -> GroupReader<'_> {
        GroupReader {
            state: self,
            snapshot: self.storage.db.snapshot(),
        }
    }

    /// Adds the state machine's `writes` to a RocksDB batch, so that they commit atomically with
    /// whatever else the caller puts in it (the Raft applied index, for one).
    pub fn stage(&self, writes: &WriteBatch, batch: &mut rocksdb::WriteBatch) {
        let cf = self.storage.cf(CF_STATE);
        // One buffer for every prefixed key: the batch copies each key in.
        let mut prefixed = self.group.to_be_bytes().to_vec();
        for (key, value) in writes.iter() {
            prefixed.truncate(8);
            prefixed.extend_from_slice(key);
            match value {
                Some(value) => batch.put_cf(cf, &prefixed, value),
                None => batch.delete_cf(cf, &prefixed),
            }
        }
    }
}

fn io(error: rocksdb::Error) -> StoreError {
    StoreError::Io(error.to_string())
}

/// Where a scan of `[from, to)` in `group` starts, and the read options that stop it at `to`.
fn scan_bounds(group: GroupId, from: &[u8], to: &[u8]) -> (Vec<u8>, ReadOptions) {
    let mut options = ReadOptions::default();
    options.set_iterate_upper_bound(group_key(group, to));
    (group_key(group, from), options)
}

/// Up to `limit` entries of a group-prefixed iterator, with the group prefix removed.
fn collect(
    iter: impl Iterator<Item = Result<(Box<[u8]>, Box<[u8]>), rocksdb::Error>>,
    limit: usize,
) -> Result<Entries, StoreError> {
    let mut out = Vec::new();
    for item in iter.take(limit) {
        let (key, value) = item.map_err(io)?;
        out.push((key[8..].to_vec(), value.into_vec()));
    }
    Ok(out)
}

impl Store for GroupState {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let cf = self.storage.cf(CF_STATE);
        self.storage
            .db
            .get_cf(cf, group_key(self.group, key))
            .map_err(io)
    }

    fn get_with(&self, key: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<bool, StoreError> {
        let cf = self.storage.cf(CF_STATE);
        let value = self
            .storage
            .db
            .get_pinned_cf(cf, group_key(self.group, key))
            .map_err(io)?;
        Ok(value.map(|v| visit(&v)).is_some())
    }

    fn scan(&self, from: &[u8], to: &[u8], limit: usize) -> Result<Entries, StoreError> {
        if from >= to || limit == 0 {
            return Ok(Vec::new());
        }
        let (start, options) = scan_bounds(self.group, from, to);
        let cf = self.storage.cf(CF_STATE);
        let mode = IteratorMode::From(&start, Direction::Forward);
        collect(self.storage.db.iterator_cf_opt(cf, options, mode), limit)
    }
}

impl KvStore for GroupState {
    fn commit(&mut self, writes: WriteBatch) -> Result<(), StoreError> {
        let mut batch = rocksdb::WriteBatch::default();
        self.stage(&writes, &mut batch);
        self.storage.db.write(batch).map_err(io)
    }
}

/// A group's state as of one moment (a RocksDB snapshot), seen through the `Store` trait.
pub struct GroupReader<'a> {
    state: &'a GroupState,
    snapshot: rocksdb::Snapshot<'a>,
}

impl std::fmt::Debug for GroupReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupReader")
            .field("group", &self.state.group)
            .finish()
    }
}

impl Store for GroupReader<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let cf = self.state.storage.cf(CF_STATE);
        self.snapshot
            .get_cf(cf, group_key(self.state.group, key))
            .map_err(io)
    }

    fn get_with(&self, key: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<bool, StoreError> {
        let cf = self.state.storage.cf(CF_STATE);
        let value = self
            .snapshot
            .get_pinned_cf(cf, group_key(self.state.group, key))
            .map_err(io)?;
        Ok(value.map(|v| visit(&v)).is_some())
    }

    fn scan(&self, from: &[u8], to: &[u8], limit: usize) -> Result<Entries, StoreError> {
        if from >= to || limit == 0 {
            return Ok(Vec::new());
        }
        let (start, options) = scan_bounds(self.state.group, from, to);
        let cf = self.state.storage.cf(CF_STATE);
        let mode = IteratorMode::From(&start, Direction::Forward);
        collect(self.snapshot.iterator_cf_opt(cf, options, mode), limit)
    }
}
