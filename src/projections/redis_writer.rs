//! Writes read models to Redis: a page of effects with its checkpoint in one `MULTI`/`EXEC`, or a
//! whole model in pipelined chunks; and reads them back for diffs.

use std::collections::{BTreeMap, HashSet};

use futures::{StreamExt, TryStreamExt};
use redis::Pipeline;
use rustc_hash::FxHashMap;
use uuid::Uuid;

use super::{Effect, FieldGroups, JobFields, ReadModel};
use crate::events::StreamId;
use crate::store::keys::{KeySpace, QueueName};
use crate::store::{Connection, Lease, StoreError};

/// Jobs per pipeline when writing or reading a whole model.
const CHUNK: usize = 2_000;

/// The writes one job needs: the fields of the groups that changed, as the view had them when
/// the page was gathered; with `SUBMISSION`, its index and idempotency entries too.
#[derive(Debug, Clone)]
struct JobRow {
    groups: FieldGroups,
    fields: JobFields,
    created_ms: i64,
    /// The idempotency key, when this job is the one the key maps to.
    idempotency_key: Option<String>,
}

impl JobRow {
    fn of(model: &ReadModel, id: &Uuid, groups: FieldGroups) -> Option<JobRow> {
        let view = model.jobs.get(id)?;
        let key = view
            .submitted
            .idempotency_key
            .as_ref()
            .filter(|k| model.idempotency.get(*k) == Some(id));
        Some(JobRow {
            groups,
            fields: view.fields_in(groups),
            created_ms: view.created_at.timestamp_millis(),
            idempotency_key: key.cloned(),
        })
    }

    fn merge(&mut self, later: JobRow) {
        self.groups |= later.groups;
        self.fields.merge(later.fields);
    }

    fn created(&self) -> bool {
        self.groups.contains(FieldGroups::SUBMISSION)
    }

    fn write(&self, pipe: &mut Pipeline, keys: &KeySpace, id: &Uuid) {
        let key = keys.job(id);
        if !self.fields.set.is_empty() {
            pipe.hset_multiple(&key, &self.fields.set).ignore();
        }
        if self.created() {
            // A new hash holds nothing to delete; the job enters the index.
            pipe.zadd(keys.job_index(), id.to_string(), self.created_ms)
                .ignore();
            if let Some(k) = &self.idempotency_key {
                pipe.hset_nx(keys.idempotency(), k, id.to_string()).ignore();
            }
        } else if !self.fields.unset.is_empty() {
            pipe.hdel(&key, &self.fields.unset).ignore();
        }
    }
}

/// What a page does to one job's keys: write fields, or (once its retention ran out) delete
/// them.
#[derive(Debug, Clone)]
enum JobWrite {
    Fields(JobRow),
    /// `DEL` the hash, `ZREM` it from the index, `HDEL` this idempotency key.
    Forget(Option<String>),
}

impl JobWrite {
    fn write(&self, pipe: &mut Pipeline, keys: &KeySpace, id: &Uuid) {
        match self {
            JobWrite::Fields(row) => row.write(pipe, keys, id),
            JobWrite::Forget(key) => {
                pipe.del(keys.job(id)).ignore();
                pipe.zrem(keys.job_index(), id.to_string()).ignore();
                if let Some(k) = key {
                    pipe.hdel(keys.idempotency(), k).ignore();
                }
            }
        }
    }
}

fn write_meta(
    pipe: &mut Pipeline,
    keys: &KeySpace,
    stats: &[(String, String)],
    checkpoint: StreamId,
) {
    pipe.hset_multiple(keys.stats(), stats).ignore();
    pipe.set(keys.checkpoint(), checkpoint.to_string()).ignore();
}

/// One page of read-model writes, gathered from the model right after it folded the page's
/// entries, so that it can be written later, after the model has moved on, or merged with the
/// pages after it into one transaction.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Queue changes, in log order.
    queue_ops: QueueOps,
    /// The touched jobs' hashes, as of the end of the page.
    jobs: FxHashMap<Uuid, JobWrite>,
    /// `/stats` counters, as of the end of the page.
    stats: Vec<(String, String)>,
    /// The last entry the page covers.
    checkpoint: StreamId,
}

