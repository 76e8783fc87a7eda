/* Structured logging: one JSON object per line on stderr. Never pass secrets to it.
 * Every line has ts (RFC 3339 UTC, ms), level and msg; request-scoped lines add request_id. */
#ifndef SPOKE_LOG_H
#define SPOKE_LOG_H

#include <jansson.h>

enum spk_log_level { SPK_LOG_DEBUG, SPK_LOG_INFO, SPK_LOG_WARN, SPK_LOG_ERROR };

void spk_log_set_level(enum spk_log_level level);
int spk_log_parse_level(const char *s, enum spk_log_level *out); /* 0 or -1 */
int spk_log_enabled(enum spk_log_level level);

/* The request this thread is serving, used by lines that pass no request_id: src/http sets it
 * around each handler call, so store and blob lines carry the id of the request that caused
 * them. id is borrowed (it must stay valid until cleared with NULL). */
void spk_log_request_id_set(const char *id);
const char *spk_log_request_id(void);

/* Writes msg with the fields of `fields` (stolen; may be NULL). request_id NULL means this
 * thread's current request id, if any. */
void spk_log_json(enum spk_log_level level, const char *request_id, const char *msg, json_t *fields);
/* printf-style message, no extra fields. */
void spk_logf(enum spk_log_level level, const char *request_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
