//! How boxctl shows things: command outcomes (text and JSON), holds, orders, places in a waiting
//! room and read freshness.

use boxoffice_client::{proto, Decided};
use boxoffice_statemachine::{
    AdmissionStatus, Effect, HoldItems, HoldStatus, HoldView, OrderStatus, OrderView, Outcome,
    QueueView, RequestId,
};
use serde_json::{json, Value};

use crate::Exit;

/// Seat ids or GA places, as text.
pub fn items_text(items: &HoldItems) -> String {
    match items {
        HoldItems::Seats(seats) => {
            let ids: Vec<String> = seats.iter().map(ToString::to_string).collect();
            format!("seats {}", ids.join(","))
        }
        HoldItems::Places { area, quantity } => format!("{quantity} place(s) in GA area #{area}"),
    }
}

fn items_json(items: &HoldItems) -> Value {
    match items {
        HoldItems::Seats(seats) => {
            json!({ "seat_ids": seats.iter().map(ToString::to_string).collect::<Vec<_>>() })
        }
        HoldItems::Places { area, quantity } => json!({ "ga_area": area, "quantity": quantity }),
    }
}

fn hold_status_text(status: &HoldStatus) -> String {
    match status {
        HoldStatus::Active => "active".into(),
        HoldStatus::Released => "released".into(),
        HoldStatus::Expired => "expired".into(),
        HoldStatus::Purchased { order } => format!("purchased (order #{order})"),
    }
}

fn hold_json(hold: &HoldView) -> Value {
    json!({
        "hold_id": hold.id.to_string(),
        "customer_id": hold.customer.to_string(),
        "items": items_json(&hold.items),
        "amount_cents": hold.amount_cents,
        "created_at_ms": hold.created_at_ms,
        "expires_at_ms": hold.expires_at_ms,
        "status": hold_status_text(&hold.status),
    })
}

fn order_json(order: &OrderView) -> Value {
    json!({
        "order_id": order.id.to_string(),
        "customer_id": order.customer.to_string(),
        "hold_id": order.hold.to_string(),
        "items": items_json(&order.items),
        "tickets": order.tickets.iter().map(|t| json!({
            "ticket_id": t.id(&order.id).to_string(),
            "seat_id": t.seat.map(|s| s.to_string()),
            "price_cents": t.price_cents,
        })).collect::<Vec<_>>(),
        "amount_cents": order.amount_cents,
        "payment_reference": order.payment_reference,
        "created_at_ms": order.created_at_ms,
        "status": match order.status { OrderStatus::Confirmed => "confirmed", OrderStatus::Cancelled => "cancelled" },
        "cancel_reason": order.cancel_reason,
    })
}

/// A place in a waiting room, as text: its position and admission.
fn queue_place_text(place: &QueueView) -> String {
    let position = match (place.position, place.ahead) {
        (Some(position), Some(ahead)) => format!("position {position}, {ahead} ahead"),
        _ => "pre-sale arrival, position drawn at the on-sale time".to_owned(),
    };
    match place.admission {
        AdmissionStatus::Waiting => format!("{position}, waiting"),
        AdmissionStatus::Admitted {
            access_expires_at_ms,
            ..
        } => format!("{position}, admitted until {access_expires_at_ms} ms"),
        AdmissionStatus::Expired {
            access_expires_at_ms,
            ..
        } => format!("{position}, admission expired at {access_expires_at_ms} ms"),
    }
}

/// A place in a waiting room, as JSON.
fn queue_place_json(place: &QueueView) -> Value {
    let (admission, admitted_at_ms, access_expires_at_ms) = match place.admission {
        AdmissionStatus::Waiting => ("waiting", None, None),
        AdmissionStatus::Admitted {
            admitted_at_ms,
            access_expires_at_ms,
        } => ("admitted", Some(admitted_at_ms), Some(access_expires_at_ms)),
        AdmissionStatus::Expired {
            admitted_at_ms,
            access_expires_at_ms,
        } => ("expired", Some(admitted_at_ms), Some(access_expires_at_ms)),
    };
    json!({
        "event_id": place.event.to_string(),
        "customer_id": place.customer.to_string(),
        "joined_at_ms": place.joined_at_ms,
        "presale": place.presale,
        "position": place.position,
        "ahead": place.ahead,
        "admission": admission,
        "admitted_at_ms": admitted_at_ms,
        "access_expires_at_ms": access_expires_at_ms,
    })
}

