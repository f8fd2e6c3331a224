//! The `simulate` command's shell: options → run with a progress bar → table or JSON, files,
//! and optionally the whole run recorded into Redis.

use std::io::Write;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};

use carbonq::cli::{Scenario, SimulateArgs};
use carbonq::clock::ManualClock;
use carbonq::grid::Region;
use carbonq::ids::IdGen;
use carbonq::projections::runner::ProjectionRunner;
use carbonq::sim::simulate::{simulate, write_outputs, SimulateOptions, Workload};
use carbonq::sim::year::{render_year_table, simulate_sample, write_year_chart, Sample};
use carbonq::sim::{render_table, to_json};
use carbonq::store::{AppendRequest, Bound, EventStore, KeySpace, RedisStore, Stamper};

pub fn run(args: &SimulateArgs) -> Result<(), Box<dyn std::error::Error>> {
    let scenario = args.scenario == Some(Scenario::LetsWaitAwhile);
    let region = if scenario {
        Region::De2020
    } else {
        Region::from_name(&args.region)?
    };
    let options = SimulateOptions {
        region,
        trace: args.trace.clone(),
        date: args.date,
        days: args.days,
        workload: match (&args.workload, scenario) {
            (Some(path), _) => Workload::File(path.clone()),
            (None, true) => Workload::LetsWaitAwhile,
            (None, false) => Workload::Generated(args.jobs),
        },
        workers: args.workers,
        policy: args.policy,
        seed: args.seed,
        forecast_error: args.forecast_error,
    };
    if let Some(sample) = args.sample {
        return run_sample(args, &options, sample);
    }
    let bar = progress_bar("{pos}/{len} jobs done ({elapsed})");
    let sim = simulate(&options, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    write_outputs(&sim, &args.out)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        out.write_all(to_json(&sim.report)?.as_bytes())?;
    } else {
        writeln!(out, "{}", render_table(&sim.report))?;
        writeln!(
            out,
            "wrote {} and {}",
            args.out.join("report.json").display(),
            args.out.join("day.svg").display()
        )?;
    }
    out.flush()?;
    if let Some(url) = &args.redis {
        let n = record(&sim.run.log, url)?;
        eprintln!("recorded {n} events into {url}; try `carbonq replay --redis {url}`");
    }
    Ok(())
}

/// A bar of unknown length yet, `{spinner} simulating [bar] ` then `counts`.
fn progress_bar(counts: &str) -> ProgressBar {
    let template = format!("{{spinner}} simulating [{{bar:30}}] {counts}");
    ProgressBar::new(0).with_style(
        ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    )
}

/// `simulate --sample`: every sampled run, a progress bar over them, the table or JSON, and
/// report.json and year.svg.
fn run_sample(
    args: &SimulateArgs,
    options: &SimulateOptions,
    sample: Sample,
) -> Result<(), Box<dyn std::error::Error>> {
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n.get(),
    );
    let bar = progress_bar("{pos}/{len} runs done ({elapsed}, about {eta} left)");
    let started = std::time::Instant::now();
    let year = simulate_sample(options, sample, threads, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    std::fs::create_dir_all(&args.out)?;
    let report = args.out.join("report.json");
    let chart = args.out.join("year.svg");
    let mut json = serde_json::to_string_pretty(&year)?;
    json.push('\n');
    std::fs::write(&report, &json)?;
    write_year_chart(&chart, &year)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        out.write_all(json.as_bytes())?;
    } else {
        writeln!(out, "{}", render_year_table(&year))?;
        writeln!(out, "wrote {} and {}", report.display(), chart.display())?;
    }
    out.flush()?;
    eprintln!(
        "{} runs in {:.1} s on {threads} thread(s)",
        year.runs.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Copies the in-memory log into Redis with its original (virtual) times, then projects it.
fn record(log: &carbonq::store::MemoryStore, url: &str) -> Result<u64, Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let memory = EventStore::Memory(log.clone());
        let entries = memory
            .read_range(Bound::Open, Bound::Open, usize::MAX)
            .await?;
        let clock = Arc::new(ManualClock::default());
        let stamper = Stamper {
            clock: clock.clone(),
            ids: Arc::new(IdGen::Random),
        };
        let store = RedisStore::open(url, KeySpace::default(), stamper).await?;
        // Refused while a `serve` writes this log; none can start while the run is recorded
        // (a takeover would fail the next append).
        let (store, lease, _) = store.hold_lease(std::time::Duration::from_secs(10)).await?;
        let redis = EventStore::Redis(store.clone());
        let mut batch: Vec<AppendRequest> = Vec::new();
        let mut at = None;
        let mut n = 0u64;
        for (_, entry) in entries {
            let Ok(e) = entry else { continue };
            if at != Some(e.meta.recorded_at) && !batch.is_empty() {
                flush(&redis, &mut batch).await?;
            }
            at = Some(e.meta.recorded_at);
            clock.set(e.meta.recorded_at);
            batch.push(AppendRequest {
                job_id: e.meta.job_id,
                expected_version: e.meta.job_version - 1,
                events: vec![e.event],
                correlation_id: e.meta.correlation_id,
                causation_id: e.meta.causation_id,
                replaces: Vec::new(),
            });
            n += 1;
        }
        flush(&redis, &mut batch).await?;
        ProjectionRunner::start(&store, KeySpace::default())
            .await?
            .catch_up()
            .await?;
        lease.give_up(&store).await?;
        Ok(n)
    })
}

async fn flush(
    store: &EventStore,
    batch: &mut Vec<AppendRequest>,
) -> Result<(), Box<dyn std::error::Error>> {
    for result in store.append_batch(std::mem::take(batch)).await? {
        result?;
    }
    Ok(())
}
