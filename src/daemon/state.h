/* Sandbox state machine: the states and typed reasons of the API, and the one function that
 * decides which transitions are allowed. */
#pragma once

#include <stdbool.h>

#include "common/err.h"

enum dm_state {
    DM_STATE_CREATING = 0,
    DM_STATE_RUNNING,
    DM_STATE_SUSPENDING,
    DM_STATE_SUSPENDED,
    DM_STATE_RESUMING,
    DM_STATE_DELETING,
    DM_STATE_DELETED,
    DM_STATE_FAILED,
    DM_STATE_COUNT,
};

enum dm_reason {
    DM_REASON_NONE = 0,
    DM_REASON_DELETED,
    DM_REASON_LIFETIME_EXPIRED,
    DM_REASON_OOM_KILLED,
    DM_REASON_ERROR,
    DM_REASON_HOST_RESTART,
    DM_REASON_COUNT,
};

const char *dm_state_name(enum dm_state s);
int dm_state_parse(const char *s, enum dm_state *ret);
const char *dm_reason_name(enum dm_reason r); /* "" for NONE */
int dm_reason_parse(const char *s, enum dm_reason *ret);
bool dm_state_terminal(enum dm_state s);
bool dm_state_transition_ok(enum dm_state from, enum dm_state to);
/* 0, or AL_ERR_CONFLICT naming both states. */
int dm_state_transition(enum dm_state from, enum dm_state to, struct al_err *err);
