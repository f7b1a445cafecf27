/* Network attacks: connections to host services, raw and packet sockets, netlink changes. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "attack.h"

static int tcp_connect(const char *name, const char *addr, int port, int timeout_ms)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        len = sizeof(*s4);
    } else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        len = sizeof(*s6);
    } else {
        return atk_report(name, false, EINVAL, "bad address %s", addr);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return atk_report(name, false, errno, "creating a socket for %s", addr);
    int r = connect(fd, (struct sockaddr *)&ss, len);
    int e = r < 0 ? errno : 0;
    if (r < 0 && e == EINPROGRESS) {
        struct pollfd p = {fd, POLLOUT, 0};
        int pr = poll(&p, 1, timeout_ms);
        if (pr == 0) {
            e = ETIMEDOUT;
        } else {
            socklen_t el = sizeof(e);
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
        }
    }
    char banner[128] = "";
    if (e == 0) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 500) > 0) {
            ssize_t n = read(fd, banner, sizeof(banner) - 1);
            banner[n > 0 ? n : 0] = '\0';
        }
    }
    close(fd);
    return atk_report(name, e == 0, e, "connect(%s:%d)%s%s", addr, port,
                      e == 0 ? " CONNECTED " : "", banner);
}

static int a_connect(const char *name, int argc, char **argv)
{
    if (argc < 2)
        return atk_report(name, false, EINVAL, "usage: connect <addr> <port> [timeout_ms]");
    int t = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 3000;
    return tcp_connect(name, argv[0], (int)strtol(argv[1], NULL, 10), t);
}

static int a_ipv6(const char *name, int argc, char **argv)
{
    /* Binds a UDP socket to [::1]: works only where IPv6 is enabled in this netns. */
    int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return atk_report(name, false, errno, "AF_INET6 socket");
    struct sockaddr_in6 s6;
    memset(&s6, 0, sizeof(s6));
    s6.sin6_family = AF_INET6;
    s6.sin6_addr = in6addr_loopback;
    int r = bind(fd, (struct sockaddr *)&s6, sizeof(s6));
    int e = r < 0 ? errno : 0;
    close(fd);
    return atk_report(name, r == 0, e, "bind([::1]:0) %s", r == 0 ? "IPv6 ENABLED" : "failed");
}

static int sock_result(const char *name, int fd, const char *what)
{
    int e = fd < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    return atk_report(name, fd >= 0, e, "%s", what);
}

static int a_raw_packet(const char *name, int argc, char **argv)
{
    return sock_result(name, socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL)),
                       "AF_PACKET SOCK_RAW ETH_P_ALL");
}

static int a_raw_icmp(const char *name, int argc, char **argv)
{
    return sock_result(name, socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP),
                       "AF_INET SOCK_RAW IPPROTO_ICMP");
}

static int a_raw_ip(const char *name, int argc, char **argv)
{
    return sock_result(name, socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW),
                       "AF_INET SOCK_RAW IPPROTO_RAW");
}

static int a_inet6(const char *name, int argc, char **argv)
{
    /* Lists IPv6 addresses configured in this netns (should be none: IPv6 disabled). */
    char buf[4096];
    long n = atk_read_file("/proc/net/if_inet6", buf, sizeof(buf));
    if (n < 0)
        return atk_report(name, false, (int)-n, "read /proc/net/if_inet6");
    return atk_report(name, n > 0, 0, "%s", buf);
}

struct nl_req {
    struct nlmsghdr nh;
    union {
        struct ifaddrmsg ifa;
        struct rtmsg rt;
    } u;
    char attrs[64];
};

