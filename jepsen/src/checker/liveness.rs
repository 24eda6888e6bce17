//! Liveness: how long the cluster answered nothing during each nemesis's faults, and that it
//! answers again within the recovery bound once the last fault is healed, and keeps answering.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::shared::{self, ms, NANOS_PER_MS};
use super::Verdict;
use crate::history::{Completion, History, Nanos, Operation, Record, Value};

pub const NAME: &str = "liveness";

/// Silences between answers shorter than this are latency, not unavailability.
pub const UNAVAILABILITY_GAP_MIN: Duration = Duration::from_millis(250);

/// The nemesis named by the one window reported for a run without faults.
pub const NO_NEMESIS: &str = "none";

/// The longest silence (no answer from any client) that overlapped one nemesis's faults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnavailabilityWindow {
    pub nemesis: String,
    /// 0 when no silence of [`UNAVAILABILITY_GAP_MIN`] or more overlapped its faults.
    pub longest_ms: u64,
    /// When that silence began (its last answer before it), in ms since the run started.
    pub start_ms: u64,
}

/// A silence: the times of two consecutive answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Gap {
    from_ns: Nanos,
    to_ns: Nanos,
}

impl Gap {
    fn length_ns(&self) -> Nanos {
        self.to_ns - self.from_ns
    }

    fn overlaps(&self, (start_ns, stop_ns): (Nanos, Nanos)) -> bool {
        self.from_ns <= stop_ns && self.to_ns >= start_ns
    }
}

/// True when the operation got a definite answer from the state machine: it returned a value,
/// or a rejection. "No node could act" and indeterminate endings are no answer.
fn answered(op: &Operation) -> bool {
    match &op.completion {
        Completion::Ok(_) => true,
        Completion::Fail(value) => matches!(value, Value::Rejected { .. }),
        Completion::Info(_) => false,
    }
}

fn nanos(duration: Duration) -> Nanos {
    Nanos::try_from(duration.as_nanos()).unwrap_or(Nanos::MAX)
}

/// Measures each nemesis's longest silence and checks recovery after the final heal, which must
/// bring an answer within `recovery_bound`, and no silence longer than it while clients ask.
pub fn check(history: &History, recovery_bound: Duration) -> (Verdict, Vec<UnavailabilityWindow>) {
    let operations = match shared::operations(history, NAME) {
        Ok(operations) => operations,
        Err(verdict) => return (verdict, Vec::new()),
    };
    let mut verdict = Verdict::new(NAME);
    let bound_ns = nanos(recovery_bound);
    let gap_min_ns = nanos(UNAVAILABILITY_GAP_MIN);

    let mut answers: Vec<Nanos> = operations
        .iter()
        .filter(|op| answered(op))
        .filter_map(|op| op.returned_ns)
        .collect();
    answers.sort_unstable();
    let gaps: Vec<Gap> = answers
        .windows(2)
        .map(|pair| Gap {
            from_ns: pair[0],
            to_ns: pair[1],
        })
        .collect();
    let silences: Vec<Gap> = gaps
        .iter()
        .copied()
        .filter(|gap| gap.length_ns() >= gap_min_ns)
        .collect();
    let end_ns = history_end(history);

    let (intervals, unhealed) = fault_intervals(history, end_ns);
    if intervals.is_empty() {
        let longest = longest(silences.iter());
        let windows = vec![window(NO_NEMESIS, longest)];
        let verdict = verdict.checked(format!(
            "{} answers, no faults; longest silence {} ms",
            answers.len(),
            longest.map_or(0, |gap| ms(gap.length_ns()))
        ));
        return (verdict, windows);
    }
    let windows: Vec<UnavailabilityWindow> = intervals
        .iter()
        .map(|(nemesis, faults)| {
            let overlapping = silences
                .iter()
                .filter(|gap| faults.iter().any(|fault| gap.overlaps(*fault)));
            window(nemesis, longest(overlapping))
        })
        .collect();

    let fault_count: usize = intervals.values().map(Vec::len).sum();
    let mut checked = format!(
        "{} answers, {fault_count} fault intervals of {} nemeses",
        answers.len(),
        intervals.len()
    );
    if !unhealed.is_empty() {
        for (nemesis, start_ns) in &unhealed {
            verdict.unknown(format!(
                "{nemesis}'s fault from {} ms was never healed: recovery not checked",
                ms(*start_ns)
            ));
        }
        return (verdict.checked(checked), windows);
    }
    let heal_ns = intervals
        .values()
        .flatten()
        .map(|&(_, stop_ns)| stop_ns)
        .max()
        .unwrap_or_default();

    // Recovery is measured from the heal, or from the first request after it if none was in
    // flight then (nobody asking is not unavailability).
    let Some(recovery_from_ns) = first_asked(&operations, heal_ns, end_ns) else {
        verdict.unknown(format!(
            "nothing was asked after the final heal at {} ms: recovery not checked",
            ms(heal_ns)
        ));
        return (verdict.checked(checked), windows);
    };
    let first_answer = answers
        .iter()
        .copied()
        .find(|&answer| answer >= recovery_from_ns);
    checked.push_str(&format!(
        "; final heal at {} ms, first answer after it at {}",
        ms(heal_ns),
        first_answer.map_or_else(|| "never".to_string(), |at| format!("{} ms", ms(at)))
    ));
    if first_answer.is_none_or(|at| at - recovery_from_ns > bound_ns) {
        verdict.problem(format!(
            "no answer within {} ms of the final heal at {} ms (asked from {} ms, first answer {})",
            recovery_bound.as_millis(),
            ms(heal_ns),
            ms(recovery_from_ns),
            first_answer.map_or_else(|| "never".to_string(), |at| format!("at {} ms", ms(at)))
        ));
        return (verdict.checked(checked), windows);
    }

    // Once recovered, no silence longer than the bound while clients ask, up to the end.
    let steady_ns = recovery_from_ns.saturating_add(bound_ns);
    let trailing = answers.last().map(|&last| Gap {
        from_ns: last,
        to_ns: end_ns,
    });
    for gap in gaps.iter().copied().chain(trailing) {
        if gap.to_ns <= steady_ns {
            continue;
        }
        let from_ns = gap.from_ns.max(steady_ns);
        if gap.to_ns - from_ns <= bound_ns {
            continue;
        }
        let Some(asked_ns) = first_asked(&operations, from_ns, gap.to_ns) else {
            continue;
        };
        if gap.to_ns - asked_ns > bound_ns {
            verdict.problem(format!(
                "{} ms after the final heal, clients asked from {} ms but got no answer for {} ms \
                 (until {}), over the recovery bound of {} ms",
                ms(asked_ns.saturating_sub(heal_ns)),
                ms(asked_ns),
                ms(gap.to_ns - asked_ns),
                if gap.to_ns == end_ns && Some(gap) == trailing {
                    "the run ended".to_string()
                } else {
                    format!("{} ms", ms(gap.to_ns))
                },
                recovery_bound.as_millis()
            ));
        }
    }
    (verdict.checked(checked), windows)
}

