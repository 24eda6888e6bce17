//! What an application server does for its buyers (role `app`): reserve, extend, release, buy, and
//! read reservations and orders. Every POST and DELETE honours `Idempotency-Key`.

use std::str::FromStr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use boxoffice_client::{convert, Consistency};
use boxoffice_statemachine::{
    CustomerId, Effect, EventId, HoldId, OrderId, Scope, SeatId, Selection,
};
use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::browse::event_id;
use super::error::HttpError;
use super::guard::AppKey;
use super::model::{
    EventIdText, ExtendRequest, IdempotencyHeader, Order, OrderIdText, OrderList, OrderRequest,
    ReadQuery, Released, Reservation, ReservationIdText, ReserveRequest, UserIdText,
    UserOrdersQuery, UserQuery,
};
use super::openapi::error_responses;
use super::{accepted, unexpected, Body, Gateway, Params, Segments};
use crate::raft::proposer::{Clock, SystemClock};

/// Events whose orders one all-events order listing reads, at most.
pub const USER_ORDER_EVENTS_MAX: usize = 10_000;
/// Events read at once for an all-events order listing.
const USER_ORDER_READS_IN_FLIGHT: usize = 16;
/// Seconds a reservation may be asked to last, at most (the event's lifetime cap applies too).
pub const HOLD_DURATION_S_MAX: u64 = 24 * 3_600;

pub fn customer(text: &str) -> Result<CustomerId, HttpError> {
    CustomerId::new(text).map_err(|e| HttpError::invalid(format!("user_id: {e}")))
}

fn hold_id(text: &str) -> Result<HoldId, HttpError> {
    HoldId::from_str(text).map_err(|e| HttpError::invalid(format!("reservation_id: {e}")))
}

pub fn order_id(text: &str) -> Result<OrderId, HttpError> {
    OrderId::from_str(text).map_err(|e| HttpError::invalid(format!("order_id: {e}")))
}

pub fn seat_ids(texts: &[String]) -> Result<Vec<SeatId>, HttpError> {
    texts
        .iter()
        .map(|t| SeatId::from_str(t).map_err(|e| HttpError::invalid(format!("seat_ids: {e}"))))
        .collect()
}

fn ttl_ms(hold_duration: Option<u64>) -> Result<Option<u64>, HttpError> {
    match hold_duration {
        Some(0) => Err(HttpError::invalid("hold_duration must be at least 1 s")),
        Some(s) if s > HOLD_DURATION_S_MAX => Err(HttpError::invalid(format!(
            "hold_duration must be at most {HOLD_DURATION_S_MAX} s"
        ))),
        other => Ok(other.map(|s| s * 1_000)),
    }
}

/// The selection a reserve request asks for.
fn selection(request: &ReserveRequest) -> Result<Selection, HttpError> {
    let places = [&request.section, &request.price_tier, &request.ga_area]
        .iter()
        .filter(|p| p.is_some())
        .count();
    let selection = match (&request.seat_ids, request.quantity, places) {
        (Some(ids), None, 0) => Some(Selection::Seats(seat_ids(ids)?)),
        (None, Some(quantity), 1) => {
            if let Some(section) = &request.section {
                Some(Selection::BestAvailable {
                    scope: Scope::Section(section.clone()),
                    quantity,
                })
            } else if let Some(tier) = &request.price_tier {
                Some(Selection::BestAvailable {
                    scope: Scope::Tier(tier.clone()),
                    quantity,
                })
            } else {
                request
                    .ga_area
                    .clone()
                    .map(|area| Selection::GeneralAdmission { area, quantity })
            }
        }
        _ => None,
    };
    selection.ok_or_else(|| {
        HttpError::invalid(
            "give seat_ids, or quantity with exactly one of section, ga_area, price_tier",
        )
    })
}

error_responses!(ReserveErrors: 400, 401, 403, 404, 409, 413, 415, 422, 429, 503, 504);

#[utoipa::path(post, path = "/api/v1/events/{event_id}/reserve", tag = "sales",
    params(("event_id" = EventIdText, Path, description = "The event's id"), IdempotencyHeader),
    request_body = ReserveRequest, security(("api_key" = [])),
    responses((status = 201, body = Reservation), ReserveErrors))]
