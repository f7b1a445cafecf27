/* What this host can hold: a group or sandbox may not ask for more memory than the host has,
 * more CPUs than it has, or a disk quota beyond the free space under the state dir.  A limit
 * above the host's would turn an in-sandbox OOM kill into the host-wide OOM killer (which may
 * pick the daemon or another tenant), and a disk quota above the free space into a full host
 * disk. */
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "daemon/daemon.h"

int dm_check_capacity(struct daemon *d, const struct policy_resources *r, struct al_err *err)
{
    struct sysinfo si;
    if (sysinfo(&si) == 0) {
        uint64_t mem_mib = (uint64_t)si.totalram * si.mem_unit >> 20;
        if (r->memory_mib > mem_mib)
            return al_err_set(err, AL_ERR_INVALID, ERANGE,
                              "resources.memoryMiB %llu exceeds this host's memory (%llu MiB)",
                              (unsigned long long)r->memory_mib, (unsigned long long)mem_mib);
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus > 0 && r->cpu_millis > (uint64_t)cpus * 1000)
        return al_err_set(err, AL_ERR_INVALID, ERANGE,
                          "resources.cpu %.2f exceeds this host's %ld CPUs", r->cpu_millis / 1000.0,
                          cpus);
    struct statvfs vfs;
    if (statvfs(d->state_dir, &vfs) == 0) {
        uint64_t free_mib = (uint64_t)vfs.f_bavail * vfs.f_frsize >> 20;
        if (r->disk_mib > free_mib)
            return al_err_set(err, AL_ERR_INVALID, ERANGE,
                              "resources.diskMiB %llu exceeds the free space under the state "
                              "directory (%llu MiB)",
                              (unsigned long long)r->disk_mib, (unsigned long long)free_mib);
    }
    return 0;
}
