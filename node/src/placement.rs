//! Growing and shrinking a live cluster: cluster-map writes from any node (sent on to group 0's
//! leader), the placement steward on group 0's leader (group 0's own membership, the planned
//! replica moves, forgetting emptied nodes), the replica mover on each data group's leader, and a
//! new node's join.
//!
//! A replica move (`crate::meta::ReplicaMove`) is recorded in the map by the steward, then carried
//! out by the group's leader: the new replica joins as a learner and catches up (by snapshot when
//! the log was purged), one membership change puts it in the old one's place, and the leader
//! records the move done in the map. Every step can be repeated after a crash or a change of
//! leader: the next leader finds the move in the map and the membership where it was left. The
//! old replica's node sees the group gone from its share of the map and deletes its copy
//! (`NodeState::reconcile`). A node giving a replica up never carries the move out itself: the
//! leader balancer first hands the group to another replica (`ClusterMap::leader_choice`).
//!
//! Group 0's voters are the first [`META_VOTERS_MAX`] nodes that stay (current voters first); every
//! other node follows the map as a learner. A removing node leaves group 0 once the map forgets it.
//!
//! An event moving to a group of its own (`crate::meta::EventMove`) is moved by the leader of its
//! old group: it seals the event there (every later command on it is `EVENT_MOVED`), exports it
//! from its own replica, has the new group's leader import it (`ProposeCommand` on the Raft
//! transport), has the map route the event to the new group, drops the old copy and ends the move.
//! Each step has a request id of its own derived from the move, so a new leader that repeats a
//! step gets the first outcome.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use boxoffice_client::{proto, Client, ClientOptions};
use boxoffice_statemachine::relocate::export_event;
use boxoffice_statemachine::{
    query, Action, Command, Effect, EventId, Outcome, Rejection, RequestId,
};
use openraft::{BasicNode, ChangeMembers};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use crate::meta::{
    ClusterMap, EventMove, MetaCommand, MetaOutcome, NodeAddress, ReplicaMove, META_GROUP,
};
use crate::node::{Hosted, NodeState};
use crate::raft::proposer::{renew_write_lease, Clock, SystemClock};
use crate::raft::transport::pb::raft_transport_client::RaftTransportClient;
use crate::raft::transport::GroupRaft;
use crate::raft::{decode, encode, Proposal, ProposalOutcomes};
use crate::storage::GroupId;

/// How often each node looks for placement work (moves to carry out, steward duties).
const PLACEMENT_EVERY: Duration = Duration::from_millis(500);
/// How long a new replica may take to catch up before its move is tried again.
const MOVE_CATCH_UP_WAIT_MAX: Duration = Duration::from_secs(120);
/// Voters of group 0; the other nodes follow the cluster map as learners.
pub const META_VOTERS_MAX: usize = 5;
/// A learner of group 0 becomes a voter once its log is within this many entries of the leader's.
const PROMOTE_LAG_ENTRIES_MAX: u64 = 64;
/// A map write is sent towards group 0's leader at most this many times.
const MAP_WRITE_ATTEMPTS_MAX: u32 = 10;
/// Pause between map write attempts while group 0 elects a leader.
const MAP_WRITE_RETRY_AFTER: Duration = Duration::from_millis(200);
/// How long a proposal sent to another node's replica may take to be decided there: an event's
/// import (up to `EVENT_MOVE_BYTES_MAX` in one entry) included. Past it the step is tried again.
const PEER_PROPOSAL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a joining node waits between attempts to add itself.
const JOIN_RETRY_EVERY: Duration = Duration::from_secs(1);
/// How long a joining node waits for the map to reach it after it was added.
const JOIN_MAP_WAIT: Duration = Duration::from_secs(10);

/// Why a placement step did not happen (it is tried again on the next round).
#[derive(Debug, thiserror::Error)]
pub enum PlacementError {
    #[error("group 0 has no reachable leader: {0}")]
    NoLeader(String),
    #[error("the cluster map refused {command:?}: {reason}")]
    Refused {
        command: MetaCommand,
        reason: String,
    },
    #[error("group {group}: {message}")]
    Raft { group: GroupId, message: String },
}

