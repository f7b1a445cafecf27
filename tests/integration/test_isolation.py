"""What a process inside a sandbox can see and hold, checked from inside.

DESIGN.md section 6: a unique host uid range per sandbox, no_new_privs, all capabilities
dropped and the bounding set cleared, a seccomp filter, new pid/mount/... namespaces, a fresh
procfs, no host sysfs, no fd leading to the host.  Each test inspects the real state of a
process in a sandbox (through tests/attacks or busybox) and compares it with the host.
"""
import errno as E
import os
import re

import pytest

import conftest
from attacks import (DENIED, atk, attack_bin, attacker, host_marker, new_sandbox,  # noqa: F401
                     read_host, refused)

pytestmark = pytest.mark.security


def status_fields(detail):
    out = {}
    for part in detail.split(";"):
        if ":" in part:
            k, v = part.split(":", 1)
            out[k] = v.strip().split()
    return out


@pytest.mark.parametrize("user", ["root", "1000:1000"])
def test_capabilities_empty(atk, user):
    """Attack: use any capability (root in the sandbox is root in its user namespace).
    Defence: all capability sets of user code are empty, including the bounding and ambient
    sets, so nothing can be regained by exec.  Checked in /proc/self/status."""
    res = atk.run("caps", user=user)
    f = status_fields(res["detail"])
    for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert k in f, res
        assert int(f[k][0], 16) == 0, "%s is %s for user %s: %s" % (k, f[k][0], user, res)
    assert res["ok"] is False


def test_no_new_privs_and_seccomp(atk):
    """Defence check: user code runs with no_new_privs set and a seccomp filter installed
    (Seccomp: 2 in /proc/self/status)."""
    f = status_fields(atk.run("caps")["detail"])
    assert f.get("NoNewPrivs") == ["1"], f
    assert f.get("Seccomp") == ["2"], f


def set_ignored(sigs, ignore):
    """rt_sigaction(SIG_IGN or SIG_DFL) on this process, raw: glibc refuses 32 and 33."""
    import ctypes
    import struct
    libc = ctypes.CDLL(None, use_errno=True)
    act = ctypes.create_string_buffer(struct.pack("QQQQ", 1 if ignore else 0, 0, 0, 0), 32)
    for sig in sigs:
        assert libc.syscall(13, sig, act, None, 8) == 0, ctypes.get_errno()  # rt_sigaction


def test_signals_start_at_default(fresh_daemon):
    """User code starts with no signal blocked, ignored or caught (what a shell or a server
    expects of a fresh process), whatever airlockd inherited (here SIGPIPE and glibc's
    reserved 32 and 33 ignored) and whatever the agent does with its own signals."""
    sigs = (13, 32, 33)
    set_ignored(sigs, True)
    try:
        d = fresh_daemon()
    finally:
        set_ignored(sigs, False)
    with open("/proc/%d/status" % d.proc.pid) as f:
        ign = [l for l in f if l.startswith("SigIgn:")][0].split()[1]
    # the daemon did inherit them (33 it catches itself: glibc's setxid handler)
    assert int(ign, 16) & (1 << 12 | 1 << 31) == 1 << 12 | 1 << 31, ign
    sb = conftest.new_sandbox(d, conftest.new_group(d))
    r = sb.exec(["cat", "/proc/self/status"])
    f = status_fields(r["stdout"].replace("\n", ";"))
    for k in ("SigBlk", "SigIgn", "SigCgt"):
        assert k in f and int(f[k][0], 16) == 0, (k, f.get(k))


def uid_ranges(sb):
    out = {}
    for m in ("uid_map", "gid_map"):
        r = sb.exec(["cat", "/proc/self/" + m])
        assert r["exitCode"] == 0, r
        out[m] = [tuple(int(x) for x in line.split()) for line in r["stdout"].splitlines()
                  if line.strip()]
    return out


