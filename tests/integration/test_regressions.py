"""Regression tests for bugs found by the load benchmark (bench/load.py)."""
import socket

from conftest import new_group, new_sandbox


def test_create_while_daemon_holds_more_fds_than_the_tier_allows(fresh_daemon):
    """PID 1 applied the tier's RLIMIT_NOFILE (256 for XS) while still holding the daemon's
    inherited fds, so with a few hundred fds open in airlockd every create failed with EMFILE
    ("set up fds: Too many open files")."""
    d = fresh_daemon()
    idle = []
    try:
        # each open connection is an fd in the daemon (within its per-IP and per-listener caps)
        for _ in range(60):
            idle.append(socket.create_connection(("127.0.0.1", d.port)))
        for _ in range(240):
            s = socket.socket(socket.AF_UNIX)
            s.connect(d.sock)
            idle.append(s)
        g = new_group(d, tier="XS")
        sb = new_sandbox(d, g)
        r = sb.exec(["sh", "-c", "ls /proc/self/fd | wc -l; ulimit -n"])
        assert r["exitCode"] == 0, r
        nfds, limit = r["stdout"].split()
        assert int(limit) == 256
        assert int(nfds) <= 5, "daemon fds leaked into the sandbox: %s" % r["stdout"]
        sb.delete()
    finally:
        for s in idle:
            s.close()


def test_concurrent_creates_do_not_deadlock(fresh_daemon):
    """The setup child (a raw clone3 of the multithreaded daemon) called glibc's setgroups(),
    which waits for every thread glibc believes exists to change ids too; those threads are
    not in the child, so one create in ~20 hung until "setup timed out" when creates ran
    concurrently with other API threads.  Found by bench/load.py."""
    import threading
    d = fresh_daemon()
    g = new_group(d, tier="XS")
    results, lock = [], threading.Lock()

    def worker():
        for _ in range(15):
            st, r = d.api("POST", "/v1/sandboxgroups/%s/sandboxes" % g, {}, timeout=60)
            with lock:
                results.append((st, r))
    ts = [threading.Thread(target=worker) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    bad = [(st, r) for st, r in results if st != 201]
    assert not bad, bad[:3]
    for st, r in results:
        d.api("DELETE", "/v1/sandboxgroups/%s/sandboxes/%s" % (g, r["id"]))
