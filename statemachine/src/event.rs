//! Events as the admin describes them (layout, prices, limits) and as the state machine reports them
//! (status, live counts); the event lifecycle rules live here too.

use serde::{Deserialize, Serialize};

use crate::ids::EventId;

/// A price tier: every seat and general-admission place is sold at its tier's price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceTier {
    pub name: String,
    pub price_cents: u64,
}

/// The seats of one row: numbered `1..=n`, or explicit numbers (for rows with gaps or odd numbering).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RowSeats {
    Count(u32),
    Numbers(Vec<u32>),
}

impl RowSeats {
    /// The seat numbers of the row, in the order they sit.
    pub fn numbers(&self) -> Vec<u32> {
        match self {
            RowSeats::Count(n) => (1..=*n).collect(),
            RowSeats::Numbers(numbers) => numbers.clone(),
        }
    }

    /// How many seats the row has.
    pub fn len(&self) -> usize {
        match self {
            RowSeats::Count(n) => *n as usize,
            RowSeats::Numbers(numbers) => numbers.len(),
        }
    }

    /// True for a row without seats.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One row of a section. Rows are listed front to back; best-available prefers earlier rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowSpec {
    pub label: String,
    pub seats: RowSeats,
    /// Seat numbers of this row that are wheelchair-accessible.
    pub accessible: Vec<u32>,
    /// Overrides the section's price tier for this row.
    pub tier: Option<String>,
}

/// A seated section: rows of numbered seats, priced by its tier unless a row overrides it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionSpec {
    pub name: String,
    pub tier: String,
    pub rows: Vec<RowSpec>,
}

/// A general-admission area: a number of interchangeable places.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GaAreaSpec {
    pub name: String,
    pub tier: String,
    pub capacity: u32,
}

/// Per-event limits that keep one buyer from taking more than their share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLimits {
    /// Most seats or places in one hold, and so in one order.
    pub seats_per_hold_max: u32,
    /// Most seats or places one customer may have in live holds plus confirmed orders.
    pub seats_per_customer_max: u32,
    /// Most live holds one customer may have at once.
    pub holds_per_customer_max: u32,
    /// Time-to-live of a hold (and of an extension) when the request names none, in milliseconds.
    pub hold_ttl_ms: u64,
    /// Cap on a hold's whole life, extensions included, counted from its creation, in milliseconds.
    pub hold_lifetime_ms_max: u64,
}

impl Default for EventLimits {
    fn default() -> Self {
        EventLimits {
            seats_per_hold_max: 8,
            seats_per_customer_max: 8,
            holds_per_customer_max: 2,
            hold_ttl_ms: 10 * 60 * 1_000,
            hold_lifetime_ms_max: 20 * 60 * 1_000,
        }
    }
}

/// A gated event's waiting-room settings, replicated so that every node's admission timer reads the
/// admin's latest choice. The state machine applies `access_ttl_ms`; the rate and `auto` are the node's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionSettings {
    /// How long an admitted customer may start holds, from the admission, in milliseconds. A change
    /// applies to later admissions; earlier ones keep the expiry they were given.
    pub access_ttl_ms: u64,
    /// How many customers the node's timer admits per minute (0: none).
    pub admit_per_minute: u32,
    /// Whether the node's timer sequences and admits on its own (otherwise an admin's `Admit` does).
    pub auto: bool,
}

impl Default for AdmissionSettings {
    fn default() -> Self {
        AdmissionSettings {
            access_ttl_ms: 10 * 60 * 1_000,
            admit_per_minute: 1_000,
            auto: true,
        }
    }
}

/// Everything needed to create an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSpec {
    pub id: EventId,
    pub name: String,
    pub venue: String,
    pub category: String,
    pub starts_at_ms: u64,
    pub on_sale_at_ms: u64,
    pub off_sale_at_ms: u64,
    pub price_tiers: Vec<PriceTier>,
    pub sections: Vec<SectionSpec>,
    pub ga_areas: Vec<GaAreaSpec>,
    pub limits: EventLimits,
    /// Buyers need a waiting-room admission before they may hold: `Hold` refuses a customer the
    /// event's queue has not admitted, or whose access has expired (see [`AdmissionSettings`]).
    pub gated: bool,
}

