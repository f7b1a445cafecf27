/* The sandbox state machine (DESIGN §2):
 *
 *   creating -> running -> deleting -> deleted
 *   running <-> suspending -> suspended -> resuming -> running
 *   any live state -> failed (typed reason) -> deleting
 *
 * Every state change in the daemon goes through dm_state_transition(). */
#include <string.h>

#include "common/cleanup.h"
#include "daemon/state.h"

static const char *const state_names[DM_STATE_COUNT] = {
    "creating", "running", "suspending", "suspended", "resuming", "deleting", "deleted", "failed",
};

static const char *const reason_names[DM_REASON_COUNT] = {
    "", "deleted", "lifetime_expired", "oom_killed", "error", "host_restart",
};

#define BIT(s) (1u << (s))

/* allowed[from] = set of states `from` may move to */
static const unsigned allowed[DM_STATE_COUNT] = {
    [DM_STATE_CREATING] = BIT(DM_STATE_RUNNING) | BIT(DM_STATE_FAILED) | BIT(DM_STATE_DELETING),
    [DM_STATE_RUNNING] = BIT(DM_STATE_SUSPENDING) | BIT(DM_STATE_DELETING) | BIT(DM_STATE_FAILED),
    [DM_STATE_SUSPENDING] = BIT(DM_STATE_SUSPENDED) | BIT(DM_STATE_RUNNING) | BIT(DM_STATE_FAILED),
    [DM_STATE_SUSPENDED] = BIT(DM_STATE_RESUMING) | BIT(DM_STATE_DELETING) | BIT(DM_STATE_FAILED),
    [DM_STATE_RESUMING] = BIT(DM_STATE_RUNNING) | BIT(DM_STATE_FAILED),
    [DM_STATE_DELETING] = BIT(DM_STATE_DELETED) | BIT(DM_STATE_FAILED),
    [DM_STATE_DELETED] = 0,
    [DM_STATE_FAILED] = BIT(DM_STATE_DELETING),
};

const char *dm_state_name(enum dm_state s)
{
    return (unsigned)s < DM_STATE_COUNT ? state_names[s] : "unknown";
}

int dm_state_parse(const char *s, enum dm_state *ret)
{
    for (unsigned i = 0; i < DM_STATE_COUNT; i++)
        if (strcmp(s, state_names[i]) == 0) {
            *ret = (enum dm_state)i;
            return 0;
        }
    return -EINVAL;
}

const char *dm_reason_name(enum dm_reason r)
{
    return (unsigned)r < DM_REASON_COUNT ? reason_names[r] : "error";
}

int dm_reason_parse(const char *s, enum dm_reason *ret)
{
    for (unsigned i = 0; i < DM_REASON_COUNT; i++)
        if (strcmp(s, reason_names[i]) == 0) {
            *ret = (enum dm_reason)i;
            return 0;
        }
    return -EINVAL;
}

bool dm_state_terminal(enum dm_state s)
{
    return s == DM_STATE_DELETED || s == DM_STATE_FAILED;
}

bool dm_state_transition_ok(enum dm_state from, enum dm_state to)
{
    if ((unsigned)from >= DM_STATE_COUNT || (unsigned)to >= DM_STATE_COUNT)
        return false;
    return (allowed[from] & BIT(to)) != 0;
}

int dm_state_transition(enum dm_state from, enum dm_state to, struct al_err *err)
{
    if (dm_state_transition_ok(from, to))
        return 0;
    return al_err_set(err, AL_ERR_CONFLICT, EBUSY, "sandbox is %s, cannot become %s",
                      dm_state_name(from), dm_state_name(to));
}
