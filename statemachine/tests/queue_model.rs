//! The waiting room against a model: random interleavings of joins (before and after the on-sale
//! time), sequencing, admissions, hold attempts, setting and sale-status changes and clock advances.
//! Every outcome must be the one the model predicts, every customer's place and the queue's totals
//! must read as the model says after every command, and the audit must pass after every command
//! (`support::Sim::run`).
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::collections::{BTreeMap, BTreeSet};

use boxoffice_statemachine::{
    fixtures, query, Action, AdmissionSettings, AdmissionStatus, Effect, EventStatus, Outcome,
    QueueView, Rejection, Selection, StatusChange,
};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use support::{admit_action, customer, ev, hold_action, join_action, sequence_action, Sim};

const EV: &str = "gig";
const ON_SALE_MS: u64 = 60_000;
const OFF_SALE_MS: u64 = 24 * fixtures::HOUR_MS;
/// Customers are `c0`..`c11`.
const CUSTOMERS: usize = 12;
/// Access TTLs the admin switches between, in milliseconds.
const ACCESS_TTLS_MS: [u64; 4] = [1_000, 5_000, 30_000, 600_000];
/// Clock advances that land exactly on access expiries (and on the on-sale time) often.
const ADVANCES_MS: [u64; 5] = [0, 1, 1_000, 5_000, 30_000];

/// One step of a history.
#[derive(Debug, Clone)]
enum Op {
    /// Ranks are drawn from a small range so that ties (broken by customer id) happen.
    Join {
        who: usize,
        rank: u64,
    },
    Sequence {
        customers_max: u32,
    },
    Admit {
        customers_max: u32,
    },
    /// A one-place hold, released at once when accepted (so inventory never runs out).
    Hold {
        who: usize,
    },
    SetAccessTtl {
        ttl: usize,
    },
    Status(StatusChange),
    /// The clock moves on; no command.
    Advance {
        ms: u64,
    },
}

