#!/usr/bin/env bash
# `make run`: start airlockd in the foreground with embedded state under the repo.
set -euo pipefail
build=${1:-build} state=${2:-$PWD/state} port=${3:-7070}
mkdir -p "$state"
chmod 0700 "$state"
cli="$build/src/cli/airlock --state-dir $state"
cat <<TXT
airlockd
  API        http://127.0.0.1:$port  (and unix socket $state/airlockd.sock)
  admin key  $state/admin.key  (created on first start, mode 0600)
  try        $cli group create demo --image busybox
             $cli run demo -- sh -c 'echo hello from a sandbox; id'
  or curl    curl -s -H "Authorization: Bearer \$(cat $state/admin.key)" http://127.0.0.1:$port/v1/sandboxgroups
Stop with Ctrl-C.
TXT
exec "$build/src/daemon/airlockd" --state-dir "$state" --listen "127.0.0.1:$port"
