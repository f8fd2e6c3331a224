//! Event-log throughput, printed as events/s (medians of 5 runs in memory, 3 against a private
//! `redis-server` on a Unix socket):
//! 1. appending events to the stream (the append script, 1,000 requests per round trip);
//! 2. decoding MessagePack payloads in memory;
//! 3. decoding + folding every read model in memory: on one thread, and pipelined as the log
//!    is read (`EventStore::scan` decodes the next page on another task while this one folds);
//! 4. Redis's own `XRANGE` read rate (COUNT 1,000, replies parsed, nothing decoded): the ceiling;
//! 5. a full rebuild into Redis: read, decode, fold and write every read model.
//!
//! `cargo bench --bench event_log` (EVENTS=200000 for a quicker run; under `cargo test` it
//! runs 5,000 events as a smoke test).

#![allow(clippy::print_stdout)]

/// The same allocator as the binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// The tests' private Redis; the bench needs only `start` and `url`, not the restart the tests use.
#[path = "../tests/it/support/redis.rs"]
#[allow(dead_code)]
mod private_redis;

use std::sync::Arc;
use std::time::Instant;

use carbonq::events::{
    decode, encode, sample::history, EncodedEvent, EventMeta, JobEvent, RecordedEvent, StreamId,
};
use carbonq::projections::runner::rebuild;
use carbonq::projections::ReadModel;
use carbonq::store::{AppendRequest, EventStore, KeySpace, MemoryStore, RedisStore, Stamper};
use uuid::Uuid;

/// Runs of each in-memory measure (they are quick, and the machine is noisy).
const RUNS: usize = 5;

/// Entries per page, as the log is read.
const PAGE: usize = 1_000;

