//! Quiescence: a Raft group with nothing to replicate stops ticking on every replica, so an idle
//! node's cost no longer grows with the groups it hosts. One node heartbeat per peer pair, every
//! `heartbeat_ms`, carries every group's Raft position and stands in for the groups' own
//! heartbeats; a follower whose leader's node stops beating wakes its group, which then elects.
//!
//! Raft's safety never depends on this module: it only switches openraft's ticker (which drives
//! leader heartbeats and follower election timers) on and off. Writes and linearizable reads
//! work on a quiet group (openraft replicates and confirms leadership on demand). What this
//! module must get right is liveness, which [`decide`] states:
//! - a leader goes quiet only when its log has not moved for `quiesce_after`, everything is
//!   applied, every member has matched its last log index, and every member it can hear confirms
//!   the same term, leader and last index (a member it cannot hear cannot disrupt it, and will
//!   say otherwise in its first beat when it comes back);
//! - a follower goes quiet only while a member's fresh beat says it leads the group at a term no
//!   older than the follower's. When that beat goes stale (the leader's node died or is cut off)
//!   the follower's election timer runs again, and it has long expired, so it elects at once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::ServerState;
use tokio::sync::watch;
use tonic::Request;

use super::lock;
use super::state_machine::MetaView;
use super::transport::{pb, GroupRaft, Groups, PeerChannels};
use crate::storage::GroupId;

/// Most groups one node beat may describe.
pub const BEAT_GROUPS_MAX: usize = 65_536;
/// Most peers whose beats a node keeps; the one heard from longest ago makes room for a new one.
pub const BEAT_PEERS_MAX: usize = 1_024;

/// Whether a group's replica on this node ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Ticking: a leader sends heartbeats, a follower runs its election timer.
    #[default]
    Active,
    /// Not ticking: the node heartbeat vouches for the group.
    Quiet,
}

/// A group's Raft position on one node, as that node's metrics show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub term: u64,
    /// The leader the node knows of.
    pub leader: Option<u64>,
    /// The node leads the group at `term`.
    pub leading: bool,
    pub last_log_index: Option<u64>,
    pub applied_index: Option<u64>,
}

/// What this node knows of one of its groups when it decides.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalGroup {
    pub position: Position,
    /// How long the last log index has not moved.
    pub idle_for: Duration,
    /// The group's other members.
    pub peers: Vec<u64>,
    /// When leading: the log index each other member has matched.
    pub matched: BTreeMap<u64, Option<u64>>,
}

/// What this node last heard from a peer about one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerBeat {
    /// No beat from the peer within the freshness window.
    Silent,
    /// A fresh beat; `None` when it did not mention the group.
    Heard(Option<Position>),
}

/// Whether `me`'s replica of a group should tick, given what its peers' fresh beats say.
pub fn decide(
    me: u64,
    local: &LocalGroup,
    peer: impl Fn(u64) -> PeerBeat,
    quiesce_after: Duration,
) -> Mode {
    let own = &local.position;
    let quiet = if own.leading {
        let last = own.last_log_index;
        local.idle_for >= quiesce_after
            && own.applied_index == last
            && local.peers.iter().all(|&member| {
                let caught_up = local.matched.get(&member).copied().flatten() == last;
                let agrees = match peer(member) {
                    PeerBeat::Silent => true,
                    PeerBeat::Heard(None) => false,
                    PeerBeat::Heard(Some(theirs)) => {
                        theirs.term == own.term
                            && theirs.leader == Some(me)
                            && theirs.last_log_index == last
                    }
                };
                caught_up && agrees
            })
    } else {
        local.peers.iter().any(|&member| {
            matches!(peer(member), PeerBeat::Heard(Some(theirs))
                if theirs.leading && theirs.term >= own.term)
        })
    };
    if quiet {
        Mode::Quiet
    } else {
        Mode::Active
    }
}

