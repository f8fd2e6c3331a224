//! Tokenizer, recursive-descent parser and type checker for condition text.
//!
//! Grammar (keywords are case-insensitive, names are case-sensitive):
//!
//! ```text
//! condition  := "default" | or_expr
//! or_expr    := and_expr ("OR" and_expr)*
//! and_expr   := not_expr ("AND" not_expr)*
//! not_expr   := "NOT" not_expr | "(" or_expr ")" | comparison
//! comparison := operand ("==" | "!=" | "<" | "<=" | ">" | ">=") operand
//! operand    := name | number | string
//! ```
//!
//! So `NOT` binds tighter than `AND`, which binds tighter than `OR`. A `name`
//! is a job field (`carbon_intensity`, `urgency`, `type`), a threshold (`low`,
//! `high`) or else a bare-word string (`critical`, `batch_inference`); strings
//! may also be quoted with `"` or `'` (no escapes). Numbers are decimal, with
//! optional sign, fraction and exponent.
//!
//! Type rules: every comparison has exactly one job field. `carbon_intensity`
//! is compared with a threshold or number using any operator; `urgency` with
//! `critical`, `normal` or `flexible` using `==` or `!=`; `type` with a string
//! using `==` or `!=`. A bare word where a number is expected is reported as an
//! unknown variable.

use super::condition::{
    Bound, CmpOp, Comparison, Condition, ConditionError, ConditionErrorKind, Expr,
};
use super::policy_input::{Urgency, URGENCY_LEVELS};
use super::thresholds::{Threshold, Thresholds};

/// How deeply `NOT`s and parentheses may nest, to bound recursion.
const MAX_NESTING: usize = 64;

/// Parses `text` into a condition, substituting thresholds from `thresholds`.
pub(crate) fn parse(text: &str, thresholds: &Thresholds) -> Result<Condition, ConditionError> {
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        text,
        tokens,
        position: 0,
        depth: 0,
        thresholds,
    };
    parser.condition()
}

/// Whether `text` reads back as a bare-word string rather than a keyword,
/// field, threshold, number or quoted string.
pub(crate) fn is_bare_word(text: &str) -> bool {
    let mut chars = text.chars();
    let starts_like_word = chars.next().is_some_and(is_word_start);
    starts_like_word
        && chars.all(is_word_char)
        && keyword(text).is_none()
        && Field::from_name(text).is_none()
        && Threshold::from_name(text).is_none()
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// The keyword token for a word, matched case-insensitively.
fn keyword(word: &str) -> Option<TokenKind<'static>> {
    [
        ("and", TokenKind::And),
        ("or", TokenKind::Or),
        ("not", TokenKind::Not),
        ("default", TokenKind::Default),
    ]
    .into_iter()
    .find(|(name, _)| word.eq_ignore_ascii_case(name))
    .map(|(_, kind)| kind)
}

/// A job field that conditions can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    CarbonIntensity,
    Urgency,
    JobType,
}

