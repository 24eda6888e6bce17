//! Backups of a cluster: taking one (every group exported by its leader at a known applied index,
//! written to one file a group plus `manifest.json`), the group file format and the manifest that
//! `boxofficed restore` reads back, and the check that a restored cluster holds what the backup did.
//!
//! A backup directory:
//!
//! - `group-<g>.bin`: group `g`'s state keys and values in key order (Raft records included, as
//!   stored): the header (`GROUP_FILE_MAGIC`, format version, group, applied index), then each entry
//!   as `u32` key length, key, `u32` value length, value (little-endian), then the end mark (`u32::MAX`)
//!   and the entry count (`u64`). A file without its end mark is truncated.
//! - `manifest.json`: written last, so a directory with one is a complete backup. Per group: the
//!   applied index, the data hash the leader computed over what it streamed, entries and bytes.
//!
//! The data groups are exported first and group 0 (the cluster map) last: an event is placed on its
//! group before it is created there, so every event a data group's backup holds is in the map's.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::{Client, ClientError};

/// The format of a backup directory this build writes and reads.
pub const BACKUP_FORMAT_VERSION: u32 = 1;
/// The manifest's file name in a backup directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// First bytes of a group file.
pub const GROUP_FILE_MAGIC: &[u8; 24] = b"BOXOFFICE-GROUP-BACKUP\n\0";
/// Largest key or value a group file may hold, in bytes (state records are far smaller).
pub const BACKUP_ENTRY_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Largest manifest read, in bytes.
pub const MANIFEST_BYTES_MAX: u64 = 16 * 1024 * 1024;
/// Largest export message a client accepts, in bytes (a node sends chunks of about 1 MiB; one entry
/// may exceed that).
pub const BACKUP_MESSAGE_BYTES_MAX: usize = 2 * BACKUP_ENTRY_BYTES_MAX + 1024 * 1024;
/// Times one group's export is tried (each time from its current leader) before the backup fails.
pub const BACKUP_ATTEMPTS_MAX: u32 = 5;
/// Longest wait for the next chunk of an export, in seconds.
pub const BACKUP_CHUNK_WAIT_S_MAX: u64 = 60;
/// One key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// Marks the end of a group file's entries (no key is that long).
const END_MARK: u32 = u32::MAX;

/// Why a backup could not be taken, read or checked.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("refused: {0}")]
    Refused(String),
    #[error("{path} is not a valid backup file: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("group {group} could not be exported after {attempts} attempts: {reason}")]
    Export {
        group: u64,
        attempts: u32,
        reason: String,
    },
    #[error(transparent)]
    Client(#[from] ClientError),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A node of the cluster the backup was taken from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupNode {
    pub node_id: u64,
    pub grpc_address: String,
    pub http_address: String,
}

/// One group's part of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupBackup {
    pub group: u64,
    /// The file, relative to the backup directory.
    pub file: String,
    /// The applied log index the group's state was read at.
    pub applied_index: u64,
    /// The group's data hash (hex; see `AuditReply.data_hash`), as its leader computed it.
    pub data_hash: String,
    pub entries: u64,
    /// Bytes of keys and values.
    pub bytes: u64,
    /// The node that exported it (the group's leader then).
    pub exported_by: u64,
    /// How long the export took, in milliseconds.
    pub took_ms: u64,
}

/// `manifest.json`: what a complete backup holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// When the backup started, in milliseconds since the Unix epoch.
    pub taken_at_ms: u64,
    /// How long it took, in milliseconds.
    pub took_ms: u64,
    /// The cluster's nodes when the backup started.
    pub nodes: Vec<BackupNode>,
    /// Data groups first, group 0 last, in the order they were exported.
    pub groups: Vec<GroupBackup>,
}

