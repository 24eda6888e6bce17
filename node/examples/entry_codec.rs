//! Counts what carrying ticketing commands through the Raft log costs in a 3-replica group: each
//! entry packed by the proposer, encoded for the leader's log, read back from it and encoded for
//! the appends to two followers, decoded from those appends and encoded again for the followers'
//! logs, read back from all three logs and its commands handed to apply. `encoded` carries the
//! commands as the proposer writes them (`Proposal::Tickets`, encoded once); `lists` as builds
//! before 2026-11-29 did (`Proposal::TicketList`, with the proposer's former sizing encode of every
//! action).
//!
//! Under `valgrind --tool=callgrind` the count is the same on every run, whatever else the machine
//! is doing (docs/benchmarks.md, "Counting instructions"):
//!
//! ```sh
//! cargo build --release -p boxoffice-node --example entry_codec
//! valgrind --tool=callgrind target/release/examples/entry_codec encoded 1000
//! valgrind --tool=callgrind target/release/examples/entry_codec lists 1000
//! ```

use boxoffice_node::raft::{Proposal, TicketsBuilder, TypeConfig, RAFT_RECORD_BYTES_MAX};
use boxoffice_statemachine::{
    codec, Action, Command, CustomerId, EventId, RequestId, SeatId, Selection,
};
use openraft::alias::{EntryOf, LogIdOf};
use openraft::entry::RaftEntry;
use openraft::vote::RaftLeaderIdExt;

/// Commands in one entry: about what the proposer packs in a storm (docs/benchmarks.md).
const COMMANDS_PER_ENTRY: u64 = 32;
const FOLLOWERS: usize = 2;

/// The `k`-th single-seat hold of a storm.
fn hold(k: u64) -> Command {
    Command {
        request_id: RequestId::new(format!("{k:032x}")).expect("valid request id"),
        at_ms: 1_000_000 + k,
        action: Action::Hold {
            event: EventId::new("storm-42").expect("valid event id"),
            customer: CustomerId::new(format!("buyer-{k}")).expect("valid customer id"),
            selection: Selection::Seats(vec![SeatId {
                section: (k % 20) as u16,
                row: (k / 20 % 50) as u16,
                index: (k / 1_000 % 50) as u16,
            }]),
            ttl_ms: None,
        },
    }
}

/// The proposer's entry of `commands`.
fn propose(commands: Vec<Command>, encoded: bool) -> Proposal {
    if encoded {
        let mut tickets = TicketsBuilder::default();
        for command in &commands {
            tickets.push(command);
        }
        Proposal::Tickets(tickets.finish())
    } else {
        let bytes: usize = commands
            .iter()
            .map(|c| c.request_id.as_str().len() + codec::encode(&c.action).len() + 16)
            .sum();
        std::hint::black_box(bytes);
        Proposal::TicketList(commands)
    }
}

fn read(bytes: &[u8]) -> EntryOf<TypeConfig> {
    codec::decode(bytes, RAFT_RECORD_BYTES_MAX).expect("an entry just encoded decodes")
}

/// The commands apply gets from an entry read back from a log.
fn applied(entry: &EntryOf<TypeConfig>) -> usize {
    match &entry.payload {
        openraft::EntryPayload::Normal(Proposal::Tickets(tickets)) => {
            tickets.decode().expect("valid commands").len()
        }
        openraft::EntryPayload::Normal(Proposal::TicketList(commands)) => commands.len(),
        _ => 0,
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let encoded = match args.next().as_deref() {
        Some("encoded") => true,
        Some("lists") => false,
        _ => {
            eprintln!("usage: entry_codec encoded|lists [ENTRIES]");
            std::process::exit(2);
        }
    };
    let entries: u64 = args.next().map_or(1_000, |n| n.parse().expect("ENTRIES"));
    let leader = openraft::impls::leader_id_adv::LeaderId::new_committed(1, 1);
    let mut commands_applied = 0;
    for index in 0..entries {
        let commands = (0..COMMANDS_PER_ENTRY)
            .map(|i| hold(index * COMMANDS_PER_ENTRY + i))
            .collect();
        let log_id = LogIdOf::<TypeConfig>::new(leader, index + 1);
        let entry = EntryOf::<TypeConfig>::new_normal(log_id, propose(commands, encoded));
        let mut logs = vec![codec::encode(&entry)];
        for _ in 0..FOLLOWERS {
            // openraft's replication reads the entries it sends from the leader's log.
            let append = codec::encode(&vec![read(&logs[0])]);
            let received: Vec<EntryOf<TypeConfig>> = codec::decode(&append, RAFT_RECORD_BYTES_MAX)
                .expect("an append just encoded decodes");
            logs.push(codec::encode(&received[0]));
        }
        for log in &logs {
            commands_applied += applied(&read(log));
        }
    }
    println!(
        "{entries} entries of {COMMANDS_PER_ENTRY} commands ({}): {commands_applied} commands applied on 3 replicas",
        if encoded { "encoded" } else { "lists" }
    );
}
