//! Typed rule conditions: the syntax tree, its canonical text, evaluation and
//! the human-readable explanation of why it matched.
//!
//! Conditions are parsed by [`condition_parser`]. The
//! tree is already "compiled": thresholds are substituted by their values,
//! urgency literals are validated levels and every comparison has the job
//! field on its left, so evaluating it neither fails nor allocates.

use std::fmt;

use super::condition_parser::{self, is_bare_word};
use super::error::PolicyError;
use super::policy_input::{PolicyInput, Urgency};
use super::thresholds::{Threshold, Thresholds};

/// A parsed, type-checked rule condition.
///
/// Its [`Display`](fmt::Display) form is the canonical text: keywords in
/// uppercase, the job field on the left of each comparison, minimal
/// parentheses except around the operand of `NOT`. Parsing that text gives
/// back an equal condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// `None` for the catch-all `default`.
    expr: Option<Expr>,
}

/// A boolean expression over job facts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    /// A single comparison.
    Compare(Comparison),
    /// `NOT e`
    Not(Box<Expr>),
    /// `a AND b AND ...`, at least two operands, none of them an `All`.
    All(Vec<Expr>),
    /// `a OR b OR ...`, at least two operands, none of them an `Any`.
    Any(Vec<Expr>),
}

/// A comparison between a job field and a constant.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Comparison {
    /// `carbon_intensity <op> bound`
    CarbonIntensity {
        /// The comparison operator.
        op: CmpOp,
        /// The constant compared with.
        bound: Bound,
    },
    /// `urgency == level` (`equal`) or `urgency != level`.
    Urgency {
        /// `==` when true, `!=` when false.
        equal: bool,
        /// The level compared with.
        level: Urgency,
    },
    /// `type == value` (`equal`) or `type != value`.
    JobType {
        /// `==` when true, `!=` when false.
        equal: bool,
        /// The job type compared with.
        value: Box<str>,
    },
}

/// A numeric constant in a condition: a threshold (with its value substituted)
/// or a number literal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bound {
    /// `None` for a number literal.
    pub(crate) threshold: Option<Threshold>,
    /// The value compared with.
    pub(crate) value: f64,
}

impl Bound {
    /// A named threshold with its value taken from `thresholds`.
    pub(crate) fn threshold(threshold: Threshold, thresholds: &Thresholds) -> Self {
        Self {
            threshold: Some(threshold),
            value: thresholds.value(threshold),
        }
    }

    /// A number literal.
    pub(crate) fn literal(value: f64) -> Self {
        Self {
            threshold: None,
            value,
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The operator's symbol.
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        }
    }

    /// The operator with its operands swapped: `a < b` is `b > a`.
    pub(crate) fn swapped(self) -> Self {
        match self {
            Self::Eq | Self::Ne => self,
            Self::Lt => Self::Gt,
            Self::Le => Self::Ge,
            Self::Gt => Self::Lt,
            Self::Ge => Self::Le,
        }
    }

    /// The operator that holds exactly when this one does not.
    fn negated(self) -> Self {
        match self {
            Self::Eq => Self::Ne,
            Self::Ne => Self::Eq,
            Self::Lt => Self::Ge,
            Self::Le => Self::Gt,
            Self::Gt => Self::Le,
            Self::Ge => Self::Lt,
        }
    }

    /// Whether `left <op> right` holds.
    fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Self::Eq => left == right,
            Self::Ne => left != right,
            Self::Lt => left < right,
            Self::Le => left <= right,
            Self::Gt => left > right,
            Self::Ge => left >= right,
        }
    }

    /// The relation in words, as used in decision reasons.
    fn phrase(self) -> &'static str {
        match self {
            Self::Eq => "equals",
            Self::Ne => "does not equal",
            Self::Lt => "is below",
            Self::Le => "is at or below",
            Self::Gt => "is above",
            Self::Ge => "is at or above",
        }
    }
}

/// The job facts a condition is evaluated against: a real job's
/// [`PolicyInput`], or a representative case during reachability analysis.
pub(crate) trait Facts {
    /// Carbon intensity in gCO2/kWh, always finite.
    fn carbon_intensity(&self) -> f64;
    /// The job's urgency.
    fn urgency(&self) -> Urgency;
    /// Whether the job's type is exactly `value`.
    fn job_type_is(&self, value: &str) -> bool;
}

