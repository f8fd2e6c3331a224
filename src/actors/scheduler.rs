//! The scheduler actor: routes each pending job by the policy and the grid signal, holds
//! deferred ones, and on every tick lets go those whose time has come (or all of them when a
//! green window opens). It decides synchronously and appends through the journal; a job reaches
//! a queue only after its decision is in the log.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use futures::future::join_all;
use uuid::Uuid;

use super::deferred_queue::{DeferredQueue, Due, Hold, TakeAll, TakeDue};
use super::job_queue::{Enqueue, JobQueue, Take};
use super::routing::{
    deferrable, due_time, guarded_latest_start, release_of, release_route, route, Route, StartBy,
};
use super::services::Services;
use super::submission::MAX_DURATION_S;
use crate::events::*;
use crate::grid::Forecast;
use crate::planner::{replan, schedule, CapacityPlan, Plan};
use crate::policy::{Policy, PolicyInput, RouteMode};
use crate::telemetry::panic_message;

/// How the scheduler lets deferred jobs go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseMode {
    /// The seed's: every held job as soon as the intensity drops below `low`.
    GreenWindow,
    /// Only at each job's own release time.
    OwnTime,
}

/// The scheduler.
pub struct Scheduler {
    svc: Services,
    planning: Option<CapacityPlan>,
    pending: Addr<JobQueue>,
    fast: Addr<JobQueue>,
    eco: Addr<JobQueue>,
    deferred: Addr<DeferredQueue>,
    tick: Duration,
    release_mode: ReleaseMode,
    /// When the one pending wake-up for held jobs fires (one timer, not one per job: actix
    /// polls every timer of an actor on each wake).
    next_wake: Option<DateTime<Utc>>,
    /// Planned jobs on hold, to re-plan when a newer forecast is issued; in id order, so they are
    /// re-planned in the same order every run (a simulated day is reproducible).
    held: BTreeMap<Uuid, HeldPlan>,
    /// Issue time of the forecast the held plans were made on.
    forecast_issue: Option<DateTime<Utc>>,
}

/// A held job's plan, in trace time.
struct HeldPlan {
    plan: Plan,
    latest: DateTime<Utc>,
}

impl Scheduler {
    /// A scheduler over these queues, checking deferred jobs every `tick`.
    pub fn new(
        svc: Services,
        queues: [Addr<JobQueue>; 3],
        deferred: Addr<DeferredQueue>,
        tick: Duration,
        release_mode: ReleaseMode,
    ) -> Self {
        let [pending, fast, eco] = queues;
        Scheduler {
            svc,
            planning: None,
            pending,
            fast,
            eco,
            deferred,
            tick,
            release_mode,
            next_wake: None,
            held: BTreeMap::new(),
            forecast_issue: None,
        }
    }

    /// Plans each job with a deadline at the start that minimises its forecast emissions within
    /// `plan`'s capacity (the `forecast` policy), instead of the seed's defer-and-wait.
    pub fn with_planning(mut self, plan: CapacityPlan) -> Self {
        self.planning = Some(plan);
        self
    }

    fn pool_queue(&self, pool: Pool) -> Addr<JobQueue> {
        match pool {
            Pool::Fast => self.fast.clone(),
            Pool::Eco => self.eco.clone(),
        }
    }

