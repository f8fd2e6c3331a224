//! One contract, two stores: every test here runs against the in-memory store and against a
//! private Redis.

use std::time::Duration;

use carbonq::events::sample::{history, one_of_each, retired_after};
use carbonq::events::{JobEvent, StreamId};
use carbonq::store::{AppendRequest, Bound, EventStore, StoreError};

use crate::support::{job, memory_store, redis_store, TestRedis};

fn request(n: u64, expected: u64, events: Vec<JobEvent>) -> AppendRequest {
    AppendRequest {
        job_id: job(n),
        expected_version: expected,
        events,
        correlation_id: job(1000 + n),
        causation_id: Some(job(2000 + n)),
        replaces: Vec::new(),
    }
}

fn first(k: usize) -> Vec<JobEvent> {
    one_of_each().into_iter().take(k).collect()
}

async fn appended_events_read_back_in_order_with_their_envelope(store: &EventStore) {
    let written = store.append(request(1, 0, first(3))).await.unwrap();
    assert_eq!(written.len(), 3);
    let read = store
        .read_range(Bound::Open, Bound::Open, 100)
        .await
        .unwrap();
    let read: Vec<_> = read.into_iter().map(|(_, e)| e.unwrap()).collect();
    assert_eq!(read, written);
    assert_eq!(
        read.iter().map(|e| e.meta.job_version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(read.windows(2).all(|w| w[0].stream_id < w[1].stream_id));
    assert_eq!(read[0].meta.correlation_id, job(1001));
    assert_eq!(read[0].meta.causation_id, Some(job(2001)));
    assert_eq!(store.entry_count().await.unwrap(), 3);
    assert_eq!(store.job_version(job(1)).await.unwrap(), 3);
}

async fn a_stale_expected_version_is_a_typed_conflict(store: &EventStore) {
    store.append(request(1, 0, first(1))).await.unwrap();
    let err = store.append(request(1, 0, first(1))).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: 0,
                actual: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(store.entry_count().await.unwrap(), 1);
}

async fn of_two_writers_that_saw_the_same_version_exactly_one_wins(store: &EventStore) {
    store.append(request(1, 0, first(1))).await.unwrap();
    let next = || request(1, 1, vec![one_of_each()[1].clone()]);
    let (a, b) = tokio::join!(store.append(next()), store.append(next()));
    let wins = [a.is_ok(), b.is_ok()].iter().filter(|w| **w).count();
    assert_eq!(wins, 1, "{a:?} {b:?}");
    let loser = if a.is_ok() { b } else { a };
    assert!(matches!(loser, Err(StoreError::Conflict { actual: 2, .. })));
    assert_eq!(store.entry_count().await.unwrap(), 2);
}

async fn a_batch_appends_the_fresh_requests_and_rejects_the_stale_ones(store: &EventStore) {
    store.append(request(2, 0, first(1))).await.unwrap();
    let results = store
        .append_batch(vec![
            request(1, 0, first(2)),
            request(2, 0, first(1)),
            request(3, 0, first(1)),
            // A second request for job 1 in the same batch sees the first one's events.
            request(1, 2, vec![one_of_each()[2].clone()]),
        ])
        .await
        .unwrap();
    assert!(results[0].is_ok());
    assert!(matches!(results[1], Err(StoreError::Conflict { .. })));
    assert!(results[2].is_ok());
    assert_eq!(results[3].as_ref().unwrap()[0].meta.job_version, 3);
    assert_eq!(store.entry_count().await.unwrap(), 1 + 2 + 1 + 1);
}

async fn reading_after_an_id_waits_for_the_next_append(store: &EventStore) {
    let first_ids = store.append(request(1, 0, first(1))).await.unwrap();
    let after = first_ids[0].stream_id;
    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .read_after(after, 10, Some(Duration::from_secs(10)))
                .await
        })
    };
    let second = store
        .append(request(1, 1, vec![one_of_each()[1].clone()]))
        .await
        .unwrap();
    let got = reader.await.unwrap().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, second[0].stream_id);
    let none = store
        .read_after(second[0].stream_id, 10, Some(Duration::from_millis(50)))
        .await
        .unwrap();
    assert!(none.is_empty());
}

