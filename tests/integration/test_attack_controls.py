"""Positive controls for the attack program itself (no daemon needed).

Each attack in the battery is only worth something if the program really performs the syscall
and would report success where the defence is absent.  These tests run the same attacks on the
host in a plain user namespace where we are root with every capability (what a sandbox would be
without seccomp, capability dropping and the other layers), and as an unprivileged user, and
check the program reports success where the kernel allows it.
"""
import errno as E
import os
import shutil
import subprocess
import tempfile

import pytest

from attacks import USERNS_ROOT, attack_bin, host_run, unpriv  # noqa: F401

pytestmark = pytest.mark.security


def need_root_userns():
    if os.geteuid() != 0:
        pytest.skip("controls run as root")
    r = subprocess.run(["unshare", "-rmnpf", "--mount-proc", "true"], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot create user namespaces here: %s" % r.stderr.decode()[-200:])


# attacks that succeed for root inside a fresh user+mount+net+pid namespace on the host
USERNS_SUCCEEDS = [
    ("mount_tmpfs",), ("mount_bind",), ("mount_proc",), ("remount_root",), ("fsopen",),
    ("open_tree",), ("unshare", "net"), ("unshare", "pid"), ("unshare", "mnt"),
    ("unshare", "ipc"), ("unshare", "uts"), ("unshare", "cgroup"), ("unshare", "user"),
    ("clone", "mnt"), ("clone3", "net"), ("setns", "mnt"), ("raw_packet",), ("raw_icmp",),
    ("raw_ip",), ("netlink_addr",), ("link_up",), ("chroot_escape", "/proc"), ("ptrace_child",),
    ("vmread_child",), ("sethostname",),
]


@pytest.mark.parametrize("args", USERNS_SUCCEEDS, ids=lambda a: "-".join(a))
def test_control_userns_root_succeeds(attack_bin, args):
    """Control: the attack succeeds as root in a bare user namespace, so the in-sandbox
    test of the same attack can only pass because of the sandbox's own defences."""
    need_root_userns()
    if args[0] == "sethostname":
        prefix = USERNS_ROOT[:1] + ("-rmnpfu", "--mount-proc")
    else:
        prefix = USERNS_ROOT
    res = host_run(attack_bin, *args, prefix=prefix)
    assert res["ok"] is True, res


# attacks an unprivileged host user can do (the sandbox must refuse them anyway: seccomp)
UNPRIV_SUCCEEDS = [("unshare", "user"), ("add_key",), ("keyctl",), ("io_uring",),
                   ("perf_event",), ("userfaultfd",), ("ptrace_child",), ("vmread_child",),
                   ("ia32", "unshare_user"), ("ia32", "keyctl"), ("ia32", "io_uring"),
                   ("ia32", "ptrace_traceme"), ("pidfd_getfd",)]


@pytest.mark.parametrize("args", UNPRIV_SUCCEEDS, ids=lambda a: "-".join(a))
def test_control_unprivileged_succeeds(attack_bin, args):
    """Control: these calls need no privilege on this kernel, so only the sandbox's seccomp
    filter can refuse them; the program reports success here."""
    if os.geteuid() != 0:
        pytest.skip("controls run as root (setpriv)")
    res = host_run(attack_bin, *args, prefix=unpriv())
    if args[0] == "io_uring" and res["errno"] in (E.EPERM, E.ENOSYS):
        pytest.skip("io_uring disabled on this host (%s)" % res["errname"])
    if args[0] == "perf_event" and res["errno"] in (E.EACCES, E.EPERM, E.ENOENT, E.ENODEV):
        pytest.skip("perf_event_open restricted on this host (%s)" % res["errname"])
    if args[0] == "userfaultfd" and res["errno"] in (E.EPERM, E.ENOSYS):
        pytest.skip("userfaultfd restricted on this host")
    if args[0] == "ia32" and res["errno"] == E.ENOSYS:
        pytest.skip("no IA32 emulation on this kernel")
    assert res["ok"] is True, res


ROOT_SUCCEEDS = [("bpf_map",), ("bpf_prog",), ("open_by_handle",), ("kallsyms",), ("dmesg",)]


@pytest.mark.parametrize("args", ROOT_SUCCEEDS, ids=lambda a: "-".join(a))
def test_control_host_root_succeeds(attack_bin, args):
    """Control: as real root on the host these (harmless) probes succeed, so the program
    does reach the kernel and would report a leak or an open door."""
    if os.geteuid() != 0:
        pytest.skip("controls run as root")
    res = host_run(attack_bin, *args)
    assert res["ok"] is True, res


def test_control_caps_reports_capabilities(attack_bin):
    """Control: `caps` reports ok (capabilities present) for host root and for an
    unprivileged host user (whose bounding set is still full)."""
    if os.geteuid() != 0:
        pytest.skip("controls run as root")
    assert host_run(attack_bin, "caps")["ok"] is True
    res = host_run(attack_bin, "caps", prefix=unpriv())
    assert res["ok"] is True and "CapBnd:\t0000000000000000" not in res["detail"], res


def test_control_setuid_binary_raises_euid(attack_bin):
    """Control for test_setuid_binary_no_escalation: on a host filesystem without nosuid, a
    setuid-root copy of the program run by uid 1000 does get euid 0."""
    if os.geteuid() != 0:
        pytest.skip("controls run as root")
    d = tempfile.mkdtemp(prefix="airlock-suid-", dir="/var/tmp")
    try:
        os.chmod(d, 0o755)
        p = os.path.join(d, "suid")
        shutil.copy(attack_bin, p)
        os.chown(p, 0, 0)
        os.chmod(p, 0o4755)
        r = subprocess.run(list(unpriv(1000)) + [p, "caps"], capture_output=True, text=True)
        if "nosuid" in subprocess.run(["findmnt", "-no", "OPTIONS", "-T", d],
                                      capture_output=True, text=True).stdout:
            pytest.skip("/var/tmp is nosuid on this host")
        from attacks import parse_line
        res = parse_line(r.stdout, "caps")
        uid = res["detail"].split(";")[0].split("\t")
        assert uid[2] == "0", res  # effective uid 0
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_control_mknod_in_userns_refused_but_root_can(attack_bin, tmp_path):
    """Control for the mknod test: host root can create /tmp/mem 1:1 (and the program then
    reports it), while root in a user namespace cannot."""
    if os.geteuid() != 0:
        pytest.skip("controls run as root")
    node = str(tmp_path / "mem")
    res = host_run(attack_bin, "mknod", node, "c", "1", "3")  # 1:3 = /dev/null, harmless
    assert res["ok"] is True, res
    res = host_run(attack_bin, "mknod", node, "c", "1", "3", prefix=USERNS_ROOT)
    assert res["ok"] is False and res["errno"] == E.EPERM, res


def test_control_loopback_connect_reaches_host_listener(attack_bin):
    """Control for the loopback test: on the host, `connect 127.0.0.1 PORT` reaches a
    listener, which counts the connection."""
    from attacks import Listener
    ln = Listener()
    try:
        res = host_run(attack_bin, "connect", "127.0.0.1", ln.port)
        assert res["ok"] is True and "HOST-SERVICE-BANNER" in res["detail"], res
        assert ln.accepted
    finally:
        ln.close()


def test_control_proc_mem_sibling(attack_bin):
    """Control for test_proc_mem_of_sibling: an unprivileged host user reads and opens for
    writing the memory of its own sibling through /proc/<pid>/mem."""
    if os.geteuid() != 0:
        pytest.skip("controls run as root (setpriv)")
    # the attack reads the sibling's maps, then its memory: wait until the sibling has exec'd
    # sleep, or an exec in between makes the read EIO
    script = ("sleep 5 & p=$!; for i in $(seq 200); do case $(readlink /proc/$p/exe) in "
              "*sleep) break;; esac; sleep 0.01; done; %s procmem $p; kill $p" % attack_bin)
    r = subprocess.run(list(unpriv()) + ["sh", "-c", script], capture_output=True, text=True)
    from attacks import parse_line
    res = parse_line(r.stdout, "procmem")
    assert res["ok"] is True and "OPENED" in res["detail"], res
