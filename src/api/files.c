/* /modules/{name}/versions/{version}/files/{path…}: one file of a version, as JSON or, with
 * ?raw=1, as the bytes themselves. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "spoke/buf.h"
#include "spoke/validate.h"
#include "spoke/banned.h"

static const struct spk_version_file *find_file(const struct spk_version *v, const char *path)
{
    size_t lo = 0, hi = v->nfiles; /* files are sorted by path bytes */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(v->files[mid].path, path);
        if (c == 0)
            return &v->files[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void api_file_get(struct spk_http_ctx *ctx, void *appv)
{
    struct spk_app *app = appv;
    struct spk_error err = {0};
    struct spk_loaded l = {0};
    const char *name, *path = spk_http_param(ctx, "path"), *raw = spk_http_query(ctx, "raw");
    char version[SPK_SEMVER_MAX_LEN + 1], *content = NULL;
    size_t len = 0;

    if (api_module_param(ctx, &name, &err) ||
        spk_validate_path(path, path ? strlen(path) : 0, &err) ||
        api_version_param(ctx, version, &err) ||
        spk_registry_version_load(app, name, version, 0, &l, &err))
        goto fail;
    api_log_pool(ctx);
    const struct spk_version_file *f = find_file(&l.meta, path);
    if (!f) {
        spk_error_set(&err, SPK_E_NOT_FOUND, "file %.200s not found in %s", path, l.ref.text);
        goto fail;
    }
    /* The file's own hash is its validator: it changes exactly when the bytes do. */
    char digest[80];
    snprintf(digest, sizeof(digest), "sha256:%s", f->sha256);
    if (api_etag(ctx, digest, strcmp(version, "latest") == 0)) {
        spk_http_reply(ctx, 304, NULL, NULL, 0);
        goto out;
    }
    if (spk_registry_file_read(app, f, &content, &len, &err))
        goto fail;
    if (raw && (strcmp(raw, "1") == 0 || strcmp(raw, "true") == 0)) {
        spk_http_reply_owned(ctx, 200, "text/plain; charset=utf-8", content, len);
        content = NULL;
        goto out;
    }
    json_t *j = json_object();
    json_object_set_new(j, "path", json_string(f->path));
    json_object_set_new(j, "content", json_stringn(content, len));
    json_object_set_new(j, "sha256", json_string(f->sha256));
    json_object_set_new(j, "size", json_integer(f->size));
    spk_http_reply_json(ctx, 200, j);
    goto out;
fail:
    api_fail(ctx, &err, NULL);
out:
    free(content);
    spk_loaded_release(&l);
}
