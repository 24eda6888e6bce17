//! The etcd driver (etcd 3.4, three members): one key per seat, absent while free. A hold is one
//! transaction comparing every seat key (absent, or at the revision of an expired hold) and
//! putting them all; a buy is one transaction comparing the hold's values and putting them sold.
//! Expiry is lazy: the value carries the expiry time, judged by this machine's clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, KeyValue, KvClient, Txn,
    TxnOp, TxnOpResponse,
};

use super::{inventory_of, now_ms, Store, StoreError};
use crate::model::{
    code, BuyOutcome, ExpiryModel, FinalState, HeldCount, Hold, HoldOutcome, HoldRequest,
    Inventory, Layout, Pick, ReleaseOutcome, SeatRef, SeatState, SeatStatus,
};

/// Every key of the benchmark starts with this.
const PREFIX: &str = "/bo/";
/// Attempts of one best-available hold before it gives up as CONTENDED.
const BEST_AVAILABLE_ATTEMPTS_MAX: u32 = 4;
/// Keys per range read of the final state.
const RANGE_PAGE_KEYS_MAX: i64 = 10_000;
/// Longest wait for one etcd call.
const CALL_TIMEOUT_MS: u64 = 10_000;

/// The etcd store under test.
pub struct EtcdStore {
    client: Client,
    inventory: OnceLock<Inventory>,
    holds: AtomicU64,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("inventory", &self.inventory)
            .field("holds", &self.holds)
            .finish_non_exhaustive()
    }
}

/// A seat key's value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Held { hold: String, expires_at_ms: u64 },
    Sold { hold: String },
}

impl Value {
    fn parse(bytes: &[u8]) -> Result<Value, StoreError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| StoreError::Protocol("a seat value is not UTF-8".into()))?;
        let mut parts = text.split(' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("H"), Some(hold), Some(expiry)) => Ok(Value::Held {
                hold: hold.to_string(),
                expires_at_ms: expiry
                    .parse()
                    .map_err(|_| StoreError::Protocol(format!("seat value {text:?}")))?,
            }),
            (Some("S"), Some(hold), None) => Ok(Value::Sold {
                hold: hold.to_string(),
            }),
            _ => Err(StoreError::Protocol(format!("seat value {text:?}"))),
        }
    }

    fn held(hold: &str, expires_at_ms: u64) -> String {
        format!("H {hold} {expires_at_ms}")
    }

    fn sold(hold: &str) -> String {
        format!("S {hold}")
    }

    /// Free for a new hold at `now`: only an expired hold is.
    fn expired(&self, now: u64) -> bool {
        matches!(self, Value::Held { expires_at_ms, .. } if *expires_at_ms <= now)
    }
}

fn event_prefix(event: u32) -> String {
    format!("{PREFIX}e{event:05}/")
}

fn section_prefix(event: u32, section: u16) -> String {
    format!("{}{section:03}/", event_prefix(event))
}

/// Zero-padded, so a section's keys sort by row, then seat.
fn seat_key(seat: &SeatRef) -> String {
    format!(
        "{}{:04}/{:04}",
        section_prefix(seat.event, seat.section),
        seat.row,
        seat.seat
    )
}

fn parse_key(key: &[u8]) -> Result<SeatRef, StoreError> {
    let bad = || StoreError::Protocol(format!("seat key {:?}", String::from_utf8_lossy(key)));
    let text = std::str::from_utf8(key).map_err(|_| bad())?;
    let rest = text.strip_prefix(PREFIX).ok_or_else(bad)?;
    let mut parts = rest.split('/');
    let event = parts
        .next()
        .and_then(|e| e.strip_prefix('e'))
        .ok_or_else(bad)?;
    let number = |s: Option<&str>| s.and_then(|s| s.parse::<u16>().ok()).ok_or_else(bad);
    Ok(SeatRef {
        event: event.parse().map_err(|_| bad())?,
        section: number(parts.next())?,
        row: number(parts.next())?,
        seat: number(parts.next())?,
    })
}

/// The end of the range of keys starting with `prefix` (etcd's prefix convention).
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

/// A failed call: a write that may have been applied is indeterminate, anything else not applied.
fn call_error(error: etcd_client::Error) -> String {
    error.to_string()
}

