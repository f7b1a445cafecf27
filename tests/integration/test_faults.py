"""Fault injection: the state directory's disk filling up, SQLite held busy by another
process, a registry that stalls or sends a corrupt blob to POST /v1/images/pull, an image
delete while a slow pull is in flight.  Each must give a clear error and leave no lost or
half-made state."""
import gzip
import hashlib
import http.client
import json
import os
import sqlite3
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import new_group, new_sandbox
from hostres import assert_unchanged, snapshot
from imgtool import busybox_layout  # noqa: F401  (fixture)
from registry_fakes import (SlowProxy, StallingRegistry, busybox_tar,  # noqa: F401
                            corrupt_blob, registry, restore_blob, skopeo_push)


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
    before = snapshot(d)
    assert before["loops"], "control: the first sandbox's disk is on a loop device"
    filler = fill(small_state_dir, 0)

    st, r = d.api("POST", "/v1/sandboxgroups/%s/sandboxes" % g, {})
    assert st >= 400, (st, r)
    assert st != 500 or "space" in r["error"]["message"].lower(), r
    assert "space" in r["error"]["message"].lower() or r["error"]["code"] in (
        "LimitExceeded", "Unavailable"), r
    # nothing half-made: no new sandbox dir, loop device, cgroup, mount or process
    assert_unchanged(d, before)
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


def assert_disk_full_error(st, r):
    """The house answer to a full state disk: 429 LimitExceeded saying so (as SQLite's "database
    or disk is full" always was), never a 500 or a success."""
    assert st == 429 and r["error"]["code"] == "LimitExceeded", (st, r)
    msg = r["error"]["message"].lower()
    assert "space" in msg or "disk is full" in msg, r


SMALL = {"tier": "XS", "resources": {"memoryMiB": 64, "diskMiB": 96}}  # fits the 160 MiB disk


def test_state_disk_full_group_put(fresh_daemon, small_state_dir):
    """The state disk is full when a group is PUT, new or replaced: a clear error (the group's
    disk quota is checked against the free space first: 400 saying so), no group row (GET
    404, not listed), the existing group unchanged; once space is freed the same PUT works."""
    d = fresh_daemon(state_dir=small_state_dir)
    g0 = new_group(d, labels={"keep": "me"}, **SMALL)
    body = dict(SMALL, image="busybox", env={"V%03d" % i: "x" * 8000 for i in range(100)})
    filler = fill(small_state_dir, 0)
    for name in ("g-full", g0):
        st, r = d.api("PUT", "/v1/sandboxgroups/" + name, body)
        assert st == 400 and r["error"]["code"] == "InvalidArgument", (st, r)
        assert "exceeds the free space under the state directory (0 MiB)" in \
            r["error"]["message"], r
    assert d.api("GET", "/v1/sandboxgroups/g-full")[0] == 404
    st, r = d.api("GET", "/v1/sandboxgroups")
    assert st == 200 and [x["name"] for x in r["groups"]] == [g0], r
    assert r["groups"][0]["labels"] == {"keep": "me"} and r["groups"][0]["env"] == {}, r
    os.unlink(filler)
    st, r = d.api("PUT", "/v1/sandboxgroups/g-full", body)
    assert st == 201 and r["env"] == body["env"], st
    assert d.proc.poll() is None


def big_archive(mib):
    """An OCI archive with one uncompressed layer holding `mib` MiB of random bytes."""
    from test_escape_image import oci_archive, ti
    data = os.urandom(mib << 20)
    return oci_archive([[ti("big", data=data)]])


def store_snapshot(d):
    """Every entry under STATE/images and STATE/tmp (names only)."""
    out = set()
    for sub in ("images", "tmp"):
        for root, dirs, files in os.walk(os.path.join(d.state_dir, sub)):
            for n in dirs + files:
                out.add(os.path.relpath(os.path.join(root, n), d.state_dir))
    return out


