//! A cluster of real `boxofficed` processes on loopback for integration tests: each node its own
//! process, RocksDB directory and ports; kill -9, restart, and audit of every replica.
#![allow(dead_code)] // each test binary uses part of the harness

mod restore;
pub mod sales;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use boxoffice_client::{proto, Client, ClientOptions};
use boxoffice_node::raft::transport::pb::raft_transport_client::RaftTransportClient;

/// This process's wall clock, in milliseconds since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// `spec` on sale from time 0 until a day from now, starting an hour later.
pub fn on_sale_for_a_day(
    mut spec: boxoffice_statemachine::EventSpec,
) -> boxoffice_statemachine::EventSpec {
    spec.on_sale_at_ms = 0;
    spec.off_sale_at_ms = now_ms() + 24 * 3_600_000;
    spec.starts_at_ms = spec.off_sale_at_ms + 3_600_000;
    spec
}

/// Creates `spec` through `client`, which must accept it; returns the event's group.
pub async fn create_event(client: &Client, spec: &boxoffice_statemachine::EventSpec) -> u64 {
    let decided = client
        .create_event(&client.new_request_id(), spec, false)
        .await
        .expect("create the event");
    assert!(decided.outcome.rejection().is_none(), "{decided:?}");
    decided.group
}

/// Raft timings fit for a loopback cluster under test.
const RAFT: &str = r#"
[raft]
heartbeat_ms = 100
election_timeout_min_ms = 400
election_timeout_max_ms = 800
"#;

/// The HTTP gateway's API keys in every test cluster.
pub const APP_KEY: &str = "test-app-key";
pub const ADMIN_KEY: &str = "test-admin-key";
const HTTP: &str = "[waiting_room]\nsecret = \"test-waiting-room-secret\"\nadmit_every_ms = 200\n[http]\napp_keys = [\"test-app-key\"]\nadmin_keys = [\"test-admin-key\"]\n";

/// Tests drive many buyers from one loopback address: lift the per-address rate unless a test sets
/// its own.
const ADDRESS_RATE: &str =
    "requests_per_s_per_address = 1000000\nrequest_burst_per_address = 1000000\n";

/// One node: its process (when running), ports and directory.
pub struct TestNode {
    pub id: u64,
    pub grpc: String,
    pub http: String,
    config: PathBuf,
    child: Option<Child>,
}

/// N `boxofficed` processes bootstrapped into one cluster.
pub struct ProcessCluster {
    pub nodes: BTreeMap<u64, TestNode>,
    dir: tempfile::TempDir,
    snapshot_after_entries: u64,
    extra: String,
}

/// A loopback port free now and never handed out before by this test process: the clusters of
/// tests running at once must not be given one port twice (the OS may offer a released port again).
fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<BTreeSet<u16>> = std::sync::Mutex::new(BTreeSet::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        if given.insert(port) {
            return port;
        }
    }
}

impl ProcessCluster {
    /// Starts `n` nodes with `data_groups` data groups; `snapshot_after_entries` sets how often
    /// groups snapshot (and purge their logs, keeping at most that many entries, up to 1,000).
    pub async fn start(n: u64, data_groups: u32, snapshot_after_entries: u64) -> ProcessCluster {
        Self::start_with(n, data_groups, snapshot_after_entries, "").await
    }

    /// [`ProcessCluster::start`] with `extra` TOML appended to every node's configuration, after
    /// its `[http]` table (so bare keys are `[http]` keys).
    pub async fn start_with(
        n: u64,
        data_groups: u32,
        snapshot_after_entries: u64,
        extra: &str,
    ) -> ProcessCluster {
        let mut cluster = ProcessCluster {
            nodes: BTreeMap::new(),
            dir: tempfile::tempdir().expect("a temporary directory"),
            snapshot_after_entries,
            extra: extra.to_owned(),
        };
        for id in 1..=n {
            cluster.configure(id, &[]);
            cluster.restart(id).await;
        }
        let members = cluster
            .nodes
            .values()
            .map(|n| proto::NodeInfo {
                node_id: n.id,
                grpc_address: n.grpc.clone(),
                http_address: n.http.clone(),
                ..proto::NodeInfo::default()
            })
            .collect();
        cluster
            .client()
            .bootstrap(members, data_groups)
            .await
            .expect("bootstrap");
        cluster.wait_ready(Duration::from_secs(30)).await;
        cluster
    }

