//! What several checkers share: a history's operations (or the verdict that it cannot be read),
//! and how operations are named in a verdict's examples.

use super::Verdict;
use crate::history::{History, Operation};

/// Nanoseconds in a millisecond, for times shown in milliseconds.
pub(crate) const NANOS_PER_MS: u64 = 1_000_000;

/// The history's operations, or an Invalid verdict saying why they cannot be read.
pub(crate) fn operations(history: &History, checker: &str) -> Result<Vec<Operation>, Verdict> {
    history.operations().map_err(|error| {
        let mut verdict = Verdict::new(checker);
        verdict.problem(format!("malformed history: {error}"));
        verdict.checked("nothing: the history's operations could not be read")
    })
}

/// `op 12 (process 3, 1500..1520 ms)`, for a verdict's examples.
pub(crate) fn describe(op: &Operation) -> String {
    let returned = op
        .returned_ns
        .map_or_else(|| "never".to_string(), |r| (r / NANOS_PER_MS).to_string());
    format!(
        "op {} (process {}, {}..{} ms)",
        op.id,
        op.process,
        op.invoke_ns / NANOS_PER_MS,
        returned
    )
}
