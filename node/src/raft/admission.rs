//! The leader's admitter: while this node leads a group, it meters buyers out of the waiting rooms
//! of the group's gated events on a timer. From the on-sale time it sequences the pre-sale arrivals
//! (their shuffled order), then admits the next positions at the event's rate (`admit_per_minute`,
//! replicated, so a new leader keeps the pace). In automatic mode it follows what the group can
//! take: the rate is scaled down by half whenever the group's measured commit latency or proposal
//! queue says it is saturated and climbs back a tenth per pass when it is not, and no pass admits
//! more buyers than there are places left to hold. Idle rooms propose nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use boxoffice_statemachine::limits::{ADMIT_BATCH_MAX, SEQUENCE_BATCH_MAX};
use boxoffice_statemachine::query::{self, EventView, QueueSummary};
use boxoffice_statemachine::{Action, Effect, EventId, EventStatus, Outcome, RequestId};
use tokio::task::JoinHandle;

use super::proposer::{Clock, Committed, Load, Proposer};
use super::transport::GroupRaft;
use crate::storage::GroupState;

/// Events of a group one pass looks at, at most.
pub const EVENTS_PER_PASS_MAX: usize = 1_000;
/// Sequencing commands one pass proposes per event, at most (the rest waits for the next pass).
pub const SEQUENCE_COMMANDS_PER_PASS_MAX: u32 = 64;
/// Automatic mode: the commit latency above which the group counts as saturated.
pub const COMMIT_LATENCY_TARGET: Duration = Duration::from_millis(100);
/// Automatic mode: the share of the proposal queue in use above which the group is saturated.
pub const QUEUE_FILL_TARGET: f64 = 0.1;
/// Automatic mode: the least share of the configured rate admitted while saturated.
pub const AUTO_SHARE_MIN: f64 = 0.05;

/// Automatic mode's share of the configured rate after one pass: halved when the group is
/// saturated, else a tenth more, within `AUTO_SHARE_MIN..=1`.
pub fn auto_share(share: f64, load: Load) -> f64 {
    let saturated =
        load.commit_latency > COMMIT_LATENCY_TARGET || load.queue_fill > QUEUE_FILL_TARGET;
    if saturated {
        (share / 2.0).max(AUTO_SHARE_MIN)
    } else {
        (share + 0.1).min(1.0)
    }
}

/// One group's admitter on one node.
pub struct Admitter {
    pub node_id: u64,
    pub group: u64,
    pub raft: GroupRaft,
    pub state: GroupState,
    pub proposer: Proposer,
    pub clock: Arc<dyn Clock>,
    pub every: Duration,
}

impl std::fmt::Debug for Admitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admitter")
            .field("node_id", &self.node_id)
            .field("group", &self.group)
            .field("every", &self.every)
            .finish()
    }
}

/// How many to admit in one pass of `every` at `share` of `per_minute`, carrying the fraction to
/// the next pass; automatic mode caps it at the places left to hold.
pub fn admissions(
    per_minute: u32,
    share: f64,
    every: Duration,
    carry: &mut f64,
    auto: bool,
    places_left: u64,
    admissible: u64,
) -> u32 {
    *carry += f64::from(per_minute) * share * every.as_secs_f64() / 60.0;
    let whole = carry.floor();
    *carry -= whole;
    let mut count = whole as u64;
    if auto {
        count = count.min(places_left);
    }
    // A rate that found nobody to admit is not saved up for a burst later.
    if count > admissible {
        *carry = 0.0;
    }
    count.min(admissible).min(u64::from(ADMIT_BATCH_MAX)) as u32
}

struct Pass<'a> {
    admitter: &'a Admitter,
    started: u64,
    sequence: u64,
}

impl Pass<'_> {
    fn request_id(&mut self, kind: &str) -> Option<RequestId> {
        self.sequence += 1;
        let a = self.admitter;
        RequestId::new(format!(
            "{kind}:{}:{}:{}:{}",
            a.group, a.node_id, self.started, self.sequence
        ))
        .ok()
    }

    async fn propose(&mut self, kind: &str, action: Action) -> Option<Effect> {
        let id = self.request_id(kind)?;
        match self.admitter.proposer.propose(id, action).await {
            Ok(Committed {
                outcome: Outcome::Accepted(effect),
                ..
            }) => Some(effect),
            Ok(Committed {
                outcome: Outcome::Rejected(rejection),
                ..
            }) => {
                tracing::debug!(group = self.admitter.group, %rejection, "waiting-room command refused");
                None
            }
            // Lost leadership, overloaded or stopped: the next pass tries again.
            Err(_) => None,
        }
    }

    async fn sequence(&mut self, event: &EventId) {
        for _ in 0..SEQUENCE_COMMANDS_PER_PASS_MAX {
            let action = Action::SequenceQueue {
                event: event.clone(),
                customers_max: SEQUENCE_BATCH_MAX,
            };
            match self.propose("sequence", action).await {
                Some(Effect::QueueSequenced { more: true, .. }) => continue,
                _ => return,
            }
        }
    }
}

fn places_left(event: &EventView) -> u64 {
    u64::from(event.counts.available)
}

