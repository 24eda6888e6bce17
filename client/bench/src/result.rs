//! A run's result as written to `--json`: rates, latency percentiles, rejections, indeterminate
//! outcomes, the expiry storm's drain, and the invariant verdict. `report` reads these back.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::checker::Verdict;

/// Latency of one operation, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// From a histogram of microseconds.
    pub fn of(histogram: &Histogram<u64>) -> Latency {
        let ms = |us: u64| us as f64 / 1_000.0;
        if histogram.is_empty() {
            return Latency::default();
        }
        Latency {
            count: histogram.len(),
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p95_ms: ms(histogram.value_at_quantile(0.95)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            max_ms: ms(histogram.max()),
        }
    }
}

/// How long after the common expiry time every expired seat was available again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Drain {
    /// Expiry is decided on read: an expired hold is free at that instant.
    AtOnceLazy,
    /// Measured: milliseconds from the expiry time to the first poll that saw no held seat.
    AfterMs(u64),
    /// Still held seats when the wait ended (how many were left).
    NotWithinMs { waited_ms: u64, left: u64 },
}

/// The expiry storm's own figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpiryResult {
    pub holds_placed: u64,
    pub holds_planned: u64,
    pub placement_s: f64,
    pub drain: Drain,
    /// Holds of the concurrent buyers before the expiry time, and from it until drained
    /// (at least `storm_window_ms_min`).
    pub side_hold_before: Latency,
    pub side_hold_during: Latency,
    pub side_buyers: usize,
}

/// The invariant check as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invariants {
    pub valid: bool,
    pub checked_seats: u64,
    pub sold_seats: u64,
    pub acknowledged_tickets: u64,
    pub indeterminate_tickets_applied: u64,
    pub audit: Option<String>,
    /// The first violations (all are counted in `violation_count`).
    pub violations: Vec<String>,
    pub violation_count: u64,
    /// Why the check could not run (then `valid` is false).
    pub error: Option<String>,
}

/// Violations listed in a result; the rest are only counted.
const VIOLATIONS_LISTED_MAX: usize = 20;

impl Invariants {
    pub fn from_verdict(verdict: &Verdict) -> Invariants {
        Invariants {
            valid: verdict.valid(),
            checked_seats: verdict.checked_seats,
            sold_seats: verdict.sold_seats,
            acknowledged_tickets: verdict.acknowledged_tickets,
            indeterminate_tickets_applied: verdict.indeterminate_tickets_applied,
            audit: verdict
                .audit
                .as_ref()
                .map(|a| format!("{}: {}", if a.ok { "OK" } else { "FAILED" }, a.detail)),
            violations: verdict
                .violations
                .iter()
                .take(VIOLATIONS_LISTED_MAX)
                .map(ToString::to_string)
                .collect(),
            violation_count: verdict.violations.len() as u64,
            error: None,
        }
    }

    pub fn not_checked(error: String) -> Invariants {
        Invariants {
            valid: false,
            checked_seats: 0,
            sold_seats: 0,
            acknowledged_tickets: 0,
            indeterminate_tickets_applied: 0,
            audit: None,
            violations: Vec::new(),
            violation_count: 0,
            error: Some(error),
        }
    }
}

/// Everything one `run` measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub store: String,
    pub workload: String,
    pub seed: u64,
    pub buyers: usize,
    /// The options of the run, for the record.
    pub options: BTreeMap<String, String>,
    /// The store's guarantees as the table should state them.
    pub notes: Vec<String>,
    /// None when the workload ran; otherwise why it is n/a on this store.
    pub not_applicable: Option<String>,
    pub elapsed_s: f64,
    pub holds_decided: u64,
    pub holds_accepted: u64,
    pub holds_rejected: u64,
    pub holds_indeterminate: u64,
    pub buys_sold: u64,
    pub buys_rejected: u64,
    pub buys_indeterminate: u64,
    pub releases: u64,
    pub abandoned: u64,
    pub tickets_sold: u64,
    pub decided_holds_per_s: f64,
    pub successful_holds_per_s: f64,
    pub tickets_per_s: f64,
    /// `hold`, `buy`, `release`.
    pub latency: BTreeMap<String, Latency>,
    /// `operation:CODE` -> count.
    pub rejections: BTreeMap<String, u64>,
    /// `operation:KIND` -> count of calls that gave no answer (not applied).
    pub errors: BTreeMap<String, u64>,
    pub expiry: Option<ExpiryResult>,
    pub invariants: Invariants,
}

impl RunResult {
    pub fn latency_of(&self, operation: &str) -> Latency {
        self.latency.get(operation).copied().unwrap_or_default()
    }

    /// Passed: ran and every invariant held (an n/a run passes).
    pub fn passed(&self) -> bool {
        self.not_applicable.is_some() || self.invariants.valid
    }
}
