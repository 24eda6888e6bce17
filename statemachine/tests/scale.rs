//! Venue size must not leak into the cost of single-seat operations: a 100,000-seat stadium and a
//! 200-seat one with the same row length read and write the same records for a hold and a buy.
//! Nor may queue length leak into the waiting room's: a join, an admission of 10,000 customers and
//! an admitted hold cost the same at any length, and a queued customer takes well under 100 bytes
//! of keys and values, so ten million of them live on disk, never in memory.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::cell::Cell;

use boxoffice_statemachine::{
    apply, execute, fixtures, invariants, Action, Command, CustomerId, Effect, Entries, EventId,
    HoldId, KvStore, MemStore, Outcome, RequestId, SeatId, Selection, Store, StoreError,
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

// ---- the waiting room ------------------------------------------------------------------------

/// A wall clock of today, in milliseconds since the epoch: the times the node stamps.
const T0_MS: u64 = 1_760_000_000_000;
const ON_SALE_MS: u64 = T0_MS + fixtures::HOUR_MS;

/// A customer id as an identity provider issues them: a 36-character UUID.
fn uuid(k: u64) -> CustomerId {
    let h = k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let id = format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        k & 0xfff,
        k
    );
    CustomerId::new(id).unwrap()
}

/// A gated stadium (event id of a realistic length) going on sale an hour after `T0_MS`.
struct Queue {
    store: MemStore,
    event: EventId,
    requests: u64,
}

impl Queue {
    fn new() -> Queue {
        let mut spec = fixtures::stadium("stadium-tour-2026-berlin", 2, 10, 20, 1_000);
        spec.gated = true;
        spec.on_sale_at_ms = ON_SALE_MS;
        spec.off_sale_at_ms = T0_MS + 24 * fixtures::HOUR_MS;
        let mut queue = Queue {
            event: spec.id.clone(),
            store: MemStore::new(),
            requests: 0,
        };
        queue.run(T0_MS, Action::CreateEvent(spec));
        queue
    }

    fn command(&mut self, at_ms: u64, action: Action) -> Command {
        self.requests += 1;
        Command {
            request_id: RequestId::new(format!("req-{:020}", self.requests)).unwrap(),
            at_ms,
            action,
        }
    }

    fn run(&mut self, at_ms: u64, action: Action) -> Outcome {
        let command = self.command(at_ms, action);
        let outcome = execute(&mut self.store, &command).unwrap();
        assert!(outcome.rejection().is_none(), "{outcome:?}");
        outcome
    }

    fn cost(&mut self, at_ms: u64, action: Action) -> Cost {
        let command = self.command(at_ms, action);
        cost_of(&mut self.store, &command)
    }

    fn join(&self, k: u64) -> Action {
        Action::JoinQueue {
            event: self.event.clone(),
            customer: uuid(k),
            rank: k.wrapping_mul(0xd134_2543_de82_ef95),
        }
    }

    /// Joins customers `from..to`, a millisecond apart from `at_ms`.
    fn join_range(&mut self, from: u64, to: u64, at_ms: u64) {
        for k in from..to {
            let join = self.join(k);
            self.run(at_ms + k, join);
        }
    }

    fn sequence_all(&mut self, at_ms: u64) {
        loop {
            let sequence = Action::SequenceQueue {
                event: self.event.clone(),
                customers_max: boxoffice_statemachine::limits::SEQUENCE_BATCH_MAX,
            };
            if let Outcome::Accepted(Effect::QueueSequenced { more: false, .. }) =
                self.run(at_ms, sequence)
            {
                return;
            }
        }
    }

    fn admit(&self, customers_max: u32) -> Action {
        Action::Admit {
            event: self.event.clone(),
            customers_max,
        }
    }

    /// Keys and values of the waiting room's records (tags 1c to 1f, see `records.rs`).
    fn queue_bytes(&self) -> usize {
        self.store
            .scan(&[0x1c], &[0x20], usize::MAX)
            .unwrap()
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum()
    }
}

