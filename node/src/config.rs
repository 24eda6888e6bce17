//! The node's configuration: a TOML file, overridden by `BOXOFFICE_*` environment variables, then by
//! command-line flags. Unknown keys and invalid values are refused with a message naming them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Parser, ValueEnum};
use serde::{Deserialize, Serialize};

/// Shortest API key accepted, in bytes.
pub const API_KEY_BYTES_MIN: usize = 8;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Raft timings, in milliseconds. Each group ticks on its own, so with hundreds of groups per
/// node the heartbeat must stay slow (BRIEF: 500-1000 ms), and on 2-core machines elections
/// must tolerate CPU starvation (>= 1 s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RaftTimings {
    pub heartbeat_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// Entries applied since the last snapshot that trigger a new one.
    pub snapshot_after_entries: u64,
    /// Log entries kept behind the latest snapshot (a follower this far behind catches up from
    /// the log; further behind, or a new replica once they are purged, from a snapshot).
    pub log_kept_after_snapshot_entries: u64,
    /// Whether idle groups stop ticking, vouched for by one node heartbeat per peer pair.
    pub quiesce: bool,
    /// How long a group's log must be still before it goes quiet.
    pub quiesce_after_ms: u64,
}

impl Default for RaftTimings {
    fn default() -> Self {
        RaftTimings {
            heartbeat_ms: 500,
            election_timeout_min_ms: 1_500,
            election_timeout_max_ms: 3_000,
            snapshot_after_entries: 50_000,
            log_kept_after_snapshot_entries: 1_000,
            quiesce: true,
            quiesce_after_ms: 2_000,
        }
    }
}

/// Bounds on what the node accepts and keeps in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeLimits {
    /// Largest request the gRPC or HTTP API accepts, in bytes.
    pub request_bytes_max: usize,
    /// Requests a node works on at once; more are refused as overloaded.
    pub in_flight_requests_max: usize,
    /// Largest batch of commands proposed as one Raft entry, in bytes.
    pub batch_bytes_max: usize,
    /// Largest snapshot chunk sent to a catching-up replica, in bytes.
    pub snapshot_chunk_bytes_max: usize,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            request_bytes_max: 4 * 1024 * 1024,
            in_flight_requests_max: 10_000,
            batch_bytes_max: 1024 * 1024,
            snapshot_chunk_bytes_max: 1024 * 1024,
        }
    }
}

/// The HTTP gateway: API keys by role and the bounds that shed load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Keys of role `app` (customer operations on behalf of a `user_id`).
    pub app_keys: Vec<String>,
    /// Keys of role `admin` (everything).
    pub admin_keys: Vec<String>,
    /// Requests the gateway works on at once; more get 503 with Retry-After.
    pub in_flight_requests_max: usize,
    /// Sustained requests per second per API key (an application server); more get 429.
    pub requests_per_s_per_key: u32,
    /// Requests an API key may send in a burst above its rate.
    pub request_burst_per_key: u32,
    /// Sustained requests per second per address without a key (browsers, bots); more get 429.
    pub requests_per_s_per_address: u32,
    /// Requests an address may send in a burst above its rate.
    pub request_burst_per_address: u32,
    /// Clients whose rate the gateway tracks at once.
    pub rate_limited_clients_max: usize,
    /// Largest request body, in bytes.
    pub body_bytes_max: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            app_keys: Vec::new(),
            admin_keys: Vec::new(),
            in_flight_requests_max: 4_096,
            requests_per_s_per_key: 50_000,
            request_burst_per_key: 100_000,
            requests_per_s_per_address: 50,
            request_burst_per_address: 200,
            rate_limited_clients_max: 100_000,
            body_bytes_max: 1024 * 1024,
        }
    }
}

/// The waiting room of gated events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WaitingRoomConfig {
    /// The same on every node: signs queue and access tokens and keys the pre-sale shuffle. Empty:
    /// gated events cannot be joined through this node.
    pub secret: String,
    /// How often a group's leader admits the next customers of its gated events, in milliseconds.
    pub admit_every_ms: u64,
}

