//! Venue size must not leak into the cost of single-seat operations: a 100,000-seat stadium and a
//! 200-seat one with the same row length read and write the same records for a hold and a buy.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::cell::Cell;

use boxoffice_statemachine::{
    apply, execute, fixtures, Action, Command, CustomerId, Effect, Entries, EventId, HoldId,
    KvStore, MemStore, Outcome, RequestId, SeatId, Selection, Store, StoreError,
};

/// A store that counts the reads made through it.
struct Counting<'a> {
    inner: &'a MemStore,
    gets: Cell<usize>,
    scans: Cell<usize>,
}

impl Store for Counting<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.gets.set(self.gets.get() + 1);
        self.inner.get(key)
    }
    fn scan(&self, from: &[u8], to: &[u8], limit: usize) -> Result<Entries, StoreError> {
        self.scans.set(self.scans.get() + 1);
        self.inner.scan(from, to, limit)
    }
}

/// Reads, keys written and bytes written by one command.
#[derive(Debug, PartialEq, Eq)]
struct Cost {
    gets: usize,
    scans: usize,
    keys_written: usize,
    bytes_written: usize,
}

fn cost_of(store: &mut MemStore, command: &Command) -> Cost {
    let counting = Counting {
        inner: store,
        gets: Cell::new(0),
        scans: Cell::new(0),
    };
    let applied = apply(&counting, command).unwrap();
    assert!(
        applied.outcome.rejection().is_none(),
        "{:?}",
        applied.outcome
    );
    let cost = Cost {
        gets: counting.gets.get(),
        scans: counting.scans.get(),
        keys_written: applied.writes.len(),
        bytes_written: applied
            .writes
            .iter()
            .map(|(k, v)| k.len() + v.map_or(0, <[u8]>::len))
            .sum(),
    };
    store.commit(applied.writes).unwrap();
    cost
}

fn command(id: &str, action: Action) -> Command {
    Command {
        request_id: RequestId::new(id).unwrap(),
        at_ms: 5_000,
        action,
    }
}

/// Creates a stadium of `sections` sections of 50 rows x 50 seats and returns the cost of a hold of
/// one seat in its last section, and of buying that hold.
fn hold_and_buy_cost(sections: usize) -> (Cost, Cost) {
    let mut store = MemStore::new();
    let spec = fixtures::stadium("venue", sections, 50, 50, 0);
    execute(&mut store, &command("create", Action::CreateEvent(spec))).unwrap();
    let event = EventId::new("venue").unwrap();
    let customer = CustomerId::new("ann").unwrap();
    let seat = SeatId {
        section: sections as u16 - 1,
        row: 49,
        index: 49,
    };
    let hold = Action::Hold {
        event: event.clone(),
        customer: customer.clone(),
        selection: Selection::Seats(vec![seat]),
        ttl_ms: None,
    };
    let hold_cost = cost_of(&mut store, &command("hold", hold));
    let buy = Action::Buy {
        hold: HoldId { event, number: 1 },
        customer,
        payment_reference: "p".into(),
    };
    let buy_cost = cost_of(&mut store, &command("buy", buy));
    (hold_cost, buy_cost)
}

#[test]
fn single_seat_hold_and_buy_cost_does_not_grow_with_the_venue() {
    let (small_hold, small_buy) = hold_and_buy_cost(2); // 5,000 seats
    let (large_hold, large_buy) = hold_and_buy_cost(40); // 100,000 seats
    assert_eq!(small_hold.gets, large_hold.gets);
    assert_eq!(small_hold.scans, large_hold.scans);
    assert_eq!(small_hold.keys_written, large_hold.keys_written);
    assert_eq!(small_buy.gets, large_buy.gets);
    assert_eq!(small_buy.keys_written, large_buy.keys_written);
    // Bytes differ only by the varint width of larger counters.
    assert!(
        large_hold.bytes_written.abs_diff(small_hold.bytes_written) <= 16,
        "{small_hold:?} vs {large_hold:?}"
    );
    assert!(
        large_buy.bytes_written.abs_diff(small_buy.bytes_written) <= 16,
        "{small_buy:?} vs {large_buy:?}"
    );
}

#[test]
fn a_200_000_seat_venue_is_representable() {
    let mut store = MemStore::new();
    let spec = fixtures::stadium("huge", 80, 50, 50, 0);
    let outcome = execute(&mut store, &command("create", Action::CreateEvent(spec))).unwrap();
    assert!(
        matches!(
            outcome,
            Outcome::Accepted(Effect::EventCreated { seats: 200_000, .. })
        ),
        "{outcome:?}"
    );
    let too_big = fixtures::stadium("too-big", 81, 50, 50, 0);
    let refused = execute(
        &mut store,
        &command("create-2", Action::CreateEvent(too_big)),
    )
    .unwrap();
    assert_eq!(
        refused.rejection().map(|r| r.code()),
        Some("INVALID_REQUEST")
    );
}
