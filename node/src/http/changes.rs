//! Live seat maps: `GET /api/v1/events/{event_id}/changes` streams Server-Sent Events of seat state
//! changes, driven by this node's replica of the event's group applying commands. The first event
//! is a `snapshot` of every seat's state; then `changes` events carry only the seats and areas whose
//! state moved. Each event's id is the replica's applied log index: a client reconnecting with
//! `Last-Event-ID` (or `?cursor=`) equal to the current index gets no snapshot, as nothing changed.
//! A node that holds no replica of the group redirects to one that does. Connections are bounded per
//! node, and a client too slow for its bounded buffer is sent a fresh snapshot instead of a backlog.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use boxoffice_statemachine::query::{self, SeatMap, SeatStatus};
use boxoffice_statemachine::EventId;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use utoipa::IntoParams;

use super::browse::event_id;
use super::error::HttpError;
use super::model::EventIdText;
use super::openapi::error_responses;
use super::{Gateway, Params, Segments};
use crate::node::Hosted;

/// Change streams one node serves at once; more get 503.
pub const FEED_CONNECTIONS_MAX: usize = 1_000;
/// Events buffered per connection before the client counts as too slow.
pub const FEED_BUFFER_EVENTS: usize = 16;
/// How often a stream looks for newly applied commands.
const FEED_POLL_EVERY: Duration = Duration::from_millis(250);
/// How long a stream waits for this replica to apply the event's creation before it gives up.
const FEED_CATCH_UP_MAX: Duration = Duration::from_secs(10);
/// How often an idle stream sends a keep-alive comment.
const FEED_KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// Resume after this applied index (as `Last-Event-ID` does).
    #[param(minimum = 0)]
    pub cursor: Option<i64>,
}

/// One seat's or area's state in a stream event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Spot {
    /// A seat id, or `ga:<area name>`.
    id: String,
    /// A seat's `available`/`reserved`/`sold`/`blocked`; an area's places available.
    state: String,
}

#[derive(Debug, Serialize)]
struct Payload {
    cursor: u64,
    spots: Vec<Spot>,
}

fn seat_state(status: SeatStatus) -> &'static str {
    match status {
        SeatStatus::Available => "available",
        SeatStatus::Held => "reserved",
        SeatStatus::Sold => "sold",
        SeatStatus::Blocked => "blocked",
    }
}

/// Every seat's and area's state, by id.
fn spots(map: &SeatMap) -> BTreeMap<String, String> {
    let seats = map
        .sections
        .iter()
        .flat_map(|s| &s.rows)
        .flat_map(|r| &r.seats)
        .map(|seat| (seat.id.to_string(), seat_state(seat.status).to_owned()));
    let areas = map
        .ga_areas
        .iter()
        .map(|a| (format!("ga:{}", a.name), a.counts.available.to_string()));
    seats.chain(areas).collect()
}

fn sse(kind: &str, cursor: u64, spots: Vec<Spot>) -> Event {
    let data = serde_json::to_string(&Payload { cursor, spots }).unwrap_or_default();
    Event::default()
        .event(kind)
        .id(cursor.to_string())
        .data(data)
}

fn all(spots: &BTreeMap<String, String>) -> Vec<Spot> {
    spots
        .iter()
        .map(|(id, state)| Spot {
            id: id.clone(),
            state: state.clone(),
        })
        .collect()
}

