"""Tenant isolation and authentication on the control plane.

DESIGN.md section 2 and docs/api.md: a key never sees another tenant's objects: they are 404,
as if absent; every call except /healthz (and the public OIDC documents) needs a valid key
(401 otherwise); admin-only endpoints are 403 for ordinary keys.  Tenant A is the admin tenant
(its group and a running sandbox); tenant B is a fresh tenant key.
"""
import os
import re
import secrets

import pytest

from attacks import ROOT, attack_bin, new_sandbox  # noqa: F401

pytestmark = pytest.mark.security


def endpoints(group, sid):
    g = "/v1/sandboxgroups/" + group
    s = g + "/sandboxes/" + sid
    return [
        ("GET", g, None), ("DELETE", g, None),
        ("GET", g + "/sandboxes", None), ("POST", g + "/sandboxes", {}),
        ("GET", s, None), ("DELETE", s, None),
        ("GET", s + "/stats", None),
        ("POST", s + "/exec", {"command": ["echo", "pwned"]}),
        ("GET", s + "/files?path=/etc/passwd", None),
        ("PUT", s + "/files?path=/tmp/pwned", b"pwned"),
        ("DELETE", s + "/files?path=/etc/passwd", None),
        ("GET", s + "/files/list?path=/", None),
        ("GET", s + "/files/stat?path=/etc/passwd", None),
        ("POST", s + "/files/mkdir?path=/tmp/pwned-dir", None),
    ]


# endpoints that may not be built yet; the answer must still not depend on whether the id is
# another tenant's real object (no existence oracle) and must not be a success
EXTRA = ["/code", "/suspend", "/resume", "/snapshots", "/egresspolicy", "/egress-decisions",
         "/exec/stream"]


def routes():
    """(method, pattern) of every route in the daemon's route table (src/daemon/routes.c)."""
    with open(os.path.join(ROOT, "src", "daemon", "routes.c")) as f:
        text = f.read()
    sb = re.search(r'#define SB "([^"]+)"', text).group(1)
    out = []
    for m, prefix, path in re.findall(r'\{"([A-Z]+)",\s*(SB\s*)?"([^"]*)"', text):
        out.append((m, (sb if prefix else "") + path))
    assert len(out) > 20, out
    return out


def test_every_tenant_route_is_tried():
    """The tests below must try, as another tenant, every route that names an object, each
    with its own method (a wrong one is a 405 from the router before any ownership check, and
    proves nothing: /stats was once tried only with POST)."""
    tried = {(m, p.split("?")[0]) for m, p, _ in endpoints("{group}", "{id}")}
    tried |= {("PUT", "/v1/sandboxgroups/{group}"),  # test_same_group_name_...
              ("DELETE", "/v1/keys/{id}"),  # test_ordinary_key_cannot_use_admin_endpoints
              ("DELETE", "/v1/images/{name...}")}  # test_other_tenant_cannot_see_or_use_images
    missing = [(m, p) for m, p in routes() if "{" in p and (m, p) not in tried]
    assert not missing, "routes no cross-tenant test tries: %s" % missing


def call(d, method, path, body, key):
    if isinstance(body, bytes):
        return d.api(method, path, raw=body, key=key)
    return d.api(method, path, body, key=key)


def test_other_tenant_gets_404_everywhere(airlockd, group, sandbox, tenant_key, host_unchanged):
    """Attack: tenant B uses tenant A's group name and sandbox id on every group, sandbox, exec
    and files endpoint (read, write, delete, exec).  Defence: ownership is checked on every
    call: all 404 NotFound, and A's sandbox is untouched (still running, file not written)."""
    for method, path, body in endpoints(group, sandbox.id):
        st, r = call(airlockd, method, path, body, tenant_key)
        assert st == 404, "%s %s as tenant B -> %s %s" % (method, path, st, r)
        assert isinstance(r, dict) and r.get("error", {}).get("code") == "NotFound", (path, r)
    st, r = airlockd.api("GET", sandbox.base)
    assert st == 200 and r["state"] == "running", (st, r)
    assert sandbox.exec(["sh", "-c", "test -e /tmp/pwned || echo clean"])["stdout"] == "clean\n"
    assert airlockd.api("GET", "/v1/sandboxgroups/" + group)[0] == 200


