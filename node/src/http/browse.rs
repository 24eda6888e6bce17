//! Browsing, open to everyone: event search, event details and seat maps (with ETag and
//! Cache-Control so a CDN can absorb the traffic), the node's health and readiness, and its metrics.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use boxoffice_client::Consistency;
use boxoffice_statemachine::EventId;
use serde::Serialize;

use super::error::HttpError;
use super::model::{
    parse_time, EventDetail, EventIdText, EventList, EventSummary, EventsQuery, Health,
    ReadConsistency, ReadQuery, SeatMap, SeatsQuery,
};
use super::openapi::error_responses;
use super::{Gateway, Params, Segments};

/// Events one search looks at, at most.
pub const EVENTS_SCANNED_MAX: usize = 100_000;
/// Events per page read from a group.
const EVENTS_PAGE: u32 = 500;
/// Events one search answer lists, at most.
pub const EVENTS_LISTED_MAX: u32 = 100;
/// How long a CDN may serve a cached event or stale seat map, in seconds.
const BROWSE_MAX_AGE_S: u32 = 1;

const STATUSES: [&str; 6] = [
    "scheduled",
    "on_sale",
    "paused",
    "sold_out",
    "cancelled",
    "ended",
];

pub fn event_id(text: &str) -> Result<EventId, HttpError> {
    EventId::new(text).map_err(|e| HttpError::invalid(format!("event_id: {e}")))
}

/// A JSON answer with a strong ETag of its bytes; `304 Not Modified` when the caller has it.
fn cacheable<T: Serialize>(request: &HeaderMap, value: &T, cache_control: &str) -> Response {
    let body = match serde_json::to_vec(value) {
        Ok(body) => body,
        Err(e) => return HttpError::Internal(e.to_string()).into_response(),
    };
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut hasher);
    let etag = format!("\"{:016x}\"", hasher.finish());
    let matches = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    if let Ok(cache) = HeaderValue::from_str(cache_control) {
        headers.insert(header::CACHE_CONTROL, cache);
    }
    response
}

struct Filter {
    words: Vec<String>,
    location: Option<String>,
    category: Option<String>,
    from_ms: Option<u64>,
    to_ms: Option<u64>,
    status: Option<String>,
}

impl Filter {
    fn new(query: &EventsQuery) -> Result<Filter, HttpError> {
        let lower = |s: &Option<String>| s.as_ref().map(|s| s.to_lowercase());
        let mut from_ms = query
            .from
            .as_deref()
            .map(|t| parse_time("from", t))
            .transpose()?;
        let mut to_ms = query
            .to
            .as_deref()
            .map(|t| parse_time("to", t))
            .transpose()?;
        if let Some(date) = &query.date {
            let day = parse_time("date", &format!("{date}T00:00:00Z"))?;
            from_ms = Some(from_ms.map_or(day, |f| f.max(day)));
            let next = day + 24 * 3_600_000;
            to_ms = Some(to_ms.map_or(next, |t| t.min(next)));
        }
        if let Some(status) = &query.status {
            if !STATUSES.contains(&status.as_str()) {
                return Err(HttpError::invalid(format!(
                    "status: {status:?} is not one of {STATUSES:?}"
                )));
            }
        }
        Ok(Filter {
            words: query
                .text
                .as_deref()
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_lowercase)
                .collect(),
            location: lower(&query.location),
            category: lower(&query.category),
            from_ms,
            to_ms,
            status: query.status.clone(),
        })
    }

    fn admits(&self, event: &boxoffice_client::proto::Event, summary: &EventSummary) -> bool {
        let text = format!("{} {} {}", event.name, event.venue, event.category).to_lowercase();
        self.words.iter().all(|w| text.contains(w))
            && self
                .location
                .as_ref()
                .is_none_or(|l| event.venue.to_lowercase().contains(l))
            && self
                .category
                .as_ref()
                .is_none_or(|c| event.category.to_lowercase() == *c)
            && self.from_ms.is_none_or(|f| event.starts_at_ms >= f)
            && self.to_ms.is_none_or(|t| event.starts_at_ms < t)
            && self.status.as_ref().is_none_or(|s| summary.status == *s)
    }
}

error_responses!(ListEventsErrors: 400, 429, 503);

#[utoipa::path(get, path = "/api/v1/events", tag = "browse", params(EventsQuery),
    responses((status = 200, body = EventList), ListEventsErrors))]
