//! Model-based tests: random histories against one club event, each step checked against a model.
//!
//! The model keeps seats, holds, orders and remembered requests in plain maps and vectors and
//! decides every command by brute force from the documented semantics (not from `apply.rs`). After
//! every command the state machine must give the same answer as the model, pass
//! `invariants::check`, and read back (state time, remembered requests, event status and counts,
//! seat map, holds, orders) as the model says. Now and then, and at the end of every history, the
//! whole state also goes through a chunked snapshot.
//!
//! `PROPTEST_CASES` sets the number of random histories (256 by default); `BOXOFFICE_SEED` picks
//! the seed of the long history.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use boxoffice_statemachine::query::{self, SeatStatus};
use boxoffice_statemachine::{
    answer_now, apply, execute, fixtures, invariants, snapshot, Action, Command, Counts,
    CustomerId, Effect, EventId, EventLimits, EventSpec, EventStatus, HoldId, HoldItems,
    HoldStatus, Limit, MemStore, OrderId, OrderStatus, Outcome, RequestId, Scope, SeatId,
    Selection, StatusChange,
};
use proptest::prelude::*;
use proptest::sample::subsequence;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The one event every history plays with: `fixtures::club(EVENT)`.
const EVENT: &str = "ev";
/// The buyers.
const CUSTOMERS: [&str; 4] = ["ann", "ben", "cat", "dan"];
/// When the event is created (the first command of every history).
const START_MS: u64 = 1_000;
/// How long outcomes are remembered for retries, and how many forgotten ones one command drops.
const RETENTION_MS: u64 = 10 * 60 * 1_000;
const FORGET_PER_COMMAND: usize = 4;
/// Bounds of a hold's time-to-live and of an expiry sweep.
const TTL_MS_MIN: u64 = 1_000;
const EXPIRE_BATCH_MAX: u32 = 4_096;
/// Seats that are not in the club: past the end of a row, a row too far, a section too far.
const UNKNOWN_SEATS: [SeatId; 3] = [
    SeatId {
        section: 0,
        row: 0,
        index: 9,
    },
    SeatId {
        section: 1,
        row: 2,
        index: 0,
    },
    SeatId {
        section: 2,
        row: 0,
        index: 0,
    },
];
/// Holds and retries picked "recently" come from this many of the newest.
const RECENT: usize = 6;
/// Steps of the long seeded history, and the default seed.
const LONG_STEPS: usize = 2_000;
const LONG_SEED: u64 = 0x0b0c_5eed;
/// Snapshot chunk size for audits, in bytes.
const CHUNK_BYTES: usize = 512;

// ==== the layout, read off the fixture ==========================================================

/// A reserved seat's price tier.
#[derive(Debug, Clone)]
struct SeatSpec {
    tier: String,
    price_cents: u64,
}

/// A general-admission area.
#[derive(Debug, Clone)]
struct AreaSpec {
    name: String,
    tier: String,
    price_cents: u64,
    capacity: u32,
}

/// What the model knows of the event: seats with their tiers, section and area names, limits.
#[derive(Debug)]
struct Layout {
    spec: EventSpec,
    /// Every seat, in layout order (section, row, index).
    seats: BTreeMap<SeatId, SeatSpec>,
    sections: Vec<String>,
    areas: Vec<AreaSpec>,
}

impl Layout {
    fn club() -> Layout {
        Layout::of(fixtures::club(EVENT))
    }

    fn of(spec: EventSpec) -> Layout {
        let price = |tier: &str| {
            spec.price_tiers
                .iter()
                .find(|t| t.name == tier)
                .map(|t| t.price_cents)
                .expect("the fixture prices every tier it names")
        };
        let mut seats = BTreeMap::new();
        for (s, section) in spec.sections.iter().enumerate() {
            for (r, row) in section.rows.iter().enumerate() {
                let tier = row.tier.clone().unwrap_or_else(|| section.tier.clone());
                for index in 0..row.seats.len() {
                    let id = SeatId {
                        section: s as u16,
                        row: r as u16,
                        index: index as u16,
                    };
                    let price_cents = price(&tier);
                    seats.insert(
                        id,
                        SeatSpec {
                            tier: tier.clone(),
                            price_cents,
                        },
                    );
                }
            }
        }
        let sections = spec.sections.iter().map(|s| s.name.clone()).collect();
        let areas = spec
            .ga_areas
            .iter()
            .map(|a| AreaSpec {
                name: a.name.clone(),
                tier: a.tier.clone(),
                price_cents: price(&a.tier),
                capacity: a.capacity,
            })
            .collect();
        Layout {
            spec,
            seats,
            sections,
            areas,
        }
    }

    fn limits(&self) -> EventLimits {
        self.spec.limits
    }

    fn has_tier(&self, name: &str) -> bool {
        self.spec.price_tiers.iter().any(|t| t.name == name)
    }
}

fn ev(id: &str) -> EventId {
    EventId::new(id).expect("a valid event id")
}

fn event_id() -> EventId {
    ev(EVENT)
}

fn customer_named(name: &str) -> CustomerId {
    CustomerId::new(name).expect("a valid customer id")
}

fn seat(section: u16, row: u16, index: u16) -> SeatId {
    SeatId {
        section,
        row,
        index,
    }
}

fn all_seats() -> Vec<SeatId> {
    Layout::club().seats.keys().copied().collect()
}

// ==== the model =================================================================================

/// A seat's stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spot {
    Free,
    Held(u64),
    Sold(u64),
    Blocked,
}

/// The admin's override of the sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admin {
    Normal,
    Paused,
    Cancelled,
    Ended,
}

#[derive(Debug, Clone)]
struct ModelHold {
    customer: CustomerId,
    items: HoldItems,
    amount_cents: u64,
    created_at_ms: u64,
    expires_at_ms: u64,
    status: HoldStatus,
}

#[derive(Debug, Clone)]
struct ModelOrder {
    customer: CustomerId,
    hold: u64,
    items: HoldItems,
    amount_cents: u64,
    cancelled: bool,
}

/// What a rejection names, where the rules pin it down.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Detail {
    None,
    /// `UNKNOWN_SEAT`, `SEAT_UNAVAILABLE`: the seats, sorted.
    Seats(Vec<SeatId>),
    /// `LIMIT_EXCEEDED`: which limit.
    Limit(Limit),
    /// `EVENT_NOT_ON_SALE`: the event's status; `INVALID_TRANSITION`: the status it was in.
    Status(EventStatus),
    /// `HOLD_NOT_ACTIVE`: the hold's status.
    Hold(HoldStatus),
}

/// What an outcome says, in the terms the model can predict.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Summary {
    /// A rejection code and what it names.
    Rejected {
        code: &'static str,
        detail: Detail,
    },
    Created {
        seats: u32,
        ga_places: u32,
    },
    StatusChanged(EventStatus),
    Held {
        hold: u64,
        customer: CustomerId,
        items: HoldItems,
        amount_cents: u64,
        created_at_ms: u64,
        expires_at_ms: u64,
        status: HoldStatus,
    },
    Extended {
        hold: u64,
        expires_at_ms: u64,
    },
    Released {
        hold: u64,
        places: u32,
    },
    Bought {
        order: u64,
        hold: u64,
        customer: CustomerId,
        amount_cents: u64,
        ticket_seats: Vec<Option<SeatId>>,
        ticket_total_cents: u64,
        status: OrderStatus,
    },
    OrderCancelled {
        order: u64,
        places: u32,
    },
    Blocked(u32),
    Unblocked(u32),
    Expired {
        holds: u32,
        more: bool,
    },
    /// A waiting-room effect: this model's club is not gated (`tests/queue_model.rs` models queues).
    Queue(Effect),
}

fn summarize(outcome: &Outcome) -> Summary {
    use boxoffice_statemachine::Rejection as R;
    let effect = match outcome {
        Outcome::Rejected(rejection) => {
            let detail = match rejection {
                R::UnknownSeat { seats } | R::SeatUnavailable { seats } => {
                    let mut seats = seats.clone();
                    seats.sort();
                    Detail::Seats(seats)
                }
                R::LimitExceeded { limit, .. } => Detail::Limit(*limit),
                R::EventNotOnSale { status } => Detail::Status(*status),
                R::InvalidTransition { from, .. } => Detail::Status(*from),
                R::HoldNotActive { status } => Detail::Hold(*status),
                _ => Detail::None,
            };
            return Summary::Rejected {
                code: rejection.code(),
                detail,
            };
        }
        Outcome::Accepted(effect) => effect,
    };
    match effect {
        Effect::EventCreated {
            seats, ga_places, ..
        } => Summary::Created {
            seats: *seats,
            ga_places: *ga_places,
        },
        Effect::EventStatusChanged { status, .. } => Summary::StatusChanged(*status),
        Effect::Held(view) => Summary::Held {
            hold: view.id.number,
            customer: view.customer.clone(),
            items: view.items.clone(),
            amount_cents: view.amount_cents,
            created_at_ms: view.created_at_ms,
            expires_at_ms: view.expires_at_ms,
            status: view.status,
        },
        Effect::HoldExtended {
            hold,
            expires_at_ms,
        } => Summary::Extended {
            hold: hold.number,
            expires_at_ms: *expires_at_ms,
        },
        Effect::Released {
            hold,
            places_released,
        } => Summary::Released {
            hold: hold.number,
            places: *places_released,
        },
        Effect::Bought(order) => Summary::Bought {
            order: order.id.number,
            hold: order.hold.number,
            customer: order.customer.clone(),
            amount_cents: order.amount_cents,
            ticket_seats: order.tickets.iter().map(|t| t.seat).collect(),
            ticket_total_cents: order.tickets.iter().map(|t| t.price_cents).sum(),
            status: order.status,
        },
        Effect::OrderCancelled {
            order,
            places_released,
        } => Summary::OrderCancelled {
            order: order.number,
            places: *places_released,
        },
        Effect::SeatsBlocked { seats } => Summary::Blocked(*seats),
        Effect::SeatsUnblocked { seats } => Summary::Unblocked(*seats),
        Effect::Expired { holds, more } => Summary::Expired {
            holds: *holds,
            more: *more,
        },
        Effect::QueueJoined(_)
        | Effect::QueueSequenced { .. }
        | Effect::Admitted { .. }
        | Effect::AdmissionSet { .. } => Summary::Queue(effect.clone()),
        Effect::EventSealed { .. } | Effect::EventImported { .. } | Effect::EventDropped { .. } => {
            unreachable!("the model never moves its event: {effect:?}")
        }
    }
}

