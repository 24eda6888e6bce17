//! The Boxoffice driver: the `boxoffice-client` crate used as an application server would use it
//! (one `Client`, shared by every buyer task), stadium-shaped events, linearizable seat maps and
//! every replica's audit at the end.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use boxoffice_client::{proto, Client, ClientError, ClientOptions, Consistency, Decided};
use boxoffice_statemachine::{
    fixtures, CustomerId, Effect, EventId, EventLimits, HoldId, HoldItems, Outcome, Scope, SeatId,
    Selection,
};
use tokio::sync::Semaphore;

use super::{inventory_of, now_ms, Store, StoreError};
use crate::model::{
    Audit, BuyOutcome, ExpiryModel, FinalState, HeldCount, Hold, HoldOutcome, HoldRequest,
    Inventory, Pick, ReleaseOutcome, SeatRef, SeatState, SeatStatus,
};
use crate::workload::SEATS_PER_HOLD_MAX;

/// Times a command whose outcome is unknown is re-sent with the same request id.
const INDETERMINATE_RETRIES_MAX: u32 = 3;
/// Events created at once during setup.
const SETUP_CONCURRENCY_MAX: usize = 16;
/// How long the replica audit waits for every replica of a group to reach the same index.
const AUDIT_CONVERGE_MS: u64 = 30_000;

/// The Boxoffice store under test.
#[derive(Debug)]
pub struct BoxofficeStore {
    client: Client,
    dedicated_group: bool,
    inventory: OnceLock<Inventory>,
    event_ids: OnceLock<Vec<EventId>>,
}

fn client_error(error: ClientError) -> StoreError {
    match error {
        ClientError::Unavailable(reason) => StoreError::NotApplied(reason),
        other => StoreError::Protocol(other.to_string()),
    }
}

fn seat_id(seat: &SeatRef) -> SeatId {
    SeatId {
        section: seat.section,
        row: seat.row,
        index: seat.seat,
    }
}

fn seat_ref(event: u32, seat: &SeatId) -> SeatRef {
    SeatRef {
        event,
        section: seat.section,
        row: seat.row,
        seat: seat.index,
    }
}

impl BoxofficeStore {
    /// A store reached through the gRPC `endpoints` (host:port of the nodes).
    pub fn connect(endpoints: &[String], dedicated_group: bool) -> Result<Self, StoreError> {
        let client = Client::connect(endpoints, ClientOptions::default())
            .map_err(|e| StoreError::Connect(e.to_string()))?;
        Ok(BoxofficeStore {
            client,
            dedicated_group,
            inventory: OnceLock::new(),
            event_ids: OnceLock::new(),
        })
    }

    fn event_id(&self, event: u32) -> Result<&EventId, StoreError> {
        self.event_ids
            .get()
            .and_then(|ids| ids.get(event as usize))
            .ok_or(StoreError::NotSetUp)
    }
}

/// Sends a command, re-sending it with the same request id while its outcome is unknown.
async fn decide<F, Fut>(send: F) -> Result<Result<Decided, String>, StoreError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Decided, ClientError>>,
{
    let mut attempts = 0;
    loop {
        match send().await {
            Ok(decided) => return Ok(Ok(decided)),
            Err(error) if error.is_indeterminate() => {
                attempts += 1;
                if attempts > INDETERMINATE_RETRIES_MAX {
                    return Ok(Err(error.to_string()));
                }
            }
            Err(error) => return Err(client_error(error)),
        }
    }
}

async fn create_event(
    client: &Client,
    dedicated_group: bool,
    id: EventId,
    spec_layout: crate::model::Layout,
) -> Result<(), StoreError> {
    let mut spec = fixtures::stadium(
        id.as_str(),
        usize::from(spec_layout.sections),
        usize::from(spec_layout.rows),
        u32::from(spec_layout.seats_per_row),
        0,
    );
    let now = now_ms();
    spec.on_sale_at_ms = now.saturating_sub(60_000);
    spec.off_sale_at_ms = now + 24 * fixtures::HOUR_MS;
    spec.starts_at_ms = spec.off_sale_at_ms + fixtures::HOUR_MS;
    // Every hold has a customer of its own: these limits never refuse the workload.
    spec.limits = EventLimits {
        seats_per_hold_max: SEATS_PER_HOLD_MAX,
        seats_per_customer_max: SEATS_PER_HOLD_MAX,
        holds_per_customer_max: 2,
        hold_ttl_ms: 60_000,
        hold_lifetime_ms_max: boxoffice_statemachine::limits::HOLD_LIFETIME_MS_MAX,
    };
    let request = client.new_request_id();
    let decided = decide(|| client.create_event(&request, &spec, dedicated_group))
        .await?
        .map_err(StoreError::Setup)?;
    match decided.outcome {
        Outcome::Accepted(_) => Ok(()),
        Outcome::Rejected(why) => Err(StoreError::Setup(format!("event {id}: {}", why.code()))),
    }
}