fn longest<'a>(gaps: impl Iterator<Item = &'a Gap>) -> Option<Gap> {
    gaps.copied()
        .fold(None, |best: Option<Gap>, gap| match best {
            Some(best) if best.length_ns() >= gap.length_ns() => Some(best),
            _ => Some(gap),
        })
}

fn window(nemesis: &str, gap: Option<Gap>) -> UnavailabilityWindow {
    UnavailabilityWindow {
        nemesis: nemesis.to_string(),
        longest_ms: gap.map_or(0, |gap| gap.length_ns() / NANOS_PER_MS),
        start_ms: gap.map_or(0, |gap| gap.from_ns / NANOS_PER_MS),
    }
}

/// The last time the history records.
fn history_end(history: &History) -> Nanos {
    history
        .records
        .iter()
        .map(|record| match record {
            Record::Op(op) => op.time_ns,
            Record::Fault(fault) => fault.time_ns,
            Record::Catalog(_) => 0,
        })
        .max()
        .unwrap_or_default()
}

/// Each nemesis's fault intervals `[start, stop]` (overlapping faults of one nemesis merged), and
/// the nemeses with a fault still open at the end (their interval runs to `end_ns`).
#[allow(clippy::type_complexity)]
fn fault_intervals(
    history: &History,
    end_ns: Nanos,
) -> (BTreeMap<String, Vec<(Nanos, Nanos)>>, Vec<(String, Nanos)>) {
    let mut faults = history.faults();
    faults.sort_by_key(|fault| fault.time_ns);
    let mut intervals: BTreeMap<String, Vec<(Nanos, Nanos)>> = BTreeMap::new();
    // nemesis -> (faults open, since when).
    let mut open: BTreeMap<&str, (u32, Nanos)> = BTreeMap::new();
    for fault in faults {
        let (count, since) = open.entry(&fault.nemesis).or_insert((0, fault.time_ns));
        if fault.start {
            if *count == 0 {
                *since = fault.time_ns;
            }
            *count += 1;
        } else if *count > 0 {
            *count -= 1;
            if *count == 0 {
                intervals
                    .entry(fault.nemesis.clone())
                    .or_default()
                    .push((*since, fault.time_ns));
            }
        }
    }
    let mut unhealed = Vec::new();
    for (nemesis, (count, since)) in open {
        if count > 0 {
            intervals
                .entry(nemesis.to_string())
                .or_default()
                .push((since, end_ns));
            unhealed.push((nemesis.to_string(), since));
        }
    }
    (intervals, unhealed)
}

