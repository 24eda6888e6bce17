//! Holds the group's leader refuses from a linearizable read of its state instead of a log entry,
//! on a real three-process cluster: the answer is the one the log would give, the refusal is not
//! remembered under its request id (sent again, the hold is decided afresh), and a quiet group,
//! whose state time lags the leader's clock, still refuses through the log.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::time::Duration;

use boxoffice_client::Client;
use boxoffice_statemachine::{
    fixtures, CustomerId, Effect, EventId, HoldId, Outcome, RequestId, SeatId, Selection,
};
use support::{create_event, on_sale_for_a_day, ProcessCluster};

/// Every seat of `fixtures::club`: its Floor (2 rows of 6) and its Balcony (2 rows of 4).
fn club_seats() -> Vec<SeatId> {
    let floor = (0..2).flat_map(|row| (0..6).map(move |index| (0, row, index)));
    let balcony = (0..2).flat_map(|row| (0..4).map(move |index| (1, row, index)));
    floor
        .chain(balcony)
        .map(|(section, row, index)| SeatId {
            section,
            row,
            index,
        })
        .collect()
}

fn customer(name: &str) -> CustomerId {
    CustomerId::new(name).unwrap()
}

/// `who` holds `seat` under `request_id`; the outcome.
async fn hold(
    client: &Client,
    request_id: &RequestId,
    event: &EventId,
    who: &str,
    seat: SeatId,
) -> Outcome {
    let seats = Selection::Seats(vec![seat]);
    client
        .hold(request_id, event, &customer(who), &seats, None)
        .await
        .unwrap()
        .outcome
}

/// `who` holds `seat`, which must be accepted; the hold.
async fn hold_accepted(client: &Client, event: &EventId, who: &str, seat: SeatId) -> HoldId {
    match hold(client, &client.new_request_id(), event, who, seat).await {
        Outcome::Accepted(Effect::Held(view)) => view.id,
        other => panic!("{who}'s hold of {seat} was not accepted: {other:?}"),
    }
}

async fn release(client: &Client, hold: &HoldId, who: &str) {
    let released = client
        .release(&client.new_request_id(), hold, &customer(who))
        .await
        .unwrap();
    assert!(released.outcome.rejection().is_none(), "{released:?}");
}

/// Ann holds `seat`, `other` is refused it (after `pause`), Ann releases it and `other` sends the
/// same request again: whether the second answer is a fresh hold (the refusal was not remembered,
/// so it came from a read) or the refusal replayed (it came through the log).
async fn refused_then_retried(
    client: &Client,
    event: &EventId,
    seat: SeatId,
    other: &str,
    pause: Duration,
) -> Outcome {
    let anns = hold_accepted(client, event, "ann", seat).await;
    tokio::time::sleep(pause).await;
    let request = client.new_request_id();
    let refused = hold(client, &request, event, other, seat).await;
    assert_eq!(
        refused.rejection().map(|r| r.code()),
        Some("SEAT_UNAVAILABLE"),
        "{other} may not hold a seat ann holds: {refused:?}"
    );
    release(client, &anns, "ann").await;
    hold(client, &request, event, other, seat).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_taken_seat_is_refused_from_a_read_and_the_refusal_is_not_remembered() {
    let cluster = ProcessCluster::start(3, 1, 50_000).await;
    let client = cluster.client();
    let event = EventId::new("club").unwrap();
    create_event(&client, &on_sale_for_a_day(fixtures::club("club"))).await;

    // Fresh state time (Ann's hold was just applied): the leader refuses Bob from a read, unless
    // this machine took longer than the allowed clock lag between the two calls.
    let mut from_reads = 0;
    let seats = club_seats();
    for (attempt, &seat) in seats[..10].iter().enumerate() {
        // A customer per attempt: each may end up holding the seat.
        let bob = format!("bob{attempt}");
        match refused_then_retried(&client, &event, seat, &bob, Duration::ZERO).await {
            Outcome::Accepted(Effect::Held(view)) if view.customer == customer(&bob) => {
                from_reads += 1;
            }
            Outcome::Rejected(r) if r.code() == "SEAT_UNAVAILABLE" => {}
            other => panic!("{bob}'s retry of {seat}: {other:?}"),
        }
    }
    assert!(
        from_reads > 0,
        "none of 10 refusals came from a read: each was remembered by the log"
    );

    // A quiet group: the leader's clock has run ahead of state time, so a refusal from a read could
    // answer at a time the log does not hold. It goes through the log and is remembered.
    let seat = seats[10];
    let pause = Duration::from_millis(400);
    let retried = refused_then_retried(&client, &event, seat, "carol", pause).await;
    assert_eq!(
        retried.rejection().map(|r| r.code()),
        Some("SEAT_UNAVAILABLE"),
        "a refusal through the log is replayed to a retry: {retried:?}"
    );
}
