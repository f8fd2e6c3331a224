//! The counters behind `/stats`, kept by the fold so that stats never scan.

use super::job_view::{Mode, Status};
use crate::events::{Ending, JobRetired, RetiredJobsSummed, StreamId};

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

    /// A sum of this many billionths.
    pub fn from_billionths(n: u64) -> ExactSum {
        ExactSum(n)
    }

    /// The sum in billionths.
    pub fn billionths(self) -> u64 {
        self.0
    }
}

/// What retired jobs added to the totals, in the counters' own units, so that contributions add
/// and subtract exactly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Contribution {
    /// Jobs.
    pub jobs: u64,
    /// Of them, completed.
    pub completed: u64,
    /// Their completed run time, ms.
    pub duration_ms_sum: u64,
    /// Their failed attempts.
    pub failed_attempts: u64,
    /// Their energy, kWh.
    pub energy_kwh: ExactSum,
    /// Their emissions, kg.
    pub emissions_kg: ExactSum,
    /// Their baseline emissions, kg.
    pub baseline_emissions_kg: ExactSum,
}

impl Contribution {
    /// One retired job's, from its summary.
    pub fn of(r: &JobRetired) -> Contribution {
        let mut c = Contribution {
            jobs: 1,
            failed_attempts: u64::from(r.failed_attempts),
            ..Contribution::default()
        };
        if r.ending == Ending::Done {
            c.completed = 1;
            c.duration_ms_sum = r.duration_ms;
            c.energy_kwh.add(r.energy_kwh);
            c.emissions_kg.add(r.emissions_kg);
            c.baseline_emissions_kg.add(r.baseline_emissions_kg);
        }
        c
    }

    /// Many retired jobs', from the entry that summed their summaries.
    pub fn of_summed(s: &RetiredJobsSummed) -> Contribution {
        Contribution {
            jobs: s.jobs,
            completed: s.completed,
            duration_ms_sum: s.duration_ms_sum,
            failed_attempts: s.failed_attempts,
            energy_kwh: ExactSum::from_billionths(s.energy_nkwh),
            emissions_kg: ExactSum::from_billionths(s.emissions_nkg),
            baseline_emissions_kg: ExactSum::from_billionths(s.baseline_emissions_nkg),
        }
    }

    /// The entry that sums these, replacing every summary through `through`.
    pub fn summed(&self, through: StreamId) -> RetiredJobsSummed {
        RetiredJobsSummed {
            through: through.to_string(),
            jobs: self.jobs,
            completed: self.completed,
            duration_ms_sum: self.duration_ms_sum,
            failed_attempts: self.failed_attempts,
            energy_nkwh: self.energy_kwh.billionths(),
            emissions_nkg: self.emissions_kg.billionths(),
            baseline_emissions_nkg: self.baseline_emissions_kg.billionths(),
        }
    }

    /// Both together.
    pub fn add(&mut self, other: &Contribution) {
        self.apply(other, u64::saturating_add);
    }

    /// What is left of `self` without `other` (which it includes).
    pub fn without(mut self, other: &Contribution) -> Contribution {
        self.apply(other, u64::saturating_sub);
        self
    }

    fn apply(&mut self, other: &Contribution, op: fn(u64, u64) -> u64) {
        let sum = |a: ExactSum, b: ExactSum| ExactSum(op(a.0, b.0));
        self.jobs = op(self.jobs, other.jobs);
        self.completed = op(self.completed, other.completed);
        self.duration_ms_sum = op(self.duration_ms_sum, other.duration_ms_sum);
        self.failed_attempts = op(self.failed_attempts, other.failed_attempts);
        self.energy_kwh = sum(self.energy_kwh, other.energy_kwh);
        self.emissions_kg = sum(self.emissions_kg, other.emissions_kg);
        self.baseline_emissions_kg = sum(self.baseline_emissions_kg, other.baseline_emissions_kg);
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

    /// Books jobs that the log holds only as summaries: everything their events added.
    pub(crate) fn add_retired(&mut self, c: &Contribution) {
        self.total_jobs += c.jobs;
        self.completed += c.completed;
        self.duration_ms_sum += c.duration_ms_sum;
        self.failed_attempts += c.failed_attempts;
        self.energy_kwh.0 += c.energy_kwh.0;
        self.emissions_kg.0 += c.emissions_kg.0;
        self.baseline_emissions_kg.0 += c.baseline_emissions_kg.0;
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

    /// Finished jobs whose history was deleted from the log (`JobRetired`): counted in the
    /// totals, in no status or mode any more.
    pub fn retired(&self) -> u64 {
        let held: u64 = self.by_status.iter().sum();
        self.total_jobs.saturating_sub(held)
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
            ("retired".to_owned(), self.retired().to_string()),
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
