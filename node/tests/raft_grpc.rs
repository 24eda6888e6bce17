//! Raft groups on three nodes that talk gRPC over loopback sockets, one channel per peer for every
//! group: proposals commit, a crashed leader is replaced, a node that missed purged logs catches up
//! by a streamed snapshot, retries act once, and every replica of every group converges.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a failed test

use std::collections::BTreeMap;

use boxoffice_node::local_cluster::LocalCluster;
use boxoffice_node::raft::Proposal;
use boxoffice_statemachine::{
    fixtures, Action, Command, CustomerId, EventId, RequestId, Selection,
};
use openraft::Config;

/// Short timeouts, and a snapshot every 40 entries with the logs behind it purged.
fn config() -> Config {
    Config {
        heartbeat_interval: 150,
        election_timeout_min: 600,
        election_timeout_max: 1_200,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(40),
        max_in_snapshot_log_to_keep: 5,
        ..Config::default()
    }
}

fn command(id: String, at_ms: u64, action: Action) -> Command {
    Command {
        request_id: RequestId::new(id).unwrap(),
        at_ms,
        action,
    }
}

fn create(event: &str) -> Proposal {
    Proposal::tickets(&[command(
        format!("create-{event}"),
        1_000,
        Action::CreateEvent(fixtures::club(event)),
    )])
}

/// One general-admission place in the club's 10-place Pit.
fn ga_hold(event: &str, i: u64) -> Proposal {
    let hold = Action::Hold {
        event: EventId::new(event).unwrap(),
        customer: CustomerId::new(format!("c{i}")).unwrap(),
        selection: Selection::GeneralAdmission {
            area: "Pit".into(),
            quantity: 1,
        },
        ttl_ms: None,
    };
    Proposal::tickets(&[command(format!("{event}-hold-{i}"), 2_000 + i, hold)])
}

async fn accepted(cluster: &LocalCluster, group: u64, proposal: Proposal) -> bool {
    cluster.propose(group, proposal).await.unwrap()[0]
        .rejection()
        .is_none()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_groups_survive_a_follower_restart_and_catch_up_by_snapshot() {
    let mut cluster = LocalCluster::start(3, vec![1, 2], config()).await.unwrap();
    for (group, event) in [(1, "ev-a"), (2, "ev-b")] {
        assert!(accepted(&cluster, group, create(event)).await);
    }
    let leader = cluster.leader(1).await.unwrap();
    let down = (1..=3).find(|&id| id != leader).unwrap();
    cluster.crash(down).await.unwrap();
    let mut held = BTreeMap::new();
    for i in 0..60 {
        for (group, event) in [(1, "ev-a"), (2, "ev-b")] {
            if accepted(&cluster, group, ga_hold(event, i)).await {
                *held.entry(group).or_insert(0) += 1;
            }
        }
    }
    assert_eq!(
        held,
        BTreeMap::from([(1, 10), (2, 10)]),
        "the Pit has 10 places per event"
    );
    cluster.boot(down).await.unwrap();
    for (group, event) in [(1, "ev-a"), (2, "ev-b")] {
        cluster.propose(group, ga_hold(event, 1_000)).await.unwrap();
        cluster.converged(group).await.unwrap();
    }
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_leader_is_replaced_and_retried_holds_act_once() {
    let mut cluster = LocalCluster::start(3, vec![1], config()).await.unwrap();
    assert!(accepted(&cluster, 1, create("ev")).await);
    let mut held = 0;
    for i in 0..6 {
        held += u32::from(accepted(&cluster, 1, ga_hold("ev", i)).await);
    }
    let old_leader = cluster.leader(1).await.unwrap();
    cluster.crash(old_leader).await.unwrap();
    for i in 6..18 {
        held += u32::from(accepted(&cluster, 1, ga_hold("ev", i)).await);
    }
    assert_eq!(held, 10);
    assert_ne!(cluster.leader(1).await.unwrap(), old_leader);
    // Replaying every hold with its original request id changes nothing: same outcomes, same
    // holds and counts (the Raft applied index moves on, so the whole-state hash does too).
    let (_, before) = cluster.converged(1).await.unwrap();
    let mut replayed = 0;
    for i in 0..18 {
        replayed += u32::from(accepted(&cluster, 1, ga_hold("ev", i)).await);
    }
    assert_eq!(replayed, 10, "retries return the first outcomes");
    cluster.boot(old_leader).await.unwrap();
    let (_, after) = cluster.converged(1).await.unwrap();
    assert_eq!(before, after, "duplicates acted once on every replica");
    assert_eq!(after.counts.held, 10);
    cluster.shutdown().await.unwrap();
}
