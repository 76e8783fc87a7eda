/* Schema evolution routes: GET/PUT /modules/{name}/policy, POST /modules/{name}/compatibility
 * (a stored version or candidate files against earlier versions) and GET /modules/{name}/diff.
 * Parsing and rendering only; src/registry/evolution.c decides. */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "spoke/alloc.h"
#include "spoke/buf.h"
#include "spoke/error.h"
#include "spoke/banned.h"

#define RULE_MAX 64
#define LIST_MAX 256
#define MODE_MAX 64

/* {"use": [...], "except": [...], "ignore": [...]} into p (new strings). Without defaults (a
 * check's override) use is required; with them (a PUT) an absent use keeps the default's. An
 * empty use checks nothing. */
static int parse_breaking(json_t *b, const struct spk_policy *defaults, struct spk_policy *p,
                          struct spk_error *err)
{
    static const char *const keys[] = {"use", "except", "ignore"};
    const char *k;
    json_t *v;
    if (!json_is_object(b))
        return spk_error_set(err, SPK_E_INVALID, "breaking must be an object");
    json_object_foreach(b, k, v)
    {
        int known = 0;
        for (size_t i = 0; i < 3; i++)
            known |= strcmp(k, keys[i]) == 0;
        if (!known)
            return spk_error_set(err, SPK_E_INVALID,
                                 "breaking.%.64s is not a setting (use, except, ignore)", k);
    }
    if (!defaults && !json_object_get(b, "use"))
        return spk_error_set(err, SPK_E_INVALID, "breaking.use is required in an override");
    if (api_opt_strings(b, "use", RULE_MAX, LIST_MAX, &p->use, &p->nuse, err) ||
        api_opt_strings(b, "except", RULE_MAX, LIST_MAX, &p->except, &p->nexcept, err) ||
        api_opt_strings(b, "ignore", SPK_PATH_MAX, LIST_MAX, &p->ignore, &p->nignore, err))
        return -1;
    if (!json_object_get(b, "use") && defaults) {
        for (size_t i = 0; i < defaults->nuse; i++) {
            p->use = spk_realloc(p->use, (p->nuse + 1) * sizeof(*p->use));
            p->use[p->nuse++] = spk_strdup(defaults->use[i]);
        }
    }
    return spk_registry_policy_validate(p, err);
}

void api_policy_get(struct spk_http_ctx *ctx, void *appv)
{
    struct spk_app *app = appv;
    struct spk_error err = {0};
    struct spk_policy p = {0};
    const char *name;
    int is_default;

    if (api_module_param(ctx, &name, &err) ||
        spk_registry_policy_get(app, name, 0, &p, &is_default, &err)) {
        api_fail(ctx, &err, NULL);
        goto out;
    }
    api_log_pool(ctx);
    json_t *j = api_policy_json(&p);
    json_object_set_new(j, "default", json_boolean(is_default));
    spk_http_reply_json(ctx, 200, j);
out:
    spk_policy_release(&p);
}

void api_policy_put(struct spk_http_ctx *ctx, void *appv)
{
    struct spk_app *app = appv;
    struct spk_error err = {0};
    struct spk_policy p = {0}, def = {0};
    const char *name, *k;
    json_t *body = NULL, *v;

    if (api_module_param(ctx, &name, &err) || api_body_object(ctx, &body, &err))
        goto fail;
    json_object_foreach(body, k, v)
    {
        if (strcmp(k, "breaking") != 0 && strcmp(k, "semver") != 0 && strcmp(k, "default") != 0) {
            spk_error_set(&err, SPK_E_INVALID, "%.64s is not a policy setting (breaking, semver)",
                          k);
            goto fail;
        }
    }
    json_t *semver = json_object_get(body, "semver");
    if (semver && !json_is_boolean(semver)) {
        spk_error_set(&err, SPK_E_INVALID, "semver must be true or false");
        goto fail;
    }
    /* What is left out keeps the server default, so {"semver": false} is a whole policy. */
    spk_registry_policy_default(app, &def);
    json_t *b = json_object_get(body, "breaking");
    if (b) {
        if (parse_breaking(b, &def, &p, &err))
            goto fail;
    } else {
        p = def; /* handed over: def is released empty */
        def = (struct spk_policy){0};
    }
    p.semver = semver ? json_is_true(semver) : def.semver;
    if (spk_registry_policy_put(app, name, &p, &err))
        goto fail;
    api_log_pool(ctx);
    json_t *j = api_policy_json(&p);
    json_object_set_new(j, "default", json_false());
    spk_http_reply_json(ctx, 200, j);
    goto out;
fail:
    api_fail(ctx, &err, NULL);
out:
    spk_policy_release(&def);
    spk_policy_release(&p);
    json_decref(body);
}

