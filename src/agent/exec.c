/* EXEC requests: spawn, stdin feeding, output forwarding with caps, timeouts, EXIT.
 *
 * An exec lives from its EXEC frame until its EXIT frame.  The main process is a process-group
 * leader (and with a pty a session leader too), so timeouts and SIGNAL frames reach everything
 * it started.  EXIT is sent once the main process was reaped and its output fds reached EOF,
 * or AGENT_EXIT_GRACE_MS after the reap when a background child still holds them. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/child.h"
#include "agent/requests.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/path.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define FINAL_DRAIN_MAX (4u << 20)

struct agent_stream {
    struct agent_exec *owner;
    int fd;
    uint16_t type; /* AL_MSG_STDOUT / AL_MSG_STDERR */
    struct agent_outcap cap;
    /* pty master at EOF (EIO) while the main process still runs: closing the master now
     * would hang the terminal up and SIGHUP a process that is still exiting */
    bool held;
};

struct agent_exec {
    struct agent_exec *next;
    uint32_t id;
    pid_t pid;
    bool tty;
    int in_fd; /* pipe write end, or a dup of the pty master; -1 when closed */
    uint8_t *in_buf;
    size_t in_len, in_off;
    bool in_eof;
    struct agent_stream out, err;
    long long start_ms, deadline_ms, exited_ms;
    bool exited, timed_out;
    int status;
};

static struct agent_exec *find_exec(struct agent *a, uint32_t id)
{
    for (struct agent_exec *e = a->execs; e; e = e->next)
        if (e->id == id)
            return e;
    return NULL;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static void close_stdin(struct agent_exec *e)
{
    close_fd(&e->in_fd);
    free(e->in_buf);
    e->in_buf = NULL;
    e->in_len = e->in_off = 0;
}

static void exec_free(struct agent_exec *e)
{
    close_stdin(e);
    close_fd(&e->out.fd);
    close_fd(&e->err.fd);
    free(e);
}

/* ---- spawning ---- */

static int build_env(struct agent *a, const struct agent_exec_req *r, const struct agent_user *u,
                     char ***ret)
{
    cleanup_free char *home = NULL, *host = NULL;
    if (asprintf(&home, "HOME=%s", u->home) < 0 || asprintf(&host, "HOSTNAME=%s", a->hostname) < 0)
        return -ENOMEM;
    const char *defaults[] = {"PATH=" DEFAULT_PATH, host, home, r->tty ? "TERM=xterm" : NULL, NULL};
    const char *const *lists[] = {defaults, (const char *const *)a->image_env,
                                  (const char *const *)r->env};
    return agent_env_merge(lists, AL_ARRAY_SIZE(lists), ret);
}

static void send_exec_failure(struct agent *a, struct agent_exec *e, const char *cmd, int err)
{
    char msg[512];
    int n;
    if (err == ENOENT && !strchr(cmd, '/'))
        n = snprintf(msg, sizeof(msg), "airlock: %.256s: command not found\n", cmd);
    else
        n = snprintf(msg, sizeof(msg), "airlock: %.256s: %s\n", cmd, strerror(err));
    size_t take = agent_outcap_take(&e->err.cap, (size_t)n);
    if (take)
        agent_send(a, e->err.type, 0, e->id, NULL, 0, msg, take);
}

/* The child shares the agent's memory until it execs (CLONE_VM | CLONE_VFORK, as posix_spawn
 * does): no copy of the agent's address space to make, fault in and tear down again for
 * every exec.  The agent is single-threaded and sleeps until the child has exec'd or died
 * (it waited for the exec report anyway), so one stack serves every child. */
static char child_stack[128 << 10] __attribute__((aligned(16)));

static int child_main(void *arg)
{
    agent_child_run(arg);
}

/* Start the child; returns its pid or -errno with err set; *ret_exec_err is the errno of a
 * failed execve (the child then exits 127/126 and the exec goes on normally). */
static pid_t spawn(struct agent_child_args *c, int *ret_exec_err, struct al_err *err)
{
    int rp[2];
    if (pipe2(rp, O_CLOEXEC) < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, errno, "pipe");
    c->report_fd = rp[1];
    pid_t pid =
        clone(child_main, child_stack + sizeof(child_stack), CLONE_VM | CLONE_VFORK | SIGCHLD, c);
    if (pid < 0) {
        int e = errno;
        close(rp[0]);
        close(rp[1]);
        return al_err_sys(err, AL_ERR_LIMIT, e, "fork");
    }
    close(rp[1]);
    struct agent_child_report rep;
    ssize_t n;
    do
        n = read(rp[0], &rep, sizeof(rep));
    while (n < 0 && errno == EINTR);
    close(rp[0]);
    *ret_exec_err = 0;
    if (n == (ssize_t)sizeof(rep)) {
        if (rep.stage == AGENT_STAGE_EXEC) {
            *ret_exec_err = rep.err ? rep.err : EIO;
            return pid;
        }
        /* the child exits 125; the SIGCHLD handler reaps it */
        return al_err_sys(err, rep.err == ENOENT ? AL_ERR_NOT_FOUND : AL_ERR_INVALID,
                          rep.err ? rep.err : EIO, "%s%s%s", agent_child_stage_name(rep.stage),
                          rep.stage == AGENT_STAGE_CHDIR ? " " : "",
                          rep.stage == AGENT_STAGE_CHDIR ? c->cwd : "");
    }
    return pid;
}

void agent_exec_request(struct agent *a, const struct al_frame *f)
{
    struct al_err err = {0};
    cleanup_json json_t *j = al_json_parse(f->json, f->json_len, 8, &err);
    struct agent_exec_req r = {0};
    cleanup_strv char **envp = NULL;
    int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1}, master = -1, slave = -1;
    struct agent_exec *e = NULL;

