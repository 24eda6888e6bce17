//! Linearizability of every seat: each seat of a seated event is one object whose history (holds,
//! extends, releases, buys and reads touching it) must have a legal sequential order that respects
//! real time. A Wing & Gong search with memoisation, as in Porcupine and Lowe's "Testing for
//! linearizability", one seat at a time, within a time budget; a failing seat is explained by the
//! shortest run of its operations that no start state explains.
//!
//! The model: a seat is free, held by a hold, or sold. A hold may expire on its own from its
//! earliest expiry on (its invoke plus its TTL, less the catalog's expiry slack and the servers'
//! clock resolution), which the step of the next operation linearized may take first; everything
//! after an expiry returned after it. Indeterminate operations may take effect at any time after
//! their invoke, or never; operations that definitely failed to reach a node are left out.
//!
//! Two refinements keep the search small: a constraint that holds where the search stands (a
//! read, a refusal) is linearized at once, leaving no choice point behind; and where the exact
//! search cannot decide, a relaxed one, letting indeterminate operations take effect any number
//! of times, may still prove a violation.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use super::Verdict;
use crate::history::{
    Call, Catalog, Completion, EventKind, History, HoldState, Nanos, Operation, Pick, SeatStatus,
    Value,
};

/// The checker's name in its verdict.
pub const NAME: &str = "linearizable";

/// Nanoseconds in a millisecond.
const NANOS_PER_MS: u64 = 1_000_000;

/// The servers keep time in whole milliseconds: an expiry may come this many nanoseconds before
/// the exact arithmetic on the client's times says.
const SERVER_CLOCK_RESOLUTION_NS: Nanos = NANOS_PER_MS;

/// Search steps (an entry looked at, or a backtrack) between two looks at the clock.
const SEARCH_STEPS_PER_CLOCK_LOOK: u32 = 1_024;

/// Memoised (linearized operations, seat state) pairs one search may keep, in pairs; beyond it
/// the seat is undecided (a bound on memory, roughly 100 bytes a pair).
const SEARCH_STATES_MAX: usize = 4_000_000;

/// Memoised pairs an exact search of one trial window may keep, in pairs; beyond it the window
/// counts as explained by nothing (a longer one may be).
const WINDOW_TRIAL_STATES_MAX: usize = 20_000;

/// The longest budget honoured, in seconds (a day): a longer one is cut to it, so deadlines
/// stay within the clock's range.
const BUDGET_SECS_MAX: u64 = 24 * 60 * 60;

/// Failing seats explained with a minimal failing window, in seats; the others name the
/// operation where their search failed.
const WINDOWS_MINIMISED_MAX: usize = 5;

/// Operations printed for one failing seat, in operations.
const OPERATIONS_SHOWN_MAX: usize = 40;

/// Rejection codes saying the hold is not active (expired, released or bought).
const HOLD_GONE_CODES: [&str; 2] = ["HOLD_EXPIRED", "HOLD_NOT_ACTIVE"];

/// The rejection code naming the seats that were not available.
const SEAT_UNAVAILABLE: &str = "SEAT_UNAVAILABLE";

// ---- the model of one seat -------------------------------------------------------------------

/// A hold granted in the history, numbered within one check.
type HoldTag = u32;

/// A hold no operation names: an indeterminate hold's (the client never learned its id: nothing
/// can extend, release or buy it, so they are all alike), or any other, as a start state.
const UNNAMED_HOLD: HoldTag = HoldTag::MAX;

/// What a seat is, as far as the operations can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SeatState {
    Free,
    /// Held by `hold`, which may expire (become free on its own) from `earliest_expiry_ns` on.
    Held {
        hold: HoldTag,
        earliest_expiry_ns: Nanos,
    },
    /// Sold through `hold`: for good (no cancels in this workload).
    Sold {
        hold: HoldTag,
    },
}

impl SeatState {
    /// Two words for a memo key.
    fn words(self) -> [u64; 2] {
        match self {
            SeatState::Free => [0, 0],
            SeatState::Held {
                hold,
                earliest_expiry_ns,
            } => [1 | u64::from(hold) << 2, earliest_expiry_ns],
            SeatState::Sold { hold } => [2 | u64::from(hold) << 2, 0],
        }
    }

    fn is_held_by(self, tag: HoldTag) -> bool {
        matches!(self, SeatState::Held { hold, .. } if hold == tag)
    }
}

/// What one operation does to, or says about, one seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Free -> Held(hold).
    Hold {
        hold: HoldTag,
        earliest_expiry_ns: Nanos,
    },
    /// A hold refused with `SEAT_UNAVAILABLE` naming this seat: not free.
    Refused,
    /// Held(hold) -> Held(hold), expiring no earlier than before nor than `earliest_expiry_ns`.
    Extend {
        hold: HoldTag,
        earliest_expiry_ns: Nanos,
    },
    /// Held(hold) -> Free.
    Release { hold: HoldTag },
    /// Held(hold) -> Sold(hold).
    Buy { hold: HoldTag },
    /// The hold is not active (an extend or buy refused as such, a release that freed nothing, a
    /// hold read as expired, released or unknown): not Held(hold).
    NotHeldBy { hold: HoldTag },
    /// A hold read as active: Held(hold).
    HeldBy { hold: HoldTag },
    /// A hold read as bought: Sold(hold).
    SoldTo { hold: HoldTag },
    /// A seat map showing the seat available: Free.
    ReadFree,
    /// A seat map showing the seat held: Held(any hold).
    ReadHeld,
    /// A seat map showing the seat sold: Sold(any hold).
    ReadSold,
    /// A seat map showing the seat blocked, which this workload never does.
    ReadBlocked,
}

impl Action {
    /// True for actions that change the seat when they take effect.
    fn has_effect(self) -> bool {
        matches!(
            self,
            Action::Hold { .. }
                | Action::Extend { .. }
                | Action::Release { .. }
                | Action::Buy { .. }
        )
    }

    /// The hold the action names, if any.
    fn hold(self) -> Option<HoldTag> {
        match self {
            Action::Hold { hold, .. }
            | Action::Extend { hold, .. }
            | Action::Release { hold }
            | Action::Buy { hold }
            | Action::NotHeldBy { hold }
            | Action::HeldBy { hold }
            | Action::SoldTo { hold } => Some(hold),
            _ => None,
        }
    }

    /// The state after taking effect in `before`, or `None` if it cannot.
    fn apply(self, before: SeatState) -> Option<SeatState> {
        use SeatState::{Free, Held, Sold};
        match (self, before) {
            (
                Action::Hold {
                    hold,
                    earliest_expiry_ns,
                },
                Free,
            ) => Some(Held {
                hold,
                earliest_expiry_ns,
            }),
            (Action::Refused, Held { .. } | Sold { .. }) => Some(before),
            (
                Action::Extend {
                    hold,
                    earliest_expiry_ns,
                },
                Held {
                    hold: holder,
                    earliest_expiry_ns: old,
                },
            ) if holder == hold => Some(Held {
                hold,
                earliest_expiry_ns: old.max(earliest_expiry_ns),
            }),
            (Action::Release { hold }, _) if before.is_held_by(hold) => Some(Free),
            (Action::Buy { hold }, _) if before.is_held_by(hold) => Some(Sold { hold }),
            (Action::NotHeldBy { hold }, _) if !before.is_held_by(hold) => Some(before),
            (Action::HeldBy { hold }, _) if before.is_held_by(hold) => Some(before),
            (Action::SoldTo { hold }, Sold { hold: buyer }) if buyer == hold => Some(before),
            (Action::ReadFree, Free)
            | (Action::ReadHeld, Held { .. })
            | (Action::ReadSold, Sold { .. }) => Some(before),
            _ => None,
        }
    }

    /// The moments after this action, linearized at `before` by an operation that returned at
    /// `returned_ns` (`None`: never, or not known): without, then with, the hold expiring just
    /// before it, which may happen once the operation can take effect at or after the hold's
    /// earliest expiry.
    fn successors(self, before: Moment, returned_ns: Option<Nanos>) -> [Option<Moment>; 2] {
        let returned_ns = returned_ns.unwrap_or(Nanos::MAX);
        if returned_ns < before.not_before_ns {
            return [None, None];
        }
        let kept = self
            .apply(before.seat)
            .map(|seat| Moment { seat, ..before });
        let expired = match before.seat {
            SeatState::Held {
                earliest_expiry_ns, ..
            } if returned_ns >= earliest_expiry_ns => {
                self.apply(SeatState::Free).map(|seat| Moment {
                    seat,
                    not_before_ns: before.not_before_ns.max(earliest_expiry_ns),
                })
            }
            _ => None,
        };
        [kept, expired]
    }
}

/// A point of a linearization: the seat's state, and how late "now" is known to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Moment {
    seat: SeatState,
    /// A hold expired on the way no earlier than this: every operation after it took effect,
    /// so returned, at or after it.
    not_before_ns: Nanos,
}

impl Moment {
    fn at(seat: SeatState) -> Moment {
        Moment {
            seat,
            not_before_ns: 0,
        }
    }

    /// The same moment for every operation still to linearize if none returned before
    /// `earliest_return_ns`: an expiry bound no later than that says nothing any more (each of
    /// them may take an expiry before it, and came after any expiry so far).
    fn normalized(self, earliest_return_ns: Nanos) -> Moment {
        let seat = match self.seat {
            SeatState::Held {
                hold,
                earliest_expiry_ns,
            } if earliest_expiry_ns <= earliest_return_ns => SeatState::Held {
                hold,
                earliest_expiry_ns: 0,
            },
            seat => seat,
        };
        let not_before_ns = if self.not_before_ns <= earliest_return_ns {
            0
        } else {
            self.not_before_ns
        };
        Moment {
            seat,
            not_before_ns,
        }
    }

    /// Three words for a memo key.
    fn words(self) -> [u64; 3] {
        let [kind, expiry] = self.seat.words();
        [kind, expiry, self.not_before_ns]
    }
}

/// One operation as one seat sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SeatOp {
    /// The operation's id in the history.
    op: usize,
    invoke_ns: Nanos,
    /// When it is known to have taken effect, if at all; `None` for an operation that may take
    /// effect at any later time or never (it need not be linearized).
    returned_ns: Option<Nanos>,
    action: Action,
}

/// One seat's operations in invoke order.
#[derive(Debug)]
struct SeatHistory<'h> {
    event: &'h str,
    seat: &'h str,
    ops: Vec<SeatOp>,
}

/// What the history says about a hold it saw granted.
#[derive(Debug)]
struct GrantedHold<'h> {
    tag: HoldTag,
    event: &'h str,
    seats: &'h [String],
    invoke_ns: Nanos,
    /// When the hold was created, on the granting node's clock in milliseconds (its expiry less
    /// its TTL; `None` if the answer's expiry is less than the TTL, which no node would say).
    created_ms: Option<u64>,
}

/// The earliest a hold can expire when its lifetime of `lifetime_ms` (on the servers' clocks)
/// started no earlier than `from_ns`.
fn earliest_expiry(from_ns: Nanos, lifetime_ms: u64, slack_ns: Nanos) -> Nanos {
    from_ns
        .saturating_add(lifetime_ms.saturating_mul(NANOS_PER_MS))
        .saturating_sub(slack_ns)
        .saturating_sub(SERVER_CLOCK_RESOLUTION_NS)
}