static json_t *compat_json(const struct spk_compat *c)
{
    json_t *against = json_array();
    for (size_t i = 0; i < c->npairs; i++) {
        int seen = 0;
        for (size_t k = 0; k < i; k++)
            seen |= strcmp(c->pairs[k].against, c->pairs[i].against) == 0;
        if (!seen)
            json_array_append_new(against, json_string(c->pairs[i].against));
    }
    return json_pack("{s:b, s:s, s:o, s:o}", "compatible", c->compatible, "rules", c->rules,
                     "against", against, "violations", api_compat_violations_json(c));
}

/* A stored version named in the body: canonical into out. */
static int body_version(json_t *body, const char *key, char out[SPK_SEMVER_MAX_LEN + 1],
                        const char **set, struct spk_error *err)
{
    const char *s;
    *set = NULL;
    if (api_opt_string(body, key, SPK_SEMVER_MAX_LEN + 1, &s, err))
        return -1;
    if (!s)
        return 0;
    if (spk_registry_version_param(s, out, err)) {
        char msg[sizeof(err->msg)];
        memcpy(msg, err->msg, sizeof(msg));
        return spk_error_set(err, SPK_E_INVALID, "%s: %s", key, msg);
    }
    *set = out;
    return 0;
}

void api_compatibility(struct spk_http_ctx *ctx, void *appv)
{
    struct spk_app *app = appv;
    struct spk_error err = {0};
    struct spk_push_request cand = {0};
    struct spk_policy breaking = {0};
    struct spk_compat out = {0};
    struct spk_proto_result schema = {0};
    struct spk_compat_request req = {0};
    char oldv[SPK_SEMVER_MAX_LEN + 1], newv[SPK_SEMVER_MAX_LEN + 1];
    const char *name, *k;
    json_t *body = NULL, *v;
    int has_version = 0;

    if (api_module_param(ctx, &name, &err) || api_body_object(ctx, &body, &err))
        goto fail;
    json_object_foreach(body, k, v)
    {
        static const char *const keys[] = {"old_version", "new_version", "files",    "dependencies",
                                           "version",     "mode",        "breaking", "source_info"};
        int known = 0;
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            known |= strcmp(k, keys[i]) == 0;
        if (!known) {
            spk_error_set(&err, SPK_E_INVALID,
                          "%.64s is not a field of a compatibility check (old_version, "
                          "new_version or files, dependencies, version, source_info, mode, "
                          "breaking)",
                          k);
            goto fail;
        }
    }
    req.module = name;
    if (body_version(body, "old_version", oldv, &req.old_version, &err) ||
        body_version(body, "new_version", newv, &req.new_version, &err) ||
        api_opt_string(body, "mode", MODE_MAX, &req.mode, &err))
        goto fail;
    if (req.old_version && strcmp(req.old_version, "latest") == 0) {
        spk_error_set(&err, SPK_E_INVALID, "old_version must be a version, not latest");
        goto fail;
    }
    int has_files = json_object_get(body, "files") != NULL;
    if (has_files == (req.new_version != NULL)) {
        spk_error_set(&err, SPK_E_INVALID,
                      "give either new_version (a stored version) or files (a candidate)");
        goto fail;
    }
    if (has_files) {
        if (api_push_request_parse(body, name, 0, app->cfg, &cand, &has_version, &err))
            goto fail;
        req.candidate = &cand;
        req.has_version = has_version;
    } else if (json_object_get(body, "version") || json_object_get(body, "dependencies")) {
        spk_error_set(&err, SPK_E_INVALID, "version and dependencies go with files");
        goto fail;
    }
    json_t *b = json_object_get(body, "breaking");
    if (b && !json_is_null(b)) {
        if (parse_breaking(b, NULL, &breaking, &err))
            goto fail;
        req.breaking = &breaking;
    }
    if (spk_registry_compatibility(app, &req, &out, &schema, &err))
        goto fail;
    api_log_pool(ctx);
    spk_http_reply_json(ctx, out.compatible ? 200 : 409, compat_json(&out));
    goto out;
fail:
    api_fail_schema(ctx, &err, &schema);
out:
    spk_proto_result_release(&schema);
    spk_compat_release(&out);
    spk_policy_release(&breaking);
    api_push_request_release(&cand);
    json_decref(body);
}

/* ---- diff ---------------------------------------------------------------------------------- */

static json_t *change_json(const struct spk_evolve_change *c)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:i, s:i}", "kind",
                     spk_evolve_change_kind_name(c->kind), "element", c->element, "file",
                     c->file ? c->file : "", "name", c->name ? c->name : "", "old",
                     c->old_value ? json_string(c->old_value) : json_null(), "new",
                     c->new_value ? json_string(c->new_value) : json_null(), "line", c->line,
                     "column", c->column);
}

