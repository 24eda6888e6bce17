//! The node's log format: with `--log-format json` (or `BOXOFFICE_LOG_FORMAT=json`) every line on
//! stdout is one JSON object with the level, the target and the event's fields; a line logged while
//! an HTTP request is served carries its request id (the caller's `X-Request-Id`, echoed back).
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// A node (never bootstrapped) logging JSON; its stdout lines, and its HTTP address.
fn json_node(
    dir: &std::path::Path,
) -> (
    std::process::Child,
    std::io::Lines<BufReader<std::process::ChildStdout>>,
    String,
) {
    let http = free_address();
    let mut node = Command::new(env!("CARGO_BIN_EXE_boxofficed"))
        .args(["--node-id", "7", "--grpc-listen", &free_address()])
        .args(["--http-listen", &http, "--data-dir"])
        .arg(dir.join("node-7"))
        .env("BOXOFFICE_LOG_FORMAT", "json")
        .env("BOXOFFICE_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(node.stdout.take().unwrap()).lines();
    (node, lines, http)
}

/// The first line (a JSON object) for which `wanted` holds, within 30 s.
fn first_line(
    lines: &mut std::io::Lines<BufReader<std::process::ChildStdout>>,
    wanted: impl Fn(&serde_json::Value) -> bool,
) -> Option<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    for line in lines {
        let line = line.unwrap();
        let object: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        if wanted(&object) {
            return Some(object);
        }
        if Instant::now() > deadline {
            break;
        }
    }
    None
}

#[test]
fn json_logs_are_one_object_a_line_with_the_event_fields() {
    let dir = tempfile::tempdir().unwrap();
    let (mut node, mut lines, _) = json_node(dir.path());
    let started = first_line(&mut lines, |o| o["fields"]["message"] == "node started");
    node.kill().unwrap();
    node.wait().unwrap();
    let started = started.expect("the node logged that it started");
    assert_eq!(started["level"], "INFO");
    assert_eq!(started["fields"]["node"], 7);
    assert!(started["target"]
        .as_str()
        .unwrap()
        .starts_with("boxoffice_node"));
}

#[tokio::test]
async fn an_http_failure_is_logged_with_the_request_id_the_caller_sent_back() {
    let dir = tempfile::tempdir().unwrap();
    let (mut node, mut lines, http) = json_node(dir.path());
    first_line(&mut lines, |o| o["fields"]["message"] == "node started").expect("started");
    // Not bootstrapped: reading an event fails with 503, which the gateway logs.
    let response = reqwest::Client::new()
        .get(format!("http://{http}/api/v1/events/tour"))
        .header("X-Request-Id", "probe-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["x-request-id"], "probe-42");
    // Without one, the gateway makes one: <node>-<n>.
    let response = reqwest::get(format!("http://{http}/healthz"))
        .await
        .unwrap();
    let made = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(made.starts_with("7-"), "{made}");

    let failure = first_line(&mut lines, |o| {
        o["fields"]["message"] == "HTTP request failed"
    });
    node.kill().unwrap();
    node.wait().unwrap();
    let failure = failure.expect("the failure was logged");
    assert_eq!(failure["span"]["request_id"], "probe-42", "{failure}");
    assert_eq!(failure["span"]["path"], "/api/v1/events/tour");
    assert_eq!(failure["fields"]["code"], "UNAVAILABLE");
}
