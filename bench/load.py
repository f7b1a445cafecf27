#!/usr/bin/env python3
"""Load and noisy-neighbour benchmarks (not timed tests: they report, and mark pass/fail
against the issue's targets).

  load:  N idle sandboxes alive at once (default 1000), exec traffic on 50 of them while
         readers list and get; API p99 for reads and execs; errors; host free memory;
         host memory per idle sandbox.
  noisy: a victim sandbox's exec round trip, quiet (2,000 after a warm-up) and then for a
         whole window (--window, 20 s) during which 10 other sandboxes run fork bombs (3),
         memory bombs (3) and CPU spin (4), each re-launched until the window ends; every
         bomb run's result must show the limit that stopped it (pids, OOM kill, timeout).
         The CPU bombs must end up in the background CPU class; then the same is measured
         again with a daemon started with --no-cpu-background, as the control.

  bench/load.py [--sandboxes N] [--only load|noisy] [--window S] [--out FILE]
  (the build is $AIRLOCK_BUILD, default build/; --only noisy leaves out the 1,000-sandbox run)
"""
import argparse
import atexit
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
os.environ.setdefault("AIRLOCK_BUILD", os.path.join(os.path.dirname(HERE), "build"))


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            out[k] = int(v.split()[0]) * 1024
    return out


class Client:
    """One keep-alive connection."""

    def __init__(self, port, key):
        self.port, self.key = port, key
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        hdrs = {"Authorization": "Bearer " + self.key}
        if data:
            hdrs["Content-Type"] = "application/json"
        t = time.perf_counter()
        try:
            self.conn.request(method, path, body=data, headers=hdrs)
            resp = self.conn.getresponse()
            payload = resp.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
            raise
        dt = (time.perf_counter() - t) * 1000
        return resp.status, payload, dt


def on_pool(d, items, fn, threads=4):
    """fn(client, item) for every item, from `threads` threads with a client each; fn returns
    an error string or None.  Returns the errors."""
    errors, lock, pending = [], threading.Lock(), list(items)

    def worker():
        c = Client(d.port, d.admin_key)
        while True:
            with lock:
                if not pending:
                    return
                item = pending.pop()
            try:
                e = fn(c, item)
            except OSError as ex:
                e = str(ex)
            if e:
                with lock:
                    errors.append(e)
    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return errors


def create_many(d, group, n):
    ids = []

    def create(c, _):
        st, body, _ = c.call("POST", "/v1/sandboxgroups/%s/sandboxes" % group, {})
        if st != 201:
            return "%d %s" % (st, body[:200])
        ids.append(json.loads(body)["id"])  # list.append is atomic
    return ids, on_pool(d, range(n), create)


def delete_many(d, group, ids):
    def delete(c, sid):
        st, body, _ = c.call("DELETE", "/v1/sandboxgroups/%s/sandboxes/%s" % (group, sid))
        return None if st in (200, 204) else "%d %s" % (st, body[:200])
    return on_pool(d, ids, delete)