    /// Writes node `id`'s configuration (joining through `join`, if any) and records its ports.
    fn configure(&mut self, id: u64, join: &[String]) {
        let grpc = format!("127.0.0.1:{}", free_port());
        let http = format!("127.0.0.1:{}", free_port());
        let data = self.dir.path().join(format!("node-{id}"));
        let config = self.dir.path().join(format!("node-{id}.toml"));
        let extra = &self.extra;
        let text = format!(
            "node_id = {id}\ndata_dir = {data:?}\ngrpc_listen = {grpc:?}\nhttp_listen = {http:?}\njoin = {join:?}\n{RAFT}snapshot_after_entries = {snapshot}\nlog_kept_after_snapshot_entries = {kept}\n{HTTP}{rates}{extra}\n",
            snapshot = self.snapshot_after_entries,
            // At most one snapshot interval of log stays behind a snapshot: a replica that far
            // behind (a new one, say) catches up from a snapshot.
            kept = self.snapshot_after_entries.min(1_000),
            rates = if extra.contains("per_address") { "" } else { ADDRESS_RATE },
        );
        std::fs::write(&config, text).expect("write a node config");
        self.nodes.insert(
            id,
            TestNode {
                id,
                grpc,
                http,
                config,
                child: None,
            },
        );
    }

    /// Starts a new node `id` that joins the cluster through the running nodes (`--join`).
    pub async fn add_node(&mut self, id: u64) {
        assert!(!self.nodes.contains_key(&id), "node {id} exists");
        let join: Vec<String> = self
            .running()
            .iter()
            .map(|n| self.nodes[n].grpc.clone())
            .collect();
        self.configure(id, &join);
        self.restart(id).await;
    }

    /// A client over every node.
    pub fn client(&self) -> Client {
        self.client_with(
            Duration::from_secs(20),
            ClientOptions::default().attempt_timeout,
        )
    }

    /// A client over every node whose calls may take up to `deadline`, each attempt `attempt`.
    pub fn client_with(&self, deadline: Duration, attempt: Duration) -> Client {
        let options = ClientOptions {
            deadline,
            attempt_timeout: attempt,
            ..ClientOptions::default()
        };
        Client::connect(self.nodes.values().map(|n| n.grpc.clone()), options).expect("a client")
    }

    /// A client of node `id`'s Raft transport, as a peer node would call it.
    pub async fn raft_client(&self, id: u64) -> RaftTransportClient<tonic::transport::Channel> {
        RaftTransportClient::connect(format!("http://{}", self.nodes[&id].grpc))
            .await
            .expect("a connection to the node's Raft transport")
    }

