//! Hand-made histories for the checkers' tests: a small catalog (a seated event and a
//! general-admission one) and one builder call per operation, times in milliseconds.

use std::collections::BTreeMap;

use crate::history::{
    AreaCounts, Call, Catalog, EventInfo, EventKind, FaultRecord, History, HoldState, Kind,
    OrderRecord, Pick, SeatStatus, Value,
};

/// A seated event with four seats.
pub(crate) const GIG: &str = "gig";
pub(crate) const GIG_SEATS: [&str; 4] = ["A-1-1", "A-1-2", "A-1-3", "A-1-4"];
/// A general-admission event: `floor` holds 10 places, `pit` 2.
pub(crate) const FEST: &str = "fest";
pub(crate) const FLOOR_PLACES: u32 = 10;
pub(crate) const PIT_PLACES: u32 = 2;

pub(crate) fn catalog() -> Catalog {
    Catalog {
        events: vec![
            EventInfo {
                event: GIG.into(),
                group: 1,
                kind: EventKind::Seats,
                seats: GIG_SEATS.iter().map(|s| s.to_string()).collect(),
                areas: BTreeMap::new(),
            },
            EventInfo {
                event: FEST.into(),
                group: 2,
                kind: EventKind::GeneralAdmission,
                seats: Vec::new(),
                areas: BTreeMap::from([
                    ("floor".to_string(), FLOOR_PLACES),
                    ("pit".to_string(), PIT_PLACES),
                ]),
            },
        ],
        expiry_slack_ms: 100,
        seed: 1,
        nodes: 3,
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn customer(process: u32) -> String {
    format!("c{process}")
}

/// A history under construction.
#[derive(Debug)]
pub(crate) struct Scenario {
    pub history: History,
}

impl Scenario {
    pub fn new() -> Scenario {
        Scenario {
            history: History::new(catalog()),
        }
    }

    /// An operation by `process` from `invoke_ms` until it completed (`kind`) at `returned_ms`.
    pub fn op(
        &mut self,
        process: u32,
        (invoke_ms, returned_ms): (u64, u64),
        call: Call,
        kind: Kind,
        value: Value,
    ) -> &mut Scenario {
        self.history.invoke(process, invoke_ms * 1_000_000, call);
        self.history
            .complete(process, returned_ms * 1_000_000, kind, value);
        self
    }

    /// An operation that never completed (the run ended first).
    pub fn pending(&mut self, process: u32, invoke_ms: u64, call: Call) -> &mut Scenario {
        self.history.invoke(process, invoke_ms * 1_000_000, call);
        self
    }

    pub fn fault(&mut self, time_ms: u64, nemesis: &str, start: bool) -> &mut Scenario {
        self.history.fault(FaultRecord {
            time_ns: time_ms * 1_000_000,
            nemesis: nemesis.into(),
            start,
            detail: String::new(),
        });
        self
    }

    /// A hold of specific seats of the gig that succeeded.
    pub fn hold(&mut self, p: u32, at: (u64, u64), hold: &str, seats: &[&str]) -> &mut Scenario {
        let call = Call::Hold {
            event: GIG.into(),
            customer: customer(p),
            pick: Pick::Seats {
                seats: strings(seats),
            },
            ttl_ms: 10_000,
        };
        let value = Value::Held {
            hold: hold.into(),
            seats: strings(seats),
            places: 0,
            area: None,
            expires_at_ms: 10_000,
        };
        self.op(p, at, call, Kind::Ok, value)
    }

    /// A hold of general-admission places at the fest that succeeded.
    pub fn hold_places(
        &mut self,
        p: u32,
        at: (u64, u64),
        hold: &str,
        area: &str,
        places: u32,
    ) -> &mut Scenario {
        let call = Call::Hold {
            event: FEST.into(),
            customer: customer(p),
            pick: Pick::GeneralAdmission {
                area: area.into(),
                quantity: places,
            },
            ttl_ms: 10_000,
        };
        let value = Value::Held {
            hold: hold.into(),
            seats: Vec::new(),
            places,
            area: Some(area.into()),
            expires_at_ms: 10_000,
        };
        self.op(p, at, call, Kind::Ok, value)
    }

    /// A buy of a seated hold, acknowledged with `order`.
    pub fn buy(
        &mut self,
        p: u32,
        at: (u64, u64),
        hold: &str,
        order: &str,
        seats: &[&str],
    ) -> &mut Scenario {
        let value = Value::Bought {
            order: order.into(),
            hold: hold.into(),
            seats: strings(seats),
            places: 0,
            area: None,
        };
        self.op(p, at, buy_call(p, hold), Kind::Ok, value)
    }

    /// A buy of general-admission places, acknowledged with `order`.
    pub fn buy_places(
        &mut self,
        p: u32,
        at: (u64, u64),
        hold: &str,
        order: &str,
        area: &str,
        places: u32,
    ) -> &mut Scenario {
        let value = Value::Bought {
            order: order.into(),
            hold: hold.into(),
            seats: Vec::new(),
            places,
            area: Some(area.into()),
        };
        self.op(p, at, buy_call(p, hold), Kind::Ok, value)
    }

    /// A buy whose outcome the client never learned.
    pub fn buy_unknown(&mut self, p: u32, at: (u64, u64), hold: &str) -> &mut Scenario {
        let value = Value::Indeterminate {
            reason: "timed out".into(),
        };
        self.op(p, at, buy_call(p, hold), Kind::Info, value)
    }

    /// A buy the state machine refused.
    pub fn buy_rejected(&mut self, p: u32, at: (u64, u64), hold: &str) -> &mut Scenario {
        let value = Value::Rejected {
            code: "HOLD_EXPIRED".into(),
            seats: Vec::new(),
        };
        self.op(p, at, buy_call(p, hold), Kind::Fail, value)
    }

    pub fn extend(&mut self, p: u32, at: (u64, u64), hold: &str) -> &mut Scenario {
        let call = Call::Extend {
            hold: hold.into(),
            customer: customer(p),
            ttl_ms: 10_000,
        };
        let value = Value::Extended {
            expires_at_ms: 20_000,
        };
        self.op(p, at, call, Kind::Ok, value)
    }

    pub fn release(&mut self, p: u32, at: (u64, u64), hold: &str, places: u32) -> &mut Scenario {
        let call = Call::Release {
            hold: hold.into(),
            customer: customer(p),
        };
        self.op(p, at, call, Kind::Ok, Value::Released { places })
    }

    /// A seat map of the gig: `sold` and `held` seats, every other seat available.
    pub fn read_gig(
        &mut self,
        p: u32,
        at: (u64, u64),
        sold: &[&str],
        held: &[&str],
    ) -> &mut Scenario {
        let seats = GIG_SEATS
            .iter()
            .map(|seat| {
                let status = if sold.contains(seat) {
                    SeatStatus::Sold
                } else if held.contains(seat) {
                    SeatStatus::Held
                } else {
                    SeatStatus::Available
                };
                (seat.to_string(), status)
            })
            .collect();
        self.read_seats(p, at, GIG, seats, BTreeMap::new())
    }

    /// A seat map of the fest: the floor's and the pit's counts as (available, held, sold).
    pub fn read_fest(
        &mut self,
        p: u32,
        at: (u64, u64),
        floor: (u32, u32, u32),
        pit: (u32, u32, u32),
    ) -> &mut Scenario {
        let counts = |(available, held, sold): (u32, u32, u32)| AreaCounts {
            available,
            held,
            sold,
            blocked: 0,
        };
        let areas = BTreeMap::from([
            ("floor".to_string(), counts(floor)),
            ("pit".to_string(), counts(pit)),
        ]);
        self.read_seats(p, at, FEST, BTreeMap::new(), areas)
    }

    /// Any seat map, as given.
    pub fn read_seats(
        &mut self,
        p: u32,
        at: (u64, u64),
        event: &str,
        seats: BTreeMap<String, SeatStatus>,
        areas: BTreeMap<String, AreaCounts>,
    ) -> &mut Scenario {
        let call = Call::ReadSeats {
            event: event.into(),
            node: 1,
        };
        let value = Value::Seats {
            seats,
            areas,
            served_by: 1,
            applied_index: 10,
        };
        self.op(p, at, call, Kind::Ok, value)
    }

    pub fn read_hold(
        &mut self,
        p: u32,
        at: (u64, u64),
        hold: &str,
        status: Option<HoldState>,
    ) -> &mut Scenario {
        let call = Call::ReadHold {
            hold: hold.into(),
            node: 1,
        };
        let value = Value::Hold {
            status,
            served_by: 1,
        };
        self.op(p, at, call, Kind::Ok, value)
    }

    /// The final read of an event's orders.
    pub fn read_orders(
        &mut self,
        p: u32,
        at: (u64, u64),
        event: &str,
        orders: Vec<OrderRecord>,
    ) -> &mut Scenario {
        let call = Call::ReadOrders {
            event: event.into(),
            customers: (0..4).map(customer).collect(),
        };
        self.op(p, at, call, Kind::Ok, Value::Orders { orders })
    }

    pub fn build(&mut self) -> History {
        self.history.clone()
    }
}

fn buy_call(p: u32, hold: &str) -> Call {
    Call::Buy {
        hold: hold.into(),
        customer: customer(p),
    }
}

/// A confirmed order of seats.
pub(crate) fn order(order: &str, hold: &str, seats: &[&str]) -> OrderRecord {
    OrderRecord {
        order: order.into(),
        hold: hold.into(),
        customer: "c0".into(),
        seats: strings(seats),
        places: 0,
        area: None,
        confirmed: true,
    }
}

/// A confirmed order of general-admission places.
pub(crate) fn places_order(order: &str, hold: &str, area: &str, places: u32) -> OrderRecord {
    OrderRecord {
        order: order.into(),
        hold: hold.into(),
        customer: "c0".into(),
        seats: Vec::new(),
        places,
        area: Some(area.into()),
        confirmed: true,
    }
}
