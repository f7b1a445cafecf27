/* FILE requests: read, write, list, stat, mkdir, remove inside the agent's root.
 *
 * Every path is resolved relative to a->root_fd with openat2(RESOLVE_IN_ROOT |
 * RESOLVE_NO_MAGICLINKS) (common/path.h): symlinks, "..", and /proc magic links cannot
 * leave the root.  The final component is handled with *at() calls on its parent
 * directory, never followed where that would write through a symlink.  Each request runs
 * as the default user's fsuid/fsgid/groups, so files belong to the image user.
 *
 * Reads are jobs: one FILE_DATA chunk (flag MORE) per loop turn while the output queue has
 * room, then RESULT {"ok":true,"size":N}.  Writes gather FILE_DATA frames (the last one
 * without MORE) into a temp file in the same directory that is renamed over the target
 * (append writes go to the target directly), then RESULT {"ok":true,"size":N}. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/requests.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/path.h"

#define PATH_MAX_LEN AGENT_PATH_MAX
#define LIST_MAX_ENTRIES 10000
#define LIST_MAX_JSON (900u << 10)

struct agent_fjob {
    struct agent_fjob *next;
    uint32_t id;
    bool is_write;
    int fd;
    uint64_t done;  /* bytes read or written */
    uint64_t limit; /* read: maxBytes (0 = none) */
    /* truncating write: temp file in dir_fd, renamed to name */
    int dir_fd;
    bool use_tmp;
    mode_t mode;
    char name[256];
    char tmp[64];
};

static int openat_cloexec(int dfd, const char *name, int flags, mode_t mode)
{
    return openat(dfd, name, flags | O_CLOEXEC, mode);
}

/* ---- identity ---- */

struct fs_ident {
    bool set;
    uid_t uid;
    gid_t gid;
};

static void fs_enter(struct agent *a, struct fs_ident *save)
{
    struct agent_user u;
    struct al_err err;
    save->set = false;
    if (agent_resolve_user(a, a->user_spec, &u, &err) < 0)
        return; /* the agent's own identity: a broken passwd must not lock file ops out */
    save->set = true;
    save->uid = geteuid();
    save->gid = getegid();
    if (a->privileged)
        setgroups(u.ngroups, u.groups);
    setfsgid(u.gid);
    setfsuid(u.uid);
}

static void fs_leave(struct agent *a, const struct fs_ident *save)
{
    if (!save->set)
        return;
    setfsuid(save->uid);
    setfsgid(save->gid);
    if (a->privileged)
        setgroups(a->ngroups, a->groups);
}

/* ---- replies ---- */

static void result_error(struct agent *a, uint32_t id, int code, const char *what, const char *path)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "%s %.256s: %s", what, path, strerror(code));
    agent_send_json(
        a, AL_MSG_RESULT, id,
        json_pack("{s:{s:i,s:o}}", "error", "errno", code, "message", agent_json_text(msg)));
}

static void result_msg(struct agent *a, uint32_t id, int code, const char *msg)
{
    agent_send_json(
        a, AL_MSG_RESULT, id,
        json_pack("{s:{s:i,s:o}}", "error", "errno", code, "message", agent_json_text(msg)));
}

static void result_ok_size(struct agent *a, uint32_t id, uint64_t size)
{
    agent_send_json(a, AL_MSG_RESULT, id,
                    json_pack("{s:b,s:I}", "ok", 1, "size", (json_int_t)size));
}

static const char *type_name(mode_t m)
{
    if (S_ISREG(m))
        return "file";
    if (S_ISDIR(m))
        return "dir";
    if (S_ISLNK(m))
        return "symlink";
    return "other";
}

/* "/", "", ".", "/./" and the like: every component is empty, "." or ".." */
static bool is_root_path(const char *p)
{
    while (*p) {
        const char *e = strchrnul(p, '/');
        size_t n = (size_t)(e - p);
        if (n > 2 || (n >= 1 && p[0] != '.') || (n == 2 && p[1] != '.'))
            return false;
        p = *e ? e + 1 : e;
    }
    return true;
}

