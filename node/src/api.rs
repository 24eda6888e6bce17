//! The public gRPC API (`boxoffice.v1.Boxoffice`) served by every node: routing each request to
//! the group its event lives on, proposing commands through that group's batching proposer,
//! linearizable and stale reads, cluster status, audits and bootstrap; and `ApiError`, the one error
//! type of this boundary with its one mapping to a gRPC status and `ErrorDetail`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use boxoffice_client::convert::{self, CommandRequest};
use boxoffice_client::proto::{
    self, boxoffice_server::Boxoffice, boxoffice_server::BoxofficeServer,
};
use boxoffice_statemachine::{
    answer_now, invariants, query, snapshot, Action, Command, EventId, HoldId, OrderId, Outcome,
    Rejection, RequestId, Selection, Store,
};
use futures_util::future::join_all;
use openraft::{ReadPolicy, ServerState};
use prost::Message;
use tonic::{Code, Request, Response, Status};
use tracing::Instrument;

use crate::meta::{MetaCommand, MetaOutcome, MetaRefusal, NodeAddress, META_GROUP};
use crate::metrics::metrics;
use crate::node::{BootstrapError, Hosted, NodeState};
use crate::raft::proposer::{Clock, ProposeError, SystemClock, CLOCK_OFFSET_MS_MAX};
use crate::raft::{applied_index, leads, Proposal, ProposalOutcomes};
use crate::storage::{GroupId, GroupState};

/// How long a request waits for this node's cluster map to reach the caller's meta index.
const META_WAIT: Duration = Duration::from_secs(5);
/// When a caller should retry after NO_LEADER or OVERLOADED, in milliseconds.
const RETRY_AFTER_MS: u64 = 100;
/// Events listed in one page, and customer orders in one reply.
const LIST_LIMIT_MAX: usize = 1_000;
/// How far a group leader's clock may run ahead of the group's state time before a linearizable
/// read first commits a time stamp, in milliseconds: a read may show a hold, an admission or a sale
/// window as still open up to this long after it ended by the leader's clock.
const READ_CLOCK_LAG_MS_MAX: u64 = 100;
/// Event placements reported by one cluster status.
const STATUS_EVENTS_MAX: usize = 10_000;
/// Largest request the API decodes, in bytes.
const API_MESSAGE_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Why the API did not answer with an outcome. Logged where it is produced, mapped to the wire once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("group {group} is led by node {leader:?} ({address:?})")]
    NotLeader {
        group: GroupId,
        leader: Option<u64>,
        address: Option<String>,
    },
    #[error("this node holds no replica of group {group}")]
    WrongGroup {
        group: GroupId,
        replicas: Vec<String>,
    },
    #[error("no such event: {0}")]
    UnknownEvent(String),
    #[error("group {group} has no leader at the moment")]
    NoLeader { group: GroupId },
    #[error("group {group} is overloaded")]
    Overloaded { group: GroupId },
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("the cluster is already bootstrapped")]
    AlreadyBootstrapped,
    #[error("the cluster is not bootstrapped yet")]
    NotBootstrapped,
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// A test-only RPC on a node that does not enable it; names the config key that would.
    #[error("this node does not enable the test-only hook (set testing.{0} = true)")]
    TestingDisabled(&'static str),
}

/// A join with the pre-sale rank this node drew for it from the waiting-room secret.
struct RankedJoin {
    join: proto::JoinQueueRequest,
    rank: u64,
}

impl CommandRequest for RankedJoin {
    fn options(&self) -> Option<&proto::CommandOptions> {
        self.join.options.as_ref()
    }

    fn action(&self) -> Result<boxoffice_statemachine::Action, convert::InvalidArgument> {
        convert::join_queue_action(&self.join, self.rank)
    }
}

impl ApiError {
    /// The stable code carried in `ErrorDetail.code`.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidArgument(_) => "INVALID_ARGUMENT",
            ApiError::NotLeader { .. } => "NOT_LEADER",
            ApiError::WrongGroup { .. } => "WRONG_GROUP",
            ApiError::UnknownEvent(_) => "UNKNOWN_EVENT",
            ApiError::NoLeader { .. } => "NO_LEADER",
            ApiError::Overloaded { .. } => "OVERLOADED",
            ApiError::Timeout(_) => "TIMEOUT",
            ApiError::AlreadyBootstrapped => "ALREADY_BOOTSTRAPPED",
            ApiError::NotBootstrapped => "NOT_BOOTSTRAPPED",
            ApiError::Unavailable(_) => "UNAVAILABLE",
            ApiError::Internal(_) => "INTERNAL",
            ApiError::TestingDisabled(_) => "TESTING_DISABLED",
        }
    }

    fn grpc_code(&self) -> Code {
        match self {
            ApiError::InvalidArgument(_) => Code::InvalidArgument,
            ApiError::NotLeader { .. }
            | ApiError::WrongGroup { .. }
            | ApiError::AlreadyBootstrapped
            | ApiError::NotBootstrapped
            | ApiError::TestingDisabled(_) => Code::FailedPrecondition,
            ApiError::UnknownEvent(_) => Code::NotFound,
            ApiError::NoLeader { .. } | ApiError::Unavailable(_) => Code::Unavailable,
            ApiError::Overloaded { .. } => Code::ResourceExhausted,
            ApiError::Timeout(_) => Code::DeadlineExceeded,
            ApiError::Internal(_) => Code::Internal,
        }
    }

    /// The structured detail every error carries.
    fn detail(&self, meta_index: u64) -> proto::ErrorDetail {
        let mut detail = proto::ErrorDetail {
            code: self.code().to_string(),
            meta_index,
            ..proto::ErrorDetail::default()
        };
        match self {
            ApiError::NotLeader {
                group,
                leader,
                address,
            } => {
                detail.group = Some(*group);
                detail.leader_id = *leader;
                detail.leader_address.clone_from(address);
            }
            ApiError::WrongGroup { group, replicas } => {
                detail.group = Some(*group);
                detail.replica_addresses.clone_from(replicas);
            }
            ApiError::NoLeader { group } | ApiError::Overloaded { group } => {
                detail.group = Some(*group);
                detail.retry_after_ms = Some(RETRY_AFTER_MS);
            }
            _ => {}
        }
        detail
    }

    /// The gRPC status: code, message, and an encoded `ErrorDetail` in the details.
    pub fn into_status(self, meta_index: u64) -> Status {
        let detail = self.detail(meta_index);
        Status::with_details(
            self.grpc_code(),
            self.to_string(),
            detail.encode_to_vec().into(),
        )
    }

    /// The same as [`ApiError::into_status`], for one command's place in a batch's reply.
    pub fn into_batched(self, meta_index: u64) -> proto::BatchedError {
        proto::BatchedError {
            code: self.grpc_code() as i32,
            message: self.to_string(),
            detail: Some(self.detail(meta_index)),
        }
    }
}

