//! The seeded request generators of the three workloads (storm, many-events, expiry-storm): the
//! same seed gives every store the same sequence of hold requests and buy/release decisions.

use std::fmt;
use std::str::FromStr;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::model::{Layout, Pick, SeatRef};

/// A workload's name on the command line and in results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WorkloadKind {
    Storm,
    ManyEvents,
    ExpiryStorm,
}

impl WorkloadKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            WorkloadKind::Storm => "storm",
            WorkloadKind::ManyEvents => "many-events",
            WorkloadKind::ExpiryStorm => "expiry-storm",
        }
    }
}

/// Why a workload option was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkloadError {
    #[error("{0}")]
    Invalid(String),
}

/// How many seats a hold asks for: `N` or `MIN..MAX` (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatsPerHold {
    pub min: u32,
    pub max: u32,
}

impl FromStr for SeatsPerHold {
    type Err = WorkloadError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (low, high) = text
            .split_once("..=")
            .or_else(|| text.split_once(".."))
            .unwrap_or((text, text));
        let parse = |s: &str| {
            s.trim().parse::<u32>().map_err(|_| {
                WorkloadError::Invalid(format!("seats per hold: {text:?} is not N or MIN..MAX"))
            })
        };
        let (min, max) = (parse(low)?, parse(high)?);
        if min == 0 || max < min || max > SEATS_PER_HOLD_MAX {
            return Err(WorkloadError::Invalid(format!(
                "seats per hold: need 1 <= MIN <= MAX <= {SEATS_PER_HOLD_MAX}, got {text:?}"
            )));
        }
        Ok(SeatsPerHold { min, max })
    }
}

impl fmt::Display for SeatsPerHold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}..{}", self.min, self.max)
        }
    }
}

/// Salts the seed for the storm's buy/release draws, apart from its pool shuffle.
const STORM_STREAM: u64 = 0x5EED_5701;
/// Salts the seed for the expiry storm's placement order.
const EXPIRY_STREAM: u64 = 0xE791_E5EE;

/// Most seats one hold of the benchmark asks for (Boxoffice events are created with this limit).
pub const SEATS_PER_HOLD_MAX: u32 = 8;

/// Specific seats or best available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PickMode {
    Specific,
    BestAvailable,
}

/// How demand spreads over the events of many-events.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Demand {
    Uniform,
    /// Event of rank r (from 1) drawn with weight 1 / r^exponent.
    Zipf {
        exponent: f64,
    },
}

/// What a buyer does after a successful hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AfterHold {
    Buy,
    Release,
    /// Leave it to expire.
    Abandon,
}

/// One planned request: what to hold and what to do with the hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedRequest {
    pub pick: Pick,
    pub after: AfterHold,
}

/// Percentages deciding what follows a hold: `buy_pct` buy; of the rest, `abandon_pct` abandon
/// and the others release.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AfterHoldMix {
    pub buy_pct: f64,
    pub abandon_pct: f64,
}

impl AfterHoldMix {
    pub const BUY_ALL: AfterHoldMix = AfterHoldMix {
        buy_pct: 100.0,
        abandon_pct: 100.0,
    };

    fn draw(&self, rng: &mut ChaCha8Rng) -> AfterHold {
        if rng.random_range(0.0..100.0) < self.buy_pct {
            AfterHold::Buy
        } else if rng.random_range(0.0..100.0) < self.abandon_pct {
            AfterHold::Abandon
        } else {
            AfterHold::Release
        }
    }
}

/// The storm's request pool: every seat of `event` exactly `contention` times, shuffled by `seed`.
pub fn storm_pool(layout: &Layout, event: u32, contention: u32, seed: u64) -> Vec<SeatRef> {
    let seats = layout.seats();
    let mut pool: Vec<SeatRef> = (0..contention)
        .flat_map(|_| (0..seats).map(|i| layout.seat_at(event, i)))
        .collect();
    pool.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    pool
}

/// The storm's requests, in order: each takes its next k pool entries (k drawn from
/// `seats_per_hold`), deduplicated; best-available asks for k seats in the section of the first.
pub fn storm_requests(
    pool: &[SeatRef],
    seats_per_hold: SeatsPerHold,
    pick: PickMode,
    mix: AfterHoldMix,
    seed: u64,
) -> Vec<PlannedRequest> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ STORM_STREAM);
    let mut requests = Vec::new();
    let mut rest = pool;
    while !rest.is_empty() {
        let k = rng.random_range(seats_per_hold.min..=seats_per_hold.max) as usize;
        let (taken, left) = rest.split_at(k.min(rest.len()));
        rest = left;
        let pick = match pick {
            PickMode::Specific => {
                let mut seats = taken.to_vec();
                seats.sort_unstable();
                seats.dedup();
                Pick::Seats(seats)
            }
            PickMode::BestAvailable => Pick::BestAvailable {
                event: taken[0].event,
                section: taken[0].section,
                quantity: taken.len() as u32,
            },
        };
        requests.push(PlannedRequest {
            pick,
            after: mix.draw(&mut rng),
        });
    }
    requests
}

