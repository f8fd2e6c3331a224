//! Layered settings: `config/default.toml` (compiled in), then an optional file, then
//! `CARBONQ__SECTION__KEY` environment variables.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::actors::executor::Executor;
use crate::actors::retention::RetentionPolicy;
use crate::store::KeySpace;

/// Everything carbonq reads from configuration.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Redis connection and key layout.
    pub redis: RedisSettings,
    /// Logging.
    pub log: LogSettings,
    /// The HTTP intake.
    pub http: HttpSettings,
    /// Scheduling.
    pub scheduler: SchedulerSettings,
    /// Worker pools.
    pub workers: WorkerSettings,
    /// How jobs run.
    pub executors: ExecutorSettings,
    /// The carbon-intensity signal.
    pub grid: GridSettings,
    /// How long finished jobs stay in the log.
    pub retention: RetentionSettings,
}

/// Where the log lives.
#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    /// Connection URL (`redis://host:port/db` or `unix:///path`).
    pub url: String,
    /// Prefix for every key.
    pub key_prefix: String,
    /// Name of the event stream.
    pub stream: String,
    /// How long `serve`'s writer lease lasts unless renewed, seconds.
    pub lease_ttl_s: f64,
    /// How long a command waits for Redis's answer before it fails as unavailable, ms.
    pub command_timeout_ms: u64,
}

impl RedisSettings {
    /// The key layout these settings describe.
    pub fn keys(&self) -> KeySpace {
        KeySpace::new(&self.key_prefix, &self.stream)
    }

    /// How long a command waits for Redis's answer (at least 10 ms).
    pub fn command_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.command_timeout_ms.max(10))
    }
}

/// How logs look.
#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    /// `human` or `json`.
    pub format: String,
    /// A tracing filter.
    pub level: String,
}

/// The HTTP intake.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    /// Listen address.
    pub bind: String,
    /// Largest request body.
    pub body_limit_bytes: usize,
    /// Backpressure bound on `PENDING`.
    pub max_pending: usize,
    /// Backpressure bound on the jobs accepted and not yet started.
    pub max_waiting: usize,
    /// Most jobs in one `POST /jobs/batch`.
    pub max_batch: usize,
    /// Largest `POST /jobs/batch` body.
    pub batch_body_limit_bytes: usize,
    /// Grace period for running jobs on SIGTERM, seconds.
    pub shutdown_grace_s: u64,
}

/// Scheduling.
#[derive(Debug, Clone, Deserialize)]
pub struct SchedulerSettings {
    /// Policy file path; empty for the built-in seed policy.
    pub policy_file: String,
    /// Deferred-job check period, seconds.
    pub tick_s: f64,
}

/// Worker pools.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkerSettings {
    /// FAST workers.
    pub fast: usize,
    /// ECO workers.
    pub eco: usize,
    /// Attempts before dead-lettering.
    pub max_attempts: u32,
    /// First retry delay, seconds (doubles).
    pub backoff_s: f64,
    /// Watts for jobs that give none.
    pub default_power_w: f64,
    /// Seconds for jobs that give none.
    pub default_duration_s: u64,
}

/// How jobs run.
#[derive(Debug, Clone, Deserialize)]
pub struct ExecutorSettings {
    /// For every type without its own.
    pub default: Executor,
    /// Per job type.
    #[serde(default)]
    pub by_type: HashMap<String, Executor>,
}

/// The carbon-intensity signal.
#[derive(Debug, Clone, Deserialize)]
pub struct GridSettings {
    /// `trace` or `fixed`.
    pub signal: String,
    /// Region for `trace`.
    pub region: String,
    /// Value for `fixed`.
    pub fixed_gco2_per_kwh: f64,
}

/// How long finished jobs stay in the log.
#[derive(Debug, Clone, Deserialize)]
pub struct RetentionSettings {
    /// Seconds a finished job is kept before its history is replaced by a `JobRetired`
    /// summary; 0: no time limit.
    pub keep_finished_s: f64,
    /// Most finished jobs kept (the newest); 0: no count limit. With both 0, every job is kept
    /// for ever.
    pub keep_finished_max: usize,
    /// Retired jobs whose summaries are kept one per job; once twice as many have one, the
    /// older ones are summed into one entry.
    pub summaries_kept: usize,
}

impl RetentionSettings {
    /// The retention actor's policy, or `None` when jobs are kept for ever.
    pub fn policy(&self) -> Option<RetentionPolicy> {
        let keep_for = (self.keep_finished_s > 0.0)
            .then(|| Duration::from_secs_f64(self.keep_finished_s.min(1e12)));
        let keep_at_most = (self.keep_finished_max > 0).then_some(self.keep_finished_max);
        (keep_for.is_some() || keep_at_most.is_some()).then_some(RetentionPolicy {
            keep_for,
            keep_at_most,
            summaries_kept: self.summaries_kept.max(1),
        })
    }
}

/// The defaults compiled into the binary, so it runs from any directory.
const DEFAULTS: &str = include_str!("../config/default.toml");

impl Settings {
    /// Loads the defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, config::ConfigError> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(path) = file {
            builder = builder.add_source(config::File::from(path).required(true));
        }
        builder
            .add_source(
                config::Environment::with_prefix("CARBONQ")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true),
            )
            .build()?
            .try_deserialize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_keep_the_seed_key_names() {
        let s = Settings::load(None).unwrap();
        assert_eq!(s.redis.keys(), KeySpace::default());
        assert_eq!(s.log.format, "human");
        assert_eq!(s.executors.default, Executor::Simulated { speedup: 1.0 });
        assert_eq!(s.retention.policy(), None, "every job is kept unless asked");
    }

    #[test]
    fn a_file_overrides_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prod.toml");
        std::fs::write(
            &path,
            "[redis]\nkey_prefix = \"cq:\"\n[executors.by_type.train]\nkind = \"command\"\nprogram = \"/bin/true\"\n",
        )
        .unwrap();
        let s = Settings::load(Some(&path)).unwrap();
        assert_eq!(s.redis.key_prefix, "cq:");
        assert_eq!(s.redis.url, "redis://127.0.0.1:6379");
        assert!(matches!(
            s.executors.by_type["train"],
            Executor::Command { .. }
        ));
    }
}