/// Where a request's error is handled (turned into its answer), it is logged, once.
fn log_failure(error: &ApiError) {
    match error {
        ApiError::Internal(_) | ApiError::Unavailable(_) => {
            tracing::warn!(code = error.code(), %error, "request failed")
        }
        _ => tracing::debug!(code = error.code(), %error, "request refused"),
    }
}

/// How long a command on an event that is moving waits for the map to route it to its new group.
const EVENT_MOVE_WAIT: Duration = Duration::from_secs(2);

/// Commands one `SubmitBatch` call may carry.
const BATCH_COMMANDS_MAX: usize = 1_024;

/// The API's service object.
#[derive(Debug, Clone)]
pub struct ApiService {
    node: Arc<NodeState>,
}

type ApiResult<T> = Result<Response<T>, Status>;

impl ApiService {
    /// The tonic service, with message size bounds.
    pub fn server(node: Arc<NodeState>) -> BoxofficeServer<ApiService> {
        BoxofficeServer::new(ApiService { node })
            .max_decoding_message_size(API_MESSAGE_BYTES_MAX)
            .max_encoding_message_size(64 * 1024 * 1024)
    }

    fn meta_index(&self) -> u64 {
        self.node.meta_view.borrow().applied_index
    }

    /// Maps an error to the wire, logging what deserves a log line once, here.
    fn fail(&self, error: ApiError) -> Status {
        log_failure(&error);
        self.answer(error)
    }

    /// `error` as the caller sees it, already logged where it arose (`submit`, `join`).
    fn answer(&self, error: ApiError) -> Status {
        error.into_status(self.meta_index())
    }

    /// The gRPC address of node `id` in the cluster map.
    fn address_of(&self, id: u64) -> Option<String> {
        self.node.map().map.nodes.get(&id).map(|a| a.grpc.clone())
    }

    fn not_leader(&self, group: GroupId, leader: Option<u64>) -> ApiError {
        match leader {
            Some(leader) if leader != self.node.id => ApiError::NotLeader {
                group,
                leader: Some(leader),
                address: self.address_of(leader),
            },
            _ => ApiError::NoLeader { group },
        }
    }

    async fn wait_meta(&self, index: u64) -> Result<(), ApiError> {
        if self.node.meta_applied(index, META_WAIT).await {
            Ok(())
        } else {
            Err(ApiError::Timeout(format!(
                "this node's cluster map did not reach index {index}"
            )))
        }
    }

    /// The group `event` lives on. An event this node's map does not know is looked up again on
    /// group 0's leader after a read-index round (the caller is sent there if that is not us); with
    /// `place`, an unknown event is placed (seats, dedicated).
    async fn group_of(
        &self,
        event: &EventId,
        place: Option<(u64, bool)>,
    ) -> Result<GroupId, ApiError> {
        let view = self.node.map();
        if let Some(&group) = view.map.events.get(event) {
            return Ok(group);
        }
        if !view.map.bootstrapped && self.node.meta.current_leader().await.is_none() {
            return Err(ApiError::NotBootstrapped);
        }
        self.node
            .meta
            .ensure_linearizable(ReadPolicy::ReadIndex)
            .await
            .map_err(|e| match e.forward_to_leader() {
                Some(forward) => self.not_leader(META_GROUP, forward.leader_id),
                None => ApiError::Unavailable(e.to_string()),
            })?;
        let view = self.node.map();
        if !view.map.bootstrapped {
            return Err(ApiError::NotBootstrapped);
        }
        if let Some(&group) = view.map.events.get(event) {
            return Ok(group);
        }
        let Some((seats, dedicated)) = place else {
            return Err(ApiError::UnknownEvent(event.to_string()));
        };
        let command = MetaCommand::PlaceEvent {
            event: event.clone(),
            seats,
            dedicated,
        };
        match self.change_map(command).await?.0 {
            MetaOutcome::Placed { group, .. } => {
                tracing::info!(%event, group, dedicated, "event placed");
                Ok(group)
            }
            MetaOutcome::Refused(refusal) => Err(ApiError::Unavailable(refusal.to_string())),
            other => Err(ApiError::Internal(format!("placement answered {other:?}"))),
        }
    }

    /// Commits `command` to the cluster map (group 0) through this node, its leader; answers
    /// with the map's outcome and the log index that carried it. Not bootstrapped is an error.
    async fn change_map(&self, command: MetaCommand) -> Result<(MetaOutcome, u64), ApiError> {
        // Group 0 is usually quiet: its leader's write lease has lapsed (see the proposer).
        crate::raft::proposer::renew_write_lease(&self.node.meta).await;
        let written = self
            .node
            .meta
            .client_write(Proposal::Cluster(command))
            .await
            .map_err(|e| match e.forward_to_leader() {
                Some(forward) => self.not_leader(META_GROUP, forward.leader_id),
                None => ApiError::Unavailable(e.to_string()),
            })?;
        match written.data {
            ProposalOutcomes::Cluster(MetaOutcome::Refused(MetaRefusal::NotBootstrapped)) => {
                Err(ApiError::NotBootstrapped)
            }
            ProposalOutcomes::Cluster(outcome) => Ok((outcome, written.log_id.index)),
            other => Err(ApiError::Internal(format!(
                "the cluster map answered {other:?}"
            ))),
        }
    }

