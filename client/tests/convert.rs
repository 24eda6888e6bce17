//! The wire conversions, specified: what the state machine says survives the wire unchanged, and
//! malformed wire input is refused with the name of the field at fault, never with a panic.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use boxoffice_client::proto;
use boxoffice_statemachine::fixtures::{club, stadium};
use boxoffice_statemachine::query::{self, SeatStatus};
use boxoffice_statemachine::{
    execute, invariants, Action, AdmissionSettings, AdmissionStatus, Command, CustomerId, Effect,
    EventId, EventLimits, EventStatus, HoldId, HoldItems, HoldStatus, HoldView, Limit, MemStore,
    OrderId, OrderStatus, OrderView, Outcome, QueueView, Rejection, RequestId, RowSeats, Scope,
    SeatId, Selection, StatusChange, Ticket,
};
use proptest::prelude::*;
use prost::Message;

use boxoffice_client::convert;

use convert::{CommandRequest, InvalidArgument};

// ---- helpers ---------------------------------------------------------------------------------

fn event(id: &str) -> EventId {
    EventId::new(id).unwrap()
}

fn customer(id: &str) -> CustomerId {
    CustomerId::new(id).unwrap()
}

fn seat(text: &str) -> SeatId {
    text.parse().unwrap()
}

fn hold_id(text: &str) -> HoldId {
    text.parse().unwrap()
}

fn order_id(text: &str) -> OrderId {
    text.parse().unwrap()
}

fn options(request_id: &str) -> Option<proto::CommandOptions> {
    Some(proto::CommandOptions {
        request_id: request_id.into(),
        meta_index_min: 0,
    })
}

/// A club (see `fixtures::club`) with real holds and orders in it, so that the views under test
/// are the state machine's own.
struct Club {
    store: MemStore,
    requests: u32,
}

impl Club {
    fn new() -> Club {
        let mut club = Club {
            store: MemStore::new(),
            requests: 0,
        };
        club.run(Action::CreateEvent(boxoffice_statemachine::fixtures::club(
            "club",
        )));
        club
    }

    fn run(&mut self, action: Action) -> Outcome {
        self.requests += 1;
        let command = Command {
            request_id: RequestId::new(format!("r{}", self.requests)).unwrap(),
            at_ms: 1_000 * u64::from(self.requests),
            action,
        };
        execute(&mut self.store, &command).unwrap()
    }

    fn hold(&mut self, who: &str, selection: Selection) -> HoldView {
        match self.run(Action::Hold {
            event: event("club"),
            customer: customer(who),
            selection,
            ttl_ms: None,
        }) {
            Outcome::Accepted(Effect::Held(hold)) => hold,
            other => panic!("hold refused: {other:?}"),
        }
    }

    fn buy(&mut self, hold: &HoldView) -> OrderView {
        match self.run(Action::Buy {
            hold: hold.id.clone(),
            customer: hold.customer.clone(),
            payment_reference: "psp-1".into(),
        }) {
            Outcome::Accepted(Effect::Bought(order)) => order,
            other => panic!("buy refused: {other:?}"),
        }
    }

    fn view_of_hold(&self, id: &HoldId) -> HoldView {
        query::hold(&self.store, id, 0).unwrap().unwrap()
    }

    fn view_of_order(&self, id: &OrderId) -> OrderView {
        query::order(&self.store, id).unwrap().unwrap()
    }
}

fn two_seats() -> Selection {
    Selection::Seats(vec![seat("0.0.0"), seat("0.0.1")])
}

fn pit(quantity: u32) -> Selection {
    Selection::GeneralAdmission {
        area: "Pit".into(),
        quantity,
    }
}

fn round_trip(outcome: &Outcome) -> Result<Outcome, InvalidArgument> {
    convert::outcome_from_proto(Some(convert::outcome_to_proto(outcome)))
}

/// Asserts that `result` is refused for `field`, and that the message says so.
#[track_caller]
fn assert_refused<T: std::fmt::Debug>(result: Result<T, InvalidArgument>, field: &str) {
    match result {
        Err(error) => {
            assert_eq!(error.field, field, "wrong field in {error}");
            assert!(
                error.to_string().starts_with(&format!("invalid {field}: ")),
                "{error}"
            );
        }
        Ok(value) => panic!("{field}: accepted {value:?}"),
    }
}

// ---- requests --------------------------------------------------------------------------------

