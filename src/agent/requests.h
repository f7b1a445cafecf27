/* Decoders of what the daemon sends airlock-init (EXEC, RESIZE, SIGNAL and FILE payloads):
 * pure, no I/O, no agent state, so they are tested and fuzzed without a sandbox.  exec.c and
 * files.c act on what they return.  Strings marked borrowed point into the decoded JSON. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

#define AGENT_PATH_MAX 4096 /* FILE paths, EXEC cwd */

/* EXEC {"command":[...], "env":{...} or [...], "cwd", "user", "timeoutMs", "rows", "cols",
 * "maxOutput", "tty", "stdin"} */
struct agent_exec_req {
    char **argv;      /* non-empty, argv[0] non-empty */
    char **env;       /* "K=V" entries, each agent_env_entry_valid(); NULL when not given */
    const char *cwd;  /* borrowed; absolute and sane; NULL when not given */
    const char *user; /* borrowed; NULL when not given */
    int64_t timeout_ms, rows, cols, max_output; /* 0 when not given */
    bool tty, stdin_open;
};
/* ret is zeroed first; free with agent_exec_req_free() whatever the result. */
int agent_exec_req_decode(json_t *j, struct agent_exec_req *ret, struct al_err *err);
void agent_exec_req_free(struct agent_exec_req *r);

/* RESIZE {"rows","cols"} (1-65535 each) and SIGNAL {"signal"} (1.._NSIG-1): 0, or -EINVAL
 * for a payload the agent drops. */
int agent_resize_decode(json_t *j, uint16_t *ret_rows, uint16_t *ret_cols);
int agent_signal_decode(json_t *j, int *ret_sig);

/* FILE {"op", "path", options of the op} */
enum agent_file_op {
    AGENT_FILE_UNKNOWN = 0, /* decodes: refused by the caller after its own checks */
    AGENT_FILE_READ,        /* maxBytes */
    AGENT_FILE_WRITE,       /* mode, append */
    AGENT_FILE_LIST,
    AGENT_FILE_STAT,
    AGENT_FILE_MKDIR, /* mode, parents */
    AGENT_FILE_REMOVE /* recursive */
};
struct agent_file_req {
    enum agent_file_op op;
    const char *path;   /* borrowed; al_path_is_sane() */
    uint64_t max_bytes; /* read: 0 = no limit */
    mode_t mode;        /* write: 0644 unless given, mkdir: 0755 unless given */
    bool append, parents, recursive;
};
/* op and path: errors carry the message the agent replies with.  ret is zeroed first. */
int agent_file_req_decode(json_t *j, struct agent_file_req *ret, struct al_err *err);
/* The options of r->op from j: -EINVAL with "<op>: bad <field>" in err. */
int agent_file_opts_decode(json_t *j, struct agent_file_req *r, struct al_err *err);