    /// Answers an operator's cluster-map change: the reply `reply` makes of the outcome it
    /// expects (handing any other back), a refusal as INVALID_ARGUMENT, any other outcome as a bug
    /// of the map (INTERNAL).
    async fn answer_map_change<T>(
        &self,
        command: MetaCommand,
        reply: impl FnOnce(MetaOutcome, u64) -> Result<T, MetaOutcome>,
    ) -> ApiResult<T> {
        let asked = format!("{command:?}");
        let answered = match self.change_map(command).await {
            Ok((MetaOutcome::Refused(refusal), _)) => {
                Err(ApiError::InvalidArgument(refusal.to_string()))
            }
            Ok((outcome, meta_index)) => reply(outcome, meta_index).map_err(|other| {
                ApiError::Internal(format!("the cluster map answered {asked} with {other:?}"))
            }),
            Err(error) => Err(error),
        };
        answered.map(Response::new).map_err(|e| self.fail(e))
    }

    /// This node's replica of `group`, or where to go instead.
    fn hosted(&self, group: GroupId) -> Result<Hosted, ApiError> {
        if let Some(hosted) = self.node.data_group(group) {
            return Ok(hosted);
        }
        let view = self.node.map();
        match view.map.groups.get(&group) {
            // Placed here a moment ago; the reconciler is starting it.
            Some(placement) if placement.replicas.contains(&self.node.id) => {
                Err(ApiError::NoLeader { group })
            }
            Some(_) => Err(self.wrong_group(group)),
            None => Err(ApiError::Internal(format!(
                "group {group} is not in the map"
            ))),
        }
    }

    /// Where to send a command of `group`: its replicas' addresses.
    fn wrong_group(&self, group: GroupId) -> ApiError {
        let view = self.node.map();
        let replicas = view
            .map
            .groups
            .get(&group)
            .map_or_else(Vec::new, |placement| {
                placement
                    .replicas
                    .iter()
                    .filter_map(|id| view.map.nodes.get(id).map(|a| a.grpc.clone()))
                    .collect()
            });
        ApiError::WrongGroup { group, replicas }
    }

    /// A command that `group` answered `EVENT_MOVED`: it was not applied; the caller goes (with
    /// the same request id) to the event's new group once the map routes it there (waiting up to
    /// [`EVENT_MOVE_WAIT`]), or retries.
    async fn moved_away(&self, event: &EventId, group: GroupId) -> ApiError {
        let routed = |map: &crate::meta::ClusterMap| {
            map.events.get(event).copied().filter(|to| *to != group)
        };
        let mut view = self.node.meta_view.clone();
        let _ = tokio::time::timeout(EVENT_MOVE_WAIT, view.wait_for(|v| routed(&v.map).is_some()))
            .await;
        match routed(&self.node.map().map) {
            Some(to) => self.wrong_group(to),
            None => ApiError::Unavailable(format!(
                "event {event} is moving to a group of its own; retry"
            )),
        }
    }

    /// Routes and proposes one command; the state machine's outcome comes back as the reply.
    /// Counted in the metrics by operation, time taken and result; a failure is logged here, in
    /// the command's span (callers answer it with `answer`, not `fail`).
    async fn submit<R: CommandRequest>(
        &self,
        request: Request<R>,
        placement: Option<bool>,
    ) -> Result<proto::CommandReply, ApiError> {
        let started = Instant::now();
        let request = request.into_inner();
        let options = request.options().cloned().unwrap_or_default();
        let request_id = RequestId::new(options.request_id)
            .map_err(|e| ApiError::InvalidArgument(format!("request_id: {e}")))
            .inspect_err(log_failure)?;
        let action = request
            .action()
            .map_err(|e| ApiError::InvalidArgument(e.to_string()))
            .inspect_err(log_failure)?;
        let operation = action.name();
        // Whatever is logged while the command is routed and decided names it, its failure too.
        let span = tracing::info_span!("command", request_id = %request_id, operation);
        let decided = self
            .decide(request_id, action, options.meta_index_min, placement)
            .instrument(span.clone())
            .await;
        if let Err(error) = &decided {
            span.in_scope(|| log_failure(error));
        }
        let result = match &decided {
            Ok((outcome, ..)) => outcome.rejection().map_or("accepted", Rejection::code),
            Err(error) => error.code(),
        };
        metrics().command(operation, started.elapsed(), result);
        let (outcome, group, log_index) = decided?;
        Ok(self.reply(outcome, group, log_index))
    }

    /// [`ApiService::submit`]'s work: the command's outcome, the group that decided it and the log index
    /// of the entry that carried it (0 for a command refused before it reached a group).
    async fn decide(
        &self,
        request_id: RequestId,
        action: Action,
        meta_index_min: u64,
        placement: Option<bool>,
    ) -> Result<(Outcome, GroupId, u64), ApiError> {
        self.wait_meta(meta_index_min).await?;
        let event = action
            .event()
            .cloned()
            .ok_or_else(|| ApiError::InvalidArgument("the command names no event".into()))?;
        let place = match (&action, placement) {
            (Action::CreateEvent(spec), Some(dedicated)) => match spec.capacity() {
                Ok((seats, places)) => Some((u64::from(seats) + u64::from(places), dedicated)),
                // Refused before it touches the cluster map or any log.
                Err(rejection) => return Ok((Outcome::Rejected(rejection), 0, 0)),
            },
            _ => None,
        };
        let group = self.group_of(&event, place).await?;
        let hosted = self.hosted(group)?;
        let command = Command {
            request_id,
            at_ms: 0,
            action,
        };
        if let Some((rejection, applied_index)) =
            self.refusal_from_read(group, &hosted, &command).await
        {
            return Ok((Outcome::Rejected(rejection), group, applied_index));
        }
        let Command {
            request_id, action, ..
        } = command;
        let committed = hosted
            .proposer
            .propose(request_id, action)
            .await
            .map_err(|e| self.propose_failed(group, e))?;
        if committed.outcome == Outcome::Rejected(Rejection::EventMoved) {
            return Err(self.moved_away(&event, group).await);
        }
        Ok((committed.outcome, group, committed.log_index))
    }

