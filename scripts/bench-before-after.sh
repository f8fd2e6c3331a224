#!/usr/bin/env bash
# Before/after intake benchmark: two carbonq binaries on the same private Redis, same run, so
# that a change on the hot path is measured against the binary built before it.
# usage: BEFORE=path/to/carbonq [AFTER=target/release/carbonq]
#        [LOAD=target/release/examples/intake_load] [JOBS=20000] [ROUNDS=5] scripts/bench-before-after.sh
# Two measures, each run by both binaries one after the other in every round; which one goes
# first swaps every round, so that neither always meets the warmer (or the cooler) machine:
#   intake:  no workers, one POST /jobs per job, 50 in flight, intake only (accepted jobs/s);
#   batches: 48 FAST + 2 ECO workers, POST /jobs/batch of 1,000 jobs one after another, end to
#            end (first submission to last completion, jobs/s), as scripts/bench-intake.sh does.
# Prints every round's figures, the medians, and the median of the per-round after/before ratios.
# Nothing is built here: build AFTER and LOAD first (cargo build --release --bin carbonq
# --example intake_load), and BEFORE from the older commit (e.g. in a git worktree).
set -euo pipefail
# Paths given are taken from where the script is called; the defaults from the repository root.
abs() { [ -z "$1" ] || realpath -m "$1"; }
BEFORE=$(abs "${BEFORE:-}") AFTER=$(abs "${AFTER:-}") LOAD=$(abs "${LOAD:-}")
cd "$(dirname "$0")/.."
: "${BEFORE:?set BEFORE to the carbonq binary to compare against}"
AFTER=${AFTER:-$PWD/target/release/carbonq}
LOAD=${LOAD:-$PWD/target/release/examples/intake_load}
JOBS=${JOBS:-20000}
ROUNDS=${ROUNDS:-5}
for bin in "$BEFORE" "$AFTER" "$LOAD"; do
  [ -x "$bin" ] || { echo "not an executable: $bin" >&2; exit 1; }
done
# shellcheck source=scripts/bench-redis.sh
. scripts/bench-redis.sh

# The carbonq binary $1 serving a fresh namespace, driven by intake_load: $2 = FAST workers,
# $3 = ECO workers, $4 = END_TO_END (false: intake only), $5 = output file; BATCH (1) jobs per
# request, IN_FLIGHT (50) requests at once.
carbonq_run() {
  redis-cli -p "$redis_port" flushall >/dev/null
  local http_port server
  http_port=$(free_port)
  CARBONQ__WORKERS__FAST=$2 CARBONQ__WORKERS__ECO=$3 CARBONQ__HTTP__MAX_PENDING=100000 CARBONQ__HTTP__MAX_WAITING=10000000 \
  CARBONQ__GRID__SIGNAL=fixed CARBONQ__LOG__LEVEL=warn \
    "$1" serve --redis "redis://127.0.0.1:$redis_port" --bind "127.0.0.1:$http_port" &
  server=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http_port/health" >/dev/null 2>&1 && break; sleep 0.1; done
  CARBONQ_URL="http://127.0.0.1:$http_port" JOBS=$JOBS IN_FLIGHT=${IN_FLIGHT:-50} BATCH=${BATCH:-1} END_TO_END=$4 \
    "$LOAD" >"$5"
  kill -TERM "$server"; wait "$server" || true
}

for round in $(seq "$ROUNDS"); do
  order="before after"
  [ $((round % 2)) -eq 0 ] && order="after before"
  echo "== round $round ($order)"
  for which in $order; do
    bin=$BEFORE; [ "$which" = after ] && bin=$AFTER
    carbonq_run "$bin" 0 0 false "$work/intake.$which.$round"
    grep -h accepted "$work/intake.$which.$round" | sed "s/^carbonq/intake  $which/"
  done
  for which in $order; do
    bin=$BEFORE; [ "$which" = after ] && bin=$AFTER
    BATCH=1000 IN_FLIGHT=1 carbonq_run "$bin" 48 2 true "$work/batches.$which.$round"
    grep -h end-to-end "$work/batches.$which.$round" | sed "s/^carbonq/batches $which/"
  done
done

python3 - "$work" "$ROUNDS" <<'PY'
import re, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
def num(path, pattern):
    text = open(path).read()
    failed = int(re.search(r"(\d+) failed", text).group(1))
    if failed:
        print(f"warning: {failed} submissions failed in {path.rsplit('/', 1)[1]}")
    return float(re.search(pattern, text).group(1))
for measure, pattern, what in [
    ("intake", r"accepted: ([\d.]+) jobs/s", "accepted jobs/s, no workers, POST /jobs x50"),
    ("batches", r"end-to-end: ([\d.]+) jobs/s", "end-to-end jobs/s, 48+2 workers, batches of 1000"),
]:
    rows = [(num(f"{work}/{measure}.before.{r}", pattern), num(f"{work}/{measure}.after.{r}", pattern))
            for r in range(1, rounds + 1)]
    print(f"\n{measure}: {what}")
    print(f"{'round':<8}{'before':>10}{'after':>10}{'after/before':>14}")
    for r, (b, a) in enumerate(rows, 1):
        print(f"{r:<8}{b:>10,.0f}{a:>10,.0f}{a / b:>14.3f}")
    before, after = (statistics.median(c) for c in zip(*rows))
    ratio = statistics.median(a / b for b, a in rows)
    print(f"{'median':<8}{before:>10,.0f}{after:>10,.0f}{ratio:>14.3f}  (median of the rounds' ratios)")
PY