#[test]
fn every_command_request_asks_for_its_action() {
    let ann = customer("ann");
    let cases: Vec<(Box<dyn CommandRequest>, Action)> = vec![
        (
            Box::new(proto::SetEventStatusRequest {
                options: options("r1"),
                event_id: "club".into(),
                change: proto::StatusChange::Pause as i32,
            }),
            Action::SetEventStatus {
                event: event("club"),
                change: StatusChange::Pause,
            },
        ),
        (
            Box::new(proto::HoldRequest {
                options: options("r2"),
                event_id: "club".into(),
                customer_id: "ann".into(),
                selection: Some(convert::selection_to_proto(&two_seats())),
                ttl_ms: Some(30_000),
            }),
            Action::Hold {
                event: event("club"),
                customer: ann.clone(),
                selection: two_seats(),
                ttl_ms: Some(30_000),
            },
        ),
        (
            Box::new(proto::ExtendHoldRequest {
                options: options("r3"),
                hold_id: "club~h7".into(),
                customer_id: "ann".into(),
                ttl_ms: None,
            }),
            Action::ExtendHold {
                hold: hold_id("club~h7"),
                customer: ann.clone(),
                ttl_ms: None,
            },
        ),
        (
            Box::new(proto::ReleaseRequest {
                options: options("r4"),
                hold_id: "club~h7".into(),
                customer_id: "ann".into(),
            }),
            Action::Release {
                hold: hold_id("club~h7"),
                customer: ann.clone(),
            },
        ),
        (
            Box::new(proto::BuyRequest {
                options: options("r5"),
                hold_id: "club~h7".into(),
                customer_id: "ann".into(),
                payment_reference: "psp-9".into(),
            }),
            Action::Buy {
                hold: hold_id("club~h7"),
                customer: ann,
                payment_reference: "psp-9".into(),
            },
        ),
        (
            Box::new(proto::CancelOrderRequest {
                options: options("r6"),
                order_id: "club~o3".into(),
                reason: "duplicate".into(),
            }),
            Action::CancelOrder {
                order: order_id("club~o3"),
                reason: "duplicate".into(),
            },
        ),
        (
            Box::new(convert::SeatsCommand {
                request: proto::SeatsRequest {
                    options: options("r7"),
                    event_id: "club".into(),
                    seat_ids: vec!["1.0.2".into()],
                },
                block: true,
            }),
            Action::BlockSeats {
                event: event("club"),
                seats: vec![seat("1.0.2")],
            },
        ),
        (
            Box::new(convert::SeatsCommand {
                request: proto::SeatsRequest {
                    options: options("r8"),
                    event_id: "club".into(),
                    seat_ids: vec!["1.0.2".into()],
                },
                block: false,
            }),
            Action::UnblockSeats {
                event: event("club"),
                seats: vec![seat("1.0.2")],
            },
        ),
    ];
    for (n, (request, expected)) in cases.into_iter().enumerate() {
        assert_eq!(request.action().unwrap(), expected);
        let id = &request.options().unwrap().request_id;
        assert_eq!(id, &format!("r{}", n + 1));
    }
}

#[test]
fn every_status_change_crosses_the_wire() {
    for change in [
        StatusChange::Open,
        StatusChange::Pause,
        StatusChange::Cancel,
        StatusChange::End,
    ] {
        let request = proto::SetEventStatusRequest {
            options: None,
            event_id: "club".into(),
            change: convert::status_change_to_proto(change) as i32,
        };
        assert_eq!(
            request.action().unwrap(),
            Action::SetEventStatus {
                event: event("club"),
                change
            }
        );
    }
}

#[test]
fn every_selection_crosses_the_wire() {
    let selections = [
        two_seats(),
        Selection::Seats(Vec::new()),
        pit(3),
        Selection::BestAvailable {
            scope: Scope::Section("Floor".into()),
            quantity: 4,
        },
        Selection::BestAvailable {
            scope: Scope::Tier("Balcony".into()),
            quantity: 2,
        },
    ];
    for selection in selections {
        let wire = convert::selection_to_proto(&selection);
        assert_eq!(
            convert::selection_from_proto(Some(&wire)).unwrap(),
            selection
        );
    }
}

#[test]
fn fixture_event_specs_survive_the_wire() {
    let mut numbered = club("numbered");
    numbered.sections[0].rows[1].seats = RowSeats::Numbers(vec![101, 103, 105]);
    numbered.gated = true;
    let specs = [
        club("club"),
        numbered,
        stadium("stadium", 4, 3, 10, 500),
        stadium("seated-only", 2, 26, 30, 0),
    ];
    for spec in specs {
        let request = proto::CreateEventRequest {
            options: options("create"),
            spec: Some(convert::event_spec_to_proto(&spec)),
            dedicated_group: false,
        };
        assert_eq!(request.action().unwrap(), Action::CreateEvent(spec));
    }
}

#[test]
fn a_spec_without_limits_gets_the_default_limits() {
    let mut wire = convert::event_spec_to_proto(&club("club"));
    wire.limits = None;
    let spec = convert::event_spec_from_proto(&wire).unwrap();
    assert_eq!(spec.limits, EventLimits::default());
}

