//! One fixed instance of every event variant, for golden snapshots, tests and benchmarks.

use chrono::{DateTime, TimeZone, Utc};

use super::*;

fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2023, 3, 15, h, m, 0)
        .single()
        .unwrap_or_default()
}

/// A decision as the seed policy would record it.
pub fn decision(rule: &str, intensity: f64) -> Decision {
    Decision {
        carbon_intensity: intensity,
        policy_rule_id: rule.to_owned(),
        reason: format!("{rule} at {intensity} gCO2/kWh"),
        forecast_window: None,
    }
}

/// Every variant once, in lifecycle order.
pub fn one_of_each() -> Vec<JobEvent> {
    vec![
        JobEvent::Submitted(JobSubmitted {
            job_type: "training".into(),
            urgency: Urgency::Flexible,
            deadline: Some(t(18, 0)),
            duration_s: Some(3600),
            power_w: Some(700.0),
            idempotency_key: Some("nightly-42".into()),
            tenant: Some("ml-platform".into()),
        }),
        JobEvent::Deferred(JobDeferred {
            decision: Decision {
                carbon_intensity: 310.5,
                policy_rule_id: "MEDIUM_FLEX_DEFER".into(),
                reason: "intensity 310.5 is between 200 and 400 and the job is flexible".into(),
                forecast_window: Some(ForecastWindow {
                    from: t(9, 0),
                    to: t(17, 0),
                    best_start: t(13, 0),
                    expected_intensity: 180.25,
                    intensity_if_now: 310.5,
                }),
            },
            defer_deadline: t(17, 0),
            planned_release: Some(t(13, 0)),
        }),
        JobEvent::Released(JobReleased {
            reason: ReleaseReason::PlannedSlot,
            carbon_intensity: 175.0,
        }),
        JobEvent::Scheduled(JobScheduled {
            pool: Pool::Fast,
            decision: decision("LOW_CARBON_FAST", 175.0),
        }),
        JobEvent::Started(JobStarted {
            worker: "fast-0".into(),
            attempt: 1,
        }),
        JobEvent::Failed(JobFailed {
            attempt: 1,
            error: "exit status 1".into(),
            will_retry: true,
            retry_at: Some(t(13, 1)),
            detail: None,
        }),
        JobEvent::Completed(JobCompleted {
            attempt: 2,
            duration_ms: 3_600_000,
            energy_kwh: 0.7,
            emissions_kg: 0.1225,
            baseline_emissions_kg: 0.21735,
            result: "ok".into(),
        }),
        JobEvent::Cancelled(JobCancelled {
            reason: "cancelled by client".into(),
        }),
        JobEvent::DeadLettered(JobDeadLettered {
            attempts: 3,
            reason: "exit status 1".into(),
        }),
        JobEvent::Retired(JobRetired {
            ending: Ending::Done,
            finished_at: t(14, 1),
            failed_attempts: 1,
            duration_ms: 3_600_000,
            energy_kwh: 0.7,
            emissions_kg: 0.1225,
            baseline_emissions_kg: 0.21735,
            idempotency_key: Some("nightly-42".into()),
        }),
        JobEvent::RetiredSummed(RetiredJobsSummed {
            through: "1678888860000-3".into(),
            jobs: 1_000,
            completed: 990,
            duration_ms_sum: 3_564_000_000,
            failed_attempts: 12,
            energy_nkwh: 693_000_000_000,
            emissions_nkg: 121_275_000_000,
            baseline_emissions_nkg: 215_176_500_000,
        }),
    ]
}

