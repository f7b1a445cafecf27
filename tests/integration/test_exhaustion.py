"""Resource exhaustion from inside a sandbox must stay inside it.

DESIGN.md sections 2 and 6: per-tier cgroup limits (CPU, memory with OOM kills inside the
sandbox only, pids), a disk and inode quota on the writable layer, an open-files limit, and
bounded exec output.  Each test runs the real bomb in a sandbox with small limits and checks
(1) the bomb was stopped by the limit, (2) a neighbour sandbox in another group kept answering
exec within a few seconds, (3) the daemon survived and its memory / the host's disk did not
move much.
"""
import errno as E
import os
import re

import pytest

from attacks import (Prober, attack_bin, attacker, exit_killed, new_group,  # noqa: F401
                     new_sandbox, parse_line)

pytestmark = pytest.mark.security

LIMITS = {"pids": 64, "memoryMiB": 256, "diskMiB": 128, "openFiles": 128}


@pytest.fixture
def victim(airlockd, attack_bin):
    g = new_group(airlockd, tier="XS", resources=dict(LIMITS))
    sb = new_sandbox(airlockd, g)
    a = attacker(sb, attack_bin)
    yield a
    sb.delete()
    airlockd.api("DELETE", "/v1/sandboxgroups/" + g)


@pytest.fixture
def neighbour(airlockd):
    g = new_group(airlockd)
    sb = new_sandbox(airlockd, g)
    yield sb
    sb.delete()
    airlockd.api("DELETE", "/v1/sandboxgroups/" + g)


def daemon_rss_kib(d):
    with open("/proc/%d/status" % d.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def healthy(d):
    assert d.proc.poll() is None, "daemon died:\n" + d.logs()
    assert d.api("GET", "/healthz", key="")[0] == 200


@pytest.mark.slow
def test_fork_bomb(airlockd, victim, neighbour):
    """Attack: a fork bomb (every process forks forever) for 8 seconds.  Defence: the cgroup
    pids limit (64 here): fork fails with EAGAIN once the limit is reached; the neighbour
    answers exec within 5 s throughout; the victim itself answers again afterwards."""
    with Prober(neighbour) as p:
        r = victim.exec("forkbomb", 8, timeout=40)
    res = parse_line(r["stdout"], "forkbomb")
    assert res["ok"] is False, "fork bomb never hit a limit: %s" % res
    assert res["errno"] == E.EAGAIN, res
    forks = int(res["detail"].split()[0])
    assert forks < LIMITS["pids"], "%d processes with pids limit %d" % (forks, LIMITS["pids"])
    p.assert_responsive()
    r = victim.sb.exec(["echo", "back"])
    assert r["stdout"] == "back\n", r
    healthy(airlockd)


@pytest.mark.slow
def test_memory_bomb(airlockd, victim, neighbour):
    """Attack: touch 4 GiB of anonymous memory in a sandbox limited to 256 MiB.  Defence: the
    cgroup memory limit: the bomb is OOM-killed inside the sandbox (signal 9 / exit 137), the
    sandbox itself keeps running, the neighbour keeps answering, the daemon survives."""
    rss0 = daemon_rss_kib(airlockd)
    with Prober(neighbour) as p:
        r = victim.exec("membomb", 4096, timeout=90)
    assert not r.get("timedOut"), "memory bomb was not stopped in 90 s: %s" % r
    assert exit_killed(r), "memory bomb not OOM-killed: %s" % {k: r[k] for k in r
                                                               if k != "stdout"}
    assert '"ok":true' not in r.get("stdout", ""), r
    p.assert_responsive()
    healthy(airlockd)
    assert daemon_rss_kib(airlockd) - rss0 < 64 * 1024
    # only the bomb was killed: the victim sandbox runs on (its agent is not the biggest
    # process of its memory cgroup; test_api_sandboxes covers an OOM-killed agent)
    assert victim.sb.exec(["echo", "back"])["stdout"] == "back\n"
    st, sbr = airlockd.api("GET", victim.sb.base)
    assert st == 200 and sbr["state"] == "running" and sbr["reason"] is None, (st, sbr)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["/fill", "/tmp/fill"])
