/* The S3 blob backend (AWS S3, MinIO and compatible servers): blobs are objects in one bucket
 * under proto-files/sha256/ab/cdef…, checked for at start (and created when missing), read back
 * with their digest verified, listed with ListObjectsV2 for the garbage collector. Outages become
 * UNAVAILABLE so a push answers 503 and stores no version; readiness probes reuse a recent
 * result so they do not add load to a struggling S3. The wire protocol is in s3_client.c. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "s3_internal.h"
#include "spoke/alloc.h"
#include "spoke/blob.h"
#include "spoke/buf.h"
#include "spoke/error.h"
#include "spoke/log.h"
#include "spoke/metrics.h"
#include "spoke/sha256.h"
#include "spoke/time.h"
#include "spoke/banned.h"

#define PROBE_TIMEOUT_MS  2000
#define LIST_PAGE_BYTES   (16u * 1024 * 1024)
#define ERROR_REPLY_BYTES 65536

struct s3_store {
    struct spk_s3_client *client;
    char *endpoint; /* for messages; carries no credentials (checked by the client) */
    int timeout_ms;
    int health_cache_ms;

    pthread_mutex_t mu; /* guards the probe cache below */
    int64_t checked_us; /* monotonic time of the last probe; 0 = never */
    int probing;
    int healthy;
    char detail[128];
};

static struct s3_store *impl(struct spk_blob_store *s)
{
    return s->impl;
}

/* Credential problems S3 reports with 403; they deserve a message naming the variables. */
static int credentials_code(const char *code)
{
    static const char *const codes[] = {"SignatureDoesNotMatch", "InvalidAccessKeyId",
                                        "InvalidToken", "ExpiredToken", "InvalidSecurity"};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (strcmp(code, codes[i]) == 0)
            return 1;
    return 0;
}

/* A reply that is neither success nor "absent": logged with S3's code, answered as a domain
 * error (UNAVAILABLE for anything S3 or its configuration causes, INTERNAL for a request S3
 * found malformed, which is a bug here). */
static int fail_reply(const char *op, const char *sha256, const struct spk_s3_response *r,
                      struct spk_error *err)
{
    spk_logf(SPK_LOG_ERROR, NULL, "s3 %s %s: HTTP %ld %s", op, sha256 ? sha256 : "(bucket)",
             r->status, r->code[0] ? r->code : "");
    if (r->status == 400)
        return spk_error_set(err, SPK_E_INTERNAL, "blob store rejected the request");
    return spk_error_set(err, SPK_E_UNAVAILABLE, "blob store unavailable");
}

/* ---- objects ---- */

static int s3_exists(struct spk_blob_store *s, const char *sha256, struct spk_error *err)
{
    char key[SPK_BLOB_KEY_MAX];
    struct spk_s3_response r = {0};
    spk_blob_key(sha256, key, sizeof(key));
    struct spk_s3_request req = {.method = "HEAD", .key = key, .max_body = ERROR_REPLY_BYTES};
    int rc = spk_s3_perform(impl(s)->client, &req, &r, err);
    if (rc == 0) {
        if (r.status == 200)
            rc = 1;
        else if (r.status != 404)
            rc = fail_reply("HEAD", sha256, &r, err);
    }
    spk_s3_response_release(&r);
    return rc;
}

static int s3_put(struct spk_blob_store *s, const char *sha256, const void *data, size_t len,
                  struct spk_error *err)
{
    char key[SPK_BLOB_KEY_MAX];
    struct spk_s3_response r = {0};
    spk_blob_key(sha256, key, sizeof(key));
    /* Idempotent: the key is the content's digest, so a repeated PUT writes the same bytes. */
    struct spk_s3_request req = {
        .method = "PUT", .key = key, .body = data, .body_len = len, .max_body = ERROR_REPLY_BYTES};
    int rc = spk_s3_perform(impl(s)->client, &req, &r, err);
    if (rc == 0 && r.status != 200)
        rc = fail_reply("PUT", sha256, &r, err);
    spk_s3_response_release(&r);
    return rc;
}

