/* Compile the seccomp table (seccomp_rules.c) once with libseccomp: the BPF is exported into a
 * memfd, read back, and kept for the life of the daemon; every sandbox's PID 1 installs that
 * same program with seccomp(SECCOMP_SET_MODE_FILTER) just before exec. */
#include <pthread.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "runtime/rt_int.h"

static struct sock_fprog prog;
static int prog_rc;
static char prog_msg[160];
static pthread_once_t prog_once = PTHREAD_ONCE_INIT;

static int build(void)
{
    /* Non-native architectures (i386 through int 0x80, x32) hit the bad-arch action. */
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        return -ENOMEM;
    int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(EPERM));
    if (r == 0)
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0); /* PID 1 sets no_new_privs itself */
    for (size_t i = 0; r == 0 && i < rt_seccomp_rules_n; i++) {
        const struct rt_sc_rule *e = &rt_seccomp_rules[i];
        int nr = seccomp_syscall_resolve_name(e->name);
        if (nr == __NR_SCMP_ERROR) {
            snprintf(prog_msg, sizeof(prog_msg), "seccomp: unknown syscall %s", e->name);
            r = -EINVAL;
            break;
        }
        if (nr < 0)
            continue; /* not a syscall on this architecture */
        if (e->cmp == RT_SC_ALWAYS)
            r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO((uint32_t)e->errnum), nr, 0);
        else if (e->cmp == RT_SC_GE)
            r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO((uint32_t)e->errnum), nr, 1,
                                 SCMP_CMP(e->argno, SCMP_CMP_GE, e->value));
        else
            r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO((uint32_t)e->errnum), nr, 1,
                                 SCMP_CMP(e->argno, SCMP_CMP_MASKED_EQ, e->mask, e->value));
        if (r < 0)
            snprintf(prog_msg, sizeof(prog_msg), "seccomp: rule for %s", e->name);
    }
    cleanup_close int fd = -1;
    if (r == 0) {
        fd = memfd_create("airlock-seccomp", MFD_CLOEXEC);
        r = fd < 0 ? -errno : seccomp_export_bpf(ctx, fd);
    }
    seccomp_release(ctx);
    if (r < 0)
        return r;
    off_t size = lseek(fd, 0, SEEK_END);
    if (size <= 0 || size % sizeof(struct sock_filter) || size > 65536 * 8)
        return -EINVAL;
    struct sock_filter *f = malloc((size_t)size);
    if (!f)
        return -ENOMEM;
    if (pread(fd, f, (size_t)size, 0) != size) {
        free(f);
        return -EIO;
    }
    prog.filter = f;
    prog.len = (unsigned short)(size / sizeof(struct sock_filter));
    return 0;
}

static void build_once(void)
{
    prog_rc = build();
}

int rt_seccomp_prog(const struct sock_fprog **ret, struct al_err *err)
{
    pthread_once(&prog_once, build_once);
    if (prog_rc < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, -prog_rc, "%s",
                          prog_msg[0] ? prog_msg : "seccomp: build filter");
    *ret = &prog;
    return 0;
}