static void add_attr(struct nl_req *r, unsigned short type, const void *data, unsigned short len)
{
    struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->nh.nlmsg_len));
    a->rta_type = type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    memcpy(RTA_DATA(a), data, len);
    r->nh.nlmsg_len = NLMSG_ALIGN(r->nh.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

static int nl_send(const char *name, struct nl_req *r, const char *what)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return atk_report(name, false, errno, "netlink socket");
    r->nh.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    r->nh.nlmsg_seq = 1;
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    if (sendto(fd, r, r->nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        return atk_report(name, false, e, "sendto %s", what);
    }
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    int e = n < 0 ? errno : EPROTO;
    close(fd);
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    if (n >= (ssize_t)sizeof(*h) && h->nlmsg_type == NLMSG_ERROR)
        e = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
    return atk_report(name, e == 0, e, "%s", what);
}

static int a_netlink_addr(const char *name, int argc, char **argv)
{
    struct nl_req r;
    memset(&r, 0, sizeof(r));
    r.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
    r.nh.nlmsg_type = RTM_NEWADDR;
    r.nh.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    r.u.ifa.ifa_family = AF_INET;
    r.u.ifa.ifa_prefixlen = 32;
    r.u.ifa.ifa_index = 1; /* lo */
    struct in_addr a;
    inet_pton(AF_INET, "10.250.250.1", &a);
    add_attr(&r, IFA_LOCAL, &a, sizeof(a));
    add_attr(&r, IFA_ADDRESS, &a, sizeof(a));
    return nl_send(name, &r, "RTM_NEWADDR 10.250.250.1/32 on lo");
}

static int a_netlink_route(const char *name, int argc, char **argv)
{
    struct nl_req r;
    memset(&r, 0, sizeof(r));
    r.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
    r.nh.nlmsg_type = RTM_NEWROUTE;
    r.nh.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    r.u.rt.rtm_family = AF_INET;
    r.u.rt.rtm_dst_len = 24;
    r.u.rt.rtm_table = RT_TABLE_MAIN;
    r.u.rt.rtm_protocol = RTPROT_BOOT;
    r.u.rt.rtm_scope = RT_SCOPE_LINK;
    r.u.rt.rtm_type = RTN_UNICAST;
    struct in_addr a;
    inet_pton(AF_INET, "10.250.251.0", &a);
    int oif = 1;
    add_attr(&r, RTA_DST, &a, sizeof(a));
    add_attr(&r, RTA_OIF, &oif, sizeof(oif));
    return nl_send(name, &r, "RTM_NEWROUTE 10.250.251.0/24 dev lo");
}

static int a_link_up(const char *name, int argc, char **argv)
{
    /* Tries to bring lo down and up again (RTM_NEWLINK flags), i.e. change interface state. */
    struct {
        struct nlmsghdr nh;
        struct ifinfomsg ifi;
    } r;
    memset(&r, 0, sizeof(r));
    r.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
    r.nh.nlmsg_type = RTM_NEWLINK;
    r.ifi.ifi_family = AF_UNSPEC;
    r.ifi.ifi_index = 1;
    r.ifi.ifi_flags = 1; /* IFF_UP */
    r.ifi.ifi_change = 1;
    return nl_send(name, (struct nl_req *)&r, "RTM_NEWLINK lo up");
}

static int a_unix_abstract(const char *name, int argc, char **argv)
{
    /* Connects to an abstract unix socket by name (abstract names are per network namespace). */
    if (argc < 1)
        return atk_report(name, false, EINVAL, "usage: unix_abstract <name>");
    struct sockaddr_un su;
    memset(&su, 0, sizeof(su));
    su.sun_family = AF_UNIX;
    size_t n = strnlen(argv[0], sizeof(su.sun_path) - 2);
    memcpy(su.sun_path + 1, argv[0], n);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return atk_report(name, false, errno, "AF_UNIX socket");
    int r = connect(fd, (struct sockaddr *)&su,
                    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n));
    int e = r < 0 ? errno : 0;
    close(fd);
    return atk_report(name, r == 0, e, "connect(@%s)%s", argv[0], r == 0 ? " CONNECTED" : "");
}

static int a_unix_path(const char *name, int argc, char **argv)
{
    /* Connects to a unix socket at a filesystem path, e.g. the daemon's airlockd.sock. */
    if (argc < 1)
        return atk_report(name, false, EINVAL, "usage: unix_path <path>");
    struct sockaddr_un su;
    memset(&su, 0, sizeof(su));
    su.sun_family = AF_UNIX;
    snprintf(su.sun_path, sizeof(su.sun_path), "%s", argv[0]);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return atk_report(name, false, errno, "AF_UNIX socket");
    int r = connect(fd, (struct sockaddr *)&su, sizeof(su));
    int e = r < 0 ? errno : 0;
    close(fd);
    return atk_report(name, r == 0, e, "connect(%s)%s", argv[0], r == 0 ? " CONNECTED" : "");
}

static int a_socket_family(const char *name, int argc, char **argv)
{
    /* Creates (only creates: nothing is sent) a socket of a family, e.g. 40 = AF_VSOCK, the
     * guest's door to the hypervisor, which network namespaces do not cover. */
    int fam = argc > 0 ? (int)strtol(argv[0], NULL, 0) : AF_VSOCK;
    int type = argc > 1 ? (int)strtol(argv[1], NULL, 0) : SOCK_STREAM;
    return sock_result(name, socket(fam, type | SOCK_CLOEXEC, 0), "creating a family/type socket");
}

const struct atk_entry atk_net_table[] = {
    {"socket_family", a_socket_family, "[family] [type] create a socket, default AF_VSOCK"},
    {"unix_abstract", a_unix_abstract, "<name> connect to an abstract unix socket"},
    {"unix_path", a_unix_path, "<path> connect to a unix socket path"},
    {"connect", a_connect, "<addr> <port> [ms] TCP connect (IPv4 or IPv6)"},
    {"raw_packet", a_raw_packet, "AF_PACKET raw socket"},
    {"raw_icmp", a_raw_icmp, "SOCK_RAW ICMP"},
    {"raw_ip", a_raw_ip, "SOCK_RAW IPPROTO_RAW"},
    {"inet6", a_inet6, "IPv6 addresses in this netns"},
    {"ipv6", a_ipv6, "bind [::1] (is IPv6 enabled?)"},
    {"netlink_addr", a_netlink_addr, "add an address via rtnetlink"},
    {"netlink_route", a_netlink_route, "add a route via rtnetlink"},
    {"link_up", a_link_up, "set lo up via rtnetlink"},
    {NULL, NULL, NULL},
};