/// Why the model does not accept a command: a rejection it predicts, or a complaint about the state
/// machine's own choice (best-available seats that break the rules).
enum No {
    Code(&'static str, Detail),
    Bad(String),
}

fn no(code: &'static str) -> No {
    No::Code(code, Detail::None)
}

fn over(limit: Limit) -> No {
    No::Code("LIMIT_EXCEEDED", Detail::Limit(limit))
}

fn unavailable(mut seats: Vec<SeatId>) -> No {
    seats.sort();
    No::Code("SEAT_UNAVAILABLE", Detail::Seats(seats))
}

fn unknown_seats(mut seats: Vec<SeatId>) -> No {
    seats.sort();
    No::Code("UNKNOWN_SEAT", Detail::Seats(seats))
}

type Decision = Result<Summary, No>;

/// The inventory of the one event: all a command may change but state time and requests.
#[derive(Debug, Clone)]
struct Inventory {
    layout: Rc<Layout>,
    /// State time of the command being decided.
    now: u64,
    created: bool,
    admin: Admin,
    on_sale_at_ms: u64,
    seats: BTreeMap<SeatId, Spot>,
    /// Hold `n` is `holds[n - 1]`.
    holds: Vec<ModelHold>,
    /// Order `n` is `orders[n - 1]`.
    orders: Vec<ModelOrder>,
}

/// Counts one more seat in `spot`'s state.
fn count(counts: &mut Counts, spot: Spot) {
    match spot {
        Spot::Free => counts.available += 1,
        Spot::Held(_) => counts.held += 1,
        Spot::Sold(_) => counts.sold += 1,
        Spot::Blocked => counts.blocked += 1,
    }
}

fn quantity(items: &HoldItems) -> u32 {
    match items {
        HoldItems::Seats(seats) => seats.len() as u32,
        HoldItems::Places { quantity, .. } => *quantity,
    }
}

fn has_duplicates(seats: &[SeatId]) -> bool {
    seats.iter().collect::<BTreeSet<_>>().len() != seats.len()
}

/// True when `seats` are consecutive seats of one row.
fn side_by_side(seats: &[SeatId]) -> bool {
    let mut sorted = seats.to_vec();
    sorted.sort();
    sorted.windows(2).all(|pair| {
        let (a, b) = (pair[0], pair[1]);
        a.section == b.section && a.row == b.row && a.index + 1 == b.index
    })
}

/// True when some row has `quantity` consecutive seats among `free`.
fn row_fits(free: &[SeatId], quantity: usize) -> bool {
    let mut run = 0;
    let mut previous: Option<SeatId> = None;
    for &seat in free {
        let adjacent = previous.is_some_and(|p| {
            p.section == seat.section && p.row == seat.row && p.index + 1 == seat.index
        });
        run = if adjacent { run + 1 } else { 1 };
        if run >= quantity {
            return true;
        }
        previous = Some(seat);
    }
    false
}

impl Inventory {
    fn new(layout: Rc<Layout>) -> Inventory {
        let seats = layout.seats.keys().map(|&id| (id, Spot::Free)).collect();
        Inventory {
            on_sale_at_ms: layout.spec.on_sale_at_ms,
            layout,
            now: 0,
            created: false,
            admin: Admin::Normal,
            seats,
            holds: Vec::new(),
            orders: Vec::new(),
        }
    }

    // ---- reading the state -------------------------------------------------------------------

    fn hold(&self, number: u64) -> Option<&ModelHold> {
        let index = usize::try_from(number.checked_sub(1)?).ok()?;
        self.holds.get(index)
    }

    fn order(&self, number: u64) -> Option<&ModelOrder> {
        let index = usize::try_from(number.checked_sub(1)?).ok()?;
        self.orders.get(index)
    }

    fn hold_mut(&mut self, number: u64) -> &mut ModelHold {
        &mut self.holds[number as usize - 1]
    }

    /// Active and not yet past its expiry.
    fn is_live(&self, hold: &ModelHold) -> bool {
        hold.status == HoldStatus::Active && hold.expires_at_ms > self.now
    }

    /// Active but past its expiry: as good as released for every decision.
    fn is_dead(&self, hold: &ModelHold) -> bool {
        hold.status == HoldStatus::Active && hold.expires_at_ms <= self.now
    }

    fn number_is_dead(&self, number: u64) -> bool {
        self.hold(number).is_some_and(|h| self.is_dead(h))
    }

    /// A seat that may be taken: available, or held by a dead hold.
    fn is_free(&self, seat: SeatId) -> bool {
        match self.seats[&seat] {
            Spot::Free => true,
            Spot::Held(hold) => self.number_is_dead(hold),
            Spot::Sold(_) | Spot::Blocked => false,
        }
    }

    /// A seat as buyers see it: a seat of a dead hold reads as available.
    fn shown(&self, seat: SeatId) -> SeatStatus {
        match self.seats[&seat] {
            Spot::Free => SeatStatus::Available,
            Spot::Held(hold) if self.number_is_dead(hold) => SeatStatus::Available,
            Spot::Held(_) => SeatStatus::Held,
            Spot::Sold(_) => SeatStatus::Sold,
            Spot::Blocked => SeatStatus::Blocked,
        }
    }

    /// A hold's status as callers see it: a dead hold reads as expired.
    fn shown_status(&self, hold: &ModelHold) -> HoldStatus {
        if self.is_dead(hold) {
            HoldStatus::Expired
        } else {
            hold.status
        }
    }

    /// Stored counts per section and per area (a dead hold's seats still count as held).
    fn zone_counts(&self) -> (Vec<Counts>, Vec<Counts>) {
        let mut sections = vec![Counts::default(); self.layout.sections.len()];
        for (seat, spot) in &self.seats {
            count(&mut sections[usize::from(seat.section)], *spot);
        }
        let mut areas: Vec<Counts> = self
            .layout
            .areas
            .iter()
            .map(|a| Counts {
                available: a.capacity,
                ..Counts::default()
            })
            .collect();
        for hold in self.holds.iter().filter(|h| h.status == HoldStatus::Active) {
            if let HoldItems::Places { area, quantity } = hold.items {
                areas[usize::from(area)].held += quantity;
                areas[usize::from(area)].available -= quantity;
            }
        }
        for order in self.orders.iter().filter(|o| !o.cancelled) {
            if let HoldItems::Places { area, quantity } = order.items {
                areas[usize::from(area)].sold += quantity;
                areas[usize::from(area)].available -= quantity;
            }
        }
        (sections, areas)
    }

    /// Stored counts per price tier, in the event's tier order: a seat counts in its own tier (its
    /// row's, if the row overrides its section's), a place in its area's.
    fn tier_counts(&self) -> Vec<(String, Counts)> {
        let tiers = &self.layout.spec.price_tiers;
        let index = |name: &str| {
            tiers
                .iter()
                .position(|t| t.name == name)
                .expect("the fixture names known tiers")
        };
        let mut counts = vec![Counts::default(); tiers.len()];
        for (seat, spot) in &self.seats {
            count(&mut counts[index(&self.layout.seats[seat].tier)], *spot);
        }
        for (area, zone) in self.layout.areas.iter().zip(self.zone_counts().1) {
            counts[index(&area.tier)].add(&zone);
        }
        tiers.iter().map(|t| t.name.clone()).zip(counts).collect()
    }

    fn totals(&self) -> Counts {
        let (sections, areas) = self.zone_counts();
        let mut totals = Counts::default();
        for zone in sections.iter().chain(&areas) {
            totals.add(zone);
        }
        totals
    }

    fn status(&self) -> EventStatus {
        match self.admin {
            Admin::Cancelled => return EventStatus::Cancelled,
            Admin::Ended => return EventStatus::Ended,
            Admin::Normal | Admin::Paused => {}
        }
        let totals = self.totals();
        if self.now >= self.layout.spec.off_sale_at_ms {
            EventStatus::Ended
        } else if self.admin == Admin::Paused {
            EventStatus::Paused
        } else if self.now < self.on_sale_at_ms {
            EventStatus::Scheduled
        } else if totals.available == 0 && totals.held == 0 {
            EventStatus::SoldOut
        } else {
            EventStatus::OnSale
        }
    }

    /// The customer's live holds and the seats in them plus the seats they bought.
    fn customer_load(&self, customer: &CustomerId) -> (u32, u32) {
        let live: Vec<&ModelHold> = self
            .holds
            .iter()
            .filter(|h| &h.customer == customer && self.is_live(h))
            .collect();
        let held: u32 = live.iter().map(|h| quantity(&h.items)).sum();
        let bought: u32 = self
            .orders
            .iter()
            .filter(|o| &o.customer == customer && !o.cancelled)
            .map(|o| quantity(&o.items))
            .sum();
        (live.len() as u32, held + bought)
    }

    // ---- changing the state ------------------------------------------------------------------

    /// Ends an active hold: its seats go back on sale, or to the order that bought them.
    fn end_hold(&mut self, number: u64, status: HoldStatus) {
        let to = match status {
            HoldStatus::Purchased { order } => Spot::Sold(order),
            _ => Spot::Free,
        };
        let hold = self.hold_mut(number);
        assert_eq!(
            hold.status,
            HoldStatus::Active,
            "model ends hold {number} twice"
        );
        hold.status = status;
        if let HoldItems::Seats(seats) = hold.items.clone() {
            for seat in seats {
                self.seats.insert(seat, to);
            }
        }
    }

    /// Expires every dead hold that `which` picks.
    fn expire_dead(&mut self, which: impl Fn(&ModelHold) -> bool) {
        let dead: Vec<u64> = (1..=self.holds.len() as u64)
            .filter(|&n| self.hold(n).is_some_and(|h| self.is_dead(h) && which(h)))
            .collect();
        for number in dead {
            self.end_hold(number, HoldStatus::Expired);
        }
    }