pub async fn reserve(
    State(gateway): State<Arc<Gateway>>,
    _key: AppKey,
    headers: HeaderMap,
    Segments(event): Segments<String>,
    Body(request): Body<ReserveRequest>,
) -> Result<(StatusCode, Json<Reservation>), HttpError> {
    let id = gateway.request_id(&headers)?;
    let event = event_id(&event)?;
    let customer = customer(&request.user_id)?;
    let selection = selection(&request)?;
    let ttl = ttl_ms(request.hold_duration)?;
    let layout = gateway.layouts.of(&gateway.client, &event).await?;
    if layout.gated {
        super::queue::check_access(
            &gateway,
            &event,
            &customer,
            request.access_token.as_deref(),
            // Token expiry by the wall clock; the store re-checks the admission with its own time.
            SystemClock.now_ms(),
        )?;
    }
    let decided = gateway
        .client
        .hold(&id, &event, &customer, &selection, ttl)
        .await?;
    match accepted(decided)? {
        Effect::Held(hold) => Ok((
            StatusCode::CREATED,
            Json(Reservation::from_hold(&hold, &layout)),
        )),
        other => Err(unexpected(&other)),
    }
}

error_responses!(ReadErrors: 400, 401, 404, 429, 503);

#[utoipa::path(get, path = "/api/v1/reservations/{reservation_id}", tag = "sales",
    params(("reservation_id" = ReservationIdText, Path, description = "The reservation's id"),
        ReadQuery),
    security(("api_key" = [])),
    responses((status = 200, body = Reservation), ReadErrors))]
pub async fn reservation(
    State(gateway): State<Arc<Gateway>>,
    _key: AppKey,
    Segments(hold): Segments<String>,
    Params(query): Params<ReadQuery>,
) -> Result<Json<Reservation>, HttpError> {
    let hold = hold_id(&hold)?;
    let reply = gateway
        .client
        .get_hold(&hold, query.consistency.unwrap_or_default().into())
        .await?;
    let wire = reply.hold.ok_or_else(|| HttpError::NotFound {
        code: "UNKNOWN_HOLD",
        message: format!("no such reservation: {hold}"),
    })?;
    let view = convert::hold_from_proto(&wire).map_err(|e| HttpError::Internal(e.to_string()))?;
    let layout = gateway.layouts.of(&gateway.client, &hold.event).await?;
    Ok(Json(Reservation::from_hold(&view, &layout)))
}

error_responses!(BuyerCommandErrors: 400, 401, 404, 409, 413, 415, 422, 429, 503, 504);

#[utoipa::path(post, path = "/api/v1/reservations/{reservation_id}/extend", tag = "sales",
    params(("reservation_id" = ReservationIdText, Path, description = "The reservation's id"),
        IdempotencyHeader),
    request_body = ExtendRequest, security(("api_key" = [])),
    responses((status = 200, body = Reservation), BuyerCommandErrors))]
pub async fn extend(
    State(gateway): State<Arc<Gateway>>,
    _key: AppKey,
    headers: HeaderMap,
    Segments(hold): Segments<String>,
    Body(request): Body<ExtendRequest>,
) -> Result<Json<Reservation>, HttpError> {
    let id = gateway.request_id(&headers)?;
    let hold = hold_id(&hold)?;
    let customer = customer(&request.user_id)?;
    let ttl = ttl_ms(request.hold_duration)?;
    let decided = gateway
        .client
        .extend_hold(&id, &hold, &customer, ttl)
        .await?;
    match accepted(decided)? {
        Effect::HoldExtended { .. } => {
            let reply = gateway
                .client
                .get_hold(&hold, Consistency::Linearizable)
                .await?;
            let wire = reply
                .hold
                .ok_or_else(|| HttpError::Internal("an extended hold vanished".into()))?;
            let view =
                convert::hold_from_proto(&wire).map_err(|e| HttpError::Internal(e.to_string()))?;
            let layout = gateway.layouts.of(&gateway.client, &hold.event).await?;
            Ok(Json(Reservation::from_hold(&view, &layout)))
        }
        other => Err(unexpected(&other)),
    }
}

error_responses!(ReleaseErrors: 400, 401, 404, 409, 422, 429, 503, 504);

#[utoipa::path(delete, path = "/api/v1/reservations/{reservation_id}", tag = "sales",
    params(("reservation_id" = ReservationIdText, Path, description = "The reservation's id"),
        UserQuery, IdempotencyHeader),
    security(("api_key" = [])),
    responses((status = 200, body = Released), ReleaseErrors))]
