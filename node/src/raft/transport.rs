//! Raft traffic over gRPC: the server side that routes each message to its group's Raft, and the
//! client side (openraft's network) that shares one HTTP/2 channel per peer node among all groups.
//! A group's replication to a follower is one stream (`append_stream`); heartbeats and single
//! appends travel in batches per peer (`append_batch`). Also carries cluster-map changes from any
//! node to group 0's leader (`crate::placement`).

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use futures_util::StreamExt;
use openraft::alias::{SnapshotMetaOf, SnapshotOf, VoteOf};
use openraft::base::{BoxFuture, BoxStream};
use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::v2::RaftNetworkV2;
use openraft::network::{stream_append_sequential, RPCOption, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, StreamAppendResult,
    TransferLeaderRequest, TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::{BasicNode, OptionalSend, Raft};
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status, Streaming};

use super::append_batch::{AppendBatcher, APPEND_BATCH_MESSAGES_MAX};
use super::append_stream::{self, StreamsClosing};
use super::quiesce::{BeatRefused, Quiescence};
use super::state_machine::StateMachine;
use super::{decode, encode, TypeConfig};
use crate::meta::{MetaCommand, META_GROUP};
use crate::storage::GroupId;

/// Generated from `proto/raft.proto`.
#[allow(clippy::all, missing_debug_implementations, unreachable_pub)]
pub mod pb {
    tonic::include_proto!("boxoffice.raft.v1");
}

use pb::raft_transport_client::RaftTransportClient;
use pb::raft_transport_server::{RaftTransport, RaftTransportServer};
use pb::{
    raft_batch_answer, NodeBeat, RaftBatch, RaftBatchAnswer, RaftBatchError, RaftBatchReply,
    RaftMessage, SnapshotChunk,
};

/// Largest Raft message (an append batch, a snapshot chunk) on the wire, in bytes.
pub const RAFT_MESSAGE_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Snapshot bytes per streamed chunk.
pub const SNAPSHOT_CHUNK_BYTES_MAX: usize = 1024 * 1024;
/// Largest snapshot a node accepts over the wire, in bytes.
pub const SNAPSHOT_BYTES_MAX: usize = 1 << 30;
/// How long a connection attempt to a peer may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a peer's connection is pinged, and how long the answer may take before the
/// connection is closed.
const PEER_KEEPALIVE_EVERY: Duration = Duration::from_secs(5);
const PEER_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// One Raft group hosted by this node.
pub type GroupRaft = Raft<TypeConfig, StateMachine>;

/// The Raft groups this node hosts, by group id; shared by the transport and the node.
#[derive(Clone, Default)]
pub struct Groups {
    rafts: Arc<RwLock<BTreeMap<GroupId, GroupRaft>>>,
    /// When each group last heard from a leader (an AppendEntries arrived), for stale reads.
    heard: Arc<RwLock<BTreeMap<GroupId, Instant>>>,
    /// Ends the replication streams served here when the node stops.
    streams_closing: StreamsClosing,
}

impl std::fmt::Debug for Groups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<GroupId> = self.read().keys().copied().collect();
        f.debug_struct("Groups").field("hosted", &ids).finish()
    }
}

impl Groups {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<GroupId, GroupRaft>> {
        self.rafts
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn get(&self, group: GroupId) -> Option<GroupRaft> {
        self.read().get(&group).cloned()
    }

    pub fn insert(&self, group: GroupId, raft: GroupRaft) {
        let mut rafts = self
            .rafts
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        rafts.insert(group, raft);
    }

    pub fn remove(&self, group: GroupId) -> Option<GroupRaft> {
        let mut rafts = self
            .rafts
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        rafts.remove(&group)
    }

    /// Records that `group`'s leader was just heard from.
    pub(crate) fn heard_from_leader(&self, group: GroupId) {
        let mut heard = self
            .heard
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        heard.insert(group, Instant::now());
    }

