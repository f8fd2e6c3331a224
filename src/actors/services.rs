//! What every actor shares: the journal, the clock, ids, the grid signal and the policy.

use std::sync::{Arc, RwLock};

use crate::clock::SharedClock;
use crate::grid::GridSignal;
use crate::ids::IdGen;
use crate::policy::Policy;

use super::journal::Journal;

/// Shared handles, cheap to clone.
#[derive(Clone, Debug)]
pub struct Services {
    /// The only way to append.
    pub journal: Journal,
    /// Wall clock in `serve`, virtual in `simulate`.
    pub clock: SharedClock,
    /// Job ids.
    pub ids: Arc<IdGen>,
    /// Carbon intensity now and forecast.
    pub grid: Arc<GridSignal>,
    /// The policy in force; replaced whole on reload.
    pub policy: Arc<RwLock<Arc<Policy>>>,
}

impl Services {
    /// The policy in force now.
    pub fn policy(&self) -> Arc<Policy> {
        Arc::clone(&self.policy.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Puts a new policy in force.
    pub fn replace_policy(&self, policy: Policy) {
        *self.policy.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(policy);
    }
}
