/* escape_check, network and environment: interfaces and routes (the host's network
 * namespace), cloud metadata endpoints, container-runtime sockets anywhere in the file tree
 * and abstract sockets of the network namespace, kubernetes service-account tokens and
 * variables, and credentials or host variables leaking into the exec environment (reported
 * by name only, never by value).
 *
 * Network probes send nothing unless there is no route (then a TCP connect can only fail
 * inside this namespace) or --connect is given: a route is looked up with a UDP connect. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "atk_check.h"
#include "attack.h"

extern char **environ;

static void c_host_net(struct chk_ctx *c)
{
    char buf[16384];
    long n = atk_read_file("/proc/self/net/dev", buf, sizeof(buf));
    if (n >= 0) {
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
            char *colon = strchr(line, ':');
            if (!colon || strchr(line, '|'))
                continue;
            line += strspn(line, " ");
            if (strncmp(line, "lo:", 3) != 0)
                chk_finding(c, "interface %.*s", (int)(colon - line), line);
        }
        return;
    }
    struct if_nameindex *ifs = if_nameindex();
    if (!ifs) {
        chk_error(c, "neither /proc/self/net/dev nor if_nameindex: %s", chk_errname(errno));
        return;
    }
    for (struct if_nameindex *i = ifs; i->if_index; i++)
        if (strcmp(i->if_name, "lo") != 0)
            chk_finding(c, "interface %s", i->if_name);
    if_freenameindex(ifs);
}

struct dest {
    const char *addr;
    int port;
    const char *what;
};

static socklen_t make_addr(const char *addr, int port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        return sizeof(*a4);
    }
    if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        return sizeof(*a6);
    }
    return 0;
}

/* 0 when the kernel has a route to addr (a UDP connect: a route look-up, no packet), else
 * errno; src gets the source address it would use. */
static int route_to(const char *addr, char *src, size_t srclen)
{
    struct sockaddr_storage ss;
    socklen_t len = make_addr(addr, 53, &ss);
    if (!len)
        return EINVAL;
    int s = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return errno;
    int e = connect(s, (struct sockaddr *)&ss, len) == 0 ? 0 : errno;
    struct sockaddr_storage me;
    socklen_t ml = sizeof(me);
    snprintf(src, srclen, "?");
    if (e == 0 && getsockname(s, (struct sockaddr *)&me, &ml) == 0) {
        const void *a = me.ss_family == AF_INET
                            ? (const void *)&((struct sockaddr_in *)&me)->sin_addr
                            : (const void *)&((struct sockaddr_in6 *)&me)->sin6_addr;
        inet_ntop(me.ss_family, a, src, (socklen_t)srclen);
    }
    close(s);
    return e;
}

static void c_routes(struct chk_ctx *c)
{
    char buf[16384];
    if (atk_read_file("/proc/self/net/route", buf, sizeof(buf)) >= 0) {
        char *line = strtok(buf, "\n"); /* header */
        while ((line = strtok(NULL, "\n"))) {
            char ifn[32];
            unsigned dst, gw, mask = 0;
            if (sscanf(line, "%31s %x %x %*x %*d %*d %*d %x", ifn, &dst, &gw, &mask) < 3)
                continue;
            struct in_addr d = {dst}, g = {gw};
            char ds[16], gs[16];
            inet_ntop(AF_INET, &d, ds, sizeof(ds));
            inet_ntop(AF_INET, &g, gs, sizeof(gs));
            chk_finding(c, "IPv4 route %s/%d via %s dev %s", ds, __builtin_popcount(mask), gs, ifn);
        }
    }
    if (atk_read_file("/proc/self/net/ipv6_route", buf, sizeof(buf)) >= 0) {
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
            char dst[40], ifn[32];
            unsigned plen;
            if (sscanf(line, "%39s %x %*s %*s %*s %*s %*s %*s %*s %31s", dst, &plen, ifn) == 3 &&
                strcmp(ifn, "lo") != 0)
                chk_finding(c, "IPv6 route %s/%u dev %s", dst, plen, ifn);
        }
    }
    /* what the routing tables above may not show (policy routing, other tables) */
    static const char *const probes[] = {"169.254.169.254",      "10.0.0.1",      "172.17.0.1",
                                         "192.168.0.1",          "100.64.0.1",    "8.8.8.8",
                                         "2001:4860:4860::8888", "fd00:ec2::254", NULL};
    for (const char *const *p = probes; *p; p++) {
        char src[64];
        if (route_to(*p, src, sizeof(src)) == 0)
            chk_finding(c, "a route to %s exists (source %s)", *p, src);
    }
}

