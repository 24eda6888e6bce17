//! Backup and restore of groups: a group's export for a backup (its whole state read at one applied
//! index, streamed in bounded chunks with its data hash), the data hash itself, and the offline
//! restore (`boxofficed restore`) that writes a backup into a new node's data directory, so that
//! each group the node holds starts from the backup's state at the backup's applied index.
//!
//! **Data hash.** A group's state hash (`snapshot::state_hash`) covers every key, the Raft records
//! (last applied log id, membership) included; a restored cluster has new Raft memberships and may
//! have new node addresses. The data hash is the same hash without the Raft records and, for
//! group 0, over the cluster map with every node address left out: what a restore reproduces.
//!
//! **Restore.** Each group's state is written as it was backed up, except its membership (the new
//! cluster's voters and addresses) and, in group 0, the nodes' addresses; its Raft log is empty and
//! purged up to the backup's applied log id, and its vote is in the backup's last term, so the first
//! election starts a later term. openraft then starts each group as it would after installing a
//! snapshot at that log id. The restore writes into `<data_dir>/db.restoring`, reads every group
//! back to compare its data hash with the backup's, and only then renames it to `<data_dir>/db`.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use boxoffice_client::backup::{BackupError, GroupBackup, GroupFileReader, Manifest};
use boxoffice_client::proto;
use boxoffice_statemachine::snapshot::{self, StateHasher};
use boxoffice_statemachine::Store;
use futures_util::Stream;
use openraft::alias::{LogIdOf, StoredMembershipOf, VoteOf};
use openraft::storage::RaftLogStorage;
use openraft::{BasicNode, Membership};
use tonic::Status;

use crate::api::ApiError;
use crate::config::NodeConfig;
use crate::meta::{ClusterMap, NodeAddress, META_GROUP};
use crate::placement::META_VOTERS_MAX;
use crate::raft::log_store::LogStore;
use crate::raft::state_machine::{CLUSTER_MAP, LAST_APPLIED, MEMBERSHIP};
use crate::raft::{decode, encode, TypeConfig};
use crate::storage::{group_key, GroupId, GroupState, NodeStorage, StorageError, CF_STATE};

/// Keys and values in one export chunk (and one restore write batch), in bytes (a single larger
/// entry goes alone).
pub const BACKUP_CHUNK_BYTES_MAX: usize = 1024 * 1024;
/// Export chunks read ahead of the caller: the bound on what an export holds in memory.
pub const BACKUP_CHUNKS_IN_FLIGHT_MAX: usize = 4;

/// A group's export, as the API serves it.
pub type ExportStream =
    Pin<Box<dyn Stream<Item = Result<proto::GroupExportChunk, Status>> + Send + 'static>>;

/// Whether `key` is one of the Raft records a group's state holds.
fn is_raft_record(key: &[u8]) -> bool {
    key == LAST_APPLIED || key == MEMBERSHIP
}

/// `map` without its nodes' addresses: what group 0's data hash covers.
fn without_addresses(map: &ClusterMap) -> ClusterMap {
    let mut map = map.clone();
    for address in map.nodes.values_mut() {
        *address = NodeAddress {
            grpc: String::new(),
            http: String::new(),
        };
    }
    map
}

/// The data hash of one group, fed its state entries in key order.
#[derive(Debug, Clone)]
pub struct DataHasher {
    group: GroupId,
    hasher: StateHasher,
}

impl DataHasher {
    pub fn new(group: GroupId) -> DataHasher {
        DataHasher {
            group,
            hasher: StateHasher::default(),
        }
    }

    /// Adds the next entry; a cluster map that does not decode is an error (disk or network input).
    pub fn add(&mut self, key: &[u8], value: &[u8]) -> Result<(), io::Error> {
        if is_raft_record(key) {
            return Ok(());
        }
        if self.group == META_GROUP && key == CLUSTER_MAP {
            let map: ClusterMap = decode(value)?;
            self.hasher.update(key, &encode(&without_addresses(&map)));
        } else {
            self.hasher.update(key, value);
        }
        Ok(())
    }

    pub fn finish(&self) -> u128 {
        self.hasher.finish()
    }
}

