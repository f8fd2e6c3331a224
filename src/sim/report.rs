//! The report of a simulated run: carbonq against running at submission and against the oracle.
//!
//! Invariant: `report.json` is byte-identical for the same inputs. Maps are `BTreeMap`s,
//! times are written by [`format_time`], and every float is rounded to a fixed number of
//! decimals (kg: 6, kWh and seconds: 3, percent: 3) before it is written or compared.
//!
//! Definitions (all emissions on the actual trace, clipped to it):
//! * `saved_vs_baseline_pct` = (baseline − carbonq) / baseline × 100 (0 when baseline is 0);
//! * `oracle_share_pct` = (baseline − carbonq) / (baseline − oracle) × 100, the share of the
//!   possible saving carbonq achieved. When baseline equals oracle nothing could be saved: it
//!   is 100 if carbonq equals the baseline too, and `null` otherwise. It can exceed 100 only if
//!   carbonq started a critical or deadline-less job late, or missed a deadline, into a
//!   greener hour (the oracle's bound assumes neither).
//! * `deadline_misses`: jobs that finished after their deadline; `carbonq_misses`: those of
//!   them that could have met it run at once on the workers as sized (see [`super::misses`]),
//!   each listed in `misses` with its cause;
//! * `wait_s`: start − submission, nearest-rank percentiles.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::misses::{misses, Miss, MissCause};
use super::oracle::{accounted_emissions_kg, OracleResult};
use super::workload::JobSpec;
use crate::clock::format_time;
use crate::grid::Trace;

/// What happened to one job under carbonq.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobOutcome {
    /// The job as submitted.
    pub spec: JobSpec,
    /// When it started running.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// The pool it ran on (`FAST` or `ECO`).
    pub mode: String,
    /// The policy rule (or guardrail) that routed it.
    pub policy_rule_id: String,
    /// Emissions of the run, kg (actual trace).
    pub emissions_kg: f64,
    /// Emissions had it started on submission with its spec's power and duration, kg.
    pub baseline_kg: f64,
    /// Energy of the run, kWh.
    pub energy_kwh: f64,
}

impl JobOutcome {
    /// Accounts a run of `spec` over `[started_at, finished_at)` at `power_w` on `actual`,
    /// with the baseline of the same job started on submission (both clipped to the trace).
    pub fn account(
        spec: JobSpec,
        started_at: DateTime<Utc>,
        finished_at: DateTime<Utc>,
        power_w: f64,
        mode: impl Into<String>,
        policy_rule_id: impl Into<String>,
        actual: &Trace,
    ) -> Self {
        let hours = (finished_at - started_at).num_milliseconds().max(0) as f64 / 3_600_000.0;
        let baseline_kg =
            accounted_emissions_kg(actual, spec.power_w, spec.submit_at, spec.earliest_finish());
        Self {
            emissions_kg: accounted_emissions_kg(actual, power_w, started_at, finished_at),
            baseline_kg,
            energy_kwh: power_w * hours / 1000.0,
            started_at,
            finished_at,
            mode: mode.into(),
            policy_rule_id: policy_rule_id.into(),
            spec,
        }
    }

    /// Seconds from submission to start.
    pub fn wait_s(&self) -> f64 {
        (self.started_at - self.spec.submit_at).num_milliseconds() as f64 / 1000.0
    }

    /// Whether it finished after its deadline.
    pub fn missed_deadline(&self) -> bool {
        self.spec.deadline.is_some_and(|d| self.finished_at > d)
    }

    /// Mean power of the run, watts (the spec's power for an empty run).
    pub fn mean_power_w(&self) -> f64 {
        let ms = (self.finished_at - self.started_at).num_milliseconds();
        if ms > 0 {
            self.energy_kwh * 3_600_000.0 * 1000.0 / ms as f64
        } else {
            self.spec.power_w
        }
    }
}

/// What a report says about the run besides its outcomes.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportMeta {
    /// Grid region name (e.g. `gb`).
    pub region: String,
    /// Policy name or file.
    pub policy: String,
    /// Start of the simulated period.
    pub start: DateTime<Utc>,
    /// End of the simulated period.
    pub end: DateTime<Utc>,
    /// Seed of the workload and forecast noise.
    pub seed: u64,
    /// Workers of both pools, for telling a late job's cause.
    pub workers: usize,
}