/* TCP connect with a timeout: 0 when connected, else errno. */
static int tcp_dial(const char *addr, int port, int timeout_ms)
{
    struct sockaddr_storage ss;
    socklen_t len = make_addr(addr, port, &ss);
    if (!len)
        return EINVAL;
    int s = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0)
        return errno;
    int e = connect(s, (struct sockaddr *)&ss, len) == 0 ? 0 : errno;
    if (e == EINPROGRESS) {
        struct pollfd pfd = {s, POLLOUT, 0};
        int r = poll(&pfd, 1, timeout_ms);
        socklen_t el = sizeof(e);
        if (r == 0)
            e = ETIMEDOUT;
        else if (r < 0 || getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
            e = errno;
    }
    close(s);
    return e;
}

static void c_cloud_metadata(struct chk_ctx *c)
{
    static const struct dest eps[] = {
        {"169.254.169.254", 80, "AWS/GCP/Azure/OCI/DigitalOcean IMDS"},
        {"fd00:ec2::254", 80, "AWS IMDS (IPv6)"},
        {"169.254.170.2", 80, "AWS ECS task credentials"},
        {"100.100.100.200", 80, "Alibaba Cloud metadata"},
        {NULL, 0, NULL},
    };
    for (const struct dest *d = eps; d->addr; d++) {
        char src[64];
        int r = route_to(d->addr, src, sizeof(src));
        if (r == 0 && !c->connect) {
            chk_finding(c, "%s (%s): a route exists (source %s); not dialled without --connect",
                        d->addr, d->what, src);
            continue;
        }
        int e = tcp_dial(d->addr, d->port, 1500);
        if (e == 0)
            chk_finding(c, "TCP connect to %s:%d (%s) succeeded", d->addr, d->port, d->what);
        else
            chk_info(c, "%s:%d -> %s", d->addr, d->port, chk_errname(e));
    }
}

/* 0 when a unix socket at path accepts a connect (stream, datagram or seqpacket), else
 * errno.  Nothing is sent; EAGAIN (a full backlog) still means something listens. */
static int unix_dial(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return ENAMETOOLONG;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    static const int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};
    int e = EPROTOTYPE;
    for (size_t i = 0; i < 3 && e == EPROTOTYPE; i++) {
        int s = socket(AF_UNIX, types[i] | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (s < 0)
            return errno;
        e = connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : errno;
        close(s);
    }
    return e == EAGAIN ? 0 : e;
}

static void c_runtime_sockets(struct chk_ctx *c)
{
    static const char *const socks[] = {
        "/var/run/docker.sock",
        "/run/docker.sock",
        "/run/containerd/containerd.sock",
        "/var/run/containerd/containerd.sock",
        "/run/containerd/containerd.sock.ttrpc",
        "/run/k3s/containerd/containerd.sock",
        "/var/run/crio/crio.sock",
        "/run/crio/crio.sock",
        "/run/podman/podman.sock",
        "/var/run/podman/podman.sock",
        "/var/run/dockershim.sock",
        "/run/buildkit/buildkitd.sock",
        "/var/lib/kubelet/pod-resources/kubelet.sock",
        "/var/snap/lxd/common/lxd/unix.socket",
        "/var/lib/lxd/unix.socket",
        "/run/firecracker-containerd/containerd.sock",
        "/run/dbus/system_bus_socket",
        "/run/systemd/private",
        "/run/airlock/airlockd.sock",
        NULL,
    };
    struct stat st;
    for (const char *const *s = socks; *s; s++)
        if (lstat(*s, &st) == 0)
            chk_finding(c, "%s exists (%s), connect: %s", *s,
                        S_ISSOCK(st.st_mode) ? "socket" : "not a socket",
                        chk_errname(unix_dial(*s)));
}

static void sock_visit(struct chk_ctx *c, const char *path, const struct stat *st)
{
    if (!S_ISSOCK(st->st_mode))
        return;
    int e = unix_dial(path);
    if (e == 0)
        chk_finding(c, "unix socket %s accepts connections", path);
    else
        chk_info(c, "unix socket %s: %s", path, chk_errname(e));
}

/* Any reachable unix socket in the tree may be a daemon's (the host's or airlockd's).  The
 * usual homes of sockets go first, so that a host's big trees cannot use up the budget. */
static void c_socket_files(struct chk_ctx *c)
{
    static const char *const first[] = {"run", "var", "tmp", "dev",   "root", "home",
                                        "srv", "opt", "mnt", "media", "etc",  NULL};
    long budget = 200000;
    bool more = true;
    for (const char *const *f = first; *f && more; f++) {
        char p[64];
        snprintf(p, sizeof(p), "/%s", *f);
        more = chk_walk(c, p, 24, &budget, sock_visit);
    }
    DIR *d = opendir("/");
    struct dirent *de;
    while (more && d && (de = readdir(d))) {
        bool done = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
                    strcmp(de->d_name, "proc") == 0 || strcmp(de->d_name, "sys") == 0;
        for (const char *const *f = first; *f && !done; f++)
            done = strcmp(de->d_name, *f) == 0;
        char p[300];
        struct stat st;
        snprintf(p, sizeof(p), "/%s", de->d_name);
        if (done || lstat(p, &st) < 0)
            continue;
        sock_visit(c, p, &st);
        if (S_ISDIR(st.st_mode))
            more = chk_walk(c, p, 24, &budget, sock_visit);
    }
    if (d)
        closedir(d);
    if (!more)
        chk_info(c, "walk stopped after 200000 entries");
}