#[test]
fn a_row_gives_either_a_seat_count_or_seat_numbers() {
    let spec_with = |edit: &dyn Fn(&mut proto::RowSpec)| {
        let mut wire = convert::event_spec_to_proto(&club("club"));
        edit(&mut wire.sections[1].rows[0]);
        proto::CreateEventRequest {
            options: None,
            spec: Some(wire),
            dedicated_group: false,
        }
    };
    let both = spec_with(&|row| row.seat_numbers = vec![1, 2, 3]);
    assert_refused(both.action(), "spec.sections.rows");
    let neither = spec_with(&|row| row.seat_count = 0);
    let error = neither.action().unwrap_err();
    assert_eq!(error.field, "spec.sections.rows");
    assert!(error.reason.contains("\"Balcony\""), "{error}");
    let numbers_only = spec_with(&|row| {
        row.seat_count = 0;
        row.seat_numbers = vec![2, 4];
    });
    let Action::CreateEvent(spec) = numbers_only.action().unwrap() else {
        panic!("not a create")
    };
    assert_eq!(
        spec.sections[1].rows[0].seats,
        RowSeats::Numbers(vec![2, 4])
    );
}

#[test]
fn malformed_requests_are_refused_naming_the_field() {
    let hold = |edit: &dyn Fn(&mut proto::HoldRequest)| {
        let mut request = proto::HoldRequest {
            options: options("r1"),
            event_id: "club".into(),
            customer_id: "ann".into(),
            selection: Some(convert::selection_to_proto(&two_seats())),
            ttl_ms: None,
        };
        edit(&mut request);
        request.action()
    };
    assert!(hold(&|_| {}).is_ok());
    let bad_seat = |r: &mut proto::HoldRequest| {
        r.selection = Some(proto::Selection {
            kind: Some(proto::selection::Kind::Seats(proto::SeatList {
                seat_ids: vec!["0.0.1".into(), "0.0".into()],
            })),
        });
    };
    assert_refused(hold(&bad_seat), "selection.seats.seat_ids");
    assert_refused(hold(&|r| r.selection = None), "selection");
    assert_refused(
        hold(&|r| r.selection = Some(proto::Selection { kind: None })),
        "selection.kind",
    );
    let no_scope = |r: &mut proto::HoldRequest| {
        r.selection = Some(proto::Selection {
            kind: Some(proto::selection::Kind::BestAvailable(
                proto::BestAvailable {
                    scope: None,
                    quantity: 2,
                },
            )),
        });
    };
    assert_refused(hold(&no_scope), "selection.best_available.scope");
    assert_refused(hold(&|r| r.event_id = "club night".into()), "event_id");
    assert_refused(hold(&|r| r.customer_id = String::new()), "customer_id");

    let status = |change: i32| proto::SetEventStatusRequest {
        options: None,
        event_id: "club".into(),
        change,
    };
    assert_refused(
        status(proto::StatusChange::Unspecified as i32).action(),
        "change",
    );
    assert_refused(status(42).action(), "change");

    for bad in ["", "club", "club~o1", "club~hx", "bad id~h1", "~h1"] {
        let extend = proto::ExtendHoldRequest {
            hold_id: bad.into(),
            customer_id: "ann".into(),
            ..Default::default()
        };
        assert_refused(extend.action(), "hold_id");
        let release = proto::ReleaseRequest {
            hold_id: bad.into(),
            customer_id: "ann".into(),
            ..Default::default()
        };
        assert_refused(release.action(), "hold_id");
        let buy = proto::BuyRequest {
            hold_id: bad.into(),
            customer_id: "ann".into(),
            ..Default::default()
        };
        assert_refused(buy.action(), "hold_id");
    }
    let cancel = proto::CancelOrderRequest {
        order_id: "club~h1".into(),
        ..Default::default()
    };
    assert_refused(cancel.action(), "order_id");

    let create = proto::CreateEventRequest::default();
    assert_refused(create.action(), "spec");
    let mut spec = convert::event_spec_to_proto(&club("club"));
    spec.event_id = "a~b".into();
    let create = proto::CreateEventRequest {
        spec: Some(spec),
        ..Default::default()
    };
    assert_refused(create.action(), "spec.event_id");

    let seats = proto::SeatsRequest {
        options: None,
        event_id: "club".into(),
        seat_ids: vec!["1.x.2".into()],
    };
    assert_refused(convert::seats_action(&seats, true), "seat_ids");
    assert_refused(convert::seats_action(&seats, false), "seat_ids");
}

// ---- outcomes --------------------------------------------------------------------------------

/// A place in the club's waiting room at `position` (`None`: a pre-sale arrival not sequenced yet).
fn place(position: Option<u64>, admission: AdmissionStatus) -> QueueView {
    QueueView {
        event: event("club"),
        customer: customer("ann"),
        joined_at_ms: 1_000,
        presale: position.is_none_or(|p| p < 5),
        position,
        ahead: position.map(|p| p.saturating_sub(3)),
        admission,
    }
}

