/* The error table: every code has the HTTP status and wire name of the contract. */
#include <string.h>

#include "spoke/error.h"
#include "expected_errors.h"
#include "unit.h"

static void test_table(void)
{
    for (size_t i = 0; i < EXPECTED_ERRORS_COUNT; i++) {
        CHECK_INT_EQ(spk_errcode_http_status(expected_errors[i].code), expected_errors[i].status);
        CHECK_STR_EQ(spk_errcode_name(expected_errors[i].code), expected_errors[i].name);
    }
    CHECK_INT_EQ(spk_errcode_http_status((enum spk_errcode)999), 500);
    CHECK_STR_EQ(spk_errcode_name((enum spk_errcode)999), "internal");
}

static void test_set(void)
{
    struct spk_error err = {0};
    CHECK_INT_EQ(spk_error_set(&err, SPK_E_NOT_FOUND, "module %s not found", "x"), -1);
    CHECK_INT_EQ(err.code, SPK_E_NOT_FOUND);
    CHECK_STR_EQ(err.msg, "module x not found");
    char big[600];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    spk_error_set(&err, SPK_E_INVALID, "%s", big);
    CHECK_INT_EQ(strlen(err.msg), sizeof(err.msg) - 1);
    CHECK_INT_EQ(spk_error_set(NULL, SPK_E_INVALID, "ignored"), -1);
    spk_error_clear(&err);
    CHECK_INT_EQ(err.code, SPK_OK);
}

static const struct unit_test tests[] = {
    {"table", test_table},
    {"set", test_set},
};
UNIT_MAIN(tests)
