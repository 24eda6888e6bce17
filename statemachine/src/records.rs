//! The key layout of the state and the records stored under each key.
//!
//! Every key starts with a one-byte tag. Strings in keys end with a 0 byte (ids never contain one) and
//! numbers are big-endian, so byte order is the order we iterate in: an event's rows front to back,
//! holds by expiry time, request outcomes by the time they were recorded. The node prefixes all of it
//! with the Raft group id; the state machine never sees that prefix.
//!
//! | tag | key after the tag | record |
//! |---|---|---|
//! | 01 | — | state time, ms (`u64`) |
//! | 02 | request id | [`RequestRecord`] |
//! | 03 | recorded at (be64), request id | — (retention index) |
//! | 10 | event | [`EventRecord`] |
//! | 11 | event | [`TotalsRecord`] |
//! | 12 | event, zone kind (u8), zone (be16) | [`ZoneRecord`] |
//! | 13 | event, section (be16), row (be16) | [`RowLayout`] (labels, seat numbers; never changes) |
//! | 14 | event, hold (be64) | [`HoldRecord`] |
//! | 15 | event, order (be64) | [`OrderRecord`] |
//! | 16 | event, customer | [`CustomerRecord`] |
//! | 17 | expires at (be64), event, hold (be64) | — (expiry index of active holds) |
//! | 18 | customer, event, order (be64) | — (orders of a customer) |
//! | 19 | event, area (be16), expires at (be64), hold (be64) | — (expiry index of active GA holds) |
//! | 1a | event, section (be16), row (be16) | [`RowStates`] (state and tier of every seat) |
//! | 1b | event | [`EventInfo`] (name, venue, tier names: what only queries read) |
//! | 1c | event | [`QueueRecord`] (a gated event's waiting-room counters and settings) |
//! | 1d | event, customer | [`QueuedRecord`] (a customer's place in the waiting room) |
//! | 1e | event, rank (be64), customer | — (pre-sale arrivals not sequenced yet, in admission order) |
//! | 1f | event, batch end position (be64) | [`AdmissionBatch`] (positions admitted together) |
//! | 20 | event | — (the event moved to another group: sealed) |

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::codec::{self, CodecError};
use crate::command::{HoldItems, HoldStatus, OrderStatus, Outcome, Ticket};
use crate::event::{AdminState, Counts, EventLimits, PriceTier};
use crate::ids::{CustomerId, EventId};
use crate::store::{Store, StoreError, Txn};

/// Largest stored record we agree to decode, in bytes (an event layout with 200,000 seats fits).
const RECORD_BYTES_MAX: usize = 64 * 1024 * 1024;

pub(crate) mod tag {
    pub const STATE_TIME: u8 = 0x01;
    pub const REQUEST: u8 = 0x02;
    pub const REQUEST_BY_TIME: u8 = 0x03;
    pub const EVENT: u8 = 0x10;
    pub const TOTALS: u8 = 0x11;
    pub const ZONE: u8 = 0x12;
    pub const ROW: u8 = 0x13;
    pub const HOLD: u8 = 0x14;
    pub const ORDER: u8 = 0x15;
    pub const CUSTOMER: u8 = 0x16;
    pub const HOLD_EXPIRY: u8 = 0x17;
    pub const CUSTOMER_ORDER: u8 = 0x18;
    pub const GA_HOLD_EXPIRY: u8 = 0x19;
    pub const ROW_STATES: u8 = 0x1a;
    pub const EVENT_INFO: u8 = 0x1b;
    pub const QUEUE: u8 = 0x1c;
    pub const QUEUED: u8 = 0x1d;
    pub const QUEUE_RANK: u8 = 0x1e;
    pub const ADMISSION_BATCH: u8 = 0x1f;
    pub const SEALED: u8 = 0x20;
}

/// Whether applies read the record under `key` again, by its key, after writing it: the state
/// time, an event and its counters, rows, holds, customers, the waiting room's totals, the sealed
/// marker. Not so a request's outcome (read back only by a retry), an order, a queued customer,
/// and the time- and rank-ordered indexes (only scanned): a read cache in front of the store gains
/// nothing by keeping those, and pays to insert each one.
pub fn applies_reread(key: &[u8]) -> bool {
    !matches!(
        key.first(),
        Some(
            &(tag::REQUEST
                | tag::REQUEST_BY_TIME
                | tag::ORDER
                | tag::HOLD_EXPIRY
                | tag::CUSTOMER_ORDER
                | tag::GA_HOLD_EXPIRY
                | tag::QUEUED
                | tag::QUEUE_RANK
                | tag::ADMISSION_BATCH)
        )
    )
}

