//! Reachability analysis of an ordered rule list: finds rules that can never
//! match and jobs that no rule matches.
//!
//! Every comparison in a condition has the form `field <op> constant`, so the
//! space of jobs splits into finitely many *cases* on which every comparison,
//! and hence every condition, has a fixed value:
//!
//! - carbon intensity: the constants used with `carbon_intensity` (thresholds
//!   substituted), sorted, cut the real line into points and the open
//!   intervals between and around them;
//! - urgency: its three levels;
//! - type: each string used with `type`, plus "any other string" (the set of
//!   job types is open, and that last case stands for all of them).
//!
//! Evaluating each condition once per case (with a representative value, e.g.
//! a point strictly inside an interval) therefore decides exactly which cases
//! it matches. The analysis is *exact*, not just conservative, over finite
//! intensities (the only ones [`PolicyInput`](super::PolicyInput) accepts):
//!
//! - a rule that matches no case is unsatisfiable by itself;
//! - a rule all of whose cases are matched by earlier rules is shadowed;
//! - a case matched by no rule is a job that would fall through.
//!
//! The number of cases is the product of the three dimensions' sizes; above
//! `MAX_CASES` the policy is refused as too complex rather than analysed.

use std::collections::BTreeSet;
use std::fmt;

use super::condition::{Comparison, Condition, Facts, StringLiteral};
use super::policy_input::Urgency;

/// The largest number of cases the analysis checks.
pub(crate) const MAX_CASES: usize = 200_000;

/// The first problem found in a rule list.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Finding {
    /// Rule `rule` (an index) matches no job at all.
    Unsatisfiable {
        /// Index of the rule.
        rule: usize,
    },
    /// Every job rule `rule` matches is matched by the earlier rules `by`.
    Shadowed {
        /// Index of the rule.
        rule: usize,
        /// Indexes of the earlier rules that take its jobs, ascending.
        by: Vec<usize>,
    },
    /// Some jobs match no rule; `example` describes some of them.
    NotExhaustive {
        /// E.g. `jobs with carbon_intensity == 200, urgency normal and any type`.
        example: String,
    },
    /// The analysis would need `cases` cases, more than [`MAX_CASES`].
    TooComplex {
        /// Number of cases needed.
        cases: usize,
    },
}

/// Checks that every rule can match some job that no earlier rule matches,
/// and that every job matches some rule. Reports the first problem in rule
/// order, exhaustiveness last.
pub(crate) fn check_rules(conditions: &[&Condition]) -> Result<(), Finding> {
    let comparisons: Vec<&Comparison> = conditions
        .iter()
        .flat_map(|condition| condition.comparisons())
        .collect();
    let intensities = intensity_cases(&comparisons);
    let named = named_types(&comparisons);
    let types = type_cases(&named);
    let cases = intensities
        .len()
        .saturating_mul(Urgency::ALL.len())
        .saturating_mul(types.len());
    if cases > MAX_CASES {
        return Err(Finding::TooComplex { cases });
    }

    let mut all_cases = Vec::with_capacity(cases);
    for intensity in &intensities {
        for urgency in Urgency::ALL {
            for job_type in &types {
                all_cases.push(Case {
                    intensity: *intensity,
                    urgency,
                    job_type: *job_type,
                });
            }
        }
    }

    // For each case, the first rule that matches it.
    let mut owner: Vec<Option<usize>> = vec![None; all_cases.len()];
    for (rule, condition) in conditions.iter().enumerate() {
        let mut matches_any = false;
        let mut reaches_new = false;
        let mut shadowed_by = BTreeSet::new();
        for (case, first) in all_cases.iter().zip(owner.iter_mut()) {
            if !condition.evaluate(case) {
                continue;
            }
            matches_any = true;
            match first {
                Some(earlier) => {
                    shadowed_by.insert(*earlier);
                }
                None => {
                    *first = Some(rule);
                    reaches_new = true;
                }
            }
        }
        if !matches_any {
            return Err(Finding::Unsatisfiable { rule });
        }
        if !reaches_new {
            return Err(Finding::Shadowed {
                rule,
                by: shadowed_by.into_iter().collect(),
            });
        }
    }

    match all_cases
        .iter()
        .zip(&owner)
        .find(|(_, first)| first.is_none())
    {
        Some((case, _)) => Err(Finding::NotExhaustive {
            example: case.to_string(),
        }),
        None => Ok(()),
    }
}

/// A set of carbon intensities on which every comparison has a fixed value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum IntensityRange {
    /// No comparison mentions carbon intensity.
    Any,
    /// Below the smallest constant.
    Below(f64),
    /// Exactly a constant.
    At(f64),
    /// Strictly between two consecutive constants.
    Between(f64, f64),
    /// Above the largest constant.
    Above(f64),
}

/// An intensity range with a representative value inside it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct IntensityCase {
    range: IntensityRange,
    sample: f64,
}

