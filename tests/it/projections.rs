//! The projection runner against a private Redis: pages with checkpoints, restarts, bad entries.

use std::time::Duration;

use carbonq::events::sample::one_of_each;
use carbonq::events::StreamId;
use carbonq::projections::redis_writer::{diff, write_all, write_page, Page};
use carbonq::projections::runner::{fold_log, ProjectionRunner};
use carbonq::projections::{queries, ReadModel, Status};
use carbonq::store::{AppendRequest, Bound, EventStore};

use crate::support::{
    append_sample_log, job, redis_store, redis_store_at, AnswerCutter, TestRedis,
};

#[tokio::test]
async fn a_projector_killed_between_pages_and_restarted_equals_a_rebuild_from_zero() {
    let server = TestRedis::start();
    let store = redis_store(&server).await;
    let log = EventStore::Redis(store.clone());
    let events = append_sample_log(&log, 300).await;
    let keys = store.keys().clone();

    // Given a runner that projects five pages and is then killed (dropped mid-run) ...
    let mut first = ProjectionRunner::start(&store, keys.clone())
        .await
        .unwrap()
        .with_page_size(97);
    for _ in 0..5 {
        assert_eq!(first.step().await.unwrap(), 97);
    }
    let checkpoint_at_kill = first.model().checkpoint;
    drop(first);

    // ... when a new runner starts from the stored checkpoint and catches up ...
    let mut second = ProjectionRunner::start(&store, keys.clone())
        .await
        .unwrap()
        .with_page_size(97);
    assert_eq!(second.model().checkpoint, checkpoint_at_kill);
    let rest = second.catch_up().await.unwrap();
    assert_eq!(rest, events - 5 * 97);

    // ... then the live read models equal a rebuild from zero, key by key.
    let (model, anomalies) = fold_log(&log, Bound::Open, Bound::Open, None, |_| {})
        .await
        .unwrap();
    assert!(anomalies.is_empty(), "{anomalies:?}");
    let scratch = keys.scratch("rebuild");
    let mut conn = store.connection();
    write_all(&mut conn, &scratch, &model).await.unwrap();
    let jobs: Vec<_> = model.jobs.keys().copied().collect();
    let differences = diff(&mut conn, &keys, &scratch, &jobs).await.unwrap();
    assert!(differences.is_empty(), "{differences:#?}");

    let stats = queries::stats(&mut conn, &keys).await.unwrap();
    assert_eq!(stats.jobs.total_jobs, 300);
    let done = model
        .jobs
        .values()
        .filter(|j| j.status == Status::Done)
        .count() as u64;
    assert_eq!(stats.jobs.counts_by_status["DONE"], done);
}

#[tokio::test]
async fn a_rebuild_diff_names_a_hand_edited_field() {
    let server = TestRedis::start();
    let store = redis_store(&server).await;
    let log = EventStore::Redis(store.clone());
    append_sample_log(&log, 20).await;
    let keys = store.keys().clone();
    let mut runner = ProjectionRunner::start(&store, keys.clone()).await.unwrap();
    runner.catch_up().await.unwrap();
    let mut conn = store.connection();
    redis::cmd("HSET")
        .arg(keys.job(&job(3)))
        .arg("emissions_kg")
        .arg("0")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    let model = runner.model();
    let scratch = keys.scratch("rebuild");
    write_all(&mut conn, &scratch, model).await.unwrap();
    let jobs: Vec<_> = model.jobs.keys().copied().collect();
    let differences = diff(&mut conn, &keys, &scratch, &jobs).await.unwrap();
    assert_eq!(differences.len(), 1, "{differences:#?}");
    assert_eq!(differences[0].key, keys.job(&job(3)));
    assert_eq!(differences[0].field, "emissions_kg");
    assert_eq!(differences[0].live.as_deref(), Some("0"));
}

#[tokio::test]
async fn a_corrupted_entry_is_reported_with_its_id_and_skipped() {
    let server = TestRedis::start();
    let store = redis_store(&server).await;
    let log = EventStore::Redis(store.clone());
    append_sample_log(&log, 5).await;
    let mut conn = store.connection();
    let bad: String = redis::cmd("XADD")
        .arg(store.keys().streams())
        .arg("*")
        .arg(&[
            "type",
            "JobStarted",
            "v",
            "1",
            "job",
            "not-a-uuid",
            "data",
            "\u{1}",
        ])
        .query_async(&mut conn)
        .await
        .unwrap();
    append_sample_log(&log, 0).await;

    let (model, anomalies) = fold_log(&log, Bound::Open, Bound::Open, None, |_| {})
        .await
        .unwrap();
    assert_eq!(anomalies.len(), 1);
    assert_eq!(anomalies[0].stream_id, bad.parse::<StreamId>().unwrap());
    assert!(
        anomalies[0].problem.contains("undecodable"),
        "{anomalies:?}"
    );
    assert_eq!(model.jobs.len(), 5);

    // The runner steps over it too.
    let mut runner = ProjectionRunner::start(&store, store.keys().clone())
        .await
        .unwrap();
    runner.catch_up().await.unwrap();
    assert_eq!(runner.model().checkpoint, bad.parse::<StreamId>().unwrap());
}

/// A page Redis applied but could not answer (it went away between the `EXEC` and its reply) is
/// sent again by the writer: the second time must change nothing. A queue push applied twice
/// left a job in `queue:*` for good (found with Redis killed under load, `appendfsync always`).
#[tokio::test]
async fn a_page_sent_again_after_its_answer_was_lost_is_applied_once() {
    let server = TestRedis::start();
    let cutter = AnswerCutter::start(server.socket());
    let store = redis_store_at(&cutter.url()).await;
    let log = EventStore::Redis(store.clone());
    let events: Vec<_> = one_of_each().into_iter().take(4).collect(); // submitted .. scheduled
    let recorded = log
        .append(AppendRequest {
            job_id: job(1),
            expected_version: 0,
            events,
            correlation_id: job(1),
            causation_id: None,
            replaces: Vec::new(),
        })
        .await
        .unwrap();
    let mut model = ReadModel::default();
    let mut effects = Vec::new();
    for r in recorded {
        model.apply_entry(r.stream_id, Ok(r), &mut effects).unwrap();
    }
    let page = Page::gather(&model, &effects);
    let lease = store.take_lease(Duration::from_secs(10)).await.unwrap();
    let keys = store.keys().clone();

    // The first write is applied; its answer is lost as Redis goes away (cut here), so the
    // writer cannot tell and sends the page again once Redis answers.
    let mut conn = store.dedicated_connection().await.unwrap();
    write_page(&mut conn, &keys, &page, 1, Some(&lease))
        .await
        .unwrap();
    cutter.cut_answers(true);
    let cut = write_page(&mut conn, &keys, &page, 1, Some(&lease)).await;
    assert!(cut.is_err_and(|e| e.is_unavailable()));
    cutter.cut_answers(false);
    let mut conn = store.dedicated_connection().await.unwrap();
    write_page(&mut conn, &keys, &page, 1, Some(&lease))
        .await
        .unwrap();

    let scratch = keys.scratch("rebuild");
    write_all(&mut conn, &scratch, &model).await.unwrap();
    let differences = diff(&mut conn, &keys, &scratch, &[job(1)]).await.unwrap();
    assert!(differences.is_empty(), "{differences:#?}");
}