def test_uid_map_never_host_root(sandbox):
    """Attack: be host root (uid 0 outside).  Defence: the sandbox's user namespace maps its
    ids onto an unprivileged host range that does not include host uid/gid 0."""
    for m, ranges in uid_ranges(sandbox).items():
        assert ranges, m
        for inside, outside, count in ranges:
            assert outside > 0 and not (outside <= 0 < outside + count), (m, ranges)
            assert outside >= 1000, (m, ranges)


def test_uid_ranges_unique_per_sandbox(airlockd, group, sandbox):
    """Defence check: two sandboxes never share host uids (otherwise one could signal or read
    the other's files on the host side)."""
    other = new_sandbox(airlockd, group)
    try:
        a, b = uid_ranges(sandbox), uid_ranges(other)
        for m in ("uid_map", "gid_map"):
            for _, oa, ca in a[m]:
                for _, ob, cb in b[m]:
                    assert oa + ca <= ob or ob + cb <= oa, (m, a[m], b[m])
    finally:
        other.delete()


def test_host_processes_invisible(airlockd, atk):
    """Attack: list host processes in /proc (find the daemon, read its cmdline, signal it).
    Defence: a private pid namespace and a fresh procfs show only the sandbox's processes."""
    res = atk.run("ps")
    entries = res["detail"].split()[1:]
    comms = {e.split(":", 1)[1] for e in entries}
    pids = {int(e.split(":", 1)[0]) for e in entries}
    assert len(entries) < 20, res
    for host_only in ("airlockd", "pytest", "python3", "systemd", "sshd", "containerd"):
        assert host_only not in comms, res
    with open("/proc/self/comm") as f:
        mycomm = f.read().strip()
    if os.getpid() in pids:
        assert ("%d:%s" % (os.getpid(), mycomm)) not in entries, res


def test_proc_of_daemon_not_reachable(airlockd, atk):
    """Attack: open /proc/<daemon host pid>/environ and /root from inside.  Defence: the host
    pid does not exist in the sandbox's pid namespace."""
    pid = airlockd.proc.pid
    for path in ("/proc/%d/environ" % pid, "/proc/%d/root/etc/hostname" % pid):
        res = atk.run("open_read", path)
        assert res["ok"] is False, res
        assert res["errno"] in (E.ENOENT, E.ESRCH, E.EACCES, E.EPERM), res


def test_sys_is_not_the_hosts(atk):
    """Attack: read the host's sysfs (block devices, firmware, kernel tunables, cgroups of other
    tenants).  Defence: no host sysfs: /sys is absent, empty, or shows none of the host's
    block devices."""
    host_block = set(os.listdir("/sys/block")) if os.path.isdir("/sys/block") else set()
    res = atk.run("opendir", "/sys/block")
    if res["ok"]:
        seen = set(res["detail"].split(":", 1)[1].split())
        leaked = host_block & seen
        assert not leaked, "host block devices visible in sandbox /sys/block: %s" % leaked
    for p in ("/sys/firmware", "/sys/kernel/security", "/sys/kernel/debug"):
        res = atk.run("opendir", p)
        assert not (res["ok"] and "0 entries" not in res["detail"]), res


def test_kallsyms_has_no_addresses(atk):
    """Attack: read kernel symbol addresses from /proc/kallsyms (defeats KASLR).  Defence: the
    read fails or every address is zero (no CAP_SYSLOG in the initial user namespace)."""
    res = atk.run("kallsyms")
    assert res["ok"] is False, res


SYSCTLS = ["/proc/sys/kernel/core_pattern", "/proc/sys/kernel/hostname",
           "/proc/sys/net/ipv4/ip_forward", "/proc/sys/vm/overcommit_memory",
           "/proc/sys/kernel/modprobe", "/proc/sys/fs/file-max"]


@pytest.mark.parametrize("path", SYSCTLS)
def test_proc_sys_not_writable(atk, path):
    """Attack: write a sysctl (core_pattern -> code execution as host root; others change
    host-wide behaviour).  Writes the current value back, so harmless if it works.
    Defence: /proc/sys read-only or no privilege: EROFS, EACCES, EPERM or ENOENT."""
    before = read_host(path)
    res = atk.run("sysctl_write", path)
    refused(res, {E.EROFS, E.EACCES, E.EPERM, E.ENOENT})
    assert read_host(path) == before


