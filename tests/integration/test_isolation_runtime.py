"""The escape battery at the runtime layer, without the daemon: the namespace backend's own
debug tool (rt-run, built from src/runtime) starts one real sandbox over a busybox rootfs, and
every attack of tests/attacks runs in it once.  The same expectations as the REST-level tests
(test_escape_*.py) apply; this file gives the backend a verdict even where the daemon is not
built, and pins a finding to the runtime when both fail.
"""
import errno as E
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from attacks import DENIED, attack_bin, binary  # noqa: F401

pytestmark = pytest.mark.security

NS = ["user", "mnt", "net", "pid", "ipc", "uts", "cgroup", "time"]
NOENT = {E.ENOENT, E.EACCES, E.EPERM, E.EROFS}
UNREACH = {E.ECONNREFUSED, E.ENETUNREACH, E.EHOSTUNREACH, E.ETIMEDOUT, E.EPERM, E.EACCES}

# (id, attack args, allowed errnos)
BATTERY = (
    [("unshare-" + n, ["unshare", n], DENIED) for n in NS]
    + [("clone-" + n, ["clone", n], DENIED | ({0} if n == "time" else set())) for n in NS]
    + [("clone3-" + n, ["clone3", n], DENIED) for n in NS]
    + [("setns-" + n, ["setns", n, "1"], DENIED | {E.ENOENT, E.EINVAL}) for n in NS]
    + [(a, [a], DENIED) for a in (
        "mount_tmpfs", "mount_bind", "mount_proc", "remount_root", "fsopen", "open_tree",
        "ptrace_child", "ptrace_traceme", "vmread_child", "bpf_map", "bpf_prog", "add_key",
        "keyctl", "io_uring", "perf_event", "userfaultfd", "kexec_load", "kexec_file_load",
        "init_module", "finit_module", "open_by_handle", "iopl", "dmesg", "settime",
        "sethostname", "raw_packet", "raw_icmp", "raw_ip", "netlink_addr", "netlink_route",
        "link_up")]
    + [("ia32-" + c, ["ia32", c], DENIED) for c in ("unshare_user", "keyctl", "io_uring",
                                                    "ptrace_traceme", "userfaultfd")]
    + [("x32-" + c, ["x32", c], DENIED) for c in ("unshare_user", "keyctl", "io_uring")]
    + [("ptrace-1", ["ptrace", "1"], DENIED | {E.ESRCH}),
       ("vmread-1", ["vmread", "1"], DENIED | {E.ESRCH}),
       ("chroot", ["chroot_escape", "/work"], DENIED),
       ("mknod-sda", ["mknod", "/tmp/sda", "b", "8", "0"], DENIED),
       ("mknod-mem", ["mknod", "/tmp/mem", "c", "1", "1"], DENIED),
       ("setfcap", ["setfcap", "/tmp/fcap"], DENIED | {E.ENOTSUP}),
       ("proc1-environ", ["open_read", "/proc/1/environ"], NOENT),
       ("proc1-mem", ["open_read", "/proc/1/mem"], NOENT),
       ("proc1-fds", ["proc1_fds", "1"], NOENT),
       ("proc1-root", ["opendir", "/proc/1/root"], NOENT),
       ("proc1-exe-write", ["open_wronly", "/proc/1/exe"], NOENT | {E.ETXTBSY}),
       ("agent-write", ["open_wronly", "/.airlock/init"], NOENT | {E.ETXTBSY}),
       ("core-pattern", ["sysctl_write", "/proc/sys/kernel/core_pattern"], NOENT),
       ("sysrq", ["open_wronly", "/proc/sysrq-trigger"], NOENT),
       ("sys-block", ["opendir", "/sys/block"], NOENT),
       ("cgroup-memory-max", ["write_file", "/sys/fs/cgroup/memory.max", "max"], NOENT),
       ("metadata", ["connect", "169.254.169.254", "80", "2000"], UNREACH),
       ("ipv6", ["ipv6"], {E.EADDRNOTAVAIL, E.EAFNOSUPPORT, E.EPERM}),
       ("vsock", ["socket_family", "40", "1"], {E.EPERM, E.EAFNOSUPPORT, E.EACCES}),
       ("kallsyms", ["kallsyms"], {0, E.ENOENT, E.EACCES, E.EPERM}),
       ("caps", ["caps"], {0}),
       ("fds", ["fds"], {0}),
       ("nofile", ["nofile"], {E.EPERM}),
       ("forkbomb", ["forkbomb", "3"], {E.EAGAIN}),
       ("fill-root", ["fill", "/fill", "512"], {E.ENOSPC, E.EDQUOT}),
       ("inodes", ["inodefill", "/inodes", "50000"], {E.ENOSPC, E.EDQUOT})]
)

