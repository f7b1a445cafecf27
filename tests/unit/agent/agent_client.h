/* A tiny daemon-side client of the agent protocol for tests: starts the real airlock-init
 * with a socketpair as fd 3 and exchanges frames with it. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/proto.h"

struct tagent {
    pid_t pid;
    int fd;
    struct al_frame_reader rd;
};

struct tframe {
    uint16_t type, flags;
    uint32_t id;
    json_t *json; /* NULL when the frame had none */
    uint8_t *data;
    size_t data_len;
};
void tframe_clear(struct tframe *f);

/* argv: extra options after the binary (NULL-terminated, may be NULL). */
int tagent_start(struct tagent *t, const char *const *extra);
/* Same, running pre(ud) in the child before exec (it _exit()s on failure). */
int tagent_start_pre(struct tagent *t, const char *const *extra, void (*pre)(void *), void *ud);
/* Close the channel and wait for the agent to exit; returns its wait status. */
int tagent_stop(struct tagent *t);
int tagent_send(struct tagent *t, uint16_t type, uint16_t flags, uint32_t id, const char *json,
                const void *data, size_t len);
/* Next frame within timeout_ms; -ETIMEDOUT, -EPIPE... */
int tagent_recv(struct tagent *t, struct tframe *f, int timeout_ms);

struct texec {
    uint32_t id;
    bool started, exited, error;
    pid_t pid;
    char *out, *err; /* NUL-terminated */
    size_t out_len, err_len;
    size_t out_cap, err_cap;
    int exit_code, signal;
    bool timed_out, out_trunc, err_trunc;
    long long duration_ms;
    int err_errno;
    char err_msg[256];
};
void texec_free(struct texec *e);
/* Feed one frame to the matching exec of ex[0..n); true when it matched. */
bool texec_feed(struct texec *ex, size_t n, const struct tframe *f);
/* Send EXEC (json object text) and collect until EXIT or ERROR. */
int tagent_exec(struct tagent *t, uint32_t id, const char *json, struct texec *ret, int timeout_ms);
/* Wait for all given execs to end. */
int tagent_wait_execs(struct tagent *t, struct texec *ex, size_t n, int timeout_ms);

/* FILE op: send, then gather FILE_DATA into *data and the RESULT json. */
int tagent_file(struct tagent *t, uint32_t id, const char *json, const void *data, size_t len,
                json_t **ret_result, uint8_t **ret_data, size_t *ret_len);
long long tnow_ms(void);
/* strtol of the whole string (trailing whitespace allowed); -1 otherwise. */
long tparse_long(const char *s);
void tsleep_ms(int ms);
/* true once pid is gone or a zombie */
bool twait_gone(pid_t pid, int ms);
