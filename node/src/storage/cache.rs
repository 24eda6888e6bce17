//! A bounded read cache of one group's state records in front of RocksDB, for the group's applies:
//! once warm, a command reads its event, rows, section counters, customer and hold from memory
//! instead of searching RocksDB's memtable. Written through with every applied batch and emptied
//! when a snapshot replaces the state, so a hit is always the value RocksDB holds.

use std::sync::{Arc, Mutex, MutexGuard};

use boxoffice_statemachine::{applies_reread, Entries, Store, StoreError, WriteBatch};
use quick_cache::unsync::Cache;
use quick_cache::Weighter;

use super::GroupState;

/// Memory a group's cache may take, in bytes (keys, values and bookkeeping).
pub const STATE_CACHE_BYTES_MAX: u64 = 32 * 1024 * 1024;

/// What an entry costs beyond its key and value bytes, in bytes (hash slot, pointers, lengths).
const ENTRY_OVERHEAD_BYTES: u64 = 64;

/// A cached record: its bytes, or the fact that the key holds none.
type Cached = Option<Arc<[u8]>>;

#[derive(Debug, Clone, Copy, Default)]
struct ByBytes;

impl Weighter<Vec<u8>, Cached> for ByBytes {
    fn weight(&self, key: &Vec<u8>, value: &Cached) -> u64 {
        let value = value.as_ref().map_or(0, |v| v.len());
        (key.len() + value) as u64 + ENTRY_OVERHEAD_BYTES
    }
}

/// One group's cache, shared by the clones of its state machine (only the apply path uses it).
#[derive(Clone)]
pub struct StateCache {
    entries: Arc<Mutex<Cache<Vec<u8>, Cached, ByBytes>>>,
}

impl std::fmt::Debug for StateCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entries = self.lock();
        f.debug_struct("StateCache")
            .field("entries", &entries.len())
            .field("bytes", &entries.weight())
            .finish()
    }
}

