//! The cluster map that group 0 (meta) replicates: the nodes, the data groups with their replicas,
//! and the group each event lives on. Pure and deterministic like the ticketing state machine: the
//! same map and command give the same map on every replica.
//!
//! Replica placement: data group `g`'s replicas are listed preferred-leader first. Bootstrap deals
//! groups round-robin over the nodes (so replicas and preferred leaderships are even); a dedicated
//! group takes the nodes with the fewest replicas, and the fewest preferred leaderships for its
//! leader. An event goes to the shared group with the fewest seats unless it asks for its own.
//!
//! Draining: an operator marks a node draining before stopping it; each group's leadership then
//! goes to its first replica that is not draining (`ClusterMap::leader_choice`), so the node leads
//! nothing when it stops, and comes back when it is undrained.
//!
//! Growing and shrinking: a node joins with `AddNode` and holds nothing at first; a node to be
//! removed is marked `RemoveNode` (removing and draining) and is forgotten (`ForgetNode`) once it
//! holds no replica. Group 0's leader plans replica moves (`ClusterMap::planned_moves`): first off
//! removing nodes, then from the fullest node to the emptiest until replica counts differ by at
//! most one, at most [`REPLICA_MOVES_IN_FLIGHT_MAX`] at a time and one per group. A move is
//! recorded (`StartMove`), carried out by the group's leader (the new replica joins as a learner,
//! catches up, replaces the old one in one membership change) and recorded done (`FinishMove`), so
//! `replicas` is always the group's voters as last committed, and `moving` what is under way.
//!
//! Moving a hot event to a group of its own while it is on sale: `StartEventMove` creates the
//! dedicated group and records the move (`event_moves`); the leader of the event's group seals the
//! event there, exports it and imports it into the new group (`crate::placement`), then
//! `RouteEventMove` sends the event's commands to the new group, and once the old group has
//! dropped its copy `ForgetEventMove` ends the move.

use std::collections::{BTreeMap, BTreeSet};

use boxoffice_statemachine::EventId;
use serde::{Deserialize, Serialize};

use crate::storage::GroupId;

/// Group 0 replicates the cluster map; data groups are numbered from 1.
pub const META_GROUP: GroupId = 0;
/// Replicas of each data group (fewer when the cluster has fewer nodes).
pub const REPLICAS_PER_GROUP: usize = 3;
/// Nodes in one cluster.
pub const NODES_MAX: usize = 256;
/// Data groups in one cluster.
pub const DATA_GROUPS_MAX: usize = 4_096;
/// Events placed in one cluster.
pub const EVENTS_MAX: usize = 1_000_000;
/// Bytes of a node address.
pub const ADDRESS_BYTES_MAX: usize = 256;
/// Replica moves under way in the whole cluster at one time (each costs a snapshot transfer).
pub const REPLICA_MOVES_IN_FLIGHT_MAX: usize = 2;

/// Where to reach a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddress {
    /// host:port of its gRPC server (Raft transport and the public API).
    pub grpc: String,
    /// host:port of its HTTP gateway.
    pub http: String,
}

/// One data group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPlacement {
    /// Node ids, the preferred leader first.
    pub replicas: Vec<u64>,
    /// Events placed here.
    pub events: u32,
    /// Seats and general-admission places of those events.
    pub seats: u64,
    /// The event this group was created for; no other event is placed on it.
    pub dedicated_to: Option<EventId>,
    /// A replica move under way, if any (one at a time per group).
    pub moving: Option<ReplicaMove>,
}

/// One replica of a group moving from one node to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaMove {
    pub group: GroupId,
    /// The node giving up its replica (a voter until the move is done).
    pub from: u64,
    /// The node taking it (a learner until the move is done).
    pub to: u64,
}

impl GroupPlacement {
    /// The node that should lead this group when it is up.
    pub fn preferred_leader(&self) -> Option<u64> {
        self.replicas.first().copied()
    }

    /// Whether `node` holds a replica of this group or is taking one in a move.
    pub fn hosted_on(&self, node: u64) -> bool {
        self.replicas.contains(&node) || self.moving.is_some_and(|m| m.to == node)
    }

    /// The voters once the move under way is done.
    fn replicas_after_move(&self) -> Vec<u64> {
        let mut replicas = self.replicas.clone();
        if let Some(change) = self.moving {
            for node in &mut replicas {
                if *node == change.from {
                    *node = change.to;
                }
            }
        }
        replicas
    }
}

/// The whole cluster map.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterMap {
    pub bootstrapped: bool,
    pub nodes: BTreeMap<u64, NodeAddress>,
    pub groups: BTreeMap<GroupId, GroupPlacement>,
    pub events: BTreeMap<EventId, GroupId>,
    /// Nodes being drained: they keep their replicas but lead no group (never all nodes).
    pub draining: BTreeSet<u64>,
    /// Nodes being removed (also draining): their replicas move away, then they are forgotten.
    pub removing: BTreeSet<u64>,
    /// Events moving to a group of their own.
    pub event_moves: BTreeMap<EventId, EventMove>,
}

/// An event moving from its group to a new dedicated one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMove {
    pub from: GroupId,
    pub to: GroupId,
    /// The event's commands go to `to` (the old group still holds its sealed copy until it drops
    /// it).
    pub routed: bool,
}

/// A change to the cluster map; it enters group 0's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetaCommand {
    /// Creates the cluster: its first nodes and data groups. Once only.
    Bootstrap {
        nodes: BTreeMap<u64, NodeAddress>,
        data_groups: u32,
    },
    /// Places an event on a group (a new one if `dedicated`). Placing a placed event answers
    /// with its group again.
    PlaceEvent {
        event: EventId,
        seats: u64,
        dedicated: bool,
    },
    /// Marks `node` draining (its leaderships move to other replicas) or not.
    SetDraining { node: u64, draining: bool },
    /// Adds a node holding no replica yet; adding it again with the same address changes nothing.
    AddNode { node: u64, address: NodeAddress },
    /// Marks `node` removing: it drains, its replicas move to the other nodes, then it is
    /// forgotten. Refused when the other nodes could not hold every group's replicas.
    RemoveNode { node: u64 },
    /// Records a replica move as started (group 0's leader plans them).
    StartMove(ReplicaMove),
    /// Records a replica move as done: the group's voters now have `to` instead of `from`.
    FinishMove(ReplicaMove),
    /// Forgets a removing node that holds no replica any more.
    ForgetNode { node: u64 },
    /// Starts moving `event` to a new group of its own.
    StartEventMove { event: EventId },
    /// The moving event's records (`seats` seats and places) are in its new group: route its
    /// commands there.
    RouteEventMove { event: EventId, seats: u64 },
    /// The old group dropped the moved event: the move is over.
    ForgetEventMove { event: EventId },
}

