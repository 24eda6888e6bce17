//! Commands that enter the Raft log and the outcomes they produce: the state machine's whole write API.

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError};
use crate::event::{AdmissionSettings, EventSpec, EventStatus, StatusChange};
use crate::ids::{CustomerId, EventId, HoldId, OrderId, RequestId, SeatId, TicketId};
use crate::limits::COMMAND_BYTES_MAX;

/// One log entry for the state machine: who asked (request id), when (the proposer's clock), and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub request_id: RequestId,
    /// The proposer's wall-clock time in milliseconds since the Unix epoch. State time never goes back:
    /// it becomes `max(previous state time, at_ms)`.
    pub at_ms: u64,
    pub action: Action,
}

impl Command {
    /// The versioned binary form written to the Raft log.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Reads a command from the log or the network.
    pub fn decode(bytes: &[u8]) -> Result<Command, CodecError> {
        codec::decode(bytes, COMMAND_BYTES_MAX)
    }
}

/// What a command asks the state machine to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Admin: create an event with its seat map.
    CreateEvent(EventSpec),
    /// Admin: open, pause, cancel or end an event's sale.
    SetEventStatus {
        event: EventId,
        change: StatusChange,
    },
    /// Hold seats or places for a customer until the hold expires, all or nothing.
    Hold {
        event: EventId,
        customer: CustomerId,
        selection: Selection,
        ttl_ms: Option<u64>,
    },
    /// Push a live hold's expiry to `now + ttl`, within the event's lifetime cap. Only its holder may.
    ExtendHold {
        hold: HoldId,
        customer: CustomerId,
        ttl_ms: Option<u64>,
    },
    /// Give a hold back. Only its holder may; releasing an expired or released hold does nothing.
    Release { hold: HoldId, customer: CustomerId },
    /// Turn a live hold into a confirmed order. Only its holder may.
    Buy {
        hold: HoldId,
        customer: CustomerId,
        payment_reference: String,
    },
    /// Admin: cancel (refund) a confirmed order; its seats go back on sale.
    CancelOrder { order: OrderId, reason: String },
    /// Admin: take available seats off sale.
    BlockSeats { event: EventId, seats: Vec<SeatId> },
    /// Admin: put blocked seats back on sale.
    UnblockSeats { event: EventId, seats: Vec<SeatId> },
    /// Release every hold whose expiry is at or before state time, at most `holds_max` of them.
    Expire { holds_max: u32 },
    /// Join a gated event's waiting room. `rank` is a random number the proposing node draws: before
    /// the on-sale time it orders the pre-sale arrivals (a shuffle), after it nothing. Joining again
    /// answers with the customer's place, unchanged.
    JoinQueue {
        event: EventId,
        customer: CustomerId,
        rank: u64,
    },
    /// From the on-sale time: give up to `customers_max` pre-sale arrivals, in rank order, their
    /// positions in the queue.
    SequenceQueue { event: EventId, customers_max: u32 },
    /// Admit the next up to `customers_max` positions of a gated event's queue: each may hold until
    /// the access TTL after now. Only while the event is on sale or sold out (not before the sale,
    /// nor during a pause, when an admission would run out unused).
    Admit { event: EventId, customers_max: u32 },
    /// Admin: a gated event's waiting-room settings.
    SetAdmission {
        event: EventId,
        settings: AdmissionSettings,
    },
    /// Moving an event to another group, step 1 (on its group): from now on every command on the
    /// event is rejected with `EVENT_MOVED`, and expiry sweeps leave its holds alone, so its state
    /// stays exactly as exported. Sealing again changes nothing.
    SealEvent { event: EventId },
    /// Step 2 (on the new group): the event's records as its old group exported them (see
    /// [`crate::relocate`]); refused, with nothing written, unless they are exactly one whole
    /// event that passes every invariant and bring no outcome under the import's own request id.
    ImportEvent(crate::relocate::EventExport),
    /// Step 3 (on the old group, once the cluster routes the event to the new one): deletes the
    /// sealed event's records; it stays sealed, so late commands keep learning it moved.
    DropEvent { event: EventId },
}

