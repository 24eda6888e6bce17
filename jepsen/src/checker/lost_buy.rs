//! No lost buy: every acknowledged buy shows in every read that began after it returned (its seats
//! sold, its places counted, its hold bought, its order in the final read), and the final read
//! decides the indeterminate buys, which must then conflict with nothing.

use std::collections::{BTreeMap, BTreeSet};

use super::shared::{self, describe, ms, FinalRead};
use super::Verdict;
use crate::history::{
    hold_event, Call, Completion, History, HoldState, Nanos, Operation, OrderRecord, SeatStatus,
    Value,
};

pub const NAME: &str = "no-lost-buy";

/// A buy the client saw succeed.
#[derive(Debug)]
struct Acknowledged<'a> {
    op: &'a Operation,
    returned_ns: Nanos,
    hold: &'a str,
    order: &'a str,
    seats: &'a [String],
    places: u32,
    area: Option<&'a str>,
}

/// What the checker counted, for the verdict's `checked`.
#[derive(Debug, Default)]
struct Counts {
    acknowledged: u64,
    /// Acknowledged buys that returned after their event's final read began.
    concurrent_with_final: u64,
    seat_reads: u64,
    hold_reads: u64,
    indeterminate: u64,
    took_effect: u64,
    no_effect: u64,
    unresolved: u64,
}

/// Checks that no acknowledged buy is lost, and resolves the indeterminate ones.
pub fn check(history: &History) -> Verdict {
    let operations = match shared::operations(history, NAME) {
        Ok(operations) => operations,
        Err(verdict) => return verdict,
    };
    let mut verdict = Verdict::new(NAME);
    let mut counts = Counts::default();

    let mut acknowledged: Vec<Acknowledged<'_>> = Vec::new();
    for op in &operations {
        let Call::Buy { hold, .. } = &op.call else {
            continue;
        };
        let Some(value) = op.ok_value() else { continue };
        let Value::Bought {
            order,
            seats,
            places,
            area,
            hold: bought_hold,
        } = value
        else {
            verdict.problem(format!(
                "the buy of {hold} ({}) succeeded without an order: {value:?}",
                describe(op)
            ));
            continue;
        };
        if bought_hold != hold {
            verdict.problem(format!(
                "the buy of {hold} ({}) was answered with order {order} of hold {bought_hold}",
                describe(op)
            ));
        }
        let Some(returned_ns) = op.returned_ns else {
            continue;
        };
        acknowledged.push(Acknowledged {
            op,
            returned_ns,
            hold,
            order,
            seats,
            places: *places,
            area: area.as_deref(),
        });
    }
    acknowledged.sort_by_key(|buy| buy.returned_ns);
    counts.acknowledged = acknowledged.len() as u64;

    check_seat_reads(&mut verdict, &mut counts, &operations, &acknowledged);
    check_hold_reads(&mut verdict, &mut counts, &operations, &acknowledged);
    check_final_reads(&mut verdict, &mut counts, &operations, &acknowledged);

    let Counts {
        acknowledged,
        concurrent_with_final,
        seat_reads,
        hold_reads,
        indeterminate,
        took_effect,
        no_effect,
        unresolved,
    } = counts;
    verdict.checked(format!(
        "{acknowledged} acknowledged buys ({concurrent_with_final} concurrent with their final \
         read), {seat_reads} seat reads, {hold_reads} hold reads; {indeterminate} indeterminate \
         buys: {took_effect} took effect, {no_effect} did not, {unresolved} unresolved"
    ))
}