/// What a meta command did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetaOutcome {
    Bootstrapped {
        data_groups: u32,
    },
    Placed {
        group: GroupId,
        new: bool,
    },
    /// The nodes draining after the change.
    Draining {
        nodes: BTreeSet<u64>,
    },
    /// The node is in the cluster (`new`: it was not before).
    NodeAdded {
        new: bool,
    },
    /// The nodes being removed after the change.
    Removing {
        nodes: BTreeSet<u64>,
    },
    /// A group's voters and the move under way after the change.
    Replicas {
        group: GroupId,
        replicas: Vec<u64>,
        moving: Option<ReplicaMove>,
    },
    NodeForgotten,
    /// The event's move as it stands after the change (none once it is over).
    EventMoving {
        event: EventId,
        group: GroupId,
        moving: Option<EventMove>,
    },
    Refused(MetaRefusal),
}

/// Why the cluster map refused a command (the map is unchanged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum MetaRefusal {
    #[error("the cluster is already bootstrapped")]
    AlreadyBootstrapped,
    #[error("the cluster is not bootstrapped yet")]
    NotBootstrapped,
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("the cluster has reached its limit of {0}")]
    LimitReached(String),
}

impl MetaRefusal {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            MetaRefusal::AlreadyBootstrapped => "ALREADY_BOOTSTRAPPED",
            MetaRefusal::NotBootstrapped => "NOT_BOOTSTRAPPED",
            MetaRefusal::Invalid(_) => "INVALID_ARGUMENT",
            MetaRefusal::LimitReached(_) => "LIMIT_EXCEEDED",
        }
    }
}

impl ClusterMap {
    /// Applies `command`; on refusal the map is unchanged.
    pub fn apply(&mut self, command: &MetaCommand) -> MetaOutcome {
        let outcome = match command {
            MetaCommand::Bootstrap { nodes, data_groups } => self.bootstrap(nodes, *data_groups),
            MetaCommand::PlaceEvent {
                event,
                seats,
                dedicated,
            } => self.place(event, *seats, *dedicated),
            MetaCommand::SetDraining { node, draining } => self.set_draining(*node, *draining),
            MetaCommand::AddNode { node, address } => self.add_node(*node, address),
            MetaCommand::RemoveNode { node } => self.remove_node(*node),
            MetaCommand::StartMove(change) => self.start_move(*change),
            MetaCommand::FinishMove(change) => self.finish_move(*change),
            MetaCommand::ForgetNode { node } => self.forget_node(*node),
            MetaCommand::StartEventMove { event } => self.start_event_move(event),
            MetaCommand::RouteEventMove { event, seats } => self.route_event_move(event, *seats),
            MetaCommand::ForgetEventMove { event } => self.forget_event_move(event),
        };
        match outcome {
            Ok(outcome) => {
                self.assert_consistent();
                outcome
            }
            Err(refusal) => MetaOutcome::Refused(refusal),
        }
    }

    fn bootstrap(
        &mut self,
        nodes: &BTreeMap<u64, NodeAddress>,
        data_groups: u32,
    ) -> Result<MetaOutcome, MetaRefusal> {
        if self.bootstrapped {
            return Err(MetaRefusal::AlreadyBootstrapped);
        }
        if nodes.is_empty() || nodes.len() > NODES_MAX {
            return Err(MetaRefusal::Invalid(format!(
                "a cluster has 1 to {NODES_MAX} nodes"
            )));
        }
        if data_groups == 0 || data_groups as usize > DATA_GROUPS_MAX {
            return Err(MetaRefusal::Invalid(format!(
                "a cluster has 1 to {DATA_GROUPS_MAX} data groups"
            )));
        }
        for (id, address) in nodes {
            check_node(*id, address)?;
        }
        let ids: Vec<u64> = nodes.keys().copied().collect();
        let width = ids.len().min(REPLICAS_PER_GROUP);
        for g in 0..data_groups as usize {
            let replicas = (0..width).map(|k| ids[(g + k) % ids.len()]).collect();
            self.groups.insert(
                g as GroupId + 1,
                GroupPlacement {
                    replicas,
                    events: 0,
                    seats: 0,
                    dedicated_to: None,
                    moving: None,
                },
            );
        }
        self.nodes = nodes.clone();
        self.bootstrapped = true;
        Ok(MetaOutcome::Bootstrapped { data_groups })
    }

    fn place(
        &mut self,
        event: &EventId,
        seats: u64,
        dedicated: bool,
    ) -> Result<MetaOutcome, MetaRefusal> {
        if !self.bootstrapped {
            return Err(MetaRefusal::NotBootstrapped);
        }
        if let Some(&group) = self.events.get(event) {
            return Ok(MetaOutcome::Placed { group, new: false });
        }
        if self.events.len() >= EVENTS_MAX {
            return Err(MetaRefusal::LimitReached("events".into()));
        }
        let group = if dedicated {
            self.new_dedicated_group(event)?
        } else {
            self.least_loaded_group()
                .ok_or_else(|| MetaRefusal::LimitReached("shared data groups".into()))?
        };
        let placement = self
            .groups
            .get_mut(&group)
            .unwrap_or_else(|| panic!("placement chose group {group}, which is not in the map"));
        placement.events += 1;
        placement.seats = placement.seats.saturating_add(seats);
        self.events.insert(event.clone(), group);
        Ok(MetaOutcome::Placed { group, new: true })
    }

