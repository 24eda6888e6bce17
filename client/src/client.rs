//! `Client`: the routing, retrying gRPC client of a Boxoffice cluster. It caches where each event
//! lives and which node leads each group, follows NOT_LEADER and WRONG_GROUP answers, retries with
//! the same request id (so a retry can never act twice), and tells a definite answer from an
//! indeterminate one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use boxoffice_statemachine::{
    AdmissionSettings, CustomerId, EventId, EventSpec, HoldId, OrderId, Outcome, RequestId, SeatId,
    Selection, StatusChange,
};
use prost::Message;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use crate::batch::{BatchLimits, Batcher};
use crate::convert;
use crate::proto::{self, batched_command::Command, boxoffice_client::BoxofficeClient};

/// How a client behaves; `Default` suits an application server.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The most one call may take, retries included.
    pub deadline: Duration,
    /// The most one attempt may take.
    pub attempt_timeout: Duration,
    /// How long to wait for a TCP connection.
    pub connect_timeout: Duration,
    /// Pause between attempts when the cluster asks for no particular one.
    pub backoff: Duration,
    /// Largest reply accepted, in bytes.
    pub reply_bytes_max: usize,
    /// Customer commands (hold, extend, release, buy, join) sent to one node in one call.
    pub batch_commands_max: usize,
    /// Batch calls on their way to one node at once. Few and full beats many and small: every call
    /// costs both ends a stream, a task and a reply, whatever it carries, so under load a small
    /// number keeps the calls full and the CPU for the commands (docs/benchmarks.md, "Calls in
    /// flight").
    pub batch_calls_in_flight_max: usize,
    /// Commands waiting for a batch call to one node; callers beyond it wait for room.
    pub batch_queue_commands_max: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            deadline: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(1),
            backoff: Duration::from_millis(50),
            reply_bytes_max: 64 * 1024 * 1024,
            batch_commands_max: 256,
            batch_calls_in_flight_max: 4,
            batch_queue_commands_max: 10_000,
        }
    }
}

/// Why a call did not produce an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The request is malformed; nothing changed.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The event does not exist; nothing changed.
    #[error("no such event: {0}")]
    UnknownEvent(String),
    /// The cluster has not been bootstrapped.
    #[error("the cluster is not bootstrapped")]
    NotBootstrapped,
    /// Bootstrap was asked of a cluster that exists.
    #[error("the cluster is already bootstrapped")]
    AlreadyBootstrapped,
    /// No attempt reached a node that could act; the command was definitely not applied.
    #[error("unavailable, not applied: {0}")]
    Unavailable(String),
    /// An attempt may have been applied but no answer came back before the deadline. Retrying with
    /// the same request id is safe and returns the first outcome if it was applied.
    #[error("outcome unknown (request {request_id}): {reason}")]
    Indeterminate { request_id: String, reason: String },
    /// The server answered with something this client does not understand.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A test-only RPC was sent to a node that does not enable it (code TESTING_DISABLED).
    #[error("testing hook disabled: {0}")]
    TestingDisabled(String),
}

impl ClientError {
    /// True when the command may have taken effect.
    pub fn is_indeterminate(&self) -> bool {
        matches!(self, ClientError::Indeterminate { .. })
    }
}

/// A command's definite answer: the state machine's outcome (accepted with an effect, or a
/// rejection with a stable code), and where it was decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    pub outcome: Outcome,
    pub group: u64,
    /// The log index of the entry that carried the command, or, for a hold the leader refused from
    /// a read of its state, the index it had applied when it read.
    pub log_index: u64,
}

/// How fresh a read must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Consistency {
    /// Served by the group's leader after confirming its leadership: sees every acknowledged write.
    #[default]
    Linearizable,
    /// Served by any replica; `ReadInfo` says how far behind it may be.
    Stale,
}

/// Group 0: the cluster map.
const META_GROUP_ID: u64 = 0;

/// Where a request should go first.
#[derive(Debug, Clone)]
enum Route {
    /// The leader of the group an event lives on.
    Event(EventId),
    /// The leader of a group.
    Group(u64),
    /// Any node.
    Any,
}

#[derive(Debug, Default)]
struct Routes {
    event_group: HashMap<EventId, u64>,
    group_leader: HashMap<u64, String>,
}

/// A Boxoffice cluster client; cheap to clone, safe to share between tasks.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    seeds: Vec<String>,
    options: ClientOptions,
    channels: RwLock<HashMap<String, Channel>>,
    /// The batcher of each node commands have gone to, started on the first.
    batchers: Mutex<HashMap<String, Batcher>>,
    routes: RwLock<Routes>,
    meta_index: AtomicU64,
    next_seed: AtomicUsize,
    client_tag: String,
    request_counter: AtomicU64,
}

