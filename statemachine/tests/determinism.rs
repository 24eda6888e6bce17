//! Same log in, same bytes out: replicas that apply one log (one entry at a time, or many entries per
//! batch as the node does) end with identical states, and a snapshot reproduces a state bit for bit.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use boxoffice_statemachine::{
    apply, execute, fixtures, invariants, query, snapshot, Action, AdmissionSettings,
    AdmissionStatus, Command, CustomerId, Effect, HoldId, KvStore, MemStore, Outcome, RequestId,
    Scope, SeatId, Selection, Store, Txn,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use support::{customer, ev};

fn seed() -> u64 {
    let seed = std::env::var("BOXOFFICE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("BOXOFFICE_SEED={seed}");
    seed
}

/// The gated event of the random logs, and when it goes on sale.
const GATED: &str = "wr";
const GATED_ON_SALE_MS: u64 = 150_000;
/// Customers of the gated event are `q0`.. below this.
const QUEUED: u32 = 60;

/// A random but valid-looking on-sale log: holds of every kind, buys, releases, extends, cancels,
/// blocks, expiry sweeps, retries and clock jitter (some stamps go backwards); and beside it a gated
/// event's waiting room: joins before and after its on-sale time, sequencing, admissions, setting
/// changes and holds by admitted and other customers.
fn random_log(seed: u64, len: usize) -> Vec<Command> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut gated = fixtures::stadium(GATED, 1, 2, 10, 100);
    gated.gated = true;
    gated.on_sale_at_ms = GATED_ON_SALE_MS;
    let mut log = vec![
        Command {
            request_id: RequestId::new("create").unwrap(),
            at_ms: 1_000,
            action: Action::CreateEvent(fixtures::stadium("ev", 4, 6, 10, 50)),
        },
        Command {
            request_id: RequestId::new("create-gated").unwrap(),
            at_ms: 1_000,
            action: Action::CreateEvent(gated),
        },
    ];
    // The log is written against a replica of its own, so that most buys, releases and extends name
    // a hold that exists, by its holder, as real clients' would.
    let mut replica = MemStore::new();
    for command in &log {
        execute(&mut replica, command).unwrap();
    }
    let mut held: Vec<(HoldId, CustomerId)> = Vec::new();
    let mut clock = 1_000u64;
    for i in 0..len {
        clock = (clock + rng.random_range(0..3_000)).saturating_sub(rng.random_range(0..1_000));
        let mut who = customer(&format!("c{}", rng.random_range(0..40)));
        let hold = HoldId {
            event: ev("ev"),
            number: rng.random_range(1..=(i as u64 / 2 + 1)),
        };
        let mut hold = hold;
        if !held.is_empty() && rng.random_range(0..10) < 8 {
            let recent = held.len().saturating_sub(20)..held.len();
            let (id, holder) = held[rng.random_range(recent)].clone();
            hold = id;
            if rng.random_range(0..10) < 9 {
                who = holder;
            }
        }
        let seat = || SeatId {
            section: 0,
            row: 0,
            index: 0,
        };
        let action = if rng.random_range(0..5) == 0 {
            queue_action(&mut rng, &replica, clock)
        } else {
            match rng.random_range(0..100) {
                0..=29 => {
                    let seats = (0..rng.random_range(1..=3))
                        .map(|_| SeatId {
                            section: rng.random_range(0..4),
                            row: rng.random_range(0..6),
                            index: rng.random_range(0..10),
                        })
                        .collect::<Vec<_>>();
                    let mut seats = seats;
                    seats.dedup();
                    Action::Hold {
                        event: ev("ev"),
                        customer: who.clone(),
                        selection: Selection::Seats(seats),
                        ttl_ms: None,
                    }
                }
                30..=39 => Action::Hold {
                    event: ev("ev"),
                    customer: who.clone(),
                    selection: Selection::BestAvailable {
                        scope: Scope::Tier("Lower".into()),
                        quantity: rng.random_range(1..=4),
                    },
                    ttl_ms: Some(rng.random_range(1_000..60_000)),
                },
                40..=47 => Action::Hold {
                    event: ev("ev"),
                    customer: who.clone(),
                    selection: Selection::GeneralAdmission {
                        area: "Field".into(),
                        quantity: rng.random_range(1..=3),
                    },
                    ttl_ms: None,
                },
                48..=69 => Action::Buy {
                    hold,
                    customer: who.clone(),
                    payment_reference: format!("pay-{i}"),
                },
                70..=77 => Action::Release {
                    hold,
                    customer: who.clone(),
                },
                78..=83 => Action::ExtendHold {
                    hold,
                    customer: who.clone(),
                    ttl_ms: None,
                },
                84..=86 => Action::CancelOrder {
                    order: boxoffice_statemachine::OrderId {
                        event: ev("ev"),
                        number: rng.random_range(1..=(i as u64 / 4 + 1)),
                    },
                    reason: "refund".into(),
                },
                87..=88 => Action::BlockSeats {
                    event: ev("ev"),
                    seats: vec![seat()],
                },
                89 => Action::UnblockSeats {
                    event: ev("ev"),
                    seats: vec![seat()],
                },
                _ => Action::Expire {
                    holds_max: rng.random_range(1..=8),
                },
            }
        };
        // One command in ten retries an earlier request id.
        let request_id = if i > 0 && rng.random_range(0..10) == 0 {
            log[rng.random_range(1..log.len())].request_id.clone()
        } else {
            RequestId::new(format!("r{i}")).unwrap()
        };
        let command = Command {
            request_id,
            at_ms: clock,
            action,
        };
        if let Outcome::Accepted(Effect::Held(hold)) = execute(&mut replica, &command).unwrap() {
            held.push((hold.id, hold.customer));
        }
        log.push(command);
    }
    log
}

