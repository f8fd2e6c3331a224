//! [`CapacityPlan`]: how much planned work each time slot holds, against how many workers.
//!
//! Time is cut into slots of a fixed length aligned on the Unix epoch (so 15-minute slots
//! start at :00, :15, :30, :45 UTC, like the grid traces). Each slot records the worker time
//! reserved in it: a run `[start, end)` adds its overlap with the slot. A run fits when, in
//! every slot it touches, reserved time plus its own overlap stays within
//! `capacity × slot length`: the hourly "virtual capacity" of Google's carbon-intelligent
//! computing, at slot resolution. Within one slot this is a fluid model: two 5-minute runs
//! may share a 15-minute slot of a single worker even if they overlap by a minute, so a run
//! released at its planned start may queue for at most about a slot; across slots a fitting
//! plan never needs more than `capacity` workers on average.
//!
//! Storage is one counter per slot from the earliest to the latest slot ever reserved (drop
//! the past with [`CapacityPlan::forget_before`]), so lookups are O(1) and a run costs
//! O(its slots).

use chrono::{DateTime, TimeDelta, Utc};

use super::error::PlannerError;

/// What [`plan_start`](super::plan_start) does when no start at least as green as starting
/// now fits the capacity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overflow {
    /// Start now and let the workers' queue absorb the job (the default): in overload the
    /// planner behaves like no planner, and no job is deferred into a full green hour where it
    /// would queue behind the jobs already planned there and risk its deadline.
    #[default]
    StartNow,
    /// Take the greenest start ignoring capacity (piles into the green hour).
    BestIgnoringCapacity,
}

/// Reserved worker time per slot against a worker capacity.
#[derive(Clone, Debug, PartialEq)]
pub struct CapacityPlan {
    slot_ns: i64,
    capacity: u32,
    overflow: Overflow,
    /// Standard deviation of one forecast point's error, gCO2/kWh.
    forecast_error: f64,
    /// Slot index (since the epoch) of `reserved_ns[0]`.
    base: i64,
    /// Worker time reserved in each slot, nanoseconds.
    reserved_ns: Vec<u64>,
}

