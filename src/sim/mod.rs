//! The simulated day: the real actors on a virtual clock over real grid data, seeded
//! workloads, the oracle lower bound, the report and its chart.
//!
//! | file | contents |
//! |---|---|
//! | `workload.rs` | [`JobSpec`], the seeded office-hours mix [`generate`], and [`lets_wait_awhile`] (Scenario II) |
//! | `workload_file.rs` | [`load`] / [`save`] of JSONL and CSV workload files, [`WorkloadError`] |
//! | `misses.rs` | [`misses::misses`]: each late job, and whether it was feasible at submission |
//! | `oracle.rs` | [`oracle()`]: per-job best start on the actual trace, a lower bound on emissions |
//! | `report.rs` | [`JobOutcome`], [`Report`] (deterministic `report.json`), the stdout table |
//! | `virtual_day.rs` | [`virtual_day::run_day`]: the actor system on tokio's paused clock |
//! | `year.rs` | [`year::simulate_sample`]: the simulation on days sampled across the year, summed |
//! | `chart.rs` | [`write_chart`]: the day as an SVG (intensity, forecast, running power) |
//!
//! Accounting is always on the actual trace and clipped to it ([`accounted_emissions_kg`]),
//! so carbonq, the baseline and the oracle are measured the same way.

pub mod chart;
pub mod misses;
pub mod oracle;
pub mod report;
pub mod simulate;
pub mod virtual_day;
pub mod workload;
pub mod workload_file;
pub mod year;

pub use chart::{write_chart, ChartError};
pub use oracle::{accounted_emissions_kg, oracle, OracleResult};
pub use report::{
    build, render_table, to_json, write_json, JobOutcome, Report, ReportError, ReportMeta,
};
pub use workload::{generate, lets_wait_awhile, next_workday_deadline, JobSpec};
pub use workload_file::{load, parse_csv, parse_jsonl, save, to_csv, to_jsonl, WorkloadError};