impl Action {
    /// Stable name of the command kind, for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Action::CreateEvent(_) => "create_event",
            Action::SetEventStatus { .. } => "set_event_status",
            Action::Hold { .. } => "hold",
            Action::ExtendHold { .. } => "extend_hold",
            Action::Release { .. } => "release",
            Action::Buy { .. } => "buy",
            Action::CancelOrder { .. } => "cancel_order",
            Action::BlockSeats { .. } => "block_seats",
            Action::UnblockSeats { .. } => "unblock_seats",
            Action::Expire { .. } => "expire",
            Action::JoinQueue { .. } => "join_queue",
            Action::SequenceQueue { .. } => "sequence_queue",
            Action::Admit { .. } => "admit",
            Action::SetAdmission { .. } => "set_admission",
            Action::SealEvent { .. } => "seal_event",
            Action::ImportEvent(_) => "import_event",
            Action::DropEvent { .. } => "drop_event",
        }
    }

    /// The event this action touches (every action but `Expire`, which sweeps the whole group).
    pub fn event(&self) -> Option<&EventId> {
        match self {
            Action::CreateEvent(spec) => Some(&spec.id),
            Action::SetEventStatus { event, .. }
            | Action::Hold { event, .. }
            | Action::BlockSeats { event, .. }
            | Action::UnblockSeats { event, .. }
            | Action::JoinQueue { event, .. }
            | Action::SequenceQueue { event, .. }
            | Action::Admit { event, .. }
            | Action::SetAdmission { event, .. }
            | Action::SealEvent { event }
            | Action::DropEvent { event } => Some(event),
            Action::ImportEvent(export) => Some(&export.event),
            Action::ExtendHold { hold, .. }
            | Action::Release { hold, .. }
            | Action::Buy { hold, .. } => Some(&hold.event),
            Action::CancelOrder { order, .. } => Some(&order.event),
            Action::Expire { .. } => None,
        }
    }
}

/// Which seats or places a hold asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Selection {
    /// These exact seats, all or nothing.
    Seats(Vec<SeatId>),
    /// `quantity` places in the named general-admission area.
    GeneralAdmission { area: String, quantity: u32 },
    /// The best `quantity` seats in a section or price tier: together in one row when possible, the
    /// front-most such block, never leaving a lone seat beside it when another choice exists.
    BestAvailable { scope: Scope, quantity: u32 },
}

/// Where best-available looks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    /// One section, by name.
    Section(String),
    /// Every section of a price tier (and rows priced at it), by tier name, in layout order.
    Tier(String),
}

/// The result of a command: it took effect, or it was refused and changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Accepted(Effect),
    Rejected(Rejection),
}

impl Outcome {
    /// The rejection, if the command was refused.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            Outcome::Accepted(_) => None,
            Outcome::Rejected(rejection) => Some(rejection),
        }
    }

    /// The versioned binary form.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Reads an outcome written by [`Outcome::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Outcome, CodecError> {
        codec::decode(bytes, COMMAND_BYTES_MAX)
    }
}

/// What an accepted command did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    EventCreated {
        event: EventId,
        seats: u32,
        ga_places: u32,
    },
    EventStatusChanged {
        event: EventId,
        status: EventStatus,
    },
    Held(HoldView),
    HoldExtended {
        hold: HoldId,
        expires_at_ms: u64,
    },
    /// `places_released` is 0 when the hold had already expired or been released.
    Released {
        hold: HoldId,
        places_released: u32,
    },
    Bought(OrderView),
    OrderCancelled {
        order: OrderId,
        places_released: u32,
    },
    /// How many seats changed state (seats already in the asked state are left alone).
    SeatsBlocked {
        seats: u32,
    },
    SeatsUnblocked {
        seats: u32,
    },
    /// Holds released by this sweep; `more` says expired holds remain for another sweep.
    Expired {
        holds: u32,
        more: bool,
    },
    /// The customer's place in the waiting room: new, or the one they had.
    QueueJoined(QueueView),
    /// Pre-sale arrivals given a position; `more` says some still wait for one.
    QueueSequenced {
        event: EventId,
        customers: u32,
        more: bool,
    },
    /// Positions admitted by this command (0 when none could be); the queue has admitted every
    /// position below `watermark`.
    Admitted {
        event: EventId,
        customers: u32,
        watermark: u64,
    },
    AdmissionSet {
        event: EventId,
        settings: AdmissionSettings,
    },
    /// The event takes no more commands here (it is moving to another group).
    EventSealed {
        event: EventId,
    },
    /// The event's records written here, from its old group.
    EventImported {
        event: EventId,
        records: u32,
    },
    /// The moved event's records deleted here.
    EventDropped {
        event: EventId,
        records: u32,
    },
}

