/* One request as handlers see it: its state's lifecycle, request ids, and the accessors of
 * include/spoke/http.h (method, path, parameters, query, headers, body, base URL, log fields). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_internal.h"
#include "spoke/alloc.h"
#include "spoke/buf.h"
#include "spoke/http.h"
#include "spoke/log.h"
#include "spoke/time.h"
#include "spoke/banned.h"

/* ---- small helpers ---------------------------------------------------------------------- */

/* A JSON string for text that may not be UTF-8 (client headers, truncated messages): jansson
 * refuses invalid UTF-8, so such text is logged with its non-ASCII bytes replaced. */
json_t *http_json_text(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    char *copy = spk_strdup(s);
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

static int request_id_sane(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > REQUEST_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return 0;
    }
    return 1;
}

static void random_bytes(unsigned char *out, size_t n)
{
    static atomic_uint_fast64_t counter;
    size_t got = 0;

    while (got < n) {
        ssize_t r = getrandom(out + got, n - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got < n) {
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            while (got < n) {
                ssize_t r = read(fd, out + got, n - got);
                if (r <= 0)
                    break;
                got += (size_t)r;
            }
            close(fd);
        }
    }
    /* Last resort: ids must stay unique, not secret, so a counter mixed with the clock will do. */
    for (uint64_t x = (uint64_t)spk_time_now_us() ^ (atomic_fetch_add(&counter, 1) << 32); got < n;
         got++) {
        x += 0x9e3779b97f4a7c15u;
        uint64_t z = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
        out[got] = (unsigned char)(z ^ (z >> 27));
    }
}

/* Request ids must be unique, not secret: each thread draws them from splitmix64 over a
 * counter seeded once from the kernel, instead of a getrandom call per request. The first half
 * never repeats within a thread (splitmix64 is a bijection of the counter); across threads the
 * 128 random seed bits make a collision as unlikely as with per-request random ids. */
static void request_id_bits(unsigned char raw[16])
{
    static _Thread_local uint64_t state, key;
    static _Thread_local int seeded;
    if (!seeded) {
        unsigned char seed[16];
        random_bytes(seed, sizeof(seed));
        memcpy(&state, seed, 8);
        memcpy(&key, seed + 8, 8);
        seeded = 1;
    }
    for (int half = 0; half < 2; half++) {
        uint64_t z = (state += 0x9e3779b97f4a7c15u);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
        z ^= z >> 31;
        if (half)
            z ^= key;
        memcpy(raw + 8 * half, &z, 8);
    }
}

static void request_id_generate(char out[33])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[16];

    request_id_bits(raw);
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[32] = '\0';
}

/* ---- request state ---------------------------------------------------------------------- */

struct spk_http_ctx *http_request_create(struct spk_http_server *srv, struct MHD_Connection *conn,
                                         const char *url, const char *method)
{
    struct spk_http_ctx *ctx = spk_calloc(1, sizeof(*ctx));
    const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    const char *ua = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "User-Agent");

    ctx->srv = srv;
    ctx->conn = conn;
    ctx->start_us = spk_time_mono_us();
    ctx->method = spk_strdup(method);
    ctx->path = spk_strdup(url);
    ctx->user_agent = ua ? spk_strdup(ua) : NULL;
    if (request_id_sane(rid))
        memcpy(ctx->request_id, rid, strlen(rid) + 1);
    else
        request_id_generate(ctx->request_id);
    atomic_fetch_add(&srv->inflight, 1);
    return ctx;
}

void http_request_destroy(struct spk_http_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->response)
        MHD_destroy_response(ctx->response);
    for (size_t i = 0; i < ctx->nheaders; i++) {
        free(ctx->headers[i].name);
        free(ctx->headers[i].value);
    }
    free(ctx->headers);
    for (size_t i = 0; i < ctx->nquery; i++) {
        free(ctx->query[i].key);
        free(ctx->query[i].value);
    }
    free(ctx->query);
    for (size_t i = 0; i < ctx->nlog; i++)
        json_decref(ctx->log_fields[i].json);
    if (ctx->log_fields != ctx->log_inline)
        free(ctx->log_fields);
    spk_http_params_release(&ctx->params);
    spk_buf_release(&ctx->body);
    free(ctx->base_url);
    free(ctx->user_agent);
    free(ctx->path);
    free(ctx->method);
    free(ctx);
}

/* ---- accessors -------------------------------------------------------------------------- */

const char *spk_http_method(const struct spk_http_ctx *ctx)
{
    return ctx->method;
}

const char *spk_http_path(const struct spk_http_ctx *ctx)
{
    return ctx->path;
}

const char *spk_http_route(const struct spk_http_ctx *ctx)
{
    return ctx->route ? ctx->route->pattern : "unmatched";
}

const char *spk_http_param(const struct spk_http_ctx *ctx, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < ctx->params.n; i++)
        if (ctx->params.name_lens[i] == len && memcmp(ctx->params.names[i], name, len) == 0)
            return ctx->params.values[i];
    return NULL;
}

