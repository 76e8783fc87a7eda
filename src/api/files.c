/* /modules/{name}/versions/{version}/files/{path…}: one file of a version, as JSON or, with
 * ?raw=1, as the bytes themselves. */
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
    struct spk_version v = {0};
    struct spk_buf content = SPK_BUF_INIT;
    const char *name, *path = spk_http_param(ctx, "path");
    const char *raw = spk_http_query(ctx, "raw");
    int is_latest;

    if (api_module_param(ctx, &name))
        goto out;
    if (spk_validate_path(path, path ? strlen(path) : 0, &err)) {
        spk_http_reply_error(ctx, &err, NULL);
        goto out;
    }
    if (api_version_load(ctx, app, name, &v, &is_latest))
        goto out;
    const struct spk_version_file *f = find_file(&v, path);
    if (!f) {
        spk_http_reply_errorf(ctx, SPK_E_NOT_FOUND, "file %.200s not found in %s@%s", path,
                              v.module_name, v.version);
        goto out;
    }
    /* The file's own hash is its validator: it changes exactly when the bytes do. */
    char digest[80];
    snprintf(digest, sizeof(digest), "sha256:%s", f->sha256);
    if (api_conditional(ctx, digest, is_latest))
        goto out;
    if (api_blob_read(app, f, &content, &err)) {
        spk_http_reply_error(ctx, &err, NULL);
        goto out;
    }
    if (raw && (strcmp(raw, "1") == 0 || strcmp(raw, "true") == 0)) {
        spk_http_reply(ctx, 200, "text/plain; charset=utf-8", content.data ? content.data : "",
                       content.len);
        goto out;
    }
    json_t *j = json_object();
    json_object_set_new(j, "path", json_string(f->path));
    json_object_set_new(j, "content", json_stringn(content.data ? content.data : "", content.len));
    json_object_set_new(j, "sha256", json_string(f->sha256));
    json_object_set_new(j, "size", json_integer(f->size));
    spk_http_reply_json(ctx, 200, j);
out:
    spk_buf_release(&content);
    spk_version_release(&v);
}
