//! [`GridSignal`]: the carbon-intensity source of the live service.
//!
//! Either a fixed value, or a recorded trace replayed on the wall clock. Two
//! [`ClockMapping`]s place a wall-clock instant on the trace:
//!
//! * [`ClockMapping::Calendar`] — same month, day and time of day in the trace's
//!   (start) year; 29 February maps to 28 February in non-leap trace years. If that
//!   instant is outside the trace (short traces), it is wrapped cyclically:
//!   `start + (c − start) mod span`.
//! * [`ClockMapping::Offset`] — `trace_start + (t − anchor)`, wrapped the same way;
//!   the natural choice for short traces such as `gb-neso`.

use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};

use super::error::GridError;
use super::forecast::Forecast;
use super::region::Region;
use super::trace::{duration_ns, ns_to_hours, Trace};

/// How wall-clock time is placed on a replayed trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockMapping {
    /// Same month/day/time-of-day in the trace's year, wrapping when outside the trace.
    Calendar,
    /// `trace_start + (t − anchor)`, wrapping cyclically.
    Offset {
        /// The wall-clock instant that maps to the trace start.
        anchor: DateTime<Utc>,
    },
}

/// Source of grid carbon intensity (gCO₂/kWh) for the live service.
#[derive(Clone, Debug)]
pub enum GridSignal {
    /// A constant intensity.
    Fixed(f64),
    /// A recorded trace replayed on the wall clock.
    Trace {
        /// The actual intensities (used for accounting).
        trace: Arc<Trace>,
        /// How wall-clock time maps onto the trace.
        clock: ClockMapping,
        /// What the scheduler may know about the future, in trace time.
        forecast: Forecast,
    },
}

impl GridSignal {
    /// A replayed trace with a perfect forecast.
    pub fn replay(trace: Arc<Trace>, clock: ClockMapping) -> Self {
        let forecast = Forecast::Perfect(Arc::clone(&trace));
        GridSignal::Trace {
            trace,
            clock,
            forecast,
        }
    }

    /// A shipped region replayed on the wall clock; its forecast is the published one when
    /// the region ships forecasts (`gb-neso`), perfect otherwise.
    pub fn from_region(region: Region, clock: ClockMapping) -> Result<Self, GridError> {
        let trace = region.shared_trace()?;
        let forecast = match region.shared_published_forecasts()? {
            Some(published) => Forecast::Published(published),
            None => Forecast::Perfect(Arc::clone(&trace)),
        };
        Ok(GridSignal::Trace {
            trace,
            clock,
            forecast,
        })
    }

    /// Replaces the forecast model (no effect on [`GridSignal::Fixed`]).
    pub fn with_forecast(self, forecast: Forecast) -> Self {
        match self {
            GridSignal::Fixed(v) => GridSignal::Fixed(v),
            GridSignal::Trace { trace, clock, .. } => GridSignal::Trace {
                trace,
                clock,
                forecast,
            },
        }
    }

    /// The forecast model, if the signal is a replayed trace.
    pub fn forecast_model(&self) -> Option<&Forecast> {
        match self {
            GridSignal::Fixed(_) => None,
            GridSignal::Trace { forecast, .. } => Some(forecast),
        }
    }

    /// The trace instant that `wall` maps to (`None` for a fixed signal).
    pub fn trace_time(&self, wall: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            GridSignal::Fixed(_) => None,
            GridSignal::Trace { trace, clock, .. } => Some(map_clock(trace, *clock, wall)),
        }
    }

    /// Actual intensity (gCO₂/kWh) at wall-clock time `wall`.
    pub fn intensity_at(&self, wall: DateTime<Utc>) -> f64 {
        match self {
            GridSignal::Fixed(v) => *v,
            GridSignal::Trace { trace, clock, .. } => {
                trace.intensity_at_wrapped(map_clock(trace, *clock, wall))
            }
        }
    }

    /// Emissions in grams of a constant `power_w`-watt load over wall-clock `[a, b)`
    /// (zero if `b <= a`). The range is mapped as one contiguous stretch starting at the
    /// trace instant of `a`, wrapping at the end of the trace.
    pub fn emissions_g(&self, power_w: f64, a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
        let len = (b - a).max(TimeDelta::zero());
        let integral = match self {
            GridSignal::Fixed(v) => v * ns_to_hours(duration_ns(len)),
            GridSignal::Trace { trace, clock, .. } => {
                trace.integral_wrapped(map_clock(trace, *clock, a), len)
            }
        };
        integral * power_w / 1000.0
    }

    /// Forecast known at wall-clock `now` for `[now, now + horizon)`, as
    /// `(wall-clock interval start, gCO₂/kWh)`; the first point is the interval in
    /// progress (it may start before `now`). Empty if `horizon` is not positive.
    ///
    /// * `Fixed`: hourly points from the start of the current hour.
    /// * Perfect/noisy forecasts: the series from the mapped instant, wrapping at its end.
    /// * Published forecasts: the latest issue at the mapped instant (no wrap; its last
    ///   value is held beyond its horizon). Before the first issue, a persistence
    ///   forecast: the current actual intensity on the trace's grid.
    pub fn forecast(&self, now: DateTime<Utc>, horizon: TimeDelta) -> Vec<(DateTime<Utc>, f64)> {
        let h = duration_ns(horizon);
        if h <= 0 {
            return Vec::new();
        }
        match self {
            GridSignal::Fixed(v) => {
                let secs = now.timestamp();
                let hour_start =
                    DateTime::from_timestamp(secs - secs.rem_euclid(3600), 0).unwrap_or(now);
                grid_points(hour_start, 3_600_000_000_000, now, h, |_| *v)
            }
            GridSignal::Trace {
                trace,
                clock,
                forecast,
            } => {
                let tn = map_clock(trace, *clock, now);
                if let Some(series) = forecast.series() {
                    return wrapped_points(series, tn, now, h);
                }
                let to = tn
                    .checked_add_signed(horizon)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC);
                let points = forecast.forecast_points(tn, tn, to);
                if points.is_empty() {
                    let current = trace.intensity_at_wrapped(tn);
                    return wrapped_points(trace, tn, now, h)
                        .into_iter()
                        .map(|(t, _)| (t, current))
                        .collect();
                }
                points
                    .into_iter()
                    .filter_map(|(t, v)| now.checked_add_signed(t - tn).map(|w| (w, v)))
                    .collect()
            }
        }
    }
}