def test_disk_fill(airlockd, victim, neighbour, target):
    """Attack: write up to 1 GiB into the sandbox's root filesystem and /tmp with a 128 MiB disk
    quota (memory 256 MiB).  Defence: the writable layer quota: the writer gets ENOSPC/EDQUOT (or, for a
    memory-backed /tmp, the memory limit kills it) near 256 MiB; the host's free space under the
    state dir drops by no more than the quota; the neighbour keeps answering."""
    free0 = free_bytes(airlockd.state_dir)
    with Prober(neighbour) as p:
        r = victim.exec("fill", target, 1024, timeout=120)
        free1 = free_bytes(airlockd.state_dir)
    quota = LIMITS["diskMiB"] << 20
    if exit_killed(r) and target.startswith("/tmp"):
        pass  # tmpfs charged to the memory cgroup: stopped by the memory limit
    else:
        res = parse_line(r["stdout"], "fill")
        assert res["ok"] is False, "wrote 1 GiB with a 256 MiB quota: %s" % res
        assert res["errno"] in (E.ENOSPC, E.EDQUOT), res
        written = int(res["detail"].split()[0])
        assert written <= quota * 1.25 + (16 << 20), res
    used = free0 - free1
    assert used <= quota * 1.25 + (64 << 20), "host lost %d MiB of disk" % (used >> 20)
    p.assert_responsive()
    r = victim.sb.exec("rm -f %s; echo back" % target)
    assert r["stdout"] == "back\n", "victim sandbox unusable after filling its disk: %s" % r
    healthy(airlockd)


@pytest.mark.slow
def test_disk_fill_default_tier(airlockd, attack_bin, neighbour):
    """Attack: fill the writable layer of a default XS sandbox (512 MiB memory, 2 GiB disk),
    writing up to 2.5 GiB.  Defence: the disk quota stops the writer with ENOSPC/EDQUOT at about
    2 GiB; the sandbox itself (its agent) survives and answers; the host disk under the state
    dir loses at most the quota; the neighbour keeps answering."""
    g = new_group(airlockd, tier="XS")
    sb = new_sandbox(airlockd, g)
    try:
        a = attacker(sb, attack_bin)
        free0 = free_bytes(airlockd.state_dir)
        with Prober(neighbour) as p:
            st, r = airlockd.api("POST", sb.base + "/exec", {
                "command": [a.path, "fill", "/fill", "2560"], "timeout": 300}, timeout=400)
            free1 = free_bytes(airlockd.state_dir)
        assert st == 200, "exec failed: %s %s; sandbox now: %s" % (
            st, r, airlockd.api("GET", sb.base)[1])
        assert not exit_killed(r), "writer killed instead of getting ENOSPC (disk quota larger " \
            "than the memory that backs it?): %s" % r
        res = parse_line(r["stdout"], "fill")
        assert res["ok"] is False and res["errno"] in (E.ENOSPC, E.EDQUOT), res
        assert free0 - free1 <= (2 << 30) * 1.25 + (64 << 20)
        p.assert_responsive()
        st, r = airlockd.api("POST", sb.base + "/exec", {"command": ["echo", "back"]})
        assert st == 200 and r["stdout"] == "back\n", \
            "sandbox lost after filling its disk: %s %s (state %s)" % (
                st, r, airlockd.api("GET", sb.base)[1])
        healthy(airlockd)
    finally:
        sb.delete()
        airlockd.api("DELETE", "/v1/sandboxgroups/" + g)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["/inodes", "/tmp/inodes"])
def test_inode_fill(airlockd, victim, neighbour, target):
    """Attack: create up to 300000 empty files (exhaust inodes, which a byte quota alone does not
    stop).  Defence: the inode quota of the writable layer (or the memory limit for a tmpfs):
    creation fails with ENOSPC/EDQUOT before 300000; the neighbour keeps answering."""
    with Prober(neighbour) as p:
        r = victim.exec("inodefill", target, 300000, timeout=300)
    if not exit_killed(r):
        res = parse_line(r["stdout"], "inodefill")
        assert res["ok"] is False, "created 300000 files: no inode quota: %s" % res
        assert res["errno"] in (E.ENOSPC, E.EDQUOT, E.ENOMEM), res
    p.assert_responsive()
    healthy(airlockd)


