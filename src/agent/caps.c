/* Capability dropping for user code, with raw syscalls (no libcap in a static binary).
 *
 * Order in the child: bounding set and ambient set cleared and securebits locked while we
 * still hold CAP_SETPCAP, then setgroups/setresgid/setresuid, then capset() to zero.  With
 * SECBIT_NOROOT locked, a uid 0 process does not regain capabilities on execve, and with
 * SECBIT_NO_SETUID_FIXUP the setuid transitions do not change them: capset() does. */
#include <errno.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/agent.h"

static int cap_get(struct __user_cap_data_struct data[2])
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    return syscall(SYS_capget, &hdr, data) < 0 ? -errno : 0;
}

bool agent_caps_any_effective(void)
{
    struct __user_cap_data_struct d[2] = {0};
    if (cap_get(d) < 0)
        return false;
    return d[0].effective || d[1].effective;
}

int agent_caps_drop_bounding(void)
{
    for (int c = 0; c < 64; c++)
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
            return errno == EINVAL ? 0 : -errno; /* EINVAL: past CAP_LAST_CAP */
    return 0;
}

int agent_caps_prepare_drop(bool privileged, bool bounding_dropped)
{
    /* the agent normally empties its own bounding set once at start (children inherit it);
     * else each child does (41 prctl calls, each a new set of credentials) */
    int rc = bounding_dropped ? 0 : agent_caps_drop_bounding();
    if (rc < 0 && privileged)
        return rc; /* unprivileged (test mode): nothing to drop, nothing to regain */
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return -errno;
    unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                         SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                         SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
    if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0 && privileged)
        return -errno;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -errno;
    return 0;
}

int agent_caps_clear(void)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2] = {0};
    if (syscall(SYS_capset, &hdr, d) < 0)
        return -errno;
    /* verify: nothing left anywhere */
    if (cap_get(d) < 0)
        return -errno;
    if (d[0].effective || d[1].effective || d[0].permitted || d[1].permitted || d[0].inheritable ||
        d[1].inheritable)
        return -EPERM;
    return 0;
}