    /// A hold this node, leading `group`, refuses from a linearizable read of its state instead of
    /// a log entry: the rejection [`answer_now`] gives at state time, with the applied index read
    /// at. Under contention most holds are refused (a seat sold or held by another customer); they
    /// change nothing, so they need no replication, no log and no apply on any replica.
    ///
    /// `None`, and the hold is proposed, when the hold would be accepted, when this node does not
    /// lead, when its clock has run more than [`READ_CLOCK_LAG_MS_MAX`] ahead of state time (a
    /// quiet group: its answer must be at a time the log holds, as reads'), when the event has
    /// moved, or when the read fails (the proposal reports it). Other commands are always
    /// proposed: they are mostly accepted, and a read first would only add to their cost.
    async fn refusal_from_read(
        &self,
        group: GroupId,
        hosted: &Hosted,
        command: &Command,
    ) -> Option<(Rejection, u64)> {
        let Hosted {
            raft,
            proposer,
            cache,
        } = hosted;
        let Action::Hold {
            event,
            selection: Selection::Seats(seats),
            ..
        } = &command.action
        else {
            return None;
        };
        if !leads(raft) {
            return None;
        }
        // A first look, before the read barrier and from the applies' cache: a hold none of whose
        // seats is taken goes straight to the proposer, at the cost of a lookup in memory.
        let state = self.node.storage.group_state(group);
        if !query::any_seat_taken(&cache.peek_over(&state), event, seats).ok()? {
            return None;
        }
        proposer.reads().pass().await.ok()?;
        let applied_index = applied_index(raft);
        let rejection = cache.read_settled(&state, |view| {
            refusal_at_state_time(view, proposer, command)
        })?;
        metrics().holds_refused_from_reads_total.inc();
        Some((rejection, applied_index))
    }

    /// Why this node's proposer for `group` could not commit, for the caller.
    fn propose_failed(&self, group: GroupId, error: ProposeError) -> ApiError {
        match error {
            ProposeError::NotLeader { leader } => self.not_leader(group, leader),
            ProposeError::Overloaded => ApiError::Overloaded { group },
            ProposeError::Stopped => {
                ApiError::Unavailable(format!("group {group} is shutting down on this node"))
            }
            ProposeError::Raft(message) => ApiError::Unavailable(message),
        }
    }

    /// A waiting-room join, with the rank this node draws for the customer, submitted; every
    /// failure is logged once.
    async fn join(&self, join: proto::JoinQueueRequest) -> Result<proto::CommandReply, ApiError> {
        let ranked = self.rank(join).inspect_err(log_failure)?;
        self.submit(Request::new(ranked), None).await
    }

    /// A join with its rank in the waiting room.
    fn rank(&self, join: proto::JoinQueueRequest) -> Result<RankedJoin, ApiError> {
        let Some(key) = &self.node.room_key else {
            return Err(ApiError::Unavailable(
                "this node has no waiting-room secret configured".into(),
            ));
        };
        let event = parse::<EventId>("event_id", &join.event_id)?;
        let customer = boxoffice_statemachine::CustomerId::new(join.customer_id.clone())
            .map_err(|e| ApiError::InvalidArgument(format!("customer_id: {e}")))?;
        let rank = key.rank(&event, &customer);
        Ok(RankedJoin { join, rank })
    }

    /// One command of a batch, answered as its own call would be.
    async fn submit_batched(
        &self,
        command: proto::BatchedCommand,
    ) -> Result<proto::CommandReply, ApiError> {
        use proto::batched_command::Command;
        match command.command {
            Some(Command::Hold(request)) => self.submit(Request::new(request), None).await,
            Some(Command::ExtendHold(request)) => self.submit(Request::new(request), None).await,
            Some(Command::Release(request)) => self.submit(Request::new(request), None).await,
            Some(Command::Buy(request)) => self.submit(Request::new(request), None).await,
            Some(Command::JoinQueue(request)) => self.join(request).await,
            None => {
                let error =
                    ApiError::InvalidArgument("a batched command carries no command".into());
                log_failure(&error);
                Err(error)
            }
        }
    }

    fn reply(&self, outcome: Outcome, group: GroupId, log_index: u64) -> proto::CommandReply {
        proto::CommandReply {
            outcome: Some(convert::outcome_to_proto(&outcome)),
            group,
            log_index,
            meta_index: self.meta_index(),
        }
    }

    /// This node's replica of `group`, ready to read with the requested consistency; answers are
    /// evaluated at the replica's state time (`ReadInfo::state_time_ms`), never at this node's clock,
    /// so what a read shows as expired or on sale stays so under every later leader.
    ///
    /// A linearizable read is served by the leader after a read-index round, or, when the leader's
    /// clock has run more than [`READ_CLOCK_LAG_MS_MAX`] ahead of state time (a quiet group), after
    /// committing a time stamp, which is as good a barrier. With the test-only
    /// `testing.unsafe_local_reads`, a linearizable read skips both (and with them the leadership
    /// check) but is still reported as linearizable.
    async fn read_group(
        &self,
        group: GroupId,
        read: Option<&proto::ReadOptions>,
    ) -> Result<(GroupState, proto::ReadInfo), ApiError> {
        let stale = read.is_some_and(|r| r.consistency() == proto::Consistency::Stale);
        let Hosted { raft, proposer, .. } = self.hosted(group)?;
        let state = self.node.storage.group_state(group);
        if !stale && !self.node.config.testing.unsafe_local_reads {
            let time_lags = || -> Result<bool, ApiError> {
                let state_time_ms = query::state_time(&state.reader()).map_err(internal)?;
                Ok(clock_runs_ahead(&proposer, state_time_ms))
            };
            let mut stamped = false;
            if time_lags()? {
                // One stamp at a time per group: readers that find state time behind together
                // wait for the first one's stamp instead of each committing their own.
                let _turn = proposer.stamping().await;
                if time_lags()? {
                    proposer
                        .stamp_time()
                        .await
                        .map_err(|e| self.propose_failed(group, e))?;
                    stamped = true;
                }
            }
            if !stamped {
                raft.ensure_linearizable(ReadPolicy::ReadIndex)
                    .await
                    .map_err(|e| match e.forward_to_leader() {
                        Some(forward) => self.not_leader(group, forward.leader_id),
                        None => ApiError::Unavailable(e.to_string()),
                    })?;
            }
        }
        let info = {
            let metrics = crate::raft::metrics(&raft);
            let applied = metrics.last_applied.as_ref().map_or(0, |l| l.index);
            let committed = metrics.cluster_committed.as_ref().map_or(0, |l| l.index);
            let staleness_bound_ms = if metrics.state == ServerState::Leader {
                0
            } else {
                self.node.groups.since_heard(group).map_or(u64::MAX, |d| {
                    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
                })
            };
            proto::ReadInfo {
                group,
                served_by: self.node.id,
                linearizable: !stale,
                applied_index: applied,
                leader_commit_index: committed.max(applied),
                state_time_ms: 0,
                staleness_bound_ms,
                meta_index: self.meta_index(),
            }
        };
        let state_time_ms = query::state_time(&state.reader()).map_err(internal)?;
        Ok((
            state,
            proto::ReadInfo {
                state_time_ms,
                ..info
            },
        ))
    }

