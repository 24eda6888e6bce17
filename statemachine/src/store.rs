//! The storage abstraction under the state machine: ordered key/value reads, atomic write batches,
//! a read-your-writes transaction overlay, and the in-memory store used by tests and benchmarks.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::codec::CodecError;

/// A failure of the storage underneath: the state machine cannot go on, but nothing is half-applied.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage I/O failed: {0}")]
    Io(String),
    #[error("stored record under key {key:02x?} is corrupt: {source}")]
    Corrupt { key: Vec<u8>, source: CodecError },
}

/// Key/value pairs in key order, as scans return them.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Ordered reads of a key/value state.
pub trait Store {
    /// The value stored under `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Shows the value stored under `key` to `visit`, without copying it where the store can;
    /// returns whether there was one.
    fn get_with(&self, key: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<bool, StoreError> {
        Ok(self.get(key)?.map(|value| visit(&value)).is_some())
    }

    /// Up to `limit` entries with `from <= key < to`, in ascending key order.
    fn scan(&self, from: &[u8], to: &[u8], limit: usize) -> Result<Entries, StoreError>;
}

/// A store that can take an atomic batch of writes.
pub trait KvStore: Store {
    /// Applies every write of `batch` atomically: all of them or none.
    fn commit(&mut self, batch: WriteBatch) -> Result<(), StoreError>;
}

/// An ordered set of writes: `Some(value)` puts, `None` deletes. One key appears at most once.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteBatch {
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl WriteBatch {
    /// Number of keys written or deleted.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// True when the batch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// The writes in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
        self.writes
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_deref()))
    }

    /// Adds every write of `later`, which wins over this batch where both touch a key.
    pub fn extend(&mut self, later: WriteBatch) {
        self.writes.extend(later.writes);
    }
}

impl IntoIterator for WriteBatch {
    type Item = (Vec<u8>, Option<Vec<u8>>);
    type IntoIter = std::collections::btree_map::IntoIter<Vec<u8>, Option<Vec<u8>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.writes.into_iter()
    }
}

/// Pending writes over a base store: reads see the writes, nothing reaches the base until the caller
/// commits [`Txn::into_batch`]. Transactions nest: a `Txn` is itself a [`Store`].
#[derive(Debug)]
pub struct Txn<'s, S: Store + ?Sized> {
    base: &'s S,
    batch: WriteBatch,
}

impl<'s, S: Store + ?Sized> Txn<'s, S> {
    /// An empty transaction reading through to `base`.
    pub fn new(base: &'s S) -> Self {
        Txn {
            base,
            batch: WriteBatch::default(),
        }
    }

    /// A transaction that starts with `writes` already made.
    pub fn with_writes(base: &'s S, writes: WriteBatch) -> Self {
        Txn {
            base,
            batch: writes,
        }
    }

    /// Stores `value` under `key`.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.batch.writes.insert(key, Some(value));
    }

    /// Removes `key`.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.batch.writes.insert(key, None);
    }

    /// Adds the writes of a finished nested transaction.
    pub fn absorb(&mut self, child: WriteBatch) {
        self.batch.extend(child);
    }

    /// The writes made so far, to commit or to absorb into a parent.
    pub fn into_batch(self) -> WriteBatch {
        self.batch
    }
}

impl<S: Store + ?Sized> Store for Txn<'_, S> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.batch.writes.get(key) {
            Some(pending) => Ok(pending.clone()),
            None => self.base.get(key),
        }
    }

    fn get_with(&self, key: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<bool, StoreError> {
        match self.batch.writes.get(key) {
            Some(pending) => Ok(pending.as_deref().map(visit).is_some()),
            None => self.base.get_with(key, visit),
        }
    }

    fn scan(&self, from: &[u8], to: &[u8], limit: usize) -> Result<Entries, StoreError> {
        if from >= to || limit == 0 {
            return Ok(Vec::new());
        }
        let range = (Bound::Included(from), Bound::Excluded(to));
        let pending: Vec<(&Vec<u8>, &Option<Vec<u8>>)> =
            self.batch.writes.range::<[u8], _>(range).collect();
        // Every pending entry may hide one base entry, so ask the base for that many more.
        let base = self
            .base
            .scan(from, to, limit.saturating_add(pending.len()))?;

        let mut out = Vec::with_capacity(limit.min(base.len() + pending.len()));
        let mut base = base.into_iter().peekable();
        let mut pending = pending.into_iter().peekable();
        while out.len() < limit {
            let take_pending = match (base.peek(), pending.peek()) {
                (None, None) => break,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some((bk, _)), Some((pk, _))) => {
                    if bk == *pk {
                        base.next(); // shadowed by the pending write
                        true
                    } else {
                        *pk < bk
                    }
                }
            };
            if take_pending {
                if let Some((k, Some(v))) = pending.next() {
                    out.push((k.clone(), v.clone()));
                }
            } else if let Some(entry) = base.next() {
                out.push(entry);
            }
        }
        Ok(out)
    }
}