def test_no_existence_oracle(airlockd, group, sandbox, tenant_key, host_unchanged):
    """Attack: probe whether a group name or sandbox id exists in another tenant by comparing
    answers for real and made-up ids (including endpoints not built yet).  Defence: the answers
    for another tenant's real objects equal those for ids that do not exist, and are never 2xx."""
    fake_g = "g-" + secrets.token_hex(4)
    fake_s = secrets.token_hex(16)
    real = endpoints(group, sandbox.id) + [("POST", "/v1/sandboxgroups/%s/sandboxes/%s%s" % (
        group, sandbox.id, x), {}) for x in EXTRA] + [
        ("GET", "/v1/sandboxgroups/%s/sandboxes/%s/exec/stream" % (group, sandbox.id), None)]
    fake = endpoints(fake_g, fake_s) + [("POST", "/v1/sandboxgroups/%s/sandboxes/%s%s" % (
        fake_g, fake_s, x), {}) for x in EXTRA] + [
        ("GET", "/v1/sandboxgroups/%s/sandboxes/%s/exec/stream" % (fake_g, fake_s), None)]
    for (m, p, b), (_, fp, fb) in zip(real, fake):
        st, _ = call(airlockd, m, p, b, tenant_key)
        fst, _ = call(airlockd, m, fp, fb, tenant_key)
        assert not 200 <= st < 300, (m, p, st)
        assert st == fst, "%s %s: %d for A's real object, %d for a made-up one" % (m, p, st, fst)


def test_other_tenant_lists_do_not_show(airlockd, group, sandbox, tenant_key):
    """Attack: enumerate other tenants' objects through list endpoints.  Defence: B's lists of
    groups (and of keys: admin only) do not show A's objects."""
    st, r = airlockd.api("GET", "/v1/sandboxgroups", key=tenant_key)
    assert st == 200, (st, r)
    assert group not in [g["name"] for g in r["groups"]], r
    st, r = airlockd.api("GET", "/v1/sandboxgroups")
    assert group in [g["name"] for g in r["groups"]], r  # control: A sees it
    st, r = airlockd.api("GET", "/v1/keys", key=tenant_key)
    assert st == 403, (st, r)


def test_same_group_name_does_not_touch_other_tenant(airlockd, group, sandbox, tenant_key):
    """Attack: tenant B PUTs a group with A's group name (to take over its settings or its
    sandboxes).  Defence: either B gets its own, separate group (and sees none of A's
    sandboxes in it) or the call is refused; A's group settings are unchanged."""
    before = airlockd.api("GET", "/v1/sandboxgroups/" + group)[1]
    st, r = airlockd.api("PUT", "/v1/sandboxgroups/" + group,
                         {"image": "busybox", "labels": {"owner": "tenant-b"}}, key=tenant_key)
    assert st in (200, 201, 404, 409), (st, r)
    try:
        if st in (200, 201):
            st2, lst = airlockd.api("GET", "/v1/sandboxgroups/%s/sandboxes" % group,
                                    key=tenant_key)
            assert st2 == 200 and sandbox.id not in [s["id"] for s in lst["sandboxes"]], lst
            st3, _ = airlockd.api("POST", sandbox.base + "/exec", {"command": ["true"]},
                                  key=tenant_key)
            assert st3 == 404
        after = airlockd.api("GET", "/v1/sandboxgroups/" + group)[1]
        assert after.get("labels") == before.get("labels"), (before, after)
        assert airlockd.api("GET", sandbox.base)[0] == 200
    finally:
        if st in (200, 201):
            airlockd.api("DELETE", "/v1/sandboxgroups/" + group, key=tenant_key)
    assert airlockd.api("GET", sandbox.base)[0] == 200, "B's delete removed A's sandbox"


def test_ordinary_key_cannot_use_admin_endpoints(airlockd, tenant_key):
    """Attack: an ordinary tenant mints keys (for itself as admin, or for another tenant),
    revokes another tenant's key, reads metrics, or imports an image from a host path.
    Defence: 403 Forbidden; the other key still works."""
    st, victim = airlockd.api("POST", "/v1/keys", {"tenant": "t-" + secrets.token_hex(4)})
    assert st == 201, (st, victim)
    for m, p, b in (("POST", "/v1/keys", {"tenant": "victim", "admin": True}),
                    ("POST", "/v1/keys", {"tenant": "victim"}), ("GET", "/v1/keys", None),
                    ("DELETE", "/v1/keys/" + victim["id"], None),
                    ("GET", "/metrics", None),
                    ("POST", "/v1/images/import", {"path": "/etc", "name": "hostetc"})):
        st, r = airlockd.api(m, p, b, key=tenant_key)
        assert st == 403, (m, p, st, r)
    assert airlockd.api("GET", "/v1/sandboxgroups", key=victim["key"])[0] == 200