/// Starts `admitter`; abort the handle to stop it.
pub fn start_admitter(admitter: Admitter) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(admitter.every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Request ids must not repeat across restarts within the retention: start from the clock.
        let mut pass = Pass {
            admitter: &admitter,
            started: admitter.clock.now_ms(),
            sequence: 0,
        };
        let mut carries: HashMap<EventId, f64> = HashMap::new();
        let mut share = 1.0;
        loop {
            ticker.tick().await;
            if super::known_leader(&admitter.raft) != Some(admitter.node_id) {
                carries.clear();
                continue;
            }
            let rooms = match gated_rooms(&admitter.state, admitter.clock.now_ms()) {
                Ok(rooms) => rooms,
                Err(error) => {
                    tracing::warn!(group = admitter.group, %error, "cannot read the waiting rooms");
                    continue;
                }
            };
            carries.retain(|event, _| rooms.iter().any(|(e, _)| &e.id == event));
            share = auto_share(share, admitter.proposer.load());
            for (event, summary) in rooms {
                let started = !matches!(event.status, EventStatus::Scheduled);
                if started && summary.presale_sequenced < summary.presale_total {
                    pass.sequence(&event.id).await;
                }
                if event.status != EventStatus::OnSale {
                    continue;
                }
                let carry = carries.entry(event.id.clone()).or_insert(0.0);
                let count = admissions(
                    summary.settings.admit_per_minute,
                    if summary.settings.auto { share } else { 1.0 },
                    admitter.every,
                    carry,
                    summary.settings.auto,
                    places_left(&event),
                    summary.admissible,
                );
                if count > 0 {
                    let action = Action::Admit {
                        event: event.id.clone(),
                        customers_max: count,
                    };
                    if let Some(Effect::Admitted { customers, .. }) =
                        pass.propose("admit", action).await
                    {
                        crate::metrics::metrics()
                            .admissions_total
                            .inc_by(u64::from(customers));
                    }
                }
            }
        }
    })
}

/// The group's gated events that have a waiting room with customers in it, with its totals.
pub(crate) fn gated_rooms(
    state: &GroupState,
    now_ms: u64,
) -> Result<Vec<(EventView, QueueSummary)>, boxoffice_statemachine::StoreError> {
    let reader = state.reader();
    let mut rooms = Vec::new();
    for event in query::events(&reader, None, EVENTS_PER_PASS_MAX, now_ms)? {
        if !event.gated {
            continue;
        }
        if let Some(summary) = query::queue_summary(&reader, &event.id)? {
            if summary.presale_total + summary.later_count > 0 {
                rooms.push((event, summary));
            }
        }
    }
    Ok(rooms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn the_rate_is_kept_across_passes_with_its_fraction() {
        let mut carry = 0.0;
        // 90 a minute is 1.5 a second: 1, 2, 1, 2, ...
        let counts: Vec<u32> = (0..4)
            .map(|_| admissions(90, 1.0, SECOND, &mut carry, false, u64::MAX, u64::MAX))
            .collect();
        assert_eq!(counts, [1, 2, 1, 2]);
    }

    #[test]
    fn nobody_to_admit_does_not_save_up_a_burst() {
        let mut carry = 0.0;
        assert_eq!(
            admissions(600, 1.0, SECOND, &mut carry, false, u64::MAX, 0),
            0
        );
        assert_eq!(carry, 0.0);
        assert_eq!(
            admissions(600, 1.0, SECOND, &mut carry, false, u64::MAX, 100),
            10
        );
    }

    #[test]
    fn automatic_mode_admits_no_more_than_places_are_left() {
        let mut carry = 0.0;
        assert_eq!(
            admissions(6_000, 1.0, SECOND, &mut carry, true, 7, u64::MAX),
            7
        );
        assert_eq!(
            admissions(6_000, 1.0, SECOND, &mut carry, true, 0, u64::MAX),
            0
        );
        assert_eq!(
            admissions(6_000, 1.0, SECOND, &mut carry, false, 0, u64::MAX),
            100
        );
    }

    fn load(commit_latency_ms: u64, queue_fill: f64) -> Load {
        Load {
            waiting_commands: 0,
            queue_fill,
            commit_latency: Duration::from_millis(commit_latency_ms),
        }
    }

    #[test]
    fn automatic_mode_backs_off_while_the_group_is_saturated_and_recovers() {
        let mut share = 1.0;
        share = auto_share(share, load(250, 0.0));
        assert_eq!(share, 0.5);
        share = auto_share(share, load(5, 0.5));
        assert_eq!(share, 0.25);
        for _ in 0..10 {
            share = auto_share(share, load(500, 0.9));
        }
        assert_eq!(share, AUTO_SHARE_MIN);
        for _ in 0..20 {
            share = auto_share(share, load(5, 0.0));
        }
        assert_eq!(share, 1.0);
        let mut carry = 0.0;
        assert_eq!(
            admissions(600, 0.5, SECOND, &mut carry, true, u64::MAX, u64::MAX),
            5
        );
    }

    #[test]
    fn one_pass_admits_at_most_one_batch() {
        let mut carry = 0.0;
        let count = admissions(
            u32::MAX,
            1.0,
            Duration::from_secs(60),
            &mut carry,
            false,
            u64::MAX,
            u64::MAX,
        );
        assert_eq!(count, ADMIT_BATCH_MAX);
    }
}
