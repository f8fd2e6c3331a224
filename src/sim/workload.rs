//! Workloads for the simulated day: what is submitted, when, and with which deadline.
//!
//! Two seeded generators, both deterministic for a seed (ChaCha8) and both returning jobs
//! sorted by submission time:
//! * [`generate`]: an AI team's mix (urgent inference, batch inference, evaluation, training)
//!   arriving mostly in office hours;
//! * [`lets_wait_awhile`]: Scenario II of Wiesner et al., "Let's Wait Awhile" (Middleware '21),
//!   ad-hoc ML training jobs with the "next workday" deadline rule.
//!
//! Invariant: every generated deadline is feasible, `deadline >= submit_at + duration_s`.
//! Times are UTC; "office hours" and "workdays" are read in UTC.

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeDelta, Timelike, Utc, Weekday,
};
use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::events::Urgency;
use crate::grid::Trace;

/// One job of a workload: when it arrives and what it asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// When the job is submitted.
    pub submit_at: DateTime<Utc>,
    /// Free-form job type (`inference`, `batch_inference`, `evaluation`, `training`, ...).
    #[serde(rename = "type")]
    pub job_type: String,
    /// How urgently it must run.
    pub urgency: Urgency,
    /// Run time in seconds.
    pub duration_s: u64,
    /// Constant power draw while running, watts.
    pub power_w: f64,
    /// When it must be finished, if the submitter said.
    #[serde(default)]
    pub deadline: Option<DateTime<Utc>>,
}

impl JobSpec {
    /// The run time as a [`TimeDelta`].
    pub fn duration(&self) -> TimeDelta {
        TimeDelta::seconds(i64::try_from(self.duration_s).unwrap_or(i64::MAX / 1000))
    }

    /// When the job would finish if it started on submission.
    pub fn earliest_finish(&self) -> DateTime<Utc> {
        self.submit_at + self.duration()
    }

    /// The last start that still meets the deadline (`deadline − duration`), if there is one.
    pub fn latest_start(&self) -> Option<DateTime<Utc>> {
        self.deadline.map(|d| d - self.duration())
    }

    /// `true` unless the deadline lies before the earliest possible finish.
    pub fn deadline_is_feasible(&self) -> bool {
        self.deadline.is_none_or(|d| d >= self.earliest_finish())
    }

    /// Whether a scheduler may move the job in time: it is not critical and has a deadline.
    pub fn is_shiftable(&self) -> bool {
        self.urgency != Urgency::Critical && self.deadline.is_some()
    }

    /// Energy of one full run at the given power, kWh.
    pub fn energy_kwh(&self) -> f64 {
        self.power_w * self.duration_s as f64 / 3_600_000.0
    }
}

/// Median power of an H100 running inference-like work (ANCHORS.md), watts.
pub const INFERENCE_POWER_W: f64 = 235.0;
/// Power of an H100 running training-like work, about its 700 W limit (ANCHORS.md), watts.
pub const TRAINING_POWER_PER_GPU_W: f64 = 700.0;
/// Power of an evaluation job (between inference and training), watts.
pub const EVALUATION_POWER_W: f64 = 400.0;
/// Constant power of a Scenario II job in the "Let's Wait Awhile" notebook, watts.
pub const LWA_POWER_W: f64 = 2036.6;
/// Number of Scenario II jobs in "Let's Wait Awhile".
pub const LWA_JOBS: usize = 3387;

/// Relative arrival weight of an hour, by whether it is in office hours and on a workday.
fn arrival_weight(t: DateTime<Utc>) -> f64 {
    let office = (8..18).contains(&t.hour());
    match (is_workday(t.date_naive()), office) {
        (true, true) => 1.0,
        (true, false) => 0.12,
        (false, true) => 0.25,
        (false, false) => 0.05,
    }
}

