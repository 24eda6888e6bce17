//! The on-sale demo that `cluster-scripts/demo.sh` runs: a simulated stadium on-sale, in process.
//!
//! Until the replicated node exists, this drives the deterministic state machine directly: one
//! `MemStore`, one simulated clock, and the same commands the leader will propose. A stadium of
//! 22,000 reserved seats plus 2,000 general-admission places goes on sale at time 0; simulated buyers
//! (100,000 by default) arrive in a rush and then a trickle, and queue in a waiting room that lets a
//! fixed number in per second. Inside, each looks at the event page (a read, which the gateway serves
//! from a cache refreshed every 250 ms, never through the log), waits while nothing is available, and
//! otherwise asks a few seconds later for 1 to 4 specific seats (picked in a section that shows
//! availability, front rows preferred: contention), the best available in a section or a price tier,
//! or general admission. The gateway answers requests the page already shows cannot be met without a
//! command; the others are applied. Refused buyers look again and retry a few times. Most buyers who
//! get a hold pay after a think time; some release it, some abandon it (it expires), a few pay too
//! late. An `Expire` sweep runs every simulated second, as the leader's timer will.
//!
//! Everything is a discrete-event simulation over a `BinaryHeap` of timed steps and one seeded
//! `ChaCha8Rng`, so a seed always gives the same commands, the same report and the same state hash.
//! The report ends with the invariant audit (the process exits non-zero if it fails) and the
//! 128-bit state hash. Options: `--buyers N`, `--seed N`, `--admit N`, `--help`.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use boxoffice_statemachine::limits::EXPIRE_BATCH_MAX;
use boxoffice_statemachine::{
    execute, fixtures, invariants, query, snapshot, Action, Command, Counts, CustomerId, Effect,
    EventId, EventStatus, HoldId, HoldStatus, MemStore, Outcome, Rejection, RequestId, Scope,
    SeatId, Selection,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const EVENT: &str = "tour-2026-night1";
const SECTIONS: u16 = 20;
const ROWS: u16 = 25;
const SEATS_PER_ROW: u16 = 44;
const GA_AREA: &str = "Field";
const GA_PLACES: u32 = 2_000;

const DEFAULT_BUYERS: u32 = 100_000;
const DEFAULT_SEED: u64 = 2026;
const DEFAULT_ADMIT_PER_S: u32 = 100;

const SECOND_MS: u64 = 1_000;
const MINUTE_MS: u64 = 60 * SECOND_MS;
/// Share of buyers who arrive in the opening rush (percent); the rest trickle in later.
const RUSH_PERCENT: u32 = 70;
/// Rush arrivals fall in the first 6 minutes, front-loaded (the earliest of three uniform draws).
const RUSH_WINDOW_MS: u64 = 6 * MINUTE_MS;
/// Late arrivals are spread evenly over the first 90 minutes.
const LATE_WINDOW_MS: u64 = 90 * MINUTE_MS;
/// Hold requests a buyer makes before giving up.
const ATTEMPTS_MAX: u32 = 4;
/// Times a buyer finds nothing available before leaving.
const LOOKS_MAX: u32 = 12;
/// How long the gateway serves one reading of the event page (its availability cache).
const PAGE_CACHE_MS: u64 = 250;
/// The period of the leader's expiry timer and of the waiting room's admissions.
const TICK_MS: u64 = SECOND_MS;
/// Simulated times at which the timeline samples the event.
const TIMELINE_MS: [u64; 12] = [
    30 * SECOND_MS,
    MINUTE_MS,
    2 * MINUTE_MS,
    3 * MINUTE_MS,
    5 * MINUTE_MS,
    10 * MINUTE_MS,
    15 * MINUTE_MS,
    20 * MINUTE_MS,
    30 * MINUTE_MS,
    45 * MINUTE_MS,
    60 * MINUTE_MS,
    90 * MINUTE_MS,
];

// ---- command line ------------------------------------------------------------------------------

struct Args {
    buyers: u32,
    seed: u64,
    admit_per_s: u32,
}

const USAGE: &str = "\
Usage: onsale [--buyers N] [--seed N] [--admit N]

Simulates a stadium on-sale (22,000 seats + 2,000 general admission) against the Boxoffice state
machine in process and prints what happened, the invariant audit and the state hash.

  --buyers N   simulated buyers (default 100000)
  --seed N     seed of the simulation (default 2026); the same seed replays the same on-sale
  --admit N    buyers the waiting room lets in per simulated second (default 100)
  -h, --help   this help";

/// The parsed arguments, or `None` when help was asked for.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args {
        buyers: DEFAULT_BUYERS,
        seed: DEFAULT_SEED,
        admit_per_s: DEFAULT_ADMIT_PER_S,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(None),
            "--buyers" | "--seed" | "--admit" => {
                let value = match inline {
                    Some(value) => value,
                    None => args.next().ok_or_else(|| format!("{name} needs a value"))?,
                };
                let bad = |_| format!("{name}: {value:?} is not a non-negative integer");
                match name.as_str() {
                    "--buyers" => parsed.buyers = value.parse().map_err(bad)?,
                    "--seed" => parsed.seed = value.parse().map_err(bad)?,
                    _ => parsed.admit_per_s = value.parse().map_err(bad)?,
                }
                if parsed.admit_per_s == 0 {
                    return Err("--admit must be at least 1".into());
                }
            }
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    Ok(Some(parsed))
}

