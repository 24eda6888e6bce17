//! Conversions between the public API's protobuf messages and the state machine's types, shared by
//! the node (requests in, outcomes and views out) and the client (the reverse). Malformed wire
//! input is an `InvalidArgument` naming the field; nothing here panics on input.

use std::str::FromStr;

use boxoffice_statemachine::command::{
    HoldItems, HoldStatus, HoldView, Limit, OrderStatus, OrderView, Scope, Ticket,
};
use boxoffice_statemachine::event::{
    Counts, EventLimits, EventStatus, GaAreaSpec, PriceTier, RowSeats, RowSpec, SectionSpec,
    StatusChange,
};
use boxoffice_statemachine::query::{EventView, SeatMap, SeatStatus, ZoneView};
use boxoffice_statemachine::{
    Action, CustomerId, Effect, EventId, EventSpec, HoldId, OrderId, Outcome, Rejection, SeatId,
    Selection,
};

use crate::proto;

/// Wire input that does not describe a valid request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct InvalidArgument {
    pub field: String,
    pub reason: String,
}

fn invalid(field: &str, reason: impl ToString) -> InvalidArgument {
    InvalidArgument {
        field: field.to_string(),
        reason: reason.to_string(),
    }
}

fn id<T: FromStr>(field: &str, value: &str) -> Result<T, InvalidArgument>
where
    T::Err: ToString,
{
    value.parse().map_err(|e: T::Err| invalid(field, e))
}

fn event_id(field: &str, value: &str) -> Result<EventId, InvalidArgument> {
    EventId::new(value).map_err(|e| invalid(field, e))
}

fn customer_id(value: &str) -> Result<CustomerId, InvalidArgument> {
    CustomerId::new(value).map_err(|e| invalid("customer_id", e))
}

fn seat_ids(field: &str, values: &[String]) -> Result<Vec<SeatId>, InvalidArgument> {
    values.iter().map(|s| id::<SeatId>(field, s)).collect()
}

fn strings<T: ToString>(values: &[T]) -> Vec<String> {
    values.iter().map(ToString::to_string).collect()
}

// ---- requests --------------------------------------------------------------------------------

/// A command request from the wire: its options and the state machine action it asks for.
pub trait CommandRequest: Send + 'static {
    fn options(&self) -> Option<&proto::CommandOptions>;
    fn action(&self) -> Result<Action, InvalidArgument>;
}

impl CommandRequest for proto::CreateEventRequest {
    fn options(&self) -> Option<&proto::CommandOptions> {
        self.options.as_ref()
    }
    fn action(&self) -> Result<Action, InvalidArgument> {
        let spec = self
            .spec
            .as_ref()
            .ok_or_else(|| invalid("spec", "is required"))?;
        Ok(Action::CreateEvent(event_spec_from_proto(spec)?))
    }
}

impl CommandRequest for proto::SetEventStatusRequest {
    fn options(&self) -> Option<&proto::CommandOptions> {
        self.options.as_ref()
    }
    fn action(&self) -> Result<Action, InvalidArgument> {
        let change = match self.change() {
            proto::StatusChange::Unspecified => return Err(invalid("change", "is required")),
            proto::StatusChange::Open => StatusChange::Open,
            proto::StatusChange::Pause => StatusChange::Pause,
            proto::StatusChange::Cancel => StatusChange::Cancel,
            proto::StatusChange::End => StatusChange::End,
        };
        Ok(Action::SetEventStatus {
            event: event_id("event_id", &self.event_id)?,
            change,
        })
    }
}

impl CommandRequest for proto::HoldRequest {
    fn options(&self) -> Option<&proto::CommandOptions> {
        self.options.as_ref()
    }
    fn action(&self) -> Result<Action, InvalidArgument> {
        let selection = self
            .selection
            .as_ref()
            .and_then(|s| s.kind.as_ref())
            .ok_or_else(|| invalid("selection", "is required"))?;
        let selection = match selection {
            proto::selection::Kind::Seats(list) => {
                Selection::Seats(seat_ids("selection.seats", &list.seat_ids)?)
            }
            proto::selection::Kind::GeneralAdmission(ga) => Selection::GeneralAdmission {
                area: ga.area.clone(),
                quantity: ga.quantity,
            },
            proto::selection::Kind::BestAvailable(best) => {
                let scope = match &best.scope {
                    Some(proto::best_available::Scope::Section(s)) => Scope::Section(s.clone()),
                    Some(proto::best_available::Scope::Tier(t)) => Scope::Tier(t.clone()),
                    None => return Err(invalid("selection.best_available.scope", "is required")),
                };
                Selection::BestAvailable {
                    scope,
                    quantity: best.quantity,
                }
            }
        };
        Ok(Action::Hold {
            event: event_id("event_id", &self.event_id)?,
            customer: customer_id(&self.customer_id)?,
            selection,
            ttl_ms: self.ttl_ms,
        })
    }
}

