//! A running `boxofficed`: the node's RocksDB, its Raft groups (group 0 and the data groups the
//! cluster map gives it), their proposers, expiry sweepers and waiting-room admitters, the
//! reconciler that follows the map (starting the groups it gains, deleting those it gave up), the
//! leader balancer, placement (`crate::placement`), quiescence of idle groups, one gRPC server for
//! Raft traffic and the public API, and the HTTP gateway.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::{BasicNode, Raft, ServerState};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::api::ApiService;
use crate::config::NodeConfig;
use crate::http::Gateway;
use crate::meta::{ClusterMap, MetaCommand, MetaOutcome, NodeAddress, DATA_GROUPS_MAX, META_GROUP};
use crate::raft::admission::{start_admitter, Admitter};
use crate::raft::expiry::{start_sweeper, SweepStats, Sweeper};
use crate::raft::log_store::LogStore;
use crate::raft::proposer::{Clock, Proposer, ProposerLimits, SystemClock};
use crate::raft::quiesce::{self, QuiesceTimings, Quiescence};
use crate::raft::state_machine::{MetaView, StateMachine};
use crate::raft::transport::{GroupNetwork, GroupRaft, Groups, PeerChannels, RaftService};
use crate::raft::Proposal;
use crate::storage::cache::StateCache;
use crate::storage::{GroupId, NodeStorage, StorageError};
use crate::waiting_room::RoomKey;

/// How often the leader of a group sweeps expired holds.
const EXPIRY_SWEEP_EVERY: Duration = Duration::from_millis(250);
/// How often a leader checks whether a group's preferred leader should take over.
const LEADER_BALANCE_EVERY: Duration = Duration::from_secs(2);
/// A replica is handed a leadership only if its log is at most this many entries behind.
const HAND_OVER_LAG_ENTRIES_MAX: u64 = 64;
/// How long bootstrap waits for group 0 to elect a leader.
const BOOTSTRAP_LEADER_WAIT: Duration = Duration::from_secs(10);

/// How often the gRPC server pings a connection, and how long it waits for the answer before it
/// closes the connection.
const GRPC_KEEPALIVE_EVERY: Duration = Duration::from_secs(10);
const GRPC_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a stopping node lets the calls it serves finish. A proposal its group cannot decide
/// (a quorum lost) would keep a graceful stop waiting for ever; past this the calls are dropped
/// and their callers learn nothing (an indeterminate outcome, as with a crash).
const SERVER_DRAIN_MAX: Duration = Duration::from_secs(5);

/// Why a node could not start or stop.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot listen on {addr}: {message}")]
    Listen { addr: SocketAddr, message: String },
    #[error("Raft group {group} failed to start: {message}")]
    Raft { group: GroupId, message: String },
    #[error("the gRPC server failed: {0}")]
    Server(String),
}

/// Why bootstrap did not create the cluster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BootstrapError {
    #[error("the cluster is already bootstrapped")]
    AlreadyBootstrapped,
    #[error("invalid bootstrap: {0}")]
    Invalid(String),
    #[error("group 0 is led by node {leader:?}; bootstrap there")]
    NotLeader { leader: Option<u64> },
    #[error("group 0 elected no leader in time")]
    NoLeader,
    #[error("Raft failed: {0}")]
    Raft(String),
}

/// One hosted data group.
struct DataGroup {
    hosted: Hosted,
    sweeper: JoinHandle<()>,
    admitter: JoinHandle<()>,
}

/// What the API and background tasks use of a hosted data group.
#[derive(Debug, Clone)]
pub struct Hosted {
    pub raft: GroupRaft,
    pub proposer: Proposer,
    /// The applies' read cache: the API only peeks into it (`StateCache::peek_over`).
    pub cache: StateCache,
}