impl Condition {
    /// Parses and type-checks condition text, substituting `low` and `high`
    /// by the values in `thresholds`.
    ///
    /// # Errors
    /// [`ConditionError`] with the byte offset of the problem in `text`.
    pub fn parse(text: &str, thresholds: Thresholds) -> Result<Self, ConditionError> {
        condition_parser::parse(text, &thresholds)
    }

    /// The catch-all condition `default`.
    pub(crate) fn catch_all() -> Self {
        Self { expr: None }
    }

    /// A condition made of an expression.
    pub(crate) fn from_expr(expr: Expr) -> Self {
        Self { expr: Some(expr) }
    }

    /// Whether this is the catch-all `default`.
    pub fn is_default(&self) -> bool {
        self.expr.is_none()
    }

    /// Whether the condition holds for `input`. Does not allocate.
    pub fn matches(&self, input: &PolicyInput<'_>) -> bool {
        self.evaluate(input)
    }

    /// Whether the condition holds for `facts`. Does not allocate.
    pub(crate) fn evaluate<F: Facts>(&self, facts: &F) -> bool {
        self.expr.as_ref().is_none_or(|expr| expr.evaluate(facts))
    }

    /// Every comparison in the condition, in text order.
    pub(crate) fn comparisons(&self) -> Vec<&Comparison> {
        let mut found = Vec::new();
        if let Some(expr) = &self.expr {
            expr.collect_comparisons(&mut found);
        }
        found
    }

    /// Why the condition holds for `input`, in words, e.g. `carbon intensity
    /// 150.0 gCO2/kWh is below low threshold 200`.
    ///
    /// Only meaningful when [`Self::matches`] is true for `input`.
    pub(crate) fn explain(&self, input: &PolicyInput<'_>) -> String {
        let Some(expr) = &self.expr else {
            return format!(
                "no earlier rule matched (carbon intensity {}, urgency {}, job type {})",
                describe_intensity(input.carbon_intensity()),
                input.urgency(),
                input.job_type()
            );
        };
        let mut phrases = Vec::new();
        expr.explain(input, expr.evaluate(input), &mut phrases);
        render_phrases(&phrases)
    }

    /// The condition with every operator fully parenthesized, to make the
    /// parsed structure visible in tests.
    #[cfg(test)]
    pub(crate) fn structure(&self) -> String {
        match &self.expr {
            None => "default".to_owned(),
            Some(expr) => expr.structure(),
        }
    }
}

impl Expr {
    fn evaluate<F: Facts>(&self, facts: &F) -> bool {
        match self {
            Self::Compare(comparison) => comparison.evaluate(facts),
            Self::Not(inner) => !inner.evaluate(facts),
            Self::All(items) => items.iter().all(|item| item.evaluate(facts)),
            Self::Any(items) => items.iter().any(|item| item.evaluate(facts)),
        }
    }

    fn collect_comparisons<'a>(&'a self, found: &mut Vec<&'a Comparison>) {
        match self {
            Self::Compare(comparison) => found.push(comparison),
            Self::Not(inner) => inner.collect_comparisons(found),
            Self::All(items) | Self::Any(items) => {
                for item in items {
                    item.collect_comparisons(found);
                }
            }
        }
    }

    /// Appends the facts that make this expression evaluate to `truth`.
    fn explain(&self, input: &PolicyInput<'_>, truth: bool, phrases: &mut Vec<Phrase>) {
        match self {
            Self::Compare(comparison) => phrases.push(comparison.describe(input, truth)),
            Self::Not(inner) => inner.explain(input, !truth, phrases),
            Self::All(items) | Self::Any(items) => {
                // An AND that holds, or an OR that fails, is explained by all
                // its operands; otherwise by the first operand that decides it.
                let decided_by_all = matches!(self, Self::All(_)) == truth;
                for item in items {
                    let value = item.evaluate(input);
                    if decided_by_all || value == truth {
                        item.explain(input, value, phrases);
                        if !decided_by_all {
                            break;
                        }
                    }
                }
            }
        }
    }

    #[cfg(test)]
    fn structure(&self) -> String {
        let join = |items: &[Expr], op: &str| {
            let parts: Vec<String> = items.iter().map(Expr::structure).collect();
            format!("({})", parts.join(op))
        };
        match self {
            Self::Compare(comparison) => format!("[{comparison}]"),
            Self::Not(inner) => format!("(NOT {})", inner.structure()),
            Self::All(items) => join(items, " AND "),
            Self::Any(items) => join(items, " OR "),
        }
    }
}

