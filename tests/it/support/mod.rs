//! Shared test helpers: a private Redis, store constructors, the HTTP app, sample logs, snapshot
//! settings.

pub mod app;
pub mod cutter;
pub mod redis;

use std::sync::Arc;

use carbonq::clock::ManualClock;
use carbonq::events::sample::history;
use carbonq::ids::IdGen;
use carbonq::store::{AppendRequest, EventStore, KeySpace, MemoryStore, RedisStore, Stamper};
use chrono::{TimeZone, Utc};
use uuid::Uuid;

pub use self::cutter::AnswerCutter;
pub use self::redis::TestRedis;

/// Binds insta's snapshot directory to the top-level `snapshots/`; the assert stays at the call
/// site so each file is named after its test.
#[macro_export]
macro_rules! snapshot_settings {
    () => {{
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
        settings.set_prepend_module_to_snapshot(true);
        settings
    }};
}

/// A fixed clock and seeded ids, so runs repeat.
pub fn stamper() -> Stamper {
    let t = Utc
        .with_ymd_and_hms(2023, 3, 15, 12, 0, 0)
        .single()
        .expect("valid time");
    Stamper {
        clock: Arc::new(ManualClock::at(t)),
        ids: Arc::new(IdGen::seeded(1)),
    }
}

/// An in-memory store.
pub fn memory_store() -> EventStore {
    EventStore::Memory(MemoryStore::new(stamper()))
}

/// A store on a private Redis.
pub async fn redis_store(redis: &TestRedis) -> RedisStore {
    redis_store_at(&redis.url()).await
}

/// Sets the Redis behind `store` to hold at most `bytes` (1: it is full and refuses writes with
/// `OOM`, as the test Redis evicts nothing; 0: no limit).
pub async fn set_maxmemory(store: &RedisStore, bytes: u64) {
    let _: () = ::redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(bytes)
        .query_async(&mut store.connection())
        .await
        .expect("CONFIG SET maxmemory");
}

/// A store on the Redis at `url`.
pub async fn redis_store_at(url: &str) -> RedisStore {
    RedisStore::open(url, KeySpace::default(), stamper())
        .await
        .expect("connect to test redis")
}

/// Job id `n`.
pub fn job(n: u64) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + u128::from(n))
}

/// Appends the sample history of `jobs` jobs, one event per request, interleaved across jobs
/// the way concurrent work interleaves in a real log. Returns the number of events.
pub async fn append_sample_log(store: &EventStore, jobs: u64) -> u64 {
    let histories: Vec<_> = (0..jobs).map(history).collect();
    let longest = histories.iter().map(Vec::len).max().unwrap_or(0);
    let mut total = 0;
    for step in 0..longest {
        let batch: Vec<AppendRequest> = histories
            .iter()
            .enumerate()
            .filter_map(|(n, h)| {
                h.get(step).map(|e| AppendRequest {
                    job_id: job(n as u64),
                    expected_version: step as u64,
                    events: vec![e.clone()],
                    correlation_id: job(n as u64),
                    causation_id: None,
                    replaces: Vec::new(),
                })
            })
            .collect();
        total += batch.len() as u64;
        for r in store.append_batch(batch).await.expect("append") {
            r.expect("no conflict");
        }
    }
    total
}