/// Money in cents, as text.
pub fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// What an accepted command did, as one line.
pub fn effect_text(effect: &Effect) -> String {
    match effect {
        Effect::EventCreated {
            event,
            seats,
            ga_places,
        } => format!("event {event} created: {seats} seats, {ga_places} GA places"),
        Effect::EventStatusChanged { event, status } => {
            format!("event {event} is now {}", status.as_str())
        }
        Effect::Held(hold) => format!(
            "hold {} for {}: {}, amount {}, expires at {} ms",
            hold.id,
            hold.customer,
            items_text(&hold.items),
            money(hold.amount_cents),
            hold.expires_at_ms
        ),
        Effect::HoldExtended {
            hold,
            expires_at_ms,
        } => format!("hold {hold} now expires at {expires_at_ms} ms"),
        Effect::Released {
            hold,
            places_released,
        } => format!("hold {hold} released: {places_released} seat(s)/place(s) back on sale"),
        Effect::Bought(order) => format!(
            "order {} for {}: {} ticket(s), {}, amount {}",
            order.id,
            order.customer,
            order.tickets.len(),
            items_text(&order.items),
            money(order.amount_cents)
        ),
        Effect::OrderCancelled {
            order,
            places_released,
        } => format!("order {order} cancelled: {places_released} seat(s)/place(s) back on sale"),
        Effect::SeatsBlocked { seats } => format!("{seats} seat(s) blocked"),
        Effect::SeatsUnblocked { seats } => format!("{seats} seat(s) unblocked"),
        Effect::Expired { holds, more } => format!("{holds} hold(s) expired (more: {more})"),
        Effect::QueueJoined(place) => format!(
            "{} is in the waiting room of {}: {}",
            place.customer,
            place.event,
            queue_place_text(place)
        ),
        Effect::QueueSequenced {
            event,
            customers,
            more,
        } => format!("{customers} pre-sale arrival(s) of {event} sequenced (more: {more})"),
        Effect::Admitted {
            event,
            customers,
            watermark,
        } => {
            format!("{customers} customer(s) of {event} admitted; positions below {watermark} are")
        }
        Effect::AdmissionSet { event, settings } => format!(
            "waiting room of {event}: access {} ms, {} per minute, auto {}",
            settings.access_ttl_ms, settings.admit_per_minute, settings.auto
        ),
        Effect::EventSealed { event } => format!("{event} sealed for its move"),
        Effect::EventImported { event, records } => format!("{event} imported ({records} records)"),
        Effect::EventDropped { event, records } => format!("{event} dropped ({records} records)"),
    }
}

/// What an accepted command did, as JSON.
pub fn effect_json(effect: &Effect) -> Value {
    match effect {
        Effect::EventCreated {
            event,
            seats,
            ga_places,
        } => {
            json!({ "kind": "event_created", "event_id": event.to_string(), "seats": seats, "ga_places": ga_places })
        }
        Effect::EventStatusChanged { event, status } => {
            json!({ "kind": "event_status_changed", "event_id": event.to_string(), "status": status.as_str() })
        }
        Effect::Held(hold) => json!({ "kind": "held", "hold": hold_json(hold) }),
        Effect::HoldExtended {
            hold,
            expires_at_ms,
        } => {
            json!({ "kind": "hold_extended", "hold_id": hold.to_string(), "expires_at_ms": expires_at_ms })
        }
        Effect::Released {
            hold,
            places_released,
        } => {
            json!({ "kind": "released", "hold_id": hold.to_string(), "places_released": places_released })
        }
        Effect::Bought(order) => json!({ "kind": "bought", "order": order_json(order) }),
        Effect::OrderCancelled {
            order,
            places_released,
        } => {
            json!({ "kind": "order_cancelled", "order_id": order.to_string(), "places_released": places_released })
        }
        Effect::SeatsBlocked { seats } => json!({ "kind": "seats_blocked", "seats": seats }),
        Effect::SeatsUnblocked { seats } => json!({ "kind": "seats_unblocked", "seats": seats }),
        Effect::Expired { holds, more } => {
            json!({ "kind": "expired", "holds": holds, "more": more })
        }
        Effect::QueueJoined(place) => {
            json!({ "kind": "queue_joined", "place": queue_place_json(place) })
        }
        Effect::QueueSequenced {
            event,
            customers,
            more,
        } => {
            json!({ "kind": "queue_sequenced", "event_id": event.to_string(), "customers": customers, "more": more })
        }
        Effect::Admitted {
            event,
            customers,
            watermark,
        } => {
            json!({ "kind": "admitted", "event_id": event.to_string(), "customers": customers, "watermark": watermark })
        }
        Effect::AdmissionSet { event, settings } => json!({
            "kind": "admission_set",
            "event_id": event.to_string(),
            "access_ttl_ms": settings.access_ttl_ms,
            "admit_per_minute": settings.admit_per_minute,
            "auto": settings.auto,
        }),
        Effect::EventSealed { event } => {
            json!({ "kind": "event_sealed", "event_id": event.to_string() })
        }
        Effect::EventImported { event, records } => {
            json!({ "kind": "event_imported", "event_id": event.to_string(), "records": records })
        }
        Effect::EventDropped { event, records } => {
            json!({ "kind": "event_dropped", "event_id": event.to_string(), "records": records })
        }
    }
}

