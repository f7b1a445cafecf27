/* airlock-init: PID 1 of every sandbox.
 *
 * Theory of operation
 * -------------------
 * The runtime starts this static binary as the first process of a sandbox: already inside
 * all namespaces, after pivot_root, with no_new_privs, seccomp and Landlock applied, as uid 0
 * of the sandbox's user namespace with full capabilities there.  Its only link to airlockd
 * is the control channel (fd 3, a SOCK_STREAM socket; in the VM backend a virtio-serial
 * char device given with --channel), which speaks the agent protocol of common/proto.h.
 * The first frame on it is HELLO {"version":1,"pid":N}.
 *
 * One thread, one poll() loop over: the control channel, a signalfd for SIGCHLD (every
 * signal is blocked, so as PID 1 of a pid namespace nothing sent from inside the sandbox
 * can stop it), the stdout/stderr (or pty master) fds of every running exec and pending
 * stdin writes; the poll timeout is the earliest exec deadline or EOF grace period.
 *
 * Requests are keyed by the frame id.  EXEC forks a child that leads a process group of its
 * own (a session too with a pty), gets pipes or a fresh pty, its environment, the image
 * user's ids, loses every capability (bounding set, ambient, securebits locked, capset
 * zero) and execs the command
 * (exec.c, child.c, caps.c, pty.c).  FILE requests run inside the sandbox's root with
 * openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS) as the image user's fsuid (files.c).
 * Every zombie is reaped: orphans reparent to PID 1 (outside a pid namespace, in tests, the
 * agent makes itself a child subreaper instead).
 *
 * Data toward the daemon goes through an output queue; above AGENT_OUTQ_HIGH the loop stops
 * reading exec output and file data (the children block on their pipes), so nothing is
 * buffered without bound.  Stdin data from the daemon is buffered per exec; above
 * AGENT_STDIN_HIGH the loop stops reading the channel until the children catch up.
 * The agent is not dumpable (no /proc/1/fd, no ptrace by same-uid user code) and every fd
 * it holds is close-on-exec.  When the channel (fd 3) reaches EOF, everything is killed and
 * the agent exits -- unless it was started with --reattach, which lets the sandbox outlive
 * a crash of airlockd (see there).
 *
 * Options (all optional; the runtime passes them):
 *   --channel PATH   open PATH (read/write) as the control channel instead of using fd 3;
 *                    a device (virtio-serial port) whose host side may go away: on EOF or
 *                    hangup every exec is killed and file op dropped, and the agent waits
 *                    for the host to reconnect, then sends HELLO again (it never exits)
 *   --reattach       fds 4 and 5 are the two ends of a SOCK_SEQPACKET socketpair, both held
 *                    by the agent alone: fd 5 only so that fd 4 never sees EOF, and so that
 *                    a restarted airlockd can take a copy of it (pidfd_getfd) and send a new
 *                    channel over it (one byte with SCM_RIGHTS).  When fd 3 reaches EOF,
 *                    every exec is killed and file op dropped (nobody is left to read their
 *                    results), and the agent waits on fd 4; a channel that arrives there
 *                    replaces the current one, and HELLO is sent on it
 *   --workdir DIR    default cwd of execs (default "/")
 *   --user SPEC      default user of execs and file ops: name, uid, uid:gid, name:group
 *                    (default: the agent's own uid, i.e. root in a sandbox)
 *   --env K=V        image environment, repeatable; applied over the defaults (PATH, HOME,
 *                    HOSTNAME, TERM for ttys) and under each request's env
 *   --root DIR       root for file ops and /etc/passwd lookups (default "/"; for tests)
 * Inherited fds above the channel are closed at startup.
 *
 * Protocol details beyond common/proto.h
 *   EXEC that cannot start (bad JSON, unknown user, missing cwd, no pty): ERROR with the
 *   request id, no STARTED.  A command that is not found / not executable: STARTED, a
 *   shell-like STDERR line, EXIT 127 / 126.  exitCode is 128+N when killed by signal N.
 *   EXEC "env" may be an array of "K=V" or an object.  tty: TERM=xterm is added; STDIN with
 *   flag EOF sends VEOF (^D) through the pty.
 *   FILE read: optional "maxBytes" (larger files fail with EFBIG); every FILE_DATA carries
 *   MORE, the RESULT {"ok":true,"size":N} ends it.  list: entry types are "file", "dir",
 *   "symlink", "other"; the result also has "truncated" (more than 10000 entries or ~900 KiB)
 *   and "skipped" (names that are not UTF-8).  stat adds "name" and, for symlinks, "target".
 *   write refuses a symlink as the last component (ELOOP) and non-regular files; remove
 *   refuses mount points (EBUSY).
 */
