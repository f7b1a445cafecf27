"""Escape attempts through the kernel's privileged surface, from inside a sandbox.

DESIGN.md section 6: nested namespace creation, mount, ptrace, bpf, keyctl/add_key,
perf_event_open, userfaultfd, io_uring, kexec, init_module, TIOCSTI/TIOCLINUX and the rest of
Docker's default deny list are refused by a seccomp filter; user code has no capabilities.
Every test runs the real syscall in the sandbox with tests/attacks and requires it to fail with
the errno of the defence (EPERM from seccomp or the missing capability; ENOSYS where a filter
or the kernel lacks the call).  test_attack_controls.py shows the same program succeeds on the
host where the defences are absent.
"""
import errno as E

import pytest

from attacks import DENIED, atk, attack_bin, refused  # noqa: F401

pytestmark = pytest.mark.security

NAMESPACES = ["user", "mnt", "net", "pid", "ipc", "uts", "cgroup", "time"]


@pytest.mark.parametrize("ns", NAMESPACES)
def test_unshare_namespace(atk, ns):
    """Attack: unshare(CLONE_NEW<ns>) to build a namespace where we are root with fresh
    capabilities (the first step of most container escapes).  Defence: seccomp denies nested
    namespace creation and user code holds no CAP_SYS_ADMIN: EPERM."""
    refused(atk.run("unshare", ns))


@pytest.mark.parametrize("ns", NAMESPACES)
def test_clone_namespace(atk, ns):
    """Attack: clone(2) with CLONE_NEW<ns> (the unshare filter bypass via clone flags).
    Defence: seccomp argument filter on clone flags / no capabilities: EPERM.  (clone(2) cannot
    express CLONE_NEWTIME, whose bit is in the exit-signal byte: for "time" the child must
    simply not be in a new time namespace.)"""
    res = atk.run("clone", ns)
    refused(res, DENIED | ({0} if ns == "time" else set()))


@pytest.mark.parametrize("ns", NAMESPACES)
def test_clone3_namespace(atk, ns):
    """Attack: clone3(2) with CLONE_NEW<ns>: its flags live in memory where seccomp cannot
    look, so a filter must refuse clone3 outright (ENOSYS, like Docker) or it must fail for lack
    of privilege (EPERM)."""
    refused(atk.run("clone3", ns))


@pytest.mark.parametrize("ns", ["mnt", "net", "pid", "user", "uts", "ipc", "cgroup"])
def test_setns_to_pid1(atk, ns):
    """Attack: open /proc/1/ns/<ns> (the agent's namespaces) and setns(2) into it.
    Defence: seccomp denies setns / no CAP_SYS_ADMIN; opening may also be refused (the agent
    is not dumpable) or it is our own namespace (EINVAL for the user ns)."""
    refused(atk.run("setns", ns, "1"), DENIED | {E.EINVAL, E.ENOENT})


def test_setns_via_pidfd(atk):
    """Attack: pidfd_open(1) + setns(pidfd, mnt|net|uts|ipc).  Defence as for setns."""
    refused(atk.run("setns_pidfd", "1"), DENIED | {E.EINVAL, E.ESRCH})


@pytest.mark.parametrize("name", ["mount_tmpfs", "mount_bind", "mount_proc", "remount_root",
                                  "fsopen", "open_tree"])
def test_mount(atk, name):
    """Attack: mount a tmpfs, bind-mount /, mount a new procfs, remount / to clear ro/nosuid/
    nodev, or use the new mount API (fsopen, open_tree).  Defence: seccomp denies mount calls
    and user code has no CAP_SYS_ADMIN: EPERM."""
    refused(atk.run(name))


def test_ptrace_pid1(atk):
    """Attack: PTRACE_ATTACH to PID 1 (the agent, which talks to the daemon).  Defence: seccomp
    denies ptrace; the agent is also not dumpable: EPERM."""
    refused(atk.run("ptrace", "1"))


def test_ptrace_own_child(atk):
    """Attack: PTRACE_ATTACH to a child of our own (allowed by the kernel for an ordinary
    user, see the control).  Defence: seccomp denies ptrace: EPERM."""
    refused(atk.run("ptrace_child"))


