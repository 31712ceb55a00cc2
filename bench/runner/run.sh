#!/usr/bin/env bash
# Runner throughput on one backlog: the bare consumer (`rkc consume -G … -e`) against `rkc run`
# with the print handler (JSON lines to /dev/null, the runner's overhead) and with an exec
# handler (`true`, a process per message). A benchmark, not a test: prints one line per run.
#
#   bash bench/runner/run.sh            # N=1000000 records of 100 bytes, 4 partitions
#
# Needs a release build (cargo build --release --bin rkc) and the broker at KAFKA_BOOTSTRAP.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${KAFKA_BOOTSTRAP:-127.0.0.1:9092}
N=${N:-1000000}
N_EXEC=${N_EXEC:-3000}
RKC=${RKC:-target/release/rkc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

make_topic() { # NAME COUNT
  python3 tests/peers/admin.py create "$B" "$1" 4 >/dev/null
  testcontainers/kafka tool kafka-producer-perf-test --topic "$1" --num-records "$2" \
    --record-size 100 --throughput -1 \
    --producer-props bootstrap.servers="$B" linger.ms=20 batch.size=262144 >/dev/null
}

committed() { # GROUP -> sum of committed offsets
  python3 tests/peers/group_admin.py offsets "$B" "$1" |
    python3 -c 'import json,sys; print(sum(json.load(sys.stdin).values()))'
}

run_runner() { # LABEL TOPIC COUNT HANDLER-TOML
  local group="bench-$1-$2"
  cat >"$tmp/$1.toml" <<TOML
[kafka]
"bootstrap.servers" = "$B"
"group.id" = "$group"
"auto.offset.reset" = "earliest"
[source]
topics = ["$2"]
[handler]
$4
TOML
  local t0 t1
  t0=$(date +%s.%N)
  "$RKC" run --config "$tmp/$1.toml" >/dev/null 2>"$tmp/$1.err" &
  local pid=$!
  while [ "$(committed "$group")" -lt "$3" ]; do sleep 0.2; done
  t1=$(date +%s.%N)
  kill -TERM "$pid"; wait "$pid"
  python3 -c "import sys; n=$3; s=$t1-$t0; print(f'$1: {n} messages in {s:.2f} s = {n/s:,.0f} msg/s (until committed, incl. group join)')"
}

topic="bench-runner-$$"
make_topic "$topic" "$N"
t0=$(date +%s.%N)
"$RKC" consume -b "$B" -t "$topic" -G "bench-bare-$topic" -o beginning -e >/dev/null 2>&1
t1=$(date +%s.%N)
python3 -c "n=$N; s=$t1-$t0; print(f'bare consumer (rkc consume -G -e): {n} messages in {s:.2f} s = {n/s:,.0f} msg/s (incl. group join)')"
run_runner print "$topic" "$N" 'kind = "print"
max_in_flight = 64'
run_runner print-key "$topic" "$N" 'kind = "print"
ordering = "key"
max_in_flight = 64'
exec_topic="bench-runner-exec-$$"
make_topic "$exec_topic" "$N_EXEC"
run_runner exec "$exec_topic" "$N_EXEC" 'kind = "exec"
command = ["true"]
max_in_flight = 8'
