/* What every blob backend shares: the key layout, the choice of backend from the configuration,
 * and destruction. The backends themselves live in fs.c and s3.c. */
#include <stdio.h>
#include <string.h>

#include "spoke/blob.h"
#include "spoke/config.h"
#include "spoke/error.h"
#include "spoke/sha256.h"
#include "spoke/metrics.h"
#include "spoke/banned.h"

void spk_blob_key(const char *sha256, char *out, size_t outsz)
{
    snprintf(out, outsz, SPK_BLOB_KEY_PREFIX "%.2s/%s", sha256, sha256 + 2);
}

int spk_blob_key_parse(const char *key, char out[65])
{
    const size_t plen = sizeof(SPK_BLOB_KEY_PREFIX) - 1;
    if (strncmp(key, SPK_BLOB_KEY_PREFIX, plen) != 0)
        return -1;
    const char *p = key + plen;
    if (strlen(p) != 2 + 1 + 62 || p[2] != '/')
        return -1;
    memcpy(out, p, 2);
    memcpy(out + 2, p + 3, 62);
    out[64] = '\0';
    return spk_sha256_hex_valid(out) ? 0 : -1;
}

struct spk_blob_store *spk_blob_store_create(const struct spk_config *cfg, int wait_ms,
                                             struct spk_error *err)
{
    if (!cfg->s3_endpoint)
        return spk_blob_fs_create(cfg->filesystem_root, err);
    struct spk_blob_s3_options o = {
        .endpoint = cfg->s3_endpoint,
        .bucket = cfg->s3_bucket,
        .region = cfg->s3_region,
        .access_key = cfg->s3_access_key,
        .secret_key = cfg->s3_secret_key,
        .path_style = cfg->s3_path_style,
        .timeout_ms = cfg->s3_timeout_ms,
        .max_retries = cfg->s3_max_retries,
        .health_cache_ms = cfg->s3_health_cache_ms,
    };
    struct spk_blob_store *s = spk_blob_s3_create(&o, err);
    if (s && spk_blob_s3_ensure_bucket(s, wait_ms, err)) {
        spk_blob_store_destroy(s);
        s = NULL;
    }
    return s;
}

void spk_blob_store_destroy(struct spk_blob_store *s)
{
    if (s)
        s->ops->destroy(s);
}

static const char *outcome(int rc, const struct spk_error *err)
{
    if (rc >= 0)
        return "ok";
    return err && err->code == SPK_E_NOT_FOUND ? "not_found" : "error";
}

int spk_blob_exists(struct spk_blob_store *s, const char *h, struct spk_error *e)
{
    int rc = s->ops->exists(s, h, e);
    spk_metrics_storage_op("head", rc == 0 ? "not_found" : outcome(rc, e));
    return rc;
}

int spk_blob_put(struct spk_blob_store *s, const char *h, const void *d, size_t n,
                 struct spk_error *e)
{
    int rc = s->ops->put(s, h, d, n, e);
    spk_metrics_storage_op("put", outcome(rc, e));
    return rc;
}

int spk_blob_get(struct spk_blob_store *s, const char *h, size_t max, struct spk_buf *out,
                 struct spk_error *e)
{
    int rc = s->ops->get(s, h, max, out, e);
    spk_metrics_storage_op("get", outcome(rc, e));
    return rc;
}

int spk_blob_check(struct spk_blob_store *s, struct spk_error *e)
{
    return s->ops->check(s, e);
}

int spk_blob_list(struct spk_blob_store *s, spk_blob_list_fn fn, void *ctx, struct spk_error *e)
{
    int rc = s->ops->list(s, fn, ctx, e);
    spk_metrics_storage_op("list", outcome(rc, e));
    return rc;
}

int spk_blob_remove(struct spk_blob_store *s, const char *h, struct spk_error *e)
{
    int rc = s->ops->remove(s, h, e);
    spk_metrics_storage_op("delete", outcome(rc, e));
    return rc;
}
