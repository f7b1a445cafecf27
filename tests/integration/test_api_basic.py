"""REST API basics that need no sandbox: health, keys, auth, tenant isolation, groups CRUD
and validation, error shapes, body caps, the unix socket."""
import http.client
import json
import os
import secrets
import socket
import stat

import pytest

from conftest import new_group


def err_code(r):
    assert isinstance(r, dict) and set(r) == {"error"}, r
    assert set(r["error"]) == {"code", "message"}, r
    return r["error"]["code"]


def raw_request(d, method, path, data=b"", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
    conn.request(method, path, body=data, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body, resp


def test_healthz_needs_no_key(airlockd):
    st, r = airlockd.api("GET", "/healthz", key="")
    assert st == 200 and r == {"status": "ok"}


def test_admin_key_file(airlockd):
    p = os.path.join(airlockd.state_dir, "admin.key")
    mode = stat.S_IMODE(os.stat(p).st_mode)
    assert mode == 0o600
    assert airlockd.admin_key.startswith("alk_") and len(airlockd.admin_key) == 68


def test_missing_and_wrong_key_401(airlockd):
    for key in ("", "alk_" + "0" * 64, "garbage", airlockd.admin_key[:-1] + "x"):
        st, r = airlockd.api("GET", "/v1/sandboxgroups", key=key)
        assert st == 401, (key, st, r)
        assert err_code(r) == "Unauthorized"
    # not a Bearer scheme
    st, body, _ = raw_request(airlockd, "GET", "/v1/sandboxgroups",
                              headers={"Authorization": "Basic " + airlockd.admin_key})
    assert st == 401


def test_request_id_header(airlockd):
    st, _, resp = raw_request(airlockd, "GET", "/healthz")
    assert st == 200
    rid = resp.getheader("X-Request-Id")
    assert rid and len(rid) == 16


def test_keys_create_list_revoke(airlockd):
    tenant = "t-" + secrets.token_hex(4)
    st, r = airlockd.api("POST", "/v1/keys", {"tenant": tenant})
    assert st == 201, r
    assert set(r) >= {"id", "key", "tenant", "admin", "createdAt"}
    assert r["tenant"] == tenant and r["admin"] is False
    key, kid = r["key"], r["id"]
    st, r = airlockd.api("GET", "/v1/sandboxgroups", key=key)
    assert st == 200 and r == {"groups": []}
    st, r = airlockd.api("GET", "/v1/keys")
    assert st == 200
    listed = [k for k in r["keys"] if k["id"] == kid]
    assert len(listed) == 1
    assert "key" not in listed[0] and key.startswith(listed[0]["prefix"])
    assert len(listed[0]["prefix"]) < len(key)
    # a tenant key is not an admin key
    st, r = airlockd.api("POST", "/v1/keys", {"tenant": tenant}, key=key)
    assert st == 403 and err_code(r) == "Forbidden"
    st, r = airlockd.api("GET", "/v1/keys", key=key)
    assert st == 403
    # revoke
    st, _ = airlockd.api("DELETE", "/v1/keys/" + kid)
    assert st == 204
    st, r = airlockd.api("GET", "/v1/sandboxgroups", key=key)
    assert st == 401 and err_code(r) == "Unauthorized"
    st, r = airlockd.api("DELETE", "/v1/keys/" + kid)
    assert st == 404 and err_code(r) == "NotFound"


def test_keys_bad_input(airlockd, host_unchanged):
    for body in ({}, {"tenant": "Bad Name"}, {"tenant": "-x"}, {"tenant": 5},
                 {"tenant": "ok", "extra": 1}, {"tenant": "ok", "admin": "yes"},
                 {"tenant": "a" * 64}):
        st, r = airlockd.api("POST", "/v1/keys", body)
        assert st == 400, (body, st, r)
        assert err_code(r) == "InvalidArgument"


def test_admin_flag_key(airlockd):
    st, r = airlockd.api("POST", "/v1/keys", {"tenant": "ops-" + secrets.token_hex(3),
                                              "admin": True})
    assert st == 201 and r["admin"] is True
    st, _ = airlockd.api("GET", "/v1/keys", key=r["key"])
    assert st == 200


def test_group_crud(airlockd, tenant_key):
    name = "g-" + secrets.token_hex(4)
    path = "/v1/sandboxgroups/" + name
    st, r = airlockd.api("PUT", path, {"image": "busybox"}, key=tenant_key)
    assert st == 201, r
    assert r["name"] == name and r["image"] == "busybox" and r["tier"] == "M"
    assert r["resources"] == {"cpu": 1.0, "memoryMiB": 2048, "diskMiB": 8192, "pids": 512,
                              "openFiles": 1024}
    assert r["egress"] == {"defaultAction": "deny", "rules": []}
    assert r["isolation"] == "namespace"
    for k in ("createdAt", "updatedAt", "identity", "lifecycle", "governance", "tools",
              "pool", "env", "labels"):
        assert k in r
    assert r["secrets"] == {}
    # replace
    st, r = airlockd.api("PUT", path, {"image": "python", "tier": "XS", "env": {"A": "1"},
                                       "labels": {"team": "x"},
                                       "resources": {"memoryMiB": 700}}, key=tenant_key)
    assert st == 200, r
    assert r["tier"] == "XS" and r["image"] == "python"
    assert r["resources"]["memoryMiB"] == 700 and r["resources"]["cpu"] == 0.25
    assert r["env"] == {"A": "1"} and r["labels"] == {"team": "x"}
    st, g = airlockd.api("GET", path, key=tenant_key)
    assert st == 200 and g["tier"] == "XS"
    st, lst = airlockd.api("GET", "/v1/sandboxgroups", key=tenant_key)
    assert st == 200 and [x["name"] for x in lst["groups"]] == [name]
    st, _ = airlockd.api("DELETE", path, key=tenant_key)
    assert st == 204
    st, r = airlockd.api("GET", path, key=tenant_key)
    assert st == 404 and err_code(r) == "NotFound"
    st, r = airlockd.api("DELETE", path, key=tenant_key)
    assert st == 404


def test_other_tenant_sees_404(airlockd, tenant_key, host_unchanged):
    name = new_group(airlockd, key=tenant_key)
    st, other = airlockd.api("POST", "/v1/keys", {"tenant": "o-" + secrets.token_hex(4)})
    okey = other["key"]
    path = "/v1/sandboxgroups/" + name
    st, r = airlockd.api("GET", path, key=okey)
    assert st == 404 and err_code(r) == "NotFound"
    st, r = airlockd.api("DELETE", path, key=okey)
    assert st == 404
    st, r = airlockd.api("GET", path + "/sandboxes", key=okey)
    assert st == 404
    st, r = airlockd.api("GET", path + "/sandboxes/" + "a" * 32, key=okey)
    assert st == 404
    st, r = airlockd.api("POST", path + "/sandboxes/" + "a" * 32 + "/exec",
                         {"command": ["true"]}, key=okey)
    assert st == 404
    st, r = airlockd.api("GET", "/v1/sandboxgroups", key=okey)
    assert st == 200 and r["groups"] == []
    # the same name in the other tenant is a different group
    st, r = airlockd.api("PUT", path, {"image": "busybox", "tier": "L"}, key=okey)
    assert st == 201
    st, r = airlockd.api("GET", path, key=tenant_key)
    assert st == 200 and r["tier"] == "M"


@pytest.mark.parametrize("name", ["Bad", "a_b", "-a", "a-", "a" * 64, "a.b"])
def test_bad_group_names(airlockd, name, host_unchanged):
    st, r = airlockd.api("PUT", "/v1/sandboxgroups/" + name, {"image": "busybox"})
    assert st == 400, (name, st, r)
    assert err_code(r) == "InvalidArgument"


@pytest.mark.parametrize("body,needle", [
    ({}, "image"),
    ({"image": "busybox", "bogus": 1}, "bogus"),
    ({"image": "busybox", "tier": "XL"}, "tier"),
    ({"image": "busybox", "resources": {"cpu": 0}}, "cpu"),
    ({"image": "busybox", "resources": {"memoryMiB": 10 ** 9}}, "memoryMiB"),
    ({"image": "busybox", "resources": {"gpus": 1}}, "gpus"),
    ({"image": "busybox", "egress": {"defaultAction": "deny", "extra": True}}, "extra"),
    ({"image": "busybox", "lifecycle": {"maxLifetimeSeconds": -5}}, "maxLifetimeSeconds"),
    ({"image": "busybox", "env": {"1BAD": "x"}}, "env"),
    ({"image": "busybox", "labels": {"k": "has space"}}, "labels"),
    ({"image": "busybox", "isolation": "chroot"}, "isolation"),
    ({"image": 7}, "image"),
    # a malformed egress rule is a 400 (naming it) before rules are refused as not built
    ({"image": "busybox", "egress": {"rules": [{"host": "example.com"}]}}, "rules[0]"),
    ({"image": "busybox", "egress": {"rules": [{"host": "example.com:443", "action": "allow"}]}},
     "rules[0].host"),
    ({"image": "busybox", "egress": {"rules": [{"host": "*.x.org", "action": "accept"}]}},
     "rules[0].action"),
    ({"image": "busybox", "egress": {"rules": [{"host": "x.org", "action": "allow",
                                                 "path": "no-slash"}]}}, "rules[0].path"),
    ({"image": "busybox", "egress": {"rules": [{"host": "x.org", "action": "allow",
                                                 "method": "get"}]}}, "rules[0].method"),
    ({"image": "busybox", "secrets": {"Bad_Name": {"value": "x"}}}, "secret name"),
    ({"image": "busybox", "secrets": {"tok": "bare-string"}}, "secrets.tok"),
    ({"image": "busybox", "secrets": {"tok": {"value": ""}}}, "secrets.tok.value"),
    ({"image": "busybox", "secrets": ["tok"]}, "secrets"),
])
def test_group_validation_400(airlockd, body, needle, host_unchanged):
    st, r = airlockd.api("PUT", "/v1/sandboxgroups/g-" + secrets.token_hex(4), body)
    assert st == 400, (body, st, r)
    assert err_code(r) == "InvalidArgument"
    assert needle in r["error"]["message"], r


@pytest.mark.parametrize("extra,needle", [
    ({"isolation": "microvm"}, "microvm"),
    ({"egress": {"defaultAction": "allow"}}, "egress"),
    ({"egress": {"defaultAction": "deny", "rules": [{"host": "example.com", "action": "allow"}]}},
     "egress"),
    ({"egress": {"rules": [{"host": "*.github.com", "action": "transform", "path": "/repos/",
                            "method": "POST"}]}}, "egress"),
    ({"secrets": {"gh-token": {"value": "s3cr3t-value"}}}, "secrets"),
    ({"identity": {"enabled": True}}, "identity"),
    ({"lifecycle": {"idleSuspendSeconds": 30}}, "idleSuspendSeconds"),
    ({"lifecycle": {"deleteSuspendedAfterDays": 2}}, "deleteSuspendedAfterDays"),
    ({"governance": {"deniedCalls": ["eval"]}}, "governance"),
    ({"tools": {"allow": ["python3"]}}, "tools"),
    ({"pool": {"size": 3}}, "pool"),
])
def test_unbuilt_settings_501(airlockd, extra, needle, host_unchanged):
    name = "g-" + secrets.token_hex(4)
    body = {"image": "busybox"}
    body.update(extra)
    st, r = airlockd.api("PUT", "/v1/sandboxgroups/" + name, body)
    assert st == 501, (extra, st, r)
    assert err_code(r) == "NotImplemented"
    assert needle in r["error"]["message"]
    assert "s3cr3t" not in json.dumps(r)
    # and nothing was created
    st, _ = airlockd.api("GET", "/v1/sandboxgroups/" + name)
    assert st == 404


def test_malformed_json(airlockd, host_unchanged):
    path = "/v1/sandboxgroups/g-" + secrets.token_hex(4)
    hdr = {"Authorization": "Bearer " + airlockd.admin_key, "Content-Type": "application/json"}
    for data in (b"{", b"[]", b"\"str\"", b"{\"image\":\"busybox\",\"image\":\"python\"}",
                 b"{\"image\":\"busybox\"} trailing", b"", b"\xff\xfe", b"[" * 200 + b"]" * 200):
        st, body, resp = raw_request(airlockd, "PUT", path, data, hdr)
        assert st == 400, (data[:40], st, body)
        assert resp.getheader("Content-Type").startswith("application/json")
        assert err_code(json.loads(body)) == "InvalidArgument"


@pytest.mark.security
def test_huge_body_413(airlockd, host_unchanged):
    path = "/v1/sandboxgroups/g-" + secrets.token_hex(4)
    hdr = {"Authorization": "Bearer " + airlockd.admin_key, "Content-Type": "application/json"}
    data = b"{\"image\":\"" + b"a" * (2 << 20) + b"\"}"
    st, body, _ = raw_request(airlockd, "PUT", path, data, hdr)
    assert st == 413
    assert err_code(json.loads(body)) == "PayloadTooLarge"


@pytest.mark.security
def test_huge_chunked_body_413(airlockd, host_unchanged):
    """No Content-Length: the cap applies while the body is read."""
    path = "/v1/sandboxgroups/g-" + secrets.token_hex(4)
    conn = http.client.HTTPConnection("127.0.0.1", airlockd.port, timeout=30)
    conn.putrequest("PUT", path)
    conn.putheader("Authorization", "Bearer " + airlockd.admin_key)
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    chunk = b"a" * 65536
    try:
        for _ in range(20):
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    resp = conn.getresponse()
    assert resp.status == 413
    conn.close()


UPLOAD_MAX = 64 << 20  # docs/api.md: file uploads and image archives
DISCARD_MAX = 16 << 20  # a body this much over the cap is read (and dropped) before the 413


def state_files(d):
    """Every file under the state dir except the database and the log (which change)."""
    out = set()
    for root, _, files in os.walk(d.state_dir):
        for f in files:
            p = os.path.relpath(os.path.join(root, f), d.state_dir)
            if not (p.startswith("state.db") or p == "airlockd.log"):
                out.add(p)
    return out


def send_upload(d, method, path, size, chunked, ctype="application/octet-stream"):
    """Send `size` bytes (Content-Length or chunked) as a client that writes its whole body
    before reading; returns (status, error code) or (None, exception) when the daemon closed
    the connection without an answer."""
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=60)
    conn.putrequest(method, path)
    conn.putheader("Authorization", "Bearer " + d.admin_key)
    conn.putheader("Content-Type", ctype)
    if chunked:
        conn.putheader("Transfer-Encoding", "chunked")
    else:
        conn.putheader("Content-Length", str(size))
    conn.endheaders()
    chunk = b"\0" * (1 << 20)
    try:
        left = size
        while left > 0:
            n = min(left, len(chunk))
            conn.send(b"%x\r\n%s\r\n" % (n, chunk[:n]) if chunked else chunk[:n])
            left -= n
        if chunked:
            conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        resp = conn.getresponse()
        body = resp.read()
    except (ConnectionError, http.client.HTTPException) as e:
        return None, e
    finally:
        conn.close()
    return resp.status, err_code(json.loads(body))


@pytest.mark.security
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("endpoint", ["files", "import"])
def test_upload_over_cap_413_nothing_left(airlockd, sandbox, endpoint, chunked):
    """Attack: send a file upload or an image archive one MiB over the 64 MiB cap (with a
    Content-Length, or chunked so that the size shows only while it arrives), hoping it is
    written anyway, or partly, or fills the state dir.  Defence: 413 PayloadTooLarge after the
    body is read and dropped; no file in the sandbox, no image, no temp file, no blob."""
    name = "big-" + secrets.token_hex(4)
    if endpoint == "files":
        path = sandbox.base + "/files?path=/tmp/" + name
        ctype = "application/octet-stream"
    else:
        path = "/v1/images/import?name=" + name
        ctype = "application/x-tar"
    before = state_files(airlockd)
    st, code = send_upload(airlockd, "PUT" if endpoint == "files" else "POST", path,
                           UPLOAD_MAX + (1 << 20), chunked, ctype)
    assert (st, code) == (413, "PayloadTooLarge"), (st, code)
    assert state_files(airlockd) == before
    assert os.listdir(os.path.join(airlockd.state_dir, "tmp")) == []
    if endpoint == "files":
        r = sandbox.exec("test -e /tmp/%s && echo there || echo absent" % name)
        assert r["stdout"] == "absent\n", r
    else:
        st, r = airlockd.api("GET", "/v1/images")
        assert name not in [i["name"] for i in r["images"]], r
    # the connection's refusal did not disturb the next request
    assert airlockd.api("GET", "/healthz", key="")[0] == 200


@pytest.mark.security
@pytest.mark.parametrize("endpoint", ["files", "import"])
def test_upload_far_over_cap(airlockd, sandbox, endpoint):
    """Attack: announce a 1 GiB body, or send a chunked one without end.  Defence: the
    announced one is refused at once (413 before a body byte is read); the chunked one is cut
    off (the connection closed) once it is 16 MiB over the cap, without reading the rest.
    Nothing is left behind either way."""
    name = "huge-" + secrets.token_hex(4)
    if endpoint == "files":
        method, path = "PUT", sandbox.base + "/files?path=/tmp/" + name
    else:
        method, path = "POST", "/v1/images/import?name=" + name
    before = state_files(airlockd)
    conn = http.client.HTTPConnection("127.0.0.1", airlockd.port, timeout=30)
    conn.putrequest(method, path)
    conn.putheader("Authorization", "Bearer " + airlockd.admin_key)
    conn.putheader("Content-Length", str(1 << 30))
    conn.endheaders()
    resp = conn.getresponse()  # no body byte sent: the answer cannot wait for it
    assert resp.status == 413, resp.status
    assert err_code(json.loads(resp.read())) == "PayloadTooLarge"
    conn.close()
    st, e = send_upload(airlockd, method, path, UPLOAD_MAX + DISCARD_MAX + (8 << 20), True)
    assert st is None, "a chunked body far over the cap was read to its end (%s %s)" % (st, e)
    assert state_files(airlockd) == before
    assert os.listdir(os.path.join(airlockd.state_dir, "tmp")) == []
    if endpoint == "files":
        r = sandbox.exec("test -e /tmp/%s && echo there || echo absent" % name)
        assert r["stdout"] == "absent\n", r
    assert airlockd.api("GET", "/healthz", key="")[0] == 200


def test_unknown_route_and_method(airlockd, host_unchanged):
    st, r = airlockd.api("GET", "/v1/nothing")
    assert st == 404 and err_code(r) == "NotFound"
    st, r = airlockd.api("POST", "/v1/sandboxgroups")
    assert st == 405 and err_code(r) == "MethodNotAllowed"


def test_sandbox_paths_bad_input(airlockd, group, host_unchanged):
    base = "/v1/sandboxgroups/%s/sandboxes" % group
    st, r = airlockd.api("GET", base + "/not-an-id")
    assert st == 404 and err_code(r) == "NotFound"
    st, r = airlockd.api("GET", base + "/" + "0" * 32)
    assert st == 404
    st, r = airlockd.api("POST", base, {"bogus": True})
    assert st == 400 and err_code(r) == "InvalidArgument"
    st, r = airlockd.api("POST", base, {"tier": "XXL"})
    assert st == 400
    st, r = airlockd.api("POST", base, {"snapshot": "s1"})
    assert st == 501 and err_code(r) == "NotImplemented"
    st, r = airlockd.api("GET", base + "?label=novalue")
    assert st == 400
    st, r = airlockd.api("GET", base + "?color=red")
    assert st == 400
    st, r = airlockd.api("GET", base + "?label=team%3Dx")
    assert st == 200 and "sandboxes" in r
    st, r = airlockd.api("POST", "/v1/sandboxgroups/g-nonexistent0/sandboxes", {})
    assert st == 404


def test_unix_socket(airlockd):
    assert stat.S_ISSOCK(os.stat(airlockd.sock).st_mode)
    assert stat.S_IMODE(os.stat(airlockd.sock).st_mode) == 0o600

    def call(headers):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(airlockd.sock)
        req = "GET /v1/sandboxgroups HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + headers
        s.sendall((req + "\r\n").encode())
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        s.close()
        return data

    ok = call("Authorization: Bearer %s\r\n" % airlockd.admin_key)
    assert ok.startswith(b"HTTP/1.1 200"), ok[:200]
    assert b"\"groups\"" in ok
    denied = call("")
    assert denied.startswith(b"HTTP/1.1 401"), denied[:200]


def test_restart_keeps_keys_and_groups(fresh_daemon):
    d = fresh_daemon()
    st, r = d.api("POST", "/v1/keys", {"tenant": "keep"})
    key = r["key"]
    name = new_group(d, key=key)
    admin = d.admin_key
    d.stop()
    d2 = fresh_daemon(state_dir=d.state_dir)
    assert d2.admin_key == admin
    st, r = d2.api("GET", "/v1/sandboxgroups/" + name, key=key)
    assert st == 200, r


def test_nul_bytes_in_path_and_query(airlockd, group, host_unchanged):
    # a NUL must not silently cut a name or a query value short
    st, r = airlockd.api("PUT", "/v1/sandboxgroups/%s%%00x" % group, {"image": "busybox"})
    assert st == 400, (st, r)
    st, r = airlockd.api("GET", "/v1/sandboxgroups/%s/sandboxes?label=team%%3Dx%%00y" % group)
    assert st == 400, (st, r)
    st, r = airlockd.api("GET", "/v1/sandboxgroups/%s%%00" % group)
    assert st == 400, (st, r)


def test_endless_chunked_body_is_cut(airlockd, host_unchanged):
    """A chunked body far beyond the cap ends the connection instead of being read forever."""
    path = "/v1/sandboxgroups/g-" + secrets.token_hex(4)
    s = socket.create_connection(("127.0.0.1", airlockd.port), timeout=30)
    s.sendall(("PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
               "Transfer-Encoding: chunked\r\n\r\n" % (path, airlockd.admin_key)).encode())
    chunk = b"a" * 65536
    sent = 0
    cut = False
    try:
        while sent < (64 << 20):
            s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        cut = True
    s.close()
    assert cut, "the daemon read %d bytes of an oversized body" % sent
    st, _ = airlockd.api("GET", "/healthz", key="")
    assert st == 200


def test_many_parallel_requests(airlockd):
    import threading
    results = []

    def one():
        try:
            results.append(airlockd.api("GET", "/v1/sandboxgroups")[0])
        except OSError as e:
            results.append(repr(e))
    ts = [threading.Thread(target=one) for _ in range(150)]
    [t.start() for t in ts]
    [t.join(60) for t in ts]
    assert results.count(200) == 150, [r for r in results if r != 200][:5]
