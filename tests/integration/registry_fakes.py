"""Registries for the image tests, shared by the img-tool tests (test_image_registry.py) and the
API tests (test_api_images.py, test_faults.py).

  Registry          Debian's docker-registry on 127.0.0.1 over a temp storage dir, with a
                    minimal OCI push client (push_blob / push_manifest / push_image)
  registry          pytest fixture: an anonymous Registry, stopped afterwards
  skopeo_push       copy an OCI layout (the built-in busybox) into a registry
  corrupt_blob      flip a byte of a blob in a Registry's storage (same size, wrong digest)
  Staller           accepts connections, never sends a byte
  StallingRegistry  serves /v2/, then stalls half-way through the manifest or the layer
  SlowProxy         forwards pulls to a Registry, pausing half-way through one blob, then
                    finishing it: a pull that is in flight for as long as a test needs
  Fake, reply       a scriptable registry: path suffix -> handler
  tiny_image        config, layer and manifest documents around one layer
Every server started here is stopped by its stop() / cleanup().
"""
import hashlib
import http.client
import http.server
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

import pytest

from conftest import free_port
from imgtool import need


class Registry:
    """docker-registry serving a temp storage dir; auth: None | ('htpasswd', file) |
    ('token', realm, service, issuer, certfile); tls: (cert, key) or None."""

    def __init__(self, storage=None, auth=None, tls=None):
        need("docker-registry")
        self.dir = tempfile.mkdtemp(prefix="airlock-registry-")
        self.storage = storage or os.path.join(self.dir, "data")
        self.port = free_port()
        self.host = "127.0.0.1:%d" % self.port
        cfg = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": self.storage}, "delete": {"enabled": True}},
            "http": {"addr": self.host, "secret": "test-secret"},
        }
        if tls:
            cfg["http"]["tls"] = {"certificate": tls[0], "key": tls[1]}
        if auth and auth[0] == "htpasswd":
            cfg["auth"] = {"htpasswd": {"realm": "basic-realm", "path": auth[1]}}
        elif auth and auth[0] == "token":
            cfg["auth"] = {"token": {"realm": auth[1], "service": auth[2], "issuer": auth[3],
                                     "rootcertbundle": auth[4]}}
        self.cfg = os.path.join(self.dir, "config.yml")
        with open(self.cfg, "w") as f:
            json.dump(cfg, f)  # YAML is a superset of JSON
        self.log = open(os.path.join(self.dir, "registry.log"), "wb")
        self.proc = subprocess.Popen(["docker-registry", "serve", self.cfg], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("registry exited: " + self.logs())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("registry did not listen: " + self.logs())

    def logs(self):
        with open(os.path.join(self.dir, "registry.log"), "rb") as f:
            return f.read()[-4000:].decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- a minimal OCI distribution push client (anonymous registries only) ---
    def url(self, path):
        return "http://%s%s" % (self.host, path)

    def push_blob(self, repo, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        req = urllib.request.Request(self.url("/v2/%s/blobs/uploads/" % repo), method="POST",
                                     data=b"")
        with urllib.request.urlopen(req) as r:
            loc = r.headers["Location"]
        if loc.startswith("/"):
            loc = self.url(loc)
        loc += ("&" if "?" in loc else "?") + "digest=" + digest
        req = urllib.request.Request(loc, method="PUT", data=data,
                                     headers={"Content-Type": "application/octet-stream"})
        with urllib.request.urlopen(req) as r:
            assert r.status == 201, r.status
        return digest

    def push_manifest(self, repo, ref, doc, media_type):
        body = json.dumps(doc).encode()
        req = urllib.request.Request(self.url("/v2/%s/manifests/%s" % (repo, ref)), method="PUT",
                                     data=body, headers={"Content-Type": media_type})
        with urllib.request.urlopen(req) as r:
            assert r.status == 201, r.status
        return "sha256:" + hashlib.sha256(body).hexdigest(), len(body)

    def push_image(self, repo, tag, layers, cmd=("/bin/sh",), arch="amd64"):
        """layers: [(bytes, mediaType, diff_id)]"""
        config = json.dumps({"architecture": arch, "os": "linux",
                             "config": {"Cmd": list(cmd), "Env": ["PATH=/bin"]},
                             "rootfs": {"type": "layers",
                                        "diff_ids": [l[2] for l in layers]}}).encode()
        cdig = self.push_blob(repo, config)
        descs = []
        for data, mt, _ in layers:
            descs.append({"mediaType": mt, "digest": self.push_blob(repo, data),
                          "size": len(data)})
        man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                          "digest": cdig, "size": len(config)},
               "layers": descs}
        return self.push_manifest(repo, tag, man, man["mediaType"])

    def blob_path(self, digest):
        h = digest.split(":", 1)[1]
        return os.path.join(self.storage, "docker/registry/v2/blobs/sha256", h[:2], h, "data")


@pytest.fixture
def registry():
    r = Registry()
    yield r
    r.cleanup()


def skopeo_push(layout, dest, *extra):
    need("skopeo")
    subprocess.run(["skopeo", "copy", "--dest-tls-verify=false"] + list(extra) +
                   ["oci:%s:latest" % layout, "docker://" + dest],
                   check=True, capture_output=True, timeout=120)



