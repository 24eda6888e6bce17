//! `boxofficed`, the replica daemon binary; a placeholder until the replicated node lands (issue 3).

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("boxofficed: the replicated node arrives with issue 3; nothing to run yet");
    ExitCode::from(2)
}
