//! Applying one command to the state: state time, idempotent retries, and the rules of every action.
//!
//! A command runs in a nested transaction. If it is accepted, its writes join the entry's writes; if it
//! is rejected, they are dropped, so a rejection changes nothing but the state time and the remembered
//! outcome. A store failure aborts the whole entry. A broken invariant found on the way panics.
//! The waiting room of gated events has its rules in `apply/queue.rs`.

mod queue;
mod relocate;

use std::collections::{BTreeMap, BTreeSet};

use crate::codec;
use crate::command::{
    Action, Command, Effect, HoldItems, HoldStatus, HoldView, Limit, OrderStatus, OrderView,
    Outcome, Rejection, Scope, Selection, Ticket,
};
use crate::event::{self, Counts, EventSpec, EventStatus, StatusChange};
use crate::ids::{CustomerId, EventId, HoldId, OrderId, SeatId};
use crate::limits::*;
use crate::records::{
    self, keys, read, read_stored, write, CustomerHold, CustomerRecord, EventInfo, EventRecord,
    HoldRecord, OrderRecord, RequestRecord, RowLayout, RowStates, SeatLayout, SeatState, Stored,
    TotalsRecord, ZoneKind, ZoneRecord,
};
use crate::seating::BestAvailable;
use crate::store::{KvStore, Store, StoreError, Txn, WriteBatch};
use crate::validate;

pub(crate) use queue::{admission_at, queue_view};

/// The result of applying one command: its outcome and the writes that carry it out.
#[derive(Debug)]
pub struct Applied {
    pub outcome: Outcome,
    /// Commit these atomically (with the Raft applied index, in the node) to make the command durable.
    pub writes: WriteBatch,
    /// State time after the command.
    pub state_time_ms: u64,
}

/// Applies `command` on top of `store` without changing it; the caller commits [`Applied::writes`].
pub fn apply<S: Store + ?Sized>(store: &S, command: &Command) -> Result<Applied, StoreError> {
    let previous = records::state_time(store)?;
    let now = action_time(previous, command.at_ms, &command.action);
    let fingerprint = match remembered(store, command)? {
        Remembered::New { fingerprint } => fingerprint,
        Remembered::Answered(outcome) => {
            return Ok(Applied {
                outcome,
                writes: WriteBatch::default(),
                state_time_ms: previous,
            })
        }
        Remembered::Unusable(outcome) => {
            // Without a usable request id there is nothing to remember the outcome under.
            let mut txn = Txn::new(store);
            write(&mut txn, keys::state_time(), &now);
            return Ok(Applied {
                outcome,
                writes: txn.into_batch(),
                state_time_ms: now,
            });
        }
    };
    let request_id = command.request_id.as_str();

    let mut ctx = Ctx::new(store, now);
    let dispatched = if imports_own_outcome(command) {
        // Its own outcome, written on top, would replace the imported one and strand that one's
        // retention entry.
        invalid("an imported event carries an outcome under the import's own request id")
    } else {
        ctx.dispatch(&command.action)
    };
    let (outcome, writes) = match dispatched {
        Ok(effect) => (Outcome::Accepted(effect), ctx.finish()),
        Err(Fail::Reject(rejection)) => (Outcome::Rejected(rejection), WriteBatch::default()),
        Err(Fail::Store(error)) => return Err(error),
    };
    // The action never touches the state time or remembered requests, so these go on top.
    let mut txn = Txn::with_writes(store, writes);
    write(&mut txn, keys::state_time(), &now);

    let record = RequestRecord {
        at_ms: now,
        fingerprint,
        outcome,
        event: command.action.event().cloned(),
    };
    write(&mut txn, keys::request(request_id), &record);
    txn.put(keys::request_by_time(now, request_id), Vec::new());
    forget_old_requests(&mut txn, now)?;
    Ok(Applied {
        outcome: record.outcome,
        writes: txn.into_batch(),
        state_time_ms: now,
    })
}

/// What [`apply`] would answer `command` if it were the log's next entry stamped no later than
/// state time, computed and written nowhere: the same request-id check and the same rules, on the
/// same state, at the same time. `command.at_ms` is not read.
///
/// This is a read of the state. A leader that has confirmed its leadership and applied everything
/// committed before a hold arrived may answer the hold's rejection from it without a log entry:
/// the answer holds at a moment between the call and its reply, as any linearizable read does.
/// Such a rejection is not remembered under its request id; sent again, the command is decided
/// afresh, which is what the caller of a command that changed nothing expects.
pub fn answer_now<S: Store + ?Sized>(store: &S, command: &Command) -> Result<Outcome, StoreError> {
    match remembered(store, command)? {
        Remembered::New { .. } => {}
        Remembered::Answered(outcome) | Remembered::Unusable(outcome) => return Ok(outcome),
    }
    let now = action_time(records::state_time(store)?, 0, &command.action);
    match Ctx::new(store, now).dispatch(&command.action) {
        Ok(effect) => Ok(Outcome::Accepted(effect)),
        Err(Fail::Reject(rejection)) => Ok(Outcome::Rejected(rejection)),
        Err(Fail::Store(error)) => Err(error),
    }
}

/// The time an action is decided at: state time, moved forward to the command's stamp `at_ms`.
fn action_time(state_time_ms: u64, at_ms: u64, action: &Action) -> u64 {
    let now = state_time_ms.max(at_ms.min(STATE_TIME_MS_MAX));
    match action {
        // A moved event's holds keep their expiries: time here never falls behind its old group's.
        Action::ImportEvent(export) => now.max(export.state_time_ms.min(STATE_TIME_MS_MAX)),
        _ => now,
    }
}

/// What the state remembers of a command's request id.
enum Remembered {
    /// Not seen (or forgotten): the command is decided now; `fingerprint` identifies its action.
    New { fingerprint: u64 },
    /// Seen: the first outcome, or `REQUEST_ID_REUSED` for a different action under the same id.
    Answered(Outcome),
    /// The request id is invalid, so no outcome can be remembered under it: the rejection.
    Unusable(Outcome),
}

fn remembered<S: Store + ?Sized>(store: &S, command: &Command) -> Result<Remembered, StoreError> {
    if let Err(invalid) = command.request_id.validate() {
        let outcome = Outcome::Rejected(Rejection::invalid(invalid.to_string()));
        return Ok(Remembered::Unusable(outcome));
    }
    let fingerprint = codec::fingerprint(&command.action);
    let key = keys::request(command.request_id.as_str());
    Ok(match read::<RequestRecord, S>(store, &key)? {
        Some(seen) if seen.fingerprint == fingerprint => Remembered::Answered(seen.outcome),
        Some(_) => Remembered::Answered(Outcome::Rejected(Rejection::RequestIdReused)),
        None => Remembered::New { fingerprint },
    })
}

