//! The REST API's JSON bodies (requests refuse unknown fields) with their OpenAPI schemas, and the
//! conversions between them and the store's types: times as RFC 3339 UTC, money as decimal units.

use std::time::{Duration, UNIX_EPOCH};

use boxoffice_client::proto;
use boxoffice_statemachine::{HoldStatus, HoldView, OrderStatus, OrderView};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::error::HttpError;
use super::layout::Layout;

/// Largest price accepted, in currency units.
pub const PRICE_MAX: f64 = 1_000_000.0;

/// `ms` since the Unix epoch as RFC 3339 UTC, to the second.
pub fn time(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// An RFC 3339 UTC time (`2027-06-01T19:30:00Z`) as ms since the Unix epoch.
pub fn parse_time(field: &str, text: &str) -> Result<u64, HttpError> {
    let at = humantime::parse_rfc3339(text).map_err(|e| {
        HttpError::invalid(format!(
            "{field}: {text:?} is not an RFC 3339 UTC time ({e})"
        ))
    })?;
    let ms = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| HttpError::invalid(format!("{field}: {text:?} is before 1970")))?
        .as_millis();
    u64::try_from(ms).map_err(|_| HttpError::invalid(format!("{field}: {text:?} is too far away")))
}

/// Cents as a decimal amount.
pub fn money(cents: u64) -> f64 {
    cents as f64 / 100.0
}

/// A decimal amount as cents: finite, not negative, at most [`PRICE_MAX`], whole cents.
pub fn cents(field: &str, amount: f64) -> Result<u64, HttpError> {
    if !amount.is_finite() || !(0.0..=PRICE_MAX).contains(&amount) {
        return Err(HttpError::invalid(format!(
            "{field}: {amount} is not a price between 0 and {PRICE_MAX}"
        )));
    }
    let cents = (amount * 100.0).round();
    if (cents - amount * 100.0).abs() > 1e-6 {
        return Err(HttpError::invalid(format!(
            "{field}: {amount} has fractions of a cent"
        )));
    }
    Ok(cents as u64)
}

// ---- the text forms of identifiers and times ---------------------------------------------------
//
// Schema-only types: what the gateway requires of a request's ids and times, as patterns. A request
// that breaks one is refused (400); one that matches may still be refused by a rule no pattern can
// state (a UTF-8 id over 128 bytes, a number out of range, a seat the event does not have).

/// A schema of type string with a pattern, an optional format, a description and an example.
fn text_schema(
    pattern: &str,
    format: Option<KnownFormat>,
    description: &str,
    example: &str,
) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .format(format.map(SchemaFormat::KnownFormat))
        .description(Some(description))
        .examples([example])
        .into()
}

/// A `u16` as `str::parse` reads it: an optional `+`, leading zeros, 0 to 65535.
macro_rules! u16_pattern {
    () => {
        "\\+?0*(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
    };
}

/// A year that `parse_time` takes: 1970 to 9999.
macro_rules! year_pattern {
    () => {
        "(19[7-9][0-9]|[2-9][0-9]{3})"
    };
}

/// No control characters (`char::is_control`), as the store's text checks.
macro_rules! text_pattern {
    ($lengths:literal) => {
        concat!("^[^\\u0000-\\u001F\\u007F-\\u009F]", $lengths, "$")
    };
}

macro_rules! text_schemas {
    ($($(#[$doc:meta])* $name:ident = (
        $pattern:expr, $format:expr, $description:expr, $example:expr $(,)?
    );)+) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                text_schema($pattern, $format, $description, $example)
            }
        }

        impl ToSchema for $name {}
    )+};
}

