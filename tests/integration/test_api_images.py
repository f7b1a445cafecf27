"""Images through the REST API: built-ins, archive import (upload and admin host path),
per-tenant visibility, delete rules, pull errors."""
import io
import os
import secrets
import tarfile

import pytest

from conftest import new_group
from test_api_sandboxes import sandbox_or_skip

CACHE = os.environ.get("AIRLOCK_IMAGE_CACHE", "/var/cache/airlock/images")


def busybox_layout():
    p = os.path.join(CACHE, "busybox")
    if not os.path.exists(os.path.join(p, "index.json")):
        pytest.skip("built-in busybox image not built (scripts/build-images.sh)")
    return p


def oci_archive(layout):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name in ("oci-layout", "index.json", "blobs"):
            t.add(os.path.join(layout, name), arcname=name)
    return buf.getvalue()


def names(d, key=None):
    st, r = d.api("GET", "/v1/images", key=key)
    assert st == 200, r
    for im in r["images"]:
        assert set(im) >= {"name", "digest", "size", "createdAt", "builtin"}
    return {im["name"]: im for im in r["images"]}


def test_builtin_listed_after_use(airlockd, group):
    sb, _ = sandbox_or_skip(airlockd, group)
    sb.delete()
    im = names(airlockd)["busybox"]
    assert im["builtin"] is True and im["digest"].startswith("sha256:")


def test_import_upload_and_use(airlockd, tenant_key):
    data = oci_archive(busybox_layout())
    name = "mybb-" + secrets.token_hex(3)
    st, r = airlockd.api("POST", "/v1/images/import?name=" + name, raw=data, key=tenant_key,
                         headers={"Content-Type": "application/x-tar"})
    assert st == 201, (st, r)
    assert r["name"] == name and r["builtin"] is False and r["digest"].startswith("sha256:")
    assert name in names(airlockd, tenant_key)
    # other tenants do not see it
    assert name not in names(airlockd)
    g = new_group(airlockd, key=tenant_key, image=name)
    sb, s = sandbox_or_skip(airlockd, g, key=tenant_key)
    assert s["image"] == name and s["imageDigest"] == r["digest"]
    assert sb.exec("echo from-import")["stdout"] == "from-import\n"
    og = new_group(airlockd)
    st, e = airlockd.api("POST", "/v1/sandboxgroups/%s/sandboxes" % og, {"image": name})
    assert st == 404, e
    airlockd.api("DELETE", "/v1/sandboxgroups/" + og)
    # in use: conflict; another tenant: not found
    st, e = airlockd.api("DELETE", "/v1/images/" + name, key=tenant_key)
    assert st == 409 and e["error"]["code"] == "Conflict"
    st, e = airlockd.api("DELETE", "/v1/images/" + name)
    assert st == 404
    sb.delete()
    st, _ = airlockd.api("DELETE", "/v1/images/" + name, key=tenant_key)
    assert st == 204
    assert name not in names(airlockd, tenant_key)
    airlockd.api("DELETE", "/v1/sandboxgroups/" + g, key=tenant_key)


def test_import_bad_archive(airlockd, tenant_key, host_unchanged):
    st, r = airlockd.api("POST", "/v1/images/import?name=junk", raw=b"not a tar" * 100,
                         key=tenant_key, headers={"Content-Type": "application/x-tar"})
    assert 400 <= st < 500, (st, r)
    st, r = airlockd.api("POST", "/v1/images/import", raw=b"x", key=tenant_key)
    assert st == 400
    st, r = airlockd.api("POST", "/v1/images/import?name=bad%20name", raw=b"x", key=tenant_key)
    assert st == 400
    assert "junk" not in names(airlockd, tenant_key)


def test_import_host_path_admin_only(airlockd, tenant_key):
    layout = busybox_layout()
    name = "hostbb-" + secrets.token_hex(3)
    st, r = airlockd.api("POST", "/v1/images/import", {"path": layout, "name": name},
                         key=tenant_key)
    assert st == 403, (st, r)
    st, r = airlockd.api("POST", "/v1/images/import", {"path": layout, "name": name})
    assert st == 201, (st, r)
    assert name in names(airlockd)
    st, _ = airlockd.api("DELETE", "/v1/images/" + name)
    assert st == 204


def test_builtin_delete_needs_admin(airlockd, group, tenant_key):
    sb, _ = sandbox_or_skip(airlockd, group)
    sb.delete()
    st, r = airlockd.api("DELETE", "/v1/images/busybox", key=tenant_key)
    assert st == 403, (st, r)


@pytest.mark.parametrize("body,status", [
    ({}, 400), ({"ref": "no spaces allowed"}, 400), ({"ref": "x", "bogus": 1}, 400),
    ({"ref": "127.0.0.1:5000/r:t", "caFile": "/etc/ssl/x"}, 403),
])
def test_pull_bad_request(airlockd, tenant_key, body, status, host_unchanged):
    st, r = airlockd.api("POST", "/v1/images/pull", body, key=tenant_key)
    assert st == status, (body, st, r)


def test_pull_unreachable_registry(airlockd, tenant_key, host_unchanged):
    st, r = airlockd.api("POST", "/v1/images/pull", {"ref": "127.0.0.1:1/nothing:latest"},
                         key=tenant_key)
    assert st >= 400 and set(r) == {"error"}, (st, r)


def test_pull_from_local_registry(airlockd, tenant_key):
    import http.client
    import json
    try:
        from registry_fakes import Registry, skopeo_push
    except ImportError:
        pytest.skip("registry helpers not available")
    reg = Registry()
    try:
        skopeo_push(busybox_layout(), reg.host + "/bb:latest")
        ref = reg.host + "/bb:latest"
        st, r = airlockd.api("POST", "/v1/images/pull", {"ref": ref}, key=tenant_key)
        assert st == 201, (st, r)
        assert r["name"] == ref and r["digest"].startswith("sha256:") and r["builtin"] is False
        assert ref in names(airlockd, tenant_key)
        # streamed, under another name: progress lines, then the image
        conn = http.client.HTTPConnection("127.0.0.1", airlockd.port, timeout=120)
        conn.request("POST", "/v1/images/pull",
                     body=json.dumps({"ref": ref, "name": "bb2", "stream": True}),
                     headers={"Authorization": "Bearer " + tenant_key,
                              "Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.getheader("Content-Type") == "application/x-ndjson"
        events = [json.loads(l) for l in resp]
        conn.close()
        assert events[-1]["type"] == "image" and events[-1]["name"] == "bb2", events
        assert all(e["type"] == "progress" for e in events[:-1])
        assert events[-1]["digest"] == r["digest"]
        # a sandbox from the pulled image
        g = new_group(airlockd, key=tenant_key, image="bb2")
        sb, _ = sandbox_or_skip(airlockd, g, key=tenant_key)
        assert sb.exec("echo pulled")["stdout"] == "pulled\n"
        sb.delete()
        airlockd.api("DELETE", "/v1/sandboxgroups/" + g, key=tenant_key)
        # a missing tag: an error line in the stream, a NotFound without it
        st, r = airlockd.api("POST", "/v1/images/pull", {"ref": reg.host + "/nothere:latest"},
                             key=tenant_key)
        assert st == 404 and r["error"]["code"] == "NotFound", (st, r)
    finally:
        reg.cleanup()