    /// Expires the dead holds that hold any of `seats`.
    fn expire_dead_on(&mut self, seats: &[SeatId]) {
        let numbers: BTreeSet<u64> = seats
            .iter()
            .filter_map(|seat| match self.seats[seat] {
                Spot::Held(hold) if self.number_is_dead(hold) => Some(hold),
                _ => None,
            })
            .collect();
        for number in numbers {
            self.end_hold(number, HoldStatus::Expired);
        }
    }

    // ---- the commands ------------------------------------------------------------------------

    /// Decides `action` at `self.now`, changing `self` as if accepted (the caller drops the change
    /// on a rejection). `actual` is read only for the state machine's best-available choice.
    fn decide(&mut self, action: &Action, actual: &Outcome) -> Decision {
        match action {
            Action::CreateEvent(spec) => self.create(spec),
            Action::SetEventStatus { event, change } => self.set_status(event, *change),
            Action::Hold {
                event,
                customer,
                selection,
                ttl_ms,
            } => self.take_hold(event, customer, selection, *ttl_ms, actual),
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
            Action::CancelOrder { order, .. } => self.cancel(order),
            Action::BlockSeats { event, seats } => self.block(event, seats),
            Action::UnblockSeats { event, seats } => self.unblock(event, seats),
            Action::Expire { holds_max } => self.expire(*holds_max),
            Action::JoinQueue { .. }
            | Action::SequenceQueue { .. }
            | Action::Admit { .. }
            | Action::SetAdmission { .. } => Err(No::Bad(
                "this model's club is not gated; tests/queue_model.rs models the waiting room"
                    .into(),
            )),
            Action::SealEvent { .. } | Action::ImportEvent(_) | Action::DropEvent { .. } => Err(
                No::Bad("this model's event never moves; tests/relocate.rs moves events".into()),
            ),
        }
    }

    fn require_event(&self, event: &EventId) -> Result<(), No> {
        if self.created && event == &self.layout.spec.id {
            Ok(())
        } else {
            Err(no("UNKNOWN_EVENT"))
        }
    }

    fn require_on_sale(&self) -> Result<(), No> {
        match self.status() {
            EventStatus::OnSale => Ok(()),
            status => Err(No::Code("EVENT_NOT_ON_SALE", Detail::Status(status))),
        }
    }

    fn ttl(&self, ttl_ms: Option<u64>) -> Result<u64, No> {
        let limits = self.layout.limits();
        let ttl = ttl_ms.unwrap_or(limits.hold_ttl_ms);
        if ttl < TTL_MS_MIN {
            Err(no("INVALID_REQUEST"))
        } else if ttl > limits.hold_lifetime_ms_max {
            Err(over(Limit::HoldLifetime))
        } else {
            Ok(ttl)
        }
    }

    fn create(&mut self, spec: &EventSpec) -> Decision {
        if spec != &self.layout.spec {
            return Err(No::Bad("the model only knows the club fixture".into()));
        }
        if self.created {
            return Err(no("EVENT_EXISTS"));
        }
        self.created = true;
        Ok(Summary::Created {
            seats: self.layout.seats.len() as u32,
            ga_places: self.layout.areas.iter().map(|a| a.capacity).sum(),
        })
    }

    fn set_status(&mut self, event: &EventId, change: StatusChange) -> Decision {
        use EventStatus as S;
        self.require_event(event)?;
        let from = self.status();
        self.admin = match (change, from) {
            (StatusChange::Open, S::Scheduled | S::Paused) => {
                self.on_sale_at_ms = self.on_sale_at_ms.min(self.now);
                Admin::Normal
            }
            (StatusChange::Pause, S::Scheduled | S::OnSale | S::SoldOut) => Admin::Paused,
            (StatusChange::Cancel, s) if !matches!(s, S::Cancelled | S::Ended) => Admin::Cancelled,
            (StatusChange::End, s) if !matches!(s, S::Cancelled | S::Ended) => Admin::Ended,
            _ => return Err(No::Code("INVALID_TRANSITION", Detail::Status(from))),
        };
        Ok(Summary::StatusChanged(self.status()))
    }

    fn take_hold(
        &mut self,
        event: &EventId,
        customer: &CustomerId,
        selection: &Selection,
        ttl_ms: Option<u64>,
        actual: &Outcome,
    ) -> Decision {
        // The request itself.
        let wanted = match selection {
            Selection::Seats(seats) => {
                if seats.is_empty() || has_duplicates(seats) {
                    return Err(no("INVALID_REQUEST"));
                }
                seats.len() as u32
            }
            Selection::GeneralAdmission { quantity, .. }
            | Selection::BestAvailable { quantity, .. } => {
                if *quantity == 0 {
                    return Err(no("INVALID_REQUEST"));
                }
                *quantity
            }
        };
        self.require_event(event)?;
        let limits = self.layout.limits();
        if wanted > limits.seats_per_hold_max {
            return Err(over(Limit::SeatsPerHold));
        }
        // What it names must exist.
        let layout = Rc::clone(&self.layout);
        let in_scope: Box<dyn Fn(&SeatId) -> bool> = match selection {
            Selection::Seats(seats) => {
                let unknown: Vec<SeatId> = seats
                    .iter()
                    .filter(|s| !layout.seats.contains_key(*s))
                    .copied()
                    .collect();
                if !unknown.is_empty() {
                    return Err(unknown_seats(unknown));
                }
                Box::new(|_| false)
            }
            Selection::GeneralAdmission { area, .. } => {
                if !layout.areas.iter().any(|a| &a.name == area) {
                    return Err(no("INVALID_REQUEST"));
                }
                Box::new(|_| false)
            }
            Selection::BestAvailable {
                scope: Scope::Section(name),
                ..
            } => {
                let Some(section) = layout.sections.iter().position(|s| s == name) else {
                    return Err(no("INVALID_REQUEST"));
                };
                Box::new(move |seat| usize::from(seat.section) == section)
            }
            Selection::BestAvailable {
                scope: Scope::Tier(name),
                ..
            } => {
                if !layout.has_tier(name) {
                    return Err(no("INVALID_REQUEST"));
                }
                let (layout, name) = (Rc::clone(&layout), name.clone());
                Box::new(move |seat| layout.seats[seat].tier == name)
            }
        };
        let ttl = self.ttl(ttl_ms)?;
        self.require_on_sale()?;
        // The customer's limits, once their own dead holds are gone.
        self.expire_dead(|h| &h.customer == customer);
        let (live, places) = self.customer_load(customer);
        if live + 1 > limits.holds_per_customer_max {
            return Err(over(Limit::HoldsPerCustomer));
        }
        if places + wanted > limits.seats_per_customer_max {
            return Err(over(Limit::SeatsPerCustomer));
        }
        // Availability.
        let items = match selection {
            Selection::Seats(seats) => {
                let taken: Vec<SeatId> = seats
                    .iter()
                    .filter(|&&s| !self.is_free(s))
                    .copied()
                    .collect();
                if !taken.is_empty() {
                    return Err(unavailable(taken));
                }
                self.expire_dead_on(seats);
                HoldItems::Seats(seats.clone())
            }
            Selection::GeneralAdmission { area, quantity } => {
                let area = layout
                    .areas
                    .iter()
                    .position(|a| &a.name == area)
                    .expect("checked above") as u16;
                let of_area = |h: &ModelHold| match h.items {
                    HoldItems::Places { area: a, .. } => a == area,
                    HoldItems::Seats(_) => false,
                };
                let stored = self.zone_counts().1[usize::from(area)].available;
                let dead: u32 = self
                    .holds
                    .iter()
                    .filter(|h| self.is_dead(h) && of_area(h))
                    .map(quantity_of)
                    .sum();
                if stored + dead < *quantity {
                    return Err(no("INSUFFICIENT_INVENTORY"));
                }
                if stored < *quantity {
                    // Too few places on the books: the area's dead holds give theirs back.
                    self.expire_dead(of_area);
                }
                HoldItems::Places {
                    area,
                    quantity: *quantity,
                }
            }
            Selection::BestAvailable { quantity, .. } => {
                let free: Vec<SeatId> = layout
                    .seats
                    .keys()
                    .filter(|&&s| in_scope(&s) && self.is_free(s))
                    .copied()
                    .collect();
                if free.len() < *quantity as usize {
                    return Err(no("INSUFFICIENT_INVENTORY"));
                }
                let chosen = self.check_best_choice(&free, *quantity as usize, actual)?;
                self.expire_dead_on(&chosen);
                HoldItems::Seats(chosen)
            }
        };
        // The hold.
        let number = self.holds.len() as u64 + 1;
        let amount_cents = match &items {
            HoldItems::Seats(seats) => seats.iter().map(|s| layout.seats[s].price_cents).sum(),
            HoldItems::Places { area, quantity } => {
                layout.areas[usize::from(*area)].price_cents * u64::from(*quantity)
            }
        };
        if let HoldItems::Seats(seats) = &items {
            for seat in seats {
                self.seats.insert(*seat, Spot::Held(number));
            }
        }
        let hold = ModelHold {
            customer: customer.clone(),
            items: items.clone(),
            amount_cents,
            created_at_ms: self.now,
            expires_at_ms: self.now + ttl,
            status: HoldStatus::Active,
        };
        let summary = Summary::Held {
            hold: number,
            customer: customer.clone(),
            items,
            amount_cents,
            created_at_ms: hold.created_at_ms,
            expires_at_ms: hold.expires_at_ms,
            status: HoldStatus::Active,
        };
        self.holds.push(hold);
        Ok(summary)
    }

