/* POST /modules/{name}/versions (the push) and POST /validate (its checks, storing nothing):
 * parse the body, hand it to the registry (src/registry/push.c decides), render the outcome. */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "spoke/alloc.h"
#include "spoke/error.h"
#include "spoke/banned.h"

/* The 201 body: the created version with the pushed files (path order) and source info. */
static json_t *created_json(const struct spk_push_request *req, const struct spk_version *created)
{
    struct spk_version_file *files = spk_registry_push_files(req);
    /* A view over the pushed data (borrowed pointers, never released). */
    struct spk_version view = *created;
    view.files = files;
    view.nfiles = req->nfiles;
    view.deps = req->deps;
    view.ndeps = req->ndeps;
    view.repository = (char *)(req->repository ? req->repository : "");
    view.commit_sha = (char *)(req->commit_sha ? req->commit_sha : "");
    view.branch = (char *)(req->branch ? req->branch : "");
    json_t *j = api_version_json(&view);
    free(files);
    return j;
}

void api_versions_push(struct spk_http_ctx *ctx, void *appv)
{
    struct spk_app *app = appv;
    struct spk_error err = {0};
    struct spk_push_request req = {0};
    struct spk_push_outcome out = {0};
    const char *module;
    json_t *body = NULL;
    int has_version;

    if (api_module_param(ctx, &module, &err) || api_body_object(ctx, &body, &err) ||
        api_push_request_parse(body, module, 1, app->cfg, &req, &has_version, &err))
        goto fail;
    spk_http_log_field(ctx, "digest", json_string(req.digest));
    if (spk_registry_push(app, &req, &out, &err))
        goto fail;
    api_log_pool(ctx);
    spk_http_log_field(ctx, "validation", json_string("ok"));
    if (!out.created) {
        spk_http_reply_json(ctx, 200, api_version_json(&out.version));
        goto out;
    }
    char *location = spk_asprintf("/modules/%s/versions/%s", module, req.semver.canonical);
    spk_http_add_header(ctx, "Location", location);
    free(location);
    spk_http_reply_json(ctx, 201, created_json(&req, &out.version));
    goto out;
fail:
    if (err.code == SPK_E_INVALID_SCHEMA)
        api_fail_schema(ctx, &err, &out.schema);
    else if (err.code == SPK_E_BREAKING)
        api_fail(ctx, &err,
                 json_pack("{s:o, s:s}", "details", api_compat_violations_json(&out.compat),
                           "rules", out.compat.rules));
    else if (err.code == SPK_E_CONFLICT && out.version.digest[0])
        api_fail(ctx, &err,
                 json_pack("{s:s, s:s}", "existing_digest", out.version.digest, "pushed_digest",
                           req.digest));
    else
        api_fail(ctx, &err, NULL);
out:
    spk_push_outcome_release(&out);
    api_push_request_release(&req);
    json_decref(body);
}

void api_validate(struct spk_http_ctx *ctx, void *appv)
{
    struct spk_app *app = appv;
    struct spk_error err = {0};
    struct spk_push_request req = {0};
    struct spk_proto_result schema = {0};
    json_t *body = NULL;
    int has_version;

    if (api_body_object(ctx, &body, &err) ||
        api_push_request_parse(body, NULL, 0, app->cfg, &req, &has_version, &err) ||
        spk_registry_validate(app, req.files, req.nfiles, req.deps, req.ndeps, &schema, &err))
        goto fail;
    if (!schema.ok) {
        spk_error_set(&err, SPK_E_INVALID_SCHEMA, "schema does not compile");
        goto fail;
    }
    spk_http_log_field(ctx, "validation", json_string("ok"));
    json_t *syms = json_array();
    for (size_t i = 0; i < schema.nsymbols; i++)
        json_array_append_new(syms, json_pack("{s:s, s:s, s:s}", "kind",
                                              spk_proto_symbol_kind_name(schema.symbols[i].kind),
                                              "name", schema.symbols[i].full_name, "file",
                                              schema.symbols[i].file));
    spk_http_reply_json(ctx, 200, json_pack("{s:b, s:o}", "valid", 1, "symbols", syms));
    goto out;
fail:
    api_fail_schema(ctx, &err, &schema);
out:
    spk_proto_result_release(&schema);
    api_push_request_release(&req);
    json_decref(body);
}
