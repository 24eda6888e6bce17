//! Renders results side by side: one Markdown comparison table (plus the expiry storm's own
//! table and the stores' guarantees) and a PNG of decided holds/s and hold p99 per store.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

use crate::result::{Drain, RunResult};

/// Where the chart's font comes from (Debian's fonts-dejavu-core).
pub const FONT_PATH: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Stores in the order the table lists them.
const STORE_ORDER: [&str; 5] = [
    "boxoffice",
    "etcd",
    "postgres",
    "postgres-for-update",
    "redis",
];
/// Workloads in the order the table lists them.
const WORKLOAD_ORDER: [&str; 3] = ["storm", "many-events", "expiry-storm"];

/// Why the chart was not drawn.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("no font at {FONT_PATH} (apt-get install fonts-dejavu-core)")]
    NoFont,
    #[error("drawing: {0}")]
    Draw(String),
}

fn rank(list: &[&str], name: &str) -> usize {
    list.iter().position(|n| *n == name).unwrap_or(list.len())
}

/// Results sorted by workload, then store.
pub(crate) fn sorted(results: &[RunResult]) -> Vec<&RunResult> {
    let mut sorted: Vec<&RunResult> = results.iter().collect();
    sorted.sort_by_key(|r| {
        (
            rank(&WORKLOAD_ORDER, &r.workload),
            r.workload.clone(),
            rank(&STORE_ORDER, &r.store),
            r.store.clone(),
        )
    });
    sorted
}

/// `1234567.8` -> `1,234,568`.
pub(crate) fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(crate) fn ms(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// The Boxoffice result of the same workload, if any.
fn boxoffice_of<'a>(results: &[&'a RunResult], workload: &str) -> Option<&'a RunResult> {
    results
        .iter()
        .find(|r| r.store == "boxoffice" && r.workload == workload && r.not_applicable.is_none())
        .copied()
}

fn rejections_cell(result: &RunResult) -> String {
    let mut parts: Vec<String> = result
        .rejections
        .iter()
        .map(|(code, n)| format!("{code} {}", thousands(*n as f64)))
        .collect();
    let indeterminate = result.holds_indeterminate + result.buys_indeterminate;
    if indeterminate > 0 {
        parts.push(format!("indeterminate {indeterminate}"));
    }
    let errors: u64 = result.errors.values().sum();
    if errors > 0 {
        parts.push(format!("errors {errors}"));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join("; ")
    }
}

fn invariants_cell(result: &RunResult) -> String {
    let invariants = &result.invariants;
    if let Some(error) = &invariants.error {
        return format!("**NOT CHECKED** ({error})");
    }
    if invariants.valid {
        let audit = if invariants.audit.is_some() {
            ", replica audit OK"
        } else {
            ""
        };
        format!(
            "OK ({} sold{audit})",
            thousands(invariants.sold_seats as f64)
        )
    } else {
        format!("**VIOLATED** ({} violations)", invariants.violation_count)
    }
}

/// The Markdown comparison: the main table, the expiry storm's table, the stores' guarantees.
pub fn markdown(results: &[RunResult]) -> String {
    let results = sorted(results);
    let mut out = String::new();
    out.push_str(
        "| store | workload | decided holds/s | successful holds/s | tickets sold/s | hold p50 / p99 / max (ms) | buy p99 (ms) | rejections | invariants | ratio to Boxoffice |\n",
    );
    out.push_str("|---|---|--:|--:|--:|--:|--:|---|---|--:|\n");
    for result in &results {
        if let Some(why) = &result.not_applicable {
            let _ = writeln!(
                out,
                "| {} | {} | n/a | n/a | n/a | n/a | n/a | {why} | n/a | n/a |",
                result.store, result.workload
            );
            continue;
        }
        let hold = result.latency_of("hold");
        let buy = result.latency_of("buy");
        let ratio = match boxoffice_of(&results, &result.workload) {
            Some(base) if base.decided_holds_per_s > 0.0 => {
                format!(
                    "{:.2}x",
                    result.decided_holds_per_s / base.decided_holds_per_s
                )
            }
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} / {} / {} | {} | {} | {} | {ratio} |",
            result.store,
            result.workload,
            thousands(result.decided_holds_per_s),
            thousands(result.successful_holds_per_s),
            thousands(result.tickets_per_s),
            ms(hold.p50_ms),
            ms(hold.p99_ms),
            ms(hold.max_ms),
            ms(buy.p99_ms),
            rejections_cell(result),
            invariants_cell(result),
        );
    }
    let storms: Vec<&&RunResult> = results.iter().filter(|r| r.expiry.is_some()).collect();
    if !storms.is_empty() {
        out.push_str(
            "\nExpiry storm: every seat of the storm events held to expire at one time, while other buyers keep buying a separate event.\n\n",
        );
        out.push_str("| store | holds placed | placed/s | every seat free again after the expiry | concurrent hold p50 / p99 before (ms) | during the storm (ms) |\n");
        out.push_str("|---|--:|--:|---|--:|--:|\n");
        for result in storms {
            let Some(expiry) = &result.expiry else {
                continue;
            };
            let drain = match &expiry.drain {
                Drain::AtOnceLazy => "at once (lazy)".to_string(),
                Drain::AfterMs(ms) => format!("{} ms", thousands(*ms as f64)),
                Drain::NotWithinMs { waited_ms, left } => format!(
                    "not within {} ms ({} left)",
                    thousands(*waited_ms as f64),
                    thousands(*left as f64)
                ),
            };
            let _ = writeln!(
                out,
                "| {} | {} of {} | {} | {drain} | {} / {} | {} / {} |",
                result.store,
                thousands(expiry.holds_placed as f64),
                thousands(expiry.holds_planned as f64),
                thousands(expiry.holds_placed as f64 / expiry.placement_s.max(0.001)),
                ms(expiry.side_hold_before.p50_ms),
                ms(expiry.side_hold_before.p99_ms),
                ms(expiry.side_hold_during.p50_ms),
                ms(expiry.side_hold_during.p99_ms),
            );
        }
    }
    let mut notes = BTreeSet::new();
    for result in &results {
        for note in &result.notes {
            notes.insert((
                rank(&STORE_ORDER, &result.store),
                result.store.clone(),
                note.clone(),
            ));
        }
    }
    if !notes.is_empty() {
        out.push_str("\nGuarantees of each store as run:\n\n");
        for (_, store, note) in notes {
            let _ = writeln!(out, "- {store}: {note}");
        }
    }
    out
}

