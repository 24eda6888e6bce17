//! The invariants of the ticketing state, checked from scratch over a whole store.
//!
//! This is the one definition the project reuses: unit and property tests call it after every step,
//! the node can audit a replica with it, and Jepsen-style checks compare its verdict across replicas.
//! It reads everything, so it is for tests and audits, not for the hot path.

use std::collections::{BTreeMap, BTreeSet};

use crate::command::{HoldItems, HoldStatus, OrderStatus};
use crate::event::Counts;
use crate::ids::{CustomerId, EventId, SeatId};
use crate::limits::{ACCESS_TTL_MS_MAX, ACCESS_TTL_MS_MIN, QUEUE_CUSTOMERS_MAX};
use crate::records::{
    self, decode, keys, prefix_end, read, tag, AdmissionBatch, CustomerRecord, EventRecord,
    HoldRecord, KeyReader, OrderRecord, Place, QueueRecord, QueuedRecord, RequestRecord, RowLayout,
    RowStates, SeatState, Stored, TotalsRecord, ZoneKind, ZoneRecord,
};
use crate::store::{Entries, Store, StoreError};

/// A broken invariant, with the event it was found in.
#[derive(Debug, thiserror::Error)]
pub enum Violation {
    #[error("event {event}: {detail}")]
    Event { event: EventId, detail: String },
    #[error("{0}")]
    State(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an audit found: totals across every event of the state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Audit {
    pub events: u32,
    pub counts: Counts,
    pub active_holds: u32,
    pub confirmed_orders: u32,
}

/// `counts` with one more seat in `state`.
fn tier_plus(mut counts: Counts, state: SeatState) -> Counts {
    match state {
        SeatState::Available => counts.available += 1,
        SeatState::Held { .. } => counts.held += 1,
        SeatState::Sold { .. } => counts.sold += 1,
        SeatState::Blocked => counts.blocked += 1,
    }
    counts
}

/// Everything in one (unbounded) scan of the keys under `prefix`.
fn scan_prefix<S: Store + ?Sized>(store: &S, prefix: &[u8]) -> Result<Entries, StoreError> {
    store.scan(prefix, &prefix_end(prefix), usize::MAX)
}

/// Entries read per scan where a prefix may hold millions of keys (a waiting room).
const PAGE_ENTRIES: usize = 4_096;

/// Shows every entry under `prefix` to `visit`, in key order, a page at a time: memory stays
/// bounded however many keys there are.
fn for_each_in_prefix<S: Store + ?Sized>(
    store: &S,
    prefix: &[u8],
    mut visit: impl FnMut(Vec<u8>, Vec<u8>) -> Result<(), Violation>,
) -> Result<(), Violation> {
    let end = prefix_end(prefix);
    let mut from = prefix.to_vec();
    loop {
        let page = store.scan(&from, &end, PAGE_ENTRIES)?;
        let last = page.len() < PAGE_ENTRIES;
        for (key, value) in page {
            // The smallest key after `key` is `key` followed by a 0 byte.
            from = [key.as_slice(), &[0]].concat();
            visit(key, value)?;
        }
        if last {
            return Ok(());
        }
    }
}

/// A set of positions `0..len`, one bit each (10 million positions take 1.25 MB).
struct PositionSet(Vec<u64>);

impl PositionSet {
    fn new(len: u64) -> PositionSet {
        PositionSet(vec![0; len.div_ceil(64) as usize])
    }

    /// Adds `position`; false if it was there already.
    fn insert(&mut self, position: u64) -> bool {
        let (word, bit) = ((position / 64) as usize, position % 64);
        let seen = self.0[word] & (1 << bit) != 0;
        self.0[word] |= 1 << bit;
        !seen
    }
}

/// Checks every invariant of every event in `store`.
pub fn check<S: Store + ?Sized>(store: &S) -> Result<Audit, Violation> {
    let mut audit = Audit::default();
    for (key, _) in scan_prefix(store, &[tag::EVENT])? {
        let id = KeyReader::new(&key, tag::EVENT)
            .and_then(|mut r| r.text())
            .and_then(|s| EventId::new(s).ok())
            .ok_or_else(|| Violation::State(format!("malformed event key {key:02x?}")))?;
        let event = check_event(store, &id)?;
        audit.events += 1;
        audit.counts.add(&event.counts);
        audit.active_holds += event.active_holds;
        audit.confirmed_orders += event.confirmed_orders;
    }
    check_requests(store)?;
    Ok(audit)
}

/// Every remembered outcome has exactly one retention index entry, recorded no later than state time.
fn check_requests<S: Store + ?Sized>(store: &S) -> Result<(), Violation> {
    let now = records::state_time(store)?;
    let records = scan_prefix(store, &[tag::REQUEST])?;
    let index = scan_prefix(store, &[tag::REQUEST_BY_TIME])?;
    if records.len() != index.len() {
        return Err(Violation::State(format!(
            "{} remembered outcomes but {} retention index entries",
            records.len(),
            index.len()
        )));
    }
    for (key, bytes) in records {
        let record: RequestRecord = decode(&key, &bytes)?;
        let id = KeyReader::new(&key, tag::REQUEST)
            .and_then(|mut r| r.text())
            .unwrap_or_default();
        if record.at_ms > now {
            return Err(Violation::State(format!(
                "request {id:?} recorded after state time"
            )));
        }
        if store
            .get(&keys::request_by_time(record.at_ms, id))?
            .is_none()
        {
            return Err(Violation::State(format!(
                "request {id:?} has no retention index entry"
            )));
        }
    }
    Ok(())
}

/// Checks every invariant of one event:
///
/// 1. per section and area, available + held + sold + blocked = capacity, and the stored counts match
///    the seats; the event totals are the sum of its zones, and the per-tier counts a recount by tier;
/// 2. every held seat belongs to exactly one active hold that lists it, and every active hold's seats
///    are held by it (so no seat is in two holds); general-admission holds add up to the area's held count;
/// 3. every sold seat belongs to exactly one confirmed order that lists it, and vice versa; confirmed
///    general-admission orders add up to the area's sold count;
/// 4. each customer's record lists exactly their active holds and counts exactly their confirmed
///    purchases, within the event's limits;
/// 5. the expiry indexes list exactly the active holds, at their expiry; no hold outlives its lifetime
///    cap; hold and order numbers are below the next ones to be given;
/// 6. the waiting room of a gated event: positions, rank index, counters and admission batches.
pub fn check_event<S: Store + ?Sized>(store: &S, id: &EventId) -> Result<Audit, Violation> {
    let fail = |detail: String| Violation::Event {
        event: id.clone(),
        detail,
    };
    let event: EventRecord =
        read(store, &keys::event(id))?.ok_or_else(|| fail("no event record".into()))?;
    let totals: TotalsRecord =
        read(store, &keys::totals(id))?.ok_or_else(|| fail("no totals record".into()))?;
    let limits = event.limits;

    // Seats by state, from the rows.
    let mut held_seats: BTreeMap<u64, BTreeSet<SeatId>> = BTreeMap::new();
    let mut sold_seats: BTreeMap<u64, BTreeSet<SeatId>> = BTreeMap::new();
    let mut sum = Counts::default();
    let mut by_tier = vec![Counts::default(); event.prices_cents.len()];
    let mut sections = Vec::new();
    for s in 0..event.sections {
        let zone: ZoneRecord = read(store, &keys::zone(id, ZoneKind::Section, s))?
            .ok_or_else(|| fail(format!("section {s} has no record")))?;
        // Exactly one word per 64 rows, and no bit set past the last row.
        if zone.open_rows.len() != usize::from(zone.rows).div_ceil(64)
            || (zone.rows..(zone.open_rows.len() * 64) as u16).any(|r| zone.row_open(r))
        {
            return Err(fail(format!(
                "section {s} open-row set does not fit its {} rows",
                zone.rows
            )));
        }
        let mut counted = Counts::default();
        let prefix = records::Key::new(tag::ROW_STATES)
            .text(id.as_str())
            .u16(s)
            .build();
        let rows = scan_prefix(store, &prefix)?;
        if rows.len() != usize::from(zone.rows) {
            return Err(fail(format!(
                "section {s} has {} rows, record says {}",
                rows.len(),
                zone.rows
            )));
        }
        for (r, (key, bytes)) in rows.into_iter().enumerate() {
            if key != keys::row_states(id, s, r as u16) {
                return Err(fail(format!(
                    "section {s} row keys are not 0..{}",
                    zone.rows
                )));
            }
            let row = RowStates::decode_from(&key, &bytes)?;
            let (recorded_open, open) = (zone.row_open(r as u16), row.any_available());
            if recorded_open != open {
                return Err(fail(format!(
                    "row {s}.{r} is recorded {} but {} an available seat",
                    if recorded_open { "open" } else { "full" },
                    if open { "has" } else { "has no" }
                )));
            }
            let layout: Option<RowLayout> = read(store, &keys::row_layout(id, s, r as u16))?;
            if layout.map(|l| l.seats.len()) != Some(row.len()) {
                return Err(fail(format!(
                    "row {s}.{r} layout does not match its states"
                )));
            }
            for (i, (state, seat_tier)) in row.seats().enumerate() {
                let seat_id = SeatId {
                    section: s,
                    row: r as u16,
                    index: i as u16,
                };
                let tier = by_tier
                    .get_mut(usize::from(seat_tier))
                    .ok_or_else(|| fail(format!("seat {seat_id} has unknown tier {seat_tier}")))?;
                *tier = tier_plus(*tier, state);
                match state {
                    SeatState::Available => counted.available += 1,
                    SeatState::Blocked => counted.blocked += 1,
                    SeatState::Held { hold } => {
                        counted.held += 1;
                        held_seats.entry(hold).or_default().insert(seat_id);
                    }
                    SeatState::Sold { order } => {
                        counted.sold += 1;
                        sold_seats.entry(order).or_default().insert(seat_id);
                    }
                }
            }
        }
        if counted != zone.counts {
            return Err(fail(format!(
                "section {s} counts {:?} but seats say {counted:?}",
                zone.counts
            )));
        }
        if zone.counts.total() != u64::from(zone.capacity) {
            return Err(fail(format!(
                "section {s} counts add up to {}, capacity {}",
                zone.counts.total(),
                zone.capacity
            )));
        }
        sum.add(&zone.counts);
        sections.push(zone);
    }
    let mut areas = Vec::new();
    for a in 0..event.ga_areas {
        let zone: ZoneRecord = read(store, &keys::zone(id, ZoneKind::GaArea, a))?
            .ok_or_else(|| fail(format!("area {a} has no record")))?;
        if zone.counts.total() != u64::from(zone.capacity) || zone.counts.blocked != 0 {
            return Err(fail(format!(
                "area {a} counts {:?} do not add up to {}",
                zone.counts, zone.capacity
            )));
        }
        sum.add(&zone.counts);
        by_tier
            .get_mut(usize::from(zone.tier))
            .ok_or_else(|| fail(format!("area {a} has unknown tier {}", zone.tier)))?
            .add(&zone.counts);
        areas.push(zone);
    }
    if sum != totals.counts {
        return Err(fail(format!(
            "event totals {:?} but zones add up to {sum:?}",
            totals.counts
        )));
    }
    if by_tier != totals.tiers {
        return Err(fail(format!(
            "tier counts {:?} but seats say {by_tier:?}",
            totals.tiers
        )));
    }

    // Holds.
    let mut area_held = vec![0u32; areas.len()];
    let mut active: BTreeMap<CustomerId, BTreeMap<u64, (u32, u64)>> = BTreeMap::new();
    let mut active_holds = 0;
    let mut expiry_expected = BTreeSet::new();
    for (key, bytes) in scan_prefix(store, &keys::event_prefix(tag::HOLD, id))? {
        let number = u64::from_be_bytes(key[key.len() - 8..].try_into().expect("8 bytes"));
        let hold: HoldRecord = decode(&key, &bytes)?;
        if number == 0 || number >= totals.next_hold {
            return Err(fail(format!(
                "hold {number} outside 1..{}",
                totals.next_hold
            )));
        }
        if hold.expires_at_ms
            > hold
                .created_at_ms
                .saturating_add(limits.hold_lifetime_ms_max)
        {
            return Err(fail(format!("hold {number} outlives its lifetime cap")));
        }
        let seats_held = held_seats.remove(&number);
        if hold.status != HoldStatus::Active {
            if seats_held.is_some() {
                return Err(fail(format!("ended hold {number} still holds seats")));
            }
            continue;
        }
        active_holds += 1;
        match &hold.items {
            HoldItems::Seats(seats) => {
                let listed: BTreeSet<SeatId> = seats.iter().copied().collect();
                if Some(&listed) != seats_held.as_ref() || listed.len() != seats.len() {
                    return Err(fail(format!(
                        "hold {number} lists {listed:?} but holds {seats_held:?}"
                    )));
                }
            }
            HoldItems::Places { area, quantity } => {
                let slot = area_held
                    .get_mut(usize::from(*area))
                    .ok_or_else(|| fail(format!("hold {number} in unknown area")))?;
                *slot += quantity;
                expiry_expected.insert(keys::ga_hold_expiry(id, *area, hold.expires_at_ms, number));
            }
        }
        expiry_expected.insert(keys::hold_expiry(hold.expires_at_ms, id, number));
        active
            .entry(hold.customer.clone())
            .or_default()
            .insert(number, (hold.items.quantity(), hold.expires_at_ms));
    }
    if let Some((hold, seats)) = held_seats.into_iter().next() {
        return Err(fail(format!(
            "seats {seats:?} held by hold {hold}, which is not an active hold"
        )));
    }

    // Orders.
    let mut area_sold = vec![0u32; areas.len()];
    let mut bought: BTreeMap<CustomerId, u32> = BTreeMap::new();
    let mut confirmed_orders = 0;
    let mut order_index_expected = BTreeSet::new();
    for (key, bytes) in scan_prefix(store, &keys::event_prefix(tag::ORDER, id))? {
        let number = u64::from_be_bytes(key[key.len() - 8..].try_into().expect("8 bytes"));
        let order: OrderRecord = decode(&key, &bytes)?;
        if number == 0 || number >= totals.next_order {
            return Err(fail(format!(
                "order {number} outside 1..{}",
                totals.next_order
            )));
        }
        order_index_expected.insert(keys::customer_order(&order.customer, id, number));
        let seats_sold = sold_seats.remove(&number);
        let hold: Option<HoldRecord> = read(store, &keys::hold(id, order.hold))?;
        if hold.map(|h| h.status) != Some(HoldStatus::Purchased { order: number }) {
            return Err(fail(format!(
                "order {number} does not come from a purchased hold"
            )));
        }
        if order.tickets.len() != order.items.quantity() as usize {
            return Err(fail(format!(
                "order {number} has {} tickets for {} places",
                order.tickets.len(),
                order.items.quantity()
            )));
        }
        if order.status != OrderStatus::Confirmed {
            if seats_sold.is_some() {
                return Err(fail(format!("cancelled order {number} still owns seats")));
            }
            continue;
        }
        confirmed_orders += 1;
        *bought.entry(order.customer.clone()).or_default() += order.items.quantity();
        match &order.items {
            HoldItems::Seats(seats) => {
                let listed: BTreeSet<SeatId> = seats.iter().copied().collect();
                if Some(&listed) != seats_sold.as_ref() || listed.len() != seats.len() {
                    return Err(fail(format!(
                        "order {number} lists {listed:?} but owns {seats_sold:?}"
                    )));
                }
            }
            HoldItems::Places { area, quantity } => {
                let slot = area_sold
                    .get_mut(usize::from(*area))
                    .ok_or_else(|| fail(format!("order {number} in unknown area")))?;
                *slot += quantity;
            }
        }
    }
    if let Some((order, seats)) = sold_seats.into_iter().next() {
        return Err(fail(format!(
            "seats {seats:?} sold to order {order}, which is not a confirmed order"
        )));
    }
    for (a, zone) in areas.iter().enumerate() {
        if zone.counts.held != area_held[a] || zone.counts.sold != area_sold[a] {
            return Err(fail(format!(
                "area {a} counts held {} sold {}, holds and orders say {} and {}",
                zone.counts.held, zone.counts.sold, area_held[a], area_sold[a]
            )));
        }
    }

    // Customers.
    for (key, bytes) in scan_prefix(store, &keys::event_prefix(tag::CUSTOMER, id))? {
        let record: CustomerRecord = decode(&key, &bytes)?;
        let customer = KeyReader::new(&key, tag::CUSTOMER)
            .and_then(|mut r| r.text().and(r.text()))
            .and_then(|c| CustomerId::new(c).ok())
            .ok_or_else(|| fail(format!("malformed customer key {key:02x?}")))?;
        let listed: BTreeMap<u64, (u32, u64)> = record
            .holds
            .iter()
            .map(|h| (h.hold, (h.places, h.expires_at_ms)))
            .collect();
        let expected = active.remove(&customer).unwrap_or_default();
        if listed != expected || listed.len() != record.holds.len() {
            return Err(fail(format!(
                "customer {customer} lists holds {listed:?}, active are {expected:?}"
            )));
        }
        let purchased = bought.remove(&customer).unwrap_or(0);
        if record.bought != purchased {
            return Err(fail(format!(
                "customer {customer} counts {} bought, orders say {purchased}",
                record.bought
            )));
        }
        if record.holds.len() > limits.holds_per_customer_max as usize
            || u64::from(record.held()) + u64::from(record.bought)
                > u64::from(limits.seats_per_customer_max)
        {
            return Err(fail(format!(
                "customer {customer} is over the event's limits"
            )));
        }
    }
    if let Some(customer) = active.keys().chain(bought.keys()).next() {
        return Err(fail(format!(
            "customer {customer} has holds or orders but no customer record"
        )));
    }

    // Indexes.
    let mut expiry_found = BTreeSet::new();
    for (key, _) in scan_prefix(store, &[tag::HOLD_EXPIRY])? {
        if records::parse_hold_expiry(&key).is_some_and(|(_, event, _)| &event == id) {
            expiry_found.insert(key);
        }
    }
    expiry_found.extend(
        scan_prefix(store, &keys::event_prefix(tag::GA_HOLD_EXPIRY, id))?
            .into_iter()
            .map(|(k, _)| k),
    );
    if expiry_found != expiry_expected {
        return Err(fail(format!(
            "expiry indexes hold {} entries, active holds need {}",
            expiry_found.len(),
            expiry_expected.len()
        )));
    }
    for key in &order_index_expected {
        if store.get(key)?.is_none() {
            return Err(fail(
                "an order is missing from its customer's order index".into(),
            ));
        }
    }

    check_queue(store, id, &event)?;

    Ok(Audit {
        events: 1,
        counts: totals.counts,
        active_holds,
        confirmed_orders,
    })
}

/// Checks the waiting room of one event, reading it a page at a time (its memory is one bit per
/// queued customer):
///
/// 1. only a gated event has queue keys; its counters equal a recount of the queued customers,
///    within [`QUEUE_CUSTOMERS_MAX`];
/// 2. positions are unique and dense: the sequenced pre-sale arrivals hold `0..presale_sequenced`,
///    the later arrivals `presale_total..presale_total + later_count`; pre-sale arrivals joined no
///    later than the on-sale time, later arrivals no earlier, and nobody after state time;
/// 3. the rank index lists exactly the unsequenced pre-sale arrivals under their rank, and every
///    sequenced one comes before every unsequenced one in (rank, customer) order (sequencing took
///    them from the front of the index);
/// 4. the watermark never passes an unsequenced pre-sale position nor the end of the queue;
/// 5. admission batches end at increasing positions, the last exactly at the watermark, admitted no
///    earlier than the batch before and no later than state time, with an access TTL within bounds.
fn check_queue<S: Store + ?Sized>(
    store: &S,
    id: &EventId,
    event: &EventRecord,
) -> Result<(), Violation> {
    let fail = |detail: String| Violation::Event {
        event: id.clone(),
        detail,
    };
    let now = records::state_time(store)?;
    let queue_key = keys::queue(id);
    let record: Option<QueueRecord> = read(store, &queue_key)?;
    if !event.gated {
        for tag in [
            tag::QUEUE,
            tag::QUEUED,
            tag::QUEUE_RANK,
            tag::ADMISSION_BATCH,
        ] {
            let prefix = keys::event_prefix(tag, id);
            if !store.scan(&prefix, &prefix_end(&prefix), 1)?.is_empty() {
                return Err(fail(format!(
                    "not gated, but has waiting-room keys (tag {tag:02x})"
                )));
            }
        }
        return Ok(());
    }
    let queue = record.unwrap_or_default();
    let customers = queue.presale_total.checked_add(queue.later_count);
    if customers.is_none_or(|c| c > QUEUE_CUSTOMERS_MAX)
        || queue.presale_sequenced > queue.presale_total
    {
        return Err(fail(format!("queue counters out of bounds: {queue:?}")));
    }
    let customers = queue.customers();
    let settings = queue.settings;
    if !(ACCESS_TTL_MS_MIN..=ACCESS_TTL_MS_MAX).contains(&settings.access_ttl_ms) {
        return Err(fail(format!(
            "access TTL {} out of bounds",
            settings.access_ttl_ms
        )));
    }

    // Customers.
    let mut positions = PositionSet::new(customers);
    let (mut presale, mut sequenced, mut later) = (0u64, 0u64, 0u64);
    let mut last_sequenced: Option<(u64, CustomerId)> = None;
    let mut first_unsequenced: Option<(u64, CustomerId)> = None;
    for_each_in_prefix(store, &keys::event_prefix(tag::QUEUED, id), |key, bytes| {
        let customer = KeyReader::new(&key, tag::QUEUED)
            .and_then(|mut r| r.text().and(r.text()))
            .and_then(|c| CustomerId::new(c).ok())
            .ok_or_else(|| fail(format!("malformed queued key {key:02x?}")))?;
        let record: QueuedRecord = decode(&key, &bytes)?;
        if record.joined_at_ms > now {
            return Err(fail(format!(
                "{customer} joined the queue after state time"
            )));
        }
        let (position, range) = match record.place {
            Place::Presale { rank, position } => {
                presale += 1;
                if record.joined_at_ms > event.on_sale_at_ms {
                    return Err(fail(format!(
                        "pre-sale arrival {customer} joined after the sale opened"
                    )));
                }
                let at = (rank, customer.clone());
                match position {
                    Some(position) => {
                        sequenced += 1;
                        if last_sequenced.as_ref().is_none_or(|last| *last < at) {
                            last_sequenced = Some(at);
                        }
                        (position, 0..queue.presale_sequenced)
                    }
                    None => {
                        if store.get(&keys::queue_rank(id, rank, &customer))?.is_none() {
                            return Err(fail(format!(
                                "unsequenced {customer} is not in the rank index"
                            )));
                        }
                        if first_unsequenced.as_ref().is_none_or(|first| at < *first) {
                            first_unsequenced = Some(at);
                        }
                        return Ok(());
                    }
                }
            }
            Place::Later { position } => {
                later += 1;
                if record.joined_at_ms < event.on_sale_at_ms {
                    return Err(fail(format!(
                        "later arrival {customer} joined before the sale opened"
                    )));
                }
                (position, queue.presale_total..customers)
            }
        };
        if !range.contains(&position) || !positions.insert(position) {
            return Err(fail(format!(
                "{customer} has position {position}: outside {range:?} or taken twice"
            )));
        }
        Ok(())
    })?;
    if (presale, sequenced, later)
        != (
            queue.presale_total,
            queue.presale_sequenced,
            queue.later_count,
        )
    {
        return Err(fail(format!(
            "queue counts {} pre-sale ({} sequenced), {} later; the customers are {presale} ({sequenced}), {later}",
            queue.presale_total, queue.presale_sequenced, queue.later_count
        )));
    }
    if let (Some(last), Some(first)) = (&last_sequenced, &first_unsequenced) {
        if last > first {
            return Err(fail(format!(
                "{} was sequenced before {}, who ranks ahead",
                last.1, first.1
            )));
        }
    }

    // The rank index: one entry per unsequenced pre-sale arrival (each checked above to have its
    // entry), so as many entries as there are such arrivals, and each names one of them.
    let mut ranked = 0u64;
    for_each_in_prefix(store, &keys::event_prefix(tag::QUEUE_RANK, id), |key, _| {
        let (_, rank, customer) = records::parse_queue_rank(&key)
            .ok_or_else(|| fail(format!("malformed rank key {key:02x?}")))?;
        let record: Option<QueuedRecord> = read(store, &keys::queued(id, &customer))?;
        if record.map(|r| r.place)
            != Some(Place::Presale {
                rank,
                position: None,
            })
        {
            return Err(fail(format!(
                "rank index lists {customer} at {rank}, who is not an unsequenced pre-sale arrival"
            )));
        }
        ranked += 1;
        Ok(())
    })?;
    if ranked != queue.presale_total - queue.presale_sequenced {
        return Err(fail(format!(
            "rank index has {ranked} entries for {} unsequenced",
            queue.presale_total - queue.presale_sequenced
        )));
    }

    // Admission.
    if queue.watermark > queue.admissible_end() {
        return Err(fail(format!(
            "watermark {} passes the admissible end {}",
            queue.watermark,
            queue.admissible_end()
        )));
    }
    let mut previous: Option<(u64, AdmissionBatch)> = None;
    for_each_in_prefix(
        store,
        &keys::event_prefix(tag::ADMISSION_BATCH, id),
        |key, bytes| {
            let end = KeyReader::new(&key, tag::ADMISSION_BATCH)
                .and_then(|mut r| r.text().and(r.u64()))
                .ok_or_else(|| fail(format!("malformed admission batch key {key:02x?}")))?;
            let batch: AdmissionBatch = decode(&key, &bytes)?;
            let ttl = batch
                .access_expires_at_ms
                .saturating_sub(batch.admitted_at_ms);
            let after_previous =
                previous.is_none_or(|(_, before)| before.admitted_at_ms <= batch.admitted_at_ms);
            if end == 0
                || end > queue.watermark
                || batch.admitted_at_ms > now
                || !after_previous
                || !(ACCESS_TTL_MS_MIN..=ACCESS_TTL_MS_MAX).contains(&ttl)
            {
                return Err(fail(format!(
                    "admission batch ending at {end} ({batch:?}) is out of order or bounds"
                )));
            }
            previous = Some((end, batch));
            Ok(())
        },
    )?;
    let last_end = previous.map_or(0, |(end, _)| end);
    if last_end != queue.watermark {
        return Err(fail(format!(
            "admission batches end at {last_end}, the watermark is {}",
            queue.watermark
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The audit must flag hand-broken states: each test breaks one invariant behind the state
    //! machine's back and expects `check` to name it.

    use super::*;
    use crate::codec;
    use crate::command::{Action, Command, Selection};
    use crate::fixtures;
    use crate::ids::RequestId;
    use crate::store::{KvStore, MemStore, Txn};

    fn club_with_a_hold_and_an_order() -> (MemStore, EventId) {
        let mut store = MemStore::new();
        let event = EventId::new("club").unwrap();
        let customer = CustomerId::new("ann").unwrap();
        let seat = |index| SeatId {
            section: 0,
            row: 0,
            index,
        };
        let hold = |seats: Vec<SeatId>| Action::Hold {
            event: event.clone(),
            customer: customer.clone(),
            selection: Selection::Seats(seats),
            ttl_ms: None,
        };
        let buy = Action::Buy {
            hold: crate::HoldId {
                event: event.clone(),
                number: 1,
            },
            customer: customer.clone(),
            payment_reference: "p".into(),
        };
        let ga = Action::Hold {
            event: event.clone(),
            customer: customer.clone(),
            selection: Selection::GeneralAdmission {
                area: "Pit".into(),
                quantity: 2,
            },
            ttl_ms: None,
        };
        let actions = [
            Action::CreateEvent(fixtures::club("club")),
            hold(vec![seat(0), seat(1)]),
            buy,
            hold(vec![seat(2)]),
            ga,
        ];
        for (i, action) in actions.into_iter().enumerate() {
            let command = Command {
                request_id: RequestId::new(format!("r{i}")).unwrap(),
                at_ms: 10,
                action,
            };
            let outcome = crate::execute(&mut store, &command).unwrap();
            assert!(outcome.rejection().is_none(), "{outcome:?}");
        }
        check(&store).expect("the untouched state is sound");
        (store, event)
    }

    /// Rewrites the record under `key` with `change` applied.
    fn tamper<T: serde::Serialize + serde::de::DeserializeOwned>(
        store: &mut MemStore,
        key: Vec<u8>,
        change: impl FnOnce(&mut T),
    ) {
        let mut record: T = read(store, &key).unwrap().expect("record exists");
        change(&mut record);
        let mut txn = Txn::new(&*store);
        txn.put(key, codec::encode(&record));
        let batch = txn.into_batch();
        store.commit(batch).unwrap();
    }

    fn delete(store: &mut MemStore, key: Vec<u8>) {
        let mut txn = Txn::new(&*store);
        txn.delete(key);
        let batch = txn.into_batch();
        store.commit(batch).unwrap();
    }

    fn assert_flags(store: &MemStore, needle: &str) {
        let violation = check(store).expect_err("the broken state must be flagged");
        assert!(
            violation.to_string().contains(needle),
            "expected {needle:?} in: {violation}"
        );
    }

    #[test]
    fn flags_section_counts_that_do_not_match_the_seats() {
        let (mut store, event) = club_with_a_hold_and_an_order();
        tamper(
            &mut store,
            keys::zone(&event, ZoneKind::Section, 0),
            |z: &mut ZoneRecord| {
                z.counts.available -= 1;
                z.counts.blocked += 1;
            },
        );
        assert_flags(&store, "section 0 counts");
    }

    #[test]
    fn flags_a_seat_sold_twice() {
        let (mut store, event) = club_with_a_hold_and_an_order();
        // Seat A-3 is held by hold 2; claim it for order 1 as well as.
        let key = keys::row_states(&event, 0, 0);
        let mut row: RowStates = records::read_stored(&store, &key).unwrap().unwrap();
        row.set(2, SeatState::Sold { order: 1 });
        let mut txn = Txn::new(&store);
        txn.put(key, row.encode_to());
        let batch = txn.into_batch();
        store.commit(batch).unwrap();
        tamper(
            &mut store,
            keys::zone(&event, ZoneKind::Section, 0),
            |z: &mut ZoneRecord| {
                z.counts.held -= 1;
                z.counts.sold += 1;
            },
        );
        tamper(&mut store, keys::totals(&event), |t: &mut TotalsRecord| {
            t.counts.held -= 1;
            t.counts.sold += 1;
            t.tiers[0].held -= 1;
            t.tiers[0].sold += 1;
        });
        assert_flags(&store, "hold 2 lists");
    }

    #[test]
    fn flags_a_seat_held_by_an_ended_hold() {
        let (mut store, event) = club_with_a_hold_and_an_order();
        tamper(&mut store, keys::hold(&event, 2), |h: &mut HoldRecord| {
            h.status = HoldStatus::Released
        });
        assert_flags(&store, "ended hold 2 still holds seats");
    }

    #[test]
    fn flags_general_admission_places_held_by_nobody() {
        let (mut store, event) = club_with_a_hold_and_an_order();
        tamper(
            &mut store,
            keys::zone(&event, ZoneKind::GaArea, 0),
            |z: &mut ZoneRecord| {
                z.counts.held += 1;
                z.counts.available -= 1;
            },
        );
        tamper(&mut store, keys::totals(&event), |t: &mut TotalsRecord| {
            t.counts.held += 1;
            t.counts.available -= 1;
            t.tiers[2].held += 1;
            t.tiers[2].available -= 1;
        });
        assert_flags(&store, "area 0 counts held 3");
    }

    #[test]
    fn flags_a_customer_record_that_forgets_a_purchase() {
        let (mut store, event) = club_with_a_hold_and_an_order();
        let ann = CustomerId::new("ann").unwrap();
        tamper(
            &mut store,
            keys::customer(&event, &ann),
            |c: &mut CustomerRecord| c.bought = 0,
        );
        assert_flags(&store, "counts 0 bought");
    }

    #[test]
    fn flags_a_missing_expiry_index_entry() {
        let (mut store, event) = club_with_a_hold_and_an_order();
        let hold: HoldRecord = read(&store, &keys::hold(&event, 2)).unwrap().unwrap();
        delete(&mut store, keys::hold_expiry(hold.expires_at_ms, &event, 2));
        assert_flags(&store, "expiry indexes");
    }

    #[test]
    fn flags_event_totals_that_disagree_with_the_zones() {
        let (mut store, event) = club_with_a_hold_and_an_order();
        tamper(&mut store, keys::totals(&event), |t: &mut TotalsRecord| {
            t.counts.available += 1
        });
        assert_flags(&store, "event totals");
    }

    #[test]
    fn flags_tier_counts_that_disagree_with_the_seats() {
        let (mut store, event) = club_with_a_hold_and_an_order();
        tamper(&mut store, keys::totals(&event), |t: &mut TotalsRecord| {
            t.tiers[0].available -= 1;
            t.tiers[1].available += 1;
        });
        assert_flags(&store, "tier counts");
    }

    /// A gated club whose waiting room has pre-sale arrivals ann (rank 1), bob (rank 2) and cat
    /// (rank 3), ann and bob sequenced, ann admitted, and dan, a later arrival.
    fn gated_club_with_a_queue() -> (MemStore, EventId) {
        let mut store = MemStore::new();
        let event = EventId::new("gig").unwrap();
        let mut spec = fixtures::club("gig");
        spec.gated = true;
        spec.on_sale_at_ms = 100;
        let join = |who: &str, rank| Action::JoinQueue {
            event: event.clone(),
            customer: CustomerId::new(who).unwrap(),
            rank,
        };
        let steps = [
            (10, Action::CreateEvent(spec)),
            (10, join("ann", 1)),
            (10, join("bob", 2)),
            (10, join("cat", 3)),
            (
                100,
                Action::SequenceQueue {
                    event: event.clone(),
                    customers_max: 2,
                },
            ),
            (
                100,
                Action::Admit {
                    event: event.clone(),
                    customers_max: 1,
                },
            ),
            (100, join("dan", 4)),
        ];
        for (i, (at_ms, action)) in steps.into_iter().enumerate() {
            let command = Command {
                request_id: RequestId::new(format!("q{i}")).unwrap(),
                at_ms,
                action,
            };
            let outcome = crate::execute(&mut store, &command).unwrap();
            assert!(outcome.rejection().is_none(), "{outcome:?}");
        }
        check(&store).expect("the untouched state is sound");
        (store, event)
    }

    fn queued_key(event: &EventId, who: &str) -> Vec<u8> {
        keys::queued(event, &CustomerId::new(who).unwrap())
    }

    #[test]
    fn flags_a_queue_position_given_twice() {
        let (mut store, event) = gated_club_with_a_queue();
        tamper(
            &mut store,
            queued_key(&event, "bob"),
            |q: &mut QueuedRecord| {
                q.place = Place::Presale {
                    rank: 2,
                    position: Some(0),
                }
            },
        );
        assert_flags(&store, "taken twice");
    }

    #[test]
    fn flags_an_unsequenced_arrival_missing_from_the_rank_index() {
        let (mut store, event) = gated_club_with_a_queue();
        delete(
            &mut store,
            keys::queue_rank(&event, 3, &CustomerId::new("cat").unwrap()),
        );
        assert_flags(&store, "not in the rank index");
    }

    #[test]
    fn flags_a_rank_index_entry_of_nobody() {
        let (mut store, event) = gated_club_with_a_queue();
        let mut txn = Txn::new(&store);
        txn.put(
            keys::queue_rank(&event, 0, &CustomerId::new("ghost").unwrap()),
            Vec::new(),
        );
        let batch = txn.into_batch();
        store.commit(batch).unwrap();
        assert_flags(&store, "rank index lists ghost");
    }

    #[test]
    fn flags_a_sequencing_out_of_rank_order() {
        let (mut store, event) = gated_club_with_a_queue();
        tamper(
            &mut store,
            queued_key(&event, "bob"),
            |q: &mut QueuedRecord| {
                q.place = Place::Presale {
                    rank: 9,
                    position: Some(1),
                }
            },
        );
        assert_flags(&store, "who ranks ahead");
    }

    #[test]
    fn flags_queue_counters_that_disagree_with_the_customers() {
        let (mut store, event) = gated_club_with_a_queue();
        tamper(&mut store, keys::queue(&event), |q: &mut QueueRecord| {
            q.later_count += 1
        });
        assert_flags(&store, "queue counts");
    }

    #[test]
    fn flags_a_watermark_past_an_unsequenced_arrival() {
        let (mut store, event) = gated_club_with_a_queue();
        tamper(&mut store, keys::queue(&event), |q: &mut QueueRecord| {
            q.watermark = 3
        });
        assert_flags(&store, "watermark 3 passes");
    }

    #[test]
    fn flags_an_admission_batch_past_the_watermark() {
        let (mut store, event) = gated_club_with_a_queue();
        let batch = AdmissionBatch {
            admitted_at_ms: 100,
            access_expires_at_ms: 100 + ACCESS_TTL_MS_MIN,
        };
        let mut txn = Txn::new(&store);
        txn.put(keys::admission_batch(&event, 2), codec::encode(&batch));
        let batch = txn.into_batch();
        store.commit(batch).unwrap();
        assert_flags(&store, "admission batch ending at 2");
    }

    #[test]
    fn flags_an_admitted_position_without_its_batch() {
        let (mut store, event) = gated_club_with_a_queue();
        delete(&mut store, keys::admission_batch(&event, 1));
        assert_flags(&store, "admission batches end at 0");
    }

    #[test]
    fn flags_a_waiting_room_on_an_event_that_is_not_gated() {
        let (mut store, event) = gated_club_with_a_queue();
        tamper(&mut store, keys::event(&event), |e: &mut EventRecord| {
            e.gated = false
        });
        assert_flags(&store, "not gated, but has waiting-room keys");
    }

    #[test]
    fn flags_an_order_whose_hold_was_not_purchased() {
        let (mut store, event) = club_with_a_hold_and_an_order();
        tamper(&mut store, keys::hold(&event, 1), |h: &mut HoldRecord| {
            h.status = HoldStatus::Expired
        });
        assert_flags(&store, "order 1 does not come from a purchased hold");
    }
}