impl Manifest {
    /// Reads `dir`'s manifest.
    pub fn read(dir: &Path) -> Result<Manifest, BackupError> {
        let path = dir.join(MANIFEST_FILE);
        let file = File::open(&path).map_err(io_error(&path))?;
        let mut text = String::new();
        file.take(MANIFEST_BYTES_MAX)
            .read_to_string(&mut text)
            .map_err(io_error(&path))?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| BackupError::Corrupt {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        if manifest.format != BACKUP_FORMAT_VERSION {
            return Err(BackupError::Refused(format!(
                "{} is a backup of format {}; this build reads format {BACKUP_FORMAT_VERSION}",
                dir.display(),
                manifest.format
            )));
        }
        Ok(manifest)
    }

    /// The part of group `group`, if the backup holds it.
    pub fn group(&self, group: u64) -> Option<&GroupBackup> {
        self.groups.iter().find(|g| g.group == group)
    }

    /// Sum of every group's key and value bytes.
    pub fn bytes(&self) -> u64 {
        self.groups.iter().map(|g| g.bytes).sum()
    }
}

/// Writes one group file: entries as they come, then the end mark; durable once `finish` returns.
#[derive(Debug)]
pub struct GroupFileWriter {
    partial: PathBuf,
    path: PathBuf,
    out: BufWriter<File>,
    entries: u64,
}

impl GroupFileWriter {
    /// Starts `path` (written as `path.partial` until finished).
    pub fn create(path: &Path, group: u64, applied_index: u64) -> Result<Self, BackupError> {
        let partial = path.with_extension("partial");
        let file = File::create(&partial).map_err(io_error(&partial))?;
        let mut writer = GroupFileWriter {
            partial,
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            entries: 0,
        };
        let mut header = GROUP_FILE_MAGIC.to_vec();
        header.extend_from_slice(&BACKUP_FORMAT_VERSION.to_le_bytes());
        header.extend_from_slice(&group.to_le_bytes());
        header.extend_from_slice(&applied_index.to_le_bytes());
        writer.write(&header)?;
        Ok(writer)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), BackupError> {
        self.out.write_all(bytes).map_err(io_error(&self.partial))
    }

    pub fn entry(&mut self, key: &[u8], value: &[u8]) -> Result<(), BackupError> {
        for part in [key, value] {
            let len = u32::try_from(part.len())
                .ok()
                .filter(|&n| (n as usize) <= BACKUP_ENTRY_BYTES_MAX)
                .ok_or_else(|| {
                    BackupError::Refused(format!(
                        "an entry of {} bytes exceeds backup_entry_bytes_max ({BACKUP_ENTRY_BYTES_MAX})",
                        part.len()
                    ))
                })?;
            self.write(&len.to_le_bytes())?;
            self.write(part)?;
        }
        self.entries += 1;
        Ok(())
    }

    /// Writes the end mark, syncs the file and gives it its final name.
    pub fn finish(mut self) -> Result<u64, BackupError> {
        let trailer = [
            END_MARK.to_le_bytes().as_slice(),
            &self.entries.to_le_bytes(),
        ]
        .concat();
        self.write(&trailer)?;
        let file = self
            .out
            .into_inner()
            .map_err(|e| io_error(&self.partial)(e.into_error()))?;
        file.sync_all().map_err(io_error(&self.partial))?;
        fs::rename(&self.partial, &self.path).map_err(io_error(&self.path))?;
        Ok(self.entries)
    }
}

/// Reads one group file back, entry by entry, checking its bounds and end mark.
#[derive(Debug)]
pub struct GroupFileReader {
    path: PathBuf,
    input: BufReader<File>,
    pub group: u64,
    pub applied_index: u64,
    entries: u64,
    done: bool,
}

impl GroupFileReader {
    pub fn open(path: &Path) -> Result<Self, BackupError> {
        let file = File::open(path).map_err(io_error(path))?;
        let mut reader = GroupFileReader {
            path: path.to_path_buf(),
            input: BufReader::new(file),
            group: 0,
            applied_index: 0,
            entries: 0,
            done: false,
        };
        let mut magic = [0u8; GROUP_FILE_MAGIC.len()];
        reader.read_exact(&mut magic)?;
        if &magic != GROUP_FILE_MAGIC {
            return Err(reader.corrupt("it does not start like a group backup"));
        }
        let version = reader.read_u32()?;
        if version != BACKUP_FORMAT_VERSION {
            return Err(reader.corrupt(&format!(
                "format {version}; this build reads format {BACKUP_FORMAT_VERSION}"
            )));
        }
        reader.group = reader.read_u64()?;
        reader.applied_index = reader.read_u64()?;
        Ok(reader)
    }

