//! One run from start to verdict: build the network, start and bootstrap the nodes, put the events
//! on sale, run the buyers while the nemesis follows its schedule, heal, let the cluster recover,
//! read the final state, audit every replica, tear everything down, then check and report.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::checker::{self, Status, Verdict};
use crate::cluster::{Cluster, ClusterOptions};
use crate::history::Catalog;
use crate::nemesis::{self, Nemesis, Schedule, CLOCK_SKEW_MS_MAX};
use crate::net::Network;
use crate::report::{self, Summary};
use crate::workload::{self, Recorder, WorkloadOptions};

/// Extra room, beyond clock offsets, for a hold to expire before invoke + TTL (ms).
const EXPIRY_MARGIN_MS: u64 = 1_000;
/// How long every group may take to have a leader again after the heal.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// How long the final reads may keep retrying.
const FINAL_READS_WITHIN: Duration = Duration::from_secs(30);
/// How long the replicas may take to reach the same applied index before they are audited.
const CONVERGENCE_WITHIN: Duration = Duration::from_secs(30);
/// The checkers whose violations mean a seat was sold wrongly or a purchase lost (the ones an
/// unsafe build must trip).
pub const SAFETY_CHECKERS: [&str; 5] = [
    "no-oversell",
    "no-lost-buy",
    "hold-semantics",
    "linearizable",
    "conservation",
];

/// Everything one run needs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub name: String,
    pub nodes: u64,
    pub nemeses: Vec<Nemesis>,
    pub seed: u64,
    /// Faults are scheduled during this time from the start.
    pub faults_for: Duration,
    /// Quiet time before and between faults.
    pub quiet: Duration,
    /// How long each fault lasts.
    pub fault: Duration,
    /// After the final heal, the buyers go on this long.
    pub recovery: Duration,
    /// After the heal, operations must be answered again within this bound.
    pub recovery_bound: Duration,
    pub linearizability_budget: Duration,
    pub workload: WorkloadOptions,
    pub cluster: ClusterOptions,
    /// The run directory is created under this one.
    pub out: PathBuf,
    /// Names the network's namespaces and interfaces (at most 4 characters).
    pub net_prefix: String,
    pub subnet: [u8; 3],
    /// Keep the nodes' RocksDB directories of a run without violations (a run with one keeps
    /// them always).
    pub keep_data: bool,
}

/// A finished run: its directory and summary.
#[derive(Debug)]
pub struct Finished {
    pub dir: PathBuf,
    pub summary: Summary,
}

