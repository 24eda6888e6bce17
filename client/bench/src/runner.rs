//! Runs one workload against one store: sets up the inventory, drives the concurrent buyers
//! (hold, then buy, release or abandon), measures, and checks the invariants at the end.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::checker::{self, Ledger, Sale};
use crate::model::{
    BuyOutcome, ExpiryModel, HeldCount, Hold, HoldOutcome, HoldRequest, Inventory, Layout,
    ReleaseOutcome,
};
use crate::result::{Drain, ExpiryResult, Invariants, Latency, RunResult};
use crate::store::{now_ms, Store, StoreError};
use crate::workload::{
    self, AfterHold, AfterHoldMix, Demand, ManyEvents, PickMode, PlannedRequest, SeatsPerHold,
    WorkloadKind,
};

/// Shortest hold time-to-live any store accepts here (Boxoffice's minimum), in milliseconds.
const TTL_MS_MIN: u64 = 1_000;
/// The expiry storm's measuring window after the expiry time lasts at least this long.
const STORM_WINDOW_MS_MIN: u64 = 5_000;
/// How often the expiry storm polls the held count, in milliseconds.
const DRAIN_POLL_MS: u64 = 50;
/// What the expiry storm's concurrent buyers do with their holds.
const SIDE_MIX: AfterHoldMix = AfterHoldMix {
    buy_pct: 10.0,
    abandon_pct: 0.0,
};
/// Pause after a call that gave no answer, before the buyer's next request.
const ERROR_PAUSE_MS: u64 = 20;

/// Why a run could not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Workload(#[from] workload::WorkloadError),
    #[error("histogram: {0}")]
    Histogram(String),
    #[error("a buyer task failed: {0}")]
    Task(String),
}

/// Everything a run needs to know.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub workload: WorkloadKind,
    pub seed: u64,
    pub buyers: usize,
    /// The run stops after this even if requests remain (expiry-storm: bounds the placement).
    pub duration: Duration,
    pub ttl_ms: u64,
    pub seats_per_hold: SeatsPerHold,
    pub contention: u32,
    pub pick: PickMode,
    pub mix: AfterHoldMix,
    /// Every event's layout.
    pub layout: Layout,
    /// many-events: events; expiry-storm: events whose seats are all held to expire together.
    pub events: u32,
    pub demand: Demand,
    /// expiry-storm: the common expiry time, this long after the placement starts.
    pub expire_after: Duration,
    /// expiry-storm: buyers of a separate event during the storm.
    pub side_buyers: usize,
    /// expiry-storm: longest wait for the expired seats to be available again.
    pub drain_timeout: Duration,
    /// Unique per run: event names start with it, customers too.
    pub tag: String,
    pub progress_every: Option<Duration>,
    /// The command-line options, recorded in the result.
    pub options: BTreeMap<String, String>,
}

/// Where buyers take their next request from.
#[derive(Debug)]
enum Source {
    List(Vec<PlannedRequest>),
    Generated(ManyEvents),
}

#[derive(Debug)]
struct Feed {
    source: Source,
    next: AtomicU64,
}

impl Feed {
    fn new(source: Source) -> Feed {
        Feed {
            source,
            next: AtomicU64::new(0),
        }
    }

    fn take(&self) -> Option<(u64, PlannedRequest)> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        match &self.source {
            Source::List(list) => list.get(i as usize).map(|r| (i, r.clone())),
            Source::Generated(generator) => Some((i, generator.request(i))),
        }
    }
}

/// How long a hold lives.
#[derive(Debug, Clone, Copy)]
enum Ttl {
    Fixed(u64),
    /// Until this wall-clock time (ms since the epoch): every hold expires together.
    Until(u64),
}

/// Counters the progress line reads while buyers run.
#[derive(Debug, Default)]
struct Live {
    decided: AtomicU64,
    accepted: AtomicU64,
    tickets: AtomicU64,
    indeterminate: AtomicU64,
    errors: AtomicU64,
}

/// One buyer's tallies, merged at the end.
#[derive(Debug)]
struct Tally {
    hold: Histogram<u64>,
    buy: Histogram<u64>,
    release: Histogram<u64>,
    holds_decided: u64,
    holds_accepted: u64,
    holds_rejected: u64,
    holds_indeterminate: u64,
    buys_sold: u64,
    buys_rejected: u64,
    buys_indeterminate: u64,
    releases: u64,
    abandoned: u64,
    tickets: u64,
    rejections: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
    ledger: Ledger,
    /// (wall-clock ms at the start, latency in µs) of every decided hold, when asked for.
    timed_holds: Option<Vec<(u64, u64)>>,
}