/// How the node quiesces, from its Raft timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuiesceTimings {
    /// Whether idle groups may stop ticking at all.
    pub enabled: bool,
    /// How often node beats are sent.
    pub beat_every: Duration,
    /// How long a beat vouches for its sender: the shortest election timeout.
    pub beat_fresh_for: Duration,
    /// How long a leader's log must be still before its group goes quiet.
    pub quiesce_after: Duration,
}

/// A peer's last beat.
#[derive(Debug, Clone)]
struct Heard {
    at: Instant,
    groups: BTreeMap<GroupId, Position>,
}

/// This node's view of one of its groups, kept between passes.
#[derive(Debug, Clone, Copy)]
struct Tracked {
    position: Position,
    last_log_moved_at: Instant,
    mode: Mode,
}

/// Why a peer's beat was not recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BeatRefused {
    #[error("a beat from this node's own id {0}")]
    FromSelf(u64),
    #[error("a beat describing {0} groups (at most {BEAT_GROUPS_MAX})")]
    TooManyGroups(usize),
}

/// The node's beats, its peers' beats, and each hosted group's mode.
#[derive(Debug)]
pub struct Quiescence {
    node: u64,
    groups: Groups,
    timings: QuiesceTimings,
    peers: Mutex<BTreeMap<u64, Heard>>,
    tracked: Mutex<BTreeMap<GroupId, Tracked>>,
    /// The beat this node sends, as of the last pass.
    beat: Mutex<Arc<pb::NodeBeat>>,
}

fn position_of(beat: &pb::GroupBeat) -> Position {
    Position {
        term: beat.term,
        leader: beat.leader,
        leading: beat.leading,
        last_log_index: beat.last_log_index,
        applied_index: beat.applied_index,
    }
}

/// This node's view of `raft`'s group, read from its metrics in place.
fn observe(me: u64, raft: &GroupRaft) -> (Position, Vec<u64>, BTreeMap<u64, Option<u64>>) {
    use openraft::async_runtime::watch::WatchReceiver;
    let metrics = raft.metrics();
    let metrics = metrics.borrow_watched();
    let position = Position {
        term: metrics.current_term,
        leader: metrics.current_leader,
        leading: metrics.state == ServerState::Leader && metrics.current_leader == Some(me),
        last_log_index: metrics.last_log_index,
        applied_index: metrics.last_applied.as_ref().map(|l| l.index),
    };
    let peers = metrics
        .membership_config
        .membership()
        .nodes()
        .map(|(id, _)| *id)
        .filter(|id| *id != me)
        .collect();
    let matched = metrics
        .replication
        .as_ref()
        .map(|progress| {
            progress
                .iter()
                .filter(|(id, _)| **id != me)
                .map(|(id, log)| (*id, log.as_ref().map(|l| l.index)))
                .collect()
        })
        .unwrap_or_default();
    (position, peers, matched)
}

impl Quiescence {
    pub fn new(node: u64, groups: Groups, timings: QuiesceTimings) -> Quiescence {
        Quiescence {
            node,
            groups,
            timings,
            peers: Mutex::default(),
            tracked: Mutex::default(),
            beat: Mutex::new(Arc::new(pb::NodeBeat {
                node,
                groups: Vec::new(),
            })),
        }
    }

    /// Whether this node's replica of `group` is quiet now.
    pub fn is_quiet(&self, group: GroupId) -> bool {
        lock(&self.tracked)
            .get(&group)
            .is_some_and(|t| t.mode == Mode::Quiet)
    }

    /// Hosted groups that are quiet now.
    pub fn quiet_groups(&self) -> usize {
        lock(&self.tracked)
            .values()
            .filter(|t| t.mode == Mode::Quiet)
            .count()
    }

    /// Whether `peer`'s beat reached this node (its answer or its own call) within the beat
    /// freshness window: the node is up and reachable from here.
    pub fn hears(&self, peer: u64) -> bool {
        lock(&self.peers)
            .get(&peer)
            .is_some_and(|heard| heard.at.elapsed() <= self.timings.beat_fresh_for)
    }

    /// The beat this node sends and answers with.
    pub fn beat(&self) -> Arc<pb::NodeBeat> {
        lock(&self.beat).clone()
    }

