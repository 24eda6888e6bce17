//! A group's read barrier on three in-process nodes over gRPC: concurrent reads on the leader all
//! pass, on a follower all are sent to the leader, and on a leader cut off from its followers
//! they fail together within about one round's wait instead of queueing one wait each.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a failed test

use std::sync::Arc;
use std::time::Duration;

use boxoffice_node::local_cluster::LocalCluster;
use boxoffice_node::raft::read_barrier::ReadBarrier;
use futures_util::future::join_all;
use openraft::Config;

const GROUP: u64 = 1;
const READS: usize = 32;

fn config() -> Config {
    Config {
        heartbeat_interval: 100,
        election_timeout_min: 400,
        election_timeout_max: 800,
        ..Config::default()
    }
}

/// `READS` reads through `barrier` at once; each one's result.
async fn concurrent_reads(barrier: &Arc<ReadBarrier>) -> Vec<Result<(), String>> {
    let reads = (0..READS).map(|_| {
        let barrier = barrier.clone();
        async move { barrier.pass().await.map_err(|e| e.to_string()) }
    });
    join_all(reads).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_pass_on_the_leader_only_and_fail_together_without_a_quorum() {
    let mut cluster = LocalCluster::start(3, vec![GROUP], config()).await.unwrap();
    let leader = cluster.leader(GROUP).await.unwrap();
    let follower = (1..=3).find(|&id| id != leader).unwrap();

    let on_leader = Arc::new(ReadBarrier::new(cluster.raft(leader, GROUP).unwrap()));
    for result in concurrent_reads(&on_leader).await {
        assert_eq!(result, Ok(()), "a read on the leader passes");
    }

    let on_follower = Arc::new(ReadBarrier::new(cluster.raft(follower, GROUP).unwrap()));
    for result in concurrent_reads(&on_follower).await {
        let refused = result.expect_err("a follower cannot serve a linearizable read");
        assert!(refused.contains("forward"), "sent to the leader: {refused}");
    }

    // Without its followers the leader cannot confirm its leadership: every queued read fails,
    // and they share the rounds' failures. One wait each would take READS x 0.8 s = 25 s.
    for id in (1..=3).filter(|&id| id != leader) {
        cluster.crash(id).await.unwrap();
    }
    let failed = tokio::time::timeout(Duration::from_secs(8), concurrent_reads(&on_leader))
        .await
        .expect("queued reads fail together, not one lease-long wait each");
    assert!(
        failed.iter().all(Result::is_err),
        "no read passes without a quorum: {failed:?}"
    );
}