/// The many-events generator: request `i` is a pure function of the seed and `i`, so the sequence
/// is the same for every store however many requests a run gets through.
#[derive(Debug, Clone)]
pub struct ManyEvents {
    seed: u64,
    /// Events are numbered from this one.
    first_event: u32,
    layout: Layout,
    /// Cumulative weights of events 0.. (event 0 most popular under zipf).
    cdf: Vec<f64>,
    seats_per_hold: SeatsPerHold,
    pick: PickMode,
    mix: AfterHoldMix,
}

impl ManyEvents {
    pub fn new(
        seed: u64,
        events: u32,
        layout: Layout,
        demand: Demand,
        seats_per_hold: SeatsPerHold,
        pick: PickMode,
        mix: AfterHoldMix,
    ) -> Result<ManyEvents, WorkloadError> {
        if events == 0 || layout.seats() == 0 {
            return Err(WorkloadError::Invalid(
                "many-events needs at least one event with seats".into(),
            ));
        }
        let mut total = 0.0;
        let cdf = (1..=events)
            .map(|rank| {
                total += match demand {
                    Demand::Uniform => 1.0,
                    Demand::Zipf { exponent } => 1.0 / f64::from(rank).powf(exponent),
                };
                total
            })
            .collect();
        Ok(ManyEvents {
            seed,
            first_event: 0,
            layout,
            cdf,
            seats_per_hold,
            pick,
            mix,
        })
    }

    /// The same demand over events numbered from `first` (the expiry storm's separate event).
    pub fn from_event(mut self, first: u32) -> ManyEvents {
        self.first_event = first;
        self
    }

    pub fn events(&self) -> u32 {
        self.cdf.len() as u32
    }

    /// The `i`-th request: an event by demand, then k adjacent seats of one row from a random
    /// place (fewer at the row's end), or best-available in a random section.
    pub fn request(&self, i: u64) -> PlannedRequest {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(i);
        let total = self.cdf.last().copied().unwrap_or(1.0);
        let x = rng.random_range(0.0..total);
        let rank = self
            .cdf
            .partition_point(|&c| c <= x)
            .min(self.cdf.len() - 1) as u32;
        let event = self.first_event + rank;
        let k = rng.random_range(self.seats_per_hold.min..=self.seats_per_hold.max);
        let section = rng.random_range(0..self.layout.sections);
        let pick = match self.pick {
            PickMode::Specific => {
                let row = rng.random_range(0..self.layout.rows);
                let start = rng.random_range(0..self.layout.seats_per_row);
                let end = (u32::from(start) + k).min(u32::from(self.layout.seats_per_row)) as u16;
                Pick::Seats(
                    (start..end)
                        .map(|seat| SeatRef {
                            event,
                            section,
                            row,
                            seat,
                        })
                        .collect(),
                )
            }
            PickMode::BestAvailable => Pick::BestAvailable {
                event,
                section,
                quantity: k,
            },
        };
        PlannedRequest {
            pick,
            after: self.mix.draw(&mut rng),
        }
    }
}

