//! The counters behind `/stats`, kept by the fold so that stats never scan.

use super::job_view::{Mode, Status};

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
    pub energy_kwh: f64,
    /// Emissions of completed jobs, kg.
    pub emissions_kg: f64,
    /// What the same jobs would have emitted at submission, kg.
    pub baseline_emissions_kg: f64,
    /// Attempts that failed.
    pub failed_attempts: u64,
}

impl Counters {
    pub(crate) fn move_status(&mut self, from: Option<Status>, to: Status) {
        if let Some(from) = from {
            let n = &mut self.by_status[from as usize];
            *n = n.saturating_sub(1);
        }
        self.by_status[to as usize] += 1;
    }

    pub(crate) fn move_mode(&mut self, from: Option<Mode>, to: Mode) {
        if from == Some(to) {
            return;
        }
        if let Some(from) = from {
            let n = &mut self.by_mode[from as usize];
            *n = n.saturating_sub(1);
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
            ("energy_kwh".to_owned(), self.energy_kwh.to_string()),
            ("emissions_kg".to_owned(), self.emissions_kg.to_string()),
            (
                "baseline_emissions_kg".to_owned(),
                self.baseline_emissions_kg.to_string(),
            ),
            (
                "failed_attempts".to_owned(),
                self.failed_attempts.to_string(),
            ),
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
