"""The host resources that one airlockd owns, to check that requests leave nothing behind.

snapshot(d) lists, for the daemon d (a conftest.Daemon) and no other -- colleagues' daemons
run on the same host at the same time:
  mounts     lines of the daemon's mountinfo that name its state dir or one of its sandbox ids
  cgroups    "<hierarchy>/airlock/<id>" directories (runtime/cgroup.c: every hierarchy that
             serves memory, pids, cpu or freezer, plus the cgroup2 one; v2, v1 and hybrid) whose
             <id> is one of the daemon's sandboxes
  loops      loop devices whose backing file lies under the state dir (sandbox disk images)
  processes  (pid, comm) of every process descended from the daemon (sandbox agents and their
             processes, setup children, mkfs)
  files      paths under the state dir's sandboxes/ and tmp/ (and images/, three levels deep)
The daemon's sandbox ids are the names under sandboxes/, the ids in state.db, and the ids
its log mentions (a failed create logs its id before its row is removed).

  before = snapshot(d); ...; assert_unchanged(d, before)
or the fixture conftest.host_unchanged, which does that around a test on the session daemon
(starting from settled(d), so that what an earlier test released has gone).
"""
import os
import re
import sqlite3
import time

ID_RE = re.compile(r'"sandbox":"([0-9a-f]{32})"')
KINDS = ("mounts", "cgroups", "loops", "processes", "files")


def sandbox_ids(d):
    ids = set()
    sbdir = os.path.join(d.state_dir, "sandboxes")
    try:
        ids.update(n for n in os.listdir(sbdir) if re.fullmatch(r"[0-9a-f]{32}", n))
    except OSError:
        pass
    try:
        with open(d.log_path, "rb") as f:
            ids.update(ID_RE.findall(f.read().decode(errors="replace")))
    except OSError:
        pass
    db = os.path.join(d.state_dir, "state.db")
    if os.path.exists(db):
        try:
            con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
            try:
                ids.update(r[0] for r in con.execute("SELECT id FROM sandboxes"))
            finally:
                con.close()
        except sqlite3.Error:
            pass
    return ids


def _unescape(field):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def cgroup_roots():
    """Mount points of every cgroup hierarchy (v1 controllers and cgroup2)."""
    roots = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fstype = post.split()[0] if post else ""
            fields = pre.split()
            if fstype in ("cgroup", "cgroup2") and fields[3] == "/":
                roots.append(_unescape(fields[4]))
    return roots


def _mounts(d, ids):
    out = set()
    pids = ["self"] + ([str(d.proc.pid)] if d.proc and d.proc.poll() is None else [])
    for pid in pids:
        try:
            with open("/proc/%s/mountinfo" % pid) as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines:
            text = _unescape(line)
            if d.state_dir in text or any(i in text for i in ids):
                # the mount id and parent id change with every mount: keep root, point, source
                pre, _, post = text.partition(" - ")
                f = pre.split()
                out.add("%s %s - %s" % (f[3], f[4], post))
    return out


def _cgroups(ids):
    out = set()
    for root in cgroup_roots():
        base = os.path.join(root, "airlock")
        try:
            names = os.listdir(base)
        except OSError:
            continue
        out.update(os.path.join(base, n) for n in names if n in ids)
    return out


def _loops(d):
    out = set()
    try:
        devs = [n for n in os.listdir("/sys/block") if n.startswith("loop")]
    except OSError:
        return out
    for dev in devs:
        try:
            with open("/sys/block/%s/loop/backing_file" % dev) as f:
                backing = f.read().strip()
        except OSError:
            continue  # not configured
        if backing.startswith(d.state_dir + "/"):
            out.add("/dev/%s <- %s" % (dev, backing))
    return out


def _processes(d):
    if not d.proc or d.proc.poll() is not None:
        return set()
    children, comm = {}, {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                stat = f.read()
        except OSError:
            continue
        name, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:]
        fields = rest.split()
        if fields[0] in ("Z", "X"):
            name += " <zombie>"
        children.setdefault(int(fields[1]), []).append(int(p))
        comm[int(p)] = name
    out, stack = set(), [d.proc.pid]
    while stack:
        for c in children.get(stack.pop(), []):
            out.add((c, comm[c]))
            stack.append(c)
    return out


def _files(d):
    out = set()
    for sub, depth in (("sandboxes", None), ("tmp", None), ("images", 3)):
        top = os.path.join(d.state_dir, sub)
        for root, dirs, files in os.walk(top):
            rel = os.path.relpath(root, d.state_dir)
            if depth is not None and rel.count(os.sep) + 1 >= depth:
                dirs[:] = []
            out.update(os.path.join(rel, n) for n in dirs + files)
    return out


def snapshot(d, kinds=KINDS):
    ids = sandbox_ids(d)
    take = {"mounts": lambda: _mounts(d, ids), "cgroups": lambda: _cgroups(ids),
            "loops": lambda: _loops(d), "processes": lambda: _processes(d),
            "files": lambda: _files(d)}
    return {k: take[k]() for k in kinds}


def settled(d, kinds=KINDS, timeout=10):
    """A snapshot once two in a row, 0.2 s apart, agree: what an earlier test released is
    still going away for a moment (a loop device detaches after its sandbox's last process)."""
    deadline = time.time() + timeout
    prev = snapshot(d, kinds)
    while time.time() < deadline:
        time.sleep(0.2)
        now = snapshot(d, kinds)
        if now == prev:
            return now
        prev = now
    return prev


def diff(before, after):
    lines = []
    for k in before:
        added, gone = sorted(after[k] - before[k]), sorted(before[k] - after[k])
        if added:
            lines.append("%s left behind: %s" % (k, added[:20]))
        if gone:
            lines.append("%s gone: %s" % (k, gone[:20]))
    return "\n".join(lines)


def assert_unchanged(d, before, timeout=10):
    """Waits (up to timeout seconds: processes are reaped and loop devices detached after the
    reply) until d's resources are what they were in `before`; fails with the difference."""
    deadline = time.time() + timeout
    while True:
        now = snapshot(d, tuple(before))
        if now == before or time.time() > deadline:
            break
        time.sleep(0.1)
    assert now == before, "the daemon's host resources changed:\n" + diff(before, now)
