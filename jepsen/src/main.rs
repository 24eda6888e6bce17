//! `boxoffice-jepsen`: runs a Boxoffice cluster in network namespaces under a nemesis and checks
//! the history (`run`), runs the short CI suite or the long matrix (`suite`), or checks a recorded
//! run again (`check`). Exit status: 0 no violation, 1 a violation (or, with `--expect-violation`,
//! none), 2 the harness itself failed, 130 interrupted.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use boxoffice_jepsen::checker::{self, Status};
use boxoffice_jepsen::cluster::ClusterOptions;
use boxoffice_jepsen::history::History;
use boxoffice_jepsen::nemesis::Nemesis;
use boxoffice_jepsen::report::Summary;
use boxoffice_jepsen::run::{run, RunOptions, SAFETY_CHECKERS};
use boxoffice_jepsen::workload::WorkloadOptions;
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Fault injection and history checking for a Boxoffice cluster (needs root)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One run: cluster, workload, nemesis schedule, heal, recovery, checks.
    Run {
        #[command(flatten)]
        run: RunArgs,
        /// Nemeses to cycle through (comma-separated).
        #[arg(long, value_enum, value_delimiter = ',', default_value = "mixed")]
        nemesis: Vec<Nemesis>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Succeed only if a checker reports a violation (to prove the checkers can fail).
        #[arg(long)]
        expect_violation: bool,
    },
    /// A fixed list of runs; prints a results table.
    Suite {
        #[command(flatten)]
        run: RunArgs,
        #[arg(long, value_enum, default_value = "short")]
        suite: SuiteKind,
        /// Seeds for the matrix (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "1,2")]
        seeds: Vec<u64>,
    },
    /// Checks a recorded run directory again (history.jsonl, audits.json).
    Check {
        dir: PathBuf,
        #[arg(long, default_value_t = 60)]
        linearizability_budget_s: u64,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SuiteKind {
    /// CI: 3 nodes; partition, kill and pause with fixed seeds; then the unsafe-reads run that
    /// must be caught. About two and a half minutes.
    Short,
    /// Every nemesis (and mixed) on 5 nodes, for each seed.
    Matrix,
}

#[derive(Debug, Clone, Args)]
struct RunArgs {
    /// Nodes in the cluster (3 or 5 usually).
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// Faults are scheduled during the first this many seconds.
    #[arg(long, default_value_t = 40)]
    time_limit_s: u64,
    #[arg(long, default_value_t = 6)]
    fault_s: u64,
    /// Quiet time before and between faults.
    #[arg(long, default_value_t = 4)]
    quiet_s: u64,
    /// After the final heal, the workload goes on this long.
    #[arg(long, default_value_t = 8)]
    recovery_s: u64,
    /// After the heal, operations must be answered again within this bound.
    #[arg(long, default_value_t = 15)]
    recovery_bound_s: u64,
    #[arg(long, default_value_t = 60)]
    linearizability_budget_s: u64,
    #[arg(long, default_value_t = 12)]
    buyers: u32,
    /// Rows of 12 seats per seated event (the best-available event has twice as many; the
    /// general-admission area as many places as both).
    #[arg(long, default_value_t = 40)]
    rows: u32,
    #[arg(long, default_value_t = 20)]
    think_ms: u64,
    #[arg(long, default_value_t = 3)]
    data_groups: u32,
    /// Deliberately unsafe: nodes answer linearizable reads from their local replica.
    #[arg(long)]
    unsafe_local_reads: bool,
    /// Keep the nodes' data directories even when the run found no violation.
    #[arg(long)]
    keep_data: bool,
    /// Where run directories go.
    #[arg(long, default_value = "jepsen-runs")]
    out: PathBuf,
    /// The node binary (default: `boxofficed` beside this program).
    #[arg(long)]
    boxofficed: Option<PathBuf>,
}

impl RunArgs {
    fn options(
        &self,
        name: String,
        nemeses: Vec<Nemesis>,
        seed: u64,
    ) -> anyhow::Result<RunOptions> {
        let boxofficed = match &self.boxofficed {
            Some(path) => path.clone(),
            None => std::env::current_exe()?.with_file_name("boxofficed"),
        };
        anyhow::ensure!(
            boxofficed.exists(),
            "no node binary at {} (build it, or pass --boxofficed)",
            boxofficed.display()
        );
        Ok(RunOptions {
            name,
            nodes: self.nodes,
            nemeses,
            seed,
            faults_for: Duration::from_secs(self.time_limit_s),
            quiet: Duration::from_secs(self.quiet_s),
            fault: Duration::from_secs(self.fault_s),
            recovery: Duration::from_secs(self.recovery_s),
            recovery_bound: Duration::from_secs(self.recovery_bound_s),
            linearizability_budget: Duration::from_secs(self.linearizability_budget_s),
            workload: WorkloadOptions {
                buyers: self.buyers,
                rows: self.rows,
                think: Duration::from_millis(self.think_ms),
                hold_ttl_ms_min: 2_000,
                hold_ttl_ms_max: 8_000,
                call_deadline: Duration::from_secs(2),
            },
            cluster: ClusterOptions {
                boxofficed,
                data_groups: self.data_groups,
                heartbeat_ms: 200,
                election_timeout_min_ms: 1_000,
                election_timeout_max_ms: 2_000,
                snapshot_after_entries: 2_000,
                unsafe_local_reads: self.unsafe_local_reads,
            },
            out: self.out.clone(),
            net_prefix: "bxj".into(),
            subnet: [10, 77, 0],
            keep_data: self.keep_data,
        })
    }
}

/// True when a safety checker (not liveness or convergence alone) found a violation: what an
/// unsafe build must trip.
fn safety_violated(summary: &Summary) -> bool {
    summary
        .verdicts
        .iter()
        .any(|v| v.status == Status::Invalid && SAFETY_CHECKERS.contains(&v.checker.as_str()))
}

fn run_name(nemeses: &[Nemesis], seed: u64, nodes: u64, unsafe_reads: bool) -> String {
    let names: Vec<&str> = nemeses.iter().map(|n| n.name()).collect();
    format!(
        "{}-n{nodes}-seed{seed}{}",
        names.join("+"),
        if unsafe_reads { "-unsafe" } else { "" }
    )
}

/// One row of a suite's results.
struct Row {
    name: String,
    valid: bool,
    expected_valid: bool,
    text: String,
}

async fn suite(args: &RunArgs, kind: SuiteKind, seeds: &[u64]) -> anyhow::Result<Vec<Row>> {
    // (nemeses, seed, unsafe reads)
    let plan: Vec<(Vec<Nemesis>, u64, bool)> = match kind {
        SuiteKind::Short => vec![
            (vec![Nemesis::PartitionRandomHalves], 1, false),
            (vec![Nemesis::KillRandom, Nemesis::KillLeaders], 2, false),
            (vec![Nemesis::Pause], 3, false),
            (vec![Nemesis::IsolateLeader], 4, true),
        ],
        SuiteKind::Matrix => seeds
            .iter()
            .flat_map(|&seed| {
                Nemesis::CONCRETE
                    .iter()
                    .chain(std::iter::once(&Nemesis::Mixed))
                    .map(move |&n| (vec![n], seed, false))
            })
            .collect(),
    };
    let mut rows = Vec::new();
    for (nemeses, seed, unsafe_reads) in plan {
        let mut args = args.clone();
        args.unsafe_local_reads = unsafe_reads;
        let name = run_name(&nemeses, seed, args.nodes, unsafe_reads);
        let options = args.options(name.clone(), nemeses, seed)?;
        let finished = match run(options).await {
            Ok(finished) => finished,
            Err(e) => {
                eprintln!("{name}: the harness failed: {e:#}");
                rows.push(Row {
                    text: format!("| {name} | | | | HARNESS FAILED: {e} |"),
                    name,
                    valid: false,
                    expected_valid: true,
                });
                continue;
            }
        };
        let s = &finished.summary;
        let ops: u64 = s.operations.values().flat_map(|o| o.values()).sum();
        let ok: u64 = s.operations.values().filter_map(|o| o.get("ok")).sum();
        let worst = s
            .unavailability
            .iter()
            .map(|w| w.longest_ms)
            .max()
            .unwrap_or(0);
        let failed: Vec<&str> = s
            .verdicts
            .iter()
            .filter(|v| v.status == Status::Invalid)
            .map(|v| v.checker.as_str())
            .collect();
        rows.push(Row {
            text: format!(
                "| {name} | {ops} | {ok} | {worst} | {} |",
                if failed.is_empty() {
                    "no violation".to_string()
                } else {
                    format!("VIOLATION: {}", failed.join(", "))
                }
            ),
            name,
            // An unsafe run counts as caught only by a safety checker.
            valid: if unsafe_reads {
                !safety_violated(s)
            } else {
                s.valid
            },
            expected_valid: !unsafe_reads,
        });
    }
    Ok(rows)
}

fn check_dir(dir: &std::path::Path, budget: Duration) -> anyhow::Result<bool> {
    let history = History::read_file(&dir.join("history.jsonl"))?;
    let audits: Vec<checker::convergence::ReplicaAudit> = serde_json::from_slice(
        &std::fs::read(dir.join("audits.json")).context("reading audits.json")?,
    )?;
    let mut replicas = std::collections::BTreeMap::<u64, Vec<u64>>::new();
    for audit in &audits {
        replicas.entry(audit.group).or_default().push(audit.node);
    }
    let (verdicts, windows) = checker::check_all(
        &history,
        &audits,
        &replicas,
        Duration::from_secs(15),
        budget,
    );
    for verdict in &verdicts {
        println!(
            "{:<16} {:?} {}",
            verdict.checker, verdict.status, verdict.checked
        );
        for example in &verdict.examples {
            println!("    {example}");
        }
    }
    for window in windows {
        println!(
            "unavailable {:<24} {} ms",
            window.nemesis, window.longest_ms
        );
    }
    Ok(verdicts.iter().all(|v| v.status != Status::Invalid))
}

async fn main_inner(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run {
            run: args,
            nemesis,
            seed,
            expect_violation,
        } => {
            let name = run_name(&nemesis, seed, args.nodes, args.unsafe_local_reads);
            let finished = run(args.options(name, nemesis, seed)?).await?;
            let ok = if expect_violation {
                safety_violated(&finished.summary)
            } else {
                finished.summary.valid
            };
            if expect_violation {
                println!(
                    "{}",
                    if ok {
                        "a violation was expected and found"
                    } else {
                        "a violation was expected but NOT found"
                    }
                );
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Suite {
            run: args,
            suite: kind,
            seeds,
        } => {
            let rows = suite(&args, kind, &seeds).await?;
            println!("\n| run | operations | ok | longest unavailability (ms) | checkers |");
            println!("|---|---|---|---|---|");
            for row in &rows {
                println!("{}", row.text);
            }
            let wrong: Vec<&str> = rows
                .iter()
                .filter(|r| r.valid != r.expected_valid)
                .map(|r| r.name.as_str())
                .collect();
            if wrong.is_empty() {
                println!("\nsuite passed: every safe run valid, every unsafe run caught");
                Ok(ExitCode::SUCCESS)
            } else {
                println!("\nsuite FAILED: {}", wrong.join(", "));
                Ok(ExitCode::from(1))
            }
        }
        Command::Check {
            dir,
            linearizability_budget_s,
        } => {
            let valid = check_dir(&dir, Duration::from_secs(linearizability_budget_s))?;
            Ok(if valid {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BOXOFFICE_JEPSEN_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(e) => {
                eprintln!("boxoffice-jepsen: cannot watch SIGTERM: {e}");
                return ExitCode::from(2);
            }
        };
    // Dropping the run on a signal drops the cluster and the network, which tear themselves down.
    tokio::select! {
        result = main_inner(cli) => match result {
            Ok(code) => code,
            Err(e) => {
                eprintln!("boxoffice-jepsen: {e:#}");
                ExitCode::from(2)
            }
        },
        _ = tokio::signal::ctrl_c() => {
            eprintln!("boxoffice-jepsen: interrupted; tearing down");
            ExitCode::from(130)
        }
        _ = terminate.recv() => {
            eprintln!("boxoffice-jepsen: terminated; tearing down");
            ExitCode::from(143)
        }
    }
}
