//! One specification per command and per rejection, on the fixture club (see `fixtures::club`).
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use boxoffice_statemachine::KvStore;
use boxoffice_statemachine::{
    codec, fixtures, query, stamp_time, Action, Command, Counts, Effect, EventStatus, HoldId,
    HoldItems, HoldStatus, Limit, OrderStatus, Outcome, Rejection, RequestId, RowSeats, Scope,
    Selection, StatusChange,
};
use support::*;

const EV: &str = "club";

/// Floor section: seat(0, row, index); Balcony: seat(1, row, index).
fn floor(row: u16, index: u16) -> boxoffice_statemachine::SeatId {
    seat(0, row, index)
}

fn counts(sim: &Sim) -> Counts {
    query::event(&sim.store, &ev(EV), sim.now)
        .unwrap()
        .unwrap()
        .counts
}

fn status(sim: &Sim) -> EventStatus {
    query::event(&sim.store, &ev(EV), sim.now)
        .unwrap()
        .unwrap()
        .status
}

fn set_status(change: StatusChange) -> Action {
    Action::SetEventStatus {
        event: ev(EV),
        change,
    }
}

fn code(r: Rejection) -> &'static str {
    r.code()
}

// ---- events ----------------------------------------------------------------------------------

#[test]
fn create_event_puts_every_seat_and_place_on_sale() {
    let mut sim = Sim::new();
    let effect = sim.accept(Action::CreateEvent(fixtures::club(EV)));
    assert_eq!(
        effect,
        Effect::EventCreated {
            event: ev(EV),
            seats: 20,
            ga_places: 10
        }
    );
    let view = query::event(&sim.store, &ev(EV), sim.now).unwrap().unwrap();
    assert_eq!(view.status, EventStatus::OnSale);
    assert_eq!(view.capacity, 30);
    assert_eq!(
        view.counts,
        Counts {
            available: 30,
            ..Counts::default()
        }
    );
    assert_eq!(view.min_price_cents(), Some(5_000));
    let map = query::seat_map(&sim.store, &ev(EV), None, sim.now)
        .unwrap()
        .unwrap();
    assert_eq!(map.sections.len(), 2);
    assert!(map.sections[1].rows[0].seats[0].accessible);
    assert_eq!(
        map.sections[1].rows[1].seats[0].tier, "Floor",
        "row B of the balcony is priced Floor"
    );
    assert_eq!(map.ga_areas[0].capacity, 10);
    let only_floor = query::seat_map(&sim.store, &ev(EV), Some("Floor"), sim.now)
        .unwrap()
        .unwrap();
    assert_eq!(only_floor.sections.len(), 1);
    assert!(only_floor.ga_areas.is_empty());
}

#[test]
fn creating_an_event_twice_is_refused() {
    let mut sim = Sim::with_club(EV);
    assert_eq!(
        code(sim.reject(Action::CreateEvent(fixtures::club(EV)))),
        "EVENT_EXISTS"
    );
}

#[test]
fn invalid_layouts_are_refused_and_create_nothing() {
    type Breakage = fn(&mut boxoffice_statemachine::EventSpec);
    let broken: Vec<(&str, Breakage)> = vec![
        ("empty name", |s| s.name = " ".into()),
        ("unknown tier", |s| s.sections[0].tier = "Gold".into()),
        ("duplicate section", |s| s.sections[1].name = "Floor".into()),
        ("empty row", |s| {
            s.sections[0].rows[0].seats = RowSeats::Count(0)
        }),
        ("huge row", |s| {
            s.sections[0].rows[0].seats = RowSeats::Count(u32::MAX)
        }),
        ("repeated seat number", |s| {
            s.sections[0].rows[0].seats = RowSeats::Numbers(vec![1, 1])
        }),
        ("accessible seat missing", |s| {
            s.sections[0].rows[0].accessible = vec![99]
        }),
        ("sale window backwards", |s| {
            s.off_sale_at_ms = s.on_sale_at_ms
        }),
        ("zero seats per hold", |s| s.limits.seats_per_hold_max = 0),
        ("ttl above lifetime", |s| {
            s.limits.hold_ttl_ms = s.limits.hold_lifetime_ms_max + 1
        }),
        ("nothing to sell", |s| {
            s.sections.clear();
            s.ga_areas.clear();
        }),
    ];
    for (what, breaks) in broken {
        let mut sim = Sim::new();
        let mut spec = fixtures::club(EV);
        breaks(&mut spec);
        let rejection = sim.reject(Action::CreateEvent(spec));
        assert_eq!(rejection.code(), "INVALID_REQUEST", "{what}: {rejection}");
        assert!(
            query::event(&sim.store, &ev(EV), sim.now)
                .unwrap()
                .is_none(),
            "{what}"
        );
    }
}

