//! The test-only hooks of `[testing]` on real `boxofficed` processes: off by default (SetClockOffset
//! refused with TESTING_DISABLED and nothing moved, linearizable reads served by the leader); on,
//! a leader's clock offset moves the stamps of new holds while state time never goes back, and
//! `unsafe_local_reads` lets a follower answer a linearizable read from its own replica.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use boxoffice_client::proto::{self, boxoffice_client::BoxofficeClient};
use boxoffice_client::{Client, ClientError, ClientOptions, Consistency};
use boxoffice_statemachine::{
    fixtures, CustomerId, Effect, EventId, EventSpec, HoldView, Outcome, Selection,
};
use prost::Message;
use support::{now_ms, ProcessCluster};

const HOOKS_ON: &str = "\n[testing]\nclock_offset_control = true\nunsafe_local_reads = true\n";

/// How far a test stamps may be from this process's clock: scheduling on a loaded machine.
const SLACK_MS: u64 = 10_000;

/// A small stadium with a general-admission field, on sale now for a day, default limits.
fn on_sale(id: &str) -> EventSpec {
    support::on_sale_for_a_day(fixtures::stadium(id, 1, 2, 4, 100))
}

/// One place on the field for `customer`.
async fn hold(client: &Client, event: &EventId, customer: &str) -> HoldView {
    let customer = CustomerId::new(customer).unwrap();
    let pick = Selection::GeneralAdmission {
        area: "Field".into(),
        quantity: 1,
    };
    let held = client
        .hold(&client.new_request_id(), event, &customer, &pick, None)
        .await
        .unwrap();
    let Outcome::Accepted(Effect::Held(view)) = held.outcome else {
        panic!("{held:?}")
    };
    view
}

/// A client that knows only node `address`.
fn client_of(address: &str) -> Client {
    Client::connect([address], ClientOptions::default()).unwrap()
}

/// How a linearizable seat-map read sent first to `address` was served.
async fn linearizable_read_via(address: &str, event: &EventId) -> proto::ReadInfo {
    client_of(address)
        .seat_map(event, None, Consistency::Linearizable)
        .await
        .unwrap()
        .read
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hooks_are_off_by_default() {
    let cluster = ProcessCluster::start(3, 1, 50_000).await;
    let client = cluster.client();
    let event = on_sale("plain");
    let group = support::create_event(&client, &event).await;
    let leader = cluster.settled_leader(group).await;
    let follower = (1..=3).find(|&n| n != leader).unwrap();

    // SetClockOffset is refused with a stable code, by the client and on the wire.
    let refused = client
        .set_clock_offset_at(&cluster.nodes[&leader].grpc, 60_000)
        .await;
    assert!(
        matches!(refused, Err(ClientError::TestingDisabled(_))),
        "{refused:?}"
    );
    let mut raw = BoxofficeClient::connect(format!("http://{}", cluster.nodes[&leader].grpc))
        .await
        .unwrap();
    let status = raw
        .set_clock_offset(proto::SetClockOffsetRequest { offset_ms: 60_000 })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    let detail = proto::ErrorDetail::decode(status.details()).unwrap();
    assert_eq!(detail.code, "TESTING_DISABLED");
    assert!(
        status.message().contains("testing.clock_offset_control"),
        "{}",
        status.message()
    );

    // ... and moved nothing: the leader still stamps its own time.
    let before = now_ms();
    let held = hold(&client, &event.id, "alice").await;
    let after = now_ms();
    assert!(
        held.created_at_ms + SLACK_MS >= before && held.created_at_ms <= after + SLACK_MS,
        "stamped {} outside [{before}, {after}]",
        held.created_at_ms
    );

    // A linearizable read sent to a follower is answered by the leader.
    let read = linearizable_read_via(&cluster.nodes[&follower].grpc, &event.id).await;
    assert!(read.linearizable, "{read:?}");
    assert_eq!(read.served_by, leader, "{read:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clock_offsets_move_the_leaders_stamps_and_local_reads_skip_the_leader() {
    let cluster = ProcessCluster::start_with(3, 1, 50_000, HOOKS_ON).await;
    let client = cluster.client();
    let event = on_sale("skewed");
    let group = support::create_event(&client, &event).await;
    let leader = cluster.settled_leader(group).await;
    let follower = (1..=3).find(|&n| n != leader).unwrap();
    let at_leader = cluster.nodes[&leader].grpc.clone();

    // Out of bounds: refused, nothing set (the leader still stamps its own time).
    for offset_ms in [86_400_001, -86_400_001, i64::MIN] {
        let refused = client.set_clock_offset_at(&at_leader, offset_ms).await;
        assert!(
            matches!(refused, Err(ClientError::InvalidArgument(_))),
            "{offset_ms}: {refused:?}"
        );
    }
    let before = now_ms();
    let first = hold(&client, &event.id, "alice").await;
    assert!(
        first.created_at_ms + SLACK_MS >= before && first.created_at_ms <= now_ms() + SLACK_MS,
        "stamped {} around {before}",
        first.created_at_ms
    );

    // The leader 60 s ahead: a new hold is stamped (and expires) about 60 s after the first.
    let shifted = client
        .set_clock_offset_at(&at_leader, 60_000)
        .await
        .unwrap();
    assert_eq!(shifted.offset_ms, 60_000);
    assert!(
        shifted.now_ms >= now_ms() + 60_000 - SLACK_MS,
        "{shifted:?}"
    );
    let ahead = hold(&client, &event.id, "bob").await;
    let moved = ahead.created_at_ms - first.created_at_ms;
    assert!(
        (60_000..60_000 + SLACK_MS).contains(&moved),
        "created {} then {}",
        first.created_at_ms,
        ahead.created_at_ms
    );
    assert_eq!(
        ahead.expires_at_ms - ahead.created_at_ms,
        first.expires_at_ms - first.created_at_ms,
        "the same TTL from the shifted now"
    );
    let state_ahead = client
        .seat_map(&event.id, None, Consistency::Linearizable)
        .await
        .unwrap()
        .read
        .unwrap()
        .state_time_ms;
    assert!(state_ahead >= ahead.created_at_ms);

    // Back to the system time (absolute, not cumulative): state time does not go back, so a later
    // hold is stamped no earlier than the shifted one.
    let restored = client.set_clock_offset_at(&at_leader, 0).await.unwrap();
    assert_eq!(restored.offset_ms, 0);
    assert!(restored.now_ms < ahead.created_at_ms, "{restored:?}");
    let later = hold(&client, &event.id, "carol").await;
    assert!(
        later.created_at_ms >= ahead.created_at_ms,
        "state time went back: {} after {}",
        later.created_at_ms,
        ahead.created_at_ms
    );
    let read = client
        .seat_map(&event.id, None, Consistency::Linearizable)
        .await
        .unwrap()
        .read
        .unwrap();
    assert!(read.state_time_ms >= state_ahead, "{read:?}");

    // With unsafe_local_reads a follower answers a linearizable read itself, and says it is
    // linearizable.
    let read = linearizable_read_via(&cluster.nodes[&follower].grpc, &event.id).await;
    assert!(read.linearizable, "{read:?}");
    assert_eq!(read.served_by, follower, "{read:?}");
}
