//! Batched Raft appends per peer node: the heartbeats (and any append sent on its own, not on a
//! group's replication stream, `append_stream`) that many groups send to one peer at the same
//! moment travel in one `AppendEntriesBatch` call, each answered in its place as its own call would
//! be. With many groups this saves a gRPC call per group per heartbeat on both nodes. Never waits
//! to fill a batch: what is queued when a call can leave goes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Semaphore};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

use super::transport::pb::raft_transport_client::RaftTransportClient;
use super::transport::pb::{raft_batch_answer, RaftBatch, RaftBatchAnswer, RaftMessage};

/// Appends in one batch call.
pub const APPEND_BATCH_MESSAGES_MAX: usize = 64;
/// Encoded appends in one batch call, in bytes (a larger single append still goes, alone).
pub const APPEND_BATCH_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Batch calls on their way to one peer at once; further appends wait in the queue meanwhile.
pub const APPEND_CALLS_IN_FLIGHT_MAX: usize = 8;
/// Appends waiting for a call to one peer; senders beyond it wait for room (within their timeout).
pub const APPEND_QUEUE_MAX: usize = 4_096;

/// One append waiting for a call.
struct Waiting {
    message: RaftMessage,
    /// The longest its sender waits.
    ttl: Duration,
    answer: oneshot::Sender<Result<RaftMessage, Status>>,
}

/// The append batcher towards one peer; cheap to clone. Its task ends when the last clone is
/// dropped.
#[derive(Debug, Clone)]
pub struct AppendBatcher {
    queue: mpsc::Sender<Waiting>,
}

impl AppendBatcher {
    /// Starts the batching task towards the peer behind `client` (inside a Tokio runtime).
    pub fn start(client: RaftTransportClient<Channel>) -> AppendBatcher {
        let (queue, waiting) = mpsc::channel(APPEND_QUEUE_MAX);
        tokio::spawn(run(client, waiting));
        AppendBatcher { queue }
    }

    /// Sends `message` (one group's AppendEntries) with the next call and waits at most `ttl` for
    /// its answer: the peer's reply, or the status its own call would have failed with.
    pub async fn append(&self, message: RaftMessage, ttl: Duration) -> Result<RaftMessage, Status> {
        let stopped = || Status::unavailable("the append batcher has stopped");
        let (answer, answered) = oneshot::channel();
        let waiting = Waiting {
            message,
            ttl,
            answer,
        };
        let sent = async {
            self.queue.send(waiting).await.map_err(|_| stopped())?;
            answered.await.map_err(|_| stopped())?
        };
        match tokio::time::timeout(ttl, sent).await {
            Ok(result) => result,
            Err(_) => Err(Status::deadline_exceeded("append timed out")),
        }
    }
}

async fn run(client: RaftTransportClient<Channel>, mut waiting: mpsc::Receiver<Waiting>) {
    let in_flight = Arc::new(Semaphore::new(APPEND_CALLS_IN_FLIGHT_MAX));
    // Set once the peer answers that it has no batch call (an older version during a rolling
    // upgrade): from then on each append goes as its own AppendEntries.
    let unbatched = Arc::new(AtomicBool::new(false));
    // An append that would have taken its batch past the byte bound: it opens the next one.
    let mut carried: Option<Waiting> = None;
    loop {
        let first = match carried.take() {
            Some(first) => first,
            None => match waiting.recv().await {
                Some(first) => first,
                None => return,
            },
        };
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let (batch, overflow) = gather(first, &mut waiting);
        carried = overflow;
        let client = client.clone();
        let unbatched = unbatched.clone();
        tokio::spawn(async move {
            let ttl = batch.iter().map(|w| w.ttl).max().unwrap_or_default();
            let (messages, answers): (Vec<_>, Vec<_>) =
                batch.into_iter().map(|w| (w.message, w.answer)).unzip();
            let results = call(client, messages, ttl, &unbatched).await;
            drop(permit);
            for (answer, result) in answers.into_iter().zip(results) {
                // A sender that gave up no longer listens.
                let _ = answer.send(result);
            }
        });
    }
}