    fn set_draining(&mut self, node: u64, draining: bool) -> Result<MetaOutcome, MetaRefusal> {
        if !self.bootstrapped {
            return Err(MetaRefusal::NotBootstrapped);
        }
        if !self.nodes.contains_key(&node) {
            return Err(MetaRefusal::Invalid(format!(
                "no node {node} in the cluster"
            )));
        }
        if draining {
            let others_lead = self
                .nodes
                .keys()
                .any(|&id| id != node && !self.draining.contains(&id));
            if !others_lead {
                return Err(MetaRefusal::Invalid(format!(
                    "draining node {node} would leave no node to lead"
                )));
            }
            self.draining.insert(node);
        } else {
            if self.removing.contains(&node) {
                return Err(MetaRefusal::Invalid(format!(
                    "node {node} is being removed and stays draining"
                )));
            }
            self.draining.remove(&node);
        }
        Ok(MetaOutcome::Draining {
            nodes: self.draining.clone(),
        })
    }

    fn add_node(&mut self, node: u64, address: &NodeAddress) -> Result<MetaOutcome, MetaRefusal> {
        if !self.bootstrapped {
            return Err(MetaRefusal::NotBootstrapped);
        }
        check_node(node, address)?;
        if let Some(known) = self.nodes.get(&node) {
            if known == address {
                return Ok(MetaOutcome::NodeAdded { new: false });
            }
            return Err(MetaRefusal::Invalid(format!(
                "node {node} is already in the cluster at {} (remove it first)",
                known.grpc
            )));
        }
        if let Some((other, _)) = self.nodes.iter().find(|(_, a)| a.grpc == address.grpc) {
            return Err(MetaRefusal::Invalid(format!(
                "node {other} already serves at {}",
                address.grpc
            )));
        }
        if self.nodes.len() >= NODES_MAX {
            return Err(MetaRefusal::LimitReached("nodes".into()));
        }
        self.nodes.insert(node, address.clone());
        Ok(MetaOutcome::NodeAdded { new: true })
    }

    fn remove_node(&mut self, node: u64) -> Result<MetaOutcome, MetaRefusal> {
        if !self.bootstrapped {
            return Err(MetaRefusal::NotBootstrapped);
        }
        if !self.nodes.contains_key(&node) {
            return Err(MetaRefusal::Invalid(format!(
                "no node {node} in the cluster"
            )));
        }
        if !self.removing.contains(&node) {
            let staying = self
                .nodes
                .keys()
                .filter(|id| **id != node && !self.removing.contains(id))
                .count();
            let width = self
                .groups
                .values()
                .map(|g| g.replicas.len())
                .max()
                .unwrap_or(1)
                .max(1);
            if staying < width {
                return Err(MetaRefusal::Invalid(format!(
                    "removing node {node} would leave {staying} node(s) for groups of {width} \
                     replicas: a group would lose its majority's room; add a node first"
                )));
            }
            self.removing.insert(node);
            self.draining.insert(node);
        }
        Ok(MetaOutcome::Removing {
            nodes: self.removing.clone(),
        })
    }

    fn start_move(&mut self, change: ReplicaMove) -> Result<MetaOutcome, MetaRefusal> {
        if !self.bootstrapped {
            return Err(MetaRefusal::NotBootstrapped);
        }
        let in_flight = self.moves_in_flight();
        let invalid = |reason: String| {
            Err(MetaRefusal::Invalid(format!(
                "group {}: cannot move a replica from node {} to node {}: {reason}",
                change.group, change.from, change.to
            )))
        };
        let Some(placement) = self.groups.get(&change.group) else {
            return invalid("no such group".into());
        };
        if placement.moving == Some(change) {
            return Ok(self.replicas_outcome(change.group));
        }
        if let Some(under_way) = placement.moving {
            return invalid(format!(
                "node {} is already replacing node {}",
                under_way.to, under_way.from
            ));
        }
        if !placement.replicas.contains(&change.from) {
            return invalid(format!("node {} holds no replica of it", change.from));
        }
        if placement.replicas.contains(&change.to) {
            return invalid(format!("node {} already holds one", change.to));
        }
        if !self.nodes.contains_key(&change.to) || self.removing.contains(&change.to) {
            return invalid(format!(
                "node {} is not a node that can take replicas",
                change.to
            ));
        }
        if in_flight >= REPLICA_MOVES_IN_FLIGHT_MAX {
            return Err(MetaRefusal::LimitReached(format!(
                "{REPLICA_MOVES_IN_FLIGHT_MAX} replica moves in flight"
            )));
        }
        self.group_mut(change.group).moving = Some(change);
        Ok(self.replicas_outcome(change.group))
    }

    fn finish_move(&mut self, change: ReplicaMove) -> Result<MetaOutcome, MetaRefusal> {
        if !self.bootstrapped {
            return Err(MetaRefusal::NotBootstrapped);
        }
        let Some(placement) = self.groups.get(&change.group) else {
            return Err(MetaRefusal::Invalid(format!("no group {}", change.group)));
        };
        if placement.moving != Some(change) {
            let done = placement.moving.is_none()
                && placement.replicas.contains(&change.to)
                && !placement.replicas.contains(&change.from);
            if done {
                return Ok(self.replicas_outcome(change.group));
            }
            return Err(MetaRefusal::Invalid(format!(
                "group {}: no move from node {} to node {} under way",
                change.group, change.from, change.to
            )));
        }
        let placement = self.group_mut(change.group);
        placement.replicas = placement.replicas_after_move();
        placement.moving = None;
        Ok(self.replicas_outcome(change.group))
    }

    fn forget_node(&mut self, node: u64) -> Result<MetaOutcome, MetaRefusal> {
        if !self.bootstrapped {
            return Err(MetaRefusal::NotBootstrapped);
        }
        if !self.nodes.contains_key(&node) {
            return Ok(MetaOutcome::NodeForgotten);
        }
        if !self.removing.contains(&node) {
            return Err(MetaRefusal::Invalid(format!(
                "node {node} is not being removed"
            )));
        }
        if let Some((group, _)) = self.groups.iter().find(|(_, g)| {
            g.replicas.contains(&node) || g.moving.is_some_and(|m| m.from == node || m.to == node)
        }) {
            return Err(MetaRefusal::Invalid(format!(
                "node {node} still holds a replica of group {group}"
            )));
        }
        self.nodes.remove(&node);
        self.removing.remove(&node);
        self.draining.remove(&node);
        Ok(MetaOutcome::NodeForgotten)
    }