pub async fn release(
    State(gateway): State<Arc<Gateway>>,
    _key: AppKey,
    headers: HeaderMap,
    Segments(hold): Segments<String>,
    Params(query): Params<UserQuery>,
) -> Result<Json<Released>, HttpError> {
    let id = gateway.request_id(&headers)?;
    let hold = hold_id(&hold)?;
    let customer = customer(&query.user_id)?;
    match accepted(gateway.client.release(&id, &hold, &customer).await?)? {
        Effect::Released {
            hold,
            places_released,
        } => Ok(Json(Released {
            reservation_id: hold.to_string(),
            status: "cancelled".into(),
            seats_released: places_released,
        })),
        other => Err(unexpected(&other)),
    }
}

#[utoipa::path(post, path = "/api/v1/orders", tag = "sales",
    params(IdempotencyHeader),
    request_body = OrderRequest, security(("api_key" = [])),
    responses((status = 201, body = Order), BuyerCommandErrors))]
pub async fn create_order(
    State(gateway): State<Arc<Gateway>>,
    _key: AppKey,
    headers: HeaderMap,
    Body(request): Body<OrderRequest>,
) -> Result<(StatusCode, Json<Order>), HttpError> {
    let id = gateway.request_id(&headers)?;
    let hold = hold_id(&request.reservation_id)?;
    let customer = customer(&request.user_id)?;
    let decided = gateway
        .client
        .buy(&id, &hold, &customer, &request.payment_reference)
        .await?;
    match accepted(decided)? {
        Effect::Bought(order) => {
            let layout = gateway.layouts.of(&gateway.client, &hold.event).await?;
            Ok((StatusCode::CREATED, Json(Order::from_view(&order, &layout))))
        }
        other => Err(unexpected(&other)),
    }
}

#[utoipa::path(get, path = "/api/v1/orders/{order_id}", tag = "sales",
    params(("order_id" = OrderIdText, Path, description = "The order's id"), ReadQuery),
    security(("api_key" = [])),
    responses((status = 200, body = Order), ReadErrors))]
pub async fn order(
    State(gateway): State<Arc<Gateway>>,
    _key: AppKey,
    Segments(order): Segments<String>,
    Params(query): Params<ReadQuery>,
) -> Result<Json<Order>, HttpError> {
    let order = order_id(&order)?;
    let reply = gateway
        .client
        .get_order(&order, query.consistency.unwrap_or_default().into())
        .await?;
    let wire = reply.order.ok_or_else(|| HttpError::NotFound {
        code: "UNKNOWN_ORDER",
        message: format!("no such order: {order}"),
    })?;
    let view = convert::order_from_proto(&wire).map_err(|e| HttpError::Internal(e.to_string()))?;
    let layout = gateway.layouts.of(&gateway.client, &order.event).await?;
    Ok(Json(Order::from_view(&view, &layout)))
}

/// One event's orders of `customer`, readable.
async fn orders_in(
    gateway: &Gateway,
    event: &EventId,
    customer: &CustomerId,
    consistency: Consistency,
) -> Result<Vec<Order>, HttpError> {
    let reply = gateway
        .client
        .customer_orders(event, customer, consistency)
        .await?;
    if reply.orders.is_empty() {
        return Ok(Vec::new());
    }
    let layout = gateway.layouts.of(&gateway.client, event).await?;
    reply
        .orders
        .iter()
        .map(|wire| {
            let view =
                convert::order_from_proto(wire).map_err(|e| HttpError::Internal(e.to_string()))?;
            Ok(Order::from_view(&view, &layout))
        })
        .collect()
}

#[utoipa::path(get, path = "/api/v1/users/{user_id}/orders", tag = "sales",
    params(("user_id" = UserIdText, Path, description = "The buyer's id"), UserOrdersQuery),
    security(("api_key" = [])),
    responses((status = 200, body = OrderList), ReadErrors))]
pub async fn user_orders(
    State(gateway): State<Arc<Gateway>>,
    _key: AppKey,
    Segments(user): Segments<String>,
    Params(query): Params<UserOrdersQuery>,
) -> Result<Json<OrderList>, HttpError> {
    let customer = customer(&user)?;
    let consistency: Consistency = query.consistency.unwrap_or_default().into();
    let events: Vec<EventId> = match &query.event_id {
        Some(event) => vec![event_id(event)?],
        None => gateway
            .node
            .map()
            .map
            .events
            .keys()
            .take(USER_ORDER_EVENTS_MAX)
            .cloned()
            .collect(),
    };
    let gateway = &gateway;
    let customer = &customer;
    let per_event: Vec<Vec<Order>> = stream::iter(events)
        .map(|event| async move { orders_in(gateway, &event, customer, consistency).await })
        .buffered(USER_ORDER_READS_IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(Json(OrderList {
        orders: per_event.into_iter().flatten().collect(),
    }))
}