impl Store for BoxofficeStore {
    fn name(&self) -> &'static str {
        "boxoffice"
    }

    fn expiry_model(&self) -> ExpiryModel {
        ExpiryModel::Swept
    }

    fn notes(&self) -> Vec<String> {
        vec!["3 replicas (Raft), fsync before acknowledging".into()]
    }

    async fn setup(&self, inventory: &Inventory) -> Result<(), StoreError> {
        let ids = (0..inventory.events.len() as u32)
            .map(|e| {
                EventId::new(inventory.event_name(e)).map_err(|e| StoreError::Setup(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let limit = Arc::new(Semaphore::new(SETUP_CONCURRENCY_MAX));
        let mut tasks = Vec::new();
        for (id, layout) in ids.iter().cloned().zip(inventory.events.iter().copied()) {
            let limit = limit.clone();
            let client = self.client.clone();
            let dedicated_group = self.dedicated_group;
            tasks.push(tokio::spawn(async move {
                let _permit = limit
                    .acquire()
                    .await
                    .map_err(|e| StoreError::Setup(e.to_string()))?;
                create_event(&client, dedicated_group, id, layout).await
            }));
        }
        for task in tasks {
            task.await
                .map_err(|e| StoreError::Setup(format!("setup task: {e}")))??;
        }
        self.inventory
            .set(inventory.clone())
            .map_err(|_| StoreError::Setup("setup called twice".into()))?;
        self.event_ids
            .set(ids)
            .map_err(|_| StoreError::Setup("setup called twice".into()))?;
        Ok(())
    }

    async fn hold(&self, request: &HoldRequest) -> Result<HoldOutcome, StoreError> {
        let event = request.pick.event();
        let event_id = self.event_id(event)?;
        let selection = match &request.pick {
            Pick::Seats(seats) => Selection::Seats(seats.iter().map(seat_id).collect()),
            Pick::BestAvailable {
                section, quantity, ..
            } => Selection::BestAvailable {
                scope: Scope::Section(format!("S{}", section + 1)),
                quantity: *quantity,
            },
        };
        let customer = CustomerId::new(request.customer.as_str())
            .map_err(|e| StoreError::NotApplied(e.to_string()))?;
        let id = self.client.new_request_id();
        let decided = decide(|| {
            self.client
                .hold(&id, event_id, &customer, &selection, Some(request.ttl_ms))
        })
        .await?;
        let decided = match decided {
            Ok(decided) => decided,
            Err(reason) => return Ok(HoldOutcome::Indeterminate(reason)),
        };
        match decided.outcome {
            Outcome::Accepted(Effect::Held(view)) => {
                let seats = match &view.items {
                    HoldItems::Seats(seats) => seats.iter().map(|s| seat_ref(event, s)).collect(),
                    HoldItems::Places { .. } => {
                        return Err(StoreError::Protocol(
                            "a seated hold answered with places".into(),
                        ))
                    }
                };
                Ok(HoldOutcome::Held(Hold {
                    id: view.id.to_string(),
                    customer: request.customer.clone(),
                    event,
                    seats,
                    expires_at_ms: view.expires_at_ms,
                }))
            }
            Outcome::Accepted(other) => Err(StoreError::Protocol(format!(
                "a hold answered with {other:?}"
            ))),
            Outcome::Rejected(why) => Ok(HoldOutcome::Rejected(why.code().to_string())),
        }
    }

    async fn buy(&self, hold: &Hold) -> Result<BuyOutcome, StoreError> {
        let (hold_id, customer) = ids_of(hold)?;
        let payment = format!("pay-{}", hold.customer);
        let id = self.client.new_request_id();
        let decided = decide(|| self.client.buy(&id, &hold_id, &customer, &payment)).await?;
        let decided = match decided {
            Ok(decided) => decided,
            Err(reason) => return Ok(BuyOutcome::Indeterminate(reason)),
        };
        match decided.outcome {
            Outcome::Accepted(Effect::Bought(order)) => {
                let seats = order
                    .tickets
                    .iter()
                    .filter_map(|t| t.seat.as_ref())
                    .map(|s| seat_ref(hold.event, s))
                    .collect();
                Ok(BuyOutcome::Sold {
                    order: order.id.to_string(),
                    seats,
                })
            }
            Outcome::Accepted(other) => Err(StoreError::Protocol(format!(
                "a buy answered with {other:?}"
            ))),
            Outcome::Rejected(why) => Ok(BuyOutcome::Rejected(why.code().to_string())),
        }
    }

    async fn release(&self, hold: &Hold) -> Result<ReleaseOutcome, StoreError> {
        let (hold_id, customer) = ids_of(hold)?;
        let id = self.client.new_request_id();
        let decided = decide(|| self.client.release(&id, &hold_id, &customer)).await?;
        Ok(match decided {
            Err(reason) => ReleaseOutcome::Indeterminate(reason),
            Ok(decided) => match decided.outcome {
                Outcome::Accepted(_) => ReleaseOutcome::Released,
                Outcome::Rejected(why) => ReleaseOutcome::Rejected(why.code().to_string()),
            },
        })
    }

    async fn final_state(&self) -> Result<FinalState, StoreError> {
        let inventory = inventory_of(&self.inventory)?;
        let mut seats = Vec::with_capacity(inventory.seats_total() as usize);
        for event in 0..inventory.events.len() as u32 {
            let id = self.event_id(event)?;
            let map = self
                .client
                .seat_map(id, None, Consistency::Linearizable)
                .await
                .map_err(client_error)?;
            for section in &map.sections {
                for row in &section.rows {
                    for seat in &row.seats {
                        let parsed: SeatId = seat.seat_id.parse().map_err(|e| {
                            StoreError::Protocol(format!("seat id {}: {e}", seat.seat_id))
                        })?;
                        let status = match seat.status() {
                            proto::SeatStatus::Available => SeatStatus::Available,
                            proto::SeatStatus::Held => SeatStatus::Held,
                            proto::SeatStatus::Sold => SeatStatus::Sold,
                            proto::SeatStatus::Blocked => SeatStatus::Blocked,
                            proto::SeatStatus::Unspecified => {
                                return Err(StoreError::Protocol(format!(
                                    "seat {} without a status",
                                    seat.seat_id
                                )))
                            }
                        };
                        // The seat map does not name the order; the replica audit checks that
                        // every sold seat belongs to exactly one confirmed order.
                        seats.push(SeatState {
                            seat: seat_ref(event, &parsed),
                            status,
                            owner: None,
                        });
                    }
                }
            }
        }
        Ok(FinalState { seats })
    }

    async fn held_count(&self, events: &[u32]) -> Result<HeldCount, StoreError> {
        let mut held = 0;
        for &event in events {
            let reply = self
                .client
                .event(self.event_id(event)?, Consistency::Linearizable)
                .await
                .map_err(client_error)?;
            held += reply
                .event
                .and_then(|e| e.counts)
                .map_or(0, |c| u64::from(c.held));
        }
        Ok(HeldCount::Seats(held))
    }

    /// Every replica of every group: its invariant audit, and the same state hash as the other
    /// replicas once they have applied the same index. Each group is polled until its replicas
    /// agree or `AUDIT_CONVERGE_MS` has passed (as the Jepsen convergence check does).
    async fn audit(&self) -> Result<Option<Audit>, StoreError> {
        let status = self.client.cluster_status().await.map_err(client_error)?;
        let addresses: BTreeMap<u64, String> = status
            .nodes
            .iter()
            .map(|n| (n.node_id, n.grpc_address.clone()))
            .collect();
        let deadline = Instant::now() + Duration::from_millis(AUDIT_CONVERGE_MS);
        let mut problems = Vec::new();
        let mut replicas_audited = 0;
        for group in &status.groups {
            loop {
                let mut seen: Vec<(u64, u64, String)> = Vec::new();
                let mut group_problems = Vec::new();
                for node in &group.replicas {
                    let Some(address) = addresses.get(node) else {
                        group_problems
                            .push(format!("group {}: node {node} has no address", group.group));
                        continue;
                    };
                    match self.client.audit_replica(address, group.group).await {
                        Ok(reply) => {
                            if !reply.violation.is_empty() {
                                group_problems.push(format!(
                                    "node {node} group {}: {}",
                                    group.group, reply.violation
                                ));
                            }
                            seen.push((*node, reply.applied_index, reply.state_hash));
                        }
                        Err(e) => {
                            group_problems.push(format!("node {node} group {}: {e}", group.group))
                        }
                    }
                }
                let indexes: std::collections::BTreeSet<u64> = seen.iter().map(|s| s.1).collect();
                let hashes: std::collections::BTreeSet<&str> =
                    seen.iter().map(|s| s.2.as_str()).collect();
                if indexes.len() == 1 && hashes.len() > 1 {
                    group_problems.push(format!(
                        "group {}: replicas DIVERGED at applied index {:?}: {seen:?}",
                        group.group, indexes
                    ));
                }
                let settled = indexes.len() == 1 && seen.len() == group.replicas.len();
                if settled || Instant::now() > deadline {
                    if !settled {
                        group_problems.push(format!(
                            "group {}: replicas still at different applied indexes after {} ms (node, index, hash): {seen:?}",
                            group.group, AUDIT_CONVERGE_MS
                        ));
                    }
                    replicas_audited += seen.len();
                    problems.extend(group_problems);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        Ok(Some(if problems.is_empty() {
            Audit {
                ok: true,
                detail: format!(
                    "{replicas_audited} replicas of {} groups: invariants hold, hashes agree",
                    status.groups.len()
                ),
            }
        } else {
            Audit {
                ok: false,
                detail: problems.join("; "),
            }
        }))
    }
}

/// A hold's id and customer as the client takes them.
fn ids_of(hold: &Hold) -> Result<(HoldId, CustomerId), StoreError> {
    let hold_id: HoldId = hold
        .id
        .parse()
        .map_err(|e: boxoffice_statemachine::InvalidId| StoreError::Protocol(e.to_string()))?;
    let customer = CustomerId::new(hold.customer.as_str())
        .map_err(|e| StoreError::NotApplied(e.to_string()))?;
    Ok((hold_id, customer))
}
