#!/usr/bin/env bash
# House checks: clang-format on every C file; every fd-creating call asks for close-on-exec.
set -uo pipefail
cd "$(dirname "$0")/.."
rc=0
files=$(git ls-files '*.c' '*.h' 2>/dev/null | grep -v -E '^(third_party|tests/fuzz/corpus)/')
if command -v clang-format >/dev/null; then
  bad=$(for f in $files; do clang-format --dry-run "$f" 2>&1 | grep -q warning && echo "$f"; done)
  if [ -n "$bad" ]; then echo "lint: not clang-formatted:"; echo "$bad" | sed 's/^/  /'; rc=1; fi
fi
# close-on-exec: open()/openat() without O_CLOEXEC, socket() without SOCK_CLOEXEC, pipe() etc.
cloexec=$(grep -n -E '\b(open|openat|open64)\s*\(' $files /dev/null | grep -v -E 'O_CLOEXEC|al_open|//|/\*|^\S+:\s*\*|fdopen|dlopen|_open\b|open_tree|pidfd_open|mq_open' || true)
cloexec+=$(grep -n -E '\bsocket\s*\(' $files /dev/null | grep -v -E 'SOCK_CLOEXEC|^\S+:\s*\*' || true)
cloexec+=$(grep -n -E '\b(pipe|dup|accept|epoll_create|inotify_init|signalfd|eventfd|memfd_create)\s*\(' $files /dev/null | grep -v -E 'pipe2|dup3|accept4|epoll_create1|inotify_init1|CLOEXEC|^\S+:\s*\*|F_DUPFD_CLOEXEC' || true)
if [ -n "$cloexec" ]; then echo "lint: fd created without close-on-exec:"; echo "$cloexec" | sed 's/^/  /'; rc=1; fi
# banned functions
banned=$(grep -n -E '\b(strcpy|strcat|sprintf|gets|system|popen|alloca|atoi)\s*\(' $files /dev/null | grep -v -E '^\S+:\s*(\*|//)' || true)
if [ -n "$banned" ]; then echo "lint: banned function:"; echo "$banned" | sed 's/^/  /'; rc=1; fi
exit $rc
