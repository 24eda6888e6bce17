//! The waiting room of a gated event, one specification per rule: joining, the pre-sale shuffle,
//! first come first served after it, the admission watermark, the access TTL, and the admission a
//! hold needs. Every step is audited by `invariants::check` (see `support::Sim::run`).
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use boxoffice_statemachine::limits::{
    ACCESS_TTL_MS_MAX, ACCESS_TTL_MS_MIN, ADMIT_BATCH_MAX, ADMIT_PER_MINUTE_MAX, SEQUENCE_BATCH_MAX,
};
use boxoffice_statemachine::{
    execute, invariants, query, Action, AdmissionSettings, AdmissionStatus, Command, Effect,
    EventStatus, QueueView, Rejection, RequestId, Selection, StatusChange,
};
use support::*;

const EV: &str = "gig";
/// An ungated club.
const EV_CLUB: &str = "club";
/// The gated club goes on sale at this time; `Sim` starts at 1,000 ms.
const ON_SALE_MS: u64 = 10_000;
/// The default access TTL of an admission.
const ACCESS_TTL_MS: u64 = 10 * 60 * 1_000;

fn gated() -> Sim {
    Sim::with_gated_club(EV, ON_SALE_MS)
}

fn sequence(sim: &mut Sim, customers_max: u32) -> (u32, bool) {
    match sim.accept(sequence_action(EV, customers_max)) {
        Effect::QueueSequenced {
            customers, more, ..
        } => (customers, more),
        other => panic!("unexpected effect {other:?}"),
    }
}

fn admit(sim: &mut Sim, customers_max: u32) -> (u32, u64) {
    match sim.accept(admit_action(EV, customers_max)) {
        Effect::Admitted {
            customers,
            watermark,
            ..
        } => (customers, watermark),
        other => panic!("unexpected effect {other:?}"),
    }
}

fn status_of(sim: &Sim, who: &str) -> QueueView {
    query::queue_status(&sim.store, &ev(EV), &customer(who), sim.now)
        .unwrap()
        .unwrap_or_else(|| panic!("{who} is not queued"))
}

fn position_of(sim: &Sim, who: &str) -> Option<u64> {
    status_of(sim, who).position
}

fn one_place() -> Selection {
    ga("Pit", 1)
}

fn settings(access_ttl_ms: u64) -> AdmissionSettings {
    AdmissionSettings {
        access_ttl_ms,
        ..AdmissionSettings::default()
    }
}

fn set_admission(settings: AdmissionSettings) -> Action {
    Action::SetAdmission {
        event: ev(EV),
        settings,
    }
}

/// Customers `names` join before the sale with the given ranks; then the sale opens.
fn presale(sim: &mut Sim, arrivals: &[(&str, u64)]) {
    for &(who, rank) in arrivals {
        sim.join(EV, who, rank);
    }
    sim.now = ON_SALE_MS;
}

// ---- joining ---------------------------------------------------------------------------------

#[test]
fn joining_again_answers_with_the_place_the_customer_has() {
    let mut sim = gated();
    let first = sim.join(EV, "ann", 42);
    assert_eq!(
        first,
        QueueView {
            event: ev(EV),
            customer: customer("ann"),
            joined_at_ms: 1_000,
            presale: true,
            position: None,
            ahead: None,
            admission: AdmissionStatus::Waiting,
        }
    );
    sim.advance(500);
    let before = domain_entries(&sim.store);
    assert_eq!(
        sim.join(EV, "ann", 7),
        first,
        "another rank changes nothing"
    );
    assert_eq!(before, domain_entries(&sim.store));

    sim.now = ON_SALE_MS;
    let later = sim.join(EV, "bob", 1);
    assert_eq!((later.presale, later.position), (false, Some(1)));
    sim.advance(1_000);
    assert_eq!(sim.join(EV, "bob", 2), later);
    assert_eq!(
        query::queue_summary(&sim.store, &ev(EV))
            .unwrap()
            .unwrap()
            .later_count,
        1
    );
}