#define AL_LOG_COMPONENT "agent"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/log.h"
#include "common/path.h"

#define MAX_POLLFDS (3 + 3 * AGENT_MAX_EXECS)
#define REATTACH_FD 4
#define REATTACH_KEEP_FD 5
#define OUTQ_STOP_READING (8u << 20)
#define RECONNECT_PROBE_MS 200

/* ---- output queue ---- */

bool agent_outq_full(const struct agent *a)
{
    return a->outq_bytes >= AGENT_OUTQ_HIGH;
}

int agent_send(struct agent *a, uint16_t type, uint16_t flags, uint32_t id, const char *json,
               size_t json_len, const void *data, size_t data_len)
{
    uint8_t hdr[AL_PROTO_HDR_LEN];
    if (!a->connected)
        return 0; /* --channel mode, host away: nobody to tell */
    if (json_len > UINT32_MAX || data_len > UINT32_MAX)
        return -EMSGSIZE;
    int rc = al_frame_header_encode(hdr, type, flags, id, (uint32_t)json_len, (uint32_t)data_len);
    if (rc < 0)
        return rc;
    size_t len = sizeof(hdr) + json_len + data_len;
    struct agent_outbuf *b = malloc(sizeof(*b) + len);
    if (!b)
        return -ENOMEM;
    b->next = NULL;
    b->len = len;
    b->off = 0;
    memcpy(b->data, hdr, sizeof(hdr));
    if (json_len)
        memcpy(b->data + sizeof(hdr), json, json_len);
    if (data_len)
        memcpy(b->data + sizeof(hdr) + json_len, data, data_len);
    if (a->outq_tail)
        a->outq_tail->next = b;
    else
        a->outq_head = b;
    a->outq_tail = b;
    a->outq_bytes += len;
    return 0;
}

json_t *agent_json_text(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    /* not UTF-8 (a bounded %.Ns can cut a character): keep the ASCII */
    char buf[AL_ERR_MSG_MAX];
    size_t n = 0;
    for (; *s && n < sizeof(buf) - 1; s++)
        buf[n++] = (unsigned char)*s < 0x80 ? *s : '?';
    buf[n] = '\0';
    return json_string(buf);
}

int agent_send_json(struct agent *a, uint16_t type, uint32_t id, void *json_obj)
{
    json_t *j = json_obj;
    if (!j)
        return -ENOMEM;
    cleanup_free char *s = al_json_dump(j);
    json_decref(j);
    if (!s)
        return -ENOMEM;
    return agent_send(a, type, 0, id, s, strlen(s), NULL, 0);
}

int agent_send_error(struct agent *a, uint32_t id, const struct al_err *err)
{
    int code = err->code ? err->code : EIO;
    return agent_send_json(a, AL_MSG_ERROR, id,
                           json_pack("{s:i,s:o}", "errno", code, "message",
                                     agent_json_text(err->msg[0] ? err->msg : strerror(code))));
}

/* Write what the channel takes now.  Returns -errno when the channel is broken. */
static int outq_flush(struct agent *a)
{
    while (a->outq_head) {
        struct agent_outbuf *b = a->outq_head;
        ssize_t n = write(a->ctl_fd, b->data + b->off, b->len - b->off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return 0;
            return -errno;
        }
        b->off += (size_t)n;
        a->outq_bytes -= (size_t)n;
        if (b->off == b->len) {
            a->outq_head = b->next;
            if (!a->outq_head)
                a->outq_tail = NULL;
            free(b);
        }
    }
    return 0;
}

/* ---- users ---- */

