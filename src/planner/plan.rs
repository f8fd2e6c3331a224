//! [`plan_start`]: the start in `[now, latest_start]` with the lowest mean forecast intensity
//! over the run, among the starts that fit the [`CapacityPlan`].
//!
//! Candidates are `now`, every slot boundary of the capacity plan after `now`, and
//! `latest_start` itself. A candidate other than `now` counts only if its whole run lies
//! inside the forecast (no guessing beyond the horizon); `now` is always a candidate, with the
//! forecast's first or last value held where the run leaves the forecast. Ties (within a
//! relative 1e-9) go to the earliest start, so a flat forecast starts now: it saves nothing
//! and harms nothing.
//!
//! Forecast error: a start other than now must be forecast greener than now by more than
//! [`CONFIDENCE_Z`] standard errors of the difference of the two means, given the plan's
//! [`forecast_error`](CapacityPlan::forecast_error) per point (a run covering `n` points has a
//! mean whose error is `σ/√n`, and the difference of two such means `σ·√(2/n)`). On a day whose
//! forecast differences are within the noise, jobs start now: holding them would gain nothing in
//! expectation and lose to running at submission whenever the noise misleads.
//!
//! Capacity: only candidates that fit the plan *and* are forecast no dirtier than starting
//! now qualify; a job is never deferred into a dirtier hour just because the greener ones are
//! full. If none qualifies, the plan's [`Overflow`] rule decides (by default: start now, which
//! in overload leaves the job to the workers' queue as if there were no planner), and the plan
//! is flagged `over_capacity`.
//!
//! Cost: one pass over the forecast intervals and the capacity slots of the window, O(1) per
//! candidate (local prefix sums of the forecast, a prefix count of full slots).

use chrono::{DateTime, TimeDelta, Utc};

use super::capacity_plan::{ceil_div, epoch_ns, CapacityPlan, Overflow};
use crate::events::ForecastWindow;
use crate::grid::Trace;

/// Nanoseconds in one hour.
const NS_PER_HOUR: f64 = 3_600_000_000_000.0;

/// Two means closer than this (relative) are a tie and go to the earlier start.
const TIE_TOLERANCE: f64 = 1e-9;

/// How many standard errors of the forecast a later start must beat now by.
pub const CONFIDENCE_Z: f64 = 2.0;

/// The forecast saving a start other than now needs, gCO2/kWh, for a run of `d_ns` on
/// `forecast` whose points err by `std_dev`.
fn required_gain(forecast: &Trace, d_ns: i64, std_dev: f64) -> f64 {
    if std_dev <= 0.0 {
        return 0.0;
    }
    let res_ns = forecast.resolution().num_nanoseconds().unwrap_or(1).max(1);
    let points = (d_ns as f64 / res_ns as f64).max(1.0);
    CONFIDENCE_Z * std_dev * (2.0 / points).sqrt()
}

/// A planned start and what the forecast expects of it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plan {
    /// When the job should start.
    pub start: DateTime<Utc>,
    /// When it would finish: `start + duration`.
    pub end: DateTime<Utc>,
    /// Mean forecast intensity over `[start, end)`, gCO2/kWh.
    pub expected_intensity: f64,
    /// Mean forecast intensity had it started now, gCO2/kWh.
    pub intensity_if_now: f64,
    /// First start considered (`now`).
    pub window_from: DateTime<Utc>,
    /// Last start considered (`max(now, latest_start)`).
    pub window_to: DateTime<Utc>,
    /// `true` if no start at least as green as now fitted the capacity, so the start follows
    /// the plan's [`Overflow`] rule.
    pub over_capacity: bool,
}

impl Plan {
    /// Whether the job waits (its start lies after `now`).
    pub fn defers(&self) -> bool {
        self.start > self.window_from
    }

    /// The planned run's length.
    pub fn duration(&self) -> TimeDelta {
        self.end - self.start
    }

