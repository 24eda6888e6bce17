//! What queries answer, both ways: holds, orders, events with live counts, seat maps, counts,
//! places in a waiting room, admission settings and replica audits. The node encodes views; the client decodes them when it wants typed results.

use boxoffice_statemachine::invariants::Audit;
use boxoffice_statemachine::query::{
    EventView, QueueSummary, RowView, SeatMap, SeatView, SectionView, TierView, ZoneView,
};
use boxoffice_statemachine::{
    AdmissionSettings, Counts, HoldItems, HoldView, OrderId, OrderView, PriceTier, QueueView,
    Ticket,
};

use super::status::{
    admission_from_proto, admission_to_proto, decode_enum, event_status_from_proto,
    event_status_to_proto, hold_status_from_proto, hold_status_to_proto, order_status_from_proto,
    order_status_to_proto, seat_status_from_proto, seat_status_to_proto,
};
use super::{missing, parse_customer, parse_id, parse_seats, path, to_strings, InvalidArgument};
use crate::proto;

/// Counts as the wire carries them.
pub fn counts_to_proto(counts: &Counts) -> proto::Counts {
    proto::Counts {
        available: counts.available,
        held: counts.held,
        sold: counts.sold,
        blocked: counts.blocked,
    }
}

/// Counts from the wire; absent counts are all zero (as proto3 reads an absent message).
pub fn counts_from_proto(counts: Option<&proto::Counts>) -> Counts {
    counts.map_or_else(Counts::default, |c| Counts {
        available: c.available,
        held: c.held,
        sold: c.sold,
        blocked: c.blocked,
    })
}

/// The totals of a replica's invariant audit, from an `AuditReply` (the node fills the reply's
/// counts with [`counts_to_proto`] and the other totals field by field).
pub fn audit_from_proto(reply: &proto::AuditReply) -> Audit {
    Audit {
        events: reply.events,
        counts: counts_from_proto(reply.counts.as_ref()),
        active_holds: reply.active_holds,
        confirmed_orders: reply.confirmed_orders,
    }
}

fn zone_to_proto(zone: &ZoneView) -> proto::Zone {
    proto::Zone {
        name: zone.name.clone(),
        tier: zone.tier.clone(),
        price_cents: zone.price_cents,
        capacity: zone.capacity,
        counts: Some(counts_to_proto(&zone.counts)),
    }
}

fn zone_from_proto(zone: &proto::Zone) -> ZoneView {
    ZoneView {
        name: zone.name.clone(),
        tier: zone.tier.clone(),
        price_cents: zone.price_cents,
        capacity: zone.capacity,
        counts: counts_from_proto(zone.counts.as_ref()),
    }
}

/// An event with its live counts. `group` is left 0: the server knows where the event lives and
/// sets it.
pub fn event_to_proto(view: &EventView) -> proto::Event {
    proto::Event {
        event_id: view.id.to_string(),
        name: view.name.clone(),
        venue: view.venue.clone(),
        category: view.category.clone(),
        starts_at_ms: view.starts_at_ms,
        on_sale_at_ms: view.on_sale_at_ms,
        off_sale_at_ms: view.off_sale_at_ms,
        status: event_status_to_proto(view.status) as i32,
        gated: view.gated,
        limits: Some(super::limits_to_proto(&view.limits)),
        tiers: view
            .tiers
            .iter()
            .map(|tier| proto::TierCounts {
                name: tier.name.clone(),
                price_cents: tier.price_cents,
                counts: Some(counts_to_proto(&tier.counts)),
            })
            .collect(),
        sections: view.sections.iter().map(zone_to_proto).collect(),
        ga_areas: view.ga_areas.iter().map(zone_to_proto).collect(),
        capacity: view.capacity,
        counts: Some(counts_to_proto(&view.counts)),
        group: 0,
    }
}