impl StateCache {
    /// An empty cache of at most `bytes_max` bytes.
    pub fn new(bytes_max: u64) -> StateCache {
        let estimated_entries = usize::try_from(bytes_max / 256).unwrap_or(usize::MAX);
        StateCache {
            entries: Arc::new(Mutex::new(Cache::with_weighter(
                estimated_entries,
                bytes_max,
                ByBytes,
            ))),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Cache<Vec<u8>, Cached, ByBytes>> {
        // A panic while holding the lock leaves nothing half-done: every operation is one call.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `state` read through this cache.
    pub fn over<'a>(&'a self, state: &'a GroupState) -> CachedState<'a> {
        CachedState { state, cache: self }
    }

    /// Records `writes`, which the caller has just committed to RocksDB: those of the records applies
    /// read again ([`applies_reread`]); the others are never cached.
    pub fn absorb(&self, writes: &WriteBatch) {
        let mut entries = self.lock();
        for (key, value) in writes.iter().filter(|(key, _)| applies_reread(key)) {
            entries.insert(key.to_vec(), value.map(Arc::from));
        }
    }

    /// Forgets everything (the state was replaced underneath).
    pub fn clear(&self) {
        self.lock().clear();
    }
}

/// A group's state read through its cache; scans go to RocksDB.
#[derive(Debug, Clone, Copy)]
pub struct CachedState<'a> {
    state: &'a GroupState,
    cache: &'a StateCache,
}

impl CachedState<'_> {
    fn load(&self, key: &[u8]) -> Result<Cached, StoreError> {
        if !applies_reread(key) {
            // Never cached (see `absorb`), so RocksDB has the only copy.
            return Ok(self.state.get(key)?.map(Arc::from));
        }
        if let Some(cached) = self.cache.lock().get(key) {
            return Ok(cached.clone());
        }
        let value: Cached = self.state.get(key)?.map(Arc::from);
        self.cache.lock().insert(key.to_vec(), value.clone());
        Ok(value)
    }
}

impl Store for CachedState<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.load(key)?.map(|value| value.to_vec()))
    }

    fn get_with(&self, key: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<bool, StoreError> {
        Ok(self.load(key)?.map(|value| visit(&value)).is_some())
    }

    fn scan(&self, from: &[u8], to: &[u8], limit: usize) -> Result<Entries, StoreError> {
        self.state.scan(from, to, limit)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

    use boxoffice_statemachine::{KvStore, MemStore, Txn};

    use super::*;
    use crate::storage::NodeStorage;

    fn open() -> (tempfile::TempDir, GroupState) {
        let dir = tempfile::tempdir().unwrap();
        let storage = NodeStorage::open(dir.path()).unwrap();
        (dir, storage.group_state(7))
    }

    /// Commits `writes` to RocksDB and then to `cache`, as the state machine does.
    fn commit(state: &mut GroupState, cache: &StateCache, writes: WriteBatch) {
        state.commit(writes.clone()).unwrap();
        cache.absorb(&writes);
    }

    fn put(key: &[u8], value: &[u8]) -> WriteBatch {
        let empty = MemStore::default();
        let mut txn = Txn::new(&empty);
        txn.put(key.to_vec(), value.to_vec());
        txn.into_batch()
    }

    #[test]
    fn reads_through_the_cache_always_see_what_rocksdb_holds() {
        let (_dir, mut state) = open();
        let cache = StateCache::new(STATE_CACHE_BYTES_MAX);

        // A miss is remembered as a miss, until a write replaces it.
        assert_eq!(cache.over(&state).get(b"seat").unwrap(), None);
        commit(&mut state, &cache, put(b"seat", b"held"));
        assert_eq!(cache.over(&state).get(b"seat").unwrap().unwrap(), b"held");

        // A delete is remembered too.
        let mut txn = Txn::new(&state);
        txn.delete(b"seat".to_vec());
        let delete = txn.into_batch();
        commit(&mut state, &cache, delete);
        assert_eq!(cache.over(&state).get(b"seat").unwrap(), None);
        assert_eq!(state.get(b"seat").unwrap(), None);

        // Scans go to RocksDB.
        commit(&mut state, &cache, put(b"row-1", b"x"));
        let scanned = cache.over(&state).scan(b"row-", b"row.", 10).unwrap();
        assert_eq!(scanned, vec![(b"row-1".to_vec(), b"x".to_vec())]);
    }

    #[test]
    fn records_applies_do_not_read_again_are_never_cached_and_always_read_from_rocksdb() {
        let (_dir, mut state) = open();
        let cache = StateCache::new(STATE_CACHE_BYTES_MAX);
        // The first byte of a state key is its record's tag: 0x02 is a request's outcome.
        let outcome = [0x02, b'r'];
        assert_eq!(cache.over(&state).get(&outcome).unwrap(), None);
        commit(&mut state, &cache, put(&outcome, b"accepted"));
        assert_eq!(
            cache.lock().len(),
            0,
            "neither the miss nor the write was cached"
        );
        assert_eq!(
            cache.over(&state).get(&outcome).unwrap().unwrap(),
            b"accepted"
        );
        assert_eq!(cache.lock().len(), 0);
    }

    #[test]
    fn a_cleared_cache_forgets_what_the_state_no_longer_holds() {
        let (_dir, mut state) = open();
        let cache = StateCache::new(STATE_CACHE_BYTES_MAX);
        commit(&mut state, &cache, put(b"hold", b"live"));
        assert!(cache.over(&state).get(b"hold").unwrap().is_some());

        // A snapshot install replaces the state underneath, then clears the cache.
        let mut txn = Txn::new(&state);
        txn.delete(b"hold".to_vec());
        let delete = txn.into_batch();
        state.commit(delete).unwrap();
        cache.clear();
        assert_eq!(cache.over(&state).get(b"hold").unwrap(), None);
    }

    #[test]
    fn the_cache_stays_within_its_bytes() {
        let (_dir, mut state) = open();
        let bytes_max = 64 * 1024;
        let cache = StateCache::new(bytes_max);
        for i in 0..10_000u32 {
            commit(&mut state, &cache, put(&i.to_be_bytes(), &[0u8; 100]));
        }
        assert!(cache.lock().weight() <= bytes_max);
        // Evicted records are read from RocksDB again.
        assert_eq!(
            cache
                .over(&state)
                .get(&0u32.to_be_bytes())
                .unwrap()
                .unwrap(),
            vec![0u8; 100]
        );
    }
}
