//! The node's Prometheus metrics: what each stage of a command costs (the API, the proposer's
//! queue, the Raft commit, the apply, the write-ahead-log sync), what the commands decided, each
//! group's Raft state and the waiting rooms, in the text exposition format for `GET /metrics`.
//!
//! Process-wide, like the clock offset: a production process runs one node. (In-process test
//! clusters share them; nothing asserts on them there.)

use std::sync::LazyLock;
use std::time::Duration;

use openraft::ServerState;
use prometheus::{
    exponential_buckets, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter,
    IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::node::NodeState;
use crate::raft::proposer::Clock;
use crate::raft::transport::GroupRaft;
use crate::storage::{CF_RAFT_LOG, CF_RAFT_META, CF_STATE};

/// Latency buckets, in seconds: 50 µs to about 52 s, doubling.
fn seconds_buckets() -> Vec<f64> {
    exponential_buckets(50e-6, 2.0, 21).unwrap_or_default()
}

/// Count buckets: 1 to 4,096, doubling.
fn count_buckets() -> Vec<f64> {
    exponential_buckets(1.0, 2.0, 13).unwrap_or_default()
}

/// Every metric of the node.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// A customer or admin command, from the API receiving it to its outcome, per operation.
    pub command_seconds: HistogramVec,
    /// Commands decided, per operation and result (`accepted`, a rejection code, or an API error
    /// code such as `NOT_LEADER`).
    pub commands_total: IntCounterVec,
    /// Commands per `SubmitBatch` call.
    pub batch_call_commands: Histogram,
    /// A command's wait in its group's proposer queue before it is packed into an entry.
    pub proposer_wait_seconds: Histogram,
    /// Commands (and time stamps) per proposed Raft entry.
    pub entry_commands: Histogram,
    /// A proposed entry, from `client_write` to its applied outcome on the leader.
    pub entry_commit_seconds: Histogram,
    /// One call of a group's state machine to apply a run of committed entries.
    pub apply_seconds: Histogram,
    /// Entries per apply call.
    pub apply_entries: Histogram,
    /// One sync of the write-ahead log by the group-commit flusher.
    pub wal_sync_seconds: Histogram,
    /// Log appends (of every group) made durable by one sync.
    pub wal_sync_appends: Histogram,
    /// Waiting-room customers admitted by this node's admitters (while it leads their groups).
    pub admissions_total: IntCounter,
    /// Holds released by this node's expiry sweeps (while it leads their groups).
    pub holds_expired_total: IntCounter,
    /// Holds this node refused, as their group's leader, from a read of its state (no log entry).
    pub holds_refused_from_reads_total: IntCounter,
    /// Per hosted group (0 is the cluster map), read from Raft at each scrape.
    groups: GroupGauges,
    /// Per gated event of a group this node leads, read from its replica at each scrape.
    rooms: RoomGauges,
    /// Snapshots this node built of its groups, and snapshots it installed from a leader.
    pub snapshots_total: IntCounterVec,
    /// RocksDB's own figures per column family (sizes, compaction backlog), read at each scrape.
    rocksdb: IntGaugeVec,
}

/// The RocksDB properties reported, per column family (`rocksdb.<name>`).
const ROCKSDB_PROPERTIES: [&str; 6] = [
    "total-sst-files-size",
    "cur-size-all-mem-tables",
    "estimate-num-keys",
    "estimate-pending-compaction-bytes",
    "num-running-compactions",
    "num-running-flushes",
];

/// The waiting rooms of the gated events whose groups this node leads, as of the last scrape.
#[derive(Debug)]
struct RoomGauges {
    /// Customers in the queue not admitted yet.
    waiting: IntGaugeVec,
    /// Customers admitted so far (the queue's watermark).
    admitted: IntGaugeVec,
}

impl RoomGauges {
    fn new() -> Result<RoomGauges, prometheus::Error> {
        let gauge = |name: &str, help: &str| IntGaugeVec::new(Opts::new(name, help), &["event"]);
        Ok(RoomGauges {
            waiting: gauge(
                "waiting_room_customers",
                "Customers in a gated event's waiting room not admitted yet (reported by its group's leader).",
            )?,
            admitted: gauge(
                "waiting_room_admitted",
                "Customers a gated event's waiting room has admitted so far (reported by its group's leader).",
            )?,
        })
    }

