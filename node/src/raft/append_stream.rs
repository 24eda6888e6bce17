//! Streamed replication: one group's appends to one follower on one gRPC stream, each sent as soon
//! as the leader has it (openraft's pipeline) instead of after the answer to the one before, and
//! answered in order. The follower side feeds the stream to `Raft::stream_append`; the leader side
//! pulls openraft's appends in a task of its own, so that dropping the answers ends them whatever
//! HTTP/2 is waiting for, and fails a stream whose follower stops answering. Heartbeats do not
//! come here: they keep to the per-peer batches of `append_batch`.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future;
use futures_util::stream::{self, BoxStream, Stream, StreamExt};
use openraft::raft::{AppendEntriesRequest, StreamAppendResult};
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::time::Instant;
use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::transport::Channel;
use tonic::{Request, Status, Streaming};

use super::transport::pb::raft_transport_client::RaftTransportClient;
use super::transport::pb::RaftMessage;
use super::transport::{GroupRaft, Groups};
use super::{decode, encode, lock, TypeConfig};
use crate::storage::GroupId;

/// The call metadata naming the group a replication stream carries.
pub const GROUP_METADATA: &str = "boxoffice-raft-group";

/// Appends encoded and waiting for HTTP/2 to take them, per stream.
pub const APPEND_STREAM_QUEUE_MAX: usize = 16;

