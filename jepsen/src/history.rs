//! The recorded history of a run: what the cluster under test held (the catalog), every client
//! operation as an invoke and its completion (ok / fail / info) with times from one monotonic clock,
//! and the faults the nemesis injected. Written as JSON lines, read back for the checkers.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Nanoseconds since the run started, on the harness's monotonic clock.
pub type Nanos = u64;

/// How an event is sold, which decides the operations the workload sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Holds name specific seats: every seat's history is checked for linearizability.
    Seats,
    /// Holds ask for the best available seats of a section.
    BestAvailable,
    /// Holds ask for places in a general-admission area.
    GeneralAdmission,
}

/// One event of the run and its inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventInfo {
    pub event: String,
    pub group: u64,
    pub kind: EventKind,
    /// Every seat of the event, by id.
    pub seats: Vec<String>,
    /// General-admission areas and their capacity in places.
    pub areas: BTreeMap<String, u32>,
}

/// What the run put on sale, and the bounds the checkers need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    pub events: Vec<EventInfo>,
    /// A hold may expire this much earlier (in real time) than its invoke time plus its TTL:
    /// twice the largest clock offset the nemesis applies, plus a margin.
    pub expiry_slack_ms: u64,
    pub seed: u64,
    pub nodes: u32,
}

impl Catalog {
    pub fn event(&self, event: &str) -> Option<&EventInfo> {
        self.events.iter().find(|e| e.event == event)
    }
}

/// How the seats of a hold are chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "pick", rename_all = "snake_case")]
pub enum Pick {
    Seats { seats: Vec<String> },
    BestAvailable { section: String, quantity: u32 },
    GeneralAdmission { area: String, quantity: u32 },
}

/// What a client asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case")]
pub enum Call {
    Hold {
        event: String,
        customer: String,
        #[serde(flatten)]
        pick: Pick,
        ttl_ms: u64,
    },
    Extend {
        hold: String,
        customer: String,
        ttl_ms: u64,
    },
    Release {
        hold: String,
        customer: String,
    },
    Buy {
        hold: String,
        customer: String,
    },
    /// A linearizable seat map of the whole event, sent to `node` first.
    ReadSeats {
        event: String,
        node: u64,
    },
    /// A linearizable read of one hold, sent to `node` first.
    ReadHold {
        hold: String,
        node: u64,
    },
    /// The final read after heal: every order of the listed customers (every customer of the run).
    ReadOrders {
        event: String,
        customers: Vec<String>,
    },
}

impl Call {
    /// The event the call concerns (hold ids start with their event's id).
    pub fn event(&self) -> &str {
        match self {
            Call::Hold { event, .. }
            | Call::ReadSeats { event, .. }
            | Call::ReadOrders { event, .. } => event,
            Call::Extend { hold, .. }
            | Call::Release { hold, .. }
            | Call::Buy { hold, .. }
            | Call::ReadHold { hold, .. } => hold_event(hold),
        }
    }

    /// True for calls that change nothing.
    pub fn is_read(&self) -> bool {
        matches!(
            self,
            Call::ReadSeats { .. } | Call::ReadHold { .. } | Call::ReadOrders { .. }
        )
    }
}

/// The event part of a hold id (`<event>~h<n>`).
pub fn hold_event(hold: &str) -> &str {
    hold.rsplit_once('~').map_or(hold, |(event, _)| event)
}

/// A seat's status in a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeatStatus {
    Available,
    Held,
    Sold,
    Blocked,
}

/// A general-admission area's counts in a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AreaCounts {
    pub available: u32,
    pub held: u32,
    pub sold: u32,
    pub blocked: u32,
}

impl AreaCounts {
    pub fn total(&self) -> u64 {
        u64::from(self.available)
            + u64::from(self.held)
            + u64::from(self.sold)
            + u64::from(self.blocked)
    }
}

/// A hold's status in a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldState {
    Active,
    Expired,
    Released,
    Bought,
}

/// An order as the final read shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    pub order: String,
    pub hold: String,
    pub customer: String,
    pub seats: Vec<String>,
    /// General-admission places (0 for seated orders).
    pub places: u32,
    pub area: Option<String>,
    pub confirmed: bool,
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Value {
    Held {
        hold: String,
        seats: Vec<String>,
        places: u32,
        area: Option<String>,
        expires_at_ms: u64,
    },
    Extended {
        expires_at_ms: u64,
    },
    /// `places` is 0 when the hold had already expired or been released.
    Released {
        places: u32,
    },
    Bought {
        order: String,
        hold: String,
        seats: Vec<String>,
        places: u32,
        area: Option<String>,
    },
    /// The state machine refused; `seats` are the seats a `SEAT_UNAVAILABLE` names.
    Rejected {
        code: String,
        seats: Vec<String>,
    },
    /// Definitely not applied (no node could act), or a read that got no answer.
    Unavailable {
        reason: String,
    },
    /// May or may not have been applied.
    Indeterminate {
        reason: String,
    },
    Seats {
        seats: BTreeMap<String, SeatStatus>,
        areas: BTreeMap<String, AreaCounts>,
        served_by: u64,
        applied_index: u64,
    },
    Hold {
        status: Option<HoldState>,
        served_by: u64,
    },
    Orders {
        orders: Vec<OrderRecord>,
    },
}

