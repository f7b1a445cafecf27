/* runtime: the backend interface airlockd drives, and the namespace backend.
 *
 * Everything above the backend (exec, files, lifecycle) is written once against this header.
 * A backend creates a sandbox from a list of read-only layer directories, starts airlock-init
 * as its PID 1, and speaks the agent protocol (common/proto.h) to it.  Calls on one sandbox
 * may come from many API threads at once; the channel multiplexes them by request id.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

struct rt_limits {
    uint32_t cpu_millis;   /* 1000 = one CPU */
    uint64_t memory_bytes; /* cgroup memory limit (OOM kills inside the sandbox only) */
    uint64_t disk_bytes;   /* writable layer size quota */
    uint64_t inodes;       /* writable layer inode quota */
    uint32_t pids;         /* cgroup pids.max */
    uint32_t nofile;       /* RLIMIT_NOFILE for user code */
};

/* Where the writable layer lives (added by the runtime).  TMPFS is fastest but its pages are
 * charged to the memory limit; EXT4 is a sparse image file sandbox_dir/disk.img on a loop
 * device (needs mkfs.ext4 and /dev/loop-control; about 10 ms more per create).  AUTO picks
 * EXT4 when the disk quota exceeds half the memory limit, TMPFS otherwise or when EXT4 is
 * unavailable. */
enum rt_disk_kind { RT_DISK_AUTO = 0, RT_DISK_TMPFS, RT_DISK_EXT4 };

struct rt_spec {
    const char *id;                /* sandbox id: [a-z0-9]{1,32}; names cgroups and dirs */
    const char *const *layer_dirs; /* unpacked image layers, lowest first, NULL-terminated */
    const char *sandbox_dir;       /* per-sandbox host dir (created by the caller, empty) */
    const char *agent_path;        /* host path of the static airlock-init binary */
    uid_t uid_base;                /* host uid/gid range [uid_base, uid_base + uid_count) */
    uint32_t uid_count;            /* at least 65536 */
    struct rt_limits limits;
    const char *hostname;
    /* image config defaults for exec */
    const char *user;            /* "name", "uid" or "uid:gid"; NULL = root */
    const char *const *env;      /* "K=V", NULL-terminated; may be NULL */
    const char *workdir;         /* default cwd; NULL = "/" */
    enum rt_disk_kind disk_kind; /* added by the runtime; 0 = RT_DISK_AUTO */
};

struct rt_exec_req {
    const char *const *argv; /* NULL-terminated, argv[0] looked up in PATH */
    const char *const *env;  /* extra "K=V" on top of the image env; may be NULL */
    const char *cwd;         /* NULL = spec workdir */
    const char *user;        /* NULL = spec user */
    uint32_t timeout_ms;     /* 0 = no timeout; on expiry the whole process group is killed */
    bool tty;
    uint16_t rows, cols;
    uint64_t max_output; /* per stream; 0 = default (1 MiB).  Beyond it: truncated = true */
    const void *stdin_data;
    size_t stdin_len;
    bool stdin_stream; /* added: stdin stays open for rt_exec_stdin (after stdin_data, if any) */
};

struct rt_exec_result {
    int exit_code; /* -1 when killed by a signal */
    int signal;    /* 0 if exited normally */
    bool timed_out;
    bool stdout_truncated, stderr_truncated;
    uint64_t duration_ms;
    char *out; /* buffered output (caller frees); NUL-terminated for convenience */
    size_t out_len;
    char *err;
    size_t err_len;
};
void rt_exec_result_free(struct rt_exec_result *r);

/* Streaming: called from the channel thread for each chunk, in order.  stream 1 = stdout,
 * 2 = stderr.  A non-zero return cancels the exec (the process group gets SIGKILL).
 * While it runs, no other frame of that sandbox is dispatched: it must not block for long
 * and must not wait on another call to the same sandbox (rt_data_fn likewise). */
typedef int (*rt_output_fn)(void *ud, int stream, const void *data, size_t len);

enum rt_file_type { RT_FILE_REGULAR = 0, RT_FILE_DIR, RT_FILE_SYMLINK, RT_FILE_OTHER };
struct rt_stat {
    char name[256];
    enum rt_file_type type;
    uint64_t size;
    uint32_t mode; /* permission bits */
    int64_t mtime; /* seconds */
    uint32_t uid, gid;
};