#[test]
fn a_retried_join_replays_its_first_answer() {
    let mut sim = gated();
    let first = sim.run_as("join-ann", join_action(EV, "ann", 3));
    sim.now = ON_SALE_MS;
    assert_eq!(sim.run_as("join-ann", join_action(EV, "ann", 3)), first);
    assert_eq!(
        sim.run_as("join-ann", join_action(EV, "ann", 4))
            .rejection()
            .map(Rejection::code),
        Some("REQUEST_ID_REUSED")
    );
}

#[test]
fn only_a_gated_event_has_a_waiting_room() {
    let mut sim = Sim::with_club(EV_CLUB);
    let event = ev(EV_CLUB);
    let refused = [
        join_action(EV_CLUB, "ann", 1),
        sequence_action(EV_CLUB, 10),
        admit_action(EV_CLUB, 10),
        Action::SetAdmission {
            event: event.clone(),
            settings: AdmissionSettings::default(),
        },
    ];
    for action in refused {
        assert_eq!(sim.reject(action), Rejection::NotGated);
    }
    // Its holds need no admission.
    sim.hold(EV_CLUB, "ann", one_place());
    let summary = query::queue_summary(&sim.store, &event).unwrap().unwrap();
    assert!(!summary.gated);
    assert_eq!(summary.presale_total + summary.later_count, 0);
    assert_eq!(
        sim.reject(join_action("nowhere", "ann", 1)),
        Rejection::UnknownEvent
    );
}

#[test]
fn a_cancelled_or_ended_sale_takes_no_joins() {
    for change in [StatusChange::Cancel, StatusChange::End] {
        let mut sim = gated();
        sim.join(EV, "ann", 1);
        sim.accept(Action::SetEventStatus {
            event: ev(EV),
            change,
        });
        let status = if change == StatusChange::Cancel {
            EventStatus::Cancelled
        } else {
            EventStatus::Ended
        };
        for who in ["ann", "bob"] {
            assert_eq!(
                sim.reject(join_action(EV, who, 2)),
                Rejection::EventNotOnSale { status }
            );
        }
        sim.now = ON_SALE_MS;
        assert_eq!(
            sim.reject(sequence_action(EV, 1)),
            Rejection::EventNotOnSale { status }
        );
        assert_eq!(
            sim.reject(admit_action(EV, 1)),
            Rejection::EventNotOnSale { status }
        );
    }
}

#[test]
fn an_invalid_customer_id_is_refused() {
    let mut sim = gated();
    let bad = unchecked_customer("tab\there");
    let rejection = sim.reject(Action::JoinQueue {
        event: ev(EV),
        customer: bad,
        rank: 1,
    });
    assert_eq!(rejection.code(), "INVALID_REQUEST");
}

/// A customer id that bypassed `CustomerId::new` (as one decoded from the network may).
fn unchecked_customer(text: &str) -> boxoffice_statemachine::CustomerId {
    let good = customer("x");
    let mut bytes = boxoffice_statemachine::codec::encode(&good);
    // postcard: version byte, length, bytes.
    bytes.truncate(1);
    bytes.push(text.len() as u8);
    bytes.extend_from_slice(text.as_bytes());
    boxoffice_statemachine::codec::decode(&bytes, 1024).unwrap()
}

// ---- order of admission ----------------------------------------------------------------------

#[test]
fn pre_sale_arrivals_are_admitted_in_rank_order_then_later_arrivals_in_arrival_order() {
    let mut sim = gated();
    // Ann arrives first but draws the highest rank; Cat and Dan tie and go by customer id.
    presale(
        &mut sim,
        &[("ann", 900), ("bob", 5), ("dan", 300), ("cat", 300)],
    );
    sim.join(EV, "eve", 0);
    sim.join(EV, "fay", 0);
    assert_eq!(
        position_of(&sim, "eve"),
        Some(4),
        "after the 4 pre-sale arrivals"
    );
    assert_eq!(position_of(&sim, "fay"), Some(5));
    assert_eq!(position_of(&sim, "ann"), None, "not sequenced yet");

    assert_eq!(sequence(&mut sim, 4), (4, false));
    let order: Vec<Option<u64>> = ["bob", "cat", "dan", "ann"]
        .iter()
        .map(|who| position_of(&sim, who))
        .collect();
    assert_eq!(order, [Some(0), Some(1), Some(2), Some(3)]);
    assert_eq!(
        sequence(&mut sim, 4),
        (0, false),
        "nothing left to sequence"
    );

    let mut admitted = Vec::new();
    for _ in 0..6 {
        admit(&mut sim, 1);
        let newly = ["ann", "bob", "cat", "dan", "eve", "fay"]
            .into_iter()
            .filter(|who| !admitted.contains(who))
            .filter(|who| {
                matches!(
                    status_of(&sim, who).admission,
                    AdmissionStatus::Admitted { .. }
                )
            })
            .collect::<Vec<_>>();
        assert_eq!(newly.len(), 1);
        admitted.extend(newly);
    }
    assert_eq!(admitted, ["bob", "cat", "dan", "ann", "eve", "fay"]);
    assert_eq!(admit(&mut sim, 10), (0, 6), "everyone is in");
}

