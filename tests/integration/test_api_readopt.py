"""A crashed airlockd (kill -9) does not take its sandboxes with it: the next airlockd on the
same state dir re-adopts every sandbox whose PID 1 is still the one it started (processes,
memory, files and settings carry on; requests in flight at the crash are lost), and cleans up
and fails (host_restart) the ones it cannot prove are its own."""
import os
import signal
import subprocess
import threading
import time

from conftest import new_group
from hostres import assert_unchanged, snapshot
from test_api_sandboxes import (cgroup_dirs, mounts_under, sandbox_or_skip, sandbox_processes,
                                wait_deleted)


def live(pids):
    """The pids that are running processes (not zombies: a re-adopted sandbox's PID 1 is no
    longer the daemon's child, so whoever inherited it reaps it, in its own time)."""
    out = []
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    out.append(p)
        except OSError:
            pass
    return out


def wait_live_gone(pids, timeout=10):
    deadline = time.time() + timeout
    while live(pids) and time.time() < deadline:
        time.sleep(0.1)
    return live(pids)


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode().strip()
    except OSError:
        return None


def init_pid(d, sid):
    with open(os.path.join(d.state_dir, "sandboxes", sid, "init")) as f:
        return int(f.read().split()[0])


def crash(d):
    d.stop(sig=signal.SIGKILL)


def assert_all_gone(d, sid, pids):
    sbdir = os.path.join(d.state_dir, "sandboxes", sid)
    assert wait_live_gone(pids) == []
    assert live(sandbox_processes(sid)) == []
    assert cgroup_dirs(sid) == []
    assert not mounts_under(sbdir)
    assert not os.path.exists(sbdir)


def test_kill9_readopts_running_sandbox(fresh_daemon):
    d = fresh_daemon()
    g = new_group(d, env={"FROM_GROUP": "g1"})
    sb, _ = sandbox_or_skip(d, g, env={"FROM_CREATE": "c1"})
    sb.put("/tmp/x", b"data")
    # a process that outlives its exec (its own session, like a server started by an agent)
    r = sb.exec("setsid sleep 1000 </dev/null >/dev/null 2>&1 &")
    assert r["exitCode"] == 0
    deadline = time.time() + 10
    while True:  # until setsid has exec'd sleep
        pids = sandbox_processes(sb.id)
        sleeper = [p for p in pids if cmdline(p) == "sleep 1000"]
        if sleeper or time.time() > deadline:
            break
        time.sleep(0.05)
    assert len(sleeper) == 1, [cmdline(p) for p in pids]
    pid1 = init_pid(d, sb.id)
    assert pid1 in pids
    crash(d)
    # the group changes while no daemon runs: the sandbox keeps the env it was created with
    d2 = fresh_daemon(state_dir=d.state_dir)
    st, r = d2.api("PUT", "/v1/sandboxgroups/" + g, {"image": "busybox", "env": {"FROM_GROUP": "g2"}})
    assert st == 200, (st, r)
    sb.d = d2
    st, r = d2.api("GET", sb.base)
    assert st == 200 and r["state"] == "running" and r["reason"] is None, r
    assert "re-adopted after restart" in d2.logs()
    # the same processes, files and settings
    assert set(live(pids)) == set(pids)
    assert sb.get("/tmp/x") == b"data"
    assert cmdline(sleeper[0]) == "sleep 1000"  # the background process carried on
    r = sb.exec("echo $FROM_GROUP $FROM_CREATE")
    assert r["stdout"] == "g1 c1\n", r
    st, s = d2.api("GET", sb.base + "/stats")
    assert st == 200 and s["pids"] >= 2 and s["diskBytes"] > 0, s
    # and it is deleted like any other sandbox, leaving nothing
    assert sb.delete() == 204
    assert_all_gone(d2, sb.id, pids)
    # new sandboxes work next to it; the uid slot of the re-adopted one was not handed out twice
    sb2, _ = sandbox_or_skip(d2, g)
    assert sb2.exec("echo ok")["stdout"] == "ok\n"
    sb2.delete()


def test_readopted_sandbox_keeps_its_lifetime(fresh_daemon):
    d = fresh_daemon()
    g = new_group(d, lifecycle={"maxLifetimeSeconds": 6})
    sb, _ = sandbox_or_skip(d, g)
    t_created = time.time()
    pids = sandbox_processes(sb.id)
    crash(d)
    d2 = fresh_daemon(state_dir=d.state_dir)
    st, r = d2.api("GET", sb.base)
    assert r["state"] == "running", r
    sb.d = d2
    r = wait_deleted(d2, sb, 20)
    assert r["state"] == "deleted" and r["reason"] == "lifetime_expired", r
    assert time.time() - t_created >= 5.5  # expired on the original schedule, not earlier
    assert_all_gone(d2, sb.id, pids)


