//! The checkers: each reads a run's history (and, for convergence, the replicas' audits) and
//! returns a [`Verdict`]. Each lives in its own module and is tested on hand-made bad histories
//! that it must flag.

pub mod linearizable;

use serde::{Deserialize, Serialize};

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
}
