"""API abuse: deeply nested JSON, slow clients holding connections, a flood of bad keys.
Each must leave the daemon answering everyone else, and nothing secret in its log."""
import http.client
import json
import secrets
import socket
import time

import pytest

from conftest import new_group, new_sandbox


@pytest.mark.security
def test_deeply_nested_json_refused(airlockd):
    """Attack: a body nested 100,000 levels deep, to exhaust the decoder's stack.
    Defence: the depth is bounded before parsing: 400, daemon alive."""
    body = b"[" * 100000 + b"]" * 100000
    st, r = airlockd.api("PUT", "/v1/sandboxgroups/nested", raw=body,
                         headers={"Content-Type": "application/json"})
    assert st == 400, (st, r)
    assert "nested" in r["error"]["message"]
    assert airlockd.api("GET", "/healthz", key="")[0] == 200


@pytest.mark.security
def test_slow_clients_do_not_block_others(airlockd, group):
    """Attack: 100 connections that send half a request line and then trickle nothing
    (slowloris), holding the daemon's connection slots and threads.  Defence: the daemon keeps
    serving other clients: health, a group read and an exec all answer while they hang."""
    slow = []
    try:
        for _ in range(100):
            s = socket.create_connection(("127.0.0.1", airlockd.port), timeout=5)
            s.sendall(b"POST /v1/sandboxgroups/x/sandboxes HTTP/1.1\r\nHost: x\r\nContent-Le")
            slow.append(s)
        sb = new_sandbox(airlockd, group)
        t0 = time.time()
        assert airlockd.api("GET", "/healthz", key="", timeout=10)[0] == 200
        assert airlockd.api("GET", "/v1/sandboxgroups/" + group, timeout=10)[0] == 200
        assert sb.exec("echo alive", timeout=10)["stdout"] == "alive\n"
        assert time.time() - t0 < 30
        sb.delete()
    finally:
        for s in slow:
            s.close()


@pytest.mark.security
def test_ten_thousand_bad_keys(airlockd, group):
    """Attack: 10,000 requests with random wrong keys (guessing, or wearing the daemon down).
    Defence: every one is 401 with the same body, the daemon stays up and keeps serving the
    right key, and no presented key is written to the log."""
    conn = http.client.HTTPConnection("127.0.0.1", airlockd.port, timeout=30)
    bodies = set()
    tried = []
    for i in range(10000):
        key = "alk_" + secrets.token_hex(32)
        if i % 1000 == 0 or i == 9999:
            tried.append(key)
        conn.request("GET", "/v1/sandboxgroups/" + group,
                     headers={"Authorization": "Bearer " + key})
        resp = conn.getresponse()
        payload = resp.read()
        assert resp.status == 401, (resp.status, payload)
        body = json.loads(payload)
        bodies.add(body["error"]["code"])
        if resp.getheader("Connection", "").lower() == "close":
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", airlockd.port, timeout=30)
    conn.close()
    assert bodies == {"Unauthorized"}
    st, r = airlockd.api("GET", "/v1/sandboxgroups/" + group)
    assert st == 200 and r["name"] == group
    with open(airlockd.log_path, "rb") as f:
        log = f.read().decode(errors="replace")
    for key in tried:
        assert key not in log and key[4:20] not in log, "a presented key reached the log"