    fn corrupt(&self, reason: &str) -> BackupError {
        BackupError::Corrupt {
            path: self.path.display().to_string(),
            reason: reason.to_string(),
        }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), BackupError> {
        match self.input.read_exact(buf) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                Err(self.corrupt("it ends early (truncated)"))
            }
            Err(e) => Err(io_error(&self.path)(e)),
        }
    }

    fn read_u32(&mut self) -> Result<u32, BackupError> {
        let mut bytes = [0u8; 4];
        self.read_exact(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn read_u64(&mut self) -> Result<u64, BackupError> {
        let mut bytes = [0u8; 8];
        self.read_exact(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn read_part(&mut self, len: u32) -> Result<Vec<u8>, BackupError> {
        if len as usize > BACKUP_ENTRY_BYTES_MAX {
            return Err(self.corrupt(&format!(
                "an entry of {len} bytes exceeds backup_entry_bytes_max ({BACKUP_ENTRY_BYTES_MAX})"
            )));
        }
        let mut part = vec![0u8; len as usize];
        self.read_exact(&mut part)?;
        Ok(part)
    }

    /// The next entry, or `None` after the last (whose count is checked against the end mark).
    pub fn next_entry(&mut self) -> Result<Option<Entry>, BackupError> {
        if self.done {
            return Ok(None);
        }
        let key_len = self.read_u32()?;
        if key_len == END_MARK {
            let count = self.read_u64()?;
            if count != self.entries {
                return Err(self.corrupt(&format!(
                    "its end mark counts {count} entries, it holds {}",
                    self.entries
                )));
            }
            let mut rest = [0u8; 1];
            if self.input.read(&mut rest).map_err(io_error(&self.path))? != 0 {
                return Err(self.corrupt("bytes follow its end mark"));
            }
            self.done = true;
            return Ok(None);
        }
        let key = self.read_part(key_len)?;
        let value_len = self.read_u32()?;
        let value = self.read_part(value_len)?;
        self.entries += 1;
        Ok(Some((key, value)))
    }
}

/// What `take` found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// A new backup, complete.
    New(Manifest),
    /// The directory already held a complete backup; nothing was written.
    AlreadyComplete(Manifest),
}

/// What is in a backup directory before a backup.
fn prepare(dir: &Path) -> Result<Option<Manifest>, BackupError> {
    if dir.join(MANIFEST_FILE).exists() {
        return Manifest::read(dir).map(Some);
    }
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        return Ok(None);
    }
    if !dir.is_dir() {
        return Err(BackupError::Refused(format!(
            "{} exists and is not a directory",
            dir.display()
        )));
    }
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    if names.is_empty() {
        return Ok(None);
    }
    let ours = names.iter().all(|n| n.starts_with("group-"));
    let reason = if ours {
        "holds an incomplete backup (group files but no manifest.json: a backup was interrupted)"
    } else {
        "is not empty and holds no backup"
    };
    Err(BackupError::Refused(format!(
        "{} {reason}: delete it or choose a new directory (it holds {})",
        dir.display(),
        names.join(", ")
    )))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))
}

/// Takes a backup of every group into `dir` (created if missing; it must be empty, or hold a
/// complete backup, which is left as it is), logging each step through `log`.
pub async fn take(client: &Client, dir: &Path, log: impl Fn(&str)) -> Result<Taken, BackupError> {
    if let Some(manifest) = prepare(dir)? {
        return Ok(Taken::AlreadyComplete(manifest));
    }
    let started = Instant::now();
    let taken_at_ms = now_ms();
    let status = client.cluster_status().await?;
    if !status.bootstrapped {
        return Err(BackupError::Refused(
            "the cluster is not bootstrapped: there is nothing to back up".into(),
        ));
    }
    let nodes = status
        .nodes
        .iter()
        .map(|n| BackupNode {
            node_id: n.node_id,
            grpc_address: n.grpc_address.clone(),
            http_address: n.http_address.clone(),
        })
        .collect();
    // Data groups first, the cluster map last (see the module docs).
    let mut order: Vec<u64> = status
        .groups
        .iter()
        .map(|g| g.group)
        .filter(|&g| g != 0)
        .collect();
    order.push(0);
    log(&format!(
        "backing up {} group(s) of a {}-node cluster into {}",
        order.len(),
        status.nodes.len(),
        dir.display()
    ));
    let mut groups = Vec::new();
    for group in order {
        let part = export_with_retries(client, dir, group, &log).await?;
        log(&format!(
            "group {group}: {} entries, {} bytes at applied index {} from node {} in {} ms (data hash {})",
            part.entries, part.bytes, part.applied_index, part.exported_by, part.took_ms, part.data_hash
        ));
        groups.push(part);
    }
    let manifest = Manifest {
        format: BACKUP_FORMAT_VERSION,
        taken_at_ms,
        took_ms: started.elapsed().as_millis() as u64,
        nodes,
        groups,
    };
    let path = dir.join(MANIFEST_FILE);
    let partial = dir.join("manifest.json.partial");
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| BackupError::Corrupt {
        path: partial.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut file = File::create(&partial).map_err(io_error(&partial))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_error(&partial))?;
    fs::rename(&partial, &path).map_err(io_error(&path))?;
    sync_dir(dir)?;
    log(&format!(
        "backup complete: {} group(s), {} bytes in {} ms; manifest {}",
        manifest.groups.len(),
        manifest.bytes(),
        manifest.took_ms,
        path.display()
    ));
    Ok(Taken::New(manifest))
}

