//! Command requests off the wire as state machine actions ([`CommandRequest`]), and the pieces of a
//! request the client builds from the state machine's types: event specs and selections.

use boxoffice_statemachine::{
    Action, EventLimits, EventSpec, GaAreaSpec, PriceTier, RowSeats, RowSpec, Scope, SectionSpec,
    Selection,
};

use super::status::{decode_enum, status_change_from_proto};
use super::{missing, parse_customer, parse_id, parse_seats, to_strings, InvalidArgument};
use crate::proto;

/// A command request from the wire: the options it carries (request id, meta index) and the state
/// machine action it asks for. The node routes and proposes any `CommandRequest` the same way.
pub trait CommandRequest: Send + 'static {
    /// The request's options; `None` when the caller sent none (its request id is then missing).
    fn options(&self) -> Option<&proto::CommandOptions>;
    /// The action the request asks for, or the first malformed field.
    fn action(&self) -> Result<Action, InvalidArgument>;
}

impl CommandRequest for proto::CreateEventRequest {
    fn options(&self) -> Option<&proto::CommandOptions> {
        self.options.as_ref()
    }

    fn action(&self) -> Result<Action, InvalidArgument> {
        let spec = self.spec.as_ref().ok_or_else(|| missing("spec"))?;
        Ok(Action::CreateEvent(event_spec_from_proto(spec)?))
    }
}

impl CommandRequest for proto::SetEventStatusRequest {
    fn options(&self) -> Option<&proto::CommandOptions> {
        self.options.as_ref()
    }

    fn action(&self) -> Result<Action, InvalidArgument> {
        Ok(Action::SetEventStatus {
            event: parse_id("event_id", &self.event_id)?,
            change: decode_enum("change", self.change, status_change_from_proto)?,
        })
    }
}

impl CommandRequest for proto::SetAdmissionRequest {
    fn options(&self) -> Option<&proto::CommandOptions> {
        self.options.as_ref()
    }

    fn action(&self) -> Result<Action, InvalidArgument> {
        let settings = self.settings.as_ref().ok_or_else(|| missing("settings"))?;
        Ok(Action::SetAdmission {
            event: parse_id("event_id", &self.event_id)?,
            settings: super::view::admission_settings_from_proto(settings),
        })
    }
}

/// A join request as an action, with the rank the node drew for it (see `JoinQueue` in the proto).
pub fn join_queue_action(
    request: &proto::JoinQueueRequest,
    rank: u64,
) -> Result<Action, InvalidArgument> {
    Ok(Action::JoinQueue {
        event: parse_id("event_id", &request.event_id)?,
        customer: parse_customer("customer_id", &request.customer_id)?,
        rank,
    })
}

impl CommandRequest for proto::HoldRequest {
    fn options(&self) -> Option<&proto::CommandOptions> {
        self.options.as_ref()
    }

    fn action(&self) -> Result<Action, InvalidArgument> {
        Ok(Action::Hold {
            event: parse_id("event_id", &self.event_id)?,
            customer: parse_customer("customer_id", &self.customer_id)?,
            selection: selection_from_proto(self.selection.as_ref())?,
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
            hold: parse_id("hold_id", &self.hold_id)?,
            customer: parse_customer("customer_id", &self.customer_id)?,
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
            hold: parse_id("hold_id", &self.hold_id)?,
            customer: parse_customer("customer_id", &self.customer_id)?,
        })
    }
}

impl CommandRequest for proto::BuyRequest {
    fn options(&self) -> Option<&proto::CommandOptions> {
        self.options.as_ref()
    }

    fn action(&self) -> Result<Action, InvalidArgument> {
        Ok(Action::Buy {
            hold: parse_id("hold_id", &self.hold_id)?,
            customer: parse_customer("customer_id", &self.customer_id)?,
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
            order: parse_id("order_id", &self.order_id)?,
            reason: self.reason.clone(),
        })
    }
}

