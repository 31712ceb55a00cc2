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
N=${N:-1000000}
N_EXEC=${N_EXEC:-3000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. bench/runner/lib.sh

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