/* Query keys and values arrive still encoded (the unescape callback is a no-op), except that
 * libmicrohttpd has already turned '+' into ' '; doing it again here is harmless and keeps the
 * form-encoding rule visible. A pair that does not decode makes the request a 400. */
static char *query_decode(const char *raw)
{
    char *plus = spk_strdup(raw ? raw : ""), *out = NULL;
    for (char *p = plus; *p; p++)
        if (*p == '+')
            *p = ' ';
    if (spk_http_pct_decode(plus, strlen(plus), &out) != 0)
        out = NULL;
    free(plus);
    return out;
}

static enum MHD_Result on_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    struct spk_http_ctx *ctx = cls;
    char *k = query_decode(key), *v = query_decode(value);
    (void)kind;

    if (k && v) {
        ctx->query = spk_realloc(ctx->query, (ctx->nquery + 1) * sizeof(*ctx->query));
        ctx->query[ctx->nquery++] = (struct query_pair){k, v};
    } else {
        ctx->query_invalid = 1;
        free(k);
        free(v);
    }
    return MHD_YES;
}

const char *spk_http_query(const struct spk_http_ctx *cctx, const char *key)
{
    /* Decoding is lazy and cached; the request is only ever touched by one thread. */
    struct spk_http_ctx *ctx = (struct spk_http_ctx *)cctx;

    if (!ctx->query_parsed) {
        ctx->query_parsed = 1;
        MHD_get_connection_values(ctx->conn, MHD_GET_ARGUMENT_KIND, on_query_arg, ctx);
    }
    for (size_t i = 0; i < ctx->nquery; i++)
        if (strcmp(ctx->query[i].key, key) == 0)
            return ctx->query[i].value;
    return NULL;
}

const char *spk_http_header(const struct spk_http_ctx *ctx, const char *name)
{
    return MHD_lookup_connection_value(ctx->conn, MHD_HEADER_KIND, name);
}

const char *spk_http_body(const struct spk_http_ctx *ctx, size_t *len)
{
    if (len)
        *len = ctx->body.len;
    return ctx->body.data ? ctx->body.data : "";
}

const char *spk_http_request_id(const struct spk_http_ctx *ctx)
{
    return ctx->request_id;
}

static int host_sane(const char *h)
{
    size_t n = h ? strlen(h) : 0;
    if (n == 0 || n > 255)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']'))
            return 0;
    }
    return 1;
}

const char *spk_http_base_url(struct spk_http_ctx *ctx)
{
    if (!ctx->base_url) {
        const char *proto = spk_http_header(ctx, "X-Forwarded-Proto");
        const char *host = spk_http_header(ctx, "Host");
        /* A proxy chain may send "https, http": the first hop is what the client used. */
        int https = proto && strncasecmp(proto, "https", 5) == 0 &&
                    (proto[5] == '\0' || proto[5] == ',' || proto[5] == ' ');
        if (!host_sane(host))
            host = ctx->srv->listen_authority;
        ctx->base_url = spk_asprintf("%s://%s", https ? "https" : "http", host);
    }
    return ctx->base_url;
}

/* The slot for key: the existing one (a field set twice keeps its place, as in a JSON object)
 * or a new one at the end. */
static struct log_field *log_slot(struct spk_http_ctx *ctx, const char *key)
{
    for (size_t i = 0; i < ctx->nlog; i++)
        if (strcmp(ctx->log_fields[i].key, key) == 0) {
            json_decref(ctx->log_fields[i].json);
            return &ctx->log_fields[i];
        }
    if (!ctx->log_fields) {
        ctx->log_fields = ctx->log_inline;
        ctx->log_cap = LOG_FIELDS_INLINE;
    }
    if (ctx->nlog == ctx->log_cap) {
        struct log_field *grown = spk_malloc(2 * ctx->log_cap * sizeof(*grown));
        memcpy(grown, ctx->log_fields, ctx->nlog * sizeof(*grown));
        if (ctx->log_fields != ctx->log_inline)
            free(ctx->log_fields);
        ctx->log_fields = grown;
        ctx->log_cap *= 2;
    }
    return &ctx->log_fields[ctx->nlog++];
}

void spk_http_log_field(struct spk_http_ctx *ctx, const char *key, json_t *value)
{
    if (!value)
        return;
    *log_slot(ctx, key) = (struct log_field){key, value, NULL};
}

void spk_http_log_static(struct spk_http_ctx *ctx, const char *key, const char *value)
{
    if (value)
        *log_slot(ctx, key) = (struct log_field){key, NULL, value};
}

int spk_http_etag_matches(const char *header, const char *etag)
{
    if (!header)
        return 0;
    size_t elen = strlen(etag);
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return 1;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == elen && memcmp(p, etag, n) == 0)
            return 1;
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}
