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

#define CLOSURE_MAX  256
#define LIST_DEFAULT 100
#define LIST_MAX     1000

static json_t *ref_json(const char *ref)
{
    const char *at = strrchr(ref, '@');
    char *module = spk_strndup(ref, at ? (size_t)(at - ref) : strlen(ref));
    json_t *j = json_pack("{s:s, s:s}", "module_name", module, "version", at ? at + 1 : "");
    free(module);
    return j;
}

struct walk {
    struct spk_app *app;
    char **seen;
    size_t nseen;
    json_t *order;
};

static int seen(struct walk *w, const char *ref)
{
    for (size_t i = 0; i < w->nseen; i++)
        if (strcmp(w->seen[i], ref) == 0)
            return 1;
    w->seen = spk_realloc(w->seen, (w->nseen + 1) * sizeof(*w->seen));
    w->seen[w->nseen++] = spk_strdup(ref);
    return 0;
}

/* Depth-first, appending a version after its dependencies (post-order). */
static int visit(struct walk *w, const char *ref, struct spk_error *err)
{
    if (seen(w, ref))
        return 0;
    if (w->nseen > CLOSURE_MAX)
        return spk_error_set(err, SPK_E_INTERNAL, "dependency closure over %d versions",
                             CLOSURE_MAX);
    const char *at = strrchr(ref, '@');
    char *module = spk_strndup(ref, (size_t)(at - ref));
    struct spk_version v = {0};
    int rc = spk_store_version_get(w->app->db, module, at + 1, 0, &v, err);
    free(module);
    if (rc == 0) {
        for (size_t i = 0; i < v.ndeps && rc == 0; i++)
            rc = visit(w, v.deps[i], err);
        if (rc == 0)
            json_array_append_new(w->order, ref_json(ref));
    } else if (err->code == SPK_E_NOT_FOUND) {
        spk_error_set(err, SPK_E_INTERNAL, "dependency %s is recorded but missing", ref);
    }
    spk_version_release(&v);
    return rc;
}

void api_version_dependencies(struct spk_http_ctx *ctx, void *appv)
{
    struct spk_app *app = appv;
    struct spk_error err = {0};
    struct spk_version v = {0};
    struct walk w = {.app = app, .order = json_array()};
    const char *name, *transitive = spk_http_query(ctx, "transitive");
    int is_latest;

    if (api_module_param(ctx, &name) || api_version_load(ctx, app, name, &v, &is_latest))
        goto out;
    if (transitive && (strcmp(transitive, "true") == 0 || strcmp(transitive, "1") == 0)) {
        for (size_t i = 0; i < v.ndeps; i++) {
            if (visit(&w, v.deps[i], &err)) {
                api_fail(ctx, &err);
                goto out;
            }
        }
    } else if (transitive && strcmp(transitive, "false") != 0 && strcmp(transitive, "0") != 0) {
        spk_http_reply_errorf(ctx, SPK_E_INVALID, "transitive must be true or false");
        goto out;
    } else {
        for (size_t i = 0; i < v.ndeps; i++)
            json_array_append_new(w.order, ref_json(v.deps[i]));
    }
    spk_http_reply_json(ctx, 200, w.order);
    w.order = NULL;
out:
    json_decref(w.order);
    for (size_t i = 0; i < w.nseen; i++)
        free(w.seen[i]);
    free(w.seen);
    spk_version_release(&v);
}

void api_version_dependents(struct spk_http_ctx *ctx, void *appv)
{
    struct spk_app *app = appv;
    struct spk_error err = {0};
    struct spk_version v = {0};
    char **refs = NULL;
    size_t n = 0;
    int64_t limit, offset;
    const char *name;
    int is_latest;

    if (api_module_param(ctx, &name) ||
        api_query_int(ctx, "limit", LIST_DEFAULT, 1, LIST_MAX, &limit) ||
        api_query_int(ctx, "offset", 0, 0, INT64_MAX / 2, &offset) ||
        api_version_load(ctx, app, name, &v, &is_latest))
        goto out;
    if (spk_store_version_dependents(app->db, name, v.version, limit + 1, offset, &refs, &n,
                                     &err)) {
        api_fail(ctx, &err);
        goto out;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n && i < (size_t)limit; i++)
        json_array_append_new(arr, ref_json(refs[i]));
    if (n > (size_t)limit) {
        char *path = spk_asprintf("/modules/%s/versions/%s/dependents", name, v.version);
        api_link_next(ctx, path, limit, offset + limit, "");
        free(path);
    }
    spk_http_reply_json(ctx, 200, arr);
out:
    for (size_t i = 0; i < n; i++)
        free(refs[i]);
    free(refs);
    spk_version_release(&v);
}
