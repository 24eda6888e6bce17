//! `boxoffice-bench`: `run` one workload against one store (JSON result, non-zero exit when an
//! invariant is violated) and `report` results as a Markdown table and a PNG chart.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use boxoffice_bench::model::Layout;
use boxoffice_bench::result::RunResult;
use boxoffice_bench::runner::{self, RunConfig};
use boxoffice_bench::store::boxoffice::BoxofficeStore;
use boxoffice_bench::store::etcd::EtcdStore;
use boxoffice_bench::store::postgres::{Locking, PostgresStore};
use boxoffice_bench::store::redis::{RedisStore, CONNECTIONS_DEFAULT};
use boxoffice_bench::store::{now_ms, Store};
use boxoffice_bench::workload::{AfterHoldMix, Demand, PickMode, SeatsPerHold, WorkloadKind};
use boxoffice_bench::{report, sweep};
use clap::{Parser, Subcommand, ValueEnum};

/// mimalloc, as in `boxofficed`: the load generator allocates a request and a reply per command
/// whatever the store, and under glibc's malloc that was a third of its CPU time (measured on the
/// storm), taken from the two cores the stores under test share with it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Default cap on PostgreSQL connections (the pool is sized like the buyers, up to this).
const PG_POOL_CONNECTIONS_MAX: usize = 128;

