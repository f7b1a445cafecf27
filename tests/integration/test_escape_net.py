"""Network escapes from inside a sandbox: host loopback services, the host side of the veth,
raw and packet sockets, IPv6, the link-local metadata address, routing changes.

DESIGN.md section 7: each sandbox has its own netns, no route but the egress path, IPv6
disabled, and nftables rules that drop everything except the egress proxy, DNS stub and
identity endpoint.  The host's own services are unreachable.  The tests start real listeners
on the host and require that nothing from the sandbox is accepted.
"""
import errno as E
import socket

import pytest

from attacks import DENIED, Listener, atk, attack_bin, refused  # noqa: F401

pytestmark = pytest.mark.security

UNREACHABLE = {E.ECONNREFUSED, E.ENETUNREACH, E.EHOSTUNREACH, E.ETIMEDOUT, E.EPERM, E.EACCES,
               E.EADDRNOTAVAIL, E.EAFNOSUPPORT}


def test_host_loopback_service(atk):
    """Attack: connect to a service listening on the host's 127.0.0.1 (databases, the daemon's
    API, metadata agents).  Defence: the sandbox's loopback is its own (netns): the connect is
    refused or unreachable, and the host listener accepts nothing."""
    ln = Listener("127.0.0.1")
    try:
        res = atk.run("connect", "127.0.0.1", ln.port, 2000)
        refused(res, UNREACHABLE)
        assert not ln.accepted, "host listener accepted %s" % ln.accepted
    finally:
        ln.close()


def host_addresses():
    """Every address of every interface of the host (ip -j addr): [(family, address, ifname)],
    link-local IPv6 ones with their scope (%ifname) for the host's own connects."""
    import json
    import shutil
    import subprocess
    if not shutil.which("ip"):
        pytest.skip("ip (iproute2) not installed: cannot list the host's addresses")
    out = []
    for link in json.loads(subprocess.run(["ip", "-j", "addr"], capture_output=True,
                                          text=True, check=True).stdout):
        for a in link.get("addr_info", []):
            fam = {"inet": socket.AF_INET, "inet6": socket.AF_INET6}.get(a.get("family"))
            if fam:
                out.append((fam, a["local"], link["ifname"]))
    return out


def host_connect(fam, addr, port, ifname):
    """Positive control: the host itself reaches the listener at addr; returns the banner."""
    target = (addr, port, 0, socket.if_nametoindex(ifname)) if addr.startswith("fe80") \
        else (addr, port)
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(target)
        return s.recv(64)


LINK_LOCAL = "169.254.77.77"  # put on the host's lo for the test: a link-local host address


