//! The Boxoffice ticketing state machine: events, seats, holds, orders, applied deterministically.
//!
//! Every replica of a Raft group runs this crate on the same log and ends with the same bytes. It
//! knows nothing of Raft, RocksDB, async runtimes or the clock: time and identity arrive inside each
//! [`Command`], state lives behind the [`Store`] trait, and [`apply`] returns the writes to commit.
//!
//! - [`command`]: the commands of the log and their outcomes (rejections are values with stable codes).
//! - [`apply`](mod@apply): the rules of hold, extend, release, buy, cancel, block and expire, and the
//!   waiting room of gated events (join, sequence, admit: a hold needs an admission).
//! - [`query`]: events with live counts, seat maps, holds, orders, places in a waiting room.
//! - [`invariants`]: the one audit of the state every test and replica check reuses.
//! - [`snapshot`]: ordered export/import of the whole state and its hash.
//!
//! ```
//! use boxoffice_statemachine::*;
//!
//! let mut store = MemStore::new();
//! let mut run = |id: &str, at_ms: u64, action: Action| {
//!     let command = Command { request_id: RequestId::new(id).unwrap(), at_ms, action };
//!     execute(&mut store, &command).unwrap()
//! };
//! run("create", 1_000, Action::CreateEvent(fixtures::club("club")));
//! let ann = CustomerId::new("ann").unwrap();
//! let selection = Selection::GeneralAdmission { area: "Pit".into(), quantity: 2 };
//! let hold = match run("h1", 2_000, Action::Hold {
//!     event: EventId::new("club").unwrap(), customer: ann.clone(), selection, ttl_ms: None,
//! }) {
//!     Outcome::Accepted(Effect::Held(hold)) => hold,
//!     other => panic!("{other:?}"),
//! };
//! let buy = Action::Buy { hold: hold.id.clone(), customer: ann, payment_reference: "psp-1".into() };
//! let Outcome::Accepted(Effect::Bought(order)) = run("b1", 3_000, buy) else { panic!() };
//! assert_eq!(order.tickets.len(), 2);
//! // A second buy of the same hold is an answer, not an error:
//! let buy = Action::Buy { hold: hold.id, customer: CustomerId::new("ann").unwrap(), payment_reference: "psp-2".into() };
//! assert_eq!(run("b2", 4_000, buy).rejection().map(Rejection::code), Some("HOLD_NOT_ACTIVE"));
//! invariants::check(&store).unwrap();
//! ```

pub mod apply;
pub mod codec;
pub mod command;
pub mod event;
pub mod fixtures;
pub mod ids;
pub mod invariants;
pub mod limits;
pub mod query;
mod records;
pub mod relocate;
mod seating;
pub mod snapshot;
pub mod store;
mod validate;

pub use apply::{answer_now, apply, execute, stamp_time, Applied};
pub use command::{
    Action, AdmissionStatus, Command, Effect, HoldItems, HoldStatus, HoldView, Limit, OrderStatus,
    OrderView, Outcome, QueueView, Rejection, Scope, Selection, Ticket,
};
pub use event::{
    AdmissionSettings, Counts, EventLimits, EventSpec, EventStatus, GaAreaSpec, PriceTier,
    RowSeats, RowSpec, SectionSpec, StatusChange,
};
pub use ids::{CustomerId, EventId, HoldId, InvalidId, OrderId, RequestId, SeatId, TicketId};
pub use records::applies_reread;
pub use store::{Entries, KvStore, MemStore, Store, StoreError, Txn, WriteBatch};
