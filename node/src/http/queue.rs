//! The waiting room over HTTP: buyers join a gated event's queue and get a signed queue token, poll
//! their place with it (no API key: the token is the credential) and, once admitted, get a signed
//! access token that `reserve` demands; operators set the admission rate and read the totals.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use boxoffice_client::{proto, Consistency};
use boxoffice_statemachine::{AdmissionSettings, CustomerId, Effect, EventId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::browse::event_id;
use super::error::HttpError;
use super::guard::{AdminKey, AppKey};
use super::model::{time, EventIdText, IdempotencyHeader, UserIdText};
use super::openapi::error_responses;
use super::sales::customer;
use super::{accepted, unexpected, Body, Gateway, Segments};
use crate::raft::proposer::{Clock, SystemClock};
use crate::waiting_room::{RoomKey, Token, TokenError, TokenKind};

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    #[schema(value_type = UserIdText)]
    pub user_id: String,
}

error_responses!(JoinErrors: 400, 401, 404, 409, 413, 415, 422, 429, 503, 504);
error_responses!(PollErrors: 400, 403, 404, 429, 503);
error_responses!(TotalsErrors: 400, 401, 403, 404, 429, 503);
error_responses!(AdmissionErrors: 400, 401, 403, 404, 409, 413, 415, 422, 429, 503, 504);

/// A buyer's place in a waiting room.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueStatus {
    pub event_id: String,
    pub user_id: String,
    /// Poll `GET /api/v1/events/{event_id}/queue/{queue_token}` with it.
    pub queue_token: String,
    /// `waiting`, `admitted` or `expired`.
    pub status: String,
    /// Joined before the sale opened: placed in a random order among the early arrivals.
    pub presale: bool,
    /// 0-based place in admission order; absent until the early arrivals are shuffled.
    pub position: Option<u64>,
    /// Buyers still to be admitted before this one.
    pub ahead: Option<u64>,
    /// Seconds until admission at the current rate, when known.
    pub estimated_wait_s: Option<u64>,
    /// Once admitted: the token `reserve` needs, and until when it is valid.
    pub access_token: Option<String>,
    pub access_expires_at: Option<String>,
}

/// A waiting room's settings and totals.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueSummary {
    pub event_id: String,
    pub presale_total: u64,
    pub presale_sequenced: u64,
    pub later_arrivals: u64,
    /// Every position below this one has been admitted.
    pub admitted_up_to: u64,
    pub admit_per_minute: u32,
    pub auto: bool,
    pub access_ttl_s: u64,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdmissionRequest {
    /// Buyers admitted per minute.
    #[schema(maximum = 4294967295u32)]
    pub admit_per_minute: u32,
    /// Also never admit more at once than there are places left.
    pub auto: bool,
    /// How long an admitted buyer may start reserving, in seconds.
    pub access_ttl_s: u64,
}

fn room_key(gateway: &Gateway) -> Result<&RoomKey, HttpError> {
    gateway
        .node
        .room_key
        .as_ref()
        .ok_or_else(|| HttpError::Unavailable("this node has no waiting-room secret".into()))
}

fn token_denied(error: TokenError) -> HttpError {
    let code = match error {
        TokenError::Expired => "ADMISSION_EXPIRED",
        _ => "INVALID_TOKEN",
    };
    HttpError::AccessDenied {
        code,
        message: error.to_string(),
    }
}

/// The status answer for `customer`'s place, with a fresh queue token and, once admitted, an
/// access token.
fn status(
    key: &RoomKey,
    event: &EventId,
    customer: &CustomerId,
    reply: &proto::QueueStatusReply,
    now_ms: u64,
) -> Result<QueueStatus, HttpError> {
    let place = reply.place.as_ref().ok_or_else(|| HttpError::NotFound {
        code: "NOT_QUEUED",
        message: format!("{customer} has not joined the waiting room of {event}"),
    })?;
    let queue_token = key.sign(&Token {
        kind: TokenKind::Queue,
        event: event.to_string(),
        customer: customer.to_string(),
        expires_at_ms: 0,
    });
    let per_minute = reply
        .summary
        .as_ref()
        .and_then(|s| s.settings)
        .map_or(0, |s| s.admit_per_minute);
    let mut state = proto::AdmissionState::try_from(place.admission)
        .unwrap_or(proto::AdmissionState::Unspecified);
    // Answers are at the store's state time, which stands still while the event's group is quiet;
    // an access run out by this gateway's clock (the clock its reserve checks tokens by) is over.
    if state == proto::AdmissionState::Admitted && place.access_expires_at_ms <= now_ms {
        state = proto::AdmissionState::Expired;
    }
    let admitted = state == proto::AdmissionState::Admitted;
    Ok(QueueStatus {
        event_id: event.to_string(),
        user_id: customer.to_string(),
        queue_token,
        status: match state {
            proto::AdmissionState::Admitted => "admitted",
            proto::AdmissionState::Expired => "expired",
            _ => "waiting",
        }
        .into(),
        presale: place.presale,
        position: place.position,
        ahead: place.ahead,
        estimated_wait_s: place
            .ahead
            .filter(|_| per_minute > 0)
            .map(|ahead| ahead.saturating_mul(60) / u64::from(per_minute)),
        access_token: admitted.then(|| {
            key.sign(&Token {
                kind: TokenKind::Access,
                event: event.to_string(),
                customer: customer.to_string(),
                expires_at_ms: place.access_expires_at_ms,
            })
        }),
        access_expires_at: admitted.then(|| time(place.access_expires_at_ms)),
    })
}

