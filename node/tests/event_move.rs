//! Moving a hot event to a group of its own while buyers keep buying, on three real processes: the
//! event's holds, orders and remembered outcomes move whole (orders made before the move read back
//! from the new group), no seat is sold twice, its old group keeps only its other event, and every
//! replica of every group passes the audit.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::time::{Duration, Instant};

use boxoffice_client::{proto, ClientError};
use boxoffice_statemachine::{EventId, EventSpec};
use support::sales::{
    assert_no_oversell, assert_orders_present, run_buyers, seed, stadium_on_sale,
};
use support::{create_event, ProcessCluster};

/// General-admission places of each event (plus 2 sections x 10 rows x 20 seats).
const GA_PLACES: u32 = 5_000;

/// Waits until `event` is placed on a group other than `from` and no longer moving.
async fn until_moved(cluster: &ProcessCluster, event: &EventId, from: u64) -> u64 {
    let client = cluster.client();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = client.cluster_status().await.unwrap();
        let placed: Option<&proto::EventPlacement> =
            status.events.iter().find(|e| e.event_id == event.as_str());
        if let Some(placed) = placed.filter(|p| p.group != from && p.moving_to.is_none()) {
            return placed.group;
        }
        assert!(
            Instant::now() < deadline,
            "{event} did not finish moving: {placed:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn capacity(spec: &EventSpec) -> u64 {
    let (seats, places) = spec.capacity().unwrap();
    u64::from(seats) + u64::from(places)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hot_event_moves_to_its_own_group_while_on_sale_without_losing_a_sale() {
    let seed = seed();
    let cluster = ProcessCluster::start(3, 2, 50_000).await;
    let client = cluster.client();
    // "tour" and "third" share group 1; "other" has group 2.
    let tour = stadium_on_sale("tour", 2, 20, GA_PLACES);
    let other = stadium_on_sale("other", 2, 20, GA_PLACES);
    let third = stadium_on_sale("third", 2, 20, GA_PLACES);
    let shared = create_event(&client, &tour).await;
    create_event(&client, &other).await;
    assert_eq!(create_event(&client, &third).await, shared);

    let buyers = run_buyers(
        &client,
        &[tour.id.clone(), third.id.clone()],
        24,
        1_000_000,
        seed,
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    let reply = client.move_event(&tour.id).await.unwrap();
    assert_eq!(reply.from_group, shared);
    let own = until_moved(&cluster, &tour.id, shared).await;
    assert_eq!(own, reply.to_group);
    println!(
        "tour moved from group {shared} to group {own} in {:?}",
        started.elapsed()
    );
    // Moving it again is refused: it has a group to itself.
    match client.move_event(&tour.id).await {
        Err(ClientError::InvalidArgument(reason)) => {
            assert!(reason.contains("to itself"), "{reason}")
        }
        other => panic!("moving it again: {other:?}"),
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sales = buyers.stop().await;

    println!("{}", sales.summary());
    let tour_orders = sales
        .orders
        .iter()
        .filter(|o| o.id.event == tour.id)
        .count();
    assert!(tour_orders > 0, "tour sold before and after its move");
    assert_no_oversell(&sales.orders, GA_PLACES);
    assert_orders_present(&client, &sales.orders).await;

    // The old group keeps only "third"; the new one holds all of "tour".
    let old = cluster.converged(shared).await.counts.unwrap();
    let total = |c: &proto::Counts| {
        u64::from(c.available) + u64::from(c.held) + u64::from(c.sold) + u64::from(c.blocked)
    };
    assert_eq!(total(&old), capacity(&third), "group {shared} dropped tour");
    let moved = cluster.converged(own).await.counts.unwrap();
    assert_eq!(total(&moved), capacity(&tour));
    let tickets: u64 = sales
        .orders
        .iter()
        .filter(|o| o.id.event == tour.id)
        .map(|o| o.tickets.len() as u64)
        .sum();
    assert!(
        u64::from(moved.sold) >= tickets,
        "every ticket of tour moved"
    );
    cluster.converged(2).await;
    cluster.converged(0).await;
}
