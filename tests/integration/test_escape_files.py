"""Path attacks on the files API: user code plants symlinks inside its sandbox, then the API
caller (or the next agent turn) GETs, PUTs, lists, stats, mkdirs and deletes through them.

docs/api.md: paths are absolute sandbox paths; symlinks resolve inside the sandbox.  DESIGN.md
section 6: host file operations on sandbox content happen inside the sandbox or through
openat2(RESOLVE_IN_ROOT), never by joining strings.  Every test compares against a secret
file made on the host for the test (and the daemon's admin key, and /etc/shadow): its content
must never come back, and PUT/DELETE must never change the host.
"""
import os
import threading
import urllib.parse

import pytest

from attacks import host_marker, read_host  # noqa: F401

pytestmark = pytest.mark.security


@pytest.fixture
def secret():
    d, f, data = host_marker()
    yield d, f, data
    for name in os.listdir(d):
        p = os.path.join(d, name)
        if os.path.isdir(p):
            os.rmdir(p)
        else:
            os.unlink(p)
    os.rmdir(d)


def api(sb, method, what, path, raw=None, **q):
    qs = urllib.parse.urlencode(dict(path=path, **q))
    return sb.d.api(method, sb.base + what + "?" + qs, raw=raw, key=sb.key)


def plant(sb, secret_file, airlockd):
    cmds = ["ln -s /etc/shadow /tmp/x", "ln -s ../../../../../../../../ /tmp/up",
            "ln -s /proc/self/root /tmp/r", "ln -s /proc/1/root /tmp/r1",
            "ln -s /proc/1/cwd /tmp/c1", "ln -s %s /tmp/s" % secret_file,
            "ln -s %s /tmp/d" % os.path.dirname(secret_file),
            "ln -s %s/admin.key /tmp/k" % airlockd.state_dir,
            "ln -s /tmp/up%s /tmp/chain" % secret_file, "mkdir -p /tmp/real"]
    r = sb.exec("; ".join(cmds) + "; ls -l /tmp")
    assert r["exitCode"] == 0, r


def read_paths(secret_file, state_dir):
    sd = os.path.dirname(secret_file)
    return ["/tmp/x", "/tmp/s", "/tmp/k", "/tmp/chain", "/tmp/up" + secret_file,
            "/tmp/r" + secret_file, "/tmp/r1" + secret_file, "/tmp/c1" + secret_file,
            "/tmp/d/secret", "/tmp/up/etc/shadow", "/tmp/up" + state_dir + "/admin.key",
            "/../../../../.." + secret_file, sd + "/../" + os.path.basename(sd) + "/secret",
            "/proc/self/root" + secret_file, "/proc/1/root" + secret_file,
            "/proc/1/cwd" + secret_file]


def forbidden_contents(secret_data, airlockd):
    out = [secret_data, airlockd.admin_key.encode()]
    shadow = read_host("/etc/shadow")
    if shadow:
        out.append(shadow)
    return out


def test_get_through_symlinks(airlockd, sandbox, secret):
    """Attack: GET /files through symlinks planted by user code that point at host paths
    (/etc/shadow, ../../.., /proc/self/root, /proc/1/root, the daemon's admin.key, a host
    secret).  Defence: symlinks resolve inside the sandbox: the host contents never come
    back (either 404 or the sandbox's own file)."""
    d, f, data = secret
    plant(sandbox, f, airlockd)
    bad = forbidden_contents(data, airlockd)
    for p in read_paths(f, airlockd.state_dir):
        st, body = api(sandbox, "GET", "/files", p)
        if st == 200:
            assert isinstance(body, bytes)
            for b in bad:
                assert b not in body, "GET %s returned host content" % p
        else:
            assert 400 <= st < 500, (p, st, body)


def test_list_and_stat_through_symlinks(airlockd, sandbox, secret):
    """Attack: list /files/list and /files/stat through /tmp/up (-> ../../..), /tmp/d (-> the
    host secret's directory) and /proc/1/root.  Defence: the listing is of the sandbox's own
    tree: the host secret's directory name and the state dir never appear."""
    d, f, data = secret
    plant(sandbox, f, airlockd)
    name = os.path.basename(d)
    for p in ("/tmp/up/var/tmp", "/tmp/d", "/tmp/r/var/tmp", "/tmp/r1/var/tmp", os.path.dirname(d),
              "/tmp/up" + airlockd.state_dir, d):
        st, body = api(sandbox, "GET", "/files/list", p)
        if st == 200:
            names = [e["name"] for e in body["entries"]]
            assert name not in names and "secret" not in names, (p, names)
            assert "admin.key" not in names, (p, names)
        else:
            assert 400 <= st < 500, (p, st, body)
    for p in ("/tmp/s", "/tmp/up" + f, "/tmp/d/secret", "/tmp/k"):
        st, body = api(sandbox, "GET", "/files/stat", p)
        if st == 200:
            assert not (body.get("type") == "file" and body.get("size") == len(data)), (p, body)