#[test]
fn an_event_goes_on_sale_at_its_on_sale_time_and_ends_at_its_off_sale_time() {
    let mut sim = Sim::new();
    let mut spec = fixtures::club(EV);
    spec.on_sale_at_ms = 10_000;
    spec.off_sale_at_ms = 20_000;
    sim.accept(Action::CreateEvent(spec));
    assert_eq!(status(&sim), EventStatus::Scheduled);
    let early = sim.reject(hold_action(EV, "ann", Selection::Seats(vec![floor(0, 0)])));
    assert_eq!(
        early,
        Rejection::EventNotOnSale {
            status: EventStatus::Scheduled
        }
    );
    sim.now = 10_000;
    sim.hold_seats(EV, "ann", &[floor(0, 0)]);
    sim.now = 20_000;
    assert_eq!(status(&sim), EventStatus::Ended);
    assert_eq!(
        code(sim.reject(set_status(StatusChange::Open))),
        "INVALID_TRANSITION"
    );
}

#[test]
fn admins_open_early_pause_resume_and_cancel_a_sale() {
    let mut sim = Sim::new();
    let mut spec = fixtures::club(EV);
    spec.on_sale_at_ms = 1_000_000;
    sim.accept(Action::CreateEvent(spec));
    let opened = sim.accept(set_status(StatusChange::Open));
    assert_eq!(
        opened,
        Effect::EventStatusChanged {
            event: ev(EV),
            status: EventStatus::OnSale
        }
    );
    assert_eq!(
        code(sim.reject(set_status(StatusChange::Open))),
        "INVALID_TRANSITION"
    );

    sim.accept(set_status(StatusChange::Pause));
    let paused = sim.reject(hold_action(EV, "ann", ga("Pit", 1)));
    assert_eq!(
        paused,
        Rejection::EventNotOnSale {
            status: EventStatus::Paused
        }
    );
    sim.accept(set_status(StatusChange::Open));
    sim.hold(EV, "ann", ga("Pit", 1));

    sim.accept(set_status(StatusChange::Cancel));
    assert_eq!(status(&sim), EventStatus::Cancelled);
    for change in [
        StatusChange::Open,
        StatusChange::Pause,
        StatusChange::Cancel,
        StatusChange::End,
    ] {
        let refused = sim.reject(set_status(change));
        assert_eq!(
            refused,
            Rejection::InvalidTransition {
                from: EventStatus::Cancelled,
                change
            }
        );
    }
}

#[test]
fn an_event_with_everything_sold_or_blocked_is_sold_out() {
    let mut sim = Sim::new();
    let mut spec = fixtures::club(EV);
    spec.sections.truncate(1);
    spec.sections[0].rows.truncate(1);
    spec.sections[0].rows[0].seats = RowSeats::Count(2);
    spec.ga_areas.clear();
    sim.accept(Action::CreateEvent(spec));
    let hold = sim.hold_seats(EV, "ann", &[floor(0, 0)]);
    sim.buy(&hold.id, "ann");
    assert_eq!(status(&sim), EventStatus::OnSale);
    sim.accept(Action::BlockSeats {
        event: ev(EV),
        seats: vec![floor(0, 1)],
    });
    assert_eq!(status(&sim), EventStatus::SoldOut);
    let refused = sim.reject(hold_action(EV, "bob", best_in_section("Floor", 1)));
    assert_eq!(
        refused,
        Rejection::EventNotOnSale {
            status: EventStatus::SoldOut
        }
    );
    sim.accept(Action::UnblockSeats {
        event: ev(EV),
        seats: vec![floor(0, 1)],
    });
    assert_eq!(status(&sim), EventStatus::OnSale);
}

#[test]
fn commands_on_an_unknown_event_are_refused() {
    let mut sim = Sim::with_club(EV);
    let hold = HoldId {
        event: ev("nope"),
        number: 1,
    };
    for action in [
        hold_action("nope", "ann", ga("Pit", 1)),
        buy_action(&hold, "ann"),
        release_action(&hold, "ann"),
        Action::SetEventStatus {
            event: ev("nope"),
            change: StatusChange::Pause,
        },
        Action::BlockSeats {
            event: ev("nope"),
            seats: vec![floor(0, 0)],
        },
    ] {
        assert_eq!(sim.reject(action), Rejection::UnknownEvent);
    }
}

// ---- holds -----------------------------------------------------------------------------------

#[test]
fn a_hold_on_specific_seats_takes_them_all_and_prices_them() {
    let mut sim = Sim::with_club(EV);
    let hold = sim.hold_seats(EV, "ann", &[floor(0, 0), seat(1, 0, 0)]);
    assert_eq!(
        hold.id,
        HoldId {
            event: ev(EV),
            number: 1
        }
    );
    assert_eq!(hold.amount_cents, 12_000 + 8_000);
    assert_eq!(hold.expires_at_ms, sim.now + 60_000);
    assert_eq!(hold.status, HoldStatus::Active);
    assert_eq!(
        counts(&sim),
        Counts {
            available: 28,
            held: 2,
            ..Counts::default()
        }
    );
}

#[test]
fn a_hold_is_all_or_nothing() {
    let mut sim = Sim::with_club(EV);
    sim.hold_seats(EV, "ann", &[floor(0, 1)]);
    let refused = sim.reject(hold_action(
        EV,
        "bob",
        Selection::Seats(vec![floor(0, 0), floor(0, 1)]),
    ));
    assert_eq!(
        refused,
        Rejection::SeatUnavailable {
            seats: vec![floor(0, 1)]
        }
    );
    assert_eq!(counts(&sim).held, 1, "seat A-1 was not taken");
}

