//! Three openraft nodes, each on its own RocksDB with our log store and state machine, wired by an
//! in-process network: ticketing proposals commit, a leader crash is survived, and the replicas
//! converge to the same state hash. (The gRPC transport and separate processes come next.)
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use boxoffice_node::raft::log_store::LogStore;
use boxoffice_node::raft::state_machine::StateMachine;
use boxoffice_node::raft::{Proposal, TypeConfig};
use boxoffice_node::storage::NodeStorage;
use boxoffice_statemachine::{
    fixtures, invariants, snapshot, Action, Command, CustomerId, EventId, Outcome, RequestId,
    Selection,
};
use openraft::alias::{SnapshotOf, VoteOf};
use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{v2::RaftNetworkV2, RPCOption, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Config, Raft};

type Node = Raft<TypeConfig, StateMachine>;

/// Which nodes are up, shared by every node's network.
#[derive(Clone, Default)]
struct Router {
    nodes: Arc<Mutex<BTreeMap<u64, Node>>>,
}

impl Router {
    fn get(&self, id: u64) -> Option<Node> {
        self.nodes.lock().unwrap().get(&id).cloned()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("node {0} is down")]
struct Down(u64);

struct Peer {
    router: Router,
    target: u64,
}

impl Peer {
    fn node(&self) -> Result<Node, Unreachable<TypeConfig>> {
        self.router
            .get(self.target)
            .ok_or_else(|| Unreachable::new(&Down(self.target)))
    }
}

impl RaftNetworkV2<TypeConfig> for Peer {
    type SnapshotData = Cursor<Vec<u8>>;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let node = self.node()?;
        node.append_entries(rpc)
            .await
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let node = self.node()?;
        node.vote(rpc)
            .await
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<TypeConfig>,
        snapshot: SnapshotOf<TypeConfig, Self::SnapshotData>,
        _cancel: impl std::future::Future<Output = ReplicationClosed> + openraft::OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let node = self.node()?;
        node.install_full_snapshot(vote, snapshot)
            .await
            .map_err(|e| StreamingError::Network(NetworkError::new(&e)))
    }
}

impl RaftNetworkFactory<TypeConfig> for Router {
    type Network = Peer;
    async fn new_client(&mut self, target: u64, _node: &BasicNode) -> Peer {
        Peer {
            router: self.clone(),
            target,
        }
    }
}

struct Cluster {
    router: Router,
    dirs: BTreeMap<u64, tempfile::TempDir>,
    config: Arc<Config>,
}

impl Cluster {
    async fn start(ids: &[u64]) -> Cluster {
        let config = Config {
            heartbeat_interval: 100,
            election_timeout_min: 400,
            election_timeout_max: 800,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(50),
            max_in_snapshot_log_to_keep: 10,
            ..Config::default()
        };
        let mut cluster = Cluster {
            router: Router::default(),
            dirs: BTreeMap::new(),
            config: Arc::new(config.validate().unwrap()),
        };
        for &id in ids {
            cluster.dirs.insert(id, tempfile::tempdir().unwrap());
            cluster.boot(id).await;
        }
        let members: BTreeMap<u64, BasicNode> =
            ids.iter().map(|&id| (id, BasicNode::default())).collect();
        cluster
            .router
            .get(ids[0])
            .unwrap()
            .initialize(members)
            .await
            .unwrap();
        cluster
    }

    /// Starts (or restarts) node `id` on its database.
    async fn boot(&mut self, id: u64) {
        let storage = NodeStorage::open(self.dirs[&id].path()).unwrap();
        let raft = Raft::new(
            id,
            self.config.clone(),
            self.router.clone(),
            LogStore::new(storage.clone(), 1),
            StateMachine::new(storage, 1),
        )
        .await
        .unwrap();
        self.router.nodes.lock().unwrap().insert(id, raft);
    }

    async fn crash(&mut self, id: u64) {
        let node = self.router.nodes.lock().unwrap().remove(&id).unwrap();
        node.shutdown().await.unwrap();
    }

