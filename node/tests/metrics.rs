//! `GET /metrics` on a real three-process cluster: every node serves Prometheus text; commands are
//! counted once, on the node that answered them, by operation and result; each node reports the
//! Raft state of the groups it hosts (one leader per group, its followers' lag), and its log syncs.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::collections::BTreeMap;

use boxoffice_statemachine::{fixtures, CustomerId, EventId, SeatId, Selection};
use support::ProcessCluster;

/// One node's metrics: sample (name with labels, as printed) -> value.
struct Scrape {
    samples: BTreeMap<String, f64>,
    /// The metric families listed (`# TYPE` lines), even those without samples yet.
    families: Vec<String>,
}

impl Scrape {
    async fn of(http: &str) -> Scrape {
        let response = reqwest::get(format!("http://{http}/metrics"))
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        let text = response.text().await.unwrap();
        let families = text
            .lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .filter_map(|rest| rest.split(' ').next())
            .map(str::to_owned)
            .collect();
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .map(|line| {
                let (name, value) = line.rsplit_once(' ').unwrap();
                (name.to_owned(), value.parse::<f64>().unwrap())
            })
            .collect();
        Scrape { samples, families }
    }

    /// The sum of the samples whose printed name starts with `prefix`.
    fn prefixed(&self, prefix: &str) -> f64 {
        self.samples
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(_, value)| value)
            .sum()
    }

    /// The sample's value; 0 when the node does not report it.
    fn value(&self, sample: &str) -> f64 {
        self.samples.get(sample).copied().unwrap_or(0.0)
    }
}