impl Field {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "carbon_intensity" => Some(Self::CarbonIntensity),
            "urgency" => Some(Self::Urgency),
            "type" => Some(Self::JobType),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::CarbonIntensity => "carbon_intensity",
            Self::Urgency => "urgency",
            Self::JobType => "type",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum TokenKind<'a> {
    LeftParen,
    RightParen,
    Compare(CmpOp),
    And,
    Or,
    Not,
    Default,
    Word(&'a str),
    Number(f64),
    /// A quoted string, without its quotes.
    Quoted(&'a str),
    End,
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    kind: TokenKind<'a>,
    /// Byte range in the condition text.
    start: usize,
    end: usize,
}

fn syntax_error(offset: usize, message: impl Into<String>) -> ConditionError {
    ConditionError {
        kind: ConditionErrorKind::Syntax(message.into()),
        offset,
    }
}

fn type_error(offset: usize, message: impl Into<String>) -> ConditionError {
    ConditionError {
        kind: ConditionErrorKind::Type(message.into()),
        offset,
    }
}

/// Splits condition text into tokens, ending with [`TokenKind::End`].
fn tokenize(text: &str) -> Result<Vec<Token<'_>>, ConditionError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let next = text[start + c.len_utf8()..].chars().next();
        let single = |kind| (kind, start + c.len_utf8());
        let double = |kind| (kind, start + 2);
        let (kind, end) = match (c, next) {
            ('(', _) => single(TokenKind::LeftParen),
            (')', _) => single(TokenKind::RightParen),
            ('=', Some('=')) => double(TokenKind::Compare(CmpOp::Eq)),
            ('!', Some('=')) => double(TokenKind::Compare(CmpOp::Ne)),
            ('<', Some('=')) => double(TokenKind::Compare(CmpOp::Le)),
            ('>', Some('=')) => double(TokenKind::Compare(CmpOp::Ge)),
            ('<', _) => single(TokenKind::Compare(CmpOp::Lt)),
            ('>', _) => single(TokenKind::Compare(CmpOp::Gt)),
            ('=', _) => {
                return Err(syntax_error(
                    start,
                    "unknown operator `=`; use `==` to compare",
                ))
            }
            ('!', _) => return Err(syntax_error(start, "unexpected `!`; use NOT to negate")),
            ('&', _) => return Err(syntax_error(start, "unknown operator `&`; use AND")),
            ('|', _) => return Err(syntax_error(start, "unknown operator `|`; use OR")),
            ('"' | '\'', _) => {
                let body = start + 1;
                let Some(length) = text[body..].find(c) else {
                    return Err(syntax_error(start, "unterminated string"));
                };
                (
                    TokenKind::Quoted(&text[body..body + length]),
                    body + length + 1,
                )
            }
            (c, next)
                if c.is_ascii_digit()
                    || (matches!(c, '-' | '+') && next.is_some_and(|n| n.is_ascii_digit())) =>
            {
                let end = scan_number(text, start);
                let literal = &text[start..end];
                match literal.parse::<f64>() {
                    Ok(value) if value.is_finite() => (TokenKind::Number(value), end),
                    Ok(_) => {
                        return Err(syntax_error(
                            start,
                            format!("number `{literal}` is out of range"),
                        ))
                    }
                    Err(_) => {
                        return Err(syntax_error(start, format!("invalid number `{literal}`")))
                    }
                }
            }
            (c, _) if is_word_start(c) => {
                let length = text[start..]
                    .find(|c: char| !is_word_char(c))
                    .unwrap_or(text.len() - start);
                let word = &text[start..start + length];
                (
                    keyword(word).unwrap_or(TokenKind::Word(word)),
                    start + length,
                )
            }
            (c, _) => return Err(syntax_error(start, format!("unexpected character `{c}`"))),
        };
        tokens.push(Token { kind, start, end });
        while chars.peek().is_some_and(|&(offset, _)| offset < end) {
            chars.next();
        }
    }
    tokens.push(Token {
        kind: TokenKind::End,
        start: text.len(),
        end: text.len(),
    });
    Ok(tokens)
}

/// The end of the number starting at `start`: sign, digits, optional
/// fraction and exponent, plus any word characters glued to it (so that
/// `200g` is reported as one invalid number).
fn scan_number(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    let mut end = start + 1;
    let digits = |mut end: usize| {
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
        end
    };
    end = digits(end);
    if end + 1 < bytes.len() && bytes[end] == b'.' && bytes[end + 1].is_ascii_digit() {
        end = digits(end + 1);
    }
    if end < bytes.len() && matches!(bytes[end], b'e' | b'E') {
        let mut exponent = end + 1;
        if exponent < bytes.len() && matches!(bytes[exponent], b'+' | b'-') {
            exponent += 1;
        }
        if exponent < bytes.len() && bytes[exponent].is_ascii_digit() {
            end = digits(exponent);
        }
    }
    while end < bytes.len() && is_word_char(char::from(bytes[end])) {
        end += 1;
    }
    end
}

/// One side of a comparison before type checking.
#[derive(Debug, Clone, Copy)]
enum Operand<'a> {
    Field(Field),
    Threshold(Threshold),
    Number(f64),
    /// A quoted string.
    Quoted(&'a str),
    /// A word that is not a field or threshold: a string, or a misspelt name.
    Bare(&'a str),
}

#[derive(Debug, Clone, Copy)]
struct Located<'a> {
    operand: Operand<'a>,
    start: usize,
    text: &'a str,
}

struct Parser<'t, 'a> {
    text: &'a str,
    tokens: Vec<Token<'a>>,
    position: usize,
    depth: usize,
    thresholds: &'t Thresholds,
}