impl Default for WaitingRoomConfig {
    fn default() -> Self {
        WaitingRoomConfig {
            secret: String::new(),
            admit_every_ms: 1_000,
        }
    }
}

/// Shortest waiting-room secret accepted, in bytes.
pub const WAITING_ROOM_SECRET_BYTES_MIN: usize = 16;

/// Test-only hooks for fault injection (the Jepsen harness). Both are off by default and must stay
/// off in production: one lets any caller move the node's clock, the other breaks linearizability
/// on purpose.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TestingConfig {
    /// Test only: serve the `SetClockOffset` RPC, which shifts this node's wall clock (the one that
    /// stamps commands, drives expiry sweeps and admissions, and the gateway's now). Off: the RPC
    /// is refused with `TESTING_DISABLED`.
    pub clock_offset_control: bool,
    /// Test only, UNSAFE: answer every read asked as linearizable from this node's own replica,
    /// without the read-index round or any leadership check, while still reporting it as
    /// linearizable. A follower or a deposed leader answers stale data: this exists to prove the
    /// Jepsen checkers can fail.
    pub unsafe_local_reads: bool,
}

/// Everything a node needs to start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// This node's id in the cluster, from 1.
    pub node_id: u64,
    /// Where the node's RocksDB and logs live.
    pub data_dir: PathBuf,
    pub grpc_listen: SocketAddr,
    /// Address peers and clients use for gRPC; defaults to `grpc_listen`.
    pub grpc_advertise: Option<String>,
    pub http_listen: SocketAddr,
    /// Address browsers and the gateway of other nodes use; defaults to `http_listen`.
    pub http_advertise: Option<String>,
    /// gRPC addresses of existing members to join through; empty for the first node of a cluster.
    pub join: Vec<String>,
    pub raft: RaftTimings,
    pub limits: NodeLimits,
    pub http: HttpConfig,
    pub waiting_room: WaitingRoomConfig,
    /// Test-only hooks, off by default.
    pub testing: TestingConfig,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            node_id: 1,
            data_dir: PathBuf::from("./.boxoffice/node-1"),
            grpc_listen: SocketAddr::from(([127, 0, 0, 1], 7081)),
            grpc_advertise: None,
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            http_advertise: None,
            join: Vec::new(),
            raft: RaftTimings::default(),
            limits: NodeLimits::default(),
            http: HttpConfig::default(),
            waiting_room: WaitingRoomConfig::default(),
            testing: TestingConfig::default(),
        }
    }
}

