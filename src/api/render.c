/* Rendering shared by the resource handlers: store and registry objects as JSON, and the error
 * replies (the one place a failure becomes a response). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "spoke/alloc.h"
#include "spoke/buf.h"
#include "spoke/error.h"
#include "spoke/time.h"
#include "spoke/banned.h"

#define CACHE_IMMUTABLE "public, max-age=31536000, immutable"
#define CACHE_LATEST    "public, max-age=10"

void api_log_pool(struct spk_http_ctx *ctx)
{
    const char *pool = spk_store_last_pool();
    if (pool)
        spk_http_log_static(ctx, "pool", pool); /* a static label */
}

void api_fail(struct spk_http_ctx *ctx, const struct spk_error *err, json_t *extra)
{
    api_log_pool(ctx);
    spk_http_reply_error(ctx, err, extra);
}

void api_fail_schema(struct spk_http_ctx *ctx, const struct spk_error *err,
                     const struct spk_proto_result *schema)
{
    struct spk_error e = *err;
    const struct spk_proto_diag *d = schema->ndiags ? &schema->diags[0] : NULL;
    if (err->code == SPK_E_INVALID_SCHEMA && d && d->file[0] && d->line)
        spk_error_set(&e, SPK_E_INVALID_SCHEMA, "schema does not compile: %.100s:%d:%d: %.200s",
                      d->file, d->line, d->column, d->message);
    else if (err->code == SPK_E_INVALID_SCHEMA && d && d->file[0])
        spk_error_set(&e, SPK_E_INVALID_SCHEMA, "schema does not compile: %.100s: %.200s", d->file,
                      d->message);
    else if (err->code == SPK_E_INVALID_SCHEMA && d && strcmp(d->message, err->msg) != 0)
        spk_error_set(&e, SPK_E_INVALID_SCHEMA, "schema does not compile: %.200s", d->message);
    if (err->code != SPK_E_INVALID_SCHEMA) {
        api_fail(ctx, err, NULL);
        return;
    }
    spk_http_log_field(ctx, "validation", json_string("invalid"));
    api_fail(ctx, &e, spk_proto_details_json(schema));
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

int api_etag(struct spk_http_ctx *ctx, const char *digest, int is_latest)
{
    char *etag = spk_asprintf("\"%s\"", digest);
    spk_http_add_header(ctx, "ETag", etag);
    spk_http_add_header(ctx, "Cache-Control", is_latest ? CACHE_LATEST : CACHE_IMMUTABLE);
    int fresh = spk_http_etag_matches(spk_http_header(ctx, "If-None-Match"), etag);
    free(etag);
    return fresh;
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

static json_t *strings_json(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

json_t *api_policy_json(const struct spk_policy *p)
{
    return json_pack("{s:{s:o, s:o, s:o}, s:b}", "breaking", "use", strings_json(p->use, p->nuse),
                     "except", strings_json(p->except, p->nexcept), "ignore",
                     strings_json(p->ignore, p->nignore), "semver", p->semver);
}

static json_t *opt_string(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *api_violation_json(const struct spk_evolve_violation *v, const char *against)
{
    json_t *cats = json_array();
    for (unsigned bit = 1; bit <= SPK_EVOLVE_CSR; bit <<= 1)
        if (v->categories & bit)
            json_array_append_new(cats, json_string(spk_evolve_category_name(bit)));
    json_t *j = json_pack("{s:s, s:o, s:s, s:i, s:i, s:s, s:o, s:o}", "rule", v->rule, "categories",
                          cats, "file", v->file ? v->file : "", "line", v->line, "column",
                          v->column, "message", v->message ? v->message : "", "old",
                          opt_string(v->old_value), "new", opt_string(v->new_value));
    if (against)
        json_object_set_new(j, "against", json_string(against));
    return j;
}

json_t *api_compat_violations_json(const struct spk_compat *c)
{
    json_t *arr = json_array();
    for (size_t p = 0; p < c->npairs; p++)
        for (size_t i = 0; i < c->pairs[p].result.n; i++)
            json_array_append_new(
                arr, api_violation_json(&c->pairs[p].result.v[i], c->pairs[p].against));
    return arr;
}