ROOTFS_APPLETS = ["sh", "cat", "ls", "echo", "rm", "sleep"]


@pytest.fixture(scope="session")
def rt_results(attack_bin):
    rt = binary("rt-run")
    if not rt:
        pytest.skip("rt-run not built (src/runtime)")
    if os.geteuid() != 0:
        pytest.skip("rt-run needs root")
    bb = shutil.which("busybox")
    if not bb or b"statically linked" not in subprocess.run(["file", bb],
                                                             capture_output=True).stdout:
        pytest.skip("no static busybox on the host for the test rootfs")
    root = tempfile.mkdtemp(prefix="airlock-rtroot-")
    try:
        for d in ("bin", "tmp", "etc"):
            os.mkdir(os.path.join(root, d))
        os.chmod(os.path.join(root, "tmp"), 0o1777)
        shutil.copy(bb, os.path.join(root, "bin", "busybox"))
        for a in ROOTFS_APPLETS:
            os.symlink("busybox", os.path.join(root, "bin", a))
        shutil.copy(attack_bin, os.path.join(root, "bin", "attack"))
        with open(os.path.join(root, "etc", "passwd"), "w") as f:
            f.write("root:x:0:0::/:/bin/sh\n")
        lines = ["touch_() { : > \"$1\"; }", "touch_ /tmp/fcap"]
        for bid, args, _ in BATTERY:
            lines.append("echo '@@ %s'; /bin/attack %s; rm -rf /fill /inodes" % (
                bid, " ".join(args)))
        with open(os.path.join(root, "battery.sh"), "w") as f:
            f.write("\n".join(lines) + "\n")
        r = subprocess.run([rt, "--pids", "64", "--mem", str(256 << 20), "--disk",
                            str(128 << 20), "--inodes", "20000", "--nofile", "128",
                            "--timeout", "240000", "--max-output", str(4 << 20), root, "--",
                            "/bin/sh", "/battery.sh"],
                           capture_output=True, text=True, timeout=300)
        res = None
        for line in r.stdout.splitlines():
            if line.startswith('{"exitCode"'):
                res = json.loads(line)
        assert res, "rt-run gave no result: %s %s" % (r.stdout[-2000:], r.stderr[-2000:])
        out, cur = {}, None
        for line in res["stdout"].splitlines():
            if line.startswith("@@ "):
                cur = line[3:].strip()
            elif line.startswith("{") and cur:
                out[cur] = json.loads(line)
        return out
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("bid,args,allowed", BATTERY, ids=[b[0] for b in BATTERY])
def test_runtime_attack(rt_results, bid, args, allowed):
    """Attack: tests/attacks `<args>` inside a namespace-backend sandbox made by rt-run
    (pids 64, 256 MiB memory, 128 MiB disk, 20000 inodes, 128 files).  Defence: the attack
    fails with one of the allowed errnos (see the REST-level test of the same attack)."""
    res = rt_results.get(bid)
    assert res is not None, "attack %s printed nothing (killed?)" % bid
    assert res["ok"] is False, "ATTACK SUCCEEDED in the runtime: %s" % res
    assert res["errno"] in allowed, "%s failed with %s: %s" % (bid, res["errname"], res)