/// The data hash of `group`'s state in `store`.
pub fn data_hash(store: &impl Store, group: GroupId) -> Result<u128, io::Error> {
    let mut hasher = DataHasher::new(group);
    let mut after: Option<Vec<u8>> = None;
    loop {
        let chunk = snapshot::export_chunk(store, after.as_deref(), BACKUP_CHUNK_BYTES_MAX)
            .map_err(io::Error::other)?;
        for (key, value) in &chunk.entries {
            hasher.add(key, value)?;
        }
        match chunk.resume_after {
            Some(key) => after = Some(key),
            None => return Ok(hasher.finish()),
        }
    }
}

/// Streams `state` (group `group`) as it is now: one RocksDB snapshot read on a blocking thread, at
/// most [`BACKUP_CHUNKS_IN_FLIGHT_MAX`] chunks ahead of the caller. The caller has made sure this
/// replica has applied every write acknowledged before the request (a read-index round on the
/// leader). `meta_index` goes into the error an export failure ends the stream with.
pub fn export(state: GroupState, group: GroupId, meta_index: u64) -> ExportStream {
    let (sender, receiver) = tokio::sync::mpsc::channel(BACKUP_CHUNKS_IN_FLIGHT_MAX);
    tokio::task::spawn_blocking(move || {
        let stream = |chunk: proto::GroupExportChunk| sender.blocking_send(Ok(chunk)).is_ok();
        if let Err(error) = export_chunks(&state, group, stream) {
            tracing::warn!(group, %error, "the export of a group failed");
            let status = ApiError::Internal(format!("export of group {group}: {error}"));
            let _ = sender.blocking_send(Err(status.into_status(meta_index)));
        }
    });
    Box::pin(futures_util::stream::unfold(
        receiver,
        |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
    ))
}

/// Reads `state` in chunks and hands each to `send` until it returns false (the caller left) or
/// the last chunk, which carries the totals and data hash, went.
fn export_chunks(
    state: &GroupState,
    group: GroupId,
    mut send: impl FnMut(proto::GroupExportChunk) -> bool,
) -> Result<(), io::Error> {
    let started = std::time::Instant::now();
    let reader = state.reader();
    let applied_index = crate::raft::state_machine::applied_index(&reader)?;
    let mut hasher = DataHasher::new(group);
    let (mut entries_total, mut bytes_total) = (0u64, 0u64);
    let mut after: Option<Vec<u8>> = None;
    loop {
        let chunk = snapshot::export_chunk(&reader, after.as_deref(), BACKUP_CHUNK_BYTES_MAX)
            .map_err(io::Error::other)?;
        let mut entries = Vec::with_capacity(chunk.entries.len());
        for (key, value) in chunk.entries {
            hasher.add(&key, &value)?;
            entries_total += 1;
            bytes_total += (key.len() + value.len()) as u64;
            entries.push(proto::StateEntry { key, value });
        }
        let last = chunk.resume_after.is_none();
        let message = proto::GroupExportChunk {
            group,
            applied_index,
            entries,
            last,
            data_hash: if last {
                format!("{:032x}", hasher.finish())
            } else {
                String::new()
            },
            entries_total: if last { entries_total } else { 0 },
            bytes_total: if last { bytes_total } else { 0 },
        };
        if !send(message) {
            tracing::info!(group, "the export's caller left before its end");
            return Ok(());
        }
        if last {
            tracing::info!(
                group,
                applied_index,
                entries = entries_total,
                bytes = bytes_total,
                took_ms = started.elapsed().as_millis() as u64,
                "group exported for a backup"
            );
            return Ok(());
        }
        after = chunk.resume_after;
    }
}

/// `boxofficed`'s subcommands (without one it runs the node).
#[derive(Debug, Clone, clap::Subcommand)]
pub enum NodeCommand {
    /// Writes a backup (`boxctl backup`) into this node's data directory, which must not hold a
    /// database yet, then exits: started afterwards, the node holds the backup's state. Run it on
    /// every node of the new cluster with the same --node list.
    Restore(RestoreArgs),
}

/// The arguments of `boxofficed restore`.
#[derive(Debug, Clone, clap::Args)]
pub struct RestoreArgs {
    /// The backup directory (with its manifest.json).
    #[arg(long)]
    pub backup: PathBuf,
    /// A node of the new cluster: ID=GRPC_ADDR,HTTP_ADDR, once for each node of the backup's cluster
    /// (the same ids; the addresses may change).
    #[arg(long = "node", required = true, value_parser = parse_node)]
    pub nodes: Vec<(u64, NodeAddress)>,
}