#[utoipa::path(post, path = "/api/v1/events/{event_id}/queue", tag = "waiting room",
    params(("event_id" = EventIdText, Path, description = "The gated event's id"), IdempotencyHeader),
    request_body = JoinRequest, security(("api_key" = [])),
    responses((status = 201, body = QueueStatus), JoinErrors))]
pub async fn join(
    State(gateway): State<Arc<Gateway>>,
    _key: AppKey,
    headers: HeaderMap,
    Segments(event): Segments<String>,
    Body(request): Body<JoinRequest>,
) -> Result<(StatusCode, Json<QueueStatus>), HttpError> {
    let key = room_key(&gateway)?;
    let id = gateway.request_id(&headers)?;
    let event = event_id(&event)?;
    let customer = customer(&request.user_id)?;
    match accepted(gateway.client.join_queue(&id, &event, &customer).await?)? {
        Effect::QueueJoined(_) => {}
        other => return Err(unexpected(&other)),
    }
    let reply = gateway
        .client
        .queue_status(&event, Some(&customer), Consistency::Linearizable)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(status(
            key,
            &event,
            &customer,
            &reply,
            SystemClock.now_ms(),
        )?),
    ))
}

#[utoipa::path(get, path = "/api/v1/events/{event_id}/queue/{queue_token}", tag = "waiting room",
    params(("event_id" = EventIdText, Path, description = "The gated event's id"),
        ("queue_token" = String, Path, description = "The token the join answered with")),
    responses((status = 200, body = QueueStatus), PollErrors))]
pub async fn poll(
    State(gateway): State<Arc<Gateway>>,
    Segments((event, token)): Segments<(String, String)>,
) -> Result<Json<QueueStatus>, HttpError> {
    let key = room_key(&gateway)?;
    let event = event_id(&event)?;
    let token = key
        .check(&token, TokenKind::Queue, &event, None, 0)
        .map_err(token_denied)?;
    let customer = customer(&token.customer)?;
    // Any replica may answer: a place only moves forward, and admission is re-checked at the hold.
    let reply = gateway
        .client
        .queue_status(&event, Some(&customer), Consistency::Stale)
        .await?;
    Ok(Json(status(
        key,
        &event,
        &customer,
        &reply,
        SystemClock.now_ms(),
    )?))
}

/// Refuses a reserve on a gated event unless it carries this buyer's valid access token. (The
/// state machine checks the admission again when it applies the hold.)
pub fn check_access(
    gateway: &Gateway,
    event: &EventId,
    customer: &CustomerId,
    access_token: Option<&str>,
    now_ms: u64,
) -> Result<(), HttpError> {
    let Some(token) = access_token else {
        return Err(HttpError::AccessDenied {
            code: "NOT_ADMITTED",
            message: format!(
                "{event} is gated: join its waiting room and reserve with the access token"
            ),
        });
    };
    room_key(gateway)?
        .check(token, TokenKind::Access, event, Some(customer), now_ms)
        .map(|_| ())
        .map_err(token_denied)
}

fn summary(event: &EventId, reply: &proto::QueueStatusReply) -> QueueSummary {
    let totals = reply.summary.unwrap_or_default();
    let settings = totals.settings.unwrap_or_default();
    QueueSummary {
        event_id: event.to_string(),
        presale_total: totals.presale_total,
        presale_sequenced: totals.presale_sequenced,
        later_arrivals: totals.later_count,
        admitted_up_to: totals.watermark,
        admit_per_minute: settings.admit_per_minute,
        auto: settings.auto,
        access_ttl_s: settings.access_ttl_ms / 1_000,
    }
}

#[utoipa::path(get, path = "/api/v1/events/{event_id}/queue", tag = "waiting room",
    params(("event_id" = EventIdText, Path, description = "The gated event's id")),
    security(("api_key" = [])),
    responses((status = 200, body = QueueSummary), TotalsErrors))]
pub async fn totals(
    State(gateway): State<Arc<Gateway>>,
    _key: AdminKey,
    Segments(event): Segments<String>,
) -> Result<Json<QueueSummary>, HttpError> {
    let event = event_id(&event)?;
    let reply = gateway
        .client
        .queue_status(&event, None, Consistency::Linearizable)
        .await?;
    Ok(Json(summary(&event, &reply)))
}

#[utoipa::path(post, path = "/api/v1/events/{event_id}/admission", tag = "waiting room",
    params(("event_id" = EventIdText, Path, description = "The gated event's id"), IdempotencyHeader),
    request_body = AdmissionRequest, security(("api_key" = [])),
    responses((status = 200, body = QueueSummary), AdmissionErrors))]
pub async fn set_admission(
    State(gateway): State<Arc<Gateway>>,
    _key: AdminKey,
    headers: HeaderMap,
    Segments(event): Segments<String>,
    Body(request): Body<AdmissionRequest>,
) -> Result<Json<QueueSummary>, HttpError> {
    let id = gateway.request_id(&headers)?;
    let event = event_id(&event)?;
    let settings = AdmissionSettings {
        access_ttl_ms: request.access_ttl_s.saturating_mul(1_000),
        admit_per_minute: request.admit_per_minute,
        auto: request.auto,
    };
    match accepted(gateway.client.set_admission(&id, &event, &settings).await?)? {
        Effect::AdmissionSet { .. } => {}
        other => return Err(unexpected(&other)),
    }
    let reply = gateway
        .client
        .queue_status(&event, None, Consistency::Linearizable)
        .await?;
    Ok(Json(summary(&event, &reply)))
}
