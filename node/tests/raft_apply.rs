//! Ticketing proposals applied through the Raft state machine give the outcomes and the state the
//! pure state machine gives; a snapshot built on one node and installed on another reproduces the
//! state bit for bit.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use boxoffice_node::raft::state_machine::StateMachine;
use boxoffice_node::raft::{Proposal, TypeConfig};
use boxoffice_node::storage::NodeStorage;
use boxoffice_statemachine::{
    execute, fixtures, invariants, snapshot, Action, Command, CustomerId, EventId, MemStore,
    RequestId, Selection,
};
use openraft::alias::{EntryOf, LogIdOf};
use openraft::entry::RaftEntry;
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::vote::RaftLeaderIdExt;

fn log_id(index: u64) -> LogIdOf<TypeConfig> {
    LogIdOf::<TypeConfig>::new(
        openraft::impls::leader_id_adv::LeaderId::new_committed(1, 1),
        index,
    )
}

/// Proposals of up to 5 commands: create a club, then GA holds by 40 customers, each bought.
fn proposals() -> Vec<Proposal> {
    commands().chunks(5).map(Proposal::tickets).collect()
}

/// The same commands in entries as builds before 2026-11-29 wrote them.
fn proposals_as_lists() -> Vec<Proposal> {
    commands()
        .chunks(5)
        .map(|c| Proposal::TicketList(c.to_vec()))
        .collect()
}

fn commands() -> Vec<Command> {
    let ev = EventId::new("club").unwrap();
    let mut commands = vec![Action::CreateEvent(fixtures::club("club"))];
    for c in 0..40 {
        commands.push(Action::Hold {
            event: ev.clone(),
            customer: CustomerId::new(format!("c{c}")).unwrap(),
            selection: Selection::GeneralAdmission {
                area: "Pit".into(),
                quantity: 1,
            },
            ttl_ms: None,
        });
    }
    commands
        .into_iter()
        .enumerate()
        .map(|(i, action)| Command {
            request_id: RequestId::new(format!("r{i}")).unwrap(),
            at_ms: 1_000 + i as u64,
            action,
        })
        .collect()
}

async fn apply(sm: &mut StateMachine, proposals: &[Proposal]) {
    let entries: Vec<EntryOf<TypeConfig>> = proposals
        .iter()
        .enumerate()
        .map(|(i, p)| EntryOf::<TypeConfig>::new_normal(log_id(i as u64 + 1), p.clone()))
        .collect();
    let stream = futures_util::stream::iter(entries.into_iter().map(|e| Ok((e, None))));
    sm.apply(stream).await.unwrap();
}

#[tokio::test]
async fn raft_apply_matches_the_pure_state_machine_and_snapshots_transfer() {
    let proposals = proposals();
    let dir = tempfile::tempdir().unwrap();
    let storage = NodeStorage::open(dir.path()).unwrap();
    let mut leader = StateMachine::new(storage.clone(), 1);
    apply(&mut leader, &proposals).await;

    let mut memory = MemStore::new();
    for command in commands() {
        execute(&mut memory, &command).unwrap();
    }
    let audit = invariants::check(leader.state()).unwrap();
    assert_eq!(audit.counts.held, 10, "the Pit has 10 places: 10 holds won");
    assert_eq!(invariants::check(&memory).unwrap().counts, audit.counts);

    let (applied, _) = leader.applied_state().await.unwrap();
    assert_eq!(applied, Some(log_id(proposals.len() as u64)));

    let built = leader.build_snapshot().await.unwrap();
    let other_dir = tempfile::tempdir().unwrap();
    let mut follower = StateMachine::new(NodeStorage::open(other_dir.path()).unwrap(), 1);
    follower
        .install_snapshot(&built.meta, built.snapshot)
        .await
        .unwrap();
    assert_eq!(
        snapshot::state_hash(follower.state()).unwrap(),
        snapshot::state_hash(leader.state()).unwrap()
    );
    assert_eq!(follower.applied_state().await.unwrap().0, applied);
    invariants::check(follower.state()).unwrap();
}

#[tokio::test]
async fn entries_written_as_command_lists_apply_as_encoded_ones() {
    let encoded_dir = tempfile::tempdir().unwrap();
    let mut encoded = StateMachine::new(NodeStorage::open(encoded_dir.path()).unwrap(), 1);
    apply(&mut encoded, &proposals()).await;
    let lists_dir = tempfile::tempdir().unwrap();
    let mut lists = StateMachine::new(NodeStorage::open(lists_dir.path()).unwrap(), 1);
    apply(&mut lists, &proposals_as_lists()).await;
    assert_eq!(
        snapshot::state_hash(lists.state()).unwrap(),
        snapshot::state_hash(encoded.state()).unwrap()
    );
    assert_eq!(invariants::check(lists.state()).unwrap().counts.held, 10);
}