/// The answer to a cluster-map change sent to a node.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum MapWrite {
    /// Applied by group 0 at `index`.
    Done { outcome: MetaOutcome, index: u64 },
    /// This node does not lead group 0; `leader` does, if known.
    NotLeader { leader: Option<u64> },
}

/// The answer to a ticketing command sent to a group's leader.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum CommandAnswer {
    Decided(Outcome),
    /// This node does not lead the group; `leader` does, if known.
    NotLeader {
        leader: Option<u64>,
    },
}

/// Proposes one ticketing command through this node's replica of its group (which must lead to
/// apply it), stamped with this node's clock.
pub(crate) async fn propose_here(
    raft: &GroupRaft,
    request_id: RequestId,
    action: Action,
) -> Result<CommandAnswer, String> {
    renew_write_lease(raft).await;
    let command = Command {
        request_id,
        at_ms: SystemClock.now_ms(),
        action,
    };
    match raft.client_write(Proposal::tickets(&[command])).await {
        Ok(written) => written
            .data
            .into_tickets()
            .into_iter()
            .next()
            .map(CommandAnswer::Decided)
            .ok_or_else(|| "the group answered no outcome".to_string()),
        Err(error) => match error.forward_to_leader() {
            Some(forward) => Ok(CommandAnswer::NotLeader {
                leader: forward.leader_id,
            }),
            None => Err(error.to_string()),
        },
    }
}

/// Proposes `command` through this node's replica of group 0 (which must lead to apply it).
pub(crate) async fn write_here(meta: &GroupRaft, command: MetaCommand) -> Result<MapWrite, String> {
    // Group 0 is usually quiet: its leader's write lease has lapsed (see the proposer).
    renew_write_lease(meta).await;
    match meta.client_write(Proposal::Cluster(command)).await {
        Ok(written) => match written.data {
            ProposalOutcomes::Cluster(outcome) => Ok(MapWrite::Done {
                outcome,
                index: written.log_id.index,
            }),
            other => Err(format!("group 0 answered {other:?}")),
        },
        Err(error) => match error.forward_to_leader() {
            Some(forward) => Ok(MapWrite::NotLeader {
                leader: forward.leader_id,
            }),
            None => Err(error.to_string()),
        },
    }
}

impl NodeState {
    /// Applies `command` to the cluster map through group 0's leader, wherever it is. A refusal
    /// is an error here: the placement code only sends changes it expects to fit.
    pub async fn write_map(
        &self,
        command: MetaCommand,
    ) -> Result<(MetaOutcome, u64), PlacementError> {
        let mut last_error = String::from("no attempt");
        for _ in 0..MAP_WRITE_ATTEMPTS_MAX {
            let leader = crate::raft::known_leader(&self.meta);
            let answer = match leader {
                Some(leader) if leader == self.id => write_here(&self.meta, command.clone()).await,
                Some(leader) => self.write_map_at(leader, &command).await,
                None => Err("group 0 has no leader".to_string()),
            };
            match answer {
                Ok(MapWrite::Done {
                    outcome: MetaOutcome::Refused(refusal),
                    ..
                }) => {
                    return Err(PlacementError::Refused {
                        command,
                        reason: refusal.to_string(),
                    })
                }
                Ok(MapWrite::Done { outcome, index }) => return Ok((outcome, index)),
                Ok(MapWrite::NotLeader { leader }) => {
                    last_error = format!("sent to a node that does not lead (leader {leader:?})");
                }
                Err(error) => last_error = error,
            }
            tokio::time::sleep(MAP_WRITE_RETRY_AFTER).await;
        }
        Err(PlacementError::NoLeader(last_error))
    }

