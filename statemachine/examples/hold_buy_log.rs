//! A fixed log of single-seat holds, each followed by its buy, applied to a `MemStore`: the apply
//! benchmark's `hold_then_buy` commands, the same on every run, for counting the instructions a
//! change to the state machine costs (`valgrind --tool=callgrind`), which this machine's timers
//! cannot resolve.
//!
//! ```sh
//! cargo build --release --example hold_buy_log -p boxoffice-statemachine
//! valgrind --tool=callgrind target/release/examples/hold_buy_log 5000
//! ```
//!
//! The argument is the number of hold-and-buy pairs (default 5,000, at most one per seat); the
//! commands are built before the first is applied. Every command must be accepted.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../benches/onsale/mod.rs"]
mod onsale;

use boxoffice_statemachine::{execute, Command, Outcome};

fn main() {
    let pairs = onsale::pairs_from_args();
    let mut store = onsale::fresh_event();
    let log: Vec<Command> = (0..2 * pairs).map(onsale::hold_then_buy).collect();
    let started = std::time::Instant::now();
    for command in &log {
        match execute(&mut store, command).expect("the in-memory store never fails") {
            Outcome::Accepted(_) => {}
            Outcome::Rejected(why) => panic!("{} was rejected: {why:?}", command.request_id),
        }
    }
    println!(
        "{} commands applied in {:.3} s",
        log.len(),
        started.elapsed().as_secs_f64()
    );
}