@pytest.mark.parametrize("path", ["/proc/sysrq-trigger", "/proc/sys/vm/drop_caches",
                                  "/proc/kcore", "/dev/mem", "/dev/kmsg", "/dev/port"])
def test_dangerous_files_not_openable(atk, path):
    """Attack: open /proc/sysrq-trigger, drop_caches, /proc/kcore, /dev/mem ... for writing
    (nothing is written).  Defence: absent, read-only or no privilege."""
    refused(atk.run("open_wronly", path), {E.EROFS, E.EACCES, E.EPERM, E.ENOENT, E.ENXIO})


def test_host_files_invisible(airlockd, atk):
    """Attack: look for host files at / (the repository, the daemon's state dir with the admin
    key, a marker written on the host for this test).  Defence: the sandbox root is its own
    image; none of these exist inside."""
    d, f, data = host_marker()
    try:
        probes = [f, d, "/work", airlockd.state_dir, os.path.join(airlockd.state_dir, "admin.key"),
                  os.path.dirname(os.path.abspath(__file__)), "/root/.pyenv"]
        for p in probes:
            res = atk.run("cat", p)
            assert not (res["ok"] and data.decode() in res["detail"]), res
            assert res["ok"] is False and res["errno"] in (E.ENOENT, E.EISDIR, E.EACCES), (p, res)
        hn = read_host("/etc/hostname")
        res = atk.run("cat", "/etc/hostname")
        if res["ok"] and hn:
            assert res["detail"].strip() != hn.decode().strip() or not hn.strip()
        r = atk.sb.exec(["hostname"])
        host = os.uname().nodename
        assert r["stdout"].strip() != host, "sandbox has the host's hostname %r" % host
    finally:
        os.unlink(f)
        os.rmdir(d)


def test_no_inherited_fds(atk):
    """Attack: use a descriptor leaked into user code (a socket to the daemon, the agent's
    channel, a host directory).  Defence: every fd close-on-exec; user code starts with only
    0, 1 and 2."""
    res = atk.run("fds")
    assert res["ok"] is False, res
    res = atk.run("fds", tty=True)
    assert res["ok"] is False, res


def test_cgroup_limits_not_writable(atk):
    """Attack: raise our own cgroup limits (memory.max, pids.max) or move into another cgroup
    via the cgroup filesystem.  Defence: the cgroup fs is absent, read-only, or its files are
    not writable by user code."""
    for p, v in (("/sys/fs/cgroup/memory.max", "max"), ("/sys/fs/cgroup/pids.max", "max"),
                 ("/sys/fs/cgroup/cpu.max", "max"), ("/sys/fs/cgroup/memory.swap.max", "max"),
                 ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "-1"),
                 ("/sys/fs/cgroup/pids/pids.max", "max")):
        res = atk.run("write_file", p, v)
        refused(res, {E.EROFS, E.EACCES, E.EPERM, E.ENOENT})
    r = atk.sb.exec(["cat", "/proc/self/cgroup"])
    for line in r["stdout"].splitlines():
        assert line.endswith(":/") or "airlock" not in line, \
            "cgroup path of the host visible (no cgroup namespace): %r" % r["stdout"]


def test_sysv_ipc_not_shared(atk):
    """Attack: attach a SysV shared memory segment of the host (or of another sandbox) by its
    well-known key and read it.  Defence: a private IPC namespace: shmget(key) is ENOENT
    (control: the same lookup on the host finds the segment)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    key = 0x5ec70000 + os.getpid() % 0xffff
    shm = libc.shmget(key, 4096, 0o1666)
    assert shm >= 0, ctypes.get_errno()
    addr = libc.shmat(shm, None, 0)
    try:
        ctypes.memmove(addr, b"HOST-SHM-SECRET", 15)
        from attacks import host_run
        assert host_run(atk.binpath, "sysv", key)["ok"] is True  # control
        res = atk.run("sysv", key)
        assert res["ok"] is False and "HOST-SHM-SECRET" not in res["detail"], res
        assert res["errno"] == E.ENOENT, res
    finally:
        libc.shmdt(ctypes.c_void_p(addr))
        libc.shmctl(shm, 0, None)  # IPC_RMID


def test_daemon_socket_unreachable(airlockd, atk):
    """Attack: connect to the daemon's unix socket (STATE_DIR/airlockd.sock) from inside.
    Defence: the path does not exist in the sandbox's filesystem: ENOENT."""
    refused(atk.run("unix_path", airlockd.sock), {E.ENOENT, E.EACCES, E.ECONNREFUSED})


