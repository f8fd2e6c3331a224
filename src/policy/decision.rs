//! Routing decisions: the mode a job runs in, the rule or guardrail that chose
//! it, and why.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Id of the guardrail that turns a DEFER decision for a critical job into ECO.
pub const GUARDRAIL_CRITICAL_OVERRIDE: &str = "GUARDRAIL_CRITICAL_OVERRIDE";

/// Id of the guardrail that releases, in ECO mode, a job deferred for the
/// policy's maximum deferral.
pub const GUARDRAIL_MAX_DEFERRAL: &str = "GUARDRAIL_MAX_DEFERRAL";

/// Id of the guardrail that releases, in ECO mode, a deferred job at the latest
/// start time that still lets it meet its deadline.
pub const GUARDRAIL_DEADLINE: &str = "GUARDRAIL_DEADLINE";

/// Prefix reserved for guardrail ids; policy files may not use it for rules.
pub const GUARDRAIL_ID_PREFIX: &str = "GUARDRAIL_";

/// How a job is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RouteMode {
    /// Run now at full speed (`FAST`).
    Fast,
    /// Run now in an energy-saving configuration (`ECO`).
    Eco,
    /// Wait for a cleaner grid, within the guardrails (`DEFER`).
    Defer,
}

impl RouteMode {
    /// Every mode, in the order FAST, ECO, DEFER.
    pub const ALL: [Self; 3] = [Self::Fast, Self::Eco, Self::Defer];

    /// The mode's name as written in policy files: `FAST`, `ECO` or `DEFER`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fast => "FAST",
            Self::Eco => "ECO",
            Self::Defer => "DEFER",
        }
    }

    /// The mode with this exact (uppercase) name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|mode| mode.as_str() == name)
    }
}

impl fmt::Display for RouteMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of routing a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteDecision {
    /// The mode the job runs in.
    pub mode: RouteMode,
    /// Id of the rule that matched, or of the guardrail that overrode it.
    pub policy_rule_id: String,
    /// Human-readable, deterministic explanation of the decision.
    pub reason: String,
    /// Whether a guardrail replaced the rules' decision.
    pub guardrail_applied: bool,
}

impl RouteDecision {
    /// The decision of a rule that matched and was not overridden.
    pub(crate) fn from_rule(rule_id: &str, mode: RouteMode, reason: String) -> Self {
        Self {
            mode,
            policy_rule_id: rule_id.to_owned(),
            reason,
            guardrail_applied: false,
        }
    }

    /// The [`GUARDRAIL_CRITICAL_OVERRIDE`] decision replacing rule `rule_id`,
    /// which would have deferred a critical job for `rule_reason`.
    pub(crate) fn critical_override(rule_id: &str, rule_reason: &str) -> Self {
        Self {
            mode: RouteMode::Eco,
            policy_rule_id: GUARDRAIL_CRITICAL_OVERRIDE.to_owned(),
            reason: format!(
                "rule {rule_id} would defer this job ({rule_reason}), \
                 but critical jobs are never deferred; running in ECO mode"
            ),
            guardrail_applied: true,
        }
    }

    /// The [`GUARDRAIL_MAX_DEFERRAL`] decision for a job that has been deferred
    /// for `deferred_for`, reaching the policy's `max_deferral`.
    ///
    /// Prefer [`Policy::max_deferral_release`](super::Policy::max_deferral_release),
    /// which also checks that the maximum is reached.
    #[must_use]
    pub fn max_deferral_release(deferred_for: Duration, max_deferral: Duration) -> Self {
        Self {
            mode: RouteMode::Eco,
            policy_rule_id: GUARDRAIL_MAX_DEFERRAL.to_owned(),
            reason: format!(
                "job was deferred for {}, reaching the maximum deferral of {}; \
                 released in ECO mode",
                format_duration(deferred_for),
                format_duration(max_deferral)
            ),
            guardrail_applied: true,
        }
    }

    /// The [`GUARDRAIL_DEADLINE`] decision for a job, deferred for
    /// `deferred_for`, that has reached the latest start time that still lets
    /// it meet its deadline.
    #[must_use]
    pub fn deadline_release(deferred_for: Duration) -> Self {
        Self {
            mode: RouteMode::Fast,
            policy_rule_id: GUARDRAIL_DEADLINE.to_owned(),
            reason: format!(
                "job was deferred for {} and reached its latest start time; \
                 released on FAST to meet its deadline",
                format_duration(deferred_for)
            ),
            guardrail_applied: true,
        }
    }
}

/// Whole seconds as `600s`, otherwise milliseconds precision as `0.250s`.
fn format_duration(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{:.3}s", duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip_through_their_names() {
        for mode in RouteMode::ALL {
            assert_eq!(RouteMode::from_name(mode.as_str()), Some(mode));
            assert_eq!(mode.to_string(), mode.as_str());
        }
        assert_eq!(RouteMode::from_name("fast"), None);
    }

    #[test]
    fn decisions_serialize_with_uppercase_modes() {
        let decision = RouteDecision::deadline_release(Duration::from_secs(30));
        let yaml = serde_norway::to_string(&decision).unwrap();
        assert!(
            yaml.starts_with("mode: FAST\npolicy_rule_id: GUARDRAIL_DEADLINE\n"),
            "{yaml}"
        );
        let back: RouteDecision = serde_norway::from_str(&yaml).unwrap();
        assert_eq!(back, decision);
    }

    #[test]
    fn max_deferral_release_is_an_eco_guardrail() {
        let decision =
            RouteDecision::max_deferral_release(Duration::from_secs(600), Duration::from_secs(600));
        assert_eq!(decision.mode, RouteMode::Eco);
        assert_eq!(decision.policy_rule_id, GUARDRAIL_MAX_DEFERRAL);
        assert!(decision.guardrail_applied);
        assert_eq!(
            decision.reason,
            "job was deferred for 600s, reaching the maximum deferral of 600s; released in ECO mode"
        );
    }

    #[test]
    fn deadline_release_is_an_eco_guardrail() {
        let decision = RouteDecision::deadline_release(Duration::from_millis(120_250));
        assert_eq!(decision.mode, RouteMode::Fast);
        assert_eq!(decision.policy_rule_id, GUARDRAIL_DEADLINE);
        assert!(decision.guardrail_applied);
        assert_eq!(
            decision.reason,
            "job was deferred for 120.250s and reached its latest start time; \
             released on FAST to meet its deadline"
        );
    }

    #[test]
    fn critical_override_names_the_overridden_rule() {
        let decision = RouteDecision::critical_override("SLOW_DOWN", "urgency is critical");
        assert_eq!(decision.mode, RouteMode::Eco);
        assert_eq!(decision.policy_rule_id, GUARDRAIL_CRITICAL_OVERRIDE);
        assert!(decision.guardrail_applied);
        assert_eq!(
            decision.reason,
            "rule SLOW_DOWN would defer this job (urgency is critical), \
             but critical jobs are never deferred; running in ECO mode"
        );
    }

    #[test]
    fn guardrail_ids_use_the_reserved_prefix() {
        for id in [
            GUARDRAIL_CRITICAL_OVERRIDE,
            GUARDRAIL_MAX_DEFERRAL,
            GUARDRAIL_DEADLINE,
        ] {
            assert!(id.starts_with(GUARDRAIL_ID_PREFIX));
        }
    }
}