/// Each seat's operations, for every seat of a seated event (or only `only`, as (event, seat)).
fn seat_histories<'h>(
    catalog: &Catalog,
    operations: &'h [Operation],
    only: Option<(&str, &str)>,
) -> Vec<SeatHistory<'h>> {
    let seated: HashSet<&str> = catalog
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Seats)
        .map(|e| e.event.as_str())
        .collect();
    let slack_ns = catalog.expiry_slack_ms.saturating_mul(NANOS_PER_MS);

    // The holds granted, by id: extends, releases, buys and hold reads only name these.
    let mut granted: HashMap<&'h str, GrantedHold<'h>> = HashMap::new();
    let mut next_tag: HoldTag = 0;
    for op in operations {
        let (
            Call::Hold {
                event,
                pick: Pick::Seats { .. },
                ttl_ms,
                ..
            },
            Some(Value::Held {
                hold,
                seats,
                expires_at_ms,
                ..
            }),
        ) = (&op.call, op.ok_value())
        else {
            continue;
        };
        if !seated.contains(event.as_str()) || granted.contains_key(hold.as_str()) {
            continue;
        }
        granted.insert(
            hold,
            GrantedHold {
                tag: next_tag,
                event,
                seats,
                invoke_ns: op.invoke_ns,
                created_ms: expires_at_ms.checked_sub(*ttl_ms),
            },
        );
        next_tag = next_tag.saturating_add(1).min(UNNAMED_HOLD - 1);
    }

    let mut histories: Vec<SeatHistory<'h>> = Vec::new();
    let mut index: HashMap<(&'h str, &'h str), usize> = HashMap::new();
    let mut push = |event: &'h str, seat: &'h str, op: &Operation, returned_ns, action| {
        if only.is_some_and(|only| only != (event, seat)) {
            return;
        }
        let at = *index.entry((event, seat)).or_insert_with(|| {
            histories.push(SeatHistory {
                event,
                seat,
                ops: Vec::new(),
            });
            histories.len() - 1
        });
        histories[at].ops.push(SeatOp {
            op: op.id,
            invoke_ns: op.invoke_ns,
            returned_ns,
            action,
        });
    };

    for op in operations {
        let returned = op.completed_ns();
        let definite = match &op.completion {
            Completion::Ok(value) | Completion::Fail(value) => Some(value),
            Completion::Info(_) => None,
        };
        let rejected = |codes: &[&str]| match definite {
            Some(Value::Rejected { code, .. }) => codes.contains(&code.as_str()),
            _ => false,
        };
        match &op.call {
            Call::Hold {
                event,
                pick: Pick::Seats { seats },
                ttl_ms,
                ..
            } if seated.contains(event.as_str()) => {
                let earliest_expiry_ns = earliest_expiry(op.invoke_ns, *ttl_ms, slack_ns);
                match definite {
                    Some(Value::Held { hold, seats, .. }) => {
                        // A hold id granted twice keeps its first tag; the second grant then
                        // finds the seat held, which is the violation it is.
                        let Some(tag) = granted.get(hold.as_str()).map(|h| h.tag) else {
                            continue;
                        };
                        for seat in distinct(seats) {
                            let action = Action::Hold {
                                hold: tag,
                                earliest_expiry_ns,
                            };
                            push(event, seat, op, returned, action);
                        }
                    }
                    Some(Value::Rejected { code, seats: named }) if code == SEAT_UNAVAILABLE => {
                        for seat in distinct(seats) {
                            if named.iter().any(|n| n == seat) {
                                push(event, seat, op, returned, Action::Refused);
                            }
                        }
                    }
                    Some(_) => {}
                    None => {
                        for seat in distinct(seats) {
                            let action = Action::Hold {
                                hold: UNNAMED_HOLD,
                                earliest_expiry_ns,
                            };
                            push(event, seat, op, None, action);
                        }
                    }
                }
            }
            Call::Extend { hold, .. } => {
                let Some(granted) = granted.get(hold.as_str()) else {
                    continue;
                };
                let action = match (definite, &op.call) {
                    // The new expiry is the node's time plus the TTL, but capped by the hold's
                    // lifetime limit, which the history does not know: so it is counted from
                    // the hold's creation (the grant gave its time) on the servers' clocks. The
                    // lesser of that and the uncapped bound, in case the answer is off.
                    (Some(Value::Extended { expires_at_ms }), Call::Extend { ttl_ms, .. }) => {
                        let since_creation = granted.created_ms.map_or(0, |created_ms| {
                            let lifetime_ms = expires_at_ms.saturating_sub(created_ms);
                            earliest_expiry(granted.invoke_ns, lifetime_ms, slack_ns)
                        });
                        let uncapped = earliest_expiry(op.invoke_ns, *ttl_ms, slack_ns);
                        Action::Extend {
                            hold: granted.tag,
                            earliest_expiry_ns: since_creation.min(uncapped),
                        }
                    }
                    _ if rejected(&HOLD_GONE_CODES) => Action::NotHeldBy { hold: granted.tag },
                    // An indeterminate extend may only have pushed the expiry later, by an
                    // amount the lifetime cap leaves unknown: the model needs nothing from it.
                    _ => continue,
                };
                for seat in distinct(granted.seats) {
                    push(granted.event, seat, op, returned, action);
                }
            }
            Call::Release { hold, .. } | Call::Buy { hold, .. } => {
                let Some(granted) = granted.get(hold.as_str()) else {
                    continue;
                };
                let is_buy = matches!(op.call, Call::Buy { .. });
                let takes_effect = if is_buy {
                    Action::Buy { hold: granted.tag }
                } else {
                    Action::Release { hold: granted.tag }
                };
                let (action, returned) = match definite {
                    None => (takes_effect, None),
                    Some(Value::Released { places: 0 }) if !is_buy => {
                        (Action::NotHeldBy { hold: granted.tag }, returned)
                    }
                    Some(Value::Released { .. }) if !is_buy => (takes_effect, returned),
                    Some(Value::Bought { .. }) if is_buy => (takes_effect, returned),
                    _ if is_buy && rejected(&HOLD_GONE_CODES) => {
                        (Action::NotHeldBy { hold: granted.tag }, returned)
                    }
                    _ => continue,
                };
                for seat in distinct(granted.seats) {
                    push(granted.event, seat, op, returned, action);
                }
            }
            Call::ReadSeats { event, .. } if seated.contains(event.as_str()) => {
                let (Some(returned), Some(Value::Seats { seats, .. })) = (returned, op.ok_value())
                else {
                    continue;
                };
                for (seat, status) in seats {
                    let action = match status {
                        SeatStatus::Available => Action::ReadFree,
                        SeatStatus::Held => Action::ReadHeld,
                        SeatStatus::Sold => Action::ReadSold,
                        SeatStatus::Blocked => Action::ReadBlocked,
                    };
                    push(event, seat, op, Some(returned), action);
                }
            }
            Call::ReadHold { hold, .. } => {
                let (Some(granted), Some(returned), Some(Value::Hold { status, .. })) =
                    (granted.get(hold.as_str()), returned, op.ok_value())
                else {
                    continue;
                };
                let hold = granted.tag;
                let action = match status {
                    Some(HoldState::Active) => Action::HeldBy { hold },
                    Some(HoldState::Bought) => Action::SoldTo { hold },
                    Some(HoldState::Expired | HoldState::Released) | None => {
                        Action::NotHeldBy { hold }
                    }
                };
                for seat in distinct(granted.seats) {
                    push(granted.event, seat, op, Some(returned), action);
                }
            }
            _ => {}
        }
    }
    for history in &mut histories {
        history.ops.sort_by_key(|o| (o.invoke_ns, o.op));
    }
    histories.sort_by(|a, b| (a.event, a.seat).cmp(&(b.event, b.seat)));
    histories
}

/// The seats of a list, each once.
fn distinct(seats: &[String]) -> Vec<&str> {
    let mut seen: Vec<&str> = seats.iter().map(String::as_str).collect();
    seen.sort_unstable();
    seen.dedup();
    seen
}

// ---- the search ------------------------------------------------------------------------------

/// Why a search stopped before deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Undecided {
    OutOfTime,
    TooManyStates,
}

/// A search's answer for one seat history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    Linearizable,
    /// No order exists; `failing` (an index into the seat's operations) is the first operation
    /// that could not be linearized after the longest linearizable prefix.
    Violation {
        failing: usize,
    },
    Undecided(Undecided),
}

/// A fast hash for memo keys (FxHash's mixing, finished with a 64-bit avalanche).
#[derive(Debug, Default, Clone, Copy)]
struct WordHasher(u64);

impl WordHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.add(word);
    }

    fn write_usize(&mut self, word: usize) {
        self.add(word as u64);
    }

    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// The operations linearized so far, as bits: the operations that must be linearized first (in
/// invoke order), then, from a word boundary, those that may be left out.
#[derive(Debug)]
struct Linearized {
    words: Vec<u64>,
    /// Words holding the operations that must be linearized.
    definite_words: usize,
    /// Leading words of those that are all ones.
    full_words: usize,
}

impl Linearized {
    fn new(definite: usize, optional: usize) -> Linearized {
        let definite_words = definite.div_ceil(64);
        Linearized {
            words: vec![0; definite_words + optional.div_ceil(64)],
            definite_words,
            full_words: 0,
        }
    }

    fn set(&mut self, bit: usize) {
        self.words[bit / 64] |= 1 << (bit % 64);
        while self.full_words < self.definite_words && self.words[self.full_words] == u64::MAX {
            self.full_words += 1;
        }
    }

    fn clear(&mut self, bit: usize) {
        let word = bit / 64;
        self.words[word] &= !(1 << (bit % 64));
        self.full_words = self.full_words.min(word);
    }

    /// The memo key of these operations linearized and the seat in `state`, compacted: the
    /// state, the count of full leading words, the words up to the last set one, then the
    /// optional operations' words (a fixed count, so the key is unambiguous).
    fn key(&self, state: Moment, key: &mut Vec<u64>) {
        key.clear();
        key.extend_from_slice(&state.words());
        key.push(self.full_words as u64);
        let mut end = self.definite_words;
        while end > self.full_words && self.words[end - 1] == 0 {
            end -= 1;
        }
        key.extend_from_slice(&self.words[self.full_words..end]);
        key.extend_from_slice(&self.words[self.definite_words..]);
    }
}

/// Where a search must stop.
#[derive(Debug, Clone, Copy)]
struct Limits {
    deadline: Instant,
    states_max: usize,
}

/// An operation linearized on the way, to come back to.
#[derive(Debug, Clone, Copy)]
struct Step {
    op: usize,
    before: Moment,
    /// Which of the operation's successor moments was taken, or [`FORCED`].
    choice: usize,
}

/// The choice of a step that needs no alternative: a constraint that held where it was
/// linearized, first thing. If nothing follows it, nothing follows the moment before it either.
const FORCED: usize = usize::MAX;

/// The Wing & Gong search over one seat history: a doubly linked list of call and return
/// entries in time order (node 0 its head, the last node its tail), and a second one through the
/// return entries alone, whose first is the earliest return still to come.
#[derive(Debug)]
struct Search<'a> {
    ops: &'a [SeatOp],
    /// Each operation's bit in [`Linearized`].
    bit: Vec<usize>,
    definite: usize,
    next: Vec<usize>,
    prev: Vec<usize>,
    next_return: Vec<usize>,
    prev_return: Vec<usize>,
    /// Each node's time, operation, and whether it is the call (else the return).
    node_time: Vec<Nanos>,
    node_op: Vec<usize>,
    node_is_call: Vec<bool>,
    call_node: Vec<usize>,
    return_node: Vec<Option<usize>>,
    linearized: Linearized,
    memo: HashSet<Box<[u64]>, BuildHasherDefault<WordHasher>>,
    key: Vec<u64>,
    /// Optional operations may take effect any number of times ([`Semantics::Relaxed`]).
    reusable: bool,
}

const HEAD: usize = 0;

/// How a search treats the operations that need not be linearized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Semantics {
    /// Each takes effect once at most.
    Exact,
    /// Each may take effect any number of times: every order exact semantics allows is allowed,
    /// so what fails relaxed fails exact too; and as which ones took effect no longer matters,
    /// the search cannot blow up on their subsets.
    Relaxed,
}

