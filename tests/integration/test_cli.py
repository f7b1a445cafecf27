"""The real `airlock` CLI binary against the real daemon: commands, --json, exit codes."""
import json
import os
import secrets
import socket
import subprocess
import tempfile

import pytest

from conftest import binary, free_port, new_group

CLI = os.environ.get("AIRLOCK_CLI") or binary("airlock")
pytestmark = pytest.mark.skipif(CLI is None, reason="airlock CLI not built")


def run_cli(args, url=None, key=None, input=None, env=None, timeout=180, conn=True, stderr=None):
    cmd = [CLI]
    if conn:
        if url:
            cmd += ["--url", url]
        if key is not None:
            cmd += ["--key", key]
    cmd += list(args)
    e = dict(os.environ)
    for k in ("AIRLOCK_URL", "AIRLOCK_KEY", "AIRLOCK_STATE_DIR"):
        e.pop(k, None)
    e.update(env or {})
    if stderr is None:
        return subprocess.run(cmd, input=input, capture_output=True, timeout=timeout, env=e,
                              cwd=tempfile.gettempdir())
    return subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=stderr,
                          timeout=timeout, env=e, cwd=tempfile.gettempdir())


@pytest.fixture
def cli(airlockd):
    def call(*args, key=None, **kw):
        return run_cli(args, url=airlockd.url, key=airlockd.admin_key if key is None else key,
                       **kw)
    return call


# --- without a daemon ---------------------------------------------------------------------

COMMANDS = [("group", c) for c in ("create", "ls", "get", "rm")] + \
    [("sandbox", c) for c in ("create", "ls", "get", "rm", "exec", "cp")] + [("run",)] + \
    [("image", c) for c in ("pull", "import", "ls", "rm")] + \
    [("key", c) for c in ("create", "ls", "rm")]


def test_help_everywhere():
    for args in (["--help"], ["group", "--help"], ["sandbox", "--help"], ["image", "--help"],
                 ["key", "--help"], ["sandbox", "cp", "-h"]):
        r = run_cli(args, conn=False)
        assert r.returncode == 0, (args, r.stderr)
        assert b"usage: airlock" in r.stdout, args
    # every command has its own help, which names it, and its help needs no daemon
    for cmd in COMMANDS:
        r = run_cli(list(cmd) + ["--help"], conn=False)
        assert r.returncode == 0, (cmd, r.stderr)
        assert r.stdout.startswith(b"usage: airlock " + " ".join(cmd).encode() + b" "), \
            (cmd, r.stdout[:200])
        assert b"Global options:" in r.stdout, cmd


def test_usage_errors_exit_2():
    for args in ([], ["group"], ["nope"], ["group", "create"], ["group", "ls", "--bogus"],
                 ["sandbox", "exec", "g", "0" * 32], ["sandbox", "cp", "g", "a", "b"],
                 ["group", "create", "g", "--env", "NOEQUALS"],
                 ["sandbox", "exec", "g", "0" * 32, "--timeout", "abc", "--", "true"]):
        r = run_cli(args, url="http://127.0.0.1:9", key="x")
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert r.stderr, args


def test_unreachable_daemon_exit_3():
    port = free_port()  # nothing listens there
    r = run_cli(["group", "ls"], url="http://127.0.0.1:%d" % port, key="x")
    assert r.returncode == 3, r
    assert b"cannot reach airlockd" in r.stderr
    with tempfile.TemporaryDirectory() as d:
        r = run_cli(["--state-dir", d, "group", "ls"], conn=False)
        assert r.returncode == 3, r
        r = run_cli(["group", "ls"], conn=False, env={"AIRLOCK_URL": "unix:" + d + "/none.sock"})
        assert r.returncode == 3, r