/// Where an operation record is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Invoke,
    /// It took effect (or, for a read, returned a value).
    Ok,
    /// It definitely did not take effect: a rejection, or no node could act.
    Fail,
    /// Indeterminate: it may take effect at any later time.
    Info,
}

/// A fault's start or end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRecord {
    pub time_ns: Nanos,
    /// The nemesis, e.g. `partition-random-halves`.
    pub nemesis: String,
    /// True when the fault starts, false when it is healed.
    pub start: bool,
    /// What was done, e.g. `{1,2} | {3}`.
    pub detail: String,
}

/// One client-side record: an invoke, or the completion of the process's pending invoke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpRecord {
    pub process: u32,
    pub kind: Kind,
    pub time_ns: Nanos,
    /// The call (invokes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<Call>,
    /// The answer (completions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// One line of `history.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    Catalog(Catalog),
    Op(OpRecord),
    Fault(FaultRecord),
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    Ok(Value),
    Fail(Value),
    /// Indeterminate; the time the client gave up is `Operation::returned_ns`.
    Info(Value),
}

/// An invoke paired with its completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Position among the history's operations (by invoke order).
    pub id: usize,
    pub process: u32,
    pub call: Call,
    pub invoke_ns: Nanos,
    /// When the client got its answer (or gave up, for `Info`; or never, if the run ended first).
    pub returned_ns: Option<Nanos>,
    pub completion: Completion,
}

impl Operation {
    pub fn is_ok(&self) -> bool {
        matches!(self.completion, Completion::Ok(_))
    }

    pub fn is_info(&self) -> bool {
        matches!(self.completion, Completion::Info(_))
    }

    /// The value of a definite answer.
    pub fn ok_value(&self) -> Option<&Value> {
        match &self.completion {
            Completion::Ok(value) => Some(value),
            _ => None,
        }
    }

    /// When the operation's effect is known to be over: its answer's time, or never.
    pub fn completed_ns(&self) -> Option<Nanos> {
        match self.completion {
            Completion::Info(_) => None,
            _ => self.returned_ns,
        }
    }
}

/// Why a history file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("reading the history: {0}")]
    Io(#[from] std::io::Error),
    #[error("line {line}: {reason}")]
    Malformed { line: usize, reason: String },
}

/// A run's history in memory.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub catalog: Option<Catalog>,
    pub records: Vec<Record>,
}

impl History {
    pub fn new(catalog: Catalog) -> History {
        History {
            catalog: Some(catalog),
            records: Vec::new(),
        }
    }

    /// The catalog, or an empty one for histories that have none.
    pub fn catalog(&self) -> Catalog {
        self.catalog.clone().unwrap_or(Catalog {
            events: Vec::new(),
            expiry_slack_ms: 0,
            seed: 0,
            nodes: 0,
        })
    }

    pub fn invoke(&mut self, process: u32, time_ns: Nanos, call: Call) {
        self.records.push(Record::Op(OpRecord {
            process,
            kind: Kind::Invoke,
            time_ns,
            call: Some(call),
            value: None,
        }));
    }

    pub fn complete(&mut self, process: u32, time_ns: Nanos, kind: Kind, value: Value) {
        self.records.push(Record::Op(OpRecord {
            process,
            kind,
            time_ns,
            call: None,
            value: Some(value),
        }));
    }

    pub fn fault(&mut self, fault: FaultRecord) {
        self.records.push(Record::Fault(fault));
    }

    /// The faults, in time order.
    pub fn faults(&self) -> Vec<&FaultRecord> {
        self.records
            .iter()
            .filter_map(|r| match r {
                Record::Fault(f) => Some(f),
                _ => None,
            })
            .collect()
    }

