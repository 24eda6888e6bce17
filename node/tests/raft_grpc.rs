//! Two Raft groups on three nodes that talk gRPC over real loopback sockets, one channel per peer
//! for both groups: proposals commit in each group, a node crash and restart are survived, every
//! replica of every group converges, and a lagging replica catches up by a streamed snapshot.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use boxoffice_node::raft::log_store::LogStore;
use boxoffice_node::raft::state_machine::StateMachine;
use boxoffice_node::raft::transport::{GroupNetwork, GroupRaft, Groups, PeerChannels, RaftService};
use boxoffice_node::raft::Proposal;
use boxoffice_node::storage::NodeStorage;
use boxoffice_statemachine::{
    fixtures, invariants, snapshot, Action, Command, CustomerId, EventId, Outcome, RequestId,
    Selection,
};
use openraft::{BasicNode, Config, Raft};
use tokio::sync::oneshot;

const GROUPS: [u64; 2] = [1, 2];

/// One node: its RocksDB, its gRPC server, the groups it hosts.
struct Node {
    groups: Groups,
    stop: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
}

struct Cluster {
    config: Arc<Config>,
    dirs: BTreeMap<u64, tempfile::TempDir>,
    addrs: BTreeMap<u64, SocketAddr>,
    nodes: BTreeMap<u64, Node>,
}

impl Cluster {
    async fn start() -> Cluster {
        let config = Config {
            heartbeat_interval: 150,
            election_timeout_min: 600,
            election_timeout_max: 1_200,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(40),
            max_in_snapshot_log_to_keep: 5,
            ..Config::default()
        };
        let mut cluster = Cluster {
            config: Arc::new(config.validate().unwrap()),
            dirs: BTreeMap::new(),
            addrs: BTreeMap::new(),
            nodes: BTreeMap::new(),
        };
        for id in 1..=3 {
            cluster.dirs.insert(id, tempfile::tempdir().unwrap());
            cluster.boot(id).await;
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
        for group in GROUPS {
            cluster
                .raft(1, group)
                .initialize(members.clone())
                .await
                .unwrap();
        }
        cluster
    }

    /// Starts (or restarts, on the same address and database) node `id`.
    async fn boot(&mut self, id: u64) {
        let listen = self
            .addrs
            .get(&id)
            .copied()
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)));
        let incoming = tonic::transport::server::TcpIncoming::bind(listen).unwrap();
        self.addrs.insert(id, incoming.local_addr().unwrap());
        let storage = NodeStorage::open(self.dirs[&id].path()).unwrap();
        let groups = Groups::default();
        let channels = PeerChannels::default();
        for group in GROUPS {
            let raft = Raft::new(
                id,
                self.config.clone(),
                GroupNetwork::new(group, channels.clone()),
                LogStore::new(storage.clone(), group),
                StateMachine::new(storage.clone(), group),
            )
            .await
            .unwrap();
            groups.insert(group, raft);
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let service = RaftService::server(groups.clone());
        let server = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        self.nodes.insert(
            id,
            Node {
                groups,
                stop,
                server,
            },
        );
    }

    async fn crash(&mut self, id: u64) {
        let node = self.nodes.remove(&id).unwrap();
        for (_, raft) in node.groups.all() {
            raft.shutdown().await.unwrap();
        }
        node.stop.send(()).unwrap();
        node.server.await.unwrap();
    }

    fn raft(&self, id: u64, group: u64) -> GroupRaft {
        self.nodes[&id].groups.get(group).unwrap()
    }

    async fn leader(&self, group: u64) -> u64 {
        for _ in 0..200 {
            for id in self.nodes.keys() {
                if let Some(leader) = self.raft(*id, group).current_leader().await {
                    if self.nodes.contains_key(&leader) {
                        return leader;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("group {group} elected no leader within 10 s");
    }

    async fn propose(&self, group: u64, proposal: Proposal) -> Vec<Outcome> {
        for _ in 0..100 {
            let leader = self.leader(group).await;
            match self
                .raft(leader, group)
                .client_write(proposal.clone())
                .await
            {
                Ok(response) => return response.data.outcomes,
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        panic!("the proposal never committed in group {group}");
    }

    /// Waits until every replica of `group` passes the audit with one state hash.
    async fn assert_converged(&self, group: u64) {
        let mut hashes = BTreeSet::new();
        for _ in 0..200 {
            hashes.clear();
            for id in self.nodes.keys() {
                let hash = self
                    .raft(*id, group)
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
        panic!("group {group} did not converge: {hashes:?}");
    }
}

fn command(id: String, at_ms: u64, action: Action) -> Command {
    Command {
        request_id: RequestId::new(id).unwrap(),
        at_ms,
        action,
    }
}

fn ga_hold(event: &str, i: u64) -> Proposal {
    let hold = command(
        format!("{event}-hold-{i}"),
        2_000 + i,
        Action::Hold {
            event: EventId::new(event).unwrap(),
            customer: CustomerId::new(format!("c{i}")).unwrap(),
            selection: Selection::GeneralAdmission {
                area: "Pit".into(),
                quantity: 1,
            },
            ttl_ms: None,
        },
    );
    Proposal {
        commands: vec![hold],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_groups_over_grpc_survive_a_node_restart_and_converge() {
    let mut cluster = Cluster::start().await;
    for (group, event) in [(1, "ev-a"), (2, "ev-b")] {
        let create = command(
            format!("create-{event}"),
            1_000,
            Action::CreateEvent(fixtures::club(event)),
        );
        let outcome = cluster
            .propose(
                group,
                Proposal {
                    commands: vec![create],
                },
            )
            .await;
        assert!(outcome[0].rejection().is_none(), "{outcome:?}");
    }
    // A follower of group 1 goes down while both groups take 60 holds each (snapshots every 40
    // entries, logs purged behind them), then comes back on the same address.
    let leader = cluster.leader(1).await;
    let down = (1..=3).find(|&id| id != leader).unwrap();
    cluster.crash(down).await;
    let mut accepted = BTreeMap::new();
    for i in 0..60 {
        for (group, event) in [(1, "ev-a"), (2, "ev-b")] {
            let outcome = cluster.propose(group, ga_hold(event, i)).await;
            if outcome[0].rejection().is_none() {
                *accepted.entry(group).or_insert(0) += 1;
            }
        }
    }
    assert_eq!(
        accepted,
        BTreeMap::from([(1, 10), (2, 10)]),
        "the Pit has 10 places per event"
    );
    cluster.boot(down).await;
    for (group, event) in [(1, "ev-a"), (2, "ev-b")] {
        cluster.propose(group, ga_hold(event, 1_000)).await;
        cluster.assert_converged(group).await;
    }
}
