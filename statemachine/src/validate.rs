//! Checks on untrusted command input: an event layout, names, free text. A failure becomes an
//! `INVALID_REQUEST` rejection that names the offending field.

use std::collections::BTreeSet;

use crate::event::{EventSpec, RowSeats};
use crate::limits::*;

/// The reason a request is invalid, phrased for the caller.
pub(crate) type Invalid = String;

/// A non-empty display name of at most [`NAME_BYTES_MAX`] bytes without control characters.
pub(crate) fn name(field: &str, value: &str) -> Result<(), Invalid> {
    if value.trim().is_empty() {
        return Err(format!("{field} must not be empty"));
    }
    text(field, value, NAME_BYTES_MAX)
}

/// Free text of at most `bytes_max` bytes without control characters (may be empty).
pub(crate) fn text(field: &str, value: &str, bytes_max: usize) -> Result<(), Invalid> {
    if value.len() > bytes_max {
        return Err(format!(
            "{field} is {} bytes; at most {bytes_max} allowed",
            value.len()
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{field} must not contain control characters"));
    }
    Ok(())
}

fn unique<'a>(field: &str, names: impl Iterator<Item = &'a str>) -> Result<(), Invalid> {
    let mut seen = BTreeSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(format!("{field} {name:?} appears twice"));
        }
    }
    Ok(())
}

fn tier_known(spec: &EventSpec, field: &str, tier: &str) -> Result<(), Invalid> {
    if spec.price_tiers.iter().any(|t| t.name == tier) {
        Ok(())
    } else {
        Err(format!("{field} names unknown price tier {tier:?}"))
    }
}

/// Checks an event layout against the crate's limits; returns (reserved seats, GA places).
pub(crate) fn event_spec(spec: &EventSpec) -> Result<(u32, u32), Invalid> {
    spec.id.validate().map_err(|e| e.to_string())?;
    name("name", &spec.name)?;
    text("venue", &spec.venue, NAME_BYTES_MAX)?;
    text("category", &spec.category, NAME_BYTES_MAX)?;
    if spec.on_sale_at_ms >= spec.off_sale_at_ms {
        return Err("on_sale_at_ms must be before off_sale_at_ms".into());
    }

    let limits = &spec.limits;
    if !(1..=SEATS_PER_HOLD_MAX).contains(&limits.seats_per_hold_max) {
        return Err(format!(
            "seats_per_hold_max must be 1 to {SEATS_PER_HOLD_MAX}"
        ));
    }
    if !(1..=SEATS_PER_CUSTOMER_MAX).contains(&limits.seats_per_customer_max) {
        return Err(format!(
            "seats_per_customer_max must be 1 to {SEATS_PER_CUSTOMER_MAX}"
        ));
    }
    if !(1..=HOLDS_PER_CUSTOMER_MAX).contains(&limits.holds_per_customer_max) {
        return Err(format!(
            "holds_per_customer_max must be 1 to {HOLDS_PER_CUSTOMER_MAX}"
        ));
    }
    if !(HOLD_TTL_MS_MIN..=HOLD_LIFETIME_MS_MAX).contains(&limits.hold_lifetime_ms_max) {
        return Err(format!(
            "hold_lifetime_ms_max must be {HOLD_TTL_MS_MIN} to {HOLD_LIFETIME_MS_MAX}"
        ));
    }
    if !(HOLD_TTL_MS_MIN..=limits.hold_lifetime_ms_max).contains(&limits.hold_ttl_ms) {
        return Err(format!(
            "hold_ttl_ms must be {HOLD_TTL_MS_MIN} to hold_lifetime_ms_max"
        ));
    }

    if spec.price_tiers.is_empty() || spec.price_tiers.len() > PRICE_TIERS_MAX {
        return Err(format!("an event needs 1 to {PRICE_TIERS_MAX} price tiers"));
    }
    for tier in &spec.price_tiers {
        name("price tier name", &tier.name)?;
        if tier.price_cents > PRICE_CENTS_MAX {
            return Err(format!(
                "price of tier {:?} is above {PRICE_CENTS_MAX} cents",
                tier.name
            ));
        }
    }
    unique(
        "price tier",
        spec.price_tiers.iter().map(|t| t.name.as_str()),
    )?;

    if spec.sections.len() > SECTIONS_MAX {
        return Err(format!("at most {SECTIONS_MAX} sections"));
    }
    if spec.ga_areas.len() > GA_AREAS_MAX {
        return Err(format!("at most {GA_AREAS_MAX} general-admission areas"));
    }
    unique("section", spec.sections.iter().map(|s| s.name.as_str()))?;
    unique(
        "general-admission area",
        spec.ga_areas.iter().map(|a| a.name.as_str()),
    )?;

    let mut seats = 0usize;
    for section in &spec.sections {
        name("section name", &section.name)?;
        tier_known(spec, &format!("section {:?}", section.name), &section.tier)?;
        if section.rows.is_empty() || section.rows.len() > ROWS_PER_SECTION_MAX {
            return Err(format!(
                "section {:?} needs 1 to {ROWS_PER_SECTION_MAX} rows",
                section.name
            ));
        }
        unique("row label", section.rows.iter().map(|r| r.label.as_str()))?;
        for row in &section.rows {
            let at = format!("section {:?} row {:?}", section.name, row.label);
            name("row label", &row.label)?;
            if let Some(tier) = &row.tier {
                tier_known(spec, &at, tier)?;
            }
            // Check the size before materialising numbers: Count(u32::MAX) must not allocate.
            if row.seats.is_empty() || row.seats.len() > SEATS_PER_ROW_MAX {
                return Err(format!("{at} needs 1 to {SEATS_PER_ROW_MAX} seats"));
            }
            seats += row.seats.len();
            if seats > SEATS_PER_EVENT_MAX {
                return Err(format!(
                    "an event has at most {SEATS_PER_EVENT_MAX} reserved seats"
                ));
            }
            let numbers: BTreeSet<u32> = match &row.seats {
                RowSeats::Count(n) => (1..=*n).collect(),
                RowSeats::Numbers(list) => list.iter().copied().collect(),
            };
            if numbers.len() != row.seats.len() {
                return Err(format!("{at} lists a seat number twice"));
            }
            if let Some(n) = row.accessible.iter().find(|n| !numbers.contains(n)) {
                return Err(format!(
                    "{at} marks seat {n} accessible, but has no such seat"
                ));
            }
        }
    }

    let mut places = 0u64;
    for area in &spec.ga_areas {
        name("general-admission area name", &area.name)?;
        tier_known(spec, &format!("area {:?}", area.name), &area.tier)?;
        if !(1..=GA_PLACES_PER_AREA_MAX).contains(&area.capacity) {
            return Err(format!(
                "area {:?} capacity must be 1 to {GA_PLACES_PER_AREA_MAX}",
                area.name
            ));
        }
        places += u64::from(area.capacity);
    }
    if seats == 0 && places == 0 {
        return Err("an event needs at least one seat or general-admission place".into());
    }
    // Bounded above by SEATS_PER_EVENT_MAX and GA_AREAS_MAX * GA_PLACES_PER_AREA_MAX.
    Ok((seats as u32, places as u32))
}
