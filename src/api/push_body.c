/* Push bodies: {"version", "files": [{"path", "content"}], "dependencies": ["m@v"],
 * "source_info": {"repository", "commit_sha", "branch"}} into a struct spk_push_request. Pure
 * (no I/O), so every rule is unit-tested (tests/unit/test_push_body.c). */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "spoke/alloc.h"
#include "spoke/config.h"
#include "spoke/error.h"
#include "spoke/sha256.h"
#include "spoke/validate.h"
#include "spoke/banned.h"

#define SOURCE_FIELD_MAX 1024
#define DEPS_MAX         256

void api_push_request_release(struct spk_push_request *req)
{
    if (!req)
        return;
    free(req->files);
    for (size_t i = 0; i < req->ndeps; i++)
        free(req->deps[i]);
    free(req->deps);
    memset(req, 0, sizeof(*req));
}

static int cmp_paths(const void *a, const void *b)
{
    const struct spk_push_file *x = *(const struct spk_push_file *const *)a;
    const struct spk_push_file *y = *(const struct spk_push_file *const *)b;
    return strcmp(x->path, y->path);
}

static int cmp_strs(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int parse_files(struct spk_push_request *req, json_t *files, const struct spk_config *cfg,
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
    req->files = spk_calloc(n, sizeof(*req->files));
    req->nfiles = n;
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
        struct spk_push_file *pf = &req->files[i];
        pf->path = path;
        pf->content = json_string_value(jcontent);
        pf->len = clen;
        spk_sha256_hex(pf->content, clen, pf->sha256);
    }
    /* Duplicates, found by sorting pointers so the body's order is kept for the blob writes. */
    const struct spk_push_file **sorted = spk_malloc(n * sizeof(*sorted));
    for (size_t i = 0; i < n; i++)
        sorted[i] = &req->files[i];
    qsort(sorted, n, sizeof(*sorted), cmp_paths);
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++)
        if (strcmp(sorted[i - 1]->path, sorted[i]->path) == 0)
            rc = spk_error_set(err, SPK_E_INVALID, "duplicate file path %.200s", sorted[i]->path);
    free(sorted);
    return rc;
}

static int parse_deps(struct spk_push_request *req, json_t *deps, struct spk_error *err)
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
    req->deps = spk_calloc(n ? n : 1, sizeof(*req->deps));
    for (size_t i = 0; i < n; i++) {
        json_t *d = json_array_get(deps, i);
        struct spk_ref ref;
        if (!json_is_string(d) || strlen(json_string_value(d)) != json_string_length(d))
            return spk_error_set(err, SPK_E_INVALID, "dependencies[%zu] must be a string", i);
        if (spk_ref_parse(json_string_value(d), &ref, err))
            return -1;
        if (req->module && strcmp(ref.module, req->module) == 0)
            return spk_error_set(err, SPK_E_INVALID, "module %s cannot depend on itself",
                                 req->module);
        req->deps[req->ndeps++] = spk_strdup(ref.text);
    }
    qsort(req->deps, req->ndeps, sizeof(*req->deps), cmp_strs);
    for (size_t i = 1; i < req->ndeps; i++)
        if (strcmp(req->deps[i - 1], req->deps[i]) == 0)
            return spk_error_set(err, SPK_E_INVALID, "duplicate dependency %s", req->deps[i]);
    return 0;
}

static int parse_source(struct spk_push_request *req, json_t *src, struct spk_error *err)
{
    static const char *const keys[] = {"repository", "commit_sha", "branch"};
    const char **dst[] = {&req->repository, &req->commit_sha, &req->branch};
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

int api_push_request_parse(json_t *body, const char *module, int with_version,
                           const struct spk_config *cfg, struct spk_push_request *req,
                           int *has_version, struct spk_error *err)
{
    memset(req, 0, sizeof(*req));
    req->module = module;
    json_t *jver = json_object_get(body, "version");
    *has_version = jver && !json_is_null(jver);
    if (with_version && !json_is_string(jver))
        return spk_error_set(err, SPK_E_INVALID, "version is required and must be a string");
    if (*has_version) {
        if (!json_is_string(jver))
            return spk_error_set(err, SPK_E_INVALID, "version must be a string");
        if (strlen(json_string_value(jver)) != json_string_length(jver))
            return spk_error_set(err, SPK_E_INVALID, "version contains a NUL character");
        if (spk_semver_parse(json_string_value(jver), &req->semver, err))
            return -1;
    }
    if (parse_files(req, json_object_get(body, "files"), cfg, err) ||
        parse_deps(req, json_object_get(body, "dependencies"), err) ||
        parse_source(req, json_object_get(body, "source_info"), err))
        return -1;
    spk_registry_push_digest(req);
    return 0;
}