/// Nanoseconds since the Unix epoch, saturating outside the years 1677–2262.
pub(super) fn epoch_ns(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// `⌈a / b⌉` for `b > 0`.
pub(super) fn ceil_div(a: i64, b: i64) -> i64 {
    let q = a.div_euclid(b);
    if a.rem_euclid(b) == 0 {
        q
    } else {
        q + 1
    }
}

impl CapacityPlan {
    /// An empty plan with slots of `slot` (a whole number of seconds, at least 1 s) and
    /// `capacity` workers.
    pub fn new(slot: TimeDelta, capacity: u32) -> Result<Self, PlannerError> {
        let slot_ns = slot.num_nanoseconds().unwrap_or(i64::MAX);
        if slot_ns < 1_000_000_000 || slot_ns % 1_000_000_000 != 0 {
            return Err(PlannerError::InvalidSlot { slot_ns });
        }
        Ok(Self {
            slot_ns,
            capacity,
            overflow: Overflow::default(),
            forecast_error: 0.0,
            base: 0,
            reserved_ns: Vec::new(),
        })
    }

    /// The same plan with another [`Overflow`] rule.
    pub fn with_overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// The same plan deciding on a forecast whose points err by `std_dev` gCO2/kWh (one
    /// standard deviation, independent between points): a job is held only for a saving the
    /// error cannot explain (see [`plan_start`](super::plan_start)). Negative or non-finite
    /// values count as 0.
    pub fn with_forecast_error(mut self, std_dev: f64) -> Self {
        self.forecast_error = if std_dev.is_finite() {
            std_dev.max(0.0)
        } else {
            0.0
        };
        self
    }

    /// Standard deviation of one forecast point's error, gCO2/kWh.
    pub fn forecast_error(&self) -> f64 {
        self.forecast_error
    }

    /// What happens when nothing green enough fits.
    pub fn overflow(&self) -> Overflow {
        self.overflow
    }

    /// The slot length.
    pub fn slot(&self) -> TimeDelta {
        TimeDelta::nanoseconds(self.slot_ns)
    }

    /// The slot length in nanoseconds.
    pub(super) fn slot_ns(&self) -> i64 {
        self.slot_ns
    }

    /// How many workers the plan may keep busy.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Changes the capacity (e.g. when workers join or leave); reservations stay.
    pub fn set_capacity(&mut self, capacity: u32) {
        self.capacity = capacity;
    }

    /// Worker time one slot can hold, ns.
    pub(super) fn limit_ns(&self) -> u128 {
        u128::from(self.capacity) * self.slot_ns as u128
    }

    /// Half-open range of slot indices touched by `[start, end)` (empty if `end <= start`).
    fn slots_of_ns(&self, start_ns: i64, end_ns: i64) -> (i64, i64) {
        let a = start_ns.div_euclid(self.slot_ns);
        if end_ns <= start_ns {
            return (a, a);
        }
        (a, ceil_div(end_ns, self.slot_ns))
    }

    /// Overlap of `[start_ns, end_ns)` with slot `k`, ns.
    fn overlap_ns(&self, k: i64, start_ns: i64, end_ns: i64) -> u64 {
        let lo = (k * self.slot_ns).max(start_ns);
        let hi = ((k + 1) * self.slot_ns).min(end_ns);
        u64::try_from(hi - lo).unwrap_or(0)
    }

    /// Worker time reserved in slot `k`, ns (0 outside the stored range).
    pub(super) fn reserved_in(&self, k: i64) -> u64 {
        k.checked_sub(self.base)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.reserved_ns.get(i))
            .copied()
            .unwrap_or(0)
    }

    /// Mean number of busy workers planned in the slot containing `t`.
    pub fn load_at(&self, t: DateTime<Utc>) -> f64 {
        self.reserved_in(epoch_ns(t).div_euclid(self.slot_ns)) as f64 / self.slot_ns as f64
    }

    /// The highest [`CapacityPlan::load_at`] over the slots `[start, end)` touches (0 if none).
    pub fn peak_load(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> f64 {
        let (a, b) = self.slots_of_ns(epoch_ns(start), epoch_ns(end));
        (a..b).map(|k| self.reserved_in(k)).max().unwrap_or(0) as f64 / self.slot_ns as f64
    }

    /// Whether a run over `[start, end)` fits: in every slot it touches, the reserved time
    /// plus the run's overlap is at most `capacity × slot`. An empty run always fits.
    pub fn fits(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        let (s, e) = (epoch_ns(start), epoch_ns(end));
        let (a, b) = self.slots_of_ns(s, e);
        let limit = self.limit_ns();
        (a..b).all(|k| {
            u128::from(self.reserved_in(k)) + u128::from(self.overlap_ns(k, s, e)) <= limit
        })
    }

    /// Records a run over `[start, end)` (even beyond capacity).
    pub fn reserve(&mut self, start: DateTime<Utc>, end: DateTime<Utc>) {
        let (s, e) = (epoch_ns(start), epoch_ns(end));
        let (a, b) = self.slots_of_ns(s, e);
        if a >= b {
            return;
        }
        self.cover(a, b);
        for k in a..b {
            let add = self.overlap_ns(k, s, e);
            let c = &mut self.reserved_ns[(k - self.base) as usize];
            *c = c.saturating_add(add);
        }
    }

    /// Removes a run recorded with [`CapacityPlan::reserve`] for the same `[start, end)`.
    /// Slots never go below zero, so releasing what was never reserved changes nothing there.
    pub fn release(&mut self, start: DateTime<Utc>, end: DateTime<Utc>) {
        let (s, e) = (epoch_ns(start), epoch_ns(end));
        let (a, b) = self.slots_of_ns(s, e);
        let lo = a.max(self.base);
        let hi = b.min(self.base.saturating_add(self.reserved_ns.len() as i64));
        for k in lo..hi {
            let sub = self.overlap_ns(k, s, e);
            let c = &mut self.reserved_ns[(k - self.base) as usize];
            *c = c.saturating_sub(sub);
        }
    }

    /// Drops the slots before the slot containing `t` (their reservations are forgotten).
    pub fn forget_before(&mut self, t: DateTime<Utc>) {
        let k = epoch_ns(t).div_euclid(self.slot_ns);
        let drop = (k - self.base).clamp(0, self.reserved_ns.len() as i64) as usize;
        if drop > 0 {
            self.reserved_ns.drain(..drop);
            self.base += drop as i64;
        }
    }

    /// Grows the storage so that slots `[a, b)` exist.
    fn cover(&mut self, a: i64, b: i64) {
        if self.reserved_ns.is_empty() {
            self.base = a;
            self.reserved_ns.resize((b - a) as usize, 0);
            return;
        }
        if a < self.base {
            let extra = (self.base - a) as usize;
            let mut grown = vec![0; extra + self.reserved_ns.len()];
            grown[extra..].copy_from_slice(&self.reserved_ns);
            self.reserved_ns = grown;
            self.base = a;
        }
        let end = self.base + self.reserved_ns.len() as i64;
        if b > end {
            self.reserved_ns.resize((b - self.base) as usize, 0);
        }
    }

    /// Prefix count of the slots of `[a, b)` that cannot take one more whole slot of work:
    /// `out[i]` = number of such slots in `[a, a + i)`; `out.len() = b − a + 1`.
    pub(super) fn no_room_prefix(&self, a: i64, b: i64, out: &mut Vec<u32>) {
        out.clear();
        out.push(0);
        let limit = self.limit_ns();
        let slot = self.slot_ns as u128;
        let mut acc = 0u32;
        for k in a..b {
            if u128::from(self.reserved_in(k)) + slot > limit {
                acc += 1;
            }
            out.push(acc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_run_adds_its_overlap_to_every_slot_it_touches() {
        // Given 15-minute slots and two workers
        let mut plan = CapacityPlan::new(TimeDelta::minutes(15), 2).unwrap();
        // When a run from 10:05 to 10:36 is reserved
        plan.reserve(t("2023-03-14T10:05:00Z"), t("2023-03-14T10:36:00Z"));
        // Then 10:00 holds 10 of 15 minutes, 10:15 all of them, 10:30 six, 10:45 none
        assert!((plan.load_at(t("2023-03-14T10:00:00Z")) - 10.0 / 15.0).abs() < 1e-12);
        assert_eq!(plan.load_at(t("2023-03-14T10:20:00Z")), 1.0);
        assert!((plan.load_at(t("2023-03-14T10:30:00Z")) - 0.4).abs() < 1e-12);
        assert_eq!(plan.load_at(t("2023-03-14T10:45:00Z")), 0.0);
        assert_eq!(plan.load_at(t("2023-03-14T09:45:00Z")), 0.0);
    }

    #[test]
    fn short_runs_share_a_slot_up_to_its_worker_time() {
        // Given one worker and 15-minute slots
        let mut plan = CapacityPlan::new(TimeDelta::minutes(15), 1).unwrap();
        // When three 5-minute runs are reserved in the 10:00 slot
        for m in [0, 5, 10] {
            let s = t("2023-03-14T10:00:00Z") + TimeDelta::minutes(m);
            assert!(plan.fits(s, s + TimeDelta::minutes(5)));
            plan.reserve(s, s + TimeDelta::minutes(5));
        }
        // Then the slot is full and a fourth does not fit there
        let s = t("2023-03-14T10:07:00Z");
        assert!(!plan.fits(s, s + TimeDelta::minutes(1)));
        assert!(plan.fits(t("2023-03-14T10:15:00Z"), t("2023-03-14T10:20:00Z")));
    }

    #[test]
    fn fits_until_capacity_is_reached_and_release_frees_the_slots() {
        // Given one worker
        let mut plan = CapacityPlan::new(TimeDelta::minutes(30), 1).unwrap();
        let (a, b) = (t("2023-03-14T10:00:00Z"), t("2023-03-14T11:00:00Z"));
        assert!(plan.fits(a, b));
        // When one run is reserved
        plan.reserve(a, b);
        // Then an overlapping run no longer fits, a disjoint one does
        assert!(!plan.fits(t("2023-03-14T10:30:00Z"), t("2023-03-14T12:00:00Z")));
        assert!(plan.fits(b, t("2023-03-14T12:00:00Z")));
        assert!(plan.fits(t("2023-03-14T08:00:00Z"), a));
        assert_eq!(
            plan.peak_load(t("2023-03-14T09:00:00Z"), t("2023-03-14T12:00:00Z")),
            1.0
        );
        // And after release it fits again
        plan.release(a, b);
        assert!(plan.fits(t("2023-03-14T10:30:00Z"), t("2023-03-14T12:00:00Z")));
        // And releasing again does not underflow
        plan.release(a, b);
        assert_eq!(plan.load_at(a), 0.0);
    }

    #[test]
    fn storage_grows_both_ways_and_forgets_the_past() {
        let mut plan = CapacityPlan::new(TimeDelta::hours(1), 3).unwrap();
        plan.reserve(t("2023-03-14T10:00:00Z"), t("2023-03-14T11:00:00Z"));
        plan.reserve(t("2023-03-14T05:00:00Z"), t("2023-03-14T06:00:00Z"));
        plan.reserve(t("2023-03-14T20:00:00Z"), t("2023-03-14T22:00:00Z"));
        assert_eq!(plan.load_at(t("2023-03-14T05:30:00Z")), 1.0);
        assert_eq!(plan.load_at(t("2023-03-14T10:30:00Z")), 1.0);
        assert_eq!(plan.load_at(t("2023-03-14T21:30:00Z")), 1.0);
        plan.forget_before(t("2023-03-14T10:30:00Z"));
        assert_eq!(plan.load_at(t("2023-03-14T05:30:00Z")), 0.0);
        assert_eq!(plan.load_at(t("2023-03-14T10:00:00Z")), 1.0);
    }

    #[test]
    fn slots_must_be_whole_seconds() {
        assert!(CapacityPlan::new(TimeDelta::zero(), 1).is_err());
        assert!(CapacityPlan::new(TimeDelta::milliseconds(1500), 1).is_err());
        assert_eq!(
            CapacityPlan::new(TimeDelta::minutes(15), 4).unwrap().slot(),
            TimeDelta::minutes(15)
        );
    }

    #[test]
    fn zero_capacity_fits_only_empty_runs() {
        let plan = CapacityPlan::new(TimeDelta::minutes(15), 0).unwrap();
        let a = t("2023-03-14T10:00:00Z");
        assert!(!plan.fits(a, a + TimeDelta::minutes(1)));
        assert!(plan.fits(a, a));
    }
}
