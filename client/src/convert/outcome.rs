//! Command outcomes, both ways: every effect an accepted command reports and every rejection with
//! all its fields. `Rejection.code` is [`Rejection::code`] and `message` its `Display`.

use boxoffice_statemachine::{Effect, HoldId, Limit, Outcome, Rejection};

use super::status::{
    decode_enum, event_status_from_proto, event_status_to_proto, hold_status_from_proto,
    hold_status_to_proto, status_change_from_proto, status_change_to_proto,
};
use super::view::{
    admission_settings_from_proto, admission_settings_to_proto, hold_at, hold_to_proto, order_at,
    order_to_proto, queue_place_at, queue_place_to_proto,
};
use super::{missing, parse_id, parse_seats, to_strings, InvalidArgument};
use crate::proto;
use crate::proto::command_reply::Outcome as WireOutcome;
use crate::proto::effect::Kind;

/// Every limit a `LIMIT_EXCEEDED` rejection may name.
const LIMITS: [Limit; 5] = [
    Limit::SeatsPerHold,
    Limit::SeatsPerCustomer,
    Limit::HoldsPerCustomer,
    Limit::HoldLifetime,
    Limit::QueueCustomers,
];

/// Fails to compile when `Limit` gains a variant, so that `LIMITS` is kept whole.
const _: fn(Limit) = |limit| match limit {
    Limit::SeatsPerHold
    | Limit::SeatsPerCustomer
    | Limit::HoldsPerCustomer
    | Limit::HoldLifetime
    | Limit::QueueCustomers => {}
};

/// An outcome as a `CommandReply` carries it.
///
/// [`Effect::Expired`] has no message in the API: it is the node's own expiry sweep and never
/// answers a client (no request converts to an `Expire` action, and the sweeper's request ids
/// cannot be reused by another command). Should one be converted anyway, it becomes an `Effect`
/// without a kind, which [`outcome_from_proto`] refuses.
pub fn outcome_to_proto(outcome: &Outcome) -> WireOutcome {
    match outcome {
        Outcome::Accepted(effect) => WireOutcome::Accepted(effect_to_proto(effect)),
        Outcome::Rejected(rejection) => WireOutcome::Rejected(rejection_to_proto(rejection)),
    }
}

/// An outcome from a `CommandReply`. A missing outcome, an effect without a known kind, or a
/// rejection with an unknown code is an error (the server speaks a newer API, or is broken).
pub fn outcome_from_proto(outcome: Option<WireOutcome>) -> Result<Outcome, InvalidArgument> {
    match outcome.ok_or_else(|| missing("outcome"))? {
        WireOutcome::Accepted(effect) => Ok(Outcome::Accepted(effect_from_proto(&effect)?)),
        WireOutcome::Rejected(rejection) => {
            Ok(Outcome::Rejected(rejection_from_proto(&rejection)?))
        }
    }
}

fn effect_to_proto(effect: &Effect) -> proto::Effect {
    let kind = match effect {
        Effect::EventCreated {
            event,
            seats,
            ga_places,
        } => Kind::EventCreated(proto::EventCreated {
            event_id: event.to_string(),
            seats: *seats,
            ga_places: *ga_places,
        }),
        Effect::EventStatusChanged { event, status } => {
            Kind::EventStatusChanged(proto::EventStatusChanged {
                event_id: event.to_string(),
                status: event_status_to_proto(*status) as i32,
            })
        }
        Effect::Held(hold) => Kind::Held(hold_to_proto(hold)),
        Effect::HoldExtended {
            hold,
            expires_at_ms,
        } => Kind::HoldExtended(proto::HoldExtended {
            hold_id: hold.to_string(),
            expires_at_ms: *expires_at_ms,
        }),
        Effect::Released {
            hold,
            places_released,
        } => Kind::Released(proto::Released {
            hold_id: hold.to_string(),
            places_released: *places_released,
        }),
        Effect::Bought(order) => Kind::Bought(order_to_proto(order)),
        Effect::OrderCancelled {
            order,
            places_released,
        } => Kind::OrderCancelled(proto::OrderCancelled {
            order_id: order.to_string(),
            places_released: *places_released,
        }),
        Effect::SeatsBlocked { seats } => Kind::SeatsBlocked(proto::SeatsChanged { seats: *seats }),
        Effect::SeatsUnblocked { seats } => {
            Kind::SeatsUnblocked(proto::SeatsChanged { seats: *seats })
        }
        Effect::QueueJoined(place) => Kind::QueueJoined(queue_place_to_proto(place)),
        Effect::QueueSequenced {
            event,
            customers,
            more,
        } => Kind::QueueSequenced(proto::QueueSequenced {
            event_id: event.to_string(),
            customers: *customers,
            more: *more,
        }),
        Effect::Admitted {
            event,
            customers,
            watermark,
        } => Kind::Admitted(proto::Admitted {
            event_id: event.to_string(),
            customers: *customers,
            watermark: *watermark,
        }),
        Effect::AdmissionSet { event, settings } => Kind::AdmissionSet(proto::AdmissionSet {
            event_id: event.to_string(),
            settings: Some(admission_settings_to_proto(settings)),
        }),
        // Internal to the node; see `outcome_to_proto`.
        Effect::Expired { .. }
        | Effect::EventSealed { .. }
        | Effect::EventImported { .. }
        | Effect::EventDropped { .. } => return proto::Effect { kind: None },
    };
    proto::Effect { kind: Some(kind) }
}