static int s3_get(struct spk_blob_store *s, const char *sha256, size_t max_len, struct spk_buf *out,
                  struct spk_error *err)
{
    char key[SPK_BLOB_KEY_MAX];
    char actual[SPK_SHA256_HEX_LEN + 1];
    struct spk_s3_response r = {0};
    spk_blob_key(sha256, key, sizeof(key));
    struct spk_s3_request req = {.method = "GET",
                                 .key = key,
                                 .max_body =
                                     max_len > ERROR_REPLY_BYTES ? max_len : ERROR_REPLY_BYTES};
    int rc = spk_s3_perform(impl(s)->client, &req, &r, err);
    if (rc)
        goto out;
    if (r.status == 404) {
        spk_logf(SPK_LOG_ERROR, NULL, "blob %s is referenced but missing", sha256);
        rc = spk_error_set(err, SPK_E_NOT_FOUND, "blob %.12s not found", sha256);
        goto out;
    }
    if (r.status != 200) {
        rc = fail_reply("GET", sha256, &r, err);
        goto out;
    }
    if (r.body.len > max_len) {
        spk_logf(SPK_LOG_ERROR, NULL, "blob %s: size %zu over the limit", sha256, r.body.len);
        rc = spk_error_set(err, SPK_E_INTERNAL, "blob %.12s is corrupt", sha256);
        goto out;
    }
    spk_sha256_hex(r.body.data ? r.body.data : "", r.body.len, actual);
    if (strcmp(actual, sha256) != 0) {
        spk_logf(SPK_LOG_ERROR, NULL, "blob %s: content digest %s does not match its key", sha256,
                 actual);
        rc = spk_error_set(err, SPK_E_INTERNAL, "blob %.12s is corrupt", sha256);
        goto out;
    }
    spk_buf_append(out, r.body.data ? r.body.data : "", r.body.len);
out:
    spk_s3_response_release(&r);
    return rc;
}

static int s3_remove(struct spk_blob_store *s, const char *sha256, struct spk_error *err)
{
    char key[SPK_BLOB_KEY_MAX];
    struct spk_s3_response r = {0};
    spk_blob_key(sha256, key, sizeof(key));
    struct spk_s3_request req = {.method = "DELETE", .key = key, .max_body = ERROR_REPLY_BYTES};
    int rc = spk_s3_perform(impl(s)->client, &req, &r, err);
    if (rc == 0 && r.status != 204 && r.status != 200 && r.status != 404)
        rc = fail_reply("DELETE", sha256, &r, err);
    spk_s3_response_release(&r);
    return rc;
}

/* ListObjectsV2 over proto-files/, one page (up to 1000 keys) per request. */
static int s3_list(struct spk_blob_store *s, spk_blob_list_fn fn, void *ctx, struct spk_error *err)
{
    char *token = NULL;
    int rc = 0, stop = 0;
    do {
        struct spk_s3_param params[4] = {
            {"list-type", "2"}, {"prefix", "proto-files/"}, {"max-keys", "1000"}, {NULL, NULL}};
        size_t np = 3;
        if (token)
            params[np++] = (struct spk_s3_param){"continuation-token", token};
        struct spk_s3_request req = {
            .method = "GET", .params = params, .nparams = np, .max_body = LIST_PAGE_BYTES};
        struct spk_s3_response r = {0};
        struct spk_s3_object *objs = NULL;
        size_t n = 0;
        int truncated = 0;
        char *next = NULL;
        rc = spk_s3_perform(impl(s)->client, &req, &r, err);
        if (rc == 0 && r.status != 200)
            rc = fail_reply("LIST", NULL, &r, err);
        if (rc == 0 && spk_s3_list_parse(r.body.data ? r.body.data : "", r.body.len, &objs, &n,
                                         &truncated, &next)) {
            spk_logf(SPK_LOG_ERROR, NULL, "s3 LIST: unreadable ListObjectsV2 reply");
            rc = spk_error_set(err, SPK_E_INTERNAL, "blob store listing unreadable");
        }
        for (size_t i = 0; rc == 0 && i < n && !stop; i++) {
            char sha[65];
            struct spk_blob_info info = {
                .key = objs[i].key,
                .sha256 = spk_blob_key_parse(objs[i].key, sha) == 0 ? sha : NULL,
                .size = objs[i].size,
                .mtime = objs[i].mtime,
            };
            stop = fn(&info, ctx) != 0;
        }
        spk_s3_objects_free(objs, n);
        spk_s3_response_release(&r);
        free(token);
        token = truncated && rc == 0 ? next : NULL;
        if (token != next)
            free(next);
    } while (token && !stop);
    free(token);
    return rc;
}

/* ---- readiness ---- */

