//! `boxofficed` reads its configuration from a TOML file, `BOXOFFICE_*` variables and flags, in
//! that order of precedence, and refuses unknown keys and invalid values before doing anything.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::process::{Command, Output};

fn boxofficed(config: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    std::fs::write(&path, config).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_boxofficed"));
    command.arg("--config").arg(&path).args(args);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("BOXOFFICE_")) {
        command.env_remove(key);
    }
    command.envs(env.iter().copied());
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const FILE: &str = r#"
node_id = 2
data_dir = "/var/lib/boxoffice"
grpc_listen = "127.0.0.1:7082"
http_listen = "127.0.0.1:8082"
join = ["127.0.0.1:7081"]

[raft]
heartbeat_ms = 600
"#;

#[test]
fn the_file_sets_values_and_defaults_fill_the_rest() {
    let out = boxofficed(FILE, &[], &["--check-config"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("node_id = 2"), "{text}");
    assert!(text.contains("heartbeat_ms = 600"), "{text}");
    assert!(text.contains("election_timeout_min_ms = 1500"), "{text}");
    assert!(text.contains(r#"join = ["127.0.0.1:7081"]"#), "{text}");
}

#[test]
fn variables_override_the_file_and_flags_override_variables() {
    let env = [
        ("BOXOFFICE_NODE_ID", "5"),
        ("BOXOFFICE_HEARTBEAT_MS", "700"),
    ];
    let out = boxofficed(FILE, &env, &["--check-config", "--node-id", "9"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("node_id = 9"), "{text}");
    assert!(text.contains("heartbeat_ms = 700"), "{text}");
}

#[test]
fn unknown_keys_are_refused_by_name() {
    let out = boxofficed(
        &format!("{FILE}\nheartbeat_msec = 5\n"),
        &[],
        &["--check-config"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("heartbeat_msec"), "{}", stderr(&out));
}

#[test]
fn invalid_values_are_refused_with_the_reason() {
    let cases = [
        ("node_id = 0", "node_id"),
        ("node_id = \"two\"", "node_id"),
        ("grpc_listen = \"not an address\"", "grpc_listen"),
        (
            "[raft]\nheartbeat_ms = 1000\nelection_timeout_min_ms = 1500",
            "election_timeout_min_ms",
        ),
        ("[limits]\nbatch_bytes_max = 0", "limits.batch_bytes_max"),
        ("[raft]\nquiesce_after_ms = 100", "raft.quiesce_after_ms"),
        ("[raft]\nquiesce = \"sometimes\"", "quiesce"),
        ("[http]\napp_keys = [\"short\"]", "API key"),
        (
            "[http]\napp_keys = [\"same-key-1\"]\nadmin_keys = [\"same-key-1\"]",
            "both an app and an admin key",
        ),
        (
            "[http]\nin_flight_requests_max = 0",
            "http.in_flight_requests_max",
        ),
        ("[http]\nrate_per_s = 5", "rate_per_s"),
    ];
    for (file, named) in cases {
        let out = boxofficed(file, &[], &["--check-config"]);
        assert_eq!(out.status.code(), Some(2), "{file}");
        assert!(stderr(&out).contains(named), "{file}: {}", stderr(&out));
    }
    let out = boxofficed("", &[("BOXOFFICE_NODE_ID", "-1")], &["--check-config"]);
    assert!(
        !out.status.success(),
        "a negative node id from the environment is refused"
    );
}

#[test]
fn the_test_only_hooks_are_off_unless_the_testing_table_turns_them_on() {
    let out = boxofficed(FILE, &[], &["--check-config"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("[testing]\nclock_offset_control = false\nunsafe_local_reads = false\n"),
        "{text}"
    );

    let on = format!("{FILE}\n[testing]\nclock_offset_control = true\nunsafe_local_reads = true\n");
    let out = boxofficed(&on, &[], &["--check-config"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("[testing]\nclock_offset_control = true\nunsafe_local_reads = true\n"),
        "{text}"
    );

    let one = format!("{FILE}\n[testing]\nunsafe_local_reads = true\n");
    let out = boxofficed(&one, &[], &["--check-config"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("[testing]\nclock_offset_control = false\nunsafe_local_reads = true\n"),
        "{text}"
    );
}

#[test]
fn unknown_or_invalid_testing_keys_are_refused_by_name() {
    let cases = [
        ("[testing]\nclock_offset = true", "clock_offset"),
        ("[testing]\nunsafe_reads = true", "unsafe_reads"),
        (
            "[testing]\nunsafe_local_reads = \"yes\"",
            "unsafe_local_reads",
        ),
        (
            "[testing]\nclock_offset_control = 1",
            "clock_offset_control",
        ),
    ];
    for (table, named) in cases {
        let out = boxofficed(&format!("{FILE}\n{table}\n"), &[], &["--check-config"]);
        assert_eq!(out.status.code(), Some(2), "{table}");
        assert!(stderr(&out).contains(named), "{table}: {}", stderr(&out));
    }
}