/// A time stamp from the leader's clock: state time moves forward to `at_ms` (never back, and no
/// further than [`STATE_TIME_MS_MAX`]); nothing else changes. A leader commits one before a read
/// when its clock has run ahead of the last command, so the read answers at a time the log holds:
/// a later leader with a slower clock cannot bring back a hold, an admission or a sale window the
/// read showed as over.
pub fn stamp_time<S: Store + ?Sized>(store: &S, at_ms: u64) -> Result<WriteBatch, StoreError> {
    let previous = records::state_time(store)?;
    let now = previous.max(at_ms.min(STATE_TIME_MS_MAX));
    let mut txn = Txn::new(store);
    if now > previous {
        write(&mut txn, keys::state_time(), &now);
    }
    Ok(txn.into_batch())
}

/// Applies `command` and commits its writes to `store`.
pub fn execute<S: KvStore + ?Sized>(
    store: &mut S,
    command: &Command,
) -> Result<Outcome, StoreError> {
    let applied = apply(store, command)?;
    store.commit(applied.writes)?;
    Ok(applied.outcome)
}

/// Whether `command` imports an event that brings a remembered outcome under `command`'s own
/// request id.
fn imports_own_outcome(command: &Command) -> bool {
    let Action::ImportEvent(export) = &command.action else {
        return false;
    };
    let own = keys::request(command.request_id.as_str());
    export.records.iter().any(|(key, _)| *key == own)
}

/// Drops up to [`REQUEST_PRUNE_PER_COMMAND_MAX`] outcomes recorded more than the retention ago.
fn forget_old_requests<S: Store + ?Sized>(
    txn: &mut Txn<'_, S>,
    now: u64,
) -> Result<(), StoreError> {
    let Some(horizon) = now.checked_sub(REQUEST_RETENTION_MS) else {
        return Ok(());
    };
    let from = records::Key::new(records::tag::REQUEST_BY_TIME).build();
    let to = records::Key::new(records::tag::REQUEST_BY_TIME)
        .u64(horizon)
        .build();
    for (key, _) in txn.scan(&from, &to, REQUEST_PRUNE_PER_COMMAND_MAX)? {
        let mut reader = records::KeyReader::new(&key, records::tag::REQUEST_BY_TIME)
            .expect("scan stays within the request-by-time tag");
        let request_id = reader
            .u64()
            .and(reader.text())
            .ok_or_else(|| StoreError::Io(format!("malformed request index key {key:02x?}")))?
            .to_owned();
        txn.delete(keys::request(&request_id));
        txn.delete(key);
    }
    Ok(())
}

/// Why a command handler stopped: a rejection (an answer) or a store failure (an error).
enum Fail {
    Reject(Rejection),
    Store(StoreError),
}

impl From<Rejection> for Fail {
    fn from(r: Rejection) -> Self {
        Fail::Reject(r)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

type Res<T> = Result<T, Fail>;

fn invalid<T>(reason: impl Into<String>) -> Res<T> {
    Err(Fail::Reject(Rejection::invalid(reason)))
}

/// Records read during one command, written back once when it is accepted.
struct Cache<T> {
    entries: BTreeMap<Vec<u8>, (T, bool)>,
}

impl<T: Stored> Cache<T> {
    fn new() -> Self {
        Cache {
            entries: BTreeMap::new(),
        }
    }

    fn load<S: Store + ?Sized>(
        &mut self,
        store: &S,
        key: Vec<u8>,
        dirty: bool,
    ) -> Result<Option<&mut T>, StoreError> {
        use std::collections::btree_map::Entry;
        let slot = match self.entries.entry(key) {
            Entry::Occupied(slot) => slot.into_mut(),
            Entry::Vacant(slot) => match read_stored::<T, S>(store, slot.key())? {
                Some(value) => slot.insert((value, false)),
                None => return Ok(None),
            },
        };
        slot.1 |= dirty;
        Ok(Some(&mut slot.0))
    }

    fn insert(&mut self, key: Vec<u8>, value: T) {
        self.entries.insert(key, (value, true));
    }

    fn flush<S: Store + ?Sized>(self, txn: &mut Txn<'_, S>) {
        for (key, (value, dirty)) in self.entries {
            if dirty {
                txn.put(key, value.encode_to());
            }
        }
    }
}

/// The counter of `counts` that a seat in `state` is counted in.
fn counter(counts: &mut Counts, state: SeatState) -> &mut u32 {
    match state {
        SeatState::Available => &mut counts.available,
        SeatState::Held { .. } => &mut counts.held,
        SeatState::Sold { .. } => &mut counts.sold,
        SeatState::Blocked => &mut counts.blocked,
    }
}

/// Moves `quantity` seats or places from the `from` counter to the `to` counter.
fn shift(counts: &mut Counts, from: SeatState, to: SeatState, quantity: u32) {
    let source = counter(counts, from);
    *source = source
        .checked_sub(quantity)
        .unwrap_or_else(|| panic!("invariant violated: counter {from:?} would go below zero"));
    *counter(counts, to) += quantity;
}

/// An event loaded for a command.
struct Loaded {
    id: EventId,
    record: EventRecord,
    status: EventStatus,
}

/// One command being applied: the nested transaction plus write-back caches of hot records.
struct Ctx<'t, S: Store + ?Sized> {
    txn: Txn<'t, S>,
    now: u64,
    rows: Cache<RowStates>,
    zones: Cache<ZoneRecord>,
    totals: Cache<TotalsRecord>,
    customers: Cache<CustomerRecord>,
}

impl<'t, S: Store + ?Sized> Ctx<'t, S> {
    fn new(base: &'t S, now: u64) -> Self {
        Ctx {
            txn: Txn::new(base),
            now,
            rows: Cache::new(),
            zones: Cache::new(),
            totals: Cache::new(),
            customers: Cache::new(),
        }
    }

    fn finish(mut self) -> WriteBatch {
        self.rows.flush(&mut self.txn);
        self.zones.flush(&mut self.txn);
        self.totals.flush(&mut self.txn);
        self.customers.flush(&mut self.txn);
        self.txn.into_batch()
    }

    fn dispatch(&mut self, action: &Action) -> Res<Effect> {
        if let Some(event) = action.event() {
            event
                .validate()
                .map_err(|e| Rejection::invalid(e.to_string()))?;
            let moving = matches!(
                action,
                Action::SealEvent { .. } | Action::ImportEvent(_) | Action::DropEvent { .. }
            );
            if !moving && self.sealed(event)? {
                return Err(Rejection::EventMoved.into());
            }
        }
        match action {
            Action::CreateEvent(spec) => self.create_event(spec),
            Action::SetEventStatus { event, change } => self.set_status(event, *change),
            Action::Hold {
                event,
                customer,
                selection,
                ttl_ms,
            } => self.hold(event, customer, selection, *ttl_ms),
            Action::ExtendHold {
                hold,
                customer,
                ttl_ms,
            } => self.extend(hold, customer, *ttl_ms),
            Action::Release { hold, customer } => self.release(hold, customer),
            Action::Buy {
                hold,
                customer,
                payment_reference,
            } => self.buy(hold, customer, payment_reference),
            Action::CancelOrder { order, reason } => self.cancel_order(order, reason),
            Action::BlockSeats { event, seats } => self.block(event, seats, true),
            Action::UnblockSeats { event, seats } => self.block(event, seats, false),
            Action::Expire { holds_max } => self.expire(*holds_max),
            Action::JoinQueue {
                event,
                customer,
                rank,
            } => self.join_queue(event, customer, *rank),
            Action::SequenceQueue {
                event,
                customers_max,
            } => self.sequence_queue(event, *customers_max),
            Action::Admit {
                event,
                customers_max,
            } => self.admit(event, *customers_max),
            Action::SetAdmission { event, settings } => self.set_admission(event, settings),
            Action::SealEvent { event } => self.seal_event(event),
            Action::ImportEvent(export) => self.import_event(export),
            Action::DropEvent { event } => self.drop_event(event),
        }
    }

