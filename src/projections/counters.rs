//! The counters behind `/stats`, kept by the fold so that stats never scan.

use super::job_view::{Mode, Status};

/// A sum of non-negative quantities kept in whole billionths, so that it comes out the same in
/// any order: the fold of a trimmed log adds retired jobs' figures in another order than the
/// fold of the whole log added them, and `f64` addition is not associative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExactSum(u64);

impl ExactSum {
    const SCALE: f64 = 1e9;

    /// Adds `x` (negative or not-a-number counts as zero), rounded to a billionth.
    pub fn add(&mut self, x: f64) {
        // `as` saturates: a NaN or a negative becomes 0.
        self.0 = self.0.saturating_add((x * Self::SCALE).round() as u64);
    }

    /// The sum.
    pub fn value(self) -> f64 {
        self.0 as f64 / Self::SCALE
    }
}

/// Running totals over every job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// Jobs ever submitted.
    pub total_jobs: u64,
    /// Jobs per current status, indexed as [`Status::ALL`].
    pub by_status: [u64; Status::ALL.len()],
    /// Jobs per current mode, indexed as [`Mode::ALL`].
    pub by_mode: [u64; Mode::ALL.len()],
    /// Completed jobs.
    pub completed: u64,
    /// Sum of completed run times, ms.
    pub duration_ms_sum: u64,
    /// Energy of completed jobs, kWh.
    pub energy_kwh: ExactSum,
    /// Emissions of completed jobs, kg.
    pub emissions_kg: ExactSum,
    /// What the same jobs would have emitted at submission, kg.
    pub baseline_emissions_kg: ExactSum,
    /// Attempts that failed.
    pub failed_attempts: u64,
    /// Finished jobs whose history was deleted from the log (`JobRetired`): counted in the
    /// totals above, no longer in `by_status` or `by_mode`.
    pub retired: u64,
}

impl Counters {
    pub(crate) fn move_status(&mut self, from: Option<Status>, to: Status) {
        if let Some(from) = from {
            self.drop_status(from);
        }
        self.by_status[to as usize] += 1;
    }

    pub(crate) fn drop_status(&mut self, from: Status) {
        let n = &mut self.by_status[from as usize];
        *n = n.saturating_sub(1);
    }

    pub(crate) fn drop_mode(&mut self, from: Mode) {
        let n = &mut self.by_mode[from as usize];
        *n = n.saturating_sub(1);
    }

    /// Books a completion: its run time, energy and emissions.
    pub(crate) fn complete(&mut self, duration_ms: u64, kwh: f64, kg: f64, baseline_kg: f64) {
        self.completed += 1;
        self.duration_ms_sum += duration_ms;
        self.energy_kwh.add(kwh);
        self.emissions_kg.add(kg);
        self.baseline_emissions_kg.add(baseline_kg);
    }

    pub(crate) fn move_mode(&mut self, from: Option<Mode>, to: Mode) {
        if from == Some(to) {
            return;
        }
        if let Some(from) = from {
            self.drop_mode(from);
        }
        self.by_mode[to as usize] += 1;
    }

    /// Jobs now in `status`.
    pub fn status(&self, status: Status) -> u64 {
        self.by_status[status as usize]
    }

    /// Jobs accepted and not yet started: queued, scheduled or deferred.
    pub fn waiting(&self) -> usize {
        let n = [Status::Queued, Status::Scheduled, Status::Deferred]
            .into_iter()
            .map(|s| self.status(s))
            .sum::<u64>();
        usize::try_from(n).unwrap_or(usize::MAX)
    }

    /// Jobs whose last routing mode is `mode`.
    pub fn mode(&self, mode: Mode) -> u64 {
        self.by_mode[mode as usize]
    }

    /// Mean run time of completed jobs, ms.
    pub fn avg_duration_ms(&self) -> f64 {
        if self.completed == 0 {
            0.0
        } else {
            self.duration_ms_sum as f64 / self.completed as f64
        }
    }

    /// The `stats` hash fields, every status and mode present.
    pub fn fields(&self) -> Vec<(String, String)> {
        let mut f = vec![
            ("total_jobs".to_owned(), self.total_jobs.to_string()),
            ("completed".to_owned(), self.completed.to_string()),
            (
                "duration_ms_sum".to_owned(),
                self.duration_ms_sum.to_string(),
            ),
            ("energy_kwh".to_owned(), self.energy_kwh.value().to_string()),
            (
                "emissions_kg".to_owned(),
                self.emissions_kg.value().to_string(),
            ),
            (
                "baseline_emissions_kg".to_owned(),
                self.baseline_emissions_kg.value().to_string(),
            ),
            (
                "failed_attempts".to_owned(),
                self.failed_attempts.to_string(),
            ),
            ("retired".to_owned(), self.retired.to_string()),
        ];
        for s in Status::ALL {
            let n = self.status(s);
            f.push((format!("status:{}", s.as_str()), n.to_string()));
        }
        for m in Mode::ALL {
            let n = self.mode(m);
            f.push((format!("mode:{}", m.as_str()), n.to_string()));
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exact_sum_is_the_same_in_any_order() {
        let xs = [0.1, 0.7, 1e-9, 0.3333333333, 12.5, 0.2];
        let (mut a, mut b) = (ExactSum::default(), ExactSum::default());
        xs.iter().for_each(|&x| a.add(x));
        xs.iter().rev().for_each(|&x| b.add(x));
        assert_eq!(a, b);
        assert!((a.value() - xs.iter().sum::<f64>()).abs() < 1e-8);
        // f64 itself is not: this is why the sum is kept in billionths.
        assert_ne!(0.1 + 0.2 + 0.3, 0.3 + 0.2 + 0.1);
        let mut c = ExactSum::default();
        c.add(-1.0);
        c.add(f64::NAN);
        assert_eq!(c.value(), 0.0);
    }

    #[test]
    fn counts_are_indexed_in_the_order_of_all() {
        for (i, s) in Status::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
        }
        for (i, m) in Mode::ALL.iter().enumerate() {
            assert_eq!(*m as usize, i);
        }
        let mut c = Counters::default();
        c.move_status(None, Status::Queued);
        c.move_status(Some(Status::Queued), Status::Running);
        c.move_mode(None, Mode::Eco);
        assert_eq!(c.status(Status::Queued), 0);
        assert_eq!(c.status(Status::Running), 1);
        assert_eq!(c.mode(Mode::Eco), 1);
    }
}
