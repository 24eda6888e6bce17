//! The waiting room of gated events: joining, sequencing pre-sale arrivals, admitting positions, and
//! the admission a hold needs.
//!
//! Customers who join before the on-sale time are pre-sale arrivals, ordered by the random rank their
//! proposer drew (a shuffle: arriving first gains nothing over arriving at all), ties broken by
//! customer id. From the on-sale time `SequenceQueue` gives them positions `0, 1, ...` in that order,
//! a bounded batch per command; customers who join later get the positions after every pre-sale
//! arrival, first come first served, as they join. `Admit` moves the watermark over positions in
//! order, never past an unsequenced pre-sale position, and stores one batch record per command
//! (when, and until when its customers may hold): admitting 10,000 customers is two writes.

use crate::command::{AdmissionStatus, Effect, Limit, QueueView, Rejection};
use crate::event::{AdmissionSettings, EventStatus};
use crate::ids::{CustomerId, EventId};
use crate::limits::*;
use crate::records::{
    self, admission_batch_of, keys, prefix_end, read, tag, write, AdmissionBatch, Place,
    QueueRecord, QueuedRecord,
};
use crate::store::{Store, StoreError};

use super::{invalid, Ctx, Loaded, Res};

/// Refuses queue commands on an event whose sale is over for good.
fn refuse_closed(status: EventStatus) -> Res<()> {
    match status {
        EventStatus::Cancelled | EventStatus::Ended => {
            Err(Rejection::EventNotOnSale { status }.into())
        }
        EventStatus::Scheduled
        | EventStatus::OnSale
        | EventStatus::Paused
        | EventStatus::SoldOut => Ok(()),
    }
}

/// The admission of a queued customer at `position` (if it has one) at `now`, or `None` when the
/// position is admitted but its batch record is missing (a broken invariant; callers decide).
pub(crate) fn admission_at<S: Store + ?Sized>(
    store: &S,
    event: &EventId,
    position: Option<u64>,
    queue: &QueueRecord,
    now: u64,
) -> Result<Option<AdmissionStatus>, StoreError> {
    let Some(position) = position.filter(|&p| p < queue.watermark) else {
        return Ok(Some(AdmissionStatus::Waiting));
    };
    Ok(admission_batch_of(store, event, position)?.map(|batch| {
        let AdmissionBatch {
            admitted_at_ms,
            access_expires_at_ms,
        } = batch;
        if now < access_expires_at_ms {
            AdmissionStatus::Admitted {
                admitted_at_ms,
                access_expires_at_ms,
            }
        } else {
            AdmissionStatus::Expired {
                admitted_at_ms,
                access_expires_at_ms,
            }
        }
    }))
}

/// The caller's view of a queued customer at `now`, given the customer's admission.
pub(crate) fn queue_view(
    event: &EventId,
    customer: &CustomerId,
    record: QueuedRecord,
    queue: &QueueRecord,
    admission: AdmissionStatus,
) -> QueueView {
    let position = record.place.position();
    QueueView {
        event: event.clone(),
        customer: customer.clone(),
        joined_at_ms: record.joined_at_ms,
        presale: matches!(record.place, Place::Presale { .. }),
        position,
        ahead: position.map(|p| p.saturating_sub(queue.watermark)),
        admission,
    }
}

