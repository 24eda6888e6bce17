//! A bounded read cache of one group's state records in front of RocksDB, for the group's applies:
//! once warm, a command reads its event, rows, section counters, customer and hold from memory
//! instead of searching RocksDB's memtable. Written through with every applied batch and emptied
//! when a snapshot replaces the state, so a hit is always the value RocksDB holds.
//!
//! It also remembers where a few scans start: the first key at or after a scan's start within its
//! record tag. Most commands ask whether a time-ordered index holds anything older than a moment
//! (outcomes to forget, dead holds) and the answer is nearly always no; with the first key known,
//! that no costs a comparison instead of a RocksDB iterator. Every write passes through here, and a
//! put before the remembered key takes its place, so the answers stay exact.
//!
//! Readers other than the applies (a leader refusing a hold from a read) may look through it too,
//! without disturbing it: a peek is a hint; a settled read ([`StateCache::read_settled`]) is a
//! consistent view of the state as the last commit left it, as commits wait for it to end.

use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use boxoffice_statemachine::{applies_reread, Entries, Store, StoreError, WriteBatch};
use bytes::Bytes;
use quick_cache::unsync::Cache;
use quick_cache::Weighter;

use super::GroupState;

/// Memory a group's cache may take, in bytes (keys, values and bookkeeping).
pub const STATE_CACHE_BYTES_MAX: u64 = 32 * 1024 * 1024;

/// What an entry costs beyond its key and value bytes, in bytes (hash slot, pointers, lengths).
const ENTRY_OVERHEAD_BYTES: u64 = 64;

/// A cached record: its bytes, or the fact that the key holds none. `Bytes` takes a committed
/// value's buffer over without copying it.
type Cached = Option<Bytes>;

#[derive(Debug, Clone, Copy, Default)]
struct ByBytes;

impl Weighter<Vec<u8>, Cached> for ByBytes {
    fn weight(&self, key: &Vec<u8>, value: &Cached) -> u64 {
        let value = value.as_ref().map_or(0, |v| v.len());
        (key.len() + value) as u64 + ENTRY_OVERHEAD_BYTES
    }
}

/// Scan starts whose first key is remembered, per group.
const SCAN_STARTS_MAX: usize = 8;

/// What is known of the keys in `[from, end)`: none lies before `first` (none at all if `None`).
/// Learned from a scan as the first key found; a put before it takes its place.
#[derive(Debug)]
struct ScanStart {
    from: Vec<u8>,
    end: Vec<u8>,
    first: Option<Vec<u8>>,
}

/// The cached records and remembered scan starts of one group.
struct Inner {
    records: Cache<Vec<u8>, Cached, ByBytes>,
    /// At most [`SCAN_STARTS_MAX`]; the oldest is replaced first.
    starts: Vec<ScanStart>,
}

/// One group's cache, shared by the clones of its state machine and the readers that peek.
#[derive(Clone)]
pub struct StateCache {
    inner: Arc<Mutex<Inner>>,
    /// Held exclusively by a commit (written to RocksDB, then here) and shared by settled reads,
    /// so no settled read sees part of a commit.
    commits: Arc<RwLock<()>>,
}

impl std::fmt::Debug for StateCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("StateCache")
            .field("entries", &inner.records.len())
            .field("bytes", &inner.records.weight())
            .field("scan_starts", &inner.starts.len())
            .finish()
    }
}

