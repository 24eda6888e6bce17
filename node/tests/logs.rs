//! The node's log format: with `--log-format json` (or `BOXOFFICE_LOG_FORMAT=json`) every line on
//! stdout is one JSON object with the level, the target and the event's fields.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

#[test]
fn json_logs_are_one_object_a_line_with_the_event_fields() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Command::new(env!("CARGO_BIN_EXE_boxofficed"))
        .args(["--node-id", "7", "--grpc-listen", &free_address()])
        .args(["--http-listen", &free_address(), "--data-dir"])
        .arg(dir.path().join("node-7"))
        .env("BOXOFFICE_LOG_FORMAT", "json")
        .env("BOXOFFICE_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(node.stdout.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut started = None;
    for line in stdout.lines() {
        let line = line.unwrap();
        let object: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        if object["fields"]["message"] == "node started" {
            started = Some(object);
            break;
        }
        assert!(Instant::now() < deadline, "no 'node started' line");
    }
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