/// The expiry storm's placements: every seat of events `0..events` once, one seat a hold,
/// shuffled by the seed, never bought.
pub fn expiry_placements(layout: &Layout, events: u32, seed: u64) -> Vec<PlannedRequest> {
    let mut seats: Vec<SeatRef> = (0..events)
        .flat_map(|event| (0..layout.seats()).map(move |i| layout.seat_at(event, i)))
        .collect();
    seats.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ EXPIRY_STREAM));
    seats
        .into_iter()
        .map(|seat| PlannedRequest {
            pick: Pick::Seats(vec![seat]),
            after: AfterHold::Abandon,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::HashMap;

    use super::*;

    const SMALL: Layout = Layout {
        sections: 3,
        rows: 4,
        seats_per_row: 5,
    };

    #[test]
    fn seats_per_hold_parses_n_and_ranges() {
        assert_eq!(
            "1".parse::<SeatsPerHold>().unwrap(),
            SeatsPerHold { min: 1, max: 1 }
        );
        assert_eq!(
            "1..4".parse::<SeatsPerHold>().unwrap(),
            SeatsPerHold { min: 1, max: 4 }
        );
        assert_eq!(
            "2..=3".parse::<SeatsPerHold>().unwrap(),
            SeatsPerHold { min: 2, max: 3 }
        );
        for bad in ["0", "4..1", "x", "1..99"] {
            assert!(bad.parse::<SeatsPerHold>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_pool_holds_every_seat_exactly_contention_times() {
        for contention in [1, 2, 10] {
            let pool = storm_pool(&SMALL, 0, contention, 7);
            assert_eq!(pool.len() as u32, SMALL.seats() * contention);
            let mut counts: HashMap<SeatRef, u32> = HashMap::new();
            for seat in &pool {
                *counts.entry(*seat).or_default() += 1;
            }
            assert_eq!(counts.len() as u32, SMALL.seats());
            assert!(counts.values().all(|&n| n == contention));
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_requests_and_another_seed_others() {
        let spec = SeatsPerHold { min: 1, max: 4 };
        let mix = AfterHoldMix {
            buy_pct: 50.0,
            abandon_pct: 50.0,
        };
        let make = |seed| {
            storm_requests(
                &storm_pool(&SMALL, 0, 2, seed),
                spec,
                PickMode::Specific,
                mix,
                seed,
            )
        };
        assert_eq!(make(1), make(1));
        assert_ne!(make(1), make(2));
        let events = |seed| {
            let g = ManyEvents::new(
                seed,
                10,
                SMALL,
                Demand::Zipf { exponent: 1.0 },
                spec,
                PickMode::Specific,
                mix,
            )
            .unwrap();
            (0..200).map(|i| g.request(i)).collect::<Vec<_>>()
        };
        assert_eq!(events(3), events(3));
        assert_ne!(events(3), events(4));
    }

    #[test]
    fn single_seat_storm_requests_use_the_whole_pool_in_order() {
        let pool = storm_pool(&SMALL, 0, 2, 9);
        let requests = storm_requests(
            &pool,
            SeatsPerHold { min: 1, max: 1 },
            PickMode::Specific,
            AfterHoldMix::BUY_ALL,
            9,
        );
        assert_eq!(requests.len(), pool.len());
        for (request, seat) in requests.iter().zip(&pool) {
            assert_eq!(request.pick, Pick::Seats(vec![*seat]));
            assert_eq!(request.after, AfterHold::Buy);
        }
    }

    #[test]
    fn multi_seat_requests_are_deduplicated_and_cover_the_pool() {
        let pool = storm_pool(&SMALL, 0, 10, 5);
        let spec = SeatsPerHold { min: 1, max: 4 };
        let requests = storm_requests(&pool, spec, PickMode::Specific, AfterHoldMix::BUY_ALL, 5);
        let mut taken = 0;
        for request in &requests {
            let Pick::Seats(seats) = &request.pick else {
                panic!("specific")
            };
            assert!(!seats.is_empty() && seats.len() <= 4);
            let mut unique = seats.clone();
            unique.dedup();
            assert_eq!(&unique, seats);
            taken += seats.len();
        }
        // Deduplication may only shrink a request.
        assert!(taken <= pool.len());
        assert!(taken > pool.len() * 9 / 10);
    }

    #[test]
    fn zipf_demand_favours_the_first_events_and_uniform_spreads() {
        let spec = SeatsPerHold { min: 1, max: 1 };
        let count = |demand| {
            let g = ManyEvents::new(
                11,
                100,
                SMALL,
                demand,
                spec,
                PickMode::Specific,
                AfterHoldMix::BUY_ALL,
            )
            .unwrap();
            let mut per_event = vec![0u32; 100];
            for i in 0..20_000 {
                per_event[g.request(i).pick.event() as usize] += 1;
            }
            per_event
        };
        let zipf = count(Demand::Zipf { exponent: 1.0 });
        assert!(zipf[0] > 5 * zipf[50], "{:?}", &zipf[..10]);
        let uniform = count(Demand::Uniform);
        assert!(uniform.iter().all(|&n| (100..=300).contains(&n)));
    }

    #[test]
    fn demand_can_start_at_another_event() {
        let g = ManyEvents::new(
            1,
            1,
            SMALL,
            Demand::Uniform,
            SeatsPerHold { min: 1, max: 2 },
            PickMode::Specific,
            AfterHoldMix::BUY_ALL,
        )
        .unwrap()
        .from_event(7);
        assert!((0..100).all(|i| g.request(i).pick.event() == 7));
    }

    #[test]
    fn expiry_placements_cover_every_seat_once() {
        let placements = expiry_placements(&SMALL, 2, 1);
        assert_eq!(placements.len() as u32, 2 * SMALL.seats());
        let mut seats: Vec<SeatRef> = placements
            .iter()
            .map(|p| match &p.pick {
                Pick::Seats(s) => s[0],
                Pick::BestAvailable { .. } => panic!("specific"),
            })
            .collect();
        seats.sort_unstable();
        seats.dedup();
        assert_eq!(seats.len() as u32, 2 * SMALL.seats());
    }

    #[test]
    fn layout_indexes_round_trip() {
        for i in 0..SMALL.seats() {
            let seat = SMALL.seat_at(4, i);
            assert!(SMALL.contains(&seat));
            assert_eq!(SMALL.index_of(&seat), i);
        }
    }
}