    /// The state machine's best-available seats, if they follow the rules: the right number, all
    /// free and in scope, and side by side in one row whenever some row could seat the party.
    fn check_best_choice(
        &self,
        free: &[SeatId],
        quantity: usize,
        actual: &Outcome,
    ) -> Result<Vec<SeatId>, No> {
        let chosen = match actual {
            Outcome::Accepted(Effect::Held(view)) => match &view.items {
                HoldItems::Seats(seats) => seats.clone(),
                other => return Err(No::Bad(format!("best-available held {other:?}"))),
            },
            other => {
                return Err(No::Bad(format!(
                    "{} of {free:?} are free, yet best-available for {quantity} answered {other:?}",
                    free.len()
                )))
            }
        };
        let complaint = if chosen.len() != quantity || has_duplicates(&chosen) {
            Some("the wrong number of seats")
        } else if chosen.iter().any(|s| !free.contains(s)) {
            Some("a seat that is not free and in scope")
        } else if row_fits(free, quantity) && !side_by_side(&chosen) {
            Some("seats apart although a row could seat the party together")
        } else {
            None
        };
        match complaint {
            Some(what) => Err(No::Bad(format!(
                "best-available for {quantity} chose {what}: {chosen:?}; free in scope: {free:?}"
            ))),
            None => Ok(chosen),
        }
    }

    /// Checks the event, that the hold exists and that `customer` holds it; returns its number.
    fn holder_hold(&self, id: &HoldId, customer: &CustomerId) -> Result<u64, No> {
        self.require_event(&id.event)?;
        let hold = self.hold(id.number).ok_or(no("UNKNOWN_HOLD"))?;
        if &hold.customer != customer {
            return Err(no("NOT_HOLDER"));
        }
        Ok(id.number)
    }

    fn require_live(&self, number: u64) -> Result<(), No> {
        let hold = self.hold(number).expect("checked by holder_hold");
        match hold.status {
            HoldStatus::Active if self.is_live(hold) => Ok(()),
            HoldStatus::Active | HoldStatus::Expired => Err(no("HOLD_EXPIRED")),
            status @ (HoldStatus::Released | HoldStatus::Purchased { .. }) => {
                Err(No::Code("HOLD_NOT_ACTIVE", Detail::Hold(status)))
            }
        }
    }

    fn extend(&mut self, id: &HoldId, customer: &CustomerId, ttl_ms: Option<u64>) -> Decision {
        let number = self.holder_hold(id, customer)?;
        self.require_live(number)?;
        self.require_on_sale()?;
        let ttl = self.ttl(ttl_ms)?;
        let (now, lifetime) = (self.now, self.layout.limits().hold_lifetime_ms_max);
        let hold = self.hold_mut(number);
        let expires_at_ms = (now + ttl).min(hold.created_at_ms + lifetime);
        if expires_at_ms <= hold.expires_at_ms {
            return Err(over(Limit::HoldLifetime));
        }
        hold.expires_at_ms = expires_at_ms;
        Ok(Summary::Extended {
            hold: number,
            expires_at_ms,
        })
    }

    fn release(&mut self, id: &HoldId, customer: &CustomerId) -> Decision {
        let number = self.holder_hold(id, customer)?;
        let hold = self.hold(number).expect("checked").clone();
        let places = match hold.status {
            HoldStatus::Active if self.is_live(&hold) => {
                self.end_hold(number, HoldStatus::Released);
                quantity(&hold.items)
            }
            HoldStatus::Active => {
                // Dead already: nothing a caller could see changes, but it is tidied up as expired.
                self.end_hold(number, HoldStatus::Expired);
                0
            }
            HoldStatus::Released | HoldStatus::Expired => 0,
            status @ HoldStatus::Purchased { .. } => {
                return Err(No::Code("HOLD_NOT_ACTIVE", Detail::Hold(status)))
            }
        };
        Ok(Summary::Released {
            hold: number,
            places,
        })
    }

    fn buy(&mut self, id: &HoldId, customer: &CustomerId, payment_reference: &str) -> Decision {
        if payment_reference.is_empty() {
            return Err(no("INVALID_REQUEST"));
        }
        let number = self.holder_hold(id, customer)?;
        self.require_live(number)?;
        self.require_on_sale()?;
        let order = self.orders.len() as u64 + 1;
        self.end_hold(number, HoldStatus::Purchased { order });
        let hold = self.hold(number).expect("checked").clone();
        let ticket_seats = match &hold.items {
            HoldItems::Seats(seats) => seats.iter().map(|&s| Some(s)).collect(),
            HoldItems::Places { quantity, .. } => vec![None; *quantity as usize],
        };
        self.orders.push(ModelOrder {
            customer: customer.clone(),
            hold: number,
            items: hold.items,
            amount_cents: hold.amount_cents,
            cancelled: false,
        });
        Ok(Summary::Bought {
            order,
            hold: number,
            customer: customer.clone(),
            amount_cents: hold.amount_cents,
            ticket_seats,
            ticket_total_cents: hold.amount_cents,
            status: OrderStatus::Confirmed,
        })
    }

    fn cancel(&mut self, id: &OrderId) -> Decision {
        self.require_event(&id.event)?;
        let order = self.order(id.number).ok_or(no("UNKNOWN_ORDER"))?.clone();
        if order.cancelled {
            return Err(no("ORDER_NOT_ACTIVE"));
        }
        if let HoldItems::Seats(seats) = &order.items {
            for seat in seats {
                self.seats.insert(*seat, Spot::Free);
            }
        }
        self.orders[id.number as usize - 1].cancelled = true;
        Ok(Summary::OrderCancelled {
            order: id.number,
            places: quantity(&order.items),
        })
    }

    /// The checks block and unblock share: a non-empty list without repeats of known seats.
    fn seat_list(&self, event: &EventId, seats: &[SeatId]) -> Result<(), No> {
        if seats.is_empty() || has_duplicates(seats) {
            return Err(no("INVALID_REQUEST"));
        }
        self.require_event(event)?;
        let unknown: Vec<SeatId> = seats
            .iter()
            .filter(|s| !self.seats.contains_key(*s))
            .copied()
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(unknown_seats(unknown))
        }
    }

    fn block(&mut self, event: &EventId, seats: &[SeatId]) -> Decision {
        self.seat_list(event, seats)?;
        let taken: Vec<SeatId> = seats
            .iter()
            .filter(|&&s| match self.seats[&s] {
                Spot::Sold(_) => true,
                Spot::Held(hold) => !self.number_is_dead(hold),
                Spot::Free | Spot::Blocked => false,
            })
            .copied()
            .collect();
        if !taken.is_empty() {
            return Err(unavailable(taken));
        }
        self.expire_dead_on(seats);
        let mut blocked = 0;
        for seat in seats {
            if self.seats[seat] == Spot::Free {
                self.seats.insert(*seat, Spot::Blocked);
                blocked += 1;
            }
        }
        Ok(Summary::Blocked(blocked))
    }

    fn unblock(&mut self, event: &EventId, seats: &[SeatId]) -> Decision {
        self.seat_list(event, seats)?;
        let mut unblocked = 0;
        for seat in seats {
            if self.seats[seat] == Spot::Blocked {
                self.seats.insert(*seat, Spot::Free);
                unblocked += 1;
            }
        }
        Ok(Summary::Unblocked(unblocked))
    }

    fn expire(&mut self, holds_max: u32) -> Decision {
        if !(1..=EXPIRE_BATCH_MAX).contains(&holds_max) {
            return Err(no("INVALID_REQUEST"));
        }
        let mut dead: Vec<(u64, u64)> = (1..=self.holds.len() as u64)
            .filter(|&n| self.number_is_dead(n))
            .map(|n| (self.hold(n).expect("listed").expires_at_ms, n))
            .collect();
        dead.sort();
        let more = dead.len() > holds_max as usize;
        let swept: Vec<u64> = dead
            .into_iter()
            .take(holds_max as usize)
            .map(|(_, n)| n)
            .collect();
        for &number in &swept {
            self.end_hold(number, HoldStatus::Expired);
        }
        Ok(Summary::Expired {
            holds: swept.len() as u32,
            more,
        })
    }
}

fn quantity_of(hold: &ModelHold) -> u32 {
    quantity(&hold.items)
}

/// A request outcome the state machine must remember.
#[derive(Debug)]
struct Remembered {
    action: Action,
    outcome: Outcome,
}

/// How a command went, for the checks on the store that follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// A retry: it must have changed nothing at all.
    Replayed,
    /// Refused: it may only have moved the state time and remembered its outcome.
    Rejected,
    Accepted,
}

/// The whole reference model: state time, the inventory and the remembered requests.
#[derive(Debug)]
struct Model {
    now: u64,
    inventory: Inventory,
    requests: BTreeMap<String, Remembered>,
    /// (recorded at, request id), oldest first: the order forgotten outcomes are dropped in.
    by_time: BTreeSet<(u64, String)>,
}

impl Model {
    fn new() -> Model {
        Model {
            now: 0,
            inventory: Inventory::new(Rc::new(Layout::club())),
            requests: BTreeMap::new(),
            by_time: BTreeSet::new(),
        }
    }

    /// Applies `command` to the model and checks the state machine's `actual` outcome against it.
    fn step(&mut self, command: &Command, actual: &Outcome) -> Result<Verdict, String> {
        let id = command.request_id.as_str();
        if let Some(seen) = self.requests.get(id) {
            return if seen.action == command.action {
                if actual == &seen.outcome {
                    Ok(Verdict::Replayed)
                } else {
                    Err(format!(
                        "a retry of {id} answered {actual:?}\n  but the first answer was {:?}",
                        seen.outcome
                    ))
                }
            } else if summarize(actual)
                == (Summary::Rejected {
                    code: "REQUEST_ID_REUSED",
                    detail: Detail::None,
                })
            {
                Ok(Verdict::Replayed)
            } else {
                Err(format!(
                    "{id} reused for another action answered {actual:?}, not REQUEST_ID_REUSED"
                ))
            };
        }

        self.now = self.now.max(command.at_ms);
        self.inventory.now = self.now;
        let mut next = self.inventory.clone();
        let expected = match next.decide(&command.action, actual) {
            Ok(summary) => summary,
            Err(No::Code(code, detail)) => Summary::Rejected { code, detail },
            Err(No::Bad(complaint)) => return Err(complaint),
        };
        let got = summarize(actual);
        if got != expected {
            return Err(format!(
                "the model expected {expected:?}\n    the state machine said {got:?}"
            ));
        }
        let verdict = if matches!(expected, Summary::Rejected { .. }) {
            Verdict::Rejected
        } else {
            self.inventory = next;
            Verdict::Accepted
        };
        self.remember(id, command, actual);
        Ok(verdict)
    }

