"""Process-level attacks from inside a sandbox: killing the agent, killing everything,
signalling processes of the host and of another sandbox.

DESIGN.md section 6: a private pid namespace per sandbox; PID 1 is the agent; a sandbox never
reaches a process of the host or another sandbox.
"""
import errno as E
import os
import random
import threading
import time

import pytest

from attacks import atk, attack_bin, attacker, new_group, new_sandbox, refused  # noqa: F401

pytestmark = pytest.mark.security


def answers(sb):
    r = sb.exec(["echo", "still-here"], timeout=20)
    return r["exitCode"] == 0 and r["stdout"] == "still-here\n"


def test_kill_pid1(airlockd, atk):
    """Attack: kill(1, SIGKILL) and kill(1, SIGTERM) on the agent.  Defence: the kernel never
    delivers such signals from inside a pid namespace to its init unless it installed a handler;
    the agent survives and the sandbox keeps answering exec."""
    atk.run("kill", "1", "9")
    atk.run("kill", "1", "15")
    time.sleep(0.5)
    assert answers(atk.sb), "sandbox stopped answering after kill(1)"
    st, r = airlockd.api("GET", atk.sb.base)
    assert st == 200 and r["state"] == "running", (st, r)


def test_kill_all(airlockd, atk):
    """Attack: kill(-1, SIGKILL), the 'kill everything I can' call.  Defence: it reaches only the
    sandbox's own processes (pid namespace): the agent survives, the sandbox keeps answering,
    the daemon is healthy."""
    atk.run("kill", "-1", "9")
    time.sleep(0.5)
    assert answers(atk.sb)
    assert airlockd.proc.poll() is None, "daemon died"
    assert airlockd.api("GET", "/healthz", key="")[0] == 200


def find_host_pid(marker):
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                if f.read().split(b"\0")[:2] == [b"sleep", marker.encode()]:
                    return int(p)
        except OSError:
            pass
    return None


def test_signal_other_sandbox(airlockd, group, attack_bin):
    """Attack: from sandbox B, SIGKILL a process of sandbox A by its host pid and by its pid
    inside A, and signal the daemon and this test's host pid.  Defence: separate pid
    namespaces: every target is ESRCH from B, and A's process is still alive afterwards."""
    a = new_sandbox(airlockd, group)
    g2 = new_group(airlockd)
    b = new_sandbox(airlockd, g2)
    marker = str(random.randint(40000, 49999))
    done = {}
    inner = None

    def run_a():
        done["r"] = a.exec("echo $$ > /tmp/victim.pid; exec sleep %s" % marker, timeout=40)

    t = threading.Thread(target=run_a, daemon=True)
    try:
        t.start()
        host_pid = None
        for _ in range(100):
            host_pid = find_host_pid(marker)
            if host_pid:
                break
            time.sleep(0.1)
        assert host_pid, "victim sleep not found on the host"
        inner = int(a.exec(["cat", "/tmp/victim.pid"])["stdout"])
        bat = attacker(b, attack_bin)
        for target in (host_pid, airlockd.proc.pid, os.getpid()):
            res = bat.run("kill", target, "0")
            refused(res, {E.ESRCH})
            bat.run("kill", target, "9")
        r = b.exec("test -d /proc/%d && echo exists || echo absent" % inner)
        if r["stdout"].strip() == "absent":
            refused(bat.run("kill", inner, "9"), {E.ESRCH})
        assert os.path.exists("/proc/%d" % host_pid), "victim killed from another sandbox"
        r = a.exec("kill -0 %d && echo alive" % inner)
        assert r["stdout"].strip() == "alive", r
        assert airlockd.proc.poll() is None
    finally:
        if inner:
            a.exec("kill %d 2>/dev/null; true" % inner)
        t.join(60)
        a.delete()
        b.delete()
        airlockd.api("DELETE", "/v1/sandboxgroups/" + g2)