    /// The group of `event` and a reader of it, after the caller's meta wait.
    async fn read_event(
        &self,
        event: &EventId,
        read: Option<&proto::ReadOptions>,
    ) -> Result<(GroupState, proto::ReadInfo), ApiError> {
        self.wait_meta(read.map_or(0, |r| r.meta_index_min)).await?;
        let group = self.group_of(event, None).await?;
        self.read_group(group, read).await
    }

    fn group_info(&self, group: GroupId, replicas: Vec<u64>) -> proto::GroupInfo {
        let mut info = proto::GroupInfo {
            group,
            replicas,
            ..proto::GroupInfo::default()
        };
        let raft = if group == META_GROUP {
            Some(self.node.meta.clone())
        } else {
            self.node.data_group(group).map(|hosted| hosted.raft)
        };
        if let Some(raft) = raft {
            let metrics = crate::raft::metrics(&raft);
            info.leader_id = metrics.current_leader;
            info.term = metrics.current_term;
            info.applied_index = Some(metrics.last_applied.as_ref().map_or(0, |l| l.index));
            info.commit_index = Some(metrics.local_committed.as_ref().map_or(0, |l| l.index));
            info.snapshot_index = metrics.snapshot.as_ref().map(|l| l.index);
            info.purged_index = metrics.purged.as_ref().map(|l| l.index);
            info.quiet = self.node.quiescence.is_quiet(group);
            if let Some(progress) = &metrics.replication {
                let last = metrics.last_log_index.unwrap_or(0);
                info.replica_progress = progress
                    .iter()
                    .map(|(node, matched)| {
                        let matched = matched.as_ref().map(|l| l.index);
                        proto::ReplicaInfo {
                            node_id: *node,
                            matched_index: matched,
                            lag_entries: last.saturating_sub(matched.unwrap_or(0)),
                        }
                    })
                    .collect();
            }
        }
        info
    }
}

/// Whether the leader's clock has run more than [`READ_CLOCK_LAG_MS_MAX`] ahead of state time:
/// then a read must not answer at state time before a time stamp is committed.
fn clock_runs_ahead(proposer: &crate::raft::proposer::Proposer, state_time_ms: u64) -> bool {
    proposer.now_ms() > state_time_ms.saturating_add(READ_CLOCK_LAG_MS_MAX)
}

/// The rejection [`answer_now`] gives `command` on `state` as it is now, if its state time is
/// within [`READ_CLOCK_LAG_MS_MAX`] of the proposer's clock and the rejection is not
/// `EVENT_MOVED` (which the proposal path answers with the event's new place).
fn refusal_at_state_time(
    state: &impl Store,
    proposer: &crate::raft::proposer::Proposer,
    command: &Command,
) -> Option<Rejection> {
    if clock_runs_ahead(proposer, query::state_time(state).ok()?) {
        return None;
    }
    match answer_now(state, command) {
        Ok(Outcome::Rejected(Rejection::EventMoved)) | Ok(Outcome::Accepted(_)) | Err(_) => None,
        Ok(Outcome::Rejected(rejection)) => Some(rejection),
    }
}

fn internal(error: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(error.to_string())
}

fn parse<T: std::str::FromStr>(field: &str, value: &str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e| ApiError::InvalidArgument(format!("{field}: {e}")))
}

#[tonic::async_trait]
impl Boxoffice for ApiService {
    async fn create_event(
        &self,
        request: Request<proto::CreateEventRequest>,
    ) -> ApiResult<proto::CommandReply> {
        let dedicated = request.get_ref().dedicated_group;
        self.submit(request, Some(dedicated))
            .await
            .map(Response::new)
            .map_err(|e| self.answer(e))
    }

    async fn set_event_status(
        &self,
        request: Request<proto::SetEventStatusRequest>,
    ) -> ApiResult<proto::CommandReply> {
        self.submit(request, None)
            .await
            .map(Response::new)
            .map_err(|e| self.answer(e))
    }

    async fn hold(&self, request: Request<proto::HoldRequest>) -> ApiResult<proto::CommandReply> {
        self.submit(request, None)
            .await
            .map(Response::new)
            .map_err(|e| self.answer(e))
    }

    async fn join_queue(
        &self,
        request: Request<proto::JoinQueueRequest>,
    ) -> ApiResult<proto::CommandReply> {
        self.join(request.into_inner())
            .await
            .map(Response::new)
            .map_err(|e| self.answer(e))
    }

    async fn submit_batch(
        &self,
        request: Request<proto::CommandBatch>,
    ) -> ApiResult<proto::CommandBatchReply> {
        let commands = request.into_inner().commands;
        if commands.len() > BATCH_COMMANDS_MAX {
            return Err(self.fail(ApiError::InvalidArgument(format!(
                "a batch carries at most {BATCH_COMMANDS_MAX} commands, this one {}",
                commands.len()
            ))));
        }
        metrics().batch_call_commands.observe(commands.len() as f64);
        let answers = join_all(commands.into_iter().map(|c| self.submit_batched(c))).await;
        let meta_index = self.meta_index();
        let replies = answers
            .into_iter()
            .map(|answer| proto::BatchedReply {
                result: Some(match answer {
                    Ok(reply) => proto::batched_reply::Result::Reply(reply),
                    Err(error) => {
                        proto::batched_reply::Result::Error(error.into_batched(meta_index))
                    }
                }),
            })
            .collect();
        Ok(Response::new(proto::CommandBatchReply { replies }))
    }