def test_put_through_symlinks(airlockd, sandbox, secret):
    """Attack: PUT /files through symlinks to a host file (/tmp/s -> host secret) and into host
    directories (/tmp/up/<host dir>/planted, /tmp/d/planted, /proc/1/root/...).  Defence:
    writes land inside the sandbox: the host secret is unchanged, no file appears on the host."""
    d, f, data = secret
    plant(sandbox, f, airlockd)
    writes = ["/tmp/s", "/tmp/chain", "/tmp/up" + f, "/tmp/up" + d + "/planted",
              "/tmp/d/planted", "/tmp/r" + d + "/planted", "/tmp/r1" + d + "/planted",
              "/proc/1/root" + d + "/planted", "/../../.." + d + "/planted"]
    for p in writes:
        api(sandbox, "PUT", "/files", p, raw=b"PWNED")
        api(sandbox, "PUT", "/files", p, raw=b"PWNED", append="true")
    assert read_host(f) == data, "host secret modified through the files API"
    assert sorted(os.listdir(d)) == ["secret"], "files planted on the host: %s" % os.listdir(d)
    admin = read_host(os.path.join(airlockd.state_dir, "admin.key"))
    api(sandbox, "PUT", "/files", "/tmp/k", raw=b"PWNED")
    assert read_host(os.path.join(airlockd.state_dir, "admin.key")) == admin


def test_mkdir_and_delete_through_symlinks(airlockd, sandbox, secret):
    """Attack: mkdir and DELETE (recursive) through symlinks into host directories
    (/tmp/d/x, /tmp/up/<host dir>, /tmp/s).  Defence: operations stay in the sandbox: the host
    directory keeps exactly its secret file and gains nothing."""
    d, f, data = secret
    plant(sandbox, f, airlockd)
    for p in ("/tmp/d/newdir", "/tmp/up" + d + "/newdir", "/tmp/r1" + d + "/newdir"):
        api(sandbox, "POST", "/files/mkdir", p, parents="true")
    for p in ("/tmp/s", "/tmp/up" + f, "/tmp/d/secret", "/tmp/chain"):
        api(sandbox, "DELETE", "/files", p)
    for p in ("/tmp/d", "/tmp/up" + d, "/tmp/r" + d):
        api(sandbox, "DELETE", "/files", p, recursive="true")
    assert sorted(os.listdir(d)) == ["secret"], os.listdir(d)
    assert read_host(f) == data
    assert os.path.exists(os.path.join(airlockd.state_dir, "admin.key"))


@pytest.mark.slow
def test_symlink_swap_race(airlockd, sandbox, secret):
    """Attack: TOCTOU: user code flips /tmp/flip between a harmless directory and the host
    secret's directory as fast as it can while the API reads /tmp/flip/secret 150 times.
    Defence: resolution happens once, inside the sandbox root: the secret never comes back."""
    d, f, data = secret
    r = sandbox.exec("mkdir -p /tmp/real && echo harmless > /tmp/real/secret")
    assert r["exitCode"] == 0
    flipper = threading.Thread(target=lambda: sandbox.exec(
        "end=$(( $(date +%%s) + 12 )); while [ $(date +%%s) -lt $end ]; do "
        "ln -sfn /tmp/real /tmp/flip; ln -sfn %s /tmp/flip; done" % d, timeout=30), daemon=True)
    flipper.start()
    try:
        for _ in range(150):
            st, body = api(sandbox, "GET", "/files", "/tmp/flip/secret")
            if st == 200:
                assert data not in body, "race returned the host secret"
            api(sandbox, "PUT", "/files", "/tmp/flip/planted", raw=b"PWNED")
    finally:
        flipper.join(60)
    assert sorted(os.listdir(d)) == ["secret"]


@pytest.mark.parametrize("path", ["relative/path", "", "//etc//shadow",
                                  "/tmp/../../../../etc/shadow"])
