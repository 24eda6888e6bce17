//! `boxofficed`, the replica daemon: loads and checks its configuration, then runs the node until
//! SIGINT or SIGTERM (or, with `restore`, writes a backup into its data directory and exits).

use std::process::ExitCode;

use boxoffice_node::backup::{restore, NodeCommand};
use boxoffice_node::config::{Flags, LogFormat, NodeConfig};
use boxoffice_node::node::Node;
use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};

/// mimalloc: the apply path allocates many small records, where glibc's malloc costs a quarter of
/// the time (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let flags = Flags::parse();
    if flags.print_openapi {
        println!("{:#}", boxoffice_node::http::openapi::json());
        return ExitCode::SUCCESS;
    }
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
    let filter = tracing_subscriber::EnvFilter::try_from_env("BOXOFFICE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=error"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false);
    match flags.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().with_current_span(true).init(),
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("boxofficed: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(NodeCommand::Restore(args)) = &flags.command {
        return match runtime.block_on(restore(&config, args)) {
            Ok(report) => {
                println!(
                    "restored node {} into {}: groups {}{}",
                    config.node_id,
                    report.db.display(),
                    report
                        .groups
                        .iter()
                        .map(|(group, index, entries)| format!(
                            "{group} (index {index}, {entries} entries)"
                        ))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if report.missing.is_empty() {
                        String::new()
                    } else {
                        format!("; not in the backup, starting empty: {:?}", report.missing)
                    }
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                tracing::error!(%error, "restore failed");
                eprintln!("boxofficed restore: {error}");
                ExitCode::FAILURE
            }
        };
    }
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "boxofficed stopped");
            eprintln!("boxofficed: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: NodeConfig) -> anyhow::Result<()> {
    let mut terminate = signal(SignalKind::terminate())?;
    let node = Node::start(config).await?;
    node.serve_until(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("stopping");
    })
    .await?;
    Ok(())
}