    if (!j || agent_exec_req_decode(j, &r, &err) < 0)
        goto fail;
    if (f->id == 0 || find_exec(a, f->id)) {
        al_err_set(&err, AL_ERR_CONFLICT, EEXIST, "EXEC: request id %u in use", f->id);
        goto fail;
    }
    if (a->nexecs >= AGENT_MAX_EXECS) {
        al_err_set(&err, AL_ERR_LIMIT, EAGAIN, "EXEC: too many running execs");
        goto fail;
    }
    struct agent_child_args c = {.argv = r.argv,
                                 .tty_fd = -1,
                                 .privileged = a->privileged,
                                 .bounding_dropped = a->bounding_dropped,
                                 .setgroups_denied = a->setgroups_denied};
    if (agent_resolve_user(a, r.user ? r.user : a->user_spec, &c.user, &err) < 0)
        goto fail;
    int rc = build_env(a, &r, &c.user, &envp);
    if (rc < 0) {
        al_err_sys(&err, AL_ERR_INTERNAL, -rc, "EXEC: environment");
        goto fail;
    }
    c.envp = envp;
    c.cwd = r.cwd ? r.cwd : a->workdir ? a->workdir : "/";

    if (r.tty) {
        if ((rc = agent_pty_open(&master, &slave, (uint16_t)r.rows, (uint16_t)r.cols)) < 0) {
            al_err_sys(&err, AL_ERR_UNAVAILABLE, -rc, "EXEC: open pty");
            goto fail;
        }
        c.in_fd = c.out_fd = c.err_fd = c.tty_fd = slave;
    } else {
        if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
            al_err_sys(&err, AL_ERR_LIMIT, errno, "EXEC: pipe");
            goto fail;
        }
        c.out_fd = out[1];
        c.err_fd = errp[1];
        if (r.stdin_open) {
            if (pipe2(in, O_CLOEXEC) < 0) {
                al_err_sys(&err, AL_ERR_LIMIT, errno, "EXEC: pipe");
                goto fail;
            }
            c.in_fd = in[0];
        } else {
            c.in_fd = a->null_fd; /* opened at startup: user code may replace /dev/null */
        }
    }

    e = calloc(1, sizeof(*e));
    if (!e) {
        al_err_set(&err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
        goto fail;
    }
    e->id = f->id;
    e->tty = r.tty;
    e->in_fd = e->out.fd = e->err.fd = -1;
    e->out.owner = e->err.owner = e;
    e->out.type = AL_MSG_STDOUT;
    e->err.type = AL_MSG_STDERR;
    e->out.cap.max = e->err.cap.max =
        r.max_output ? (uint64_t)r.max_output : AGENT_DEFAULT_MAX_OUTPUT;
    e->start_ms = al_now_ms();
    if (r.timeout_ms)
        e->deadline_ms = e->start_ms + r.timeout_ms;

    int exec_err = 0;
    pid_t pid = spawn(&c, &exec_err, &err);
    close_fd(&slave);
    close_fd(&in[0]);
    close_fd(&out[1]);
    close_fd(&errp[1]);
    if (pid < 0)
        goto fail;
    e->pid = pid;
    if (r.tty) {
        e->out.fd = master;
        master = -1;
        if (r.stdin_open) {
            e->in_fd = fcntl(e->out.fd, F_DUPFD_CLOEXEC, 3);
            if (e->in_fd < 0)
                e->in_fd = -1;
        }
    } else {
        e->out.fd = TAKE_FD(out[0]);
        e->err.fd = TAKE_FD(errp[0]);
        e->in_fd = TAKE_FD(in[1]);
        al_fd_nonblock(e->out.fd, true);
        al_fd_nonblock(e->err.fd, true);
        if (e->in_fd >= 0)
            al_fd_nonblock(e->in_fd, true);
    }
    e->next = a->execs;
    a->execs = e;
    a->nexecs++;
    agent_send_json(a, AL_MSG_STARTED, e->id, json_pack("{s:i}", "pid", (int)pid));
    if (exec_err)
        send_exec_failure(a, e, r.argv[0], exec_err);
    agent_exec_req_free(&r);
    return;

fail:
    close_fd(&in[0]);
    close_fd(&in[1]);
    close_fd(&out[0]);
    close_fd(&out[1]);
    close_fd(&errp[0]);
    close_fd(&errp[1]);
    close_fd(&master);
    close_fd(&slave);
    free(e);
    agent_exec_req_free(&r);
    agent_send_error(a, f->id, &err);
}