    fn release_due(&mut self, ctx: &mut Context<Self>) {
        self.replan_on_new_forecast(ctx);
        let now = self.svc.clock.now();
        let intensity = self.svc.grid.intensity_at(now);
        let policy = self.svc.policy();
        let green =
            self.release_mode == ReleaseMode::GreenWindow && intensity < policy.thresholds().low;
        let (svc, deferred) = (self.svc.clone(), self.deferred.clone());
        let (fast, eco) = (self.fast.clone(), self.eco.clone());
        let work = async move {
            let Due {
                jobs: released,
                next,
            } = if green {
                let all = deferred.send(TakeAll).await.unwrap_or_default();
                Due {
                    jobs: all
                        .into_iter()
                        .map(|j| (j, ReleaseReason::GreenWindow))
                        .collect(),
                    next: None,
                }
            } else {
                deferred.send(TakeDue(now)).await.unwrap_or_default()
            };
            let released_ids: Vec<Uuid> = released.iter().map(|(j, _)| *j).collect();
            let appends = released.into_iter().filter_map(|(job, reason)| {
                let (spec, held_since) = {
                    let model = svc.journal.model();
                    let view = model.job(&job)?;
                    (
                        view.submitted.clone(),
                        view.decision.as_ref().map(|(t, _)| *t),
                    )
                };
                let held = now - held_since.unwrap_or(now);
                let due = due_time(&spec, now);
                let (pool, decision) = release_route(&policy, &spec, reason, held, intensity);
                let events = vec![
                    JobEvent::Released(JobReleased {
                        reason,
                        carbon_intensity: intensity,
                    }),
                    JobEvent::Scheduled(JobScheduled { pool, decision }),
                ];
                let (svc, queue) = (
                    svc.clone(),
                    if pool == Pool::Fast {
                        fast.clone()
                    } else {
                        eco.clone()
                    },
                );
                Some(async move {
                    match svc.journal.append_patiently(job, events, job).await {
                        Ok(_) => enqueue(&queue, job, due).await,
                        Err(e) => tracing::warn!(%job, error = %e, "release not recorded"),
                    }
                })
            });
            join_all(appends.collect::<Vec<_>>()).await;
            (next, released_ids)
        };
        ctx.spawn(work.into_actor(self).map(|(next, released), act, ctx| {
            for job in released {
                act.held.remove(&job);
            }
            if let Some(t) = next {
                act.wake_at(t, ctx);
            }
        }));
    }

    /// When a newer forecast has been issued, plans every held job again on it and records the
    /// moved ones as deferred anew.
    fn replan_on_new_forecast(&mut self, ctx: &mut Context<Self>) {
        let Some(capacity) = self.planning.as_mut() else {
            return;
        };
        let Some(Forecast::Published(published)) = self.svc.grid.forecast_model() else {
            return;
        };
        let now = self.svc.clock.now();
        let trace_now = self.svc.grid.trace_time(now).unwrap_or(now);
        let offset = trace_now - now;
        let Some(issued) = published.latest_at(trace_now).map(|v| v.issued_at) else {
            return;
        };
        if self.forecast_issue.replace(issued) == Some(issued) {
            return;
        }
        let forecast = Forecast::Published(std::sync::Arc::clone(published));
        let intensity = self.svc.grid.intensity_at(now);
        let mut moved = Vec::new();
        for (job, held) in self.held.iter_mut() {
            if held.plan.start <= trace_now {
                continue;
            }
            let end = held.latest + held.plan.duration();
            let Some(series) = forecast.forecast_trace(trace_now, trace_now, end) else {
                continue;
            };
            let Some(new) = replan(&series, trace_now, held.latest, &held.plan, capacity) else {
                continue;
            };
            let old = std::mem::replace(&mut held.plan, new);
            if new.start != old.start {
                moved.push((*job, new, held.latest - offset));
            }
        }
        for (job, new, deadline) in moved {
            let release_at = new.start - offset;
            let event = JobEvent::Deferred(JobDeferred {
                decision: Decision {
                    carbon_intensity: intensity,
                    policy_rule_id: "FORECAST_REPLANNED".into(),
                    reason: format!(
                        "forecast issued {} moves the start to {}: {:.1} gCO2/kWh expected",
                        crate::clock::format_time(issued),
                        crate::clock::format_time(release_at),
                        new.expected_intensity
                    ),
                    forecast_window: Some(new.forecast_window()),
                },
                defer_deadline: deadline,
                planned_release: Some(release_at),
            });
            let hold = Hold {
                job,
                release_at,
                reason: ReleaseReason::PlannedSlot,
            };
            ctx.spawn(
                record_hold(self.svc.clone(), self.deferred.clone(), event, hold).into_actor(self),
            );
            self.wake_at(release_at, ctx);
        }
    }

    /// Makes sure a release check runs at `t`.
    fn wake_at(&mut self, t: DateTime<Utc>, ctx: &mut Context<Self>) {
        if self.next_wake.is_some_and(|w| w <= t) {
            return;
        }
        self.next_wake = Some(t);
        let wait = (t - self.svc.clock.now()).to_std().unwrap_or_default();
        ctx.run_later(wait, move |act, ctx| {
            if act.next_wake == Some(t) {
                act.next_wake = None;
            }
            act.release_due(ctx);
        });
    }
}