    /// How long since `group` last heard from its leader (None: never, since this node started).
    pub fn since_heard(&self, group: GroupId) -> Option<Duration> {
        let heard = self
            .heard
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        heard.get(&group).map(Instant::elapsed)
    }

    /// Ends the replication streams this node serves, and refuses new ones: call it before
    /// stopping the server, whose graceful shutdown waits for every open stream.
    pub fn close_streams(&self) {
        self.streams_closing.close();
    }

    pub(crate) fn streams_closing(&self) -> StreamsClosing {
        self.streams_closing.clone()
    }

    /// Every hosted group.
    pub fn all(&self) -> Vec<(GroupId, GroupRaft)> {
        self.read()
            .iter()
            .map(|(id, raft)| (*id, raft.clone()))
            .collect()
    }
}

// ---- server ----------------------------------------------------------------------------------

/// The gRPC service peers send Raft messages to.
#[derive(Debug, Clone)]
pub struct RaftService {
    groups: Groups,
    quiescence: Arc<Quiescence>,
}

impl RaftService {
    /// The tonic service for `groups`, answering node beats from `quiescence`, with message size
    /// bounds. Each group replicating to this node holds an HTTP/2 stream open on its leader's
    /// connection: the server must allow as many concurrent streams per connection as there are
    /// groups, plus the calls of the moment.
    pub fn server(groups: Groups, quiescence: Arc<Quiescence>) -> RaftTransportServer<RaftService> {
        RaftTransportServer::new(RaftService { groups, quiescence })
            .max_decoding_message_size(RAFT_MESSAGE_BYTES_MAX)
            .max_encoding_message_size(RAFT_MESSAGE_BYTES_MAX)
    }

    fn group(&self, group: GroupId) -> Result<GroupRaft, Status> {
        self.groups
            .get(group)
            .ok_or_else(|| Status::not_found(format!("group {group} is not hosted here")))
    }

    /// One group's AppendEntries (alone or in a batch).
    async fn append(&self, message: RaftMessage) -> Result<RaftMessage, Status> {
        let raft = self.group(message.group)?;
        let rpc: AppendEntriesRequest<TypeConfig> =
            decode(&message.payload).map_err(bad_payload)?;
        let response = raft
            .append_entries(rpc)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        if response.is_success() {
            self.groups.heard_from_leader(message.group);
        }
        Ok(reply(message.group, &response).into_inner())
    }
}

fn bad_payload(e: std::io::Error) -> Status {
    Status::invalid_argument(format!("undecodable Raft payload: {e}"))
}

fn reply<T: serde::Serialize>(group: GroupId, value: &T) -> Response<RaftMessage> {
    Response::new(RaftMessage {
        group,
        payload: encode(value),
    })
}

#[tonic::async_trait]
impl RaftTransport for RaftService {
    type AppendEntriesStreamStream =
        futures_util::stream::BoxStream<'static, Result<RaftMessage, Status>>;

    async fn append_entries_stream(
        &self,
        request: Request<Streaming<RaftMessage>>,
    ) -> Result<Response<Self::AppendEntriesStreamStream>, Status> {
        let group = append_stream::stream_group(request.metadata())?;
        let raft = self.group(group)?;
        append_stream::answer(&self.groups, group, raft, request.into_inner()).map(Response::new)
    }

    async fn append_entries(
        &self,
        request: Request<RaftMessage>,
    ) -> Result<Response<RaftMessage>, Status> {
        self.append(request.into_inner()).await.map(Response::new)
    }

    async fn append_entries_batch(
        &self,
        request: Request<RaftBatch>,
    ) -> Result<Response<RaftBatchReply>, Status> {
        let messages = request.into_inner().messages;
        if messages.len() > APPEND_BATCH_MESSAGES_MAX {
            return Err(Status::invalid_argument(format!(
                "a batch carries at most {APPEND_BATCH_MESSAGES_MAX} appends, this one {}",
                messages.len()
            )));
        }
        let results = join_all(messages.into_iter().map(|m| self.append(m))).await;
        let answers = results
            .into_iter()
            .map(|result| RaftBatchAnswer {
                result: Some(match result {
                    Ok(reply) => raft_batch_answer::Result::Reply(reply),
                    Err(status) => raft_batch_answer::Result::Error(RaftBatchError {
                        code: status.code() as i32,
                        message: status.message().to_owned(),
                    }),
                }),
            })
            .collect();
        Ok(Response::new(RaftBatchReply { answers }))
    }

