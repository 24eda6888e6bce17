//! The on-sale load the cluster tests share: buyers holding and buying seats on real processes,
//! every outcome recorded (orders with the log index that decided them, rejections, unknown
//! outcomes, when each answer came, the longest pause), and the
//! checks run on what they were told: no seat sold twice, every acknowledged order present.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use boxoffice_client::{Client, ClientError, Consistency};
use boxoffice_statemachine::{
    fixtures, CustomerId, Effect, EventId, EventSpec, HoldItems, OrderId, OrderView, Outcome,
    Scope, SeatId, Selection,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::Mutex;

use super::now_ms;

/// A stadium on sale now: `sections` x 10 rows x `seats` seats plus a GA field of `ga` places.
pub fn stadium_on_sale(id: &str, sections: usize, seats: u32, ga: u32) -> EventSpec {
    let mut spec = fixtures::stadium(id, sections, 10, seats, ga);
    spec.on_sale_at_ms = 0;
    spec.off_sale_at_ms = now_ms() + 24 * 3_600_000;
    spec.starts_at_ms = spec.off_sale_at_ms + 3_600_000;
    spec
}

pub fn seed() -> u64 {
    let seed = std::env::var("BOXOFFICE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(now_ms);
    println!("BOXOFFICE_SEED={seed}");
    seed
}

/// What all buyers together were told.
#[derive(Debug, Default)]
pub struct Sales {
    pub orders: Vec<OrderView>,
    pub indeterminate: u32,
    pub rejected: u32,
    /// Longest time without any successful command, and when it ended.
    pub longest_pause: Duration,
    /// The log index of the entry that decided each acknowledged order.
    pub order_indexes: BTreeMap<OrderId, u64>,
    /// Commands sent (holds and buys), whatever came back.
    pub commands: u32,
    /// When each command with a definite answer got it, in order.
    pub answered_at: Vec<Instant>,
}

impl Sales {
    /// The longest time without a definite answer within `[from, to]`.
    pub fn longest_pause_within(&self, from: Instant, to: Instant) -> Duration {
        let mut last = from;
        let mut longest = Duration::ZERO;
        for &at in self.answered_at.iter().filter(|&&at| at > from && at <= to) {
            longest = longest.max(at - last);
            last = at;
        }
        longest.max(to.saturating_duration_since(last))
    }

    /// Commands with no definite answer over commands sent.
    pub fn failed_rate(&self) -> f64 {
        f64::from(self.indeterminate) / f64::from(self.commands.max(1))
    }

    /// One line for the test's output: orders, rejections, failed requests, longest pause.
    pub fn summary(&self) -> String {
        format!(
            "{} orders, {} rejected, {} of {} commands failed ({:.3}%), longest pause {:?}",
            self.orders.len(),
            self.rejected,
            self.indeterminate,
            self.commands,
            100.0 * self.failed_rate(),
            self.longest_pause
        )
    }
}

/// One buyer: up to `attempts` holds of 1–2 seats (specific, GA or best available, by buyer) of
/// one of `events` (each a `stadium_on_sale(_, 2, 20, _)`), each bought when held, until `stop`.
/// Every outcome is recorded in `sales`.
#[allow(clippy::too_many_arguments)] // one buyer's whole setting, passed once
async fn buyer(
    client: Client,
    events: Arc<[EventId]>,
    buyer: u32,
    attempts: u32,
    seed: u64,
    sales: Arc<Mutex<Sales>>,
    last_success: Arc<Mutex<Instant>>,
    stop: Arc<AtomicBool>,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ u64::from(buyer));
    for attempt in 0..attempts {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let event = match events.len() {
            1 => &events[0],
            n => &events[rng.random_range(0..n)],
        };
        let customer = CustomerId::new(format!("b{buyer}-{attempt}")).unwrap();
        let quantity = rng.random_range(1..=2);
        let selection = match buyer % 3 {
            0 => Selection::Seats(
                (0..quantity)
                    .map(|_| SeatId {
                        section: rng.random_range(0..2),
                        row: rng.random_range(0..10),
                        index: rng.random_range(0..20),
                    })
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
            ),
            1 => Selection::GeneralAdmission {
                area: "Field".into(),
                quantity,
            },
            _ => Selection::BestAvailable {
                scope: Scope::Section(format!("S{}", rng.random_range(1..=2))),
                quantity,
            },
        };
        let held = client
            .hold(&client.new_request_id(), event, &customer, &selection, None)
            .await;
        let hold = match record(&sales, &last_success, held).await {
            Some((Effect::Held(hold), _)) => hold,
            _ => continue,
        };
        let bought = client
            .buy(&client.new_request_id(), &hold.id, &customer, "psp-test")
            .await;
        if let Some((Effect::Bought(order), index)) = record(&sales, &last_success, bought).await {
            let mut sales = sales.lock().await;
            sales.order_indexes.insert(order.id.clone(), index);
            sales.orders.push(order);
        }
    }
}

async fn record(
    sales: &Mutex<Sales>,
    last_success: &Mutex<Instant>,
    result: Result<boxoffice_client::Decided, ClientError>,
) -> Option<(Effect, u64)> {
    match result {
        Ok(decided) => {
            let now = Instant::now();
            let mut last = last_success.lock().await;
            let gap = now.duration_since(*last);
            *last = now;
            drop(last);
            let mut sales = sales.lock().await;
            sales.longest_pause = sales.longest_pause.max(gap);
            sales.commands += 1;
            sales.answered_at.push(now);
            match decided.outcome {
                Outcome::Accepted(effect) => Some((effect, decided.log_index)),
                Outcome::Rejected(_) => {
                    sales.rejected += 1;
                    None
                }
            }
        }
        Err(error) if error.is_indeterminate() => {
            let mut sales = sales.lock().await;
            sales.commands += 1;
            sales.indeterminate += 1;
            None
        }
        Err(error) => panic!("a definite error in a valid workload: {error}"),
    }
}

/// No seat of an event in two confirmed orders, and no more GA tickets of an event than its
/// `ga_capacity` places.
pub fn assert_no_oversell(orders: &[OrderView], ga_capacity: u32) {
    let mut seats = BTreeSet::new();
    let mut ga: BTreeMap<&EventId, u32> = BTreeMap::new();
    for order in orders {
        let event = &order.id.event;
        match &order.items {
            HoldItems::Seats(list) => {
                for seat in list {
                    assert!(
                        seats.insert((event, *seat)),
                        "seat {seat} of {event} sold twice"
                    );
                }
            }
            HoldItems::Places { quantity, .. } => *ga.entry(event).or_default() += quantity,
        }
    }
    for (event, sold) in ga {
        assert!(
            sold <= ga_capacity,
            "{sold} GA tickets of {event} for {ga_capacity} places"
        );
    }
}

/// Every acknowledged order reads back, linearizably, as confirmed.
pub async fn assert_orders_present(client: &Client, orders: &[OrderView]) {
    for order in orders {
        let read = client
            .get_order(&order.id, Consistency::Linearizable)
            .await
            .unwrap();
        let found = read
            .order
            .unwrap_or_else(|| panic!("acknowledged order {} is lost", order.id));
        assert_eq!(found.order_id, order.id.to_string());
    }
}

/// Buyers at work (see [`run_buyers`]).
pub struct Buyers {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// What they were told so far.
    pub sales: Arc<Mutex<Sales>>,
    stop: Arc<AtomicBool>,
}

impl Buyers {
    /// Lets every buyer finish its attempts; answers what they were told.
    pub async fn finish(self) -> Sales {
        for task in self.tasks {
            task.await.unwrap();
        }
        std::mem::take(&mut *self.sales.lock().await)
    }

    /// Stops every buyer after its current command; answers what they were told.
    pub async fn stop(self) -> Sales {
        self.stop.store(true, Ordering::Relaxed);
        self.finish().await
    }
}

/// Starts `buyers` buyers, each making up to `attempts` holds (and buys) on `events`.
pub fn run_buyers(
    client: &Client,
    events: &[EventId],
    buyers: u32,
    attempts: u32,
    seed: u64,
) -> Buyers {
    let sales = Arc::new(Mutex::new(Sales::default()));
    let last_success = Arc::new(Mutex::new(Instant::now()));
    let stop = Arc::new(AtomicBool::new(false));
    let events: Arc<[EventId]> = events.into();
    let tasks = (0..buyers)
        .map(|b| {
            tokio::spawn(buyer(
                client.clone(),
                events.clone(),
                b,
                attempts,
                seed,
                sales.clone(),
                last_success.clone(),
                stop.clone(),
            ))
        })
        .collect();
    Buyers { tasks, sales, stop }
}