impl Comparison {
    fn evaluate<F: Facts>(&self, facts: &F) -> bool {
        match self {
            Self::CarbonIntensity { op, bound } => op.holds(facts.carbon_intensity(), bound.value),
            Self::Urgency { equal, level } => (facts.urgency() == *level) == *equal,
            Self::JobType { equal, value } => facts.job_type_is(value) == *equal,
        }
    }

    /// The fact about `input` that makes this comparison evaluate to `truth`.
    fn describe(&self, input: &PolicyInput<'_>, truth: bool) -> Phrase {
        match self {
            Self::CarbonIntensity { op, bound } => {
                let relation = if truth { *op } else { op.negated() };
                let constant = match bound.threshold {
                    Some(threshold) => format!("{} threshold {}", threshold.name(), bound.value),
                    None => bound.value.to_string(),
                };
                Phrase {
                    subject: Subject::CarbonIntensity(input.carbon_intensity()),
                    predicate: format!("{} {constant}", relation.phrase()),
                }
            }
            Self::Urgency { level, .. } => {
                let actual = input.urgency_level();
                Phrase {
                    subject: Subject::Urgency,
                    predicate: if actual == *level {
                        format!("is {}", level.as_str())
                    } else {
                        format!("is {}, not {}", actual.as_str(), level.as_str())
                    },
                }
            }
            Self::JobType { value, .. } => {
                let actual = input.job_type();
                Phrase {
                    subject: Subject::JobType,
                    predicate: if actual == &**value {
                        format!("is {actual}")
                    } else {
                        format!("is {actual}, not {value}")
                    },
                }
            }
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.expr {
            None => f.write_str("default"),
            Some(expr) => expr.fmt(f),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Compare(comparison) => comparison.fmt(f),
            Self::Not(inner) => match **inner {
                Self::Not(_) => write!(f, "NOT {inner}"),
                _ => write!(f, "NOT ({inner})"),
            },
            Self::All(items) => {
                write_joined(f, items, " AND ", |item| matches!(item, Self::Any(_)))
            }
            Self::Any(items) => write_joined(f, items, " OR ", |item| matches!(item, Self::Any(_))),
        }
    }
}

/// Writes `items` separated by `separator`, parenthesizing those for which
/// `needs_parentheses` is true.
fn write_joined(
    f: &mut fmt::Formatter<'_>,
    items: &[Expr],
    separator: &str,
    needs_parentheses: impl Fn(&Expr) -> bool,
) -> fmt::Result {
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            f.write_str(separator)?;
        }
        if needs_parentheses(item) {
            write!(f, "({item})")?;
        } else {
            write!(f, "{item}")?;
        }
    }
    Ok(())
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let equality = |equal: bool| if equal { "==" } else { "!=" };
        match self {
            Self::CarbonIntensity { op, bound } => match bound.threshold {
                Some(threshold) => {
                    write!(f, "carbon_intensity {} {}", op.symbol(), threshold.name())
                }
                None => write!(f, "carbon_intensity {} {}", op.symbol(), bound.value),
            },
            Self::Urgency { equal, level } => {
                write!(f, "urgency {} {}", equality(*equal), level.as_str())
            }
            Self::JobType { equal, value } => {
                write!(f, "type {} {}", equality(*equal), StringLiteral(value))
            }
        }
    }
}

/// A string constant written back as condition text: bare when it lexes as a
/// plain string, quoted otherwise.
pub(crate) struct StringLiteral<'a>(pub(crate) &'a str);

impl fmt::Display for StringLiteral<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0;
        if is_bare_word(text) {
            f.write_str(text)
        } else if text.contains('"') {
            // The lexer has no escapes, so a string holding `"` was single-quoted.
            write!(f, "'{text}'")
        } else {
            write!(f, "\"{text}\"")
        }
    }
}

/// What a fact in a decision reason is about.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Subject {
    CarbonIntensity(f64),
    Urgency,
    JobType,
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CarbonIntensity(value) => {
                write!(f, "carbon intensity {}", describe_intensity(*value))
            }
            Self::Urgency => f.write_str("urgency"),
            Self::JobType => f.write_str("job type"),
        }
    }
}