    fn observe(&self, state: &crate::storage::GroupState) {
        let now_ms = crate::raft::proposer::SystemClock.now_ms();
        let rooms = match crate::raft::admission::gated_rooms(state, now_ms) {
            Ok(rooms) => rooms,
            Err(error) => {
                tracing::warn!(group = state.group(), %error, "cannot read the waiting rooms");
                return;
            }
        };
        for (event, summary) in rooms {
            let queued = summary.presale_total.saturating_add(summary.later_count);
            let label = [event.id.as_str()];
            set_gauge(
                &self.waiting,
                &label,
                queued.saturating_sub(summary.watermark),
            );
            set_gauge(&self.admitted, &label, summary.watermark);
        }
    }
}

/// The Raft state of each group this node hosts, as of the last scrape.
#[derive(Debug)]
struct GroupGauges {
    /// 1 while this node leads the group, else 0.
    leading: IntGaugeVec,
    /// The node the group's leader is, as this replica knows it (0: none known).
    leader: IntGaugeVec,
    term: IntGaugeVec,
    last_log_index: IntGaugeVec,
    committed_index: IntGaugeVec,
    applied_index: IntGaugeVec,
    snapshot_index: IntGaugeVec,
    /// On the leader: entries each follower's log is behind the leader's.
    replication_lag_entries: IntGaugeVec,
    /// Commands waiting in this node's proposer for the group.
    proposer_waiting_commands: IntGaugeVec,
}

impl GroupGauges {
    fn new() -> Result<GroupGauges, prometheus::Error> {
        let gauge = |name: &str, help: &str| IntGaugeVec::new(Opts::new(name, help), &["group"]);
        Ok(GroupGauges {
            leading: gauge(
                "group_leading",
                "1 while this node leads the group, else 0.",
            )?,
            leader: gauge(
                "group_leader",
                "The group's leader as this replica knows it (0: none known).",
            )?,
            term: gauge(
                "group_term",
                "The group's current Raft term on this replica.",
            )?,
            last_log_index: gauge("group_last_log_index", "The last Raft log index here.")?,
            committed_index: gauge(
                "group_committed_index",
                "The Raft log index known committed here.",
            )?,
            applied_index: gauge(
                "group_applied_index",
                "The Raft log index this replica's state machine has applied.",
            )?,
            snapshot_index: gauge(
                "group_snapshot_index",
                "The Raft log index of this replica's last snapshot (0: none).",
            )?,
            replication_lag_entries: IntGaugeVec::new(
                Opts::new(
                    "group_replication_lag_entries",
                    "On the group's leader: entries a follower's log is behind the leader's.",
                ),
                &["group", "follower"],
            )?,
            proposer_waiting_commands: gauge(
                "group_proposer_waiting_commands",
                "Commands waiting in this node's proposer for the group.",
            )?,
        })
    }

    fn all(&self) -> [&IntGaugeVec; 9] {
        [
            &self.leading,
            &self.leader,
            &self.term,
            &self.last_log_index,
            &self.committed_index,
            &self.applied_index,
            &self.snapshot_index,
            &self.replication_lag_entries,
            &self.proposer_waiting_commands,
        ]
    }

    /// Sets the gauges of one group from its Raft metrics.
    fn observe(&self, group: u64, raft: &GroupRaft) {
        let m = crate::raft::metrics(raft);
        let label = group.to_string();
        let set = |gauge: &IntGaugeVec, value: u64| set_gauge(gauge, &[label.as_str()], value);
        let index = |log_id: Option<&openraft::alias::LogIdOf<crate::raft::TypeConfig>>| {
            log_id.map_or(0, |l| l.index)
        };
        set(&self.leading, u64::from(m.state == ServerState::Leader));
        set(&self.leader, m.current_leader.unwrap_or(0));
        set(&self.term, m.current_term);
        set(&self.last_log_index, m.last_log_index.unwrap_or(0));
        set(&self.committed_index, index(m.cluster_committed.as_ref()));
        set(&self.applied_index, index(m.last_applied.as_ref()));
        set(&self.snapshot_index, index(m.snapshot.as_ref()));
        if let Some(replication) = &m.replication {
            let last = m.last_log_index.unwrap_or(0);
            // openraft lists the leader itself among the replicas.
            for (follower, matched) in replication.iter().filter(|(id, _)| **id != m.id) {
                let behind = last.saturating_sub(index(matched.as_ref()));
                let follower = follower.to_string();
                set_gauge(
                    &self.replication_lag_entries,
                    &[label.as_str(), follower.as_str()],
                    behind,
                );
            }
        }
    }
}

