//! Reading the policy file: YAML to a tree of located nodes, then to a
//! `PolicyDocument` whose every value is checked and located.
//!
//! The YAML is read with `saphyr-parser`, whose events carry the position of
//! every value, so errors inside a condition point at the exact character in
//! the file: the position of the condition's first character plus the offset
//! of the problem in the condition (for quoted and multi-line scalars the
//! condition's characters are matched back to the source text).
//!
//! The file must be a mapping with exactly these keys:
//!
//! ```yaml
//! version: 1                                  # must be 1
//! thresholds: { low: 200, high: 400 }         # numbers, gCO2/kWh, low <= high
//! guardrails: { max_deferral_seconds: 600 }   # positive whole number
//! rules:                                      # non-empty list, tried in order
//!   - policy_rule_id: CRITICAL_OVERRIDE       # unique, no whitespace, no GUARDRAIL_ prefix
//!     condition: urgency == critical          # see condition_parser
//!     mode: FAST                              # FAST, ECO or DEFER
//! ```

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Marker, Parser, Span};

use super::condition::Condition;
use super::decision::{RouteMode, GUARDRAIL_ID_PREFIX};
use super::error::{PolicyError, SourceLocation};
use super::thresholds::Thresholds;

/// The only policy file version this module reads.
pub(crate) const SUPPORTED_VERSION: u64 = 1;

/// A policy file's content, checked value by value (but not yet for rule
/// reachability, see [`analysis`](super::analysis)).
#[derive(Debug)]
pub(crate) struct PolicyDocument {
    pub(crate) thresholds: Thresholds,
    pub(crate) max_deferral_seconds: u64,
    pub(crate) rules: Vec<RuleSource>,
    /// Where the `rules` list starts.
    pub(crate) rules_location: SourceLocation,
}

/// One rule as read from the file.
#[derive(Debug)]
pub(crate) struct RuleSource {
    pub(crate) id: String,
    pub(crate) condition: Condition,
    /// Where the condition text starts.
    pub(crate) condition_location: SourceLocation,
    pub(crate) mode: RouteMode,
}

/// Reads the policy in `text`; `file` names it in error locations.
pub(crate) fn read_document(text: &str, file: &str) -> Result<PolicyDocument, PolicyError> {
    let source = Source { text, file };
    let root = source.tree()?;
    let Some(root) = root else {
        return Err(source.schema(Marker::new(0, 1, 0), "policy file is empty"));
    };
    source.document(&root)
}

/// A YAML value with its position.
#[derive(Debug)]
struct Node<'t> {
    kind: NodeKind<'t>,
    span: Span,
}

#[derive(Debug)]
enum NodeKind<'t> {
    Scalar(Cow<'t, str>),
    Sequence(Vec<Node<'t>>),
    Mapping(Vec<(Node<'t>, Node<'t>)>),
}

/// A collection being read, waiting for its end event.
enum Frame<'t> {
    Sequence {
        span: Span,
        items: Vec<Node<'t>>,
    },
    Mapping {
        span: Span,
        entries: Vec<(Node<'t>, Node<'t>)>,
        key: Option<Node<'t>>,
    },
}

impl<'t> Frame<'t> {
    fn into_node(self) -> Node<'t> {
        match self {
            Self::Sequence { span, items } => Node {
                kind: NodeKind::Sequence(items),
                span,
            },
            Self::Mapping { span, entries, .. } => Node {
                kind: NodeKind::Mapping(entries),
                span,
            },
        }
    }
}

/// The policy text and its name, for locating errors.
struct Source<'t> {
    text: &'t str,
    file: &'t str,
}

/// The keys of a YAML mapping, checked against the allowed ones.
struct Fields<'n, 't> {
    /// What the mapping is, for messages: `policy`, `thresholds`, `rule`...
    what: &'static str,
    node: &'n Node<'t>,
    entries: Vec<(&'n str, &'n Node<'t>)>,
}

impl<'t> Source<'t> {
    fn at(&self, marker: Marker) -> SourceLocation {
        SourceLocation {
            file: self.file.to_owned(),
            line: marker.line(),
            column: marker.col() + 1,
        }
    }

