//! What several checkers share: a history's operations (or the verdict that it cannot be read),
//! each event's final order read, and how operations are named in a verdict's examples.

use std::collections::BTreeMap;

use super::Verdict;
use crate::history::{hold_event, Call, History, Nanos, Operation, OrderRecord, Value};

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

/// True when `op` returned before `time_ns`: it happened before anything invoked at `time_ns`.
pub(crate) fn returned_before(op: &Operation, time_ns: Nanos) -> bool {
    op.returned_ns.is_some_and(|returned| returned < time_ns)
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

/// Milliseconds, for a verdict's examples.
pub(crate) fn ms(time_ns: Nanos) -> u64 {
    time_ns / NANOS_PER_MS
}

/// One event's final order read: its last answered `ReadOrders` (by invoke time).
#[derive(Debug)]
pub(crate) struct FinalRead<'a> {
    pub op: &'a Operation,
    /// The read's orders of this event (a hold id names its event), in the read's order.
    pub orders: Vec<&'a OrderRecord>,
}

/// Each event's final order read, by event id.
pub(crate) fn final_reads(operations: &[Operation]) -> BTreeMap<&str, FinalRead<'_>> {
    let mut finals: BTreeMap<&str, FinalRead<'_>> = BTreeMap::new();
    for op in operations {
        let (Call::ReadOrders { event, .. }, Some(Value::Orders { orders })) =
            (&op.call, op.ok_value())
        else {
            continue;
        };
        if finals
            .get(event.as_str())
            .is_some_and(|known| known.op.invoke_ns > op.invoke_ns)
        {
            continue;
        }
        let orders = orders
            .iter()
            .filter(|order| hold_event(&order.hold) == event)
            .collect();
        finals.insert(event, FinalRead { op, orders });
    }
    finals
}

/// Up to a few items of a list, for a verdict's examples.
pub(crate) fn some_of(items: &[&str]) -> String {
    /// How many items an example names before `…`.
    const NAMED_MAX: usize = 5;
    let mut text = items
        .iter()
        .take(NAMED_MAX)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > NAMED_MAX {
        text.push_str(&format!(", … ({} in all)", items.len()));
    }
    text
}
