"""Images in the daemon's store, end to end through the API: layers shared between images are
stored once (content-addressed by the layer blob's digest) and kept while any image uses them;
the image config's User and WorkingDir are the default user and directory of an exec."""
import hashlib
import json
import os
import secrets
import tarfile

import pytest

from conftest import new_group
from test_api_images import busybox_layout
from test_api_sandboxes import sandbox_or_skip
from test_image_import import docker_archive_bytes as docker_archive, tar_bytes, ti


def busybox_layer():
    """The built-in busybox image's one layer (an uncompressed tar: its digest is its diff_id)."""
    lay = busybox_layout()
    blob = lambda d: os.path.join(lay, "blobs", "sha256", d.split(":", 1)[1])  # noqa: E731
    with open(os.path.join(lay, "index.json")) as f:
        man = json.load(f)["manifests"][0]["digest"]
    with open(blob(man)) as f:
        layers = json.load(f)["layers"]
    assert len(layers) == 1 and layers[0]["mediaType"].endswith("tar"), layers
    with open(blob(layers[0]["digest"]), "rb") as f:
        return f.read()


def sha(data):
    return hashlib.sha256(data).hexdigest()


def import_image(d, name, archive, key=None):
    st, r = d.api("POST", "/v1/images/import?name=" + name, raw=archive, key=key,
                  headers={"Content-Type": "application/x-tar"})
    assert st == 201, (st, r)
    return r


def store_layers(d):
    p = os.path.join(d.state_dir, "images", "layers")
    return {n for n in os.listdir(p) if not n.startswith(".")}


def store_blobs(d):
    p = os.path.join(d.state_dir, "images", "blobs", "sha256")
    return {n for n in os.listdir(p) if not n.startswith(".")}


def test_shared_layer_stored_once(fresh_daemon):
    """Two images on one base layer: the base is stored (blob and unpacked tree) once; deleting
    one image keeps the other usable with its base; deleting both frees the base."""
    d = fresh_daemon()
    base = busybox_layer()
    top_a = tar_bytes([ti("a.txt", data=b"from a\n")])
    top_b = tar_bytes([ti("b.txt", data=b"from b\n")])
    import_image(d, "img-a", docker_archive([base, top_a]))
    after_a = store_layers(d)
    assert after_a == {sha(base), sha(top_a)}, after_a
    blobs_a = store_blobs(d)
    import_image(d, "img-b", docker_archive([base, top_b]))
    # one more layer (b's top) and its blobs; the base is not stored again
    assert store_layers(d) == {sha(base), sha(top_a), sha(top_b)}
    new_blobs = store_blobs(d) - blobs_a
    assert sha(top_b) in new_blobs and sha(base) not in new_blobs, new_blobs
    base_dir = os.path.join(d.state_dir, "images", "layers", sha(base))
    ino = os.stat(base_dir).st_ino

    g = new_group(d, image="img-b")
    sb, _ = sandbox_or_skip(d, g)
    assert sb.exec("cat /b.txt; ls /a.txt")["stdout"] == "from b\n"
    assert sb.delete() == 204
    st, _ = d.api("DELETE", "/v1/images/img-a")
    assert st == 204
    # a's own layer went; the base stayed, the same tree, and b still runs
    assert store_layers(d) == {sha(base), sha(top_b)}
    assert os.stat(base_dir).st_ino == ino
    assert sha(top_a) not in store_blobs(d)
    sb, _ = sandbox_or_skip(d, g)
    r = sb.exec("cat /b.txt && busybox true && echo ok")
    assert r["stdout"] == "from b\nok\n", r
    assert sb.delete() == 204
    st, _ = d.api("DELETE", "/v1/images/img-b")
    assert st == 204
    assert store_layers(d) == set()
    assert sha(base) not in store_blobs(d)


@pytest.mark.parametrize("user,uid,gid", [("nobody", 65534, 65534), ("1234:4321", 1234, 4321)])
def test_image_user_and_workdir(airlockd, tenant_key, user, uid, gid):
    """The image config's User (a name from the image's /etc/passwd, or uid:gid) and
    WorkingDir are what an exec runs as and in when the request names neither; a request's
    cwd and user still win.  (busybox itself has neither: root in /.)"""
    name = "uw-" + secrets.token_hex(3)
    top = tar_bytes([ti("srv", tarfile.DIRTYPE, mode=0o755),
                     ti("srv/app", tarfile.DIRTYPE, mode=0o777),
                     ti("srv/app/marker", data=b"here\n")])
    import_image(airlockd, name, docker_archive([busybox_layer(), top], User=user,
                                                WorkingDir="/srv/app"), key=tenant_key)
    g = new_group(airlockd, key=tenant_key, image=name)
    try:
        sb, _ = sandbox_or_skip(airlockd, g, key=tenant_key)
        try:
            r = sb.exec("id -u; id -g; pwd; cat marker")
            assert r["stdout"] == "%d\n%d\n/srv/app\nhere\n" % (uid, gid), r
            r = sb.exec("touch made-here && stat -c %u:%g made-here")
            assert r["stdout"] == "%d:%d\n" % (uid, gid), r
            r = sb.exec("id -u; pwd", cwd="/tmp", user="0")
            assert r["stdout"] == "0\n/tmp\n", r
        finally:
            sb.delete()
        # control: without User / WorkingDir in the config, root in /
        bb = new_group(airlockd, key=tenant_key)
        sb, _ = sandbox_or_skip(airlockd, bb, key=tenant_key)
        assert sb.exec("id -u; pwd")["stdout"] == "0\n/\n"
        sb.delete()
        airlockd.api("DELETE", "/v1/sandboxgroups/" + bb, key=tenant_key)
    finally:
        airlockd.api("DELETE", "/v1/sandboxgroups/" + g, key=tenant_key)
        airlockd.api("DELETE", "/v1/images/" + name, key=tenant_key)