/// Exports `group` from its leader, trying again from the then-current leader on a failure.
async fn export_with_retries(
    client: &Client,
    dir: &Path,
    group: u64,
    log: &impl Fn(&str),
) -> Result<GroupBackup, BackupError> {
    let mut reason = String::new();
    for attempt in 1..=BACKUP_ATTEMPTS_MAX {
        if attempt > 1 {
            log(&format!(
                "group {group}: attempt {attempt} of {BACKUP_ATTEMPTS_MAX} ({reason})"
            ));
            tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
        }
        match leader_address(client, group).await {
            Ok((leader, address)) => match export(client, dir, group, leader, &address).await {
                Ok(part) => return Ok(part),
                Err(BackupError::Client(error)) => reason = error.to_string(),
                Err(other) => return Err(other),
            },
            Err(error) => reason = error.to_string(),
        }
    }
    Err(BackupError::Export {
        group,
        attempts: BACKUP_ATTEMPTS_MAX,
        reason,
    })
}

/// The leader of `group` and its gRPC address, as the cluster status reports them.
async fn leader_address(client: &Client, group: u64) -> Result<(u64, String), ClientError> {
    let status = client.cluster_status().await?;
    let leader = status
        .groups
        .iter()
        .find(|g| g.group == group)
        .ok_or_else(|| ClientError::Unavailable(format!("group {group} is not in the map")))?
        .leader_id
        .ok_or_else(|| ClientError::Unavailable(format!("group {group} has no leader")))?;
    let address = status
        .nodes
        .iter()
        .find(|n| n.node_id == leader)
        .map(|n| n.grpc_address.clone())
        .ok_or_else(|| ClientError::Unavailable(format!("node {leader} is not in the map")))?;
    Ok((leader, address))
}

/// One export of `group` from node `leader` into its file.
async fn export(
    client: &Client,
    dir: &Path,
    group: u64,
    leader: u64,
    address: &str,
) -> Result<GroupBackup, BackupError> {
    let started = Instant::now();
    let wait = Duration::from_secs(BACKUP_CHUNK_WAIT_S_MAX);
    let timed_out = || ClientError::Unavailable(format!("{address}: no export chunk for {wait:?}"));
    let mut stream = tokio::time::timeout(wait, client.export_group_at(address, group))
        .await
        .map_err(|_| timed_out())??;
    let file = format!("group-{group}.bin");
    let path = dir.join(&file);
    let mut writer: Option<GroupFileWriter> = None;
    let mut bytes = 0u64;
    let protocol = |reason: String| ClientError::Protocol(format!("{address}: {reason}"));
    loop {
        let chunk = tokio::time::timeout(wait, stream.message())
            .await
            .map_err(|_| timed_out())?
            .map_err(|s| ClientError::Unavailable(format!("{address}: {}", s.message())))?
            .ok_or_else(|| protocol(format!("the export of group {group} ended early")))?;
        if chunk.group != group {
            return Err(protocol(format!("asked for group {group}, got {}", chunk.group)).into());
        }
        let file_writer = match &mut writer {
            Some(file_writer) => file_writer,
            None => writer.insert(GroupFileWriter::create(&path, group, chunk.applied_index)?),
        };
        for entry in &chunk.entries {
            file_writer.entry(&entry.key, &entry.value)?;
            bytes += (entry.key.len() + entry.value.len()) as u64;
        }
        if !chunk.last {
            continue;
        }
        let Some(writer) = writer.take() else {
            return Err(protocol("no chunk before the last".into()).into());
        };
        let entries = writer.finish()?;
        if entries != chunk.entries_total || bytes != chunk.bytes_total {
            return Err(protocol(format!(
                "group {group}: received {entries} entries ({bytes} bytes), the node sent {} ({})",
                chunk.entries_total, chunk.bytes_total
            ))
            .into());
        }
        return Ok(GroupBackup {
            group,
            file,
            applied_index: chunk.applied_index,
            data_hash: chunk.data_hash,
            entries,
            bytes,
            exported_by: leader,
            took_ms: started.elapsed().as_millis() as u64,
        });
    }
}

/// One replica compared with the backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaCheck {
    pub group: u64,
    pub node_id: u64,
    /// The replica's applied index and data hash, or why it could not be audited.
    pub audited: Result<(u64, String), String>,
    /// The backup's data hash of the group.
    pub expected: String,
    /// The replica's invariant violation, if any.
    pub violation: String,
}

