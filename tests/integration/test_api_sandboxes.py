"""Sandboxes through the REST API: lifecycle, exec (buffered and streamed), files, tenancy,
failed creates, group deletion, lifetime expiry, deletion during an exec."""
import http.client
import json
import os
import secrets
import subprocess
import threading
import time
import urllib.parse

import pytest

from conftest import Sandbox, new_group


def sandbox_or_skip(d, group, key=None, **body):
    st, r = d.api("POST", "/v1/sandboxgroups/%s/sandboxes" % group, body, key=key)
    if st == 503:
        pytest.skip("sandboxes unavailable on this host: " + r["error"]["message"])
    assert st == 201, (st, r)
    return Sandbox(d, group, r["id"], key), r


@pytest.fixture
def sb(airlockd, group):
    s, _ = sandbox_or_skip(airlockd, group)
    yield s
    s.delete()


def stream_exec(d, sb, body):
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=60)
    conn.request("POST", sb.base + "/exec", body=json.dumps(body),
                 headers={"Authorization": "Bearer " + d.admin_key,
                          "Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "application/x-ndjson"
    events = []
    for line in resp:
        events.append(json.loads(line))
    conn.close()
    return events


def sandbox_processes(sid):
    """Host pids whose cgroup path names the sandbox."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cgroup" % p) as f:
                if sid in f.read():
                    pids.append(int(p))
        except OSError:
            pass
    return pids


def cgroup_dirs(sid):
    """cgroup directories named after the sandbox, in any hierarchy."""
    found = []
    with open("/proc/self/mountinfo") as f:
        mnts = [l.split()[4] for l in f if " - cgroup" in l]
    for m in mnts:
        p = os.path.join(m, "airlock", sid)
        if os.path.exists(p):
            found.append(p)
    return found


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [l for l in f if path in l]


def loop_devices_of(sid):
    """Loop devices whose backing file names the sandbox (its disk.img)."""
    out = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    return [line.split(":", 1)[0] for line in out.splitlines() if sid in line]


def ns_holders(ns):
    """Pids that are in the namespace `ns` ("mnt:[4026532...]") or hold an fd to it."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            if os.readlink("/proc/%s/ns/mnt" % p) == ns:
                out.append(int(p))
                continue
            for fd in os.listdir("/proc/%s/fd" % p):
                if os.readlink("/proc/%s/fd/%s" % (p, fd)) == ns:
                    out.append(int(p))
                    break
        except OSError:
            pass
    return out


def leftovers(d, sid, mntns=None):
    """What of a sandbox is still on the host: processes, its directory, host mounts under
    it, its mount namespace (mntns, while a process is in it or holds it open: its rootfs,
    disk and /proc mounts live as long as that), cgroups, loop devices."""
    left = {}
    sbdir = os.path.join(d.state_dir, "sandboxes", sid)
    for k, v in (("dir", os.path.exists(sbdir)), ("host mounts", mounts_under(sbdir)),
                 ("mount namespace held by", ns_holders(mntns) if mntns else []),
                 ("processes", sandbox_processes(sid)), ("cgroups", cgroup_dirs(sid)),
                 ("loops", loop_devices_of(sid))):
        if v:
            left[k] = v
    return left


def wait_no_leftovers(d, sid, mntns=None, timeout=10):
    """{} once nothing of the sandbox is left, else what still is after `timeout` (the kernel
    frees an auto-clearing loop device shortly after the namespace's last user)."""
    deadline = time.monotonic() + timeout
    while True:
        left = leftovers(d, sid, mntns)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def test_lifecycle(airlockd, group):
    sb, r = sandbox_or_skip(airlockd, group, labels={"team": "x", "env": "test"})
    assert len(r["id"]) == 32 and all(c in "0123456789abcdef" for c in r["id"])
    assert r["state"] == "running" and r["reason"] is None
    assert r["group"] == group and r["image"] == "busybox"
    assert r["imageDigest"].startswith("sha256:")
    assert r["tier"] == "M" and r["resources"]["memoryMiB"] == 2048
    assert r["labels"] == {"team": "x", "env": "test"}
    for k in ("createdAt",):
        assert k in r
    st, g = airlockd.api("GET", sb.base)
    assert st == 200 and g["id"] == sb.id and g["state"] == "running"
    base = "/v1/sandboxgroups/%s/sandboxes" % group
    st, l = airlockd.api("GET", base)
    assert st == 200 and [x["id"] for x in l["sandboxes"]] == [sb.id]
    st, l = airlockd.api("GET", base + "?label=team%3Dx&label=env%3Dtest")
    assert [x["id"] for x in l["sandboxes"]] == [sb.id]
    st, l = airlockd.api("GET", base + "?label=team%3Dy")
    assert st == 200 and l["sandboxes"] == []
    d = os.path.join(airlockd.state_dir, "sandboxes", sb.id)
    assert os.path.isdir(d)
    assert sandbox_processes(sb.id)
    assert cgroup_dirs(sb.id)
    assert sb.delete() == 204
    st, g = airlockd.api("GET", sb.base)
    assert st == 200 and g["state"] == "deleted" and g["reason"] == "deleted"
    st, l = airlockd.api("GET", base)
    assert l["sandboxes"] == []
    assert not os.path.exists(d)
    assert not mounts_under(d)
    assert sandbox_processes(sb.id) == []
    assert cgroup_dirs(sb.id) == []
    # deleting again is idempotent; exec on a deleted sandbox is a conflict
    assert sb.delete() == 204
    st, r = airlockd.api("POST", sb.base + "/exec", {"command": ["true"]})
    assert st == 409, (st, r)


def test_create_without_body(airlockd, group):
    st, r = airlockd.api("POST", "/v1/sandboxgroups/%s/sandboxes" % group)
    if st == 503:
        pytest.skip(r["error"]["message"])
    assert st == 201, (st, r)
    assert Sandbox(airlockd, group, r["id"]).delete() == 204


def test_tier_override(airlockd, group):
    sb, r = sandbox_or_skip(airlockd, group, tier="XS")
    try:
        assert r["tier"] == "XS"
        assert r["resources"] == {"cpu": 0.25, "memoryMiB": 512, "diskMiB": 2048, "pids": 128,
                                  "openFiles": 256}
    finally:
        sb.delete()


def test_exec_buffered(sb):
    r = sb.exec("echo hi; echo oops >&2; exit 3", timeout=10)
    assert r["exitCode"] == 3 and r["stdout"] == "hi\n" and r["stderr"] == "oops\n"
    assert isinstance(r["durationMs"], int) and r["durationMs"] >= 0
    assert r["timedOut"] is False and r["signal"] == 0
    assert r["stdoutTruncated"] is False and r["stderrTruncated"] is False
    r = sb.exec(["cat"], stdin="from stdin")
    assert r["stdout"] == "from stdin"
    r = sb.exec(["pwd"], cwd="/tmp")
    assert r["stdout"] == "/tmp\n"
    r = sb.exec("echo $FOO", env={"FOO": "bar"})
    assert r["stdout"] == "bar\n"


def test_exec_env_layers(airlockd):
    g = new_group(airlockd, env={"A": "group", "B": "group"})
    try:
        sb, _ = sandbox_or_skip(airlockd, g, env={"B": "sandbox", "C": "sandbox"})
        r = sb.exec("echo $A $B $C $D", env={"C": "exec", "D": "exec"})
        assert r["stdout"] == "group sandbox exec exec\n"
        sb.delete()
    finally:
        airlockd.api("DELETE", "/v1/sandboxgroups/" + g)


def test_exec_timeout_kills(sb):
    t0 = time.time()
    r = sb.exec("sleep 30; echo never", timeout=1)
    assert time.time() - t0 < 15
    assert r["timedOut"] is True and "never" not in r["stdout"]


def test_exec_non_utf8_replaced(sb):
    r = sb.exec(r"printf 'a\377b\300\257c\342\202'; printf '\316\273' >&2")
    assert r["stdout"] == "a\ufffdb\ufffd\ufffdc\ufffd"
    assert r["stderr"] == "\u03bb"


@pytest.mark.parametrize("cap", [1000, 65537])
def test_exec_output_cap(sb, cap):
    """Each stream keeps exactly its first maxOutputBytes and says it was truncated; a stream
    under the cap is whole and not marked."""
    r = sb.exec("head -c 100000 /dev/zero | tr '\\0' x; head -c 5000 /dev/zero | tr '\\0' y >&2",
                maxOutputBytes=cap)
    assert r["stdout"] == "x" * cap and r["stdoutTruncated"] is True, len(r["stdout"])
    if cap < 5000:
        assert r["stderr"] == "y" * cap and r["stderrTruncated"] is True, len(r["stderr"])
    else:
        assert r["stderr"] == "y" * 5000 and r["stderrTruncated"] is False, len(r["stderr"])


@pytest.mark.parametrize("body", [
    {}, {"command": []}, {"command": "ls"}, {"command": ["ls"], "timeout": 0},
    {"command": ["ls"], "timeout": 100000}, {"command": ["ls"], "cwd": "rel"},
    {"command": ["ls"], "bogus": 1},
])
def test_exec_bad_request(airlockd, sb, body, host_unchanged):
    st, r = airlockd.api("POST", sb.base + "/exec", body)
    assert st == 400, (body, st, r)
    assert r["error"]["code"] == "InvalidArgument"


def test_exec_stream(airlockd, sb):
    ev = stream_exec(airlockd, sb, {"command": ["sh", "-c",
                                                "echo one; sleep 0.3; echo two >&2; "
                                                "printf '\\316'; sleep 0.2; printf '\\273\\377'; "
                                                "exit 4"],
                                    "stream": True, "timeout": 20})
    assert ev[-1]["type"] == "exit" and ev[-1]["exitCode"] == 4
    assert "stdout" not in ev[-1] and "durationMs" in ev[-1]
    assert all(e["type"] in ("stdout", "stderr") for e in ev[:-1])
    out = "".join(e["data"] for e in ev if e["type"] == "stdout")
    err = "".join(e["data"] for e in ev if e["type"] == "stderr")
    # a character split across chunks is kept whole; a stray byte becomes U+FFFD
    assert out == "one\n\u03bb\ufffd"
    assert err == "two\n"


def test_files(sb):
    data = bytes(range(256)) * 1000
    sb.put("/tmp/bin.dat", data)
    assert sb.get("/tmp/bin.dat") == data
    sb.put("/tmp/t.txt", b"one\n", mode="0600")
    sb.put("/tmp/t.txt", b"two\n", append="true")
    assert sb.get("/tmp/t.txt") == b"one\ntwo\n"
    d, base = sb.d, sb.base
    st, r = d.api("GET", base + "/files/stat?path=/tmp/t.txt")
    assert st == 200, r
    assert r["name"] == "t.txt" and r["type"] == "file" and r["size"] == 8
    assert r["mode"] == "0600" and "mtime" in r and "uid" in r and "gid" in r
    st, _ = d.api("POST", base + "/files/mkdir?path=/tmp/a/b/c&parents=true")
    assert st == 204
    st, r = d.api("GET", base + "/files/stat?path=/tmp/a/b")
    assert st == 200 and r["type"] == "dir"
    st, r = d.api("GET", base + "/files/list?path=/tmp")
    assert st == 200
    names = {e["name"]: e for e in r["entries"]}
    assert names["a"]["type"] == "dir" and names["bin.dat"]["size"] == len(data)
    assert set(names["t.txt"]) == {"name", "type", "size", "mode", "mtime"}
    # visible from inside
    assert sb.exec("cat /tmp/t.txt")["stdout"] == "one\ntwo\n"
    st, r = d.api("DELETE", base + "/files?path=/tmp/a")
    assert st >= 400
    st, _ = d.api("DELETE", base + "/files?path=/tmp/a&recursive=true")
    assert st == 204
    st, r = d.api("GET", base + "/files/stat?path=/tmp/a")
    assert st == 404 and r["error"]["code"] == "NotFound"
    sb.get("/tmp/missing", expect=404)
    sb.put("/tmp/empty", b"")
    assert sb.get("/tmp/empty") == b""


@pytest.mark.parametrize("query", ["", "path=relative", "path=/x&bogus=1",
                                   "path=/a%0Ab", "path=/x&mode=999"])
def test_files_bad_query(airlockd, sb, query, host_unchanged):
    st, r = airlockd.api("PUT", sb.base + "/files?" + query, raw=b"x")
    assert st == 400, (query, st, r)


def test_files_symlink_stays_inside(sb, host_unchanged):
    host_marker = "/tmp/airlock-host-" + secrets.token_hex(4)
    sb.exec("ln -s / /tmp/root; echo inside > /tmp/inside; "
            "ln -s ../../../../../../tmp/inside /tmp/up; ln -s %s /tmp/abs" % host_marker)
    # the links resolve inside the sandbox: the host's files are not reachable
    with open(host_marker, "w") as f:
        f.write("host secret")
    try:
        sb.get("/tmp/root" + host_marker, expect=404)
        sb.get("/tmp/abs", expect=404)
        assert sb.get("/tmp/up") == b"inside\n"
        st, _ = sb.d.api("PUT", sb.base + "/files?path=/tmp/abs", raw=b"written")
        assert st in (204, 400)
        with open(host_marker) as f:
            assert f.read() == "host secret"
    finally:
        os.unlink(host_marker)


def test_other_tenant_cannot_touch(airlockd, sb, tenant_key, host_unchanged):
    for method, path, body in (("GET", sb.base, None), ("DELETE", sb.base, None),
                               ("POST", sb.base + "/exec", {"command": ["true"]}),
                               ("GET", sb.base + "/files?path=/etc/passwd", None)):
        st, r = airlockd.api(method, path, body, key=tenant_key)
        assert st == 404, (method, path, st, r)
    # and the sandbox is unharmed
    assert sb.exec("echo ok")["stdout"] == "ok\n"


def test_bad_image_leaves_nothing(airlockd, group, host_unchanged):
    before = set(os.listdir(os.path.join(airlockd.state_dir, "sandboxes")))
    base = "/v1/sandboxgroups/%s/sandboxes" % group
    st, r = airlockd.api("POST", base, {"image": "no-such-image-" + secrets.token_hex(3)})
    assert st == 404, (st, r)
    assert r["error"]["code"] == "NotFound"
    st, r = airlockd.api("POST", base, {"image": "127.0.0.1:1/none:tag"})
    assert st == 404
    after = set(os.listdir(os.path.join(airlockd.state_dir, "sandboxes")))
    assert after == before
    st, l = airlockd.api("GET", base)
    assert l["sandboxes"] == []


def test_group_delete_deletes_sandboxes(airlockd):
    g = new_group(airlockd)
    sb1, _ = sandbox_or_skip(airlockd, g)
    sb2, _ = sandbox_or_skip(airlockd, g)
    st, _ = airlockd.api("DELETE", "/v1/sandboxgroups/" + g)
    assert st == 204
    for s in (sb1, sb2):
        assert not os.path.exists(os.path.join(airlockd.state_dir, "sandboxes", s.id))
        assert sandbox_processes(s.id) == []
        st, _ = airlockd.api("GET", s.base)
        assert st == 404


def test_distinct_uid_ranges(airlockd, group):
    a, _ = sandbox_or_skip(airlockd, group)
    b, _ = sandbox_or_skip(airlockd, group)
    try:
        ma = a.exec("cat /proc/self/uid_map")["stdout"].split()
        mb = b.exec("cat /proc/self/uid_map")["stdout"].split()
        assert ma[1] != mb[1], (ma, mb)
        assert int(ma[2]) >= 65536 and int(mb[2]) >= 65536
        lo = sorted([(int(ma[1]), int(ma[2])), (int(mb[1]), int(mb[2]))])
        assert lo[0][0] + lo[0][1] <= lo[1][0]
    finally:
        a.delete()
        b.delete()


def test_delete_during_exec(airlockd, sb):
    result = {}

    def run():
        result["r"] = airlockd.api("POST", sb.base + "/exec",
                                   {"command": ["sleep", "60"], "timeout": 120}, timeout=100)
    t = threading.Thread(target=run)
    t.start()
    time.sleep(1)
    t0 = time.time()
    assert sb.delete() == 204
    assert time.time() - t0 < 20
    t.join(30)
    assert not t.is_alive()
    assert sandbox_processes(sb.id) == []


def wait_deleted(d, sb, timeout):
    """Polls until the sandbox is deleted or timeout seconds passed; returns its record."""
    deadline = time.time() + timeout
    while True:
        st, r = d.api("GET", sb.base)
        if r["state"] == "deleted" or time.time() > deadline:
            return r
        time.sleep(0.3)


def test_max_lifetime(airlockd):
    g = new_group(airlockd, lifecycle={"maxLifetimeSeconds": 2})
    try:
        sb, _ = sandbox_or_skip(airlockd, g)
        r = wait_deleted(airlockd, sb, 15)
        assert r["state"] == "deleted" and r["reason"] == "lifetime_expired", r
        assert sandbox_processes(sb.id) == []
    finally:
        airlockd.api("DELETE", "/v1/sandboxgroups/" + g)


def test_label_filter_unencoded(airlockd, group):
    sb, _ = sandbox_or_skip(airlockd, group, labels={"team": "x"})
    try:
        base = "/v1/sandboxgroups/%s/sandboxes" % group
        st, l = airlockd.api("GET", base + "?label=team=x")
        assert st == 200 and [x["id"] for x in l["sandboxes"]] == [sb.id]
        st, l = airlockd.api("GET", base + "?label=team=y")
        assert st == 200 and l["sandboxes"] == []
    finally:
        sb.delete()


def test_concurrent_creates_and_execs(airlockd, group):
    made, errors = [], []

    def create():
        try:
            st, r = airlockd.api("POST", "/v1/sandboxgroups/%s/sandboxes" % group, {})
            if st == 503:
                errors.append("skip")
            elif st != 201:
                errors.append((st, r))
            else:
                made.append(Sandbox(airlockd, group, r["id"]))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
    ts = [threading.Thread(target=create) for _ in range(4)]
    [t.start() for t in ts]
    [t.join(60) for t in ts]
    try:
        if "skip" in errors:
            pytest.skip("sandboxes unavailable on this host")
        assert not errors and len({s.id for s in made}) == 4
        outs = {}

        def run(s):
            outs[s.id] = s.exec("echo %s; sleep 0.5" % s.id)["stdout"]
        ts = [threading.Thread(target=run, args=(s,)) for s in made for _ in range(2)]
        t0 = time.time()
        [t.start() for t in ts]
        [t.join(60) for t in ts]
        assert time.time() - t0 < 30
        for s in made:
            assert outs[s.id] == s.id + "\n"
    finally:
        for s in made:
            s.delete()


def sandbox_init(sid):
    """Host pid of the sandbox's PID 1 (the agent), or None."""
    for p in sandbox_processes(sid):
        try:
            with open("/proc/%d/status" % p) as f:
                st = f.read()
        except OSError:
            continue
        ns = [l for l in st.splitlines() if l.startswith("NSpid:")][0].split()
        if ns[-1] == "1":
            return p
    return None


def alive(pid, timeout=10):
    """False once pid has exited (gone or a zombie), waiting up to timeout seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return False
        except OSError:
            return False
        time.sleep(0.05)
    return True


def oom_kills(sid):
    """The sandbox memory cgroup's OOM-kill counter (cgroup v2 memory.events or v1
    memory.oom_control), or None when neither is there."""
    for d in cgroup_dirs(sid):
        for name in ("memory.events", "memory.oom_control"):
            try:
                with open(os.path.join(d, name)) as f:
                    for line in f:
                        k, v = line.split()
                        if k == "oom_kill":
                            return int(v)
            except OSError:
                pass
    return None


def wait_not_running(d, sb, timeout=15):
    """Polls with an exec (a request that looks at the agent) until the sandbox is no longer
    running; returns its record."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        st, r = d.api("POST", sb.base + "/exec", {"command": ["true"]})
        if st == 409:
            break
        time.sleep(0.2)
    st, r = d.api("GET", sb.base)
    assert st == 200, (st, r)
    return r


def test_agent_death_marks_failed(airlockd, group):
    """The sandbox's PID 1 dies (killed from the host): the sandbox becomes failed/error, and
    a DELETE then releases everything it had on the host: no process, directory, mount (in
    the host's or any process's mount table), cgroup or loop device of it remains."""
    sb, _ = sandbox_or_skip(airlockd, group)
    mntns = None
    try:
        init = sandbox_init(sb.id)
        if not init:
            pytest.skip("cannot find the sandbox's init from the host")
        mntns = os.readlink("/proc/%d/ns/mnt" % init)
        had = leftovers(airlockd, sb.id, mntns)
        assert {"dir", "processes", "cgroups", "mount namespace held by"} <= set(had), had
        os.kill(init, 9)
        r = wait_not_running(airlockd, sb)
        assert r["state"] == "failed" and r["reason"] == "error", r
    finally:
        assert sb.delete() == 204
    st, r = airlockd.api("GET", sb.base)
    assert r["state"] == "deleted"
    assert sandbox_processes(sb.id) == []
    assert wait_no_leftovers(airlockd, sb.id, mntns) == {}, "left after delete (it had %s)" % had


def test_dead_sandbox_shows_failed_without_a_request(airlockd, group):
    """Nobody touches the sandbox after its PID 1 dies: GET alone shows failed/error soon."""
    sb, _ = sandbox_or_skip(airlockd, group)
    try:
        init = sandbox_init(sb.id)
        assert init, "cannot find the sandbox's init from the host"
        st, r = airlockd.api("GET", sb.base)
        assert r["state"] == "running", r
        os.kill(init, 9)
        deadline = time.time() + 10
        while time.time() < deadline:
            st, r = airlockd.api("GET", sb.base)
            if r["state"] != "running":
                break
            time.sleep(0.2)
        assert r["state"] == "failed" and r["reason"] == "error", r
    finally:
        assert sb.delete() == 204


def test_python_builtin(airlockd):
    if not os.path.exists("/var/cache/airlock/images/python/index.json") and \
            not os.environ.get("AIRLOCK_IMAGE_CACHE"):
        pytest.skip("built-in python image not built")
    g = new_group(airlockd, image="python")
    try:
        sb, r = sandbox_or_skip(airlockd, g)
        assert r["image"] == "python"
        out = sb.exec(["python3", "-c", "print(6 * 7)"], timeout=60)
        assert out["exitCode"] == 0 and out["stdout"] == "42\n", out
        sb.delete()
    finally:
        airlockd.api("DELETE", "/v1/sandboxgroups/" + g)


def test_exec_tty(sb):
    r = sb.exec("tty; echo hi", tty=True)
    assert r["exitCode"] == 0, r
    assert "/dev/pts/" in r["stdout"] and "hi" in r["stdout"]


def test_exec_missing_command(airlockd, sb, host_unchanged):
    st, r = airlockd.api("POST", sb.base + "/exec", {"command": ["/no/such/binary"]})
    # either the agent reports it as a failed start (4xx) or the shell convention 127
    assert (st == 200 and r["exitCode"] in (126, 127)) or 400 <= st < 500, (st, r)
    ev = stream_exec(airlockd, sb, {"command": ["/no/such/binary"], "stream": True})
    assert ev[-1]["type"] in ("exit", "error"), ev
    if ev[-1]["type"] == "error":
        assert set(ev[-1]["error"]) == {"code", "message"}
    assert list(ev[-1])[0] == "type"


def test_delete_when_sandbox_cannot_fork(airlockd):
    """A sandbox at its pids limit cannot run the kill that ends execs: delete still ends."""
    g = new_group(airlockd, resources={"pids": 16})
    try:
        sb, _ = sandbox_or_skip(airlockd, g)
        result = {}

        def run():
            result["r"] = airlockd.api(
                "POST", sb.base + "/exec",
                {"command": ["sh", "-c", "while :; do sleep 100 & done"], "timeout": 300},
                timeout=200)
        t = threading.Thread(target=run)
        t.start()
        time.sleep(2)
        t0 = time.time()
        assert sb.delete() == 204
        assert time.time() - t0 < 30
        t.join(60)
        assert not t.is_alive()
        assert sandbox_processes(sb.id) == []
        assert cgroup_dirs(sb.id) == []
    finally:
        airlockd.api("DELETE", "/v1/sandboxgroups/" + g)


def test_stats(airlockd, sb):
    sb.exec("head -c 5000000 /dev/zero > /tmp/blob")
    st, r = airlockd.api("GET", sb.base + "/stats")
    assert st == 200, r
    assert set(r) == {"memoryBytes", "cpuUsec", "pids", "diskBytes", "cpuClass"}
    assert r["pids"] >= 1 and r["memoryBytes"] > 0 and r["cpuUsec"] > 0
    assert r["cpuClass"] == "normal"  # test_cpu_class.py: when it is "background"


MEM_HOG = "x=a; while :; do x=$x$x$x$x; done"


@pytest.fixture
def small_memory(airlockd):
    """A sandbox limited to 64 MiB of memory."""
    g = new_group(airlockd, resources={"memoryMiB": 64})
    sb, _ = sandbox_or_skip(airlockd, g)
    yield sb
    sb.delete()
    airlockd.api("DELETE", "/v1/sandboxgroups/" + g)


def test_exec_memory_bomb_keeps_sandbox(airlockd, small_memory):
    """An exec that allocates past the memory limit is OOM-killed by the sandbox's memory
    cgroup; the sandbox (its agent) keeps running and is not marked oom_killed."""
    sb = small_memory
    assert oom_kills(sb.id) == 0
    r = sb.exec(["sh", "-c", MEM_HOG], timeout=60)
    assert r["timedOut"] is False and r["signal"] == 9, r
    assert oom_kills(sb.id) >= 1  # control: it was the memory cgroup that killed it
    st, g = airlockd.api("GET", sb.base)
    assert g["state"] == "running" and g["reason"] is None, g
    assert sb.exec("echo alive")["stdout"] == "alive\n"
    st, g = airlockd.api("GET", sb.base)
    assert g["state"] == "running" and g["reason"] is None, g


def test_oom_killed_init_marks_failed_oom(airlockd, small_memory):
    """When the sandbox's memory cgroup OOM-kills its PID 1 (the agent: every process of the
    sandbox goes with it), the sandbox is failed with reason oom_killed.

    The kernel kills the process with the highest badness (resident memory, plus
    oom_score_adj in thousandths of the limit).  To make that the agent: half the limit is
    held by /dev/shm (charged to the cgroup, resident in no process), the agent's
    oom_score_adj is raised to 1000 from the host after the hog was forked (the hog keeps 0),
    and then the hog allocates past the limit: the hog's badness stays under half the limit,
    the agent's is the whole limit plus its own pages."""
    sb = small_memory
    init = sandbox_init(sb.id)
    assert init, "cannot find the sandbox's init from the host"
    r = sb.exec("head -c %d /dev/zero > /dev/shm/fill && echo held" % (30 << 20))
    assert r["stdout"] == "held\n", r
    result = {}

    def run():
        result["r"] = airlockd.api("POST", sb.base + "/exec", {
            "command": ["sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; " + MEM_HOG],
            "timeout": 60}, timeout=90)
    t = threading.Thread(target=run)
    t.start()
    deadline = time.time() + 20
    while time.time() < deadline and len(sandbox_processes(sb.id)) < 2:
        time.sleep(0.05)
    assert len(sandbox_processes(sb.id)) >= 2, "the hog's shell never started"
    with open("/proc/%d/oom_score_adj" % init, "w") as f:
        f.write("1000")
    sb.put("/tmp/go", b"")
    t.join(90)
    assert not t.is_alive()
    st, r = result["r"]
    assert st != 200 or r.get("signal") == 9, (st, r)  # the exec did not complete normally
    assert oom_kills(sb.id) >= 1  # control: the memory cgroup killed something ...
    assert not alive(init)  # ... and that was the agent
    g = wait_not_running(airlockd, sb)
    assert g["state"] == "failed" and g["reason"] == "oom_killed", g


def test_agent_killed_after_exec_oom_is_error(airlockd, small_memory):
    """An earlier OOM kill of an exec is not the cause of a later death of the agent: killed
    from the host with SIGKILL, the sandbox is failed with reason error, not oom_killed."""
    sb = small_memory
    r = sb.exec(["sh", "-c", MEM_HOG], timeout=60)
    assert r["signal"] == 9 and oom_kills(sb.id) >= 1, r
    assert sb.exec("echo alive")["stdout"] == "alive\n"
    init = sandbox_init(sb.id)
    assert init
    os.kill(init, 9)
    g = wait_not_running(airlockd, sb)
    assert g["state"] == "failed" and g["reason"] == "error", g
