"""Namespace backend, driven through the rt-run debug tool (no daemon needed).

rt-run creates a sandbox from a busybox layer, prints {"created": {...}}, runs one command,
prints the result as a JSON line, and destroys the sandbox.  Each test checks one isolation or
resource property from the host side or from inside.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import BUILD

RT_RUN = os.path.join(BUILD, "src", "runtime", "rt-run")
PROBE = os.path.join(BUILD, "tests", "unit", "runtime", "rt-probe")
AGENT = os.path.join(BUILD, "src", "agent", "airlock-init")
BUSYBOX = shutil.which("busybox") or "/bin/busybox"


def is_static(path):
    """No PT_INTERP program header: runs inside a sandbox without a libc."""
    import struct
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:
            return False
        phoff, = struct.unpack_from("<Q", head, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
    return all(struct.unpack_from("<I", ph, i * phentsize)[0] != 3 for i in range(phnum))


def _need():
    if os.geteuid() != 0:
        pytest.skip("namespace backend tests run as root")
    for p in (RT_RUN, PROBE, AGENT):
        if not os.path.exists(p):
            pytest.skip("%s not built" % p)
    for p in (PROBE, AGENT):
        if not is_static(p):
            pytest.skip("%s is not static (sanitizer build): cannot run inside a sandbox" % p)
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static not installed")
    r = subprocess.run([RT_RUN, "--check"], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("host cannot run the namespace backend: " + r.stderr.strip())


@pytest.fixture(scope="module")
def layer():
    _need()
    d = tempfile.mkdtemp(prefix="rt-layer-")
    for sub in ("bin", "etc", "root", "tmp", "mnt", "proc", "dev", "sys"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    os.chmod(os.path.join(d, "tmp"), 0o1777)
    shutil.copy(BUSYBOX, os.path.join(d, "bin", "busybox"))
    shutil.copy(PROBE, os.path.join(d, "bin", "rt-probe"))
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True).stdout.split()
    for a in applets:
        if a != "busybox":
            os.symlink("busybox", os.path.join(d, "bin", a))
    with open(os.path.join(d, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n")
    with open(os.path.join(d, "etc", "group"), "w") as f:
        f.write("root:x:0:\ntty:x:5:\nnobody:x:65534:\n")
    yield d
    shutil.rmtree(d)


def lines(out):
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


def run(layer, cmd, *opts, input=None, timeout=60, expect_created=True):
    if isinstance(cmd, str):
        cmd = ["sh", "-c", cmd]
    args = [RT_RUN] + list(opts) + (["--stdin"] if input is not None else []) + [layer, "--"] + cmd
    p = subprocess.run(args, input=input, capture_output=True, timeout=timeout)
    out = lines(p.stdout.decode())
    if expect_created:
        assert out and "created" in out[0], (p.stdout, p.stderr)
        return out[0]["created"], out[1:], p
    return None, out, p


def one(layer, cmd, *opts, **kw):
    created, res, p = run(layer, cmd, *opts, **kw)
    assert len(res) == 1 and "exitCode" in res[0], (res, p.stderr)
    return res[0]


def cgroup_dirs(sid):
    out = []
    for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/memory",
                 "/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/freezer"):
        p = os.path.join(root, "airlock", sid)
        if os.path.exists(p):
            out.append(p)
    return out


def test_host_check_probes_idmap_where_the_layers_live():
    """Only image layers are mounted idmapped: the probe runs on the directory that holds
    them (the daemon's state dir), not on "/", which may be a 9p or NFS root that cannot."""
    _need()
    d = tempfile.mkdtemp(prefix="rt-check-")
    try:
        r = subprocess.run([RT_RUN, "--check", d], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("ok cgroups="), r.stdout
    finally:
        os.rmdir(d)
    # procfs cannot be idmapped: the failure names the probed directory
    r = subprocess.run([RT_RUN, "--check", "/proc"], capture_output=True, text=True)
    assert r.returncode == 1
    assert "idmapped mounts on the filesystem of /proc" in r.stderr, r.stderr


def test_exec_exit_code_and_streams(layer):
    r = one(layer, "echo out; echo err >&2; exit 7")
    assert r["exitCode"] == 7 and r["signal"] == 0
    assert r["stdout"] == "out\n"
    assert r["stderr"] == "err\n"


def test_stdin_is_passed(layer):
    r = one(layer, ["cat"], input=b"hello from stdin")
    assert r["exitCode"] == 0
    assert r["stdout"] == "hello from stdin"


def test_concurrent_execs(layer):
    created, res, p = run(layer, "sleep 0.3; echo done", "--parallel", "6")
    assert len(res) == 6, (res, p.stderr)
    assert all(r["exitCode"] == 0 and r["stdout"] == "done\n" for r in res)


def test_uid_mapping_and_pid1_from_host(layer):
    base = 1500000000
    p = subprocess.Popen([RT_RUN, "--uid-base", str(base), layer, "--", "sleep", "3"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        created = json.loads(p.stdout.readline())["created"]
        pid = created["pid"]
        with open("/proc/%d/status" % pid) as f:
            st = f.read()
        uids = [l for l in st.splitlines() if l.startswith("Uid:")][0].split()[1:]
        assert all(int(u) == base for u in uids), st
        nspid = [l for l in st.splitlines() if l.startswith("NSpid:")][0].split()[1:]
        assert nspid == [str(pid), "1"], nspid
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            assert f.read().split(b"\0")[0] == b"airlock-init"
        # the user command runs with a mapped uid too, never host root
        deadline = time.time() + 5
        others = []
        while time.time() < deadline and not others:
            procs = open(os.path.join(cgroup_dirs(created["id"])[0], "cgroup.procs")).read()
            others = [int(x) for x in procs.split() if int(x) != pid]
            time.sleep(0.05)
        assert others
        for o in others:
            with open("/proc/%d/status" % o) as f:
                u = [l for l in f.read().splitlines() if l.startswith("Uid:")][0].split()[1:]
            assert all(base <= int(x) < base + 65536 for x in u), u
    finally:
        p.wait(30)


def test_uid_inside_is_root(layer):
    r = one(layer, "id -u; cat /proc/self/uid_map")
    lines_ = r["stdout"].split("\n")
    assert lines_[0] == "0"
    assert lines_[1].split()[:3] != ["0", "0", "4294967295"]


def test_pid_namespace(layer):
    r = one(layer, "ls /proc | grep -E '^[0-9]+$'; echo self=$$")
    pids = [int(x) for x in r["stdout"].split() if x.isdigit()]
    assert pids and max(pids) < 100, r
    r = one(layer, "ps -o pid,comm")
    assert len(r["stdout"].strip().splitlines()) <= 4, r["stdout"]


def test_hostname_is_id(layer):
    created, res, p = run(layer, "hostname", "--id", "hostnametest1")
    assert res[0]["stdout"].strip() == "hostnametest1"


def test_no_host_sysfs(layer):
    r = one(layer, "ls -A /sys | wc -l; ls /sys/class 2>&1; touch /sys/x 2>&1; echo end")
    out = r["stdout"].splitlines()
    assert out[0].strip() == "0"
    assert "No such file" in out[1]
    assert "Read-only" in out[2] or "ermission" in out[2]


def test_minimal_dev(layer):
    r = one(layer, "ls /dev")
    names = set(r["stdout"].split())
    assert {"null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm"} <= names
    assert not names & {"sda", "vda", "mem", "kmem", "kmsg", "port", "loop0"}
    r = one(layer, "echo x > /dev/null && head -c 4 /dev/urandom | wc -c")
    assert r["stdout"].strip() == "4"


def test_proc_is_private_subset(layer):
    r = one(layer, "test -e /proc/kcore && echo kcore; test -e /proc/sysrq-trigger && echo sysrq;"
                   " test -e /proc/self/status && echo self")
    assert r["stdout"].split() == ["self"]


def test_loopback_only(layer):
    r = one(layer, "cat /proc/self/net/dev; echo ---; ip link show lo")
    dev, link = r["stdout"].split("---\n")
    ifaces = [l.split(":")[0].strip() for l in dev.splitlines()[2:]]
    assert ifaces == ["lo"], dev
    assert "UP" in link.split(">")[0], link


def test_agent_not_writable(layer):
    r = one(layer, "echo x > /.airlock/init; echo rc=$?; touch /.airlock/new; echo rc=$?")
    assert "rc=0" not in r["stdout"], r


@pytest.mark.security
def test_escape_syscalls_refused(layer):
    r = one(layer, ["rt-probe", "escapes"])
    res = dict(l.split() for l in r["stdout"].splitlines())
    allowed = {"clone3": "ENOSYS", "mknod_fifo": "ok", "personality_linux": "ok", "getpid": "ok",
               "socket_vsock": "EAFNOSUPPORT", "socket_alg": "EAFNOSUPPORT",
               "bind_ipv6_loopback": "EADDRNOTAVAIL"}
    for name, got in res.items():
        want = allowed.get(name, "EPERM")
        if name == "x32_getpid" and got == "ENOSYS":
            continue  # kernel without x32 support refuses it by itself
        assert got == want, (name, got, r["stdout"])
    for must in ("mount", "unshare_user", "ptrace_attach", "keyctl", "bpf", "io_uring_setup",
                 "tiocsti", "i386_getpid", "socket_vsock", "bind_ipv6_loopback"):
        assert must in res


@pytest.mark.security
def test_busybox_mount_and_unshare_fail(layer):
    r = one(layer, "mount -t tmpfs x /mnt; echo mount=$?; unshare -U -r true; echo unshare=$?")
    assert "mount=0" not in r["stdout"] and "unshare=0" not in r["stdout"], r


def test_no_capabilities_for_user_code(layer):
    r = one(layer, "grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status")
    st = dict(l.split(":\t") for l in r["stdout"].splitlines())
    assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0
    assert st["NoNewPrivs"] == "1" and st["Seccomp"] == "2"


def test_memory_limit_kills_inside(layer):
    r = one(layer, ["rt-probe", "alloc", "300"], "--mem", "64M")
    assert r["signal"] == 9 and r["exitCode"] == -1, r
    assert r["alive"], "the agent survives an OOM of user code"


def test_pids_limit_bounds_fork_bomb(layer):
    r = one(layer, ["rt-probe", "forkbomb"], "--pids", "24")
    out = r["stdout"].split()
    assert out[0] == "forked" and int(out[1]) < 24 and out[3] == "EAGAIN", r


def test_disk_quota(layer):
    r = one(layer, "dd if=/dev/zero of=/tmp/big bs=1M count=64 2>&1; stat -c %s /tmp/big",
            "--disk", "8M")
    assert "No space left on device" in r["stdout"], r
    assert int(r["stdout"].split()[-1]) <= 8 << 20
    assert r["stats"]["diskBytes"] >= 4 << 20


def test_inode_quota(layer):
    r = one(layer, "i=0; while [ $i -lt 500 ]; do touch /tmp/f$i || break; i=$((i+1)); done;"
                   " echo made=$i", "--inodes", "100")
    made = int(r["stdout"].split("made=")[1])
    assert 0 < made < 100, r


def test_cpu_quota_applied(layer):
    created, res, p = run(layer, "true", "--cpu", "250")
    # the limit lives only as long as the sandbox: check it from inside a running one instead
    pr = subprocess.Popen([RT_RUN, "--cpu", "250", layer, "--", "sleep", "2"],
                          stdout=subprocess.PIPE, text=True)
    try:
        c = json.loads(pr.stdout.readline())["created"]
        dirs = cgroup_dirs(c["id"])
        vals = []
        for d in dirs:
            for f in ("cpu.max", "cpu.cfs_quota_us"):
                fp = os.path.join(d, f)
                if os.path.exists(fp):
                    vals.append(open(fp).read().split()[0])
        assert "25000" in vals, (dirs, vals)
    finally:
        pr.wait(30)


def test_destroy_leaves_nothing(layer):
    created, res, p = run(layer, "echo hi > /tmp/x; sleep 0.1 & true")
    assert p.returncode == 0, p.stderr
    d = created["dir"]
    assert not os.path.exists(d)
    with open("/proc/self/mountinfo") as f:
        assert d not in f.read()
    assert cgroup_dirs(created["id"]) == []
    assert not os.path.exists("/proc/%d" % created["pid"]) or \
        open("/proc/%d/status" % created["pid"]).read().find("airlock-init") < 0


def test_failed_create_leaves_nothing(layer):
    sid = "failtest%d" % os.getpid()
    created, res, p = run("/nonexistent-layer", "true", "--id", sid, expect_created=False)
    assert p.returncode == 1
    assert "error" in res[0] and "layer" in res[0]["error"]["message"], res
    assert cgroup_dirs(sid) == []
    leftovers = [e for e in os.listdir("/tmp") if e.startswith("rt-run-")]
    with open("/proc/self/mountinfo") as f:
        mi = f.read()
    assert not [e for e in leftovers if e in mi]
    # and a bad agent path
    created, res, p = run(layer, "true", "--id", sid, "--agent", "/nonexistent-agent",
                          expect_created=False)
    assert p.returncode == 1 and "error" in res[0], res
    assert cgroup_dirs(sid) == []


def test_cleanup_stale_after_crash(layer):
    sid = "staletest%d" % os.getpid()
    pr = subprocess.Popen([RT_RUN, "--id", sid, layer, "--", "sleep", "60"],
                          stdout=subprocess.PIPE, text=True)
    c = json.loads(pr.stdout.readline())["created"]
    pr.send_signal(signal.SIGKILL)  # the "daemon" dies; the sandbox keeps running
    pr.wait()
    assert os.path.exists("/proc/%d" % c["pid"])
    assert cgroup_dirs(sid)
    r = subprocess.run([RT_RUN, "--cleanup", sid, c["dir"]], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert cgroup_dirs(sid) == []
    deadline = time.time() + 5
    while time.time() < deadline and os.path.exists("/proc/%d/status" % c["pid"]):
        st = open("/proc/%d/status" % c["pid"]).read()
        if "State:\tZ" in st:
            break
        time.sleep(0.05)
    assert not os.path.exists("/proc/%d/status" % c["pid"]) or \
        "State:\tZ" in open("/proc/%d/status" % c["pid"]).read()
    assert os.listdir(c["dir"]) == []
    os.rmdir(c["dir"])
    # idempotent
    r = subprocess.run([RT_RUN, "--cleanup", sid, c["dir"]], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_create_is_fast(layer):
    created, res, p = run(layer, "true", "--repeat", "3")
    assert created["createMs"] < 1000
    assert all(r["execMs"] < 1000 for r in res)


def test_pid1_holds_no_host_fds(layer):
    pr = subprocess.Popen([RT_RUN, layer, "--", "sleep", "1"], stdout=subprocess.PIPE, text=True)
    try:
        c = json.loads(pr.stdout.readline())["created"]
        fds = {}
        for fd in os.listdir("/proc/%d/fd" % c["pid"]):
            try:  # the agent may be handling the exec: a transient fd can close meanwhile
                fds[int(fd)] = os.readlink("/proc/%d/fd/%s" % (c["pid"], fd))
            except FileNotFoundError:
                pass
        assert fds[0] == fds[1] == fds[2] == "/dev/null", fds
        assert fds[3].startswith("socket:"), fds
        for fd, target in fds.items():
            # paths are shown relative to the sandbox root; nothing else from the host
            assert target in ("/dev/null", "/") or target.split(":")[0] in (
                "socket", "pipe", "anon_inode"), (fd, target)
    finally:
        pr.wait(30)


def test_exec_timeout(layer):
    r = one(layer, ["sleep", "10"], "--timeout", "300")
    assert r["timedOut"] and r["signal"] == 9, r
    assert r["durationMs"] < 5000


def test_output_truncated(layer):
    r = one(layer, "yes | head -c 100000", "--max-output", "1000")
    assert len(r["stdout"]) == 1000 and r["stdoutTruncated"], (len(r["stdout"]), r["stdoutTruncated"])


def test_nofile_rlimit(layer):
    r = one(layer, "ulimit -n; ulimit -c", "--nofile", "77")
    assert r["stdout"].split() == ["77", "0"], r


@pytest.mark.security
def test_mountinfo_shows_no_host_paths(layer):
    created, res, p = run(layer, "cat /proc/self/mountinfo")
    mi = res[0]["stdout"]
    assert mi.strip(), mi
    for bad in (layer, created["dir"], os.path.dirname(AGENT), "devtmpfs"):
        assert bad not in mi, (bad, mi)
    targets = {l.split()[4] for l in mi.splitlines()}
    assert targets <= {"/", "/dev", "/dev/pts", "/dev/shm", "/sys", "/.airlock",
                       "/.airlock/init", "/proc"}, targets


@pytest.mark.security
def test_hostile_layer_symlinked_mountpoints(layer):
    """An image whose /dev, /proc, /sys, /.airlock are symlinks (or files) pointing at host
    paths: mounts must land on real directories inside the sandbox, nothing on the host."""
    evil = tempfile.mkdtemp(prefix="rt-evil-")
    try:
        for name, target in (("dev", "/etc"), ("proc", "../../../../tmp"), (".airlock", "/root")):
            os.symlink(target, os.path.join(evil, name))
        open(os.path.join(evil, "sys"), "w").close()
        created, res, p = run(layer + ":" + evil, "ls /dev; ls -d /proc/self; ls -A /sys | wc -l;"
                              " ls -la / | grep -c -- '->'")
        # the upper layer (evil) shadows the busybox layer's dirs
        out = res[0]["stdout"].split()
        assert "null" in out and "/proc/self" in out and out[-2] == "0", res
        assert out[-1] == "0", "a mountpoint is still a symlink: %s" % res
        with open("/proc/self/mountinfo") as f:
            targets = [l.split()[4] for l in f]
        assert not [t for t in targets if t in ("/etc", "/root") or t.startswith("/tmp/proc")]
    finally:
        shutil.rmtree(evil)


def loop_backings():
    out = []
    for dev in os.listdir("/sys/block"):
        p = os.path.join("/sys/block", dev, "loop", "backing_file")
        if os.path.exists(p):
            out.append(open(p).read().strip())
    return out


def test_disk_quota_beyond_memory_is_real_disk(layer):
    """A disk quota larger than the memory limit: writing past the memory limit works (ext4 on
    a loop device, not memory-charged tmpfs) and stops with ENOSPC at the quota."""
    if subprocess.run([RT_RUN, "--disk-kind", "ext4", layer, "--", "true"],
                      capture_output=True).returncode != 0:
        pytest.skip("no ext4 writable layer on this host (mkfs.ext4, loop devices)")
    created, res, p = run(layer, "dd if=/dev/zero of=/tmp/big bs=1M count=300 2>&1;"
                                 " stat -c %s /tmp/big; echo still-here", "--mem", "96M",
                          "--disk", "160M", timeout=120)
    r = res[0]
    assert r["signal"] == 0 and r["alive"], r
    out = r["stdout"]
    assert "No space left on device" in out and "still-here" in out, out
    size = int(out.split()[-2])
    assert (96 << 20) < size <= (160 << 20), size
    assert not [b for b in loop_backings() if created["dir"] in b]
    assert not os.path.exists(created["dir"])


def test_ext4_inode_quota(layer):
    if subprocess.run([RT_RUN, "--disk-kind", "ext4", layer, "--", "true"],
                      capture_output=True).returncode != 0:
        pytest.skip("no ext4 writable layer on this host (mkfs.ext4, loop devices)")
    r = one(layer, "i=0; while [ $i -lt 2000 ]; do touch /tmp/f$i 2>/dev/null || break;"
                   " i=$((i+1)); done; echo made=$i", "--disk-kind", "ext4", "--inodes", "300")
    made = int(r["stdout"].split("made=")[1])
    # ext4 rounds the inode count up to whole inode-table blocks per group
    assert 100 < made < 700, r
