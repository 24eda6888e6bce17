//! The cluster subcommands of boxctl: bootstrap, wait-ready, status (with warnings), audit,
//! draining, adding and removing a node, moving an event to a group of its own.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use boxoffice_client::{proto, Client, ClientError};
use clap::Args;
use serde_json::{json, Value};

use crate::output::counts_text;
use crate::{Exit, Global};

/// A replica that lags its leader by more than this many entries is reported.
const LAG_WARN_ENTRIES: u64 = 1_000;

#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// An initial node: ID=GRPC_ADDR,HTTP_ADDR (repeat for each node).
    #[arg(long = "node", required = true, value_parser = boxoffice_client::parse_node_spec)]
    nodes: Vec<proto::NodeInfo>,
    /// Data groups to create.
    #[arg(long)]
    data_groups: u32,
}

#[derive(Debug, Args)]
pub struct NodeArg {
    /// The node's id.
    node_id: u64,
}

pub async fn set_draining(global: &Global, args: NodeArg, draining: bool) -> anyhow::Result<Exit> {
    let client = global.client()?;
    match client.set_node_draining(args.node_id, draining).await {
        Ok(reply) => {
            if global.json {
                println!(
                    "{}",
                    json!({ "node_id": args.node_id, "draining": reply.draining, "meta_index": reply.meta_index })
                );
            } else {
                let verb = if draining {
                    "draining"
                } else {
                    "no longer draining"
                };
                println!(
                    "node {} is {verb}; draining now: {:?} (meta index {})",
                    args.node_id, reply.draining, reply.meta_index
                );
            }
            Ok(Exit::Ok)
        }
        Err(ClientError::InvalidArgument(reason)) => {
            eprintln!("boxctl: refused: {reason}");
            Ok(Exit::Rejected)
        }
        Err(error) => Err(error).context("set the node's draining"),
    }
}

#[derive(Debug, Args)]
pub struct MoveEventArgs {
    /// Event id.
    event: String,
}

