//! Forecasts of grid carbon intensity: what a scheduler may *know* at time `now`.
//!
//! Decide on forecasts, account on actuals. Three kinds share the [`Forecast`] enum:
//!
//! * [`Forecast::Perfect`] — the actual trace itself (the oracle baseline);
//! * [`Forecast::Noisy`] — [`NoisyForecast`], the error model of Wiesner et al.,
//!   "Let's Wait Awhile" (Middleware '21): actual + N(0, (error × mean)²) per point;
//! * [`Forecast::Published`] — [`PublishedForecasts`], real forecast issues as they were
//!   published (`issued_at,timestamp,gco2_per_kwh`). At `now`, only the newest issue
//!   with `issued_at <= now` is used, so no information from the future leaks in.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::error::GridError;
use super::trace::{
    delta_ns, infer_resolution_ns, parse_timestamp, parse_value, read_records, Row, Trace,
};

/// One published forecast issue, as seen through [`PublishedForecasts::latest_at`].
#[derive(Clone, Copy, Debug)]
pub struct ForecastView<'a> {
    /// When the issue was published.
    pub issued_at: DateTime<Utc>,
    /// The forecast values on their grid (first interval = the one in progress at issue time).
    pub trace: &'a Trace,
}

impl ForecastView<'_> {
    /// `(interval start, forecast gCO₂/kWh)` of every point of the issue.
    pub fn points(&self) -> Vec<(DateTime<Utc>, f64)> {
        self.trace.points().collect()
    }

    /// End of the last forecast interval (the issue's horizon).
    pub fn horizon_end(&self) -> DateTime<Utc> {
        self.trace.end()
    }
}

/// A set of published forecast issues, sorted by issue time.
#[derive(Clone, Debug)]
pub struct PublishedForecasts {
    name: String,
    issues: Vec<(DateTime<Utc>, Trace)>,
}

impl PublishedForecasts {
    /// Parses an `issued_at,timestamp,gco2_per_kwh` CSV (with header). Rows must be sorted by
    /// `(issued_at, timestamp)`, strictly increasing; all issues share one resolution
    /// (the smallest gap within any issue). Gaps inside an issue hold the previous value.
    pub fn from_csv_str(name: &str, text: &str) -> Result<Self, GridError> {
        let mut groups: BTreeMap<DateTime<Utc>, Vec<Row>> = BTreeMap::new();
        let mut previous: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
        read_records(name, text, 3, |line, fields| {
            let issued = parse_timestamp(name, line, fields[0])?;
            let t = parse_timestamp(name, line, fields[1])?;
            let v = parse_value(name, line, fields[2])?;
            if let Some((pi, pt)) = previous {
                if issued < pi || (issued == pi && t <= pt) {
                    let (timestamp, previous) = if issued < pi { (issued, pi) } else { (t, pt) };
                    return Err(GridError::NonMonotonic {
                        file: name.to_owned(),
                        line,
                        timestamp,
                        previous,
                    });
                }
            }
            previous = Some((issued, t));
            groups.entry(issued).or_default().push((t, v, line));
            Ok(())
        })?;
        let resolution_ns = groups
            .values()
            .filter_map(|rows| infer_resolution_ns(name, rows).ok())
            .min()
            .ok_or_else(|| GridError::TooShort {
                file: name.to_owned(),
            })?;
        let mut issues = Vec::with_capacity(groups.len());
        for (issued, rows) in groups {
            let issue_name = format!("{name} issued {}", issued.to_rfc3339());
            let trace = Trace::from_rows_with_resolution(&issue_name, &rows, resolution_ns)?;
            issues.push((issued, trace));
        }
        Ok(Self {
            name: name.to_owned(),
            issues,
        })
    }

