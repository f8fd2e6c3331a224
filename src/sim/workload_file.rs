//! Workload files: JSON Lines or CSV, one job per line, chosen by the file's extension.
//!
//! Both carry the fields of [`JobSpec`] under these names:
//! `submit_at` (RFC 3339), `type`, `urgency` (`critical` | `normal` | `flexible`),
//! `duration_s`, `power_w`, `deadline` (RFC 3339, optional: omitted, `null` or an empty CSV
//! field). `.jsonl` and `.json` are read as JSON Lines (blank lines are skipped); `.csv` needs a
//! header naming the columns (any order; `deadline` may be left out).
//!
//! Invariant: a loaded workload is sorted by `submit_at` (stable: file order among equal
//! times), and every job has a positive duration, a finite non-negative power, a type and a
//! feasible deadline. Errors name the file and the 1-based line.

use std::path::Path;

use super::workload::JobSpec;
use crate::clock::format_time;

/// Everything that can go wrong while reading or writing a workload file.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// The file could not be read.
    #[error("cannot read {file}")]
    Read {
        /// Path of the file.
        file: String,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The file could not be written.
    #[error("cannot write {file}")]
    Write {
        /// Path of the file.
        file: String,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The extension is neither `.jsonl`, `.json` nor `.csv`.
    #[error("{file}: unknown workload format (expected a .jsonl, .json or .csv file)")]
    UnknownFormat {
        /// Path of the file.
        file: String,
    },

    /// A line could not be parsed or holds an invalid value.
    #[error("{file}:{line}: {reason}")]
    BadLine {
        /// File (or source) name.
        file: String,
        /// 1-based line number.
        line: u64,
        /// What is wrong with the line.
        reason: String,
    },

    /// A job's deadline lies before its earliest possible finish.
    #[error(
        "{file}:{line}: deadline {deadline} is before the earliest finish {earliest_finish} (submit_at + duration_s)"
    )]
    InfeasibleDeadline {
        /// File (or source) name.
        file: String,
        /// 1-based line number.
        line: u64,
        /// The deadline given, RFC 3339.
        deadline: String,
        /// `submit_at + duration_s`, RFC 3339.
        earliest_finish: String,
    },

    /// The file holds no job.
    #[error("{file}: no jobs")]
    Empty {
        /// File (or source) name.
        file: String,
    },

    /// The jobs could not be encoded (a value serde refuses, e.g. a non-finite power in CSV).
    #[error("cannot encode the workload: {reason}")]
    Encode {
        /// The encoder's message.
        reason: String,
    },
}

/// The two workload formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    JsonLines,
    Csv,
}

fn format_of(path: &Path) -> Result<Format, WorkloadError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("jsonl" | "json") => Ok(Format::JsonLines),
        Some("csv") => Ok(Format::Csv),
        _ => Err(WorkloadError::UnknownFormat {
            file: path.display().to_string(),
        }),
    }
}

/// Reads a workload file, choosing the format by extension (`.jsonl`/`.json` or `.csv`).
pub fn load(path: &Path) -> Result<Vec<JobSpec>, WorkloadError> {
    let format = format_of(path)?;
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| WorkloadError::Read {
        file: file.clone(),
        source,
    })?;
    match format {
        Format::JsonLines => parse_jsonl(&file, &text),
        Format::Csv => parse_csv(&file, &text),
    }
}

/// Writes a workload file in the format its extension names.
pub fn save(path: &Path, jobs: &[JobSpec]) -> Result<(), WorkloadError> {
    let text = match format_of(path)? {
        Format::JsonLines => to_jsonl(jobs)?,
        Format::Csv => to_csv(jobs)?,
    };
    std::fs::write(path, text).map_err(|source| WorkloadError::Write {
        file: path.display().to_string(),
        source,
    })
}

/// Parses JSON Lines text; `name` is used in error messages.
pub fn parse_jsonl(name: &str, text: &str) -> Result<Vec<JobSpec>, WorkloadError> {
    let mut jobs = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i as u64 + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let job: JobSpec = serde_json::from_str(raw).map_err(|e| WorkloadError::BadLine {
            file: name.to_owned(),
            line,
            reason: json_reason(&e),
        })?;
        check(name, line, &job)?;
        jobs.push(job);
    }
    finish(name, jobs)
}

/// serde_json's message without its "at line 1 column N" suffix (the line is always 1 here).
fn json_reason(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.rsplit_once(" at line ") {
        Some((head, _)) => format!("{head} (column {})", e.column()),
        None => msg,
    }
}

/// Parses CSV text with a header; `name` is used in error messages.
pub fn parse_csv(name: &str, text: &str) -> Result<Vec<JobSpec>, WorkloadError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let bad = |line: u64, reason: String| WorkloadError::BadLine {
        file: name.to_owned(),
        line,
        reason,
    };
    let headers = reader
        .headers()
        .map_err(|e| bad(1, format!("unreadable header: {e}")))?
        .clone();
    let mut jobs = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let more = reader.read_record(&mut record).map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            bad(line, csv_reason(&e))
        })?;
        if !more {
            break;
        }
        let line = record.position().map_or(0, |p| p.line());
        let job: JobSpec = record
            .deserialize(Some(&headers))
            .map_err(|e| bad(line, csv_reason(&e)))?;
        check(name, line, &job)?;
        jobs.push(job);
    }
    finish(name, jobs)
}

