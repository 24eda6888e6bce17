//! Hold semantics: once a read has shown a hold inactive (expired, released or bought, or one of its
//! seats available), nothing buys, extends or releases it any more and no read shows it active
//! again; and a hold that was granted is never unknown to a later read.

use std::collections::BTreeMap;

use super::shared::{self, describe, returned_before};
use super::Verdict;
use crate::history::{hold_event, Call, History, HoldState, Nanos, Operation, SeatStatus, Value};

pub const NAME: &str = "hold-semantics";

/// A hold the client was granted.
#[derive(Debug)]
struct Granted<'a> {
    returned_ns: Nanos,
    seats: &'a [String],
}

/// How a read showed a hold inactive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown<'a> {
    /// A hold read showed it expired, released or bought.
    Status(HoldState),
    /// A seat map begun after the hold was granted showed this seat of it available: the hold had
    /// expired or been released.
    SeatAvailable(&'a str),
}

/// The first read to show a hold inactive.
#[derive(Debug, Clone, Copy)]
struct Inactive<'a> {
    read: &'a Operation,
    returned_ns: Nanos,
    shown: Shown<'a>,
}

impl Inactive<'_> {
    fn describe(&self) -> String {
        match self.shown {
            Shown::Status(state) => {
                format!("the hold read {} showed it {state:?}", describe(self.read))
            }
            Shown::SeatAvailable(seat) => format!(
                "the seat read {} showed its seat {seat} Available",
                describe(self.read)
            ),
        }
    }
}

/// What the checker counted, for the verdict's `checked`.
#[derive(Debug, Default)]
struct Counts {
    buys: u64,
    extends: u64,
    releases: u64,
    hold_reads: u64,
}

/// Checks that inactive holds stay inactive and granted holds stay known.
pub fn check(history: &History) -> Verdict {
    let operations = match shared::operations(history, NAME) {
        Ok(operations) => operations,
        Err(verdict) => return verdict,
    };
    let mut verdict = Verdict::new(NAME);
    let granted = granted_holds(&operations);
    let inactive = first_inactive(&operations, &granted);
    let finals = shared::final_reads(&operations);
    let mut counts = Counts::default();

    for op in &operations {
        let hold = match &op.call {
            Call::Buy { hold, .. } => {
                counts.buys += 1;
                // An indeterminate buy took effect when the final read lists its hold's order.
                let took_effect = op.is_ok()
                    || (op.is_info()
                        && finals
                            .get(hold_event(hold))
                            .is_some_and(|read| read.orders.iter().any(|o| o.hold == *hold)));
                if !took_effect {
                    continue;
                }
                hold
            }
            Call::Extend { hold, .. } => {
                counts.extends += 1;
                if !op.is_ok() {
                    continue;
                }
                hold
            }
            Call::Release { hold, .. } => {
                counts.releases += 1;
                // Releasing an inactive hold is allowed when it gives nothing back.
                if !matches!(op.ok_value(), Some(Value::Released { places }) if *places > 0) {
                    continue;
                }
                hold
            }
            Call::ReadHold { hold, .. } => {
                counts.hold_reads += 1;
                check_hold_read(&mut verdict, op, hold, &granted, &inactive);
                continue;
            }
            _ => continue,
        };
        let Some(first) = inactive.get(hold.as_str()) else {
            continue;
        };
        if first.returned_ns < op.invoke_ns {
            let what = match (&op.call, op.is_info()) {
                (Call::Buy { .. }, true) => "took effect (the final read lists its order)",
                (Call::Release { .. }, _) => "gave places back",
                _ => "succeeded",
            };
            verdict.problem(format!(
                "{} of {hold} ({}) {what}, but {} before it was invoked",
                verb(&op.call),
                describe(op),
                first.describe()
            ));
        }
    }

    let Counts {
        buys,
        extends,
        releases,
        hold_reads,
    } = counts;
    verdict.checked(format!(
        "{} granted holds ({} read inactive), {buys} buys, {extends} extends, {releases} \
         releases, {hold_reads} hold reads",
        granted.len(),
        inactive.len()
    ))
}

