//! Whole-state snapshots: an ordered, resumable stream of key/value chunks, its import, and a state hash.
//!
//! A snapshot is exactly the stored key/value pairs in key order, so importing one reproduces the
//! state bit for bit, and two replicas with equal hashes hold equal states.

use xxhash_rust::xxh3::Xxh3;

use crate::records::prefix_end;
use crate::store::{KvStore, Store, StoreError, Txn};

/// One piece of a snapshot: consecutive entries in key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// Pass this as `after` to read the next chunk; `None` once the stream is complete.
    pub resume_after: Option<Vec<u8>>,
}

/// Entries read per store scan while filling a chunk.
const SCAN_ENTRIES: usize = 1_024;

/// Reads the entries after key `after` (from the start if `None`) until about `chunk_bytes_max` bytes.
/// A chunk always holds at least one entry unless the stream is complete.
pub fn export_chunk<S: Store + ?Sized>(
    store: &S,
    after: Option<&[u8]>,
    chunk_bytes_max: usize,
) -> Result<Chunk, StoreError> {
    let mut from = match after {
        // The smallest key greater than `after` is `after` followed by a 0 byte.
        Some(after) => [after, &[0]].concat(),
        None => Vec::new(),
    };
    let end = vec![u8::MAX; 1];
    let mut entries = Vec::new();
    let mut bytes = 0usize;
    loop {
        let batch = store.scan(&from, &end, SCAN_ENTRIES)?;
        let exhausted = batch.len() < SCAN_ENTRIES;
        for (key, value) in batch {
            if !entries.is_empty() && bytes + key.len() + value.len() > chunk_bytes_max {
                let resume_after = entries.last().map(|(k, _): &(Vec<u8>, Vec<u8>)| k.clone());
                return Ok(Chunk {
                    entries,
                    resume_after,
                });
            }
            bytes += key.len() + value.len();
            from = [key.as_slice(), &[0]].concat();
            entries.push((key, value));
        }
        if exhausted {
            // Keys starting with 0xff are never written (tags are far below), so the scan is complete.
            debug_assert!(store.scan(&end, &prefix_end(&end), 1)?.is_empty());
            return Ok(Chunk {
                entries,
                resume_after: None,
            });
        }
    }
}

/// Why a snapshot could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the target state is not empty")]
    NotEmpty,
    #[error("snapshot keys are not strictly increasing at entry {0}")]
    OutOfOrder(usize),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Writes every chunk into `store`, which must be empty, in one atomic batch.
pub fn import<S: KvStore + ?Sized>(
    store: &mut S,
    chunks: impl IntoIterator<Item = Chunk>,
) -> Result<(), ImportError> {
    if !store.scan(&[], &[u8::MAX], 1)?.is_empty() {
        return Err(ImportError::NotEmpty);
    }
    let mut txn = Txn::new(&*store);
    let mut previous: Option<Vec<u8>> = None;
    let mut position = 0;
    for chunk in chunks {
        for (key, value) in chunk.entries {
            if previous.as_ref().is_some_and(|p| p >= &key) {
                return Err(ImportError::OutOfOrder(position));
            }
            previous = Some(key.clone());
            txn.put(key, value);
            position += 1;
        }
    }
    let batch = txn.into_batch();
    store.commit(batch)?;
    Ok(())
}

/// The 128-bit hash of a stream of key/value entries, fed in key order: [`state_hash`] is this
/// hasher over every entry of a store, and a backup feeds it the entries it streams.
#[derive(Clone)]
pub struct StateHasher(Xxh3);

impl std::fmt::Debug for StateHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateHasher").finish_non_exhaustive()
    }
}

impl Default for StateHasher {
    fn default() -> Self {
        StateHasher(Xxh3::new())
    }
}

impl StateHasher {
    /// Adds the next entry (keys must come in increasing order for equal states to hash equal).
    pub fn update(&mut self, key: &[u8], value: &[u8]) {
        self.0.update(&(key.len() as u64).to_le_bytes());
        self.0.update(key);
        self.0.update(&(value.len() as u64).to_le_bytes());
        self.0.update(value);
    }

    /// The hash of every entry added so far.
    pub fn finish(&self) -> u128 {
        self.0.digest128()
    }
}

/// A 128-bit hash of every key and value in order: equal states have equal hashes.
pub fn state_hash<S: Store + ?Sized>(store: &S) -> Result<u128, StoreError> {
    let mut hasher = StateHasher::default();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let chunk = export_chunk(store, after.as_deref(), 1 << 20)?;
        for (key, value) in &chunk.entries {
            hasher.update(key, value);
        }
        match chunk.resume_after {
            Some(key) => after = Some(key),
            None => return Ok(hasher.finish()),
        }
    }
}