    async fn vote(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let message = request.into_inner();
        let raft = self.group(message.group)?;
        let rpc: VoteRequest<TypeConfig> = decode(&message.payload).map_err(bad_payload)?;
        let response = raft
            .vote(rpc)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(reply(message.group, &response))
    }

    async fn transfer_leader(
        &self,
        request: Request<RaftMessage>,
    ) -> Result<Response<RaftMessage>, Status> {
        let message = request.into_inner();
        let raft = self.group(message.group)?;
        let rpc: TransferLeaderRequest<TypeConfig> =
            decode(&message.payload).map_err(bad_payload)?;
        let response = raft
            .handle_transfer_leader(rpc)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(reply(message.group, &response))
    }

    async fn node_heartbeat(
        &self,
        request: Request<NodeBeat>,
    ) -> Result<Response<NodeBeat>, Status> {
        self.quiescence
            .record(request.get_ref())
            .map_err(|refused| match refused {
                BeatRefused::FromSelf(_) => Status::invalid_argument(refused.to_string()),
                BeatRefused::TooManyGroups(_) => Status::resource_exhausted(refused.to_string()),
            })?;
        Ok(Response::new((*self.quiescence.beat()).clone()))
    }

    async fn change_cluster_map(
        &self,
        request: Request<RaftMessage>,
    ) -> Result<Response<RaftMessage>, Status> {
        let message = request.into_inner();
        let meta = self.group(META_GROUP)?;
        let command: MetaCommand = decode(&message.payload).map_err(bad_payload)?;
        let answer = crate::placement::write_here(&meta, command)
            .await
            .map_err(Status::unavailable)?;
        Ok(reply(META_GROUP, &answer))
    }

    async fn propose_command(
        &self,
        request: Request<RaftMessage>,
    ) -> Result<Response<RaftMessage>, Status> {
        let message = request.into_inner();
        let raft = self.group(message.group)?;
        let (request_id, action) = decode(&message.payload).map_err(bad_payload)?;
        let answer = crate::placement::propose_here(&raft, request_id, action)
            .await
            .map_err(Status::unavailable)?;
        Ok(reply(message.group, &answer))
    }

    async fn install_snapshot(
        &self,
        request: Request<Streaming<SnapshotChunk>>,
    ) -> Result<Response<RaftMessage>, Status> {
        let mut chunks = request.into_inner();
        let first = chunks
            .next()
            .await
            .ok_or_else(|| Status::invalid_argument("empty snapshot stream"))??;
        let group = first.group;
        let raft = self.group(group)?;
        let (vote, meta): (VoteOf<TypeConfig>, SnapshotMetaOf<TypeConfig>) =
            decode(&first.header).map_err(bad_payload)?;
        let mut data = first.data;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            if chunk.group != group {
                return Err(Status::invalid_argument(
                    "snapshot chunks of different groups",
                ));
            }
            if data.len() + chunk.data.len() > SNAPSHOT_BYTES_MAX {
                return Err(Status::resource_exhausted(
                    "snapshot larger than this node accepts",
                ));
            }
            data.extend_from_slice(&chunk.data);
        }
        let snapshot = SnapshotOf::<TypeConfig, Cursor<Vec<u8>>> {
            meta,
            snapshot: Cursor::new(data),
        };
        let response = raft
            .install_full_snapshot(vote, snapshot)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(reply(group, &response))
    }
}

// ---- client ----------------------------------------------------------------------------------

/// One lazily connected gRPC channel per peer address, shared by every group's network.
#[derive(Debug, Clone, Default)]
pub struct PeerChannels {
    channels: Arc<RwLock<BTreeMap<String, Channel>>>,
    /// One append batcher per peer address, shared by every group.
    appends: Arc<RwLock<BTreeMap<String, AppendBatcher>>>,
}

