#!/usr/bin/env bash
# Builds airlock twice (hardened gcc; clang with ASan+UBSan), runs the unit, corpus-replay and
# integration suites on both, and ends with one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
passed=0
failed=0
skipped=0
results=$(mktemp -d)

tally_meson() { # build dir
  local log="$1/meson-logs/testlog.json"
  [ -f "$log" ] || return 0
  read -r p f s < <(python3 - "$log" <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    res = r.get("result")
    if res in ("OK", "EXPECTEDFAIL"): p += 1
    elif res == "SKIP": s += 1
    else: f += 1
print(p, f, s)
PY
)
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}

tally_junit() { # xml file
  [ -f "$1" ] || { failed=$((failed + 1)); return 0; }
  read -r p f s < <(python3 - "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
p = f = s = 0
for tc in root.iter("testcase"):
    kinds = {c.tag for c in tc}
    if "failure" in kinds or "error" in kinds: f += 1
    elif "skipped" in kinds: s += 1
    else: p += 1
print(p, f, s)
PY
)
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}

build() { # dir, env..., meson args...
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >"$results/$(basename "$dir").setup.log" 2>&1 ||
      { cat "$results/$(basename "$dir").setup.log"; return 1; }
  fi
  ninja -C "$dir" >"$results/$(basename "$dir").build.log" 2>&1 ||
    { tail -50 "$results/$(basename "$dir").build.log"; return 1; }
}

run_suites() { # build dir, label
  local dir=$1 label=$2
  echo "== $label: unit and corpus tests"
  meson test -C "$dir" --print-errorlogs --num-processes 2 >"$results/$label.unit.log" 2>&1
  grep -E '^ *[0-9]+/[0-9]+ ' "$results/$label.unit.log" | grep -v ' OK ' | head -40
  tally_meson "$dir"
  if [ -d tests/integration ] && ls tests/integration/test_*.py >/dev/null 2>&1; then
    echo "== $label: integration tests"
    AIRLOCK_BUILD="$top/$dir" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
      --junitxml="$results/$label.integration.xml" tests/integration ${PYTEST_ARGS:-} \
      2>&1 | tail -40
    tally_junit "$results/$label.integration.xml"
  fi
}

# hardened gcc build
if CC=gcc build build-gcc -Dhardened=true -Dbuildtype=release -Dwerror=true; then
  run_suites build-gcc gcc
else
  echo "gcc build failed"; failed=$((failed + 1))
fi

# a pure cgroup-v2 host: a VM (QEMU, TCG) with only cgroup2, running the gcc build's airlockd
# (scripts/purev2-vm.sh; this machine's own cgroups are hybrid)
if [ -f build-gcc/build.ninja ] && [ -x scripts/purev2-vm.sh ]; then
  echo "== pure cgroup v2 (VM)"
  BUILD=build-gcc scripts/purev2-vm.sh >"$results/purev2.log" 2>&1
  grep -E '^PURE-V2 (CHECK|SUMMARY)' "$results/purev2.log" | tail -20
  p=$(grep -c '^PURE-V2 CHECK .*: PASS' "$results/purev2.log" || true)
  f=$(grep -c '^PURE-V2 CHECK .*: FAIL' "$results/purev2.log" || true)
  passed=$((passed + p)); failed=$((failed + f))
  if ! grep -q '^PURE-V2 SUMMARY: PASS' "$results/purev2.log"; then
    [ "$f" -gt 0 ] || { failed=$((failed + 1)); tail -20 "$results/purev2.log"; }
  fi
fi

# clang with ASan + UBSan
if CC=clang build build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true \
    -Dbuildtype=debug; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  run_suites build-asan asan
  unset ASAN_OPTIONS UBSAN_OPTIONS
else
  echo "clang sanitizer build failed"; failed=$((failed + 1))
fi

# lint: formatting and close-on-exec
if [ -x scripts/lint.sh ]; then
  echo "== lint"
  if scripts/lint.sh; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
fi

rm -rf "$results"
echo "$skipped skipped (a missing kernel feature or tool)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