impl Page {
    /// The writes that `effects`, just folded into `model`, call for.
    pub fn gather(model: &ReadModel, effects: &[Effect]) -> Page {
        let mut page = Page {
            stats: model.counters.fields(),
            checkpoint: model.checkpoint,
            ..Page::default()
        };
        // Every row is read from the model as it is now: one per job, for all its groups.
        let mut touched: FxHashMap<Uuid, FieldGroups> = FxHashMap::default();
        let mut forgotten = Vec::new();
        for effect in effects {
            match effect {
                Effect::Job(id, groups) => *touched.entry(*id).or_default() |= *groups,
                Effect::Forget(id, key) => forgotten.push((*id, JobWrite::Forget(key.clone()))),
                op => page.queue_ops.add(op.clone()),
            }
        }
        // A forgotten job has no view left, so no row; nothing follows its forgetting.
        page.jobs = touched
            .into_iter()
            .filter_map(|(id, groups)| {
                Some((id, JobWrite::Fields(JobRow::of(model, &id, groups)?)))
            })
            .chain(forgotten)
            .collect();
        page
    }

    /// Folds the page after this one into it: queue changes are appended, hashes and counters
    /// take the later state.
    pub fn merge(&mut self, later: Page) {
        for op in later.queue_ops.ops.into_iter().flatten() {
            self.queue_ops.add(op);
        }
        for (id, row) in later.jobs {
            self.add_job(id, row);
        }
        self.stats = later.stats;
        self.checkpoint = self.checkpoint.max(later.checkpoint);
    }

    fn add_job(&mut self, id: Uuid, later: JobWrite) {
        match (self.jobs.get_mut(&id), later) {
            (Some(JobWrite::Fields(row)), JobWrite::Fields(later)) => row.merge(later),
            (_, later) => {
                self.jobs.insert(id, later);
            }
        }
    }

    /// How many writes it holds (queue changes and job hashes).
    pub(crate) fn writes(&self) -> usize {
        self.queue_ops.live + self.jobs.len()
    }
}

/// One queue write.
#[derive(Debug, Clone, PartialEq)]
enum QueueWrite {
    /// `LPUSH` these, in order.
    Push(QueueName, Vec<Uuid>),
    /// `LREM key -1`.
    Remove(QueueName, Uuid),
    /// `ZADD queue:DEFERRED`.
    Defer(Uuid, i64),
    /// `ZREM queue:DEFERRED`.
    Undefer(Uuid),
}

/// A page's queue changes in log order, with the pairs that cancel out dropped: a job pushed
/// onto a list and removed from it before the page is written is neither, and of a job's
/// deferral scores only the last is written (none when it leaves the set).
#[derive(Debug, Clone, Default)]
struct QueueOps {
    ops: Vec<Option<Effect>>,
    /// Where each job's last unwritten push or deferral sits in `ops`.
    pending: FxHashMap<(QueueName, Uuid), usize>,
    /// Ops still in `ops`.
    live: usize,
}

impl QueueOps {
    fn add(&mut self, op: Effect) {
        let at = self.ops.len();
        match &op {
            Effect::Push(q, id) => {
                self.pending.insert((*q, *id), at);
            }
            Effect::Remove(q, id) => {
                if let Some(i) = self.pending.remove(&(*q, *id)) {
                    self.drop_op(i);
                    return;
                }
            }
            Effect::Defer(id, _) => {
                if let Some(i) = self.pending.insert((QueueName::Deferred, *id), at) {
                    self.drop_op(i);
                }
            }
            Effect::Undefer(id) => {
                // The ZREM stays: the job may have been deferred by an earlier page.
                if let Some(i) = self.pending.remove(&(QueueName::Deferred, *id)) {
                    self.drop_op(i);
                }
            }
            Effect::Job(..) | Effect::Forget(..) => return,
        }
        self.ops.push(Some(op));
        self.live += 1;
    }

    /// The Redis writes, in order; consecutive pushes onto one list go as one `LPUSH`.
    fn writes(&self) -> Vec<QueueWrite> {
        let mut out: Vec<QueueWrite> = Vec::with_capacity(self.live);
        for op in self.ops.iter().flatten() {
            match *op {
                Effect::Push(q, id) => match out.last_mut() {
                    Some(QueueWrite::Push(last, ids)) if *last == q => ids.push(id),
                    _ => out.push(QueueWrite::Push(q, vec![id])),
                },
                Effect::Remove(q, id) => out.push(QueueWrite::Remove(q, id)),
                Effect::Defer(id, score) => out.push(QueueWrite::Defer(id, score)),
                Effect::Undefer(id) => out.push(QueueWrite::Undefer(id)),
                Effect::Job(..) | Effect::Forget(..) => {}
            }
        }
        out
    }

