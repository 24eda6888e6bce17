//! A three-node cluster of real `boxofficed` processes over loopback TCP with real RocksDB: races
//! for seats never oversell, a leader killed under load loses no acknowledged buy, retries across a
//! leader change act once, a node that was down catches up by snapshot, and replicas converge.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::time::{Duration, Instant};

use boxoffice_client::Consistency;
use boxoffice_statemachine::{CustomerId, Effect, Outcome, Rejection, Selection};
use support::sales::{
    assert_no_oversell, assert_orders_present, run_buyers, seed, stadium_on_sale,
};
use support::{create_event, ProcessCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_buyers_racing_for_a_thousand_seats_never_oversell() {
    let seed = seed();
    let cluster = ProcessCluster::start(3, 3, 50_000).await;
    let client = cluster.client();
    // 2 sections x 10 rows x 20 seats + 600 GA places = 1,000.
    let spec = stadium_on_sale("race", 2, 20, 600);
    let group = create_event(&client, &spec).await;

    let sales = run_buyers(&client, std::slice::from_ref(&spec.id), 100, 15, seed)
        .finish()
        .await;
    assert_no_oversell(&sales.orders, 600);
    assert_orders_present(&client, &sales.orders).await;

    let audit = cluster.converged(group).await;
    let tickets: u64 = sales.orders.iter().map(|o| o.tickets.len() as u64).sum();
    let counts = audit.counts.unwrap();
    assert_eq!(
        u64::from(counts.sold),
        tickets,
        "every sold seat belongs to an acknowledged order"
    );
    assert_eq!(
        counts.available + counts.held + counts.sold + counts.blocked,
        1_000
    );
    assert_eq!(sales.indeterminate, 0, "no faults, so no unknown outcomes");
    assert!(tickets > 900, "demand was 2-3x supply; sold only {tickets}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_killed_under_load_loses_no_acknowledged_buy() {
    let seed = seed();
    let mut cluster = ProcessCluster::start(3, 3, 50_000).await;
    let client = cluster.client();
    let spec = stadium_on_sale("failover", 2, 20, 5_000);
    let group = create_event(&client, &spec).await;
    let leader = cluster.leader_of(group).await;

    let buyers = run_buyers(&client, std::slice::from_ref(&spec.id), 40, 60, seed);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let orders_before = buyers.sales.lock().await.orders.len();
    cluster.kill(leader);
    let killed_at = Instant::now();
    let new_leader = cluster.leader_of(group).await;
    assert_ne!(new_leader, leader);
    println!(
        "leader {leader} killed after {orders_before} orders; node {new_leader} leads after {:?}",
        killed_at.elapsed()
    );
    let sales = buyers.finish().await;
    cluster.restart(leader).await;

    println!(
        "{} orders, {} rejected, {} indeterminate, longest pause {:?}",
        sales.orders.len(),
        sales.rejected,
        sales.indeterminate,
        sales.longest_pause
    );
    assert!(sales.orders.len() > orders_before, "writes resumed");
    assert_no_oversell(&sales.orders, 5_000);
    assert_orders_present(&client, &sales.orders).await;
    let audit = cluster.converged(group).await;
    let tickets: u64 = sales.orders.iter().map(|o| o.tickets.len() as u64).sum();
    // Indeterminate buys may have landed too; acknowledged ones certainly did.
    assert!(u64::from(audit.counts.unwrap().sold) >= tickets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retry_with_the_same_request_id_across_a_leader_change_acts_once() {
    let mut cluster = ProcessCluster::start(3, 1, 50_000).await;
    let client = cluster.client();
    let spec = stadium_on_sale("retry", 2, 20, 100);
    let group = create_event(&client, &spec).await;
    let customer = CustomerId::new("carol").unwrap();
    let pick = Selection::GeneralAdmission {
        area: "Field".into(),
        quantity: 2,
    };
    let id = client.new_request_id();
    let first = client
        .hold(&id, &spec.id, &customer, &pick, None)
        .await
        .unwrap();
    let leader = cluster.leader_of(group).await;
    cluster.kill(leader);
    let again = client
        .hold(&id, &spec.id, &customer, &pick, None)
        .await
        .unwrap();
    assert_eq!(
        again.outcome, first.outcome,
        "the retry returns the first outcome"
    );
    let event = client
        .event(&spec.id, Consistency::Linearizable)
        .await
        .unwrap()
        .event
        .unwrap();
    assert_eq!(event.counts.unwrap().held, 2, "held once, not twice");
    // The same id for a different command is refused, not applied.
    let other = Selection::GeneralAdmission {
        area: "Field".into(),
        quantity: 1,
    };
    let reused = client
        .hold(&id, &spec.id, &customer, &other, None)
        .await
        .unwrap();
    assert_eq!(
        reused.outcome,
        Outcome::Rejected(Rejection::RequestIdReused)
    );
    cluster.restart(leader).await;
    cluster.converged(group).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_down_while_20_000_commands_commit_catches_up_by_snapshot() {
    // Snapshot every 100 entries and keep 1,000 behind: the restarted node's log is long gone.
    let mut cluster = ProcessCluster::start(3, 1, 100).await;
    let client = cluster.client();
    let spec = stadium_on_sale("catchup", 2, 20, 50_000);
    let group = create_event(&client, &spec).await;
    let leader = cluster.leader_of(group).await;
    let follower = *cluster.running().iter().find(|&&n| n != leader).unwrap();
    cluster.kill(follower);

    // 10,000 holds and 10,000 releases over 50 concurrent customers.
    let mut tasks = Vec::new();
    for c in 0..50u32 {
        let client = client.clone();
        let event = spec.id.clone();
        tasks.push(tokio::spawn(async move {
            let customer = CustomerId::new(format!("loop{c}")).unwrap();
            let pick = Selection::GeneralAdmission {
                area: "Field".into(),
                quantity: 1,
            };
            for _ in 0..200 {
                let held = client
                    .hold(&client.new_request_id(), &event, &customer, &pick, None)
                    .await
                    .unwrap();
                let Outcome::Accepted(Effect::Held(hold)) = held.outcome else {
                    panic!("{held:?}")
                };
                let released = client
                    .release(&client.new_request_id(), &hold.id, &customer)
                    .await
                    .unwrap();
                assert!(released.outcome.rejection().is_none(), "{released:?}");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let status = client
        .cluster_status_at(&cluster.nodes[&leader].grpc)
        .await
        .unwrap();
    let info = status.groups.iter().find(|g| g.group == group).unwrap();
    assert!(
        info.purged_index.unwrap_or(0) > 0,
        "the leader purged its log behind a snapshot: {info:?}"
    );

    cluster.restart(follower).await;
    let audit = cluster.converged(group).await;
    assert_eq!(audit.counts.unwrap().held, 0);
    let status = client
        .cluster_status_at(&cluster.nodes[&follower].grpc)
        .await
        .unwrap();
    let info = status.groups.iter().find(|g| g.group == group).unwrap();
    assert!(
        info.snapshot_index.unwrap_or(0) > 0,
        "the follower installed a snapshot: {info:?}"
    );
}