    fn event_moving(&self, event: &EventId) -> MetaOutcome {
        MetaOutcome::EventMoving {
            event: event.clone(),
            group: self.events[event],
            moving: self.event_moves.get(event).cloned(),
        }
    }

    fn start_event_move(&mut self, event: &EventId) -> Result<MetaOutcome, MetaRefusal> {
        if !self.bootstrapped {
            return Err(MetaRefusal::NotBootstrapped);
        }
        let Some(&from) = self.events.get(event) else {
            return Err(MetaRefusal::Invalid(format!(
                "no event {event} in the cluster"
            )));
        };
        if self.event_moves.contains_key(event) {
            return Ok(self.event_moving(event));
        }
        if self.groups[&from].dedicated_to.as_ref() == Some(event) {
            return Err(MetaRefusal::Invalid(format!(
                "event {event} already has group {from} to itself"
            )));
        }
        let to = self.new_dedicated_group(event)?;
        self.event_moves.insert(
            event.clone(),
            EventMove {
                from,
                to,
                routed: false,
            },
        );
        Ok(self.event_moving(event))
    }

    fn route_event_move(
        &mut self,
        event: &EventId,
        seats: u64,
    ) -> Result<MetaOutcome, MetaRefusal> {
        let Some(change) = self.event_moves.get_mut(event) else {
            return Err(MetaRefusal::Invalid(format!("event {event} is not moving")));
        };
        if !change.routed {
            change.routed = true;
            let change = change.clone();
            self.events.insert(event.clone(), change.to);
            let from = self.group_mut(change.from);
            from.events -= 1;
            from.seats = from.seats.saturating_sub(seats);
            let to = self.group_mut(change.to);
            to.events += 1;
            to.seats = to.seats.saturating_add(seats);
        }
        Ok(self.event_moving(event))
    }

    fn forget_event_move(&mut self, event: &EventId) -> Result<MetaOutcome, MetaRefusal> {
        match self.event_moves.get(event) {
            Some(change) if !change.routed => Err(MetaRefusal::Invalid(format!(
                "event {event} is still routed to group {}",
                change.from
            ))),
            Some(_) => {
                self.event_moves.remove(event);
                Ok(self.event_moving(event))
            }
            None if self.events.contains_key(event) => Ok(self.event_moving(event)),
            None => Err(MetaRefusal::Invalid(format!(
                "no event {event} in the cluster"
            ))),
        }
    }

    fn group_mut(&mut self, group: GroupId) -> &mut GroupPlacement {
        self.groups
            .get_mut(&group)
            .unwrap_or_else(|| panic!("group {group} was checked to be in the map"))
    }

    fn replicas_outcome(&self, group: GroupId) -> MetaOutcome {
        let placement = &self.groups[&group];
        MetaOutcome::Replicas {
            group,
            replicas: placement.replicas.clone(),
            moving: placement.moving,
        }
    }

    /// Replica moves recorded and not yet done.
    pub fn moves_in_flight(&self) -> usize {
        self.groups.values().filter(|g| g.moving.is_some()).count()
    }

    /// Removing nodes that hold no replica any more and can be forgotten.
    pub fn emptied_nodes(&self) -> Vec<u64> {
        self.removing
            .iter()
            .copied()
            .filter(|node| self.groups.values().all(|g| !g.hosted_on(*node)))
            .filter(|node| {
                self.groups
                    .values()
                    .all(|g| g.moving.is_none_or(|m| m.from != *node))
            })
            .collect()
    }

    /// The replica moves to start next (deterministic, within [`REPLICA_MOVES_IN_FLIGHT_MAX`]):
    /// every replica on a removing node goes to the staying node with the fewest replicas; then,
    /// while the fullest staying node holds two or more replicas more than the emptiest, one of its
    /// groups moves there: the one with the fewest seats (a move copies the group to the new
    /// replica, so an event on sale is moved last), taking a preferred leadership along when the
    /// emptiest has fewer.
    pub fn planned_moves(&self) -> Vec<ReplicaMove> {
        let mut budget = REPLICA_MOVES_IN_FLIGHT_MAX.saturating_sub(self.moves_in_flight());
        let mut moves = Vec::new();
        if budget == 0 || !self.bootstrapped {
            return moves;
        }
        // Replicas and preferred leaderships per staying node, counting moves under way as done.
        let mut load: BTreeMap<u64, (usize, usize)> = self
            .nodes
            .keys()
            .filter(|id| !self.removing.contains(id))
            .map(|&id| (id, (0, 0)))
            .collect();
        let mut after: BTreeMap<GroupId, Vec<u64>> = BTreeMap::new();
        for (&id, group) in &self.groups {
            let replicas = group.replicas_after_move();
            for (k, node) in replicas.iter().enumerate() {
                if let Some(counts) = load.get_mut(node) {
                    counts.0 += 1;
                    counts.1 += usize::from(k == 0);
                }
            }
            after.insert(id, replicas);
        }
        let movable = |id: &GroupId, planned: &[ReplicaMove]| {
            self.groups[id].moving.is_none() && planned.iter().all(|m| m.group != *id)
        };
        for &node in &self.removing {
            for (&group, replicas) in &after {
                if budget == 0 || !replicas.contains(&node) || !movable(&group, &moves) {
                    continue;
                }
                let Some((&to, _)) = load
                    .iter()
                    .filter(|(id, _)| !replicas.contains(id))
                    .min_by_key(|(&id, counts)| (counts.0, id))
                else {
                    continue;
                };
                let leads = replicas.first() == Some(&node);
                let counts = load.get_mut(&to).expect("chosen from the load");
                counts.0 += 1;
                counts.1 += usize::from(leads);
                moves.push(ReplicaMove {
                    group,
                    from: node,
                    to,
                });
                budget -= 1;
            }
        }
        while budget > 0 {
            let Some((&fullest, &full)) = load.iter().max_by_key(|(&id, c)| (c.0, u64::MAX - id))
            else {
                break;
            };
            let Some((&emptiest, &empty)) = load.iter().min_by_key(|(&id, c)| (c.0, id)) else {
                break;
            };
            if full.0 < empty.0 + 2 {
                break;
            }
            let wants_lead = empty.1 < full.1;
            let choice = after
                .iter()
                .filter(|(id, r)| {
                    r.contains(&fullest) && !r.contains(&emptiest) && movable(id, &moves)
                })
                .min_by_key(|(&id, r)| {
                    let leads = r.first() == Some(&fullest);
                    (self.groups[&id].seats, leads != wants_lead, id)
                })
                .map(|(&id, r)| (id, r.first() == Some(&fullest)));
            let Some((group, leads)) = choice else {
                break;
            };
            for (node, delta) in [(fullest, -1isize), (emptiest, 1)] {
                let counts = load.get_mut(&node).expect("chosen from the load");
                counts.0 = counts.0.saturating_add_signed(delta);
                if leads {
                    counts.1 = counts.1.saturating_add_signed(delta);
                }
            }
            moves.push(ReplicaMove {
                group,
                from: fullest,
                to: emptiest,
            });
            budget -= 1;
        }
        moves
    }

