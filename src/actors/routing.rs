//! Pure routing rules: where a job goes now, how long a deferred job may be held, and where it
//! goes when let go. No I/O, no clock: the scheduler actor passes `now` and the intensity in.

use chrono::{DateTime, TimeDelta, Utc};

use crate::events::{Decision, ForecastWindow, JobSubmitted, Pool, ReleaseReason, Urgency};
use crate::policy::{Policy, PolicyInput, RouteDecision, RouteMode, GUARDRAIL_DEADLINE};

/// What to do with a job now.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// Queue it on a pool.
    Run {
        /// The pool.
        pool: Pool,
        /// Why.
        decision: Decision,
    },
    /// Hold it.
    Defer {
        /// Why.
        decision: Decision,
        /// Released no later than this.
        defer_deadline: DateTime<Utc>,
        /// The planner's chosen start, if any.
        planned_release: Option<DateTime<Utc>>,
        /// Why it will be released at `defer_deadline` (if nothing greener comes first).
        release_reason: ReleaseReason,
    },
}

/// The latest start that still meets the deadline, when both deadline and duration are known.
pub fn latest_start(job: &JobSubmitted) -> Option<DateTime<Utc>> {
    let (deadline, duration) = (job.deadline?, job.duration_s?);
    // Intake bounds the duration; a log written before it did may hold any u64, which saturates
    // to the earliest time there is (the job is overdue) instead of overflowing.
    let duration = i64::try_from(duration)
        .ok()
        .and_then(TimeDelta::try_seconds)
        .unwrap_or(TimeDelta::MAX);
    Some(
        deadline
            .checked_sub_signed(duration)
            .unwrap_or(DateTime::<Utc>::MIN_UTC),
    )
}

/// The longest margin kept before a latest start for queueing.
const MAX_QUEUE_MARGIN: TimeDelta = TimeDelta::minutes(15);

/// The latest start the scheduler plans with: the true latest start less a margin for queueing
/// behind other jobs released at the same time (half the slack, at most 15 minutes).
pub fn guarded_latest_start(job: &JobSubmitted, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let latest = latest_start(job)?;
    if latest <= now {
        return Some(latest);
    }
    let margin = ((latest - now) / 2).min(MAX_QUEUE_MARGIN);
    Some(latest - margin)
}

/// A job's place in a queue: when it should start, and whether its deadline says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartBy {
    /// Its latest start, or for a job without a deadline the time it was queued.
    pub at: DateTime<Utc>,
    /// `at` is a latest start that a deadline sets: past it, the deadline is missed.
    pub hard: bool,
}

impl StartBy {
    /// A job without a deadline, queued at `at`.
    pub fn soft(at: DateTime<Utc>) -> Self {
        Self { at, hard: false }
    }
}

/// When a job must start at the latest (its queue priority), or `otherwise` without a deadline.
pub fn due_time(job: &JobSubmitted, otherwise: DateTime<Utc>) -> StartBy {
    match latest_start(job) {
        Some(at) => StartBy { at, hard: true },
        None => StartBy::soft(otherwise),
    }
}

/// How close to its latest start a queued job with a deadline becomes urgent: any idle worker,
/// of either pool, takes it before the other jobs (the deadline guardrail for queued jobs).
pub const URGENT_WITHIN: TimeDelta = MAX_QUEUE_MARGIN;

/// When a held job is let go, and why: its planned slot if that comes first, else its deferral
/// deadline for `at_deadline`.
pub fn release_of(
    planned_release: Option<DateTime<Utc>>,
    defer_deadline: DateTime<Utc>,
    at_deadline: ReleaseReason,
) -> (DateTime<Utc>, ReleaseReason) {
    match planned_release {
        Some(t) if t < defer_deadline => (t, ReleaseReason::PlannedSlot),
        _ => (defer_deadline, at_deadline),
    }
}

/// Why a held job read back from the log goes at its deferral deadline: a deadline within the
/// queueing margin of the job's latest start was set by the deadline guardrail (the log does
/// not say; this errs towards FAST, which keeps the deadline).
pub fn deadline_reason(job: &JobSubmitted, defer_deadline: DateTime<Utc>) -> ReleaseReason {
    match latest_start(job) {
        Some(latest)
            if latest
                .checked_sub_signed(MAX_QUEUE_MARGIN)
                .is_none_or(|edge| defer_deadline >= edge) =>
        {
            ReleaseReason::DeadlineGuardrail
        }
        _ => ReleaseReason::MaxDeferral,
    }
}