def test_ptrace_sibling(atk):
    """Attack: PTRACE_ATTACH to a sibling process in the same sandbox (a `sleep` started by
    the same shell).  Defence: seccomp denies ptrace: EPERM."""
    r = atk.sb.exec("sleep 30 & p=$!; %s ptrace $p; kill $p" % atk.path)
    from attacks import parse_line
    refused(parse_line(r["stdout"], "ptrace"))


def test_ptrace_traceme(atk):
    """Attack: PTRACE_TRACEME (lets a parent trace us; used to bypass seccomp on old kernels).
    Defence: seccomp denies ptrace: EPERM."""
    refused(atk.run("ptrace_traceme"))


def test_process_vm_readv_pid1(atk):
    """Attack: process_vm_readv on PID 1 (read the agent's memory).  Defence: seccomp denies
    it / the agent is not dumpable: EPERM (EFAULT would mean the permission check passed)."""
    refused(atk.run("vmread", "1"), DENIED | {E.ESRCH})


def test_process_vm_readv_own_child(atk):
    """Attack: process_vm_readv of an own child (allowed for an ordinary host user).
    Defence: seccomp denies process_vm_readv: EPERM."""
    refused(atk.run("vmread_child"))


@pytest.mark.parametrize("name", ["bpf_map", "bpf_prog"])
def test_bpf(atk, name):
    """Attack: bpf(BPF_MAP_CREATE) / bpf(BPF_PROG_LOAD) (verifier bugs are a classic kernel
    escalation).  Defence: seccomp denies bpf: EPERM."""
    refused(atk.run(name))


@pytest.mark.parametrize("name", ["add_key", "keyctl"])
def test_keyrings(atk, name):
    """Attack: add_key / keyctl (kernel keyrings are not namespaced: a sandbox could read or
    fill keys of other users).  Defence: seccomp denies them: EPERM."""
    refused(atk.run(name))


def test_io_uring(atk):
    """Attack: io_uring_setup (a large kernel surface that bypasses seccomp for the operations
    it performs).  Defence: seccomp denies io_uring_*: EPERM."""
    refused(atk.run("io_uring"))


def test_perf_event_open(atk):
    """Attack: perf_event_open on our own task (allowed unprivileged on this host, see the
    control).  Defence: seccomp denies it: EPERM."""
    refused(atk.run("perf_event"))


def test_userfaultfd(atk):
    """Attack: userfaultfd (used to widen kernel race windows).  Defence: seccomp denies it."""
    refused(atk.run("userfaultfd"))


@pytest.mark.parametrize("name", ["kexec_load", "kexec_file_load"])
def test_kexec(atk, name):
    """Attack: kexec_load / kexec_file_load (boot another kernel).  Defence: seccomp and no
    CAP_SYS_BOOT: EPERM (or ENOSYS where the kernel lacks kexec)."""
    refused(atk.run(name))


@pytest.mark.parametrize("name", ["init_module", "finit_module"])
def test_load_module(atk, name):
    """Attack: init_module / finit_module (load kernel code).  Defence: seccomp and no
    CAP_SYS_MODULE: EPERM (ENOSYS on a kernel without modules)."""
    refused(atk.run(name))


def test_open_by_handle_at(atk):
    """Attack: "shocker": open_by_handle_at with a forged handle for inode 2 to open files
    outside the mount (escaped Docker in 2014).  Defence: seccomp and no CAP_DAC_READ_SEARCH:
    EPERM (ESTALE would mean the capability check passed)."""
    refused(atk.run("open_by_handle"))


def test_iopl(atk):
    """Attack: iopl(3) (raw I/O port access).  Defence: seccomp / no CAP_SYS_RAWIO."""
    refused(atk.run("iopl"))


def test_syslog(atk):
    """Attack: syslog(READ_ALL) (read the host's kernel log: addresses, other tenants' events).
    Defence: seccomp denies syslog / no CAP_SYSLOG: EPERM."""
    refused(atk.run("dmesg"))