#[test]
fn joining_admitting_and_holding_cost_the_same_at_any_queue_length() {
    let costs = |queued: u64| {
        let mut queue = Queue::new();
        queue.join_range(0, queued, T0_MS);
        let presale_join = queue.join(queued);
        let presale_join = queue.cost(T0_MS + queued, presale_join);
        queue.sequence_all(ON_SALE_MS);
        let later_join = queue.join(queued + 1);
        let later_join = queue.cost(ON_SALE_MS, later_join);
        let admit = queue.admit(10_000);
        let admit = queue.cost(ON_SALE_MS, admit);
        let hold = Action::Hold {
            event: queue.event.clone(),
            customer: uuid(queued / 2),
            selection: Selection::GeneralAdmission {
                area: "Field".into(),
                quantity: 1,
            },
            ttl_ms: None,
        };
        let hold = queue.cost(ON_SALE_MS + 1, hold);
        invariants::check(&queue.store).unwrap();
        (presale_join, later_join, admit, hold)
    };
    let (small_presale, small_later, small_admit, small_hold) = costs(200);
    let (large_presale, large_later, large_admit, large_hold) = costs(12_000);
    for (what, small, large) in [
        ("pre-sale join", &small_presale, &large_presale),
        ("later join", &small_later, &large_later),
        ("admission", &small_admit, &large_admit),
        ("admitted hold", &small_hold, &large_hold),
    ] {
        eprintln!("{what}: {large:?}");
        assert_eq!(
            (small.gets, small.scans, small.keys_written),
            (large.gets, large.scans, large.keys_written),
            "{what}: {small:?} at 200 queued, {large:?} at 12,000"
        );
    }
    // One batch record, the queue record, the state time, the outcome and its retention index, and
    // the outcomes of old requests the command forgets on the way (two keys each).
    let forgotten = 2 * boxoffice_statemachine::limits::REQUEST_PRUNE_PER_COMMAND_MAX;
    assert!(
        large_admit.keys_written <= 5 + forgotten,
        "admitting 10,000 customers wrote {large_admit:?}"
    );
}

#[test]
fn a_queued_customer_takes_under_100_bytes_of_keys_and_values() {
    const CUSTOMERS: u64 = 10_000;
    let mut queue = Queue::new();
    queue.join_range(0, CUSTOMERS, T0_MS);
    let presale = queue.queue_bytes();
    queue.sequence_all(ON_SALE_MS);
    let sequenced = queue.queue_bytes();
    queue.join_range(CUSTOMERS, 2 * CUSTOMERS, ON_SALE_MS);
    let with_later = queue.queue_bytes();
    let admit = queue.admit(boxoffice_statemachine::limits::ADMIT_BATCH_MAX);
    queue.run(ON_SALE_MS + 2 * CUSTOMERS, admit);
    let admitted = queue.queue_bytes();
    invariants::check(&queue.store).unwrap();

    let per = |bytes: usize, customers: u64| bytes as f64 / customers as f64;
    let presale_each = per(presale, CUSTOMERS);
    let sequenced_each = per(sequenced, CUSTOMERS);
    let later_each = per(with_later - sequenced, CUSTOMERS);
    let admitted_each = per(admitted, 2 * CUSTOMERS);
    eprintln!(
        "bytes per queued customer (36-byte customer ids, 24-byte event id): pre-sale arrival \
         {presale_each:.1} before sequencing (record + rank index entry), {sequenced_each:.1} after; \
         later arrival {later_each:.1}; whole queue after admission {admitted_each:.1}; \
         10 million queued: about {:.0} MB before compression",
        admitted_each * 10e6 / 1e6
    );
    assert!(sequenced_each < 100.0 && later_each < 100.0 && admitted_each < 100.0);
    assert!(presale_each < 170.0, "{presale_each}");
}
