//! `carbonq serve`: wires the Redis log, the journal, the actors, the projection runner and the
//! HTTP intake together, and stops them in order on SIGTERM.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use actix_web::{web, App, HttpServer};
use chrono::{DateTime, Utc};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::oneshot;

use crate::actors::executor::Executors;
use crate::actors::intake::Limits;
use crate::actors::journal::ProjectedJournal;
use crate::actors::scheduler::ReleaseMode;
use crate::actors::services::Services;
use crate::actors::worker::{RetryPolicy, RunDefaults};
use crate::actors::{Orchestrator, SystemConfig};
use crate::clock::SystemClock;
use crate::config::Settings;
use crate::events::StreamId;
use crate::grid::{ClockMapping, GridError, GridSignal, Region};
use crate::http::{routes, AppState, BatchLimits};
use crate::ids::IdGen;
use crate::policy::{Policy, PolicyError};
use crate::projections::error_chain;
use crate::projections::ReadModel;
use crate::projections::Status;
use crate::store::{HeldLease, LeaseError, Patience, RedisStore, Stamper, StoreError};

/// Why the service could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The log could not be reached or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another `serve` writes the log.
    #[error(transparent)]
    Lease(#[from] LeaseError),
    /// Another process took the log's writer lease while this one ran (it was paused or cut off
    /// from Redis for longer than the lease lasts); this one stopped at once.
    #[error("stopped: another process took over the log; it is written by {holder}")]
    LeaseLost {
        /// Who holds it now.
        holder: String,
    },
    /// The log went back in time under this process (Redis lost data); it stopped appending
    /// and stopped, so that a restart serves what the log still holds.
    #[error("stopped: {0}; restart carbonq serve to serve what the log still holds")]
    LogRewound(StoreError),
    /// The policy file is invalid.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The grid signal could not be set up.
    #[error(transparent)]
    Grid(#[from] GridError),
    /// The listener could not bind.
    #[error("cannot listen on {addr}")]
    Bind {
        /// Where.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Signals or the server failed.
    #[error("service i/o failed")]
    Io(#[from] std::io::Error),
}

/// Loads the configured policy (or the seed's built-in rules when no file is set).
pub fn load_policy(settings: &Settings) -> Result<Policy, PolicyError> {
    match settings.scheduler.policy_file.as_str() {
        "" => Policy::from_str_named(
            crate::policy::rulebook::SEED_POLICY_YAML,
            "<built-in seed policy>",
        ),
        path => Policy::from_path(path),
    }
}

/// The grid signal from config, replayed on the wall clock.
pub fn grid_signal(settings: &Settings) -> Result<GridSignal, GridError> {
    if settings.grid.signal == "fixed" {
        return Ok(GridSignal::Fixed(settings.grid.fixed_gco2_per_kwh));
    }
    GridSignal::from_region(
        Region::from_name(&settings.grid.region)?,
        ClockMapping::Calendar,
    )
}

/// Pool sizes, tick and retries from config.
pub fn system_config(settings: &Settings) -> SystemConfig {
    SystemConfig {
        fast_workers: settings.workers.fast,
        eco_workers: settings.workers.eco,
        limits: Limits {
            max_pending: settings.http.max_pending,
            max_waiting: settings.http.max_waiting,
        },
        tick: Duration::from_secs_f64(settings.scheduler.tick_s.max(0.01)),
        release_mode: ReleaseMode::GreenWindow,
        retry: RetryPolicy {
            max_attempts: settings.workers.max_attempts.max(1),
            backoff: Duration::from_secs_f64(settings.workers.backoff_s.max(0.0)),
        },
        defaults: RunDefaults {
            power_w: settings.workers.default_power_w,
        },
        planning: None,
        retention: settings.retention.policy(),
    }
}

/// Runs the service until SIGTERM or SIGINT. Must run inside an actix system.
pub async fn serve(settings: Settings, redis_url: &str, bind: &str) -> Result<(), ServeError> {
    // Before anything is read or written: one writer per log.
    let ttl = Duration::from_secs_f64(settings.redis.lease_ttl_s.max(0.1));
    let (store, lease, lost) = open_and_hold(&settings, redis_url, ttl).await?;
    let served = serve_holding(settings, &store, lost, bind).await;
    // Given up however the service ends (a bad policy, a busy port, SIGTERM), so that the next
    // start need not wait for it to expire (a lease another process took is left alone).
    if let Err(e) = lease.give_up(&store).await {
        tracing::warn!(error = %error_chain(&e), "could not give the writer lease up; it expires by itself");
    }
    served
}

/// Opens the log and takes its writer lease, waiting while Redis, just restarted, is still
/// loading its data (it answers `LOADING` until it has: a `serve` started with it, as a compose
/// file does, would otherwise exit).
async fn open_and_hold(
    settings: &Settings,
    redis_url: &str,
    ttl: Duration,
) -> Result<(RedisStore, HeldLease, oneshot::Receiver<String>), ServeError> {
    let mut patience = Patience::default();
    loop {
        let held = match RedisStore::open_with_timeout(
            redis_url,
            settings.redis.keys(),
            Stamper::system(),
            settings.redis.command_timeout(),
        )
        .await
        {
            Ok(store) => store.hold_lease(ttl).await.map_err(ServeError::from),
            Err(e) => Err(ServeError::from(e)),
        };
        let loading = match &held {
            Err(ServeError::Store(e)) | Err(ServeError::Lease(LeaseError::Store(e))) => {
                e.is_loading()
            }
            _ => false,
        };
        if !loading {
            return held;
        }
        tracing::warn!(retry_in = ?patience.next(), "redis is still loading its data; waiting");
        patience.wait().await;
    }
}

/// The service, once this process holds the log's writer lease; `lost` says who took it over.
async fn serve_holding(
    settings: Settings,
    store: &RedisStore,
    mut lost: tokio::sync::oneshot::Receiver<String>,
    bind: &str,
) -> Result<(), ServeError> {
    let projected = ProjectedJournal::start(store).await?;
    // From here on the log must never end before what was read: a Redis that comes back empty,
    // or from an older AOF, is noticed by the next append or within a second.
    let read = projected.journal.model().checkpoint;
    if read > StreamId::ZERO {
        store.raise_floor(read);
    }
    let watch = actix_rt::spawn(watch_floor(store.clone()));
    let policy = load_policy(&settings)?;
    let svc = Services {
        journal: projected.journal.clone(),
        clock: Arc::new(SystemClock),
        ids: Arc::new(IdGen::Random),
        grid: Arc::new(grid_signal(&settings)?),
        policy: Arc::new(RwLock::new(Arc::new(policy))),
    };
    let executors = Executors {
        by_type: settings.executors.by_type.clone(),
        default: settings.executors.default.clone(),
        default_duration_s: settings.workers.default_duration_s,
    };
    let orchestrator = Orchestrator::start(svc.clone(), &system_config(&settings), executors).await;

    actix_rt::spawn(watch_policy(settings.clone(), svc.clone()));

    let state = web::Data::new(AppState {
        orchestrator,
        store: store.clone(),
        body_limit: settings.http.body_limit_bytes,
        batch: BatchLimits {
            max_jobs: settings.http.max_batch,
            body_limit: settings.http.batch_body_limit_bytes,
        },
        refusals: Default::default(),
    });
    let server = HttpServer::new(move || App::new().app_data(state.clone()).configure(routes))
        .disable_signals()
        .shutdown_timeout(5)
        .bind(bind)
        .map_err(|source| ServeError::Bind {
            addr: bind.to_owned(),
            source,
        })?
        .run();
    let handle = server.handle();
    tracing::info!(%bind, "carbonq serving");
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let served = actix_rt::spawn(server);
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping intake"),
        _ = int.recv() => tracing::info!("SIGINT: stopping intake"),
        holder = &mut lost => {
            // Nothing more can be appended from here; the new holder recovers the running
            // jobs. Stop at once rather than write read models the new holder now keeps.
            let holder = holder.unwrap_or_else(|_| "an unknown process".to_owned());
            tracing::error!(%holder, "the log's writer lease was taken over; stopping");
            handle.stop(false).await;
            return Err(ServeError::LeaseLost { holder });
        }
        rewound = store.rewound_log() => {
            // The model holds jobs the log no longer does: answer nothing more from it.
            handle.stop(false).await;
            watch.abort();
            log_loss(&rewound, &svc.journal.model());
            return Err(ServeError::LogRewound(rewound));
        }
    }
    watch.abort();
    handle.stop(true).await;
    let _ = served.await;
    let grace = Duration::from_secs(settings.http.shutdown_grace_s);
    let deadline = tokio::time::Instant::now() + grace;
    loop {
        let running = svc.journal.model().counters.status(Status::Running);
        if running == 0 || tokio::time::Instant::now() >= deadline {
            if running > 0 {
                tracing::warn!(
                    running,
                    "grace period over; these jobs are retried on restart"
                );
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The writer logs its own error; the next start catches the read models up. With Redis
    // away it could wait for ever: it gets what is left of the grace period, and 5 s at least.
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    let _ = projected.stop(left.max(Duration::from_secs(5))).await;
    tracing::info!("carbonq stopped");
    Ok(())
}

/// Checks every second that the log still reaches what this process appended or read (see
/// [`RedisStore::check_floor`]); Redis being away is not a finding.
async fn watch_floor(store: RedisStore) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Err(e @ StoreError::Rewound { .. }) = store.check_floor().await {
            tracing::debug!(error = %e, "the log went back in time");
        }
    }
}

/// Logs what a log that went back in time lost, as far as this process's model tells: the jobs
/// submitted after the log's last entry now, and what to do.
fn log_loss(rewound: &StoreError, model: &ReadModel) {
    let StoreError::Rewound { found, .. } = rewound else {
        return;
    };
    let kept_until = found
        .parse::<StreamId>()
        .ok()
        .and_then(|id| DateTime::<Utc>::from_timestamp_millis(i64::try_from(id.ms).ok()?));
    let lost: Vec<_> = model
        .jobs
        .values()
        .filter(|v| kept_until.is_none_or(|t| v.created_at > t))
        .collect();
    let unfinished = lost.iter().filter(|v| !v.status.is_terminal()).count();
    tracing::error!(
        error = %rewound,
        entries_read = model.applied,
        jobs_known = model.jobs.len(),
        jobs_lost = lost.len(),
        unfinished_lost = unfinished,
        "the log went back in time: Redis lost data (restarted empty, or from an older AOF or \
         snapshot). Stopped appending and stopping; jobs submitted after the log's last entry are \
         gone from it, and their clients must submit them again. Turn on appendonly with \
         appendfsync always to keep every acknowledged job; a restart serves what the log holds"
    );
}

/// Reloads the policy on SIGHUP or when its file changes; an invalid policy is refused and the
/// old one stays in force.
async fn watch_policy(settings: Settings, svc: Services) {
    let path = settings.scheduler.policy_file.clone();
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    let modified = |p: &str| {
        std::fs::metadata(Path::new(p))
            .and_then(|m| m.modified())
            .ok()
    };
    let mut seen: Option<SystemTime> = modified(&path);
    loop {
        let reason = tokio::select! {
            _ = hup.recv() => "SIGHUP",
            _ = tokio::time::sleep(Duration::from_secs(2)) => {
                let now = modified(&path);
                if path.is_empty() || now == seen { continue; }
                seen = now;
                "file change"
            }
        };
        match load_policy(&settings) {
            Ok(policy) => {
                tracing::info!(%reason, policy = %policy.name(), "policy reloaded");
                svc.replace_policy(policy);
            }
            Err(e) => {
                tracing::error!(%reason, error = %e, "new policy refused; the old one stays in force")
            }
        }
    }
}
