//! The test network: one Linux network namespace per node, joined by veth pairs to a bridge in the
//! host namespace, and partitions as iptables DROP rules in a chain of our own inside each node's
//! namespace. Everything created here is removed again by [`Network::teardown`] (also on drop).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

/// The chain every node's INPUT jumps to; partitions are rules in it.
pub const CHAIN: &str = "BOXOFFICE-JEPSEN";
/// Most nodes a test network has (addresses are `.11` to `.19`).
pub const NODES_MAX: u64 = 9;

/// Why the network could not be set up or changed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error(
        "the Jepsen harness must run as root (it creates network namespaces and iptables rules)"
    )]
    NotRoot,
    #[error("`{0}` is not installed (apt-get install iproute2 iptables)")]
    Missing(&'static str),
    #[error("network namespaces are unavailable here: {0}")]
    NoNamespaces(String),
    #[error("`{command}` failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error("{0} nodes asked for; 1 to {NODES_MAX} are supported")]
    Nodes(u64),
}

/// A direction of traffic a partition cuts: packets from `from` do not reach `to`.
pub type Link = (u64, u64);

fn run(program: &str, args: &[&str]) -> Result<String, NetError> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| NetError::Command {
            command: format!("{program} {}", args.join(" ")),
            stderr: e.to_string(),
        })?;
    if !output.status.success() {
        return Err(NetError::Command {
            command: format!("{program} {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn installed(program: &'static str) -> Result<(), NetError> {
    let found = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if found {
        Ok(())
    } else {
        Err(NetError::Missing(program))
    }
}

/// The namespaces, bridge and rules of one run.
#[derive(Debug)]
pub struct Network {
    prefix: String,
    subnet: [u8; 3],
    nodes: Vec<u64>,
    cut: BTreeSet<Link>,
    torn_down: bool,
}

impl Network {
    /// Refuses, with the reason, when this process cannot build a test network.
    pub fn preflight() -> Result<(), NetError> {
        if !nix::unistd::geteuid().is_root() {
            return Err(NetError::NotRoot);
        }
        installed("ip")?;
        installed("iptables")?;
        let probe = format!("bxj-probe-{}", std::process::id());
        run("ip", &["netns", "add", &probe]).map_err(|e| NetError::NoNamespaces(e.to_string()))?;
        let _ = run("ip", &["netns", "del", &probe]);
        Ok(())
    }

    /// Builds the network of `nodes` nodes (ids 1..=n) named after `prefix` (at most 4 characters,
    /// so interface names fit), removing whatever a crashed run with the same prefix left behind.
    pub fn create(prefix: &str, subnet: [u8; 3], nodes: u64) -> Result<Network, NetError> {
        if nodes == 0 || nodes > NODES_MAX {
            return Err(NetError::Nodes(nodes));
        }
        let mut network = Network {
            prefix: prefix.chars().take(4).collect(),
            subnet,
            nodes: (1..=nodes).collect(),
            cut: BTreeSet::new(),
            torn_down: false,
        };
        network.remove_leftovers();
        network.build()?;
        Ok(network)
    }

    fn bridge(&self) -> String {
        format!("{}br0", self.prefix)
    }

    /// The namespace node `id` runs in.
    pub fn namespace(&self, id: u64) -> String {
        format!("{}-n{id}", self.prefix)
    }

    fn host_veth(&self, id: u64) -> String {
        format!("{}v{id}", self.prefix)
    }

    /// Node `id`'s address.
    pub fn address(&self, id: u64) -> Ipv4Addr {
        let [a, b, c] = self.subnet;
        Ipv4Addr::new(a, b, c, 10 + id as u8)
    }

    /// The host's address on the bridge (where the clients run).
    pub fn host_address(&self) -> Ipv4Addr {
        let [a, b, c] = self.subnet;
        Ipv4Addr::new(a, b, c, 1)
    }

    pub fn nodes(&self) -> &[u64] {
        &self.nodes
    }

    /// Removes what a crashed run with this prefix left: the processes still running in its
    /// namespaces (they would keep the namespaces, and their veths, alive), the namespaces, the
    /// host ends of the veths and the bridge.
    fn remove_leftovers(&self) {
        if let Ok(list) = run("ip", &["netns", "list"]) {
            let mine = format!("{}-n", self.prefix);
            for line in list.lines() {
                if let Some(name) = line.split_whitespace().next() {
                    if name.starts_with(&mine) {
                        kill_processes_in(name);
                        let _ = run("ip", &["netns", "del", name]);
                    }
                }
            }
        }
        for id in 1..=NODES_MAX {
            let _ = run("ip", &["link", "del", &self.host_veth(id)]);
        }
        let _ = run("ip", &["link", "del", &self.bridge()]);
    }

    fn build(&mut self) -> Result<(), NetError> {
        let bridge = self.bridge();
        let host = format!("{}/24", self.host_address());
        run("ip", &["link", "add", &bridge, "type", "bridge"])?;
        run("ip", &["addr", "add", &host, "dev", &bridge])?;
        run("ip", &["link", "set", &bridge, "up"])?;
        for id in self.nodes.clone() {
            let namespace = self.namespace(id);
            let veth = self.host_veth(id);
            let address = format!("{}/24", self.address(id));
            run("ip", &["netns", "add", &namespace])?;
            run(
                "ip",
                &[
                    "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns",
                    &namespace,
                ],
            )?;
            run("ip", &["link", "set", &veth, "master", &bridge, "up"])?;
            run(
                "ip",
                &["-n", &namespace, "addr", "add", &address, "dev", "eth0"],
            )?;
            run("ip", &["-n", &namespace, "link", "set", "eth0", "up"])?;
            run("ip", &["-n", &namespace, "link", "set", "lo", "up"])?;
            self.iptables(id, &["-N", CHAIN])?;
            self.iptables(id, &["-A", "INPUT", "-j", CHAIN])?;
        }
        Ok(())
    }

    fn iptables(&self, id: u64, args: &[&str]) -> Result<String, NetError> {
        let namespace = self.namespace(id);
        let mut all = vec!["netns", "exec", &namespace, "iptables", "-w"];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Cuts every link in `links` (one direction each) on top of what is cut already.
    pub fn cut(&mut self, links: &BTreeSet<Link>) -> Result<(), NetError> {
        for &(from, to) in links {
            if from == to || self.cut.contains(&(from, to)) {
                continue;
            }
            let source = self.address(from).to_string();
            self.iptables(to, &["-A", CHAIN, "-s", &source, "-j", "DROP"])?;
            self.cut.insert((from, to));
        }
        Ok(())
    }

    /// The links cut now.
    pub fn cut_links(&self) -> &BTreeSet<Link> {
        &self.cut
    }

    /// Restores every link.
    pub fn heal(&mut self) -> Result<(), NetError> {
        for id in self.nodes.clone() {
            self.iptables(id, &["-F", CHAIN])?;
        }
        self.cut.clear();
        Ok(())
    }

    /// Removes the namespaces (and with them their veths and rules) and the bridge.
    pub fn teardown(&mut self) {
        if self.torn_down {
            return;
        }
        for id in &self.nodes {
            let namespace = self.namespace(*id);
            kill_processes_in(&namespace);
            let _ = run("ip", &["netns", "del", &namespace]);
        }
        let _ = run("ip", &["link", "del", &self.bridge()]);
        self.torn_down = true;
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// kill -9 of every process in namespace `name` (SIGCONT first, in case one is paused).
fn kill_processes_in(name: &str) {
    let Ok(pids) = run("ip", &["netns", "pids", name]) else {
        return;
    };
    for pid in pids
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
    {
        let pid = nix::unistd::Pid::from_raw(pid);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    }
}

/// Both directions of every link between `a` and `b`.
pub fn between(a: &[u64], b: &[u64]) -> BTreeSet<Link> {
    let mut links = BTreeSet::new();
    for &x in a {
        for &y in b {
            if x != y {
                links.insert((x, y));
                links.insert((y, x));
            }
        }
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_between_two_sides_goes_both_ways() {
        let links = between(&[1, 2], &[3]);
        assert_eq!(
            links,
            BTreeSet::from([(1, 3), (3, 1), (2, 3), (3, 2)]),
            "every cross pair, both directions"
        );
    }
}