/// Command-line flags; each may also come from its `BOXOFFICE_*` environment variable.
#[derive(Debug, Default, Parser)]
#[command(name = "boxofficed", version, about = "A Boxoffice replica node")]
pub struct Flags {
    /// TOML configuration file.
    #[arg(long, env = "BOXOFFICE_CONFIG")]
    pub config: Option<PathBuf>,
    #[arg(long, env = "BOXOFFICE_NODE_ID")]
    pub node_id: Option<u64>,
    #[arg(long, env = "BOXOFFICE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    #[arg(long, env = "BOXOFFICE_GRPC_LISTEN")]
    pub grpc_listen: Option<SocketAddr>,
    #[arg(long, env = "BOXOFFICE_GRPC_ADVERTISE")]
    pub grpc_advertise: Option<String>,
    #[arg(long, env = "BOXOFFICE_HTTP_LISTEN")]
    pub http_listen: Option<SocketAddr>,
    #[arg(long, env = "BOXOFFICE_HTTP_ADVERTISE")]
    pub http_advertise: Option<String>,
    /// gRPC address of a member to join through (repeat, or comma-separate in the variable).
    #[arg(long, env = "BOXOFFICE_JOIN", value_delimiter = ',')]
    pub join: Vec<String>,
    #[arg(long, env = "BOXOFFICE_HEARTBEAT_MS")]
    pub heartbeat_ms: Option<u64>,
    #[arg(long, env = "BOXOFFICE_ELECTION_TIMEOUT_MIN_MS")]
    pub election_timeout_min_ms: Option<u64>,
    #[arg(long, env = "BOXOFFICE_ELECTION_TIMEOUT_MAX_MS")]
    pub election_timeout_max_ms: Option<u64>,
    /// API keys of role `app` (comma-separated in the variable).
    #[arg(long, env = "BOXOFFICE_APP_KEYS", value_delimiter = ',')]
    pub app_keys: Vec<String>,
    /// API keys of role `admin` (comma-separated in the variable).
    #[arg(long, env = "BOXOFFICE_ADMIN_KEYS", value_delimiter = ',')]
    pub admin_keys: Vec<String>,
    /// The waiting room's secret, the same on every node.
    #[arg(long, env = "BOXOFFICE_WAITING_ROOM_SECRET", hide_env_values = true)]
    pub waiting_room_secret: Option<String>,
    /// Whether idle groups stop ticking (`true` or `false`).
    #[arg(long, env = "BOXOFFICE_QUIESCE")]
    pub quiesce: Option<bool>,
    /// Validate the configuration, print it as TOML and exit.
    #[arg(long)]
    pub check_config: bool,
    /// Print the HTTP gateway's OpenAPI document and exit.
    #[arg(long)]
    pub print_openapi: bool,
    /// How log lines are written to stdout: `text`, or `json` (one object a line, span fields
    /// such as a command's request id included).
    #[arg(long, env = "BOXOFFICE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Instead of running the node: `restore` a backup into its data directory.
    #[command(subcommand)]
    pub command: Option<crate::backup::NodeCommand>,
}