    /// Records a peer's beat. A follower that has applied everything its leader's beat shows has
    /// heard from its leader (stale reads report this), even while the group is quiet.
    pub fn record(&self, beat: &pb::NodeBeat) -> Result<(), BeatRefused> {
        if beat.node == self.node {
            return Err(BeatRefused::FromSelf(beat.node));
        }
        if beat.groups.len() > BEAT_GROUPS_MAX {
            return Err(BeatRefused::TooManyGroups(beat.groups.len()));
        }
        let groups: BTreeMap<GroupId, Position> = beat
            .groups
            .iter()
            .map(|g| (g.group, position_of(g)))
            .collect();
        {
            let tracked = lock(&self.tracked);
            for (group, theirs) in &groups {
                let current = tracked.get(group).is_some_and(|ours| {
                    theirs.leading
                        && theirs.term == ours.position.term
                        && ours.position.applied_index >= theirs.last_log_index
                });
                if current {
                    self.groups.heard_from_leader(*group);
                }
            }
        }
        let mut peers = lock(&self.peers);
        if peers.len() >= BEAT_PEERS_MAX && !peers.contains_key(&beat.node) {
            let stalest = peers.iter().min_by_key(|(_, h)| h.at).map(|(id, _)| *id);
            if let Some(stalest) = stalest {
                peers.remove(&stalest);
            }
        }
        peers.insert(
            beat.node,
            Heard {
                at: Instant::now(),
                groups,
            },
        );
        Ok(())
    }

    /// One pass over the hosted groups: observe each, decide its mode, switch its ticker when the
    /// mode changes, and rebuild this node's beat.
    pub fn pass(&self) {
        let now = Instant::now();
        let hosted = self.groups.all();
        let peers = lock(&self.peers).clone();
        let fresh_for = self.timings.beat_fresh_for;
        let mut tracked = lock(&self.tracked);
        tracked.retain(|group, _| hosted.iter().any(|(g, _)| g == group));
        let mut beat = Vec::with_capacity(hosted.len());
        for (group, raft) in &hosted {
            let (position, members, matched) = observe(self.node, raft);
            let entry = tracked.entry(*group).or_insert(Tracked {
                position,
                last_log_moved_at: now,
                mode: Mode::Active,
            });
            if entry.position.last_log_index != position.last_log_index {
                entry.last_log_moved_at = now;
            }
            if (entry.position.term, entry.position.leader) != (position.term, position.leader) {
                // Who leads each group, as this node learns it: the first thing to read in a
                // failover (a quiet replica's mode says whether it was waiting on a node beat).
                tracing::info!(
                    group,
                    term = position.term,
                    leader = ?position.leader,
                    mode = ?entry.mode,
                    "group leader known"
                );
            }
            entry.position = position;
            let local = LocalGroup {
                position,
                idle_for: now.duration_since(entry.last_log_moved_at),
                peers: members,
                matched,
            };
            let peer = |member: u64| match peers.get(&member) {
                Some(heard) if now.duration_since(heard.at) < fresh_for => {
                    PeerBeat::Heard(heard.groups.get(group).copied())
                }
                _ => PeerBeat::Silent,
            };
            let mode = if self.timings.enabled {
                decide(self.node, &local, peer, self.timings.quiesce_after)
            } else {
                Mode::Active
            };
            if mode != entry.mode {
                tracing::debug!(group, ?mode, term = position.term, "group ticker switched");
                raft.runtime_config().tick(mode == Mode::Active);
                entry.mode = mode;
            }
            beat.push(pb::GroupBeat {
                group: *group,
                term: position.term,
                leader: position.leader,
                leading: position.leading,
                last_log_index: position.last_log_index,
                applied_index: position.applied_index,
            });
        }
        drop(tracked);
        *lock(&self.beat) = Arc::new(pb::NodeBeat {
            node: self.node,
            groups: beat,
        });
    }
}