def test_image_not_poisoned_for_other_sandboxes(airlockd, tenant_key, sandbox):
    """Attack: root in one sandbox overwrites and deletes files of the shared image (/bin/sh's
    busybox, /etc/passwd) hoping the read-only lower layers are shared writable, to plant a
    backdoor in every later sandbox of that image (another tenant's too).  Defence: image
    layers are read-only lowers; writes go to a per-sandbox upper: a new sandbox of another
    tenant sees the original files."""
    from attacks import new_group
    before = sandbox.exec("md5sum /bin/busybox /etc/passwd")["stdout"]
    r = sandbox.exec("echo PWNED > /etc/passwd; echo PWNED > /bin/busybox.new; "
                     "cat /bin/busybox.new > /bin/busybox 2>/dev/null; rm -f /bin/ls; echo done",
                     timeout=30)
    g = new_group(airlockd, key=tenant_key)
    other = new_sandbox(airlockd, g, key=tenant_key)
    try:
        after = other.exec("md5sum /bin/busybox /etc/passwd; test -e /bin/ls && echo has-ls")
        assert after["stdout"].startswith(before), (before, after)
        assert "has-ls" in after["stdout"], after
        assert "PWNED" not in other.exec(["cat", "/etc/passwd"])["stdout"]
    finally:
        other.delete()
        airlockd.api("DELETE", "/v1/sandboxgroups/" + g, key=tenant_key)
    assert r is not None


def test_state_files_not_world_readable(fresh_daemon):
    """Attack: any host uid (a sandbox's own host uids included, should any file or socket of the
    host ever be reachable) reads the daemon's database (hashed keys, group secrets), admin key,
    log or socket in a state dir that an operator created world-searchable (0755, like
    /var/lib/*).  Defence: the daemon creates its secrets and database 0600 (or 0640), never
    readable by other users."""
    import stat
    import tempfile
    base = tempfile.mkdtemp(prefix="airlock-perm-")
    os.chmod(base, 0o755)
    d = fresh_daemon(state_dir=base)
    try:
        st, r = d.api("PUT", "/v1/sandboxgroups/perm-test", {"image": "busybox"})
        assert st in (200, 201), (st, r)
        d.api("PUT", "/v1/sandboxgroups/perm-test/secrets/s1", {"value": "top-secret"})
        bad = []
        for n in sorted(os.listdir(base)):
            if n == "airlockd.log":
                continue  # created by the test harness (conftest), not by the daemon
            p = os.path.join(base, n)
            m = os.lstat(p).st_mode
            if stat.S_ISREG(m) or stat.S_ISSOCK(m):
                if m & (stat.S_IROTH | stat.S_IWOTH):
                    bad.append("%s %o" % (n, m & 0o7777))
        assert not bad, "world-readable/writable state files: %s" % bad
    finally:
        import shutil
        d.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_oom_score_adj_cannot_be_lowered(atk):
    """Attack: lower our own oom_score_adj to -1000 so that, when the sandbox runs out of memory,
    the kernel kills the agent (PID 1) instead of the attacker's processes.  Defence: lowering
    it needs CAP_SYS_RESOURCE, which user code lacks: EACCES/EPERM."""
    res = atk.run("write_file", "/proc/self/oom_score_adj", "-1000")
    refused(res, {E.EACCES, E.EPERM, E.EROFS, E.ENOENT})
    r = atk.sb.exec(["cat", "/proc/self/oom_score_adj"])
    assert r["stdout"].strip() != "-1000", r