/// What the public API and the background tasks share.
pub struct NodeState {
    pub id: u64,
    pub config: NodeConfig,
    pub storage: NodeStorage,
    /// Every hosted Raft, group 0 included (the transport routes by it).
    pub groups: Groups,
    pub meta: GroupRaft,
    pub meta_view: watch::Receiver<MetaView>,
    pub sweep_stats: Arc<SweepStats>,
    /// Which hosted groups are quiet, and the node beats that vouch for them.
    pub quiescence: Arc<Quiescence>,
    /// The waiting room's secret (ranks and tokens), when configured.
    pub room_key: Option<RoomKey>,
    raft_config: Arc<openraft::Config>,
    pub(crate) channels: PeerChannels,
    data: Mutex<BTreeMap<GroupId, DataGroup>>,
}

impl std::fmt::Debug for NodeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeState").field("id", &self.id).finish()
    }
}

/// A running node; `shutdown` stops it (dropping it stops the server but not the Rafts).
pub struct Node {
    state: Arc<NodeState>,
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    stop: oneshot::Sender<()>,
    server: JoinHandle<Result<(), String>>,
    http_stop: oneshot::Sender<()>,
    http: JoinHandle<std::io::Result<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.state.id)
            .field("grpc", &self.grpc_addr)
            .finish()
    }
}

/// openraft's configuration from ours.
fn raft_config(config: &NodeConfig) -> Result<openraft::Config, NodeError> {
    let timings = &config.raft;
    openraft::Config {
        cluster_name: "boxoffice".into(),
        heartbeat_interval: timings.heartbeat_ms,
        election_timeout_min: timings.election_timeout_min_ms,
        election_timeout_max: timings.election_timeout_max_ms,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(timings.snapshot_after_entries),
        max_in_snapshot_log_to_keep: timings.log_kept_after_snapshot_entries,
        snapshot_max_chunk_size: config.limits.snapshot_chunk_bytes_max as u64,
        ..openraft::Config::default()
    }
    .validate()
    .map_err(|e| NodeError::Raft {
        group: META_GROUP,
        message: e.to_string(),
    })
}

