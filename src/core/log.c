/* JSON-lines logging to stderr. A line is rendered whole, then written with one write(2), so
 * lines from concurrent threads never interleave. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "spoke/log.h"
#include "spoke/time.h"
#include "spoke/banned.h"

static atomic_int min_level = SPK_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

static _Thread_local const char *current_request_id;

void spk_log_request_id_set(const char *id)
{
    current_request_id = id;
}

const char *spk_log_request_id(void)
{
    return current_request_id;
}

void spk_log_set_level(enum spk_log_level level)
{
    atomic_store(&min_level, (int)level);
}

int spk_log_parse_level(const char *s, enum spk_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum spk_log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = SPK_LOG_WARN;
        return 0;
    }
    return -1;
}

int spk_log_enabled(enum spk_log_level level)
{
    return (int)level >= atomic_load(&min_level);
}

void spk_log_json(enum spk_log_level level, const char *request_id, const char *msg, json_t *fields)
{
    if (!spk_log_enabled(level)) {
        json_decref(fields);
        return;
    }
    char ts[SPK_RFC3339_LEN + 1];
    spk_time_rfc3339(spk_time_now_us(), ts);
    json_t *line = json_object();
    json_object_set_new(line, "ts", json_string(ts));
    json_object_set_new(line, "level", json_string(level_names[level]));
    json_object_set_new(line, "msg", json_string(msg ? msg : ""));
    if (!request_id)
        request_id = current_request_id;
    if (request_id)
        json_object_set_new(line, "request_id", json_string(request_id));
    if (fields)
        json_object_update(line, fields);
    json_decref(fields);
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(6));
    json_decref(line);
    if (!text)
        return;
    size_t len = strlen(text);
    text[len] = '\n'; /* replaces the NUL; the buffer is still len + 1 bytes */
    const char *p = text;
    size_t left = len + 1;
    while (left > 0) {
        ssize_t n = write(STDERR_FILENO, p, left);
        if (n <= 0)
            break;
        p += n;
        left -= (size_t)n;
    }
    free(text);
}

void spk_logf(enum spk_log_level level, const char *request_id, const char *fmt, ...)
{
    if (!spk_log_enabled(level))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    spk_log_json(level, request_id, msg, NULL);
}
