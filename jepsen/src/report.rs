//! A run's results: the summary (operations by outcome, checker verdicts, unavailability windows)
//! as JSON and text, and a PNG plot of throughput and latency over time with the faults shaded.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::checker::liveness::UnavailabilityWindow;
use crate::checker::{Status, Verdict};
use crate::history::{Call, Completion, History, Operation};

/// Where the plot's font comes from (Debian's fonts-dejavu-core).
pub const FONT_PATH: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Everything a run concluded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub run: String,
    pub seed: u64,
    pub nodes: u32,
    pub nemeses: Vec<String>,
    pub unsafe_local_reads: bool,
    pub duration_s: f64,
    /// Operation name -> outcome (`ok`, `fail`, `info`) -> count.
    pub operations: BTreeMap<String, BTreeMap<String, u64>>,
    pub faults: usize,
    pub verdicts: Vec<Verdict>,
    pub unavailability: Vec<UnavailabilityWindow>,
    /// No checker found a violation.
    pub valid: bool,
}

/// The name of an operation in summaries.
pub fn call_name(call: &Call) -> &'static str {
    match call {
        Call::Hold { .. } => "hold",
        Call::Extend { .. } => "extend",
        Call::Release { .. } => "release",
        Call::Buy { .. } => "buy",
        Call::ReadSeats { .. } => "read-seats",
        Call::ReadHold { .. } => "read-hold",
        Call::ReadOrders { .. } => "read-orders",
    }
}

fn outcome_name(operation: &Operation) -> &'static str {
    match operation.completion {
        Completion::Ok(_) => "ok",
        Completion::Fail(_) => "fail",
        Completion::Info(_) => "info",
    }
}

/// Operations by name and outcome.
pub fn operation_counts(operations: &[Operation]) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for operation in operations {
        *counts
            .entry(call_name(&operation.call).to_string())
            .or_default()
            .entry(outcome_name(operation).to_string())
            .or_default() += 1;
    }
    counts
}

impl Summary {
    /// The summary as text for people.
    pub fn text(&self) -> String {
        let mut text = format!(
            "run {} — seed {}, {} nodes, nemeses {}{}, {:.0} s, {} faults\n\noperations:\n",
            self.run,
            self.seed,
            self.nodes,
            self.nemeses.join(","),
            if self.unsafe_local_reads {
                " (UNSAFE local reads)"
            } else {
                ""
            },
            self.duration_s,
            self.faults
        );
        for (name, outcomes) in &self.operations {
            let line: Vec<String> = outcomes.iter().map(|(o, n)| format!("{o} {n}")).collect();
            text.push_str(&format!("  {name:<12} {}\n", line.join(", ")));
        }
        text.push_str("\ncheckers:\n");
        for verdict in &self.verdicts {
            let status = match verdict.status {
                Status::Valid => "valid",
                Status::Invalid => "INVALID",
                Status::Unknown => "unknown",
            };
            text.push_str(&format!(
                "  {:<16} {status:<8} {}\n",
                verdict.checker, verdict.checked
            ));
            for example in verdict.examples.iter().take(5) {
                text.push_str(&format!("      {example}\n"));
            }
        }
        text.push_str("\nlongest unavailability per nemesis:\n");
        for window in &self.unavailability {
            text.push_str(&format!(
                "  {:<24} {:>6} ms (from {:.1} s)\n",
                window.nemesis,
                window.longest_ms,
                window.start_ms as f64 / 1e3
            ));
        }
        text.push_str(&format!(
            "\nverdict: {}\n",
            if self.valid {
                "no violation"
            } else {
                "VIOLATION"
            }
        ));
        text
    }

    /// Writes `summary.json` and `summary.txt` into `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("summary.json"), json)?;
        std::fs::write(dir.join("summary.txt"), self.text())
    }
}

/// Per second of the run: answered operations, and the p50 / p99 latency of those answered.
fn per_second(operations: &[Operation]) -> Vec<(u64, u64, f64, f64)> {
    let mut buckets: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for operation in operations {
        let (Completion::Ok(_) | Completion::Fail(_), Some(returned)) =
            (&operation.completion, operation.returned_ns)
        else {
            continue;
        };
        let latency_ms = returned.saturating_sub(operation.invoke_ns) as f64 / 1e6;
        buckets
            .entry(returned / 1_000_000_000)
            .or_default()
            .push(latency_ms);
    }
    let last = buckets.keys().next_back().copied().unwrap_or(0);
    (0..=last)
        .map(|second| {
            let mut latencies = buckets.remove(&second).unwrap_or_default();
            latencies.sort_by(f64::total_cmp);
            let at = |q: f64| {
                if latencies.is_empty() {
                    0.0
                } else {
                    latencies[((latencies.len() - 1) as f64 * q).round() as usize]
                }
            };
            (second, latencies.len() as u64, at(0.5), at(0.99))
        })
        .collect()
}