impl Node {
    /// Opens the node's storage, starts group 0 and every data group the stored cluster map gives
    /// this node, and serves gRPC. A new node waits for `bootstrap` (or, later, a join).
    pub async fn start(config: NodeConfig) -> Result<Node, NodeError> {
        let id = config.node_id;
        if config.testing.unsafe_local_reads {
            tracing::warn!(
                node = id,
                "UNSAFE, TEST ONLY: testing.unsafe_local_reads is on: linearizable reads are \
                 answered from this node's replica without a read index or leadership check, and \
                 may be stale while claiming to be linearizable"
            );
        }
        if config.testing.clock_offset_control {
            tracing::warn!(
                node = id,
                "TEST ONLY: testing.clock_offset_control is on: any caller may shift this node's \
                 wall clock with SetClockOffset"
            );
        }
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            NodeError::Storage(StorageError::Flusher(format!(
                "cannot create {}: {e}",
                config.data_dir.display()
            )))
        })?;
        let storage = NodeStorage::open(&config.data_dir.join("db"))?;
        let raft_config = Arc::new(raft_config(&config)?);
        let channels = PeerChannels::default();
        let groups = Groups::default();
        let raft_error = |group: GroupId| {
            move |e: &dyn std::fmt::Display| NodeError::Raft {
                group,
                message: e.to_string(),
            }
        };
        let (meta_machine, meta_view) =
            StateMachine::meta(storage.clone()).map_err(|e| raft_error(META_GROUP)(&e))?;
        let meta = Raft::new(
            id,
            raft_config.clone(),
            GroupNetwork::new(META_GROUP, channels.clone()),
            LogStore::new(storage.clone(), META_GROUP),
            meta_machine,
        )
        .await
        .map_err(|e| raft_error(META_GROUP)(&e))?;
        groups.insert(META_GROUP, meta.clone());
        let timings = &config.raft;
        let quiescence = Arc::new(Quiescence::new(
            id,
            groups.clone(),
            QuiesceTimings {
                enabled: timings.quiesce,
                beat_every: Duration::from_millis(timings.heartbeat_ms),
                beat_fresh_for: Duration::from_millis(timings.election_timeout_min_ms),
                quiesce_after: Duration::from_millis(timings.quiesce_after_ms),
            },
        ));

        let state = Arc::new(NodeState {
            id,
            config: config.clone(),
            storage,
            groups: groups.clone(),
            meta,
            meta_view,
            sweep_stats: Arc::default(),
            quiescence: quiescence.clone(),
            room_key: RoomKey::new(&config.waiting_room.secret),
            raft_config,
            channels,
            data: Mutex::default(),
        });
        state.reconcile().await?;

        let incoming = tonic::transport::server::TcpIncoming::bind(config.grpc_listen)
            .map_err(|e| NodeError::Listen {
                addr: config.grpc_listen,
                message: e.to_string(),
            })?
            // Replies leave at once: with Nagle's algorithm a small reply waits for the
            // caller's delayed ACK (40 ms on Linux), which had set every command's latency.
            .with_nodelay(Some(true));
        let grpc_addr = incoming.local_addr().map_err(|e| NodeError::Listen {
            addr: config.grpc_listen,
            message: e.to_string(),
        })?;
        let (stop, stopped) = oneshot::channel::<()>();
        // A peer's connection carries one replication stream per group it leads here, beside its
        // calls of the moment.
        let grpc_streams_max = u32::try_from(
            config
                .limits
                .in_flight_requests_max
                .saturating_add(DATA_GROUPS_MAX + 1),
        )
        .unwrap_or(u32::MAX);
        let raft_service = RaftService::server(groups, quiescence.clone());
        let api_service = ApiService::server(state.clone());
        let server = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .concurrency_limit_per_connection(config.limits.in_flight_requests_max)
                .max_concurrent_streams(grpc_streams_max)
                // A busy node takes up new calls late, and a peer's timeouts reset some of them
                // before that: past h2's default of 20 such the whole connection would be closed,
                // with every group's heartbeats on it. As many as the streams it may carry.
                .http2_max_pending_accept_reset_streams(Some(grpc_streams_max as usize))
                // A peer cut off by a partition leaves its replication streams open here, idle
                // for good: the pings find the dead connection and close it with its streams.
                .http2_keepalive_interval(Some(GRPC_KEEPALIVE_EVERY))
                .http2_keepalive_timeout(Some(GRPC_KEEPALIVE_TIMEOUT))
                .add_service(raft_service)
                .add_service(api_service)
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                })
                .await
                .map_err(|e| e.to_string())
        });

        let http_listener = tokio::net::TcpListener::bind(config.http_listen)
            .await
            .map_err(|e| NodeError::Listen {
                addr: config.http_listen,
                message: e.to_string(),
            })?;
        let http_addr = http_listener.local_addr().map_err(|e| NodeError::Listen {
            addr: config.http_listen,
            message: e.to_string(),
        })?;
        let own_grpc = config
            .grpc_advertise
            .clone()
            .unwrap_or_else(|| grpc_addr.to_string());
        let gateway = Gateway::new(state.clone(), &own_grpc)
            .map_err(|e| NodeError::Server(format!("cannot start the HTTP gateway: {e}")))?;
        let (http_stop, http_stopped) = oneshot::channel::<()>();
        let http = tokio::spawn(crate::http::serve(
            Arc::new(gateway),
            http_listener,
            async {
                let _ = http_stopped.await;
            },
        ));

        let own_address = NodeAddress {
            grpc: own_grpc,
            http: config
                .http_advertise
                .clone()
                .unwrap_or_else(|| http_addr.to_string()),
        };
        let mut tasks = vec![
            tokio::spawn(reconciler(state.clone())),
            tokio::spawn(leader_balancer(state.clone())),
            tokio::spawn(crate::placement::placement_loop(state.clone())),
            tokio::spawn(quiesce::controller(quiescence.clone())),
            tokio::spawn(quiesce::beater(
                quiescence,
                state.channels.clone(),
                state.meta_view.clone(),
            )),
        ];
        if !config.join.is_empty() {
            tasks.push(tokio::spawn(crate::placement::join(
                state.clone(),
                config.join.clone(),
                own_address,
            )));
        }
        tracing::info!(node = id, grpc = %grpc_addr, http = %http_addr, "node started");
        Ok(Node {
            state,
            grpc_addr,
            http_addr,
            stop,
            server,
            http_stop,
            http,
            tasks,
        })
    }

    /// The address the gRPC server listens on.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The address the HTTP gateway listens on.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// What the node shares with its API.
    pub fn state(&self) -> &Arc<NodeState> {
        &self.state
    }

    /// Stops serving, then stops every Raft group.
    pub async fn shutdown(mut self) -> Result<(), NodeError> {
        for task in &self.tasks {
            task.abort();
        }
        let _ = self.http_stop.send(());
        if let Ok(Err(error)) = self.http.await {
            tracing::warn!(%error, "the HTTP gateway stopped with an error");
        }
        self.state.groups.close_streams();
        let _ = self.stop.send(());
        let served = match tokio::time::timeout(SERVER_DRAIN_MAX, &mut self.server).await {
            Ok(joined) => joined.map_err(|e| NodeError::Server(e.to_string()))?,
            Err(_) => {
                tracing::warn!(
                    waited = ?SERVER_DRAIN_MAX,
                    "calls still in flight (proposals not decided); stopping without them"
                );
                self.server.abort();
                Ok(())
            }
        };
        let groups = std::mem::take(&mut *self.state.lock_data());
        for (_, group) in groups {
            group.sweeper.abort();
            group.admitter.abort();
            let _ = group.hosted.raft.shutdown().await;
        }
        let _ = self.state.meta.shutdown().await;
        served.map_err(NodeError::Server)
    }

    /// Runs until the server fails or `stop` resolves.
    pub async fn serve_until(
        mut self,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<(), NodeError> {
        tokio::select! {
            _ = stop => self.shutdown().await,
            served = &mut self.server => {
                let served = served.map_err(|e| NodeError::Server(e.to_string()))?;
                served.map_err(NodeError::Server)
            }
        }
    }
}