@pytest.fixture
def link_local_on_host():
    """A link-local IPv4 address (169.254/16) on the host's loopback interface for the length
    of the test, so that "the host at a link-local address" has a positive control.  Not the
    metadata address: that one would take the host's own metadata service away."""
    import subprocess
    if subprocess.run(["ip", "addr", "add", LINK_LOCAL + "/32", "dev", "lo"],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot add a link-local address to the host's lo")
    try:
        yield LINK_LOCAL
    finally:
        subprocess.run(["ip", "addr", "del", LINK_LOCAL + "/32", "dev", "lo"],
                       capture_output=True)


def test_host_addresses_unreachable(atk, link_local_on_host):
    """Attack: connect to a host service bound to all addresses (0.0.0.0 and ::) at each of
    the host's own addresses: loopback, the primary interface's IPv4 and IPv6 addresses, IPv6
    link-local, a link-local 169.254 address, every other interface address (the host side of a
    veth, were there one), and the metadata address.  Control: from the host, the listeners
    answer at every one of those addresses but the metadata one (not a host address).
    Defence: the sandbox's own netns (loopback only, no route, IPv6 off; nftables once the
    veth exists): every connect fails and the listeners accept nothing from the sandbox."""
    ln4 = Listener("0.0.0.0")
    try:
        ln6 = Listener("::", socket.AF_INET6)
    except OSError:
        ln6 = None  # no IPv6 on the host: its IPv4 addresses are still checked
    try:
        targets = [t for t in host_addresses() if ln6 or t[0] == socket.AF_INET]
        assert any(a == link_local_on_host for _, a, _ in targets), targets
        assert any(not a.startswith(("127.", "::1", "169.254.", "fe80")) for _, a, _ in targets), \
            "control: the host has no address but loopback and link-local: %s" % targets
        for fam, addr, ifn in targets:
            ln = ln4 if fam == socket.AF_INET else ln6
            assert host_connect(fam, addr, ln.port, ifn).startswith(b"HOST-SERVICE"), addr
        assert len(ln4.accepted) == len([t for t in targets if t[0] == socket.AF_INET])
        ln4.accepted.clear()
        if ln6:
            ln6.accepted.clear()
        probes = [(addr, (ln4 if fam == socket.AF_INET else ln6).port, fam)
                  for fam, addr, _ in targets]
        probes.append(("169.254.169.254", ln4.port, socket.AF_INET))
        for addr, port, fam in probes:
            res = atk.run("connect", addr, port, 2000)
            # fe80:: without a scope (the sandbox has no such interface) is EINVAL
            refused(res, UNREACHABLE | ({E.EINVAL} if addr.startswith("fe80") else set()))
        assert not ln4.accepted, ln4.accepted
        assert not ln6 or not ln6.accepted, ln6.accepted
    finally:
        ln4.close()
        if ln6:
            ln6.close()


def test_daemon_api_unreachable(airlockd, atk):
    """Attack: reach the daemon's REST API (127.0.0.1:<port> on the host) from inside and use it
    (keys are not needed for /healthz, a reachable API is a control-plane bypass).  Defence:
    separate netns: the sandbox's 127.0.0.1 is its own.  Control: the host reaches it there.
    (At the host's other addresses see test_host_addresses_unreachable.)"""
    with socket.create_connection(("127.0.0.1", airlockd.port), timeout=5):
        pass
    refused(atk.run("connect", "127.0.0.1", airlockd.port, 2000), UNREACHABLE)


def test_ipv6_loopback_and_addresses(atk):
    """Attack: use IPv6 (a second stack that firewall rules often forget): connect to a host
    listener on [::1].  Defence: IPv6 disabled in the sandbox netns: no IPv6 address is
    configured and the connect fails; the host listener accepts nothing."""
    res = atk.run("inet6")
    assert res["ok"] is False, "IPv6 addresses configured in the sandbox: %s" % res
    res = atk.run("ipv6")
    refused(res, {E.EADDRNOTAVAIL, E.EAFNOSUPPORT, E.EPERM, E.EACCES})
    if not socket.has_ipv6:
        return
    try:
        ln = Listener("::1", socket.AF_INET6)
    except OSError:
        return
    try:
        refused(atk.run("connect", "::1", ln.port, 2000), UNREACHABLE)
        assert not ln.accepted
    finally:
        ln.close()


def test_metadata_address_unreachable(atk):
    """Attack: reach the cloud metadata service at 169.254.169.254:80 (instance credentials).
    Defence: no route / nftables drop for link-local destinations (identity is disabled in this
    group, so not even the daemon's own identity endpoint may answer there)."""
    refused(atk.run("connect", "169.254.169.254", 80, 3000), UNREACHABLE)


@pytest.mark.parametrize("name", ["raw_packet", "raw_icmp", "raw_ip"])
def test_raw_sockets(atk, name):
    """Attack: open AF_PACKET / SOCK_RAW sockets (spoof packets, sniff the veth, ARP games with
    the host side).  Defence: no CAP_NET_RAW (seccomp may also refuse AF_PACKET): EPERM."""
    refused(atk.run(name), DENIED | {E.EAFNOSUPPORT})


@pytest.mark.parametrize("name", ["netlink_addr", "netlink_route", "link_up"])
def test_netlink_changes(atk, name):
    """Attack: change addresses, routes and links over rtnetlink (e.g. add a route around the
    egress path).  Defence: no CAP_NET_ADMIN in the sandbox netns: EPERM."""
    refused(atk.run(name), DENIED)


def test_abstract_unix_socket(atk):
    """Attack: connect to an abstract unix socket of the host (D-Bus, containerd, X11 and many
    daemons listen on @names).  Defence: abstract names belong to the network namespace: the
    sandbox gets ECONNREFUSED (control: the same connect on the host succeeds)."""
    import secrets
    from attacks import host_run
    name = "airlock-sectest-" + secrets.token_hex(4)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind("\0" + name)
    s.listen(4)
    try:
        assert host_run(atk.binpath, "unix_abstract", name)["ok"] is True  # control
        refused(atk.run("unix_abstract", name), {E.ECONNREFUSED, E.ENOENT, E.EACCES, E.EPERM})
    finally:
        s.close()


def test_vsock_refused(atk):
    """Attack: open an AF_VSOCK socket: on a virtual machine host (this one has /dev/vsock) it
    talks to the hypervisor (CID 2) and to other guests, outside every network namespace, so
    it bypasses the egress proxy and nftables entirely.  Defence: the seccomp filter refuses
    socket(AF_VSOCK), as Docker's default profile does: EPERM (EAFNOSUPPORT where the kernel
    has no vsock).  The test only creates the socket; it never connects anywhere."""
    refused(atk.run("socket_family", 40, 1), {E.EPERM, E.EAFNOSUPPORT, E.EACCES})
    refused(atk.run("socket_family", 40, 5), {E.EPERM, E.EAFNOSUPPORT, E.EACCES, E.ENODEV})



def serve_in(other, script, seconds=4):
    """Runs `script` in the other sandbox for `seconds` (an exec's processes end with it), in
    a thread; returns (thread, result list)."""
    import threading
    out = []
    t = threading.Thread(target=lambda: out.append(other.exec(script + "; sleep %d" % seconds,
                                                              timeout=seconds + 20)))
    t.start()
    return t, out


def test_other_sandbox_loopback_service(airlockd, group, atk):
    """Attack: reach a service another sandbox (another tenant's, say) runs on its
    127.0.0.1.  Defence: every sandbox's loopback is its own netns: the connect from this
    sandbox is refused (control: the same connect inside the other sandbox succeeds)."""
    import time
    from conftest import new_sandbox
    other = new_sandbox(airlockd, group)
    try:
        t, out = serve_in(other, "nc -ll -p 5555 -e echo hello-from-other </dev/null >/dev/null"
                          " 2>&1 & sleep 0.3; echo | nc -w 2 127.0.0.1 5555")
        time.sleep(1.5)
        res = atk.run("connect", "127.0.0.1", 5555, 2000)
        t.join()
        assert "hello-from-other" in out[0]["stdout"], out  # control: the service was up
        refused(res, UNREACHABLE)
    finally:
        other.delete()
