//! Quiescence on a real three-process cluster: idle groups stop ticking on every replica, and a
//! quiet group still serves linearizable reads and writes, keeps stale reads' staleness bound
//! honest, replaces a leader that dies while it is quiet, and goes quiet again afterwards.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::time::{Duration, Instant};

use boxoffice_client::proto::{self, boxoffice_client::BoxofficeClient};
use boxoffice_client::{Client, Consistency};
use boxoffice_statemachine::{
    fixtures, CustomerId, Effect, EventId, EventSpec, Outcome, Selection,
};
use support::ProcessCluster;

/// How long an idle cluster of the harness's timings may take to go quiet.
const QUIET_WITHIN: Duration = Duration::from_secs(30);
/// Longer than the harness's longest election timeout, the lease of a leader's quorum ack.
const LEASE_LAPSED: Duration = Duration::from_millis(1_500);

fn on_sale(id: &str) -> EventSpec {
    support::on_sale_for_a_day(fixtures::stadium(id, 1, 2, 5, 100))
}

/// Holds two GA places for `customer`; the hold must be accepted.
async fn hold_two(client: &Client, event: &EventId, customer: &str) {
    let decided = client
        .hold(
            &client.new_request_id(),
            event,
            &CustomerId::new(customer).unwrap(),
            &Selection::GeneralAdmission {
                area: "Field".into(),
                quantity: 2,
            },
            None,
        )
        .await
        .unwrap();
    assert!(
        matches!(decided.outcome, Outcome::Accepted(Effect::Held(_))),
        "{decided:?}"
    );
}

/// A stale read of `event` served by the node at `address`.
async fn stale_read(address: &str, event: &EventId) -> proto::ReadInfo {
    BoxofficeClient::connect(format!("http://{address}"))
        .await
        .unwrap()
        .get_event(proto::EventRequest {
            read: Some(proto::ReadOptions {
                consistency: proto::Consistency::Stale as i32,
                meta_index_min: 0,
            }),
            event_id: event.as_str().into(),
        })
        .await
        .unwrap()
        .into_inner()
        .read
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quiet_groups_serve_reads_and_writes_and_replace_a_dead_leader() {
    let mut cluster = ProcessCluster::start(3, 3, 50_000).await;
    let client = cluster.client();
    let spec = on_sale("quiet");
    let created = client
        .create_event(&client.new_request_id(), &spec, false)
        .await
        .unwrap();
    let group = created.group;
    println!(
        "idle cluster quiet after {:?}",
        cluster.wait_quiet(QUIET_WITHIN).await
    );

    // A quiet leader renews its write lease (lapsed: no heartbeats for longer than the longest
    // election timeout) and replicates on demand.
    tokio::time::sleep(LEASE_LAPSED).await;
    let write_started = Instant::now();
    hold_two(&client, &spec.id, "ada").await;
    println!(
        "first write to a quiet group: {:?}",
        write_started.elapsed()
    );
    println!(
        "quiet again after a write: {:?}",
        cluster.wait_quiet(QUIET_WITHIN).await
    );
    // ... and confirms its leadership on demand for a linearizable read.
    let read_started = Instant::now();
    let event = client
        .event(&spec.id, Consistency::Linearizable)
        .await
        .unwrap();
    println!(
        "linearizable read of a quiet group: {:?}",
        read_started.elapsed()
    );
    assert_eq!(event.event.unwrap().counts.unwrap().held, 2);
    cluster.wait_quiet(QUIET_WITHIN).await;

    // Followers of a quiet group still know how current they are.
    let leader = cluster.leader_of(group).await;
    let follower = cluster
        .running()
        .into_iter()
        .find(|id| *id != leader)
        .unwrap();
    let read = stale_read(&cluster.nodes[&follower].grpc, &spec.id).await;
    assert_eq!(read.served_by, follower);
    assert!(
        read.staleness_bound_ms < 2_000,
        "a quiet follower hears from its leader through node beats: {read:?}"
    );

    // The leader of the quiet group dies: its followers stop being vouched for and elect.
    cluster.kill(leader);
    let killed_at = Instant::now();
    hold_two(&client, &spec.id, "grace").await;
    println!(
        "a quiet group's dead leader replaced, writes resumed after {:?}",
        killed_at.elapsed()
    );
    assert_ne!(cluster.leader_of(group).await, leader);

    // The returning node catches up and every group goes quiet again.
    cluster.restart(leader).await;
    let audit = cluster.converged(group).await;
    assert_eq!(audit.counts.unwrap().held, 4);
    println!(
        "quiet again after the restart: {:?}",
        cluster.wait_quiet(QUIET_WITHIN).await
    );
}