    /// Forecast saving against starting now, percent (0 when the forecast at now is 0).
    pub fn expected_saving_pct(&self) -> f64 {
        if self.intensity_if_now > 0.0 {
            (1.0 - self.expected_intensity / self.intensity_if_now) * 100.0
        } else {
            0.0
        }
    }

    /// The plan in the event schema's Carbon Aware SDK vocabulary.
    pub fn forecast_window(&self) -> ForecastWindow {
        ForecastWindow {
            from: self.window_from,
            to: self.window_to,
            best_start: self.start,
            expected_intensity: self.expected_intensity,
            intensity_if_now: self.intensity_if_now,
        }
    }
}

/// The best start for a run of `duration` that may start from `now` until `latest_start`,
/// deciding on `forecast` and keeping within the capacity of `plan` (which is not changed).
///
/// Returns `now` when `latest_start <= now`. When no start at least as green as now fits the
/// capacity, follows the plan's [`Overflow`] rule and sets `over_capacity`. `None` only when
/// `duration` is not positive or the times lie outside the years 1677–2262.
pub fn plan_start(
    forecast: &Trace,
    now: DateTime<Utc>,
    latest_start: DateTime<Utc>,
    duration: TimeDelta,
    plan: &CapacityPlan,
) -> Option<Plan> {
    let d = duration.num_nanoseconds().filter(|&d| d > 0)?;
    let now_end = now.checked_add_signed(duration)?;
    let now_mean = extended_mean(forecast, now, now_end);
    let mut choice = Choice::new(now_mean, required_gain(forecast, d, plan.forecast_error()));
    choice.consider(now, now_mean, plan.fits(now, now_end));

    if latest_start > now {
        candidates_after_now(forecast, now, latest_start, d, plan, &mut choice);
    }
    let (start, mean, over_capacity) = match (choice.fitting, plan.overflow()) {
        (Some((s, m)), _) => (s, m, false),
        (None, Overflow::StartNow) => (now, now_mean, true),
        (None, Overflow::BestIgnoringCapacity) => {
            let (s, m) = choice.any.unwrap_or((now, now_mean));
            (s, m, true)
        }
    };
    Some(Plan {
        start,
        end: start.checked_add_signed(duration)?,
        expected_intensity: mean,
        intensity_if_now: now_mean,
        window_from: now,
        window_to: latest_start.max(now),
        over_capacity,
    })
}

/// Like [`plan_start`], and reserves the chosen run in `plan`.
pub fn schedule(
    forecast: &Trace,
    now: DateTime<Utc>,
    latest_start: DateTime<Utc>,
    duration: TimeDelta,
    plan: &mut CapacityPlan,
) -> Option<Plan> {
    let p = plan_start(forecast, now, latest_start, duration, plan)?;
    plan.reserve(p.start, p.end);
    Some(p)
}

/// Plans a reserved job again, e.g. with a newer forecast: releases `previous`, plans from
/// `now` with the same duration, and reserves the new run. If no plan comes back, `previous`
/// stays reserved and `None` is returned.
pub fn replan(
    forecast: &Trace,
    now: DateTime<Utc>,
    latest_start: DateTime<Utc>,
    previous: &Plan,
    plan: &mut CapacityPlan,
) -> Option<Plan> {
    plan.release(previous.start, previous.end);
    match schedule(forecast, now, latest_start, previous.duration(), plan) {
        Some(p) => Some(p),
        None => {
            plan.reserve(previous.start, previous.end);
            None
        }
    }
}

/// The running best: among qualifying starts (fit, no dirtier than now), and among all. Now
/// is ranked `gain` lower than its mean: a later start must beat it by that much.
struct Choice {
    now_mean: f64,
    gain: f64,
    now: Option<DateTime<Utc>>,
    fitting: Option<(DateTime<Utc>, f64)>,
    any: Option<(DateTime<Utc>, f64)>,
}

/// `mean` is lower than `best` beyond the tie tolerance.
fn lower(mean: f64, best: f64) -> bool {
    mean < best - TIE_TOLERANCE * best.abs().max(1.0)
}

