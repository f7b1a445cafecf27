"""Shared helpers of the image tests: drive img-tool (the image component's debug CLI) on a
temporary store, with the built-in busybox layout as a source."""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import binary

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.environ.get("AIRLOCK_IMAGE_CACHE", "/var/cache/airlock/images")


def img_tool():
    exe = binary("img-tool")
    if not exe:
        pytest.skip("img-tool not built")
    return exe


def run_tool(store, *args, timeout=120, env=None):
    p = subprocess.run([img_tool(), store] + list(args), capture_output=True, timeout=timeout,
                       env=env)
    out = json.loads(p.stdout.decode().strip().splitlines()[-1])
    return p.returncode, out


@pytest.fixture(scope="module")
def busybox_layout():
    script = os.path.join(ROOT, "scripts", "build-images.sh")
    subprocess.run([script, "busybox"], check=True, capture_output=True, timeout=300)
    return os.path.join(CACHE, "busybox")


@pytest.fixture
def store():
    d = tempfile.mkdtemp(prefix="airlock-img-store-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def need(tool):
    if not shutil.which(tool):
        pytest.skip("%s not installed" % tool)
