//! Streamed replication: one group's appends to one follower on one gRPC stream, each sent as soon
//! as the leader has it (openraft's pipeline) instead of after the answer to the one before, and
//! answered in order. The follower side feeds the stream to `Raft::stream_append`; the leader side
//! times out an append left unanswered, and ends its appends when openraft drops the answers.
//! Heartbeats do not come here: they keep to the per-peer batches of `append_batch`.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures_util::future;
use futures_util::stream::{self, BoxStream, Stream, StreamExt};
use openraft::raft::{AppendEntriesRequest, StreamAppendResult};
use tokio::sync::{oneshot, watch, Notify};
use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::transport::Channel;
use tonic::{Request, Status, Streaming};

use super::transport::pb::raft_transport_client::RaftTransportClient;
use super::transport::pb::RaftMessage;
use super::transport::{GroupRaft, Groups};
use super::{decode, encode, TypeConfig};
use crate::storage::GroupId;

/// The call metadata naming the group a replication stream carries.
pub const GROUP_METADATA: &str = "boxoffice-raft-group";

/// One group's answers to one replication stream: openraft's result per append, in order.
pub type Answers = BoxStream<'static, Result<StreamAppendResult<TypeConfig>, Status>>;

/// Ends every replication stream a node serves when it stops: a stream lasts as long as its
/// leader keeps it, and the server's graceful shutdown would wait for it forever.
#[derive(Debug, Clone)]
pub struct StreamsClosing(Arc<watch::Sender<bool>>);

impl Default for StreamsClosing {
    fn default() -> Self {
        StreamsClosing(Arc::new(watch::Sender::new(false)))
    }
}

impl StreamsClosing {
    /// Ends the streams served now and refuses those opened from now on.
    pub fn close(&self) {
        self.0.send_replace(true);
    }

    /// Resolves once `close` is called.
    fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut closing = self.0.subscribe();
        async move {
            // An error means the sender is gone: nothing can close the streams any more but
            // their ending, which is what this says.
            let _ = closing.wait_for(|closed| *closed).await;
        }
    }

    fn is_closed(&self) -> bool {
        *self.0.borrow()
    }
}

// ---- follower side ---------------------------------------------------------------------------

/// The group a replication stream names in its metadata.
pub fn stream_group(metadata: &MetadataMap) -> Result<GroupId, Status> {
    let value = metadata.get(GROUP_METADATA).ok_or_else(|| {
        Status::invalid_argument(format!(
            "a replication stream names its group in `{GROUP_METADATA}`"
        ))
    })?;
    value
        .to_str()
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| Status::invalid_argument(format!("`{GROUP_METADATA}` is not a group id")))
}

/// The answers of `group`'s Raft here to the appends arriving on `incoming`, in their order. A
/// message that is not one of `group`'s appends ends the stream: the appends before it are
/// answered, then the stream fails with `INVALID_ARGUMENT`.
pub fn answer(
    groups: &Groups,
    group: GroupId,
    raft: GroupRaft,
    incoming: Streaming<RaftMessage>,
) -> Result<BoxStream<'static, Result<RaftMessage, Status>>, Status> {
    let closing = groups.streams_closing();
    if closing.is_closed() {
        return Err(Status::unavailable("this node is stopping"));
    }
    let refused: Arc<Mutex<Option<Status>>> = Arc::default();
    let appends = {
        let refused = refused.clone();
        incoming.scan((), move |(), message| {
            let append = message.and_then(|message| {
                if message.group != group {
                    return Err(Status::invalid_argument(format!(
                        "an append of group {} on group {group}'s replication stream",
                        message.group
                    )));
                }
                decode::<AppendEntriesRequest<TypeConfig>>(&message.payload).map_err(|e| {
                    Status::invalid_argument(format!("undecodable append on group {group}: {e}"))
                })
            });
            future::ready(match append {
                Ok(append) => Some(append),
                Err(status) => {
                    *lock(&refused) = Some(status);
                    None
                }
            })
        })
    };
    let heard = groups.clone();
    let answers = raft.stream_append(appends).map(move |answer| match answer {
        Ok(result) => {
            if result.is_ok() {
                heard.heard_from_leader(group);
            }
            Ok(RaftMessage {
                group,
                payload: encode(&result),
            })
        }
        Err(fatal) => Err(Status::unavailable(format!(
            "group {group} has stopped here: {fatal}"
        ))),
    });
    let refusal =
        stream::once(async move { lock(&refused).take().map(Err) }).filter_map(future::ready);
    Ok(answers.chain(refusal).take_until(closing.closed()).boxed())
}

// ---- leader side -----------------------------------------------------------------------------

