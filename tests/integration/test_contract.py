"""The outside contract of issue 2, checked exactly as an external checker would."""
import os
import stat

from conftest import new_group, new_sandbox


def test_healthz_needs_no_key(airlockd):
    st, body = airlockd.api("GET", "/healthz", key="")
    assert st == 200


def test_admin_key_file_mode(airlockd):
    path = os.path.join(airlockd.state_dir, "admin.key")
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == 0o600
    assert len(airlockd.admin_key) >= 32


def test_unix_socket_serves_the_api(airlockd):
    import socket
    s = socket.socket(socket.AF_UNIX)
    s.connect(airlockd.sock)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data.startswith(b"HTTP/1.1 200")


def test_group_sandbox_exec_roundtrip(airlockd):
    g = new_group(airlockd)
    st, r = airlockd.api("POST", "/v1/sandboxgroups/%s/sandboxes" % g, {"image": "busybox"})
    assert st == 201 and isinstance(r.get("id"), str) and r["id"], (st, r)
    sid = r["id"]
    st, r = airlockd.api("POST", "/v1/sandboxgroups/%s/sandboxes/%s/exec" % (g, sid),
                         {"command": ["sh", "-c", "echo out; echo err >&2; exit 7"],
                          "timeout": 10})
    assert st == 200, (st, r)
    assert r["exitCode"] == 7
    assert r["stdout"] == "out\n"
    assert r["stderr"] == "err\n"
    assert isinstance(r["durationMs"], int) and r["durationMs"] >= 0
    st, _ = airlockd.api("DELETE", "/v1/sandboxgroups/%s/sandboxes/%s" % (g, sid))
    assert st in (200, 204)
    st, _ = airlockd.api("GET", "/v1/sandboxgroups/%s/sandboxes/%s" % (g, sid))
    assert st == 404 or _.get("state") == "deleted"


def test_empty_body_uses_group_image(airlockd):
    g = new_group(airlockd)
    sb = new_sandbox(airlockd, g)
    r = sb.exec(["sh", "-c", "test -x /bin/busybox && echo yes"])
    assert r["exitCode"] == 0 and r["stdout"] == "yes\n"
    sb.delete()


def test_keys_tenant_isolation_and_auth(airlockd):
    st, r = airlockd.api("POST", "/v1/keys", {"tenant": "contract-a"})
    assert st == 201 and r["id"] and r["key"], (st, r)
    key_a = r["key"]
    st, r = airlockd.api("POST", "/v1/keys", {"tenant": "contract-b"})
    assert st == 201
    key_b = r["key"]
    # a tenant key is not an admin key
    st, r = airlockd.api("POST", "/v1/keys", {"tenant": "x"}, key=key_a)
    assert st in (403, 404), (st, r)
    # missing and wrong keys
    assert airlockd.api("GET", "/v1/sandboxgroups", key="")[0] == 401
    assert airlockd.api("GET", "/v1/sandboxgroups", key="alk_" + "0" * 64)[0] == 401
    # another tenant's group is 404, not 403
    g = new_group(airlockd, key=key_a)
    st, r = airlockd.api("GET", "/v1/sandboxgroups/" + g, key=key_b)
    assert st == 404, (st, r)
    assert r["error"]["code"] == "NotFound"
    st, r = airlockd.api("GET", "/v1/sandboxgroups", key=key_b)
    assert st == 200 and all(x["name"] != g for x in r["groups"])
    st, r = airlockd.api("GET", "/v1/sandboxgroups/" + g, key=key_a)
    assert st == 200 and r["name"] == g
    airlockd.api("DELETE", "/v1/sandboxgroups/" + g, key=key_a)


def test_error_shape(airlockd):
    st, r = airlockd.api("GET", "/v1/sandboxgroups/does-not-exist")
    assert st == 404
    assert set(r) == {"error"} and set(r["error"]) == {"code", "message"}
    st, r = airlockd.api("PUT", "/v1/sandboxgroups/Bad_Name", {"image": "busybox"})
    assert st == 400 and r["error"]["code"] == "InvalidArgument"
    st, r = airlockd.api("PUT", "/v1/sandboxgroups/ok-name", {"image": "busybox", "bogus": 1})
    assert st == 400 and "bogus" in r["error"]["message"]