@pytest.mark.parametrize("room", ["none", "archive-only"])
def test_state_disk_full_image_import(fresh_daemon, small_state_dir, room):
    """The state disk fills during POST /v1/images/import: with no room at all (the uploaded
    archive cannot be spooled) or room for the archive but not for its blobs and layers.
    A clear error; no image listed, no temp file, no blob or layer (whole or partial) left;
    once space is freed the same archive imports."""
    d = fresh_daemon(state_dir=small_state_dir)
    archive = big_archive(8)
    before = store_snapshot(d)
    filler = fill(small_state_dir, 0 if room == "none" else len(archive) + (256 << 10))
    st, r = d.api("POST", "/v1/images/import?name=full", raw=archive,
                  headers={"Content-Type": "application/x-tar"})
    assert_disk_full_error(st, r)
    st, lst = d.api("GET", "/v1/images")
    assert st == 200 and "full" not in [i["name"] for i in lst["images"]], lst
    assert store_snapshot(d) == before, "a failed import left %s" % (store_snapshot(d) - before)
    os.unlink(filler)
    st, r = d.api("POST", "/v1/images/import?name=full", raw=archive,
                  headers={"Content-Type": "application/x-tar"})
    assert st == 201, (st, r)


def test_state_disk_full_image_pull(fresh_daemon, small_state_dir, registry):  # noqa: F811
    """The state disk is full during POST /v1/images/pull: a clear error; no image, no temp
    file, no partial blob or layer; once space is freed the same pull works."""
    d = fresh_daemon(state_dir=small_state_dir)
    from test_escape_image import _layer, ti
    tar = _layer([ti("big", data=os.urandom(8 << 20))])
    digest = "sha256:" + hashlib.sha256(tar).hexdigest()
    registry.push_image("full", "v1", [(tar, "application/vnd.oci.image.layer.v1.tar", digest)])
    ref = registry.host + "/full:v1"
    before = store_snapshot(d)
    filler = fill(small_state_dir, 0)
    st, r = d.api("POST", "/v1/images/pull", {"ref": ref}, timeout=60)
    assert_disk_full_error(st, r)
    st, lst = d.api("GET", "/v1/images")
    assert st == 200 and ref not in [i["name"] for i in lst["images"]], lst
    assert store_snapshot(d) == before, "a failed pull left %s" % (store_snapshot(d) - before)
    os.unlink(filler)
    st, r = d.api("POST", "/v1/images/pull", {"ref": ref}, timeout=60)
    assert st == 201, (st, r)


def test_sqlite_held_busy(fresh_daemon):
    """Another process holds an exclusive lock on state.db for longer than the daemon's busy
    timeout: writes fail with 503 Unavailable (not 500, no crash, nothing half-written);
    a write racing a shorter lock waits and succeeds; after the lock is gone all works."""
    d = fresh_daemon()
    db = os.path.join(d.state_dir, "state.db")
    g = new_group(d)

    def put_group_while_locked(seconds, name):
        """PUT a group while another connection holds the database exclusively."""
        ready = threading.Event()

        def hold():
            con = sqlite3.connect(db, timeout=30, isolation_level=None)
            con.execute("BEGIN EXCLUSIVE")
            ready.set()
            time.sleep(seconds)
            con.execute("COMMIT")
            con.close()
        t = threading.Thread(target=hold)
        t.start()
        ready.wait()
        res = d.api("PUT", "/v1/sandboxgroups/" + name, {"image": "busybox"})
        t.join()
        return res

    st, r = put_group_while_locked(7, "busy-long")
    assert st == 503, (st, r)
    assert r["error"]["code"] == "Unavailable"
    st, _ = d.api("GET", "/v1/sandboxgroups/busy-long")
    assert st == 404, "a refused write left a half-made group"

    st, r = put_group_while_locked(1, "busy-short")
    assert st == 201, (st, r)

    st, r = d.api("GET", "/v1/sandboxgroups")
    names = {x["name"] for x in r["groups"]}
    assert {g, "busy-short"} <= names and "busy-long" not in names
    assert d.proc.poll() is None


# --- a registry that stalls or lies, through the API ---------------------------------------

STALL_S = 2  # airlockd --pull-stall-timeout in these tests (the default is 30 s)
LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"