impl<'a> Search<'a> {
    fn new(ops: &'a [SeatOp], semantics: Semantics) -> Search<'a> {
        let definite = ops.iter().filter(|o| o.returned_ns.is_some()).count();
        let mut bit = Vec::with_capacity(ops.len());
        let (mut next_definite, mut next_optional) = (0, definite.div_ceil(64) * 64);
        for op in ops {
            let counter = if op.returned_ns.is_some() {
                &mut next_definite
            } else {
                &mut next_optional
            };
            bit.push(*counter);
            *counter += 1;
        }

        // Entries by time; a call before a return at the same time (as if they overlapped).
        let mut entries: Vec<(Nanos, bool, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            entries.push((op.invoke_ns, false, i));
            if let Some(returned) = op.returned_ns {
                entries.push((returned, true, i));
            }
        }
        entries.sort_unstable();
        let nodes = entries.len() + 2;
        let tail = nodes - 1;
        let mut node_time = vec![0; nodes];
        let mut node_op = vec![usize::MAX; nodes];
        let mut node_is_call = vec![false; nodes];
        let mut call_node = vec![0; ops.len()];
        let mut return_node = vec![None; ops.len()];
        let mut next_return = vec![tail; nodes];
        let mut prev_return = vec![HEAD; nodes];
        let mut last_return = HEAD;
        for (n, &(time, is_return, op)) in entries.iter().enumerate() {
            let node = n + 1;
            node_time[node] = time;
            node_op[node] = op;
            node_is_call[node] = !is_return;
            if is_return {
                return_node[op] = Some(node);
                next_return[last_return] = node;
                prev_return[node] = last_return;
                last_return = node;
            } else {
                call_node[op] = node;
            }
        }
        next_return[last_return] = tail;
        prev_return[tail] = last_return;
        Search {
            ops,
            bit,
            definite,
            next: (1..=nodes).map(|n| n.min(tail)).collect(),
            prev: (0..nodes).map(|n| n.saturating_sub(1)).collect(),
            next_return,
            prev_return,
            node_time,
            node_op,
            node_is_call,
            call_node,
            return_node,
            linearized: Linearized::new(definite, ops.len() - definite),
            memo: HashSet::default(),
            key: Vec::new(),
            reusable: semantics == Semantics::Relaxed,
        }
    }

    /// True for an operation that stays in the lists when linearized, to be linearized again.
    fn reusable(&self, op: usize) -> bool {
        self.reusable && self.ops[op].returned_ns.is_none()
    }

    /// Marks `op` linearized (unless reusable).
    fn mark(&mut self, op: usize) {
        if !self.reusable(op) {
            self.linearized.set(self.bit[op]);
        }
    }

    /// Takes the mark back.
    fn unmark(&mut self, op: usize) {
        if !self.reusable(op) {
            self.linearized.clear(self.bit[op]);
        }
    }

    fn tail(&self) -> usize {
        self.next.len() - 1
    }

    fn unlink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = next;
        self.prev[next] = prev;
    }

    fn relink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = node;
        self.prev[next] = node;
    }

    /// Takes operation `op`'s entries out of the lists.
    fn lift(&mut self, op: usize) {
        self.unlink(self.call_node[op]);
        if let Some(node) = self.return_node[op] {
            self.unlink(node);
            let (prev, next) = (self.prev_return[node], self.next_return[node]);
            self.next_return[prev] = next;
            self.prev_return[next] = prev;
        }
    }

    /// Puts them back (the reverse of [`Search::lift`]).
    fn unlift(&mut self, op: usize) {
        if let Some(node) = self.return_node[op] {
            let (prev, next) = (self.prev_return[node], self.next_return[node]);
            self.next_return[prev] = node;
            self.prev_return[next] = node;
            self.relink(node);
        }
        self.relink(self.call_node[op]);
    }

    /// The earliest return of a definite operation not linearized yet, other than `op`.
    fn earliest_return_besides(&self, op: usize) -> Nanos {
        let mut node = self.next_return[HEAD];
        if Some(node) == self.return_node[op] {
            node = self.next_return[node];
        }
        if node == self.tail() {
            Nanos::MAX
        } else {
            self.node_time[node]
        }
    }

    /// Marks `op` linearized, arriving at `after`: the moment arrived at (normalized), unless
    /// that was visited already (then the mark is taken back).
    fn visit(
        &mut self,
        op: usize,
        after: Moment,
        limits: &Limits,
    ) -> Result<Option<Moment>, Undecided> {
        let after = after.normalized(self.earliest_return_besides(op));
        self.mark(op);
        self.linearized.key(after, &mut self.key);
        if self.memo.contains(self.key.as_slice()) {
            self.unmark(op);
            return Ok(None);
        }
        if self.memo.len() >= limits.states_max {
            self.unmark(op);
            return Err(Undecided::TooManyStates);
        }
        self.memo.insert(self.key.clone().into_boxed_slice());
        Ok(Some(after))
    }

    /// Linearizes `op` at `before` with its first successor moment, from `first_choice` on, that
    /// was not visited yet: that moment and the choice. An optional operation that would change
    /// nothing is not linearized (leaving it out is the same).
    fn advance(
        &mut self,
        op: usize,
        before: Moment,
        first_choice: usize,
        limits: &Limits,
    ) -> Result<Option<(Moment, usize)>, Undecided> {
        let seat_op = self.ops[op];
        let successors = seat_op.action.successors(before, seat_op.returned_ns);
        for (choice, after) in successors.iter().enumerate().skip(first_choice) {
            let Some(after) = *after else { continue };
            if seat_op.returned_ns.is_none() && after == before {
                continue;
            }
            if let Some(after) = self.visit(op, after, limits)? {
                return Ok(Some((after, choice)));
            }
        }
        Ok(None)
    }

    /// A definite constraint (an operation that changes nothing) that may be linearized now, as
    /// every operation not linearized yet returned at or after its invoke, and that holds at
    /// `now` as it is. Linearizing it first loses nothing: in any order of what is left, it
    /// can move to the front (it changes nothing, and an expiry it was linearized after can
    /// happen before the next operation instead, which returned after the expiry too).
    fn forced(&self, now: Moment) -> Option<usize> {
        let mut node = self.next[HEAD];
        while node != self.tail() && self.node_is_call[node] {
            let op = self.node_op[node];
            let seat_op = &self.ops[op];
            if seat_op.returned_ns.is_some()
                && !seat_op.action.has_effect()
                && seat_op.action.successors(now, seat_op.returned_ns)[0] == Some(now)
            {
                return Some(op);
            }
            node = self.next[node];
        }
        None
    }

    /// Takes `step` (just done) onto the stack and its operation out of the list.
    fn take(&mut self, stack: &mut Vec<Step>, step: Step, remaining: &mut usize) {
        stack.push(step);
        if !self.reusable(step.op) {
            self.lift(step.op);
        }
        *remaining -= usize::from(self.ops[step.op].returned_ns.is_some());
    }

    /// Searches for an order of every definite operation (and any of the others) from `start`.
    fn run(mut self, start: Moment, limits: &Limits) -> Found {
        let tail = self.tail();
        let mut now = start;
        let mut remaining = self.definite;
        let mut stack: Vec<Step> = Vec::new();
        // The most definite operations linearized when a return blocked the way, and its op.
        let mut deepest: Option<(usize, usize)> = None;
        let mut node = self.next[HEAD];
        // True on arriving at a new moment: look for a forced step first.
        let mut arrived = true;
        let mut steps: u32 = 0;
        loop {
            if remaining == 0 {
                return Found::Linearizable;
            }
            steps = steps.wrapping_add(1);
            if steps % SEARCH_STEPS_PER_CLOCK_LOOK == 0 && Instant::now() >= limits.deadline {
                return Found::Undecided(Undecided::OutOfTime);
            }
            let mut dead_end = false;
            if arrived {
                arrived = false;
                if let Some(op) = self.forced(now) {
                    match self.visit(op, now, limits) {
                        Err(undecided) => return Found::Undecided(undecided),
                        Ok(Some(after)) => {
                            let step = Step {
                                op,
                                before: now,
                                choice: FORCED,
                            };
                            self.take(&mut stack, step, &mut remaining);
                            now = after;
                            node = self.next[HEAD];
                            arrived = true;
                            continue;
                        }
                        // Visited: it led nowhere, so neither does this moment.
                        Ok(None) => dead_end = true,
                    }
                }
            }
            if !dead_end {
                if node != tail && self.node_is_call[node] {
                    let op = self.node_op[node];
                    match self.advance(op, now, 0, limits) {
                        Err(undecided) => return Found::Undecided(undecided),
                        Ok(Some((after, choice))) => {
                            let step = Step {
                                op,
                                before: now,
                                choice,
                            };
                            self.take(&mut stack, step, &mut remaining);
                            now = after;
                            node = self.next[HEAD];
                            arrived = true;
                        }
                        Ok(None) => node = self.next[node],
                    }
                    continue;
                }
                // An operation's return with the operation not linearized: back up.
                if node != tail {
                    let depth = self.definite - remaining;
                    if deepest.is_none_or(|(deepest, _)| depth > deepest) {
                        deepest = Some((depth, self.node_op[node]));
                    }
                }
            }
            loop {
                let Some(step) = stack.pop() else {
                    let first_definite = self.ops.iter().position(|o| o.returned_ns.is_some());
                    return match deepest.map(|(_, op)| op).or(first_definite) {
                        Some(failing) => Found::Violation { failing },
                        None => Found::Linearizable,
                    };
                };
                if !self.reusable(step.op) {
                    self.unlift(step.op);
                }
                self.unmark(step.op);
                remaining += usize::from(self.ops[step.op].returned_ns.is_some());
                now = step.before;
                if step.choice == FORCED {
                    continue;
                }
                match self.advance(step.op, now, step.choice + 1, limits) {
                    Err(undecided) => return Found::Undecided(undecided),
                    Ok(Some((after, choice))) => {
                        let step = Step {
                            op: step.op,
                            before: now,
                            choice,
                        };
                        self.take(&mut stack, step, &mut remaining);
                        now = after;
                        node = self.next[HEAD];
                        arrived = true;
                    }
                    // (A reusable operation never left the list.)
                    Ok(None) => node = self.next[self.call_node[step.op]],
                }
                break;
            }
        }
    }
}

/// Searches one seat history from `start`.
fn search(ops: &[SeatOp], start: SeatState, semantics: Semantics, limits: &Limits) -> Found {
    Search::new(ops, semantics).run(Moment::at(start), limits)
}

// ---- explaining a failure --------------------------------------------------------------------

/// The shortest run of a seat's operations that fails on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Window {
    /// Indices into the seat's operations, in invoke order.
    ops: Vec<usize>,
    /// Operations outside the run, with an effect and overlapping it in time, that the run was
    /// allowed (not required) to include, in invoke order.
    concurrent: Vec<usize>,
    /// True when the run starts at the seat's first operation (so from a free seat only).
    from_initial_state: bool,
}

/// Looks for the shortest run of `ops` (in invoke order) ending at `failing` (or, failing that,
/// at the last operation invoked before `failing` returned) that is not linearizable from any
/// state the seat could be in, with the effects of the operations overlapping it optional.
/// `None` if there is none or the time ran out.
///
/// Such a run is a fair explanation: in any order of the whole history, what comes between its
/// definite operations took effect between the run's first invoke and its last definite return,
/// so it is one of the operations overlapping that span (its indeterminate operations taking
/// effect outside it are part of the start state, or come after).
fn minimal_window(ops: &[SeatOp], failing: usize, limits: &Limits) -> Option<Window> {
    let trial_limits = Limits {
        states_max: WINDOW_TRIAL_STATES_MAX,
        ..*limits
    };
    let returned = |o: &SeatOp| o.returned_ns.unwrap_or(Nanos::MAX);
    // The span's end: the last return of a definite operation.
    let definitely_returned = |o: &SeatOp| o.returned_ns.unwrap_or(0);
    let effects: Vec<usize> = (0..ops.len())
        .filter(|&i| ops[i].action.has_effect())
        .collect();
    let failing_returned = returned(&ops[failing]);
    let last_overlapping = ops
        .iter()
        .rposition(|o| o.invoke_ns <= failing_returned)
        .map_or(failing, |last| last.max(failing));
    let mut ends = vec![failing];
    if last_overlapping != failing {
        ends.push(last_overlapping);
    }
    for end in ends {
        let mut span_end = ops[failing..=end].iter().map(definitely_returned).max()?;
        for first in (0..=failing).rev() {
            let span_start = ops[first].invoke_ns;
            span_end = span_end.max(definitely_returned(&ops[first]));
            let concurrent: Vec<usize> = effects
                .iter()
                .copied()
                .filter(|&i| (i < first || i > end) && ops[i].invoke_ns <= span_end)
                .filter(|&i| ops[i].returned_ns.is_none_or(|r| r >= span_start))
                .collect();
            let mut trial: Vec<SeatOp> = ops[first..=end].to_vec();
            trial.extend(concurrent.iter().map(|&i| SeatOp {
                returned_ns: None,
                ..ops[i]
            }));
            trial.sort_by_key(|o| (o.invoke_ns, o.op));
            let starts = if first == 0 {
                vec![SeatState::Free]
            } else {
                start_states(&trial)
            };
            // Relaxed first: what fails relaxed fails exact, and it cannot blow up on the
            // subsets of the optional operations; exact (with a cap) only if relaxed passes.
            let mut explained = true;
            for start in starts {
                let found = match search(&trial, start, Semantics::Relaxed, limits) {
                    Found::Linearizable => search(&trial, start, Semantics::Exact, &trial_limits),
                    found => found,
                };
                match found {
                    Found::Violation { .. } => {}
                    Found::Linearizable | Found::Undecided(Undecided::TooManyStates) => {
                        explained = false;
                        break;
                    }
                    Found::Undecided(Undecided::OutOfTime) => return None,
                }
            }
            if explained {
                return Some(Window {
                    ops: (first..=end).collect(),
                    concurrent,
                    from_initial_state: first == 0,
                });
            }
        }
    }
    None
}

