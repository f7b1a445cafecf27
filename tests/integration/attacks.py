"""Helpers for the security battery: build the attack program, run it inside a sandbox.

The attack program (tests/attacks/*.c) is one static multi-call binary: `attack <name> [args]`
prints one JSON line {"attack", "ok", "errno", "errname", "detail"} where ok == True means the
attack SUCCEEDED.  It is compiled once per session with gcc -static -O2, uploaded into each
sandbox through the files API and run with exec.

Test modules import what they need:  from attacks import *  (fixtures included).
"""
import errno as E
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import ROOT, binary, new_group, new_sandbox  # noqa: F401  (re-exported)

ATTACK_SRC = os.path.join(ROOT, "tests", "attacks")
IN_SANDBOX = "/tmp/attack"

# errnos that mean "refused by seccomp or by missing capabilities"
DENIED = {E.EPERM, E.EACCES, E.ENOSYS}


def _build_attack(outdir):
    gcc = shutil.which("gcc")
    if not gcc:
        pytest.skip("gcc not installed: cannot build tests/attacks")
    srcs = sorted(os.path.join(ATTACK_SRC, f) for f in os.listdir(ATTACK_SRC) if f.endswith(".c"))
    out = os.path.join(outdir, "attack")
    r = subprocess.run([gcc, "-D_GNU_SOURCE", "-static", "-O2", "-o", out] + srcs,
                       capture_output=True, text=True)
    if r.returncode != 0:
        if "cannot find -lc" in r.stderr:
            pytest.skip("static libc not installed: cannot build tests/attacks")
        raise RuntimeError("building tests/attacks failed:\n" + r.stderr)
    return out


@pytest.fixture(scope="session")
def attack_bin():
    """Path of the host-built static attack binary."""
    d = tempfile.mkdtemp(prefix="airlock-attack-")
    os.chmod(d, 0o755)  # the unprivileged host controls (setpriv) must reach it
    yield _build_attack(d)
    shutil.rmtree(d, ignore_errors=True)


def parse_line(stdout, name):
    for line in reversed((stdout or "").splitlines()):
        line = line.strip()
        if line.startswith("{") and '"attack"' in line:
            return json.loads(line)
    raise AssertionError("attack %s printed no result line: %r" % (name, (stdout or "")[-2000:]))


class Attacker:
    """Runs attacks inside one sandbox (conftest.Sandbox)."""

    def __init__(self, sb, binpath):
        self.sb = sb
        self.binpath = binpath
        self.path = IN_SANDBOX
        self.uploaded = False

    def upload(self, path=IN_SANDBOX):
        with open(self.binpath, "rb") as f:
            data = f.read()
        self.sb.put(path, data, mode="0755")
        r = self.sb.exec(["chmod", "755", path])
        assert r["exitCode"] == 0, r
        self.path = path
        self.uploaded = True
        return self

    def exec(self, name, *args, **kw):
        """Raw exec result of `attack name args...`."""
        if not self.uploaded:
            self.upload()
        return self.sb.exec([self.path, name] + [str(a) for a in args], **kw)

    def run(self, name, *args, **kw):
        """Parsed JSON result of one attack."""
        r = self.exec(name, *args, **kw)
        res = parse_line(r.get("stdout"), name)
        res["_exec"] = r
        return res


@pytest.fixture
def atk(sandbox, attack_bin):
    """An Attacker on the test's sandbox, binary uploaded to /tmp/attack."""
    return Attacker(sandbox, attack_bin).upload()


def attacker(sb, attack_bin):
    return Attacker(sb, attack_bin).upload()


def host_run(attack_bin, name, *args, prefix=(), timeout=60):
    """Runs the attack on the host (positive controls), e.g. prefix=("unshare", "-rm")."""
    if prefix and not shutil.which(prefix[0]):
        pytest.skip("%s not installed on the host" % prefix[0])
    r = subprocess.run(list(prefix) + [attack_bin, name] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=timeout)
    return parse_line(r.stdout, name)


def unpriv(uid=65534):
    return ("setpriv", "--reuid", str(uid), "--regid", str(uid), "--clear-groups")


USERNS_ROOT = ("unshare", "-rmnpf", "--mount-proc")


def refused(res, allowed=DENIED):
    """Asserts the attack failed with one of the allowed errnos."""
    assert res["ok"] is False, "ATTACK SUCCEEDED: %s" % json.dumps(
        {k: v for k, v in res.items() if k != "_exec"})
    assert res["errno"] in allowed, "attack %s failed, but with %s (%s), expected one of %s" % (
        res["attack"], res["errname"], res["detail"], sorted(E.errorcode[e] for e in allowed))


def exit_killed(r):
    """True when an exec result says the process was killed by SIGKILL."""
    return r.get("signal") == 9 or r.get("exitCode") == 137


class Listener:
    """A TCP listener on the host that counts accepted connections."""

    def __init__(self, host="127.0.0.1", family=socket.AF_INET):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = []
        self.stop = False
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        while not self.stop:
            try:
                c, addr = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.accepted.append(addr)
            try:
                c.sendall(b"HOST-SERVICE-BANNER\n")
            except OSError:
                pass
            c.close()

    def close(self):
        self.stop = True
        self.t.join(2)
        self.sock.close()


class Prober:
    """Measures exec latency on a neighbour sandbox in a background thread."""

    def __init__(self, sb, interval=0.5):
        self.sb = sb
        self.interval = interval
        self.samples = []   # (latency seconds, ok)
        self.stop = False
        self.t = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self.stop:
            t0 = time.time()
            try:
                st, r = self.sb.d.api("POST", self.sb.base + "/exec",
                                      {"command": ["echo", "alive"], "timeout": 20},
                                      key=self.sb.key, timeout=30)
                ok = st == 200 and r.get("stdout") == "alive\n"
            except OSError:
                ok = False
            self.samples.append((time.time() - t0, ok))
            time.sleep(self.interval)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *a):
        self.stop = True
        self.t.join(60)

    def assert_responsive(self, max_latency=5.0):
        assert self.samples, "neighbour was never probed"
        bad = [s for s in self.samples if not s[1]]
        assert not bad, "neighbour exec failed %d/%d times" % (len(bad), len(self.samples))
        worst = max(s[0] for s in self.samples)
        assert worst < max_latency, "neighbour exec took %.1f s (samples %s)" % (
            worst, ["%.2f" % s[0] for s in self.samples])


def host_marker(content=None):
    """A directory + file on the host that no sandbox may see or change."""
    d = tempfile.mkdtemp(prefix="airlock-secret-", dir="/var/tmp")
    f = os.path.join(d, "secret")
    data = content or ("host-secret-" + secrets.token_hex(16)).encode()
    with open(f, "wb") as fh:
        fh.write(data)
    return d, f, data


def read_host(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None