impl NodeState {
    fn lock_data(&self) -> std::sync::MutexGuard<'_, BTreeMap<GroupId, DataGroup>> {
        self.data
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cluster map as this node has applied it.
    pub fn map(&self) -> MetaView {
        self.meta_view.borrow().clone()
    }

    /// The Raft, proposer and read cache of data group `group`, if this node hosts it.
    pub fn data_group(&self, group: GroupId) -> Option<Hosted> {
        self.lock_data().get(&group).map(|g| g.hosted.clone())
    }

    /// Hosted data groups.
    pub fn hosted(&self) -> Vec<GroupId> {
        self.lock_data().keys().copied().collect()
    }

    /// Raft membership of `group` from the map: its replicas with their gRPC addresses.
    fn members(map: &ClusterMap, replicas: &[u64]) -> BTreeMap<u64, BasicNode> {
        replicas
            .iter()
            .filter_map(|id| {
                map.nodes.get(id).map(|address| {
                    (
                        *id,
                        BasicNode {
                            addr: address.grpc.clone(),
                        },
                    )
                })
            })
            .collect()
    }

    /// Starts every data group the map gives this node that is not running yet; a group that was
    /// never initialized is initialized with its replicas (every replica does the same, which
    /// openraft allows for identical memberships), except on a node taking a replica in a move,
    /// which waits as a learner for the leader. Stops and deletes the groups the map no longer
    /// gives this node (their replica moved away: the group's membership without it is committed
    /// before the map records the move done).
    async fn reconcile(self: &Arc<Self>) -> Result<(), NodeError> {
        let view = self.map();
        let retired: Vec<(GroupId, DataGroup)> = {
            let mut data = self.lock_data();
            let gone: Vec<GroupId> = data
                .keys()
                .copied()
                .filter(|g| view.map.groups.get(g).is_none_or(|p| !p.hosted_on(self.id)))
                .collect();
            gone.into_iter()
                .filter_map(|g| data.remove(&g).map(|hosted| (g, hosted)))
                .collect()
        };
        for (group, retiring) in retired {
            retiring.sweeper.abort();
            retiring.admitter.abort();
            self.groups.remove(group);
            let _ = retiring.hosted.raft.shutdown().await;
            self.storage.delete_group(group)?;
            tracing::info!(
                node = self.id,
                group,
                "replica moved away: data group deleted"
            );
        }
        for (group, placement) in view.map.groups_of(self.id) {
            if self.lock_data().contains_key(&group) {
                continue;
            }
            let machine = StateMachine::new(self.storage.clone(), group);
            let cache = machine.cache();
            let raft = Raft::new(
                self.id,
                self.raft_config.clone(),
                GroupNetwork::new(group, self.channels.clone()),
                LogStore::new(self.storage.clone(), group),
                machine,
            )
            .await
            .map_err(|e| NodeError::Raft {
                group,
                message: e.to_string(),
            })?;
            let limits = ProposerLimits {
                batch_bytes_max: self.config.limits.batch_bytes_max,
                ..ProposerLimits::default()
            };
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            let proposer = Proposer::start(raft.clone(), clock.clone(), limits);
            let sweeper = start_sweeper(Sweeper {
                node_id: self.id,
                group,
                raft: raft.clone(),
                state: self.storage.group_state(group),
                proposer: proposer.clone(),
                clock: clock.clone(),
                every: EXPIRY_SWEEP_EVERY,
                stats: self.sweep_stats.clone(),
            });
            let admitter = start_admitter(Admitter {
                node_id: self.id,
                group,
                raft: raft.clone(),
                state: self.storage.group_state(group),
                proposer: proposer.clone(),
                clock,
                every: Duration::from_millis(self.config.waiting_room.admit_every_ms),
            });
            self.groups.insert(group, raft.clone());
            self.lock_data().insert(
                group,
                DataGroup {
                    hosted: Hosted {
                        raft: raft.clone(),
                        proposer,
                        cache,
                    },
                    sweeper,
                    admitter,
                },
            );
            let initialized = raft.is_initialized().await.map_err(|e| NodeError::Raft {
                group,
                message: e.to_string(),
            })?;
            if !initialized && placement.replicas.contains(&self.id) {
                let members = Self::members(&view.map, &placement.replicas);
                // Another replica may have initialized it first; then this one is told NotAllowed
                // and learns the group from its leader.
                if let Err(error) = raft.initialize(members).await {
                    tracing::debug!(group, %error, "group initialized elsewhere");
                }
            }
            tracing::info!(node = self.id, group, "data group started");
        }
        Ok(())
    }