/// Wall-clock instant → trace instant.
fn map_clock(trace: &Trace, clock: ClockMapping, wall: DateTime<Utc>) -> DateTime<Utc> {
    match clock {
        ClockMapping::Offset { anchor } => trace.wrap_offset(wall - anchor),
        ClockMapping::Calendar => {
            let year = trace.start().year();
            let date = NaiveDate::from_ymd_opt(year, wall.month(), wall.day())
                .or_else(|| NaiveDate::from_ymd_opt(year, wall.month(), 28));
            match date {
                Some(d) => trace.wrap(d.and_time(wall.time()).and_utc()),
                None => trace.start(),
            }
        }
    }
}

/// Points of `series` from the interval containing `tn` for `h` ns, wrapping cyclically,
/// re-timed so that `tn` lands on `now`.
fn wrapped_points(
    series: &Trace,
    tn: DateTime<Utc>,
    now: DateTime<Utc>,
    h: i128,
) -> Vec<(DateTime<Utc>, f64)> {
    let res = i128::from(series.resolution_ns());
    let off = series.offset_ns(tn).rem_euclid(series.span_ns());
    let first_ns = i64::try_from(off - off % res).unwrap_or(0);
    let first = now
        .checked_sub_signed(TimeDelta::nanoseconds(
            i64::try_from(off % res).unwrap_or(0),
        ))
        .unwrap_or(now);
    let values = series.values();
    let i0 = usize::try_from(first_ns / series.resolution_ns()).unwrap_or(0);
    grid_points(first, series.resolution_ns(), now, h, |k| {
        values[(i0 + k) % values.len()]
    })
}

