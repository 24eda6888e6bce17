//! The leader sweeps expired holds back on sale by itself, without client traffic.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a failed test

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use boxoffice_node::local_cluster::LocalCluster;
use boxoffice_node::raft::expiry::{start_sweeper, SweepStats, Sweeper};
use boxoffice_node::raft::proposer::{Clock, Proposer, ProposerLimits};
use boxoffice_node::raft::state_machine::StateMachine;
use boxoffice_statemachine::{fixtures, query, Action, CustomerId, EventId, RequestId, Selection};
use openraft::Config;

/// A clock the test moves by hand.
#[derive(Default)]
struct ManualClock(AtomicU64);

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_returns_expired_holds_to_sale_on_its_own() {
    // One node leading one group, on its own RocksDB and gRPC port.
    let cluster = LocalCluster::start(1, vec![1], Config::default())
        .await
        .unwrap();
    cluster.leader(1).await.unwrap();
    let raft = cluster.raft(1, 1).unwrap();

    let clock = Arc::new(ManualClock(AtomicU64::new(10_000)));
    let proposer = Proposer::start(raft.clone(), clock.clone(), ProposerLimits::default());
    proposer
        .propose(
            RequestId::new("create").unwrap(),
            Action::CreateEvent(fixtures::club("club")),
        )
        .await
        .unwrap();
    for i in 0..10 {
        let hold = Action::Hold {
            event: EventId::new("club").unwrap(),
            customer: CustomerId::new(format!("c{i}")).unwrap(),
            selection: Selection::GeneralAdmission {
                area: "Pit".into(),
                quantity: 1,
            },
            ttl_ms: Some(5_000),
        };
        let outcome = proposer
            .propose(RequestId::new(format!("h{i}")).unwrap(), hold)
            .await
            .unwrap()
            .outcome;
        assert!(outcome.rejection().is_none(), "{outcome:?}");
    }

    let state = raft
        .with_state_machine(|sm: &mut StateMachine| Box::pin(async move { sm.state().clone() }))
        .await
        .unwrap();
    let stats = Arc::new(SweepStats::default());
    let sweeper = start_sweeper(Sweeper {
        node_id: 1,
        group: 1,
        raft: raft.clone(),
        state,
        proposer,
        clock: clock.clone(),
        every: Duration::from_millis(20),
        stats: stats.clone(),
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        stats.sweeps.load(Ordering::SeqCst),
        0,
        "nothing has expired yet, so the leader proposes nothing"
    );

    clock.0.store(15_000, Ordering::SeqCst);
    for _ in 0..100 {
        if stats.holds_expired.load(Ordering::SeqCst) == 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stats.holds_expired.load(Ordering::SeqCst), 10);
    assert_eq!(
        boxoffice_node::metrics::metrics().holds_expired_total.get(),
        10,
        "boxoffice_holds_expired_total counts them"
    );
    assert!(
        stats.sweeps.load(Ordering::SeqCst) > 0,
        "the leader swept on its own"
    );
    let held = raft
        .with_state_machine(|sm: &mut StateMachine| {
            Box::pin(async move {
                query::event(sm.state(), &EventId::new("club").unwrap(), 0)
                    .unwrap()
                    .unwrap()
                    .counts
                    .held
            })
        })
        .await
        .unwrap();
    assert_eq!(
        held, 0,
        "every expired hold is back on sale in the stored counts"
    );
    sweeper.abort();
}
