//! The Boxoffice Jepsen-style harness: fault injection against real `boxofficed` processes in
//! network namespaces, and the checkers that read the recorded history.

pub mod checker;
pub mod cluster;
pub mod history;
pub mod nemesis;
pub mod net;
pub mod report;
pub mod run;
pub mod workload;
