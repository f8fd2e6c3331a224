//! [`Trace`]: a series of actual grid carbon intensities on a uniform time grid.
//!
//! A trace is a step function: point `i` holds the average intensity (gCO₂/kWh)
//! of the interval `[start + i·resolution, start + (i+1)·resolution)`. Lookups
//! are O(1) by index arithmetic and integrals over any range are O(1) thanks to
//! a prefix-sum table built once at load time.
//!
//! CSV format: a header line, then `timestamp,gco2_per_kwh` rows with RFC 3339
//! timestamps marking the **start** of each interval, strictly increasing. The
//! resolution is the smallest gap between consecutive timestamps; every
//! timestamp must lie on that grid. Missing slots are filled by holding the
//! previous value and are reported by [`Trace::filled_slots`].

use std::fmt;
use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};

use super::error::GridError;

/// Nanoseconds in one hour, as `f64` (integrals are in g·h/kWh).
const NS_PER_HOUR: f64 = 3_600_000_000_000.0;

/// One parsed data row: timestamp, value and the line it came from.
pub(super) type Row = (DateTime<Utc>, f64, u64);

/// An actual carbon-intensity series (gCO₂/kWh) on a uniform time grid.
#[derive(Clone)]
pub struct Trace {
    name: String,
    start: DateTime<Utc>,
    resolution_ns: i64,
    values: Vec<f64>,
    /// `prefix[i]` = Σ_{k<i} `values[k]` × resolution in hours (g·h/kWh); `len = n + 1`.
    prefix: Vec<f64>,
    filled: Vec<DateTime<Utc>>,
}

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trace")
            .field("name", &self.name)
            .field("start", &self.start)
            .field("resolution_s", &(self.resolution_ns as f64 / 1e9))
            .field("len", &self.values.len())
            .field("mean", &self.mean())
            .field("filled", &self.filled.len())
            .finish()
    }
}

impl Trace {
    /// Parses a `timestamp,gco2_per_kwh` CSV (with header). `name` is used in error messages.
    pub fn from_csv_str(name: &str, text: &str) -> Result<Self, GridError> {
        let mut rows: Vec<Row> = Vec::new();
        read_records(name, text, 2, |line, fields| {
            let t = parse_timestamp(name, line, fields[0])?;
            let v = parse_value(name, line, fields[1])?;
            push_row(name, &mut rows, (t, v, line))
        })?;
        Self::from_rows(name, &rows)
    }