fn verb(call: &Call) -> &'static str {
    match call {
        Call::Buy { .. } => "the buy",
        Call::Extend { .. } => "the extend",
        Call::Release { .. } => "the release",
        _ => "the operation",
    }
}

/// The holds the client was granted, by hold id.
fn granted_holds(operations: &[Operation]) -> BTreeMap<&str, Granted<'_>> {
    let mut granted = BTreeMap::new();
    for op in operations {
        let (Call::Hold { .. }, Some(Value::Held { hold, seats, .. }), Some(returned_ns)) =
            (&op.call, op.ok_value(), op.returned_ns)
        else {
            continue;
        };
        granted.insert(hold.as_str(), Granted { returned_ns, seats });
    }
    granted
}

/// Each hold's first read (by return time) that showed it inactive.
fn first_inactive<'a>(
    operations: &'a [Operation],
    granted: &BTreeMap<&'a str, Granted<'a>>,
) -> BTreeMap<&'a str, Inactive<'a>> {
    // (event, seat) -> the granted holds that took the seat and no seat read has shown inactive
    // yet, latest grant first.
    let mut holds_of_seat: BTreeMap<(&str, &str), Vec<(&str, Nanos)>> = BTreeMap::new();
    for (hold, grant) in granted {
        for seat in grant.seats {
            holds_of_seat
                .entry((hold_event(hold), seat))
                .or_default()
                .push((hold, grant.returned_ns));
        }
    }
    for holds in holds_of_seat.values_mut() {
        holds.sort_by_key(|&(_, granted_ns)| std::cmp::Reverse(granted_ns));
    }

    // Reads by return time: a hold's first finding is then the earliest.
    let mut reads: Vec<(&Operation, Nanos)> = operations
        .iter()
        .filter(|op| matches!(op.call, Call::ReadHold { .. } | Call::ReadSeats { .. }))
        .filter_map(|op| op.returned_ns.map(|returned_ns| (op, returned_ns)))
        .collect();
    reads.sort_by_key(|&(_, returned_ns)| returned_ns);

    let mut first: BTreeMap<&str, Inactive<'_>> = BTreeMap::new();
    for (read, returned_ns) in reads {
        match (&read.call, read.ok_value()) {
            (Call::ReadHold { hold, .. }, Some(Value::Hold { status, .. })) => {
                if let Some(state) = status.filter(|state| *state != HoldState::Active) {
                    let shown = Shown::Status(state);
                    first.entry(hold).or_insert(Inactive {
                        read,
                        returned_ns,
                        shown,
                    });
                }
            }
            (Call::ReadSeats { event, .. }, Some(Value::Seats { seats, .. })) => {
                let available = seats
                    .iter()
                    .filter(|(_, status)| **status == SeatStatus::Available);
                for (seat, _) in available {
                    let Some(holds) = holds_of_seat.get_mut(&(event.as_str(), seat.as_str()))
                    else {
                        continue;
                    };
                    // Every hold granted before the read began is now shown inactive, once.
                    while let Some(&(hold, granted_ns)) = holds.last() {
                        if granted_ns >= read.invoke_ns {
                            break;
                        }
                        holds.pop();
                        let shown = Shown::SeatAvailable(seat);
                        first.entry(hold).or_insert(Inactive {
                            read,
                            returned_ns,
                            shown,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    first
}

/// A hold read shows a granted hold known, and an inactive hold not active (nor bought, unless
/// it was shown bought already).
fn check_hold_read(
    verdict: &mut Verdict,
    read: &Operation,
    hold: &str,
    granted: &BTreeMap<&str, Granted<'_>>,
    inactive: &BTreeMap<&str, Inactive<'_>>,
) {
    let Some(Value::Hold { status, .. }) = read.ok_value() else {
        return;
    };
    match status {
        None => {
            if let Some(grant) = granted.get(hold) {
                if grant.returned_ns < read.invoke_ns {
                    verdict.problem(format!(
                        "the hold read {} does not know {hold}, which was granted by {} ms: a \
                         lost hold",
                        describe(read),
                        shared::ms(grant.returned_ns)
                    ));
                }
            }
        }
        Some(state) => {
            let Some(first) = inactive.get(hold) else {
                return;
            };
            let resurrected = match state {
                HoldState::Active => true,
                HoldState::Bought => first.shown != Shown::Status(HoldState::Bought),
                HoldState::Expired | HoldState::Released => false,
            };
            if resurrected && returned_before(first.read, read.invoke_ns) {
                verdict.problem(format!(
                    "the hold read {} shows {hold} {state:?}, but {} before it was invoked",
                    describe(read),
                    first.describe()
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::scenario::{order, Scenario, GIG};

    fn assert_flags(history: &History, needle: &str) {
        check(history).assert_flags(needle);
    }

    fn assert_passes(history: &History) {
        check(history).assert_valid();
    }

    /// gig~h1 holds A-1-1 and A-1-2 from 10 ms; a hold read returning at 40 ms shows it `state`.
    fn read_inactive(state: HoldState) -> Scenario {
        let mut scenario = Scenario::new();
        scenario
            .hold(0, (0, 10), "gig~h1", &["A-1-1", "A-1-2"])
            .read_hold(1, (30, 40), "gig~h1", Some(state));
        scenario
    }

    /// gig~h1 holds A-1-1 and A-1-2 from 10 ms; a seat map returning at 40 ms shows A-1-2
    /// available.
    fn seat_read_available() -> Scenario {
        let mut scenario = Scenario::new();
        scenario
            .hold(0, (0, 10), "gig~h1", &["A-1-1", "A-1-2"])
            .read_gig(1, (30, 40), &[], &["A-1-1"]);
        scenario
    }

    #[test]
    fn a_buy_after_a_read_showed_the_hold_expired_must_not_succeed() {
        let history = read_inactive(HoldState::Expired)
            .buy(0, (50, 60), "gig~h1", "o1", &["A-1-1", "A-1-2"])
            .build();
        assert_flags(&history, "the buy of gig~h1");
        assert_flags(&history, "showed it Expired before it was invoked");
    }

    #[test]
    fn a_buy_after_a_read_showed_the_hold_released_must_not_succeed() {
        let history = read_inactive(HoldState::Released)
            .buy(0, (50, 60), "gig~h1", "o1", &["A-1-1", "A-1-2"])
            .build();
        assert_flags(&history, "showed it Released before it was invoked");
    }

    #[test]
    fn a_buy_after_a_seat_read_showed_a_held_seat_available_must_not_succeed() {
        let history = seat_read_available()
            .buy(0, (50, 60), "gig~h1", "o1", &["A-1-1", "A-1-2"])
            .build();
        assert_flags(
            &history,
            "showed its seat A-1-2 Available before it was invoked",
        );
    }

    #[test]
    fn a_places_buy_after_a_read_showed_the_hold_released_must_not_succeed() {
        let history = Scenario::new()
            .hold_places(0, (0, 10), "fest~h1", "floor", 3)
            .read_hold(1, (30, 40), "fest~h1", Some(HoldState::Released))
            .buy_places(0, (50, 60), "fest~h1", "o1", "floor", 3)
            .build();
        assert_flags(&history, "showed it Released before it was invoked");
    }

    #[test]
    fn an_extend_after_a_read_showed_the_hold_expired_must_not_succeed() {
        let history = read_inactive(HoldState::Expired)
            .extend(0, (50, 60), "gig~h1")
            .build();
        assert_flags(&history, "the extend of gig~h1");
    }

    #[test]
    fn a_release_giving_places_back_after_a_read_showed_the_hold_expired_is_flagged() {
        let history = read_inactive(HoldState::Expired)
            .release(0, (50, 60), "gig~h1", 2)
            .build();
        assert_flags(&history, "the release of gig~h1");
    }

    #[test]
    fn a_release_of_an_expired_hold_that_gives_nothing_back_passes() {
        let history = read_inactive(HoldState::Expired)
            .release(0, (50, 60), "gig~h1", 0)
            .build();
        assert_passes(&history);
    }

    #[test]
    fn an_indeterminate_buy_that_took_effect_after_the_hold_expired_is_flagged() {
        let history = read_inactive(HoldState::Expired)
            .buy_unknown(0, (50, 60), "gig~h1")
            .read_orders(
                0,
                (100, 110),
                GIG,
                vec![order("o1", "gig~h1", &["A-1-1", "A-1-2"])],
            )
            .build();
        assert_flags(&history, "took effect (the final read lists its order)");
    }

    #[test]
    fn only_reads_that_returned_before_the_buy_was_invoked_count() {
        // The reads return (40 ms) after the buy's invoke (35 ms): concurrent operations are the
        // linearizability checker's to order.
        let history = read_inactive(HoldState::Bought)
            .buy(0, (35, 60), "gig~h1", "o1", &["A-1-1", "A-1-2"])
            .build();
        assert_passes(&history);
        let history = seat_read_available()
            .buy(0, (35, 60), "gig~h1", "o1", &["A-1-1", "A-1-2"])
            .build();
        assert_passes(&history);
    }

    #[test]
    fn a_seat_read_begun_before_the_hold_was_granted_says_nothing_of_it() {
        let history = Scenario::new()
            .read_gig(1, (0, 40), &[], &[])
            .hold(0, (0, 10), "gig~h1", &["A-1-1", "A-1-2"])
            .buy(0, (50, 60), "gig~h1", "o1", &["A-1-1", "A-1-2"])
            .build();
        assert_passes(&history);
    }

    #[test]
    fn a_hold_read_that_does_not_know_a_granted_hold_is_a_lost_hold() {
        let history = Scenario::new()
            .hold(0, (0, 10), "gig~h1", &["A-1-1"])
            .read_hold(1, (20, 30), "gig~h1", None)
            .build();
        assert_flags(
            &history,
            "does not know gig~h1, which was granted by 10 ms: a lost hold",
        );
    }

    #[test]
    fn a_hold_read_concurrent_with_the_grant_may_not_know_it() {
        let history = Scenario::new()
            .hold(0, (0, 10), "gig~h1", &["A-1-1"])
            .read_hold(1, (5, 30), "gig~h1", None)
            .build();
        assert_passes(&history);
    }

    #[test]
    fn a_hold_read_active_after_a_read_showed_it_expired_is_flagged() {
        let history = read_inactive(HoldState::Expired)
            .read_hold(2, (50, 60), "gig~h1", Some(HoldState::Active))
            .build();
        assert_flags(&history, "shows gig~h1 Active, but the hold read");
    }

    #[test]
    fn a_hold_read_bought_after_its_seat_read_available_is_flagged() {
        let history = seat_read_available()
            .read_hold(2, (50, 60), "gig~h1", Some(HoldState::Bought))
            .build();
        assert_flags(&history, "shows gig~h1 Bought, but the seat read");
    }

    #[test]
    fn a_hold_bought_then_read_bought_passes() {
        let history = Scenario::new()
            .hold(0, (0, 10), "gig~h1", &["A-1-1", "A-1-2"])
            .read_gig(1, (12, 18), &[], &["A-1-1", "A-1-2"])
            .extend(0, (20, 25), "gig~h1")
            .read_hold(1, (26, 28), "gig~h1", Some(HoldState::Active))
            .buy(0, (30, 40), "gig~h1", "o1", &["A-1-1", "A-1-2"])
            .read_hold(1, (50, 60), "gig~h1", Some(HoldState::Bought))
            .read_hold(1, (70, 80), "gig~h1", Some(HoldState::Bought))
            .release(0, (90, 95), "gig~h1", 0)
            .build();
        assert_passes(&history);
    }
}
