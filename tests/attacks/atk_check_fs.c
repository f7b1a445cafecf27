/* escape_check, files: host-global /proc and /sys knobs (core_pattern, sysrq-trigger,
 * uevent_helper, cgroup release_agent), kernel memory and log devices, kernel addresses,
 * mountinfo (host block devices, host paths, pseudo filesystems of the host), device nodes,
 * the pid namespace (kernel threads, the identity of PID 1), and files that only a host or a
 * kubernetes node has.  Writability is tested by open(O_WRONLY) alone: nothing is written. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "atk_check.h"
#include "attack.h"

/* Finding when path opens with flags; detail names what that would allow. */
static void open_probe(struct chk_ctx *c, const char *path, int flags, const char *why)
{
    int e = chk_try_open(path, flags);
    if (e == 0)
        chk_finding(c, "%s opened (%s): %s", path, (flags & O_ACCMODE) ? "write" : "read", why);
}

static void c_core_pattern(struct chk_ctx *c)
{
    const char *p = "/proc/sys/kernel/core_pattern";
    open_probe(c, p, O_WRONLY, "a core_pattern pipe runs a program as host root");
    char v[256];
    if (atk_read_file(p, v, sizeof(v)) > 0)
        chk_info(c, "core_pattern readable: %.*s", (int)strcspn(v, "\n"), v);
}

static void c_proc_sys_writable(struct chk_ctx *c)
{
    static const char *const knobs[] = {
        "/proc/sys/kernel/modprobe",       "/proc/sys/kernel/poweroff_cmd",
        "/proc/sys/kernel/hotplug",        "/proc/sys/kernel/sysrq",
        "/proc/sys/kernel/panic",          "/proc/sys/kernel/kptr_restrict",
        "/proc/sys/kernel/dmesg_restrict", "/proc/sys/kernel/yama/ptrace_scope",
        "/proc/sys/vm/drop_caches",        "/proc/sys/fs/binfmt_misc/register",
        "/proc/sys/fs/suid_dumpable",      NULL,
    };
    for (const char *const *k = knobs; *k; k++)
        open_probe(c, *k, O_WRONLY, "a host-wide kernel setting");
}

static void c_sysrq_trigger(struct chk_ctx *c)
{
    open_probe(c, "/proc/sysrq-trigger", O_WRONLY, "one byte crashes or reboots the host");
}

static void c_uevent_helper(struct chk_ctx *c)
{
    open_probe(c, "/sys/kernel/uevent_helper", O_WRONLY, "the kernel runs it as host root");
    if (access("/sys/kernel", F_OK) == 0)
        chk_info(c, "/sys/kernel exists (host sysfs?)");
}

/* cgroup v1 release_agent: the kernel runs it as host root when a cgroup empties. */
static void release_agent_in(struct chk_ctx *c, const char *dir)
{
    char p[600];
    snprintf(p, sizeof(p), "%s/release_agent", dir);
    open_probe(c, p, O_WRONLY, "cgroup v1 release_agent escape");
    snprintf(p, sizeof(p), "%s/notify_on_release", dir);
    open_probe(c, p, O_WRONLY, "arms a release_agent");
}

static char mountinfo[1 << 18];

static long read_mountinfo(struct chk_ctx *c)
{
    long n = atk_read_file("/proc/self/mountinfo", mountinfo, sizeof(mountinfo));
    if (n < 0)
        chk_error(c, "read /proc/self/mountinfo: %s", chk_errname((int)-n));
    return n;
}

struct mnt {
    unsigned major, minor;
    char root[512], point[512], opts[256], fstype[64], source[256], super[1024];
};

static bool parse_mnt(const char *line, struct mnt *m)
{
    const char *sep = strstr(line, " - ");
    return sep &&
           sscanf(line, "%*d %*d %u:%u %511s %511s %255s", &m->major, &m->minor, m->root, m->point,
                  m->opts) == 5 &&
           sscanf(sep + 3, "%63s %255s %1023s", m->fstype, m->source, m->super) >= 2;
}

static void c_cgroup_release_agent(struct chk_ctx *c)
{
    if (read_mountinfo(c) < 0)
        return;
    for (char *line = strtok(mountinfo, "\n"); line; line = strtok(NULL, "\n")) {
        struct mnt m = {0};
        if (parse_mnt(line, &m) && strcmp(m.fstype, "cgroup") == 0)
            release_agent_in(c, m.point);
    }
}