def test_daemonized_process_dies_with_sandbox(airlockd, group):
    """Attack: double-fork a process into its own session so it outlives the exec (and, the
    hope is, the sandbox), keeping a foothold on the host after the tenant deletes it.
    Defence: deleting the sandbox kills everything in it: no process of it remains on the
    host."""
    sb = new_sandbox(airlockd, group)
    marker = str(random.randint(50000, 59999))
    r = sb.exec("(setsid sleep %s >/dev/null 2>&1 </dev/null &) ; echo started" % marker,
                timeout=20)
    assert r["stdout"].strip() == "started", r
    time.sleep(0.5)
    alive_before = find_host_pid(marker)
    if not alive_before:
        pytest.skip("the detached process did not outlive its exec (nothing left to test)")
    assert sb.delete() == 204
    deadline = time.time() + 10
    while time.time() < deadline and find_host_pid(marker):
        time.sleep(0.2)
    assert not find_host_pid(marker), "process of a deleted sandbox still runs on the host " \
        "(pid %s; it was alive before delete: %s)" % (find_host_pid(marker), alive_before)


@pytest.mark.parametrize("setup", [
    "ln -sf /dev/zero /etc/passwd", "rm -f /etc/passwd && mkfifo /etc/passwd",
    "ln -sf /dev/zero /etc/group", "rm -f /etc/group && mkfifo /etc/group",
    "yes 'x:x:1:1:' | head -c 4000000 > /etc/passwd"],
    ids=["passwd-zero", "passwd-fifo", "group-zero", "group-fifo", "passwd-4MB"])
def test_agent_survives_hostile_passwd(airlockd, group, setup):
    """Attack: user code replaces /etc/passwd or /etc/group (which the agent reads to resolve the
    exec `user`) with an endless file, a FIFO nobody writes, or a huge file, to hang or crash
    the agent for every later exec.  Defence: the agent reads them bounded and without blocking:
    exec as a named user answers within 15 s (run or a 4xx), and the sandbox keeps answering."""
    sb = new_sandbox(airlockd, group)
    try:
        assert sb.exec(["sh", "-c", setup])["exitCode"] == 0
        for user in ("nobody", "root", "1000:1000"):
            t0 = time.time()
            st, r = airlockd.api("POST", sb.base + "/exec",
                                 {"command": ["true"], "user": user, "timeout": 10}, timeout=60)
            took = time.time() - t0
            assert took < 15, "exec as %s took %.1f s" % (user, took)
            assert st == 200 or 400 <= st < 500, (user, st, r)
            if st == 200:
                assert not r["timedOut"], (user, r)
        assert sb.exec(["echo", "alive"], timeout=10)["stdout"] == "alive\n"
    finally:
        sb.delete()


@pytest.mark.parametrize("setup", [
    "rm -f /dev/null && mkfifo /dev/null", "rm -f /dev/ptmx && mkfifo /dev/ptmx",
    "rm -f /dev/ptmx && ln -s /dev/zero /dev/ptmx", "rm -rf /tmp && mkfifo /tmp",
    "rm -f /dev/null && ln -s /proc/self/fd/1 /dev/null"],
    ids=["null-fifo", "ptmx-fifo", "ptmx-zero", "tmp-fifo", "null-loop"])
def test_agent_survives_hostile_dev(airlockd, group, setup):
    """Attack: root in the sandbox replaces the device nodes and directories the agent opens
    for every exec (/dev/null for stdin, /dev/ptmx for a tty, /tmp) with FIFOs or endless
    files, to hang the agent.  Defence: the agent opens them without blocking (or not at all
    by path): every exec kind (pipes, tty, stdin) answers within 15 s, run or 4xx, and the
    files API keeps working."""
    sb = new_sandbox(airlockd, group)
    try:
        assert sb.exec(["sh", "-c", setup])["exitCode"] == 0
        for kw in ({}, {"tty": True}, {"stdin": "abc"}):
            t0 = time.time()
            st, r = airlockd.api("POST", sb.base + "/exec",
                                 dict({"command": ["echo", "hi"], "timeout": 10}, **kw),
                                 timeout=60)
            assert time.time() - t0 < 15, (kw, st, r)
            assert st == 200 or 400 <= st < 500, (kw, st, r)
        st, _ = airlockd.api("GET", sb.base + "/files?path=/etc/passwd", timeout=30)
        assert st == 200
    finally:
        sb.delete()