#[test]
fn the_watermark_never_passes_an_unsequenced_pre_sale_arrival() {
    let mut sim = gated();
    presale(&mut sim, &[("ann", 1), ("bob", 2), ("cat", 3)]);
    sim.join(EV, "dan", 0);
    assert_eq!(
        admit(&mut sim, 100),
        (0, 0),
        "nobody has a position below 3 yet"
    );
    assert_eq!(sequence(&mut sim, 2), (2, true));
    assert_eq!(admit(&mut sim, 100), (2, 2), "only the sequenced ones");
    assert_eq!(
        status_of(&sim, "dan").admission,
        AdmissionStatus::Waiting,
        "later arrivals wait for every pre-sale arrival"
    );
    assert_eq!(sequence(&mut sim, 2), (1, false));
    assert_eq!(admit(&mut sim, 100), (2, 4));
    let summary = query::queue_summary(&sim.store, &ev(EV)).unwrap().unwrap();
    assert_eq!(
        (
            summary.presale_total,
            summary.presale_sequenced,
            summary.later_count,
            summary.watermark,
            summary.admissible
        ),
        (3, 3, 1, 4, 0)
    );
}

#[test]
fn opening_the_sale_early_ends_the_pre_sale_there() {
    let mut sim = gated();
    sim.join(EV, "ann", 10);
    sim.accept(Action::SetEventStatus {
        event: ev(EV),
        change: StatusChange::Open,
    });
    let bob = sim.join(EV, "bob", 0);
    assert_eq!((bob.presale, bob.position), (false, Some(1)));
    assert_eq!(sequence(&mut sim, 5), (1, false));
    assert_eq!(position_of(&sim, "ann"), Some(0));
}

#[test]
fn sequencing_waits_for_the_on_sale_time_and_admitting_for_the_sale() {
    let mut sim = gated();
    sim.join(EV, "ann", 1);
    assert_eq!(
        sim.reject(sequence_action(EV, 10)),
        Rejection::SaleNotStarted
    );
    assert_eq!(
        sim.reject(admit_action(EV, 10)),
        Rejection::EventNotOnSale {
            status: EventStatus::Scheduled
        }
    );
    sim.now = ON_SALE_MS;
    sim.accept(Action::SetEventStatus {
        event: ev(EV),
        change: StatusChange::Pause,
    });
    sim.join(EV, "bob", 1);
    assert_eq!(
        sequence(&mut sim, 10),
        (1, false),
        "a pause does not stop sequencing"
    );
    assert_eq!(
        sim.reject(admit_action(EV, 10)),
        Rejection::EventNotOnSale {
            status: EventStatus::Paused
        },
        "nobody's access runs out while the sale is paused"
    );
}

// ---- the admission a hold needs --------------------------------------------------------------

