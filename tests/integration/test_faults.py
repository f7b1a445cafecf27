"""Fault injection: the state directory's disk filling up, SQLite held busy by another
process.  Each must give a clear error and leave no lost or half-made state."""
import os
import sqlite3
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import new_group, new_sandbox


def loop_devices(under):
    """Loop devices whose backing file lies under `under`."""
    out = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    return {line.split(":", 1)[0] for line in out.splitlines() if under in line}


@pytest.fixture
def small_state_dir():
    """A state directory on its own 160 MiB tmpfs, so that it can be filled."""
    d = tempfile.mkdtemp(prefix="airlock-full-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160m,mode=0700", "airlock-test", d])
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs for the state dir")
    yield d
    subprocess.run(["umount", "-l", d])
    os.rmdir(d)


def fill(path, leave_bytes):
    st = os.statvfs(path)
    free = st.f_bavail * st.f_frsize
    size = max(0, free - leave_bytes)
    filler = os.path.join(path, "filler")
    with open(filler, "wb") as f:
        chunk = b"\0" * (1 << 20)
        while size > 0:
            n = min(size, len(chunk))
            try:
                f.write(chunk[:n])
                f.flush()
            except OSError:
                break
            size -= n
    return filler


def test_state_disk_full(fresh_daemon, small_state_dir):
    """The disk under the state dir fills up: creates fail with a clear error, nothing is
    left half-made, running sandboxes keep working, and after space is freed all is well."""
    d = fresh_daemon(state_dir=small_state_dir)
    # a quota the small disk can hold, above half the memory limit: an ext4 writable layer
    g = new_group(d, tier="XS", resources={"memoryMiB": 64, "diskMiB": 96})
    first = new_sandbox(d, g)
    assert first.exec("echo up")["stdout"] == "up\n"
    before_dirs = set(os.listdir(os.path.join(small_state_dir, "sandboxes")))
    before_loops = loop_devices(small_state_dir)
    filler = fill(small_state_dir, 0)

    st, r = d.api("POST", "/v1/sandboxgroups/%s/sandboxes" % g, {})
    assert st >= 400, (st, r)
    assert st != 500 or "space" in r["error"]["message"].lower(), r
    assert "space" in r["error"]["message"].lower() or r["error"]["code"] in (
        "LimitExceeded", "Unavailable"), r
    # nothing half-made: no new sandbox dir, no new loop device, no sandbox left running
    time.sleep(0.5)
    assert set(os.listdir(os.path.join(small_state_dir, "sandboxes"))) == before_dirs
    assert loop_devices(small_state_dir) <= before_loops
    st, lst = d.api("GET", "/v1/sandboxgroups/%s/sandboxes" % g)
    assert st == 200
    alive = [s for s in lst["sandboxes"] if s["state"] in ("creating", "running")]
    assert [s["id"] for s in alive] == [first.id], lst
    # the running sandbox still works (its disk is its own image, already allocated)
    assert first.exec("echo still")["stdout"] == "still\n"
    # the daemon survived and recovers once space is back
    os.unlink(filler)
    second = new_sandbox(d, g)
    assert second.exec("echo again")["stdout"] == "again\n"
    second.delete()
    first.delete()


def test_sqlite_held_busy(fresh_daemon):
    """Another process holds an exclusive lock on state.db for longer than the daemon's busy
    timeout: writes fail with 503 Unavailable (not 500, no crash, nothing half-written);
    a write racing a shorter lock waits and succeeds; after the lock is gone all works."""
    d = fresh_daemon()
    db = os.path.join(d.state_dir, "state.db")
    g = new_group(d)

    def hold(seconds, ready):
        con = sqlite3.connect(db, timeout=30, isolation_level=None)
        con.execute("BEGIN EXCLUSIVE")
        ready.set()
        time.sleep(seconds)
        con.execute("COMMIT")
        con.close()

    ready = threading.Event()
    t = threading.Thread(target=hold, args=(7, ready))
    t.start()
    ready.wait()
    st, r = d.api("PUT", "/v1/sandboxgroups/busy-long", {"image": "busybox"})
    t.join()
    assert st == 503, (st, r)
    assert r["error"]["code"] == "Unavailable"
    st, _ = d.api("GET", "/v1/sandboxgroups/busy-long")
    assert st == 404, "a refused write left a half-made group"

    ready = threading.Event()
    t = threading.Thread(target=hold, args=(1, ready))
    t.start()
    ready.wait()
    st, r = d.api("PUT", "/v1/sandboxgroups/busy-short", {"image": "busybox"})
    t.join()
    assert st == 201, (st, r)

    st, r = d.api("GET", "/v1/sandboxgroups")
    names = {x["name"] for x in r["groups"]}
    assert {g, "busy-short"} <= names and "busy-long" not in names
    assert d.proc.poll() is None