/// The format of the node's log lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl NodeConfig {
    /// Reads a TOML configuration; keys not listed in [`NodeConfig`] are refused.
    pub fn from_file(path: &Path) -> Result<NodeConfig, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: shown,
            message: e.to_string(),
        })
    }

    /// The file named by the flags (or defaults), with the flags and variables on top, validated.
    pub fn load(flags: &Flags) -> Result<NodeConfig, ConfigError> {
        let mut config = match &flags.config {
            Some(path) => NodeConfig::from_file(path)?,
            None => NodeConfig::default(),
        };
        config.apply(flags);
        config.validate()?;
        Ok(config)
    }

    fn apply(&mut self, flags: &Flags) {
        fn set<T: Clone>(slot: &mut T, value: &Option<T>) {
            if let Some(value) = value {
                *slot = value.clone();
            }
        }
        set(&mut self.node_id, &flags.node_id);
        set(&mut self.data_dir, &flags.data_dir);
        set(&mut self.grpc_listen, &flags.grpc_listen);
        set(&mut self.http_listen, &flags.http_listen);
        if flags.grpc_advertise.is_some() {
            self.grpc_advertise.clone_from(&flags.grpc_advertise);
        }
        if flags.http_advertise.is_some() {
            self.http_advertise.clone_from(&flags.http_advertise);
        }
        if !flags.join.is_empty() {
            self.join.clone_from(&flags.join);
        }
        set(&mut self.raft.heartbeat_ms, &flags.heartbeat_ms);
        set(
            &mut self.raft.election_timeout_min_ms,
            &flags.election_timeout_min_ms,
        );
        set(
            &mut self.raft.election_timeout_max_ms,
            &flags.election_timeout_max_ms,
        );
        set(&mut self.raft.quiesce, &flags.quiesce);
        set(&mut self.waiting_room.secret, &flags.waiting_room_secret);
        if !flags.app_keys.is_empty() {
            self.http.app_keys.clone_from(&flags.app_keys);
        }
        if !flags.admin_keys.is_empty() {
            self.http.admin_keys.clone_from(&flags.admin_keys);
        }
    }

    /// Refuses values the node cannot run with, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(message));
        let raft = &self.raft;
        if self.node_id == 0 {
            return invalid("node_id must be at least 1".into());
        }
        if self.data_dir.as_os_str().is_empty() {
            return invalid("data_dir must not be empty".into());
        }
        if self.grpc_listen == self.http_listen {
            return invalid(format!(
                "grpc_listen and http_listen are both {}",
                self.grpc_listen
            ));
        }
        if raft.heartbeat_ms == 0 {
            return invalid("raft.heartbeat_ms must be at least 1".into());
        }
        if raft.election_timeout_min_ms <= 2 * raft.heartbeat_ms {
            return invalid(format!(
                "raft.election_timeout_min_ms ({}) must exceed twice raft.heartbeat_ms ({})",
                raft.election_timeout_min_ms, raft.heartbeat_ms
            ));
        }
        if raft.election_timeout_max_ms <= raft.election_timeout_min_ms {
            return invalid(
                "raft.election_timeout_max_ms must exceed raft.election_timeout_min_ms".into(),
            );
        }
        if raft.quiesce_after_ms < raft.heartbeat_ms {
            return invalid(format!(
                "raft.quiesce_after_ms ({}) must be at least raft.heartbeat_ms ({})",
                raft.quiesce_after_ms, raft.heartbeat_ms
            ));
        }
        if raft.snapshot_after_entries == 0 {
            return invalid("raft.snapshot_after_entries must be at least 1".into());
        }
        let limits = [
            ("limits.request_bytes_max", self.limits.request_bytes_max),
            (
                "limits.in_flight_requests_max",
                self.limits.in_flight_requests_max,
            ),
            ("limits.batch_bytes_max", self.limits.batch_bytes_max),
            (
                "limits.snapshot_chunk_bytes_max",
                self.limits.snapshot_chunk_bytes_max,
            ),
        ];
        if let Some((name, _)) = limits.iter().find(|(_, value)| *value == 0) {
            return invalid(format!("{name} must be at least 1"));
        }
        let http = &self.http;
        let http_limits = [
            ("http.in_flight_requests_max", http.in_flight_requests_max),
            (
                "http.rate_limited_clients_max",
                http.rate_limited_clients_max,
            ),
            ("http.body_bytes_max", http.body_bytes_max),
            (
                "http.request_burst_per_key",
                http.request_burst_per_key as usize,
            ),
            (
                "http.request_burst_per_address",
                http.request_burst_per_address as usize,
            ),
        ];
        if let Some((name, _)) = http_limits.iter().find(|(_, value)| *value == 0) {
            return invalid(format!("{name} must be at least 1"));
        }
        let keys = http.app_keys.iter().chain(&http.admin_keys);
        if let Some(key) = keys
            .clone()
            .find(|k| k.len() < API_KEY_BYTES_MIN || k.contains(char::is_whitespace))
        {
            return invalid(format!(
                "API key {:?}...: keys need at least {API_KEY_BYTES_MIN} bytes and no spaces",
                key.chars().take(3).collect::<String>()
            ));
        }
        if let Some(key) = http.app_keys.iter().find(|k| http.admin_keys.contains(k)) {
            return invalid(format!(
                "API key {:?}... is both an app and an admin key",
                key.chars().take(3).collect::<String>()
            ));
        }
        let room = &self.waiting_room;
        if !room.secret.is_empty() && room.secret.len() < WAITING_ROOM_SECRET_BYTES_MIN {
            return invalid(format!(
                "waiting_room.secret needs at least {WAITING_ROOM_SECRET_BYTES_MIN} bytes"
            ));
        }
        if room.admit_every_ms == 0 {
            return invalid("waiting_room.admit_every_ms must be at least 1".into());
        }
        if let Some(peer) = self.join.iter().find(|p| p.trim().is_empty()) {
            return invalid(format!("join lists an empty address {peer:?}"));
        }
        Ok(())
    }

    /// The configuration as TOML, as `--check-config` prints it.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a NodeConfig always serializes")
    }
}
