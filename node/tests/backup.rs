//! Backup and restore with real processes under a steady on-sale: a backup of three `boxofficed`
//! processes taken while buyers keep buying restores into a new cluster (other ports, other
//! directories) whose every replica holds exactly the backup's data (data hash) and passes the
//! audit; every buy acknowledged at or before its group's backed-up index is there and none after
//! it, no seat is sold twice, and the restored cluster takes new holds and buys. The failed-request
//! rate and the longest pause the buyers saw during the backup are printed.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use boxoffice_client::backup::{self, Manifest, ReplicaCheck, Taken};
use boxoffice_client::{Client, Consistency};
use boxoffice_statemachine::{EventSpec, OrderView};
use support::sales::{
    assert_no_oversell, assert_orders_present, run_buyers, seed, stadium_on_sale, Sales,
};
use support::{create_event, ProcessCluster};

/// GA places of the event on sale (plus 2 sections x 10 rows x 20 seats).
const GA_PLACES: u32 = 3_000;

/// Takes a backup of the cluster `client` reaches into `dir`, which must be new; returns its
/// manifest and when it started and ended.
async fn backup(client: &Client, dir: &Path) -> (Manifest, Instant, Instant) {
    let from = Instant::now();
    let taken = backup::take(client, dir, |line| println!("backup: {line}"))
        .await
        .unwrap();
    let to = Instant::now();
    match taken {
        Taken::New(manifest) => (manifest, from, to),
        Taken::AlreadyComplete(_) => panic!("{} held a backup already", dir.display()),
    }
}

/// Runs buyers on `spec` through `source` for a while, backs up in the middle and sells on; returns
/// what the buyers were told and the backup's manifest, with the failed-request rate and the
/// longest pause during the backup printed.
async fn backup_during_an_on_sale(
    source: &ProcessCluster,
    spec: &EventSpec,
    dir: &Path,
    seed: u64,
) -> (Sales, Manifest) {
    let client = source.client();
    let buyers = run_buyers(&client, std::slice::from_ref(&spec.id), 24, 10_000, seed);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (manifest, from, to) = backup(&client, dir).await;
    // The on-sale goes on after the backup: those buys are not in it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sales = buyers.stop().await;
    let during = sales
        .answered_at
        .iter()
        .filter(|&&at| at > from && at <= to)
        .count();
    println!(
        "backup of {} groups, {} bytes: {:?} ({} ms by the manifest); {during} commands answered \
         meanwhile, longest pause {:?}; whole on-sale: {}",
        manifest.groups.len(),
        manifest.bytes(),
        to - from,
        manifest.took_ms,
        sales.longest_pause_within(from, to),
        sales.summary(),
    );
    (sales, manifest)
}

/// The orders decided at or before `index` of their group, and those after.
fn split_at(sales: &Sales, index: u64) -> (Vec<OrderView>, Vec<OrderView>) {
    sales
        .orders
        .iter()
        .cloned()
        .partition(|order| sales.order_indexes[&order.id] <= index)
}

/// Every replica of the restored cluster holds the backup's data and passes the audit, and the
/// replicas of each group agree.
async fn assert_restored_exactly(restored: &ProcessCluster, dir: &Path, manifest: &Manifest) {
    let checks = backup::check_restore(&restored.client(), dir)
        .await
        .unwrap();
    assert!(checks.iter().all(ReplicaCheck::matches), "{checks:#?}");
    for part in &manifest.groups {
        let replicas = checks.iter().filter(|c| c.group == part.group).count();
        assert_eq!(replicas, 3, "group {}: every replica checked", part.group);
        let audit = restored.converged(part.group).await;
        assert_eq!(audit.data_hash, part.data_hash, "group {}", part.group);
    }
}

/// Orders in the backup read back; orders after it do not exist in the restored cluster.
async fn assert_orders_as_of_the_backup(
    client: &Client,
    before: &[OrderView],
    after: &[OrderView],
) {
    assert_orders_present(client, before).await;
    for order in after {
        let read = client
            .get_order(&order.id, Consistency::Linearizable)
            .await
            .unwrap();
        assert!(
            read.order.is_none(),
            "order {} came after the backup but is restored",
            order.id
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_during_an_on_sale_restores_every_acknowledged_buy_into_a_new_cluster() {
    let seed = seed();
    let source = ProcessCluster::start(3, 3, 50_000).await;
    let spec = stadium_on_sale("backup", 2, 20, GA_PLACES);
    let group = create_event(&source.client(), &spec).await;
    let dir = tempfile::tempdir().unwrap();

    let (sales, manifest) = backup_during_an_on_sale(&source, &spec, dir.path(), seed).await;
    assert_no_oversell(&sales.orders, GA_PLACES);
    let backed_up = manifest.group(group).unwrap().applied_index;
    let (before, after) = split_at(&sales, backed_up);
    assert!(
        !before.is_empty() && !after.is_empty(),
        "the backup was taken mid-sale: {} orders before index {backed_up}, {} after",
        before.len(),
        after.len()
    );
    assert_eq!(
        backup::take(&source.client(), dir.path(), |_| ())
            .await
            .unwrap(),
        Taken::AlreadyComplete(manifest.clone()),
        "a second backup into a complete one changes nothing"
    );
    drop(source);

    let (restored, took) = ProcessCluster::restored(dir.path(), 3).await;
    println!("restored 3 nodes in {took:?}");
    assert_restored_exactly(&restored, dir.path(), &manifest).await;
    let client = restored.client();
    let audit = restored.converged(group).await;
    let tickets: u64 = before.iter().map(|o| o.tickets.len() as u64).sum();
    let sold = u64::from(audit.counts.unwrap().sold);
    // An indeterminate buy may have landed too; every acknowledged one did.
    assert!(sold >= tickets, "{sold} sold, {tickets} acknowledged");
    if sales.indeterminate == 0 {
        assert_eq!(
            sold, tickets,
            "every sold seat belongs to an acknowledged order"
        );
    }
    assert_orders_as_of_the_backup(&client, &before, &after).await;

    // The restored cluster sells on, and still sells no seat twice.
    let more = run_buyers(
        &client,
        std::slice::from_ref(&spec.id),
        6,
        5,
        seed.wrapping_add(1),
    )
    .finish()
    .await;
    assert!(!more.orders.is_empty(), "the restored cluster takes buys");
    let all: Vec<OrderView> = before.iter().chain(&more.orders).cloned().collect();
    assert_no_oversell(&all, GA_PLACES);
    restored.converged(group).await;

    let refusal = restored.restore_refused(1, dir.path());
    assert!(refusal.contains("already holds a database"), "{refusal}");
}