    /// The replica of `placement` that should lead it: the first one neither draining nor giving
    /// its replica up in a move (none when every replica is one of those).
    pub fn leader_choice(&self, placement: &GroupPlacement) -> Option<u64> {
        placement.replicas.iter().copied().find(|node| {
            !self.draining.contains(node) && placement.moving.is_none_or(|m| m.from != *node)
        })
    }

    /// The shared group with the fewest seats, then the fewest events, then the lowest id.
    fn least_loaded_group(&self) -> Option<GroupId> {
        self.groups
            .iter()
            .filter(|(_, g)| g.dedicated_to.is_none())
            .min_by_key(|(&id, g)| (g.seats, g.events, id))
            .map(|(&id, _)| id)
    }

    fn new_dedicated_group(&mut self, event: &EventId) -> Result<GroupId, MetaRefusal> {
        if self.groups.len() >= DATA_GROUPS_MAX {
            return Err(MetaRefusal::LimitReached("data groups".into()));
        }
        let mut replicas_on: BTreeMap<u64, (usize, usize)> = self
            .nodes
            .keys()
            .filter(|id| !self.removing.contains(id))
            .map(|&id| (id, (0, 0)))
            .collect();
        for group in self.groups.values() {
            for (k, node) in group.replicas.iter().enumerate() {
                if let Some(load) = replicas_on.get_mut(node) {
                    load.0 += 1;
                    if k == 0 {
                        load.1 += 1;
                    }
                }
            }
        }
        let mut by_load: Vec<(u64, (usize, usize))> = replicas_on.into_iter().collect();
        by_load.sort_by_key(|&(id, load)| (load.0, id));
        by_load.truncate(REPLICAS_PER_GROUP);
        // The chosen node with the fewest preferred leaderships leads.
        by_load.sort_by_key(|&(id, load)| (load.1, load.0, id));
        let replicas = by_load.into_iter().map(|(id, _)| id).collect();
        let id = self.groups.keys().next_back().map_or(1, |last| last + 1);
        self.groups.insert(
            id,
            GroupPlacement {
                replicas,
                events: 0,
                seats: 0,
                dedicated_to: Some(event.clone()),
                moving: None,
            },
        );
        Ok(id)
    }

    /// The data groups `node` holds a replica of, or is taking one of in a move.
    pub fn groups_of(&self, node: u64) -> impl Iterator<Item = (GroupId, &GroupPlacement)> + '_ {
        self.groups
            .iter()
            .filter(move |(_, g)| g.hosted_on(node))
            .map(|(&id, g)| (id, g))
    }

    /// Panics if the map contradicts itself: a broken map would route sales to the wrong group.
    pub fn assert_consistent(&self) {
        for node in &self.removing {
            assert!(
                self.draining.contains(node),
                "removing node {node} is not draining"
            );
        }
        assert!(
            self.moves_in_flight() <= REPLICA_MOVES_IN_FLIGHT_MAX,
            "more replica moves in flight than allowed"
        );
        for node in &self.draining {
            assert!(
                self.nodes.contains_key(node),
                "unknown node {node} is draining"
            );
        }
        assert!(
            self.nodes.is_empty() || self.draining.len() < self.nodes.len(),
            "every node is draining"
        );
        for (event, change) in &self.event_moves {
            let routed_to = self.events.get(event);
            let expected = if change.routed {
                change.to
            } else {
                change.from
            };
            assert_eq!(
                routed_to,
                Some(&expected),
                "event {event} moving {change:?} is routed elsewhere"
            );
            let to = self.groups.get(&change.to).unwrap_or_else(|| {
                panic!(
                    "event {event} moves to group {}, which does not exist",
                    change.to
                )
            });
            assert_eq!(
                to.dedicated_to.as_ref(),
                Some(event),
                "event {event} moves to a shared group"
            );
        }
        let mut counted: BTreeMap<GroupId, u32> = BTreeMap::new();
        for (event, group) in &self.events {
            let placement = self.groups.get(group).unwrap_or_else(|| {
                panic!("event {event} is placed on group {group}, which does not exist")
            });
            if let Some(owner) = &placement.dedicated_to {
                assert_eq!(owner, event, "group {group} is dedicated to {owner}");
            }
            *counted.entry(*group).or_default() += 1;
        }
        for (id, group) in &self.groups {
            assert!(*id != META_GROUP, "group 0 is the meta group");
            assert_eq!(
                group.events,
                counted.get(id).copied().unwrap_or(0),
                "group {id}'s event count"
            );
            assert!(!group.replicas.is_empty(), "group {id} has no replicas");
            for node in &group.replicas {
                assert!(
                    self.nodes.contains_key(node),
                    "group {id}: unknown node {node}"
                );
            }
            let mut unique = group.replicas.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(
                unique.len(),
                group.replicas.len(),
                "group {id} repeats a node"
            );
            if let Some(change) = group.moving {
                assert_eq!(change.group, *id, "group {id} records another group's move");
                assert!(
                    group.replicas.contains(&change.from) && !group.replicas.contains(&change.to),
                    "group {id}'s move {change:?} does not fit its replicas {:?}",
                    group.replicas
                );
                assert!(
                    self.nodes.contains_key(&change.to),
                    "group {id} moves to unknown node {}",
                    change.to
                );
            }
        }
    }
}