// ---- buyers ------------------------------------------------------------------------------------

/// What a buyer asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Seats,
    BestSection,
    BestTier,
    Ga,
}

impl Mode {
    const ALL: [Mode; 4] = [Mode::Seats, Mode::BestSection, Mode::BestTier, Mode::Ga];

    fn label(self) -> &'static str {
        match self {
            Mode::Seats => "specific seats",
            Mode::BestSection => "best available, section",
            Mode::BestTier => "best available, tier",
            Mode::Ga => "general admission",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What a buyer does with a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Pays after a think time well within the hold's time-to-live.
    Buy,
    /// Changes their mind and gives the hold back.
    Release,
    /// Closes the tab: the hold expires.
    Abandon,
    /// Pays after the hold has expired, and is refused.
    PayLate,
}

/// How a buyer's visit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ending {
    Bought,
    Released,
    Abandoned,
    PaidTooLate,
    GaveUp,
    BuyRefused,
    NothingAvailable,
    SawSoldOut,
    SoldOutWhileTrying,
}

impl Ending {
    fn label(self) -> &'static str {
        match self {
            Ending::Bought => "bought tickets",
            Ending::Released => "released their hold",
            Ending::Abandoned => "abandoned their hold (expired)",
            Ending::PaidTooLate => "paid after expiry (HOLD_EXPIRED)",
            Ending::GaveUp => "gave up after 4 refused holds",
            Ending::BuyRefused => "had their payment refused",
            Ending::NothingAvailable => "left: nothing available for 12 looks",
            Ending::SawSoldOut => "were told \"sold out\"",
            Ending::SoldOutWhileTrying => "sold out under them (EVENT_NOT_ON_SALE)",
        }
    }
}

#[derive(Debug, Clone)]
struct Buyer {
    customer: CustomerId,
    mode: Mode,
    quantity: u32,
    section: u16,
    plan: Plan,
    attempts: u32,
    looks: u32,
    hold: Option<HoldId>,
}

/// A timed step of the simulation. Steps at the same time run in the order they were scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    /// The buyer (index) arrives and joins the waiting room's queue.
    Arrive(u32),
    /// The buyer looks at the event page.
    Look(u32),
    /// The buyer asks for a hold.
    Attempt(u32),
    /// The buyer acts on their hold: pays or releases.
    Checkout(u32),
    /// Once a second: the leader's expiry timer fires, and the waiting room lets buyers in.
    Tick,
}

fn percent(rng: &mut ChaCha8Rng) -> u32 {
    rng.random_range(0..100)
}

fn new_buyer(index: u32, rng: &mut ChaCha8Rng) -> Buyer {
    let mode = match percent(rng) {
        0..45 => Mode::Seats,
        45..65 => Mode::BestSection,
        65..85 => Mode::BestTier,
        _ => Mode::Ga,
    };
    let quantity = match percent(rng) {
        0..20 => 1,
        20..65 => 2,
        65..80 => 3,
        _ => 4,
    };
    let plan = match rng.random_range(0..1_000) {
        0..850 => Plan::Buy,
        850..900 => Plan::Release,
        900..980 => Plan::Abandon,
        _ => Plan::PayLate,
    };
    Buyer {
        customer: CustomerId::new(format!("fan-{index}")).expect("valid customer id"),
        mode,
        quantity,
        section: rng.random_range(0..SECTIONS),
        plan,
        attempts: 0,
        looks: 0,
        hold: None,
    }
}

fn arrival_ms(rng: &mut ChaCha8Rng) -> u64 {
    if percent(rng) < RUSH_PERCENT {
        (0..3)
            .map(|_| rng.random_range(0..RUSH_WINDOW_MS))
            .min()
            .unwrap_or(0)
    } else {
        rng.random_range(0..LATE_WINDOW_MS)
    }
}

// ---- the simulation ----------------------------------------------------------------------------

/// Hold requests of one kind.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    /// Refused by the gateway from the event page, without a command.
    gateway: u64,
    /// Proposed: hold commands applied.
    proposed: u64,
    accepted: u64,
}

/// Commands of one kind and the time spent applying and committing them.
#[derive(Debug, Default, Clone, Copy)]
struct Cost {
    commands: u64,
    time: Duration,
}