impl<S: Store + ?Sized> Ctx<'_, S> {
    /// Loads an event for a queue command: it must exist and be gated.
    fn gated_event(&mut self, id: &EventId) -> Res<Loaded> {
        let event = self.event(id)?;
        if !event.record.gated {
            return Err(Rejection::NotGated.into());
        }
        Ok(event)
    }

    /// The event's queue record; an event nobody has queued for yet has an empty one.
    fn queue_record(&self, event: &EventId) -> Res<QueueRecord> {
        Ok(read(&self.txn, &keys::queue(event))?.unwrap_or_default())
    }

    fn admission(
        &self,
        event: &EventId,
        position: Option<u64>,
        queue: &QueueRecord,
    ) -> Res<AdmissionStatus> {
        let admission = admission_at(&self.txn, event, position, queue, self.now)?;
        Ok(admission.unwrap_or_else(|| {
            panic!("invariant violated: admitted position {position:?} of {event} has no batch")
        }))
    }

    pub(super) fn join_queue(
        &mut self,
        event_id: &EventId,
        customer: &CustomerId,
        rank: u64,
    ) -> Res<Effect> {
        customer
            .validate()
            .map_err(|e| Rejection::invalid(e.to_string()))?;
        let event = self.gated_event(event_id)?;
        refuse_closed(event.status)?;
        let mut queue = self.queue_record(event_id)?;
        let key = keys::queued(event_id, customer);
        if let Some(record) = read::<QueuedRecord, _>(&self.txn, &key)? {
            let admission = self.admission(event_id, record.place.position(), &queue)?;
            let view = queue_view(event_id, customer, record, &queue, admission);
            return Ok(Effect::QueueJoined(view));
        }
        let requested = queue.customers() + 1;
        if requested > QUEUE_CUSTOMERS_MAX {
            return Err(Rejection::LimitExceeded {
                limit: Limit::QueueCustomers,
                max: QUEUE_CUSTOMERS_MAX,
                requested,
            }
            .into());
        }
        let place = if self.now < event.record.on_sale_at_ms {
            queue.presale_total += 1;
            self.txn
                .put(keys::queue_rank(event_id, rank, customer), Vec::new());
            Place::Presale {
                rank,
                position: None,
            }
        } else {
            let position = queue.customers();
            queue.later_count += 1;
            Place::Later { position }
        };
        let record = QueuedRecord {
            joined_at_ms: self.now,
            place,
        };
        write(&mut self.txn, key, &record);
        write(&mut self.txn, keys::queue(event_id), &queue);
        let view = queue_view(event_id, customer, record, &queue, AdmissionStatus::Waiting);
        Ok(Effect::QueueJoined(view))
    }

    pub(super) fn sequence_queue(&mut self, event_id: &EventId, customers_max: u32) -> Res<Effect> {
        if !(1..=SEQUENCE_BATCH_MAX).contains(&customers_max) {
            return invalid(format!("customers_max must be 1 to {SEQUENCE_BATCH_MAX}"));
        }
        let event = self.gated_event(event_id)?;
        refuse_closed(event.status)?;
        if self.now < event.record.on_sale_at_ms {
            return Err(Rejection::SaleNotStarted.into());
        }
        let mut queue = self.queue_record(event_id)?;
        let prefix = keys::event_prefix(tag::QUEUE_RANK, event_id);
        let next = self
            .txn
            .scan(&prefix, &prefix_end(&prefix), customers_max as usize)?;
        let mut customers = 0u32;
        for (key, _) in next {
            let (_, rank, customer) = records::parse_queue_rank(&key)
                .ok_or_else(|| StoreError::Io(format!("malformed queue rank key {key:02x?}")))?;
            let record_key = keys::queued(event_id, &customer);
            let mut record: QueuedRecord = read(&self.txn, &record_key)?.unwrap_or_else(|| {
                panic!("invariant violated: ranked customer {customer} of {event_id} is not queued")
            });
            assert_eq!(
                record.place,
                Place::Presale {
                    rank,
                    position: None
                },
                "invariant violated: rank index entry of {customer} of {event_id} disagrees"
            );
            record.place = Place::Presale {
                rank,
                position: Some(queue.presale_sequenced),
            };
            queue.presale_sequenced += 1;
            write(&mut self.txn, record_key, &record);
            self.txn.delete(key);
            customers += 1;
        }
        assert!(
            queue.presale_sequenced <= queue.presale_total,
            "invariant violated: {event_id} sequenced more pre-sale arrivals than joined"
        );
        let more = queue.presale_sequenced < queue.presale_total;
        assert!(
            customers == customers_max || !more,
            "invariant violated: {event_id} has unsequenced pre-sale arrivals missing from its rank index"
        );
        if customers > 0 {
            write(&mut self.txn, keys::queue(event_id), &queue);
        }
        Ok(Effect::QueueSequenced {
            event: event_id.clone(),
            customers,
            more,
        })
    }

    pub(super) fn admit(&mut self, event_id: &EventId, customers_max: u32) -> Res<Effect> {
        if !(1..=ADMIT_BATCH_MAX).contains(&customers_max) {
            return invalid(format!("customers_max must be 1 to {ADMIT_BATCH_MAX}"));
        }
        let event = self.gated_event(event_id)?;
        if !matches!(event.status, EventStatus::OnSale | EventStatus::SoldOut) {
            return Err(Rejection::EventNotOnSale {
                status: event.status,
            }
            .into());
        }
        let mut queue = self.queue_record(event_id)?;
        let end = queue
            .admissible_end()
            .min(queue.watermark + u64::from(customers_max));
        let customers = end.checked_sub(queue.watermark).unwrap_or_else(|| {
            panic!("invariant violated: {event_id} admitted past its admissible positions")
        });
        if customers > 0 {
            let batch = AdmissionBatch {
                admitted_at_ms: self.now,
                access_expires_at_ms: self.now + queue.settings.access_ttl_ms,
            };
            write(&mut self.txn, keys::admission_batch(event_id, end), &batch);
            queue.watermark = end;
            write(&mut self.txn, keys::queue(event_id), &queue);
        }
        Ok(Effect::Admitted {
            event: event_id.clone(),
            // At most customers_max.
            customers: customers as u32,
            watermark: queue.watermark,
        })
    }

    pub(super) fn set_admission(
        &mut self,
        event_id: &EventId,
        settings: &AdmissionSettings,
    ) -> Res<Effect> {
        if !(ACCESS_TTL_MS_MIN..=ACCESS_TTL_MS_MAX).contains(&settings.access_ttl_ms) {
            return invalid(format!(
                "access_ttl_ms must be {ACCESS_TTL_MS_MIN} to {ACCESS_TTL_MS_MAX}"
            ));
        }
        if settings.admit_per_minute > ADMIT_PER_MINUTE_MAX {
            return invalid(format!(
                "admit_per_minute must be at most {ADMIT_PER_MINUTE_MAX}"
            ));
        }
        self.gated_event(event_id)?;
        let mut queue = self.queue_record(event_id)?;
        queue.settings = *settings;
        write(&mut self.txn, keys::queue(event_id), &queue);
        Ok(Effect::AdmissionSet {
            event: event_id.clone(),
            settings: *settings,
        })
    }

    /// Refuses a hold on a gated event by a customer the queue has not admitted (`NOT_ADMITTED`) or
    /// whose access has run out (`ADMISSION_EXPIRED`).
    pub(super) fn require_admission(&self, event: &EventId, customer: &CustomerId) -> Res<()> {
        let Some(record) = read::<QueuedRecord, _>(&self.txn, &keys::queued(event, customer))?
        else {
            return Err(Rejection::NotAdmitted.into());
        };
        let queue = self.queue_record(event)?;
        match self.admission(event, record.place.position(), &queue)? {
            AdmissionStatus::Admitted { .. } => Ok(()),
            AdmissionStatus::Waiting => Err(Rejection::NotAdmitted.into()),
            AdmissionStatus::Expired { .. } => Err(Rejection::AdmissionExpired.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Action, Command, Outcome};
    use crate::fixtures;
    use crate::ids::RequestId;
    use crate::store::{KvStore, MemStore, Txn};

    fn run(store: &mut MemStore, id: &str, action: Action) -> Outcome {
        let command = Command {
            request_id: RequestId::new(id).unwrap(),
            at_ms: 10,
            action,
        };
        crate::execute(store, &command).unwrap()
    }

    #[test]
    fn a_full_waiting_room_refuses_newcomers_and_still_answers_its_customers() {
        let mut store = MemStore::new();
        let mut spec = fixtures::club("gig");
        spec.gated = true;
        spec.on_sale_at_ms = 100;
        let event = spec.id.clone();
        run(&mut store, "create", Action::CreateEvent(spec));
        let join = |who: &str| Action::JoinQueue {
            event: event.clone(),
            customer: CustomerId::new(who).unwrap(),
            rank: 1,
        };
        assert!(run(&mut store, "ann", join("ann")).rejection().is_none());
        // Twenty million joins are too many for a unit test: count all but ann as joined.
        let mut queue: QueueRecord = read(&store, &keys::queue(&event)).unwrap().unwrap();
        queue.later_count = QUEUE_CUSTOMERS_MAX - 1;
        let mut txn = Txn::new(&store);
        write(&mut txn, keys::queue(&event), &queue);
        let batch = txn.into_batch();
        store.commit(batch).unwrap();

        assert_eq!(
            run(&mut store, "bob", join("bob")).rejection(),
            Some(&Rejection::LimitExceeded {
                limit: Limit::QueueCustomers,
                max: QUEUE_CUSTOMERS_MAX,
                requested: QUEUE_CUSTOMERS_MAX + 1,
            })
        );
        assert!(run(&mut store, "ann-again", join("ann"))
            .rejection()
            .is_none());
    }
}