/* ---- jobs ---- */

static struct agent_fjob *job_find(struct agent *a, uint32_t id)
{
    for (struct agent_fjob *j = a->fjobs; j; j = j->next)
        if (j->id == id)
            return j;
    return NULL;
}

static void job_free(struct agent *a, struct agent_fjob *job, bool unlink_tmp)
{
    for (struct agent_fjob **pp = &a->fjobs; *pp; pp = &(*pp)->next)
        if (*pp == job) {
            *pp = job->next;
            a->nfjobs--;
            break;
        }
    if (job->fd >= 0)
        close(job->fd);
    if (unlink_tmp && job->use_tmp && job->dir_fd >= 0)
        unlinkat(job->dir_fd, job->tmp, 0);
    if (job->dir_fd >= 0)
        close(job->dir_fd);
    free(job);
}

static struct agent_fjob *job_new(struct agent *a, uint32_t id)
{
    if (a->nfjobs >= AGENT_MAX_FILE_JOBS)
        return NULL;
    struct agent_fjob *job = calloc(1, sizeof(*job));
    if (!job)
        return NULL;
    job->id = id;
    job->fd = job->dir_fd = -1;
    job->next = a->fjobs;
    a->fjobs = job;
    a->nfjobs++;
    return job;
}

bool agent_file_pending(const struct agent *a)
{
    for (const struct agent_fjob *j = a->fjobs; j; j = j->next)
        if (!j->is_write)
            return true;
    return false;
}

void agent_file_progress(struct agent *a)
{
    static uint8_t buf[AGENT_FILE_CHUNK];
    for (struct agent_fjob *j = a->fjobs, *next; j; j = next) {
        next = j->next;
        if (j->is_write || agent_outq_full(a))
            continue;
        ssize_t n = read(j->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            result_error(a, j->id, errno, "read", "");
            job_free(a, j, false);
        } else if (n == 0) {
            result_ok_size(a, j->id, j->done);
            job_free(a, j, false);
        } else if (j->limit && j->done + (uint64_t)n > j->limit) {
            result_msg(a, j->id, EFBIG, "read: file larger than maxBytes");
            job_free(a, j, false);
        } else {
            agent_send(a, AL_MSG_FILE_DATA, AL_FRAME_MORE, j->id, NULL, 0, buf, (size_t)n);
            j->done += (uint64_t)n;
        }
    }
}

void agent_file_abort_all(struct agent *a)
{
    while (a->fjobs)
        job_free(a, a->fjobs, true);
}

/* ---- ops ---- */

