//! The PostgreSQL driver (one node, `synchronous_commit=on`), in two designs: the seed's
//! optimistic locking (read versions, then per seat `UPDATE ... WHERE version = $read`, any miss
//! rolls back) and pessimistic `SELECT ... FOR UPDATE`. Best-available takes
//! `FOR UPDATE SKIP LOCKED` in both. Expiry is lazy: a held row whose `expires_at` has passed is
//! free for the next hold (this machine's clock).

use std::sync::OnceLock;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use super::{inventory_of, now_ms, Store, StoreError};
use crate::model::{
    code, BuyOutcome, ExpiryModel, FinalState, HeldCount, Hold, HoldOutcome, HoldRequest,
    Inventory, Layout, Pick, ReleaseOutcome, SeatRef, SeatState, SeatStatus,
};

/// Which locking design.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locking {
    /// The seed's design: versions read first, conditional updates in one transaction.
    Optimistic,
    /// `SELECT ... FOR UPDATE` the seats, then update them.
    ForUpdate,
}

/// The PostgreSQL store under test.
#[derive(Debug)]
pub struct PostgresStore {
    pool: Pool,
    locking: Locking,
    pool_connections: usize,
    inventory: OnceLock<Inventory>,
}

const SCHEMA: &str = "
DROP TABLE IF EXISTS seats, orders;
CREATE TABLE seats (
    event_id   integer  NOT NULL,
    seat       integer  NOT NULL,  -- position in the event: section, row, seat order
    section    smallint NOT NULL,
    row_no     smallint NOT NULL,
    seat_no    smallint NOT NULL,
    status     text     NOT NULL DEFAULT 'AVAILABLE',
    version    bigint   NOT NULL DEFAULT 0,
    hold_id    text,
    expires_at bigint,
    order_id   text,
    PRIMARY KEY (event_id, seat)
) WITH (fillfactor = 70);
CREATE TABLE orders (
    order_id   text    PRIMARY KEY,
    hold_id    text    NOT NULL,
    event_id   integer NOT NULL,
    customer   text    NOT NULL,
    seats      integer NOT NULL,
    created_at bigint  NOT NULL
);
";

const SEATS_OF_EVENT: &str = "
INSERT INTO seats (event_id, seat, section, row_no, seat_no)
SELECT e, s, s / $2, (s % $2) / $3, s % $3
FROM generate_series($1::integer, $4::integer) AS e, generate_series(0, $5::integer - 1) AS s";

const READ_VERSIONS: &str = "
SELECT seat, status, version, expires_at FROM seats
WHERE event_id = $1 AND seat = ANY($2) ORDER BY seat";

const HOLD_IF_VERSION: &str = "
UPDATE seats SET status = 'HELD', version = version + 1, hold_id = $3, expires_at = $4, order_id = NULL
WHERE event_id = $1 AND seat = $2 AND version = $5
  AND (status = 'AVAILABLE' OR (status = 'HELD' AND expires_at < $6))";

const LOCK_SEATS: &str = "
SELECT seat, status, expires_at FROM seats
WHERE event_id = $1 AND seat = ANY($2) ORDER BY seat FOR UPDATE";

const HOLD_LOCKED: &str = "
UPDATE seats SET status = 'HELD', version = version + 1, hold_id = $3, expires_at = $4, order_id = NULL
WHERE event_id = $1 AND seat = ANY($2)";

const PICK_BEST: &str = "
SELECT seat FROM seats
WHERE event_id = $1 AND seat >= $2 AND seat < $3
  AND (status = 'AVAILABLE' OR (status = 'HELD' AND expires_at < $4))
ORDER BY seat LIMIT $5 FOR UPDATE SKIP LOCKED";

const SELL: &str = "
UPDATE seats SET status = 'SOLD', version = version + 1, order_id = $4
WHERE event_id = $1 AND seat = ANY($2) AND status = 'HELD' AND hold_id = $3 AND expires_at > $5";

const INSERT_ORDER: &str = "
INSERT INTO orders (order_id, hold_id, event_id, customer, seats, created_at)
VALUES ($1, $2, $3, $4, $5, $6)";

const RELEASE: &str = "
UPDATE seats SET status = 'AVAILABLE', version = version + 1, hold_id = NULL, expires_at = NULL
WHERE event_id = $1 AND seat = ANY($2) AND status = 'HELD' AND hold_id = $3";

const FINAL_STATE: &str = "
SELECT seat, status, hold_id, expires_at FROM seats WHERE event_id = $1 ORDER BY seat";

/// The server's own message when there is one ("db error" alone says nothing).
fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(error) {
            Some(source) => format!("{error}: {source}"),
            None => error.to_string(),
        },
    }
}