/// Builds keys component by component.
#[derive(Debug)]
pub(crate) struct Key(Vec<u8>);

impl Key {
    pub fn new(tag: u8) -> Key {
        let mut bytes = Vec::with_capacity(48);
        bytes.push(tag);
        Key(bytes)
    }
    pub fn text(mut self, s: &str) -> Key {
        self.0.extend_from_slice(s.as_bytes());
        self.0.push(0);
        self
    }
    pub fn u8(mut self, v: u8) -> Key {
        self.0.push(v);
        self
    }
    pub fn u16(mut self, v: u16) -> Key {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u64(mut self, v: u64) -> Key {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn build(self) -> Vec<u8> {
        self.0
    }
}

/// The first key after every key that starts with `prefix`.
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    vec![u8::MAX; prefix.len() + 1]
}

/// Reads keys component by component; `None` on a key that does not have the expected shape.
#[derive(Debug)]
pub(crate) struct KeyReader<'k>(&'k [u8]);

impl<'k> KeyReader<'k> {
    pub fn new(key: &'k [u8], tag: u8) -> Option<KeyReader<'k>> {
        match key.split_first() {
            Some((&t, rest)) if t == tag => Some(KeyReader(rest)),
            _ => None,
        }
    }
    pub fn text(&mut self) -> Option<&'k str> {
        let end = self.0.iter().position(|&b| b == 0)?;
        let (s, rest) = self.0.split_at(end);
        self.0 = &rest[1..];
        std::str::from_utf8(s).ok()
    }
    pub fn u64(&mut self) -> Option<u64> {
        let (head, rest) = self.0.split_first_chunk::<8>()?;
        self.0 = rest;
        Some(u64::from_be_bytes(*head))
    }
    pub fn is_done(&self) -> bool {
        self.0.is_empty()
    }
}

/// Which kind of zone a zone record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ZoneKind {
    Section = 0,
    GaArea = 1,
}

pub(crate) mod keys {
    use super::{tag, Key, ZoneKind};
    use crate::ids::{CustomerId, EventId};

    pub fn state_time() -> Vec<u8> {
        vec![tag::STATE_TIME]
    }
    pub fn request(request_id: &str) -> Vec<u8> {
        Key::new(tag::REQUEST).text(request_id).build()
    }
    pub fn request_by_time(at_ms: u64, request_id: &str) -> Vec<u8> {
        Key::new(tag::REQUEST_BY_TIME)
            .u64(at_ms)
            .text(request_id)
            .build()
    }
    pub fn event(event: &EventId) -> Vec<u8> {
        Key::new(tag::EVENT).text(event.as_str()).build()
    }
    pub fn event_info(event: &EventId) -> Vec<u8> {
        Key::new(tag::EVENT_INFO).text(event.as_str()).build()
    }
    pub fn totals(event: &EventId) -> Vec<u8> {
        Key::new(tag::TOTALS).text(event.as_str()).build()
    }
    pub fn zone(event: &EventId, kind: ZoneKind, zone: u16) -> Vec<u8> {
        Key::new(tag::ZONE)
            .text(event.as_str())
            .u8(kind as u8)
            .u16(zone)
            .build()
    }
    pub fn row_layout(event: &EventId, section: u16, row: u16) -> Vec<u8> {
        Key::new(tag::ROW)
            .text(event.as_str())
            .u16(section)
            .u16(row)
            .build()
    }
    pub fn row_states(event: &EventId, section: u16, row: u16) -> Vec<u8> {
        Key::new(tag::ROW_STATES)
            .text(event.as_str())
            .u16(section)
            .u16(row)
            .build()
    }
    pub fn hold(event: &EventId, hold: u64) -> Vec<u8> {
        Key::new(tag::HOLD).text(event.as_str()).u64(hold).build()
    }
    pub fn order(event: &EventId, order: u64) -> Vec<u8> {
        Key::new(tag::ORDER).text(event.as_str()).u64(order).build()
    }
    pub fn customer(event: &EventId, customer: &CustomerId) -> Vec<u8> {
        Key::new(tag::CUSTOMER)
            .text(event.as_str())
            .text(customer.as_str())
            .build()
    }
    pub fn hold_expiry(expires_at_ms: u64, event: &EventId, hold: u64) -> Vec<u8> {
        Key::new(tag::HOLD_EXPIRY)
            .u64(expires_at_ms)
            .text(event.as_str())
            .u64(hold)
            .build()
    }
    pub fn customer_order(customer: &CustomerId, event: &EventId, order: u64) -> Vec<u8> {
        Key::new(tag::CUSTOMER_ORDER)
            .text(customer.as_str())
            .text(event.as_str())
            .u64(order)
            .build()
    }
    pub fn ga_hold_expiry(event: &EventId, area: u16, expires_at_ms: u64, hold: u64) -> Vec<u8> {
        Key::new(tag::GA_HOLD_EXPIRY)
            .text(event.as_str())
            .u16(area)
            .u64(expires_at_ms)
            .u64(hold)
            .build()
    }
    pub fn queue(event: &EventId) -> Vec<u8> {
        Key::new(tag::QUEUE).text(event.as_str()).build()
    }
    pub fn queued(event: &EventId, customer: &CustomerId) -> Vec<u8> {
        Key::new(tag::QUEUED)
            .text(event.as_str())
            .text(customer.as_str())
            .build()
    }
    pub fn queue_rank(event: &EventId, rank: u64, customer: &CustomerId) -> Vec<u8> {
        Key::new(tag::QUEUE_RANK)
            .text(event.as_str())
            .u64(rank)
            .text(customer.as_str())
            .build()
    }
    pub fn admission_batch(event: &EventId, end: u64) -> Vec<u8> {
        Key::new(tag::ADMISSION_BATCH)
            .text(event.as_str())
            .u64(end)
            .build()
    }
    pub fn sealed(event: &EventId) -> Vec<u8> {
        Key::new(tag::SEALED).text(event.as_str()).build()
    }
    /// Prefix of every key of `tag` that belongs to `event` (tags whose first component is the event).
    pub fn event_prefix(tag: u8, event: &EventId) -> Vec<u8> {
        Key::new(tag).text(event.as_str()).build()
    }
}

