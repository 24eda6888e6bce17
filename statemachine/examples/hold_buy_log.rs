//! A fixed log of single-seat holds, each followed by its buy, applied to a `MemStore`: the same
//! commands on every run, for counting the instructions a change to the state machine costs
//! (`valgrind --tool=callgrind`), which this machine's timers cannot resolve.
//!
//! ```sh
//! cargo build --release --example hold_buy_log -p boxoffice-statemachine
//! valgrind --tool=callgrind target/release/examples/hold_buy_log 5000
//! ```
//!
//! The argument is the number of hold-and-buy pairs (default 5,000); the commands are built before
//! the first is applied. Seats are visited in a scattered order, each once; 10,000 customers each
//! buy at most 5 seats, under the per-customer limit. Every command must be accepted.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use boxoffice_statemachine::{
    execute, fixtures, Action, Command, CustomerId, EventId, HoldId, MemStore, Outcome, RequestId,
    SeatId, Selection,
};

const SECTIONS: u32 = 20;
const ROWS: u32 = 50;
const SEATS_PER_ROW: u32 = 50;
const SEATS: u64 = (SECTIONS * ROWS * SEATS_PER_ROW) as u64;
/// Coprime with the seat count: `k * SEAT_STRIDE mod SEATS` visits every seat once.
const SEAT_STRIDE: u64 = 7_919;
const CUSTOMERS: u64 = 10_000;
/// One hour after the event's creation, when it is on sale.
const START_MS: u64 = 3_600_000;

fn command(request_id: String, at_ms: u64, action: Action) -> Command {
    Command {
        request_id: RequestId::new(request_id).expect("valid request id"),
        at_ms,
        action,
    }
}

/// The `k`-th command: even ones hold seat `k / 2`, odd ones buy that hold.
fn kth(event: &EventId, k: u64) -> Command {
    let pair = k / 2;
    let n = (pair * SEAT_STRIDE % SEATS) as u32;
    let seat = SeatId {
        section: (n / (ROWS * SEATS_PER_ROW)) as u16,
        row: (n / SEATS_PER_ROW % ROWS) as u16,
        index: (n % SEATS_PER_ROW) as u16,
    };
    let customer =
        CustomerId::new(format!("customer-{}", pair % CUSTOMERS)).expect("valid customer id");
    let action = if k % 2 == 0 {
        Action::Hold {
            event: event.clone(),
            customer,
            selection: Selection::Seats(vec![seat]),
            ttl_ms: None,
        }
    } else {
        Action::Buy {
            hold: HoldId {
                event: event.clone(),
                number: pair + 1,
            },
            customer,
            payment_reference: format!("pay-{pair}"),
        }
    };
    command(format!("req-{k}"), START_MS + k, action)
}

fn main() {
    let pairs: u64 = match std::env::args().nth(1) {
        Some(text) => text.parse().expect("the argument is a number of pairs"),
        None => 5_000,
    };
    assert!(pairs <= SEATS, "at most {SEATS} pairs: one per seat");
    let event = EventId::new("log").expect("valid event id");
    let stadium = fixtures::stadium(
        event.as_str(),
        SECTIONS as usize,
        ROWS as usize,
        SEATS_PER_ROW,
        0,
    );
    let mut store = MemStore::new();
    let create = command("create".into(), 0, Action::CreateEvent(stadium));
    execute(&mut store, &create).expect("the in-memory store never fails");
    let log: Vec<Command> = (0..2 * pairs).map(|k| kth(&event, k)).collect();
    let started = std::time::Instant::now();
    for command in &log {
        match execute(&mut store, command).expect("the in-memory store never fails") {
            Outcome::Accepted(_) => {}
            Outcome::Rejected(why) => panic!("{} was rejected: {why:?}", command.request_id),
        }
    }
    println!(
        "{} commands applied in {:.3} s",
        log.len(),
        started.elapsed().as_secs_f64()
    );
}
