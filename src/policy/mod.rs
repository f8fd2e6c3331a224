//! Policy as code: the routing policy that picks FAST, ECO or DEFER for each
//! job, loaded from a YAML file at start-up.
//!
//! # File format
//!
//! ```yaml
//! version: 1
//! thresholds: { low: 200, high: 400 }        # gCO2/kWh, low <= high
//! guardrails: { max_deferral_seconds: 600 }
//! rules:                                     # tried in order, first match wins
//!   - policy_rule_id: CRITICAL_OVERRIDE
//!     condition: urgency == critical
//!     mode: FAST                             # FAST, ECO or DEFER
//!   - policy_rule_id: MEDIUM_DEFAULT_ECO
//!     condition: default                     # catch-all
//!     mode: ECO
//! ```
//!
//! Conditions compare the job's `carbon_intensity`, `urgency` (`critical`,
//! `normal`, `flexible`) and `type` with numbers, the thresholds `low` and
//! `high`, and strings, combined with `NOT`, `AND`, `OR` (in decreasing
//! precedence) and parentheses; `default` alone matches every job. See
//! [`condition_parser`] for the grammar and type rules. The shipped seed
//! policy is [`SEED_POLICY_YAML`].
//!
//! # Validation
//!
//! [`Policy::from_path`] and [`Policy::from_str_named`] reject, with a
//! [`PolicyError`] that names file, line and column: YAML syntax errors, a
//! wrong structure, condition syntax and type errors, unknown variables and
//! urgency values, unknown modes, duplicate rule ids, `low > high`, and rules
//! that can never match. The [`analysis`] is exact: a rule is rejected when
//! its condition is unsatisfiable, or when every job it accepts is taken by
//! earlier rules (so any rule after `default` is rejected).
//!
//! **Catch-all:** the rules must together match every job; there is no
//! implicit fallback. A policy is accepted without a `default` rule only if
//! its rules are provably exhaustive; otherwise loading fails with
//! [`PolicyError::NotExhaustive`] and an example of an unmatched job.
//!
//! # Deciding
//!
//! [`Policy::decide`] applies the first matching rule, then the guardrails:
//! a critical job is never deferred (DEFER becomes ECO with
//! [`GUARDRAIL_CRITICAL_OVERRIDE`]). Deferred jobs are released in ECO mode by
//! [`Policy::max_deferral_release`] ([`GUARDRAIL_MAX_DEFERRAL`]) or, when the
//! scheduler must start them to keep their deadline, by
//! [`RouteDecision::deadline_release`] ([`GUARDRAIL_DEADLINE`]). Matching is
//! allocation-free: conditions are compiled at load with the thresholds
//! substituted; only the decision's strings are allocated.
//!
//! # Modules
//!
//! - [`rulebook`]: [`Policy`], its rules, decisions and explanation.
//! - [`policy_file`]: reading and checking the YAML file, with positions.
//! - [`condition`]: the typed condition tree, its canonical text and evaluation.
//! - [`condition_parser`]: tokenizer, recursive-descent parser, type checker.
//! - [`analysis`]: which rules can match, and whether every job is matched.
//! - [`decision`]: [`RouteMode`], [`RouteDecision`] and the guardrail ids.
//! - [`policy_input`]: [`PolicyInput`], the job facts a decision uses.
//! - [`thresholds`]: the [`Thresholds`] type.
//! - [`error`]: [`PolicyError`] and [`SourceLocation`].

pub mod analysis;
pub mod condition;
pub mod condition_parser;
pub mod decision;
pub mod error;
pub mod policy_file;
pub mod policy_input;
pub mod rulebook;
pub mod thresholds;

pub use condition::{Condition, ConditionError, ConditionErrorKind};
pub use decision::{
    RouteDecision, RouteMode, GUARDRAIL_CRITICAL_OVERRIDE, GUARDRAIL_DEADLINE, GUARDRAIL_ID_PREFIX,
    GUARDRAIL_MAX_DEFERRAL,
};
pub use error::{PolicyError, SourceLocation};
pub use policy_input::{PolicyInput, URGENCY_LEVELS};
pub use rulebook::{Policy, PolicyExplanation, Rule, SEED_POLICY_YAML};
pub use thresholds::Thresholds;
