//! The HTTP app in process, as `carbonq serve` builds it: the actors over a given store and
//! journal, the state the routes share, the app on it, and its answers read back. The HTTP tests
//! differ only in what [`AppSettings`] holds; the body and batch limits are the same for all.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{test, web, App};
use carbonq::actors::executor::{Executor, Executors};
use carbonq::actors::intake::Limits;
use carbonq::actors::journal::Journal;
use carbonq::actors::scheduler::ReleaseMode;
use carbonq::actors::services::Services;
use carbonq::actors::worker::{RetryPolicy, RunDefaults};
use carbonq::actors::{Orchestrator, SystemConfig};
use carbonq::clock::{SharedClock, SystemClock};
use carbonq::grid::GridSignal;
use carbonq::http::{routes, AppState, BatchLimits};
use carbonq::ids::IdGen;
use carbonq::policy::Policy;
use carbonq::projections::ReadModel;
use carbonq::store::{EventStore, RedisStore};
use serde_json::Value;

use super::{redis_store, TestRedis};

/// Largest body the test app accepts.
pub const BODY_LIMIT: usize = 1024;
/// Most jobs the test app accepts in one batch.
pub const MAX_BATCH: usize = 20;
/// Largest batch body the test app accepts.
pub const BATCH_BODY_LIMIT: usize = 16 * BODY_LIMIT;

/// What the HTTP tests choose about the service they run against.
pub struct AppSettings {
    /// Workers on the fast pool (the eco pool has one).
    pub fast_workers: usize,
    /// When the intake answers busy.
    pub limits: Limits,
    /// The service's clock.
    pub clock: SharedClock,
    /// Where job ids come from.
    pub ids: IdGen,
}

impl Default for AppSettings {
    /// One fast worker, busy past 1,000 jobs pending or waiting, wall-clock time, random ids.
    fn default() -> Self {
        AppSettings {
            fast_workers: 1,
            limits: Limits {
                max_pending: 1000,
                max_waiting: 1000,
            },
            clock: Arc::new(SystemClock),
            ids: IdGen::Random,
        }
    }
}

/// Starts the actors on `journal` (which writes to `store`) with the repository's policy, a
/// fixed grid signal and simulated runs a thousand times faster than asked, and returns the
/// state the routes share.
pub async fn start_state(
    store: &RedisStore,
    journal: Journal,
    settings: AppSettings,
) -> web::Data<AppState> {
    let policy = Policy::from_path(concat!(env!("CARGO_MANIFEST_DIR"), "/config/policy.yaml"))
        .expect("policy loads");
    let svc = Services {
        journal,
        clock: settings.clock,
        ids: Arc::new(settings.ids),
        grid: Arc::new(GridSignal::Fixed(300.0)),
        policy: Arc::new(RwLock::new(Arc::new(policy))),
    };
    let config = SystemConfig {
        fast_workers: settings.fast_workers,
        eco_workers: 1,
        limits: settings.limits,
        tick: Duration::from_millis(200),
        release_mode: ReleaseMode::GreenWindow,
        retry: RetryPolicy {
            max_attempts: 3,
            backoff: Duration::from_millis(10),
        },
        defaults: RunDefaults { power_w: 300.0 },
        planning: None,
        retention: None,
    };
    let executors = Executors {
        default: Executor::Simulated { speedup: 1000.0 },
        ..Executors::simulated()
    };
    let orchestrator = Orchestrator::start(svc, &config, executors).await;
    web::Data::new(AppState {
        orchestrator,
        store: store.clone(),
        body_limit: BODY_LIMIT,
        batch: BatchLimits {
            max_jobs: MAX_BATCH,
            body_limit: BATCH_BODY_LIMIT,
        },
        refusals: Default::default(),
    })
}

/// The app on `state`, as `carbonq serve` builds it.
pub fn app(
    state: &web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new().app_data(state.clone()).configure(routes)
}

/// The JSON body of `response` (`Null` when it is empty).
pub async fn json_body<B: MessageBody>(response: ServiceResponse<B>) -> Value {
    let bytes = test::read_body(response).await;
    if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {bytes:?}"))
    }
}

/// A private Redis and the service on it without projections, for tests that read only the log.
pub struct LogOnlyApi {
    _redis: TestRedis,
    /// The store the service writes to.
    pub store: RedisStore,
    /// The state the routes share.
    pub state: web::Data<AppState>,
}

impl LogOnlyApi {
    /// A fresh Redis and the service on it, as `settings` say.
    pub async fn start(settings: AppSettings) -> LogOnlyApi {
        let redis = TestRedis::start();
        let store = redis_store(&redis).await;
        let journal = Journal::start(EventStore::Redis(store.clone()), ReadModel::default());
        LogOnlyApi {
            _redis: redis,
            state: start_state(&store, journal, settings).await,
            store,
        }
    }
}

/// `XLEN events`.
pub async fn log_len(store: &RedisStore) -> u64 {
    EventStore::Redis(store.clone())
        .entry_count()
        .await
        .expect("XLEN")
}
