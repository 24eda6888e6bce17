//! The gateway's OpenAPI 3 document, generated from the handlers and JSON types (utoipa) and served
//! at `/openapi.json`; `docs/openapi.json` is a copy a test keeps equal.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

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
    components(schemas(model::ErrorBody)),
    modifiers(&ApiKeys),
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
    responses((status = 200, description = "This document")))]
pub async fn document() -> Json<serde_json::Value> {
    Json(json())
}
