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

/// The public gRPC API, generated from `proto/boxoffice.proto`.
#[allow(clippy::all, missing_docs, missing_debug_implementations)]
pub mod proto {
    tonic::include_proto!("boxoffice.v1");
}
