//! The gateway's OpenAPI 3 document, generated from the handlers and JSON types (utoipa) and served
//! at `/openapi.json`; `docs/openapi.json` is a copy a test keeps equal.

use std::collections::BTreeMap;

use axum::Json;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Ref, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr};
use utoipa::{Modify, OpenApi, PartialSchema};

use super::{admin, browse, changes, model, queue, sales};

/// The bearer API key scheme of the `app` and `admin` roles.
struct ApiKeys;

impl Modify for ApiKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key of role `app` (buyers' operations) or `admin` (everything)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The gateway's error answers by status: the name of the shared response in the document's
/// components, what it means, and whether it carries `Retry-After` (429, 503) or `WWW-Authenticate`
/// (401). Every one has a JSON [`model::ErrorBody`].
const ERRORS: [(u16, &str, &str); 11] = [
    (
        400,
        "BadRequest",
        "INVALID_REQUEST: malformed JSON, fields, parameters, ids or Idempotency-Key; or a rule \
         of the store, like UNKNOWN_SEAT. Nothing changed",
    ),
    (
        401,
        "Unauthenticated",
        "UNAUTHENTICATED: no API key, or an unknown one (`Authorization: Bearer <key>`)",
    ),
    (
        403,
        "Forbidden",
        "FORBIDDEN: this API key's role may not do this; NOT_ADMITTED, ADMISSION_EXPIRED: the \
         waiting room of a gated event has not admitted the buyer, or the admission ran out",
    ),
    (
        404,
        "NotFound",
        "UNKNOWN_EVENT, UNKNOWN_HOLD, UNKNOWN_ORDER: no such event, reservation or order",
    ),
    (
        409,
        "Conflict",
        "The current state refuses it, with the store's code: SEAT_UNAVAILABLE, \
         EVENT_NOT_ON_SALE, HOLD_EXPIRED, NOT_HOLDER, EVENT_EXISTS, INVALID_TRANSITION, ...",
    ),
    (
        413,
        "PayloadTooLarge",
        "PAYLOAD_TOO_LARGE: the body is over the node's limit",
    ),
    (
        415,
        "UnsupportedMediaType",
        "UNSUPPORTED_MEDIA_TYPE: the body must be sent as `Content-Type: application/json`",
    ),
    (
        422,
        "Unprocessable",
        "LIMIT_EXCEEDED: past a limit of the event or the store; REQUEST_ID_REUSED: this \
         Idempotency-Key was used for a different request",
    ),
    (
        429,
        "RateLimited",
        "RATE_LIMITED: this client is over its rate; retry after `Retry-After` seconds",
    ),
    (
        503,
        "Unavailable",
        "OVERLOADED, UNAVAILABLE: not applied (the node is at its limit of requests in flight, \
         or the store could not be reached in time); retry after `Retry-After` seconds",
    ),
    (
        504,
        "OutcomeUnknown",
        "OUTCOME_UNKNOWN: the command may or may not have been applied; a retry with the same \
         Idempotency-Key is safe",
    ),
];

/// The shared error response of `status`.
fn error_response(status: u16, description: &str) -> Response {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    );
    if matches!(status, 429 | 503) {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(1)),
                )
                .description(Some("Seconds to wait before retrying"))
                .build(),
        );
    }
    if status == 401 {
        response = response.header(
            "WWW-Authenticate",
            HeaderBuilder::new()
                .schema(String::schema())
                .description(Some("`Bearer realm=\"boxoffice\"`"))
                .build(),
        );
    }
    response.build()
}

/// References to the shared error responses of `statuses`, for an operation's `responses`; a status
/// the gateway has no shared response for is left out (the document's test finds it missing).
pub fn error_refs(statuses: &[u16]) -> BTreeMap<String, RefOr<Response>> {
    statuses
        .iter()
        .filter_map(|status| {
            let (_, name, _) = ERRORS.iter().find(|(s, _, _)| s == status)?;
            Some((
                status.to_string(),
                RefOr::Ref(Ref::from_response_name(*name)),
            ))
        })
        .collect()
}

/// Declares a type listing an operation's error statuses for its `#[utoipa::path]`
/// (`responses((status = 200, body = T), TheErrors)`): each refers to the shared error response.
macro_rules! error_responses {
    ($(#[$doc:meta])* $name:ident: $($status:literal),+ $(,)?) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
            > {
                $crate::http::openapi::error_refs(&[$($status),+])
            }
        }
    };
}
pub(crate) use error_responses;

/// The shared error responses, in the document's components.
struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (status, name, description) in ERRORS {
            components
                .responses
                .insert(name.to_owned(), error_response(status, description).into());
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Boxoffice",
        description = "A Raft-replicated ticket inventory store: browse events and seat maps, reserve, buy, and run the sale."
    ),
    paths(
        browse::list_events,
        browse::event,
        browse::seats,
        changes::changes,
        browse::healthz,
        browse::metrics,
        browse::readyz,
        sales::reserve,
        sales::reservation,
        sales::extend,
        sales::release,
        sales::create_order,
        sales::order,
        sales::user_orders,
        admin::create_event,
        admin::sale_status,
        admin::block_seats,
        admin::unblock_seats,
        admin::cancel_order,
        admin::cluster,
        queue::join,
        queue::poll,
        queue::totals,
        queue::set_admission,
        document,
    ),
    // Schemas only parameters refer to are not collected from the paths.
    components(schemas(
        model::ErrorBody,
        model::EventIdText,
        model::ReservationIdText,
        model::OrderIdText,
        model::UserIdText,
        model::SeatIdText,
        model::TimeText,
        model::DateText,
        model::EventStatusName,
    )),
    modifiers(&ApiKeys, &ErrorResponses),
    tags(
        (name = "browse", description = "Events and seat maps; no key needed"),
        (name = "sales", description = "Reservations and orders; role app"),
        (name = "admin", description = "Events, sales and the cluster; role admin"),
        (name = "waiting room", description = "Queues of gated events: join (role app), poll (the queue token), admission (role admin)"),
        (name = "operations", description = "Health and readiness"),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

/// The document as served.
pub fn json() -> serde_json::Value {
    serde_json::to_value(ApiDoc::openapi()).unwrap_or_default()
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "This document", body = Object)))]
pub async fn document() -> Json<serde_json::Value> {
    Json(json())
}
