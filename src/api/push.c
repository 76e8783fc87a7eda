/* POST /modules/{name}/versions: the push. Validates everything before touching a backend,
 * answers an identical re-push with 200 and a different one with 409, writes blobs before the
 * metadata transaction (so a failure leaves at most unreferenced blobs, never a version without
 * its files), and relies on the unique constraint, not a prior read, to settle concurrent pushes.
 */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "spoke/alloc.h"
#include "spoke/blob.h"
#include "spoke/blobrefs.h"
#include "spoke/config.h"
#include "spoke/digest.h"
#include "spoke/error.h"
#include "spoke/metrics.h"
#include "spoke/semver.h"
#include "spoke/sha256.h"
#include "spoke/time.h"
#include "spoke/validate.h"
#include "spoke/banned.h"

#define SOURCE_FIELD_MAX 1024
#define DEPS_MAX         256
#define DEP_REF_MAX      (SPK_MODULE_NAME_MAX + SPK_SEMVER_MAX_LEN + 2)

struct push {
    const char *module;
    struct spk_semver semver;
    struct spk_version_file *files; /* path borrowed from the body, sha256 computed */
    const char **contents;
    size_t *content_lens;
    size_t nfiles;
    char **deps; /* canonical, owned */
    size_t ndeps;
    const char *repository, *commit_sha, *branch;
    char digest[SPK_DIGEST_LEN + 1];
    /* Per file, then the descriptor set: 1 when a committed version references the blob, which
     * is then known to be in the blob store (set by claim_blobs). */
    unsigned char *known;
};

static void push_release(struct push *p)
{
    free(p->known);
    free(p->files);
    free(p->contents);
    free(p->content_lens);
    for (size_t i = 0; i < p->ndeps; i++)
        free(p->deps[i]);
    free(p->deps);
}

static int cmp_paths(const void *a, const void *b)
{
    const struct spk_version_file *x = *(const struct spk_version_file *const *)a;
    const struct spk_version_file *y = *(const struct spk_version_file *const *)b;
    return strcmp(x->path, y->path);
}

static int cmp_paths_value(const void *a, const void *b)
{
    return strcmp(((const struct spk_version_file *)a)->path,
                  ((const struct spk_version_file *)b)->path);
}

static int cmp_strs(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sets err and returns -1 on the first problem with the files array. */
static int parse_files(struct push *p, json_t *files, const struct spk_config *cfg,
                       struct spk_error *err)
{
    if (!json_is_array(files))
        return spk_error_set(err, SPK_E_INVALID, "files is required and must be an array");
    size_t n = json_array_size(files);
    if (n == 0)
        return spk_error_set(err, SPK_E_INVALID, "files must contain at least one file");
    if (n > cfg->max_files)
        return spk_error_set(err, SPK_E_TOO_LARGE, "%zu files exceed the limit of %zu per version",
                             n, cfg->max_files);
    p->files = spk_calloc(n, sizeof(*p->files));
    p->contents = spk_calloc(n, sizeof(*p->contents));
    p->content_lens = spk_calloc(n, sizeof(*p->content_lens));
    p->nfiles = n;
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_array_get(files, i);
        json_t *jpath = json_object_get(f, "path"), *jcontent = json_object_get(f, "content");
        if (!json_is_object(f) || !json_is_string(jpath) || !json_is_string(jcontent))
            return spk_error_set(err, SPK_E_INVALID,
                                 "files[%zu] must be an object with string path and content", i);
        const char *path = json_string_value(jpath);
        if (spk_validate_path(path, json_string_length(jpath), err))
            return -1;
        size_t clen = json_string_length(jcontent);
        if (clen > cfg->max_file_bytes)
            return spk_error_set(err, SPK_E_TOO_LARGE,
                                 "file %.200s is %zu bytes, over the limit of %zu", path, clen,
                                 cfg->max_file_bytes);
        p->files[i].path = (char *)path;
        p->files[i].size = (int64_t)clen;
        p->contents[i] = json_string_value(jcontent);
        p->content_lens[i] = clen;
        spk_sha256_hex(p->contents[i], clen, p->files[i].sha256);
    }
    /* Duplicates, found by sorting pointers so the body's order is kept for the blob writes. */
    struct spk_version_file **sorted = spk_malloc(n * sizeof(*sorted));
    for (size_t i = 0; i < n; i++)
        sorted[i] = &p->files[i];
    qsort(sorted, n, sizeof(*sorted), cmp_paths);
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++)
        if (strcmp(sorted[i - 1]->path, sorted[i]->path) == 0)
            rc = spk_error_set(err, SPK_E_INVALID, "duplicate file path %.200s", sorted[i]->path);
    free(sorted);
    return rc;
}