/// The intensity ranges cut by the constants used in `comparisons`, skipping
/// ranges that hold no finite `f64`.
fn intensity_cases(comparisons: &[&Comparison]) -> Vec<IntensityCase> {
    let mut points: Vec<f64> = comparisons
        .iter()
        .filter_map(|comparison| match comparison {
            Comparison::CarbonIntensity { bound, .. } => Some(bound.value),
            _ => None,
        })
        .collect();
    points.sort_by(f64::total_cmp);
    points.dedup_by(|next, previous| next == previous);

    let (Some(&lowest), Some(&highest)) = (points.first(), points.last()) else {
        return vec![IntensityCase {
            range: IntensityRange::Any,
            sample: 0.0,
        }];
    };
    let mut cases = Vec::with_capacity(points.len() * 2 + 1);
    if lowest > f64::MIN {
        cases.push(IntensityCase {
            range: IntensityRange::Below(lowest),
            sample: f64::MIN,
        });
    }
    for (index, &point) in points.iter().enumerate() {
        cases.push(IntensityCase {
            range: IntensityRange::At(point),
            sample: point,
        });
        if let Some(&next) = points.get(index + 1) {
            if let Some(sample) = strictly_between(point, next) {
                cases.push(IntensityCase {
                    range: IntensityRange::Between(point, next),
                    sample,
                });
            }
        }
    }
    if highest < f64::MAX {
        cases.push(IntensityCase {
            range: IntensityRange::Above(highest),
            sample: f64::MAX,
        });
    }
    cases
}

/// A finite `f64` strictly between `low < high`, if there is one.
fn strictly_between(low: f64, high: f64) -> Option<f64> {
    let middle = low / 2.0 + high / 2.0;
    if low < middle && middle < high {
        return Some(middle);
    }
    let above = next_up(low);
    (above < high).then_some(above)
}

/// The smallest `f64` greater than the finite `value`.
fn next_up(value: f64) -> f64 {
    if value == 0.0 {
        f64::from_bits(1)
    } else if value > 0.0 {
        f64::from_bits(value.to_bits() + 1)
    } else {
        f64::from_bits(value.to_bits() - 1)
    }
}

/// A set of job types on which every comparison has a fixed value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum TypeCase<'a> {
    /// No comparison mentions the job type.
    Any,
    /// Exactly a type named in a comparison.
    Named(&'a str),
    /// Any type not named in a comparison; holds the named ones.
    Other(&'a [&'a str]),
}

/// The job types named in `comparisons`, sorted.
fn named_types<'a>(comparisons: &[&'a Comparison]) -> Vec<&'a str> {
    let named: BTreeSet<&str> = comparisons
        .iter()
        .filter_map(|comparison| match comparison {
            Comparison::JobType { value, .. } => Some(&**value),
            _ => None,
        })
        .collect();
    named.into_iter().collect()
}

/// One case per named type, then one for all other types.
fn type_cases<'a>(named: &'a [&'a str]) -> Vec<TypeCase<'a>> {
    if named.is_empty() {
        return vec![TypeCase::Any];
    }
    named
        .iter()
        .map(|name| TypeCase::Named(name))
        .chain([TypeCase::Other(named)])
        .collect()
}

/// A representative job for one case.
#[derive(Debug, Clone, Copy)]
struct Case<'a> {
    intensity: IntensityCase,
    urgency: Urgency,
    job_type: TypeCase<'a>,
}

impl Facts for Case<'_> {
    fn carbon_intensity(&self) -> f64 {
        self.intensity.sample
    }

    fn urgency(&self) -> Urgency {
        self.urgency
    }

    fn job_type_is(&self, value: &str) -> bool {
        self.job_type == TypeCase::Named(value)
    }
}