    /// Starts node `id` (again), keeping its data, and waits for its port.
    pub async fn restart(&mut self, id: u64) {
        let node = self.nodes.get_mut(&id).expect("a known node");
        assert!(node.child.is_none(), "node {id} is running");
        // The node logs to stdout: both streams go to its log, kept across restarts.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("node-{id}.log")))
            .expect("a log file");
        let child = Command::new(env!("CARGO_BIN_EXE_boxofficed"))
            .arg("--config")
            .arg(&node.config)
            .env("BOXOFFICE_LOG", "info,openraft=warn")
            .stdout(log.try_clone().expect("a second handle on the log"))
            .stderr(log)
            .spawn()
            .expect("spawn boxofficed");
        node.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(&node.grpc).await.is_err() {
            assert!(Instant::now() < deadline, "node {id} never listened");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// kill -9 of node `id`.
    pub fn kill(&mut self, id: u64) {
        let node = self.nodes.get_mut(&id).expect("a known node");
        let mut child = node.child.take().expect("node is running");
        child.kill().expect("kill -9");
        child.wait().expect("reap");
    }

    /// Stops node `id` as an operator does (SIGTERM) and answers how long it took to exit; fails
    /// the test if it has not exited within `within`.
    pub fn stop(&mut self, id: u64, within: Duration) -> Duration {
        let node = self.nodes.get_mut(&id).expect("a known node");
        let mut child = node.child.take().expect("node is running");
        let began = Instant::now();
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM node {id}");
        loop {
            if child.try_wait().expect("poll the node").is_some() {
                return began.elapsed();
            }
            if began.elapsed() > within {
                child.kill().expect("kill -9");
                child.wait().expect("reap");
                panic!("node {id} still running {within:?} after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The running nodes.
    pub fn running(&self) -> Vec<u64> {
        self.nodes
            .values()
            .filter(|n| n.child.is_some())
            .map(|n| n.id)
            .collect()
    }

    /// Waits until every group, as the running nodes see them, has a leader.
    pub async fn wait_ready(&self, within: Duration) {
        let deadline = Instant::now() + within;
        let client = self.client();
        loop {
            if let Ok(status) = client.cluster_status().await {
                let led = status.groups.iter().all(|g| {
                    g.leader_id
                        .is_some_and(|leader| self.running().contains(&leader))
                });
                if status.bootstrapped && status.groups.len() > 1 && led {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "the cluster never became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The node leading `group`, as the running nodes report it.
    pub async fn leader_of(&self, group: u64) -> u64 {
        let client = self.client();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            for id in self.running() {
                let Ok(status) = client.cluster_status_at(&self.nodes[&id].grpc).await else {
                    continue;
                };
                let leader = status
                    .groups
                    .iter()
                    .find(|g| g.group == group)
                    .and_then(|g| g.leader_id);
                if let Some(leader) = leader.filter(|l| self.running().contains(l)) {
                    return leader;
                }
            }
            assert!(Instant::now() < deadline, "group {group} has no leader");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The leader of `group` once it is the group's preferred replica (the leader balancer has
    /// nothing left to move), so it stays put for the rest of the test.
    pub async fn settled_leader(&self, group: u64) -> u64 {
        let client = self.client();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let leader = self.leader_of(group).await;
            let status = client
                .cluster_status_at(&self.nodes[&leader].grpc)
                .await
                .expect("cluster status");
            let placement = status
                .groups
                .iter()
                .find(|g| g.group == group)
                .expect("the group is in the map");
            if placement.replicas.first() == Some(&leader) && placement.leader_id == Some(leader) {
                return leader;
            }
            assert!(Instant::now() < deadline, "group {group} never settled");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until every running node reports each group it holds a replica of as quiet (idle,
    /// not ticking); returns how long that took.
    pub async fn wait_quiet(&self, within: Duration) -> Duration {
        let started = Instant::now();
        let client = self.client();
        loop {
            let mut quiet = true;
            for id in self.running() {
                match client.cluster_status_at(&self.nodes[&id].grpc).await {
                    Ok(status) => {
                        quiet &= status
                            .groups
                            .iter()
                            .filter(|g| g.replicas.contains(&id))
                            .all(|g| g.quiet);
                    }
                    Err(_) => quiet = false,
                }
            }
            if quiet {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < within,
                "groups did not go quiet within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every running replica of `group` (every running node for group 0) passes the
    /// invariant audit and all report one state hash at one applied index; returns an audit.
    pub async fn converged(&self, group: u64) -> proto::AuditReply {
        self.converged_within(group, Duration::from_secs(30)).await
    }

    /// [`ProcessCluster::converged`], waiting up to `within` (a large state audits slowly in a
    /// debug build).
    pub async fn converged_within(&self, group: u64, within: Duration) -> proto::AuditReply {
        let client = self.client_with(within, within);
        let deadline = Instant::now() + within;
        loop {
            // All at once, so that a group still applying is seen by each replica at one moment.
            let replicas = client.cluster_status().await.ok().and_then(|status| {
                let info = status.groups.into_iter().find(|g| g.group == group)?;
                (group != 0).then_some(info.replicas)
            });
            let running: Vec<u64> = self
                .running()
                .into_iter()
                .filter(|id| replicas.as_ref().is_none_or(|r| r.contains(id)))
                .collect();
            let answers = futures_util::future::join_all(
                running
                    .iter()
                    .map(|id| client.audit_replica(&self.nodes[id].grpc, group)),
            )
            .await;
            let mut audits = Vec::new();
            for (id, answer) in running.iter().zip(answers) {
                if let Ok(audit) = answer {
                    assert!(
                        audit.violation.is_empty(),
                        "node {id} group {group}: {}",
                        audit.violation
                    );
                    audits.push(audit);
                }
            }
            let states: BTreeSet<(u64, String)> = audits
                .iter()
                .map(|a| (a.applied_index, a.state_hash.clone()))
                .collect();
            if audits.len() == running.len() && states.len() == 1 {
                return audits.remove(0);
            }
            assert!(
                Instant::now() < deadline,
                "group {group} did not converge: {states:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Node `id`'s log, for failure messages.
    pub fn log(&self, id: u64) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("node-{id}.log"))).unwrap_or_default()
    }
}

/// How much of each node's log a failing test prints.
const FAILURE_LOG_LINES: usize = 80;

impl Drop for ProcessCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A failing test shows what each node last said; its directory is kept for the rest.
            for id in self.nodes.keys() {
                let log = self.log(*id);
                let lines: Vec<&str> = log.lines().collect();
                let tail = &lines[lines.len().saturating_sub(FAILURE_LOG_LINES)..];
                eprintln!(
                    "--- node {id}, last {} log lines ---\n{}",
                    tail.len(),
                    tail.join("\n")
                );
            }
            self.dir.disable_cleanup(true);
            eprintln!(
                "--- nodes' directories kept in {} ---",
                self.dir.path().display()
            );
        }
        for node in self.nodes.values_mut() {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
