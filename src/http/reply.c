/* Replies: headers, bodies (copied, owned or borrowed), JSON, and the one error shape with its
 * status table. A handler sends exactly one; http_reply_queue hands it to libmicrohttpd. */
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

    json_object_set_new(body, "error", http_json_text(msg[0] ? msg : spk_errcode_name(err->code)));
    json_object_set_new(body, "code", json_string(spk_errcode_name(err->code)));
    json_object_set_new(body, "request_id", request_id ? http_json_text(request_id) : json_null());
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
        json_object_set_new(f, "error", http_json_text(e.msg));
        json_object_set_new(f, "method", http_json_text(ctx->method));
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
enum MHD_Result http_reply_queue(struct spk_http_ctx *ctx)
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