static char *read_db(int root_fd, const char *path)
{
    cleanup_close int fd = al_open_in_root(root_fd, path, O_RDONLY | O_NONBLOCK, 0, false);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return NULL;
    /* sized by the file (this runs for every exec: a 4 MiB buffer each time was an mmap, page
     * faults and a TLB-flushing munmap); a file that grows meanwhile is read up to its old size */
    size_t cap = st.st_size < (off_t)AGENT_DB_MAX ? (size_t)st.st_size : AGENT_DB_MAX;
    char *buf = malloc(cap + 1);
    if (!buf)
        return NULL;
    ssize_t n = al_read_all(fd, buf, cap);
    if (n < 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

int agent_resolve_user(struct agent *a, const char *spec, struct agent_user *ret,
                       struct al_err *err)
{
    cleanup_free char *passwd = read_db(a->root_fd, "/etc/passwd");
    cleanup_free char *group = read_db(a->root_fd, "/etc/group");
    return agent_user_resolve(spec, geteuid(), passwd, group, ret, err);
}

/* ---- control frames ---- */

static void handle_frame(struct agent *a, const struct al_frame *f)
{
    switch (f->type) {
    case AL_MSG_EXEC:
        agent_exec_request(a, f);
        break;
    case AL_MSG_STDIN:
        agent_exec_stdin(a, f);
        break;
    case AL_MSG_RESIZE:
        agent_exec_resize(a, f);
        break;
    case AL_MSG_SIGNAL:
        agent_exec_signal(a, f);
        break;
    case AL_MSG_FILE:
        agent_file_request(a, f);
        break;
    case AL_MSG_FILE_DATA:
        agent_file_data(a, f);
        break;
    case AL_MSG_PING:
        agent_send(a, AL_MSG_PONG, 0, f->id, f->json, f->json_len, NULL, 0);
        break;
    default: {
        struct al_err err;
        al_err_set(&err, AL_ERR_INVALID, EBADMSG, "unexpected %s frame", al_msg_type_name(f->type));
        agent_send_error(a, f->id, &err);
    }
    }
}

static bool ctl_paused(const struct agent *a)
{
    return a->outq_bytes >= OUTQ_STOP_READING || agent_exec_stdin_backlog(a) >= AGENT_STDIN_HIGH;
}

static void outq_drop(struct agent *a)
{
    while (a->outq_head) {
        struct agent_outbuf *b = a->outq_head;
        a->outq_head = b->next;
        free(b);
    }
    a->outq_tail = NULL;
    a->outq_bytes = 0;
}

static void send_hello(struct agent *a)
{
    agent_send_json(a, AL_MSG_HELLO, 0,
                    json_pack("{s:i,s:i}", "version", AL_PROTO_VERSION, "pid", (int)getpid()));
}

/* The daemon went away.  On the fd 3 stream socket without --reattach that is the end: kill
 * everything and exit.  On a --channel device (virtio-serial) the host may come back, and
 * with --reattach a restarted daemon may send a new channel: end every request, and wait. */
static void channel_lost(struct agent *a, struct al_frame_reader *rd)
{
    if (!a->reconnect && a->reattach_fd < 0) {
        a->quit = true;
        return;
    }
    agent_exec_kill_all(a, false);
    agent_file_abort_all(a);
    outq_drop(a);
    al_frame_reader_free(rd);
    al_frame_reader_init(rd);
    a->connected = false;
    if (a->reattach_fd >= 0 && a->ctl_fd >= 0) {
        close(a->ctl_fd);
        a->ctl_fd = -1;
    }
    a->next_probe_ms = al_now_ms() + RECONNECT_PROBE_MS;
}

/* --reattach: a message on fd 4 carries a new channel (only airlockd can send one: the
 * other end is fd 5, which nothing but the agent and root on the host can reach).  It
 * replaces the current channel, if any. */
static void reattach(struct agent *a, struct al_frame_reader *rd)
{
    char byte;
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    ssize_t n = recvmsg(a->reattach_fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n <= 0)
        return;
    int fd = -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
        c->cmsg_len == CMSG_LEN(sizeof(int)))
        memcpy(&fd, CMSG_DATA(c), sizeof(int));
    struct stat st;
    if (fd < 0 || (mh.msg_flags & MSG_CTRUNC) || fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        log_warn("reattach: no channel in the message");
        return;
    }
    if (a->connected)
        channel_lost(a, rd);
    a->ctl_fd = fd;
    al_fd_nonblock(a->ctl_fd, true);
    a->connected = true;
    send_hello(a);
}

/* A disconnected virtio-serial port polls POLLHUP until the host opens it again. */
static void channel_probe(struct agent *a, long long now)
{
    if (!a->reconnect || a->connected || now < a->next_probe_ms)
        return;
    struct pollfd p = {.fd = a->ctl_fd, .events = POLLIN};
    if (poll(&p, 1, 0) >= 0 && !(p.revents & (POLLHUP | POLLERR | POLLNVAL))) {
        a->connected = true;
        send_hello(a);
    } else
        a->next_probe_ms = now + RECONNECT_PROBE_MS;
}

static void ctl_read(struct agent *a, struct al_frame_reader *rd)
{
    while (!a->quit && a->connected && !ctl_paused(a)) {
        struct al_frame f;
        int rc = al_frame_read(rd, a->ctl_fd, false, &f);
        if (rc == 0)
            return;
        if (rc < 0) {
            if (rc != -EPIPE)
                log_error("control channel: %s", strerror(-rc));
            channel_lost(a, rd);
            return;
        }
        handle_frame(a, &f);
    }
}

static void reap(struct agent *a)
{
    struct signalfd_siginfo si;
    while (read(a->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        ;
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            break;
        agent_exec_reaped(a, pid, status);
    }
}

static int run_loop(struct agent *a)
{
    static struct pollfd pfd[MAX_POLLFDS];
    static void *tags[MAX_POLLFDS];
    struct al_frame_reader rd;
    al_frame_reader_init(&rd);

    while (!a->quit) {
        long long now = al_now_ms();
        channel_probe(a, now);
        ctl_read(a, &rd);
        if (a->quit)
            break;
        agent_exec_timers(a, now);
        if (!agent_outq_full(a))
            agent_file_progress(a);
        if (a->connected && outq_flush(a) < 0) {
            channel_lost(a, &rd);
            continue;
        }

        bool paused = ctl_paused(a);
        pfd[0] = (struct pollfd){.fd = a->connected ? a->ctl_fd : -1,
                                 .events =
                                     (short)((paused ? 0 : POLLIN) | (a->outq_head ? POLLOUT : 0))};
        pfd[1] = (struct pollfd){.fd = a->sig_fd, .events = POLLIN};
        pfd[2] = (struct pollfd){.fd = a->reattach_fd, .events = POLLIN};
        size_t n = 3 + agent_exec_pollfds(a, pfd + 3, tags + 3, MAX_POLLFDS - 3);
        now = al_now_ms();
        int timeout = agent_exec_timeout_ms(a, now);
        if (agent_file_pending(a) && !agent_outq_full(a))
            timeout = 0;
        if (!a->connected && a->reconnect) {
            int t = a->next_probe_ms > now ? (int)(a->next_probe_ms - now) : 0;
            if (timeout < 0 || t < timeout)
                timeout = t;
        }
        int r = poll(pfd, n, timeout);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            log_error("poll: %s", strerror(errno));
            break;
        }
        if (pfd[0].revents & POLLNVAL)
            break;
        if ((pfd[0].revents & POLLERR) ||
            ((pfd[0].revents & POLLHUP) && !(pfd[0].revents & POLLIN)))
            channel_lost(a, &rd);
        if (pfd[1].revents)
            reap(a);
        if (pfd[2].revents & POLLIN)
            reattach(a, &rd);
        for (size_t i = 3; i < n; i++)
            if (pfd[i].revents)
                agent_exec_event(a, tags[i], pfd[i].revents);
    }
    al_frame_reader_free(&rd);
    agent_exec_kill_all(a, a->is_init);
    agent_file_abort_all(a);
    if (a->connected)
        (void)outq_flush(a); /* best effort: the channel may be gone */
    outq_drop(a);
    return 0;
}

/* ---- setup ---- */

static int ensure_stdio(void)
{
    for (int fd = 0; fd < 3; fd++) {
        if (fcntl(fd, F_GETFD) >= 0)
            continue;
        int n = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (n < 0)
            return -errno;
        if (n != fd) {
            /* lower fds are open, so this cannot happen; be safe anyway */
            close(n);
            return -EBADF;
        }
    }
    return 0;
}

static bool setgroups_denied(void)
{
    char buf[16] = {0};
    cleanup_close int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0)
        return false;
    return strncmp(buf, "deny", 4) == 0;
}

