//! The event log: the only code that knows Redis key names, Lua scripts and stream entries.
//!
//! [`EventStore`] appends job events with an expected-version check and reads them back, from a
//! Redis stream or from memory; both keep the same contract (`tests/it/store_contract.rs`).

mod entry;
pub mod keys;
mod lease;
mod memory_store;
mod redis_store;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::clock::SharedClock;
use crate::events::{CodecError, JobEvent, RecordedEvent, StreamId};
use crate::ids::IdGen;

pub use entry::EntryError;
pub use keys::KeySpace;
pub use lease::{HeldLease, Holder, Lease, LeaseError};
pub use memory_store::MemoryStore;
pub use redis_store::{connect, Connection, RedisStore};

/// Events for one job, to be appended only if the job is still at `expected_version`.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    /// The job.
    pub job_id: Uuid,
    /// How many events the caller saw for this job (0 for a new job).
    pub expected_version: u64,
    /// The events, in order.
    pub events: Vec<JobEvent>,
    /// The request or run these events belong to.
    pub correlation_id: Uuid,
    /// What caused them.
    pub causation_id: Option<Uuid>,
    /// Entries these events replace: deleted in the same atomic step (a `RetiredJobsSummed`
    /// replaces the summaries it sums). A request that replaces entries, or ends with a
    /// `JobRetired` (which replaces its job's other entries), leaves its job no index.
    pub replaces: Vec<StreamId>,
}

/// A failed store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer appended to the job first.
    #[error("version conflict on job {job_id}: expected {expected}, found {actual}")]
    Conflict {
        /// The job.
        job_id: Uuid,
        /// The version the caller saw.
        expected: u64,
        /// The version in the log.
        actual: u64,
    },
    /// Redis could not be reached.
    #[error("cannot reach redis at {url}")]
    Unavailable {
        /// Where we looked (without password).
        url: String,
        /// Why.
        #[source]
        source: redis::RedisError,
    },
    /// Another process holds the log's writer lease (see `store::lease`); nothing was appended.
    #[error("this process no longer holds the log: it is written by {holder}")]
    Fenced {
        /// Who holds it now.
        holder: String,
    },
    /// The log went back in time: it ends before the newest entry this process appended or
    /// read (Redis restarted empty, or from an older AOF or snapshot); nothing was appended.
    #[error("the log went back in time: it ends at {found}, before {floor}, which this process appended or read")]
    Rewound {
        /// The newest entry this process appended or read.
        floor: String,
        /// The log's last entry now (`none`: the stream is gone).
        found: String,
    },
    /// Redis answered with an error.
    #[error("redis command failed")]
    Redis(#[from] redis::RedisError),
    /// An event could not be encoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A Redis reply did not parse as the expected type.
    #[error("unexpected redis reply")]
    Parse(#[from] redis::ParsingError),
    /// Redis answered in a shape we do not understand.
    #[error("unexpected reply from redis: {0}")]
    Protocol(String),
}

impl StoreError {
    /// Whether the failure is Redis being away (so the caller may retry later). A fenced
    /// append counts: the log cannot be written from here, and the service that lost its lease
    /// stops (its callers are answered 503, and a patient append waits until it does).
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable { .. }
            | StoreError::Fenced { .. }
            | StoreError::Rewound { .. } => true,
            StoreError::Redis(e) => {
                e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_timeout()
                    || e.is_unrecoverable_error()
                    || cannot_write_yet(e)
            }
            _ => false,
        }
    }

    /// Whether Redis answered that it is still loading its data from disk (after a restart):
    /// it will answer once it has.
    pub fn is_loading(&self) -> bool {
        match self {
            StoreError::Redis(e) | StoreError::Unavailable { source: e, .. } => {
                answered_with(e, &["LOADING"])
            }
            _ => false,
        }
    }
}

/// Redis answers but refuses writes until something changes: it is back and still reading its
/// data from disk (`LOADING`), it is full (`OOM`: at `maxmemory`, and the log's keys must never
/// be evicted) or it cannot write its AOF or snapshot to disk (`MISCONF`), the last two until
/// an operator gives it room. It says so to a command, to a script's first write (nothing of
/// the script is then stored), or, inside a transaction, to each queued command (the
/// transaction is then aborted).
fn cannot_write_yet(e: &redis::RedisError) -> bool {
    answered_with(e, &["LOADING", "OOM", "MISCONF"])
}

/// Whether Redis answered with one of `codes`, to the command or to a command of a transaction.
fn answered_with(e: &redis::RedisError, codes: &[&str]) -> bool {
    e.code().is_some_and(|code| codes.contains(&code))
        || e.clone().into_server_errors().is_some_and(|errors| {
            errors
                .iter()
                .any(|(_, error)| codes.contains(&error.code()))
        })
}