/// Decides every group's mode several times per beat, so a stale leader is noticed promptly.
pub async fn controller(quiescence: Arc<Quiescence>) {
    let every = quiescence.timings.beat_every / 4;
    let mut ticker = tokio::time::interval(every.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        quiescence.pass();
    }
}

/// Sends this node's beat to every other node of the cluster map every `beat_every`, and records
/// each answer (the peer's beat).
pub async fn beater(
    quiescence: Arc<Quiescence>,
    channels: PeerChannels,
    meta_view: watch::Receiver<MetaView>,
) {
    let every = quiescence.timings.beat_every;
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let peers: Vec<(u64, String)> = meta_view
            .borrow()
            .map
            .nodes
            .iter()
            .filter(|(id, _)| **id != quiescence.node)
            .map(|(id, address)| (*id, address.grpc.clone()))
            .collect();
        let beat = quiescence.beat();
        let sends = peers.into_iter().map(|(peer, address)| {
            let beat = beat.clone();
            let quiescence = quiescence.clone();
            let channels = channels.clone();
            async move {
                let mut client = match channels.client(&address) {
                    Ok(client) => client,
                    Err(error) => {
                        tracing::warn!(peer, %error, "cannot reach a peer for its beat");
                        return;
                    }
                };
                let mut request = Request::new((*beat).clone());
                request.set_timeout(every);
                match client.node_heartbeat(request).await {
                    Ok(answer) => {
                        if let Err(error) = quiescence.record(answer.get_ref()) {
                            tracing::warn!(peer, %error, "refused a peer's beat");
                        }
                    }
                    Err(status) => tracing::debug!(peer, %status, "no beat from a peer"),
                }
            }
        });
        futures_util::future::join_all(sends).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: u64 = 1;
    const AFTER: Duration = Duration::from_secs(2);

    fn at(term: u64, leader: Option<u64>, last: u64, applied: u64) -> Position {
        Position {
            term,
            leader,
            leading: false,
            last_log_index: Some(last),
            applied_index: Some(applied),
        }
    }

    fn leading(term: u64, node: u64, last: u64) -> Position {
        Position {
            leading: true,
            ..at(term, Some(node), last, last)
        }
    }

    /// This node leading at term 3 with its log at 40, still for `idle_for`, both followers
    /// matched at `matched`.
    fn idle_leader(idle_for: Duration, matched: u64) -> LocalGroup {
        LocalGroup {
            position: leading(3, ME, 40),
            idle_for,
            peers: vec![2, 3],
            matched: [(2, Some(matched)), (3, Some(matched))].into(),
        }
    }

    fn follower(term: u64) -> LocalGroup {
        LocalGroup {
            position: at(term, Some(2), 40, 40),
            idle_for: Duration::ZERO,
            peers: vec![2, 3],
            matched: BTreeMap::new(),
        }
    }

    /// Followers 2 and 3 both say they follow this node at term 3 with the log at 40.
    fn agreeing(_: u64) -> PeerBeat {
        PeerBeat::Heard(Some(at(3, Some(ME), 40, 40)))
    }

    #[test]
    fn an_idle_caught_up_leader_whose_followers_agree_goes_quiet() {
        let mode = decide(ME, &idle_leader(AFTER, 40), agreeing, AFTER);
        assert_eq!(mode, Mode::Quiet);
    }

    #[test]
    fn a_leader_whose_log_moved_recently_keeps_ticking() {
        let mode = decide(ME, &idle_leader(AFTER / 2, 40), agreeing, AFTER);
        assert_eq!(mode, Mode::Active);
    }

    #[test]
    fn a_leader_with_a_follower_behind_keeps_ticking() {
        let mode = decide(ME, &idle_leader(AFTER, 39), agreeing, AFTER);
        assert_eq!(mode, Mode::Active);
    }

    #[test]
    fn a_leader_with_unapplied_entries_keeps_ticking() {
        let mut group = idle_leader(AFTER, 40);
        group.position.applied_index = Some(39);
        assert_eq!(decide(ME, &group, agreeing, AFTER), Mode::Active);
    }

    #[test]
    fn a_leader_keeps_ticking_until_every_heard_follower_knows_it() {
        let restarted = |peer: u64| match peer {
            3 => PeerBeat::Heard(Some(at(3, None, 40, 40))),
            _ => agreeing(peer),
        };
        let behind_in_term = |peer: u64| match peer {
            3 => PeerBeat::Heard(Some(at(2, Some(2), 40, 40))),
            _ => agreeing(peer),
        };
        let not_hosting = |peer: u64| match peer {
            3 => PeerBeat::Heard(None),
            _ => agreeing(peer),
        };
        let log_behind = |peer: u64| match peer {
            3 => PeerBeat::Heard(Some(at(3, Some(ME), 39, 39))),
            _ => agreeing(peer),
        };
        for peer in [restarted, behind_in_term, not_hosting, log_behind] {
            assert_eq!(
                decide(ME, &idle_leader(AFTER, 40), peer, AFTER),
                Mode::Active
            );
        }
    }

    #[test]
    fn a_silent_follower_does_not_keep_the_leader_ticking() {
        let one_down = |peer: u64| match peer {
            3 => PeerBeat::Silent,
            _ => agreeing(peer),
        };
        let mode = decide(ME, &idle_leader(AFTER, 40), one_down, AFTER);
        assert_eq!(mode, Mode::Quiet);
    }

    #[test]
    fn a_follower_is_quiet_while_a_fresh_beat_shows_a_leader_at_its_term_or_later() {
        let leader_at = |term: u64| {
            move |peer: u64| match peer {
                2 => PeerBeat::Heard(Some(leading(term, 2, 40))),
                _ => PeerBeat::Heard(Some(at(term, Some(2), 40, 40))),
            }
        };
        assert_eq!(decide(ME, &follower(3), leader_at(3), AFTER), Mode::Quiet);
        assert_eq!(decide(ME, &follower(3), leader_at(4), AFTER), Mode::Quiet);
        assert_eq!(decide(ME, &follower(3), leader_at(2), AFTER), Mode::Active);
    }

    #[test]
    fn a_follower_whose_leader_went_silent_or_stepped_down_ticks_and_elects() {
        let silent = |_: u64| PeerBeat::Silent;
        let stepped_down = |peer: u64| PeerBeat::Heard(Some(at(3, Some(peer), 40, 40)));
        let no_mention = |_: u64| PeerBeat::Heard(None);
        for peer in [silent, stepped_down, no_mention] {
            assert_eq!(decide(ME, &follower(3), peer, AFTER), Mode::Active);
        }
    }

    #[test]
    fn a_lone_leader_goes_quiet_once_idle() {
        let group = LocalGroup {
            peers: Vec::new(),
            matched: BTreeMap::new(),
            ..idle_leader(AFTER, 40)
        };
        let mode = decide(ME, &group, |_| PeerBeat::Silent, AFTER);
        assert_eq!(mode, Mode::Quiet);
    }

    fn quiescence(beat_fresh_for: Duration) -> Quiescence {
        let timings = QuiesceTimings {
            enabled: true,
            beat_every: Duration::from_millis(10),
            beat_fresh_for,
            quiesce_after: AFTER,
        };
        Quiescence::new(ME, Groups::default(), timings)
    }

    fn beat_of(node: u64) -> pb::NodeBeat {
        pb::NodeBeat {
            node,
            groups: Vec::new(),
        }
    }

    #[test]
    fn a_peer_is_heard_while_its_last_beat_is_fresh() {
        let quiescence = quiescence(Duration::from_secs(60));
        assert!(!quiescence.hears(2), "no beat yet");
        quiescence.record(&beat_of(2)).unwrap();
        assert!(quiescence.hears(2));
        assert!(
            !quiescence.hears(3),
            "another peer's beat vouches for it only"
        );

        let stale = self::quiescence(Duration::ZERO);
        stale.record(&beat_of(2)).unwrap();
        std::thread::sleep(Duration::from_millis(2));
        assert!(!stale.hears(2), "a beat older than the window");
    }
}
