/* Content-addressed blob storage. Keys are SHA-256 hex digests of the content; backends lay
 * them out as proto-files/sha256/{h[0:2]}/{h[2:]}. Backends are interchangeable behind
 * struct spk_blob_ops: the filesystem (embedded default) and S3.
 *
 * Invariants every backend keeps:
 * - get verifies the SHA-256 of the bytes against the key; a mismatch is logged, counted as
 *   spoke_storage_operations_total{op="get",result="error"} and returned as INTERNAL, never
 *   served.
 * - A backend that cannot be reached answers UNAVAILABLE (503 with Retry-After upstream); backend
 *   text goes to the log, never into err->msg.
 * - Every operation records spk_metrics_storage_op(op, result).
 * - All operations are safe to call from many threads at once. */
#ifndef SPOKE_BLOB_H
#define SPOKE_BLOB_H

#include <stddef.h>
#include <stdint.h>

struct spk_error;
struct spk_buf;
struct spk_config;

struct spk_blob_store;

/* One object found by list. Strings live only for the duration of the callback. */
struct spk_blob_info {
    const char *key;    /* the backend key, e.g. "proto-files/sha256/ab/cd…" */
    const char *sha256; /* the blob's digest, or NULL when key is not a blob key (never deleted) */
    uint64_t size;
    int64_t mtime; /* last modification, Unix seconds */
};

/* Called once per object; a non-zero return stops the listing (list then returns 0). */
typedef int (*spk_blob_list_fn)(const struct spk_blob_info *info, void *ctx);

struct spk_blob_ops {
    const char *name; /* "filesystem", "s3" */
    /* 1 exists, 0 absent, -1 error. */
    int (*exists)(struct spk_blob_store *s, const char *sha256, struct spk_error *err);
    /* Stores data under sha256 (the caller computed it). Atomic: readers never see a partial blob.
     */
    int (*put)(struct spk_blob_store *s, const char *sha256, const void *data, size_t len,
               struct spk_error *err);
    /* Appends the blob to out; NOT_FOUND if absent; INTERNAL if its digest does not match. */
    int (*get)(struct spk_blob_store *s, const char *sha256, size_t max_len, struct spk_buf *out,
               struct spk_error *err);
    /* Liveness probe for readiness; backends may reuse a recent result. */
    int (*check)(struct spk_blob_store *s, struct spk_error *err);
    /* Every object under proto-files/, in no particular order. */
    int (*list)(struct spk_blob_store *s, spk_blob_list_fn fn, void *ctx, struct spk_error *err);
    /* Deletes one blob; deleting an absent blob succeeds. Only the garbage collector calls it. */
    int (*remove)(struct spk_blob_store *s, const char *sha256, struct spk_error *err);
    void (*destroy)(struct spk_blob_store *s);
};

struct spk_blob_store {
    const struct spk_blob_ops *ops;
    void *impl;
};

#define SPK_BLOB_KEY_PREFIX "proto-files/sha256/"
#define SPK_BLOB_KEY_MAX    85 /* strlen(prefix) 19 + "ab/" 3 + 62 + NUL */

/* Writes "proto-files/sha256/ab/cdef..." into out (at least SPK_BLOB_KEY_MAX bytes). */
void spk_blob_key(const char *sha256, char *out, size_t outsz);
/* The digest a key names, written to out (65 bytes): 0, or -1 when key is not a blob key. */
int spk_blob_key_parse(const char *key, char out[65]);

/* The backend the configuration selects: S3 when SPOKE_S3_ENDPOINT is set (its bucket is checked,
 * and created if missing, waiting up to wait_ms while S3 is unreachable), else the filesystem
 * under SPOKE_FILESYSTEM_ROOT. A credentials problem fails at once with a message naming
 * SPOKE_S3_ACCESS_KEY/SPOKE_S3_SECRET_KEY. Free with spk_blob_store_destroy. */
struct spk_blob_store *spk_blob_store_create(const struct spk_config *cfg, int wait_ms,
                                             struct spk_error *err);

/* Filesystem backend rooted at root (created if missing). Free with spk_blob_store_destroy. */
struct spk_blob_store *spk_blob_fs_create(const char *root, struct spk_error *err);

/* S3 backend. Strings are copied. Contacts nothing: call spk_blob_s3_ensure_bucket next. */
struct spk_blob_s3_options {
    const char *endpoint; /* http(s)://host[:port][/base-path] */
    const char *bucket;
    const char *region;
    const char *access_key; /* NULL: requests are not signed */
    const char *secret_key;
    int path_style;         /* 1: endpoint/bucket/key; 0: bucket.host/key */
    int timeout_ms;         /* per attempt */
    int max_retries;        /* extra attempts for idempotent requests */
    int health_cache_ms;    /* how long a readiness probe result is reused */
    const char *connect_to; /* tests only: curl CONNECT_TO entry routing every connection */
};
struct spk_blob_store *spk_blob_s3_create(const struct spk_blob_s3_options *o,
                                          struct spk_error *err);
/* Makes sure the bucket exists (creating it; a concurrent creator is fine). Retries while S3 is
 * unreachable for up to wait_ms. Credential and permission problems fail at once with INVALID. */
int spk_blob_s3_ensure_bucket(struct spk_blob_store *s, int wait_ms, struct spk_error *err);

/* The operations as the rest of the tree calls them. Each call through these is counted once,
 * whatever the backend, in spoke_storage_operations_total{op,result} (op head/put/get/list/
 * delete; result ok/not_found/error). */
int spk_blob_exists(struct spk_blob_store *s, const char *h, struct spk_error *e);
int spk_blob_put(struct spk_blob_store *s, const char *h, const void *d, size_t n,
                 struct spk_error *e);
int spk_blob_get(struct spk_blob_store *s, const char *h, size_t max, struct spk_buf *out,
                 struct spk_error *e);
int spk_blob_check(struct spk_blob_store *s, struct spk_error *e);
int spk_blob_list(struct spk_blob_store *s, spk_blob_list_fn fn, void *ctx, struct spk_error *e);
int spk_blob_remove(struct spk_blob_store *s, const char *h, struct spk_error *e);
void spk_blob_store_destroy(struct spk_blob_store *s);

#endif