/// What the retry loop needs to know about an RPC's reply.
trait Reply {
    fn group(&self) -> Option<u64>;
    fn meta_index(&self) -> u64;
}

impl Reply for proto::CommandReply {
    fn group(&self) -> Option<u64> {
        (self.group != 0).then_some(self.group)
    }
    fn meta_index(&self) -> u64 {
        self.meta_index
    }
}

macro_rules! read_reply {
    ($($ty:ty),*) => {$(
        impl Reply for $ty {
            fn group(&self) -> Option<u64> {
                self.read.as_ref().filter(|r| r.linearizable).map(|r| r.group)
            }
            fn meta_index(&self) -> u64 {
                self.read.as_ref().map_or(0, |r| r.meta_index)
            }
        }
    )*};
}
read_reply!(
    proto::EventReply,
    proto::ListEventsReply,
    proto::SeatMapReply,
    proto::HoldReply,
    proto::OrderReply,
    proto::OrdersReply,
    proto::QueueStatusReply
);

macro_rules! no_route_reply {
    ($($ty:ty),*) => {$(
        impl Reply for $ty {
            fn group(&self) -> Option<u64> {
                None
            }
            fn meta_index(&self) -> u64 {
                0
            }
        }
    )*};
}
no_route_reply!(proto::AuditReply);

impl Reply for proto::ClusterStatusReply {
    fn group(&self) -> Option<u64> {
        None
    }
    fn meta_index(&self) -> u64 {
        self.meta_index
    }
}

/// Replies of cluster-map changes: answered by group 0's leader at the map's index.
macro_rules! map_change_reply {
    ($($reply:ty),* $(,)?) => {$(
        impl Reply for $reply {
            fn group(&self) -> Option<u64> {
                Some(META_GROUP_ID)
            }
            fn meta_index(&self) -> u64 {
                self.meta_index
            }
        }
    )*};
}
map_change_reply!(
    proto::MoveEventReply,
    proto::SetNodeDrainingReply,
    proto::AddNodeReply,
    proto::RemoveNodeReply
);

impl Reply for proto::BootstrapReply {
    fn group(&self) -> Option<u64> {
        None
    }
    fn meta_index(&self) -> u64 {
        self.meta_index
    }
}

/// The structured detail a Boxoffice node attaches to every error.
fn detail(status: &Status) -> Option<proto::ErrorDetail> {
    if status.details().is_empty() {
        return None;
    }
    proto::ErrorDetail::decode(status.details()).ok()
}

/// True when the status says the request never left this process (no connection could be made):
/// such an attempt cannot have been applied.
fn never_sent(status: &Status) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(error) = source {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::AddrNotAvailable
                    | std::io::ErrorKind::NotConnected
            ) {
                return true;
            }
        }
        if error.to_string().contains("tcp connect error") {
            return true;
        }
        source = error.source();
    }
    false
}