/// The useful part of a csv error (without the crate's own position prefix).
fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Deserialize { err, .. } => match err.field() {
            Some(i) => format!("column {}: {}", i + 1, err.kind()),
            None => err.kind().to_string(),
        },
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("expected {expected_len} fields, found {len}"),
        _ => e.to_string(),
    }
}

/// Validates one parsed job.
fn check(name: &str, line: u64, job: &JobSpec) -> Result<(), WorkloadError> {
    let bad = |reason: &str| {
        Err(WorkloadError::BadLine {
            file: name.to_owned(),
            line,
            reason: reason.to_owned(),
        })
    };
    if job.job_type.is_empty() {
        return bad("type must not be empty");
    }
    if job.duration_s == 0 {
        return bad("duration_s must be positive");
    }
    if job.duration_s > 366 * 86_400 {
        return bad("duration_s must be at most a year");
    }
    if !(job.power_w.is_finite() && job.power_w >= 0.0) {
        return bad("power_w must be a finite non-negative number");
    }
    if let Some(deadline) = job.deadline {
        if !job.deadline_is_feasible() {
            return Err(WorkloadError::InfeasibleDeadline {
                file: name.to_owned(),
                line,
                deadline: format_time(deadline),
                earliest_finish: format_time(job.earliest_finish()),
            });
        }
    }
    Ok(())
}

fn finish(name: &str, mut jobs: Vec<JobSpec>) -> Result<Vec<JobSpec>, WorkloadError> {
    if jobs.is_empty() {
        return Err(WorkloadError::Empty {
            file: name.to_owned(),
        });
    }
    jobs.sort_by_key(|j| j.submit_at);
    Ok(jobs)
}

/// The jobs as JSON Lines (one object per line, newline-terminated).
pub fn to_jsonl(jobs: &[JobSpec]) -> Result<String, WorkloadError> {
    let mut out = String::new();
    for job in jobs {
        let line = serde_json::to_string(job).map_err(|e| WorkloadError::Encode {
            reason: e.to_string(),
        })?;
        out.push_str(&line);
        out.push('\n');
    }
    Ok(out)
}