/// A waiting-room command on the gated event; most holds are asked by a customer `replica` shows
/// admitted at `clock`.
fn queue_action(rng: &mut ChaCha8Rng, replica: &MemStore, clock: u64) -> Action {
    let event = ev(GATED);
    let mut who = customer(&format!("q{}", rng.random_range(0..QUEUED)));
    let admitted: Vec<CustomerId> = (0..QUEUED)
        .map(|k| customer(&format!("q{k}")))
        .filter(|c| {
            query::queue_status(replica, &event, c, clock)
                .unwrap()
                .is_some_and(|place| matches!(place.admission, AdmissionStatus::Admitted { .. }))
        })
        .collect();
    if !admitted.is_empty() && rng.random_range(0..3) > 0 {
        who = admitted[rng.random_range(0..admitted.len())].clone();
    }
    match rng.random_range(0..10) {
        0..=3 => Action::JoinQueue {
            event,
            customer: who,
            rank: rng.random(),
        },
        4 => Action::SequenceQueue {
            event,
            customers_max: rng.random_range(1..=8),
        },
        5 => Action::Admit {
            event,
            customers_max: rng.random_range(1..=8),
        },
        6 => Action::SetAdmission {
            event,
            settings: AdmissionSettings {
                access_ttl_ms: rng.random_range(1_000..120_000),
                ..AdmissionSettings::default()
            },
        },
        _ => Action::Hold {
            event,
            customer: who,
            selection: Selection::GeneralAdmission {
                area: "Field".into(),
                quantity: 1,
            },
            ttl_ms: None,
        },
    }
}

fn replay_one_by_one(log: &[Command]) -> MemStore {
    let mut store = MemStore::new();
    for command in log {
        execute(&mut store, command).unwrap();
    }
    store
}

/// Applies `batch` entries per commit through one parent transaction, as the node's apply loop does.
fn replay_in_batches(log: &[Command], batch: usize) -> MemStore {
    let mut store = MemStore::new();
    for entries in log.chunks(batch) {
        let mut txn = Txn::new(&store);
        for command in entries {
            let applied = apply(&txn, command).unwrap();
            txn.absorb(applied.writes);
        }
        let writes = txn.into_batch();
        store.commit(writes).unwrap();
    }
    store
}