async fn a_jobs_history_holds_only_its_own_events_in_order(store: &EventStore) {
    store.append(request(1, 0, first(1))).await.unwrap();
    store.append(request(2, 0, first(2))).await.unwrap();
    store
        .append(request(1, 1, vec![one_of_each()[1].clone()]))
        .await
        .unwrap();
    let h = store.job_history(job(1)).await.unwrap();
    let versions: Vec<u64> = h
        .iter()
        .map(|(_, e)| e.as_ref().unwrap().meta.job_version)
        .collect();
    assert_eq!(versions, vec![1, 2]);
    assert!(h
        .iter()
        .all(|(_, e)| e.as_ref().unwrap().meta.job_id == job(1)));
    assert!(store.job_history(job(9)).await.unwrap().is_empty());
}

async fn range_reads_respect_their_bounds_and_count(store: &EventStore) {
    let written = store.append(request(1, 0, first(6))).await.unwrap();
    let ids: Vec<StreamId> = written.iter().map(|e| e.stream_id).collect();
    let mid = store
        .read_range(Bound::Id(ids[1]), Bound::Id(ids[3]), 100)
        .await
        .unwrap();
    assert_eq!(
        mid.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        ids[1..=3]
    );
    let two = store.read_range(Bound::Open, Bound::Open, 2).await.unwrap();
    assert_eq!(two.len(), 2);
    let mut pages = Vec::new();
    store
        .scan(Bound::Open, Bound::Open, 4, |page| pages.push(page.len()))
        .await
        .unwrap();
    assert_eq!(pages, vec![4, 2]);
}

/// A job's summary replaces its earlier entries in one step: they are gone from every read,
/// the summary is all that is left of it, its version starts again from nothing, and other
/// jobs are untouched.
async fn a_retired_jobs_summary_replaces_its_entries(store: &EventStore) {
    let history = history(1);
    let n = history.len() as u64;
    store.append(request(1, 0, history.clone())).await.unwrap();
    store.append(request(2, 0, first(2))).await.unwrap();
    let summary = retired_after(&history);
    let kept = store
        .append(request(1, n, vec![summary.clone()]))
        .await
        .unwrap();
    assert_eq!(kept[0].meta.job_version, n + 1);
    let read: Vec<_> = store
        .read_range(Bound::Open, Bound::Open, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, e)| e.unwrap())
        .collect();
    let of_1: Vec<_> = read.iter().filter(|e| e.meta.job_id == job(1)).collect();
    assert_eq!(of_1.len(), 1);
    assert_eq!(of_1[0].event, summary);
    assert_eq!(read.len(), 3, "job 2's two entries and the summary");
    assert_eq!(store.entry_count().await.unwrap(), 3);
    assert!(store.job_history(job(1)).await.unwrap().is_empty());
    assert_eq!(store.job_version(job(1)).await.unwrap(), 0);
    assert_eq!(store.job_version(job(2)).await.unwrap(), 2);
    let after: Vec<_> = store.read_after(StreamId::ZERO, 100, None).await.unwrap();
    assert_eq!(after.len(), 3);
}

/// An append that names entries it replaces deletes them in the same step, and leaves its job
/// (the nil job of a `RetiredJobsSummed`) no index and no version.
async fn an_append_deletes_the_entries_it_replaces(store: &EventStore) {
    let a = store.append(request(1, 0, first(1))).await.unwrap();
    let b = store.append(request(2, 0, first(1))).await.unwrap();
    let c = store.append(request(3, 0, first(1))).await.unwrap();
    let sum = one_of_each()
        .into_iter()
        .find(|e| e.type_name() == "RetiredJobsSummed")
        .unwrap();
    let mut summing = request(0, 0, vec![sum.clone()]);
    summing.job_id = uuid::Uuid::nil();
    summing.replaces = vec![a[0].stream_id, c[0].stream_id];
    store.append(summing).await.unwrap();
    let read: Vec<_> = store
        .read_range(Bound::Open, Bound::Open, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(read.len(), 2);
    assert_eq!(read[0], b[0].stream_id);
    assert_eq!(store.job_version(uuid::Uuid::nil()).await.unwrap(), 0);
    assert!(store
        .job_history(uuid::Uuid::nil())
        .await
        .unwrap()
        .is_empty());
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(&super::memory_store()).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $name() {
                    let server = super::TestRedis::start();
                    let store = super::EventStore::Redis(super::redis_store(&server).await);
                    super::$name(&store).await;
                }
            )*
        }
    };
}

