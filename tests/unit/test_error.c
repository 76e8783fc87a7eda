/* The error table: every code has the HTTP status and wire name of the contract. */
#include <string.h>

#include "spoke/error.h"
#include "unit.h"

static void test_table(void)
{
    static const struct {
        enum spk_errcode code;
        int status;
        const char *name;
    } rows[] = {
        {SPK_E_INVALID, 400, "invalid_argument"},
        {SPK_E_NOT_FOUND, 404, "not_found"},
        {SPK_E_METHOD, 405, "method_not_allowed"},
        {SPK_E_EXISTS, 409, "already_exists"},
        {SPK_E_CONFLICT, 409, "conflict"},
        {SPK_E_TOO_LARGE, 413, "too_large"},
        {SPK_E_INVALID_SCHEMA, 422, "invalid_schema"},
        {SPK_E_UNAVAILABLE, 503, "unavailable"},
        {SPK_E_INTERNAL, 500, "internal"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        CHECK_INT_EQ(spk_errcode_http_status(rows[i].code), rows[i].status);
        CHECK_STR_EQ(spk_errcode_name(rows[i].code), rows[i].name);
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
