"""API abuse: deeply nested JSON, slow clients holding connections, a flood of bad keys.
Each must leave the daemon answering everyone else, and nothing secret in its log."""
import http.client
import json
import secrets
import socket
import threading
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


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over the daemon's unix socket."""

    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


def unix_api(d, method, path, body=None, timeout=5):
    conn = UnixHTTPConnection(d.sock, timeout)
    hdrs = {"Authorization": "Bearer " + d.admin_key}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        payload = resp.read()
    finally:
        conn.close()
    if resp.getheader("Content-Type", "").startswith("application/json") and payload:
        return resp.status, json.loads(payload)
    return resp.status, payload


PARTIAL = b"POST /v1/sandboxgroups/x/sandboxes HTTP/1.1\r\nHost: x\r\nContent-Le"


def stall(connect, n):
    """Open up to n connections that each send half a request and then stall.  A connection
    that cannot be made within 2 seconds ends the flood (the listener's queue stays full)."""
    held = []
    for _ in range(n):
        deadline = time.monotonic() + 2
        while True:
            try:
                s = connect()
                s.sendall(PARTIAL)
                break
            except OSError:
                if time.monotonic() > deadline:
                    return held
                time.sleep(0.01)  # the accept queue is full for now: try again
        held.append(s)
    return held


def tcp_connect(d):
    return lambda: socket.create_connection(("127.0.0.1", d.port), timeout=1)


def unix_connect(d):
    def connect():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(1)
        s.connect(d.sock)
        return s
    return connect


@pytest.mark.security
@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_connection_flood_does_not_lock_out(airlockd, group, transport):
    """Attack: from the same address as every other local client (127.0.0.1), or on the unix
    socket, open more connections than the daemon's connection limits (256 per address, 512 in
    all) that each send half a request and stall, so that no other client can get a slot
    until they time out (it was 10 minutes).  Defence: connections that have not sent a whole
    request give way to new ones: another client's requests are answered at once, over the
    same transport, while the stalled connections are still open; a request in flight (a
    4-second exec) is never cut to make room."""
    sb = new_sandbox(airlockd, group)
    inflight = {}

    def long_exec():
        try:
            inflight["r"] = airlockd.api("POST", sb.base + "/exec",
                                         {"command": ["sh", "-c", "sleep 4; echo done"],
                                          "timeout": 30}, timeout=60)
        except OSError as e:
            inflight["r"] = e
    t = threading.Thread(target=long_exec)
    t.start()
    time.sleep(0.5)  # let the exec start before the flood (a head start, not an assertion)
    held = []
    try:
        if transport == "tcp":
            held = stall(tcp_connect(airlockd), 300)
            api = lambda m, p, b=None: airlockd.api(m, p, b, timeout=5)  # noqa: E731
        else:
            held = stall(unix_connect(airlockd), 600)
            api = lambda m, p, b=None: unix_api(airlockd, m, p, b, timeout=5)  # noqa: E731
        assert len(held) >= 256, "could open only %d connections" % len(held)
        t0 = time.monotonic()
        assert api("GET", "/healthz")[0] == 200
        st, r = api("GET", "/v1/sandboxgroups/" + group)
        assert st == 200 and r["name"] == group, (st, r)
        st, r = api("POST", sb.base + "/exec", {"command": ["echo", "alive"], "timeout": 10})
        assert st == 200 and r["stdout"] == "alive\n", (st, r)
        assert time.monotonic() - t0 < 10
        t.join(30)
        assert not t.is_alive()
        st, r = inflight["r"]
        assert st == 200 and r["stdout"] == "done\n", (st, r)
    finally:
        for s in held:
            s.close()
        t.join(30)
        sb.delete()


def closed_within(s, seconds, trickle=None):
    """Seconds until the server closes s (None if it is still open after `seconds`); sends
    one byte of `trickle` every 0.3 s meanwhile, if given."""
    t0 = time.monotonic()
    s.settimeout(0.3)
    i = 0
    while time.monotonic() - t0 < seconds:
        try:
            if not s.recv(4096):
                return time.monotonic() - t0
        except socket.timeout:
            pass
        except OSError:
            return time.monotonic() - t0
        if trickle is not None:
            try:
                s.sendall(trickle[i % len(trickle):i % len(trickle) + 1])
            except OSError:
                return time.monotonic() - t0
            i += 1
    return None


@pytest.mark.security
def test_request_deadline_cuts_slow_clients_not_long_answers(fresh_daemon):
    """Attack: hold a connection without ever finishing a request: stall in the header, send
    the header one byte every 0.3 s (each byte resets an idle timer), or send a whole header
    and then the body one byte every 0.3 s.  Defence: a request's header must arrive within
    --request-timeout (2 s here), its body within that plus 1 s per 32 KiB: all three are
    closed within seconds.  The deadline is the client's, not the server's: a buffered exec
    and a streamed exec that stays silent for longer than both --request-timeout and
    --response-timeout (3 s) are answered in full, and an upload that is slow but steady
    (about 200 KiB/s for 5 s) is accepted."""
    d = fresh_daemon(extra_args=["--request-timeout", "2", "--response-timeout", "3"])
    g = new_group(d)
    sb = new_sandbox(d, g)
    conns = []
    try:
        s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        conns.append(s)
        s.sendall(PARTIAL)
        t = closed_within(s, 15)
        assert t is not None, "a stalled half-request was kept open for 15 s"

        s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        conns.append(s)
        t = closed_within(s, 15, trickle=b"GET /healthz HTTP/1.1\r\nHost: x\r\n" +
                          b"X-Pad: " + b"a" * 1000)
        assert t is not None, "a header trickled a byte at a time was kept open for 15 s"

        s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        conns.append(s)
        s.sendall(b"PUT /v1/sandboxgroups/g-slow HTTP/1.1\r\nHost: x\r\n"
                  b"Authorization: Bearer " + d.admin_key.encode() + b"\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
        t = closed_within(s, 15, trickle=b" ")
        assert t is not None, "a body trickled a byte at a time was kept open for 15 s"
        assert d.api("GET", "/v1/sandboxgroups/g-slow")[0] == 404

        r = sb.exec("sleep 6; echo done", timeout=30)
        assert r["stdout"] == "done\n" and r["exitCode"] == 0, r

        conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=60)
        conn.request("POST", sb.base + "/exec",
                     body=json.dumps({"command": ["sh", "-c", "echo a; sleep 5; echo b"],
                                      "stream": True, "timeout": 30}),
                     headers={"Authorization": "Bearer " + d.admin_key,
                              "Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 200
        events = [json.loads(line) for line in resp]
        conn.close()
        out = "".join(e["data"] for e in events if e["type"] == "stdout")
        assert out == "a\nb\n" and events[-1]["type"] == "exit", events

        chunk = secrets.token_bytes(64 << 10)

        def slow_body():
            for _ in range(16):
                yield chunk
                time.sleep(0.3)
        conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=60)
        conn.request("PUT", sb.base + "/files?path=/tmp/slow", body=slow_body(),
                     headers={"Authorization": "Bearer " + d.admin_key,
                              "Content-Length": str(16 * len(chunk))})
        resp = conn.getresponse()
        assert resp.status == 204, (resp.status, resp.read())
        conn.close()
        assert len(sb.get("/tmp/slow")) == 16 * len(chunk)
        assert d.api("GET", "/healthz", key="")[0] == 200
    finally:
        for s in conns:
            s.close()