static void op_read(struct agent *a, uint32_t id, const char *path, uint64_t limit)
{
    cleanup_close int fd =
        al_open_in_root(a->root_fd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0, false);
    if (fd < 0)
        return result_error(a, id, -fd, "read", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return result_error(a, id, errno, "read", path);
    if (!S_ISREG(st.st_mode))
        return result_error(a, id, S_ISDIR(st.st_mode) ? EISDIR : EINVAL, "read", path);
    if (limit && (uint64_t)st.st_size > limit)
        return result_msg(a, id, EFBIG, "read: file larger than maxBytes");
    al_fd_nonblock(fd, false);
    struct agent_fjob *job = job_new(a, id);
    if (!job)
        return result_msg(a, id, EAGAIN, "read: too many file operations in flight");
    job->fd = TAKE_FD(fd);
    job->limit = limit;
}

static int write_chunk(struct agent_fjob *job, const void *data, size_t len)
{
    int rc = al_write_all(job->fd, data, len);
    if (rc < 0)
        return rc;
    job->done += len;
    return 0;
}

static void write_finish(struct agent *a, struct agent_fjob *job)
{
    uint32_t id = job->id;
    if (job->use_tmp) {
        if (fchmod(job->fd, job->mode) < 0 ||
            renameat(job->dir_fd, job->tmp, job->dir_fd, job->name) < 0) {
            result_error(a, id, errno, "write", job->name);
            job_free(a, job, true);
            return;
        }
        job->use_tmp = false;
    }
    if (close(job->fd) < 0) {
        job->fd = -1;
        result_error(a, id, errno, "write", job->name);
        job_free(a, job, true);
        return;
    }
    job->fd = -1;
    result_ok_size(a, id, job->done);
    job_free(a, job, false);
}

static void op_write(struct agent *a, const struct al_frame *f, const char *path, mode_t mode,
                     bool append)
{
    char name[256];
    cleanup_close int dfd = al_open_parent_in_root(a->root_fd, path, name, sizeof(name));
    if (dfd < 0)
        return result_error(a, f->id, -dfd, "write", path);
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISLNK(st.st_mode))
            return result_msg(a, f->id, ELOOP, "write: refusing to write through a symlink");
        if (S_ISDIR(st.st_mode))
            return result_error(a, f->id, EISDIR, "write", path);
        if (!S_ISREG(st.st_mode))
            return result_msg(a, f->id, EINVAL, "write: not a regular file");
    } else if (errno != ENOENT)
        return result_error(a, f->id, errno, "write", path);

    struct agent_fjob *job = job_new(a, f->id);
    if (!job)
        return result_msg(a, f->id, EAGAIN, "write: too many file operations in flight");
    job->is_write = true;
    job->mode = mode;
    memcpy(job->name, name, sizeof(name));
    if (append) {
        int fl = O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
        job->fd = openat_cloexec(dfd, name, fl, mode);
        if (job->fd >= 0 && (fstat(job->fd, &st) < 0 || !S_ISREG(st.st_mode))) {
            close(job->fd);
            job->fd = -1;
            errno = EINVAL;
        }
        if (job->fd >= 0)
            al_fd_nonblock(job->fd, false);
    } else {
        uint64_t rnd[2] = {0};
        for (int tries = 0; tries < 8; tries++) {
            if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) < 0)
                rnd[0] = (uint64_t)al_now_us() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)tries;
            snprintf(job->tmp, sizeof(job->tmp), ".airlock-tmp.%016llx%016llx",
                     (unsigned long long)rnd[0], (unsigned long long)rnd[1]);
            job->fd = openat_cloexec(
                dfd, job->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC,
                0600);
            if (job->fd >= 0 || errno != EEXIST)
                break;
        }
        job->use_tmp = job->fd >= 0;
    }
    if (job->fd < 0) {
        int e = errno;
        job_free(a, job, false);
        return result_error(a, f->id, e, "write", path);
    }
    job->dir_fd = TAKE_FD(dfd);
    int rc = write_chunk(job, f->data, f->data_len);
    if (rc < 0) {
        job_free(a, job, true);
        return result_error(a, f->id, -rc, "write", path);
    }
    if (!(f->flags & AL_FRAME_MORE))
        write_finish(a, job);
}

void agent_file_data(struct agent *a, const struct al_frame *f)
{
    struct agent_fjob *job = job_find(a, f->id);
    if (!job || !job->is_write)
        return; /* a write that already failed (its RESULT went out), or garbage */
    int rc = write_chunk(job, f->data, f->data_len);
    if (rc < 0) {
        uint32_t id = job->id;
        job_free(a, job, true);
        return result_error(a, id, -rc, "write", "");
    }
    if (!(f->flags & AL_FRAME_MORE)) {
        struct fs_ident save;
        fs_enter(a, &save);
        write_finish(a, job);
        fs_leave(a, &save);
    }
}

/* Bytes jansson needs for a string (without JSON_ENSURE_ASCII). */
static size_t json_str_cost(const char *s)
{
    size_t n = 2;
    for (; *s; s++)
        n += (*s == '"' || *s == '\\') ? 2 : (unsigned char)*s < 0x20 ? 6 : 1;
    return n;
}

static json_t *stat_json(const char *name, const struct stat *st)
{
    json_t *name_j = name ? json_string(name) : NULL;
    if (name && !name_j)
        return NULL; /* not UTF-8 */
    json_t *o = json_pack("{s:s,s:I,s:i,s:I}", "type", type_name(st->st_mode), "size",
                          (json_int_t)st->st_size, "mode", (int)(st->st_mode & 07777), "mtime",
                          (json_int_t)st->st_mtim.tv_sec);
    if (o && name_j)
        json_object_set_new(o, "name", name_j);
    else if (name_j)
        json_decref(name_j);
    return o;
}

