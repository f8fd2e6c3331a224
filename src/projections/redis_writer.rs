//! Writes read models to Redis: a page of effects with its checkpoint in one `MULTI`/`EXEC`, or a
//! whole model in pipelined chunks; and reads them back for diffs.

use std::collections::{BTreeMap, HashSet};

use futures::{StreamExt, TryStreamExt};
use redis::aio::MultiplexedConnection;
use redis::Pipeline;
use rustc_hash::FxHashMap;
use uuid::Uuid;

use super::{Effect, ReadModel};
use crate::events::StreamId;
use crate::store::keys::{KeySpace, QueueName};
use crate::store::StoreError;

/// Jobs per pipeline when writing or reading a whole model.
const CHUNK: usize = 2_000;

/// A job hash as the view gave it when its page was gathered.
#[derive(Debug, Clone)]
struct JobRow {
    fields: Vec<(&'static str, String)>,
    created_ms: i64,
    /// The idempotency key, when this job is the one the key maps to.
    idempotency_key: Option<String>,
}

impl JobRow {
    fn of(model: &ReadModel, id: &Uuid) -> Option<JobRow> {
        let view = model.jobs.get(id)?;
        let key = view
            .submitted
            .idempotency_key
            .as_ref()
            .filter(|k| model.idempotency.get(*k) == Some(id));
        Some(JobRow {
            fields: view.fields(),
            created_ms: view.created_at.timestamp_millis(),
            idempotency_key: key.cloned(),
        })
    }

    fn write(&self, pipe: &mut Pipeline, keys: &KeySpace, id: &Uuid, fresh: bool) {
        let key = keys.job(id);
        if !fresh {
            // The hash is exactly the view: fields the view no longer has must go too.
            pipe.del(&key).ignore();
        }
        pipe.hset_multiple(&key, &self.fields).ignore();
        pipe.zadd(keys.job_index(), id.to_string(), self.created_ms)
            .ignore();
        if let Some(k) = &self.idempotency_key {
            pipe.hset_nx(keys.idempotency(), k, id.to_string()).ignore();
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
    queue_ops: Vec<Effect>,
    /// The touched jobs' hashes, as of the end of the page.
    jobs: FxHashMap<Uuid, JobRow>,
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
        for effect in effects {
            match effect {
                Effect::Job(id) => {
                    if let Some(row) = JobRow::of(model, id) {
                        page.jobs.insert(*id, row);
                    }
                }
                op => page.queue_ops.push(op.clone()),
            }
        }
        page
    }

    /// Folds the page after this one into it: queue changes are appended, hashes and counters
    /// take the later state.
    pub fn merge(&mut self, later: Page) {
        self.queue_ops.extend(later.queue_ops);
        self.jobs.extend(later.jobs);
        self.stats = later.stats;
        self.checkpoint = self.checkpoint.max(later.checkpoint);
    }

    /// How many writes it holds (queue changes and job hashes).
    pub fn len(&self) -> usize {
        self.queue_ops.len() + self.jobs.len()
    }

    /// Whether it changes nothing, not even the checkpoint.
    pub fn is_empty(&self) -> bool {
        self.len() == 0 && self.stats.is_empty()
    }
}

/// Writes one page, with the counters and the checkpoint, as one transaction: a crash leaves
/// either none or all of the page applied.
pub async fn write_page(
    conn: &mut MultiplexedConnection,
    keys: &KeySpace,
    page: &Page,
) -> Result<(), StoreError> {
    let mut pipe = redis::pipe();
    pipe.atomic();
    for op in &page.queue_ops {
        match op {
            Effect::Push(q, id) => {
                pipe.lpush(keys.queue(*q), id.to_string()).ignore();
            }
            Effect::Remove(q, id) => {
                pipe.lrem(keys.queue(*q), -1, id.to_string()).ignore();
            }
            Effect::Defer(id, score) => {
                pipe.zadd(keys.queue(QueueName::Deferred), id.to_string(), *score)
                    .ignore();
            }
            Effect::Undefer(id) => {
                pipe.zrem(keys.queue(QueueName::Deferred), id.to_string())
                    .ignore();
            }
            Effect::Job(_) => {}
        }
    }
    for (id, row) in &page.jobs {
        row.write(&mut pipe, keys, id, false);
    }
    write_meta(&mut pipe, keys, &page.stats, page.checkpoint);
    pipe.query_async::<()>(conn).await?;
    Ok(())
}

/// Replaces every read model under `keys` with `model`, in pipelined chunks (for rebuilds into a
/// fresh namespace; not atomic).
pub async fn write_all(
    conn: &mut MultiplexedConnection,
    keys: &KeySpace,
    model: &ReadModel,
) -> Result<(), StoreError> {
    let ids: Vec<Uuid> = model.jobs.keys().copied().collect();
    // Several chunks in flight: Redis applies one while the next is being encoded.
    let writes = ids.chunks(CHUNK).map(|chunk| {
        let mut pipe = redis::pipe();
        for id in chunk {
            if let Some(row) = JobRow::of(model, id) {
                row.write(&mut pipe, keys, id, true);
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
    conn: &mut MultiplexedConnection,
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
    conn: &mut MultiplexedConnection,
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
    conn: &mut MultiplexedConnection,
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
