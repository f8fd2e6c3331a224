//! The forecast-aware capacity planner: when should a flexible job start?
//!
//! Pure: no I/O, no clock, no actix. The caller passes `now`, a forecast [`Trace`] and the
//! [`CapacityPlan`] of reservations it keeps.
//!
//! | file | contents |
//! |---|---|
//! | `capacity_plan.rs` | [`CapacityPlan`]: reservations per time slot against a worker capacity |
//! | `plan.rs` | [`plan_start`], [`schedule`], [`replan`] and their result [`Plan`] |
//! | `error.rs` | [`PlannerError`] |
//!
//! Invariants: a plan starts in `[now, max(now, latest_start)]`; its forecast mean is never
//! above starting now; on equal forecasts it takes the earliest start (a flat forecast starts
//! now); a plan whose `over_capacity` flag is false fits the capacity plan it was made against.
//!
//! [`Trace`]: crate::grid::Trace

mod capacity_plan;
mod error;
mod plan;

pub use capacity_plan::{CapacityPlan, Overflow};
pub use error::PlannerError;
pub use plan::{plan_start, replan, schedule, Plan};