    // ---- loading ---------------------------------------------------------------------------

    fn event(&mut self, id: &EventId) -> Res<Loaded> {
        let record: EventRecord =
            read(&self.txn, &keys::event(id))?.ok_or(Rejection::UnknownEvent)?;
        let totals = self.totals.load(&self.txn, keys::totals(id), false)?;
        let counts = totals
            .unwrap_or_else(|| panic!("invariant violated: event {id} has no totals"))
            .counts;
        let status = event::status_at(
            record.admin,
            record.on_sale_at_ms,
            record.off_sale_at_ms,
            &counts,
            self.now,
        );
        Ok(Loaded {
            id: id.clone(),
            record,
            status,
        })
    }

    fn totals_mut(&mut self, event: &EventId) -> Res<&mut TotalsRecord> {
        let totals = self.totals.load(&self.txn, keys::totals(event), true)?;
        Ok(totals.unwrap_or_else(|| panic!("invariant violated: event {event} has no totals")))
    }

    fn zone_mut(
        &mut self,
        event: &EventId,
        kind: ZoneKind,
        zone: u16,
    ) -> Res<Option<&mut ZoneRecord>> {
        Ok(self
            .zones
            .load(&self.txn, keys::zone(event, kind, zone), true)?)
    }

    fn zone(&mut self, event: &EventId, kind: ZoneKind, zone: u16) -> Res<Option<&ZoneRecord>> {
        Ok(self
            .zones
            .load(&self.txn, keys::zone(event, kind, zone), false)?
            .map(|z| &*z))
    }

    fn zone_by_name(&mut self, event: &Loaded, kind: ZoneKind, name: &str) -> Res<Option<u16>> {
        let count = match kind {
            ZoneKind::Section => event.record.sections,
            ZoneKind::GaArea => event.record.ga_areas,
        };
        for index in 0..count {
            if self
                .zone(&event.id, kind, index)?
                .is_some_and(|z| z.name == name)
            {
                return Ok(Some(index));
            }
        }
        Ok(None)
    }

    fn row(&mut self, event: &EventId, section: u16, row: u16) -> Res<Option<&RowStates>> {
        let key = keys::row_states(event, section, row);
        Ok(self.rows.load(&self.txn, key, false)?.map(|r| &*r))
    }

    /// State and price tier of `seat`, or `None` if the event has no such seat.
    fn seat(&mut self, event: &EventId, seat: SeatId) -> Res<Option<(SeatState, u16)>> {
        Ok(self
            .row(event, seat.section, seat.row)?
            .and_then(|row| row.seat(usize::from(seat.index))))
    }

    fn hold_record(&self, event: &EventId, number: u64) -> Res<Option<HoldRecord>> {
        Ok(read(&self.txn, &keys::hold(event, number))?)
    }

    fn customer_mut(&mut self, event: &EventId, customer: &CustomerId) -> Res<&mut CustomerRecord> {
        let key = keys::customer(event, customer);
        if self.customers.load(&self.txn, key.clone(), true)?.is_none() {
            self.customers
                .insert(key.clone(), CustomerRecord::default());
        }
        Ok(self
            .customers
            .load(&self.txn, key, true)?
            .expect("inserted just above"))
    }

    /// The seats of `seats` that do not exist, in request order.
    fn unknown_seats(&mut self, event: &EventId, seats: &[SeatId]) -> Res<Vec<SeatId>> {
        let mut unknown = Vec::new();
        for &seat in seats {
            if self.seat(event, seat)?.is_none() {
                unknown.push(seat);
            }
        }
        Ok(unknown)
    }

    // ---- moving inventory ------------------------------------------------------------------

    /// Puts `seat` into state `to`, keeping section and event counts in step; returns the old state.
    fn move_seat(&mut self, event: &EventId, seat: SeatId, to: SeatState) -> Res<SeatState> {
        let row = self
            .rows
            .load(
                &self.txn,
                keys::row_states(event, seat.section, seat.row),
                true,
            )?
            .unwrap_or_else(|| panic!("invariant violated: seat {seat} of {event} has no row"));
        let (from, tier) = row
            .set(usize::from(seat.index), to)
            .unwrap_or_else(|| panic!("invariant violated: seat {seat} of {event} is missing"));
        // The row's place in its section's open-row set changes only when a seat becomes available
        // or stops being so (a buy, held to sold, leaves it as it was).
        let open = match (from, to) {
            (_, SeatState::Available) => Some(true),
            (SeatState::Available, _) => Some(row.any_available()),
            _ => None,
        };
        self.shift_zone(event, ZoneKind::Section, seat.section, tier, from, to, 1)?;
        if let Some(open) = open {
            self.zone_mut(event, ZoneKind::Section, seat.section)?
                .unwrap_or_else(|| panic!("invariant violated: section of seat {seat} is missing"))
                .set_row_open(seat.row, open);
        }
        Ok(from)
    }

    /// Moves `quantity` seats or places of price tier `tier` between counters of a zone and its event.
    #[allow(clippy::too_many_arguments)]
    fn shift_zone(
        &mut self,
        event: &EventId,
        kind: ZoneKind,
        zone: u16,
        tier: u16,
        from: SeatState,
        to: SeatState,
        quantity: u32,
    ) -> Res<()> {
        let record = self
            .zone_mut(event, kind, zone)?
            .unwrap_or_else(|| panic!("invariant violated: zone {zone} of {event} is missing"));
        shift(&mut record.counts, from, to, quantity);
        let totals = self.totals_mut(event)?;
        shift(&mut totals.counts, from, to, quantity);
        let by_tier = totals
            .tiers
            .get_mut(usize::from(tier))
            .unwrap_or_else(|| panic!("invariant violated: tier {tier} of {event} is missing"));
        shift(by_tier, from, to, quantity);
        Ok(())
    }