    /// Reads and parses a forecast CSV file; errors name the path.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, GridError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| GridError::Io {
            file: name.clone(),
            source,
        })?;
        Self::from_csv_str(&name, &text)
    }

    /// The name given at load time.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of issues.
    pub fn len(&self) -> usize {
        self.issues.len()
    }

    /// Always `false` for a parsed file (parsing rejects files without rows).
    pub fn is_empty(&self) -> bool {
        self.issues.is_empty()
    }

    /// All issues, oldest first.
    pub fn issues(&self) -> impl ExactSizeIterator<Item = ForecastView<'_>> + '_ {
        self.issues.iter().map(|(issued_at, trace)| ForecastView {
            issued_at: *issued_at,
            trace,
        })
    }

    /// One standard deviation of the issues' point errors against `actual`, gCO2/kWh, each
    /// issue's own mean error taken out first: an offset common to a whole issue moves every
    /// start of a plan alike and changes no choice, while the scatter around it does. 0 when no
    /// point falls inside `actual`.
    pub fn measured_error(&self, actual: &Trace) -> f64 {
        let (mut sum_sq, mut n) = (0.0, 0usize);
        for (_, issue) in &self.issues {
            let errors: Vec<f64> = issue
                .points()
                .filter_map(|(t, v)| Some(v - actual.intensity_at(t)?))
                .collect();
            if errors.is_empty() {
                continue;
            }
            let mean = errors.iter().sum::<f64>() / errors.len() as f64;
            sum_sq += errors.iter().map(|e| (e - mean).powi(2)).sum::<f64>();
            n += errors.len();
        }
        if n == 0 {
            0.0
        } else {
            (sum_sq / n as f64).sqrt()
        }
    }

    /// The newest issue with `issued_at <= now`; `None` before the first issue.
    pub fn latest_at(&self, now: DateTime<Utc>) -> Option<ForecastView<'_>> {
        let idx = self.issues.partition_point(|(issued, _)| *issued <= now);
        let (issued_at, trace) = self.issues.get(idx.checked_sub(1)?)?;
        Some(ForecastView {
            issued_at: *issued_at,
            trace,
        })
    }

    /// Forecast known at `now` for the intervals intersecting `[from, to)`, on the
    /// issue's grid. Beyond the horizon of the latest issue the last forecast value
    /// is held; before its first point the first value is held. Empty before the
    /// first issue or when `from >= to`.
    pub fn forecast_points(
        &self,
        now: DateTime<Utc>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<(DateTime<Utc>, f64)> {
        match self.latest_at(now) {
            Some(view) => extend_on_grid(view.trace, from, to),
            None => Vec::new(),
        }
    }
}

/// Points of `trace`'s grid (extended both ways, holding the edge values) intersecting `[from, to)`.
fn extend_on_grid(
    trace: &Trace,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, f64)> {
    let values = trace.values();
    let (Some(&first), Some(&last)) = (values.first(), values.last()) else {
        return Vec::new();
    };
    let res = i128::from(trace.resolution_ns());
    let end = delta_ns(to, trace.start());
    let mut k = delta_ns(from, trace.start()).div_euclid(res);
    let mut out = Vec::new();
    while k * res < end {
        let Some(t) = i64::try_from(k * res)
            .ok()
            .and_then(|ns| trace.start().checked_add_signed(TimeDelta::nanoseconds(ns)))
        else {
            break;
        };
        let v = match usize::try_from(k) {
            Ok(i) => values.get(i).copied().unwrap_or(last),
            Err(_) => first,
        };
        out.push((t, v));
        k += 1;
    }
    out
}

/// The "Let's Wait Awhile" forecast-error model: the actual trace plus independent
/// Gaussian noise N(0, σ²) per point with σ = `error` × mean intensity of the trace,
/// clamped at 0. The noisy series is drawn once from a ChaCha8 stream seeded with
/// `seed` (deterministic across runs and platforms); the error does not grow with lead time.
#[derive(Clone, Debug)]
pub struct NoisyForecast {
    actual: Arc<Trace>,
    noisy: Arc<Trace>,
    error: f64,
    seed: u64,
}