/* Abstract unix sockets are reachable by anyone in the network namespace, with no file
 * permission to stop them (containerd-shim, CVE-2020-15257). */
static void c_abstract_sockets(struct chk_ctx *c)
{
    static char buf[1 << 18];
    long n = atk_read_file("/proc/self/net/unix", buf, sizeof(buf));
    if (n < 0) {
        chk_info(c, "/proc/self/net/unix: %s", chk_errname((int)-n));
        return;
    }
    int listening = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        unsigned flags;
        char path[256] = "";
        if (sscanf(line, "%*s %*x %*x %x %*x %*x %*u %255s", &flags, path) < 1)
            continue;
        if (!(flags & 0x10000) || !path[0]) /* __SO_ACCEPTCON: listening */
            continue;
        listening++;
        if (path[0] == '@')
            chk_finding(c, "listening abstract socket %s", path);
    }
    chk_info(c, "%d listening named sockets in this network namespace", listening);
}

static bool name_is(const char *var, const char *name)
{
    size_t n = strlen(name);
    return strncmp(var, name, n) == 0 && var[n] == '=';
}

static void var_name(const char *var, char *out, size_t size)
{
    snprintf(out, size, "%.*s", (int)strcspn(var, "="), var);
}

static void c_k8s_env(struct chk_ctx *c)
{
    for (char **e = environ; *e; e++) {
        char n[128];
        var_name(*e, n, sizeof(n));
        if (strncmp(n, "KUBERNETES_", 11) == 0 || strcmp(n, "KUBECONFIG") == 0)
            chk_finding(c, "%s set", n);
    }
}

/* Credentials by name: cloud SDK variables and anything that calls itself a secret. */
static void c_sensitive_env(struct chk_ctx *c)
{
    static const char *const prefixes[] = {"AWS_",    "AZURE_",  "ARM_CLIENT", "GOOGLE_", "GCP_",
                                           "GCLOUD_", "VAULT_",  "DOCKER_",    "GITHUB_", "GH_",
                                           "NPM_",    "OPENAI_", "ANTHROPIC_", NULL};
    static const char *const words[] = {"TOKEN",  "SECRET",     "KEY",  "PASSWORD",
                                        "PASSWD", "CREDENTIAL", "AUTH", NULL};
    for (char **e = environ; *e; e++) {
        char n[128], up[128];
        var_name(*e, n, sizeof(n));
        for (size_t i = 0; i <= strlen(n); i++)
            up[i] = (char)(n[i] >= 'a' && n[i] <= 'z' ? n[i] - 32 : n[i]);
        bool hit = false;
        for (const char *const *p = prefixes; *p && !hit; p++)
            hit = strncmp(up, *p, strlen(*p)) == 0;
        for (const char *const *w = words; *w && !hit; w++)
            hit = strstr(up, *w) != NULL;
        if (hit)
            chk_finding(c, "%s set (value not shown)", n);
    }
}

/* Variables only the host side has: the daemon's, a login session's, the test runner's. */
static void c_host_env(struct chk_ctx *c)
{
    static const char *const prefixes[] = {"AIRLOCK_", "PYTEST_", "SSH_",     "SUDO_",
                                           "XDG_",     "DBUS_",   "SYSTEMD_", NULL};
    static const char *const names[] = {
        "INVOCATION_ID", "JOURNAL_STREAM", "NOTIFY_SOCKET", "LISTEN_FDS", "MAIL",
        "LOGNAME",       "USER",           "OLDPWD",        "CI",         NULL};
    for (char **e = environ; *e; e++) {
        char n[128];
        var_name(*e, n, sizeof(n));
        bool hit = false;
        for (const char *const *p = prefixes; *p && !hit; p++)
            hit = strncmp(n, *p, strlen(*p)) == 0;
        for (const char *const *w = names; *w && !hit; w++)
            hit = name_is(*e, *w);
        if (hit)
            chk_finding(c, "%s set: the host's environment leaks in", n);
    }
}

const struct chk chk_net_table[] = {
    {"host_net", "amicontained,CDK,deepce,linPEAS", c_host_net},
    {"routes", "CDK,deepce,linPEAS", c_routes},
    {"cloud_metadata", "CDK,deepce,linPEAS", c_cloud_metadata},
    {"runtime_sockets", "deepce,CDK,linPEAS,botb", c_runtime_sockets},
    {"socket_files", "linPEAS,deepce", c_socket_files},
    {"abstract_sockets", "CDK(shim-pwn),linPEAS", c_abstract_sockets},
    {"k8s_env", "CDK,deepce,botb", c_k8s_env},
    {"sensitive_env", "CDK,linPEAS,botb", c_sensitive_env},
    {"host_env", "CDK,linPEAS", c_host_env},
    {NULL, NULL, NULL},
};
