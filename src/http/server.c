/* The HTTP server over libmicrohttpd: daemon lifecycle (epoll + thread pool), the request flow
 * (routing, bounded bodies, 405 with Allow, 413), and the access log. What handlers read is in
 * request.c, what they send in reply.c; route matching lives in router.c; resources in src/api.
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

#include "http_internal.h"
#include "spoke/alloc.h"
#include "spoke/buf.h"
#include "spoke/http.h"
#include "spoke/log.h"
#include "spoke/time.h"
#include "spoke/banned.h"

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
        ctx = http_request_create(srv, conn, url, method);
        *con_cls = ctx;
        if (request_route(ctx) != 0 || request_check_query(ctx) != 0 ||
            request_check_length(ctx) != 0)
            return http_reply_queue(ctx);
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
    return http_reply_queue(ctx);
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
    http_request_destroy(ctx);
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
    json_object_set_new(f, "server", http_json_text(srv->name));
    json_object_set_new(f, "detail", http_json_text(line));
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