/// A customer's place in a gated event's waiting room, at the time of the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueView {
    pub event: EventId,
    pub customer: CustomerId,
    pub joined_at_ms: u64,
    /// Joined before the on-sale time: admitted in rank order, before every later arrival.
    pub presale: bool,
    /// Position in admission order, from 0; `None` for a pre-sale arrival not sequenced yet.
    pub position: Option<u64>,
    /// Positions still to be admitted before this one (0 once admitted); `None` while unknown.
    pub ahead: Option<u64>,
    pub admission: AdmissionStatus,
}

/// Where a queued customer stands with the admission a hold needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdmissionStatus {
    /// Not admitted yet.
    Waiting,
    /// Admitted: may hold until `access_expires_at_ms` (exclusive).
    Admitted {
        admitted_at_ms: u64,
        access_expires_at_ms: u64,
    },
    /// Was admitted; the access ended at `access_expires_at_ms`.
    Expired {
        admitted_at_ms: u64,
        access_expires_at_ms: u64,
    },
}

/// The life of a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HoldStatus {
    Active,
    Released,
    Expired,
    Purchased { order: u64 },
}

/// What a hold covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HoldItems {
    Seats(Vec<SeatId>),
    Places { area: u16, quantity: u32 },
}

impl HoldItems {
    /// Number of seats or places.
    pub fn quantity(&self) -> u32 {
        match self {
            // A hold has at most SEATS_PER_HOLD_MAX seats, far below u32::MAX.
            HoldItems::Seats(seats) => seats.len() as u32,
            HoldItems::Places { quantity, .. } => *quantity,
        }
    }
}

/// A hold as callers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldView {
    pub id: HoldId,
    pub customer: CustomerId,
    pub items: HoldItems,
    pub amount_cents: u64,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
    /// Status at the time of the answer: an active hold past its expiry reads as `Expired`.
    pub status: HoldStatus,
}

/// A confirmed (or later cancelled) order's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderStatus {
    Confirmed,
    Cancelled,
}

/// One ticket: a seat, or a place in a general-admission area.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// Position in the order, from 1; see [`Ticket::id`].
    pub number: u32,
    /// The seat, or `None` for a general-admission place (the order's items name the area).
    pub seat: Option<SeatId>,
    pub price_cents: u64,
}

impl Ticket {
    /// The ticket's id within `order`.
    pub fn id(&self, order: &OrderId) -> TicketId {
        TicketId {
            order: order.clone(),
            number: self.number,
        }
    }
}

/// An order as callers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderView {
    pub id: OrderId,
    pub customer: CustomerId,
    pub hold: HoldId,
    /// The seats or general-admission places bought.
    pub items: HoldItems,
    pub tickets: Vec<Ticket>,
    pub amount_cents: u64,
    pub payment_reference: String,
    pub created_at_ms: u64,
    pub status: OrderStatus,
    /// The admin's reason, once cancelled.
    pub cancel_reason: Option<String>,
}

/// The named per-event or per-command limit a request ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Limit {
    SeatsPerHold,
    SeatsPerCustomer,
    HoldsPerCustomer,
    HoldLifetime,
    /// [`crate::limits::QUEUE_CUSTOMERS_MAX`]: customers one waiting room may queue.
    QueueCustomers,
}

