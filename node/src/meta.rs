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
}

impl GroupPlacement {
    /// The node that should lead this group when it is up.
    pub fn preferred_leader(&self) -> Option<u64> {
        self.replicas.first().copied()
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
            if *id == 0 {
                return Err(MetaRefusal::Invalid("node id 0 is reserved".into()));
            }
            for field in [&address.grpc, &address.http] {
                if field.is_empty() || field.len() > ADDRESS_BYTES_MAX {
                    return Err(MetaRefusal::Invalid(format!(
                        "node {id}: an address has 1 to {ADDRESS_BYTES_MAX} bytes"
                    )));
                }
            }
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
            self.draining.remove(&node);
        }
        Ok(MetaOutcome::Draining {
            nodes: self.draining.clone(),
        })
    }

    /// The replica of `placement` that should lead it: the first one not draining (none when
    /// every replica is draining).
    pub fn leader_choice(&self, placement: &GroupPlacement) -> Option<u64> {
        placement
            .replicas
            .iter()
            .copied()
            .find(|node| !self.draining.contains(node))
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
        let mut replicas_on: BTreeMap<u64, (usize, usize)> =
            self.nodes.keys().map(|&id| (id, (0, 0))).collect();
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
            },
        );
        Ok(id)
    }

    /// The data groups `node` holds a replica of.
    pub fn groups_of(&self, node: u64) -> impl Iterator<Item = (GroupId, &GroupPlacement)> + '_ {
        self.groups
            .iter()
            .filter(move |(_, g)| g.replicas.contains(&node))
            .map(|(&id, g)| (id, g))
    }

    /// Panics if the map contradicts itself: a broken map would route sales to the wrong group.
    pub fn assert_consistent(&self) {
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
        }
    }
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