impl CommandRequest for proto::ExtendHoldRequest {
    fn options(&self) -> Option<&proto::CommandOptions> {
        self.options.as_ref()
    }
    fn action(&self) -> Result<Action, InvalidArgument> {
        Ok(Action::ExtendHold {
            hold: id("hold_id", &self.hold_id)?,
            customer: customer_id(&self.customer_id)?,
            ttl_ms: self.ttl_ms,
        })
    }
}

impl CommandRequest for proto::ReleaseRequest {
    fn options(&self) -> Option<&proto::CommandOptions> {
        self.options.as_ref()
    }
    fn action(&self) -> Result<Action, InvalidArgument> {
        Ok(Action::Release {
            hold: id("hold_id", &self.hold_id)?,
            customer: customer_id(&self.customer_id)?,
        })
    }
}

impl CommandRequest for proto::BuyRequest {
    fn options(&self) -> Option<&proto::CommandOptions> {
        self.options.as_ref()
    }
    fn action(&self) -> Result<Action, InvalidArgument> {
        Ok(Action::Buy {
            hold: id("hold_id", &self.hold_id)?,
            customer: customer_id(&self.customer_id)?,
            payment_reference: self.payment_reference.clone(),
        })
    }
}

impl CommandRequest for proto::CancelOrderRequest {
    fn options(&self) -> Option<&proto::CommandOptions> {
        self.options.as_ref()
    }
    fn action(&self) -> Result<Action, InvalidArgument> {
        Ok(Action::CancelOrder {
            order: id("order_id", &self.order_id)?,
            reason: self.reason.clone(),
        })
    }
}

/// A `SeatsRequest` with the verb it arrived under (BlockSeats or UnblockSeats).
#[derive(Debug, Clone)]
pub struct SeatsCommand {
    pub request: proto::SeatsRequest,
    pub block: bool,
}

impl CommandRequest for SeatsCommand {
    fn options(&self) -> Option<&proto::CommandOptions> {
        self.request.options.as_ref()
    }
    fn action(&self) -> Result<Action, InvalidArgument> {
        let event = event_id("event_id", &self.request.event_id)?;
        let seats = seat_ids("seat_ids", &self.request.seat_ids)?;
        Ok(if self.block {
            Action::BlockSeats { event, seats }
        } else {
            Action::UnblockSeats { event, seats }
        })
    }
}

/// A selection as the wire carries it.
pub fn selection_to_proto(selection: &Selection) -> proto::Selection {
    let kind = match selection {
        Selection::Seats(seats) => proto::selection::Kind::Seats(proto::SeatList {
            seat_ids: strings(seats),
        }),
        Selection::GeneralAdmission { area, quantity } => {
            proto::selection::Kind::GeneralAdmission(proto::GeneralAdmission {
                area: area.clone(),
                quantity: *quantity,
            })
        }
        Selection::BestAvailable { scope, quantity } => {
            proto::selection::Kind::BestAvailable(proto::BestAvailable {
                scope: Some(match scope {
                    Scope::Section(s) => proto::best_available::Scope::Section(s.clone()),
                    Scope::Tier(t) => proto::best_available::Scope::Tier(t.clone()),
                }),
                quantity: *quantity,
            })
        }
    };
    proto::Selection { kind: Some(kind) }
}

/// A status change as the wire carries it.
pub fn status_change_to_proto(change: StatusChange) -> proto::StatusChange {
    match change {
        StatusChange::Open => proto::StatusChange::Open,
        StatusChange::Pause => proto::StatusChange::Pause,
        StatusChange::Cancel => proto::StatusChange::Cancel,
        StatusChange::End => proto::StatusChange::End,
    }
}

// ---- event specs -----------------------------------------------------------------------------

