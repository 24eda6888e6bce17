//! Growing and shrinking a live cluster of real processes under a steady on-sale: a node that joins
//! takes an even share of replicas (each caught up by snapshot before it votes) and of preferred
//! leaderships; a removed node gives all of them away and is forgotten; a removal that would leave
//! too few nodes is refused. Throughout, no seat is sold twice, every acknowledged order stays, and
//! every replica passes the invariant audit.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use boxoffice_client::{proto, ClientError};
use boxoffice_statemachine::EventId;
use support::sales::{
    assert_no_oversell, assert_orders_present, run_buyers, seed, stadium_on_sale, Sales,
};
use support::{create_event, ProcessCluster};

const DATA_GROUPS: u32 = 6;
/// Groups snapshot often, so a new replica catches up from a snapshot, not only the log.
const SNAPSHOT_AFTER_ENTRIES: u64 = 100;
/// General-admission places of each event (plus 400 seats).
const GA_PLACES: u32 = 5_000;

/// Waits until the cluster status satisfies `settled`; panics with the last status after `within`.
async fn until_status(
    cluster: &ProcessCluster,
    within: Duration,
    what: &str,
    settled: impl Fn(&proto::ClusterStatusReply) -> bool,
) -> proto::ClusterStatusReply {
    let deadline = Instant::now() + within;
    let client = cluster.client();
    loop {
        if let Ok(status) = client.cluster_status().await {
            if settled(&status) {
                return status;
            }
            if Instant::now() > deadline {
                panic!("{what}: not after {within:?}; status {status:#?}");
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what}: no status after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Data-group replicas and preferred leaderships per node, and whether a move is under way.
fn shares(status: &proto::ClusterStatusReply) -> (BTreeMap<u64, (usize, usize)>, bool) {
    let mut shares: BTreeMap<u64, (usize, usize)> =
        status.nodes.iter().map(|n| (n.node_id, (0, 0))).collect();
    let data = status.groups.iter().filter(|g| g.group != 0);
    for group in data.clone() {
        for (k, node) in group.replicas.iter().enumerate() {
            let share = shares.entry(*node).or_default();
            share.0 += 1;
            share.1 += usize::from(k == 0);
        }
    }
    (shares, data.clone().any(|g| g.moving.is_some()))
}

/// Replica counts differ by at most one and nothing is moving.
fn even(status: &proto::ClusterStatusReply) -> bool {
    let (shares, moving) = shares(status);
    let counts = shares.values().map(|s| s.0);
    !moving && counts.clone().max().unwrap_or(0) <= counts.min().unwrap_or(0) + 1
}

/// Snapshots node `id` installed, from its `/metrics`.
async fn snapshots_installed(cluster: &ProcessCluster, id: u64) -> u64 {
    let text = reqwest::get(format!("http://{}/metrics", cluster.nodes[&id].http))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with("boxoffice_snapshots_total{kind=\"installed\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0, |n| n.parse::<f64>().unwrap() as u64)
}

/// Every data group's replicas agree and pass the audit, and every acknowledged order is there.
async fn assert_sales_kept(cluster: &ProcessCluster, sales: &Sales) {
    assert_no_oversell(&sales.orders, GA_PLACES);
    assert_orders_present(&cluster.client(), &sales.orders).await;
    for group in 1..=u64::from(DATA_GROUPS) {
        cluster.converged(group).await;
    }
    cluster.converged(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_added_and_another_removed_under_an_on_sale_move_replicas_without_losing_a_sale() {
    let seed = seed();
    let mut cluster = ProcessCluster::start(3, DATA_GROUPS, SNAPSHOT_AFTER_ENTRIES).await;
    let client = cluster.client();

    // Three nodes and three replicas a group: no node can go.
    match client.remove_node(3).await {
        Err(ClientError::InvalidArgument(reason)) => {
            assert!(reason.contains("add a node first"), "{reason}")
        }
        other => panic!("removing one of three nodes: {other:?}"),
    }

    let mut events: Vec<EventId> = Vec::new();
    for k in 0..DATA_GROUPS {
        let spec = stadium_on_sale(&format!("tour-{k}"), 2, 20, GA_PLACES);
        create_event(&client, &spec).await;
        events.push(spec.id);
    }
    let buyers = run_buyers(&client, &events, 24, 1_000_000, seed);
    // Until every group's log has been purged behind a snapshot: new replicas start from one.
    until_status(&cluster, Duration::from_secs(60), "logs purged", |s| {
        s.groups
            .iter()
            .all(|g| g.group == 0 || g.purged_index.unwrap_or(0) > 0)
    })
    .await;

    // Node 4 joins through the others and takes a quarter of the 18 replicas.
    let started = Instant::now();
    cluster.add_node(4).await;
    let status = until_status(&cluster, Duration::from_secs(120), "node 4's share", |s| {
        let (shares, _) = shares(s);
        even(s) && shares.get(&4).is_some_and(|share| share.0 >= 4)
    })
    .await;
    let (after_add, _) = shares(&status);
    println!(
        "node 4 added in {:?}: shares {after_add:?}",
        started.elapsed()
    );
    let installed = snapshots_installed(&cluster, 4).await;
    assert!(
        installed >= 1,
        "node 4's replicas caught up from snapshots ({installed})"
    );
    assert!(
        after_add[&4].1 >= 1,
        "node 4 is preferred leader of part of its share"
    );
    until_status(&cluster, Duration::from_secs(30), "node 4 leading", |s| {
        s.groups
            .iter()
            .any(|g| g.group != 0 && g.replicas.first() == Some(&4) && g.leader_id == Some(4))
    })
    .await;

    // Node 2 leaves: its replicas move to the other three, then the map forgets it.
    let started = Instant::now();
    let reply = client.remove_node(2).await.unwrap();
    assert_eq!(reply.removing, [2]);
    let status = until_status(
        &cluster,
        Duration::from_secs(120),
        "node 2 forgotten",
        |s| s.nodes.iter().all(|n| n.node_id != 2) && even(s),
    )
    .await;
    let (after_remove, _) = shares(&status);
    println!(
        "node 2 removed in {:?}: shares {after_remove:?}",
        started.elapsed()
    );
    assert_eq!(after_remove.values().map(|s| s.0).sum::<usize>(), 18);
    cluster.kill(2);

    tokio::time::sleep(Duration::from_secs(2)).await;
    let sales = buyers.stop().await;
    println!("{}", sales.summary());
    assert!(!sales.orders.is_empty());
    assert_sales_kept(&cluster, &sales).await;
}
