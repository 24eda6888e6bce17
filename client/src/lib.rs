//! The Boxoffice client library: the public gRPC API's generated types (`proto`), their
//! conversions to the state machine's types (`convert`), and `Client`, which routes each call to
//! the leader of the event's group and retries safely.
//!
//! ```no_run
//! # async fn demo() -> Result<(), boxoffice_client::ClientError> {
//! use boxoffice_client::{Client, ClientOptions};
//! use boxoffice_statemachine::{CustomerId, EventId, Outcome, Effect, Selection};
//!
//! let client = Client::connect(["127.0.0.1:7081"], ClientOptions::default())?;
//! let event = EventId::new("tour-2027-london").unwrap();
//! let alice = CustomerId::new("alice").unwrap();
//! let pick = Selection::GeneralAdmission { area: "Pit".into(), quantity: 2 };
//! let held = client.hold(&client.new_request_id(), &event, &alice, &pick, None).await?;
//! if let Outcome::Accepted(Effect::Held(hold)) = held.outcome {
//!     let bought = client.buy(&client.new_request_id(), &hold.id, &alice, "psp-123").await?;
//!     println!("{:?}", bought.outcome);
//! }
//! # Ok(()) }
//! ```

mod client;
pub mod convert;

pub use client::{Client, ClientError, ClientOptions, Consistency, Decided};

/// The public gRPC API, generated from `proto/boxoffice.proto`.
#[allow(clippy::all, missing_docs, missing_debug_implementations)]
pub mod proto {
    tonic::include_proto!("boxoffice.v1");
}
