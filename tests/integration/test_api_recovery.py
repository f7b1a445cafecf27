"""Daemon restarts: after SIGTERM sandboxes were stopped cleanly and are deleted/host_restart.
After kill -9 running sandboxes are re-adopted, or failed/host_restart and cleaned up when they
cannot be (test_api_readopt.py)."""
import os
import signal
import time

import pytest

from conftest import new_group
from test_api_sandboxes import cgroup_dirs, mounts_under, sandbox_or_skip, sandbox_processes


def wait_gone(pids, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        alive = [p for p in pids if os.path.exists("/proc/%d" % p)]
        if not alive:
            return []
        time.sleep(0.1)
    return alive


def test_sigterm_stops_sandboxes(fresh_daemon):
    d = fresh_daemon()
    g = new_group(d)
    sb, _ = sandbox_or_skip(d, g)
    pids = sandbox_processes(sb.id)
    assert pids
    assert d.stop(sig=signal.SIGTERM) == 0
    assert wait_gone(pids, timeout=2) == []
    sbdir = os.path.join(d.state_dir, "sandboxes", sb.id)
    assert not os.path.exists(sbdir) and not mounts_under(sbdir)
    assert cgroup_dirs(sb.id) == []
    assert not os.path.exists(d.sock)
    d2 = fresh_daemon(state_dir=d.state_dir)
    st, r = d2.api("GET", sb.base)
    assert st == 200 and r["state"] == "deleted" and r["reason"] == "host_restart", r


def test_sigterm_during_exec(fresh_daemon):
    import threading
    d = fresh_daemon()
    g = new_group(d)
    sb, _ = sandbox_or_skip(d, g)
    res = {}

    def run():
        try:
            res["r"] = d.api("POST", sb.base + "/exec", {"command": ["sleep", "120"],
                                                         "timeout": 200, "stream": True},
                             timeout=60)
        except Exception as e:  # noqa: BLE001 - the connection may be cut
            res["e"] = e
    t = threading.Thread(target=run)
    t.start()
    time.sleep(1)
    t0 = time.time()
    assert d.stop(sig=signal.SIGTERM) == 0
    assert time.time() - t0 < 15
    t.join(30)
    assert not t.is_alive()
    assert sandbox_processes(sb.id) == []


def test_one_daemon_per_state_dir(fresh_daemon):
    d = fresh_daemon()
    g = new_group(d)
    sb, _ = sandbox_or_skip(d, g)
    with pytest.raises(RuntimeError) as e:
        fresh_daemon(state_dir=d.state_dir)
    assert "another airlockd" in str(e.value)
    # the first daemon and its sandbox are unharmed
    assert sb.exec("echo alive")["stdout"] == "alive\n"
    st, _ = d.api("GET", "/healthz", key="")
    assert st == 200


def test_revoked_admin_key_is_replaced_on_restart(fresh_daemon):
    d = fresh_daemon()
    old = d.admin_key
    st, r = d.api("GET", "/v1/keys")
    kid = [k["id"] for k in r["keys"] if old.startswith(k["prefix"]) and k["admin"]][0]
    st, _ = d.api("DELETE", "/v1/keys/" + kid)
    assert st == 204
    assert d.api("GET", "/v1/keys")[0] == 401
    d.stop()
    d2 = fresh_daemon(state_dir=d.state_dir)
    assert d2.admin_key != old
    assert d2.api("GET", "/v1/keys")[0] == 200
    assert d2.api("GET", "/v1/keys", key=old)[0] == 401