static int parse_deps(struct push *p, json_t *deps, struct spk_error *err)
{
    if (!deps || json_is_null(deps))
        return 0;
    if (!json_is_array(deps))
        return spk_error_set(err, SPK_E_INVALID,
                             "dependencies must be an array of \"module@version\"");
    size_t n = json_array_size(deps);
    if (n > DEPS_MAX)
        return spk_error_set(err, SPK_E_TOO_LARGE, "%zu dependencies exceed the limit of %d", n,
                             DEPS_MAX);
    p->deps = spk_calloc(n ? n : 1, sizeof(*p->deps));
    for (size_t i = 0; i < n; i++) {
        json_t *d = json_array_get(deps, i);
        char ref[DEP_REF_MAX + 1];
        if (!json_is_string(d) || strlen(json_string_value(d)) != json_string_length(d))
            return spk_error_set(err, SPK_E_INVALID, "dependencies[%zu] must be a string", i);
        if (spk_validate_dependency(json_string_value(d), ref, sizeof(ref), err))
            return -1;
        size_t mlen = p->module ? strlen(p->module) : 0;
        if (mlen && strncmp(ref, p->module, mlen) == 0 && ref[mlen] == '@')
            return spk_error_set(err, SPK_E_INVALID, "module %s cannot depend on itself",
                                 p->module);
        p->deps[p->ndeps++] = spk_strdup(ref);
    }
    qsort(p->deps, p->ndeps, sizeof(*p->deps), cmp_strs);
    for (size_t i = 1; i < p->ndeps; i++)
        if (strcmp(p->deps[i - 1], p->deps[i]) == 0)
            return spk_error_set(err, SPK_E_INVALID, "duplicate dependency %s", p->deps[i]);
    return 0;
}

static int parse_source(struct push *p, json_t *src, struct spk_error *err)
{
    static const char *const keys[] = {"repository", "commit_sha", "branch"};
    const char **dst[] = {&p->repository, &p->commit_sha, &p->branch};
    if (!src || json_is_null(src))
        return 0;
    if (!json_is_object(src))
        return spk_error_set(err, SPK_E_INVALID, "source_info must be an object");
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_object_get(src, keys[i]);
        if (!v || json_is_null(v))
            continue;
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
            return spk_error_set(err, SPK_E_INVALID, "source_info.%s must be a string", keys[i]);
        if (json_string_length(v) > SOURCE_FIELD_MAX)
            return spk_error_set(err, SPK_E_INVALID, "source_info.%s is longer than %d bytes",
                                 keys[i], SOURCE_FIELD_MAX);
        *dst[i] = json_string_value(v);
    }
    return 0;
}

static int parse_push(struct push *p, json_t *body, const struct spk_config *cfg,
                      struct spk_error *err)
{
    json_t *jver = json_object_get(body, "version");
    if (!json_is_string(jver))
        return spk_error_set(err, SPK_E_INVALID, "version is required and must be a string");
    if (strlen(json_string_value(jver)) != json_string_length(jver))
        return spk_error_set(err, SPK_E_INVALID, "version contains a NUL character");
    if (spk_semver_parse(json_string_value(jver), &p->semver, err) ||
        parse_files(p, json_object_get(body, "files"), cfg, err) ||
        parse_deps(p, json_object_get(body, "dependencies"), err) ||
        parse_source(p, json_object_get(body, "source_info"), err))
        return -1;

    struct spk_digest_file *df = spk_malloc(p->nfiles * sizeof(*df));
    for (size_t i = 0; i < p->nfiles; i++) {
        df[i].path = p->files[i].path;
        df[i].sha256 = p->files[i].sha256;
    }
    spk_digest_compute(df, p->nfiles, (const char *const *)p->deps, p->ndeps, p->digest);
    free(df);
    return 0;
}

/* Compiles the pushed files against their dependencies; replies and returns -1 when they do
 * not compile. */
static int validate(struct spk_http_ctx *ctx, struct spk_app *app, const struct push *p,
                    struct spk_proto_result *schema)
{
    struct spk_proto_file *files = spk_malloc(p->nfiles * sizeof(*files));
    for (size_t i = 0; i < p->nfiles; i++)
        files[i] =
            (struct spk_proto_file){p->files[i].path, p->contents[i], p->content_lens[i], NULL};
    int rc = api_schema_check(ctx, app, files, p->nfiles, p->deps, p->ndeps, schema);
    free(files);
    return rc;
}

/* The FileDescriptorSet is kept as a blob like any file, under its own digest. */
static int store_descriptor(struct spk_app *app, const struct spk_proto_result *schema, int known,
                            char sha[SPK_SHA256_HEX_LEN + 1], struct spk_error *err)
{
    spk_sha256_hex(schema->descriptor_set, schema->descriptor_len, sha);
    if (known)
        return 0;
    int have = spk_blob_exists(app->blobs, sha, err);
    if (have < 0)
        return -1;
    return have
               ? 0
               : spk_blob_put(app->blobs, sha, schema->descriptor_set, schema->descriptor_len, err);
}