impl EtcdStore {
    pub async fn connect(endpoints: &[String]) -> Result<Self, StoreError> {
        let options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_millis(CALL_TIMEOUT_MS));
        let client = Client::connect(endpoints, Some(options))
            .await
            .map_err(|e| StoreError::Connect(e.to_string()))?;
        Ok(EtcdStore {
            client,
            inventory: OnceLock::new(),
            holds: AtomicU64::new(0),
        })
    }

    fn kv(&self) -> KvClient {
        self.client.kv_client()
    }

    fn layout(&self, event: u32) -> Result<Layout, StoreError> {
        inventory_of(&self.inventory)?
            .layout(event)
            .copied()
            .ok_or_else(|| StoreError::NotApplied(format!("no event {event}")))
    }

    /// One transaction: for each seat, the compare given, then put them all held.
    async fn try_hold(
        &self,
        compares: Vec<Compare>,
        keys: &[String],
        value: &str,
    ) -> Result<bool, String> {
        let puts: Vec<TxnOp> = keys
            .iter()
            .map(|k| TxnOp::put(k.as_str(), value, None))
            .collect();
        let txn = Txn::new().when(compares).and_then(puts);
        self.kv()
            .txn(txn)
            .await
            .map(|r| r.succeeded())
            .map_err(call_error)
    }

    /// Reads `keys` in one transaction of gets: each key's value and mod revision, if present.
    async fn read(&self, keys: &[String]) -> Result<Vec<Option<(Value, i64)>>, StoreError> {
        let gets: Vec<TxnOp> = keys.iter().map(|k| TxnOp::get(k.as_str(), None)).collect();
        let reply = self
            .kv()
            .txn(Txn::new().and_then(gets))
            .await
            .map_err(|e| StoreError::NotApplied(call_error(e)))?;
        reply
            .op_responses()
            .into_iter()
            .map(|op| match op {
                TxnOpResponse::Get(get) => match get.kvs().first() {
                    Some(kv) => Ok(Some((Value::parse(kv.value())?, kv.mod_revision()))),
                    None => Ok(None),
                },
                _ => Err(StoreError::Protocol(
                    "a get answered with another op".into(),
                )),
            })
            .collect()
    }

    /// The compares that a hold of `keys` needs given their current values, or None when a seat is
    /// taken (held by a live hold, or sold).
    fn compares_for(
        keys: &[String],
        current: &[Option<(Value, i64)>],
        now: u64,
    ) -> Option<Vec<Compare>> {
        keys.iter()
            .zip(current)
            .map(|(key, value)| match value {
                None => Some(Compare::create_revision(key.as_str(), CompareOp::Equal, 0)),
                Some((value, revision)) if value.expired(now) => Some(Compare::mod_revision(
                    key.as_str(),
                    CompareOp::Equal,
                    *revision,
                )),
                Some(_) => None,
            })
            .collect()
    }

    fn new_hold_id(&self, customer: &str) -> String {
        let n = self.holds.fetch_add(1, Ordering::Relaxed);
        format!("{customer}.h{n}")
    }

    async fn hold_seats(
        &self,
        request: &HoldRequest,
        seats: &[SeatRef],
    ) -> Result<HoldOutcome, StoreError> {
        let layout = self.layout(request.pick.event())?;
        if seats.is_empty() || !seats.iter().all(|s| layout.contains(s)) {
            return Ok(HoldOutcome::Rejected(code::UNKNOWN_SEAT.into()));
        }
        let keys: Vec<String> = seats.iter().map(seat_key).collect();
        let hold = self.new_hold_id(&request.customer);
        let now = now_ms();
        let expires_at_ms = now + request.ttl_ms;
        let value = Value::held(&hold, expires_at_ms);
        let absent = keys
            .iter()
            .map(|k| Compare::create_revision(k.as_str(), CompareOp::Equal, 0))
            .collect();
        let held = match self.try_hold(absent, &keys, &value).await {
            Ok(true) => true,
            Ok(false) => {
                // Some seat has a key: taken, or an expired hold we may take over once.
                let current = self.read(&keys).await?;
                let now = now_ms();
                let any_expired = current.iter().flatten().any(|(v, _)| v.expired(now));
                match Self::compares_for(&keys, &current, now) {
                    Some(compares) if any_expired => {
                        match self.try_hold(compares, &keys, &value).await {
                            Ok(held) => held,
                            Err(reason) => return Ok(HoldOutcome::Indeterminate(reason)),
                        }
                    }
                    _ => false,
                }
            }
            Err(reason) => return Ok(HoldOutcome::Indeterminate(reason)),
        };
        Ok(if held {
            HoldOutcome::Held(Hold {
                id: hold,
                customer: request.customer.clone(),
                event: request.pick.event(),
                seats: seats.to_vec(),
                expires_at_ms,
            })
        } else {
            HoldOutcome::Rejected(code::SEAT_UNAVAILABLE.into())
        })
    }

    /// Range-reads the section, picks the first free seats (skipping `attempt * quantity` of them,
    /// so retries do not all chase the same seats), holds them in one transaction.
    async fn hold_best_available(
        &self,
        request: &HoldRequest,
        event: u32,
        section: u16,
        quantity: u32,
    ) -> Result<HoldOutcome, StoreError> {
        let layout = self.layout(event)?;
        if section >= layout.sections || quantity == 0 {
            return Ok(HoldOutcome::Rejected(code::UNKNOWN_SEAT.into()));
        }
        let hold = self.new_hold_id(&request.customer);
        for attempt in 0..BEST_AVAILABLE_ATTEMPTS_MAX {
            let prefix = section_prefix(event, section);
            let reply = self
                .kv()
                .get(
                    prefix.as_str(),
                    Some(GetOptions::new().with_range(prefix_end(&prefix))),
                )
                .await
                .map_err(|e| StoreError::NotApplied(call_error(e)))?;
            let now = now_ms();
            let mut present: HashMap<SeatRef, (Value, i64)> = HashMap::new();
            for kv in reply.kvs() {
                present.insert(
                    parse_key(kv.key())?,
                    (Value::parse(kv.value())?, kv.mod_revision()),
                );
            }
            let free: Vec<SeatRef> = (0..layout.seats_per_section())
                .map(|i| layout.seat_at(event, u32::from(section) * layout.seats_per_section() + i))
                .filter(|seat| present.get(seat).is_none_or(|(v, _)| v.expired(now)))
                .collect();
            if (free.len() as u32) < quantity {
                return Ok(HoldOutcome::Rejected(code::INSUFFICIENT_INVENTORY.into()));
            }
            let skip = ((attempt * quantity) as usize).min(free.len() - quantity as usize);
            let seats = &free[skip..skip + quantity as usize];
            let keys: Vec<String> = seats.iter().map(seat_key).collect();
            let compares = seats
                .iter()
                .zip(&keys)
                .map(|(seat, key)| match present.get(seat) {
                    Some((_, revision)) => {
                        Compare::mod_revision(key.as_str(), CompareOp::Equal, *revision)
                    }
                    None => Compare::create_revision(key.as_str(), CompareOp::Equal, 0),
                })
                .collect();
            let expires_at_ms = now + request.ttl_ms;
            match self
                .try_hold(compares, &keys, &Value::held(&hold, expires_at_ms))
                .await
            {
                Ok(true) => {
                    return Ok(HoldOutcome::Held(Hold {
                        id: hold,
                        customer: request.customer.clone(),
                        event,
                        seats: seats.to_vec(),
                        expires_at_ms,
                    }))
                }
                Ok(false) => continue,
                Err(reason) => return Ok(HoldOutcome::Indeterminate(reason)),
            }
        }
        Ok(HoldOutcome::Rejected(code::CONTENDED.into()))
    }

    fn seat_state(kv: &KeyValue, now: u64) -> Result<SeatState, StoreError> {
        let seat = parse_key(kv.key())?;
        Ok(match Value::parse(kv.value())? {
            Value::Sold { hold } => SeatState {
                seat,
                status: SeatStatus::Sold,
                owner: Some(hold),
            },
            Value::Held { expires_at_ms, .. } => SeatState {
                seat,
                status: if expires_at_ms <= now {
                    SeatStatus::Available
                } else {
                    SeatStatus::Held
                },
                owner: None,
            },
        })
    }
}

