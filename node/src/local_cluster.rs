//! A cluster of nodes inside one process, each with its own RocksDB and its own gRPC server on a
//! loopback port, hosting the same Raft groups: for integration tests, examples and measurements
//! until `boxofficed` runs as separate processes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use boxoffice_statemachine::{invariants, snapshot, Outcome};
use openraft::{BasicNode, Config, Raft};
use tokio::sync::oneshot;

use crate::raft::log_store::LogStore;
use crate::raft::quiesce::{QuiesceTimings, Quiescence};
use crate::raft::state_machine::StateMachine;
use crate::raft::transport::{GroupNetwork, GroupRaft, Groups, PeerChannels, RaftService};
use crate::raft::Proposal;
use crate::storage::{GroupId, NodeStorage};

/// Why the local cluster could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum LocalClusterError {
    #[error("{0}")]
    Setup(String),
    #[error("no leader for group {0} in time")]
    NoLeader(GroupId),
    #[error("group {group} did not converge: {hashes} different states")]
    Diverged { group: GroupId, hashes: usize },
    #[error("the proposal to group {0} never committed")]
    NotCommitted(GroupId),
}

fn setup(error: impl std::fmt::Display) -> LocalClusterError {
    LocalClusterError::Setup(error.to_string())
}

struct Node {
    groups: Groups,
    stop: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
}

/// Nodes `1..=n`, each hosting every group of `groups`.
pub struct LocalCluster {
    config: Arc<Config>,
    groups: Vec<GroupId>,
    dirs: BTreeMap<u64, tempfile::TempDir>,
    addrs: BTreeMap<u64, SocketAddr>,
    nodes: BTreeMap<u64, Node>,
}

impl std::fmt::Debug for LocalCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCluster")
            .field("addrs", &self.addrs)
            .field("groups", &self.groups)
            .finish()
    }
}

impl LocalCluster {
    /// Starts `nodes` nodes hosting `groups`, and initializes every group with all nodes as voters.
    pub async fn start(
        nodes: u64,
        groups: Vec<GroupId>,
        config: Config,
    ) -> Result<LocalCluster, LocalClusterError> {
        let mut cluster = LocalCluster {
            config: Arc::new(config.validate().map_err(setup)?),
            groups,
            dirs: BTreeMap::new(),
            addrs: BTreeMap::new(),
            nodes: BTreeMap::new(),
        };
        for id in 1..=nodes {
            cluster.dirs.insert(id, tempfile::tempdir().map_err(setup)?);
            cluster.boot(id).await?;
        }
        let members: BTreeMap<u64, BasicNode> = cluster
            .addrs
            .iter()
            .map(|(&id, addr)| {
                (
                    id,
                    BasicNode {
                        addr: addr.to_string(),
                    },
                )
            })
            .collect();
        for &group in &cluster.groups {
            cluster
                .raft(1, group)?
                .initialize(members.clone())
                .await
                .map_err(setup)?;
        }
        Ok(cluster)
    }