text_schemas! {
    /// `boxoffice_statemachine::EventId`.
    EventIdText = (
        "^[A-Za-z0-9_-]{1,64}$",
        None,
        "An event id: 1 to 64 ASCII letters, digits, `-` or `_`",
        "tour-2027",
    );
    /// `boxoffice_statemachine::HoldId`.
    ReservationIdText = (
        "^[A-Za-z0-9_-]{1,64}~h\\+?[0-9]+$",
        None,
        "A reservation id, `{event_id}~h{number}`",
        "tour-2027~h1",
    );
    /// `boxoffice_statemachine::OrderId`.
    OrderIdText = (
        "^[A-Za-z0-9_-]{1,64}~o\\+?[0-9]+$",
        None,
        "An order id, `{event_id}~o{number}`",
        "tour-2027~o1",
    );
    /// `boxoffice_statemachine::CustomerId`.
    UserIdText = (
        text_pattern!("{1,128}"),
        None,
        "The buyer's opaque account id: 1 to 128 bytes of UTF-8, no control characters",
        "user-1842",
    );
    /// `boxoffice_statemachine::SeatId`.
    SeatIdText = (
        concat!("^", u16_pattern!(), "\\.", u16_pattern!(), "\\.", u16_pattern!(), "$"),
        None,
        "A seat id from the seat map, `{section}.{row}.{index}` (0-based, each at most 65535)",
        "0.0.3",
    );
    /// [`parse_time`].
    TimeText = (
        concat!(
            "^",
            year_pattern!(),
            "-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]*)?(Z|\\+00:00)$"
        ),
        Some(KnownFormat::DateTime),
        "An RFC 3339 time in UTC (`Z` or `+00:00`), from 1970 on, like `2027-06-01T19:30:00Z`",
        "2027-06-01T19:30:00Z",
    );
    /// The store's names (`validate::name`).
    NameText = (
        text_pattern!("{1,256}"),
        None,
        "A name: 1 to 256 bytes of UTF-8, not blank, no control characters",
        "Summer Stadium Tour",
    );
    /// The store's free text of at most 256 bytes.
    ShortText = (
        text_pattern!("{0,256}"),
        None,
        "At most 256 bytes of UTF-8, no control characters",
        "Wembley, London",
    );
    /// A payment reference (`Buy`).
    PaymentReferenceText = (
        text_pattern!("{1,128}"),
        None,
        "1 to 128 bytes of UTF-8, no control characters",
        "psp-5f2a9c",
    );
    /// A cancellation's reason (`CancelOrder`).
    ReasonText = (
        text_pattern!("{0,1024}"),
        None,
        "At most 1024 bytes of UTF-8, no control characters",
        "refund",
    );
    /// A day for [`parse_time`].
    DateText = (
        concat!("^", year_pattern!(), "-[0-9]{2}-[0-9]{2}$"),
        Some(KnownFormat::Date),
        "A day (UTC), `YYYY-MM-DD`, from 1970 on",
        "2027-06-01",
    );
}

/// A seat number as printed, any 32-bit unsigned integer (schema only).
#[derive(Debug)]
pub struct SeatNumber;

impl PartialSchema for SeatNumber {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
            .maximum(Some(u32::MAX))
            .into()
    }
}

impl ToSchema for SeatNumber {}

/// The statuses of an event (schema only).
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum EventStatusName {
    Scheduled,
    OnSale,
    Paused,
    SoldOut,
    Cancelled,
    Ended,
}

// ---- browsing ---------------------------------------------------------------------------------

/// How fresh a read must be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReadConsistency {
    /// Served by the group's leader after confirming leadership: sees every acknowledged write.
    #[default]
    Linearizable,
    /// Served by any replica, possibly behind; the answer says by how much at most.
    Stale,
}

