//! Identifiers of the domain: events, seats, holds, orders, tickets, customers and requests.
//!
//! Hold and order ids carry their event id, so any node can route them to the right Raft group
//! without a lookup: `{event}~h{n}`, `{event}~o{n}`, and tickets `{event}~o{n}~t{k}`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::limits::ID_BYTES_MAX;

/// Longest event id, in bytes (shorter than other ids because it prefixes every key of its event).
pub const EVENT_ID_BYTES_MAX: usize = 64;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {reason}")]
pub struct InvalidId {
    pub kind: &'static str,
    pub value: String,
    pub reason: &'static str,
}

fn invalid(kind: &'static str, value: &str, reason: &'static str) -> InvalidId {
    InvalidId {
        kind,
        value: value.chars().take(80).collect(),
        reason,
    }
}

/// An event id: 1 to 64 ASCII letters, digits, `-` or `_`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EventId(String);

impl EventId {
    /// Checks the charset and length.
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidId> {
        let value = value.into();
        Self::check(&value)?;
        Ok(EventId(value))
    }

    fn check(value: &str) -> Result<(), InvalidId> {
        if value.is_empty() || value.len() > EVENT_ID_BYTES_MAX {
            return Err(invalid("event id", value, "must be 1 to 64 bytes"));
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                "event id",
                value,
                "only ASCII letters, digits, '-' and '_'",
            ));
        }
        Ok(())
    }

    /// Re-checks an id that arrived through deserialization.
    pub fn validate(&self) -> Result<(), InvalidId> {
        Self::check(&self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for EventId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventId::new(s)
    }
}

fn check_text_id(kind: &'static str, value: &str) -> Result<(), InvalidId> {
    if value.is_empty() || value.len() > ID_BYTES_MAX {
        return Err(invalid(kind, value, "must be 1 to 128 bytes"));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(kind, value, "must not contain control characters"));
    }
    Ok(())
}

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(String);

        impl $name {
            /// Checks length (1 to 128 bytes) and that there are no control characters.
            pub fn new(value: impl Into<String>) -> Result<Self, InvalidId> {
                let value = value.into();
                check_text_id($kind, &value)?;
                Ok($name(value))
            }

            /// Re-checks an id that arrived through deserialization.
            pub fn validate(&self) -> Result<(), InvalidId> {
                check_text_id($kind, &self.0)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_id!(
    /// The buyer on whose behalf an application server acts (an opaque account id).
    CustomerId,
    "customer id"
);
text_id!(
    /// A caller-chosen id that makes a command idempotent: a retry with the same id acts once.
    RequestId,
    "request id"
);

/// A reserved seat: section, row and position in the row, all 0-based indexes into the event layout.
/// Its text form is `{section}.{row}.{index}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SeatId {
    pub section: u16,
    pub row: u16,
    pub index: u16,
}

impl fmt::Display for SeatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.section, self.row, self.index)
    }
}

impl FromStr for SeatId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split('.').map(str::parse::<u16>);
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(Ok(section)), Some(Ok(row)), Some(Ok(index)), None) => Ok(SeatId {
                section,
                row,
                index,
            }),
            _ => Err(invalid("seat id", s, "expected {section}.{row}.{index}")),
        }
    }
}

macro_rules! numbered_id {
    ($(#[$doc:meta])* $name:ident, $tag:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name {
            pub event: EventId,
            pub number: u64,
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}~{}{}", self.event, $tag, self.number)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let (event, number) = s
                    .rsplit_once(concat!("~", $tag))
                    .ok_or_else(|| invalid($kind, s, concat!("expected {event}~", $tag, "{number}")))?;
                let number = number
                    .parse::<u64>()
                    .map_err(|_| invalid($kind, s, "number part is not an integer"))?;
                Ok($name { event: EventId::new(event)?, number })
            }
        }
    };
}

numbered_id!(
    /// A hold (the seed's "reservation"): numbered from 1 within its event.
    HoldId,
    "h",
    "hold id"
);
numbered_id!(
    /// An order: numbered from 1 within its event.
    OrderId,
    "o",
    "order id"
);

/// One ticket of an order: `{order}~t{k}`, `k` from 1.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TicketId {
    pub order: OrderId,
    pub number: u32,
}

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}~t{}", self.order, self.number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_accept_a_safe_charset_only() {
        assert!(EventId::new("tour-2026_stadium1").is_ok());
        for bad in ["", "a b", "a~b", "é", &"x".repeat(65)] {
            assert!(EventId::new(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn hold_order_and_seat_ids_round_trip_through_text() {
        let hold = HoldId {
            event: EventId::new("ev-1").unwrap(),
            number: 42,
        };
        assert_eq!(hold.to_string(), "ev-1~h42");
        assert_eq!("ev-1~h42".parse::<HoldId>().unwrap(), hold);
        let order: OrderId = "ev-1~o7".parse().unwrap();
        assert_eq!(order.number, 7);
        assert_eq!(TicketId { order, number: 2 }.to_string(), "ev-1~o7~t2");
        let seat: SeatId = "3.12.7".parse().unwrap();
        assert_eq!(
            seat,
            SeatId {
                section: 3,
                row: 12,
                index: 7
            }
        );
        assert_eq!(seat.to_string(), "3.12.7");
        for bad in ["ev-1~o7", "ev~hx", "~h1", "bad id~h1"] {
            assert!(bad.parse::<HoldId>().is_err(), "{bad:?} must be refused");
        }
        for bad in ["1.2", "1.2.3.4", "a.b.c", "70000.1.1"] {
            assert!(bad.parse::<SeatId>().is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn text_ids_refuse_empty_long_and_control_characters() {
        assert!(CustomerId::new("user-1").is_ok());
        assert!(CustomerId::new("").is_err());
        assert!(RequestId::new("a\nb").is_err());
        assert!(RequestId::new("r".repeat(129)).is_err());
    }
}
