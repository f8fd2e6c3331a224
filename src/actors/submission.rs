//! Pure intake rules: what a submission must look like, and why it is refused.

use chrono::{DateTime, TimeDelta, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use crate::events::{JobSubmitted, Urgency};

/// A job as a client submits it: the seed's `type` and `urgency`, plus carbonq's optional fields.
/// Every field is bounded ([`validate`]); the bounds are the README's API table.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// Job type; `default` when absent.
    #[serde(rename = "type")]
    pub job_type: Option<String>,
    /// `critical`, `normal` or `flexible` (the default).
    pub urgency: Option<String>,
    /// RFC 3339 deadline, with a zone.
    #[serde(default, deserialize_with = "rfc3339")]
    pub deadline: Option<DateTime<Utc>>,
    /// Expected run time, seconds.
    pub duration_s: Option<u64>,
    /// Power draw, watts.
    pub power_w: Option<f64>,
    /// Deduplication key: a repeat returns the first job.
    pub idempotency_key: Option<String>,
    /// Submitting tenant.
    pub tenant: Option<String>,
}

/// The longest `duration_s`: 30 days.
pub const MAX_DURATION_S: u64 = 30 * 24 * 3600;
/// The largest `power_w`: 100 kW, a rack of GPU servers.
pub const MAX_POWER_W: f64 = 100_000.0;
/// The furthest `deadline`, counted from the submission: 366 days.
pub const MAX_DEADLINE_AHEAD: TimeDelta = TimeDelta::days(366);
/// The longest `type`, bytes; a type is ASCII letters, digits and `_ - . : /`.
pub const MAX_TYPE_LEN: usize = 64;
/// The longest `tenant` and `idempotency_key`, bytes.
pub const MAX_TEXT_LEN: usize = 256;

/// Reads a deadline as RFC 3339 with a zone, and says so when it is not.
fn rfc3339<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(&text)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| {
            D::Error::custom(format!(
                "expected RFC 3339 with a zone, e.g. 2026-12-03T09:00:00Z, not {:?}",
                clip(&text)
            ))
        })
}

/// At most the first 40 characters of `text`, to quote a bad value without echoing a megabyte.
fn clip(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// Why a submission was refused; `code` is machine-readable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    /// e.g. `unknown_urgency`.
    pub code: &'static str,
    /// A sentence for people, starting with the field at fault.
    pub message: String,
}

fn invalid(code: &'static str, message: String) -> Invalid {
    Invalid { code, message }
}

/// A client-chosen name (`type`) fits in URLs, logs and metric labels as it is.
fn is_safe_name(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'/'))
}

