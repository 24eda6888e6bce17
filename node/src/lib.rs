//! The Boxoffice replica node: storage of every group in one RocksDB (here), and Raft replication,
//! transport and the client API as they arrive (issue 3).

pub mod config;
pub mod local_cluster;
pub mod raft;
pub mod storage;