impl Choice {
    fn new(now_mean: f64, gain: f64) -> Self {
        Self {
            now_mean,
            gain,
            now: None,
            fitting: None,
            any: None,
        }
    }

    /// The mean `start` is ranked by.
    fn score(&self, (start, mean): (DateTime<Utc>, f64)) -> f64 {
        if Some(start) == self.now {
            mean - self.gain
        } else {
            mean
        }
    }

    /// Offers a candidate; now must come first, the others in time order (ties keep the
    /// earlier one).
    fn consider(&mut self, start: DateTime<Utc>, mean: f64, fits: bool) {
        let now = *self.now.get_or_insert(start);
        let score = self.score((start, mean));
        if self.any.is_none_or(|best| lower(score, self.score(best))) {
            self.any = Some((start, mean));
        }
        let no_dirtier = start == now || !lower(self.now_mean - self.gain, mean);
        if fits
            && no_dirtier
            && self
                .fitting
                .is_none_or(|best| lower(score, self.score(best)))
        {
            self.fitting = Some((start, mean));
        }
    }
}

/// Offers the slot boundaries in `(now, latest_start]` and `latest_start` itself, in time
/// order, for runs of `d` ns that lie wholly inside the forecast.
fn candidates_after_now(
    forecast: &Trace,
    now: DateTime<Utc>,
    latest_start: DateTime<Utc>,
    d: i64,
    plan: &CapacityPlan,
    choice: &mut Choice,
) {
    let Some(series) = Series::of(forecast) else {
        return;
    };
    let now_ns = epoch_ns(now);
    let latest_ns = epoch_ns(latest_start);
    let lo = now_ns.max(series.start_ns);
    let hi = latest_ns.min(series.end_ns.saturating_sub(d));
    if lo > hi {
        return;
    }
    let slot = plan.slot_ns();
    let k_first = (now_ns.div_euclid(slot) + 1).max(ceil_div(lo, slot));
    let k_last = hi.div_euclid(slot);
    let mut latest_on_grid = false;
    if k_first <= k_last {
        // An aligned run of d ns covers m − 1 whole slots and `last` ns of the m-th.
        let m = ceil_div(d, slot);
        let last = d - (m - 1) * slot;
        let limit = plan.limit_ns();
        let mut no_room = Vec::new();
        plan.no_room_prefix(k_first, k_last + m - 1, &mut no_room);
        let window = series.window(k_first * slot, k_last * slot + d);
        let hours = d as f64 / NS_PER_HOUR;
        for k in k_first..=k_last {
            let s = k * slot;
            let mean = window.integral(s, s + d) / hours;
            let i = (k - k_first) as usize;
            let whole_fit = no_room[i + m as usize - 1] == no_room[i];
            let fits = whole_fit && u128::from(plan.reserved_in(k + m - 1)) + last as u128 <= limit;
            choice.consider(DateTime::from_timestamp_nanos(s), mean, fits);
        }
        latest_on_grid = k_last * slot == latest_ns;
    }
    if !latest_on_grid && latest_ns == hi && latest_ns > now_ns {
        let end = latest_start + TimeDelta::nanoseconds(d);
        let mean = extended_mean(forecast, latest_start, end);
        choice.consider(latest_start, mean, plan.fits(latest_start, end));
    }
}

/// Mean forecast over `[a, b)`, holding the first value before the forecast and the last
/// after it; for `a >= b` the value at `a` (held likewise).
fn extended_mean(forecast: &Trace, a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    let values = forecast.values();
    let (first, last) = match (values.first(), values.last()) {
        (Some(&f), Some(&l)) => (f, l),
        _ => return 0.0,
    };
    let (fs, fe) = (forecast.start(), forecast.end());
    if b <= a {
        return forecast
            .intensity_at(a)
            .unwrap_or(if a < fs { first } else { last });
    }
    let ns = |x: TimeDelta| x.num_nanoseconds().unwrap_or(i64::MAX).max(0) as f64;
    let before = ns(b.min(fs) - a) * first;
    let after = ns(b - a.max(fe)) * last;
    let (x, y) = (a.max(fs), b.min(fe));
    let inside = if x < y {
        forecast.integral(x, y).unwrap_or(0.0) * NS_PER_HOUR
    } else {
        0.0
    };
    (before + inside + after) / ns(b - a)
}