/* ---- frames for a running exec ---- */

static int get_json(const struct al_frame *f, json_t **ret)
{
    struct al_err err;
    *ret = al_json_parse(f->json, f->json_len, 4, &err);
    return *ret ? 0 : -EINVAL;
}

void agent_exec_stdin(struct agent *a, const struct al_frame *f)
{
    struct agent_exec *e = find_exec(a, f->id);
    if (!e || e->in_fd < 0 || e->in_eof)
        return; /* finished, closed, or no stdin: dropped like a closed pipe */
    size_t extra = f->data_len + ((f->flags & AL_FRAME_EOF) && e->tty ? 1 : 0);
    if (extra) {
        if (e->in_off) {
            memmove(e->in_buf, e->in_buf + e->in_off, e->in_len - e->in_off);
            e->in_len -= e->in_off;
            e->in_off = 0;
        }
        uint8_t *nb = realloc(e->in_buf, e->in_len + extra);
        if (!nb) {
            close_stdin(e);
            return;
        }
        e->in_buf = nb;
        memcpy(nb + e->in_len, f->data, f->data_len);
        e->in_len += f->data_len;
        if ((f->flags & AL_FRAME_EOF) && e->tty)
            nb[e->in_len++] = 0x04; /* VEOF */
    }
    if (f->flags & AL_FRAME_EOF) {
        e->in_eof = true;
        if (e->in_off == e->in_len)
            close_stdin(e);
    }
}