#[test]
fn every_effect_survives_the_wire() {
    let mut club = Club::new();
    let seats = club.hold("ann", two_seats());
    let places = club.hold("bob", pit(3));
    let order = club.buy(&places);
    let effects = [
        Effect::EventCreated {
            event: event("club"),
            seats: 20,
            ga_places: 10,
        },
        Effect::EventStatusChanged {
            event: event("club"),
            status: EventStatus::Paused,
        },
        Effect::Held(seats.clone()),
        Effect::Held(places),
        Effect::HoldExtended {
            hold: seats.id.clone(),
            expires_at_ms: 90_000,
        },
        Effect::Released {
            hold: seats.id,
            places_released: 2,
        },
        Effect::Bought(order.clone()),
        Effect::OrderCancelled {
            order: order.id,
            places_released: 3,
        },
        Effect::SeatsBlocked { seats: 4 },
        Effect::SeatsUnblocked { seats: 0 },
        Effect::QueueJoined(place(None, AdmissionStatus::Waiting)),
        Effect::QueueJoined(place(Some(7), AdmissionStatus::Waiting)),
        Effect::QueueJoined(place(
            Some(2),
            AdmissionStatus::Admitted {
                admitted_at_ms: 5_000,
                access_expires_at_ms: 605_000,
            },
        )),
        Effect::QueueJoined(place(
            Some(2),
            AdmissionStatus::Expired {
                admitted_at_ms: 5_000,
                access_expires_at_ms: 605_000,
            },
        )),
        Effect::QueueSequenced {
            event: event("club"),
            customers: 4_096,
            more: true,
        },
        Effect::Admitted {
            event: event("club"),
            customers: 0,
            watermark: 12,
        },
        Effect::AdmissionSet {
            event: event("club"),
            settings: AdmissionSettings {
                access_ttl_ms: 300_000,
                admit_per_minute: 0,
                auto: false,
            },
        },
    ];
    for effect in effects {
        let outcome = Outcome::Accepted(effect);
        assert_eq!(round_trip(&outcome).unwrap(), outcome);
    }
}

#[test]
fn expiry_sweeps_have_no_wire_form_and_are_refused_on_the_way_back() {
    let sweep = Outcome::Accepted(Effect::Expired {
        holds: 3,
        more: true,
    });
    let wire = convert::outcome_to_proto(&sweep);
    assert_eq!(
        wire,
        proto::command_reply::Outcome::Accepted(proto::Effect { kind: None })
    );
    assert_refused(round_trip(&sweep), "accepted.kind");
}

#[test]
fn every_rejection_survives_the_wire_with_its_code_and_message() {
    let rejections = [
        Rejection::InvalidRequest {
            reason: "name must not be empty".into(),
        },
        Rejection::UnknownEvent,
        Rejection::EventExists,
        Rejection::EventNotOnSale {
            status: EventStatus::Scheduled,
        },
        Rejection::InvalidTransition {
            from: EventStatus::Ended,
            change: StatusChange::Open,
        },
        Rejection::UnknownSeat {
            seats: vec![seat("9.0.0")],
        },
        Rejection::SeatUnavailable {
            seats: vec![seat("0.0.0"), seat("0.0.1")],
        },
        Rejection::InsufficientInventory {
            requested: 4,
            available: 1,
        },
        Rejection::UnknownHold,
        Rejection::HoldExpired,
        Rejection::HoldNotActive {
            status: HoldStatus::Released,
        },
        Rejection::HoldNotActive {
            status: HoldStatus::Purchased { order: 12 },
        },
        Rejection::NotHolder,
        Rejection::LimitExceeded {
            limit: Limit::SeatsPerHold,
            max: 4,
            requested: 5,
        },
        Rejection::LimitExceeded {
            limit: Limit::QueueCustomers,
            max: 20_000_000,
            requested: 20_000_001,
        },
        Rejection::UnknownOrder,
        Rejection::OrderNotActive,
        Rejection::RequestIdReused,
        Rejection::NotGated,
        Rejection::SaleNotStarted,
        Rejection::NotAdmitted,
        Rejection::AdmissionExpired,
    ];
    for rejection in rejections {
        let wire = convert::rejection_to_proto(&rejection);
        assert_eq!(wire.code, rejection.code());
        assert_eq!(wire.message, rejection.to_string());
        let outcome = Outcome::Rejected(rejection);
        assert_eq!(round_trip(&outcome).unwrap(), outcome);
    }
}

#[test]
fn a_rejection_carries_its_details_in_the_documented_fields() {
    let wire = convert::rejection_to_proto(&Rejection::LimitExceeded {
        limit: Limit::HoldsPerCustomer,
        max: 2,
        requested: 3,
    });
    assert_eq!(
        (wire.limit.as_str(), wire.max, wire.requested),
        ("holds_per_customer_max", 2, 3)
    );
    let wire = convert::rejection_to_proto(&Rejection::SeatUnavailable {
        seats: vec![seat("1.2.3")],
    });
    assert_eq!(wire.seat_ids, ["1.2.3"]);
    let wire = convert::rejection_to_proto(&Rejection::InvalidTransition {
        from: EventStatus::Cancelled,
        change: StatusChange::Pause,
    });
    assert_eq!(wire.event_status(), proto::EventStatus::Cancelled);
    assert_eq!(wire.change(), proto::StatusChange::Pause);
    let wire = convert::rejection_to_proto(&Rejection::HoldNotActive {
        status: HoldStatus::Purchased { order: 5 },
    });
    assert_eq!(wire.hold_status(), proto::HoldStatus::Purchased);
    assert_eq!(wire.order_number, 5);
}

