//! The client's own promises, without a cluster: what it says when no node can be reached.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use boxoffice_client::{Client, ClientError, ClientOptions};
use boxoffice_statemachine::{CustomerId, EventId, Selection};

/// A loopback port nobody listens on.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    address
}

#[test]
fn a_client_needs_at_least_one_endpoint() {
    let none: [&str; 0] = [];
    let refused = Client::connect(none, ClientOptions::default());
    assert!(matches!(refused, Err(ClientError::InvalidArgument(_))));
}

#[tokio::test]
async fn a_command_no_node_could_receive_is_definitely_not_applied() {
    let options = ClientOptions {
        deadline: Duration::from_millis(500),
        ..ClientOptions::default()
    };
    let client = Client::connect([closed_port()], options).unwrap();
    let held = client
        .hold(
            &client.new_request_id(),
            &EventId::new("tour").unwrap(),
            &CustomerId::new("alice").unwrap(),
            &Selection::GeneralAdmission {
                area: "Pit".into(),
                quantity: 1,
            },
            None,
        )
        .await;
    match held {
        Err(ClientError::Unavailable(reason)) => assert!(reason.contains("connect"), "{reason}"),
        other => panic!("expected a definite Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn request_ids_are_unique_per_client() {
    let client = Client::connect(["127.0.0.1:7081"], ClientOptions::default()).unwrap();
    let ids: std::collections::BTreeSet<String> = (0..1_000)
        .map(|_| client.new_request_id().to_string())
        .collect();
    assert_eq!(ids.len(), 1_000);
}
