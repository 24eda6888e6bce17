//! Criterion benchmarks of applying and committing commands to a 50,000-seat event in a `MemStore`.
//!
//! Three workloads, each measured per command (`Throughput::Elements(1)`, so criterion prints
//! commands/s):
//!
//! - `single_seat_hold`: a `Hold` of one specific seat, each by a different customer;
//! - `hold_then_buy`: a single-seat `Hold` followed by the `Buy` of that hold, alternating;
//! - `best_available_2`: a best-available `Hold` of 2 seats in one section (sections in turn), on an
//!   event whose 20 sections start 0%, 5%, ... 95% held, so every sample sees every fill level.
//!
//! Every command is built outside the timed region and every measured command must be accepted (the
//! bench panics otherwise). Request ids are unique, the clock advances 1 ms per command from one hour
//! after the event was created, and customers never reach the per-customer limits. When a workload
//! has used up the event, the store is replaced by a fresh copy of the workload's starting state. The
//! runs use `iter_custom`, timing only the `execute` calls, so a measurement never includes building
//! commands, rebuilding or dropping a store, nor a rejected command.

// The allocator boxofficed runs with: the state machine allocates small records at a high rate.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::time::{Duration, Instant};

use boxoffice_statemachine::{
    execute, Action, Command, CustomerId, MemStore, Outcome, RequestId, Scope, SeatId, Selection,
};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

#[allow(dead_code)] // the examples' argument parsing (`pairs_from_args`) is not used here
mod onsale;

use onsale::*;

/// Most commands built ahead of one timed run.
const CHUNK: u64 = 4_096;

/// `a`: one specific seat per command, every hold by a new customer.
fn single_seat_hold(k: u64) -> Command {
    command(k, hold(k, Selection::Seats(vec![seat(k)])))
}

/// Seat pairs in one section (50 rows of 25 pairs).
const PAIRS_PER_SECTION: u64 = (ROWS * SEATS_PER_ROW / 2) as u64;
/// Pairs held ahead of time in section `s` are `s * PREFILL_STEP`: sections start 0%, 5%, ... 95%
/// full, so the round-robin below always meets sections at every fill level, and the mean cost per
/// command is the mean over a whole section filling up, with comparable samples.
const PREFILL_STEP: u64 = PAIRS_PER_SECTION / SECTIONS as u64;
/// `best_available_2` commands per event: until the fullest section is full.
const BEST_PER_EVENT: u64 =
    SECTIONS as u64 * (PAIRS_PER_SECTION - (SECTIONS as u64 - 1) * PREFILL_STEP);
/// Customers of `best_available_2`: each takes 2 holds of 2 seats per event, within the limits of
/// 2 live holds and 8 seats.
const PAIRS_CUSTOMERS: u64 = BEST_PER_EVENT / 2;

/// The bench event with `s * PREFILL_STEP` pairs of the front rows of section `s` held (by
/// customers of their own), as best-available would have chosen them, shortly before `START_MS`.
fn staggered_event() -> MemStore {
    let mut store = fresh_event();
    let mut k = 0;
    for section in 0..SECTIONS as u64 {
        for pair in 0..section * PREFILL_STEP {
            let first = SeatId {
                section: section as u16,
                row: (pair / (u64::from(SEATS_PER_ROW) / 2)) as u16,
                index: (pair % (u64::from(SEATS_PER_ROW) / 2) * 2) as u16,
            };
            let second = SeatId {
                index: first.index + 1,
                ..first
            };
            let prefill = Command {
                request_id: RequestId::new(format!("prefill-{k}")).expect("valid request id"),
                at_ms: START_MS - 20_000 + k,
                action: Action::Hold {
                    event: event_id(),
                    customer: CustomerId::new(format!("early-{k}")).expect("valid customer id"),
                    selection: Selection::Seats(vec![first, second]),
                    ttl_ms: None,
                },
            };
            let outcome = execute(&mut store, &prefill).expect("the in-memory store never fails");
            assert!(
                outcome.rejection().is_none(),
                "prefill rejected: {outcome:?}"
            );
            k += 1;
        }
    }
    store
}

/// `c`: best-available 2 seats in section S1, S2, ... S20, S1, ...
fn best_available_2(k: u64) -> Command {
    let section = format!("S{}", k % u64::from(SECTIONS) + 1);
    let selection = Selection::BestAvailable {
        scope: Scope::Section(section),
        quantity: 2,
    };
    command(k, hold(k % PAIRS_CUSTOMERS, selection))
}

/// Runs a workload's commands in order against one event, starting over on a fresh copy of the
/// event once `per_event` commands have used it up.
struct Workload {
    template: MemStore,
    store: MemStore,
    next: u64,
    per_event: u64,
    make: fn(u64) -> Command,
}

impl Workload {
    fn new(template: MemStore, per_event: u64, make: fn(u64) -> Command) -> Workload {
        Workload {
            store: template.clone(),
            template,
            next: 0,
            per_event,
            make,
        }
    }

    /// Applies and commits the next `iters` commands; returns the time spent in `execute` alone.
    fn run(&mut self, iters: u64) -> Duration {
        let mut elapsed = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            if self.next == self.per_event {
                // Untimed: drop the used-up state and start over on a fresh event.
                self.store = self.template.clone();
                self.next = 0;
            }
            let n = left.min(self.per_event - self.next).min(CHUNK);
            let commands: Vec<Command> = (self.next..self.next + n).map(self.make).collect();
            let start = Instant::now();
            for command in &commands {
                let outcome = execute(&mut self.store, command).expect("MemStore never fails");
                if let Outcome::Rejected(rejection) = &outcome {
                    panic!("benchmark command {command:?} was rejected: {rejection:?}");
                }
                black_box(outcome);
            }
            elapsed += start.elapsed();
            self.next += n;
            left -= n;
        }
        elapsed
    }
}

/// Benchmarks `make`'s commands; the workload's state is dropped before the next benchmark starts.
fn bench(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    template: MemStore,
    per_event: u64,
    make: fn(u64) -> Command,
) {
    let mut workload = Workload::new(template, per_event, make);
    group.bench_function(name, |b| b.iter_custom(|iters| workload.run(iters)));
}

fn apply_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("apply_50k_seats");
    group.throughput(Throughput::Elements(1));
    bench(
        &mut group,
        "single_seat_hold",
        fresh_event(),
        SEATS,
        single_seat_hold,
    );
    bench(
        &mut group,
        "hold_then_buy",
        fresh_event(),
        2 * SEATS,
        hold_then_buy,
    );
    bench(
        &mut group,
        "best_available_2",
        staggered_event(),
        BEST_PER_EVENT,
        best_available_2,
    );
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(10))
}

criterion_group! {
    name = benches;
    config = config();
    targets = apply_benches
}
criterion_main!(benches);
