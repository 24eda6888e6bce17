//! `boxctl onsale`: the load generator of the demo. Concurrent simulated buyers hold (best
//! available by section or tier, random specific seats, or general admission) and buy or abandon,
//! until the event is sold out or the duration ends; latencies, rejections by code, indeterminate
//! outcomes and the longest window without a successful operation are reported, and every
//! acknowledged order is read back (linearizable) at the end.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use boxoffice_client::{proto, Client, ClientError, Consistency, Decided};
use boxoffice_statemachine::{
    CustomerId, Effect, EventId, EventStatus, OrderId, Outcome, Rejection, RequestId, Scope,
    SeatId, Selection,
};
use clap::Args;
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::{Exit, Global};

/// How many times a buyer re-sends a command (same request id) whose outcome is unknown.
const INDETERMINATE_RETRIES: u32 = 5;
/// Workers reading acknowledged orders back at the end.
const VERIFY_WORKERS: usize = 32;

#[derive(Debug, Args)]
pub struct OnsaleArgs {
    /// Event id (must exist and be on sale).
    #[arg(long)]
    event: String,
    /// Concurrent buyers (tasks).
    #[arg(long, default_value_t = 50)]
    buyers: usize,
    /// Stop after this many seconds even if seats remain.
    #[arg(long, default_value_t = 60)]
    duration_s: u64,
    /// Percentage of holds never bought, left to expire.
    #[arg(long, default_value_t = 10.0)]
    abandon_pct: f64,
    /// Hold time-to-live in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    ttl_ms: u64,
    /// Seats per hold: N or MIN..MAX (inclusive), capped by the event's limit.
    #[arg(long, default_value = "1..4")]
    seats_per_hold: String,
    /// Progress line on stderr every this many seconds (0: none).
    #[arg(long, default_value_t = 5)]
    report_every_s: u64,
    /// Random seed (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
}

fn parse_range(text: &str) -> anyhow::Result<(u32, u32)> {
    let text = text.trim();
    let (low, high) = if let Some((a, b)) = text.split_once("..=") {
        (a, b)
    } else if let Some((a, b)) = text.split_once("..") {
        (a, b)
    } else if let Some((a, b)) = text.split_once('-') {
        (a, b)
    } else {
        (text, text)
    };
    let parse = |s: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|_| anyhow!("--seats-per-hold: {text:?} is not N or MIN..MAX"))
    };
    let (low, high) = (parse(low)?, parse(high)?);
    if low == 0 || high < low {
        bail!("--seats-per-hold: need 1 <= MIN <= MAX, got {text:?}");
    }
    Ok((low, high))
}

/// What the buyers know of the event's availability (refreshed by the monitor).
#[derive(Debug, Clone, Default)]
struct Availability {
    known: bool,
    status: i32,
    available: u32,
    held: u32,
    sold: u32,
    /// Seated sections (layout order) and tiers, GA areas: name and seats available.
    sections: Vec<(String, u32)>,
    tiers: Vec<(String, u32)>,
    ga: Vec<(String, u32)>,
}

impl Availability {
    fn from_event(event: &proto::Event) -> Availability {
        let counts = event.counts.unwrap_or_default();
        let zone = |z: &proto::Zone| (z.name.clone(), z.counts.as_ref().map_or(0, |c| c.available));
        Availability {
            known: true,
            status: event.status,
            available: counts.available,
            held: counts.held,
            sold: counts.sold,
            sections: event.sections.iter().map(zone).collect(),
            tiers: event
                .tiers
                .iter()
                .map(|t| (t.name.clone(), t.counts.as_ref().map_or(0, |c| c.available)))
                .collect(),
            ga: event.ga_areas.iter().map(zone).collect(),
        }
    }

    fn sold_out(&self) -> bool {
        self.known && self.available == 0 && self.held == 0
    }
}

/// The longest window without any successful operation while seats were available (waiting for
/// held seats to expire does not count).
#[derive(Debug, Default)]
struct Pauses {
    last_success: Duration,
    longest: Duration,
    longest_from: Duration,
}

#[derive(Debug)]
struct Shared {
    client: Client,
    event: EventId,
    started: Instant,
    stop: AtomicBool,
    sold_out: AtomicBool,
    availability: RwLock<Arc<Availability>>,
    /// Seat ids by section name and row (for random specific-seat picks).
    rows: Vec<(String, Vec<Vec<SeatId>>)>,
    pauses: Mutex<Pauses>,
    holds: AtomicU64,
    buys: AtomicU64,
    tickets: AtomicU64,
    rejected: AtomicU64,
    indeterminate: AtomicU64,
    errors: AtomicU64,
}

