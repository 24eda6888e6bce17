//! One group's Raft state machine: applies proposals with the ticketing state machine on top of the
//! group's RocksDB state, and builds and installs snapshots of it.
//!
//! Each apply batch commits the ticketing writes, the last applied log id and the membership in one
//! RocksDB write batch. Those two Raft records live in the group's state keys under tags the
//! ticketing state machine never uses, so a snapshot (every key of the group, in order) carries
//! them and the state hash covers them.
//!
//! Group 0 applies cluster map changes instead (`crate::meta`): the map is one record in its
//! state, and each change is published on a watch channel for the node's routing and reconciler.

use std::io::{self, Cursor};
use std::sync::{Arc, Mutex};

use boxoffice_statemachine::{
    apply, snapshot, stamp_time, Command, Outcome, Rejection, Store, Txn,
};
use futures_util::{Stream, TryStreamExt};
use openraft::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::entry::RaftEntry;
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder};

use tokio::sync::watch;

use super::{decode, encode, rocks, Proposal, ProposalOutcomes, TypeConfig};
use crate::meta::{ClusterMap, MetaOutcome, MetaRefusal, META_GROUP};
use crate::storage::cache::{StateCache, STATE_CACHE_BYTES_MAX};
use crate::storage::{group_key, GroupId, GroupState, NodeStorage, CF_STATE};

/// Key (within the group's state) of the last applied log id. Ticketing tags are all below 0x80.
pub(crate) const LAST_APPLIED: &[u8] = &[0xf0];
/// Key (within the group's state) of the last applied membership.
pub(crate) const MEMBERSHIP: &[u8] = &[0xf1];
/// Key (within group 0's state) of the cluster map.
pub(crate) const CLUSTER_MAP: &[u8] = &[0xe0];

/// The cluster map as this replica of group 0 has applied it.
#[derive(Debug, Clone, Default)]
pub struct MetaView {
    pub map: Arc<ClusterMap>,
    /// Group 0's applied log index (0 before the first entry).
    pub applied_index: u64,
}

/// Largest snapshot this node builds or installs in one piece, in bytes.
const SNAPSHOT_BYTES_MAX: usize = 1 << 30;

/// The state machine of one group.
#[derive(Debug, Clone)]
pub struct StateMachine {
    state: GroupState,
    /// What the applies read, kept in memory (written through, emptied by a snapshot install).
    cache: StateCache,
    /// The latest snapshot built or installed, shared with the snapshot builders cloned from here.
    current: Arc<Mutex<Option<CurrentSnapshot>>>,
    /// Group 0 only: where the applied cluster map is published.
    meta: Option<watch::Sender<MetaView>>,
}

/// A snapshot's meta and bytes.
type CurrentSnapshot = (SnapshotMetaOf<TypeConfig>, Vec<u8>);

impl StateMachine {
    /// The state machine of data group `group`.
    pub fn new(storage: NodeStorage, group: GroupId) -> StateMachine {
        StateMachine {
            state: storage.group_state(group),
            cache: StateCache::new(STATE_CACHE_BYTES_MAX),
            current: Arc::default(),
            meta: None,
        }
    }

    /// A handle on the applies' read cache (shared, not a copy).
    pub fn cache(&self) -> StateCache {
        self.cache.clone()
    }

    /// The state machine of group 0, and a receiver of the cluster map it applies (starting with
    /// the map on disk).
    pub fn meta(
        storage: NodeStorage,
    ) -> Result<(StateMachine, watch::Receiver<MetaView>), io::Error> {
        let mut machine = StateMachine::new(storage, META_GROUP);
        let (sender, receiver) = watch::channel(MetaView::default());
        machine.meta = Some(sender);
        machine.publish_meta()?;
        Ok((machine, receiver))
    }

    /// Publishes group 0's map and applied index as they are on disk.
    fn publish_meta(&self) -> Result<(), io::Error> {
        let Some(sender) = &self.meta else {
            return Ok(());
        };
        let map: ClusterMap = self.read_key(CLUSTER_MAP)?.unwrap_or_default();
        let (applied, _) = self.read_meta()?;
        sender.send_replace(MetaView {
            map: Arc::new(map),
            applied_index: applied.map_or(0, |log_id| log_id.index),
        });
        Ok(())
    }

    /// The group's ticketing state (for queries).
    pub fn state(&self) -> &GroupState {
        &self.state
    }

    fn remember(&self, meta: &SnapshotMetaOf<TypeConfig>, bytes: Vec<u8>) {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *current = Some((meta.clone(), bytes));
    }