/// The action of a `SeatsRequest`: `BlockSeats` when `block`, else `UnblockSeats` (both RPCs share
/// the message, so the verb comes from the RPC it arrived under).
pub fn seats_action(request: &proto::SeatsRequest, block: bool) -> Result<Action, InvalidArgument> {
    let event = parse_id("event_id", &request.event_id)?;
    let seats = parse_seats("seat_ids", &request.seat_ids)?;
    Ok(if block {
        Action::BlockSeats { event, seats }
    } else {
        Action::UnblockSeats { event, seats }
    })
}

/// A `SeatsRequest` with the verb it arrived under: BlockSeats (`block`) or UnblockSeats.
#[derive(Debug, Clone)]
pub struct SeatsCommand {
    /// The request as received.
    pub request: proto::SeatsRequest,
    /// True for BlockSeats, false for UnblockSeats.
    pub block: bool,
}

impl CommandRequest for SeatsCommand {
    fn options(&self) -> Option<&proto::CommandOptions> {
        self.request.options.as_ref()
    }

    fn action(&self) -> Result<Action, InvalidArgument> {
        seats_action(&self.request, self.block)
    }
}

/// A hold's selection as the wire carries it.
pub fn selection_to_proto(selection: &Selection) -> proto::Selection {
    use proto::selection::Kind;
    let kind = match selection {
        Selection::Seats(seats) => Kind::Seats(proto::SeatList {
            seat_ids: to_strings(seats),
        }),
        Selection::GeneralAdmission { area, quantity } => {
            Kind::GeneralAdmission(proto::GeneralAdmission {
                area: area.clone(),
                quantity: *quantity,
            })
        }
        Selection::BestAvailable { scope, quantity } => Kind::BestAvailable(proto::BestAvailable {
            scope: Some(match scope {
                Scope::Section(name) => proto::best_available::Scope::Section(name.clone()),
                Scope::Tier(name) => proto::best_available::Scope::Tier(name.clone()),
            }),
            quantity: *quantity,
        }),
    };
    proto::Selection { kind: Some(kind) }
}

/// A hold request's `selection` from the wire: one of seats, general admission or best available
/// (with its scope) is required. Names and quantities are the state machine's to check.
pub fn selection_from_proto(
    selection: Option<&proto::Selection>,
) -> Result<Selection, InvalidArgument> {
    use proto::selection::Kind;
    let kind = selection
        .ok_or_else(|| missing("selection"))?
        .kind
        .as_ref()
        .ok_or_else(|| missing("selection.kind"))?;
    Ok(match kind {
        Kind::Seats(list) => {
            Selection::Seats(parse_seats("selection.seats.seat_ids", &list.seat_ids)?)
        }
        Kind::GeneralAdmission(ga) => Selection::GeneralAdmission {
            area: ga.area.clone(),
            quantity: ga.quantity,
        },
        Kind::BestAvailable(best) => Selection::BestAvailable {
            scope: match &best.scope {
                Some(proto::best_available::Scope::Section(name)) => Scope::Section(name.clone()),
                Some(proto::best_available::Scope::Tier(name)) => Scope::Tier(name.clone()),
                None => return Err(missing("selection.best_available.scope")),
            },
            quantity: best.quantity,
        },
    })
}

/// Per-event limits as the wire carries them.
pub fn limits_to_proto(limits: &EventLimits) -> proto::EventLimits {
    proto::EventLimits {
        seats_per_hold_max: limits.seats_per_hold_max,
        seats_per_customer_max: limits.seats_per_customer_max,
        holds_per_customer_max: limits.holds_per_customer_max,
        hold_ttl_ms: limits.hold_ttl_ms,
        hold_lifetime_ms_max: limits.hold_lifetime_ms_max,
    }
}

/// Per-event limits from the wire, as sent (the state machine checks their ranges).
pub fn limits_from_proto(limits: &proto::EventLimits) -> EventLimits {
    EventLimits {
        seats_per_hold_max: limits.seats_per_hold_max,
        seats_per_customer_max: limits.seats_per_customer_max,
        holds_per_customer_max: limits.holds_per_customer_max,
        hold_ttl_ms: limits.hold_ttl_ms,
        hold_lifetime_ms_max: limits.hold_lifetime_ms_max,
    }
}

