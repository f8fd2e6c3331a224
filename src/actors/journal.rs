//! The journal: every actor's one way to append. It checks each request against the job state
//! machine, commits the requests of concurrent callers together in one round trip (group commit),
//! with the next commit allowed out while one is in Redis, and folds what was appended into the
//! live read model in log order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::stream::{FuturesOrdered, StreamExt};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::events::{IllegalTransition, JobEvent, JobLifecycle, RecordedEvent, StreamId};
use crate::projections::redis_writer::Page;
use crate::projections::{Effect, ReadModel};
use crate::store::{AppendRequest, EventStore, Patience, StoreError};

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
    /// Entries they replace (see [`AppendRequest::replaces`]); usually none.
    pub replaces: Vec<StreamId>,
}

/// One caller's appends: always committed in the same store call, so together.
struct Pending {
    appends: Vec<JobAppend>,
    reply: oneshot::Sender<Vec<Appended>>,
}

/// What a caller asks of the commit task.
enum Request {
    /// Appends to commit.
    Append(Pending),
    /// Fold into the model what the log holds for a job beyond what the model knows, and answer
    /// those events.
    CatchUp {
        job: Uuid,
        reply: oneshot::Sender<Appended>,
        /// When the log holds nothing of the job: make sure it never will (see
        /// [`Journal::settle`]).
        settle: bool,
    },
}

/// A cloneable handle to the group-commit task and the live read model.
#[derive(Clone)]
pub struct Journal {
    tx: mpsc::Sender<Request>,
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
        let appends = vec![JobAppend {
            job_id,
            events,
            correlation_id,
            replaces: Vec::new(),
        }];
        first(self.append_all(appends).await)
    }

    /// Appends several jobs' events in one store call: one result per append, in order. Each
    /// is checked and version-checked on its own; those that pass are stored together, in the
    /// store's one atomic step.
    pub async fn append_all(&self, appends: Vec<JobAppend>) -> Vec<Appended> {
        let count = appends.len();
        let (reply, rx) = oneshot::channel();
        let sent = self
            .tx
            .send(Request::Append(Pending { appends, reply }))
            .await
            .is_ok();
        match (sent, rx.await) {
            (true, Ok(results)) => results,
            _ => (0..count).map(|_| Err(JournalError::Closed)).collect(),
        }
    }

    /// As [`Journal::append_all`], but while the store is unreachable it waits and tries again
    /// (see [`Patience`]) instead of failing: for an actor that has taken a job off a queue and
    /// has no client to hand the failure back to, so that the job is neither lost nor stuck
    /// between queues while Redis is away.
    pub async fn append_all_patiently(&self, appends: Vec<JobAppend>) -> Vec<Appended> {
        let mut patience = Patience::default();
        let mut results = loop {
            let results = self.append_all(appends.clone()).await;
            let unreachable = results.iter().find_map(|r| match r {
                Err(JournalError::Unavailable(e)) => Some(e),
                _ => None,
            });
            let Some(e) = unreachable else {
                break results;
            };
            tracing::warn!(error = %e, retry_in = ?patience.next(), "event store unreachable; appending again");
            patience.wait().await;
        };
        // Redis may have stored an attempt and gone away before answering: the log then holds
        // these very events where the model expected none, and the next attempt conflicts with
        // them. Those are adopted as this append's, not reported as lost.
        for (result, append) in results.iter_mut().zip(&appends) {
            if let Err(JournalError::Store(StoreError::Conflict { .. })) = result {
                // Patiently too: a look that fails as Redis goes away again would leave the
                // stored events out of the model for good.
                let caught = loop {
                    match self.catch_up(append.job_id).await {
                        Err(JournalError::Unavailable(e)) => {
                            tracing::warn!(error = %e, retry_in = ?patience.next(), "cannot read the job's history yet; reading again");
                            patience.wait().await;
                        }
                        caught => break caught,
                    }
                };
                if let Ok(held) = caught {
                    let same = held.len() == append.events.len()
                        && held.iter().zip(&append.events).all(|(h, e)| &h.event == e);
                    if same {
                        *result = Ok(held);
                    }
                }
            }
        }
        results
    }

    /// Folds into the model what the log holds for `job` beyond what the model knows (and
    /// writes it to the read models); returns those events.
    pub async fn catch_up(&self, job: Uuid) -> Appended {
        self.look_up(job, false).await
    }

    /// As [`Journal::catch_up`], for a new job whose submission failed as Redis went away and
    /// may or may not have been stored: when the log holds nothing of it, the job is marked so
    /// that it never will. Its append may still be waiting to run (a frozen Redis runs what it
    /// received once it goes on, after this look), and would then put a job in the log that
    /// nobody was told of and the model never folds.
    pub async fn settle(&self, job: Uuid) -> Appended {
        self.look_up(job, true).await
    }

    async fn look_up(&self, job: Uuid, settle: bool) -> Appended {
        let (reply, rx) = oneshot::channel();
        let request = Request::CatchUp { job, reply, settle };
        if self.tx.send(request).await.is_err() {
            return Err(JournalError::Closed);
        }
        rx.await.unwrap_or(Err(JournalError::Closed))
    }

    /// As [`Journal::append`], patiently (see [`Journal::append_all_patiently`]).
    pub async fn append_patiently(
        &self,
        job_id: Uuid,
        events: Vec<JobEvent>,
        correlation_id: Uuid,
    ) -> Appended {
        let appends = vec![JobAppend {
            job_id,
            events,
            correlation_id,
            replaces: Vec::new(),
        }];
        first(self.append_all_patiently(appends).await)
    }

    /// The live read model (hold the guard briefly).
    pub fn model(&self) -> MutexGuard<'_, ReadModel> {
        self.model.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The one result of a one-append call.