/* One HEAD of the bucket, short and without retries. */
static int probe(struct s3_store *st, char *detail, size_t detailsz)
{
    struct spk_error err = {0};
    struct spk_s3_response r = {0};
    int timeout = st->timeout_ms < PROBE_TIMEOUT_MS ? st->timeout_ms : PROBE_TIMEOUT_MS;
    struct spk_s3_request req = {.method = "HEAD",
                                 .max_body = ERROR_REPLY_BYTES,
                                 .attempts = 1,
                                 .timeout_ms = timeout,
                                 .quiet = 1};
    int ok = 0;
    if (spk_s3_perform(st->client, &req, &r, &err))
        snprintf(detail, detailsz, "s3 unreachable");
    else if (r.status == 200)
        ok = 1;
    else if (r.status == 404)
        snprintf(detail, detailsz, "s3 bucket %s does not exist", spk_s3_client_bucket(st->client));
    else
        snprintf(detail, detailsz, "s3 answered HTTP %ld", r.status);
    spk_metrics_storage_op("head", ok ? "ok" : "error");
    spk_s3_response_release(&r);
    return ok;
}

static int s3_check(struct spk_blob_store *s, struct spk_error *err)
{
    struct s3_store *st = impl(s);
    char detail[sizeof(st->detail)];
    int64_t now = spk_time_mono_us();

    pthread_mutex_lock(&st->mu);
    int fresh = st->checked_us && now - st->checked_us < (int64_t)st->health_cache_ms * 1000;
    if (fresh || (st->checked_us && st->probing)) {
        /* Recent enough, or another probe is under way: its predecessor's answer stands. */
        int healthy = st->healthy;
        memcpy(detail, st->detail, sizeof(detail));
        pthread_mutex_unlock(&st->mu);
        return healthy ? 0 : spk_error_set(err, SPK_E_UNAVAILABLE, "%s", detail);
    }
    st->probing = 1;
    pthread_mutex_unlock(&st->mu);

    detail[0] = '\0';
    int healthy = probe(st, detail, sizeof(detail));

    pthread_mutex_lock(&st->mu);
    /* Logged on changes only: probes come every second or so. */
    int changed = st->checked_us ? healthy != st->healthy : !healthy;
    st->healthy = healthy;
    memcpy(st->detail, detail, sizeof(detail));
    st->checked_us = spk_time_mono_us();
    st->probing = 0;
    pthread_mutex_unlock(&st->mu);
    if (changed && healthy)
        spk_logf(SPK_LOG_INFO, NULL, "s3 reachable again");
    else if (changed)
        spk_log_json(SPK_LOG_WARN, NULL, "s3 not ready", json_pack("{s:s}", "detail", detail));
    return healthy ? 0 : spk_error_set(err, SPK_E_UNAVAILABLE, "%s", detail);
}

/* ---- the bucket at start ---- */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* PUT bucket; a region other than us-east-1 must be named in the body. */
static int create_bucket(struct s3_store *st, struct spk_s3_response *r, struct spk_error *err)
{
    const char *region = spk_s3_client_region(st->client);
    char *body = NULL;
    if (strcmp(region, "us-east-1") != 0)
        body = spk_asprintf("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/"
                            "2006-03-01/\"><LocationConstraint>%s</LocationConstraint>"
                            "</CreateBucketConfiguration>",
                            region);
    struct spk_s3_request req = {.method = "PUT",
                                 .body = body,
                                 .body_len = body ? strlen(body) : 0,
                                 .max_body = ERROR_REPLY_BYTES,
                                 .attempts = 1};
    int rc = spk_s3_perform(st->client, &req, r, err);
    spk_metrics_storage_op("put",
                           rc == 0 && (r->status == 200 || r->status == 409) ? "ok" : "error");
    free(body);
    return rc;
}

/* A reply to the bucket check that ends the start: the message names what to fix. */
static int bucket_refused(struct s3_store *st, const struct spk_s3_response *r,
                          struct spk_error *err)
{
    const char *bucket = spk_s3_client_bucket(st->client);
    if (r->status == 403 && credentials_code(r->code))
        return spk_error_set(
            err, SPK_E_INVALID,
            "S3 rejected the credentials (SPOKE_S3_ACCESS_KEY/SPOKE_S3_SECRET_KEY): "
            "%s",
            r->code);
    if (r->code[0] && strcmp(r->code, "AuthorizationHeaderMalformed") == 0)
        return spk_error_set(err, SPK_E_INVALID,
                             "S3 rejected the signature's region (SPOKE_S3_REGION=%s): %s",
                             spk_s3_client_region(st->client), r->code);
    if (r->status == 403)
        return spk_error_set(err, SPK_E_INVALID,
                             "S3 denied access to bucket %s (%s): check what SPOKE_S3_ACCESS_KEY "
                             "may do",
                             bucket, r->code[0] ? r->code : "HTTP 403");
    if (r->status == 301 || r->status == 307)
        return spk_error_set(err, SPK_E_INVALID,
                             "S3 redirected bucket %s (%s): check SPOKE_S3_ENDPOINT and "
                             "SPOKE_S3_REGION",
                             bucket, r->code[0] ? r->code : "redirect");
    return spk_error_set(err, SPK_E_INVALID, "S3 answered HTTP %ld (%s) for bucket %s at %s",
                         r->status, r->code[0] ? r->code : "no code", bucket, st->endpoint);
}

