//! `simulate --sample`: the same simulation on days spread across the trace's year, so a policy
//! is judged across seasons rather than on one chosen day.
//!
//! Each sampled run is an independent [`simulate`] (its own actor system, workload and forecast
//! noise from the same seed), so runs go in parallel on a rayon pool and the result does not
//! depend on how many there are: `report.json` is byte-identical for the same inputs.
//!
//! Summed figures add up the kilograms of every run before dividing, so a day with more
//! emissions weighs more; the spread (min, median, max of each run's share of the oracle's
//! saving) shows how even it is.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{Datelike, NaiveDate, TimeDelta, Weekday};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::report::{round, Emissions, Report};
use super::simulate::{simulate, SimulateError, SimulateOptions};
use crate::grid::Trace;

/// Which days of the year are simulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Sample {
    /// The weekday nearest the 15th of each month (12 runs).
    Monthly,
    /// Every Wednesday (52 or 53 runs).
    Weekly,
}

/// The days `sample` picks in the year of `trace`'s start, each the first of a run of `days`
/// days that lies wholly inside the trace.
pub fn sample_dates(trace: &Trace, sample: Sample, days: u32) -> Vec<NaiveDate> {
    let year = trace.start().year();
    let candidates: Vec<NaiveDate> = match sample {
        Sample::Monthly => (1..=12)
            .filter_map(|m| NaiveDate::from_ymd_opt(year, m, 15))
            .map(|d| match d.weekday() {
                Weekday::Sat => d - TimeDelta::days(1),
                Weekday::Sun => d + TimeDelta::days(1),
                _ => d,
            })
            .collect(),
        Sample::Weekly => NaiveDate::from_ymd_opt(year, 1, 1)
            .into_iter()
            .flat_map(|d| d.iter_days())
            .take_while(|d| d.year() == year)
            .filter(|d| d.weekday() == Weekday::Wed)
            .collect(),
    };
    let span = TimeDelta::days(i64::from(days.max(1)));
    candidates
        .into_iter()
        .filter(|d| {
            let start = d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
            start.is_some_and(|s| s >= trace.start() && s + span <= trace.end())
        })
        .collect()
}

/// The sampled runs and their sums; field order is the order in `year.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct YearReport {
    /// Grid region.
    pub region: String,
    /// Policy.
    pub policy: String,
    /// Seed of every run.
    pub seed: u64,
    /// How the days were picked.
    pub sample: Sample,
    /// Days each run lasts.
    pub days_per_run: u32,
    /// The figures summed over the runs.
    pub summary: Summary,
    /// Each run's report, in date order.
    pub runs: Vec<Report>,
}

/// Figures over all runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of runs.
    pub runs: usize,
    /// Jobs over all runs.
    pub jobs: usize,
    /// Emissions summed over the runs, kg.
    pub emissions_kg: Emissions,
    /// (Σ baseline − Σ carbonq) / Σ baseline × 100.
    pub saved_vs_baseline_pct: f64,
    /// (Σ baseline − Σ oracle) / Σ baseline × 100: the most that could be saved.
    pub oracle_saved_vs_baseline_pct: f64,
    /// (Σ baseline − Σ carbonq) / (Σ baseline − Σ oracle) × 100 (`null` if nothing could be
    /// saved).
    pub oracle_share_pct: Option<f64>,
    /// The runs' own shares of the oracle's saving: lowest, median and highest.
    pub oracle_share_spread: Option<Spread>,
    /// Runs whose share is at most 50 %.
    pub runs_at_most_half_share: usize,
    /// Jobs that finished after their deadline.
    pub deadline_misses: usize,
    /// Those of them that could have met it: carbonq's doing.
    pub carbonq_misses: usize,
    /// Runs whose carbonq emissions exceed their baseline's.
    pub runs_dirtier_than_baseline: usize,
}

/// Lowest, median and highest of some figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Lowest.
    pub min: f64,
    /// Median (the lower middle one for an even count).
    pub median: f64,
    /// Highest.
    pub max: f64,
}

impl Spread {
    fn of(mut xs: Vec<f64>) -> Option<Self> {
        xs.sort_by(f64::total_cmp);
        Some(Self {
            min: *xs.first()?,
            median: xs[(xs.len() - 1) / 2],
            max: *xs.last()?,
        })
    }
}

const KG: i32 = 6;
const PCT: i32 = 3;

