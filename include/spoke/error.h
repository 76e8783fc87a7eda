/* One small error type for the whole tree. Backend errors are translated into these codes where
 * they are caught; one table (error.c) maps codes to HTTP status and the stable wire name. */
#ifndef SPOKE_ERROR_H
#define SPOKE_ERROR_H

enum spk_errcode {
    SPK_OK = 0,
    SPK_E_INVALID,        /* 400 invalid_argument */
    SPK_E_NOT_FOUND,      /* 404 not_found */
    SPK_E_METHOD,         /* 405 method_not_allowed */
    SPK_E_EXISTS,         /* 409 already_exists */
    SPK_E_CONFLICT,       /* 409 conflict */
    SPK_E_BREAKING,       /* 409 breaking_change */
    SPK_E_TOO_LARGE,      /* 413 too_large */
    SPK_E_INVALID_SCHEMA, /* 422 invalid_schema */
    SPK_E_UNAVAILABLE,    /* 503 unavailable */
    SPK_E_INTERNAL,       /* 500 internal */
};

struct spk_error {
    enum spk_errcode code;
    char msg[256];
};

/* Records the error and returns -1, so a call site reads:
 *     return spk_error_set(err, SPK_E_NOT_FOUND, "module %s not found", name);
 * err may be NULL. */
int spk_error_set(struct spk_error *err, enum spk_errcode code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void spk_error_clear(struct spk_error *err);

int spk_errcode_http_status(enum spk_errcode code);
const char *spk_errcode_name(enum spk_errcode code);

#endif