static void c_kcore(struct chk_ctx *c)
{
    open_probe(c, "/proc/kcore", O_RDONLY, "kernel memory");
}

static void c_dev_mem(struct chk_ctx *c)
{
    open_probe(c, "/dev/mem", O_RDONLY, "physical memory");
    open_probe(c, "/dev/kmem", O_RDONLY, "kernel memory");
    open_probe(c, "/dev/port", O_RDONLY, "I/O ports");
}

static void c_kmsg(struct chk_ctx *c)
{
    open_probe(c, "/dev/kmsg", O_RDONLY, "the host's kernel log");
}

static void c_kallsyms(struct chk_ctx *c)
{
    static char buf[1 << 16];
    long n = atk_read_file("/proc/kallsyms", buf, sizeof(buf));
    if (n < 0)
        return;
    int lines = 0, nonzero = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        lines++;
        nonzero += strtoull(line, NULL, 16) != 0;
    }
    if (nonzero)
        chk_finding(c, "/proc/kallsyms: %d of %d symbols with real addresses (KASLR defeated)",
                    nonzero, lines);
    else
        chk_info(c, "/proc/kallsyms readable, addresses zeroed");
}

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

/* Filesystems that live on a disk of the host: one mounted with a root other than "/" is a
 * bind mount of a host directory. */
static const char *const disk_fs[] = {
    "ext2",  "ext3", "ext4",  "xfs",  "btrfs",    "zfs",      "f2fs",    "vfat",
    "exfat", "ntfs", "ntfs3", "jfs",  "reiserfs", "squashfs", "iso9660", "erofs",
    "nfs",   "nfs4", "cifs",  "smb3", "9p",       "virtiofs", "fuseblk", NULL,
};

/* Pseudo filesystems that are the host's own view of the kernel (or of other processes). */
static const char *const host_pseudo_fs[] = {
    "sysfs", "cgroup",     "cgroup2", "debugfs",   "tracefs",  "securityfs",  "configfs",
    "bpf",   "fusectl",    "pstore",  "efivarfs",  "devtmpfs", "binfmt_misc", "autofs",
    "nsfs",  "rpc_pipefs", "nfsd",    "hugetlbfs", NULL,
};

/* Words of host paths: in a mount point, or in the root of a bind mount. */
static const char *const runtime_words[] = {
    "docker", "containerd", "kubelet", "kubernetes", "crio", "podman", "/var/run/secrets", NULL,
};
static const char *const host_dir_words[] = {
    "/var/", "/etc/", "/root", "/home", "/run/", "/srv", "/opt", "/work", "/tmp/", NULL,
};

static bool has_word(const char *s, const char *const *words)
{
    for (; *words; words++)
        if (strstr(s, *words))
            return true;
    return false;
}

static void check_mnt(struct chk_ctx *c, const struct mnt *m)
{
    if (strncmp(m->source, "/dev/", 5) == 0 && !in_list(m->fstype, host_pseudo_fs))
        chk_finding(c, "host block device %s (%s) mounted at %s", m->source, m->fstype, m->point);
    else if (m->major != 0)
        chk_finding(c, "disk-backed mount %u:%u (%s %s) at %s", m->major, m->minor, m->fstype,
                    m->source, m->point);
    if (in_list(m->fstype, disk_fs) && strcmp(m->root, "/") != 0)
        chk_finding(c, "bind mount of host path %s (%s) at %s", m->root, m->fstype, m->point);
    if (in_list(m->fstype, host_pseudo_fs))
        chk_finding(c, "%s mounted at %s (%s)", m->fstype, m->point, m->opts);
    if (strcmp(m->fstype, "proc") == 0 && strcmp(m->point, "/proc") != 0)
        chk_finding(c, "a second procfs at %s", m->point);
    if (strcmp(m->fstype, "proc") == 0 && !strstr(m->super, "hidepid") &&
        !strstr(m->super, "subset"))
        chk_info(c, "procfs at %s without hidepid/subset", m->point);
    bool bind = strcmp(m->root, "/") != 0;
    if (has_word(m->point, runtime_words) ||
        (bind && (has_word(m->root, runtime_words) || has_word(m->root, host_dir_words))))
        chk_finding(c, "host-looking path in a mount: root %s at %s (%s)", m->root, m->point,
                    m->fstype);
    /* e.g. overlay lowerdir=/var/lib/...: absolute host paths in the superblock options */
    for (const char *o = m->super; (o = strchr(o, '=')); o++)
        if (o[1] == '/') {
            chk_finding(c, "host path in %s options at %s: %.*s", m->fstype, m->point,
                        (int)strcspn(o + 1, ","), o + 1);
            break;
        }
}