fn limits_to_proto(limits: &EventLimits) -> proto::EventLimits {
    proto::EventLimits {
        seats_per_hold_max: limits.seats_per_hold_max,
        seats_per_customer_max: limits.seats_per_customer_max,
        holds_per_customer_max: limits.holds_per_customer_max,
        hold_ttl_ms: limits.hold_ttl_ms,
        hold_lifetime_ms_max: limits.hold_lifetime_ms_max,
    }
}

fn limits_from_proto(limits: &proto::EventLimits) -> EventLimits {
    EventLimits {
        seats_per_hold_max: limits.seats_per_hold_max,
        seats_per_customer_max: limits.seats_per_customer_max,
        holds_per_customer_max: limits.holds_per_customer_max,
        hold_ttl_ms: limits.hold_ttl_ms,
        hold_lifetime_ms_max: limits.hold_lifetime_ms_max,
    }
}

fn tier_to_proto(tier: &PriceTier) -> proto::PriceTier {
    proto::PriceTier {
        name: tier.name.clone(),
        price_cents: tier.price_cents,
    }
}

/// An event layout as the wire carries it.
pub fn event_spec_to_proto(spec: &EventSpec) -> proto::EventSpec {
    proto::EventSpec {
        event_id: spec.id.to_string(),
        name: spec.name.clone(),
        venue: spec.venue.clone(),
        category: spec.category.clone(),
        starts_at_ms: spec.starts_at_ms,
        on_sale_at_ms: spec.on_sale_at_ms,
        off_sale_at_ms: spec.off_sale_at_ms,
        price_tiers: spec.price_tiers.iter().map(tier_to_proto).collect(),
        sections: spec
            .sections
            .iter()
            .map(|section| proto::SectionSpec {
                name: section.name.clone(),
                tier: section.tier.clone(),
                rows: section
                    .rows
                    .iter()
                    .map(|row| {
                        let (seat_count, seat_numbers) = match &row.seats {
                            RowSeats::Count(n) => (*n, Vec::new()),
                            RowSeats::Numbers(numbers) => (0, numbers.clone()),
                        };
                        proto::RowSpec {
                            label: row.label.clone(),
                            seat_count,
                            seat_numbers,
                            accessible: row.accessible.clone(),
                            tier: row.tier.clone(),
                        }
                    })
                    .collect(),
            })
            .collect(),
        ga_areas: spec
            .ga_areas
            .iter()
            .map(|area| proto::GaAreaSpec {
                name: area.name.clone(),
                tier: area.tier.clone(),
                capacity: area.capacity,
            })
            .collect(),
        limits: Some(limits_to_proto(&spec.limits)),
        gated: spec.gated,
    }
}

/// An event layout from the wire; the layout's own rules are checked by the state machine.
pub fn event_spec_from_proto(spec: &proto::EventSpec) -> Result<EventSpec, InvalidArgument> {
    let mut sections = Vec::with_capacity(spec.sections.len());
    for section in &spec.sections {
        let mut rows = Vec::with_capacity(section.rows.len());
        for row in &section.rows {
            let seats = match (row.seat_count, row.seat_numbers.is_empty()) {
                (0, false) => RowSeats::Numbers(row.seat_numbers.clone()),
                (n, true) if n > 0 => RowSeats::Count(n),
                _ => {
                    return Err(invalid(
                        "sections.rows",
                        format!(
                            "row {:?} of section {:?} needs either seat_count or seat_numbers",
                            row.label, section.name
                        ),
                    ))
                }
            };
            rows.push(RowSpec {
                label: row.label.clone(),
                seats,
                accessible: row.accessible.clone(),
                tier: row.tier.clone(),
            });
        }
        sections.push(SectionSpec {
            name: section.name.clone(),
            tier: section.tier.clone(),
            rows,
        });
    }
    Ok(EventSpec {
        id: event_id("spec.event_id", &spec.event_id)?,
        name: spec.name.clone(),
        venue: spec.venue.clone(),
        category: spec.category.clone(),
        starts_at_ms: spec.starts_at_ms,
        on_sale_at_ms: spec.on_sale_at_ms,
        off_sale_at_ms: spec.off_sale_at_ms,
        price_tiers: spec
            .price_tiers
            .iter()
            .map(|t| PriceTier {
                name: t.name.clone(),
                price_cents: t.price_cents,
            })
            .collect(),
        sections,
        ga_areas: spec
            .ga_areas
            .iter()
            .map(|a| GaAreaSpec {
                name: a.name.clone(),
                tier: a.tier.clone(),
                capacity: a.capacity,
            })
            .collect(),
        limits: spec
            .limits
            .as_ref()
            .map_or_else(EventLimits::default, limits_from_proto),
        gated: spec.gated,
    })
}

