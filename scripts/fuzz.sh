#!/usr/bin/env bash
# `make fuzz [FUZZ_SECONDS=N] [FUZZ_JOBS=J] [FUZZ_TARGETS="a b"] [FUZZ_MERGE=1]`: builds the
# libFuzzer targets with clang (ASan+UBSan) and runs each for N seconds (default 60), J at a
# time (default: the number of CPUs), on a copy of its checked-in corpus.  New crashes are left
# in build-fuzz/artifacts/<target>/ and fail the run.  Prints, and writes to
# bench/results/fuzz-<date>.md, one row per target: executions, executions per second,
# coverage (edges) and features at the end, corpus size, crashes.  FUZZ_MERGE=1 then merges
# the inputs that reach new edges back into tests/fuzz/corpus/<target>/ (libFuzzer -merge=1
# -use_counters=0: new edges only, not finer hit counts, so the checked-in corpora stay small).
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-${FUZZ_SECONDS:-60}}
jobs=${FUZZ_JOBS:-$(nproc)}
if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang meson setup build-fuzz -Dfuzz=true -Db_lundef=false -Dbuildtype=debugoptimized >/dev/null
fi
ninja -C build-fuzz >/dev/null || exit 1

targets=()
for bin in build-fuzz/tests/fuzz/fuzz_*; do
  [ -f "$bin" ] && [ -x "$bin" ] || continue
  name=${bin##*/fuzz_}
  if [ -n "${FUZZ_TARGETS:-}" ] && ! [[ " $FUZZ_TARGETS " == *" $name "* ]]; then continue; fi
  targets+=("$name")
done
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no target matches" >&2; exit 1; }

run_one() { # target
  local name=$1 work=build-fuzz/corpus/$1 art=build-fuzz/artifacts/$1
  rm -rf "$art" && mkdir -p "$work" "$art"
  cp -n tests/fuzz/corpus/"$name"/* "$work"/ 2>/dev/null || true
  build-fuzz/tests/fuzz/fuzz_"$name" -max_total_time="$secs" -artifact_prefix="$art/" \
    -print_final_stats=1 "$work" 2>"$art/log"
  echo $? >"$art/rc"
}

echo "== fuzz ${targets[*]}: ${secs}s each, $jobs at a time"
started=$(date -u +%Y-%m-%dT%H%M%SZ)
running=0
for name in "${targets[@]}"; do
  run_one "$name" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait

rc=0
out=bench/results/fuzz-$started.md
{
  echo "# fuzzing, $started"
  echo
  echo "clang $(clang -dumpversion) libFuzzer with ASan+UBSan; ${secs} s per target, $jobs at a time" \
    "on $(nproc) CPUs ($(uname -r)); seeds: tests/fuzz/corpus/<target>/."
  echo
  echo "| target | seconds | executions | exec/s | coverage (edges) | features | corpus | crashes |"
  echo "|---|---|---|---|---|---|---|---|"
  for name in "${targets[@]}"; do
    art=build-fuzz/artifacts/$name log=build-fuzz/artifacts/$name/log
    last=$(grep -E '^#[0-9]+' "$log" | grep -E 'cov: ' | tail -1)
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
    corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9a-zA-Z]+).*/\1/p' <<<"$last")
    execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log")
    eps=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log")
    crashes=$(find "$art" -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' |
      wc -l)
    [ "$(cat "$art/rc" 2>/dev/null)" = 0 ] && [ "$crashes" -eq 0 ] || rc=1
    echo "| $name | $secs | ${execs:-?} | ${eps:-?} | ${cov:-?} | ${ft:-?} | ${corp:-?} | $crashes |"
  done
} >"$out"
cat "$out"
echo "fuzz: table in $out; logs and any crash inputs in build-fuzz/artifacts/<target>/"

if [ "${FUZZ_MERGE:-0}" = 1 ]; then
  for name in "${targets[@]}"; do
    mkdir -p tests/fuzz/corpus/"$name"
    before=$(ls tests/fuzz/corpus/"$name" | wc -l)
    build-fuzz/tests/fuzz/fuzz_"$name" -merge=1 -use_counters=0 tests/fuzz/corpus/"$name" \
      build-fuzz/corpus/"$name" >/dev/null 2>&1 || rc=1
    echo "fuzz: $name corpus $before -> $(ls tests/fuzz/corpus/"$name" | wc -l) files"
  done
fi
exit $rc