impl Limit {
    /// Stable snake_case name of the limit, as in the event's limits.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::SeatsPerHold => "seats_per_hold_max",
            Limit::SeatsPerCustomer => "seats_per_customer_max",
            Limit::HoldsPerCustomer => "holds_per_customer_max",
            Limit::HoldLifetime => "hold_lifetime_ms_max",
            Limit::QueueCustomers => "queue_customers_max",
        }
    }
}

/// Why a command was refused. A rejection is an answer, not a failure: it changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Rejection {
    #[error("invalid request: {reason}")]
    InvalidRequest { reason: String },
    #[error("no such event")]
    UnknownEvent,
    #[error("an event with this id exists already")]
    EventExists,
    #[error("the event is not on sale (it is {})", status.as_str())]
    EventNotOnSale { status: EventStatus },
    #[error("cannot {change:?} an event that is {}", from.as_str())]
    InvalidTransition {
        from: EventStatus,
        change: StatusChange,
    },
    #[error("no such seat(s): {}", seat_list(seats))]
    UnknownSeat { seats: Vec<SeatId> },
    #[error("seat(s) not available: {}", seat_list(seats))]
    SeatUnavailable { seats: Vec<SeatId> },
    #[error(
        "only {available} of the {requested} requested seats or places are available together"
    )]
    InsufficientInventory { requested: u32, available: u32 },
    #[error("no such hold")]
    UnknownHold,
    #[error("the hold has expired")]
    HoldExpired,
    #[error("the hold is no longer active ({status:?})")]
    HoldNotActive { status: HoldStatus },
    #[error("the hold belongs to another customer")]
    NotHolder,
    #[error("limit {} is {max}; the request needs {requested}", limit.as_str())]
    LimitExceeded {
        limit: Limit,
        max: u64,
        requested: u64,
    },
    #[error("no such order")]
    UnknownOrder,
    #[error("the order is already cancelled")]
    OrderNotActive,
    #[error("this request id was already used for a different command")]
    RequestIdReused,
    #[error("the event has no waiting room (it is not gated)")]
    NotGated,
    #[error("the sale has not started: pre-sale arrivals are sequenced from the on-sale time")]
    SaleNotStarted,
    #[error("the waiting room has not admitted this customer yet")]
    NotAdmitted,
    #[error("the customer's admission has expired")]
    AdmissionExpired,
    #[error("the event has moved to another group")]
    EventMoved,
}

/// Seat ids as their text form, comma-separated.
fn seat_list(seats: &[SeatId]) -> String {
    seats
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Rejection {
    /// The stable code clients and HTTP/gRPC mappings switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::InvalidRequest { .. } => "INVALID_REQUEST",
            Rejection::UnknownEvent => "UNKNOWN_EVENT",
            Rejection::EventExists => "EVENT_EXISTS",
            Rejection::EventNotOnSale { .. } => "EVENT_NOT_ON_SALE",
            Rejection::InvalidTransition { .. } => "INVALID_TRANSITION",
            Rejection::UnknownSeat { .. } => "UNKNOWN_SEAT",
            Rejection::SeatUnavailable { .. } => "SEAT_UNAVAILABLE",
            Rejection::InsufficientInventory { .. } => "INSUFFICIENT_INVENTORY",
            Rejection::UnknownHold => "UNKNOWN_HOLD",
            Rejection::HoldExpired => "HOLD_EXPIRED",
            Rejection::HoldNotActive { .. } => "HOLD_NOT_ACTIVE",
            Rejection::NotHolder => "NOT_HOLDER",
            Rejection::LimitExceeded { .. } => "LIMIT_EXCEEDED",
            Rejection::UnknownOrder => "UNKNOWN_ORDER",
            Rejection::OrderNotActive => "ORDER_NOT_ACTIVE",
            Rejection::RequestIdReused => "REQUEST_ID_REUSED",
            Rejection::NotGated => "NOT_GATED",
            Rejection::SaleNotStarted => "SALE_NOT_STARTED",
            Rejection::NotAdmitted => "NOT_ADMITTED",
            Rejection::AdmissionExpired => "ADMISSION_EXPIRED",
            Rejection::EventMoved => "EVENT_MOVED",
        }
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> Rejection {
        Rejection::InvalidRequest {
            reason: reason.into(),
        }
    }
}
