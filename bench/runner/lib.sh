# Helpers of the runner benchmarks (sourced by run.sh and metrics.sh).
B=${KAFKA_BOOTSTRAP:-127.0.0.1:9092}
RKC=${RKC:-target/release/rkc}

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

# Runs `rkc run` on TOPIC until the group committed COUNT offsets; prints one line and sets
# RUN_SECONDS. EXTRA is appended to the config (more sections).
run_runner() { # LABEL TOPIC COUNT HANDLER-TOML [EXTRA-TOML]
  local group="bench-$1-$2-$RANDOM"
  cat >"$tmp/$1.toml" <<TOML
[kafka]
"bootstrap.servers" = "$B"
"group.id" = "$group"
"auto.offset.reset" = "earliest"
[source]
topics = ["$2"]
[handler]
$4
${5:-}
TOML
  local t0 t1
  t0=$(date +%s.%N)
  "$RKC" run --config "$tmp/$1.toml" >/dev/null 2>"$tmp/$1.err" &
  local pid=$!
  while [ "$(committed "$group")" -lt "$3" ]; do sleep 0.2; done
  t1=$(date +%s.%N)
  kill -TERM "$pid"; wait "$pid"
  RUN_SECONDS=$(python3 -c "print($t1-$t0)")
  python3 -c "import sys; n=$3; s=$t1-$t0; print(f'$1: {n} messages in {s:.2f} s = {n/s:,.0f} msg/s (until committed, incl. group join)')"
}
