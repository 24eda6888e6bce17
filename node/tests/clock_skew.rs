//! Time in linearizable reads under clock skew, on real `boxofficed` processes: what a read from a
//! leader whose clock runs ahead shows as begun or over stays so after leadership moves to a node
//! whose clock is behind (the read commits the leader's time first; answers are at state time),
//! and readers of a quiet group share those time stamps instead of committing one each.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::time::Duration;

use boxoffice_client::proto::EventStatus;
use boxoffice_client::{Client, Consistency};
use boxoffice_statemachine::{fixtures, CustomerId, EventSpec, Outcome, Selection};
use support::{now_ms, ProcessCluster};

const CLOCK_CONTROL_ON: &str = "\n[testing]\nclock_offset_control = true\n";

/// How far ahead the fast leader's clock runs, in milliseconds.
const AHEAD_MS: u64 = 60_000;

/// A small stadium whose sale opens `opens_in_ms` from now (by the test's clock) for a day.
fn opening_in(id: &str, opens_in_ms: u64) -> EventSpec {
    let mut spec = support::on_sale_for_a_day(fixtures::stadium(id, 1, 2, 4, 100));
    spec.on_sale_at_ms = now_ms() + opens_in_ms;
    spec
}

/// The status a linearizable read of `spec`'s event answers, and the state time it answered at.
async fn read_status(client: &Client, spec: &EventSpec) -> (EventStatus, u64) {
    let reply = client
        .event(&spec.id, Consistency::Linearizable)
        .await
        .unwrap();
    (
        reply.event.unwrap().status(),
        reply.read.unwrap().state_time_ms,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sale_a_fast_leader_showed_open_stays_open_under_a_slower_leader() {
    let mut cluster = ProcessCluster::start_with(3, 1, 50_000, CLOCK_CONTROL_ON).await;
    let client = cluster.client_with(Duration::from_secs(20), Duration::from_secs(1));
    let spec = opening_in("skewed-sale", AHEAD_MS / 2);
    let group = support::create_event(&client, &spec).await;
    let (status, _) = read_status(&client, &spec).await;
    assert_eq!(status, EventStatus::Scheduled, "the sale opens in 30 s");

    // The leader's clock jumps a minute ahead: by it, the sale is open, and a read says so.
    let leader = cluster.leader_of(group).await;
    client
        .set_clock_offset_at(&cluster.nodes[&leader].grpc, AHEAD_MS as i64)
        .await
        .unwrap();
    let (status, state_time_ms) = read_status(&client, &spec).await;
    assert_eq!(status, EventStatus::OnSale);
    assert!(
        state_time_ms >= spec.on_sale_at_ms,
        "answered at {state_time_ms}, before the sale opened at {}",
        spec.on_sale_at_ms
    );

    // Leadership moves to a node on the system clock, half a minute before the opening by it.
    cluster.kill(leader);
    let successor = cluster.leader_of(group).await;
    assert_ne!(successor, leader);
    let (status, _) = read_status(&client, &spec).await;
    assert_eq!(status, EventStatus::OnSale, "the sale closed again");
    let held = client
        .hold(
            &client.new_request_id(),
            &spec.id,
            &CustomerId::new("alice").unwrap(),
            &Selection::GeneralAdmission {
                area: "Field".into(),
                quantity: 1,
            },
            None,
        )
        .await
        .unwrap();
    assert!(
        matches!(held.outcome, Outcome::Accepted(_)),
        "a sale a read showed open refused a hold: {held:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_of_a_quiet_group_share_their_time_stamps() {
    let cluster = ProcessCluster::start(3, 1, 50_000).await;
    let client = cluster.client();
    let spec = support::on_sale_for_a_day(fixtures::stadium("quiet-reads", 1, 2, 4, 100));
    support::create_event(&client, &spec).await;
    let applied =
        |reply: &boxoffice_client::proto::EventReply| reply.read.as_ref().unwrap().applied_index;
    let before = applied(
        &client
            .event(&spec.id, Consistency::Linearizable)
            .await
            .unwrap(),
    );

    // 32 readers for about a second of a group nobody writes to: state time falls behind the
    // leader's clock again every 100 ms, and each time the readers share one stamp.
    let started = std::time::Instant::now();
    let readers = (0..32).map(|_| {
        let client = client.clone();
        let id = spec.id.clone();
        async move {
            let mut reads = 0u32;
            while started.elapsed() < Duration::from_secs(1) {
                client.event(&id, Consistency::Linearizable).await.unwrap();
                reads += 1;
            }
            reads
        }
    });
    let reads: u32 = futures_util::future::join_all(readers)
        .await
        .into_iter()
        .sum();
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let after = applied(
        &client
            .event(&spec.id, Consistency::Linearizable)
            .await
            .unwrap(),
    );
    let stamps = after - before;
    // At most one stamp per 100 ms of reading, give or take the windows at either end.
    assert!(
        stamps <= elapsed_ms / 100 + 4,
        "{reads} reads in {elapsed_ms} ms committed {stamps} entries"
    );
    assert!(reads > 32, "every reader read more than once: {reads}");
}