/* The store's view of the symbols (borrowed strings). New array; free with free(). */
static struct spk_symbol_ref *symbol_refs(const struct spk_proto_result *schema)
{
    struct spk_symbol_ref *refs =
        spk_calloc(schema->nsymbols ? schema->nsymbols : 1, sizeof(*refs));
    for (size_t i = 0; i < schema->nsymbols; i++)
        refs[i] = (struct spk_symbol_ref){spk_proto_symbol_kind_name(schema->symbols[i].kind),
                                          schema->symbols[i].full_name, schema->symbols[i].file};
    return refs;
}

/* Claims the version's blobs (files and descriptor set) before any existence check, so the
 * garbage collector cannot delete one this push finds present and reuses; the push must then
 * commit within SPK_BLOB_CLAIM_MAX_PUSH_S (include/spoke/blobrefs.h). *claimed_us is taken
 * before the claim, which errs on the safe side. Also learns which blobs committed versions
 * reference (p->known): those need no existence check against the blob store. */
static int claim_blobs(struct spk_app *app, struct push *p, const struct spk_proto_result *schema,
                       int64_t *claimed_us, struct spk_error *err)
{
    char descriptor[SPK_SHA256_HEX_LEN + 1];
    const char **shas = spk_malloc((p->nfiles + 1) * sizeof(*shas));
    for (size_t i = 0; i < p->nfiles; i++)
        shas[i] = p->files[i].sha256;
    spk_sha256_hex(schema->descriptor_set ? (const void *)schema->descriptor_set : "",
                   schema->descriptor_len, descriptor);
    shas[p->nfiles] = descriptor;
    *claimed_us = spk_time_mono_us();
    p->known = spk_calloc(p->nfiles + 1, 1);
    int rc = spk_store_blob_claim_known(app->db, shas, p->nfiles + 1, p->known, err);
    free(shas);
    return rc;
}

static int claim_expired(int64_t claimed_us, struct spk_error *err)
{
    if (spk_time_mono_us() - claimed_us <= (int64_t)SPK_BLOB_CLAIM_MAX_PUSH_S * 1000000)
        return 0;
    return spk_error_set(err, SPK_E_UNAVAILABLE, "storing the files took too long; retry the push");
}

static int write_blobs(struct spk_app *app, const struct push *p, struct spk_error *err)
{
    for (size_t i = 0; i < p->nfiles; i++) {
        if (p->known[i]) /* a CI push changes a few files: most are known already */
            continue;
        int have = spk_blob_exists(app->blobs, p->files[i].sha256, err);
        if (have < 0)
            return -1;
        if (!have &&
            spk_blob_put(app->blobs, p->files[i].sha256, p->contents[i], p->content_lens[i], err))
            return -1;
    }
    return 0;
}

/* 200 for the same content, 409 naming both digests otherwise. */
static void reply_existing(struct spk_http_ctx *ctx, struct spk_app *app, const struct push *p)
{
    struct spk_error err = {0};
    struct spk_version v = {0};
    if (spk_store_version_get(app->db, p->module, p->semver.canonical, SPK_STORE_PRIMARY, &v,
                              &err)) {
        api_fail(ctx, &err);
        return;
    }
    if (strcmp(v.digest, p->digest) != 0) {
        json_t *extra =
            json_pack("{s:s, s:s}", "existing_digest", v.digest, "pushed_digest", p->digest);
        spk_error_set(&err, SPK_E_CONFLICT,
                      "version %s of module %s already exists with digest %s; this push has "
                      "digest %s",
                      v.version, p->module, v.digest, p->digest);
        spk_http_reply_error(ctx, &err, extra);
    } else {
        spk_http_reply_json(ctx, 200, api_version_json(&v));
    }
    spk_version_release(&v);
}

static void reply_created(struct spk_http_ctx *ctx, const struct push *p,
                          const struct spk_version *created)
{
    /* A view over the pushed data (borrowed pointers, never released), files in path order. */
    struct spk_version_file *sorted = spk_malloc(p->nfiles * sizeof(*sorted));
    memcpy(sorted, p->files, p->nfiles * sizeof(*sorted));
    qsort(sorted, p->nfiles, sizeof(*sorted), cmp_paths_value);
    struct spk_version view = *created;
    view.files = sorted;
    view.nfiles = p->nfiles;
    view.deps = p->deps;
    view.ndeps = p->ndeps;
    view.repository = (char *)(p->repository ? p->repository : "");
    view.commit_sha = (char *)(p->commit_sha ? p->commit_sha : "");
    view.branch = (char *)(p->branch ? p->branch : "");
    json_t *j = api_version_json(&view);
    free(sorted);

    char *location = spk_asprintf("/modules/%s/versions/%s", p->module, p->semver.canonical);
    spk_http_add_header(ctx, "Location", location);
    free(location);
    spk_metrics_version_pushed();
    spk_http_reply_json(ctx, 201, j);
}