/// Prints a command's outcome and returns the exit it implies (0 accepted, 4 rejected).
pub fn decided(json_output: bool, request_id: &RequestId, decided: &Decided) -> Exit {
    match &decided.outcome {
        Outcome::Accepted(effect) => {
            if json_output {
                println!(
                    "{}",
                    json!({
                        "result": "accepted",
                        "request_id": request_id.to_string(),
                        "group": decided.group,
                        "log_index": decided.log_index,
                        "effect": effect_json(effect),
                    })
                );
            } else {
                println!(
                    "accepted: {} (group {}, log index {})",
                    effect_text(effect),
                    decided.group,
                    decided.log_index
                );
            }
            Exit::Ok
        }
        Outcome::Rejected(rejection) => {
            if json_output {
                println!(
                    "{}",
                    json!({
                        "result": "rejected",
                        "request_id": request_id.to_string(),
                        "group": decided.group,
                        "log_index": decided.log_index,
                        "code": rejection.code(),
                        "message": rejection.to_string(),
                        "detail": serde_json::to_value(rejection).unwrap_or(Value::Null),
                    })
                );
            } else {
                println!(
                    "rejected: {} ({}) (group {}, log index {})",
                    rejection.code(),
                    rejection,
                    decided.group,
                    decided.log_index
                );
            }
            Exit::Rejected
        }
    }
}

/// How fresh a read was, as JSON.
pub fn read_json(read: Option<&proto::ReadInfo>) -> Value {
    match read {
        None => Value::Null,
        Some(r) => json!({
            "group": r.group,
            "served_by": r.served_by,
            "linearizable": r.linearizable,
            "applied_index": r.applied_index,
            "leader_commit_index": r.leader_commit_index,
            "state_time_ms": r.state_time_ms,
            "staleness_bound_ms": r.staleness_bound_ms,
        }),
    }
}

/// How fresh a read was, as one line.
pub fn read_text(read: Option<&proto::ReadInfo>) -> String {
    match read {
        None => "read: no freshness information".into(),
        Some(r) if r.linearizable => format!(
            "read: linearizable, group {} served by node {} at applied index {}",
            r.group, r.served_by, r.applied_index
        ),
        Some(r) => format!(
            "read: STALE, group {} served by node {} at applied index {} (leader commit {}, up to {} ms behind)",
            r.group, r.served_by, r.applied_index, r.leader_commit_index, r.staleness_bound_ms
        ),
    }
}

/// Counts as JSON.
pub fn counts_json(counts: Option<&proto::Counts>) -> Value {
    let c = counts.cloned().unwrap_or_default();
    json!({ "available": c.available, "held": c.held, "sold": c.sold, "blocked": c.blocked })
}

/// Counts as text.
pub fn counts_text(counts: Option<&proto::Counts>) -> String {
    let c = counts.cloned().unwrap_or_default();
    format!(
        "available {}, held {}, sold {}, blocked {}",
        c.available, c.held, c.sold, c.blocked
    )
}

/// A proto enum's name without its prefix, lower-cased: `EVENT_STATUS_ON_SALE` -> `on_sale`.
pub fn enum_name(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_ascii_lowercase()
}

/// An order read back from the cluster, as JSON.
pub fn proto_order_json(order: &proto::Order) -> Value {
    let items = order.items.clone().unwrap_or_default();
    json!({
        "order_id": order.order_id,
        "customer_id": order.customer_id,
        "hold_id": order.hold_id,
        "items": { "seat_ids": items.seat_ids, "ga_area": items.ga_area, "quantity": items.quantity },
        "tickets": order.tickets.iter().map(|t| json!({
            "ticket_id": t.ticket_id, "seat_id": t.seat_id, "price_cents": t.price_cents,
        })).collect::<Vec<_>>(),
        "amount_cents": order.amount_cents,
        "payment_reference": order.payment_reference,
        "created_at_ms": order.created_at_ms,
        "status": enum_name(order.status().as_str_name(), "ORDER_STATUS_"),
        "cancel_reason": order.cancel_reason,
    })
}