fn effect_from_proto(effect: &proto::Effect) -> Result<Effect, InvalidArgument> {
    let kind = effect.kind.as_ref().ok_or_else(|| {
        InvalidArgument::new(
            "accepted.kind",
            "is missing or of a kind this client does not know",
        )
    })?;
    Ok(match kind {
        Kind::EventCreated(created) => Effect::EventCreated {
            event: parse_id("accepted.event_created.event_id", &created.event_id)?,
            seats: created.seats,
            ga_places: created.ga_places,
        },
        Kind::EventStatusChanged(changed) => Effect::EventStatusChanged {
            event: parse_id("accepted.event_status_changed.event_id", &changed.event_id)?,
            status: decode_enum(
                "accepted.event_status_changed.status",
                changed.status,
                event_status_from_proto,
            )?,
        },
        Kind::Held(hold) => Effect::Held(hold_at("accepted.held", hold)?),
        Kind::HoldExtended(extended) => Effect::HoldExtended {
            hold: parse_id("accepted.hold_extended.hold_id", &extended.hold_id)?,
            expires_at_ms: extended.expires_at_ms,
        },
        Kind::Released(released) => Effect::Released {
            hold: parse_id::<HoldId>("accepted.released.hold_id", &released.hold_id)?,
            places_released: released.places_released,
        },
        Kind::Bought(order) => Effect::Bought(order_at("accepted.bought", order)?),
        Kind::OrderCancelled(cancelled) => Effect::OrderCancelled {
            order: parse_id("accepted.order_cancelled.order_id", &cancelled.order_id)?,
            places_released: cancelled.places_released,
        },
        Kind::SeatsBlocked(changed) => Effect::SeatsBlocked {
            seats: changed.seats,
        },
        Kind::SeatsUnblocked(changed) => Effect::SeatsUnblocked {
            seats: changed.seats,
        },
        Kind::QueueJoined(place) => {
            Effect::QueueJoined(queue_place_at("accepted.queue_joined", place)?)
        }
        Kind::QueueSequenced(sequenced) => Effect::QueueSequenced {
            event: parse_id("accepted.queue_sequenced.event_id", &sequenced.event_id)?,
            customers: sequenced.customers,
            more: sequenced.more,
        },
        Kind::Admitted(admitted) => Effect::Admitted {
            event: parse_id("accepted.admitted.event_id", &admitted.event_id)?,
            customers: admitted.customers,
            watermark: admitted.watermark,
        },
        Kind::AdmissionSet(set) => Effect::AdmissionSet {
            event: parse_id("accepted.admission_set.event_id", &set.event_id)?,
            settings: admission_settings_from_proto(
                set.settings
                    .as_ref()
                    .ok_or_else(|| missing("accepted.admission_set.settings"))?,
            ),
        },
    })
}