/// Total emissions of the three schedules, kg.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Emissions {
    /// carbonq's schedule.
    pub carbonq: f64,
    /// Every job started on submission.
    pub baseline: f64,
    /// The oracle lower bound.
    pub oracle: f64,
}

/// Percentiles of the wait from submission to start, seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitPercentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Longest wait.
    pub max: f64,
}

/// The report of a simulated run; field order is the order in `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Number of jobs accounted.
    pub jobs: usize,
    /// Emissions of carbonq, the baseline and the oracle, kg.
    pub emissions_kg: Emissions,
    /// (baseline − carbonq) / baseline × 100.
    pub saved_vs_baseline_pct: f64,
    /// (baseline − carbonq) / (baseline − oracle) × 100; see the module docs for the edge cases.
    pub oracle_share_pct: Option<f64>,
    /// Jobs that finished after their deadline.
    pub deadline_misses: usize,
    /// Late jobs that could have met their deadline run at once: carbonq's doing.
    pub carbonq_misses: usize,
    /// Energy of carbonq's runs, kWh.
    pub energy_kwh: f64,
    /// Wait from submission to start, seconds.
    pub wait_s: WaitPercentiles,
    /// Jobs per pool (`FAST`, `ECO`).
    pub jobs_by_queue: BTreeMap<String, usize>,
    /// Jobs per deciding policy rule.
    pub jobs_by_rule: BTreeMap<String, usize>,
    /// Jobs per job type.
    pub jobs_by_type: BTreeMap<String, usize>,
    /// Grid region.
    pub region: String,
    /// Policy.
    pub policy: String,
    /// Start of the simulated period (RFC 3339).
    pub start: String,
    /// End of the simulated period (RFC 3339).
    pub end: String,
    /// Seed.
    pub seed: u64,
    /// Workers of both pools.
    pub workers: usize,
    /// How the oracle was computed.
    pub oracle_method: String,
    /// Every late job with its cause, carbonq's first.
    pub misses: Vec<Miss>,
}