/// A forecast trace in epoch nanoseconds.
struct Series<'a> {
    start_ns: i64,
    end_ns: i64,
    res_ns: i64,
    values: &'a [f64],
}

impl<'a> Series<'a> {
    fn of(trace: &'a Trace) -> Option<Self> {
        let res_ns = trace.resolution().num_nanoseconds().filter(|&r| r > 0)?;
        Some(Self {
            start_ns: epoch_ns(trace.start()),
            end_ns: epoch_ns(trace.end()),
            res_ns,
            values: trace.values(),
        })
    }

    /// Prefix sums over the intervals intersecting `[a, b)` (`start_ns <= a <= b <= end_ns`).
    fn window(&self, a: i64, b: i64) -> Window<'a> {
        let i0 = ((a - self.start_ns) / self.res_ns) as usize;
        let i1 = (ceil_div(b - self.start_ns, self.res_ns) as usize).min(self.values.len());
        let step_h = self.res_ns as f64 / NS_PER_HOUR;
        let mut prefix = Vec::with_capacity(i1 - i0 + 1);
        let mut acc = 0.0;
        prefix.push(acc);
        for v in &self.values[i0..i1] {
            acc += v * step_h;
            prefix.push(acc);
        }
        Window {
            origin_ns: self.start_ns + i0 as i64 * self.res_ns,
            res_ns: self.res_ns,
            values: &self.values[i0..i1],
            prefix,
        }
    }
}

/// Local prefix sums of a stretch of the forecast.
struct Window<'a> {
    origin_ns: i64,
    res_ns: i64,
    values: &'a [f64],
    prefix: Vec<f64>,
}

