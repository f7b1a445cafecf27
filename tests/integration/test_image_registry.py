"""Image registry client against a REAL registry (Debian's docker-registry) on 127.0.0.1.

Driven through img-tool (the image component's debug CLI).  Images are pushed during the
test with skopeo (from the built-in busybox layout) or with a small OCI distribution push
helper (for hand-made indexes and zstd / uncompressed layers); the registries, real and
fake, live in registry_fakes.py.  Every server started here is stopped afterwards.
"""
import base64
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
import http.server

import pytest

from imgtool import CACHE, ROOT, busybox_layout, img_tool, need, run_tool, store  # noqa: F401
from registry_fakes import (Fake, Registry, Staller, StallingRegistry, busybox_tar,  # noqa: F401
                            corrupt_blob, no_temp_files, registry, reply, skopeo_push,
                            tiny_image)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="image tests run as root")


def assert_busybox(out):
    assert out["digest"].startswith("sha256:")
    assert len(out["layers"]) == 1
    root = out["layers"][0]
    assert os.path.isfile(os.path.join(root, "bin/busybox"))
    assert os.path.islink(os.path.join(root, "bin/sh"))
    assert os.stat(os.path.join(root, "tmp")).st_mode & 0o7777 == 0o1777
    with open(os.path.join(root, "etc/passwd")) as f:
        assert "nobody" in f.read()
    assert out["config"]["cmd"] == ["/bin/sh"]


# ---------------------------------------------------------------------------------------


def test_pull_anonymous_gzip_and_by_digest(registry, busybox_layout, store):
    skopeo_push(busybox_layout, registry.host + "/bb:latest")
    rc, out = run_tool(store, "pull", registry.host + "/bb:latest")
    assert rc == 0, out
    assert_busybox(out)
    # the same image by digest (verified), and tag+digest
    rc, out2 = run_tool(store, "pull", "%s/bb@%s" % (registry.host, out["digest"]))
    assert rc == 0, out2
    assert out2["digest"] == out["digest"]
    rc, out3 = run_tool(store, "get", out["digest"])
    assert rc == 0 and out3["layers"] == out["layers"]
    # a digest the registry does not have
    rc, err = run_tool(store, "pull", "%s/bb@sha256:%s" % (registry.host, "0" * 64))
    assert rc == 1 and err["error"]["code"] == "NotFound", err
    rc, err = run_tool(store, "pull", registry.host + "/nothere:latest")
    assert rc == 1 and err["error"]["code"] == "NotFound", err
    no_temp_files(store)