/// A seat map begun after a buy returned shows its seats sold and counts its places as sold.
fn check_seat_reads(
    verdict: &mut Verdict,
    counts: &mut Counts,
    operations: &[Operation],
    acknowledged: &[Acknowledged<'_>],
) {
    // Per event: each seat's first acknowledged buy, and each area's buys by return time with the
    // places bought up to and including each (`acknowledged` is sorted by return time).
    let mut first_sold: BTreeMap<&str, BTreeMap<&str, &Acknowledged<'_>>> = BTreeMap::new();
    let mut places_by: BTreeMap<(&str, &str), Vec<(Nanos, u64)>> = BTreeMap::new();
    for buy in acknowledged {
        let event = hold_event(buy.hold);
        let seats = first_sold.entry(event).or_default();
        for seat in buy.seats {
            seats.entry(seat.as_str()).or_insert(buy);
        }
        if let Some(area) = buy.area {
            let timeline = places_by.entry((event, area)).or_default();
            let before = timeline.last().map_or(0, |&(_, places)| places);
            timeline.push((buy.returned_ns, before + u64::from(buy.places)));
        }
    }

    for read in operations {
        let (Call::ReadSeats { event, .. }, Some(Value::Seats { seats, areas, .. })) =
            (&read.call, read.ok_value())
        else {
            continue;
        };
        counts.seat_reads += 1;
        for (seat, buy) in first_sold.get(event.as_str()).into_iter().flatten() {
            if buy.returned_ns >= read.invoke_ns {
                continue;
            }
            let status = seats.get(*seat);
            if status != Some(&SeatStatus::Sold) {
                let shown = status.map_or_else(|| "missing".to_string(), |s| format!("{s:?}"));
                verdict.problem(format!(
                    "the seat read {} shows seat {seat} of {event} {shown}, but order {} bought it \
                     by {} ms",
                    describe(read),
                    buy.order,
                    ms(buy.returned_ns)
                ));
            }
        }
        let event_areas = places_by
            .range((event.as_str(), "")..)
            .take_while(|((of, _), _)| *of == event.as_str());
        for ((_, area), timeline) in event_areas {
            let returned_before = timeline.partition_point(|&(at, _)| at < read.invoke_ns);
            let Some(&(_, bought)) = returned_before
                .checked_sub(1)
                .and_then(|last| timeline.get(last))
            else {
                continue;
            };
            let sold = areas.get(*area).map_or(0, |counts| counts.sold);
            if u64::from(sold) < bought {
                verdict.problem(format!(
                    "the seat read {} shows {sold} places sold in area {area} of {event}, but \
                     acknowledged buys had bought {bought} before it began",
                    describe(read)
                ));
            }
        }
    }
}

/// A hold read begun after the hold's buy returned shows it bought.
fn check_hold_reads(
    verdict: &mut Verdict,
    counts: &mut Counts,
    operations: &[Operation],
    acknowledged: &[Acknowledged<'_>],
) {
    let bought: BTreeMap<&str, &Acknowledged<'_>> =
        acknowledged.iter().map(|buy| (buy.hold, buy)).collect();
    for read in operations {
        let (Call::ReadHold { hold, .. }, Some(Value::Hold { status, .. })) =
            (&read.call, read.ok_value())
        else {
            continue;
        };
        counts.hold_reads += 1;
        let Some(buy) = bought.get(hold.as_str()) else {
            continue;
        };
        if buy.returned_ns < read.invoke_ns && *status != Some(HoldState::Bought) {
            verdict.problem(format!(
                "the hold read {} shows {hold} {status:?}, but order {} bought it by {} ms",
                describe(read),
                buy.order,
                ms(buy.returned_ns)
            ));
        }
    }
}

/// The final order read of each event holds every acknowledged buy and decides the indeterminate
/// ones; it holds no order that no buy asked for, or that a failed buy asked for.
fn check_final_reads(
    verdict: &mut Verdict,
    counts: &mut Counts,
    operations: &[Operation],
    acknowledged: &[Acknowledged<'_>],
) {
    let finals = shared::final_reads(operations);
    let buys: Vec<&Operation> = operations
        .iter()
        .filter(|op| matches!(op.call, Call::Buy { .. }))
        .collect();
    let mut buy_of_hold: BTreeMap<&str, &Operation> = BTreeMap::new();
    for op in &buys {
        if let Call::Buy { hold, .. } = &op.call {
            buy_of_hold.entry(hold).or_insert(op);
        }
    }

    // Events without a final read: their acknowledged buys cannot be checked.
    let mut unread: BTreeMap<&str, u64> = BTreeMap::new();
    for buy in acknowledged {
        let event = hold_event(buy.hold);
        if !finals.contains_key(event) {
            *unread.entry(event).or_default() += 1;
        }
    }
    for (event, buys) in unread {
        verdict.problem(format!(
            "no final read of {event}: its {buys} acknowledged buys cannot be found"
        ));
    }

    for (event, read) in &finals {
        check_final_read(verdict, counts, event, read, acknowledged, &buy_of_hold);
    }

    for op in &buys {
        let Call::Buy { hold, .. } = &op.call else {
            continue;
        };
        if op.is_info() {
            counts.indeterminate += 1;
            match finals.get(hold_event(hold)) {
                None => counts.unresolved += 1,
                Some(read) if read.orders.iter().any(|order| order.hold == *hold) => {
                    counts.took_effect += 1;
                }
                Some(_) => counts.no_effect += 1,
            }
        }
    }
}

fn check_final_read(
    verdict: &mut Verdict,
    counts: &mut Counts,
    event: &str,
    read: &FinalRead<'_>,
    acknowledged: &[Acknowledged<'_>],
    buy_of_hold: &BTreeMap<&str, &Operation>,
) {
    let final_op = describe(read.op);
    let mut by_id: BTreeMap<&str, &OrderRecord> = BTreeMap::new();
    let mut by_hold: BTreeMap<&str, &OrderRecord> = BTreeMap::new();
    // Seat -> the orders the final read lists it in.
    let mut orders_of_seat: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for order in &read.orders {
        if by_id.insert(&order.order, order).is_some() {
            verdict.problem(format!(
                "the final read {final_op} of {event} lists order {} twice",
                order.order
            ));
        }
        if let Some(other) = by_hold.insert(&order.hold, order) {
            verdict.problem(format!(
                "the final read {final_op} of {event} lists two orders of hold {}: {} and {}",
                order.hold, other.order, order.order
            ));
        }
        if !order.confirmed {
            verdict.problem(format!(
                "the final read {final_op} of {event} lists order {} unconfirmed, but this \
                 workload cancels nothing",
                order.order
            ));
        }
        for seat in &order.seats {
            orders_of_seat.entry(seat).or_default().insert(&order.order);
        }
        match buy_of_hold.get(order.hold.as_str()) {
            None => verdict.problem(format!(
                "the final read {final_op} of {event} lists order {} of hold {}, which no client \
                 bought",
                order.order, order.hold
            )),
            Some(buy) => {
                if let Completion::Fail(value) = &buy.completion {
                    verdict.problem(format!(
                        "the buy of {} ({}) failed ({value:?}), so it took no effect, but the \
                         final read {final_op} lists its order {}",
                        order.hold,
                        describe(buy),
                        order.order
                    ));
                }
            }
        }
    }

    // Every acknowledged buy of the event that returned before the final read began.
    let mut acknowledged_seats: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for buy in acknowledged.iter().filter(|b| hold_event(b.hold) == event) {
        for seat in buy.seats {
            acknowledged_seats
                .entry(seat)
                .or_default()
                .insert(buy.order);
        }
        if buy.returned_ns >= read.op.invoke_ns {
            counts.concurrent_with_final += 1;
            continue;
        }
        let Some(order) = by_id.get(buy.order) else {
            verdict.problem(format!(
                "order {} of hold {}, acknowledged by {} ms ({}), is missing from the final read \
                 {final_op}",
                buy.order,
                buy.hold,
                ms(buy.returned_ns),
                describe(buy.op)
            ));
            continue;
        };
        let mut differences = Vec::new();
        if order.hold != buy.hold {
            differences.push(format!("hold {} (acknowledged {})", order.hold, buy.hold));
        }
        if !order.confirmed {
            differences.push("unconfirmed".to_string());
        }
        let read_seats: BTreeSet<&str> = order.seats.iter().map(String::as_str).collect();
        let bought_seats: BTreeSet<&str> = buy.seats.iter().map(String::as_str).collect();
        if read_seats != bought_seats {
            differences.push(format!(
                "seats {read_seats:?} (acknowledged {bought_seats:?})"
            ));
        }
        if order.places != buy.places || order.area.as_deref() != buy.area {
            differences.push(format!(
                "{} places in {:?} (acknowledged {} in {:?})",
                order.places, order.area, buy.places, buy.area
            ));
        }
        if !differences.is_empty() {
            verdict.problem(format!(
                "order {} as the final read {final_op} lists it differs from its acknowledgement \
                 ({}): {}",
                buy.order,
                describe(buy.op),
                differences.join(", ")
            ));
        }
    }

    // Indeterminate buys that took effect conflict with no other order.
    for order in &read.orders {
        let Some(buy) = buy_of_hold.get(order.hold.as_str()) else {
            continue;
        };
        if !buy.is_info() {
            continue;
        }
        for seat in &order.seats {
            let others: BTreeSet<&str> = orders_of_seat
                .get(seat.as_str())
                .into_iter()
                .chain(acknowledged_seats.get(seat.as_str()))
                .flatten()
                .copied()
                .filter(|other| *other != order.order)
                .collect();
            if !others.is_empty() {
                verdict.problem(format!(
                    "the indeterminate buy of {} ({}) took effect as order {}, but its seat \
                     {seat} is also in order(s) {}",
                    order.hold,
                    describe(buy),
                    order.order,
                    shared::some_of(&others.into_iter().collect::<Vec<_>>())
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::scenario::{order, places_order, Scenario, FEST, GIG};

    fn assert_flags(history: &History, needle: &str) {
        check(history).assert_flags(needle);
    }

    fn assert_passes(history: &History) -> Verdict {
        let verdict = check(history);
        verdict.assert_valid();
        verdict
    }

    /// A hold of A-1-1 and A-1-2 bought as order o1, acknowledged at 30 ms.
    fn bought_pair() -> Scenario {
        let mut scenario = Scenario::new();
        scenario
            .hold(0, (0, 10), "gig~h1", &["A-1-1", "A-1-2"])
            .buy(0, (20, 30), "gig~h1", "o1", &["A-1-1", "A-1-2"]);
        scenario
    }

    fn o1() -> OrderRecord {
        order("o1", "gig~h1", &["A-1-1", "A-1-2"])
    }

    #[test]
    fn a_seat_read_after_the_buy_must_show_its_seats_sold() {
        let history = bought_pair()
            .read_gig(1, (40, 50), &["A-1-1"], &[])
            .read_orders(0, (100, 110), GIG, vec![o1()])
            .build();
        assert_flags(
            &history,
            "shows seat A-1-2 of gig Available, but order o1 bought it by 30 ms",
        );
    }

    #[test]
    fn a_seat_read_concurrent_with_the_buy_may_miss_it() {
        let history = bought_pair()
            .read_gig(1, (25, 50), &[], &["A-1-1", "A-1-2"])
            .read_orders(0, (100, 110), GIG, vec![o1()])
            .build();
        assert_passes(&history);
    }

    #[test]
    fn a_seat_read_after_a_places_buy_must_count_its_places_sold() {
        let history = Scenario::new()
            .buy_places(0, (10, 20), "fest~h1", "o1", "floor", 3)
            .buy_places(1, (10, 22), "fest~h2", "o2", "floor", 2)
            .buy_places(2, (10, 80), "fest~h3", "o3", "floor", 4)
            .read_fest(3, (30, 40), (5, 0, 4), (2, 0, 0))
            .read_orders(
                0,
                (100, 110),
                FEST,
                vec![
                    places_order("o1", "fest~h1", "floor", 3),
                    places_order("o2", "fest~h2", "floor", 2),
                    places_order("o3", "fest~h3", "floor", 4),
                ],
            )
            .build();
        assert_flags(
            &history,
            "shows 4 places sold in area floor of fest, but acknowledged buys had bought 5",
        );
    }

    #[test]
    fn places_counted_at_or_above_what_was_bought_pass() {
        let history = Scenario::new()
            .buy_places(0, (10, 20), "fest~h1", "o1", "floor", 3)
            .buy_places(1, (10, 80), "fest~h2", "o2", "pit", 2)
            .read_fest(3, (30, 40), (6, 0, 4), (2, 0, 0))
            .read_orders(
                0,
                (100, 110),
                FEST,
                vec![
                    places_order("o1", "fest~h1", "floor", 3),
                    places_order("o2", "fest~h2", "pit", 2),
                ],
            )
            .build();
        assert_passes(&history);
    }

    #[test]
    fn a_hold_read_after_the_buy_must_show_it_bought() {
        let history = bought_pair()
            .read_hold(1, (40, 50), "gig~h1", Some(HoldState::Active))
            .read_orders(0, (100, 110), GIG, vec![o1()])
            .build();
        assert_flags(
            &history,
            "shows gig~h1 Some(Active), but order o1 bought it",
        );
    }

    #[test]
    fn an_acknowledged_order_missing_from_the_final_read_is_lost() {
        let history = bought_pair()
            .read_orders(0, (100, 110), GIG, vec![])
            .build();
        assert_flags(&history, "order o1 of hold gig~h1, acknowledged by 30 ms");
    }

    #[test]
    fn an_acknowledged_order_with_other_seats_in_the_final_read_is_flagged() {
        let history = bought_pair()
            .read_orders(
                0,
                (100, 110),
                GIG,
                vec![order("o1", "gig~h1", &["A-1-1", "A-1-3"])],
            )
            .build();
        assert_flags(&history, "differs from its acknowledgement");
    }

    #[test]
    fn an_unconfirmed_order_is_flagged_since_nothing_is_cancelled() {
        let mut unconfirmed = o1();
        unconfirmed.confirmed = false;
        let history = bought_pair()
            .read_orders(0, (100, 110), GIG, vec![unconfirmed])
            .build();
        assert_flags(&history, "unconfirmed, but this workload cancels nothing");
    }

    #[test]
    fn acknowledged_buys_without_a_final_read_are_a_problem() {
        let history = bought_pair().build();
        assert_flags(&history, "no final read of gig");
    }

    #[test]
    fn an_order_of_a_failed_buy_is_flagged() {
        let history = Scenario::new()
            .hold(0, (0, 10), "gig~h1", &["A-1-1"])
            .buy_rejected(0, (20, 30), "gig~h1")
            .read_orders(0, (100, 110), GIG, vec![order("o1", "gig~h1", &["A-1-1"])])
            .build();
        assert_flags(&history, "failed (Rejected");
    }

    #[test]
    fn an_order_no_client_bought_is_flagged() {
        let history = Scenario::new()
            .read_orders(0, (100, 110), GIG, vec![order("o9", "gig~h9", &["A-1-1"])])
            .build();
        assert_flags(&history, "order o9 of hold gig~h9, which no client bought");
    }

    #[test]
    fn indeterminate_buys_are_resolved_by_the_final_read() {
        let verdict = assert_passes(
            &bought_pair()
                .hold(1, (0, 10), "gig~h2", &["A-1-3"])
                .buy_unknown(1, (20, 30), "gig~h2")
                .hold(2, (0, 10), "gig~h3", &["A-1-4"])
                .buy_unknown(2, (20, 30), "gig~h3")
                .pending(
                    3,
                    40,
                    Call::Buy {
                        hold: "fest~h4".into(),
                        customer: "c3".into(),
                    },
                )
                .read_orders(
                    0,
                    (100, 110),
                    GIG,
                    vec![o1(), order("o2", "gig~h2", &["A-1-3"])],
                )
                .build(),
        );
        assert!(
            verdict
                .checked
                .contains("3 indeterminate buys: 1 took effect, 1 did not, 1 unresolved"),
            "{verdict:?}"
        );
    }

    #[test]
    fn an_indeterminate_buy_that_took_effect_must_not_take_sold_seats() {
        let history = bought_pair()
            .hold(1, (0, 10), "gig~h2", &["A-1-2"])
            .buy_unknown(1, (20, 30), "gig~h2")
            .read_orders(
                0,
                (100, 110),
                GIG,
                vec![o1(), order("o2", "gig~h2", &["A-1-2"])],
            )
            .build();
        assert_flags(
            &history,
            "took effect as order o2, but its seat A-1-2 is also in order(s) o1",
        );
    }

    #[test]
    fn an_indeterminate_buy_must_not_take_seats_an_acknowledged_buy_took() {
        // The final read lost o1 (flagged on its own) and shows o2 in its place.
        let history = bought_pair()
            .buy_unknown(1, (20, 30), "gig~h2")
            .read_orders(0, (100, 110), GIG, vec![order("o2", "gig~h2", &["A-1-1"])])
            .build();
        assert_flags(&history, "its seat A-1-1 is also in order(s) o1");
    }

    #[test]
    fn a_buy_returning_after_the_final_read_began_need_not_be_in_it() {
        let verdict = assert_passes(
            &Scenario::new()
                .buy(0, (20, 130), "gig~h1", "o1", &["A-1-1"])
                .read_orders(1, (100, 110), GIG, vec![])
                .build(),
        );
        assert!(
            verdict
                .checked
                .contains("1 concurrent with their final read"),
            "{verdict:?}"
        );
    }

    #[test]
    fn a_run_whose_buys_all_show_everywhere_passes() {
        let history = bought_pair()
            .read_gig(1, (40, 50), &["A-1-1", "A-1-2"], &[])
            .read_hold(1, (60, 70), "gig~h1", Some(HoldState::Bought))
            .read_orders(0, (100, 110), GIG, vec![o1()])
            .build();
        assert_passes(&history);
    }
}