#[test]
fn malformed_seat_lists_are_refused() {
    let mut sim = Sim::with_club(EV);
    let empty = sim.reject(hold_action(EV, "ann", Selection::Seats(vec![])));
    assert_eq!(empty.code(), "INVALID_REQUEST");
    let twice = sim.reject(hold_action(
        EV,
        "ann",
        Selection::Seats(vec![floor(0, 0), floor(0, 0)]),
    ));
    assert_eq!(twice.code(), "INVALID_REQUEST");
    let unknown = sim.reject(hold_action(
        EV,
        "ann",
        Selection::Seats(vec![floor(0, 0), floor(0, 6), seat(7, 0, 0)]),
    ));
    assert_eq!(
        unknown,
        Rejection::UnknownSeat {
            seats: vec![floor(0, 6), seat(7, 0, 0)]
        }
    );
    let zero = sim.reject(hold_action(EV, "ann", ga("Pit", 0)));
    assert_eq!(zero.code(), "INVALID_REQUEST");
    let no_area = sim.reject(hold_action(EV, "ann", ga("Lawn", 1)));
    assert_eq!(no_area.code(), "INVALID_REQUEST");
    let nobody = Action::Hold {
        event: ev(EV),
        customer: unchecked(""),
        selection: ga("Pit", 1),
        ttl_ms: None,
    };
    let bad_customer = sim.reject(nobody);
    assert_eq!(bad_customer.code(), "INVALID_REQUEST");
}

#[test]
fn a_hold_may_not_exceed_the_seats_per_hold_limit() {
    let mut sim = Sim::with_club(EV);
    let refused = sim.reject(hold_action(EV, "ann", ga("Pit", 5)));
    assert_eq!(
        refused,
        Rejection::LimitExceeded {
            limit: Limit::SeatsPerHold,
            max: 4,
            requested: 5
        }
    );
}

#[test]
fn a_customer_may_not_exceed_live_holds_or_seats_per_customer() {
    let mut sim = Sim::with_club(EV);
    sim.hold(EV, "ann", ga("Pit", 4));
    sim.hold(EV, "ann", ga("Pit", 1));
    let third = sim.reject(hold_action(EV, "ann", ga("Pit", 1)));
    assert_eq!(
        third,
        Rejection::LimitExceeded {
            limit: Limit::HoldsPerCustomer,
            max: 2,
            requested: 3
        }
    );

    let mut sim = Sim::with_club(EV);
    let first = sim.hold(EV, "ann", ga("Pit", 4));
    sim.buy(&first.id, "ann");
    let more = sim.reject(hold_action(EV, "ann", ga("Pit", 3)));
    assert_eq!(
        more,
        Rejection::LimitExceeded {
            limit: Limit::SeatsPerCustomer,
            max: 6,
            requested: 7
        }
    );
    sim.hold(EV, "ann", ga("Pit", 2));
}

#[test]
fn an_expired_hold_frees_its_seats_for_everyone_before_any_sweep() {
    let mut sim = Sim::with_club(EV);
    let ann = sim.hold_seats(EV, "ann", &[floor(0, 0), floor(0, 1)]);
    sim.advance(60_000);
    let map = query::seat_map(&sim.store, &ev(EV), Some("Floor"), sim.now)
        .unwrap()
        .unwrap();
    assert_eq!(
        map.sections[0].rows[0].seats[0].status,
        query::SeatStatus::Available
    );
    let bob = sim.hold_seats(EV, "bob", &[floor(0, 1)]);
    assert_eq!(bob.id.number, 2);
    let ann_now = query::hold(&sim.store, &ann.id, sim.now).unwrap().unwrap();
    assert_eq!(ann_now.status, HoldStatus::Expired);
    assert_eq!(
        counts(&sim).held,
        1,
        "ann's whole hold went back, bob holds one seat"
    );
}

#[test]
fn a_time_stamp_moves_state_time_forward_only_and_changes_nothing_else() {
    let mut sim = Sim::with_club(EV);
    let ann = sim.hold_seats(EV, "ann", &[floor(0, 0)]);
    let before = domain_entries(&sim.store);
    let held_at = query::state_time(&sim.store).unwrap();

    // A stamp from behind (a slower leader's clock) writes nothing.
    let behind = stamp_time(&sim.store, held_at - 1).unwrap();
    assert!(behind.is_empty(), "{behind:?}");

    // A stamp past the hold's expiry: read at state time alone, the hold is over.
    let at_ms = ann.expires_at_ms + 1;
    let writes = stamp_time(&sim.store, at_ms).unwrap();
    sim.store.commit(writes).unwrap();
    assert_eq!(query::state_time(&sim.store).unwrap(), at_ms);
    let ann_now = query::hold(&sim.store, &ann.id, 0).unwrap().unwrap();
    assert_eq!(ann_now.status, HoldStatus::Expired);
    assert_eq!(domain_entries(&sim.store), before, "only state time moved");

    // ... and a command stamped by a slower clock later cannot buy it back to life.
    sim.now = held_at;
    assert_eq!(
        sim.reject(buy_action(&ann.id, "ann")),
        Rejection::HoldExpired
    );
}