static void c_mountinfo(struct chk_ctx *c)
{
    if (read_mountinfo(c) < 0)
        return;
    int n = 0;
    for (char *line = strtok(mountinfo, "\n"); line; line = strtok(NULL, "\n")) {
        struct mnt m = {0};
        if (!parse_mnt(line, &m)) {
            chk_error(c, "unparsed mountinfo line: %.200s", line);
            continue;
        }
        n++;
        check_mnt(c, &m);
    }
    chk_info(c, "%d mounts", n);
}

/* What /dev may hold (DESIGN.md section 6): null zero full random urandom tty, devpts. */
static bool allowed_chr(unsigned ma, unsigned mi)
{
    if (ma == 1)
        return mi == 3 || mi == 5 || mi == 7 || mi == 8 || mi == 9;
    if (ma == 5)
        return mi == 0 || mi == 2; /* tty, ptmx */
    return ma >= 136 && ma <= 143; /* pts */
}

static void dev_visit(struct chk_ctx *c, const char *path, const struct stat *st)
{
    unsigned ma = major(st->st_rdev), mi = minor(st->st_rdev);
    if (S_ISBLK(st->st_mode))
        chk_finding(c, "block device %s (%u:%u)", path, ma, mi);
    else if (S_ISCHR(st->st_mode) && !allowed_chr(ma, mi))
        chk_finding(c, "character device %s (%u:%u)", path, ma, mi);
}

static void c_dev_nodes(struct chk_ctx *c)
{
    long budget = 20000;
    if (!chk_walk(c, "/dev", 4, &budget, dev_visit))
        chk_info(c, "walk of /dev stopped after 20000 entries");
}

static void c_dev_fuse(struct chk_ctx *c)
{
    open_probe(c, "/dev/fuse", O_RDWR, "FUSE mounts");
}

static void c_dev_kvm(struct chk_ctx *c)
{
    open_probe(c, "/dev/kvm", O_RDWR, "the host's hypervisor");
}

/* The namespace link of a process ("pid:[4026531836]"), or "" where it cannot be read. */
static void ns_link(const char *pid, const char *ns, char *out, size_t size)
{
    char p[300];
    snprintf(p, sizeof(p), "/proc/%s/ns/%s", pid, ns);
    ssize_t n = readlink(p, out, size - 1);
    out[n > 0 ? n : 0] = '\0';
}

/* Kernel threads exist only in the initial pid namespace: seeing one means the host's.  A
 * process in another pid or user namespace than ours is not the sandbox's either. */
static void c_host_pid(struct chk_ctx *c)
{
    DIR *d = opendir("/proc");
    if (!d) {
        chk_error(c, "opendir /proc: %s", chk_errname(errno));
        return;
    }
    char my_pid[64], my_user[64];
    ns_link("self", "pid", my_pid, sizeof(my_pid));
    ns_link("self", "user", my_user, sizeof(my_user));
    int procs = 0, kthreads = 0, foreign = 0;
    char first[64] = "";
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        procs++;
        char p[300], buf[1024], pns[64], uns[64];
        snprintf(p, sizeof(p), "/proc/%s/stat", de->d_name);
        if (atk_read_file(p, buf, sizeof(buf)) <= 0)
            continue;
        char *l = strchr(buf, '('), *r = strrchr(buf, ')');
        unsigned flags = 0;
        if (!l || !r || sscanf(r + 2, "%*c %*d %*d %*d %*d %*d %u", &flags) != 1)
            continue;
        int clen = (int)(r - l + 1 < 40 ? r - l + 1 : 40);
        if (flags & 0x00200000 && !kthreads++) /* PF_KTHREAD */
            snprintf(first, sizeof(first), "pid %.12s %.*s", de->d_name, clen, l);
        ns_link(de->d_name, "pid", pns, sizeof(pns));
        ns_link(de->d_name, "user", uns, sizeof(uns));
        if ((pns[0] && strcmp(pns, my_pid) != 0) || (uns[0] && strcmp(uns, my_user) != 0))
            if (foreign++ < 5)
                chk_finding(c, "pid %s %.*s is in another namespace (%s %s)", de->d_name, clen, l,
                            pns, uns);
    }
    closedir(d);
    if (kthreads)
        chk_finding(c, "%d kernel threads visible (first: %s): the host's pid namespace", kthreads,
                    first);
    if (foreign > 5)
        chk_finding(c, "%d processes in other namespaces in all", foreign);
    chk_info(c, "%d processes visible", procs);
}