#[test]
fn a_hold_needs_an_admission_that_lasts_the_access_ttl() {
    let mut sim = gated();
    presale(&mut sim, &[("ann", 1)]);
    assert_eq!(
        sim.reject(hold_action(EV, "bob", one_place())),
        Rejection::NotAdmitted,
        "never queued"
    );
    assert_eq!(
        sim.reject(hold_action(EV, "ann", one_place())),
        Rejection::NotAdmitted,
        "queued, not sequenced"
    );
    sequence(&mut sim, 1);
    assert_eq!(
        sim.reject(hold_action(EV, "ann", one_place())),
        Rejection::NotAdmitted,
        "sequenced, not admitted"
    );
    admit(&mut sim, 1);
    let admitted_at = sim.now;
    assert_eq!(
        status_of(&sim, "ann").admission,
        AdmissionStatus::Admitted {
            admitted_at_ms: admitted_at,
            access_expires_at_ms: admitted_at + ACCESS_TTL_MS
        }
    );
    sim.hold(EV, "ann", one_place());

    sim.now = admitted_at + ACCESS_TTL_MS - 1;
    sim.hold(EV, "ann", one_place());
    sim.now = admitted_at + ACCESS_TTL_MS;
    assert_eq!(
        sim.reject(hold_action(EV, "ann", one_place())),
        Rejection::AdmissionExpired
    );
    assert!(matches!(
        status_of(&sim, "ann").admission,
        AdmissionStatus::Expired { .. }
    ));
}

#[test]
fn a_hold_taken_while_admitted_may_be_extended_and_bought_after_the_access_ends() {
    let mut sim = gated();
    sim.accept(set_admission(settings(ACCESS_TTL_MS_MIN)));
    presale(&mut sim, &[("ann", 1)]);
    sequence(&mut sim, 1);
    admit(&mut sim, 1);
    let hold = sim.hold(EV, "ann", one_place());
    sim.advance(ACCESS_TTL_MS_MIN);
    assert_eq!(
        sim.reject(hold_action(EV, "ann", one_place())),
        Rejection::AdmissionExpired
    );
    sim.accept(Action::ExtendHold {
        hold: hold.id.clone(),
        customer: customer("ann"),
        ttl_ms: None,
    });
    sim.buy(&hold.id, "ann");
}

#[test]
fn the_queue_does_not_lift_the_other_rules_of_a_hold() {
    let mut sim = gated();
    presale(&mut sim, &[("ann", 1)]);
    sequence(&mut sim, 1);
    admit(&mut sim, 1);
    assert_eq!(
        sim.reject(hold_action(EV, "ann", ga("Pit", 11))).code(),
        "LIMIT_EXCEEDED"
    );
    sim.accept(Action::SetEventStatus {
        event: ev(EV),
        change: StatusChange::Pause,
    });
    assert_eq!(
        sim.reject(hold_action(EV, "ann", one_place())),
        Rejection::EventNotOnSale {
            status: EventStatus::Paused
        },
        "the sale's status is judged before the admission"
    );
}

// ---- settings and bounds ---------------------------------------------------------------------

#[test]
fn an_access_ttl_change_applies_to_later_admissions_only() {
    let mut sim = gated();
    presale(&mut sim, &[("ann", 1), ("bob", 2)]);
    sequence(&mut sim, 2);
    admit(&mut sim, 1);
    let short = settings(60_000);
    assert_eq!(
        sim.accept(set_admission(short)),
        Effect::AdmissionSet {
            event: ev(EV),
            settings: short
        }
    );
    admit(&mut sim, 1);
    let expiry = |sim: &Sim, who| match status_of(sim, who).admission {
        AdmissionStatus::Admitted {
            access_expires_at_ms,
            ..
        } => access_expires_at_ms,
        other => panic!("{other:?}"),
    };
    assert_eq!(expiry(&sim, "ann"), ON_SALE_MS + ACCESS_TTL_MS);
    assert_eq!(expiry(&sim, "bob"), ON_SALE_MS + 60_000);
    let summary = query::queue_summary(&sim.store, &ev(EV)).unwrap().unwrap();
    assert_eq!(summary.settings, short);
}