fn parse_node(text: &str) -> Result<(u64, NodeAddress), String> {
    let node = boxoffice_client::parse_node_spec(text)?;
    Ok((
        node.node_id,
        NodeAddress {
            grpc: node.grpc_address,
            http: node.http_address,
        },
    ))
}

/// Why a restore did not happen; nothing is left in the node's `db` directory then.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("refused: {0}")]
    Refused(String),
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("group {group}: {source}")]
    Group { group: GroupId, source: io::Error },
    #[error("group {group}: {what} is {found}, the backup's manifest says {expected}")]
    Mismatch {
        group: GroupId,
        what: &'static str,
        found: String,
        expected: String,
    },
}

/// What a restore wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// Each group restored on this node: group, applied index, entries.
    pub groups: Vec<(GroupId, u64, u64)>,
    /// Groups of the cluster map this node holds a replica of that the backup has no file for
    /// (created after the backup was taken): they start empty.
    pub missing: Vec<GroupId>,
    pub db: PathBuf,
}

/// Restores the backup in `args.backup` into `config.data_dir` for node `config.node_id`.
pub async fn restore(
    config: &NodeConfig,
    args: &RestoreArgs,
) -> Result<RestoreReport, RestoreError> {
    let node_id = config.node_id;
    let db = config.data_dir.join("db");
    if db.exists() {
        return Err(RestoreError::Refused(format!(
            "{} already holds a database: a restore only writes a new node (stop the node and \
             move its data directory away, or choose another one)",
            db.display()
        )));
    }
    let manifest = Manifest::read(&args.backup)?;
    let nodes: BTreeMap<u64, NodeAddress> = args.nodes.iter().cloned().collect();
    if nodes.len() != args.nodes.len() {
        return Err(RestoreError::Refused(
            "a node is listed twice in --node".into(),
        ));
    }
    if !nodes.contains_key(&node_id) {
        return Err(RestoreError::Refused(format!(
            "this node ({node_id}) is not in the --node list"
        )));
    }
    let work = config.data_dir.join("db.restoring");
    if work.exists() {
        tracing::info!(path = %work.display(), "removing the work of an interrupted restore");
        std::fs::remove_dir_all(&work).map_err(io_at(&work))?;
    }
    std::fs::create_dir_all(&config.data_dir).map_err(io_at(&config.data_dir))?;
    let storage = NodeStorage::open(&work)?;
    let meta = manifest.group(META_GROUP).ok_or_else(|| {
        RestoreError::Refused("the backup has no group 0 (the cluster map)".into())
    })?;
    let mut restorer = Restorer {
        storage: &storage,
        dir: &args.backup,
        node_id,
        nodes: &nodes,
        map: None,
    };
    let mut report = RestoreReport {
        groups: Vec::new(),
        missing: Vec::new(),
        db: db.clone(),
    };
    report.groups.push(restorer.group(meta, None).await?);
    let map = restorer
        .map
        .clone()
        .ok_or_else(|| RestoreError::Refused("group 0's backup holds no cluster map".into()))?;
    for (group, placement) in map.groups_of(node_id) {
        if !placement.replicas.contains(&node_id) {
            // The target of a replica move under way: it catches up from the group's leader once
            // the leader carries the move out, as on the backed-up cluster.
            tracing::info!(
                group,
                "a replica move to this node is under way: not restored here"
            );
            continue;
        }
        match manifest.group(group) {
            Some(part) => {
                let voters = placement.replicas.iter().copied().collect();
                report
                    .groups
                    .push(restorer.group(part, Some(voters)).await?);
            }
            None => {
                tracing::warn!(group, "the backup holds no file for this group (created after it was taken): it starts empty");
                report.missing.push(group);
            }
        }
    }
    storage.sync()?;
    drop(storage);
    std::fs::rename(&work, &db).map_err(io_at(&db))?;
    std::fs::File::open(&config.data_dir)
        .and_then(|d| d.sync_all())
        .map_err(io_at(&config.data_dir))?;
    Ok(report)
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> RestoreError + '_ {
    move |source| RestoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes groups into one node's new database.
struct Restorer<'a> {
    storage: &'a NodeStorage,
    dir: &'a Path,
    node_id: u64,
    /// The new cluster's nodes.
    nodes: &'a BTreeMap<u64, NodeAddress>,
    /// The cluster map as restored (set by group 0's restore).
    map: Option<ClusterMap>,
}