impl Store for EtcdStore {
    fn name(&self) -> &'static str {
        "etcd"
    }

    fn expiry_model(&self) -> ExpiryModel {
        ExpiryModel::Lazy
    }

    fn notes(&self) -> Vec<String> {
        vec!["3 members (Raft), fsync before acknowledging".into()]
    }

    async fn setup(&self, inventory: &Inventory) -> Result<(), StoreError> {
        // Free seats have no key: the only setup is forgetting earlier runs.
        self.kv()
            .delete(PREFIX, Some(DeleteOptions::new().with_prefix()))
            .await
            .map_err(|e| StoreError::Setup(call_error(e)))?;
        self.inventory
            .set(inventory.clone())
            .map_err(|_| StoreError::Setup("setup called twice".into()))
    }

    async fn hold(&self, request: &HoldRequest) -> Result<HoldOutcome, StoreError> {
        match &request.pick {
            Pick::Seats(seats) => self.hold_seats(request, seats).await,
            Pick::BestAvailable {
                event,
                section,
                quantity,
            } => {
                self.hold_best_available(request, *event, *section, *quantity)
                    .await
            }
        }
    }

    async fn buy(&self, hold: &Hold) -> Result<BuyOutcome, StoreError> {
        if hold.expires_at_ms <= now_ms() {
            return Ok(BuyOutcome::Rejected(code::HOLD_EXPIRED.into()));
        }
        let held = Value::held(&hold.id, hold.expires_at_ms);
        let sold = Value::sold(&hold.id);
        let keys: Vec<String> = hold.seats.iter().map(seat_key).collect();
        let compares: Vec<Compare> = keys
            .iter()
            .map(|k| Compare::value(k.as_str(), CompareOp::Equal, held.as_str()))
            .collect();
        let puts: Vec<TxnOp> = keys
            .iter()
            .map(|k| TxnOp::put(k.as_str(), sold.as_str(), None))
            .collect();
        match self
            .kv()
            .txn(Txn::new().when(compares).and_then(puts))
            .await
        {
            Ok(reply) if reply.succeeded() => Ok(BuyOutcome::Sold {
                order: hold.id.clone(),
                seats: hold.seats.clone(),
            }),
            // A value changes only when another hold took a seat after this one expired.
            Ok(_) => Ok(BuyOutcome::Rejected(code::HOLD_EXPIRED.into())),
            Err(error) => Ok(BuyOutcome::Indeterminate(call_error(error))),
        }
    }

    async fn release(&self, hold: &Hold) -> Result<ReleaseOutcome, StoreError> {
        let held = Value::held(&hold.id, hold.expires_at_ms);
        let keys: Vec<String> = hold.seats.iter().map(seat_key).collect();
        let compares: Vec<Compare> = keys
            .iter()
            .map(|k| Compare::value(k.as_str(), CompareOp::Equal, held.as_str()))
            .collect();
        let deletes: Vec<TxnOp> = keys
            .iter()
            .map(|k| TxnOp::delete(k.as_str(), None))
            .collect();
        match self
            .kv()
            .txn(Txn::new().when(compares).and_then(deletes))
            .await
        {
            Ok(reply) if reply.succeeded() => Ok(ReleaseOutcome::Released),
            Ok(_) => Ok(ReleaseOutcome::Rejected(code::HOLD_EXPIRED.into())),
            Err(error) => Ok(ReleaseOutcome::Indeterminate(call_error(error))),
        }
    }

    async fn final_state(&self) -> Result<FinalState, StoreError> {
        let inventory = inventory_of(&self.inventory)?;
        let now = now_ms();
        let mut present: HashMap<SeatRef, SeatState> = HashMap::new();
        let end = prefix_end(PREFIX);
        let mut from = PREFIX.as_bytes().to_vec();
        loop {
            let reply = self
                .kv()
                .get(
                    from.clone(),
                    Some(
                        GetOptions::new()
                            .with_range(end.clone())
                            .with_limit(RANGE_PAGE_KEYS_MAX),
                    ),
                )
                .await
                .map_err(|e| StoreError::NotApplied(call_error(e)))?;
            for kv in reply.kvs() {
                let state = Self::seat_state(kv, now)?;
                present.insert(state.seat, state);
            }
            match reply.kvs().last() {
                Some(last) if reply.more() => {
                    from = last.key().to_vec();
                    from.push(0);
                }
                _ => break,
            }
        }
        let seats = inventory
            .all_seats()
            .map(|seat| {
                present.remove(&seat).unwrap_or(SeatState {
                    seat,
                    status: SeatStatus::Available,
                    owner: None,
                })
            })
            .collect();
        Ok(FinalState { seats })
    }

    async fn held_count(&self, _events: &[u32]) -> Result<HeldCount, StoreError> {
        Err(StoreError::Unsupported(
            "etcd's expiry is lazy: nothing to watch".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys_sort_by_row_then_seat_and_parse_back() {
        let a = SeatRef {
            event: 3,
            section: 1,
            row: 2,
            seat: 10,
        };
        let b = SeatRef {
            seat: 9,
            row: 3,
            ..a
        };
        assert!(seat_key(&a) < seat_key(&b));
        assert_eq!(parse_key(seat_key(&a).as_bytes()).unwrap(), a);
        assert!(seat_key(&a).starts_with(&section_prefix(3, 1)));
        assert!(prefix_end(&section_prefix(3, 1)) > seat_key(&b).into_bytes());
    }

    #[test]
    fn values_round_trip_and_expire_by_the_clock() {
        let held = Value::parse(Value::held("c1.h0", 1_000).as_bytes()).unwrap();
        assert!(held.expired(1_000) && !held.expired(999));
        let sold = Value::parse(Value::sold("c1.h0").as_bytes()).unwrap();
        assert_eq!(
            sold,
            Value::Sold {
                hold: "c1.h0".into()
            }
        );
        assert!(!sold.expired(u64::MAX));
        assert!(Value::parse(b"X").is_err());
    }
}
