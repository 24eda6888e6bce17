//! Convergence: after the run healed, every replica of every group is present and at the same
//! applied index with the same state hash, and each passed its own invariant audit.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::Verdict;

pub const NAME: &str = "convergence";

/// What one node reported about its replica of one group after the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaAudit {
    pub node: u64,
    pub group: u64,
    pub applied_index: u64,
    /// A hash of the replica's whole state machine at `applied_index`.
    pub state_hash: String,
    /// What the replica's invariant audit found wrong; empty when nothing.
    pub violation: String,
}

/// Checks the replicas' audits against the replicas each group should have
/// (`expected_replicas`: group -> the nodes that should hold it).
pub fn check(audits: &[ReplicaAudit], expected_replicas: &BTreeMap<u64, Vec<u64>>) -> Verdict {
    let mut verdict = Verdict::new(NAME);
    if expected_replicas.is_empty() {
        verdict.unknown("no group was expected to have replicas: nothing to compare");
    }

    // group -> node -> audit.
    let mut by_group: BTreeMap<u64, BTreeMap<u64, &ReplicaAudit>> = BTreeMap::new();
    for audit in audits {
        let replicas = by_group.entry(audit.group).or_default();
        match replicas.get(&audit.node) {
            Some(known) if *known != audit => verdict.problem(format!(
                "node {} reported group {} twice, differently: {known:?} and {audit:?}",
                audit.node, audit.group
            )),
            Some(_) => {}
            None => {
                replicas.insert(audit.node, audit);
            }
        }
        if !audit.violation.is_empty() {
            verdict.problem(format!(
                "node {}'s replica of group {} fails its invariant audit: {}",
                audit.node, audit.group, audit.violation
            ));
        }
    }

    for group in by_group.keys() {
        if !expected_replicas.contains_key(group) {
            verdict.problem(format!(
                "group {group} has replicas on nodes {:?}, but none was expected",
                by_group
                    .get(group)
                    .map(|replicas| replicas.keys().collect::<Vec<_>>())
                    .unwrap_or_default()
            ));
        }
    }

    let mut replicas_compared = 0;
    for (group, nodes) in expected_replicas {
        let empty = BTreeMap::new();
        let replicas = by_group.get(group).unwrap_or(&empty);
        let expected: BTreeSet<u64> = nodes.iter().copied().collect();
        let missing: Vec<u64> = expected
            .iter()
            .copied()
            .filter(|node| !replicas.contains_key(node))
            .collect();
        if !missing.is_empty() {
            verdict.problem(format!(
                "group {group} has no audit from nodes {missing:?} (expected replicas {expected:?})"
            ));
        }
        let unexpected: Vec<u64> = replicas
            .keys()
            .copied()
            .filter(|node| !expected.contains(node))
            .collect();
        if !unexpected.is_empty() {
            verdict.problem(format!(
                "group {group} has replicas on nodes {unexpected:?}, which should not hold it \
                 (expected {expected:?})"
            ));
        }

        replicas_compared += replicas.len();
        let indexes: BTreeSet<u64> = replicas.values().map(|a| a.applied_index).collect();
        if indexes.len() > 1 {
            verdict.problem(format!(
                "group {group}'s replicas stopped at different applied indexes: {}",
                list(replicas, |a| a.applied_index.to_string())
            ));
        } else {
            // Hashes only compare at one index.
            let hashes: BTreeSet<&str> = replicas.values().map(|a| a.state_hash.as_str()).collect();
            if hashes.len() > 1 {
                verdict.problem(format!(
                    "group {group}'s replicas diverged at applied index {}: state hashes {}",
                    indexes.first().copied().unwrap_or_default(),
                    list(replicas, |a| a.state_hash.clone())
                ));
            }
        }
    }

    verdict.checked(format!(
        "{} groups, {replicas_compared} of {} expected replicas audited",
        expected_replicas.len(),
        expected_replicas
            .values()
            .map(|nodes| nodes.iter().collect::<BTreeSet<_>>().len())
            .sum::<usize>()
    ))
}