/* Every signal is blocked and SIGCHLD read from a signalfd: the agent needs no handler.  With
 * every disposition the default here, exec children inherit nothing ignored and need not reset
 * them one by one.  The raw syscall, because glibc's signal() refuses its reserved signals
 * (32, 33), and one ignored by whoever started airlockd would reach every user process. */
static void signals_default(void)
{
    struct {
        void *handler;
        unsigned long flags;
        void *restorer;
        uint64_t mask;
    } dfl = {SIG_DFL, 0, NULL, 0};
    for (int sig = 1; sig <= 64; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(dfl.mask));
}

/* fds 4 and 5: sockets of type SOCK_SEQPACKET (the runtime made them a pair). */
static bool reattach_fds_valid(void)
{
    for (int fd = REATTACH_FD; fd <= REATTACH_KEEP_FD; fd++) {
        int type = 0;
        socklen_t len = sizeof(type);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_SEQPACKET)
            return false;
    }
    return true;
}

static void usage(void)
{
    fprintf(stderr, "usage: airlock-init [--channel PATH | --reattach] [--workdir DIR] "
                    "[--user SPEC] [--env K=V]... [--root DIR]\n");
}

int main(int argc, char **argv)
{
    struct agent a = {.ctl_fd = -1, .sig_fd = -1, .root_fd = -1, .null_fd = -1, .reattach_fd = -1};
    bool reattach_fds = false;
    const char *channel = NULL, *root = "/";
    size_t nenv = 0;
    static const struct option opts[] = {
        {"channel", required_argument, NULL, 'c'}, {"workdir", required_argument, NULL, 'w'},
        {"user", required_argument, NULL, 'u'},    {"env", required_argument, NULL, 'e'},
        {"root", required_argument, NULL, 'r'},    {"reattach", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};

    al_log_setup(AL_LOG_WARN, AL_LOG_PLAIN, 2);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    umask(0); /* file ops create with exactly the requested mode; execs get 022 */
    if (ensure_stdio() < 0)
        return 1;
    a.image_env = calloc((size_t)argc + 1, sizeof(char *));
    if (!a.image_env)
        return 1;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            channel = optarg;
            break;
        case 'w':
            if (optarg[0] != '/' || !al_path_is_sane(optarg, 4096)) {
                log_error("--workdir must be an absolute path");
                return 2;
            }
            a.workdir = optarg;
            break;
        case 'u':
            a.user_spec = optarg;
            break;
        case 'e':
            if (!agent_env_entry_valid(optarg)) {
                log_error("--env wants K=V");
                return 2;
            }
            a.image_env[nenv++] = optarg;
            break;
        case 'r':
            root = optarg;
            break;
        case 'a':
            reattach_fds = true;
            break;
        default:
            usage();
            return c == 'h' ? 0 : 2;
        }
    }

    /* the control channel, and nothing else inherited */
    if (channel) {
        syscall(SYS_close_range, 3U, ~0U, 0);
        a.ctl_fd = open(channel, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (a.ctl_fd < 0) {
            log_error("open %s: %s", channel, strerror(errno));
            return 1;
        }
    } else {
        if (fcntl(3, F_GETFD) < 0) {
            log_error("no control channel on fd 3");
            return 1;
        }
        a.ctl_fd = 3;
        if (reattach_fds && !reattach_fds_valid()) {
            log_error("--reattach: fds 4 and 5 must be a SOCK_SEQPACKET socket pair");
            return 1;
        }
        syscall(SYS_close_range, reattach_fds ? 6U : 4U, ~0U, 0);
        if (reattach_fds) {
            a.reattach_fd = REATTACH_FD;
            al_fd_cloexec(REATTACH_FD, true);
            al_fd_cloexec(REATTACH_KEEP_FD, true);
        }
    }
    al_fd_cloexec(a.ctl_fd, true);
    al_fd_nonblock(a.ctl_fd, true);

    sigset_t all, chld;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    signals_default();
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    a.sig_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (a.sig_fd < 0) {
        log_error("signalfd: %s", strerror(errno));
        return 1;
    }
    a.is_init = getpid() == 1;
    if (!a.is_init)
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    a.root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (a.root_fd < 0) {
        log_error("open root %s: %s", root, strerror(errno));
        return 1;
    }
    a.null_fd = open("/dev/null", O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    struct stat nst;
    if (a.null_fd < 0 || fstat(a.null_fd, &nst) < 0 || !S_ISCHR(nst.st_mode)) {
        log_error("/dev/null is missing or not a device");
        return 1;
    }
    al_fd_nonblock(a.null_fd, false);
    a.privileged = agent_caps_any_effective();
    /* the agent never execs: it needs no bounding set, and its children inherit an empty one */
    a.bounding_dropped = a.privileged && agent_caps_drop_bounding() == 0;
    a.setgroups_denied = setgroups_denied();
    int ng = getgroups(AGENT_MAX_GROUPS, a.groups);
    a.ngroups = ng > 0 ? (size_t)ng : 0;
    if (gethostname(a.hostname, sizeof(a.hostname) - 1) < 0)
        a.hostname[0] = '\0';

    if (channel) {
        a.reconnect = true; /* connected once the first probe sees the host */
    } else {
        a.connected = true;
        send_hello(&a);
    }
    run_loop(&a);
    close(a.root_fd);
    close(a.null_fd);
    close(a.sig_fd);
    if (a.ctl_fd >= 0)
        close(a.ctl_fd);
    if (a.reattach_fd >= 0) {
        close(REATTACH_FD);
        close(REATTACH_KEEP_FD);
    }
    free(a.image_env);
    return 0;
}
