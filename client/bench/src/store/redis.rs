//! The Redis driver (one node, no persistence): the seed's lock design. A hold is
//! `SET seat NX PX ttl` (several seats: one Lua script, all or nothing); a buy is a Lua script
//! checking every key is still the hold's and setting it sold without expiry. An upper bound:
//! nothing is durable. Redis expires keys itself (lazily on access and by its sampling cycle).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use redis::aio::MultiplexedConnection;
use redis::{RedisError, Script, ScriptInvocation};

use super::{inventory_of, now_ms, Store, StoreError};
use crate::model::{
    code, BuyOutcome, ExpiryModel, FinalState, HeldCount, Hold, HoldOutcome, HoldRequest,
    Inventory, Layout, Pick, ReleaseOutcome, SeatRef, SeatState, SeatStatus,
};

/// Multiplexed connections shared round-robin by the buyers.
pub const CONNECTIONS_DEFAULT: usize = 4;
/// Keys per MGET of the final state.
const MGET_KEYS_MAX: usize = 1_000;

/// All or nothing: every key absent, then all set with the hold's value and time-to-live.
const HOLD_SCRIPT: &str = r"
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then return 0 end
end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
end
return 1";

/// Every key still the hold's: all set sold, without expiry.
const BUY_SCRIPT: &str = r"
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) ~= ARGV[1] then return 0 end
end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[2])
end
return 1";

/// Every key still the hold's: all deleted.
const RELEASE_SCRIPT: &str = r"
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) ~= ARGV[1] then return 0 end
end
redis.call('DEL', unpack(KEYS))
return 1";

/// The Redis store under test.
#[derive(Debug)]
pub struct RedisStore {
    connections: Vec<MultiplexedConnection>,
    next: AtomicUsize,
    holds: AtomicU64,
    hold_script: Script,
    buy_script: Script,
    release_script: Script,
    inventory: OnceLock<Inventory>,
}

fn seat_key(layout: &Layout, seat: &SeatRef) -> String {
    format!("seat:{}:{}", seat.event, layout.index_of(seat))
}

fn held_value(hold: &str) -> String {
    format!("H:{hold}")
}

fn sold_value(hold: &str) -> String {
    format!("S:{hold}")
}

fn call_error(error: &RedisError) -> String {
    error.to_string()
}

impl RedisStore {
    /// `connections` multiplexed connections to the server at `url` (`redis://host:port/`).
    pub async fn connect(url: &str, connections: usize) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(|e| StoreError::Connect(e.to_string()))?;
        let mut opened = Vec::new();
        for _ in 0..connections.max(1) {
            opened.push(
                client
                    .get_multiplexed_async_connection()
                    .await
                    .map_err(|e| StoreError::Connect(e.to_string()))?,
            );
        }
        Ok(RedisStore {
            connections: opened,
            next: AtomicUsize::new(0),
            holds: AtomicU64::new(0),
            hold_script: Script::new(HOLD_SCRIPT),
            buy_script: Script::new(BUY_SCRIPT),
            release_script: Script::new(RELEASE_SCRIPT),
            inventory: OnceLock::new(),
        })
    }

    fn connection(&self) -> MultiplexedConnection {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.connections[n % self.connections.len()].clone()
    }

    fn layout(&self, event: u32) -> Result<Layout, StoreError> {
        inventory_of(&self.inventory)?
            .layout(event)
            .copied()
            .ok_or_else(|| StoreError::NotApplied(format!("no event {event}")))
    }

    /// `script` to be run on the seat keys of `hold`.
    fn on_seats_of<'s>(
        &self,
        script: &'s Script,
        hold: &Hold,
    ) -> Result<ScriptInvocation<'s>, StoreError> {
        let Some(keys) = self.keys(hold.event, &hold.seats)? else {
            return Err(StoreError::Protocol(format!(
                "hold {} names unknown seats",
                hold.id
            )));
        };
        let mut invocation = script.prepare_invoke();
        for key in &keys {
            invocation.key(key);
        }
        Ok(invocation)
    }

    fn keys(&self, event: u32, seats: &[SeatRef]) -> Result<Option<Vec<String>>, StoreError> {
        let layout = self.layout(event)?;
        Ok(seats
            .iter()
            .map(|s| layout.contains(s).then(|| seat_key(&layout, s)))
            .collect())
    }
}

impl Store for RedisStore {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn expiry_model(&self) -> ExpiryModel {
        ExpiryModel::Swept
    }

    fn supports_best_available(&self) -> bool {
        false
    }

    fn notes(&self) -> Vec<String> {
        vec![
            "1 node, no persistence (--save '' --appendonly no): an upper bound, not durable"
                .into(),
        ]
    }

    async fn setup(&self, inventory: &Inventory) -> Result<(), StoreError> {
        // Free seats have no key: the only setup is forgetting earlier runs.
        let mut connection = self.connection();
        redis::cmd("FLUSHDB")
            .query_async::<()>(&mut connection)
            .await
            .map_err(|e| StoreError::Setup(e.to_string()))?;
        self.inventory
            .set(inventory.clone())
            .map_err(|_| StoreError::Setup("setup called twice".into()))
    }

