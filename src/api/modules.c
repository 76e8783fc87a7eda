/* /modules and /modules/{name}: create, list, show and update modules. */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "spoke/alloc.h"
#include "spoke/cache.h"
#include "spoke/error.h"
#include "spoke/validate.h"
#include "spoke/banned.h"

#define DESCRIPTION_MAX 4096
#define LIST_DEFAULT    100
#define LIST_MAX        1000
/* GET /modules/{name} embeds the newest versions; the full list is paginated on /versions. */
#define EMBEDDED_VERSIONS_MAX 1000

void api_modules_create(struct spk_http_ctx *ctx, void *appv)
{
    struct spk_app *app = appv;
    struct spk_error err = {0};
    struct spk_module m = {0};
    json_t *body = NULL;
    const char *name = NULL, *description = NULL;

    if (api_body_object(ctx, &body, &err))
        goto fail;
    json_t *jname = json_object_get(body, "name");
    if (!json_is_string(jname)) {
        spk_error_set(&err, SPK_E_INVALID, "name is required and must be a string");
        goto fail;
    }
    name = json_string_value(jname);
    if (strlen(name) != json_string_length(jname)) {
        spk_error_set(&err, SPK_E_INVALID, "invalid module name: contains a NUL character");
        goto fail;
    }
    if (spk_validate_module_name(name, &err) ||
        api_opt_string(body, "description", DESCRIPTION_MAX, &description, &err))
        goto fail;
    if (spk_store_module_create(app->db, name, description ? description : "", &m, &err)) {
        if (err.code == SPK_E_EXISTS)
            spk_error_set(&err, SPK_E_EXISTS, "module %s already exists", name);
        goto fail;
    }
    api_log_pool(ctx);
    spk_cache_invalidate_module(app->cache, name); /* the module lists now include it */
    char *location = spk_asprintf("/modules/%s", m.name);
    spk_http_add_header(ctx, "Location", location);
    free(location);
    spk_http_reply_json(ctx, 201, api_module_json(&m));
    goto out;
fail:
    api_fail(ctx, &err, NULL);
out:
    spk_module_release(&m);
    json_decref(body);
}

void api_modules_list(struct spk_http_ctx *ctx, void *appv)
{
    struct spk_app *app = appv;
    struct spk_error err = {0};
    struct spk_module *mods = NULL;
    struct spk_cache_value cv;
    struct spk_cache_ticket t;
    size_t n = 0;
    int64_t limit, offset;
    const char *prefix = spk_http_query(ctx, "prefix");
    char page[SPK_MODULE_NAME_MAX + 48];
    int more;

    if (api_query_int(ctx, "limit", LIST_DEFAULT, 1, LIST_MAX, &limit, &err) ||
        api_query_int(ctx, "offset", 0, 0, INT64_MAX / 2, &offset, &err)) {
        api_fail(ctx, &err, NULL);
        return;
    }
    if (prefix && strlen(prefix) > SPK_MODULE_NAME_MAX) {
        spk_error_set(&err, SPK_E_INVALID, "prefix is longer than %d characters",
                      SPK_MODULE_NAME_MAX);
        api_fail(ctx, &err, NULL);
        return;
    }
    snprintf(page, sizeof(page), "%lld:%lld:%s", (long long)limit, (long long)offset,
             prefix ? prefix : "");
    enum spk_cache_tier tier = spk_cache_list_get(app->cache, page, &cv, &t);
    api_log_cache(ctx, tier);
    if (tier != SPK_CACHE_MISS) {
        more = strcmp(cv.tag, "1") == 0;
    } else {
        if (spk_store_module_list(app->db, prefix, limit + 1, offset, &mods, &n, &err)) {
            api_fail(ctx, &err, NULL);
            return;
        }
        api_log_pool(ctx);
        more = n > (size_t)limit;
    }
    if (more) {
        char *extra = NULL;
        if (prefix && *prefix) {
            char *esc = api_query_escape(prefix);
            extra = spk_asprintf("&prefix=%s", esc);
            free(esc);
        }
        api_link_next(ctx, "/modules", limit, offset + limit, extra ? extra : "");
        free(extra);
    }
    if (tier != SPK_CACHE_MISS) {
        api_reply_cached(ctx, &cv);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n && i < (size_t)limit; i++)
        json_array_append_new(arr, api_module_json(&mods[i]));
    spk_modules_free(mods, n);
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (!text) {
        spk_error_set(&err, SPK_E_INTERNAL, "module list could not be encoded");
        api_fail(ctx, &err, NULL);
        return;
    }
    size_t len = strlen(text);
    spk_cache_list_put(app->cache, page, text, len, more ? "1" : "", &t);
    spk_http_reply_owned(ctx, 200, "application/json; charset=utf-8", text, len);
}

