/* Content-addressed blob storage. Keys are SHA-256 hex digests of the content; backends lay
 * them out as proto-files/sha256/{h[0:2]}/{h[2:]}. Every get verifies the digest of the bytes
 * it returns. Backends are interchangeable behind struct spk_blob_ops. */
#ifndef SPOKE_BLOB_H
#define SPOKE_BLOB_H

#include <stddef.h>

struct spk_error;
struct spk_buf;

struct spk_blob_store;

struct spk_blob_ops {
    const char *name; /* "filesystem", "s3" */
    /* 1 exists, 0 absent, -1 error. */
    int (*exists)(struct spk_blob_store *s, const char *sha256, struct spk_error *err);
    /* Stores data under sha256 (the caller computed it). Atomic: readers never see a partial blob. */
    int (*put)(struct spk_blob_store *s, const char *sha256, const void *data, size_t len,
               struct spk_error *err);
    /* Appends the blob to out; NOT_FOUND if absent; INTERNAL if its digest does not match. */
    int (*get)(struct spk_blob_store *s, const char *sha256, size_t max_len, struct spk_buf *out,
               struct spk_error *err);
    /* Cheap liveness probe for readiness. */
    int (*check)(struct spk_blob_store *s, struct spk_error *err);
    void (*destroy)(struct spk_blob_store *s);
};

struct spk_blob_store {
    const struct spk_blob_ops *ops;
    void *impl;
};

/* Writes "proto-files/sha256/ab/cdef..." into out (at least 84 bytes). */
void spk_blob_key(const char *sha256, char *out, size_t outsz);

/* Filesystem backend rooted at root (created if missing). Free with spk_blob_store_destroy. */
struct spk_blob_store *spk_blob_fs_create(const char *root, struct spk_error *err);

static inline int spk_blob_exists(struct spk_blob_store *s, const char *h, struct spk_error *e)
{
    return s->ops->exists(s, h, e);
}
static inline int spk_blob_put(struct spk_blob_store *s, const char *h, const void *d, size_t n,
                               struct spk_error *e)
{
    return s->ops->put(s, h, d, n, e);
}
static inline int spk_blob_get(struct spk_blob_store *s, const char *h, size_t max,
                               struct spk_buf *out, struct spk_error *e)
{
    return s->ops->get(s, h, max, out, e);
}
static inline int spk_blob_check(struct spk_blob_store *s, struct spk_error *e)
{
    return s->ops->check(s, e);
}
void spk_blob_store_destroy(struct spk_blob_store *s);

#endif