/// The outcome of a request, kept for idempotent retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RequestRecord {
    pub at_ms: u64,
    /// Hash of the encoded action: a retry must ask for the same thing.
    pub fingerprint: u64,
    pub outcome: Outcome,
    /// The event the command named (none for sweeps): its records move with the event.
    pub event: Option<EventId>,
}

/// What every command on an event reads: its sale window, prices, limits and layout size. The
/// description lives apart, in [`EventInfo`], and the seats in row records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EventRecord {
    pub on_sale_at_ms: u64,
    pub off_sale_at_ms: u64,
    /// Price of each tier, in cents, indexed like [`EventInfo::price_tiers`].
    pub prices_cents: Vec<u64>,
    pub limits: EventLimits,
    pub gated: bool,
    pub admin: AdminState,
    pub created_at_ms: u64,
    pub sections: u16,
    pub ga_areas: u16,
}

/// An event's description, read by queries and by best-available requests naming a tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EventInfo {
    pub name: String,
    pub venue: String,
    pub category: String,
    pub starts_at_ms: u64,
    pub price_tiers: Vec<PriceTier>,
}

/// An event's counters: the next hold and order numbers and its seat counts by state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TotalsRecord {
    pub next_hold: u64,
    pub next_order: u64,
    pub counts: Counts,
    /// Counts per price tier, indexed like the event's tiers.
    pub tiers: Vec<Counts>,
}

/// A section or general-admission area: its name, tier, size and counts by state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ZoneRecord {
    pub name: String,
    pub tier: u16,
    /// Every tier priced in the zone (a row may override its section's tier), its own tier first.
    pub tiers: Vec<u16>,
    /// Rows of a section; 0 for a general-admission area.
    pub rows: u16,
    pub capacity: u32,
    pub counts: Counts,
    /// Rows of a section with an available seat: bit `r % 64` of word `r / 64` for row `r` (empty
    /// for a general-admission area). Best-available reads only these rows when no hold is dead.
    pub open_rows: Vec<u64>,
}

impl ZoneRecord {
    /// The open-row set of a section of `rows` rows, every one of them open.
    pub fn all_rows_open(rows: u16) -> Vec<u64> {
        let mut words = vec![u64::MAX; usize::from(rows).div_ceil(64)];
        if let Some(last) = words.last_mut() {
            let used = usize::from(rows) % 64;
            if used != 0 {
                *last = (1u64 << used) - 1;
            }
        }
        words
    }

