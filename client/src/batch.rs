//! Packs the customer commands a client's callers send to one node at the same moment into one
//! `SubmitBatch` call: one RPC carries many commands, each answered in its place exactly as its own
//! call would have been. Never waits to fill a batch: what is queued when a call can leave goes.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::proto::{self, batched_command::Command, boxoffice_client::BoxofficeClient};

/// Bounds of the batching towards one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Commands in one call (the server takes at most 1,024).
    pub commands_max: usize,
    /// Calls on their way to the node at once; further commands wait in the queue meanwhile.
    pub calls_in_flight_max: usize,
    /// Commands waiting for a call; callers beyond it wait for room.
    pub queue_commands_max: usize,
    /// The most one call may take.
    pub call_timeout: std::time::Duration,
    /// Largest reply accepted, in bytes.
    pub reply_bytes_max: usize,
}

struct Waiting {
    command: Command,
    answer: oneshot::Sender<Result<proto::CommandReply, Status>>,
}

/// The batcher of one node; cheap to clone. Its task ends when the last clone is dropped.
#[derive(Debug, Clone)]
pub(crate) struct Batcher {
    queue: mpsc::Sender<Waiting>,
}

impl Batcher {
    /// Starts the batching task towards the node behind `channel` (inside a Tokio runtime).
    pub(crate) fn start(channel: Channel, limits: BatchLimits) -> Batcher {
        let (queue, waiting) = mpsc::channel(limits.queue_commands_max.max(1));
        tokio::spawn(run(channel, limits, waiting));
        Batcher { queue }
    }

    /// Sends `command` with the next call and waits for its answer: the command's reply, or the
    /// error its own call would have got (the call's error when the whole call failed).
    pub(crate) async fn submit(&self, command: Command) -> Result<proto::CommandReply, Status> {
        let (answer, answered) = oneshot::channel();
        self.queue
            .send(Waiting { command, answer })
            .await
            .map_err(|_| Status::unavailable("the client's batcher has stopped"))?;
        answered
            .await
            .map_err(|_| Status::unavailable("the client's batcher has stopped"))?
    }
}

async fn run(channel: Channel, limits: BatchLimits, mut waiting: mpsc::Receiver<Waiting>) {
    let in_flight = Arc::new(Semaphore::new(limits.calls_in_flight_max.max(1)));
    while let Some(first) = waiting.recv().await {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < limits.commands_max {
            match waiting.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let stub =
            BoxofficeClient::new(channel.clone()).max_decoding_message_size(limits.reply_bytes_max);
        tokio::spawn(async move {
            let (commands, answers): (Vec<_>, Vec<_>) = batch
                .into_iter()
                .map(|w| {
                    let command = proto::BatchedCommand {
                        command: Some(w.command),
                    };
                    (command, w.answer)
                })
                .unzip();
            let results = call(stub, commands, limits.call_timeout).await;
            drop(permit);
            match results {
                Ok(replies) if replies.len() == answers.len() => {
                    for (answer, reply) in answers.into_iter().zip(replies) {
                        // A caller that gave up no longer listens.
                        let _ = answer.send(answered(reply));
                    }
                }
                Ok(replies) => {
                    let status = Status::internal(format!(
                        "a batch of {} commands was answered with {} replies",
                        answers.len(),
                        replies.len()
                    ));
                    for answer in answers {
                        let _ = answer.send(Err(status.clone()));
                    }
                }
                Err(status) => {
                    for answer in answers {
                        let _ = answer.send(Err(status.clone()));
                    }
                }
            }
        });
    }
}

async fn call(
    mut stub: BoxofficeClient<Channel>,
    commands: Vec<proto::BatchedCommand>,
    timeout: std::time::Duration,
) -> Result<Vec<proto::BatchedReply>, Status> {
    let mut request = tonic::Request::new(proto::CommandBatch { commands });
    request.set_timeout(timeout);
    match tokio::time::timeout(timeout, stub.submit_batch(request)).await {
        Ok(reply) => Ok(reply?.into_inner().replies),
        Err(_) => Err(Status::deadline_exceeded("batch call timed out")),
    }
}

/// One command's place in a batch reply, as its own call would have answered.
fn answered(reply: proto::BatchedReply) -> Result<proto::CommandReply, Status> {
    use prost::Message;
    match reply.result {
        Some(proto::batched_reply::Result::Reply(reply)) => Ok(reply),
        Some(proto::batched_reply::Result::Error(error)) => {
            let details = error.detail.map(|d| d.encode_to_vec()).unwrap_or_default();
            Err(Status::with_details(
                Code::from_i32(error.code),
                error.message,
                details.into(),
            ))
        }
        None => Err(Status::internal("a batch reply carries no result")),
    }
}
