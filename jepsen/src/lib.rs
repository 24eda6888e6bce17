//! The Boxoffice Jepsen-style harness: fault injection and history checking against a live cluster.
