"""Integration harness: real airlockd binaries against a temporary state dir, as root.

Fixtures
  airlockd   session-wide daemon: .url .state_dir .admin_key .sock .api(...)
  fresh_daemon  a daemon of its own for tests that restart or break it
  tenant_key  a new tenant's key (str)
  group      a fresh group (image busybox) of the admin tenant: its name
  sandbox    a running sandbox in `group`: .id .exec() .put() .get(); deleted afterwards
  host_unchanged  after the test, the session daemon's mounts, cgroups, loop devices,
             processes and sandbox files (hostres.py) are what they were before it; list it
             after the fixtures that make sandboxes
A missing kernel feature or binary is a skip with a reason, never a pass.
"""
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import http.client
import urllib.parse

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("AIRLOCK_BUILD", os.path.join(ROOT, "build"))


def binary(name):
    for sub in ("daemon", "cli", "agent", "runtime", "image"):
        p = os.path.join(BUILD, "src", sub, name)
        if os.path.exists(p):
            return p
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    def __init__(self, state_dir=None, extra_args=()):
        exe = binary("airlockd")
        if not exe:
            pytest.skip("airlockd not built in %s" % BUILD)
        self.exe = exe
        self.own_state = state_dir is None
        self.state_dir = state_dir or tempfile.mkdtemp(prefix="airlock-it-")
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.sock = os.path.join(self.state_dir, "airlockd.sock")
        self.extra_args = list(extra_args)
        self.proc = None
        self.log_path = os.path.join(self.state_dir, "airlockd.log")

    def start(self, timeout=20):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.exe, "--state-dir", self.state_dir, "--listen", "127.0.0.1:%d" % self.port]
            + self.extra_args,
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("airlockd exited %s:\n%s" % (self.proc.returncode, self.logs()))
            try:
                st, _ = self.api("GET", "/healthz", key="")
                if st == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            raise RuntimeError("airlockd did not answer /healthz:\n" + self.logs())
        with open(os.path.join(self.state_dir, "admin.key")) as f:
            self.admin_key = f.read().strip()
        return self

    def logs(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-8000:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        return self.proc.returncode if self.proc else None

    def cleanup(self):
        self.stop()
        if self.own_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def api(self, method, path, body=None, key=None, raw=None, headers=None, timeout=120):
        """Returns (status, parsed JSON | bytes | None).  body: JSON-encodable; raw: bytes."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        hdrs = dict(headers or {})
        k = self.admin_key if key is None else key
        if k:
            hdrs["Authorization"] = "Bearer " + k
        data = None
        if raw is not None:
            data = raw
            hdrs.setdefault("Content-Type", "application/octet-stream")
        elif body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
        ctype = resp.getheader("Content-Type", "")
        if ctype.startswith("application/json") and payload:
            return resp.status, json.loads(payload)
        return resp.status, payload


class Sandbox:
    def __init__(self, d, group, sid, key=None):
        self.d, self.group, self.id, self.key = d, group, sid, key
        self.base = "/v1/sandboxgroups/%s/sandboxes/%s" % (group, sid)

    def exec(self, command, timeout=30, expect=200, **kw):
        if isinstance(command, str):
            command = ["sh", "-c", command]
        body = dict(command=command, timeout=timeout, **kw)
        st, r = self.d.api("POST", self.base + "/exec", body, key=self.key, timeout=timeout + 60)
        assert st == expect, (st, r)
        return r

    def put(self, path, data, expect=204, **q):
        qs = urllib.parse.urlencode(dict(path=path, **q))
        st, r = self.d.api("PUT", self.base + "/files?" + qs, raw=data, key=self.key)
        assert st == expect, (st, r)
        return r

    def get(self, path, expect=200):
        qs = urllib.parse.urlencode(dict(path=path))
        st, r = self.d.api("GET", self.base + "/files?" + qs, key=self.key)
        assert st == expect, (st, r)
        return r

    def delete(self):
        return self.d.api("DELETE", self.base, key=self.key)[0]


def new_group(d, key=None, **settings):
    name = "g-" + secrets.token_hex(4)
    body = {"image": "busybox"}
    body.update(settings)
    st, r = d.api("PUT", "/v1/sandboxgroups/" + name, body, key=key)
    assert st in (200, 201), (st, r)
    return name


def new_sandbox(d, group, key=None, **body):
    st, r = d.api("POST", "/v1/sandboxgroups/%s/sandboxes" % group, body, key=key)
    assert st == 201, (st, r)
    return Sandbox(d, group, r["id"], key)


@pytest.fixture(scope="session")
def airlockd():
    if os.geteuid() != 0:
        pytest.skip("integration tests run as root")
    d = Daemon().start()
    yield d
    d.cleanup()


@pytest.fixture
def fresh_daemon():
    if os.geteuid() != 0:
        pytest.skip("integration tests run as root")
    made = []

    def make(**kw):
        d = Daemon(**kw).start()
        made.append(d)
        return d
    yield make
    for d in made:
        d.cleanup()


@pytest.fixture
def tenant_key(airlockd):
    st, r = airlockd.api("POST", "/v1/keys", {"tenant": "t-" + secrets.token_hex(4)})
    assert st == 201, (st, r)
    return r["key"]


@pytest.fixture
def group(airlockd):
    name = new_group(airlockd)
    yield name
    airlockd.api("DELETE", "/v1/sandboxgroups/" + name)


@pytest.fixture
def sandbox(airlockd, group):
    sb = new_sandbox(airlockd, group)
    yield sb
    sb.delete()


@pytest.fixture
def host_unchanged(airlockd):
    from hostres import assert_unchanged, settled
    before = settled(airlockd)
    yield before
    assert_unchanged(airlockd, before)


def pytest_configure(config):
    config.addinivalue_line("markers", "security: an attack that must fail (make sectest)")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
