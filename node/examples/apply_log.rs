//! Counts what one replica's apply costs in the node: the `hold_buy_log` on-sale (single-seat
//! holds, each followed by its buy) packed 32 commands to an entry and applied one at a time through
//! the Raft state machine, onto a real RocksDB with the group's read cache in front. Where
//! `hold_buy_log` counts the pure state machine over an in-memory map, this counts what each of a
//! group's three replicas does per entry in a storm.
//!
//! Under `valgrind --tool=callgrind`, counting only inside `apply_all` (the applies, without
//! opening RocksDB, creating the event or checking the invariants after), the count is the same on
//! every run to within 0.01%, whatever else the machine is doing (docs/benchmarks.md, "One
//! replica's apply, counted"):
//!
//! ```sh
//! cargo build --release -p boxoffice-node --example apply_log
//! valgrind --tool=callgrind --toggle-collect='*apply_all*' target/release/examples/apply_log 5000
//! ```
//!
//! The argument is the number of hold-and-buy pairs (default 5,000, at most one per seat). Every
//! command must be accepted.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../../statemachine/benches/onsale/mod.rs"]
#[allow(dead_code)] // the on-sale's in-memory store (`fresh_event`) is not used here
mod onsale;

use boxoffice_node::raft::state_machine::StateMachine;
use boxoffice_node::raft::{Proposal, TypeConfig};
use boxoffice_node::storage::NodeStorage;
use boxoffice_statemachine::Command;
use openraft::alias::{EntryOf, LogIdOf};
use openraft::entry::RaftEntry;
use openraft::storage::RaftStateMachine;
use openraft::vote::RaftLeaderIdExt;

/// Commands in one entry: about what the proposer packs in a storm (docs/benchmarks.md).
const COMMANDS_PER_ENTRY: usize = 32;

fn entry(index: u64, commands: &[Command]) -> EntryOf<TypeConfig> {
    let leader = openraft::impls::leader_id_adv::LeaderId::new_committed(1, 1);
    EntryOf::<TypeConfig>::new_normal(
        LogIdOf::<TypeConfig>::new(leader, index),
        Proposal::tickets(commands),
    )
}

/// Applies `entries` one at a time, as a replica keeping up with its leader does. Not inlined, so
/// that callgrind can count inside it alone.
#[inline(never)]
fn apply_all(
    runtime: &tokio::runtime::Runtime,
    machine: &mut StateMachine,
    entries: Vec<EntryOf<TypeConfig>>,
) {
    for entry in entries {
        let stream = futures_util::stream::iter([Ok((entry, None))]);
        runtime
            .block_on(machine.apply(stream))
            .expect("applying to a fresh RocksDB");
    }
}

fn main() {
    let pairs = onsale::pairs_from_args();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let storage = NodeStorage::open(dir.path()).expect("open RocksDB");
    let mut machine = StateMachine::new(storage, 1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a Tokio runtime");
    let created = futures_util::stream::iter([Ok((entry(1, &[onsale::create_event()]), None))]);
    runtime
        .block_on(machine.apply(created))
        .expect("creating the event");

    let log: Vec<Command> = (0..2 * pairs).map(onsale::hold_then_buy).collect();
    let entries: Vec<EntryOf<TypeConfig>> = log
        .chunks(COMMANDS_PER_ENTRY)
        .zip(2..)
        .map(|(commands, index)| entry(index, commands))
        .collect();
    let started = std::time::Instant::now();
    apply_all(&runtime, &mut machine, entries);
    let elapsed = started.elapsed();
    let audit = boxoffice_statemachine::invariants::check(machine.state())
        .expect("the applied state keeps its invariants");
    assert_eq!(
        u64::from(audit.counts.sold),
        pairs,
        "every hold was accepted and bought"
    );
    println!(
        "{} commands in entries of {COMMANDS_PER_ENTRY} applied in {elapsed:.2?} ({:.2} µs each)",
        log.len(),
        elapsed.as_secs_f64() * 1e6 / log.len() as f64
    );
}
