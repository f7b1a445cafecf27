/* Environment merging (pure; unit-tested). */
#pragma once

/* base then over; a later "K=..." replaces an earlier one of the same name, keeping its
 * position.  NULL-terminated copy (caller frees with al_strv_free); NULL on ENOMEM. */
char **dm_env_merge(char *const *base, char *const *over);
