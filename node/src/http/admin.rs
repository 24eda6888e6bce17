//! What operators do (role `admin`): create events from a venue layout, open/pause/cancel/end a
//! sale, block and unblock seats, cancel orders, and read the cluster's state.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use boxoffice_statemachine::{
    Effect, EventId, EventLimits, EventSpec, GaAreaSpec, PriceTier, RequestId, RowSeats, RowSpec,
    SectionSpec, StatusChange,
};

use super::browse::event_id;
use super::error::HttpError;
use super::guard::AdminKey;
use super::model::{
    cents, parse_time, CancelOrderRequest, Cluster, ClusterGroup, ClusterNode, CreateEventRequest,
    EventCreated, OrderCancelled, SaleAction, SaleStatus, SaleStatusRequest, SeatsChanged,
    SeatsRequest,
};
use super::model::{EventIdText, IdempotencyHeader, OrderIdText};
use super::openapi::error_responses;
use super::sales::{order_id, seat_ids};
use super::{accepted, unexpected, Body, Gateway, Segments};

/// A server-chosen event id, derived from the request id so that a replay names the same event.
fn event_id_for(request: &RequestId) -> EventId {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    request.as_str().hash(&mut hasher);
    EventId::new(format!("ev-{:016x}", hasher.finish()))
        .unwrap_or_else(|_| unreachable!("ev- and hex digits form a valid event id"))
}

/// The price tiers of a layout, one per distinct name; a name priced twice differently is refused.
struct Tiers(BTreeMap<String, u64>);

impl Tiers {
    fn add(&mut self, name: &str, price_cents: u64) -> Result<String, HttpError> {
        match self.0.insert(name.to_owned(), price_cents) {
            Some(before) if before != price_cents => Err(HttpError::invalid(format!(
                "{name:?} is priced both {} and {}",
                super::model::money(before),
                super::model::money(price_cents)
            ))),
            _ => Ok(name.to_owned()),
        }
    }
}

/// The store's event spec from the REST layout.
fn event_spec(request: &CreateEventRequest, id: EventId) -> Result<EventSpec, HttpError> {
    let starts_at_ms = parse_time("start_time", &request.start_time)?;
    let on_sale_at_ms = parse_time("on_sale_time", &request.on_sale_time)?;
    let off_sale_at_ms = match &request.off_sale_time {
        Some(t) => parse_time("off_sale_time", t)?,
        None => starts_at_ms,
    };
    let mut tiers = Tiers(BTreeMap::new());
    let mut sections = Vec::with_capacity(request.sections.len());
    for section in &request.sections {
        let tier = tiers.add(&section.name, cents("sections.price", section.price)?)?;
        let mut rows = Vec::with_capacity(section.rows.len());
        for row in &section.rows {
            let seats = match (row.seats, &row.seat_numbers) {
                (Some(count), None) => RowSeats::Count(count),
                (None, Some(numbers)) => RowSeats::Numbers(numbers.clone()),
                _ => {
                    return Err(HttpError::invalid(format!(
                        "section {:?} row {:?}: give seats or seat_numbers",
                        section.name, row.row
                    )))
                }
            };
            let tier = match row.price {
                Some(price) => Some(tiers.add(
                    &format!("{} {}", section.name, row.row),
                    cents("rows.price", price)?,
                )?),
                None => None,
            };
            rows.push(RowSpec {
                label: row.row.clone(),
                seats,
                accessible: row.accessible.clone(),
                tier,
            });
        }
        sections.push(SectionSpec {
            name: section.name.clone(),
            tier,
            rows,
        });
    }
    let mut ga_areas = Vec::with_capacity(request.ga_areas.len());
    for area in &request.ga_areas {
        let tier = tiers.add(&area.name, cents("ga_areas.price", area.price)?)?;
        ga_areas.push(GaAreaSpec {
            name: area.name.clone(),
            tier,
            capacity: area.capacity,
        });
    }
    let defaults = EventLimits::default();
    let seconds =
        |s: Option<u64>, default_ms: u64| s.map_or(default_ms, |s| s.saturating_mul(1_000));
    let spec = EventSpec {
        id,
        name: request.name.clone(),
        venue: request.venue.clone(),
        category: request.category.clone(),
        starts_at_ms,
        on_sale_at_ms,
        off_sale_at_ms,
        price_tiers: tiers
            .0
            .into_iter()
            .map(|(name, price_cents)| PriceTier { name, price_cents })
            .collect(),
        sections,
        ga_areas,
        limits: EventLimits {
            seats_per_hold_max: request.max_per_order.unwrap_or(defaults.seats_per_hold_max),
            seats_per_customer_max: request
                .max_per_customer
                .unwrap_or(defaults.seats_per_customer_max),
            holds_per_customer_max: request
                .max_reservations_per_customer
                .unwrap_or(defaults.holds_per_customer_max),
            hold_ttl_ms: seconds(request.hold_ttl_s, defaults.hold_ttl_ms),
            hold_lifetime_ms_max: seconds(
                request.hold_lifetime_s_max,
                defaults.hold_lifetime_ms_max,
            ),
        },
        gated: request.gated,
    };
    // Refuse a bad layout here, with the store's own reason, before it costs a placement.
    spec.capacity().map_err(HttpError::Rejected)?;
    Ok(spec)
}