/// Appends a deferral and, once it is in the log, holds the job until its release time.
async fn record_hold(svc: Services, deferred: Addr<DeferredQueue>, event: JobEvent, hold: Hold) {
    let job = hold.job;
    match svc.journal.append_patiently(job, vec![event], job).await {
        Ok(_) => {
            let _ = deferred.send(hold).await;
        }
        Err(e) => tracing::warn!(%job, error = %e, "deferral not recorded"),
    }
}

async fn enqueue(queue: &Addr<JobQueue>, job: Uuid, due: StartBy) {
    match queue.send(Enqueue { job, due }).await {
        Ok(Ok(())) => {}
        Ok(Err(full)) => {
            tracing::error!(%job, "{full}: job stays in the log and is requeued on restart")
        }
        Err(e) => tracing::error!(%job, error = %e, "queue actor gone"),
    }
}

impl Actor for Scheduler {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.tick, |act, ctx| act.release_due(ctx));
    }
}

/// A job was added to `PENDING`: take the oldest and route it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PendingArrived;

impl Handler<PendingArrived> for Scheduler {
    type Result = ();

    /// The wait for `PENDING` is a task of its own, not an actor future: actix polls every actor
    /// future of a context each time it wakes, which with many jobs arriving at once (a batch)
    /// costs O(jobs²).
    fn handle(&mut self, _: PendingArrived, ctx: &mut Context<Self>) {
        let (pending, me) = (self.pending.clone(), ctx.address());
        actix::spawn(async move {
            if let Ok(Some(job)) = pending.send(Take).await {
                me.do_send(RouteJob(job));
            }
        });
    }
}

/// Route this job, taken from `PENDING`.
#[derive(Message)]
#[rtype(result = "()")]
struct RouteJob(Uuid);

impl Handler<RouteJob> for Scheduler {
    type Result = ();

    fn handle(&mut self, RouteJob(job): RouteJob, ctx: &mut Context<Self>) {
        // A panic while deciding (the policy or the planner on some job) must not stop the
        // scheduler: the job runs now on FAST, as the deadline guardrail would send it.
        let routed = std::panic::catch_unwind(AssertUnwindSafe(|| self.route(job, ctx)));
        if let Err(panic) = routed {
            tracing::error!(%job, panic = %panic_message(&*panic), "routing panicked; the job runs now on FAST");
            let due = self.svc.clock.now();
            let decision = Decision {
                carbon_intensity: self.svc.grid.intensity_at(due),
                policy_rule_id: "INTERNAL_ERROR_FAST".into(),
                reason: "routing failed with an internal error; run now on FAST".into(),
                forecast_window: None,
            };
            let (svc, fast) = (self.svc.clone(), self.fast.clone());
            actix::spawn(schedule_on(
                svc,
                fast,
                job,
                Pool::Fast,
                decision,
                StartBy::soft(due),
            ));
        }
    }
}

/// Appends the job's `JobScheduled` on `pool` (patiently) and queues it there.
async fn schedule_on(
    svc: Services,
    queue: Addr<JobQueue>,
    job: Uuid,
    pool: Pool,
    decision: Decision,
    due: StartBy,
) {
    let event = JobEvent::Scheduled(JobScheduled { pool, decision });
    match svc.journal.append_patiently(job, vec![event], job).await {
        Ok(_) => enqueue(&queue, job, due).await,
        Err(e) => tracing::warn!(%job, error = %e, "decision not recorded"),
    }
}