    /// Creates the cluster: initializes group 0 with `nodes` (every node calls this with the same
    /// list or is left pristine), then, as group 0's leader, records the nodes and data groups.
    pub async fn bootstrap(
        &self,
        nodes: BTreeMap<u64, NodeAddress>,
        data_groups: u32,
    ) -> Result<(u64, u32), BootstrapError> {
        if self.map().map.bootstrapped {
            return Err(BootstrapError::AlreadyBootstrapped);
        }
        if !nodes.contains_key(&self.id) {
            return Err(BootstrapError::Invalid(format!(
                "the node list must include this node ({})",
                self.id
            )));
        }
        let raft_error = |e: &dyn std::fmt::Display| BootstrapError::Raft(e.to_string());
        if !self
            .meta
            .is_initialized()
            .await
            .map_err(|e| raft_error(&e))?
        {
            let members = nodes
                .iter()
                .map(|(id, address)| {
                    (
                        *id,
                        BasicNode {
                            addr: address.grpc.clone(),
                        },
                    )
                })
                .collect::<BTreeMap<_, _>>();
            if let Err(error) = self.meta.initialize(members).await {
                tracing::info!(%error, "group 0 was already initialized");
            }
        }
        let leader = self
            .meta
            .wait(Some(BOOTSTRAP_LEADER_WAIT))
            .metrics(|m| m.current_leader.is_some(), "group 0 has a leader")
            .await
            .map_err(|_| BootstrapError::NoLeader)?
            .current_leader;
        if leader != Some(self.id) {
            return Err(BootstrapError::NotLeader { leader });
        }
        let written = self
            .meta
            .client_write(Proposal::Cluster(MetaCommand::Bootstrap {
                nodes,
                data_groups,
            }))
            .await
            .map_err(|e| match e.forward_to_leader() {
                Some(forward) => BootstrapError::NotLeader {
                    leader: forward.leader_id,
                },
                None => BootstrapError::Raft(e.to_string()),
            })?;
        match written.data {
            crate::raft::ProposalOutcomes::Cluster(MetaOutcome::Bootstrapped { data_groups }) => {
                Ok((written.log_id.index, data_groups))
            }
            crate::raft::ProposalOutcomes::Cluster(MetaOutcome::Refused(refusal)) => {
                Err(match refusal {
                    crate::meta::MetaRefusal::AlreadyBootstrapped => {
                        BootstrapError::AlreadyBootstrapped
                    }
                    other => BootstrapError::Invalid(other.to_string()),
                })
            }
            other => Err(BootstrapError::Raft(format!(
                "unexpected outcome {other:?}"
            ))),
        }
    }