fn histogram() -> Result<Histogram<u64>, RunError> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).map_err(|e| RunError::Histogram(e.to_string()))
}

impl Tally {
    fn new(timed: bool) -> Result<Tally, RunError> {
        Ok(Tally {
            hold: histogram()?,
            buy: histogram()?,
            release: histogram()?,
            holds_decided: 0,
            holds_accepted: 0,
            holds_rejected: 0,
            holds_indeterminate: 0,
            buys_sold: 0,
            buys_rejected: 0,
            buys_indeterminate: 0,
            releases: 0,
            abandoned: 0,
            tickets: 0,
            rejections: BTreeMap::new(),
            errors: BTreeMap::new(),
            ledger: Ledger::default(),
            timed_holds: timed.then(Vec::new),
        })
    }

    fn merge(&mut self, other: Tally) -> Result<(), RunError> {
        let add = |a: &mut Histogram<u64>, b: &Histogram<u64>| {
            a.add(b).map_err(|e| RunError::Histogram(format!("{e:?}")))
        };
        add(&mut self.hold, &other.hold)?;
        add(&mut self.buy, &other.buy)?;
        add(&mut self.release, &other.release)?;
        self.holds_decided += other.holds_decided;
        self.holds_accepted += other.holds_accepted;
        self.holds_rejected += other.holds_rejected;
        self.holds_indeterminate += other.holds_indeterminate;
        self.buys_sold += other.buys_sold;
        self.buys_rejected += other.buys_rejected;
        self.buys_indeterminate += other.buys_indeterminate;
        self.releases += other.releases;
        self.abandoned += other.abandoned;
        self.tickets += other.tickets;
        for (key, n) in other.rejections {
            *self.rejections.entry(key).or_default() += n;
        }
        for (key, n) in other.errors {
            *self.errors.entry(key).or_default() += n;
        }
        self.ledger.merge(other.ledger);
        if let (Some(mine), Some(theirs)) = (&mut self.timed_holds, other.timed_holds) {
            mine.extend(theirs);
        }
        Ok(())
    }

    fn reject(&mut self, operation: &str, code: &str) {
        *self
            .rejections
            .entry(format!("{operation}:{code}"))
            .or_default() += 1;
    }

    fn error(&mut self, live: &Live, operation: &str, error: &StoreError) {
        live.errors.fetch_add(1, Ordering::Relaxed);
        *self
            .errors
            .entry(format!("{operation}:{}", error.kind()))
            .or_default() += 1;
    }
}

/// What one group of buyers shares.
#[derive(Debug)]
struct Crew<S> {
    store: Arc<S>,
    feed: Feed,
    deadline: Instant,
    stop: AtomicBool,
    ttl: Ttl,
    tag: String,
    live: Live,
    timed: bool,
}

fn micros(since: Instant) -> u64 {
    since.elapsed().as_micros() as u64
}