#[derive(Debug, Parser)]
#[command(
    name = "boxoffice-bench",
    about = "Side-by-side on-sale benchmark of Boxoffice, etcd, PostgreSQL and Redis"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs one workload against one store and writes its result as JSON.
    Run(Box<RunArgs>),
    /// Renders results as one Markdown comparison table and a PNG chart.
    Report(ReportArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StoreKind {
    Boxoffice,
    Etcd,
    Postgres,
    PostgresForUpdate,
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum WorkloadArg {
    Storm,
    ManyEvents,
    ExpiryStorm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PickArg {
    Specific,
    BestAvailable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DemandArg {
    Uniform,
    Zipf,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    #[arg(long, value_enum)]
    store: StoreKind,
    #[arg(long, value_enum)]
    workload: WorkloadArg,
    /// Where the store is: Boxoffice and etcd `host:port,...`; PostgreSQL a connection string
    /// (`host=... port=... user=... dbname=...`); Redis a URL. Default: the store's usual port.
    #[arg(long)]
    target: Option<String>,
    /// Concurrent buyer tasks.
    #[arg(long, default_value_t = 256)]
    buyers: usize,
    /// Random seed (default: from the clock); printed, and recorded in the result.
    #[arg(long)]
    seed: Option<u64>,
    /// The run stops after this many seconds even if requests remain.
    #[arg(long, default_value_t = 60)]
    duration_s: u64,
    /// Hold time-to-live, in milliseconds.
    #[arg(long, default_value_t = 60_000)]
    ttl_ms: u64,
    /// Seats per hold: N or MIN..MAX.
    #[arg(long, default_value = "1..4")]
    seats_per_hold: SeatsPerHold,
    /// storm: every seat is in the request pool this many times.
    #[arg(long, default_value_t = 2)]
    contention: u32,
    #[arg(long, value_enum, default_value_t = PickArg::Specific)]
    pick: PickArg,
    /// Percentage of holds bought.
    #[arg(long, default_value_t = 100.0)]
    buy_pct: f64,
    /// Of the holds not bought, the percentage abandoned (left to expire); the rest are released.
    #[arg(long, default_value_t = 100.0)]
    abandon_pct: f64,
    /// Sections per event (default: storm and expiry-storm 20, many-events 4).
    #[arg(long)]
    sections: Option<u16>,
    /// Rows per section (default: 50, many-events 10).
    #[arg(long)]
    rows: Option<u16>,
    /// Seats per row (default: 50, many-events 25).
    #[arg(long)]
    seats_per_row: Option<u16>,
    /// many-events: events (default 1000); expiry-storm: events held to expire together (default 2).
    #[arg(long)]
    events: Option<u32>,
    /// many-events: how demand spreads over events.
    #[arg(long, value_enum, default_value_t = DemandArg::Zipf)]
    demand: DemandArg,
    #[arg(long, default_value_t = 1.0)]
    zipf_exponent: f64,
    /// expiry-storm: the common expiry time, this long after the placement starts.
    #[arg(long, default_value_t = 60)]
    expire_after_s: u64,
    /// expiry-storm: buyers of a separate event during the storm.
    #[arg(long, default_value_t = 16)]
    side_buyers: usize,
    /// expiry-storm: longest wait for the expired seats to be free again.
    #[arg(long, default_value_t = 120)]
    drain_timeout_s: u64,
    /// Boxoffice: create each event on a Raft group of its own.
    #[arg(long)]
    dedicated_group: bool,
    /// PostgreSQL: most pooled connections (the pool is min(buyers, this)).
    #[arg(long, default_value_t = PG_POOL_CONNECTIONS_MAX)]
    pg_connections_max: usize,
    /// Redis: multiplexed connections.
    #[arg(long, default_value_t = CONNECTIONS_DEFAULT)]
    redis_connections: usize,
    /// Prefix of event and customer ids (default: from the seed and the clock).
    #[arg(long)]
    tag: Option<String>,
    /// Progress line every this many seconds (0: none).
    #[arg(long, default_value_t = 5)]
    progress_s: u64,
    /// Where to write the result.
    #[arg(long)]
    json: PathBuf,
}

#[derive(Debug, clap::Args)]
struct ReportArgs {
    /// Result files written by `run --json`.
    #[arg(required = true)]
    results: Vec<PathBuf>,
    /// Where to write the Markdown table.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Where to write the PNG chart.
    #[arg(long)]
    png: Option<PathBuf>,
    /// The results are a concurrency sweep (the same workloads at several buyer counts): render
    /// each workload's rate and hold p99 against the buyer count instead.
    #[arg(long)]
    sweep: bool,
}

fn workload_kind(workload: WorkloadArg) -> WorkloadKind {
    match workload {
        WorkloadArg::Storm => WorkloadKind::Storm,
        WorkloadArg::ManyEvents => WorkloadKind::ManyEvents,
        WorkloadArg::ExpiryStorm => WorkloadKind::ExpiryStorm,
    }
}

fn config(args: &RunArgs, seed: u64) -> anyhow::Result<RunConfig> {
    let workload = workload_kind(args.workload);
    let many = workload == WorkloadKind::ManyEvents;
    let layout = Layout {
        sections: args.sections.unwrap_or(if many { 4 } else { 20 }),
        rows: args.rows.unwrap_or(if many { 10 } else { 50 }),
        seats_per_row: args.seats_per_row.unwrap_or(if many { 25 } else { 50 }),
    };
    if layout.seats() == 0 {
        bail!("an event needs at least one seat");
    }
    if args.buyers == 0 {
        bail!("--buyers must be at least 1");
    }
    if args.contention == 0 {
        bail!("--contention must be at least 1");
    }
    for (name, pct) in [
        ("--buy-pct", args.buy_pct),
        ("--abandon-pct", args.abandon_pct),
    ] {
        if !(0.0..=100.0).contains(&pct) {
            bail!("{name} must be within 0..100");
        }
    }
    if args.ttl_ms < 1_000 {
        bail!("--ttl-ms must be at least 1000");
    }
    let events = args.events.unwrap_or(match workload {
        WorkloadKind::Storm => 1,
        WorkloadKind::ManyEvents => 1_000,
        WorkloadKind::ExpiryStorm => 2,
    });
    if events == 0 {
        bail!("--events must be at least 1");
    }
    let tag = args
        .tag
        .clone()
        .unwrap_or_else(|| format!("b{}-{}", seed % 1_000_000, now_ms() / 1_000 % 1_000_000));
    let mut options = BTreeMap::new();
    let mut record = |key: &str, value: String| {
        options.insert(key.to_string(), value);
    };
    record("seats_per_hold", args.seats_per_hold.to_string());
    record("contention", args.contention.to_string());
    record("pick", format!("{:?}", args.pick));
    record("buy_pct", args.buy_pct.to_string());
    record("abandon_pct", args.abandon_pct.to_string());
    record("duration_s", args.duration_s.to_string());
    record("ttl_ms", args.ttl_ms.to_string());
    record(
        "layout",
        format!(
            "{} events x {} sections x {} rows x {} seats",
            events, layout.sections, layout.rows, layout.seats_per_row
        ),
    );
    if many {
        record(
            "demand",
            format!("{:?} (zipf exponent {})", args.demand, args.zipf_exponent),
        );
    }
    if workload == WorkloadKind::ExpiryStorm {
        record("expire_after_s", args.expire_after_s.to_string());
        record("side_buyers", args.side_buyers.to_string());
    }
    Ok(RunConfig {
        workload,
        seed,
        buyers: args.buyers,
        duration: Duration::from_secs(args.duration_s),
        ttl_ms: args.ttl_ms,
        seats_per_hold: args.seats_per_hold,
        contention: args.contention,
        pick: match args.pick {
            PickArg::Specific => PickMode::Specific,
            PickArg::BestAvailable => PickMode::BestAvailable,
        },
        mix: AfterHoldMix {
            buy_pct: args.buy_pct,
            abandon_pct: args.abandon_pct,
        },
        layout,
        events,
        demand: match args.demand {
            DemandArg::Uniform => Demand::Uniform,
            DemandArg::Zipf => Demand::Zipf {
                exponent: args.zipf_exponent,
            },
        },
        expire_after: Duration::from_secs(args.expire_after_s),
        side_buyers: args.side_buyers,
        drain_timeout: Duration::from_secs(args.drain_timeout_s),
        tag,
        progress_every: (args.progress_s > 0).then(|| Duration::from_secs(args.progress_s)),
        options,
    })
}

fn split(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

async fn run_on<S: Store>(store: S, config: &RunConfig) -> anyhow::Result<RunResult> {
    Ok(runner::run(Arc::new(store), config).await?)
}

async fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let config = config(args, seed)?;
    eprintln!(
        "boxoffice-bench: store {:?}, workload {}, {} buyers, seed {seed}, tag {}",
        args.store,
        config.workload.as_str(),
        config.buyers,
        config.tag
    );
    let target = args.target.clone();
    let result = match args.store {
        StoreKind::Boxoffice => {
            let endpoints = split(&target.unwrap_or_else(|| {
                std::env::var("BOXOFFICE_ENDPOINTS")
                    .unwrap_or_else(|_| "127.0.0.1:7081,127.0.0.1:7082,127.0.0.1:7083".into())
            }));
            run_on(
                BoxofficeStore::connect(&endpoints, args.dedicated_group)?,
                &config,
            )
            .await?
        }
        StoreKind::Etcd => {
            let endpoints = split(&target.unwrap_or_else(|| "127.0.0.1:2379".into()));
            run_on(EtcdStore::connect(&endpoints).await?, &config).await?
        }
        StoreKind::Postgres | StoreKind::PostgresForUpdate => {
            let url = target
                .unwrap_or_else(|| "host=127.0.0.1 port=5432 user=postgres dbname=postgres".into());
            let locking = if args.store == StoreKind::Postgres {
                Locking::Optimistic
            } else {
                Locking::ForUpdate
            };
            let pool = args.buyers.min(args.pg_connections_max).max(1);
            run_on(PostgresStore::connect(&url, locking, pool)?, &config).await?
        }
        StoreKind::Redis => {
            let url = target.unwrap_or_else(|| "redis://127.0.0.1:6379/".into());
            run_on(
                RedisStore::connect(&url, args.redis_connections).await?,
                &config,
            )
            .await?
        }
    };
    let json = serde_json::to_string_pretty(&result)?;
    std::fs::write(&args.json, json).with_context(|| format!("writing {}", args.json.display()))?;
    print_summary(&result);
    Ok(if result.passed() {
        ExitCode::SUCCESS
    } else {
        eprintln!("boxoffice-bench: INVALID RESULT: the invariant check failed");
        ExitCode::from(1)
    })
}

fn print_summary(result: &RunResult) {
    if let Some(why) = &result.not_applicable {
        println!("{} {}: n/a ({why})", result.store, result.workload);
        return;
    }
    let hold = result.latency_of("hold");
    let buy = result.latency_of("buy");
    println!(
        "{} {} (seed {}): {:.1} s, holds decided {} ({:.0}/s), held {} ({:.0}/s), tickets {} ({:.0}/s)",
        result.store,
        result.workload,
        result.seed,
        result.elapsed_s,
        result.holds_decided,
        result.decided_holds_per_s,
        result.holds_accepted,
        result.successful_holds_per_s,
        result.tickets_sold,
        result.tickets_per_s
    );
    println!(
        "  hold p50 {:.2} p95 {:.2} p99 {:.2} max {:.2} ms; buy p50 {:.2} p99 {:.2} max {:.2} ms",
        hold.p50_ms, hold.p95_ms, hold.p99_ms, hold.max_ms, buy.p50_ms, buy.p99_ms, buy.max_ms
    );
    println!(
        "  rejections {:?}; indeterminate holds {} buys {}; errors {:?}",
        result.rejections, result.holds_indeterminate, result.buys_indeterminate, result.errors
    );
    if let Some(expiry) = &result.expiry {
        println!(
            "  expiry storm: {} of {} holds placed in {:.1} s; drain {:?}; concurrent hold p99 before {:.2} ms, during {:.2} ms",
            expiry.holds_placed,
            expiry.holds_planned,
            expiry.placement_s,
            expiry.drain,
            expiry.side_hold_before.p99_ms,
            expiry.side_hold_during.p99_ms
        );
    }
    let invariants = &result.invariants;
    println!(
        "  invariants: {} ({} seats checked, {} sold, {} acknowledged tickets, {} from indeterminate buys){}{}",
        if invariants.valid { "OK" } else { "VIOLATED" },
        invariants.checked_seats,
        invariants.sold_seats,
        invariants.acknowledged_tickets,
        invariants.indeterminate_tickets_applied,
        invariants.audit.as_ref().map(|a| format!("; audit {a}")).unwrap_or_default(),
        invariants.error.as_ref().map(|e| format!("; not checked: {e}")).unwrap_or_default(),
    );
    for violation in &invariants.violations {
        println!("    {violation}");
    }
}

fn report(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let mut results = Vec::new();
    for path in &args.results {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let result: RunResult = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a boxoffice-bench result", path.display()))?;
        results.push(result);
    }
    let table = if args.sweep {
        sweep::markdown(&results)
    } else {
        report::markdown(&results)
    };
    match &args.markdown {
        Some(path) => {
            std::fs::write(path, &table).with_context(|| format!("writing {}", path.display()))?
        }
        None => print!("{table}"),
    }
    if let Some(path) = &args.png {
        let drawn = if args.sweep {
            sweep::png(&results, path)
        } else {
            report::png(&results, path)
        };
        drawn.with_context(|| format!("drawing {}", path.display()))?;
    }
    Ok(if results.iter().all(RunResult::passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Run(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the runtime")
            .and_then(|runtime| runtime.block_on(run(args))),
        Command::Report(args) => report(args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("boxoffice-bench: error: {error:#}");
            ExitCode::from(2)
        }
    }
}
