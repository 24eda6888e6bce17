//! No oversell: a seat is sold to at most one order, and a general-admission area to at most its
//! capacity, in acknowledged buys, in the final order reads and in every seat map read.

use std::collections::BTreeMap;

use super::shared::{self, describe};
use super::Verdict;
use crate::history::{hold_event, Call, Catalog, History, Value};

pub const NAME: &str = "no-oversell";

/// Checks that no seat is sold twice and no area beyond its capacity.
pub fn check(history: &History) -> Verdict {
    let operations = match shared::operations(history, NAME) {
        Ok(operations) => operations,
        Err(verdict) => return verdict,
    };
    let catalog = history.catalog();
    let mut verdict = Verdict::new(NAME);

    // Acknowledged buys: (event, seat) -> order, and (event, area) -> places.
    let mut sold_to: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    let mut bought_places: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let mut buys = 0;
    for op in &operations {
        let (
            Call::Buy { hold, .. },
            Some(Value::Bought {
                order,
                seats,
                places,
                area,
                ..
            }),
        ) = (&op.call, op.ok_value())
        else {
            continue;
        };
        buys += 1;
        let event = hold_event(hold);
        for seat in seats {
            match sold_to.insert((event, seat), order) {
                Some(other) if other != order => verdict.problem(format!(
                    "seat {seat} of {event} acknowledged in two orders: {other} and {order} ({})",
                    describe(op)
                )),
                _ => {}
            }
        }
        if let Some(area) = area {
            *bought_places.entry((event, area)).or_default() += u64::from(*places);
        }
    }
    for ((event, area), places) in bought_places {
        check_capacity(
            &mut verdict,
            &catalog,
            event,
            area,
            places,
            "acknowledged buys",
        );
    }

    // The final order reads: confirmed orders only.
    let mut order_reads = 0;
    for op in &operations {
        let (Call::ReadOrders { .. }, Some(Value::Orders { orders })) = (&op.call, op.ok_value())
        else {
            continue;
        };
        order_reads += 1;
        let mut sold_to: BTreeMap<(&str, &str), &str> = BTreeMap::new();
        let mut places_sold: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for order in orders.iter().filter(|order| order.confirmed) {
            let event = hold_event(&order.hold);
            for seat in &order.seats {
                match sold_to.insert((event, seat), &order.order) {
                    Some(other) if other != order.order => verdict.problem(format!(
                        "the order read {} lists seat {seat} of {event} in two confirmed orders: \
                         {other} and {}",
                        describe(op),
                        order.order
                    )),
                    _ => {}
                }
            }
            if let Some(area) = &order.area {
                *places_sold.entry((event, area)).or_default() += u64::from(order.places);
            }
        }
        let what = format!("confirmed orders of the order read {}", describe(op));
        for ((event, area), places) in places_sold {
            check_capacity(&mut verdict, &catalog, event, area, places, &what);
        }
    }

    // Every seat map: no area more than full.
    let mut seat_reads = 0;
    for op in &operations {
        let (Call::ReadSeats { event, .. }, Some(Value::Seats { areas, .. })) =
            (&op.call, op.ok_value())
        else {
            continue;
        };
        seat_reads += 1;
        for (area, counts) in areas {
            // An area the catalog lacks is the conservation checker's finding.
            let Some(capacity) = area_capacity(&catalog, event, area) else {
                continue;
            };
            let taken = u64::from(counts.sold) + u64::from(counts.held);
            if taken > u64::from(capacity) {
                verdict.problem(format!(
                    "the seat read {} shows area {area} of {event} with {} sold + {} held = \
                     {taken} places, over its capacity of {capacity}",
                    describe(op),
                    counts.sold,
                    counts.held
                ));
            }
        }
    }

    verdict.checked(format!(
        "{buys} acknowledged buys, {order_reads} order reads, {seat_reads} seat reads"
    ))
}

fn area_capacity(catalog: &Catalog, event: &str, area: &str) -> Option<u32> {
    catalog.event(event)?.areas.get(area).copied()
}