    /// Decides one ticketing command on `group`'s leader, wherever it is (for an event moving in).
    pub async fn propose_in(
        &self,
        group: GroupId,
        request_id: RequestId,
        action: Action,
    ) -> Result<Outcome, PlacementError> {
        let mut target: Option<u64> = None;
        let mut last_error = String::from("no attempt");
        for attempt in 0..MAP_WRITE_ATTEMPTS_MAX {
            let map = self.map().map;
            let replicas = map
                .groups
                .get(&group)
                .map(|g| g.replicas.clone())
                .unwrap_or_default();
            let known = self
                .data_group(group)
                .and_then(|hosted| crate::raft::known_leader(&hosted.raft));
            let node = target.take().or(known).or_else(|| {
                replicas
                    .get(attempt as usize % replicas.len().max(1))
                    .copied()
            });
            let answer = match node {
                Some(node) if node == self.id => match self.data_group(group) {
                    Some(Hosted { raft, .. }) => {
                        propose_here(&raft, request_id.clone(), action.clone()).await
                    }
                    None => Err(format!("group {group} is not running here yet")),
                },
                Some(node) => self.propose_at(node, group, &request_id, &action).await,
                None => Err(format!("group {group} has no replicas in the map")),
            };
            match answer {
                Ok(CommandAnswer::Decided(outcome)) => return Ok(outcome),
                Ok(CommandAnswer::NotLeader { leader }) => {
                    target = leader;
                    last_error = format!("sent to a node that does not lead (leader {leader:?})");
                }
                Err(error) => last_error = error,
            }
            tokio::time::sleep(MAP_WRITE_RETRY_AFTER).await;
        }
        Err(PlacementError::Raft {
            group,
            message: last_error,
        })
    }

    /// The Raft transport client of node `node`, at its address in the map.
    fn peer(&self, node: u64) -> Result<RaftTransportClient<Channel>, String> {
        let address = self
            .map()
            .map
            .nodes
            .get(&node)
            .map(|a| a.grpc.clone())
            .ok_or_else(|| format!("node {node} is not in the map"))?;
        self.channels.client(&address)
    }

    /// Sends one ticketing command for `group` to node `node`.
    async fn propose_at(
        &self,
        node: u64,
        group: GroupId,
        request_id: &RequestId,
        action: &Action,
    ) -> Result<CommandAnswer, String> {
        let mut request = tonic::Request::new(crate::raft::transport::pb::RaftMessage {
            group,
            payload: encode(&(request_id, action)),
        });
        request.set_timeout(PEER_PROPOSAL_TIMEOUT);
        let reply = self
            .peer(node)?
            .propose_command(request)
            .await
            .map_err(|status| status.message().to_string())?;
        decode(&reply.into_inner().payload).map_err(|e| e.to_string())
    }

    /// Sends `command` to node `leader` (by its address in the map).
    async fn write_map_at(&self, leader: u64, command: &MetaCommand) -> Result<MapWrite, String> {
        let mut request = tonic::Request::new(crate::raft::transport::pb::RaftMessage {
            group: META_GROUP,
            payload: encode(command),
        });
        request.set_timeout(PEER_PROPOSAL_TIMEOUT);
        let reply = self
            .peer(leader)?
            .change_cluster_map(request)
            .await
            .map_err(|status| status.message().to_string())?;
        decode(&reply.into_inner().payload).map_err(|e| e.to_string())
    }
}

