/* airlock-init internals shared by its files (see main.c for the theory of operation). */
#pragma once

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "agent/users.h"
#include "common/err.h"
#include "common/proto.h"

#define AGENT_OUT_CHUNK (64u << 10)   /* STDOUT/STDERR frame payload */
#define AGENT_FILE_CHUNK (256u << 10) /* FILE_DATA frame payload */
#define AGENT_OUTQ_HIGH (1u << 20)    /* stop producing data toward the daemon above */
#define AGENT_STDIN_HIGH (4u << 20)   /* stop reading the channel above this stdin backlog */
#define AGENT_DEFAULT_MAX_OUTPUT (1u << 20)
#define AGENT_EXIT_GRACE_MS 100 /* wait for EOF after the main process exited */
#define AGENT_MAX_EXECS 256
#define AGENT_MAX_FILE_JOBS 64

struct agent_exec;
struct agent_fjob;

struct agent_outbuf {
    struct agent_outbuf *next;
    size_t len, off;
    uint8_t data[];
};

struct agent {
    int ctl_fd;
    int sig_fd;
    int root_fd;                    /* file ops and passwd lookups resolve inside it */
    int null_fd;                    /* /dev/null, opened before any user code ran */
    bool privileged;                /* started with capabilities (the real PID 1 case) */
    bool bounding_dropped;          /* its bounding set emptied at start (children inherit) */
    gid_t groups[AGENT_MAX_GROUPS]; /* the agent's own supplementary groups */
    size_t ngroups;
    bool is_init;          /* getpid() == 1 */
    bool setgroups_denied; /* /proc/self/setgroups says "deny" */
    const char *workdir;
    const char *user_spec; /* default user, NULL = the agent's own uid */
    char **image_env;      /* from --env */
    char hostname[256];
    struct agent_outbuf *outq_head, *outq_tail;
    size_t outq_bytes;
    struct agent_exec *execs;
    size_t nexecs;
    struct agent_fjob *fjobs;
    size_t nfjobs;
    bool quit;
    bool reconnect;  /* --channel: survive the host going away */
    int reattach_fd; /* --reattach: a new channel arrives here (fd 4), -1 without */
    bool connected;
    long long next_probe_ms;
};

/* main.c: queue a frame toward the daemon (never blocks; the loop flushes it). */
int agent_send(struct agent *a, uint16_t type, uint16_t flags, uint32_t id, const char *json,
               size_t json_len, const void *data, size_t data_len);
/* Send a json_t (consumed). */
int agent_send_json(struct agent *a, uint16_t type, uint32_t id, void *json_obj);
int agent_send_error(struct agent *a, uint32_t id, const struct al_err *err);
/* A JSON string for a message; bytes that are not UTF-8 become '?'.  Never NULL but on ENOMEM. */
json_t *agent_json_text(const char *s);
bool agent_outq_full(const struct agent *a);
/* Read /etc/passwd and /etc/group from the root and resolve spec (NULL = default user). */
int agent_resolve_user(struct agent *a, const char *spec, struct agent_user *ret,
                       struct al_err *err);

/* exec.c */
void agent_exec_request(struct agent *a, const struct al_frame *f);
void agent_exec_stdin(struct agent *a, const struct al_frame *f);
void agent_exec_resize(struct agent *a, const struct al_frame *f);
void agent_exec_signal(struct agent *a, const struct al_frame *f);
void agent_exec_reaped(struct agent *a, pid_t pid, int status);
size_t agent_exec_stdin_backlog(const struct agent *a);
/* poll integration: add fds, then dispatch revents; timeout in ms (-1 = none). */
size_t agent_exec_pollfds(struct agent *a, struct pollfd *pfd, void **tags, size_t max);
void agent_exec_event(struct agent *a, void *tag, short revents);
int agent_exec_timeout_ms(struct agent *a, long long now);
void agent_exec_timers(struct agent *a, long long now);
/* Kill every exec's process group (and with `everything`, every process we can see). */
void agent_exec_kill_all(struct agent *a, bool everything);

/* files.c */
void agent_file_request(struct agent *a, const struct al_frame *f);
void agent_file_data(struct agent *a, const struct al_frame *f);
bool agent_file_pending(const struct agent *a); /* read jobs want to run */
void agent_file_progress(struct agent *a);
void agent_file_abort_all(struct agent *a);

/* pty.c */
int agent_pty_open(int *ret_master, int *ret_slave, uint16_t rows, uint16_t cols);
int agent_pty_resize(int master, uint16_t rows, uint16_t cols);

/* caps.c */
bool agent_caps_any_effective(void);
/* In the child, before setuid: bounding set, ambient set, securebits. */
/* Empty the bounding set (needs CAP_SETPCAP).  0 or -errno. */
int agent_caps_drop_bounding(void);
int agent_caps_prepare_drop(bool privileged, bool bounding_dropped);
/* In the child, after setuid: clear permitted/effective/inheritable. */
int agent_caps_clear(void);
