/* escape_check, this process: capability sets, seccomp, no_new_privs, LSM, user-namespace
 * mappings, cgroup namespace, inherited descriptors, the runtime binary, container markers
 * and the kernel version.  Sources are named per check in the table at the end. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "atk_check.h"
#include "attack.h"

/* Copies the value of a "Key:" line of /proc/self/status (leading blanks skipped). */
static bool status_field(const char *key, char *out, size_t size)
{
    char buf[8192];
    if (atk_read_file("/proc/self/status", buf, sizeof(buf)) < 0)
        return false;
    size_t klen = strlen(key);
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, key, klen) != 0)
            continue;
        char *v = line + klen;
        v += strspn(v, " \t");
        snprintf(out, size, "%s", v);
        return true;
    }
    return false;
}

static const char *const cap_names[] = {
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
};
#define NCAPS (sizeof(cap_names) / sizeof(cap_names[0]))

/* Each alone is a published route out of a container (the ones amicontained and CDK flag). */
static const char *const escape_caps[] = {
    "sys_admin",    "sys_module", "sys_ptrace",   "dac_read_search",
    "dac_override", "sys_rawio",  "net_admin",    "bpf",
    "perfmon",      "sys_boot",   "syslog",       "mknod",
    "setfcap",      "mac_admin",  "mac_override", NULL,
};

static bool escape_cap(const char *n)
{
    for (const char *const *p = escape_caps; *p; p++)
        if (strcmp(*p, n) == 0)
            return true;
    return false;
}

/* Any capability at all in any set of user code is a finding (DESIGN.md section 6). */
static void cap_set(struct chk_ctx *c, const char *key)
{
    char v[64];
    if (!status_field(key, v, sizeof(v))) {
        chk_error(c, "no %s line in /proc/self/status", key);
        return;
    }
    unsigned long long mask = strtoull(v, NULL, 16);
    if (!mask)
        return;
    char names[1024] = "", bad[512] = "";
    for (unsigned i = 0; i < 64; i++) {
        if (!(mask & (1ULL << i)))
            continue;
        if (i < NCAPS) {
            atk_append(names, sizeof(names), " %s", cap_names[i]);
            if (escape_cap(cap_names[i]))
                atk_append(bad, sizeof(bad), " cap_%s", cap_names[i]);
        } else {
            atk_append(names, sizeof(names), " cap_%u", i);
        }
    }
    chk_finding(c, "%s %s:%s%s%s", key, v, names, bad[0] ? "; escape-grade:" : "", bad);
}

static void c_cap_eff(struct chk_ctx *c)
{
    cap_set(c, "CapEff:");
}

static void c_cap_prm(struct chk_ctx *c)
{
    cap_set(c, "CapPrm:");
}

static void c_cap_inh(struct chk_ctx *c)
{
    cap_set(c, "CapInh:");
}

static void c_cap_bnd(struct chk_ctx *c)
{
    cap_set(c, "CapBnd:");
}

static void c_cap_amb(struct chk_ctx *c)
{
    cap_set(c, "CapAmb:");
}

static void c_seccomp(struct chk_ctx *c)
{
    char mode[32] = "", filters[32] = "?";
    if (!status_field("Seccomp:", mode, sizeof(mode))) {
        chk_error(c, "no Seccomp line in /proc/self/status");
        return;
    }
    status_field("Seccomp_filters:", filters, sizeof(filters));
    if (strcmp(mode, "2") != 0)
        chk_finding(c, "Seccomp mode %s (want 2, filtered): every syscall is reachable", mode);
    else
        chk_info(c, "mode 2 (filtered), %s filter(s)", filters);
}

static void c_no_new_privs(struct chk_ctx *c)
{
    int r = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
    if (r < 0)
        chk_error(c, "prctl(PR_GET_NO_NEW_PRIVS): %s", chk_errname(errno));
    else if (r != 1)
        chk_finding(c, "no_new_privs is %d: setuid and file-capability binaries raise privilege",
                    r);
}

/* Informational: the namespace backend relies on seccomp and Landlock, not on an LSM. */
static void c_lsm(struct chk_ctx *c)
{
    static const char *const files[] = {"/proc/self/attr/apparmor/current",
                                        "/proc/self/attr/current", NULL};
    for (const char *const *f = files; *f; f++) {
        char v[256];
        long n = atk_read_file(*f, v, sizeof(v));
        if (n > 0) {
            v[strcspn(v, "\n")] = '\0';
            chk_info(c, "%s: %s", *f, v);
            return;
        }
    }
    chk_info(c, "no AppArmor/SELinux label readable");
}

