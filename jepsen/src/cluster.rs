//! The cluster under test: real `boxofficed` processes, each started inside its node's network
//! namespace and bound to that namespace's address; kill -9 and restart, SIGSTOP and SIGCONT,
//! clock offsets, leaders and replica audits. Every process is killed again on teardown (also on
//! drop).

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use boxoffice_client::{proto, Client, ClientOptions};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::checker::convergence::ReplicaAudit;
use crate::net::Network;

/// The gRPC and HTTP ports every node listens on (on its own address).
pub const GRPC_PORT: u16 = 7000;
pub const HTTP_PORT: u16 = 8000;
/// How long a node may take to listen after it was started.
const LISTEN_WITHIN: Duration = Duration::from_secs(30);

/// How the nodes are configured.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub boxofficed: PathBuf,
    pub data_groups: u32,
    pub heartbeat_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    pub snapshot_after_entries: u64,
    /// Deliberately unsafe: linearizable reads from the local replica, to prove the checkers fail.
    pub unsafe_local_reads: bool,
}

/// Why the cluster misbehaved in a way the harness cannot go on from.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("node {node}: {reason}")]
    Node { node: u64, reason: String },
    #[error("client: {0}")]
    Client(#[from] boxoffice_client::ClientError),
    #[error("{0}")]
    NotReady(String),
}

#[derive(Debug)]
struct NodeProcess {
    id: u64,
    namespace: String,
    grpc: String,
    http: String,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    paused: bool,
}

/// The running nodes of one run.
#[derive(Debug)]
pub struct Cluster {
    nodes: BTreeMap<u64, NodeProcess>,
    options: ClusterOptions,
    admin: Client,
}

impl Cluster {
    /// Writes every node's configuration under `dir`, starts the nodes in their namespaces and
    /// bootstraps the cluster.
    pub async fn start(
        network: &Network,
        dir: &Path,
        options: ClusterOptions,
    ) -> Result<Cluster, ClusterError> {
        let mut nodes = BTreeMap::new();
        for &id in network.nodes() {
            let address = network.address(id);
            let grpc = format!("{address}:{GRPC_PORT}");
            let http = format!("{address}:{HTTP_PORT}");
            let data = dir.join(format!("node-{id}"));
            let config = dir.join(format!("node-{id}.toml"));
            let text = format!(
                "node_id = {id}\ndata_dir = {data:?}\ngrpc_listen = {grpc:?}\nhttp_listen = {http:?}\n\
                 [raft]\nheartbeat_ms = {hb}\nelection_timeout_min_ms = {emin}\nelection_timeout_max_ms = {emax}\n\
                 snapshot_after_entries = {snap}\n\
                 [http]\napp_keys = [\"jepsen-app-key\"]\nadmin_keys = [\"jepsen-admin-key\"]\n\
                 [waiting_room]\nsecret = \"jepsen-waiting-room-secret\"\n\
                 [testing]\nclock_offset_control = true\nunsafe_local_reads = {unsafe_reads}\n",
                hb = options.heartbeat_ms,
                emin = options.election_timeout_min_ms,
                emax = options.election_timeout_max_ms,
                snap = options.snapshot_after_entries,
                unsafe_reads = options.unsafe_local_reads,
            );
            std::fs::write(&config, text)?;
            nodes.insert(
                id,
                NodeProcess {
                    id,
                    namespace: network.namespace(id),
                    grpc,
                    http,
                    config,
                    log: dir.join(format!("node-{id}.log")),
                    child: None,
                    paused: false,
                },
            );
        }
        let admin = Client::connect(
            nodes.values().map(|n| n.grpc.clone()),
            ClientOptions {
                deadline: Duration::from_secs(20),
                attempt_timeout: Duration::from_secs(2),
                ..ClientOptions::default()
            },
        )?;
        let mut cluster = Cluster {
            nodes,
            options,
            admin,
        };
        for id in cluster.ids() {
            cluster.start_node(id).await?;
        }
        let members = cluster
            .nodes
            .values()
            .map(|n| proto::NodeInfo {
                node_id: n.id,
                grpc_address: n.grpc.clone(),
                http_address: n.http.clone(),
                ..proto::NodeInfo::default()
            })
            .collect();
        cluster
            .admin
            .bootstrap(members, cluster.options.data_groups)
            .await?;
        cluster.wait_ready(Duration::from_secs(60)).await?;
        Ok(cluster)
    }