int spk_blob_s3_ensure_bucket(struct spk_blob_store *s, int wait_ms, struct spk_error *err)
{
    struct s3_store *st = impl(s);
    const char *bucket = spk_s3_client_bucket(st->client);
    int64_t deadline = spk_time_mono_us() + (int64_t)wait_ms * 1000;
    int backoff = 100, creates = 0;

    for (;;) {
        /* A one-key listing, not HEAD: its error reply names the problem (HEAD has no body). */
        struct spk_s3_param params[] = {{"list-type", "2"}, {"max-keys", "1"}};
        struct spk_s3_request req = {.method = "GET",
                                     .params = params,
                                     .nparams = 2,
                                     .max_body = LIST_PAGE_BYTES,
                                     .attempts = 1};
        struct spk_s3_response r = {0};
        struct spk_error perr = {0};
        int rc = spk_s3_perform(st->client, &req, &r, &perr);
        spk_metrics_storage_op("list", rc == 0 && r.status == 200 ? "ok" : "error");
        int transient = rc != 0 || r.status >= 500 || r.status == 429;
        if (!transient && r.status == 200) {
            spk_s3_response_release(&r);
            /* This answer is also the readiness probe's for the next SPOKE_S3_HEALTH_CACHE_MS:
             * the first /health/ready need not ask again (a slow bucket probe, such as a test
             * server's that lists the bucket, held readiness back by hundreds of ms). */
            pthread_mutex_lock(&st->mu);
            st->healthy = 1;
            st->detail[0] = '\0';
            st->checked_us = spk_time_mono_us();
            pthread_mutex_unlock(&st->mu);
            spk_log_json(SPK_LOG_INFO, NULL, "s3 bucket ready",
                         json_pack("{s:s, s:s}", "bucket", bucket, "endpoint", st->endpoint));
            return 0;
        }
        if (!transient && r.status == 404 && creates < 3) {
            creates++;
            spk_s3_response_release(&r);
            spk_logf(SPK_LOG_INFO, NULL, "s3 bucket %s does not exist, creating it", bucket);
            /* 409 means another instance won the race; either way the next check decides. */
            if (create_bucket(st, &r, &perr) == 0 && r.status != 200 && r.status != 409) {
                int failed = bucket_refused(st, &r, err);
                spk_s3_response_release(&r);
                return failed;
            }
            spk_s3_response_release(&r);
            continue;
        }
        if (!transient) {
            int failed = bucket_refused(st, &r, err);
            spk_s3_response_release(&r);
            return failed;
        }
        spk_s3_response_release(&r);
        if (spk_time_mono_us() + (int64_t)backoff * 1000 > deadline)
            return spk_error_set(err, SPK_E_UNAVAILABLE,
                                 "S3 at SPOKE_S3_ENDPOINT=%s is not reachable (bucket %s)",
                                 st->endpoint, bucket);
        spk_logf(SPK_LOG_WARN, NULL, "s3 not reachable at %s, retrying in %d ms", st->endpoint,
                 backoff);
        sleep_ms(backoff);
        backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
    }
}

/* ---- lifecycle ---- */

static void s3_destroy(struct spk_blob_store *s)
{
    struct s3_store *st = impl(s);
    spk_s3_client_destroy(st->client);
    pthread_mutex_destroy(&st->mu);
    free(st->endpoint);
    free(st);
    free(s);
}

static const struct spk_blob_ops s3_ops = {
    .name = "s3",
    .exists = s3_exists,
    .put = s3_put,
    .get = s3_get,
    .check = s3_check,
    .list = s3_list,
    .remove = s3_remove,
    .destroy = s3_destroy,
};

struct spk_blob_store *spk_blob_s3_create(const struct spk_blob_s3_options *o,
                                          struct spk_error *err)
{
    struct spk_s3_client *client = spk_s3_client_create(o, err);
    if (!client)
        return NULL;
    struct s3_store *st = spk_calloc(1, sizeof(*st));
    st->client = client;
    st->endpoint = spk_strdup(o->endpoint);
    st->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 5000;
    st->health_cache_ms = o->health_cache_ms >= 0 ? o->health_cache_ms : 0;
    pthread_mutex_init(&st->mu, NULL);
    struct spk_blob_store *s = spk_calloc(1, sizeof(*s));
    s->ops = &s3_ops;
    s->impl = st;
    return s;
}
