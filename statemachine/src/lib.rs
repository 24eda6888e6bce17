//! The Boxoffice ticketing state machine: events, seats, holds, orders, applied deterministically.
//!
//! Every replica of a Raft group runs this crate on the same log and ends with the same bytes. It
//! knows nothing of Raft, RocksDB, async runtimes or the clock: time and identity arrive inside each
//! [`Command`], state lives behind the [`Store`] trait, and [`apply`] returns the writes to commit.
//!
//! - [`command`]: the commands of the log and their outcomes (rejections are values with stable codes).
//! - [`apply`](mod@apply): the rules of hold, extend, release, buy, cancel, block and expire.
//! - [`query`]: events with live counts, seat maps, holds, orders.
//! - [`invariants`]: the one audit of the state every test and replica check reuses.
//! - [`snapshot`]: ordered export/import of the whole state and its hash.

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
mod seating;
pub mod snapshot;
pub mod store;
mod validate;

pub use apply::{apply, execute, Applied};
pub use command::{
    Action, Command, Effect, HoldItems, HoldStatus, HoldView, Limit, OrderStatus, OrderView,
    Outcome, Rejection, Scope, Selection, Ticket,
};
pub use event::{
    Counts, EventLimits, EventSpec, EventStatus, GaAreaSpec, PriceTier, RowSeats, RowSpec,
    SectionSpec, StatusChange,
};
pub use ids::{CustomerId, EventId, HoldId, InvalidId, OrderId, RequestId, SeatId, TicketId};
pub use store::{Entries, KvStore, MemStore, Store, StoreError, Txn, WriteBatch};
