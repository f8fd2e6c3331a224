//! The journal: every actor's one way to append. It checks each request against the job state
//! machine, commits the requests of concurrent callers together in one round trip (group commit),
//! and folds what was appended into the live read model.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::events::{IllegalTransition, JobEvent, JobLifecycle, RecordedEvent};
use crate::projections::redis_writer::Page;
use crate::projections::ReadModel;
use crate::store::{AppendRequest, EventStore, StoreError};

/// Why an append did not happen.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The state machine forbids it.
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    /// Another writer appended to the job first, or the store refused this request.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store could not be reached; nothing was appended.
    #[error("the event store is unavailable: {0}")]
    Unavailable(String),
    /// The store failed; nothing was appended.
    #[error("the event store failed: {0}")]
    Failed(String),
    /// The journal has shut down.
    #[error("the journal is closed")]
    Closed,
}

/// What one job's append produced: its events as stored, or why nothing was.
pub type Appended = Result<Vec<RecordedEvent>, JournalError>;

/// One job's events to append, correlated with the request or run they belong to.
#[derive(Debug, Clone)]
pub struct JobAppend {
    /// The job.
    pub job_id: Uuid,
    /// Its new events, in order.
    pub events: Vec<JobEvent>,
    /// The request or run they belong to.
    pub correlation_id: Uuid,
}

/// One caller's appends: always committed in the same store call, so together.
struct Pending {
    appends: Vec<JobAppend>,
    reply: oneshot::Sender<Vec<Appended>>,
}

/// A cloneable handle to the group-commit task and the live read model.
#[derive(Clone)]
pub struct Journal {
    tx: mpsc::Sender<Pending>,
    model: Arc<Mutex<ReadModel>>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Journal")
    }
}

/// Most callers committed in one round trip. Redis runs a commit's script on its one thread, so
/// a very large commit (1,024 requests: ≈ 15 ms here) holds up the workers' small ones queued
/// behind it; 128 keeps batching's gain (measured, medians: end to end in batches +12%, intake
/// +4%).
const MAX_BATCH: usize = 128;

impl Journal {
    /// Starts the commit task on the current runtime over `store`, with `model` already folded
    /// from the log (see [`crate::projections::runner::fold_log`]).
    pub fn start(store: EventStore, model: ReadModel) -> Journal {
        Self::start_with(store, model, None)
    }

    /// As [`Journal::start`], and sends the read-model writes of every committed batch to
    /// `pages` (see [`crate::projections::runner::PageWriter`]); a slow writer slows commits.
    pub fn start_projecting(
        store: EventStore,
        model: ReadModel,
        pages: mpsc::Sender<Page>,
    ) -> Journal {
        Self::start_with(store, model, Some(pages))
    }

    fn start_with(
        store: EventStore,
        model: ReadModel,
        pages: Option<mpsc::Sender<Page>>,
    ) -> Journal {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        let model = Arc::new(Mutex::new(model));
        tokio::spawn(commit_loop(store, Arc::clone(&model), rx, pages));
        Journal { tx, model }
    }

    /// Appends `events` for `job_id` at its current version, once legal and stored.
    pub async fn append(
        &self,
        job_id: Uuid,
        events: Vec<JobEvent>,
        correlation_id: Uuid,
    ) -> Result<Vec<RecordedEvent>, JournalError> {
        let appended = self
            .append_all(vec![JobAppend {
                job_id,
                events,
                correlation_id,
            }])
            .await;
        appended
            .into_iter()
            .next()
            .unwrap_or(Err(JournalError::Closed))
    }

    /// Appends several jobs' events in one store call: one result per append, in order. Each
    /// is checked and version-checked on its own; those that pass are stored together, in the
    /// store's one atomic step.
    pub async fn append_all(&self, appends: Vec<JobAppend>) -> Vec<Appended> {
        let count = appends.len();
        let (reply, rx) = oneshot::channel();
        let sent = self.tx.send(Pending { appends, reply }).await.is_ok();
        match (sent, rx.await) {
            (true, Ok(results)) => results,
            _ => (0..count).map(|_| Err(JournalError::Closed)).collect(),
        }
    }

    /// The live read model (hold the guard briefly).
    pub fn model(&self) -> MutexGuard<'_, ReadModel> {
        self.model.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn commit_loop(
    store: EventStore,
    model: Arc<Mutex<ReadModel>>,
    mut rx: mpsc::Receiver<Pending>,
    mut pages: Option<mpsc::Sender<Page>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let page = commit(&store, &model, std::mem::take(&mut batch), pages.is_some()).await;
        if let (Some(writer), Some(page)) = (&pages, page) {
            if writer.send(page).await.is_err() {
                tracing::error!(
                    "projection writer stopped; read models lag the log until the next start"
                );
                pages = None;
            }
        }
    }
}