impl ReplicaCheck {
    /// The replica holds the backup's data and passes the audit.
    pub fn matches(&self) -> bool {
        self.violation.is_empty()
            && matches!(&self.audited, Ok((_, hash)) if *hash == self.expected)
    }
}

/// Audits every replica of every group in `dir`'s backup on the cluster `client` reaches, and
/// compares each replica's data hash with the backup's. A group restored from the backup matches
/// until it applies a command that changes it (an expiry sweep of a hold that ran out, an
/// admission, any new command), so check before the cluster takes traffic.
pub async fn check_restore(client: &Client, dir: &Path) -> Result<Vec<ReplicaCheck>, BackupError> {
    let manifest = Manifest::read(dir)?;
    let status = client.cluster_status().await?;
    let addresses: BTreeMap<u64, String> = status
        .nodes
        .iter()
        .map(|n| (n.node_id, n.grpc_address.clone()))
        .collect();
    let mut checks = Vec::new();
    for part in &manifest.groups {
        let replicas: Vec<u64> = match status.groups.iter().find(|g| g.group == part.group) {
            Some(info) => info.replicas.clone(),
            None => {
                return Err(BackupError::Refused(format!(
                    "group {} of the backup is not in this cluster's map",
                    part.group
                )))
            }
        };
        for node_id in replicas {
            let address = addresses.get(&node_id).cloned().unwrap_or_default();
            let (audited, violation) = match client.audit_replica(&address, part.group).await {
                Ok(reply) => (Ok((reply.applied_index, reply.data_hash)), reply.violation),
                Err(error) => (Err(error.to_string()), String::new()),
            };
            checks.push(ReplicaCheck {
                group: part.group,
                node_id,
                audited,
                expected: part.data_hash.clone(),
                violation,
            });
        }
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn write(dir: &Path, entries: &[(&[u8], &[u8])]) -> PathBuf {
        let path = dir.join("group-3.bin");
        let mut writer = GroupFileWriter::create(&path, 3, 42).unwrap();
        for (key, value) in entries {
            writer.entry(key, value).unwrap();
        }
        assert_eq!(writer.finish().unwrap(), entries.len() as u64);
        path
    }

    fn read_all(path: &Path) -> Result<Vec<Entry>, BackupError> {
        let mut reader = GroupFileReader::open(path)?;
        assert_eq!((reader.group, reader.applied_index), (3, 42));
        let mut entries = Vec::new();
        while let Some(entry) = reader.next_entry()? {
            entries.push(entry);
        }
        Ok(entries)
    }

    #[test]
    fn a_group_file_reads_back_the_entries_it_was_written_with() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &[(b"a", b"1"), (b"b", b""), (b"c\xff", b"333")]);
        let entries = read_all(&path).unwrap();
        assert_eq!(
            entries,
            vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), Vec::new()),
                (b"c\xff".to_vec(), b"333".to_vec())
            ]
        );
        assert!(!path.with_extension("partial").exists());
    }

    #[test]
    fn a_truncated_or_extended_group_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &[(b"a", b"1"), (b"b", b"2")]);
        let bytes = fs::read(&path).unwrap();
        for cut in [bytes.len() - 1, bytes.len() - 12, 30] {
            fs::write(&path, &bytes[..cut]).unwrap();
            let error = read_all(&path).unwrap_err();
            assert!(error.to_string().contains("truncated"), "{cut}: {error}");
        }
        fs::write(&path, [bytes.as_slice(), b"x"].concat()).unwrap();
        assert!(read_all(&path)
            .unwrap_err()
            .to_string()
            .contains("follow its end mark"));
    }

    #[test]
    fn a_backup_goes_only_into_an_empty_directory_or_finds_a_complete_one_there() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(prepare(&dir.path().join("new")).unwrap(), None);
        assert!(dir.path().join("new").is_dir());
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(prepare(dir.path()).unwrap(), None);
        fs::write(dir.path().join("group-1.bin.partial"), b"").unwrap();
        let error = prepare(dir.path()).unwrap_err().to_string();
        assert!(error.contains("incomplete backup"), "{error}");
        fs::write(dir.path().join("notes.txt"), b"").unwrap();
        let error = prepare(dir.path()).unwrap_err().to_string();
        assert!(error.contains("holds no backup"), "{error}");
        let manifest = Manifest {
            format: BACKUP_FORMAT_VERSION,
            taken_at_ms: 1,
            took_ms: 2,
            nodes: Vec::new(),
            groups: Vec::new(),
        };
        fs::write(
            dir.path().join(MANIFEST_FILE),
            serde_json::to_string(&manifest).unwrap(),
        )
        .unwrap();
        assert_eq!(prepare(dir.path()).unwrap(), Some(manifest));
    }
}