def test_pull_docker_schema2_and_manifest_list(registry, busybox_layout, store):
    skopeo_push(busybox_layout, registry.host + "/d2:latest", "--format", "v2s2")
    req = urllib.request.Request(registry.url("/v2/d2/manifests/latest"), headers={
        "Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    with urllib.request.urlopen(req) as r:
        body = r.read()
        assert r.headers["Content-Type"] == "application/vnd.docker.distribution.manifest.v2+json"
    rc, out = run_tool(store, "pull", registry.host + "/d2:latest")
    assert rc == 0, out
    assert out["digest"] == "sha256:" + hashlib.sha256(body).hexdigest()
    assert_busybox(out)
    mt = "application/vnd.docker.distribution.manifest.v2+json"
    lst = {"schemaVersion": 2,
           "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
           "manifests": [{"mediaType": mt, "digest": out["digest"], "size": len(body),
                          "platform": {"os": "linux", "architecture": "amd64"}}]}
    registry.push_manifest("d2", "list", lst, lst["mediaType"])
    rc, out2 = run_tool(store, "pull", registry.host + "/d2:list")
    assert rc == 0, out2
    assert out2["digest"] == out["digest"]


def test_ref_needs_registry_host(store):
    rc, err = run_tool(store, "pull", "busybox:latest")
    assert rc == 1 and err["error"]["code"] == "InvalidArgument"
    assert "registry host" in err["error"]["message"]


def test_pull_zstd_and_uncompressed_layers(registry, busybox_layout, store):
    need("zstd")
    tar = busybox_tar(busybox_layout)
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    zst = subprocess.run(["zstd", "-q", "-c", "-3"], input=tar, capture_output=True,
                         check=True).stdout
    assert zst[:4] == b"\x28\xb5\x2f\xfd"
    registry.push_image("zs", "v1", [(zst, "application/vnd.oci.image.layer.v1.tar+zstd",
                                      diff_id)])
    rc, out = run_tool(store, "pull", registry.host + "/zs:v1")
    assert rc == 0, out
    assert_busybox(out)
    registry.push_image("plain", "v1", [(tar, "application/vnd.oci.image.layer.v1.tar",
                                         diff_id)])
    rc, out = run_tool(store, "pull", registry.host + "/plain:v1")
    assert rc == 0, out
    assert_busybox(out)
    # a gzip layer labelled zstd: media type and magic bytes disagree -> refused
    gz = gzip.compress(tar)
    registry.push_image("liar", "v1", [(gz, "application/vnd.oci.image.layer.v1.tar+zstd",
                                        diff_id)])
    rc, err = run_tool(store, "pull", registry.host + "/liar:v1")
    assert rc == 1 and "does not match" in err["error"]["message"], err
    no_temp_files(store)


def test_pull_skopeo_zstd(registry, busybox_layout, store, tmp_path):
    """skopeo's own zstd compression (to a layout first, so no blob cache reuse)."""
    need("skopeo")
    z = str(tmp_path / "z")
    p = subprocess.run(["skopeo", "copy", "--dest-compress-format", "zstd", "--dest-compress",
                        "oci:%s:latest" % busybox_layout, "oci:%s:latest" % z],
                       capture_output=True, timeout=120)
    if p.returncode != 0:
        pytest.skip("skopeo cannot write zstd: %s" % p.stderr.decode()[-200:])
    with open(os.path.join(z, "index.json")) as f:
        mdig = json.load(f)["manifests"][0]["digest"]
    with open(os.path.join(z, "blobs/sha256", mdig.split(":")[1])) as f:
        mt = json.load(f)["layers"][0]["mediaType"]
    if "zstd" not in mt:
        pytest.skip("skopeo %s did not produce a zstd layer" % mt)
    subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", "oci:%s:latest" % z,
                    "docker://%s/skz:latest" % registry.host], check=True, capture_output=True)
    rc, out = run_tool(store, "pull", registry.host + "/skz:latest")
    assert rc == 0, out
    assert_busybox(out)


def test_pull_index_picks_linux_amd64(registry, busybox_layout, store):
    tar = busybox_tar(busybox_layout)
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    amd_d, amd_s = registry.push_image("multi", "amd64",
                                       [(gzip.compress(tar),
                                         "application/vnd.oci.image.layer.v1.tar+gzip", diff_id)])
    # a different image for arm64 (an empty layer), listed FIRST in the index
    empty = gzip.compress(b"\0" * 1024)
    arm_d, arm_s = registry.push_image("multi", "arm64",
                                       [(empty, "application/vnd.oci.image.layer.v1.tar+gzip",
                                         "sha256:" + hashlib.sha256(b"\0" * 1024).hexdigest())],
                                       arch="arm64")
    mt = "application/vnd.oci.image.manifest.v1+json"
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [
                 {"mediaType": mt, "digest": arm_d, "size": arm_s,
                  "platform": {"os": "linux", "architecture": "arm64"}},
                 {"mediaType": mt, "digest": amd_d, "size": amd_s,
                  "platform": {"os": "linux", "architecture": "amd64"}}]}
    registry.push_manifest("multi", "latest", index, index["mediaType"])
    rc, out = run_tool(store, "pull", registry.host + "/multi:latest")
    assert rc == 0, out
    assert out["digest"] == amd_d
    assert_busybox(out)
    # an index with no linux/amd64 entry
    index["manifests"] = index["manifests"][:1]
    registry.push_manifest("multi", "armonly", index, index["mediaType"])
    rc, err = run_tool(store, "pull", registry.host + "/multi:armonly")
    assert rc == 1 and err["error"]["code"] == "NotFound" and "amd64" in err["error"]["message"]


