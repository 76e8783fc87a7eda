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

#define LIST_DEFAULT 100
#define LIST_MAX     1000

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

    if (api_module_param(ctx, &name, &err) ||
        api_query_int(ctx, "limit", LIST_DEFAULT, 1, LIST_MAX, &limit, &err) ||
        api_query_int(ctx, "offset", 0, 0, INT64_MAX / 2, &offset, &err)) {
        api_fail(ctx, &err, NULL);
        return;
    }
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
            api_fail(ctx, &err, NULL);
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
        spk_error_set(&err, SPK_E_INTERNAL, "version list could not be encoded");
        api_fail(ctx, &err, NULL);
        return;
    }
    len = strlen(text);
    spk_cache_doc_put(app->cache, SPK_CACHE_VERSIONS, name, page, text, len, more ? "1" : "", &t);
    spk_http_reply_owned(ctx, 200, "application/json; charset=utf-8", text, len);
}

/* The version with file contents, as served by GET …/versions/{version}: a new string. */
static char *render(const struct spk_loaded *l, size_t *len, struct spk_error *err)
{
    json_t *j = api_version_json(&l->meta);
    json_t *files = json_object_get(j, "files");
    for (size_t i = 0; i < l->meta.nfiles; i++)
        json_object_set_new(json_array_get(files, i), "content",
                            json_stringn(l->contents[i], l->lens[i]));
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!text) {
        spk_error_set(err, SPK_E_INTERNAL, "version %s could not be encoded", l->ref.text);
        return NULL;
    }
    *len = strlen(text);
    return text;
}

/* The slowest tier that took part in a reply: what the access log reports. */
static enum spk_cache_tier slowest(enum spk_cache_tier a, enum spk_cache_tier b)
{
    static const int rank[] = {[SPK_CACHE_MISS] = 0, [SPK_CACHE_REDIS] = 1, [SPK_CACHE_L1] = 2};
    return rank[a] <= rank[b] ? a : b;
}

/* Sends a version just loaded (304 when the client's copy is current) and keeps its rendering in
 * the caches. */
static void reply_loaded(struct spk_http_ctx *ctx, struct spk_app *app, const struct spk_loaded *l,
                         int is_latest)
{
    struct spk_error err = {0};
    size_t len = 0;
    if (api_etag(ctx, l->meta.digest, is_latest)) {
        spk_http_reply(ctx, 304, NULL, NULL, 0);
        return;
    }
    char *text = render(l, &len, &err);
    if (!text) {
        api_fail(ctx, &err, NULL);
        return;
    }
    spk_cache_version_put(app->cache, l->meta.module_name, l->meta.version, text, len,
                          l->meta.digest);
    spk_http_reply_owned(ctx, 200, "application/json; charset=utf-8", text, len);
}

/* Loads version (canonical or "latest") with its contents and replies with it. */
static void serve_loaded(struct spk_http_ctx *ctx, struct spk_app *app, const char *name,
                         const char *version, int is_latest)
{
    struct spk_error err = {0};
    struct spk_loaded l = {0};
    if (spk_registry_version_load(app, name, version, SPK_LOAD_CONTENTS, &l, &err))
        api_fail(ctx, &err, NULL);
    else {
        api_log_pool(ctx);
        reply_loaded(ctx, app, &l, is_latest);
    }
    spk_loaded_release(&l);
}

/* Replies with concrete version `canonical` of name: L1 → Redis → Postgres + blobs, filling
 * back. A version never changes once pushed, so a cached copy is valid forever. */
static void serve_version(struct spk_http_ctx *ctx, struct spk_app *app, const char *name,
                          const char *canonical, int is_latest, enum spk_cache_tier before)
{
    struct spk_cache_value cv;

    enum spk_cache_tier tier = spk_cache_version_get(app->cache, name, canonical, &cv);
    if (tier != SPK_CACHE_MISS) {
        api_log_cache(ctx, slowest(before, tier));
        if (api_etag(ctx, cv.tag, is_latest)) {
            spk_cache_value_release(&cv);
            spk_http_reply(ctx, 304, NULL, NULL, 0);
        } else {
            api_reply_cached(ctx, &cv);
        }
        return;
    }
    api_log_cache(ctx, SPK_CACHE_MISS);
    serve_loaded(ctx, app, name, canonical, is_latest);
}

/* "latest" through the module document (whose tag is the latest version), so resolving it costs
 * no query while the document is cached. 0 with latest set (maybe ""), 1 when the cache cannot
 * help (nothing would be cached), -1 with err. */
static int resolve_latest(struct spk_http_ctx *ctx, struct spk_app *app, const char *name,
                          char latest[SPK_SEMVER_MAX_LEN + 1], enum spk_cache_tier *tier,
                          struct spk_error *err)
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
    if (api_module_doc_load(ctx, app, name, &t, &text, &len, latest, err))
        return -1;
    free(text);
    return 0;
}

void api_version_get(struct spk_http_ctx *ctx, void *appv)
{
    struct spk_app *app = appv;
    struct spk_error err = {0};
    const char *name;
    char version[SPK_SEMVER_MAX_LEN + 1], latest[SPK_SEMVER_MAX_LEN + 1];
    enum spk_cache_tier tier;

    if (api_module_param(ctx, &name, &err) || api_version_param(ctx, version, &err)) {
        api_fail(ctx, &err, NULL);
        return;
    }
    if (strcmp(version, "latest") != 0) {
        serve_version(ctx, app, name, version, 0, SPK_CACHE_L1);
        return;
    }
    int rc = resolve_latest(ctx, app, name, latest, &tier, &err);
    if (rc < 0) {
        api_fail(ctx, &err, NULL);
    } else if (rc > 0 || !latest[0]) {
        /* The direct path (one query); with no version yet it words the 404. */
        api_log_cache(ctx, SPK_CACHE_MISS);
        serve_loaded(ctx, app, name, "latest", 1);
    } else {
        serve_version(ctx, app, name, latest, 1, tier);
    }
}
