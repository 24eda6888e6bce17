//! Each HTTP request's span: its method, path and request id (the caller's `X-Request-Id` when it
//! sends a usable one, else one made here; echoed on the response), and the store request id of the
//! command it sends, so every line logged while it is served (its failure included) names it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::Gateway;

/// The header that carries a request's id, in and out.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Longest request id taken from a caller, in bytes; a longer or non-ASCII one is replaced.
pub const REQUEST_ID_BYTES_MAX: usize = 128;

/// Requests this process has numbered (ids made here are `<node>-<n>`).
static NUMBERED: AtomicU64 = AtomicU64::new(0);

/// The middleware: serves `request` inside its span and echoes its id.
pub async fn trace(State(gateway): State<Arc<Gateway>>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= REQUEST_ID_BYTES_MAX
                && id.bytes().all(|b| b.is_ascii_graphic())
        })
        .map(str::to_owned);
    let id = given.unwrap_or_else(|| {
        let n = NUMBERED.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{}-{n}", gateway.node.id)
    });
    let span = tracing::info_span!(
        "http",
        method = %request.method(),
        path = request.uri().path(),
        request_id = %id,
        command_request_id = tracing::field::Empty,
    );
    let mut response = next.run(request).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}