    /// Moves every seat or place of `items` from `from` to `to`; each seat must be in `from`.
    fn move_items(
        &mut self,
        event: &EventId,
        items: &HoldItems,
        from: SeatState,
        to: SeatState,
    ) -> Res<()> {
        match items {
            HoldItems::Seats(seats) => {
                for &seat in seats {
                    let was = self.move_seat(event, seat, to)?;
                    assert_eq!(
                        was, from,
                        "invariant violated: seat {seat} of {event} was not {from:?}"
                    );
                }
            }
            HoldItems::Places { area, quantity } => {
                let tier = self
                    .zone(event, ZoneKind::GaArea, *area)?
                    .expect("area exists")
                    .tier;
                self.shift_zone(event, ZoneKind::GaArea, *area, tier, from, to, *quantity)?;
            }
        }
        Ok(())
    }

    fn expiry_keys(&self, event: &EventId, number: u64, hold: &HoldRecord) -> Vec<Vec<u8>> {
        let mut keys = vec![keys::hold_expiry(hold.expires_at_ms, event, number)];
        if let HoldItems::Places { area, .. } = hold.items {
            keys.push(keys::ga_hold_expiry(
                event,
                area,
                hold.expires_at_ms,
                number,
            ));
        }
        keys
    }

    /// Ends an active hold: its seats go back on sale (or to `order`), its indexes are dropped.
    fn end_hold(
        &mut self,
        event: &EventId,
        number: u64,
        hold: &mut HoldRecord,
        status: HoldStatus,
    ) -> Res<u32> {
        assert_eq!(
            hold.status,
            HoldStatus::Active,
            "invariant violated: ending hold {number} twice"
        );
        let to = match status {
            HoldStatus::Purchased { order } => SeatState::Sold { order },
            HoldStatus::Released | HoldStatus::Expired => SeatState::Available,
            HoldStatus::Active => unreachable!("a hold cannot end as active"),
        };
        self.move_items(event, &hold.items, SeatState::Held { hold: number }, to)?;
        let customer = self.customer_mut(event, &hold.customer)?;
        let before = customer.holds.len();
        customer.holds.retain(|h| h.hold != number);
        assert_eq!(
            customer.holds.len() + 1,
            before,
            "invariant violated: hold {number} not on its customer"
        );
        for key in self.expiry_keys(event, number, hold) {
            self.txn.delete(key);
        }
        hold.status = status;
        write(&mut self.txn, keys::hold(event, number), hold);
        Ok(hold.items.quantity())
    }

    /// Ends hold `number` as expired if it is active but past its expiry. True if it did.
    fn reap_if_dead(&mut self, event: &EventId, number: u64) -> Res<bool> {
        let mut hold = self
            .hold_record(event, number)?
            .unwrap_or_else(|| panic!("invariant violated: hold {number} of {event} is missing"));
        if hold.status != HoldStatus::Active || hold.is_live(self.now) {
            return Ok(false);
        }
        self.end_hold(event, number, &mut hold, HoldStatus::Expired)?;
        Ok(true)
    }

    /// The dead holds of `event`: every hold whose expiry has passed but that no sweep has ended yet.
    /// `None` when there are too many to list cheaply; callers then ask hold by hold.
    fn dead_holds(&mut self, event: &EventId) -> Res<Option<BTreeSet<u64>>> {
        let from = vec![records::tag::HOLD_EXPIRY];
        let to = records::Key::new(records::tag::HOLD_EXPIRY)
            .u64(self.now.saturating_add(1))
            .build();
        let due = self.txn.scan(&from, &to, DEAD_HOLDS_LISTED_MAX)?;
        if due.len() == DEAD_HOLDS_LISTED_MAX {
            return Ok(None);
        }
        let mut dead = BTreeSet::new();
        for (key, _) in due {
            let (_, of, number) = records::parse_hold_expiry(&key)
                .ok_or_else(|| StoreError::Io(format!("malformed hold expiry key {key:02x?}")))?;
            if &of == event {
                dead.insert(number);
            }
        }
        Ok(Some(dead))
    }

    /// Which seats of row `r` of `section` may be taken now (in `tier`, if given): available, or
    /// held by a dead hold.
    fn free_seats(
        &mut self,
        event: &EventId,
        section: u16,
        r: u16,
        tier: Option<u16>,
        dead: &mut Dead,
    ) -> Res<Vec<bool>> {
        if let Dead::Unlisted(known) = dead {
            let row = self.row(event, section, r)?.expect("row exists");
            let unknown: BTreeSet<u64> = row
                .seats()
                .filter_map(|(state, _)| match state {
                    SeatState::Held { hold } if !known.contains_key(&hold) => Some(hold),
                    _ => None,
                })
                .collect();
            for hold in unknown {
                let record = self.hold_record(event, hold)?.unwrap_or_else(|| {
                    panic!("invariant violated: seat held by missing hold {hold}")
                });
                known.insert(hold, !record.is_live(self.now));
            }
        }
        let row = self.row(event, section, r)?.expect("row exists");
        Ok(row
            .seats()
            .map(|(state, seat_tier)| {
                let in_scope = tier.is_none_or(|t| seat_tier == t);
                in_scope
                    && match state {
                        SeatState::Available => true,
                        SeatState::Held { hold } => dead.contains(hold),
                        SeatState::Sold { .. } | SeatState::Blocked => false,
                    }
            })
            .collect())
    }

    // ---- events ----------------------------------------------------------------------------

