/* The HTTP server over libmicrohttpd: daemon lifecycle (epoll + thread pool), per-request
 * state, bounded bodies, request ids, replies with the one JSON error shape, 405 with Allow,
 * and the access log. Route matching lives in router.c; resources live in src/api.
 *
 * A request's state (struct spk_http_ctx) is created on the first access-handler call and
 * freed in the completion callback, which libmicrohttpd calls exactly once for every request
 * that reached the access handler, whatever the outcome (reply sent, client gone, shutdown). */
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

#include "spoke/alloc.h"
#include "spoke/buf.h"
#include "spoke/http.h"
#include "spoke/log.h"
#include "spoke/time.h"

#define REQUEST_ID_MAX       128
#define CONNECTION_TIMEOUT_S 30u
#define CONNECTION_LIMIT     1024u
#define DEFAULT_MAX_BODY     ((size_t)16 << 20)
#define DRAIN_MIN            ((size_t)1 << 20)
#define JSON_TYPE            "application/json; charset=utf-8"

struct spk_http_server {
    struct MHD_Daemon *daemon;
    char *name;
    char *listen_authority; /* "host:port" ("[v6]:port") for base URLs without a Host header */
    int port;
    size_t max_body;
    const struct spk_http_route *routes; /* borrowed: must outlive the server */
    size_t nroutes;
    void *app;
    spk_http_complete_fn on_complete;
    int access_log;
    atomic_uint inflight;
    atomic_int quiesced;
};

struct header {
    char *name;
    char *value;
};

struct query_pair {
    char *key;
    char *value;
};

/* An extra access-log field: a JSON value (owned) or a borrowed static string. */
struct log_field {
    const char *key; /* borrowed: string literals at every call site */
    json_t *json;
    const char *str;
};
#define LOG_FIELDS_INLINE 4

struct spk_http_ctx {
    struct spk_http_server *srv;
    struct MHD_Connection *conn;
    char *method;
    char *path;
    char *user_agent;
    const struct spk_http_route *route; /* NULL when unmatched */
    struct spk_http_params params;
    char request_id[REQUEST_ID_MAX + 1];
    int64_t start_us;

    struct spk_buf body;
    size_t received; /* body bytes seen, kept or not */
    int too_large;   /* over max_body: the rest is read and dropped, then 413 */

    struct query_pair *query; /* decoded on first use */
    size_t nquery;
    int query_parsed;
    int query_invalid; /* some key or value had a bad %-escape or an encoded NUL */
    char *base_url;
    struct log_field log_inline[LOG_FIELDS_INLINE]; /* in the order they were first set */
    struct log_field *log_fields;                   /* log_inline until it overflows */
    size_t nlog, log_cap;

    struct header *headers; /* added before the reply exists */
    size_t nheaders;
    struct MHD_Response *response; /* the reply until it is queued */
    int status;
    size_t bytes;
    int queued;
};

/* ---- small helpers ---------------------------------------------------------------------- */

/* A JSON string for text that may not be UTF-8 (client headers, truncated messages): jansson
 * refuses invalid UTF-8, so such text is logged with its non-ASCII bytes replaced. */
static json_t *json_text(const char *s)
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

static const char *termination_name(enum MHD_RequestTerminationCode toe)
{
    switch (toe) {
    case MHD_REQUEST_TERMINATED_COMPLETED_OK:
        return "completed";
    case MHD_REQUEST_TERMINATED_WITH_ERROR:
        return "error";
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
        return "timeout";
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
        return "shutdown";
    case MHD_REQUEST_TERMINATED_READ_ERROR:
        return "read_error";
    case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
        return "client_abort";
    }
    return "unknown";
}

/* ---- request state ---------------------------------------------------------------------- */