/// Each node's placement work, every [`PLACEMENT_EVERY`]: carries out the moves of the data groups
/// it leads, and, while it leads group 0, the steward's duties.
pub(crate) async fn placement_loop(state: Arc<NodeState>) {
    let mut moving: BTreeMap<GroupId, JoinHandle<()>> = BTreeMap::new();
    let mut moving_events: BTreeMap<EventId, JoinHandle<()>> = BTreeMap::new();
    let mut ticker = tokio::time::interval(PLACEMENT_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let view = state.map();
        if !view.map.bootstrapped {
            continue;
        }
        moving.retain(|_, task| !task.is_finished());
        moving_events.retain(|_, task| !task.is_finished());
        for (event, change) in &view.map.event_moves {
            if moving_events.contains_key(event) {
                continue;
            }
            let Some(Hosted { raft, .. }) = state.data_group(change.from) else {
                continue;
            };
            if !crate::raft::leads(&raft) {
                continue;
            }
            let (state, event, change) = (state.clone(), event.clone(), change.clone());
            let key = event.clone();
            let task = tokio::spawn(async move {
                if let Err(error) = move_event(&state, &raft, &event, &change).await {
                    tracing::warn!(%error, %event, ?change, "event move not finished; trying again");
                }
            });
            moving_events.insert(key, task);
        }
        for (group, placement) in view.map.groups_of(state.id) {
            let Some(change) = placement.moving else {
                continue;
            };
            if change.from == state.id || moving.contains_key(&group) {
                continue;
            }
            let Some(Hosted { raft, .. }) = state.data_group(group) else {
                continue;
            };
            if !crate::raft::leads(&raft) {
                continue;
            }
            let (state, map) = (state.clone(), view.map.clone());
            let task = tokio::spawn(async move {
                if let Err(error) = carry_out(&state, &raft, &map, change).await {
                    tracing::warn!(%error, ?change, "replica move not finished; trying again");
                }
            });
            moving.insert(group, task);
        }
        if crate::raft::leads(&state.meta) {
            if let Err(error) = steward(&state, &view.map).await {
                tracing::warn!(%error, "placement step not taken; trying again");
            }
        }
    }
}

/// Moves `event` out of the group `raft` leads into `change.to`: seal, export, import, route, drop,
/// forget; each step repeatable.
async fn move_event(
    state: &NodeState,
    raft: &GroupRaft,
    event: &EventId,
    change: &EventMove,
) -> Result<(), PlacementError> {
    let from = change.from;
    let raft_error = |group: GroupId, message: String| PlacementError::Raft { group, message };
    let step = |name: &str| {
        RequestId::new(format!("move:{event}:{}:{name}", change.to))
            .map_err(|e| raft_error(from, format!("no request id for the move: {e}")))
    };
    let decided_here = |answer: Result<CommandAnswer, String>| match answer {
        Ok(CommandAnswer::Decided(outcome)) => Ok(outcome),
        Ok(CommandAnswer::NotLeader { .. }) => Err(raft_error(
            from,
            "this node no longer leads the group".into(),
        )),
        Err(message) => Err(raft_error(from, message)),
    };
    if !change.routed {
        // The new group must have elected a leader that commits before the event stops taking
        // commands here: an expiry sweep there (it holds nothing yet) is a harmless probe.
        state
            .propose_in(change.to, step("ready")?, Action::Expire { holds_max: 1 })
            .await?;
        let sealed = decided_here(
            propose_here(
                raft,
                step("seal")?,
                Action::SealEvent {
                    event: event.clone(),
                },
            )
            .await,
        )?;
        expect_accepted(from, "seal", &sealed)?;
        let store = state.storage.group_state(from);
        let export = crate::raft::whole_state_work(|| export_event(&store, event))
            .map_err(|e| raft_error(from, format!("cannot export {event}: {e}")))?;
        let seats = query::event(&store.reader(), event, export.state_time_ms)
            .map_err(|e| raft_error(from, format!("cannot read {event}: {e}")))?
            .map_or(0, |view| view.counts.total());
        tracing::info!(%event, records = export.records.len(), bytes = export.bytes(), ?change, "event sealed and exported");
        // Each export is an import of its own: a later one differs (the old group's state time
        // moves and it forgets outcomes past their retention), so a retry under the first one's
        // request id would be refused as a reuse for ever. A retry after an import that landed
        // finds the event there.
        let import = step(&format!("import:{:016x}", export.fingerprint()))?;
        let imported = state
            .propose_in(change.to, import, Action::ImportEvent(export))
            .await?;
        if !matches!(imported, Outcome::Rejected(Rejection::EventExists)) {
            expect_accepted(change.to, "import", &imported)?;
        }
        state
            .write_map(MetaCommand::RouteEventMove {
                event: event.clone(),
                seats,
            })
            .await?;
        tracing::info!(%event, ?change, "event imported; its commands go to its new group");
    }
    let dropped = decided_here(
        propose_here(
            raft,
            step("drop")?,
            Action::DropEvent {
                event: event.clone(),
            },
        )
        .await,
    )?;
    expect_accepted(from, "drop", &dropped)?;
    state
        .write_map(MetaCommand::ForgetEventMove {
            event: event.clone(),
        })
        .await?;
    tracing::info!(%event, ?change, "event moved: its old copy is dropped");
    Ok(())
}

