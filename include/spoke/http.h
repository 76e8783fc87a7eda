/* The HTTP layer: libmicrohttpd lifecycle (epoll + thread pool), a route table with path
 * parameters, bounded request bodies, request ids, the one JSON error shape, 405 with Allow,
 * and one JSON access-log line per request. This is the only place libmicrohttpd is seen.
 *
 * A request reaches its handler once, with the whole body read. The handler must send exactly one
 * reply (spk_http_reply*); a handler that returns without replying gets 500 internal.
 * Strings returned by the accessors live as long as the request. */
#ifndef SPOKE_HTTP_H
#define SPOKE_HTTP_H

#include <stddef.h>
#include <jansson.h>

#include "spoke/error.h"

struct spk_http_ctx;
struct spk_http_server;

typedef void (*spk_http_handler)(struct spk_http_ctx *ctx, void *app);

/* One row of a route table. Pattern segments are literals or "{name}"; the last segment may be
 * "{name...}" to capture the rest of the path (slashes included). Literal segments win over
 * parameters. GET routes also answer HEAD. */
struct spk_http_route {
    const char *method;
    const char *pattern;
    spk_http_handler handler;
};

/* Called once per finished request (for metrics); route is the pattern or "unmatched". */
typedef void (*spk_http_complete_fn)(void *app, const char *method, const char *route, int status,
                                     size_t bytes, double seconds);

struct spk_http_server_options {
    const char *name; /* "api" or "health": logged */
    const char *host; /* listen address, e.g. "127.0.0.1" or "0.0.0.0" */
    int port;         /* 0 picks a free port, see spk_http_server_port */
    int threads;
    size_t max_body_bytes; /* larger bodies get 413 too_large */
    const struct spk_http_route *routes;
    size_t nroutes;
    void *app;                        /* passed to handlers */
    spk_http_complete_fn on_complete; /* may be NULL */
    int access_log;                   /* 1: one JSON line per request */
};

/* Starts listening. Free with spk_http_server_destroy. */
struct spk_http_server *spk_http_server_create(const struct spk_http_server_options *opts,
                                               struct spk_error *err);
int spk_http_server_port(const struct spk_http_server *s);
/* Stops accepting new connections; requests in flight continue. */
void spk_http_server_quiesce(struct spk_http_server *s);
/* Requests started and not yet completed. */
unsigned spk_http_server_inflight(const struct spk_http_server *s);
/* Stops the daemon (waits for its threads) and frees everything. NULL-safe. */
void spk_http_server_destroy(struct spk_http_server *s);

/* Pure route matching, exposed for unit tests and used by the server.
 * Returns the index of the matching route or -1; *method_mismatch is set to 1 when the path
 * matches some route but not with this method (then allow gets "GET, HEAD, POST"…).
 * params receives up to SPK_HTTP_MAX_PARAMS decoded values (malloc'd, caller frees with
 * spk_http_params_release). A percent-encoding error or an encoded NUL is reported as -2. */
#define SPK_HTTP_MAX_PARAMS 8
struct spk_http_params {
    size_t n;
    const char *names[SPK_HTTP_MAX_PARAMS]; /* point into the route pattern table (not owned) */
    size_t name_lens[SPK_HTTP_MAX_PARAMS];
    char *values[SPK_HTTP_MAX_PARAMS];
};
int spk_http_route_match(const struct spk_http_route *routes, size_t nroutes, const char *method,
                         const char *raw_path, struct spk_http_params *params, int *method_mismatch,
                         char *allow, size_t allowsz);
void spk_http_params_release(struct spk_http_params *p);
/* Percent-decodes src[0..len) into a new string. -1 on a bad escape or a decoded NUL. */
int spk_http_pct_decode(const char *src, size_t len, char **out);

/* 1 if an If-None-Match header value lists etag (or "*"). Weak comparison, RFC 9110 §13.1.2.
 * Pure; header may be NULL. */
int spk_http_etag_matches(const char *header, const char *etag);

/* Request accessors. */
const char *spk_http_method(const struct spk_http_ctx *ctx);
const char *spk_http_path(const struct spk_http_ctx *ctx);                    /* raw, as received */
const char *spk_http_route(const struct spk_http_ctx *ctx);                   /* matched pattern */
const char *spk_http_param(const struct spk_http_ctx *ctx, const char *name); /* decoded */
/* Decoded query parameter, NULL if absent (first occurrence). */
const char *spk_http_query(const struct spk_http_ctx *ctx, const char *key);
const char *spk_http_header(const struct spk_http_ctx *ctx, const char *name);
const char *spk_http_body(const struct spk_http_ctx *ctx, size_t *len);
const char *spk_http_request_id(const struct spk_http_ctx *ctx);
/* Scheme://host of the request as the client saw it (Host header, X-Forwarded-Proto), for Link. */
const char *spk_http_base_url(struct spk_http_ctx *ctx);

/* Adds a response header; call before replying. */
void spk_http_add_header(struct spk_http_ctx *ctx, const char *name, const char *value);
/* Adds a field to this request's access-log line (value stolen). key must outlive the request
 * (a string literal). Setting a key again replaces its value. */
void spk_http_log_field(struct spk_http_ctx *ctx, const char *key, json_t *value);
/* The same for a string that outlives the request (a literal or a static table entry): no
 * allocation, for fields set on every request such as the cache tier. */
void spk_http_log_static(struct spk_http_ctx *ctx, const char *key, const char *value);

/* Replies. body is copied. */
void spk_http_reply(struct spk_http_ctx *ctx, int status, const char *content_type,
                    const void *body, size_t len);
/* Takes ownership of body (malloc'd). */
void spk_http_reply_owned(struct spk_http_ctx *ctx, int status, const char *content_type,
                          char *body, size_t len);
/* Sends body without copying it; release(arg) runs once the response is done with it (also
 * when the reply cannot be sent). For shared immutable buffers such as cache entries. */
void spk_http_reply_borrowed(struct spk_http_ctx *ctx, int status, const char *content_type,
                             const void *body, size_t len, void (*release)(void *arg), void *arg);
/* Compact JSON, application/json; charset=utf-8. json is stolen. */
void spk_http_reply_json(struct spk_http_ctx *ctx, int status, json_t *json);
/* {"error", "code", "request_id"} with the status of err->code; 503 adds Retry-After.
 * INTERNAL replies never carry err->msg (it is logged with the request id instead).
 * extra (stolen, may be NULL) adds fields such as "details". */
void spk_http_reply_error(struct spk_http_ctx *ctx, const struct spk_error *err, json_t *extra);
void spk_http_reply_errorf(struct spk_http_ctx *ctx, enum spk_errcode code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Builds the error body; exposed for unit tests. Returns a new object. */
json_t *spk_http_error_body(const struct spk_error *err, const char *request_id);

#endif