def test_daemon_environment_not_inherited(fresh_daemon, monkeypatch, attack_bin):
    """Attack: read the daemon's environment from inside (cloud credentials, tokens and host
    paths often live in a service's environment) through user code's own environment and the
    agent's /proc/1/environ via the files API.  Defence: the agent and user code start from a
    clean environment (image env + group/exec env only)."""
    import secrets
    canary = "canary-" + secrets.token_hex(8)
    monkeypatch.setenv("AIRLOCK_SECTEST_CANARY", canary)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", canary)
    d = fresh_daemon()
    from attacks import new_group
    g = new_group(d)
    sb = new_sandbox(d, g)
    try:
        r = sb.exec("env; cat /proc/self/environ")
        assert canary not in r["stdout"], "daemon env visible to user code: %s" % r["stdout"]
        assert "/work/" not in r["stdout"], r["stdout"]
        for p in ("/proc/1/environ", "/proc/self/environ"):
            st, body = d.api("GET", sb.base + "/files?path=" + p)
            if st == 200:
                assert canary.encode() not in body, "daemon env in the agent's %s" % p
        r = sb.exec("env", tty=True)
        assert canary not in r["stdout"]
    finally:
        sb.delete()


def test_uid_range_not_shared_with_host_users(sandbox):
    """Attack: rely on the sandbox's host uids belonging to someone else on the host (a real
    account in /etc/passwd, or a rootless-container range in /etc/subuid), so that sandbox root
    owns that user's files or can signal its processes.  Defence: the range overlaps no host
    account and no /etc/subuid or /etc/subgid delegation."""
    import pwd
    ranges = uid_ranges(sandbox)
    host_uids = {p.pw_uid for p in pwd.getpwall()}
    for _, outside, count in ranges["uid_map"]:
        clash = [u for u in host_uids if outside <= u < outside + count]
        assert not clash, "sandbox uid range %d+%d contains host accounts %s" % (
            outside, count, clash)
    for m, f in (("uid_map", "/etc/subuid"), ("gid_map", "/etc/subgid")):
        try:
            lines = open(f).read().split()
        except OSError:
            continue
        for line in lines:
            parts = line.split(":")
            if len(parts) != 3 or not parts[1].isdigit():
                continue
            s, n = int(parts[1]), int(parts[2])
            for _, outside, count in ranges[m]:
                assert outside + count <= s or s + n <= outside, (m, line, ranges[m])


def test_hidepid_hides_other_users(atk):
    """Attack: as uid 1000 in the sandbox, list and read the processes of root there (a root
    service started by the tenant, its environment and command line).  Defence: the sandbox's
    procfs is mounted with hidepid: root's processes are invisible to uid 1000 (control: root
    itself sees the process)."""
    from attacks import parse_line
    r = atk.sb.exec("(setsid sleep 25 >/dev/null 2>&1 </dev/null &); sleep 0.3; "
                    "for d in /proc/[0-9]*; do [ \"$(cat $d/comm 2>/dev/null)\" = sleep ] && "
                    "echo pid=${d#/proc/}; done", user="root")
    assert "pid=" in r["stdout"], "control failed: root does not see its own sleep: %s" % r
    pid = int(r["stdout"].split("pid=")[1].split()[0])
    try:
        r = atk.sb.exec([atk.path, "ps"], user="1000:1000")
        res = parse_line(r["stdout"], "ps")
        comms = [e.split(":", 1)[1] for e in res["detail"].split()[1:]]
        assert "sleep" not in comms, "uid 1000 sees root's processes: %s" % res
        res = atk.run("open_read", "/proc/%d/environ" % pid, user="1000:1000")
        refused(res, {E.ENOENT, E.EACCES, E.EPERM})
    finally:
        atk.sb.exec("kill %d 2>/dev/null; true" % pid, user="root")