/// The node's count of commands of `operation` that ended with `result`.
fn commands(scrape: &Scrape, operation: &str, result: &str) -> f64 {
    scrape.value(&format!(
        "boxoffice_commands_total{{operation=\"{operation}\",result=\"{result}\"}}"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_node_reports_its_commands_and_its_groups() {
    let cluster = ProcessCluster::start(3, 1, 50_000).await;
    let client = cluster.client();
    let spec = support::on_sale_for_a_day(fixtures::stadium("counted", 1, 2, 10, 0));
    let group = support::create_event(&client, &spec).await;
    let event = EventId::new("counted").unwrap();
    let seat = |index| {
        Selection::Seats(vec![SeatId {
            section: 0,
            row: 0,
            index,
        }])
    };
    const HOLDS: u16 = 5;
    for index in 0..HOLDS {
        let customer = CustomerId::new(format!("fan-{index}")).unwrap();
        let decided = client
            .hold(
                &client.new_request_id(),
                &event,
                &customer,
                &seat(index),
                None,
            )
            .await
            .unwrap();
        assert!(decided.outcome.rejection().is_none(), "{decided:?}");
    }
    // The first seat again: taken.
    let late = CustomerId::new("late-fan").unwrap();
    let taken = client
        .hold(&client.new_request_id(), &event, &late, &seat(0), None)
        .await
        .unwrap();
    let code = taken.outcome.rejection().unwrap().code();
    cluster.converged(group).await;

    let mut scrapes = BTreeMap::new();
    for (id, node) in &cluster.nodes {
        scrapes.insert(*id, Scrape::of(&node.http).await);
    }
    let total = |f: &dyn Fn(&Scrape) -> f64| scrapes.values().map(f).sum::<f64>();
    assert_eq!(
        total(&|s| commands(s, "hold", "accepted")),
        f64::from(HOLDS)
    );
    assert_eq!(total(&|s| commands(s, "hold", code)), 1.0);
    // Every attempt the client made is timed and counted by its result, on the node that
    // answered it. A leader change while the holds ran makes the client try again elsewhere: those
    // extra attempts may only have ended in a routing or availability error.
    let hold_results = "boxoffice_commands_total{operation=\"hold\",";
    let holds_by_result = total(&|s| s.prefixed(hold_results));
    assert_eq!(
        total(&|s| s.value("boxoffice_command_seconds_count{operation=\"hold\"}")),
        holds_by_result
    );
    let retried = |s: &Scrape| {
        [
            "NOT_LEADER",
            "NO_LEADER",
            "UNAVAILABLE",
            "TIMEOUT",
            "OVERLOADED",
        ]
        .iter()
        .map(|code| commands(s, "hold", code))
        .sum::<f64>()
    };
    assert_eq!(
        holds_by_result,
        f64::from(HOLDS) + 1.0 + total(&retried),
        "hold calls by result: {:?}",
        scrapes
            .values()
            .flat_map(|s| s.samples.iter())
            .filter(|(name, _)| name.starts_with(hold_results))
            .collect::<Vec<_>>()
    );

    let label = format!("group=\"{group}\"");
    let leaders: Vec<u64> = scrapes
        .iter()
        .filter(|(_, s)| s.value(&format!("boxoffice_group_leading{{{label}}}")) == 1.0)
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(leaders.len(), 1, "one leader of group {group}: {leaders:?}");
    let leader = leaders[0];
    let applied = scrapes[&leader].value(&format!("boxoffice_group_applied_index{{{label}}}"));
    assert!(applied >= f64::from(HOLDS) + 1.0, "applied index {applied}");
    for (id, scrape) in &scrapes {
        assert_eq!(
            scrape.value(&format!("boxoffice_group_leader{{{label}}}")),
            leader as f64,
            "node {id} knows the leader"
        );
        assert_eq!(
            scrape.value(&format!("boxoffice_group_applied_index{{{label}}}")),
            applied,
            "node {id} has applied what the leader has (converged)"
        );
        assert!(scrape.value("boxoffice_wal_sync_seconds_count") > 0.0);
        // RocksDB's own figures: the state column family holds the event's keys.
        assert!(
            scrape.value("boxoffice_rocksdb{cf=\"state\",property=\"estimate-num-keys\"}") > 0.0
        );
        assert!(scrape
            .samples
            .contains_key("boxoffice_snapshots_total{kind=\"built\"}"));
        // The cluster map's group is hosted everywhere.
        assert!(scrape.value("boxoffice_group_term{group=\"0\"}") >= 1.0);
    }
    // Labels print in name order: follower, then group.
    let followers: Vec<&String> = scrapes[&leader]
        .samples
        .keys()
        .filter(|name| {
            name.starts_with("boxoffice_group_replication_lag_entries{") && name.contains(&label)
        })
        .collect();
    assert_eq!(
        followers.len(),
        2,
        "the leader reports both followers: {followers:?}"
    );
    assert!(scrapes[&leader].value("boxoffice_entry_commit_seconds_count") >= 1.0);
}

/// The metric names `docs/grafana-dashboard.json` queries, without histogram suffixes.
fn dashboard_metrics() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/grafana-dashboard.json"
    );
    let text = std::fs::read_to_string(path).expect("docs/grafana-dashboard.json exists");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut names = Vec::new();
    let panels = dashboard["panels"].as_array().expect("panels");
    for target in panels
        .iter()
        .filter_map(|p| p["targets"].as_array())
        .flatten()
    {
        let expr = target["expr"].as_str().expect("a target has an expression");
        for (at, _) in expr.match_indices("boxoffice_") {
            let name: String = expr[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(&name)
                .to_owned();
            names.push(family);
        }
    }
    names.sort();
    names.dedup();
    names
}

/// Creates the gated event `id` (on sale from `on_sale_at_ms`) and queues `joins` customers in its
/// waiting room; returns its group.
async fn gated_event_with_queue(
    client: &boxoffice_client::Client,
    id: &str,
    on_sale_at_ms: u64,
    joins: u32,
) -> u64 {
    let mut spec = support::on_sale_for_a_day(fixtures::stadium(id, 1, 1, 10, 0));
    spec.gated = true;
    spec.on_sale_at_ms = on_sale_at_ms;
    let group = support::create_event(client, &spec).await;
    let event = EventId::new(id).unwrap();
    for i in 0..joins {
        let customer = CustomerId::new(format!("fan-{i}")).unwrap();
        let joined = client
            .join_queue(&client.new_request_id(), &event, &customer)
            .await
            .unwrap();
        assert!(joined.outcome.rejection().is_none(), "{joined:?}");
    }
    group
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_grafana_dashboard_queries_only_metrics_a_node_exports() {
    let cluster = ProcessCluster::start(3, 1, 50_000).await;
    // Labelled families appear once they have a sample: decide a command, and queue a customer
    // in a gated event's waiting room.
    let group = gated_event_with_queue(&cluster.client(), "watched", 0, 1).await;
    cluster.settled_leader(group).await;
    let mut exported = Vec::new();
    for node in cluster.nodes.values() {
        exported.extend(Scrape::of(&node.http).await.families);
    }
    let wanted = dashboard_metrics();
    assert!(wanted.len() >= 10, "the dashboard queries {wanted:?}");
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|name| !exported.contains(name))
        .collect();
    assert!(missing.is_empty(), "not exported by any node: {missing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_leader_reports_its_waiting_rooms() {
    let cluster = ProcessCluster::start(3, 1, 50_000).await;
    // On sale in an hour: every join waits, nobody is admitted meanwhile.
    const JOINS: u32 = 7;
    let on_sale_at_ms = support::now_ms() + 3_600_000;
    let group = gated_event_with_queue(&cluster.client(), "queued", on_sale_at_ms, JOINS).await;
    let leader = cluster.settled_leader(group).await;
    for (id, node) in &cluster.nodes {
        let scrape = Scrape::of(&node.http).await;
        let waiting = scrape.value("boxoffice_waiting_room_customers{event=\"queued\"}");
        let admitted = scrape.value("boxoffice_waiting_room_admitted{event=\"queued\"}");
        if *id == leader {
            assert_eq!((waiting, admitted), (f64::from(JOINS), 0.0));
        } else {
            // Only the group's leader reports its rooms, so a sum over nodes counts each once.
            assert!(!scrape.samples.keys().any(|k| k.contains("waiting_room")));
        }
    }
}