impl NoisyForecast {
    /// Draws the noisy series. `error` is relative (0.05 = 5 % of the mean); `error == 0`
    /// reproduces the actual trace exactly. Fails if `error` is negative or not finite.
    pub fn new(actual: Arc<Trace>, error: f64, seed: u64) -> Result<Self, GridError> {
        if !(error.is_finite() && error >= 0.0) {
            return Err(GridError::InvalidParameter(format!(
                "forecast error must be a finite non-negative number, got {error}"
            )));
        }
        let std_dev = error * actual.mean();
        let noisy = if std_dev == 0.0 {
            Arc::clone(&actual)
        } else {
            let normal = Normal::new(0.0, std_dev)
                .map_err(|e| GridError::InvalidParameter(format!("noise std {std_dev}: {e}")))?;
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let values = actual
                .values()
                .iter()
                .map(|&v| (v + normal.sample(&mut rng)).max(0.0))
                .collect();
            let name = format!("{} + noise({error}, seed {seed})", actual.name());
            Arc::new(Trace::from_values(
                &name,
                actual.start(),
                actual.resolution(),
                values,
            )?)
        };
        Ok(Self {
            actual,
            noisy,
            error,
            seed,
        })
    }

    /// The actual trace the noise was added to.
    pub fn actual(&self) -> &Trace {
        &self.actual
    }

    /// The noisy series (same grid as the actual trace).
    pub fn trace(&self) -> &Trace {
        &self.noisy
    }

    /// The relative error level.
    pub fn error(&self) -> f64 {
        self.error
    }

    /// The RNG seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// σ of the noise in gCO₂/kWh: `error × actual.mean()`.
    pub fn std_dev(&self) -> f64 {
        self.error * self.actual.mean()
    }
}

/// What a scheduler is allowed to know about future intensity.
#[derive(Clone, Debug)]
pub enum Forecast {
    /// Perfect knowledge: the actual trace (oracle baseline).
    Perfect(Arc<Trace>),
    /// Actuals plus seeded Gaussian noise.
    Noisy(NoisyForecast),
    /// Real forecasts as published; only issues with `issued_at <= now` are used.
    Published(Arc<PublishedForecasts>),
}