/// The slowest a follower is expected to take in, write and answer an append, in bytes per
/// second: an append is allowed the RPC's TTL (the heartbeat interval) plus its size at this rate.
/// A usual append is answered within the TTL; a large one (an event imported whole, megabytes in
/// one entry) would fail every time against the TTL alone, and be sent again for ever.
pub const APPEND_BYTES_PER_S_MIN: u64 = 4 * 1024 * 1024;

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
            // An error means the sender is gone with the node's groups: that counts as closed.
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
    // On close the appends end too: openraft's task reading them stops and lets the call go, so
    // the server's shutdown does not wait on the leader to end it.
    let appends = {
        let refused = refused.clone();
        incoming
            .take_until(closing.closed())
            .scan((), move |(), message| {
                let append = message.and_then(|message| {
                    if message.group != group {
                        return Err(Status::invalid_argument(format!(
                            "an append of group {} on group {group}'s replication stream",
                            message.group
                        )));
                    }
                    decode::<AppendEntriesRequest<TypeConfig>>(&message.payload).map_err(|e| {
                        Status::invalid_argument(format!(
                            "undecodable append on group {group}: {e}"
                        ))
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
    // A stream ended by this node stopping fails as unavailable, so the leader backs off instead
    // of opening another at once.
    let stopping = closing.clone();
    let stopped = stream::once(async move {
        stopping
            .is_closed()
            .then(|| Err(Status::unavailable("this node is stopping")))
    })
    .filter_map(future::ready);
    Ok(answers
        .chain(refusal)
        .take_until(closing.closed())
        .chain(stopped)
        .boxed())
}

// ---- leader side -----------------------------------------------------------------------------

/// Opens `group`'s replication stream to the peer behind `client` once `appends` has its first
/// append, and sends them as they come. Opening may take `setup`; a stream that has appends
/// waiting for answers fails once none has come for `ttl` (counted from the last answer, or from
/// when the oldest waiting append left, whichever is later), and an idle stream waits without a
/// timer. Dropping the answers ends the appends, so openraft's next stream starts from a clean
/// state.
///
/// Waiting for the first append keeps openraft's backoff: after repeated failures its request
/// stream sleeps before it yields, and a peer that refuses connections would otherwise be
/// retried at once, in a loop.
pub async fn open<S>(
    mut client: RaftTransportClient<Channel>,
    group: GroupId,
    mut appends: S,
    setup: Duration,
    ttl: Duration,
) -> Result<Answers, Status>
where
    S: Stream<Item = AppendEntriesRequest<TypeConfig>> + Send + Unpin + 'static,
{
    let Some(first) = appends.next().await else {
        return Ok(stream::empty().boxed());
    };
    let (answers_kept, answers_dropped) = oneshot::channel::<()>();
    let (queue, queued) = mpsc::channel(APPEND_STREAM_QUEUE_MAX);
    tokio::spawn(forward(
        group,
        stream::iter([first]).chain(appends),
        queue,
        answers_dropped,
    ));
    let unanswered: Arc<Unanswered> = Arc::default();
    let outgoing = stream::unfold(
        (queued, unanswered.clone()),
        |(mut queued, unanswered)| async move {
            let message = queued.recv().await?;
            unanswered.sent(message.payload.len());
            Some((message, (queued, unanswered)))
        },
    );
    let mut request = Request::new(outgoing);
    request
        .metadata_mut()
        .insert(GROUP_METADATA, AsciiMetadataValue::from(group));
    let answers = tokio::time::timeout(setup, client.append_entries_stream(request))
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

/// Pulls openraft's appends into `queue`, encoded, until they end or the answers are dropped;
/// then drops them. openraft's request stream holds its replication state locked while it waits
/// for new entries, and HTTP/2 stops polling a request body while the peer grants no window: the
/// appends must not live inside the body, or a silent follower would keep the next session from
/// that lock.
async fn forward<S>(
    group: GroupId,
    mut appends: S,
    queue: mpsc::Sender<RaftMessage>,
    mut answers_dropped: oneshot::Receiver<()>,
) where
    S: Stream<Item = AppendEntriesRequest<TypeConfig>> + Unpin,
{
    loop {
        let append = tokio::select! {
            biased;
            _ = &mut answers_dropped => return,
            append = appends.next() => match append {
                Some(append) => append,
                None => return,
            },
        };
        let message = RaftMessage {
            group,
            payload: encode(&append),
        };
        tokio::select! {
            biased;
            _ = &mut answers_dropped => return,
            queued = queue.send(message) => if queued.is_err() {
                return;
            },
        }
    }
}

/// The appends of one stream still waiting for their answers.
#[derive(Default)]
struct Unanswered {
    waiting: Mutex<Waiting>,
    /// Wakes an idle wait when an append leaves.
    sending: Notify,
}

#[derive(Default)]
struct Waiting {
    /// When each unanswered append left and how long its size alone allows it, oldest first.
    sent: VecDeque<(Instant, Duration)>,
    /// When the last answer came.
    answered_at: Option<Instant>,
}

impl Unanswered {
    fn sent(&self, bytes: usize) {
        let allowance = size_allowance(bytes);
        lock(&self.waiting)
            .sent
            .push_back((Instant::now(), allowance));
        self.sending.notify_one();
    }

    /// When the follower is due to have answered the oldest unanswered append, if there is one:
    /// `ttl` plus that append's size allowance, counted from the last answer or from when it
    /// left, whichever is later.
    fn answer_due(&self, ttl: Duration) -> Option<Instant> {
        let waiting = lock(&self.waiting);
        let &(sent_at, allowance) = waiting.sent.front()?;
        let since = waiting
            .answered_at
            .map_or(sent_at, |answered| answered.max(sent_at));
        Some(since + ttl + allowance)
    }

    fn answered(&self) {
        let mut waiting = lock(&self.waiting);
        waiting.sent.pop_front();
        waiting.answered_at = Some(Instant::now());
    }
}

/// The time an append of `bytes` is allowed beyond the RPC's TTL, at [`APPEND_BYTES_PER_S_MIN`].
fn size_allowance(bytes: usize) -> Duration {
    Duration::from_secs_f64(bytes as f64 / APPEND_BYTES_PER_S_MIN as f64)
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
            let Some(due) = self.unanswered.answer_due(self.ttl) else {
                // Idle: wait for an answer (the stream's end, most likely) or an append to time.
                // An append sent since `answer_due` looked has left a wake-up behind.
                tokio::select! {
                    message = self.answers.message() => break message,
                    () = self.unanswered.sending.notified() => continue,
                }
            };
            match tokio::time::timeout_at(due, self.answers.message()).await {
                Ok(message) => break message,
                Err(_) => {
                    return Some(Err(Status::deadline_exceeded(format!(
                        "group {}'s follower has not answered an append in time ({:?} and its size \
                         at {APPEND_BYTES_PER_S_MIN} bytes/s)",
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
            open(refusing_peer(), 1, stream::pending(), TTL, TTL),
        )
        .await;
        assert!(waiting.is_err(), "no append yet: nothing was called");

        let Ok(mut answers) = open(refusing_peer(), 1, stream::empty(), TTL, TTL).await else {
            panic!("appends that end at once open nothing, so nothing refuses them");
        };
        assert!(answers.next().await.is_none());
    }

    #[tokio::test]
    async fn an_append_opens_the_stream_and_meets_the_peer_refusing_it() {
        let Err(refused) = open(refusing_peer(), 1, stream::iter([append()]), TTL, TTL).await
        else {
            panic!("nothing listens on the peer's port");
        };
        assert_eq!(refused.code(), Code::Unavailable);
    }

    /// Sends on drop: tells a test when what holds it is dropped.
    struct DropSignal(Option<oneshot::Sender<()>>);

    impl Drop for DropSignal {
        fn drop(&mut self) {
            if let Some(signal) = self.0.take() {
                let _ = signal.send(());
            }
        }
    }

    #[tokio::test]
    async fn dropping_the_answers_drops_the_appends_even_while_nothing_takes_them() {
        let (signal, appends_dropped) = oneshot::channel();
        let held = DropSignal(Some(signal));
        // More appends than the queue holds, then none for ever: the forwarder ends up blocked on
        // a full queue that nobody reads, as when HTTP/2 waits for a silent follower's window.
        let appends = stream::iter(vec![append(); APPEND_STREAM_QUEUE_MAX * 2])
            .chain(stream::pending())
            .map(move |append| {
                let _held = &held;
                append
            });
        let (queue, _unread) = mpsc::channel(APPEND_STREAM_QUEUE_MAX);
        let (answers_kept, answers_dropped) = oneshot::channel();
        let forwarder = tokio::spawn(forward(1, appends, queue, answers_dropped));
        tokio::task::yield_now().await;
        assert!(!forwarder.is_finished());
        drop(answers_kept);
        tokio::time::timeout(Duration::from_secs(10), appends_dropped)
            .await
            .expect("the appends are dropped")
            .expect("dropped, not leaked");
        forwarder.await.expect("the forwarder ends");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_waits_from_its_last_answer_or_its_oldest_unanswered_append() {
        let step = Duration::from_millis(300);
        let unanswered = Unanswered::default();
        assert_eq!(unanswered.answer_due(TTL), None, "idle: no deadline");
        let start = Instant::now();
        unanswered.sent(0);
        unanswered.sent(0);
        assert_eq!(unanswered.answer_due(TTL), Some(start + TTL));
        tokio::time::advance(step).await;
        unanswered.answered();
        assert_eq!(
            unanswered.answer_due(TTL),
            Some(start + step + TTL),
            "an answer is progress: the second append is timed from it"
        );
        unanswered.answered();
        assert_eq!(unanswered.answer_due(TTL), None);
        tokio::time::advance(step).await;
        unanswered.sent(0);
        assert_eq!(
            unanswered.answer_due(TTL),
            Some(start + step * 2 + TTL),
            "an append sent after the last answer is timed from when it left"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_large_append_is_allowed_its_size_at_the_slowest_expected_rate() {
        let unanswered = Unanswered::default();
        let start = Instant::now();
        let import_bytes = 16 * 1024 * 1024;
        unanswered.sent(import_bytes);
        unanswered.sent(100);
        let allowance = Duration::from_secs(import_bytes as u64 / APPEND_BYTES_PER_S_MIN);
        assert_eq!(allowance, Duration::from_secs(4));
        assert_eq!(unanswered.answer_due(TTL), Some(start + TTL + allowance));
        tokio::time::advance(allowance).await;
        unanswered.answered();
        let due = unanswered.answer_due(TTL).expect("the small append waits");
        assert!(
            due - (start + allowance + TTL) < Duration::from_millis(1),
            "the small append behind it gets the TTL (and its own few microseconds) from the \
             answer: {:?}",
            due - start
        );
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
