//! A new cluster of real processes restored from a backup (`boxofficed restore` on each node,
//! then a start without bootstrap), on ports and directories of its own.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use super::ProcessCluster;

impl ProcessCluster {
    /// Restores the backup in `backup` into `n` new nodes (ids 1..=n, like the backed-up cluster's)
    /// and starts them; returns once every group has a leader, and how long the restore (writing
    /// the nodes' data, not starting them) took.
    pub async fn restored(backup: &Path, n: u64) -> (ProcessCluster, Duration) {
        let mut cluster = ProcessCluster {
            nodes: BTreeMap::new(),
            dir: tempfile::tempdir().expect("a temporary directory"),
            snapshot_after_entries: 50_000,
            extra: String::new(),
        };
        for id in 1..=n {
            cluster.configure(id, &[]);
        }
        let started = Instant::now();
        for id in 1..=n {
            let output = cluster.run_restore(id, backup);
            assert!(
                output.status.success(),
                "node {id}: boxofficed restore failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let took = started.elapsed();
        for id in 1..=n {
            cluster.restart(id).await;
        }
        cluster.wait_ready(Duration::from_secs(30)).await;
        (cluster, took)
    }

    /// Runs `boxofficed restore` for node `id`, which must refuse; returns its message.
    pub fn restore_refused(&self, id: u64, backup: &Path) -> String {
        let output = self.run_restore(id, backup);
        assert!(
            !output.status.success(),
            "node {id}: the restore was not refused"
        );
        String::from_utf8_lossy(&output.stderr).into_owned()
    }

    /// Runs `boxofficed restore` of `backup` for node `id`, naming every node of this cluster.
    fn run_restore(&self, id: u64, backup: &Path) -> Output {
        let members: Vec<String> = self
            .nodes
            .values()
            .map(|node| format!("--node={}={},{}", node.id, node.grpc, node.http))
            .collect();
        Command::new(env!("CARGO_BIN_EXE_boxofficed"))
            .arg("--config")
            .arg(&self.nodes[&id].config)
            .arg("restore")
            .arg("--backup")
            .arg(backup)
            .args(&members)
            .output()
            .expect("run boxofficed restore")
    }
}