def load(d, conftest, n, rows):
    group = conftest.new_group(d, tier="XS")
    mem0 = meminfo()
    t0 = time.time()
    ids, errors = create_many(d, group, n)
    create_s = time.time() - t0
    time.sleep(2)
    mem1 = meminfo()
    used = (mem0["MemAvailable"] - mem1["MemAvailable"]) / max(1, len(ids))
    exec_ms, read_ms, errs = [], [], list(errors)
    stop = time.time() + 30
    lock = threading.Lock()

    def execer(sids):
        c = Client(d.port, d.admin_key)
        i = 0
        while time.time() < stop:
            sid = sids[i % len(sids)]
            i += 1
            st, body, dt = c.call("POST", "/v1/sandboxgroups/%s/sandboxes/%s/exec" % (group, sid),
                                  {"command": ["sh", "-c", "echo ok"], "timeout": 30})
            with lock:
                if st == 200 and json.loads(body)["stdout"] == "ok\n":
                    exec_ms.append(dt)
                else:
                    errs.append("exec %d %s" % (st, body[:200]))

    def reader():
        c = Client(d.port, d.admin_key)
        i = 0
        while time.time() < stop:
            i += 1
            if i % 10 == 0:
                path = "/v1/sandboxgroups/%s/sandboxes" % group
            else:
                path = "/v1/sandboxgroups/%s/sandboxes/%s" % (group, ids[i % len(ids)])
            st, body, dt = c.call("GET", path)
            with lock:
                if st == 200:
                    read_ms.append(dt)
                else:
                    errs.append("read %d %s" % (st, body[:200]))

    hot = ids[:50]
    workers = [threading.Thread(target=execer, args=(hot[k::5],)) for k in range(5)]
    workers += [threading.Thread(target=reader) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    mem2 = meminfo()
    del_errors = delete_many(d, group, ids)
    d.api("DELETE", "/v1/sandboxgroups/" + group)
    free_gib = mem2["MemAvailable"] / 2**30
    rows.append(("load", "sandboxes alive at once", "%d (of %d asked), created in %.1f s"
                 % (len(ids), n, create_s), "%d" % n, len(ids) == n))
    rows.append(("load", "errors (create, exec, read, delete)", "%d" % (len(errs) + len(del_errors)),
                 "0", not errs and not del_errors))
    rows.append(("load", "exec p50 / p99 (50 hot sandboxes, 5 clients)",
                 "%.1f / %.1f ms (%d execs)" % (pct(exec_ms, 50), pct(exec_ms, 99), len(exec_ms)),
                 "", None))
    rows.append(("load", "read p50 / p99 (get + list, 2 clients)",
                 "%.1f / %.1f ms (%d reads)" % (pct(read_ms, 50), pct(read_ms, 99), len(read_ms)),
                 "", None))
    rows.append(("load", "host memory available under load", "%.1f GiB" % free_gib, ">= 4 GiB",
                 free_gib >= 4))
    rows.append(("load", "host memory per idle sandbox", "%.2f MiB" % (used / 2**20), "<= 2 MiB",
                 used / 2**20 <= 2))
    for e in (errs + del_errors)[:5]:
        print("  error:", e)


def exec_rtts(c, group, sid, n=None, until=None):
    """Round trips (ms) of `true` execs on one sandbox: n of them, or as many as fit before
    `until` (time.time()).  A failed exec is recorded as None."""
    out = []
    while (n is not None and len(out) < n) or (until is not None and time.time() < until):
        st, body, dt = c.call("POST", "/v1/sandboxgroups/%s/sandboxes/%s/exec" % (group, sid),
                              {"command": ["true"], "timeout": 30})
        out.append(dt if st == 200 and json.loads(body)["exitCode"] == 0 else None)
    return out


# Each bomb is re-launched until the measurement window ends; every run's result must show
# the limit that stopped it.
BOMBS = {
    # pids limit (XS: 128): forks fail with EAGAIN, which busybox sh reports; the exec's
    # timeout ends it, or the script's own sleep cannot fork either and it exits 2
    "fork": (["sh", "-c", "f() { f | f & }; f; sleep 60"], 5,
             lambda r: "can't fork: Resource temporarily unavailable" in r["stderr"]),
    # memory limit (XS: 512 MiB): the memory cgroup OOM-kills it (in seconds at 0.25 CPU)
    "memory": (["sh", "-c", "x=a; while :; do x=$x$x; done"], 20,
               lambda r: not r["timedOut"] and (r["signal"] == 9 or r["exitCode"] == 137)),
    # CPU quota (XS: 0.25 CPU): spins until the exec's timeout
    "cpu": (["sh", "-c", "while :; do :; done"], 5, lambda r: r["timedOut"]),
}
NOISY_KINDS = ["fork"] * 3 + ["memory"] * 3 + ["cpu"] * 4


def bomb_loop(d, group, sid, kind, stop, runs):
    """Runs the bomb again and again until stop is set; appends (start, end, ok, summary)."""
    cmd, timeout, expected = BOMBS[kind]
    c = Client(d.port, d.admin_key)
    while not stop.is_set():
        t0 = time.time()
        try:
            st, body, _ = c.call("POST", "/v1/sandboxgroups/%s/sandboxes/%s/exec" % (group, sid),
                                 {"command": cmd, "timeout": timeout, "maxOutputBytes": 4096})
            r = json.loads(body) if st == 200 else None
        except (OSError, ValueError) as e:
            st, body, r = str(e), b"", None
        ok = expected(r) if r else (
            # the agent cannot even fork the exec: the last run's bomb still holds the pids
            kind == "fork" and st == 429 and b"fork" in body)
        summary = ("%s exit=%s signal=%s timedOut=%s stderr=%r" % (
            kind, r["exitCode"], r["signal"], r["timedOut"], r["stderr"][-80:]) if r
                   else "%s status %s %s" % (kind, st, body[:120]))
        runs.append((t0, time.time(), ok, summary))


def coverage(runs, t0, t1):
    """Fraction of [t0, t1] during which one of the runs was in flight."""
    covered, at = 0.0, t0
    for s, e, _, _ in sorted(runs):
        s, e = max(s, at), min(e, t1)
        if e > s:
            covered += e - s
            at = e
    return covered / (t1 - t0)


def cg_counter(sid, files, key):
    """A counter of the sandbox's cgroups ("key value" lines), in any hierarchy; None if none."""
    from hostres import cgroup_roots
    for root in cgroup_roots():
        for name in files:
            try:
                with open(os.path.join(root, "airlock", sid, name)) as f:
                    for line in f:
                        k, v = line.split()
                        if k == key:
                            return int(v)
            except (OSError, ValueError):
                pass
    return None


def throttled(sid):
    """CFS periods in which the sandbox's CPU quota throttled it (cpu.stat nr_throttled)."""
    return cg_counter(sid, ["cpu.stat"], "nr_throttled")


def host_spawn_ms(n):
    """fork+exec+wait of /bin/true on the host, n times back to back (bench_client spawn: the
    same C timing code as make bench); ms per run, [] when no C compiler is at hand."""
    global SPAWN_CLIENT
    if SPAWN_CLIENT is None:
        tmp = tempfile.mkdtemp(prefix="airlock-load-")
        atexit.register(shutil.rmtree, tmp, True)
        exe = os.path.join(tmp, "bench_client")
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libcurl"],
                               capture_output=True, text=True).stdout.split()
        ok = subprocess.run(["cc", "-O2", "-o", exe, os.path.join(HERE, "bench_client.c")] + flags,
                            capture_output=True).returncode == 0
        SPAWN_CLIENT = exe if ok else ""
    if not SPAWN_CLIENT:
        return []
    out = subprocess.run([SPAWN_CLIENT, "spawn", str(n), "--", "/bin/true"], capture_output=True,
                         text=True)
    return [int(x) / 1000.0 for x in out.stdout.split()]