def image_store(d):
    """(blob names, layer dir names) of the daemon's image store, STATE/images."""
    root = os.path.join(d.state_dir, "images")
    return (set(os.listdir(os.path.join(root, "blobs/sha256"))),
            set(os.listdir(os.path.join(root, "layers"))))


def assert_nothing_half_made(d, before, name, absent):
    """After a failed pull: the image is not listed, the store has no temp file, no new
    unpacked layer and none of the `absent` digests (the manifest, the failed blob); a blob
    it did keep (the config, fetched before the layer) is whole and verified."""
    st, r = d.api("GET", "/v1/images")
    assert st == 200 and name not in {im["name"] for im in r["images"]}, r
    blobs, layers = image_store(d)
    assert not [n for n in blobs | layers if n.startswith(".tmp-")], (blobs, layers)
    assert layers == before[1], "a failed pull left an unpacked layer"
    for digest in absent:
        assert digest.split(":", 1)[1] not in blobs, digest
    for h in blobs - before[0]:
        with open(os.path.join(d.state_dir, "images/blobs/sha256", h), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == h, "partial blob %s kept" % h
    assert os.listdir(os.path.join(d.state_dir, "tmp")) == []


def pull_stream(d, body):
    """A streamed pull: (NDJSON events, seconds until the stream ended)."""
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=60)
    try:
        conn.request("POST", "/v1/images/pull", body=json.dumps(dict(body, stream=True)),
                     headers={"Authorization": "Bearer " + d.admin_key,
                              "Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 200, resp.status
        events = [json.loads(line) for line in resp]
    finally:
        conn.close()
    assert events and all(e["type"] == "progress" for e in events[:-1]), events
    return events, time.monotonic() - t0


def timed_pull(d, body):
    t0 = time.monotonic()
    st, r = d.api("POST", "/v1/images/pull", body, timeout=60)
    return st, r, time.monotonic() - t0


def run_from(d, image):
    """The daemon still works: a sandbox from `image` runs a command."""
    g = new_group(d, image=image)
    sb = new_sandbox(d, g)
    assert sb.exec("echo alive")["stdout"] == "alive\n"
    assert sb.delete() == 204
    d.api("DELETE", "/v1/sandboxgroups/" + g)


@pytest.mark.parametrize("where", ["manifest", "blob"])
def test_pull_registry_stalls(fresh_daemon, registry, busybox_layout, where):  # noqa: F811
    """The registry stops sending half-way through the manifest or the layer: the pull ends
    with 504 Timeout once --pull-stall-timeout passes (not after the 30 s default), buffered or
    streamed; nothing half-made is kept; afterwards a good pull works and its image runs."""
    d = fresh_daemon(extra_args=["--pull-stall-timeout", str(STALL_S)])
    srv = StallingRegistry(gzip.compress(busybox_tar(busybox_layout)), stall=where)
    try:
        before = image_store(d)
        ref = "127.0.0.1:%d/x:y" % srv.port
        st, r, took = timed_pull(d, {"ref": ref, "name": "stalled"})
        assert st == 504 and r["error"]["code"] == "Timeout", (st, r)
        msg = r["error"]["message"]
        assert msg.startswith("pull %s: " % ref), msg
        assert "stalled (no data for %d s)" % STALL_S in msg, msg
        assert (srv.ldig if where == "blob" else "manifest") in msg, msg
        assert STALL_S - 0.5 < took < STALL_S + 4, took
        events, took = pull_stream(d, {"ref": ref, "name": "stalled"})
        assert events[-1]["type"] == "error", events
        assert events[-1]["error"] == r["error"], events
        assert took < STALL_S + 4, took
        assert_nothing_half_made(d, before, "stalled", absent=[srv.mdig, srv.ldig])
    finally:
        srv.stop()
    skopeo_push(busybox_layout, registry.host + "/good:latest")
    st, r = d.api("POST", "/v1/images/pull", {"ref": registry.host + "/good:latest",
                                              "name": "good"})
    assert st == 201, (st, r)
    run_from(d, "good")


def test_pull_corrupt_blob(fresh_daemon, registry, busybox_layout):  # noqa: F811
    """The registry serves a layer whose bytes do not match its digest: 502 BadGateway naming
    the blob and both digests, buffered or streamed; no image, nothing half-made; once the
    registry serves the right bytes the same image pulls and runs."""
    d = fresh_daemon()
    tar = busybox_tar(busybox_layout)
    gz = gzip.compress(tar)
    mdig, _ = registry.push_image("bad", "v1",
                                  [(gz, LAYER_GZ, "sha256:" + hashlib.sha256(tar).hexdigest())])
    ldig = "sha256:" + hashlib.sha256(gz).hexdigest()
    orig = corrupt_blob(registry, ldig)
    before = image_store(d)
    ref = registry.host + "/bad:v1"
    st, r, took = timed_pull(d, {"ref": ref})
    assert st == 502 and r["error"]["code"] == "BadGateway", (st, r)
    msg = r["error"]["message"]
    assert msg.startswith("pull %s: blob %s: digest mismatch: expected %s, content is sha256:"
                          % (ref, ldig, ldig)), msg
    assert took < 30, took
    events, _ = pull_stream(d, {"ref": ref})
    assert events[-1]["type"] == "error" and events[-1]["error"] == r["error"], events
    assert_nothing_half_made(d, before, ref, absent=[mdig, ldig])

    restore_blob(registry, ldig, orig)
    st, r = d.api("POST", "/v1/images/pull", {"ref": ref, "name": "fixed"})
    assert st == 201 and r["digest"] == mdig, (st, r)
    run_from(d, "fixed")


SLOW_S = 3  # how long SlowProxy holds the pulled image's layer half-sent


def test_image_delete_during_pull(fresh_daemon, registry, busybox_layout):  # noqa: F811
    """An image is deleted while a pull of another image of the same tenant is half-way
    through its layer.  The delete's garbage collection keeps only what image rows reference,
    and the pull has stored blobs (its config) that no row references yet: the GC must not
    remove them.  The delete answers 204 (waiting for the pull at most), the pull succeeds,
    its image is listed and runs a command.  (Without the delete's exclusive hold on the store
    the GC removes B's config and the pull fails: 404 "blob ... not in the store".)"""
    d = fresh_daemon()
    skopeo_push(busybox_layout, registry.host + "/a:latest")
    st, r = d.api("POST", "/v1/images/pull", {"ref": registry.host + "/a:latest", "name": "a"})
    assert st == 201, (st, r)
    # B: the same files gzipped, so that B shares no blob and no unpacked layer with A
    tar = busybox_tar(busybox_layout)
    gz = gzip.compress(tar)
    ldig = "sha256:" + hashlib.sha256(gz).hexdigest()
    registry.push_image("b", "v1", [(gz, LAYER_GZ, "sha256:" + hashlib.sha256(tar).hexdigest())])
    assert ldig.split(":", 1)[1] not in image_store(d)[0]
    proxy = SlowProxy(registry.host, ldig, SLOW_S)
    pulled = {}

    def pull():
        pulled["r"] = timed_pull(d, {"ref": proxy.host + "/b:v1", "name": "b"})

    t = threading.Thread(target=pull)
    try:
        t.start()
        assert proxy.hit.wait(30), "the pull never asked for B's layer"
        assert "r" not in pulled, pulled  # in flight: the layer is half-sent
        t0 = time.monotonic()
        st, r = d.api("DELETE", "/v1/images/a", timeout=60)
        took_delete = time.monotonic() - t0
        t.join(60)
    finally:
        proxy.stop()
        t.join()
    st_b, r_b, took_pull = pulled["r"]
    print("delete took %.2f s, pull %.2f s (layer held %d s)" % (took_delete, took_pull, SLOW_S))
    assert st == 204, (st, r)
    assert st_b == 201, (st_b, r_b)
    assert took_pull >= SLOW_S - 0.5, took_pull
    assert took_delete < SLOW_S + 10, took_delete
    st, r = d.api("GET", "/v1/images")
    listed = {im["name"] for im in r["images"]}
    assert "b" in listed and "a" not in listed, r
    run_from(d, "b")