fn first(results: Vec<Appended>) -> Appended {
    results
        .into_iter()
        .next()
        .unwrap_or(Err(JournalError::Closed))
}

/// Commits sent to the store and not yet answered. While one is in Redis the next gathers the
/// callers that arrived meanwhile and goes out behind it, instead of waiting for the first to
/// return: Redis runs them in order on its one connection, so each sees the one before.
const IN_FLIGHT: usize = 2;

/// Per job, its lifecycle once the commits in flight are stored, and which commit set it.
type Overlay = HashMap<Uuid, (JobLifecycle, u64)>;

type StoreOutcome = Result<Vec<Result<Vec<RecordedEvent>, StoreError>>, StoreError>;

async fn commit_loop(
    store: EventStore,
    model: Arc<Mutex<ReadModel>>,
    mut rx: mpsc::Receiver<Request>,
    mut pages: Option<mpsc::Sender<Page>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut sent = FuturesOrdered::new();
    let mut overlay = Overlay::new();
    let mut seq = 0;
    let mut open = true;
    while open || !sent.is_empty() {
        tokio::select! {
            biased;
            Some((prepared, outcome)) = sent.next(), if !sent.is_empty() => {
                let page = finish(&model, prepared, outcome, &mut overlay, pages.is_some());
                send_page(&mut pages, page).await;
            }
            n = rx.recv_many(&mut batch, MAX_BATCH), if open && sent.len() < IN_FLIGHT => {
                if n == 0 {
                    open = false;
                    continue;
                }
                let mut appends = Vec::with_capacity(batch.len());
                let mut catch_ups = Vec::new();
                for request in batch.drain(..) {
                    match request {
                        Request::Append(p) => appends.push(p),
                        Request::CatchUp { job, reply, settle } => {
                            catch_ups.push((job, reply, settle))
                        }
                    }
                }
                if !catch_ups.is_empty() {
                    // Rare (after an outage): let the commits in flight land first, so the
                    // model is the log's up to them and the overlay is empty.
                    while let Some((prepared, outcome)) = sent.next().await {
                        let page = finish(&model, prepared, outcome, &mut overlay, pages.is_some());
                        send_page(&mut pages, page).await;
                    }
                    for (job, reply, settle) in catch_ups {
                        let (caught, page) =
                            catch_up(&store, &model, job, settle, pages.is_some()).await;
                        send_page(&mut pages, page).await;
                        let _ = reply.send(caught);
                    }
                }
                if appends.is_empty() {
                    continue;
                }
                seq += 1;
                let (prepared, requests) = prepare(&model, appends, &mut overlay, seq);
                let store = store.clone();
                sent.push_back(async move {
                    let outcome = if requests.is_empty() {
                        Ok(Vec::new())
                    } else {
                        store.append_batch(requests).await
                    };
                    (prepared, outcome)
                });
            }
        }
    }
}