/// The jobs as CSV with a header (`submit_at,type,urgency,duration_s,power_w,deadline`).
pub fn to_csv(jobs: &[JobSpec]) -> Result<String, WorkloadError> {
    let encode = |reason: String| WorkloadError::Encode { reason };
    let mut writer = csv::Writer::from_writer(Vec::new());
    if jobs.is_empty() {
        writer
            .write_record([
                "submit_at",
                "type",
                "urgency",
                "duration_s",
                "power_w",
                "deadline",
            ])
            .map_err(|e| encode(e.to_string()))?;
    }
    for job in jobs {
        writer.serialize(job).map_err(|e| encode(e.to_string()))?;
    }
    let bytes = writer.into_inner().map_err(|e| encode(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| encode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Urgency;
    use crate::sim::workload::generate;
    use chrono::{DateTime, Utc};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_generated_workload_round_trips_through_jsonl_and_csv_files() {
        // Given a generated workload
        let jobs = generate(11, t("2023-03-14T00:00:00Z"), 2, 300);
        let dir = tempfile::tempdir().unwrap();
        for name in ["w.jsonl", "w.json", "w.csv"] {
            // When it is saved and loaded again
            let path = dir.path().join(name);
            save(&path, &jobs).unwrap();
            let back = load(&path).unwrap();
            // Then nothing changed
            assert_eq!(back, jobs, "{name}");
        }
    }

    #[test]
    fn the_file_formats_use_the_documented_field_names() {
        let jobs = vec![JobSpec {
            submit_at: t("2023-03-14T09:30:00Z"),
            job_type: "training".into(),
            urgency: Urgency::Flexible,
            duration_s: 3600,
            power_w: 700.0,
            deadline: Some(t("2023-03-15T09:00:00Z")),
        }];
        assert_eq!(
            to_jsonl(&jobs).unwrap(),
            "{\"submit_at\":\"2023-03-14T09:30:00Z\",\"type\":\"training\",\"urgency\":\"flexible\",\
             \"duration_s\":3600,\"power_w\":700.0,\"deadline\":\"2023-03-15T09:00:00Z\"}\n"
        );
        assert_eq!(
            to_csv(&jobs).unwrap(),
            "submit_at,type,urgency,duration_s,power_w,deadline\n\
             2023-03-14T09:30:00Z,training,flexible,3600,700.0,2023-03-15T09:00:00Z\n"
        );
    }

    #[test]
    fn deadline_may_be_omitted_null_or_empty_and_rows_are_sorted() {
        let jsonl = "{\"submit_at\":\"2023-03-14T10:00:00+01:00\",\"type\":\"a\",\"urgency\":\"critical\",\"duration_s\":60,\"power_w\":235}\n\
                     \n\
                     {\"submit_at\":\"2023-03-14T08:00:00Z\",\"type\":\"b\",\"urgency\":\"normal\",\"duration_s\":60,\"power_w\":235,\"deadline\":null}\n";
        let jobs = parse_jsonl("w.jsonl", jsonl).unwrap();
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0].job_type, "b");
        assert_eq!(jobs[1].submit_at, t("2023-03-14T09:00:00Z"));
        assert!(jobs.iter().all(|j| j.deadline.is_none()));

        let csv = "type,submit_at,urgency,duration_s,power_w\n\
                   a, 2023-03-14T10:00:00Z ,critical,60,235\n";
        let jobs = parse_csv("w.csv", csv).unwrap();
        assert_eq!(jobs[0].deadline, None);
        let csv = "submit_at,type,urgency,duration_s,power_w,deadline\n\
                   2023-03-14T10:00:00Z,a,critical,60,235,\n";
        assert_eq!(parse_csv("w.csv", csv).unwrap()[0].deadline, None);
    }

    #[test]
    fn a_bad_line_is_reported_with_file_and_line() {
        // Given a JSONL file whose third line has an unknown urgency
        let jsonl = "{\"submit_at\":\"2023-03-14T10:00:00Z\",\"type\":\"a\",\"urgency\":\"critical\",\"duration_s\":60,\"power_w\":235}\n\
                     \n\
                     {\"submit_at\":\"2023-03-14T10:00:00Z\",\"type\":\"a\",\"urgency\":\"soon\",\"duration_s\":60,\"power_w\":235}\n";
        // When it is parsed
        let e = parse_jsonl("w.jsonl", jsonl).unwrap_err();
        // Then the error names file and line
        assert!(matches!(e, WorkloadError::BadLine { line: 3, .. }), "{e}");
        assert!(
            e.to_string()
                .starts_with("w.jsonl:3: unknown variant `soon`"),
            "{e}"
        );

        let e = parse_jsonl("w.jsonl", "{\"submit_at\":\"x\"}\n").unwrap_err();
        assert!(e.to_string().starts_with("w.jsonl:1: "), "{e}");

        // And a CSV row with a bad number is reported on its line
        let csv = "submit_at,type,urgency,duration_s,power_w,deadline\n\
                   2023-03-14T10:00:00Z,a,critical,60,235,\n\
                   2023-03-14T10:00:00Z,a,critical,sixty,235,\n";
        let e = parse_csv("w.csv", csv).unwrap_err();
        assert!(matches!(e, WorkloadError::BadLine { line: 3, .. }), "{e}");
        assert!(e.to_string().starts_with("w.csv:3: column 4: "), "{e}");

        // And so are unknown columns, missing fields, zero durations and wrong field counts
        let e = parse_csv("w.csv", "submit_at,type,urgency,duration_s,power_w,colour\n2023-03-14T10:00:00Z,a,critical,60,235,red\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `colour`"), "{e}");
        let e = parse_jsonl("w.jsonl", "{\"submit_at\":\"2023-03-14T10:00:00Z\",\"type\":\"a\",\"urgency\":\"critical\",\"duration_s\":0,\"power_w\":1}").unwrap_err();
        assert_eq!(e.to_string(), "w.jsonl:1: duration_s must be positive");
        let e = parse_csv(
            "w.csv",
            "submit_at,type,urgency,duration_s,power_w\n2023-03-14T10:00:00Z,a\n",
        )
        .unwrap_err();
        assert!(matches!(e, WorkloadError::BadLine { line: 2, .. }), "{e}");
    }

    #[test]
    fn an_infeasible_deadline_is_an_error_naming_the_line() {
        // Given a job of one hour whose deadline is 30 minutes after submission, on line 2
        let csv = "submit_at,type,urgency,duration_s,power_w,deadline\n\
                   2023-03-14T10:00:00Z,a,flexible,3600,235,2023-03-14T10:30:00Z\n";
        // When the file is parsed
        let e = parse_csv("w.csv", csv).unwrap_err();
        // Then the error says so on line 2
        assert!(
            matches!(e, WorkloadError::InfeasibleDeadline { line: 2, .. }),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            "w.csv:2: deadline 2023-03-14T10:30:00.000Z is before the earliest finish \
             2023-03-14T11:00:00.000Z (submit_at + duration_s)"
        );
    }

    #[test]
    fn unknown_extensions_missing_files_and_empty_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let e = load(&dir.path().join("w.yaml")).unwrap_err();
        assert!(matches!(e, WorkloadError::UnknownFormat { .. }));
        let e = load(&dir.path().join("missing.csv")).unwrap_err();
        assert!(e.to_string().starts_with("cannot read "), "{e}");
        let empty = dir.path().join("e.jsonl");
        std::fs::write(&empty, "\n\n").unwrap();
        assert!(matches!(
            load(&empty).unwrap_err(),
            WorkloadError::Empty { .. }
        ));
    }
}