    fn read_meta(
        &self,
    ) -> Result<(Option<LogIdOf<TypeConfig>>, StoredMembershipOf<TypeConfig>), io::Error> {
        read_meta(&self.state)
    }

    fn read_key<T: serde::de::DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, io::Error> {
        read_key(&self.state, key)
    }
}

fn read_key<T: serde::de::DeserializeOwned>(
    state: &impl Store,
    key: &[u8],
) -> Result<Option<T>, io::Error> {
    let bytes = state.get(key).map_err(io::Error::other)?;
    bytes.map(|b| decode(&b)).transpose()
}

/// The last applied log id and membership recorded in `state`.
fn read_meta(
    state: &impl Store,
) -> Result<(Option<LogIdOf<TypeConfig>>, StoredMembershipOf<TypeConfig>), io::Error> {
    let last_applied = read_key(state, LAST_APPLIED)?;
    let membership = read_key(state, MEMBERSHIP)?.unwrap_or_default();
    Ok((last_applied, membership))
}

/// The log index `state` has applied (0 before the first entry).
pub fn applied_index(state: &impl Store) -> Result<u64, io::Error> {
    let log_id: Option<LogIdOf<TypeConfig>> = read_key(state, LAST_APPLIED)?;
    Ok(log_id.map_or(0, |l| l.index))
}

/// A snapshot's bytes: the group's state keys and values, in key order.
type SnapshotEntries = Vec<(Vec<u8>, Vec<u8>)>;

impl StateMachine {
    /// The group's state as snapshot bytes, with the meta they were taken at.
    fn export(&self) -> Result<(SnapshotMetaOf<TypeConfig>, Vec<u8>), io::Error> {
        // One RocksDB snapshot for the meta and every key: the group keeps applying meanwhile.
        let reader = self.state.reader();
        let (last_log_id, last_membership) = read_meta(&reader)?;
        let meta = SnapshotMetaOf::<TypeConfig> {
            last_log_id,
            last_membership,
        };
        let mut entries: SnapshotEntries = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let chunk = snapshot::export_chunk(&reader, after.as_deref(), 1 << 20)
                .map_err(io::Error::other)?;
            entries.extend(chunk.entries);
            match chunk.resume_after {
                Some(key) => after = Some(key),
                None => break,
            }
        }
        drop(reader);
        let bytes = encode(&entries);
        if bytes.len() > SNAPSHOT_BYTES_MAX {
            return Err(io::Error::other(format!(
                "snapshot of {} bytes exceeds the limit",
                bytes.len()
            )));
        }
        Ok((meta, bytes))
    }

    /// Replaces the group's state by a snapshot's `bytes`, in one atomic batch, synced.
    fn replace_state(&mut self, bytes: &[u8]) -> Result<(), io::Error> {
        let entries: SnapshotEntries = decode(bytes)?;
        if entries.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "snapshot keys out of order",
            ));
        }
        // Replace the whole group state in one atomic batch; the cache forgets the old one.
        let storage = self.state.storage();
        let cf = storage.cf(CF_STATE);
        let group = self.state.group();
        let mut batch = rocksdb::WriteBatch::default();
        batch.delete_range_cf(
            cf,
            group_key(group, &[]),
            group_key(group.saturating_add(1), &[]),
        );
        for (key, value) in entries {
            batch.put_cf(cf, group_key(group, &key), value);
        }
        self.cache
            .replace(|| storage.db().write(batch))
            .map_err(rocks)?;
        // Synced before openraft moves on (and may purge the log the snapshot replaced): applied
        // state is otherwise rebuilt from the log after a crash, and here there is no log to do it.
        storage.sync().map_err(io::Error::other)?;
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    type SnapshotData = Cursor<Vec<u8>>;

    async fn build_snapshot(
        &mut self,
    ) -> Result<SnapshotOf<TypeConfig, Self::SnapshotData>, io::Error> {
        let (meta, bytes) = super::whole_state_work(|| self.export())?;
        crate::metrics::metrics()
            .snapshots_total
            .with_label_values(&["built"])
            .inc();
        self.remember(&meta, bytes.clone());
        Ok(SnapshotOf::<TypeConfig, Self::SnapshotData> {
            meta,
            snapshot: Cursor::new(bytes),
        })
    }
}