fn sql_error(error: tokio_postgres::Error) -> StoreError {
    StoreError::NotApplied(describe(&error))
}

/// Whether a seat row is free for a new hold at `now`.
fn free(status: &str, expires_at: Option<i64>, now: i64) -> bool {
    status == "AVAILABLE" || (status == "HELD" && expires_at.is_some_and(|e| e < now))
}

fn hold_id(customer: &str) -> String {
    format!("{customer}.h")
}

impl PostgresStore {
    /// A pool of at most `pool_connections` connections to the database at `url`
    /// (`host=... port=... user=... dbname=...`).
    pub fn connect(
        url: &str,
        locking: Locking,
        pool_connections: usize,
    ) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| StoreError::Connect(e.to_string()))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_connections.max(1))
            .build()
            .map_err(|e| StoreError::Connect(e.to_string()))?;
        Ok(PostgresStore {
            pool,
            locking,
            pool_connections,
            inventory: OnceLock::new(),
        })
    }

    async fn connection(&self) -> Result<Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::NotApplied(format!("pool: {e}")))
    }

    fn layout(&self, event: u32) -> Result<Layout, StoreError> {
        inventory_of(&self.inventory)?
            .layout(event)
            .copied()
            .ok_or_else(|| StoreError::NotApplied(format!("no event {event}")))
    }

    fn held(
        request: &HoldRequest,
        event: u32,
        layout: &Layout,
        seats: &[i32],
        expires_at: i64,
    ) -> HoldOutcome {
        HoldOutcome::Held(Hold {
            id: hold_id(&request.customer),
            customer: request.customer.clone(),
            event,
            seats: seats
                .iter()
                .map(|&s| layout.seat_at(event, s as u32))
                .collect(),
            expires_at_ms: expires_at as u64,
        })
    }

    /// Seat positions of a specific-seat request, sorted (every transaction locks in that order).
    fn positions(layout: &Layout, seats: &[SeatRef]) -> Option<Vec<i32>> {
        let mut positions: Vec<i32> = seats
            .iter()
            .map(|s| layout.contains(s).then(|| layout.index_of(s) as i32))
            .collect::<Option<_>>()?;
        positions.sort_unstable();
        positions.dedup();
        Some(positions)
    }

    async fn hold_optimistic(
        &self,
        request: &HoldRequest,
        event: u32,
        layout: &Layout,
        seats: &[i32],
    ) -> Result<HoldOutcome, StoreError> {
        let mut client = self.connection().await?;
        let now = now_ms() as i64;
        let read = client
            .prepare_cached(READ_VERSIONS)
            .await
            .map_err(sql_error)?;
        let rows = client
            .query(&read, &[&(event as i32), &seats])
            .await
            .map_err(sql_error)?;
        if rows.len() != seats.len() {
            return Ok(HoldOutcome::Rejected(code::UNKNOWN_SEAT.into()));
        }
        let mut versions = Vec::with_capacity(rows.len());
        for row in &rows {
            let status: &str = row.try_get(1).map_err(sql_error)?;
            let expires_at: Option<i64> = row.try_get(3).map_err(sql_error)?;
            if !free(status, expires_at, now) {
                return Ok(HoldOutcome::Rejected(code::SEAT_UNAVAILABLE.into()));
            }
            versions.push((
                row.try_get::<_, i32>(0).map_err(sql_error)?,
                row.try_get::<_, i64>(2).map_err(sql_error)?,
            ));
        }
        let id = hold_id(&request.customer);
        let expires_at = now + request.ttl_ms as i64;
        let update = client
            .prepare_cached(HOLD_IF_VERSION)
            .await
            .map_err(sql_error)?;
        let txn = client.transaction().await.map_err(sql_error)?;
        for (seat, version) in versions {
            let updated = txn
                .execute(
                    &update,
                    &[&(event as i32), &seat, &id, &expires_at, &version, &now],
                )
                .await
                .map_err(sql_error)?;
            if updated == 0 {
                txn.rollback().await.map_err(sql_error)?;
                return Ok(HoldOutcome::Rejected(code::SEAT_UNAVAILABLE.into()));
            }
        }
        Ok(match txn.commit().await {
            Ok(()) => Self::held(request, event, layout, seats, expires_at),
            Err(error) => HoldOutcome::Indeterminate(describe(&error)),
        })
    }

    async fn hold_for_update(
        &self,
        request: &HoldRequest,
        event: u32,
        layout: &Layout,
        seats: &[i32],
    ) -> Result<HoldOutcome, StoreError> {
        let mut client = self.connection().await?;
        let lock = client.prepare_cached(LOCK_SEATS).await.map_err(sql_error)?;
        let update = client
            .prepare_cached(HOLD_LOCKED)
            .await
            .map_err(sql_error)?;
        let txn = client.transaction().await.map_err(sql_error)?;
        let rows = txn
            .query(&lock, &[&(event as i32), &seats])
            .await
            .map_err(sql_error)?;
        let now = now_ms() as i64;
        if rows.len() != seats.len() {
            txn.rollback().await.map_err(sql_error)?;
            return Ok(HoldOutcome::Rejected(code::UNKNOWN_SEAT.into()));
        }
        for row in &rows {
            let status: &str = row.try_get(1).map_err(sql_error)?;
            let expires_at: Option<i64> = row.try_get(2).map_err(sql_error)?;
            if !free(status, expires_at, now) {
                txn.rollback().await.map_err(sql_error)?;
                return Ok(HoldOutcome::Rejected(code::SEAT_UNAVAILABLE.into()));
            }
        }
        let id = hold_id(&request.customer);
        let expires_at = now + request.ttl_ms as i64;
        txn.execute(&update, &[&(event as i32), &seats, &id, &expires_at])
            .await
            .map_err(sql_error)?;
        Ok(match txn.commit().await {
            Ok(()) => Self::held(request, event, layout, seats, expires_at),
            Err(error) => HoldOutcome::Indeterminate(describe(&error)),
        })
    }

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
        let mut client = self.connection().await?;
        let pick = client.prepare_cached(PICK_BEST).await.map_err(sql_error)?;
        let update = client
            .prepare_cached(HOLD_LOCKED)
            .await
            .map_err(sql_error)?;
        let txn = client.transaction().await.map_err(sql_error)?;
        let now = now_ms() as i64;
        let from = (u32::from(section) * layout.seats_per_section()) as i32;
        let to = from + layout.seats_per_section() as i32;
        let rows = txn
            .query(
                &pick,
                &[&(event as i32), &from, &to, &now, &i64::from(quantity)],
            )
            .await
            .map_err(sql_error)?;
        if rows.len() < quantity as usize {
            txn.rollback().await.map_err(sql_error)?;
            return Ok(HoldOutcome::Rejected(code::INSUFFICIENT_INVENTORY.into()));
        }
        let seats = rows
            .iter()
            .map(|r| r.try_get::<_, i32>(0))
            .collect::<Result<Vec<i32>, _>>()
            .map_err(sql_error)?;
        let id = hold_id(&request.customer);
        let expires_at = now + request.ttl_ms as i64;
        txn.execute(&update, &[&(event as i32), &seats, &id, &expires_at])
            .await
            .map_err(sql_error)?;
        Ok(match txn.commit().await {
            Ok(()) => Self::held(request, event, &layout, &seats, expires_at),
            Err(error) => HoldOutcome::Indeterminate(describe(&error)),
        })
    }

    fn hold_positions(&self, hold: &Hold) -> Result<Vec<i32>, StoreError> {
        let layout = self.layout(hold.event)?;
        Self::positions(&layout, &hold.seats)
            .ok_or_else(|| StoreError::Protocol(format!("hold {} names unknown seats", hold.id)))
    }
}

