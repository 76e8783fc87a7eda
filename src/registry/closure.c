/* Dependency closures: the versions a version depends on, transitively, each once, in
 * topological order. One walk serves validation (which needs the files) and the dependency
 * listing (which needs the names); the walk itself is pure and takes its loader as a function. */
#include <stdlib.h>
#include <string.h>

#include "spoke/alloc.h"
#include "spoke/error.h"
#include "spoke/registry.h"
#include "spoke/banned.h"

void spk_closure_release(struct spk_closure *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        spk_loaded_release(&c->v[i]);
    free(c->v);
    memset(c, 0, sizeof(*c));
}

struct walk {
    spk_closure_load_fn load;
    void *arg;
    size_t max_versions, max_bytes;
    char **seen; /* entered, finished or not: the graph is acyclic, but a loop must not hang */
    size_t nseen;
    struct spk_closure *out;
};

static int entered(struct walk *w, const char *ref)
{
    for (size_t i = 0; i < w->nseen; i++)
        if (strcmp(w->seen[i], ref) == 0)
            return 1;
    w->seen = spk_realloc(w->seen, (w->nseen + 1) * sizeof(*w->seen));
    w->seen[w->nseen++] = spk_strdup(ref);
    return 0;
}

/* Depth-first; a version is appended after everything it depends on (post-order). */
static int visit(struct walk *w, const char *text, struct spk_error *err)
{
    struct spk_ref ref;
    struct spk_loaded l = {0};

    if (spk_ref_parse(text, &ref, err))
        return spk_error_set(err, SPK_E_INTERNAL, "unusable dependency reference %.200s", text);
    if (entered(w, ref.text))
        return 0;
    if (w->nseen > w->max_versions)
        return spk_error_set(err, SPK_E_INVALID_SCHEMA,
                             "more than %zu versions in the dependency closure", w->max_versions);
    if (w->load(w->arg, &ref, &l, err))
        return -1;
    for (size_t i = 0; l.lens && i < l.meta.nfiles; i++)
        w->out->bytes += l.lens[i];
    if (w->out->bytes > w->max_bytes) {
        spk_loaded_release(&l);
        return spk_error_set(err, SPK_E_INVALID_SCHEMA,
                             "the dependency closure is larger than %zu MiB", w->max_bytes >> 20);
    }
    for (size_t i = 0; i < l.meta.ndeps; i++) {
        if (visit(w, l.meta.deps[i], err)) {
            spk_loaded_release(&l);
            return -1;
        }
    }
    struct spk_closure *c = w->out;
    c->v = spk_realloc(c->v, (c->n + 1) * sizeof(*c->v));
    c->v[c->n++] = l;
    return 0;
}

int spk_closure_walk(char *const *roots, size_t nroots, spk_closure_load_fn load, void *arg,
                     size_t max_versions, size_t max_bytes, struct spk_closure *out,
                     struct spk_error *err)
{
    struct walk w = {load, arg, max_versions, max_bytes, NULL, 0, out};
    int rc = 0;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < nroots && rc == 0; i++)
        rc = visit(&w, roots[i], err);
    for (size_t i = 0; i < w.nseen; i++)
        free(w.seen[i]);
    free(w.seen);
    if (rc)
        spk_closure_release(out);
    return rc;
}

struct registry_loader {
    struct spk_app *app;
    int flags;
    char *const *roots;
    size_t nroots;
};

static int is_root(const struct registry_loader *rl, const char *text)
{
    for (size_t i = 0; i < rl->nroots; i++)
        if (strcmp(rl->roots[i], text) == 0)
            return 1;
    return 0;
}

static int load_from_registry(void *arg, const struct spk_ref *ref, struct spk_loaded *out,
                              struct spk_error *err)
{
    struct registry_loader *rl = arg;
    if (spk_registry_version_load(rl->app, ref->module, ref->version, rl->flags, out, err) == 0)
        return 0;
    if (err->code != SPK_E_NOT_FOUND)
        return -1;
    /* A root was named by the caller; an inner one was recorded by an earlier push. */
    if (is_root(rl, ref->text))
        return spk_error_set(err, SPK_E_INVALID_SCHEMA, "dependency %s does not exist", ref->text);
    return spk_error_set(err, SPK_E_INTERNAL, "dependency %s is recorded but missing", ref->text);
}

int spk_registry_closure(struct spk_app *app, char *const *roots, size_t nroots, int flags,
                         struct spk_closure *out, struct spk_error *err)
{
    struct registry_loader rl = {
        app, flags & SPK_LOAD_CONTENTS ? SPK_LOAD_CONTENTS | SPK_LOAD_KEEP : 0, roots, nroots};
    return spk_closure_walk(roots, nroots, load_from_registry, &rl, SPK_CLOSURE_MAX_VERSIONS,
                            SPK_CLOSURE_MAX_BYTES, out, err);
}
