/* Private to src/http: the server and per-request state shared by server.c (request flow,
 * access log, daemon), request.c (what handlers read) and reply.c (what handlers send). Nothing
 * outside src/http includes this file, so libmicrohttpd stays inside the directory. */
#ifndef SPOKE_HTTP_INTERNAL_H
#define SPOKE_HTTP_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "spoke/buf.h"
#include "spoke/http.h"

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

/* A JSON string for text that may not be UTF-8 (non-ASCII bytes become '?'). request.c */
json_t *http_json_text(const char *s);
/* Per-request state: created on the first access-handler call, destroyed on completion. */
struct spk_http_ctx *http_request_create(struct spk_http_server *srv, struct MHD_Connection *conn,
                                         const char *url, const char *method);
void http_request_destroy(struct spk_http_ctx *ctx);
/* Queues the reply the handler set, substituting 500 if it gave none. reply.c */
enum MHD_Result http_reply_queue(struct spk_http_ctx *ctx);

#endif
