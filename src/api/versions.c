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
#include "spoke/l1.h"
#include "spoke/semver.h"
#include "spoke/banned.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000
#define CACHE_IMMUTABLE "public, max-age=31536000, immutable"
#define CACHE_LATEST "public, max-age=10"

void api_versions_list(struct spk_http_ctx *ctx, void *appv)
{
    struct spk_app *app = appv;
    struct spk_error err = {0};
    struct spk_version_summary *vers = NULL;
    size_t n = 0;
    int64_t limit, offset;
    const char *name;

    if (api_module_param(ctx, &name) ||
        api_query_int(ctx, "limit", LIST_DEFAULT, 1, LIST_MAX, &limit) ||
        api_query_int(ctx, "offset", 0, 0, INT64_MAX / 2, &offset))
        return;
    if (spk_store_version_list(app->db, name, limit + 1, offset, &vers, &n, &err)) {
        api_fail(ctx, &err);
        return;
    }
    api_log_pool(ctx);
    json_t *arr = json_array();
    for (size_t i = 0; i < n && i < (size_t)limit; i++)
        json_array_append_new(arr, api_version_summary_json(&vers[i]));
    if (n > (size_t)limit) {
        char *path = spk_asprintf("/modules/%s/versions", name);
        api_link_next(ctx, path, limit, offset + limit, "");
        free(path);
    }
    free(vers);
    spk_http_reply_json(ctx, 200, arr);
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

static void release_l1_entry(void *e)
{
    spk_l1_entry_release(e);
}

/* Serves a concrete version from the in-process cache. A version never changes once pushed, so
 * an entry is valid for as long as it stays in the cache. Returns 1 when it replied. */
static int serve_cached(struct spk_http_ctx *ctx, struct spk_app *app, const char *key)
{
    const struct spk_l1_entry *e = spk_l1_get(app->l1, key);
    if (!e)
        return 0;
    spk_http_log_field(ctx, "cache", json_string("l1"));
    if (api_conditional(ctx, e->etag, 0)) {
        spk_l1_entry_release(e);
        return 1;
    }
    spk_http_reply_borrowed(ctx, 200, "application/json; charset=utf-8", e->data, e->len,
                            release_l1_entry, (void *)(uintptr_t)e);
    return 1;
}

void api_version_get(struct spk_http_ctx *ctx, void *appv)
{
    struct spk_app *app = appv;
    struct spk_version v = {0};
    struct spk_semver sv;
    const char *name, *param = spk_http_param(ctx, "version");
    char key[SPK_MODULE_NAME_MAX + SPK_SEMVER_MAX_LEN + 2];
    int is_latest;
    size_t len = 0;

    if (api_module_param(ctx, &name))
        return;
    int concrete = strcmp(param, "latest") != 0 && spk_semver_parse(param, &sv, NULL) == 0;
    if (concrete) {
        snprintf(key, sizeof(key), "%s@%s", name, sv.canonical);
        if (serve_cached(ctx, app, key))
            return;
    }
    if (api_version_load(ctx, app, name, &v, &is_latest))
        goto out;
    if (api_conditional(ctx, v.digest, is_latest))
        goto out;
    char *text = render_with_contents(ctx, app, &v, &len);
    if (!text)
        goto out;
    if (concrete)
        spk_l1_put(app->l1, key, text, len, v.digest);
    spk_http_log_field(ctx, "cache", json_string("miss"));
    spk_http_reply_owned(ctx, 200, "application/json; charset=utf-8", text, len);
out:
    spk_version_release(&v);
}