    pub fn ids(&self) -> Vec<u64> {
        self.nodes.keys().copied().collect()
    }

    /// Node `id`'s gRPC address.
    pub fn grpc(&self, id: u64) -> &str {
        self.nodes.get(&id).map_or("", |n| n.grpc.as_str())
    }

    /// Every node's gRPC address.
    pub fn endpoints(&self) -> Vec<String> {
        self.nodes.values().map(|n| n.grpc.clone()).collect()
    }

    /// A client for the harness's own calls (setup, final reads, audits).
    pub fn admin(&self) -> &Client {
        &self.admin
    }

    fn node(&mut self, id: u64) -> Result<&mut NodeProcess, ClusterError> {
        self.nodes.get_mut(&id).ok_or(ClusterError::Node {
            node: id,
            reason: "no such node".into(),
        })
    }

    /// Starts node `id` (again, keeping its data) and waits until it listens.
    pub async fn start_node(&mut self, id: u64) -> Result<(), ClusterError> {
        let boxofficed = self.options.boxofficed.clone();
        let node = self.node(id)?;
        if node.child.is_some() {
            return Ok(());
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)?;
        // The node logs to standard output; panics and early errors go to standard error.
        let errors = log.try_clone()?;
        let child = Command::new("ip")
            .args(["netns", "exec", &node.namespace])
            .arg(&boxofficed)
            .arg("--config")
            .arg(&node.config)
            .env("BOXOFFICE_LOG", "info,openraft=warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(errors)
            .spawn()?;
        node.child = Some(child);
        node.paused = false;
        let grpc = node.grpc.clone();
        let deadline = Instant::now() + LISTEN_WITHIN;
        while tokio::net::TcpStream::connect(&grpc).await.is_err() {
            if Instant::now() > deadline {
                return Err(ClusterError::Node {
                    node: id,
                    reason: format!("did not listen on {grpc} within {LISTEN_WITHIN:?}"),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    fn pid(&self, id: u64) -> Option<Pid> {
        let child = self.nodes.get(&id)?.child.as_ref()?;
        Some(Pid::from_raw(i32::try_from(child.id()).ok()?))
    }

    /// Nodes that exited without the harness killing them (a panic, a broken invariant), each
    /// with how it ended; they are reaped, so [`Cluster::restore`] starts them again.
    pub fn exited_on_their_own(&mut self) -> Vec<String> {
        let mut exits = Vec::new();
        for node in self.nodes.values_mut() {
            let Some(child) = node.child.as_mut() else {
                continue;
            };
            if let Ok(Some(status)) = child.try_wait() {
                exits.push(format!(
                    "node {} exited on its own ({status}); see node-{}.log",
                    node.id, node.id
                ));
                node.child = None;
                node.paused = false;
            }
        }
        exits
    }

    /// kill -9 of node `id` (no-op when it is down).
    pub fn kill_node(&mut self, id: u64) -> Result<(), ClusterError> {
        let node = self.node(id)?;
        if let Some(mut child) = node.child.take() {
            child.kill()?;
            child.wait()?;
        }
        node.paused = false;
        Ok(())
    }

    /// SIGSTOP (`pause`) or SIGCONT of node `id`'s process.
    pub fn signal_node(&mut self, id: u64, pause: bool) -> Result<(), ClusterError> {
        let Some(pid) = self.pid(id) else {
            return Ok(());
        };
        let signal = if pause {
            Signal::SIGSTOP
        } else {
            Signal::SIGCONT
        };
        kill(pid, signal).map_err(|e| ClusterError::Node {
            node: id,
            reason: format!("{signal}: {e}"),
        })?;
        self.node(id)?.paused = pause;
        Ok(())
    }

    /// True when node `id` is running and not paused.
    pub fn is_up(&self, id: u64) -> bool {
        self.nodes
            .get(&id)
            .is_some_and(|n| n.child.is_some() && !n.paused)
    }

    /// Sets node `id`'s clock offset (absolute).
    pub async fn set_clock_offset(&self, id: u64, offset_ms: i64) -> Result<(), ClusterError> {
        self.admin
            .set_clock_offset_at(self.grpc(id), offset_ms)
            .await?;
        Ok(())
    }

    /// The cluster status as the first node that answers sees it.
    pub async fn status(&self) -> Result<proto::ClusterStatusReply, ClusterError> {
        let mut last = String::from("no node is up");
        for id in self.ids() {
            if !self.is_up(id) {
                continue;
            }
            match self.admin.cluster_status_at(self.grpc(id)).await {
                Ok(status) => return Ok(status),
                Err(e) => last = e.to_string(),
            }
        }
        Err(ClusterError::NotReady(last))
    }

    /// The cluster status as each running, bootstrapped node that answers sees it.
    pub async fn statuses(&self) -> Vec<proto::ClusterStatusReply> {
        let mut statuses = Vec::new();
        for id in self.ids() {
            if !self.is_up(id) {
                continue;
            }
            if let Ok(status) = self.admin.cluster_status_at(self.grpc(id)).await {
                if status.bootstrapped {
                    statuses.push(status);
                }
            }
        }
        statuses
    }

    /// Each group's leader as the running nodes report it (a node knows the leaders of the
    /// groups it holds a replica of); `None` where no running node names one.
    pub async fn leaders(&self) -> BTreeMap<u64, Option<u64>> {
        let mut leaders: BTreeMap<u64, Option<u64>> = BTreeMap::new();
        for status in self.statuses().await {
            for group in &status.groups {
                let known = leaders.entry(group.group).or_default();
                if known.is_none() {
                    *known = group.leader_id;
                }
            }
        }
        leaders
    }

    /// Waits until every group has a leader that is up.
    pub async fn wait_ready(&self, within: Duration) -> Result<(), ClusterError> {
        let deadline = Instant::now() + within;
        loop {
            let leaders = self.leaders().await;
            let led = leaders
                .values()
                .all(|leader| leader.is_some_and(|leader| self.is_up(leader)));
            if leaders.len() > 1 && led {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(ClusterError::NotReady(format!(
                    "not every group had a leader within {within:?}: {leaders:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The leader of `group` as the running nodes report it.
    pub async fn leader_of(&self, group: u64) -> Option<u64> {
        self.leaders().await.get(&group).copied().flatten()
    }

    /// Each data group's replicas (node ids), from the cluster map.
    pub async fn replicas(&self) -> Result<BTreeMap<u64, Vec<u64>>, ClusterError> {
        let status = self.status().await?;
        Ok(status
            .groups
            .iter()
            .map(|g| (g.group, g.replicas.clone()))
            .collect())
    }

    /// Every replica's audit, once every group's replicas have applied the same index (or
    /// `within` has passed: then the audits as they are).
    pub async fn audits(&self, within: Duration) -> Result<Vec<ReplicaAudit>, ClusterError> {
        let replicas = self.replicas().await?;
        let deadline = Instant::now() + within;
        loop {
            let mut audits = Vec::new();
            for (&group, nodes) in &replicas {
                for &node in nodes {
                    match self.admin.audit_replica(self.grpc(node), group).await {
                        Ok(reply) => audits.push(ReplicaAudit {
                            node,
                            group,
                            applied_index: reply.applied_index,
                            state_hash: reply.state_hash,
                            violation: reply.violation,
                        }),
                        Err(e) => tracing::debug!(node, group, "audit: {e}"),
                    }
                }
            }
            let mut by_group: BTreeMap<u64, Vec<(u64, &str)>> = BTreeMap::new();
            for audit in &audits {
                by_group
                    .entry(audit.group)
                    .or_default()
                    .push((audit.applied_index, audit.state_hash.as_str()));
            }
            let converged = replicas.iter().all(|(group, nodes)| {
                by_group.get(group).is_some_and(|seen| {
                    seen.len() == nodes.len() && seen.windows(2).all(|w| w[0] == w[1])
                })
            });
            if converged || Instant::now() > deadline {
                return Ok(audits);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Resumes paused nodes, restarts killed ones and resets every clock offset.
    pub async fn restore(&mut self) -> Result<(), ClusterError> {
        for id in self.ids() {
            self.signal_node(id, false)?;
            self.start_node(id).await?;
        }
        for id in self.ids() {
            if let Err(e) = self.set_clock_offset(id, 0).await {
                tracing::warn!(node = id, "resetting the clock offset: {e}");
            }
        }
        Ok(())
    }

    /// Kills every node (resuming paused ones first so they die at once).
    pub fn teardown(&mut self) {
        for id in self.ids() {
            let _ = self.signal_node(id, false);
            let _ = self.kill_node(id);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.teardown();
    }
}
