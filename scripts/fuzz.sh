#!/usr/bin/env bash
# `make fuzz [FUZZ_SECONDS=N]`: builds the libFuzzer targets with clang (ASan+UBSan) and runs
# each for N seconds (default 60) on a copy of its checked-in corpus; new crashes are left in
# build-fuzz/artifacts/<target>/ and fail the run.
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-${FUZZ_SECONDS:-60}}
if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang meson setup build-fuzz -Dfuzz=true -Db_lundef=false -Dbuildtype=debugoptimized >/dev/null
fi
ninja -C build-fuzz >/dev/null || exit 1
rc=0
for bin in build-fuzz/tests/fuzz/fuzz_*; do
  [ -f "$bin" ] && [ -x "$bin" ] || continue
  name=${bin##*/fuzz_}
  work=build-fuzz/corpus/$name art=build-fuzz/artifacts/$name
  mkdir -p "$work" "$art"
  cp -n tests/fuzz/corpus/"$name"/* "$work"/ 2>/dev/null || true
  echo "== fuzz $name for ${secs}s"
  "$bin" -max_total_time="$secs" -artifact_prefix="$art/" -print_final_stats=1 "$work" \
    2>"$art/log" || rc=1
  grep -E 'stat::number_of_executed_units|cov:' "$art/log" | tail -2
done
exit $rc