/// An in-memory ordered store: the reference [`KvStore`] for tests, benchmarks and the demo.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MemStore {
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of keys stored.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Store for MemStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.entries.get(key).cloned())
    }

    fn get_with(&self, key: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<bool, StoreError> {
        Ok(self.entries.get(key).map(|value| visit(value)).is_some())
    }

    fn scan(&self, from: &[u8], to: &[u8], limit: usize) -> Result<Entries, StoreError> {
        if from >= to {
            return Ok(Vec::new());
        }
        Ok(self
            .entries
            .range::<[u8], _>((Bound::Included(from), Bound::Excluded(to)))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

impl KvStore for MemStore {
    fn commit(&mut self, batch: WriteBatch) -> Result<(), StoreError> {
        for (key, value) in batch {
            match value {
                Some(value) => self.entries.insert(key, value),
                None => self.entries.remove(&key),
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(keys: &[&str]) -> MemStore {
        let mut s = MemStore::new();
        let mut txn = Txn::new(&s);
        for k in keys {
            txn.put(k.as_bytes().to_vec(), k.to_uppercase().into_bytes());
        }
        let batch = txn.into_batch();
        s.commit(batch).unwrap();
        s
    }

    fn keys(entries: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<String> {
        entries
            .into_iter()
            .map(|(k, _)| String::from_utf8(k).unwrap())
            .collect()
    }

    #[test]
    fn txn_reads_its_own_writes_and_deletes() {
        let base = store(&["a", "b"]);
        let mut txn = Txn::new(&base);
        txn.put(b"c".to_vec(), b"C".to_vec());
        txn.delete(b"a".to_vec());
        assert_eq!(txn.get(b"a").unwrap(), None);
        assert_eq!(txn.get(b"b").unwrap(), Some(b"B".to_vec()));
        assert_eq!(txn.get(b"c").unwrap(), Some(b"C".to_vec()));
        assert_eq!(
            base.get(b"a").unwrap(),
            Some(b"A".to_vec()),
            "base untouched before commit"
        );
    }

    #[test]
    fn txn_scan_merges_pending_writes_in_order_and_honours_the_limit() {
        let base = store(&["a", "c", "e", "g"]);
        let mut txn = Txn::new(&base);
        txn.delete(b"a".to_vec());
        txn.delete(b"c".to_vec());
        txn.put(b"d".to_vec(), b"D".to_vec());
        txn.put(b"e".to_vec(), b"E2".to_vec());
        assert_eq!(keys(txn.scan(b"a", b"z", 10).unwrap()), ["d", "e", "g"]);
        assert_eq!(keys(txn.scan(b"a", b"z", 2).unwrap()), ["d", "e"]);
        assert_eq!(keys(txn.scan(b"a", b"f", 10).unwrap()), ["d", "e"]);
        assert_eq!(
            txn.scan(b"e", b"f", 1).unwrap(),
            vec![(b"e".to_vec(), b"E2".to_vec())]
        );
        assert!(txn.scan(b"z", b"a", 10).unwrap().is_empty());
    }

    #[test]
    fn nested_txn_absorbed_into_parent_then_committed() {
        let mut base = store(&["a"]);
        let mut parent = Txn::new(&base);
        parent.put(b"b".to_vec(), b"B".to_vec());
        let child_batch = {
            let mut child = Txn::new(&parent);
            assert_eq!(child.get(b"b").unwrap(), Some(b"B".to_vec()));
            child.delete(b"a".to_vec());
            child.into_batch()
        };
        parent.absorb(child_batch);
        let batch = parent.into_batch();
        base.commit(batch).unwrap();
        assert_eq!(keys(base.scan(b"", b"\xff", 10).unwrap()), ["b"]);
    }
}

#[cfg(test)]
mod properties {
    //! A transaction over a store reads exactly like the store with the transaction's writes applied.

    use super::*;
    use proptest::prelude::*;

    fn key() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(0u8..4, 0..4)
    }

    #[derive(Debug, Clone)]
    enum Write {
        Put(Vec<u8>, u8),
        Delete(Vec<u8>),
    }

    fn write() -> impl Strategy<Value = Write> {
        prop_oneof![
            (key(), any::<u8>()).prop_map(|(k, v)| Write::Put(k, v)),
            key().prop_map(Write::Delete)
        ]
    }

    proptest! {
        #[test]
        fn txn_reads_and_scans_like_the_committed_result(
            base in proptest::collection::vec((key(), any::<u8>()), 0..20),
            writes in proptest::collection::vec(write(), 0..20),
            from in key(),
            to in key(),
            limit in 0usize..30,
        ) {
            let mut store = MemStore::new();
            let mut setup = WriteBatch::default();
            for (k, v) in &base {
                setup.writes.insert(k.clone(), Some(vec![*v]));
            }
            store.commit(setup).unwrap();

            let mut txn = Txn::new(&store);
            for w in &writes {
                match w {
                    Write::Put(k, v) => txn.put(k.clone(), vec![*v]),
                    Write::Delete(k) => txn.delete(k.clone()),
                }
            }
            let mut expected = store.clone();
            let mut committed = Txn::new(&store);
            committed.absorb(txn.batch.clone());
            expected.commit(committed.into_batch()).unwrap();

            prop_assert_eq!(txn.scan(&from, &to, limit).unwrap(), expected.scan(&from, &to, limit).unwrap());
            for (k, _) in &base {
                prop_assert_eq!(txn.get(k).unwrap(), expected.get(k).unwrap());
            }
            for w in &writes {
                let k = match w { Write::Put(k, _) | Write::Delete(k) => k };
                prop_assert_eq!(txn.get(k).unwrap(), expected.get(k).unwrap());
            }
        }
    }
}
