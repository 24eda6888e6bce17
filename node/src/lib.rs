//! The Boxoffice replica node: every group's storage in one RocksDB, Raft replication and
//! transport, the cluster map, the public gRPC API, and the HTTP gateway.

pub mod api;
pub mod backup;
pub mod config;
pub mod http;
pub mod local_cluster;
pub mod meta;
pub mod metrics;
pub mod node;
pub mod placement;
pub mod raft;
pub mod storage;
pub mod waiting_room;
