//! The loaded policy: thresholds, guardrails and ordered rules, and the
//! decisions they make.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::analysis::{self, Finding};
use super::condition::Condition;
use super::decision::{
    RouteDecision, RouteMode, GUARDRAIL_CRITICAL_OVERRIDE, GUARDRAIL_DEADLINE,
    GUARDRAIL_MAX_DEFERRAL,
};
use super::error::PolicyError;
use super::policy_file::{self, PolicyDocument};
use super::policy_input::{PolicyInput, Urgency};
use super::thresholds::Thresholds;

/// The seed policy shipped with carbonq (also `config/policy.yaml`).
pub const SEED_POLICY_YAML: &str = include_str!("seed_policy.yaml");

/// One rule: when its condition matches, the job runs in its mode.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    id: String,
    condition: Condition,
    mode: RouteMode,
}

impl Rule {
    /// The rule's `policy_rule_id`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The rule's condition.
    pub fn condition(&self) -> &Condition {
        &self.condition
    }

    /// The mode the rule chooses.
    pub fn mode(&self) -> RouteMode {
        self.mode
    }
}

/// `ID: condition → MODE`, e.g. `CRITICAL_OVERRIDE: urgency == critical → FAST`.
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} → {}", self.id, self.condition, self.mode)
    }
}

/// A validated routing policy.
///
/// Loading proves that every rule can match some job no earlier rule matches
/// and that the rules together match every job (see
/// [`analysis`]), so [`Policy::decide`] always has a rule to
/// apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    name: String,
    thresholds: Thresholds,
    max_deferral_seconds: u64,
    rules: Vec<Rule>,
}

/// What a policy does, for display (e.g. by a `/jobs/{id}/explain` endpoint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyExplanation {
    /// The policy's name (its file path, or the name it was loaded under).
    pub policy: String,
    /// The carbon-intensity thresholds, in gCO2/kWh.
    pub thresholds: Thresholds,
    /// The longest a job may be deferred, in seconds.
    pub max_deferral_seconds: u64,
    /// One line per rule in order (`ID: condition → MODE`), then one per guardrail.
    pub notes: Vec<String>,
}