/// Hands a committed batch's read-model writes to the projection writer, if there is one.
async fn send_page(pages: &mut Option<mpsc::Sender<Page>>, page: Option<Page>) {
    if let (Some(writer), Some(page)) = (pages.as_ref(), page) {
        if writer.send(page).await.is_err() {
            tracing::error!(
                "projection writer stopped; read models lag the log until the next start"
            );
            *pages = None;
        }
    }
}

/// Reads `job`'s history and folds the events the model does not know yet; returns them, and
/// the read-model writes they call for when `project`.
async fn catch_up(
    store: &EventStore,
    model: &Mutex<ReadModel>,
    job: Uuid,
    settle: bool,
    project: bool,
) -> (Appended, Option<Page>) {
    let mut history = match store.job_history(job).await {
        Ok(history) => history,
        Err(e) => return (Err(store_failure(&e)), None),
    };
    if history.is_empty() && settle {
        // Nothing yet: mark it so that nothing ever comes; if something came meanwhile, read it.
        match store.abandon(job).await {
            Ok(0) => return (Ok(Vec::new()), None),
            Ok(_) => match store.job_history(job).await {
                Ok(stored) => history = stored,
                Err(e) => return (Err(store_failure(&e)), None),
            },
            Err(e) => return (Err(store_failure(&e)), None),
        }
    }
    let mut model = model.lock().unwrap_or_else(|e| e.into_inner());
    let known = model.job(&job).map_or(0, |j| j.lifecycle.version);
    let mut effects = Vec::new();
    let mut caught = Vec::new();
    for (_, entry) in history {
        let Ok(recorded) = entry else { continue };
        if recorded.meta.job_version > known {
            caught.push(recorded);
        }
    }
    fold(&mut model, &caught, &mut effects);
    let page = (project && !caught.is_empty()).then(|| Page::gather(&model, &effects));
    (Ok(caught), page)
}

/// Folds events that are in the log into the model, collecting their read-model effects.
fn fold(model: &mut ReadModel, recorded: &[RecordedEvent], effects: &mut Vec<Effect>) {
    for r in recorded {
        if let Err(a) = model.apply(r.clone(), effects) {
            tracing::error!(problem = %a.problem, "journal fold refused a logged event");
        }
    }
}

/// A store call that failed as a whole, as its callers see it.
fn store_failure(e: &StoreError) -> JournalError {
    let message = crate::projections::error_chain(e);
    if e.is_unavailable() {
        JournalError::Unavailable(message)
    } else {
        JournalError::Failed(message)
    }
}

/// A commit on its way to the store: whom to answer, and with what so far.
struct Prepared {
    seq: u64,
    /// Each caller's results, filled in as they are known.
    results: Vec<Vec<Option<Appended>>>,
    replies: Vec<oneshot::Sender<Vec<Appended>>>,
    /// Which caller's slot each store request answers.
    stored: Vec<(usize, usize)>,
}