#[test]
fn malformed_replies_are_refused_naming_the_field() {
    use proto::command_reply::Outcome as Wire;
    assert_refused(convert::outcome_from_proto(None), "outcome");
    let rejected = |edit: &dyn Fn(&mut proto::Rejection)| {
        let mut wire = proto::Rejection::default();
        edit(&mut wire);
        convert::outcome_from_proto(Some(Wire::Rejected(wire)))
    };
    assert_refused(
        rejected(&|r| r.code = "NO_SUCH_CODE".into()),
        "rejected.code",
    );
    assert_refused(
        rejected(&|r| {
            r.code = "LIMIT_EXCEEDED".into();
            r.limit = "tickets_per_day".into();
        }),
        "rejected.limit",
    );
    assert_refused(
        rejected(&|r| r.code = "HOLD_NOT_ACTIVE".into()),
        "rejected.hold_status",
    );
    assert_refused(
        rejected(&|r| r.code = "EVENT_NOT_ON_SALE".into()),
        "rejected.event_status",
    );
    assert_refused(
        rejected(&|r| {
            r.code = "EVENT_NOT_ON_SALE".into();
            r.event_status = 99;
        }),
        "rejected.event_status",
    );
    assert_refused(
        rejected(&|r| {
            r.code = "INVALID_TRANSITION".into();
            r.event_status = proto::EventStatus::OnSale as i32;
        }),
        "rejected.change",
    );
    assert_refused(
        rejected(&|r| {
            r.code = "UNKNOWN_SEAT".into();
            r.seat_ids = vec!["A-12".into()];
        }),
        "rejected.seat_ids",
    );
    assert_refused(
        rejected(&|r| {
            r.code = "INSUFFICIENT_INVENTORY".into();
            r.requested = u64::from(u32::MAX) + 1;
        }),
        "rejected.requested",
    );

    let accepted = |kind: proto::effect::Kind| {
        convert::outcome_from_proto(Some(Wire::Accepted(proto::Effect { kind: Some(kind) })))
    };
    use proto::effect::Kind;
    assert_refused(
        accepted(Kind::Released(proto::Released {
            hold_id: "club~o1".into(),
            places_released: 0,
        })),
        "accepted.released.hold_id",
    );
    assert_refused(
        accepted(Kind::EventStatusChanged(proto::EventStatusChanged {
            event_id: "club".into(),
            status: 0,
        })),
        "accepted.event_status_changed.status",
    );
    let mut club = Club::new();
    let hold = club.hold("ann", two_seats());
    let mut wire = convert::hold_to_proto(&hold);
    wire.hold_id = "club~h".into();
    assert_refused(accepted(Kind::Held(wire)), "accepted.held.hold_id");

    let mut wire = convert::queue_place_to_proto(&place(Some(1), AdmissionStatus::Waiting));
    wire.admission = 0;
    assert_refused(
        accepted(Kind::QueueJoined(wire.clone())),
        "accepted.queue_joined.admission",
    );
    wire.admission = proto::AdmissionState::Waiting as i32;
    wire.customer_id = String::new();
    assert_refused(
        accepted(Kind::QueueJoined(wire)),
        "accepted.queue_joined.customer_id",
    );
    assert_refused(
        accepted(Kind::AdmissionSet(proto::AdmissionSet {
            event_id: "club".into(),
            settings: None,
        })),
        "accepted.admission_set.settings",
    );
    assert_refused(
        accepted(Kind::Admitted(proto::Admitted {
            event_id: "club night".into(),
            customers: 1,
            watermark: 1,
        })),
        "accepted.admitted.event_id",
    );
}

// ---- views -----------------------------------------------------------------------------------

#[test]
fn holds_survive_the_wire_in_every_status() {
    let mut club = Club::new();
    let active = club.hold("ann", two_seats());
    let released = club.hold("bob", pit(2));
    club.run(Action::Release {
        hold: released.id.clone(),
        customer: released.customer.clone(),
    });
    let purchased = club.hold("cy", Selection::Seats(vec![seat("1.1.0")]));
    club.buy(&purchased);
    let mut views = vec![
        club.view_of_hold(&active.id),
        club.view_of_hold(&released.id),
        club.view_of_hold(&purchased.id),
    ];
    let mut expired = club.view_of_hold(&active.id);
    expired.status = HoldStatus::Expired;
    views.push(expired);
    let statuses: Vec<_> = views.iter().map(|v| v.status).collect();
    assert_eq!(
        statuses,
        [
            HoldStatus::Active,
            HoldStatus::Released,
            HoldStatus::Purchased { order: 1 },
            HoldStatus::Expired
        ]
    );
    for view in views {
        assert_eq!(
            convert::hold_from_proto(&convert::hold_to_proto(&view)).unwrap(),
            view
        );
    }
}