pub async fn list_events(
    State(gateway): State<Arc<Gateway>>,
    Params(query): Params<EventsQuery>,
) -> Result<Json<EventList>, HttpError> {
    let filter = Filter::new(&query)?;
    let limit = query.limit.unwrap_or(20).clamp(1, EVENTS_LISTED_MAX);
    let offset = query.offset.unwrap_or(0);
    let consistency: Consistency = query.consistency.unwrap_or_default().into();
    let groups: Vec<u64> = gateway.node.map().map.groups.keys().copied().collect();
    let mut matching = Vec::new();
    let mut scanned = 0usize;
    for group in groups {
        let mut after = None;
        loop {
            let page = gateway
                .client
                .events(group, after.as_ref(), EVENTS_PAGE, consistency)
                .await?;
            scanned += page.events.len();
            for event in &page.events {
                let summary = EventSummary::from(event);
                if filter.admits(event, &summary) {
                    matching.push((event.starts_at_ms, summary));
                }
            }
            let full = page.events.len() == EVENTS_PAGE as usize;
            after = match page.events.last() {
                Some(last) if full && scanned < EVENTS_SCANNED_MAX => {
                    Some(super::browse::event_id(&last.event_id)?)
                }
                _ => None,
            };
            if after.is_none() {
                break;
            }
        }
    }
    matching.sort_by(|a, b| (a.0, &a.1.event_id).cmp(&(b.0, &b.1.event_id)));
    let total = matching.len();
    let events = matching
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .map(|(_, e)| e)
        .collect();
    Ok(Json(EventList {
        events,
        total,
        limit,
        offset,
    }))
}

error_responses!(BrowseErrors: 400, 404, 429, 503);

#[utoipa::path(get, path = "/api/v1/events/{event_id}", tag = "browse", params(
        ("event_id" = EventIdText, Path, description = "The event's id"), ReadQuery),
    responses((status = 200, body = EventDetail, headers(
            ("ETag" = String, description = "Strong validator of the body, for If-None-Match"),
            ("Cache-Control" = String, description = "How long a cache may serve it"))),
        (status = 304, description = "Not modified: the If-None-Match ETag is current"),
        BrowseErrors))]
pub async fn event(
    State(gateway): State<Arc<Gateway>>,
    Segments(event): Segments<String>,
    Params(query): Params<ReadQuery>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let event = event_id(&event)?;
    let reply = gateway
        .client
        .event(&event, query.consistency.unwrap_or_default().into())
        .await?;
    let event = reply.event.ok_or_else(|| HttpError::NotFound {
        code: "UNKNOWN_EVENT",
        message: format!("no such event: {event}"),
    })?;
    let cache = format!("public, max-age={BROWSE_MAX_AGE_S}");
    Ok(cacheable(&headers, &EventDetail::from(&event), &cache))
}

#[utoipa::path(get, path = "/api/v1/events/{event_id}/seats", tag = "browse", params(
        ("event_id" = EventIdText, Path, description = "The event's id"), SeatsQuery),
    responses((status = 200, body = SeatMap, headers(
            ("ETag" = String, description = "Strong validator of the body, for If-None-Match"),
            ("Cache-Control" = String,
                description = "`no-store` for a linearizable map; a stale one may be cached"))),
        (status = 304, description = "Not modified: the If-None-Match ETag is current"),
        BrowseErrors))]
pub async fn seats(
    State(gateway): State<Arc<Gateway>>,
    Segments(event): Segments<String>,
    Params(query): Params<SeatsQuery>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let event = event_id(&event)?;
    let consistency = query.consistency.unwrap_or_default();
    let reply = gateway
        .client
        .seat_map(&event, query.section.as_deref(), consistency.into())
        .await?;
    // A linearizable map is a promise about now; only a stale one may be cached.
    let cache = match consistency {
        ReadConsistency::Linearizable => "no-store".to_owned(),
        ReadConsistency::Stale => format!("public, max-age={BROWSE_MAX_AGE_S}"),
    };
    Ok(cacheable(&headers, &SeatMap::from(&reply), &cache))
}

#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, body = Health)))]
pub async fn healthz(State(gateway): State<Arc<Gateway>>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        node_id: gateway.node.id,
    })
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "The node's metrics in the Prometheus text format",
        content_type = "text/plain; version=0.0.4", body = String)))]
pub async fn metrics(State(gateway): State<Arc<Gateway>>) -> impl IntoResponse {
    let metrics = crate::metrics::metrics();
    metrics.observe_groups(&gateway.node);
    metrics.observe_storage(&gateway.node.storage);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics.render(),
    )
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn readyz(State(gateway): State<Arc<Gateway>>) -> (StatusCode, Json<Health>) {
    let view = gateway.node.map();
    let meta_leader = crate::raft::known_leader(&gateway.node.meta);
    let status = if !view.map.bootstrapped {
        "the cluster is not bootstrapped"
    } else if meta_leader.is_none() {
        "group 0 has no known leader"
    } else {
        "ok"
    };
    let code = if status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(Health {
            status: status.into(),
            node_id: gateway.node.id,
        }),
    )
}
