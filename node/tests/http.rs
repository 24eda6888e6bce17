//! The HTTP gateway's contract on a real three-process cluster: every endpoint, the status codes
//! and stable error codes, the auth roles, idempotent replays, caching headers, and bad input that
//! gets a 4xx and changes nothing. Any node's gateway serves any request.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{ProcessCluster, ADMIN_KEY, APP_KEY};

/// A caller of one node's gateway.
struct Api {
    base: String,
    http: reqwest::Client,
}

/// A response: status, headers, JSON body (Null when empty).
struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

impl Api {
    fn new(address: &str) -> Api {
        Api {
            base: format!("http://{address}"),
            http: reqwest::Client::new(),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{path}: not JSON ({e}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str, key: Option<&str>) -> Answer {
        self.call(Method::GET, path, key, &[], None).await
    }

    async fn post(&self, path: &str, key: Option<&str>, body: Value) -> Answer {
        self.call(Method::POST, path, key, &[], Some(body.to_string()))
            .await
    }

    async fn post_once(&self, path: &str, key: &str, idempotency: &str, body: Value) -> Answer {
        let headers = [("idempotency-key", idempotency)];
        self.call(
            Method::POST,
            path,
            Some(key),
            &headers,
            Some(body.to_string()),
        )
        .await
    }
}

/// A stadium on sale since 2026: Floor (rows A of 10 and B of seats 1, 3, 5) at 300.00, a row C
/// priced 350.00, and a Pit of 50 at 100.00; 4 per order, 6 per customer.
fn stadium(event_id: &str) -> Value {
    json!({
        "event_id": event_id,
        "name": "Summer Stadium Tour",
        "venue": "Wembley, London",
        "category": "concert",
        "start_time": "2030-06-01T19:30:00Z",
        "on_sale_time": "2026-01-01T10:00:00Z",
        "sections": [{"name": "Floor", "price": 300.0, "rows": [
            {"row": "A", "seats": 10},
            {"row": "B", "seat_numbers": [1, 3, 5], "accessible": [1]},
            {"row": "C", "seats": 4, "price": 350.0}
        ]}],
        "ga_areas": [{"name": "Pit", "capacity": 50, "price": 100.0}],
        "max_per_order": 4,
        "max_per_customer": 6,
    })
}

/// Creates `event_id` as admin; the gateway answers 201 with its group.
async fn create(api: &Api, event_id: &str) -> Value {
    let created = api
        .post("/api/v1/events", Some(ADMIN_KEY), stadium(event_id))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["event_id"], event_id);
    assert_eq!(created.body["seats"], 17);
    assert_eq!(created.body["ga_places"], 50);
    created.body
}

/// Reserves for `user` and returns the answer.
async fn reserve(api: &Api, event: &str, body: Value) -> Answer {
    api.post(
        &format!("/api/v1/events/{event}/reserve"),
        Some(APP_KEY),
        body,
    )
    .await
}

async fn counts(api: &Api, event: &str) -> Value {
    let detail = api.get(&format!("/api/v1/events/{event}"), None).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    detail.body["counts"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_rest_api_serves_browsing_sales_and_admin_from_any_node() {
    let cluster = ProcessCluster::start(3, 3, 50_000).await;
    let apis: Vec<Api> = cluster.nodes.values().map(|n| Api::new(&n.http)).collect();
    let (one, two, three) = (&apis[0], &apis[1], &apis[2]);

    // Health and readiness need no key.
    assert_eq!(one.get("/healthz", None).await.status, StatusCode::OK);
    assert_eq!(one.get("/readyz", None).await.body["status"], "ok");

    create(one, "tour").await;
    create(two, "other-show").await;

    // Browsing: search with filters, paging, details with ETag, seat maps.
    let found = three
        .get("/api/v1/events?location=london&text=summer+tour", None)
        .await;
    assert_eq!(found.status, StatusCode::OK);
    assert_eq!(found.body["total"], 2);
    let paged = three.get("/api/v1/events?limit=1&offset=1", None).await;
    assert_eq!(paged.body["events"].as_array().unwrap().len(), 1);
    assert_eq!(paged.body["total"], 2);
    let on_day = three
        .get("/api/v1/events?date=2030-06-01&status=on_sale", None)
        .await;
    assert_eq!(on_day.body["total"], 2);
    let none = three.get("/api/v1/events?category=opera", None).await;
    assert_eq!(none.body["total"], 0);
    let bad_status = three.get("/api/v1/events?status=bogus", None).await;
    assert_eq!(bad_status.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_status.code(), "INVALID_REQUEST");
    let unknown_param = three.get("/api/v1/events?colour=red", None).await;
    assert_eq!(unknown_param.status, StatusCode::BAD_REQUEST);

    let detail = two.get("/api/v1/events/tour", None).await;
    assert_eq!(detail.status, StatusCode::OK);
    assert_eq!(detail.body["price_tiers"]["Floor"], 300.0);
    assert_eq!(detail.body["price_tiers"]["Floor C"], 350.0);
    assert_eq!(detail.body["min_price"], 100.0);
    assert_eq!(detail.body["available_seats"], 67);
    let etag = detail.headers["etag"].to_str().unwrap().to_owned();
    assert!(detail.headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age"));
    let cached = two
        .call(
            Method::GET,
            "/api/v1/events/tour",
            None,
            &[("if-none-match", &etag)],
            None,
        )
        .await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);

    let seats = one
        .get("/api/v1/events/tour/seats?section=Floor", None)
        .await;
    assert_eq!(seats.status, StatusCode::OK);
    assert_eq!(seats.headers["cache-control"], "no-store");
    let rows = seats.body["sections"][0]["rows"].as_array().unwrap();
    assert_eq!(rows[1]["row"], "B");
    assert_eq!(rows[1]["seats"][2]["number"], 5);
    assert_eq!(rows[1]["seats"][0]["accessible"], true);
    assert_eq!(rows[0]["seats"][0]["status"], "available");
    let stale = one
        .get("/api/v1/events/tour/seats?consistency=stale", None)
        .await;
    assert_eq!(stale.body["read"]["consistency"], "stale");
    assert!(stale.headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age"));

    let unknown = one.get("/api/v1/events/nope", None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.code(), "UNKNOWN_EVENT");
    let bad_id = one.get("/api/v1/events/bad%20id", None).await;
    assert_eq!(bad_id.status, StatusCode::BAD_REQUEST);

    // Auth: no key 401, a forged key 401, an app key on admin operations 403.
    let no_key = reserve_without_key(one).await;
    assert_eq!(no_key.status, StatusCode::UNAUTHORIZED);
    assert_eq!(no_key.code(), "UNAUTHENTICATED");
    assert!(no_key.headers.contains_key("www-authenticate"));
    let forged = one
        .post("/api/v1/events", Some("forged-key"), stadium("x"))
        .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    let not_admin = one
        .post("/api/v1/events", Some(APP_KEY), stadium("x"))
        .await;
    assert_eq!(not_admin.status, StatusCode::FORBIDDEN);
    assert_eq!(not_admin.code(), "FORBIDDEN");
    let cluster_view = one.get("/api/v1/cluster", Some(APP_KEY)).await;
    assert_eq!(cluster_view.status, StatusCode::FORBIDDEN);
    let cluster_view = one.get("/api/v1/cluster", Some(ADMIN_KEY)).await;
    assert_eq!(cluster_view.status, StatusCode::OK);
    assert_eq!(cluster_view.body["nodes"].as_array().unwrap().len(), 3);

    // Reserve best available, seats by id, general admission.
    let best = reserve(
        two,
        "tour",
        json!({"user_id": "ada", "quantity": 2, "section": "Floor"}),
    )
    .await;
    assert_eq!(best.status, StatusCode::CREATED, "{}", best.body);
    assert_eq!(best.body["seats"], json!(["Floor A-1", "Floor A-2"]));
    assert_eq!(best.body["total_amount"], 600.0);
    assert!(best.body["expires_at"].as_str().unwrap().ends_with('Z'));
    let reservation = best.body["reservation_id"].as_str().unwrap().to_owned();
    let taken = reserve(
        three,
        "tour",
        json!({"user_id": "bob", "seat_ids": ["0.0.0", "0.0.5"]}),
    )
    .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.code(), "SEAT_UNAVAILABLE");
    assert_eq!(taken.body["seat_ids"], json!(["0.0.0"]));
    let too_many = reserve(
        three,
        "tour",
        json!({"user_id": "bob", "quantity": 5, "ga_area": "Pit"}),
    )
    .await;
    assert_eq!(too_many.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(too_many.code(), "LIMIT_EXCEEDED");
    assert_eq!(too_many.body["limit"], "seats_per_hold_max");
    let pit = reserve(
        three,
        "tour",
        json!({"user_id": "bob", "quantity": 3, "ga_area": "Pit", "hold_duration": 1}),
    )
    .await;
    assert_eq!(pit.status, StatusCode::CREATED, "{}", pit.body);
    assert_eq!(pit.body["ga_area"], "Pit");
    let pit_hold = pit.body["reservation_id"].as_str().unwrap().to_owned();
    let ambiguous = reserve(
        one,
        "tour",
        json!({"user_id": "bob", "quantity": 1, "ga_area": "Pit", "section": "Floor"}),
    )
    .await;
    assert_eq!(ambiguous.status, StatusCode::BAD_REQUEST);

    // Read, extend; someone else may not.
    let read = one
        .get(
            &format!("/api/v1/reservations/{reservation}"),
            Some(APP_KEY),
        )
        .await;
    assert_eq!(read.body["status"], "active");
    let extended = one
        .post(
            &format!("/api/v1/reservations/{reservation}/extend"),
            Some(APP_KEY),
            json!({"user_id": "ada", "hold_duration": 900}),
        )
        .await;
    assert_eq!(extended.status, StatusCode::OK, "{}", extended.body);
    let not_holder = one
        .post(
            &format!("/api/v1/reservations/{reservation}/extend"),
            Some(APP_KEY),
            json!({"user_id": "mallory"}),
        )
        .await;
    assert_eq!(not_holder.status, StatusCode::CONFLICT);
    assert_eq!(not_holder.code(), "NOT_HOLDER");

    // Buy: 201 with tickets; a replay with the same Idempotency-Key answers the same; the same key
    // for another body is refused; a second buy of the same reservation conflicts.
    let order_body =
        json!({"reservation_id": reservation, "user_id": "ada", "payment_reference": "psp-77"});
    let bought = two
        .post_once("/api/v1/orders", APP_KEY, "buy-ada-1", order_body.clone())
        .await;
    assert_eq!(bought.status, StatusCode::CREATED, "{}", bought.body);
    assert_eq!(bought.body["status"], "confirmed");
    assert_eq!(bought.body["total_amount"], 600.0);
    assert_eq!(bought.body["tickets"][0]["seat"], "Floor A-1");
    let replay = three
        .post_once("/api/v1/orders", APP_KEY, "buy-ada-1", order_body.clone())
        .await;
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(
        replay.body, bought.body,
        "a replay returns the first response"
    );
    let reused = three
        .post_once(
            "/api/v1/orders",
            APP_KEY,
            "buy-ada-1",
            json!({"reservation_id": reservation, "user_id": "ada", "payment_reference": "psp-78"}),
        )
        .await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reused.code(), "REQUEST_ID_REUSED");
    // Keys are per API key: another application's same key is another command.
    let other_caller = three
        .post_once(
            "/api/v1/orders",
            ADMIN_KEY,
            "buy-ada-1",
            json!({"reservation_id": reservation, "user_id": "ada", "payment_reference": "psp-79"}),
        )
        .await;
    assert_eq!(
        other_caller.code(),
        "HOLD_NOT_ACTIVE",
        "{}",
        other_caller.body
    );
    let empty_key = three
        .post_once("/api/v1/orders", APP_KEY, "", order_body.clone())
        .await;
    assert_eq!(empty_key.status, StatusCode::BAD_REQUEST);
    let again = one.post("/api/v1/orders", Some(APP_KEY), order_body).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.code(), "HOLD_NOT_ACTIVE");
    let order_id = bought.body["order_id"].as_str().unwrap().to_owned();
    let order = one
        .get(&format!("/api/v1/orders/{order_id}"), Some(APP_KEY))
        .await;
    assert_eq!(order.body, bought.body);
    let mine = three.get("/api/v1/users/ada/orders", Some(APP_KEY)).await;
    assert_eq!(mine.body["orders"].as_array().unwrap().len(), 1);
    let mine_here = three
        .get(
            "/api/v1/users/ada/orders?event_id=other-show",
            Some(APP_KEY),
        )
        .await;
    assert_eq!(mine_here.body["orders"], json!([]));

    // An expired reservation cannot be bought; a released one frees its places.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let late = one
        .post(
            "/api/v1/orders",
            Some(APP_KEY),
            json!({"reservation_id": pit_hold, "user_id": "bob", "payment_reference": "psp-9"}),
        )
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert_eq!(late.code(), "HOLD_EXPIRED");
    let cara = reserve(
        one,
        "tour",
        json!({"user_id": "cara", "quantity": 2, "ga_area": "Pit"}),
    )
    .await;
    let cara_hold = cara.body["reservation_id"].as_str().unwrap().to_owned();
    let released = one
        .call(
            Method::DELETE,
            &format!("/api/v1/reservations/{cara_hold}?user_id=cara"),
            Some(APP_KEY),
            &[],
            None,
        )
        .await;
    assert_eq!(released.status, StatusCode::OK, "{}", released.body);
    assert_eq!(released.body["seats_released"], 2);

    // Admin: pause refuses reservations, open resumes; block and unblock; cancel an order.
    let paused = one
        .post(
            "/api/v1/events/tour/status",
            Some(ADMIN_KEY),
            json!({"action": "pause"}),
        )
        .await;
    assert_eq!(paused.body["status"], "paused");
    let refused = reserve(
        two,
        "tour",
        json!({"user_id": "dan", "quantity": 1, "ga_area": "Pit"}),
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.code(), "EVENT_NOT_ON_SALE");
    let opened = one
        .post(
            "/api/v1/events/tour/status",
            Some(ADMIN_KEY),
            json!({"action": "open"}),
        )
        .await;
    assert_eq!(opened.body["status"], "on_sale");
    let blocked = two
        .post(
            "/api/v1/events/tour/block",
            Some(ADMIN_KEY),
            json!({"seat_ids": ["0.1.0", "0.1.1"]}),
        )
        .await;
    assert_eq!(blocked.body["seats_changed"], 2);
    assert_eq!(counts(one, "tour").await["blocked"], 2);
    let unblocked = two
        .post(
            "/api/v1/events/tour/unblock",
            Some(ADMIN_KEY),
            json!({"seat_ids": ["0.1.0"]}),
        )
        .await;
    assert_eq!(unblocked.body["seats_changed"], 1);
    let cancelled = three
        .post(
            &format!("/api/v1/orders/{order_id}/cancel"),
            Some(ADMIN_KEY),
            json!({"reason": "refund"}),
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["seats_released"], 2);
    let cancelled_again = three
        .post(
            &format!("/api/v1/orders/{order_id}/cancel"),
            Some(ADMIN_KEY),
            json!({"reason": "refund"}),
        )
        .await;
    assert_eq!(cancelled_again.code(), "ORDER_NOT_ACTIVE");

    // Bad input: a 4xx with a JSON error, never a 5xx, never a state change.
    let before = counts(one, "tour").await;
    let bodies = [
        "{\"user_id\": ",
        "[]",
        "{\"user_id\": 7, \"quantity\": 1, \"ga_area\": \"Pit\"}",
        "{\"user_id\": \"eve\", \"quantity\": -1, \"ga_area\": \"Pit\"}",
        "{\"user_id\": \"eve\", \"quantity\": 1, \"ga_area\": \"Pit\", \"card_number\": \"4111\"}",
        "{\"user_id\": \"eve\", \"seat_ids\": [\"x.y.z\"]}",
        "{\"user_id\": \"eve\", \"seat_ids\": [\"9.9.9\"]}",
        "{\"user_id\": \"eve\", \"quantity\": 1, \"ga_area\": \"Nowhere\"}",
        "{\"user_id\": \"\", \"quantity\": 1, \"ga_area\": \"Pit\"}",
        "{\"user_id\": \"eve\", \"quantity\": 1, \"ga_area\": \"Pit\", \"hold_duration\": 0}",
    ];
    for body in bodies {
        let answer = one
            .call(
                Method::POST,
                "/api/v1/events/tour/reserve",
                Some(APP_KEY),
                &[],
                Some(body.into()),
            )
            .await;
        assert!(
            answer.status.is_client_error(),
            "{body}: {} {}",
            answer.status,
            answer.body
        );
        assert!(!answer.code().is_empty(), "{body}: {}", answer.body);
    }
    // A body not declared JSON is a JSON 415, with or without a Content-Type.
    for content_type in [None, Some("text/plain")] {
        let mut request = one
            .http
            .post(format!("{}/api/v1/events/tour/reserve", one.base))
            .bearer_auth(APP_KEY)
            .body(r#"{"user_id": "eve", "quantity": 1, "ga_area": "Pit"}"#);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(response.headers()["content-type"], "application/json");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "UNSUPPORTED_MEDIA_TYPE", "{content_type:?}");
    }
    let huge = format!("{{\"user_id\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let answer = one
        .call(
            Method::POST,
            "/api/v1/events/tour/reserve",
            Some(APP_KEY),
            &[],
            Some(huge),
        )
        .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.code(), "PAYLOAD_TOO_LARGE");
    assert_eq!(
        answer.headers["connection"], "close",
        "the unread rest of the body ends the connection, and the client is told"
    );
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap()
            .contains(&(1024 * 1024).to_string()),
        "the message names the limit: {}",
        answer.body
    );
    let card = one
        .post(
            "/api/v1/orders",
            Some(APP_KEY),
            json!({"reservation_id": "tour~h1", "user_id": "ada", "payment_reference": "x", "payment_details": {"card_number": "4111"}}),
        )
        .await;
    assert_eq!(card.status, StatusCode::BAD_REQUEST, "card data is refused");
    assert_eq!(
        counts(one, "tour").await,
        before,
        "bad input changed nothing"
    );
    assert_eq!(one.get("/api/v1/nowhere", None).await.code(), "NOT_FOUND");
    let wrong_method = one
        .call(Method::PUT, "/api/v1/events", None, &[], None)
        .await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);

    // The OpenAPI document is served and names every path.
    let document = one.get("/openapi.json", None).await;
    assert_eq!(document.status, StatusCode::OK);
    assert!(document.body["paths"]["/api/v1/events/{event_id}/reserve"]["post"].is_object());
}

async fn reserve_without_key(api: &Api) -> Answer {
    api.post(
        "/api/v1/events/tour/reserve",
        None,
        json!({"user_id": "ada", "quantity": 1, "ga_area": "Pit"}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_past_its_rate_gets_429_with_retry_after_and_others_are_served() {
    let cluster = ProcessCluster::start_with(
        3,
        1,
        50_000,
        "requests_per_s_per_key = 1\nrequest_burst_per_key = 3\nrequests_per_s_per_address = 1\nrequest_burst_per_address = 3\n",
    )
    .await;
    let api = Api::new(&cluster.nodes[&1].http);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(api.get("/api/v1/events", Some(APP_KEY)).await);
    }
    let limited: Vec<&Answer> = statuses
        .iter()
        .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!(
        !limited.is_empty(),
        "a burst of 3 at 1/s admits at most 4 of 5"
    );
    assert_eq!(limited[0].code(), "RATE_LIMITED");
    assert!(limited[0].headers.contains_key("retry-after"));
    // Another key has its own bucket.
    assert_eq!(
        api.get("/api/v1/events", Some(ADMIN_KEY)).await.status,
        StatusCode::OK
    );
    // Callers without a key are limited per address.
    let mut anonymous = Vec::new();
    for _ in 0..5 {
        anonymous.push(api.get("/api/v1/events", None).await.status);
    }
    assert!(
        anonymous.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{anonymous:?}"
    );
    // Health checks are never rate limited.
    for _ in 0..5 {
        assert_eq!(api.get("/healthz", None).await.status, StatusCode::OK);
    }
}

/// Reads SSE events from `response` until `want` events arrived: (event name, id, data); `None`
/// if the server closed the stream first.
async fn sse_events(
    response: &mut reqwest::Response,
    buffer: &mut String,
    want: usize,
) -> Option<Vec<(String, String, Value)>> {
    let mut events = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while events.len() < want {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let (mut name, mut id, mut data) = (String::new(), String::new(), Value::Null);
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data = serde_json::from_str(v.trim()).unwrap();
                }
            }
            if !name.is_empty() {
                events.push((name, id, data));
            }
        }
        if events.len() >= want {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no SSE event in time");
        let chunk = tokio::time::timeout(Duration::from_secs(20), response.chunk())
            .await
            .unwrap()
            .unwrap()?;
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
    Some(events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_live_seat_map_streams_a_snapshot_then_only_what_changed() {
    let cluster = ProcessCluster::start(3, 1, 50_000).await;
    let api = Api::new(&cluster.nodes[&2].http);
    create(&api, "live").await;
    let url = format!(
        "http://{}/api/v1/events/live/changes",
        cluster.nodes[&3].http
    );
    let mut stream = reqwest::get(&url).await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(
        stream.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let mut buffer = String::new();
    let first = sse_events(&mut stream, &mut buffer, 1)
        .await
        .unwrap_or_else(|| panic!("the stream closed: {}", cluster.log(3)));
    let (kind, cursor, snapshot) = &first[0];
    assert_eq!(kind, "snapshot");
    let spots = snapshot["spots"].as_array().unwrap();
    assert_eq!(spots.len(), 17 + 1, "every seat and the Pit");

    let held = reserve(
        &api,
        "live",
        json!({"user_id": "ada", "seat_ids": ["0.0.3", "0.0.4"]}),
    )
    .await;
    assert_eq!(held.status, StatusCode::CREATED);
    let next = sse_events(&mut stream, &mut buffer, 1)
        .await
        .unwrap_or_else(|| panic!("the stream closed: {}", cluster.log(3)));
    let (kind, next_cursor, changes) = &next[0];
    assert_eq!(kind, "changes");
    assert!(next_cursor.parse::<u64>().unwrap() > cursor.parse::<u64>().unwrap());
    assert_eq!(
        changes["spots"],
        json!([{"id": "0.0.3", "state": "reserved"}, {"id": "0.0.4", "state": "reserved"}])
    );

    // Resuming at the latest cursor sends no snapshot; an old cursor gets one.
    let resumed = reqwest::Client::new()
        .get(&url)
        .header("last-event-id", next_cursor.as_str())
        .send()
        .await
        .unwrap();
    let mut resumed = resumed;
    let pending = tokio::time::timeout(Duration::from_millis(800), resumed.chunk()).await;
    assert!(
        pending.is_err(),
        "nothing to send to a client that is up to date"
    );
    let mut old = reqwest::get(format!("{url}?cursor=1")).await.unwrap();
    assert_eq!(old.status(), StatusCode::OK, "{}", cluster.log(3));
    let mut buffer = String::new();
    let resnapshot = sse_events(&mut old, &mut buffer, 1)
        .await
        .unwrap_or_else(|| panic!("the stream closed: {}", cluster.log(3)));
    assert_eq!(resnapshot[0].0, "snapshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_at_its_in_flight_bound_sheds_with_503_and_retry_after() {
    let cluster = ProcessCluster::start_with(3, 1, 50_000, "in_flight_requests_max = 1\n").await;
    let api = Arc::new(Api::new(&cluster.nodes[&1].http));
    let answers = futures_util::future::join_all((0..100).map(|_| {
        let api = api.clone();
        tokio::spawn(async move { api.get("/api/v1/events", Some(ADMIN_KEY)).await })
    }))
    .await;
    let answers: Vec<Answer> = answers.into_iter().map(Result::unwrap).collect();
    let shed: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(!shed.is_empty(), "100 at once against a bound of 1");
    assert_eq!(shed[0].code(), "OVERLOADED");
    assert!(shed[0].headers.contains_key("retry-after"));
    assert!(
        answers
            .iter()
            .all(|a| a.status == StatusCode::OK || a.status == StatusCode::SERVICE_UNAVAILABLE),
        "shedding answers 503, everything else is served"
    );
}
