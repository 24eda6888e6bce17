//! The checkers: each reads a run's history (and, for convergence, the replicas' audits) and
//! returns a [`Verdict`]. Each lives in its own module and is tested on hand-made bad histories
//! that it must flag.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::history::History;

pub mod conservation;
pub mod convergence;
pub mod hold_semantics;
pub mod linearizable;
pub mod liveness;
pub mod lost_buy;
pub mod oversell;
#[cfg(test)]
mod scenario;
mod shared;

/// Runs every checker of the run: no oversell, no lost buy, conservation, hold semantics,
/// linearizability (within `linearizability_budget`), convergence (of `audits` against
/// `expected_replicas`, group -> nodes) and liveness (recovery within `recovery_bound` of the final
/// heal). Returns their verdicts in that order, and the unavailability windows per nemesis. A malformed history makes each checker that
/// reads it Invalid, saying so.
pub fn check_all(
    history: &History,
    audits: &[convergence::ReplicaAudit],
    expected_replicas: &BTreeMap<u64, Vec<u64>>,
    recovery_bound: Duration,
    linearizability_budget: Duration,
) -> (Vec<Verdict>, Vec<liveness::UnavailabilityWindow>) {
    let (liveness, windows) = liveness::check(history, recovery_bound);
    let verdicts = vec![
        oversell::check(history),
        lost_buy::check(history),
        conservation::check(history),
        hold_semantics::check(history),
        linearizable::check(history, linearizability_budget),
        convergence::check(audits, expected_replicas),
        liveness,
    ];
    (verdicts, windows)
}

/// How many problems a verdict lists (the count is always exact).
pub const PROBLEMS_LISTED_MAX: usize = 20;

/// A checker's finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Valid,
    Invalid,
    /// The checker could not decide (e.g. out of time budget); not a violation, not a pass.
    Unknown,
}

/// One checker's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub checker: String,
    pub status: Status,
    /// How many problems were found.
    pub problems: u64,
    /// The first [`PROBLEMS_LISTED_MAX`] problems, readable.
    pub examples: Vec<String>,
    /// What was checked, e.g. `412 buys, 1,203 reads`.
    pub checked: String,
}

impl Verdict {
    /// A verdict that collects problems as it goes.
    pub fn new(checker: &str) -> Verdict {
        Verdict {
            checker: checker.to_string(),
            status: Status::Valid,
            problems: 0,
            examples: Vec::new(),
            checked: String::new(),
        }
    }

    /// Records a violation.
    pub fn problem(&mut self, description: impl Into<String>) {
        self.status = Status::Invalid;
        self.problems += 1;
        if self.examples.len() < PROBLEMS_LISTED_MAX {
            self.examples.push(description.into());
        }
    }

    /// Marks the verdict undecided (unless a violation was found).
    pub fn unknown(&mut self, why: impl Into<String>) {
        if self.status == Status::Valid {
            self.status = Status::Unknown;
        }
        self.examples.push(why.into());
    }

    pub fn checked(mut self, what: impl Into<String>) -> Verdict {
        self.checked = what.into();
        self
    }

    pub fn is_valid(&self) -> bool {
        self.status == Status::Valid
    }

    /// Test helper: the verdict is Invalid and one of its problems names `needle`.
    #[cfg(test)]
    pub(crate) fn assert_flags(&self, needle: &str) {
        assert_eq!(self.status, Status::Invalid, "{self:?}");
        assert!(
            self.examples.iter().any(|e| e.contains(needle)),
            "expected a problem naming {needle:?}: {self:?}"
        );
    }

    /// Test helper: the verdict is Valid.
    #[cfg(test)]
    pub(crate) fn assert_valid(&self) {
        assert_eq!(self.status, Status::Valid, "{self:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::scenario::{order, Scenario, GIG};
    use crate::history::{Kind, Value};

    fn replicas() -> (Vec<convergence::ReplicaAudit>, BTreeMap<u64, Vec<u64>>) {
        let audit = |node| convergence::ReplicaAudit {
            node,
            group: 1,
            applied_index: 12,
            state_hash: "ab".into(),
            violation: String::new(),
        };
        (vec![audit(1), audit(2)], BTreeMap::from([(1, vec![1, 2])]))
    }

    #[test]
    fn a_clean_run_passes_every_checker() {
        let history = Scenario::new()
            .hold(0, (0, 10), "gig~h1", &["A-1-1"])
            .buy(0, (20, 30), "gig~h1", "o1", &["A-1-1"])
            .read_gig(1, (40, 50), &["A-1-1"], &[])
            .fault(60, "partition", true)
            .fault(70, "partition", false)
            .read_orders(0, (100, 110), GIG, vec![order("o1", "gig~h1", &["A-1-1"])])
            .build();
        let (audits, expected) = replicas();
        let (verdicts, windows) = check_all(
            &history,
            &audits,
            &expected,
            Duration::from_secs(1),
            Duration::from_secs(5),
        );
        let names: Vec<&str> = verdicts.iter().map(|v| v.checker.as_str()).collect();
        assert_eq!(
            names,
            [
                "no-oversell",
                "no-lost-buy",
                "conservation",
                "hold-semantics",
                "linearizable",
                "convergence",
                "liveness"
            ]
        );
        assert!(verdicts.iter().all(Verdict::is_valid), "{verdicts:#?}");
        assert_eq!(windows.len(), 1);
    }

    #[test]
    fn a_malformed_history_is_invalid_for_every_checker_that_reads_it() {
        let mut history = Scenario::new().build();
        history.complete(9, 5, Kind::Ok, Value::Released { places: 0 });
        let (audits, expected) = replicas();
        let (verdicts, _) = check_all(
            &history,
            &audits,
            &expected,
            Duration::from_secs(1),
            Duration::from_secs(5),
        );
        for verdict in &verdicts {
            if verdict.checker == convergence::NAME {
                assert!(verdict.is_valid(), "{verdict:?}");
            } else {
                assert_eq!(verdict.status, Status::Invalid, "{verdict:?}");
                assert!(
                    verdict.examples[0].contains("malformed history"),
                    "{verdict:?}"
                );
            }
        }
    }
}