/* Called with each chunk of a file read, in order. */
typedef int (*rt_data_fn)(void *ud, const void *data, size_t len);

struct rt_stats {
    uint64_t memory_bytes;
    uint64_t cpu_usec;
    uint32_t pids;
    uint64_t disk_bytes;
};

struct rt_sandbox; /* opaque */

/* Create and start: layers mounted, namespaces made, cgroup limits applied, airlock-init
 * running and its HELLO received.  On failure nothing is left behind (mounts, cgroups,
 * processes, files under sandbox_dir).
 * Namespace backend notes: the root filesystem (idmapped layers, overlay, writable layer) is
 * mounted only inside the sandbox's own mount namespace, never in the host's, so it lives
 * exactly as long as the sandbox's processes; the only host file is sandbox_dir/disk.img when
 * the writable layer is ext4 (see rt_disk_kind).  PID 1 is a child of the calling process
 * (CLONE_PARENT): a daemon that reaps with waitpid(-1) may reap it, which the backend tolerates.
 * Errors: AL_ERR_INVALID for a bad spec or a missing layer/agent path, AL_ERR_CONFLICT when the
 * id's cgroup is in use, AL_ERR_TIMEOUT when the agent does not say HELLO in 15 s. */
int rt_sandbox_create(const struct rt_spec *spec, struct rt_sandbox **ret, struct al_err *err);
/* Kill everything, unmount, remove cgroups and sandbox_dir contents.  Safe to call on a
 * sandbox whose agent died.  Frees sb.  Calls already in flight on other threads fail with
 * AL_ERR_UNAVAILABLE and destroy waits for them to return; no call may START once destroy
 * has been entered (the caller serialises that, e.g. with its own state machine). */
int rt_sandbox_destroy(struct rt_sandbox *sb, struct al_err *err);
/* Host pid of the sandbox's PID 1 (for diagnostics and stats). */
pid_t rt_sandbox_pid(const struct rt_sandbox *sb);
/* false once the agent channel is gone (agent or sandbox died). */
bool rt_sandbox_alive(const struct rt_sandbox *sb);
/* For a dead sandbox: did its memory cgroup OOM-kill something after the last exec that
 * completed?  (An OOM kill that an exec already reported -- its process killed -- is not the
 * cause of a later death; one that came after it is, as far as the host can tell: the kernel
 * does not say which process a memory cgroup's OOM kill hit.) */
bool rt_sandbox_oom_killed(struct rt_sandbox *sb);

/* Run a command and wait.  With out_fn set, output is streamed to it and not buffered.
 * The image defaults of the spec apply: env = spec env + req env, cwd = req cwd or spec
 * workdir or "/", user = req user or spec user.  AL_ERR_UNAVAILABLE when the agent is gone,
 * AL_ERR_TIMEOUT when it does not report EXIT within timeout_ms + 10 s. */
int rt_exec(struct rt_sandbox *sb, const struct rt_exec_req *req, rt_output_fn out_fn, void *ud,
            struct rt_exec_result *ret, struct al_err *err);

/* Added by the runtime: the same exec in steps, for interactive streams (WebSocket).  Output
 * goes to out_fn (or is buffered as with rt_exec) from the channel thread.  Every started
 * exec must end with rt_exec_wait, which frees the handle (rt_sandbox_destroy waits for it). */
struct rt_exec_handle;
int rt_exec_start(struct rt_sandbox *sb, const struct rt_exec_req *req, rt_output_fn out_fn,
                  void *ud, struct rt_exec_handle **ret, struct al_err *err);
/* Needs req->stdin_stream; eof closes the child's stdin.  Calls on one handle: one thread at
 * a time, none once rt_exec_wait has returned. */
int rt_exec_stdin(struct rt_exec_handle *h, const void *data, size_t len, bool eof,
                  struct al_err *err);
int rt_exec_resize(struct rt_exec_handle *h, uint16_t rows, uint16_t cols, struct al_err *err);
/* To the exec's process group. */
int rt_exec_signal(struct rt_exec_handle *h, int sig, struct al_err *err);
int rt_exec_wait(struct rt_exec_handle *h, struct rt_exec_result *ret, struct al_err *err);