#[derive(Debug, Default)]
struct Stats {
    holds: [Tally; 4],
    hold_rejections: BTreeMap<&'static str, u64>,
    buy_rejections: BTreeMap<&'static str, u64>,
    sweeps: u64,
    swept_holds: u64,
    looks: u64,
    endings: BTreeMap<Ending, u64>,
    seats_sold: u64,
    ga_sold: u64,
    revenue_cents: u64,
    costs: Vec<(&'static str, Cost)>,
}

impl Stats {
    fn cost(&mut self, kind: &'static str) -> &mut Cost {
        let index = match self.costs.iter().position(|(k, _)| *k == kind) {
            Some(index) => index,
            None => {
                self.costs.push((kind, Cost::default()));
                self.costs.len() - 1
            }
        };
        &mut self.costs[index].1
    }
}

/// What the waiting room did.
#[derive(Debug, Default)]
struct Room {
    admitted: u64,
    longest_queue: usize,
    longest_wait_ms: u64,
    total_wait_ms: u64,
}

/// One timeline sample: the event's counts at a simulated time.
struct Sample {
    at_ms: u64,
    seats: Counts,
    ga: Counts,
}

/// The event page as the gateway serves it: what is available where, as of `at_ms`.
struct Page {
    at_ms: u64,
    status: EventStatus,
    /// Available seats per section.
    sections: Vec<u32>,
    /// Available seats in tier "Lower" (first half of the sections) and "Upper".
    tiers: [u32; 2],
    ga: u32,
}

impl Page {
    fn total(&self) -> u32 {
        self.tiers[0] + self.tiers[1] + self.ga
    }

    /// What the page shows available for a request of kind `mode` around `section`.
    fn available(&self, mode: Mode, section: u16) -> u32 {
        match mode {
            Mode::Seats | Mode::BestSection => self.sections[usize::from(section)],
            Mode::BestTier => self.tiers[tier_of(section)],
            Mode::Ga => self.ga,
        }
    }

    /// The section with the most available seats (the first of equals), if any has some.
    fn best_section(&self) -> Option<u16> {
        let (index, available) = self
            .sections
            .iter()
            .enumerate()
            .rev()
            .max_by_key(|(_, available)| **available)?;
        (*available > 0).then_some(index as u16)
    }
}

fn tier_of(section: u16) -> usize {
    usize::from(section >= SECTIONS / 2)
}

struct Sim {
    store: MemStore,
    event: EventId,
    rng: ChaCha8Rng,
    queue: BinaryHeap<Reverse<(u64, u64, Step)>>,
    scheduled: u64,
    buyers: Vec<Buyer>,
    now: u64,
    /// Latest expiry of any hold: the sweeps keep running until it has passed.
    last_expiry_ms: u64,
    requests: u64,
    page: Option<Page>,
    admit_per_s: u32,
    waiting: VecDeque<(u32, u64)>,
    room: Room,
    stats: Stats,
    timeline: Vec<Sample>,
    ga_sold_out_ms: Option<u64>,
    seats_sold_out_ms: Option<u64>,
}

impl Sim {
    fn new(seed: u64, buyers: u32, admit_per_s: u32) -> Sim {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut people = Vec::with_capacity(buyers as usize);
        let mut arrivals = Vec::with_capacity(buyers as usize);
        for index in 0..buyers {
            people.push(new_buyer(index, &mut rng));
            arrivals.push(arrival_ms(&mut rng));
        }
        let mut sim = Sim {
            store: MemStore::new(),
            event: EventId::new(EVENT).expect("valid event id"),
            rng,
            queue: BinaryHeap::with_capacity(buyers as usize + 1),
            scheduled: 0,
            buyers: people,
            now: 0,
            last_expiry_ms: 0,
            requests: 0,
            page: None,
            admit_per_s,
            waiting: VecDeque::new(),
            room: Room::default(),
            stats: Stats::default(),
            timeline: Vec::new(),
            ga_sold_out_ms: None,
            seats_sold_out_ms: None,
        };
        for (index, at_ms) in arrivals.into_iter().enumerate() {
            sim.schedule(at_ms, Step::Arrive(index as u32));
        }
        sim.schedule(TICK_MS, Step::Tick);
        sim
    }

    fn schedule(&mut self, at_ms: u64, step: Step) {
        self.scheduled += 1;
        self.queue.push(Reverse((at_ms, self.scheduled, step)));
    }

    /// Proposes `action` at the current simulated time: applies and commits it, timing only that.
    fn run(&mut self, kind: &'static str, action: Action) -> Outcome {
        self.requests += 1;
        let command = Command {
            request_id: RequestId::new(format!("req-{}", self.requests)).expect("valid request id"),
            at_ms: self.now,
            action,
        };
        let start = Instant::now();
        let outcome = execute(&mut self.store, &command).expect("the in-memory store never fails");
        let elapsed = start.elapsed();
        let cost = self.stats.cost(kind);
        cost.commands += 1;
        cost.time += elapsed;
        outcome
    }