#[test]
fn a_purchased_hold_names_its_order_by_full_id() {
    let mut club = Club::new();
    let hold = club.hold("ann", pit(2));
    let order = club.buy(&hold);
    let wire = convert::hold_to_proto(&club.view_of_hold(&hold.id));
    assert_eq!(wire.status(), proto::HoldStatus::Purchased);
    assert_eq!(wire.order_id.as_deref(), Some("club~o1"));
    assert_eq!(wire.order_id, Some(order.id.to_string()));
    assert_eq!(
        wire.items,
        Some(proto::Items {
            seat_ids: Vec::new(),
            ga_area: Some(0),
            quantity: 2
        })
    );

    let mut no_order = wire.clone();
    no_order.order_id = None;
    assert_refused(convert::hold_from_proto(&no_order), "hold.order_id");
    let mut other_event = wire;
    other_event.order_id = Some("stadium~o1".into());
    assert_refused(convert::hold_from_proto(&other_event), "hold.order_id");
}

#[test]
fn orders_survive_the_wire_confirmed_and_cancelled() {
    let mut club = Club::new();
    let seated_hold = club.hold("ann", two_seats());
    let seated = club.buy(&seated_hold);
    let places_hold = club.hold("bob", pit(3));
    let places = club.buy(&places_hold);
    club.run(Action::CancelOrder {
        order: places.id.clone(),
        reason: "chargeback".into(),
    });
    let cancelled = club.view_of_order(&places.id);
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!(cancelled.cancel_reason.as_deref(), Some("chargeback"));
    for order in [seated, club.view_of_order(&places.id), cancelled] {
        assert_eq!(
            convert::order_from_proto(&convert::order_to_proto(&order)).unwrap(),
            order
        );
    }
}

#[test]
fn tickets_are_named_after_their_order() {
    let mut club = Club::new();
    let order_hold = club.hold("ann", two_seats());
    let order = club.buy(&order_hold);
    let wire = convert::order_to_proto(&order);
    let ids: Vec<_> = wire.tickets.iter().map(|t| t.ticket_id.as_str()).collect();
    assert_eq!(ids, ["club~o1~t1", "club~o1~t2"]);
    for (ticket, wire) in order.tickets.iter().zip(&wire.tickets) {
        assert_eq!(wire.ticket_id, Ticket::id(ticket, &order.id).to_string());
        assert_eq!(wire.seat_id, ticket.seat.map(|s| s.to_string()));
    }

    let mut foreign = wire.clone();
    foreign.tickets[1].ticket_id = "club~o2~t2".into();
    assert_refused(
        convert::order_from_proto(&foreign),
        "order.tickets.ticket_id",
    );
    let mut muddled = wire.clone();
    muddled.items = Some(proto::Items {
        seat_ids: vec!["0.0.0".into()],
        ga_area: Some(0),
        quantity: 1,
    });
    assert_refused(convert::order_from_proto(&muddled), "order.items.seat_ids");
    let mut miscounted = wire.clone();
    if let Some(items) = miscounted.items.as_mut() {
        items.quantity = 3;
    }
    assert_refused(
        convert::order_from_proto(&miscounted),
        "order.items.quantity",
    );
    let mut unspecified = wire;
    unspecified.status = proto::OrderStatus::Unspecified as i32;
    assert_refused(convert::order_from_proto(&unspecified), "order.status");
}

#[test]
fn events_and_seat_maps_survive_the_wire() {
    let mut club = Club::new();
    club.hold("ann", two_seats());
    let held = club.hold("bob", pit(3));
    club.buy(&held);
    club.run(Action::BlockSeats {
        event: event("club"),
        seats: vec![seat("1.1.3")],
    });

    let view = query::event(&club.store, &event("club"), 0)
        .unwrap()
        .unwrap();
    let wire = convert::event_to_proto(&view);
    assert_eq!(wire.group, 0, "the server sets the group");
    assert_eq!(wire.status(), proto::EventStatus::OnSale);
    assert_eq!(convert::event_from_proto(&wire).unwrap(), view);

    let map = query::seat_map(&club.store, &event("club"), None, 0)
        .unwrap()
        .unwrap();
    let (sections, ga_areas) = convert::seat_map_to_proto(&map);
    let statuses: Vec<_> = sections[0].rows[0].seats[..3]
        .iter()
        .map(|s| s.status())
        .collect();
    assert_eq!(
        statuses,
        [
            proto::SeatStatus::Held,
            proto::SeatStatus::Held,
            proto::SeatStatus::Available
        ]
    );
    let reply = proto::SeatMapReply {
        event_id: "club".into(),
        sections,
        ga_areas,
        read: None,
    };
    let back = convert::seat_map_from_proto(&reply).unwrap();
    assert_eq!(back, map);
    assert_eq!(
        back.sections[1].rows[1].seats[3].status,
        SeatStatus::Blocked
    );

    let mut unspecified = reply;
    unspecified.sections[0].rows[0].seats[0].status = 0;
    assert_refused(
        convert::seat_map_from_proto(&unspecified),
        "sections.rows.seats.status",
    );
}