impl<'a> Parser<'_, 'a> {
    fn peek(&self) -> Token<'a> {
        // The token list always ends with `End`, and `advance` never moves past it.
        self.tokens[self.position.min(self.tokens.len() - 1)]
    }

    fn advance(&mut self) -> Token<'a> {
        let token = self.peek();
        if token.kind != TokenKind::End {
            self.position += 1;
        }
        token
    }

    /// How a token is quoted in error messages.
    fn describe(&self, token: Token<'a>) -> String {
        match token.kind {
            TokenKind::End => "end of condition".to_owned(),
            _ => format!("`{}`", &self.text[token.start..token.end]),
        }
    }

    fn condition(&mut self) -> Result<Condition, ConditionError> {
        let first = self.peek();
        match first.kind {
            TokenKind::End => return Err(syntax_error(first.start, "condition is empty")),
            TokenKind::Default => {
                self.advance();
                let next = self.peek();
                return match next.kind {
                    TokenKind::End => Ok(Condition::catch_all()),
                    _ => Err(syntax_error(
                        next.start,
                        format!(
                            "unexpected {} after `default`; `default` must be the whole condition",
                            self.describe(next)
                        ),
                    )),
                };
            }
            _ => {}
        }
        let expr = self.or_expr()?;
        let next = self.peek();
        match next.kind {
            TokenKind::End => Ok(Condition::from_expr(expr)),
            TokenKind::RightParen => Err(syntax_error(next.start, "unmatched `)`")),
            _ => Err(syntax_error(
                next.start,
                format!(
                    "unexpected {}; expected AND, OR or end of condition",
                    self.describe(next)
                ),
            )),
        }
    }

    fn or_expr(&mut self) -> Result<Expr, ConditionError> {
        let mut items = vec![self.and_expr()?];
        while self.peek().kind == TokenKind::Or {
            self.advance();
            items.push(self.and_expr()?);
        }
        Ok(flatten(items, Associative::Any))
    }

    fn and_expr(&mut self) -> Result<Expr, ConditionError> {
        let mut items = vec![self.not_expr()?];
        while self.peek().kind == TokenKind::And {
            self.advance();
            items.push(self.not_expr()?);
        }
        Ok(flatten(items, Associative::All))
    }

    fn not_expr(&mut self) -> Result<Expr, ConditionError> {
        let token = self.peek();
        match token.kind {
            TokenKind::Not => {
                self.advance();
                self.nested(token, |parser| Ok(Expr::Not(Box::new(parser.not_expr()?))))
            }
            TokenKind::LeftParen => {
                self.advance();
                self.nested(token, |parser| {
                    let inner = parser.or_expr()?;
                    let close = parser.peek();
                    if close.kind == TokenKind::RightParen {
                        parser.advance();
                        Ok(inner)
                    } else {
                        Err(syntax_error(
                            close.start,
                            format!(
                                "expected `)` to close `(`, found {}",
                                parser.describe(close)
                            ),
                        ))
                    }
                })
            }
            _ => self.comparison(),
        }
    }

    /// Runs `parse` one nesting level deeper, refusing to nest too deeply.
    fn nested(
        &mut self,
        opener: Token<'a>,
        parse: impl FnOnce(&mut Self) -> Result<Expr, ConditionError>,
    ) -> Result<Expr, ConditionError> {
        if self.depth >= MAX_NESTING {
            return Err(syntax_error(
                opener.start,
                format!("condition nests more than {MAX_NESTING} levels deep"),
            ));
        }
        self.depth += 1;
        let result = parse(self);
        self.depth -= 1;
        result
    }

    fn comparison(&mut self) -> Result<Expr, ConditionError> {
        let left = self.operand("a comparison")?;
        let op_token = self.peek();
        let TokenKind::Compare(op) = op_token.kind else {
            return Err(syntax_error(
                op_token.start,
                format!(
                    "expected a comparison operator (==, !=, <, <=, >, >=) after `{}`, found {}",
                    left.text,
                    self.describe(op_token)
                ),
            ));
        };
        self.advance();
        let right = self.operand(&format!("a value after `{}`", op.symbol()))?;
        self.type_check(left, op, op_token.start, right)
            .map(Expr::Compare)
    }

    fn operand(&mut self, expected: &str) -> Result<Located<'a>, ConditionError> {
        let token = self.peek();
        let operand = match token.kind {
            TokenKind::Word(word) => Field::from_name(word)
                .map(Operand::Field)
                .or_else(|| Threshold::from_name(word).map(Operand::Threshold))
                .unwrap_or(Operand::Bare(word)),
            TokenKind::Number(value) => Operand::Number(value),
            TokenKind::Quoted(text) => Operand::Quoted(text),
            TokenKind::Default => {
                return Err(syntax_error(
                    token.start,
                    "`default` must be the whole condition; quote it to use it as a string",
                ))
            }
            _ => {
                return Err(syntax_error(
                    token.start,
                    format!("expected {expected}, found {}", self.describe(token)),
                ))
            }
        };
        self.advance();
        Ok(Located {
            operand,
            start: token.start,
            text: &self.text[token.start..token.end],
        })
    }

    /// Checks a comparison's types and normalizes it with the field on the left.
    fn type_check(
        &self,
        left: Located<'a>,
        op: CmpOp,
        op_offset: usize,
        right: Located<'a>,
    ) -> Result<Comparison, ConditionError> {
        match (left.operand, right.operand) {
            (Operand::Field(first), Operand::Field(second)) => Err(type_error(
                right.start,
                format!(
                    "cannot compare `{}` with `{}`; compare a field with a value",
                    first.name(),
                    second.name()
                ),
            )),
            (Operand::Field(field), _) => self.field_comparison(field, op, op_offset, right),
            (_, Operand::Field(field)) => {
                self.field_comparison(field, op.swapped(), op_offset, left)
            }
            (Operand::Bare(name), _) => Err(unknown_variable(left.start, name)),
            (_, Operand::Bare(name)) => Err(unknown_variable(right.start, name)),
            _ => Err(type_error(
                left.start,
                "comparison must involve carbon_intensity, urgency or type",
            )),
        }
    }

    /// `field <op> value`, type-checked.
    fn field_comparison(
        &self,
        field: Field,
        op: CmpOp,
        op_offset: usize,
        value: Located<'a>,
    ) -> Result<Comparison, ConditionError> {
        if field != Field::CarbonIntensity && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
            return Err(type_error(
                op_offset,
                format!(
                    "operator `{}` cannot compare `{}`; use == or !=",
                    op.symbol(),
                    field.name()
                ),
            ));
        }
        let equal = op == CmpOp::Eq;
        match (field, value.operand) {
            (Field::CarbonIntensity, Operand::Threshold(threshold)) => Ok(Comparison::CarbonIntensity {
                op,
                bound: Bound::threshold(threshold, self.thresholds),
            }),
            (Field::CarbonIntensity, Operand::Number(number)) => Ok(Comparison::CarbonIntensity {
                op,
                bound: Bound::literal(number),
            }),
            (Field::CarbonIntensity, Operand::Bare(name)) => Err(unknown_variable(value.start, name)),
            (Field::CarbonIntensity, _) => Err(type_error(
                value.start,
                format!(
                    "`carbon_intensity` is a number and cannot be compared with string {}",
                    value.text
                ),
            )),
            (Field::Urgency, Operand::Bare(text) | Operand::Quoted(text)) => {
                match Urgency::from_name(text) {
                    Some(level) => Ok(Comparison::Urgency { equal, level }),
                    None => Err(ConditionError {
                        kind: ConditionErrorKind::UnknownUrgency(text.to_owned()),
                        offset: value.start,
                    }),
                }
            }
            (Field::Urgency, _) => Err(type_error(
                value.start,
                format!(
                    "`urgency` must be compared with one of {}, not `{}`",
                    URGENCY_LEVELS.join(", "),
                    value.text
                ),
            )),
            (Field::JobType, Operand::Bare(text) | Operand::Quoted(text)) => Ok(Comparison::JobType {
                equal,
                value: text.into(),
            }),
            (Field::JobType, _) => Err(type_error(
                value.start,
                format!(
                    "`type` must be compared with a string, not `{0}`; quote it (\"{0}\") to use it as text",
                    value.text
                ),
            )),
        }
    }
}

