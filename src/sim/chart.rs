//! The chart of a simulated run: one SVG, two panels on a shared time axis.
//!
//! * Top: the actual grid intensity (solid) and, if given, the forecast the scheduler saw
//!   (dashed), gCO2/kWh, as step curves.
//! * Bottom: the running power of carbonq's schedule (green area) and of the baseline that
//!   starts every job on submission (red line), kW, averaged over about 2-minute buckets.
//!   Legends give the energy-weighted mean intensity each schedule ran at.
//!
//! Written with plotters' SVG backend without font files: labels are SVG `<text>` elements
//! that the viewer renders with its own sans-serif font.

use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};
use plotters::prelude::*;

use super::report::JobOutcome;
use crate::grid::Trace;

/// A chart could not be drawn or written.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// `from` is not before `to`.
    #[error("empty chart period: {from} is not before {to}")]
    EmptyPeriod {
        /// Start asked for.
        from: DateTime<Utc>,
        /// End asked for.
        to: DateTime<Utc>,
    },
    /// The actual trace has no interval in the period.
    #[error("the trace '{trace}' has no data between {from} and {to}")]
    NoData {
        /// Trace name.
        trace: String,
        /// Start asked for.
        from: DateTime<Utc>,
        /// End asked for.
        to: DateTime<Utc>,
    },
    /// plotters failed while drawing or writing the file.
    #[error("cannot draw the chart {file}: {message}")]
    Draw {
        /// Path of the file.
        file: String,
        /// plotters' message.
        message: String,
    },
}

impl ChartError {
    /// plotters failed while drawing the chart at `path`.
    pub(super) fn draw(path: &Path, e: &dyn std::fmt::Display) -> Self {
        ChartError::Draw {
            file: path.display().to_string(),
            message: e.to_string(),
        }
    }
}

/// Draws a chart's series labels as every chart here has them: upper right, on a translucent
/// white box with a grey border, in `font_size` sans-serif.
pub(super) fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    font_size: u32,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .label_font(("sans-serif", font_size))
        .draw()
}

/// Number of time buckets of the running-power panel.
const BUCKETS: usize = 720;
/// Approximate number of time labels per axis.
const X_LABELS: usize = 14;
const WIDTH: u32 = 1200;
const HEIGHT: u32 = 760;
const ACTUAL: RGBColor = RGBColor(40, 40, 40);
const FORECAST: RGBColor = RGBColor(30, 100, 200);
pub(super) const CARBONQ: RGBColor = RGBColor(30, 140, 60);
pub(super) const BASELINE: RGBColor = RGBColor(200, 50, 40);

