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