fn unknown_variable(offset: usize, name: &str) -> ConditionError {
    ConditionError {
        kind: ConditionErrorKind::UnknownVariable(name.to_owned()),
        offset,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Associative {
    All,
    Any,
}

/// One expression from the operands of a chain of `AND`s or `OR`s, splicing
/// in operands that are themselves the same kind of chain.
fn flatten(items: Vec<Expr>, kind: Associative) -> Expr {
    let mut items = items;
    if items.len() == 1 {
        if let Some(only) = items.pop() {
            return only;
        }
    }
    let mut flat = Vec::with_capacity(items.len());
    for item in items {
        match (item, kind) {
            (Expr::All(inner), Associative::All) | (Expr::Any(inner), Associative::Any) => {
                flat.extend(inner)
            }
            (item, _) => flat.push(item),
        }
    }
    match kind {
        Associative::All => Expr::All(flat),
        Associative::Any => Expr::Any(flat),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THRESHOLDS: Thresholds = Thresholds {
        low: 200.0,
        high: 400.0,
    };

    fn structure(text: &str) -> String {
        parse(text, &THRESHOLDS).unwrap().structure()
    }

    fn error(text: &str) -> (String, usize) {
        let error = parse(text, &THRESHOLDS).unwrap_err();
        (error.kind.to_string(), error.offset)
    }

    #[test]
    fn and_binds_tighter_than_or() {
        assert_eq!(
            structure("type == a OR type == b AND type == c"),
            "([type == a] OR ([type == b] AND [type == c]))"
        );
        assert_eq!(
            structure("type == a AND type == b OR type == c"),
            "(([type == a] AND [type == b]) OR [type == c])"
        );
    }

    #[test]
    fn not_binds_tighter_than_and() {
        assert_eq!(
            structure("NOT type == a AND type == b"),
            "((NOT [type == a]) AND [type == b])"
        );
        assert_eq!(
            structure("NOT type == a OR type == b"),
            "((NOT [type == a]) OR [type == b])"
        );
    }

    #[test]
    fn parentheses_override_precedence() {
        assert_eq!(
            structure("(type == a OR type == b) AND type == c"),
            "(([type == a] OR [type == b]) AND [type == c])"
        );
        assert_eq!(
            structure("NOT (type == a AND type == b)"),
            "(NOT ([type == a] AND [type == b]))"
        );
    }

    #[test]
    fn chains_of_the_same_operator_are_flattened() {
        assert_eq!(
            structure("type == a AND (type == b AND type == c)"),
            "([type == a] AND [type == b] AND [type == c])"
        );
        assert_eq!(
            structure("(type == a OR type == b) OR type == c"),
            "([type == a] OR [type == b] OR [type == c])"
        );
    }

    #[test]
    fn keywords_are_case_insensitive() {
        assert_eq!(
            structure("not type == a and type == b Or type == c"),
            "(((NOT [type == a]) AND [type == b]) OR [type == c])"
        );
        assert_eq!(structure("Default"), "default");
    }

    #[test]
    fn every_comparison_operator_is_recognised() {
        for op in ["==", "!=", "<", "<=", ">", ">="] {
            assert_eq!(
                structure(&format!("carbon_intensity {op} 5")),
                format!("[carbon_intensity {op} 5]")
            );
        }
        assert_eq!(
            structure("carbon_intensity<=low"),
            "[carbon_intensity <= low]"
        );
    }

    #[test]
    fn constant_on_the_left_is_normalized_to_the_right() {
        assert_eq!(
            structure("high <= carbon_intensity"),
            "[carbon_intensity >= high]"
        );
        assert_eq!(structure("flexible != urgency"), "[urgency != flexible]");
    }

    #[test]
    fn numbers_accept_sign_fraction_and_exponent() {
        assert_eq!(
            structure("carbon_intensity > -2.5e2"),
            "[carbon_intensity > -250]"
        );
        assert_eq!(structure("carbon_intensity > +7"), "[carbon_intensity > 7]");
        assert_eq!(
            structure("carbon_intensity > 1E-1"),
            "[carbon_intensity > 0.1]"
        );
    }

    #[test]
    fn strings_may_be_bare_or_quoted() {
        assert_eq!(
            structure("type == batch-inference"),
            "[type == batch-inference]"
        );
        assert_eq!(structure("type == 'x y'"), "[type == \"x y\"]");
        assert_eq!(structure("type == \"default\""), "[type == \"default\"]");
        assert_eq!(structure("urgency == \"normal\""), "[urgency == normal]");
    }

    #[test]
    fn syntax_errors_point_at_the_offending_token() {
        let cases = [
            ("", "condition is empty", 0),
            ("   ", "condition is empty", 3),
            ("carbon_intensity = low", "unknown operator `=`; use `==` to compare", 17),
            ("carbon_intensity => low", "unknown operator `=`; use `==` to compare", 17),
            ("urgency == critical && type == x", "unknown operator `&`; use AND", 20),
            ("urgency == critical || type == x", "unknown operator `|`; use OR", 20),
            ("!urgency == critical", "unexpected `!`; use NOT to negate", 0),
            ("type == 'x", "unterminated string", 8),
            ("carbon_intensity < 200g", "invalid number `200g`", 19),
            ("carbon_intensity < 1e999", "number `1e999` is out of range", 19),
            ("carbon_intensity < low AND", "expected a comparison, found end of condition", 26),
            (
                "carbon_intensity low",
                "expected a comparison operator (==, !=, <, <=, >, >=) after `carbon_intensity`, found `low`",
                17,
            ),
            ("urgency ==", "expected a value after `==`, found end of condition", 10),
            ("urgency == == critical", "expected a value after `==`, found `==`", 11),
            (
                "(urgency == critical",
                "expected `)` to close `(`, found end of condition",
                20,
            ),
            ("urgency == critical)", "unmatched `)`", 19),
            (
                "urgency == critical type == x",
                "unexpected `type`; expected AND, OR or end of condition",
                20,
            ),
            (
                "default AND urgency == critical",
                "unexpected `AND` after `default`; `default` must be the whole condition",
                8,
            ),
            (
                "urgency == critical OR default",
                "`default` must be the whole condition; quote it to use it as a string",
                23,
            ),
            ("type == x # note", "unexpected character `#`", 10),
            ("AND urgency == critical", "expected a comparison, found `AND`", 0),
        ];
        for (text, message, offset) in cases {
            assert_eq!(
                error(text),
                (message.to_owned(), offset),
                "parsing {text:?}"
            );
        }
    }

    #[test]
    fn unknown_names_are_reported_as_unknown_variables() {
        let cases = [
            ("carbon_intensty < low", "carbon_intensty", 0),
            ("carbon_intensity < medium", "medium", 19),
            ("medium > carbon_intensity", "medium", 0),
            ("urgncy == critical", "urgncy", 0),
            ("typ == training", "typ", 0),
        ];
        for (text, name, offset) in cases {
            assert_eq!(
                error(text),
                (format!("unknown variable `{name}`"), offset),
                "parsing {text:?}"
            );
        }
    }

    #[test]
    fn unknown_urgency_values_are_rejected() {
        assert_eq!(
            error("urgency == urgent"),
            ("unknown urgency value `urgent`".to_owned(), 11)
        );
        assert_eq!(
            error("urgency != \"Critical\""),
            ("unknown urgency value `Critical`".to_owned(), 11)
        );
    }

    #[test]
    fn ill_typed_comparisons_are_rejected() {
        let cases = [
            ("urgency < critical", "operator `<` cannot compare `urgency`; use == or !=", 8),
            ("type >= a", "operator `>=` cannot compare `type`; use == or !=", 5),
            (
                "urgency == 3",
                "`urgency` must be compared with one of critical, normal, flexible, not `3`",
                11,
            ),
            (
                "type == low",
                "`type` must be compared with a string, not `low`; quote it (\"low\") to use it as text",
                8,
            ),
            (
                "carbon_intensity == \"200\"",
                "`carbon_intensity` is a number and cannot be compared with string \"200\"",
                20,
            ),
            (
                "urgency == type",
                "cannot compare `urgency` with `type`; compare a field with a value",
                11,
            ),
            ("low < high", "comparison must involve carbon_intensity, urgency or type", 0),
            ("200 == 'x'", "comparison must involve carbon_intensity, urgency or type", 0),
        ];
        for (text, message, offset) in cases {
            assert_eq!(
                error(text),
                (message.to_owned(), offset),
                "parsing {text:?}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused_instead_of_overflowing_the_stack() {
        let text = format!("{}type == a{}", "(".repeat(1000), ")".repeat(1000));
        let (message, offset) = error(&text);
        assert_eq!(message, "condition nests more than 64 levels deep");
        assert_eq!(offset, 64);
        let nots = format!("{}type == a", "NOT ".repeat(1000));
        assert_eq!(error(&nots).0, "condition nests more than 64 levels deep");
    }

    #[test]
    fn offsets_are_in_bytes_after_multibyte_text() {
        assert_eq!(
            error("type == \"é\" AND urgency == late"),
            ("unknown urgency value `late`".to_owned(), 28)
        );
    }

    #[test]
    fn bare_words_exclude_keywords_fields_and_thresholds() {
        for word in ["training", "batch_inference", "x-1.2", "_a"] {
            assert!(is_bare_word(word), "{word}");
        }
        for word in ["", "and", "NOT", "Default", "type", "low", "9a", "a b", "é"] {
            assert!(!is_bare_word(word), "{word}");
        }
    }
}