/// Every state a seat could be in before some operations, as far as they can tell: free, held
/// by each hold they name or another one (expiring whenever), sold through each or another.
fn start_states(ops: &[SeatOp]) -> Vec<SeatState> {
    let mut holds: Vec<HoldTag> = ops.iter().filter_map(|o| o.action.hold()).collect();
    holds.push(UNNAMED_HOLD);
    holds.sort_unstable();
    holds.dedup();
    let mut states = vec![SeatState::Free];
    for hold in holds {
        states.push(SeatState::Held {
            hold,
            earliest_expiry_ns: 0,
        });
        states.push(SeatState::Sold { hold });
    }
    states
}

/// `12.003 ms`.
fn ms(time_ns: Nanos) -> String {
    format!(
        "{}.{:03} ms",
        time_ns / NANOS_PER_MS,
        (time_ns % NANOS_PER_MS) / 1_000
    )
}

/// `op 12, process 3, 10.000 ms .. 12.003 ms: hold [A-1-1] ttl 5000 ms -> ok, held as e1~h4`,
/// with what a read said about `seat`.
fn describe(op: &Operation, seat: &str) -> String {
    let returned = match (&op.completion, op.returned_ns) {
        (Completion::Info(_), Some(gave_up)) => format!("gave up at {}", ms(gave_up)),
        (_, Some(returned)) => ms(returned),
        (_, None) => "never".to_string(),
    };
    let call = match &op.call {
        Call::Hold {
            event,
            pick,
            ttl_ms,
            ..
        } => {
            let pick = match pick {
                Pick::Seats { seats } => format!("[{}]", seats.join(", ")),
                Pick::BestAvailable { section, quantity } => format!("{quantity} in {section}"),
                Pick::GeneralAdmission { area, quantity } => format!("{quantity} in {area}"),
            };
            format!("hold {pick} of {event}, ttl {ttl_ms} ms")
        }
        Call::Extend { hold, ttl_ms, .. } => format!("extend {hold} by ttl {ttl_ms} ms"),
        Call::Release { hold, .. } => format!("release {hold}"),
        Call::Buy { hold, .. } => format!("buy {hold}"),
        Call::ReadSeats { event, node } => format!("read the seats of {event} at node {node}"),
        Call::ReadHold { hold, node } => format!("read hold {hold} at node {node}"),
        Call::ReadOrders { event, .. } => format!("read the orders of {event}"),
    };
    let result = match &op.completion {
        Completion::Ok(value) => format!("ok, {}", describe_value(value, seat)),
        Completion::Fail(value) => format!("failed, {}", describe_value(value, seat)),
        Completion::Info(value) => format!("indeterminate, {}", describe_value(value, seat)),
    };
    format!(
        "op {}, process {}, {} .. {returned}: {call} -> {result}",
        op.id,
        op.process,
        ms(op.invoke_ns)
    )
}

fn describe_value(value: &Value, seat: &str) -> String {
    match value {
        Value::Held { hold, .. } => format!("held as {hold}"),
        Value::Extended { expires_at_ms } => format!("extended to {expires_at_ms} (node ms)"),
        Value::Released { places: 0 } => "released nothing".to_string(),
        Value::Released { places } => format!("released {places} places"),
        Value::Bought { order, .. } => format!("bought as {order}"),
        Value::Rejected { code, seats } if seats.is_empty() => format!("rejected {code}"),
        Value::Rejected { code, seats } => format!("rejected {code} for [{}]", seats.join(", ")),
        Value::Unavailable { reason } => format!("unavailable ({reason})"),
        Value::Indeterminate { reason } => reason.clone(),
        Value::Seats { seats, .. } => match seats.get(seat) {
            Some(status) => format!("{seat} {}", seat_status(*status)),
            None => format!("{seat} not in the map"),
        },
        Value::Hold {
            status: Some(status),
            ..
        } => format!("hold {}", hold_state(*status)),
        Value::Hold { status: None, .. } => "no such hold".to_string(),
        Value::Orders { orders } => format!("{} orders", orders.len()),
    }
}

fn seat_status(status: SeatStatus) -> &'static str {
    match status {
        SeatStatus::Available => "available",
        SeatStatus::Held => "held",
        SeatStatus::Sold => "sold",
        SeatStatus::Blocked => "blocked",
    }
}

fn hold_state(state: HoldState) -> &'static str {
    match state {
        HoldState::Active => "active",
        HoldState::Expired => "expired",
        HoldState::Released => "released",
        HoldState::Bought => "bought",
    }
}

/// `1 seat`, `9,381 seats`.
fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// `9,381`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

// ---- the checker -----------------------------------------------------------------------------

/// A failing seat, explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatViolation {
    /// The history id of the first operation that could not be linearized after the longest
    /// linearizable prefix.
    pub failing_op: usize,
    /// The history ids of the minimal failing window, in invoke order (empty if none was found
    /// in the time left).
    pub window: Vec<usize>,
    /// The history ids of the operations overlapping the window whose effects it may include.
    pub concurrent: Vec<usize>,
    /// What the verdict says about the seat.
    pub description: String,
}

/// One seat's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatOutcome {
    Linearizable,
    NotLinearizable(SeatViolation),
    /// Out of budget (or of memory for the search, or the history could not be read).
    Undecided(String),
}

/// Explains `seat`'s failure at `failing` (an index into its operations): its minimal window if
/// `minimise` and one is found before the deadline, else the operations just before `failing`.
fn explain(
    seat: &SeatHistory<'_>,
    operations: &[Operation],
    failing: usize,
    minimise: bool,
    limits: &Limits,
) -> SeatViolation {
    let window = if minimise {
        minimal_window(&seat.ops, failing, limits)
    } else {
        None
    };
    let failing_op = seat.ops[failing].op;
    // One line per operation, the failing one marked.
    let show = |text: &mut String, i: usize| {
        if let Some(op) = operations.get(seat.ops[i].op) {
            let mark = if i == failing { '>' } else { ' ' };
            let _ = write!(text, "\n {mark} {}", describe(op, seat.seat));
        }
    };
    let mut text = format!(
        "seat {} of {} is not linearizable: op {failing_op} (marked >) cannot be linearized after \
         the longest linearizable prefix of its {}",
        seat.seat,
        seat.event,
        counted(seat.ops.len(), "operation", "operations")
    );
    let (window_ops, concurrent) = match window {
        Some(window) => {
            let from = if window.from_initial_state {
                "from the start (every seat available)"
            } else {
                "from any state the seat could be in"
            };
            let _ = write!(
                text,
                "; the shortest run of them that cannot be ordered, {from} ({}):",
                counted(window.ops.len(), "operation", "operations")
            );
            let shown = window.ops.len().min(OPERATIONS_SHOWN_MAX);
            let skipped = window.ops.len() - shown;
            for (n, &i) in window.ops.iter().enumerate() {
                if n == shown / 2 && skipped > 0 {
                    let _ = write!(text, "\n  ... {skipped} more ...");
                }
                if n < shown / 2 || n >= shown / 2 + skipped {
                    show(&mut text, i);
                }
            }
            if !window.concurrent.is_empty() {
                let _ = write!(
                    text,
                    "\n  allowed to take effect or not, as they overlap the run in time:"
                );
                for &i in window.concurrent.iter().take(OPERATIONS_SHOWN_MAX) {
                    show(&mut text, i);
                }
            }
            (
                window.ops.iter().map(|&i| seat.ops[i].op).collect(),
                window.concurrent.iter().map(|&i| seat.ops[i].op).collect(),
            )
        }
        None => {
            let why = if minimise {
                "no shorter failing run found in the time left"
            } else {
                "only the first failing seats get their shortest failing run"
            };
            let first = failing.saturating_sub(OPERATIONS_SHOWN_MAX / 4);
            let _ = write!(text, " ({why}); the operations up to it:");
            for i in first..=failing {
                show(&mut text, i);
            }
            (Vec::new(), Vec::new())
        }
    };
    SeatViolation {
        failing_op,
        window: window_ops,
        concurrent,
        description: text,
    }
}

/// What a reason to stop says in a verdict.
fn undecided_reason(undecided: Undecided, budget: Duration) -> String {
    match undecided {
        Undecided::OutOfTime => format!("out of the time budget of {budget:?}"),
        Undecided::TooManyStates => {
            format!("the search passed {SEARCH_STATES_MAX} memoised states")
        }
    }
}

/// Checks one seat of one event, for tests and for looking closer at a seat.
pub fn check_seat(history: &History, event: &str, seat: &str, budget: Duration) -> SeatOutcome {
    let started = Instant::now();
    let budget = budget.min(Duration::from_secs(BUDGET_SECS_MAX));
    let limits = Limits {
        deadline: started + budget,
        states_max: SEARCH_STATES_MAX,
    };
    let operations = match history.operations() {
        Ok(operations) => operations,
        Err(error) => return SeatOutcome::Undecided(format!("malformed history: {error}")),
    };
    let catalog = history.catalog();
    let seats = seat_histories(&catalog, &operations, Some((event, seat)));
    let Some(history) = seats.first() else {
        return SeatOutcome::Linearizable;
    };
    // Exact in the first half, else relaxed (which may still find a violation) in the rest.
    let exact = Limits {
        deadline: started + budget / 2,
        ..limits
    };
    let found = match search(&history.ops, SeatState::Free, Semantics::Exact, &exact) {
        Found::Undecided(undecided) => {
            match search(&history.ops, SeatState::Free, Semantics::Relaxed, &limits) {
                violation @ Found::Violation { .. } => violation,
                _ => Found::Undecided(undecided),
            }
        }
        found => found,
    };
    match found {
        Found::Linearizable => SeatOutcome::Linearizable,
        Found::Violation { failing } => {
            SeatOutcome::NotLinearizable(explain(history, &operations, failing, true, &limits))
        }
        Found::Undecided(undecided) => SeatOutcome::Undecided(undecided_reason(undecided, budget)),
    }
}

