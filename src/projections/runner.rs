//! Catches the Redis read models up with the log from the stored checkpoint, and writes the
//! pages the journal hands over after that.
//!
//! On start the runner folds the log up to the checkpoint in memory (no writes), so it knows
//! each job's state; then every page it reads is written with the new checkpoint in one
//! transaction. Killed between pages, a restarted runner neither loses nor repeats an effect.
//!
//! In `carbonq serve` the runner reads the log only to catch up at start: from then on the
//! journal, the log's one writer, hands a [`Page`] for each batch it appended and folded to the
//! [`PageWriter`], so the service neither reads back nor folds twice what it has just written.

use super::redis_writer::{pages_written, stale_jobs, write_all, write_page, Page};
use super::{Anomaly, ReadModel};
use chrono::{DateTime, Utc};

use crate::events::{RecordedEvent, StreamId};
use crate::store::{
    Bound, Connection, EventStore, KeySpace, Lease, Patience, RedisStore, StoreError,
};

/// Entries folded per page.
pub const PAGE: usize = 1_000;

/// How often a long fold at start says how far it is.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Keeps one namespace's read models in step with the log.
pub struct ProjectionRunner {
    store: EventStore,
    keys: KeySpace,
    conn: Connection,
    fence: Option<Lease>,
    model: ReadModel,
    page_size: usize,
    /// The number of the last page written under `keys`.
    pages: u64,
}

impl ProjectionRunner {
    /// Loads the checkpoint of `keys` and refolds the log up to it. When `store`'s appends are
    /// fenced by a writer lease, so are the pages, on a connection of the runner's own.
    pub async fn start(store: &RedisStore, keys: KeySpace) -> Result<Self, StoreError> {
        let fence = store.lease().cloned();
        let mut conn = match fence {
            Some(_) => store.dedicated_connection().await?,
            None => store.connection(),
        };
        let checkpoint: Option<String> = redis::cmd("GET")
            .arg(keys.checkpoint())
            .query_async(&mut conn)
            .await?;
        let checkpoint = checkpoint
            .and_then(|c| c.parse::<StreamId>().ok())
            .unwrap_or(StreamId::ZERO);
        let store = EventStore::Redis(store.clone());
        let mut model = ReadModel::default();
        if checkpoint > StreamId::ZERO {
            let mut effects = Vec::new();
            // A long log takes a while (≈ 0.1M entries a second): say how far along it is.
            let total = store.entry_count().await?;
            let mut told = std::time::Instant::now();
            store
                .scan(Bound::Open, Bound::Id(checkpoint), PAGE, |entries| {
                    if told.elapsed() >= PROGRESS_EVERY {
                        told = std::time::Instant::now();
                        tracing::info!(folded = model.applied, of = total, "folding the log");
                    }
                    for (id, entry) in entries {
                        if let Err(a) = model.apply_entry(id, entry, &mut effects) {
                            log_anomaly(&a);
                        }
                        effects.clear();
                    }
                })
                .await?;
            // Everything up to the checkpoint should be projected; where a late append broke
            // that, the read models are written anew from the fold (rare, and idempotent).
            let stale = stale_jobs(&mut conn, &keys, &model).await?;
            if stale > 0 {
                tracing::warn!(
                    stale,
                    "read models of some jobs are behind the log (Redis ran an append late, \
                     then this process stopped); writing every read model anew from the log"
                );
                write_all(&mut conn, &keys, &model).await?;
            }
        }
        let pages = pages_written(&mut conn, &keys).await?;
        Ok(ProjectionRunner {
            store,
            keys,
            conn,
            fence,
            model,
            page_size: PAGE,
            pages,
        })
    }

    /// Sets how many entries each page folds.
    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size.max(1);
        self
    }

    /// The model as folded so far.
    pub fn model(&self) -> &ReadModel {
        &self.model
    }

    /// Folds and writes one page; returns how many entries it read (0: caught up).
    pub async fn step(&mut self) -> Result<usize, StoreError> {
        let entries = self
            .store
            .read_after(self.model.checkpoint, self.page_size, None)
            .await?;
        if entries.is_empty() {
            return Ok(0);
        }
        let n = entries.len();
        let mut effects = Vec::with_capacity(n * 3);
        for (id, entry) in entries {
            if let Err(a) = self.model.apply_entry(id, entry, &mut effects) {
                log_anomaly(&a);
            }
        }
        let page = Page::gather(&self.model, &effects);
        self.pages += 1;
        write_page(
            &mut self.conn,
            &self.keys,
            &page,
            self.pages,
            self.fence.as_ref(),
        )
        .await?;
        Ok(n)
    }

    /// Pages until the log has nothing new; returns entries read.
    pub async fn catch_up(&mut self) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let n = self.step().await?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
        }
    }

    /// Hands over to the journal: returns the model, folded to the end of the log (catch up
    /// first), for the journal to start from, and the writer for the pages it will send.
    pub fn into_page_writer(self) -> (ReadModel, PageWriter) {
        let writer = PageWriter {
            conn: self.conn,
            keys: self.keys,
            fence: self.fence,
            pages: self.pages,
        };
        (self.model, writer)
    }
}