impl StateMachine {
    /// Applies an entry's ticketing `commands` in order onto `txn`, each seeing the writes of those
    /// before it; group 0 refuses every one (it holds the cluster map, not events).
    fn apply_tickets<S: Store + ?Sized>(
        &self,
        txn: &mut Txn<'_, S>,
        commands: &[Command],
    ) -> Result<ProposalOutcomes, io::Error> {
        if self.meta.is_some() {
            let refusal = Outcome::Rejected(Rejection::InvalidRequest {
                reason: "group 0 holds the cluster map, not events".into(),
            });
            return Ok(ProposalOutcomes::Tickets(vec![refusal; commands.len()]));
        }
        let mut outcomes = Vec::with_capacity(commands.len());
        for command in commands {
            let applied = apply(&*txn, command).map_err(io::Error::other)?;
            txn.absorb(applied.writes);
            outcomes.push(applied.outcome);
        }
        Ok(ProposalOutcomes::Tickets(outcomes))
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = Cursor<Vec<u8>>;
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogIdOf<TypeConfig>>, StoredMembershipOf<TypeConfig>), io::Error> {
        self.read_meta()
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        let started = std::time::Instant::now();
        let mut applied_entries = 0u32;
        let cached = self.cache.over(&self.state);
        let mut txn = Txn::new(&cached);
        let mut responses = Vec::new();
        // Group 0: the map as changed by this batch so far.
        let mut map: Option<ClusterMap> = None;
        let mut last_log_id = None;
        while let Some((entry, responder)) = entries.try_next().await? {
            let log_id = entry.log_id();
            let outcomes = match &entry.payload {
                EntryPayload::Blank => ProposalOutcomes::default(),
                EntryPayload::Normal(Proposal::Tickets(tickets)) => {
                    let commands = tickets
                        .decode()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    self.apply_tickets(&mut txn, &commands)?
                }
                EntryPayload::Normal(Proposal::TicketList(commands)) => {
                    self.apply_tickets(&mut txn, commands)?
                }
                EntryPayload::Normal(Proposal::TimeStamp { at_ms }) => {
                    if self.meta.is_none() {
                        txn.absorb(stamp_time(&txn, *at_ms).map_err(io::Error::other)?);
                    }
                    ProposalOutcomes::default()
                }
                EntryPayload::Normal(Proposal::Cluster(command)) => match &self.meta {
                    Some(sender) => {
                        let working = map.get_or_insert_with(|| (*sender.borrow().map).clone());
                        let outcome = working.apply(command);
                        txn.put(CLUSTER_MAP.to_vec(), encode(&*working));
                        ProposalOutcomes::Cluster(outcome)
                    }
                    None => ProposalOutcomes::Cluster(MetaOutcome::Refused(MetaRefusal::Invalid(
                        "only group 0 changes the cluster map".into(),
                    ))),
                },
                EntryPayload::Membership(membership) => {
                    let stored =
                        StoredMembershipOf::<TypeConfig>::new(Some(log_id), membership.clone());
                    txn.put(MEMBERSHIP.to_vec(), encode(&stored));
                    ProposalOutcomes::default()
                }
            };
            txn.put(LAST_APPLIED.to_vec(), encode(&log_id));
            last_log_id = Some(log_id);
            applied_entries += 1;
            if let Some(responder) = responder {
                responses.push((responder, outcomes));
            }
        }
        let writes = txn.into_batch();
        let mut batch = rocksdb::WriteBatch::default();
        self.state.stage(&writes, &mut batch);
        let db = self.state.storage().db();
        self.cache
            .commit(writes, || db.write(batch))
            .map_err(rocks)?;
        if let (Some(sender), Some(last)) = (&self.meta, last_log_id) {
            let map = match map {
                Some(map) => Arc::new(map),
                None => sender.borrow().map.clone(),
            };
            sender.send_replace(MetaView {
                map,
                applied_index: last.index,
            });
        }
        let metrics = crate::metrics::metrics();
        metrics
            .apply_seconds
            .observe(started.elapsed().as_secs_f64());
        metrics.apply_entries.observe(f64::from(applied_entries));
        for (responder, outcomes) in responses {
            responder.send(outcomes);
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<TypeConfig>,
        snapshot: Self::SnapshotData,
    ) -> Result<(), io::Error> {
        let bytes = snapshot.into_inner();
        super::whole_state_work(|| self.replace_state(&bytes))?;
        crate::metrics::metrics()
            .snapshots_total
            .with_label_values(&["installed"])
            .inc();
        let (applied, _) = self.read_meta()?;
        if applied != meta.last_log_id {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "snapshot data disagrees with its meta",
            ));
        }
        self.remember(meta, bytes);
        self.publish_meta()
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<TypeConfig, Self::SnapshotData>>, io::Error> {
        let current = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        Ok(current.map(
            |(meta, bytes)| SnapshotOf::<TypeConfig, Self::SnapshotData> {
                meta,
                snapshot: Cursor::new(bytes),
            },
        ))
    }
}