/// An event layout as the wire carries it. Limits are always sent, so the server never falls back
/// to its defaults for a spec built here.
pub fn event_spec_to_proto(spec: &EventSpec) -> proto::EventSpec {
    proto::EventSpec {
        event_id: spec.id.to_string(),
        name: spec.name.clone(),
        venue: spec.venue.clone(),
        category: spec.category.clone(),
        starts_at_ms: spec.starts_at_ms,
        on_sale_at_ms: spec.on_sale_at_ms,
        off_sale_at_ms: spec.off_sale_at_ms,
        price_tiers: spec
            .price_tiers
            .iter()
            .map(|tier| proto::PriceTier {
                name: tier.name.clone(),
                price_cents: tier.price_cents,
            })
            .collect(),
        sections: spec
            .sections
            .iter()
            .map(|section| proto::SectionSpec {
                name: section.name.clone(),
                tier: section.tier.clone(),
                rows: section.rows.iter().map(row_to_proto).collect(),
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

fn row_to_proto(row: &RowSpec) -> proto::RowSpec {
    let (seat_count, seat_numbers) = match &row.seats {
        RowSeats::Count(count) => (*count, Vec::new()),
        RowSeats::Numbers(numbers) => (0, numbers.clone()),
    };
    proto::RowSpec {
        label: row.label.clone(),
        seat_count,
        seat_numbers,
        accessible: row.accessible.clone(),
        tier: row.tier.clone(),
    }
}

/// A create request's `spec` from the wire. Absent limits are [`EventLimits::default`]. Each row
/// gives exactly one of `seat_count` (> 0) or `seat_numbers` (a row without seats is one the state
/// machine refuses anyway). The layout's own rules (names, tiers, sizes) are the state machine's
/// to check, so that the node and a replayed log agree on them.
pub fn event_spec_from_proto(spec: &proto::EventSpec) -> Result<EventSpec, InvalidArgument> {
    let mut sections = Vec::with_capacity(spec.sections.len());
    for section in &spec.sections {
        let mut rows = Vec::with_capacity(section.rows.len());
        for row in &section.rows {
            rows.push(row_from_proto(&section.name, row)?);
        }
        sections.push(SectionSpec {
            name: section.name.clone(),
            tier: section.tier.clone(),
            rows,
        });
    }
    Ok(EventSpec {
        id: parse_id("spec.event_id", &spec.event_id)?,
        name: spec.name.clone(),
        venue: spec.venue.clone(),
        category: spec.category.clone(),
        starts_at_ms: spec.starts_at_ms,
        on_sale_at_ms: spec.on_sale_at_ms,
        off_sale_at_ms: spec.off_sale_at_ms,
        price_tiers: spec
            .price_tiers
            .iter()
            .map(|tier| PriceTier {
                name: tier.name.clone(),
                price_cents: tier.price_cents,
            })
            .collect(),
        sections,
        ga_areas: spec
            .ga_areas
            .iter()
            .map(|area| GaAreaSpec {
                name: area.name.clone(),
                tier: area.tier.clone(),
                capacity: area.capacity,
            })
            .collect(),
        limits: spec
            .limits
            .as_ref()
            .map_or_else(EventLimits::default, limits_from_proto),
        gated: spec.gated,
    })
}

fn row_from_proto(section: &str, row: &proto::RowSpec) -> Result<RowSpec, InvalidArgument> {
    let seats = match (row.seat_count, row.seat_numbers.is_empty()) {
        (0, false) => RowSeats::Numbers(row.seat_numbers.clone()),
        (count, true) if count > 0 => RowSeats::Count(count),
        (_, numbers_empty) => {
            let problem = if numbers_empty {
                "gives neither seat_count nor seat_numbers"
            } else {
                "gives both seat_count and seat_numbers"
            };
            return Err(InvalidArgument::new(
                "spec.sections.rows",
                format!("row {:?} of section {section:?} {problem}", row.label),
            ));
        }
    };
    Ok(RowSpec {
        label: row.label.clone(),
        seats,
        accessible: row.accessible.clone(),
        tier: row.tier.clone(),
    })
}