/// Checks each caller's appends against the job state machine, as it will be once the commits
/// in flight are stored, and turns the legal ones into store requests.
fn prepare(
    model: &Mutex<ReadModel>,
    batch: Vec<Pending>,
    overlay: &mut Overlay,
    seq: u64,
) -> (Prepared, Vec<AppendRequest>) {
    let mut prepared = Prepared {
        seq,
        results: Vec::with_capacity(batch.len()),
        replies: Vec::with_capacity(batch.len()),
        stored: Vec::with_capacity(batch.len()),
    };
    let mut requests = Vec::with_capacity(batch.len());
    let model = model.lock().unwrap_or_else(|e| e.into_inner());
    for (caller, p) in batch.into_iter().enumerate() {
        let mut slots = Vec::with_capacity(p.appends.len());
        for (slot, a) in p.appends.into_iter().enumerate() {
            // Later requests for the same job see the earlier ones' effects.
            let start = overlay
                .get(&a.job_id)
                .map(|&(lifecycle, _)| lifecycle)
                .or_else(|| model.job(&a.job_id).map(|j| j.lifecycle))
                .unwrap_or_default();
            match a.events.iter().try_fold(start, |s, e| s.next(e)) {
                Ok(end) => {
                    overlay.insert(a.job_id, (end, seq));
                    requests.push(AppendRequest {
                        job_id: a.job_id,
                        expected_version: start.version,
                        events: a.events,
                        correlation_id: a.correlation_id,
                        causation_id: None,
                        replaces: a.replaces,
                    });
                    prepared.stored.push((caller, slot));
                    slots.push(None);
                }
                Err(e) => slots.push(Some(Err(e.into()))),
            }
        }
        prepared.results.push(slots);
        prepared.replies.push(p.reply);
    }
    (prepared, requests)
}

/// Folds a stored commit into the model and answers its callers; returns the read-model writes
/// it calls for when `project`. A commit that failed leaves the model as it was, and the
/// commits sent behind it fail their version checks in the store.
fn finish(
    model: &Mutex<ReadModel>,
    prepared: Prepared,
    outcome: StoreOutcome,
    overlay: &mut Overlay,
    project: bool,
) -> Option<Page> {
    let Prepared {
        seq,
        mut results,
        replies,
        stored,
    } = prepared;
    let mut page = None;
    let mut model = model.lock().unwrap_or_else(|e| e.into_inner());
    match outcome {
        Ok(outcomes) => {
            let mut effects = Vec::new();
            for (outcome, &(caller, slot)) in outcomes.into_iter().zip(&stored) {
                let outcome = outcome
                    .map_err(JournalError::from)
                    .inspect(|recorded| fold(&mut model, recorded, &mut effects));
                results[caller][slot] = Some(outcome);
            }
            if project && !stored.is_empty() {
                page = Some(Page::gather(&model, &effects));
            }
        }
        Err(e) => {
            for &(caller, slot) in &stored {
                results[caller][slot] = Some(Err(store_failure(&e)));
            }
        }
    }
    // What this commit set is in the model now (or never will be); later commits' entries stay.
    overlay.retain(|_, &mut (_, set_by)| set_by != seq);
    drop(model);
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
                tracing::error!(error = %crate::projections::error_chain(e), "projection writer stopped");
            }
            written
        });
        Ok(ProjectedJournal {
            journal: Journal::start_projecting(EventStore::Redis(store.clone()), model, pages),
            stop,
            writer,
        })
    }

    /// Writes the pages already committed and stops the writer, waiting at most `limit`: a
    /// writer that cannot reach Redis would wait for it for ever, and the pages it leaves
    /// unwritten are caught up from the log at the next start.
    pub async fn stop(self, limit: std::time::Duration) -> Result<(), StoreError> {
        let _ = self.stop.send(());
        let mut writer = self.writer;
        match tokio::time::timeout(limit, &mut writer).await {
            Ok(written) => written.unwrap_or(Ok(())),
            Err(_) => {
                writer.abort();
                tracing::warn!(
                    ?limit,
                    "read-model pages not written in time; the next start catches them up from the log"
                );
                Ok(())
            }
        }
    }
}
