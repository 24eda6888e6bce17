//! The waiting room on a real three-process cluster, through the HTTP gateway: early arrivals are
//! shuffled and admitted before later ones, everyone in position order at the configured rate; a
//! reserve on a gated event needs this buyer's unexpired access token for this event (forged,
//! expired, other-event, other-buyer and wrong-kind tokens are refused); the queue survives the
//! kill of its group's leader; and 100,000 joins fit, each once.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, UNIX_EPOCH};

use boxoffice_client::Consistency;
use boxoffice_statemachine::{CustomerId, EventId};
use futures_util::stream::{self, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{now_ms, ProcessCluster, ADMIN_KEY, APP_KEY};

/// Buyers admitted per minute in these tests: 5 a second.
const ADMIT_PER_MINUTE: u32 = 300;

fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// An HTTP caller of one node's gateway.
struct Gateway {
    base: String,
    http: reqwest::Client,
}

impl Gateway {
    fn new(address: &str) -> Gateway {
        Gateway {
            base: format!("http://{address}"),
            http: reqwest::Client::new(),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.unwrap();
        let status = response.status();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    async fn post(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(key)
            .json(&body);
        self.send(request).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    /// A gated event selling 40 GA places from `on_sale_ms`, admitting at [`ADMIT_PER_MINUTE`].
    async fn gated_event(&self, id: &str, on_sale_ms: u64, access_ttl_s: u64) {
        let (status, body) = self
            .post(
                "/api/v1/events",
                ADMIN_KEY,
                json!({
                    "event_id": id, "name": "Gated show", "venue": "Arena", "category": "concert",
                    "start_time": rfc3339(on_sale_ms + 86_400_000),
                    "on_sale_time": rfc3339(on_sale_ms),
                    "ga_areas": [{"name": "Floor", "capacity": 40, "price": 50.0}],
                    "gated": true,
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = self
            .post(
                &format!("/api/v1/events/{id}/admission"),
                ADMIN_KEY,
                json!({"admit_per_minute": ADMIT_PER_MINUTE, "auto": false, "access_ttl_s": access_ttl_s}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["admit_per_minute"], ADMIT_PER_MINUTE);
    }

    async fn join(&self, event: &str, user: &str) -> Value {
        let (status, body) = self
            .post(
                &format!("/api/v1/events/{event}/queue"),
                APP_KEY,
                json!({"user_id": user}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    async fn poll(&self, event: &str, queue_token: &str) -> Value {
        let (status, body) = self
            .get(&format!("/api/v1/events/{event}/queue/{queue_token}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn reserve(&self, event: &str, user: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut body = json!({"user_id": user, "quantity": 1, "ga_area": "Floor"});
        if let Some(token) = token {
            body["access_token"] = json!(token);
        }
        self.post(&format!("/api/v1/events/{event}/reserve"), APP_KEY, body)
            .await
    }
}

/// Every buyer's latest status, by user.
async fn poll_all(
    gateway: &Gateway,
    event: &str,
    tokens: &BTreeMap<String, String>,
) -> BTreeMap<String, Value> {
    let mut statuses = BTreeMap::new();
    for (user, token) in tokens {
        statuses.insert(user.clone(), gateway.poll(event, token).await);
    }
    statuses
}

/// Admission follows position order: everyone admitted has a position below everyone waiting.
fn assert_admitted_in_order(statuses: &BTreeMap<String, Value>) {
    let position = |v: &Value| v["position"].as_u64();
    let highest_admitted = statuses
        .values()
        .filter(|v| v["status"] != "waiting")
        .filter_map(position)
        .max();
    let lowest_waiting = statuses
        .values()
        .filter(|v| v["status"] == "waiting")
        .filter_map(position)
        .min();
    if let (Some(admitted), Some(waiting)) = (highest_admitted, lowest_waiting) {
        assert!(
            admitted < waiting,
            "position {admitted} admitted before {waiting}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn buyers_pass_the_waiting_room_in_order_and_only_with_their_own_access_token() {
    let mut cluster = ProcessCluster::start(3, 2, 50_000).await;
    let gateways: Vec<Gateway> = cluster
        .nodes
        .values()
        .map(|n| Gateway::new(&n.http))
        .collect();
    let opens_at = now_ms() + 4_000;
    gateways[0].gated_event("gated", opens_at, 600).await;
    gateways[0]
        .gated_event("elsewhere", now_ms() - 1_000, 600)
        .await;

    // Early arrivals, through every node: waiting, shuffled later, no position yet.
    let mut tokens = BTreeMap::new();
    for i in 0..12 {
        let joined = gateways[i % 3]
            .join("gated", &format!("early-{i:02}"))
            .await;
        assert_eq!(joined["status"], "waiting");
        assert_eq!(joined["presale"], true);
        assert!(joined["position"].is_null());
        tokens.insert(
            format!("early-{i:02}"),
            joined["queue_token"].as_str().unwrap().to_owned(),
        );
    }
    let again = gateways[2].join("gated", "early-00").await;
    assert_eq!(
        again["queue_token"], tokens["early-00"],
        "joining twice keeps one place"
    );

    // Before admission: no token, a forged one, or a queue token instead of an access token.
    let (status, body) = gateways[1].reserve("gated", "early-00", None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("NOT_ADMITTED"))
    );
    let forged = "eyJraW5kIjoiYWNjZXNzIn0.c2lnbmF0dXJl";
    let (status, body) = gateways[1].reserve("gated", "early-00", Some(forged)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("INVALID_TOKEN"))
    );
    let queue_token = tokens["early-00"].clone();
    let (status, _) = gateways[1]
        .reserve("gated", "early-00", Some(&queue_token))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The sale opens: later arrivals queue behind every early one, first come first served.
    while now_ms() < opens_at + 300 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let opened = Instant::now();
    for i in 0..6 {
        let joined = gateways[i % 3].join("gated", &format!("late-{i}")).await;
        assert_eq!(joined["presale"], false);
        assert_eq!(joined["position"], 12 + i as u64, "{joined}");
        tokens.insert(
            format!("late-{i}"),
            joined["queue_token"].as_str().unwrap().to_owned(),
        );
    }

    // Admission in position order, no faster than the rate; the early ones got positions 0..12.
    loop {
        let statuses = poll_all(&gateways[2], "gated", &tokens).await;
        assert_admitted_in_order(&statuses);
        let admitted = statuses
            .values()
            .filter(|v| v["status"] == "admitted")
            .count() as f64;
        // Admissions start when the sale opens, not when we started looking.
        let elapsed = (now_ms() - opens_at) as f64 / 1_000.0 + 0.5;
        let allowed = f64::from(ADMIT_PER_MINUTE) / 60.0 * elapsed + 2.0;
        assert!(admitted <= allowed, "{admitted} admitted in {elapsed:.1} s");
        if statuses_all_admitted(&gateways[2], &tokens).await {
            break;
        }
        assert!(
            opened.elapsed() < Duration::from_secs(30),
            "admission stalled"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let statuses = poll_all(&gateways[0], "gated", &tokens).await;
    let mut early_positions: Vec<u64> = (0..12)
        .map(|i| {
            statuses[&format!("early-{i:02}")]["position"]
                .as_u64()
                .unwrap()
        })
        .collect();
    early_positions.sort_unstable();
    assert_eq!(early_positions, (0..12).collect::<Vec<_>>());
    let shuffled = (0..12).any(|i| statuses[&format!("early-{i:02}")]["position"] != i as u64);
    assert!(
        shuffled,
        "early arrivals are shuffled, not kept in arrival order"
    );

    // Operators see the room's totals; buyers' keys may not.
    let totals = gateways[0]
        .send(
            gateways[0]
                .http
                .get(format!("{}/api/v1/events/gated/queue", gateways[0].base))
                .bearer_auth(ADMIN_KEY),
        )
        .await;
    assert_eq!(totals.0, StatusCode::OK, "{}", totals.1);
    assert_eq!(totals.1["presale_total"], 12);
    assert_eq!(totals.1["later_arrivals"], 6);
    assert_eq!(totals.1["admitted_up_to"], 18);
    assert_eq!(totals.1["admit_per_minute"], ADMIT_PER_MINUTE);
    let as_app = gateways[0]
        .send(
            gateways[0]
                .http
                .get(format!("{}/api/v1/events/gated/queue", gateways[0].base))
                .bearer_auth(APP_KEY),
        )
        .await;
    assert_eq!(as_app.0, StatusCode::FORBIDDEN);

    // With the access token: this buyer may reserve here, not as someone else, not elsewhere.
    let ada = &statuses["early-03"];
    let access = ada["access_token"].as_str().unwrap();
    let (status, body) = gateways[1].reserve("gated", "early-03", Some(access)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = gateways[1].reserve("gated", "early-04", Some(access)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("INVALID_TOKEN"))
    );
    let (status, body) = gateways[1]
        .reserve("elsewhere", "early-03", Some(access))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("INVALID_TOKEN")),
        "{body}"
    );

    // The queue survives the kill of its group's leader: same places, admissions go on.
    let group = gateways[0].get("/api/v1/events/gated").await.1["group"]
        .as_u64()
        .unwrap();
    let leader = cluster.leader_of(group).await;
    cluster.kill(leader);
    let survivor = cluster.running()[0];
    let survivor = Gateway::new(&cluster.nodes[&survivor].http);
    for (user, token) in &tokens {
        let before = &statuses[user];
        let after = survivor.poll("gated", token).await;
        assert_eq!(after["position"], before["position"], "{user}");
    }
    let joined = survivor.join("gated", "after-the-kill").await;
    assert_eq!(joined["position"], 18);
    let deadline = Instant::now() + Duration::from_secs(30);
    let token = joined["queue_token"].as_str().unwrap().to_owned();
    while survivor.poll("gated", &token).await["status"] != "admitted" {
        assert!(Instant::now() < deadline, "the new leader admits");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cluster.restart(leader).await;
}

async fn statuses_all_admitted(gateway: &Gateway, tokens: &BTreeMap<String, String>) -> bool {
    poll_all(gateway, "gated", tokens)
        .await
        .values()
        .all(|v| v["status"] == "admitted")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admission_expires_and_its_token_with_it() {
    let cluster = ProcessCluster::start(3, 1, 50_000).await;
    let gateway = Gateway::new(&cluster.nodes[&1].http);
    // The shortest access the store allows: 1 s.
    gateway.gated_event("brief", now_ms() - 1_000, 1).await;
    let joined = gateway.join("brief", "zoe").await;
    let token = joined["queue_token"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    let access = loop {
        let status = gateway.poll("brief", &token).await;
        if let Some(access) = status["access_token"].as_str() {
            break access.to_owned();
        }
        assert!(Instant::now() < deadline, "zoe is admitted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let (status, body) = gateway.reserve("brief", "zoe", Some(&access)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("ADMISSION_EXPIRED"))
    );
    assert_eq!(gateway.poll("brief", &token).await["status"], "expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_thousand_joins_each_hold_one_place() {
    const JOINS: usize = 100_000;
    let cluster = ProcessCluster::start(3, 1, 1_000_000).await;
    let gateway = Gateway::new(&cluster.nodes[&1].http);
    // On sale in an hour: every join is an early arrival, nobody is admitted meanwhile.
    gateway
        .gated_event("crowd", now_ms() + 3_600_000, 600)
        .await;
    let client = cluster.client();
    let event = EventId::new("crowd").unwrap();
    let started = Instant::now();
    let joined: Vec<bool> = stream::iter(0..JOINS)
        .map(|i| {
            let client = client.clone();
            let event = event.clone();
            async move {
                let customer = CustomerId::new(format!("fan-{i:06}")).unwrap();
                let decided = client
                    .join_queue(&client.new_request_id(), &event, &customer)
                    .await
                    .unwrap();
                decided.outcome.rejection().is_none()
            }
        })
        .buffer_unordered(256)
        .collect()
        .await;
    let elapsed = started.elapsed();
    println!(
        "{JOINS} joins in {elapsed:?}: {:.0} joins/s (debug build, 3 processes on 2 cores)",
        JOINS as f64 / elapsed.as_secs_f64()
    );
    assert!(joined.iter().all(|ok| *ok), "every join is accepted");
    // Joining again changes nothing.
    let again = client
        .join_queue(
            &client.new_request_id(),
            &event,
            &CustomerId::new("fan-000007").unwrap(),
        )
        .await
        .unwrap();
    assert!(again.outcome.rejection().is_none());
    let summary = client
        .queue_status(&event, None, Consistency::Linearizable)
        .await
        .unwrap()
        .summary
        .unwrap();
    assert_eq!(summary.presale_total, JOINS as u64);
    assert_eq!(summary.later_count, 0);
    let audit = cluster.converged_within(1, Duration::from_secs(180)).await;
    assert!(audit.violation.is_empty());
}