    fn schema(&self, marker: Marker, message: impl Into<String>) -> PolicyError {
        PolicyError::Schema {
            location: self.at(marker),
            message: message.into(),
        }
    }

    /// Parses the YAML into a tree; `None` for a file without a document.
    fn tree(&self) -> Result<Option<Node<'t>>, PolicyError> {
        let mut parser = Parser::new_from_str(self.text);
        let mut stack: Vec<Frame<'t>> = Vec::new();
        let mut root = None;
        let mut documents = 0;
        while let Some(next) = parser.next_event() {
            let (event, span) = next.map_err(|error| PolicyError::Yaml {
                location: self.at(*error.marker()),
                message: error.info().to_owned(),
            })?;
            let node = match event {
                Event::DocumentStart(_) => {
                    documents += 1;
                    if documents > 1 {
                        return Err(
                            self.schema(span.start, "policy file must hold a single yaml document")
                        );
                    }
                    continue;
                }
                Event::Alias(_) => {
                    return Err(
                        self.schema(span.start, "yaml aliases are not supported in policy files")
                    )
                }
                Event::Scalar(value, ..) => Node {
                    kind: NodeKind::Scalar(value),
                    span,
                },
                Event::SequenceStart(..) => {
                    stack.push(Frame::Sequence {
                        span,
                        items: Vec::new(),
                    });
                    continue;
                }
                Event::MappingStart(..) => {
                    stack.push(Frame::Mapping {
                        span,
                        entries: Vec::new(),
                        key: None,
                    });
                    continue;
                }
                Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                    Some(frame) => frame.into_node(),
                    None => continue,
                },
                Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {
                    continue
                }
            };
            match stack.last_mut() {
                None => root = Some(node),
                Some(Frame::Sequence { items, .. }) => items.push(node),
                Some(Frame::Mapping { entries, key, .. }) => match key.take() {
                    None => *key = Some(node),
                    Some(key) => entries.push((key, node)),
                },
            }
        }
        Ok(root)
    }

    fn document(&self, root: &Node<'t>) -> Result<PolicyDocument, PolicyError> {
        let policy = self.fields(
            root,
            "policy",
            &["version", "thresholds", "guardrails", "rules"],
        )?;

        let version_node = policy.required(self, "version")?;
        let version = self.whole_number(version_node, "version")?;
        if version != SUPPORTED_VERSION {
            return Err(self.schema(
                version_node.span.start,
                format!("unsupported policy version {version}; expected {SUPPORTED_VERSION}"),
            ));
        }

        let thresholds = self.fields(
            policy.required(self, "thresholds")?,
            "thresholds",
            &["low", "high"],
        )?;
        let low_node = thresholds.required(self, "low")?;
        let low = self.number(low_node, "low")?;
        let high = self.number(thresholds.required(self, "high")?, "high")?;
        if low > high {
            return Err(PolicyError::ThresholdsOutOfOrder {
                location: self.at(low_node.span.start),
                low,
                high,
            });
        }
        let thresholds = Thresholds { low, high };

        let guardrails = self.fields(
            policy.required(self, "guardrails")?,
            "guardrails",
            &["max_deferral_seconds"],
        )?;
        let deferral_node = guardrails.required(self, "max_deferral_seconds")?;
        let max_deferral_seconds = self.whole_number(deferral_node, "max_deferral_seconds")?;
        if max_deferral_seconds == 0 {
            return Err(self.schema(
                deferral_node.span.start,
                "`max_deferral_seconds` must be a positive whole number of seconds, found `0`",
            ));
        }

        let rules_node = policy.required(self, "rules")?;
        let NodeKind::Sequence(items) = &rules_node.kind else {
            return Err(self.schema(rules_node.span.start, "`rules` must be a list of rules"));
        };
        if items.is_empty() {
            return Err(self.schema(rules_node.span.start, "`rules` must not be empty"));
        }
        let mut first_ids: HashMap<String, SourceLocation> = HashMap::new();
        let mut rules = Vec::with_capacity(items.len());
        for item in items {
            let (rule, id_location) = self.rule(item, thresholds)?;
            if let Some(first) = first_ids.get(rule.id.as_str()) {
                return Err(PolicyError::DuplicateRuleId {
                    location: id_location,
                    id: rule.id,
                    first: first.clone(),
                });
            }
            first_ids.insert(rule.id.clone(), id_location);
            rules.push(rule);
        }
        Ok(PolicyDocument {
            thresholds,
            max_deferral_seconds,
            rules,
            rules_location: self.at(rules_node.span.start),
        })
    }

    /// Reads one rule; also returns where its id is.
    fn rule(
        &self,
        node: &Node<'t>,
        thresholds: Thresholds,
    ) -> Result<(RuleSource, SourceLocation), PolicyError> {
        let fields = self.fields(node, "rule", RULE_KEYS)?;

        let id_node = fields.required(self, "policy_rule_id")?;
        let id = self.scalar(id_node, "policy_rule_id")?;
        let id_location = self.at(id_node.span.start);
        if id.is_empty() {
            return Err(self.schema(id_node.span.start, "`policy_rule_id` must not be empty"));
        }
        if id.chars().any(char::is_whitespace) {
            return Err(self.schema(
                id_node.span.start,
                format!("`policy_rule_id` must not contain whitespace, found `{id}`"),
            ));
        }
        if id.starts_with(GUARDRAIL_ID_PREFIX) {
            return Err(self.schema(
                id_node.span.start,
                format!(
                    "policy_rule_id `{id}` starts with {GUARDRAIL_ID_PREFIX}, \
                     which is reserved for guardrails"
                ),
            ));
        }

        let condition_node = fields.required(self, "condition")?;
        let text = self.scalar(condition_node, "condition")?;
        let condition = Condition::parse(text, thresholds).map_err(|error| {
            let location = self.inside_scalar(condition_node, text, error.offset);
            error.into_policy_error(location)
        })?;

        let mode_node = fields.required(self, "mode")?;
        let mode_name = self.scalar(mode_node, "mode")?;
        let mode = RouteMode::from_name(mode_name).ok_or_else(|| PolicyError::UnknownMode {
            location: self.at(mode_node.span.start),
            mode: mode_name.to_owned(),
        })?;

        let rule = RuleSource {
            id: id.to_owned(),
            condition,
            condition_location: self.at(condition_node.span.start),
            mode,
        };
        Ok((rule, id_location))
    }

    /// Checks that `node` is a mapping whose keys are distinct and `allowed`.
    fn fields<'n>(
        &self,
        node: &'n Node<'t>,
        what: &'static str,
        allowed: &[&str],
    ) -> Result<Fields<'n, 't>, PolicyError> {
        let NodeKind::Mapping(entries) = &node.kind else {
            return Err(self.schema(
                node.span.start,
                format!(
                    "`{what}` must be a mapping with keys {}",
                    allowed.join(", ")
                ),
            ));
        };
        let mut checked: Vec<(&'n str, &'n Node<'t>)> = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let NodeKind::Scalar(name) = &key.kind else {
                return Err(
                    self.schema(key.span.start, format!("`{what}` keys must be plain names"))
                );
            };
            let name: &'n str = name;
            if !allowed.contains(&name) {
                return Err(self.schema(
                    key.span.start,
                    format!(
                        "unknown key `{name}` in {what}; expected {}",
                        allowed.join(", ")
                    ),
                ));
            }
            if checked.iter().any(|(seen, _)| *seen == name) {
                return Err(
                    self.schema(key.span.start, format!("duplicate key `{name}` in {what}"))
                );
            }
            checked.push((name, value));
        }
        Ok(Fields {
            what,
            node,
            entries: checked,
        })
    }

    /// The text of a scalar value.
    fn scalar<'n>(&self, node: &'n Node<'t>, what: &str) -> Result<&'n str, PolicyError> {
        match &node.kind {
            NodeKind::Scalar(text) => Ok(text.as_ref()),
            NodeKind::Sequence(_) => Err(self.schema(
                node.span.start,
                format!("`{what}` must be a single value, not a list"),
            )),
            NodeKind::Mapping(_) => Err(self.schema(
                node.span.start,
                format!("`{what}` must be a single value, not a mapping"),
            )),
        }
    }

    /// A finite number written as a plain scalar.
    fn number(&self, node: &Node<'t>, what: &str) -> Result<f64, PolicyError> {
        let text = self.scalar(node, what)?;
        match text.parse::<f64>() {
            Ok(value) if value.is_finite() && is_plain_number(text) => Ok(value),
            _ => Err(self.schema(
                node.span.start,
                format!("`{what}` must be a number, found {}", describe_scalar(text)),
            )),
        }
    }

    /// A non-negative whole number written as a plain scalar.
    fn whole_number(&self, node: &Node<'t>, what: &str) -> Result<u64, PolicyError> {
        let text = self.scalar(node, what)?;
        match text.parse::<u64>() {
            Ok(value) if !text.starts_with('+') => Ok(value),
            _ => Err(self.schema(
                node.span.start,
                format!(
                    "`{what}` must be a positive whole number, found {}",
                    describe_scalar(text)
                ),
            )),
        }
    }

    /// Where the character at `byte_offset` of the scalar `value` (or just
    /// after its end) is in the file.
    ///
    /// Walks the source from the scalar's start, matching each character of
    /// the value in turn, which skips quotes, escapes' backslashes and the
    /// indentation of continuation lines. Falls back to the scalar's start if
    /// the value cannot be matched (e.g. `\t` escapes).
    fn inside_scalar(&self, node: &Node<'t>, value: &str, byte_offset: usize) -> SourceLocation {
        let start = node.span.start;
        let Some(before) = value.get(..byte_offset) else {
            return self.at(start);
        };
        let target = before.chars().count();
        let length = node.span.end.index().saturating_sub(start.index());
        let mut source = self.text.chars().skip(start.index()).take(length);
        let (mut line, mut column) = (start.line(), start.col());
        let mut after_last = (line, column);
        for (index, wanted) in value.chars().enumerate() {
            loop {
                let Some(found) = source.next() else {
                    return self.at(start);
                };
                let here = (line, column);
                if found == '\n' {
                    line += 1;
                    column = 0;
                } else {
                    column += 1;
                }
                if found == wanted {
                    if index == target {
                        return self.at(Marker::new(0, here.0, here.1));
                    }
                    after_last = (line, column);
                    break;
                }
            }
        }
        self.at(Marker::new(0, after_last.0, after_last.1))
    }
}