/// Writes the SVG chart of `[from, to)` to `path` (see the module docs for the layout).
pub fn write_chart(
    path: &Path,
    actual: &Trace,
    forecast: Option<&Trace>,
    outcomes: &[JobOutcome],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(), ChartError> {
    if from >= to {
        return Err(ChartError::EmptyPeriod { from, to });
    }
    let actual_pts = actual.points_between(from, to);
    if actual_pts.is_empty() {
        return Err(ChartError::NoData {
            trace: actual.name().to_owned(),
            from,
            to,
        });
    }
    let draw_err = |e: &dyn std::fmt::Display| ChartError::draw(path, e);
    let span_h = hours(to - from);
    let x = |t: DateTime<Utc>| hours(t - from).clamp(0.0, span_h);
    let steps = |pts: &[(DateTime<Utc>, f64)], res: TimeDelta| -> Vec<(f64, f64)> {
        pts.iter()
            .flat_map(|&(t, v)| [(x(t), v), (x(t + res), v)])
            .collect()
    };
    let actual_line = steps(&actual_pts, actual.resolution());
    let forecast_line = forecast
        .map(|f| steps(&f.points_between(from, to), f.resolution()))
        .unwrap_or_default();
    let y_max = actual_line
        .iter()
        .chain(&forecast_line)
        .map(|p| p.1)
        .fold(1.0, f64::max)
        * 1.3;

    let carbonq = running_kw(outcomes, from, to, |o| {
        (o.started_at, o.finished_at, o.mean_power_w())
    });
    let baseline = running_kw(outcomes, from, to, |o| {
        (o.spec.submit_at, o.spec.earliest_finish(), o.spec.power_w)
    });
    let p_max = carbonq
        .iter()
        .chain(&baseline)
        .fold(0.001_f64, |m, &v| m.max(v))
        * 1.35;
    let bucket_h = span_h / BUCKETS as f64;
    let step_series = |v: &[f64]| -> Vec<(f64, f64)> {
        v.iter()
            .enumerate()
            .flat_map(|(i, &p)| [(i as f64 * bucket_h, p), ((i + 1) as f64 * bucket_h, p)])
            .collect()
    };
    let (cq_mean, base_mean) = mean_intensities(outcomes);
    let kw_label = |v: &f64| {
        if p_max < 10.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.0}")
        }
    };
    let label_of = |h: &f64| {
        time_label(
            from + TimeDelta::milliseconds((h * 3_600_000.0) as i64),
            span_h,
        )
    };

    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw_err(&e))?;
    let (upper, lower) = root.split_vertically(HEIGHT * 58 / 100);

    let mut top = ChartBuilder::on(&upper)
        .caption(
            format!(
                "Grid carbon intensity, {} ({} .. {})",
                actual.name(),
                from.format("%Y-%m-%d %H:%M"),
                to.format("%Y-%m-%d %H:%M UTC")
            ),
            ("sans-serif", 20),
        )
        .margin(12)
        .margin_right(28)
        .x_label_area_size(32)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..span_h, 0.0..y_max)
        .map_err(|e| draw_err(&e))?;
    top.configure_mesh()
        .x_labels(X_LABELS)
        .x_label_formatter(&label_of)
        .y_desc("gCO2/kWh")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .max_light_lines(2)
        .light_line_style(RGBColor(238, 238, 238))
        .draw()
        .map_err(|e| draw_err(&e))?;
    top.draw_series(LineSeries::new(actual_line, ACTUAL.stroke_width(2)))
        .map_err(|e| draw_err(&e))?
        .label("actual intensity")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], ACTUAL.stroke_width(2)));
    if !forecast_line.is_empty() {
        top.draw_series(DashedLineSeries::new(
            forecast_line,
            6,
            4,
            FORECAST.stroke_width(2),
        ))
        .map_err(|e| draw_err(&e))?
        .label("forecast seen by carbonq")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], FORECAST.stroke_width(2)));
    }
    draw_legend(&mut top, 14).map_err(|e| draw_err(&e))?;

    let mut bottom = ChartBuilder::on(&lower)
        .caption("Running power: when the jobs ran", ("sans-serif", 18))
        .margin(12)
        .margin_right(28)
        .x_label_area_size(32)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..span_h, 0.0..p_max)
        .map_err(|e| draw_err(&e))?;
    bottom
        .configure_mesh()
        .x_labels(X_LABELS)
        .x_label_formatter(&label_of)
        .y_desc("kW")
        .y_label_formatter(&kw_label)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .max_light_lines(2)
        .light_line_style(RGBColor(238, 238, 238))
        .draw()
        .map_err(|e| draw_err(&e))?;
    bottom
        .draw_series(
            AreaSeries::new(step_series(&carbonq), 0.0, CARBONQ.mix(0.35).filled())
                .border_style(CARBONQ.stroke_width(1)),
        )
        .map_err(|e| draw_err(&e))?
        .label(format!("carbonq (ran at {cq_mean:.0} gCO2/kWh on average)"))
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 24, y + 5)], CARBONQ.mix(0.35).filled()));
    bottom
        .draw_series(LineSeries::new(
            step_series(&baseline),
            BASELINE.stroke_width(1),
        ))
        .map_err(|e| draw_err(&e))?
        .label(format!(
            "baseline: start on submission ({base_mean:.0} gCO2/kWh)"
        ))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], BASELINE.stroke_width(2)));
    draw_legend(&mut bottom, 14).map_err(|e| draw_err(&e))?;
    root.present().map_err(|e| draw_err(&e))?;
    Ok(())
}

/// Hours in `d`.
fn hours(d: TimeDelta) -> f64 {
    d.num_milliseconds() as f64 / 3_600_000.0
}

/// An axis label: time of day for short periods, date and time for a few days, date beyond.
fn time_label(t: DateTime<Utc>, span_h: f64) -> String {
    if span_h <= 36.0 {
        t.format("%H:%M").to_string()
    } else if span_h <= 24.0 * 10.0 {
        t.format("%m-%d %H:%M").to_string()
    } else {
        t.format("%Y-%m-%d").to_string()
    }
}

/// Mean power per bucket (kW) of the runs `run(o) = (start, end, watts)`, over [`BUCKETS`]
/// equal buckets of `[from, to)`; partly covered buckets get the covered fraction.
fn running_kw(
    outcomes: &[JobOutcome],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    run: impl Fn(&JobOutcome) -> (DateTime<Utc>, DateTime<Utc>, f64),
) -> Vec<f64> {
    let span = (to - from).num_milliseconds().max(1) as f64;
    let b = span / BUCKETS as f64;
    let mut partial = vec![0.0; BUCKETS];
    let mut diff = vec![0.0; BUCKETS + 1];
    for o in outcomes {
        let (s, e, w) = run(o);
        let kw = w / 1000.0;
        let s = ((s - from).num_milliseconds() as f64).clamp(0.0, span);
        let e = ((e - from).num_milliseconds() as f64).clamp(0.0, span);
        if e <= s {
            continue;
        }
        let i = ((s / b) as usize).min(BUCKETS - 1);
        let j = ((e / b) as usize).min(BUCKETS);
        if i == j {
            partial[i] += kw * (e - s) / b;
            continue;
        }
        partial[i] += kw * ((i + 1) as f64 * b - s) / b;
        diff[i + 1] += kw;
        diff[j] -= kw;
        if j < BUCKETS {
            partial[j] += kw * (e - j as f64 * b) / b;
        }
    }
    let mut acc = 0.0;
    partial
        .iter()
        .zip(&diff)
        .map(|(p, d)| {
            acc += d;
            p + acc
        })
        .collect()
}

