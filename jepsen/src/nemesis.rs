//! The nemeses and their seeded schedule: partitions (random halves, one-way, isolate the busiest
//! group's leader, majorities ring, bridge), kill -9 (random node or leader), pause (SIGSTOP), clock
//! skew across a leader change, and a mixed schedule. Each fault starts on the schedule, is healed
//! on it, and every start and heal is recorded in the history.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::cluster::{Cluster, ClusterError};
use crate::net::{between, Link, NetError, Network};

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Nemesis {
    /// Two random halves cannot reach each other.
    PartitionRandomHalves,
    /// A random minority cannot hear the others, who still hear it.
    PartitionOneWay,
    /// The leader of the busiest data group is cut off from every other node.
    IsolateLeader,
    /// Every node sees a majority, but no two nodes the same one (a bridge on 3 nodes).
    MajoritiesRing,
    /// Two halves joined only through one node.
    Bridge,
    /// kill -9 of a random node, restarted at the heal.
    KillRandom,
    /// kill -9 of the busiest data group's leader, restarted at the heal.
    KillLeaders,
    /// SIGSTOP of a random node or the busiest group's leader, SIGCONT at the heal.
    Pause,
    /// The busiest group's leader's clock runs ahead and another node's behind; the fast leader
    /// serves for a while, then is paused long enough for leadership to move. Clocks reset at the
    /// heal.
    ClockSkew,
    /// Any of the above, chosen per fault.
    Mixed,
}

impl Nemesis {
    /// Every nemesis but `Mixed`.
    pub const CONCRETE: [Nemesis; 9] = [
        Nemesis::PartitionRandomHalves,
        Nemesis::PartitionOneWay,
        Nemesis::IsolateLeader,
        Nemesis::MajoritiesRing,
        Nemesis::Bridge,
        Nemesis::KillRandom,
        Nemesis::KillLeaders,
        Nemesis::Pause,
        Nemesis::ClockSkew,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Nemesis::PartitionRandomHalves => "partition-random-halves",
            Nemesis::PartitionOneWay => "partition-one-way",
            Nemesis::IsolateLeader => "isolate-leader",
            Nemesis::MajoritiesRing => "majorities-ring",
            Nemesis::Bridge => "bridge",
            Nemesis::KillRandom => "kill-random",
            Nemesis::KillLeaders => "kill-leaders",
            Nemesis::Pause => "pause",
            Nemesis::ClockSkew => "clock-skew",
            Nemesis::Mixed => "mixed",
        }
    }
}

/// One planned fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub nemesis: Nemesis,
    /// From the start of the run.
    pub start_ms: u64,
    pub heal_ms: u64,
    /// Seeds the step's own choices (which nodes, which halves, how much skew).
    pub seed: u64,
}

/// The whole run's faults, decided from the seed before the run starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub seed: u64,
    pub steps: Vec<Step>,
}

impl Schedule {
    /// Faults of `fault` length with `quiet` between them, from `quiet` after the start until
    /// `faults_until`, drawn from `nemeses` (a `Mixed` entry draws from every concrete one).
    pub fn new(
        seed: u64,
        nemeses: &[Nemesis],
        quiet: Duration,
        fault: Duration,
        faults_until: Duration,
    ) -> Schedule {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut steps = Vec::new();
        let mut at = quiet.as_millis() as u64;
        let fault_ms = fault.as_millis() as u64;
        let until = faults_until.as_millis() as u64;
        let mut next = 0usize;
        while !nemeses.is_empty() && at + fault_ms <= until {
            let mut nemesis = nemeses[next % nemeses.len()];
            next += 1;
            if nemesis == Nemesis::Mixed {
                nemesis = Nemesis::CONCRETE[rng.random_range(0..Nemesis::CONCRETE.len())];
            }
            steps.push(Step {
                nemesis,
                start_ms: at,
                heal_ms: at + fault_ms,
                seed: rng.random(),
            });
            at += fault_ms + quiet.as_millis() as u64;
        }
        Schedule { seed, steps }
    }

    /// One line per step, for the start of a run.
    pub fn describe(&self) -> String {
        let mut text = format!("schedule (seed {}):\n", self.seed);
        for step in &self.steps {
            text.push_str(&format!(
                "  {:>6.1}s .. {:>6.1}s  {} (step seed {})\n",
                step.start_ms as f64 / 1e3,
                step.heal_ms as f64 / 1e3,
                step.nemesis.name(),
                step.seed
            ));
        }
        text
    }
}

