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

struct Pending {
    job_id: Uuid,
    events: Vec<JobEvent>,
    correlation_id: Uuid,
    reply: oneshot::Sender<Result<Vec<RecordedEvent>, JournalError>>,
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

/// Most requests committed in one round trip.
const MAX_BATCH: usize = 1024;

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
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Pending {
                job_id,
                events,
                correlation_id,
                reply,
            })
            .await
            .map_err(|_| JournalError::Closed)?;
        rx.await.map_err(|_| JournalError::Closed)?
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
    let mut requests = Vec::with_capacity(batch.len());
    let mut waiting = Vec::with_capacity(batch.len());
    {
        let model = model.lock().unwrap_or_else(|e| e.into_inner());
        // Later requests for the same job in this batch see the earlier ones' effects.
        let mut in_batch: std::collections::HashMap<Uuid, JobLifecycle> = Default::default();
        for p in batch {
            let start = in_batch
                .get(&p.job_id)
                .copied()
                .or_else(|| model.job(&p.job_id).map(|j| j.lifecycle))
                .unwrap_or_default();
            let checked = p.events.iter().try_fold(start, |s, e| s.next(e));
            match checked {
                Ok(end) => {
                    in_batch.insert(p.job_id, end);
                    requests.push(AppendRequest {
                        job_id: p.job_id,
                        expected_version: start.version,
                        events: p.events,
                        correlation_id: p.correlation_id,
                        causation_id: None,
                    });
                    waiting.push(p.reply);
                }
                Err(e) => {
                    let _ = p.reply.send(Err(e.into()));
                }
            }
        }
    }
    if requests.is_empty() {
        return None;
    }
    match store.append_batch(requests).await {
        Ok(results) => {
            let mut model = model.lock().unwrap_or_else(|e| e.into_inner());
            let mut effects = Vec::new();
            for (result, reply) in results.into_iter().zip(waiting) {
                let result = result.map_err(JournalError::from).inspect(|recorded| {
                    for r in recorded {
                        if let Err(a) = model.apply(r.clone(), &mut effects) {
                            tracing::error!(problem = %a.problem, "journal fold refused an appended event");
                        }
                    }
                });
                let _ = reply.send(result);
            }
            project.then(|| Page::gather(&model, &effects))
        }
        Err(e) => {
            let message = crate::projections::error_chain(&e);
            for reply in waiting {
                let _ = reply.send(Err(if e.is_unavailable() {
                    JournalError::Unavailable(message.clone())
                } else {
                    JournalError::Failed(message.clone())
                }));
            }
            None
        }
    }
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