/// One fact in a decision reason, e.g. subject `urgency`, predicate `is critical`.
#[derive(Debug)]
struct Phrase {
    subject: Subject,
    predicate: String,
}

/// Joins facts with `and`, naming a subject once for consecutive facts about it.
fn render_phrases(phrases: &[Phrase]) -> String {
    let mut text = String::new();
    let mut previous: Option<Subject> = None;
    for phrase in phrases {
        if previous.is_some() {
            text.push_str(" and ");
        }
        if previous != Some(phrase.subject) {
            text.push_str(&phrase.subject.to_string());
            text.push(' ');
        }
        text.push_str(&phrase.predicate);
        previous = Some(phrase.subject);
    }
    text
}

/// A carbon intensity with its unit, always with a fractional part so it
/// reads as a measurement: `150.0 gCO2/kWh`, `199.99 gCO2/kWh`.
fn describe_intensity(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.1} gCO2/kWh")
    } else {
        format!("{value} gCO2/kWh")
    }
}

/// Why a condition failed to parse or type-check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} (at byte {offset})")]
pub struct ConditionError {
    /// What is wrong.
    pub kind: ConditionErrorKind,
    /// Byte offset in the condition text where the problem starts.
    pub offset: usize,
}

/// The kinds of condition errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionErrorKind {
    /// The text does not follow the grammar.
    #[error("{0}")]
    Syntax(String),
    /// A name that is neither a job field nor a threshold, where one is needed.
    #[error("unknown variable `{0}`")]
    UnknownVariable(String),
    /// Urgency compared with a value that is not an urgency level.
    #[error("unknown urgency value `{0}`")]
    UnknownUrgency(String),
    /// Operands or operator of incompatible types.
    #[error("{0}")]
    Type(String),
}

