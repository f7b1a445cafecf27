"""A container-escape checker run inside sandboxes: every check must run and find nothing.

The well-known escape checkers (amicontained, deepce, CDK's `evaluate`, linPEAS's container
section, botb) are not packaged in Debian or npm, so tests/attacks carries one that performs
their checks: `attack escape_check` (tests/attacks/atk_check*.c, output format in
atk_check.h).  It prints a PLAN line, FINDING/INFO lines and one `CHECK <id> ok|finding|error`
line per check.  Inside a sandbox, as the image's user, as root and as an unprivileged uid, all
CHECK lines of CHECKS must be present (no check silently skipped) and there must be no
FINDING.  The positive controls run the same program on the host, outside any sandbox, and
require findings there, so a passing sandbox run cannot come from checks that never fire.
"""
import os
import shutil
import subprocess

import pytest

from attacks import USERNS_ROOT, attack_bin, attacker  # noqa: F401

pytestmark = pytest.mark.security

# every check the program must report (tests/attacks/atk_check_*.c, tables at the ends)
CHECKS = [
    # this process
    "cap_effective", "cap_permitted", "cap_inheritable", "cap_bounding", "cap_ambient",
    "seccomp", "no_new_privs", "lsm", "userns_map", "cgroup_ns", "inherited_fds",
    "runtime_binary", "container_markers", "kernel_version",
    # privileged syscalls
    "userns", "unshare_ns", "setns", "mount", "ptrace", "pid1_access", "keyctl",
    "kernel_modules", "kexec", "reboot", "swap", "bpf", "perf_event", "io_uring", "userfaultfd",
    "iopl", "open_by_handle", "raw_socket", "dmesg", "privileged_misc",
    # files, devices, mounts, pids
    "core_pattern", "proc_sys_writable", "sysrq_trigger", "uevent_helper",
    "cgroup_release_agent", "kcore", "dev_mem", "kmsg", "kallsyms", "mountinfo", "dev_nodes",
    "dev_fuse", "dev_kvm", "host_pid", "pid1_identity", "sensitive_paths", "k8s_token",
    # network and environment
    "host_net", "routes", "cloud_metadata", "runtime_sockets", "socket_files",
    "abstract_sockets", "k8s_env", "sensitive_env", "host_env",
]

IN_SANDBOX = "/tmp/escape-check"


class Report:
    """Parsed escape_check output."""

    def __init__(self, out):
        self.out = out
        self.plan, self.status, self.findings, self.errors = [], {}, [], []
        for line in out.splitlines():
            kind, _, rest = line.partition(" ")
            if kind == "PLAN":
                self.plan = rest.split()[1:]
            elif kind == "CHECK":
                f = rest.split()
                self.status[f[0]] = f[1]
            elif kind == "FINDING":
                self.findings.append(rest)
            elif kind == "ERROR":
                self.errors.append(rest)

    def found(self, check):
        return [f for f in self.findings if f.split(" ", 1)[0] == check]

    def assert_complete(self, where):
        assert self.plan == CHECKS, "%s: planned but not expected %s, expected but not planned %s" % (
            where, sorted(set(self.plan) - set(CHECKS)), sorted(set(CHECKS) - set(self.plan)))
        missing = [c for c in CHECKS if c not in self.status]
        assert not missing, "%s: checks that never reported: %s\n%s" % (
            where, missing, self.out[-4000:])
        assert not self.errors, "%s: checks that could not run:\n  %s" % (
            where, "\n  ".join(self.errors))


def run_in_sandbox(sb, attack_bin, user=None):
    attacker(sb, attack_bin)  # upload once per sandbox to /tmp/attack
    kw = {"user": user} if user else {}
    r = sb.exec(["/tmp/attack", "escape_check", "--connect"], timeout=120, **kw)
    assert not r.get("timedOut"), r
    return Report(r["stdout"]), r


@pytest.mark.parametrize("user", [None, "root", "1000:1000"],
                         ids=["image-user", "root", "uid1000"])
def test_escape_checker_finds_nothing(sandbox, attack_bin, user):
    """Attack: every check of the published escape checkers (capabilities, seccomp,
    no_new_privs, user/mount/other namespaces, setns and ptrace of the agent, keyrings,
    modules, kexec, bpf, perf, io_uring, userfaultfd, shocker, raw sockets, kernel log,
    core_pattern, sysrq, uevent_helper, release_agent, kernel memory, mountinfo, device nodes,
    host pids, host network and routes, cloud metadata, runtime sockets, kubernetes tokens,
    leaked environment).  Defence: DESIGN.md section 6 as a whole; each FINDING names the
    layer that is missing."""
    rep, r = run_in_sandbox(sandbox, attack_bin, user)
    where = "sandbox, user %s" % (user or "of the image")
    rep.assert_complete(where)
    assert not rep.findings, "%s: %d findings:\n  %s" % (
        where, len(rep.findings), "\n  ".join(rep.findings))
    assert all(s == "ok" for s in rep.status.values()), rep.status
    assert r["exitCode"] == 0, r