fn pool_of(mode: RouteMode) -> Pool {
    match mode {
        RouteMode::Fast => Pool::Fast,
        RouteMode::Eco | RouteMode::Defer => Pool::Eco,
    }
}

fn decision(d: RouteDecision, intensity: f64, window: Option<ForecastWindow>) -> Decision {
    Decision {
        carbon_intensity: intensity,
        policy_rule_id: d.policy_rule_id,
        reason: d.reason,
        forecast_window: window,
    }
}

fn input<'a>(job: &'a JobSubmitted, intensity: f64) -> Option<PolicyInput<'a>> {
    PolicyInput::new(intensity, job.urgency.as_str(), &job.job_type).ok()
}

/// Routes a job by the policy's rules and guardrails at `now` with intensity `intensity`.
/// A job the rules would defer is held until the policy's maximum deferral or its latest start,
/// whichever comes first; a job whose deadline leaves no slack runs at once on FAST.
pub fn route(policy: &Policy, job: &JobSubmitted, now: DateTime<Utc>, intensity: f64) -> Route {
    let Some(inp) = input(job, intensity) else {
        return Route::Run {
            pool: Pool::Eco,
            decision: Decision {
                carbon_intensity: intensity,
                policy_rule_id: "INVALID_INPUT_ECO".into(),
                reason: "the intensity is not a number; run on ECO".into(),
                forecast_window: None,
            },
        };
    };
    let d = policy.decide(&inp);
    if d.mode != RouteMode::Defer {
        return Route::Run {
            pool: pool_of(d.mode),
            decision: decision(d, intensity, None),
        };
    }
    let max = now + TimeDelta::seconds(policy.max_deferral_seconds() as i64);
    match guarded_latest_start(job, now) {
        Some(latest) if latest <= now => Route::Run {
            pool: Pool::Fast,
            decision: Decision {
                carbon_intensity: intensity,
                policy_rule_id: GUARDRAIL_DEADLINE.into(),
                reason: format!(
                    "{} would defer it, but its deadline leaves no slack: run now on FAST",
                    d.policy_rule_id
                ),
                forecast_window: None,
            },
        },
        Some(latest) if latest < max => Route::Defer {
            decision: decision(d, intensity, None),
            defer_deadline: latest,
            planned_release: None,
            release_reason: ReleaseReason::DeadlineGuardrail,
        },
        _ => Route::Defer {
            decision: decision(d, intensity, None),
            defer_deadline: max,
            planned_release: None,
            release_reason: ReleaseReason::MaxDeferral,
        },
    }
}

/// Where a released job goes: by the rules for a green window or a planned slot (a rule that
/// would defer again sends it to ECO), FAST at its latest start, ECO after the maximum deferral.
pub fn release_route(
    policy: &Policy,
    job: &JobSubmitted,
    reason: ReleaseReason,
    deferred_for: TimeDelta,
    intensity: f64,
) -> (Pool, Decision) {
    let held = deferred_for.to_std().unwrap_or_default();
    match reason {
        ReleaseReason::DeadlineGuardrail => (
            Pool::Fast,
            decision(RouteDecision::deadline_release(held), intensity, None),
        ),
        ReleaseReason::MaxDeferral => (
            Pool::Eco,
            decision(
                RouteDecision::max_deferral_release(held, policy.max_deferral()),
                intensity,
                None,
            ),
        ),
        ReleaseReason::GreenWindow | ReleaseReason::PlannedSlot => {
            match input(job, intensity).map(|i| policy.decide(&i)) {
                Some(d) => (pool_of(d.mode), decision(d, intensity, None)),
                None => (
                    Pool::Eco,
                    Decision {
                        carbon_intensity: intensity,
                        policy_rule_id: "INVALID_INPUT_ECO".into(),
                        reason: "the intensity is not a number; run on ECO".into(),
                        forecast_window: None,
                    },
                ),
            }
        }
    }
}