SPAWN_CLIENT = None


def noisy(d, conftest, rows, window=20.0, quiet_n=2000, control=False):
    """The victim is in a group of its own at tier M (1 CPU): back-to-back execs at XS (0.25
    CPU) exhaust the victim's own CPU quota, and the CFS throttling (~60 ms stalls, 3% of
    execs) would be measured instead of the neighbours.  The neighbours are XS.
    control: d runs with --no-cpu-background; only the victim's figures are reported, as the
    measurement without the defence."""
    group = conftest.new_group(d, tier="XS")
    vgroup = conftest.new_group(d, tier="M")
    c = Client(d.port, d.admin_key)
    st, body, _ = c.call("POST", "/v1/sandboxgroups/%s/sandboxes" % vgroup, {})
    victim = json.loads(body)["id"]
    exec_rtts(c, vgroup, victim, 200)  # warm-up: connection, agent, page cache
    thr0 = throttled(victim)
    quiet = exec_rtts(c, vgroup, victim, quiet_n)
    thr1 = throttled(victim)
    host_quiet = host_spawn_ms(quiet_n)
    noisy_ids = []
    for _ in NOISY_KINDS:
        st, body, _ = c.call("POST", "/v1/sandboxgroups/%s/sandboxes" % group, {})
        noisy_ids.append(json.loads(body)["id"])
    stop = threading.Event()
    runs = {sid: [] for sid in noisy_ids}
    threads = [threading.Thread(target=bomb_loop, args=(d, group, sid, kind, stop, runs[sid]))
               for sid, kind in zip(noisy_ids, NOISY_KINDS)]
    for t in threads:
        t.start()
    time.sleep(2)  # every bomb under way before the window opens
    t0 = time.time()
    loud = exec_rtts(c, vgroup, victim, until=t0 + window)
    t1 = time.time()
    thr2 = throttled(victim)
    classes = []
    for sid in noisy_ids:
        st, body, _ = c.call("GET", "/v1/sandboxgroups/%s/sandboxes/%s/stats" % (group, sid))
        classes.append(json.loads(body).get("cpuClass") if st == 200 else None)
    host_loud = host_spawn_ms(quiet_n) if not control else []  # the bombs still run
    t2 = time.time()
    stop.set()
    for t in threads:
        t.join()
    oom = {sid: cg_counter(sid, ["memory.events", "memory.oom_control"], "oom_kill")
           for sid in noisy_ids}
    for sid in noisy_ids:
        c.call("DELETE", "/v1/sandboxgroups/%s/sandboxes/%s" % (group, sid))
    c.call("DELETE", "/v1/sandboxgroups/%s/sandboxes/%s" % (vgroup, victim))
    d.api("DELETE", "/v1/sandboxgroups/" + group)
    d.api("DELETE", "/v1/sandboxgroups/" + vgroup)

    q_ok, l_ok = [x for x in quiet if x is not None], [x for x in loud if x is not None]
    q99, l99 = pct(q_ok, 99), pct(l_ok, 99)
    if control:
        rows.append(("noisy", "control, the same without the defence (--no-cpu-background): "
                     "victim exec p50 / p99 quiet -> noisy; neighbours in the background class",
                     "%.2f / %.2f -> %.2f / %.2f ms (p99 x%.1f); %d of %d" % (
                         pct(q_ok, 50), q99, pct(l_ok, 50), l99, l99 / q99,
                         classes.count("background"), len(classes)), "", None))
        return
    # a CPU bomb spins all the time: always in the background by the end; a fork or memory
    # bomb may be blocked or between runs (calm for 5 s) and back in the normal class
    per_kind = {k: sum(1 for c, kk in zip(classes, NOISY_KINDS) if kk == k and c == "background")
                for k in BOMBS}
    n_cpu = NOISY_KINDS.count("cpu")
    rows.append(("noisy", "neighbours in the background CPU class (cpu.idle, off CPU 0) at the "
                 "end of the window: cpu / fork / memory bombs",
                 "%d of %d / %d of %d / %d of %d" % (
                     per_kind["cpu"], n_cpu, per_kind["fork"], NOISY_KINDS.count("fork"),
                     per_kind["memory"], NOISY_KINDS.count("memory")),
                 "every cpu bomb", per_kind["cpu"] == n_cpu))
    if thr0 is not None:
        rows.append(("noisy", "victim throttled by its own CPU quota (CFS periods), quiet / noisy",
                     "%d / %d" % (thr1 - thr0, thr2 - thr1), "0 / 0", thr2 == thr0))
    rows.append(("noisy", "victim exec p50 / p99, quiet (tier M, after 200 warm-up)",
                 "%.2f / %.2f ms (%d of %d answered)" % (pct(q_ok, 50), q99, len(q_ok),
                                                         len(quiet)), "", len(q_ok) == len(quiet)))
    rows.append(("noisy", "victim exec p50 / p99, 10 noisy neighbours, %.0f s" % window,
                 "%.2f / %.2f ms (%d of %d answered)" % (pct(l_ok, 50), l99, len(l_ok),
                                                         len(loud)),
                 "<= 3x quiet p99 (%.2f ms)" % (3 * q99), l99 <= 3 * q99 and len(l_ok) == len(loud)))
    if host_quiet and host_loud:
        h99q, h99l = pct(host_quiet, 99), pct(host_loud, 99)
        rows.append(("noisy", "peer: fork+exec of /bin/true on the host, no sandbox (the kernel's "
                     "own floor), p50 / p99 quiet -> noisy",
                     "%.2f / %.2f -> %.2f / %.2f ms (p99 x%.1f)" % (
                         pct(host_quiet, 50), h99q, pct(host_loud, 50), h99l, h99l / h99q),
                     "", None))
    for kind in BOMBS:
        sids = [sid for sid, k in zip(noisy_ids, NOISY_KINDS) if k == kind]
        if not sids:
            continue
        all_runs = [r for sid in sids for r in runs[sid]]
        bad = [r[3] for r in all_runs if not r[2]]
        cov = min(coverage(runs[sid], t0, t2) for sid in sids)
        stopped_by = {"fork": "pids limit", "memory": "OOM kill", "cpu": "timeout"}[kind]
        rows.append(("noisy", "%s bombs (%d sandboxes): runs stopped by the %s; min. share of "
                     "the window a bomb ran" % (kind, len(sids), stopped_by),
                     "%d of %d runs; %.0f%%" % (len(all_runs) - len(bad), len(all_runs),
                                                cov * 100),
                     "all; >= 90%", bool(not bad and all_runs and cov >= 0.9)))
        for b in bad[:3]:
            print("  unexpected bomb result:", b)
    # the memory bombs' SIGKILLs came from their memory cgroups (control for the signal)
    mem = [sid for sid, k in zip(noisy_ids, NOISY_KINDS) if k == "memory"]
    kills = [oom[sid] for sid in mem if oom[sid] is not None]
    killed = sum(1 for sid in mem for r in runs[sid] if r[2])
    if mem and len(kills) == len(mem):
        rows.append(("noisy", "OOM kills counted by the memory bombs' cgroups",
                     "%d (for %d killed runs)" % (sum(kills), killed), ">= killed runs",
                     sum(kills) >= killed))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sandboxes", type=int, default=1000)
    ap.add_argument("--only", choices=["load", "noisy"])
    ap.add_argument("--window", type=float, default=20.0,
                    help="noisy: seconds the neighbours' bombs run while the victim is measured")
    ap.add_argument("--out")
    a = ap.parse_args()
    import conftest
    d = conftest.Daemon().start()
    rows = []
    try:
        if a.only in (None, "load"):
            load(d, conftest, a.sandboxes, rows)
        if a.only in (None, "noisy"):
            noisy(d, conftest, rows, window=a.window)
    finally:
        d.cleanup()
    if a.only in (None, "noisy"):
        d = conftest.Daemon(extra_args=["--no-cpu-background"]).start()
        try:
            noisy(d, conftest, rows, window=a.window, control=True)
        finally:
            d.cleanup()
    lines = ["| test | measurement | value | target | result |", "|---|---|---|---|---|"]
    for r in rows:
        res = "" if r[4] is None else ("pass" if r[4] else "FAIL")
        lines.append("| %s | %s | %s | %s | %s |" % (r[0], r[1], r[2], r[3], res))
    text = "\n".join(lines)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write("# load and noisy-neighbour, %s\n\n%s\n" % (time.strftime("%Y-%m-%d %H:%M UTC",
                                                                              time.gmtime()), text))
    return 0 if all(r[4] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