/// Fault intervals in seconds, with the nemesis name.
fn fault_intervals(history: &History) -> Vec<(f64, f64, String)> {
    let mut open: BTreeMap<String, f64> = BTreeMap::new();
    let mut intervals = Vec::new();
    for fault in history.faults() {
        let at = fault.time_ns as f64 / 1e9;
        if fault.start {
            open.insert(fault.nemesis.clone(), at);
        } else if let Some(start) = open.remove(&fault.nemesis) {
            intervals.push((start, at, fault.nemesis.clone()));
        }
    }
    intervals
}

/// Why the plot was not drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("no font at {FONT_PATH} (apt-get install fonts-dejavu-core)")]
    NoFont,
    #[error("drawing: {0}")]
    Draw(String),
}

fn draw_error(e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw(e.to_string())
}

fn register_font() -> Result<(), PlotError> {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = REGISTERED.get_or_init(|| {
        let Ok(bytes) = std::fs::read(FONT_PATH) else {
            return false;
        };
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
    });
    if *ok {
        Ok(())
    } else {
        Err(PlotError::NoFont)
    }
}

/// One series of a panel: points and their colour.
type Series<'a> = (Vec<(f64, f64)>, &'a RGBColor);

/// One panel: a line per series over the run's seconds, the fault intervals shaded behind them.
fn draw_panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    caption: &str,
    end_s: f64,
    faults: &[(f64, f64, String)],
    series: &[Series<'_>],
) -> Result<(), PlotError> {
    let y_max = series
        .iter()
        .flat_map(|(points, _)| points.iter().map(|p| p.1))
        .fold(1.0f64, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..end_s, 0f64..y_max)
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .draw()
        .map_err(draw_error)?;
    let shade = RGBColor(255, 160, 160).mix(0.35);
    chart
        .draw_series(
            faults
                .iter()
                .map(|(a, b, _)| Rectangle::new([(*a, 0.0), (*b, y_max)], shade.filled())),
        )
        .map_err(draw_error)?;
    for (points, colour) in series {
        chart
            .draw_series(LineSeries::new(points.iter().copied(), *colour))
            .map_err(draw_error)?;
    }
    Ok(())
}

/// Draws throughput (answers per second) and latency (p50, p99) over time, faults shaded.
pub fn plot(history: &History, operations: &[Operation], path: &Path) -> Result<(), PlotError> {
    register_font()?;
    let seconds = per_second(operations);
    let faults = fault_intervals(history);
    let end_s = seconds.last().map_or(1, |s| s.0 + 1) as f64;
    let at = |s: &(u64, u64, f64, f64)| s.0 as f64 + 0.5;
    let root = BitMapBackend::new(path, (1200, 800)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_error)?;
    let (top, bottom) = root.split_vertically(400);
    let answers = seconds.iter().map(|s| (at(s), s.1 as f64)).collect();
    draw_panel(
        &top,
        "answered operations per second",
        end_s,
        &faults,
        &[(answers, &BLUE)],
    )?;
    let p50 = seconds.iter().map(|s| (at(s), s.2)).collect();
    let p99 = seconds.iter().map(|s| (at(s), s.3)).collect();
    draw_panel(
        &bottom,
        "latency of answered operations, ms (blue p50, red p99)",
        end_s,
        &faults,
        &[(p50, &BLUE), (p99, &RED)],
    )?;
    root.present().map_err(draw_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Kind, Value};

    fn two_seconds_of_reads() -> History {
        let mut history = History::default();
        for (i, (invoke, returned)) in [(0u64, 5u64), (10, 30), (1_100, 1_150)].iter().enumerate() {
            let call = Call::ReadSeats {
                event: "e".into(),
                node: 1,
            };
            history.invoke(i as u32, invoke * 1_000_000, call);
            history.complete(
                i as u32,
                returned * 1_000_000,
                Kind::Fail,
                Value::Rejected {
                    code: "X".into(),
                    seats: vec![],
                },
            );
        }
        history
    }

    #[test]
    fn throughput_and_latency_are_counted_per_second_of_answer() {
        let operations = two_seconds_of_reads().operations().unwrap();
        let seconds = per_second(&operations);
        assert_eq!(seconds.len(), 2);
        assert_eq!(seconds[0].1, 2, "two answers in the first second");
        assert_eq!(seconds[1].1, 1);
        assert!((seconds[1].2 - 50.0).abs() < 1e-9, "{seconds:?}");
    }

    #[test]
    fn a_plot_is_a_png() {
        let history = two_seconds_of_reads();
        let operations = history.operations().unwrap();
        let dir = std::env::temp_dir().join(format!("jepsen-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("plot.png");
        plot(&history, &operations, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
