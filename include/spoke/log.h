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
void spk_log_json(enum spk_log_level level, const char *request_id, const char *msg,
                  json_t *fields);
/* printf-style message, no extra fields. */
void spk_logf(enum spk_log_level level, const char *request_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A line built field by field straight into text, for hot paths (the access log: one line per
 * request). It writes exactly what spk_log_json writes for the same fields added in the same
 * order, without building a jansson object: on the stack, with no allocation unless the line
 * outgrows the inline buffer. Usage: begin, add fields, end (which writes it and frees any
 * spill); a line that is not enabled ignores every call. */
struct spk_log_line {
    char *data; /* inline, or heap when it spilled */
    size_t len, cap;
    int enabled;
    char inline_buf[1024];
};
void spk_log_line_begin(struct spk_log_line *l, enum spk_log_level level, const char *request_id,
                        const char *msg);
/* A string value. Text that is not valid UTF-8 (client headers) is written with every byte
 * >= 0x80 replaced by '?'; valid text is escaped like jansson with JSON_ENSURE_ASCII. */
void spk_log_line_str(struct spk_log_line *l, const char *key, const char *value);
void spk_log_line_int(struct spk_log_line *l, const char *key, long long value);
/* %.6g like jansson's JSON_REAL_PRECISION(6); a non-finite value writes nothing. */
void spk_log_line_real(struct spk_log_line *l, const char *key, double value);
/* Any JSON value (borrowed), rendered compactly. */
void spk_log_line_json(struct spk_log_line *l, const char *key, const json_t *value);
void spk_log_line_end(struct spk_log_line *l);

#endif
