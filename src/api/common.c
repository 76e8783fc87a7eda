/* Request parsing and JSON rendering shared by the resource handlers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "spoke/alloc.h"
#include "spoke/buf.h"
#include "spoke/time.h"
#include "spoke/validate.h"
#include "spoke/banned.h"

int api_body_object(struct spk_http_ctx *ctx, json_t **out)
{
    size_t len = 0;
    const char *body = spk_http_body(ctx, &len);
    json_error_t jerr;
    /* JSON_ALLOW_NUL so that "\u0000" in a path reaches the path rules and gets their message. */
    json_t *j =
        body && len ? json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr) : NULL;
    if (!j) {
        if (!body || !len)
            spk_http_reply_errorf(ctx, SPK_E_INVALID,
                                  "request body is empty; expected a JSON object");
        else
            spk_http_reply_errorf(ctx, SPK_E_INVALID, "malformed JSON at line %d column %d: %s",
                                  jerr.line, jerr.column, jerr.text);
        return -1;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        spk_http_reply_errorf(ctx, SPK_E_INVALID, "request body must be a JSON object");
        return -1;
    }
    *out = j;
    return 0;
}

int api_query_int(struct spk_http_ctx *ctx, const char *key, int64_t def, int64_t min, int64_t max,
                  int64_t *out)
{
    const char *s = spk_http_query(ctx, key);
    if (!s) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        spk_http_reply_errorf(ctx, SPK_E_INVALID, "%s must be an integer between %lld and %lld",
                              key, (long long)min, (long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

int api_module_param(struct spk_http_ctx *ctx, const char **name)
{
    struct spk_error err = {0};
    *name = spk_http_param(ctx, "name");
    if (spk_validate_module_name(*name, &err)) {
        spk_http_reply_error(ctx, &err, NULL);
        return -1;
    }
    return 0;
}

int api_opt_string(struct spk_http_ctx *ctx, json_t *obj, const char *key, size_t max,
                   const char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        spk_http_reply_errorf(ctx, SPK_E_INVALID, "%s must be a string", key);
        return -1;
    }
    size_t len = json_string_length(v);
    if (len > max) {
        spk_http_reply_errorf(ctx, SPK_E_INVALID, "%s is longer than %zu bytes", key, max);
        return -1;
    }
    if (strlen(json_string_value(v)) != len) {
        spk_http_reply_errorf(ctx, SPK_E_INVALID, "%s contains a NUL character", key);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

void api_log_pool(struct spk_http_ctx *ctx)
{
    const char *pool = spk_store_last_pool();
    if (pool)
        spk_http_log_static(ctx, "pool", pool); /* a static label */
}

void api_fail(struct spk_http_ctx *ctx, const struct spk_error *err)
{
    api_log_pool(ctx);
    spk_http_reply_error(ctx, err, NULL);
}

void api_link_next(struct spk_http_ctx *ctx, const char *path, int64_t limit, int64_t next_offset,
                   const char *extra)
{
    char *link =
        spk_asprintf("<%s%s?limit=%lld&offset=%lld%s>; rel=\"next\"", spk_http_base_url(ctx), path,
                     (long long)limit, (long long)next_offset, extra);
    spk_http_add_header(ctx, "Link", link);
    free(link);
}

json_t *api_time_json(int64_t unix_us)
{
    char ts[SPK_RFC3339_LEN + 1];
    spk_time_rfc3339(unix_us, ts);
    return json_string(ts);
}

json_t *api_module_json(const struct spk_module *m)
{
    json_t *j = json_object();
    json_object_set_new(j, "name", json_string(m->name));
    json_object_set_new(j, "description", json_string(m->description ? m->description : ""));
    json_object_set_new(j, "created_at", api_time_json(m->created_at));
    json_object_set_new(j, "updated_at", api_time_json(m->updated_at));
    json_object_set_new(j, "latest_version",
                        m->latest_version[0] ? json_string(m->latest_version) : json_null());
    json_object_set_new(j, "version_count", json_integer(m->version_count));
    return j;
}

json_t *api_version_summary_json(const struct spk_version_summary *v)
{
    json_t *j = json_object();
    json_object_set_new(j, "version", json_string(v->version));
    json_object_set_new(j, "digest", json_string(v->digest));
    json_object_set_new(j, "created_at", api_time_json(v->created_at));
    return j;
}

static json_t *str_or_empty(const char *s)
{
    return json_string(s ? s : "");
}

json_t *api_version_json(const struct spk_version *v)
{
    json_t *j = json_object();
    json_object_set_new(j, "module_name", json_string(v->module_name));
    json_object_set_new(j, "version", json_string(v->version));
    json_object_set_new(j, "digest", json_string(v->digest));
    json_object_set_new(j, "created_at", api_time_json(v->created_at));
    json_t *files = json_array();
    for (size_t i = 0; i < v->nfiles; i++) {
        json_t *f = json_object();
        json_object_set_new(f, "path", json_string(v->files[i].path));
        json_object_set_new(f, "sha256", json_string(v->files[i].sha256));
        json_object_set_new(f, "size", json_integer(v->files[i].size));
        json_array_append_new(files, f);
    }
    json_object_set_new(j, "files", files);
    json_t *deps = json_array();
    for (size_t i = 0; i < v->ndeps; i++)
        json_array_append_new(deps, json_string(v->deps[i]));
    json_object_set_new(j, "dependencies", deps);
    json_t *src = json_object();
    json_object_set_new(src, "repository", str_or_empty(v->repository));
    json_object_set_new(src, "commit_sha", str_or_empty(v->commit_sha));
    json_object_set_new(src, "branch", str_or_empty(v->branch));
    json_object_set_new(j, "source_info", src);
    return j;
}

char *api_query_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    struct spk_buf b = SPK_BUF_INIT;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            spk_buf_append(&b, p, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            spk_buf_append(&b, e, 3);
        }
    }
    return spk_buf_detach(&b, NULL);
}
