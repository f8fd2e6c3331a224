//! The command line: `carbonq replay`, `carbonq inspect` (and, as they land, `serve` and
//! `simulate`).

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use uuid::Uuid;

use crate::store::Bound;

/// carbonq: run AI batch jobs when the grid is cleanest, without missing a deadline.
#[derive(Debug, Parser)]
#[command(name = "carbonq", version, about, propagate_version = true)]
pub struct Cli {
    /// An extra TOML settings file laid over config/default.toml.
    #[arg(long, global = true, env = "CARBONQ_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    pub log_json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Where the log lives.
#[derive(Debug, Clone, Args)]
pub struct RedisArgs {
    /// Redis URL (default from config: redis://127.0.0.1:6379; unix:///path for a socket).
    #[arg(long, value_name = "URL", global = true)]
    pub redis: Option<String>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP intake, the scheduler and the workers on the Redis log.
    Serve {
        #[command(flatten)]
        redis: RedisArgs,
        /// Listen address (default from config: 127.0.0.1:8000).
        #[arg(long, value_name = "ADDR")]
        bind: Option<String>,
    },
    /// Run a simulated day of real grid data through the real actors, on the in-memory store.
    Simulate(SimulateArgs),
    /// Read the event log for audit: check every event, show past state, rebuild and diff.
    Replay {
        #[command(flatten)]
        redis: RedisArgs,
        /// First entry: a stream id (1700000000000-0) or an RFC 3339 time.
        #[arg(long, value_parser = parse_bound)]
        from: Option<Bound>,
        /// Last entry: a stream id or an RFC 3339 time.
        #[arg(long, value_parser = parse_bound)]
        to: Option<Bound>,
        /// Show the jobs and queues as they stood at this RFC 3339 time.
        #[arg(long, value_parser = parse_time)]
        as_of: Option<DateTime<Utc>>,
        /// Fold the log into a scratch namespace and diff it key by key with the live read models.
        #[arg(long)]
        rebuild: bool,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Look at the read models.
    Inspect {
        #[command(flatten)]
        redis: RedisArgs,
        /// What to look at.
        #[command(subcommand)]
        what: InspectTarget,
    },
}

/// `carbonq simulate`'s options.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// A shipped region: gb, de, caiso, no, de2020, gb-neso.
    #[arg(long, default_value = "gb")]
    pub region: String,
    /// A trace CSV (`timestamp,gco2_per_kwh`) instead of a shipped region.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// First day (YYYY-MM-DD); default a mid-March weekday inside the trace.
    #[arg(long)]
    pub date: Option<chrono::NaiveDate>,
    /// Days to simulate (with --sample: days of each sampled run).
    #[arg(long, default_value_t = 1)]
    pub days: u32,
    /// Simulate days across the trace's year instead of one: `monthly` (the weekday nearest
    /// the 15th of each month) or `weekly` (every Wednesday).
    #[arg(long, value_enum, conflicts_with_all = ["date", "redis", "scenario", "workload"])]
    pub sample: Option<crate::sim::year::Sample>,
    /// Sampled runs simulated at once (default: the machine's cores).
    #[arg(long, value_name = "N", requires = "sample")]
    pub threads: Option<std::num::NonZeroUsize>,
    /// Jobs a day in the generated workload.
    #[arg(long, default_value_t = 2000)]
    pub jobs: usize,
    /// A workload file (JSONL or CSV) instead of the generated one.
    #[arg(long, value_name = "FILE", conflicts_with = "scenario")]
    pub workload: Option<PathBuf>,
    /// A scenario from the literature instead of the generated workload.
    #[arg(long, value_enum)]
    pub scenario: Option<Scenario>,
    /// FAST,ECO workers (e.g. 8,4); default: sized so running at submission never queues.
    #[arg(long, value_parser = parse_workers)]
    pub workers: Option<(usize, usize)>,
    /// `seed` (the prototype's threshold rules) or `forecast` (the capacity-aware planner).
    #[arg(long, value_enum, default_value = "forecast")]
    pub policy: crate::sim::simulate::PolicyKind,
    /// Seeds the workload, the forecast error and the ids.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Forecast error as a share of the mean intensity.
    #[arg(long, default_value_t = 0.05)]
    pub forecast_error: f64,
    /// Where report.json and day.svg (with --sample: year.svg) go.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also record the run into this Redis, so that replay and inspect work on it.
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
}

/// Scenarios from the literature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// "Let's Wait Awhile" (Middleware '21) scenario II: ad-hoc ML training, Germany 2020.
    LetsWaitAwhile,
}

fn parse_workers(s: &str) -> Result<(usize, usize), String> {
    let (f, e) = s
        .split_once(',')
        .ok_or_else(|| format!("{s:?}: expected FAST,ECO, e.g. 8,4"))?;
    let n = |x: &str| {
        x.trim()
            .parse::<usize>()
            .map_err(|_| format!("{x:?} is not a number of workers"))
    };
    let (f, e) = (n(f)?, n(e)?);
    if f + e == 0 {
        return Err("at least one worker is needed".into());
    }
    Ok((f, e))
}

/// What `inspect` shows.
#[derive(Debug, Subcommand)]
pub enum InspectTarget {
    /// One job: its hash and full event history.
    Job {
        /// The job id.
        id: Uuid,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Depth and head of each queue.
    Queues {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Counters behind /stats.
    Stats {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn parse_bound(s: &str) -> Result<Bound, String> {
    s.parse()
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{s:?} is not an RFC 3339 time: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn replay_bounds_take_ids_and_times() {
        let cli = Cli::try_parse_from([
            "carbonq",
            "replay",
            "--from",
            "17-0",
            "--to",
            "2023-03-15T12:00:00Z",
        ])
        .unwrap();
        let Command::Replay { from, to, .. } = cli.command else {
            panic!("not replay")
        };
        assert!(matches!(from, Some(Bound::Id(_))));
        assert!(matches!(to, Some(Bound::Time(_))));
        assert!(Cli::try_parse_from(["carbonq", "replay", "--from", "yesterday"]).is_err());
    }
}
