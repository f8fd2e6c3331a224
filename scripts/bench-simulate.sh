#!/usr/bin/env bash
# Wall time and peak memory of one simulated day with 10k and 100k jobs (median of 3 runs).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin carbonq
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for jobs in 10000 100000; do
  for run in 1 2 3; do
    /usr/bin/time -f "%e %M" -o "$out/time.$jobs.$run" \
      target/release/carbonq simulate --jobs "$jobs" --json --out "$out/day" >/dev/null
  done
  python3 - "$out" "$jobs" <<'PY'
import statistics, sys
out, jobs = sys.argv[1], sys.argv[2]
runs = [open(f"{out}/time.{jobs}.{r}").read().split() for r in (1, 2, 3)]
wall = statistics.median(float(w) for w, _ in runs)
rss = statistics.median(int(m) for _, m in runs) / 1024
print(f"{int(jobs):>7} jobs in a day: {wall:5.2f} s wall, {rss:6.0f} MiB peak RSS (median of 3)")
PY
done