def test_garbage_server_is_not_success():
    """A server that is not airlockd (here: closes at once) must not look like success."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        p = subprocess.Popen([CLI, "--url", "http://127.0.0.1:%d" % port, "--key", "x",
                              "group", "ls"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        c, _ = s.accept()
        c.close()
        out, err = p.communicate(timeout=30)
    assert p.returncode in (1, 3), (p.returncode, err)


# --- against the daemon -------------------------------------------------------------------

def test_group_create_ls_get_rm(cli, airlockd):
    name = "g-" + secrets.token_hex(4)
    r = cli("group", "create", name, "--image", "busybox", "--tier", "S", "--env", "A=1",
            "--label", "team=cli")
    assert r.returncode == 0, r.stderr
    try:
        r = cli("group", "ls")
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(b"NAME"), r.stdout
        assert name.encode() in r.stdout
        r = cli("group", "ls", "--json")
        assert r.returncode == 0
        names = [g["name"] for g in json.loads(r.stdout)["groups"]]
        assert name in names
        r = cli("--json", "group", "get", name)
        g = json.loads(r.stdout)
        assert g["tier"] == "S" and g["env"] == {"A": "1"} and g["labels"] == {"team": "cli"}
        st, g2 = airlockd.api("GET", "/v1/sandboxgroups/" + name)
        assert st == 200 and g2["image"] == "busybox"
    finally:
        r = cli("group", "rm", name)
    assert r.returncode == 0, r.stderr
    r = cli("group", "get", name)
    assert r.returncode == 1
    assert b"NotFound" in r.stderr


def test_api_error_exit_1(cli):
    r = cli("group", "create", "Bad_Name!")
    assert r.returncode == 1, r
    assert r.stderr.startswith(b"airlock: "), r.stderr
    r = cli("sandbox", "get", "g-" + secrets.token_hex(4), "0" * 32)
    assert r.returncode == 1
    assert b"NotFound" in r.stderr
    r = cli("sandbox", "exec", "g-" + secrets.token_hex(4), "0" * 32, "--", "true")
    assert r.returncode == 1 and b"NotFound" in r.stderr


def test_exec_missing_sandbox(cli, group):
    r = cli("sandbox", "exec", group, "0" * 32, "--", "true")
    assert r.returncode == 1 and b"NotFound" in r.stderr, r
    r = cli("sandbox", "cp", group, "/etc/hostname", "%s:/tmp/x" % ("0" * 32))
    assert r.returncode == 1, r


def test_wrong_key_exit_1(airlockd):
    r = run_cli(["group", "ls"], url=airlockd.url, key="not-a-key")
    assert r.returncode == 1, r
    assert b"Unauthorized" in r.stderr
    r = run_cli(["group", "ls"], url=airlockd.url, key="")
    assert r.returncode == 1


def test_sandbox_create_exec_rm(cli, group, airlockd):
    r = cli("sandbox", "create", group, "--label", "role=test")
    assert r.returncode == 0, r.stderr
    sid = r.stdout.decode().strip()
    assert len(sid) == 32
    try:
        r = cli("sandbox", "ls", group)
        assert sid.encode() in r.stdout
        r = cli("sandbox", "ls", group, "--label", "role=test", "--json")
        assert [s["id"] for s in json.loads(r.stdout)["sandboxes"]] == [sid]
        r = cli("sandbox", "ls", group, "--label", "role=other", "--json")
        assert json.loads(r.stdout)["sandboxes"] == []
        r = cli("sandbox", "get", group, sid, "--json")
        assert json.loads(r.stdout)["state"] == "running"

        r = cli("sandbox", "exec", group, sid, "--", "sh", "-c", "echo out; echo err >&2; exit 7")
        assert r.returncode == 7
        assert r.stdout == b"out\n"
        assert r.stderr == b"err\n"
        r = cli("sandbox", "exec", group, sid, "-e", "FOO=bar", "--cwd", "/tmp", "--",
                "sh", "-c", 'echo "$FOO $(pwd)"')
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"bar /tmp\n"
        r = cli("sandbox", "exec", group, sid, "--stream", "--", "sh", "-c",
                "echo one; echo two >&2; exit 3")
        assert r.returncode == 3
        assert r.stdout == b"one\n" and r.stderr == b"two\n"
        r = cli("sandbox", "exec", group, sid, "--json", "--", "sh", "-c", "echo j; exit 4")
        assert r.returncode == 4
        res = json.loads(r.stdout)
        assert res["exitCode"] == 4 and res["stdout"] == "j\n"
        r = cli("sandbox", "exec", group, sid, "--stdin", "--", "cat", input=b"piped\n")
        assert r.returncode == 0 and r.stdout == b"piped\n"
        r = cli("sandbox", "exec", group, sid, "--timeout", "1", "--", "sleep", "30")
        assert r.returncode == 124, r
        r = cli("sandbox", "exec", group, sid, "--", "sh", "-c", "kill -9 $$")
        assert r.returncode == 137, r
        for extra in ([], ["--stream"]):
            r = cli("sandbox", "exec", group, sid, *extra, "--", "/nonexistent")
            assert r.returncode == 127, (extra, r)
            assert b"nonexistent" in r.stderr
        r = cli("sandbox", "exec", group, sid, "--cwd", "relative", "--", "true")
        assert r.returncode == 1 and b"InvalidArgument" in r.stderr
        # no "--": the words after GROUP ID are the command, options included
        r = cli("sandbox", "exec", group, sid, "echo", "--json")
        assert r.returncode == 0 and r.stdout == b"--json\n"
    finally:
        r = cli("sandbox", "rm", group, sid)
    assert r.returncode == 0, r.stderr
    r = cli("sandbox", "get", group, sid, "--json")
    if r.returncode == 0:  # a deleted sandbox may still be listed in a terminal state
        assert json.loads(r.stdout)["state"] in ("deleting", "deleted")
    else:
        assert r.returncode == 1


def test_run(cli, group, airlockd):
    r = cli("run", group, "--", "sh", "-c", "echo ran; exit 5")
    assert r.returncode == 5, r.stderr
    assert r.stdout == b"ran\n"
    r = cli("run", group, "--image", "busybox", "--", "true")
    assert r.returncode == 0, r.stderr
    st, body = airlockd.api("GET", "/v1/sandboxgroups/%s/sandboxes" % group)
    live = [s for s in body["sandboxes"] if s["state"] not in ("deleted", "deleting")]
    assert live == [], live


def test_run_missing_group(fresh_daemon):
    d = fresh_daemon()  # its own daemon: a crash here must not take the others down
    r = run_cli(["run", "g-" + secrets.token_hex(4), "--", "true"], url=d.url, key=d.admin_key)
    assert r.returncode == 1 and b"NotFound" in r.stderr, r
    r = run_cli(["sandbox", "create", "g-" + secrets.token_hex(4)], url=d.url, key=d.admin_key)
    assert r.returncode == 1 and b"NotFound" in r.stderr, r


def test_cp_both_ways(cli, sandbox, tmp_path):
    src = tmp_path / "hello.txt"
    data = os.urandom(200000) + b"end"
    src.write_bytes(data)
    os.chmod(src, 0o640)
    r = cli("sandbox", "cp", sandbox.group, str(src), "%s:/tmp/up.bin" % sandbox.id)
    assert r.returncode == 0, r.stderr
    assert sandbox.get("/tmp/up.bin") == data
    r = sandbox.exec("stat -c %a /tmp/up.bin")
    assert r["stdout"].strip() == "640"
    # into an existing directory: keeps the file name
    r = cli("sandbox", "cp", sandbox.group, str(src), "%s:/tmp/" % sandbox.id)
    assert r.returncode == 0, r.stderr
    assert sandbox.get("/tmp/hello.txt") == data
    # download
    sandbox.put("/tmp/down.txt", b"from the sandbox\n")
    dst = tmp_path / "down.txt"
    r = cli("sandbox", "cp", sandbox.group, "%s:/tmp/down.txt" % sandbox.id, str(dst))
    assert r.returncode == 0, r.stderr
    assert dst.read_bytes() == b"from the sandbox\n"
    r = cli("sandbox", "cp", sandbox.group, "%s:/tmp/down.txt" % sandbox.id, "-")
    assert r.returncode == 0 and r.stdout == b"from the sandbox\n"
    r = cli("sandbox", "cp", sandbox.group, "-", "%s:/tmp/stdin.txt" % sandbox.id,
            input=b"stdin data")
    assert r.returncode == 0, r.stderr
    assert sandbox.get("/tmp/stdin.txt") == b"stdin data"
    # missing remote file
    r = cli("sandbox", "cp", sandbox.group, "%s:/tmp/none" % sandbox.id, str(tmp_path / "x"))
    assert r.returncode == 1
    assert not (tmp_path / "x").exists()


def test_cp_directories(cli, sandbox, tmp_path):
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_bytes(b"A")
    (tree / "sub" / "b.txt").write_bytes(b"B")
    r = cli("sandbox", "cp", sandbox.group, str(tree), "%s:/tmp/up" % sandbox.id)
    assert r.returncode == 0, r.stderr
    assert sandbox.get("/tmp/up/a.txt") == b"A"
    assert sandbox.get("/tmp/up/sub/b.txt") == b"B"
    out = tmp_path / "out"
    r = cli("sandbox", "cp", sandbox.group, "%s:/tmp/up" % sandbox.id, str(out))
    assert r.returncode == 0, r.stderr
    assert (out / "a.txt").read_bytes() == b"A"
    os.chmod(tree / "sub", 0o700)
    r = cli("sandbox", "cp", sandbox.group, str(tree), "%s:/tmp/up2" % sandbox.id)
    assert r.returncode == 0, r.stderr
    assert sandbox.exec("stat -c %a /tmp/up2/sub")["stdout"].strip() == "700"
    assert (out / "sub" / "b.txt").read_bytes() == b"B"


def test_json_output_parses(cli, sandbox):
    for args in (["group", "ls"], ["group", "get", sandbox.group], ["sandbox", "ls", sandbox.group],
                 ["sandbox", "get", sandbox.group, sandbox.id], ["image", "ls"], ["key", "ls"]):
        r = cli("--json", *args)
        assert r.returncode == 0, (args, r.stderr)
        assert isinstance(json.loads(r.stdout), dict), args
    r = cli("image", "ls", "--json")
    assert "busybox" in [i["name"] for i in json.loads(r.stdout)["images"]]


def test_socket_and_state_dir(airlockd):
    r = run_cli(["--socket", airlockd.sock, "--key", airlockd.admin_key, "group", "ls"],
                conn=False)
    assert r.returncode == 0, r.stderr
    r = run_cli(["--state-dir", airlockd.state_dir, "group", "ls", "--json"], conn=False)
    assert r.returncode == 0, r.stderr
    json.loads(r.stdout)
    r = run_cli(["group", "ls"], conn=False, env={"AIRLOCK_STATE_DIR": airlockd.state_dir})
    assert r.returncode == 0, r.stderr
    r = run_cli(["group", "ls"], conn=False,
                env={"AIRLOCK_URL": airlockd.url, "AIRLOCK_KEY": airlockd.admin_key})
    assert r.returncode == 0, r.stderr
    r = run_cli(["group", "ls"], conn=False,
                env={"AIRLOCK_URL": airlockd.url, "AIRLOCK_KEY": "wrong"})
    assert r.returncode == 1


def test_keys(cli, airlockd):
    tenant = "t-" + secrets.token_hex(4)
    r = cli("key", "create", tenant, "--json")
    assert r.returncode == 0, r.stderr
    k = json.loads(r.stdout)
    assert k["tenant"] == tenant and k["admin"] is False
    r = run_cli(["group", "ls", "--json"], url=airlockd.url, key=k["key"])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["groups"] == []
    r = run_cli(["key", "ls"], url=airlockd.url, key=k["key"])
    assert r.returncode == 1  # not an admin key
    r = cli("key", "ls")
    assert r.returncode == 0 and k["id"].encode() in r.stdout
    r = cli("key", "rm", k["id"])
    assert r.returncode == 0, r.stderr
    r = run_cli(["group", "ls"], url=airlockd.url, key=k["key"])
    assert r.returncode == 1 and b"Unauthorized" in r.stderr


def test_tenant_isolation_via_cli(cli, airlockd, tenant_key):
    name = new_group(airlockd)
    try:
        r = run_cli(["group", "get", name], url=airlockd.url, key=tenant_key)
        assert r.returncode == 1 and b"NotFound" in r.stderr
    finally:
        airlockd.api("DELETE", "/v1/sandboxgroups/" + name)


# --- images -------------------------------------------------------------------------------

try:  # the image engineer's registry harness (docker-registry + skopeo)
    from imgtool import busybox_layout  # noqa: F401
    from registry_fakes import Registry, skopeo_push
except Exception:  # pragma: no cover
    Registry = None

CACHE_LAYOUT = "/var/cache/airlock/images/busybox"


def oci_archive(layout, path):
    if not os.path.exists(os.path.join(layout, "index.json")):
        pytest.skip("no built-in busybox layout in %s (scripts/build-images.sh)" % layout)
    subprocess.run(["tar", "-C", layout, "-cf", str(path), "oci-layout", "index.json", "blobs"],
                   check=True)
    return str(path)


def test_image_import_ls_rm(cli, tmp_path):
    tar = oci_archive(CACHE_LAYOUT, tmp_path / "cli-imported.tar")
    r = cli("image", "import", tar)  # name derived from the file name
    assert r.returncode == 0, r.stderr
    assert b"cli-imported" in r.stdout
    r = cli("image", "ls", "--json")
    names = [i["name"] for i in json.loads(r.stdout)["images"]]
    assert "cli-imported" in names
    r = cli("image", "import", tar, "--name", "cli-named", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["name"] == "cli-named"
    for n in ("cli-imported", "cli-named"):
        r = cli("image", "rm", n)
        assert r.returncode == 0, r.stderr
    r = cli("image", "rm", "cli-named")
    assert r.returncode == 1 and b"NotFound" in r.stderr
    bad = tmp_path / "junk.tar"
    bad.write_bytes(b"not a tar at all" * 100)
    r = cli("image", "import", str(bad))
    assert r.returncode == 1, r


def pull_on_tty(cli, *args):
    """Run `airlock image pull ARGS` with stderr on a pseudo-terminal; returns what it drew."""
    import pty
    master, slave = pty.openpty()
    try:
        with open(slave, "wb", closefd=False) as tty:
            r = cli("image", "pull", *args, stderr=tty)
        assert r.returncode == 0, r
        out = b""
        os.set_blocking(master, False)
        while True:
            try:
                chunk = os.read(master, 65536)
            except (BlockingIOError, OSError):
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.skipif(Registry is None, reason="registry harness unavailable")
def test_image_pull(cli, busybox_layout):  # noqa: F811
    reg = Registry()
    try:
        skopeo_push(busybox_layout, reg.host + "/cli/bb:v1")
        r = cli("image", "pull", reg.host + "/cli/bb:v1", "--name", "cli-pulled")
        assert r.returncode == 0, r.stderr
        assert b"cli-pulled" in r.stdout
        assert b"\r" not in r.stderr  # no progress bar when stderr is not a terminal
        # on a terminal: a bar redrawn in place, ending at 100%
        assert cli("image", "rm", "cli-pulled").returncode == 0
        out = pull_on_tty(cli, reg.host + "/cli/bb:v1", "--name", "cli-pulled")
        assert b"\r\x1b[K[" in out and b"] 100% " in out, out[-400:]
        r = cli("image", "ls", "--json")
        assert "cli-pulled" in [i["name"] for i in json.loads(r.stdout)["images"]]
        r = cli("run", "g-none-" + secrets.token_hex(2), "--image", "cli-pulled", "--", "true")
        assert r.returncode == 1  # no such group: still an API error, not a crash
        r = cli("image", "pull", reg.host + "/cli/missing:v1")
        assert r.returncode == 1 and r.stderr.startswith(b"airlock: "), r
        r = cli("image", "rm", "cli-pulled")
        assert r.returncode == 0, r.stderr
        # the default name is the reference itself, with '/' and ':' in it
        ref = reg.host + "/cli/bb:v1"
        r = cli("image", "pull", ref, "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["name"] == ref
        r = cli("image", "rm", ref)
        assert r.returncode == 0, r.stderr
        r = cli("image", "ls", "--json")
        assert ref not in [i["name"] for i in json.loads(r.stdout)["images"]]
    finally:
        reg.cleanup()


def test_run_interrupted_deletes_its_sandbox(airlockd, group):
    import signal
    import time
    p = subprocess.Popen([CLI, "--url", airlockd.url, "--key", airlockd.admin_key, "run", group,
                          "--", "sleep", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:  # wait until the sandbox exists
        st, body = airlockd.api("GET", "/v1/sandboxgroups/%s/sandboxes" % group)
        if [s for s in body["sandboxes"] if s["state"] == "running"]:
            break
        time.sleep(0.1)
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, (p.returncode, err)
    st, body = airlockd.api("GET", "/v1/sandboxgroups/%s/sandboxes" % group)
    live = [s for s in body["sandboxes"] if s["state"] not in ("deleted", "deleting")]
    assert live == [], live


def test_exec_stream_is_incremental(airlockd, sandbox):
    import time
    p = subprocess.Popen([CLI, "--url", airlockd.url, "--key", airlockd.admin_key, "sandbox",
                          "exec", sandbox.group, sandbox.id, "--stream", "--", "sh", "-c",
                          "echo first; sleep 3; echo second"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t0 = time.time()
    line = p.stdout.readline()
    t_first = time.time() - t0
    rest, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert line == b"first\n" and rest == b"second\n"
    assert t_first < 2.5, "first line arrived only after %.1fs: not streamed" % t_first
