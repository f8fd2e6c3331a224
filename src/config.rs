//! Layered settings: `config/default.toml`, then an optional file, then `CARBONQ__SECTION__KEY`
//! environment variables.

use std::path::Path;

use serde::Deserialize;

use crate::store::KeySpace;

/// Everything carbonq reads from configuration.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Redis connection and key layout.
    pub redis: RedisSettings,
    /// Logging.
    pub log: LogSettings,
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
}

impl RedisSettings {
    /// The key layout these settings describe.
    pub fn keys(&self) -> KeySpace {
        KeySpace::new(&self.key_prefix, &self.stream)
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
                    .separator("__"),
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
    }

    #[test]
    fn a_file_overrides_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prod.toml");
        std::fs::write(&path, "[redis]\nkey_prefix = \"cq:\"\n").unwrap();
        let s = Settings::load(Some(&path)).unwrap();
        assert_eq!(s.redis.key_prefix, "cq:");
        assert_eq!(s.redis.url, "redis://127.0.0.1:6379");
    }
}
