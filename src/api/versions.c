/* /modules/{name}/versions and /modules/{name}/versions/{version}: list versions and pull one
 * with its file contents. A concrete version is immutable, so its reply is cacheable forever and
 * its ETag is its digest; "latest" moves, so it is cached only briefly. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "spoke/alloc.h"
#include "spoke/blob.h"
#include "spoke/buf.h"
#include "spoke/config.h"
#include "spoke/error.h"
#include "spoke/cache.h"
#include "spoke/metrics.h"
#include "spoke/semver.h"
#include "spoke/banned.h"

#define LIST_DEFAULT    100
#define LIST_MAX        1000
#define CACHE_IMMUTABLE "public, max-age=31536000, immutable"
#define CACHE_LATEST    "public, max-age=10"

/* A version list changes with every push: pages are cached like module metadata, with the
 * "next page" flag as their tag (include/spoke/cache.h). */
void api_versions_list(struct spk_http_ctx *ctx, void *appv)
{
    struct spk_app *app = appv;
    struct spk_error err = {0};
    struct spk_version_summary *vers = NULL;
    struct spk_cache_value cv;
    struct spk_cache_ticket t;
    size_t n = 0, len;
    int64_t limit, offset;
    const char *name;
    char page[48];

    if (api_module_param(ctx, &name) ||
        api_query_int(ctx, "limit", LIST_DEFAULT, 1, LIST_MAX, &limit) ||
        api_query_int(ctx, "offset", 0, 0, INT64_MAX / 2, &offset))
        return;
    snprintf(page, sizeof(page), "%lld:%lld", (long long)limit, (long long)offset);
    enum spk_cache_tier tier =
        spk_cache_doc_get(app->cache, SPK_CACHE_VERSIONS, name, page, &cv, &t);
    api_log_cache(ctx, tier);
    int more;
    if (tier != SPK_CACHE_MISS) {
        more = strcmp(cv.tag, "1") == 0;
    } else {
        int rc = spk_store_version_list(app->db, name, limit + 1, offset,
                                        t.primary ? SPK_STORE_PRIMARY : 0, &vers, &n, &err);
        if (rc && t.primary && err.code == SPK_E_UNAVAILABLE) {
            /* Primary down: the read pool answers, and the answer (maybe behind) is not cached. */
            memset(&t, 0, sizeof(t));
            rc = spk_store_version_list(app->db, name, limit + 1, offset, 0, &vers, &n, &err);
        }
        if (rc) {
            api_fail(ctx, &err);
            return;
        }
        api_log_pool(ctx);
        more = n > (size_t)limit;
    }
    if (more) {
        char *path = spk_asprintf("/modules/%s/versions", name);
        api_link_next(ctx, path, limit, offset + limit, "");
        free(path);
    }
    if (tier != SPK_CACHE_MISS) {
        api_reply_cached(ctx, &cv);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n && i < (size_t)limit; i++)
        json_array_append_new(arr, api_version_summary_json(&vers[i]));
    free(vers);
    char *text = json_dumps(arr, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(arr);
    if (!text) {
        spk_http_reply_errorf(ctx, SPK_E_INTERNAL, "version list could not be encoded");
        return;
    }
    len = strlen(text);
    spk_cache_doc_put(app->cache, SPK_CACHE_VERSIONS, name, page, text, len, more ? "1" : "", &t);
    spk_http_reply_owned(ctx, 200, "application/json; charset=utf-8", text, len);
}

int api_version_load(struct spk_http_ctx *ctx, struct spk_app *app, const char *name,
                     struct spk_version *v, int *is_latest)
{
    struct spk_error err = {0};
    struct spk_semver sv;
    const char *param = spk_http_param(ctx, "version");

    *is_latest = param && strcmp(param, "latest") == 0;
    if (!*is_latest && spk_semver_parse(param, &sv, &err)) {
        spk_http_reply_error(ctx, &err, NULL);
        return -1;
    }
    if (spk_store_version_get(app->db, name, *is_latest ? "latest" : sv.canonical, 0, v, &err)) {
        api_fail(ctx, &err);
        return -1;
    }
    api_log_pool(ctx);
    return 0;
}

/* 1 if an If-None-Match header lists etag (or "*"). Weak comparison, per RFC 9110 §13.1.2. */
static int etag_matches(const char *header, const char *etag)
{
    if (!header)
        return 0;
    size_t elen = strlen(etag);
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return 1;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == elen && memcmp(p, etag, n) == 0)
            return 1;
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

int api_conditional(struct spk_http_ctx *ctx, const char *digest, int is_latest)
{
    char *etag = spk_asprintf("\"%s\"", digest);
    spk_http_add_header(ctx, "ETag", etag);
    spk_http_add_header(ctx, "Cache-Control", is_latest ? CACHE_LATEST : CACHE_IMMUTABLE);
    int fresh = etag_matches(spk_http_header(ctx, "If-None-Match"), etag);
    free(etag);
    if (fresh)
        spk_http_reply(ctx, 304, NULL, NULL, 0);
    return fresh;
}

int api_blob_read(struct spk_app *app, const struct spk_version_file *f, struct spk_buf *out,
                  struct spk_error *err)
{
    if (spk_blob_get(app->blobs, f->sha256, app->cfg->max_file_bytes, out, err) == 0)
        return 0;
    if (err->code == SPK_E_NOT_FOUND)
        err->code = SPK_E_INTERNAL;
    return -1;
}

json_t *api_version_render(struct spk_app *app, const struct spk_version *v, struct spk_error *err)
{
    struct spk_buf content = SPK_BUF_INIT;
    json_t *j = api_version_json(v);
    json_t *files = json_object_get(j, "files");

    for (size_t i = 0; i < v->nfiles; i++) {
        spk_buf_reset(&content);
        if (api_blob_read(app, &v->files[i], &content, err)) {
            json_decref(j);
            j = NULL;
            break;
        }
        json_object_set_new(json_array_get(files, i), "content",
                            json_stringn(content.data ? content.data : "", content.len));
    }
    spk_buf_release(&content);
    return j;
}

/* Renders a version with its contents. Returns a new string (free with free()) or NULL after
 * replying with the error. */
static char *render_with_contents(struct spk_http_ctx *ctx, struct spk_app *app,
                                  const struct spk_version *v, size_t *len)
{
    struct spk_error err = {0};
    json_t *j = api_version_render(app, v, &err);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

    json_decref(j);
    if (!j)
        spk_http_reply_error(ctx, &err, NULL);
    else if (!text)
        spk_http_reply_errorf(ctx, SPK_E_INTERNAL, "version %s@%s could not be encoded",
                              v->module_name, v->version);
    else
        *len = strlen(text);
    return text;
}

/* The slowest tier that took part in a reply: what the access log reports. */
static enum spk_cache_tier slowest(enum spk_cache_tier a, enum spk_cache_tier b)
{
    static const int rank[] = {[SPK_CACHE_MISS] = 0, [SPK_CACHE_REDIS] = 1, [SPK_CACHE_L1] = 2};
    return rank[a] <= rank[b] ? a : b;
}

/* Sends a version just read from the store (304 when the client's copy is current), rendered
 * with its contents, and keeps the rendering in the caches. */
static void reply_loaded(struct spk_http_ctx *ctx, struct spk_app *app, const char *name,
                         const struct spk_version *v, int is_latest)
{
    size_t len = 0;
    if (api_conditional(ctx, v->digest, is_latest))
        return;
    char *text = render_with_contents(ctx, app, v, &len);
    if (!text)
        return;
    spk_cache_version_put(app->cache, name, v->version, text, len, v->digest);
    spk_http_reply_owned(ctx, 200, "application/json; charset=utf-8", text, len);
}

/* Replies with concrete version `canonical` of name: L1 → Redis → Postgres + blobs, filling
 * back. A version never changes once pushed, so a cached copy is valid forever. */
static void serve_version(struct spk_http_ctx *ctx, struct spk_app *app, const char *name,
                          const char *canonical, int is_latest, enum spk_cache_tier before)
{
    struct spk_error err = {0};
    struct spk_version v = {0};
    struct spk_cache_value cv;

    enum spk_cache_tier tier = spk_cache_version_get(app->cache, name, canonical, &cv);
    if (tier != SPK_CACHE_MISS) {
        api_log_cache(ctx, slowest(before, tier));
        if (api_conditional(ctx, cv.tag, is_latest))
            spk_cache_value_release(&cv);
        else
            api_reply_cached(ctx, &cv);
        return;
    }
    api_log_cache(ctx, SPK_CACHE_MISS);
    if (spk_store_version_get(app->db, name, canonical, 0, &v, &err)) {
        api_fail(ctx, &err);
        goto out;
    }
    api_log_pool(ctx);
    reply_loaded(ctx, app, name, &v, is_latest);
out:
    spk_version_release(&v);
}

/* "latest" through the module document (whose tag is the latest version), so resolving it costs
 * no query while the document is cached. 0 with latest set (maybe ""), 1 when the cache cannot
 * help (nothing would be cached), -1 after replying with an error. */
static int resolve_latest(struct spk_http_ctx *ctx, struct spk_app *app, const char *name,
                          char latest[SPK_SEMVER_MAX_LEN + 1], enum spk_cache_tier *tier)
{
    struct spk_cache_value cv;
    struct spk_cache_ticket t;
    char *text = NULL;
    size_t len;

    *tier = spk_cache_doc_get(app->cache, SPK_CACHE_MODULE, name, "", &cv, &t);
    if (*tier != SPK_CACHE_MISS) {
        snprintf(latest, SPK_SEMVER_MAX_LEN + 1, "%s", cv.tag);
        spk_cache_value_release(&cv);
        return 0;
    }
    if (!spk_cache_doc_fillable(&t))
        return 1;
    if (api_module_doc_load(ctx, app, name, &t, &text, &len, latest))
        return -1;
    free(text);
    return 0;
}

/* The direct path for "latest" (one query) when the cache cannot resolve it. */
static void serve_latest_uncached(struct spk_http_ctx *ctx, struct spk_app *app, const char *name)
{
    struct spk_version v = {0};
    int is_latest;

    api_log_cache(ctx, SPK_CACHE_MISS);
    if (api_version_load(ctx, app, name, &v, &is_latest) == 0)
        reply_loaded(ctx, app, name, &v, 1);
    spk_version_release(&v);
}

void api_version_get(struct spk_http_ctx *ctx, void *appv)
{
    struct spk_app *app = appv;
    struct spk_error err = {0};
    struct spk_semver sv;
    const char *name, *param = spk_http_param(ctx, "version");
    char latest[SPK_SEMVER_MAX_LEN + 1];
    enum spk_cache_tier tier;

    if (api_module_param(ctx, &name))
        return;
    if (strcmp(param, "latest") != 0) {
        if (spk_semver_parse(param, &sv, &err)) {
            spk_http_reply_error(ctx, &err, NULL);
            return;
        }
        serve_version(ctx, app, name, sv.canonical, 0, SPK_CACHE_L1);
        return;
    }
    int rc = resolve_latest(ctx, app, name, latest, &tier);
    if (rc < 0)
        return;
    if (rc > 0 || !latest[0]) /* no version yet: the direct path words the 404 */
        serve_latest_uncached(ctx, app, name);
    else
        serve_version(ctx, app, name, latest, 1, tier);
}
