//! `boxofficed`, the replica daemon: loads and checks its configuration; replication arrives with
//! issue 3.

use std::process::ExitCode;

use boxoffice_node::config::{Flags, NodeConfig};
use clap::Parser;

fn main() -> ExitCode {
    let flags = Flags::parse();
    let config = match NodeConfig::load(&flags) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("boxofficed: {error}");
            return ExitCode::from(2);
        }
    };
    if flags.check_config {
        print!("{}", config.to_toml());
        return ExitCode::SUCCESS;
    }
    eprintln!("boxofficed: configuration is valid; the replicated node arrives with issue 3");
    ExitCode::from(2)
}
