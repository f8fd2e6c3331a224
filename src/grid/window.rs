//! The "best time to run" primitive (as in the Carbon Aware SDK): the start
//! that minimises the mean intensity of a fixed-length run.
//!
//! Works on any [`Trace`] — actuals, a noisy forecast, or a published
//! forecast turned into a trace with [`Forecast::forecast_trace`] or
//! [`Trace::from_points`]. Every candidate costs O(1) thanks to the trace's
//! prefix sums, so a search is linear in the number of candidates.
//!
//! [`Forecast::forecast_trace`]: super::Forecast::forecast_trace

use chrono::{DateTime, TimeDelta, Utc};

use super::trace::{duration_ns, ns_to_hours, Trace};

/// A candidate run window and its mean intensity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    /// Start of the run.
    pub start: DateTime<Utc>,
    /// End of the run (exclusive): `start + duration`.
    pub end: DateTime<Utc>,
    /// Time-weighted mean intensity over `[start, end)` in gCO₂/kWh.
    pub mean_intensity: f64,
}

impl Window {
    /// Emissions in grams of a constant `power_w`-watt load over the window.
    pub fn emissions_g(&self, power_w: f64) -> f64 {
        let hours = ns_to_hours(duration_ns(self.end - self.start));
        self.mean_intensity * hours * power_w / 1000.0
    }
}

/// Two means closer than this (relative) are a tie, so float noise in the
/// prefix sums cannot make a later start win over an equally good earlier one.
const TIE_TOLERANCE: f64 = 1e-9;

/// The start `s` in `[earliest_start, latest_start]` minimising the mean intensity over
/// `[s, s + duration)`.
///
/// Candidates are `earliest_start` itself and every grid instant
/// `trace.start() + k × step` after it (use `trace.resolution()` as `step` for the
/// interval boundaries); only candidates whose whole run lies inside the trace count.
/// Ties (within a relative 1e-9) go to the earliest start. Returns `None` if
/// `duration` or `step` is not positive, `latest_start < earliest_start`, or no
/// candidate fits in the trace.
///
/// When `duration` is a multiple of the resolution and `step` equals it, the grid
/// candidates plus `earliest_start` contain the exact optimum over all real-valued starts
/// in the range, except possibly `latest_start` when it is off the grid.
pub fn best_window(
    trace: &Trace,
    earliest_start: DateTime<Utc>,
    latest_start: DateTime<Utc>,
    duration: TimeDelta,
    step: TimeDelta,
) -> Option<Window> {
    let d = duration_ns(duration);
    let step_ns = duration_ns(step);
    if d <= 0 || step_ns <= 0 || latest_start < earliest_start {
        return None;
    }
    let hours = ns_to_hours(d);
    let e = trace.offset_ns(earliest_start);
    let last_ok = trace.offset_ns(latest_start).min(trace.span_ns() - d);

    let mut best: Option<(i128, f64)> = None;
    let mut consider = |s: i128| {
        let mean = (trace.cumulative(s + d) - trace.cumulative(s)) / hours;
        let better = match best {
            None => true,
            Some((_, m)) => mean < m - TIE_TOLERANCE * m.abs().max(1.0),
        };
        if better {
            best = Some((s, mean));
        }
    };

    if e >= 0 && e <= last_ok {
        consider(e);
    }
    let first_k = if e < 0 { 0 } else { e / step_ns + 1 };
    let mut s = first_k * step_ns;
    while s <= last_ok {
        consider(s);
        s += step_ns;
    }

    let (s, mean) = best?;
    let start = trace.start() + TimeDelta::nanoseconds(i64::try_from(s).ok()?);
    Some(Window {
        start,
        end: start + duration,
        mean_intensity: mean,
    })
}