#[test]
fn a_customers_own_expired_holds_do_not_count_against_their_limits() {
    let mut sim = Sim::with_club(EV);
    sim.hold(EV, "ann", ga("Pit", 4));
    sim.hold(EV, "ann", ga("Pit", 2));
    sim.advance(61_000);
    sim.hold(EV, "ann", ga("Pit", 4));
}

#[test]
fn general_admission_reclaims_places_of_expired_holds() {
    let mut sim = Sim::with_club(EV);
    sim.hold(EV, "ann", ga("Pit", 4));
    sim.hold(EV, "bob", ga("Pit", 4));
    let short = sim.reject(hold_action(EV, "cat", ga("Pit", 3)));
    assert_eq!(
        short,
        Rejection::InsufficientInventory {
            requested: 3,
            available: 2
        }
    );
    sim.advance(60_000);
    let cat = sim.hold(EV, "cat", ga("Pit", 3));
    assert_eq!(
        cat.items,
        HoldItems::Places {
            area: 0,
            quantity: 3
        }
    );
    assert_eq!(cat.amount_cents, 15_000);
}

#[test]
fn best_available_seats_a_party_together_in_the_front_most_row() {
    let mut sim = Sim::with_club(EV);
    let hold = sim.hold(EV, "ann", best_in_section("Floor", 3));
    assert_eq!(
        hold.items,
        HoldItems::Seats(vec![floor(0, 0), floor(0, 1), floor(0, 2)])
    );
    // Row A now has 3 seats left: a party of 2 would strand one, so it goes to row B.
    let pair = sim.hold(EV, "bob", best_in_section("Floor", 2));
    assert_eq!(pair.items, HoldItems::Seats(vec![floor(1, 0), floor(1, 1)]));
    let three = sim.hold(EV, "cat", best_in_section("Floor", 3));
    assert_eq!(
        three.items,
        HoldItems::Seats(vec![floor(0, 3), floor(0, 4), floor(0, 5)])
    );
}

#[test]
fn best_available_by_tier_includes_rows_priced_at_that_tier() {
    let mut sim = Sim::with_club(EV);
    sim.hold(EV, "ann", best_in_section("Floor", 4));
    sim.hold(EV, "bob", best_in_section("Floor", 4));
    sim.hold(EV, "cat", best_in_section("Floor", 4));
    let tier = Selection::BestAvailable {
        scope: Scope::Tier("Floor".into()),
        quantity: 4,
    };
    let hold = sim.hold(EV, "dan", tier);
    assert_eq!(
        hold.items,
        HoldItems::Seats((0..4).map(|i| seat(1, 1, i)).collect())
    );
    assert_eq!(hold.amount_cents, 4 * 12_000);
    let none = sim.reject(hold_action(
        EV,
        "eve",
        Selection::BestAvailable {
            scope: Scope::Tier("Floor".into()),
            quantity: 1,
        },
    ));
    assert_eq!(
        none,
        Rejection::InsufficientInventory {
            requested: 1,
            available: 0
        }
    );
    let unknown = sim.reject(hold_action(
        EV,
        "eve",
        Selection::BestAvailable {
            scope: Scope::Tier("Gold".into()),
            quantity: 1,
        },
    ));
    assert_eq!(unknown.code(), "INVALID_REQUEST");
}

#[test]
fn best_available_splits_a_party_only_when_no_row_can_seat_it() {
    let mut sim = Sim::with_club(EV);
    // Leave two seats in each Floor row: A-5, A-6 and B-5, B-6.
    sim.hold(EV, "ann", best_in_section("Floor", 4));
    sim.hold(EV, "bob", best_in_section("Floor", 4));
    let split = sim.hold(EV, "cat", best_in_section("Floor", 3));
    assert_eq!(
        split.items,
        HoldItems::Seats(vec![floor(0, 4), floor(0, 5), floor(1, 4)])
    );
}

#[test]
fn hold_ttl_must_stay_within_bounds() {
    let mut sim = Sim::with_club(EV);
    let with_ttl = |ttl| Action::Hold {
        event: ev(EV),
        customer: customer("ann"),
        selection: ga("Pit", 1),
        ttl_ms: Some(ttl),
    };
    assert_eq!(sim.reject(with_ttl(999)).code(), "INVALID_REQUEST");
    let long = sim.reject(with_ttl(180_001));
    assert_eq!(
        long,
        Rejection::LimitExceeded {
            limit: Limit::HoldLifetime,
            max: 180_000,
            requested: 180_001
        }
    );
    match sim.accept(with_ttl(5_000)) {
        Effect::Held(hold) => assert_eq!(hold.expires_at_ms, sim.now + 5_000),
        other => panic!("{other:?}"),
    }
}

// ---- extend ----------------------------------------------------------------------------------

fn extend(hold: &HoldId, who: &str, ttl_ms: Option<u64>) -> Action {
    Action::ExtendHold {
        hold: hold.clone(),
        customer: customer(who),
        ttl_ms,
    }
}