BAD_KEYS = [("missing", None), ("garbage", "garbage-" + secrets.token_hex(16)),
            ("empty-bearer", ""), ("basic", "Basic YWRtaW46YWRtaW4=")]


@pytest.mark.parametrize("kind,value", BAD_KEYS, ids=[k for k, _ in BAD_KEYS])
def test_bad_key_401_everywhere(airlockd, group, sandbox, kind, value, host_unchanged):
    """Attack: call every endpoint without a key, with a made-up key, with an empty bearer
    token and with Basic credentials.  Defence: 401 Unauthorized on all of them, before any
    lookup (so the same for real and made-up ids); /healthz stays public."""
    calls = endpoints(group, sandbox.id) + [
        ("GET", "/v1/sandboxgroups", None), ("PUT", "/v1/sandboxgroups/g-x", {"image": "busybox"}),
        ("GET", "/v1/images", None), ("POST", "/v1/images/pull", {"ref": "127.0.0.1:1/x:y"}),
        ("POST", "/v1/images/import?name=x", b"not a tar"), ("DELETE", "/v1/images/busybox", None),
        ("GET", "/v1/keys", None), ("POST", "/v1/keys", {"tenant": "x"}),
        ("GET", "/metrics", None)]
    for m, p, b in calls:
        hdrs = None
        key = ""
        if kind == "garbage":
            key = value
        elif kind == "empty-bearer":
            hdrs = {"Authorization": "Bearer "}
        elif kind == "basic":
            hdrs = {"Authorization": value}
        if isinstance(b, bytes):
            st, r = airlockd.api(m, p, raw=b, key=key, headers=hdrs)
        else:
            st, r = airlockd.api(m, p, b, key=key, headers=hdrs)
        assert st == 401, "%s %s with %s key -> %s %s" % (m, p, kind, st, r)
    assert airlockd.api("GET", "/healthz", key="")[0] == 200
    st, r = airlockd.api("GET", sandbox.base)
    assert st == 200 and r["state"] == "running"


def test_revoked_key_401(airlockd, group):
    """Attack: keep using a key after it was revoked.  Defence: 401 from then on."""
    st, r = airlockd.api("POST", "/v1/keys", {"tenant": "t-" + secrets.token_hex(4)})
    assert st == 201, (st, r)
    key, kid = r["key"], r["id"]
    assert airlockd.api("GET", "/v1/sandboxgroups", key=key)[0] == 200
    assert airlockd.api("DELETE", "/v1/keys/" + kid)[0] == 204
    assert airlockd.api("GET", "/v1/sandboxgroups", key=key)[0] == 401


def test_other_tenant_cannot_see_or_use_images(airlockd, tenant_key, attack_bin):
    """Attack: tenant B lists, uses (creates a sandbox from) and deletes an image tenant A
    imported.  Defence: images are visible only to their tenant: not listed, 404 for B."""
    from test_escape_image import base_layer, import_image, oci_archive
    name = "priv-" + secrets.token_hex(4)
    st, r = import_image(airlockd, name, oci_archive([base_layer(attack_bin)]))
    assert st == 201, (st, r)
    gb = "g-" + secrets.token_hex(4)
    try:
        st, r = airlockd.api("GET", "/v1/images", key=tenant_key)
        assert st == 200 and name not in [i["name"] for i in r["images"]], r
        st, r = airlockd.api("PUT", "/v1/sandboxgroups/" + gb, {"image": "busybox"},
                             key=tenant_key)
        assert st == 201, (st, r)
        st, r = airlockd.api("POST", "/v1/sandboxgroups/%s/sandboxes" % gb, {"image": name},
                             key=tenant_key)
        assert st in (400, 404), "tenant B started a sandbox from A's image: %s %s" % (st, r)
        st, r = airlockd.api("PUT", "/v1/sandboxgroups/" + gb, {"image": name}, key=tenant_key)
        if st in (200, 201):
            st2, r2 = airlockd.api("POST", "/v1/sandboxgroups/%s/sandboxes" % gb, {},
                                   key=tenant_key)
            assert st2 != 201, "tenant B started a sandbox from A's image via its group"
        st, r = airlockd.api("DELETE", "/v1/images/" + name, key=tenant_key)
        assert st == 404, (st, r)
        st, r = airlockd.api("GET", "/v1/images")
        assert name in [i["name"] for i in r["images"]]
    finally:
        airlockd.api("DELETE", "/v1/sandboxgroups/" + gb, key=tenant_key)
        airlockd.api("DELETE", "/v1/images/" + name)