impl From<ReadConsistency> for boxoffice_client::Consistency {
    fn from(read: ReadConsistency) -> Self {
        match read {
            ReadConsistency::Linearizable => boxoffice_client::Consistency::Linearizable,
            ReadConsistency::Stale => boxoffice_client::Consistency::Stale,
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Words that must all appear in the name, venue or category (case-insensitive).
    pub text: Option<String>,
    /// Part of the venue name (case-insensitive).
    pub location: Option<String>,
    pub category: Option<String>,
    /// Events starting on this day (UTC, `YYYY-MM-DD`).
    #[param(value_type = Option<DateText>)]
    pub date: Option<String>,
    /// Events starting at or after this RFC 3339 time.
    #[param(value_type = Option<TimeText>)]
    pub from: Option<String>,
    /// Events starting before this RFC 3339 time.
    #[param(value_type = Option<TimeText>)]
    pub to: Option<String>,
    /// `scheduled`, `on_sale`, `paused`, `sold_out`, `cancelled` or `ended`.
    #[param(value_type = Option<EventStatusName>)]
    pub status: Option<String>,
    /// At most this many events (default 20; 0 counts as 1, more than 100 as 100).
    #[param(value_type = Option<u64>, maximum = 4294967295u32)]
    pub limit: Option<u32>,
    /// Skip this many matching events.
    #[param(value_type = Option<u64>, maximum = 4294967295u32)]
    pub offset: Option<u32>,
    pub consistency: Option<ReadConsistency>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReadQuery {
    pub consistency: Option<ReadConsistency>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SeatsQuery {
    /// One section by name; all sections when absent.
    pub section: Option<String>,
    pub consistency: Option<ReadConsistency>,
}

/// Seats and places by state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Counts {
    pub available: u32,
    pub reserved: u32,
    pub sold: u32,
    pub blocked: u32,
}

impl From<Option<&proto::Counts>> for Counts {
    fn from(counts: Option<&proto::Counts>) -> Counts {
        let c = counts.cloned().unwrap_or_default();
        Counts {
            available: c.available,
            reserved: c.held,
            sold: c.sold,
            blocked: c.blocked,
        }
    }
}

/// An event in a search result.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventSummary {
    pub event_id: String,
    pub name: String,
    pub venue: String,
    pub category: String,
    pub start_time: String,
    pub on_sale_time: String,
    pub off_sale_time: String,
    pub status: String,
    /// Seats and general-admission places on sale now.
    pub available_seats: u32,
    /// The lowest price of any tier.
    pub min_price: f64,
    /// Buyers go through the waiting room first.
    pub gated: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventList {
    pub events: Vec<EventSummary>,
    /// Matching events in all.
    pub total: usize,
    pub limit: u32,
    pub offset: u32,
}

/// A seated section or general-admission area with its live counts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ZoneDetail {
    pub name: String,
    pub tier: String,
    pub price: f64,
    pub capacity: u32,
    pub counts: Counts,
}

/// Per-event limits.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LimitsDetail {
    pub max_per_order: u32,
    pub max_per_customer: u32,
    pub holds_per_customer_max: u32,
    pub hold_ttl_s: u64,
    pub hold_lifetime_s_max: u64,
}

/// An event with its layout summary and live counts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventDetail {
    #[serde(flatten)]
    pub summary: EventSummary,
    pub capacity: u64,
    pub counts: Counts,
    /// Price of each tier, by name.
    #[schema(value_type = std::collections::BTreeMap<String, f64>)]
    pub price_tiers: serde_json::Map<String, serde_json::Value>,
    pub sections: Vec<ZoneDetail>,
    pub ga_areas: Vec<ZoneDetail>,
    pub limits: LimitsDetail,
    /// The Raft group holding the event.
    pub group: u64,
}

fn status_name(status: i32) -> String {
    proto::EventStatus::try_from(status)
        .ok()
        .and_then(boxoffice_client::convert::event_status_from_proto)
        .map_or("unknown", boxoffice_statemachine::EventStatus::as_str)
        .to_owned()
}

fn zone(zone: &proto::Zone) -> ZoneDetail {
    ZoneDetail {
        name: zone.name.clone(),
        tier: zone.tier.clone(),
        price: money(zone.price_cents),
        capacity: zone.capacity,
        counts: zone.counts.as_ref().into(),
    }
}

impl From<&proto::Event> for EventSummary {
    fn from(event: &proto::Event) -> EventSummary {
        EventSummary {
            event_id: event.event_id.clone(),
            name: event.name.clone(),
            venue: event.venue.clone(),
            category: event.category.clone(),
            start_time: time(event.starts_at_ms),
            on_sale_time: time(event.on_sale_at_ms),
            off_sale_time: time(event.off_sale_at_ms),
            status: status_name(event.status),
            available_seats: event.counts.as_ref().map_or(0, |c| c.available),
            min_price: money(event.tiers.iter().map(|t| t.price_cents).min().unwrap_or(0)),
            gated: event.gated,
        }
    }
}

