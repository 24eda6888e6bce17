//! The enums of the API: event status, status change, seat, hold, order and admission status, both ways.
//! Decoding refuses `*_UNSPECIFIED` and values this build does not know.

use boxoffice_statemachine::query::SeatStatus;
use boxoffice_statemachine::{AdmissionStatus, EventStatus, HoldStatus, OrderStatus, StatusChange};

use super::InvalidArgument;
use crate::proto;

/// Decodes a raw enum field: an unknown value or the unspecified one is an error naming `field`.
pub(super) fn decode_enum<E, T>(
    field: &str,
    raw: i32,
    known: impl FnOnce(E) -> Option<T>,
) -> Result<T, InvalidArgument>
where
    E: TryFrom<i32>,
{
    let value = E::try_from(raw)
        .map_err(|_| InvalidArgument::new(field, format!("unknown value {raw}")))?;
    known(value).ok_or_else(|| InvalidArgument::new(field, "is unspecified"))
}

/// An event status as the wire carries it.
pub fn event_status_to_proto(status: EventStatus) -> proto::EventStatus {
    match status {
        EventStatus::Scheduled => proto::EventStatus::Scheduled,
        EventStatus::OnSale => proto::EventStatus::OnSale,
        EventStatus::Paused => proto::EventStatus::Paused,
        EventStatus::SoldOut => proto::EventStatus::SoldOut,
        EventStatus::Cancelled => proto::EventStatus::Cancelled,
        EventStatus::Ended => proto::EventStatus::Ended,
    }
}

/// An event status from the wire; `None` for `EVENT_STATUS_UNSPECIFIED`.
pub fn event_status_from_proto(status: proto::EventStatus) -> Option<EventStatus> {
    match status {
        proto::EventStatus::Unspecified => None,
        proto::EventStatus::Scheduled => Some(EventStatus::Scheduled),
        proto::EventStatus::OnSale => Some(EventStatus::OnSale),
        proto::EventStatus::Paused => Some(EventStatus::Paused),
        proto::EventStatus::SoldOut => Some(EventStatus::SoldOut),
        proto::EventStatus::Cancelled => Some(EventStatus::Cancelled),
        proto::EventStatus::Ended => Some(EventStatus::Ended),
    }
}

/// An admin's status change as the wire carries it.
pub fn status_change_to_proto(change: StatusChange) -> proto::StatusChange {
    match change {
        StatusChange::Open => proto::StatusChange::Open,
        StatusChange::Pause => proto::StatusChange::Pause,
        StatusChange::Cancel => proto::StatusChange::Cancel,
        StatusChange::End => proto::StatusChange::End,
    }
}

/// An admin's status change from the wire; `None` for `STATUS_CHANGE_UNSPECIFIED`.
pub fn status_change_from_proto(change: proto::StatusChange) -> Option<StatusChange> {
    match change {
        proto::StatusChange::Unspecified => None,
        proto::StatusChange::Open => Some(StatusChange::Open),
        proto::StatusChange::Pause => Some(StatusChange::Pause),
        proto::StatusChange::Cancel => Some(StatusChange::Cancel),
        proto::StatusChange::End => Some(StatusChange::End),
    }
}

/// A seat's state as the wire carries it.
pub fn seat_status_to_proto(status: SeatStatus) -> proto::SeatStatus {
    match status {
        SeatStatus::Available => proto::SeatStatus::Available,
        SeatStatus::Held => proto::SeatStatus::Held,
        SeatStatus::Sold => proto::SeatStatus::Sold,
        SeatStatus::Blocked => proto::SeatStatus::Blocked,
    }
}

/// A seat's state from the wire; `None` for `SEAT_STATUS_UNSPECIFIED`.
pub fn seat_status_from_proto(status: proto::SeatStatus) -> Option<SeatStatus> {
    match status {
        proto::SeatStatus::Unspecified => None,
        proto::SeatStatus::Available => Some(SeatStatus::Available),
        proto::SeatStatus::Held => Some(SeatStatus::Held),
        proto::SeatStatus::Sold => Some(SeatStatus::Sold),
        proto::SeatStatus::Blocked => Some(SeatStatus::Blocked),
    }
}