    /// Remembers a new request's outcome, then forgets a few of those older than the retention.
    fn remember(&mut self, id: &str, command: &Command, outcome: &Outcome) {
        self.requests.insert(
            id.to_owned(),
            Remembered {
                action: command.action.clone(),
                outcome: outcome.clone(),
            },
        );
        self.by_time.insert((self.now, id.to_owned()));
        let Some(horizon) = self.now.checked_sub(RETENTION_MS) else {
            return;
        };
        let forgotten: Vec<(u64, String)> = self
            .by_time
            .range(..(horizon, String::new()))
            .take(FORGET_PER_COMMAND)
            .cloned()
            .collect();
        for entry in forgotten {
            self.requests.remove(&entry.1);
            self.by_time.remove(&entry);
        }
    }
}

// ==== histories: what the generators produce ====================================================

/// An arbitrary number, resolved against whatever is there to pick from when the step runs.
#[derive(Debug, Clone, Copy)]
struct Pick(u32);

impl Pick {
    fn of(self, len: usize) -> usize {
        self.0 as usize % len.max(1)
    }
}

/// Which hold or order a step refers to.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// One of the newest few.
    Recent(Pick),
    /// Any created so far.
    Any(Pick),
    /// One that does not exist (number 0, or past the last).
    Missing(Pick),
    /// Exactly this number.
    Number(u64),
}

/// Who acts on a hold: its holder, or someone else.
#[derive(Debug, Clone, Copy)]
enum Whose {
    Holder,
    Other(Pick),
}

#[derive(Debug, Clone, Copy)]
struct HoldRef {
    target: Target,
    whose: Whose,
}

#[derive(Debug, Clone)]
enum Op {
    HoldSeats {
        who: usize,
        seats: Vec<SeatId>,
        ttl: Option<u64>,
    },
    HoldGa {
        who: usize,
        area: &'static str,
        quantity: u32,
        ttl: Option<u64>,
        /// Asks for an event that does not exist.
        elsewhere: bool,
    },
    HoldBest {
        who: usize,
        scope: Scope,
        quantity: u32,
        ttl: Option<u64>,
    },
    Extend {
        hold: HoldRef,
        ttl: Option<u64>,
    },
    Release {
        hold: HoldRef,
    },
    Buy {
        hold: HoldRef,
        paid: bool,
    },
    Cancel {
        order: Target,
    },
    Block {
        seats: Vec<SeatId>,
    },
    /// Unblocks `seats`, or every blocked seat if `all_blocked` and there are any.
    Unblock {
        seats: Vec<SeatId>,
        all_blocked: bool,
    },
    Expire {
        holds_max: u32,
    },
    Status(StatusChange),
    /// Creates the event again.
    Recreate,
}

#[derive(Debug, Clone)]
enum Step {
    /// The proposers' clock moves on.
    Wait(u64),
    /// The clock moves to a hold's expiry, `offset` ms around it (if that is ahead).
    WaitForExpiry { hold: Target, offset: i8 },
    /// `op` under a fresh request id, stamped `late_by` ms before the clock.
    Do { op: Op, late_by: u64 },
    /// An earlier request id again, with its own action (`same`) or another one.
    Retry {
        pick: Pick,
        recent: bool,
        same: bool,
    },
    /// Compare everything, snapshot included.
    Audit,
}

/// Relative weights of the step kinds, shared by both generators.
const W_WAIT: u32 = 12;
const W_WAIT_FOR_EXPIRY: u32 = 3;
const W_DO: u32 = 80;
const W_RETRY: u32 = 5;
const W_AUDIT: u32 = 1;

/// Relative weights of the operations, shared by both generators (in `Op` order).
const W_OPS: [u32; 12] = [16, 8, 10, 7, 7, 10, 4, 3, 3, 5, 4, 1];

// ==== the checker ===============================================================================

/// The state machine on a `MemStore` and the model, fed the same commands.
struct Harness {
    store: MemStore,
    model: Model,
    /// The proposers' clock.
    clock: u64,
    /// Fresh commands sent so far, for retries.
    sent: Vec<Command>,
    /// Every command and its outcome, for failure reports.
    log: Vec<String>,
    last: Option<Outcome>,
}

fn ensure(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(what())
    }
}

impl Harness {
    /// A fresh store and model, with the club created at `START_MS`.
    fn new() -> Result<Harness, String> {
        let mut harness = Harness {
            store: MemStore::new(),
            model: Model::new(),
            clock: START_MS,
            sent: Vec::new(),
            log: Vec::new(),
            last: None,
        };
        harness.send(Action::CreateEvent(fixtures::club(EVENT)), START_MS)?;
        Ok(harness)
    }

    fn run_all(&mut self, steps: &[Step]) -> Result<(), String> {
        for step in steps {
            self.run(step)?;
        }
        self.audit()
    }

    fn run(&mut self, step: &Step) -> Result<(), String> {
        match step {
            Step::Wait(ms) => {
                self.clock += ms;
                Ok(())
            }
            Step::WaitForExpiry { hold, offset } => {
                let inventory = &self.model.inventory;
                if let Some(hold) = inventory.hold(resolve(*hold, inventory.holds.len())) {
                    let at = hold.expires_at_ms.saturating_add_signed(i64::from(*offset));
                    self.clock = self.clock.max(at);
                }
                Ok(())
            }
            Step::Do { op, late_by } => {
                let action = self.action(op);
                self.send(action, self.clock.saturating_sub(*late_by))
            }
            Step::Retry { pick, recent, same } => {
                let window = if *recent {
                    self.sent.len().min(RECENT)
                } else {
                    self.sent.len()
                };
                let original = &self.sent[self.sent.len() - window + pick.of(window)];
                let action = if *same {
                    original.action.clone()
                } else {
                    // Never sent fresh by the generators.
                    Action::Release {
                        hold: HoldId {
                            event: event_id(),
                            number: 999_999,
                        },
                        customer: customer_named(CUSTOMERS[0]),
                    }
                };
                let command = Command {
                    request_id: original.request_id.clone(),
                    at_ms: self.clock,
                    action,
                };
                self.submit(command)
            }
            Step::Audit => self.audit(),
        }
    }

    /// Sends `action` under a fresh request id.
    fn send(&mut self, action: Action, at_ms: u64) -> Result<(), String> {
        let request_id =
            RequestId::new(format!("req-{:06}", self.sent.len())).expect("request ids are valid");
        let command = Command {
            request_id,
            at_ms,
            action,
        };
        self.sent.push(command.clone());
        self.submit(command)
    }

    /// Runs `command` on both sides and checks the answer, the invariants and the read side.
    fn submit(&mut self, command: Command) -> Result<(), String> {
        self.check_answer_now(&command)
            .map_err(|e| self.report(e))?;
        let before = self.store.clone();
        let actual = execute(&mut self.store, &command).expect("the in-memory store never fails");
        let action = match &command.action {
            Action::CreateEvent(spec) => format!("CreateEvent({})", spec.name),
            action => format!("{action:?}"),
        };
        self.log.push(format!(
            "{} @{} {action}\n      -> {actual:?}",
            command.request_id, command.at_ms
        ));
        self.last = Some(actual.clone());
        if let Err(violation) = invariants::check(&self.store) {
            return Err(self.report(format!("invariant violated: {violation}")));
        }
        let verdict = self
            .model
            .step(&command, &actual)
            .map_err(|e| self.report(e))?;
        let unchanged = match verdict {
            Verdict::Replayed => ensure(self.store == before, || {
                "a retry changed the stored state".into()
            }),
            Verdict::Rejected => ensure(
                domain_entries(&self.store) == domain_entries(&before),
                || "a rejected command changed the inventory".into(),
            ),
            Verdict::Accepted => Ok(()),
        };
        unchanged
            .and_then(|()| self.check_reads(false))
            .map_err(|e| self.report(e))
    }

    /// `answer_now` (what a leader may answer from a read) is what applying the command would
    /// answer now if its stamp were no later than state time.
    fn check_answer_now(&self, command: &Command) -> Result<(), String> {
        let answered = answer_now(&self.store, command).expect("the in-memory store never fails");
        let at_state_time = Command {
            at_ms: 0,
            ..command.clone()
        };
        let applied = apply(&self.store, &at_state_time)
            .expect("the in-memory store never fails")
            .outcome;
        ensure(answered == applied, || {
            format!("answer_now said {answered:?}, applying at state time {applied:?}")
        })
    }

    fn report(&self, what: String) -> String {
        let tail = self.log.len().saturating_sub(30);
        format!(
            "{what}\n  the last commands, oldest first:\n    {}",
            self.log[tail..].join("\n    ")
        )
    }

