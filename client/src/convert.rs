//! Conversions between the public API's protobuf messages (`proto`) and the state machine's types,
//! shared by the node (requests in, outcomes and views out) and the client (the reverse).
//!
//! - [`CommandRequest`]: a command request off the wire, as the state machine [`Action`] it asks for.
//! - [`outcome_to_proto`] / [`outcome_from_proto`]: every [`Effect`] and [`Rejection`], both ways.
//! - Views: holds, orders, events, seat maps, counts, places in a waiting room and audits.
//!
//! Wire input is never trusted: a malformed message is an [`InvalidArgument`] naming the field by
//! its protobuf path (e.g. `selection.seats.seat_ids`, `accepted.held.hold_id`), and nothing here
//! panics on input.
//!
//! [`Effect::Expired`] is the node's own expiry sweep. No [`CommandRequest`] produces the `Expire`
//! action, and a client reusing the sweeper's request id for a different command is answered
//! REQUEST_ID_REUSED, so it never answers a client. The proto has no message for it: should one
//! ever be converted, it travels as an `Effect` without a kind, which [`outcome_from_proto`] refuses
//! as it refuses any effect kind it does not know.
//!
//! [`Action`]: boxoffice_statemachine::Action
//! [`Effect`]: boxoffice_statemachine::Effect
//! [`Effect::Expired`]: boxoffice_statemachine::Effect::Expired
//! [`Rejection`]: boxoffice_statemachine::Rejection

use std::fmt::Display;
use std::str::FromStr;

use boxoffice_statemachine::{CustomerId, SeatId};

mod outcome;
mod request;
mod status;
mod view;

pub use outcome::{outcome_from_proto, outcome_to_proto, rejection_from_proto, rejection_to_proto};
pub use request::{
    event_spec_from_proto, event_spec_to_proto, join_queue_action, limits_from_proto,
    limits_to_proto, seats_action, selection_from_proto, selection_to_proto, CommandRequest,
    SeatsCommand,
};
pub use status::{
    event_status_from_proto, event_status_to_proto, order_status_from_proto, order_status_to_proto,
    seat_status_from_proto, seat_status_to_proto, status_change_from_proto, status_change_to_proto,
};
pub use view::{
    admission_settings_from_proto, admission_settings_to_proto, audit_from_proto,
    counts_from_proto, counts_to_proto, event_from_proto, event_to_proto, hold_from_proto,
    hold_to_proto, order_from_proto, order_to_proto, queue_place_from_proto, queue_place_to_proto,
    queue_summary_to_proto, seat_map_from_proto, seat_map_to_proto,
};

/// Wire input that does not describe a valid request or reply: `field` is the offending field's
/// protobuf path, `reason` what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct InvalidArgument {
    /// The field's path in the message, e.g. `hold_id` or `spec.sections.rows`.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl InvalidArgument {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, reason: impl Display) -> InvalidArgument {
        InvalidArgument {
            field: field.into(),
            reason: reason.to_string(),
        }
    }
}

/// `{at}.{name}`, or `name` at the top level.
fn path(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_owned()
    } else {
        format!("{at}.{name}")
    }
}

/// Parses an id (`EventId`, `HoldId`, `OrderId`, `SeatId`, ...) from its text form; the error names
/// `field` and quotes the id's own complaint.
fn parse_id<T>(field: &str, value: &str) -> Result<T, InvalidArgument>
where
    T: FromStr,
    T::Err: Display,
{
    value
        .parse()
        .map_err(|e: T::Err| InvalidArgument::new(field, e))
}

/// Parses every seat id of a list; the first bad one fails the whole list.
fn parse_seats(field: &str, values: &[String]) -> Result<Vec<SeatId>, InvalidArgument> {
    values.iter().map(|s| parse_id(field, s)).collect()
}

/// The text form of every id of a list.
fn to_strings<T: ToString>(values: &[T]) -> Vec<String> {
    values.iter().map(ToString::to_string).collect()
}

/// Checks a customer id (which has no `FromStr`).
fn parse_customer(field: &str, value: &str) -> Result<CustomerId, InvalidArgument> {
    CustomerId::new(value).map_err(|e| InvalidArgument::new(field, e))
}

/// A message field the wire left out.
fn missing(field: &str) -> InvalidArgument {
    InvalidArgument::new(field, "is required")
}