#[test]
fn admission_settings_out_of_bounds_are_refused() {
    let mut sim = gated();
    let defaults = AdmissionSettings::default();
    assert_eq!(defaults.access_ttl_ms, ACCESS_TTL_MS);
    let out_of_bounds = [
        settings(ACCESS_TTL_MS_MIN - 1),
        settings(ACCESS_TTL_MS_MAX + 1),
        AdmissionSettings {
            admit_per_minute: ADMIT_PER_MINUTE_MAX + 1,
            ..defaults
        },
    ];
    for wrong in out_of_bounds {
        assert_eq!(sim.reject(set_admission(wrong)).code(), "INVALID_REQUEST");
    }
    let paused = AdmissionSettings {
        admit_per_minute: 0,
        auto: false,
        ..defaults
    };
    sim.accept(set_admission(paused));
    assert_eq!(
        query::queue_summary(&sim.store, &ev(EV))
            .unwrap()
            .unwrap()
            .settings,
        paused
    );
}

#[test]
fn sequencing_and_admitting_are_bounded_per_command() {
    let mut sim = gated();
    sim.now = ON_SALE_MS;
    for action in [
        sequence_action(EV, 0),
        sequence_action(EV, SEQUENCE_BATCH_MAX + 1),
        admit_action(EV, 0),
        admit_action(EV, ADMIT_BATCH_MAX + 1),
    ] {
        assert_eq!(sim.reject(action).code(), "INVALID_REQUEST");
    }
    assert_eq!(sequence(&mut sim, SEQUENCE_BATCH_MAX), (0, false));
    assert_eq!(admit(&mut sim, ADMIT_BATCH_MAX), (0, 0));
}

#[test]
fn a_large_pre_sale_is_sequenced_a_batch_at_a_time_and_admitted_in_one_write() {
    let mut sim = gated();
    // Joined without the per-command audit (which reads the whole state), audited once after.
    for k in 0..SEQUENCE_BATCH_MAX as u64 + 10 {
        let command = Command {
            request_id: RequestId::new(format!("join-{k}")).unwrap(),
            at_ms: sim.now,
            action: join_action(
                EV,
                &format!("c{k:05}"),
                k.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            ),
        };
        let outcome = execute(&mut sim.store, &command).unwrap();
        assert!(outcome.rejection().is_none(), "{outcome:?}");
    }
    invariants::check(&sim.store).unwrap();
    sim.now = ON_SALE_MS;
    assert_eq!(
        sequence(&mut sim, SEQUENCE_BATCH_MAX),
        (SEQUENCE_BATCH_MAX, true)
    );
    assert_eq!(sequence(&mut sim, SEQUENCE_BATCH_MAX), (10, false));
    let before = sim.store.len();
    assert_eq!(
        admit(&mut sim, ADMIT_BATCH_MAX),
        (SEQUENCE_BATCH_MAX + 10, u64::from(SEQUENCE_BATCH_MAX) + 10)
    );
    assert_eq!(
        sim.store.len(),
        before + 3,
        "one admission batch (plus the command's remembered outcome and its index)"
    );
}

// ---- what a customer sees --------------------------------------------------------------------

#[test]
fn a_customer_sees_the_place_how_many_are_ahead_and_the_admission() {
    let mut sim = gated();
    presale(&mut sim, &[("ann", 2), ("bob", 1)]);
    sim.join(EV, "cat", 0);
    let cat = status_of(&sim, "cat");
    assert_eq!((cat.position, cat.ahead), (Some(2), Some(2)));
    let ann = status_of(&sim, "ann");
    assert_eq!((ann.presale, ann.position, ann.ahead), (true, None, None));
    sequence(&mut sim, 10);
    admit(&mut sim, 1);
    let ann = status_of(&sim, "ann");
    assert_eq!((ann.position, ann.ahead), (Some(1), Some(0)));
    let bob = status_of(&sim, "bob");
    assert_eq!((bob.position, bob.ahead), (Some(0), Some(0)));
    assert!(matches!(bob.admission, AdmissionStatus::Admitted { .. }));
    assert_eq!(status_of(&sim, "cat").ahead, Some(1));
    assert!(
        query::queue_status(&sim.store, &ev(EV), &customer("dan"), sim.now)
            .unwrap()
            .is_none()
    );
    // A reader's later clock sees the admission expire before any command does.
    let later = query::queue_status(
        &sim.store,
        &ev(EV),
        &customer("bob"),
        sim.now + ACCESS_TTL_MS,
    )
    .unwrap()
    .unwrap();
    assert!(matches!(later.admission, AdmissionStatus::Expired { .. }));
}
