/* Private to src/blob: the S3 REST client under the S3 blob backend. s3_client.c turns one
 * request (method, key, query parameters, body) into a signed libcurl transfer over a pool of
 * kept-alive connections, with bounded retries; s3_xml.c reads the few XML replies S3 sends.
 * Nothing outside src/blob (and the unit tests) includes this file.
 *
 * Signing is libcurl's CURLOPT_AWS_SIGV4, with its two gaps filled here: every request carries
 * x-amz-content-sha256 (which curl then signs), and the query string is passed already in AWS
 * canonical form (sorted by name, RFC 3986 unreserved characters kept, the rest %XX). Object
 * keys are URI-encoded the same way, keeping '/'. */
#ifndef SPOKE_BLOB_S3_INTERNAL_H
#define SPOKE_BLOB_S3_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "spoke/buf.h"

struct spk_error;
struct spk_blob_s3_options;

struct spk_s3_client;

struct spk_s3_param {
    const char *name;
    const char *value; /* "" for a bare parameter such as "delete" */
};

/* Appends s[0..n) AWS-URI-encoded: A-Z a-z 0-9 - _ . ~ kept, '/' kept when keep_slash, every
 * other byte as %XX (upper-case hex). */
void spk_s3_uri_encode(struct spk_buf *out, const char *s, size_t n, int keep_slash);
/* The canonical query string: parameters sorted by encoded name (then value), "name=value"
 * joined by '&'. Returns a new string (free with free()); "" for none. */
char *spk_s3_query_canonical(const struct spk_s3_param *params, size_t n);

/* Creates a client (options copied; nothing contacted). NULL with INVALID when the endpoint is
 * malformed or virtual-host addressing cannot work with it (an IP address). */
struct spk_s3_client *spk_s3_client_create(const struct spk_blob_s3_options *o,
                                           struct spk_error *err);
void spk_s3_client_destroy(struct spk_s3_client *c);
const char *spk_s3_client_bucket(const struct spk_s3_client *c);
const char *spk_s3_client_region(const struct spk_s3_client *c);

/* The URL of key in the bucket (key NULL: the bucket itself), with an already canonical query
 * (NULL or "" for none). Path-style: <endpoint>/<bucket>/<key>; virtual-host:
 * <scheme>://<bucket>.<host>[:port]/<key>. Returns a new string. */
char *spk_s3_url(const struct spk_s3_client *c, const char *key, const char *query);

struct spk_s3_request {
    const char *method; /* GET, HEAD, PUT, DELETE */
    const char *key;    /* NULL: the bucket */
    const struct spk_s3_param *params;
    size_t nparams;
    const void *body; /* PUT only */
    size_t body_len;
    const char *const *headers; /* extra "Name: value" lines (signed), NULL-terminated */
    size_t max_body;            /* a longer response body fails the request (INTERNAL) */
    int attempts;               /* 0: 1 + max_retries (idempotent); 1: no retry */
    int timeout_ms;             /* 0: the client's */
    int quiet; /* log a failure at debug level (probes report state changes instead) */
};

struct spk_s3_response {
    long status;            /* HTTP status of the last attempt; 0 when nothing answered */
    struct spk_buf body;    /* release with spk_s3_response_release */
    char code[64];          /* S3 error <Code> of a failed reply, "" otherwise */
    int64_t content_length; /* -1 when absent */
};
void spk_s3_response_release(struct spk_s3_response *r);

/* Performs req, retrying transport failures, 5xx and 429/SlowDown with jittered exponential
 * backoff up to req->attempts times. Returns 0 when an HTTP reply arrived (any status; the
 * caller judges it), -1 with UNAVAILABLE when S3 could not be reached, INTERNAL when the reply
 * body exceeded max_body. The last transport error is logged, without credentials. */
int spk_s3_perform(struct spk_s3_client *c, const struct spk_s3_request *req,
                   struct spk_s3_response *resp, struct spk_error *err);

/* ---- XML (s3_xml.c) ---- */

/* Finds the first <tag>…</tag> at or after *pos within [text, text+len) and appends its text,
 * entity-decoded, to out. Advances *pos past the closing tag. Returns 0, or -1 when absent.
 * Enough for S3's replies: no attributes on the tags read, no CDATA, no nesting of the same tag. */
int spk_s3_xml_find(const char *text, size_t len, size_t *pos, const char *tag,
                    struct spk_buf *out);

struct spk_s3_object {
    char *key;
    uint64_t size;
    int64_t mtime; /* Unix seconds; 0 when LastModified is absent or unreadable */
};

/* Parses a ListObjectsV2 reply: the objects (new array, free with spk_s3_objects_free), whether
 * it is truncated, and the continuation token (new string or NULL). 0, or -1 when malformed. */
int spk_s3_list_parse(const char *xml, size_t len, struct spk_s3_object **objects, size_t *n,
                      int *truncated, char **next_token);
void spk_s3_objects_free(struct spk_s3_object *objects, size_t n);

/* "2026-01-02T03:04:05.000Z" → Unix seconds; -1 when malformed. */
int64_t spk_s3_parse_time(const char *s);

#endif