/* A user namespace whose map contains host uid 0 is the host's (or maps host root in). */
static void id_map(struct chk_ctx *c, const char *path)
{
    char buf[4096];
    long n = atk_read_file(path, buf, sizeof(buf));
    if (n < 0) {
        chk_error(c, "read %s: %s", path, chk_errname((int)-n));
        return;
    }
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        unsigned long in, out, len;
        if (sscanf(line, "%lu %lu %lu", &in, &out, &len) != 3)
            continue;
        if (out == 0)
            chk_finding(c, "%s maps host id 0 (%lu %lu %lu)%s", path, in, out, len,
                        len == 4294967295UL ? ": the initial user namespace" : "");
        else
            chk_info(c, "%s %lu %lu %lu", path, in, out, len);
    }
}

static void c_userns_map(struct chk_ctx *c)
{
    id_map(c, "/proc/self/uid_map");
    id_map(c, "/proc/self/gid_map");
}

/* Without a cgroup namespace /proc/self/cgroup names the host's cgroup tree. */
static void c_cgroup_ns(struct chk_ctx *c)
{
    char buf[4096];
    long n = atk_read_file("/proc/self/cgroup", buf, sizeof(buf));
    if (n < 0) {
        chk_error(c, "read /proc/self/cgroup: %s", chk_errname((int)-n));
        return;
    }
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        char *path = strrchr(line, ':');
        if (path && strcmp(path + 1, "/") != 0)
            chk_finding(c, "cgroup path %s: no cgroup namespace, host cgroup names visible", line);
    }
}

/* Descriptors user code did not open itself: a leaked directory or socket of the host is
 * the runc CVE-2024-21626 ("leaky vessels") class of escape. */
static void c_inherited_fds(struct chk_ctx *c)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        chk_error(c, "opendir /proc/self/fd: %s", chk_errname(errno));
        return;
    }
    int self = dirfd(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        int fd = (int)strtol(de->d_name, NULL, 10);
        if (fd == self)
            continue;
        char link[64], target[256] = "?";
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        ssize_t tl = readlink(link, target, sizeof(target) - 1);
        if (tl >= 0)
            target[tl] = '\0';
        struct stat st;
        bool dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
        if (fd > 2 || dir)
            chk_finding(c, "inherited fd %d -> %s%s", fd, target, dir ? " (a directory)" : "");
    }
    closedir(d);
}

/* runc CVE-2019-5736: overwrite the runtime binary through /proc/PID/exe. */
static void c_runtime_binary(struct chk_ctx *c)
{
    static const char *const paths[] = {"/.airlock/init", "/proc/1/exe", NULL};
    for (const char *const *p = paths; *p; p++) {
        int e = chk_try_open(*p, O_WRONLY);
        if (e == 0)
            chk_finding(c, "%s opened for writing", *p);
    }
}

static void c_container_markers(struct chk_ctx *c)
{
    static const char *const files[] = {"/.dockerenv", "/run/.containerenv",
                                        "/run/systemd/container", NULL};
    for (const char *const *f = files; *f; f++)
        if (access(*f, F_OK) == 0)
            chk_info(c, "%s exists", *f);
    const char *v = getenv("container");
    if (v)
        chk_info(c, "container=%s in the environment", v);
}

static void c_kernel_version(struct chk_ctx *c)
{
    struct utsname u;
    if (uname(&u) == 0)
        chk_info(c, "%s %s %s %s", u.sysname, u.release, u.version, u.machine);
    char m[64];
    long n = atk_read_file("/proc/sys/kernel/modules_disabled", m, sizeof(m));
    if (n > 0)
        chk_info(c, "modules_disabled=%.*s", (int)strcspn(m, "\n"), m);
}

const struct chk chk_proc_table[] = {
    {"cap_effective", "amicontained,CDK,deepce,linPEAS", c_cap_eff},
    {"cap_permitted", "amicontained,CDK,linPEAS", c_cap_prm},
    {"cap_inheritable", "amicontained,linPEAS", c_cap_inh},
    {"cap_bounding", "amicontained,CDK,linPEAS", c_cap_bnd},
    {"cap_ambient", "amicontained,linPEAS", c_cap_amb},
    {"seccomp", "amicontained,deepce,linPEAS", c_seccomp},
    {"no_new_privs", "linPEAS,CDK", c_no_new_privs},
    {"lsm", "amicontained,deepce,linPEAS", c_lsm},
    {"userns_map", "amicontained,deepce", c_userns_map},
    {"cgroup_ns", "amicontained,deepce,CDK", c_cgroup_ns},
    {"inherited_fds", "CDK,leaky-vessels", c_inherited_fds},
    {"runtime_binary", "CDK(runc-pwn),linPEAS", c_runtime_binary},
    {"container_markers", "amicontained,deepce,linPEAS,botb", c_container_markers},
    {"kernel_version", "CDK,linPEAS", c_kernel_version},
    {NULL, NULL, NULL},
};