def test_corrupt_blob_leaves_no_state(registry, busybox_layout, store):
    tar = busybox_tar(busybox_layout)
    gz = gzip.compress(tar)
    mdig, _ = registry.push_image("bad", "v1", [(gz, "application/vnd.oci.image.layer.v1.tar+gzip",
                                                 "sha256:" + hashlib.sha256(tar).hexdigest())])
    ldig = "sha256:" + hashlib.sha256(gz).hexdigest()
    corrupt_blob(registry, ldig)
    rc, err = run_tool(store, "pull", registry.host + "/bad:v1")
    assert rc == 1, err
    assert err["error"]["code"] == "BadGateway", err  # the registry's fault, not the caller's
    assert "digest mismatch" in err["error"]["message"], err
    blobs = os.listdir(os.path.join(store, "blobs/sha256"))
    assert ldig.split(":")[1] not in blobs
    assert mdig.split(":")[1] not in blobs  # no manifest: the image is not in the store
    assert os.listdir(os.path.join(store, "layers")) == []
    no_temp_files(store)
    rc, err = run_tool(store, "get", mdig)
    assert rc == 1 and err["error"]["code"] == "NotFound"


def test_basic_auth(busybox_layout, store):
    import crypt  # deprecated, still in 3.11; bcrypt is what the registry's htpasswd needs
    anon = Registry()
    try:
        skopeo_push(busybox_layout, anon.host + "/priv:latest")
    finally:
        anon.stop()
    d = tempfile.mkdtemp(prefix="airlock-htpasswd-")
    try:
        hp = os.path.join(d, "htpasswd")
        h = crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH))
        if not h or not h.startswith("$2"):
            pytest.skip("no bcrypt in crypt(3)")
        with open(hp, "w") as f:
            f.write("alice:%s\n" % h)
        reg = Registry(storage=anon.storage, auth=("htpasswd", hp))
        try:
            rc, err = run_tool(store, "pull", reg.host + "/priv:latest")
            assert rc == 1 and err["error"]["code"] == "Unauthorized", err
            rc, err = run_tool(store, "pull", reg.host + "/priv:latest", "--user", "alice",
                               "--password", "wrong")
            assert rc == 1 and err["error"]["code"] == "Unauthorized", err
            rc, out = run_tool(store, "pull", reg.host + "/priv:latest", "--user", "alice",
                               "--password", "s3cret")
            assert rc == 0, out
            assert_busybox(out)
        finally:
            reg.cleanup()
    finally:
        shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(anon.dir, ignore_errors=True)


# --- bearer tokens: a tiny token service signing RS256 JWTs the registry verifies ---

def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class TokenService:
    def __init__(self, service, issuer, user=None, password=None):
        crypto = pytest.importorskip("cryptography")
        del crypto
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
        from cryptography.x509.oid import NameOID
        import datetime
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "airlock-test-token")])
        now = datetime.datetime.utcnow()
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=1))
                     .not_valid_after(now + datetime.timedelta(days=1))
                     .sign(self.key, hashes.SHA256()))
        self.dir = tempfile.mkdtemp(prefix="airlock-token-")
        self.certfile = os.path.join(self.dir, "token.crt")
        with open(self.certfile, "wb") as f:
            f.write(self.cert.public_bytes(serialization.Encoding.PEM))
        self.der = self.cert.public_bytes(serialization.Encoding.DER)
        self.service, self.issuer, self.user, self.password = service, issuer, user, password
        self.requests = []
        svc = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                import urllib.parse
                q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                svc.requests.append((self.path, self.headers.get("Authorization")))
                if svc.user:
                    want = "Basic " + base64.b64encode(
                        ("%s:%s" % (svc.user, svc.password)).encode()).decode()
                    if self.headers.get("Authorization") != want:
                        self.send_response(401)
                        self.end_headers()
                        return
                access = []
                for s in q.get("scope", []):
                    typ, name, actions = s.split(":")
                    access.append({"type": typ, "name": name, "actions": actions.split(",")})
                tok = svc.sign(access, q.get("service", [""])[0])
                body = json.dumps({"token": tok, "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        self.realm = "http://127.0.0.1:%d/token" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self._padding, self._hashes = padding, hashes

    def sign(self, access, aud):
        now = int(time.time())
        hdr = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self.der).decode()]}
        claims = {"iss": self.issuer, "sub": self.user or "anonymous", "aud": aud,
                  "exp": now + 300, "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex,
                  "access": access}
        si = b64url(json.dumps(hdr).encode()) + "." + b64url(json.dumps(claims).encode())
        sig = self.key.sign(si.encode(), self._padding.PKCS1v15(), self._hashes.SHA256())
        return si + "." + b64url(sig)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        shutil.rmtree(self.dir, ignore_errors=True)