#[test]
fn only_the_holder_extends_a_live_hold_up_to_its_lifetime_cap() {
    let mut sim = Sim::with_club(EV);
    let hold = sim.hold_seats(EV, "ann", &[floor(0, 0)]);
    let created = hold.created_at_ms;
    assert_eq!(
        sim.reject(extend(&hold.id, "bob", None)),
        Rejection::NotHolder
    );
    sim.advance(30_000);
    let extended = sim.accept(extend(&hold.id, "ann", None));
    assert_eq!(
        extended,
        Effect::HoldExtended {
            hold: hold.id.clone(),
            expires_at_ms: sim.now + 60_000
        }
    );
    sim.advance(50_000);
    sim.accept(extend(&hold.id, "ann", None));
    sim.advance(50_000);
    let capped = sim.accept(extend(&hold.id, "ann", None));
    assert_eq!(
        capped,
        Effect::HoldExtended {
            hold: hold.id.clone(),
            expires_at_ms: created + 180_000
        }
    );
    let at_cap = sim.reject(extend(&hold.id, "ann", None));
    assert_eq!(at_cap.code(), "LIMIT_EXCEEDED");
    sim.now = created + 180_000;
    assert_eq!(
        sim.reject(extend(&hold.id, "ann", None)),
        Rejection::HoldExpired
    );
    let missing = HoldId {
        event: ev(EV),
        number: 99,
    };
    assert_eq!(
        sim.reject(extend(&missing, "ann", None)),
        Rejection::UnknownHold
    );
}

// ---- release ---------------------------------------------------------------------------------

#[test]
fn release_gives_seats_back_and_is_harmless_when_repeated_or_late() {
    let mut sim = Sim::with_club(EV);
    let hold = sim.hold_seats(EV, "ann", &[floor(0, 0), floor(0, 1)]);
    assert_eq!(
        sim.reject(release_action(&hold.id, "bob")),
        Rejection::NotHolder
    );
    let released = sim.accept(release_action(&hold.id, "ann"));
    assert_eq!(
        released,
        Effect::Released {
            hold: hold.id.clone(),
            places_released: 2
        }
    );
    assert_eq!(counts(&sim).available, 30);
    let again = sim.accept(release_action(&hold.id, "ann"));
    assert_eq!(
        again,
        Effect::Released {
            hold: hold.id.clone(),
            places_released: 0
        }
    );

    let late = sim.hold(EV, "bob", ga("Pit", 2));
    sim.advance(60_000);
    let expired = sim.accept(release_action(&late.id, "bob"));
    assert_eq!(
        expired,
        Effect::Released {
            hold: late.id.clone(),
            places_released: 0
        }
    );
    assert_eq!(counts(&sim).available, 30);
}

#[test]
fn a_purchased_hold_cannot_be_released() {
    let mut sim = Sim::with_club(EV);
    let hold = sim.hold_seats(EV, "ann", &[floor(0, 0)]);
    let order = sim.buy(&hold.id, "ann");
    let refused = sim.reject(release_action(&hold.id, "ann"));
    assert_eq!(
        refused,
        Rejection::HoldNotActive {
            status: HoldStatus::Purchased {
                order: order.id.number
            }
        }
    );
}

// ---- buy -------------------------------------------------------------------------------------

#[test]
fn buying_a_live_hold_confirms_an_order_with_one_ticket_per_seat() {
    let mut sim = Sim::with_club(EV);
    let hold = sim.hold_seats(EV, "ann", &[floor(0, 0), floor(0, 1)]);
    let order = sim.buy(&hold.id, "ann");
    assert_eq!(order.id.to_string(), "club~o1");
    assert_eq!(order.status, OrderStatus::Confirmed);
    assert_eq!(order.amount_cents, 24_000);
    assert_eq!(order.hold, hold.id);
    let tickets: Vec<String> = order
        .tickets
        .iter()
        .map(|t| t.id(&order.id).to_string())
        .collect();
    assert_eq!(tickets, ["club~o1~t1", "club~o1~t2"]);
    let labels = query::ticket_labels(&sim.store, &order).unwrap();
    assert_eq!(labels, ["Floor A-1", "Floor A-2"]);
    assert_eq!(
        counts(&sim),
        Counts {
            available: 28,
            sold: 2,
            ..Counts::default()
        }
    );
    assert_eq!(
        query::order(&sim.store, &order.id).unwrap(),
        Some(order.clone())
    );
    assert_eq!(
        query::customer_orders(&sim.store, &customer("ann"), 10).unwrap(),
        vec![order]
    );
    let bought = query::hold(&sim.store, &hold.id, sim.now).unwrap().unwrap();
    assert_eq!(bought.status, HoldStatus::Purchased { order: 1 });
}

#[test]
fn general_admission_orders_get_one_ticket_per_place() {
    let mut sim = Sim::with_club(EV);
    let hold = sim.hold(EV, "ann", ga("Pit", 3));
    let order = sim.buy(&hold.id, "ann");
    assert_eq!(order.tickets.len(), 3);
    assert!(order
        .tickets
        .iter()
        .all(|t| t.seat.is_none() && t.price_cents == 5_000));
    assert_eq!(
        query::ticket_labels(&sim.store, &order).unwrap(),
        ["Pit"; 3]
    );
}

