//! The Boxoffice client library; the gRPC client arrives with the replication issue (issue 3).