    /// Whether row `row` has an available seat, as recorded.
    pub fn row_open(&self, row: u16) -> bool {
        let row = usize::from(row);
        self.open_rows
            .get(row / 64)
            .is_some_and(|word| word >> (row % 64) & 1 == 1)
    }

    /// Records whether row `row` (which must exist) has an available seat.
    pub fn set_row_open(&mut self, row: u16, open: bool) {
        let row = usize::from(row);
        let word = self
            .open_rows
            .get_mut(row / 64)
            .unwrap_or_else(|| panic!("invariant violated: row {row} beyond the open-row set"));
        if open {
            *word |= 1 << (row % 64);
        } else {
            *word &= !(1 << (row % 64));
        }
    }
}

/// The state of one seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum SeatState {
    Available,
    Held { hold: u64 },
    Sold { order: u64 },
    Blocked,
}

/// One seat of a row layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SeatLayout {
    pub number: u32,
    pub accessible: bool,
}

/// What never changes about a row: its label and its seats' numbers, read for labels and seat maps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RowLayout {
    pub label: String,
    pub seats: Vec<SeatLayout>,
}

/// Largest hold or order number a seat state can refer to (56 bits).
const SEAT_REF_MAX: u64 = (1 << 56) - 1;

/// What changes about a row: every seat's state, with its price tier, one word per seat.
///
/// This is the record a seat operation reads and writes, so it is kept flat: after the format byte,
/// 8 bytes per seat, the little-endian word `reference << 8 | tier << 2 | kind`, where kind 0 is
/// available, 1 held (reference = hold number), 2 sold (reference = order number), 3 blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowStates {
    words: Vec<u64>,
}

impl RowStates {
    /// A row of available seats with the given tiers (each below `PRICE_TIERS_MAX` = 64).
    pub fn available(tiers: impl IntoIterator<Item = u16>) -> RowStates {
        RowStates {
            words: tiers.into_iter().map(|t| u64::from(t) << 2).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// State and tier of the seat at `index`, if the row has one.
    pub fn seat(&self, index: usize) -> Option<(SeatState, u16)> {
        self.words.get(index).map(|&w| Self::unpack(w))
    }

    /// Whether any seat of the row is available.
    pub fn any_available(&self) -> bool {
        self.words.iter().any(|&w| w & 0b11 == 0)
    }

    /// Every seat's state and tier, in row order.
    pub fn seats(&self) -> impl Iterator<Item = (SeatState, u16)> + '_ {
        self.words.iter().map(|&w| Self::unpack(w))
    }

    /// Sets the state of the seat at `index` (which must exist); returns its state and tier before.
    pub fn set(&mut self, index: usize, state: SeatState) -> Option<(SeatState, u16)> {
        let word = self.words.get_mut(index)?;
        let before = Self::unpack(*word);
        let (kind, reference) = match state {
            SeatState::Available => (0, 0),
            SeatState::Held { hold } => (1, hold),
            SeatState::Sold { order } => (2, order),
            SeatState::Blocked => (3, 0),
        };
        assert!(
            reference <= SEAT_REF_MAX,
            "hold or order number {reference} beyond 56 bits"
        );
        *word = reference << 8 | (*word & 0xfc) | kind;
        Some(before)
    }

    fn unpack(word: u64) -> (SeatState, u16) {
        let reference = word >> 8;
        let state = match word & 0b11 {
            0 => SeatState::Available,
            1 => SeatState::Held { hold: reference },
            2 => SeatState::Sold { order: reference },
            _ => SeatState::Blocked,
        };
        (state, ((word >> 2) & 0x3f) as u16)
    }
}

/// A record as stored: how it is encoded and decoded.
pub(crate) trait Stored: Sized {
    fn decode_from(key: &[u8], bytes: &[u8]) -> Result<Self, StoreError>;
    fn encode_to(&self) -> Vec<u8>;
}

impl Stored for RowStates {
    fn decode_from(key: &[u8], bytes: &[u8]) -> Result<Self, StoreError> {
        let corrupt = |source| StoreError::Corrupt {
            key: key.to_vec(),
            source,
        };
        let (&version, body) = bytes.split_first().ok_or(corrupt(CodecError::Empty))?;
        if version != codec::FORMAT_VERSION {
            return Err(corrupt(CodecError::UnknownVersion(version)));
        }
        if body.len() % 8 != 0 {
            return Err(corrupt(CodecError::Malformed(format!(
                "row of {} bytes",
                body.len()
            ))));
        }
        let words: Vec<u64> = body
            .chunks_exact(8)
            .map(|w| u64::from_le_bytes(w.try_into().expect("chunks of 8")))
            .collect();
        // Available and blocked seats refer to nothing.
        if words
            .iter()
            .any(|w| matches!(w & 0b11, 0 | 3) && w >> 8 != 0)
        {
            return Err(corrupt(CodecError::Malformed(
                "free seat with a reference".into(),
            )));
        }
        Ok(RowStates { words })
    }

