//! The OpenAPI document in docs/ is the one the gateway serves: regenerate it with
//! `cargo run -p boxoffice-node --bin boxofficed -- --print-openapi > docs/openapi.json`.

use std::process::Command;

#[test]
fn docs_openapi_json_is_the_served_document() {
    let output = Command::new(env!("CARGO_BIN_EXE_boxofficed"))
        .arg("--print-openapi")
        .output()
        .expect("run boxofficed --print-openapi");
    assert!(output.status.success());
    let served: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the document is JSON");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("docs/openapi.json exists"))
            .expect("docs/openapi.json is JSON");
    assert!(
        served == committed,
        "docs/openapi.json is out of date; regenerate it with \
         cargo run -p boxoffice-node --bin boxofficed -- --print-openapi > docs/openapi.json"
    );
    for path in [
        "/api/v1/events",
        "/api/v1/events/{event_id}/reserve",
        "/api/v1/orders",
        "/api/v1/users/{user_id}/orders",
    ] {
        assert!(served["paths"][path].is_object(), "{path} is documented");
    }
}

#[test]
fn every_reference_in_the_document_resolves() {
    let output = Command::new(env!("CARGO_BIN_EXE_boxofficed"))
        .arg("--print-openapi")
        .output()
        .expect("run boxofficed --print-openapi");
    let text = String::from_utf8(output.stdout).expect("the document is UTF-8");
    let served: serde_json::Value = serde_json::from_str(&text).expect("the document is JSON");
    let mut references = 0;
    for piece in text.split("\"#/components/").skip(1) {
        let reference = piece.split('"').next().unwrap_or_default();
        let (kind, name) = reference
            .split_once('/')
            .expect("#/components/<kind>/<name>");
        assert!(
            served["components"][kind][name].is_object(),
            "#/components/{reference} is referred to but not defined"
        );
        references += 1;
    }
    assert!(references > 0);
}

/// The statuses every operation of a kind can answer are documented on each: the gateway's guard
/// (429, 503) on every `/api/v1` route, key checks (401) where a key is needed, and the body's
/// failures (400, 413, 415) where there is a body.
#[test]
fn every_operation_documents_the_statuses_its_kind_can_answer() {
    let output = Command::new(env!("CARGO_BIN_EXE_boxofficed"))
        .arg("--print-openapi")
        .output()
        .expect("run boxofficed --print-openapi");
    let served: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the document is JSON");
    let paths = served["paths"].as_object().expect("paths");
    let mut operations = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("a path item") {
            let responses = operation["responses"].as_object().expect("responses");
            let documents = |status: &str| responses.contains_key(status);
            let mut needed = Vec::new();
            if path.starts_with("/api/v1/") {
                needed.extend(["429", "503"]);
            }
            if operation.get("security").is_some() {
                needed.push("401");
            }
            if operation.get("requestBody").is_some() {
                needed.extend(["400", "413", "415"]);
            }
            if operation
                .get("parameters")
                .and_then(|p| p.as_array())
                .is_some_and(|p| !p.is_empty())
            {
                needed.push("400");
            }
            for status in needed {
                assert!(
                    documents(status),
                    "{method} {path} does not document {status}"
                );
            }
            for (status, response) in responses {
                let error = status.starts_with('4') || status.starts_with('5');
                if error && path.starts_with("/api/v1/") {
                    assert!(
                        response.get("$ref").is_some(),
                        "{method} {path}: {status} is not one of the shared error responses"
                    );
                }
            }
            operations += 1;
        }
    }
    assert!(operations >= 18);
}