    fn event_view(&self) -> query::EventView {
        query::event(&self.store, &self.event, self.now)
            .expect("the in-memory store never fails")
            .expect("the event exists")
    }

    /// The event page, read again from the state once the cached one is `PAGE_CACHE_MS` old.
    fn page(&mut self) -> &Page {
        if self
            .page
            .as_ref()
            .is_none_or(|page| page.at_ms + PAGE_CACHE_MS <= self.now)
        {
            let view = self.event_view();
            let sections: Vec<u32> = view.sections.iter().map(|s| s.counts.available).collect();
            let mut tiers = [0; 2];
            for (index, available) in sections.iter().enumerate() {
                tiers[tier_of(index as u16)] += available;
            }
            self.page = Some(Page {
                at_ms: self.now,
                status: view.status,
                sections,
                tiers,
                ga: view.ga_areas.iter().map(|a| a.counts.available).sum(),
            });
        }
        self.page.as_ref().expect("just filled")
    }

    fn create_event(&mut self) {
        let spec = fixtures::stadium(
            EVENT,
            usize::from(SECTIONS),
            usize::from(ROWS),
            u32::from(SEATS_PER_ROW),
            GA_PLACES,
        );
        if let Outcome::Rejected(rejection) = self.run("create_event", Action::CreateEvent(spec)) {
            panic!("creating the event was rejected: {rejection}");
        }
    }

    fn simulate(&mut self) {
        self.create_event();
        while let Some(Reverse((at_ms, _, step))) = self.queue.pop() {
            self.now = at_ms;
            match step {
                Step::Arrive(buyer) => self.arrive(buyer),
                Step::Look(buyer) => self.look(buyer),
                Step::Attempt(buyer) => self.attempt(buyer),
                Step::Checkout(buyer) => self.checkout(buyer),
                Step::Tick => self.tick(),
            }
        }
    }

    fn end(&mut self, ending: Ending) {
        *self.stats.endings.entry(ending).or_default() += 1;
    }

    /// A buyer arrives and queues in the waiting room.
    fn arrive(&mut self, buyer: u32) {
        self.waiting.push_back((buyer, self.now));
        self.room.longest_queue = self.room.longest_queue.max(self.waiting.len());
    }

    /// Lets the next buyers in, spread over the coming second; once the event is sold out, tells
    /// everyone still queueing.
    fn admit(&mut self) {
        if self.page().status == EventStatus::SoldOut {
            while self.waiting.pop_front().is_some() {
                self.end(Ending::SawSoldOut);
            }
            return;
        }
        for slot in 0..u64::from(self.admit_per_s) {
            let Some((buyer, since_ms)) = self.waiting.pop_front() else {
                break;
            };
            let wait = self.now - since_ms;
            self.room.admitted += 1;
            self.room.total_wait_ms += wait;
            self.room.longest_wait_ms = self.room.longest_wait_ms.max(wait);
            let at = self.now + slot * TICK_MS / u64::from(self.admit_per_s);
            self.schedule(at, Step::Look(buyer));
        }
    }

    /// A buyer looks at the event page: leaves if it is sold out, waits if nothing is available,
    /// otherwise settles on a request where there is something and sends it a few seconds later.
    fn look(&mut self, buyer: u32) {
        self.stats.looks += 1;
        let page = self.page();
        let (status, total) = (page.status, page.total());
        if status == EventStatus::SoldOut {
            self.end(Ending::SawSoldOut);
            return;
        }
        if total == 0 {
            let b = &mut self.buyers[buyer as usize];
            b.looks += 1;
            if b.looks >= LOOKS_MAX {
                self.end(Ending::NothingAvailable);
            } else {
                let wait = self.rng.random_range(20 * SECOND_MS..=60 * SECOND_MS);
                self.schedule(self.now + wait, Step::Look(buyer));
            }
            return;
        }
        let page = self.page.as_ref().expect("read above");
        let b = &mut self.buyers[buyer as usize];
        // Where the buyer's wish has nothing left, they take what the page offers instead.
        if page.available(b.mode, b.section) == 0 {
            match (b.mode, page.best_section()) {
                (Mode::Seats | Mode::BestSection, Some(section)) => b.section = section,
                (Mode::BestTier, Some(section)) => b.section = section,
                _ if page.ga > 0 => b.mode = Mode::Ga,
                (_, Some(section)) => {
                    b.mode = Mode::BestTier;
                    b.section = section;
                }
                (_, None) => unreachable!("something is available"),
            }
        }
        b.quantity = b.quantity.min(page.available(b.mode, b.section));
        let choose = self.rng.random_range(3 * SECOND_MS..=10 * SECOND_MS);
        self.schedule(self.now + choose, Step::Attempt(buyer));
    }

