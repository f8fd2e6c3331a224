//! `GET /metrics`: the counters behind `/stats`, queue depths, the grid's intensity now, refused
//! submissions and contained panics, in the OpenMetrics text format for Prometheus. Read from the journal's model in memory, so a
//! scrape costs Redis nothing and still answers while Redis is away (when alerting needs it).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use actix_web::{web, HttpResponse};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{ApiError, AppState};
use crate::projections::{ReadModel, Status};
use crate::store::keys::QueueName;

/// The content type of the OpenMetrics text format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(&'static str, &'static str)>;

/// Submissions (`POST /jobs` and `POST /jobs/batch` requests) answered with an error, by the
/// error's code: how often clients are told busy, or that the store is unavailable, or that
/// their input is bad. Nothing of a refused submission is in the log, so it is counted here.
#[derive(Debug, Default)]
pub struct Refusals(Mutex<BTreeMap<&'static str, u64>>);

impl Refusals {
    /// Counts `answer` if it is an error, and passes it on.
    pub fn count<T>(&self, answer: Result<T, ApiError>) -> Result<T, ApiError> {
        if let Err(e) = &answer {
            let mut by_code = self.0.lock().unwrap_or_else(|e| e.into_inner());
            *by_code.entry(e.code()).or_default() += 1;
        }
        answer
    }

    fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The scrape.
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let svc = &state.orchestrator.svc;
    let intensity = svc.grid.intensity_at(svc.clock.now());
    let refusals = state.refusals.snapshot();
    let panics = crate::telemetry::panics();
    let registry = {
        let model = svc.journal.model();
        registry_of(&model, intensity, refusals, panics)
    };
    let mut body = String::new();
    encode(&mut body, &registry).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok().content_type(CONTENT_TYPE).body(body))
}

/// Every metric, as of `model`, the grid's `intensity` now, and the `refusals` and `panics` so
/// far.
fn registry_of(
    model: &ReadModel,
    intensity: f64,
    refusals: BTreeMap<&'static str, u64>,
    panics: u64,
) -> Registry {
    let c = &model.counters;
    let mut registry = Registry::with_prefix("carbonq");
    let count = |registry: &mut Registry, name: &str, help: &str, n: u64| {
        let counter: Counter = Counter::default();
        counter.inc_by(n);
        registry.register(name, help, counter);
    };
    let amount = |registry: &mut Registry, name: &str, help: &str, x: f64| {
        let counter: Counter<f64, AtomicU64> = Counter::default();
        counter.inc_by(x);
        registry.register(name, help, counter);
    };
    count(
        &mut registry,
        "jobs_submitted",
        "Jobs ever accepted",
        c.total_jobs,
    );
    count(
        &mut registry,
        "jobs_completed",
        "Jobs run to completion",
        c.completed,
    );
    count(
        &mut registry,
        "jobs_retired",
        "Finished jobs whose history retention deleted from the log",
        c.retired(),
    );
    count(
        &mut registry,
        "attempts_failed",
        "Attempts that failed",
        c.failed_attempts,
    );
    count(
        &mut registry,
        "log_entries_applied",
        "Log entries folded",
        model.applied,
    );
    amount(
        &mut registry,
        "run_seconds",
        "Run time of completed jobs",
        c.duration_ms_sum as f64 / 1e3,
    );
    amount(
        &mut registry,
        "energy_kwh",
        "Energy of completed jobs",
        c.energy_kwh.value(),
    );
    amount(
        &mut registry,
        "emissions_kg",
        "CO2 emitted by completed jobs",
        c.emissions_kg.value(),
    );
    amount(
        &mut registry,
        "baseline_emissions_kg",
        "CO2 the same jobs would have emitted had each started at submission",
        c.baseline_emissions_kg.value(),
    );

    let jobs = Family::<Labels, Gauge>::default();
    for s in Status::ALL {
        let n = i64::try_from(c.status(s)).unwrap_or(i64::MAX);
        jobs.get_or_create(&vec![("status", s.as_str())]).set(n);
    }
    registry.register("jobs", "Jobs by current status", jobs);
    let depth = Family::<Labels, Gauge>::default();
    for q in QueueName::ALL {
        let n = i64::try_from(model.queues.depth(q)).unwrap_or(i64::MAX);
        depth.get_or_create(&vec![("queue", q.as_str())]).set(n);
    }
    registry.register("queue_depth", "Jobs in each queue", depth);
    let grid: Gauge<f64, AtomicU64> = Gauge::default();
    grid.set(intensity);
    registry.register(
        "grid_intensity_gco2_per_kwh",
        "The grid's carbon intensity now, as the scheduler sees it",
        grid,
    );
    let refused = Family::<Labels, Counter>::default();
    for (code, n) in refusals {
        refused.get_or_create(&vec![("code", code)]).inc_by(n);
    }
    registry.register(
        "submissions_refused",
        "Submissions answered with an error, by its code (busy, store_unavailable, ...)",
        refused,
    );
    count(
        &mut registry,
        "panics",
        "Panics contained since start: handlers, actors, executors",
        panics,
    );
    registry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_panics_counted_since_start_are_scraped_with_their_help() {
        let refusals = BTreeMap::from([("busy", 2)]);
        let registry = registry_of(&ReadModel::default(), 300.0, refusals, 3);
        let mut text = String::new();
        encode(&mut text, &registry).expect("encodes");
        for line in [
            "# HELP carbonq_panics Panics contained since start: handlers, actors, executors.",
            "# TYPE carbonq_panics counter",
            "carbonq_panics_total 3",
            "carbonq_submissions_refused_total{code=\"busy\"} 2",
            "carbonq_jobs_submitted_total 0",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
        }
    }
}
