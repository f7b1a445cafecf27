/* Landlock for the sandbox's PID 1 (inherited by everything it runs).  The system headers know
 * ABI 1-2 only, so the later rights are defined here.  The ruleset handles every filesystem
 * right the running kernel knows and grants them beneath the sandbox root, except creating
 * device nodes anywhere and device ioctls outside /dev; from ABI 6 it also scopes signals
 * and abstract unix sockets to the sandbox. */
#include <fcntl.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/rt_int.h"

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

#define LL_CREATE_RULESET_VERSION (1u << 0)
#define LL_RULE_PATH_BENEATH 1

#define LL_FS_EXECUTE (1ull << 0)
#define LL_FS_WRITE_FILE (1ull << 1)
#define LL_FS_READ_FILE (1ull << 2)
#define LL_FS_READ_DIR (1ull << 3)
#define LL_FS_REMOVE_DIR (1ull << 4)
#define LL_FS_REMOVE_FILE (1ull << 5)
#define LL_FS_MAKE_CHAR (1ull << 6)
#define LL_FS_MAKE_DIR (1ull << 7)
#define LL_FS_MAKE_REG (1ull << 8)
#define LL_FS_MAKE_SOCK (1ull << 9)
#define LL_FS_MAKE_FIFO (1ull << 10)
#define LL_FS_MAKE_BLOCK (1ull << 11)
#define LL_FS_MAKE_SYM (1ull << 12)
#define LL_FS_REFER (1ull << 13)                  /* ABI 2 */
#define LL_FS_TRUNCATE (1ull << 14)               /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ull << 15)              /* ABI 5 */
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ull << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ull << 1)               /* ABI 6 */

struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net; /* ABI 4 */
    uint64_t scoped;             /* ABI 6 */
};

struct ll_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

int rt_landlock_abi(void)
{
    long r = syscall(__NR_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
    return r < 0 ? 0 : (int)r;
}

static uint64_t fs_rights(int abi)
{
    uint64_t all = (LL_FS_MAKE_SYM << 1) - 1; /* ABI 1 */
    if (abi >= 2)
        all |= LL_FS_REFER;
    if (abi >= 3)
        all |= LL_FS_TRUNCATE;
    if (abi >= 5)
        all |= LL_FS_IOCTL_DEV;
    return all;
}

static int add_beneath(int ruleset, const char *path, uint64_t access)
{
    int fd = open(path, O_PATH | O_CLOEXEC | O_DIRECTORY);
    if (fd < 0)
        return -errno;
    struct ll_path_beneath_attr pb = {.allowed_access = access, .parent_fd = fd};
    long r = syscall(__NR_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &pb, 0);
    int e = errno;
    close(fd);
    return r < 0 ? -e : 0;
}

int rt_landlock_apply(int abi)
{
    if (abi <= 0)
        return 0;
    uint64_t all = fs_rights(abi);
    struct ll_ruleset_attr attr = {.handled_access_fs = all};
    if (abi >= 6)
        attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
    size_t size = abi >= 6 ? sizeof(attr) : abi >= 4 ? 16 : 8;
    int rs = (int)syscall(__NR_landlock_create_ruleset, &attr, size, 0);
    if (rs < 0)
        return -errno;
    uint64_t base = all & ~(LL_FS_MAKE_CHAR | LL_FS_MAKE_BLOCK | LL_FS_IOCTL_DEV);
    int r = add_beneath(rs, "/", base);
    if (r == 0 && abi >= 5)
        r = add_beneath(rs, "/dev", base | LL_FS_IOCTL_DEV);
    if (r == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        r = -errno;
    if (r == 0 && syscall(__NR_landlock_restrict_self, rs, 0) < 0)
        r = -errno;
    close(rs);
    return r;
}