    /// The concrete action of `op` in the current state.
    fn action(&self, op: &Op) -> Action {
        let inventory = &self.model.inventory;
        let event = event_id();
        match op {
            Op::HoldSeats { who, seats, ttl } => Action::Hold {
                event,
                customer: customer(*who),
                selection: Selection::Seats(seats.clone()),
                ttl_ms: *ttl,
            },
            Op::HoldGa {
                who,
                area,
                quantity,
                ttl,
                elsewhere,
            } => Action::Hold {
                event: if *elsewhere { ev("elsewhere") } else { event },
                customer: customer(*who),
                selection: Selection::GeneralAdmission {
                    area: (*area).into(),
                    quantity: *quantity,
                },
                ttl_ms: *ttl,
            },
            Op::HoldBest {
                who,
                scope,
                quantity,
                ttl,
            } => Action::Hold {
                event,
                customer: customer(*who),
                selection: Selection::BestAvailable {
                    scope: scope.clone(),
                    quantity: *quantity,
                },
                ttl_ms: *ttl,
            },
            Op::Extend { hold, ttl } => {
                let (hold, customer) = self.hold_ref(*hold);
                Action::ExtendHold {
                    hold,
                    customer,
                    ttl_ms: *ttl,
                }
            }
            Op::Release { hold } => {
                let (hold, customer) = self.hold_ref(*hold);
                Action::Release { hold, customer }
            }
            Op::Buy { hold, paid } => {
                let (hold, customer) = self.hold_ref(*hold);
                Action::Buy {
                    payment_reference: if *paid {
                        format!("pay-{}", self.sent.len())
                    } else {
                        String::new()
                    },
                    hold,
                    customer,
                }
            }
            Op::Cancel { order } => Action::CancelOrder {
                order: OrderId {
                    event,
                    number: resolve(*order, inventory.orders.len()),
                },
                reason: "refund".into(),
            },
            Op::Block { seats } => Action::BlockSeats {
                event,
                seats: seats.clone(),
            },
            Op::Unblock { seats, all_blocked } => {
                let blocked: Vec<SeatId> = inventory
                    .seats
                    .iter()
                    .filter(|(_, spot)| **spot == Spot::Blocked)
                    .map(|(seat, _)| *seat)
                    .collect();
                let seats = if *all_blocked && !blocked.is_empty() {
                    blocked
                } else {
                    seats.clone()
                };
                Action::UnblockSeats { event, seats }
            }
            Op::Expire { holds_max } => Action::Expire {
                holds_max: *holds_max,
            },
            Op::Status(change) => Action::SetEventStatus {
                event,
                change: *change,
            },
            Op::Recreate => Action::CreateEvent(fixtures::club(EVENT)),
        }
    }

    /// The hold a step refers to and the customer who acts on it.
    fn hold_ref(&self, hold: HoldRef) -> (HoldId, CustomerId) {
        let inventory = &self.model.inventory;
        let number = resolve(hold.target, inventory.holds.len());
        let holder = inventory.hold(number).map(|h| h.customer.clone());
        let customer = match (hold.whose, holder) {
            (Whose::Holder, Some(holder)) => holder,
            (Whose::Other(pick), Some(holder)) => {
                let others: Vec<&str> = CUSTOMERS
                    .iter()
                    .copied()
                    .filter(|c| *c != holder.as_str())
                    .collect();
                customer_named(others[pick.of(others.len())])
            }
            (Whose::Holder, None) => customer(0),
            (Whose::Other(pick), None) => customer(pick.of(CUSTOMERS.len())),
        };
        let id = HoldId {
            event: event_id(),
            number,
        };
        (id, customer)
    }

    /// Checks that the state reads as the model says: state time, event status and counts, seat
    /// map, and holds and orders (those that may still change, or all of them if `everything`).
    fn check_reads(&self, everything: bool) -> Result<(), String> {
        let store = &self.store;
        let model = &self.model;
        let inventory = &model.inventory;
        let now = model.now;
        let id = event_id();
        let state_time = query::state_time(store).expect("the in-memory store never fails");
        ensure(state_time == now, || {
            format!("state time is {state_time}, the model says {now}")
        })?;
        let remembered = remembered_request_ids(store);
        ensure(remembered.iter().eq(model.requests.keys()), || {
            let model: Vec<&String> = model.requests.keys().collect();
            format!("the state remembers requests {remembered:?}, the model {model:?}")
        })?;
        let view = query::event(store, &id, now).expect("the in-memory store never fails");
        let Some(view) = view else {
            return ensure(!inventory.created, || "the event is gone".into());
        };
        ensure(inventory.created, || "an event nobody created".into())?;
        let (sections, areas) = inventory.zone_counts();
        let status = inventory.status();
        ensure(view.status == status, || {
            format!("event status {:?}, the model says {status:?}", view.status)
        })?;
        let totals = inventory.totals();
        ensure(view.counts == totals, || {
            format!("event counts {:?}, the model says {totals:?}", view.counts)
        })?;
        let got: Vec<Counts> = view.sections.iter().map(|z| z.counts).collect();
        ensure(got == sections, || {
            format!("section counts {got:?}, the model says {sections:?}")
        })?;
        let got: Vec<Counts> = view.ga_areas.iter().map(|z| z.counts).collect();
        ensure(got == areas, || {
            format!("area counts {got:?}, the model says {areas:?}")
        })?;
        let tiers = inventory.tier_counts();
        let got: Vec<(String, Counts)> = view
            .tiers
            .iter()
            .map(|t| (t.name.clone(), t.counts))
            .collect();
        ensure(got == tiers, || {
            format!("tier counts {got:?}, the model says {tiers:?}")
        })?;

        let map = query::seat_map(store, &id, None, now)
            .expect("the in-memory store never fails")
            .ok_or("the seat map is gone")?;
        let shown: BTreeMap<SeatId, (SeatStatus, u64)> = map
            .sections
            .iter()
            .flat_map(|s| &s.rows)
            .flat_map(|r| &r.seats)
            .map(|seat| (seat.id, (seat.status, seat.price_cents)))
            .collect();
        let expected: BTreeMap<SeatId, (SeatStatus, u64)> = inventory
            .layout
            .seats
            .iter()
            .map(|(&seat, spec)| (seat, (inventory.shown(seat), spec.price_cents)))
            .collect();
        if shown != expected {
            let wrong: Vec<String> = expected
                .iter()
                .filter(|(seat, want)| shown.get(seat) != Some(want))
                .map(|(seat, want)| format!("{seat}: {:?} not {want:?}", shown.get(seat)))
                .collect();
            return Err(format!("the seat map disagrees: {}", wrong.join(", ")));
        }
        let got: Vec<Counts> = map.ga_areas.iter().map(|z| z.counts).collect();
        ensure(got == areas, || {
            format!("seat map area counts {got:?}, the model says {areas:?}")
        })?;

        let holds = inventory.holds.len();
        for number in 1..=holds as u64 + 1 {
            let expected = inventory.hold(number);
            let changing = expected.is_some_and(|h| h.status == HoldStatus::Active);
            if !(everything || changing || number as usize + RECENT > holds) {
                continue;
            }
            let hold = HoldId {
                event: id.clone(),
                number,
            };
            let got = query::hold(store, &hold, now).expect("the in-memory store never fails");
            let got = got.map(|v| {
                (
                    v.customer,
                    v.items,
                    v.amount_cents,
                    v.created_at_ms,
                    v.expires_at_ms,
                    v.status,
                )
            });
            let expected = expected.map(|h| {
                (
                    h.customer.clone(),
                    h.items.clone(),
                    h.amount_cents,
                    h.created_at_ms,
                    h.expires_at_ms,
                    inventory.shown_status(h),
                )
            });
            ensure(got == expected, || {
                format!("hold {number} reads {got:?}, the model says {expected:?}")
            })?;
        }
        let orders = inventory.orders.len();
        for number in 1..=orders as u64 + 1 {
            let expected = inventory.order(number);
            let changing = expected.is_some_and(|o| !o.cancelled);
            if !(everything || changing || number as usize + RECENT > orders) {
                continue;
            }
            let order = OrderId {
                event: id.clone(),
                number,
            };
            let got = query::order(store, &order).expect("the in-memory store never fails");
            let got = got.map(|v| (v.customer, v.hold.number, v.amount_cents, v.status));
            let expected = expected.map(|o| {
                let status = if o.cancelled {
                    OrderStatus::Cancelled
                } else {
                    OrderStatus::Confirmed
                };
                (o.customer.clone(), o.hold, o.amount_cents, status)
            });
            ensure(got == expected, || {
                format!("order {number} reads {got:?}, the model says {expected:?}")
            })?;
        }
        Ok(())
    }

    /// Everything `check_reads` looks at, plus a snapshot in small chunks imported into a fresh
    /// store: the copy must equal the original and hash the same.
    fn audit(&self) -> Result<(), String> {
        self.check_reads(true).map_err(|e| self.report(e))?;
        let mut chunks = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let chunk = snapshot::export_chunk(&self.store, after.as_deref(), CHUNK_BYTES)
                .expect("the in-memory store never fails");
            ensure(
                !chunk.entries.is_empty() || chunk.resume_after.is_none(),
                || "an empty snapshot chunk that is not the last".into(),
            )?;
            after = chunk.resume_after.clone();
            chunks.push(chunk);
            if after.is_none() {
                break;
            }
        }
        let count = chunks.len();
        let mut copy = MemStore::new();
        snapshot::import(&mut copy, chunks).map_err(|e| format!("snapshot import failed: {e}"))?;
        ensure(copy == self.store, || {
            format!(
                "the snapshot copy ({count} chunks, {} keys) differs from the original ({} keys)",
                copy.len(),
                self.store.len()
            )
        })?;
        let hash = |s: &MemStore| snapshot::state_hash(s).expect("the in-memory store never fails");
        ensure(hash(&copy) == hash(&self.store), || {
            "equal states hash differently".into()
        })
    }

    /// The answer to the last command sent.
    fn last_code(&self) -> &'static str {
        match self.last.as_ref().expect("a command was sent") {
            Outcome::Accepted(_) => "ACCEPTED",
            Outcome::Rejected(rejection) => rejection.code(),
        }
    }

    fn status(&self) -> EventStatus {
        self.model.inventory.status()
    }
}

/// Every stored entry but the state time and the remembered requests (tags 01 to 03 of the key
/// layout in `records.rs`): what a rejected command must leave alone.
fn domain_entries(store: &MemStore) -> Vec<(Vec<u8>, Vec<u8>)> {
    use boxoffice_statemachine::Store;
    store
        .scan(&[0x10], &[0xff], usize::MAX)
        .expect("the in-memory store never fails")
}

/// The ids of the requests whose outcomes the state remembers: the keys under tag 02 (see the key
/// layout in `records.rs`), each the request id and a 0 byte.
fn remembered_request_ids(store: &MemStore) -> Vec<String> {
    use boxoffice_statemachine::Store;
    store
        .scan(&[0x02], &[0x03], usize::MAX)
        .expect("the in-memory store never fails")
        .into_iter()
        .map(|(key, _)| String::from_utf8_lossy(&key[1..key.len() - 1]).into_owned())
        .collect()
}

fn customer(who: usize) -> CustomerId {
    customer_named(CUSTOMERS[who % CUSTOMERS.len()])
}

