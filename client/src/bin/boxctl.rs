//! `boxctl`: the command-line tool of a Boxoffice cluster: bootstrap, readiness, status, audit,
//! events, holds, orders, the `onsale` load generator, and backups. Exit codes: 0 success, 1 error,
//! 3 already bootstrapped, 4 rejected by the state machine, 5 outcome unknown (indeterminate).

#[path = "boxctl/backup.rs"]
mod backup;
#[path = "boxctl/cluster.rs"]
mod cluster;
#[path = "boxctl/commands.rs"]
mod commands;
#[path = "boxctl/onsale.rs"]
mod onsale;
#[path = "boxctl/output.rs"]
mod output;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use boxoffice_client::{Client, ClientError, ClientOptions};
use clap::{Parser, Subcommand};

/// What a subcommand ended with, beyond plain success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok,
    /// A generic failure (audit found a problem, a timeout, ...).
    Failed,
    AlreadyBootstrapped,
    Rejected,
    Indeterminate,
}

impl Exit {
    fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::AlreadyBootstrapped => 3,
            Exit::Rejected => 4,
            Exit::Indeterminate => 5,
        }
    }
}

/// Options every subcommand shares.
#[derive(Debug, Clone)]
pub struct Global {
    pub endpoints: Vec<String>,
    pub json: bool,
    pub timeout: Duration,
}

impl Global {
    /// A client of the configured endpoints.
    pub fn client(&self) -> anyhow::Result<Client> {
        let options = ClientOptions {
            deadline: self.timeout,
            attempt_timeout: ClientOptions::default().attempt_timeout.min(self.timeout),
            ..ClientOptions::default()
        };
        Client::connect(&self.endpoints, options).context("cannot create the client")
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "boxctl",
    version,
    about = "Command-line tool of a Boxoffice cluster"
)]
struct Cli {
    /// gRPC endpoints (host:port) of cluster nodes, comma-separated.
    #[arg(
        long,
        global = true,
        env = "BOXOFFICE_ENDPOINTS",
        value_delimiter = ',',
        default_value = "127.0.0.1:7081,127.0.0.1:7082,127.0.0.1:7083"
    )]
    endpoints: Vec<String>,
    /// Machine-readable JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// Deadline of one call, retries included, in milliseconds.
    #[arg(long, global = true, default_value_t = 10_000)]
    timeout_ms: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Creates a new cluster (once). Exit code 3 if it is already bootstrapped.
    Bootstrap(cluster::BootstrapArgs),
    /// Waits until the cluster is bootstrapped and every group has a leader.
    WaitReady(cluster::WaitReadyArgs),
    /// Nodes, groups, leaders, lag, event placement and warnings.
    Status,
    /// Audits every replica of every group: invariants and state hashes.
    Audit(cluster::AuditArgs),
    /// Marks a node draining: its leaderships move to other replicas and it gets none (before
    /// stopping it). `boxctl status` shows when it leads nothing.
    Drain(cluster::NodeArg),
    /// Ends a node's draining: leaderships come back to it as placed.
    Undrain(cluster::NodeArg),
    /// Adds or removes a node (its replicas move on or off it, one group at a time).
    #[command(subcommand)]
    Node(cluster::NodeCommand),
    /// Moves an event to a new group of its own while it stays on sale (`status` shows it moving).
    MoveEvent(cluster::MoveEventArgs),
    /// Creates an event from a .toml or .json file (the shape of EventSpec).
    CreateEvent(commands::CreateEventArgs),
    /// Creates a stadium event (fixtures::stadium), handy for demos.
    CreateStadium(commands::CreateStadiumArgs),
    /// Opens (or resumes) an event's sale.
    Open(commands::EventArg),
    /// Pauses an event's sale.
    Pause(commands::EventArg),
    /// Cancels an event.
    CancelEvent(commands::EventArg),
    /// Lists events (of one group, or of every group).
    Events(commands::EventsArgs),
    /// Shows an event's seat map.
    Seats(commands::SeatsArgs),
    /// Holds seats or places for a customer.
    Hold(commands::HoldArgs),
    /// Extends a hold.
    Extend(commands::HoldRefArgs),
    /// Releases a hold.
    Release(commands::HoldRefArgs),
    /// Buys a hold.
    Buy(commands::BuyArgs),
    /// Shows an order.
    Order(commands::OrderArgs),
    /// Cancels an order (admin).
    Cancel(commands::CancelArgs),
    /// Load generator: simulated buyers hold and buy until sold out or the duration ends.
    Onsale(onsale::OnsaleArgs),
    /// Backs up every group (each from its leader, at a known applied index) into a directory:
    /// one file a group and manifest.json. Restore with `boxofficed restore`.
    Backup(backup::BackupArgs),
    /// Compares every replica of a restored cluster with the backup it was restored from (data
    /// hash) and audits it. Run it before the cluster takes traffic.
    CheckRestore(backup::CheckRestoreArgs),
}