/// Mean intensity over `[tᵢ, tᵢ + duration)` for every interval start `tᵢ` whose run
/// fits in the trace, in time order. Empty if `duration` is not positive.
pub fn rolling_means(trace: &Trace, duration: TimeDelta) -> Vec<(DateTime<Utc>, f64)> {
    let d = duration_ns(duration);
    if d <= 0 {
        return Vec::new();
    }
    let hours = ns_to_hours(d);
    let res = i128::from(trace.resolution_ns());
    let last_ok = trace.span_ns() - d;
    (0..trace.len())
        .map_while(|i| {
            let s = i as i128 * res;
            (s <= last_ok).then(|| {
                let mean = (trace.cumulative(s + d) - trace.cumulative(s)) / hours;
                (trace.time_of(i), mean)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// 0..24 h, V-shaped: 240, 220, …, 20 (hour 11), 0 (hour 12), 20, … 220 (hour 23).
    fn v_shape() -> Trace {
        let values = (0..24)
            .map(|h: i32| f64::from((h - 12).abs() * 20))
            .collect();
        Trace::from_values("v", t("2023-01-01T00:00:00Z"), TimeDelta::hours(1), values).unwrap()
    }

    #[test]
    fn best_window_on_a_v_shaped_trace_finds_the_trough() {
        let tr = v_shape();
        let w = best_window(
            &tr,
            tr.start(),
            tr.end(),
            TimeDelta::hours(3),
            TimeDelta::hours(1),
        )
        .unwrap();
        assert_eq!(w.start, t("2023-01-01T11:00:00Z"));
        assert_eq!(w.end, t("2023-01-01T14:00:00Z"));
        assert!((w.mean_intensity - 40.0 / 3.0).abs() < 1e-9);
        assert!((w.emissions_g(1000.0) - 40.0).abs() < 1e-9);
    }

    #[test]
    fn best_window_respects_the_latest_start() {
        let tr = v_shape();
        let w = best_window(
            &tr,
            t("2023-01-01T02:00:00Z"),
            t("2023-01-01T06:00:00Z"),
            TimeDelta::hours(2),
            TimeDelta::hours(1),
        )
        .unwrap();
        assert_eq!(w.start, t("2023-01-01T06:00:00Z"));
        assert!((w.mean_intensity - 110.0).abs() < 1e-9);
    }

    #[test]
    fn best_window_considers_an_off_grid_earliest_start() {
        let tr = v_shape();
        // Earliest 11:30 with 1 h run: 11:30 → mean 10; 12:00 → 0 (better); 12:30 not a candidate.
        let w = best_window(
            &tr,
            t("2023-01-01T11:30:00Z"),
            t("2023-01-01T11:45:00Z"),
            TimeDelta::hours(1),
            TimeDelta::hours(1),
        )
        .unwrap();
        assert_eq!(w.start, t("2023-01-01T11:30:00Z"));
        assert!((w.mean_intensity - 10.0).abs() < 1e-9);
    }

    #[test]
    fn ties_go_to_the_earliest_start() {
        let flat = Trace::from_values(
            "flat",
            t("2023-01-01T00:00:00Z"),
            TimeDelta::minutes(15),
            vec![123.45; 96],
        )
        .unwrap();
        let w = best_window(
            &flat,
            t("2023-01-01T00:05:00Z"),
            t("2023-01-01T20:00:00Z"),
            TimeDelta::minutes(90),
            TimeDelta::minutes(15),
        )
        .unwrap();
        assert_eq!(w.start, t("2023-01-01T00:05:00Z"));
    }

    #[test]
    fn best_window_is_none_when_nothing_fits() {
        let tr = v_shape();
        let too_long = best_window(
            &tr,
            tr.start(),
            tr.end(),
            TimeDelta::hours(25),
            TimeDelta::hours(1),
        );
        assert!(too_long.is_none());
        let inverted = best_window(
            &tr,
            tr.end(),
            tr.start(),
            TimeDelta::hours(1),
            TimeDelta::hours(1),
        );
        assert!(inverted.is_none());
        let after = best_window(
            &tr,
            t("2023-01-02T00:00:00Z"),
            t("2023-01-03T00:00:00Z"),
            TimeDelta::hours(1),
            TimeDelta::hours(1),
        );
        assert!(after.is_none());
    }

    #[test]
    fn best_window_matches_brute_force_on_a_real_trace() {
        let tr = crate::grid::Region::Gb.trace().unwrap();
        let from = t("2023-06-01T00:00:00Z");
        let to = t("2023-06-08T00:00:00Z");
        let dur = TimeDelta::hours(5);
        let w = best_window(tr, from, to, dur, TimeDelta::hours(1)).unwrap();
        let mut brute: Option<(DateTime<Utc>, f64)> = None;
        let mut s = from;
        while s <= to {
            let m = tr.mean_between(s, s + dur).unwrap();
            if brute.is_none_or(|(_, b)| m < b - 1e-9) {
                brute = Some((s, m));
            }
            s += TimeDelta::hours(1);
        }
        let (bs, bm) = brute.unwrap();
        assert_eq!(w.start, bs);
        assert!((w.mean_intensity - bm).abs() < 1e-9);
    }

    #[test]
    fn rolling_means_cover_every_fitting_start() {
        let tr = v_shape();
        let r = rolling_means(&tr, TimeDelta::hours(2));
        assert_eq!(r.len(), 23);
        assert_eq!(r[0].0, tr.start());
        assert!((r[0].1 - 230.0).abs() < 1e-9);
        assert!((r[11].1 - 10.0).abs() < 1e-9);
        assert!(rolling_means(&tr, TimeDelta::zero()).is_empty());
    }
}