def test_clock_settime(atk):
    """Attack: clock_settime(CLOCK_REALTIME) (the clock is host-wide; sets it to now, so it is
    harmless even if it works).  Defence: seccomp / no CAP_SYS_TIME: EPERM."""
    refused(atk.run("settime"))


def test_tiocsti(atk):
    """Attack: ioctl(TIOCSTI) on the exec's tty to inject input into whatever reads that
    terminal.  Defence: seccomp denies TIOCSTI: EPERM.  Run with tty: true."""
    res = atk.run("tiocsti", tty=True)
    if res["errno"] == E.ENOTTY:
        pytest.fail("exec with tty: true did not give the process a tty: %s" % res)
    refused(res, {E.EPERM, E.EIO})


def test_tioclinux(atk):
    """Attack: ioctl(TIOCLINUX) on the exec's tty (console selection/paste injection).
    Defence: DESIGN section 6 requires the seccomp filter to refuse it: EPERM."""
    res = atk.run("tioclinux", tty=True)
    if res["errno"] == E.ENOTTY and "tty=0" in res["detail"]:
        pytest.fail("exec with tty: true did not give the process a tty: %s" % res)
    refused(res, {E.EPERM})


ABI_CALLS = ["unshare_user", "unshare_net", "keyctl", "ptrace_traceme", "userfaultfd",
             "io_uring", "bpf_map"]


@pytest.mark.parametrize("abi", ["ia32", "x32"])
@pytest.mark.parametrize("call", ABI_CALLS)
def test_other_syscall_abi(atk, abi, call):
    """Attack: issue a denied call through the i386 ABI (int $0x80, different syscall numbers)
    or the x32 ABI (nr | 0x40000000): a filter that only matches x86_64 numbers lets them
    through (control: unshare/keyctl/io_uring via int $0x80 work for an unprivileged host
    user).  Defence: the filter checks the audit arch and the x32 bit: EPERM (ENOSYS where the
    kernel has no such ABI)."""
    refused(atk.run(abi, call))


def test_proc_mem_of_sibling(atk):
    """Attack: ptrace without ptrace(2): open /proc/<pid>/mem of another process in the
    sandbox (a long-running server an earlier request started, with secrets in its memory)
    and read it, or open it read-write to inject code.  The seccomp filter denies ptrace and
    process_vm_readv, but /proc/<pid>/mem gives the same power to a same-uid process
    (control: it works for an unprivileged host user).  Defence: every exec runs in a Landlock
    domain of its own, and Landlock refuses ptrace-mode access to processes outside the
    caller's domain: EACCES/EPERM, no bytes read.  (Processes of one exec, e.g. a shell and
    its own children, share a domain: that is one program's own process tree.)"""
    from attacks import parse_line
    r = atk.sb.exec("sleep 60 </dev/null >/dev/null 2>&1 & echo $!")
    victim = int(r["stdout"].strip())
    try:
        r = atk.sb.exec("%s procmem %d" % (atk.path, victim))
        res = parse_line(r["stdout"], "procmem")
        assert "OPENED" not in res["detail"], "sibling's /proc/pid/mem opened read-write: %s" % res
        refused(res, {E.EACCES, E.EPERM, E.ENOENT})
        r = atk.sb.exec("cat /proc/%d/environ >/dev/null; echo rc=$?" % victim)
        assert r["stdout"].strip() == "rc=1", r
    finally:
        atk.sb.exec("kill %d" % victim)


def test_pidfd_getfd(atk):
    """Attack: pidfd_getfd to copy a descriptor out of another process (an own child here,
    which the kernel allows for an ordinary user, see the control); aimed at the agent or a
    sibling it would steal sockets and files.  Defence: seccomp denies pidfd_getfd: EPERM."""
    refused(atk.run("pidfd_getfd"))


def test_pivot_root(atk):
    """Attack: pivot_root to swap the sandbox's root.  Defence: seccomp / no CAP_SYS_ADMIN."""
    refused(atk.run("pivot_root"), DENIED)
