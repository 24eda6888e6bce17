//! Read-only queries over the state: events with live counts, seat maps, holds, orders, waiting rooms.
//!
//! Queries take the reader's `now` (milliseconds); the effective time is `max(state time, now)`, so a
//! hold past its expiry reads as expired and its seats as available even before a sweep releases it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::apply::{admission_at, hold_view, order_view, queue_view};
use crate::command::{HoldItems, HoldStatus, HoldView, OrderView, QueueView};
use crate::event::{self, AdmissionSettings, Counts, EventLimits, EventStatus, PriceTier};
use crate::ids::{CustomerId, EventId, HoldId, OrderId, SeatId};
use crate::limits::LIST_ENTRIES_MAX;
use crate::records::{
    self, keys, prefix_end, read, read_stored, tag, EventInfo, EventRecord, HoldRecord, KeyReader,
    OrderRecord, QueueRecord, QueuedRecord, RowLayout, RowStates, SeatState, TotalsRecord,
    ZoneKind, ZoneRecord,
};
use crate::store::{Store, StoreError};

/// A section or general-admission area with its live counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneView {
    pub name: String,
    pub tier: String,
    pub price_cents: u64,
    pub capacity: u32,
    /// Counts as stored: `held` includes holds that expired but have not been swept yet.
    pub counts: Counts,
}

/// A price tier with the live counts of every seat and place priced at it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierView {
    pub name: String,
    pub price_cents: u64,
    pub counts: Counts,
}

/// An event with its status at the time of the query and its live counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventView {
    pub id: EventId,
    pub name: String,
    pub venue: String,
    pub category: String,
    pub starts_at_ms: u64,
    pub on_sale_at_ms: u64,
    pub off_sale_at_ms: u64,
    pub status: EventStatus,
    pub gated: bool,
    pub limits: EventLimits,
    pub price_tiers: Vec<PriceTier>,
    /// Counts per price tier, in the order of `price_tiers`.
    pub tiers: Vec<TierView>,
    pub sections: Vec<ZoneView>,
    pub ga_areas: Vec<ZoneView>,
    pub capacity: u64,
    pub counts: Counts,
}

impl EventView {
    /// The lowest price of any tier in use, in cents.
    pub fn min_price_cents(&self) -> Option<u64> {
        self.sections
            .iter()
            .chain(&self.ga_areas)
            .map(|z| z.price_cents)
            .min()
    }
}

/// A seat's state as buyers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeatStatus {
    Available,
    Held,
    Sold,
    Blocked,
}