fn who_name(who: usize) -> String {
    format!("c{who}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admin {
    Normal,
    Paused,
}

#[derive(Debug, Clone)]
struct Queued {
    joined_at_ms: u64,
    presale: bool,
    position: Option<u64>,
}

/// The waiting room as plain collections, with the sale status it depends on.
#[derive(Debug)]
struct Model {
    /// State time of the command being decided.
    now: u64,
    on_sale_at_ms: u64,
    admin: Admin,
    settings: AdmissionSettings,
    customers: BTreeMap<String, Queued>,
    /// Pre-sale arrivals without a position, in admission order.
    unsequenced: BTreeSet<(u64, String)>,
    presale_total: u64,
    presale_sequenced: u64,
    later_count: u64,
    watermark: u64,
    /// (end, admitted at, access expires at) of every admission, in order.
    batches: Vec<(u64, u64, u64)>,
}

impl Model {
    fn new() -> Model {
        Model {
            now: 0,
            on_sale_at_ms: ON_SALE_MS,
            admin: Admin::Normal,
            settings: AdmissionSettings::default(),
            customers: BTreeMap::new(),
            unsequenced: BTreeSet::new(),
            presale_total: 0,
            presale_sequenced: 0,
            later_count: 0,
            watermark: 0,
            batches: Vec::new(),
        }
    }

    fn status(&self) -> EventStatus {
        if self.now >= OFF_SALE_MS {
            EventStatus::Ended
        } else if self.admin == Admin::Paused {
            EventStatus::Paused
        } else if self.now < self.on_sale_at_ms {
            EventStatus::Scheduled
        } else {
            EventStatus::OnSale
        }
    }

    fn admission(&self, position: Option<u64>) -> AdmissionStatus {
        let Some(position) = position.filter(|&p| p < self.watermark) else {
            return AdmissionStatus::Waiting;
        };
        let &(_, admitted_at_ms, access_expires_at_ms) = self
            .batches
            .iter()
            .find(|(end, _, _)| *end > position)
            .expect("every admitted position has its batch");
        if self.now < access_expires_at_ms {
            AdmissionStatus::Admitted {
                admitted_at_ms,
                access_expires_at_ms,
            }
        } else {
            AdmissionStatus::Expired {
                admitted_at_ms,
                access_expires_at_ms,
            }
        }
    }

    fn view(&self, who: &str) -> Option<QueueView> {
        let queued = self.customers.get(who)?;
        Some(QueueView {
            event: ev(EV),
            customer: customer(who),
            joined_at_ms: queued.joined_at_ms,
            presale: queued.presale,
            position: queued.position,
            ahead: queued.position.map(|p| p.saturating_sub(self.watermark)),
            admission: self.admission(queued.position),
        })
    }

    fn refuse_closed(&self) -> Result<(), Rejection> {
        match self.status() {
            status @ (EventStatus::Cancelled | EventStatus::Ended) => {
                Err(Rejection::EventNotOnSale { status })
            }
            _ => Ok(()),
        }
    }

    /// The outcome of `op` at state time `now`, applying it to the model when accepted. For a hold,
    /// the effect is not predicted in full: `None` means "accepted".
    fn decide(&mut self, op: &Op, now: u64) -> Result<Option<Effect>, Rejection> {
        self.now = self.now.max(now);
        match *op {
            Op::Join { who, rank } => {
                let name = who_name(who);
                self.refuse_closed()?;
                if let Some(view) = self.view(&name) {
                    return Ok(Some(Effect::QueueJoined(view)));
                }
                let presale = self.now < self.on_sale_at_ms;
                let position = if presale {
                    self.presale_total += 1;
                    self.unsequenced.insert((rank, name.clone()));
                    None
                } else {
                    self.later_count += 1;
                    Some(self.presale_total + self.later_count - 1)
                };
                self.customers.insert(
                    name.clone(),
                    Queued {
                        joined_at_ms: self.now,
                        presale,
                        position,
                    },
                );
                Ok(Some(Effect::QueueJoined(self.view(&name).unwrap())))
            }
            Op::Sequence { customers_max } => {
                self.refuse_closed()?;
                if self.now < self.on_sale_at_ms {
                    return Err(Rejection::SaleNotStarted);
                }
                let mut customers = 0;
                while customers < customers_max {
                    let Some((_, name)) = self.unsequenced.pop_first() else {
                        break;
                    };
                    self.customers.get_mut(&name).unwrap().position = Some(self.presale_sequenced);
                    self.presale_sequenced += 1;
                    customers += 1;
                }
                Ok(Some(Effect::QueueSequenced {
                    event: ev(EV),
                    customers,
                    more: !self.unsequenced.is_empty(),
                }))
            }
            Op::Admit { customers_max } => {
                let status = self.status();
                if status != EventStatus::OnSale {
                    return Err(Rejection::EventNotOnSale { status });
                }
                let admissible_end = if self.unsequenced.is_empty() {
                    self.presale_total + self.later_count
                } else {
                    self.presale_sequenced
                };
                let end = admissible_end.min(self.watermark + u64::from(customers_max));
                let customers = end - self.watermark;
                if customers > 0 {
                    self.batches
                        .push((end, self.now, self.now + self.settings.access_ttl_ms));
                    self.watermark = end;
                }
                Ok(Some(Effect::Admitted {
                    event: ev(EV),
                    customers: customers as u32,
                    watermark: self.watermark,
                }))
            }
            Op::Hold { who } => {
                let status = self.status();
                if status != EventStatus::OnSale {
                    return Err(Rejection::EventNotOnSale { status });
                }
                let admission = self
                    .customers
                    .get(&who_name(who))
                    .map_or(AdmissionStatus::Waiting, |q| self.admission(q.position));
                match admission {
                    AdmissionStatus::Admitted { .. } => Ok(None),
                    AdmissionStatus::Waiting => Err(Rejection::NotAdmitted),
                    AdmissionStatus::Expired { .. } => Err(Rejection::AdmissionExpired),
                }
            }
            Op::SetAccessTtl { ttl } => {
                self.settings.access_ttl_ms = ACCESS_TTLS_MS[ttl];
                Ok(Some(Effect::AdmissionSet {
                    event: ev(EV),
                    settings: self.settings,
                }))
            }
            Op::Status(change) => {
                let from = self.status();
                use EventStatus as S;
                match (change, from) {
                    (StatusChange::Open, S::Scheduled | S::Paused) => {
                        self.on_sale_at_ms = self.on_sale_at_ms.min(self.now);
                        self.admin = Admin::Normal;
                    }
                    (StatusChange::Pause, S::Scheduled | S::OnSale) => self.admin = Admin::Paused,
                    _ => return Err(Rejection::InvalidTransition { from, change }),
                }
                Ok(Some(Effect::EventStatusChanged {
                    event: ev(EV),
                    status: self.status(),
                }))
            }
            Op::Advance { .. } => unreachable!("not a command"),
        }
    }
}

/// A gated club and its model, stepped together.
struct Harness {
    sim: Sim,
    model: Model,
    /// What the history has reached: outcome codes and notable effects.
    seen: BTreeSet<&'static str>,
}

impl Harness {
    fn new() -> Harness {
        let sim = Sim::with_gated_club(EV, ON_SALE_MS);
        let mut model = Model::new();
        model.now = sim.now;
        Harness {
            sim,
            model,
            seen: BTreeSet::new(),
        }
    }

    fn action(op: &Op) -> Action {
        match *op {
            Op::Join { who, rank } => join_action(EV, &who_name(who), rank),
            Op::Sequence { customers_max } => sequence_action(EV, customers_max),
            Op::Admit { customers_max } => admit_action(EV, customers_max),
            Op::Hold { who } => hold_action(
                EV,
                &who_name(who),
                Selection::GeneralAdmission {
                    area: "Pit".into(),
                    quantity: 1,
                },
            ),
            Op::SetAccessTtl { ttl } => Action::SetAdmission {
                event: ev(EV),
                settings: AdmissionSettings {
                    access_ttl_ms: ACCESS_TTLS_MS[ttl],
                    ..AdmissionSettings::default()
                },
            },
            Op::Status(change) => Action::SetEventStatus {
                event: ev(EV),
                change,
            },
            Op::Advance { .. } => unreachable!("not a command"),
        }
    }

    fn step(&mut self, op: &Op) -> Result<(), String> {
        if let Op::Advance { ms } = *op {
            self.sim.advance(ms);
            return Ok(());
        }
        let actual = self.sim.run(Self::action(op));
        let expected = self.model.decide(op, self.sim.now);
        self.seen.insert(match &actual {
            Outcome::Rejected(rejection) => rejection.code(),
            Outcome::Accepted(Effect::Held(_)) => "held",
            Outcome::Accepted(Effect::QueueJoined(view)) => match view.position {
                None => "joined before the sale",
                Some(_) if !view.presale => "joined after the sale opened",
                Some(_) => "joined again, sequenced",
            },
            Outcome::Accepted(Effect::QueueSequenced { more: true, .. }) => "sequenced, more to do",
            Outcome::Accepted(Effect::Admitted { customers: 0, .. }) => "admitted nobody",
            Outcome::Accepted(Effect::Admitted { .. }) => "admitted some",
            Outcome::Accepted(_) => "accepted otherwise",
        });
        match (&expected, &actual) {
            (Ok(None), Outcome::Accepted(Effect::Held(hold))) => {
                let release = Action::Release {
                    hold: hold.id.clone(),
                    customer: hold.customer.clone(),
                };
                self.sim.accept(release);
            }
            (Ok(Some(effect)), Outcome::Accepted(actual)) if effect == actual => {}
            (Err(rejection), Outcome::Rejected(actual)) if rejection == actual => {}
            _ => {
                return Err(format!(
                    "{op:?} at {}: expected {expected:?}, got {actual:?}",
                    self.sim.now
                ))
            }
        }
        self.check_reads()
    }

    /// Every customer's place and the queue's totals read as the model says.
    fn check_reads(&self) -> Result<(), String> {
        for who in 0..CUSTOMERS {
            let name = who_name(who);
            let read =
                query::queue_status(&self.sim.store, &ev(EV), &customer(&name), self.sim.now)
                    .unwrap();
            let expected = self.model.view(&name);
            if read != expected {
                return Err(format!(
                    "{name} at {}: expected {expected:?}, read {read:?}",
                    self.sim.now
                ));
            }
        }
        let summary = query::queue_summary(&self.sim.store, &ev(EV))
            .unwrap()
            .unwrap();
        let m = &self.model;
        let expected = (
            m.presale_total,
            m.presale_sequenced,
            m.later_count,
            m.watermark,
            m.settings,
        );
        let read = (
            summary.presale_total,
            summary.presale_sequenced,
            summary.later_count,
            summary.watermark,
            summary.settings,
        );
        if read != expected {
            return Err(format!("summary: expected {expected:?}, read {read:?}"));
        }
        Ok(())
    }
}

/// Runs `ops`; returns what the history reached.
fn run(ops: &[Op]) -> Result<BTreeSet<&'static str>, String> {
    let mut harness = Harness::new();
    for (i, op) in ops.iter().enumerate() {
        harness.step(op).map_err(|e| format!("step {i}: {e}"))?;
    }
    Ok(harness.seen)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..CUSTOMERS, 0u64..6).prop_map(|(who, rank)| Op::Join { who, rank }),
        2 => (1u32..=4).prop_map(|customers_max| Op::Sequence { customers_max }),
        3 => (1u32..=4).prop_map(|customers_max| Op::Admit { customers_max }),
        4 => (0..CUSTOMERS).prop_map(|who| Op::Hold { who }),
        1 => (0..ACCESS_TTLS_MS.len()).prop_map(|ttl| Op::SetAccessTtl { ttl }),
        1 => prop_oneof![Just(StatusChange::Open), Just(StatusChange::Pause)].prop_map(Op::Status),
        4 => prop_oneof![
            prop::sample::select(ADVANCES_MS.to_vec()),
            (1u64..80).prop_map(|k| k * 500),
        ]
        .prop_map(|ms| Op::Advance { ms }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_histories_agree_with_the_model(ops in prop::collection::vec(op(), 1..=120)) {
        if let Err(failure) = run(&ops).map(drop) {
            return Err(TestCaseError::fail(failure));
        }
    }
}

