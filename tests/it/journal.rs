//! The journal's group commit against a private Redis, where a commit is still in flight when
//! the next one is prepared.

use std::time::Duration;

use carbonq::actors::journal::Journal;
use carbonq::events::sample::one_of_each;
use carbonq::events::JobEvent;
use carbonq::projections::ReadModel;
use carbonq::store::EventStore;
use futures::future::join_all;

use crate::support::{job, redis_store, TestRedis};

/// Each job's submission and its deferral come from two callers, one right behind the other.
/// One caller goes first, so that every commit of 128 callers ends between a job's two:
/// the deferral is checked while its submission is still on its way to Redis, and must be
/// checked against the state that submission leaves.
#[tokio::test]
async fn a_job_s_next_event_is_checked_against_the_commit_still_in_flight() {
    let redis = TestRedis::start();
    let store = EventStore::Redis(redis_store(&redis).await);
    let journal = Journal::start(store.clone(), ReadModel::default());
    let events = one_of_each();
    let (submitted, deferred) = (events[0].clone(), events[1].clone());
    assert!(matches!(deferred, JobEvent::Deferred(_)));
    // Within the journal's queue (512 callers), so every caller is queued on its first poll.
    const JOBS: u64 = 255;
    let lone = journal.append(job(JOBS), vec![submitted.clone()], job(JOBS));
    let pairs = (0..JOBS).flat_map(|n| {
        [
            journal.append(job(n), vec![submitted.clone()], job(n)),
            journal.append(job(n), vec![deferred.clone()], job(n)),
        ]
    });
    // Unconstrained: tokio's cooperative budget would otherwise stall the sends after 128 and
    // let them go later in any order.
    let mut callers: Vec<_> = std::iter::once(lone)
        .chain(pairs)
        .map(|caller| Box::pin(tokio::task::unconstrained(caller)))
        .collect();
    // One poll each, in order, queues the callers at the journal in that order.
    for caller in &mut callers {
        assert!(futures::poll!(caller.as_mut()).is_pending());
    }
    let results = join_all(callers).await;
    for (i, result) in results.iter().enumerate() {
        assert!(result.is_ok(), "caller {i}: {result:?}");
    }
    for n in 0..JOBS {
        assert_eq!(store.job_version(job(n)).await.unwrap(), 2, "job {n}");
        let model = journal.model();
        assert_eq!(model.job(&job(n)).map(|v| v.lifecycle.version), Some(2));
    }
}

/// An actor that has taken a job off a queue appends patiently: while Redis is down the append
/// waits and tries again, and it is stored once Redis is back.
#[tokio::test]
async fn a_patient_append_waits_for_redis_to_come_back() {
    let mut redis = TestRedis::start_durable();
    let store = EventStore::Redis(redis_store(&redis).await);
    let journal = Journal::start(store.clone(), ReadModel::default());
    redis.stop();
    let submitted = one_of_each().swap_remove(0);
    let waiting = tokio::spawn({
        let journal = journal.clone();
        async move {
            journal
                .append_patiently(job(1), vec![submitted], job(1))
                .await
        }
    });
    // Time to meet the outage: a plain append has given up by now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "{:?}", waiting.await);
    redis.start_again();
    let stored = waiting
        .await
        .expect("task")
        .expect("stored once Redis is back");
    assert_eq!(stored.len(), 1);
    assert_eq!(store.job_version(job(1)).await.unwrap(), 1);
}
