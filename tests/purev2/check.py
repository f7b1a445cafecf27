#!/usr/bin/env python3
"""Checks run inside the pure cgroup-v2 VM (scripts/purev2-vm.sh boots it).

Starts airlockd, creates a group with small explicit limits and a sandbox, and checks that
the limits are in the sandbox's cgroup2 dir and that the kernel enforces them: a memory bomb
is OOM-killed, a fork bomb stops at pids.max, airlockd stays healthy, and deleting the
sandbox removes its cgroup.  Prints one "PURE-V2 CHECK <name>: PASS|FAIL ..." line per check
and a "PURE-V2 SUMMARY" line; exits 1 when any check failed.  Standard library only.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

CG = "/sys/fs/cgroup"
PORT = 7171
MEM_MIB, PIDS, CPU = 64, 64, 0.5
results = []


def report(name, ok, detail=""):
    results.append(ok)
    print(f"PURE-V2 CHECK {name}: {'PASS' if ok else 'FAIL'} {detail}".rstrip(), flush=True)


class Api:
    def __init__(self, key):
        self.key = key

    def call(self, method, path, body=None, timeout=120):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.key}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw.decode(errors="replace")

    def exec(self, sid, cmd, timeout=60):
        return self.call("POST", f"/v1/sandboxgroups/pv2/sandboxes/{sid}/exec",
                         {"command": cmd, "timeout": timeout}, timeout=timeout + 60)


def healthy():
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz", timeout=10) as r:
            return r.status == 200
    except OSError:
        return False


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        return f"<{e.strerror}>"


def leftover():
    top = CG + "/airlock"
    return [e for e in os.listdir(top) if os.path.isdir(f"{top}/{e}")] if os.path.isdir(top) else []


def check_layout():
    mounts = [line.split(" - ")[1].split()[0:2] + [line.split()[4]]
              for line in open("/proc/self/mountinfo")]
    v2 = [m for m in mounts if m[0] == "cgroup2"]
    v1 = [m for m in mounts if m[0] == "cgroup"]
    ok = any(m[2] == CG for m in v2) and not v1
    report("layout", ok, f"cgroup2 at {[m[2] for m in v2]}, v1 hierarchies: {len(v1)}; "
           f"controllers: {read(CG + '/cgroup.controllers')}")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--state", required=True)
    a = ap.parse_args()
    t0 = time.monotonic()
    check_layout()
    os.makedirs(a.state, mode=0o700, exist_ok=True)
    log_path = "/run/airlockd.log"
    log = open(log_path, "w")
    daemon = subprocess.Popen([f"{a.build}/src/daemon/airlockd", "--state-dir", a.state,
                               "--listen", f"127.0.0.1:{PORT}", "--log-format", "plain"],
                              stdout=log, stderr=subprocess.STDOUT)
    sid = None
    try:
        deadline = time.monotonic() + 120
        while not healthy() and time.monotonic() < deadline and daemon.poll() is None:
            time.sleep(0.5)
        text = read(log_path)
        desc = [line for line in text.splitlines() if "runtime host" in line]
        ok = healthy() and any("cgroups=cgroup v2" in line for line in desc) and \
            "host check failed" not in text
        report("daemon", ok, f"up after {time.monotonic() - t0:.1f} s; {desc[-1] if desc else text[-800:]}")
        if not ok:
            print(text[-3000:])
            return
        api = Api(read(f"{a.state}/admin.key"))

        t = time.monotonic()
        st, g = api.call("PUT", "/v1/sandboxgroups/pv2", {
            "image": "busybox", "tier": "XS",
            "resources": {"cpu": CPU, "memoryMiB": MEM_MIB, "pids": PIDS}})
        st2, sb = api.call("POST", "/v1/sandboxgroups/pv2/sandboxes", {}, timeout=300)
        if st not in (200, 201) or st2 != 201:
            report("create", False, f"group {st} {g}; sandbox {st2} {sb}")
            print(read(log_path)[-3000:])
            return
        sid = sb["id"]
        d = f"{CG}/airlock/{sid}"
        got = {f: read(f"{d}/{f}") for f in ("memory.max", "pids.max", "cpu.max",
                                            "memory.swap.max")}
        want = {"memory.max": str(MEM_MIB << 20), "pids.max": str(PIDS),
                "cpu.max": f"{int(CPU * 100000)} 100000"}
        ok = all(got[k] == v for k, v in want.items())
        report("limits", ok, f"create {time.monotonic() - t:.2f} s; {d}: {got}")
        st, r = api.exec(sid, ["sh", "-c", "echo hello; cat /proc/self/cgroup"])
        report("exec", st == 200 and r.get("exitCode") == 0 and "hello" in r.get("stdout", ""),
               f"{st} {r}")

        # CPU spin: the daemon moves the sandbox to the background class (cgroup2 cpu.idle)
        t = time.monotonic()
        spin = threading.Thread(target=api.exec, args=(sid, ["sh", "-c", "while :; do :; done"]),
                                kwargs={"timeout": 8})
        spin.start()
        seen = []
        while spin.is_alive():
            st, r = api.call("GET", f"/v1/sandboxgroups/pv2/sandboxes/{sid}/stats")
            seen.append((read(f"{d}/cpu.idle"), r.get("cpuClass") if st == 200 else st,
                         read(f"{d}/cpuset.cpus")))
            time.sleep(0.5)
        spin.join()
        # background: cpu.idle 1 and, with 2+ CPUs, off CPU 0 (cpuset.cpus "1" in a 2-CPU VM)
        bg = "1" if os.cpu_count() == 2 else None
        ok = bool(seen) and seen[0][:2] == ("0", "normal") and \
            any(s[:2] == ("1", "background") and (bg is None or s[2] == bg) for s in seen)
        report("cpu-background", ok, f"{time.monotonic() - t:.1f} s; (cpu.idle, cpuClass, "
               f"cpuset.cpus) seen: {sorted(set(seen))}, first {seen[0] if seen else None}")

        # memory bomb: a shell string that doubles until the 64 MiB cgroup OOM-kills it
        t = time.monotonic()
        st, r = api.exec(sid, ["sh", "-c", "x=0123456789abcdef; while :; do x=$x$x; done"],
                         timeout=120)
        killed = st == 200 and (r.get("signal") == 9 or r.get("exitCode") == 137)
        events = read(f"{d}/memory.events").replace("\n", ", ")
        st3, after = api.call("GET", f"/v1/sandboxgroups/pv2/sandboxes/{sid}")
        ok = killed and "oom_kill 0" not in events and healthy() and daemon.poll() is None
        report("memory-bomb", ok,
               f"{time.monotonic() - t:.1f} s; exec {st} signal={r.get('signal') if st == 200 else r} "
               f"exitCode={r.get('exitCode') if st == 200 else '-'}; memory.events: {events}; "
               f"sandbox state {after.get('state') if st3 == 200 else st3}; daemon healthy {healthy()}")
        if st3 != 200 or after.get("state") != "running":
            report("sandbox-survives-oom", False, f"{after}")
            return

        # fork bomb: background sleepers until fork fails at pids.max
        t = time.monotonic()
        st, r = api.exec(sid, ["sh", "-c", "i=0; while [ $i -lt 500 ]; do "
                               "sleep 300 </dev/null >/dev/null 2>&1 & i=$((i + 1)); done; "
                               "echo started $i"], timeout=120)
        cur, mx, pev = read(f"{d}/pids.current"), read(f"{d}/pids.max"), read(f"{d}/pids.events")
        err = (r.get("stderr", "") if st == 200 else str(r))[-300:]
        forkfail = st == 200 and ("fork" in err.lower() or "resource temporarily" in err.lower())
        ok = forkfail and cur.isdigit() and int(cur) <= PIDS and mx == str(PIDS) and \
            "max 0" not in pev and healthy()
        report("fork-bomb", ok, f"{time.monotonic() - t:.1f} s; exit={r.get('exitCode') if st == 200 else st} "
               f"stderr={err.strip()!r}; pids.current={cur} pids.max={mx} pids.events={pev!r}")

        t = time.monotonic()
        st, _ = api.call("DELETE", f"/v1/sandboxgroups/pv2/sandboxes/{sid}", timeout=120)
        deadline = time.monotonic() + 30
        while os.path.exists(d) and time.monotonic() < deadline:
            time.sleep(0.2)
        gone = not os.path.exists(d)
        report("delete", st == 204 and gone and healthy(),
               f"{st} in {time.monotonic() - t:.2f} s; {d} {'gone' if gone else 'still there'}; "
               f"sandbox cgroups left in {CG}/airlock: {leftover()}")
        sid = None
    except Exception as e:  # a crash of the checker is a failure, not a hang
        report("checker", False, repr(e))
    finally:
        if sid:
            api.call("DELETE", f"/v1/sandboxgroups/pv2/sandboxes/{sid}", timeout=120)
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(60)
        except subprocess.TimeoutExpired:
            daemon.kill()
        log.close()
        print("--- airlockd log (tail) ---")
        print("\n".join(read(log_path).splitlines()[-15:]))
        passed, failed = results.count(True), results.count(False)
        verdict = "PASS" if failed == 0 and passed > 0 else "FAIL"
        print(f"PURE-V2 SUMMARY: {verdict} ({passed} passed, {failed} failed, "
              f"{time.monotonic() - t0:.1f} s in the guest)", flush=True)


if __name__ == "__main__":
    main()
    sys.exit(0 if results and all(results) else 1)