/// An event from the wire. Its price tiers are those of its tier counts (the server sends one per
/// tier, in order); `group` is not part of the view.
pub fn event_from_proto(event: &proto::Event) -> Result<EventView, InvalidArgument> {
    let limits = event
        .limits
        .as_ref()
        .ok_or_else(|| missing("event.limits"))?;
    let tiers: Vec<TierView> = event
        .tiers
        .iter()
        .map(|tier| TierView {
            name: tier.name.clone(),
            price_cents: tier.price_cents,
            counts: counts_from_proto(tier.counts.as_ref()),
        })
        .collect();
    Ok(EventView {
        id: parse_id("event.event_id", &event.event_id)?,
        name: event.name.clone(),
        venue: event.venue.clone(),
        category: event.category.clone(),
        starts_at_ms: event.starts_at_ms,
        on_sale_at_ms: event.on_sale_at_ms,
        off_sale_at_ms: event.off_sale_at_ms,
        status: decode_enum("event.status", event.status, event_status_from_proto)?,
        gated: event.gated,
        limits: super::limits_from_proto(limits),
        price_tiers: tiers
            .iter()
            .map(|tier| PriceTier {
                name: tier.name.clone(),
                price_cents: tier.price_cents,
            })
            .collect(),
        tiers,
        sections: event.sections.iter().map(zone_from_proto).collect(),
        ga_areas: event.ga_areas.iter().map(zone_from_proto).collect(),
        capacity: event.capacity,
        counts: counts_from_proto(event.counts.as_ref()),
    })
}

/// A seat map's sections and general-admission areas, for a `SeatMapReply` (whose `event_id` and
/// `read` the server sets).
pub fn seat_map_to_proto(map: &SeatMap) -> (Vec<proto::Section>, Vec<proto::Zone>) {
    let seat = |seat: &SeatView| proto::Seat {
        seat_id: seat.id.to_string(),
        number: seat.number,
        status: seat_status_to_proto(seat.status) as i32,
        tier: seat.tier.clone(),
        price_cents: seat.price_cents,
        accessible: seat.accessible,
    };
    let sections = map
        .sections
        .iter()
        .map(|section| proto::Section {
            name: section.name.clone(),
            rows: section
                .rows
                .iter()
                .map(|row| proto::Row {
                    label: row.label.clone(),
                    seats: row.seats.iter().map(seat).collect(),
                })
                .collect(),
        })
        .collect();
    (sections, map.ga_areas.iter().map(zone_to_proto).collect())
}

/// A seat map from the wire.
pub fn seat_map_from_proto(reply: &proto::SeatMapReply) -> Result<SeatMap, InvalidArgument> {
    let mut sections = Vec::with_capacity(reply.sections.len());
    for section in &reply.sections {
        let mut rows = Vec::with_capacity(section.rows.len());
        for row in &section.rows {
            let mut seats = Vec::with_capacity(row.seats.len());
            for seat in &row.seats {
                seats.push(SeatView {
                    id: parse_id("sections.rows.seats.seat_id", &seat.seat_id)?,
                    number: seat.number,
                    status: decode_enum(
                        "sections.rows.seats.status",
                        seat.status,
                        seat_status_from_proto,
                    )?,
                    tier: seat.tier.clone(),
                    price_cents: seat.price_cents,
                    accessible: seat.accessible,
                });
            }
            rows.push(RowView {
                label: row.label.clone(),
                seats,
            });
        }
        sections.push(SectionView {
            name: section.name.clone(),
            rows,
        });
    }
    Ok(SeatMap {
        event: parse_id("event_id", &reply.event_id)?,
        sections,
        ga_areas: reply.ga_areas.iter().map(zone_from_proto).collect(),
    })
}

fn items_to_proto(items: &HoldItems) -> proto::Items {
    match items {
        HoldItems::Seats(seats) => proto::Items {
            seat_ids: to_strings(seats),
            ga_area: None,
            quantity: items.quantity(),
        },
        HoldItems::Places { area, quantity } => proto::Items {
            seat_ids: Vec::new(),
            ga_area: Some(u32::from(*area)),
            quantity: *quantity,
        },
    }
}

