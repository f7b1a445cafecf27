/* runtime internals shared by the namespace backend's files.  Not a public interface. */
#pragma once

#include <limits.h>
#include <linux/filter.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "runtime/rt.h"

/* ---- cgroups (cgroup.c) ---------------------------------------------------------------- */

/* cpuset holds no limit: it confines a sandbox in the background CPU class (cpuclass.c). */
enum rt_cg_ctrl {
    RT_CG_MEMORY = 0,
    RT_CG_PIDS,
    RT_CG_CPU,
    RT_CG_CPUSET,
    RT_CG_FREEZER,
    RT_CG_NCTRL
};

/* Where the hierarchies are mounted.  A controller is served either by its own v1 hierarchy
 * (v1[c] set) or by the cgroup2 hierarchy (v2_has[c]). */
struct rt_cg_layout {
    char v2[PATH_MAX];              /* cgroup2 mount point, "" if none */
    char v2_super_opts[256];        /* its superblock options ("rw,nsdelegate,...") */
    char v1[RT_CG_NCTRL][PATH_MAX]; /* v1 mount point per controller, "" if none */
    bool v2_has[RT_CG_NCTRL];       /* controller listed in the v2 root's cgroup.controllers */
};

/* Parse /proc/self/mountinfo text (pure: no file access). */
int rt_cg_layout_parse(const char *mountinfo, struct rt_cg_layout *ret);
/* Apply the v2 root's cgroup.controllers content (space-separated names). */
void rt_cg_layout_set_v2_controllers(struct rt_cg_layout *l, const char *controllers);
/* Cached probe of this host (mountinfo + cgroup.controllers). */
int rt_cg_layout_get(const struct rt_cg_layout **ret, struct al_err *err);
/* "cgroup v2", "hybrid", "cgroup v1"; and whether memory and pids can be limited. */
const char *rt_cg_layout_name(const struct rt_cg_layout *l);
bool rt_cg_layout_usable(const struct rt_cg_layout *l);

#define RT_CG_MAXDIRS 5
/* One sandbox's cgroup directories. */
struct rt_cg {
    int n;
    char dirs[RT_CG_MAXDIRS][PATH_MAX];
    char procs[RT_CG_MAXDIRS][PATH_MAX + 16]; /* dirs[i]/cgroup.procs, precomputed for the child */
    int idx[RT_CG_NCTRL];                     /* which dir holds each controller, -1 none */
    bool is_v2[RT_CG_MAXDIRS];
    int v2; /* index of the cgroup2 dir (for cgroup.kill, cpu.stat), -1 none */
    /* a v1 cpuset hierarchy's "<mount>/airlock/<id>": made only when the sandbox first goes
     * to the background (cpuclass.c), so creates pay nothing for it; "" without one */
    char cpuset_v1[PATH_MAX];
};

int rt_cg_plan(const struct rt_cg_layout *l, const char *id, struct rt_cg *ret);
int rt_cg_create(struct rt_cg *cg, const struct rt_limits *lim, struct al_err *err);
/* The CPU weight of a sandbox with cpu_millis of CPU: cgroup2 cpu.weight (1..10000, 100 per
 * CPU) and cgroup v1 cpu.shares (2..262144, 1024 per CPU). */
unsigned rt_cg_cpu_weight(uint32_t cpu_millis);
unsigned rt_cg_cpu_shares(uint32_t cpu_millis);
/* SIGKILL everything inside (cgroup.kill, or freeze + kill on v1). */
void rt_cg_kill(const struct rt_cg *cg);
/* Kill and rmdir, retrying briefly while the cgroups drain.  Missing dirs are fine. */
int rt_cg_remove(const struct rt_cg *cg, struct al_err *err);
int rt_cg_stats(const struct rt_cg *cg, struct rt_stats *ret);
/* CPU time used by everything inside, in microseconds; -ENOENT without a counter. */
int rt_cg_cpu_usec(const struct rt_cg *cg, uint64_t *ret);
/* dir/file: write val; read its content (up to 64 KiB, NUL-terminated, to free), a number,
 * or the number after "key " (cpu.stat, memory.events).  Negative errno on failure. */
int rt_cg_write(const char *dir, const char *file, const char *val);
int rt_cg_read_text(const char *dir, const char *file, char **ret);
int rt_cg_read_u64(const char *dir, const char *file, uint64_t *ret);
int rt_cg_read_key(const char *dir, const char *file, const char *key, uint64_t *ret);
/* A v1 cpuset dir starts with no CPUs and no memory nodes and takes no task until it has
 * both: give it its parent's where it has none (best effort). */
void rt_cg_cpuset_fill(const char *dir);

/* ---- CPU class (cpuclass.c) -------------------------------------------------------------- */

