//! Group commit: one thread syncs the write-ahead log for every append waiting at that moment, so a
//! single fsync serves many Raft groups and many entries.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

use rocksdb::DB;

/// Most appends waiting for the next sync; past that an append syncs on its own.
pub const FLUSH_WAITERS_MAX: usize = 65_536;

/// What to call once the writes made before a flush request are durable.
pub type FlushDone = Box<dyn FnOnce(Result<(), io::Error>) + Send>;

/// Counters of the group commit, for metrics and tests.
#[derive(Debug, Default)]
pub struct FlushStats {
    /// WAL syncs made by the flusher.
    pub syncs: AtomicU64,
    /// Flush requests served.
    pub requests: AtomicU64,
}

/// The handle appends use to wait for durability. Cloning it shares one flusher thread; dropping
/// the last handle stops the thread and waits for it, so the database can be reopened at once.
#[derive(Debug, Clone)]
pub struct Flusher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    queue: Option<SyncSender<FlushDone>>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<FlushStats>,
    db: Arc<DB>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            // A panic in the flusher already failed its waiters; nothing more to report here.
            let _ = thread.join();
        }
    }
}

impl Flusher {
    /// Starts the flusher thread for `db`.
    pub fn start(db: Arc<DB>) -> io::Result<Flusher> {
        let (queue, waiting) = sync_channel::<FlushDone>(FLUSH_WAITERS_MAX);
        let stats = Arc::new(FlushStats::default());
        let thread_stats = stats.clone();
        let thread_db = db.clone();
        let thread = std::thread::Builder::new()
            .name("wal-flusher".into())
            .spawn(move || run(&thread_db, &waiting, &thread_stats))?;
        let inner = Inner {
            queue: Some(queue),
            thread: Some(thread),
            stats,
            db,
        };
        Ok(Flusher {
            inner: Arc::new(inner),
        })
    }

    /// Calls `done` once every write made before this call is on disk.
    pub fn after_sync(&self, done: FlushDone) {
        let queued = match &self.inner.queue {
            Some(queue) => queue.try_send(done),
            None => Err(TrySendError::Disconnected(done)),
        };
        // Too many waiters (or no flusher): sync here rather than queue without bound.
        if let Err(TrySendError::Full(done) | TrySendError::Disconnected(done)) = queued {
            done(self.inner.db.flush_wal(true).map_err(io::Error::other));
        }
    }

    pub fn stats(&self) -> &FlushStats {
        &self.inner.stats
    }
}

fn run(db: &DB, waiting: &Receiver<FlushDone>, stats: &FlushStats) {
    let mut batch = Vec::new();
    // Blocks for the first waiter, then takes everyone who arrived meanwhile.
    while let Ok(first) = waiting.recv() {
        batch.push(first);
        batch.extend(waiting.try_iter().take(FLUSH_WAITERS_MAX));
        let started = std::time::Instant::now();
        let result = db.flush_wal(true);
        let metrics = crate::metrics::metrics();
        metrics
            .wal_sync_seconds
            .observe(started.elapsed().as_secs_f64());
        metrics.wal_sync_appends.observe(batch.len() as f64);
        stats.syncs.fetch_add(1, Ordering::Relaxed);
        stats
            .requests
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        for done in batch.drain(..) {
            done(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(io::Error::other(e.clone())),
            });
        }
    }
}