impl Policy {
    /// Reads and validates the policy file at `path`.
    ///
    /// # Errors
    /// [`PolicyError::Io`] if the file cannot be read; otherwise any
    /// validation error of [`Policy::from_str_named`], located in `path`.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, PolicyError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
            path: name.clone(),
            source,
        })?;
        Self::from_str_named(&text, &name)
    }

    /// Parses and validates policy YAML; `name` stands for the file in error
    /// locations and explanations.
    ///
    /// # Errors
    /// A [`PolicyError`] naming `name`, line and column for: YAML syntax
    /// errors, a wrong file structure, condition syntax, unknown variables,
    /// type errors and unknown urgency values, unknown modes, duplicate or
    /// reserved rule ids, `low > high`, rules that can never match
    /// (unsatisfiable or shadowed by earlier rules) and rules that leave some
    /// jobs unmatched.
    pub fn from_str_named(text: &str, name: &str) -> Result<Self, PolicyError> {
        let document = policy_file::read_document(text, name)?;
        check_reachability(&document)?;
        Ok(Self {
            name: name.to_owned(),
            thresholds: document.thresholds,
            max_deferral_seconds: document.max_deferral_seconds,
            rules: document
                .rules
                .into_iter()
                .map(|rule| Rule {
                    id: rule.id,
                    condition: rule.condition,
                    mode: rule.mode,
                })
                .collect(),
        })
    }

    /// The name the policy was loaded under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The carbon-intensity thresholds.
    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }

    /// The longest a job may stay deferred, in seconds.
    pub fn max_deferral_seconds(&self) -> u64 {
        self.max_deferral_seconds
    }

    /// The longest a job may stay deferred.
    pub fn max_deferral(&self) -> Duration {
        Duration::from_secs(self.max_deferral_seconds)
    }

    /// The rules, in the order they are tried.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The first rule whose condition matches `input`. Does not allocate.
    #[must_use]
    pub fn matching_rule(&self, input: &PolicyInput<'_>) -> &Rule {
        // Loading proved the rules exhaustive, so some rule matches; were it
        // otherwise, the last rule would apply.
        let last = self.rules.len().saturating_sub(1);
        let index = self
            .rules
            .iter()
            .position(|rule| rule.condition.matches(input))
            .unwrap_or(last);
        &self.rules[index]
    }

    /// Routes a job: the first matching rule's mode, except that a critical
    /// job is never deferred (DEFER becomes ECO with
    /// [`GUARDRAIL_CRITICAL_OVERRIDE`]).
    #[must_use]
    pub fn decide(&self, input: &PolicyInput<'_>) -> RouteDecision {
        let rule = self.matching_rule(input);
        let reason = rule.condition.explain(input);
        if rule.mode == RouteMode::Defer && input.urgency_level() == Urgency::Critical {
            RouteDecision::critical_override(&rule.id, &reason)
        } else {
            RouteDecision::from_rule(&rule.id, rule.mode, reason)
        }
    }

    /// For a job deferred for `deferred_for`: the [`GUARDRAIL_MAX_DEFERRAL`]
    /// decision (ECO) once it has waited the maximum deferral or longer,
    /// `None` while it may keep waiting.
    #[must_use]
    pub fn max_deferral_release(&self, deferred_for: Duration) -> Option<RouteDecision> {
        let max_deferral = self.max_deferral();
        (deferred_for >= max_deferral)
            .then(|| RouteDecision::max_deferral_release(deferred_for, max_deferral))
    }

    /// The thresholds, the maximum deferral, and one human-readable line per
    /// rule and per guardrail.
    #[must_use]
    pub fn explain(&self) -> PolicyExplanation {
        let mut notes: Vec<String> = self.rules.iter().map(Rule::to_string).collect();
        notes.push(format!(
            "{GUARDRAIL_CRITICAL_OVERRIDE}: a critical job is never deferred; \
             a rule choosing DEFER for it gives ECO"
        ));
        notes.push(format!(
            "{GUARDRAIL_MAX_DEFERRAL}: a job deferred for {}s is released in ECO mode",
            self.max_deferral_seconds
        ));
        notes.push(format!(
            "{GUARDRAIL_DEADLINE}: a deferred job is released on FAST at the latest \
             start time that still meets its deadline"
        ));
        PolicyExplanation {
            policy: self.name.clone(),
            thresholds: self.thresholds,
            max_deferral_seconds: self.max_deferral_seconds,
            notes,
        }
    }
}

