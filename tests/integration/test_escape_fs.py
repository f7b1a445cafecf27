"""Filesystem escapes from inside a sandbox: device nodes, setuid and file capabilities,
chroot, the agent's /proc entries and binary, writes that would land on the host.

DESIGN.md section 6: nodev,nosuid everywhere, minimal /dev, no capabilities, no_new_privs, the
agent binary not writable from inside, a sandbox never holds an fd or mount leading to the
host.  Every test performs the attack in a real sandbox and checks the specific failure, and
where a host path is the target, that the host file is unchanged.
"""
import errno as E
import hashlib
import os

import pytest

from attacks import (DENIED, atk, attack_bin, binary, host_marker, parse_line,  # noqa: F401
                     read_host, refused)

pytestmark = pytest.mark.security


@pytest.mark.parametrize("node", [("/tmp/sda", "b", 8, 0), ("/tmp/mem", "c", 1, 1),
                                  ("/tmp/kmem", "c", 1, 2), ("/dev/sda-x", "b", 8, 0)])
def test_mknod_device(atk, node):
    """Attack: mknod a block device (8:0, the host's first disk) or /dev/mem (1:1) and open it
    to read host memory or disk.  Defence: no CAP_MKNOD (EPERM); and even a node that got
    created could not be opened (nodev)."""
    res = atk.run("mknod", *node)
    refused(res, {E.EPERM, E.EACCES, E.EROFS, E.ENOENT})


def test_dev_is_minimal(atk):
    """Defence check: /dev holds only null zero full random urandom tty, pts, shm (and the
    usual links): no disk, memory, kmsg or kvm device of the host."""
    res = atk.run("opendir", "/dev")
    assert res["ok"], res
    entries = set(res["detail"].split(":", 1)[1].split())
    allowed = {"null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm", "fd",
               "stdin", "stdout", "stderr", "console", "mqueue", "core"}
    assert entries <= allowed, "unexpected /dev entries: %s" % sorted(entries - allowed)


def test_setuid_binary_no_escalation(atk):
    """Attack: root in the sandbox writes a setuid-root copy of a program; an unprivileged
    user (uid 1000) runs it to become root.  Defence: nosuid mounts and no_new_privs: the
    program runs with euid 1000 and no capabilities (control: test_control_setuid_...)."""
    sb = atk.sb
    for d in ("/tmp", "/"):
        p = os.path.join(d, "suid-attack")
        r = sb.exec("cp %s %s && chown 0:0 %s && chmod 4755 %s && ls -l %s" % (
            atk.path, p, p, p, p))
        assert r["exitCode"] == 0, r
        assert r["stdout"].startswith("-rws"), r
        r = sb.exec([p, "caps"], user="1000:1000")
        res = parse_line(r["stdout"], "caps")
        uid = [x for x in res["detail"].split(";") if x.startswith("Uid:")][0].split("\t")[1:]
        assert uid[1] == "1000" and uid[2] == "1000", "setuid gave euid %s: %s" % (uid, res)
        assert res["ok"] is False, "capabilities after setuid exec: %s" % res


def test_file_capabilities_refused_and_inert(atk):
    """Attack: give a copy of a program file capabilities (cap_sys_admin, cap_setuid,
    cap_dac_override via the security.capability xattr) and run it.  Defence: user code has no
    CAP_SETFCAP (EPERM); and if a file does carry capabilities, no_new_privs and the empty
    bounding set keep them from being raised on exec."""
    sb = atk.sb
    r = sb.exec("cp %s /tmp/fcap" % atk.path)
    assert r["exitCode"] == 0, r
    res = atk.run("setfcap", "/tmp/fcap")
    for user in ("root", "1000:1000"):
        r = sb.exec(["/tmp/fcap", "caps"], user=user)
        caps = parse_line(r["stdout"], "caps")
        assert caps["ok"] is False, "file capabilities raised on exec (%s): %s" % (user, caps)
    refused(res, {E.EPERM, E.EACCES, E.ENOTSUP, E.EROFS})


def test_chroot_escape(atk):
    """Attack: the classic chroot breakout (chroot into a subdirectory keeping cwd outside,
    chdir('..') repeatedly, chroot('.')).  Defence: no CAP_SYS_CHROOT (EPERM); even if it
    worked, the sandbox's root is pivot_root'ed so '..' stays inside (probe /work)."""
    res = atk.run("chroot_escape", "/work")
    refused(res)
    assert "VISIBLE" not in res["detail"], res


@pytest.mark.parametrize("path", ["/proc/1/environ", "/proc/1/mem", "/proc/1/maps",
                                  "/proc/1/auxv", "/proc/1/stack",
                                  "/proc/1/syscall"])
def test_agent_proc_files(atk, path):
    """Attack: read the agent's (PID 1's) environment, memory map or memory (its channel to the
    daemon, any secret it was started with).  Defence: the agent is not dumpable and user code
    has no CAP_SYS_PTRACE: EACCES/EPERM (or the file is hidden: ENOENT)."""
    refused(atk.run("open_read", path), {E.EACCES, E.EPERM, E.ENOENT, E.ESRCH})