def test_bearer_token_auth(busybox_layout, store):
    anon = Registry()
    try:
        skopeo_push(busybox_layout, anon.host + "/tok/bb:latest")
    finally:
        anon.stop()
    ts = TokenService("airlock-registry", "airlock-issuer", user="bob", password="pw")
    try:
        reg = Registry(storage=anon.storage,
                       auth=("token", ts.realm, "airlock-registry", "airlock-issuer",
                             ts.certfile))
        try:
            # without credentials the token service refuses
            rc, err = run_tool(store, "pull", reg.host + "/tok/bb:latest")
            assert rc == 1 and err["error"]["code"] == "Unauthorized", err
            rc, out = run_tool(store, "pull", reg.host + "/tok/bb:latest", "--user", "bob",
                               "--password", "pw")
            assert rc == 0, (out, reg.logs())
            assert_busybox(out)
            # the challenge's service and scope reached the token service, creds in basic
            path, authz = ts.requests[-1]
            assert "service=airlock-registry" in path
            assert "scope=repository%3Atok%2Fbb%3Apull" in path
            assert authz.startswith("Basic ")
        finally:
            reg.cleanup()
    finally:
        ts.stop()
        shutil.rmtree(anon.dir, ignore_errors=True)


# --- TLS with an extra CA ---

def make_ca_and_cert(d):
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import datetime
    import ipaddress
    now = datetime.datetime.utcnow()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "airlock test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {n: os.path.join(d, n) for n in ("ca.pem", "cert.pem", "key.pem")}
    with open(paths["ca.pem"], "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths["cert.pem"], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths["key.pem"], "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()))
    return paths


def test_https_with_extra_ca(busybox_layout, store, tmp_path):
    anon = Registry()
    try:
        skopeo_push(busybox_layout, anon.host + "/tls:latest")
    finally:
        anon.stop()
    p = make_ca_and_cert(str(tmp_path))
    reg = Registry(storage=anon.storage, tls=(p["cert.pem"], p["key.pem"]))
    try:
        rc, err = run_tool(store, "pull", reg.host + "/tls:latest")
        assert rc == 1 and "TLS" in err["error"]["message"], err  # untrusted, no http fallback
        rc, out = run_tool(store, "pull", reg.host + "/tls:latest", "--ca", p["ca.pem"])
        assert rc == 0, out
        assert_busybox(out)
    finally:
        reg.cleanup()
        shutil.rmtree(anon.dir, ignore_errors=True)


# --- stalls ---

def test_stalled_registry_times_out(store):
    s = Staller()
    try:
        t0 = time.time()
        rc, err = run_tool(store, "pull", "127.0.0.1:%d/x:y" % s.port, "--stall-timeout", "2")
        took = time.time() - t0
        assert rc == 1
        assert err["error"]["code"] == "Timeout", err
        assert "stalled" in err["error"]["message"]
        assert took < 15, took
    finally:
        s.stop()


def test_stall_mid_blob_times_out_cleanly(store, busybox_layout):
    srv = StallingRegistry(gzip.compress(busybox_tar(busybox_layout)), stall="blob")
    try:
        rc, err = run_tool(store, "pull", "127.0.0.1:%d/x:y" % srv.port, "--plain-http",
                           "--stall-timeout", "2")
        assert rc == 1
        assert err["error"]["code"] == "Timeout", err
        assert srv.ldig in err["error"]["message"]
        no_temp_files(store)
        assert srv.ldig.split(":")[1] not in os.listdir(os.path.join(store, "blobs/sha256"))
    finally:
        srv.stop()