/// Sums the runs' reports.
pub fn summarize(runs: &[Report]) -> Summary {
    let sum = |f: fn(&Emissions) -> f64| runs.iter().map(|r| f(&r.emissions_kg)).sum::<f64>();
    let (carbonq, baseline, oracle) = (sum(|e| e.carbonq), sum(|e| e.baseline), sum(|e| e.oracle));
    let pct_of_baseline = |kg: f64| {
        if baseline > 0.0 {
            round((baseline - kg) / baseline * 100.0, PCT)
        } else {
            0.0
        }
    };
    let possible = baseline - oracle;
    let shares: Vec<f64> = runs.iter().filter_map(|r| r.oracle_share_pct).collect();
    Summary {
        runs: runs.len(),
        jobs: runs.iter().map(|r| r.jobs).sum(),
        emissions_kg: Emissions {
            carbonq: round(carbonq, KG),
            baseline: round(baseline, KG),
            oracle: round(oracle, KG),
        },
        saved_vs_baseline_pct: pct_of_baseline(carbonq),
        oracle_saved_vs_baseline_pct: pct_of_baseline(oracle),
        oracle_share_pct: (possible > 0.0)
            .then(|| round((baseline - carbonq) / possible * 100.0, PCT)),
        runs_at_most_half_share: runs
            .iter()
            .filter(|r| r.oracle_share_pct.is_none_or(|s| s <= 50.0))
            .count(),
        oracle_share_spread: Spread::of(shares),
        deadline_misses: runs.iter().map(|r| r.deadline_misses).sum(),
        carbonq_misses: runs.iter().map(|r| r.carbonq_misses).sum(),
        runs_dirtier_than_baseline: runs
            .iter()
            .filter(|r| r.emissions_kg.carbonq > r.emissions_kg.baseline)
            .count(),
    }
}

/// Runs `options` on each day `sample` picks, `threads` at a time; `progress` is told
/// (finished, total) runs as each one ends.
pub fn simulate_sample(
    options: &SimulateOptions,
    sample: Sample,
    threads: usize,
    progress: impl Fn(u64, u64) + Sync,
) -> Result<YearReport, SimulateError> {
    let trace = options.actual_trace()?;
    let dates = sample_dates(&trace, sample, options.days);
    if dates.is_empty() {
        return Err(SimulateError::OutOfTrace(format!(
            "no {sample:?} day of {} has {} day(s) of trace after it",
            trace.start().year(),
            options.days
        )));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()?;
    let done = AtomicU64::new(0);
    let total = dates.len() as u64;
    // In date order, whichever thread ran each; the first failure in date order is returned.
    let results: Vec<Result<Report, SimulateError>> = pool.install(|| {
        dates
            .par_iter()
            .map(|&date| {
                let day = SimulateOptions {
                    date: Some(date),
                    ..options.clone()
                };
                let report = simulate(&day, |_, _| {}).map(|sim| sim.report);
                progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
                report
            })
            .collect()
    });
    let runs = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    let first = runs.first();
    Ok(YearReport {
        region: first.map(|r| r.region.clone()).unwrap_or_default(),
        policy: first.map(|r| r.policy.clone()).unwrap_or_default(),
        seed: options.seed,
        sample,
        days_per_run: options.days.max(1),
        summary: summarize(&runs),
        runs,
    })
}

/// The runs and the summary as a plain-text table for stdout.
pub fn render_year_table(year: &YearReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "carbonq simulation: region {}, policy {}, seed {}, {:?} sample of {} run(s) of {} day(s)",
        year.region,
        year.policy,
        year.seed,
        year.sample,
        year.runs.len(),
        year.days_per_run
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<12}{:>7}{:>10}{:>10}{:>10}{:>9}{:>10}",
        "day", "jobs", "saved", "oracle", "share", "misses", "carbonq's"
    );
    let pct = |p: Option<f64>| p.map_or_else(|| "n/a".to_owned(), |p| format!("{p:.1}%"));
    for r in &year.runs {
        let e = &r.emissions_kg;
        let _ = writeln!(
            s,
            "{:<12}{:>7}{:>10}{:>10}{:>10}{:>9}{:>10}{}",
            r.start.get(..10).unwrap_or(&r.start),
            r.jobs,
            format!("{:.1}%", r.saved_vs_baseline_pct),
            pct(oracle_saved_pct(e)),
            pct(r.oracle_share_pct),
            r.deadline_misses,
            r.carbonq_misses,
            if e.carbonq > e.baseline {
                "  dirtier than baseline"
            } else {
                ""
            }
        );
    }
    let m = &year.summary;
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "summed: saved {:.1}% of {:.3} kg, oracle {:.1}%, share of the oracle's saving {}",
        m.saved_vs_baseline_pct,
        m.emissions_kg.baseline,
        m.oracle_saved_vs_baseline_pct,
        pct(m.oracle_share_pct)
    );
    if let Some(sp) = m.oracle_share_spread {
        let _ = writeln!(
            s,
            "share per run: min {:.1}%, median {:.1}%, max {:.1}%; runs at most 50%: {}",
            sp.min, sp.median, sp.max, m.runs_at_most_half_share
        );
    }
    let _ = writeln!(
        s,
        "deadline misses {} (carbonq's {}), runs dirtier than baseline {}",
        m.deadline_misses, m.carbonq_misses, m.runs_dirtier_than_baseline
    );
    s
}