/// Whether a job may ever be held (the seed never defers critical jobs; the policy's guardrail
/// enforces it too).
pub fn deferrable(job: &JobSubmitted) -> bool {
    job.urgency != Urgency::Critical
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::sample::one_of_each;
    use crate::events::JobEvent;
    use crate::policy::GUARDRAIL_MAX_DEFERRAL;
    use chrono::TimeZone;

    fn seed() -> Policy {
        Policy::from_path(concat!(env!("CARGO_MANIFEST_DIR"), "/config/policy.yaml")).unwrap()
    }

    fn job(deadline_in: Option<i64>, duration: Option<u64>) -> (JobSubmitted, DateTime<Utc>) {
        let JobEvent::Submitted(mut j) = one_of_each().remove(0) else {
            unreachable!()
        };
        let now = Utc.with_ymd_and_hms(2023, 3, 15, 12, 0, 0).unwrap();
        j.deadline = deadline_in.map(|s| now + TimeDelta::seconds(s));
        j.duration_s = duration;
        (j, now)
    }

    #[test]
    fn a_flexible_job_at_medium_intensity_is_held_for_the_max_deferral() {
        let (j, now) = job(None, None);
        let Route::Defer {
            defer_deadline,
            release_reason,
            ..
        } = route(&seed(), &j, now, 300.0)
        else {
            panic!("not deferred")
        };
        assert_eq!(defer_deadline, now + TimeDelta::seconds(600));
        assert_eq!(release_reason, ReleaseReason::MaxDeferral);
    }

    #[test]
    fn a_deferred_job_is_released_by_its_latest_start_when_that_comes_first() {
        let (j, now) = job(Some(400), Some(100));
        let Route::Defer {
            defer_deadline,
            release_reason,
            ..
        } = route(&seed(), &j, now, 300.0)
        else {
            panic!("not deferred")
        };
        // Latest start is now + 300 s; half the slack is kept as a margin for queueing.
        assert_eq!(defer_deadline, now + TimeDelta::seconds(150));
        assert_eq!(release_reason, ReleaseReason::DeadlineGuardrail);
    }

    #[test]
    fn a_job_whose_deadline_leaves_no_slack_runs_at_once_on_fast() {
        let (j, now) = job(Some(100), Some(100));
        let Route::Run { pool, decision } = route(&seed(), &j, now, 300.0) else {
            panic!("deferred")
        };
        assert_eq!(pool, Pool::Fast);
        assert_eq!(decision.policy_rule_id, GUARDRAIL_DEADLINE);
    }

    #[test]
    fn low_and_high_intensity_route_by_the_seed_rules() {
        let (j, now) = job(None, None);
        let Route::Run { pool, decision } = route(&seed(), &j, now, 150.0) else {
            panic!()
        };
        assert_eq!(
            (pool, decision.policy_rule_id.as_str()),
            (Pool::Fast, "LOW_CARBON_FAST")
        );
        let Route::Run { pool, decision } = route(&seed(), &j, now, 450.0) else {
            panic!()
        };
        assert_eq!(
            (pool, decision.policy_rule_id.as_str()),
            (Pool::Eco, "HIGH_CARBON_ECO")
        );
    }

    #[test]
    fn a_held_job_read_back_from_the_log_keeps_its_deadline_guardrail() {
        let (j, now) = job(Some(400), Some(100));
        let Route::Defer {
            defer_deadline,
            release_reason,
            ..
        } = route(&seed(), &j, now, 300.0)
        else {
            panic!("not deferred")
        };
        assert_eq!(deadline_reason(&j, defer_deadline), release_reason);
        let (far, now) = job(Some(86_400), Some(100));
        let Route::Defer {
            defer_deadline,
            release_reason,
            ..
        } = route(&seed(), &far, now, 300.0)
        else {
            panic!("not deferred")
        };
        assert_eq!(release_reason, ReleaseReason::MaxDeferral);
        assert_eq!(deadline_reason(&far, defer_deadline), release_reason);
        let planned = Some(defer_deadline - TimeDelta::seconds(1));
        assert_eq!(
            release_of(planned, defer_deadline, ReleaseReason::MaxDeferral).1,
            ReleaseReason::PlannedSlot
        );
    }

    #[test]
    fn released_jobs_go_fast_at_their_deadline_and_eco_after_max_deferral() {
        let (j, _) = job(None, None);
        let p = seed();
        let (pool, d) = release_route(
            &p,
            &j,
            ReleaseReason::DeadlineGuardrail,
            TimeDelta::seconds(60),
            300.0,
        );
        assert_eq!(
            (pool, d.policy_rule_id.as_str()),
            (Pool::Fast, GUARDRAIL_DEADLINE)
        );
        let (pool, d) = release_route(
            &p,
            &j,
            ReleaseReason::MaxDeferral,
            TimeDelta::seconds(600),
            300.0,
        );
        assert_eq!(
            (pool, d.policy_rule_id.as_str()),
            (Pool::Eco, GUARDRAIL_MAX_DEFERRAL)
        );
        let (pool, _) = release_route(
            &p,
            &j,
            ReleaseReason::GreenWindow,
            TimeDelta::seconds(60),
            120.0,
        );
        assert_eq!(pool, Pool::Fast);
    }
}