#[test]
fn a_buy_needs_the_holder_a_live_hold_and_a_payment_reference() {
    let mut sim = Sim::with_club(EV);
    let hold = sim.hold_seats(EV, "ann", &[floor(0, 0)]);
    assert_eq!(
        sim.reject(buy_action(&hold.id, "bob")),
        Rejection::NotHolder
    );
    let no_payment = Action::Buy {
        hold: hold.id.clone(),
        customer: customer("ann"),
        payment_reference: String::new(),
    };
    assert_eq!(sim.reject(no_payment).code(), "INVALID_REQUEST");
    sim.buy(&hold.id, "ann");
    assert_eq!(
        sim.reject(buy_action(&hold.id, "ann")).code(),
        "HOLD_NOT_ACTIVE",
        "a hold buys once"
    );

    let late = sim.hold_seats(EV, "bob", &[floor(0, 1)]);
    sim.advance(60_000);
    assert_eq!(
        sim.reject(buy_action(&late.id, "bob")),
        Rejection::HoldExpired
    );
    sim.accept(Action::Expire { holds_max: 10 });
    assert_eq!(
        sim.reject(buy_action(&late.id, "bob")),
        Rejection::HoldExpired,
        "also once swept"
    );

    let released = sim.hold_seats(EV, "cat", &[floor(0, 2)]);
    sim.accept(release_action(&released.id, "cat"));
    assert_eq!(
        sim.reject(buy_action(&released.id, "cat")),
        Rejection::HoldNotActive {
            status: HoldStatus::Released
        }
    );
}

#[test]
fn a_paused_sale_refuses_buys_of_existing_holds() {
    let mut sim = Sim::with_club(EV);
    let hold = sim.hold_seats(EV, "ann", &[floor(0, 0)]);
    sim.accept(set_status(StatusChange::Pause));
    assert_eq!(
        sim.reject(buy_action(&hold.id, "ann")),
        Rejection::EventNotOnSale {
            status: EventStatus::Paused
        }
    );
}

// ---- cancel ----------------------------------------------------------------------------------

#[test]
fn cancelling_an_order_puts_its_seats_back_on_sale_once() {
    let mut sim = Sim::with_club(EV);
    let hold = sim.hold_seats(EV, "ann", &[floor(0, 0), floor(0, 1)]);
    let order = sim.buy(&hold.id, "ann");
    let cancelled = sim.accept(cancel_action(&order.id));
    assert_eq!(
        cancelled,
        Effect::OrderCancelled {
            order: order.id.clone(),
            places_released: 2
        }
    );
    assert_eq!(counts(&sim).available, 30);
    let stored = query::order(&sim.store, &order.id).unwrap().unwrap();
    assert_eq!(stored.status, OrderStatus::Cancelled);
    assert_eq!(stored.cancel_reason.as_deref(), Some("refund"));
    assert_eq!(
        sim.reject(cancel_action(&order.id)),
        Rejection::OrderNotActive
    );
    let missing = boxoffice_statemachine::OrderId {
        event: ev(EV),
        number: 9,
    };
    assert_eq!(sim.reject(cancel_action(&missing)), Rejection::UnknownOrder);
    sim.hold_seats(EV, "bob", &[floor(0, 0)]);
}

// ---- block / unblock -------------------------------------------------------------------------

#[test]
fn admins_block_available_seats_and_unblock_them() {
    let mut sim = Sim::with_club(EV);
    let seats = vec![floor(0, 0), floor(0, 1)];
    let blocked = sim.accept(Action::BlockSeats {
        event: ev(EV),
        seats: seats.clone(),
    });
    assert_eq!(blocked, Effect::SeatsBlocked { seats: 2 });
    let again = sim.accept(Action::BlockSeats {
        event: ev(EV),
        seats: seats.clone(),
    });
    assert_eq!(again, Effect::SeatsBlocked { seats: 0 });
    assert_eq!(counts(&sim).blocked, 2);
    let refused = sim.reject(hold_action(EV, "ann", Selection::Seats(vec![floor(0, 0)])));
    assert_eq!(
        refused,
        Rejection::SeatUnavailable {
            seats: vec![floor(0, 0)]
        }
    );
    let unblocked = sim.accept(Action::UnblockSeats {
        event: ev(EV),
        seats: vec![floor(0, 0), floor(0, 2)],
    });
    assert_eq!(unblocked, Effect::SeatsUnblocked { seats: 1 });
    sim.hold_seats(EV, "ann", &[floor(0, 0)]);
}

#[test]
fn blocking_never_takes_a_seat_from_a_live_hold_or_an_order() {
    let mut sim = Sim::with_club(EV);
    sim.hold_seats(EV, "ann", &[floor(0, 0)]);
    let sold = sim.hold_seats(EV, "bob", &[floor(0, 1)]);
    sim.buy(&sold.id, "bob");
    let refused = sim.reject(Action::BlockSeats {
        event: ev(EV),
        seats: vec![floor(0, 0), floor(0, 1), floor(0, 2)],
    });
    assert_eq!(
        refused,
        Rejection::SeatUnavailable {
            seats: vec![floor(0, 0), floor(0, 1)]
        }
    );
    assert_eq!(
        sim.reject(Action::BlockSeats {
            event: ev(EV),
            seats: vec![]
        })
        .code(),
        "INVALID_REQUEST"
    );
    let unknown = sim.reject(Action::UnblockSeats {
        event: ev(EV),
        seats: vec![seat(0, 5, 0)],
    });
    assert_eq!(
        unknown,
        Rejection::UnknownSeat {
            seats: vec![seat(0, 5, 0)]
        }
    );
}

