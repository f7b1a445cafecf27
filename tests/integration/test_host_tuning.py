"""airlockd's one change to the host: the cgroup2 superblock gets favordynmods (cgtune.c).

Without it every create's cgroup migration waits for an RCU grace period (5-16 ms here).
The option is global to the host's cgroup2 superblock, so these tests clear it (fspick +
reconfigure, as the daemon sets it) and leave it set again when they end.
"""
import ctypes
import os

import pytest

from conftest import new_group, new_sandbox

SYS_FSPICK, SYS_FSCONFIG = 433, 431
FSPICK_CLOEXEC, FSCONFIG_SET_FLAG, FSCONFIG_CMD_RECONFIGURE = 1, 0, 7
AT_FDCWD = -100
libc = ctypes.CDLL(None, use_errno=True)


def cgroup2_mount():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields, sfields = pre.split(), post.split()
            if sfields[0] == "cgroup2" and fields[3] == "/":
                return fields[4], sfields[2].split(",")
    return None, []


def reconfigure(path, flags):
    """Set the cgroup2 superblock's options to exactly `flags` (and rw)."""
    fs = libc.syscall(SYS_FSPICK, AT_FDCWD, path.encode(), FSPICK_CLOEXEC)
    assert fs >= 0, os.strerror(ctypes.get_errno())
    try:
        for flag in flags:
            assert libc.syscall(SYS_FSCONFIG, fs, FSCONFIG_SET_FLAG, flag.encode(), None, 0) == 0
        assert libc.syscall(SYS_FSCONFIG, fs, FSCONFIG_CMD_RECONFIGURE, None, None, 0) == 0, \
            os.strerror(ctypes.get_errno())
    finally:
        os.close(fs)


@pytest.fixture
def cleared():
    path, opts = cgroup2_mount()
    if not path:
        pytest.skip("no cgroup2 mount on this host")
    kept = [o for o in opts if o not in ("rw", "ro", "favordynmods")]
    reconfigure(path, kept)
    assert "favordynmods" not in cgroup2_mount()[1]
    yield path, kept
    reconfigure(path, kept + ["favordynmods"])  # as every airlockd start leaves it


def test_daemon_sets_favordynmods_and_keeps_the_other_options(fresh_daemon, cleared):
    path, kept = cleared
    d = fresh_daemon()
    opts = cgroup2_mount()[1]
    assert "favordynmods" in opts
    for o in kept:  # nothing else of the superblock changed
        assert o in opts
    assert "remounted with favordynmods" in d.logs()
    # and sandboxes still come up in their cgroups
    g = new_group(d)
    sb = new_sandbox(d, g)
    assert sb.exec(["true"])["exitCode"] == 0


def test_no_favordynmods_leaves_the_host_alone(fresh_daemon, cleared):
    d = fresh_daemon(extra_args=["--no-favordynmods"])
    # judged on what this daemon did: the option is host-wide, and any other airlockd
    # starting meanwhile (another checkout's tests) sets it again
    assert "--no-favordynmods" in d.logs()
    assert "remounted" not in d.logs()
    g = new_group(d)
    sb = new_sandbox(d, g)  # slower, but it works
    assert sb.exec(["true"])["exitCode"] == 0