    async fn hold(&self, request: &HoldRequest) -> Result<HoldOutcome, StoreError> {
        let Pick::Seats(seats) = &request.pick else {
            return Err(StoreError::Unsupported(
                "best-available: Redis keeps no order of free seats".into(),
            ));
        };
        let event = request.pick.event();
        let Some(keys) = self.keys(event, seats)? else {
            return Ok(HoldOutcome::Rejected(code::UNKNOWN_SEAT.into()));
        };
        let n = self.holds.fetch_add(1, Ordering::Relaxed);
        let hold = format!("{}.h{n}", request.customer);
        let value = held_value(&hold);
        let expires_at_ms = now_ms() + request.ttl_ms;
        let mut connection = self.connection();
        let held = if let [key] = keys.as_slice() {
            redis::cmd("SET")
                .arg(key)
                .arg(&value)
                .arg("NX")
                .arg("PX")
                .arg(request.ttl_ms)
                .query_async::<Option<String>>(&mut connection)
                .await
                .map(|reply| reply.is_some())
        } else {
            let mut invocation = self.hold_script.prepare_invoke();
            for key in &keys {
                invocation.key(key);
            }
            invocation
                .arg(&value)
                .arg(request.ttl_ms)
                .invoke_async::<i64>(&mut connection)
                .await
                .map(|reply| reply == 1)
        };
        Ok(match held {
            Ok(true) => HoldOutcome::Held(Hold {
                id: hold,
                customer: request.customer.clone(),
                event,
                seats: seats.clone(),
                expires_at_ms,
            }),
            Ok(false) => HoldOutcome::Rejected(code::SEAT_UNAVAILABLE.into()),
            Err(error) => HoldOutcome::Indeterminate(call_error(&error)),
        })
    }

    async fn buy(&self, hold: &Hold) -> Result<BuyOutcome, StoreError> {
        let mut invocation = self.on_seats_of(&self.buy_script, hold)?;
        let mut connection = self.connection();
        Ok(
            match invocation
                .arg(held_value(&hold.id))
                .arg(sold_value(&hold.id))
                .invoke_async::<i64>(&mut connection)
                .await
            {
                Ok(1) => BuyOutcome::Sold {
                    order: hold.id.clone(),
                    seats: hold.seats.clone(),
                },
                Ok(_) => BuyOutcome::Rejected(code::HOLD_EXPIRED.into()),
                Err(error) => BuyOutcome::Indeterminate(call_error(&error)),
            },
        )
    }

    async fn release(&self, hold: &Hold) -> Result<ReleaseOutcome, StoreError> {
        let mut invocation = self.on_seats_of(&self.release_script, hold)?;
        let mut connection = self.connection();
        Ok(
            match invocation
                .arg(held_value(&hold.id))
                .invoke_async::<i64>(&mut connection)
                .await
            {
                Ok(1) => ReleaseOutcome::Released,
                Ok(_) => ReleaseOutcome::Rejected(code::HOLD_EXPIRED.into()),
                Err(error) => ReleaseOutcome::Indeterminate(call_error(&error)),
            },
        )
    }

    async fn final_state(&self) -> Result<FinalState, StoreError> {
        let inventory = inventory_of(&self.inventory)?;
        let mut connection = self.connection();
        let mut seats = Vec::with_capacity(inventory.seats_total() as usize);
        let all: Vec<SeatRef> = inventory.all_seats().collect();
        for chunk in all.chunks(MGET_KEYS_MAX) {
            let keys = chunk
                .iter()
                .map(|seat| Ok(seat_key(&self.layout(seat.event)?, seat)))
                .collect::<Result<Vec<String>, StoreError>>()?;
            let values: Vec<Option<String>> = redis::cmd("MGET")
                .arg(&keys)
                .query_async(&mut connection)
                .await
                .map_err(|e| StoreError::NotApplied(e.to_string()))?;
            if values.len() != chunk.len() {
                return Err(StoreError::Protocol("MGET answered a wrong count".into()));
            }
            for (seat, value) in chunk.iter().zip(values) {
                let (status, owner) = match value.as_deref() {
                    None => (SeatStatus::Available, None),
                    Some(v) if v.starts_with("H:") => (SeatStatus::Held, None),
                    Some(v) => match v.strip_prefix("S:") {
                        Some(hold) => (SeatStatus::Sold, Some(hold.to_string())),
                        None => return Err(StoreError::Protocol(format!("seat value {v:?}"))),
                    },
                };
                seats.push(SeatState {
                    seat: *seat,
                    status,
                    owner,
                });
            }
        }
        Ok(FinalState { seats })
    }

    /// Keys with a time-to-live in the database (`INFO keyspace`): Redis frees expired keys in
    /// its own time, and reading them to count would expire them on access.
    async fn held_count(&self, _events: &[u32]) -> Result<HeldCount, StoreError> {
        let mut connection = self.connection();
        let info: String = redis::cmd("INFO")
            .arg("keyspace")
            .query_async(&mut connection)
            .await
            .map_err(|e| StoreError::NotApplied(e.to_string()))?;
        Ok(HeldCount::KeysWithTtl(keys_with_ttl(&info)))
    }
}

/// The `expires=` count of db0 in an `INFO keyspace` answer (0 when the database is empty).
fn keys_with_ttl(info: &str) -> u64 {
    info.lines()
        .find_map(|line| line.trim().strip_prefix("db0:"))
        .and_then(|fields| {
            fields
                .split(',')
                .find_map(|f| f.strip_prefix("expires="))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_with_ttl_reads_db0() {
        let info = "# Keyspace\r\ndb0:keys=120,expires=100,avg_ttl=5000\r\n";
        assert_eq!(keys_with_ttl(info), 100);
        assert_eq!(keys_with_ttl("# Keyspace\r\n"), 0);
    }
}
