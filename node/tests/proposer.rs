//! The batching proposer packs concurrent callers' commands into few Raft entries and hands every
//! caller its own outcome; commands are stamped with the proposer's clock.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a failed test

use std::sync::Arc;

use boxoffice_node::local_cluster::LocalCluster;
use boxoffice_node::raft::proposer::{Clock, Proposer, ProposerLimits};
use boxoffice_node::raft::state_machine::StateMachine;
use boxoffice_statemachine::{
    fixtures, invariants, query, Action, CustomerId, Effect, EventId, Outcome, RequestId, Selection,
};
use openraft::{Config, Raft};

/// A clock stuck at one instant, so the test can check what time commands carry.
struct FixedClock(u64);

impl Clock for FixedClock {
    fn now_ms(&self) -> u64 {
        self.0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_share_raft_entries_and_each_caller_gets_its_outcome() {
    // One node leading one group, on its own RocksDB and gRPC port.
    let cluster = LocalCluster::start(1, vec![1], Config::default())
        .await
        .unwrap();
    cluster.leader(1).await.unwrap();
    let raft = cluster.raft(1, 1).unwrap();

    let limits = ProposerLimits {
        batch_commands_max: 64,
        ..ProposerLimits::default()
    };
    let proposer = Proposer::start(raft.clone(), Arc::new(FixedClock(5_000)), limits);
    let created = proposer
        .propose(
            RequestId::new("create").unwrap(),
            Action::CreateEvent(fixtures::stadium("ev", 4, 10, 25, 0)),
        )
        .await
        .unwrap()
        .outcome;
    assert!(created.rejection().is_none(), "{created:?}");
    let applied_before = applied_index(&raft).await;

    // 1,000 buyers at once, each holding one distinct seat.
    let mut callers = Vec::new();
    for i in 0..1_000u16 {
        let proposer = proposer.clone();
        callers.push(tokio::spawn(async move {
            let seat = boxoffice_statemachine::SeatId {
                section: i / 250,
                row: (i % 250) / 25,
                index: i % 25,
            };
            let action = Action::Hold {
                event: EventId::new("ev").unwrap(),
                customer: CustomerId::new(format!("c{i}")).unwrap(),
                selection: Selection::Seats(vec![seat]),
                ttl_ms: None,
            };
            (
                seat,
                proposer
                    .propose(RequestId::new(format!("hold-{i}")).unwrap(), action)
                    .await
                    .unwrap()
                    .outcome,
            )
        }));
    }
    for caller in callers {
        let (seat, outcome) = caller.await.unwrap();
        match outcome {
            Outcome::Accepted(Effect::Held(hold)) => {
                assert_eq!(
                    hold.items,
                    boxoffice_statemachine::HoldItems::Seats(vec![seat])
                );
                assert_eq!(hold.created_at_ms, 5_000, "stamped by the proposer's clock");
            }
            other => panic!("{other:?}"),
        }
    }
    let entries = applied_index(&raft).await - applied_before;
    eprintln!("1,000 holds committed in {entries} Raft entries");
    assert!(
        (1_000 / 64..1_000).contains(&entries),
        "{entries} entries for 1,000 commands"
    );

    let state = storage_state(&raft).await;
    assert_eq!(state.counts.held, 1_000);
    let event = raft
        .with_state_machine(|sm: &mut StateMachine| {
            Box::pin(async move {
                query::event(sm.state(), &EventId::new("ev").unwrap(), 0)
                    .unwrap()
                    .unwrap()
            })
        })
        .await
        .unwrap();
    assert_eq!(event.counts.held, 1_000);
}

async fn storage_state(
    raft: &Raft<boxoffice_node::raft::TypeConfig, StateMachine>,
) -> invariants::Audit {
    raft.with_state_machine(|sm: &mut StateMachine| {
        Box::pin(async move { invariants::check(sm.state()).unwrap() })
    })
    .await
    .unwrap()
}

async fn applied_index(raft: &Raft<boxoffice_node::raft::TypeConfig, StateMachine>) -> u64 {
    raft.with_state_machine(|sm: &mut StateMachine| {
        Box::pin(async move {
            use openraft::storage::RaftStateMachine;
            sm.applied_state().await.unwrap().0.map_or(0, |id| id.index)
        })
    })
    .await
    .unwrap()
}
