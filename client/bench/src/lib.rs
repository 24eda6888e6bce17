//! The side-by-side on-sale benchmark: the same seeded workloads (storm, many-events,
//! expiry-storm) against Boxoffice, etcd, PostgreSQL (two locking designs) and Redis, an
//! invariant check after every run, and a comparison table and chart of the results.
//!
//! - [`model`]: seats, layouts, requests and answers, the same for every store.
//! - [`workload`]: the seeded request generators.
//! - [`store`]: the `Store` trait and one driver per store.
//! - [`runner`]: the buyers, the measurements, the expiry storm.
//! - [`checker`]: the store-independent invariant check.
//! - [`result`], [`report`]: the JSON result of a run; the Markdown table and PNG chart.
//! - [`sweep`]: the table and chart of one workload run at several buyer counts.

pub mod checker;
pub mod model;
pub mod report;
pub mod result;
pub mod runner;
pub mod store;
pub mod sweep;
pub mod workload;