/* What one sandbox's samples decided so far. */
struct rt_cpuclass {
    bool primed, background;
    uint64_t at_usec, usage_usec, throttled; /* the last sample */
    unsigned calm;                           /* calm samples in a row, in the background */
};
/* One sample (monotonic time, CPU used, periods throttled, the limit in millis): +1 when the
 * sandbox goes to the background, -1 when it comes back, 0 when it stays (pure). */
int rt_cpuclass_step(struct rt_cpuclass *c, uint64_t now_usec, uint64_t usage_usec,
                     uint64_t throttled, uint32_t limit_millis);
/* The CPUs a sandbox in the background keeps: parent_cpus (a cpuset list, "0-3,8") without
 * its first `foreground` CPUs, as a list in out.  -ENOENT when that leaves none or takes none
 * (then it is not confined), -EINVAL for a list that is not one (pure). */
int rt_cpuclass_background_cpus(const char *parent_cpus, unsigned foreground, char *out,
                                size_t len);
/* How many processes the memory controller has OOM-killed (oom_kill in memory.events, or in
 * v1 memory.oom_control); -ENOENT without a memory cgroup or counter. */
int rt_cg_oom_kills(const struct rt_cg *cg, uint64_t *ret);

/* ---- seccomp (seccomp.c, seccomp_rules.c) ------------------------------------------------ */

enum rt_sc_cmp {
    RT_SC_ALWAYS = 0, /* no argument filter */
    RT_SC_MASKED_EQ,  /* (arg[argno] & mask) == value */
    RT_SC_GE,         /* arg[argno] >= value (unsigned 64-bit) */
};

struct rt_sc_rule {
    const char *name; /* syscall name as libseccomp spells it */
    int errnum;       /* returned errno (EPERM, or ENOSYS to make libc fall back) */
    enum rt_sc_cmp cmp;
    unsigned argno;
    uint64_t mask, value;
    const char *reason;
};

extern const struct rt_sc_rule rt_seccomp_rules[];
extern const size_t rt_seccomp_rules_n;

/* The compiled filter (built once, shared read-only by every sandbox). */
int rt_seccomp_prog(const struct sock_fprog **ret, struct al_err *err);

/* ---- Landlock (landlock.c) ------------------------------------------------------------- */

int rt_landlock_abi(void); /* 0 when unavailable */
/* Fork-safe (syscalls only): confine the calling process to "/" of its current root.
 * Returns 0 or -errno. */
int rt_landlock_apply(int abi);

/* ---- the process setup (spawn.c) ----------------------------------------------------- */

/* Everything the setup and PID 1 children need, computed before forking. */
struct rt_plan {
    const char *sbdir;
    int nlayers;
    char **layer_src;   /* host layer dirs, lowest first */
    char **layer_dst;   /* "<sbdir>/lower/N" */
    char *overlay_opts; /* relative to sbdir */
    char scratch_opts[128], rw_opts[160], dev_opts[128], shm_opts[160], pts_opts[128];
    char rw[PATH_MAX], upper[PATH_MAX], work[PATH_MAX], lower[PATH_MAX], root[PATH_MAX];
    char rw_dev[32]; /* loop device with the ext4 writable layer; "" = tmpfs (rw_opts) */
    const char *agent_path;
    const char *hostname;
    uid_t uid_base;
    const struct rt_cg *cg;
    int userns_fd;
    int report_fd;      /* child end, SOCK_SEQPACKET */
    int ctl_fd;         /* child end of the agent channel */
    int reattach_fd[2]; /* both ends of PID 1's reattach pair (sandbox.c: rt_sandbox_adopt) */
    int agent_fd;       /* detached tmpfs holding "init" (agentfs.c), -1: bind agent_path */
    const struct sock_fprog *seccomp;
    int landlock_abi;
    unsigned timeout_s; /* each child's SIGALRM: a hung setup must not hang its daemon thread */
    uint64_t nofile;
};

/* PID 1's fds for airlock-init --reattach: a new channel arrives on the first; the second is
 * its peer, which a restarted daemon copies with pidfd_getfd to send one. */
#define RT_REATTACH_FD 4
#define RT_REATTACH_KEEP_FD 5

/* What the children report on the report socket. */
enum rt_report_kind { RT_REPORT_PID = 1, RT_REPORT_FAIL = 2 };
struct rt_report {
    int kind;
    int stage; /* enum rt_stage */
    int err;   /* positive errno */
    int pid;
};

const char *rt_stage_name(int stage);

int rt_plan_init(struct rt_plan *p, const struct rt_spec *spec, const struct rt_cg *cg);
void rt_plan_free(struct rt_plan *p);
/* disk.c: the writable layer as a sparse ext4 image on a loop device.  rt_disk_create makes
 * sbdir/disk.img, attaches it and returns the loop fd (dev gets "/dev/loopN"). */
