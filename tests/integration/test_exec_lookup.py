"""How an exec request's command is found (airlock-init's exec_search, src/agent/child.c):
the request's own PATH, execvpe's rules, scripts without "#!" run by /bin/sh.  The child
that execs shares the agent's memory, so none of this may change the agent's own state:
the last test checks the agent still resolves with its own PATH afterwards."""


def setup_tools(sb):
    sb.exec("mkdir -p /opt/a /opt/b && printf 'echo plain script $1\\n' > /opt/b/tool"
            " && chmod 755 /opt/b/tool && printf 'echo no\\n' > /opt/a/tool && chmod 644 /opt/a/tool"
            " && cp /bin/busybox /opt/b/bb")


def test_request_path_is_searched(sandbox):
    setup_tools(sandbox)
    r = sandbox.exec(["tool", "x"], env={"PATH": "/opt/b"})
    assert r["exitCode"] == 0 and r["stdout"] == "plain script x\n", r


def test_script_without_shebang_by_absolute_path(sandbox):
    setup_tools(sandbox)
    r = sandbox.exec(["/opt/b/tool", "y"])
    assert r["exitCode"] == 0 and r["stdout"] == "plain script y\n", r


def test_eacces_earlier_in_path_still_finds_a_later_hit(sandbox):
    setup_tools(sandbox)
    r = sandbox.exec(["tool", "z"], env={"PATH": "/opt/a:/opt/b"})
    assert r["exitCode"] == 0 and r["stdout"] == "plain script z\n", r


def test_eacces_only_is_126_not_127(sandbox):
    setup_tools(sandbox)
    r = sandbox.exec(["tool"], env={"PATH": "/opt/a:/nonexistent"})
    assert r["exitCode"] == 126, r


def test_missing_is_127(sandbox):
    r = sandbox.exec(["no-such-command-here"], env={"PATH": "/opt/a:/bin"})
    assert r["exitCode"] == 127, r


def test_request_path_does_not_stick(sandbox):
    setup_tools(sandbox)
    sandbox.exec(["bb", "true"], env={"PATH": "/opt/b"})
    # the default PATH again: /opt/b is not in it
    r = sandbox.exec(["bb", "true"])
    assert r["exitCode"] == 127, r
    assert sandbox.exec(["true"])["exitCode"] == 0