impl EventSpec {
    /// Checks the layout as `CreateEvent` will (before it enters a log): the event's reserved
    /// seats and general-admission places, or the INVALID_REQUEST rejection it would get.
    pub fn capacity(&self) -> Result<(u32, u32), crate::Rejection> {
        crate::validate::event_spec(self).map_err(crate::Rejection::invalid)
    }
}

/// The status an event is in at a given state time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EventStatus {
    /// Before its on-sale time.
    Scheduled,
    OnSale,
    /// Paused by an admin; holds and buys are refused until the sale is reopened.
    Paused,
    /// On sale, but every seat and place is sold or blocked.
    SoldOut,
    Cancelled,
    /// Past its off-sale time, or ended by an admin.
    Ended,
}

impl EventStatus {
    /// Stable lower-case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Scheduled => "scheduled",
            EventStatus::OnSale => "on_sale",
            EventStatus::Paused => "paused",
            EventStatus::SoldOut => "sold_out",
            EventStatus::Cancelled => "cancelled",
            EventStatus::Ended => "ended",
        }
    }

    /// True when holds may be taken and bought.
    pub fn is_selling(self) -> bool {
        self == EventStatus::OnSale
    }
}

/// What an admin asks of an event's sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatusChange {
    /// Start the sale now (before its on-sale time) or resume a paused sale.
    Open,
    Pause,
    Cancel,
    End,
}

/// The admin's override of the time-driven status, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminState {
    Normal,
    Paused,
    Cancelled,
    Ended,
}

/// Seats or places of a section, an area or a whole event, by state. Their sum is the capacity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub available: u32,
    pub held: u32,
    pub sold: u32,
    pub blocked: u32,
}

impl Counts {
    /// available + held + sold + blocked.
    pub fn total(&self) -> u64 {
        u64::from(self.available)
            + u64::from(self.held)
            + u64::from(self.sold)
            + u64::from(self.blocked)
    }

    /// Adds `other` field by field.
    pub fn add(&mut self, other: &Counts) {
        self.available += other.available;
        self.held += other.held;
        self.sold += other.sold;
        self.blocked += other.blocked;
    }
}

/// The status at `now` of an event with the given admin state, times and counts.
pub(crate) fn status_at(
    admin: AdminState,
    on_sale_at_ms: u64,
    off_sale_at_ms: u64,
    totals: &Counts,
    now_ms: u64,
) -> EventStatus {
    match admin {
        AdminState::Cancelled => return EventStatus::Cancelled,
        AdminState::Ended => return EventStatus::Ended,
        AdminState::Paused | AdminState::Normal => {}
    }
    if now_ms >= off_sale_at_ms {
        EventStatus::Ended
    } else if admin == AdminState::Paused {
        EventStatus::Paused
    } else if now_ms < on_sale_at_ms {
        EventStatus::Scheduled
    } else if totals.available == 0 && totals.held == 0 {
        EventStatus::SoldOut
    } else {
        EventStatus::OnSale
    }
}

/// The admin state after `change` from `status`, with the new on-sale time, or `None` if illegal.
///
/// Legal: open a scheduled or paused sale; pause a scheduled, on-sale or sold-out one; cancel or end
/// anything that is not already cancelled or ended.
pub(crate) fn transition(
    status: EventStatus,
    change: StatusChange,
    on_sale_at_ms: u64,
    now_ms: u64,
) -> Option<(AdminState, u64)> {
    use EventStatus as S;
    match (change, status) {
        (StatusChange::Open, S::Scheduled | S::Paused) => {
            Some((AdminState::Normal, on_sale_at_ms.min(now_ms)))
        }
        (StatusChange::Pause, S::Scheduled | S::OnSale | S::SoldOut) => {
            Some((AdminState::Paused, on_sale_at_ms))
        }
        (StatusChange::Cancel, s) if !matches!(s, S::Cancelled | S::Ended) => {
            Some((AdminState::Cancelled, on_sale_at_ms))
        }
        (StatusChange::End, s) if !matches!(s, S::Cancelled | S::Ended) => {
            Some((AdminState::Ended, on_sale_at_ms))
        }
        _ => None,
    }
}