/// A rejection as the wire carries it: its stable code, its message, and the fields its code uses
/// (see the proto). `HOLD_NOT_ACTIVE` for a purchased hold carries the order's number in
/// `order_number`, as the rejection knows the number but not the event of the order.
pub fn rejection_to_proto(rejection: &Rejection) -> proto::Rejection {
    let mut wire = proto::Rejection {
        code: rejection.code().to_owned(),
        message: rejection.to_string(),
        ..proto::Rejection::default()
    };
    match rejection {
        Rejection::InvalidRequest { reason } => wire.reason.clone_from(reason),
        Rejection::EventNotOnSale { status } => {
            wire.event_status = event_status_to_proto(*status) as i32;
        }
        Rejection::InvalidTransition { from, change } => {
            wire.event_status = event_status_to_proto(*from) as i32;
            wire.change = status_change_to_proto(*change) as i32;
        }
        Rejection::UnknownSeat { seats } | Rejection::SeatUnavailable { seats } => {
            wire.seat_ids = to_strings(seats);
        }
        Rejection::InsufficientInventory {
            requested,
            available,
        } => {
            wire.requested = u64::from(*requested);
            wire.available = u64::from(*available);
        }
        Rejection::HoldNotActive { status } => {
            let (status, order) = hold_status_to_proto(*status);
            wire.hold_status = status as i32;
            wire.order_number = order.unwrap_or(0);
        }
        Rejection::LimitExceeded {
            limit,
            max,
            requested,
        } => {
            wire.limit = limit.as_str().to_owned();
            wire.max = *max;
            wire.requested = *requested;
        }
        Rejection::UnknownEvent
        | Rejection::EventExists
        | Rejection::UnknownHold
        | Rejection::HoldExpired
        | Rejection::NotHolder
        | Rejection::UnknownOrder
        | Rejection::OrderNotActive
        | Rejection::RequestIdReused
        | Rejection::NotGated
        | Rejection::SaleNotStarted
        | Rejection::NotAdmitted
        | Rejection::AdmissionExpired
        | Rejection::EventMoved => {}
    }
    wire
}

/// A rejection from the wire, rebuilt from its code and the fields that code uses (the message is
/// not read: it is the rejection's `Display`). An unknown code is an error.
pub fn rejection_from_proto(wire: &proto::Rejection) -> Result<Rejection, InvalidArgument> {
    let u32_field = |field: &str, value: u64| {
        u32::try_from(value)
            .map_err(|_| InvalidArgument::new(field, format!("{value} is out of range")))
    };
    Ok(match wire.code.as_str() {
        "INVALID_REQUEST" => Rejection::InvalidRequest {
            reason: wire.reason.clone(),
        },
        "UNKNOWN_EVENT" => Rejection::UnknownEvent,
        "EVENT_EXISTS" => Rejection::EventExists,
        "EVENT_NOT_ON_SALE" => Rejection::EventNotOnSale {
            status: decode_enum(
                "rejected.event_status",
                wire.event_status,
                event_status_from_proto,
            )?,
        },
        "INVALID_TRANSITION" => Rejection::InvalidTransition {
            from: decode_enum(
                "rejected.event_status",
                wire.event_status,
                event_status_from_proto,
            )?,
            change: decode_enum("rejected.change", wire.change, status_change_from_proto)?,
        },
        "UNKNOWN_SEAT" => Rejection::UnknownSeat {
            seats: parse_seats("rejected.seat_ids", &wire.seat_ids)?,
        },
        "SEAT_UNAVAILABLE" => Rejection::SeatUnavailable {
            seats: parse_seats("rejected.seat_ids", &wire.seat_ids)?,
        },
        "INSUFFICIENT_INVENTORY" => Rejection::InsufficientInventory {
            requested: u32_field("rejected.requested", wire.requested)?,
            available: u32_field("rejected.available", wire.available)?,
        },
        "UNKNOWN_HOLD" => Rejection::UnknownHold,
        "HOLD_EXPIRED" => Rejection::HoldExpired,
        "HOLD_NOT_ACTIVE" => Rejection::HoldNotActive {
            status: hold_status_from_proto("rejected.hold_status", wire.hold_status, || {
                Ok(wire.order_number)
            })?,
        },
        "NOT_HOLDER" => Rejection::NotHolder,
        "LIMIT_EXCEEDED" => Rejection::LimitExceeded {
            limit: LIMITS
                .into_iter()
                .find(|limit| limit.as_str() == wire.limit)
                .ok_or_else(|| {
                    InvalidArgument::new(
                        "rejected.limit",
                        format!("unknown limit {:?}", wire.limit),
                    )
                })?,
            max: wire.max,
            requested: wire.requested,
        },
        "UNKNOWN_ORDER" => Rejection::UnknownOrder,
        "ORDER_NOT_ACTIVE" => Rejection::OrderNotActive,
        "REQUEST_ID_REUSED" => Rejection::RequestIdReused,
        "NOT_GATED" => Rejection::NotGated,
        "SALE_NOT_STARTED" => Rejection::SaleNotStarted,
        "NOT_ADMITTED" => Rejection::NotAdmitted,
        "ADMISSION_EXPIRED" => Rejection::AdmissionExpired,
        "EVENT_MOVED" => Rejection::EventMoved,
        other => {
            return Err(InvalidArgument::new(
                "rejected.code",
                format!("unknown code {other:?}"),
            ))
        }
    })
}