/// Opens `group`'s replication stream to the peer behind `client` once `appends` has its first
/// append, and sends them as they come. Opening may take `ttl`, and so may each append's answer,
/// counted from when it left; an idle stream waits without a timer. Dropping the answers ends the
/// appends, so openraft's next stream starts from a clean state.
///
/// Waiting for the first append keeps openraft's backoff: after repeated failures its request
/// stream sleeps before it yields, and a peer that refuses connections would otherwise be
/// retried at once, in a loop.
pub async fn open<S>(
    mut client: RaftTransportClient<Channel>,
    group: GroupId,
    mut appends: S,
    ttl: Duration,
) -> Result<Answers, Status>
where
    S: Stream<Item = AppendEntriesRequest<TypeConfig>> + Send + Unpin + 'static,
{
    let Some(first) = appends.next().await else {
        return Ok(stream::empty().boxed());
    };
    let appends = stream::iter([first]).chain(appends);
    let unanswered: Arc<Unanswered> = Arc::default();
    let (answers_kept, answers_dropped) = oneshot::channel::<()>();
    let outgoing = stream::unfold(
        (appends, answers_dropped, unanswered.clone()),
        move |(mut appends, mut answers_dropped, unanswered)| async move {
            let append = tokio::select! {
                biased;
                _ = &mut answers_dropped => return None,
                append = appends.next() => append?,
            };
            let message = RaftMessage {
                group,
                payload: encode(&append),
            };
            unanswered.sent();
            Some((message, (appends, answers_dropped, unanswered)))
        },
    );
    let mut request = Request::new(outgoing);
    request
        .metadata_mut()
        .insert(GROUP_METADATA, AsciiMetadataValue::from(group));
    let answers = tokio::time::timeout(ttl, client.append_entries_stream(request))
        .await
        .map_err(|_| Status::deadline_exceeded("opening the replication stream timed out"))??
        .into_inner();
    let session = Session {
        group,
        answers,
        unanswered,
        ttl,
        _answers_kept: answers_kept,
    };
    Ok(stream::unfold(Some(session), |session| async move {
        let mut session = session?;
        let answer = session.next_answer().await?;
        let more = answer.is_ok().then_some(session);
        Some((answer, more))
    })
    .boxed())
}

/// The appends of one stream still waiting for their answers.
#[derive(Default)]
struct Unanswered {
    /// When each left, oldest first.
    sent_at: Mutex<VecDeque<Instant>>,
    /// Wakes an idle wait when an append leaves.
    sending: Notify,
}

impl Unanswered {
    fn sent(&self) {
        lock(&self.sent_at).push_back(Instant::now());
        self.sending.notify_one();
    }

    fn oldest(&self) -> Option<Instant> {
        lock(&self.sent_at).front().copied()
    }

    fn answered(&self) {
        lock(&self.sent_at).pop_front();
    }
}

/// The leader's end of one replication stream.
struct Session {
    group: GroupId,
    answers: Streaming<RaftMessage>,
    unanswered: Arc<Unanswered>,
    ttl: Duration,
    /// Dropped with the session: the appends end.
    _answers_kept: oneshot::Sender<()>,
}

impl Session {
    /// The next answer, or None once the follower has ended the stream.
    async fn next_answer(&mut self) -> Option<Result<StreamAppendResult<TypeConfig>, Status>> {
        let message = loop {
            let Some(oldest) = self.unanswered.oldest() else {
                // Idle: wait for an answer (the stream's end, most likely) or an append to time.
                // An append sent since `oldest` looked has left a wake-up behind.
                tokio::select! {
                    message = self.answers.message() => break message,
                    () = self.unanswered.sending.notified() => continue,
                }
            };
            let wait = (oldest + self.ttl).saturating_duration_since(Instant::now());
            match tokio::time::timeout(wait, self.answers.message()).await {
                Ok(message) => break message,
                Err(_) => {
                    return Some(Err(Status::deadline_exceeded(format!(
                        "an append to group {} went unanswered for {:?}",
                        self.group, self.ttl
                    ))))
                }
            }
        };
        match message {
            Ok(Some(answer)) => {
                self.unanswered.answered();
                Some(self.decode(&answer))
            }
            Ok(None) => None,
            Err(status) => Some(Err(status)),
        }
    }

    fn decode(&self, answer: &RaftMessage) -> Result<StreamAppendResult<TypeConfig>, Status> {
        if answer.group != self.group {
            return Err(Status::internal(format!(
                "group {}'s replication stream answered for group {}",
                self.group, answer.group
            )));
        }
        decode(&answer.payload)
            .map_err(|e| Status::internal(format!("undecodable append answer: {e}")))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::transport::Endpoint;
    use tonic::Code;

    const TTL: Duration = Duration::from_secs(1);

    /// A client of a loopback port nothing listens on: any call is refused.
    fn refusing_peer() -> RaftTransportClient<Channel> {
        RaftTransportClient::new(Endpoint::from_static("http://127.0.0.1:1").connect_lazy())
    }

    fn append() -> AppendEntriesRequest<TypeConfig> {
        AppendEntriesRequest {
            vote: openraft::impls::Vote::new_committed(1, 1),
            prev_log_id: None,
            entries: Vec::new(),
            leader_commit: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_is_opened_only_once_it_has_an_append() {
        let waiting = tokio::time::timeout(
            Duration::from_secs(60),
            open(refusing_peer(), 1, stream::pending(), TTL),
        )
        .await;
        assert!(waiting.is_err(), "no append yet: nothing was called");

        let Ok(mut answers) = open(refusing_peer(), 1, stream::empty(), TTL).await else {
            panic!("appends that end at once open nothing, so nothing refuses them");
        };
        assert!(answers.next().await.is_none());
    }

    #[tokio::test]
    async fn an_append_opens_the_stream_and_meets_the_peer_refusing_it() {
        let Err(refused) = open(refusing_peer(), 1, stream::iter([append()]), TTL).await else {
            panic!("nothing listens on the peer's port");
        };
        assert_eq!(refused.code(), Code::Unavailable);
    }

    #[test]
    fn a_stream_names_its_group_in_its_metadata() {
        let mut metadata = MetadataMap::new();
        assert_eq!(
            stream_group(&metadata).map_err(|s| s.code()),
            Err(Code::InvalidArgument)
        );
        metadata.insert(GROUP_METADATA, AsciiMetadataValue::from(7u64));
        assert_eq!(stream_group(&metadata).map_err(|s| s.code()), Ok(7));
        metadata.insert(GROUP_METADATA, AsciiMetadataValue::from_static("seven"));
        assert_eq!(
            stream_group(&metadata).map_err(|s| s.code()),
            Err(Code::InvalidArgument)
        );
    }
}