error_responses!(CreateEventErrors: 400, 401, 403, 409, 413, 415, 422, 429, 503, 504);

#[utoipa::path(post, path = "/api/v1/events", tag = "admin",
    params(IdempotencyHeader),
    request_body = CreateEventRequest, security(("api_key" = [])),
    responses((status = 201, body = EventCreated), CreateEventErrors))]
pub async fn create_event(
    State(gateway): State<Arc<Gateway>>,
    _key: AdminKey,
    headers: HeaderMap,
    Body(request): Body<CreateEventRequest>,
) -> Result<(StatusCode, Json<EventCreated>), HttpError> {
    let id = gateway.request_id(&headers)?;
    let event = match &request.event_id {
        Some(event) => event_id(event)?,
        None => event_id_for(&id),
    };
    let spec = event_spec(&request, event)?;
    let decided = gateway
        .client
        .create_event(&id, &spec, request.dedicated_group)
        .await?;
    let group = decided.group;
    match accepted(decided)? {
        Effect::EventCreated {
            event,
            seats,
            ga_places,
        } => Ok((
            StatusCode::CREATED,
            Json(EventCreated {
                event_id: event.to_string(),
                group,
                seats,
                ga_places,
            }),
        )),
        other => Err(unexpected(&other)),
    }
}

error_responses!(AdminCommandErrors: 400, 401, 403, 404, 409, 413, 415, 422, 429, 503, 504);

#[utoipa::path(post, path = "/api/v1/events/{event_id}/status", tag = "admin",
    params(("event_id" = EventIdText, Path, description = "The event's id"), IdempotencyHeader),
    request_body = SaleStatusRequest, security(("api_key" = [])),
    responses((status = 200, body = SaleStatus), AdminCommandErrors))]
pub async fn sale_status(
    State(gateway): State<Arc<Gateway>>,
    _key: AdminKey,
    headers: HeaderMap,
    Segments(event): Segments<String>,
    Body(request): Body<SaleStatusRequest>,
) -> Result<Json<SaleStatus>, HttpError> {
    let id = gateway.request_id(&headers)?;
    let event = event_id(&event)?;
    let change = match request.action {
        SaleAction::Open => StatusChange::Open,
        SaleAction::Pause => StatusChange::Pause,
        SaleAction::Cancel => StatusChange::Cancel,
        SaleAction::End => StatusChange::End,
    };
    let decided = gateway.client.set_event_status(&id, &event, change).await?;
    match accepted(decided)? {
        Effect::EventStatusChanged { event, status } => Ok(Json(SaleStatus {
            event_id: event.to_string(),
            status: status.as_str().to_owned(),
        })),
        other => Err(unexpected(&other)),
    }
}

async fn change_seats(
    gateway: &Gateway,
    headers: &HeaderMap,
    event: &str,
    seats: &[String],
    block: bool,
) -> Result<Json<SeatsChanged>, HttpError> {
    let id = gateway.request_id(headers)?;
    let event = event_id(event)?;
    let seats = seat_ids(seats)?;
    let decided = gateway
        .client
        .block_seats(&id, &event, &seats, block)
        .await?;
    match accepted(decided)? {
        Effect::SeatsBlocked { seats } | Effect::SeatsUnblocked { seats } => {
            Ok(Json(SeatsChanged {
                event_id: event.to_string(),
                seats_changed: seats,
            }))
        }
        other => Err(unexpected(&other)),
    }
}

