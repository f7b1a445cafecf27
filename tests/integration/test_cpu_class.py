"""The background CPU class (runtime/cpuclass.c): a sandbox that runs flat out at its CPU limit
is moved to cgroup cpu.idle, so that every other task that wakes preempts it, and kept off the
lowest CPU (cgroup cpuset), so that one CPU never has a background spinner on it (the noisy-
neighbour defence measured by bench/load.py); it comes back once it is calm.  Its stats say
which class it is in."""
import os
import threading
import time

import pytest

from conftest import new_group, new_sandbox
from hostres import cgroup_roots


def cpu_idle_files(sid):
    """cpu.idle of the sandbox's cgroups (its cpu controller's; none before Linux 5.15)."""
    out = []
    for root in cgroup_roots():
        path = os.path.join(root, "airlock", sid, "cpu.idle")
        if os.path.exists(path):
            out.append(path)
    return out


def cpu_idle(sid):
    vals = set()
    for path in cpu_idle_files(sid):
        with open(path) as f:
            vals.add(f.read().strip())
    assert len(vals) == 1, vals
    return vals.pop()


def cpuset_cpus(sid):
    """cpuset.cpus of the sandbox's cpuset cgroup; None without a cpuset controller."""
    for root in cgroup_roots():
        path = os.path.join(root, "airlock", sid, "cpuset.cpus")
        if os.path.exists(path):
            with open(path) as f:
                return f.read().strip()
    return None


def cpuset_available():
    """A cpuset controller: a v1 cpuset hierarchy, or cgroup2 with cpuset."""
    return any(os.path.exists(os.path.join(root, f)) for root in cgroup_roots()
               for f in ("cpuset.cpus", "cpuset.cpus.effective"))


def cpu_list(text):
    out = set()
    for part in text.split(","):
        a, _, b = part.partition("-")
        out.update(range(int(a), int(b or a) + 1))
    return out


def allowed_inside(sb):
    """The CPUs a process started now in the sandbox may run on."""
    r = sb.exec("grep Cpus_allowed_list /proc/self/status", 10)
    return cpu_list(r["stdout"].split(":", 1)[1].strip())


def cpu_class(d, sb):
    st, r = d.api("GET", sb.base + "/stats")
    assert st == 200, (st, r)
    return r["cpuClass"]


def wait_class(d, sb, want, within):
    end = time.time() + within
    seen = []
    while time.time() < end:
        seen.append(cpu_class(d, sb))
        if seen[-1] == want:
            return time.time()
        time.sleep(0.2)
    raise AssertionError("cpuClass did not become %s within %.0f s (saw %s)" % (
        want, within, sorted(set(seen))))


def spin(sb, seconds):
    """Two spinning processes in the background of the test (0.25 CPU: both throttled)."""
    t = threading.Thread(target=sb.exec, args=(
        "while :; do :; done & while :; do :; done", seconds))
    t.start()
    return t


@pytest.fixture
def xs_pair(airlockd):
    g = new_group(airlockd, tier="XS")
    hog, calm = new_sandbox(airlockd, g), new_sandbox(airlockd, g)
    if not cpu_idle_files(hog.id):
        hog.delete(), calm.delete()
        airlockd.api("DELETE", "/v1/sandboxgroups/" + g)
        pytest.skip("no cgroup cpu.idle on this kernel (Linux 5.15+): no background class")
    yield hog, calm
    hog.delete(), calm.delete()
    airlockd.api("DELETE", "/v1/sandboxgroups/" + g)