// ---- expire ----------------------------------------------------------------------------------

#[test]
fn expire_sweeps_dead_holds_in_bounded_resumable_batches() {
    let mut sim = Sim::with_club(EV);
    for who in ["ann", "bob", "cat"] {
        sim.hold(EV, who, ga("Pit", 1));
        sim.advance(1);
    }
    let live = sim.hold(EV, "dan", ga("Pit", 1));
    let first_expiry = query::next_hold_expiry(&sim.store).unwrap().unwrap();
    assert!(
        first_expiry < live.expires_at_ms,
        "ann's hold expires first"
    );
    sim.now = live.created_at_ms + 59_999;
    assert_eq!(
        sim.accept(Action::Expire { holds_max: 2 }),
        Effect::Expired {
            holds: 2,
            more: true
        }
    );
    assert_eq!(
        sim.accept(Action::Expire { holds_max: 2 }),
        Effect::Expired {
            holds: 1,
            more: false
        }
    );
    assert_eq!(
        sim.accept(Action::Expire { holds_max: 2 }),
        Effect::Expired {
            holds: 0,
            more: false
        }
    );
    assert_eq!(counts(&sim).held, 1, "dan's hold is still live");
    assert_eq!(
        query::next_hold_expiry(&sim.store).unwrap(),
        Some(live.expires_at_ms),
        "the leader's sweeper knows when there is work again"
    );
    assert_eq!(
        sim.reject(Action::Expire { holds_max: 0 }).code(),
        "INVALID_REQUEST"
    );
    assert_eq!(
        sim.reject(Action::Expire { holds_max: 4_097 }).code(),
        "INVALID_REQUEST"
    );
}

// ---- time and idempotency --------------------------------------------------------------------

#[test]
fn state_time_never_runs_backwards() {
    let mut sim = Sim::with_club(EV);
    let hold = sim.hold_seats(EV, "ann", &[floor(0, 0)]);
    sim.advance(60_000);
    sim.accept(Action::Expire { holds_max: 1 });
    sim.now -= 30_000; // a new leader with a slower clock
    assert_eq!(
        sim.reject(buy_action(&hold.id, "ann")),
        Rejection::HoldExpired
    );
    assert_eq!(query::state_time(&sim.store).unwrap(), sim.now + 30_000);
}

#[test]
fn a_retried_request_returns_the_first_outcome_and_acts_once() {
    let mut sim = Sim::with_club(EV);
    let action = hold_action(EV, "ann", ga("Pit", 2));
    let first = sim.run_as("retry-me", action.clone());
    let before = domain_entries(&sim.store);
    sim.advance(5_000);
    assert_eq!(sim.run_as("retry-me", action.clone()), first);
    assert_eq!(domain_entries(&sim.store), before);
    assert_eq!(counts(&sim).held, 2);

    let other = sim.run_as("retry-me", hold_action(EV, "ann", ga("Pit", 1)));
    assert_eq!(other, Outcome::Rejected(Rejection::RequestIdReused));

    let refused = sim.run_as("too-many", hold_action(EV, "bob", ga("Pit", 9)));
    sim.hold(EV, "cat", ga("Pit", 1));
    assert_eq!(
        sim.run_as("too-many", hold_action(EV, "bob", ga("Pit", 9))),
        refused,
        "rejections are remembered too"
    );
}