impl PeerChannels {
    /// The Raft transport client for the peer at `addr`, on the shared channel.
    pub(crate) fn client(&self, addr: &str) -> Result<RaftTransportClient<Channel>, String> {
        if let Some(channel) = self
            .channels
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(addr)
        {
            return Ok(Self::wrap(channel.clone()));
        }
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| format!("bad peer address {addr:?}: {e}"))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            // A replication stream to a peer cut off by a partition would otherwise wait on TCP
            // for minutes: the pings find the dead connection and fail its calls.
            .http2_keep_alive_interval(PEER_KEEPALIVE_EVERY)
            .keep_alive_timeout(PEER_KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true);
        // Connects on first use and reconnects after failures.
        let channel = endpoint.connect_lazy();
        let mut channels = self.channels.write().unwrap_or_else(|p| p.into_inner());
        let channel = channels.entry(addr.to_owned()).or_insert(channel).clone();
        Ok(Self::wrap(channel))
    }

    /// The append batcher towards the peer at `addr` (started on first use).
    pub(crate) fn appends(&self, addr: &str) -> Result<AppendBatcher, String> {
        if let Some(batcher) = self
            .appends
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(addr)
        {
            return Ok(batcher.clone());
        }
        let client = self.client(addr)?;
        let mut appends = self.appends.write().unwrap_or_else(|p| p.into_inner());
        let batcher = appends
            .entry(addr.to_owned())
            .or_insert_with(|| AppendBatcher::start(client))
            .clone();
        Ok(batcher)
    }

    fn wrap(channel: Channel) -> RaftTransportClient<Channel> {
        RaftTransportClient::new(channel)
            .max_decoding_message_size(RAFT_MESSAGE_BYTES_MAX)
            .max_encoding_message_size(RAFT_MESSAGE_BYTES_MAX)
    }
}

/// openraft's network factory for one group: peers are reached through the shared channels.
#[derive(Debug, Clone)]
pub struct GroupNetwork {
    group: GroupId,
    channels: PeerChannels,
}

impl GroupNetwork {
    pub fn new(group: GroupId, channels: PeerChannels) -> GroupNetwork {
        GroupNetwork { group, channels }
    }
}

impl RaftNetworkFactory<TypeConfig> for GroupNetwork {
    type Network = PeerLink;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> PeerLink {
        PeerLink {
            group: self.group,
            target,
            client: self.channels.client(&node.addr),
            appends: self.channels.appends(&node.addr),
        }
    }
}

/// The link from one group's Raft to the same group on one peer.
#[derive(Debug)]
pub struct PeerLink {
    group: GroupId,
    target: u64,
    client: Result<RaftTransportClient<Channel>, String>,
    appends: Result<AppendBatcher, String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct LinkError(String);

/// The unary Raft RPCs.
#[derive(Debug, Clone, Copy)]
enum Rpc {
    AppendEntries,
    Vote,
    TransferLeader,
}

impl PeerLink {
    fn client(&self) -> Result<RaftTransportClient<Channel>, Unreachable<TypeConfig>> {
        self.client
            .clone()
            .map_err(|e| Unreachable::new(&LinkError(e)))
    }

    fn status_error(&self, status: &Status) -> RPCError<TypeConfig> {
        let error = LinkError(format!(
            "node {} group {}: {status}",
            self.target, self.group
        ));
        match status.code() {
            tonic::Code::Unavailable | tonic::Code::NotFound => {
                RPCError::Unreachable(Unreachable::new(&error))
            }
            _ => RPCError::Network(NetworkError::new(&error)),
        }
    }