/// Commits one batch; returns the read-model writes it calls for when `project`.
async fn commit(
    store: &EventStore,
    model: &Mutex<ReadModel>,
    batch: Vec<Pending>,
    project: bool,
) -> Option<Page> {
    // Each caller's results, filled in as they are known; `stored` says which slot each store
    // request answers.
    let mut results: Vec<Vec<Option<Appended>>> = Vec::with_capacity(batch.len());
    let mut replies = Vec::with_capacity(batch.len());
    let mut requests = Vec::with_capacity(batch.len());
    let mut stored = Vec::with_capacity(batch.len());
    {
        let model = model.lock().unwrap_or_else(|e| e.into_inner());
        // Later requests for the same job in this batch see the earlier ones' effects.
        let mut in_batch: std::collections::HashMap<Uuid, JobLifecycle> = Default::default();
        for (caller, p) in batch.into_iter().enumerate() {
            let mut slots = Vec::with_capacity(p.appends.len());
            for (slot, a) in p.appends.into_iter().enumerate() {
                let start = in_batch
                    .get(&a.job_id)
                    .copied()
                    .or_else(|| model.job(&a.job_id).map(|j| j.lifecycle))
                    .unwrap_or_default();
                match a.events.iter().try_fold(start, |s, e| s.next(e)) {
                    Ok(end) => {
                        in_batch.insert(a.job_id, end);
                        requests.push(AppendRequest {
                            job_id: a.job_id,
                            expected_version: start.version,
                            events: a.events,
                            correlation_id: a.correlation_id,
                            causation_id: None,
                        });
                        stored.push((caller, slot));
                        slots.push(None);
                    }
                    Err(e) => slots.push(Some(Err(e.into()))),
                }
            }
            results.push(slots);
            replies.push(p.reply);
        }
    }
    let mut page = None;
    if !requests.is_empty() {
        match store.append_batch(requests).await {
            Ok(outcomes) => {
                let mut model = model.lock().unwrap_or_else(|e| e.into_inner());
                let mut effects = Vec::new();
                for (outcome, (caller, slot)) in outcomes.into_iter().zip(stored) {
                    let outcome = outcome.map_err(JournalError::from).inspect(|recorded| {
                        for r in recorded {
                            if let Err(a) = model.apply(r.clone(), &mut effects) {
                                tracing::error!(problem = %a.problem, "journal fold refused an appended event");
                            }
                        }
                    });
                    results[caller][slot] = Some(outcome);
                }
                page = project.then(|| Page::gather(&model, &effects));
            }
            Err(e) => {
                let message = crate::projections::error_chain(&e);
                for (caller, slot) in stored {
                    results[caller][slot] = Some(Err(if e.is_unavailable() {
                        JournalError::Unavailable(message.clone())
                    } else {
                        JournalError::Failed(message.clone())
                    }));
                }
            }
        }
    }
    for (slots, reply) in results.into_iter().zip(replies) {
        let answers = slots
            .into_iter()
            .map(|r| r.unwrap_or(Err(JournalError::Closed)))
            .collect();
        let _ = reply.send(answers);
    }
    page
}

/// Pages queued between the journal and the projection writer before commits wait.
const PAGES_QUEUED: usize = 64;

/// A journal whose appends are projected into Redis, and the task that writes them.
pub struct ProjectedJournal {
    /// The journal.
    pub journal: Journal,
    stop: oneshot::Sender<()>,
    writer: tokio::task::JoinHandle<Result<(), StoreError>>,
}

impl ProjectedJournal {
    /// Catches the read models of `store`'s namespace up with the log, then starts the journal
    /// from them; from here on each committed batch is written to the read models in the order
    /// it was appended. The journal must be the log's only writer.
    pub async fn start(store: &crate::store::RedisStore) -> Result<ProjectedJournal, StoreError> {
        let mut runner =
            crate::projections::runner::ProjectionRunner::start(store, store.keys().clone())
                .await?;
        runner.catch_up().await?;
        let (model, writer) = runner.into_page_writer();
        tracing::info!(
            jobs = model.jobs.len(),
            events = model.applied,
            "log folded"
        );
        let (pages, rx) = mpsc::channel(PAGES_QUEUED);
        let (stop, stopped) = oneshot::channel::<()>();
        let writer = tokio::spawn(async move {
            let written = writer
                .follow(rx, async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = &written {
                tracing::error!(error = %e, "projection writer stopped");
            }
            written
        });
        Ok(ProjectedJournal {
            journal: Journal::start_projecting(EventStore::Redis(store.clone()), model, pages),
            stop,
            writer,
        })
    }

    /// Writes the pages already committed and stops the writer.
    pub async fn stop(self) -> Result<(), StoreError> {
        let _ = self.stop.send(());
        self.writer.await.unwrap_or(Ok(()))
    }
}