/// The first time in `[from_ns, to_ns)` a client was asking: `from_ns` itself if a request was in
/// flight then, else the first invoke after it.
fn first_asked(operations: &[Operation], from_ns: Nanos, to_ns: Nanos) -> Option<Nanos> {
    let in_flight = operations.iter().any(|op| {
        op.invoke_ns <= from_ns && op.returned_ns.is_none_or(|returned| returned > from_ns)
    });
    if in_flight {
        return Some(from_ns);
    }
    operations
        .iter()
        .map(|op| op.invoke_ns)
        .filter(|&invoke| invoke >= from_ns && invoke < to_ns)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::scenario::Scenario;
    use crate::checker::Status;
    use crate::history::{Call, Kind};

    const BOUND: Duration = Duration::from_secs(1);

    fn read() -> Call {
        Call::ReadSeats {
            event: "gig".into(),
            node: 1,
        }
    }

    /// One client's reads answered every `every_ms` from `from_ms` until `to_ms`, each taking 5 ms.
    fn answers(scenario: &mut Scenario, p: u32, (from_ms, to_ms): (u64, u64), every_ms: u64) {
        let mut at = from_ms;
        while at <= to_ms {
            let value = Value::Hold {
                status: None,
                served_by: 1,
            };
            scenario.op(p, (at.saturating_sub(5), at), read(), Kind::Ok, value);
            at += every_ms;
        }
    }

    /// Requests from `p` that no node could act on, one every 100 ms over the span.
    fn unavailable(scenario: &mut Scenario, p: u32, (from_ms, to_ms): (u64, u64)) {
        let mut at = from_ms;
        while at < to_ms {
            let value = Value::Unavailable {
                reason: "no leader".into(),
            };
            scenario.op(p, (at, at + 90), read(), Kind::Fail, value);
            at += 100;
        }
    }

    fn window(nemesis: &str, longest_ms: u64, start_ms: u64) -> UnavailabilityWindow {
        UnavailabilityWindow {
            nemesis: nemesis.into(),
            longest_ms,
            start_ms,
        }
    }

    #[test]
    fn without_faults_the_longest_silence_is_reported_and_valid() {
        let mut scenario = Scenario::new();
        answers(&mut scenario, 0, (0, 1_000), 100);
        answers(&mut scenario, 0, (1_400, 2_000), 100);
        answers(&mut scenario, 0, (2_200, 2_400), 100);
        let (verdict, windows) = check(&scenario.build(), BOUND);
        assert_eq!(verdict.status, Status::Valid, "{verdict:?}");
        assert_eq!(windows, vec![window(NO_NEMESIS, 400, 1_000)]);
    }

    #[test]
    fn each_nemesis_reports_the_longest_silence_overlapping_its_faults() {
        let mut scenario = Scenario::new();
        answers(&mut scenario, 0, (0, 1_200), 100);
        // Partitioned 1000..3000: silent 1200..2500.
        unavailable(&mut scenario, 1, (1_200, 2_500));
        answers(&mut scenario, 0, (2_500, 5_100), 100);
        // Killed 5000..6000: silent 5100..5400 (300 ms), later 200 ms (too short to count).
        answers(&mut scenario, 0, (5_400, 7_000), 100);
        answers(&mut scenario, 0, (7_200, 9_000), 100);
        scenario
            .fault(1_000, "partition", true)
            .fault(3_000, "partition", false)
            .fault(5_000, "kill", true)
            .fault(5_500, "kill", false)
            .fault(6_500, "clock", true)
            .fault(6_800, "clock", false);
        let (verdict, windows) = check(&scenario.build(), BOUND);
        assert_eq!(verdict.status, Status::Valid, "{verdict:?}");
        assert_eq!(
            windows,
            vec![
                window("clock", 0, 0),
                window("kill", 300, 5_100),
                window("partition", 1_300, 1_200),
            ]
        );
    }

    #[test]
    fn rejections_are_answers_but_unavailable_and_indeterminate_ends_are_not() {
        let mut scenario = Scenario::new();
        answers(&mut scenario, 0, (0, 1_000), 100);
        let rejected = Value::Rejected {
            code: "SEAT_UNAVAILABLE".into(),
            seats: Vec::new(),
        };
        scenario.op(1, (1_000, 1_200), read(), Kind::Fail, rejected);
        unavailable(&mut scenario, 1, (1_300, 1_800));
        let timed_out = Value::Indeterminate {
            reason: "timed out".into(),
        };
        scenario.op(1, (1_800, 2_000), read(), Kind::Info, timed_out);
        answers(&mut scenario, 0, (2_100, 2_500), 100);
        let (_, windows) = check(&scenario.build(), BOUND);
        assert_eq!(windows, vec![window(NO_NEMESIS, 900, 1_200)]);
    }

    #[test]
    fn no_answer_within_the_bound_after_the_final_heal_is_invalid() {
        let mut scenario = Scenario::new();
        answers(&mut scenario, 0, (0, 1_000), 100);
        unavailable(&mut scenario, 1, (1_000, 4_000));
        answers(&mut scenario, 0, (4_000, 5_000), 100);
        scenario
            .fault(1_000, "partition", true)
            .fault(2_000, "partition", false);
        let (verdict, _) = check(&scenario.build(), BOUND);
        assert_eq!(verdict.status, Status::Invalid, "{verdict:?}");
        assert!(
            verdict.examples[0].contains("no answer within 1000 ms of the final heal at 2000 ms"),
            "{verdict:?}"
        );
    }

    #[test]
    fn a_long_silence_after_recovery_while_clients_ask_is_invalid() {
        let mut scenario = Scenario::new();
        answers(&mut scenario, 0, (0, 2_500), 100);
        unavailable(&mut scenario, 1, (2_500, 5_000));
        answers(&mut scenario, 0, (5_000, 6_000), 100);
        scenario
            .fault(1_000, "kill", true)
            .fault(2_000, "kill", false);
        let (verdict, _) = check(&scenario.build(), BOUND);
        assert_eq!(verdict.status, Status::Invalid, "{verdict:?}");
        assert!(
            verdict.examples[0].contains(
                "clients asked from 3100 ms but got no answer for 1900 ms (until 5000 ms)"
            ),
            "{verdict:?}"
        );
    }

    #[test]
    fn requests_left_unanswered_until_the_run_ends_are_invalid() {
        let mut scenario = Scenario::new();
        answers(&mut scenario, 0, (0, 2_500), 100);
        unavailable(&mut scenario, 1, (2_500, 5_000));
        scenario
            .fault(1_000, "kill", true)
            .fault(2_000, "kill", false);
        let (verdict, _) = check(&scenario.build(), BOUND);
        assert_eq!(verdict.status, Status::Invalid, "{verdict:?}");
        assert!(verdict.examples[0].contains("the run ended"), "{verdict:?}");
    }

    #[test]
    fn a_pause_with_nobody_asking_is_not_unavailability() {
        let mut scenario = Scenario::new();
        answers(&mut scenario, 0, (0, 3_000), 100);
        scenario
            .fault(1_000, "partition", true)
            .fault(1_500, "partition", false);
        // The workload stops; the final read comes 10 s later and is answered at once.
        answers(&mut scenario, 0, (13_000, 13_000), 100);
        let (verdict, _) = check(&scenario.build(), BOUND);
        assert_eq!(verdict.status, Status::Valid, "{verdict:?}");
    }

    #[test]
    fn recovery_is_measured_from_the_first_request_after_an_idle_heal() {
        let mut scenario = Scenario::new();
        answers(&mut scenario, 0, (0, 1_000), 100);
        scenario
            .fault(1_000, "partition", true)
            .fault(1_500, "partition", false);
        // Nobody asks until 5 s; then the answers take 300 ms to come.
        scenario.op(
            0,
            (5_000, 5_300),
            read(),
            Kind::Ok,
            Value::Hold {
                status: None,
                served_by: 1,
            },
        );
        let (verdict, _) = check(&scenario.build(), BOUND);
        assert_eq!(verdict.status, Status::Valid, "{verdict:?}");
    }

    #[test]
    fn a_fault_never_healed_leaves_recovery_undecided() {
        let mut scenario = Scenario::new();
        answers(&mut scenario, 0, (0, 3_000), 100);
        scenario.fault(1_000, "kill", true);
        let (verdict, windows) = check(&scenario.build(), BOUND);
        assert_eq!(verdict.status, Status::Unknown, "{verdict:?}");
        assert_eq!(windows, vec![window("kill", 0, 0)]);
    }

    #[test]
    fn a_malformed_history_is_invalid_not_a_panic() {
        let mut history = Scenario::new().build();
        history.complete(9, 5, Kind::Ok, Value::Released { places: 0 });
        let (verdict, windows) = check(&history, BOUND);
        assert_eq!(verdict.status, Status::Invalid, "{verdict:?}");
        assert!(windows.is_empty());
    }
}
