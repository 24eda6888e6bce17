//! Operating a live cluster of three real processes: draining a node moves every leadership it
//! holds (the cluster map's included) to other replicas and keeps them away until it is undrained;
//! drains that would leave no node to lead, or name no node, are refused and change nothing.
//! (`cluster-scripts/operations-check.sh` runs the rolling restart built on this under an on-sale.)
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::time::{Duration, Instant};

use boxoffice_client::ClientError;
use boxoffice_statemachine::{fixtures, CustomerId, EventId, RequestId, SeatId, Selection};
use support::ProcessCluster;

/// Groups (the cluster map's included) that node `id` says it leads.
async fn leaderships(cluster: &ProcessCluster, id: u64) -> usize {
    let status = cluster
        .client()
        .cluster_status_at(&cluster.nodes[&id].grpc)
        .await
        .unwrap();
    status
        .groups
        .iter()
        .filter(|g| g.leader_id == Some(id))
        .count()
}

/// Waits until node `id` leads `wanted(count)` groups; panics after `within`.
async fn until_leading(
    cluster: &ProcessCluster,
    id: u64,
    within: Duration,
    wanted: impl Fn(usize) -> bool,
) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let count = leaderships(cluster, id).await;
        if wanted(count) {
            return count;
        }
        assert!(
            Instant::now() < deadline,
            "node {id} leads {count} groups after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_draining_node_hands_over_its_leaderships_and_gets_them_back_when_undrained() {
    let cluster = ProcessCluster::start(3, 6, 50_000).await;
    let client = cluster.client();
    // Node 1 is the first replica of two data groups; wait for the balancer to give them to it.
    for group in [1, 4] {
        assert_eq!(cluster.settled_leader(group).await, 1);
    }

    let reply = client.set_node_draining(1, true).await.unwrap();
    assert_eq!(reply.draining, [1]);
    until_leading(&cluster, 1, Duration::from_secs(20), |n| n == 0).await;
    // It stays without leaderships (the balancers no longer prefer it), while others serve.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(leaderships(&cluster, 1).await, 0);
    let status = client.cluster_status().await.unwrap();
    assert!(status.nodes.iter().any(|n| n.node_id == 1 && n.draining));
    assert!(status.groups.iter().all(|g| g.leader_id.is_some()));

    let reply = client.set_node_draining(1, false).await.unwrap();
    assert!(reply.draining.is_empty());
    until_leading(&cluster, 1, Duration::from_secs(20), |n| n >= 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drains_that_leave_no_leader_or_name_no_node_are_refused() {
    let cluster = ProcessCluster::start(3, 1, 50_000).await;
    let client = cluster.client();
    let refused = |result: Result<_, ClientError>| match result {
        Err(ClientError::InvalidArgument(reason)) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let reason = refused(client.set_node_draining(9, true).await);
    assert!(reason.contains("no node 9"), "{reason}");
    client.set_node_draining(1, true).await.unwrap();
    client.set_node_draining(2, true).await.unwrap();
    let reason = refused(client.set_node_draining(3, true).await);
    assert!(reason.contains("no node to lead"), "{reason}");
    let status = client.cluster_status().await.unwrap();
    let draining: Vec<u64> = status
        .nodes
        .iter()
        .filter(|n| n.draining)
        .map(|n| n.node_id)
        .collect();
    assert_eq!(draining, [1, 2], "the refused drain changed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_stops_on_sigterm_even_while_a_proposal_waits_for_a_lost_quorum() {
    let mut cluster = ProcessCluster::start(3, 1, 50_000).await;
    let client = cluster.client();
    let spec = support::on_sale_for_a_day(fixtures::stadium("stranded", 1, 2, 4, 100));
    let group = support::create_event(&client, &spec).await;
    let leader = cluster.settled_leader(group).await;
    for id in cluster.running() {
        if id != leader {
            cluster.kill(id);
        }
    }
    // A hold the leader takes but cannot decide: its followers are gone. The caller would wait.
    let patient = cluster.client_with(Duration::from_secs(120), Duration::from_secs(120));
    let stranded = tokio::spawn(async move {
        patient
            .hold(
                &RequestId::new("stranded-hold").unwrap(),
                &EventId::new("stranded").unwrap(),
                &CustomerId::new("ann").unwrap(),
                &Selection::Seats(vec![SeatId {
                    section: 0,
                    row: 0,
                    index: 0,
                }]),
                None,
            )
            .await
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!stranded.is_finished(), "the hold waits for a quorum");
    let took = cluster.stop(leader, Duration::from_secs(30));
    println!("node {leader} stopped {took:?} after SIGTERM with a proposal in flight");
    // The caller learns nothing (it would retry elsewhere until its deadline): an indeterminate
    // outcome, as with a crash.
    stranded.abort();
}