/// Refuses an outcome other than an accepted one (a step of a move the state machine refused).
fn expect_accepted(group: GroupId, step: &str, outcome: &Outcome) -> Result<(), PlacementError> {
    match outcome {
        Outcome::Accepted(
            Effect::EventSealed { .. } | Effect::EventImported { .. } | Effect::EventDropped { .. },
        ) => Ok(()),
        other => Err(PlacementError::Raft {
            group,
            message: format!("the event move's {step} was answered {other:?}"),
        }),
    }
}

/// Carries out `change` as the leader of its group: learner, caught up, one membership change,
/// then the map records it done.
async fn carry_out(
    state: &NodeState,
    raft: &GroupRaft,
    map: &ClusterMap,
    change: ReplicaMove,
) -> Result<(), PlacementError> {
    let group = change.group;
    let raft_error = |message: String| PlacementError::Raft { group, message };
    let Some(placement) = map.groups.get(&group) else {
        return Ok(());
    };
    let voters: BTreeSet<u64> = placement
        .replicas
        .iter()
        .map(|&node| if node == change.from { change.to } else { node })
        .collect();
    let membership = crate::raft::metrics(raft).membership_config.clone();
    let done = membership.membership().get_joint_config().as_slice() == [voters.clone()];
    if !done {
        let address = map
            .nodes
            .get(&change.to)
            .ok_or_else(|| raft_error(format!("node {} is not in the map", change.to)))?;
        tracing::info!(
            ?change,
            "replica move: the new replica catches up as a learner"
        );
        let learner = BasicNode {
            addr: address.grpc.clone(),
        };
        // A quiet group's leader must hear from a quorum again before it may change anything.
        renew_write_lease(raft).await;
        tokio::time::timeout(
            MOVE_CATCH_UP_WAIT_MAX,
            raft.add_learner(change.to, learner, true),
        )
        .await
        .map_err(|_| raft_error(format!("node {} did not catch up in time", change.to)))?
        .map_err(|e| raft_error(e.to_string()))?;
        tracing::info!(
            ?change,
            ?voters,
            "replica move: the new replica becomes a voter"
        );
        renew_write_lease(raft).await;
        raft.change_membership(voters, false)
            .await
            .map_err(|e| raft_error(e.to_string()))?;
    }
    state.write_map(MetaCommand::FinishMove(change)).await?;
    tracing::info!(?change, "replica move done");
    Ok(())
}

