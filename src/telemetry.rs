//! Tracing set-up: human-readable logs on stderr by default, JSON lines with `--log-json`; and
//! the process-wide count of panics, which `/metrics` exposes.

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

use tracing_subscriber::EnvFilter;

/// Panics seen anywhere in this process since it started (handlers, actors, executors).
static PANICS: AtomicU64 = AtomicU64::new(0);

/// Installs the global subscriber; `RUST_LOG` wins over `level` when set. Also installs the
/// panic hook that counts and logs every panic.
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
    count_panics();
}

/// Chains a hook before the current panic hook: each panic is counted ([`panics`]) and logged
/// as an error with where it happened, then handled as before. Idempotent.
pub fn count_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::Relaxed);
            let at = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let message = panic_message(info.payload());
            tracing::error!(%at, %message, "panicked (counted in carbonq_panics_total)");
            previous(info);
        }));
    });
}

/// Panics counted since the process started.
pub fn panics() -> u64 {
    PANICS.load(Ordering::Relaxed)
}

/// What a panic said: its `&str` or `String` payload.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}