#[utoipa::path(post, path = "/api/v1/events/{event_id}/block", tag = "admin",
    params(("event_id" = EventIdText, Path, description = "The event's id"), IdempotencyHeader),
    request_body = SeatsRequest, security(("api_key" = [])),
    responses((status = 200, body = SeatsChanged), AdminCommandErrors))]
pub async fn block_seats(
    State(gateway): State<Arc<Gateway>>,
    _key: AdminKey,
    headers: HeaderMap,
    Segments(event): Segments<String>,
    Body(request): Body<SeatsRequest>,
) -> Result<Json<SeatsChanged>, HttpError> {
    change_seats(&gateway, &headers, &event, &request.seat_ids, true).await
}

#[utoipa::path(post, path = "/api/v1/events/{event_id}/unblock", tag = "admin",
    params(("event_id" = EventIdText, Path, description = "The event's id"), IdempotencyHeader),
    request_body = SeatsRequest, security(("api_key" = [])),
    responses((status = 200, body = SeatsChanged), AdminCommandErrors))]
pub async fn unblock_seats(
    State(gateway): State<Arc<Gateway>>,
    _key: AdminKey,
    headers: HeaderMap,
    Segments(event): Segments<String>,
    Body(request): Body<SeatsRequest>,
) -> Result<Json<SeatsChanged>, HttpError> {
    change_seats(&gateway, &headers, &event, &request.seat_ids, false).await
}

#[utoipa::path(post, path = "/api/v1/orders/{order_id}/cancel", tag = "admin",
    params(("order_id" = OrderIdText, Path, description = "The order's id"), IdempotencyHeader),
    request_body = CancelOrderRequest, security(("api_key" = [])),
    responses((status = 200, body = OrderCancelled), AdminCommandErrors))]
pub async fn cancel_order(
    State(gateway): State<Arc<Gateway>>,
    _key: AdminKey,
    headers: HeaderMap,
    Segments(order): Segments<String>,
    Body(request): Body<CancelOrderRequest>,
) -> Result<Json<OrderCancelled>, HttpError> {
    let id = gateway.request_id(&headers)?;
    let order = order_id(&order)?;
    let decided = gateway
        .client
        .cancel_order(&id, &order, &request.reason)
        .await?;
    match accepted(decided)? {
        Effect::OrderCancelled {
            order,
            places_released,
        } => Ok(Json(OrderCancelled {
            order_id: order.to_string(),
            status: "cancelled".into(),
            seats_released: places_released,
        })),
        other => Err(unexpected(&other)),
    }
}

error_responses!(ClusterErrors: 401, 403, 429, 503);

#[utoipa::path(get, path = "/api/v1/cluster", tag = "admin", security(("api_key" = [])),
    responses((status = 200, body = Cluster), ClusterErrors))]
pub async fn cluster(
    State(gateway): State<Arc<Gateway>>,
    _key: AdminKey,
) -> Result<Json<Cluster>, HttpError> {
    let status = gateway.client.cluster_status().await?;
    let leads = |node: u64| {
        status
            .groups
            .iter()
            .filter(|g| g.leader_id == Some(node))
            .count()
    };
    Ok(Json(Cluster {
        served_by: status.served_by,
        bootstrapped: status.bootstrapped,
        meta_leader_id: status.meta_leader_id,
        nodes: status
            .nodes
            .iter()
            .map(|n| ClusterNode {
                node_id: n.node_id,
                grpc_address: n.grpc_address.clone(),
                http_address: n.http_address.clone(),
                leads: leads(n.node_id),
            })
            .collect(),
        groups: status
            .groups
            .iter()
            .map(|g| ClusterGroup {
                group: g.group,
                replicas: g.replicas.clone(),
                leader_id: g.leader_id,
                term: g.term,
                events: g.events,
                seats: g.seats,
            })
            .collect(),
        events: status.events.len(),
    }))
}
