//! The workload: the events a run puts on sale, and concurrent buyers (each a process of the
//! history, each with its own `boxoffice_client::Client`) that hold, extend, release and buy seats
//! and read seat maps and holds, recording every call as an invoke and its completion.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use boxoffice_client::{proto, Client, ClientError, ClientOptions, Consistency, Decided};
use boxoffice_statemachine::{
    fixtures, CustomerId, Effect, EventId, EventLimits, EventSpec, GaAreaSpec, HoldId, HoldItems,
    Outcome, PriceTier, Rejection, RowSeats, RowSpec, Scope, SeatId, SectionSpec, Selection,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::history::{
    AreaCounts, Call, Catalog, EventInfo, EventKind, FaultRecord, History, HoldState, Kind,
    OrderRecord, Pick, SeatStatus, Value,
};

/// The process id of the harness's own final reads.
pub const FINAL_PROCESS: u32 = 1_000_000;
/// 2100-01-01: the run's events are on sale from time 0 until then, whatever the clocks say.
const SALE_ENDS_AT_MS: u64 = 4_102_444_800_000;
/// Most live holds one buyer keeps before it abandons the oldest (left to expire).
const LIVE_HOLDS_MAX: usize = 2;

/// How big and how busy the workload is.
#[derive(Debug, Clone)]
pub struct WorkloadOptions {
    pub buyers: u32,
    /// Rows of 12 seats in each specific-seat event.
    pub rows: u32,
    /// Pause between one buyer's operations.
    pub think: Duration,
    /// Hold time-to-live range, in milliseconds.
    pub hold_ttl_ms_min: u64,
    pub hold_ttl_ms_max: u64,
    /// One client call's deadline (retries included).
    pub call_deadline: Duration,
}

/// The history being written, and the run's clock.
#[derive(Debug, Clone)]
pub struct Recorder {
    history: Arc<Mutex<History>>,
    started: Instant,
}

impl Recorder {
    pub fn new(catalog: Catalog) -> Recorder {
        Recorder {
            history: Arc::new(Mutex::new(History::new(catalog))),
            started: Instant::now(),
        }
    }

    /// Nanoseconds since the run started.
    pub fn now_ns(&self) -> u64 {
        self.started.elapsed().as_nanos() as u64
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    fn with<T>(&self, f: impl FnOnce(&mut History) -> T) -> T {
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut history)
    }

    pub fn invoke(&self, process: u32, call: Call) {
        let now = self.now_ns();
        self.with(|h| h.invoke(process, now, call));
    }

    pub fn complete(&self, process: u32, kind: Kind, value: Value) {
        let now = self.now_ns();
        self.with(|h| h.complete(process, now, kind, value));
    }

    pub fn fault(&self, nemesis: &str, start: bool, detail: String) {
        let fault = FaultRecord {
            time_ns: self.now_ns(),
            nemesis: nemesis.to_string(),
            start,
            detail,
        };
        self.with(|h| h.fault(fault));
    }

    /// A copy of the history so far.
    pub fn snapshot(&self) -> History {
        self.with(|h| h.clone())
    }
}

fn tier(name: &str) -> PriceTier {
    PriceTier {
        name: name.into(),
        price_cents: 5_000,
    }
}

fn section(name: &str, rows: u32) -> SectionSpec {
    SectionSpec {
        name: name.into(),
        tier: "T".into(),
        rows: (0..rows as usize)
            .map(|r| RowSpec {
                label: fixtures::row_label(r),
                seats: RowSeats::Count(12),
                accessible: Vec::new(),
                tier: None,
            })
            .collect(),
    }
}

/// The run's events: two with specific seats, one best-available, one general admission.
pub fn event_specs(run: &str, options: &WorkloadOptions) -> Vec<(EventSpec, EventKind)> {
    let limits = EventLimits {
        seats_per_hold_max: 4,
        seats_per_customer_max: 10_000,
        holds_per_customer_max: 4,
        hold_ttl_ms: 5_000,
        hold_lifetime_ms_max: 60_000,
    };
    let spec = |name: &str, sections: Vec<SectionSpec>, areas: Vec<GaAreaSpec>| EventSpec {
        id: EventId::new(format!("{run}-{name}")).unwrap_or_else(|_| unreachable!("short ids")),
        name: format!("Jepsen {name}"),
        venue: "Namespace Arena".into(),
        category: "test".into(),
        starts_at_ms: SALE_ENDS_AT_MS + fixtures::HOUR_MS,
        on_sale_at_ms: 0,
        off_sale_at_ms: SALE_ENDS_AT_MS,
        price_tiers: vec![tier("T")],
        sections,
        ga_areas: areas,
        limits,
        gated: false,
    };
    vec![
        (
            spec("seats-1", vec![section("S", options.rows)], vec![]),
            EventKind::Seats,
        ),
        (
            spec("seats-2", vec![section("S", options.rows)], vec![]),
            EventKind::Seats,
        ),
        (
            spec("best", vec![section("B", options.rows * 2)], vec![]),
            EventKind::BestAvailable,
        ),
        (
            spec(
                "ga",
                vec![],
                vec![GaAreaSpec {
                    name: "Pit".into(),
                    tier: "T".into(),
                    capacity: options.rows * 24,
                }],
            ),
            EventKind::GeneralAdmission,
        ),
    ]
}

/// Creates the events and returns the catalog (with the group each landed on).
pub async fn create_events(
    client: &Client,
    specs: &[(EventSpec, EventKind)],
) -> Result<Vec<EventInfo>, ClientError> {
    let mut events = Vec::new();
    for (spec, kind) in specs {
        let decided = client
            .create_event(&client.new_request_id(), spec, false)
            .await?;
        if let Outcome::Rejected(why) = &decided.outcome {
            if why.code() != "EVENT_EXISTS" {
                return Err(ClientError::Protocol(format!(
                    "creating {}: {}",
                    spec.id,
                    why.code()
                )));
            }
        }
        // The seat ids as the cluster names them.
        let map = client
            .seat_map(&spec.id, None, Consistency::Linearizable)
            .await?;
        let seats = seat_statuses(&map).into_keys().collect();
        events.push(EventInfo {
            event: spec.id.to_string(),
            group: decided.group,
            kind: *kind,
            seats,
            areas: spec
                .ga_areas
                .iter()
                .map(|a| (a.name.clone(), a.capacity))
                .collect(),
        });
    }
    Ok(events)
}

fn seat_status(status: i32) -> SeatStatus {
    match proto::SeatStatus::try_from(status) {
        Ok(proto::SeatStatus::Available) => SeatStatus::Available,
        Ok(proto::SeatStatus::Held) => SeatStatus::Held,
        Ok(proto::SeatStatus::Sold) => SeatStatus::Sold,
        _ => SeatStatus::Blocked,
    }
}

/// Every seat of a seat map and its status.
fn seat_statuses(map: &proto::SeatMapReply) -> BTreeMap<String, SeatStatus> {
    let mut seats = BTreeMap::new();
    for section in &map.sections {
        for row in &section.rows {
            for seat in &row.seats {
                seats.insert(seat.seat_id.clone(), seat_status(seat.status));
            }
        }
    }
    seats
}

/// A seat map as the history records it.
pub fn seat_read(map: &proto::SeatMapReply) -> Value {
    let seats = seat_statuses(map);
    let areas = map
        .ga_areas
        .iter()
        .map(|zone| {
            let counts = zone.counts.unwrap_or_default();
            (
                zone.name.clone(),
                AreaCounts {
                    available: counts.available,
                    held: counts.held,
                    sold: counts.sold,
                    blocked: counts.blocked,
                },
            )
        })
        .collect();
    let read = map.read.unwrap_or_default();
    Value::Seats {
        seats,
        areas,
        served_by: read.served_by,
        applied_index: read.applied_index,
    }
}

fn area_name(areas: &[String], index: u16) -> Option<String> {
    areas.get(usize::from(index)).cloned()
}

fn items_parts(items: &HoldItems, areas: &[String]) -> (Vec<String>, u32, Option<String>) {
    match items {
        HoldItems::Seats(seats) => (seats.iter().map(ToString::to_string).collect(), 0, None),
        HoldItems::Places { area, quantity } => (Vec::new(), *quantity, area_name(areas, *area)),
    }
}

fn rejected(why: &Rejection) -> Value {
    let seats = match why {
        Rejection::SeatUnavailable { seats } => seats.iter().map(ToString::to_string).collect(),
        _ => Vec::new(),
    };
    Value::Rejected {
        code: why.code().to_string(),
        seats,
    }
}

/// A command's answer as history: ok with its effect, fail, or info.
fn command_result(result: Result<Decided, ClientError>, areas: &[String]) -> (Kind, Value) {
    match result {
        Ok(decided) => match decided.outcome {
            Outcome::Accepted(effect) => (Kind::Ok, effect_value(effect, areas)),
            Outcome::Rejected(why) => (Kind::Fail, rejected(&why)),
        },
        Err(e) if e.is_indeterminate() => (
            Kind::Info,
            Value::Indeterminate {
                reason: e.to_string(),
            },
        ),
        Err(e) => (
            Kind::Fail,
            Value::Unavailable {
                reason: e.to_string(),
            },
        ),
    }
}

fn effect_value(effect: Effect, areas: &[String]) -> Value {
    match effect {
        Effect::Held(hold) => {
            let (seats, places, area) = items_parts(&hold.items, areas);
            Value::Held {
                hold: hold.id.to_string(),
                seats,
                places,
                area,
                expires_at_ms: hold.expires_at_ms,
            }
        }
        Effect::HoldExtended { expires_at_ms, .. } => Value::Extended { expires_at_ms },
        Effect::Released {
            places_released, ..
        } => Value::Released {
            places: places_released,
        },
        Effect::Bought(order) => {
            let (seats, places, area) = items_parts(&order.items, areas);
            Value::Bought {
                order: order.id.to_string(),
                hold: order.hold.to_string(),
                seats,
                places,
                area,
            }
        }
        other => Value::Rejected {
            code: format!("UNEXPECTED_EFFECT {other:?}"),
            seats: Vec::new(),
        },
    }
}

fn read_failed(e: ClientError) -> (Kind, Value) {
    (
        Kind::Fail,
        Value::Unavailable {
            reason: e.to_string(),
        },
    )
}

/// A read answered without the linearizable guarantee asked for: it says nothing.
fn not_linearizable() -> (Kind, Value) {
    (
        Kind::Fail,
        Value::Unavailable {
            reason: "answered without the linearizable guarantee".into(),
        },
    )
}

fn hold_state(status: i32) -> Option<HoldState> {
    match proto::HoldStatus::try_from(status) {
        Ok(proto::HoldStatus::Active) => Some(HoldState::Active),
        Ok(proto::HoldStatus::Expired) => Some(HoldState::Expired),
        Ok(proto::HoldStatus::Released) => Some(HoldState::Released),
        Ok(proto::HoldStatus::Purchased) => Some(HoldState::Bought),
        _ => None,
    }
}

/// A hold a buyer knows it has.
#[derive(Debug, Clone)]
struct LiveHold {
    id: HoldId,
    event: usize,
}

/// One buyer: a process of the history.
struct Buyer {
    process: u32,
    customer: CustomerId,
    client: Client,
    /// A client per node for reads, so reads go to every node first.
    readers: Vec<(u64, Client)>,
    rng: ChaCha8Rng,
    holds: Vec<LiveHold>,
}

/// What the buyers share.
struct Shared {
    recorder: Recorder,
    events: Vec<EventInfo>,
    /// Each event's general-admission area names, in layout order.
    areas: Vec<Vec<String>>,
    options: WorkloadOptions,
    stop: AtomicBool,
}

/// The customer id of buyer (history process) `process`.
fn customer_of(process: u32) -> String {
    format!("buyer-{process}")
}

/// The buyers' customer ids.
pub fn customers(buyers: u32) -> Vec<String> {
    (0..buyers).map(customer_of).collect()
}

impl Buyer {
    async fn run(mut self, shared: Arc<Shared>) {
        while !shared.stop.load(Ordering::Relaxed) {
            self.step(&shared).await;
            let think = shared.options.think;
            if !think.is_zero() {
                let jitter = self.rng.random_range(0..=think.as_millis() as u64);
                tokio::time::sleep(Duration::from_millis(jitter)).await;
            }
        }
    }

    async fn step(&mut self, shared: &Shared) {
        if !self.holds.is_empty() && self.rng.random_bool(0.5) {
            let at = self.rng.random_range(0..self.holds.len());
            let hold = self.holds[at].clone();
            let roll: f64 = self.rng.random();
            if roll < 0.4 {
                self.holds.remove(at);
                self.buy(shared, &hold).await;
            } else if roll < 0.6 {
                self.holds.remove(at);
                self.release(shared, &hold).await;
            } else if roll < 0.8 {
                self.extend(shared, &hold).await;
            } else {
                self.read_hold(shared, &hold).await;
            }
            return;
        }
        let event = self.rng.random_range(0..shared.events.len());
        if self.rng.random_bool(0.6) {
            self.hold(shared, event).await;
        } else {
            self.read_seats(shared, event).await;
        }
    }

    fn ttl_ms(&mut self, shared: &Shared) -> u64 {
        self.rng
            .random_range(shared.options.hold_ttl_ms_min..=shared.options.hold_ttl_ms_max)
    }

    fn pick(&mut self, info: &EventInfo) -> Pick {
        match info.kind {
            EventKind::Seats => {
                // Half the holds fight over the first row: more buyers than seats there.
                let pool = if self.rng.random_bool(0.5) {
                    &info.seats[..info.seats.len().min(12)]
                } else {
                    &info.seats[..]
                };
                let count = self.rng.random_range(1..=2usize).min(pool.len());
                let mut seats: Vec<String> = Vec::new();
                while seats.len() < count {
                    let seat = pool[self.rng.random_range(0..pool.len())].clone();
                    if !seats.contains(&seat) {
                        seats.push(seat);
                    }
                }
                Pick::Seats { seats }
            }
            EventKind::BestAvailable => Pick::BestAvailable {
                section: "B".into(),
                quantity: self.rng.random_range(1..=3),
            },
            EventKind::GeneralAdmission => Pick::GeneralAdmission {
                area: info.areas.keys().next().cloned().unwrap_or_default(),
                quantity: self.rng.random_range(1..=4),
            },
        }
    }

    async fn hold(&mut self, shared: &Shared, event: usize) {
        let info = &shared.events[event];
        let pick = self.pick(info);
        let ttl_ms = self.ttl_ms(shared);
        let selection = match &pick {
            Pick::Seats { seats } => Selection::Seats(
                seats
                    .iter()
                    .filter_map(|s| s.parse::<SeatId>().ok())
                    .collect(),
            ),
            Pick::BestAvailable { section, quantity } => Selection::BestAvailable {
                scope: Scope::Section(section.clone()),
                quantity: *quantity,
            },
            Pick::GeneralAdmission { area, quantity } => Selection::GeneralAdmission {
                area: area.clone(),
                quantity: *quantity,
            },
        };
        let Ok(event_id) = EventId::new(info.event.clone()) else {
            return;
        };
        shared.recorder.invoke(
            self.process,
            Call::Hold {
                event: info.event.clone(),
                customer: self.customer.to_string(),
                pick,
                ttl_ms,
            },
        );
        let result = self
            .client
            .hold(
                &self.client.new_request_id(),
                &event_id,
                &self.customer,
                &selection,
                Some(ttl_ms),
            )
            .await;
        let (kind, value) = command_result(result, &shared.areas[event]);
        if let Value::Held { hold, .. } = &value {
            if let Ok(id) = hold.parse::<HoldId>() {
                if self.holds.len() >= LIVE_HOLDS_MAX {
                    // Abandoned: left to expire.
                    self.holds.remove(0);
                }
                self.holds.push(LiveHold { id, event });
            }
        }
        shared.recorder.complete(self.process, kind, value);
    }

    async fn buy(&mut self, shared: &Shared, hold: &LiveHold) {
        shared.recorder.invoke(
            self.process,
            Call::Buy {
                hold: hold.id.to_string(),
                customer: self.customer.to_string(),
            },
        );
        let reference = format!("jepsen-{}", hold.id);
        let result = self
            .client
            .buy(
                &self.client.new_request_id(),
                &hold.id,
                &self.customer,
                &reference,
            )
            .await;
        let (kind, value) = command_result(result, &shared.areas[hold.event]);
        shared.recorder.complete(self.process, kind, value);
    }

    async fn release(&mut self, shared: &Shared, hold: &LiveHold) {
        shared.recorder.invoke(
            self.process,
            Call::Release {
                hold: hold.id.to_string(),
                customer: self.customer.to_string(),
            },
        );
        let result = self
            .client
            .release(&self.client.new_request_id(), &hold.id, &self.customer)
            .await;
        let (kind, value) = command_result(result, &shared.areas[hold.event]);
        shared.recorder.complete(self.process, kind, value);
    }

    async fn extend(&mut self, shared: &Shared, hold: &LiveHold) {
        let ttl_ms = self.ttl_ms(shared);
        shared.recorder.invoke(
            self.process,
            Call::Extend {
                hold: hold.id.to_string(),
                customer: self.customer.to_string(),
                ttl_ms,
            },
        );
        let result = self
            .client
            .extend_hold(
                &self.client.new_request_id(),
                &hold.id,
                &self.customer,
                Some(ttl_ms),
            )
            .await;
        let (kind, value) = command_result(result, &shared.areas[hold.event]);
        if kind != Kind::Ok {
            self.holds.retain(|h| h.id != hold.id);
        }
        shared.recorder.complete(self.process, kind, value);
    }

    fn reader(&mut self) -> (u64, Client) {
        let at = self.rng.random_range(0..self.readers.len());
        self.readers[at].clone()
    }

    async fn read_hold(&mut self, shared: &Shared, hold: &LiveHold) {
        let (node, reader) = self.reader();
        shared.recorder.invoke(
            self.process,
            Call::ReadHold {
                hold: hold.id.to_string(),
                node,
            },
        );
        let (kind, value) = match reader.get_hold(&hold.id, Consistency::Linearizable).await {
            Ok(reply) if reply.read.is_some_and(|r| r.linearizable) => (
                Kind::Ok,
                Value::Hold {
                    status: reply.hold.and_then(|h| hold_state(h.status)),
                    served_by: reply.read.map_or(0, |r| r.served_by),
                },
            ),
            Ok(_) => not_linearizable(),
            Err(e) => read_failed(e),
        };
        shared.recorder.complete(self.process, kind, value);
    }

    async fn read_seats(&mut self, shared: &Shared, event: usize) {
        let (node, reader) = self.reader();
        let info = &shared.events[event];
        let Ok(event_id) = EventId::new(info.event.clone()) else {
            return;
        };
        shared.recorder.invoke(
            self.process,
            Call::ReadSeats {
                event: info.event.clone(),
                node,
            },
        );
        let (kind, value) = match reader
            .seat_map(&event_id, None, Consistency::Linearizable)
            .await
        {
            Ok(map) if map.read.is_some_and(|r| r.linearizable) => (Kind::Ok, seat_read(&map)),
            Ok(_) => not_linearizable(),
            Err(e) => read_failed(e),
        };
        shared.recorder.complete(self.process, kind, value);
    }
}

fn client_options(deadline: Duration) -> ClientOptions {
    ClientOptions {
        deadline,
        attempt_timeout: (deadline / 2).max(Duration::from_millis(200)),
        connect_timeout: Duration::from_millis(500),
        ..ClientOptions::default()
    }
}

/// The running buyers; [`Buyers::stop`] waits for each to finish its call in flight.
pub struct Buyers {
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Buyers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Buyers({})", self.tasks.len())
    }
}