/// The number a target names, given how many holds or orders exist.
fn resolve(target: Target, len: usize) -> u64 {
    match target {
        Target::Number(number) => number,
        Target::Missing(pick) if pick.0 % 2 == 0 => 0,
        Target::Missing(pick) => len as u64 + 1 + u64::from(pick.0 % 3),
        Target::Recent(pick) if len > 0 => {
            let window = len.min(RECENT);
            (len - window + pick.of(window)) as u64 + 1
        }
        Target::Any(pick) if len > 0 => pick.of(len) as u64 + 1,
        // Nothing created yet: number 1 does not exist.
        Target::Recent(_) | Target::Any(_) => 1,
    }
}

// ==== proptest strategies =======================================================================

fn pick() -> impl Strategy<Value = Pick> {
    any::<u32>().prop_map(Pick)
}

fn who() -> impl Strategy<Value = usize> {
    0..CUSTOMERS.len()
}

fn ttl() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![
        12 => Just(None),
        2 => (1..200_000u64).prop_map(Some),
        1 => prop::sample::select(vec![999, 1_000, 60_000, 180_000, 180_001]).prop_map(Some),
    ]
}

/// How a seat list is spoiled, if at all.
#[derive(Debug, Clone, Copy)]
enum Twist {
    None,
    Empty,
    Unknown(usize),
    Repeat,
}

fn twist(list: Vec<SeatId>, twist: Twist, at: Pick) -> Vec<SeatId> {
    let mut list = list;
    match twist {
        Twist::None => {}
        Twist::Empty => list.clear(),
        Twist::Unknown(which) => {
            list.insert(
                at.of(list.len() + 1),
                UNKNOWN_SEATS[which % UNKNOWN_SEATS.len()],
            );
        }
        Twist::Repeat if list.is_empty() => {}
        Twist::Repeat => list.push(list[at.of(list.len())]),
    }
    list
}

/// 1 to 5 seats of the club, sometimes with an unknown seat, a repeat, or none at all.
fn seats() -> impl Strategy<Value = Vec<SeatId>> {
    let how = prop_oneof![
        24 => Just(Twist::None),
        2 => (0..UNKNOWN_SEATS.len()).prop_map(Twist::Unknown),
        2 => Just(Twist::Repeat),
        1 => Just(Twist::Empty),
    ];
    (subsequence(all_seats(), 1..=5), how, pick()).prop_map(|(list, how, at)| twist(list, how, at))
}

fn scope() -> impl Strategy<Value = Scope> {
    prop_oneof![
        4 => Just(Scope::Section("Floor".into())),
        4 => Just(Scope::Section("Balcony".into())),
        3 => Just(Scope::Tier("Floor".into())),
        3 => Just(Scope::Tier("Balcony".into())),
        1 => Just(Scope::Tier("Pit".into())),
        1 => Just(Scope::Section("Gallery".into())),
        1 => Just(Scope::Tier("VIP".into())),
    ]
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        7 => pick().prop_map(Target::Recent),
        2 => pick().prop_map(Target::Any),
        1 => pick().prop_map(Target::Missing),
    ]
}

fn hold_ref() -> impl Strategy<Value = HoldRef> {
    let whose = prop_oneof![9 => Just(Whose::Holder), 1 => pick().prop_map(Whose::Other)];
    (target(), whose).prop_map(|(target, whose)| HoldRef { target, whose })
}