fn normalize(address: &str) -> String {
    address
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

impl Client {
    /// A client of the cluster reachable through any of `endpoints` (host:port of node gRPC
    /// servers). Connections are made lazily, so this succeeds even when nodes are down. Call it
    /// inside a Tokio runtime.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), boxoffice_client::ClientError> {
    /// use boxoffice_client::{Client, ClientOptions};
    /// let client = Client::connect(["127.0.0.1:7081", "127.0.0.1:7082"], ClientOptions::default())?;
    /// let status = client.cluster_status().await?;
    /// println!("{} nodes, {} groups", status.nodes.len(), status.groups.len());
    /// # Ok(()) }
    /// ```
    pub fn connect<I, S>(endpoints: I, options: ClientOptions) -> Result<Client, ClientError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let seeds: Vec<String> = endpoints
            .into_iter()
            .map(|e| normalize(e.as_ref()))
            .collect();
        if seeds.is_empty() {
            return Err(ClientError::InvalidArgument("no endpoints given".into()));
        }
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let client = Client {
            inner: Arc::new(Inner {
                seeds,
                options,
                channels: RwLock::default(),
                batchers: Mutex::default(),
                routes: RwLock::default(),
                meta_index: AtomicU64::new(0),
                next_seed: AtomicUsize::new(0),
                client_tag: format!(
                    "c{}-{}-{}",
                    std::process::id(),
                    started.as_secs(),
                    started.subsec_nanos()
                ),
                request_counter: AtomicU64::new(0),
            }),
        };
        for seed in client.inner.seeds.clone() {
            client.channel(&seed)?;
        }
        Ok(client)
    }

    /// A request id unique to this client: pass it to a command, and again to retry that same
    /// command after an indeterminate outcome.
    pub fn new_request_id(&self) -> RequestId {
        let n = self.inner.request_counter.fetch_add(1, Ordering::Relaxed);
        RequestId::new(format!("{}-{n}", self.inner.client_tag))
            .unwrap_or_else(|_| unreachable!("a short ASCII id is always valid"))
    }

    fn channel(&self, address: &str) -> Result<Channel, ClientError> {
        if let Some(channel) = self
            .inner
            .channels
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(address)
        {
            return Ok(channel.clone());
        }
        let endpoint = Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| ClientError::InvalidArgument(format!("endpoint {address}: {e}")))?
            .connect_timeout(self.inner.options.connect_timeout)
            .tcp_nodelay(true);
        let channel = endpoint.connect_lazy();
        self.inner
            .channels
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(address.to_string(), channel.clone());
        Ok(channel)
    }

    /// The batcher of the node at `address` (started on first use, inside the runtime).
    fn batcher(&self, address: &str) -> Result<Batcher, Status> {
        let mut batchers = self
            .inner
            .batchers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(batcher) = batchers.get(address) {
            return Ok(batcher.clone());
        }
        let channel = self
            .channel(address)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let options = &self.inner.options;
        let batcher = Batcher::start(
            channel,
            BatchLimits {
                commands_max: options.batch_commands_max.max(1),
                calls_in_flight_max: options.batch_calls_in_flight_max.max(1),
                queue_commands_max: options.batch_queue_commands_max.max(1),
                call_timeout: options.attempt_timeout,
                reply_bytes_max: options.reply_bytes_max,
            },
        );
        batchers.insert(address.to_string(), batcher.clone());
        Ok(batcher)
    }

    /// [`Client::call`] for a customer command, which travels in the node's next batch call.
    async fn call_batched<Req>(
        &self,
        route: Route,
        request_id: &RequestId,
        make: impl Fn(u64) -> Req,
        wrap: impl Fn(Req) -> Command,
    ) -> Result<proto::CommandReply, ClientError> {
        self.call_via(route, Some(request_id), make, |address, _, request| {
            let batcher = self.batcher(address);
            let command = wrap(request.into_inner());
            async move { batcher?.submit(command).await.map(tonic::Response::new) }
        })
        .await
    }

    fn any_seed(&self) -> String {
        let n = self.inner.next_seed.fetch_add(1, Ordering::Relaxed);
        self.inner.seeds[n % self.inner.seeds.len()].clone()
    }

    fn first_address(&self, route: &Route) -> String {
        let routes = self.inner.routes.read().unwrap_or_else(|p| p.into_inner());
        let group = match route {
            Route::Event(event) => routes.event_group.get(event).copied(),
            Route::Group(group) => Some(*group),
            Route::Any => None,
        };
        let leader = group.and_then(|g| routes.group_leader.get(&g).cloned());
        drop(routes);
        leader.unwrap_or_else(|| self.any_seed())
    }

    fn learn(&self, route: &Route, group: Option<u64>, leader: Option<&str>) {
        let mut routes = self.inner.routes.write().unwrap_or_else(|p| p.into_inner());
        if let (Route::Event(event), Some(group)) = (route, group) {
            routes.event_group.insert(event.clone(), group);
        }
        if let (Some(group), Some(leader)) = (group, leader) {
            routes.group_leader.insert(group, normalize(leader));
        }
    }

    fn forget_leader(&self, address: &str) {
        let mut routes = self.inner.routes.write().unwrap_or_else(|p| p.into_inner());
        routes.group_leader.retain(|_, leader| leader != address);
    }

    /// Sends `make()`'s request along `route` until a node answers, following redirects and
    /// retrying (the same request) on transient failures, up to the deadline.
    async fn call<Req, Rep, F, Fut>(
        &self,
        route: Route,
        request_id: Option<&RequestId>,
        make: impl Fn(u64) -> Req,
        rpc: F,
    ) -> Result<Rep, ClientError>
    where
        Rep: Reply,
        F: Fn(BoxofficeClient<Channel>, tonic::Request<Req>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<Rep>, Status>>,
    {
        self.call_via(route, request_id, make, |_, stub, request| {
            rpc(stub, request)
        })
        .await
    }

    /// [`Client::call`] with an attempt that is also told the node's address.
    async fn call_via<Req, Rep, F, Fut>(
        &self,
        route: Route,
        request_id: Option<&RequestId>,
        make: impl Fn(u64) -> Req,
        rpc: F,
    ) -> Result<Rep, ClientError>
    where
        Rep: Reply,
        F: Fn(&str, BoxofficeClient<Channel>, tonic::Request<Req>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<Rep>, Status>>,
    {
        let options = &self.inner.options;
        let started = Instant::now();
        let mut address = self.first_address(&route);
        let mut maybe_applied = false;
        let mut last_error = String::from("no attempt made");
        while started.elapsed() < options.deadline {
            let remaining = options.deadline.saturating_sub(started.elapsed());
            let timeout = options.attempt_timeout.min(remaining);
            let channel = self.channel(&address)?;
            let client =
                BoxofficeClient::new(channel).max_decoding_message_size(options.reply_bytes_max);
            let mut request =
                tonic::Request::new(make(self.inner.meta_index.load(Ordering::Relaxed)));
            request.set_timeout(timeout);
            let attempt = tokio::time::timeout(timeout, rpc(&address, client, request)).await;
            let status = match attempt {
                Ok(Ok(reply)) => {
                    let reply = reply.into_inner();
                    self.inner
                        .meta_index
                        .fetch_max(reply.meta_index(), Ordering::Relaxed);
                    self.learn(&route, reply.group(), Some(&address));
                    return Ok(reply);
                }
                Ok(Err(status)) => status,
                Err(_) => Status::deadline_exceeded("attempt timed out"),
            };
            last_error = format!("{address}: {}", status.message());
            let detail = detail(&status);
            if let Some(detail) = &detail {
                self.inner
                    .meta_index
                    .fetch_max(detail.meta_index, Ordering::Relaxed);
            }
            let code = detail.as_ref().map(|d| d.code.as_str()).unwrap_or("");
            let mut pause = options.backoff;
            // A refusal of this attempt says nothing of an earlier one that may have been applied.
            let refused = |error: ClientError| match request_id {
                Some(id) if maybe_applied => ClientError::Indeterminate {
                    request_id: id.to_string(),
                    reason: error.to_string(),
                },
                _ => error,
            };
            match (status.code(), code) {
                (_, "INVALID_ARGUMENT") | (Code::InvalidArgument, _) => {
                    return Err(refused(ClientError::InvalidArgument(
                        status.message().to_string(),
                    )))
                }
                (_, "UNKNOWN_EVENT") => {
                    return Err(refused(ClientError::UnknownEvent(
                        status.message().to_string(),
                    )))
                }
                (_, "NOT_BOOTSTRAPPED") => return Err(refused(ClientError::NotBootstrapped)),
                (_, "ALREADY_BOOTSTRAPPED") => {
                    return Err(refused(ClientError::AlreadyBootstrapped))
                }
                (_, "TESTING_DISABLED") => {
                    return Err(refused(ClientError::TestingDisabled(
                        status.message().to_string(),
                    )))
                }
                (_, "NOT_LEADER") => {
                    // A proposal refused after it was appended may still commit: the retry (same
                    // request id) on the new leader returns its outcome either way.
                    maybe_applied |= request_id.is_some();
                    let group = detail.as_ref().and_then(|d| d.group);
                    match detail.as_ref().and_then(|d| d.leader_address.clone()) {
                        Some(leader) => {
                            self.learn(&route, group, Some(&leader));
                            address = normalize(&leader);
                            continue;
                        }
                        None => address = self.any_seed(),
                    }
                }
                (_, "WRONG_GROUP") => {
                    let replicas = detail.map(|d| d.replica_addresses).unwrap_or_default();
                    let n = self.inner.next_seed.fetch_add(1, Ordering::Relaxed);
                    address = replicas
                        .get(n % replicas.len().max(1))
                        .map(|a| normalize(a))
                        .unwrap_or_else(|| self.any_seed());
                    continue;
                }
                (_, "NO_LEADER") => {
                    // A proposal dropped after it was appended is answered as no leader: it may
                    // still commit. This node knows no leader; it may be the one cut off: ask
                    // another.
                    maybe_applied |= request_id.is_some();
                    if let Some(ms) = detail.and_then(|d| d.retry_after_ms) {
                        pause = Duration::from_millis(ms);
                    }
                    address = self.any_seed();
                }
                (_, "OVERLOADED") => {
                    if let Some(ms) = detail.and_then(|d| d.retry_after_ms) {
                        pause = Duration::from_millis(ms);
                    }
                }
                (_, "TIMEOUT") => {}
                _ => {
                    // Transport failures, deadlines, Raft errors: the command may have been
                    // proposed, unless no connection was ever made. Try another node.
                    maybe_applied |= request_id.is_some() && !never_sent(&status);
                    self.forget_leader(&address);
                    address = self.any_seed();
                }
            }
            tokio::time::sleep(pause.min(options.deadline.saturating_sub(started.elapsed()))).await;
        }
        match request_id {
            Some(id) if maybe_applied => Err(ClientError::Indeterminate {
                request_id: id.to_string(),
                reason: last_error,
            }),
            _ => Err(ClientError::Unavailable(last_error)),
        }
    }

    fn options(request_id: &RequestId, meta_index_min: u64) -> Option<proto::CommandOptions> {
        Some(proto::CommandOptions {
            request_id: request_id.to_string(),
            meta_index_min,
        })
    }

    fn decided(reply: proto::CommandReply) -> Result<Decided, ClientError> {
        let outcome = convert::outcome_from_proto(reply.outcome)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok(Decided {
            outcome,
            group: reply.group,
            log_index: reply.log_index,
        })
    }

    /// Creates an event on the least-loaded group, or on a group of its own if `dedicated_group`.
    pub async fn create_event(
        &self,
        request_id: &RequestId,
        spec: &EventSpec,
        dedicated_group: bool,
    ) -> Result<Decided, ClientError> {
        let wire = convert::event_spec_to_proto(spec);
        let reply = self
            .call(
                Route::Event(spec.id.clone()),
                Some(request_id),
                |meta| proto::CreateEventRequest {
                    options: Self::options(request_id, meta),
                    spec: Some(wire.clone()),
                    dedicated_group,
                },
                |mut c, r| async move { c.create_event(r).await },
            )
            .await?;
        Self::decided(reply)
    }

    /// Opens, pauses, cancels or ends an event's sale.
    pub async fn set_event_status(
        &self,
        request_id: &RequestId,
        event: &EventId,
        change: StatusChange,
    ) -> Result<Decided, ClientError> {
        let change = convert::status_change_to_proto(change) as i32;
        let reply = self
            .call(
                Route::Event(event.clone()),
                Some(request_id),
                |meta| proto::SetEventStatusRequest {
                    options: Self::options(request_id, meta),
                    event_id: event.to_string(),
                    change,
                },
                |mut c, r| async move { c.set_event_status(r).await },
            )
            .await?;
        Self::decided(reply)
    }

    /// Holds seats (specific, general admission or best available) for `customer`.
    ///
    /// ```no_run
    /// # async fn demo(client: boxoffice_client::Client) -> Result<(), boxoffice_client::ClientError> {
    /// use boxoffice_statemachine::{CustomerId, EventId, Outcome, Scope, Selection};
    /// let id = client.new_request_id();
    /// let event = EventId::new("tour-2027-london").unwrap();
    /// let customer = CustomerId::new("alice").unwrap();
    /// let pick = Selection::BestAvailable { scope: Scope::Tier("floor".into()), quantity: 2 };
    /// match client.hold(&id, &event, &customer, &pick, None).await?.outcome {
    ///     Outcome::Accepted(effect) => println!("held: {effect:?}"),
    ///     Outcome::Rejected(why) => println!("no: {}", why.code()),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn hold(
        &self,
        request_id: &RequestId,
        event: &EventId,
        customer: &CustomerId,
        selection: &Selection,
        ttl_ms: Option<u64>,
    ) -> Result<Decided, ClientError> {
        let selection = convert::selection_to_proto(selection);
        let reply = self
            .call_batched(
                Route::Event(event.clone()),
                request_id,
                |meta| proto::HoldRequest {
                    options: Self::options(request_id, meta),
                    event_id: event.to_string(),
                    customer_id: customer.to_string(),
                    selection: Some(selection.clone()),
                    ttl_ms,
                },
                Command::Hold,
            )
            .await?;
        Self::decided(reply)
    }

    /// Puts `customer` in the waiting room of gated event `event` (joining again keeps the place).
    pub async fn join_queue(
        &self,
        request_id: &RequestId,
        event: &EventId,
        customer: &CustomerId,
    ) -> Result<Decided, ClientError> {
        let reply = self
            .call_batched(
                Route::Event(event.clone()),
                request_id,
                |meta| proto::JoinQueueRequest {
                    options: Self::options(request_id, meta),
                    event_id: event.to_string(),
                    customer_id: customer.to_string(),
                },
                Command::JoinQueue,
            )
            .await?;
        Self::decided(reply)
    }

    /// Admin: a gated event's waiting-room settings (access TTL, admission rate, automatic mode).
    pub async fn set_admission(
        &self,
        request_id: &RequestId,
        event: &EventId,
        settings: &AdmissionSettings,
    ) -> Result<Decided, ClientError> {
        let settings = convert::admission_settings_to_proto(settings);
        let reply = self
            .call(
                Route::Event(event.clone()),
                Some(request_id),
                |meta| proto::SetAdmissionRequest {
                    options: Self::options(request_id, meta),
                    event_id: event.to_string(),
                    settings: Some(settings),
                },
                |mut c, r| async move { c.set_admission(r).await },
            )
            .await?;
        Self::decided(reply)
    }

    /// `customer`'s place in `event`'s waiting room (if it joined; no customer: none) and the
    /// room's totals.
    pub async fn queue_status(
        &self,
        event: &EventId,
        customer: Option<&CustomerId>,
        consistency: Consistency,
    ) -> Result<proto::QueueStatusReply, ClientError> {
        self.call(
            Route::Event(event.clone()),
            None,
            |meta| proto::QueueStatusRequest {
                read: Self::read_options(consistency, meta),
                event_id: event.to_string(),
                customer_id: customer.map(ToString::to_string).unwrap_or_default(),
            },
            |mut c, r| async move { c.get_queue_status(r).await },
        )
        .await
    }

    /// Extends an active hold (within the event's lifetime limit).
    pub async fn extend_hold(
        &self,
        request_id: &RequestId,
        hold: &HoldId,
        customer: &CustomerId,
        ttl_ms: Option<u64>,
    ) -> Result<Decided, ClientError> {
        let reply = self
            .call_batched(
                Route::Event(hold.event.clone()),
                request_id,
                |meta| proto::ExtendHoldRequest {
                    options: Self::options(request_id, meta),
                    hold_id: hold.to_string(),
                    customer_id: customer.to_string(),
                    ttl_ms,
                },
                Command::ExtendHold,
            )
            .await?;
        Self::decided(reply)
    }

    /// Releases a hold's seats back to sale.
    pub async fn release(
        &self,
        request_id: &RequestId,
        hold: &HoldId,
        customer: &CustomerId,
    ) -> Result<Decided, ClientError> {
        let reply = self
            .call_batched(
                Route::Event(hold.event.clone()),
                request_id,
                |meta| proto::ReleaseRequest {
                    options: Self::options(request_id, meta),
                    hold_id: hold.to_string(),
                    customer_id: customer.to_string(),
                },
                Command::Release,
            )
            .await?;
        Self::decided(reply)
    }

    /// Buys a hold: an order with one ticket per seat or place.
    pub async fn buy(
        &self,
        request_id: &RequestId,
        hold: &HoldId,
        customer: &CustomerId,
        payment_reference: &str,
    ) -> Result<Decided, ClientError> {
        let reply = self
            .call_batched(
                Route::Event(hold.event.clone()),
                request_id,
                |meta| proto::BuyRequest {
                    options: Self::options(request_id, meta),
                    hold_id: hold.to_string(),
                    customer_id: customer.to_string(),
                    payment_reference: payment_reference.to_string(),
                },
                Command::Buy,
            )
            .await?;
        Self::decided(reply)
    }

    /// Cancels an order (admin); its seats return to sale.
    pub async fn cancel_order(
        &self,
        request_id: &RequestId,
        order: &OrderId,
        reason: &str,
    ) -> Result<Decided, ClientError> {
        let reply = self
            .call(
                Route::Event(order.event.clone()),
                Some(request_id),
                |meta| proto::CancelOrderRequest {
                    options: Self::options(request_id, meta),
                    order_id: order.to_string(),
                    reason: reason.to_string(),
                },
                |mut c, r| async move { c.cancel_order(r).await },
            )
            .await?;
        Self::decided(reply)
    }

    /// Blocks (`block`) or unblocks seats (admin): blocked seats are never sold.
    pub async fn block_seats(
        &self,
        request_id: &RequestId,
        event: &EventId,
        seats: &[SeatId],
        block: bool,
    ) -> Result<Decided, ClientError> {
        let seat_ids: Vec<String> = seats.iter().map(ToString::to_string).collect();
        let make = |meta| proto::SeatsRequest {
            options: Self::options(request_id, meta),
            event_id: event.to_string(),
            seat_ids: seat_ids.clone(),
        };
        let route = Route::Event(event.clone());
        let reply = if block {
            self.call(route, Some(request_id), make, |mut c, r| async move {
                c.block_seats(r).await
            })
            .await?
        } else {
            self.call(route, Some(request_id), make, |mut c, r| async move {
                c.unblock_seats(r).await
            })
            .await?
        };
        Self::decided(reply)
    }

    fn read_options(consistency: Consistency, meta_index_min: u64) -> Option<proto::ReadOptions> {
        let consistency = match consistency {
            Consistency::Linearizable => proto::Consistency::Linearizable,
            Consistency::Stale => proto::Consistency::Stale,
        };
        Some(proto::ReadOptions {
            consistency: consistency as i32,
            meta_index_min,
        })
    }

    /// An event with its live counts.
    pub async fn event(
        &self,
        event: &EventId,
        consistency: Consistency,
    ) -> Result<proto::EventReply, ClientError> {
        self.call(
            Route::Event(event.clone()),
            None,
            |meta| proto::EventRequest {
                read: Self::read_options(consistency, meta),
                event_id: event.to_string(),
            },
            |mut c, r| async move { c.get_event(r).await },
        )
        .await
    }

    /// One page of a group's events, ordered by id.
    pub async fn events(
        &self,
        group: u64,
        after: Option<&EventId>,
        limit: u32,
        consistency: Consistency,
    ) -> Result<proto::ListEventsReply, ClientError> {
        self.call(
            Route::Group(group),
            None,
            |meta| proto::ListEventsRequest {
                read: Self::read_options(consistency, meta),
                group,
                after_event_id: after.map(ToString::to_string).unwrap_or_default(),
                limit,
            },
            |mut c, r| async move { c.list_events(r).await },
        )
        .await
    }

    /// An event's seat map (one section, or all).
    pub async fn seat_map(
        &self,
        event: &EventId,
        section: Option<&str>,
        consistency: Consistency,
    ) -> Result<proto::SeatMapReply, ClientError> {
        self.call(
            Route::Event(event.clone()),
            None,
            |meta| proto::SeatMapRequest {
                read: Self::read_options(consistency, meta),
                event_id: event.to_string(),
                section: section.map(str::to_string),
            },
            |mut c, r| async move { c.get_seat_map(r).await },
        )
        .await
    }

    /// A hold, if it exists.
    pub async fn get_hold(
        &self,
        hold: &HoldId,
        consistency: Consistency,
    ) -> Result<proto::HoldReply, ClientError> {
        self.call(
            Route::Event(hold.event.clone()),
            None,
            |meta| proto::HoldQuery {
                read: Self::read_options(consistency, meta),
                hold_id: hold.to_string(),
            },
            |mut c, r| async move { c.get_hold(r).await },
        )
        .await
    }

    /// An order, if it exists.
    pub async fn get_order(
        &self,
        order: &OrderId,
        consistency: Consistency,
    ) -> Result<proto::OrderReply, ClientError> {
        self.call(
            Route::Event(order.event.clone()),
            None,
            |meta| proto::OrderQuery {
                read: Self::read_options(consistency, meta),
                order_id: order.to_string(),
            },
            |mut c, r| async move { c.get_order(r).await },
        )
        .await
    }

    /// A customer's orders for one event.
    pub async fn customer_orders(
        &self,
        event: &EventId,
        customer: &CustomerId,
        consistency: Consistency,
    ) -> Result<proto::OrdersReply, ClientError> {
        self.call(
            Route::Event(event.clone()),
            None,
            |meta| proto::CustomerOrdersRequest {
                read: Self::read_options(consistency, meta),
                event_id: event.to_string(),
                customer_id: customer.to_string(),
            },
            |mut c, r| async move { c.list_customer_orders(r).await },
        )
        .await
    }

    /// Nodes, groups, leaders, applied indexes and lag, as one node sees them.
    pub async fn cluster_status(&self) -> Result<proto::ClusterStatusReply, ClientError> {
        self.call(
            Route::Any,
            None,
            |_| proto::ClusterStatusRequest {},
            |mut c, r| async move { c.cluster_status(r).await },
        )
        .await
    }

    /// The cluster status as node `address` sees it.
    pub async fn cluster_status_at(
        &self,
        address: &str,
    ) -> Result<proto::ClusterStatusReply, ClientError> {
        let mut client = BoxofficeClient::new(self.channel(&normalize(address))?);
        let mut request = tonic::Request::new(proto::ClusterStatusRequest {});
        request.set_timeout(self.inner.options.attempt_timeout);
        client
            .cluster_status(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| ClientError::Unavailable(format!("{address}: {}", s.message())))
    }

    /// Node `address`'s replica of `group`: invariant audit and state hash.
    pub async fn audit_replica(
        &self,
        address: &str,
        group: u64,
    ) -> Result<proto::AuditReply, ClientError> {
        let mut client = BoxofficeClient::new(self.channel(&normalize(address))?);
        let mut request = tonic::Request::new(proto::AuditRequest { group });
        request.set_timeout(self.inner.options.attempt_timeout);
        client
            .audit_replica(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| ClientError::Unavailable(format!("{address}: {}", s.message())))
    }

    /// Test only: shifts node `address`'s wall clock `offset_ms` from its system time (absolute,
    /// not added to the previous offset; 0 restores it; at most one day either way). The node must
    /// run with `testing.clock_offset_control = true`, else `ClientError::TestingDisabled`. One
    /// attempt, no retry: an error other than a refusal means the offset may or may not be set,
    /// and sending it again is safe.
    pub async fn set_clock_offset_at(
        &self,
        address: &str,
        offset_ms: i64,
    ) -> Result<proto::SetClockOffsetReply, ClientError> {
        let mut client = BoxofficeClient::new(self.channel(&normalize(address))?);
        let mut request = tonic::Request::new(proto::SetClockOffsetRequest { offset_ms });
        request.set_timeout(self.inner.options.attempt_timeout);
        client
            .set_clock_offset(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| {
                let code = detail(&status).map(|d| d.code).unwrap_or_default();
                let message = format!("{address}: {}", status.message());
                match (status.code(), code.as_str()) {
                    (_, "TESTING_DISABLED") => ClientError::TestingDisabled(message),
                    (_, "INVALID_ARGUMENT") | (Code::InvalidArgument, _) => {
                        ClientError::InvalidArgument(message)
                    }
                    _ => ClientError::Unavailable(message),
                }
            })
    }

    /// Creates a new cluster of `nodes` with `data_groups` data groups (once).
    /// Marks node `node_id` draining (its leaderships move to other replicas) or no longer
    /// draining; answers with every node draining after the change. Sent to group 0's leader.
    pub async fn set_node_draining(
        &self,
        node_id: u64,
        draining: bool,
    ) -> Result<proto::SetNodeDrainingReply, ClientError> {
        self.call(
            Route::Group(META_GROUP_ID),
            None,
            |_| proto::SetNodeDrainingRequest { node_id, draining },
            |mut c, r| async move { c.set_node_draining(r).await },
        )
        .await
    }

    /// Adds node `node` to the cluster (holding nothing until replicas move onto it); answers
    /// whether it is new. Sent to group 0's leader.
    pub async fn add_node(
        &self,
        node: proto::NodeInfo,
    ) -> Result<proto::AddNodeReply, ClientError> {
        self.call(
            Route::Group(META_GROUP_ID),
            None,
            |_| proto::AddNodeRequest {
                node: Some(node.clone()),
            },
            |mut c, r| async move { c.add_node(r).await },
        )
        .await
    }

    /// Starts moving `event` to a new group of its own (it stays on sale meanwhile); answers the
    /// group it leaves and the new one. Sent to group 0's leader.
    pub async fn move_event(&self, event: &EventId) -> Result<proto::MoveEventReply, ClientError> {
        self.call(
            Route::Group(META_GROUP_ID),
            None,
            |_| proto::MoveEventRequest {
                event_id: event.to_string(),
            },
            |mut c, r| async move { c.move_event(r).await },
        )
        .await
    }

    /// Starts removing node `node_id`: it drains, its replicas move away, then the cluster forgets
    /// it; answers every node being removed. Sent to group 0's leader.
    pub async fn remove_node(&self, node_id: u64) -> Result<proto::RemoveNodeReply, ClientError> {
        self.call(
            Route::Group(META_GROUP_ID),
            None,
            |_| proto::RemoveNodeRequest { node_id },
            |mut c, r| async move { c.remove_node(r).await },
        )
        .await
    }

    pub async fn bootstrap(
        &self,
        nodes: Vec<proto::NodeInfo>,
        data_groups: u32,
    ) -> Result<proto::BootstrapReply, ClientError> {
        self.call(
            Route::Any,
            None,
            |_| proto::BootstrapRequest {
                nodes: nodes.clone(),
                data_groups,
            },
            |mut c, r| async move { c.bootstrap(r).await },
        )
        .await
    }

    /// Node `address`'s export of `group` (it must lead the group): a stream of chunks, without a
    /// deadline (the caller bounds the wait for each message).
    pub async fn export_group_at(
        &self,
        address: &str,
        group: u64,
    ) -> Result<tonic::Streaming<proto::GroupExportChunk>, ClientError> {
        let mut client = BoxofficeClient::new(self.channel(&normalize(address))?)
            .max_decoding_message_size(crate::backup::BACKUP_MESSAGE_BYTES_MAX);
        client
            .export_group(proto::ExportGroupRequest { group })
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| ClientError::Unavailable(format!("{address}: {}", s.message())))
    }
}