    fn create_event(&mut self, spec: &EventSpec) -> Res<Effect> {
        let (seats, ga_places) = validate::event_spec(spec).map_err(Rejection::invalid)?;
        if read::<EventRecord, _>(&self.txn, &keys::event(&spec.id))?.is_some() {
            return Err(Rejection::EventExists.into());
        }
        let tier_of = |name: &str| -> u16 {
            let index = spec.price_tiers.iter().position(|t| t.name == name);
            // Validated above: every tier name is known, and there are at most PRICE_TIERS_MAX.
            index.expect("validated tier") as u16
        };
        let id = &spec.id;
        let mut tier_counts = vec![Counts::default(); spec.price_tiers.len()];
        for (s, section) in spec.sections.iter().enumerate() {
            let mut capacity = 0u32;
            let mut tiers = vec![tier_of(&section.tier)];
            for (r, row) in section.rows.iter().enumerate() {
                let tier = row.tier.as_deref().map_or(tiers[0], tier_of);
                if !tiers.contains(&tier) {
                    tiers.push(tier);
                }
                let seats = row
                    .seats
                    .numbers()
                    .into_iter()
                    .map(|number| SeatLayout {
                        number,
                        accessible: row.accessible.contains(&number),
                    })
                    .collect::<Vec<_>>();
                capacity += seats.len() as u32;
                tier_counts[usize::from(tier)].available += seats.len() as u32;
                let (s, r) = (s as u16, r as u16);
                let states = RowStates::available(seats.iter().map(|_| tier));
                self.txn.put(keys::row_states(id, s, r), states.encode_to());
                let layout = RowLayout {
                    label: row.label.clone(),
                    seats,
                };
                write(&mut self.txn, keys::row_layout(id, s, r), &layout);
            }
            let zone = ZoneRecord {
                name: section.name.clone(),
                tier: tiers[0],
                tiers,
                rows: section.rows.len() as u16,
                capacity,
                counts: Counts {
                    available: capacity,
                    ..Counts::default()
                },
                open_rows: ZoneRecord::all_rows_open(section.rows.len() as u16),
            };
            write(
                &mut self.txn,
                keys::zone(id, ZoneKind::Section, s as u16),
                &zone,
            );
        }
        for (a, area) in spec.ga_areas.iter().enumerate() {
            let tier = tier_of(&area.tier);
            tier_counts[usize::from(tier)].available += area.capacity;
            let zone = ZoneRecord {
                name: area.name.clone(),
                tier,
                tiers: vec![tier],
                rows: 0,
                capacity: area.capacity,
                counts: Counts {
                    available: area.capacity,
                    ..Counts::default()
                },
                open_rows: Vec::new(),
            };
            write(
                &mut self.txn,
                keys::zone(id, ZoneKind::GaArea, a as u16),
                &zone,
            );
        }
        let info = EventInfo {
            name: spec.name.clone(),
            venue: spec.venue.clone(),
            category: spec.category.clone(),
            starts_at_ms: spec.starts_at_ms,
            price_tiers: spec.price_tiers.clone(),
        };
        write(&mut self.txn, keys::event_info(id), &info);
        let record = EventRecord {
            on_sale_at_ms: spec.on_sale_at_ms,
            off_sale_at_ms: spec.off_sale_at_ms,
            prices_cents: spec.price_tiers.iter().map(|t| t.price_cents).collect(),
            limits: spec.limits,
            gated: spec.gated,
            admin: event::AdminState::Normal,
            created_at_ms: self.now,
            sections: spec.sections.len() as u16,
            ga_areas: spec.ga_areas.len() as u16,
        };
        write(&mut self.txn, keys::event(id), &record);
        let totals = TotalsRecord {
            next_hold: 1,
            next_order: 1,
            counts: Counts {
                available: seats + ga_places,
                ..Counts::default()
            },
            tiers: tier_counts,
        };
        self.totals.insert(keys::totals(id), totals);
        Ok(Effect::EventCreated {
            event: id.clone(),
            seats,
            ga_places,
        })
    }

    fn set_status(&mut self, id: &EventId, change: StatusChange) -> Res<Effect> {
        let mut event = self.event(id)?;
        let from = event.status;
        let (admin, on_sale_at_ms) =
            event::transition(from, change, event.record.on_sale_at_ms, self.now)
                .ok_or(Rejection::InvalidTransition { from, change })?;
        event.record.admin = admin;
        event.record.on_sale_at_ms = on_sale_at_ms;
        write(&mut self.txn, keys::event(id), &event.record);
        let counts = self.totals_mut(id)?.counts;
        let r = &event.record;
        let status = event::status_at(admin, r.on_sale_at_ms, r.off_sale_at_ms, &counts, self.now);
        Ok(Effect::EventStatusChanged {
            event: id.clone(),
            status,
        })
    }

    // ---- holds -----------------------------------------------------------------------------

    fn ttl(&self, event: &Loaded, ttl_ms: Option<u64>) -> Res<u64> {
        let limits = &event.record.limits;
        let ttl = ttl_ms.unwrap_or(limits.hold_ttl_ms);
        if ttl < HOLD_TTL_MS_MIN {
            return invalid(format!("ttl_ms must be at least {HOLD_TTL_MS_MIN}"));
        }
        if ttl > limits.hold_lifetime_ms_max {
            return Err(Rejection::LimitExceeded {
                limit: Limit::HoldLifetime,
                max: limits.hold_lifetime_ms_max,
                requested: ttl,
            }
            .into());
        }
        Ok(ttl)
    }

    fn hold(
        &mut self,
        event_id: &EventId,
        customer: &CustomerId,
        selection: &Selection,
        ttl_ms: Option<u64>,
    ) -> Res<Effect> {
        customer
            .validate()
            .map_err(|e| Rejection::invalid(e.to_string()))?;
        let quantity = match selection {
            Selection::Seats(seats) => {
                if seats.is_empty() {
                    return invalid("a hold needs at least one seat");
                }
                let mut sorted = seats.clone();
                sorted.sort();
                sorted.dedup();
                if sorted.len() != seats.len() {
                    return invalid("a seat is listed twice");
                }
                seats.len().min(u32::MAX as usize) as u32
            }
            Selection::GeneralAdmission { quantity, .. }
            | Selection::BestAvailable { quantity, .. } => {
                if *quantity == 0 {
                    return invalid("quantity must be at least 1");
                }
                *quantity
            }
        };
        let event = self.event(event_id)?;
        let limits = event.record.limits;
        if quantity > limits.seats_per_hold_max {
            return Err(Rejection::LimitExceeded {
                limit: Limit::SeatsPerHold,
                max: limits.seats_per_hold_max.into(),
                requested: quantity.into(),
            }
            .into());
        }
        // Layout references must exist before anything else is judged.
        let target = match selection {
            Selection::Seats(seats) => {
                let unknown = self.unknown_seats(event_id, seats)?;
                if !unknown.is_empty() {
                    return Err(Rejection::UnknownSeat { seats: unknown }.into());
                }
                Target::Seats(seats)
            }
            Selection::GeneralAdmission { area, .. } => {
                match self.zone_by_name(&event, ZoneKind::GaArea, area)? {
                    Some(index) => Target::Area(index),
                    None => return invalid(format!("no general-admission area named {area:?}")),
                }
            }
            Selection::BestAvailable {
                scope: Scope::Section(name),
                ..
            } => match self.zone_by_name(&event, ZoneKind::Section, name)? {
                Some(index) => Target::Best {
                    sections: vec![index],
                    tier: None,
                },
                None => return invalid(format!("no section named {name:?}")),
            },
            Selection::BestAvailable {
                scope: Scope::Tier(name),
                ..
            } => {
                let info: EventInfo = read(&self.txn, &keys::event_info(event_id))?
                    .unwrap_or_else(|| panic!("invariant violated: event {event_id} has no info"));
                let Some(tier) = info.price_tiers.iter().position(|t| &t.name == name) else {
                    return invalid(format!("no price tier named {name:?}"));
                };
                let tier = tier as u16;
                let mut sections = Vec::new();
                for s in 0..event.record.sections {
                    if self
                        .zone(event_id, ZoneKind::Section, s)?
                        .is_some_and(|z| z.tiers.contains(&tier))
                    {
                        sections.push(s);
                    }
                }
                Target::Best {
                    sections,
                    tier: Some(tier),
                }
            }
        };
        let ttl = self.ttl(&event, ttl_ms)?;
        if !event.status.is_selling() {
            return Err(Rejection::EventNotOnSale {
                status: event.status,
            }
            .into());
        }
        if event.record.gated {
            self.require_admission(event_id, customer)?;
        }
        self.check_customer_room(event_id, customer, &limits, quantity)?;

        let items = match target {
            Target::Seats(seats) => {
                self.take_seats(event_id, seats)?;
                HoldItems::Seats(seats.to_vec())
            }
            Target::Area(area) => {
                self.take_places(event_id, area, quantity)?;
                HoldItems::Places { area, quantity }
            }
            Target::Best { sections, tier } => {
                HoldItems::Seats(self.take_best(event_id, &sections, tier, quantity)?)
            }
        };

        let totals = self.totals_mut(event_id)?;
        let number = totals.next_hold;
        totals.next_hold += 1;
        let amount_cents = self.price(&event, &items)?;
        let hold = HoldRecord {
            customer: customer.clone(),
            items,
            amount_cents,
            created_at_ms: self.now,
            expires_at_ms: self.now.saturating_add(ttl),
            status: HoldStatus::Active,
        };
        self.move_items(
            event_id,
            &hold.items,
            SeatState::Available,
            SeatState::Held { hold: number },
        )?;
        for key in self.expiry_keys(event_id, number, &hold) {
            self.txn.put(key, Vec::new());
        }
        let entry = CustomerHold {
            hold: number,
            places: quantity,
            expires_at_ms: hold.expires_at_ms,
        };
        self.customer_mut(event_id, customer)?.holds.push(entry);
        write(&mut self.txn, keys::hold(event_id, number), &hold);
        let id = HoldId {
            event: event_id.clone(),
            number,
        };
        Ok(Effect::Held(hold_view(id, hold, self.now)))
    }