    async fn leader(&self) -> u64 {
        for _ in 0..100 {
            let any = self
                .router
                .nodes
                .lock()
                .unwrap()
                .values()
                .next()
                .cloned()
                .unwrap();
            if let Some(leader) = any.current_leader().await {
                if self.router.get(leader).is_some() {
                    return leader;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no leader elected within 5 s");
    }

    /// Proposes through the current leader, retrying the same commands across a leader change.
    async fn propose(&self, proposal: Proposal) -> Vec<Outcome> {
        for _ in 0..50 {
            let leader = self.router.get(self.leader().await).unwrap();
            match leader.client_write(proposal.clone()).await {
                Ok(response) => return response.data.outcomes,
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        panic!("the proposal never committed");
    }
}

fn command(id: String, at_ms: u64, action: Action) -> Command {
    Command {
        request_id: RequestId::new(id).unwrap(),
        at_ms,
        action,
    }
}

fn ga_hold(i: u64) -> Command {
    command(
        format!("hold-{i}"),
        2_000 + i,
        Action::Hold {
            event: EventId::new("club").unwrap(),
            customer: CustomerId::new(format!("c{i}")).unwrap(),
            selection: Selection::GeneralAdmission {
                area: "Pit".into(),
                quantity: 1,
            },
            ttl_ms: None,
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_commit_survive_a_leader_crash_and_converge() {
    let mut cluster = Cluster::start(&[1, 2, 3]).await;
    let create = command(
        "create".into(),
        1_000,
        Action::CreateEvent(fixtures::club("club")),
    );
    let outcomes = cluster
        .propose(Proposal {
            commands: vec![create],
        })
        .await;
    assert!(outcomes[0].rejection().is_none(), "{outcomes:?}");

    // 6 holds before the crash, 12 after: the Pit has 10 places, so exactly 10 are accepted, and
    // retries of a proposal across the leader change act once (same request ids).
    let mut accepted = BTreeSet::new();
    for i in 0..6 {
        let outcome = cluster
            .propose(Proposal {
                commands: vec![ga_hold(i)],
            })
            .await;
        if outcome[0].rejection().is_none() {
            accepted.insert(i);
        }
    }
    let old_leader = cluster.leader().await;
    cluster.crash(old_leader).await;
    for i in 6..18 {
        let outcome = cluster
            .propose(Proposal {
                commands: vec![ga_hold(i)],
            })
            .await;
        if outcome[0].rejection().is_none() {
            accepted.insert(i);
        }
    }
    assert_eq!(accepted.len(), 10, "accepted holds: {accepted:?}");
    assert_ne!(cluster.leader().await, old_leader);

    // The crashed node comes back, catches up (by log or snapshot), and every replica agrees.
    cluster.boot(old_leader).await;
    let marker = cluster
        .propose(Proposal {
            commands: vec![ga_hold(100)],
        })
        .await;
    assert_eq!(
        marker[0].rejection().map(|r| r.code()),
        Some("INSUFFICIENT_INVENTORY")
    );
    assert_converged(&cluster).await;
}

/// Waits until every live replica passes the invariant audit with the same state hash.
async fn assert_converged(cluster: &Cluster) {
    let mut hashes = BTreeSet::new();
    for _ in 0..100 {
        hashes.clear();
        let nodes: Vec<Node> = cluster
            .router
            .nodes
            .lock()
            .unwrap()
            .values()
            .cloned()
            .collect();
        for node in nodes {
            let hash = node
                .with_state_machine(|sm: &mut StateMachine| {
                    Box::pin(async move {
                        invariants::check(sm.state()).unwrap();
                        snapshot::state_hash(sm.state()).unwrap()
                    })
                })
                .await
                .unwrap();
            hashes.insert(hash);
        }
        if hashes.len() == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("replicas did not converge: {hashes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_missed_purged_logs_catches_up_by_snapshot() {
    let mut cluster = Cluster::start(&[1, 2, 3]).await;
    let create = command(
        "create".into(),
        1_000,
        Action::CreateEvent(fixtures::club("club")),
    );
    cluster
        .propose(Proposal {
            commands: vec![create],
        })
        .await;
    let leader = cluster.leader().await;
    let follower = [1, 2, 3].into_iter().find(|&id| id != leader).unwrap();
    cluster.crash(follower).await;
    // 200 entries: several snapshots (every 50) and the logs behind them purged.
    for i in 0..200 {
        cluster
            .propose(Proposal {
                commands: vec![ga_hold(i)],
            })
            .await;
    }
    let snapshot_taken = cluster
        .router
        .get(leader)
        .unwrap()
        .with_state_machine(|sm: &mut StateMachine| {
            Box::pin(async move {
                use openraft::storage::RaftStateMachine;
                sm.get_current_snapshot().await.unwrap().is_some()
            })
        })
        .await
        .unwrap();
    assert!(snapshot_taken, "the leader built a snapshot");
    cluster.boot(follower).await;
    cluster
        .propose(Proposal {
            commands: vec![ga_hold(1_000)],
        })
        .await;
    assert_converged(&cluster).await;
}