fn seed() -> u64 {
    let seed = std::env::var("BOXOFFICE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("BOXOFFICE_SEED={seed}");
    seed
}

fn random_op(rng: &mut ChaCha8Rng) -> Op {
    match rng.random_range(0..21) {
        0..=5 => Op::Join {
            who: rng.random_range(0..CUSTOMERS),
            rank: rng.random_range(0..6),
        },
        6..=7 => Op::Sequence {
            customers_max: rng.random_range(1..=4),
        },
        8..=10 => Op::Admit {
            customers_max: rng.random_range(1..=4),
        },
        11..=14 => Op::Hold {
            who: rng.random_range(0..CUSTOMERS),
        },
        15 => Op::SetAccessTtl {
            ttl: rng.random_range(0..ACCESS_TTLS_MS.len()),
        },
        16 => Op::Status(if rng.random_range(0..2) == 0 {
            StatusChange::Open
        } else {
            StatusChange::Pause
        }),
        _ => Op::Advance {
            ms: if rng.random_range(0..2) == 0 {
                ADVANCES_MS[rng.random_range(0..ADVANCES_MS.len())]
            } else {
                rng.random_range(1..80) * 500
            },
        },
    }
}

/// Many seeded sales (each with a pre-sale of its own), between them reaching every rule.
#[test]
fn seeded_sales_agree_with_the_model_and_reach_every_rule() {
    let mut rng = ChaCha8Rng::seed_from_u64(seed());
    let mut seen = BTreeSet::new();
    for sale in 0..30 {
        let ops: Vec<Op> = (0..200).map(|_| random_op(&mut rng)).collect();
        seen.extend(run(&ops).unwrap_or_else(|e| panic!("sale {sale}: {e}")));
    }
    for reached in [
        "joined before the sale",
        "joined after the sale opened",
        "sequenced, more to do",
        "admitted some",
        "admitted nobody",
        "held",
        "NOT_ADMITTED",
        "ADMISSION_EXPIRED",
        "SALE_NOT_STARTED",
        "EVENT_NOT_ON_SALE",
    ] {
        assert!(
            seen.contains(reached),
            "the history never reached {reached:?}: {seen:?}"
        );
    }
}
