//! Customer commands in batch calls (`SubmitBatch`), on a real three-process cluster: each command
//! of a batch is answered in its place exactly as its own call would be (outcome, rejection or
//! error with its code), an oversized batch changes nothing, and the client's batching of many
//! concurrent callers gives every caller its own answer.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use boxoffice_client::proto::{self, batched_command::Command, batched_reply};
use boxoffice_client::{convert, Client, Consistency};
use boxoffice_statemachine::{fixtures, CustomerId, EventId, EventSpec, SeatId, Selection};
use futures_util::future::join_all;
use support::ProcessCluster;

/// A 2 x 10 x 20 stadium (400 seats) on sale for a day.
fn stadium(id: &str) -> EventSpec {
    support::on_sale_for_a_day(fixtures::stadium(id, 2, 10, 20, 0))
}

fn seat(n: u16) -> SeatId {
    SeatId {
        section: n / 200,
        row: (n % 200) / 20,
        index: n % 20,
    }
}

/// A raw hold request for one seat.
fn hold(client: &Client, event: &str, customer: &str, seat: SeatId) -> Command {
    Command::Hold(proto::HoldRequest {
        options: Some(proto::CommandOptions {
            request_id: client.new_request_id().to_string(),
            meta_index_min: 0,
        }),
        event_id: event.into(),
        customer_id: customer.into(),
        selection: Some(convert::selection_to_proto(&Selection::Seats(vec![seat]))),
        ttl_ms: None,
    })
}

fn batch(commands: Vec<Option<Command>>) -> proto::CommandBatch {
    proto::CommandBatch {
        commands: commands
            .into_iter()
            .map(|command| proto::BatchedCommand { command })
            .collect(),
    }
}

/// The stable code of a batched answer: the rejection's, the error's, or "ACCEPTED".
fn code_of(reply: &proto::BatchedReply) -> String {
    match reply.result.as_ref().unwrap() {
        batched_reply::Result::Reply(reply) => {
            let outcome = convert::outcome_from_proto(reply.outcome.clone()).unwrap();
            match outcome.rejection() {
                Some(rejection) => rejection.code().to_owned(),
                None => "ACCEPTED".to_owned(),
            }
        }
        batched_reply::Result::Error(error) => error.detail.as_ref().unwrap().code.clone(),
    }
}

async fn held_seats(client: &Client, event: &str) -> u32 {
    let view = client
        .event(&EventId::new(event).unwrap(), Consistency::Linearizable)
        .await
        .unwrap()
        .event
        .unwrap();
    view.counts.unwrap().held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_answers_each_command_in_its_place() {
    let cluster = ProcessCluster::start(3, 2, 50_000).await;
    let client = cluster.client();
    let group_a = support::create_event(&client, &stadium("batch-a")).await;
    let group_b = support::create_event(&client, &stadium("batch-b")).await;
    let leader_a = cluster.settled_leader(group_a).await;
    let leader_b = cluster.settled_leader(group_b).await;
    let mut raw = proto::boxoffice_client::BoxofficeClient::connect(format!(
        "http://{}",
        cluster.nodes[&leader_a].grpc
    ))
    .await
    .unwrap();

    let replies = raw
        .submit_batch(batch(vec![
            Some(hold(&client, "batch-a", "ann", seat(0))),
            Some(hold(&client, "batch-a", "bob", seat(0))),
            Some(hold(&client, "no-such-event", "cid", seat(0))),
            None,
            Some(hold(&client, "batch-b", "dan", seat(1))),
            Some(hold(&client, "batch-a", "eve", seat(2))),
        ]))
        .await
        .unwrap()
        .into_inner()
        .replies;
    let codes: Vec<String> = replies.iter().map(code_of).collect();
    // As alone: an event this node does not know is looked up on group 0's leader (or the caller
    // is sent there), and a command for a group led elsewhere is sent to its leader.
    let unknown = if cluster.settled_leader(0).await == leader_a {
        "UNKNOWN_EVENT"
    } else {
        "NOT_LEADER"
    };
    let elsewhere = if leader_b == leader_a {
        "ACCEPTED"
    } else {
        "NOT_LEADER"
    };
    assert_eq!(
        codes,
        [
            "ACCEPTED",
            "SEAT_UNAVAILABLE",
            unknown,
            "INVALID_ARGUMENT",
            elsewhere,
            "ACCEPTED"
        ],
        "{replies:?}"
    );
    if let batched_reply::Result::Error(error) = replies[4].result.as_ref().unwrap() {
        let detail = error.detail.as_ref().unwrap();
        assert_eq!(error.code, tonic::Code::FailedPrecondition as i32);
        assert_eq!(
            detail.leader_address.as_deref(),
            Some(cluster.nodes[&leader_b].grpc.as_str()),
            "a NOT_LEADER answer names the leader"
        );
    }
    assert_eq!(held_seats(&client, "batch-a").await, 2);

    // One command over the bound: the whole call is refused and nothing is held.
    let oversized: Vec<Option<Command>> = (0..1_025)
        .map(|n| {
            Some(hold(
                &client,
                "batch-a",
                &format!("c{n}"),
                seat(100 + n % 300),
            ))
        })
        .collect();
    let status = raw.submit_batch(batch(oversized)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("1024"), "{}", status.message());
    assert_eq!(held_seats(&client, "batch-a").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_callers_of_one_client_each_get_their_own_answer() {
    let cluster = ProcessCluster::start(3, 2, 50_000).await;
    let client = cluster.client();
    let events = ["crowd-a", "crowd-b"];
    for event in events {
        support::create_event(&client, &stadium(event)).await;
    }

    // 300 holds of distinct seats on each event, and 60 customers racing for 10 more seats of the
    // first, all at once.
    let mut calls = Vec::new();
    for (e, event) in events.iter().enumerate() {
        for n in 0..300u16 {
            calls.push((event.to_string(), format!("d{e}-{n}"), seat(n)));
        }
    }
    for n in 0..60u16 {
        calls.push((events[0].into(), format!("racer-{n}"), seat(300 + n % 10)));
    }
    let answers = join_all(calls.iter().map(|(event, customer, seat)| {
        let client = client.clone();
        async move {
            client
                .hold(
                    &client.new_request_id(),
                    &EventId::new(event.as_str()).unwrap(),
                    &CustomerId::new(customer.as_str()).unwrap(),
                    &Selection::Seats(vec![*seat]),
                    None,
                )
                .await
                .unwrap()
        }
    }))
    .await;
    let (distinct, racing) = answers.split_at(600);
    assert!(
        distinct.iter().all(|d| d.outcome.rejection().is_none()),
        "every distinct seat is held"
    );
    let won = racing
        .iter()
        .filter(|d| d.outcome.rejection().is_none())
        .count();
    let lost: Vec<&str> = racing
        .iter()
        .filter_map(|d| d.outcome.rejection().map(|r| r.code()))
        .collect();
    assert_eq!(won, 10, "one winner per raced seat");
    assert!(
        lost.iter().all(|code| *code == "SEAT_UNAVAILABLE"),
        "{lost:?}"
    );
    assert_eq!(held_seats(&client, events[0]).await, 310);
    assert_eq!(held_seats(&client, events[1]).await, 300);
}