/// An order's status as the wire carries it.
pub fn order_status_to_proto(status: OrderStatus) -> proto::OrderStatus {
    match status {
        OrderStatus::Confirmed => proto::OrderStatus::Confirmed,
        OrderStatus::Cancelled => proto::OrderStatus::Cancelled,
    }
}

/// An order's status from the wire; `None` for `ORDER_STATUS_UNSPECIFIED`.
pub fn order_status_from_proto(status: proto::OrderStatus) -> Option<OrderStatus> {
    match status {
        proto::OrderStatus::Unspecified => None,
        proto::OrderStatus::Confirmed => Some(OrderStatus::Confirmed),
        proto::OrderStatus::Cancelled => Some(OrderStatus::Cancelled),
    }
}

/// A hold's status as the wire carries it, and the number of the order a purchased hold became.
pub(super) fn hold_status_to_proto(status: HoldStatus) -> (proto::HoldStatus, Option<u64>) {
    match status {
        HoldStatus::Active => (proto::HoldStatus::Active, None),
        HoldStatus::Released => (proto::HoldStatus::Released, None),
        HoldStatus::Expired => (proto::HoldStatus::Expired, None),
        HoldStatus::Purchased { order } => (proto::HoldStatus::Purchased, Some(order)),
    }
}

/// A hold's status from the raw field `field`; `order` yields the order number of a purchased
/// hold (asked only then, so its errors only surface then).
pub(super) fn hold_status_from_proto(
    field: &str,
    raw: i32,
    order: impl FnOnce() -> Result<u64, InvalidArgument>,
) -> Result<HoldStatus, InvalidArgument> {
    let status = decode_enum(field, raw, |status: proto::HoldStatus| match status {
        proto::HoldStatus::Unspecified => None,
        proto::HoldStatus::Active => Some(Some(HoldStatus::Active)),
        proto::HoldStatus::Released => Some(Some(HoldStatus::Released)),
        proto::HoldStatus::Expired => Some(Some(HoldStatus::Expired)),
        proto::HoldStatus::Purchased => Some(None),
    })?;
    match status {
        Some(status) => Ok(status),
        None => Ok(HoldStatus::Purchased { order: order()? }),
    }
}

/// An admission as the wire carries it: its state, when it was granted and until when it lasts
/// (both 0 while waiting).
pub(super) fn admission_to_proto(admission: AdmissionStatus) -> (proto::AdmissionState, u64, u64) {
    match admission {
        AdmissionStatus::Waiting => (proto::AdmissionState::Waiting, 0, 0),
        AdmissionStatus::Admitted {
            admitted_at_ms,
            access_expires_at_ms,
        } => (
            proto::AdmissionState::Admitted,
            admitted_at_ms,
            access_expires_at_ms,
        ),
        AdmissionStatus::Expired {
            admitted_at_ms,
            access_expires_at_ms,
        } => (
            proto::AdmissionState::Expired,
            admitted_at_ms,
            access_expires_at_ms,
        ),
    }
}

/// An admission from the raw state field `field` and its two times (read only once admitted).
pub(super) fn admission_from_proto(
    field: &str,
    raw: i32,
    admitted_at_ms: u64,
    access_expires_at_ms: u64,
) -> Result<AdmissionStatus, InvalidArgument> {
    decode_enum(field, raw, |state: proto::AdmissionState| match state {
        proto::AdmissionState::Unspecified => None,
        proto::AdmissionState::Waiting => Some(AdmissionStatus::Waiting),
        proto::AdmissionState::Admitted => Some(AdmissionStatus::Admitted {
            admitted_at_ms,
            access_expires_at_ms,
        }),
        proto::AdmissionState::Expired => Some(AdmissionStatus::Expired {
            admitted_at_ms,
            access_expires_at_ms,
        }),
    })
}