pub(crate) fn draw_error(e: impl std::fmt::Display) -> ReportError {
    ReportError::Draw(e.to_string())
}

pub(crate) fn register_font() -> Result<(), ReportError> {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let registered = REGISTERED.get_or_init(|| match std::fs::read(FONT_PATH) {
        Ok(bytes) => {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
        }
        Err(_) => false,
    });
    if *registered {
        Ok(())
    } else {
        Err(ReportError::NoFont)
    }
}

pub(crate) fn colour(store: &str) -> RGBColor {
    match store {
        "boxoffice" => RGBColor(70, 110, 200),
        "etcd" => RGBColor(90, 170, 90),
        "postgres" => RGBColor(240, 160, 60),
        "postgres-for-update" => RGBColor(190, 120, 60),
        "redis" => RGBColor(210, 80, 80),
        _ => RGBColor(150, 150, 150),
    }
}

/// One horizontal bar per result: its label and value.
fn draw_bars(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    caption: &str,
    bars: &[(String, String, f64)],
    unit: &str,
) -> Result<(), ReportError> {
    let x_max = bars.iter().map(|b| b.2).fold(1.0f64, f64::max) * 1.25;
    let n = bars.len().max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(10)
        .build_cartesian_2d(0f64..x_max, 0f64..n)
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .x_label_formatter(&|v| thousands_or_ms(*v))
        .x_desc(unit)
        .draw()
        .map_err(draw_error)?;
    for (i, (store, label, value)) in bars.iter().enumerate() {
        // The first result at the top.
        let y = n - 1.0 - i as f64;
        let fill = colour(store).mix(0.55);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.0, y + 0.12), (*value, y + 0.88)],
                fill.filled(),
            )))
            .map_err(draw_error)?;
        chart
            .draw_series(std::iter::once(Text::new(
                format!("{label}: {}", thousands_or_ms(*value)),
                (x_max * 0.005, y + 0.68),
                ("sans-serif", 15).into_font().color(&BLACK),
            )))
            .map_err(draw_error)?;
    }
    Ok(())
}

fn thousands_or_ms(value: f64) -> String {
    if value >= 100.0 {
        thousands(value)
    } else {
        ms(value)
    }
}