impl SeatStatus {
    /// Stable lower-case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            SeatStatus::Available => "available",
            SeatStatus::Held => "held",
            SeatStatus::Sold => "sold",
            SeatStatus::Blocked => "blocked",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatView {
    pub id: SeatId,
    pub number: u32,
    pub status: SeatStatus,
    pub tier: String,
    pub price_cents: u64,
    pub accessible: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowView {
    pub label: String,
    pub seats: Vec<SeatView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionView {
    pub name: String,
    pub rows: Vec<RowView>,
}

/// Sections -> rows -> seats with their states, plus general-admission areas with their counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatMap {
    pub event: EventId,
    pub sections: Vec<SectionView>,
    pub ga_areas: Vec<ZoneView>,
}

fn effective_now<S: Store + ?Sized>(store: &S, now_ms: u64) -> Result<u64, StoreError> {
    Ok(records::state_time(store)?.max(now_ms))
}

fn zones<S: Store + ?Sized>(
    store: &S,
    id: &EventId,
    kind: ZoneKind,
    count: u16,
) -> Result<Vec<ZoneRecord>, StoreError> {
    let mut zones = Vec::with_capacity(usize::from(count));
    for index in 0..count {
        let key = keys::zone(id, kind, index);
        let zone = read(store, &key)?
            .ok_or_else(|| StoreError::Io(format!("event {id} lacks zone record {key:02x?}")))?;
        zones.push(zone);
    }
    Ok(zones)
}

fn zone_view(zone: &ZoneRecord, tiers: &[PriceTier]) -> ZoneView {
    let tier = &tiers[usize::from(zone.tier)];
    ZoneView {
        name: zone.name.clone(),
        tier: tier.name.clone(),
        price_cents: tier.price_cents,
        capacity: zone.capacity,
        counts: zone.counts,
    }
}

fn event_view(
    id: &EventId,
    record: EventRecord,
    info: EventInfo,
    totals: &TotalsRecord,
    sections: &[ZoneRecord],
    areas: &[ZoneRecord],
    now: u64,
) -> EventView {
    let status = event::status_at(
        record.admin,
        record.on_sale_at_ms,
        record.off_sale_at_ms,
        &totals.counts,
        now,
    );
    let sections = sections
        .iter()
        .map(|z| zone_view(z, &info.price_tiers))
        .collect();
    let ga_areas = areas
        .iter()
        .map(|z| zone_view(z, &info.price_tiers))
        .collect();
    let tiers = info
        .price_tiers
        .iter()
        .zip(&totals.tiers)
        .map(|(t, counts)| TierView {
            name: t.name.clone(),
            price_cents: t.price_cents,
            counts: *counts,
        })
        .collect();
    EventView {
        id: id.clone(),
        name: info.name,
        venue: info.venue,
        category: info.category,
        starts_at_ms: info.starts_at_ms,
        on_sale_at_ms: record.on_sale_at_ms,
        off_sale_at_ms: record.off_sale_at_ms,
        status,
        gated: record.gated,
        limits: record.limits,
        price_tiers: info.price_tiers,
        tiers,
        sections,
        ga_areas,
        capacity: totals.counts.total(),
        counts: totals.counts,
    }
}

/// An event with its live counts, or `None` if there is no such event.
pub fn event<S: Store + ?Sized>(
    store: &S,
    id: &EventId,
    now_ms: u64,
) -> Result<Option<EventView>, StoreError> {
    let now = effective_now(store, now_ms)?;
    let Some(record) = read::<EventRecord, S>(store, &keys::event(id))? else {
        return Ok(None);
    };
    let info: EventInfo = read(store, &keys::event_info(id))?
        .ok_or_else(|| StoreError::Io(format!("event {id} has no info record")))?;
    let totals: TotalsRecord = read(store, &keys::totals(id))?
        .ok_or_else(|| StoreError::Io(format!("event {id} has no totals record")))?;
    let sections = zones(store, id, ZoneKind::Section, record.sections)?;
    let areas = zones(store, id, ZoneKind::GaArea, record.ga_areas)?;
    Ok(Some(event_view(
        id, record, info, &totals, &sections, &areas, now,
    )))
}

/// Events in id order, starting after `after`, at most `limit` (capped at [`LIST_ENTRIES_MAX`]).
pub fn events<S: Store + ?Sized>(
    store: &S,
    after: Option<&EventId>,
    limit: usize,
    now_ms: u64,
) -> Result<Vec<EventView>, StoreError> {
    let from = match after {
        Some(id) => prefix_end(&keys::event(id)),
        None => vec![tag::EVENT],
    };
    let to = vec![tag::EVENT + 1];
    let mut out = Vec::new();
    for (key, _) in store.scan(&from, &to, limit.min(LIST_ENTRIES_MAX))? {
        let id = KeyReader::new(&key, tag::EVENT)
            .and_then(|mut r| r.text())
            .and_then(|s| EventId::new(s).ok())
            .ok_or_else(|| StoreError::Io(format!("malformed event key {key:02x?}")))?;
        if let Some(view) = event(store, &id, now_ms)? {
            out.push(view);
        }
    }
    Ok(out)
}

/// The seat map of an event (only the section named `section`, if given), or `None` if no such event.
pub fn seat_map<S: Store + ?Sized>(
    store: &S,
    id: &EventId,
    section: Option<&str>,
    now_ms: u64,
) -> Result<Option<SeatMap>, StoreError> {
    let now = effective_now(store, now_ms)?;
    let Some(record) = read::<EventRecord, S>(store, &keys::event(id))? else {
        return Ok(None);
    };
    let info: EventInfo = read(store, &keys::event_info(id))?
        .ok_or_else(|| StoreError::Io(format!("event {id} has no info record")))?;
    let mut live: BTreeMap<u64, bool> = BTreeMap::new();
    let mut sections = Vec::new();
    for (s, zone) in zones(store, id, ZoneKind::Section, record.sections)?
        .into_iter()
        .enumerate()
    {
        if section.is_some_and(|name| name != zone.name) {
            continue;
        }
        let s = s as u16;
        let mut rows = Vec::with_capacity(usize::from(zone.rows));
        for r in 0..zone.rows {
            let missing = || StoreError::Io(format!("event {id} section {s} lacks row {r}"));
            let layout: RowLayout =
                read(store, &keys::row_layout(id, s, r))?.ok_or_else(missing)?;
            let states: RowStates =
                read_stored(store, &keys::row_states(id, s, r))?.ok_or_else(missing)?;
            if states.len() != layout.seats.len() {
                return Err(StoreError::Io(format!(
                    "event {id} row {s}.{r}: layout and states disagree"
                )));
            }
            let mut seats = Vec::with_capacity(layout.seats.len());
            for (i, (seat, (state, tier))) in layout.seats.iter().zip(states.seats()).enumerate() {
                let status = match state {
                    SeatState::Available => SeatStatus::Available,
                    SeatState::Sold { .. } => SeatStatus::Sold,
                    SeatState::Blocked => SeatStatus::Blocked,
                    SeatState::Held { hold } => {
                        let is_live = match live.get(&hold) {
                            Some(&is_live) => is_live,
                            None => {
                                let record: Option<HoldRecord> =
                                    read(store, &keys::hold(id, hold))?;
                                let is_live = record.is_some_and(|h| h.is_live(now));
                                live.insert(hold, is_live);
                                is_live
                            }
                        };
                        if is_live {
                            SeatStatus::Held
                        } else {
                            SeatStatus::Available
                        }
                    }
                };
                let tier = &info.price_tiers[usize::from(tier)];
                seats.push(SeatView {
                    id: SeatId {
                        section: s,
                        row: r,
                        index: i as u16,
                    },
                    number: seat.number,
                    status,
                    tier: tier.name.clone(),
                    price_cents: tier.price_cents,
                    accessible: seat.accessible,
                });
            }
            rows.push(RowView {
                label: layout.label,
                seats,
            });
        }
        sections.push(SectionView {
            name: zone.name,
            rows,
        });
    }
    let ga_areas = zones(store, id, ZoneKind::GaArea, record.ga_areas)?
        .iter()
        .filter(|z| section.is_none_or(|name| name == z.name))
        .map(|z| zone_view(z, &info.price_tiers))
        .collect();
    Ok(Some(SeatMap {
        event: id.clone(),
        sections,
        ga_areas,
    }))
}

/// A hold as of `now_ms`, or `None` if there is no such hold.
pub fn hold<S: Store + ?Sized>(
    store: &S,
    id: &HoldId,
    now_ms: u64,
) -> Result<Option<HoldView>, StoreError> {
    let now = effective_now(store, now_ms)?;
    let record: Option<HoldRecord> = read(store, &keys::hold(&id.event, id.number))?;
    Ok(record.map(|h| hold_view(id.clone(), h, now)))
}

/// True when the hold exists, is active and has not expired at `now_ms`.
pub fn hold_is_live<S: Store + ?Sized>(
    store: &S,
    id: &HoldId,
    now_ms: u64,
) -> Result<bool, StoreError> {
    Ok(hold(store, id, now_ms)?.is_some_and(|h| h.status == HoldStatus::Active))
}

/// An order, or `None` if there is no such order.
pub fn order<S: Store + ?Sized>(store: &S, id: &OrderId) -> Result<Option<OrderView>, StoreError> {
    let record: Option<OrderRecord> = read(store, &keys::order(&id.event, id.number))?;
    Ok(record.map(|o| order_view(id.clone(), o)))
}

/// A customer's orders in this state (every event of the group), oldest event id first, at most
/// `limit` (capped at [`LIST_ENTRIES_MAX`]).
pub fn customer_orders<S: Store + ?Sized>(
    store: &S,
    customer: &CustomerId,
    limit: usize,
) -> Result<Vec<OrderView>, StoreError> {
    let from = records::Key::new(tag::CUSTOMER_ORDER)
        .text(customer.as_str())
        .build();
    let to = prefix_end(&from);
    let mut out = Vec::new();
    for (key, _) in store.scan(&from, &to, limit.min(LIST_ENTRIES_MAX))? {
        let mut reader = KeyReader::new(&key, tag::CUSTOMER_ORDER)
            .ok_or_else(|| StoreError::Io(format!("malformed customer order key {key:02x?}")))?;
        let parsed = reader
            .text()
            .and_then(|_| reader.text())
            .and_then(|event| EventId::new(event).ok())
            .and_then(|event| reader.u64().map(|number| OrderId { event, number }));
        let id = parsed
            .ok_or_else(|| StoreError::Io(format!("malformed customer order key {key:02x?}")))?;
        if let Some(order) = order(store, &id)? {
            out.push(order);
        }
    }
    Ok(out)
}

/// The label printed on a ticket for `seat`, e.g. "Floor A-12"; `None` if there is no such seat.
pub fn seat_label<S: Store + ?Sized>(
    store: &S,
    event: &EventId,
    seat: SeatId,
) -> Result<Option<String>, StoreError> {
    let layout: Option<RowLayout> = read(store, &keys::row_layout(event, seat.section, seat.row))?;
    let zone: Option<ZoneRecord> =
        read(store, &keys::zone(event, ZoneKind::Section, seat.section))?;
    Ok(match (layout, zone) {
        (Some(row), Some(section)) => row
            .seats
            .get(usize::from(seat.index))
            .map(|s| format!("{} {}-{}", section.name, row.label, s.number)),
        _ => None,
    })
}

/// The labels printed on an order's tickets, in ticket order: the seat ("Floor A-12") or the
/// general-admission area ("Pit").
pub fn ticket_labels<S: Store + ?Sized>(
    store: &S,
    order: &OrderView,
) -> Result<Vec<String>, StoreError> {
    let event = &order.id.event;
    let mut labels = Vec::with_capacity(order.tickets.len());
    for ticket in &order.tickets {
        let label = match (ticket.seat, &order.items) {
            (Some(seat), _) => seat_label(store, event, seat)?,
            (None, HoldItems::Places { area, .. }) => {
                let zone: Option<ZoneRecord> =
                    read(store, &keys::zone(event, ZoneKind::GaArea, *area))?;
                zone.map(|z| z.name)
            }
            (None, HoldItems::Seats(_)) => None,
        };
        labels.push(label.ok_or_else(|| {
            StoreError::Io(format!("order {} names a missing seat or area", order.id))
        })?);
    }
    Ok(labels)
}

/// Whether any of `seats` of `event` is taken: held (by a hold live or not yet expired by a
/// command), sold or blocked. One read per row, no rules: a cheap first look before a hold of
/// exactly these seats, which is likely to be accepted when none is. Seats that do not exist are
/// not taken.
pub fn any_seat_taken<S: Store + ?Sized>(
    store: &S,
    event: &EventId,
    seats: &[SeatId],
) -> Result<bool, StoreError> {
    let mut row: Option<((u16, u16), RowStates)> = None;
    for seat in seats {
        let place = (seat.section, seat.row);
        if row.as_ref().is_none_or(|(at, _)| *at != place) {
            let key = keys::row_states(event, seat.section, seat.row);
            match read_stored::<RowStates, S>(store, &key)? {
                Some(states) => row = Some((place, states)),
                None => continue,
            }
        }
        let states = &row.as_ref().expect("read above").1;
        let taken = states
            .seat(usize::from(seat.index))
            .is_some_and(|(state, _)| state != SeatState::Available);
        if taken {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The state time: the latest command time applied (milliseconds; 0 before any command).
pub fn state_time<S: Store + ?Sized>(store: &S) -> Result<u64, StoreError> {
    records::state_time(store)
}

/// When the next active hold expires (milliseconds), if any hold is active: an `Expire` command
/// has work to do once this time has passed.
pub fn next_hold_expiry<S: Store + ?Sized>(store: &S) -> Result<Option<u64>, StoreError> {
    let from = [tag::HOLD_EXPIRY];
    let to = [tag::HOLD_EXPIRY + 1];
    let first = store.scan(&from, &to, 1)?;
    match first.first() {
        None => Ok(None),
        Some((key, _)) => records::parse_hold_expiry(key)
            .map(|(expires_at_ms, _, _)| Some(expires_at_ms))
            .ok_or_else(|| StoreError::Io(format!("malformed hold expiry key {key:02x?}"))),
    }
}

/// A customer's place in a gated event's waiting room as of `now_ms`, or `None` if the customer has
/// not joined it (or there is no such event).
pub fn queue_status<S: Store + ?Sized>(
    store: &S,
    event: &EventId,
    customer: &CustomerId,
    now_ms: u64,
) -> Result<Option<QueueView>, StoreError> {
    let now = effective_now(store, now_ms)?;
    let Some(record) = read::<QueuedRecord, S>(store, &keys::queued(event, customer))? else {
        return Ok(None);
    };
    let queue: QueueRecord = read(store, &keys::queue(event))?
        .ok_or_else(|| StoreError::Io(format!("event {event} has queued customers, no queue")))?;
    let admission =
        admission_at(store, event, record.place.position(), &queue, now)?.ok_or_else(|| {
            StoreError::Io(format!(
                "event {event}: customer {customer} is admitted by no admission batch"
            ))
        })?;
    Ok(Some(queue_view(event, customer, record, &queue, admission)))
}

/// A gated event's waiting room in numbers (two reads, whatever its size).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueSummary {
    pub event: EventId,
    /// Only a gated event has a waiting room; for others every count is 0.
    pub gated: bool,
    /// Customers who joined before the on-sale time.
    pub presale_total: u64,
    /// Pre-sale arrivals that have their position.
    pub presale_sequenced: u64,
    /// Customers who joined from the on-sale time on.
    pub later_count: u64,
    /// Every position below this is admitted.
    pub watermark: u64,
    /// Positions an `Admit` could admit now (sequenced or later arrivals not admitted yet).
    pub admissible: u64,
    pub settings: AdmissionSettings,
}

/// The waiting room of an event, or `None` if there is no such event.
pub fn queue_summary<S: Store + ?Sized>(
    store: &S,
    event: &EventId,
) -> Result<Option<QueueSummary>, StoreError> {
    let Some(record) = read::<EventRecord, S>(store, &keys::event(event))? else {
        return Ok(None);
    };
    let queue: QueueRecord = read(store, &keys::queue(event))?.unwrap_or_default();
    Ok(Some(QueueSummary {
        event: event.clone(),
        gated: record.gated,
        presale_total: queue.presale_total,
        presale_sequenced: queue.presale_sequenced,
        later_count: queue.later_count,
        watermark: queue.watermark,
        admissible: queue.admissible_end().saturating_sub(queue.watermark),
        settings: queue.settings,
    }))
}