    fn drop_op(&mut self, i: usize) {
        if self.ops[i].take().is_some() {
            self.live -= 1;
        }
    }
}

/// Writes one page, with the counters and the checkpoint, as one transaction: a crash leaves
/// either none or all of the page applied. `number` is the page's place among the pages written
/// under `keys` (one more than the last): a page whose number Redis already holds was applied,
/// and sending it again (after Redis applied it and went away before answering) changes nothing.
///
/// With a `fence` (the writer lease of `serve`) it is written only while this process holds the
/// lease, on a connection of the caller's alone (see [`Lease::exec_fenced`]).
pub async fn write_page(
    conn: &mut Connection,
    keys: &KeySpace,
    page: &Page,
    number: u64,
    fence: Option<&Lease>,
) -> Result<(), StoreError> {
    let mut pipe = redis::pipe();
    pipe.atomic();
    let deferred = keys.queue(QueueName::Deferred);
    for write in page.queue_ops.writes() {
        match write {
            QueueWrite::Push(q, ids) => {
                let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
                pipe.lpush(keys.queue(q), ids).ignore();
            }
            QueueWrite::Remove(q, id) => {
                pipe.lrem(keys.queue(q), -1, id.to_string()).ignore();
            }
            QueueWrite::Defer(id, score) => {
                pipe.zadd(&deferred, id.to_string(), score).ignore();
            }
            QueueWrite::Undefer(id) => {
                pipe.zrem(&deferred, id.to_string()).ignore();
            }
        }
    }
    for (id, row) in &page.jobs {
        row.write(&mut pipe, keys, id);
    }
    write_meta(&mut pipe, keys, &page.stats, page.checkpoint);
    let mark = keys.pages_written();
    pipe.set(&mark, number).ignore();
    match fence {
        Some(lease) => lease.exec_fenced(conn, &pipe, (&mark, number)).await,
        None => {
            // One writer and no lease (tests, `simulate --redis`): read, then write.
            if pages_written(conn, keys).await? >= number {
                return Ok(());
            }
            Ok(pipe.query_async::<()>(conn).await?)
        }
    }
}

/// How many pages have been written under `keys` (the last page's number).
pub async fn pages_written(conn: &mut Connection, keys: &KeySpace) -> Result<u64, StoreError> {
    let written: Option<u64> = redis::cmd("GET")
        .arg(keys.pages_written())
        .query_async(conn)
        .await?;
    Ok(written.unwrap_or(0))
}

/// How many of `model`'s jobs have a hash under `keys` at another version than the model's (or
/// none): jobs whose events are behind the checkpoint but were never projected. That happens
/// when Redis ran an append late (it was frozen, and the caller had given up waiting), the
/// journal folded later commits first, and the process stopped before it read the late one.
pub async fn stale_jobs(
    conn: &mut Connection,
    keys: &KeySpace,
    model: &ReadModel,
) -> Result<usize, StoreError> {
    let folded: Vec<(&Uuid, u64)> = model
        .jobs
        .iter()
        .map(|(id, view)| (id, view.lifecycle.version))
        .collect();
    let mut stale = 0;
    for chunk in folded.chunks(CHUNK) {
        let mut pipe = redis::pipe();
        for (id, _) in chunk {
            pipe.hget(keys.job(id), "version");
        }
        let versions: Vec<Option<u64>> = pipe.query_async(conn).await?;
        stale += chunk
            .iter()
            .zip(versions)
            .filter(|((_, folded), hashed)| Some(*folded) != *hashed)
            .count();
    }
    Ok(stale)
}

