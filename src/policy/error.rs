//! Errors raised while loading a policy file or building a [`PolicyInput`].
//!
//! Every error found in a policy file carries a [`SourceLocation`] and its
//! message starts with `file:line:column`, so an operator can jump straight to
//! the offending text.
//!
//! [`PolicyInput`]: super::PolicyInput

use std::fmt;

/// A position in a policy file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceLocation {
    /// Name of the policy file: its path, or the name given to
    /// [`Policy::from_str_named`](super::Policy::from_str_named).
    pub file: String,
    /// Line number, starting at 1.
    pub line: usize,
    /// Column number, starting at 1 and counted in characters.
    pub column: usize,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Why a policy could not be loaded, or why a policy input was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy file could not be read.
    #[error("{path}: cannot read policy file: {source}")]
    Io {
        /// Path of the file.
        path: String,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not well-formed YAML.
    #[error("{location}: yaml syntax error: {message}")]
    Yaml {
        /// Where the YAML parser stopped.
        location: SourceLocation,
        /// The YAML parser's description of the problem.
        message: String,
    },
    /// The YAML is well-formed but does not have the policy's shape
    /// (missing or unknown key, wrong kind of value, unsupported version...).
    #[error("{location}: {message}")]
    Schema {
        /// Where the offending key or value starts.
        location: SourceLocation,
        /// What is wrong.
        message: String,
    },
    /// A condition is not syntactically valid (bad operator, missing operand,
    /// unbalanced parenthesis...).
    #[error("{location}: syntax error in condition: {message}")]
    ConditionSyntax {
        /// Where in the file the error is, inside the condition text.
        location: SourceLocation,
        /// What is wrong.
        message: String,
    },
    /// A condition names a variable that does not exist.
    #[error(
        "{location}: unknown variable `{name}` in condition; \
         expected carbon_intensity, urgency, type, low or high"
    )]
    UnknownVariable {
        /// Where the name starts.
        location: SourceLocation,
        /// The unknown name.
        name: String,
    },
    /// A condition compares urgency with a value that is not an urgency level.
    #[error("{location}: unknown urgency value `{value}`; expected critical, normal or flexible")]
    UnknownUrgency {
        /// Where the value starts.
        location: SourceLocation,
        /// The rejected value.
        value: String,
    },
    /// A condition compares operands of incompatible types.
    #[error("{location}: type error in condition: {message}")]
    ConditionType {
        /// Where the offending operand or operator starts.
        location: SourceLocation,
        /// What is wrong.
        message: String,
    },
    /// A rule's mode is not FAST, ECO or DEFER.
    #[error("{location}: unknown mode `{mode}`; expected FAST, ECO or DEFER")]
    UnknownMode {
        /// Where the mode value starts.
        location: SourceLocation,
        /// The rejected mode.
        mode: String,
    },
    /// Two rules share a `policy_rule_id`.
    #[error("{location}: duplicate policy_rule_id `{id}`, first defined at {first}")]
    DuplicateRuleId {
        /// Where the second occurrence starts.
        location: SourceLocation,
        /// The duplicated id.
        id: String,
        /// Where the first occurrence starts.
        first: SourceLocation,
    },
    /// The low threshold is above the high threshold.
    #[error("{location}: low threshold {low} is greater than high threshold {high}")]
    ThresholdsOutOfOrder {
        /// Where the low threshold value starts.
        location: SourceLocation,
        /// The low threshold.
        low: f64,
        /// The high threshold.
        high: f64,
    },
    /// A rule's condition is false for every possible job.
    #[error("{location}: rule `{id}` can never match: its condition is unsatisfiable")]
    UnsatisfiableRule {
        /// Where the rule's condition starts.
        location: SourceLocation,
        /// The rule's id.
        id: String,
    },
    /// Every job a rule's condition accepts is already taken by earlier rules.
    #[error(
        "{location}: rule `{id}` can never match: every job it accepts is matched \
         by earlier rules ({})",
        .shadowed_by.join(", ")
    )]
    ShadowedRule {
        /// Where the rule's condition starts.
        location: SourceLocation,
        /// The rule's id.
        id: String,
        /// Ids of the earlier rules that take the jobs it accepts, in file order.
        shadowed_by: Vec<String>,
    },
    /// Some jobs match no rule.
    #[error(
        "{location}: rules do not cover every job, for example {example}; \
         end the rules with a `condition: default` rule"
    )]
    NotExhaustive {
        /// Where the `rules` list starts.
        location: SourceLocation,
        /// A description of jobs that match no rule.
        example: String,
    },
    /// The rules use so many distinct constants that the reachability analysis
    /// would be too expensive.
    #[error("{location}: policy is too complex to analyse ({cases} cases, limit {limit})")]
    TooComplex {
        /// Where the `rules` list starts.
        location: SourceLocation,
        /// Number of cases the analysis would have to check.
        cases: usize,
        /// The largest number of cases the analysis accepts.
        limit: usize,
    },
    /// A [`PolicyInput`](super::PolicyInput) was built from invalid values.
    #[error("invalid policy input: {message}")]
    InvalidInput {
        /// What is wrong.
        message: String,
    },
}

impl PolicyError {
    /// Where in the policy file the error is, if it comes from a policy file.
    pub fn location(&self) -> Option<&SourceLocation> {
        match self {
            Self::Io { .. } | Self::InvalidInput { .. } => None,
            Self::Yaml { location, .. }
            | Self::Schema { location, .. }
            | Self::ConditionSyntax { location, .. }
            | Self::UnknownVariable { location, .. }
            | Self::UnknownUrgency { location, .. }
            | Self::ConditionType { location, .. }
            | Self::UnknownMode { location, .. }
            | Self::DuplicateRuleId { location, .. }
            | Self::ThresholdsOutOfOrder { location, .. }
            | Self::UnsatisfiableRule { location, .. }
            | Self::ShadowedRule { location, .. }
            | Self::NotExhaustive { location, .. }
            | Self::TooComplex { location, .. } => Some(location),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn here() -> SourceLocation {
        SourceLocation {
            file: "policy.yaml".to_owned(),
            line: 3,
            column: 14,
        }
    }

    #[test]
    fn location_displays_as_file_line_column() {
        assert_eq!(here().to_string(), "policy.yaml:3:14");
    }

    #[test]
    fn shadowed_rule_message_lists_the_earlier_rules() {
        let error = PolicyError::ShadowedRule {
            location: here(),
            id: "LATE".to_owned(),
            shadowed_by: vec!["A".to_owned(), "B".to_owned()],
        };
        assert_eq!(
            error.to_string(),
            "policy.yaml:3:14: rule `LATE` can never match: every job it accepts is matched \
             by earlier rules (A, B)"
        );
        assert_eq!(error.location(), Some(&here()));
    }

    #[test]
    fn input_errors_have_no_location() {
        let error = PolicyError::InvalidInput {
            message: "carbon intensity is NaN".to_owned(),
        };
        assert_eq!(error.location(), None);
        assert_eq!(
            error.to_string(),
            "invalid policy input: carbon intensity is NaN"
        );
    }
}