    /// Expires the customer's dead holds, then checks the per-customer limits for `quantity` more.
    fn check_customer_room(
        &mut self,
        event: &EventId,
        customer: &CustomerId,
        limits: &event::EventLimits,
        quantity: u32,
    ) -> Res<()> {
        let now = self.now;
        let dead: Vec<u64> = self
            .customer_mut(event, customer)?
            .holds
            .iter()
            .filter(|h| h.expires_at_ms <= now)
            .map(|h| h.hold)
            .collect();
        for number in dead {
            self.reap_if_dead(event, number)?;
        }
        let record = self.customer_mut(event, customer)?;
        let holds = record.holds.len() as u64 + 1;
        if holds > u64::from(limits.holds_per_customer_max) {
            return Err(Rejection::LimitExceeded {
                limit: Limit::HoldsPerCustomer,
                max: limits.holds_per_customer_max.into(),
                requested: holds,
            }
            .into());
        }
        let seats = u64::from(record.held()) + u64::from(record.bought) + u64::from(quantity);
        if seats > u64::from(limits.seats_per_customer_max) {
            return Err(Rejection::LimitExceeded {
                limit: Limit::SeatsPerCustomer,
                max: limits.seats_per_customer_max.into(),
                requested: seats,
            }
            .into());
        }
        Ok(())
    }

    /// Makes sure every seat is available, expiring dead holds in the way; all or nothing.
    fn take_seats(&mut self, event: &EventId, seats: &[SeatId]) -> Res<()> {
        let mut taken = Vec::new();
        for &seat in seats {
            let (state, _) = self
                .seat(event, seat)?
                .expect("seats were checked to exist");
            let free = match state {
                SeatState::Available => true,
                SeatState::Held { hold } => self.reap_if_dead(event, hold)?,
                SeatState::Sold { .. } | SeatState::Blocked => false,
            };
            if !free {
                taken.push(seat);
            }
        }
        if taken.is_empty() {
            Ok(())
        } else {
            Err(Rejection::SeatUnavailable { seats: taken }.into())
        }
    }

    /// Makes sure `quantity` places of `area` are available, expiring its dead holds oldest first.
    fn take_places(&mut self, event: &EventId, area: u16, quantity: u32) -> Res<()> {
        let from = records::Key::new(records::tag::GA_HOLD_EXPIRY)
            .text(event.as_str())
            .u16(area);
        let from = from.build();
        let to = records::Key::new(records::tag::GA_HOLD_EXPIRY)
            .text(event.as_str())
            .u16(area)
            .u64(self.now.saturating_add(1))
            .build();
        loop {
            let available = self
                .zone(event, ZoneKind::GaArea, area)?
                .expect("area exists")
                .counts
                .available;
            if available >= quantity {
                return Ok(());
            }
            let expired = self.txn.scan(&from, &to, 16)?;
            if expired.is_empty() {
                return Err(Rejection::InsufficientInventory {
                    requested: quantity,
                    available,
                }
                .into());
            }
            for (key, _) in expired {
                let hold = key[key.len() - 8..]
                    .try_into()
                    .map(u64::from_be_bytes)
                    .expect("8 bytes");
                let reaped = self.reap_if_dead(event, hold)?;
                assert!(
                    reaped,
                    "invariant violated: GA expiry index lists live hold {hold}"
                );
            }
        }
    }

    /// Chooses the best `quantity` seats in `sections` (of `tier`, if given) and frees dead holds on them.
    fn take_best(
        &mut self,
        event: &EventId,
        sections: &[u16],
        tier: Option<u16>,
        quantity: u32,
    ) -> Res<Vec<SeatId>> {
        let mut dead = match self.dead_holds(event)? {
            Some(listed) => Dead::Listed(listed),
            None => Dead::Unlisted(BTreeMap::new()),
        };
        // Seats held by live holds can never be chosen: when no hold of this event is dead, only
        // available seats count, and a request for more than that is refused without a scan.
        let may_take_held = !matches!(&dead, Dead::Listed(listed) if listed.is_empty());
        let mut room = 0u64;
        for &s in sections {
            let counts = self
                .zone(event, ZoneKind::Section, s)?
                .expect("section exists")
                .counts;
            room += u64::from(counts.available);
            if may_take_held {
                room += u64::from(counts.held);
            }
        }
        if room < u64::from(quantity) {
            let available = self.count_available(event, sections)?;
            return Err(Rejection::InsufficientInventory {
                requested: quantity,
                available,
            }
            .into());
        }
        // quantity <= SEATS_PER_HOLD_MAX, which fits u16.
        let mut chooser = BestAvailable::new(quantity as u16);
        let mut chosen = None;
        'sections: for &section in sections {
            let zone = self
                .zone(event, ZoneKind::Section, section)?
                .expect("section exists");
            // With no dead hold, only available seats can be taken: rows without one are skipped.
            let open_rows: Vec<u16> = (0..zone.rows)
                .filter(|&r| may_take_held || zone.row_open(r))
                .collect();
            for r in open_rows {
                let free = self.free_seats(event, section, r, tier, &mut dead)?;
                if let Some(seats) = chooser.add_row(section, r, &free) {
                    chosen = Some(seats);
                    break 'sections;
                }
            }
        }
        let seats = match chosen {
            Some(seats) => seats,
            None => chooser
                .finish()
                .map_err(|available| Rejection::InsufficientInventory {
                    requested: quantity,
                    available,
                })?,
        };
        self.take_seats(event, &seats)?;
        Ok(seats)
    }

