//! One group's Raft log and vote in the node's RocksDB: entries under `group ++ index` in the
//! `raft_log` column family, the vote, the committed and the last purged log id in `raft_meta`.
//!
//! Durability: an append returns once the entries are readable and reports them flushed only once
//! the write-ahead log is synced; the vote, truncation and purge are synced before they return.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};

use openraft::alias::{EntryOf, LogIdOf, VoteOf};
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::type_config::TypeConfigExt;
use openraft::{OptionalSend, RaftLogReader};
use rocksdb::{Direction, IteratorMode, ReadOptions};

use super::{decode, encode, rocks, TypeConfig};
use crate::storage::{group_key, GroupId, NodeStorage, CF_RAFT_LOG, CF_RAFT_META};

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const LAST_PURGED: &[u8] = b"last_purged";

/// The Raft log of one group.
#[derive(Debug, Clone)]
pub struct LogStore {
    storage: NodeStorage,
    group: GroupId,
}

impl LogStore {
    pub fn new(storage: NodeStorage, group: GroupId) -> LogStore {
        LogStore { storage, group }
    }

    fn entry_key(&self, index: u64) -> Vec<u8> {
        group_key(self.group, &index.to_be_bytes())
    }

    fn get_meta<T: serde::de::DeserializeOwned>(
        &self,
        name: &[u8],
    ) -> Result<Option<T>, io::Error> {
        let cf = self.storage.cf(CF_RAFT_META);
        let bytes = self
            .storage
            .db()
            .get_pinned_cf(cf, group_key(self.group, name))
            .map_err(rocks)?;
        bytes.map(|b| decode(&b)).transpose()
    }

    fn put_meta<T: serde::Serialize>(&self, name: &[u8], value: &T) -> Result<(), io::Error> {
        let cf = self.storage.cf(CF_RAFT_META);
        self.storage
            .db()
            .put_cf(cf, group_key(self.group, name), encode(value))
            .map_err(rocks)
    }

    /// Syncs the write-ahead log on a blocking thread.
    async fn sync(&self) -> Result<(), io::Error> {
        let storage = self.storage.clone();
        TypeConfig::spawn_blocking(move || storage.sync().map_err(io::Error::other)).await?
    }

    /// Deletes the entries with `from <= index < to`; `to = None` means to the end of the log.
    fn delete_entries(&self, from: u64, to: Option<u64>) -> Result<(), io::Error> {
        let cf = self.storage.cf(CF_RAFT_LOG);
        let end = match to {
            Some(to) => self.entry_key(to),
            None => group_key(self.group.saturating_add(1), &[]),
        };
        self.storage
            .db()
            .delete_range_cf(cf, self.entry_key(from), end)
            .map_err(rocks)
    }

    fn last_entry(&self) -> Result<Option<EntryOf<TypeConfig>>, io::Error> {
        let cf = self.storage.cf(CF_RAFT_LOG);
        let mut options = ReadOptions::default();
        options.set_iterate_lower_bound(group_key(self.group, &[]));
        let end = self.entry_key(u64::MAX);
        let mut iter = self.storage.db().iterator_cf_opt(
            cf,
            options,
            IteratorMode::From(&end, Direction::Reverse),
        );
        match iter.next() {
            None => Ok(None),
            Some(item) => {
                let (key, value) = item.map_err(rocks)?;
                if key.len() != 16 || key[..8] != self.group.to_be_bytes() {
                    return Ok(None);
                }
                decode(&value).map(Some)
            }
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<EntryOf<TypeConfig>>, io::Error> {
        let start = match range.start_bound() {
            Bound::Included(&x) => x,
            Bound::Excluded(&x) => x.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let cf = self.storage.cf(CF_RAFT_LOG);
        let mut options = ReadOptions::default();
        options.set_iterate_upper_bound(group_key(self.group.saturating_add(1), &[]));
        let from = self.entry_key(start);
        let iter = self.storage.db().iterator_cf_opt(
            cf,
            options,
            IteratorMode::From(&from, Direction::Forward),
        );
        let mut entries = Vec::new();
        for item in iter {
            let (key, value) = item.map_err(rocks)?;
            let index = u64::from_be_bytes(key[8..16].try_into().map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidData, "log key is not group ++ index")
            })?);
            if !range.contains(&index) {
                break;
            }
            let entry: EntryOf<TypeConfig> = decode(&value)?;
            if entry.index() != index {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("entry under index {index} says {}", entry.index()),
                ));
            }
            entries.push(entry);
        }
        Ok(entries)
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<TypeConfig>>, io::Error> {
        self.get_meta(VOTE)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let last_purged_log_id: Option<LogIdOf<TypeConfig>> = self.get_meta(LAST_PURGED)?;
        let last_log_id = match self.last_entry()? {
            Some(entry) => Some(entry.log_id()),
            None => last_purged_log_id,
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<TypeConfig>) -> Result<(), io::Error> {
        self.put_meta(VOTE, vote)?;
        self.sync().await
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogIdOf<TypeConfig>>,
    ) -> Result<(), io::Error> {
        // Not synced: losing it only means re-applying from the last applied index after a crash.
        self.put_meta(COMMITTED, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<TypeConfig>>, io::Error> {
        Ok(self
            .get_meta::<Option<LogIdOf<TypeConfig>>>(COMMITTED)?
            .flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = EntryOf<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let cf = self.storage.cf(CF_RAFT_LOG);
        let mut batch = rocksdb::WriteBatch::default();
        for entry in entries {
            batch.put_cf(cf, self.entry_key(entry.index()), encode(&entry));
        }
        self.storage.db().write(batch).map_err(rocks)?;
        // Readable now; durable once the shared flusher has synced the WAL, which the callback reports.
        self.storage
            .flusher()
            .after_sync(Box::new(move |result| callback.io_completed(result)));
        Ok(())
    }

    async fn truncate_after(
        &mut self,
        last_log_id: Option<LogIdOf<TypeConfig>>,
    ) -> Result<(), io::Error> {
        let from = last_log_id.map_or(0, |id| id.index() + 1);
        self.delete_entries(from, None)?;
        self.sync().await
    }

    async fn purge(&mut self, log_id: LogIdOf<TypeConfig>) -> Result<(), io::Error> {
        // Record the purge point first: entries at or before it are ignored even if still present.
        self.put_meta(LAST_PURGED, &log_id)?;
        self.delete_entries(0, Some(log_id.index() + 1))?;
        self.sync().await
    }
}
