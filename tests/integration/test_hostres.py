"""The leftover check itself (hostres.py): it must see each kind of resource a sandbox holds,
see them go with the sandbox, and see only its own daemon's."""
import os

from conftest import new_group, new_sandbox
from hostres import assert_unchanged, diff, snapshot


def test_snapshot_sees_a_sandbox(fresh_daemon):
    d = fresh_daemon()
    g = new_group(d)
    new_sandbox(d, g).delete()  # the first sandbox imports the built-in image: not a leftover
    before = snapshot(d)
    sb = new_sandbox(d, g)
    during = snapshot(d)
    assert sb.id in "".join(during["cgroups"] - before["cgroups"]), diff(before, during)
    assert during["processes"] - before["processes"], diff(before, during)
    assert os.path.join("sandboxes", sb.id) in during["files"] - before["files"]
    # the default tier's disk is larger than its memory: an ext4 image on a loop device
    assert [l for l in during["loops"] - before["loops"] if sb.id in l], diff(before, during)
    # nothing is mounted in the host's namespace (runtime/sandbox.c): none to see
    assert during["mounts"] == before["mounts"]
    assert sb.delete() == 204
    assert_unchanged(d, before)


def test_snapshot_sees_only_its_daemon(airlockd, fresh_daemon):
    """Another daemon's sandbox (a colleague's, say) does not show in this one's snapshot."""
    before = snapshot(airlockd)
    other = fresh_daemon()
    sb = new_sandbox(other, new_group(other))
    assert snapshot(airlockd) == before
    assert sb.id in "".join(snapshot(other)["cgroups"])
    sb.delete()