static void op_list(struct agent *a, uint32_t id, const char *path)
{
    int fd = al_open_in_root(a->root_fd, path, O_RDONLY | O_DIRECTORY, 0, false);
    if (fd < 0)
        return result_error(a, id, -fd, "list", path);
    cleanup_closedir DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return result_error(a, id, e, "list", path);
    }
    cleanup_json json_t *entries = json_array();
    if (!entries)
        return result_msg(a, id, ENOMEM, "list: out of memory");
    size_t cost = 0, skipped = 0;
    bool truncated = false;
    struct dirent *de;
    while ((errno = 0, de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        size_t c = json_str_cost(de->d_name) + 96;
        if (json_array_size(entries) >= LIST_MAX_ENTRIES || cost + c > LIST_MAX_JSON) {
            truncated = true;
            break;
        }
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue; /* raced with a removal */
        json_t *e = stat_json(de->d_name, &st);
        if (!e) {
            skipped++;
            continue;
        }
        json_array_append_new(entries, e);
        cost += c;
    }
    if (errno)
        return result_error(a, id, errno, "list", path);
    json_t *r = json_pack("{s:b,s:O,s:b}", "ok", 1, "entries", entries, "truncated", truncated);
    if (r && skipped)
        json_object_set_new(r, "skipped", json_integer((json_int_t)skipped));
    agent_send_json(a, AL_MSG_RESULT, id, r);
}

static void op_stat(struct agent *a, uint32_t id, const char *path)
{
    struct stat st;
    char name[256];
    cleanup_close int dfd = -1;
    if (is_root_path(path)) {
        if (fstat(a->root_fd, &st) < 0)
            return result_error(a, id, errno, "stat", path);
        memcpy(name, "/", 2);
    } else {
        dfd = al_open_parent_in_root(a->root_fd, path, name, sizeof(name));
        if (dfd < 0)
            return result_error(a, id, -dfd, "stat", path);
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return result_error(a, id, errno, "stat", path);
    }
    json_t *o = stat_json(NULL, &st);
    if (!o)
        return result_msg(a, id, ENOMEM, "stat: out of memory");
    json_object_set_new(o, "ok", json_true());
    json_object_set_new(o, "uid", json_integer(st.st_uid));
    json_object_set_new(o, "gid", json_integer(st.st_gid));
    json_t *nj = json_string(name);
    if (nj)
        json_object_set_new(o, "name", nj);
    if (S_ISLNK(st.st_mode) && dfd >= 0) {
        char target[PATH_MAX_LEN];
        ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);
        if (n >= 0) {
            target[n] = '\0';
            json_t *tj = json_string(target);
            if (tj)
                json_object_set_new(o, "target", tj);
        }
    }
    agent_send_json(a, AL_MSG_RESULT, id, o);
}

static int mkdir_one(struct agent *a, const char *path, mode_t mode, bool exist_ok)
{
    char name[256];
    cleanup_close int dfd = al_open_parent_in_root(a->root_fd, path, name, sizeof(name));
    if (dfd < 0)
        return dfd;
    if (mkdirat(dfd, name, mode) == 0)
        return 0;
    if (errno != EEXIST || !exist_ok)
        return -errno;
    struct stat st;
    /* an existing directory, or a symlink to one inside the root */
    cleanup_close int fd = al_open_in_root(a->root_fd, path, O_PATH | O_DIRECTORY, 0, false);
    if (fd < 0 || fstat(fd, &st) < 0)
        return -ENOTDIR;
    return 0;
}