impl Store for PostgresStore {
    fn name(&self) -> &'static str {
        match self.locking {
            Locking::Optimistic => "postgres",
            Locking::ForUpdate => "postgres-for-update",
        }
    }

    fn expiry_model(&self) -> ExpiryModel {
        ExpiryModel::Lazy
    }

    fn notes(&self) -> Vec<String> {
        vec![format!(
            "1 node, synchronous_commit=on, fsync on, pool of {} connections",
            self.pool_connections
        )]
    }

    async fn setup(&self, inventory: &Inventory) -> Result<(), StoreError> {
        let client = self.connection().await?;
        client
            .batch_execute(SCHEMA)
            .await
            .map_err(|e| StoreError::Setup(describe(&e)))?;
        // Runs of consecutive events with one layout are inserted by one statement.
        let mut first = 0usize;
        while first < inventory.events.len() {
            let layout = inventory.events[first];
            let mut last = first;
            while last + 1 < inventory.events.len() && inventory.events[last + 1] == layout {
                last += 1;
            }
            client
                .execute(
                    SEATS_OF_EVENT,
                    &[
                        &(first as i32),
                        &(layout.seats_per_section() as i32),
                        &i32::from(layout.seats_per_row),
                        &(last as i32),
                        &(layout.seats() as i32),
                    ],
                )
                .await
                .map_err(|e| StoreError::Setup(describe(&e)))?;
            first = last + 1;
        }
        for statement in ["VACUUM ANALYZE seats", "CHECKPOINT"] {
            client
                .batch_execute(statement)
                .await
                .map_err(|e| StoreError::Setup(describe(&e)))?;
        }
        self.inventory
            .set(inventory.clone())
            .map_err(|_| StoreError::Setup("setup called twice".into()))
    }

    async fn hold(&self, request: &HoldRequest) -> Result<HoldOutcome, StoreError> {
        match &request.pick {
            Pick::Seats(seats) => {
                let event = request.pick.event();
                let layout = self.layout(event)?;
                let Some(positions) = Self::positions(&layout, seats) else {
                    return Ok(HoldOutcome::Rejected(code::UNKNOWN_SEAT.into()));
                };
                match self.locking {
                    Locking::Optimistic => {
                        self.hold_optimistic(request, event, &layout, &positions)
                            .await
                    }
                    Locking::ForUpdate => {
                        self.hold_for_update(request, event, &layout, &positions)
                            .await
                    }
                }
            }
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
        let seats = self.hold_positions(hold)?;
        let mut client = self.connection().await?;
        let sell = client.prepare_cached(SELL).await.map_err(sql_error)?;
        let insert = client
            .prepare_cached(INSERT_ORDER)
            .await
            .map_err(sql_error)?;
        let order = format!("{}.o", hold.id);
        let now = now_ms() as i64;
        let txn = client.transaction().await.map_err(sql_error)?;
        let sold = txn
            .execute(
                &sell,
                &[&(hold.event as i32), &seats, &hold.id, &order, &now],
            )
            .await
            .map_err(sql_error)?;
        if sold != seats.len() as u64 {
            txn.rollback().await.map_err(sql_error)?;
            return Ok(BuyOutcome::Rejected(code::HOLD_EXPIRED.into()));
        }
        txn.execute(
            &insert,
            &[
                &order,
                &hold.id,
                &(hold.event as i32),
                &hold.customer,
                &(seats.len() as i32),
                &now,
            ],
        )
        .await
        .map_err(sql_error)?;
        Ok(match txn.commit().await {
            Ok(()) => BuyOutcome::Sold {
                order,
                seats: hold.seats.clone(),
            },
            Err(error) => BuyOutcome::Indeterminate(describe(&error)),
        })
    }

    async fn release(&self, hold: &Hold) -> Result<ReleaseOutcome, StoreError> {
        let seats = self.hold_positions(hold)?;
        let client = self.connection().await?;
        let release = client.prepare_cached(RELEASE).await.map_err(sql_error)?;
        Ok(
            match client
                .execute(&release, &[&(hold.event as i32), &seats, &hold.id])
                .await
            {
                Ok(n) if n == seats.len() as u64 => ReleaseOutcome::Released,
                Ok(_) => ReleaseOutcome::Rejected(code::HOLD_EXPIRED.into()),
                Err(error) => ReleaseOutcome::Indeterminate(describe(&error)),
            },
        )
    }

    async fn final_state(&self) -> Result<FinalState, StoreError> {
        let inventory = inventory_of(&self.inventory)?;
        let client = self.connection().await?;
        let read = client
            .prepare_cached(FINAL_STATE)
            .await
            .map_err(sql_error)?;
        let now = now_ms() as i64;
        let mut seats = Vec::with_capacity(inventory.seats_total() as usize);
        for (event, layout) in inventory.events.iter().enumerate() {
            let rows = client
                .query(&read, &[&(event as i32)])
                .await
                .map_err(sql_error)?;
            for row in rows {
                let position: i32 = row.try_get(0).map_err(sql_error)?;
                let status: &str = row.try_get(1).map_err(sql_error)?;
                let hold: Option<String> = row.try_get(2).map_err(sql_error)?;
                let expires_at: Option<i64> = row.try_get(3).map_err(sql_error)?;
                let status = match status {
                    "SOLD" => SeatStatus::Sold,
                    "HELD" if expires_at.is_some_and(|e| e > now) => SeatStatus::Held,
                    "HELD" | "AVAILABLE" => SeatStatus::Available,
                    other => return Err(StoreError::Protocol(format!("seat status {other:?}"))),
                };
                seats.push(SeatState {
                    seat: layout.seat_at(event as u32, position as u32),
                    owner: (status == SeatStatus::Sold).then_some(hold).flatten(),
                    status,
                });
            }
        }
        Ok(FinalState { seats })
    }

    async fn held_count(&self, _events: &[u32]) -> Result<HeldCount, StoreError> {
        Err(StoreError::Unsupported(
            "PostgreSQL's expiry is lazy: nothing to watch".into(),
        ))
    }
}
