#!/bin/sh
# The runner soak's exec handler (tests/soak_runner.rs). It prints the record it was handed
# as one JSON line on stdout, which is rkc run's stdout (the soak harness times and reads it
# as a handout), then succeeds, or fails permanently (exit 1) when the value is poison: the
# value's number k (`s<k>`, or `t<n>-<p>-<c|a>` with k = n * 12 + p, 12 partitions) is a
# multiple of 97. tests/soak_runner/dlq.rs `is_poison` is the same rule (a test runs this
# script to prove it).
IFS= read -r v || true
# No value at all: rkc run was SIGKILLed before it wrote the value (the soak's values are
# never empty, and a write this small reaches the pipe whole or not at all). Nothing was
# handed out; its parent is gone anyway.
[ -n "$v" ] || exit 75
case "$v" in
  s*) k=${v#s} ;;
  t*)
    r=${v#t}
    n=${r%%-*}
    r=${r#*-}
    p=${r%%-*}
    k=$((n * 12 + p))
    ;;
  *) k=1 ;;
esac
printf '{"partition":%s,"offset":%s,"timestamp":%s,"attempt":%s,"value":"%s"}\n' \
  "$RKC_PARTITION" "$RKC_OFFSET" "$RKC_TIMESTAMP" "$RKC_ATTEMPT" "$v"
if [ $((k % 97)) -eq 0 ]; then
  echo "poison: $v" >&2
  exit 1
fi
