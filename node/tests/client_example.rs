//! The client crate's quickstart example, the one its rustdoc shows, run as written against three
//! real `boxofficed` processes.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

#[allow(dead_code)] // its `main` is for `cargo run --example`
#[path = "../../client/examples/quickstart.rs"]
mod quickstart;

use support::ProcessCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_quickstart_buys_two_seats_on_a_live_cluster() {
    let cluster = ProcessCluster::start(3, 2, 50_000).await;
    let endpoints: Vec<String> = cluster.nodes.values().map(|n| n.grpc.clone()).collect();
    let bought = quickstart::quickstart(&endpoints).await.unwrap();
    println!("{bought:?}");
    assert_eq!(bought.tickets.len(), 2, "{bought:?}");
    assert!(bought.order.starts_with(&bought.event), "{bought:?}");
    assert!(
        bought.tickets.iter().all(|t| t.starts_with(&bought.order)),
        "{bought:?}"
    );
    // Two "Floor" tier seats at 120.00 each.
    assert_eq!(bought.amount_cents, 24_000);
}
