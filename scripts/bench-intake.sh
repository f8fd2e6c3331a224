#!/usr/bin/env bash
# Side-by-side intake benchmark: carbonq serve vs BullMQ on the same private Redis, same run.
# usage: scripts/bench-intake.sh [JOBS] [ROUNDS]
# Intake: carbonq with no workers against BullMQ's add() test, which runs none either.
# End to end: both run 50 jobs at once: carbonq with 48 FAST + 2 ECO workers, BullMQ's worker
# with concurrency 50. BullMQ's producer sends addBulk(1000) calls one after another; carbonq is
# measured both ways: one POST /jobs per job (50 in flight), and POST /jobs/batch of 1,000 jobs
# one after another, as BullMQ's producer does.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${1:-20000}
ROUNDS=${2:-3}
# shellcheck source=scripts/bench-redis.sh
. scripts/bench-redis.sh

cargo build --release --quiet --bin carbonq --example intake_load --example http_floor
if [ ! -d "$work/bullmq/node_modules" ]; then
  cp -r ../shared/bench/bullmq "$work/bullmq"
  (cd "$work/bullmq" && npm install --silent --no-audit --no-fund >/dev/null)
fi
cp scripts/bullmq/redis-cost.mjs "$work/bullmq/"

# Redis's own CPU seconds so far (user + sys), to charge each round's jobs with.
redis_cpu() {
  redis-cli -p "$redis_port" info cpu | tr -d '\r' |
    awk -F: '/^used_cpu_(user|sys):/ { t += $2 } END { printf "%.6f", t }'
}

# CPU seconds a process has used so far (user + system).
proc_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.6f", ($14 + $15) / hz }' "/proc/$1/stat"
}

# Waits for the server on port $1 to answer, then drives it: $2 = END_TO_END (false: intake
# only), $3 = output file, $4 = the name the figures are printed under, $5 = the server's pid
# (its CPU per job is printed too); BATCH (1) jobs per request, IN_FLIGHT (50) requests at once.
drive() {
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$1/health" >/dev/null 2>&1 && break; sleep 0.1; done
  local before server_before
  before=$(redis_cpu)
  server_before=$(proc_cpu "$5")
  CARBONQ_URL="http://127.0.0.1:$1" JOBS=$JOBS IN_FLIGHT=${IN_FLIGHT:-50} BATCH=${BATCH:-1} END_TO_END=$2 \
    target/release/examples/intake_load | sed "s/^carbonq/$4/" | tee "$3"
  python3 -c "print(f'$4 redis cpu: {($(redis_cpu) - $before) / $JOBS * 1e6:.1f} us/job')" | tee -a "$3"
  python3 -c "print(f'$4 server cpu: {($(proc_cpu "$5") - $server_before) / $JOBS * 1e6:.1f} us/job')" | tee -a "$3"
}

# carbonq serve on a fresh namespace: $1 = FAST workers, $2 = ECO workers, $3 = output file,
# $4 = END_TO_END.
carbonq_round() {
  redis-cli -p "$redis_port" flushall >/dev/null
  local http_port
  http_port=$(free_port)
  CARBONQ__WORKERS__FAST=$1 CARBONQ__WORKERS__ECO=$2 CARBONQ__HTTP__MAX_PENDING=100000 CARBONQ__HTTP__MAX_WAITING=10000000 \
  CARBONQ__GRID__SIGNAL=fixed CARBONQ__LOG__LEVEL=warn \
    target/release/carbonq serve --redis "redis://127.0.0.1:$redis_port" --bind "127.0.0.1:$http_port" &
  local server=$!
  drive "$http_port" "$4" "$3" carbonq "$server"
  kill -TERM "$server"; wait "$server" || true
}

# The most an HTTP intake could accept here, one job per request: the same body parsing and
# answer, no actors, no Redis (examples/http_floor.rs). $1 = output file.
http_floor_round() {
  local http_port
  http_port=$(free_port)
  BIND="127.0.0.1:$http_port" target/release/examples/http_floor >/dev/null &
  local server=$!
  drive "$http_port" false "$1" "http floor" "$server"
  kill "$server"; wait "$server" 2>/dev/null || true
}