/// Why a fault could not be injected or healed.
#[derive(Debug, thiserror::Error)]
pub enum NemesisError {
    #[error(transparent)]
    Net(#[from] NetError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// What a started fault changed, so its heal can undo exactly that.
#[derive(Debug, Default)]
pub struct Active {
    killed: Vec<u64>,
    paused: Vec<u64>,
    skewed: bool,
}

/// The largest clock offset the skew nemesis applies, in milliseconds.
pub const CLOCK_SKEW_MS_MAX: i64 = 4_000;

/// How long the skew nemesis lets the leader with the fast clock serve before moving leadership.
const FAST_LEADER_SERVES: Duration = Duration::from_secs(3);

/// The data group with the highest applied index on any replica (the one most commands went to).
async fn busiest_group(cluster: &Cluster) -> Option<u64> {
    let mut applied: BTreeMap<u64, u64> = BTreeMap::new();
    for status in cluster.statuses().await {
        for group in status.groups.iter().filter(|g| g.group != 0) {
            let index = applied.entry(group.group).or_default();
            *index = (*index).max(group.applied_index.unwrap_or(0));
        }
    }
    applied
        .into_iter()
        .max_by_key(|&(_, index)| index)
        .map(|(group, _)| group)
}

async fn busiest_leader(cluster: &Cluster, rng: &mut ChaCha8Rng) -> u64 {
    let nodes = cluster.ids();
    let fallback = nodes[rng.random_range(0..nodes.len())];
    match busiest_group(cluster).await {
        Some(group) => cluster.leader_of(group).await.unwrap_or(fallback),
        None => fallback,
    }
}

/// A random minority (at least one node).
fn minority(nodes: &[u64], rng: &mut ChaCha8Rng) -> Vec<u64> {
    let mut shuffled = nodes.to_vec();
    shuffled.shuffle(rng);
    let size = rng.random_range(1..=(nodes.len().saturating_sub(1) / 2).max(1));
    shuffled.truncate(size);
    shuffled
}

/// The links a partition nemesis cuts, and how to describe it.
fn partition_links(
    nemesis: Nemesis,
    nodes: &[u64],
    leader: u64,
    rng: &mut ChaCha8Rng,
) -> (BTreeSet<Link>, String) {
    let mut shuffled = nodes.to_vec();
    shuffled.shuffle(rng);
    let half = nodes.len() / 2;
    match nemesis {
        Nemesis::PartitionRandomHalves => {
            let (a, b) = shuffled.split_at(half);
            (between(a, b), format!("{a:?} | {b:?}"))
        }
        Nemesis::PartitionOneWay => {
            let deaf = minority(nodes, rng);
            let others: Vec<u64> = nodes
                .iter()
                .copied()
                .filter(|n| !deaf.contains(n))
                .collect();
            let links = others
                .iter()
                .flat_map(|&from| deaf.iter().map(move |&to| (from, to)))
                .collect();
            (links, format!("{deaf:?} cannot hear {others:?}"))
        }
        Nemesis::IsolateLeader => {
            let others: Vec<u64> = nodes.iter().copied().filter(|&n| n != leader).collect();
            (
                between(&[leader], &others),
                format!("leader {leader} | {others:?}"),
            )
        }
        Nemesis::MajoritiesRing => {
            // Around a ring, each node keeps the links to the neighbours that make its majority.
            // Three nodes cannot do that symmetrically: two ends lose each other, the middle bridges.
            let n = shuffled.len();
            let keep = (n / 2).div_ceil(2).max(1);
            let mut links = BTreeSet::new();
            for i in 0..n {
                for j in 0..n {
                    let distance = (i + n - j) % n;
                    let distance = distance.min(n - distance);
                    let cut = if n == 3 {
                        (i, j) == (0, 2) || (i, j) == (2, 0)
                    } else {
                        distance > keep
                    };
                    if cut {
                        links.insert((shuffled[i], shuffled[j]));
                    }
                }
            }
            (links, format!("ring {shuffled:?}"))
        }
        Nemesis::Bridge => {
            let bridge = shuffled[half];
            let (a, rest) = shuffled.split_at(half);
            let b: Vec<u64> = rest.iter().copied().filter(|&n| n != bridge).collect();
            (between(a, &b), format!("{a:?} | {b:?} bridged by {bridge}"))
        }
        _ => (BTreeSet::new(), String::new()),
    }
}

/// Starts `step`'s fault; returns what to undo and a description for the history.
pub async fn start(
    step: &Step,
    network: &mut Network,
    cluster: &mut Cluster,
    election_timeout_max: Duration,
) -> Result<(Active, String), NemesisError> {
    let mut rng = ChaCha8Rng::seed_from_u64(step.seed);
    let nodes = cluster.ids();
    let mut active = Active::default();
    let detail = match step.nemesis {
        Nemesis::PartitionRandomHalves
        | Nemesis::PartitionOneWay
        | Nemesis::IsolateLeader
        | Nemesis::MajoritiesRing
        | Nemesis::Bridge => {
            let leader = busiest_leader(cluster, &mut rng).await;
            let (links, detail) = partition_links(step.nemesis, &nodes, leader, &mut rng);
            network.cut(&links)?;
            detail
        }
        Nemesis::KillRandom | Nemesis::KillLeaders => {
            let victims = if step.nemesis == Nemesis::KillLeaders {
                vec![busiest_leader(cluster, &mut rng).await]
            } else {
                minority(&nodes, &mut rng)
            };
            for &id in &victims {
                cluster.kill_node(id)?;
            }
            active.killed = victims.clone();
            format!("killed {victims:?}")
        }
        Nemesis::Pause => {
            let victim = if rng.random_bool(0.5) {
                busiest_leader(cluster, &mut rng).await
            } else {
                nodes[rng.random_range(0..nodes.len())]
            };
            cluster.signal_node(victim, true)?;
            active.paused = vec![victim];
            format!("paused {victim}")
        }
        Nemesis::ClockSkew => {
            let leader = busiest_leader(cluster, &mut rng).await;
            let ahead = rng.random_range(CLOCK_SKEW_MS_MAX / 4..=CLOCK_SKEW_MS_MAX);
            let behind = -rng.random_range(CLOCK_SKEW_MS_MAX / 4..=CLOCK_SKEW_MS_MAX);
            let others: Vec<u64> = nodes.iter().copied().filter(|&n| n != leader).collect();
            let slow = others
                .get(rng.random_range(0..others.len().max(1)))
                .copied();
            cluster.set_clock_offset(leader, ahead).await?;
            if let Some(slow) = slow {
                cluster.set_clock_offset(slow, behind).await?;
            }
            active.skewed = true;
            // The fast leader serves (reads and writes) for a while; then leadership moves away from
            // its clock: its owner is paused past an election. A read that let the fast clock decide
            // a hold had expired would now meet that hold alive under a slower leader.
            tokio::time::sleep(FAST_LEADER_SERVES).await;
            cluster.signal_node(leader, true)?;
            tokio::time::sleep(election_timeout_max * 2).await;
            cluster.signal_node(leader, false)?;
            match slow {
                Some(slow) => format!(
                    "leader {leader} {ahead:+} ms, node {slow} {behind:+} ms, leader served {:?} then paused for an election",
                    FAST_LEADER_SERVES
                ),
                None => format!("leader {leader} {ahead:+} ms, paused"),
            }
        }
        Nemesis::Mixed => String::from("mixed is resolved when the schedule is made"),
    };
    Ok((active, detail))
}

/// Heals what `active` changed (and every cut link).
pub async fn heal(
    active: Active,
    network: &mut Network,
    cluster: &mut Cluster,
) -> Result<(), NemesisError> {
    network.heal()?;
    for id in active.paused {
        cluster.signal_node(id, false)?;
    }
    for id in active.killed {
        cluster.start_node(id).await?;
    }
    if active.skewed {
        for id in cluster.ids() {
            cluster.set_clock_offset(id, 0).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_is_a_function_of_its_seed() {
        let make = |seed| {
            Schedule::new(
                seed,
                &[Nemesis::Mixed],
                Duration::from_secs(5),
                Duration::from_secs(5),
                Duration::from_secs(60),
            )
        };
        assert_eq!(make(7), make(7));
        assert_ne!(make(7), make(8));
        let schedule = make(7);
        assert_eq!(schedule.steps.len(), 6, "{}", schedule.describe());
        assert!(schedule.steps.iter().all(|s| s.nemesis != Nemesis::Mixed));
        assert!(schedule
            .steps
            .windows(2)
            .all(|w| w[0].heal_ms < w[1].start_ms));
    }

    fn reachable_majority(links: &BTreeSet<Link>, nodes: &[u64]) -> Vec<usize> {
        nodes
            .iter()
            .map(|&a| {
                nodes
                    .iter()
                    .filter(|&&b| a == b || (!links.contains(&(a, b)) && !links.contains(&(b, a))))
                    .count()
            })
            .collect()
    }

    #[test]
    fn a_majorities_ring_leaves_every_node_a_majority_but_not_all() {
        for nodes in [vec![1, 2, 3], vec![1, 2, 3, 4, 5]] {
            let mut rng = ChaCha8Rng::seed_from_u64(1);
            let (links, detail) = partition_links(Nemesis::MajoritiesRing, &nodes, 1, &mut rng);
            let seen = reachable_majority(&links, &nodes);
            let majority = nodes.len() / 2 + 1;
            assert!(seen.iter().all(|&s| s >= majority), "{detail}: {seen:?}");
            assert!(
                seen.iter().any(|&s| s < nodes.len()),
                "{detail}: not everyone sees all"
            );
            assert!(!links.is_empty(), "{detail}: something is cut");
        }
    }

    #[test]
    fn isolating_the_leader_cuts_it_from_everyone_else() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (links, _) = partition_links(Nemesis::IsolateLeader, &[1, 2, 3], 2, &mut rng);
        assert_eq!(links, between(&[2], &[1, 3]));
    }

    #[test]
    fn a_one_way_partition_cuts_one_direction_only() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (links, _) = partition_links(Nemesis::PartitionOneWay, &[1, 2, 3], 1, &mut rng);
        assert!(!links.is_empty());
        assert!(links.iter().all(|&(a, b)| !links.contains(&(b, a))));
    }
}
