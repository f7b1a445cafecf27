/* escape_check: a container-escape checker built into the attack program (atk_check*.c).
 *
 * The well-known checkers (amicontained, deepce, CDK's `evaluate`, linPEAS's container
 * section, botb) are not packaged in Debian or npm, so this one performs the checks they
 * perform, from inside a sandbox, and prints one line per observation:
 *
 *   PLAN <n> <id> <id> ...            first: every check it is about to run
 *   FINDING <id> <detail>             a weakness: an escape route or a leak (tests fail on any)
 *   INFO <id> <detail>                context only (kernel version, LSM, container markers)
 *   ERROR <id> <detail>               the check could not run (fork failed, ...): not a pass
 *   CHECK <id> ok|finding|error <src> once per check, after its other lines; <src> names the
 *                                     tools (comma-separated) whose check it mirrors
 *
 * and last the usual attack JSON line (ok == true when anything was found).  Exit status 0
 * with no findings, 1 with findings, 3 when only errors.  Details are printable ASCII (other
 * bytes as \xNN) and never contain environment values or file contents that may be secret.
 *
 * Every probe is safe to run on the host as root (the positive control): mounts are tried
 * with an option tmpfs rejects or on a detached fs context; module, kexec, reboot and swap
 * calls get arguments the kernel rejects right after its permission check (so EINVAL,
 * ENOEXEC, EBADF, ENOENT or EFAULT mean "allowed"); sensitive files are opened and closed
 * without a byte written; ptrace uses PTRACE_SEIZE from a child that exits (PID 1 is never
 * stopped); namespace calls run in children that exit at once; chroot("/"), sethostname of
 * the current name and a mknod in /tmp (removed at once) change nothing; and no packet is
 * sent from a network namespace that has a route out unless --connect is given (route
 * look-ups use a UDP connect, which sends nothing).
 */
#pragma once

#include <stdbool.h>

struct chk_ctx {
    const char *id; /* the running check */
    int findings;   /* of the running check */
    int unshown;    /* findings past CHK_MAX_LINES, counted but not printed */
    int errors;
    bool connect; /* --connect: dial TCP even where a route exists (inside a sandbox only) */
};

/* FINDING lines printed per check: a host has hundreds of device nodes */
#define CHK_MAX_LINES 25

struct chk {
    const char *id;
    const char *source; /* the tools whose check lists this one mirrors */
    void (*fn)(struct chk_ctx *c);
};

__attribute__((format(printf, 2, 3))) void chk_finding(struct chk_ctx *c, const char *fmt, ...);
__attribute__((format(printf, 2, 3))) void chk_info(struct chk_ctx *c, const char *fmt, ...);
__attribute__((format(printf, 2, 3))) void chk_error(struct chk_ctx *c, const char *fmt, ...);

/* Runs fn(arg) in a forked child (10 s alarm) and returns what it returned: 0 when the probed
 * call succeeded, else its errno; CHK_KILLED + signal when the child was killed (a seccomp
 * kill is a refusal); -1 when no child could be made (reported as an error of c). */
#define CHK_KILLED 512
int chk_in_child(struct chk_ctx *c, int (*fn)(const void *arg), const void *arg);

/* 0 when path opens with flags (it is closed again at once), else errno. */
int chk_try_open(const char *path, int flags);
/* Name of an errno ("EPERM"), or "0". */
const char *chk_errname(int e);
/* True for the errnos of a refusal: EPERM, EACCES, ENOSYS, or a killed child. */
bool chk_refused(int e);

/* Calls visit(c, path, st) for each entry below root (lstat: symlinks are not followed),
 * depth first, at most maxdepth levels down and *budget entries in all; /proc and /sys are
 * not entered.  Returns false when the budget ran out. */
struct stat;
bool chk_walk(struct chk_ctx *c, const char *root, int maxdepth, long *budget,
              void (*visit)(struct chk_ctx *c, const char *path, const struct stat *st));

extern const struct chk chk_proc_table[];
extern const struct chk chk_sys_table[];
extern const struct chk chk_fs_table[];
extern const struct chk chk_net_table[];
