#!/usr/bin/env bash
# What metrics cost the runner: `rkc run` with the print handler on one backlog, without
# `[metrics]` (no hooks installed) and with `[metrics] listen` + `log_interval` while a
# scraper reads /metrics every second (harsher than Prometheus' usual 15-60 s). Alternating,
# ROUNDS times each; prints every run and the medians. A benchmark, not a test.
#
#   bash bench/runner/metrics.sh        # N=1000000 records of 100 bytes, 4 partitions, 3 rounds
#
# Needs a release build (cargo build --release --bin rkc) and the broker at KAFKA_BOOTSTRAP.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-1000000}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-19464}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; [ -n "${scraper:-}" ] && kill "$scraper" 2>/dev/null || true' EXIT
. bench/runner/lib.sh

HANDLER='kind = "print"
max_in_flight = 64'
topic="bench-runner-metrics-$$"
make_topic "$topic" "$N"
plain=(); observed=()
for round in $(seq "$ROUNDS"); do
  run_runner "plain-$round" "$topic" "$N" "$HANDLER"
  plain+=("$RUN_SECONDS")
  python3 - "$PORT" >"$tmp/scrapes" 2>&1 <<'PY' &
import sys, time, urllib.request
n = 0
while True:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=2).read()
        n += 1
    except Exception:
        pass
    time.sleep(1)
PY
  scraper=$!
  run_runner "metrics-$round" "$topic" "$N" "$HANDLER" "[metrics]
listen = \"127.0.0.1:$PORT\"
log_interval = \"10s\""
  observed+=("$RUN_SECONDS")
  kill "$scraper"; wait "$scraper" 2>/dev/null || true; scraper=
done
python3 - "$N" "${plain[*]}" "${observed[*]}" <<'PY'
import statistics, sys
n = int(sys.argv[1])
plain = [float(x) for x in sys.argv[2].split()]
observed = [float(x) for x in sys.argv[3].split()]
mp, mo = statistics.median(plain), statistics.median(observed)
print(f"median without metrics: {mp:.2f} s = {n/mp:,.0f} msg/s")
print(f"median with metrics:    {mo:.2f} s = {n/mo:,.0f} msg/s ({(mo/mp-1)*100:+.1f} % time)")
PY