/// Flags `places` sold in an area beyond its capacity, or in an area the catalog lacks.
fn check_capacity(
    verdict: &mut Verdict,
    catalog: &Catalog,
    event: &str,
    area: &str,
    places: u64,
    what: &str,
) {
    match area_capacity(catalog, event, area) {
        None if places > 0 => verdict.problem(format!(
            "{what} sell {places} places in area {area} of {event}, which the catalog lacks"
        )),
        Some(capacity) if places > u64::from(capacity) => verdict.problem(format!(
            "{what} sell {places} places in area {area} of {event}, over its capacity of \
             {capacity}"
        )),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::scenario::{order, places_order, Scenario, FEST, GIG};
    use crate::history::Kind;

    fn assert_flags(history: &History, needle: &str) {
        check(history).assert_flags(needle);
    }

    fn assert_passes(history: &History) {
        check(history).assert_valid();
    }

    #[test]
    fn one_seat_acknowledged_in_two_orders_is_an_oversell() {
        let history = Scenario::new()
            .hold(0, (0, 5), "gig~h1", &["A-1-1"])
            .hold(1, (10, 15), "gig~h2", &["A-1-1", "A-1-2"])
            .buy(0, (20, 25), "gig~h1", "o1", &["A-1-1"])
            .buy(1, (30, 35), "gig~h2", "o2", &["A-1-1", "A-1-2"])
            .build();
        assert_flags(
            &history,
            "seat A-1-1 of gig acknowledged in two orders: o1 and o2",
        );
    }

    #[test]
    fn the_same_seat_at_two_events_is_two_seats() {
        let history = Scenario::new()
            .buy(0, (20, 25), "gig~h1", "o1", &["A-1-1"])
            .buy(1, (30, 35), "other~h2", "o2", &["A-1-1"])
            .build();
        assert_passes(&history);
    }

    #[test]
    fn a_final_read_with_one_seat_in_two_confirmed_orders_is_an_oversell() {
        let history = Scenario::new()
            .read_orders(
                0,
                (100, 110),
                GIG,
                vec![
                    order("o1", "gig~h1", &["A-1-1"]),
                    order("o2", "gig~h2", &["A-1-2", "A-1-1"]),
                ],
            )
            .build();
        assert_flags(
            &history,
            "seat A-1-1 of gig in two confirmed orders: o1 and o2",
        );
    }

    #[test]
    fn an_unconfirmed_order_does_not_hold_its_seats() {
        let mut cancelled = order("o1", "gig~h1", &["A-1-1"]);
        cancelled.confirmed = false;
        let history = Scenario::new()
            .read_orders(
                0,
                (100, 110),
                GIG,
                vec![cancelled, order("o2", "gig~h2", &["A-1-1"])],
            )
            .build();
        assert_passes(&history);
    }

    #[test]
    fn a_final_read_selling_an_area_beyond_capacity_is_an_oversell() {
        let history = Scenario::new()
            .read_orders(
                0,
                (100, 110),
                FEST,
                vec![
                    places_order("o1", "fest~h1", "pit", 2),
                    places_order("o2", "fest~h2", "pit", 1),
                    places_order("o3", "fest~h3", "floor", 10),
                ],
            )
            .build();
        assert_flags(
            &history,
            "3 places in area pit of fest, over its capacity of 2",
        );
    }

    #[test]
    fn acknowledged_buys_beyond_an_areas_capacity_are_an_oversell() {
        let history = Scenario::new()
            .buy_places(0, (10, 20), "fest~h1", "o1", "pit", 1)
            .buy_places(1, (10, 20), "fest~h2", "o2", "pit", 1)
            .buy_places(2, (30, 40), "fest~h3", "o3", "pit", 1)
            .build();
        assert_flags(
            &history,
            "acknowledged buys sell 3 places in area pit of fest, over its capacity of 2",
        );
    }

    #[test]
    fn places_bought_in_an_area_the_catalog_lacks_are_flagged() {
        let history = Scenario::new()
            .buy_places(0, (10, 20), "fest~h1", "o1", "balcony", 1)
            .build();
        assert_flags(&history, "area balcony of fest, which the catalog lacks");
    }

    #[test]
    fn a_seat_read_with_more_sold_and_held_than_capacity_is_an_oversell() {
        let history = Scenario::new()
            .read_fest(0, (10, 20), (0, 4, 7), (2, 0, 0))
            .build();
        assert_flags(
            &history,
            "7 sold + 4 held = 11 places, over its capacity of 10",
        );
    }

    #[test]
    fn a_full_house_is_no_oversell() {
        let history = Scenario::new()
            .hold(0, (0, 5), "gig~h1", &["A-1-1", "A-1-2"])
            .hold(1, (0, 5), "gig~h2", &["A-1-3"])
            .buy(0, (10, 15), "gig~h1", "o1", &["A-1-1", "A-1-2"])
            .buy(1, (10, 15), "gig~h2", "o2", &["A-1-3"])
            .buy_places(2, (10, 20), "fest~h3", "o3", "pit", 2)
            .buy_places(3, (10, 20), "fest~h4", "o4", "floor", 10)
            .read_gig(0, (30, 35), &["A-1-1", "A-1-2", "A-1-3"], &["A-1-4"])
            .read_fest(1, (30, 35), (0, 0, 10), (0, 0, 2))
            .read_orders(
                0,
                (100, 110),
                GIG,
                vec![
                    order("o1", "gig~h1", &["A-1-1", "A-1-2"]),
                    order("o2", "gig~h2", &["A-1-3"]),
                ],
            )
            .read_orders(
                1,
                (100, 110),
                FEST,
                vec![
                    places_order("o3", "fest~h3", "pit", 2),
                    places_order("o4", "fest~h4", "floor", 10),
                ],
            )
            .build();
        assert_passes(&history);
    }

    #[test]
    fn failed_and_indeterminate_buys_sell_nothing() {
        let history = Scenario::new()
            .buy(0, (10, 15), "gig~h1", "o1", &["A-1-1"])
            .buy_unknown(1, (10, 15), "gig~h2")
            .buy_rejected(2, (10, 15), "gig~h3")
            .build();
        assert_passes(&history);
    }

    #[test]
    fn a_malformed_history_is_invalid_not_a_panic() {
        let mut history = Scenario::new().build();
        history.complete(9, 5, Kind::Ok, Value::Released { places: 0 });
        assert_flags(&history, "malformed history");
    }
}