def test_image_name_squatting(airlockd, tenant_key, attack_bin):
    """Attack: tenant B imports its own (backdoored) image under the name of the built-in image
    ("busybox") and under the name of tenant A's private image, hoping later sandboxes of other
    tenants start from it.  Defence: names are per tenant or refused: A's sandboxes from
    "busybox" and from its own image keep the original digests."""
    from test_escape_image import base_layer, import_image, oci_archive
    g = "g-" + secrets.token_hex(4)
    assert airlockd.api("PUT", "/v1/sandboxgroups/" + g, {"image": "busybox"})[0] == 201
    mine = "mine-" + secrets.token_hex(4)
    try:
        st, sb = airlockd.api("POST", "/v1/sandboxgroups/%s/sandboxes" % g, {})
        assert st == 201, (st, sb)
        builtin = sb["imageDigest"]
        st, r = import_image(airlockd, mine, oci_archive([base_layer(attack_bin)]))
        assert st == 201, (st, r)
        mine_digest = r["digest"]
        evil = oci_archive([base_layer(attack_bin), [(_tarinfo("backdoor", 9), b"BACKDOOR\n")]])
        for name in ("busybox", mine):
            st, r = airlockd.api("POST", "/v1/images/import?name=" + name, raw=evil,
                                 key=tenant_key, headers={"Content-Type": "application/x-tar"})
            assert st in (201, 400, 403, 409), (name, st, r)
        st, imgs = airlockd.api("GET", "/v1/images")
        now = {i["name"]: i["digest"] for i in imgs["images"]}
        assert now.get(mine) == mine_digest, "tenant A's image replaced: %s" % now
        st, sb = airlockd.api("POST", "/v1/sandboxgroups/%s/sandboxes" % g, {})
        assert st == 201 and sb["imageDigest"] == builtin, "busybox now resolves to %s" % sb
        st, sb2 = airlockd.api("POST", "/v1/sandboxgroups/%s/sandboxes" % g, {"image": mine})
        assert st == 201 and sb2["imageDigest"] == mine_digest, (st, sb2)
        # B deleting "busybox" removes at most its own copy, never the built-in for others
        airlockd.api("DELETE", "/v1/images/busybox", key=tenant_key)
        st, sb3 = airlockd.api("POST", "/v1/sandboxgroups/%s/sandboxes" % g, {})
        assert st == 201 and sb3["imageDigest"] == builtin, (st, sb3)
    finally:
        airlockd.api("DELETE", "/v1/sandboxgroups/" + g)
        airlockd.api("DELETE", "/v1/images/" + mine)
        airlockd.api("DELETE", "/v1/images/" + mine, key=tenant_key)
        airlockd.api("DELETE", "/v1/images/busybox", key=tenant_key)


def _tarinfo(name, size):
    import tarfile
    t = tarfile.TarInfo(name)
    t.size = size
    t.mode = 0o644
    return t


def test_sandbox_not_addressable_through_another_group(airlockd, group, sandbox, host_unchanged):
    """Attack: address a sandbox through a different group of the same tenant (groups carry
    the policy: egress, governance, tool allowlists, env), hoping the other group's laxer
    settings apply.  Defence: a sandbox exists only under its own group: 404 elsewhere."""
    other = "g-" + secrets.token_hex(4)
    st, r = airlockd.api("PUT", "/v1/sandboxgroups/" + other, {"image": "busybox"})
    assert st == 201, (st, r)
    try:
        base = "/v1/sandboxgroups/%s/sandboxes/%s" % (other, sandbox.id)
        for m, p, b in (("GET", base, None), ("POST", base + "/exec", {"command": ["true"]}),
                        ("GET", base + "/files?path=/etc/passwd", None),
                        ("DELETE", base, None)):
            st, r = airlockd.api(m, p, b)
            assert st == 404, (m, p, st, r)
        st, r = airlockd.api("GET", "/v1/sandboxgroups/%s/sandboxes" % other)
        assert sandbox.id not in [s["id"] for s in r["sandboxes"]], r
        assert airlockd.api("GET", sandbox.base)[0] == 200
    finally:
        airlockd.api("DELETE", "/v1/sandboxgroups/" + other)
    assert airlockd.api("GET", sandbox.base)[0] == 200, "deleting another group removed it"