def test_escape_checker_with_sensitive_env_in_exec(sandbox, attack_bin):
    """The environment checks do fire inside a sandbox: variables the caller passes in exec
    `env` are reported (by name only), so the clean run above means none leaked from the
    host, not that the check is blind there."""
    attacker(sandbox, attack_bin)
    env = {"AWS_SECRET_ACCESS_KEY": "not-a-real-key", "KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    r = sandbox.exec(["/tmp/attack", "escape_check", "--only=sensitive_env,k8s_env"], env=env)
    rep = Report(r["stdout"])
    assert rep.status == {"sensitive_env": "finding", "k8s_env": "finding"}, r["stdout"]
    assert "not-a-real-key" not in r["stdout"], "the checker printed a secret value"


# checks that fire for root on any Linux host outside a sandbox: the initial user namespace,
# all capabilities, no seccomp filter, kernel threads, the mount/namespace/bpf surface
HOST_ROOT_FIRES = [
    "cap_effective", "cap_permitted", "cap_bounding", "seccomp", "no_new_privs", "userns_map",
    "unshare_ns", "setns", "mount", "ptrace", "bpf", "raw_socket", "open_by_handle",
    "privileged_misc", "host_pid", "pid1_identity", "dev_nodes", "mountinfo", "sensitive_env",
    "host_env",
]
# and for an unprivileged host user
HOST_UNPRIV_FIRES = ["cap_bounding", "seccomp", "no_new_privs", "userns_map", "host_pid",
                     "pid1_identity", "sensitive_env", "host_env"]


def host_report(attack_bin, prefix=()):
    """The checker on the host: no --connect, so no packet leaves the host's namespace."""
    env = dict(os.environ, AWS_SECRET_ACCESS_KEY="not-a-real-key", PYTEST_ESCAPE_CONTROL="1")
    r = subprocess.run(list(prefix) + [attack_bin, "escape_check"], capture_output=True,
                       text=True, timeout=300, env=env)
    rep = Report(r.stdout)
    assert r.returncode == 1, (r.returncode, r.stdout[-3000:], r.stderr[-2000:])
    assert "not-a-real-key" not in r.stdout
    return rep


def test_control_escape_checker_fires_on_host_root(attack_bin):
    """Control: the same program as root on the host (outside any sandbox) reports findings,
    among them those every root host has, so each sandbox pass is the sandbox's doing."""
    if os.geteuid() != 0:
        pytest.skip("controls run as root")
    rep = host_report(attack_bin)
    rep.assert_complete("host, root")
    silent = [c for c in HOST_ROOT_FIRES if not rep.found(c)]
    assert not silent, "checks that did not fire on the host as root: %s\n%s" % (
        silent, "\n".join(l for l in rep.out.splitlines() if l.startswith("CHECK")))


def test_control_escape_checker_fires_on_host_unprivileged(attack_bin):
    """Control: as an unprivileged host user (setpriv) the checks of what needs no privilege
    (user namespaces and mappings, host pids, the missing seccomp filter) still fire."""
    if os.geteuid() != 0:
        pytest.skip("controls run as root (setpriv)")
    if not shutil.which("setpriv"):
        pytest.skip("setpriv not installed")
    rep = host_report(attack_bin, ("setpriv", "--reuid", "65534", "--regid", "65534",
                                   "--clear-groups"))
    rep.assert_complete("host, uid 65534")
    silent = [c for c in HOST_UNPRIV_FIRES if not rep.found(c)]
    assert not silent, "checks that did not fire on the host unprivileged: %s" % silent


# root in a bare user+mount+net+pid namespace on the host (`unshare -rmnpf --mount-proc`): what
# a sandbox would be with its namespaces but without seccomp, capability dropping, its own
# mounts and uid range
BARE_USERNS_FIRES = ["cap_effective", "cap_bounding", "seccomp", "no_new_privs", "userns_map",
                     "userns", "unshare_ns", "setns", "mount", "ptrace", "mountinfo"]
BARE_USERNS_SILENT = ["host_pid", "host_net", "routes", "cloud_metadata"]


def test_control_escape_checker_bare_userns(attack_bin):
    """Control: in a bare user namespace the checks of the missing layers fire and those of
    the namespaces it has (pid, net) stay quiet: the checker tells layers apart instead of
    flagging everything that is not the host.  --connect is safe: the new netns has only lo."""
    if os.geteuid() != 0:
        pytest.skip("controls run as root")
    r = subprocess.run(list(USERNS_ROOT) + ["true"], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot create user namespaces here: %s" % r.stderr.decode()[-200:])
    r = subprocess.run(list(USERNS_ROOT) + [attack_bin, "escape_check", "--connect"],
                       capture_output=True, text=True, timeout=300)
    rep = Report(r.stdout)
    rep.assert_complete("bare user namespace")
    silent = [c for c in BARE_USERNS_FIRES if not rep.found(c)]
    assert not silent, "checks that did not fire in a bare user namespace: %s" % silent
    loud = {c: rep.found(c) for c in BARE_USERNS_SILENT if rep.found(c)}
    assert not loud, "checks that fired although the namespace isolates: %s" % loud