#[test]
fn an_audit_reply_reads_back_as_the_audit() {
    let mut club = Club::new();
    club.hold("ann", two_seats());
    let audit = invariants::check(&club.store).unwrap();
    let reply = proto::AuditReply {
        events: audit.events,
        counts: Some(convert::counts_to_proto(&audit.counts)),
        active_holds: audit.active_holds,
        confirmed_orders: audit.confirmed_orders,
        ..Default::default()
    };
    assert_eq!(convert::audit_from_proto(&reply), audit);
    assert_eq!(audit.active_holds, 1);
}

// ---- properties ------------------------------------------------------------------------------

fn event_ids() -> impl Strategy<Value = EventId> {
    "[A-Za-z0-9_-]{1,12}".prop_map(|id| EventId::new(id).unwrap())
}

fn seat_ids() -> impl Strategy<Value = SeatId> {
    (any::<u16>(), any::<u16>(), any::<u16>()).prop_map(|(section, row, index)| SeatId {
        section,
        row,
        index,
    })
}

fn event_statuses() -> impl Strategy<Value = EventStatus> {
    prop_oneof![
        Just(EventStatus::Scheduled),
        Just(EventStatus::OnSale),
        Just(EventStatus::Paused),
        Just(EventStatus::SoldOut),
        Just(EventStatus::Cancelled),
        Just(EventStatus::Ended),
    ]
}

fn status_changes() -> impl Strategy<Value = StatusChange> {
    prop_oneof![
        Just(StatusChange::Open),
        Just(StatusChange::Pause),
        Just(StatusChange::Cancel),
        Just(StatusChange::End),
    ]
}

fn hold_statuses() -> impl Strategy<Value = HoldStatus> {
    prop_oneof![
        Just(HoldStatus::Active),
        Just(HoldStatus::Released),
        Just(HoldStatus::Expired),
        any::<u64>().prop_map(|order| HoldStatus::Purchased { order }),
    ]
}

fn limits() -> impl Strategy<Value = Limit> {
    prop_oneof![
        Just(Limit::SeatsPerHold),
        Just(Limit::SeatsPerCustomer),
        Just(Limit::HoldsPerCustomer),
        Just(Limit::HoldLifetime),
        Just(Limit::QueueCustomers),
    ]
}

fn rejections() -> impl Strategy<Value = Rejection> {
    prop_oneof![
        ".{0,40}".prop_map(|reason| Rejection::InvalidRequest { reason }),
        Just(Rejection::UnknownEvent),
        Just(Rejection::EventExists),
        event_statuses().prop_map(|status| Rejection::EventNotOnSale { status }),
        (event_statuses(), status_changes())
            .prop_map(|(from, change)| Rejection::InvalidTransition { from, change }),
        prop::collection::vec(seat_ids(), 0..5).prop_map(|seats| Rejection::UnknownSeat { seats }),
        prop::collection::vec(seat_ids(), 0..5)
            .prop_map(|seats| Rejection::SeatUnavailable { seats }),
        (any::<u32>(), any::<u32>()).prop_map(|(requested, available)| {
            Rejection::InsufficientInventory {
                requested,
                available,
            }
        }),
        Just(Rejection::UnknownHold),
        Just(Rejection::HoldExpired),
        hold_statuses().prop_map(|status| Rejection::HoldNotActive { status }),
        Just(Rejection::NotHolder),
        (limits(), any::<u64>(), any::<u64>()).prop_map(|(limit, max, requested)| {
            Rejection::LimitExceeded {
                limit,
                max,
                requested,
            }
        }),
        Just(Rejection::UnknownOrder),
        Just(Rejection::OrderNotActive),
        Just(Rejection::RequestIdReused),
        Just(Rejection::NotGated),
        Just(Rejection::SaleNotStarted),
        Just(Rejection::NotAdmitted),
        Just(Rejection::AdmissionExpired),
    ]
}

fn admissions() -> impl Strategy<Value = AdmissionStatus> {
    prop_oneof![
        Just(AdmissionStatus::Waiting),
        any::<(u64, u64)>().prop_map(|(admitted_at_ms, access_expires_at_ms)| {
            AdmissionStatus::Admitted {
                admitted_at_ms,
                access_expires_at_ms,
            }
        }),
        any::<(u64, u64)>().prop_map(|(admitted_at_ms, access_expires_at_ms)| {
            AdmissionStatus::Expired {
                admitted_at_ms,
                access_expires_at_ms,
            }
        }),
    ]
}

fn queue_views() -> impl Strategy<Value = QueueView> {
    (
        event_ids(),
        "[a-z0-9@.]{1,12}",
        any::<(u64, bool)>(),
        prop::option::of(any::<u64>()),
        prop::option::of(any::<u64>()),
        admissions(),
    )
        .prop_map(
            |(event, who, (joined_at_ms, presale), position, ahead, admission)| QueueView {
                event,
                customer: customer(&who),
                joined_at_ms,
                presale,
                position,
                ahead,
                admission,
            },
        )
}