/// A report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The report could not be encoded as JSON.
    #[error("cannot encode the report as json")]
    Encode(#[from] serde_json::Error),
    /// The file could not be written.
    #[error("cannot write {file}")]
    Write {
        /// Path of the file.
        file: String,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// `x` rounded to `decimals` places (non-finite values become 0, so the JSON stays valid).
pub(super) fn round(x: f64, decimals: i32) -> f64 {
    if !x.is_finite() {
        return 0.0;
    }
    let scale = 10f64.powi(decimals);
    let r = (x * scale).round() / scale;
    // Avoid writing "-0.0".
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

const KG: i32 = 6;
const PCT: i32 = 3;
const KWH: i32 = 3;
const SECONDS: i32 = 3;

/// Builds the report of `outcomes` against `oracle`, which must cover the same jobs.
pub fn build(outcomes: &[JobOutcome], oracle: &OracleResult, meta: ReportMeta) -> Report {
    let carbonq = round(outcomes.iter().map(|o| o.emissions_kg).sum(), KG);
    let baseline = round(outcomes.iter().map(|o| o.baseline_kg).sum(), KG);
    let oracle_kg = round(oracle.total_kg, KG);
    let saved = if baseline > 0.0 {
        (baseline - carbonq) / baseline * 100.0
    } else {
        0.0
    };
    let possible = baseline - oracle_kg;
    let oracle_share = if possible > 0.0 {
        Some(round((baseline - carbonq) / possible * 100.0, PCT))
    } else if carbonq == baseline {
        Some(100.0)
    } else {
        None
    };
    let mut waits: Vec<f64> = outcomes.iter().map(JobOutcome::wait_s).collect();
    waits.sort_by(f64::total_cmp);
    let misses = misses(outcomes, meta.workers);
    let count = |key: fn(&JobOutcome) -> &str| {
        let mut m = BTreeMap::new();
        for o in outcomes {
            *m.entry(key(o).to_owned()).or_insert(0) += 1;
        }
        m
    };
    Report {
        jobs: outcomes.len(),
        emissions_kg: Emissions {
            carbonq,
            baseline,
            oracle: oracle_kg,
        },
        saved_vs_baseline_pct: round(saved, PCT),
        oracle_share_pct: oracle_share,
        deadline_misses: misses.len(),
        carbonq_misses: misses
            .iter()
            .filter(|m| m.cause == MissCause::Carbonq)
            .count(),
        energy_kwh: round(outcomes.iter().map(|o| o.energy_kwh).sum(), KWH),
        wait_s: WaitPercentiles {
            p50: round(nearest_rank(&waits, 50.0), SECONDS),
            p90: round(nearest_rank(&waits, 90.0), SECONDS),
            p99: round(nearest_rank(&waits, 99.0), SECONDS),
            max: round(waits.last().copied().unwrap_or(0.0), SECONDS),
        },
        jobs_by_queue: count(|o| &o.mode),
        jobs_by_rule: count(|o| &o.policy_rule_id),
        jobs_by_type: count(|o| &o.spec.job_type),
        region: meta.region,
        policy: meta.policy,
        start: format_time(meta.start),
        end: format_time(meta.end),
        seed: meta.seed,
        workers: meta.workers,
        oracle_method: oracle.method.to_owned(),
        misses,
    }
}

/// The nearest-rank `p`-th percentile of sorted values (0 when empty).
fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The report as pretty-printed JSON with a trailing newline.
pub fn to_json(report: &Report) -> Result<String, ReportError> {
    let mut s = serde_json::to_string_pretty(report)?;
    s.push('\n');
    Ok(s)
}

/// Writes [`to_json`] to `path`.
pub fn write_json(report: &Report, path: &Path) -> Result<(), ReportError> {
    std::fs::write(path, to_json(report)?).map_err(|source| ReportError::Write {
        file: path.display().to_string(),
        source,
    })
}

/// A plain-text summary for stdout.
pub fn render_table(report: &Report) -> String {
    let e = &report.emissions_kg;
    let vs = |kg: f64| {
        if e.baseline > 0.0 {
            format!("{:>10.2} %", (e.baseline - kg) / e.baseline * 100.0)
        } else {
            format!("{:>12}", "-")
        }
    };
    let counts = |m: &BTreeMap<String, usize>| {
        if m.is_empty() {
            return "-".to_owned();
        }
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "carbonq simulation: region {}, policy {}, seed {}, {} workers",
        report.region, report.policy, report.seed, report.workers
    );
    let _ = writeln!(s, "period {} .. {}", report.start, report.end);
    let _ = writeln!(
        s,
        "jobs {}, deadline misses {} ({} carbonq's), energy {:.3} kWh",
        report.jobs, report.deadline_misses, report.carbonq_misses, report.energy_kwh
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "{:<24}{:>14}{:>14}", "schedule", "kgCO2e", "saved");
    let _ = writeln!(
        s,
        "{:<24}{:>14.3}{:>14}",
        "baseline (at submit)", e.baseline, ""
    );
    let _ = writeln!(
        s,
        "{:<24}{:>14.3}{:>14}",
        "carbonq",
        e.carbonq,
        vs(e.carbonq)
    );
    let _ = writeln!(
        s,
        "{:<24}{:>14.3}{:>14}",
        "oracle (lower bound)",
        e.oracle,
        vs(e.oracle)
    );
    let share = report
        .oracle_share_pct
        .map_or_else(|| "n/a".to_owned(), |p| format!("{p:.1} %"));
    let _ = writeln!(s, "share of the oracle's saving reached: {share}");
    let _ = writeln!(s);
    let w = &report.wait_s;
    let _ = writeln!(
        s,
        "wait (s)   p50 {:.0}, p90 {:.0}, p99 {:.0}, max {:.0}",
        w.p50, w.p90, w.p99, w.max
    );
    let _ = writeln!(s, "by queue   {}", counts(&report.jobs_by_queue));
    let _ = writeln!(s, "by rule    {}", counts(&report.jobs_by_rule));
    let _ = writeln!(s, "by type    {}", counts(&report.jobs_by_type));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Urgency;
    use crate::sim::oracle::{oracle, ORACLE_METHOD};
    use chrono::TimeDelta;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn meta() -> ReportMeta {
        ReportMeta {
            region: "gb".into(),
            policy: "seed".into(),
            start: t("2023-03-14T00:00:00Z"),
            end: t("2023-03-15T00:00:00Z"),
            seed: 42,
            workers: 4,
        }
    }

    fn outcome(
        wait_min: i64,
        mode: &str,
        rule: &str,
        kg: f64,
        baseline: f64,
        late: bool,
    ) -> JobOutcome {
        let submit = t("2023-03-14T10:00:00Z");
        let started = submit + TimeDelta::minutes(wait_min);
        let finished = started + TimeDelta::hours(1);
        JobOutcome {
            spec: JobSpec {
                submit_at: submit,
                job_type: "training".into(),
                urgency: Urgency::Flexible,
                duration_s: 3600,
                power_w: 1000.0,
                deadline: Some(if late {
                    finished - TimeDelta::seconds(1)
                } else {
                    finished
                }),
            },
            started_at: started,
            finished_at: finished,
            mode: mode.into(),
            policy_rule_id: rule.into(),
            emissions_kg: kg,
            baseline_kg: baseline,
            energy_kwh: 1.0,
        }
    }

    fn oracle_of(total: f64) -> OracleResult {
        OracleResult {
            per_job_kg: vec![total],
            per_job_start: vec![t("2023-03-14T10:00:00Z")],
            total_kg: total,
            method: ORACLE_METHOD,
        }
    }

    #[test]
    fn percentages_match_a_hand_computed_example() {
        // Given baseline 10 kg, carbonq 8 kg, oracle 6 kg over four jobs, one of them late
        let outcomes = vec![
            outcome(0, "FAST", "LOW_CARBON_FAST", 2.0, 2.5, false),
            outcome(30, "ECO", "HIGH_CARBON_ECO", 2.0, 2.5, false),
            outcome(60, "ECO", "HIGH_CARBON_ECO", 2.0, 2.5, false),
            outcome(120, "FAST", "GUARDRAIL_DEADLINE", 2.0, 2.5, true),
        ];
        // When the report is built
        let r = build(&outcomes, &oracle_of(6.0), meta());
        // Then carbonq saved 20 % and reached half of the possible 4 kg saving
        assert_eq!(r.jobs, 4);
        assert_eq!(
            r.emissions_kg,
            Emissions {
                carbonq: 8.0,
                baseline: 10.0,
                oracle: 6.0
            }
        );
        assert_eq!(r.saved_vs_baseline_pct, 20.0);
        assert_eq!(r.oracle_share_pct, Some(50.0));
        assert_eq!(r.deadline_misses, 1);
        assert_eq!(r.energy_kwh, 4.0);
        // And waits of 0, 30, 60, 120 min give nearest-rank p50 = 30 min, p90 = p99 = max = 120 min
        assert_eq!(
            r.wait_s,
            WaitPercentiles {
                p50: 1800.0,
                p90: 7200.0,
                p99: 7200.0,
                max: 7200.0
            }
        );
        assert_eq!(r.jobs_by_queue["ECO"], 2);
        assert_eq!(r.jobs_by_rule["GUARDRAIL_DEADLINE"], 1);
        assert_eq!(r.jobs_by_type["training"], 4);
        assert_eq!(r.start, "2023-03-14T00:00:00.000Z");
        let table = render_table(&r);
        assert!(
            table.contains("share of the oracle's saving reached: 50.0 %"),
            "{table}"
        );
        assert!(table.contains("20.00 %"), "{table}");
    }

    #[test]
    fn oracle_share_is_100_when_nothing_could_be_saved_and_nothing_was_lost() {
        let same = vec![outcome(0, "FAST", "R", 2.5, 2.5, false)];
        assert_eq!(
            build(&same, &oracle_of(2.5), meta()).oracle_share_pct,
            Some(100.0)
        );
        let worse = vec![outcome(0, "FAST", "R", 3.0, 2.5, false)];
        let r = build(&worse, &oracle_of(2.5), meta());
        assert_eq!(r.oracle_share_pct, None);
        assert_eq!(r.saved_vs_baseline_pct, -20.0);
        assert!(render_table(&r).contains("reached: n/a"));
        let empty = build(&[], &oracle_of(0.0), meta());
        assert_eq!(empty.oracle_share_pct, Some(100.0));
        assert_eq!(empty.saved_vs_baseline_pct, 0.0);
        assert_eq!(empty.wait_s.max, 0.0);
    }

    #[test]
    fn report_json_is_byte_identical_across_runs_and_has_stable_fields() {
        // Given the same outcomes built twice, once in another order
        let tr = crate::grid::Region::Gb.trace().unwrap();
        let jobs = crate::sim::workload::generate(5, t("2023-06-01T00:00:00Z"), 1, 200);
        let outcomes: Vec<JobOutcome> = jobs
            .iter()
            .enumerate()
            .map(|(i, j)| {
                let start = j.submit_at + TimeDelta::seconds(i as i64 * 7);
                let mode = if i % 3 == 0 { "ECO" } else { "FAST" };
                let rule = ["B_RULE", "A_RULE", "C_RULE"][i % 3];
                JobOutcome::account(
                    j.clone(),
                    start,
                    start + j.duration(),
                    j.power_w,
                    mode,
                    rule,
                    tr,
                )
            })
            .collect();
        let o = oracle(&jobs, tr);
        let a = to_json(&build(&outcomes, &o, meta())).unwrap();
        let b = to_json(&build(&outcomes, &o, meta())).unwrap();
        let mut reversed = outcomes.clone();
        reversed.reverse();
        let c = to_json(&build(&reversed, &o, meta())).unwrap();
        // Then the bytes are the same and the top-level fields come in the documented order
        // (top-level keys are the lines indented by exactly two spaces)
        assert_eq!(a, b);
        let keys: Vec<&str> = a
            .lines()
            .filter_map(|l| l.strip_prefix("  \""))
            .filter_map(|l| l.split_once('"').map(|(k, _)| k))
            .collect();
        assert_eq!(
            keys,
            [
                "jobs",
                "emissions_kg",
                "saved_vs_baseline_pct",
                "oracle_share_pct",
                "deadline_misses",
                "carbonq_misses",
                "energy_kwh",
                "wait_s",
                "jobs_by_queue",
                "jobs_by_rule",
                "jobs_by_type",
                "region",
                "policy",
                "start",
                "end",
                "seed",
                "workers",
                "oracle_method",
                "misses"
            ]
        );
        // Summation order may change the last bits, but not the rounded figures
        assert_eq!(a, c);
        assert!(
            a.contains("\"A_RULE\": 67,\n    \"B_RULE\": 67,\n    \"C_RULE\": 66"),
            "{a}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        write_json(&build(&outcomes, &o, meta()), &path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), a);
    }

    #[test]
    fn account_measures_carbonq_and_baseline_on_the_actual_trace() {
        let tr = Trace::from_values(
            "h",
            t("2023-03-14T00:00:00Z"),
            TimeDelta::hours(1),
            vec![400.0, 100.0, 400.0],
        )
        .unwrap();
        let spec = JobSpec {
            submit_at: t("2023-03-14T00:00:00Z"),
            job_type: "training".into(),
            urgency: Urgency::Flexible,
            duration_s: 3600,
            power_w: 2000.0,
            deadline: Some(t("2023-03-14T03:00:00Z")),
        };
        let o = JobOutcome::account(
            spec,
            t("2023-03-14T01:00:00Z"),
            t("2023-03-14T02:00:00Z"),
            2000.0,
            "ECO",
            "PLANNED",
            &tr,
        );
        assert!((o.emissions_kg - 0.2).abs() < 1e-12);
        assert!((o.baseline_kg - 0.8).abs() < 1e-12);
        assert!((o.energy_kwh - 2.0).abs() < 1e-12);
        assert!((o.mean_power_w() - 2000.0).abs() < 1e-9);
        assert_eq!(o.wait_s(), 3600.0);
        assert!(!o.missed_deadline());
    }
}