static void text_violation(struct spk_buf *b, const struct spk_evolve_violation *v)
{
    if (!v->file || !v->file[0])
        spk_buf_printf(b, "  <input>: %s %s\n", v->rule, v->message);
    else if (!v->line)
        spk_buf_printf(b, "  %s: %s %s\n", v->file, v->rule, v->message);
    else
        spk_buf_printf(b, "  %s:%d:%d: %s %s\n", v->file, v->line, v->column, v->rule, v->message);
}

/* For people: one line per change, then the verdict per category. */
static char *diff_text(const char *module, const struct spk_diff_report *r, size_t *len)
{
    static const char sign[] = {
        [SPK_EVOLVE_ADDED] = '+', [SPK_EVOLVE_REMOVED] = '-', [SPK_EVOLVE_CHANGED] = '~'};
    struct spk_buf b = SPK_BUF_INIT;
    spk_buf_printf(&b, "%s %s -> %s: %zu change%s\n", module, r->from, r->to, r->diff.n,
                   r->diff.n == 1 ? "" : "s");
    for (size_t i = 0; i < r->diff.n; i++) {
        const struct spk_evolve_change *c = &r->diff.c[i];
        spk_buf_printf(&b, "%c %s %s", sign[c->kind], c->element, c->name ? c->name : "");
        if (c->kind == SPK_EVOLVE_CHANGED)
            spk_buf_printf(&b, ": %s -> %s", c->old_value ? c->old_value : "",
                           c->new_value ? c->new_value : "");
        else if (c->kind == SPK_EVOLVE_ADDED && c->new_value)
            spk_buf_printf(&b, ": %s", c->new_value);
        else if (c->kind == SPK_EVOLVE_REMOVED && c->old_value)
            spk_buf_printf(&b, ": %s", c->old_value);
        if (c->file && c->file[0])
            spk_buf_printf(&b, " (%s%s", c->file, c->line ? ":" : ")");
        if (c->file && c->file[0] && c->line)
            spk_buf_printf(&b, "%d)", c->line);
        spk_buf_puts(&b, "\n");
    }
    for (size_t k = 0; k < SPK_DIFF_CATEGORIES; k++) {
        const struct spk_evolve_result *res = &r->categories[k];
        spk_buf_printf(&b, "\n%s: %s\n", spk_evolve_category_name(spk_diff_categories[k]),
                       res->n ? "breaking" : "compatible");
        for (size_t i = 0; i < res->n; i++)
            text_violation(&b, &res->v[i]);
    }
    return spk_buf_detach(&b, len);
}

void api_diff(struct spk_http_ctx *ctx, void *appv)
{
    struct spk_app *app = appv;
    struct spk_error err = {0};
    struct spk_diff_report r = {0};
    const char *name, *format = spk_http_query(ctx, "format");
    const char *from = spk_http_query(ctx, "from"), *to = spk_http_query(ctx, "to");
    char fromv[SPK_SEMVER_MAX_LEN + 1], tov[SPK_SEMVER_MAX_LEN + 1];

    if (api_module_param(ctx, &name, &err))
        goto fail;
    if (!from || !to) {
        spk_error_set(&err, SPK_E_INVALID, "from and to are required: ?from=1.0.0&to=1.1.0");
        goto fail;
    }
    if (format && strcmp(format, "json") != 0 && strcmp(format, "text") != 0) {
        spk_error_set(&err, SPK_E_INVALID, "format must be json or text");
        goto fail;
    }
    if (spk_registry_version_param(from, fromv, &err) ||
        spk_registry_version_param(to, tov, &err) ||
        spk_registry_diff(app, name, fromv, tov, &r, &err))
        goto fail;
    api_log_pool(ctx);
    if (format && strcmp(format, "text") == 0) {
        size_t len;
        char *text = diff_text(name, &r, &len);
        spk_http_reply_owned(ctx, 200, "text/plain; charset=utf-8", text, len);
        goto out;
    }
    json_t *changes = json_array(), *cats = json_object();
    for (size_t i = 0; i < r.diff.n; i++)
        json_array_append_new(changes, change_json(&r.diff.c[i]));
    for (size_t k = 0; k < SPK_DIFF_CATEGORIES; k++) {
        json_t *arr = json_array();
        for (size_t i = 0; i < r.categories[k].n; i++)
            json_array_append_new(arr, api_violation_json(&r.categories[k].v[i], NULL));
        json_object_set_new(cats, spk_evolve_category_name(spk_diff_categories[k]), arr);
    }
    spk_http_reply_json(ctx, 200,
                        json_pack("{s:s, s:s, s:s, s:o, s:o}", "module", name, "from", r.from, "to",
                                  r.to, "changes", changes, "violations", cats));
    goto out;
fail:
    api_fail(ctx, &err, NULL);
out:
    spk_diff_report_release(&r);
}