impl ConditionError {
    /// The matching [`PolicyError`] at `location`, the position in the policy
    /// file of [`Self::offset`].
    pub(crate) fn into_policy_error(self, location: super::error::SourceLocation) -> PolicyError {
        match self.kind {
            ConditionErrorKind::Syntax(message) => {
                PolicyError::ConditionSyntax { location, message }
            }
            ConditionErrorKind::UnknownVariable(name) => {
                PolicyError::UnknownVariable { location, name }
            }
            ConditionErrorKind::UnknownUrgency(value) => {
                PolicyError::UnknownUrgency { location, value }
            }
            ConditionErrorKind::Type(message) => PolicyError::ConditionType { location, message },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THRESHOLDS: Thresholds = Thresholds {
        low: 200.0,
        high: 400.0,
    };

    fn parse(text: &str) -> Condition {
        Condition::parse(text, THRESHOLDS).unwrap()
    }

    fn input(carbon_intensity: f64, urgency: &str, job_type: &'static str) -> PolicyInput<'static> {
        PolicyInput::new(carbon_intensity, urgency, job_type).unwrap()
    }

    #[test]
    fn display_gives_canonical_text() {
        let cases = [
            ("default", "default"),
            ("DEFAULT", "default"),
            ("urgency == critical", "urgency == critical"),
            ("critical == urgency", "urgency == critical"),
            ("low > carbon_intensity", "carbon_intensity < low"),
            ("250.50 <= carbon_intensity", "carbon_intensity >= 250.5"),
            ("carbon_intensity != -5", "carbon_intensity != -5"),
            ("type == \"batch_inference\"", "type == batch_inference"),
            ("type != 'say \"hi\"'", "type != 'say \"hi\"'"),
            ("type == \"two words\"", "type == \"two words\""),
            ("type == \"urgency\"", "type == \"urgency\""),
            ("type == \"and\"", "type == \"and\""),
            ("type == \"\"", "type == \"\""),
            ("type == \"3d\"", "type == \"3d\""),
            ("a_b == type", "type == a_b"),
            (
                "carbon_intensity >= low and carbon_intensity <= high and urgency == flexible",
                "carbon_intensity >= low AND carbon_intensity <= high AND urgency == flexible",
            ),
            (
                "(urgency == normal or urgency == flexible) and type == training",
                "(urgency == normal OR urgency == flexible) AND type == training",
            ),
            (
                "urgency == normal or (urgency == flexible and type == training)",
                "urgency == normal OR urgency == flexible AND type == training",
            ),
            ("not urgency == critical", "NOT (urgency == critical)"),
            ("NOT NOT (type == x)", "NOT NOT (type == x)"),
            (
                "not (urgency == critical or type == x)",
                "NOT (urgency == critical OR type == x)",
            ),
            (
                "((urgency == normal)) AND (type == a AND type != b)",
                "urgency == normal AND type == a AND type != b",
            ),
        ];
        for (text, canonical) in cases {
            assert_eq!(parse(text).to_string(), canonical, "displaying {text:?}");
        }
    }

    #[test]
    fn canonical_text_parses_back_to_the_same_condition() {
        let texts = [
            "default",
            "urgency == critical",
            "carbon_intensity < low OR carbon_intensity > 1e3",
            "NOT (urgency == critical OR type == 'a\"b') AND carbon_intensity >= 0.001",
            "(type == x OR type == y) AND (urgency != normal OR carbon_intensity == high)",
            "NOT NOT NOT (type == \"with space\")",
            "carbon_intensity > -0",
        ];
        for text in texts {
            let condition = parse(text);
            let canonical = condition.to_string();
            let reparsed = parse(&canonical);
            assert_eq!(
                reparsed, condition,
                "round trip of {text:?} via {canonical:?}"
            );
            assert_eq!(reparsed.to_string(), canonical);
        }
    }

    #[test]
    fn thresholds_are_substituted_at_parse_time() {
        let condition = parse("carbon_intensity < low");
        assert!(condition.matches(&input(199.99, "normal", "training")));
        assert!(!condition.matches(&input(200.0, "normal", "training")));
        let shifted = Condition::parse(
            "carbon_intensity < low",
            Thresholds {
                low: 100.0,
                high: 400.0,
            },
        )
        .unwrap();
        assert!(!shifted.matches(&input(150.0, "normal", "training")));
    }

    #[test]
    fn default_matches_everything() {
        let condition = parse("default");
        assert!(condition.is_default());
        for urgency in ["critical", "normal", "flexible"] {
            assert!(condition.matches(&input(-1e9, urgency, "")));
        }
    }

    #[test]
    fn explanation_names_value_and_threshold() {
        let condition = parse("carbon_intensity < low");
        assert_eq!(
            condition.explain(&input(150.0, "normal", "training")),
            "carbon intensity 150.0 gCO2/kWh is below low threshold 200"
        );
    }

    #[test]
    fn explanation_mentions_a_subject_once_per_run_of_facts() {
        let condition =
            parse("carbon_intensity >= low AND carbon_intensity <= high AND urgency == flexible");
        assert_eq!(
            condition.explain(&input(200.01, "flexible", "training")),
            "carbon intensity 200.01 gCO2/kWh is at or above low threshold 200 \
             and is at or below high threshold 400 and urgency is flexible"
        );
    }

    #[test]
    fn explanation_of_negations_states_the_actual_facts() {
        let condition = parse("NOT (urgency == critical OR carbon_intensity > 300) AND type != x");
        assert_eq!(
            condition.explain(&input(250.0, "normal", "training")),
            "urgency is normal, not critical and carbon intensity 250.0 gCO2/kWh \
             is at or below 300 and job type is training, not x"
        );
    }

    #[test]
    fn explanation_of_or_names_the_first_operand_that_holds() {
        let condition = parse("type == a OR urgency == flexible OR carbon_intensity == 100");
        assert_eq!(
            condition.explain(&input(100.0, "flexible", "b")),
            "urgency is flexible"
        );
    }

    #[test]
    fn explanation_of_default_lists_the_job_facts() {
        assert_eq!(
            parse("default").explain(&input(300.0, "normal", "inference")),
            "no earlier rule matched (carbon intensity 300.0 gCO2/kWh, urgency normal, \
             job type inference)"
        );
    }

    #[test]
    fn comparisons_are_listed_in_text_order() {
        let condition = parse("type == a OR NOT (urgency == normal AND carbon_intensity < 5)");
        let listed: Vec<String> = condition
            .comparisons()
            .iter()
            .map(|comparison| comparison.to_string())
            .collect();
        assert_eq!(
            listed,
            ["type == a", "urgency == normal", "carbon_intensity < 5"]
        );
    }
}