impl Shared {
    fn success(&self) {
        let now = self.started.elapsed();
        let mut pauses = self.pauses.lock().unwrap_or_else(|p| p.into_inner());
        let gap = now.saturating_sub(pauses.last_success);
        if gap > pauses.longest {
            pauses.longest = gap;
            pauses.longest_from = pauses.last_success;
        }
        pauses.last_success = pauses.last_success.max(now);
    }

    /// Nothing can be bought right now (all held, or paused): waiting is not a pause of the cluster.
    fn idle(&self) {
        let now = self.started.elapsed();
        let mut pauses = self.pauses.lock().unwrap_or_else(|p| p.into_inner());
        pauses.last_success = pauses.last_success.max(now);
    }

    fn availability(&self) -> Arc<Availability> {
        self.availability
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// One buyer's tallies, merged at the end.
#[derive(Debug)]
struct Tally {
    hold_latency: Histogram<u64>,
    buy_latency: Histogram<u64>,
    holds: u64,
    buys: u64,
    abandoned: u64,
    tickets: u64,
    /// (operation, code) -> count.
    rejections: BTreeMap<(String, String), u64>,
    /// Errors that were not answers (unavailable, ...), by kind.
    errors: BTreeMap<String, u64>,
    /// Indeterminate answers seen (each later retried with the same id).
    indeterminate: u64,
    /// Commands whose outcome stayed unknown after every retry.
    unresolved: u64,
    orders: Vec<OrderId>,
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).map_err(|e| anyhow!("histogram: {e}"))
}

impl Tally {
    fn new() -> anyhow::Result<Tally> {
        Ok(Tally {
            hold_latency: histogram()?,
            buy_latency: histogram()?,
            holds: 0,
            buys: 0,
            abandoned: 0,
            tickets: 0,
            rejections: BTreeMap::new(),
            errors: BTreeMap::new(),
            indeterminate: 0,
            unresolved: 0,
            orders: Vec::new(),
        })
    }

    fn merge(&mut self, other: Tally) -> anyhow::Result<()> {
        self.hold_latency
            .add(&other.hold_latency)
            .map_err(|e| anyhow!("histogram: {e:?}"))?;
        self.buy_latency
            .add(&other.buy_latency)
            .map_err(|e| anyhow!("histogram: {e:?}"))?;
        self.holds += other.holds;
        self.buys += other.buys;
        self.abandoned += other.abandoned;
        self.tickets += other.tickets;
        for (key, n) in other.rejections {
            *self.rejections.entry(key).or_default() += n;
        }
        for (key, n) in other.errors {
            *self.errors.entry(key).or_default() += n;
        }
        self.indeterminate += other.indeterminate;
        self.unresolved += other.unresolved;
        self.orders.extend(other.orders);
        Ok(())
    }
}

fn error_kind(error: &ClientError) -> &'static str {
    match error {
        ClientError::InvalidArgument(_) => "INVALID_ARGUMENT",
        ClientError::UnknownEvent(_) => "UNKNOWN_EVENT",
        ClientError::NotBootstrapped => "NOT_BOOTSTRAPPED",
        ClientError::AlreadyBootstrapped => "ALREADY_BOOTSTRAPPED",
        ClientError::Unavailable(_) => "UNAVAILABLE",
        ClientError::Indeterminate { .. } => "INDETERMINATE",
        ClientError::Protocol(_) => "PROTOCOL",
        ClientError::TestingDisabled(_) => "TESTING_DISABLED",
    }
}

/// Runs a command, re-sending it with the same request id while its outcome is unknown.
async fn decide<F, Fut>(shared: &Shared, tally: &mut Tally, send: F) -> Result<Decided, ClientError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Decided, ClientError>>,
{
    let mut attempt = 0;
    loop {
        match send().await {
            Err(error) if error.is_indeterminate() => {
                tally.indeterminate += 1;
                shared.indeterminate.fetch_add(1, Ordering::Relaxed);
                attempt += 1;
                if attempt > INDETERMINATE_RETRIES {
                    tally.unresolved += 1;
                    return Err(error);
                }
            }
            other => return other,
        }
    }
}

/// A random zone with seats available: its name and how many (as last seen).
fn pick<'a>(rng: &mut StdRng, zones: &'a [(String, u32)]) -> Option<(&'a str, u32)> {
    let open: Vec<(&str, u32)> = zones
        .iter()
        .filter(|(_, available)| *available > 0)
        .map(|(name, available)| (name.as_str(), *available))
        .collect();
    if open.is_empty() {
        None
    } else {
        Some(open[rng.random_range(0..open.len())])
    }
}