def test_exec_in_flight_at_crash_is_ended(fresh_daemon):
    d = fresh_daemon()
    g = new_group(d)
    sb, _ = sandbox_or_skip(d, g)
    started = threading.Event()

    def run():
        try:
            started.set()
            d.api("POST", sb.base + "/exec", {"command": ["sleep", "777"], "timeout": 600},
                  timeout=30)
        except Exception:  # noqa: BLE001 - the daemon dies under it
            pass
    t = threading.Thread(target=run)
    t.start()
    started.wait()
    deadline = time.time() + 10
    while time.time() < deadline:
        r = subprocess.run(["pgrep", "-f", "sleep 777"], capture_output=True, text=True)
        if r.stdout.strip():
            break
        time.sleep(0.1)
    victims = [int(p) for p in r.stdout.split()]
    assert victims, "the exec never started"
    crash(d)
    t.join(30)
    # nobody can read that exec's result any more: the agent ends it
    assert wait_live_gone(victims) == []
    d2 = fresh_daemon(state_dir=d.state_dir)
    sb.d = d2
    st, r = d2.api("GET", sb.base)
    assert r["state"] == "running", r
    assert sb.exec("echo still here")["stdout"] == "still here\n"
    assert sb.delete() == 204


def test_sandbox_that_died_while_daemon_was_down_is_failed(fresh_daemon):
    d = fresh_daemon()
    g = new_group(d)
    sandbox_or_skip(d, g)[0].delete()  # the built-in image is imported: not a leftover
    host = ("mounts", "cgroups", "loops", "files")  # the processes: sandbox_processes below
    before = snapshot(d, host)
    sb, _ = sandbox_or_skip(d, g)
    sb.put("/tmp/x", b"data")
    pids = sandbox_processes(sb.id)
    pid1 = init_pid(d, sb.id)
    during = snapshot(d, host)
    assert [l for l in during["loops"] if sb.id in l], during  # its disk, on a loop device
    crash(d)
    os.kill(pid1, signal.SIGKILL)  # PID 1 of a pid namespace: the whole sandbox ends
    d2 = fresh_daemon(state_dir=d.state_dir)
    st, r = d2.api("GET", sb.base)
    assert st == 200 and r["state"] == "failed" and r["reason"] == "host_restart", r
    assert "cannot re-adopt" in d2.logs()
    assert_all_gone(d2, sb.id, pids)
    # and nothing else of it: its loop device is detached, no cgroup, mount or file is left
    assert_unchanged(d2, before)
    st, _ = d2.api("POST", sb.base + "/exec", {"command": ["true"]})
    assert st == 409
    st, _ = d2.api("DELETE", sb.base)
    assert st == 204


def test_forged_init_record_is_not_adopted(fresh_daemon):
    """The record names a host process (pid reuse, or a tampered file): the next daemon must
    neither adopt it nor harm it, and cleans the real sandbox up."""
    d = fresh_daemon()
    g = new_group(d)
    sb, _ = sandbox_or_skip(d, g)
    pids = sandbox_processes(sb.id)
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        with open("/proc/%d/stat" % bystander.pid) as f:
            start = f.read().rsplit(")", 1)[1].split()[19]
        crash(d)
        rec = os.path.join(d.state_dir, "sandboxes", sb.id, "init")
        with open(rec, "w") as f:
            f.write("%d %s\n" % (bystander.pid, start))
        d2 = fresh_daemon(state_dir=d.state_dir)
        st, r = d2.api("GET", sb.base)
        assert r["state"] == "failed" and r["reason"] == "host_restart", r
        assert "no longer its PID 1" in d2.logs()
        assert bystander.poll() is None  # untouched
        assert_all_gone(d2, sb.id, pids)
    finally:
        bystander.kill()
        bystander.wait()


def test_sandbox_cannot_reach_the_reattach_socket(fresh_daemon):
    """The reattach pair lives in PID 1 only: user code (even root in the sandbox) cannot get
    at it to hand PID 1 a channel of its own."""
    d = fresh_daemon()
    g = new_group(d)
    sb, _ = sandbox_or_skip(d, g)
    r = sb.exec("ls -l /proc/1/fd/ 2>&1; cat /proc/1/fd/5 2>&1; echo x > /proc/1/fd/4 2>&1; "
                "ls /proc/self/fd")
    assert "socket:" not in r["stdout"], r
    assert set(r["stdout"].split("\n")[-2].split()) <= {"0", "1", "2", "3"}, r
    sb.delete()
