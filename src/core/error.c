/* The error type and the one table mapping error codes to HTTP status and wire names. */
#include <stdarg.h>
#include <stdio.h>

#include "spoke/error.h"
#include "spoke/banned.h"

static const struct {
    int status;
    const char *name;
} codes[] = {
    [SPK_OK] = {200, "ok"},
    [SPK_E_INVALID] = {400, "invalid_argument"},
    [SPK_E_NOT_FOUND] = {404, "not_found"},
    [SPK_E_METHOD] = {405, "method_not_allowed"},
    [SPK_E_EXISTS] = {409, "already_exists"},
    [SPK_E_CONFLICT] = {409, "conflict"},
    [SPK_E_BREAKING] = {409, "breaking_change"},
    [SPK_E_TOO_LARGE] = {413, "too_large"},
    [SPK_E_INVALID_SCHEMA] = {422, "invalid_schema"},
    [SPK_E_UNAVAILABLE] = {503, "unavailable"},
    [SPK_E_INTERNAL] = {500, "internal"},
};

int spk_error_set(struct spk_error *err, enum spk_errcode code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return -1;
}

void spk_error_clear(struct spk_error *err)
{
    if (err) {
        err->code = SPK_OK;
        err->msg[0] = '\0';
    }
}

static int known(enum spk_errcode code)
{
    return (unsigned)code < sizeof(codes) / sizeof(codes[0]) && codes[code].name;
}

int spk_errcode_http_status(enum spk_errcode code)
{
    return known(code) ? codes[code].status : 500;
}

const char *spk_errcode_name(enum spk_errcode code)
{
    return known(code) ? codes[code].name : "internal";
}