async fn buyer<S: Store>(crew: Arc<Crew<S>>) -> Result<Tally, RunError> {
    let mut tally = Tally::new(crew.timed)?;
    let live = &crew.live;
    while !crew.stop.load(Ordering::Relaxed) && Instant::now() < crew.deadline {
        let Some((i, planned)) = crew.feed.take() else {
            break;
        };
        let ttl_ms = match crew.ttl {
            Ttl::Fixed(ms) => ms,
            Ttl::Until(at) => {
                let left = at.saturating_sub(now_ms());
                if left < TTL_MS_MIN {
                    break;
                }
                left
            }
        };
        let request = HoldRequest {
            customer: format!("{}-c{i}", crew.tag),
            pick: planned.pick,
            ttl_ms,
        };
        let wall_ms = now_ms();
        let started = Instant::now();
        let outcome = crew.store.hold(&request).await;
        let elapsed = micros(started);
        let hold = match outcome {
            Ok(HoldOutcome::Held(hold)) => {
                tally.hold.saturating_record(elapsed);
                tally.holds_decided += 1;
                tally.holds_accepted += 1;
                live.decided.fetch_add(1, Ordering::Relaxed);
                live.accepted.fetch_add(1, Ordering::Relaxed);
                hold
            }
            Ok(HoldOutcome::Rejected(code)) => {
                tally.hold.saturating_record(elapsed);
                tally.holds_decided += 1;
                tally.holds_rejected += 1;
                live.decided.fetch_add(1, Ordering::Relaxed);
                tally.reject("hold", &code);
                if let Some(times) = &mut tally.timed_holds {
                    times.push((wall_ms, elapsed));
                }
                continue;
            }
            Ok(HoldOutcome::Indeterminate(_)) => {
                tally.holds_indeterminate += 1;
                live.indeterminate.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Err(StoreError::Unsupported(reason)) => {
                crew.stop.store(true, Ordering::Relaxed);
                return Err(RunError::Store(StoreError::Unsupported(reason)));
            }
            Err(error) => {
                tally.error(live, "hold", &error);
                tokio::time::sleep(Duration::from_millis(ERROR_PAUSE_MS)).await;
                continue;
            }
        };
        if let Some(times) = &mut tally.timed_holds {
            times.push((wall_ms, elapsed));
        }
        match planned.after {
            AfterHold::Buy => buy(&crew, &mut tally, hold).await,
            AfterHold::Release => release(&crew, &mut tally, &hold).await,
            AfterHold::Abandon => tally.abandoned += 1,
        }
    }
    Ok(tally)
}

async fn buy<S: Store>(crew: &Crew<S>, tally: &mut Tally, hold: Hold) {
    let started = Instant::now();
    let outcome = crew.store.buy(&hold).await;
    let elapsed = micros(started);
    match outcome {
        Ok(BuyOutcome::Sold { seats, .. }) => {
            tally.buy.saturating_record(elapsed);
            tally.buys_sold += 1;
            tally.tickets += seats.len() as u64;
            crew.live
                .tickets
                .fetch_add(seats.len() as u64, Ordering::Relaxed);
            tally.ledger.acknowledged.push(Sale {
                hold: hold.id,
                seats,
            });
        }
        Ok(BuyOutcome::Rejected(code)) => {
            tally.buy.saturating_record(elapsed);
            tally.buys_rejected += 1;
            tally.reject("buy", &code);
        }
        Ok(BuyOutcome::Indeterminate(_)) => {
            tally.buys_indeterminate += 1;
            crew.live.indeterminate.fetch_add(1, Ordering::Relaxed);
            tally.ledger.indeterminate.push(Sale {
                hold: hold.id,
                seats: hold.seats,
            });
        }
        Err(error) => tally.error(&crew.live, "buy", &error),
    }
}

async fn release<S: Store>(crew: &Crew<S>, tally: &mut Tally, hold: &Hold) {
    let started = Instant::now();
    let outcome = crew.store.release(hold).await;
    let elapsed = micros(started);
    match outcome {
        Ok(ReleaseOutcome::Released) => {
            tally.release.saturating_record(elapsed);
            tally.releases += 1;
        }
        Ok(ReleaseOutcome::Rejected(code)) => {
            tally.release.saturating_record(elapsed);
            tally.reject("release", &code);
        }
        Ok(ReleaseOutcome::Indeterminate(_)) => {
            crew.live.indeterminate.fetch_add(1, Ordering::Relaxed);
        }
        Err(error) => tally.error(&crew.live, "release", &error),
    }
}

/// Starts `buyers` buyer tasks on `crew`.
fn spawn_buyers<S: Store>(
    crew: &Arc<Crew<S>>,
    buyers: usize,
) -> Vec<tokio::task::JoinHandle<Result<Tally, RunError>>> {
    (0..buyers.max(1))
        .map(|_| tokio::spawn(buyer(crew.clone())))
        .collect()
}

async fn join_buyers(
    tasks: Vec<tokio::task::JoinHandle<Result<Tally, RunError>>>,
    timed: bool,
) -> Result<Tally, RunError> {
    let mut total = Tally::new(timed)?;
    let mut failure = None;
    for task in tasks {
        match task.await {
            Ok(Ok(tally)) => total.merge(tally)?,
            Ok(Err(error)) => failure = Some(error),
            Err(error) => failure = Some(RunError::Task(error.to_string())),
        }
    }
    match failure {
        Some(error) => Err(error),
        None => Ok(total),
    }
}

/// Prints a progress line every `every` until `stop`.
async fn progress<S: Store>(crew: Arc<Crew<S>>, every: Duration, label: &'static str) {
    let started = Instant::now();
    let mut last = 0;
    let mut last_at = Instant::now();
    while !crew.stop.load(Ordering::Relaxed) {
        tokio::time::sleep(every).await;
        let decided = crew.live.decided.load(Ordering::Relaxed);
        let seconds = last_at.elapsed().as_secs_f64().max(0.001);
        eprintln!(
            "[{:>6.1}s] {label}: holds decided {decided} ({:.0}/s), held {}, tickets {}, indeterminate {}, errors {}",
            started.elapsed().as_secs_f64(),
            (decided - last) as f64 / seconds,
            crew.live.accepted.load(Ordering::Relaxed),
            crew.live.tickets.load(Ordering::Relaxed),
            crew.live.indeterminate.load(Ordering::Relaxed),
            crew.live.errors.load(Ordering::Relaxed),
        );
        last = decided;
        last_at = Instant::now();
    }
}

fn crew<S: Store>(
    store: &Arc<S>,
    source: Source,
    deadline: Instant,
    ttl: Ttl,
    tag: String,
    timed: bool,
) -> Arc<Crew<S>> {
    Arc::new(Crew {
        store: store.clone(),
        feed: Feed::new(source),
        deadline,
        stop: AtomicBool::new(false),
        ttl,
        tag,
        live: Live::default(),
        timed,
    })
}

/// Runs buyers on `crew` to the end of its feed or deadline, with progress lines.
async fn drive<S: Store>(
    crew: Arc<Crew<S>>,
    buyers: usize,
    progress_every: Option<Duration>,
    label: &'static str,
) -> Result<(Tally, Duration), RunError> {
    let started = Instant::now();
    let tasks = spawn_buyers(&crew, buyers);
    let reporter = progress_every.map(|every| tokio::spawn(progress(crew.clone(), every, label)));
    let tally = join_buyers(tasks, crew.timed).await;
    let elapsed = started.elapsed();
    crew.stop.store(true, Ordering::Relaxed);
    if let Some(reporter) = reporter {
        reporter.abort();
    }
    Ok((tally?, elapsed))
}

/// The inventory of a workload.
pub fn inventory(config: &RunConfig) -> Inventory {
    let events = match config.workload {
        WorkloadKind::Storm => 1,
        WorkloadKind::ManyEvents => config.events,
        // The storm's events, then the concurrent buyers' event.
        WorkloadKind::ExpiryStorm => config.events + 1,
    };
    Inventory {
        tag: config.tag.clone(),
        events: vec![config.layout; events as usize],
    }
}

/// The run's buyers taking requests from `source` until it runs dry or the run's duration ends.
async fn buy_until_done<S: Store>(
    store: &Arc<S>,
    source: Source,
    config: &RunConfig,
    label: &'static str,
) -> Result<(Tally, Duration), RunError> {
    let crew = crew(
        store,
        source,
        Instant::now() + config.duration,
        Ttl::Fixed(config.ttl_ms),
        config.tag.clone(),
        false,
    );
    drive(crew, config.buyers, config.progress_every, label).await
}

/// Runs `config` against `store` and checks the invariants.
pub async fn run<S: Store>(store: Arc<S>, config: &RunConfig) -> Result<RunResult, RunError> {
    let mut result = empty_result(store.as_ref(), config);
    if config.pick == PickMode::BestAvailable && !store.supports_best_available() {
        result.not_applicable = Some(format!(
            "best-available: {} has no honest way to find free seats in order",
            store.name()
        ));
        return Ok(result);
    }
    let inventory = inventory(config);
    let setup_started = Instant::now();
    store.setup(&inventory).await?;
    eprintln!(
        "{}: {} events, {} seats set up in {:.1} s",
        store.name(),
        inventory.events.len(),
        inventory.seats_total(),
        setup_started.elapsed().as_secs_f64()
    );
    let (tally, elapsed, expiry) = match config.workload {
        WorkloadKind::Storm => {
            let pool = workload::storm_pool(&config.layout, 0, config.contention, config.seed);
            let requests = workload::storm_requests(
                &pool,
                config.seats_per_hold,
                config.pick,
                config.mix,
                config.seed,
            );
            let (tally, elapsed) =
                buy_until_done(&store, Source::List(requests), config, "storm").await?;
            (tally, elapsed, None)
        }
        WorkloadKind::ManyEvents => {
            let generator = ManyEvents::new(
                config.seed,
                config.events,
                config.layout,
                config.demand,
                config.seats_per_hold,
                config.pick,
                config.mix,
            )?;
            let (tally, elapsed) =
                buy_until_done(&store, Source::Generated(generator), config, "many-events").await?;
            (tally, elapsed, None)
        }
        WorkloadKind::ExpiryStorm => {
            let (tally, elapsed, expiry) = expiry_storm(&store, config).await?;
            (tally, elapsed, Some(expiry))
        }
    };
    fill(&mut result, &tally, elapsed);
    if let Some(expiry) = expiry {
        // The headline rates of the expiry storm are those of its placement.
        let placement_s = expiry.placement_s.max(0.001);
        result.decided_holds_per_s = expiry.holds_placed as f64 / placement_s;
        result.successful_holds_per_s = expiry.holds_placed as f64 / placement_s;
        result.expiry = Some(expiry);
    }
    eprintln!("{}: checking invariants", store.name());
    result.invariants = match check(store.as_ref(), &tally.ledger).await {
        Ok(invariants) => invariants,
        Err(error) => Invariants::not_checked(error.to_string()),
    };
    Ok(result)
}

async fn check<S: Store>(store: &S, ledger: &Ledger) -> Result<Invariants, StoreError> {
    let final_state = store.final_state().await?;
    let audit = store.audit().await?;
    let verdict = checker::check(ledger, &final_state, audit.as_ref());
    Ok(Invariants::from_verdict(&verdict))
}

/// The expiry storm: every seat of the storm events held to expire at one time while a separate
/// crew keeps buying another event; then the wait until the store shows them free again.
async fn expiry_storm<S: Store>(
    store: &Arc<S>,
    config: &RunConfig,
) -> Result<(Tally, Duration, ExpiryResult), RunError> {
    let started = Instant::now();
    let side_event = config.events;
    // The concurrent buyers hold single seats of their own event at random for as long as the
    // storm lasts: a tenth bought, the rest released, so the event does not run out.
    let side_demand = ManyEvents::new(
        config.seed,
        1,
        config.layout,
        Demand::Uniform,
        SeatsPerHold { min: 1, max: 1 },
        PickMode::Specific,
        SIDE_MIX,
    )?
    .from_event(side_event);
    let placements = workload::expiry_placements(&config.layout, config.events, config.seed);
    let holds_planned = placements.len() as u64;
    let expire_at_ms = now_ms() + config.expire_after.as_millis() as u64;
    let far = Instant::now() + Duration::from_secs(24 * 3_600);
    let side = crew(
        store,
        Source::Generated(side_demand),
        far,
        Ttl::Fixed(config.ttl_ms),
        format!("{}-side", config.tag),
        true,
    );
    let side_tasks = spawn_buyers(&side, config.side_buyers);
    let placement = crew(
        store,
        Source::List(placements),
        // Holds stop short of the expiry time (each needs TTL_MS_MIN to live).
        Instant::now() + config.expire_after.min(config.duration),
        Ttl::Until(expire_at_ms),
        config.tag.clone(),
        false,
    );
    let (placed, placement_time) =
        drive(placement, config.buyers, config.progress_every, "placing").await?;
    eprintln!(
        "{}: placed {} of {holds_planned} holds in {:.1} s ({} rejected {:?}, {} indeterminate, errors {:?}); expiry at +{} ms",
        store.name(),
        placed.holds_accepted,
        placement_time.as_secs_f64(),
        placed.holds_rejected,
        placed.rejections,
        placed.holds_indeterminate,
        placed.errors,
        expire_at_ms.saturating_sub(now_ms())
    );
    tokio::time::sleep(Duration::from_millis(expire_at_ms.saturating_sub(now_ms()))).await;
    let storm_events: Vec<u32> = (0..config.events).collect();
    let drain = match store.expiry_model() {
        ExpiryModel::Lazy => Drain::AtOnceLazy,
        ExpiryModel::Swept => {
            wait_for_drain(store.as_ref(), &storm_events, config, expire_at_ms).await?
        }
    };
    eprintln!("{}: drain {drain:?}", store.name());
    let drained_ms = match &drain {
        Drain::AtOnceLazy => 0,
        Drain::AfterMs(ms) => *ms,
        Drain::NotWithinMs { waited_ms, .. } => *waited_ms,
    };
    let window_end_ms = expire_at_ms + drained_ms.max(STORM_WINDOW_MS_MIN);
    tokio::time::sleep(Duration::from_millis(
        window_end_ms.saturating_sub(now_ms()),
    ))
    .await;
    side.stop.store(true, Ordering::Relaxed);
    let side_tally = join_buyers(side_tasks, true).await?;
    let mut before = histogram()?;
    let mut during = histogram()?;
    for &(at, latency) in side_tally.timed_holds.iter().flatten() {
        if at < expire_at_ms {
            before.saturating_record(latency);
        } else if at < window_end_ms {
            during.saturating_record(latency);
        }
    }
    let expiry = ExpiryResult {
        holds_placed: placed.holds_accepted,
        holds_planned,
        placement_s: placement_time.as_secs_f64(),
        drain,
        side_hold_before: Latency::of(&before),
        side_hold_during: Latency::of(&during),
        side_buyers: config.side_buyers,
    };
    let mut tally = placed;
    tally.timed_holds = None;
    let mut side_tally = side_tally;
    side_tally.timed_holds = None;
    tally.merge(side_tally)?;
    Ok((tally, started.elapsed(), expiry))
}

async fn wait_for_drain<S: Store>(
    store: &S,
    events: &[u32],
    config: &RunConfig,
    expire_at_ms: u64,
) -> Result<Drain, RunError> {
    let give_up_ms = expire_at_ms + config.drain_timeout.as_millis() as u64;
    loop {
        let (drained, left) = match store.held_count(events).await? {
            HeldCount::Seats(n) => (n == 0, n),
            // The concurrent buyers hold at most one unbought seat each.
            HeldCount::KeysWithTtl(n) => (n <= config.side_buyers as u64, n),
        };
        let now = now_ms();
        if drained {
            return Ok(Drain::AfterMs(now.saturating_sub(expire_at_ms)));
        }
        if now > give_up_ms {
            return Ok(Drain::NotWithinMs {
                waited_ms: now.saturating_sub(expire_at_ms),
                left,
            });
        }
        tokio::time::sleep(Duration::from_millis(DRAIN_POLL_MS)).await;
    }
}

fn empty_result<S: Store>(store: &S, config: &RunConfig) -> RunResult {
    RunResult {
        store: store.name().to_string(),
        workload: config.workload.as_str().to_string(),
        seed: config.seed,
        buyers: config.buyers,
        options: config.options.clone(),
        notes: store.notes(),
        not_applicable: None,
        elapsed_s: 0.0,
        holds_decided: 0,
        holds_accepted: 0,
        holds_rejected: 0,
        holds_indeterminate: 0,
        buys_sold: 0,
        buys_rejected: 0,
        buys_indeterminate: 0,
        releases: 0,
        abandoned: 0,
        tickets_sold: 0,
        decided_holds_per_s: 0.0,
        successful_holds_per_s: 0.0,
        tickets_per_s: 0.0,
        latency: BTreeMap::new(),
        rejections: BTreeMap::new(),
        errors: BTreeMap::new(),
        expiry: None,
        invariants: Invariants::not_checked("not run".into()),
    }
}

fn fill(result: &mut RunResult, tally: &Tally, elapsed: Duration) {
    let seconds = elapsed.as_secs_f64().max(0.001);
    result.elapsed_s = elapsed.as_secs_f64();
    result.holds_decided = tally.holds_decided;
    result.holds_accepted = tally.holds_accepted;
    result.holds_rejected = tally.holds_rejected;
    result.holds_indeterminate = tally.holds_indeterminate;
    result.buys_sold = tally.buys_sold;
    result.buys_rejected = tally.buys_rejected;
    result.buys_indeterminate = tally.buys_indeterminate;
    result.releases = tally.releases;
    result.abandoned = tally.abandoned;
    result.tickets_sold = tally.tickets;
    result.decided_holds_per_s = tally.holds_decided as f64 / seconds;
    result.successful_holds_per_s = tally.holds_accepted as f64 / seconds;
    result.tickets_per_s = tally.tickets as f64 / seconds;
    result.latency = BTreeMap::from([
        ("hold".to_string(), Latency::of(&tally.hold)),
        ("buy".to_string(), Latency::of(&tally.buy)),
        ("release".to_string(), Latency::of(&tally.release)),
    ]);
    result.rejections = tally.rejections.clone();
    result.errors = tally.errors.clone();
}
