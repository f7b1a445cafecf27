/* airlockd internals shared by main, the sandbox manager and the request handlers. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "api/api.h"
#include "common/err.h"
#include "daemon/env.h"
#include "daemon/state.h"
#include "image/img.h"
#include "policy/policy.h"
#include "runtime/rt.h"
#include "store/store.h"

#define DM_UID_BASE 100000000u /* 1e8: slot 0's range; slot n at DM_UID_BASE + n * 65536 */
#define DM_UID_COUNT 65536u
#define DM_ID_LEN 33

/* A live sandbox the manager holds (creating, running, deleting). */
/* airlockd's scheduling priority (sandboxes run at 0) */
#define DM_NICE (-10)

struct dm_sandbox {
    char id[DM_ID_LEN];
    char tenant[64];
    char group[64];
    enum dm_state state;
    struct rt_sandbox *rt;
    int refs;           /* requests using rt right now */
    bool sampling;      /* the reaper reads its CPU use (cpu_tick in manager.c) */
    int64_t expires_at; /* unix seconds, 0 = never */
    char **env;         /* default exec env: group env, then the create request's env */
    struct dm_sandbox *next;
};

struct daemon {
    char *state_dir;
    char *sandboxes_dir;
    char *tmp_dir;
    char *agent_path; /* NULL when not found */
    struct store *store;
    struct img_store *images; /* NULL when the image store could not open */
    char images_error[AL_ERR_MSG_MAX];
    unsigned pull_stall_timeout_s; /* --pull-stall-timeout */
    bool cpu_background;           /* not --no-cpu-background: dm_reaper_tick samples CPU */
    bool rt_ok;
    char rt_error[AL_ERR_MSG_MAX];
    struct api_server *api;

    pthread_mutex_t mu; /* guards the sandbox list and every dm_sandbox's state/refs */
    pthread_cond_t cv;
    struct dm_sandbox *sandboxes;
    bool stopping;
    int jobs;                   /* background threads (streamed execs and pulls), under mu */
    pthread_mutex_t builtin_mu; /* serialises built-in image imports */
    pthread_t reaper;
    bool reaper_started;
};

/* ---- sandbox manager (manager.c) ---- */
/* Refuse resources beyond what this host has (capacity.c). */
int dm_check_capacity(struct daemon *d, const struct policy_resources *r, struct al_err *err);
int dm_sandbox_create(struct daemon *d, const char *tenant, const char *group,
                      const struct policy_sandbox_create *req, json_t **ret, struct al_err *err);
/* A running sandbox for a request: takes a reference (dm_sandbox_release). 404 for unknown
 * or another tenant's, 409 when not running. */
int dm_sandbox_acquire(struct daemon *d, const char *tenant, const char *group, const char *id,
                       struct dm_sandbox **ret, struct al_err *err);
void dm_sandbox_release(struct daemon *d, struct dm_sandbox *sb);
int dm_sandbox_delete(struct daemon *d, const char *tenant, const char *group, const char *id,
                      enum dm_reason reason, struct al_err *err);
/* Every sandbox of the group, then the group. */
int dm_group_delete(struct daemon *d, const char *tenant, const char *group, struct al_err *err);
/* Startup: re-adopt the sandboxes a previous airlockd left running (dm_sandbox_adopt); clean
 * up what else it left, and mark those sandboxes failed/host_restart. */
int dm_recover(struct daemon *d, struct al_err *err);
/* Take over one sandbox of a previous airlockd whose row says running: its PID 1 is proven
 * to be the one that airlockd started (rt_sandbox_adopt) and gets a new channel.  On failure
 * nothing changed; the caller cleans the sandbox up. */
int dm_sandbox_adopt(struct daemon *d, const struct store_sandbox *row, struct al_err *err);
/* Clean shutdown: destroy every live sandbox, mark it deleted/host_restart. */
void dm_shutdown(struct daemon *d);
/* Lifetime expiry and orphan reaping. */
int dm_reaper_start(struct daemon *d, struct al_err *err);
void dm_reaper_stop(struct daemon *d);
/* One pass of the reaper thread (every second): a sandbox whose agent is gone becomes
 * failed, then sandboxes past their lifetime are deleted. */
