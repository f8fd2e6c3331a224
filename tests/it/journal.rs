//! The journal's group commit against a private Redis, where a commit is still in flight when
//! the next one is prepared.

use std::time::Duration;

use carbonq::actors::journal::{Appended, Journal, JournalError};
use carbonq::events::sample::one_of_each;
use carbonq::events::JobEvent;
use carbonq::projections::ReadModel;
use carbonq::store::{AppendRequest, EventStore, StoreError};
use futures::future::join_all;
use tokio::task::JoinHandle;

use crate::support::{job, redis_store, set_maxmemory, TestRedis};

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
    let waiting = still_waiting_to_append(&journal, 1).await;
    redis.start_again();
    let stored = waiting
        .await
        .expect("task")
        .expect("stored once Redis is back");
    assert_eq!(stored.len(), 1);
    assert_eq!(store.job_version(job(1)).await.unwrap(), 1);
}

/// Starts a patient append of job `n`'s submission and checks that it is still waiting 300 ms
/// later, by when a plain append has given up; returns it, to be awaited once Redis can write.
async fn still_waiting_to_append(journal: &Journal, n: u64) -> JoinHandle<Appended> {
    let submitted = one_of_each().swap_remove(0);
    let waiting = tokio::spawn({
        let journal = journal.clone();
        async move {
            journal
                .append_patiently(job(n), vec![submitted], job(n))
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "{:?}", waiting.await);
    waiting
}

/// A full Redis (at `maxmemory`, evicting nothing) refuses writes until it is given room: a
/// plain append fails as unavailable with nothing stored, and a patient one waits and is stored
/// once there is room.
#[tokio::test]
async fn a_full_redis_is_waited_for_as_an_unreachable_one_is() {
    let redis = TestRedis::start();
    let redis_store = redis_store(&redis).await;
    let store = EventStore::Redis(redis_store.clone());
    let journal = Journal::start(store.clone(), ReadModel::default());
    set_maxmemory(&redis_store, 1).await;
    let submitted = one_of_each().swap_remove(0);
    let refused = journal.append(job(1), vec![submitted], job(1)).await;
    assert!(
        matches!(refused, Err(JournalError::Unavailable(_))),
        "{refused:?}"
    );
    let waiting = still_waiting_to_append(&journal, 2).await;
    set_maxmemory(&redis_store, 0).await;
    let stored = waiting
        .await
        .expect("task")
        .expect("stored once there is room");
    assert_eq!(stored.len(), 1);
    assert_eq!(store.job_version(job(1)).await.unwrap(), 0);
    assert_eq!(store.job_version(job(2)).await.unwrap(), 1);
}

/// Writes `event` for job `n` straight into the store, behind the journal's back.
async fn behind_the_back(store: &EventStore, n: u64, event: JobEvent) {
    let request = AppendRequest {
        job_id: job(n),
        expected_version: 0,
        events: vec![event],
        correlation_id: job(n),
        causation_id: None,
        replaces: Vec::new(),
    };
    store.append(request).await.expect("stored");
}

/// Redis may store a commit and go away before answering: the patient append's next attempt
/// then conflicts with its own events. It adopts them (into the model and as its answer), so
/// nothing is appended twice and the caller goes on; other events at that place stay a conflict.
#[tokio::test]
async fn a_patient_append_adopts_its_own_events_stored_before_an_outage() {
    let redis = TestRedis::start();
    let store = EventStore::Redis(redis_store(&redis).await);
    let journal = Journal::start(store.clone(), ReadModel::default());
    let submitted = one_of_each().swap_remove(0);
    behind_the_back(&store, 1, submitted.clone()).await;

    let adopted = journal
        .append_patiently(job(1), vec![submitted.clone()], job(1))
        .await
        .expect("adopted");
    assert_eq!(adopted.len(), 1);
    assert_eq!(adopted[0].event, submitted);
    assert_eq!(store.job_version(job(1)).await.unwrap(), 1);
    let version = journal.model().job(&job(1)).map(|v| v.lifecycle.version);
    assert_eq!(version, Some(1));

    let JobEvent::Submitted(mut other) = submitted.clone() else {
        unreachable!("the first sample event is a submission")
    };
    other.job_type = "another".into();
    behind_the_back(&store, 2, JobEvent::Submitted(other)).await;
    let refused = journal
        .append_patiently(job(2), vec![submitted], job(2))
        .await;
    assert!(
        matches!(
            refused,
            Err(JournalError::Store(StoreError::Conflict { .. }))
        ),
        "{refused:?}"
    );
    assert_eq!(store.job_version(job(2)).await.unwrap(), 1);
}