    fn selection(&mut self, buyer: u32) -> Selection {
        let b = &self.buyers[buyer as usize];
        let (mode, quantity, section) = (b.mode, b.quantity, b.section);
        match mode {
            Mode::Seats => {
                // Seats clicked on the section's map, front rows first: the earlier of two rows.
                let row = self
                    .rng
                    .random_range(0..ROWS)
                    .min(self.rng.random_range(0..ROWS));
                let first = self.rng.random_range(0..=SEATS_PER_ROW - quantity as u16);
                let seats = (first..first + quantity as u16)
                    .map(|index| SeatId {
                        section,
                        row,
                        index,
                    })
                    .collect();
                Selection::Seats(seats)
            }
            Mode::BestSection => Selection::BestAvailable {
                scope: Scope::Section(format!("S{}", section + 1)),
                quantity,
            },
            Mode::BestTier => Selection::BestAvailable {
                scope: Scope::Tier(["Lower", "Upper"][tier_of(section)].into()),
                quantity,
            },
            Mode::Ga => Selection::GeneralAdmission {
                area: GA_AREA.into(),
                quantity,
            },
        }
    }

    fn attempt(&mut self, buyer: u32) {
        let b = &mut self.buyers[buyer as usize];
        b.attempts += 1;
        let (mode, section, quantity) = (b.mode, b.section, b.quantity);
        // The gateway checks the cached page first: a request it already shows cannot be met is
        // answered at once, without a log entry.
        if self.page().available(mode, section) < quantity {
            self.stats.holds[mode.index()].gateway += 1;
            self.after_refusal(buyer, None);
            return;
        }
        let selection = self.selection(buyer);
        let b = &self.buyers[buyer as usize];
        let action = Action::Hold {
            event: self.event.clone(),
            customer: b.customer.clone(),
            selection,
            ttl_ms: None,
        };
        self.stats.holds[mode.index()].proposed += 1;
        match self.run(mode.label(), action) {
            Outcome::Accepted(Effect::Held(view)) => {
                self.stats.holds[mode.index()].accepted += 1;
                self.last_expiry_ms = self.last_expiry_ms.max(view.expires_at_ms);
                let ttl = view.expires_at_ms - self.now;
                let plan = self.buyers[buyer as usize].plan;
                self.buyers[buyer as usize].hold = Some(view.id);
                let think_ms = match plan {
                    Plan::Buy => self.rng.random_range(20 * SECOND_MS..=3 * MINUTE_MS),
                    Plan::Release => self.rng.random_range(10 * SECOND_MS..=90 * SECOND_MS),
                    Plan::PayLate => ttl + self.rng.random_range(5 * SECOND_MS..=2 * MINUTE_MS),
                    Plan::Abandon => {
                        self.end(Ending::Abandoned);
                        return;
                    }
                };
                self.schedule(self.now + think_ms, Step::Checkout(buyer));
            }
            Outcome::Accepted(other) => panic!("a hold had effect {other:?}"),
            Outcome::Rejected(rejection) => {
                *self
                    .stats
                    .hold_rejections
                    .entry(rejection.code())
                    .or_default() += 1;
                self.after_refusal(buyer, Some(&rejection));
            }
        }
    }

    /// A refused buyer (by the state machine, or by the gateway when `rejection` is `None`) reloads
    /// the page and tries again, up to a point.
    fn after_refusal(&mut self, buyer: u32, rejection: Option<&Rejection>) {
        if matches!(rejection, Some(Rejection::EventNotOnSale { .. })) {
            self.end(Ending::SoldOutWhileTrying);
            return;
        }
        if self.buyers[buyer as usize].attempts >= ATTEMPTS_MAX {
            self.end(Ending::GaveUp);
            return;
        }
        // Someone was faster on those seats: half the buyers let the system choose next time.
        if matches!(rejection, Some(Rejection::SeatUnavailable { .. })) && self.rng.random_bool(0.5)
        {
            self.buyers[buyer as usize].mode = Mode::BestSection;
        }
        let reload = self.rng.random_range(SECOND_MS..=5 * SECOND_MS);
        self.schedule(self.now + reload, Step::Look(buyer));
    }