contract!(
    appended_events_read_back_in_order_with_their_envelope,
    a_stale_expected_version_is_a_typed_conflict,
    of_two_writers_that_saw_the_same_version_exactly_one_wins,
    a_batch_appends_the_fresh_requests_and_rejects_the_stale_ones,
    reading_after_an_id_waits_for_the_next_append,
    a_jobs_history_holds_only_its_own_events_in_order,
    range_reads_respect_their_bounds_and_count,
    a_retired_jobs_summary_replaces_its_entries,
    an_append_deletes_the_entries_it_replaces,
);

/// Two stores with their own connections (as two processes would have) race on the same jobs:
/// exactly one append per job version gets through, and each job's index names its entries in
/// order, one per version.
#[tokio::test]
async fn two_redis_writers_racing_on_the_same_jobs_never_both_win_a_version() {
    let server = TestRedis::start();
    let a = EventStore::Redis(redis_store(&server).await);
    let b = EventStore::Redis(redis_store(&server).await);
    let event = || vec![one_of_each()[1].clone()];
    for version in 0..40u64 {
        let batch = |store: &EventStore| {
            let store = store.clone();
            let requests: Vec<_> = (1..=5).map(|n| request(n, version, event())).collect();
            async move { store.append_batch(requests).await.unwrap() }
        };
        let (ra, rb) = tokio::join!(batch(&a), batch(&b));
        for (x, y) in ra.iter().zip(&rb) {
            assert!(x.is_ok() != y.is_ok(), "version {version}: {x:?} / {y:?}");
        }
    }
    assert_eq!(a.entry_count().await.unwrap(), 200);
    for n in 1..=5 {
        let history = b.job_history(job(n)).await.unwrap();
        assert_eq!(history.len(), 40);
        let versions: Vec<u64> = history
            .iter()
            .map(|(_, e)| e.as_ref().unwrap().meta.job_version)
            .collect();
        assert_eq!(versions, (1..=40).collect::<Vec<_>>());
    }
}

/// A Redis that lost data (here: `FLUSHALL`, as a restart with nothing on disk leaves it) is
/// noticed: an append is refused whole, and the floor check says where the log ends now.
#[tokio::test]
async fn an_append_to_a_log_that_went_back_in_time_is_refused_and_appends_nothing() {
    let server = TestRedis::start();
    let store = redis_store(&server).await;
    let log = EventStore::Redis(store.clone());
    let written = log.append(request(1, 0, first(2))).await.unwrap();
    assert_eq!(store.floor(), Some(written[1].stream_id));
    store.check_floor().await.unwrap();

    let mut conn = store.connection();
    let _: () = ::redis::cmd("FLUSHALL")
        .query_async(&mut conn)
        .await
        .unwrap();
    let refused = log.append(request(2, 0, first(1))).await.unwrap_err();
    assert!(
        matches!(&refused, StoreError::Rewound { found, .. } if found == "none"),
        "{refused:?}"
    );
    assert!(refused.is_unavailable());
    let all = log.read_range(Bound::Open, Bound::Open, 10).await.unwrap();
    assert!(all.is_empty(), "appended to the emptied log: {all:?}");
    assert!(matches!(
        store.check_floor().await,
        Err(StoreError::Rewound { .. })
    ));
    assert!(matches!(
        store.rewound_log().await,
        StoreError::Rewound { .. }
    ));
}