    /// Starts (or restarts, on the same address and database) node `id`.
    pub async fn boot(&mut self, id: u64) -> Result<(), LocalClusterError> {
        let listen = self
            .addrs
            .get(&id)
            .copied()
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)));
        let incoming = tonic::transport::server::TcpIncoming::bind(listen)
            .map_err(setup)?
            .with_nodelay(Some(true));
        self.addrs.insert(id, incoming.local_addr().map_err(setup)?);
        let dir = self
            .dirs
            .get(&id)
            .ok_or_else(|| setup(format!("node {id} has no directory")))?;
        let storage = NodeStorage::open(dir.path()).map_err(setup)?;
        let groups = Groups::default();
        let channels = PeerChannels::default();
        for &group in &self.groups {
            let raft = Raft::new(
                id,
                self.config.clone(),
                GroupNetwork::new(group, channels.clone()),
                LogStore::new(storage.clone(), group),
                StateMachine::new(storage.clone(), group),
            )
            .await
            .map_err(setup)?;
            groups.insert(group, raft);
        }
        let (stop, stopped) = oneshot::channel::<()>();
        // No controller runs here: groups tick as plain openraft groups do.
        let quiescence = QuiesceTimings {
            enabled: false,
            beat_every: Duration::from_millis(self.config.heartbeat_interval),
            beat_fresh_for: Duration::from_millis(self.config.election_timeout_min),
            quiesce_after: Duration::MAX,
        };
        let quiescence = Arc::new(Quiescence::new(id, groups.clone(), quiescence));
        let service = RaftService::server(groups.clone(), quiescence);
        let server = tokio::spawn(async move {
            let serving = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                });
            if let Err(error) = serving.await {
                eprintln!("local cluster node {id}: gRPC server failed: {error}");
            }
        });
        self.nodes.insert(
            id,
            Node {
                groups,
                stop,
                server,
            },
        );
        Ok(())
    }

    /// Stops node `id` abruptly: its Rafts and its server, keeping its database for a restart.
    pub async fn crash(&mut self, id: u64) -> Result<(), LocalClusterError> {
        let node = self
            .nodes
            .remove(&id)
            .ok_or_else(|| setup(format!("node {id} is not running")))?;
        for (_, raft) in node.groups.all() {
            raft.shutdown().await.map_err(setup)?;
        }
        node.groups.close_streams();
        let _ = node.stop.send(());
        node.server.await.map_err(setup)?;
        Ok(())
    }

    /// The running nodes.
    pub fn running(&self) -> Vec<u64> {
        self.nodes.keys().copied().collect()
    }

    /// Node `id`'s Raft of `group`.
    pub fn raft(&self, id: u64, group: GroupId) -> Result<GroupRaft, LocalClusterError> {
        self.nodes
            .get(&id)
            .and_then(|node| node.groups.get(group))
            .ok_or_else(|| setup(format!("node {id} does not run group {group}")))
    }

    /// The running leader of `group`, waiting up to 10 s for one.
    pub async fn leader(&self, group: GroupId) -> Result<u64, LocalClusterError> {
        for _ in 0..200 {
            for &id in self.nodes.keys() {
                if let Some(leader) = self.raft(id, group)?.current_leader().await {
                    if self.nodes.contains_key(&leader) {
                        return Ok(leader);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(LocalClusterError::NoLeader(group))
    }

    /// Proposes through the current leader, retrying the same commands (same request ids) across
    /// leader changes, as a client would.
    pub async fn propose(
        &self,
        group: GroupId,
        proposal: Proposal,
    ) -> Result<Vec<Outcome>, LocalClusterError> {
        for _ in 0..100 {
            let leader = self.leader(group).await?;
            match self
                .raft(leader, group)?
                .client_write(proposal.clone())
                .await
            {
                Ok(response) => return Ok(response.data.into_tickets()),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        Err(LocalClusterError::NotCommitted(group))
    }

    /// Waits up to 10 s until every running replica of `group` passes the invariant audit with one
    /// state hash (which covers the Raft applied index too); returns the hash and the audit.
    pub async fn converged(
        &self,
        group: GroupId,
    ) -> Result<(u128, invariants::Audit), LocalClusterError> {
        let mut hashes = BTreeSet::new();
        let mut last_audit = invariants::Audit::default();
        for _ in 0..200 {
            hashes.clear();
            for &id in self.nodes.keys() {
                let hash = self
                    .raft(id, group)?
                    .with_state_machine(|sm: &mut StateMachine| {
                        Box::pin(async move {
                            let audit = invariants::check(sm.state()).map_err(|v| v.to_string());
                            (
                                audit,
                                snapshot::state_hash(sm.state()).map_err(|e| e.to_string()),
                            )
                        })
                    })
                    .await
                    .map_err(setup)?;
                match hash {
                    (Ok(audit), Ok(hash)) => {
                        hashes.insert(hash);
                        last_audit = audit;
                    }
                    (Err(violation), _) => {
                        return Err(setup(format!("node {id} group {group}: {violation}")))
                    }
                    (_, Err(error)) => return Err(setup(error)),
                }
            }
            if hashes.len() == 1 {
                return Ok((hashes.into_iter().next().unwrap_or_default(), last_audit));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(LocalClusterError::Diverged {
            group,
            hashes: hashes.len(),
        })
    }

    /// Stops every node.
    pub async fn shutdown(mut self) -> Result<(), LocalClusterError> {
        for id in self.running() {
            self.crash(id).await?;
        }
        Ok(())
    }
}
