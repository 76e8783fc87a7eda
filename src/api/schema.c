/* Validation of a push (or a dry run): gathers the files of the declared dependencies and of
 * theirs, transitively, and compiles the version's files against them with protoc. Dependency
 * versions are immutable, so their files are read from the rendered versions in the in-process
 * cache when present (and put there when not), not from the blob store each time. */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "spoke/alloc.h"
#include "spoke/error.h"
#include "spoke/l1.h"
#include "spoke/proto.h"
#include "spoke/semver.h"
#include "spoke/banned.h"

#define CLOSURE_MAX_VERSIONS 256
#define CLOSURE_MAX_BYTES    ((size_t)256 << 20)

struct closure {
    char **refs; /* visited "module@version", in discovery order */
    size_t nrefs;
    json_t **docs; /* rendered versions; the files below borrow their strings */
    size_t ndocs;
    struct spk_proto_file *files;
    size_t nfiles;
    size_t bytes;
};

static void closure_release(struct closure *c)
{
    for (size_t i = 0; i < c->nrefs; i++)
        free(c->refs[i]);
    free(c->refs);
    for (size_t i = 0; i < c->ndocs; i++)
        json_decref(c->docs[i]);
    free(c->docs);
    free(c->files);
}

static int visited(const struct closure *c, const char *ref)
{
    for (size_t i = 0; i < c->nrefs; i++)
        if (strcmp(c->refs[i], ref) == 0)
            return 1;
    return 0;
}

/* The rendered version module@version (canonical), from the cache or freshly rendered. */
static json_t *load_rendered(struct spk_app *app, const char *ref, struct spk_error *err)
{
    const struct spk_l1_entry *e = spk_l1_get(app->l1, ref);
    if (e) {
        json_t *j = json_loadb(e->data, e->len, JSON_ALLOW_NUL, NULL);
        spk_l1_entry_release(e);
        if (j)
            return j;
    }
    const char *at = strrchr(ref, '@');
    char module[SPK_MODULE_NAME_MAX + 1];
    size_t n = (size_t)(at - ref);
    memcpy(module, ref, n);
    module[n] = '\0';

    struct spk_version v = {0};
    json_t *j = NULL;
    if (spk_store_version_get(app->db, module, at + 1, 0, &v, err) == 0) {
        j = api_version_render(app, &v, err);
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (text)
            spk_l1_put(app->l1, ref, text, strlen(text), v.digest);
        free(text);
    } else if (err->code == SPK_E_NOT_FOUND) {
        spk_error_set(err, SPK_E_INVALID_SCHEMA, "dependency %s does not exist", ref);
    }
    spk_version_release(&v);
    return j;
}

/* Breadth-first over dependencies; a version is visited once however many paths reach it. */
static int gather(struct spk_app *app, char *const *deps, size_t ndeps, struct closure *c,
                  struct spk_error *err)
{
    for (size_t i = 0; i < ndeps; i++) {
        c->refs = spk_realloc(c->refs, (c->nrefs + 1) * sizeof(*c->refs));
        c->refs[c->nrefs++] = spk_strdup(deps[i]);
    }
    for (size_t next = 0; next < c->nrefs; next++) {
        if (next >= CLOSURE_MAX_VERSIONS)
            return spk_error_set(err, SPK_E_INVALID_SCHEMA,
                                 "more than %d versions in the dependency closure",
                                 CLOSURE_MAX_VERSIONS);
        const char *ref = c->refs[next];
        json_t *doc = load_rendered(app, ref, err);
        if (!doc)
            return -1;
        c->docs = spk_realloc(c->docs, (c->ndocs + 1) * sizeof(*c->docs));
        c->docs[c->ndocs++] = doc;

        size_t i;
        json_t *f, *d;
        json_array_foreach(json_object_get(doc, "files"), i, f)
        {
            json_t *content = json_object_get(f, "content");
            c->files = spk_realloc(c->files, (c->nfiles + 1) * sizeof(*c->files));
            c->files[c->nfiles++] = (struct spk_proto_file){
                json_string_value(json_object_get(f, "path")), json_string_value(content),
                json_string_length(content), ref};
            c->bytes += json_string_length(content);
        }
        if (c->bytes > CLOSURE_MAX_BYTES)
            return spk_error_set(err, SPK_E_INVALID_SCHEMA,
                                 "the dependency closure is larger than %zu MiB",
                                 CLOSURE_MAX_BYTES >> 20);
        json_array_foreach(json_object_get(doc, "dependencies"), i, d)
        {
            const char *dep = json_string_value(d);
            if (dep && !visited(c, dep)) {
                c->refs = spk_realloc(c->refs, (c->nrefs + 1) * sizeof(*c->refs));
                c->refs[c->nrefs++] = spk_strdup(dep);
            }
        }
    }
    return 0;
}

static void reply_invalid(struct spk_http_ctx *ctx, const struct spk_proto_result *r)
{
    struct spk_error err = {0};
    const struct spk_proto_diag *d = r->ndiags ? &r->diags[0] : NULL;
    if (d && d->file[0] && d->line)
        spk_error_set(&err, SPK_E_INVALID_SCHEMA, "schema does not compile: %.100s:%d:%d: %.200s",
                      d->file, d->line, d->column, d->message);
    else if (d && d->file[0])
        spk_error_set(&err, SPK_E_INVALID_SCHEMA, "schema does not compile: %.100s: %.200s",
                      d->file, d->message);
    else
        spk_error_set(&err, SPK_E_INVALID_SCHEMA, "schema does not compile: %.200s",
                      d ? d->message : "unknown error");
    spk_http_reply_error(ctx, &err, spk_proto_details_json(r));
}

int api_schema_check(struct spk_http_ctx *ctx, struct spk_app *app,
                     const struct spk_proto_file *files, size_t nfiles, char *const *deps,
                     size_t ndeps, struct spk_proto_result *out)
{
    struct spk_error err = {0};
    struct closure c = {0};
    int rc = -1;

    if (gather(app, deps, ndeps, &c, &err)) {
        if (err.code == SPK_E_INVALID_SCHEMA) {
            struct spk_proto_result r = {0};
            spk_proto_parse_diagnostics(err.msg, strlen(err.msg), 1, &r);
            spk_http_reply_error(ctx, &err, spk_proto_details_json(&r));
            spk_proto_result_release(&r);
        } else {
            api_fail(ctx, &err);
        }
        goto out;
    }
    if (spk_proto_compile(&app->protoc, files, nfiles, c.files, c.nfiles, out, &err)) {
        spk_http_reply_error(ctx, &err, NULL);
        goto out;
    }
    spk_http_log_field(ctx, "validation", json_string(out->ok ? "ok" : "invalid"));
    if (!out->ok) {
        reply_invalid(ctx, out);
        goto out;
    }
    rc = 0;
out:
    closure_release(&c);
    return rc;
}
