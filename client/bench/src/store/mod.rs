//! The `Store` trait every benchmarked store implements (Boxoffice, etcd, PostgreSQL twice, Redis),
//! and the one error enum of that boundary.

use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::model::{
    Audit, BuyOutcome, ExpiryModel, FinalState, HeldCount, Hold, HoldOutcome, HoldRequest,
    Inventory, ReleaseOutcome,
};

pub mod boxoffice;
pub mod etcd;
pub mod postgres;
pub mod redis;

/// Why a store call gave no answer. Every variant means the operation did not take effect
/// (an operation that may have taken effect is an `Indeterminate` outcome instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or refused the connection.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// Creating the inventory failed.
    #[error("setup failed: {0}")]
    Setup(String),
    /// The request failed before it could take effect.
    #[error("not applied: {0}")]
    NotApplied(String),
    /// The store answered something the driver does not understand.
    #[error("unexpected answer: {0}")]
    Protocol(String),
    /// The driver has no honest way to do this on this store.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A call before `setup`.
    #[error("no inventory: call setup first")]
    NotSetUp,
}

impl StoreError {
    /// A short stable name for counting errors by kind.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Connect(_) => "CONNECT",
            StoreError::Setup(_) => "SETUP",
            StoreError::NotApplied(_) => "NOT_APPLIED",
            StoreError::Protocol(_) => "PROTOCOL",
            StoreError::Unsupported(_) => "UNSUPPORTED",
            StoreError::NotSetUp => "NOT_SET_UP",
        }
    }
}

/// A ticket store under test. One value is shared by every buyer task.
pub trait Store: Send + Sync + 'static {
    /// The store's name in results (`boxoffice`, `etcd`, `postgres`, `postgres-for-update`, `redis`).
    fn name(&self) -> &'static str;

    /// How expired holds return to sale.
    fn expiry_model(&self) -> ExpiryModel;

    /// False when best-available has no honest implementation on this store.
    fn supports_best_available(&self) -> bool {
        true
    }

    /// What the results table should say about this store's guarantees (durability, ...).
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }

    /// Creates the events and seats of `inventory` (all available). Later calls use it.
    fn setup(&self, inventory: &Inventory) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn hold(
        &self,
        request: &HoldRequest,
    ) -> impl Future<Output = Result<HoldOutcome, StoreError>> + Send;

    fn buy(&self, hold: &Hold) -> impl Future<Output = Result<BuyOutcome, StoreError>> + Send;

    fn release(
        &self,
        hold: &Hold,
    ) -> impl Future<Output = Result<ReleaseOutcome, StoreError>> + Send;

    /// Every seat of the inventory as a reader sees it now (linearizably where the store can).
    fn final_state(&self) -> impl Future<Output = Result<FinalState, StoreError>> + Send;

    /// Held seats of `events` (only for stores whose expiry is `Swept`).
    fn held_count(
        &self,
        events: &[u32],
    ) -> impl Future<Output = Result<HeldCount, StoreError>> + Send;

    /// The store's own consistency audit, if it has one.
    fn audit(&self) -> impl Future<Output = Result<Option<Audit>, StoreError>> + Send {
        async { Ok(None) }
    }
}

/// Milliseconds since the Unix epoch by this machine's clock (the peers' expiry clock).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Why a `Store` needs one: the inventory recorded by `setup`.
pub(crate) fn inventory_of(
    cell: &std::sync::OnceLock<Inventory>,
) -> Result<&Inventory, StoreError> {
    cell.get().ok_or(StoreError::NotSetUp)
}