for round in $(seq "$ROUNDS"); do
  echo "== round $round"
  http_floor_round "$work/floor.$round"
  # Intake alone, as BullMQ's add() test runs it: no workers (jobs are still scheduled).
  carbonq_round 0 0 "$work/carbonq-intake.$round" false
  carbonq_round 48 2 "$work/carbonq.$round" true
  BATCH=1000 IN_FLIGHT=1 carbonq_round 48 2 "$work/carbonq-batch.$round" true
  redis-cli -p "$redis_port" flushall >/dev/null
  (cd "$work/bullmq" && node bench.mjs --port "$redis_port" --n "$JOBS" --concurrency 50) | tee "$work/bullmq.$round" | grep -E "50 in flight|end-to-end" | head -2
  redis-cli -p "$redis_port" flushall >/dev/null
  (cd "$work/bullmq" && node redis-cost.mjs "$redis_port" "$JOBS") | tee "$work/bullmq-cost.$round"
done

python3 - "$work" "$ROUNDS" <<'PY'
import re, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
def num(path, pattern):
    m = re.search(pattern, open(path).read())
    return float(m.group(1).replace(",", ""))
rows = []
for r in range(1, rounds + 1):
    cq_in = num(f"{work}/carbonq-intake.{r}", r"accepted: ([\d.]+) jobs/s")
    cq_busy = num(f"{work}/carbonq.{r}", r"accepted: ([\d.]+) jobs/s")
    floor = num(f"{work}/floor.{r}", r"accepted: ([\d.]+) jobs/s")
    cq_e2e = num(f"{work}/carbonq.{r}", r"end-to-end: ([\d.]+) jobs/s")
    bq_in = num(f"{work}/bullmq.{r}", r"50 in flight:\s+([\d,]+) jobs/s")
    bq_e2e = num(f"{work}/bullmq.{r}", r"end-to-end \(concurrent produce\+consume\): ([\d,]+) jobs/s")
    cq_batch = num(f"{work}/carbonq-batch.{r}", r"end-to-end: ([\d.]+) jobs/s")
    cpu = r"redis cpu: ([\d.]+) us/job"
    rows.append((cq_in, bq_in, cq_in / bq_in, cq_e2e, bq_e2e, cq_e2e / bq_e2e, cq_busy, floor,
                 cq_batch, cq_batch / bq_e2e,
                 num(f"{work}/carbonq-intake.{r}", cpu), num(f"{work}/carbonq-batch.{r}", cpu),
                 num(f"{work}/bullmq-cost.{r}", r"add\(\) x50: .*Redis CPU ([\d.]+) us/job"),
                 num(f"{work}/bullmq-cost.{r}", r"end to end: .*Redis CPU ([\d.]+) us/job"),
                 num(f"{work}/carbonq-intake.{r}", r"server cpu: ([\d.]+) us/job"),
                 num(f"{work}/carbonq-batch.{r}", r"server cpu: ([\d.]+) us/job")))
med = [statistics.median(c) for c in zip(*rows)]
print(f"\nmedian of {rounds} rounds, same Redis, same run:")
print(f"intake  carbonq {med[0]:>9,.0f}/s  BullMQ add() x50 {med[1]:>9,.0f}/s  ratio {med[2]:.2f}  (no workers running)")
print(f"intake  carbonq {med[6]:>9,.0f}/s  while 50 workers run the jobs")
print(f"intake  HTTP floor {med[7]:>6,.0f}/s  (parse and answer only: no actors, no Redis)")
print(f"e2e     carbonq {med[3]:>9,.0f}/s  BullMQ           {med[4]:>9,.0f}/s  ratio {med[5]:.2f}  (one POST per job vs addBulk(1000))")
print(f"e2e     carbonq {med[8]:>9,.0f}/s  BullMQ           {med[4]:>9,.0f}/s  ratio {med[9]:.2f}  (POST /jobs/batch of 1000 vs addBulk(1000))")
print(f"Redis CPU per job: intake carbonq {med[10]:.0f} us, BullMQ add() {med[12]:.0f} us; "
      f"end to end carbonq (batches) {med[11]:.0f} us, BullMQ {med[13]:.0f} us")
print(f"carbonq server CPU per job: intake {med[14]:.0f} us, end to end (batches) {med[15]:.0f} us")
PY