impl From<&proto::Event> for EventDetail {
    fn from(event: &proto::Event) -> EventDetail {
        let limits = event.limits.unwrap_or_default();
        EventDetail {
            summary: event.into(),
            capacity: event.capacity,
            counts: event.counts.as_ref().into(),
            price_tiers: event
                .tiers
                .iter()
                .map(|t| (t.name.clone(), serde_json::json!(money(t.price_cents))))
                .collect(),
            sections: event.sections.iter().map(zone).collect(),
            ga_areas: event.ga_areas.iter().map(zone).collect(),
            limits: LimitsDetail {
                max_per_order: limits.seats_per_hold_max,
                max_per_customer: limits.seats_per_customer_max,
                holds_per_customer_max: limits.holds_per_customer_max,
                hold_ttl_s: limits.hold_ttl_ms / 1_000,
                hold_lifetime_s_max: limits.hold_lifetime_ms_max / 1_000,
            },
            group: event.group,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeatDetail {
    pub seat_id: String,
    pub number: u32,
    /// `available`, `reserved`, `sold` or `blocked`.
    pub status: String,
    pub price: f64,
    pub tier: String,
    pub accessible: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RowDetail {
    pub row: String,
    pub seats: Vec<SeatDetail>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SectionDetail {
    pub section: String,
    pub rows: Vec<RowDetail>,
}

/// How fresh a read was.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReadDetail {
    pub consistency: ReadConsistency,
    pub served_by: u64,
    /// The replica's applied log index.
    pub applied_index: u64,
    /// Stale reads: at most this many ms behind the leader (0 on the leader).
    pub staleness_bound_ms: u64,
}

impl From<Option<&proto::ReadInfo>> for ReadDetail {
    fn from(read: Option<&proto::ReadInfo>) -> ReadDetail {
        let read = read.cloned().unwrap_or_default();
        ReadDetail {
            consistency: if read.linearizable {
                ReadConsistency::Linearizable
            } else {
                ReadConsistency::Stale
            },
            served_by: read.served_by,
            applied_index: read.applied_index,
            staleness_bound_ms: read.staleness_bound_ms,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeatMap {
    pub event_id: String,
    pub sections: Vec<SectionDetail>,
    pub ga_areas: Vec<ZoneDetail>,
    pub read: ReadDetail,
}

fn seat_status(status: i32) -> String {
    use proto::SeatStatus as S;
    match S::try_from(status).unwrap_or(S::Unspecified) {
        S::Available => "available",
        S::Held => "reserved",
        S::Sold => "sold",
        S::Blocked => "blocked",
        S::Unspecified => "unknown",
    }
    .to_owned()
}

impl From<&proto::SeatMapReply> for SeatMap {
    fn from(map: &proto::SeatMapReply) -> SeatMap {
        SeatMap {
            event_id: map.event_id.clone(),
            sections: map
                .sections
                .iter()
                .map(|section| SectionDetail {
                    section: section.name.clone(),
                    rows: section
                        .rows
                        .iter()
                        .map(|row| RowDetail {
                            row: row.label.clone(),
                            seats: row
                                .seats
                                .iter()
                                .map(|seat| SeatDetail {
                                    seat_id: seat.seat_id.clone(),
                                    number: seat.number,
                                    status: seat_status(seat.status),
                                    price: money(seat.price_cents),
                                    tier: seat.tier.clone(),
                                    accessible: seat.accessible,
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
            ga_areas: map.ga_areas.iter().map(zone).collect(),
            read: map.read.as_ref().into(),
        }
    }
}

// ---- reservations and orders -------------------------------------------------------------------

/// `seat_ids`, or `quantity` with exactly one of `section`, `ga_area`, `price_tier`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReserveRequest {
    #[schema(value_type = UserIdText)]
    pub user_id: String,
    /// These exact seats (ids from the seat map), all or nothing.
    #[schema(value_type = Option<Vec<SeatIdText>>)]
    pub seat_ids: Option<Vec<String>>,
    /// How many seats or places, for best available or general admission.
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 4294967295u32)]
    pub quantity: Option<u32>,
    /// Best available in this section.
    pub section: Option<String>,
    /// Places in this general-admission area.
    pub ga_area: Option<String>,
    /// Best available in this price tier.
    pub price_tier: Option<String>,
    /// Seconds until the reservation expires (the event's default when absent).
    #[schema(minimum = 1, maximum = 86400)]
    pub hold_duration: Option<u64>,
    /// Gated events: the access token the waiting room gave this buyer.
    pub access_token: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendRequest {
    #[schema(value_type = UserIdText)]
    pub user_id: String,
    /// Seconds from now (the event's default when absent), within the reservation's lifetime cap.
    #[schema(minimum = 1, maximum = 86400)]
    pub hold_duration: Option<u64>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    #[param(value_type = UserIdText)]
    pub user_id: String,
}

/// A reservation (a hold on seats or places until it expires).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Reservation {
    pub reservation_id: String,
    pub event_id: String,
    pub user_id: String,
    /// Reserved seats; empty for general-admission places.
    pub seat_ids: Vec<String>,
    /// Readable seats, like `Floor A-1`.
    pub seats: Vec<String>,
    pub ga_area: Option<String>,
    pub quantity: u32,
    pub created_at: String,
    pub expires_at: String,
    pub total_amount: f64,
    /// `active`, `released`, `expired` or `purchased`.
    pub status: String,
    /// Once purchased: the order.
    pub order_id: Option<String>,
}

/// A reservation's status as the API names it.
pub fn hold_status(status: HoldStatus) -> &'static str {
    match status {
        HoldStatus::Active => "active",
        HoldStatus::Released => "released",
        HoldStatus::Expired => "expired",
        HoldStatus::Purchased { .. } => "purchased",
    }
}

impl Reservation {
    pub fn from_hold(hold: &HoldView, layout: &Layout) -> Reservation {
        let (seat_ids, seats, ga_area) = layout.items(&hold.items);
        Reservation {
            reservation_id: hold.id.to_string(),
            event_id: hold.id.event.to_string(),
            user_id: hold.customer.to_string(),
            seat_ids,
            seats,
            ga_area,
            quantity: hold.items.quantity(),
            created_at: time(hold.created_at_ms),
            expires_at: time(hold.expires_at_ms),
            total_amount: money(hold.amount_cents),
            status: hold_status(hold.status).to_owned(),
            order_id: match hold.status {
                HoldStatus::Purchased { order } => Some(format!("{}~o{order}", hold.id.event)),
                _ => None,
            },
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Released {
    pub reservation_id: String,
    /// `cancelled`.
    pub status: String,
    /// 0 when the reservation had already expired or been released.
    pub seats_released: u32,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    #[schema(value_type = ReservationIdText)]
    pub reservation_id: String,
    #[schema(value_type = UserIdText)]
    pub user_id: String,
    /// The payment provider's reference for the captured payment. Card data is never accepted.
    #[schema(value_type = PaymentReferenceText)]
    pub payment_reference: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketDetail {
    pub ticket_id: String,
    /// The seat id; absent for a general-admission place.
    pub seat_id: Option<String>,
    /// Readable seat (`Floor A-1`) or area (`Pit`).
    pub seat: String,
    pub price: f64,
}

/// A confirmed (or cancelled) order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Order {
    pub order_id: String,
    pub event_id: String,
    pub user_id: String,
    pub reservation_id: String,
    /// `confirmed` or `cancelled`.
    pub status: String,
    pub total_amount: f64,
    pub tickets: Vec<TicketDetail>,
    pub payment_reference: String,
    pub created_at: String,
    pub cancel_reason: Option<String>,
}

impl Order {
    pub fn from_view(order: &OrderView, layout: &Layout) -> Order {
        Order {
            order_id: order.id.to_string(),
            event_id: order.id.event.to_string(),
            user_id: order.customer.to_string(),
            reservation_id: order.hold.to_string(),
            status: match order.status {
                OrderStatus::Confirmed => "confirmed",
                OrderStatus::Cancelled => "cancelled",
            }
            .to_owned(),
            total_amount: money(order.amount_cents),
            tickets: order
                .tickets
                .iter()
                .map(|ticket| TicketDetail {
                    ticket_id: ticket.id(&order.id).to_string(),
                    seat_id: ticket.seat.map(|s| s.to_string()),
                    seat: layout.ticket_label(ticket, &order.items),
                    price: money(ticket.price_cents),
                })
                .collect(),
            payment_reference: order.payment_reference.clone(),
            created_at: time(order.created_at_ms),
            cancel_reason: order.cancel_reason.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderList {
    pub orders: Vec<Order>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserOrdersQuery {
    /// Only this event's orders; all events when absent.
    #[param(value_type = Option<EventIdText>)]
    pub event_id: Option<String>,
    pub consistency: Option<ReadConsistency>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelOrderRequest {
    #[schema(value_type = ReasonText)]
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderCancelled {
    pub order_id: String,
    /// `cancelled`.
    pub status: String,
    pub seats_released: u32,
}

// ---- admin -------------------------------------------------------------------------------------

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RowRequest {
    /// The row's label, like `A`.
    #[schema(value_type = NameText)]
    pub row: String,
    /// Seats numbered 1 to `seats`; or give `seat_numbers`.
    #[schema(value_type = Option<u64>, maximum = 4294967295u32)]
    pub seats: Option<u32>,
    /// Explicit seat numbers, in the order they sit.
    #[schema(value_type = Option<Vec<SeatNumber>>)]
    pub seat_numbers: Option<Vec<u32>>,
    /// Wheelchair-accessible seat numbers.
    #[serde(default)]
    #[schema(value_type = Vec<SeatNumber>)]
    pub accessible: Vec<u32>,
    /// This row's price, when it differs from the section's: whole cents, at most 1,000,000.
    #[schema(minimum = 0, maximum = 1000000)]
    pub price: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SectionRequest {
    #[schema(value_type = NameText)]
    pub name: String,
    /// Whole cents, at most 1,000,000.
    #[schema(minimum = 0, maximum = 1000000)]
    pub price: f64,
    pub rows: Vec<RowRequest>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GaAreaRequest {
    #[schema(value_type = NameText)]
    pub name: String,
    #[schema(value_type = u64, maximum = 4294967295u32)]
    pub capacity: u32,
    /// Whole cents, at most 1,000,000.
    #[schema(minimum = 0, maximum = 1000000)]
    pub price: f64,
}

/// A new event and its venue layout.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEventRequest {
    /// Chosen by the server when absent.
    #[schema(value_type = Option<EventIdText>)]
    pub event_id: Option<String>,
    #[schema(value_type = NameText)]
    pub name: String,
    #[schema(value_type = ShortText)]
    pub venue: String,
    #[schema(value_type = ShortText)]
    pub category: String,
    #[schema(value_type = TimeText)]
    pub start_time: String,
    #[schema(value_type = TimeText)]
    pub on_sale_time: String,
    /// When the sale ends (default: the start time).
    #[schema(value_type = Option<TimeText>)]
    pub off_sale_time: Option<String>,
    #[serde(default)]
    pub sections: Vec<SectionRequest>,
    #[serde(default)]
    pub ga_areas: Vec<GaAreaRequest>,
    /// Most seats or places in one reservation.
    #[schema(value_type = Option<u64>, maximum = 4294967295u32)]
    pub max_per_order: Option<u32>,
    /// Most seats or places one customer may reserve and buy.
    #[schema(value_type = Option<u64>, maximum = 4294967295u32)]
    pub max_per_customer: Option<u32>,
    /// Most live reservations one customer may have.
    #[schema(value_type = Option<u64>, maximum = 4294967295u32)]
    pub max_reservations_per_customer: Option<u32>,
    /// Default reservation lifetime, in seconds.
    pub hold_ttl_s: Option<u64>,
    /// Cap on a reservation's life with extensions, in seconds.
    pub hold_lifetime_s_max: Option<u64>,
    /// Buyers must pass the waiting room.
    #[serde(default)]
    pub gated: bool,
    /// Put the event on a Raft group of its own.
    #[serde(default)]
    pub dedicated_group: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventCreated {
    pub event_id: String,
    pub group: u64,
    pub seats: u32,
    pub ga_places: u32,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SaleAction {
    Open,
    Pause,
    Cancel,
    End,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaleStatusRequest {
    pub action: SaleAction,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SaleStatus {
    pub event_id: String,
    pub status: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeatsRequest {
    #[schema(value_type = Vec<SeatIdText>, min_items = 1)]
    pub seat_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeatsChanged {
    pub event_id: String,
    /// Seats whose state changed (those already in the asked state are left alone).
    pub seats_changed: u32,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClusterNode {
    pub node_id: u64,
    pub grpc_address: String,
    pub http_address: String,
    pub leads: usize,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClusterGroup {
    pub group: u64,
    pub replicas: Vec<u64>,
    pub leader_id: Option<u64>,
    pub term: u64,
    pub events: u32,
    pub seats: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Cluster {
    pub served_by: u64,
    pub bootstrapped: bool,
    pub meta_leader_id: Option<u64>,
    pub nodes: Vec<ClusterNode>,
    pub groups: Vec<ClusterGroup>,
    pub events: usize,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or why not.
    pub status: String,
    pub node_id: u64,
}

/// The `Idempotency-Key` header of a command (schema only).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyHeader {
    /// Makes a retry safe: a retry with the same key and body, by the same API key, acts once and
    /// answers as the first time did; the same key with another body is `REQUEST_ID_REUSED`
    /// (422). 1 to 110 visible ASCII characters.
    #[param(
        rename = "Idempotency-Key",
        pattern = "^[\\x20-\\x7E]{1,110}$",
        nullable = false
    )]
    pub idempotency_key: Option<String>,
}

/// The error body of every failed request: a stable code, a message, and the details of some codes
/// (schema only; `HttpError::body` writes it).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code, like `SEAT_UNAVAILABLE` or `RATE_LIMITED`.
    pub code: String,
    pub message: String,
    /// `RATE_LIMITED`, `OVERLOADED`, `UNAVAILABLE`: seconds to wait, as in `Retry-After`.
    #[schema(nullable = false)]
    pub retry_after_s: Option<u64>,
    /// `EVENT_NOT_ON_SALE`, `INVALID_TRANSITION`: the event's status.
    #[schema(nullable = false)]
    pub event_status: Option<String>,
    /// `INVALID_TRANSITION`: the change refused (`open`, `pause`, `cancel`, `end`, ...).
    #[schema(nullable = false)]
    pub change: Option<String>,
    /// `UNKNOWN_SEAT`, `SEAT_UNAVAILABLE`: the seats at fault.
    #[schema(nullable = false)]
    pub seat_ids: Option<Vec<String>>,
    /// `INSUFFICIENT_INVENTORY`, `LIMIT_EXCEEDED`: how many were asked for.
    #[schema(nullable = false)]
    pub requested: Option<u64>,
    /// `INSUFFICIENT_INVENTORY`: how many are left.
    #[schema(nullable = false)]
    pub available: Option<u64>,
    /// `LIMIT_EXCEEDED`: which limit, and its value.
    #[schema(nullable = false)]
    pub limit: Option<String>,
    #[schema(nullable = false)]
    pub max: Option<u64>,
    /// `HOLD_NOT_ACTIVE`: `active`, `released`, `expired` or `purchased`, with the order's number.
    #[schema(nullable = false)]
    pub reservation_status: Option<String>,
    #[schema(nullable = false)]
    pub order_number: Option<u64>,
}
