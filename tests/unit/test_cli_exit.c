/* Exit statuses and retry timing of the CLI (src/cli/exit.c, src/cli/http.c): the parts of its
 * behaviour that scripts and CI depend on. */
#include <stdlib.h>
#include <string.h>

#include "spoke/cli.h"
#include "unit.h"

static void test_status_mapping(void)
{
    static const struct {
        long status;
        const char *code;
        int want;
    } rows[] = {
        {200, NULL, SPK_EXIT_OK},
        {201, NULL, SPK_EXIT_OK},
        {400, "invalid_argument", SPK_EXIT_ERROR},
        {404, "not_found", SPK_EXIT_NOT_FOUND},
        {404, NULL, SPK_EXIT_NOT_FOUND}, /* a proxy's 404 page */
        {405, "method_not_allowed", SPK_EXIT_ERROR},
        {409, "conflict", SPK_EXIT_CONFLICT},
        {409, "already_exists", SPK_EXIT_CONFLICT},
        {409, NULL, SPK_EXIT_CONFLICT},
        {409, "breaking_change", SPK_EXIT_BREAKING}, /* a refused push: not a conflict */
        {413, "too_large", SPK_EXIT_ERROR},
        {422, "invalid_schema", SPK_EXIT_ERROR},
        {500, "internal", SPK_EXIT_ERROR},
        {429, NULL, SPK_EXIT_UNAVAILABLE},
        {502, NULL, SPK_EXIT_UNAVAILABLE},
        {503, "unavailable", SPK_EXIT_UNAVAILABLE},
        {504, NULL, SPK_EXIT_UNAVAILABLE},
        {500, "unavailable", SPK_EXIT_UNAVAILABLE}, /* the code decides when present */
        {418, "something_new", SPK_EXIT_ERROR},
        {301, NULL, SPK_EXIT_ERROR},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int got = spk_cli_exit_for_status(rows[i].status, rows[i].code);
        if (got != rows[i].want)
            fprintf(stderr, "row %zu: %ld %s\n", i, rows[i].status,
                    rows[i].code ? rows[i].code : "(none)");
        CHECK_INT_EQ(got, rows[i].want);
    }
}

static void test_error_mapping(void)
{
    CHECK_INT_EQ(spk_cli_exit_for_error(SPK_OK), SPK_EXIT_OK);
    CHECK_INT_EQ(spk_cli_exit_for_error(SPK_E_INVALID), SPK_EXIT_ERROR);
    CHECK_INT_EQ(spk_cli_exit_for_error(SPK_E_NOT_FOUND), SPK_EXIT_NOT_FOUND);
    CHECK_INT_EQ(spk_cli_exit_for_error(SPK_E_CONFLICT), SPK_EXIT_CONFLICT);
    CHECK_INT_EQ(spk_cli_exit_for_error(SPK_E_EXISTS), SPK_EXIT_CONFLICT);
    CHECK_INT_EQ(spk_cli_exit_for_error(SPK_E_BREAKING), SPK_EXIT_BREAKING);
    CHECK_INT_EQ(spk_cli_exit_for_error(SPK_E_TOO_LARGE), SPK_EXIT_ERROR);
    CHECK_INT_EQ(spk_cli_exit_for_error(SPK_E_UNAVAILABLE), SPK_EXIT_UNAVAILABLE);
    CHECK_INT_EQ(spk_cli_exit_for_error(SPK_E_INTERNAL), SPK_EXIT_ERROR);
    CHECK_INT_EQ(spk_cli_exit_for_error((enum spk_errcode)999), SPK_EXIT_ERROR);
    /* The documented numbers are an interface. */
    CHECK_INT_EQ(SPK_EXIT_USAGE, 2);
    CHECK_INT_EQ(SPK_EXIT_CONFLICT, 3);
    CHECK_INT_EQ(SPK_EXIT_NOT_FOUND, 4);
    CHECK_INT_EQ(SPK_EXIT_UNAVAILABLE, 5);
    CHECK_INT_EQ(SPK_EXIT_BREAKING, 6);
    /* No error is ever a success. */
    for (int c = SPK_E_INVALID; c <= SPK_E_INTERNAL; c++)
        CHECK(spk_cli_exit_for_error((enum spk_errcode)c) != SPK_EXIT_OK);
}

static void test_retryable(void)
{
    CHECK(spk_cli_retryable_status(503));
    CHECK(spk_cli_retryable_status(502));
    CHECK(spk_cli_retryable_status(504));
    CHECK(spk_cli_retryable_status(429));
    CHECK(!spk_cli_retryable_status(500));
    CHECK(!spk_cli_retryable_status(404));
    CHECK(!spk_cli_retryable_status(409));
    CHECK(!spk_cli_retryable_status(200));
}

static void test_backoff(void)
{
    const long window = 60000;
    /* Without jitter the delays are half the doubling backoff: 125, 250, 500, ... */
    CHECK_INT_EQ(spk_cli_retry_delay_ms(1, 4, -1, 0, window, 0.0), 125);
    CHECK_INT_EQ(spk_cli_retry_delay_ms(2, 4, -1, 0, window, 0.0), 250);
    CHECK_INT_EQ(spk_cli_retry_delay_ms(3, 4, -1, 0, window, 0.0), 500);
    CHECK_INT_EQ(spk_cli_retry_delay_ms(4, 4, -1, 0, window, 0.0), 1000);
    /* With full jitter, the whole backoff. */
    CHECK_INT_EQ(spk_cli_retry_delay_ms(1, 4, -1, 0, window, 0.999999), 249);
    /* Capped at 8 s. */
    CHECK_INT_EQ(spk_cli_retry_delay_ms(20, 30, -1, 0, window, 0.0), 4000);
    CHECK(spk_cli_retry_delay_ms(20, 30, -1, 0, window, 0.99) <= 8000);
    /* Bounded in count... */
    CHECK_INT_EQ(spk_cli_retry_delay_ms(5, 4, -1, 0, window, 0.0), -1);
    CHECK_INT_EQ(spk_cli_retry_delay_ms(1, 0, -1, 0, window, 0.0), -1);
    CHECK_INT_EQ(spk_cli_retry_delay_ms(0, 4, -1, 0, window, 0.0), -1);
    /* ...and in time. */
    CHECK_INT_EQ(spk_cli_retry_delay_ms(1, 4, -1, 59900, window, 0.0), -1);
    CHECK_INT_EQ(spk_cli_retry_delay_ms(1, 4, -1, 59875, window, 0.0), 125);
}

static void test_retry_after(void)
{
    const long window = 60000;
    /* Retry-After is a floor. */
    CHECK_INT_EQ(spk_cli_retry_delay_ms(1, 4, 2, 0, window, 0.0), 2000);
    CHECK_INT_EQ(spk_cli_retry_delay_ms(1, 4, 0, 0, window, 0.0), 125);
    /* A Retry-After past the window ends the retries rather than waiting it out. */
    CHECK_INT_EQ(spk_cli_retry_delay_ms(1, 4, 30, 40000, window, 0.0), -1);
    /* A huge Retry-After is capped (120 s), which this window cannot hold either. */
    CHECK_INT_EQ(spk_cli_retry_delay_ms(1, 4, 86400, 0, window, 0.0), -1);
    CHECK_INT_EQ(spk_cli_retry_delay_ms(1, 4, 86400, 0, 200000, 0.0), 120000);
}

static const struct unit_test tests[] = {
    {"status_mapping", test_status_mapping}, {"error_mapping", test_error_mapping},
    {"retryable", test_retryable},           {"backoff", test_backoff},
    {"retry_after", test_retry_after},
};
UNIT_MAIN(tests)
