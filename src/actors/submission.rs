//! Pure intake rules: what a submission must look like, and why it is refused.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::events::{JobSubmitted, Urgency};

/// A job as a client submits it: the seed's `type` and `urgency`, plus carbonq's optional fields.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// Job type; `default` when absent.
    #[serde(rename = "type")]
    pub job_type: Option<String>,
    /// `critical`, `normal` or `flexible` (the default).
    pub urgency: Option<String>,
    /// RFC 3339 deadline.
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

/// Why a submission was refused; `code` is machine-readable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    /// e.g. `unknown_urgency`.
    pub code: &'static str,
    /// A sentence for people.
    pub message: String,
}

fn invalid(code: &'static str, message: String) -> Invalid {
    Invalid { code, message }
}

/// Checks a submission at `now` and turns it into the event to append.
pub fn validate(req: SubmitRequest, now: DateTime<Utc>) -> Result<JobSubmitted, Invalid> {
    let urgency = match req.urgency.as_deref() {
        None => Urgency::Flexible,
        Some(u) => Urgency::parse(u).ok_or_else(|| {
            invalid(
                "unknown_urgency",
                format!("urgency {u:?} is not one of critical, normal, flexible"),
            )
        })?,
    };
    let job_type = req.job_type.unwrap_or_else(|| "default".into());
    if job_type.is_empty() || job_type.len() > 128 {
        return Err(invalid(
            "invalid_type",
            "type must be 1 to 128 characters".into(),
        ));
    }
    if let Some(p) = req.power_w {
        if !p.is_finite() || !(0.0..=1e7).contains(&p) {
            return Err(invalid(
                "invalid_power",
                format!("power_w {p} must be a number of watts between 0 and 10,000,000"),
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
        if let Some(d) = req.duration_s {
            let needed =
                now + chrono::TimeDelta::seconds(i64::try_from(d).unwrap_or(i64::MAX / 2_000));
            if deadline < needed {
                return Err(invalid(
                    "deadline_shorter_than_duration",
                    format!("deadline {deadline} leaves less than the job's {d} s duration"),
                ));
            }
        }
    }
    if req
        .idempotency_key
        .as_ref()
        .is_some_and(|k| k.is_empty() || k.len() > 256)
    {
        return Err(invalid(
            "invalid_idempotency_key",
            "idempotency_key must be 1 to 256 characters".into(),
        ));
    }
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
}