void api_versions_push(struct spk_http_ctx *ctx, void *appv)
{
    struct spk_app *app = appv;
    struct spk_error err = {0};
    struct push p = {0};
    struct spk_module m = {0};
    struct spk_version v = {0};
    struct spk_proto_result schema = {0};
    struct spk_symbol_ref *symbols = NULL;
    char descriptor[SPK_SHA256_HEX_LEN + 1] = "";
    int64_t claimed_us = 0;
    json_t *body = NULL;

    if (api_module_param(ctx, &p.module) || api_body_object(ctx, &body))
        return;
    if (parse_push(&p, body, app->cfg, &err)) {
        spk_http_reply_error(ctx, &err, NULL);
        goto out;
    }
    spk_http_log_field(ctx, "digest", json_string(p.digest));

    /* The primary decides: a replica may not have seen the module or version yet. */
    if (spk_store_module_get(app->db, p.module, SPK_STORE_PRIMARY, &m, &err)) {
        api_fail(ctx, &err);
        goto out;
    }
    int found = spk_store_version_get(app->db, p.module, p.semver.canonical,
                                      SPK_STORE_PRIMARY | SPK_STORE_NO_FILES, &v, &err) == 0;
    if (found) {
        /* The push that created it may not have invalidated yet: do it, as for a 201. */
        spk_cache_invalidate_module(app->cache, p.module);
        reply_existing(ctx, app, &p);
        goto out;
    }
    if (err.code != SPK_E_NOT_FOUND) {
        api_fail(ctx, &err);
        goto out;
    }

    if (validate(ctx, app, &p, &schema) || claim_blobs(app, &p, &schema, &claimed_us, &err) ||
        store_descriptor(app, &schema, p.known[p.nfiles], descriptor, &err)) {
        if (err.code)
            api_fail(ctx, &err);
        goto out;
    }
    if (write_blobs(app, &p, &err) || claim_expired(claimed_us, &err)) {
        api_fail(ctx, &err);
        goto out;
    }
    struct spk_version_new in = {
        .module_name = p.module,
        .semver = &p.semver,
        .digest = p.digest,
        .files = p.files,
        .nfiles = p.nfiles,
        .deps = (const char *const *)p.deps,
        .ndeps = p.ndeps,
        .repository = p.repository,
        .commit_sha = p.commit_sha,
        .branch = p.branch,
        .descriptor_sha256 = descriptor,
        .symbols = symbols = symbol_refs(&schema),
        .nsymbols = schema.nsymbols,
    };
    spk_version_release(&v);
    int created = spk_store_version_create(app->db, &in, &v, &err);
    api_log_pool(ctx);
    if (created < 0)
        spk_http_reply_error(ctx, &err, NULL);
    else if (created == 0) {
        spk_cache_invalidate_module(app->cache, p.module); /* lost a race: see above */
        reply_existing(ctx, app, &p);
    } else {
        /* Before the 201: a client that then reads through any instance sees this version. */
        spk_cache_invalidate_module(app->cache, p.module);
        reply_created(ctx, &p, &v);
    }
out:
    free(symbols);
    spk_proto_result_release(&schema);
    spk_version_release(&v);
    spk_module_release(&m);
    push_release(&p);
    json_decref(body);
}

/* POST /validate: the push's checks and compilation, storing nothing. */
void api_validate(struct spk_http_ctx *ctx, void *appv)
{
    struct spk_app *app = appv;
    struct spk_error err = {0};
    struct push p = {0};
    struct spk_proto_result schema = {0};
    json_t *body = NULL;

    if (api_body_object(ctx, &body))
        return;
    if (parse_files(&p, json_object_get(body, "files"), app->cfg, &err) ||
        parse_deps(&p, json_object_get(body, "dependencies"), &err)) {
        spk_http_reply_error(ctx, &err, NULL);
        goto out;
    }
    if (validate(ctx, app, &p, &schema))
        goto out;
    json_t *syms = json_array();
    for (size_t i = 0; i < schema.nsymbols; i++)
        json_array_append_new(syms, json_pack("{s:s, s:s, s:s}", "kind",
                                              spk_proto_symbol_kind_name(schema.symbols[i].kind),
                                              "name", schema.symbols[i].full_name, "file",
                                              schema.symbols[i].file));
    spk_http_reply_json(ctx, 200, json_pack("{s:b, s:o}", "valid", 1, "symbols", syms));
out:
    spk_proto_result_release(&schema);
    push_release(&p);
    json_decref(body);
}