/// `node 1: x, node 2: y`.
fn list(replicas: &BTreeMap<u64, &ReplicaAudit>, show: impl Fn(&ReplicaAudit) -> String) -> String {
    replicas
        .iter()
        .map(|(node, audit)| format!("node {node}: {}", show(audit)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::Status;

    fn audit(node: u64, group: u64, applied_index: u64, state_hash: &str) -> ReplicaAudit {
        ReplicaAudit {
            node,
            group,
            applied_index,
            state_hash: state_hash.into(),
            violation: String::new(),
        }
    }

    /// Group 1 on nodes 1, 2 and 3; group 2 on nodes 2 and 3.
    fn expected() -> BTreeMap<u64, Vec<u64>> {
        BTreeMap::from([(1, vec![1, 2, 3]), (2, vec![2, 3])])
    }

    /// Every expected replica, converged.
    fn converged() -> Vec<ReplicaAudit> {
        vec![
            audit(1, 1, 40, "aa"),
            audit(2, 1, 40, "aa"),
            audit(3, 1, 40, "aa"),
            audit(2, 2, 7, "bb"),
            audit(3, 2, 7, "bb"),
        ]
    }

    fn assert_flags(audits: &[ReplicaAudit], needle: &str) {
        check(audits, &expected()).assert_flags(needle);
    }

    #[test]
    fn converged_replicas_pass() {
        let verdict = check(&converged(), &expected());
        assert_eq!(verdict.status, Status::Valid, "{verdict:?}");
        assert_eq!(
            verdict.checked,
            "2 groups, 5 of 5 expected replicas audited"
        );
    }

    #[test]
    fn a_missing_replica_is_flagged() {
        let mut audits = converged();
        audits.retain(|a| !(a.node == 3 && a.group == 2));
        assert_flags(&audits, "group 2 has no audit from nodes [3]");
    }

    #[test]
    fn a_replica_behind_the_others_is_flagged() {
        let mut audits = converged();
        audits[1].applied_index = 39;
        assert_flags(
            &audits,
            "group 1's replicas stopped at different applied indexes: node 1: 40, node 2: 39",
        );
    }

    #[test]
    fn a_replica_with_another_state_at_the_same_index_is_flagged() {
        let mut audits = converged();
        audits[4].state_hash = "bc".into();
        assert_flags(&audits, "group 2's replicas diverged at applied index 7");
    }

    #[test]
    fn a_replica_failing_its_invariant_audit_is_flagged() {
        let mut audits = converged();
        audits[0].violation = "seat A-1-1 sold to two orders".into();
        assert_flags(
            &audits,
            "node 1's replica of group 1 fails its invariant audit",
        );
    }

    #[test]
    fn a_replica_where_none_should_be_is_flagged() {
        let mut audits = converged();
        audits.push(audit(1, 2, 7, "bb"));
        audits.push(audit(1, 9, 1, "cc"));
        assert_flags(
            &audits,
            "group 2 has replicas on nodes [1], which should not hold it",
        );
        assert_flags(
            &audits,
            "group 9 has replicas on nodes [1], but none was expected",
        );
    }

    #[test]
    fn one_node_reporting_a_group_twice_differently_is_flagged() {
        let mut audits = converged();
        audits.push(audit(1, 1, 41, "ab"));
        assert_flags(&audits, "node 1 reported group 1 twice, differently");
    }

    #[test]
    fn nothing_expected_is_undecided_not_valid() {
        let verdict = check(&[], &BTreeMap::new());
        assert_eq!(verdict.status, Status::Unknown, "{verdict:?}");
    }

    #[test]
    fn an_audit_survives_json() {
        let audit = audit(1, 2, 3, "abc");
        let text = serde_json::to_string(&audit).unwrap();
        assert_eq!(serde_json::from_str::<ReplicaAudit>(&text).unwrap(), audit);
    }
}