impl Metrics {
    fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new_custom(Some("boxoffice".into()), None)?;
        let seconds = |name: &str, help: &str| {
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(seconds_buckets()))
        };
        let counts = |name: &str, help: &str| {
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(count_buckets()))
        };
        let metrics = Metrics {
            command_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "command_seconds",
                    "A command from the API receiving it to its outcome, by operation.",
                )
                .buckets(seconds_buckets()),
                &["operation"],
            )?,
            commands_total: IntCounterVec::new(
                Opts::new(
                    "commands_total",
                    "Commands answered, by operation and result (accepted, a rejection code or an API error code).",
                ),
                &["operation", "result"],
            )?,
            batch_call_commands: counts(
                "batch_call_commands",
                "Commands per SubmitBatch call.",
            )?,
            proposer_wait_seconds: seconds(
                "proposer_wait_seconds",
                "A command's wait in its group's proposer queue before it is packed into an entry.",
            )?,
            entry_commands: counts(
                "entry_commands",
                "Commands (and time stamps) per proposed Raft entry.",
            )?,
            entry_commit_seconds: seconds(
                "entry_commit_seconds",
                "A proposed Raft entry from client_write to its applied outcome on the leader.",
            )?,
            apply_seconds: seconds(
                "apply_seconds",
                "One state machine call applying a run of committed entries.",
            )?,
            apply_entries: counts("apply_entries", "Entries per state machine apply call.")?,
            wal_sync_seconds: seconds(
                "wal_sync_seconds",
                "One sync of the write-ahead log by the group-commit flusher.",
            )?,
            wal_sync_appends: counts(
                "wal_sync_appends",
                "Log appends (of every group) made durable by one write-ahead-log sync.",
            )?,
            admissions_total: IntCounter::new(
                "admissions_total",
                "Waiting-room customers admitted by this node's admitters.",
            )?,
            holds_expired_total: IntCounter::new(
                "holds_expired_total",
                "Holds released by this node's expiry sweeps.",
            )?,
            holds_refused_from_reads_total: IntCounter::new(
                "holds_refused_from_reads_total",
                "Holds this node refused as their group's leader from a read of its state, without a log entry.",
            )?,
            groups: GroupGauges::new()?,
            rooms: RoomGauges::new()?,
            snapshots_total: IntCounterVec::new(
                Opts::new(
                    "snapshots_total",
                    "Group snapshots this node built (kind=built) or installed from a leader (kind=installed).",
                ),
                &["kind"],
            )?,
            rocksdb: IntGaugeVec::new(
                Opts::new(
                    "rocksdb",
                    "RocksDB's figures per column family (property rocksdb.<property>).",
                ),
                &["cf", "property"],
            )?,
            registry,
        };
        metrics.register()?;
        Ok(metrics)
    }

    fn register(&self) -> Result<(), prometheus::Error> {
        let r = &self.registry;
        r.register(Box::new(self.command_seconds.clone()))?;
        r.register(Box::new(self.commands_total.clone()))?;
        r.register(Box::new(self.batch_call_commands.clone()))?;
        r.register(Box::new(self.proposer_wait_seconds.clone()))?;
        r.register(Box::new(self.entry_commands.clone()))?;
        r.register(Box::new(self.entry_commit_seconds.clone()))?;
        r.register(Box::new(self.apply_seconds.clone()))?;
        r.register(Box::new(self.apply_entries.clone()))?;
        r.register(Box::new(self.wal_sync_seconds.clone()))?;
        r.register(Box::new(self.wal_sync_appends.clone()))?;
        r.register(Box::new(self.admissions_total.clone()))?;
        r.register(Box::new(self.holds_expired_total.clone()))?;
        r.register(Box::new(self.holds_refused_from_reads_total.clone()))?;
        for gauge in self.groups.all() {
            r.register(Box::new(gauge.clone()))?;
        }
        r.register(Box::new(self.rooms.waiting.clone()))?;
        r.register(Box::new(self.rooms.admitted.clone()))?;
        r.register(Box::new(self.snapshots_total.clone()))?;
        r.register(Box::new(self.rocksdb.clone()))?;
        for kind in ["built", "installed"] {
            self.snapshots_total.with_label_values(&[kind]);
        }
        Ok(())
    }

    /// Records one command answered: its operation, how long it took and its result.
    pub fn command(&self, operation: &str, took: Duration, result: &str) {
        self.command_seconds
            .with_label_values(&[operation])
            .observe(took.as_secs_f64());
        self.commands_total
            .with_label_values(&[operation, result])
            .inc();
    }

    /// Reads the Raft state of every group `node` hosts into the group gauges (groups no longer
    /// hosted disappear from them), and the waiting rooms of the groups it leads.
    pub fn observe_groups(&self, node: &NodeState) {
        for gauge in self.groups.all() {
            gauge.reset();
        }
        self.groups.observe(crate::meta::META_GROUP, &node.meta);
        self.rooms.waiting.reset();
        self.rooms.admitted.reset();
        for group in node.hosted() {
            if let Some(crate::node::Hosted { raft, proposer, .. }) = node.data_group(group) {
                self.groups.observe(group, &raft);
                if crate::raft::leads(&raft) {
                    self.rooms.observe(&node.storage.group_state(group));
                }
                let waiting = u64::try_from(proposer.load().waiting_commands).unwrap_or(u64::MAX);
                set_gauge(
                    &self.groups.proposer_waiting_commands,
                    &[group.to_string().as_str()],
                    waiting,
                );
            }
        }
    }

    /// Reads RocksDB's figures for every column family of `storage`.
    pub fn observe_storage(&self, storage: &crate::storage::NodeStorage) {
        for cf_name in [CF_STATE, CF_RAFT_LOG, CF_RAFT_META] {
            let cf = storage.cf(cf_name);
            for property in ROCKSDB_PROPERTIES {
                let name = format!("rocksdb.{property}");
                match storage.db().property_int_value_cf(cf, name.as_str()) {
                    Ok(Some(value)) => set_gauge(&self.rocksdb, &[cf_name, property], value),
                    Ok(None) => {}
                    Err(error) => {
                        tracing::debug!(%error, property, "cannot read a RocksDB property");
                    }
                }
            }
        }
    }

    /// Every metric, in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec fails only on metric families the registry would not have accepted.
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(%error, "cannot encode the metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Sets the gauge of `labels` to `value`, saturating at the gauge's largest value.
fn set_gauge(gauge: &IntGaugeVec, labels: &[&str], value: u64) {
    gauge
        .with_label_values(labels)
        .set(i64::try_from(value).unwrap_or(i64::MAX));
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    // Every name and label set above is fixed and valid: failing here is a bug in this file.
    Metrics::new().expect("the node's metrics are well-formed")
});

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_rendered_with_its_prefix() {
        let metrics = Metrics::new().expect("metrics");
        metrics.command("hold", Duration::from_millis(3), "accepted");
        metrics.wal_sync_seconds.observe(0.002);
        let text = metrics.render();
        assert!(text.contains("boxoffice_commands_total{operation=\"hold\",result=\"accepted\"} 1"));
        assert!(
            text.contains("boxoffice_command_seconds_bucket{operation=\"hold\",le=\"0.0032\"} 1")
        );
        assert!(text.contains("boxoffice_wal_sync_seconds_count 1"));
        // Histograms without observations are still listed.
        assert!(text.contains("boxoffice_apply_seconds_count 0"));
    }
}