/// What the oracle saved on one run, percent of its baseline.
fn oracle_saved_pct(e: &Emissions) -> Option<f64> {
    (e.baseline > 0.0).then(|| (e.baseline - e.oracle) / e.baseline * 100.0)
}

/// Writes the year as an SVG: per run, what carbonq saved against what the oracle could, with
/// the runs that missed a deadline by carbonq's doing marked.
pub fn write_year_chart(
    path: &std::path::Path,
    year: &YearReport,
) -> Result<(), super::ChartError> {
    use super::chart::{draw_legend, BASELINE, CARBONQ};
    use plotters::prelude::*;
    let draw_err = |e: &dyn std::fmt::Display| super::ChartError::draw(path, e);
    let n = year.runs.len();
    let points = |f: &dyn Fn(&Report) -> Option<f64>| -> Vec<(f64, f64)> {
        year.runs
            .iter()
            .enumerate()
            .filter_map(|(i, r)| Some((i as f64, f(r)?)))
            .collect()
    };
    let carbonq = points(&|r| Some(r.saved_vs_baseline_pct));
    let oracle = points(&|r| oracle_saved_pct(&r.emissions_kg));
    let missed = points(&|r| (r.carbonq_misses > 0).then_some(r.saved_vs_baseline_pct));
    let ys = carbonq.iter().chain(&oracle).map(|p| p.1);
    let y_max = ys.clone().fold(1.0, f64::max) * 1.2;
    let y_min = ys.fold(0.0, f64::min) * 1.2 - 0.5;
    let labels: Vec<String> = year
        .runs
        .iter()
        .map(|r| r.start.get(5..10).unwrap_or(&r.start).to_owned())
        .collect();
    let root = SVGBackend::new(path, (1200, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw_err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Saved against running at submission, {} {} ({}; summed share of the oracle's saving {})",
                year.region,
                year.runs.first().and_then(|r| r.start.get(..4)).unwrap_or(""),
                year.policy,
                year.summary
                    .oracle_share_pct
                    .map_or_else(|| "n/a".to_owned(), |p| format!("{p:.1}%"))
            ),
            ("sans-serif", 18),
        )
        .margin(12)
        .margin_right(28)
        .x_label_area_size(32)
        .y_label_area_size(56)
        .build_cartesian_2d(-0.5..(n as f64 - 0.5), y_min..y_max)
        .map_err(|e| draw_err(&e))?;
    chart
        .configure_mesh()
        .x_labels(n.min(26))
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc("% saved")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 13))
        .light_line_style(RGBColor(238, 238, 238))
        .draw()
        .map_err(|e| draw_err(&e))?;
    let grey = RGBColor(150, 150, 150);
    let (green, red) = (CARBONQ, BASELINE);
    chart
        .draw_series(LineSeries::new(oracle.clone(), grey.stroke_width(2)))
        .map_err(|e| draw_err(&e))?
        .label("oracle (lower bound on emissions)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], grey.stroke_width(2)));
    chart
        .draw_series(
            carbonq.iter().map(|&(x, y)| {
                Rectangle::new([(x - 0.3, 0.0), (x + 0.3, y)], green.mix(0.6).filled())
            }),
        )
        .map_err(|e| draw_err(&e))?
        .label("carbonq")
        .legend(move |(x, y)| {
            Rectangle::new([(x, y - 5), (x + 24, y + 5)], green.mix(0.6).filled())
        });
    chart
        .draw_series(
            missed
                .iter()
                .map(|&p| Cross::new(p, 6, red.stroke_width(2))),
        )
        .map_err(|e| draw_err(&e))?
        .label("a deadline missed by carbonq")
        .legend(move |(x, y)| Cross::new((x + 12, y), 5, red.stroke_width(2)));
    draw_legend(&mut chart, 13).map_err(|e| draw_err(&e))?;
    root.present().map_err(|e| draw_err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monthly_picks_the_weekday_nearest_the_15th_of_each_month() {
        let trace = crate::grid::Region::Gb.trace().unwrap();
        let dates = sample_dates(trace, Sample::Monthly, 1);
        assert_eq!(dates.len(), 12);
        for d in &dates {
            assert!(d.weekday().number_from_monday() <= 5, "{d}");
            assert!((14..=16).contains(&d.day()), "{d}");
        }
        // 2023-01-15 is a Sunday, 2023-07-15 a Saturday
        assert_eq!(dates[0], NaiveDate::from_ymd_opt(2023, 1, 16).unwrap());
        assert_eq!(dates[6], NaiveDate::from_ymd_opt(2023, 7, 14).unwrap());
        assert_eq!(dates[10], NaiveDate::from_ymd_opt(2023, 11, 15).unwrap());
        let weekly = sample_dates(trace, Sample::Weekly, 1);
        assert!(weekly.iter().all(|d| d.weekday() == Weekday::Wed));
        assert!((51..=53).contains(&weekly.len()), "{}", weekly.len());
        // A run must fit in the trace: a 20-day run cannot start on 15 December
        assert_eq!(sample_dates(trace, Sample::Monthly, 20).len(), 11);
    }

    fn trace_start() -> chrono::DateTime<chrono::Utc> {
        crate::grid::Region::Gb.trace().unwrap().start()
    }

    /// A report of no jobs with these emissions and share.
    fn one_report(carbonq: f64, baseline: f64, oracle: f64, share: Option<f64>) -> Report {
        let empty = crate::sim::OracleResult {
            per_job_kg: Vec::new(),
            per_job_start: Vec::new(),
            total_kg: 0.0,
            method: "test",
        };
        let meta = crate::sim::ReportMeta {
            region: "gb".into(),
            policy: "forecast".into(),
            start: trace_start(),
            end: trace_start(),
            seed: 3,
            workers: 4,
        };
        let mut r = crate::sim::build(&[], &empty, meta);
        r.emissions_kg = Emissions {
            carbonq,
            baseline,
            oracle,
        };
        r.oracle_share_pct = share;
        r
    }

    #[test]
    fn the_year_chart_marks_each_run_and_the_days_carbonq_missed_a_deadline() {
        let run = |date: &str, saved: f64, misses: usize| {
            let mut r = one_report(10.0 - saved, 10.0, 7.0, Some(saved / 3.0 * 100.0));
            r.start = format!("{date}T00:00:00.000Z");
            r.saved_vs_baseline_pct = saved * 10.0;
            r.carbonq_misses = misses;
            r
        };
        let runs = vec![run("2023-01-16", 2.0, 0), run("2023-02-15", 2.5, 1)];
        let year = YearReport {
            region: "gb".into(),
            policy: "forecast".into(),
            seed: 3,
            sample: Sample::Monthly,
            days_per_run: 1,
            summary: summarize(&runs),
            runs,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("year.svg");
        write_year_chart(&path, &year).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        for text in [
            "<svg",
            "01-16",
            "02-15",
            "oracle",
            "a deadline missed by carbonq",
            "75.0%",
        ] {
            assert!(svg.contains(text), "{text} missing");
        }
        let table = render_year_table(&year);
        assert!(table.contains("2023-02-15"), "{table}");
        assert!(table.contains("deadline misses 0 (carbonq's 1)"), "{table}");
    }

    #[test]
    fn the_summary_adds_kilograms_before_dividing() {
        let report = one_report;
        // Given a day that saved 1 of 2 possible kg and a day 0.5 kg dirtier than its baseline
        let runs = [
            report(9.0, 10.0, 8.0, Some(50.0)),
            report(2.5, 2.0, 2.0, None),
        ];
        let s = summarize(&runs);
        // Then the sums give 0.5 kg saved of 12 (4.167 %), 2 kg possible, a 25 % share
        assert_eq!(s.emissions_kg.baseline, 12.0);
        assert_eq!(s.saved_vs_baseline_pct, 4.167);
        assert_eq!(s.oracle_saved_vs_baseline_pct, 16.667);
        assert_eq!(s.oracle_share_pct, Some(25.0));
        assert_eq!(s.runs_at_most_half_share, 2);
        assert_eq!(s.runs_dirtier_than_baseline, 1);
        assert_eq!(
            s.oracle_share_spread,
            Some(Spread {
                min: 50.0,
                median: 50.0,
                max: 50.0
            })
        );
    }
}