def test_agent_fds(atk):
    """Attack: list /proc/1/fd and open the agent's descriptors (the channel socket to the
    daemon, host directories).  Defence: /proc/1/fd is not accessible to user code."""
    res = atk.run("proc1_fds", "1")
    refused(res, {E.EACCES, E.EPERM, E.ENOENT})


@pytest.mark.parametrize("path", ["/proc/1/root", "/proc/1/cwd"])
def test_agent_root_and_cwd(atk, path):
    """Attack: follow /proc/1/root or /proc/1/cwd (if the agent held a host directory this would
    be a way out).  Defence: not accessible (agent not dumpable)."""
    refused(atk.run("opendir", path), {E.EACCES, E.EPERM, E.ENOENT})


def test_agent_binary_not_writable(atk):
    """Attack: overwrite the agent binary (it runs as PID 1 in every later exec; on the host it
    is shared by all sandboxes).  Defence: bind-mounted read-only / not writable: the open for
    writing fails, and the host binary is unchanged."""
    agent = binary("airlock-init")
    before = hashlib.sha256(read_host(agent)).hexdigest() if agent else None
    refused(atk.run("open_wronly", "/proc/1/exe"),
            {E.EACCES, E.EPERM, E.ETXTBSY, E.EROFS, E.ENOENT})
    # where the agent is mounted: /proc/1/exe if visible, else file bind mounts in mountinfo
    inside = set()
    r = atk.sb.exec("readlink /proc/1/exe 2>/dev/null; cat /proc/self/mountinfo")
    for line in r["stdout"].splitlines():
        f = line.split()
        if line.startswith("/"):
            inside.add(line.strip())
        elif len(f) > 4 and agent and f[3].endswith(os.path.basename(agent)):
            inside.add(f[4])
    for p in sorted(inside):
        res = atk.run("open_wronly", p)
        refused(res, {E.EACCES, E.EPERM, E.ETXTBSY, E.EROFS, E.ENOENT})
        r = atk.sb.exec("cp %s %s 2>&1; echo rc=$?" % (atk.path, p))
        assert "rc=0" not in r["stdout"], r
    if agent:
        assert hashlib.sha256(read_host(agent)).hexdigest() == before


def test_writes_stay_inside(airlockd, atk):
    """Attack: write to host paths from inside (a marker file the test made on the host, via
    its absolute path, /proc/self/root and /proc/1/root; and create new files at host
    locations).  Defence: a private root filesystem: the host marker is unchanged and no new
    file appears on the host."""
    d, f, data = host_marker()
    created = [os.path.join(d, "planted"), "/var/tmp/airlock-planted-" + os.path.basename(d)]
    try:
        for p in (f, "/proc/self/root" + f, "/proc/1/root" + f, "/proc/1/cwd" + f):
            res = atk.run("write_file", p, "PWNED")
            assert res["ok"] is False, res
        for p in created:
            atk.sb.exec("mkdir -p %s 2>/dev/null; echo PWNED > %s" % (os.path.dirname(p), p))
        assert read_host(f) == data
        for p in created:
            assert not os.path.exists(p), "sandbox created host file %s" % p
        assert set(os.listdir(d)) == {"secret"}
    finally:
        for p in created:
            if os.path.exists(p):
                os.unlink(p)
        os.unlink(f)
        os.rmdir(d)


def test_root_dir_up_is_root(atk):
    """Attack: walk '..' from / and through symlinks (/tmp/up -> ../../../..) to reach the
    host's root.  Defence: pivot_root; '/..' is '/' of the sandbox (same inode)."""
    r = atk.sb.exec("ln -s ../../../../../../ /tmp/up; "
                    "stat -c %i / ; stat -c %i /../../..; stat -c %i /tmp/up/")
    ino = r["stdout"].split()
    assert len(ino) == 3 and ino[0] == ino[1] == ino[2], r
    res = atk.run("opendir", "/tmp/up/work")
    assert res["ok"] is False, res


def test_setuid_via_files_api_mode(atk):
    """Attack: upload a program through the files API with mode 6755 (the agent, which does the
    write, may set bits user code could not) and run it as uid 1000 to become root.
    Defence: nosuid on every mount and no_new_privs: euid stays 1000, capabilities empty."""
    with open(atk.binpath, "rb") as f:
        data = f.read()
    atk.sb.put("/tmp/suid-api", data, mode="6755")
    r = atk.sb.exec("ls -ln /tmp/suid-api")
    r = atk.sb.exec(["/tmp/suid-api", "caps"], user="1000:1000")
    res = parse_line(r["stdout"], "caps")
    uid = [x for x in res["detail"].split(";") if x.startswith("Uid:")][0].split("\t")[1:]
    assert uid[1] == "1000", "setuid via the files API gave euid %s: %s" % (uid, res)
    assert res["ok"] is False, res
