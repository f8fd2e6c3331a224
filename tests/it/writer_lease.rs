//! The log's writer lease on a real Redis: who may take it, and the appends and projection
//! pages fenced by it.

use std::time::{Duration, Instant};

use carbonq::events::sample::history;
use carbonq::projections::runner::ProjectionRunner;
use carbonq::store::{
    AppendRequest, EventStore, Holder, KeySpace, LeaseError, RedisStore, StoreError,
};
use chrono::Utc;
use uuid::Uuid;

use crate::support::{job, redis_store, TestRedis};

/// Sets the lease key to `value` for `ttl_ms`.
async fn hold(store: &RedisStore, value: &str, ttl_ms: u64) {
    let _: () = ::redis::cmd("SET")
        .arg(store.keys().writer_lease())
        .arg(value)
        .arg("PX")
        .arg(ttl_ms)
        .query_async(&mut store.connection())
        .await
        .unwrap();
}

async fn lease_value(store: &RedisStore) -> Option<String> {
    ::redis::cmd("GET")
        .arg(store.keys().writer_lease())
        .query_async(&mut store.connection())
        .await
        .unwrap()
}

async fn entries(store: &RedisStore) -> u64 {
    EventStore::Redis(store.clone())
        .entry_count()
        .await
        .unwrap()
}

/// A holder on `host` with `pid`, as its lease value.
fn holder(host: &str, pid: u32) -> String {
    serde_json::to_string(&Holder {
        token: Uuid::nil(),
        host: host.to_owned(),
        pid,
        since: Utc::now(),
    })
    .unwrap()
}

fn this_host() -> String {
    Holder::this_process().host
}

/// The first event of job `n`.
fn submission(n: u64) -> AppendRequest {
    AppendRequest {
        job_id: job(n),
        expected_version: 0,
        events: history(n).into_iter().take(1).collect(),
        correlation_id: job(n),
        causation_id: None,
        replaces: Vec::new(),
    }
}

#[tokio::test]
async fn a_lease_held_by_a_live_process_here_is_refused_and_one_left_by_a_dead_one_is_taken() {
    let redis = TestRedis::start();
    let store = redis_store(&redis).await;
    // Given a live holder on this host (pid 1 always exists), taking the lease fails at once.
    hold(&store, &holder(&this_host(), 1), 60_000).await;
    let started = Instant::now();
    let refused = store.take_lease(Duration::from_secs(5)).await;
    assert!(
        matches!(&refused, Err(LeaseError::Held { holder, .. }) if holder.contains("pid 1 on")),
        "{refused:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    // Given one whose process is gone (a kill -9), it is taken over without waiting.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    hold(&store, &holder(&this_host(), pid), 60_000).await;
    let lease = store.take_lease(Duration::from_secs(5)).await.unwrap();
    assert_eq!(lease_value(&store).await.as_deref(), Some(lease.value()));
}

#[tokio::test]
async fn a_lease_held_elsewhere_is_waited_for_until_it_expires_but_not_while_it_is_renewed() {
    let redis = TestRedis::start();
    let store = redis_store(&redis).await;
    // Another host's holder that stopped renewing: its lease expires and is taken.
    hold(&store, &holder("another-host", 7), 600).await;
    let started = Instant::now();
    let lease = store.take_lease(Duration::from_secs(2)).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(lease_value(&store).await.as_deref(), Some(lease.value()));

    // One that keeps its lease: refused after the lease's time to live and a second.
    hold(&store, &holder("another-host", 7), 60_000).await;
    let started = Instant::now();
    let refused = store.take_lease(Duration::from_millis(300)).await;
    assert!(
        matches!(&refused, Err(LeaseError::Held { holder, .. }) if holder.contains("on another-host")),
        "{refused:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(1300));
}

#[tokio::test]
async fn an_append_fenced_by_a_lease_another_process_took_stores_nothing() {
    let redis = TestRedis::start();
    let store = redis_store(&redis).await;
    let lease = store.take_lease(Duration::from_secs(5)).await.unwrap();
    let fenced = EventStore::Redis(store.clone().fenced_by(lease.clone()));
    fenced.append(submission(0)).await.unwrap();
    assert_eq!(entries(&store).await, 1);

    // Given another process holds the lease, an append is refused, naming it, and stores nothing.
    hold(&store, &holder("another-host", 7), 60_000).await;
    let refused = fenced.append(submission(1)).await;
    match &refused {
        Err(e @ StoreError::Fenced { holder }) => {
            assert!(holder.contains("pid 7 on another-host"), "{holder}");
            assert!(e.is_unavailable());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(entries(&store).await, 1);
    // Appends that are not fenced (tests, tools) are not refused.
    EventStore::Redis(store.clone())
        .append(submission(2))
        .await
        .unwrap();

    // Given the lease expired and nobody took it (a long outage), the append takes it again.
    let _: () = ::redis::cmd("DEL")
        .arg(store.keys().writer_lease())
        .query_async(&mut store.connection())
        .await
        .unwrap();
    fenced.append(submission(1)).await.unwrap();
    assert_eq!(entries(&store).await, 3);
    assert_eq!(lease_value(&store).await.as_deref(), Some(lease.value()));
    // And a renewal says who holds it once another does.
    assert_eq!(store.renew_lease(&lease).await.unwrap(), Ok(()));
    hold(&store, "someone else", 60_000).await;
    assert_eq!(
        store.renew_lease(&lease).await.unwrap(),
        Err("someone else".to_owned())
    );
}

#[tokio::test]
async fn a_projection_page_is_written_only_while_its_writer_holds_the_lease() {
    let redis = TestRedis::start();
    let store = redis_store(&redis).await;
    let lease = store.take_lease(Duration::from_secs(5)).await.unwrap();
    let fenced = store.clone().fenced_by(lease.clone());
    let mut runner = ProjectionRunner::start(&fenced, KeySpace::default())
        .await
        .unwrap();
    let log = EventStore::Redis(store.clone());
    log.append(submission(0)).await.unwrap();
    let hash_of = |n| KeySpace::default().job(&job(n));
    let exists = |key: String| {
        let mut conn = store.connection();
        async move {
            ::redis::cmd("EXISTS")
                .arg(key)
                .query_async::<bool>(&mut conn)
                .await
                .unwrap()
        }
    };

    // Given another process holds the log, the page is refused and nothing of it is written.
    hold(&store, &holder("another-host", 7), 60_000).await;
    let refused = runner.step().await;
    assert!(
        matches!(&refused, Err(StoreError::Fenced { .. })),
        "{refused:?}"
    );
    assert!(!exists(hash_of(0)).await);
    assert!(!exists(KeySpace::default().checkpoint()).await);

    // Given the lease lapsed and nobody took it, a page (of a runner started again: a refused
    // one stops) takes it again and is written.
    let _: () = ::redis::cmd("DEL")
        .arg(store.keys().writer_lease())
        .query_async(&mut store.connection())
        .await
        .unwrap();
    let mut runner = ProjectionRunner::start(&fenced, KeySpace::default())
        .await
        .unwrap();
    assert_eq!(runner.step().await.unwrap(), 1);
    assert!(exists(hash_of(0)).await);
    assert_eq!(lease_value(&store).await.as_deref(), Some(lease.value()));
}
