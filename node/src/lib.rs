//! The Boxoffice replica node: every group's storage in one RocksDB, Raft replication and
//! transport, the cluster map, and the public gRPC API.

pub mod api;
pub mod config;
pub mod local_cluster;
pub mod meta;
pub mod node;
pub mod raft;
pub mod storage;