// ---- statuses and counts ---------------------------------------------------------------------

pub fn event_status_to_proto(status: EventStatus) -> proto::EventStatus {
    match status {
        EventStatus::Scheduled => proto::EventStatus::Scheduled,
        EventStatus::OnSale => proto::EventStatus::OnSale,
        EventStatus::Paused => proto::EventStatus::Paused,
        EventStatus::SoldOut => proto::EventStatus::SoldOut,
        EventStatus::Cancelled => proto::EventStatus::Cancelled,
        EventStatus::Ended => proto::EventStatus::Ended,
    }
}

fn event_status_from_proto(status: proto::EventStatus) -> Result<EventStatus, InvalidArgument> {
    Ok(match status {
        proto::EventStatus::Unspecified => return Err(invalid("event_status", "is required")),
        proto::EventStatus::Scheduled => EventStatus::Scheduled,
        proto::EventStatus::OnSale => EventStatus::OnSale,
        proto::EventStatus::Paused => EventStatus::Paused,
        proto::EventStatus::SoldOut => EventStatus::SoldOut,
        proto::EventStatus::Cancelled => EventStatus::Cancelled,
        proto::EventStatus::Ended => EventStatus::Ended,
    })
}

fn status_change_from_proto(change: proto::StatusChange) -> Result<StatusChange, InvalidArgument> {
    Ok(match change {
        proto::StatusChange::Unspecified => return Err(invalid("change", "is required")),
        proto::StatusChange::Open => StatusChange::Open,
        proto::StatusChange::Pause => StatusChange::Pause,
        proto::StatusChange::Cancel => StatusChange::Cancel,
        proto::StatusChange::End => StatusChange::End,
    })
}

pub fn counts_to_proto(counts: &Counts) -> proto::Counts {
    proto::Counts {
        available: counts.available,
        held: counts.held,
        sold: counts.sold,
        blocked: counts.blocked,
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

/// An event with its live counts (the group is the caller's to fill in).
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
        limits: Some(limits_to_proto(&view.limits)),
        tiers: view
            .tiers
            .iter()
            .map(|t| proto::TierCounts {
                name: t.name.clone(),
                price_cents: t.price_cents,
                counts: Some(counts_to_proto(&t.counts)),
            })
            .collect(),
        sections: view.sections.iter().map(zone_to_proto).collect(),
        ga_areas: view.ga_areas.iter().map(zone_to_proto).collect(),
        capacity: view.capacity,
        counts: Some(counts_to_proto(&view.counts)),
        group: 0,
    }
}