/// Checks that every seat of every seated event is linearizable, within `budget` in all.
pub fn check(history: &History, budget: Duration) -> Verdict {
    let started = Instant::now();
    let budget = budget.min(Duration::from_secs(BUDGET_SECS_MAX));
    let deadline = started + budget;
    let mut verdict = Verdict::new(NAME);
    let operations = match history.operations() {
        Ok(operations) => operations,
        Err(error) => {
            verdict.problem(format!("malformed history: {error}"));
            return verdict.checked("nothing: the history's operations could not be read");
        }
    };
    let catalog = history.catalog();
    let seats = seat_histories(&catalog, &operations, None);

    // Every seat gets a fair share of half the budget, exact. Those it did not decide get a
    // share of the next quarter relaxed (which may still find a violation), then of whatever
    // is left exact again.
    let mut found: Vec<Found> = vec![Found::Undecided(Undecided::OutOfTime); seats.len()];
    let passes = [
        (Semantics::Exact, started + budget / 2),
        (Semantics::Relaxed, started + budget / 4 * 3),
        (Semantics::Exact, deadline),
    ];
    for (semantics, pass_deadline) in passes {
        let todo: Vec<usize> = (0..seats.len())
            .filter(|&i| matches!(found[i], Found::Undecided(_)))
            .collect();
        for (n, &i) in todo.iter().enumerate() {
            let now = Instant::now();
            if now >= pass_deadline {
                break;
            }
            let share = (pass_deadline - now) / u32::try_from(todo.len() - n).unwrap_or(u32::MAX);
            let limits = Limits {
                deadline: now + share,
                states_max: SEARCH_STATES_MAX,
            };
            let decided = search(&seats[i].ops, SeatState::Free, semantics, &limits);
            found[i] = match (semantics, decided, found[i]) {
                // Relaxed, only a violation decides; and exact, running out of memory again
                // says no more than running out of time.
                (Semantics::Relaxed, Found::Linearizable | Found::Undecided(_), before) => before,
                (
                    Semantics::Exact,
                    Found::Undecided(_),
                    Found::Undecided(Undecided::TooManyStates),
                ) => Found::Undecided(Undecided::TooManyStates),
                (_, decided, _) => decided,
            };
        }
    }

    // The first failing seats get their shortest failing run, each with a share of the time left.
    let failing: Vec<(usize, usize)> = found
        .iter()
        .enumerate()
        .filter_map(|(i, found)| match *found {
            Found::Violation { failing } => Some((i, failing)),
            _ => None,
        })
        .collect();
    let minimised = failing.len().min(WINDOWS_MINIMISED_MAX);
    for (n, &(i, failing)) in failing.iter().enumerate() {
        let now = Instant::now();
        let share = deadline.saturating_duration_since(now)
            / u32::try_from(minimised.saturating_sub(n).max(1)).unwrap_or(u32::MAX);
        let limits = Limits {
            deadline: (now + share).min(deadline),
            states_max: SEARCH_STATES_MAX,
        };
        let explained = explain(&seats[i], &operations, failing, n < minimised, &limits);
        verdict.problem(explained.description);
    }

    let mut decided_ops = vec![false; operations.len()];
    let (mut decided, mut out_of_time, mut too_big) = (0, 0, 0);
    for (seat, found) in seats.iter().zip(&found) {
        match found {
            Found::Undecided(Undecided::OutOfTime) => out_of_time += 1,
            Found::Undecided(Undecided::TooManyStates) => too_big += 1,
            _ => {
                decided += 1;
                for op in &seat.ops {
                    if let Some(seen) = decided_ops.get_mut(op.op) {
                        *seen = true;
                    }
                }
            }
        }
    }
    let ops_checked = decided_ops.iter().filter(|&&seen| seen).count();
    if out_of_time + too_big > 0 {
        let mut why = format!(
            "{} of {} checked",
            thousands(decided),
            counted(seats.len(), "seat", "seats")
        );
        if out_of_time > 0 {
            let _ = write!(
                why,
                "; {} undecided: {}",
                thousands(out_of_time),
                undecided_reason(Undecided::OutOfTime, budget)
            );
        }
        if too_big > 0 {
            let _ = write!(
                why,
                "; {} undecided: {}",
                thousands(too_big),
                undecided_reason(Undecided::TooManyStates, budget)
            );
        }
        verdict.unknown(why);
    }
    let seats_checked = if decided == seats.len() {
        counted(decided, "seat", "seats")
    } else {
        let all = counted(seats.len(), "seat", "seats");
        format!("{} of {all}", thousands(decided))
    };
    let ops_checked = counted(ops_checked, "operation", "operations");
    verdict.checked(format!("{seats_checked}, {ops_checked}"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::checker::Status;
    use crate::history::{EventInfo, Kind, OpRecord, Record};

    /// The catalog's expiry slack in these scenarios, in milliseconds.
    const SLACK_MS: u64 = 10;
    /// A TTL no scenario outlives, in milliseconds.
    const LONG_TTL_MS: u64 = 600_000;
    /// The budget of a scenario's check.
    const BUDGET: Duration = Duration::from_secs(10);

    fn catalog(seats: &[String], expiry_slack_ms: u64) -> Catalog {
        Catalog {
            events: vec![
                EventInfo {
                    event: "e1".into(),
                    group: 1,
                    kind: EventKind::Seats,
                    seats: seats.to_vec(),
                    areas: BTreeMap::new(),
                },
                EventInfo {
                    event: "e2".into(),
                    group: 1,
                    kind: EventKind::BestAvailable,
                    seats: seats.to_vec(),
                    areas: BTreeMap::new(),
                },
            ],
            expiry_slack_ms,
            seed: 1,
            nodes: 3,
        }
    }

    fn names(seats: &[&str]) -> Vec<String> {
        seats.iter().map(|s| s.to_string()).collect()
    }

    fn ns(ms: u64) -> Nanos {
        ms * NANOS_PER_MS
    }

    // ---- calls and answers, on event e1 ----

    fn hold(seats: &[&str]) -> Call {
        hold_for(seats, LONG_TTL_MS)
    }

    fn hold_for(seats: &[&str], ttl_ms: u64) -> Call {
        Call::Hold {
            event: "e1".into(),
            customer: "c".into(),
            pick: Pick::Seats {
                seats: names(seats),
            },
            ttl_ms,
        }
    }

    fn extend(hold: &str, ttl_ms: u64) -> Call {
        Call::Extend {
            hold: hold.into(),
            customer: "c".into(),
            ttl_ms,
        }
    }

    fn release(hold: &str) -> Call {
        Call::Release {
            hold: hold.into(),
            customer: "c".into(),
        }
    }

    fn buy(hold: &str) -> Call {
        Call::Buy {
            hold: hold.into(),
            customer: "c".into(),
        }
    }

    fn read_seats() -> Call {
        Call::ReadSeats {
            event: "e1".into(),
            node: 1,
        }
    }

    fn read_hold(hold: &str) -> Call {
        Call::ReadHold {
            hold: hold.into(),
            node: 1,
        }
    }

    /// Granted, created at node time 1,000 ms with `ttl_ms`.
    fn held(hold: &str, seats: &[&str], ttl_ms: u64) -> Value {
        Value::Held {
            hold: hold.into(),
            seats: names(seats),
            places: 0,
            area: None,
            expires_at_ms: 1_000 + ttl_ms,
        }
    }

    fn bought(hold: &str, seats: &[&str]) -> Value {
        Value::Bought {
            order: format!("{hold}-order"),
            hold: hold.into(),
            seats: names(seats),
            places: 0,
            area: None,
        }
    }

    fn rejected(code: &str, seats: &[&str]) -> Value {
        Value::Rejected {
            code: code.into(),
            seats: names(seats),
        }
    }

    fn seat_map(seats: &[(&str, SeatStatus)]) -> Value {
        Value::Seats {
            seats: seats.iter().map(|(s, st)| (s.to_string(), *st)).collect(),
            areas: BTreeMap::new(),
            served_by: 1,
            applied_index: 1,
        }
    }

    fn hold_read(status: Option<HoldState>) -> Value {
        Value::Hold {
            status,
            served_by: 1,
        }
    }

    use SeatStatus::{Available, Held as HeldSeat, Sold};

    /// A hand-made history of event e1 (seats A-1, A-2, A-3), times in milliseconds.
    struct Scenario {
        history: History,
    }

    impl Scenario {
        fn new() -> Scenario {
            Scenario {
                history: History::new(catalog(&names(&["A-1", "A-2", "A-3"]), SLACK_MS)),
            }
        }

        fn op(&mut self, process: u32, ms: (u64, u64), call: Call, kind: Kind, value: Value) {
            self.history.invoke(process, ns(ms.0), call);
            self.history.complete(process, ns(ms.1), kind, value);
        }

        fn ok(&mut self, process: u32, ms: (u64, u64), call: Call, value: Value) -> &mut Self {
            self.op(process, ms, call, Kind::Ok, value);
            self
        }

        fn fail(&mut self, process: u32, ms: (u64, u64), call: Call, value: Value) -> &mut Self {
            self.op(process, ms, call, Kind::Fail, value);
            self
        }

        /// Indeterminate: the client gave up at the end of `ms`.
        fn info(&mut self, process: u32, ms: (u64, u64), call: Call) -> &mut Self {
            let value = Value::Indeterminate {
                reason: "timed out".into(),
            };
            self.op(process, ms, call, Kind::Info, value);
            self
        }

        fn verdict(&self) -> Verdict {
            check(&self.history, BUDGET)
        }

        fn seat(&self, seat: &str) -> SeatOutcome {
            check_seat(&self.history, "e1", seat, BUDGET)
        }

        #[track_caller]
        fn assert_valid(&self) {
            let verdict = self.verdict();
            assert_eq!(verdict.status, Status::Valid, "{verdict:#?}");
        }

        /// Asserts seat A-1 is flagged with exactly `window` (history op ids) as its explanation.
        #[track_caller]
        fn assert_flagged(&self, window: &[usize]) -> SeatViolation {
            let verdict = self.verdict();
            assert_eq!(verdict.status, Status::Invalid, "{verdict:#?}");
            assert_eq!(verdict.problems, 1, "{verdict:#?}");
            let SeatOutcome::NotLinearizable(violation) = self.seat("A-1") else {
                panic!("seat A-1 passed: {verdict:#?}");
            };
            assert_eq!(violation.window, window, "{}", violation.description);
            assert_eq!(verdict.examples[0], violation.description);
            violation
        }
    }

    // ---- histories it must flag ----

    #[test]
    fn two_holds_granted_one_after_the_other_without_a_release_are_flagged() {
        let mut scenario = Scenario::new();
        scenario
            .ok(
                0,
                (0, 1),
                hold(&["A-1"]),
                held("e1~h1", &["A-1"], LONG_TTL_MS),
            )
            .ok(
                1,
                (2, 3),
                hold(&["A-1"]),
                held("e1~h2", &["A-1"], LONG_TTL_MS),
            );
        let violation = scenario.assert_flagged(&[0, 1]);
        assert_eq!(violation.failing_op, 1);
        assert!(
            violation.description.contains("from the start"),
            "{}",
            violation.description
        );
        assert!(
            violation
                .description
                .contains("op 1, process 1, 2.000 ms .. 3.000 ms: hold [A-1]"),
            "{}",
            violation.description
        );
    }

    #[test]
    fn a_read_showing_the_seat_available_after_an_acknowledged_buy_is_flagged() {
        let mut scenario = Scenario::new();
        scenario
            .ok(
                0,
                (0, 1),
                hold(&["A-1"]),
                held("e1~h1", &["A-1"], LONG_TTL_MS),
            )
            .ok(0, (2, 3), buy("e1~h1"), bought("e1~h1", &["A-1"]))
            .ok(1, (4, 5), read_seats(), seat_map(&[("A-1", Available)]));
        // The buy cannot happen from any state the read could follow.
        scenario.assert_flagged(&[1, 2]);
    }

    #[test]
    fn a_stale_read_before_the_hold_can_expire_is_flagged() {
        let mut scenario = Scenario::new();
        scenario
            .ok(
                0,
                (0, 1),
                hold_for(&["A-1"], 1_000),
                held("e1~h1", &["A-1"], 1_000),
            )
            .ok(1, (500, 501), read_seats(), seat_map(&[("A-1", Available)]));
        scenario.assert_flagged(&[0, 1]);
    }

    #[test]
    fn a_buy_granted_after_a_read_saw_the_hold_released_is_flagged() {
        let mut scenario = Scenario::new();
        scenario
            .ok(
                0,
                (0, 1),
                hold(&["A-1"]),
                held("e1~h1", &["A-1"], LONG_TTL_MS),
            )
            .ok(0, (2, 3), release("e1~h1"), Value::Released { places: 1 })
            .ok(1, (4, 5), read_seats(), seat_map(&[("A-1", Available)]))
            .ok(0, (6, 7), buy("e1~h1"), bought("e1~h1", &["A-1"]));
        // Once the seat is seen free, nothing can make it held by e1~h1 again.
        scenario.assert_flagged(&[2, 3]);
    }

    #[test]
    fn a_seat_read_sold_that_was_never_bought_is_flagged() {
        let mut scenario = Scenario::new();
        scenario
            .ok(
                0,
                (0, 1),
                hold(&["A-1"]),
                held("e1~h1", &["A-1"], LONG_TTL_MS),
            )
            .ok(1, (2, 3), read_seats(), seat_map(&[("A-1", Sold)]));
        scenario.assert_flagged(&[0, 1]);
    }

    #[test]
    fn a_hold_read_active_after_its_release_returned_is_flagged() {
        let mut scenario = Scenario::new();
        scenario
            .ok(
                0,
                (0, 1),
                hold(&["A-1"]),
                held("e1~h1", &["A-1"], LONG_TTL_MS),
            )
            .ok(0, (2, 3), release("e1~h1"), Value::Released { places: 1 })
            .ok(
                1,
                (4, 5),
                read_hold("e1~h1"),
                hold_read(Some(HoldState::Active)),
            );
        scenario.assert_flagged(&[1, 2]);
    }

    #[test]
    fn a_read_after_an_extend_that_shows_the_seat_free_too_soon_is_flagged() {
        // Created at node time 1,000 ms for 100 ms, extended to 1,150: free from 150 - 11 ms on.
        let mut scenario = Scenario::new();
        scenario
            .ok(
                0,
                (0, 1),
                hold_for(&["A-1"], 100),
                held("e1~h1", &["A-1"], 100),
            )
            .ok(
                0,
                (50, 51),
                extend("e1~h1", 100),
                Value::Extended {
                    expires_at_ms: 1_150,
                },
            )
            .ok(1, (120, 121), read_seats(), seat_map(&[("A-1", Available)]));
        // The extend's answer alone says the hold lasts past the read.
        scenario.assert_flagged(&[1, 2]);
    }

    #[test]
    fn a_seat_read_blocked_is_flagged() {
        let mut scenario = Scenario::new();
        scenario.ok(
            1,
            (2, 3),
            read_seats(),
            seat_map(&[("A-1", SeatStatus::Blocked)]),
        );
        scenario.assert_flagged(&[0]);
    }

    #[test]
    fn the_failing_window_leaves_out_the_history_that_explains_nothing() {
        let mut scenario = Scenario::new();
        scenario
            .ok(
                0,
                (0, 1),
                hold(&["A-1"]),
                held("e1~h1", &["A-1"], LONG_TTL_MS),
            )
            .ok(1, (2, 3), read_seats(), seat_map(&[("A-1", HeldSeat)]))
            .ok(0, (4, 5), release("e1~h1"), Value::Released { places: 1 })
            .ok(1, (6, 7), read_seats(), seat_map(&[("A-1", Available)]))
            .ok(
                2,
                (8, 9),
                hold(&["A-1"]),
                held("e1~h2", &["A-1"], LONG_TTL_MS),
            )
            .ok(2, (10, 11), buy("e1~h2"), bought("e1~h2", &["A-1"]))
            .ok(1, (12, 13), read_seats(), seat_map(&[("A-1", Available)]));
        let violation = scenario.assert_flagged(&[5, 6]);
        assert!(
            violation.description.contains("from any state"),
            "{}",
            violation.description
        );
    }

    #[test]
    fn only_the_failing_seat_is_flagged() {
        let mut scenario = Scenario::new();
        scenario
            .ok(
                0,
                (0, 1),
                hold(&["A-1", "A-2"]),
                held("e1~h1", &["A-1", "A-2"], LONG_TTL_MS),
            )
            .ok(1, (2, 3), read_seats(), {
                seat_map(&[("A-1", HeldSeat), ("A-2", Available), ("A-3", Available)])
            });
        let verdict = scenario.verdict();
        assert_eq!(verdict.status, Status::Invalid, "{verdict:#?}");
        assert_eq!(verdict.problems, 1);
        assert!(
            verdict.examples[0].starts_with("seat A-2 of e1"),
            "{verdict:#?}"
        );
        assert_eq!(verdict.checked, "3 seats, 2 operations");
    }

    // ---- histories it must pass ----

    #[test]
    fn concurrent_holds_where_one_wins_pass() {
        let mut scenario = Scenario::new();
        scenario
            .ok(
                0,
                (0, 10),
                hold(&["A-1"]),
                held("e1~h1", &["A-1"], LONG_TTL_MS),
            )
            .fail(
                1,
                (1, 9),
                hold(&["A-1"]),
                rejected(SEAT_UNAVAILABLE, &["A-1"]),
            )
            .ok(2, (2, 3), read_seats(), seat_map(&[("A-1", Available)]))
            .ok(2, (11, 12), read_seats(), seat_map(&[("A-1", HeldSeat)]));
        scenario.assert_valid();
    }

    #[test]
    fn an_indeterminate_hold_that_takes_effect_later_passes() {
        let mut scenario = Scenario::new();
        scenario
            .info(0, (0, 5), hold(&["A-1"]))
            .ok(1, (1, 2), read_seats(), seat_map(&[("A-1", Available)]))
            .ok(1, (10, 11), read_seats(), seat_map(&[("A-1", HeldSeat)]))
            .fail(
                2,
                (12, 13),
                hold(&["A-1"]),
                rejected(SEAT_UNAVAILABLE, &["A-1"]),
            );
        scenario.assert_valid();
    }

    #[test]
    fn a_hold_the_run_ended_before_answering_may_take_effect() {
        let mut scenario = Scenario::new();
        scenario.history.invoke(0, ns(0), hold(&["A-1"]));
        scenario.ok(1, (10, 11), read_seats(), seat_map(&[("A-1", HeldSeat)]));
        scenario.assert_valid();
    }

    #[test]
    fn an_indeterminate_buy_that_never_took_effect_passes() {
        let mut scenario = Scenario::new();
        scenario
            .ok(
                0,
                (0, 1),
                hold(&["A-1"]),
                held("e1~h1", &["A-1"], LONG_TTL_MS),
            )
            .info(0, (2, 5), buy("e1~h1"))
            .ok(1, (6, 7), read_seats(), seat_map(&[("A-1", HeldSeat)]))
            .ok(0, (8, 9), release("e1~h1"), Value::Released { places: 1 })
            .ok(1, (10, 11), read_seats(), seat_map(&[("A-1", Available)]))
            .ok(
                1,
                (12, 13),
                read_hold("e1~h1"),
                hold_read(Some(HoldState::Released)),
            );
        scenario.assert_valid();
    }

    #[test]
    fn operations_that_definitely_failed_are_left_out() {
        let unavailable = Value::Unavailable {
            reason: "no leader".into(),
        };
        let mut scenario = Scenario::new();
        scenario
            .fail(0, (0, 1), hold(&["A-1"]), unavailable.clone())
            .fail(1, (2, 3), read_seats(), unavailable)
            .ok(1, (4, 5), read_seats(), seat_map(&[("A-1", Available)]))
            .fail(0, (6, 7), hold(&["A-1"]), rejected("RATE_LIMITED", &[]));
        scenario.assert_valid();
    }

    #[test]
    fn a_hold_that_expires_frees_its_seat() {
        // Earliest expiry: 0 + 100 - 10 (slack) - 1 (server clock resolution) = 89 ms.
        let mut scenario = Scenario::new();
        scenario
            .ok(
                0,
                (0, 1),
                hold_for(&["A-1"], 100),
                held("e1~h1", &["A-1"], 100),
            )
            .ok(1, (50, 51), read_seats(), seat_map(&[("A-1", HeldSeat)]))
            .ok(1, (89, 90), read_seats(), seat_map(&[("A-1", Available)]))
            .fail(0, (91, 92), buy("e1~h1"), rejected("HOLD_EXPIRED", &[]))
            .ok(
                2,
                (93, 94),
                hold(&["A-1"]),
                held("e1~h2", &["A-1"], LONG_TTL_MS),
            )
            .ok(
                1,
                (95, 96),
                read_hold("e1~h1"),
                hold_read(Some(HoldState::Expired)),
            )
            .ok(1, (97, 98), read_seats(), seat_map(&[("A-1", HeldSeat)]));
        scenario.assert_valid();
    }

    #[test]
    fn an_extended_hold_outlives_its_first_ttl() {
        let mut scenario = Scenario::new();
        scenario
            .ok(
                0,
                (0, 1),
                hold_for(&["A-1"], 100),
                held("e1~h1", &["A-1"], 100),
            )
            .ok(
                0,
                (50, 51),
                extend("e1~h1", 100),
                Value::Extended {
                    expires_at_ms: 1_150,
                },
            )
            .ok(1, (120, 121), read_seats(), seat_map(&[("A-1", HeldSeat)]))
            .ok(1, (140, 141), read_seats(), seat_map(&[("A-1", Available)]))
            .fail(
                0,
                (142, 143),
                extend("e1~h1", 100),
                rejected("HOLD_EXPIRED", &[]),
            );
        scenario.assert_valid();
    }

    #[test]
    fn an_extend_capped_by_the_hold_lifetime_may_end_before_its_ttl() {
        // Asked for 100 ms more at 50 ms, but capped at 120 ms after creation: the hold may be
        // gone from 120 - 11 ms on, before the 50 + 100 ms the TTL alone would say.
        let mut scenario = Scenario::new();
        scenario
            .ok(
                0,
                (0, 1),
                hold_for(&["A-1"], 100),
                held("e1~h1", &["A-1"], 100),
            )
            .ok(
                0,
                (50, 51),
                extend("e1~h1", 100),
                Value::Extended {
                    expires_at_ms: 1_120,
                },
            )
            .ok(1, (115, 116), read_seats(), seat_map(&[("A-1", Available)]));
        scenario.assert_valid();
    }

    #[test]
    fn a_hold_read_as_bought_after_its_buy_passes() {
        let mut scenario = Scenario::new();
        scenario
            .ok(
                0,
                (0, 1),
                hold(&["A-1"]),
                held("e1~h1", &["A-1"], LONG_TTL_MS),
            )
            .ok(0, (2, 10), buy("e1~h1"), bought("e1~h1", &["A-1"]))
            .ok(
                1,
                (3, 4),
                read_hold("e1~h1"),
                hold_read(Some(HoldState::Active)),
            )
            .ok(
                1,
                (5, 6),
                read_hold("e1~h1"),
                hold_read(Some(HoldState::Bought)),
            )
            .ok(1, (7, 8), read_seats(), seat_map(&[("A-1", Sold)]))
            .fail(
                2,
                (11, 12),
                release("e1~h1"),
                rejected("HOLD_NOT_ACTIVE", &[]),
            );
        scenario.assert_valid();
    }

    #[test]
    fn a_multi_seat_hold_refused_for_another_seat_says_nothing_of_this_one() {
        let mut scenario = Scenario::new();
        scenario
            .ok(
                0,
                (0, 1),
                hold(&["A-2"]),
                held("e1~h1", &["A-2"], LONG_TTL_MS),
            )
            .fail(
                1,
                (2, 3),
                hold(&["A-1", "A-2"]),
                rejected(SEAT_UNAVAILABLE, &["A-2"]),
            )
            .ok(
                2,
                (4, 5),
                hold(&["A-1"]),
                held("e1~h2", &["A-1"], LONG_TTL_MS),
            )
            .ok(1, (6, 7), read_seats(), {
                seat_map(&[("A-1", HeldSeat), ("A-2", HeldSeat), ("A-3", Available)])
            });
        scenario.assert_valid();
        assert_eq!(scenario.verdict().checked, "3 seats, 4 operations");
    }

    #[test]
    fn events_sold_otherwise_are_not_checked() {
        let mut scenario = Scenario::new();
        let other = Call::ReadSeats {
            event: "e2".into(),
            node: 1,
        };
        scenario.ok(0, (0, 1), other, seat_map(&[("A-1", Sold)]));
        let verdict = scenario.verdict();
        assert_eq!(verdict.status, Status::Valid, "{verdict:#?}");
        assert_eq!(verdict.checked, "0 seats, 0 operations");
    }

    // ---- the budget ----

    #[test]
    fn many_concurrent_reads_do_not_make_the_search_exponential() {
        // Thirty reads all overlapping a hold, then a read that no order explains: reads are
        // linearized as soon as they hold, so the search need not try the 2^30 subsets of them.
        let mut scenario = Scenario::new();
        scenario.ok(
            0,
            (0, 100),
            hold(&["A-1"]),
            held("e1~h1", &["A-1"], LONG_TTL_MS),
        );
        for process in 1..=30 {
            let read = seat_map(&[("A-1", Available)]);
            scenario.ok(process, (1, 99), read_seats(), read);
        }
        for process in 1..=30 {
            let read = seat_map(&[("A-1", HeldSeat)]);
            scenario.ok(process, (200, 300), read_seats(), read);
        }
        scenario.ok(
            31,
            (400, 401),
            read_seats(),
            seat_map(&[("A-1", Available)]),
        );
        let verdict = check(&scenario.history, Duration::from_secs(2));
        assert_eq!(verdict.status, Status::Invalid, "{verdict:#?}");
        assert!(!verdict.examples[0].contains("no shorter"), "{verdict:#?}");
    }

    #[test]
    fn a_search_that_cannot_finish_in_its_budget_is_unknown() {
        // Thirty concurrent holds all granted, each free to expire at once: any subset of them,
        // in any order, may have come and gone before a read that nothing explains (the seat
        // sold). Exact or relaxed, the search must try them all.
        let mut scenario = Scenario::new();
        for process in 0..30 {
            let hold_id = format!("e1~h{process}");
            let granted = held(&hold_id, &["A-1"], 1);
            scenario.ok(
                process,
                (process.into(), 300),
                hold_for(&["A-1"], 1),
                granted,
            );
        }
        scenario.ok(
            30,
            (400, 401),
            read_seats(),
            seat_map(&[("A-1", Sold), ("A-2", Available)]),
        );
        let started = Instant::now();
        let verdict = check(&scenario.history, Duration::from_millis(50));
        assert!(started.elapsed() < Duration::from_secs(1), "{verdict:#?}");
        assert_eq!(verdict.status, Status::Unknown, "{verdict:#?}");
        assert!(
            verdict.examples[0].starts_with("1 of 2 seats checked"),
            "{verdict:#?}"
        );
        assert_eq!(verdict.checked, "1 of 2 seats, 1 operation");
    }

    #[test]
    fn a_violation_among_many_indeterminate_holds_is_found_relaxed() {
        // Forty indeterminate holds that may expire at once: the exact search would try every
        // subset of them; letting each take effect any number of times finds the read that
        // nothing explains (the seat sold) at once.
        let mut scenario = Scenario::new();
        for process in 0..40 {
            scenario.info(process, (process.into(), 300), hold_for(&["A-1"], 1));
        }
        scenario.ok(40, (400, 401), read_seats(), seat_map(&[("A-1", Sold)]));
        let verdict = check(&scenario.history, Duration::from_millis(200));
        assert_eq!(verdict.status, Status::Invalid, "{verdict:#?}");
        // Only a run from the start explains it: any later start could be a seat sold already.
        assert!(
            verdict.examples[0].contains("from the start"),
            "{verdict:#?}"
        );
    }

    #[test]
    fn any_budget_is_taken() {
        let mut scenario = Scenario::new();
        scenario.ok(0, (0, 1), read_seats(), seat_map(&[("A-1", Available)]));
        assert!(check(&scenario.history, Duration::MAX).is_valid());
        assert!(check(&scenario.history, Duration::ZERO).status == Status::Unknown);
        assert_eq!(scenario.seat("A-1"), SeatOutcome::Linearizable);
        let outcome = check_seat(&scenario.history, "e1", "A-1", Duration::MAX);
        assert_eq!(outcome, SeatOutcome::Linearizable);
    }

    // ---- random histories, linearizable by construction ----

    /// A seat in the simulated store.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum TrueSeat {
        Free,
        /// By the hold of this index.
        Held(usize),
        Sold,
    }

    #[derive(Debug, Clone)]
    struct TrueHold {
        id: String,
        seats: Vec<usize>,
        state: HoldState,
        created_ms: u64,
        expires_ms: u64,
        /// The operation that was told of the grant, by index, if any was.
        grant: Option<usize>,
    }

    /// How a simulated run looks.
    #[derive(Debug, Clone, Copy)]
    struct Shape {
        seats: usize,
        processes: u32,
        ops: usize,
        /// The longest gap between two operations taking effect, in nanoseconds.
        gap_ns_max: Nanos,
        /// The most an interval reaches on either side of the moment it takes effect, in ns.
        jitter_ns_max: Nanos,
        /// The shortest and longest TTL asked for, in milliseconds.
        ttl_ms: (u64, u64),
        /// A hold's lifetime cap on extends, in milliseconds.
        lifetime_ms_max: u64,
        seats_per_hold_max: usize,
        /// Operations whose outcome the client never learns, in percent (a tenth of them are
        /// never answered at all).
        indeterminate_percent: u32,
    }

    const SMALL: Shape = Shape {
        seats: 4,
        processes: 4,
        ops: 80,
        gap_ns_max: 2 * NANOS_PER_MS,
        jitter_ns_max: 3 * NANOS_PER_MS,
        ttl_ms: (5, 40),
        lifetime_ms_max: 60,
        seats_per_hold_max: 2,
        indeterminate_percent: 6,
    };

    /// Random histories per random test (each a few dozen operations).
    const RANDOM_RUNS: u64 = 300;

    /// What became of an operation in the simulation.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Fate {
        Answered,
        /// No node could act: it did not happen.
        Unavailable,
        /// The client gave up (or the run ended, if `answered` is false); it happened or not.
        Indeterminate {
            happened: bool,
            answered: bool,
        },
    }

    /// How a read is made impossible.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Break {
        /// A seat shown sold that no buy could have sold.
        SoldNeverBought,
        /// A seat shown available after a buy of it was acknowledged.
        AvailableAfterBuy,
        /// A seat shown available while a granted hold must still have held it: nothing
        /// released or bought the hold yet, and its earliest expiry had not come.
        AvailableWhileHeld,
    }

    impl Break {
        const ALL: [Break; 3] = [
            Break::SoldNeverBought,
            Break::AvailableAfterBuy,
            Break::AvailableWhileHeld,
        ];
    }

    /// One operation as planned: invoke, and completion (if the run saw one).
    #[derive(Debug, Clone)]
    struct Planned {
        process: u32,
        invoke_ns: Nanos,
        call: Call,
        completion: Option<(Nanos, Kind, Value)>,
        /// For a seat map: the hold holding each seat when it was read.
        holders: Vec<Option<usize>>,
    }

    /// A run of a simulated store: operations take effect one at a time at increasing moments,
    /// each seen by its client over a random interval around its moment (so they overlap).
    #[derive(Clone)]
    struct Simulation {
        rng: ChaCha8Rng,
        shape: Shape,
        seats: Vec<String>,
        seat: Vec<TrueSeat>,
        holds: Vec<TrueHold>,
        /// Holds whose grant a client saw, by index.
        granted: Vec<usize>,
        /// Per seat: a buy of a hold covering it was acknowledged or indeterminate.
        maybe_bought: Vec<bool>,
        planned: Vec<Planned>,
    }

    impl Simulation {
        fn run(seed: u64, shape: Shape) -> Simulation {
            let mut sim = Simulation {
                rng: ChaCha8Rng::seed_from_u64(seed),
                shape,
                seats: (1..=shape.seats).map(|n| format!("A-{n}")).collect(),
                seat: vec![TrueSeat::Free; shape.seats],
                holds: Vec::new(),
                granted: Vec::new(),
                maybe_bought: vec![false; shape.seats],
                planned: Vec::new(),
            };
            // Per client slot: its process, and when it may invoke again. A process whose
            // operation never completes is replaced by a new one, as in Jepsen.
            let mut process_of: Vec<u32> = (0..shape.processes).collect();
            let mut next_process = shape.processes;
            let mut free_from: Vec<Nanos> = vec![0; shape.processes as usize];
            let mut now: Nanos = 10 * NANOS_PER_MS;
            for _ in 0..shape.ops {
                now += sim.rng.random_range(1..=shape.gap_ns_max);
                let slot = (0..free_from.len())
                    .min_by_key(|&slot| free_from[slot])
                    .unwrap_or(0);
                let process = process_of[slot];
                let before = sim.rng.random_range(0..=shape.jitter_ns_max);
                let invoke_ns = now.saturating_sub(before).max(free_from[slot]);
                now = now.max(invoke_ns);
                sim.expire(now);
                let roll = sim.rng.random_range(0..1_000);
                let indeterminate = shape.indeterminate_percent * 10;
                let fate = if roll < indeterminate {
                    Fate::Indeterminate {
                        happened: sim.rng.random_bool(0.5),
                        answered: roll >= indeterminate / 10,
                    }
                } else if roll < indeterminate + 40 {
                    Fate::Unavailable
                } else {
                    Fate::Answered
                };
                let happens = match fate {
                    Fate::Answered => true,
                    Fate::Unavailable => false,
                    Fate::Indeterminate { happened, .. } => happened,
                };
                let (call, value) = sim.step(now, happens);
                let holders = match call {
                    Call::ReadSeats { .. } => sim
                        .seat
                        .iter()
                        .map(|seat| match seat {
                            TrueSeat::Held(h) => Some(*h),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                let returned_ns = now + sim.rng.random_range(0..=shape.jitter_ns_max);
                let completion = match fate {
                    Fate::Answered if matches!(value, Value::Rejected { .. }) => {
                        Some((returned_ns, Kind::Fail, value))
                    }
                    Fate::Answered => Some((returned_ns, Kind::Ok, value)),
                    Fate::Unavailable => {
                        let value = Value::Unavailable {
                            reason: "no leader".into(),
                        };
                        Some((returned_ns, Kind::Fail, value))
                    }
                    Fate::Indeterminate { answered, .. } => answered.then(|| {
                        let value = Value::Indeterminate {
                            reason: "timed out".into(),
                        };
                        (returned_ns, Kind::Info, value)
                    }),
                };
                let maybe_happened =
                    matches!(completion, None | Some((_, Kind::Ok | Kind::Info, _)));
                if let Call::Buy { hold, .. } = &call {
                    if let Some(h) = sim.holds.iter().find(|h| &h.id == hold) {
                        for &s in &h.seats {
                            sim.maybe_bought[s] |= maybe_happened;
                        }
                    }
                }
                if let Some((_, Kind::Ok, Value::Held { hold, .. })) = &completion {
                    if let Some(h) = sim.holds.iter().position(|h| &h.id == hold) {
                        sim.granted.push(h);
                        sim.holds[h].grant = Some(sim.planned.len());
                    }
                }
                free_from[slot] = match &completion {
                    Some((returned, ..)) => returned + 1,
                    None => {
                        process_of[slot] = next_process;
                        next_process += 1;
                        returned_ns + 1
                    }
                };
                sim.planned.push(Planned {
                    process,
                    invoke_ns,
                    call,
                    completion,
                    holders,
                });
            }
            sim
        }

        /// Expires the holds whose time has come (the node's clock is in whole milliseconds).
        fn expire(&mut self, now: Nanos) {
            for hold in &mut self.holds {
                if hold.state == HoldState::Active && now >= hold.expires_ms * NANOS_PER_MS {
                    hold.state = HoldState::Expired;
                    for &s in &hold.seats {
                        self.seat[s] = TrueSeat::Free;
                    }
                }
            }
        }

        /// Picks an operation and, if it `happens`, applies it at `now`: the call and the answer
        /// the store gives.
        fn step(&mut self, now: Nanos, happens: bool) -> (Call, Value) {
            let now_ms = now / NANOS_PER_MS;
            let roll = self.rng.random_range(0..100);
            let named = if self.granted.is_empty() || !(30..70).contains(&roll) {
                None
            } else {
                Some(self.granted[self.rng.random_range(0..self.granted.len())])
            };
            let Some(h) = named else {
                return if roll < 30 {
                    self.hold(now_ms, happens)
                } else {
                    self.read_seats()
                };
            };
            let hold = self.holds[h].id.clone();
            let places = u32::try_from(self.holds[h].seats.len()).unwrap_or(u32::MAX);
            let state = self.holds[h].state;
            let gone = |state: HoldState| {
                let code = if state == HoldState::Expired {
                    "HOLD_EXPIRED"
                } else {
                    "HOLD_NOT_ACTIVE"
                };
                rejected(code, &[])
            };
            match roll {
                30..=37 => {
                    let ttl_ms = self
                        .rng
                        .random_range(self.shape.ttl_ms.0..=self.shape.ttl_ms.1);
                    let held = &mut self.holds[h];
                    let wanted =
                        (now_ms + ttl_ms).min(held.created_ms + self.shape.lifetime_ms_max);
                    let value = if state != HoldState::Active {
                        gone(state)
                    } else if wanted <= held.expires_ms {
                        rejected("LIMIT_EXCEEDED", &[])
                    } else {
                        if happens {
                            held.expires_ms = wanted;
                        }
                        Value::Extended {
                            expires_at_ms: wanted,
                        }
                    };
                    (extend(&hold, ttl_ms), value)
                }
                38..=47 => {
                    let value = match state {
                        HoldState::Active => {
                            if happens {
                                self.end(h, HoldState::Released, TrueSeat::Free);
                            }
                            Value::Released { places }
                        }
                        HoldState::Bought => gone(state),
                        _ => Value::Released { places: 0 },
                    };
                    (release(&hold), value)
                }
                48..=59 => {
                    let value = if state == HoldState::Active {
                        if happens {
                            self.end(h, HoldState::Bought, TrueSeat::Sold);
                        }
                        let seats: Vec<&str> = self.holds[h]
                            .seats
                            .iter()
                            .map(|&s| self.seats[s].as_str())
                            .collect();
                        bought(&hold, &seats)
                    } else {
                        gone(state)
                    };
                    (buy(&hold), value)
                }
                _ => (read_hold(&hold), hold_read(Some(state))),
            }
        }

        fn end(&mut self, h: usize, state: HoldState, seat: TrueSeat) {
            self.holds[h].state = state;
            for &s in &self.holds[h].seats {
                self.seat[s] = seat;
            }
        }

        fn hold(&mut self, now_ms: u64, happens: bool) -> (Call, Value) {
            let count = self.rng.random_range(1..=self.shape.seats_per_hold_max);
            let mut seats: Vec<usize> = (0..count)
                .map(|_| self.rng.random_range(0..self.shape.seats))
                .collect();
            seats.sort_unstable();
            seats.dedup();
            let ttl_ms = self
                .rng
                .random_range(self.shape.ttl_ms.0..=self.shape.ttl_ms.1);
            let names: Vec<&str> = seats.iter().map(|&s| self.seats[s].as_str()).collect();
            let call = hold_for(&names, ttl_ms);
            let taken: Vec<&str> = seats
                .iter()
                .filter(|&&s| self.seat[s] != TrueSeat::Free)
                .map(|&s| self.seats[s].as_str())
                .collect();
            if !taken.is_empty() {
                return (call, rejected(SEAT_UNAVAILABLE, &taken));
            }
            let id = format!("e1~h{}", self.holds.len() + 1);
            let value = Value::Held {
                hold: id.clone(),
                seats: names.iter().map(|s| s.to_string()).collect(),
                places: 0,
                area: None,
                expires_at_ms: now_ms + ttl_ms,
            };
            if happens {
                for &s in &seats {
                    self.seat[s] = TrueSeat::Held(self.holds.len());
                }
                self.holds.push(TrueHold {
                    id,
                    seats,
                    state: HoldState::Active,
                    created_ms: now_ms,
                    expires_ms: now_ms + ttl_ms,
                    grant: None,
                });
            }
            (call, value)
        }

        fn read_seats(&self) -> (Call, Value) {
            let seats: Vec<(&str, SeatStatus)> = self
                .seats
                .iter()
                .zip(&self.seat)
                .map(|(name, seat)| {
                    let status = match seat {
                        TrueSeat::Free => Available,
                        TrueSeat::Held(_) => HeldSeat,
                        TrueSeat::Sold => Sold,
                    };
                    (name.as_str(), status)
                })
                .collect();
            (read_seats(), seat_map(&seats))
        }

        /// Changes one read so that no order explains it, in one of [`Break`]'s ways (`only`,
        /// or picked at random among those the run allows). How, and what was changed, if the
        /// run had a read to change.
        fn break_a_read(
            &mut self,
            expiry_slack_ms: u64,
            only: Option<Break>,
        ) -> Option<(Break, String)> {
            // Per seat, when an acknowledged buy of it first returned.
            let mut bought_by: HashMap<&str, Nanos> = HashMap::new();
            for op in &self.planned {
                if let Some((returned, Kind::Ok, Value::Bought { seats, .. })) = &op.completion {
                    for seat in seats {
                        let first = bought_by.entry(seat.as_str()).or_insert(*returned);
                        *first = (*first).min(*returned);
                    }
                }
            }
            // (read, seat) pairs each way allows.
            let mut candidates: [Vec<(usize, usize)>; 3] = Default::default();
            for (r, read) in self.planned.iter().enumerate() {
                let Some((_, Kind::Ok, Value::Seats { .. })) = &read.completion else {
                    continue;
                };
                for (s, seat) in self.seats.iter().enumerate() {
                    if !self.maybe_bought[s] {
                        candidates[Break::SoldNeverBought as usize].push((r, s));
                    }
                    if bought_by
                        .get(seat.as_str())
                        .is_some_and(|&returned| returned < read.invoke_ns)
                    {
                        candidates[Break::AvailableAfterBuy as usize].push((r, s));
                    }
                    if self.surely_held(read, s, expiry_slack_ms) {
                        candidates[Break::AvailableWhileHeld as usize].push((r, s));
                    }
                }
            }
            let ways: Vec<Break> = Break::ALL
                .into_iter()
                .filter(|&way| !candidates[way as usize].is_empty())
                .filter(|&way| only.is_none_or(|only| only == way))
                .collect();
            if ways.is_empty() {
                return None;
            }
            let way = ways[self.rng.random_range(0..ways.len())];
            let candidates = &candidates[way as usize];
            let (r, s) = candidates[self.rng.random_range(0..candidates.len())];
            let shown = if way == Break::SoldNeverBought {
                Sold
            } else {
                Available
            };
            let seat = self.seats[s].clone();
            let Some((_, _, Value::Seats { seats, .. })) = &mut self.planned[r].completion else {
                return None;
            };
            seats.insert(seat.clone(), shown);
            let change = format!("{way:?}: read {r} shows {seat} {}", seat_status(shown));
            Some((way, change))
        }

        /// True if seat `s`, shown held by `read`, was held by a hold whose grant returned before
        /// the read and which nothing could have ended before the read returned.
        fn surely_held(&self, read: &Planned, s: usize, expiry_slack_ms: u64) -> bool {
            let Some((read_returned, ..)) = read.completion else {
                return false;
            };
            let Some(hold) = read
                .holders
                .get(s)
                .copied()
                .flatten()
                .map(|h| &self.holds[h])
            else {
                return false;
            };
            let Some(grant) = hold.grant.map(|g| &self.planned[g]) else {
                return false;
            };
            let (Some((granted, ..)), Call::Hold { ttl_ms, .. }) = (&grant.completion, &grant.call)
            else {
                return false;
            };
            let earliest_expiry_ns = (grant.invoke_ns + ttl_ms * NANOS_PER_MS)
                .saturating_sub(expiry_slack_ms * NANOS_PER_MS + SERVER_CLOCK_RESOLUTION_NS);
            let ended = self.planned.iter().any(|op| {
                op.invoke_ns <= read_returned
                    && matches!(&op.call, Call::Release { hold: id, .. } | Call::Buy { hold: id, .. } if *id == hold.id)
            });
            *granted < read.invoke_ns && read_returned < earliest_expiry_ns && !ended
        }

        /// The history: invokes and completions in time order.
        fn history(&self, expiry_slack_ms: u64) -> History {
            let mut records: Vec<(Nanos, usize, OpRecord)> = Vec::new();
            for (n, op) in self.planned.iter().enumerate() {
                let invoke = OpRecord {
                    process: op.process,
                    kind: Kind::Invoke,
                    time_ns: op.invoke_ns,
                    call: Some(op.call.clone()),
                    value: None,
                };
                records.push((op.invoke_ns, 2 * n, invoke));
                if let Some((returned, kind, value)) = &op.completion {
                    let completion = OpRecord {
                        process: op.process,
                        kind: *kind,
                        time_ns: *returned,
                        call: None,
                        value: Some(value.clone()),
                    };
                    records.push((*returned, 2 * n + 1, completion));
                }
            }
            records.sort_by_key(|(time_ns, n, _)| (*time_ns, *n));
            let mut history = History::new(catalog(&self.seats, expiry_slack_ms));
            history.records = records
                .into_iter()
                .map(|(_, _, record)| Record::Op(record))
                .collect();
            history
        }
    }

    #[test]
    fn random_histories_linearizable_by_construction_pass() {
        for seed in 0..RANDOM_RUNS {
            let history = Simulation::run(seed, SMALL).history(0);
            let verdict = check(&history, BUDGET);
            assert_eq!(verdict.status, Status::Valid, "seed {seed}: {verdict:#?}");
        }
    }

    #[test]
    fn random_histories_with_an_impossible_read_are_flagged() {
        let mut flagged = 0;
        let mut flagged_by_way = [0; Break::ALL.len()];
        for seed in 0..RANDOM_RUNS {
            let mut sim = Simulation::run(seed, SMALL);
            let Some((way, change)) = sim.break_a_read(0, None) else {
                continue;
            };
            let verdict = check(&sim.history(0), BUDGET);
            assert_eq!(
                verdict.status,
                Status::Invalid,
                "seed {seed}, {change}: {verdict:#?}"
            );
            assert!(
                verdict.examples[0].contains("the shortest run"),
                "seed {seed}, {change}: {verdict:#?}"
            );
            flagged += 1;
            flagged_by_way[way as usize] += 1;
        }
        assert!(
            flagged > RANDOM_RUNS / 2,
            "only {flagged} runs had a read to break"
        );
        assert!(
            flagged_by_way.iter().all(|&n| n >= 20),
            "each way to break a read should be tried: {flagged_by_way:?}"
        );
    }

    /// Runs shaped like a Jepsen run's seated events (16 buyers, 6% and 20% of operations
    /// indeterminate), scaled to stay quick in debug builds: valid as recorded, flagged with any
    /// one read broken. The full-size runs are the Jepsen suite's own.
    #[test]
    fn a_run_sized_history_is_decided_both_ways() {
        let shape = Shape {
            seats: 60,
            processes: 16,
            ops: 6_000,
            gap_ns_max: 2 * NANOS_PER_MS,
            jitter_ns_max: 20 * NANOS_PER_MS,
            ttl_ms: (500, 5_000),
            lifetime_ms_max: 10_000,
            seats_per_hold_max: 4,
            indeterminate_percent: 6,
        };
        for (seed, indeterminate_percent) in [(0, 6), (1, 20)] {
            let shape = Shape {
                indeterminate_percent,
                ..shape
            };
            println!("{indeterminate_percent}% of operations indeterminate:");
            let sim = Simulation::run(seed, shape);
            let started = Instant::now();
            let verdict = check(&sim.history(0), Duration::from_secs(120));
            println!(
                "seed {seed}: {:?} in {:?}: {}",
                verdict.status,
                started.elapsed(),
                verdict.checked
            );
            assert_eq!(verdict.status, Status::Valid, "seed {seed}: {verdict:#?}");
            for way in Break::ALL {
                let mut broken = sim.clone();
                let Some((_, change)) = broken.break_a_read(0, Some(way)) else {
                    println!("seed {seed}: no read to break as {way:?}");
                    continue;
                };
                let started = Instant::now();
                let verdict = check(&broken.history(0), Duration::from_secs(120));
                println!(
                    "seed {seed}, {change}: {:?} in {:?}",
                    verdict.status,
                    started.elapsed()
                );
                assert_eq!(verdict.status, Status::Invalid, "seed {seed}: {verdict:#?}");
                println!("{}", verdict.examples[0].lines().next().unwrap_or_default());
            }
        }
    }
}
