//! Test harness shared by the integration tests: a clocked in-memory replica that checks every invariant
//! after every command, and shorthands for the common commands.
#![allow(dead_code, clippy::unwrap_used)]

use boxoffice_statemachine::{
    execute, fixtures, invariants, Action, Command, CustomerId, Effect, EventId, HoldId, HoldView,
    MemStore, OrderId, OrderView, Outcome, QueueView, Rejection, RequestId, Scope, SeatId,
    Selection,
};

/// One replica: a store, a clock (ms) and a request counter.
pub struct Sim {
    pub store: MemStore,
    pub now: u64,
    next_request: u64,
}

impl Sim {
    /// An empty replica at time 1,000 ms.
    pub fn new() -> Sim {
        Sim {
            store: MemStore::new(),
            now: 1_000,
            next_request: 0,
        }
    }

    /// A replica with the fixture club `ev` created.
    pub fn with_club(ev: &str) -> Sim {
        let mut sim = Sim::new();
        sim.accept(Action::CreateEvent(fixtures::club(ev)));
        sim
    }

    /// A replica with the fixture club `ev` created gated, going on sale at `on_sale_at_ms`.
    pub fn with_gated_club(ev: &str, on_sale_at_ms: u64) -> Sim {
        let mut sim = Sim::new();
        let mut spec = fixtures::club(ev);
        spec.gated = true;
        spec.on_sale_at_ms = on_sale_at_ms;
        sim.accept(Action::CreateEvent(spec));
        sim
    }

    /// Joins `customer` to the waiting room of `ev` with `rank`; fails the test on a rejection.
    pub fn join(&mut self, ev: &str, customer: &str, rank: u64) -> QueueView {
        match self.accept(join_action(ev, customer, rank)) {
            Effect::QueueJoined(view) => view,
            other => panic!("unexpected effect {other:?}"),
        }
    }

    pub fn advance(&mut self, ms: u64) {
        self.now += ms;
    }

    /// Applies `action` under a fresh request id, commits, and audits the whole state.
    pub fn run(&mut self, action: Action) -> Outcome {
        self.next_request += 1;
        let id = format!("req-{}", self.next_request);
        self.run_as(&id, action)
    }

    /// Applies `action` under request id `id` at the current time.
    pub fn run_as(&mut self, id: &str, action: Action) -> Outcome {
        let command = Command {
            request_id: RequestId::new(id).unwrap(),
            at_ms: self.now,
            action,
        };
        let outcome = execute(&mut self.store, &command).expect("the in-memory store never fails");
        if let Err(violation) = invariants::check(&self.store) {
            panic!("invariant violated after {command:?} -> {outcome:?}: {violation}");
        }
        outcome
    }

    /// Runs `action` and returns its effect; fails the test on a rejection.
    pub fn accept(&mut self, action: Action) -> Effect {
        match self.run(action.clone()) {
            Outcome::Accepted(effect) => effect,
            Outcome::Rejected(r) => panic!("{action:?} was rejected: {r:?}"),
        }
    }

    /// Runs `action` and returns its rejection; fails the test if it was accepted. Also checks that the
    /// rejection changed nothing but the state time and the remembered outcome.
    pub fn reject(&mut self, action: Action) -> Rejection {
        let before = domain_entries(&self.store);
        match self.run(action.clone()) {
            Outcome::Rejected(r) => {
                assert_eq!(
                    before,
                    domain_entries(&self.store),
                    "rejected {action:?} changed state"
                );
                r
            }
            Outcome::Accepted(e) => panic!("{action:?} was accepted: {e:?}"),
        }
    }

    pub fn hold(&mut self, ev: &str, customer: &str, selection: Selection) -> HoldView {
        match self.accept(hold_action(ev, customer, selection)) {
            Effect::Held(view) => view,
            other => panic!("unexpected effect {other:?}"),
        }
    }

    pub fn hold_seats(&mut self, ev: &str, customer: &str, seats: &[SeatId]) -> HoldView {
        self.hold(ev, customer, Selection::Seats(seats.to_vec()))
    }

    pub fn buy(&mut self, hold: &HoldId, customer: &str) -> OrderView {
        match self.accept(buy_action(hold, customer)) {
            Effect::Bought(order) => order,
            other => panic!("unexpected effect {other:?}"),
        }
    }
}

/// Every stored entry except the state time and the remembered request outcomes (tags 01-03).
pub fn domain_entries(store: &MemStore) -> boxoffice_statemachine::Entries {
    use boxoffice_statemachine::Store;
    store.scan(&[0x10], &[0xff], usize::MAX).unwrap()
}

pub fn ev(id: &str) -> EventId {
    EventId::new(id).unwrap()
}

pub fn customer(id: &str) -> CustomerId {
    CustomerId::new(id).unwrap()
}

pub fn seat(section: u16, row: u16, index: u16) -> SeatId {
    SeatId {
        section,
        row,
        index,
    }
}

pub fn hold_action(ev_id: &str, who: &str, selection: Selection) -> Action {
    Action::Hold {
        event: ev(ev_id),
        customer: customer(who),
        selection,
        ttl_ms: None,
    }
}

pub fn ga(area: &str, quantity: u32) -> Selection {
    Selection::GeneralAdmission {
        area: area.into(),
        quantity,
    }
}

pub fn best_in_section(section: &str, quantity: u32) -> Selection {
    Selection::BestAvailable {
        scope: Scope::Section(section.into()),
        quantity,
    }
}

pub fn buy_action(hold: &HoldId, who: &str) -> Action {
    Action::Buy {
        hold: hold.clone(),
        customer: customer(who),
        payment_reference: "pay-1".into(),
    }
}

pub fn release_action(hold: &HoldId, who: &str) -> Action {
    Action::Release {
        hold: hold.clone(),
        customer: customer(who),
    }
}

pub fn cancel_action(order: &OrderId) -> Action {
    Action::CancelOrder {
        order: order.clone(),
        reason: "refund".into(),
    }
}

pub fn join_action(ev_id: &str, who: &str, rank: u64) -> Action {
    Action::JoinQueue {
        event: ev(ev_id),
        customer: customer(who),
        rank,
    }
}

pub fn sequence_action(ev_id: &str, customers_max: u32) -> Action {
    Action::SequenceQueue {
        event: ev(ev_id),
        customers_max,
    }
}

pub fn admit_action(ev_id: &str, customers_max: u32) -> Action {
    Action::Admit {
        event: ev(ev_id),
        customers_max,
    }
}