def test_malformed_paths(airlockd, sandbox, path):
    """Attack: relative paths, empty paths and '..' chains in the path parameter itself (NUL
    bytes: test_nul_in_path_rejected).  Defence: 400 for invalid paths; '..' is clamped at the sandbox root, so
    /etc/shadow of the host never comes back."""
    st, body = api(sandbox, "GET", "/files", path)
    shadow = read_host("/etc/shadow")
    if st == 200:
        assert shadow is None or shadow not in body
    else:
        assert 400 <= st < 500, (st, body)
    if path in ("relative/path", ""):
        assert st == 400, (path, st, body)


def test_agent_privileged_file_writes(airlockd, sandbox):
    """Attack: use the files API (performed by the agent, which may hold more privilege than
    user code) to write a host-wide sysctl (core_pattern, same value) and to read kernel
    addresses.  Defence: the agent has no privilege over the host: the write fails, the
    host value is unchanged, /proc/kallsyms shows no addresses."""
    cp = read_host("/proc/sys/kernel/core_pattern")
    st, _ = api(sandbox, "PUT", "/files", "/proc/sys/kernel/core_pattern", raw=cp or b"core\n")
    assert st >= 400, "files API wrote /proc/sys/kernel/core_pattern (%d)" % st
    assert read_host("/proc/sys/kernel/core_pattern") == cp
    st, body = api(sandbox, "GET", "/files", "/proc/kallsyms")
    if st == 200 and body:
        for line in body.splitlines()[:200]:
            assert int(line.split()[0], 16) == 0, "kernel address leaked via files API: %r" % line


def test_special_files_do_not_hang(airlockd, sandbox):
    """Attack: make the files API read endless or blocking files: GET /dev/zero, /dev/urandom,
    a FIFO with no writer, a symlink to /dev/zero; PUT into a FIFO with no reader.  A naive
    agent reads forever (daemon memory) or blocks forever (a stuck agent).  Defence: each call
    returns within 10 s with a 4xx or a bounded body; the sandbox answers exec afterwards; the
    daemon's memory does not grow."""
    import time
    r = sandbox.exec("mkfifo /tmp/fifo /tmp/fifo2 && ln -s /dev/zero /tmp/z && echo ok")
    assert r["stdout"] == "ok\n", r
    for method, p in (("GET", "/dev/zero"), ("GET", "/dev/urandom"), ("GET", "/tmp/fifo"),
                      ("GET", "/tmp/z"), ("PUT", "/tmp/fifo2")):
        t0 = time.time()
        st, body = api(sandbox, method, "/files", p, raw=b"x" * 200000 if method == "PUT" else None)
        took = time.time() - t0
        assert took < 10, "%s %s took %.1f s" % (method, p, took)
        if st == 200:
            assert len(body) <= 64 << 20, (method, p, len(body))
        else:
            assert 400 <= st < 500, (method, p, st, body)
    r = sandbox.exec(["echo", "alive"], timeout=10)
    assert r["stdout"] == "alive\n"


@pytest.mark.parametrize("method,what", [("GET", "/files"), ("PUT", "/files"),
                                         ("GET", "/files/list"), ("GET", "/files/stat"),
                                         ("POST", "/files/mkdir"), ("DELETE", "/files")])
def test_nul_in_path_rejected(airlockd, sandbox, method, what):
    """Attack: NUL injection: path=/tmp/x%00/../../etc/shadow.  A C layer that decodes the query
    and then uses it as a C string silently works on the truncated prefix (/tmp/x), so any
    check made on the full string (prefix rules, allowlists, audit logs) is bypassed.
    Defence: a path containing NUL is invalid: 400, and nothing is created or removed."""
    r = sandbox.exec("mkdir -p /tmp/keep && echo k > /tmp/keep/f && echo ok")
    assert r["stdout"] == "ok\n"
    target = "/tmp/keep" if method == "DELETE" else "/tmp/nul-" + what.strip("/").replace("/", "-")
    q = {"recursive": "true"} if method == "DELETE" else {}
    st, body = api(sandbox, method, what, target + "\x00/../../etc/shadow",
                   raw=b"x" if method == "PUT" else None, **q)
    assert st == 400, "%s %s with a NUL in the path -> %s %s" % (method, what, st, body)
    r = sandbox.exec("ls /tmp; cat /tmp/keep/f")
    assert "nul-" not in r["stdout"] and "k\n" in r["stdout"], r