/// Monday to Friday.
fn is_workday(day: NaiveDate) -> bool {
    !matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

/// 09:00 UTC on `day`.
fn nine_am(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc() + TimeDelta::hours(9)
}

/// The first workday strictly after `day` (at most three days later).
fn next_workday(day: NaiveDate) -> NaiveDate {
    day.iter_days()
        .skip(1)
        .take(7)
        .find(|d| is_workday(*d))
        .unwrap_or(day)
}

/// 09:00 on the first workday after the day of `t` (the "next working morning").
fn next_working_morning(t: DateTime<Utc>) -> DateTime<Utc> {
    nine_am(next_workday(t.date_naive()))
}

/// The "next workday" deadline rule of "Let's Wait Awhile" for a job that would finish at
/// `finish` if started on submission.
///
/// A finish between 09:00 and 17:00 (inclusive) on a workday has no slack (the deadline is the
/// finish itself); before 09:00 on a workday it may move to 09:00 that day; after 17:00 on a
/// workday, or on a weekend, it may move to 09:00 on the next workday. (The authors' notebook
/// sends a Friday-evening finish to Saturday 09:00; the rule as stated, "next workday", gives
/// Monday 09:00, which is what this does.)
pub fn next_workday_deadline(finish: DateTime<Utc>) -> DateTime<Utc> {
    let day = finish.date_naive();
    if !is_workday(day) {
        return nine_am(next_workday(day));
    }
    let morning = nine_am(day);
    let evening = morning + TimeDelta::hours(8);
    if finish < morning {
        morning
    } else if finish > evening {
        nine_am(next_workday(day))
    } else {
        finish
    }
}

/// A seeded, realistic day-to-week of AI work: `jobs` submissions over `days` days from `start`,
/// sorted by `submit_at`.
///
/// The mix: about 30% urgent inference (critical, 1–10 min, ~235 W, no deadline), 40% batch
/// inference (flexible, 10 min–2 h, ~235 W, 4–12 h of slack), 20% evaluation (normal,
/// 5–30 min, ~400 W, 1–4 h of slack) and 10% training (flexible, 1–8 h on 1–8 GPUs at
/// 700 W each, deadline 24 h after submission or 09:00 on the next working morning after its
/// earliest finish). Arrivals are weighted by hour: most between 08:00 and 18:00 on workdays,
/// fewer at night and at weekends. Times are whole seconds, power is rounded to 0.1 W.
/// Empty when `days` or `jobs` is 0.
pub fn generate(seed: u64, start: DateTime<Utc>, days: u32, jobs: usize) -> Vec<JobSpec> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let hours: Vec<DateTime<Utc>> = (0..i64::from(days) * 24)
        .map(|h| start + TimeDelta::hours(h))
        .collect();
    let weights: Vec<f64> = hours.iter().map(|&h| arrival_weight(h)).collect();
    let Ok(pick_hour) = WeightedIndex::new(&weights) else {
        return Vec::new();
    };
    let mut out: Vec<JobSpec> = (0..jobs)
        .map(|_| {
            let hour = hours[pick_hour.sample(&mut rng)];
            let submit_at = hour + TimeDelta::seconds(rng.random_range(0..3600));
            draw_job(&mut rng, submit_at)
        })
        .collect();
    out.sort_by_key(|j| j.submit_at);
    out
}

/// Draws the kind, size and deadline of one job submitted at `submit_at`.
fn draw_job(rng: &mut ChaCha8Rng, submit_at: DateTime<Utc>) -> JobSpec {
    let kind: f64 = rng.random();
    let jitter =
        |rng: &mut ChaCha8Rng, w: f64| (w * rng.random_range(0.95..1.05) * 10.0).round() / 10.0;
    if kind < 0.3 {
        JobSpec {
            submit_at,
            job_type: "inference".into(),
            urgency: Urgency::Critical,
            duration_s: rng.random_range(60..=600),
            power_w: jitter(rng, INFERENCE_POWER_W),
            deadline: None,
        }
    } else if kind < 0.7 {
        let duration_s: u64 = rng.random_range(600..=7200);
        let slack_s: i64 = rng.random_range(4 * 3600..=12 * 3600);
        JobSpec {
            submit_at,
            job_type: "batch_inference".into(),
            urgency: Urgency::Flexible,
            duration_s,
            power_w: jitter(rng, INFERENCE_POWER_W),
            deadline: Some(finish_plus(submit_at, duration_s, slack_s)),
        }
    } else if kind < 0.9 {
        let duration_s: u64 = rng.random_range(300..=1800);
        let slack_s: i64 = rng.random_range(3600..=4 * 3600);
        JobSpec {
            submit_at,
            job_type: "evaluation".into(),
            urgency: Urgency::Normal,
            duration_s,
            power_w: jitter(rng, EVALUATION_POWER_W),
            deadline: Some(finish_plus(submit_at, duration_s, slack_s)),
        }
    } else {
        let duration_s: u64 = rng.random_range(60..=480u64) * 60;
        let gpus: u32 = rng.random_range(1..=8);
        let finish = finish_plus(submit_at, duration_s, 0);
        let deadline = if rng.random_bool(0.5) {
            submit_at + TimeDelta::hours(24)
        } else {
            next_working_morning(finish)
        };
        JobSpec {
            submit_at,
            job_type: "training".into(),
            urgency: Urgency::Flexible,
            duration_s,
            power_w: TRAINING_POWER_PER_GPU_W * f64::from(gpus),
            deadline: Some(deadline.max(finish)),
        }
    }
}