/// A seat map's sections and general-admission areas.
pub fn seat_map_to_proto(map: &SeatMap) -> (Vec<proto::Section>, Vec<proto::Zone>) {
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
                    seats: row
                        .seats
                        .iter()
                        .map(|seat| proto::Seat {
                            seat_id: seat.id.to_string(),
                            number: seat.number,
                            status: match seat.status {
                                SeatStatus::Available => proto::SeatStatus::Available,
                                SeatStatus::Held => proto::SeatStatus::Held,
                                SeatStatus::Sold => proto::SeatStatus::Sold,
                                SeatStatus::Blocked => proto::SeatStatus::Blocked,
                            } as i32,
                            tier: seat.tier.clone(),
                            price_cents: seat.price_cents,
                            accessible: seat.accessible,
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    (sections, map.ga_areas.iter().map(zone_to_proto).collect())
}

// ---- holds and orders ------------------------------------------------------------------------

fn items_to_proto(items: &HoldItems) -> proto::Items {
    match items {
        HoldItems::Seats(seats) => proto::Items {
            seat_ids: strings(seats),
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

fn items_from_proto(items: Option<&proto::Items>) -> Result<HoldItems, InvalidArgument> {
    let items = items.ok_or_else(|| invalid("items", "is required"))?;
    match items.ga_area {
        Some(area) => Ok(HoldItems::Places {
            area: u16::try_from(area).map_err(|_| invalid("items.ga_area", "out of range"))?,
            quantity: items.quantity,
        }),
        None => Ok(HoldItems::Seats(seat_ids(
            "items.seat_ids",
            &items.seat_ids,
        )?)),
    }
}

pub fn hold_to_proto(hold: &HoldView) -> proto::Hold {
    let (status, order_id) = match hold.status {
        HoldStatus::Active => (proto::HoldStatus::Active, None),
        HoldStatus::Released => (proto::HoldStatus::Released, None),
        HoldStatus::Expired => (proto::HoldStatus::Expired, None),
        HoldStatus::Purchased { order } => (
            proto::HoldStatus::Purchased,
            Some(
                OrderId {
                    event: hold.id.event.clone(),
                    number: order,
                }
                .to_string(),
            ),
        ),
    };
    proto::Hold {
        hold_id: hold.id.to_string(),
        customer_id: hold.customer.to_string(),
        items: Some(items_to_proto(&hold.items)),
        amount_cents: hold.amount_cents,
        created_at_ms: hold.created_at_ms,
        expires_at_ms: hold.expires_at_ms,
        status: status as i32,
        order_id,
    }
}

pub fn hold_from_proto(hold: &proto::Hold) -> Result<HoldView, InvalidArgument> {
    let status = match hold.status() {
        proto::HoldStatus::Unspecified => return Err(invalid("hold.status", "is required")),
        proto::HoldStatus::Active => HoldStatus::Active,
        proto::HoldStatus::Released => HoldStatus::Released,
        proto::HoldStatus::Expired => HoldStatus::Expired,
        proto::HoldStatus::Purchased => {
            let order = hold
                .order_id
                .as_deref()
                .ok_or_else(|| invalid("hold.order_id", "is required once purchased"))?;
            HoldStatus::Purchased {
                order: id::<OrderId>("hold.order_id", order)?.number,
            }
        }
    };
    Ok(HoldView {
        id: id::<HoldId>("hold.hold_id", &hold.hold_id)?,
        customer: customer_id(&hold.customer_id)?,
        items: items_from_proto(hold.items.as_ref())?,
        amount_cents: hold.amount_cents,
        created_at_ms: hold.created_at_ms,
        expires_at_ms: hold.expires_at_ms,
        status,
    })
}

pub fn order_to_proto(order: &OrderView) -> proto::Order {
    proto::Order {
        order_id: order.id.to_string(),
        customer_id: order.customer.to_string(),
        hold_id: order.hold.to_string(),
        items: Some(items_to_proto(&order.items)),
        tickets: order
            .tickets
            .iter()
            .map(|t| proto::Ticket {
                ticket_id: t.id(&order.id).to_string(),
                seat_id: t.seat.map(|s| s.to_string()),
                price_cents: t.price_cents,
            })
            .collect(),
        amount_cents: order.amount_cents,
        payment_reference: order.payment_reference.clone(),
        created_at_ms: order.created_at_ms,
        status: match order.status {
            OrderStatus::Confirmed => proto::OrderStatus::Confirmed,
            OrderStatus::Cancelled => proto::OrderStatus::Cancelled,
        } as i32,
        cancel_reason: order.cancel_reason.clone(),
    }
}

pub fn order_from_proto(order: &proto::Order) -> Result<OrderView, InvalidArgument> {
    let order_id = id::<OrderId>("order.order_id", &order.order_id)?;
    let mut tickets = Vec::with_capacity(order.tickets.len());
    for ticket in &order.tickets {
        let number = ticket
            .ticket_id
            .rsplit_once("~t")
            .and_then(|(_, n)| n.parse().ok())
            .ok_or_else(|| invalid("order.tickets.ticket_id", &ticket.ticket_id))?;
        tickets.push(Ticket {
            number,
            seat: ticket
                .seat_id
                .as_deref()
                .map(|s| id::<SeatId>("order.tickets.seat_id", s))
                .transpose()?,
            price_cents: ticket.price_cents,
        });
    }
    Ok(OrderView {
        customer: customer_id(&order.customer_id)?,
        hold: id::<HoldId>("order.hold_id", &order.hold_id)?,
        items: items_from_proto(order.items.as_ref())?,
        tickets,
        amount_cents: order.amount_cents,
        payment_reference: order.payment_reference.clone(),
        created_at_ms: order.created_at_ms,
        status: match order.status() {
            proto::OrderStatus::Unspecified => return Err(invalid("order.status", "is required")),
            proto::OrderStatus::Confirmed => OrderStatus::Confirmed,
            proto::OrderStatus::Cancelled => OrderStatus::Cancelled,
        },
        cancel_reason: order.cancel_reason.clone(),
        id: order_id,
    })
}

// ---- outcomes --------------------------------------------------------------------------------

fn limit_name(limit: Limit) -> &'static str {
    limit.as_str()
}

fn limit_from_name(name: &str) -> Result<Limit, InvalidArgument> {
    [
        Limit::SeatsPerHold,
        Limit::SeatsPerCustomer,
        Limit::HoldsPerCustomer,
        Limit::HoldLifetime,
    ]
    .into_iter()
    .find(|l| l.as_str() == name)
    .ok_or_else(|| invalid("rejection.limit", name))
}

fn rejection_to_proto(rejection: &Rejection) -> proto::Rejection {
    let mut wire = proto::Rejection {
        code: rejection.code().to_string(),
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
            wire.seat_ids = strings(seats);
        }
        Rejection::InsufficientInventory {
            requested,
            available,
        } => {
            wire.requested = u64::from(*requested);
            wire.available = u64::from(*available);
        }
        Rejection::HoldNotActive { status } => {
            let (status, order) = match status {
                HoldStatus::Active => (proto::HoldStatus::Active, None),
                HoldStatus::Released => (proto::HoldStatus::Released, None),
                HoldStatus::Expired => (proto::HoldStatus::Expired, None),
                HoldStatus::Purchased { order } => (proto::HoldStatus::Purchased, Some(*order)),
            };
            wire.hold_status = status as i32;
            // The order number of a purchased hold rides in `requested`.
            wire.requested = order.unwrap_or(0);
        }
        Rejection::LimitExceeded {
            limit,
            max,
            requested,
        } => {
            wire.limit = limit_name(*limit).to_string();
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
        | Rejection::RequestIdReused => {}
    }
    wire
}

fn small(field: &str, value: u64) -> Result<u32, InvalidArgument> {
    u32::try_from(value).map_err(|_| invalid(field, "out of range"))
}

fn rejection_from_proto(wire: &proto::Rejection) -> Result<Rejection, InvalidArgument> {
    Ok(match wire.code.as_str() {
        "INVALID_REQUEST" => Rejection::InvalidRequest {
            reason: wire.reason.clone(),
        },
        "UNKNOWN_EVENT" => Rejection::UnknownEvent,
        "EVENT_EXISTS" => Rejection::EventExists,
        "EVENT_NOT_ON_SALE" => Rejection::EventNotOnSale {
            status: event_status_from_proto(wire.event_status())?,
        },
        "INVALID_TRANSITION" => Rejection::InvalidTransition {
            from: event_status_from_proto(wire.event_status())?,
            change: status_change_from_proto(wire.change())?,
        },
        "UNKNOWN_SEAT" => Rejection::UnknownSeat {
            seats: seat_ids("rejection.seat_ids", &wire.seat_ids)?,
        },
        "SEAT_UNAVAILABLE" => Rejection::SeatUnavailable {
            seats: seat_ids("rejection.seat_ids", &wire.seat_ids)?,
        },
        "INSUFFICIENT_INVENTORY" => Rejection::InsufficientInventory {
            requested: small("rejection.requested", wire.requested)?,
            available: small("rejection.available", wire.available)?,
        },
        "UNKNOWN_HOLD" => Rejection::UnknownHold,
        "HOLD_EXPIRED" => Rejection::HoldExpired,
        "HOLD_NOT_ACTIVE" => Rejection::HoldNotActive {
            status: match wire.hold_status() {
                proto::HoldStatus::Unspecified => {
                    return Err(invalid("rejection.hold_status", "is required"))
                }
                proto::HoldStatus::Active => HoldStatus::Active,
                proto::HoldStatus::Released => HoldStatus::Released,
                proto::HoldStatus::Expired => HoldStatus::Expired,
                proto::HoldStatus::Purchased => HoldStatus::Purchased {
                    order: wire.requested,
                },
            },
        },
        "NOT_HOLDER" => Rejection::NotHolder,
        "LIMIT_EXCEEDED" => Rejection::LimitExceeded {
            limit: limit_from_name(&wire.limit)?,
            max: wire.max,
            requested: wire.requested,
        },
        "UNKNOWN_ORDER" => Rejection::UnknownOrder,
        "ORDER_NOT_ACTIVE" => Rejection::OrderNotActive,
        "REQUEST_ID_REUSED" => Rejection::RequestIdReused,
        other => return Err(invalid("rejection.code", other)),
    })
}

/// An outcome as the wire carries it. `Effect::Expired` (the node's own sweeps) never answers a
/// client request; should one reach here it travels as an empty effect.
pub fn outcome_to_proto(outcome: &Outcome) -> proto::command_reply::Outcome {
    use proto::effect::Kind;
    let effect = match outcome {
        Outcome::Rejected(rejection) => {
            return proto::command_reply::Outcome::Rejected(rejection_to_proto(rejection))
        }
        Outcome::Accepted(effect) => effect,
    };
    let kind = match effect {
        Effect::EventCreated {
            event,
            seats,
            ga_places,
        } => Some(Kind::EventCreated(proto::EventCreated {
            event_id: event.to_string(),
            seats: *seats,
            ga_places: *ga_places,
        })),
        Effect::EventStatusChanged { event, status } => {
            Some(Kind::EventStatusChanged(proto::EventStatusChanged {
                event_id: event.to_string(),
                status: event_status_to_proto(*status) as i32,
            }))
        }
        Effect::Held(hold) => Some(Kind::Held(hold_to_proto(hold))),
        Effect::HoldExtended {
            hold,
            expires_at_ms,
        } => Some(Kind::HoldExtended(proto::HoldExtended {
            hold_id: hold.to_string(),
            expires_at_ms: *expires_at_ms,
        })),
        Effect::Released {
            hold,
            places_released,
        } => Some(Kind::Released(proto::Released {
            hold_id: hold.to_string(),
            places_released: *places_released,
        })),
        Effect::Bought(order) => Some(Kind::Bought(order_to_proto(order))),
        Effect::OrderCancelled {
            order,
            places_released,
        } => Some(Kind::OrderCancelled(proto::OrderCancelled {
            order_id: order.to_string(),
            places_released: *places_released,
        })),
        Effect::SeatsBlocked { seats } => {
            Some(Kind::SeatsBlocked(proto::SeatsChanged { seats: *seats }))
        }
        Effect::SeatsUnblocked { seats } => {
            Some(Kind::SeatsUnblocked(proto::SeatsChanged { seats: *seats }))
        }
        Effect::Expired { .. } => None,
    };
    proto::command_reply::Outcome::Accepted(proto::Effect { kind })
}

/// An outcome from the wire.
pub fn outcome_from_proto(
    outcome: Option<proto::command_reply::Outcome>,
) -> Result<Outcome, InvalidArgument> {
    use proto::effect::Kind;
    let effect = match outcome.ok_or_else(|| invalid("outcome", "is required"))? {
        proto::command_reply::Outcome::Rejected(rejection) => {
            return Ok(Outcome::Rejected(rejection_from_proto(&rejection)?))
        }
        proto::command_reply::Outcome::Accepted(effect) => effect,
    };
    let effect = match effect
        .kind
        .ok_or_else(|| invalid("effect", "is required"))?
    {
        Kind::EventCreated(e) => Effect::EventCreated {
            event: event_id("effect.event_id", &e.event_id)?,
            seats: e.seats,
            ga_places: e.ga_places,
        },
        Kind::EventStatusChanged(e) => Effect::EventStatusChanged {
            event: event_id("effect.event_id", &e.event_id)?,
            status: event_status_from_proto(e.status())?,
        },
        Kind::Held(hold) => Effect::Held(hold_from_proto(&hold)?),
        Kind::HoldExtended(e) => Effect::HoldExtended {
            hold: id("effect.hold_id", &e.hold_id)?,
            expires_at_ms: e.expires_at_ms,
        },
        Kind::Released(e) => Effect::Released {
            hold: id("effect.hold_id", &e.hold_id)?,
            places_released: e.places_released,
        },
        Kind::Bought(order) => Effect::Bought(order_from_proto(&order)?),
        Kind::OrderCancelled(e) => Effect::OrderCancelled {
            order: id("effect.order_id", &e.order_id)?,
            places_released: e.places_released,
        },
        Kind::SeatsBlocked(e) => Effect::SeatsBlocked { seats: e.seats },
        Kind::SeatsUnblocked(e) => Effect::SeatsUnblocked { seats: e.seats },
    };
    Ok(Outcome::Accepted(effect))
}