    fn count_available(&mut self, event: &EventId, sections: &[u16]) -> Res<u32> {
        let mut available = 0;
        for &s in sections {
            available += self
                .zone(event, ZoneKind::Section, s)?
                .expect("section exists")
                .counts
                .available;
        }
        Ok(available)
    }

    /// Total price of `items`, in cents.
    fn price(&mut self, event: &Loaded, items: &HoldItems) -> Res<u64> {
        let tier_price = |tier: u16| event.record.prices_cents[usize::from(tier)];
        match items {
            HoldItems::Seats(seats) => {
                let mut amount = 0;
                for &seat in seats {
                    let (_, tier) = self.seat(&event.id, seat)?.expect("seat exists");
                    amount += tier_price(tier);
                }
                Ok(amount)
            }
            HoldItems::Places { area, quantity } => {
                let zone = self.zone(&event.id, ZoneKind::GaArea, *area)?;
                Ok(tier_price(zone.expect("area exists").tier) * u64::from(*quantity))
            }
        }
    }

    /// Loads a hold for its holder: checks the event, the hold's existence and its owner.
    fn holder_hold(&mut self, id: &HoldId, customer: &CustomerId) -> Res<(Loaded, HoldRecord)> {
        customer
            .validate()
            .map_err(|e| Rejection::invalid(e.to_string()))?;
        let event = self.event(&id.event)?;
        let hold = self
            .hold_record(&id.event, id.number)?
            .ok_or(Rejection::UnknownHold)?;
        if &hold.customer != customer {
            return Err(Rejection::NotHolder.into());
        }
        Ok((event, hold))
    }

    /// Refuses a hold that is not live: expired (by status or by time), released or bought.
    fn require_live(&self, hold: &HoldRecord) -> Res<()> {
        match hold.status {
            HoldStatus::Active if hold.is_live(self.now) => Ok(()),
            HoldStatus::Active | HoldStatus::Expired => Err(Rejection::HoldExpired.into()),
            status @ (HoldStatus::Released | HoldStatus::Purchased { .. }) => {
                Err(Rejection::HoldNotActive { status }.into())
            }
        }
    }

    fn extend(&mut self, id: &HoldId, customer: &CustomerId, ttl_ms: Option<u64>) -> Res<Effect> {
        let (event, mut hold) = self.holder_hold(id, customer)?;
        self.require_live(&hold)?;
        if !event.status.is_selling() {
            return Err(Rejection::EventNotOnSale {
                status: event.status,
            }
            .into());
        }
        let ttl = self.ttl(&event, ttl_ms)?;
        let lifetime_max = event.record.limits.hold_lifetime_ms_max;
        let cap = hold.created_at_ms.saturating_add(lifetime_max);
        let wanted = self.now.saturating_add(ttl);
        let expires_at_ms = wanted.min(cap);
        if expires_at_ms <= hold.expires_at_ms {
            return Err(Rejection::LimitExceeded {
                limit: Limit::HoldLifetime,
                max: lifetime_max,
                requested: wanted - hold.created_at_ms,
            }
            .into());
        }
        for key in self.expiry_keys(&id.event, id.number, &hold) {
            self.txn.delete(key);
        }
        hold.expires_at_ms = expires_at_ms;
        for key in self.expiry_keys(&id.event, id.number, &hold) {
            self.txn.put(key, Vec::new());
        }
        let record = self.customer_mut(&id.event, customer)?;
        let entry = record.holds.iter_mut().find(|h| h.hold == id.number);
        entry
            .expect("invariant violated: active hold not on its customer")
            .expires_at_ms = expires_at_ms;
        write(&mut self.txn, keys::hold(&id.event, id.number), &hold);
        Ok(Effect::HoldExtended {
            hold: id.clone(),
            expires_at_ms,
        })
    }

    fn release(&mut self, id: &HoldId, customer: &CustomerId) -> Res<Effect> {
        let (_, mut hold) = self.holder_hold(id, customer)?;
        let places_released = match hold.status {
            HoldStatus::Active if hold.is_live(self.now) => {
                self.end_hold(&id.event, id.number, &mut hold, HoldStatus::Released)?
            }
            HoldStatus::Active => {
                // Dead already: releasing it does nothing a caller could see; tidy it up as expired.
                self.end_hold(&id.event, id.number, &mut hold, HoldStatus::Expired)?;
                0
            }
            HoldStatus::Released | HoldStatus::Expired => 0,
            status @ HoldStatus::Purchased { .. } => {
                return Err(Rejection::HoldNotActive { status }.into())
            }
        };
        Ok(Effect::Released {
            hold: id.clone(),
            places_released,
        })
    }

    // ---- orders ----------------------------------------------------------------------------

    fn buy(&mut self, id: &HoldId, customer: &CustomerId, payment_reference: &str) -> Res<Effect> {
        if payment_reference.is_empty() {
            return invalid("payment_reference must not be empty");
        }
        validate::text("payment_reference", payment_reference, ID_BYTES_MAX)
            .map_err(Rejection::invalid)?;
        let (event, mut hold) = self.holder_hold(id, customer)?;
        self.require_live(&hold)?;
        if !event.status.is_selling() {
            return Err(Rejection::EventNotOnSale {
                status: event.status,
            }
            .into());
        }
        let totals = self.totals_mut(&id.event)?;
        let number = totals.next_order;
        totals.next_order += 1;
        let order_id = OrderId {
            event: id.event.clone(),
            number,
        };

        let tickets = self.tickets(&event, &hold)?;
        self.end_hold(
            &id.event,
            id.number,
            &mut hold,
            HoldStatus::Purchased { order: number },
        )?;
        self.customer_mut(&id.event, customer)?.bought += hold.items.quantity();
        let order = OrderRecord {
            customer: customer.clone(),
            hold: id.number,
            items: hold.items,
            tickets,
            amount_cents: hold.amount_cents,
            payment_reference: payment_reference.to_owned(),
            created_at_ms: self.now,
            status: OrderStatus::Confirmed,
            cancel_reason: None,
        };
        write(&mut self.txn, keys::order(&id.event, number), &order);
        self.txn.put(
            keys::customer_order(customer, &id.event, number),
            Vec::new(),
        );
        Ok(Effect::Bought(order_view(order_id, order)))
    }

    fn tickets(&mut self, event: &Loaded, hold: &HoldRecord) -> Res<Vec<Ticket>> {
        // Ticket numbers count from 1; an order has at most SEATS_PER_HOLD_MAX tickets.
        let ticket_number = |k: usize| k as u32 + 1;
        let tier_price = |tier: u16| event.record.prices_cents[usize::from(tier)];
        match &hold.items {
            HoldItems::Seats(seats) => {
                let mut tickets = Vec::with_capacity(seats.len());
                for (k, &seat) in seats.iter().enumerate() {
                    let (_, tier) = self.seat(&event.id, seat)?.expect("seat exists");
                    tickets.push(Ticket {
                        number: ticket_number(k),
                        seat: Some(seat),
                        price_cents: tier_price(tier),
                    });
                }
                Ok(tickets)
            }
            HoldItems::Places { area, quantity } => {
                let zone = self
                    .zone(&event.id, ZoneKind::GaArea, *area)?
                    .expect("area exists");
                let price_cents = tier_price(zone.tier);
                Ok((0..*quantity as usize)
                    .map(|k| Ticket {
                        number: ticket_number(k),
                        seat: None,
                        price_cents,
                    })
                    .collect())
            }
        }
    }