    fn checkout(&mut self, buyer: u32) {
        let b = &self.buyers[buyer as usize];
        let hold = b.hold.clone().expect("a buyer checks out a hold they have");
        let customer = b.customer.clone();
        let plan = b.plan;
        if plan == Plan::Release {
            if let Outcome::Rejected(r) = self.run("release", Action::Release { hold, customer }) {
                panic!("release refused: {r}");
            }
            self.end(Ending::Released);
            return;
        }
        let action = Action::Buy {
            hold,
            customer,
            payment_reference: format!("psp-{buyer}"),
        };
        match self.run("buy", action) {
            Outcome::Accepted(Effect::Bought(order)) => {
                self.stats.revenue_cents += order.amount_cents;
                for ticket in &order.tickets {
                    if ticket.seat.is_some() {
                        self.stats.seats_sold += 1;
                    } else {
                        self.stats.ga_sold += 1;
                    }
                }
                if self.ga_sold_out_ms.is_none() && self.stats.ga_sold == u64::from(GA_PLACES) {
                    self.ga_sold_out_ms = Some(self.now);
                }
                if self.seats_sold_out_ms.is_none() && self.stats.seats_sold == seat_capacity() {
                    self.seats_sold_out_ms = Some(self.now);
                }
                self.end(Ending::Bought);
            }
            Outcome::Accepted(other) => panic!("a buy had effect {other:?}"),
            Outcome::Rejected(rejection) => {
                *self
                    .stats
                    .buy_rejections
                    .entry(rejection.code())
                    .or_default() += 1;
                self.end(if plan == Plan::PayLate {
                    Ending::PaidTooLate
                } else {
                    Ending::BuyRefused
                });
            }
        }
    }

    /// Every second: the leader's timer sweeps expired holds (again at once while more are due),
    /// the waiting room admits buyers, the timeline is sampled; the ticks go on while anything can
    /// still happen.
    fn tick(&mut self) {
        loop {
            self.stats.sweeps += 1;
            let sweep = Action::Expire {
                holds_max: EXPIRE_BATCH_MAX,
            };
            match self.run("expire", sweep) {
                Outcome::Accepted(Effect::Expired { holds, more }) => {
                    self.stats.swept_holds += u64::from(holds);
                    if !more {
                        break;
                    }
                }
                other => panic!("an expiry sweep gave {other:?}"),
            }
        }
        self.admit();
        if TIMELINE_MS.contains(&self.now) {
            self.sample();
        }
        if !self.queue.is_empty() || !self.waiting.is_empty() || self.now <= self.last_expiry_ms {
            self.schedule(self.now + TICK_MS, Step::Tick);
        }
    }