/// A buyer's choice for one hold, given what is still available.
fn choose(
    rng: &mut StdRng,
    shared: &Shared,
    availability: &Availability,
    quantity: u32,
) -> Option<Selection> {
    let roll = rng.random_range(0..100u32);
    if roll < 20 {
        if let Some((area, available)) = pick(rng, &availability.ga) {
            return Some(Selection::GeneralAdmission {
                area: area.to_string(),
                quantity: quantity.min(available),
            });
        }
    }
    if roll < 45 {
        if let Some((section, _)) = pick(rng, &availability.sections) {
            if let Some((_, rows)) = shared.rows.iter().find(|(name, _)| name == section) {
                let rows: Vec<&Vec<SeatId>> = rows.iter().filter(|r| !r.is_empty()).collect();
                if !rows.is_empty() {
                    let row = rows[rng.random_range(0..rows.len())];
                    let start = rng.random_range(0..row.len());
                    let end = (start + quantity as usize).min(row.len());
                    return Some(Selection::Seats(row[start..end].to_vec()));
                }
            }
        }
    }
    if roll < 55 {
        if let Some((tier, available)) = pick(rng, &availability.tiers) {
            return Some(Selection::BestAvailable {
                scope: Scope::Tier(tier.to_string()),
                quantity: quantity.min(available),
            });
        }
    }
    if let Some((section, available)) = pick(rng, &availability.sections) {
        return Some(Selection::BestAvailable {
            scope: Scope::Section(section.to_string()),
            quantity: quantity.min(available),
        });
    }
    pick(rng, &availability.ga).map(|(area, available)| Selection::GeneralAdmission {
        area: area.to_string(),
        quantity: quantity.min(available),
    })
}

struct BuyerPlan {
    index: usize,
    seed: u64,
    quantity: (u32, u32),
    abandon: f64,
    ttl_ms: u64,
    deadline: Instant,
}

fn reject(tally: &mut Tally, shared: &Shared, op: &str, rejection: &Rejection) {
    shared.rejected.fetch_add(1, Ordering::Relaxed);
    *tally
        .rejections
        .entry((op.to_string(), rejection.code().to_string()))
        .or_default() += 1;
    if let Rejection::EventNotOnSale { status } = rejection {
        if matches!(
            status,
            EventStatus::SoldOut | EventStatus::Cancelled | EventStatus::Ended
        ) {
            if *status == EventStatus::SoldOut {
                shared.sold_out.store(true, Ordering::Relaxed);
            }
            shared.stop.store(true, Ordering::Relaxed);
        }
    }
}

fn failed(tally: &mut Tally, shared: &Shared, op: &str, error: &ClientError) {
    shared.errors.fetch_add(1, Ordering::Relaxed);
    *tally
        .errors
        .entry(format!("{op}:{}", error_kind(error)))
        .or_default() += 1;
}

