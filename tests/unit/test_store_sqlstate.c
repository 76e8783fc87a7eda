/* SQLSTATE → domain error mapping of the store (src/store/pg_pool.c): which backend failures are
 * conflicts, which are outages, and which connections must be thrown away. */
#include "unit.h"

#include "../../src/store/pg_internal.h"

static void test_unique_violation_is_exists(void)
{
    int discard = -1;
    CHECK_INT_EQ(spk_pg_sqlstate_errcode("23505", &discard), SPK_E_EXISTS);
    CHECK_INT_EQ(discard, 0);
}

static void test_other_integrity_errors_are_internal(void)
{
    int discard = -1;
    CHECK_INT_EQ(spk_pg_sqlstate_errcode("23503", &discard), SPK_E_INTERNAL);
    CHECK_INT_EQ(discard, 0);
    CHECK_INT_EQ(spk_pg_sqlstate_errcode("42601", &discard), SPK_E_INTERNAL);
    CHECK_INT_EQ(spk_pg_sqlstate_errcode("XX000", &discard), SPK_E_INTERNAL);
}

static void test_lost_connection_discards(void)
{
    static const char *const states[] = {"08000", "08003", "08006", "57P01",
                                         "57P02", "57P03", "53300", "25006"};
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        int discard = 0;
        CHECK_INT_EQ(spk_pg_sqlstate_errcode(states[i], &discard), SPK_E_UNAVAILABLE);
        CHECK_INT_EQ(discard, 1);
    }
}

static void test_libpq_errors_discard(void)
{
    int discard = 0;
    CHECK_INT_EQ(spk_pg_sqlstate_errcode(NULL, &discard), SPK_E_UNAVAILABLE);
    CHECK_INT_EQ(discard, 1);
    discard = 0;
    CHECK_INT_EQ(spk_pg_sqlstate_errcode("", &discard), SPK_E_UNAVAILABLE);
    CHECK_INT_EQ(discard, 1);
}

static void test_transient_errors_keep_connection(void)
{
    static const char *const states[] = {"40001", "40P01", "57014", "55P03", "53200"};
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        int discard = 1;
        CHECK_INT_EQ(spk_pg_sqlstate_errcode(states[i], &discard), SPK_E_UNAVAILABLE);
        CHECK_INT_EQ(discard, 0);
    }
}

static void test_bad_values_are_invalid(void)
{
    int discard = 1;
    CHECK_INT_EQ(spk_pg_sqlstate_errcode("22021", &discard), SPK_E_INVALID);
    CHECK_INT_EQ(discard, 0);
}

static const struct unit_test tests[] = {
    {"unique_violation_is_exists", test_unique_violation_is_exists},
    {"other_integrity_errors_are_internal", test_other_integrity_errors_are_internal},
    {"lost_connection_discards", test_lost_connection_discards},
    {"libpq_errors_discard", test_libpq_errors_discard},
    {"transient_errors_keep_connection", test_transient_errors_keep_connection},
    {"bad_values_are_invalid", test_bad_values_are_invalid},
};

UNIT_MAIN(tests)
