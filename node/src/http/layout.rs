//! Event layouts for readable seats (`Floor A-1`) and whether the event is gated: neither changes
//! once the event exists, so the gateway reads them once per event (stale reads are enough) and
//! keeps a bounded cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use boxoffice_client::{proto, Client, Consistency};
use boxoffice_statemachine::{EventId, HoldItems, SeatId, Ticket};

use super::error::HttpError;

/// Most layouts a gateway keeps.
pub const LAYOUTS_CACHED_MAX: usize = 1_024;

/// A row's label and its seat numbers by position.
type RowNumbers = (String, Vec<u32>);

/// Section names, row labels and seat numbers by position, and general-admission area names.
#[derive(Debug, Default)]
pub struct Layout {
    sections: Vec<(String, Vec<RowNumbers>)>,
    ga_areas: Vec<String>,
    /// Buyers pass the waiting room first (fixed when the event is created).
    pub gated: bool,
}

impl Layout {
    fn from_map(map: &proto::SeatMapReply, gated: bool) -> Layout {
        Layout {
            gated,
            sections: map
                .sections
                .iter()
                .map(|s| {
                    let rows = s
                        .rows
                        .iter()
                        .map(|r| (r.label.clone(), r.seats.iter().map(|x| x.number).collect()))
                        .collect();
                    (s.name.clone(), rows)
                })
                .collect(),
            ga_areas: map.ga_areas.iter().map(|a| a.name.clone()).collect(),
        }
    }

    /// `Floor A-1`, or the seat id when the layout does not know the seat.
    pub fn seat_label(&self, seat: SeatId) -> String {
        let (section, row, index) = (
            usize::from(seat.section),
            usize::from(seat.row),
            usize::from(seat.index),
        );
        self.sections
            .get(section)
            .and_then(|(name, rows)| {
                let (label, numbers) = rows.get(row)?;
                Some(format!("{name} {label}-{}", numbers.get(index)?))
            })
            .unwrap_or_else(|| seat.to_string())
    }

    /// The name of general-admission area `area`.
    pub fn area_name(&self, area: u16) -> String {
        self.ga_areas
            .get(usize::from(area))
            .cloned()
            .unwrap_or_else(|| format!("area {area}"))
    }

    /// Seat ids, readable seats and area of what a hold or order covers.
    pub fn items(&self, items: &HoldItems) -> (Vec<String>, Vec<String>, Option<String>) {
        match items {
            HoldItems::Seats(seats) => (
                seats.iter().map(ToString::to_string).collect(),
                seats.iter().map(|s| self.seat_label(*s)).collect(),
                None,
            ),
            HoldItems::Places { area, .. } => (Vec::new(), Vec::new(), Some(self.area_name(*area))),
        }
    }

    /// A ticket's seat (`Floor A-1`) or area (`Pit`).
    pub fn ticket_label(&self, ticket: &Ticket, items: &HoldItems) -> String {
        match (ticket.seat, items) {
            (Some(seat), _) => self.seat_label(seat),
            (None, HoldItems::Places { area, .. }) => self.area_name(*area),
            (None, HoldItems::Seats(_)) => String::new(),
        }
    }
}

/// Layouts by event, read on first use.
#[derive(Debug, Default)]
pub struct Layouts {
    cached: Mutex<HashMap<EventId, Arc<Layout>>>,
}

impl Layouts {
    /// The layout of `event`, from the cache or a stale seat-map read.
    pub async fn of(&self, client: &Client, event: &EventId) -> Result<Arc<Layout>, HttpError> {
        if let Some(layout) = self.lock().get(event) {
            return Ok(layout.clone());
        }
        let map = client.seat_map(event, None, Consistency::Stale).await?;
        let gated = client
            .event(event, Consistency::Stale)
            .await?
            .event
            .is_some_and(|e| e.gated);
        let layout = Arc::new(Layout::from_map(&map, gated));
        let mut cached = self.lock();
        if cached.len() >= LAYOUTS_CACHED_MAX {
            cached.clear();
        }
        cached.insert(event.clone(), layout.clone());
        Ok(layout)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<EventId, Arc<Layout>>> {
        self.cached
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
