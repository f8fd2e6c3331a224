//! `carbonq simulate`: a workload on real grid data through the real actors on a virtual clock,
//! against running everything at submission and against the oracle.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use super::virtual_day::{run_day, DayError, DayRun, DaySetup};
use super::{build, oracle, write_chart, write_json, JobOutcome, JobSpec, Report, ReportMeta};
use crate::actors::executor::Executors;
use crate::actors::intake::Limits;
use crate::actors::scheduler::ReleaseMode;
use crate::actors::submission::SubmitRequest;
use crate::actors::worker::{RetryPolicy, RunDefaults};
use crate::actors::SystemConfig;
use crate::grid::{ClockMapping, Forecast, GridError, GridSignal, NoisyForecast, Region, Trace};
use crate::planner::CapacityPlan;
use crate::policy::{Policy, PolicyError};

/// Which scheduling policy the simulated day runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PolicyKind {
    /// The seed's threshold rules: defer at medium intensity, release on a green window or after
    /// the maximum deferral.
    Seed,
    /// The forecast-aware planner: each job with a deadline starts at the forecast-greenest
    /// window its deadline and the workers' capacity allow.
    Forecast,
}

/// Which workload to run.
#[derive(Debug, Clone)]
pub enum Workload {
    /// The seeded office-hours mix, this many jobs a day.
    Generated(usize),
    /// A JSONL or CSV file.
    File(PathBuf),
    /// "Let's Wait Awhile" scenario II: ad-hoc ML training over the trace's year.
    LetsWaitAwhile,
}

/// Everything `simulate` takes.
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    /// A shipped region.
    pub region: Region,
    /// A trace file instead of the region's.
    pub trace: Option<PathBuf>,
    /// First simulated day (default: a fixed weekday inside the trace).
    pub date: Option<NaiveDate>,
    /// Days to simulate.
    pub days: u32,
    /// The jobs.
    pub workload: Workload,
    /// FAST and ECO workers; `None` sizes them to the workload.
    pub workers: Option<(usize, usize)>,
    /// The policy.
    pub policy: PolicyKind,
    /// Seeds the workload, the forecast error and the ids.
    pub seed: u64,
    /// Forecast error as a share of the mean intensity (Gaussian, as in "Let's Wait Awhile").
    pub forecast_error: f64,
}

impl SimulateOptions {
    /// The actual trace: the file given, or the region's shipped one.
    pub fn actual_trace(&self) -> Result<Arc<Trace>, GridError> {
        match &self.trace {
            Some(path) => Ok(Arc::new(Trace::from_path(path)?)),
            None => self.region.shared_trace(),
        }
    }
}

/// What `simulate` produced.
pub struct Simulation {
    /// The report.
    pub report: Report,
    /// Per-job outcomes.
    pub outcomes: Vec<JobOutcome>,
    /// The run (log and read models).
    pub run: DayRun,
    /// The actual trace.
    pub trace: Arc<Trace>,
    /// The forecast the scheduler decided on (for the chart).
    pub forecast: Option<Trace>,
}

