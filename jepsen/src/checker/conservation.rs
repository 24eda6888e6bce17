//! Conservation: every seat map read shows exactly the catalog's seats of its event, each with a
//! status this workload can produce, and every general-admission area's places adding up to its
//! capacity.

use std::collections::BTreeSet;

use super::shared::{self, describe, some_of};
use super::Verdict;
use crate::history::{Call, History, SeatStatus, Value};

pub const NAME: &str = "conservation";

/// Checks that no seat map read loses, invents or miscounts inventory.
pub fn check(history: &History) -> Verdict {
    let operations = match shared::operations(history, NAME) {
        Ok(operations) => operations,
        Err(verdict) => return verdict,
    };
    let catalog = history.catalog();
    let mut verdict = Verdict::new(NAME);
    let mut reads = 0;
    for read in &operations {
        let (Call::ReadSeats { event, .. }, Some(Value::Seats { seats, areas, .. })) =
            (&read.call, read.ok_value())
        else {
            continue;
        };
        reads += 1;
        let shown = describe(read);
        let Some(info) = catalog.event(event) else {
            verdict.problem(format!(
                "the seat read {shown} is of {event}, which the catalog lacks"
            ));
            continue;
        };

        let expected: BTreeSet<&str> = info.seats.iter().map(String::as_str).collect();
        let missing: Vec<&str> = expected
            .iter()
            .copied()
            .filter(|seat| !seats.contains_key(*seat))
            .collect();
        if !missing.is_empty() {
            verdict.problem(format!(
                "the seat read {shown} of {event} lacks seats {}",
                some_of(&missing)
            ));
        }
        let extra: Vec<&str> = seats
            .keys()
            .map(String::as_str)
            .filter(|seat| !expected.contains(seat))
            .collect();
        if !extra.is_empty() {
            verdict.problem(format!(
                "the seat read {shown} of {event} shows seats the catalog lacks: {}",
                some_of(&extra)
            ));
        }
        // Nothing in this workload blocks seats.
        let blocked: Vec<&str> = seats
            .iter()
            .filter(|(_, status)| **status == SeatStatus::Blocked)
            .map(|(seat, _)| seat.as_str())
            .collect();
        if !blocked.is_empty() {
            verdict.problem(format!(
                "the seat read {shown} of {event} shows seats blocked, which nothing in this \
                 workload does: {}",
                some_of(&blocked)
            ));
        }

        for (area, capacity) in &info.areas {
            let Some(counts) = areas.get(area) else {
                verdict.problem(format!(
                    "the seat read {shown} of {event} lacks area {area}"
                ));
                continue;
            };
            if counts.total() != u64::from(*capacity) {
                verdict.problem(format!(
                    "the seat read {shown} shows area {area} of {event} with {} available + {} \
                     held + {} sold + {} blocked = {} places, but it has {capacity}",
                    counts.available,
                    counts.held,
                    counts.sold,
                    counts.blocked,
                    counts.total()
                ));
            }
            if counts.blocked > 0 {
                verdict.problem(format!(
                    "the seat read {shown} shows {} places of area {area} of {event} blocked, \
                     which nothing in this workload does",
                    counts.blocked
                ));
            }
        }
        let extra_areas: Vec<&str> = areas
            .keys()
            .map(String::as_str)
            .filter(|area| !info.areas.contains_key(*area))
            .collect();
        if !extra_areas.is_empty() {
            verdict.problem(format!(
                "the seat read {shown} of {event} shows areas the catalog lacks: {}",
                some_of(&extra_areas)
            ));
        }
    }
    verdict.checked(format!("{reads} seat reads"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::checker::scenario::{Scenario, FEST, GIG, GIG_SEATS};
    use crate::checker::Status;
    use crate::history::AreaCounts;

    fn assert_flags(history: &History, needle: &str) {
        check(history).assert_flags(needle);
    }

    /// The gig's seats, all available, changed by `edit`.
    fn gig_seats(edit: impl FnOnce(&mut BTreeMap<String, SeatStatus>)) -> History {
        let mut seats: BTreeMap<String, SeatStatus> = GIG_SEATS
            .iter()
            .map(|seat| (seat.to_string(), SeatStatus::Available))
            .collect();
        edit(&mut seats);
        Scenario::new()
            .read_seats(0, (10, 20), GIG, seats, BTreeMap::new())
            .build()
    }

    /// The fest's areas, the floor as given, the pit empty.
    fn fest_floor(floor: AreaCounts) -> History {
        let pit = AreaCounts {
            available: 2,
            ..AreaCounts::default()
        };
        let areas = BTreeMap::from([("floor".to_string(), floor), ("pit".to_string(), pit)]);
        Scenario::new()
            .read_seats(0, (10, 20), FEST, BTreeMap::new(), areas)
            .build()
    }

    #[test]
    fn a_seat_read_missing_a_seat_is_flagged() {
        let history = gig_seats(|seats| {
            seats.remove("A-1-3");
        });
        assert_flags(&history, "lacks seats A-1-3");
    }

    #[test]
    fn a_seat_read_with_a_seat_the_catalog_lacks_is_flagged() {
        let history = gig_seats(|seats| {
            seats.insert("Z-9-9".into(), SeatStatus::Held);
        });
        assert_flags(&history, "seats the catalog lacks: Z-9-9");
    }

    #[test]
    fn a_blocked_seat_is_flagged_since_nothing_blocks_seats() {
        let history = gig_seats(|seats| {
            seats.insert("A-1-2".into(), SeatStatus::Blocked);
        });
        assert_flags(
            &history,
            "seats blocked, which nothing in this workload does: A-1-2",
        );
    }

    #[test]
    fn an_area_whose_places_do_not_add_up_to_its_capacity_is_flagged() {
        let history = fest_floor(AreaCounts {
            available: 4,
            held: 2,
            sold: 3,
            blocked: 0,
        });
        assert_flags(
            &history,
            "4 available + 2 held + 3 sold + 0 blocked = 9 places, but it has 10",
        );
    }

    #[test]
    fn an_area_with_blocked_places_is_flagged() {
        let history = fest_floor(AreaCounts {
            available: 4,
            held: 2,
            sold: 3,
            blocked: 1,
        });
        assert_flags(&history, "1 places of area floor of fest blocked");
    }

    #[test]
    fn a_seat_read_missing_an_area_is_flagged() {
        let history = Scenario::new()
            .read_seats(0, (10, 20), FEST, BTreeMap::new(), BTreeMap::new())
            .build();
        assert_flags(&history, "lacks area floor");
    }

    #[test]
    fn a_seat_read_of_an_event_the_catalog_lacks_is_flagged() {
        let history = Scenario::new()
            .read_seats(0, (10, 20), "ghost", BTreeMap::new(), BTreeMap::new())
            .build();
        assert_flags(&history, "is of ghost, which the catalog lacks");
    }

    #[test]
    fn reads_that_account_for_everything_pass() {
        let history = Scenario::new()
            .read_gig(0, (10, 20), &["A-1-1"], &["A-1-2", "A-1-3"])
            .read_fest(1, (10, 20), (3, 4, 3), (0, 1, 1))
            .read_fest(1, (30, 40), (10, 0, 0), (2, 0, 0))
            .build();
        let verdict = check(&history);
        assert_eq!(verdict.status, Status::Valid, "{verdict:?}");
        assert_eq!(verdict.checked, "3 seat reads");
    }
}
