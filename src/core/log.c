/* JSON-lines logging to stderr. A line is rendered whole, then written with one write(2), so
 * lines from concurrent threads never interleave. Lines come from a jansson object
 * (spk_log_json) or, on hot paths such as the access log, are built as text (spk_log_line). */
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "spoke/alloc.h"
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

/* One write(2) per line (retried only for a short write), so lines never interleave. */
static void write_line(const char *p, size_t left)
{
    while (left > 0) {
        ssize_t n = write(STDERR_FILENO, p, left);
        if (n <= 0)
            break;
        p += n;
        left -= (size_t)n;
    }
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
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII |
                                      JSON_REAL_PRECISION(6));
    json_decref(line);
    if (!text)
        return;
    size_t len = strlen(text);
    text[len] = '\n'; /* replaces the NUL; the buffer is still len + 1 bytes */
    write_line(text, len + 1);
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

/* ---- lines built without jansson (struct spk_log_line) -----------------------------------
 * The output must stay byte-for-byte what json_dumps gives with the flags above: compact,
 * JSON_ENSURE_ASCII (\uXXXX, upper-case hex, surrogate pairs), %.6g reals with jansson's
 * ".0" and exponent clean-up. tests/unit/test_log.c compares the two. */

static void line_reserve(struct spk_log_line *l, size_t extra)
{
    if (l->len + extra <= l->cap)
        return;
    size_t cap = l->cap * 2;
    while (cap < l->len + extra)
        cap *= 2;
    if (l->data == l->inline_buf) {
        char *heap = spk_malloc(cap);
        memcpy(heap, l->data, l->len);
        l->data = heap;
    } else {
        l->data = spk_realloc(l->data, cap);
    }
    l->cap = cap;
}

static void line_put(struct spk_log_line *l, const char *s, size_t n)
{
    line_reserve(l, n);
    memcpy(l->data + l->len, s, n);
    l->len += n;
}

/* Length of the UTF-8 sequence at s (at most left bytes) and its code point; 0 when invalid
 * (the same rules as jansson: no overlongs, no surrogates, nothing above U+10FFFF). */
static size_t utf8_next(const unsigned char *s, size_t left, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t v;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c < 0xC2 || c > 0xF4)
        return 0;
    n = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    v = c & (0x7Fu >> n);
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || v > 0x10FFFF ||
        (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return n;
}

static int utf8_valid(const char *s, size_t len)
{
    uint32_t cp;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_next((const unsigned char *)s + i, len - i, &cp);
        if (!n)
            return 0;
        i += n;
    }
    return 1;
}

static void put_u(struct spk_log_line *l, uint32_t v)
{
    static const char hex[] = "0123456789ABCDEF";
    char seq[6] = {'\\', 'u', hex[v >> 12 & 15], hex[v >> 8 & 15], hex[v >> 4 & 15], hex[v & 15]};
    line_put(l, seq, sizeof(seq));
}

/* A quoted, escaped JSON string. */
static void line_string(struct spk_log_line *l, const char *s)
{
    size_t len = strlen(s), plain = 0;
    while (plain < len && (unsigned char)s[plain] >= 0x20 && (unsigned char)s[plain] < 0x80 &&
           s[plain] != '"' && s[plain] != '\\')
        plain++;
    line_reserve(l, len + 2);
    l->data[l->len++] = '"';
    if (plain == len) { /* the common case: nothing to escape */
        memcpy(l->data + l->len, s, len);
        l->len += len;
        l->data[l->len++] = '"';
        return;
    }
    int valid = utf8_valid(s + plain, len - plain);
    for (size_t i = 0; i < len;) {
        size_t run = i;
        while (run < len && (unsigned char)s[run] >= 0x20 && (unsigned char)s[run] < 0x80 &&
               s[run] != '"' && s[run] != '\\')
            run++;
        if (run > i)
            line_put(l, s + i, run - i);
        i = run;
        if (i == len)
            break;
        unsigned char c = (unsigned char)s[i];
        uint32_t cp = c;
        size_t n = 1;
        if (c >= 0x80 && !valid) {
            line_put(l, "?", 1);
            i++;
            continue;
        }
        if (c >= 0x80)
            n = utf8_next((const unsigned char *)s + i, len - i, &cp);
        i += n;
        switch (cp) {
        case '"':
            line_put(l, "\\\"", 2);
            break;
        case '\\':
            line_put(l, "\\\\", 2);
            break;
        case '\b':
            line_put(l, "\\b", 2);
            break;
        case '\f':
            line_put(l, "\\f", 2);
            break;
        case '\n':
            line_put(l, "\\n", 2);
            break;
        case '\r':
            line_put(l, "\\r", 2);
            break;
        case '\t':
            line_put(l, "\\t", 2);
            break;
        default:
            if (cp < 0x10000) {
                put_u(l, cp);
            } else {
                cp -= 0x10000;
                put_u(l, 0xD800 | (cp >> 10));
                put_u(l, 0xDC00 | (cp & 0x3FF));
            }
        }
    }
    line_put(l, "\"", 1);
}

