//! The Boxoffice client library: the public gRPC API's generated types (`proto`), their
//! conversions to the state machine's types (`convert`), and `Client`, which routes each call to
//! the leader of the event's group and retries safely.
//!
//! A buyer's whole path, `examples/quickstart.rs` (run against a local cluster with
//! `cargo run -p boxoffice-client --example quickstart`; the node's tests run it against three
//! real `boxofficed` processes):
//!
//! ```no_run
#![doc = include_str!("../examples/quickstart.rs")]
//! ```

pub mod backup;
mod batch;
mod client;
pub mod convert;

pub use client::{Client, ClientError, ClientOptions, Consistency, Decided};

/// A node as operators write it on command lines: `ID=GRPC_ADDR,HTTP_ADDR`.
pub fn parse_node_spec(text: &str) -> Result<proto::NodeInfo, String> {
    let (id, addresses) = text
        .split_once('=')
        .ok_or_else(|| format!("expected ID=GRPC_ADDR,HTTP_ADDR, got {text:?}"))?;
    let node_id = id
        .trim()
        .parse::<u64>()
        .map_err(|_| format!("node id {id:?} is not a number"))?;
    let (grpc, http) = addresses
        .split_once(',')
        .ok_or_else(|| format!("expected GRPC_ADDR,HTTP_ADDR after '=', got {addresses:?}"))?;
    if grpc.trim().is_empty() || http.trim().is_empty() {
        return Err(format!("empty address in {text:?}"));
    }
    Ok(proto::NodeInfo {
        node_id,
        grpc_address: grpc.trim().to_string(),
        http_address: http.trim().to_string(),
        ..proto::NodeInfo::default()
    })
}

/// The public gRPC API, generated from `proto/boxoffice.proto`.
#[allow(clippy::all, missing_docs, missing_debug_implementations)]
pub mod proto {
    tonic::include_proto!("boxoffice.v1");
}