/// `submit_at + duration_s + slack_s` seconds.
fn finish_plus(submit_at: DateTime<Utc>, duration_s: u64, slack_s: i64) -> DateTime<Utc> {
    let d = i64::try_from(duration_s).unwrap_or(i64::MAX / 1000);
    submit_at + Duration::seconds(d) + Duration::seconds(slack_s)
}

/// Scenario II of "Let's Wait Awhile" over the days of `trace` (`jobs` defaults to 3,387).
///
/// Each job picks a workday of the trace uniformly and a 30-minute slot from 09:00 to 16:30
/// uniformly; its duration is uniform over 4 h, 4.5 h, ..., 89.5 h; it draws 2,036.6 W; its
/// deadline follows [`next_workday_deadline`]. Jobs submitted before the trace starts or
/// whose deadline lies after its end are dropped, so fewer than `jobs` may come back (the
/// notebook's simulation likewise stops at the end of the year). Type `training`, urgency
/// flexible; sorted by `submit_at`.
pub fn lets_wait_awhile(seed: u64, trace: &Trace, jobs: Option<usize>) -> Vec<JobSpec> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let first = trace.start().date_naive();
    let last = (trace.end() - TimeDelta::nanoseconds(1)).date_naive();
    let workdays: Vec<NaiveDate> = first
        .iter_days()
        .take_while(|d| *d <= last)
        .filter(|d| is_workday(*d))
        .collect();
    if workdays.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<JobSpec> = (0..jobs.unwrap_or(LWA_JOBS))
        .map(|_| {
            let day = workdays[rng.random_range(0..workdays.len())];
            let slot: i64 = rng.random_range(0..16);
            let submit_at = nine_am(day) + TimeDelta::minutes(30 * slot);
            let steps: u64 = rng.random_range(8..180);
            let duration_s = steps * 1800;
            let deadline = next_workday_deadline(finish_plus(submit_at, duration_s, 0));
            JobSpec {
                submit_at,
                job_type: "training".into(),
                urgency: Urgency::Flexible,
                duration_s,
                power_w: LWA_POWER_W,
                deadline: Some(deadline),
            }
        })
        .filter(|j| j.submit_at >= trace.start() && j.deadline.is_some_and(|d| d <= trace.end()))
        .collect();
    out.sort_by_key(|j| j.submit_at);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::Region;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn generate_is_deterministic_for_a_seed_and_every_deadline_is_feasible() {
        // Given a seed and a week
        let start = t("2023-03-13T00:00:00Z");
        // When the workload is generated twice, and once with another seed
        let a = generate(7, start, 7, 2000);
        let b = generate(7, start, 7, 2000);
        let c = generate(8, start, 7, 2000);
        // Then the same seed gives the same jobs, another seed other jobs
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 2000);
        // And the jobs are sorted, inside the period, and every deadline can be met
        assert!(a.windows(2).all(|w| w[0].submit_at <= w[1].submit_at));
        let end = start + TimeDelta::days(7);
        for j in &a {
            assert!(j.submit_at >= start && j.submit_at < end, "{j:?}");
            assert!(j.deadline_is_feasible(), "{j:?}");
            assert!(j.duration_s > 0 && j.power_w > 0.0);
            assert_eq!(j.urgency == Urgency::Critical, j.deadline.is_none());
        }
    }

    #[test]
    fn generate_mixes_job_kinds_in_the_documented_shares() {
        // Given a large workload
        let jobs = generate(1, t("2023-03-13T00:00:00Z"), 7, 10_000);
        // When the kinds are counted
        let share = |ty: &str| jobs.iter().filter(|j| j.job_type == ty).count() as f64 / 10_000.0;
        // Then they are near 30/40/20/10 %
        assert!((share("inference") - 0.3).abs() < 0.02);
        assert!((share("batch_inference") - 0.4).abs() < 0.02);
        assert!((share("evaluation") - 0.2).abs() < 0.02);
        assert!((share("training") - 0.1).abs() < 0.02);
        // And training draws 700 W per GPU, inference about 235 W
        for j in &jobs {
            match j.job_type.as_str() {
                "training" => assert!((j.power_w / 700.0).fract() == 0.0 && j.power_w <= 5600.0),
                "inference" | "batch_inference" => assert!((223.0..=247.0).contains(&j.power_w)),
                _ => {}
            }
        }
    }

    #[test]
    fn most_arrivals_fall_in_office_hours_and_fewer_at_weekends() {
        // Given a week of 20,000 submissions starting on a Monday
        let jobs = generate(3, t("2023-03-13T00:00:00Z"), 7, 20_000);
        // When arrivals are split by hour and day
        let office = jobs
            .iter()
            .filter(|j| (8..18).contains(&j.submit_at.hour()))
            .count();
        let weekend = jobs
            .iter()
            .filter(|j| !is_workday(j.submit_at.date_naive()))
            .count();
        // Then at least three quarters arrive 08:00–18:00, and weekends (2/7 of the time)
        // get far less than 2/7 of the jobs
        assert!(office as f64 / 20_000.0 > 0.75, "office share {office}");
        assert!(
            (weekend as f64 / 20_000.0) < 0.15,
            "weekend share {weekend}"
        );
        assert!(weekend > 0);
    }

    #[test]
    fn next_workday_rule_gives_slack_only_outside_office_hours() {
        // 2020-03-06 is a Friday.
        assert_eq!(
            next_workday_deadline(t("2020-03-05T12:30:00Z")),
            t("2020-03-05T12:30:00Z")
        );
        assert_eq!(
            next_workday_deadline(t("2020-03-05T17:00:00Z")),
            t("2020-03-05T17:00:00Z")
        );
        assert_eq!(
            next_workday_deadline(t("2020-03-05T17:30:00Z")),
            t("2020-03-06T09:00:00Z")
        );
        assert_eq!(
            next_workday_deadline(t("2020-03-05T03:00:00Z")),
            t("2020-03-05T09:00:00Z")
        );
        assert_eq!(
            next_workday_deadline(t("2020-03-06T20:00:00Z")),
            t("2020-03-09T09:00:00Z")
        );
        assert_eq!(
            next_workday_deadline(t("2020-03-07T12:00:00Z")),
            t("2020-03-09T09:00:00Z")
        );
        assert_eq!(
            next_workday_deadline(t("2020-03-08T08:00:00Z")),
            t("2020-03-09T09:00:00Z")
        );
    }

    #[test]
    fn lets_wait_awhile_jobs_follow_scenario_two() {
        // Given the 2020 Germany trace of the paper
        let trace = Region::De2020.trace().unwrap();
        // When the default scenario is generated
        let jobs = lets_wait_awhile(0, trace, None);
        // Then nearly all 3,387 jobs fit in the year (the last days' long jobs may not)
        assert!(
            jobs.len() <= LWA_JOBS && jobs.len() > 3300,
            "{}",
            jobs.len()
        );
        assert_eq!(jobs, lets_wait_awhile(0, trace, None));
        let (mut min_d, mut max_d) = (u64::MAX, 0);
        for j in &jobs {
            // submitted on a workday on a 30-min slot 09:00–16:30
            assert!(is_workday(j.submit_at.date_naive()));
            assert!((9..17).contains(&j.submit_at.hour()));
            assert!(j.submit_at.minute() % 30 == 0 && j.submit_at.second() == 0);
            // durations in 30-min steps over [4 h, 90 h)
            assert_eq!(j.duration_s % 1800, 0);
            assert!(j.duration_s >= 4 * 3600 && j.duration_s < 90 * 3600);
            min_d = min_d.min(j.duration_s);
            max_d = max_d.max(j.duration_s);
            // the "next workday" deadline, inside the trace
            let deadline = j.deadline.unwrap();
            assert_eq!(deadline, next_workday_deadline(j.earliest_finish()));
            assert!(deadline <= trace.end());
            assert_eq!(j.power_w, LWA_POWER_W);
        }
        assert_eq!(min_d, 4 * 3600);
        assert_eq!(max_d, 89 * 3600 + 1800);
        // And some jobs have slack while others have none
        assert!(jobs.iter().any(|j| j.deadline == Some(j.earliest_finish())));
        assert!(jobs.iter().any(|j| j.deadline > Some(j.earliest_finish())));
    }

    #[test]
    fn lets_wait_awhile_takes_a_job_count() {
        let trace = Region::De2020.trace().unwrap();
        let jobs = lets_wait_awhile(5, trace, Some(100));
        assert!(jobs.len() <= 100 && jobs.len() > 90);
    }
}
