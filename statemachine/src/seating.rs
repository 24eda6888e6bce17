//! Best-available seat selection: a pure choice over rows of free and taken seats.
//!
//! Rows are fed front to back. The first row with a run of free seats that fits the party without
//! leaving a lone seat beside it wins at once, at the start of that run. If no such run exists, the
//! first run exactly one seat too long is used (the lone seat cannot be avoided in one row). If no
//! row can seat the party together, the seats come from the longest runs first, front to back.

use crate::ids::SeatId;

/// A maximal block of adjacent free seats in one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    section: u16,
    row: u16,
    start: u16,
    len: u16,
}

impl Run {
    fn seats(&self, quantity: u16) -> impl Iterator<Item = SeatId> + '_ {
        (self.start..self.start + quantity).map(|index| SeatId {
            section: self.section,
            row: self.row,
            index,
        })
    }
}

/// Feeds rows in preference order; see the module documentation for the rule.
#[derive(Debug)]
pub(crate) struct BestAvailable {
    quantity: u16,
    runs: Vec<Run>,
    free: u32,
}

impl BestAvailable {
    /// A choice of `quantity` seats (at least 1, at most `SEATS_PER_HOLD_MAX`).
    pub fn new(quantity: u16) -> Self {
        debug_assert!(quantity > 0);
        BestAvailable {
            quantity,
            runs: Vec::new(),
            free: 0,
        }
    }

    /// Adds a row; `free[i]` says whether the seat at index `i` may be taken. Returns the choice as soon
    /// as a run fits the party without leaving a lone seat.
    pub fn add_row(&mut self, section: u16, row: u16, free: &[bool]) -> Option<Vec<SeatId>> {
        let mut index = 0usize;
        while index < free.len() {
            if !free[index] {
                index += 1;
                continue;
            }
            let start = index;
            while index < free.len() && free[index] {
                index += 1;
            }
            // Rows have at most SEATS_PER_ROW_MAX seats, so indexes fit in u16.
            let run = Run {
                section,
                row,
                start: start as u16,
                len: (index - start) as u16,
            };
            self.free += u32::from(run.len);
            if run.len == self.quantity || run.len >= self.quantity + 2 {
                return Some(run.seats(self.quantity).collect());
            }
            self.runs.push(run);
        }
        None
    }

    /// The choice once every row has been fed, or the number of free seats if there are too few.
    pub fn finish(mut self) -> Result<Vec<SeatId>, u32> {
        if self.free < u32::from(self.quantity) {
            return Err(self.free);
        }
        if let Some(run) = self.runs.iter().find(|r| r.len == self.quantity + 1) {
            return Ok(run.seats(self.quantity).collect());
        }
        // Longest runs first; the sort is stable, so equal runs keep their front-to-back order.
        self.runs.sort_by_key(|r| std::cmp::Reverse(r.len));
        let mut chosen = Vec::with_capacity(usize::from(self.quantity));
        let mut missing = self.quantity;
        for run in &self.runs {
            let take = run.len.min(missing);
            chosen.extend(run.seats(take));
            missing -= take;
            if missing == 0 {
                break;
            }
        }
        chosen.sort();
        Ok(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pattern: &str) -> Vec<bool> {
        pattern.chars().map(|c| c == '.').collect()
    }

    fn indexes(seats: &[SeatId]) -> Vec<(u16, u16)> {
        seats.iter().map(|s| (s.row, s.index)).collect()
    }

    fn choose(rows: &[&str], quantity: u16) -> Result<Vec<(u16, u16)>, u32> {
        let mut ba = BestAvailable::new(quantity);
        for (i, pattern) in rows.iter().enumerate() {
            if let Some(seats) = ba.add_row(0, i as u16, &row(pattern)) {
                return Ok(indexes(&seats));
            }
        }
        ba.finish().map(|s| indexes(&s))
    }

    #[test]
    fn takes_the_front_row_when_the_party_fits() {
        assert_eq!(
            choose(&["..........", ".........."], 3),
            Ok(vec![(0, 0), (0, 1), (0, 2)])
        );
    }

    #[test]
    fn never_leaves_a_lone_seat_when_a_later_run_fits_cleanly() {
        // Row 0 has a run of 3 for a party of 2 (would strand one seat); row 1 fits exactly.
        assert_eq!(choose(&["...xxxx", "x..xxxx"], 2), Ok(vec![(1, 1), (1, 2)]));
        // Within one row a later, longer run is preferred to a run one seat too long.
        assert_eq!(choose(&["...x....."], 2), Ok(vec![(0, 4), (0, 5)]));
    }

    #[test]
    fn accepts_a_lone_seat_when_no_other_choice_keeps_the_party_together() {
        assert_eq!(choose(&["xx...xx", "x.x.x.x"], 2), Ok(vec![(0, 2), (0, 3)]));
    }

    #[test]
    fn splits_the_party_over_the_longest_runs_when_no_row_can_seat_it() {
        assert_eq!(
            choose(&[".x..x.", "x...xx"], 4),
            Ok(vec![(0, 2), (1, 1), (1, 2), (1, 3)])
        );
    }

    #[test]
    fn reports_how_many_seats_are_free_when_too_few() {
        assert_eq!(choose(&["x.x", "xx."], 3), Err(2));
    }
}