    async fn call<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(
        &mut self,
        rpc: &Req,
        option: &RPCOption,
        kind: Rpc,
    ) -> Result<Resp, RPCError<TypeConfig>> {
        let message = RaftMessage {
            group: self.group,
            payload: encode(rpc),
        };
        let ttl = option.hard_ttl();
        let unary = |message| {
            let mut request = Request::new(message);
            request.set_timeout(ttl);
            request
        };
        let response = match kind {
            Rpc::AppendEntries => {
                let appends = self
                    .appends
                    .clone()
                    .map_err(|e| Unreachable::new(&LinkError(e)))?;
                appends.append(message, ttl).await
            }
            Rpc::Vote => self
                .client()?
                .vote(unary(message))
                .await
                .map(Response::into_inner),
            Rpc::TransferLeader => self
                .client()?
                .transfer_leader(unary(message))
                .await
                .map(Response::into_inner),
        };
        let message = response.map_err(|status| self.status_error(&status))?;
        decode(&message.payload).map_err(|e| RPCError::Network(NetworkError::new(&e)))
    }
}

impl RaftNetworkV2<TypeConfig> for PeerLink {
    type SnapshotData = Cursor<Vec<u8>>;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(&rpc, &option, Rpc::AppendEntries).await
    }

    /// Replication goes on one stream per group and follower, each append sent without waiting
    /// for the answer to the one before. A heartbeat (a stream of exactly one append) goes with
    /// the per-peer batch instead, as an AppendEntries of its own.
    fn stream_append<'s, S>(
        &'s mut self,
        input: S,
        option: RPCOption,
    ) -> BoxFuture<
        's,
        Result<
            BoxStream<'s, Result<StreamAppendResult<TypeConfig>, RPCError<TypeConfig>>>,
            RPCError<TypeConfig>,
        >,
    >
    where
        S: futures_util::Stream<Item = AppendEntriesRequest<TypeConfig>>
            + OptionalSend
            + Unpin
            + 'static,
    {
        if input.size_hint() == (1, Some(1)) {
            return stream_append_sequential(self, input, option);
        }
        Box::pin(async move {
            let link: &'s PeerLink = self;
            // Opening may include connecting; an open stream fails once its follower leaves an
            // append unanswered past the RPC's time plus that append's size allowance
            // (`APPEND_BYTES_PER_S_MIN`), counted from its last answer.
            let setup = option.soft_ttl().max(CONNECT_TIMEOUT);
            let answers =
                append_stream::open(link.client()?, link.group, input, setup, option.hard_ttl())
                    .await
                    .map_err(|status| link.status_error(&status))?;
            let answers: BoxStream<'s, _> = Box::pin(
                answers.map(move |answer| answer.map_err(|status| link.status_error(&status))),
            );
            Ok(answers)
        })
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(&rpc, &option, Rpc::Vote).await
    }

    async fn transfer_leader(
        &mut self,
        rpc: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(&rpc, &option, Rpc::TransferLeader).await
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<TypeConfig>,
        snapshot: SnapshotOf<TypeConfig, Self::SnapshotData>,
        _cancel: impl std::future::Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let mut client = self.client()?;
        let group = self.group;
        let header = encode(&(vote, snapshot.meta));
        let data = snapshot.snapshot.into_inner();
        let mut chunks: Vec<SnapshotChunk> = data
            .chunks(SNAPSHOT_CHUNK_BYTES_MAX)
            .map(|piece| SnapshotChunk {
                group,
                header: Vec::new(),
                data: piece.to_vec(),
            })
            .collect();
        if chunks.is_empty() {
            chunks.push(SnapshotChunk {
                group,
                header: Vec::new(),
                data: Vec::new(),
            });
        }
        chunks[0].header = header;
        let mut request = Request::new(futures_util::stream::iter(chunks));
        request.set_timeout(option.hard_ttl().max(Duration::from_secs(30)));
        let response = client.install_snapshot(request).await.map_err(|status| {
            match self.status_error(&status) {
                RPCError::Unreachable(e) => StreamingError::Unreachable(e),
                other => StreamingError::Network(NetworkError::new(&other)),
            }
        })?;
        decode(&response.into_inner().payload)
            .map_err(|e| StreamingError::Network(NetworkError::new(&e)))
    }
}