    fn encode_to(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 8 * self.words.len());
        out.push(codec::FORMAT_VERSION);
        for word in &self.words {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out
    }
}

macro_rules! stored_with_serde {
    ($($record:ty),*) => {
        $(impl Stored for $record {
            fn decode_from(key: &[u8], bytes: &[u8]) -> Result<Self, StoreError> {
                decode(key, bytes)
            }
            fn encode_to(&self) -> Vec<u8> {
                codec::encode(self)
            }
        })*
    };
}

stored_with_serde!(ZoneRecord, TotalsRecord, CustomerRecord, RowLayout);

/// A hold, kept after it ends so that late retries and queries get a precise answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HoldRecord {
    pub customer: CustomerId,
    pub items: HoldItems,
    pub amount_cents: u64,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
    pub status: HoldStatus,
}

impl HoldRecord {
    /// Active and not yet past its expiry at `now_ms`.
    pub fn is_live(&self, now_ms: u64) -> bool {
        self.status == HoldStatus::Active && self.expires_at_ms > now_ms
    }
}

/// An order and its tickets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OrderRecord {
    pub customer: CustomerId,
    pub hold: u64,
    pub items: HoldItems,
    pub tickets: Vec<Ticket>,
    pub amount_cents: u64,
    pub payment_reference: String,
    pub created_at_ms: u64,
    pub status: OrderStatus,
    pub cancel_reason: Option<String>,
}

/// A customer's live holds and purchases in one event, for the per-customer limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CustomerRecord {
    pub holds: Vec<CustomerHold>,
    /// Seats and places in confirmed orders.
    pub bought: u32,
}

impl CustomerRecord {
    /// Seats and places in the customer's active holds.
    pub fn held(&self) -> u32 {
        self.holds.iter().map(|h| h.places).sum()
    }
}

/// One active hold of a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CustomerHold {
    pub hold: u64,
    pub places: u32,
    pub expires_at_ms: u64,
}

/// A gated event's waiting room: how many joined and how far sequencing and admission got.
///
/// Positions are dense: pre-sale arrivals get `0..presale_total` as they are sequenced (in rank
/// order), later arrivals `presale_total + k` as they join (the k-th later arrival). Every position
/// below `watermark` is admitted; the watermark never passes an unsequenced pre-sale position.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct QueueRecord {
    /// Customers who joined before the on-sale time (frozen from then on: state time never goes back).
    pub presale_total: u64,
    /// Pre-sale arrivals given a position so far.
    pub presale_sequenced: u64,
    /// Customers who joined from the on-sale time on.
    pub later_count: u64,
    /// Positions below this are admitted.
    pub watermark: u64,
    pub settings: crate::event::AdmissionSettings,
}

impl QueueRecord {
    /// Customers queued, pre-sale and later arrivals together.
    pub fn customers(&self) -> u64 {
        self.presale_total + self.later_count
    }

    /// The position the watermark may reach now: the end of the sequenced pre-sale positions while
    /// some remain unsequenced, else the end of the queue.
    pub fn admissible_end(&self) -> u64 {
        if self.presale_sequenced < self.presale_total {
            self.presale_sequenced
        } else {
            self.customers()
        }
    }
}

/// Where a queued customer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Place {
    /// Joined before the on-sale time with `rank`; the position comes with sequencing.
    Presale { rank: u64, position: Option<u64> },
    /// Joined from the on-sale time on, first come first served.
    Later { position: u64 },
}

impl Place {
    pub fn position(self) -> Option<u64> {
        match self {
            Place::Presale { position, .. } => position,
            Place::Later { position } => Some(position),
        }
    }
}

/// A customer's place in a gated event's waiting room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct QueuedRecord {
    pub joined_at_ms: u64,
    pub place: Place,
}