/// Runs the cluster under the nemesis and checks the history.
pub async fn run(options: RunOptions) -> anyhow::Result<Finished> {
    Network::preflight()?;
    let started = Instant::now();
    let dir = options.out.join(&options.name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let schedule = Schedule::new(
        options.seed,
        &options.nemeses,
        options.quiet,
        options.fault,
        options.faults_for,
    );
    println!("run {} in {}", options.name, dir.display());
    print!("{}", schedule.describe());
    std::fs::write(
        dir.join("schedule.json"),
        serde_json::to_string_pretty(&schedule)?,
    )?;

    let mut network = Network::create(&options.net_prefix, options.subnet, options.nodes)?;
    let mut cluster = Cluster::start(&network, &dir, options.cluster.clone()).await?;
    println!("cluster of {} nodes up", options.nodes);

    let specs = workload::event_specs("jepsen", &options.workload);
    let events = workload::create_events(cluster.admin(), &specs).await?;
    let skewed = schedule
        .steps
        .iter()
        .any(|s| s.nemesis == Nemesis::ClockSkew);
    let catalog = Catalog {
        events: events.clone(),
        expiry_slack_ms: if skewed {
            2 * CLOCK_SKEW_MS_MAX.unsigned_abs() + EXPIRY_MARGIN_MS
        } else {
            EXPIRY_MARGIN_MS
        },
        seed: options.seed,
        nodes: options.nodes as u32,
    };
    let recorder = Recorder::new(catalog);
    let endpoints: Vec<(u64, String)> = cluster
        .ids()
        .into_iter()
        .map(|id| (id, cluster.grpc(id).to_string()))
        .collect();
    let buyers = workload::start_buyers(
        recorder.clone(),
        events.clone(),
        &specs,
        &endpoints,
        options.workload.clone(),
        options.seed,
    )?;

    let election = Duration::from_millis(options.cluster.election_timeout_max_ms);
    let mut exits = Vec::new();
    for step in &schedule.steps {
        sleep_until(&recorder, step.start_ms).await;
        let name = step.nemesis.name();
        recorder.fault(name, true, String::from("starting"));
        let (active, detail) = nemesis::start(step, &mut network, &mut cluster, election)
            .await
            .with_context(|| format!("starting {name}"))?;
        println!("{:>6.1}s  {name}: {detail}", recorder.now_ns() as f64 / 1e9);
        sleep_until(&recorder, step.heal_ms).await;
        exits.extend(cluster.exited_on_their_own());
        nemesis::heal(active, &mut network, &mut cluster)
            .await
            .with_context(|| format!("healing {name}"))?;
        recorder.fault(name, false, detail);
    }
    sleep_until(&recorder, options.faults_for.as_millis() as u64).await;
    network.heal()?;
    exits.extend(cluster.exited_on_their_own());
    cluster.restore().await?;
    println!(
        "{:>6.1}s  healed; recovering for {:?}",
        recorder.now_ns() as f64 / 1e9,
        options.recovery
    );
    tokio::time::sleep(options.recovery).await;
    buyers.stop().await;

    cluster.wait_ready(READY_WITHIN).await?;
    workload::final_reads(
        &recorder,
        cluster.admin(),
        &events,
        &specs,
        options.workload.buyers,
        FINAL_READS_WITHIN,
    )
    .await;
    let audits = cluster.audits(CONVERGENCE_WITHIN).await?;
    let replicas = cluster.replicas().await?;
    exits.extend(cluster.exited_on_their_own());
    cluster.teardown();
    network.teardown();

    let history = recorder.snapshot();
    let mut file = std::io::BufWriter::new(std::fs::File::create(dir.join("history.jsonl"))?);
    history.write_jsonl(&mut file)?;
    drop(file);
    std::fs::write(
        dir.join("audits.json"),
        serde_json::to_string_pretty(&audits)?,
    )?;

    let (mut verdicts, unavailability) = checker::check_all(
        &history,
        &audits,
        &replicas,
        options.recovery_bound,
        options.linearizability_budget,
    );
    let mut crashes = Verdict::new("no-crash");
    for exit in &exits {
        crashes.problem(exit.clone());
    }
    verdicts.push(crashes.checked(format!("{} nodes", options.nodes)));
    let operations = history.operations().unwrap_or_default();
    if let Err(e) = report::plot(&history, &operations, &dir.join("plot.png")) {
        eprintln!("no plot: {e}");
    }
    let summary = Summary {
        run: options.name.clone(),
        seed: options.seed,
        nodes: options.nodes as u32,
        nemeses: options
            .nemeses
            .iter()
            .map(|n| n.name().to_string())
            .collect(),
        unsafe_local_reads: options.cluster.unsafe_local_reads,
        duration_s: started.elapsed().as_secs_f64(),
        operations: report::operation_counts(&operations),
        faults: schedule.steps.len(),
        valid: verdicts.iter().all(|v| v.status != Status::Invalid),
        verdicts,
        unavailability,
    };
    summary.write(&dir)?;
    if summary.valid && !options.keep_data {
        for id in 1..=options.nodes {
            let data = dir.join(format!("node-{id}"));
            if let Err(e) = std::fs::remove_dir_all(&data) {
                eprintln!("could not remove {}: {e}", data.display());
            }
        }
    }
    print!("{}", summary.text());
    Ok(Finished { dir, summary })
}

async fn sleep_until(recorder: &Recorder, at_ms: u64) {
    let at = recorder.started() + Duration::from_millis(at_ms);
    tokio::time::sleep_until(at.into()).await;
}
