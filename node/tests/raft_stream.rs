//! The streamed Raft append call between nodes (`AppendEntriesStream`), on a real three-process
//! cluster: a stream names its group in its metadata (none, or one not hosted, is refused at once),
//! each append is answered with openraft's result (a stale leader's with the higher vote), and a
//! message that is not one of the group's appends fails the stream with INVALID_ARGUMENT. Real
//! replication travels this way in every cluster test.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use boxoffice_node::raft::append_stream::GROUP_METADATA;
use boxoffice_node::raft::transport::pb::{
    raft_transport_client::RaftTransportClient, RaftMessage,
};
use boxoffice_node::raft::TypeConfig;
use boxoffice_statemachine::codec;
use futures_util::stream;
use openraft::raft::{AppendEntriesRequest, StreamAppendError, StreamAppendResult};
use support::ProcessCluster;
use tonic::transport::Channel;
use tonic::{Code, Request, Status, Streaming};

/// An append from a leader of term 0, older than any vote a running group holds.
fn stale_append() -> Vec<u8> {
    let append = AppendEntriesRequest::<TypeConfig> {
        vote: openraft::impls::Vote::new_committed(0, 9),
        prev_log_id: None,
        entries: Vec::new(),
        leader_commit: None,
    };
    codec::encode(&append)
}

fn message(group: u64, payload: Vec<u8>) -> RaftMessage {
    RaftMessage { group, payload }
}

/// Opens a replication stream carrying `messages`, naming `group` in its metadata (if any).
async fn open(
    peer: &mut RaftTransportClient<Channel>,
    group: Option<&str>,
    messages: Vec<RaftMessage>,
) -> Result<Streaming<RaftMessage>, Status> {
    let mut request = Request::new(stream::iter(messages));
    if let Some(group) = group {
        request
            .metadata_mut()
            .insert(GROUP_METADATA, group.parse().unwrap());
    }
    peer.append_entries_stream(request)
        .await
        .map(tonic::Response::into_inner)
}

/// Every answer of `answers` until it ends: the decoded results, then how it ended.
async fn drain(
    mut answers: Streaming<RaftMessage>,
) -> (Vec<StreamAppendResult<TypeConfig>>, Result<(), Code>) {
    let mut results = Vec::new();
    loop {
        match answers.message().await {
            Ok(Some(answer)) => results.push(codec::decode(&answer.payload, 1 << 20).unwrap()),
            Ok(None) => return (results, Ok(())),
            Err(status) => return (results, Err(status.code())),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replication_stream_answers_each_append_in_order_and_refuses_what_is_not_one() {
    let cluster = ProcessCluster::start(3, 1, 50_000).await;
    let mut peer = cluster.raft_client(2).await;

    let unnamed = open(&mut peer, None, vec![]).await.unwrap_err();
    assert_eq!(unnamed.code(), Code::InvalidArgument);
    let garbled = open(&mut peer, Some("one"), vec![]).await.unwrap_err();
    assert_eq!(garbled.code(), Code::InvalidArgument);
    let unhosted = open(&mut peer, Some("77"), vec![]).await.unwrap_err();
    assert_eq!(unhosted.code(), Code::NotFound);

    // Group 1 is a data group every node hosts. A stale leader's append is answered with the
    // group's higher vote, which ends the stream.
    let answers = open(&mut peer, Some("1"), vec![message(1, stale_append())])
        .await
        .unwrap();
    let (results, ended) = drain(answers).await;
    assert!(
        matches!(results.as_slice(), [Err(StreamAppendError::HigherVote(_))]),
        "{results:?}"
    );
    assert_eq!(ended, Ok(()));

    // A message that is no append, or an append of another group, fails the stream.
    for refused in [message(1, b"\xff".to_vec()), message(0, stale_append())] {
        let answers = open(&mut peer, Some("1"), vec![refused]).await.unwrap();
        let (results, ended) = drain(answers).await;
        assert!(results.is_empty(), "{results:?}");
        assert_eq!(ended, Err(Code::InvalidArgument));
    }

    // The cluster's own streams still flow: it commits and converges.
    let client = cluster.client();
    let spec = support::on_sale_for_a_day(boxoffice_statemachine::fixtures::club("after-stream"));
    let group = support::create_event(&client, &spec).await;
    cluster.converged(group).await;
}