async fn buyer(shared: Arc<Shared>, plan: BuyerPlan) -> anyhow::Result<Tally> {
    let mut tally = Tally::new()?;
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let client = shared.client.clone();
    let mut n = 0u64;
    while !shared.stopping() && Instant::now() < plan.deadline {
        let availability = shared.availability();
        if availability.sold_out() {
            shared.sold_out.store(true, Ordering::Relaxed);
            shared.stop.store(true, Ordering::Relaxed);
            break;
        }
        let paused = availability.status == proto::EventStatus::Paused as i32;
        if availability.known && (availability.available == 0 || paused) {
            // Everything is held (or the sale is paused): wait for expiries or a reopening.
            shared.idle();
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let quantity = rng.random_range(plan.quantity.0..=plan.quantity.1);
        let Some(selection) = choose(&mut rng, &shared, &availability, quantity) else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        n += 1;
        let customer =
            CustomerId::new(format!("buyer-{}-{n}", plan.index)).map_err(|e| anyhow!("{e}"))?;
        let request: RequestId = client.new_request_id();
        let started = Instant::now();
        let held = decide(&shared, &mut tally, || {
            client.hold(
                &request,
                &shared.event,
                &customer,
                &selection,
                Some(plan.ttl_ms),
            )
        })
        .await;
        let hold = match held {
            Ok(decided) => match decided.outcome {
                Outcome::Accepted(Effect::Held(hold)) => {
                    tally
                        .hold_latency
                        .saturating_record(started.elapsed().as_micros() as u64);
                    tally.holds += 1;
                    shared.holds.fetch_add(1, Ordering::Relaxed);
                    shared.success();
                    hold
                }
                Outcome::Accepted(other) => {
                    bail!("a hold answered with an unexpected effect: {other:?}")
                }
                Outcome::Rejected(rejection) => {
                    tally
                        .hold_latency
                        .saturating_record(started.elapsed().as_micros() as u64);
                    reject(&mut tally, &shared, "hold", &rejection);
                    continue;
                }
            },
            Err(error) => {
                failed(&mut tally, &shared, "hold", &error);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if rng.random_bool(plan.abandon) {
            tally.abandoned += 1;
            continue;
        }
        let request = client.new_request_id();
        let payment = format!("pay-{}", customer);
        let started = Instant::now();
        let bought = decide(&shared, &mut tally, || {
            client.buy(&request, &hold.id, &customer, &payment)
        })
        .await;
        match bought {
            Ok(decided) => {
                tally
                    .buy_latency
                    .saturating_record(started.elapsed().as_micros() as u64);
                match decided.outcome {
                    Outcome::Accepted(Effect::Bought(order)) => {
                        tally.buys += 1;
                        tally.tickets += order.tickets.len() as u64;
                        shared.buys.fetch_add(1, Ordering::Relaxed);
                        shared
                            .tickets
                            .fetch_add(order.tickets.len() as u64, Ordering::Relaxed);
                        shared.success();
                        tally.orders.push(order.id);
                    }
                    Outcome::Accepted(other) => {
                        bail!("a buy answered with an unexpected effect: {other:?}")
                    }
                    Outcome::Rejected(rejection) => reject(&mut tally, &shared, "buy", &rejection),
                }
            }
            Err(error) => failed(&mut tally, &shared, "buy", &error),
        }
    }
    Ok(tally)
}

/// Refreshes the availability the buyers see and prints progress.
async fn monitor(shared: Arc<Shared>, report_every: Option<Duration>) {
    let mut last_report = Instant::now();
    let mut last_holds = 0;
    let mut last_buys = 0;
    while !shared.stopping() {
        if let Ok(reply) = shared.client.event(&shared.event, Consistency::Stale).await {
            if let Some(event) = reply.event {
                let availability = Availability::from_event(&event);
                *shared
                    .availability
                    .write()
                    .unwrap_or_else(|p| p.into_inner()) = Arc::new(availability);
            }
        }
        if let Some(every) = report_every {
            if last_report.elapsed() >= every {
                let seconds = last_report.elapsed().as_secs_f64();
                last_report = Instant::now();
                let holds = shared.holds.load(Ordering::Relaxed);
                let buys = shared.buys.load(Ordering::Relaxed);
                let a = shared.availability();
                eprintln!(
                    "[{:>6.1}s] holds {holds} ({:.0}/s) buys {buys} ({:.0}/s) tickets {} | event: available {} held {} sold {} | rejected {} indeterminate {} errors {}",
                    shared.started.elapsed().as_secs_f64(),
                    (holds - last_holds) as f64 / seconds,
                    (buys - last_buys) as f64 / seconds,
                    shared.tickets.load(Ordering::Relaxed),
                    a.available,
                    a.held,
                    a.sold,
                    shared.rejected.load(Ordering::Relaxed),
                    shared.indeterminate.load(Ordering::Relaxed),
                    shared.errors.load(Ordering::Relaxed),
                );
                last_holds = holds;
                last_buys = buys;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Milliseconds since the Unix epoch, by this machine's clock (to line the sale up with other
/// measurements of it).
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Reads every acknowledged order back (linearizable): (missing, unverified after retries).
async fn verify(client: &Client, orders: Vec<OrderId>) -> (Vec<String>, Vec<String>) {
    let orders = Arc::new(orders);
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..VERIFY_WORKERS {
        let (client, orders, next) = (client.clone(), orders.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut missing = Vec::new();
            let mut unverified = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(order) = orders.get(i) else { break };
                let mut answer = Err(String::new());
                for _ in 0..3 {
                    match client.get_order(order, Consistency::Linearizable).await {
                        Ok(reply) => {
                            answer = Ok(reply.order.is_some());
                            break;
                        }
                        Err(error) => answer = Err(error.to_string()),
                    }
                }
                match answer {
                    Ok(true) => {}
                    Ok(false) => missing.push(order.to_string()),
                    Err(error) => unverified.push(format!("{order}: {error}")),
                }
            }
            (missing, unverified)
        }));
    }
    let mut missing = Vec::new();
    let mut unverified = Vec::new();
    for worker in workers {
        match worker.await {
            Ok((m, u)) => {
                missing.extend(m);
                unverified.extend(u);
            }
            Err(error) => unverified.push(format!("verification task failed: {error}")),
        }
    }
    (missing, unverified)
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1_000.0
}

pub async fn run(global: &Global, args: OnsaleArgs) -> anyhow::Result<Exit> {
    let event = EventId::new(args.event.clone()).map_err(|e| anyhow!("{e}"))?;
    if args.buyers == 0 {
        bail!("--buyers must be at least 1");
    }
    if !(0.0..=100.0).contains(&args.abandon_pct) {
        bail!("--abandon-pct must be within 0..100");
    }
    let (mut low, mut high) = parse_range(&args.seats_per_hold)?;
    let client = global.client()?;
    let info = client
        .event(&event, Consistency::Linearizable)
        .await
        .with_context(|| format!("cannot read event {event}"))?
        .event
        .ok_or_else(|| anyhow!("event {event} not found"))?;
    if let Some(limits) = &info.limits {
        let max = limits.seats_per_hold_max.max(1);
        high = high.min(max);
        low = low.min(high);
    }
    let map = client
        .seat_map(&event, None, Consistency::Stale)
        .await
        .with_context(|| format!("cannot read the seat map of {event}"))?;
    let rows = map
        .sections
        .iter()
        .map(|section| {
            let rows = section
                .rows
                .iter()
                .map(|row| {
                    row.seats
                        .iter()
                        .filter_map(|seat| seat.seat_id.parse::<SeatId>().ok())
                        .collect()
                })
                .collect();
            (section.name.clone(), rows)
        })
        .collect();
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    eprintln!(
        "onsale: event {event} ({} seats/places, status {}), {} buyers for up to {} s, {}..{} seats per hold, abandon {}%, ttl {} ms, seed {seed}",
        info.capacity,
        crate::output::enum_name(info.status().as_str_name(), "EVENT_STATUS_"),
        args.buyers,
        args.duration_s,
        low,
        high,
        args.abandon_pct,
        args.ttl_ms
    );
    let started_unix_ms = unix_ms();
    let shared = Arc::new(Shared {
        client: client.clone(),
        event: event.clone(),
        started: Instant::now(),
        stop: AtomicBool::new(false),
        sold_out: AtomicBool::new(false),
        availability: RwLock::new(Arc::new(Availability::from_event(&info))),
        rows,
        pauses: Mutex::new(Pauses::default()),
        holds: AtomicU64::new(0),
        buys: AtomicU64::new(0),
        tickets: AtomicU64::new(0),
        rejected: AtomicU64::new(0),
        indeterminate: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    });
    let deadline = Instant::now() + Duration::from_secs(args.duration_s);
    let report_every = (args.report_every_s > 0).then(|| Duration::from_secs(args.report_every_s));
    let monitor_task = tokio::spawn(monitor(shared.clone(), report_every));
    let mut buyers = Vec::new();
    for index in 0..args.buyers {
        let plan = BuyerPlan {
            index,
            seed: seed.wrapping_add((index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            quantity: (low, high),
            abandon: args.abandon_pct / 100.0,
            ttl_ms: args.ttl_ms,
            deadline,
        };
        buyers.push(tokio::spawn(buyer(shared.clone(), plan)));
    }
    let mut total = Tally::new()?;
    let mut failure = None;
    for task in buyers {
        match task.await {
            Ok(Ok(tally)) => total.merge(tally)?,
            Ok(Err(error)) => failure = Some(error),
            Err(error) => failure = Some(anyhow!("a buyer task failed: {error}")),
        }
    }
    let elapsed = shared.started.elapsed();
    let ended_unix_ms = unix_ms();
    shared.stop.store(true, Ordering::Relaxed);
    let _ = monitor_task.await;
    if let Some(error) = failure {
        return Err(error.context("a buyer stopped"));
    }
    let sold_out = shared.sold_out.load(Ordering::Relaxed);
    let (longest_pause, longest_from) = {
        let mut pauses = shared.pauses.lock().unwrap_or_else(|p| p.into_inner());
        // Without a sellout, the time since the last success is a pause too.
        if !sold_out {
            let gap = elapsed.saturating_sub(pauses.last_success);
            if gap > pauses.longest {
                pauses.longest = gap;
                pauses.longest_from = pauses.last_success;
            }
        }
        (pauses.longest, pauses.longest_from)
    };
    let final_event = client
        .event(&event, Consistency::Linearizable)
        .await
        .ok()
        .and_then(|r| r.event);
    let acknowledged = total.orders.len();
    let (missing, unverified) = verify(&client, std::mem::take(&mut total.orders)).await;
    let seconds = elapsed.as_secs_f64().max(0.001);
    let mut rejections: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for ((op, code), n) in &total.rejections {
        rejections
            .entry(op.clone())
            .or_default()
            .insert(code.clone(), *n);
    }
    let event_counts = final_event.as_ref().and_then(|e| e.counts);
    if global.json {
        let out = json!({
            "event_id": event.to_string(),
            "sold_out": sold_out,
            "duration_s": seconds,
            "sale_started_unix_ms": started_unix_ms,
            "sale_ended_unix_ms": ended_unix_ms,
            "buyers": args.buyers,
            "tickets_sold": total.tickets,
            "holds": total.holds,
            "buys": total.buys,
            "abandoned": total.abandoned,
            "holds_per_s": total.holds as f64 / seconds,
            "buys_per_s": total.buys as f64 / seconds,
            "hold_latency_ms": {
                "p50": ms(total.hold_latency.value_at_quantile(0.5)),
                "p99": ms(total.hold_latency.value_at_quantile(0.99)),
                "max": ms(total.hold_latency.max()),
            },
            "buy_latency_ms": {
                "p50": ms(total.buy_latency.value_at_quantile(0.5)),
                "p99": ms(total.buy_latency.value_at_quantile(0.99)),
                "max": ms(total.buy_latency.max()),
            },
            "rejections": rejections,
            "errors": total.errors,
            "indeterminate": total.indeterminate,
            "unresolved": total.unresolved,
            "longest_pause_ms": longest_pause.as_millis() as u64,
            "longest_pause_from_s": longest_from.as_secs_f64(),
            "acknowledged_orders": acknowledged,
            "missing_orders": missing.len(),
            "missing_order_ids": missing,
            "unverified_orders": unverified.len(),
            "event_counts": crate::output::counts_json(event_counts.as_ref()),
        });
        println!("{out}");
    } else {
        println!(
            "onsale of {event}: {} after {seconds:.1} s with {} buyers",
            if sold_out { "SOLD OUT" } else { "stopped" },
            args.buyers
        );
        println!("  tickets sold:      {}", total.tickets);
        println!(
            "  holds:             {} ({:.1}/s), {} abandoned",
            total.holds,
            total.holds as f64 / seconds,
            total.abandoned
        );
        println!(
            "  buys:              {} ({:.1}/s)",
            total.buys,
            total.buys as f64 / seconds
        );
        println!(
            "  hold latency:      p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(total.hold_latency.value_at_quantile(0.5)),
            ms(total.hold_latency.value_at_quantile(0.99)),
            ms(total.hold_latency.max())
        );
        println!(
            "  buy latency:       p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(total.buy_latency.value_at_quantile(0.5)),
            ms(total.buy_latency.value_at_quantile(0.99)),
            ms(total.buy_latency.max())
        );
        if rejections.is_empty() {
            println!("  rejections:        none");
        } else {
            for (op, codes) in &rejections {
                let list: Vec<String> = codes.iter().map(|(c, n)| format!("{c} {n}")).collect();
                println!("  rejected {op:<9} {}", list.join(", "));
            }
        }
        if !total.errors.is_empty() {
            let list: Vec<String> = total
                .errors
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect();
            println!("  errors:            {}", list.join(", "));
        }
        println!(
            "  indeterminate:     {} (unresolved after retries: {})",
            total.indeterminate, total.unresolved
        );
        println!(
            "  longest pause:     {} ms (no successful operation from {:.1} s)",
            longest_pause.as_millis(),
            longest_from.as_secs_f64()
        );
        println!(
            "  orders read back:  {acknowledged} acknowledged, {} missing, {} not verified",
            missing.len(),
            unverified.len()
        );
        for order in &missing {
            println!("    MISSING {order}");
        }
        for order in unverified.iter().take(10) {
            println!("    not verified: {order}");
        }
        if let Some(counts) = &event_counts {
            println!(
                "  event now:         {}",
                crate::output::counts_text(Some(counts))
            );
        }
    }
    Ok(if missing.is_empty() && unverified.is_empty() {
        Exit::Ok
    } else {
        Exit::Failed
    })
}