static void op_mkdir(struct agent *a, uint32_t id, const char *path, mode_t mode, bool parents)
{
    int rc;
    if (!parents) {
        rc = mkdir_one(a, path, mode, false);
    } else {
        char buf[PATH_MAX_LEN + 1];
        size_t len = strlen(path);
        memcpy(buf, path, len + 1);
        rc = 0;
        for (size_t i = 1; i <= len && rc == 0; i++) {
            if (buf[i] != '/' && buf[i] != '\0')
                continue;
            char saved = buf[i];
            buf[i] = '\0';
            /* the component that ends here */
            const char *slash = strrchr(buf, '/');
            const char *comp = slash ? slash + 1 : buf;
            if (strcmp(comp, "..") == 0)
                rc = -EINVAL;
            else if (*comp && strcmp(comp, ".") != 0)
                rc = mkdir_one(a, buf, mode, true);
            buf[i] = saved;
        }
    }
    if (rc < 0)
        return result_error(a, id, -rc, "mkdir", path);
    agent_send_json(a, AL_MSG_RESULT, id, json_pack("{s:b}", "ok", 1));
}

/* A directory on another mount than its parent (st_dev, or the mount id where statx has
 * it: bind mounts of the same filesystem share st_dev). */
static bool is_mount_point(int dfd, const char *name, const struct stat *st)
{
    struct stat pst;
    if (fstat(dfd, &pst) < 0 || pst.st_dev != st->st_dev)
        return true;
    struct statx a, b;
    if (statx(dfd, "", AT_EMPTY_PATH, STATX_MNT_ID, &a) == 0 &&
        statx(dfd, name, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &b) == 0 &&
        (a.stx_mask & b.stx_mask & STATX_MNT_ID))
        return a.stx_mnt_id != b.stx_mnt_id;
    return false;
}

static void op_remove(struct agent *a, uint32_t id, const char *path, bool recursive)
{
    char name[256];
    cleanup_close int dfd = al_open_parent_in_root(a->root_fd, path, name, sizeof(name));
    if (dfd < 0)
        return result_error(a, id, -dfd, "remove", path);
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return result_error(a, id, errno, "remove", path);
    if (S_ISDIR(st.st_mode) && is_mount_point(dfd, name, &st))
        return result_msg(a, id, EBUSY, "remove: refusing to remove a mount point");
    int rc = 0;
    if (!S_ISDIR(st.st_mode))
        rc = unlinkat(dfd, name, 0) < 0 ? -errno : 0;
    else if (!recursive)
        rc = unlinkat(dfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
    else
        rc = al_rm_rf_at(dfd, name);
    if (rc < 0)
        return result_error(a, id, -rc, "remove", path);
    agent_send_json(a, AL_MSG_RESULT, id, json_pack("{s:b}", "ok", 1));
}

void agent_file_request(struct agent *a, const struct al_frame *f)
{
    struct al_err err = {0};
    cleanup_json json_t *j = al_json_parse(f->json, f->json_len, 4, &err);
    struct agent_file_req r;
    if (!j || agent_file_req_decode(j, &r, &err) < 0)
        return result_msg(a, f->id, EINVAL, err.msg);
    if (job_find(a, f->id))
        return result_msg(a, f->id, EEXIST, "FILE: request id in use");
    if (agent_file_opts_decode(j, &r, &err) < 0)
        return result_msg(a, f->id, EINVAL, err.msg);

    struct fs_ident save;
    fs_enter(a, &save);
    switch (r.op) {
    case AGENT_FILE_READ:
        op_read(a, f->id, r.path, r.max_bytes);
        break;
    case AGENT_FILE_WRITE:
        op_write(a, f, r.path, r.mode, r.append);
        break;
    case AGENT_FILE_LIST:
        op_list(a, f->id, r.path);
        break;
    case AGENT_FILE_STAT:
        op_stat(a, f->id, r.path);
        break;
    case AGENT_FILE_MKDIR:
        op_mkdir(a, f->id, r.path, r.mode, r.parents);
        break;
    case AGENT_FILE_REMOVE:
        op_remove(a, f->id, r.path, r.recursive);
        break;
    default:
        result_msg(a, f->id, EINVAL, "FILE: unknown op");
        break;
    }
    fs_leave(a, &save);
}