impl Restorer<'_> {
    /// The backup's map with the new cluster's addresses; the node ids must be the same.
    fn readdressed(&self, map: &ClusterMap) -> Result<ClusterMap, RestoreError> {
        let old: Vec<u64> = map.nodes.keys().copied().collect();
        let new: Vec<u64> = self.nodes.keys().copied().collect();
        if old != new {
            return Err(RestoreError::Refused(format!(
                "the backup's cluster has nodes {old:?}; --node lists {new:?}: a restore keeps the \
                 node ids (addresses may change; add or remove nodes after the restore)"
            )));
        }
        let mut map = map.clone();
        map.nodes = self.nodes.clone();
        map.assert_consistent();
        Ok(map)
    }

    /// Group 0's Raft voters in the restored map: the first [`META_VOTERS_MAX`] nodes not being
    /// removed, as group 0's leader keeps them (every other node follows as a learner).
    fn meta_voters(map: &ClusterMap) -> BTreeSet<u64> {
        map.nodes
            .keys()
            .copied()
            .filter(|node| !map.removing.contains(node))
            .take(META_VOTERS_MAX)
            .collect()
    }

    /// Restores one group with `voters` as its Raft voters (group 0: `None`, they follow from its
    /// map, and every other node of the map is a learner); returns (group, applied index,
    /// entries).
    async fn group(
        &mut self,
        part: &GroupBackup,
        voters: Option<BTreeSet<u64>>,
    ) -> Result<(GroupId, u64, u64), RestoreError> {
        let group = part.group;
        let group_error = |source: io::Error| RestoreError::Group { group, source };
        if part.file != format!("group-{group}.bin") {
            return Err(RestoreError::Refused(format!(
                "group {group}'s file is named {:?} in the manifest, not group-{group}.bin",
                part.file
            )));
        }
        let mut reader = GroupFileReader::open(&self.dir.join(&part.file))?;
        if reader.group != group || reader.applied_index != part.applied_index {
            return Err(RestoreError::Mismatch {
                group,
                what: "the file's group and applied index",
                found: format!("{} at {}", reader.group, reader.applied_index),
                expected: format!("{group} at {}", part.applied_index),
            });
        }
        let db = self.storage.db();
        let cf = self.storage.cf(CF_STATE);
        let mut hasher = DataHasher::new(group);
        let mut batch = rocksdb::WriteBatch::default();
        let mut batch_bytes = 0usize;
        let mut entries = 0u64;
        let mut applied: Option<LogIdOf<TypeConfig>> = None;
        while let Some((key, value)) = reader.next_entry()? {
            hasher.add(&key, &value).map_err(group_error)?;
            entries += 1;
            let value = if key == LAST_APPLIED {
                applied = Some(decode(&value).map_err(group_error)?);
                value
            } else if key == MEMBERSHIP {
                // The new cluster's membership is written below.
                continue;
            } else if group == META_GROUP && key == CLUSTER_MAP {
                let map = self.readdressed(&decode(&value).map_err(group_error)?)?;
                let value = encode(&map);
                self.map = Some(map);
                value
            } else {
                value
            };
            batch_bytes += key.len() + value.len();
            batch.put_cf(cf, group_key(group, &key), value);
            if batch_bytes >= BACKUP_CHUNK_BYTES_MAX {
                db.write(std::mem::take(&mut batch))
                    .map_err(StorageError::from)?;
                batch_bytes = 0;
            }
        }
        let found = format!("{:032x}", hasher.finish());
        if found != part.data_hash || entries != part.entries {
            return Err(RestoreError::Mismatch {
                group,
                what: "the file's data hash (entries)",
                found: format!("{found} ({entries})"),
                expected: format!("{} ({})", part.data_hash, part.entries),
            });
        }
        let applied = applied
            .filter(|log_id| log_id.index == part.applied_index)
            .ok_or_else(|| RestoreError::Mismatch {
                group,
                what: "the applied log id in the file",
                found: format!("{applied:?}"),
                expected: format!("index {}", part.applied_index),
            })?;
        let (voters, members) = match (voters, &self.map) {
            (Some(voters), _) => (voters.clone(), voters),
            (None, Some(map)) => (Self::meta_voters(map), map.nodes.keys().copied().collect()),
            (None, None) => {
                return Err(RestoreError::Refused(
                    "group 0's backup holds no cluster map".into(),
                ))
            }
        };
        let members: BTreeMap<u64, BasicNode> = members
            .iter()
            .filter_map(|id| {
                self.nodes.get(id).map(|a| {
                    (
                        *id,
                        BasicNode {
                            addr: a.grpc.clone(),
                        },
                    )
                })
            })
            .collect();
        let membership = Membership::new(vec![voters], members)
            .map_err(|e| RestoreError::Refused(format!("group {group}'s new membership: {e}")))?;
        let membership = StoredMembershipOf::<TypeConfig>::new(Some(applied), membership);
        batch.put_cf(cf, group_key(group, MEMBERSHIP), encode(&membership));
        db.write(batch).map_err(StorageError::from)?;
        // An empty log purged up to the restored state, and a vote in its last term: the first
        // election after the start is for a later term than any entry the state has applied.
        let mut log = LogStore::new(self.storage.clone(), group);
        log.purge(applied).await.map_err(group_error)?;
        log.save_vote(&VoteOf::<TypeConfig>::new(
            applied.leader_id.term,
            self.node_id,
        ))
        .await
        .map_err(group_error)?;
        let state = self.storage.group_state(group);
        let restored = data_hash(&state.reader(), group).map_err(group_error)?;
        let restored = format!("{restored:032x}");
        if restored != part.data_hash {
            return Err(RestoreError::Mismatch {
                group,
                what: "the restored state's data hash",
                found: restored,
                expected: part.data_hash.clone(),
            });
        }
        tracing::info!(
            group,
            applied_index = applied.index,
            entries,
            data_hash = %restored,
            "group restored"
        );
        Ok((group, applied.index, entries))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::meta::MetaCommand;
    use boxoffice_client::backup::{GroupFileWriter, BACKUP_FORMAT_VERSION, MANIFEST_FILE};

    fn nodes(port_base: u16) -> BTreeMap<u64, NodeAddress> {
        (1..=3u16)
            .map(|id| {
                let address = NodeAddress {
                    grpc: format!("127.0.0.1:{}", port_base + id),
                    http: format!("127.0.0.1:{}", port_base + 100 + id),
                };
                (u64::from(id), address)
            })
            .collect()
    }

    fn map(port_base: u16) -> ClusterMap {
        let mut map = ClusterMap::default();
        map.apply(&MetaCommand::Bootstrap {
            nodes: nodes(port_base),
            data_groups: 2,
        });
        map
    }

    fn log_id(term: u64, index: u64) -> LogIdOf<TypeConfig> {
        LogIdOf::<TypeConfig>::new(
            openraft::vote::leader_id_adv::LeaderId { term, node_id: 1 },
            index,
        )
    }

    /// Group 0's state: the map, its last applied log id and a membership.
    fn meta_entries(map: &ClusterMap, applied: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
        vec![
            (CLUSTER_MAP.to_vec(), encode(map)),
            (LAST_APPLIED.to_vec(), encode(&log_id(2, applied))),
            (
                MEMBERSHIP.to_vec(),
                encode(&StoredMembershipOf::<TypeConfig>::default()),
            ),
        ]
    }

    fn hash_of(group: GroupId, entries: &[(Vec<u8>, Vec<u8>)]) -> u128 {
        let mut hasher = DataHasher::new(group);
        for (key, value) in entries {
            hasher.add(key, value).unwrap();
        }
        hasher.finish()
    }

    #[test]
    fn the_data_hash_leaves_out_raft_records_and_node_addresses_only() {
        let base = meta_entries(&map(7000), 3);
        assert_eq!(hash_of(0, &base), hash_of(0, &meta_entries(&map(9000), 40)));
        let mut other = map(7000);
        other.draining.insert(2);
        assert_ne!(hash_of(0, &base), hash_of(0, &meta_entries(&other, 3)));
        // In a data group, every ticketing key counts; the Raft records do not.
        let data = vec![(vec![0x10, 1], vec![7]), (LAST_APPLIED.to_vec(), vec![1])];
        let later = vec![(vec![0x10, 1], vec![7]), (LAST_APPLIED.to_vec(), vec![2])];
        let changed = vec![(vec![0x10, 1], vec![8]), (LAST_APPLIED.to_vec(), vec![1])];
        assert_eq!(hash_of(1, &data), hash_of(1, &later));
        assert_ne!(hash_of(1, &data), hash_of(1, &changed));
    }

    /// A backup of group 0 alone (as if no data group existed yet) in a new directory.
    fn backup_of_the_map(dir: &Path, map: &ClusterMap) -> Manifest {
        let entries = meta_entries(map, 3);
        let mut writer = GroupFileWriter::create(&dir.join("group-0.bin"), 0, 3).unwrap();
        for (key, value) in &entries {
            writer.entry(key, value).unwrap();
        }
        writer.finish().unwrap();
        let manifest = Manifest {
            format: BACKUP_FORMAT_VERSION,
            taken_at_ms: 1,
            took_ms: 1,
            nodes: Vec::new(),
            groups: vec![GroupBackup {
                group: 0,
                file: "group-0.bin".into(),
                applied_index: 3,
                data_hash: format!("{:032x}", hash_of(0, &entries)),
                entries: entries.len() as u64,
                bytes: entries
                    .iter()
                    .map(|(k, v)| (k.len() + v.len()) as u64)
                    .sum(),
                exported_by: 1,
                took_ms: 1,
            }],
        };
        std::fs::write(
            dir.join(MANIFEST_FILE),
            serde_json::to_string(&manifest).unwrap(),
        )
        .unwrap();
        manifest
    }

    fn restore_args(backup: &Path, ids: &[u64]) -> RestoreArgs {
        let nodes = nodes(9000);
        RestoreArgs {
            backup: backup.to_path_buf(),
            nodes: ids.iter().map(|id| (*id, nodes[id].clone())).collect(),
        }
    }

    fn config(data_dir: &Path) -> NodeConfig {
        NodeConfig {
            node_id: 1,
            data_dir: data_dir.to_path_buf(),
            ..NodeConfig::default()
        }
    }

    #[tokio::test]
    async fn a_restore_keeps_node_ids_and_new_addresses_and_writes_nothing_when_refused() {
        let backup = tempfile::tempdir().unwrap();
        backup_of_the_map(backup.path(), &map(7000));
        let node = tempfile::tempdir().unwrap();
        let config = config(node.path());

        let refused = restore(&config, &restore_args(backup.path(), &[1, 2])).await;
        let message = refused.unwrap_err().to_string();
        assert!(message.contains("keeps the node ids"), "{message}");
        assert!(!node.path().join("db").exists());

        let report = restore(&config, &restore_args(backup.path(), &[1, 2, 3]))
            .await
            .unwrap();
        assert_eq!(report.groups, vec![(0, 3, 3)]);
        // The map names data groups 1 and 2 on node 1; the backup has no file for them.
        assert_eq!(report.missing, vec![1, 2]);
        let storage = NodeStorage::open(&node.path().join("db")).unwrap();
        let state = storage.group_state(META_GROUP);
        let restored: ClusterMap = decode(&state.get(CLUSTER_MAP).unwrap().unwrap()).unwrap();
        assert_eq!(restored.nodes, nodes(9000));
        drop(storage);

        let again = restore(&config, &restore_args(backup.path(), &[1, 2, 3])).await;
        let message = again.unwrap_err().to_string();
        assert!(message.contains("already holds a database"), "{message}");
    }

    #[tokio::test]
    async fn a_backup_whose_data_does_not_match_its_manifest_is_refused() {
        let backup = tempfile::tempdir().unwrap();
        let mut manifest = backup_of_the_map(backup.path(), &map(7000));
        manifest.groups[0].data_hash = format!("{:032x}", 42);
        std::fs::write(
            backup.path().join(MANIFEST_FILE),
            serde_json::to_string(&manifest).unwrap(),
        )
        .unwrap();
        let node = tempfile::tempdir().unwrap();
        let refused = restore(
            &config(node.path()),
            &restore_args(backup.path(), &[1, 2, 3]),
        )
        .await;
        assert!(
            matches!(refused, Err(RestoreError::Mismatch { group: 0, .. })),
            "{refused:?}"
        );
        assert!(!node.path().join("db").exists());
    }
}
