//! The public API's contract on a real three-process cluster: errors carry stable codes and the
//! leader's address, bad input changes nothing, stale reads say how stale they are, events land on
//! the least-loaded or a dedicated group, leaderships spread over the nodes, and a whole-cluster
//! restart keeps every byte without bootstrapping again.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use boxoffice_client::proto::{self, boxoffice_client::BoxofficeClient};
use boxoffice_client::{ClientError, Consistency};
use boxoffice_statemachine::{
    fixtures, CustomerId, Effect, EventId, EventSpec, Outcome, Selection,
};
use prost::Message;
use support::ProcessCluster;

fn on_sale(mut spec: EventSpec) -> EventSpec {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    spec.on_sale_at_ms = 0;
    spec.off_sale_at_ms = now + 24 * 3_600_000;
    spec.starts_at_ms = spec.off_sale_at_ms + 1;
    spec
}

fn detail(status: &tonic::Status) -> proto::ErrorDetail {
    proto::ErrorDetail::decode(status.details()).unwrap()
}

async fn raw(address: &str) -> BoxofficeClient<tonic::transport::Channel> {
    BoxofficeClient::connect(format!("http://{address}"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_api_routes_refuses_and_reports_as_specified() {
    let mut cluster = ProcessCluster::start(3, 6, 50_000).await;
    let client = cluster.client();

    // Events spread over the least-loaded groups; a dedicated one gets a new group.
    let mut groups = BTreeMap::new();
    for i in 0..6 {
        let spec = on_sale(fixtures::club(&format!("club{i}")));
        let decided = client
            .create_event(&client.new_request_id(), &spec, false)
            .await
            .unwrap();
        assert!(decided.outcome.rejection().is_none(), "{decided:?}");
        *groups.entry(decided.group).or_insert(0) += 1;
    }
    assert_eq!(groups.len(), 6, "one club per shared group: {groups:?}");
    let tour = on_sale(fixtures::stadium("tour", 2, 10, 20, 100));
    let dedicated = client
        .create_event(&client.new_request_id(), &tour, true)
        .await
        .unwrap();
    assert_eq!(dedicated.group, 7, "a new group for the dedicated event");
    let status = client.cluster_status().await.unwrap();
    let seven = status.groups.iter().find(|g| g.group == 7).unwrap();
    assert_eq!(seven.dedicated_to.as_deref(), Some("tour"));
    assert_eq!(seven.replicas.len(), 3);

    // Invalid input: a clear error, nothing proposed.
    let bad_seat = proto::HoldRequest {
        options: Some(proto::CommandOptions {
            request_id: "bad-1".into(),
            meta_index_min: 0,
        }),
        event_id: "tour".into(),
        customer_id: "dave".into(),
        selection: Some(proto::Selection {
            kind: Some(proto::selection::Kind::Seats(proto::SeatList {
                seat_ids: vec!["A-12".into()],
            })),
        }),
        ttl_ms: None,
    };
    let node1 = cluster.nodes[&1].grpc.clone();
    let status = raw(&node1).await.hold(bad_seat).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(detail(&status).code, "INVALID_ARGUMENT");
    assert!(status.message().contains("seat"), "{}", status.message());

    // An unknown event: NOT_FOUND with a stable code, through the client too.
    let ghost = EventId::new("ghost").unwrap();
    let missing = client.event(&ghost, Consistency::Linearizable).await;
    assert!(
        matches!(missing, Err(ClientError::UnknownEvent(_))),
        "{missing:?}"
    );

    // A follower answers NOT_LEADER with the leader's id and address.
    let leader = cluster.leader_of(7).await;
    let follower = *cluster.running().iter().find(|&&n| n != leader).unwrap();
    let hold = proto::HoldRequest {
        options: Some(proto::CommandOptions {
            request_id: "direct-1".into(),
            meta_index_min: 0,
        }),
        event_id: "tour".into(),
        customer_id: "erin".into(),
        selection: Some(proto::Selection {
            kind: Some(proto::selection::Kind::GeneralAdmission(
                proto::GeneralAdmission {
                    area: "Field".into(),
                    quantity: 1,
                },
            )),
        }),
        ttl_ms: None,
    };
    let status = raw(&cluster.nodes[&follower].grpc)
        .await
        .hold(hold)
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    let not_leader = detail(&status);
    assert_eq!(not_leader.code, "NOT_LEADER");
    assert_eq!(not_leader.group, Some(7));
    assert_eq!(not_leader.leader_id, Some(leader));
    assert_eq!(
        not_leader.leader_address.as_deref(),
        Some(cluster.nodes[&leader].grpc.as_str())
    );

    // A stale read is served by the replica asked and says so (once that replica has applied the
    // event's creation: a stale read may be behind, which is what it is for).
    cluster.converged(7).await;
    let seats = raw(&cluster.nodes[&follower].grpc)
        .await
        .get_seat_map(proto::SeatMapRequest {
            read: Some(proto::ReadOptions {
                consistency: proto::Consistency::Stale as i32,
                meta_index_min: 0,
            }),
            event_id: "tour".into(),
            section: None,
        })
        .await
        .unwrap()
        .into_inner();
    let read = seats.read.unwrap();
    assert!(!read.linearizable);
    assert_eq!(read.served_by, follower);
    assert!(read.staleness_bound_ms < 5_000, "{read:?}");
    assert_eq!(seats.sections.len(), 2);

    // Bootstrap is once only.
    let again = client.bootstrap(Vec::new(), 3).await;
    assert_eq!(again.unwrap_err(), ClientError::AlreadyBootstrapped);

    // Leaderships go to each group's preferred replica: groups 1-6 round-robin over the nodes,
    // the dedicated group to node 1 (fewest preferred leaderships, lowest id).
    let deadline = Instant::now() + Duration::from_secs(30);
    let expected = BTreeMap::from([(1, 3), (2, 2), (3, 2)]);
    loop {
        let status = client.cluster_status().await.unwrap();
        let mut led: BTreeMap<u64, usize> = BTreeMap::new();
        for group in status.groups.iter().filter(|g| g.group != 0) {
            *led.entry(group.leader_id.unwrap_or(0)).or_default() += 1;
        }
        if led == expected {
            break;
        }
        assert!(Instant::now() < deadline, "leaders never spread: {led:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A sale, then every node restarts: the state is intact and nothing is bootstrapped again.
    let alice = CustomerId::new("alice").unwrap();
    let pick = Selection::GeneralAdmission {
        area: "Field".into(),
        quantity: 2,
    };
    let held = client
        .hold(&client.new_request_id(), &tour.id, &alice, &pick, None)
        .await
        .unwrap();
    let Outcome::Accepted(Effect::Held(hold)) = held.outcome else {
        panic!("{held:?}")
    };
    let bought = client
        .buy(&client.new_request_id(), &hold.id, &alice, "psp-1")
        .await
        .unwrap();
    let Outcome::Accepted(Effect::Bought(order)) = bought.outcome else {
        panic!("{bought:?}")
    };
    let before = cluster.converged(7).await;
    for id in 1..=3 {
        cluster.kill(id);
    }
    for id in 1..=3 {
        cluster.restart(id).await;
    }
    cluster.wait_ready(Duration::from_secs(30)).await;
    let client = cluster.client();
    let read = client
        .get_order(&order.id, Consistency::Linearizable)
        .await
        .unwrap();
    assert_eq!(read.order.unwrap().order_id, order.id.to_string());
    let after = cluster.converged(7).await;
    assert_eq!(after.counts, before.counts);
    let status = client.cluster_status().await.unwrap();
    assert_eq!(status.groups.len(), 8, "group 0 + 6 shared + 1 dedicated");
}
