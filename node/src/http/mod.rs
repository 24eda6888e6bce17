//! The HTTP gateway every node serves (axum): the REST API of a ticketing store over the replicated
//! groups, forwarding through the client crate's routing (so any node answers any request), with
//! API-key roles, per-client rate limits, a bound on requests in flight, the waiting room's
//! endpoints, and its OpenAPI document.

pub mod admin;
pub mod browse;
pub mod changes;
pub mod error;
pub mod guard;
pub mod layout;
pub mod model;
pub mod openapi;
pub mod queue;
pub mod sales;
pub mod trace;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use boxoffice_client::{Client, ClientOptions, Decided};
use boxoffice_statemachine::{Effect, Outcome, RequestId};
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;

use crate::config::HttpConfig;
use crate::node::NodeState;
use error::HttpError;
use guard::{Keys, RateLimiter};
use layout::Layouts;

/// Longest `Idempotency-Key`, in bytes (with its `http:<caller>:` prefix it fits a request id).
pub const IDEMPOTENCY_KEY_BYTES_MAX: usize = 110;

/// How long the gateway's calls into the store may take, retries included.
const STORE_DEADLINE: Duration = Duration::from_secs(10);

/// What every handler shares.
#[derive(Debug)]
pub struct Gateway {
    pub node: Arc<NodeState>,
    pub client: Client,
    pub keys: Keys,
    /// Token buckets per API key.
    pub key_rate: RateLimiter,
    /// Token buckets per address, for callers without a key.
    pub address_rate: RateLimiter,
    pub in_flight: Semaphore,
    /// Live seat-map streams this node may still open.
    pub feeds: Arc<Semaphore>,
    pub layouts: Layouts,
    pub config: HttpConfig,
}

impl Gateway {
    /// A gateway for `node`, reaching the store through the node's own gRPC address (the client
    /// follows leaders from there).
    pub fn new(node: Arc<NodeState>, grpc: &str) -> Result<Gateway, HttpError> {
        let config = node.config.http.clone();
        let options = ClientOptions {
            deadline: STORE_DEADLINE,
            ..ClientOptions::default()
        };
        let client = Client::connect([grpc], options)?;
        Ok(Gateway {
            keys: Keys::new(&config.app_keys, &config.admin_keys),
            key_rate: RateLimiter::new(
                config.requests_per_s_per_key,
                config.request_burst_per_key,
                config.rate_limited_clients_max,
            ),
            address_rate: RateLimiter::new(
                config.requests_per_s_per_address,
                config.request_burst_per_address,
                config.rate_limited_clients_max,
            ),
            in_flight: Semaphore::new(config.in_flight_requests_max),
            feeds: Arc::new(Semaphore::new(changes::FEED_CONNECTIONS_MAX)),
            layouts: Layouts::default(),
            client,
            node,
            config,
        })
    }

    /// The command's request id: `http:<caller>:<Idempotency-Key>` when the caller gave a key (a
    /// replay then returns the first outcome; `<caller>` names its API key, so two applications
    /// never share a key's space), else a fresh one.
    pub fn request_id(&self, headers: &HeaderMap) -> Result<RequestId, HttpError> {
        let Some(key) = headers.get("idempotency-key") else {
            return Ok(traced(self.client.new_request_id()));
        };
        let key = key
            .to_str()
            .map_err(|_| HttpError::invalid("Idempotency-Key must be visible ASCII"))?;
        if key.is_empty() || key.len() > IDEMPOTENCY_KEY_BYTES_MAX {
            return Err(HttpError::invalid(format!(
                "Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_BYTES_MAX} characters"
            )));
        }
        let caller = guard::caller_tag(headers);
        let id = RequestId::new(format!("http:{caller}:{key}"))
            .map_err(|e| HttpError::invalid(format!("Idempotency-Key: {e}")))?;
        Ok(traced(id))
    }
}

/// `id`, recorded in the HTTP request's span as the store request id of its command.
fn traced(id: RequestId) -> RequestId {
    tracing::Span::current().record("command_request_id", tracing::field::display(&id));
    id
}

/// The effect of an accepted command; a rejection becomes its HTTP error.
pub fn accepted(decided: Decided) -> Result<Effect, HttpError> {
    match decided.outcome {
        Outcome::Accepted(effect) => Ok(effect),
        Outcome::Rejected(rejection) => Err(HttpError::Rejected(rejection)),
    }
}