/// Checks a free-text field: 1 to [`MAX_TEXT_LEN`] bytes, no control characters.
fn check_text(field: &str, value: Option<&str>) -> Result<(), Invalid> {
    match value {
        Some(v) if v.is_empty() || v.len() > MAX_TEXT_LEN || v.chars().any(char::is_control) => {
            Err(invalid(
                match field {
                    "tenant" => "invalid_tenant",
                    _ => "invalid_idempotency_key",
                },
                format!(
                    "{field}: expected 1 to {MAX_TEXT_LEN} bytes without control characters, \
                     got {} bytes",
                    v.len()
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// Checks a submission at `now` and turns it into the event to append. Every value is checked
/// against its bound before any arithmetic, so no submission can overflow a time or a sum.
pub fn validate(req: SubmitRequest, now: DateTime<Utc>) -> Result<JobSubmitted, Invalid> {
    let urgency = match req.urgency.as_deref() {
        None => Urgency::Flexible,
        Some(u) => Urgency::parse(u).ok_or_else(|| {
            invalid(
                "unknown_urgency",
                format!(
                    "urgency {:?} is not one of critical, normal, flexible",
                    clip(u)
                ),
            )
        })?,
    };
    let job_type = req.job_type.unwrap_or_else(|| "default".into());
    if job_type.is_empty() || job_type.len() > MAX_TYPE_LEN || !is_safe_name(&job_type) {
        return Err(invalid(
            "invalid_type",
            format!(
                "type: expected 1 to {MAX_TYPE_LEN} ASCII letters, digits or _ - . : /, not {:?}",
                clip(&job_type)
            ),
        ));
    }
    if let Some(d) = req.duration_s {
        if d > MAX_DURATION_S {
            return Err(invalid(
                "invalid_duration",
                format!("duration_s: expected whole seconds from 0 to {MAX_DURATION_S} (30 days), not {d}"),
            ));
        }
    }
    if let Some(p) = req.power_w {
        if !p.is_finite() || !(0.0..=MAX_POWER_W).contains(&p) {
            return Err(invalid(
                "invalid_power",
                format!("power_w: expected watts from 0 to {MAX_POWER_W} (100 kW), not {p}"),
            ));
        }
    }
    if let Some(deadline) = req.deadline {
        if deadline <= now {
            return Err(invalid(
                "deadline_in_past",
                format!("deadline {deadline} is not in the future"),
            ));
        }
        if deadline - now > MAX_DEADLINE_AHEAD {
            return Err(invalid(
                "deadline_too_far",
                format!("deadline {deadline} is more than 366 days away"),
            ));
        }
        if let Some(d) = req.duration_s {
            // Bounded above: 30 days of seconds is far inside TimeDelta's range.
            if deadline - now < TimeDelta::seconds(d as i64) {
                return Err(invalid(
                    "deadline_shorter_than_duration",
                    format!("deadline {deadline} leaves less than the job's {d} s duration"),
                ));
            }
        }
    }
    check_text("idempotency_key", req.idempotency_key.as_deref())?;
    check_text("tenant", req.tenant.as_deref())?;
    Ok(JobSubmitted {
        job_type,
        urgency,
        deadline: req.deadline,
        duration_s: req.duration_s,
        power_w: req.power_w,
        idempotency_key: req.idempotency_key,
        tenant: req.tenant,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2023, 3, 15, 12, 0, 0).unwrap()
    }

    #[test]
    fn the_seed_body_is_enough_and_defaults_to_flexible() {
        let j = validate(SubmitRequest::default(), now()).unwrap();
        assert_eq!(
            (j.job_type.as_str(), j.urgency),
            ("default", Urgency::Flexible)
        );
    }

    #[test]
    fn bad_submissions_are_refused_with_a_code() {
        let cases = [
            (
                SubmitRequest {
                    urgency: Some("asap".into()),
                    ..Default::default()
                },
                "unknown_urgency",
            ),
            (
                SubmitRequest {
                    deadline: Some(now()),
                    ..Default::default()
                },
                "deadline_in_past",
            ),
            (
                SubmitRequest {
                    deadline: Some(now() + chrono::TimeDelta::seconds(10)),
                    duration_s: Some(11),
                    ..Default::default()
                },
                "deadline_shorter_than_duration",
            ),
            (
                SubmitRequest {
                    power_w: Some(-1.0),
                    ..Default::default()
                },
                "invalid_power",
            ),
            (
                SubmitRequest {
                    job_type: Some(String::new()),
                    ..Default::default()
                },
                "invalid_type",
            ),
        ];
        for (req, code) in cases {
            assert_eq!(validate(req, now()).unwrap_err().code, code);
        }
    }

    fn refused(req: SubmitRequest) -> &'static str {
        validate(req, now()).unwrap_err().code
    }

    fn accepted(req: SubmitRequest) -> bool {
        validate(req, now()).is_ok()
    }

    #[test]
    fn duration_is_bounded_at_30_days() {
        let with = |d| SubmitRequest {
            duration_s: Some(d),
            ..Default::default()
        };
        assert!(accepted(with(0)));
        assert!(accepted(with(MAX_DURATION_S)));
        assert_eq!(refused(with(MAX_DURATION_S + 1)), "invalid_duration");
        assert_eq!(refused(with(u64::MAX)), "invalid_duration");
        assert_eq!(refused(with(i64::MAX as u64)), "invalid_duration");
    }

    #[test]
    fn a_huge_duration_with_a_deadline_is_refused_without_overflow() {
        for d in [i64::MAX as u64, u64::MAX, 1_000_000_000_000_000] {
            let req = SubmitRequest {
                duration_s: Some(d),
                deadline: Some(now() + TimeDelta::days(30)),
                ..Default::default()
            };
            assert_eq!(refused(req), "invalid_duration");
        }
    }

    #[test]
    fn power_is_bounded_at_100_kw() {
        let with = |p| SubmitRequest {
            power_w: Some(p),
            ..Default::default()
        };
        assert!(accepted(with(0.0)));
        assert!(accepted(with(MAX_POWER_W)));
        for p in [
            MAX_POWER_W * 1.000001,
            -0.1,
            f64::NAN,
            f64::INFINITY,
            f64::MAX,
        ] {
            assert_eq!(refused(with(p)), "invalid_power", "{p}");
        }
    }

    #[test]
    fn a_deadline_is_at_most_366_days_away_and_leaves_the_duration() {
        let with = |ahead: TimeDelta, d: Option<u64>| SubmitRequest {
            deadline: Some(now() + ahead),
            duration_s: d,
            ..Default::default()
        };
        assert!(accepted(with(MAX_DEADLINE_AHEAD, None)));
        assert_eq!(
            refused(with(MAX_DEADLINE_AHEAD + TimeDelta::seconds(1), None)),
            "deadline_too_far"
        );
        assert!(accepted(with(TimeDelta::seconds(3600), Some(3600))));
        assert_eq!(
            refused(with(TimeDelta::seconds(3599), Some(3600))),
            "deadline_shorter_than_duration"
        );
        assert!(accepted(with(
            TimeDelta::seconds(MAX_DURATION_S as i64),
            Some(MAX_DURATION_S)
        )));
    }

    #[test]
    fn type_is_a_safe_name_of_at_most_64_bytes() {
        let with = |t: &str| SubmitRequest {
            job_type: Some(t.into()),
            ..Default::default()
        };
        assert!(accepted(with(&"a".repeat(MAX_TYPE_LEN))));
        assert!(accepted(with("batch_inference/llama-3.1:70b")));
        for bad in [
            "a".repeat(MAX_TYPE_LEN + 1),
            "two words".into(),
            "quote\"".into(),
            "new\nline".into(),
            "é".into(),
            String::new(),
        ] {
            assert_eq!(refused(with(&bad)), "invalid_type", "{bad:?}");
        }
    }

    #[test]
    fn tenant_and_key_are_1_to_256_bytes_without_control_characters() {
        let tenant = |t: &str| SubmitRequest {
            tenant: Some(t.into()),
            ..Default::default()
        };
        let key = |k: &str| SubmitRequest {
            idempotency_key: Some(k.into()),
            ..Default::default()
        };
        let longest = "é".repeat(MAX_TEXT_LEN / 2);
        assert!(accepted(tenant(&longest)) && accepted(key(&longest)));
        let too_long = format!("{longest}x");
        for bad in [too_long.as_str(), "", "tab\there", "nul\0"] {
            assert_eq!(refused(tenant(bad)), "invalid_tenant", "{bad:?}");
            assert_eq!(refused(key(bad)), "invalid_idempotency_key", "{bad:?}");
        }
    }

    #[test]
    fn errors_name_the_field() {
        let message = |req| validate(req, now()).unwrap_err().message;
        assert!(message(SubmitRequest {
            duration_s: Some(u64::MAX),
            ..Default::default()
        })
        .starts_with("duration_s: "));
        assert!(message(SubmitRequest {
            tenant: Some("x".repeat(4_000_000)),
            ..Default::default()
        })
        .starts_with("tenant: "));
        assert!(
            message(SubmitRequest {
                job_type: Some("x".repeat(4_000_000)),
                ..Default::default()
            })
            .len()
                < 200,
            "a bad value is not echoed whole"
        );
    }

    #[test]
    fn a_deadline_that_is_not_rfc_3339_with_a_zone_says_what_is_expected() {
        for bad in ["2026-12-03T09:00:00", "tomorrow", "2026-13-01T00:00:00Z"] {
            let body = serde_json::json!({ "deadline": bad }).to_string();
            let e = serde_json::from_str::<SubmitRequest>(&body).unwrap_err();
            assert!(
                e.to_string()
                    .starts_with("expected RFC 3339 with a zone, e.g. 2026-12-03T09:00:00Z"),
                "{e}"
            );
        }
        let ok: SubmitRequest =
            serde_json::from_str(r#"{"deadline": "2026-12-03T10:00:00+01:00"}"#).unwrap();
        assert_eq!(
            ok.deadline,
            Some(Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap())
        );
        let none: SubmitRequest = serde_json::from_str(r#"{"deadline": null}"#).unwrap();
        assert_eq!(none.deadline, None);
    }
}