    async fn set_admission(
        &self,
        request: Request<proto::SetAdmissionRequest>,
    ) -> ApiResult<proto::CommandReply> {
        self.submit(request, None)
            .await
            .map(Response::new)
            .map_err(|e| self.answer(e))
    }

    async fn extend_hold(
        &self,
        request: Request<proto::ExtendHoldRequest>,
    ) -> ApiResult<proto::CommandReply> {
        self.submit(request, None)
            .await
            .map(Response::new)
            .map_err(|e| self.answer(e))
    }

    async fn release(
        &self,
        request: Request<proto::ReleaseRequest>,
    ) -> ApiResult<proto::CommandReply> {
        self.submit(request, None)
            .await
            .map(Response::new)
            .map_err(|e| self.answer(e))
    }

    async fn buy(&self, request: Request<proto::BuyRequest>) -> ApiResult<proto::CommandReply> {
        self.submit(request, None)
            .await
            .map(Response::new)
            .map_err(|e| self.answer(e))
    }

    async fn cancel_order(
        &self,
        request: Request<proto::CancelOrderRequest>,
    ) -> ApiResult<proto::CommandReply> {
        self.submit(request, None)
            .await
            .map(Response::new)
            .map_err(|e| self.answer(e))
    }

    async fn block_seats(
        &self,
        request: Request<proto::SeatsRequest>,
    ) -> ApiResult<proto::CommandReply> {
        let request = request.map(|r| convert::SeatsCommand {
            request: r,
            block: true,
        });
        self.submit(request, None)
            .await
            .map(Response::new)
            .map_err(|e| self.answer(e))
    }

    async fn unblock_seats(
        &self,
        request: Request<proto::SeatsRequest>,
    ) -> ApiResult<proto::CommandReply> {
        let request = request.map(|r| convert::SeatsCommand {
            request: r,
            block: false,
        });
        self.submit(request, None)
            .await
            .map(Response::new)
            .map_err(|e| self.answer(e))
    }

    async fn get_event(
        &self,
        request: Request<proto::EventRequest>,
    ) -> ApiResult<proto::EventReply> {
        let request = request.into_inner();
        let result = async {
            let event = parse::<EventId>("event_id", &request.event_id)?;
            let (state, read) = self.read_event(&event, request.read.as_ref()).await?;
            let view =
                query::event(&state.reader(), &event, read.state_time_ms).map_err(internal)?;
            let view = view.ok_or_else(|| ApiError::UnknownEvent(event.to_string()))?;
            let mut event = convert::event_to_proto(&view);
            event.group = read.group;
            Ok(proto::EventReply {
                event: Some(event),
                read: Some(read),
            })
        };
        result.await.map(Response::new).map_err(|e| self.fail(e))
    }

    async fn list_events(
        &self,
        request: Request<proto::ListEventsRequest>,
    ) -> ApiResult<proto::ListEventsReply> {
        let request = request.into_inner();
        let result = async {
            self.wait_meta(request.read.as_ref().map_or(0, |r| r.meta_index_min))
                .await?;
            let after = if request.after_event_id.is_empty() {
                None
            } else {
                Some(parse::<EventId>("after_event_id", &request.after_event_id)?)
            };
            let limit = match request.limit {
                0 => 100,
                n => (n as usize).min(LIST_LIMIT_MAX),
            };
            let (state, read) = self
                .read_group(request.group, request.read.as_ref())
                .await?;
            let views = query::events(&state.reader(), after.as_ref(), limit, read.state_time_ms)
                .map_err(internal)?;
            let events = views
                .iter()
                .map(|view| {
                    let mut event = convert::event_to_proto(view);
                    event.group = request.group;
                    event
                })
                .collect();
            Ok(proto::ListEventsReply {
                events,
                read: Some(read),
            })
        };
        result.await.map(Response::new).map_err(|e| self.fail(e))
    }

    async fn get_seat_map(
        &self,
        request: Request<proto::SeatMapRequest>,
    ) -> ApiResult<proto::SeatMapReply> {
        let request = request.into_inner();
        let result = async {
            let event = parse::<EventId>("event_id", &request.event_id)?;
            let (state, read) = self.read_event(&event, request.read.as_ref()).await?;
            let map = query::seat_map(
                &state.reader(),
                &event,
                request.section.as_deref(),
                read.state_time_ms,
            )
            .map_err(internal)?
            .ok_or_else(|| ApiError::UnknownEvent(event.to_string()))?;
            let (sections, ga_areas) = convert::seat_map_to_proto(&map);
            Ok(proto::SeatMapReply {
                event_id: event.to_string(),
                sections,
                ga_areas,
                read: Some(read),
            })
        };
        result.await.map(Response::new).map_err(|e| self.fail(e))
    }

    async fn get_hold(&self, request: Request<proto::HoldQuery>) -> ApiResult<proto::HoldReply> {
        let request = request.into_inner();
        let result = async {
            let hold = parse::<HoldId>("hold_id", &request.hold_id)?;
            let (state, read) = self.read_event(&hold.event, request.read.as_ref()).await?;
            let view = query::hold(&state.reader(), &hold, read.state_time_ms).map_err(internal)?;
            Ok(proto::HoldReply {
                hold: view.as_ref().map(convert::hold_to_proto),
                read: Some(read),
            })
        };
        result.await.map(Response::new).map_err(|e| self.fail(e))
    }

    async fn get_order(&self, request: Request<proto::OrderQuery>) -> ApiResult<proto::OrderReply> {
        let request = request.into_inner();
        let result = async {
            let order = parse::<OrderId>("order_id", &request.order_id)?;
            let (state, read) = self.read_event(&order.event, request.read.as_ref()).await?;
            let view = query::order(&state.reader(), &order).map_err(internal)?;
            Ok(proto::OrderReply {
                order: view.as_ref().map(convert::order_to_proto),
                read: Some(read),
            })
        };
        result.await.map(Response::new).map_err(|e| self.fail(e))
    }

