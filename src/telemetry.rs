//! Tracing set-up: human-readable logs on stderr by default, JSON lines with `--log-json`.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; `RUST_LOG` wins over `level` when set.
pub fn init(json: bool, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (in tests) is harmless: keep the first subscriber.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
