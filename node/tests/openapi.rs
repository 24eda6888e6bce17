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