void agent_exec_resize(struct agent *a, const struct al_frame *f)
{
    struct agent_exec *e = find_exec(a, f->id);
    cleanup_json json_t *j = NULL;
    uint16_t rows, cols;
    if (!e || !e->tty || get_json(f, &j) < 0 || agent_resize_decode(j, &rows, &cols) < 0)
        return;
    int fd = e->out.fd >= 0 ? e->out.fd : e->in_fd;
    if (fd >= 0)
        agent_pty_resize(fd, rows, cols);
}

void agent_exec_signal(struct agent *a, const struct al_frame *f)
{
    struct agent_exec *e = find_exec(a, f->id);
    cleanup_json json_t *j = NULL;
    int sig;
    if (!e || e->exited || get_json(f, &j) < 0 || agent_signal_decode(j, &sig) < 0)
        return;
    if (kill(-e->pid, sig) < 0)
        kill(e->pid, sig);
}

void agent_exec_reaped(struct agent *a, pid_t pid, int status)
{
    for (struct agent_exec *e = a->execs; e; e = e->next)
        if (e->pid == pid && !e->exited) {
            e->exited = true;
            e->status = status;
            e->exited_ms = al_now_ms();
            return;
        }
}

size_t agent_exec_stdin_backlog(const struct agent *a)
{
    size_t n = 0;
    for (const struct agent_exec *e = a->execs; e; e = e->next)
        n += e->in_len - e->in_off;
    return n;
}

/* ---- poll integration ---- */

/* Tags: the stream pointer for output fds, the exec pointer (low bit set) for stdin. */
size_t agent_exec_pollfds(struct agent *a, struct pollfd *pfd, void **tags, size_t max)
{
    size_t n = 0;
    bool throttled = agent_outq_full(a);
    for (struct agent_exec *e = a->execs; e && n + 3 <= max; e = e->next) {
        struct agent_stream *ss[2] = {&e->out, &e->err};
        for (int i = 0; i < 2; i++)
            if (ss[i]->fd >= 0 && !ss[i]->held && !throttled) {
                pfd[n] = (struct pollfd){.fd = ss[i]->fd, .events = POLLIN};
                tags[n++] = ss[i];
            }
        if (e->in_fd >= 0 && e->in_off < e->in_len) {
            pfd[n] = (struct pollfd){.fd = e->in_fd, .events = POLLOUT};
            tags[n++] = (void *)((uintptr_t)e | 1);
        }
    }
    return n;
}

/* One read; returns bytes read, 0 at EOF (stream closed), -EAGAIN when nothing is there. */
static ssize_t stream_read(struct agent *a, struct agent_exec *e, struct agent_stream *s)
{
    static uint8_t buf[AGENT_OUT_CHUNK];
    if (s->fd < 0)
        return 0;
    ssize_t n = read(s->fd, buf, sizeof(buf));
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN)
            return -EAGAIN;
        n = 0; /* EIO: the pty's last slave is closed; anything else: give up too */
    }
    if (n == 0) {
        if (e->tty && !e->exited)
            s->held = true;
        else
            close_fd(&s->fd);
        return 0;
    }
    size_t take = agent_outcap_take(&s->cap, (size_t)n);
    if (take)
        agent_send(a, s->type, 0, e->id, NULL, 0, buf, take);
    return n;
}

static void stdin_write(struct agent_exec *e)
{
    if (e->in_fd < 0)
        return;
    while (e->in_off < e->in_len) {
        ssize_t n = write(e->in_fd, e->in_buf + e->in_off, e->in_len - e->in_off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return;
            close_stdin(e); /* EPIPE: the child closed its stdin */
            return;
        }
        e->in_off += (size_t)n;
    }
    e->in_off = e->in_len = 0;
    if (e->in_eof)
        close_stdin(e);
}

