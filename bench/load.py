#!/usr/bin/env python3
"""Load and noisy-neighbour benchmarks (not timed tests: they report, and mark pass/fail
against the issue's targets).

  load:  N idle sandboxes alive at once (default 1000), exec traffic on 50 of them while
         readers list and get; API p99 for reads and execs; errors; host free memory;
         host memory per idle sandbox.
  noisy: 10 sandboxes running fork bombs, memory bombs and CPU spin while another
         sandbox's exec round trip is measured; its p99 against its quiet value.

  bench/load.py [--build DIR] [--sandboxes N] [--only load|noisy] [--out FILE]
"""
import argparse
import http.client
import json
import os
import statistics
import sys
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


def exec_rtts(c, group, sid, n):
    out = []
    for _ in range(n):
        st, body, dt = c.call("POST", "/v1/sandboxgroups/%s/sandboxes/%s/exec" % (group, sid),
                              {"command": ["true"], "timeout": 30})
        if st == 200:
            out.append(dt)
    return out


def noisy(d, conftest, rows):
    group = conftest.new_group(d, tier="XS")
    c = Client(d.port, d.admin_key)
    st, body, _ = c.call("POST", "/v1/sandboxgroups/%s/sandboxes" % group, {})
    victim = json.loads(body)["id"]
    exec_rtts(c, group, victim, 20)
    quiet = exec_rtts(c, group, victim, 300)
    bombs = {
        "fork": ["sh", "-c", "f() { f | f & }; f; sleep 60"],
        "memory": ["sh", "-c", "x=a; while true; do x=$x$x; done"],
        "cpu": ["sh", "-c", "while :; do :; done"],
    }
    kinds = ["fork", "fork", "fork", "memory", "memory", "memory", "cpu", "cpu", "cpu", "cpu"]
    noisy_ids, threads = [], []
    for k in kinds:
        st, body, _ = c.call("POST", "/v1/sandboxgroups/%s/sandboxes" % group, {})
        sid = json.loads(body)["id"]
        noisy_ids.append(sid)

        def run(sid=sid, cmd=bombs[k]):
            cc = Client(d.port, d.admin_key)
            for _ in range(3):
                cc.call("POST", "/v1/sandboxgroups/%s/sandboxes/%s/exec" % (group, sid),
                        {"command": cmd, "timeout": 20})
        t = threading.Thread(target=run)
        t.start()
        threads.append(t)
    time.sleep(3)
    loud = exec_rtts(c, group, victim, 300)
    for t in threads:
        t.join()
    for sid in noisy_ids + [victim]:
        c.call("DELETE", "/v1/sandboxgroups/%s/sandboxes/%s" % (group, sid))
    d.api("DELETE", "/v1/sandboxgroups/" + group)
    q99, l99 = pct(quiet, 99), pct(loud, 99)
    rows.append(("noisy", "victim exec p50 / p99, quiet", "%.1f / %.1f ms" % (pct(quiet, 50), q99),
                 "", None))
    rows.append(("noisy", "victim exec p50 / p99, 10 noisy neighbours",
                 "%.1f / %.1f ms (%d of 300 answered)" % (pct(loud, 50), l99, len(loud)),
                 "<= 3x quiet p99 (%.1f ms)" % (3 * q99), l99 <= 3 * q99 and len(loud) == 300))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sandboxes", type=int, default=1000)
    ap.add_argument("--only", choices=["load", "noisy"])
    ap.add_argument("--out")
    a = ap.parse_args()
    import conftest
    d = conftest.Daemon().start()
    rows = []
    try:
        if a.only in (None, "load"):
            load(d, conftest, a.sandboxes, rows)
        if a.only in (None, "noisy"):
            noisy(d, conftest, rows)
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