/// Draws decided holds/s (top) and hold p99 (bottom) of every result that ran.
pub fn png(results: &[RunResult], path: &Path) -> Result<(), ReportError> {
    register_font()?;
    let ran: Vec<&RunResult> = sorted(results)
        .into_iter()
        .filter(|r| r.not_applicable.is_none())
        .collect();
    let label = |r: &RunResult| format!("{} / {}", r.workload, r.store);
    let rates: Vec<(String, String, f64)> = ran
        .iter()
        .map(|r| (r.store.clone(), label(r), r.decided_holds_per_s))
        .collect();
    let p99: Vec<(String, String, f64)> = ran
        .iter()
        .map(|r| (r.store.clone(), label(r), r.latency_of("hold").p99_ms))
        .collect();
    let height = (120 + 2 * 34 * ran.len().max(1)) as u32;
    let root = BitMapBackend::new(path, (1100, height.max(400))).into_drawing_area();
    root.fill(&WHITE).map_err(draw_error)?;
    let (top, bottom) = root.split_vertically(height.max(400) / 2);
    draw_bars(
        &top,
        "decided holds per second (higher is better)",
        &rates,
        "holds/s",
    )?;
    draw_bars(
        &bottom,
        "hold latency p99, ms (lower is better)",
        &p99,
        "ms",
    )?;
    root.present().map_err(draw_error)?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;

    use super::*;
    use crate::result::{ExpiryResult, Invariants, Latency};

    pub(crate) fn result(store: &str, workload: &str, decided: f64) -> RunResult {
        RunResult {
            store: store.into(),
            workload: workload.into(),
            seed: 1,
            buyers: 256,
            options: BTreeMap::new(),
            notes: vec![format!("{store} note")],
            not_applicable: None,
            elapsed_s: 10.0,
            holds_decided: (decided * 10.0) as u64,
            holds_accepted: (decided * 5.0) as u64,
            holds_rejected: (decided * 5.0) as u64,
            holds_indeterminate: 0,
            buys_sold: 1,
            buys_rejected: 0,
            buys_indeterminate: 0,
            releases: 0,
            abandoned: 0,
            tickets_sold: 1,
            decided_holds_per_s: decided,
            successful_holds_per_s: decided / 2.0,
            tickets_per_s: decided / 2.0,
            latency: BTreeMap::from([(
                "hold".to_string(),
                Latency {
                    count: 10,
                    p50_ms: 1.5,
                    p95_ms: 3.0,
                    p99_ms: 12.3,
                    max_ms: 140.0,
                },
            )]),
            rejections: BTreeMap::from([("hold:SEAT_UNAVAILABLE".to_string(), 50_000)]),
            errors: BTreeMap::new(),
            expiry: None,
            invariants: Invariants {
                valid: true,
                checked_seats: 50_000,
                sold_seats: 50_000,
                acknowledged_tickets: 50_000,
                indeterminate_tickets_applied: 0,
                audit: None,
                violations: vec![],
                violation_count: 0,
                error: None,
            },
        }
    }

    #[test]
    fn the_table_has_a_row_per_result_in_order_with_ratios() {
        let mut redis = result("redis", "storm", 0.0);
        redis.not_applicable = Some("best-available: no order".into());
        let mut bad = result("postgres", "storm", 1_000.0);
        bad.invariants.valid = false;
        bad.invariants.violation_count = 3;
        let table = markdown(&[
            result("etcd", "storm", 2_500.0),
            redis,
            result("boxoffice", "storm", 10_000.0),
            bad,
        ]);
        let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("| ")).collect();
        assert!(rows[0].starts_with("| store |"));
        assert!(
            rows[1]
                .starts_with("| boxoffice | storm | 10,000 | 5,000 | 5,000 | 1.50 / 12.3 / 140 |"),
            "{}",
            rows[1]
        );
        assert!(rows[1].ends_with("| 1.00x |"));
        assert!(
            rows[2].starts_with("| etcd |") && rows[2].ends_with("| 0.25x |"),
            "{}",
            rows[2]
        );
        assert!(rows[3].contains("**VIOLATED** (3 violations)"));
        assert!(rows[4].contains("| redis | storm | n/a |"));
        assert!(table.contains("hold:SEAT_UNAVAILABLE 50,000"));
        assert!(table.contains("- redis: redis note"));
    }

    #[test]
    fn the_expiry_storm_gets_its_own_table() {
        let mut storm = result("etcd", "expiry-storm", 3_000.0);
        storm.expiry = Some(ExpiryResult {
            holds_placed: 100_000,
            holds_planned: 100_000,
            placement_s: 40.0,
            drain: Drain::AtOnceLazy,
            side_hold_before: Latency::default(),
            side_hold_during: Latency::default(),
            side_buyers: 16,
        });
        let mut swept = storm.clone();
        swept.store = "boxoffice".into();
        if let Some(expiry) = &mut swept.expiry {
            expiry.drain = Drain::AfterMs(1_250);
        }
        let table = markdown(&[storm, swept]);
        assert!(table.contains("| etcd | 100,000 of 100,000 | 2,500 | at once (lazy) |"));
        assert!(table.contains("| boxoffice | 100,000 of 100,000 | 2,500 | 1,250 ms |"));
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1_234_567.8), "1,234,568");
    }

    #[test]
    fn the_chart_is_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers.png");
        png(
            &[
                result("boxoffice", "storm", 10_000.0),
                result("etcd", "storm", 2_500.0),
            ],
            &path,
        )
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
    }
}