/// `first` and what is already waiting behind it, within the batch bounds (never waiting for
/// more); the append that would pass the byte bound comes back to open the next batch.
fn gather(
    first: Waiting,
    waiting: &mut mpsc::Receiver<Waiting>,
) -> (Vec<Waiting>, Option<Waiting>) {
    let mut bytes = first.message.payload.len();
    let mut batch = vec![first];
    while batch.len() < APPEND_BATCH_MESSAGES_MAX {
        let Ok(next) = waiting.try_recv() else {
            break;
        };
        bytes += next.message.payload.len();
        if bytes > APPEND_BATCH_BYTES_MAX {
            return (batch, Some(next));
        }
        batch.push(next);
    }
    (batch, None)
}

/// One batch call; one result per message, in order. Towards a peer without the batch call each
/// message goes as its own AppendEntries (the batch that found out fails as unavailable, and
/// openraft sends those appends again).
async fn call(
    mut client: RaftTransportClient<Channel>,
    messages: Vec<RaftMessage>,
    ttl: Duration,
    unbatched: &AtomicBool,
) -> Vec<Result<RaftMessage, Status>> {
    let count = messages.len();
    if unbatched.load(Ordering::Relaxed) {
        let mut results = Vec::with_capacity(count);
        for message in messages {
            let mut request = Request::new(message);
            request.set_timeout(ttl);
            let result = client.append_entries(request).await;
            results.push(result.map(tonic::Response::into_inner));
        }
        return results;
    }
    let mut request = Request::new(RaftBatch { messages });
    request.set_timeout(ttl);
    match client.append_entries_batch(request).await {
        Ok(reply) => {
            let answers = reply.into_inner().answers;
            if answers.len() != count {
                let status = Status::internal(format!(
                    "a batch of {count} appends was answered with {} answers",
                    answers.len()
                ));
                return vec![Err(status); count];
            }
            answers.into_iter().map(answered).collect()
        }
        Err(status) if status.code() == Code::Unimplemented => {
            unbatched.store(true, Ordering::Relaxed);
            let status =
                Status::unavailable("the peer has no batched appends; sending them one by one");
            vec![Err(status); count]
        }
        Err(status) => vec![Err(status); count],
    }
}

/// One message's place in a batch reply, as its own call would have answered.
fn answered(answer: RaftBatchAnswer) -> Result<RaftMessage, Status> {
    match answer.result {
        Some(raft_batch_answer::Result::Reply(reply)) => Ok(reply),
        Some(raft_batch_answer::Result::Error(error)) => {
            Err(Status::new(Code::from_i32(error.code), error.message))
        }
        None => Err(Status::internal("a batch answer carries no result")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(bytes: usize) -> Waiting {
        Waiting {
            message: RaftMessage {
                group: 1,
                payload: vec![0; bytes],
            },
            ttl: Duration::from_secs(1),
            answer: oneshot::channel().0,
        }
    }

    fn sizes(batch: &[Waiting]) -> Vec<usize> {
        batch.iter().map(|w| w.message.payload.len()).collect()
    }

    #[test]
    fn a_batch_takes_what_waits_within_its_bounds_and_carries_the_overflow() {
        let (queue, mut queued) = mpsc::channel(APPEND_QUEUE_MAX);
        let half = APPEND_BATCH_BYTES_MAX / 2;
        for bytes in [10, half, half, 20] {
            queue
                .try_send(waiting(bytes))
                .unwrap_or_else(|_| panic!("room"));
        }
        // 10 + half fits; the second half would pass the bound: it opens the next batch.
        let (batch, carried) = gather(waiting(1), &mut queued);
        assert_eq!(sizes(&batch), [1, 10, half]);
        let carried = carried.expect("the overflow is carried");
        let (batch, carried) = gather(carried, &mut queued);
        assert_eq!(sizes(&batch), [half, 20]);
        assert!(carried.is_none());
        // A single append larger than the bound still goes, alone.
        let (batch, _) = gather(waiting(APPEND_BATCH_BYTES_MAX * 2), &mut queued);
        assert_eq!(batch.len(), 1);
    }

    #[test]
    fn a_batch_holds_at_most_its_count_of_appends() {
        let (queue, mut queued) = mpsc::channel(APPEND_QUEUE_MAX);
        for _ in 0..APPEND_BATCH_MESSAGES_MAX + 5 {
            queue
                .try_send(waiting(1))
                .unwrap_or_else(|_| panic!("room"));
        }
        let (batch, carried) = gather(waiting(1), &mut queued);
        assert_eq!(batch.len(), APPEND_BATCH_MESSAGES_MAX);
        assert!(carried.is_none());
        let (rest, _) = gather(waiting(1), &mut queued);
        assert_eq!(rest.len(), 1 + 6);
    }
}