    /// Reads and parses a CSV file; errors name the path.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, GridError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| GridError::Io {
            file: name.clone(),
            source,
        })?;
        Self::from_csv_str(&name, &text)
    }

    /// Builds a trace from `(interval start, gCO₂/kWh)` points, inferring the
    /// resolution like the CSV parser does (errors use the 1-based point index as "line").
    pub fn from_points(name: &str, points: &[(DateTime<Utc>, f64)]) -> Result<Self, GridError> {
        let mut rows: Vec<Row> = Vec::with_capacity(points.len());
        for (i, &(t, v)) in points.iter().enumerate() {
            let line = i as u64 + 1;
            check_value(name, line, v)?;
            push_row(name, &mut rows, (t, v, line))?;
        }
        Self::from_rows(name, &rows)
    }

    /// Builds a trace from consecutive values starting at `start`, one per `resolution`.
    pub fn from_values(
        name: &str,
        start: DateTime<Utc>,
        resolution: TimeDelta,
        values: Vec<f64>,
    ) -> Result<Self, GridError> {
        let resolution_ns = resolution
            .num_nanoseconds()
            .filter(|&r| r > 0)
            .ok_or_else(|| {
                GridError::InvalidParameter(format!(
                    "{name}: resolution must be positive and shorter than 292 years"
                ))
            })?;
        if values.is_empty() {
            return Err(GridError::Empty {
                file: name.to_owned(),
            });
        }
        for (i, &v) in values.iter().enumerate() {
            check_value(name, i as u64 + 1, v)?;
        }
        Self::build(name.to_owned(), start, resolution_ns, values, Vec::new())
    }

    /// Infers the resolution (smallest positive gap) and builds the trace.
    pub(super) fn from_rows(name: &str, rows: &[Row]) -> Result<Self, GridError> {
        let resolution_ns = infer_resolution_ns(name, rows)?;
        Self::from_rows_with_resolution(name, rows, resolution_ns)
    }

    /// Builds the trace from strictly increasing rows on the given grid, filling gaps.
    pub(super) fn from_rows_with_resolution(
        name: &str,
        rows: &[Row],
        resolution_ns: i64,
    ) -> Result<Self, GridError> {
        let Some(&(start, first, _)) = rows.first() else {
            return Err(GridError::Empty {
                file: name.to_owned(),
            });
        };
        let res = i128::from(resolution_ns);
        let mut values = Vec::with_capacity(rows.len());
        let mut filled = Vec::new();
        values.push(first);
        for &(t, v, line) in &rows[1..] {
            let off = delta_ns(t, start);
            if off % res != 0 {
                return Err(GridError::Misaligned {
                    file: name.to_owned(),
                    line,
                    timestamp: t,
                    resolution_s: resolution_ns as f64 / 1e9,
                    start,
                });
            }
            let idx = usize::try_from(off / res).map_err(|_| {
                GridError::InvalidParameter(format!("{name}:{line}: timestamp out of range"))
            })?;
            // Hold the previous value over missing slots.
            let held = values.last().copied().unwrap_or(v);
            while values.len() < idx {
                filled.push(time_at(start, resolution_ns, values.len()));
                values.push(held);
            }
            values.push(v);
        }
        Self::build(name.to_owned(), start, resolution_ns, values, filled)
    }

    fn build(
        name: String,
        start: DateTime<Utc>,
        resolution_ns: i64,
        values: Vec<f64>,
        filled: Vec<DateTime<Utc>>,
    ) -> Result<Self, GridError> {
        let span_ok = i64::try_from(values.len())
            .ok()
            .and_then(|n| n.checked_mul(resolution_ns))
            .and_then(|span| start.checked_add_signed(TimeDelta::nanoseconds(span)))
            .is_some();
        if !span_ok {
            return Err(GridError::InvalidParameter(format!(
                "{name}: the trace spans more than 292 years"
            )));
        }
        let step_h = resolution_ns as f64 / NS_PER_HOUR;
        let mut prefix = Vec::with_capacity(values.len() + 1);
        let mut acc = 0.0;
        prefix.push(acc);
        for &v in &values {
            acc += v * step_h;
            prefix.push(acc);
        }
        Ok(Self {
            name,
            start,
            resolution_ns,
            values,
            prefix,
            filled,
        })
    }

    /// The name given at load time (file name or path), used in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Start of the first interval.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// End of the last interval (exclusive): `start + len × resolution`.
    pub fn end(&self) -> DateTime<Utc> {
        self.time_of(self.values.len())
    }

    /// Length of one interval, inferred from the data.
    pub fn resolution(&self) -> TimeDelta {
        TimeDelta::nanoseconds(self.resolution_ns)
    }

    /// Total covered duration, `end − start`.
    pub fn span(&self) -> TimeDelta {
        self.end() - self.start
    }

    /// Number of intervals (including filled ones).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Always `false`: a trace has at least one interval.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The interval values in time order (gCO₂/kWh).
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// `(interval start, gCO₂/kWh)` for every interval.
    pub fn points(&self) -> impl ExactSizeIterator<Item = (DateTime<Utc>, f64)> + '_ {
        self.values
            .iter()
            .enumerate()
            .map(move |(i, &v)| (self.time_of(i), v))
    }

    /// Interval starts that were missing in the source and filled by holding the previous value.
    pub fn filled_slots(&self) -> &[DateTime<Utc>] {
        &self.filled
    }

    /// Start of interval `index` (may lie beyond [`Trace::end`] for `index > len`).
    pub fn time_of(&self, index: usize) -> DateTime<Utc> {
        time_at(self.start, self.resolution_ns, index)
    }

    /// Index of the interval containing `t`, if `start <= t < end`.
    pub fn index_of(&self, t: DateTime<Utc>) -> Option<usize> {
        let off = self.offset_ns(t);
        if off < 0 || off >= self.span_ns() {
            return None;
        }
        usize::try_from(off / i128::from(self.resolution_ns)).ok()
    }

    /// Intensity (gCO₂/kWh) of the interval containing `t`; `None` outside `[start, end)`.
    pub fn intensity_at(&self, t: DateTime<Utc>) -> Option<f64> {
        self.index_of(t).map(|i| self.values[i])
    }

    /// Intensity at `t` after wrapping `t` into the trace cyclically (always defined).
    pub fn intensity_at_wrapped(&self, t: DateTime<Utc>) -> f64 {
        let off = self.offset_ns(t).rem_euclid(self.span_ns());
        let i = (off / i128::from(self.resolution_ns)) as usize;
        self.values[i.min(self.values.len() - 1)]
    }

    /// `t` wrapped into `[start, end)`: `start + (t − start) mod span`.
    pub fn wrap(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let off = self.offset_ns(t).rem_euclid(self.span_ns());
        self.start + TimeDelta::nanoseconds(off as i64)
    }

    /// `start + offset`, wrapped into `[start, end)` (offset may be negative or exceed the span).
    pub fn wrap_offset(&self, offset: TimeDelta) -> DateTime<Utc> {
        let off = duration_ns(offset).rem_euclid(self.span_ns());
        self.start + TimeDelta::nanoseconds(off as i64)
    }

    /// ∫ intensity dt over `[a, b)` in g·h/kWh; `None` unless `start <= a <= b <= end`.
    pub fn integral(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Option<f64> {
        let (oa, ob) = (self.offset_ns(a), self.offset_ns(b));
        if oa < 0 || ob > self.span_ns() || ob < oa {
            return None;
        }
        Some(self.cumulative(ob) - self.cumulative(oa))
    }

    /// ∫ intensity dt (g·h/kWh) over `duration` starting at `from`, wrapping cyclically
    /// at the end of the trace; a negative duration counts as zero.
    pub fn integral_wrapped(&self, from: DateTime<Utc>, duration: TimeDelta) -> f64 {
        let span = self.span_ns();
        let total = self.prefix[self.values.len()];
        let len = duration_ns(duration).max(0);
        let o0 = self.offset_ns(from).rem_euclid(span);
        let cycles = (len / span) as f64;
        let rest = len % span;
        let partial = if o0 + rest <= span {
            self.cumulative(o0 + rest) - self.cumulative(o0)
        } else {
            (total - self.cumulative(o0)) + self.cumulative(o0 + rest - span)
        };
        cycles * total + partial
    }

    /// Exact time-weighted mean intensity over `[a, b)`, handling partial intervals.
    /// `None` unless `start <= a <= b <= end`; for `a == b` the value at `a`.
    pub fn mean_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Option<f64> {
        if a == b {
            return self.intensity_at(a);
        }
        let hours = duration_ns(b - a) as f64 / NS_PER_HOUR;
        self.integral(a, b).map(|i| i / hours)
    }

    /// Emissions in grams of a constant load of `power_w` watts over `[a, b)`:
    /// ∫ P·I dt with P in kW, t in h, I in g/kWh. `None` unless the range lies in the trace.
    pub fn emissions_g(&self, power_w: f64, a: DateTime<Utc>, b: DateTime<Utc>) -> Option<f64> {
        self.integral(a, b).map(|i| i * power_w / 1000.0)
    }

    /// [`Trace::emissions_g`] in kilograms.
    pub fn emissions_kg(&self, power_w: f64, a: DateTime<Utc>, b: DateTime<Utc>) -> Option<f64> {
        self.emissions_g(power_w, a, b).map(|g| g / 1000.0)
    }

    /// Mean of all intervals (equals the time-weighted mean: the grid is uniform).
    pub fn mean(&self) -> f64 {
        self.prefix[self.values.len()] / (self.span_ns() as f64 / NS_PER_HOUR)
    }

    /// The intervals that intersect `[from, to)`, clipped to the trace, as a new trace
    /// (its start is the start of the first such interval). `None` if there are none.
    pub fn slice(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<Trace> {
        let (i0, i1) = self.index_range(from, to)?;
        let start = self.time_of(i0);
        let end = self.time_of(i1);
        let filled = self
            .filled
            .iter()
            .copied()
            .filter(|&t| t >= start && t < end)
            .collect();
        Self::build(
            format!(
                "{}[{}..{}]",
                self.name,
                start.to_rfc3339(),
                end.to_rfc3339()
            ),
            start,
            self.resolution_ns,
            self.values[i0..i1].to_vec(),
            filled,
        )
        .ok()
    }

    /// `(interval start, value)` of the intervals that intersect `[from, to)`.
    pub fn points_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<(DateTime<Utc>, f64)> {
        match self.index_range(from, to) {
            Some((i0, i1)) => (i0..i1)
                .map(|i| (self.time_of(i), self.values[i]))
                .collect(),
            None => Vec::new(),
        }
    }

    /// Half-open index range of the intervals intersecting `[from, to)`.
    fn index_range(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<(usize, usize)> {
        let span = self.span_ns();
        let res = i128::from(self.resolution_ns);
        let a = self.offset_ns(from).clamp(0, span);
        let b = self.offset_ns(to).clamp(0, span);
        if b <= a {
            return None;
        }
        let i0 = a / res;
        let i1 = (b + res - 1) / res;
        Some((usize::try_from(i0).ok()?, usize::try_from(i1).ok()?))
    }

    /// Resolution in nanoseconds.
    pub(super) fn resolution_ns(&self) -> i64 {
        self.resolution_ns
    }

    /// `len × resolution` in nanoseconds (always > 0).
    pub(super) fn span_ns(&self) -> i128 {
        self.values.len() as i128 * i128::from(self.resolution_ns)
    }

    /// `t − start` in nanoseconds (exact, may be negative or beyond the span).
    pub(super) fn offset_ns(&self, t: DateTime<Utc>) -> i128 {
        delta_ns(t, self.start)
    }

    /// ∫ intensity over `[start, start + off)` in g·h/kWh, for `0 <= off <= span`.
    pub(super) fn cumulative(&self, off: i128) -> f64 {
        let res = i128::from(self.resolution_ns);
        let n = self.values.len();
        let i = (off / res) as usize;
        if i >= n {
            return self.prefix[n];
        }
        let frac_ns = off - i as i128 * res;
        self.prefix[i] + self.values[i] * (frac_ns as f64 / NS_PER_HOUR)
    }
}

/// `a − b` in nanoseconds, exactly.
pub(super) fn delta_ns(a: DateTime<Utc>, b: DateTime<Utc>) -> i128 {
    duration_ns(a - b)
}

/// A `TimeDelta` in nanoseconds, exactly.
pub(super) fn duration_ns(d: TimeDelta) -> i128 {
    i128::from(d.num_seconds()) * 1_000_000_000 + i128::from(d.subsec_nanos())
}

/// Hours in `ns` nanoseconds.
pub(super) fn ns_to_hours(ns: i128) -> f64 {
    ns as f64 / NS_PER_HOUR
}

/// `start + index × resolution` (the caller guarantees it is in range of `DateTime`).
fn time_at(start: DateTime<Utc>, resolution_ns: i64, index: usize) -> DateTime<Utc> {
    let ns = (index as i64).saturating_mul(resolution_ns);
    start
        .checked_add_signed(TimeDelta::nanoseconds(ns))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Smallest positive gap between consecutive (strictly increasing) rows.
pub(super) fn infer_resolution_ns(name: &str, rows: &[Row]) -> Result<i64, GridError> {
    if rows.is_empty() {
        return Err(GridError::Empty {
            file: name.to_owned(),
        });
    }
    let min = rows
        .windows(2)
        .map(|w| delta_ns(w[1].0, w[0].0))
        .filter(|&d| d > 0)
        .min()
        .ok_or_else(|| GridError::TooShort {
            file: name.to_owned(),
        })?;
    i64::try_from(min).map_err(|_| {
        GridError::InvalidParameter(format!("{name}: resolution longer than 292 years"))
    })
}

/// Runs `f(line, fields)` for every data record of a headed CSV with exactly `columns` fields.
pub(super) fn read_records(
    name: &str,
    text: &str,
    columns: usize,
    mut f: impl FnMut(u64, &[&str]) -> Result<(), GridError>,
) -> Result<(), GridError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let bad = |line: u64, reason: String| GridError::BadRow {
        file: name.to_owned(),
        line,
        reason,
    };
    let header_len = reader
        .headers()
        .map_err(|e| bad(1, format!("unreadable header: {e}")))?
        .len();
    if header_len != columns {
        return Err(bad(
            1,
            format!("expected a header with {columns} columns, found {header_len}"),
        ));
    }
    let mut record = csv::StringRecord::new();
    let mut count = 0u64;
    loop {
        let more = reader.read_record(&mut record).map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            bad(line, format!("unreadable row: {e}"))
        })?;
        if !more {
            break;
        }
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != columns {
            return Err(bad(
                line,
                format!("expected {columns} columns, found {}", record.len()),
            ));
        }
        let fields: Vec<&str> = record.iter().collect();
        f(line, &fields)?;
        count += 1;
    }
    if count == 0 {
        return Err(GridError::Empty {
            file: name.to_owned(),
        });
    }
    Ok(())
}