/// Replaces every read model under `keys` with `model`, in pipelined chunks (for rebuilds into a
/// fresh namespace, or in place when some are stale; not atomic).
pub async fn write_all(
    conn: &mut Connection,
    keys: &KeySpace,
    model: &ReadModel,
) -> Result<(), StoreError> {
    let ids: Vec<Uuid> = model.jobs.keys().copied().collect();
    // Several chunks in flight: Redis applies one while the next is being encoded.
    let writes = ids.chunks(CHUNK).map(|chunk| {
        let mut pipe = redis::pipe();
        for id in chunk {
            if let Some(row) = JobRow::of(model, id, FieldGroups::ALL) {
                row.write(&mut pipe, keys, id);
            }
        }
        let mut conn = conn.clone();
        async move { pipe.query_async::<()>(&mut conn).await }
    });
    futures::stream::iter(writes)
        .buffer_unordered(4)
        .try_collect::<Vec<()>>()
        .await?;
    let mut pipe = redis::pipe();
    for q in [QueueName::Pending, QueueName::Fast, QueueName::Eco] {
        pipe.del(keys.queue(q)).ignore();
        if let Some(list) = model.queues.list(q) {
            for chunk in list.as_redis_list().chunks(CHUNK) {
                pipe.rpush(keys.queue(q), chunk).ignore();
            }
        }
    }
    pipe.del(keys.queue(QueueName::Deferred)).ignore();
    let deferred: Vec<(i64, String)> = model
        .queues
        .deferred
        .by_deadline()
        .map(|(id, score)| (score, id.to_string()))
        .collect();
    for chunk in deferred.chunks(CHUNK) {
        pipe.zadd_multiple(keys.queue(QueueName::Deferred), chunk)
            .ignore();
    }
    write_meta(&mut pipe, keys, &model.counters.fields(), model.checkpoint);
    pipe.query_async::<()>(conn).await?;
    Ok(())
}

/// Deletes every read-model key under `keys` that `model` would have written.
pub async fn delete_all(
    conn: &mut Connection,
    keys: &KeySpace,
    model: &ReadModel,
) -> Result<(), StoreError> {
    let ids: Vec<Uuid> = model.jobs.keys().copied().collect();
    for chunk in ids.chunks(CHUNK) {
        let job_keys: Vec<String> = chunk.iter().map(|id| keys.job(id)).collect();
        redis::cmd("UNLINK")
            .arg(job_keys)
            .query_async::<()>(conn)
            .await?;
    }
    let mut others: Vec<String> = QueueName::ALL.iter().map(|q| keys.queue(*q)).collect();
    others.extend([
        keys.job_index(),
        keys.idempotency(),
        keys.stats(),
        keys.checkpoint(),
    ]);
    redis::cmd("UNLINK")
        .arg(others)
        .query_async::<()>(conn)
        .await?;
    Ok(())
}

/// A read-model key's content, normalised for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyContent {
    /// A hash, by field.
    Hash(BTreeMap<String, String>),
    /// A list, left to right.
    List(Vec<String>),
    /// A sorted set, by rank, with scores as text.
    SortedSet(Vec<(String, String)>),
    /// A string.
    Text(Option<String>),
}

/// One difference between two namespaces.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyDiff {
    /// The key in the live namespace.
    pub key: String,
    /// The field, member or position that differs (`*` for the whole key).
    pub field: String,
    /// Live value.
    pub live: Option<String>,
    /// Rebuilt value.
    pub rebuilt: Option<String>,
}

/// The read-model keys of a namespace, for the jobs given, with a name that is the same in every
/// namespace (the key without its prefix).
fn key_list(keys: &KeySpace, jobs: &[Uuid]) -> Vec<(String, String, &'static str)> {
    let strip = |k: String| {
        let name = k.strip_prefix(keys.prefix()).unwrap_or(&k).to_owned();
        (name, k)
    };
    let mut out = Vec::new();
    for q in [QueueName::Pending, QueueName::Fast, QueueName::Eco] {
        let (n, k) = strip(keys.queue(q));
        out.push((n, k, "list"));
    }
    let (n, k) = strip(keys.queue(QueueName::Deferred));
    out.push((n, k, "zset"));
    let (n, k) = strip(keys.job_index());
    out.push((n, k, "zset"));
    let (n, k) = strip(keys.idempotency());
    out.push((n, k, "hash"));
    let (n, k) = strip(keys.stats());
    out.push((n, k, "hash"));
    for id in jobs {
        let (n, k) = strip(keys.job(id));
        out.push((n, k, "hash"));
    }
    out
}