    async fn get_queue_status(
        &self,
        request: Request<proto::QueueStatusRequest>,
    ) -> ApiResult<proto::QueueStatusReply> {
        let request = request.into_inner();
        let result = async {
            let event = parse::<EventId>("event_id", &request.event_id)?;
            // No customer: the room's totals only.
            let customer = (!request.customer_id.is_empty())
                .then(|| boxoffice_statemachine::CustomerId::new(request.customer_id.clone()))
                .transpose()
                .map_err(|e| ApiError::InvalidArgument(format!("customer_id: {e}")))?;
            let (state, read) = self.read_event(&event, request.read.as_ref()).await?;
            let reader = state.reader();
            let summary = query::queue_summary(&reader, &event)
                .map_err(internal)?
                .ok_or_else(|| ApiError::UnknownEvent(event.to_string()))?;
            let place = match &customer {
                Some(customer) => {
                    query::queue_status(&reader, &event, customer, read.state_time_ms)
                        .map_err(internal)?
                }
                None => None,
            };
            Ok(proto::QueueStatusReply {
                place: place.as_ref().map(convert::queue_place_to_proto),
                summary: Some(convert::queue_summary_to_proto(&summary)),
                read: Some(read),
            })
        };
        result.await.map(Response::new).map_err(|e| self.fail(e))
    }

    async fn list_customer_orders(
        &self,
        request: Request<proto::CustomerOrdersRequest>,
    ) -> ApiResult<proto::OrdersReply> {
        let request = request.into_inner();
        let result = async {
            let event = parse::<EventId>("event_id", &request.event_id)?;
            let customer = boxoffice_statemachine::CustomerId::new(request.customer_id.clone())
                .map_err(|e| ApiError::InvalidArgument(format!("customer_id: {e}")))?;
            let (state, read) = self.read_event(&event, request.read.as_ref()).await?;
            let views = query::customer_orders(&state.reader(), &customer, LIST_LIMIT_MAX)
                .map_err(internal)?;
            Ok(proto::OrdersReply {
                orders: views
                    .iter()
                    .filter(|o| o.id.event == event)
                    .map(convert::order_to_proto)
                    .collect(),
                read: Some(read),
            })
        };
        result.await.map(Response::new).map_err(|e| self.fail(e))
    }

    async fn cluster_status(
        &self,
        _request: Request<proto::ClusterStatusRequest>,
    ) -> ApiResult<proto::ClusterStatusReply> {
        let view = self.node.map();
        let map = &view.map;
        let meta = self.group_info(META_GROUP, map.nodes.keys().copied().collect());
        let mut groups = vec![meta.clone()];
        for (&id, placement) in &map.groups {
            let mut info = self.group_info(id, placement.replicas.clone());
            info.events = placement.events;
            info.seats = placement.seats;
            info.dedicated_to = placement.dedicated_to.as_ref().map(ToString::to_string);
            info.moving = placement.moving.map(|m| proto::ReplicaMoveInfo {
                from: m.from,
                to: m.to,
            });
            groups.push(info);
        }
        Ok(Response::new(proto::ClusterStatusReply {
            served_by: self.node.id,
            bootstrapped: map.bootstrapped,
            meta_index: view.applied_index,
            meta_leader_id: meta.leader_id,
            nodes: map
                .nodes
                .iter()
                .map(|(&node_id, a)| proto::NodeInfo {
                    node_id,
                    grpc_address: a.grpc.clone(),
                    http_address: a.http.clone(),
                    draining: map.draining.contains(&node_id),
                    removing: map.removing.contains(&node_id),
                })
                .collect(),
            groups,
            events: map
                .events
                .iter()
                .take(STATUS_EVENTS_MAX)
                .map(|(event, &group)| proto::EventPlacement {
                    event_id: event.to_string(),
                    group,
                    moving_to: map.event_moves.get(event).map(|m| m.to),
                })
                .collect(),
        }))
    }

    async fn audit_replica(
        &self,
        request: Request<proto::AuditRequest>,
    ) -> ApiResult<proto::AuditReply> {
        let group = request.into_inner().group;
        let node_id = self.node.id;
        let result = async {
            let raft = if group == META_GROUP {
                self.node.meta.clone()
            } else {
                self.hosted(group)?.raft
            };
            let audit = raft
                .with_state_machine(move |sm: &mut crate::raft::state_machine::StateMachine| {
                    Box::pin(async move {
                        crate::raft::whole_state_work(|| {
                            let state = sm.state();
                            let reader = state.reader();
                            let hash = snapshot::state_hash(&reader).map_err(|e| e.to_string())?;
                            let data_hash = crate::backup::data_hash(&reader, group)
                                .map_err(|e| e.to_string())?;
                            let applied = crate::raft::state_machine::applied_index(&reader)
                                .map_err(|e| e.to_string())?;
                            let audit = if group == META_GROUP {
                                Ok(invariants::Audit::default())
                            } else {
                                invariants::check(&reader).map_err(|v| v.to_string())
                            };
                            Ok::<_, String>((hash, data_hash, applied, audit))
                        })
                    })
                })
                .await
                .map_err(|e| ApiError::Unavailable(e.to_string()))?
                .map_err(ApiError::Internal)?;
            let (hash, data_hash, applied_index, audit) = audit;
            let (audit, violation) = match audit {
                Ok(audit) => (audit, String::new()),
                Err(violation) => {
                    tracing::error!(group, %violation, "replica fails the invariant audit");
                    (invariants::Audit::default(), violation)
                }
            };
            Ok(proto::AuditReply {
                node_id,
                group,
                applied_index,
                state_hash: format!("{hash:032x}"),
                violation,
                events: audit.events,
                counts: Some(convert::counts_to_proto(&audit.counts)),
                active_holds: audit.active_holds,
                confirmed_orders: audit.confirmed_orders,
                data_hash: format!("{data_hash:032x}"),
            })
        };
        result.await.map(Response::new).map_err(|e| self.fail(e))
    }