def test_oversized_manifest_refused(store):
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            body = b"{}" if self.path == "/v2/" else b" " * (5 << 20)
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:
                pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        rc, err = run_tool(store, "pull", "127.0.0.1:%d/x:y" % httpd.server_address[1])
        assert rc == 1 and err["error"]["code"] == "PayloadTooLarge", err
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_progress_reported(registry, busybox_layout, store):
    skopeo_push(busybox_layout, registry.host + "/prog:latest")
    p = subprocess.run([img_tool(), store, "pull", registry.host + "/prog:latest", "--progress"],
                       capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    lines = [l for l in p.stderr.decode().splitlines() if l.startswith("progress ")]
    assert lines
    done, total = map(int, lines[-1].split()[1].split("/"))
    assert done == total and total > 0


# --- a scriptable fake registry for protocol edge cases ---

def test_redirect_drops_credentials(store, busybox_layout):
    """Blob storage on another host:port gets the redirect, never the registry credentials."""
    cfg, cdig, layer, ldig, man = tiny_image(gzip.compress(busybox_tar(busybox_layout)))
    storage = Fake({ldig: lambda h: reply(h, 200, layer)})
    want = "Basic " + base64.b64encode(b"u:p").decode()

    def authed(fn):
        def wrapped(h):
            if h.headers.get("Authorization") != want:
                return reply(h, 401, b"{}", headers=[("WWW-Authenticate", 'Basic realm="r"')])
            return fn(h)
        return wrapped

    reg = Fake({
        "/v2/": authed(lambda h: reply(h, 200, b"{}")),
        "/manifests/t": authed(lambda h: reply(h, 200, man,
                                               "application/vnd.oci.image.manifest.v1+json")),
        cdig: authed(lambda h: reply(h, 200, cfg)),
        ldig: authed(lambda h: reply(h, 307, headers=[
            ("Location", "http://127.0.0.1:%d/store/%s" % (storage.port, ldig))])),
    })
    try:
        rc, out = run_tool(store, "pull", "127.0.0.1:%d/x:t" % reg.port, "--user", "u",
                           "--password", "p")
        assert rc == 0, out
        assert_busybox(out)
        assert storage.seen, "the blob was not fetched from the redirect target"
        for path, hdrs in storage.seen:
            assert "Authorization" not in hdrs, hdrs
    finally:
        reg.stop()
        storage.stop()


def test_blob_longer_than_descriptor_refused(store, busybox_layout):
    cfg, cdig, layer, ldig, man = tiny_image(gzip.compress(busybox_tar(busybox_layout)))
    reg = Fake({
        "/v2/": lambda h: reply(h, 200, b"{}"),
        "/manifests/t": lambda h: reply(h, 200, man, "application/vnd.oci.image.manifest.v1+json"),
        cdig: lambda h: reply(h, 200, cfg),
        ldig: lambda h: reply(h, 200, layer + b"\0" * 100000),
    })
    try:
        rc, err = run_tool(store, "pull", "127.0.0.1:%d/x:t" % reg.port)
        assert rc == 1, err
        assert err["error"]["code"] == "PayloadTooLarge", err
        no_temp_files(store)
        assert ldig.split(":")[1] not in os.listdir(os.path.join(store, "blobs/sha256"))
    finally:
        reg.stop()


def test_manifest_digest_mismatch_by_digest(store):
    """Pulled by digest, the registry answers with other content: refused."""
    cfg, cdig, layer, ldig, man = tiny_image(gzip.compress(b"x"))
    other = "sha256:" + "1" * 64
    reg = Fake({
        "/v2/": lambda h: reply(h, 200, b"{}"),
        "/manifests/" + other: lambda h: reply(h, 200, man,
                                               "application/vnd.oci.image.manifest.v1+json"),
    })
    try:
        rc, err = run_tool(store, "pull", "127.0.0.1:%d/x@%s" % (reg.port, other))
        assert rc == 1 and "digest mismatch" in err["error"]["message"], err
        assert err["error"]["code"] == "BadGateway", err
        assert os.listdir(os.path.join(store, "blobs/sha256")) == []
    finally:
        reg.stop()