bool rt_disk_supported(void);
int rt_disk_create(const char *sbdir, uint64_t size, uint64_t inodes, char *dev, size_t dev_len);
/* An owned fd on the detached read-only tmpfs holding a copy of the agent as "init". */
int rt_agent_fd(const char *path);
/* Make a user namespace mapping 0..count-1 to uid_base..; returns an owned fd. */
int rt_userns_make(uid_t uid_base, uint32_t count, struct al_err *err);
/* Run the setup child (which starts PID 1); returns its pidfd once it has exited, with the
 * sandbox built (PID 1 exec'd) or a failure on the report socket. */
int rt_spawn_setup(const struct rt_plan *p, pid_t *ret_pid, struct al_err *err);

/* ---- the agent channel (channel.c) ----------------------------------------------------- */

enum rt_req_kind { RT_REQ_EXEC = 1, RT_REQ_FILE };

struct rt_buf {
    char *data;
    size_t len, cap;
};

struct rt_req {
    struct rt_req *next;
    uint32_t id;
    enum rt_req_kind kind;
    bool done, failed, cancel, cancel_sent, in_callback, too_big;
    int err_code;
    char err_msg[AL_ERR_MSG_MAX];
    pthread_cond_t cond;
    /* exec */
    rt_output_fn out_fn;
    void *out_ud;
    uint64_t max_output;
    struct rt_buf out, err;
    bool out_trunc, err_trunc;
    struct rt_exec_result *res;
    /* file */
    rt_data_fn data_fn;
    void *data_ud;
    uint64_t max_bytes, got;
    void *result; /* json_t * of RESULT */
};

struct rt_sandbox {
    char id[40];
    char *sbdir;
    pid_t pid;
    int pidfd;
    int rw_fd; /* O_PATH fd on the writable tmpfs, for statfs */
    struct rt_cg cg;

    pthread_mutex_t lock;
    pthread_cond_t state_cond;
    struct rt_req *reqs;
    uint32_t next_id;
    int users;
    bool dead, hello, closing;
    int hello_pid;
    uint64_t oom_seen; /* rt_cg_oom_kills() when the last exec completed */
    struct {           /* rt_sandbox_cpu_tick's, one caller at a time */
        struct rt_cpuclass state;
        uint32_t limit_millis;
        bool unsupported; /* no cpu.idle */
        bool background;  /* read by any thread */
    } cpu;

    pthread_mutex_t send_lock;
    int ctl_fd;
    pthread_t reader;
    bool reader_started;

    /* image defaults */
    char *user, *workdir;
    char **env;
};

/* sandbox.c: a bare rt_sandbox (locks and condvar initialised, fds -1, no channel) and its
 * release (memory only: the caller has stopped the channel and closed the fds).  Also how
 * the channel fuzz target builds one around a socketpair. */
struct rt_sandbox *rt_sb_new(void);
void rt_sb_free(struct rt_sandbox *sb);
/* Copy the id, sandbox dir and image defaults (user, workdir, env) of spec into sb. */
int rt_sb_copy_spec(struct rt_sandbox *sb, const struct rt_spec *spec);
/* [a-z0-9]{1,32} */
bool rt_id_valid(const char *id);
/* adopt.c: <sandbox_dir>/init names PID 1 (host pid and start time) for rt_sandbox_adopt. */
int rt_init_record_write(const char *sandbox_dir, pid_t pid);

int rt_chan_start(struct rt_sandbox *sb, struct al_err *err);
int rt_chan_wait_hello(struct rt_sandbox *sb, int timeout_ms, struct al_err *err);
/* Stop the reader and fail every waiter; wait until no call uses sb. */
void rt_chan_stop(struct rt_sandbox *sb);
int rt_chan_send(struct rt_sandbox *sb, uint16_t type, uint16_t flags, uint32_t id,
                 const char *json, size_t json_len, const void *data, size_t data_len);
/* Register a request; fails with AL_ERR_UNAVAILABLE when the channel is gone. */
int rt_req_new(struct rt_sandbox *sb, enum rt_req_kind kind, struct rt_req **ret,
               struct al_err *err);
/* Wait until done (deadline_ms 0 = none).  Returns 0, or an error set in err. */
int rt_req_wait(struct rt_sandbox *sb, struct rt_req *req, long long deadline_ms,
                struct al_err *err);
void rt_req_free(struct rt_sandbox *sb, struct rt_req *req);

/* Encode j and send it as one frame (+ data); errors as AL_ERR_UNAVAILABLE. */
struct json_t;
int rt_send_json(struct rt_sandbox *sb, uint16_t type, uint16_t flags, uint32_t id,
                 struct json_t *j, const void *data, size_t len, struct al_err *err);
/* Parse {"errno":N,"message":".."} into err (hostile input; bounded). */
int rt_agent_error(const char *json, size_t len, const char *what, struct al_err *err);