/* File operations, performed by the agent inside the sandbox's mount namespace.  Paths are
 * absolute sandbox paths; symlinks resolve inside the sandbox. */
int rt_file_read(struct rt_sandbox *sb, const char *path, uint64_t max_bytes, rt_data_fn fn,
                 void *ud, struct al_err *err);
int rt_file_write(struct rt_sandbox *sb, const char *path, const void *data, size_t len,
                  uint32_t mode, bool append, struct al_err *err);
int rt_file_list(struct rt_sandbox *sb, const char *path, struct rt_stat **ret, size_t *ret_n,
                 struct al_err *err);
int rt_file_stat(struct rt_sandbox *sb, const char *path, struct rt_stat *ret, struct al_err *err);
int rt_file_mkdir(struct rt_sandbox *sb, const char *path, uint32_t mode, bool parents,
                  struct al_err *err);
int rt_file_remove(struct rt_sandbox *sb, const char *path, bool recursive, struct al_err *err);

int rt_sandbox_stats(struct rt_sandbox *sb, struct rt_stats *ret, struct al_err *err);

/* Noisy neighbours (cpuclass.c): call about once a second per running sandbox, from one
 * thread.  A sandbox that runs flat out at its CPU limit moves to the background class
 * (cgroup cpu.idle: every other task that wakes preempts it, it still uses spare CPU up to
 * its limit), and back once it has been calm for a few seconds.  *moved: +1 when it moved to
 * the background, -1 when it came back, 0 when it stayed.  Negative errno when the host
 * cannot (no cpu.idle before Linux 5.15: sampling stops, it stays in the normal class). */
int rt_sandbox_cpu_tick(struct rt_sandbox *sb, int *moved);
/* Whether it is in the background now (any thread). */
bool rt_sandbox_cpu_background(struct rt_sandbox *sb);
/* How many CPUs (the lowest numbered) sandboxes in the background are kept off, so that
 * foreground work always finds a CPU without a background spinner on it (cgroup cpuset);
 * 0: none.  Default 1.  Set before the first rt_sandbox_cpu_tick. */
void rt_cpuclass_set_foreground_cpus(unsigned n);

/* After a daemon restart: take over a sandbox a previous airlockd created, still running
 * (its PID 1 outlives the daemon and waits for a new channel).  spec needs only id,
 * sandbox_dir and the image defaults (user, env, workdir).  Requests that were in flight
 * when the old daemon died are gone (the agent killed those execs).  Fails, touching
 * nothing, when the sandbox's PID 1 is gone or cannot be proven to be the one this runtime
 * started there (AL_ERR_NOT_FOUND), or does not answer (AL_ERR_UNAVAILABLE, AL_ERR_TIMEOUT):
 * the caller then removes it with rt_cleanup_stale. */
int rt_sandbox_adopt(const struct rt_spec *spec, struct rt_sandbox **ret, struct al_err *err);

/* After a daemon crash: remove whatever a sandbox with this id left (mounts under
 * sandbox_dir, cgroups, processes).  Idempotent; missing pieces are not errors. */
int rt_cleanup_stale(const char *id, const char *sandbox_dir, struct al_err *err);

/* Host capability probe (cgroup layout, idmapped mounts, Landlock ABI, seccomp), once at
 * daemon start.  Fails with a clear message when the host cannot run the backend.
 * layer_dir: a directory on the filesystem that holds the image layers (they are the only
 * mounts made idmapped), e.g. the daemon's image store. */
int rt_host_check(const char *layer_dir, struct al_err *err);

/* Added by the runtime: one line describing what rt_host_check found ("cgroups=hybrid
 * landlock_abi=7 disk=ext4-loop+tmpfs"), for the daemon's startup log.  Returns snprintf's
 * count. */
int rt_host_describe(char *buf, size_t len);

/* Once at daemon start (cgtune.c): give the host's cgroup2 superblock the favordynmods
 * option, without which every create waits 5-16 ms for an RCU grace period.  Returns 1 when
 * it changed the host, 0 when nothing was needed or possible, <0 on error; `what` says
 * which, for the log. */
int rt_cg_favor_dynmods(char *what, size_t what_len, struct al_err *err);