/// One entry as read: its id and the event, or why it could not be decoded.
pub type Entry = (StreamId, Result<RecordedEvent, EntryError>);

/// One end of a range read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The start or end of the log.
    Open,
    /// This id, inclusive.
    Id(StreamId),
    /// Entries recorded at or after (for `from`) or up to (for `to`) this time.
    Time(DateTime<Utc>),
}

impl Bound {
    fn lower(self) -> StreamId {
        match self {
            Bound::Open => StreamId::ZERO,
            Bound::Id(id) => id,
            Bound::Time(t) => StreamId::at_time(t),
        }
    }

    fn upper(self) -> StreamId {
        match self {
            Bound::Open => StreamId::new(u64::MAX, u64::MAX),
            Bound::Id(id) => id,
            Bound::Time(t) => StreamId::new(StreamId::at_time(t).ms, u64::MAX),
        }
    }
}

impl std::str::FromStr for Bound {
    type Err = String;

    /// A stream id (`1700000000000-0`, or bare milliseconds) or an RFC 3339 time.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Ok(Bound::Time(t.with_timezone(&Utc)));
        }
        s.parse::<StreamId>()
            .map(Bound::Id)
            .map_err(|_| format!("{s:?} is neither a stream id nor an RFC 3339 time"))
    }
}

/// The clock and id source the store stamps envelopes with.
#[derive(Debug, Clone)]
pub struct Stamper {
    /// Where recorded times come from.
    pub clock: SharedClock,
    /// Where event ids come from.
    pub ids: Arc<IdGen>,
}

impl Stamper {
    /// Wall clock and random ids.
    pub fn system() -> Self {
        Stamper {
            clock: Arc::new(crate::clock::SystemClock),
            ids: Arc::new(IdGen::Random),
        }
    }
}

/// The event log, in Redis or in memory.
#[derive(Debug, Clone)]
pub enum EventStore {
    /// A Redis stream.
    Redis(RedisStore),
    /// A vector in this process.
    Memory(MemoryStore),
}

impl EventStore {
    /// Appends one job's events, or fails with [`StoreError::Conflict`].
    pub async fn append(&self, request: AppendRequest) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut results = self.append_batch(vec![request]).await?;
        results
            .pop()
            .unwrap_or_else(|| Err(StoreError::Protocol("empty append reply".into())))
    }

    /// Appends several jobs' events in one round trip; each request succeeds or conflicts alone.
    pub async fn append_batch(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Result<Vec<Result<Vec<RecordedEvent>, StoreError>>, StoreError> {
        match self {
            EventStore::Redis(s) => s.append_batch(requests).await,
            EventStore::Memory(s) => Ok(s.append_batch(requests)),
        }
    }

    /// Up to `count` entries with ids in `[from, to]`.
    pub async fn read_range(
        &self,
        from: Bound,
        to: Bound,
        count: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        match self {
            EventStore::Redis(s) => s.read_range(from.lower(), to.upper(), count).await,
            EventStore::Memory(s) => Ok(s.read_range(from.lower(), to.upper(), count)),
        }
    }

    /// Up to `count` entries after `after`, waiting up to `block` for one to arrive.
    pub async fn read_after(
        &self,
        after: StreamId,
        count: usize,
        block: Option<Duration>,
    ) -> Result<Vec<Entry>, StoreError> {
        match self {
            EventStore::Redis(s) => s.read_after(after, count, block).await,
            EventStore::Memory(s) => Ok(s.read_after(after, count, block).await),
        }
    }

    /// Every event of one job, oldest first.
    pub async fn job_history(&self, job_id: Uuid) -> Result<Vec<Entry>, StoreError> {
        match self {
            EventStore::Redis(s) => s.job_history(job_id).await,
            EventStore::Memory(s) => Ok(s.job_history(job_id)),
        }
    }

    /// Marks a job the log holds nothing of so that it never will: an append of it as a new
    /// job (expected version 0) conflicts from now on and stores nothing. Answers the job's
    /// version as found: 0 when it was absent and is now marked, more when it was stored.
    pub async fn abandon(&self, job_id: Uuid) -> Result<u64, StoreError> {
        match self {
            EventStore::Redis(s) => s.abandon(job_id).await,
            EventStore::Memory(s) => Ok(s.abandon(job_id)),
        }
    }

    /// The job's current version (0 when unknown).
    pub async fn job_version(&self, job_id: Uuid) -> Result<u64, StoreError> {
        match self {
            EventStore::Redis(s) => s.job_version(job_id).await,
            EventStore::Memory(s) => Ok(s.job_version(job_id)),
        }
    }

    /// Number of entries in the log.
    pub async fn entry_count(&self) -> Result<u64, StoreError> {
        match self {
            EventStore::Redis(s) => s.entry_count().await,
            EventStore::Memory(s) => Ok(s.entry_count()),
        }
    }

    /// Reads the whole log (or a range) page by page, calling `page` on each; the next page is
    /// already being read, parsed and decoded by another task while `page` works (on another
    /// core when the runtime has more than one thread).
    pub async fn scan<F>(
        &self,
        from: Bound,
        to: Bound,
        page_size: usize,
        mut page: F,
    ) -> Result<(), StoreError>
    where
        F: FnMut(Vec<Entry>),
    {
        let end = to.upper();
        let mut entries = self.read_range(from, Bound::Id(end), page_size).await?;
        loop {
            let Some(last) = entries.last().map(|(id, _)| *id) else {
                return Ok(());
            };
            if entries.len() < page_size || last >= end {
                page(entries);
                return Ok(());
            }
            let store = self.clone();
            let next = tokio::spawn(async move {
                store
                    .read_range(Bound::Id(last.successor()), Bound::Id(end), page_size)
                    .await
            });
            page(std::mem::take(&mut entries));
            entries = match next.await {
                Ok(read) => read?,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => panic!("the page reader was cancelled: {e}"),
            };
        }
    }
}

