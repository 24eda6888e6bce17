//! The state machine over the node's RocksDB behaves exactly as over the in-memory store: same
//! outcomes, same state hash; groups are isolated; state survives a reopen; corrupt bytes are errors.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use boxoffice_node::storage::{group_key, NodeStorage, CF_STATE};
use boxoffice_statemachine::{
    execute, fixtures, invariants, query, snapshot, Action, Command, CustomerId, EventId, HoldId,
    KvStore, MemStore, RequestId, SeatId, Selection, Store,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn seed() -> u64 {
    let seed = std::env::var("BOXOFFICE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("BOXOFFICE_SEED={seed}");
    seed
}

/// An on-sale log for event `ev`: holds of every kind, buys and releases of recent holds, sweeps.
fn onsale_log(ev: &str, seed: u64, len: u64) -> Vec<Command> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let event = EventId::new(ev).unwrap();
    let command = |i: u64, at_ms: u64, action| Command {
        request_id: RequestId::new(format!("{ev}-{i}")).unwrap(),
        at_ms,
        action,
    };
    let mut log = vec![command(
        0,
        1_000,
        Action::CreateEvent(fixtures::stadium(ev, 3, 4, 8, 20)),
    )];
    for i in 1..len {
        let at = 1_000 + i * 700;
        let customer = CustomerId::new(format!("c{}", rng.random_range(0..25))).unwrap();
        let hold = HoldId {
            event: event.clone(),
            number: rng.random_range(1..=i / 2 + 1),
        };
        let action = match rng.random_range(0..10) {
            0..=3 => Action::Hold {
                event: event.clone(),
                customer,
                selection: Selection::Seats(vec![SeatId {
                    section: rng.random_range(0..3),
                    row: rng.random_range(0..4),
                    index: rng.random_range(0..8),
                }]),
                ttl_ms: Some(rng.random_range(1_000..30_000)),
            },
            4 => Action::Hold {
                event: event.clone(),
                customer,
                selection: Selection::GeneralAdmission {
                    area: "Field".into(),
                    quantity: 2,
                },
                ttl_ms: None,
            },
            5..=7 => Action::Buy {
                hold,
                customer,
                payment_reference: format!("p{i}"),
            },
            8 => Action::Release { hold, customer },
            _ => Action::Expire { holds_max: 4 },
        };
        log.push(command(i, at, action));
    }
    log
}

#[test]
fn the_state_machine_over_rocksdb_matches_the_in_memory_store() {
    let dir = tempfile::tempdir().unwrap();
    let storage = NodeStorage::open(dir.path()).unwrap();
    let mut rocks = storage.group_state(7);
    let mut memory = MemStore::new();
    for command in onsale_log("ev", seed(), 1_500) {
        let on_rocks = execute(&mut rocks, &command).unwrap();
        let in_memory = execute(&mut memory, &command).unwrap();
        assert_eq!(on_rocks, in_memory, "{command:?}");
    }
    invariants::check(&rocks).unwrap();
    assert_eq!(
        snapshot::state_hash(&rocks).unwrap(),
        snapshot::state_hash(&memory).unwrap()
    );
}

#[test]
fn groups_never_see_each_others_keys() {
    let dir = tempfile::tempdir().unwrap();
    let storage = NodeStorage::open(dir.path()).unwrap();
    let seed = seed();
    let mut one = storage.group_state(1);
    let mut two = storage.group_state(2);
    for command in onsale_log("a", seed, 300) {
        execute(&mut one, &command).unwrap();
    }
    for command in onsale_log("b", seed, 300) {
        execute(&mut two, &command).unwrap();
    }
    assert!(query::event(&one, &EventId::new("b").unwrap(), 0)
        .unwrap()
        .is_none());
    assert!(query::event(&two, &EventId::new("a").unwrap(), 0)
        .unwrap()
        .is_none());
    // A scan to the end of group 1's key space stops at group 2's first key.
    let all_of_one = one.scan(&[], &[0xff; 4], usize::MAX).unwrap();
    let mut alone = MemStore::new();
    for command in onsale_log("a", seed, 300) {
        execute(&mut alone, &command).unwrap();
    }
    assert_eq!(all_of_one, alone.scan(&[], &[0xff; 4], usize::MAX).unwrap());
    invariants::check(&one).unwrap();
    invariants::check(&two).unwrap();
}

#[test]
fn state_survives_closing_and_reopening_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let hash = {
        let storage = NodeStorage::open(dir.path()).unwrap();
        let mut group = storage.group_state(3);
        for command in onsale_log("ev", seed(), 400) {
            execute(&mut group, &command).unwrap();
        }
        storage.sync().unwrap();
        snapshot::state_hash(&group).unwrap()
    };
    let reopened = NodeStorage::open(dir.path()).unwrap();
    let group = reopened.group_state(3);
    assert_eq!(snapshot::state_hash(&group).unwrap(), hash);
    invariants::check(&group).unwrap();
}

