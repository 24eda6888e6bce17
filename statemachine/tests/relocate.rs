//! Moving an event between groups, as the state machine sees it: a sealed event takes no more
//! commands (`EVENT_MOVED`) and its holds do not expire where it was; its export imported into
//! another store is the same event (same views, same remembered outcomes, every invariant); an
//! import that is not exactly one event is refused with nothing written; dropping the sealed copy
//! leaves the old store's other events and invariants whole.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use boxoffice_statemachine::limits::REQUEST_RETENTION_MS;
use boxoffice_statemachine::relocate::{export_event, EventExport};
use boxoffice_statemachine::{query, Action, Effect, HoldId, Outcome, Rejection, Selection};
use support::{buy_action, ev, ga, hold_action, release_action, seat, Sim};

/// A store with two clubs; on "moving": a bought hold, a live hold, a released hold and a GA hold
/// about to expire; on "staying": one live hold.
fn two_clubs_with_sales() -> Sim {
    let mut sim = Sim::with_club("moving");
    sim.accept(Action::CreateEvent(boxoffice_statemachine::fixtures::club(
        "staying",
    )));
    let bought = sim.hold_seats("moving", "ann", &[seat(0, 0, 0), seat(0, 0, 1)]);
    sim.buy(&bought.id, "ann");
    sim.hold_seats("moving", "bob", &[seat(0, 1, 0)]);
    let released = sim.hold_seats("moving", "cat", &[seat(0, 1, 1)]);
    sim.accept(release_action(&released.id, "cat"));
    sim.hold("moving", "dan", ga("Pit", 2));
    sim.hold_seats("staying", "eve", &[seat(0, 0, 0)]);
    sim
}

/// Seals "moving" in `sim` and exports it.
fn seal_and_export(sim: &mut Sim) -> EventExport {
    assert!(matches!(
        sim.accept(Action::SealEvent {
            event: ev("moving")
        }),
        Effect::EventSealed { .. }
    ));
    export_event(&sim.store, &ev("moving")).unwrap()
}

#[test]
fn a_sealed_event_refuses_every_command_and_keeps_its_holds() {
    let mut sim = two_clubs_with_sales();
    seal_and_export(&mut sim);
    for action in [
        hold_action("moving", "fay", ga("Pit", 1)),
        Action::SetEventStatus {
            event: ev("moving"),
            change: boxoffice_statemachine::StatusChange::Pause,
        },
    ] {
        assert_eq!(sim.reject(action), Rejection::EventMoved);
    }
    // Past every hold's expiry: sweeps expire "staying"'s hold, never "moving"'s.
    sim.advance(10 * 60_000);
    let before = export_event(&sim.store, &ev("moving")).unwrap().records;
    let swept = sim.accept(Action::Expire { holds_max: 100 });
    assert_eq!(
        swept,
        Effect::Expired {
            holds: 1,
            more: false
        }
    );
    let after = export_event(&sim.store, &ev("moving")).unwrap().records;
    assert_eq!(before, after, "a sealed event's state stays as exported");
    // The other event still sells.
    sim.hold("staying", "gus", ga("Pit", 1));
}

#[test]
fn an_imported_event_is_the_same_event_with_its_remembered_outcomes() {
    let mut old = two_clubs_with_sales();
    let export = seal_and_export(&mut old);
    let mut new = Sim::new();
    new.now = old.now;
    // (Under a request id of its own: the new store's next, req-1, is "moving"'s creation.)
    let imported = new.run_as("import", Action::ImportEvent(export.clone()));
    assert_eq!(
        imported,
        Outcome::Accepted(Effect::EventImported {
            event: ev("moving"),
            records: export.records.len() as u32
        })
    );
    let view = |sim: &Sim| query::event(&sim.store, &ev("moving"), sim.now).unwrap();
    assert_eq!(view(&new), view(&old));
    // A retry of ann's hold (request id req-3, after two creates) answers its first outcome.
    let ann = || {
        hold_action(
            "moving",
            "ann",
            Selection::Seats(vec![seat(0, 0, 0), seat(0, 0, 1)]),
        )
    };
    let first = old.run_as("req-3", ann());
    assert!(
        matches!(first, Outcome::Accepted(Effect::Held(_))),
        "{first:?}"
    );
    assert_eq!(new.run_as("req-3", ann()), first);
    // It sells on: bob (hold 2) buys his hold in the new store.
    let bob = HoldId {
        event: ev("moving"),
        number: 2,
    };
    assert!(matches!(
        new.run_as("bob-buys", buy_action(&bob, "bob")),
        Outcome::Accepted(Effect::Bought(_))
    ));
}

