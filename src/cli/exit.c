/* Exit statuses of the spoke CLI: one table from what the registry answered (or what went wrong
 * on the client) to the status a script branches on. The statuses are documented in
 * `spoke --help`, docs/cli.md and the man page; keep the three in step with this file. */
#include <string.h>

#include "spoke/cli.h"
#include "spoke/banned.h"

/* Error codes of the wire contract that decide the status on their own, whatever the HTTP status.
 */
static const struct {
    const char *code;
    int status;
} by_code[] = {
    {"conflict", SPK_EXIT_CONFLICT},        {"already_exists", SPK_EXIT_CONFLICT},
    {"breaking_change", SPK_EXIT_BREAKING}, {"not_found", SPK_EXIT_NOT_FOUND},
    {"unavailable", SPK_EXIT_UNAVAILABLE},
};

/* Otherwise the HTTP status decides; rows are [lo, hi] ranges, first match wins. */
static const struct {
    long lo, hi;
    int status;
} by_http[] = {
    {200, 299, SPK_EXIT_OK},          {404, 404, SPK_EXIT_NOT_FOUND}, {409, 409, SPK_EXIT_CONFLICT},
    {429, 429, SPK_EXIT_UNAVAILABLE}, /* still throttled after the retries */
    {502, 504, SPK_EXIT_UNAVAILABLE},
};

/* A code missing here would map to 0 (success): test_cli_exit checks every code has a row. */
static const int by_errcode[] = {
    [SPK_OK] = SPK_EXIT_OK,
    [SPK_E_INVALID] = SPK_EXIT_ERROR,
    [SPK_E_NOT_FOUND] = SPK_EXIT_NOT_FOUND,
    [SPK_E_METHOD] = SPK_EXIT_ERROR,
    [SPK_E_EXISTS] = SPK_EXIT_CONFLICT,
    [SPK_E_CONFLICT] = SPK_EXIT_CONFLICT,
    [SPK_E_BREAKING] = SPK_EXIT_BREAKING,
    [SPK_E_TOO_LARGE] = SPK_EXIT_ERROR,
    [SPK_E_INVALID_SCHEMA] = SPK_EXIT_ERROR,
    [SPK_E_UNAVAILABLE] = SPK_EXIT_UNAVAILABLE,
    [SPK_E_INTERNAL] = SPK_EXIT_ERROR,
};
_Static_assert(sizeof(by_errcode) / sizeof(by_errcode[0]) == SPK_E_INTERNAL + 1,
               "by_errcode needs a row for every enum spk_errcode");

int spk_cli_exit_for_status(long status, const char *code)
{
    if (status >= 200 && status <= 299)
        return SPK_EXIT_OK;
    for (size_t i = 0; code && i < sizeof(by_code) / sizeof(by_code[0]); i++)
        if (strcmp(code, by_code[i].code) == 0)
            return by_code[i].status;
    for (size_t i = 0; i < sizeof(by_http) / sizeof(by_http[0]); i++)
        if (status >= by_http[i].lo && status <= by_http[i].hi)
            return by_http[i].status;
    return SPK_EXIT_ERROR;
}

int spk_cli_exit_for_error(enum spk_errcode code)
{
    if ((unsigned)code < sizeof(by_errcode) / sizeof(by_errcode[0]))
        return by_errcode[code];
    return SPK_EXIT_ERROR;
}
