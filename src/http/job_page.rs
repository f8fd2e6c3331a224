//! One page of `GET /jobs`: ids from the `jobs:index` sorted set (scored by submission ms, ties
//! ordered by id, as Redis orders them) after a cursor, then their hashes in one pipeline.
//!
//! Invariant: paging never uses `KEYS` or `SCAN`, and a page never repeats or skips a job that
//! was in the index when the previous page was read, even when many jobs share a millisecond or
//! jobs are indexed concurrently (anything at or before the cursor is dropped from a page).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::store::{Connection, KeySpace, StoreError};

/// Jobs per page when the client names no limit.
pub const DEFAULT_LIMIT: usize = 50;
/// Most jobs per page.
pub const MAX_LIMIT: usize = 500;

/// A position in the index: a job's submission time and id, ordered as Redis orders them.
///
/// On the wire it is `<score_ms>:<job_id>`; clients treat it as opaque.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct JobCursor {
    /// Submission time, epoch milliseconds (the sorted-set score).
    pub score_ms: i64,
    /// The job (the member; a UUID's byte order is its text order).
    pub job_id: Uuid,
}

impl fmt::Display for JobCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.score_ms, self.job_id)
    }
}

/// A string that is not `<score_ms>:<job_id>`.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a job cursor")]
pub struct InvalidCursor(pub String);

impl FromStr for JobCursor {
    type Err = InvalidCursor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidCursor(s.to_owned());
        let (score, id) = s.split_once(':').ok_or_else(bad)?;
        Ok(JobCursor {
            score_ms: score.parse().map_err(|_| bad())?,
            job_id: id.parse().map_err(|_| bad())?,
        })
    }
}

/// Up to `limit` index positions after `after`, and where the next page starts (`None`: last).
pub async fn read_page(
    conn: &mut Connection,
    keys: &KeySpace,
    after: Option<JobCursor>,
    limit: usize,
) -> Result<(Vec<JobCursor>, Option<JobCursor>), StoreError> {
    let index = keys.job_index();
    // One more than asked says whether another page follows.
    let want = limit + 1;
    let mut range = redis::cmd("ZRANGE");
    range.arg(&index);
    match after {
        None => {
            range.arg(0).arg(want - 1);
        }
        Some(cursor) => {
            let rank: Option<u64> = redis::cmd("ZRANK")
                .arg(&index)
                .arg(cursor.job_id.to_string())
                .query_async(conn)
                .await?;
            match rank {
                // Jobs indexed before the cursor since ZRANK shift it right; starting at the
                // old rank re-reads them, and the filter below drops them.
                Some(r) => range.arg(r + 1).arg(r + want as u64),
                // The cursor's job is not indexed (a rebuild is under way): go by score alone.
                None => range
                    .arg(format!("({}", cursor.score_ms))
                    .arg("+inf")
                    .arg("BYSCORE")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(want),
            };
        }
    }
    range.arg("WITHSCORES");
    let raw: Vec<(String, i64)> = range.query_async(conn).await?;
    let more = raw.len() >= want;
    let mut page: Vec<JobCursor> = raw
        .into_iter()
        .filter_map(|(member, score_ms)| {
            Some(JobCursor {
                score_ms,
                job_id: member.parse().ok()?,
            })
        })
        .filter(|job| after.is_none_or(|cursor| *job > cursor))
        .collect();
    page.truncate(limit);
    let next = if more {
        page.last().copied().or(after)
    } else {
        None
    };
    Ok((page, next))
}

/// The hashes of `jobs`, in order, in one pipeline; a missing hash reads as an empty map.
pub async fn read_hashes(
    conn: &mut Connection,
    keys: &KeySpace,
    jobs: &[Uuid],
) -> Result<Vec<BTreeMap<String, String>>, StoreError> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for id in jobs {
        pipe.hgetall(keys.job(id));
    }
    Ok(pipe.query_async(conn).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_itself() {
        let c = JobCursor {
            score_ms: 1_678_881_600_000,
            job_id: Uuid::from_u128(7),
        };
        assert_eq!(c.to_string().parse::<JobCursor>().unwrap(), c);
        assert!("x".parse::<JobCursor>().is_err());
        assert!("12:not-a-uuid".parse::<JobCursor>().is_err());
    }

    #[test]
    fn cursors_order_by_time_then_id_as_redis_orders_members() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(0xff << 120));
        assert!(a.to_string() < b.to_string());
        let at = |score_ms, job_id| JobCursor { score_ms, job_id };
        assert!(at(5, a) < at(5, b));
        assert!(at(5, b) < at(6, a));
    }
}