#[test]
fn a_later_export_is_an_import_of_its_own_that_finds_the_event_already_there() {
    let mut old = two_clubs_with_sales();
    let first = seal_and_export(&mut old);
    assert_eq!(first.fingerprint(), first.clone().fingerprint());
    // The old group goes on: its state time moves and it forgets the outcomes past retention.
    old.advance(REQUEST_RETENTION_MS + 1);
    old.hold("staying", "gus", ga("Pit", 1));
    let later = export_event(&old.store, &ev("moving")).unwrap();
    assert!(later.state_time_ms > first.state_time_ms);
    assert!(
        later.records.len() < first.records.len(),
        "outcomes forgotten"
    );
    assert_ne!(later.fingerprint(), first.fingerprint());

    let mut new = Sim::new();
    new.now = old.now;
    let import = |export| Action::ImportEvent(export);
    assert!(matches!(
        new.run_as("import-1", import(first)),
        Outcome::Accepted(Effect::EventImported { .. })
    ));
    assert_eq!(
        new.run_as("import-2", import(later)),
        Outcome::Rejected(Rejection::EventExists),
        "a move that retries its import learns the event arrived"
    );
}

#[test]
fn an_import_under_the_request_id_of_an_outcome_it_brings_changes_nothing() {
    let mut old = two_clubs_with_sales();
    let export = seal_and_export(&mut old);
    // req-3 is ann's hold on "moving" (after two creates): its outcome travels with the event.
    let mut new = Sim::new();
    new.now = old.now;
    let refused = new.run_as("req-3", Action::ImportEvent(export.clone()));
    assert!(
        matches!(
            &refused,
            Outcome::Rejected(Rejection::InvalidRequest { .. })
        ),
        "{refused:?}"
    );
    assert!(query::event(&new.store, &ev("moving"), new.now)
        .unwrap()
        .is_none());
    assert!(matches!(
        new.run_as("import", Action::ImportEvent(export)),
        Outcome::Accepted(Effect::EventImported { .. })
    ));
}

#[test]
fn an_import_that_is_not_exactly_one_whole_event_changes_nothing() {
    let mut old = two_clubs_with_sales();
    let export = seal_and_export(&mut old);
    let staying = export_event(&old.store, &ev("staying")).unwrap();
    let mut new = Sim::new();
    new.now = old.now;

    // A record of another event slipped in.
    let mut foreign = export.clone();
    foreign.records.push(staying.records[0].clone());
    // A record missing (the totals no longer add up).
    let mut partial = export.clone();
    partial.records.remove(1);
    for bad in [foreign, partial] {
        let rejection = new.reject(Action::ImportEvent(bad));
        assert!(
            matches!(rejection, Rejection::InvalidRequest { .. }),
            "{rejection:?}"
        );
    }
    // The whole export still imports; importing it again is refused.
    // (Request ids of the new store's own commands here are not the old store's.)
    let imported = new.run_as("import", Action::ImportEvent(export.clone()));
    assert!(matches!(
        imported,
        Outcome::Accepted(Effect::EventImported { .. })
    ));
    assert_eq!(
        new.run_as("import-again", Action::ImportEvent(export)),
        Outcome::Rejected(Rejection::EventExists)
    );
}

#[test]
fn dropping_the_sealed_copy_leaves_the_other_event_whole() {
    let mut sim = two_clubs_with_sales();
    assert!(matches!(
        sim.reject(Action::DropEvent {
            event: ev("moving")
        }),
        Rejection::InvalidRequest { .. }
    ));
    seal_and_export(&mut sim);
    let dropped = sim.accept(Action::DropEvent {
        event: ev("moving"),
    });
    assert!(matches!(dropped, Effect::EventDropped { records, .. } if records > 10));
    assert!(query::event(&sim.store, &ev("moving"), sim.now)
        .unwrap()
        .is_none());
    // Still sealed: a late command learns the event moved.
    assert_eq!(
        sim.reject(hold_action("moving", "hal", ga("Pit", 1))),
        Rejection::EventMoved
    );
    sim.hold("staying", "ian", ga("Pit", 1));
}