int dm_reaper_tick(struct daemon *d);
/* Sandbox JSON object from its store row. */
json_t *dm_sandbox_json(const struct store_sandbox *s);
/* "2026-01-01T00:00:00Z" */
void dm_rfc3339(int64_t t, char out[32]);
/* Count live sandboxes per state (for metrics). */
void dm_sandbox_counts(struct daemon *d, unsigned counts[DM_STATE_COUNT]);

/* Background job accounting: start before pthread_create (undo with dm_job_end on failure),
 * end as the thread's last act.  dm_jobs_wait waits up to timeout_ms for all to end. */
void dm_job_start(struct daemon *d);
void dm_job_end(struct daemon *d);
bool dm_jobs_wait(struct daemon *d, long long timeout_ms);

/* ---- images (images.c) ---- */
/* Name -> image: the tenant's, else built-in (imported on first use). */
/* Shared hold on the image store against its GC (images.c): from an image's resolution
 * until a row references it.  dm_image_resolve's callers hold it. */
void dm_images_hold(void);
void dm_images_release(void);
int dm_image_resolve(struct daemon *d, const char *tenant, const char *name, struct img_info *ret,
                     struct al_err *err);

/* ---- handlers ---- */
/* {group} and {id} of a request path: 400 for a malformed group name, 404 for a malformed
 * id. */
int dm_check_path(struct api_request *req, bool with_id, struct al_err *err);
extern const struct api_route dm_routes[];
extern const size_t dm_n_routes;
int dm_auth(void *ud, const char *key, struct api_principal *ret, struct al_err *err);

int dm_h_health(void *ud, struct api_request *req, struct api_response *resp, struct al_err *err);
int dm_h_metrics(void *ud, struct api_request *req, struct api_response *resp, struct al_err *err);
int dm_h_key_create(void *ud, struct api_request *req, struct api_response *resp,
                    struct al_err *err);
int dm_h_key_list(void *ud, struct api_request *req, struct api_response *resp, struct al_err *err);
int dm_h_key_delete(void *ud, struct api_request *req, struct api_response *resp,
                    struct al_err *err);
int dm_h_group_put(void *ud, struct api_request *req, struct api_response *resp,
                   struct al_err *err);
int dm_h_group_get(void *ud, struct api_request *req, struct api_response *resp,
                   struct al_err *err);
int dm_h_group_list(void *ud, struct api_request *req, struct api_response *resp,
                    struct al_err *err);
int dm_h_group_delete(void *ud, struct api_request *req, struct api_response *resp,
                      struct al_err *err);
int dm_h_sandbox_create(void *ud, struct api_request *req, struct api_response *resp,
                        struct al_err *err);
int dm_h_sandbox_list(void *ud, struct api_request *req, struct api_response *resp,
                      struct al_err *err);
int dm_h_sandbox_get(void *ud, struct api_request *req, struct api_response *resp,
                     struct al_err *err);
int dm_h_sandbox_delete(void *ud, struct api_request *req, struct api_response *resp,
                        struct al_err *err);
int dm_h_sandbox_stats(void *ud, struct api_request *req, struct api_response *resp,
                       struct al_err *err);
int dm_h_exec(void *ud, struct api_request *req, struct api_response *resp, struct al_err *err);
int dm_h_file_put(void *ud, struct api_request *req, struct api_response *resp, struct al_err *err);
int dm_h_file_get(void *ud, struct api_request *req, struct api_response *resp, struct al_err *err);
int dm_h_file_delete(void *ud, struct api_request *req, struct api_response *resp,
                     struct al_err *err);
int dm_h_file_list(void *ud, struct api_request *req, struct api_response *resp,
                   struct al_err *err);
int dm_h_file_stat(void *ud, struct api_request *req, struct api_response *resp,
                   struct al_err *err);
int dm_h_file_mkdir(void *ud, struct api_request *req, struct api_response *resp,
                    struct al_err *err);
int dm_h_image_pull(void *ud, struct api_request *req, struct api_response *resp,
                    struct al_err *err);
int dm_h_image_import(void *ud, struct api_request *req, struct api_response *resp,
                      struct al_err *err);
int dm_h_image_list(void *ud, struct api_request *req, struct api_response *resp,
                    struct al_err *err);
int dm_h_image_delete(void *ud, struct api_request *req, struct api_response *resp,
                      struct al_err *err);