/// A simulation that could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// Grid data.
    #[error(transparent)]
    Grid(#[from] GridError),
    /// The policy.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The workload file.
    #[error(transparent)]
    Workload(#[from] super::WorkloadError),
    /// The run.
    #[error(transparent)]
    Day(#[from] DayError),
    /// The chosen days are not in the trace.
    #[error("{0}")]
    OutOfTrace(String),
    /// Writing the outputs.
    #[error(transparent)]
    Report(#[from] super::ReportError),
    /// Drawing the chart.
    #[error(transparent)]
    Chart(#[from] super::ChartError),
    /// The threads for a sample could not start.
    #[error("cannot start the simulation threads")]
    Threads(#[from] rayon::ThreadPoolBuildError),
}

fn default_date(trace: &Trace) -> DateTime<Utc> {
    // The first weekday from 15 March in the trace's year, or the trace's first midnight.
    use chrono::Datelike;
    let year = trace.start().year();
    let wanted = NaiveDate::from_ymd_opt(year, 3, 15)
        .and_then(|d| {
            d.iter_days()
                .find(|d| d.weekday().number_from_monday() <= 5)
        })
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc());
    match wanted {
        Some(t) if t >= trace.start() && t + TimeDelta::days(1) <= trace.end() => t,
        _ => {
            let s = trace.start();
            let midnight = s
                .date_naive()
                .and_hms_opt(0, 0, 0)
                .map(|d| d.and_utc())
                .unwrap_or(s);
            if midnight < s {
                midnight + TimeDelta::days(1)
            } else {
                midnight
            }
        }
    }
}

/// Enough workers that running every job at submission never queues, plus a quarter, split
/// two thirds FAST and one third ECO.
pub fn auto_workers(jobs: &[JobSpec]) -> (usize, usize) {
    let mut edges: Vec<(DateTime<Utc>, i32)> = jobs
        .iter()
        .flat_map(|j| [(j.submit_at, 1), (j.earliest_finish(), -1)])
        .collect();
    edges.sort();
    let (mut now, mut peak) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        peak = peak.max(now);
    }
    let total = ((peak.max(1) as f64) * 1.25).ceil() as usize;
    let fast = (total * 2).div_ceil(3);
    (fast, (total - fast).max(1))
}

fn request(spec: &JobSpec) -> SubmitRequest {
    SubmitRequest {
        job_type: Some(spec.job_type.clone()),
        urgency: Some(spec.urgency.as_str().to_owned()),
        deadline: spec.deadline,
        duration_s: Some(spec.duration_s),
        power_w: Some(spec.power_w),
        idempotency_key: None,
        tenant: None,
    }
}

/// Runs the simulation; `progress` is told (finished, total) jobs now and then.
pub fn simulate(
    options: &SimulateOptions,
    progress: impl Fn(u64, u64),
) -> Result<Simulation, SimulateError> {
    let trace = options.actual_trace()?;
    let mut jobs: Vec<JobSpec> = match &options.workload {
        Workload::File(path) => super::load(path)?,
        Workload::LetsWaitAwhile => super::lets_wait_awhile(options.seed, &trace, None),
        Workload::Generated(n) => {
            let start = match options.date {
                Some(d) => d
                    .and_hms_opt(0, 0, 0)
                    .map(|t| t.and_utc())
                    .unwrap_or_else(|| trace.start()),
                None => default_date(&trace),
            };
            super::generate(options.seed, start, options.days, *n)
        }
    };
    jobs.sort_by_key(|j| j.submit_at);
    let Some(first) = jobs.first().map(|j| j.submit_at) else {
        return Err(SimulateError::OutOfTrace("the workload has no jobs".into()));
    };
    if first < trace.start() || first >= trace.end() {
        return Err(SimulateError::OutOfTrace(format!(
            "the first job is submitted at {first}, outside the trace ({} to {})",
            trace.start(),
            trace.end()
        )));
    }
    let start = first
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or(first);
    let forecast = match (
        options.trace.is_none(),
        options.region.shared_published_forecasts()?,
    ) {
        (true, Some(published)) => Forecast::Published(published),
        _ => Forecast::Noisy(NoisyForecast::new(
            Arc::clone(&trace),
            options.forecast_error,
            options.seed,
        )?),
    };
    let chart_forecast = forecast.series().cloned();
    let forecast_error = forecast.point_error(&trace);
    let grid = GridSignal::replay(
        Arc::clone(&trace),
        ClockMapping::Offset {
            anchor: trace.start(),
        },
    )
    .with_forecast(forecast);
    let (fast, eco) = options.workers.unwrap_or_else(|| auto_workers(&jobs));
    let planning = match options.policy {
        PolicyKind::Seed => None,
        PolicyKind::Forecast => Some(
            CapacityPlan::new(
                trace.resolution().min(TimeDelta::minutes(15)),
                (fast + eco) as u32,
            )
            .map_err(|e| SimulateError::OutOfTrace(e.to_string()))?
            .with_forecast_error(forecast_error),
        ),
    };
    let setup = DaySetup {
        start: start.max(trace.start()),
        grid,
        policy: Policy::from_str_named(crate::policy::SEED_POLICY_YAML, "seed")?,
        system: SystemConfig {
            fast_workers: fast,
            eco_workers: eco,
            limits: Limits::NONE,
            tick: Duration::from_secs(60),
            release_mode: match options.policy {
                PolicyKind::Seed => ReleaseMode::GreenWindow,
                PolicyKind::Forecast => ReleaseMode::OwnTime,
            },
            retry: RetryPolicy {
                max_attempts: 3,
                backoff: Duration::from_secs(60),
            },
            defaults: RunDefaults { power_w: 300.0 },
            planning,
            retention: None,
        },
        executors: Executors::simulated(),
        seed: options.seed,
        virtual_clock: true,
        crash_at: None,
    };
    let submissions = jobs.iter().map(|j| (j.submit_at, request(j))).collect();
    let run = run_day(setup, submissions, progress)?;
    let mut outcomes = Vec::with_capacity(jobs.len());
    for (spec, id) in jobs.iter().zip(&run.job_ids) {
        let Some(view) = id.and_then(|id| run.model.job(&id)) else {
            continue;
        };
        let (Some(started), Some(finished)) = (view.started_at, view.finished_at) else {
            continue;
        };
        let rule = view
            .decision
            .as_ref()
            .map(|(_, d)| d.policy_rule_id.clone())
            .unwrap_or_default();
        let mode = view.mode.map(|m| m.as_str()).unwrap_or("-");
        outcomes.push(JobOutcome::account(
            spec.clone(),
            started,
            finished,
            spec.power_w,
            mode,
            rule,
            &trace,
        ));
    }
    let best = oracle(&jobs, &trace);
    let end = jobs
        .iter()
        .map(|j| j.deadline.unwrap_or_else(|| j.earliest_finish()))
        .max()
        .unwrap_or(run.end)
        .max(run.end);
    let report = build(
        &outcomes,
        &best,
        ReportMeta {
            region: match &options.trace {
                Some(p) => p.display().to_string(),
                None => options.region.name().to_owned(),
            },
            policy: match options.policy {
                PolicyKind::Seed => "seed".into(),
                PolicyKind::Forecast => format!("forecast (error {})", options.forecast_error),
            },
            start,
            end,
            seed: options.seed,
            workers: fast + eco,
        },
    );
    Ok(Simulation {
        report,
        outcomes,
        run,
        trace,
        forecast: chart_forecast,
    })
}

/// Writes `report.json` and `day.svg` into `dir`.
pub fn write_outputs(sim: &Simulation, dir: &Path) -> Result<(), SimulateError> {
    std::fs::create_dir_all(dir).map_err(|source| super::ReportError::Write {
        file: dir.display().to_string(),
        source,
    })?;
    write_json(&sim.report, &dir.join("report.json"))?;
    let from = sim.report_start();
    let to = sim
        .outcomes
        .iter()
        .map(|o| o.finished_at)
        .max()
        .unwrap_or(from + TimeDelta::days(1))
        .min(sim.trace.end())
        .max(from + TimeDelta::hours(1));
    write_chart(
        &dir.join("day.svg"),
        &sim.trace,
        sim.forecast.as_ref(),
        &sim.outcomes,
        from,
        to,
    )?;
    Ok(())
}

impl Simulation {
    fn report_start(&self) -> DateTime<Utc> {
        self.outcomes
            .iter()
            .map(|o| o.spec.submit_at)
            .min()
            .unwrap_or(self.run.end)
            .max(self.trace.start())
    }
}