def test_open_files_limit(victim):
    """Attack: raise RLIMIT_NOFILE above its hard limit and open descriptors until refused
    (exhausting the host's file table).  Defence: the tier's open-files limit (128 here) as
    hard RLIMIT_NOFILE: raising fails with EPERM, opening stops with EMFILE at <= 128."""
    res = victim.run("nofile")
    assert res["ok"] is False, "raised RLIMIT_NOFILE: %s" % res
    assert res["errno"] == E.EPERM, res
    m = re.search(r"soft=(\d+) hard=(\d+) .* opened=(\d+) stop_errno=(\d+)", res["detail"])
    soft, hard, opened, stop = map(int, m.groups())
    assert hard <= LIMITS["openFiles"], res
    assert opened <= LIMITS["openFiles"], res
    assert stop == E.EMFILE, res


@pytest.mark.slow
def test_stdout_flood(airlockd, victim):
    """Attack: print 100 MB (`yes | head -c 100M`) and, separately, print forever until the
    timeout.  Defence: exec output capped at maxOutputBytes (default 1 MiB): the truncated
    flag is set, the returned output is bounded, the daemon's memory does not grow with it."""
    rss0 = daemon_rss_kib(airlockd)
    r = victim.sb.exec("yes | head -c 100000000", timeout=120)
    assert r["stdoutTruncated"] is True, {k: r[k] for k in r if k != "stdout"}
    assert len(r["stdout"]) <= (1 << 20) + 4096
    r = victim.sb.exec("yes >&2", timeout=5)
    assert r["timedOut"] is True and r["stderrTruncated"] is True, \
        {k: r[k] for k in r if k not in ("stdout", "stderr")}
    assert len(r["stderr"]) <= (1 << 20) + 4096
    r = victim.sb.exec("head -c 3000000 /dev/zero | tr '\\0' y", timeout=60, tty=True)
    assert r["stdoutTruncated"] is True, \
        {k: r[k] for k in r if k not in ("stdout", "stderr")}
    assert len(r["stdout"]) <= (1 << 20) + 4096
    r = victim.sb.exec("yes", timeout=5, maxOutputBytes=4096)
    assert r["stdoutTruncated"] is True and len(r["stdout"]) <= 4096 + 16
    assert daemon_rss_kib(airlockd) - rss0 < 64 * 1024, "daemon RSS grew by %d KiB" % (
        daemon_rss_kib(airlockd) - rss0)
    healthy(airlockd)


@pytest.mark.slow
def test_cpu_hog(airlockd, attack_bin, neighbour):
    """Attack: 8 processes spin for 6 seconds in an XS sandbox (0.25 CPU) to starve the host
    and the neighbours.  Defence: the cgroup CPU quota: the hog gets about 0.25 CPU-seconds
    per second in total (1.5 s over 6 s, with slack), and the neighbour answers within 5 s."""
    g = new_group(airlockd, tier="XS")
    sb = new_sandbox(airlockd, g)
    try:
        a = attacker(sb, attack_bin)
        with Prober(neighbour) as p:
            res = a.run("cpuhog", 8, 6, timeout=60)
        m = re.search(r"cpu=([\d.]+) wall=([\d.]+)", res["detail"])
        cpu, wall = float(m.group(1)), float(m.group(2))
        assert cpu <= 0.25 * wall * 1.5 + 0.5, "XS sandbox got %.2f CPU-s in %.2f s" % (cpu, wall)
        p.assert_responsive()
    finally:
        sb.delete()
        airlockd.api("DELETE", "/v1/sandboxgroups/" + g)