    async fn set_clock_offset(
        &self,
        request: Request<proto::SetClockOffsetRequest>,
    ) -> ApiResult<proto::SetClockOffsetReply> {
        let offset_ms = request.into_inner().offset_ms;
        let result = async {
            if !self.node.config.testing.clock_offset_control {
                return Err(ApiError::TestingDisabled("clock_offset_control"));
            }
            if offset_ms.unsigned_abs() > CLOCK_OFFSET_MS_MAX {
                return Err(ApiError::InvalidArgument(format!(
                    "offset_ms: {offset_ms} exceeds clock_offset_ms_max ({CLOCK_OFFSET_MS_MAX})"
                )));
            }
            let previous_ms = SystemClock::set_offset_ms(offset_ms);
            let now_ms = SystemClock.now_ms();
            if previous_ms != offset_ms {
                tracing::warn!(
                    node = self.node.id,
                    offset_ms,
                    previous_ms,
                    now_ms,
                    "test-only clock offset changed: this node's wall clock is shifted"
                );
            }
            Ok(proto::SetClockOffsetReply { offset_ms, now_ms })
        };
        result.await.map(Response::new).map_err(|e| self.fail(e))
    }

    async fn bootstrap(
        &self,
        request: Request<proto::BootstrapRequest>,
    ) -> ApiResult<proto::BootstrapReply> {
        let request = request.into_inner();
        let result = async {
            let mut nodes = BTreeMap::new();
            for node in request.nodes {
                let address = NodeAddress {
                    grpc: node.grpc_address,
                    http: node.http_address,
                };
                if nodes.insert(node.node_id, address).is_some() {
                    return Err(ApiError::InvalidArgument(format!(
                        "node {} is listed twice",
                        node.node_id
                    )));
                }
            }
            match self.node.bootstrap(nodes, request.data_groups).await {
                Ok((meta_index, data_groups)) => Ok(proto::BootstrapReply {
                    meta_index,
                    data_groups,
                }),
                Err(BootstrapError::AlreadyBootstrapped) => Err(ApiError::AlreadyBootstrapped),
                Err(BootstrapError::Invalid(reason)) => Err(ApiError::InvalidArgument(reason)),
                Err(BootstrapError::NotLeader { leader }) => {
                    Err(self.not_leader(META_GROUP, leader))
                }
                Err(BootstrapError::NoLeader) => Err(ApiError::NoLeader { group: META_GROUP }),
                Err(BootstrapError::Raft(message)) => Err(ApiError::Unavailable(message)),
            }
        };
        result.await.map(Response::new).map_err(|e| self.fail(e))
    }

    async fn set_node_draining(
        &self,
        request: Request<proto::SetNodeDrainingRequest>,
    ) -> ApiResult<proto::SetNodeDrainingReply> {
        let request = request.into_inner();
        let command = MetaCommand::SetDraining {
            node: request.node_id,
            draining: request.draining,
        };
        self.answer_map_change(command, |outcome, meta_index| match outcome {
            MetaOutcome::Draining { nodes } => {
                tracing::info!(
                    node = request.node_id,
                    draining = request.draining,
                    ?nodes,
                    "draining changed"
                );
                Ok(proto::SetNodeDrainingReply {
                    draining: nodes.into_iter().collect(),
                    meta_index,
                })
            }
            other => Err(other),
        })
        .await
    }

    async fn add_node(
        &self,
        request: Request<proto::AddNodeRequest>,
    ) -> ApiResult<proto::AddNodeReply> {
        let node = request.into_inner().node.unwrap_or_default();
        let command = MetaCommand::AddNode {
            node: node.node_id,
            address: NodeAddress {
                grpc: node.grpc_address,
                http: node.http_address,
            },
        };
        self.answer_map_change(command, |outcome, meta_index| match outcome {
            MetaOutcome::NodeAdded { new } => {
                if new {
                    tracing::info!(node = node.node_id, "node added");
                }
                Ok(proto::AddNodeReply {
                    added: new,
                    meta_index,
                })
            }
            other => Err(other),
        })
        .await
    }

    async fn move_event(
        &self,
        request: Request<proto::MoveEventRequest>,
    ) -> ApiResult<proto::MoveEventReply> {
        let event = parse::<EventId>("event_id", &request.into_inner().event_id)
            .map_err(|e| self.fail(e))?;
        let command = MetaCommand::StartEventMove {
            event: event.clone(),
        };
        self.answer_map_change(command, |outcome, meta_index| match outcome {
            MetaOutcome::EventMoving {
                moving: Some(moving),
                ..
            } => {
                tracing::info!(%event, from = moving.from, to = moving.to, "event moving");
                Ok(proto::MoveEventReply {
                    from_group: moving.from,
                    to_group: moving.to,
                    meta_index,
                })
            }
            other => Err(other),
        })
        .await
    }

    async fn remove_node(
        &self,
        request: Request<proto::RemoveNodeRequest>,
    ) -> ApiResult<proto::RemoveNodeReply> {
        let node = request.into_inner().node_id;
        let command = MetaCommand::RemoveNode { node };
        self.answer_map_change(command, |outcome, meta_index| match outcome {
            MetaOutcome::Removing { nodes } => {
                tracing::info!(node, ?nodes, "node removing");
                Ok(proto::RemoveNodeReply {
                    removing: nodes.into_iter().collect(),
                    meta_index,
                })
            }
            other => Err(other),
        })
        .await
    }

    type ExportGroupStream = crate::backup::ExportStream;

    async fn export_group(
        &self,
        request: Request<proto::ExportGroupRequest>,
    ) -> ApiResult<Self::ExportGroupStream> {
        let group = request.into_inner().group;
        let result = async {
            let raft = if group == META_GROUP {
                self.node.meta.clone()
            } else {
                self.hosted(group)?.raft
            };
            // Every write acknowledged before this call is applied here once this returns.
            raft.ensure_linearizable(ReadPolicy::ReadIndex)
                .await
                .map_err(|e| match e.forward_to_leader() {
                    Some(forward) => self.not_leader(group, forward.leader_id),
                    None => ApiError::Unavailable(e.to_string()),
                })?;
            let state = self.node.storage.group_state(group);
            Ok(crate::backup::export(state, group, self.meta_index()))
        };
        result.await.map(Response::new).map_err(|e| self.fail(e))
    }
}