/// The keys of a rule mapping.
const RULE_KEYS: &[&str] = &["policy_rule_id", "condition", "mode"];

impl<'n, 't> Fields<'n, 't> {
    /// The value of key `name`, which must be present.
    fn required(&self, source: &Source<'_>, name: &str) -> Result<&'n Node<'t>, PolicyError> {
        self.entries
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| *value)
            .ok_or_else(|| {
                source.schema(
                    self.node.span.start,
                    format!("{} is missing key `{name}`", self.what),
                )
            })
    }
}

/// Whether `text` is written like a decimal number (Rust's float parser also
/// accepts words such as `inf` and `NaN`).
fn is_plain_number(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
}

/// A scalar's text for messages; `nothing` when empty.
fn describe_scalar(text: &str) -> String {
    if text.is_empty() {
        "nothing".to_owned()
    } else {
        format!("`{text}`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::policy_input::PolicyInput;

    const SEED: &str = include_str!("seed_policy.yaml");

    fn read(text: &str) -> Result<PolicyDocument, PolicyError> {
        read_document(text, "policy.yaml")
    }

    fn error(text: &str) -> String {
        read(text).unwrap_err().to_string()
    }

    /// A valid policy whose rule list is replaced by `rules`.
    fn with_rules(rules: &str) -> String {
        format!(
            "version: 1\nthresholds: {{ low: 200, high: 400 }}\n\
             guardrails: {{ max_deferral_seconds: 600 }}\nrules:\n{rules}"
        )
    }

    #[test]
    fn seed_file_is_read_in_order() {
        let document = read(SEED).unwrap();
        assert_eq!(
            document.thresholds,
            Thresholds {
                low: 200.0,
                high: 400.0
            }
        );
        assert_eq!(document.max_deferral_seconds, 600);
        let rules: Vec<(String, String, RouteMode)> = document
            .rules
            .iter()
            .map(|rule| (rule.id.clone(), rule.condition.to_string(), rule.mode))
            .collect();
        assert_eq!(
            rules,
            [
                (
                    "CRITICAL_OVERRIDE".to_owned(),
                    "urgency == critical".to_owned(),
                    RouteMode::Fast
                ),
                (
                    "LOW_CARBON_FAST".to_owned(),
                    "carbon_intensity < low".to_owned(),
                    RouteMode::Fast
                ),
                (
                    "HIGH_CARBON_ECO".to_owned(),
                    "carbon_intensity > high".to_owned(),
                    RouteMode::Eco
                ),
                (
                    "MEDIUM_FLEX_DEFER".to_owned(),
                    "carbon_intensity >= low AND carbon_intensity <= high AND urgency == flexible"
                        .to_owned(),
                    RouteMode::Defer
                ),
                (
                    "MEDIUM_DEFAULT_ECO".to_owned(),
                    "default".to_owned(),
                    RouteMode::Eco
                ),
            ]
        );
        assert_eq!(document.rules_location.to_string(), "policy.yaml:8:3");
        assert_eq!(
            document.rules[0].condition_location.to_string(),
            "policy.yaml:9:16"
        );
    }

    #[test]
    fn block_style_and_quoted_values_are_accepted() {
        let text = "version: 1\n\
                    thresholds:\n  low: 150.5\n  high: 150.5\n\
                    guardrails:\n  max_deferral_seconds: 30\n\
                    rules:\n\
                    - policy_rule_id: \"QUOTED\"\n  condition: 'type == \"x\"'\n  mode: \"DEFER\"\n\
                    - policy_rule_id: FOLDED\n  condition: >-\n    urgency == normal\n    OR type == y\n  mode: ECO\n";
        let document = read(text).unwrap();
        assert_eq!(
            document.thresholds,
            Thresholds {
                low: 150.5,
                high: 150.5
            }
        );
        assert_eq!(document.max_deferral_seconds, 30);
        assert_eq!(document.rules[0].id, "QUOTED");
        assert_eq!(document.rules[0].mode, RouteMode::Defer);
        assert_eq!(
            document.rules[1].condition.to_string(),
            "urgency == normal OR type == y"
        );
        let input = PolicyInput::new(1.0, "normal", "z").unwrap();
        assert!(document.rules[1].condition.matches(&input));
    }

    #[test]
    fn yaml_syntax_error_is_located() {
        assert_eq!(
            error("version: 1\nthresholds: { low: 200, high: 400\nguardrails: {}\n"),
            "policy.yaml:3:11: yaml syntax error: while parsing a flow mapping, \
             did not find expected ',' or '}'"
        );
        assert_eq!(
            error(&with_rules("  - policy_rule_id: A\n   mode: ECO\n")),
            "policy.yaml:6:4: yaml syntax error: while parsing a block collection, \
             did not find expected '-' indicator"
        );
    }

    #[test]
    fn empty_file_is_rejected() {
        assert_eq!(error(""), "policy.yaml:1:1: policy file is empty");
        assert_eq!(
            error("# only a comment\n"),
            "policy.yaml:1:1: policy file is empty"
        );
    }

    #[test]
    fn structural_errors_are_located() {
        let cases = [
            (
                "- a\n".to_owned(),
                "policy.yaml:1:1: `policy` must be a mapping with keys version, thresholds, \
                 guardrails, rules",
            ),
            (
                "version: 1\nversion: 1\n".to_owned(),
                "policy.yaml:2:1: duplicate key `version` in policy",
            ),
            (
                "version: 1\nrulez: []\n".to_owned(),
                "policy.yaml:2:1: unknown key `rulez` in policy; expected version, thresholds, \
                 guardrails, rules",
            ),
            (
                "thresholds: { low: 1, high: 2 }\n".to_owned(),
                "policy.yaml:1:1: policy is missing key `version`",
            ),
            (
                "version: 2\n".to_owned(),
                "policy.yaml:1:10: unsupported policy version 2; expected 1",
            ),
            (
                "version: one\n".to_owned(),
                "policy.yaml:1:10: `version` must be a positive whole number, found `one`",
            ),
            (
                "version: 1\nthresholds: { low: 200 }\n".to_owned(),
                "policy.yaml:2:13: thresholds is missing key `high`",
            ),
            (
                "version: 1\nthresholds: { low: cheap, high: 400 }\n".to_owned(),
                "policy.yaml:2:20: `low` must be a number, found `cheap`",
            ),
            (
                "version: 1\nthresholds: { low: 200, high: .nan }\n".to_owned(),
                "policy.yaml:2:31: `high` must be a number, found `.nan`",
            ),
            (
                "version: 1\nthresholds: { low: 200, high: inf }\n".to_owned(),
                "policy.yaml:2:31: `high` must be a number, found `inf`",
            ),
            (
                "version: 1\nthresholds: 200\n".to_owned(),
                "policy.yaml:2:13: `thresholds` must be a mapping with keys low, high",
            ),
            (
                "version: 1\nthresholds: { low: 200, high: 400 }\nguardrails: { max_deferral_seconds: 1.5 }\n"
                    .to_owned(),
                "policy.yaml:3:37: `max_deferral_seconds` must be a positive whole number, found `1.5`",
            ),
            (
                "version: 1\nthresholds: { low: 200, high: 400 }\nguardrails: { max_deferral_seconds: 0 }\n"
                    .to_owned(),
                "policy.yaml:3:37: `max_deferral_seconds` must be a positive whole number of seconds, \
                 found `0`",
            ),
            (
                with_rules("  {}\n"),
                "policy.yaml:5:3: `rules` must be a list of rules",
            ),
            (
                with_rules("  []\n"),
                "policy.yaml:5:3: `rules` must not be empty",
            ),
            (
                with_rules("  - policy_rule_id: A\n    condition: default\n"),
                "policy.yaml:5:5: rule is missing key `mode`",
            ),
            (
                with_rules("  - policy_rule_id: A\n    conditon: default\n    mode: ECO\n"),
                "policy.yaml:6:5: unknown key `conditon` in rule; expected policy_rule_id, \
                 condition, mode",
            ),
            (
                with_rules("  - policy_rule_id: [A]\n    condition: default\n    mode: ECO\n"),
                "policy.yaml:5:21: `policy_rule_id` must be a single value, not a list",
            ),
            (
                with_rules("  - policy_rule_id: ''\n    condition: default\n    mode: ECO\n"),
                "policy.yaml:5:21: `policy_rule_id` must not be empty",
            ),
            (
                with_rules("  - policy_rule_id: MY RULE\n    condition: default\n    mode: ECO\n"),
                "policy.yaml:5:21: `policy_rule_id` must not contain whitespace, found `MY RULE`",
            ),
            (
                with_rules("  - policy_rule_id: GUARDRAIL_MINE\n    condition: default\n    mode: ECO\n"),
                "policy.yaml:5:21: policy_rule_id `GUARDRAIL_MINE` starts with GUARDRAIL_, \
                 which is reserved for guardrails",
            ),
            (
                with_rules("  - policy_rule_id: A\n    condition: { x: 1 }\n    mode: ECO\n"),
                "policy.yaml:6:16: `condition` must be a single value, not a mapping",
            ),
            (
                "version: &v 1\nrules: *v\n".to_owned(),
                "policy.yaml:2:8: yaml aliases are not supported in policy files",
            ),
            (
                "version: 1\n---\nversion: 1\n".to_owned(),
                "policy.yaml:2:1: policy file must hold a single yaml document",
            ),
        ];
        for (text, message) in cases {
            assert_eq!(error(&text), message, "reading {text:?}");
        }
    }

    #[test]
    fn low_threshold_above_high_is_rejected_at_the_low_value() {
        assert_eq!(
            error("version: 1\nthresholds: { low: 500, high: 400 }\n"),
            "policy.yaml:2:20: low threshold 500 is greater than high threshold 400"
        );
    }

    #[test]
    fn unknown_mode_is_rejected_at_the_mode_value() {
        assert_eq!(
            error(&with_rules(
                "  - policy_rule_id: A\n    condition: default\n    mode: SLOW\n"
            )),
            "policy.yaml:7:11: unknown mode `SLOW`; expected FAST, ECO or DEFER"
        );
        assert_eq!(
            error(&with_rules(
                "  - policy_rule_id: A\n    condition: default\n    mode: fast\n"
            )),
            "policy.yaml:7:11: unknown mode `fast`; expected FAST, ECO or DEFER"
        );
    }

    #[test]
    fn duplicate_rule_id_names_both_places() {
        let rules = concat!(
            "  - policy_rule_id: A\n    condition: urgency == critical\n    mode: FAST\n",
            "  - policy_rule_id: A\n    condition: default\n    mode: ECO\n",
        );
        assert_eq!(
            error(&with_rules(rules)),
            "policy.yaml:8:21: duplicate policy_rule_id `A`, first defined at policy.yaml:5:21"
        );
    }

    #[test]
    fn condition_errors_point_inside_the_condition() {
        let rule = |condition: &str| {
            with_rules(&format!(
                "  - policy_rule_id: A\n    condition: {condition}\n    mode: ECO\n"
            ))
        };
        // The condition value starts at line 6, column 16.
        let cases = [
            (
                "carbon_intensty < low",
                "policy.yaml:6:16: unknown variable `carbon_intensty` in condition; \
                 expected carbon_intensity, urgency, type, low or high",
            ),
            (
                "carbon_intensity < medium",
                "policy.yaml:6:35: unknown variable `medium` in condition; \
                 expected carbon_intensity, urgency, type, low or high",
            ),
            (
                "carbon_intensity => low",
                "policy.yaml:6:33: syntax error in condition: unknown operator `=`; use `==` to compare",
            ),
            (
                "carbon_intensity < low AND",
                "policy.yaml:6:42: syntax error in condition: expected a comparison, \
                 found end of condition",
            ),
            (
                "urgency == urgent",
                "policy.yaml:6:27: unknown urgency value `urgent`; expected critical, normal or flexible",
            ),
            (
                "urgency < critical",
                "policy.yaml:6:24: type error in condition: operator `<` cannot compare `urgency`; \
                 use == or !=",
            ),
            (
                "\"type == 'a' AND urgency == urgent\"",
                "policy.yaml:6:44: unknown urgency value `urgent`; expected critical, normal or flexible",
            ),
            (
                "'type == ''a'' OR typ == b'",
                "policy.yaml:6:34: unknown variable `typ` in condition; \
                 expected carbon_intensity, urgency, type, low or high",
            ),
        ];
        for (condition, message) in cases {
            assert_eq!(error(&rule(condition)), message, "condition {condition:?}");
        }
    }

    #[test]
    fn condition_errors_in_multi_line_values_point_at_the_right_line() {
        let rules = "  - policy_rule_id: A\n    condition: |\n      urgency == normal\n      AND typ == x\n    mode: ECO\n";
        assert_eq!(
            error(&with_rules(rules)),
            "policy.yaml:8:11: unknown variable `typ` in condition; \
             expected carbon_intensity, urgency, type, low or high"
        );
        let rules = "  - policy_rule_id: A\n    condition: urgency == normal\n      OR\n      urgency ==\n    mode: ECO\n";
        assert_eq!(
            error(&with_rules(rules)),
            "policy.yaml:8:17: syntax error in condition: expected a value after `==`, \
             found end of condition"
        );
    }

    #[test]
    fn empty_condition_is_a_syntax_error() {
        assert_eq!(
            error(&with_rules(
                "  - policy_rule_id: A\n    condition:\n    mode: ECO\n"
            )),
            "policy.yaml:6:14: syntax error in condition: condition is empty"
        );
    }
}