/// Starts the buyers against `endpoints` (node id, gRPC address).
pub fn start_buyers(
    recorder: Recorder,
    events: Vec<EventInfo>,
    specs: &[(EventSpec, EventKind)],
    endpoints: &[(u64, String)],
    options: WorkloadOptions,
    seed: u64,
) -> Result<Buyers, ClientError> {
    let areas = specs
        .iter()
        .map(|(spec, _)| spec.ga_areas.iter().map(|a| a.name.clone()).collect())
        .collect();
    let shared = Arc::new(Shared {
        recorder,
        events,
        areas,
        options: options.clone(),
        stop: AtomicBool::new(false),
    });
    let mut tasks = Vec::new();
    for process in 0..options.buyers {
        // Each buyer starts from another node.
        let mut addresses: Vec<String> = endpoints.iter().map(|(_, a)| a.clone()).collect();
        let first = process as usize % addresses.len().max(1);
        addresses.rotate_left(first);
        let client = Client::connect(addresses, client_options(options.call_deadline))?;
        // A reader per node: its first attempt goes to that node, later ones to the others.
        let readers = endpoints
            .iter()
            .enumerate()
            .map(|(at, (id, _))| {
                let mut order: Vec<String> = endpoints.iter().map(|(_, a)| a.clone()).collect();
                order.rotate_left(at);
                Client::connect(order, client_options(options.call_deadline)).map(|c| (*id, c))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let customer = CustomerId::new(customer_of(process))
            .map_err(|e| ClientError::InvalidArgument(e.to_string()))?;
        let buyer = Buyer {
            process,
            customer,
            client,
            readers,
            rng: ChaCha8Rng::seed_from_u64(seed ^ (u64::from(process) << 32)),
            holds: Vec::new(),
        };
        tasks.push(tokio::spawn(buyer.run(shared.clone())));
    }
    Ok(Buyers { shared, tasks })
}

impl Buyers {
    pub async fn stop(mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for Buyers {
    /// A run that fails midway must not leave buyers acting on the next run's cluster.
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The final reads after heal: each event's seat map and every order of every buyer, retried
/// until they answer or `within` passes.
pub async fn final_reads(
    recorder: &Recorder,
    client: &Client,
    events: &[EventInfo],
    specs: &[(EventSpec, EventKind)],
    buyers: u32,
    within: Duration,
) {
    let customers = customers(buyers);
    for (info, (spec, _)) in events.iter().zip(specs) {
        let areas: Vec<String> = spec.ga_areas.iter().map(|a| a.name.clone()).collect();
        let event = spec.id.clone();
        recorder.invoke(
            FINAL_PROCESS,
            Call::ReadSeats {
                event: info.event.clone(),
                node: 0,
            },
        );
        let (kind, value) = retry(within, || async {
            client
                .seat_map(&event, None, Consistency::Linearizable)
                .await
                .map(|map| seat_read(&map))
        })
        .await;
        recorder.complete(FINAL_PROCESS, kind, value);

        recorder.invoke(
            FINAL_PROCESS,
            Call::ReadOrders {
                event: info.event.clone(),
                customers: customers.clone(),
            },
        );
        let (kind, value) = retry(within, || async {
            let mut orders = Vec::new();
            for customer in &customers {
                let customer = CustomerId::new(customer.clone())
                    .map_err(|e| ClientError::InvalidArgument(e.to_string()))?;
                let reply = client
                    .customer_orders(&event, &customer, Consistency::Linearizable)
                    .await?;
                orders.extend(reply.orders.iter().map(|o| order_record(o, &areas)));
            }
            Ok(Value::Orders { orders })
        })
        .await;
        recorder.complete(FINAL_PROCESS, kind, value);
    }
}

async fn retry<F, Fut>(within: Duration, read: F) -> (Kind, Value)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Value, ClientError>>,
{
    let deadline = Instant::now() + within;
    loop {
        match read().await {
            Ok(value) => return (Kind::Ok, value),
            Err(e) if Instant::now() > deadline => return read_failed(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

fn order_record(order: &proto::Order, areas: &[String]) -> OrderRecord {
    let items = order.items.clone().unwrap_or_default();
    let area = items
        .ga_area
        .and_then(|a| u16::try_from(a).ok())
        .and_then(|a| area_name(areas, a));
    OrderRecord {
        order: order.order_id.clone(),
        hold: order.hold_id.clone(),
        customer: order.customer_id.clone(),
        seats: items.seat_ids.clone(),
        places: if items.ga_area.is_some() {
            items.quantity
        } else {
            0
        },
        area,
        confirmed: proto::OrderStatus::try_from(order.status)
            .is_ok_and(|s| s == proto::OrderStatus::Confirmed),
    }
}