int api_module_doc_load(struct spk_http_ctx *ctx, struct spk_app *app, const char *name,
                        const struct spk_cache_ticket *t, char **text, size_t *len,
                        char latest[SPK_SEMVER_MAX_LEN + 1], struct spk_error *err)
{
    static const struct spk_cache_ticket no_fill;
    struct spk_module m = {0};
    struct spk_version_summary *vers = NULL;
    size_t n = 0;
    int flags = t->primary ? SPK_STORE_PRIMARY : 0, rc = -1;

    while (spk_store_module_get(app->db, name, flags, &m, err) ||
           spk_store_version_list(app->db, name, EMBEDDED_VERSIONS_MAX, 0, flags, &vers, &n, err)) {
        /* Primary down: the read pool answers, and the answer (maybe behind) is not cached. */
        if (flags && err->code == SPK_E_UNAVAILABLE) {
            spk_module_release(&m);
            flags = 0;
            t = &no_fill;
            continue;
        }
        goto out;
    }
    api_log_pool(ctx);
    json_t *j = api_module_json(&m);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, api_version_summary_json(&vers[i]));
    json_object_set_new(j, "versions", arr);
    *text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(j);
    if (!*text) {
        spk_error_set(err, SPK_E_INTERNAL, "module %s could not be encoded", name);
        goto out;
    }
    *len = strlen(*text);
    memcpy(latest, m.latest_version, sizeof(m.latest_version));
    spk_cache_doc_put(app->cache, SPK_CACHE_MODULE, name, "", *text, *len, latest, t);
    rc = 0;
out:
    free(vers);
    spk_module_release(&m);
    return rc;
}

/* Module metadata changes with every push and PATCH: served from the cache only while no write
 * has invalidated it (include/spoke/cache.h). */
void api_module_get(struct spk_http_ctx *ctx, void *appv)
{
    struct spk_app *app = appv;
    struct spk_cache_value cv;
    struct spk_cache_ticket t;
    struct spk_error err = {0};
    char latest[SPK_SEMVER_MAX_LEN + 1], *text = NULL;
    size_t len = 0;
    const char *name;

    if (api_module_param(ctx, &name, &err)) {
        api_fail(ctx, &err, NULL);
        return;
    }
    enum spk_cache_tier tier = spk_cache_doc_get(app->cache, SPK_CACHE_MODULE, name, "", &cv, &t);
    api_log_cache(ctx, tier);
    if (tier != SPK_CACHE_MISS) {
        api_reply_cached(ctx, &cv);
        return;
    }
    if (api_module_doc_load(ctx, app, name, &t, &text, &len, latest, &err)) {
        api_fail(ctx, &err, NULL);
        return;
    }
    spk_http_reply_owned(ctx, 200, "application/json; charset=utf-8", text, len);
}

void api_module_update(struct spk_http_ctx *ctx, void *appv)
{
    struct spk_app *app = appv;
    struct spk_error err = {0};
    struct spk_module m = {0};
    json_t *body = NULL;
    const char *name, *description = NULL;

    if (api_module_param(ctx, &name, &err) || api_body_object(ctx, &body, &err) ||
        api_opt_string(body, "description", DESCRIPTION_MAX, &description, &err) ||
        spk_store_module_update(app->db, name, description, &m, &err)) {
        api_fail(ctx, &err, NULL);
        goto out;
    }
    api_log_pool(ctx);
    spk_cache_invalidate_module(app->cache, name);
    spk_http_reply_json(ctx, 200, api_module_json(&m));
out:
    spk_module_release(&m);
    json_decref(body);
}
