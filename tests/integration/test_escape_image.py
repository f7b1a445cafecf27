"""Malicious images: layer tarballs whose entries try to escape the unpack directory.

DESIGN.md section 4 (image): safe layer unpack (whiteouts, no path escapes).  Each test builds
a real OCI archive (oci-layout + index + manifest + config + tar layers) with one trick, imports
it through POST /v1/images/import, and requires: refused with 400, or imported without any file
escaping: the host directory targeted by the trick keeps exactly its one secret file, host
/etc/shadow is unchanged, no entry lands in the daemon's state dir outside a layer, and a
sandbox started from the image cannot see host content through the entry.
"""
import hashlib
import io
import json
import os
import secrets
import shutil
import tarfile

import pytest

from attacks import (attack_bin, attacker, host_marker, new_sandbox, parse_line,  # noqa: F401
                     read_host)

pytestmark = pytest.mark.security


def _blob(blobs, data):
    d = hashlib.sha256(data).hexdigest()
    blobs[d] = data
    return "sha256:" + d


def _layer(entries):
    """entries: list of (TarInfo, bytes|None)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for ti, data in entries:
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def ti(name, type=tarfile.REGTYPE, data=b"", mode=0o644, linkname="", uid=0, pax=None,
       devmajor=0, devminor=0):
    t = tarfile.TarInfo(name)
    t.type = type
    t.mode = mode
    t.uid = t.gid = uid
    t.linkname = linkname
    t.mtime = 1700000000
    if type == tarfile.REGTYPE:
        t.size = len(data)
    if pax:
        t.pax_headers = pax
    t.devmajor, t.devminor = devmajor, devminor
    return (t, data if type == tarfile.REGTYPE else None)


def oci_archive(layers):
    blobs = {}
    descs, diff_ids = [], []
    for entries in layers:
        data = _layer(entries)
        dg = _blob(blobs, data)
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": dg,
                      "size": len(data)})
        diff_ids.append(dg)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["/attack", "caps"], "Env": ["PATH=/bin"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    cd = _blob(blobs, config)
    manifest = json.dumps({"schemaVersion": 2,
                           "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": cd, "size": len(config)},
                           "layers": descs}).encode()
    md = _blob(blobs, manifest)
    index = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
        "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        files = [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", index)]
        files += [("blobs/sha256/" + k, v) for k, v in blobs.items()]
        for name, data in files:
            x = tarfile.TarInfo(name)
            x.size = len(data)
            t.addfile(x, io.BytesIO(data))
    return out.getvalue()


def base_layer(attack_bin):
    with open(attack_bin, "rb") as f:
        exe = f.read()
    return [ti("bin", tarfile.DIRTYPE, mode=0o755), ti("bin/attack", data=exe, mode=0o755),
            ti("attack", tarfile.SYMTYPE, linkname="bin/attack"),
            ti("tmp", tarfile.DIRTYPE, mode=0o1777), ti("etc", tarfile.DIRTYPE, mode=0o755),
            ti("etc/passwd", data=b"root:x:0:0::/:/bin/attack\nu:x:1000:1000::/:/bin/attack\n"),
            ti("etc/shadow", data=b"root:*:1::::::\n", mode=0o600)]


def host_check(airlockd, e):
    """The host-side proof that nothing escaped (called at the end of every test)."""
    d, f, tok = e["dir"], e["file"], e["tok"]
    left = sorted(os.listdir(d))
    assert left == ["secret"], "image entries escaped into the host dir %s: %s" % (d, left)
    assert read_host(f) == e["data"], "host secret changed"
    if e["shadow"] is not None:
        assert read_host("/etc/shadow") == e["shadow"], "host /etc/shadow changed"
        assert os.stat("/etc/shadow").st_nlink == e["shadow_nlink"], "hardlink to /etc/shadow"
    for root in ("/", "/var/tmp", "/tmp"):
        esc = [n for n in os.listdir(root) if tok in n]
        assert not esc, "image entries escaped to %s: %s" % (root, esc)
    stray = []
    for top, dirs, files in os.walk(airlockd.state_dir):
        for n in files + dirs:
            if ("evil-" + tok) in n:
                a = top
                while a.startswith(airlockd.state_dir) and \
                        not os.path.exists(os.path.join(a, "canary-" + tok)):
                    a = os.path.dirname(a)
                if not a.startswith(airlockd.state_dir):
                    stray.append(os.path.join(top, n))
    assert not stray, "entries landed in the state dir outside any layer: %s" % stray


@pytest.fixture
def env(airlockd):
    d, f, data = host_marker()
    shadow = read_host("/etc/shadow")
    e = {"dir": d, "file": f, "data": data, "tok": secrets.token_hex(4), "shadow": shadow,
         "shadow_nlink": os.stat("/etc/shadow").st_nlink if shadow is not None else 0}
    yield e
    shutil.rmtree(d, ignore_errors=True)
    for root in ("/", "/var/tmp", "/tmp"):
        for n in os.listdir(root):
            if e["tok"] in n and n.startswith("evil-"):
                p = os.path.join(root, n)
                shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)


def evil_layers(trick, e):
    d, tok = e["dir"], e["tok"]
    up = "../" * 16
    n = "evil-%s-%s" % (tok, trick)
    can = ti("canary-" + tok, data=b"c")
    L = {
        "dotdot": [[can, ti(up + d.lstrip("/") + "/" + n, data=b"PWNED"),
                    ti("../../" + n, data=b"PWNED"), ti("../" + n, data=b"PWNED")]],
        "absolute": [[can, ti(d + "/" + n, data=b"PWNED"), ti("/" + n, data=b"PWNED")]],
        "symlink_parent": [[can, ti("lnk", tarfile.SYMTYPE, linkname=d),
                            ti("lnk/" + n, data=b"PWNED")]],
        "symlink_parent_rel": [[can, ti("lnk", tarfile.SYMTYPE, linkname=up + d.lstrip("/")),
                                ti("lnk/" + n, data=b"PWNED")]],
        "symlink_cross_layer": [[can, ti("lnk", tarfile.SYMTYPE, linkname=d)],
                                [can, ti("lnk/" + n, data=b"PWNED")]],
        "symlink_dir_replace": [[can, ti("etc/lnk", tarfile.SYMTYPE, linkname="/"),
                                 ti("etc/lnk" + d + "/" + n, data=b"PWNED")]],
        "hardlink_shadow": [[can, ti("hl", tarfile.LNKTYPE, linkname="/etc/shadow"),
                             ti("hl2", tarfile.LNKTYPE, linkname=up + "etc/shadow")]],
        "hardlink_secret": [[can, ti("hl", tarfile.LNKTYPE, linkname=e["file"]),
                             ti("hl2", tarfile.LNKTYPE, linkname=up + e["file"].lstrip("/"))]],
        "hardlink_via_symlink": [[can, ti("sl", tarfile.SYMTYPE, linkname=d),
                                  ti("hl", tarfile.LNKTYPE, linkname="sl/secret")]],
        "whiteout_dotdot": [[can, ti(up + d.lstrip("/") + "/.wh.secret", data=b"")]],
        "whiteout_absolute": [[can, ti(d + "/.wh.secret", data=b"")]],
        "whiteout_via_symlink": [[can, ti("lnk", tarfile.SYMTYPE, linkname=d)],
                                 [can, ti("lnk/.wh.secret", data=b""),
                                  ti("lnk/.wh..wh..opq", data=b"")]],
        "devices": [[can, ti("devmem", tarfile.CHRTYPE, devmajor=1, devminor=1, mode=0o666),
                     ti("devsda", tarfile.BLKTYPE, devmajor=8, devminor=0, mode=0o666)]],
    }
    return L[trick]


TRICKS = ["dotdot", "absolute", "symlink_parent", "symlink_parent_rel", "symlink_cross_layer",
          "symlink_dir_replace", "hardlink_shadow", "hardlink_secret", "hardlink_via_symlink",
          "whiteout_dotdot", "whiteout_absolute", "whiteout_via_symlink", "devices"]


def import_image(airlockd, name, archive):
    return airlockd.api("POST", "/v1/images/import?name=" + name, raw=archive,
                        headers={"Content-Type": "application/x-tar"})


@pytest.mark.parametrize("trick", TRICKS)
def test_layer_escape(airlockd, group, attack_bin, env, trick):
    """Attack: import an image whose layer entry escapes the unpack directory (../ paths,
    absolute paths, a symlink as parent of a later entry in the same or a later layer,
    hardlinks to host /etc/shadow or a host secret, whiteouts aimed outside, device nodes).
    Defence: the unpacker resolves every entry inside the layer root: 400, or imported with
    nothing on the host touched (checked by the env fixture), and inside a sandbox the
    hardlinks and devices give no host content."""
    name = "evil-%s-%s" % (env["tok"], trick.replace("_", "-"))
    st, r = import_image(airlockd, name, oci_archive([base_layer(attack_bin)] +
                                                     evil_layers(trick, env)))
    assert st in (201, 400), (st, r)
    if st != 201:
        host_check(airlockd, env)
        return
    try:
        st, sbr = airlockd.api("POST", "/v1/sandboxgroups/%s/sandboxes" % group, {"image": name})
        assert st == 201, (st, sbr)
        from conftest import Sandbox
        sb = Sandbox(airlockd, group, sbr["id"])
        try:
            bad = [env["data"]]
            shadow = read_host("/etc/shadow")
            if shadow:
                bad.append(shadow)
            for p in ("/hl", "/hl2", "/lnk/secret", "/sl/secret", env["file"]):
                r = sb.exec(["/attack", "cat", p])
                res = parse_line(r["stdout"], "cat")
                if res["ok"]:
                    for b in bad:
                        assert b.decode(errors="replace").strip() not in res["detail"], (p, res)
            for p in ("/devmem", "/devsda"):
                r = sb.exec(["/attack", "open_read", p])
                res = parse_line(r["stdout"], "open_read")
                assert res["ok"] is False, "device node from the image opened: %s" % res
        finally:
            sb.delete()
    finally:
        airlockd.api("DELETE", "/v1/images/" + name)
    host_check(airlockd, env)


def test_image_setuid_and_file_caps(airlockd, group, attack_bin, env):
    """Attack: ship a setuid-root program and a program with file capabilities
    (security.capability xattr: sys_admin, setuid, dac_override) in an image, then run them as
    uid 1000.  Defence: nosuid mounts, no_new_privs and an empty bounding set: euid stays 1000
    and every capability set stays empty."""
    with open(attack_bin, "rb") as f:
        exe = f.read()
    import struct
    caps = (1 << 21) | (1 << 7) | (1 << 1)
    vfs = struct.pack("<IIIII", 0x02000001, caps & 0xffffffff, 0, caps >> 32, 0)
    pax = {"SCHILY.xattr.security.capability": vfs.decode("utf-8", "surrogateescape")}
    layer = [ti("canary-" + env["tok"], data=b"c"),
             ti("suid", data=exe, mode=0o4755, uid=0),
             ti("fcap", data=exe, mode=0o755, pax=pax)]
    name = "evil-%s-suid" % env["tok"]
    st, r = import_image(airlockd, name, oci_archive([base_layer(attack_bin), layer]))
    assert st in (201, 400), (st, r)
    if st != 201:
        host_check(airlockd, env)
        return
    try:
        st, sbr = airlockd.api("POST", "/v1/sandboxgroups/%s/sandboxes" % group, {"image": name})
        assert st == 201, (st, sbr)
        from conftest import Sandbox
        sb = Sandbox(airlockd, group, sbr["id"])
        try:
            for p in ("/suid", "/fcap"):
                r = sb.exec([p, "caps"], user="1000:1000")
                res = parse_line(r["stdout"], "caps")
                uid = [x for x in res["detail"].split(";") if x.startswith("Uid:")][0].split()
                assert uid[1:3] == ["1000", "1000"], (p, res)
                assert res["ok"] is False, "capabilities raised by %s: %s" % (p, res)
        finally:
            sb.delete()
    finally:
        airlockd.api("DELETE", "/v1/images/" + name)
    host_check(airlockd, env)


def test_import_errors_do_not_leak_host_paths(airlockd, tenant_key, attack_bin, env):
    """Attack: import broken archives as an ordinary tenant and read the error messages to learn
    the daemon's host paths (state dir, temp files), which help target other attacks.
    Defence: 400 with a message that names the problem but no host path."""
    bad = [b"not a tar at all",
           oci_archive([base_layer(attack_bin)] + evil_layers("dotdot", env))]
    for body in bad:
        st, r = airlockd.api("POST", "/v1/images/import?name=leak-" + env["tok"], raw=body,
                             key=tenant_key, headers={"Content-Type": "application/x-tar"})
        assert st == 400, (st, r)
        msg = json.dumps(r)
        assert airlockd.state_dir not in msg, "host path in error message: %s" % msg
    host_check(airlockd, env)