/// Energy-weighted mean intensity of carbonq's runs and of the baseline, gCO2/kWh.
fn mean_intensities(outcomes: &[JobOutcome]) -> (f64, f64) {
    let kwh: f64 = outcomes.iter().map(|o| o.energy_kwh).sum();
    let base_kwh: f64 = outcomes.iter().map(|o| o.spec.energy_kwh()).sum();
    let kg: f64 = outcomes.iter().map(|o| o.emissions_kg).sum();
    let base_kg: f64 = outcomes.iter().map(|o| o.baseline_kg).sum();
    let per = |kg: f64, kwh: f64| if kwh > 0.0 { kg * 1000.0 / kwh } else { 0.0 };
    (per(kg, kwh), per(base_kg, base_kwh))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Urgency;
    use crate::sim::workload::JobSpec;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn outcome(submit: &str, start: &str, hours: i64, power_w: f64) -> JobOutcome {
        let spec = JobSpec {
            submit_at: t(submit),
            job_type: "training".into(),
            urgency: Urgency::Flexible,
            duration_s: hours as u64 * 3600,
            power_w,
            deadline: None,
        };
        let started = t(start);
        JobOutcome {
            spec,
            started_at: started,
            finished_at: started + TimeDelta::hours(hours),
            mode: "ECO".into(),
            policy_rule_id: "R".into(),
            emissions_kg: 1.0,
            baseline_kg: 2.0,
            energy_kwh: power_w * hours as f64 / 1000.0,
        }
    }

    #[test]
    fn running_power_is_the_exact_bucket_average() {
        // Given a 2 kW job from 06:00 to 12:00 and a 1 kW job from 00:01 for one hour
        let from = t("2023-03-14T00:00:00Z");
        let to = t("2023-03-15T00:00:00Z");
        let outs = [
            outcome("2023-03-14T06:00:00Z", "2023-03-14T06:00:00Z", 6, 2000.0),
            outcome("2023-03-14T00:01:00Z", "2023-03-14T00:01:00Z", 1, 1000.0),
        ];
        // When the running power is bucketed into 2-minute buckets
        let kw = running_kw(&outs, from, to, |o| {
            (o.started_at, o.finished_at, o.mean_power_w())
        });
        // Then the energy is preserved and full buckets show the power
        let kwh: f64 = kw.iter().sum::<f64>() * 24.0 / BUCKETS as f64;
        assert!((kwh - 13.0).abs() < 1e-9, "{kwh}");
        assert!((kw[0] - 0.5).abs() < 1e-9);
        assert!((kw[1] - 1.0).abs() < 1e-9);
        assert!((kw[200] - 2.0).abs() < 1e-9);
        assert_eq!(kw[700], 0.0);
    }

    #[test]
    fn the_chart_is_an_svg_with_text_labels_and_both_panels() {
        // Given a day of the GB trace and a few jobs
        let tr = crate::grid::Region::Gb.trace().unwrap();
        let from = t("2023-03-14T00:00:00Z");
        let to = t("2023-03-15T00:00:00Z");
        let outs = [
            outcome("2023-03-14T09:00:00Z", "2023-03-14T13:00:00Z", 3, 2800.0),
            outcome("2023-03-14T10:00:00Z", "2023-03-14T10:00:00Z", 1, 700.0),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("day.svg");
        // When the chart is written, with the actual trace standing in for the forecast
        write_chart(&path, tr, Some(tr), &outs, from, to).unwrap();
        // Then it is an SVG whose labels are <text> elements
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("<text"));
        assert!(svg.contains("gCO2/kWh"));
        assert!(svg.contains("Running power"));
        assert!(svg.contains("12:00"), "{svg}");
        assert!(svg.contains("<polyline") || svg.contains("<path"));
    }

    #[test]
    fn an_empty_period_or_a_period_without_data_is_an_error() {
        let tr = crate::grid::Region::Gb.trace().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.svg");
        let a = t("2023-03-14T00:00:00Z");
        assert!(matches!(
            write_chart(&path, tr, None, &[], a, a),
            Err(ChartError::EmptyPeriod { .. })
        ));
        let far = t("2030-01-01T00:00:00Z");
        assert!(matches!(
            write_chart(&path, tr, None, &[], far, far + TimeDelta::days(1)),
            Err(ChartError::NoData { .. })
        ));
    }
}