/// Refuses a node id or address the map cannot hold.
fn check_node(id: u64, address: &NodeAddress) -> Result<(), MetaRefusal> {
    if id == 0 {
        return Err(MetaRefusal::Invalid("node id 0 is reserved".into()));
    }
    for field in [&address.grpc, &address.http] {
        if field.is_empty() || field.len() > ADDRESS_BYTES_MAX {
            return Err(MetaRefusal::Invalid(format!(
                "node {id}: an address has 1 to {ADDRESS_BYTES_MAX} bytes"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: u64) -> BTreeMap<u64, NodeAddress> {
        (1..=n)
            .map(|id| {
                (
                    id,
                    NodeAddress {
                        grpc: format!("127.0.0.1:{}", 7080 + id),
                        http: format!("127.0.0.1:{}", 8080 + id),
                    },
                )
            })
            .collect()
    }

    fn bootstrapped(n: u64, groups: u32) -> ClusterMap {
        let mut map = ClusterMap::default();
        let outcome = map.apply(&MetaCommand::Bootstrap {
            nodes: nodes(n),
            data_groups: groups,
        });
        assert_eq!(
            outcome,
            MetaOutcome::Bootstrapped {
                data_groups: groups
            }
        );
        map
    }

    fn place(map: &mut ClusterMap, event: &str, seats: u64, dedicated: bool) -> MetaOutcome {
        map.apply(&MetaCommand::PlaceEvent {
            event: EventId::new(event).unwrap(),
            seats,
            dedicated,
        })
    }

    #[test]
    fn bootstrap_spreads_replicas_and_preferred_leaders_evenly() {
        assert_eq!(
            replicas_and_leaders(3, 12),
            (vec![12, 12, 12], vec![4, 4, 4])
        );
        assert_eq!(replicas_and_leaders(5, 10), (vec![6; 5], vec![2; 5]));
    }

    /// Replicas and preferred leaderships per node (node i at index i-1).
    fn replicas_and_leaders(n: u64, groups: u32) -> (Vec<usize>, Vec<usize>) {
        let map = bootstrapped(n, groups);
        let mut replicas = vec![0; n as usize];
        let mut leaders = vec![0; n as usize];
        for group in map.groups.values() {
            assert_eq!(group.replicas.len(), REPLICAS_PER_GROUP);
            for node in &group.replicas {
                replicas[*node as usize - 1] += 1;
            }
            leaders[group.preferred_leader().unwrap() as usize - 1] += 1;
        }
        (replicas, leaders)
    }

    #[test]
    fn bootstrap_happens_once() {
        let mut map = bootstrapped(3, 4);
        let before = map.clone();
        let again = map.apply(&MetaCommand::Bootstrap {
            nodes: nodes(3),
            data_groups: 9,
        });
        assert_eq!(
            again,
            MetaOutcome::Refused(MetaRefusal::AlreadyBootstrapped)
        );
        assert_eq!(map, before);
    }

    #[test]
    fn a_small_cluster_puts_every_replica_on_every_node() {
        let map = bootstrapped(1, 2);
        assert!(map.groups.values().all(|g| g.replicas == vec![1]));
    }

    #[test]
    fn invalid_bootstraps_change_nothing() {
        for (nodes, groups) in [(BTreeMap::new(), 3), (nodes(3), 0), (nodes(3), 5_000)] {
            let mut map = ClusterMap::default();
            let outcome = map.apply(&MetaCommand::Bootstrap {
                nodes,
                data_groups: groups,
            });
            assert!(matches!(
                outcome,
                MetaOutcome::Refused(MetaRefusal::Invalid(_))
            ));
            assert_eq!(map, ClusterMap::default());
        }
    }

    #[test]
    fn events_go_to_the_least_loaded_group_and_stay_there() {
        let mut map = bootstrapped(3, 3);
        assert_eq!(
            place(&mut map, "a", 50_000, false),
            MetaOutcome::Placed {
                group: 1,
                new: true
            }
        );
        assert_eq!(
            place(&mut map, "b", 100, false),
            MetaOutcome::Placed {
                group: 2,
                new: true
            }
        );
        assert_eq!(
            place(&mut map, "c", 100, false),
            MetaOutcome::Placed {
                group: 3,
                new: true
            }
        );
        // Groups 2 and 3 tie on seats and events: the lower id wins.
        assert_eq!(
            place(&mut map, "d", 10, false),
            MetaOutcome::Placed {
                group: 2,
                new: true
            }
        );
        assert_eq!(
            place(&mut map, "a", 7, false),
            MetaOutcome::Placed {
                group: 1,
                new: false
            }
        );
        assert_eq!(map.groups[&1].seats, 50_000);
        assert_eq!(map.groups[&2].events, 2);
    }

    #[test]
    fn a_dedicated_event_gets_a_new_group_on_the_least_loaded_nodes() {
        let mut map = bootstrapped(4, 4);
        // Nodes 1..4 hold 3 replicas each; group 5 takes nodes 1, 2, 3 and is led by node 1.
        assert_eq!(
            place(&mut map, "tour", 60_000, true),
            MetaOutcome::Placed {
                group: 5,
                new: true
            }
        );
        assert_eq!(map.groups[&5].replicas, vec![1, 2, 3]);
        assert_eq!(
            map.groups[&5].dedicated_to,
            Some(EventId::new("tour").unwrap())
        );
        // The next dedicated group starts on node 4, the one with the fewest replicas.
        place(&mut map, "tour2", 1, true);
        assert_eq!(map.groups[&6].replicas[0], 4);
        // Shared placement never picks a dedicated group.
        for i in 0..8 {
            let outcome = place(&mut map, &format!("e{i}"), 1, false);
            assert!(matches!(outcome, MetaOutcome::Placed { group, .. } if group <= 4));
        }
    }

    #[test]
    fn placing_before_bootstrap_is_refused() {
        let mut map = ClusterMap::default();
        assert_eq!(
            place(&mut map, "a", 1, false),
            MetaOutcome::Refused(MetaRefusal::NotBootstrapped)
        );
    }

    #[test]
    #[should_panic(expected = "which does not exist")]
    fn a_map_placing_an_event_on_a_missing_group_is_a_bug() {
        let mut map = bootstrapped(3, 1);
        map.events.insert(EventId::new("x").unwrap(), 9);
        map.assert_consistent();
    }

    fn drain(map: &mut ClusterMap, node: u64, draining: bool) -> MetaOutcome {
        map.apply(&MetaCommand::SetDraining { node, draining })
    }

    #[test]
    fn a_draining_node_hands_each_group_to_its_next_replica_and_gets_it_back() {
        let mut map = bootstrapped(3, 3);
        let choices = |map: &ClusterMap| -> Vec<Option<u64>> {
            map.groups.values().map(|g| map.leader_choice(g)).collect()
        };
        assert_eq!(choices(&map), [Some(1), Some(2), Some(3)]);
        assert_eq!(
            drain(&mut map, 2, true),
            MetaOutcome::Draining {
                nodes: BTreeSet::from([2])
            }
        );
        // Group 2's replicas are 2, 3, 1: it goes to 3; the others keep their leaders.
        assert_eq!(choices(&map), [Some(1), Some(3), Some(3)]);
        // Draining again changes nothing.
        assert_eq!(
            drain(&mut map, 2, true),
            MetaOutcome::Draining {
                nodes: BTreeSet::from([2])
            }
        );
        assert_eq!(
            drain(&mut map, 2, false),
            MetaOutcome::Draining {
                nodes: BTreeSet::new()
            }
        );
        assert_eq!(choices(&map), [Some(1), Some(2), Some(3)]);
    }

    fn address(id: u64) -> NodeAddress {
        nodes(id).remove(&id).expect("nodes(id) has node id")
    }

    /// Applies every planned move as started and done, as the groups' leaders would, until the
    /// plan is empty; answers the moves made.
    fn settle(map: &mut ClusterMap) -> Vec<ReplicaMove> {
        let mut made = Vec::new();
        for _ in 0..1_000 {
            let moves = map.planned_moves();
            if moves.is_empty() {
                return made;
            }
            assert!(moves.len() <= REPLICA_MOVES_IN_FLIGHT_MAX);
            for change in &moves {
                assert!(matches!(
                    map.apply(&MetaCommand::StartMove(*change)),
                    MetaOutcome::Replicas { .. }
                ));
            }
            for change in moves {
                assert!(matches!(
                    map.apply(&MetaCommand::FinishMove(change)),
                    MetaOutcome::Replicas { moving: None, .. }
                ));
                made.push(change);
            }
        }
        panic!("the plan never settled: {map:?}");
    }

    #[test]
    fn an_added_node_takes_an_even_share_of_replicas_and_preferred_leaderships() {
        let mut map = bootstrapped(3, 12);
        assert_eq!(
            map.apply(&MetaCommand::AddNode {
                node: 4,
                address: address(4)
            }),
            MetaOutcome::NodeAdded { new: true }
        );
        assert_eq!(replica_counts(&map), vec![12, 12, 12, 0]);
        let made = settle(&mut map);
        assert_eq!(made.len(), 9, "the fewest moves: 36 replicas over 4 nodes");
        assert!(made.iter().all(|m| m.to == 4));
        assert_eq!(replica_counts(&map), vec![9, 9, 9, 9]);
        let leaders = map
            .groups
            .values()
            .filter(|g| g.preferred_leader() == Some(4));
        assert_eq!(
            leaders.count(),
            3,
            "node 4 is preferred leader of its share"
        );
        // Adding it again changes nothing.
        assert_eq!(
            map.apply(&MetaCommand::AddNode {
                node: 4,
                address: address(4)
            }),
            MetaOutcome::NodeAdded { new: false }
        );
    }

    #[test]
    fn rebalancing_moves_quiet_groups_and_leaves_an_event_on_sale_where_it_is() {
        let mut map = bootstrapped(3, 12);
        place(&mut map, "tour", 100_000, false);
        let hot = map.events[&EventId::new("tour").unwrap()];
        let before = map.groups[&hot].replicas.clone();
        map.apply(&MetaCommand::AddNode {
            node: 4,
            address: address(4),
        });
        let made = settle(&mut map);
        assert!(made.iter().all(|m| m.group != hot), "{made:?}");
        assert_eq!(map.groups[&hot].replicas, before);
        assert_eq!(replica_counts(&map), vec![9, 9, 9, 9]);
    }

    fn replica_counts(map: &ClusterMap) -> Vec<usize> {
        map.nodes
            .keys()
            .map(|node| map.groups_of(*node).count())
            .collect()
    }

    #[test]
    fn a_removed_node_gives_every_replica_away_and_is_then_forgotten() {
        let mut map = bootstrapped(4, 8);
        assert_eq!(
            map.apply(&MetaCommand::RemoveNode { node: 2 }),
            MetaOutcome::Removing {
                nodes: BTreeSet::from([2])
            }
        );
        assert!(map.draining.contains(&2), "a removing node drains");
        assert!(matches!(
            map.apply(&MetaCommand::ForgetNode { node: 2 }),
            MetaOutcome::Refused(MetaRefusal::Invalid(reason)) if reason.contains("still holds")
        ));
        let made = settle(&mut map);
        assert!(made.iter().all(|m| m.from == 2));
        assert_eq!(map.emptied_nodes(), vec![2]);
        assert_eq!(
            map.apply(&MetaCommand::ForgetNode { node: 2 }),
            MetaOutcome::NodeForgotten
        );
        assert!(!map.nodes.contains_key(&2) && map.draining.is_empty());
        assert_eq!(replica_counts(&map), vec![8, 8, 8]);
        // Forgetting it again changes nothing.
        assert_eq!(
            map.apply(&MetaCommand::ForgetNode { node: 2 }),
            MetaOutcome::NodeForgotten
        );
    }

    #[test]
    fn a_removal_that_would_leave_too_few_nodes_for_a_group_is_refused() {
        let mut map = bootstrapped(3, 3);
        let before = map.clone();
        assert!(matches!(
            map.apply(&MetaCommand::RemoveNode { node: 3 }),
            MetaOutcome::Refused(MetaRefusal::Invalid(reason)) if reason.contains("add a node first")
        ));
        assert_eq!(map, before, "a refusal changes nothing");
        assert!(matches!(
            map.apply(&MetaCommand::SetDraining {
                node: 3,
                draining: true
            }),
            MetaOutcome::Draining { .. }
        ));
    }

    #[test]
    fn moves_that_do_not_fit_the_map_are_refused() {
        let mut map = bootstrapped(4, 4);
        // Group 1's replicas are 1, 2, 3.
        let change = |from, to| ReplicaMove { group: 1, from, to };
        for (bad, reason) in [
            (change(4, 1), "holds no replica"),
            (change(1, 2), "already holds one"),
            (change(1, 9), "not a node that can take replicas"),
            (
                ReplicaMove {
                    group: 99,
                    from: 1,
                    to: 4,
                },
                "no such group",
            ),
        ] {
            let before = map.clone();
            assert!(
                matches!(
                    map.apply(&MetaCommand::StartMove(bad)),
                    MetaOutcome::Refused(MetaRefusal::Invalid(r)) if r.contains(reason)
                ),
                "{bad:?}"
            );
            assert_eq!(map, before);
        }
        assert!(matches!(
            map.apply(&MetaCommand::FinishMove(change(1, 4))),
            MetaOutcome::Refused(MetaRefusal::Invalid(r)) if r.contains("no move")
        ));
        map.apply(&MetaCommand::StartMove(change(1, 4)));
        assert!(matches!(
            map.apply(&MetaCommand::StartMove(change(2, 4))),
            MetaOutcome::Refused(MetaRefusal::Invalid(r)) if r.contains("already replacing")
        ));
        assert_eq!(
            map.groups_of(4).count(),
            4,
            "the new replica is hosted while it moves"
        );
        assert_eq!(
            map.apply(&MetaCommand::FinishMove(change(1, 4))),
            MetaOutcome::Replicas {
                group: 1,
                replicas: vec![4, 2, 3],
                moving: None
            }
        );
        // Finishing again (a leader retrying after a change of leader) changes nothing.
        let before = map.clone();
        assert!(matches!(
            map.apply(&MetaCommand::FinishMove(change(1, 4))),
            MetaOutcome::Replicas { moving: None, .. }
        ));
        assert_eq!(map, before);
    }

    #[test]
    fn a_node_cannot_join_twice_under_two_addresses_or_reuse_another_address() {
        let mut map = bootstrapped(3, 3);
        assert!(matches!(
            map.apply(&MetaCommand::AddNode { node: 2, address: address(7) }),
            MetaOutcome::Refused(MetaRefusal::Invalid(r)) if r.contains("already in the cluster")
        ));
        assert!(matches!(
            map.apply(&MetaCommand::AddNode { node: 7, address: address(2) }),
            MetaOutcome::Refused(MetaRefusal::Invalid(r)) if r.contains("already serves")
        ));
        assert!(matches!(
            map.apply(&MetaCommand::AddNode {
                node: 0,
                address: address(1)
            }),
            MetaOutcome::Refused(MetaRefusal::Invalid(_))
        ));
    }

    fn event_move(map: &mut ClusterMap, command: MetaCommand) -> MetaOutcome {
        let outcome = map.apply(&command);
        map.assert_consistent();
        outcome
    }

    #[test]
    fn a_moving_event_gets_a_group_of_its_own_and_is_routed_there_once_imported() {
        let mut map = bootstrapped(3, 2);
        place(&mut map, "tour", 50_000, false);
        place(&mut map, "club", 500, false);
        place(&mut map, "gig", 100, false);
        let tour = EventId::new("tour").unwrap();
        let start = || MetaCommand::StartEventMove {
            event: EventId::new("tour").unwrap(),
        };
        let MetaOutcome::EventMoving {
            group: 1,
            moving: Some(change),
            ..
        } = event_move(&mut map, start())
        else {
            panic!("tour did not start moving: {map:?}");
        };
        assert_eq!((change.from, change.to, change.routed), (1, 3, false));
        assert_eq!(map.groups[&3].dedicated_to, Some(tour.clone()));
        assert_eq!(map.events[&tour], 1, "still routed to its old group");
        // Asking again changes nothing.
        let before = map.clone();
        event_move(&mut map, start());
        assert_eq!(map, before);
        // The move cannot end before the event is routed to its new group.
        let forget = MetaCommand::ForgetEventMove {
            event: tour.clone(),
        };
        assert!(matches!(
            event_move(&mut map, forget.clone()),
            MetaOutcome::Refused(MetaRefusal::Invalid(_))
        ));
        event_move(
            &mut map,
            MetaCommand::RouteEventMove {
                event: tour.clone(),
                seats: 50_000,
            },
        );
        assert_eq!(map.events[&tour], 3);
        assert_eq!((map.groups[&1].events, map.groups[&1].seats), (0, 0));
        assert_eq!((map.groups[&3].events, map.groups[&3].seats), (1, 50_000));
        event_move(&mut map, forget);
        assert!(map.event_moves.is_empty());
        // It has a group of its own now: moving it again is refused.
        assert!(matches!(
            event_move(&mut map, start()),
            MetaOutcome::Refused(MetaRefusal::Invalid(reason)) if reason.contains("to itself")
        ));
    }

    #[test]
    fn draining_refuses_unknown_nodes_the_last_leader_and_an_unbootstrapped_map() {
        let mut empty = ClusterMap::default();
        assert_eq!(
            drain(&mut empty, 1, true),
            MetaOutcome::Refused(MetaRefusal::NotBootstrapped)
        );
        let mut map = bootstrapped(3, 3);
        assert!(matches!(
            drain(&mut map, 9, true),
            MetaOutcome::Refused(MetaRefusal::Invalid(reason)) if reason.contains("no node 9")
        ));
        assert!(matches!(
            drain(&mut map, 1, true),
            MetaOutcome::Draining { .. }
        ));
        assert!(matches!(
            drain(&mut map, 2, true),
            MetaOutcome::Draining { .. }
        ));
        let before = map.clone();
        assert!(matches!(
            drain(&mut map, 3, true),
            MetaOutcome::Refused(MetaRefusal::Invalid(reason)) if reason.contains("no node to lead")
        ));
        assert_eq!(map, before, "a refusal changes nothing");
    }
}