    /// Waits until this node's copy of the cluster map has applied `index`, up to `within`.
    pub async fn meta_applied(&self, index: u64, within: Duration) -> bool {
        if self.meta_view.borrow().applied_index >= index {
            return true;
        }
        let mut view = self.meta_view.clone();
        tokio::time::timeout(within, view.wait_for(|v| v.applied_index >= index))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

/// Starts the groups the map gives this node whenever the map changes.
async fn reconciler(state: Arc<NodeState>) {
    let mut view = state.meta_view.clone();
    loop {
        if let Err(error) = state.reconcile().await {
            tracing::error!(%error, "could not start a data group; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        if view.changed().await.is_err() {
            return;
        }
    }
}

/// Hands each group's leadership to its chosen leader (the first replica not draining, see
/// `ClusterMap::leader_choice`) once that replica has caught up, so leaderships stay spread over
/// the nodes as the map placed them and leave draining nodes. Group 0 leaves a draining node for
/// any caught-up voter that is not draining.
async fn leader_balancer(state: Arc<NodeState>) {
    let mut ticker = tokio::time::interval(LEADER_BALANCE_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let view = state.map();
        for (group, placement) in view.map.groups_of(state.id) {
            let Some(chosen) = view.map.leader_choice(placement) else {
                continue;
            };
            if chosen == state.id {
                continue;
            }
            // A replica that is down cannot take over: a transfer to it would only hold up the
            // group's writes until the transfer times out, every round.
            if !state.quiescence.hears(chosen) {
                continue;
            }
            if let Some(Hosted { raft, .. }) = state.data_group(group) {
                hand_over(&raft, group, &[chosen]).await;
            }
        }
        if view.map.draining.contains(&state.id) {
            let others: Vec<u64> = view
                .map
                .nodes
                .keys()
                .copied()
                .filter(|id| {
                    *id != state.id
                        && !view.map.draining.contains(id)
                        && state.quiescence.hears(*id)
                })
                .collect();
            hand_over(&state.meta, META_GROUP, &others).await;
        }
    }
}

/// If this node leads `raft`'s group, transfers the leadership to the first of `to` whose log is
/// within [`HAND_OVER_LAG_ENTRIES_MAX`] of the leader's (under load the leader's log is rarely
/// matched exactly; openraft's target waits for the rest before it stands for election).
async fn hand_over(raft: &GroupRaft, group: GroupId, to: &[u64]) {
    let target = {
        let metrics = crate::raft::metrics(raft);
        if metrics.state != ServerState::Leader {
            return;
        }
        let Some(progress) = metrics.replication.as_ref() else {
            return;
        };
        let last = metrics.last_log_index.unwrap_or(0);
        to.iter().copied().find(|node| {
            progress.get(node).is_some_and(|matched| {
                let matched = matched.as_ref().map_or(0, |l| l.index);
                last.saturating_sub(matched) <= HAND_OVER_LAG_ENTRIES_MAX
            })
        })
    };
    if let Some(target) = target {
        tracing::info!(group, to = target, "handing leadership over");
        // A quiet group's followers may not have heard from this leader since they restarted;
        // the target takes a transfer only from the leader it knows, so make it hear first.
        crate::raft::proposer::renew_write_lease(raft).await;
        let _ = raft.trigger().transfer_leader(target).await;
    }
}
