/* …/versions/{version}/dependencies (direct, or ?transitive=true for the closure in topological
 * order: every version after all of its own dependencies) and …/versions/{version}/dependents
 * (reverse, paginated). Dependencies must exist before a version can name them, and versions
 * never change, so the graph has no cycles. */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "spoke/alloc.h"
#include "spoke/error.h"
#include "spoke/banned.h"

#define LIST_DEFAULT 100
#define LIST_MAX     1000

static json_t *ref_json(const char *text)
{
    struct spk_ref ref;
    if (spk_ref_parse(text, &ref, NULL))
        return json_pack("{s:s, s:s}", "module_name", text, "version", "");
    return json_pack("{s:s, s:s}", "module_name", ref.module, "version", ref.version);
}

void api_version_dependencies(struct spk_http_ctx *ctx, void *appv)
{
    struct spk_app *app = appv;
    struct spk_error err = {0};
    struct spk_loaded l = {0};
    struct spk_closure c = {0};
    const char *name;
    char version[SPK_SEMVER_MAX_LEN + 1];
    int transitive;

    if (api_module_param(ctx, &name, &err) || api_version_param(ctx, version, &err) ||
        api_query_bool(ctx, "transitive", 0, &transitive, &err) ||
        spk_registry_version_load(app, name, version, 0, &l, &err))
        goto fail;
    api_log_pool(ctx);
    json_t *order = json_array();
    if (transitive) {
        if (spk_registry_closure(app, l.meta.deps, l.meta.ndeps, 0, &c, &err)) {
            json_decref(order);
            goto fail;
        }
        for (size_t i = 0; i < c.n; i++)
            json_array_append_new(order, ref_json(c.v[i].ref.text));
    } else {
        for (size_t i = 0; i < l.meta.ndeps; i++)
            json_array_append_new(order, ref_json(l.meta.deps[i]));
    }
    spk_http_reply_json(ctx, 200, order);
    goto out;
fail:
    if (err.code == SPK_E_INVALID_SCHEMA) /* a recorded closure is neither missing nor too big */
        err.code = SPK_E_INTERNAL;
    api_fail(ctx, &err, NULL);
out:
    spk_closure_release(&c);
    spk_loaded_release(&l);
}

void api_version_dependents(struct spk_http_ctx *ctx, void *appv)
{
    struct spk_app *app = appv;
    struct spk_error err = {0};
    struct spk_loaded l = {0};
    char **refs = NULL, version[SPK_SEMVER_MAX_LEN + 1];
    size_t n = 0;
    int64_t limit, offset;
    const char *name;

    if (api_module_param(ctx, &name, &err) ||
        api_query_int(ctx, "limit", LIST_DEFAULT, 1, LIST_MAX, &limit, &err) ||
        api_query_int(ctx, "offset", 0, 0, INT64_MAX / 2, &offset, &err) ||
        api_version_param(ctx, version, &err) ||
        spk_registry_version_load(app, name, version, 0, &l, &err) ||
        spk_store_version_dependents(app->db, name, l.meta.version, limit + 1, offset, &refs, &n,
                                     &err)) {
        api_fail(ctx, &err, NULL);
        goto out;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n && i < (size_t)limit; i++)
        json_array_append_new(arr, ref_json(refs[i]));
    if (n > (size_t)limit) {
        char *path = spk_asprintf("/modules/%s/versions/%s/dependents", name, l.meta.version);
        api_link_next(ctx, path, limit, offset + limit, "");
        free(path);
    }
    spk_http_reply_json(ctx, 200, arr);
out:
    for (size_t i = 0; i < n; i++)
        free(refs[i]);
    free(refs);
    spk_loaded_release(&l);
}