#[test]
fn replicas_applying_the_same_log_hold_identical_bytes() {
    let log = random_log(seed(), 3_000);
    let one_by_one = replay_one_by_one(&log);
    let again = replay_one_by_one(&log);
    let batched = replay_in_batches(&log, 37);
    assert_eq!(one_by_one, again);
    assert_eq!(
        one_by_one, batched,
        "batching entries must not change the result"
    );
    let audit = invariants::check(&one_by_one).unwrap();
    assert!(audit.confirmed_orders >= 20, "{audit:?}");
    let queue = query::queue_summary(&one_by_one, &ev(GATED))
        .unwrap()
        .unwrap();
    assert!(
        queue.presale_total > 0 && queue.later_count > 0 && queue.watermark > 0,
        "the log reached the waiting room: {queue:?}"
    );
    let first_gated_hold = HoldId {
        event: ev(GATED),
        number: 1,
    };
    assert!(
        query::hold(&one_by_one, &first_gated_hold, 0)
            .unwrap()
            .is_some(),
        "an admitted customer held"
    );
    assert_eq!(
        snapshot::state_hash(&one_by_one).unwrap(),
        snapshot::state_hash(&batched).unwrap()
    );
}

#[test]
fn a_snapshot_streamed_in_small_chunks_restores_the_state_bit_for_bit() {
    let store = replay_one_by_one(&random_log(seed(), 1_000));
    let mut chunks = Vec::new();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let chunk = snapshot::export_chunk(&store, after.as_deref(), 700).unwrap();
        assert!(!chunk.entries.is_empty() || chunk.resume_after.is_none());
        after = chunk.resume_after.clone();
        chunks.push(chunk);
        if after.is_none() {
            break;
        }
    }
    assert!(
        chunks.len() > 5,
        "the stream came in {} chunks",
        chunks.len()
    );
    let mut restored = MemStore::new();
    snapshot::import(&mut restored, chunks.clone()).unwrap();
    assert_eq!(restored, store);
    let gated = ev(GATED);
    let summary = query::queue_summary(&store, &gated).unwrap().unwrap();
    assert!(
        summary.presale_total + summary.later_count > 0,
        "{summary:?}"
    );
    assert_eq!(
        query::queue_summary(&restored, &gated).unwrap(),
        Some(summary),
        "the waiting room travels with the snapshot"
    );
    for k in 0..QUEUED {
        let who = customer(&format!("q{k}"));
        assert_eq!(
            query::queue_status(&restored, &gated, &who, 0).unwrap(),
            query::queue_status(&store, &gated, &who, 0).unwrap()
        );
    }
    assert_eq!(
        snapshot::state_hash(&restored).unwrap(),
        snapshot::state_hash(&store).unwrap()
    );
    invariants::check(&restored).unwrap();

    let refused = snapshot::import(&mut restored, chunks);
    assert!(matches!(refused, Err(snapshot::ImportError::NotEmpty)));
}

#[test]
fn an_out_of_order_snapshot_is_refused() {
    let chunk = snapshot::Chunk {
        entries: vec![(vec![2], vec![]), (vec![1], vec![])],
        resume_after: None,
    };
    let mut store = MemStore::new();
    assert!(matches!(
        snapshot::import(&mut store, [chunk]),
        Err(snapshot::ImportError::OutOfOrder(1))
    ));
    assert!(
        store.scan(&[], &[0xff], 1).unwrap().is_empty(),
        "nothing was written"
    );
}

#[test]
fn different_states_hash_differently() {
    let log = random_log(seed(), 200);
    let full = replay_one_by_one(&log);
    let shorter = replay_one_by_one(&log[..log.len() - 1]);
    if full != shorter {
        assert_ne!(
            snapshot::state_hash(&full).unwrap(),
            snapshot::state_hash(&shorter).unwrap()
        );
    }
    let mut touched = full.clone();
    let mut txn = Txn::new(&touched);
    txn.put(vec![0x7f], vec![]);
    let batch = txn.into_batch();
    touched.commit(batch).unwrap();
    assert_ne!(
        snapshot::state_hash(&full).unwrap(),
        snapshot::state_hash(&touched).unwrap()
    );
}

/// The state a fixed log leaves, pinned to its hash. Replicas running different builds apply one log
/// during a rolling upgrade, so a build that writes other bytes for the same log (another encoding,
/// another decision) must not pass unnoticed: when this fails on purpose, the change is a format
/// change and needs its own upgrade path before the constant is updated.
#[test]
fn a_fixed_log_leaves_the_bytes_it_always_left() {
    const SEED: u64 = 20_261_129;
    let state = replay_in_batches(&random_log(SEED, 3_000), 16);
    invariants::check(&state).unwrap();
    assert_eq!(
        format!("{:032x}", snapshot::state_hash(&state).unwrap()),
        "858a77f4b4cdfb0ff63fb976b9c60ad6"
    );
}