    fn sample(&mut self) {
        let view = self.event_view();
        let mut seats = Counts::default();
        for section in &view.sections {
            seats.add(&section.counts);
        }
        let mut ga = Counts::default();
        for area in &view.ga_areas {
            ga.add(&area.counts);
        }
        self.timeline.push(Sample {
            at_ms: self.now,
            seats,
            ga,
        });
    }
}

fn seat_capacity() -> u64 {
    u64::from(SECTIONS) * u64::from(ROWS) * u64::from(SEATS_PER_ROW)
}

// ---- the report --------------------------------------------------------------------------------

/// `1234567` as `1,234,567`.
fn num(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Simulated milliseconds as `m:ss` (or `h:mm:ss`).
fn clock(ms: u64) -> String {
    let s = ms / 1_000;
    if s >= 3_600 {
        format!("{}:{:02}:{:02}", s / 3_600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn dollars(cents: u64) -> String {
    format!("${}.{:02}", num(cents / 100), cents % 100)
}

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

fn micros(cost: Cost) -> f64 {
    cost.time.as_secs_f64() * 1e6 / cost.commands.max(1) as f64
}

fn heading(title: &str) {
    println!();
    println!("{title}");
}

fn row(label: &str, value: impl std::fmt::Display) {
    println!("  {label:<36} {value}");
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("onsale: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    println!("Boxoffice on-sale demo: the state machine, in process");
    println!(
        "  The replicated cluster demo (boxofficed replicas, gateway, waiting room) arrives with"
    );
    println!("  the node; until then the same commands run here against one in-memory replica.");
    println!();
    let capacity = seat_capacity() + u64::from(GA_PLACES);
    row("event", EVENT);
    row(
        "layout",
        format!(
            "{SECTIONS} sections x {ROWS} rows x {SEATS_PER_ROW} seats = {} seats + {} GA ({GA_AREA})",
            num(seat_capacity()),
            num(GA_PLACES.into()),
        ),
    );
    row(
        "buyers",
        format!(
            "{} ({RUSH_PERCENT}% in a 6-minute rush, the rest over 90 minutes; {} let in per second)",
            num(args.buyers.into()),
            num(args.admit_per_s.into())
        ),
    );
    row(
        "seed",
        format!(
            "{} (same seed, same on-sale: --seed {})",
            args.seed, args.seed
        ),
    );

    let wall = Instant::now();
    let mut sim = Sim::new(args.seed, args.buyers, args.admit_per_s);
    sim.simulate();
    let simulated = wall.elapsed();

    let view = sim.event_view();
    let mut seats = Counts::default();
    for section in &view.sections {
        seats.add(&section.counts);
    }
    let mut ga = Counts::default();
    for area in &view.ga_areas {
        ga.add(&area.counts);
    }
    let stats = &sim.stats;

    heading("Waiting room");
    let room = &sim.room;
    row(
        "let in",
        format!(
            "{} buyers ({} per second at most)",
            num(room.admitted),
            num(args.admit_per_s.into())
        ),
    );
    row(
        "longest queue",
        format!("{} buyers", num(room.longest_queue as u64)),
    );
    row(
        "wait, mean / longest",
        format!(
            "{} / {}",
            clock(room.total_wait_ms / room.admitted.max(1)),
            clock(room.longest_wait_ms)
        ),
    );

    heading("Timeline (simulated time since the sale opened)");
    println!(
        "  {:>8}  {:>11}  {:>8}  {:>7}  {:>10}",
        "time", "seats sold", "GA sold", "held", "available"
    );
    for sample in &sim.timeline {
        println!(
            "  {:>8}  {:>11}  {:>8}  {:>7}  {:>10}",
            clock(sample.at_ms),
            num(sample.seats.sold.into()),
            num(sample.ga.sold.into()),
            num((sample.seats.held + sample.ga.held).into()),
            num((sample.seats.available + sample.ga.available).into()),
        );
    }
    println!(
        "  {:>8}  {:>11}  {:>8}  {:>7}  {:>10}   (end)",
        clock(sim.now),
        num(seats.sold.into()),
        num(ga.sold.into()),
        num((seats.held + ga.held).into()),
        num((seats.available + ga.available).into()),
    );

    heading("Hold requests (gateway: refused from the page, no command; the rest were applied)");
    println!(
        "  {:<26} {:>9}  {:>9}  {:>9}  {:>9}  {:>8}",
        "asked for", "gateway", "applied", "accepted", "rejected", "success"
    );
    let mut total = Tally::default();
    let tally_row = |label: &str, t: Tally| {
        println!(
            "  {:<26} {:>9}  {:>9}  {:>9}  {:>9}  {:>8}",
            label,
            num(t.gateway),
            num(t.proposed),
            num(t.accepted),
            num(t.proposed - t.accepted),
            pct(t.accepted, t.proposed),
        );
    };
    for mode in Mode::ALL {
        let t = stats.holds[mode.index()];
        total.gateway += t.gateway;
        total.proposed += t.proposed;
        total.accepted += t.accepted;
        tally_row(mode.label(), t);
    }
    tally_row("total", total);
    heading("Rejected holds by code");
    if stats.hold_rejections.is_empty() {
        row("none", "");
    }
    for (code, count) in &stats.hold_rejections {
        row(code, format!("{:>9}", num(*count)));
    }
    if !stats.buy_rejections.is_empty() {
        heading("Rejected buys by code");
        for (code, count) in &stats.buy_rejections {
            row(code, format!("{:>9}", num(*count)));
        }
    }

    // Every accepted hold, as the state now records it.
    let mut by_status: BTreeMap<&str, u64> = BTreeMap::new();
    for number in 1..=total.accepted {
        let id = HoldId {
            event: sim.event.clone(),
            number,
        };
        let hold = query::hold(&sim.store, &id, sim.now)
            .expect("the in-memory store never fails")
            .expect("every accepted hold is stored");
        let status = match hold.status {
            HoldStatus::Active => "still active",
            HoldStatus::Purchased { .. } => "bought",
            HoldStatus::Released => "released",
            HoldStatus::Expired => "expired",
        };
        *by_status.entry(status).or_default() += 1;
    }
    heading("Holds, as the state records them");
    for status in ["bought", "released", "expired", "still active"] {
        if let Some(count) = by_status.get(status) {
            row(status, format!("{:>9}", num(*count)));
        }
    }
    row(
        "expired holds freed by the sweeps",
        format!("{:>9}", num(stats.swept_holds)),
    );
    row(
        "... freed on contact by a later hold",
        format!(
            "{:>9}",
            num(by_status
                .get("expired")
                .copied()
                .unwrap_or(0)
                .saturating_sub(stats.swept_holds))
        ),
    );

    heading("Buyers");
    for (ending, count) in &stats.endings {
        row(
            ending.label(),
            format!("{:>9}  {:>6}", num(*count), pct(*count, args.buyers.into())),
        );
    }

    heading("Result");
    let sold = u64::from(seats.sold) + u64::from(ga.sold);
    row(
        "tickets sold",
        format!(
            "{} of {} ({} seats + {} GA)",
            num(sold),
            num(capacity),
            num(seats.sold.into()),
            num(ga.sold.into())
        ),
    );
    row("revenue", dollars(stats.revenue_cents));
    let when = |at: Option<u64>| at.map_or_else(|| "not sold out".to_owned(), clock);
    row("general admission sold out at", when(sim.ga_sold_out_ms));
    row("reserved seats sold out at", when(sim.seats_sold_out_ms));
    let sold_out_at = match (sim.ga_sold_out_ms, sim.seats_sold_out_ms) {
        (Some(ga), Some(seats)) => Some(ga.max(seats)),
        _ => None,
    };
    row(
        "event sold out at",
        format!(
            "{} (status now: {})",
            when(sold_out_at),
            view.status.as_str()
        ),
    );
    row("simulated time", clock(sim.now));
    row("page views (served from the cache)", num(stats.looks));

    heading("Commands applied (apply + commit, wall clock, one core)");
    println!(
        "  {:<31} {:>9}  {:>9}  {:>10}",
        "command", "count", "seconds", "us/command"
    );
    let mut all = Cost::default();
    let kinds = ["create_event"]
        .into_iter()
        .chain(Mode::ALL.map(Mode::label))
        .chain(["buy", "release", "expire"]);
    for kind in kinds {
        let Some((_, cost)) = stats.costs.iter().find(|(k, _)| *k == kind) else {
            continue;
        };
        all.commands += cost.commands;
        all.time += cost.time;
        let label = match kind {
            "create_event" | "buy" | "release" | "expire" => kind.to_owned(),
            mode => format!("hold: {mode}"),
        };
        println!(
            "  {:<31} {:>9}  {:>9.3}  {:>10.1}",
            label,
            num(cost.commands),
            cost.time.as_secs_f64(),
            micros(*cost)
        );
    }
    println!(
        "  {:<31} {:>9}  {:>9.3}  {:>10.1}",
        "total",
        num(all.commands),
        all.time.as_secs_f64(),
        micros(all)
    );
    row(
        "apply rate",
        format!(
            "{} commands/s",
            num((all.commands as f64 / all.time.as_secs_f64().max(1e-9)) as u64)
        ),
    );
    row(
        "whole simulation",
        format!(
            "{:.2} s wall clock (buyers, queue, page reads included)",
            simulated.as_secs_f64()
        ),
    );

    heading("Verdict");
    let mut failed = false;
    let tally_matches =
        stats.seats_sold == u64::from(seats.sold) && stats.ga_sold == u64::from(ga.sold);
    if !tally_matches {
        failed = true;
    }
    row(
        "buyers' tickets = state's sold count",
        if tally_matches {
            "yes".to_owned()
        } else {
            format!(
                "NO: buyers hold {} seats + {} GA",
                num(stats.seats_sold),
                num(stats.ga_sold)
            )
        },
    );
    match invariants::check(&sim.store) {
        Ok(audit) => row(
            "invariants",
            format!(
                "OK ({} event, {} places, {} active holds, {} confirmed orders)",
                audit.events,
                num(audit.counts.total()),
                num(audit.active_holds.into()),
                num(audit.confirmed_orders.into())
            ),
        ),
        Err(violation) => {
            failed = true;
            row("invariants", format!("VIOLATED: {violation}"));
        }
    }
    let hash = snapshot::state_hash(&sim.store).expect("the in-memory store never fails");
    row("state hash (xxh3-128)", format!("{hash:032x}"));

    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Result<Option<Args>, String> {
        parse_args(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn parses_options_in_both_forms_and_refuses_the_rest() {
        let defaults = args("").unwrap().unwrap();
        assert_eq!(
            (defaults.buyers, defaults.seed, defaults.admit_per_s),
            (DEFAULT_BUYERS, DEFAULT_SEED, DEFAULT_ADMIT_PER_S)
        );
        let set = args("--buyers 500 --seed=9 --admit 20").unwrap().unwrap();
        assert_eq!((set.buyers, set.seed, set.admit_per_s), (500, 9, 20));
        assert!(args("--help").unwrap().is_none());
        for bad in ["--buyers", "--seed x", "--admit 0", "--frobnicate", "500"] {
            assert!(args(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn formats_numbers_and_simulated_times() {
        assert_eq!(num(0), "0");
        assert_eq!(num(999), "999");
        assert_eq!(num(1_000), "1,000");
        assert_eq!(num(1_234_567), "1,234,567");
        assert_eq!(clock(61_999), "1:01");
        assert_eq!(clock(3_723_000), "1:02:03");
        assert_eq!(dollars(267_300_050), "$2,673,000.50");
    }

    #[test]
    fn a_small_on_sale_is_sound_and_replays_to_the_same_state() {
        let run = |seed| {
            let mut sim = Sim::new(seed, 400, 20);
            sim.simulate();
            sim
        };
        let sim = run(11);
        let audit = invariants::check(&sim.store).unwrap();
        assert_eq!(audit.active_holds, 0, "every hold ended");
        assert_eq!(
            u64::from(audit.counts.sold),
            sim.stats.seats_sold + sim.stats.ga_sold
        );
        assert!(sim.stats.seats_sold + sim.stats.ga_sold > 0);
        let endings: u64 = sim.stats.endings.values().sum();
        assert_eq!(endings, 400, "every buyer's visit ended once");
        let hash = snapshot::state_hash(&sim.store).unwrap();
        assert_eq!(hash, snapshot::state_hash(&run(11).store).unwrap());
        assert_ne!(hash, snapshot::state_hash(&run(12).store).unwrap());
    }
}
