//! The batched Raft append call between nodes (`AppendEntriesBatch`), on a real three-process
//! cluster: each message of a batch is answered in its place as its own AppendEntries would be (an
//! unhosted group's as NOT_FOUND, an undecodable one's as INVALID_ARGUMENT, without disturbing the
//! others), and an oversized batch is refused whole. Real heartbeats travel this way in every
//! cluster test.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use boxoffice_node::raft::append_batch::APPEND_BATCH_MESSAGES_MAX;
use boxoffice_node::raft::transport::pb::{raft_batch_answer, RaftBatch, RaftMessage};
use support::ProcessCluster;
use tonic::Code;

fn message(group: u64, payload: &[u8]) -> RaftMessage {
    RaftMessage {
        group,
        payload: payload.to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_append_of_a_batch_is_answered_in_its_place() {
    let cluster = ProcessCluster::start(3, 1, 50_000).await;
    let mut peer = cluster.raft_client(2).await;

    let batch = RaftBatch {
        messages: vec![message(77, b"anything"), message(1, b"\xff not an append")],
    };
    let answers = peer
        .append_entries_batch(batch)
        .await
        .unwrap()
        .into_inner()
        .answers;
    let codes: Vec<Code> = answers
        .iter()
        .map(|answer| match answer.result.as_ref().unwrap() {
            raft_batch_answer::Result::Error(error) => Code::from_i32(error.code),
            raft_batch_answer::Result::Reply(_) => Code::Ok,
        })
        .collect();
    assert_eq!(codes, [Code::NotFound, Code::InvalidArgument]);

    let oversized = RaftBatch {
        messages: vec![message(77, b""); APPEND_BATCH_MESSAGES_MAX + 1],
    };
    let refused = peer.append_entries_batch(oversized).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);

    // The cluster's own batched heartbeats and streamed appends still flow: it commits and
    // converges.
    let client = cluster.client();
    let spec = support::on_sale_for_a_day(boxoffice_statemachine::fixtures::club("after-batch"));
    let group = support::create_event(&client, &spec).await;
    cluster.converged(group).await;
}