/// A plausible full history for the `n`-th of many jobs: most are routed and completed, some
/// are deferred and released first, some fail once and are retried, a few are cancelled or
/// dead-lettered. Deterministic in `n`; for benchmarks and tests.
pub fn history(n: u64) -> Vec<JobEvent> {
    let all = one_of_each();
    let pick = |name: &str| {
        all.iter()
            .find(|e| e.type_name() == name)
            .cloned()
            .unwrap_or_else(|| all[0].clone())
    };
    let pool = if n % 3 == 0 { Pool::Eco } else { Pool::Fast };
    let scheduled = JobEvent::Scheduled(JobScheduled {
        pool,
        decision: decision(
            if pool == Pool::Fast {
                "LOW_CARBON_FAST"
            } else {
                "HIGH_CARBON_ECO"
            },
            150.0 + (n % 300) as f64,
        ),
    });
    let started = |attempt| {
        JobEvent::Started(JobStarted {
            worker: format!("{}-{}", pool.as_str().to_lowercase(), n % 4),
            attempt,
        })
    };
    let completed = |attempt| {
        JobEvent::Completed(JobCompleted {
            attempt,
            duration_ms: 1_000 + n % 5_000,
            energy_kwh: 0.01 * (n % 7) as f64,
            emissions_kg: 0.001 * (n % 11) as f64,
            baseline_emissions_kg: 0.0012 * (n % 11) as f64,
            result: "ok".into(),
        })
    };
    let failed = |attempt, retry| {
        JobEvent::Failed(JobFailed {
            attempt,
            error: "exit status 1".into(),
            will_retry: retry,
            retry_at: None,
            detail: None,
        })
    };
    let mut h = vec![pick("JobSubmitted")];
    if let JobEvent::Submitted(s) = &mut h[0] {
        s.idempotency_key = Some(format!("key-{n}"));
    }
    match n % 20 {
        0..=3 => h.extend([pick("JobDeferred"), pick("JobReleased")]),
        19 => {
            h.push(pick("JobCancelled"));
            return h;
        }
        _ => {}
    }
    h.push(scheduled);
    h.push(started(1));
    match n % 10 {
        7 => h.extend([failed(1, true), started(2), completed(2)]),
        8 if n % 40 == 8 => h.extend([failed(1, false), pick("JobDeadLettered")]),
        _ => h.push(completed(1)),
    }
    h
}

/// The entries a log holds of many jobs' `histories`, interleaved as concurrent jobs would be:
/// one event of each job in turn. Job `n` has id `n + 1`; entry `k` (from 1) has stream id
/// `k-0`, event id `k`, and was recorded `k` seconds after `start`.
pub fn interleaved(histories: &[Vec<JobEvent>], start: DateTime<Utc>) -> Vec<RecordedEvent> {
    let longest = histories.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = Vec::new();
    for step in 0..longest {
        for (n, h) in histories.iter().enumerate() {
            let Some(event) = h.get(step) else { continue };
            let seq = out.len() as u64 + 1;
            let job_id = uuid::Uuid::from_u128(n as u128 + 1);
            out.push(RecordedEvent {
                stream_id: StreamId::new(seq, 0),
                meta: EventMeta {
                    event_id: uuid::Uuid::from_u128(u128::from(seq)),
                    job_id,
                    job_version: step as u64 + 1,
                    schema_version: 1,
                    recorded_at: start + chrono::TimeDelta::seconds(seq as i64),
                    correlation_id: job_id,
                    causation_id: None,
                },
                event: event.clone(),
            });
        }
    }
    out
}

/// The `JobRetired` that sums up a finished `history` (from its events alone: the service
/// builds it from the job's view, and a test checks that the two agree).
pub fn retired_after(history: &[JobEvent]) -> JobEvent {
    let mut r = JobRetired {
        ending: Ending::Done,
        finished_at: t(23, 59),
        failed_attempts: 0,
        duration_ms: 0,
        energy_kwh: 0.0,
        emissions_kg: 0.0,
        baseline_emissions_kg: 0.0,
        idempotency_key: None,
    };
    for event in history {
        match event {
            JobEvent::Submitted(s) => r.idempotency_key = s.idempotency_key.clone(),
            JobEvent::Failed(_) => r.failed_attempts += 1,
            JobEvent::Completed(c) => {
                r.duration_ms = c.duration_ms;
                r.energy_kwh = c.energy_kwh;
                r.emissions_kg = c.emissions_kg;
                r.baseline_emissions_kg = c.baseline_emissions_kg;
            }
            JobEvent::Cancelled(_) => r.ending = Ending::Cancelled,
            JobEvent::DeadLettered(_) => r.ending = Ending::DeadLettered,
            _ => {}
        }
    }
    JobEvent::Retired(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_history_is_a_legal_lifecycle() {
        for n in 0..200 {
            JobLifecycle::replay(&history(n)).unwrap_or_else(|e| panic!("history {n}: {e}"));
        }
    }
}
