//! The leader's admitter: while this node leads a group, it meters buyers out of the waiting rooms
//! of the group's gated events on a timer. From the on-sale time it sequences the pre-sale arrivals
//! (their shuffled order), then admits the next positions at the event's rate (`admit_per_minute`,
//! replicated, so a new leader keeps the pace). In automatic mode it also never admits more buyers
//! in one pass than there are places left to hold. Idle rooms propose nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use boxoffice_statemachine::limits::{ADMIT_BATCH_MAX, SEQUENCE_BATCH_MAX};
use boxoffice_statemachine::query::{self, EventView, QueueSummary};
use boxoffice_statemachine::{Action, Effect, EventId, EventStatus, Outcome, RequestId};
use tokio::task::JoinHandle;

use super::proposer::{Clock, Committed, Proposer};
use super::transport::GroupRaft;
use crate::storage::GroupState;

/// Events of a group one pass looks at, at most.
pub const EVENTS_PER_PASS_MAX: usize = 1_000;
/// Sequencing commands one pass proposes per event, at most (the rest waits for the next pass).
pub const SEQUENCE_COMMANDS_PER_PASS_MAX: u32 = 64;

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

/// How many to admit in one pass of `every` at `per_minute`, carrying the fraction to the next
/// pass; automatic mode caps it at the places left to hold.
pub fn admissions(
    per_minute: u32,
    every: Duration,
    carry: &mut f64,
    auto: bool,
    places_left: u64,
    admissible: u64,
) -> u32 {
    *carry += f64::from(per_minute) * every.as_secs_f64() / 60.0;
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
                    pass.propose("admit", action).await;
                }
            }
        }
    })
}

/// The group's gated events that have a waiting room with customers in it, with its totals.
fn gated_rooms(
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
            .map(|_| admissions(90, SECOND, &mut carry, false, u64::MAX, u64::MAX))
            .collect();
        assert_eq!(counts, [1, 2, 1, 2]);
    }

    #[test]
    fn nobody_to_admit_does_not_save_up_a_burst() {
        let mut carry = 0.0;
        assert_eq!(admissions(600, SECOND, &mut carry, false, u64::MAX, 0), 0);
        assert_eq!(carry, 0.0);
        assert_eq!(
            admissions(600, SECOND, &mut carry, false, u64::MAX, 100),
            10
        );
    }

    #[test]
    fn automatic_mode_admits_no_more_than_places_are_left() {
        let mut carry = 0.0;
        assert_eq!(admissions(6_000, SECOND, &mut carry, true, 7, u64::MAX), 7);
        assert_eq!(admissions(6_000, SECOND, &mut carry, true, 0, u64::MAX), 0);
        assert_eq!(
            admissions(6_000, SECOND, &mut carry, false, 0, u64::MAX),
            100
        );
    }

    #[test]
    fn one_pass_admits_at_most_one_batch() {
        let mut carry = 0.0;
        let count = admissions(
            u32::MAX,
            Duration::from_secs(60),
            &mut carry,
            false,
            u64::MAX,
            u64::MAX,
        );
        assert_eq!(count, ADMIT_BATCH_MAX);
    }
}