fn items() -> impl Strategy<Value = HoldItems> {
    prop_oneof![
        prop::collection::vec(seat_ids(), 0..6).prop_map(HoldItems::Seats),
        (any::<u16>(), any::<u32>())
            .prop_map(|(area, quantity)| HoldItems::Places { area, quantity }),
    ]
}

fn hold_views() -> impl Strategy<Value = HoldView> {
    (
        event_ids(),
        any::<u64>(),
        "[a-z0-9@.]{1,12}",
        items(),
        any::<(u64, u64, u64)>(),
        hold_statuses(),
    )
        .prop_map(
            |(event, number, who, items, (amount_cents, created_at_ms, expires_at_ms), status)| {
                HoldView {
                    id: HoldId { event, number },
                    customer: customer(&who),
                    items,
                    amount_cents,
                    created_at_ms,
                    expires_at_ms,
                    status,
                }
            },
        )
}

fn order_views() -> impl Strategy<Value = OrderView> {
    let tickets = prop::collection::vec(
        (any::<u32>(), prop::option::of(seat_ids()), any::<u64>()),
        0..5,
    );
    (
        hold_views(),
        any::<u64>(),
        tickets,
        ".{0,20}",
        any::<bool>(),
        prop::option::of(".{0,20}"),
    )
        .prop_map(
            |(hold, number, tickets, payment_reference, confirmed, cancel_reason)| OrderView {
                id: OrderId {
                    event: hold.id.event.clone(),
                    number,
                },
                customer: hold.customer,
                hold: hold.id,
                items: hold.items,
                tickets: tickets
                    .into_iter()
                    .map(|(number, seat, price_cents)| Ticket {
                        number,
                        seat,
                        price_cents,
                    })
                    .collect(),
                amount_cents: hold.amount_cents,
                payment_reference,
                created_at_ms: hold.created_at_ms,
                status: if confirmed {
                    OrderStatus::Confirmed
                } else {
                    OrderStatus::Cancelled
                },
                cancel_reason,
            },
        )
}

proptest! {
    #[test]
    fn any_rejection_survives_the_wire(rejection in rejections()) {
        let wire = convert::rejection_to_proto(&rejection);
        prop_assert_eq!(&wire.code, rejection.code());
        prop_assert_eq!(&wire.message, &rejection.to_string());
        let outcome = Outcome::Rejected(rejection);
        prop_assert_eq!(round_trip(&outcome).unwrap(), outcome);
    }

    #[test]
    fn any_hold_or_order_survives_the_wire(hold in hold_views(), order in order_views()) {
        prop_assert_eq!(convert::hold_from_proto(&convert::hold_to_proto(&hold)).unwrap(), hold.clone());
        prop_assert_eq!(convert::order_from_proto(&convert::order_to_proto(&order)).unwrap(), order.clone());
        for effect in [Effect::Held(hold), Effect::Bought(order)] {
            let outcome = Outcome::Accepted(effect);
            prop_assert_eq!(round_trip(&outcome).unwrap(), outcome);
        }
    }

    #[test]
    fn any_place_in_a_waiting_room_survives_the_wire(place in queue_views()) {
        let wire = convert::queue_place_to_proto(&place);
        prop_assert_eq!(convert::queue_place_from_proto(&wire).unwrap(), place.clone());
        let outcome = Outcome::Accepted(Effect::QueueJoined(place));
        prop_assert_eq!(round_trip(&outcome).unwrap(), outcome);
    }

    #[test]
    fn any_id_text_is_parsed_or_refused_never_panicked_on(text in ".{0,30}") {
        let buy = proto::BuyRequest {
            hold_id: text.clone(),
            customer_id: text.clone(),
            ..Default::default()
        };
        let _ = buy.action();
        let seats = proto::SeatsRequest {
            options: None,
            event_id: text.clone(),
            seat_ids: vec![text.clone()],
        };
        let _ = convert::seats_action(&seats, true);
        let cancel = proto::CancelOrderRequest { order_id: text, ..Default::default() };
        let _ = cancel.action();
    }

    #[test]
    fn any_reply_bytes_are_decoded_or_refused_never_panicked_on(
        bytes in prop::collection::vec(any::<u8>(), 0..200)
    ) {
        if let Ok(reply) = proto::CommandReply::decode(bytes.as_slice()) {
            let _ = convert::outcome_from_proto(reply.outcome);
        }
        if let Ok(hold) = proto::Hold::decode(bytes.as_slice()) {
            let _ = convert::hold_from_proto(&hold);
        }
        if let Ok(order) = proto::Order::decode(bytes.as_slice()) {
            let _ = convert::order_from_proto(&order);
        }
        if let Ok(spec) = proto::EventSpec::decode(bytes.as_slice()) {
            let _ = convert::event_spec_from_proto(&spec);
        }
        if let Ok(place) = proto::QueuePlace::decode(bytes.as_slice()) {
            let _ = convert::queue_place_from_proto(&place);
        }
    }
}