impl Window<'_> {
    /// ∫ forecast over `[origin, t)` in g·h/kWh.
    fn cumulative(&self, t: i64) -> f64 {
        let off = t - self.origin_ns;
        let i = (off / self.res_ns) as usize;
        match self.values.get(i) {
            Some(v) => self.prefix[i] + v * ((off - i as i64 * self.res_ns) as f64 / NS_PER_HOUR),
            None => self.prefix[self.values.len()],
        }
    }

    /// ∫ forecast over `[a, b)` in g·h/kWh.
    fn integral(&self, a: i64, b: i64) -> f64 {
        self.cumulative(b) - self.cumulative(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Hourly values from midnight 2023-03-14.
    fn hourly(values: &[f64]) -> Trace {
        Trace::from_values(
            "test",
            t("2023-03-14T00:00:00Z"),
            TimeDelta::hours(1),
            values.to_vec(),
        )
        .unwrap()
    }

    /// 300 at midnight falling by 25 an hour to 50 at 10:00, then rising again.
    fn v_shape() -> Trace {
        let v: Vec<f64> = (0..24)
            .map(|h| 50.0 + 25.0 * (h as f64 - 10.0).abs())
            .collect();
        hourly(&v)
    }

    fn plan(capacity: u32) -> CapacityPlan {
        CapacityPlan::new(TimeDelta::minutes(15), capacity).unwrap()
    }

    #[test]
    fn on_a_v_shaped_forecast_the_job_starts_in_the_trough() {
        // Given a V-shaped forecast with its minimum at 10:00–11:00 and a free plan
        let f = v_shape();
        // When a one-hour job may start from 01:00 until 20:00
        let p = plan_start(
            &f,
            t("2023-03-14T01:00:00Z"),
            t("2023-03-14T20:00:00Z"),
            TimeDelta::hours(1),
            &plan(4),
        )
        .unwrap();
        // Then it starts at 10:00 and expects the trough's 50 g/kWh
        assert_eq!(p.start, t("2023-03-14T10:00:00Z"));
        assert_eq!(p.end, t("2023-03-14T11:00:00Z"));
        assert!((p.expected_intensity - 50.0).abs() < 1e-9);
        assert!((p.intensity_if_now - 275.0).abs() < 1e-9);
        assert!(p.defers() && !p.over_capacity);
        assert!((p.expected_saving_pct() - (1.0 - 50.0 / 275.0) * 100.0).abs() < 1e-9);
        let w = p.forecast_window();
        assert_eq!(
            (w.from, w.to, w.best_start),
            (p.window_from, p.window_to, p.start)
        );
    }

    #[test]
    fn with_capacity_one_two_identical_jobs_do_not_overlap() {
        // Given one worker and a V-shaped forecast
        let f = v_shape();
        let mut cap = plan(1);
        let (now, latest) = (t("2023-03-14T01:00:00Z"), t("2023-03-14T20:00:00Z"));
        // When two identical one-hour jobs are scheduled one after the other
        let a = schedule(&f, now, latest, TimeDelta::hours(1), &mut cap).unwrap();
        let b = schedule(&f, now, latest, TimeDelta::hours(1), &mut cap).unwrap();
        // Then they do not overlap, both fit, and the second takes the earlier of the two
        // next-best hours beside the trough
        assert!(a.end <= b.start || b.end <= a.start, "{a:?} {b:?}");
        assert!(!a.over_capacity && !b.over_capacity);
        assert_eq!(a.start, t("2023-03-14T10:00:00Z"));
        assert_eq!(b.start, t("2023-03-14T09:00:00Z"));
        assert!((b.expected_intensity - 75.0).abs() < 1e-9, "{b:?}");
        // And with two workers they would have shared the trough
        let mut two = plan(2);
        let c = schedule(&f, now, latest, TimeDelta::hours(1), &mut two).unwrap();
        let d = schedule(&f, now, latest, TimeDelta::hours(1), &mut two).unwrap();
        assert_eq!(c.start, d.start);
    }

    #[test]
    fn a_latest_start_at_or_before_now_starts_now() {
        let f = v_shape();
        let now = t("2023-03-14T05:10:00Z");
        for latest in [now, now - TimeDelta::hours(2)] {
            let p = plan_start(&f, now, latest, TimeDelta::hours(1), &plan(1)).unwrap();
            assert_eq!(p.start, now);
            assert_eq!(p.window_to, now);
            assert!(!p.defers());
            assert_eq!(p.expected_intensity, p.intensity_if_now);
        }
    }

    #[test]
    fn a_saving_within_the_forecast_error_does_not_hold_the_job() {
        // Given a forecast 10 g greener two hours from now, for a one-hour run on hourly points
        let mut v = vec![200.0; 24];
        v[12] = 190.0;
        let f = hourly(&v);
        let now = t("2023-03-14T10:00:00Z");
        let latest = t("2023-03-14T20:00:00Z");
        let dur = TimeDelta::hours(1);
        // When the points err by 3 g (2 σ·√2 ≈ 8.5 g < 10 g), the job waits for the greener hour
        let sure = plan(4).with_forecast_error(3.0);
        assert_eq!(
            plan_start(&f, now, latest, dur, &sure).unwrap().start,
            t("2023-03-14T12:00:00Z")
        );
        // And when they err by 4 g (≈ 11.3 g > 10 g), it starts now
        let unsure = plan(4).with_forecast_error(4.0);
        let p = plan_start(&f, now, latest, dur, &unsure).unwrap();
        assert_eq!(p.start, now);
        assert!(!p.over_capacity);
        // And a four-hour run averages the error over four points
        let mut w = vec![200.0; 24];
        w[18] = 190.0;
        let g = hourly(&w);
        let (from, four) = (t("2023-03-14T13:00:00Z"), TimeDelta::hours(4));
        // Without error it waits for a run that takes in 18:00; with 1 g of error per point it
        // needs 2 · 1 · √(2/4) ≈ 1.4 g and 2.5 g is enough; with 2 g it needs 2.8 g and starts now
        assert!(plan_start(&g, from, latest, four, &plan(4))
            .unwrap()
            .defers());
        let one = plan(4).with_forecast_error(1.0);
        assert!(plan_start(&g, from, latest, four, &one).unwrap().defers());
        let two = plan(4).with_forecast_error(2.0);
        assert_eq!(
            plan_start(&g, from, latest, four, &two).unwrap().start,
            from
        );
    }

    #[test]
    fn a_flat_forecast_starts_now() {
        // Given a flat forecast: waiting saves nothing
        let f = hourly(&[200.0; 48]);
        let now = t("2023-03-14T03:07:00Z");
        // When a job may wait up to a day
        let p = plan_start(
            &f,
            now,
            now + TimeDelta::hours(24),
            TimeDelta::minutes(95),
            &plan(2),
        )
        .unwrap();
        // Then it starts now (harms nothing either)
        assert_eq!(p.start, now);
        assert!(!p.defers());
    }

    #[test]
    fn when_nothing_fits_the_job_starts_now_or_takes_the_best_start_ignoring_capacity() {
        // Given a plan whose single worker is busy all day
        let f = v_shape();
        let mut cap = plan(1);
        cap.reserve(t("2023-03-14T00:00:00Z"), t("2023-03-15T00:00:00Z"));
        let (now, latest) = (t("2023-03-14T01:00:00Z"), t("2023-03-14T20:00:00Z"));
        // When a job is planned with the default overflow rule
        let p = plan_start(&f, now, latest, TimeDelta::hours(1), &cap).unwrap();
        // Then it starts now, flagged as over capacity
        assert_eq!(p.start, now);
        assert!(p.over_capacity);
        // And with the other rule it gets the trough, flagged too
        let cap = cap.with_overflow(Overflow::BestIgnoringCapacity);
        let p = plan_start(&f, now, latest, TimeDelta::hours(1), &cap).unwrap();
        assert_eq!(p.start, t("2023-03-14T10:00:00Z"));
        assert!(p.over_capacity);
    }

    #[test]
    fn a_job_is_never_deferred_into_a_dirtier_hour_because_greener_ones_are_full() {
        // Given a V-shaped forecast whose one worker is taken from now until 16:00
        let f = v_shape();
        let mut cap = plan(1);
        let now = t("2023-03-14T08:00:00Z");
        cap.reserve(now, t("2023-03-14T16:00:00Z"));
        // When a job that could wait until 20:00 is planned (now: 100 g/kWh, 16:00+: ≥ 200)
        let p = plan_start(
            &f,
            now,
            t("2023-03-14T20:00:00Z"),
            TimeDelta::hours(1),
            &cap,
        )
        .unwrap();
        // Then it is not sent to 16:00 but starts now, flagged
        assert_eq!(p.start, now);
        assert!(p.over_capacity);
        assert!(p.expected_intensity <= p.intensity_if_now);
    }

    #[test]
    fn runs_beyond_the_forecast_horizon_are_not_candidates() {
        // Given a forecast ending at 12:00 whose last hour is the lowest
        let f = hourly(&[
            300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 10.0,
        ]);
        // When a two-hour job could start as late as 20:00
        let p = plan_start(
            &f,
            t("2023-03-14T01:00:00Z"),
            t("2023-03-14T20:00:00Z"),
            TimeDelta::hours(2),
            &plan(1),
        )
        .unwrap();
        // Then it takes the last run that ends inside the forecast
        assert_eq!(p.start, t("2023-03-14T10:00:00Z"));
        assert!((p.expected_intensity - 155.0).abs() < 1e-9);
        // And a job planned wholly after the forecast starts now, on the held last value
        let late = t("2023-03-14T13:00:00Z");
        let q = plan_start(
            &f,
            late,
            late + TimeDelta::hours(5),
            TimeDelta::hours(1),
            &plan(1),
        )
        .unwrap();
        assert_eq!(q.start, late);
        assert_eq!(q.intensity_if_now, 10.0);
    }

    #[test]
    fn latest_start_off_the_grid_is_a_candidate() {
        // Given a forecast that only falls
        let f = hourly(&(0..24).map(|h| 300.0 - 10.0 * h as f64).collect::<Vec<_>>());
        let latest = t("2023-03-14T07:40:00Z");
        let p = plan_start(
            &f,
            t("2023-03-14T01:00:00Z"),
            latest,
            TimeDelta::hours(1),
            &plan(1),
        )
        .unwrap();
        assert_eq!(p.start, latest);
    }

    #[test]
    fn replan_releases_the_old_reservation_and_follows_the_new_forecast() {
        // Given a job planned into the 10:00 trough on one worker
        let mut cap = plan(1);
        let now = t("2023-03-14T01:00:00Z");
        let latest = t("2023-03-14T20:00:00Z");
        let first = schedule(&v_shape(), now, latest, TimeDelta::hours(1), &mut cap).unwrap();
        assert_eq!(first.start, t("2023-03-14T10:00:00Z"));
        // When a newer forecast moves the trough to 16:00
        let newer: Vec<f64> = (0..24)
            .map(|h| 50.0 + 25.0 * (h as f64 - 16.0).abs())
            .collect();
        let again = replan(
            &hourly(&newer),
            t("2023-03-14T02:00:00Z"),
            latest,
            &first,
            &mut cap,
        )
        .unwrap();
        // Then the job moves there, and the old slot is free again
        assert_eq!(again.start, t("2023-03-14T16:00:00Z"));
        assert!(cap.fits(first.start, first.end));
        assert!(!cap.fits(again.start, again.end));
    }

    #[test]
    fn the_plan_is_the_exact_best_fitting_candidate() {
        // Given a random forecast at 30-min resolution and a random busy plan
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let values: Vec<f64> = (0..200).map(|_| rng.random_range(50.0..400.0)).collect();
        let f = Trace::from_values(
            "r",
            t("2023-03-14T00:00:00Z"),
            TimeDelta::minutes(30),
            values,
        )
        .unwrap();
        for _ in 0..200 {
            let mut cap = plan(2);
            for _ in 0..20 {
                let s = t("2023-03-14T00:00:00Z") + TimeDelta::minutes(rng.random_range(0..5000));
                cap.reserve(s, s + TimeDelta::minutes(rng.random_range(10..300)));
            }
            let now = t("2023-03-14T00:00:00Z") + TimeDelta::seconds(rng.random_range(0..200_000));
            let latest = now + TimeDelta::seconds(rng.random_range(0..100_000));
            let dur = TimeDelta::seconds(rng.random_range(60..30_000));
            // When a start is planned
            let p = plan_start(&f, now, latest, dur, &cap).unwrap();
            // Then a brute-force search over the same candidates finds nothing better that
            // fits and is no dirtier than now
            let mut starts = vec![now];
            let mut s = t("2023-03-14T00:00:00Z") - TimeDelta::days(1);
            while s <= latest {
                if s > now && s + dur <= f.end() && s >= f.start() {
                    starts.push(s);
                }
                s += TimeDelta::minutes(15);
            }
            if latest > now && latest + dur <= f.end() {
                starts.push(latest);
            }
            let mean = |s: DateTime<Utc>| extended_mean(&f, s, s + dur);
            let now_mean = mean(now);
            let qualifying: Vec<_> = starts
                .iter()
                .filter(|&&s| cap.fits(s, s + dur) && mean(s) <= now_mean + 1e-9)
                .collect();
            let best = qualifying
                .iter()
                .map(|&&s| mean(s))
                .fold(now_mean, f64::min);
            assert!(
                (p.expected_intensity - best).abs() < 1e-6,
                "{p:?} vs {best}"
            );
            assert!((mean(p.start) - p.expected_intensity).abs() < 1e-6);
            assert_eq!(p.over_capacity, qualifying.is_empty());
            if !p.over_capacity {
                assert!(cap.fits(p.start, p.end));
            }
            assert!(p.start >= now && p.start <= latest.max(now));
        }
    }
}