/// Parses an RFC 3339 timestamp into UTC.
pub(super) fn parse_timestamp(
    name: &str,
    line: u64,
    field: &str,
) -> Result<DateTime<Utc>, GridError> {
    DateTime::parse_from_rfc3339(field)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| GridError::BadRow {
            file: name.to_owned(),
            line,
            reason: format!("invalid rfc 3339 timestamp '{field}': {e}"),
        })
}

/// Parses a finite, non-negative intensity.
pub(super) fn parse_value(name: &str, line: u64, field: &str) -> Result<f64, GridError> {
    let v: f64 = field.parse().map_err(|_| GridError::BadRow {
        file: name.to_owned(),
        line,
        reason: format!("invalid intensity '{field}'"),
    })?;
    check_value(name, line, v)?;
    Ok(v)
}

fn check_value(name: &str, line: u64, v: f64) -> Result<(), GridError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(GridError::BadRow {
            file: name.to_owned(),
            line,
            reason: format!("intensity {v} is not a finite non-negative number"),
        })
    }
}

/// Appends `row` to `rows`, whose timestamps must strictly increase.
fn push_row(name: &str, rows: &mut Vec<Row>, row: Row) -> Result<(), GridError> {
    if let Some(&(previous, _, _)) = rows.last() {
        if row.0 <= previous {
            return Err(GridError::NonMonotonic {
                file: name.to_owned(),
                line: row.2,
                timestamp: row.0,
                previous,
            });
        }
    }
    rows.push(row);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn hourly() -> Trace {
        Trace::from_csv_str(
            "h.csv",
            "timestamp,gco2_per_kwh\n\
             2023-01-01T00:00:00Z,100\n\
             2023-01-01T01:00:00Z,200\n\
             2023-01-01T02:00:00Z,400\n",
        )
        .unwrap()
    }

    #[test]
    fn resolution_start_and_end_are_inferred_from_the_data() {
        let tr = hourly();
        assert_eq!(tr.resolution(), TimeDelta::hours(1));
        assert_eq!(tr.start(), t("2023-01-01T00:00:00Z"));
        assert_eq!(tr.end(), t("2023-01-01T03:00:00Z"));
        assert_eq!(tr.len(), 3);
        assert!((tr.mean() - 700.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn step_lookup_takes_the_interval_that_starts_at_a_boundary() {
        let tr = hourly();
        assert_eq!(tr.intensity_at(t("2023-01-01T00:00:00Z")), Some(100.0));
        assert_eq!(tr.intensity_at(t("2023-01-01T00:59:59.999Z")), Some(100.0));
        assert_eq!(tr.intensity_at(t("2023-01-01T01:00:00Z")), Some(200.0));
        assert_eq!(tr.intensity_at(t("2023-01-01T02:59:59Z")), Some(400.0));
        assert_eq!(tr.intensity_at(t("2023-01-01T03:00:00Z")), None);
        assert_eq!(tr.intensity_at(t("2022-12-31T23:59:59Z")), None);
    }

    #[test]
    fn integral_over_partial_intervals_equals_hand_computed_value() {
        let tr = hourly();
        // 00:30–02:15: 0.5 h × 100 + 1 h × 200 + 0.25 h × 400 = 350 g·h/kWh over 1.75 h.
        let a = t("2023-01-01T00:30:00Z");
        let b = t("2023-01-01T02:15:00Z");
        assert!((tr.integral(a, b).unwrap() - 350.0).abs() < 1e-9);
        assert!((tr.mean_between(a, b).unwrap() - 200.0).abs() < 1e-9);
        // 2 kW for that span: 2 kW × 350 g·h/kWh = 700 g.
        assert!((tr.emissions_g(2000.0, a, b).unwrap() - 700.0).abs() < 1e-9);
        assert!((tr.emissions_kg(2000.0, a, b).unwrap() - 0.7).abs() < 1e-12);
        // Inside one interval.
        let c = t("2023-01-01T01:10:00Z");
        let d = t("2023-01-01T01:40:00Z");
        assert!((tr.mean_between(c, d).unwrap() - 200.0).abs() < 1e-9);
    }

    #[test]
    fn integrals_outside_the_trace_are_none() {
        let tr = hourly();
        assert!(tr
            .integral(t("2022-12-31T23:00:00Z"), t("2023-01-01T01:00:00Z"))
            .is_none());
        assert!(tr
            .integral(t("2023-01-01T01:00:00Z"), t("2023-01-01T03:00:01Z"))
            .is_none());
        assert!(tr
            .integral(t("2023-01-01T02:00:00Z"), t("2023-01-01T01:00:00Z"))
            .is_none());
        assert_eq!(
            tr.integral(t("2023-01-01T00:00:00Z"), t("2023-01-01T03:00:00Z")),
            Some(700.0)
        );
    }

    #[test]
    fn wrapped_integral_continues_from_the_start() {
        let tr = hourly();
        // 02:30 for 2 h: 0.5 × 400 + 1 × 100 + 0.5 × 200 = 400.
        let v = tr.integral_wrapped(t("2023-01-01T02:30:00Z"), TimeDelta::hours(2));
        assert!((v - 400.0).abs() < 1e-9);
        // Two whole cycles plus nothing.
        let w = tr.integral_wrapped(t("2023-01-01T00:00:00Z"), TimeDelta::hours(6));
        assert!((w - 1400.0).abs() < 1e-9);
        assert_eq!(tr.intensity_at_wrapped(t("2023-01-01T04:00:00Z")), 200.0);
        assert_eq!(tr.intensity_at_wrapped(t("2022-12-31T23:00:00Z")), 400.0);
    }

    #[test]
    fn slice_keeps_every_interval_touching_the_range() {
        let tr = hourly();
        let s = tr
            .slice(t("2023-01-01T00:30:00Z"), t("2023-01-01T01:30:00Z"))
            .unwrap();
        assert_eq!(s.start(), t("2023-01-01T00:00:00Z"));
        assert_eq!(s.values(), &[100.0, 200.0]);
        assert!(tr
            .slice(t("2023-01-01T03:00:00Z"), t("2023-01-01T04:00:00Z"))
            .is_none());
        let pts = tr.points_between(t("2023-01-01T01:00:00Z"), t("2023-01-01T09:00:00Z"));
        assert_eq!(pts.len(), 2);
        assert_eq!(pts[0], (t("2023-01-01T01:00:00Z"), 200.0));
    }

    #[test]
    fn missing_slots_are_filled_with_the_previous_value() {
        let tr = Trace::from_csv_str(
            "gap.csv",
            "timestamp,gco2_per_kwh\n\
             2020-01-01T00:00:00Z,1\n\
             2020-01-01T00:15:00Z,2\n\
             2020-01-01T01:00:00Z,5\n",
        )
        .unwrap();
        assert_eq!(tr.resolution(), TimeDelta::minutes(15));
        assert_eq!(tr.values(), &[1.0, 2.0, 2.0, 2.0, 5.0]);
        assert_eq!(
            tr.filled_slots(),
            &[t("2020-01-01T00:30:00Z"), t("2020-01-01T00:45:00Z")]
        );
    }

    #[test]
    fn bad_rows_are_reported_with_file_and_line() {
        let e = Trace::from_csv_str(
            "bad.csv",
            "timestamp,gco2_per_kwh\n2023-01-01T00:00:00Z,1\n2023-01-01T01:00:00Z,abc\n",
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "bad.csv:3: invalid intensity 'abc'");
        let e = Trace::from_csv_str("bad.csv", "timestamp,gco2_per_kwh\nnope,1\n").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("bad.csv:2: invalid rfc 3339 timestamp 'nope'"));
        let e = Trace::from_csv_str("bad.csv", "timestamp,gco2_per_kwh\n2023-01-01T00:00:00Z\n")
            .unwrap_err();
        assert_eq!(e.to_string(), "bad.csv:2: expected 2 columns, found 1");
        let e = Trace::from_csv_str(
            "neg.csv",
            "timestamp,gco2_per_kwh\n2023-01-01T00:00:00Z,-1\n",
        )
        .unwrap_err();
        assert!(matches!(e, GridError::BadRow { line: 2, .. }));
    }

    #[test]
    fn non_monotonic_timestamps_are_rejected() {
        let e = Trace::from_csv_str(
            "m.csv",
            "timestamp,gco2_per_kwh\n\
             2023-01-01T01:00:00Z,1\n\
             2023-01-01T02:00:00Z,1\n\
             2023-01-01T02:00:00Z,1\n",
        )
        .unwrap_err();
        assert!(matches!(e, GridError::NonMonotonic { line: 4, .. }), "{e}");
        assert!(e.to_string().starts_with("m.csv:4: timestamp"));
    }

    #[test]
    fn empty_single_row_and_misaligned_files_are_rejected() {
        let e = Trace::from_csv_str("e.csv", "timestamp,gco2_per_kwh\n").unwrap_err();
        assert_eq!(e.to_string(), "e.csv: no data rows");
        let e = Trace::from_csv_str("e.csv", "").unwrap_err();
        assert!(matches!(e, GridError::BadRow { line: 1, .. }), "{e}");
        let e = Trace::from_csv_str(
            "one.csv",
            "timestamp,gco2_per_kwh\n2023-01-01T00:00:00Z,1\n",
        )
        .unwrap_err();
        assert!(matches!(e, GridError::TooShort { .. }));
        let e = Trace::from_csv_str(
            "mis.csv",
            "timestamp,gco2_per_kwh\n\
             2023-01-01T00:00:00Z,1\n\
             2023-01-01T01:00:00Z,1\n\
             2023-01-01T02:30:00Z,1\n",
        )
        .unwrap_err();
        assert!(matches!(e, GridError::Misaligned { line: 4, .. }), "{e}");
    }

    #[test]
    fn from_path_reads_the_shipped_file_like_the_embedded_copy() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/grid/gb_neso_national_actual_2023-03-14_2023-03-18.csv"
        );
        let from_file = Trace::from_path(path).unwrap();
        let embedded = crate::grid::Region::GbNeso.trace().unwrap();
        assert_eq!(from_file.values(), embedded.values());
        assert_eq!(from_file.start(), embedded.start());
        assert_eq!(from_file.name(), path);
    }

    #[test]
    fn missing_file_error_names_the_path() {
        let e = Trace::from_path("/nonexistent/grid.csv").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("cannot read /nonexistent/grid.csv"));
    }

    #[test]
    fn from_points_and_from_values_agree() {
        let pts: Vec<_> = hourly().points().collect();
        let a = Trace::from_points("pts", &pts).unwrap();
        let b = Trace::from_values(
            "vals",
            t("2023-01-01T00:00:00Z"),
            TimeDelta::hours(1),
            vec![100.0, 200.0, 400.0],
        )
        .unwrap();
        assert_eq!(a.values(), b.values());
        assert_eq!(a.end(), b.end());
        assert!(Trace::from_values("z", a.start(), TimeDelta::zero(), vec![1.0]).is_err());
        assert!(Trace::from_values("z", a.start(), TimeDelta::hours(1), vec![]).is_err());
    }
}
