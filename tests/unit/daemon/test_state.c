#include "../common/harness.h"

#include <string.h>

#include "common/cleanup.h"
#include "daemon/env.h"
#include "daemon/state.h"

static void test_names_roundtrip(void **state)
{
    for (int s = 0; s < DM_STATE_COUNT; s++) {
        enum dm_state got;
        assert_int_equal(dm_state_parse(dm_state_name((enum dm_state)s), &got), 0);
        assert_int_equal(got, s);
    }
    for (int r = 1; r < DM_REASON_COUNT; r++) {
        enum dm_reason got;
        assert_int_equal(dm_reason_parse(dm_reason_name((enum dm_reason)r), &got), 0);
        assert_int_equal(got, r);
    }
    enum dm_state s;
    assert_int_equal(dm_state_parse("zombie", &s), -EINVAL);
    assert_string_equal(dm_reason_name(DM_REASON_HOST_RESTART), "host_restart");
    assert_string_equal(dm_reason_name(DM_REASON_LIFETIME_EXPIRED), "lifetime_expired");
    assert_string_equal(dm_reason_name(DM_REASON_NONE), "");
}

static void test_allowed(void **state)
{
    static const enum dm_state ok[][2] = {
        {DM_STATE_CREATING, DM_STATE_RUNNING},   {DM_STATE_CREATING, DM_STATE_FAILED},
        {DM_STATE_RUNNING, DM_STATE_DELETING},   {DM_STATE_RUNNING, DM_STATE_FAILED},
        {DM_STATE_RUNNING, DM_STATE_SUSPENDING}, {DM_STATE_SUSPENDING, DM_STATE_SUSPENDED},
        {DM_STATE_SUSPENDED, DM_STATE_RESUMING}, {DM_STATE_RESUMING, DM_STATE_RUNNING},
        {DM_STATE_SUSPENDED, DM_STATE_DELETING}, {DM_STATE_DELETING, DM_STATE_DELETED},
        {DM_STATE_DELETING, DM_STATE_FAILED},    {DM_STATE_FAILED, DM_STATE_DELETING},
    };
    for (size_t i = 0; i < AL_ARRAY_SIZE(ok); i++)
        if (!dm_state_transition_ok(ok[i][0], ok[i][1]))
            fail_msg("%s -> %s refused", dm_state_name(ok[i][0]), dm_state_name(ok[i][1]));
}

static void test_refused(void **state)
{
    static const enum dm_state bad[][2] = {
        {DM_STATE_DELETED, DM_STATE_RUNNING},   {DM_STATE_DELETED, DM_STATE_DELETING},
        {DM_STATE_DELETED, DM_STATE_FAILED},    {DM_STATE_FAILED, DM_STATE_RUNNING},
        {DM_STATE_RUNNING, DM_STATE_CREATING},  {DM_STATE_RUNNING, DM_STATE_DELETED},
        {DM_STATE_CREATING, DM_STATE_DELETED},  {DM_STATE_SUSPENDED, DM_STATE_RUNNING},
        {DM_STATE_DELETING, DM_STATE_RUNNING},  {DM_STATE_RUNNING, DM_STATE_RUNNING},
        {DM_STATE_RESUMING, DM_STATE_DELETING},
    };
    for (size_t i = 0; i < AL_ARRAY_SIZE(bad); i++) {
        struct al_err err = {0};
        if (dm_state_transition_ok(bad[i][0], bad[i][1]))
            fail_msg("%s -> %s allowed", dm_state_name(bad[i][0]), dm_state_name(bad[i][1]));
        assert_int_equal(dm_state_transition(bad[i][0], bad[i][1], &err), -EBUSY);
        assert_int_equal(err.kind, AL_ERR_CONFLICT);
        assert_non_null(strstr(err.msg, dm_state_name(bad[i][0])));
    }
    assert_false(dm_state_transition_ok((enum dm_state)99, DM_STATE_RUNNING));
    assert_false(dm_state_transition_ok(DM_STATE_RUNNING, (enum dm_state) - 1));
    /* deleted is the only state with no way out */
    for (int to = 0; to < DM_STATE_COUNT; to++)
        assert_false(dm_state_transition_ok(DM_STATE_DELETED, (enum dm_state)to));
    assert_true(dm_state_terminal(DM_STATE_DELETED));
    assert_true(dm_state_terminal(DM_STATE_FAILED));
    assert_false(dm_state_terminal(DM_STATE_RUNNING));
}

static void test_env_merge(void **state)
{
    char *base[] = {"A=1", "B=2", "PATH=/bin", NULL};
    char *over[] = {"B=3", "C=4", "A=", NULL};
    cleanup_strv char **m = dm_env_merge(base, over);
    assert_non_null(m);
    assert_string_equal(m[0], "A=");
    assert_string_equal(m[1], "B=3");
    assert_string_equal(m[2], "PATH=/bin");
    assert_string_equal(m[3], "C=4");
    assert_null(m[4]);
    /* a name that is a prefix of another is a different variable */
    char *b2[] = {"AB=1", NULL};
    char *o2[] = {"A=2", NULL};
    cleanup_strv char **m2 = dm_env_merge(b2, o2);
    assert_string_equal(m2[0], "AB=1");
    assert_string_equal(m2[1], "A=2");
    cleanup_strv char **m3 = dm_env_merge(NULL, NULL);
    assert_non_null(m3);
    assert_null(m3[0]);
}

static void test_env_record(void **state)
{
    (void)state;
    char *env[] = {"A=1", "B=x y", "C=", NULL};
    cleanup_free char *j = dm_env_encode(env);
    assert_non_null(j);
    assert_string_equal(j, "[\"A=1\",\"B=x y\",\"C=\"]");
    struct al_err err;
    cleanup_strv char **back = NULL;
    assert_int_equal(dm_env_decode(j, &back, &err), 0);
    assert_string_equal(back[0], "A=1");
    assert_string_equal(back[1], "B=x y");
    assert_string_equal(back[2], "C=");
    assert_null(back[3]);
    cleanup_free char *none = dm_env_encode(NULL);
    assert_string_equal(none, "[]");
    cleanup_strv char **empty = NULL;
    assert_int_equal(dm_env_decode("[]", &empty, &err), 0);
    assert_null(empty[0]);
    char **bad = NULL;
    assert_true(dm_env_decode("{}", &bad, &err) < 0);
    assert_true(dm_env_decode("[\"NOEQUALS\"]", &bad, &err) < 0);
    assert_true(dm_env_decode("[1]", &bad, &err) < 0);
    assert_true(dm_env_decode("[", &bad, &err) < 0);
    assert_null(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_roundtrip), cmocka_unit_test(test_allowed),
        cmocka_unit_test(test_refused),         cmocka_unit_test(test_env_merge),
        cmocka_unit_test(test_env_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