void agent_exec_event(struct agent *a, void *tag, short revents)
{
    if ((uintptr_t)tag & 1) {
        struct agent_exec *e = (struct agent_exec *)((uintptr_t)tag & ~(uintptr_t)1);
        if (revents & (POLLERR | POLLHUP | POLLNVAL))
            close_stdin(e);
        else if (revents & POLLOUT)
            stdin_write(e);
        return;
    }
    struct agent_stream *s = tag;
    struct agent_exec *e = s->owner;
    if (revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))
        stream_read(a, e, s);
}

/* ---- timers and completion ---- */

int agent_exec_timeout_ms(struct agent *a, long long now)
{
    long long next = -1;
    for (struct agent_exec *e = a->execs; e; e = e->next) {
        long long t = -1;
        if (e->exited)
            t = e->exited_ms + AGENT_EXIT_GRACE_MS;
        else if (e->deadline_ms && !e->timed_out)
            t = e->deadline_ms;
        if (t >= 0 && (next < 0 || t < next))
            next = t;
    }
    if (next < 0)
        return -1;
    return next <= now ? 0 : (int)(next - now > 60000 ? 60000 : next - now);
}

static void final_drain(struct agent *a, struct agent_exec *e, struct agent_stream *s)
{
    size_t total = 0;
    while (s->fd >= 0 && total < FINAL_DRAIN_MAX) {
        ssize_t n = stream_read(a, e, s);
        if (n <= 0)
            break;
        total += (size_t)n;
    }
    close_fd(&s->fd);
}

static void send_exit(struct agent *a, struct agent_exec *e)
{
    int code = 0, sig = 0;
    if (WIFEXITED(e->status))
        code = WEXITSTATUS(e->status);
    else if (WIFSIGNALED(e->status)) {
        sig = WTERMSIG(e->status);
        code = 128 + sig;
    }
    agent_send_json(a, AL_MSG_EXIT, e->id,
                    json_pack("{s:i,s:i,s:b,s:b,s:b,s:I}", "exitCode", code, "signal", sig,
                              "timedOut", e->timed_out, "stdoutTruncated", e->out.cap.truncated,
                              "stderrTruncated", e->err.cap.truncated, "durationMs",
                              (json_int_t)(e->exited_ms - e->start_ms)));
}

void agent_exec_timers(struct agent *a, long long now)
{
    for (struct agent_exec **pp = &a->execs; *pp;) {
        struct agent_exec *e = *pp;
        if (!e->exited && e->deadline_ms && !e->timed_out && now >= e->deadline_ms) {
            e->timed_out = true;
            kill(-e->pid, SIGKILL);
            kill(e->pid, SIGKILL);
        }
        if (e->exited && e->out.held) {
            e->out.held = false;
            close_fd(&e->out.fd);
        }
        if (e->exited && (e->out.fd >= 0 || e->err.fd >= 0) &&
            now >= e->exited_ms + AGENT_EXIT_GRACE_MS) {
            final_drain(a, e, &e->out);
            final_drain(a, e, &e->err);
        }
        if (e->exited && e->out.fd < 0 && e->err.fd < 0) {
            send_exit(a, e);
            *pp = e->next;
            a->nexecs--;
            exec_free(e);
            continue;
        }
        pp = &e->next;
    }
}

void agent_exec_kill_all(struct agent *a, bool everything)
{
    for (struct agent_exec *e = a->execs; e; e = e->next) {
        if (!e->exited) {
            kill(-e->pid, SIGKILL);
            kill(e->pid, SIGKILL);
        }
    }
    if (everything)
        kill(-1, SIGKILL); /* PID 1 of the sandbox: nothing inside outlives it */
    while (a->execs) {
        struct agent_exec *e = a->execs;
        a->execs = e->next;
        exec_free(e);
    }
    a->nexecs = 0;
}
