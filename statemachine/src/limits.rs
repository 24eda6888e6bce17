//! Hard limits of the state machine: every bound a command or an event layout can reach, named with its unit.
//!
//! These are part of the replicated semantics: every replica must run with the same values, so they are
//! constants of the crate rather than configuration. Per-event limits (seats per hold, hold TTL...) live in
//! [`crate::EventLimits`] and must stay within the ceilings below.

/// Longest identifier (event id, customer id, request id, payment reference), in bytes.
pub const ID_BYTES_MAX: usize = 128;
/// Longest display name (event, venue, category, section, row label, tier), in bytes.
pub const NAME_BYTES_MAX: usize = 256;
/// Longest free-text reason attached to an admin command, in bytes.
pub const REASON_BYTES_MAX: usize = 1024;

/// Most price tiers an event may define.
pub const PRICE_TIERS_MAX: usize = 64;
/// Most seated sections an event may define.
pub const SECTIONS_MAX: usize = 512;
/// Most general-admission areas an event may define.
pub const GA_AREAS_MAX: usize = 64;
/// Most rows in one section.
pub const ROWS_PER_SECTION_MAX: usize = 2_000;
/// Most seats in one row.
pub const SEATS_PER_ROW_MAX: usize = 1_000;
/// Most reserved seats in one event (all sections together).
pub const SEATS_PER_EVENT_MAX: usize = 200_000;
/// Most places in one general-admission area.
pub const GA_PLACES_PER_AREA_MAX: u32 = 1_000_000;
/// Highest price of one seat or place, in cents.
pub const PRICE_CENTS_MAX: u64 = 100_000_000;

/// Ceiling for an event's `seats_per_hold_max` (and so for one order).
pub const SEATS_PER_HOLD_MAX: u32 = 100;
/// Ceiling for an event's `holds_per_customer_max` (live holds at once).
pub const HOLDS_PER_CUSTOMER_MAX: u32 = 16;
/// Ceiling for an event's `seats_per_customer_max` (live holds plus purchases).
pub const SEATS_PER_CUSTOMER_MAX: u32 = 10_000;
/// Shortest hold time-to-live, in milliseconds.
pub const HOLD_TTL_MS_MIN: u64 = 1_000;
/// Ceiling for an event's total hold lifetime with extensions, in milliseconds.
pub const HOLD_LIFETIME_MS_MAX: u64 = 60 * 60 * 1_000;

/// Most seats one block or unblock command may name.
pub const SEATS_PER_BLOCK_MAX: usize = 10_000;
/// Most holds one `Expire` command releases; a sweep that finds more reports `more = true`.
pub const EXPIRE_BATCH_MAX: u32 = 4_096;

/// Most customers the waiting room of one gated event may queue (pre-sale and later arrivals together).
pub const QUEUE_CUSTOMERS_MAX: u64 = 20_000_000;
/// Most pre-sale arrivals one `SequenceQueue` command gives a position; it reports `more` when some remain.
pub const SEQUENCE_BATCH_MAX: u32 = 4_096;
/// Most queue positions one `Admit` command admits (it writes one batch record whatever the count).
pub const ADMIT_BATCH_MAX: u32 = 100_000;
/// Shortest access time-to-live an admission may grant, in milliseconds.
pub const ACCESS_TTL_MS_MIN: u64 = 1_000;
/// Longest access time-to-live an admission may grant, in milliseconds.
pub const ACCESS_TTL_MS_MAX: u64 = 2 * 60 * 60 * 1_000;
/// Highest admission rate an admin may set for the node's admission timer, in customers per minute.
pub const ADMIT_PER_MINUTE_MAX: u32 = 1_000_000;

/// Latest state time, in milliseconds since the Unix epoch (2^53: far beyond any clock, and far
/// enough below `u64::MAX` that expiry arithmetic never saturates). Later stamps are clamped.
pub const STATE_TIME_MS_MAX: u64 = 1 << 53;

/// How long the outcome of a request is remembered for idempotent retries, in milliseconds of state time.
pub const REQUEST_RETENTION_MS: u64 = 10 * 60 * 1_000;
/// Most forgotten request outcomes pruned by one command (more than one, so pruning outpaces arrivals).
pub const REQUEST_PRUNE_PER_COMMAND_MAX: usize = 4;

/// Largest encoded command accepted from the log or the network, in bytes.
pub const COMMAND_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Most entries returned by one listing query (events, orders of a customer).
pub const LIST_ENTRIES_MAX: usize = 1_000;