/// Points `first + k·step` (k = 0, 1, …) that start before `now + h`, valued by `value(k)`.
fn grid_points(
    first: DateTime<Utc>,
    step_ns: i64,
    now: DateTime<Utc>,
    h: i128,
    value: impl Fn(usize) -> f64,
) -> Vec<(DateTime<Utc>, f64)> {
    let lead = duration_ns(now - first);
    let mut out = Vec::new();
    let mut k: usize = 0;
    while (k as i128) * i128::from(step_ns) - lead < h {
        let Some(t) = i64::try_from(k as i128 * i128::from(step_ns))
            .ok()
            .and_then(|ns| first.checked_add_signed(TimeDelta::nanoseconds(ns)))
        else {
            break;
        };
        out.push((t, value(k)));
        k += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::NoisyForecast;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn day() -> Arc<Trace> {
        // 2023-03-01, 24 hourly values 0, 10, …, 230.
        let values = (0..24).map(|h| f64::from(h) * 10.0).collect();
        Arc::new(
            Trace::from_values(
                "day",
                t("2023-03-01T00:00:00Z"),
                TimeDelta::hours(1),
                values,
            )
            .unwrap(),
        )
    }

    #[test]
    fn fixed_signal_is_constant_with_hourly_forecast_points() {
        let s = GridSignal::Fixed(200.0);
        assert_eq!(s.intensity_at(t("2031-05-05T05:05:05Z")), 200.0);
        let f = s.forecast(t("2025-01-01T10:20:00Z"), TimeDelta::hours(3));
        assert_eq!(f.len(), 4);
        assert_eq!(f[0], (t("2025-01-01T10:00:00Z"), 200.0));
        assert_eq!(f[3].0, t("2025-01-01T13:00:00Z"));
        let g = s.emissions_g(500.0, t("2025-01-01T00:00:00Z"), t("2025-01-01T02:00:00Z"));
        assert!((g - 200.0).abs() < 1e-9);
    }

    #[test]
    fn calendar_mapping_uses_the_same_date_in_the_trace_year() {
        let s = GridSignal::from_region(Region::Gb, ClockMapping::Calendar).unwrap();
        let wall = t("2026-06-15T13:45:00Z");
        assert_eq!(s.trace_time(wall), Some(t("2023-06-15T13:45:00Z")));
        let tr = Region::Gb.trace().unwrap();
        assert_eq!(
            Some(s.intensity_at(wall)),
            tr.intensity_at(t("2023-06-15T13:00:00Z"))
        );
        // 29 February falls back to 28 February in the non-leap trace year.
        assert_eq!(
            s.trace_time(t("2028-02-29T06:00:00Z")),
            Some(t("2023-02-28T06:00:00Z"))
        );
    }

    #[test]
    fn wall_clock_mapping_wraps_beyond_the_trace_end() {
        // A one-day trace: any calendar date outside it wraps by whole days.
        let s = GridSignal::replay(day(), ClockMapping::Calendar);
        assert_eq!(
            s.trace_time(t("2030-07-04T05:30:00Z")),
            Some(t("2023-03-01T05:30:00Z"))
        );
        assert_eq!(s.intensity_at(t("2030-07-04T05:30:00Z")), 50.0);
        // Offset mode: anchor maps to the start, +25 h wraps to 01:00.
        let anchor = t("2025-01-01T12:00:00Z");
        let o = GridSignal::replay(day(), ClockMapping::Offset { anchor });
        assert_eq!(o.trace_time(anchor), Some(t("2023-03-01T00:00:00Z")));
        assert_eq!(
            o.trace_time(anchor + TimeDelta::hours(25)),
            Some(t("2023-03-01T01:00:00Z"))
        );
        assert_eq!(
            o.trace_time(anchor - TimeDelta::hours(1)),
            Some(t("2023-03-01T23:00:00Z"))
        );
        // Emissions across the wrap: 23:00–01:00 = 230 + 0, at 1 kW = 230 g.
        let g = o.emissions_g(
            1000.0,
            anchor - TimeDelta::hours(1),
            anchor + TimeDelta::hours(1),
        );
        assert!((g - 230.0).abs() < 1e-9);
    }

    #[test]
    fn trace_forecast_is_retimed_to_the_wall_clock_and_wraps() {
        let anchor = t("2025-01-01T00:00:00Z");
        let s = GridSignal::replay(day(), ClockMapping::Offset { anchor });
        let now = t("2025-01-01T22:30:00Z");
        let f = s.forecast(now, TimeDelta::hours(3));
        let values: Vec<f64> = f.iter().map(|p| p.1).collect();
        assert_eq!(values, vec![220.0, 230.0, 0.0, 10.0]);
        assert_eq!(f[0].0, t("2025-01-01T22:00:00Z"));
        assert_eq!(f[3].0, t("2025-01-02T01:00:00Z"));
        assert!(s.forecast(now, TimeDelta::zero()).is_empty());
    }

    #[test]
    fn noisy_forecast_on_a_signal_uses_the_noisy_series() {
        let anchor = t("2025-01-01T00:00:00Z");
        let noisy = NoisyForecast::new(day(), 0.5, 9).unwrap();
        let expected = noisy.trace().values()[..2].to_vec();
        let s = GridSignal::replay(day(), ClockMapping::Offset { anchor })
            .with_forecast(Forecast::Noisy(noisy));
        let f = s.forecast(anchor, TimeDelta::hours(2));
        assert_eq!(f.iter().map(|p| p.1).collect::<Vec<_>>(), expected);
        // Accounting still uses actuals.
        assert_eq!(s.intensity_at(anchor + TimeDelta::hours(1)), 10.0);
    }

    #[test]
    fn gb_neso_signal_forecasts_from_the_latest_published_issue() {
        let anchor = t("2025-01-01T00:00:00Z");
        let s = GridSignal::from_region(Region::GbNeso, ClockMapping::Offset { anchor }).unwrap();
        assert_eq!(s.forecast_model().map(Forecast::kind), Some("published"));
        // Trace starts 2023-03-14T13:00; the first issue is at 18:01.
        let early = s.forecast(anchor, TimeDelta::hours(2));
        let current = s.intensity_at(anchor);
        assert_eq!(early.len(), 4);
        assert!(early.iter().all(|&(_, v)| v == current));
        // 5 h 30 min later = 18:30 trace time: the 18:01 issue, retimed to the wall clock.
        let now = anchor + TimeDelta::minutes(330);
        let f = s.forecast(now, TimeDelta::hours(1));
        let issue = Region::GbNeso
            .published_forecasts()
            .unwrap()
            .unwrap()
            .latest_at(t("2023-03-14T18:30:00Z"))
            .unwrap();
        assert_eq!(issue.issued_at, t("2023-03-14T18:01:00Z"));
        assert_eq!(f.len(), 2);
        assert_eq!(f[0], (now, issue.trace.values()[1]));
        assert_eq!(f[1].1, issue.trace.values()[2]);
    }
}