impl Scheduler {
    fn route(&mut self, job: Uuid, ctx: &mut Context<Self>) {
        let now: DateTime<Utc> = self.svc.clock.now();
        let Some(spec) = self
            .svc
            .journal
            .model()
            .job(&job)
            .map(|v| v.submitted.clone())
        else {
            return;
        };
        let intensity = self.svc.grid.intensity_at(now);
        let policy = self.svc.policy();
        let planned = match &mut self.planning {
            Some(plan) => plan_route(&self.svc, plan, &policy, &spec, now, intensity),
            None => None,
        };
        let decided = match planned {
            Some((route, held)) => {
                if let Some(held) = held {
                    self.held.insert(job, held);
                }
                route
            }
            None => route(&policy, &spec, now, intensity),
        };
        let svc = self.svc.clone();
        let deferred = self.deferred.clone();
        let work: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> = match decided {
            Route::Run { pool, decision } => {
                let queue = self.pool_queue(pool);
                let due = due_time(&spec, now);
                Box::pin(schedule_on(svc, queue, job, pool, decision, due))
            }
            Route::Defer {
                decision,
                defer_deadline,
                planned_release,
                release_reason,
            } => {
                // Wake exactly at the release time: a tick could be up to a period late,
                // and a job released at its latest start has no time to lose.
                let (release_at, reason) =
                    release_of(planned_release, defer_deadline, release_reason);
                self.wake_at(release_at, ctx);
                let event = JobEvent::Deferred(JobDeferred {
                    decision,
                    defer_deadline,
                    planned_release,
                });
                let hold = Hold {
                    job,
                    release_at,
                    reason,
                };
                Box::pin(record_hold(svc, deferred, event, hold))
            }
        };
        // Its own task, for the reason given at `PendingArrived`.
        actix::spawn(work);
    }
}

/// The `forecast` policy's route for a job with a deadline and a duration: the start that
/// minimises forecast emissions within capacity, or `None` to fall back to the rules (critical
/// jobs, jobs without deadline or duration, no forecast). Capacity is reserved either way.
fn plan_route(
    svc: &Services,
    plan: &mut CapacityPlan,
    policy: &Policy,
    spec: &JobSubmitted,
    now: DateTime<Utc>,
    intensity: f64,
) -> Option<(Route, Option<HeldPlan>)> {
    // Only bounded durations are planned (a log written before intake bounded them may hold
    // any u64); longer ones fall back to the rules.
    let duration_s = spec.duration_s.filter(|&d| d > 0 && d <= MAX_DURATION_S)?;
    let duration = chrono::TimeDelta::seconds(duration_s as i64);
    let forecast = svc.grid.forecast_model()?;
    // Plan in trace time; the trace may be replayed at an offset from the wall clock.
    let trace_now = svc.grid.trace_time(now).unwrap_or(now);
    let offset = trace_now - now;
    let latest = match guarded_latest_start(spec, now) {
        Some(l) if deferrable(spec) => l + offset,
        _ => {
            plan.reserve(trace_now, trace_now + duration);
            return None;
        }
    };
    let owned;
    let series = match forecast.series() {
        Some(t) => t,
        None => {
            owned = forecast.forecast_trace(trace_now, trace_now, latest + duration)?;
            &owned
        }
    };
    let p = schedule(series, trace_now, latest, duration, plan)?;
    let window = p.forecast_window();
    let start = p.start - offset;
    if start > now {
        let held = HeldPlan { plan: p, latest };
        let route = Route::Defer {
            decision: Decision {
                carbon_intensity: intensity,
                policy_rule_id: "FORECAST_PLANNED_SLOT".into(),
                reason: format!(
                    "forecast {:.1} gCO2/kWh over the run from {} against {:.1} now: expected saving {:.1}%",
                    p.expected_intensity,
                    crate::clock::format_time(start),
                    p.intensity_if_now,
                    p.expected_saving_pct()
                ),
                forecast_window: Some(window),
            },
            defer_deadline: latest - offset,
            planned_release: Some(start),
            release_reason: ReleaseReason::DeadlineGuardrail,
        };
        return Some((route, Some(held)));
    }
    let mode = PolicyInput::new(intensity, spec.urgency.as_str(), &spec.job_type)
        .map(|i| policy.decide(&i).mode)
        .unwrap_or(RouteMode::Fast);
    let pool = if mode == RouteMode::Eco {
        Pool::Eco
    } else {
        Pool::Fast
    };
    let run = Route::Run {
        pool,
        decision: Decision {
            carbon_intensity: intensity,
            policy_rule_id: "FORECAST_RUN_NOW".into(),
            reason: format!(
                "no start before {} is forecast greener than now ({:.1} gCO2/kWh){}",
                crate::clock::format_time(latest - offset),
                p.intensity_if_now,
                if p.over_capacity {
                    "; the workers are fully booked"
                } else {
                    ""
                }
            ),
            forecast_window: Some(window),
        },
    };
    Some((run, None))
}
