//! Measures what idle Raft groups cost: 3 nodes in one process, each hosting `--groups N` groups
//! (default 100) over loopback gRPC, heartbeat 500 ms; prints the CPU the process used while every
//! group sat idle, per node, as a share of one core.
//!
//! `cargo run --release -p boxoffice-node --example idle_groups -- [--groups N] [--seconds S]`

use std::time::{Duration, Instant};

use boxoffice_node::local_cluster::LocalCluster;
use openraft::Config;

/// User plus system CPU time of this process, from /proc/self/stat (Linux), in seconds.
fn cpu_seconds() -> Result<f64, String> {
    let stat = std::fs::read_to_string("/proc/self/stat").map_err(|e| e.to_string())?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or("unexpected /proc/self/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64, String> {
        fields
            .get(i)
            .ok_or("short /proc/self/stat")?
            .parse::<f64>()
            .map_err(|e| e.to_string())
    };
    // utime and stime are fields 14 and 15 of the file: 12 and 13 after the name.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

fn arg(name: &str, default: u64) -> Result<u64, String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .ok_or(format!("{name} needs a value"))?
            .parse()
            .map_err(|e| format!("{name}: {e}")),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let groups = arg("--groups", 100)?;
    let seconds = arg("--seconds", 20)?;
    let config = Config {
        heartbeat_interval: 500,
        election_timeout_min: 1_500,
        election_timeout_max: 3_000,
        ..Config::default()
    };
    println!("starting 3 nodes x {groups} groups (heartbeat 500 ms) ...");
    let cluster = LocalCluster::start(3, (1..=groups).collect(), config).await?;
    for group in 1..=groups {
        cluster.leader(group).await?;
    }
    // Let elections and the first heartbeats settle before measuring.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (cpu_start, wall_start) = (cpu_seconds()?, Instant::now());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let cpu = cpu_seconds()? - cpu_start;
    let wall = wall_start.elapsed().as_secs_f64();
    let per_node = 100.0 * cpu / wall / 3.0;
    println!("idle for {wall:.1} s: {cpu:.2} CPU-seconds for 3 nodes x {groups} groups");
    println!("per node: {per_node:.2}% of one core (target: under 5%)");
    cluster.shutdown().await?;
    Ok(())
}