    fn cancel_order(&mut self, id: &OrderId, reason: &str) -> Res<Effect> {
        validate::text("reason", reason, REASON_BYTES_MAX).map_err(Rejection::invalid)?;
        self.event(&id.event)?;
        let key = keys::order(&id.event, id.number);
        let mut order: OrderRecord = read(&self.txn, &key)?.ok_or(Rejection::UnknownOrder)?;
        if order.status != OrderStatus::Confirmed {
            return Err(Rejection::OrderNotActive.into());
        }
        let sold = SeatState::Sold { order: id.number };
        self.move_items(&id.event, &order.items, sold, SeatState::Available)?;
        let quantity = order.items.quantity();
        let customer = self.customer_mut(&id.event, &order.customer)?;
        customer.bought = customer
            .bought
            .checked_sub(quantity)
            .expect("invariant violated: customer bought fewer seats than an order holds");
        order.status = OrderStatus::Cancelled;
        order.cancel_reason = Some(reason.to_owned());
        write(&mut self.txn, key, &order);
        Ok(Effect::OrderCancelled {
            order: id.clone(),
            places_released: quantity,
        })
    }

    // ---- admin seat control ----------------------------------------------------------------

    fn block(&mut self, event: &EventId, seats: &[SeatId], block: bool) -> Res<Effect> {
        if seats.is_empty() || seats.len() > SEATS_PER_BLOCK_MAX {
            return invalid(format!("name 1 to {SEATS_PER_BLOCK_MAX} seats"));
        }
        let mut sorted = seats.to_vec();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != seats.len() {
            return invalid("a seat is listed twice");
        }
        self.event(event)?;
        let unknown = self.unknown_seats(event, seats)?;
        if !unknown.is_empty() {
            return Err(Rejection::UnknownSeat { seats: unknown }.into());
        }
        let mut changed = 0u32;
        if block {
            let mut to_block = Vec::new();
            let mut taken = Vec::new();
            for &seat in seats {
                match self.seat(event, seat)?.expect("checked").0 {
                    SeatState::Blocked => {}
                    SeatState::Available => to_block.push(seat),
                    SeatState::Held { hold } => {
                        if self.reap_if_dead(event, hold)? {
                            to_block.push(seat);
                        } else {
                            taken.push(seat);
                        }
                    }
                    SeatState::Sold { .. } => taken.push(seat),
                }
            }
            if !taken.is_empty() {
                return Err(Rejection::SeatUnavailable { seats: taken }.into());
            }
            for seat in to_block {
                self.move_seat(event, seat, SeatState::Blocked)?;
                changed += 1;
            }
            Ok(Effect::SeatsBlocked { seats: changed })
        } else {
            for &seat in seats {
                if self.seat(event, seat)?.expect("checked").0 == SeatState::Blocked {
                    self.move_seat(event, seat, SeatState::Available)?;
                    changed += 1;
                }
            }
            Ok(Effect::SeatsUnblocked { seats: changed })
        }
    }

    // ---- expiry ----------------------------------------------------------------------------

    fn expire(&mut self, holds_max: u32) -> Res<Effect> {
        if !(1..=EXPIRE_BATCH_MAX).contains(&holds_max) {
            return invalid(format!("holds_max must be 1 to {EXPIRE_BATCH_MAX}"));
        }
        let mut from = vec![records::tag::HOLD_EXPIRY];
        let to = records::Key::new(records::tag::HOLD_EXPIRY)
            .u64(self.now.saturating_add(1))
            .build();
        // The due holds, oldest first, but those of a sealed event (it moved away: its state stays
        // as exported until it is dropped), one more than asked to know whether more remain.
        let wanted = holds_max as usize + 1;
        let mut due = Vec::with_capacity(wanted);
        while due.len() < wanted {
            let page = self.txn.scan(&from, &to, wanted)?;
            let Some((last, _)) = page.last() else {
                break;
            };
            from = [last.as_slice(), &[0]].concat();
            for (key, _) in page {
                let (_, event, number) = records::parse_hold_expiry(&key).ok_or_else(|| {
                    StoreError::Io(format!("malformed hold expiry key {key:02x?}"))
                })?;
                if due.len() < wanted && !self.sealed(&event)? {
                    due.push((event, number));
                }
            }
        }
        let more = due.len() > holds_max as usize;
        let mut holds = 0;
        for (event, number) in due.into_iter().take(holds_max as usize) {
            let reaped = self.reap_if_dead(&event, number)?;
            assert!(
                reaped,
                "invariant violated: expiry index lists live hold {number} of {event}"
            );
            holds += 1;
        }
        Ok(Effect::Expired { holds, more })
    }
}

/// Most dead holds a best-available request lists up front; past that it asks hold by hold.
const DEAD_HOLDS_LISTED_MAX: usize = 256;

/// The holds of an event that are past their expiry, as far as one command knows them.
enum Dead {
    /// Every dead hold of the event.
    Listed(BTreeSet<u64>),
    /// Too many to list: the holds looked up so far, with whether each is dead.
    Unlisted(BTreeMap<u64, bool>),
}

impl Dead {
    fn contains(&self, hold: u64) -> bool {
        match self {
            Dead::Listed(listed) => listed.contains(&hold),
            Dead::Unlisted(known) => known.get(&hold).copied().unwrap_or(false),
        }
    }
}

/// What a hold request resolved to.
enum Target<'a> {
    Seats(&'a [SeatId]),
    Area(u16),
    Best {
        sections: Vec<u16>,
        tier: Option<u16>,
    },
}

/// The caller's view of a stored hold at `now`.
pub(crate) fn hold_view(id: HoldId, hold: HoldRecord, now: u64) -> HoldView {
    let status = match hold.status {
        HoldStatus::Active if !hold.is_live(now) => HoldStatus::Expired,
        status => status,
    };
    HoldView {
        id,
        customer: hold.customer,
        items: hold.items,
        amount_cents: hold.amount_cents,
        created_at_ms: hold.created_at_ms,
        expires_at_ms: hold.expires_at_ms,
        status,
    }
}

/// The caller's view of a stored order.
pub(crate) fn order_view(id: OrderId, order: OrderRecord) -> OrderView {
    OrderView {
        id: id.clone(),
        customer: order.customer,
        hold: HoldId {
            event: id.event,
            number: order.hold,
        },
        items: order.items,
        tickets: order.tickets,
        amount_cents: order.amount_cents,
        payment_reference: order.payment_reference,
        created_at_ms: order.created_at_ms,
        status: order.status,
        cancel_reason: order.cancel_reason,
    }
}