async fn read_keys(
    conn: &mut Connection,
    list: &[(String, String, &'static str)],
) -> Result<Vec<KeyContent>, StoreError> {
    let mut out = Vec::with_capacity(list.len());
    for chunk in list.chunks(CHUNK) {
        let mut pipe = redis::pipe();
        for (_, key, kind) in chunk {
            match *kind {
                "list" => pipe.lrange(key, 0, -1),
                "zset" => pipe.zrange_withscores(key, 0, -1),
                _ => pipe.hgetall(key),
            };
        }
        let replies: Vec<redis::Value> = pipe.query_async(conn).await?;
        for ((_, _, kind), reply) in chunk.iter().zip(replies) {
            out.push(match *kind {
                "list" => KeyContent::List(redis::from_redis_value(reply)?),
                "zset" => KeyContent::SortedSet(redis::from_redis_value(reply)?),
                _ => KeyContent::Hash(redis::from_redis_value(reply)?),
            });
        }
    }
    Ok(out)
}

/// Compares the read models of two namespaces key by key, for the union of their jobs.
pub async fn diff(
    conn: &mut Connection,
    live: &KeySpace,
    rebuilt: &KeySpace,
    jobs: &[Uuid],
) -> Result<Vec<KeyDiff>, StoreError> {
    let live_jobs: Vec<String> = redis::cmd("ZRANGE")
        .arg(live.job_index())
        .arg(0)
        .arg(-1)
        .query_async(conn)
        .await?;
    let mut all: Vec<Uuid> = jobs.to_vec();
    let known: HashSet<Uuid> = jobs.iter().copied().collect();
    all.extend(
        live_jobs
            .iter()
            .filter_map(|s| s.parse::<Uuid>().ok())
            .filter(|id| !known.contains(id)),
    );
    let live_keys = key_list(live, &all);
    let rebuilt_keys = key_list(rebuilt, &all);
    let a = read_keys(conn, &live_keys).await?;
    let b = read_keys(conn, &rebuilt_keys).await?;
    let mut diffs = Vec::new();
    for (((_, key, _), live), rebuilt) in live_keys.iter().zip(a).zip(b) {
        compare(key, live, rebuilt, &mut diffs);
    }
    Ok(diffs)
}

fn compare(key: &str, live: KeyContent, rebuilt: KeyContent, out: &mut Vec<KeyDiff>) {
    let mut push = |field: String, l: Option<String>, r: Option<String>| {
        if l != r {
            out.push(KeyDiff {
                key: key.to_owned(),
                field,
                live: l,
                rebuilt: r,
            });
        }
    };
    match (live, rebuilt) {
        (KeyContent::Hash(mut l), KeyContent::Hash(r)) => {
            for (f, rv) in r {
                push(f.clone(), l.remove(&f), Some(rv));
            }
            for (f, lv) in l {
                push(f, Some(lv), None);
            }
        }
        (KeyContent::List(l), KeyContent::List(r)) => {
            for i in 0..l.len().max(r.len()) {
                push(format!("[{i}]"), l.get(i).cloned(), r.get(i).cloned());
            }
        }
        (KeyContent::SortedSet(l), KeyContent::SortedSet(r)) => {
            let l: BTreeMap<String, String> = l.into_iter().collect();
            let mut r: BTreeMap<String, String> = r.into_iter().collect();
            for (m, lv) in l {
                push(m.clone(), Some(lv), r.remove(&m));
            }
            for (m, rv) in r {
                push(m, None, Some(rv));
            }
        }
        (l, r) => {
            if l != r {
                push("*".into(), Some(format!("{l:?}")), Some(format!("{r:?}")));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::events::sample::{history, interleaved, retired_after};
    use crate::events::JobEvent;

    /// Job hashes, lists (left to right) and the deferred set, as Redis would hold them.
    #[derive(Default)]
    struct Redis {
        jobs: HashMap<Uuid, BTreeMap<String, String>>,
        lists: HashMap<QueueName, std::collections::VecDeque<Uuid>>,
        deferred: BTreeMap<Uuid, i64>,
    }

    /// What `write_page` does, on maps.
    fn apply(page: &Page, redis: &mut Redis) {
        for write in page.queue_ops.writes() {
            match write {
                QueueWrite::Push(q, ids) => {
                    let list = redis.lists.entry(q).or_default();
                    for id in ids {
                        list.push_front(id);
                    }
                }
                QueueWrite::Remove(q, id) => {
                    let list = redis.lists.entry(q).or_default();
                    if let Some(i) = list.iter().rposition(|j| *j == id) {
                        list.remove(i);
                    }
                }
                QueueWrite::Defer(id, score) => {
                    redis.deferred.insert(id, score);
                }
                QueueWrite::Undefer(id) => {
                    redis.deferred.remove(&id);
                }
            }
        }
        for (id, write) in &page.jobs {
            let JobWrite::Fields(row) = write else {
                redis.jobs.remove(id);
                continue;
            };
            let hash = redis.jobs.entry(*id).or_default();
            for (name, value) in &row.fields.set {
                hash.insert((*name).to_owned(), value.clone());
            }
            if !row.created() {
                for name in &row.fields.unset {
                    hash.remove(*name);
                }
            }
        }
    }

    /// Folds sample histories of many jobs, interleaved, gathering a page every `every`
    /// events and merging `merge` pages before each write.
    fn fold_and_write(
        every: usize,
        merge: usize,
        mut check: impl FnMut(&ReadModel, &Redis),
    ) -> (ReadModel, Redis) {
        let histories: Vec<Vec<_>> = (0..60u64)
            .map(|n| {
                let mut h = history(n);
                // Some deferred jobs are re-planned once before their release.
                if n % 2 == 0 && matches!(h.get(1), Some(JobEvent::Deferred(_))) {
                    h.insert(2, h[1].clone());
                }
                // Some finished jobs are retired.
                if n % 3 == 1 {
                    h.push(retired_after(&h));
                }
                h
            })
            .collect();
        let at = Utc.with_ymd_and_hms(2026, 3, 16, 9, 0, 0).unwrap();
        let mut model = ReadModel::default();
        let (mut effects, mut redis, mut queued) =
            (Vec::new(), Redis::default(), Vec::<Page>::new());
        for (seq, recorded) in interleaved(&histories, at).into_iter().enumerate() {
            model.apply(recorded, &mut effects).expect("legal");
            if (seq + 1) % every == 0 {
                queued.push(Page::gather(&model, &effects));
                effects.clear();
            }
            if queued.len() == merge {
                let mut page = queued.remove(0);
                for later in queued.drain(..) {
                    page.merge(later);
                }
                apply(&page, &mut redis);
                check(&model, &redis);
            }
        }
        queued.push(Page::gather(&model, &effects));
        for page in &queued {
            apply(page, &mut redis);
        }
        (model, redis)
    }

    #[test]
    fn writing_only_the_changed_groups_leaves_every_hash_equal_to_its_view() {
        for (every, merge) in [(1, 1), (1, 3), (7, 1), (5, 4), (40, 3)] {
            let mut checks = 0;
            let (model, redis) = fold_and_write(every, merge, |model, redis| {
                checks += 1;
                same_as_model(model, redis, every, merge);
            });
            assert!(checks > 0);
            same_as_model(&model, &redis, every, merge);
        }
    }

    /// The written lists, deferred set and job hashes equal what the model holds.
    fn same_as_model(model: &ReadModel, redis: &Redis, every: usize, merge: usize) {
        for q in [QueueName::Pending, QueueName::Fast, QueueName::Eco] {
            let written: Vec<String> = redis
                .lists
                .get(&q)
                .map(|l| l.iter().map(Uuid::to_string).collect())
                .unwrap_or_default();
            let list = model.queues.list(q).expect("a list");
            assert_eq!(
                written,
                list.as_redis_list(),
                "{q:?}, every {every}, merge {merge}"
            );
        }
        let deferred: BTreeMap<Uuid, i64> = model.queues.deferred.by_deadline().collect();
        assert_eq!(redis.deferred, deferred);
        assert_eq!(redis.jobs.len(), model.jobs.len());
        for (id, view) in &model.jobs {
            let whole: BTreeMap<String, String> = view
                .fields()
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v))
                .collect();
            assert_eq!(
                redis.jobs[id], whole,
                "job {id}, page every {every}, merge {merge}"
            );
        }
    }
}