/// An effect the command cannot have produced: a bug in the store or the gateway.
pub fn unexpected(effect: &Effect) -> HttpError {
    HttpError::Internal(format!("unexpected effect {effect:?}"))
}

/// A JSON body whose every failure is a JSON 4xx: 415 when it is not declared
/// `application/json`, 413 past the size limit, 400 for syntax, types and unknown fields.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Arc<Gateway>> for Body<T> {
    type Rejection = HttpError;

    async fn from_request(
        request: Request,
        gateway: &Arc<Gateway>,
    ) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, gateway).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(body_error(&rejection, gateway.config.body_bytes_max)),
        }
    }
}

fn body_error(rejection: &JsonRejection, body_bytes_max: usize) -> HttpError {
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => HttpError::PayloadTooLarge(body_bytes_max),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => HttpError::UnsupportedMediaType(
            "the body must be JSON, sent with Content-Type: application/json".into(),
        ),
        _ => HttpError::invalid(rejection.body_text()),
    }
}

/// Query parameters whose failures are JSON 400s.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Params(q.0))
            .map_err(|rejection| HttpError::invalid(rejection.body_text()))
    }
}

/// Path segments whose failures are JSON 400s.
#[derive(Debug)]
pub struct Segments<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Segments<T> {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Segments(p.0))
            .map_err(|rejection| HttpError::invalid(rejection.body_text()))
    }
}

/// Every route of the gateway.
pub fn router(gateway: Arc<Gateway>) -> Router {
    let api = Router::new()
        .route(
            "/api/v1/events",
            get(browse::list_events).post(admin::create_event),
        )
        .route("/api/v1/events/{event_id}", get(browse::event))
        .route("/api/v1/events/{event_id}/seats", get(browse::seats))
        .route("/api/v1/events/{event_id}/changes", get(changes::changes))
        .route("/api/v1/events/{event_id}/reserve", post(sales::reserve))
        .route(
            "/api/v1/events/{event_id}/queue",
            get(queue::totals).post(queue::join),
        )
        .route(
            "/api/v1/events/{event_id}/queue/{queue_token}",
            get(queue::poll),
        )
        .route(
            "/api/v1/events/{event_id}/admission",
            post(queue::set_admission),
        )
        .route("/api/v1/events/{event_id}/status", post(admin::sale_status))
        .route("/api/v1/events/{event_id}/block", post(admin::block_seats))
        .route(
            "/api/v1/events/{event_id}/unblock",
            post(admin::unblock_seats),
        )
        .route(
            "/api/v1/reservations/{reservation_id}",
            get(sales::reservation).delete(sales::release),
        )
        .route(
            "/api/v1/reservations/{reservation_id}/extend",
            post(sales::extend),
        )
        .route("/api/v1/orders", post(sales::create_order))
        .route("/api/v1/orders/{order_id}", get(sales::order))
        .route(
            "/api/v1/orders/{order_id}/cancel",
            post(admin::cancel_order),
        )
        .route("/api/v1/users/{user_id}/orders", get(sales::user_orders))
        .route("/api/v1/cluster", get(admin::cluster))
        .layer(axum::middleware::from_fn_with_state(
            gateway.clone(),
            guard::admit,
        ));
    Router::new()
        .merge(api)
        .route("/healthz", get(browse::healthz))
        .route("/readyz", get(browse::readyz))
        .route("/metrics", get(browse::metrics))
        .route("/openapi.json", get(openapi::document))
        .fallback(|| async {
            HttpError::NotFound {
                code: "NOT_FOUND",
                message: "no such route".into(),
            }
        })
        .method_not_allowed_fallback(|| async { HttpError::MethodNotAllowed })
        .layer(axum::extract::DefaultBodyLimit::max(
            gateway.config.body_bytes_max,
        ))
        .layer(axum::middleware::from_fn_with_state(
            gateway.clone(),
            trace::trace,
        ))
        .with_state(gateway)
}

/// Serves the gateway on `listener` until `stop` resolves.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let app = router(gateway).into_make_service_with_connect_info::<SocketAddr>();
    // Small responses leave at once instead of waiting for the client's delayed ACK.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY on an HTTP connection");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
}
