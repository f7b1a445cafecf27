"""airlock-init as a real PID 1: in fresh user + pid + mount namespaces (unshare), with full
capabilities in its user namespace, speaking the agent protocol over fd 3.

Checks what only PID 1 shows: orphans are reaped, signals from inside the namespace do not
stop it, user code runs without any capability (bounding set included) even as uid 0, and
closing the channel takes every process of the namespace down.
"""
import json
import os
import shutil
import socket
import struct
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("AIRLOCK_BUILD", os.path.join(ROOT, "build"))
AGENT = os.path.join(BUILD, "src", "agent", "airlock-init")

HELLO, EXEC, STDIN, STARTED, STDOUT, STDERR, EXIT, FILE, RESULT, PING, PONG, ERROR = (
    1, 2, 3, 6, 7, 8, 9, 10, 12, 13, 14, 15)


class Agent:
    def __init__(self, sock, proc):
        self.sock, self.proc = sock, proc
        self.sock.settimeout(15)

    def send(self, typ, rid, obj=None, data=b"", flags=0):
        j = json.dumps(obj).encode() if obj is not None else b""
        self.sock.sendall(struct.pack("<IIIHH", len(j) + len(data), len(j), rid, typ, flags)
                          + j + data)

    def _recvn(self, n):
        b = b""
        while len(b) < n:
            c = self.sock.recv(n - len(b))
            if not c:
                raise EOFError("agent closed the channel")
            b += c
        return b

    def recv(self):
        ln, jl, rid, typ, flags = struct.unpack("<IIIHH", self._recvn(16))
        p = self._recvn(ln)
        return typ, rid, flags, (json.loads(p[:jl]) if jl else None), p[jl:]

    def exec(self, rid, cmd, **kw):
        req = {"command": cmd}
        req.update(kw)
        self.send(EXEC, rid, req)
        out, err, res = b"", b"", None
        while True:
            typ, r, _, j, data = self.recv()
            if r != rid:
                continue
            if typ == STDOUT:
                out += data
            elif typ == STDERR:
                err += data
            elif typ in (EXIT, ERROR):
                res = j
                res["type"] = typ
                break
        return out.decode(), err.decode(), res


@pytest.fixture
def agent():
    if os.geteuid() != 0:
        pytest.skip("needs root to create user and pid namespaces")
    if not os.path.exists(AGENT):
        pytest.skip("airlock-init not built in %s" % BUILD)
    if not shutil.which("unshare"):
        pytest.skip("unshare(1) not installed")
    a, b = socket.socketpair()

    def child():
        os.dup2(b.fileno(), 3)

    proc = subprocess.Popen(
        ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount", "--mount-proc",
         "--kill-child", "--", AGENT],
        preexec_fn=child, close_fds=False, stdin=subprocess.DEVNULL)
    b.close()
    ag = Agent(a, proc)
    try:
        typ, rid, _, j, _ = ag.recv()
    except (EOFError, socket.timeout):
        proc.kill()
        proc.wait()
        pytest.skip("cannot start the agent in new namespaces here")
    assert typ == HELLO and j["version"] == 1
    ag.hello = j
    yield ag
    a.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_pid1_hello_and_exec(agent):
    assert agent.hello["pid"] == 1
    out, err, res = agent.exec(1, ["sh", "-c", "echo $$ $PPID"])
    assert res["type"] == EXIT and res["exitCode"] == 0
    pid, ppid = out.split()
    assert ppid == "1" and int(pid) > 1


def test_pid1_reaps_orphans(agent):
    # the double fork orphans its grandchildren to PID 1, which must reap them
    out, _, res = agent.exec(2, ["sh", "-c", "for i in 1 2 3 4 5; do (sleep 0.1 &); done; echo ok"])
    assert res["exitCode"] == 0
    time.sleep(0.6)
    out, _, res = agent.exec(3, ["sh", "-c",
                                 "cat /proc/[0-9]*/stat 2>/dev/null | awk '$3 == \"Z\"' | wc -l"])
    assert res["exitCode"] == 0
    assert out.strip() == "0"


def test_pid1_ignores_signals_from_inside(agent):
    for sig in ("TERM", "INT", "HUP", "KILL", "STOP", "USR1"):
        out, err, res = agent.exec(10, ["sh", "-c", "kill -%s 1; echo sent" % sig])
        assert "sent" in out
    agent.send(PING, 11, {"n": 1})
    while True:
        typ, rid, _, j, _ = agent.recv()
        if rid == 11:
            break
    assert typ == PONG and j == {"n": 1}
    assert agent.proc.poll() is None


def test_user_code_has_no_capabilities(agent):
    out, _, res = agent.exec(20, ["sh", "-c", "id -u; grep -E '^Cap|^NoNewPrivs' /proc/self/status"])
    assert res["exitCode"] == 0
    lines = out.splitlines()
    assert lines[0] == "0"  # uid 0 of the sandbox ...
    caps = dict(l.split(":\t") for l in lines[1:])
    for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert caps[k] == "0000000000000000", (k, caps[k])  # ... without any capability
    assert caps["NoNewPrivs"] == "1"
    # and it cannot do what root with capabilities could
    out, err, res = agent.exec(21, ["sh", "-c", "mkdir -p /tmp/x && mount -t tmpfs none /tmp/x"])
    assert res["exitCode"] != 0
    # the agent is not dumpable: its control channel cannot be reopened through /proc, nor
    # its memory or environment read, although user code has the same uid
    for i, cmd in enumerate(["exec 5<>/proc/1/fd/3", "readlink /proc/1/fd/3",
                             "cat /proc/1/environ", "cat /proc/1/maps", "readlink /proc/1/root"]):
        out, err, res = agent.exec(22 + i, ["sh", "-c", cmd])
        assert res["exitCode"] != 0, cmd
        assert "readlink" in cmd or "denied" in err, (cmd, err)


def test_timeout_kills_group_as_pid1(agent):
    t0 = time.time()
    out, _, res = agent.exec(30, ["sh", "-c", "sleep 100 & sleep 100"], timeoutMs=300)
    assert res["timedOut"] and res["exitCode"] == 137
    assert time.time() - t0 < 5
    out, _, res = agent.exec(31, ["sh", "-c", "pgrep -x sleep | wc -l"])
    assert out.strip() == "0"


def test_channel_eof_ends_the_namespace(agent):
    agent.send(EXEC, 40, {"command": ["sh", "-c", "setsid sleep 1000 & echo started; sleep 1000"]})
    while True:
        typ, rid, _, j, data = agent.recv()
        if typ == STDOUT and b"started" in data:
            break
    agent.sock.close()
    agent.proc.wait(timeout=10)
    out = subprocess.run(["pgrep", "-f", "sleep 1000"], capture_output=True, text=True).stdout
    # nothing started inside survives (setsid escaped the group, not the namespace)
    time.sleep(0.2)
    out = subprocess.run(["pgrep", "-f", "^sleep 1000$"], capture_output=True, text=True).stdout
    assert out.strip() == ""