#[test]
fn remembered_outcomes_are_forgotten_after_the_retention_period() {
    let mut sim = Sim::with_club(EV);
    let action = hold_action(EV, "ann", ga("Pit", 1));
    sim.run_as("old", action.clone());
    sim.advance(boxoffice_statemachine::limits::REQUEST_RETENTION_MS + 1);
    sim.accept(Action::Expire { holds_max: 10 }); // this command prunes the old outcome
    match sim.run_as("old", action) {
        Outcome::Accepted(Effect::Held(hold)) => assert_eq!(hold.id.number, 2, "acted again"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_invalid_request_id_is_refused() {
    let mut sim = Sim::with_club(EV);
    let command = Command {
        request_id: unchecked(""),
        at_ms: sim.now,
        action: Action::Expire { holds_max: 1 },
    };
    let outcome = boxoffice_statemachine::execute(&mut sim.store, &command).unwrap();
    assert_eq!(
        outcome.rejection().map(Rejection::code),
        Some("INVALID_REQUEST")
    );
}

/// An id that skipped validation, as one decoded from the wire would.
fn unchecked<T: serde::de::DeserializeOwned>(raw: &str) -> T {
    let encoded = codec::encode(&raw.to_owned());
    codec::decode(&encoded, 1024).unwrap()
}

// ---- encoding --------------------------------------------------------------------------------

#[test]
fn commands_round_trip_through_the_versioned_encoding() {
    let command = Command {
        request_id: RequestId::new("r-1").unwrap(),
        at_ms: 42,
        action: Action::CreateEvent(fixtures::stadium("big", 4, 10, 20, 500)),
    };
    let bytes = command.encode();
    assert_eq!(bytes[0], codec::FORMAT_VERSION);
    assert_eq!(Command::decode(&bytes).unwrap(), command);
}

#[test]
fn garbage_is_a_decoding_error_never_a_panic() {
    let good = Command {
        request_id: RequestId::new("r").unwrap(),
        at_ms: 1,
        action: Action::Expire { holds_max: 1 },
    }
    .encode();
    let mut future = good.clone();
    future[0] = 99;
    let mut trailing = good.clone();
    trailing.push(0);
    for bytes in [
        vec![],
        future,
        trailing,
        good[..good.len() - 1].to_vec(),
        vec![1, 0xff, 0xff, 0xff],
    ] {
        assert!(Command::decode(&bytes).is_err(), "{bytes:02x?}");
    }
}

/// A command and an outcome as the log holds them today. If this test fails, the log format
/// changed: old logs would no longer replay. Bump `codec::FORMAT_VERSION` and keep a reader for the
/// old version instead of editing the bytes below.
#[test]
fn the_log_format_is_stable() {
    let command = Command {
        request_id: RequestId::new("r-1").unwrap(),
        at_ms: 1_700_000_000_000,
        action: Action::Hold {
            event: ev("ev"),
            customer: customer("ann"),
            selection: Selection::Seats(vec![seat(1, 2, 3)]),
            ttl_ms: Some(60_000),
        },
    };
    let outcome = Outcome::Rejected(Rejection::SeatUnavailable {
        seats: vec![seat(1, 2, 3)],
    });
    assert_eq!(hex(&command.encode()), GOLDEN_COMMAND);
    assert_eq!(hex(&outcome.encode()), GOLDEN_OUTCOME);
    assert_eq!(Command::decode(&unhex(GOLDEN_COMMAND)).unwrap(), command);
    assert_eq!(Outcome::decode(&unhex(GOLDEN_OUTCOME)).unwrap(), outcome);
}

const GOLDEN_COMMAND: &str = "0103722d3180d095ffbc310202657603616e6e000101020301e0d403";
const GOLDEN_OUTCOME: &str = "01010601010203";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn rejection_codes_are_stable() {
    use boxoffice_statemachine::{HoldStatus as H, StatusChange as C};
    let all = [
        (
            Rejection::InvalidRequest {
                reason: String::new(),
            },
            "INVALID_REQUEST",
        ),
        (Rejection::UnknownEvent, "UNKNOWN_EVENT"),
        (Rejection::EventExists, "EVENT_EXISTS"),
        (
            Rejection::EventNotOnSale {
                status: EventStatus::Paused,
            },
            "EVENT_NOT_ON_SALE",
        ),
        (
            Rejection::InvalidTransition {
                from: EventStatus::Ended,
                change: C::Open,
            },
            "INVALID_TRANSITION",
        ),
        (Rejection::UnknownSeat { seats: vec![] }, "UNKNOWN_SEAT"),
        (
            Rejection::SeatUnavailable { seats: vec![] },
            "SEAT_UNAVAILABLE",
        ),
        (
            Rejection::InsufficientInventory {
                requested: 2,
                available: 1,
            },
            "INSUFFICIENT_INVENTORY",
        ),
        (Rejection::UnknownHold, "UNKNOWN_HOLD"),
        (Rejection::HoldExpired, "HOLD_EXPIRED"),
        (
            Rejection::HoldNotActive {
                status: H::Released,
            },
            "HOLD_NOT_ACTIVE",
        ),
        (Rejection::NotHolder, "NOT_HOLDER"),
        (
            Rejection::LimitExceeded {
                limit: Limit::SeatsPerHold,
                max: 1,
                requested: 2,
            },
            "LIMIT_EXCEEDED",
        ),
        (Rejection::UnknownOrder, "UNKNOWN_ORDER"),
        (Rejection::OrderNotActive, "ORDER_NOT_ACTIVE"),
        (Rejection::RequestIdReused, "REQUEST_ID_REUSED"),
    ];
    for (rejection, code) in all {
        assert_eq!(rejection.code(), code, "{rejection}");
    }
}

#[test]
fn stamps_beyond_the_time_limit_are_clamped_so_expiry_stays_exact() {
    use boxoffice_statemachine::limits::STATE_TIME_MS_MAX;
    let mut sim = Sim::new();
    let mut spec = fixtures::club(EV);
    spec.off_sale_at_ms = u64::MAX;
    sim.accept(Action::CreateEvent(spec));
    sim.now = u64::MAX;
    let hold = sim.hold(EV, "ann", ga("Pit", 1));
    assert_eq!(hold.created_at_ms, STATE_TIME_MS_MAX);
    assert_eq!(hold.expires_at_ms, STATE_TIME_MS_MAX + 60_000);
    assert_eq!(query::state_time(&sim.store).unwrap(), STATE_TIME_MS_MAX);
    sim.now = STATE_TIME_MS_MAX + 60_000;
    assert_eq!(
        query::state_time(&sim.store).unwrap(),
        STATE_TIME_MS_MAX,
        "time stays clamped"
    );
}