/// Decodes one page of stored entries.
fn decode_page(page: &[(StreamId, EventMeta, EncodedEvent)]) -> Vec<RecordedEvent> {
    page.iter()
        .map(|(id, meta, e)| RecordedEvent {
            stream_id: *id,
            meta: meta.clone(),
            event: decode(e.type_name, e.version, &e.data).expect("decode"),
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The sample log as append requests of one event each, jobs interleaved.
fn requests(events: u64) -> Vec<AppendRequest> {
    let mut out = Vec::with_capacity(events as usize);
    let mut n = 0u64;
    let mut pending: Vec<(Uuid, Vec<JobEvent>, u64)> = Vec::new();
    while (out.len() as u64) < events {
        // Keep about 1,000 jobs in flight, like a busy service.
        while pending.len() < 1000 {
            pending.push((Uuid::from_u128(u128::from(n) + 1), history(n), 0));
            n += 1;
        }
        let mut i = 0;
        while i < pending.len() && (out.len() as u64) < events {
            let (job, h, v) = &mut pending[i];
            out.push(AppendRequest {
                job_id: *job,
                expected_version: *v,
                events: vec![h[*v as usize].clone()],
                correlation_id: *job,
                causation_id: None,
                replaces: Vec::new(),
            });
            *v += 1;
            if *v as usize == h.len() {
                pending.swap_remove(i);
            } else {
                i += 1;
            }
        }
    }
    out
}

fn rate(events: u64, started: Instant) -> f64 {
    events as f64 / started.elapsed().as_secs_f64()
}

async fn append_all(store: &EventStore, reqs: &[AppendRequest]) -> f64 {
    let t = Instant::now();
    for chunk in reqs.chunks(1000) {
        for r in store.append_batch(chunk.to_vec()).await.expect("append") {
            r.expect("no conflict");
        }
    }
    rate(reqs.len() as u64, t)
}

async fn xrange_rate(store: &RedisStore, events: u64) -> f64 {
    let mut conn = store.connection();
    let t = Instant::now();
    let mut next = "-".to_owned();
    let mut seen = 0u64;
    loop {
        let reply: Vec<(String, redis::Value)> = redis::cmd("XRANGE")
            .arg(store.keys().streams())
            .arg(&next)
            .arg("+")
            .arg("COUNT")
            .arg(1_000)
            .query_async(&mut conn)
            .await
            .expect("xrange");
        let Some((last, _)) = reply.last() else { break };
        seen += reply.len() as u64;
        next = format!("({last}");
    }
    assert_eq!(seen, events);
    rate(events, t)
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this as a quick smoke test.
    let full = std::env::args().any(|a| a == "--bench");
    let events: u64 = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 1_000_000 } else { 5_000 });
    println!(
        "event log benchmark: {events} events, medians of {RUNS} runs in memory, 3 against Redis"
    );
    let reqs = requests(events);

    // 2. decode in memory.
    let encoded: Vec<_> = reqs
        .iter()
        .map(|r| encode(&r.events[0]).expect("encode"))
        .collect();
    let mut decode_rates = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        for e in &encoded {
            std::hint::black_box(decode(e.type_name, e.version, &e.data).expect("decode"));
        }
        decode_rates.push(rate(events, t));
    }

    // 3. decode + fold in memory (the in-memory store hands back typed events; decode them
    //    from their bytes first so the figure includes MessagePack).
    let memory = EventStore::Memory(MemoryStore::new(Stamper::system()));
    append_all(&memory, &reqs).await;
    let recorded: Vec<_> = memory
        .read_range(
            carbonq::store::Bound::Open,
            carbonq::store::Bound::Open,
            usize::MAX,
        )
        .await
        .expect("read")
        .into_iter()
        .filter_map(|(_, e)| e.ok())
        .map(|r| (r.stream_id, r.meta))
        .collect();
    let pages: Arc<Vec<Vec<(StreamId, EventMeta, EncodedEvent)>>> = Arc::new(
        recorded
            .into_iter()
            .zip(encoded)
            .map(|((id, meta), e)| (id, meta, e))
            .collect::<Vec<_>>()
            .chunks(PAGE)
            .map(<[_]>::to_vec)
            .collect(),
    );
    let (mut fold_rates, mut pipelined_rates) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        // One thread: decode each entry, then fold it.
        let t = Instant::now();
        let mut model = ReadModel::default();
        let mut effects = Vec::new();
        for page in pages.iter() {
            for r in decode_page(page) {
                model.apply(r, &mut effects).expect("legal");
                effects.clear();
            }
        }
        fold_rates.push(rate(events, t));
        assert_eq!(model.applied, events);
        drop(model);

        // As `replay` and rebuilds read: the next page is decoded by another task (another
        // core) while this one folds.
        let t = Instant::now();
        let mut model = ReadModel::default();
        let decoder = |i: usize| {
            let pages = Arc::clone(&pages);
            tokio::spawn(async move { decode_page(&pages[i]) })
        };
        let mut next = (!pages.is_empty()).then(|| decoder(0));
        for i in 0..pages.len() {
            let page = next.take().expect("decoding").await.expect("decoded");
            next = (i + 1 < pages.len()).then(|| decoder(i + 1));
            for r in page {
                model.apply(r, &mut effects).expect("legal");
                effects.clear();
            }
        }
        pipelined_rates.push(rate(events, t));
        assert_eq!(model.applied, events);
    }

    // 1, 4, 5 against Redis: a fresh server per run.
    let (mut append_rates, mut xrange_rates, mut rebuild_rates) =
        (Vec::new(), Vec::new(), Vec::new());
    for run in 0..3 {
        let server = private_redis::TestRedis::start();
        let store = RedisStore::open(&server.url(), KeySpace::default(), Stamper::system())
            .await
            .expect("connect");
        let log = EventStore::Redis(store.clone());
        append_rates.push(append_all(&log, &reqs).await);
        xrange_rates.push(xrange_rate(&store, events).await);
        let t = Instant::now();
        let (model, anomalies) = rebuild(
            &store,
            &KeySpace::new(&format!("run{run}:"), "events"),
            |_| {},
        )
        .await
        .expect("rebuild");
        rebuild_rates.push(rate(events, t));
        assert!(anomalies.is_empty());
        assert_eq!(model.applied, events);
    }

    let (a, d, f, p, x, r) = (
        median(append_rates),
        median(decode_rates),
        median(fold_rates),
        median(pipelined_rates),
        median(xrange_rates),
        median(rebuild_rates),
    );
    println!("{:<46} {:>14}", "measure", "events/s");
    println!(
        "{:<46} {:>14.0}",
        "append to Redis (1,000 per round trip)", a
    );
    println!("{:<46} {:>14.0}", "decode MessagePack in memory", d);
    println!(
        "{:<46} {:>14.0}",
        "decode + fold all read models, one thread", f
    );
    println!(
        "{:<46} {:>14.0}",
        "decode (next page) | fold, pipelined, 2 cores", p
    );
    println!("{:<46} {:>14.0}", "Redis XRANGE read (ceiling)", x);
    println!(
        "{:<46} {:>14.0}",
        "full rebuild into Redis (read+fold+write)", r
    );
    println!("rebuild / XRANGE = {:.0}%", 100.0 * r / x);
}