@pytest.mark.security
def test_spinning_sandbox_goes_to_the_background_and_comes_back(airlockd, xs_pair):
    """Attack: an XS sandbox spins on every CPU it may use, so that its neighbours' wake-ups
    wait behind it for a scheduler tick each.  Defence: within a few seconds it is in the
    background class (cpu.idle 1 on the host, cpuClass "background", off the lowest CPU from
    the host's view and its own), user code cannot write itself out of it, a calm neighbour
    stays in the normal class, and the hog comes back (every CPU again) once it stops."""
    hog, calm = xs_pair
    assert cpu_class(airlockd, hog) == "normal" and cpu_idle(hog.id) == "0"
    host_cpus = allowed_inside(calm)
    confined = cpuset_available() and len(host_cpus) > 1
    assert allowed_inside(hog) == host_cpus
    t0 = time.time()
    t = spin(hog, 10)
    try:
        wait_class(airlockd, hog, "background", 6)
        assert cpu_idle(hog.id) == "1"
        if confined:  # off the lowest CPU (--foreground-cpus 1), inside too
            bg = host_cpus - {min(host_cpus)}
            assert cpu_list(cpuset_cpus(hog.id)) == bg
            assert allowed_inside(hog) == bg
        # from inside: every cgroup file it might find, and the cgroup filesystem itself
        r = hog.exec("for f in /sys/fs/cgroup/cpu.idle /sys/fs/cgroup/cpu/cpu.idle "
                     "/sys/fs/cgroup/cpuset.cpus /sys/fs/cgroup/cpuset/cpuset.cpus; do "
                     "echo 0 > $f; done; mkdir -p /tmp/cg && mount -t cgroup2 none /tmp/cg && "
                     "echo 0 > /tmp/cg/cpu.idle; echo done", 10)
        assert r["stdout"].strip() == "done", r
        assert cpu_idle(hog.id) == "1" and cpu_class(airlockd, hog) == "background"
        if confined:
            assert cpu_list(cpuset_cpus(hog.id)) == host_cpus - {min(host_cpus)}
        for _ in range(10):  # the calm neighbour works and is never moved
            assert calm.exec("true")["exitCode"] == 0
        assert cpu_class(airlockd, calm) == "normal" and cpu_idle(calm.id) == "0"
    finally:
        t.join()
    stopped = time.time()
    assert stopped - t0 >= 9.5  # the spin ran to its timeout
    back = wait_class(airlockd, hog, "normal", 12)
    assert back - stopped >= 3, "came back %.1f s after it stopped: not after calm seconds" % (
        back - stopped)
    assert cpu_idle(hog.id) == "0"
    if confined:
        assert cpu_list(cpuset_cpus(hog.id)) == host_cpus and allowed_inside(hog) == host_cpus


def test_foreground_cpus_zero_leaves_every_cpu(fresh_daemon):
    """--foreground-cpus 0: a sandbox in the background keeps every CPU (cpu.idle alone)."""
    d = fresh_daemon(extra_args=["--foreground-cpus", "0"])
    g = new_group(d, tier="XS")
    hog = new_sandbox(d, g)
    try:
        if not cpu_idle_files(hog.id) or not cpuset_available():
            pytest.skip("no cgroup cpu.idle or cpuset here")
        every = allowed_inside(hog)
        t = spin(hog, 5)
        try:
            wait_class(d, hog, "background", 4.5)
            cs = cpuset_cpus(hog.id)  # none made (v1), or its parent's (cgroup2)
            assert cs is None or cs == "" or cpu_list(cs) == every, cs
            assert allowed_inside(hog) == every
        finally:
            t.join()
    finally:
        hog.delete()


def test_no_cpu_background_keeps_the_normal_class(fresh_daemon):
    """--no-cpu-background: the daemon leaves CPU-bound sandboxes in the normal class."""
    d = fresh_daemon(extra_args=["--no-cpu-background"])
    g = new_group(d, tier="XS")
    hog = new_sandbox(d, g)
    try:
        if not cpu_idle_files(hog.id):
            pytest.skip("no cgroup cpu.idle on this kernel (Linux 5.15+)")
        t = spin(hog, 5)
        seen = set()
        while t.is_alive():
            seen.add(cpu_class(d, hog))
            seen.add(cpu_idle(hog.id))
            time.sleep(0.3)
        t.join()
        assert seen == {"normal", "0"}, seen
    finally:
        hog.delete()