    /// Invokes paired with their completions, in invoke order. An invoke whose process never
    /// completed it (the run stopped) is indeterminate with no return time. A completion without an
    /// invoke is malformed.
    pub fn operations(&self) -> Result<Vec<Operation>, HistoryError> {
        let mut pending: BTreeMap<u32, usize> = BTreeMap::new();
        let mut operations: Vec<Operation> = Vec::new();
        for (line, record) in self.records.iter().enumerate() {
            let Record::Op(op) = record else { continue };
            let malformed = |reason: &str| HistoryError::Malformed {
                line: line + 1,
                reason: format!("process {}: {reason}", op.process),
            };
            match op.kind {
                Kind::Invoke => {
                    let call = op
                        .call
                        .clone()
                        .ok_or_else(|| malformed("invoke without a call"))?;
                    if pending.contains_key(&op.process) {
                        return Err(malformed("invoke while another is pending"));
                    }
                    pending.insert(op.process, operations.len());
                    operations.push(Operation {
                        id: operations.len(),
                        process: op.process,
                        call,
                        invoke_ns: op.time_ns,
                        returned_ns: None,
                        completion: Completion::Info(Value::Indeterminate {
                            reason: "the run ended first".into(),
                        }),
                    });
                }
                kind => {
                    let at = pending
                        .remove(&op.process)
                        .ok_or_else(|| malformed("completion without an invoke"))?;
                    let value = op
                        .value
                        .clone()
                        .ok_or_else(|| malformed("completion without a value"))?;
                    let operation = &mut operations[at];
                    operation.returned_ns = Some(op.time_ns);
                    operation.completion = match kind {
                        Kind::Ok => Completion::Ok(value),
                        Kind::Fail => Completion::Fail(value),
                        _ => Completion::Info(value),
                    };
                }
            }
        }
        Ok(operations)
    }

    /// Writes the history as JSON lines: the catalog first, then every record.
    pub fn write_jsonl(&self, out: &mut impl Write) -> std::io::Result<()> {
        if let Some(catalog) = &self.catalog {
            serde_json::to_writer(&mut *out, &Record::Catalog(catalog.clone()))?;
            out.write_all(b"\n")?;
        }
        for record in &self.records {
            serde_json::to_writer(&mut *out, record)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    /// Reads a history written by [`History::write_jsonl`].
    pub fn read_jsonl(input: impl BufRead) -> Result<History, HistoryError> {
        let mut history = History::default();
        for (n, line) in input.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let record: Record =
                serde_json::from_str(&line).map_err(|e| HistoryError::Malformed {
                    line: n + 1,
                    reason: e.to_string(),
                })?;
            match record {
                Record::Catalog(catalog) => history.catalog = Some(catalog),
                other => history.records.push(other),
            }
        }
        Ok(history)
    }

    pub fn read_file(path: &Path) -> Result<History, HistoryError> {
        let file = std::fs::File::open(path)?;
        History::read_jsonl(std::io::BufReader::new(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog {
            events: vec![EventInfo {
                event: "e1".into(),
                group: 1,
                kind: EventKind::Seats,
                seats: vec!["A-1-1".into()],
                areas: BTreeMap::new(),
            }],
            expiry_slack_ms: 1_000,
            seed: 7,
            nodes: 3,
        }
    }

    #[test]
    fn a_history_survives_its_file_format() {
        let mut history = History::new(catalog());
        let hold = Call::Hold {
            event: "e1".into(),
            customer: "c1".into(),
            pick: Pick::Seats {
                seats: vec!["A-1-1".into()],
            },
            ttl_ms: 5_000,
        };
        history.invoke(0, 10, hold.clone());
        history.complete(
            0,
            20,
            Kind::Ok,
            Value::Held {
                hold: "e1~h1".into(),
                seats: vec!["A-1-1".into()],
                places: 0,
                area: None,
                expires_at_ms: 99,
            },
        );
        history.fault(FaultRecord {
            time_ns: 25,
            nemesis: "kill".into(),
            start: true,
            detail: "node 2".into(),
        });
        history.invoke(
            1,
            30,
            Call::Buy {
                hold: "e1~h1".into(),
                customer: "c1".into(),
            },
        );
        let mut bytes = Vec::new();
        history.write_jsonl(&mut bytes).unwrap();
        let again = History::read_jsonl(bytes.as_slice()).unwrap();
        assert_eq!(again.catalog, history.catalog);
        assert_eq!(again.records, history.records);

        let operations = again.operations().unwrap();
        assert_eq!(operations.len(), 2);
        assert_eq!(operations[0].call, hold);
        assert_eq!(operations[0].returned_ns, Some(20));
        assert!(operations[0].is_ok());
        assert!(operations[1].is_info(), "never completed: indeterminate");
        assert_eq!(operations[1].completed_ns(), None);
        assert_eq!(again.faults().len(), 1);
    }

    #[test]
    fn a_completion_without_an_invoke_is_malformed() {
        let mut history = History::new(catalog());
        history.complete(3, 5, Kind::Ok, Value::Released { places: 1 });
        let error = history.operations().unwrap_err();
        assert!(error.to_string().contains("without an invoke"), "{error}");
    }

    #[test]
    fn hold_ids_name_their_event() {
        assert_eq!(hold_event("tour-1~h17"), "tour-1");
    }
}
