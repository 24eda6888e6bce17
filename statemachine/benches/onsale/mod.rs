//! The on-sale the apply benchmark and the `hold_buy_log` example share: a 50,000-seat event (20
//! sections x 50 rows x 50 seats) on sale from its creation, and the commands against it, built
//! from their position `k` alone, so that every run applies the same log.

use boxoffice_statemachine::fixtures::{self, HOUR_MS};
use boxoffice_statemachine::{
    execute, Action, Command, CustomerId, EventId, HoldId, MemStore, Outcome, RequestId, SeatId,
    Selection,
};

pub const EVENT: &str = "bench";
pub const SECTIONS: u32 = 20;
pub const ROWS: u32 = 50;
pub const SEATS_PER_ROW: u32 = 50;
pub const SEATS: u64 = (SECTIONS * ROWS * SEATS_PER_ROW) as u64;
/// Seats are visited in the order `k * SEAT_STRIDE mod SEATS`: scattered, like buyers picking from a
/// seat map, yet each seat exactly once (the stride is coprime with 50,000).
pub const SEAT_STRIDE: u64 = 7_919;
/// State time of the first measured command of a generation (the event is created at 0).
pub const START_MS: u64 = HOUR_MS;

pub fn event_id() -> EventId {
    EventId::new(EVENT).expect("valid event id")
}

/// The `k`-th seat of the scattered visiting order.
pub fn seat(k: u64) -> SeatId {
    let n = (k * SEAT_STRIDE % SEATS) as u32;
    SeatId {
        section: (n / (ROWS * SEATS_PER_ROW)) as u16,
        row: (n / SEATS_PER_ROW % ROWS) as u16,
        index: (n % SEATS_PER_ROW) as u16,
    }
}

pub fn customer(n: u64) -> CustomerId {
    CustomerId::new(format!("customer-{n}")).expect("valid customer id")
}

pub fn command(k: u64, action: Action) -> Command {
    Command {
        request_id: RequestId::new(format!("req-{k}")).expect("valid request id"),
        at_ms: START_MS + k,
        action,
    }
}

pub fn hold(customer_number: u64, selection: Selection) -> Action {
    Action::Hold {
        event: event_id(),
        customer: customer(customer_number),
        selection,
        ttl_ms: None,
    }
}

/// The command creating the bench event, on sale from time 0.
pub fn create_event() -> Command {
    Command {
        request_id: RequestId::new("create").expect("valid request id"),
        at_ms: 0,
        action: Action::CreateEvent(fixtures::stadium(
            EVENT,
            SECTIONS as usize,
            ROWS as usize,
            SEATS_PER_ROW,
            0,
        )),
    }
}

/// A store holding just the freshly created bench event, on sale.
pub fn fresh_event() -> MemStore {
    let mut store = MemStore::new();
    match execute(&mut store, &create_event()).expect("the in-memory store never fails") {
        Outcome::Accepted(_) => store,
        Outcome::Rejected(r) => panic!("creating the bench event was rejected: {r:?}"),
    }
}

/// Customers of `hold_then_buy`: each buys 50,000 / 10,000 = 5 seats per event, below the limit of 8.
pub const BUYERS: u64 = 10_000;

/// `b`: even commands hold seat `k / 2`, odd ones buy that hold (holds are numbered from 1).
pub fn hold_then_buy(k: u64) -> Command {
    let pair = k / 2;
    let buyer = pair % BUYERS;
    let action = if k % 2 == 0 {
        hold(buyer, Selection::Seats(vec![seat(pair)]))
    } else {
        Action::Buy {
            hold: HoldId {
                event: event_id(),
                number: pair + 1,
            },
            customer: customer(buyer),
            payment_reference: format!("pay-{pair}"),
        }
    };
    command(k, action)
}

/// The examples' argument: a number of hold-and-buy pairs (default 5,000, at most one per seat).
pub fn pairs_from_args() -> u64 {
    let pairs: u64 = match std::env::args().nth(1) {
        Some(text) => text.parse().expect("the argument is a number of pairs"),
        None => 5_000,
    };
    assert!(pairs <= SEATS, "at most {SEATS} pairs: one per seat");
    pairs
}