/// Group 0's leader: keeps group 0's membership in step with the map's nodes, forgets removed
/// nodes that hold nothing any more, and records the next replica moves. One change a round.
async fn steward(state: &NodeState, map: &ClusterMap) -> Result<(), PlacementError> {
    if map.removing.contains(&state.id) {
        // It is handing group 0 over (draining); the next leader takes the duties on.
        return Ok(());
    }
    let raft_error = |e: &dyn std::fmt::Display| PlacementError::Raft {
        group: META_GROUP,
        message: e.to_string(),
    };
    let metrics = crate::raft::metrics(&state.meta);
    let membership = metrics.membership_config.membership().clone();
    if membership.get_joint_config().len() > 1 {
        return Ok(());
    }
    let voters: BTreeSet<u64> = membership.voter_ids().collect();
    let members: BTreeSet<u64> = membership.nodes().map(|(id, _)| *id).collect();

    // Every node in the map follows group 0.
    if let Some((&node, address)) = map.nodes.iter().find(|(id, _)| !members.contains(id)) {
        tracing::info!(node, "group 0: the new node follows the map as a learner");
        let learner = BasicNode {
            addr: address.grpc.clone(),
        };
        // Group 0 is usually quiet: its leader must hear from a quorum before it changes anything.
        renew_write_lease(&state.meta).await;
        state
            .meta
            .add_learner(node, learner, false)
            .await
            .map_err(|e| raft_error(&e))?;
        return Ok(());
    }

    // Voters: the staying nodes, current voters first, learners once caught up.
    let last = metrics.last_log_index.unwrap_or(0);
    let caught_up = |node: &u64| {
        voters.contains(node)
            || metrics.replication.as_ref().is_some_and(|progress| {
                progress.get(node).is_some_and(|matched| {
                    let matched = matched.as_ref().map_or(0, |l| l.index);
                    last.saturating_sub(matched) <= PROMOTE_LAG_ENTRIES_MAX
                })
            })
    };
    let mut staying: Vec<u64> = map
        .nodes
        .keys()
        .copied()
        .filter(|node| !map.removing.contains(node))
        .collect();
    staying.sort_by_key(|node| (!voters.contains(node), *node));
    let wanted = staying.len().min(META_VOTERS_MAX);
    let desired: BTreeSet<u64> = staying.into_iter().filter(caught_up).take(wanted).collect();
    // Never fewer voters than wanted while a learner is still catching up.
    let complete = desired.len() == wanted || desired.len() >= voters.len();
    if desired != voters && complete && !desired.is_empty() {
        tracing::info!(?voters, ?desired, "group 0: voters change");
        renew_write_lease(&state.meta).await;
        state
            .meta
            .change_membership(desired, true)
            .await
            .map_err(|e| raft_error(&e))?;
        return Ok(());
    }

    // Nodes the map forgot leave group 0.
    let gone: BTreeSet<u64> = members
        .iter()
        .copied()
        .filter(|node| !map.nodes.contains_key(node) && !voters.contains(node))
        .collect();
    if !gone.is_empty() {
        tracing::info!(?gone, "group 0: forgotten nodes leave");
        renew_write_lease(&state.meta).await;
        state
            .meta
            .change_membership(ChangeMembers::RemoveNodes(gone), false)
            .await
            .map_err(|e| raft_error(&e))?;
        return Ok(());
    }

    for node in map.emptied_nodes() {
        if !voters.contains(&node) {
            state.write_map(MetaCommand::ForgetNode { node }).await?;
            tracing::info!(
                node,
                "node removed: it holds no replica and left group 0's voters"
            );
        }
    }
    for change in map.planned_moves() {
        state.write_map(MetaCommand::StartMove(change)).await?;
        tracing::info!(?change, "replica move planned");
    }
    Ok(())
}

/// A node started with `--join`: adds itself to the cluster through the listed members until the
/// map it follows names it at `address`.
pub(crate) async fn join(state: Arc<NodeState>, through: Vec<String>, address: NodeAddress) {
    let joined = |state: &NodeState| state.map().map.nodes.get(&state.id) == Some(&address);
    let node = proto::NodeInfo {
        node_id: state.id,
        grpc_address: address.grpc.clone(),
        http_address: address.http.clone(),
        ..proto::NodeInfo::default()
    };
    while !joined(&state) {
        let added = match Client::connect(through.iter(), ClientOptions::default()) {
            Ok(client) => client
                .add_node(node.clone())
                .await
                .map_err(|e| e.to_string()),
            Err(error) => Err(error.to_string()),
        };
        match added {
            Ok(reply) => {
                tracing::info!(
                    node = state.id,
                    meta_index = reply.meta_index,
                    "joined the cluster"
                );
                // The map reaches this node once group 0's leader adds it as a learner.
                state.meta_applied(reply.meta_index, JOIN_MAP_WAIT).await;
            }
            Err(error) => {
                tracing::warn!(node = state.id, %error, ?through, "could not join yet; trying again");
                tokio::time::sleep(JOIN_RETRY_EVERY).await;
            }
        }
    }
}