async fn run(cli: Cli) -> anyhow::Result<Exit> {
    let global = Global {
        endpoints: cli
            .endpoints
            .iter()
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty())
            .collect(),
        json: cli.json,
        timeout: Duration::from_millis(cli.timeout_ms.max(1)),
    };
    if global.endpoints.is_empty() {
        anyhow::bail!("no endpoints given (--endpoints or BOXOFFICE_ENDPOINTS)");
    }
    use boxoffice_statemachine::StatusChange;
    match cli.command {
        Command::Bootstrap(args) => cluster::bootstrap(&global, args).await,
        Command::WaitReady(args) => cluster::wait_ready(&global, args).await,
        Command::Status => cluster::status(&global).await,
        Command::Audit(args) => cluster::audit(&global, args).await,
        Command::Drain(args) => cluster::set_draining(&global, args, true).await,
        Command::Undrain(args) => cluster::set_draining(&global, args, false).await,
        Command::Node(command) => cluster::change_nodes(&global, command).await,
        Command::MoveEvent(args) => cluster::move_event(&global, args).await,
        Command::CreateEvent(args) => commands::create_event(&global, args).await,
        Command::CreateStadium(args) => commands::create_stadium(&global, args).await,
        Command::Open(args) => commands::set_status(&global, args, StatusChange::Open).await,
        Command::Pause(args) => commands::set_status(&global, args, StatusChange::Pause).await,
        Command::CancelEvent(args) => {
            commands::set_status(&global, args, StatusChange::Cancel).await
        }
        Command::Events(args) => commands::events(&global, args).await,
        Command::Seats(args) => commands::seats(&global, args).await,
        Command::Hold(args) => commands::hold(&global, args).await,
        Command::Extend(args) => commands::extend(&global, args).await,
        Command::Release(args) => commands::release(&global, args).await,
        Command::Buy(args) => commands::buy(&global, args).await,
        Command::Order(args) => commands::order(&global, args).await,
        Command::Cancel(args) => commands::cancel(&global, args).await,
        Command::Onsale(args) => onsale::run(&global, args).await,
        Command::Backup(args) => backup::take(&global, args).await,
        Command::CheckRestore(args) => backup::check_restore(&global, args).await,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("boxctl: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(error) => {
            let exit = match error.downcast_ref::<ClientError>() {
                Some(ClientError::AlreadyBootstrapped) => Exit::AlreadyBootstrapped,
                Some(e) if e.is_indeterminate() => Exit::Indeterminate,
                _ => Exit::Failed,
            };
            if json {
                let kind = match exit {
                    Exit::AlreadyBootstrapped => "already_bootstrapped",
                    Exit::Indeterminate => "indeterminate",
                    _ => "error",
                };
                println!(
                    "{}",
                    serde_json::json!({ "result": kind, "error": format!("{error:#}") })
                );
            }
            match exit {
                Exit::AlreadyBootstrapped => {
                    eprintln!("boxctl: the cluster is already bootstrapped")
                }
                Exit::Indeterminate => {
                    eprintln!("boxctl: {error:#} (retrying with the same --request-id is safe)")
                }
                _ => eprintln!("boxctl: error: {error:#}"),
            }
            ExitCode::from(exit.code())
        }
    }
}