/// The items at `at`: places in an area (by index) when `ga_area` is set, else seats whose count
/// must be `quantity`.
fn items_from_proto(at: &str, items: Option<&proto::Items>) -> Result<HoldItems, InvalidArgument> {
    let items = items.ok_or_else(|| missing(at))?;
    match items.ga_area {
        Some(area) => {
            if !items.seat_ids.is_empty() {
                return Err(InvalidArgument::new(
                    path(at, "seat_ids"),
                    "must be empty for general-admission places",
                ));
            }
            Ok(HoldItems::Places {
                area: u16::try_from(area).map_err(|_| {
                    InvalidArgument::new(path(at, "ga_area"), format!("{area} is out of range"))
                })?,
                quantity: items.quantity,
            })
        }
        None => {
            let seats = parse_seats(&path(at, "seat_ids"), &items.seat_ids)?;
            if u32::try_from(seats.len()).ok() != Some(items.quantity) {
                return Err(InvalidArgument::new(
                    path(at, "quantity"),
                    format!("is {} for {} seats", items.quantity, seats.len()),
                ));
            }
            Ok(HoldItems::Seats(seats))
        }
    }
}

/// A hold as the wire carries it. A purchased hold names its order by full id (the hold's event
/// and the order's number).
pub fn hold_to_proto(hold: &HoldView) -> proto::Hold {
    let (status, order) = hold_status_to_proto(hold.status);
    proto::Hold {
        hold_id: hold.id.to_string(),
        customer_id: hold.customer.to_string(),
        items: Some(items_to_proto(&hold.items)),
        amount_cents: hold.amount_cents,
        created_at_ms: hold.created_at_ms,
        expires_at_ms: hold.expires_at_ms,
        status: status as i32,
        order_id: order.map(|number| {
            OrderId {
                event: hold.id.event.clone(),
                number,
            }
            .to_string()
        }),
    }
}

/// A hold from the wire (a `HoldReply`'s hold).
pub fn hold_from_proto(hold: &proto::Hold) -> Result<HoldView, InvalidArgument> {
    hold_at("hold", hold)
}

/// The hold at `at` (`hold`, or `accepted.held` inside an outcome).
pub(super) fn hold_at(at: &str, hold: &proto::Hold) -> Result<HoldView, InvalidArgument> {
    let id = parse_id::<boxoffice_statemachine::HoldId>(&path(at, "hold_id"), &hold.hold_id)?;
    let status = hold_status_from_proto(&path(at, "status"), hold.status, || {
        let field = path(at, "order_id");
        let text = hold.order_id.as_deref().ok_or_else(|| missing(&field))?;
        let order: OrderId = parse_id(&field, text)?;
        if order.event != id.event {
            return Err(InvalidArgument::new(
                field,
                format!("order {order} is not of the hold's event {}", id.event),
            ));
        }
        Ok(order.number)
    })?;
    Ok(HoldView {
        customer: parse_customer(&path(at, "customer_id"), &hold.customer_id)?,
        items: items_from_proto(&path(at, "items"), hold.items.as_ref())?,
        amount_cents: hold.amount_cents,
        created_at_ms: hold.created_at_ms,
        expires_at_ms: hold.expires_at_ms,
        status,
        id,
    })
}

/// An order as the wire carries it; each ticket's id is `{order}~t{number}`.
pub fn order_to_proto(order: &OrderView) -> proto::Order {
    proto::Order {
        order_id: order.id.to_string(),
        customer_id: order.customer.to_string(),
        hold_id: order.hold.to_string(),
        items: Some(items_to_proto(&order.items)),
        tickets: order
            .tickets
            .iter()
            .map(|ticket| proto::Ticket {
                ticket_id: ticket.id(&order.id).to_string(),
                seat_id: ticket.seat.map(|seat| seat.to_string()),
                price_cents: ticket.price_cents,
            })
            .collect(),
        amount_cents: order.amount_cents,
        payment_reference: order.payment_reference.clone(),
        created_at_ms: order.created_at_ms,
        status: order_status_to_proto(order.status) as i32,
        cancel_reason: order.cancel_reason.clone(),
    }
}

/// An order from the wire (an `OrderReply`'s order, or one of an `OrdersReply`).
pub fn order_from_proto(order: &proto::Order) -> Result<OrderView, InvalidArgument> {
    order_at("order", order)
}