impl Forecast {
    /// Short name of the kind: `perfect`, `noisy` or `published`.
    pub fn kind(&self) -> &'static str {
        match self {
            Forecast::Perfect(_) => "perfect",
            Forecast::Noisy(_) => "noisy",
            Forecast::Published(_) => "published",
        }
    }

    /// One standard deviation of a point's error, gCO2/kWh: the noise of a noisy forecast, 0
    /// for a perfect one, and for published forecasts what they measurably missed `actual` by
    /// ([`PublishedForecasts::measured_error`]).
    pub fn point_error(&self, actual: &Trace) -> f64 {
        match self {
            Forecast::Noisy(n) => n.std_dev(),
            Forecast::Perfect(_) => 0.0,
            Forecast::Published(p) => p.measured_error(actual),
        }
    }

    /// The full forecast series for the kinds that have one (perfect, noisy).
    /// Published forecasts depend on `now` and return `None`.
    pub fn series(&self) -> Option<&Trace> {
        match self {
            Forecast::Perfect(t) => Some(t),
            Forecast::Noisy(n) => Some(n.trace()),
            Forecast::Published(_) => None,
        }
    }

    /// Forecast known at `now` for the intervals intersecting `[from, to)`, as
    /// `(interval start, gCO₂/kWh)`. Perfect and noisy kinds are clipped to their series
    /// (no wrap); the published kind uses only the latest issue at `now` and holds its
    /// last value beyond its horizon (see [`PublishedForecasts::forecast_points`]).
    pub fn forecast_points(
        &self,
        now: DateTime<Utc>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<(DateTime<Utc>, f64)> {
        match self {
            Forecast::Published(p) => p.forecast_points(now, from, to),
            Forecast::Perfect(actual) => actual.points_between(from, to),
            Forecast::Noisy(noisy) => noisy.trace().points_between(from, to),
        }
    }

    /// [`Forecast::forecast_points`] as a [`Trace`] (for `best_window`); `None` if empty.
    pub fn forecast_trace(
        &self,
        now: DateTime<Utc>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Option<Trace> {
        let resolution = match self {
            Forecast::Published(p) => p.latest_at(now)?.trace.resolution(),
            Forecast::Perfect(actual) => actual.resolution(),
            Forecast::Noisy(noisy) => noisy.trace().resolution(),
        };
        let points = self.forecast_points(now, from, to);
        let start = points.first()?.0;
        let values = points.into_iter().map(|(_, v)| v).collect();
        let name = format!("{} forecast at {}", self.kind(), now.to_rfc3339());
        Trace::from_values(&name, start, resolution, values).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn two_issues() -> PublishedForecasts {
        PublishedForecasts::from_csv_str(
            "f.csv",
            "issued_at,timestamp,gco2_per_kwh\n\
             2023-03-14T00:01:00Z,2023-03-14T00:00:00Z,100\n\
             2023-03-14T00:01:00Z,2023-03-14T00:30:00Z,110\n\
             2023-03-14T00:01:00Z,2023-03-14T01:00:00Z,120\n\
             2023-03-14T06:01:00Z,2023-03-14T06:00:00Z,999\n\
             2023-03-14T06:01:00Z,2023-03-14T06:30:00Z,998\n",
        )
        .unwrap()
    }

    #[test]
    fn published_forecast_never_returns_an_issue_from_the_future() {
        let f = two_issues();
        assert!(f.latest_at(t("2023-03-14T00:00:59Z")).is_none());
        let v = f.latest_at(t("2023-03-14T00:01:00Z")).unwrap();
        assert_eq!(v.issued_at, t("2023-03-14T00:01:00Z"));
        let before_second = t("2023-03-14T06:00:59Z");
        assert_eq!(
            f.latest_at(before_second).unwrap().issued_at,
            t("2023-03-14T00:01:00Z")
        );
        let pts = f.forecast_points(before_second, before_second, t("2023-03-14T08:00:00Z"));
        assert!(!pts.is_empty());
        assert!(pts.iter().all(|&(_, v)| v < 900.0), "{pts:?}");
        let after = t("2023-03-14T06:01:00Z");
        assert_eq!(f.latest_at(after).unwrap().issued_at, after);
    }

    #[test]
    fn the_measured_error_is_the_scatter_around_each_issues_own_offset() {
        // Given actuals of 100, 100, 100 then 900, 900 on the half hours
        let actual = Trace::from_values(
            "a",
            t("2023-03-14T00:00:00Z"),
            TimeDelta::minutes(30),
            vec![
                100.0, 100.0, 100.0, 900.0, 900.0, 900.0, 900.0, 900.0, 900.0, 900.0, 900.0, 900.0,
                900.0, 900.0,
            ],
        )
        .unwrap();
        // The first issue misses by 0, +10, +20 (offset 10, scatter ±10, 0), the second by
        // +99, +98 (offset 98.5, scatter ±0.5)
        let e = two_issues().measured_error(&actual);
        let expected = ((100.0 + 0.0 + 100.0 + 0.25 + 0.25) / 5.0_f64).sqrt();
        assert!((e - expected).abs() < 1e-9, "{e} vs {expected}");
        // And against a trace they do not overlap, nothing is measured
        let elsewhere = Trace::from_values(
            "b",
            t("2024-01-01T00:00:00Z"),
            TimeDelta::hours(1),
            vec![1.0],
        )
        .unwrap();
        assert_eq!(two_issues().measured_error(&elsewhere), 0.0);
    }

    #[test]
    fn published_forecast_holds_the_last_value_beyond_its_horizon() {
        let f = two_issues();
        let now = t("2023-03-14T00:10:00Z");
        let pts = f.forecast_points(now, t("2023-03-14T00:10:00Z"), t("2023-03-14T02:30:00Z"));
        let values: Vec<f64> = pts.iter().map(|p| p.1).collect();
        assert_eq!(values, vec![100.0, 110.0, 120.0, 120.0, 120.0]);
        assert_eq!(pts[0].0, t("2023-03-14T00:00:00Z"));
        assert_eq!(pts[4].0, t("2023-03-14T02:00:00Z"));
        let tr = Forecast::Published(Arc::new(f))
            .forecast_trace(now, now, t("2023-03-14T02:30:00Z"))
            .unwrap();
        assert_eq!(tr.resolution(), TimeDelta::minutes(30));
        assert_eq!(tr.len(), 5);
    }

    #[test]
    fn published_rows_out_of_order_are_rejected() {
        let e = PublishedForecasts::from_csv_str(
            "f.csv",
            "issued_at,timestamp,gco2_per_kwh\n\
             2023-03-14T06:01:00Z,2023-03-14T06:00:00Z,1\n\
             2023-03-14T00:01:00Z,2023-03-14T00:00:00Z,1\n",
        )
        .unwrap_err();
        assert!(matches!(e, GridError::NonMonotonic { line: 3, .. }), "{e}");
    }

    #[test]
    fn gb_neso_forecasts_only_use_issues_published_by_now() {
        let f = crate::grid::Region::GbNeso
            .published_forecasts()
            .unwrap()
            .unwrap();
        let issues: Vec<DateTime<Utc>> = f.issues().map(|v| v.issued_at).collect();
        let mut now = t("2023-03-14T12:00:00Z");
        while now < t("2023-03-19T00:00:00Z") {
            let expected = issues.iter().copied().filter(|&i| i <= now).max();
            assert_eq!(f.latest_at(now).map(|v| v.issued_at), expected);
            now += TimeDelta::minutes(7);
        }
    }

    fn long_flat() -> Arc<Trace> {
        Arc::new(
            Trace::from_values(
                "flat",
                t("2023-01-01T00:00:00Z"),
                TimeDelta::hours(1),
                vec![100.0; 20_000],
            )
            .unwrap(),
        )
    }

    #[test]
    fn noisy_forecast_with_zero_error_equals_the_actual_trace() {
        let actual = Arc::new(crate::grid::Region::De2020.trace().unwrap().clone());
        let n = NoisyForecast::new(Arc::clone(&actual), 0.0, 7).unwrap();
        assert_eq!(n.trace().values(), actual.values());
        let f = Forecast::Noisy(n);
        let (a, b) = (t("2020-05-01T00:00:00Z"), t("2020-05-02T00:00:00Z"));
        assert_eq!(
            f.forecast_points(a, a, b),
            Forecast::Perfect(actual).forecast_points(a, a, b)
        );
    }

    #[test]
    fn noisy_forecast_with_a_seed_is_deterministic_with_the_requested_std() {
        let actual = long_flat();
        let a = NoisyForecast::new(Arc::clone(&actual), 0.1, 42).unwrap();
        let b = NoisyForecast::new(Arc::clone(&actual), 0.1, 42).unwrap();
        let c = NoisyForecast::new(Arc::clone(&actual), 0.1, 43).unwrap();
        assert_eq!(a.trace().values(), b.trace().values());
        assert_ne!(a.trace().values(), c.trace().values());
        let diffs: Vec<f64> = a
            .trace()
            .values()
            .iter()
            .zip(actual.values())
            .map(|(n, v)| n - v)
            .collect();
        let n = diffs.len() as f64;
        let mean = diffs.iter().sum::<f64>() / n;
        let std = (diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!((a.std_dev() - 10.0).abs() < 1e-9);
        assert!((std - 10.0).abs() < 0.3, "std {std}");
        assert!(mean.abs() < 0.3, "mean {mean}");
    }

    #[test]
    fn noisy_forecast_is_clamped_at_zero_and_rejects_bad_errors() {
        let n = NoisyForecast::new(long_flat(), 2.0, 1).unwrap();
        assert!(n.trace().values().iter().all(|&v| v >= 0.0));
        assert!(n.trace().values().contains(&0.0));
        assert!(NoisyForecast::new(long_flat(), -0.1, 1).is_err());
        assert!(NoisyForecast::new(long_flat(), f64::NAN, 1).is_err());
    }

    #[test]
    fn perfect_forecast_returns_the_actual_points_in_range() {
        let actual = long_flat();
        let f = Forecast::Perfect(Arc::clone(&actual));
        let pts = f.forecast_points(
            actual.start(),
            t("2023-01-01T01:30:00Z"),
            t("2023-01-01T04:00:00Z"),
        );
        assert_eq!(pts.len(), 3);
        assert_eq!(pts[0].0, t("2023-01-01T01:00:00Z"));
        assert_eq!(f.kind(), "perfect");
    }
}
