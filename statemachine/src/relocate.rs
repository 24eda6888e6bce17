//! Moving an event between groups: the records that make up one event in a group's state (its own
//! keys, its entries in the group-wide hold-expiry and customer-order indexes, and the remembered
//! outcomes of the commands that named it), read whole from its old group once it is sealed
//! ([`export_event`]) and written whole by its new one (`Action::ImportEvent`).
//!
//! A remembered outcome moves with the event, so a client that retries a command after the move
//! (with the same request id) gets the first outcome from the new group; outcomes that only said
//! `EVENT_MOVED` stay behind, as the command they answer was not applied anywhere yet.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::command::{Outcome, Rejection};
use crate::ids::EventId;
use crate::records::{self, keys, prefix_end, tag, KeyReader, RequestRecord};
use crate::store::{Entries, Store, StoreError};

/// Largest export of one event, in bytes of keys and values: it travels in one log entry.
pub const EVENT_MOVE_BYTES_MAX: usize = 32 * 1024 * 1024;

/// One event's records, as its old group held them when it was sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventExport {
    pub event: EventId,
    /// The old group's state time at the export; the new group's state time moves up to it.
    pub state_time_ms: u64,
    /// Every record of the event, in key order, as (key, value).
    pub records: Vec<(Vec<u8>, Vec<u8>)>,
}

impl EventExport {
    /// Bytes of keys and values.
    pub fn bytes(&self) -> usize {
        self.records.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    /// A hash of the whole export. Two exports of one sealed event differ when the old group has
    /// forgotten old outcomes (or its state time moved) in between: each is its own import.
    pub fn fingerprint(&self) -> u64 {
        crate::codec::fingerprint(self)
    }
}

/// Why an event could not be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("no such event")]
    UnknownEvent,
    #[error("the event's records take {bytes} bytes, more than the {EVENT_MOVE_BYTES_MAX} a move carries")]
    TooLarge { bytes: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Tags whose keys start with the event id.
pub(crate) const EVENT_TAGS: [u8; 14] = [
    tag::EVENT,
    tag::TOTALS,
    tag::ZONE,
    tag::ROW,
    tag::HOLD,
    tag::ORDER,
    tag::CUSTOMER,
    tag::GA_HOLD_EXPIRY,
    tag::ROW_STATES,
    tag::EVENT_INFO,
    tag::QUEUE,
    tag::QUEUED,
    tag::QUEUE_RANK,
    tag::ADMISSION_BATCH,
];

/// Whether `key`, a key of one of the group-wide indexes, is an entry of `event`.
pub(crate) fn indexed_for(key: &[u8], event: &EventId) -> bool {
    match key.first() {
        Some(&tag::HOLD_EXPIRY) => {
            records::parse_hold_expiry(key).is_some_and(|(_, of, _)| &of == event)
        }
        Some(&tag::CUSTOMER_ORDER) => KeyReader::new(key, tag::CUSTOMER_ORDER)
            .and_then(|mut r| {
                r.text()?;
                r.text()
            })
            .is_some_and(|of| of == event.as_str()),
        _ => false,
    }
}

/// Every record of `event` but its remembered outcomes: its own keys and its index entries.
pub(crate) fn event_records<S: Store + ?Sized>(
    store: &S,
    event: &EventId,
) -> Result<Entries, StoreError> {
    let mut found = Vec::new();
    for tag in EVENT_TAGS {
        let prefix = keys::event_prefix(tag, event);
        found.extend(store.scan(&prefix, &prefix_end(&prefix), usize::MAX)?);
    }
    for index in [tag::HOLD_EXPIRY, tag::CUSTOMER_ORDER] {
        let all = store.scan(&[index], &[index + 1], usize::MAX)?;
        found.extend(all.into_iter().filter(|(key, _)| indexed_for(key, event)));
    }
    Ok(found)
}

/// Reads every record of `event` from `store` (its old group, sealed): its own keys, its index
/// entries, and the outcomes remembered for commands that named it (with their retention entries).
pub fn export_event<S: Store + ?Sized>(
    store: &S,
    event: &EventId,
) -> Result<EventExport, ExportError> {
    if store.get(&keys::event(event))?.is_none() {
        return Err(ExportError::UnknownEvent);
    }
    let mut found: BTreeMap<Vec<u8>, Vec<u8>> = event_records(store, event)?.into_iter().collect();
    for (key, value) in store.scan(&[tag::REQUEST], &[tag::REQUEST + 1], usize::MAX)? {
        let record: RequestRecord = records::decode(&key, &value)?;
        let moved = record.outcome == Outcome::Rejected(Rejection::EventMoved);
        if record.event.as_ref() != Some(event) || moved {
            continue;
        }
        let id = KeyReader::new(&key, tag::REQUEST)
            .and_then(|mut r| r.text())
            .ok_or_else(|| StoreError::Io(format!("malformed request key {key:02x?}")))?;
        found.insert(keys::request_by_time(record.at_ms, id), Vec::new());
        found.insert(key, value);
    }
    let export = EventExport {
        event: event.clone(),
        state_time_ms: records::state_time(store)?,
        records: found.into_iter().collect(),
    };
    let bytes = export.bytes();
    if bytes > EVENT_MOVE_BYTES_MAX {
        return Err(ExportError::TooLarge { bytes });
    }
    Ok(export)
}
