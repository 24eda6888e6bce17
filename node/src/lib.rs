//! The Boxoffice replica node: Raft replication, storage and the gRPC service arrive with issue 3.