/// Positions admitted by one `Admit`, stored under the end (exclusive) of their range: the batch of
/// position `p` is the first one whose key ends after `p`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AdmissionBatch {
    pub admitted_at_ms: u64,
    /// `admitted_at_ms` plus the access TTL in force at the admission.
    pub access_expires_at_ms: u64,
}

/// The admission batch that admitted `position` (which must be below the watermark), if stored.
pub(crate) fn admission_batch_of<S: Store + ?Sized>(
    store: &S,
    event: &EventId,
    position: u64,
) -> Result<Option<AdmissionBatch>, StoreError> {
    let from = keys::admission_batch(event, position.saturating_add(1));
    let to = prefix_end(&keys::event_prefix(tag::ADMISSION_BATCH, event));
    match store.scan(&from, &to, 1)?.into_iter().next() {
        Some((key, bytes)) => Ok(Some(decode(&key, &bytes)?)),
        None => Ok(None),
    }
}

/// Reads and decodes the record under `key`, for records with their own encoding.
pub(crate) fn read_stored<T: Stored, S: Store + ?Sized>(
    store: &S,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    let mut record = None;
    store.get_with(key, &mut |bytes| record = Some(T::decode_from(key, bytes)))?;
    record.transpose()
}

/// Reads and decodes the record under `key`.
pub(crate) fn read<T: DeserializeOwned, S: Store + ?Sized>(
    store: &S,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    let mut record = None;
    store.get_with(key, &mut |bytes| record = Some(decode(key, bytes)))?;
    record.transpose()
}

/// Decodes a record read from under `key`.
pub(crate) fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    codec::decode(bytes, RECORD_BYTES_MAX).map_err(|source| StoreError::Corrupt {
        key: key.to_vec(),
        source,
    })
}

/// Encodes `value` and stores it under `key`.
pub(crate) fn write<T: Serialize, S: Store + ?Sized>(
    txn: &mut Txn<'_, S>,
    key: Vec<u8>,
    value: &T,
) {
    txn.put(key, codec::encode(value));
}

/// The state time: the largest command time applied so far (0 before the first command).
pub(crate) fn state_time<S: Store + ?Sized>(store: &S) -> Result<u64, StoreError> {
    Ok(read::<u64, S>(store, &keys::state_time())?.unwrap_or(0))
}

/// Parses a pre-sale rank-index key back into (event, rank, customer).
pub(crate) fn parse_queue_rank(key: &[u8]) -> Option<(EventId, u64, CustomerId)> {
    let mut r = KeyReader::new(key, tag::QUEUE_RANK)?;
    let event = EventId::new(r.text()?).ok()?;
    let rank = r.u64()?;
    let customer = CustomerId::new(r.text()?).ok()?;
    r.is_done().then_some((event, rank, customer))
}

/// Parses an expiry-index key back into (expires at, event, hold).
pub(crate) fn parse_hold_expiry(key: &[u8]) -> Option<(u64, EventId, u64)> {
    let mut r = KeyReader::new(key, tag::HOLD_EXPIRY)?;
    let expires = r.u64()?;
    let event = EventId::new(r.text()?).ok()?;
    let hold = r.u64()?;
    r.is_done().then_some((expires, event, hold))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

    use super::*;

    #[test]
    fn the_records_a_command_reads_again_are_told_apart_from_those_only_retries_and_scans_read() {
        let event = EventId::new("tour").unwrap();
        let customer = CustomerId::new("ann").unwrap();
        let reread = [
            keys::state_time(),
            keys::event(&event),
            keys::totals(&event),
            keys::zone(&event, ZoneKind::Section, 3),
            keys::row_layout(&event, 3, 7),
            keys::row_states(&event, 3, 7),
            keys::hold(&event, 9),
            keys::customer(&event, &customer),
            keys::queue(&event),
            keys::sealed(&event),
        ];
        for key in &reread {
            assert!(applies_reread(key), "{key:02x?} is read again by applies");
        }
        let not_reread = [
            keys::request("req-1"),
            keys::request_by_time(5, "req-1"),
            keys::order(&event, 9),
            keys::hold_expiry(5, &event, 9),
            keys::customer_order(&customer, &event, 9),
            keys::ga_hold_expiry(&event, 0, 5, 9),
            keys::queued(&event, &customer),
            keys::queue_rank(&event, 5, &customer),
            keys::admission_batch(&event, 5),
        ];
        for key in &not_reread {
            assert!(
                !applies_reread(key),
                "{key:02x?} is not read again by applies"
            );
        }
    }
}