/// Most writes merged into one transaction when pages queue up.
const MAX_MERGED: usize = 8 * PAGE;

/// Writes the pages the journal sends, in order; pages that queue up while one is being written
/// are merged and written together.
pub struct PageWriter {
    conn: Connection,
    keys: KeySpace,
    fence: Option<Lease>,
    /// The number of the last page written.
    pages: u64,
}

impl PageWriter {
    /// Writes pages until `stop` resolves, then writes what is already queued and returns.
    pub async fn follow(
        mut self,
        mut pages: tokio::sync::mpsc::Receiver<Page>,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<(), StoreError> {
        tokio::pin!(stop);
        loop {
            let first = tokio::select! {
                _ = &mut stop => break,
                page = pages.recv() => page,
            };
            let Some(page) = first else { break };
            self.write_merged(page, &mut pages).await?;
        }
        while let Ok(page) = pages.try_recv() {
            self.write_merged(page, &mut pages).await?;
        }
        Ok(())
    }

    async fn write_merged(
        &mut self,
        mut page: Page,
        pages: &mut tokio::sync::mpsc::Receiver<Page>,
    ) -> Result<(), StoreError> {
        while page.writes() < MAX_MERGED {
            match pages.try_recv() {
                Ok(later) => page.merge(later),
                Err(_) => break,
            }
        }
        // Numbered once: every attempt sends the same number, so one that Redis applied without
        // answering is not applied again.
        self.pages += 1;
        let mut patience = Patience::default();
        loop {
            match write_page(
                &mut self.conn,
                &self.keys,
                &page,
                self.pages,
                self.fence.as_ref(),
            )
            .await
            {
                // Another process writes the log now, and keeps its read models.
                Err(e @ StoreError::Fenced { .. }) => return Err(e),
                // Redis away: keep the page and try again; the journal waits meanwhile.
                Err(e) if e.is_unavailable() => {
                    tracing::warn!(error = %super::error_chain(&e), retry_in = ?patience.next(), "projection page not written; retrying");
                    patience.wait().await;
                }
                done => return done,
            }
        }
    }
}

fn log_anomaly(a: &Anomaly) {
    tracing::warn!(stream_id = %a.stream_id, job_id = ?a.job_id, problem = %a.problem, "skipped log entry");
}

/// Folds the log between `from` and `to` into memory, collecting anomalies, leaving out events
/// recorded after `until`; `progress` is told how many entries each page held.
pub async fn fold_log(
    store: &EventStore,
    from: Bound,
    to: Bound,
    until: Option<DateTime<Utc>>,
    mut progress: impl FnMut(u64),
) -> Result<(ReadModel, Vec<Anomaly>), StoreError> {
    let mut model = ReadModel::default();
    let mut anomalies = Vec::new();
    let mut effects = Vec::new();
    store
        .scan(from, to, PAGE, |entries| {
            progress(entries.len() as u64);
            for (id, entry) in entries {
                let later = |e: &RecordedEvent| until.is_some_and(|t| e.meta.recorded_at > t);
                if entry.as_ref().is_ok_and(later) {
                    continue;
                }
                if let Err(a) = model.apply_entry(id, entry, &mut effects) {
                    anomalies.push(a);
                }
                effects.clear();
            }
        })
        .await?;
    Ok((model, anomalies))
}

/// Folds the whole log and writes it under `keys` in one go (a rebuild from zero).
pub async fn rebuild(
    store: &RedisStore,
    keys: &KeySpace,
    progress: impl FnMut(u64),
) -> Result<(ReadModel, Vec<Anomaly>), StoreError> {
    let (model, anomalies) = fold_log(
        &EventStore::Redis(store.clone()),
        Bound::Open,
        Bound::Open,
        None,
        progress,
    )
    .await?;
    write_all(&mut store.connection(), keys, &model).await?;
    Ok((model, anomalies))
}