def test_limits_cannot_exceed_host(airlockd, tenant_key):
    """Attack: an ordinary tenant gives its group a memory limit far above the host's RAM (and
    a disk quota far above the host's free space), so that one sandbox's bomb triggers the
    host-wide OOM killer (which may kill the daemon or other tenants) instead of a kill inside
    its own cgroup.  (Not run as a bomb: that would hit everything on this machine.)
    Defence: such settings are refused (400) or clamped to what the host can hold."""
    with open("/proc/meminfo") as f:
        mem_mib = int(f.readline().split()[1]) // 1024
    disk_mib = free_bytes(airlockd.state_dir) >> 20
    name = "g-big-%d" % os.getpid()
    for res in ({"memoryMiB": min(262144, mem_mib * 4)}, {"diskMiB": min(1048576, disk_mib * 4)}):
        st, r = airlockd.api("PUT", "/v1/sandboxgroups/" + name, {"image": "busybox",
                                                                    "resources": res},
                             key=tenant_key)
        try:
            if st in (200, 201):
                got = r["resources"]
                assert got["memoryMiB"] <= mem_mib and got["diskMiB"] <= max(disk_mib, 1), \
                    "tenant got limits beyond the host (%d MiB RAM, %d MiB free disk): %s" % (
                        mem_mib, disk_mib, got)
            else:
                assert st == 400, (st, r)
        finally:
            airlockd.api("DELETE", "/v1/sandboxgroups/" + name, key=tenant_key)


@pytest.mark.slow
def test_huge_directory_listing(airlockd, attack_bin, group):
    """Attack: user code creates 100000 files in one directory so the tenant's routine
    GET /files/list makes the agent and daemon build an enormous response.  Defence: the
    listing is bounded (entries capped or streamed): it returns within 10 s and the daemon's
    memory grows by less than 64 MiB."""
    import time
    sb = new_sandbox(airlockd, group)
    try:
        a = attacker(sb, attack_bin)
        res = a.run("inodefill", "/tmp/many", 100000, timeout=120)
        if res["ok"] is False:
            pytest.skip("inode quota below 100000 here: %s" % res["detail"])
        rss0 = daemon_rss_kib(airlockd)
        t0 = time.time()
        st, body = airlockd.api("GET", sb.base + "/files/list?path=/tmp/many", timeout=60)
        took = time.time() - t0
        assert st in (200, 400, 413), (st, str(body)[:300])
        assert took < 10, "listing took %.1f s" % took
        assert daemon_rss_kib(airlockd) - rss0 < 64 * 1024
        healthy(airlockd)
    finally:
        sb.delete()


@pytest.mark.slow
def test_tenant_cannot_starve_other_tenants(fresh_daemon):
    """Attack: tenant B holds 150 long-running exec requests open at once (each a `sleep 12` in
    its own sandbox), exhausting the daemon's connection or thread limit so that every other
    tenant's calls fail.  Defence: per-tenant / per-sandbox bounds on concurrent requests
    (429 for B beyond them): tenant A's exec and /healthz keep answering within 5 s."""
    import threading
    import time
    d = fresh_daemon()
    st, r = d.api("POST", "/v1/keys", {"tenant": "t-hog"})
    assert st == 201, (st, r)
    kb = r["key"]
    sbb = new_sandbox(d, new_group(d, key=kb), key=kb)
    sba = new_sandbox(d, new_group(d))
    results = []

    def hog():
        try:
            results.append(d.api("POST", sbb.base + "/exec",
                                 {"command": ["sleep", "12"], "timeout": 20},
                                 key=kb, timeout=60)[0])
        except OSError as e:
            results.append(type(e).__name__)

    threads = [threading.Thread(target=hog, daemon=True) for _ in range(150)]
    for t in threads:
        t.start()
    time.sleep(3)
    failures = []
    try:
        for _ in range(3):
            t0 = time.time()
            try:
                st, r = d.api("POST", sba.base + "/exec", {"command": ["echo", "a"]}, timeout=10)
                if st != 200 or time.time() - t0 > 5:
                    failures.append("exec %s in %.1f s" % (st, time.time() - t0))
            except OSError as e:
                failures.append("exec: %s" % e)
            try:
                if d.api("GET", "/healthz", key="", timeout=10)[0] != 200:
                    failures.append("healthz not 200")
            except OSError as e:
                failures.append("healthz: %s" % e)
            time.sleep(0.5)
    finally:
        for t in threads:
            t.join(60)
    assert not failures, "tenant A starved while B held %d requests (B got %s): %s" % (
        len(threads), sorted(set(map(str, results))), failures)