#[test]
fn corrupt_bytes_on_disk_are_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let storage = NodeStorage::open(dir.path()).unwrap();
    let mut group = storage.group_state(4);
    for command in onsale_log("ev", 1, 50) {
        execute(&mut group, &command).unwrap();
    }
    // Overwrite every state value of the group with garbage, behind the state machine's back.
    let keys: Vec<Vec<u8>> = group
        .scan(&[], &[0xff], usize::MAX)
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let mut batch = boxoffice_statemachine::Txn::new(&group);
    for key in keys {
        batch.put(key, vec![0xee, 0x01]);
    }
    let writes = batch.into_batch();
    group.commit(writes).unwrap();
    let ev = EventId::new("ev").unwrap();
    assert!(query::event(&group, &ev, 0).is_err());
    assert!(invariants::check(&group).is_err());
    let hold = Command {
        request_id: RequestId::new("after-corruption").unwrap(),
        at_ms: 10_000_000,
        action: Action::Hold {
            event: ev,
            customer: CustomerId::new("c1").unwrap(),
            selection: Selection::GeneralAdmission {
                area: "Field".into(),
                quantity: 1,
            },
            ttl_ms: None,
        },
    };
    assert!(execute(&mut group, &hold).is_err());
}

#[test]
fn group_keys_start_with_the_big_endian_group_id() {
    assert_eq!(group_key(4, b"k"), [0, 0, 0, 0, 0, 0, 0, 4, b'k']);
    assert!(
        group_key(1, &[0xff; 8]) < group_key(2, &[]),
        "groups sort as contiguous ranges"
    );
    assert_eq!(CF_STATE, "state");
}

#[test]
fn one_wal_sync_serves_every_append_waiting_for_it() {
    use std::sync::mpsc::channel;
    let dir = tempfile::tempdir().unwrap();
    let storage = NodeStorage::open(dir.path()).unwrap();
    let (done, finished) = channel();
    let appends = 2_000;
    for i in 0..appends {
        let mut group = storage.group_state(i % 16);
        let mut txn = boxoffice_statemachine::Txn::new(&group);
        txn.put(vec![0x7f], vec![1]);
        let writes = txn.into_batch();
        group.commit(writes).unwrap();
        let done = done.clone();
        storage
            .flusher()
            .after_sync(Box::new(move |result| done.send(result.is_ok()).unwrap()));
    }
    let ok = finished
        .iter()
        .take(appends as usize)
        .filter(|ok| *ok)
        .count();
    assert_eq!(ok, appends as usize, "every append was reported durable");
    let stats = storage.flusher().stats();
    let syncs = stats.syncs.load(std::sync::atomic::Ordering::Relaxed);
    let requests = stats.requests.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("{requests} appends made durable by {syncs} WAL syncs");
    assert!(
        syncs < requests,
        "{syncs} syncs for {requests} appends: no group commit"
    );
}