static struct spk_http_ctx *request_create(struct spk_http_server *srv, struct MHD_Connection *conn,
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

static void request_destroy(struct spk_http_ctx *ctx)
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

/* ---- replies ---------------------------------------------------------------------------- */

static void add_response_header(struct spk_http_ctx *ctx, struct MHD_Response *r, const char *name,
                                const char *value)
{
    if (MHD_add_response_header(r, name, value) != MHD_YES)
        spk_logf(SPK_LOG_WARN, ctx->request_id, "response header %s rejected", name);
}

void spk_http_add_header(struct spk_http_ctx *ctx, const char *name, const char *value)
{
    if (ctx->queued) {
        spk_logf(SPK_LOG_WARN, ctx->request_id, "header %s added after the reply was sent", name);
        return;
    }
    if (ctx->response) {
        add_response_header(ctx, ctx->response, name, value);
        return;
    }
    ctx->headers = spk_realloc(ctx->headers, (ctx->nheaders + 1) * sizeof(*ctx->headers));
    ctx->headers[ctx->nheaders++] = (struct header){spk_strdup(name), spk_strdup(value)};
}

static int already_replied(struct spk_http_ctx *ctx)
{
    if (!ctx->response && !ctx->queued)
        return 0;
    spk_logf(SPK_LOG_ERROR, ctx->request_id, "second reply to %s %s ignored", ctx->method,
             spk_http_route(ctx));
    return 1;
}

/* Makes r this request's reply; it is queued when the handler returns. */
static void set_reply(struct spk_http_ctx *ctx, int status, const char *content_type,
                      struct MHD_Response *r, size_t len)
{
    if (!r) {
        spk_logf(SPK_LOG_ERROR, ctx->request_id, "cannot create a response");
        return;
    }
    add_response_header(ctx, r, "X-Request-Id", ctx->request_id);
    if (content_type)
        add_response_header(ctx, r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    for (size_t i = 0; i < ctx->nheaders; i++)
        add_response_header(ctx, r, ctx->headers[i].name, ctx->headers[i].value);
    ctx->response = r;
    ctx->status = status;
    /* HEAD replies carry the headers of the GET reply but no body goes out. */
    ctx->bytes = strcmp(ctx->method, "HEAD") == 0 ? 0 : len;
}

void spk_http_reply(struct spk_http_ctx *ctx, int status, const char *content_type,
                    const void *body, size_t len)
{
    if (already_replied(ctx))
        return;
    struct MHD_Response *r =
        len ? MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY)
            : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    set_reply(ctx, status, content_type, r, len);
}

void spk_http_reply_owned(struct spk_http_ctx *ctx, int status, const char *content_type,
                          char *body, size_t len)
{
    if (already_replied(ctx)) {
        free(body);
        return;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r)
        free(body);
    set_reply(ctx, status, content_type, r, len);
}

void spk_http_reply_borrowed(struct spk_http_ctx *ctx, int status, const char *content_type,
                             const void *body, size_t len, void (*release)(void *arg), void *arg)
{
    if (already_replied(ctx)) {
        release(arg);
        return;
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer_with_free_callback_cls(len, (void *)body, release, arg);
    if (!r)
        release(arg);
    set_reply(ctx, status, content_type, r, len);
}

void spk_http_reply_json(struct spk_http_ctx *ctx, int status, json_t *json)
{
    char *text = json ? json_dumps(json, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;

    json_decref(json);
    if (!text) {
        spk_logf(SPK_LOG_ERROR, ctx->request_id, "reply JSON could not be encoded");
        spk_http_reply_errorf(ctx, SPK_E_INTERNAL, "reply JSON could not be encoded");
        return;
    }
    spk_http_reply_owned(ctx, status, JSON_TYPE, text, strlen(text));
}

json_t *spk_http_error_body(const struct spk_error *err, const char *request_id)
{
    /* Internal errors are bugs: their text may hold backend detail, so it never leaves. */
    const char *msg = err->code == SPK_E_INTERNAL ? "internal error" : err->msg;
    json_t *body = json_object();

    json_object_set_new(body, "error", json_text(msg[0] ? msg : spk_errcode_name(err->code)));
    json_object_set_new(body, "code", json_string(spk_errcode_name(err->code)));
    json_object_set_new(body, "request_id", request_id ? json_text(request_id) : json_null());
    return body;
}

void spk_http_reply_error(struct spk_http_ctx *ctx, const struct spk_error *err, json_t *extra)
{
    struct spk_error e = *err;
    int status = spk_errcode_http_status(e.code);

    if (status < 400) { /* "replying an error" with SPK_OK is itself a bug */
        e.code = SPK_E_INTERNAL;
        status = spk_errcode_http_status(e.code);
    }
    if (e.code == SPK_E_INTERNAL) {
        json_t *f = json_object();
        json_object_set_new(f, "error", json_text(e.msg));
        json_object_set_new(f, "method", json_text(ctx->method));
        json_object_set_new(f, "route", json_string(spk_http_route(ctx)));
        spk_log_json(SPK_LOG_ERROR, ctx->request_id, "internal error", f);
    }
    json_t *body = spk_http_error_body(&e, ctx->request_id);
    if (extra) {
        json_object_update_missing(body, extra);
        json_decref(extra);
    }
    if (e.code == SPK_E_UNAVAILABLE)
        spk_http_add_header(ctx, "Retry-After", "1");
    spk_http_reply_json(ctx, status, body);
}

void spk_http_reply_errorf(struct spk_http_ctx *ctx, enum spk_errcode code, const char *fmt, ...)
{
    struct spk_error e = {.code = code};
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
    va_end(ap);
    spk_http_reply_error(ctx, &e, NULL);
}

/* Queues the reply, substituting 500 if the handler gave none. */
static enum MHD_Result queue_reply(struct spk_http_ctx *ctx)
{
    enum MHD_Result ret;

    if (!ctx->response)
        spk_http_reply_errorf(ctx, SPK_E_INTERNAL, "%s %s returned without replying", ctx->method,
                              spk_http_route(ctx));
    if (!ctx->response)
        return MHD_NO; /* could not even build the 500: drop the connection */
    ret = MHD_queue_response(ctx->conn, (unsigned)ctx->status, ctx->response);
    MHD_destroy_response(ctx->response); /* the connection holds its own reference */
    ctx->response = NULL;
    ctx->queued = ret == MHD_YES;
    return ret;
}

/* ---- request flow ----------------------------------------------------------------------- */

/* Finds the route; on failure the error reply is set and -1 returned. */
static int request_route(struct spk_http_ctx *ctx)
{
    struct spk_http_server *srv = ctx->srv;
    char allow[128];
    int mismatch = 0;
    int idx = spk_http_route_match(srv->routes, srv->nroutes, ctx->method, ctx->path, &ctx->params,
                                   &mismatch, allow, sizeof(allow));

    if (idx >= 0) {
        ctx->route = &srv->routes[idx];
        return 0;
    }
    if (idx == -2) {
        spk_http_reply_errorf(ctx, SPK_E_INVALID, "malformed percent-encoding in the path");
    } else if (mismatch) {
        spk_http_add_header(ctx, "Allow", allow);
        spk_http_reply_errorf(ctx, SPK_E_METHOD, "method %.32s is not allowed here (allowed: %s)",
                              ctx->method, allow);
    } else {
        spk_http_reply_errorf(ctx, SPK_E_NOT_FOUND, "no such endpoint");
    }
    return -1;
}

/* Bytes past the limit that are read and dropped so that 413 reaches a client (or proxy) that
 * writes its whole body before reading the reply; beyond this the connection is closed. */
static size_t drain_allowance(const struct spk_http_server *srv)
{
    return srv->max_body > DRAIN_MIN ? srv->max_body : DRAIN_MIN;
}

/* A declared length over the limit: when the excess is within the drain allowance the body is
 * read and dropped, then 413 is sent (closing early would look like a broken backend to a proxy,
 * which would retry elsewhere and mark every instance failed); far over it, 413 is sent at once
 * and the connection closed. */
static int request_check_length(struct spk_http_ctx *ctx)
{
    const char *cl =
        MHD_lookup_connection_value(ctx->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl)
        return 0;
    /* libmicrohttpd has already refused malformed lengths; overflow saturates to "too large". */
    unsigned long long declared = strtoull(cl, NULL, 10);
    size_t max = ctx->srv->max_body;
    if (declared <= max)
        return 0;
    /* A client that sent "Expect: 100-continue" has not sent the body yet: refuse at once. */
    const char *expect = MHD_lookup_connection_value(ctx->conn, MHD_HEADER_KIND, "Expect");
    int waiting = expect && strcasecmp(expect, "100-continue") == 0;
    if (!waiting && declared - max <= drain_allowance(ctx->srv)) {
        ctx->too_large = 1;
        return 0;
    }
    spk_http_reply_errorf(ctx, SPK_E_TOO_LARGE, "request body over the limit of %zu bytes", max);
    return -1;
}

/* Malformed percent-escapes in the query string are refused like those in the path, instead of
 * silently dropping the parameter (which would turn "?prefix=%zz" into "everything"). */
static int request_check_query(struct spk_http_ctx *ctx)
{
    (void)spk_http_query(ctx, "");
    if (!ctx->query_invalid)
        return 0;
    spk_http_reply_errorf(ctx, SPK_E_INVALID, "malformed percent-encoding in the query string");
    return -1;
}

/* libmicrohttpd 0.9.75 accepts a reply only before the body starts or after it has all
 * arrived (MHD_queue_response fails in between), so an over-limit chunked body cannot be
 * answered at once. It is read and dropped, and 413 goes out when it ends; a client that keeps
 * sending well past the limit is disconnected instead. */
static enum MHD_Result request_take_body(struct spk_http_ctx *ctx, const char *data, size_t n)
{
    size_t max = ctx->srv->max_body;
    size_t drain = drain_allowance(ctx->srv);

    ctx->received += n;
    if (ctx->queued)
        return MHD_YES;
    if (ctx->too_large) {
        if (ctx->received <= max || ctx->received - max <= drain)
            return MHD_YES;
        ctx->status = 413;
        spk_http_log_field(ctx, "aborted", json_string("body far over the limit"));
        return MHD_NO;
    }
    if (ctx->received > max) {
        ctx->too_large = 1;
        spk_buf_release(&ctx->body);
        return MHD_YES;
    }
    spk_buf_append(&ctx->body, data, n);
    return MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct spk_http_server *srv = cls;
    struct spk_http_ctx *ctx = *con_cls;
    (void)version;

    if (!ctx) { /* headers are in; the body (if any) follows in later calls */
        ctx = request_create(srv, conn, url, method);
        *con_cls = ctx;
        if (request_route(ctx) != 0 || request_check_query(ctx) != 0 ||
            request_check_length(ctx) != 0)
            return queue_reply(ctx);
        return MHD_YES;
    }
    if (*upload_data_size) {
        enum MHD_Result ret = request_take_body(ctx, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return ret;
    }
    if (ctx->queued)
        return MHD_YES;
    if (ctx->too_large) {
        spk_http_reply_errorf(ctx, SPK_E_TOO_LARGE, "request body over the limit of %zu bytes",
                              srv->max_body);
    } else {
        spk_log_request_id_set(ctx->request_id); /* store and blob lines carry it */
        ctx->route->handler(ctx, srv->app);
        spk_log_request_id_set(NULL);
    }
    return queue_reply(ctx);
}

/* The fixed fields of an access-log line; an extra field of the same name is not logged. */
static const char *const access_keys[] = {
    "ts",    "level",  "msg",   "request_id",  "server",     "method",    "path",
    "route", "status", "bytes", "duration_ms", "user_agent", "terminated"};

static int access_key(const char *key)
{
    for (size_t i = 0; i < sizeof(access_keys) / sizeof(access_keys[0]); i++)
        if (strcmp(access_keys[i], key) == 0)
            return 1;
    return 0;
}

/* Built as text (spk_log_line), not as a jansson object: this runs once per request and was
 * the largest cost of a cached GET. The line is the same JSON either way. */
static void log_access(struct spk_http_ctx *ctx, int status, double seconds,
                       enum MHD_RequestTerminationCode toe)
{
    struct spk_log_line l;

    spk_log_line_begin(&l, SPK_LOG_INFO, ctx->request_id, "request");
    spk_log_line_str(&l, "server", ctx->srv->name);
    spk_log_line_str(&l, "method", ctx->method);
    spk_log_line_str(&l, "path", ctx->path);
    spk_log_line_str(&l, "route", spk_http_route(ctx));
    spk_log_line_int(&l, "status", status);
    spk_log_line_int(&l, "bytes", (long long)ctx->bytes);
    spk_log_line_real(&l, "duration_ms", seconds * 1000.0);
    spk_log_line_str(&l, "user_agent", ctx->user_agent);
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        spk_log_line_str(&l, "terminated", termination_name(toe));
    for (size_t i = 0; i < ctx->nlog; i++) {
        const struct log_field *f = &ctx->log_fields[i];
        if (access_key(f->key))
            continue;
        if (f->json)
            spk_log_line_json(&l, f->key, f->json);
        else
            spk_log_line_str(&l, f->key, f->str);
    }
    spk_log_line_end(&l);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct spk_http_server *srv = cls;
    struct spk_http_ctx *ctx = *con_cls;
    (void)conn;

    if (!ctx)
        return;
    *con_cls = NULL;
    /* 499 (nginx's "client closed request"): the request ended before any reply existed. */
    int status = ctx->status ? ctx->status : 499;
    double seconds = (double)(spk_time_mono_us() - ctx->start_us) / 1e6;
    if (srv->access_log)
        log_access(ctx, status, seconds, toe);
    if (srv->on_complete)
        srv->on_complete(srv->app, ctx->method, spk_http_route(ctx), status, ctx->bytes, seconds);
    request_destroy(ctx);
    atomic_fetch_sub(&srv->inflight, 1);
}

/* ---- daemon ----------------------------------------------------------------------------- */

/* The router must see the path as sent, so libmicrohttpd's own unescaping is switched off;
 * path parameters and query values are decoded (and validated) by this layer. */
static size_t on_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    return strlen(s);
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct spk_http_server *srv = cls;
    char line[512];
    size_t n;

    vsnprintf(line, sizeof(line), fmt, ap);
    n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    json_t *f = json_object();
    json_object_set_new(f, "server", json_text(srv->name));
    json_object_set_new(f, "detail", json_text(line));
    spk_log_json(SPK_LOG_WARN, NULL, "libmicrohttpd", f);
}

struct spk_http_server *spk_http_server_create(const struct spk_http_server_options *opts,
                                               struct spk_error *err)
{
    union {
        struct sockaddr sa;
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } addr;
    const char *host = opts->host && opts->host[0] ? opts->host : "0.0.0.0";
    const char *name = opts->name ? opts->name : "http";
    unsigned int flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    unsigned int threads = opts->threads > 0 ? (unsigned int)opts->threads : 1;
    struct spk_http_server *srv;

    if (opts->port < 0 || opts->port > 65535) {
        spk_error_set(err, SPK_E_INVALID, "%s server: port %d out of range", name, opts->port);
        return NULL;
    }
    if (opts->nroutes && !opts->routes) {
        spk_error_set(err, SPK_E_INVALID, "%s server: no route table", name);
        return NULL;
    }
    memset(&addr, 0, sizeof(addr));
    if (inet_pton(AF_INET, host, &addr.v4.sin_addr) == 1) {
        addr.v4.sin_family = AF_INET;
        addr.v4.sin_port = htons((uint16_t)opts->port);
    } else if (inet_pton(AF_INET6, host, &addr.v6.sin6_addr) == 1) {
        addr.v6.sin6_family = AF_INET6;
        addr.v6.sin6_port = htons((uint16_t)opts->port);
        /* "::" means every address, IPv4 included; a specific v6 address means only that. */
        flags |= IN6_IS_ADDR_UNSPECIFIED(&addr.v6.sin6_addr) ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
    } else {
        spk_error_set(err, SPK_E_INVALID, "%s server: listen address %s is not an IP address", name,
                      host);
        return NULL;
    }

    srv = spk_calloc(1, sizeof(*srv));
    srv->name = spk_strdup(name);
    srv->max_body = opts->max_body_bytes ? opts->max_body_bytes : DEFAULT_MAX_BODY;
    srv->routes = opts->routes;
    srv->nroutes = opts->nroutes;
    srv->app = opts->app;
    srv->on_complete = opts->on_complete;
    srv->access_log = opts->access_log;
    atomic_init(&srv->inflight, 0);
    atomic_init(&srv->quiesced, 0);

    /* The logger goes first so that libmicrohttpd reports option problems through it too.
     * One thread means no pool (a single epoll thread); libmicrohttpd warns about a pool of 1. */
    struct MHD_OptionItem pool[] = {{MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)threads, NULL},
                                    {MHD_OPTION_END, 0, NULL}};
    srv->daemon = MHD_start_daemon(
        flags, (uint16_t)opts->port, NULL, NULL, on_access, srv, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, srv, MHD_OPTION_SOCK_ADDR, &addr.sa, MHD_OPTION_CONNECTION_TIMEOUT,
        CONNECTION_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT, CONNECTION_LIMIT,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_UNESCAPE_CALLBACK, on_unescape,
        NULL, MHD_OPTION_ARRAY, threads > 1 ? pool : pool + 1, MHD_OPTION_END);
    if (!srv->daemon) {
        spk_error_set(err, SPK_E_UNAVAILABLE, "%s server: cannot listen on %s port %d", name, host,
                      opts->port);
        spk_http_server_destroy(srv);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info && info->port ? info->port : opts->port;
    srv->listen_authority = strchr(host, ':') ? spk_asprintf("[%s]:%d", host, srv->port)
                                              : spk_asprintf("%s:%d", host, srv->port);
    return srv;
}

int spk_http_server_port(const struct spk_http_server *s)
{
    return s->port;
}

void spk_http_server_quiesce(struct spk_http_server *s)
{
    if (!s || !s->daemon || atomic_exchange(&s->quiesced, 1))
        return;
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

unsigned spk_http_server_inflight(const struct spk_http_server *s)
{
    return atomic_load(&s->inflight);
}

void spk_http_server_destroy(struct spk_http_server *s)
{
    if (!s)
        return;
    if (s->daemon)
        MHD_stop_daemon(s->daemon); /* completes (and frees) every request still open */
    free(s->listen_authority);
    free(s->name);
    free(s);
}