fn status_change() -> impl Strategy<Value = StatusChange> {
    prop_oneof![
        78 => Just(StatusChange::Open),
        20 => Just(StatusChange::Pause),
        1 => Just(StatusChange::Cancel),
        1 => Just(StatusChange::End),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let [hs, hg, hb, ex, rl, by, cn, bl, ub, xp, st, rc] = W_OPS;
    prop_oneof![
        hs => (who(), seats(), ttl())
            .prop_map(|(who, seats, ttl)| Op::HoldSeats { who, seats, ttl }),
        hg => (
            who(),
            prop_oneof![12 => Just("Pit"), 1 => Just("Lawn")],
            0..=5u32,
            ttl(),
            prop::bool::weighted(0.03),
        )
            .prop_map(|(who, area, quantity, ttl, elsewhere)| Op::HoldGa {
                who,
                area,
                quantity,
                ttl,
                elsewhere,
            }),
        hb => (who(), scope(), prop_oneof![12 => 1..=4u32, 1 => Just(0u32), 1 => Just(5u32)], ttl())
            .prop_map(|(who, scope, quantity, ttl)| Op::HoldBest { who, scope, quantity, ttl }),
        ex => (hold_ref(), ttl()).prop_map(|(hold, ttl)| Op::Extend { hold, ttl }),
        rl => hold_ref().prop_map(|hold| Op::Release { hold }),
        by => (hold_ref(), prop::bool::weighted(0.95))
            .prop_map(|(hold, paid)| Op::Buy { hold, paid }),
        cn => target().prop_map(|order| Op::Cancel { order }),
        bl => seats().prop_map(|seats| Op::Block { seats }),
        ub => (seats(), any::<bool>())
            .prop_map(|(seats, all_blocked)| Op::Unblock { seats, all_blocked }),
        xp => prop_oneof![20 => 1..=3u32, 1 => Just(0u32), 1 => Just(EXPIRE_BATCH_MAX + 1)]
            .prop_map(|holds_max| Op::Expire { holds_max }),
        st => status_change().prop_map(Op::Status),
        rc => Just(Op::Recreate),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let wait = prop_oneof![
        60 => 0..=5_000u64,
        30 => 5_000..=65_000u64,
        10 => 65_000..=120_000u64,
        // Past the retention of every outcome recorded so far, give or take.
        2 => RETENTION_MS - 5_000..=RETENTION_MS + 5_000,
    ];
    let late_by = prop_oneof![9 => Just(0u64), 1 => 1..=90_000u64];
    prop_oneof![
        W_WAIT => wait.prop_map(Step::Wait),
        W_WAIT_FOR_EXPIRY => (target(), -1..=1i8)
            .prop_map(|(hold, offset)| Step::WaitForExpiry { hold, offset }),
        W_DO => (op(), late_by).prop_map(|(op, late_by)| Step::Do { op, late_by }),
        W_RETRY => (pick(), any::<bool>(), prop::bool::weighted(0.7))
            .prop_map(|(pick, recent, same)| Step::Retry { pick, recent, same }),
        W_AUDIT => Just(Step::Audit),
    ]
}

// ==== the same histories from a seeded ChaCha8Rng ===============================================

/// An index drawn with the given relative weights.
fn weighted(rng: &mut ChaCha8Rng, weights: &[u32]) -> usize {
    let mut roll = rng.random_range(0..weights.iter().sum::<u32>());
    for (index, &weight) in weights.iter().enumerate() {
        if roll < weight {
            return index;
        }
        roll -= weight;
    }
    unreachable!("the roll is below the sum of the weights")
}

fn random_pick(rng: &mut ChaCha8Rng) -> Pick {
    Pick(rng.random())
}

fn random_ttl(rng: &mut ChaCha8Rng) -> Option<u64> {
    match weighted(rng, &[12, 2, 1]) {
        0 => None,
        1 => Some(rng.random_range(1..200_000)),
        _ => Some([999, 1_000, 60_000, 180_000, 180_001][rng.random_range(0..5)]),
    }
}

fn random_seats(rng: &mut ChaCha8Rng) -> Vec<SeatId> {
    let mut pool = all_seats();
    let mut list = Vec::new();
    for _ in 0..rng.random_range(1..=5) {
        list.push(pool.swap_remove(rng.random_range(0..pool.len())));
    }
    let how = match weighted(rng, &[24, 2, 2, 1]) {
        0 => Twist::None,
        1 => Twist::Unknown(rng.random_range(0..UNKNOWN_SEATS.len())),
        2 => Twist::Repeat,
        _ => Twist::Empty,
    };
    let at = random_pick(rng);
    twist(list, how, at)
}

fn random_target(rng: &mut ChaCha8Rng) -> Target {
    let pick = random_pick(rng);
    match weighted(rng, &[7, 2, 1]) {
        0 => Target::Recent(pick),
        1 => Target::Any(pick),
        _ => Target::Missing(pick),
    }
}

fn random_hold_ref(rng: &mut ChaCha8Rng) -> HoldRef {
    let target = random_target(rng);
    let whose = if rng.random_bool(0.9) {
        Whose::Holder
    } else {
        Whose::Other(random_pick(rng))
    };
    HoldRef { target, whose }
}

fn random_op(rng: &mut ChaCha8Rng) -> Op {
    let who = rng.random_range(0..CUSTOMERS.len());
    match weighted(rng, &W_OPS) {
        0 => Op::HoldSeats {
            who,
            seats: random_seats(rng),
            ttl: random_ttl(rng),
        },
        1 => Op::HoldGa {
            who,
            area: if rng.random_bool(12.0 / 13.0) {
                "Pit"
            } else {
                "Lawn"
            },
            quantity: rng.random_range(0..=5),
            ttl: random_ttl(rng),
            elsewhere: rng.random_bool(0.03),
        },
        2 => Op::HoldBest {
            who,
            scope: [
                Scope::Section("Floor".into()),
                Scope::Section("Balcony".into()),
                Scope::Tier("Floor".into()),
                Scope::Tier("Balcony".into()),
                Scope::Section("Floor".into()),
                Scope::Section("Balcony".into()),
                Scope::Tier("Floor".into()),
                Scope::Tier("Balcony".into()),
                Scope::Tier("Pit".into()),
                Scope::Section("Gallery".into()),
                Scope::Tier("VIP".into()),
            ][rng.random_range(0..11)]
            .clone(),
            quantity: [1, 2, 3, 4, 1, 2, 3, 4, 0, 5][rng.random_range(0..10)],
            ttl: random_ttl(rng),
        },
        3 => Op::Extend {
            hold: random_hold_ref(rng),
            ttl: random_ttl(rng),
        },
        4 => Op::Release {
            hold: random_hold_ref(rng),
        },
        5 => Op::Buy {
            hold: random_hold_ref(rng),
            paid: rng.random_bool(0.95),
        },
        6 => Op::Cancel {
            order: random_target(rng),
        },
        7 => Op::Block {
            seats: random_seats(rng),
        },
        8 => Op::Unblock {
            seats: random_seats(rng),
            all_blocked: rng.random(),
        },
        9 => Op::Expire {
            holds_max: match weighted(rng, &[20, 1, 1]) {
                0 => rng.random_range(1..=3),
                1 => 0,
                _ => EXPIRE_BATCH_MAX + 1,
            },
        },
        10 => Op::Status(
            [
                StatusChange::Open,
                StatusChange::Pause,
                StatusChange::Cancel,
                StatusChange::End,
                // Cancel and End would end a long history early; the random histories cover them.
            ][weighted(rng, &[78, 20, 0, 0])],
        ),
        _ => Op::Recreate,
    }
}

fn random_step(rng: &mut ChaCha8Rng) -> Step {
    match weighted(rng, &[W_WAIT, W_WAIT_FOR_EXPIRY, W_DO, W_RETRY, W_AUDIT]) {
        0 => Step::Wait(match weighted(rng, &[60, 30, 10, 2]) {
            0 => rng.random_range(0..=5_000),
            1 => rng.random_range(5_000..=65_000),
            2 => rng.random_range(65_000..=120_000),
            _ => rng.random_range(RETENTION_MS - 5_000..=RETENTION_MS + 5_000),
        }),
        1 => Step::WaitForExpiry {
            hold: random_target(rng),
            offset: rng.random_range(-1..=1),
        },
        2 => Step::Do {
            op: random_op(rng),
            late_by: if rng.random_bool(0.9) {
                0
            } else {
                rng.random_range(1..=90_000)
            },
        },
        3 => Step::Retry {
            pick: random_pick(rng),
            recent: rng.random(),
            same: rng.random_bool(0.7),
        },
        _ => Step::Audit,
    }
}

// ==== the tests =================================================================================

proptest! {
    // `ProptestConfig::default()` honours PROPTEST_CASES (256 when unset). No regression files are
    // written: a failure prints the minimal history, which replays as is.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_histories_agree_with_the_model(steps in prop::collection::vec(step(), 1..=150)) {
        let mut harness = Harness::new().map_err(TestCaseError::fail)?;
        harness.run_all(&steps).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn a_long_seeded_history_agrees_with_the_model_through_the_end_of_the_sale() {
    let seed = match std::env::var("BOXOFFICE_SEED") {
        Ok(seed) => seed.parse().expect("BOXOFFICE_SEED must be a u64"),
        Err(_) => LONG_SEED,
    };
    eprintln!("BOXOFFICE_SEED={seed}");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let fail =
        |step: usize, error: String| -> ! { panic!("BOXOFFICE_SEED={seed}, step {step}: {error}") };
    let off_sale = fixtures::club(EVENT).off_sale_at_ms;
    let mut harness = Harness::new().unwrap_or_else(|e| fail(0, e));
    for step in 0..LONG_STEPS {
        if step == LONG_STEPS - 100 {
            // The last steps run across the off-sale time.
            harness.clock = harness.clock.max(off_sale - 60_000);
        }
        let next = random_step(&mut rng);
        harness.run(&next).unwrap_or_else(|e| fail(step, e));
        if step % 500 == 499 {
            harness.audit().unwrap_or_else(|e| fail(step, e));
        }
    }
    harness.clock = harness.clock.max(off_sale);
    let sweep = Step::Do {
        op: Op::Expire {
            holds_max: EXPIRE_BATCH_MAX,
        },
        late_by: 0,
    };
    harness.run(&sweep).unwrap_or_else(|e| fail(LONG_STEPS, e));
    harness.audit().unwrap_or_else(|e| fail(LONG_STEPS, e));
    assert_eq!(harness.status(), EventStatus::Ended, "the sale is over");
}

// ---- scenarios, through the same checker ------------------------------------------------------

fn hold_seats(who: usize, seats: &[SeatId]) -> Step {
    Step::Do {
        op: Op::HoldSeats {
            who,
            seats: seats.to_vec(),
            ttl: None,
        },
        late_by: 0,
    }
}

fn hold_ga(who: usize, quantity: u32) -> Step {
    Step::Do {
        op: Op::HoldGa {
            who,
            area: "Pit",
            quantity,
            ttl: None,
            elsewhere: false,
        },
        late_by: 0,
    }
}

fn buy(hold: u64) -> Step {
    Step::Do {
        op: Op::Buy {
            hold: HoldRef {
                target: Target::Number(hold),
                whose: Whose::Holder,
            },
            paid: true,
        },
        late_by: 0,
    }
}

fn cancel(order: u64) -> Step {
    Step::Do {
        op: Op::Cancel {
            order: Target::Number(order),
        },
        late_by: 0,
    }
}

fn block(seats: &[SeatId]) -> Step {
    Step::Do {
        op: Op::Block {
            seats: seats.to_vec(),
        },
        late_by: 0,
    }
}

fn set_status(change: StatusChange) -> Step {
    Step::Do {
        op: Op::Status(change),
        late_by: 0,
    }
}

fn expire(holds_max: u32) -> Step {
    Step::Do {
        op: Op::Expire { holds_max },
        late_by: 0,
    }
}

/// Request number `n` (0 is the event's creation) again, with its own action or another one.
fn retry(n: u32, same: bool) -> Step {
    Step::Retry {
        pick: Pick(n),
        recent: false,
        same,
    }
}

/// Runs `steps` through the checker, failing the test on any disagreement.
fn play(harness: &mut Harness, steps: &[Step]) {
    for step in steps {
        if let Err(error) = harness.run(step) {
            panic!("{error}");
        }
    }
}

fn club() -> Harness {
    Harness::new().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_sold_out_sale_refuses_holds_until_an_order_is_cancelled() {
    let mut h = club();
    play(&mut h, &[block(&all_seats())]);
    play(&mut h, &[hold_ga(0, 4), buy(1), hold_ga(1, 4), buy(2)]);
    play(&mut h, &[hold_ga(2, 2), buy(3)]);
    assert_eq!(h.status(), EventStatus::SoldOut);
    play(&mut h, &[hold_ga(3, 1)]);
    assert_eq!(h.last_code(), "EVENT_NOT_ON_SALE");
    play(&mut h, &[set_status(StatusChange::Open)]);
    assert_eq!(h.last_code(), "INVALID_TRANSITION");
    play(&mut h, &[set_status(StatusChange::Pause)]);
    assert_eq!(h.status(), EventStatus::Paused);
    play(&mut h, &[set_status(StatusChange::Open)]);
    assert_eq!(h.status(), EventStatus::SoldOut);
    play(&mut h, &[cancel(1), hold_ga(3, 1)]);
    assert_eq!(h.last_code(), "ACCEPTED");
    h.audit().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_dead_hold_gives_its_seats_and_places_back_before_any_sweep() {
    let mut h = club();
    let (a, b) = (seat(0, 0, 0), seat(0, 0, 1));
    play(&mut h, &[hold_seats(0, &[a, b]), hold_ga(0, 4)]);
    play(&mut h, &[hold_ga(1, 4), hold_ga(2, 2)]);
    play(&mut h, &[hold_seats(3, &[b])]);
    assert_eq!(h.last_code(), "SEAT_UNAVAILABLE");
    play(&mut h, &[Step::Wait(60_000), hold_seats(3, &[b])]);
    assert_eq!(h.last_code(), "ACCEPTED");
    // The pit is full on the books, but every hold on it is dead: they all give their places back.
    play(&mut h, &[hold_ga(3, 1)]);
    assert_eq!(h.last_code(), "ACCEPTED");
    // Every dead hold was expired on the way; nothing is left for a sweep.
    play(&mut h, &[expire(10)]);
    h.audit().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_retry_replays_its_first_answer_until_the_retention_forgets_it() {
    let mut h = club();
    let seat = seat(1, 0, 0);
    play(
        &mut h,
        &[hold_seats(0, &[seat]), retry(1, true), retry(1, false)],
    );
    assert_eq!(h.last_code(), "REQUEST_ID_REUSED");
    play(
        &mut h,
        &[Step::Wait(RETENTION_MS + 1), expire(1), retry(1, true)],
    );
    // Forgotten: the retry is a new request, and the seat (its first hold swept) is held again.
    assert_eq!(h.last_code(), "ACCEPTED");
    assert_eq!(h.model.inventory.holds.len(), 2);
    h.audit().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn each_command_forgets_at_most_four_expired_outcomes_oldest_first() {
    let mut h = club();
    play(
        &mut h,
        &[expire(1), expire(1), expire(1), expire(1), expire(1)],
    );
    play(&mut h, &[Step::Wait(RETENTION_MS + 1), expire(1)]);
    // Requests 0 to 3 are forgotten, 4 and 5 are still remembered though just as old.
    let remembered = remembered_request_ids(&h.store);
    assert_eq!(remembered, ["req-000004", "req-000005", "req-000006"]);
    // A retry of 4 replays; a retry of 3 is a new request, and it forgets 4 and 5 in turn.
    play(&mut h, &[retry(4, true), retry(3, true)]);
    let remembered = remembered_request_ids(&h.store);
    assert_eq!(remembered, ["req-000003", "req-000006"]);
    h.audit().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_late_stamp_counts_but_never_moves_the_state_time_back() {
    let mut h = club();
    play(&mut h, &[hold_ga(0, 1), Step::Wait(61_000)]);
    // Stamped 60,000 (before the hold's expiry at 61,000), applied after the clock passed it.
    let late_buy = Step::Do {
        op: Op::Buy {
            hold: HoldRef {
                target: Target::Number(1),
                whose: Whose::Holder,
            },
            paid: true,
        },
        late_by: 2_000,
    };
    play(&mut h, &[late_buy]);
    assert_eq!(h.last_code(), "ACCEPTED");
    let later_but_earlier = Step::Do {
        op: Op::Expire { holds_max: 1 },
        late_by: 30_000,
    };
    play(&mut h, &[later_but_earlier]);
    assert_eq!(h.model.now, START_MS + 59_000);
    h.audit().unwrap_or_else(|e| panic!("{e}"));
}