pub async fn move_event(global: &Global, args: MoveEventArgs) -> anyhow::Result<Exit> {
    let event = boxoffice_statemachine::EventId::new(args.event.clone())
        .map_err(|e| anyhow::anyhow!("event id {:?}: {e}", args.event))?;
    let client = global.client()?;
    match client.move_event(&event).await {
        Ok(reply) => {
            if global.json {
                println!(
                    "{}",
                    json!({ "event_id": event.to_string(), "from_group": reply.from_group, "to_group": reply.to_group, "meta_index": reply.meta_index })
                );
            } else {
                println!(
                    "event {event} moving from group {} to its own group {} (meta index {})",
                    reply.from_group, reply.to_group, reply.meta_index
                );
            }
            Ok(Exit::Ok)
        }
        Err(ClientError::InvalidArgument(reason)) => {
            eprintln!("boxctl: refused: {reason}");
            Ok(Exit::Rejected)
        }
        Err(error) => Err(error).context("move the event"),
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum NodeCommand {
    /// Adds a node: ID=GRPC_ADDR,HTTP_ADDR (a node started with --join adds itself the same way).
    Add {
        #[arg(value_parser = boxoffice_client::parse_node_spec)]
        node: proto::NodeInfo,
    },
    /// Starts removing a node: it drains, its replicas move to the others, then it is forgotten
    /// (`boxctl status` no longer lists it; then stop its process).
    Remove(NodeArg),
}

pub async fn change_nodes(global: &Global, command: NodeCommand) -> anyhow::Result<Exit> {
    let client = global.client()?;
    let (node_id, result) = match command {
        NodeCommand::Add { node } => {
            let node_id = node.node_id;
            let reply = client.add_node(node).await.map(|reply| {
                let text = if reply.added {
                    format!("node {node_id} added; replicas will move onto it")
                } else {
                    format!("node {node_id} was already in the cluster")
                };
                let json = json!({ "node_id": node_id, "added": reply.added, "meta_index": reply.meta_index });
                (text, json, reply.meta_index)
            });
            (node_id, reply)
        }
        NodeCommand::Remove(NodeArg { node_id }) => {
            let reply = client.remove_node(node_id).await.map(|reply| {
                let text = format!(
                    "node {node_id} is being removed; its replicas move away (removing now: {:?})",
                    reply.removing
                );
                let json = json!({ "node_id": node_id, "removing": reply.removing, "meta_index": reply.meta_index });
                (text, json, reply.meta_index)
            });
            (node_id, reply)
        }
    };
    match result {
        Ok((text, json, meta_index)) => {
            if global.json {
                println!("{json}");
            } else {
                println!("{text} (meta index {meta_index})");
            }
            Ok(Exit::Ok)
        }
        Err(ClientError::InvalidArgument(reason)) => {
            eprintln!("boxctl: refused: {reason}");
            Ok(Exit::Rejected)
        }
        Err(error) => Err(error).with_context(|| format!("change node {node_id}")),
    }
}

pub async fn bootstrap(global: &Global, args: BootstrapArgs) -> anyhow::Result<Exit> {
    let client = global.client()?;
    match client.bootstrap(args.nodes.clone(), args.data_groups).await {
        Ok(reply) => {
            if global.json {
                println!(
                    "{}",
                    json!({ "result": "bootstrapped", "meta_index": reply.meta_index, "data_groups": reply.data_groups })
                );
            } else {
                println!(
                    "bootstrapped: {} node(s), {} data group(s), meta index {}",
                    args.nodes.len(),
                    reply.data_groups,
                    reply.meta_index
                );
            }
            Ok(Exit::Ok)
        }
        Err(ClientError::AlreadyBootstrapped) => {
            if global.json {
                println!("{}", json!({ "result": "already_bootstrapped" }));
            } else {
                println!("already bootstrapped: the cluster exists (nothing changed)");
            }
            Ok(Exit::AlreadyBootstrapped)
        }
        Err(error) => Err(error).context("bootstrap failed"),
    }
}

#[derive(Debug, Args)]
pub struct WaitReadyArgs {
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout_s: u64,
    /// Also wait until every data group is led by the replica placed to lead it. A node that
    /// starts takes leaderships the balancer then hands over within seconds; a load started before
    /// that meets the handovers.
    #[arg(long)]
    balanced: bool,
}

/// Why a cluster is not ready yet (nor, with `balanced`, balanced), or None when it is: every node
/// is asked once, and the leader each group names must see itself as its leader.
async fn waiting_for(
    client: &Client,
    status: &proto::ClusterStatusReply,
    balanced: bool,
) -> Option<String> {
    if let Some(reason) = not_ready(status) {
        return Some(reason);
    }
    let view = match View::around(client, status.clone()).await {
        Ok(view) => view,
        Err(error) => return Some(error.to_string()),
    };
    if let Some(reason) = unconfirmed_leader(&view) {
        return Some(reason);
    }
    balanced.then(|| unbalanced(&view)).flatten()
}

/// Why a cluster is not ready yet, or None when it is.
fn not_ready(status: &proto::ClusterStatusReply) -> Option<String> {
    if !status.bootstrapped {
        return Some("not bootstrapped".into());
    }
    if status.groups.len() < 2 {
        return Some("no data groups yet".into());
    }
    let leaderless: Vec<String> = status
        .groups
        .iter()
        .filter(|g| g.leader_id.is_none())
        .map(|g| g.group.to_string())
        .collect();
    if leaderless.is_empty() {
        None
    } else {
        Some(format!(
            "{} of {} group(s) without a leader (groups {})",
            leaderless.len(),
            status.groups.len(),
            leaderless.join(",")
        ))
    }
}

/// Which data group, if any, is not led by the replica the leader balancer hands it to: the first
/// of its replicas that is neither draining nor giving its replica up. A node that does not answer
/// gets no leadership, so it is passed over as the balancer passes it over.
fn unbalanced(view: &View) -> Option<String> {
    let status = &view.base;
    let passed_over: Vec<u64> = status
        .nodes
        .iter()
        .filter(|node| node.draining || !view.reachable(node.node_id))
        .map(|node| node.node_id)
        .collect();
    led_elsewhere(status, &passed_over)
}

/// The first data group not led by its first replica outside `passed_over` that is not giving its
/// replica up.
fn led_elsewhere(status: &proto::ClusterStatusReply, passed_over: &[u64]) -> Option<String> {
    status.groups.iter().filter(|g| g.group != 0).find_map(|g| {
        let leaving = g.moving.as_ref().map(|m| m.from);
        let chosen = g
            .replicas
            .iter()
            .copied()
            .find(|node| !passed_over.contains(node) && leaving != Some(*node))?;
        (g.leader_id != Some(chosen)).then(|| {
            format!(
                "group {}: led by {:?}, to be led by node {chosen}",
                g.group, g.leader_id
            )
        })
    })
}

/// The first group whose named leader does not see itself as its leader (a restarted node may
/// still name the leader of before its restart), or None.
fn unconfirmed_leader(view: &View) -> Option<String> {
    view.base.groups.iter().find_map(|group| {
        let leader = group.leader_id?;
        let confirmed = view
            .per_node
            .get(&leader)
            .and_then(|answer| answer.as_ref().ok())
            .and_then(|own| own.groups.iter().find(|g| g.group == group.group))
            .is_some_and(|g| g.leader_id == Some(leader));
        (!confirmed).then(|| {
            format!(
                "group {}: node {leader} is named leader but does not confirm it yet",
                group.group
            )
        })
    })
}

pub async fn wait_ready(global: &Global, args: WaitReadyArgs) -> anyhow::Result<Exit> {
    let client = global.client()?;
    let started = Instant::now();
    let limit = Duration::from_secs(args.timeout_s);
    loop {
        let last = match client.cluster_status().await {
            Ok(status) => match waiting_for(&client, &status, args.balanced).await {
                None => {
                    if global.json {
                        println!(
                            "{}",
                            json!({ "result": "ready", "nodes": status.nodes.len(), "groups": status.groups.len(), "waited_ms": started.elapsed().as_millis() as u64 })
                        );
                    } else {
                        println!(
                            "ready: {} node(s), {} group(s) with leaders (waited {:.1} s)",
                            status.nodes.len(),
                            status.groups.len(),
                            started.elapsed().as_secs_f64()
                        );
                    }
                    return Ok(Exit::Ok);
                }
                Some(reason) => format!("node {}: {reason}", status.served_by),
            },
            Err(error) => error.to_string(),
        };
        if started.elapsed() >= limit {
            bail!(
                "the cluster was not ready after {} s: {last}",
                args.timeout_s
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The cluster as every node sees it.
struct View {
    /// The answer of the first node that answered (node list, placement).
    base: proto::ClusterStatusReply,
    /// Each node's own answer (None: unreachable), by node id.
    per_node: BTreeMap<u64, Result<proto::ClusterStatusReply, String>>,
}

impl View {
    async fn gather(client: &Client) -> anyhow::Result<View> {
        let base = client
            .cluster_status()
            .await
            .context("no node answered the cluster status")?;
        View::around(client, base).await
    }

    /// `base` with the answer of every node it lists.
    async fn around(client: &Client, base: proto::ClusterStatusReply) -> anyhow::Result<View> {
        let mut per_node = BTreeMap::new();
        let mut asks = Vec::new();
        for node in &base.nodes {
            let client = client.clone();
            let node = node.clone();
            asks.push(tokio::spawn(async move {
                let answer = client.cluster_status_at(&node.grpc_address).await;
                (node.node_id, answer.map_err(|e| e.to_string()))
            }));
        }
        for ask in asks {
            let (id, answer) = ask.await.context("status task failed")?;
            per_node.insert(id, answer);
        }
        Ok(View { base, per_node })
    }

    /// A group as its leader sees it (replica progress), else as the base node sees it. The base
    /// node knows the leaders of the groups it holds a replica of; for the others, the replicas
    /// are asked.
    fn leader_view(&self, group: &proto::GroupInfo) -> proto::GroupInfo {
        let leader = group.leader_id.or_else(|| {
            group
                .replicas
                .iter()
                .find_map(|&node| self.replica(node, group.group)?.leader_id)
        });
        leader
            .and_then(|leader| self.replica(leader, group.group))
            .cloned()
            .unwrap_or_else(|| group.clone())
    }

    /// Node `node`'s own view of `group`.
    fn replica(&self, node: u64, group: u64) -> Option<&proto::GroupInfo> {
        let status = self.per_node.get(&node)?.as_ref().ok()?;
        status.groups.iter().find(|g| g.group == group)
    }

    /// Node `node`'s own applied index of `group`.
    fn applied(&self, node: u64, group: u64) -> Option<u64> {
        self.replica(node, group)?.applied_index
    }

    /// How many of the groups node `node` holds a replica of are quiet there.
    fn quiet_groups(&self, node: u64) -> Option<usize> {
        let status = self.per_node.get(&node)?.as_ref().ok()?;
        Some(status.groups.iter().filter(|g| g.quiet).count())
    }

    fn reachable(&self, node: u64) -> bool {
        matches!(self.per_node.get(&node), Some(Ok(_)))
    }
}

/// Warnings about a cluster's health.
fn warnings(view: &View) -> Vec<String> {
    let mut warnings = Vec::new();
    let nodes = view.base.nodes.len().max(1);
    for node in &view.base.nodes {
        if let Some(Err(error)) = view.per_node.get(&node.node_id) {
            warnings.push(format!(
                "node {} ({}) is unreachable: {error}",
                node.node_id, node.grpc_address
            ));
        }
    }
    let mut led: HashMap<u64, usize> = HashMap::new();
    for group in &view.base.groups {
        let info = view.leader_view(group);
        match info.leader_id {
            None => warnings.push(format!("group {} has no leader", group.group)),
            Some(leader) => *led.entry(leader).or_default() += 1,
        }
        for replica in &info.replica_progress {
            if replica.lag_entries > LAG_WARN_ENTRIES {
                warnings.push(format!(
                    "group {}: replica on node {} lags by {} entries",
                    group.group, replica.node_id, replica.lag_entries
                ));
            }
        }
    }
    for group in &view.base.groups {
        if let Some(change) = group.moving {
            warnings.push(format!(
                "group {}: replica moving from node {} to node {}",
                group.group, change.from, change.to
            ));
        }
    }
    for node in view.base.nodes.iter().filter(|n| n.draining) {
        if let Some(count) = led.get(&node.node_id).filter(|&&count| count > 0) {
            warnings.push(format!(
                "node {} is draining but still leads {count} group(s)",
                node.node_id
            ));
        }
    }
    // Leaders can only be spread over the nodes that are up and not draining.
    let live = view
        .base
        .nodes
        .iter()
        .filter(|n| view.reachable(n.node_id) && !n.draining)
        .count()
        .clamp(1, nodes);
    let groups = view.base.groups.len();
    let fair = groups.div_ceil(live) + 1;
    let mut led: Vec<_> = led.into_iter().collect();
    led.sort_unstable();
    for (node, count) in led {
        if count > fair {
            warnings.push(format!(
                "unbalanced leaders: node {node} leads {count} of {groups} groups (more than {fair})"
            ));
        }
    }
    warnings
}

fn group_json(view: &View, group: &proto::GroupInfo) -> Value {
    let info = view.leader_view(group);
    let lag_max = info
        .replica_progress
        .iter()
        .map(|r| r.lag_entries)
        .max()
        .unwrap_or(0);
    json!({
        "group": group.group,
        "replicas": group.replicas,
        "leader_id": info.leader_id,
        "term": info.term,
        "commit_index": info.commit_index,
        "applied_index": group.replicas.iter().map(|&n| (n.to_string(), view.applied(n, group.group))).collect::<BTreeMap<_, _>>(),
        "quiet": group.replicas.iter().map(|&n| (n.to_string(), view.replica(n, group.group).map(|r| r.quiet))).collect::<BTreeMap<_, _>>(),
        "replica_progress": info.replica_progress.iter().map(|r| json!({
            "node_id": r.node_id, "matched_index": r.matched_index, "lag_entries": r.lag_entries,
        })).collect::<Vec<_>>(),
        "lag_max": lag_max,
        "events": group.events,
        "seats": group.seats,
        "dedicated_to": group.dedicated_to,
        "moving": group.moving.map(|m| json!({ "from": m.from, "to": m.to })),
        "snapshot_index": info.snapshot_index,
        "purged_index": info.purged_index,
    })
}

pub async fn status(global: &Global) -> anyhow::Result<Exit> {
    let client = global.client()?;
    let view = View::gather(&client).await?;
    let warnings = warnings(&view);
    let base = &view.base;
    if global.json {
        let out = json!({
            "served_by": base.served_by,
            "bootstrapped": base.bootstrapped,
            "meta_index": base.meta_index,
            "meta_leader_id": base.meta_leader_id,
            "nodes": base.nodes.iter().map(|n| json!({
                "node_id": n.node_id,
                "grpc_address": n.grpc_address,
                "http_address": n.http_address,
                "reachable": view.reachable(n.node_id),
                "draining": n.draining,
                "removing": n.removing,
                "leads": base.groups.iter().filter(|g| view.leader_view(g).leader_id == Some(n.node_id)).count(),
                "quiet_groups": view.quiet_groups(n.node_id),
            })).collect::<Vec<_>>(),
            "groups": base.groups.iter().map(|g| group_json(&view, g)).collect::<Vec<_>>(),
            "events": base.events.iter().map(|e| json!({ "event_id": e.event_id, "group": e.group, "moving_to": e.moving_to })).collect::<Vec<_>>(),
            "warnings": warnings,
        });
        println!("{out}");
        return Ok(Exit::Ok);
    }
    println!(
        "cluster: bootstrapped={} meta index {} meta leader {} (answered by node {})",
        base.bootstrapped,
        base.meta_index,
        base.meta_leader_id
            .map_or("none".to_string(), |l| l.to_string()),
        base.served_by
    );
    println!();
    println!(
        "{:<5} {:<22} {:<22} {:<14} {:>5} {:>6}",
        "NODE", "GRPC", "HTTP", "STATE", "LEADS", "QUIET"
    );
    for node in &base.nodes {
        let leads = base
            .groups
            .iter()
            .filter(|g| view.leader_view(g).leader_id == Some(node.node_id))
            .count();
        let state = match (view.reachable(node.node_id), node.draining, node.removing) {
            (true, _, true) => "up,removing",
            (false, _, true) => "DOWN,removing",
            (true, false, _) => "up",
            (true, true, _) => "up,draining",
            (false, false, _) => "UNREACHABLE",
            (false, true, _) => "DOWN,draining",
        };
        let quiet = view
            .quiet_groups(node.node_id)
            .map_or("?".to_string(), |q| q.to_string());
        println!(
            "{:<5} {:<22} {:<22} {:<14} {:>5} {:>6}",
            node.node_id, node.grpc_address, node.http_address, state, leads, quiet
        );
    }
    println!();
    println!(
        "{:<6} {:<10} {:<7} {:>5} {:>9} {:<32} {:>8} {:>6} {:>8}  DEDICATED",
        "GROUP",
        "REPLICAS",
        "LEADER",
        "TERM",
        "COMMIT",
        "APPLIED (node:index)",
        "LAG MAX",
        "EVENTS",
        "SEATS"
    );
    for group in &base.groups {
        let info = view.leader_view(group);
        let mut replicas: Vec<String> = group.replicas.iter().map(ToString::to_string).collect();
        if let Some(change) = group.moving {
            replicas.push(format!("({}>{})", change.from, change.to));
        }
        let applied: Vec<String> = group
            .replicas
            .iter()
            .map(|&n| {
                format!(
                    "{n}:{}",
                    view.applied(n, group.group)
                        .map_or("?".to_string(), |a| a.to_string())
                )
            })
            .collect();
        let lag = info
            .replica_progress
            .iter()
            .map(|r| r.lag_entries)
            .max()
            .unwrap_or(0);
        println!(
            "{:<6} {:<10} {:<7} {:>5} {:>9} {:<32} {:>8} {:>6} {:>8}  {}",
            group.group,
            replicas.join(","),
            info.leader_id.map_or("NONE".to_string(), |l| l.to_string()),
            info.term,
            info.commit_index.map_or("?".to_string(), |c| c.to_string()),
            applied.join(" "),
            lag,
            group.events,
            group.seats,
            group.dedicated_to.as_deref().unwrap_or("-")
        );
    }
    println!();
    if base.events.is_empty() {
        println!("events: none");
    } else {
        println!("{:<40} GROUP", "EVENT");
        for event in &base.events {
            match event.moving_to {
                Some(to) => println!("{:<40} {} (moving to {to})", event.event_id, event.group),
                None => println!("{:<40} {}", event.event_id, event.group),
            }
        }
    }
    println!();
    if warnings.is_empty() {
        println!("warnings: none");
    } else {
        println!("warnings:");
        for warning in &warnings {
            println!("  - {warning}");
        }
    }
    Ok(Exit::Ok)
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Audit only this group (default: every group).
    #[arg(long)]
    group: Option<u64>,
}

pub async fn audit(global: &Global, args: AuditArgs) -> anyhow::Result<Exit> {
    let client = global.client()?;
    let status = client
        .cluster_status()
        .await
        .context("no node answered the cluster status")?;
    let addresses: HashMap<u64, String> = status
        .nodes
        .iter()
        .map(|n| (n.node_id, n.grpc_address.clone()))
        .collect();
    let mut asks = Vec::new();
    for group in &status.groups {
        if args.group.is_some_and(|g| g != group.group) {
            continue;
        }
        for &node in &group.replicas {
            let client = client.clone();
            let address = addresses.get(&node).cloned().unwrap_or_default();
            let group = group.group;
            asks.push(tokio::spawn(async move {
                let answer = client.audit_replica(&address, group).await;
                (group, node, answer)
            }));
        }
    }
    if asks.is_empty() {
        bail!("no replica to audit (unknown group?)");
    }
    let mut rows = Vec::new();
    for ask in asks {
        rows.push(ask.await.context("audit task failed")?);
    }
    rows.sort_by_key(|(group, node, _)| (*group, *node));
    let mut problems = Vec::new();
    let mut unreachable = Vec::new();
    // group -> applied index -> (hash -> nodes)
    let mut hashes: BTreeMap<u64, BTreeMap<u64, BTreeMap<String, Vec<u64>>>> = BTreeMap::new();
    for (group, node, answer) in &rows {
        match answer {
            Ok(reply) => {
                if !reply.violation.is_empty() {
                    problems.push(format!(
                        "group {group} on node {node} violates an invariant: {}",
                        reply.violation
                    ));
                }
                hashes
                    .entry(*group)
                    .or_default()
                    .entry(reply.applied_index)
                    .or_default()
                    .entry(reply.state_hash.clone())
                    .or_default()
                    .push(*node);
            }
            Err(error) => unreachable.push(format!("group {group} on node {node}: {error}")),
        }
    }
    for (group, by_index) in &hashes {
        for (index, by_hash) in by_index {
            if by_hash.len() > 1 {
                let detail: Vec<String> = by_hash
                    .iter()
                    .map(|(hash, nodes)| format!("{hash} on nodes {nodes:?}"))
                    .collect();
                problems.push(format!(
                    "group {group}: replicas at applied index {index} disagree: {}",
                    detail.join("; ")
                ));
            }
        }
    }
    if global.json {
        let replicas: Vec<Value> = rows
            .iter()
            .map(|(group, node, answer)| match answer {
                Ok(r) => json!({
                    "group": group, "node_id": node, "applied_index": r.applied_index,
                    "state_hash": r.state_hash, "data_hash": r.data_hash, "violation": r.violation, "events": r.events,
                    "counts": crate::output::counts_json(r.counts.as_ref()),
                    "active_holds": r.active_holds, "confirmed_orders": r.confirmed_orders,
                }),
                Err(e) => json!({ "group": group, "node_id": node, "error": e.to_string() }),
            })
            .collect();
        println!(
            "{}",
            json!({ "ok": problems.is_empty(), "replicas": replicas, "problems": problems, "unreachable": unreachable })
        );
    } else {
        println!(
            "{:<6} {:<5} {:>9} {:<34} {:>6} {:>7} {:>7}  COUNTS / VIOLATION",
            "GROUP", "NODE", "APPLIED", "STATE HASH", "EVENTS", "HOLDS", "ORDERS"
        );
        for (group, node, answer) in &rows {
            match answer {
                Ok(r) => println!(
                    "{:<6} {:<5} {:>9} {:<34} {:>6} {:>7} {:>7}  {}",
                    group,
                    node,
                    r.applied_index,
                    r.state_hash,
                    r.events,
                    r.active_holds,
                    r.confirmed_orders,
                    if r.violation.is_empty() {
                        counts_text(r.counts.as_ref())
                    } else {
                        format!("VIOLATION: {}", r.violation)
                    }
                ),
                Err(e) => println!("{group:<6} {node:<5} unreachable: {e}"),
            }
        }
        println!();
        for line in &unreachable {
            println!("warning: not audited: {line}");
        }
        if problems.is_empty() {
            println!(
                "audit OK: {} replica(s) audited, no invariant violation, replicas at the same applied index agree",
                rows.len() - unreachable.len()
            );
        } else {
            for problem in &problems {
                println!("PROBLEM: {problem}");
            }
        }
    }
    Ok(if problems.is_empty() {
        Exit::Ok
    } else {
        Exit::Failed
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(group: u64, replicas: &[u64], leader: u64) -> proto::GroupInfo {
        proto::GroupInfo {
            group,
            replicas: replicas.to_vec(),
            leader_id: Some(leader),
            ..Default::default()
        }
    }

    fn status(groups: Vec<proto::GroupInfo>) -> proto::ClusterStatusReply {
        proto::ClusterStatusReply {
            groups,
            ..Default::default()
        }
    }

    #[test]
    fn a_cluster_is_balanced_when_each_data_group_is_led_by_its_first_replica() {
        let balanced = status(vec![
            group(0, &[1, 2, 3], 3),
            group(1, &[1, 2, 3], 1),
            group(2, &[2, 3, 1], 2),
        ]);
        assert_eq!(led_elsewhere(&balanced, &[]), None, "group 0 is not placed");
        let handed_over_late = status(vec![group(1, &[1, 2, 3], 1), group(2, &[2, 3, 1], 3)]);
        assert_eq!(
            led_elsewhere(&handed_over_late, &[]).as_deref(),
            Some("group 2: led by Some(3), to be led by node 2")
        );
    }

    #[test]
    fn nodes_passed_over_and_replicas_moving_away_are_not_waited_for() {
        let draining_two = status(vec![group(2, &[2, 3, 1], 3)]);
        assert_eq!(led_elsewhere(&draining_two, &[2]), None);
        let mut moving = group(2, &[2, 3, 1], 3);
        moving.moving = Some(proto::ReplicaMoveInfo { from: 2, to: 4 });
        assert_eq!(led_elsewhere(&status(vec![moving]), &[]), None);
        let nobody = status(vec![group(2, &[2], 1)]);
        assert_eq!(led_elsewhere(&nobody, &[2]), None, "no replica to wait for");
    }
}
