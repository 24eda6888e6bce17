//! The store-independent words of a benchmark run: seats and layouts, hold requests, and the
//! answers a store gives (held, sold, rejected with a stable code, or indeterminate).

use serde::{Deserialize, Serialize};

/// Stable rejection codes. Boxoffice's own codes pass through unchanged; the peers use the same
/// names for the same refusals.
pub mod code {
    /// A named seat is held (by a live hold) or sold.
    pub const SEAT_UNAVAILABLE: &str = "SEAT_UNAVAILABLE";
    /// Fewer seats are free in the section than a best-available request asks for.
    pub const INSUFFICIENT_INVENTORY: &str = "INSUFFICIENT_INVENTORY";
    /// The hold expired (or was taken over after its expiry) before the buy.
    pub const HOLD_EXPIRED: &str = "HOLD_EXPIRED";
    /// A seat named by the request does not exist.
    pub const UNKNOWN_SEAT: &str = "UNKNOWN_SEAT";
    /// A peer's best-available gave up after its bounded number of conflicting attempts.
    pub const CONTENDED: &str = "CONTENDED";
}

/// One reserved seat: the event's index in the run's inventory, then 0-based section, row and
/// position in the row (Boxoffice's `SeatId` is the same triple).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SeatRef {
    pub event: u32,
    pub section: u16,
    pub row: u16,
    pub seat: u16,
}

/// The seating of one event: `sections` x `rows` x `seats_per_row`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    pub sections: u16,
    pub rows: u16,
    pub seats_per_row: u16,
}

impl Layout {
    /// Seats in one section.
    pub fn seats_per_section(&self) -> u32 {
        u32::from(self.rows) * u32::from(self.seats_per_row)
    }

    /// Seats in the event.
    pub fn seats(&self) -> u32 {
        u32::from(self.sections) * self.seats_per_section()
    }

    /// The seat's position in the event, in layout order (section, row, seat).
    pub fn index_of(&self, seat: &SeatRef) -> u32 {
        u32::from(seat.section) * self.seats_per_section()
            + u32::from(seat.row) * u32::from(self.seats_per_row)
            + u32::from(seat.seat)
    }

    /// The seat at position `index` of event `event` (`index < seats()`).
    pub fn seat_at(&self, event: u32, index: u32) -> SeatRef {
        let per_row = u32::from(self.seats_per_row).max(1);
        let per_section = self.seats_per_section().max(1);
        SeatRef {
            event,
            section: (index / per_section) as u16,
            row: ((index % per_section) / per_row) as u16,
            seat: (index % per_row) as u16,
        }
    }

    /// True when the seat exists in this layout.
    pub fn contains(&self, seat: &SeatRef) -> bool {
        seat.section < self.sections && seat.row < self.rows && seat.seat < self.seats_per_row
    }
}

/// Every event of a run. Event `i` is named `{tag}-e{i}` where a store needs a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// Unique per run, so runs against one long-lived store never share events.
    pub tag: String,
    pub events: Vec<Layout>,
}

impl Inventory {
    pub fn event_name(&self, event: u32) -> String {
        format!("{}-e{event}", self.tag)
    }

    pub fn seats_total(&self) -> u64 {
        self.events.iter().map(|l| u64::from(l.seats())).sum()
    }

    /// Every seat of the inventory, in layout order.
    pub fn all_seats(&self) -> impl Iterator<Item = SeatRef> + '_ {
        self.events.iter().enumerate().flat_map(|(event, layout)| {
            (0..layout.seats()).map(move |i| layout.seat_at(event as u32, i))
        })
    }

    pub fn layout(&self, event: u32) -> Option<&Layout> {
        self.events.get(event as usize)
    }
}

/// What a hold asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Pick {
    /// These seats (all of one event), all or nothing.
    Seats(Vec<SeatRef>),
    /// The first `quantity` free seats of a section, by row then seat.
    BestAvailable {
        event: u32,
        section: u16,
        quantity: u32,
    },
}

impl Pick {
    pub fn event(&self) -> u32 {
        match self {
            Pick::Seats(seats) => seats.first().map_or(0, |s| s.event),
            Pick::BestAvailable { event, .. } => *event,
        }
    }
}

/// One hold as a buyer sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRequest {
    /// A customer id of its own for every hold, so no per-customer limit refuses the workload.
    pub customer: String,
    pub pick: Pick,
    pub ttl_ms: u64,
}

/// A hold a store granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub id: String,
    pub customer: String,
    pub event: u32,
    pub seats: Vec<SeatRef>,
    /// Wall-clock expiry in milliseconds since the Unix epoch, as the store stated or computed it.
    pub expires_at_ms: u64,
}

/// The answer to a hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldOutcome {
    Held(Hold),
    Rejected(String),
    /// It may or may not have taken effect.
    Indeterminate(String),
}

/// The answer to a buy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuyOutcome {
    /// `order` is the store's order reference; the seats are the hold's.
    Sold {
        order: String,
        seats: Vec<SeatRef>,
    },
    Rejected(String),
    Indeterminate(String),
}

/// The answer to a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseOutcome {
    Released,
    Rejected(String),
    Indeterminate(String),
}

/// A seat's status as a reader sees it at the end (an expired hold reads as available).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeatStatus {
    Available,
    Held,
    Sold,
    Blocked,
}

/// One seat of the final state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatState {
    pub seat: SeatRef,
    pub status: SeatStatus,
    /// For a sold seat: the id of the hold whose buy sold it, when the store records it.
    pub owner: Option<String>,
}

/// Every seat of the run's inventory after the run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FinalState {
    pub seats: Vec<SeatState>,
}

/// A store's own audit of itself (Boxoffice: every replica's invariant audit and state hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audit {
    pub ok: bool,
    pub detail: String,
}

/// How a store returns expired holds to sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpiryModel {
    /// A decision treats an expired hold as free at once; nothing is ever swept.
    Lazy,
    /// The store also removes expired holds itself, which can be watched through `held_count`.
    Swept,
}

/// How many seats of some events are still held, as far as the store can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldCount {
    /// Held seats, exactly (Boxoffice: the stored counters, expired but unswept holds included).
    Seats(u64),
    /// Keys with a time-to-live in the whole database (Redis): includes the few in-flight holds
    /// of other events.
    KeysWithTtl(u64),
}