impl fmt::Display for Case<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("jobs with ")?;
        match self.intensity.range {
            IntensityRange::Any => f.write_str("any carbon_intensity")?,
            IntensityRange::Below(high) => write!(f, "carbon_intensity < {high}")?,
            IntensityRange::At(point) => write!(f, "carbon_intensity == {point}")?,
            IntensityRange::Between(low, high) => write!(f, "{low} < carbon_intensity < {high}")?,
            IntensityRange::Above(low) => write!(f, "carbon_intensity > {low}")?,
        }
        write!(f, ", urgency {} and ", self.urgency.as_str())?;
        match self.job_type {
            TypeCase::Any => f.write_str("any type"),
            TypeCase::Named(name) => write!(f, "type {}", StringLiteral(name)),
            TypeCase::Other(named) => {
                f.write_str("a type other than ")?;
                for (index, name) in named.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", StringLiteral(name))?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::thresholds::Thresholds;

    const THRESHOLDS: Thresholds = Thresholds {
        low: 200.0,
        high: 400.0,
    };

    fn check(texts: &[&str]) -> Result<(), Finding> {
        let conditions: Vec<Condition> = texts
            .iter()
            .map(|text| Condition::parse(text, THRESHOLDS).unwrap())
            .collect();
        let refs: Vec<&Condition> = conditions.iter().collect();
        check_rules(&refs)
    }

    #[test]
    fn seed_rules_are_all_reachable_and_exhaustive() {
        assert_eq!(
            check(&[
                "urgency == critical",
                "carbon_intensity < low",
                "carbon_intensity > high",
                "carbon_intensity >= low AND carbon_intensity <= high AND urgency == flexible",
                "default",
            ]),
            Ok(())
        );
    }

    #[test]
    fn contradictory_intensity_bounds_are_unsatisfiable() {
        assert_eq!(
            check(&[
                "carbon_intensity < low AND carbon_intensity > high",
                "default"
            ]),
            Err(Finding::Unsatisfiable { rule: 0 })
        );
        assert_eq!(
            check(&["carbon_intensity < 5 AND carbon_intensity >= 5", "default"]),
            Err(Finding::Unsatisfiable { rule: 0 })
        );
    }

    #[test]
    fn two_urgency_levels_at_once_are_unsatisfiable() {
        assert_eq!(
            check(&["default", "urgency == critical AND urgency == flexible"]),
            Err(Finding::Unsatisfiable { rule: 1 })
        );
    }

    #[test]
    fn two_job_types_at_once_are_unsatisfiable() {
        assert_eq!(
            check(&["type == a AND type == b", "default"]),
            Err(Finding::Unsatisfiable { rule: 0 })
        );
    }

    #[test]
    fn any_rule_after_default_is_shadowed() {
        assert_eq!(
            check(&["default", "urgency == critical"]),
            Err(Finding::Shadowed {
                rule: 1,
                by: vec![0]
            })
        );
    }

    #[test]
    fn a_rule_covered_by_several_earlier_rules_is_shadowed() {
        assert_eq!(
            check(&[
                "urgency == critical",
                "carbon_intensity < low",
                "carbon_intensity >= low AND urgency != critical",
                "type == training",
                "default",
            ]),
            Err(Finding::Shadowed {
                rule: 3,
                by: vec![0, 1, 2]
            })
        );
    }

    #[test]
    fn a_narrower_interval_after_a_wider_one_is_shadowed() {
        assert_eq!(
            check(&[
                "carbon_intensity < low",
                "carbon_intensity < 100",
                "default"
            ]),
            Err(Finding::Shadowed {
                rule: 1,
                by: vec![0]
            })
        );
    }

    #[test]
    fn a_rule_is_shadowed_only_when_every_job_type_is_covered() {
        assert_eq!(
            check(&["type == a", "type != a", "urgency == normal"]),
            Err(Finding::Shadowed {
                rule: 2,
                by: vec![0, 1]
            })
        );
        assert_eq!(check(&["type == a OR type == b", "type != b"]), Ok(()));
    }

    #[test]
    fn partially_overlapping_rules_are_reachable() {
        assert_eq!(
            check(&[
                "carbon_intensity < low",
                "carbon_intensity <= low",
                "default"
            ]),
            Ok(())
        );
    }

    #[test]
    fn rules_that_leave_jobs_unmatched_are_not_exhaustive() {
        assert_eq!(
            check(&[
                "urgency == critical",
                "carbon_intensity < low",
                "carbon_intensity > high"
            ]),
            Err(Finding::NotExhaustive {
                example: "jobs with carbon_intensity == 200, urgency normal and any type"
                    .to_owned()
            })
        );
        assert_eq!(
            check(&["type == x", "type == \"y z\""]),
            Err(Finding::NotExhaustive {
                example: "jobs with any carbon_intensity, urgency critical and a type \
                          other than x, \"y z\""
                    .to_owned()
            })
        );
    }

    #[test]
    fn complementary_rules_without_default_are_exhaustive() {
        assert_eq!(
            check(&["carbon_intensity < low", "NOT (carbon_intensity < low)"]),
            Ok(())
        );
    }

    #[test]
    fn intervals_between_adjacent_floats_are_empty() {
        let next = next_up(200.0);
        let cases = intensity_cases(&[
            &Comparison::CarbonIntensity {
                op: crate::policy::condition::CmpOp::Lt,
                bound: crate::policy::condition::Bound::literal(200.0),
            },
            &Comparison::CarbonIntensity {
                op: crate::policy::condition::CmpOp::Lt,
                bound: crate::policy::condition::Bound::literal(next),
            },
        ]);
        let ranges: Vec<IntensityRange> = cases.iter().map(|case| case.range).collect();
        assert_eq!(
            ranges,
            [
                IntensityRange::Below(200.0),
                IntensityRange::At(200.0),
                IntensityRange::At(next),
                IntensityRange::Above(next),
            ]
        );
        assert_eq!(next_up(-1.0), -0.9999999999999999);
        assert_eq!(next_up(0.0), f64::from_bits(1));
    }

    #[test]
    fn too_many_cases_are_refused() {
        let many: Vec<String> = (0..400)
            .map(|index| format!("type == t{index} AND carbon_intensity < {index}"))
            .collect();
        let mut texts: Vec<&str> = many.iter().map(String::as_str).collect();
        texts.push("default");
        assert_eq!(
            check(&texts),
            Err(Finding::TooComplex {
                cases: (400 * 2 + 1) * 3 * 401
            })
        );
    }
}
