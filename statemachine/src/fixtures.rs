//! Ready-made event layouts for demos, benchmarks and tests: a small club and a stadium builder.

use crate::event::{EventLimits, EventSpec, GaAreaSpec, PriceTier, RowSeats, RowSpec, SectionSpec};
use crate::ids::EventId;

/// One hour, in milliseconds.
pub const HOUR_MS: u64 = 60 * 60 * 1_000;

fn tier(name: &str, price_cents: u64) -> PriceTier {
    PriceTier {
        name: name.to_owned(),
        price_cents,
    }
}

fn rows(count: usize, seats: u32) -> Vec<RowSpec> {
    (0..count)
        .map(|r| RowSpec {
            label: row_label(r),
            seats: RowSeats::Count(seats),
            accessible: Vec::new(),
            tier: None,
        })
        .collect()
}

/// Row labels A..Z, then AA, AB, ...
pub fn row_label(index: usize) -> String {
    let letter = |i: usize| char::from(b'A' + (i % 26) as u8);
    if index < 26 {
        letter(index).to_string()
    } else {
        format!("{}{}", letter(index / 26 - 1), letter(index))
    }
}

/// A small club, on sale from time 0 for a day: section "Floor" (tier "Floor", 2 rows of 6 seats),
/// section "Balcony" (tier "Balcony", 2 rows of 4, row B priced "Floor", seat A-1 accessible), and a
/// general-admission area "Pit" of 10 places (tier "Pit"). Limits: 4 seats per hold, 6 per customer,
/// 2 live holds, TTL 60 s, lifetime 180 s.
pub fn club(id: &str) -> EventSpec {
    let mut balcony = rows(2, 4);
    balcony[0].accessible = vec![1];
    balcony[1].tier = Some("Floor".into());
    EventSpec {
        id: EventId::new(id).expect("fixture ids are valid"),
        name: format!("Club night {id}"),
        venue: "The Club".into(),
        category: "concert".into(),
        starts_at_ms: 48 * HOUR_MS,
        on_sale_at_ms: 0,
        off_sale_at_ms: 24 * HOUR_MS,
        price_tiers: vec![
            tier("Floor", 12_000),
            tier("Balcony", 8_000),
            tier("Pit", 5_000),
        ],
        sections: vec![
            SectionSpec {
                name: "Floor".into(),
                tier: "Floor".into(),
                rows: rows(2, 6),
            },
            SectionSpec {
                name: "Balcony".into(),
                tier: "Balcony".into(),
                rows: balcony,
            },
        ],
        ga_areas: vec![GaAreaSpec {
            name: "Pit".into(),
            tier: "Pit".into(),
            capacity: 10,
        }],
        limits: EventLimits {
            seats_per_hold_max: 4,
            seats_per_customer_max: 6,
            holds_per_customer_max: 2,
            hold_ttl_ms: 60_000,
            hold_lifetime_ms_max: 180_000,
        },
        gated: false,
    }
}

/// A stadium on sale from time 0 for a day: `sections` sections named "S1".. of `rows` rows of
/// `seats_per_row` seats (tiers "Lower" for the first half of the sections, "Upper" after), and a
/// general-admission area "Field" of `ga_places` places (none if 0). Default limits.
pub fn stadium(
    id: &str,
    sections: usize,
    rows_per_section: usize,
    seats_per_row: u32,
    ga_places: u32,
) -> EventSpec {
    let sections = (0..sections)
        .map(|s| SectionSpec {
            name: format!("S{}", s + 1),
            tier: if s < sections / 2 {
                "Lower".into()
            } else {
                "Upper".into()
            },
            rows: rows(rows_per_section, seats_per_row),
        })
        .collect();
    let ga_areas = if ga_places == 0 {
        Vec::new()
    } else {
        vec![GaAreaSpec {
            name: "Field".into(),
            tier: "Field".into(),
            capacity: ga_places,
        }]
    };
    EventSpec {
        id: EventId::new(id).expect("fixture ids are valid"),
        name: format!("Stadium tour {id}"),
        venue: "City Stadium".into(),
        category: "concert".into(),
        starts_at_ms: 48 * HOUR_MS,
        on_sale_at_ms: 0,
        off_sale_at_ms: 24 * HOUR_MS,
        price_tiers: vec![
            tier("Lower", 15_000),
            tier("Upper", 7_500),
            tier("Field", 9_900),
        ],
        sections,
        ga_areas,
        limits: EventLimits::default(),
        gated: false,
    }
}