static void line_key(struct spk_log_line *l, const char *key)
{
    line_put(l, ",", 1);
    line_string(l, key);
    line_put(l, ":", 1);
}

void spk_log_line_begin(struct spk_log_line *l, enum spk_log_level level, const char *request_id,
                        const char *msg)
{
    l->data = l->inline_buf;
    l->len = 0;
    l->cap = sizeof(l->inline_buf);
    l->enabled = spk_log_enabled(level);
    if (!l->enabled)
        return;
    char ts[SPK_RFC3339_LEN + 1];
    spk_time_rfc3339(spk_time_now_us(), ts);
    line_put(l, "{\"ts\":\"", 7);
    line_put(l, ts, strlen(ts));
    line_put(l, "\",\"level\":\"", 11);
    line_put(l, level_names[level], strlen(level_names[level]));
    line_put(l, "\"", 1);
    spk_log_line_str(l, "msg", msg ? msg : "");
    if (!request_id)
        request_id = current_request_id;
    if (request_id)
        spk_log_line_str(l, "request_id", request_id);
}

void spk_log_line_str(struct spk_log_line *l, const char *key, const char *value)
{
    if (!l->enabled || !value)
        return;
    line_key(l, key);
    line_string(l, value);
}

void spk_log_line_int(struct spk_log_line *l, const char *key, long long value)
{
    char num[24], *p = num + sizeof(num);
    if (!l->enabled)
        return;
    /* Digits by hand (snprintf was a visible share of the access log); as unsigned, so that
     * LLONG_MIN negates safely. */
    unsigned long long v = value < 0 ? 0ULL - (unsigned long long)value : (unsigned long long)value;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (value < 0)
        *--p = '-';
    line_key(l, key);
    line_put(l, p, (size_t)(num + sizeof(num) - p));
}

void spk_log_line_real(struct spk_log_line *l, const char *key, double value)
{
    char num[64];
    if (!l->enabled || !isfinite(value))
        return;
    int n = snprintf(num, sizeof(num), "%.6g", value);
    if (n <= 0 || (size_t)n >= sizeof(num) - 2)
        return;
    if (!memchr(num, '.', (size_t)n) && !memchr(num, 'e', (size_t)n)) {
        memcpy(num + n, ".0", 3);
        n += 2;
    }
    /* As jansson: no '+' and no leading zeros in the exponent ("1e+06" is "1e6"). */
    char *e = memchr(num, 'e', (size_t)n);
    if (e) {
        char *start = e + 1, *end = start + 1;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, (size_t)(num + n - end) + 1);
            n -= (int)(end - start);
        }
    }
    line_key(l, key);
    line_put(l, num, (size_t)n);
}

void spk_log_line_json(struct spk_log_line *l, const char *key, const json_t *value)
{
    if (!l->enabled || !value)
        return;
    if (json_is_string(value)) {
        /* jansson strings are valid UTF-8 (it refuses anything else) and may hold NULs, which
         * the escaper below does not see: only NUL-free ones take the fast path. */
        const char *s = json_string_value(value);
        if (strlen(s) == json_string_length(value)) {
            line_key(l, key);
            line_string(l, s);
            return;
        }
    }
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY | JSON_ENSURE_ASCII |
                                       JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    if (!text)
        return;
    line_key(l, key);
    line_put(l, text, strlen(text));
    free(text);
}

void spk_log_line_end(struct spk_log_line *l)
{
    if (l->enabled) {
        line_put(l, "}\n", 2);
        write_line(l->data, l->len);
    }
    if (l->data != l->inline_buf)
        free(l->data);
    l->data = l->inline_buf;
    l->len = 0;
    l->enabled = 0;
}