/// Runs the reachability analysis and locates its first finding.
fn check_reachability(document: &PolicyDocument) -> Result<(), PolicyError> {
    let conditions: Vec<&Condition> = document.rules.iter().map(|rule| &rule.condition).collect();
    let finding = match analysis::check_rules(&conditions) {
        Ok(()) => return Ok(()),
        Err(finding) => finding,
    };
    let rule = |index: usize| &document.rules[index];
    Err(match finding {
        Finding::Unsatisfiable { rule: index } => PolicyError::UnsatisfiableRule {
            location: rule(index).condition_location.clone(),
            id: rule(index).id.clone(),
        },
        Finding::Shadowed { rule: index, by } => PolicyError::ShadowedRule {
            location: rule(index).condition_location.clone(),
            id: rule(index).id.clone(),
            shadowed_by: by
                .into_iter()
                .map(|earlier| rule(earlier).id.clone())
                .collect(),
        },
        Finding::NotExhaustive { example } => PolicyError::NotExhaustive {
            location: document.rules_location.clone(),
            example,
        },
        Finding::TooComplex { cases } => PolicyError::TooComplex {
            location: document.rules_location.clone(),
            cases,
            limit: analysis::MAX_CASES,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> Policy {
        Policy::from_str_named(SEED_POLICY_YAML, "seed.yaml").unwrap()
    }

    fn decide(policy: &Policy, carbon_intensity: f64, urgency: &str) -> RouteDecision {
        policy.decide(&PolicyInput::new(carbon_intensity, urgency, "training").unwrap())
    }

    /// The intensities around both thresholds of the seed policy.
    const EDGES: [f64; 6] = [199.99, 200.0, 200.01, 399.99, 400.0, 400.01];

    /// (intensity, urgency, mode, rule id) as the prototype decided.
    const SEED_TABLE: [(f64, &str, RouteMode, &str); 18] = [
        (199.99, "critical", RouteMode::Fast, "CRITICAL_OVERRIDE"),
        (200.0, "critical", RouteMode::Fast, "CRITICAL_OVERRIDE"),
        (200.01, "critical", RouteMode::Fast, "CRITICAL_OVERRIDE"),
        (399.99, "critical", RouteMode::Fast, "CRITICAL_OVERRIDE"),
        (400.0, "critical", RouteMode::Fast, "CRITICAL_OVERRIDE"),
        (400.01, "critical", RouteMode::Fast, "CRITICAL_OVERRIDE"),
        (199.99, "normal", RouteMode::Fast, "LOW_CARBON_FAST"),
        (200.0, "normal", RouteMode::Eco, "MEDIUM_DEFAULT_ECO"),
        (200.01, "normal", RouteMode::Eco, "MEDIUM_DEFAULT_ECO"),
        (399.99, "normal", RouteMode::Eco, "MEDIUM_DEFAULT_ECO"),
        (400.0, "normal", RouteMode::Eco, "MEDIUM_DEFAULT_ECO"),
        (400.01, "normal", RouteMode::Eco, "HIGH_CARBON_ECO"),
        (199.99, "flexible", RouteMode::Fast, "LOW_CARBON_FAST"),
        (200.0, "flexible", RouteMode::Defer, "MEDIUM_FLEX_DEFER"),
        (200.01, "flexible", RouteMode::Defer, "MEDIUM_FLEX_DEFER"),
        (399.99, "flexible", RouteMode::Defer, "MEDIUM_FLEX_DEFER"),
        (400.0, "flexible", RouteMode::Defer, "MEDIUM_FLEX_DEFER"),
        (400.01, "flexible", RouteMode::Eco, "HIGH_CARBON_ECO"),
    ];

    #[test]
    fn seed_policy_decides_like_the_prototype_at_every_threshold_edge() {
        let policy = seed();
        for (carbon_intensity, urgency, mode, rule_id) in SEED_TABLE {
            let decision = decide(&policy, carbon_intensity, urgency);
            assert_eq!(
                (
                    decision.mode,
                    decision.policy_rule_id.as_str(),
                    decision.guardrail_applied
                ),
                (mode, rule_id, false),
                "{urgency} job at {carbon_intensity} gCO2/kWh"
            );
        }
        let covered: Vec<f64> = SEED_TABLE.iter().take(6).map(|row| row.0).collect();
        assert_eq!(covered, EDGES);
    }

    #[test]
    fn seed_policy_explains_each_rule_with_the_job_facts() {
        let policy = seed();
        let cases = [
            (150.0, "critical", "urgency is critical"),
            (
                150.0,
                "normal",
                "carbon intensity 150.0 gCO2/kWh is below low threshold 200",
            ),
            (
                400.01,
                "flexible",
                "carbon intensity 400.01 gCO2/kWh is above high threshold 400",
            ),
            (
                200.0,
                "flexible",
                "carbon intensity 200.0 gCO2/kWh is at or above low threshold 200 and is at or \
                 below high threshold 400 and urgency is flexible",
            ),
            (
                300.0,
                "normal",
                "no earlier rule matched (carbon intensity 300.0 gCO2/kWh, urgency normal, \
                 job type training)",
            ),
        ];
        for (carbon_intensity, urgency, reason) in cases {
            assert_eq!(decide(&policy, carbon_intensity, urgency).reason, reason);
        }
    }

    /// The seed without its CRITICAL_OVERRIDE rule, so that critical jobs reach
    /// the DEFER rule and the guardrail has something to do.
    fn seed_without_critical_rule() -> Policy {
        let text = SEED_POLICY_YAML.replace(
            "  - policy_rule_id: CRITICAL_OVERRIDE\n    condition: urgency == critical\n    mode: FAST\n",
            "",
        );
        assert_ne!(text, SEED_POLICY_YAML);
        let rules = "  - policy_rule_id: MEDIUM_FLEX_DEFER\n    condition: carbon_intensity >= low AND carbon_intensity <= high AND urgency == flexible";
        let text = text.replace(
            rules,
            &rules.replace("urgency == flexible", "urgency != normal"),
        );
        Policy::from_str_named(&text, "no_critical_rule.yaml").unwrap()
    }

    #[test]
    fn critical_job_is_never_deferred() {
        let policy = seed_without_critical_rule();
        let expected = [
            (199.99, RouteMode::Fast, "LOW_CARBON_FAST", false),
            (200.0, RouteMode::Eco, GUARDRAIL_CRITICAL_OVERRIDE, true),
            (200.01, RouteMode::Eco, GUARDRAIL_CRITICAL_OVERRIDE, true),
            (399.99, RouteMode::Eco, GUARDRAIL_CRITICAL_OVERRIDE, true),
            (400.0, RouteMode::Eco, GUARDRAIL_CRITICAL_OVERRIDE, true),
            (400.01, RouteMode::Eco, "HIGH_CARBON_ECO", false),
        ];
        for (carbon_intensity, mode, rule_id, guardrail) in expected {
            let decision = decide(&policy, carbon_intensity, "critical");
            assert_eq!(
                (
                    decision.mode,
                    decision.policy_rule_id.as_str(),
                    decision.guardrail_applied
                ),
                (mode, rule_id, guardrail),
                "critical job at {carbon_intensity} gCO2/kWh"
            );
        }
        for carbon_intensity in EDGES {
            assert_ne!(
                decide(&policy, carbon_intensity, "critical").mode,
                RouteMode::Defer
            );
        }
    }

    #[test]
    fn critical_override_reason_names_the_deferring_rule() {
        let decision = decide(&seed_without_critical_rule(), 300.0, "critical");
        assert_eq!(
            decision.reason,
            "rule MEDIUM_FLEX_DEFER would defer this job (carbon intensity 300.0 gCO2/kWh is at \
             or above low threshold 200 and is at or below high threshold 400 and urgency is \
             critical, not normal), but critical jobs are never deferred; running in ECO mode"
        );
    }

    #[test]
    fn non_critical_jobs_are_still_deferred_without_the_critical_rule() {
        let decision = decide(&seed_without_critical_rule(), 300.0, "flexible");
        assert_eq!(
            (decision.mode, decision.policy_rule_id.as_str()),
            (RouteMode::Defer, "MEDIUM_FLEX_DEFER")
        );
    }

    #[test]
    fn deferred_job_is_released_at_the_maximum_deferral() {
        let policy = seed();
        assert_eq!(policy.max_deferral_seconds(), 600);
        assert_eq!(policy.max_deferral(), Duration::from_secs(600));
        let cases = [
            (Duration::from_secs(0), false),
            (Duration::from_millis(599_999), false),
            (Duration::from_secs(600), true),
            (Duration::from_millis(600_001), true),
            (Duration::from_secs(601), true),
        ];
        for (deferred_for, released) in cases {
            let decision = policy.max_deferral_release(deferred_for);
            assert_eq!(
                decision.is_some(),
                released,
                "deferred for {deferred_for:?}"
            );
            if let Some(decision) = decision {
                assert_eq!(decision.mode, RouteMode::Eco);
                assert_eq!(decision.policy_rule_id, GUARDRAIL_MAX_DEFERRAL);
                assert!(decision.guardrail_applied);
            }
        }
        assert_eq!(
            policy.max_deferral_release(Duration::from_secs(601)).unwrap().reason,
            "job was deferred for 601s, reaching the maximum deferral of 600s; released in ECO mode"
        );
    }

    #[test]
    fn deadline_release_is_fast_with_its_own_id() {
        let decision = RouteDecision::deadline_release(Duration::from_secs(42));
        assert_eq!(
            (
                decision.mode,
                decision.policy_rule_id.as_str(),
                decision.guardrail_applied
            ),
            (RouteMode::Fast, GUARDRAIL_DEADLINE, true)
        );
    }

    #[test]
    fn explain_lists_thresholds_rules_and_guardrails() {
        let explanation = seed().explain();
        assert_eq!(explanation.policy, "seed.yaml");
        assert_eq!(
            explanation.thresholds,
            Thresholds {
                low: 200.0,
                high: 400.0
            }
        );
        assert_eq!(explanation.max_deferral_seconds, 600);
        assert_eq!(
            explanation.notes,
            [
                "CRITICAL_OVERRIDE: urgency == critical → FAST",
                "LOW_CARBON_FAST: carbon_intensity < low → FAST",
                "HIGH_CARBON_ECO: carbon_intensity > high → ECO",
                "MEDIUM_FLEX_DEFER: carbon_intensity >= low AND carbon_intensity <= high \
                 AND urgency == flexible → DEFER",
                "MEDIUM_DEFAULT_ECO: default → ECO",
                "GUARDRAIL_CRITICAL_OVERRIDE: a critical job is never deferred; \
                 a rule choosing DEFER for it gives ECO",
                "GUARDRAIL_MAX_DEFERRAL: a job deferred for 600s is released in ECO mode",
                "GUARDRAIL_DEADLINE: a deferred job is released on FAST at the latest \
                 start time that still meets its deadline",
            ]
        );
    }

    #[test]
    fn rules_are_exposed_in_order() {
        let policy = seed();
        let ids: Vec<&str> = policy.rules().iter().map(Rule::id).collect();
        assert_eq!(
            ids,
            [
                "CRITICAL_OVERRIDE",
                "LOW_CARBON_FAST",
                "HIGH_CARBON_ECO",
                "MEDIUM_FLEX_DEFER",
                "MEDIUM_DEFAULT_ECO"
            ]
        );
        assert!(policy.rules()[4].condition().is_default());
        assert_eq!(policy.rules()[3].mode(), RouteMode::Defer);
        assert_eq!(policy.name(), "seed.yaml");
        assert_eq!(
            policy.thresholds(),
            Thresholds {
                low: 200.0,
                high: 400.0
            }
        );
    }

    #[test]
    fn job_type_conditions_route_by_type() {
        let text = "version: 1\nthresholds: { low: 200, high: 400 }\n\
                    guardrails: { max_deferral_seconds: 600 }\nrules:\n\
                    - policy_rule_id: BATCH_WAITS\n  \
                      condition: type == \"batch_inference\" AND carbon_intensity >= low\n  \
                      mode: DEFER\n\
                    - policy_rule_id: OTHERS\n  condition: default\n  mode: FAST\n";
        let policy = Policy::from_str_named(text, "types.yaml").unwrap();
        let batch = PolicyInput::new(250.0, "normal", "batch_inference").unwrap();
        let training = PolicyInput::new(250.0, "normal", "training").unwrap();
        assert_eq!(policy.matching_rule(&batch).id(), "BATCH_WAITS");
        assert_eq!(policy.decide(&batch).reason, "job type is batch_inference and carbon intensity 250.0 gCO2/kWh is at or above low threshold 200");
        assert_eq!(policy.matching_rule(&training).id(), "OTHERS");
    }

    /// The seed policy with rule `extra` inserted before the default rule.
    fn seed_with_rule_before_default(extra: &str) -> String {
        SEED_POLICY_YAML.replace(
            "  - policy_rule_id: MEDIUM_DEFAULT_ECO\n",
            &format!("{extra}  - policy_rule_id: MEDIUM_DEFAULT_ECO\n"),
        )
    }

    fn load_error(text: &str) -> String {
        Policy::from_str_named(text, "policy.yaml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn unsatisfiable_intensity_rule_is_rejected_at_its_condition() {
        let text = seed_with_rule_before_default(
            "  - policy_rule_id: NEVER\n    condition: carbon_intensity < low AND carbon_intensity > high\n    mode: FAST\n",
        );
        assert_eq!(
            load_error(&text),
            "policy.yaml:21:16: rule `NEVER` can never match: its condition is unsatisfiable"
        );
    }

    #[test]
    fn unsatisfiable_urgency_rule_is_rejected_at_its_condition() {
        let text = seed_with_rule_before_default(
            "  - policy_rule_id: NEVER\n    condition: urgency == critical AND urgency == flexible\n    mode: FAST\n",
        );
        assert_eq!(
            load_error(&text),
            "policy.yaml:21:16: rule `NEVER` can never match: its condition is unsatisfiable"
        );
    }

    #[test]
    fn rule_after_default_is_rejected_as_shadowed() {
        let text = format!(
            "{SEED_POLICY_YAML}  - policy_rule_id: LATE\n    condition: type == training\n    mode: FAST\n"
        );
        assert_eq!(
            load_error(&text),
            "policy.yaml:24:16: rule `LATE` can never match: every job it accepts is matched \
             by earlier rules (CRITICAL_OVERRIDE, LOW_CARBON_FAST, HIGH_CARBON_ECO, \
             MEDIUM_FLEX_DEFER, MEDIUM_DEFAULT_ECO)"
        );
    }

    #[test]
    fn rule_covered_by_earlier_rules_is_rejected_as_shadowed() {
        let text = seed_with_rule_before_default(
            "  - policy_rule_id: HOT_FLEX\n    condition: urgency == flexible AND carbon_intensity >= 450\n    mode: ECO\n",
        );
        assert_eq!(
            load_error(&text),
            "policy.yaml:21:16: rule `HOT_FLEX` can never match: every job it accepts is matched \
             by earlier rules (HIGH_CARBON_ECO)"
        );
        let text = seed_with_rule_before_default(
            "  - policy_rule_id: NOT_NORMAL\n    condition: urgency != normal AND carbon_intensity >= low\n    mode: ECO\n",
        );
        assert_eq!(
            load_error(&text),
            "policy.yaml:21:16: rule `NOT_NORMAL` can never match: every job it accepts is \
             matched by earlier rules (CRITICAL_OVERRIDE, HIGH_CARBON_ECO, MEDIUM_FLEX_DEFER)"
        );
    }

    #[test]
    fn rules_without_a_catch_all_are_rejected() {
        let text = SEED_POLICY_YAML.replace(
            "  - policy_rule_id: MEDIUM_DEFAULT_ECO\n    condition: default\n    mode: ECO\n",
            "",
        );
        assert_eq!(
            load_error(&text),
            "policy.yaml:8:3: rules do not cover every job, for example jobs with \
             carbon_intensity == 200, urgency normal and any type; end the rules with a \
             `condition: default` rule"
        );
    }

    #[test]
    fn overly_complex_policy_is_refused_at_the_rules_list() {
        let rules: String = (0..400)
            .map(|index| {
                format!(
                    "  - policy_rule_id: R{index}\n    \
                     condition: type == t{index} AND carbon_intensity < {index}\n    mode: ECO\n"
                )
            })
            .collect();
        let text = format!(
            "version: 1\nthresholds: {{ low: 200, high: 400 }}\n\
             guardrails: {{ max_deferral_seconds: 600 }}\nrules:\n{rules}"
        );
        assert_eq!(
            load_error(&text),
            "policy.yaml:5:3: policy is too complex to analyse (963603 cases, limit 200000)"
        );
    }

    #[test]
    fn config_policy_file_is_the_seed_policy() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/policy.yaml");
        let from_file = Policy::from_path(path).unwrap();
        let seed = seed();
        assert_eq!(from_file.rules(), seed.rules());
        assert_eq!(from_file.thresholds(), seed.thresholds());
        assert_eq!(
            from_file.max_deferral_seconds(),
            seed.max_deferral_seconds()
        );
        assert_eq!(from_file.name(), path);
    }

    #[test]
    fn errors_from_a_file_name_its_path() {
        let path =
            std::env::temp_dir().join(format!("carbonq-policy-test-{}.yaml", std::process::id()));
        std::fs::write(&path, "version: 1\nthresholds: { low: 500, high: 400 }\n").unwrap();
        let error = Policy::from_path(&path).unwrap_err().to_string();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            error,
            format!(
                "{}:2:20: low threshold 500 is greater than high threshold 400",
                path.display()
            )
        );
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let error = Policy::from_path("/nonexistent/carbonq/policy.yaml").unwrap_err();
        assert!(matches!(error, PolicyError::Io { .. }));
        assert!(error
            .to_string()
            .starts_with("/nonexistent/carbonq/policy.yaml: cannot read policy file: "));
    }
}