impl StateCache {
    /// An empty cache of at most `bytes_max` bytes.
    pub fn new(bytes_max: u64) -> StateCache {
        let estimated_entries = usize::try_from(bytes_max / 256).unwrap_or(usize::MAX);
        StateCache {
            inner: Arc::new(Mutex::new(Inner {
                records: Cache::with_weighter(estimated_entries, bytes_max, ByBytes),
                starts: Vec::new(),
            })),
            commits: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves nothing half-done: every operation is one call.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `state` read through this cache.
    pub fn over<'a>(&'a self, state: &'a GroupState) -> CachedState<'a> {
        CachedState { state, cache: self }
    }

    /// `state` seen through this cache without disturbing it, for a look that may be stale: see
    /// [`PeekedState`].
    pub fn peek_over<'a>(&'a self, state: &'a GroupState) -> PeekedState<'a> {
        PeekedState { state, cache: self }
    }

    /// `read` of `state` through this cache, with commits held off until it returns: every record
    /// it reads is as the last commit left it, a consistent view (RocksDB's latest, not a
    /// snapshot, for the records not cached). Keep `read` short: the applies wait for it.
    pub fn read_settled<T>(
        &self,
        state: &GroupState,
        read: impl FnOnce(&PeekedState<'_>) -> T,
    ) -> T {
        let _settled = self
            .commits
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        read(&self.peek_over(state))
    }

    /// Runs `commit`, the caller's RocksDB write of `writes`, and records them here, while no
    /// settled read runs. On failure RocksDB kept nothing, and neither does the cache.
    pub fn commit<E>(
        &self,
        writes: WriteBatch,
        commit: impl FnOnce() -> Result<(), E>,
    ) -> Result<(), E> {
        let _committing = self
            .commits
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let committed = commit();
        if committed.is_ok() {
            self.absorb(writes);
        }
        committed
    }

    /// Runs `replace`, the caller's RocksDB write of a whole new state, and empties the cache,
    /// while no settled read runs.
    pub fn replace<T>(&self, replace: impl FnOnce() -> T) -> T {
        let _replacing = self
            .commits
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let replaced = replace();
        self.clear();
        replaced
    }

    /// Records `writes`, which the caller has just committed to RocksDB: those of the records applies
    /// read again ([`applies_reread`]), taking their buffers over; the others are never cached.
    /// A put moves the remembered scan starts it comes before.
    fn absorb(&self, writes: WriteBatch) {
        let mut inner = self.lock();
        for (key, value) in writes {
            // Only a put moves a scan start: a delete leaves "no key before `first`" true (the
            // next scan learns more).
            if value.is_some() {
                for start in &mut inner.starts {
                    let within = key >= start.from && key < start.end;
                    if within && start.first.as_ref().is_none_or(|first| key < *first) {
                        start.first = Some(key.clone());
                    }
                }
            }
            if applies_reread(&key) {
                inner.records.insert(key, value.map(exact));
            }
        }
    }

    /// Forgets everything (the state was replaced underneath).
    fn clear(&self) {
        let mut inner = self.lock();
        inner.records.clear();
        inner.starts.clear();
    }

    /// Whether `[from, to)` is known to hold no key (false when nothing is known of it).
    fn known_empty(&self, from: &[u8], to: &[u8]) -> bool {
        self.lock().starts.iter().any(|start| {
            start.from == from
                && to <= start.end.as_slice()
                && start.first.as_deref().is_none_or(|first| first >= to)
        })
    }

    /// Remembers that no key in `[from, end)` lies before `first` (none at all if `None`).
    fn remember_start(&self, from: &[u8], end: Vec<u8>, first: Option<Vec<u8>>) {
        let mut inner = self.lock();
        inner.starts.retain(|start| start.from != from);
        if inner.starts.len() == SCAN_STARTS_MAX {
            inner.starts.remove(0);
        }
        inner.starts.push(ScanStart {
            from: from.to_vec(),
            end,
            first,
        });
    }
}

/// `value` as cached bytes, holding no more memory than its length, which is what the cache's
/// bound counts (encoders reserve ahead; a value built to its size is not copied).
fn exact(mut value: Vec<u8>) -> Bytes {
    value.shrink_to_fit();
    Bytes::from(value)
}

/// The end of the record tag that `from` starts in (keys of one tag share their first byte), when
/// `[from, to)` lies within it.
fn tag_end(from: &[u8], to: &[u8]) -> Option<Vec<u8>> {
    let tag = *from.first()?;
    let end = vec![tag.checked_add(1)?];
    (to <= end.as_slice()).then_some(end)
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
            return Ok(self.state.get(key)?.map(exact));
        }
        if let Some(cached) = self.cache.lock().records.get(key) {
            return Ok(cached.clone());
        }
        let value: Cached = self.state.get(key)?.map(exact);
        self.cache
            .lock()
            .records
            .insert(key.to_vec(), value.clone());
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

    /// A scan within one record tag answers "nothing" from the remembered first key when it can.
    /// Otherwise it reads RocksDB, and learns the first key for the next time: the first entry
    /// found or, when there is none, the first key after `to` in the tag (one more short read).
    fn scan(&self, from: &[u8], to: &[u8], limit: usize) -> Result<Entries, StoreError> {
        if from >= to || limit == 0 {
            return Ok(Vec::new());
        }
        let Some(end) = tag_end(from, to) else {
            return self.state.scan(from, to, limit);
        };
        if self.cache.known_empty(from, to) {
            return Ok(Vec::new());
        }
        let entries = self.state.scan(from, to, limit)?;
        let first = match entries.first() {
            Some((key, _)) => Some(key.clone()),
            None => self.state.scan(to, &end, 1)?.pop().map(|(key, _)| key),
        };
        self.cache.remember_start(from, end, first);
        Ok(entries)
    }
}

/// A group's state as its cache holds it, for readers other than the applies: a hit reads the
/// cache, a miss reads RocksDB and caches nothing (a value read outside the applies could be older
/// than one an apply commits meanwhile, and would then stay). A commit writes RocksDB before the
/// cache, so records peeked at may be of different moments, a hint; inside
/// [`StateCache::read_settled`] no commit runs, and they are one state.
#[derive(Debug, Clone, Copy)]
pub struct PeekedState<'a> {
    state: &'a GroupState,
    cache: &'a StateCache,
}

impl Store for PeekedState<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let mut value = None;
        self.get_with(key, &mut |bytes| value = Some(bytes.to_vec()))?;
        Ok(value)
    }

    fn get_with(&self, key: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<bool, StoreError> {
        if applies_reread(key) {
            let cached = self.cache.lock().records.peek(key).cloned();
            if let Some(value) = cached {
                return Ok(value.map(|value| visit(&value)).is_some());
            }
        }
        self.state.get_with(key, visit)
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
        let committed = writes.clone();
        cache.commit(writes, || state.commit(committed)).unwrap();
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
            cache.lock().records.len(),
            0,
            "neither the miss nor the write was cached"
        );
        assert_eq!(
            cache.over(&state).get(&outcome).unwrap().unwrap(),
            b"accepted"
        );
        assert_eq!(cache.lock().records.len(), 0);
    }

    /// A random batch of puts and deletes of keys in tags 0x03 and 0x04.
    fn random_writes(rng: &mut impl rand::Rng, state: &GroupState) -> WriteBatch {
        let mut txn = Txn::new(state);
        for _ in 0..rng.random_range(1..4) {
            let key = vec![rng.random_range(3..5u8), rng.random_range(0..24u8)];
            if rng.random_bool(0.5) {
                txn.put(key, vec![1]);
            } else {
                txn.delete(key);
            }
        }
        txn.into_batch()
    }

    #[test]
    fn scans_answered_from_a_remembered_first_key_agree_with_rocksdb() {
        use rand::{Rng, SeedableRng};
        let seed: u64 = rand::random();
        println!("seed {seed}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let (_dir, mut state) = open();
        let cache = StateCache::new(STATE_CACHE_BYTES_MAX);
        for _ in 0..2_000 {
            let writes = random_writes(&mut rng, &state);
            commit(&mut state, &cache, writes);
            // The scans applies make: from a tag's start (or a key in it) to a moving bound.
            let from = match rng.random_range(0..3) {
                0 => vec![3],
                1 => vec![3, rng.random_range(0..24u8)],
                _ => vec![4],
            };
            let to = if rng.random_bool(0.1) {
                vec![from[0] + 1]
            } else {
                vec![from[0], rng.random_range(0..26u8)]
            };
            let limit = rng.random_range(1..6);
            assert_eq!(
                cache.over(&state).scan(&from, &to, limit).unwrap(),
                state.scan(&from, &to, limit).unwrap(),
                "scan [{from:?}, {to:?}) limit {limit} (seed {seed})"
            );
        }
        assert!(
            !cache.lock().starts.is_empty(),
            "scan starts were remembered"
        );
    }

    #[test]
    fn an_index_with_nothing_due_is_answered_without_reading_rocksdb() {
        let (_dir, mut state) = open();
        let cache = StateCache::new(STATE_CACHE_BYTES_MAX);
        // One entry of a time-ordered index at time 50: nothing is older than 40.
        commit(&mut state, &cache, put(&[3, 50], b""));
        assert!(cache
            .over(&state)
            .scan(&[3], &[3, 40], 4)
            .unwrap()
            .is_empty());
        // Now known: a later write behind RocksDB's back (never done outside tests) goes unseen.
        state.commit(put(&[3, 10], b"")).unwrap();
        assert!(cache
            .over(&state)
            .scan(&[3], &[3, 40], 4)
            .unwrap()
            .is_empty());
        // A write through the cache before the first key moves it.
        commit(&mut state, &cache, put(&[3, 20], b""));
        assert_eq!(
            cache.over(&state).scan(&[3], &[3, 40], 4).unwrap(),
            vec![(vec![3, 10], Vec::new()), (vec![3, 20], Vec::new())]
        );
    }

    #[test]
    fn a_settled_read_never_sees_part_of_a_commit() {
        let (_dir, mut state) = open();
        let cache = StateCache::new(STATE_CACHE_BYTES_MAX);
        // Each commit writes the same number to a cached record and to one read from RocksDB (a
        // request's outcome, tag 0x02), so a read that sees two numbers saw half a commit.
        let cached = b"seat".to_vec();
        let uncached = vec![0x02, b'r'];
        let both = |n: u32| {
            let empty = MemStore::default();
            let mut txn = Txn::new(&empty);
            txn.put(cached.clone(), n.to_be_bytes().to_vec());
            txn.put(uncached.clone(), n.to_be_bytes().to_vec());
            txn.into_batch()
        };
        commit(&mut state, &cache, both(0));
        let reader = state.clone();
        let commits: u32 = 20_000;
        let reads = std::thread::scope(|scope| {
            let readers = scope.spawn(|| {
                let mut reads = 0u32;
                loop {
                    let (first, second) = cache.read_settled(&reader, |view| {
                        (view.get(&uncached).unwrap(), view.get(&cached).unwrap())
                    });
                    assert_eq!(first, second, "a settled read saw half a commit");
                    reads += 1;
                    if first == Some(commits.to_be_bytes().to_vec()) {
                        return reads;
                    }
                }
            });
            for n in 1..=commits {
                commit(&mut state, &cache, both(n));
            }
            readers.join().unwrap()
        });
        println!("{reads} settled reads during {commits} commits");
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
        cache.replace(|| state.commit(delete)).unwrap();
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
        assert!(cache.lock().records.weight() <= bytes_max);
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