/// The wait between attempts while the store is unreachable: from 100 ms, doubling up to 1 s, so
/// work goes on within a second of Redis coming back (a restart's data load answers `LOADING`
/// for a while, and a longer cap left jobs waiting seconds after it), at a cost to Redis of one
/// command a second per waiting caller.
#[derive(Debug)]
pub struct Patience {
    next: Duration,
}

impl Default for Patience {
    fn default() -> Self {
        Patience {
            next: Duration::from_millis(100),
        }
    }
}

impl Patience {
    /// How long the next [`Patience::wait`] lasts.
    pub fn next(&self) -> Duration {
        self.next
    }

    /// Waits, and will wait longer next time.
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    use super::*;

    /// A Redis that refuses writes for now, as a transaction meets it: `MULTI` is accepted, every
    /// queued command is refused with `refusal`, and `EXEC` aborts.
    async fn refusing_redis(socket: &std::path::Path, refusal: &'static [u8]) {
        let listener = tokio::net::UnixListener::bind(socket).expect("bind");
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            // Each command is `*n` then n pairs of `$len` and the bytes; only the name matters.
            while let Ok(Some(header)) = lines.next_line().await {
                let n: usize = header.trim_start_matches('*').parse().unwrap_or(0);
                let mut words = Vec::new();
                for _ in 0..n {
                    let _len = lines.next_line().await;
                    words.push(lines.next_line().await.ok().flatten().unwrap_or_default());
                }
                let answer: &[u8] = match words.first().map(|w| w.to_ascii_uppercase()) {
                    Some(w) if w == "MULTI" => b"+OK\r\n",
                    Some(w) if w == "EXEC" => {
                        b"-EXECABORT Transaction discarded because of previous errors.\r\n"
                    }
                    _ => refusal,
                };
                if write.write_all(answer).await.is_err() {
                    break;
                }
            }
        });
    }

    /// Still loading after a restart, full, and unable to write its AOF: each refusal of a
    /// transaction counts as Redis being unavailable for now.
    #[tokio::test]
    async fn a_transaction_refused_for_now_counts_as_unavailable() {
        for refusal in [
            &b"-LOADING Redis is loading the dataset in memory\r\n"[..],
            b"-OOM command not allowed when used memory > 'maxmemory'.\r\n",
            b"-MISCONF Errors writing to the AOF file: No space left on device\r\n",
        ] {
            refused_transaction_counts_as_unavailable(refusal).await;
        }
    }

    async fn refused_transaction_counts_as_unavailable(refusal: &'static [u8]) {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("refusing.sock");
        refusing_redis(&socket, refusal).await;
        let client = redis::Client::open(format!("unix://{}", socket.display())).unwrap();
        let config = redis::AsyncConnectionConfig::new();
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .expect("connect");
        let mut transaction = redis::pipe();
        transaction
            .atomic()
            .hset("job:1", "status", "DONE")
            .incr("n", 1);
        let e = transaction
            .query_async::<redis::Value>(&mut conn)
            .await
            .expect_err("refused");
        let e = StoreError::Redis(e);
        assert!(e.is_unavailable(), "{e:?}");
    }
}