class UserProcess:
    """A process of user code in the sandbox (an exec of sleep), seen from the host: .pid"""

    def __init__(self, sb):
        import threading
        import time
        from test_api_sandboxes import sandbox_processes
        def sleeps():
            out = set()
            for p in sandbox_processes(sb.id):
                try:
                    with open("/proc/%d/comm" % p) as f:
                        if f.read().strip() == "sleep":
                            out.add(p)
                except OSError:
                    pass
            return out
        self.sb = sb
        known = sleeps()
        self.t = threading.Thread(target=lambda: sb.exec(["sleep", "60"], timeout=90))
        self.t.start()
        self.pid = None
        deadline = time.time() + 20
        while self.pid is None and time.time() < deadline:
            new = sleeps() - known
            self.pid = new.pop() if new else None
            time.sleep(0.05)
        assert self.pid, "the sandbox's sleep never showed on the host"

    def close(self):
        try:
            os.kill(self.pid, 9)
        except OSError:
            pass
        self.t.join(60)


def ns_inodes(pid):
    out = {}
    for n in ("user", "pid", "mnt", "net", "ipc", "uts", "cgroup", "time"):
        out[n] = os.stat("/proc/%s/ns/%s" % (pid, n)).st_ino
    return out


def test_namespaces_not_the_hosts_nor_shared(airlockd, group, sandbox):
    """Each of a sandbox's eight namespaces (user, pid, mnt, net, ipc, uts, cgroup, time) is
    its own: user code's namespace inodes, read from the host, differ from the host's (this
    test's and the daemon's) and from another sandbox's."""
    other = new_sandbox(airlockd, group)
    a, b = UserProcess(sandbox), UserProcess(other)
    try:
        na, nb = ns_inodes(a.pid), ns_inodes(b.pid)
        host, daemon = ns_inodes("self"), ns_inodes(airlockd.proc.pid)
        for n in na:
            assert na[n] != host[n], "sandbox shares the host's %s namespace" % n
            assert na[n] != daemon[n], "sandbox shares the daemon's %s namespace" % n
            assert na[n] != nb[n], "two sandboxes share a %s namespace" % n
            assert nb[n] != host[n]
        # control: the check sees a shared namespace where there is one (the same sandbox)
        c = UserProcess(sandbox)
        try:
            assert ns_inodes(c.pid) == na
        finally:
            c.close()
    finally:
        a.close()
        b.close()
        other.delete()


def mountinfo(text):
    """[(mount point, per-mount options, fs type)] of mountinfo text."""
    out = []
    for line in text.splitlines():
        pre, _, post = line.partition(" - ")
        f = pre.split()
        out.append((f[4], set(f[5].split(",")), post.split()[0]))
    return out


def test_every_mount_nosuid_nodev(sandbox):
    """DESIGN.md section 6: nodev,nosuid everywhere.  Every mount of the sandbox's mount
    namespace, read from the host (/proc/<pid>/mountinfo of user code, which procfs inside
    cannot hide or fake), is nosuid, and nodev except /dev and /dev/pts, whose device nodes
    (null zero ... and the ptys) are the minimal /dev: those two are noexec instead."""
    p = UserProcess(sandbox)
    try:
        with open("/proc/%d/mountinfo" % p.pid) as f:
            host_view = mountinfo(f.read())
    finally:
        p.close()
    inside = mountinfo(sandbox.exec("cat /proc/self/mountinfo")["stdout"])
    assert sorted(m[0] for m in inside) == sorted(m[0] for m in host_view)
    points = [m[0] for m in host_view]
    assert "/" in points and "/proc" in points and "/dev" in points, points
    bad = []
    for point, opts, fstype in host_view:
        if "nosuid" not in opts:
            bad.append("%s (%s) without nosuid: %s" % (point, fstype, sorted(opts)))
        if point in ("/dev", "/dev/pts"):
            if "noexec" not in opts:
                bad.append("%s without noexec: %s" % (point, sorted(opts)))
        elif "nodev" not in opts:
            bad.append("%s (%s) without nodev: %s" % (point, fstype, sorted(opts)))
    assert not bad, "\n".join(bad)