def busybox_tar(layout):
    with open(os.path.join(layout, "index.json")) as f:
        mdig = json.load(f)["manifests"][0]["digest"]
    with open(os.path.join(layout, "blobs/sha256", mdig.split(":")[1])) as f:
        ldig = json.load(f)["layers"][0]["digest"]
    with open(os.path.join(layout, "blobs/sha256", ldig.split(":")[1]), "rb") as f:
        return f.read()



def corrupt_blob(registry, digest):
    """Flip one byte in the middle of a blob the registry stores (same size, so only the
    digest can tell).  Returns the original bytes, for restore_blob()."""
    path = registry.blob_path(digest)
    with open(path, "rb") as f:
        orig = f.read()
    data = bytearray(orig)
    data[len(data) // 2] ^= 0xFF
    with open(path, "wb") as f:
        f.write(data)
    return orig


def restore_blob(registry, digest, orig):
    with open(registry.blob_path(digest), "wb") as f:
        f.write(orig)


def no_temp_files(store):
    for sub in ("blobs/sha256", "layers"):
        d = os.path.join(store, sub)
        if os.path.isdir(d):
            leftovers = [n for n in os.listdir(d) if n.startswith(".tmp-")]
            assert not leftovers, (sub, leftovers)


class Staller:
    """Accepts connections and never sends a byte."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        self.sock.settimeout(0.2)
        while not self.stop_ev.is_set():
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except OSError:
                pass

    def stop(self):
        self.stop_ev.set()
        self.t.join()
        for c in self.conns:
            c.close()
        self.sock.close()



def serve(handler):
    """A threaded HTTP server on a free 127.0.0.1 port, serving in the background."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, httpd.server_address[1]


class StallingRegistry:
    """A fake registry that serves /v2/ and the config, then stalls half-way through one
    response: stall="blob" (the layer, after the manifest) or stall="manifest".  The stalled
    handler sends the headers and half the body, then nothing until stop()."""

    def __init__(self, layer, stall="blob"):
        assert stall in ("blob", "manifest"), stall
        self.cfg, self.cdig, self.layer, self.ldig, self.man = tiny_image(layer)
        self.mdig = "sha256:" + hashlib.sha256(self.man).hexdigest()
        self.release = threading.Event()
        me = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def send(self, body, ctype, stall=False):
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if stall:
                    self.wfile.write(body[:len(body) // 2])
                    self.wfile.flush()
                    me.release.wait(60)
                    return
                self.wfile.write(body)

            def do_GET(self):
                if self.path == "/v2/":
                    self.send(b"{}", "application/json")
                elif "/manifests/" in self.path:
                    self.send(me.man, "application/vnd.oci.image.manifest.v1+json",
                              stall=stall == "manifest")
                elif self.path.endswith(me.cdig):
                    self.send(me.cfg, "application/octet-stream")
                elif self.path.endswith(me.ldig):
                    self.send(me.layer, "application/octet-stream", stall=stall == "blob")
                else:
                    self.send_response(404)
                    self.end_headers()

        self.httpd, self.port = serve(H)

    def stop(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class SlowProxy:
    """Forwards GETs to a registry at `upstream` (host:port).  The blob whose digest is `slow`
    gets its headers and half its body, then nothing for delay_s, then the rest: a correct
    but slow download.  .hit is set once that blob's request has arrived."""

    def __init__(self, upstream, slow, delay_s):
        self.hit = threading.Event()
        self.stop_ev = threading.Event()
        me = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                is_slow = self.path.endswith("/blobs/" + slow)
                if is_slow:
                    me.hit.set()
                conn = http.client.HTTPConnection(upstream, timeout=30)
                conn.request("GET", self.path, headers={
                    k: v for k, v in self.headers.items()
                    if k.lower() in ("accept", "authorization")})
                r = conn.getresponse()
                body = r.read()
                conn.close()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() in ("content-type", "docker-content-digest", "www-authenticate"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                half = len(body) // 2 if is_slow else len(body)
                self.wfile.write(body[:half])
                self.wfile.flush()
                if is_slow:
                    me.stop_ev.wait(delay_s)
                self.wfile.write(body[half:])

        self.httpd, self.port = serve(H)
        self.host = "127.0.0.1:%d" % self.port

    def stop(self):
        self.stop_ev.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class Fake:
    """routes: path-suffix -> callable(handler) ; records (path, headers) of every request."""

    def __init__(self, routes):
        self.routes, self.seen = routes, []
        me = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                me.seen.append((self.path, dict(self.headers)))
                for suffix, fn in me.routes.items():
                    if self.path.endswith(suffix):
                        return fn(self)
                self.send_response(404)
                self.end_headers()

        self.httpd, self.port = serve(H)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def reply(h, code, body=b"", ctype="application/octet-stream", headers=()):
    h.send_response(code)
    h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(body)))
    for k, v in headers:
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(body)


def tiny_image(layer):
    cfg = json.dumps({"os": "linux", "architecture": "amd64",
                      "config": {"Cmd": ["/bin/sh"]}}).encode()
    cdig = "sha256:" + hashlib.sha256(cfg).hexdigest()
    ldig = "sha256:" + hashlib.sha256(layer).hexdigest()
    man = json.dumps({"schemaVersion": 2,
                      "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                 "digest": cdig, "size": len(cfg)},
                      "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                  "digest": ldig, "size": len(layer)}]}).encode()
    return cfg, cdig, layer, ldig, man

