//! Moving an event between groups, as commands: seal it on its old group (every later command on it
//! is `EVENT_MOVED`), import its exported records on the new group (all of them or nothing, checked
//! against every invariant of the event), drop them from the old group once it is routed away.

use std::collections::BTreeSet;

use crate::command::{Effect, Outcome, Rejection};
use crate::ids::EventId;
use crate::invariants;
use crate::records::{self, keys, tag, KeyReader, RequestRecord};
use crate::relocate::{self, EventExport, EVENT_MOVE_BYTES_MAX};
use crate::store::Store;

use super::{invalid, Ctx, Res};

impl<S: Store + ?Sized> Ctx<'_, S> {
    /// Whether `event` moved away from this group.
    pub(super) fn sealed(&self, event: &EventId) -> Res<bool> {
        Ok(self.txn.get(&keys::sealed(event))?.is_some())
    }

    pub(super) fn seal_event(&mut self, event: &EventId) -> Res<Effect> {
        if self.txn.get(&keys::event(event))?.is_none() && !self.sealed(event)? {
            return Err(Rejection::UnknownEvent.into());
        }
        self.txn.put(keys::sealed(event), Vec::new());
        Ok(Effect::EventSealed {
            event: event.clone(),
        })
    }

    pub(super) fn import_event(&mut self, export: &EventExport) -> Res<Effect> {
        let event = &export.event;
        if export.bytes() > EVENT_MOVE_BYTES_MAX {
            return invalid(format!(
                "an imported event carries at most {EVENT_MOVE_BYTES_MAX} bytes"
            ));
        }
        if self.txn.get(&keys::event(event))?.is_some() {
            return Err(Rejection::EventExists.into());
        }
        // An outcome this group already remembers under the same request id stays (ids are unique
        // per command, so only a client reusing one across events meets this), and so does its
        // retention entry; every other record must be new here.
        let mut kept = BTreeSet::new();
        // Each remembered outcome comes with its retention entry, and no entry without one.
        let mut retention = BTreeSet::new();
        let mut retained = BTreeSet::new();
        for (key, value) in &export.records {
            match self.check_imported(event, key, value)? {
                Some(entry) => {
                    if self.txn.get(key)?.is_some() {
                        kept.insert(key.clone());
                        kept.insert(entry.clone());
                    }
                    retention.insert(entry);
                }
                None if key.first() == Some(&tag::REQUEST_BY_TIME) => {
                    retained.insert(key.clone());
                }
                None => {}
            }
        }
        if retention != retained {
            return invalid("imported outcomes and their retention entries do not match");
        }
        for (key, value) in &export.records {
            if kept.contains(key) {
                continue;
            }
            if self.txn.get(key)?.is_some() {
                return invalid(format!("imported record {key:02x?} exists here already"));
            }
            self.txn.put(key.clone(), value.clone());
        }
        self.txn.delete(keys::sealed(event));
        if let Err(violation) = invariants::check_event(&self.txn, event) {
            return invalid(format!(
                "the imported event breaks an invariant: {violation}"
            ));
        }
        Ok(Effect::EventImported {
            event: event.clone(),
            records: u32::try_from(export.records.len()).unwrap_or(u32::MAX),
        })
    }

    /// Refuses an imported record that is not part of `event`, or a remembered outcome of another
    /// event, or recorded after this group's state time; answers a remembered outcome's retention
    /// entry key (decoded once here).
    fn check_imported(&self, event: &EventId, key: &[u8], value: &[u8]) -> Res<Option<Vec<u8>>> {
        let Some(&key_tag) = key.first() else {
            return invalid("an imported record has an empty key");
        };
        let own = relocate::EVENT_TAGS.contains(&key_tag)
            && key.starts_with(&keys::event_prefix(key_tag, event));
        if own || relocate::indexed_for(key, event) {
            return Ok(None);
        }
        match key_tag {
            tag::REQUEST => {
                let record: RequestRecord = records::decode(key, value)?;
                let id = KeyReader::new(key, tag::REQUEST)
                    .and_then(|mut r| r.text())
                    .unwrap_or_default();
                if record.event.as_ref() != Some(event)
                    || record.outcome == Outcome::Rejected(Rejection::EventMoved)
                    || record.at_ms > self.now
                {
                    return invalid(format!("imported outcome of {id:?} is not the event's"));
                }
                Ok(Some(keys::request_by_time(record.at_ms, id)))
            }
            tag::REQUEST_BY_TIME if value.is_empty() => Ok(None),
            _ => invalid(format!(
                "imported record {key:02x?} does not belong to event {event}"
            )),
        }
    }

    pub(super) fn drop_event(&mut self, event: &EventId) -> Res<Effect> {
        if !self.sealed(event)? {
            return invalid(format!(
                "event {event} is not sealed: only a moved event is dropped"
            ));
        }
        let found = relocate::event_records(&self.txn, event)?;
        let records = u32::try_from(found.len()).unwrap_or(u32::MAX);
        for (key, _) in found {
            self.txn.delete(key);
        }
        Ok(Effect::EventDropped {
            event: event.clone(),
            records,
        })
    }
}