fn changed(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<Spot> {
    after
        .iter()
        .filter(|(id, state)| before.get(*id) != Some(*state))
        .map(|(id, state)| Spot {
            id: id.clone(),
            state: state.clone(),
        })
        .collect()
}

/// Feeds one connection until it closes: a snapshot unless the client is at `cursor`, then changes.
async fn feed(
    gateway: Arc<Gateway>,
    event: EventId,
    group: u64,
    cursor: Option<u64>,
    sender: mpsc::Sender<Event>,
    _permit: OwnedSemaphorePermit,
) {
    let Some(Hosted { raft, .. }) = gateway.node.data_group(group) else {
        tracing::warn!(%event, group, "live feed closed: this node no longer holds the group");
        return;
    };
    let state = gateway.node.storage.group_state(group);
    let applied = || {
        crate::raft::metrics(&raft)
            .last_applied
            .map_or(0, |l| l.index)
    };
    let read = || -> Option<BTreeMap<String, String>> {
        match query::seat_map(&state.reader(), &event, None, 0) {
            Ok(Some(map)) => Some(spots(&map)),
            Ok(None) => {
                tracing::warn!(%event, group, "live feed closed: the event is gone from this replica");
                None
            }
            Err(error) => {
                tracing::warn!(%event, group, %error, "live feed closed: cannot read the seat map");
                None
            }
        }
    };
    let mut ticker = tokio::time::interval(FEED_POLL_EVERY);
    // The cluster map can name the event before this replica has applied its creation: a replica
    // that lags catches up, so wait for it (bounded) rather than close the stream.
    let catching_up_until = tokio::time::Instant::now() + FEED_CATCH_UP_MAX;
    let (mut index, mut known) = loop {
        let index = applied();
        let created = matches!(
            query::event(&state.reader(), &event, 0),
            Ok(Some(_)) | Err(_)
        );
        if created || tokio::time::Instant::now() >= catching_up_until {
            let Some(known) = read() else { return };
            break (index, known);
        }
        ticker.tick().await;
        if sender.is_closed() {
            return;
        }
    };
    let mut resync = cursor != Some(index);
    loop {
        if resync {
            match sender.try_send(sse("snapshot", index, all(&known))) {
                Ok(()) => resync = false,
                Err(mpsc::error::TrySendError::Closed(_)) => return,
                Err(mpsc::error::TrySendError::Full(_)) => {}
            }
        }
        ticker.tick().await;
        if sender.is_closed() {
            return;
        }
        let now = applied();
        if now == index {
            continue;
        }
        let Some(latest) = read() else { return };
        let moved = changed(&known, &latest);
        index = now;
        known = latest;
        if moved.is_empty() || resync {
            continue;
        }
        match sender.try_send(sse("changes", index, moved)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => return,
            // Too slow for its buffer: it gets a fresh snapshot once there is room, not a backlog.
            Err(mpsc::error::TrySendError::Full(_)) => resync = true,
        }
    }
}

error_responses!(ChangesErrors: 400, 404, 429, 503);

#[utoipa::path(get, path = "/api/v1/events/{event_id}/changes", tag = "browse",
    params(("event_id" = EventIdText, Path, description = "The event's id"), ChangesQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this cursor")),
    responses((status = 200, description = "text/event-stream of `snapshot` and `changes` events", content_type = "text/event-stream"),
        (status = 307, description = "Served by a node holding a replica of the event's group"),
        ChangesErrors))]
pub async fn changes(
    State(gateway): State<Arc<Gateway>>,
    Segments(event): Segments<String>,
    Params(query): Params<ChangesQuery>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let event = event_id(&event)?;
    let view = gateway.node.map();
    let group = *view
        .map
        .events
        .get(&event)
        .ok_or_else(|| HttpError::NotFound {
            code: "UNKNOWN_EVENT",
            message: format!("no such event: {event}"),
        })?;
    if gateway.node.data_group(group).is_none() {
        let elsewhere = view
            .map
            .groups
            .get(&group)
            .and_then(|p| p.replicas.iter().find_map(|id| view.map.nodes.get(id)))
            .ok_or_else(|| HttpError::Unavailable(format!("group {group} has no replica")))?;
        let location = format!("http://{}/api/v1/events/{event}/changes", elsewhere.http);
        let location =
            HeaderValue::from_str(&location).map_err(|e| HttpError::Internal(e.to_string()))?;
        return Ok((
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, location)],
        )
            .into_response());
    }
    let cursor = query
        .cursor
        .map(|c| u64::try_from(c).map_err(|_| HttpError::invalid("cursor must not be negative")))
        .transpose()?
        .or_else(|| {
            headers
                .get("last-event-id")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
        });
    let permit = gateway
        .feeds
        .clone()
        .try_acquire_owned()
        .map_err(|_| HttpError::Overloaded)?;
    let (sender, receiver) = mpsc::channel(FEED_BUFFER_EVENTS);
    tokio::spawn(feed(gateway.clone(), event, group, cursor, sender, permit));
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let event = receiver.recv().await?;
        Some((Ok::<_, Infallible>(event), receiver))
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(FEED_KEEP_ALIVE))
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(id, state)| ((*id).to_owned(), (*state).to_owned()))
            .collect()
    }

    #[test]
    fn only_moved_spots_are_sent() {
        let before = states(&[
            ("0.0.0", "available"),
            ("0.0.1", "available"),
            ("ga:Pit", "10"),
        ]);
        let after = states(&[
            ("0.0.0", "reserved"),
            ("0.0.1", "available"),
            ("ga:Pit", "8"),
        ]);
        let moved: Vec<String> = changed(&before, &after).into_iter().map(|s| s.id).collect();
        assert_eq!(moved, ["0.0.0", "ga:Pit"]);
        assert!(changed(&after, &after).is_empty());
    }
}