/* PID 1 must be the agent (comm "init" from /.airlock/init, argv[0] "airlock-init") or
 * invisible (hidepid). */
static void c_pid1_identity(struct chk_ctx *c)
{
    char comm[64], cmd[256];
    long n = atk_read_file("/proc/1/comm", comm, sizeof(comm));
    if (n < 0) {
        chk_info(c, "PID 1 not visible (%s)", chk_errname((int)-n));
        return;
    }
    comm[strcspn(comm, "\n")] = '\0';
    if (strcmp(comm, "init") != 0)
        chk_finding(c, "PID 1 is %s, not airlock-init", comm);
    n = atk_read_file("/proc/1/cmdline", cmd, sizeof(cmd));
    if (n > 0 && strcmp(cmd, "airlock-init") != 0)
        chk_finding(c, "PID 1 argv[0] is %s, not airlock-init", cmd);
}

static void exists_probe(struct chk_ctx *c, const char *const *paths, const char *why)
{
    struct stat st;
    for (; *paths; paths++)
        if (lstat(*paths, &st) == 0)
            chk_finding(c, "%s exists: %s", *paths, why);
}

static void c_sensitive_paths(struct chk_ctx *c)
{
    static const char *const paths[] = {
        "/var/lib/docker",
        "/var/lib/containerd",
        "/var/lib/kubelet",
        "/etc/kubernetes",
        "/var/log/pods",
        "/var/log/containers",
        "/root/.kube/config",
        "/root/.docker/config.json",
        "/etc/rancher/k3s/k3s.yaml",
        "/var/lib/rancher",
        "/run/secrets",
        "/var/lib/airlock",
        "/var/lib/cloud",
        "/etc/airlock",
        NULL,
    };
    exists_probe(c, paths, "a host or node directory");
}

static void c_k8s_token(struct chk_ctx *c)
{
    static const char *const paths[] = {
        "/var/run/secrets/kubernetes.io/serviceaccount/token",
        "/run/secrets/kubernetes.io/serviceaccount/token",
        "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
        "/var/run/secrets/azure/tokens/azure-identity-token",
        "/var/run/secrets/tokens",
        NULL,
    };
    exists_probe(c, paths, "a kubernetes/cloud workload token");
}

const struct chk chk_fs_table[] = {
    {"core_pattern", "CDK,deepce,linPEAS,botb", c_core_pattern},
    {"proc_sys_writable", "CDK,linPEAS", c_proc_sys_writable},
    {"sysrq_trigger", "CDK,linPEAS", c_sysrq_trigger},
    {"uevent_helper", "CDK,deepce,linPEAS", c_uevent_helper},
    {"cgroup_release_agent", "CDK,deepce,linPEAS,botb", c_cgroup_release_agent},
    {"kcore", "linPEAS,CDK", c_kcore},
    {"dev_mem", "linPEAS", c_dev_mem},
    {"kmsg", "linPEAS", c_kmsg},
    {"kallsyms", "linPEAS,CDK", c_kallsyms},
    {"mountinfo", "deepce,CDK,linPEAS,amicontained", c_mountinfo},
    {"dev_nodes", "deepce,CDK,linPEAS", c_dev_nodes},
    {"dev_fuse", "linPEAS", c_dev_fuse},
    {"dev_kvm", "linPEAS", c_dev_kvm},
    {"host_pid", "amicontained,CDK,deepce,botb", c_host_pid},
    {"pid1_identity", "amicontained,deepce,linPEAS", c_pid1_identity},
    {"sensitive_paths", "deepce,linPEAS,CDK", c_sensitive_paths},
    {"k8s_token", "CDK,deepce,linPEAS,botb", c_k8s_token},
    {NULL, NULL, NULL},
};