/// The order at `at` (`order`, or `accepted.bought` inside an outcome).
pub(super) fn order_at(at: &str, order: &proto::Order) -> Result<OrderView, InvalidArgument> {
    let id: OrderId = parse_id(&path(at, "order_id"), &order.order_id)?;
    let hold: boxoffice_statemachine::HoldId = parse_id(&path(at, "hold_id"), &order.hold_id)?;
    if hold.event != id.event {
        return Err(InvalidArgument::new(
            path(at, "hold_id"),
            format!("hold {hold} is not of the order's event {}", id.event),
        ));
    }
    let ticket_prefix = format!("{id}~t");
    let mut tickets = Vec::with_capacity(order.tickets.len());
    for ticket in &order.tickets {
        let number = ticket
            .ticket_id
            .strip_prefix(&ticket_prefix)
            .and_then(|number| number.parse::<u32>().ok())
            .ok_or_else(|| {
                InvalidArgument::new(
                    path(at, "tickets.ticket_id"),
                    format!("{:?} is not a ticket of order {id}", ticket.ticket_id),
                )
            })?;
        let seat = match &ticket.seat_id {
            Some(seat) => Some(parse_id(&path(at, "tickets.seat_id"), seat)?),
            None => None,
        };
        tickets.push(Ticket {
            number,
            seat,
            price_cents: ticket.price_cents,
        });
    }
    Ok(OrderView {
        customer: parse_customer(&path(at, "customer_id"), &order.customer_id)?,
        hold,
        items: items_from_proto(&path(at, "items"), order.items.as_ref())?,
        tickets,
        amount_cents: order.amount_cents,
        payment_reference: order.payment_reference.clone(),
        created_at_ms: order.created_at_ms,
        status: decode_enum(&path(at, "status"), order.status, order_status_from_proto)?,
        cancel_reason: order.cancel_reason.clone(),
        id,
    })
}

/// A place in a waiting room as the wire carries it.
pub fn queue_place_to_proto(place: &QueueView) -> proto::QueuePlace {
    let (admission, admitted_at_ms, access_expires_at_ms) = admission_to_proto(place.admission);
    proto::QueuePlace {
        event_id: place.event.to_string(),
        customer_id: place.customer.to_string(),
        joined_at_ms: place.joined_at_ms,
        presale: place.presale,
        position: place.position,
        ahead: place.ahead,
        admission: admission as i32,
        admitted_at_ms,
        access_expires_at_ms,
    }
}

/// A place in a waiting room from the wire.
pub fn queue_place_from_proto(place: &proto::QueuePlace) -> Result<QueueView, InvalidArgument> {
    queue_place_at("place", place)
}

/// The place at `at` (`place`, or `accepted.queue_joined` inside an outcome).
pub(super) fn queue_place_at(
    at: &str,
    place: &proto::QueuePlace,
) -> Result<QueueView, InvalidArgument> {
    Ok(QueueView {
        event: parse_id(&path(at, "event_id"), &place.event_id)?,
        customer: parse_customer(&path(at, "customer_id"), &place.customer_id)?,
        joined_at_ms: place.joined_at_ms,
        presale: place.presale,
        position: place.position,
        ahead: place.ahead,
        admission: admission_from_proto(
            &path(at, "admission"),
            place.admission,
            place.admitted_at_ms,
            place.access_expires_at_ms,
        )?,
    })
}

/// Waiting-room settings as the wire carries them.
pub fn admission_settings_to_proto(settings: &AdmissionSettings) -> proto::AdmissionSettings {
    proto::AdmissionSettings {
        access_ttl_ms: settings.access_ttl_ms,
        admit_per_minute: settings.admit_per_minute,
        auto: settings.auto,
    }
}

/// A waiting room's totals as the wire carries them.
pub fn queue_summary_to_proto(summary: &QueueSummary) -> proto::QueueSummary {
    proto::QueueSummary {
        gated: summary.gated,
        presale_total: summary.presale_total,
        presale_sequenced: summary.presale_sequenced,
        later_count: summary.later_count,
        watermark: summary.watermark,
        admissible: summary.admissible,
        settings: Some(admission_settings_to_proto(&summary.settings)),
    }
}

/// Waiting-room settings from the wire (the state machine checks their bounds).
pub fn admission_settings_from_proto(settings: &proto::AdmissionSettings) -> AdmissionSettings {
    AdmissionSettings {
        access_ttl_ms: settings.access_ttl_ms,
        admit_per_minute: settings.admit_per_minute,
        auto: settings.auto,
    }
}
