/* Governing evolution: which stored versions a version is compared with, under which rules, and
 * the verdict. The rules themselves are src/evolve/; this file picks the versions (SemVer
 * neighbours, the latest, or every earlier version for Confluent's transitive levels), turns
 * stored versions into images (compiling again, once, a version stored without source info),
 * and gathers the results. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry_internal.h"
#include "spoke/alloc.h"
#include "spoke/blob.h"
#include "spoke/blobrefs.h"
#include "spoke/error.h"
#include "spoke/log.h"
#include "spoke/sha256.h"
#include "spoke/banned.h"

#define EARLIER_MAX 1000 /* versions a transitive level compares with */

const unsigned spk_diff_categories[SPK_DIFF_CATEGORIES] = {SPK_EVOLVE_FILE, SPK_EVOLVE_PACKAGE,
                                                           SPK_EVOLVE_WIRE_JSON, SPK_EVOLVE_WIRE};

void spk_compat_release(struct spk_compat *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->npairs; i++)
        spk_evolve_result_release(&c->pairs[i].result);
    free(c->pairs);
    memset(c, 0, sizeof(*c));
}

size_t spk_compat_violations(const struct spk_compat *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->npairs; i++)
        n += c->pairs[i].result.n;
    return n;
}

void spk_diff_report_release(struct spk_diff_report *r)
{
    if (!r)
        return;
    spk_evolve_diff_release(&r->diff);
    for (size_t i = 0; i < SPK_DIFF_CATEGORIES; i++)
        spk_evolve_result_release(&r->categories[i]);
    memset(r, 0, sizeof(*r));
}

/* ---- images of stored versions ----------------------------------------------------------- */

static const char **own_paths(const struct spk_version *v)
{
    const char **own = spk_malloc((v->nfiles ? v->nfiles : 1) * sizeof(*own));
    for (size_t i = 0; i < v->nfiles; i++)
        own[i] = v->files[i].path;
    return own;
}

/* Compiles a stored version again (its files against its recorded dependencies) and points it at
 * the new descriptor set, so this happens once per version. */
static int recompile(struct spk_app *app, struct spk_loaded *l, struct spk_error *err)
{
    struct spk_loaded full = {0};
    struct spk_proto_result r = {0};
    struct spk_proto_file *pf = NULL;
    char sha[SPK_SHA256_HEX_LEN + 1];
    int rc = -1;

    if (spk_registry_version_load(app, l->ref.module, l->ref.version, SPK_LOAD_CONTENTS, &full,
                                  err))
        goto out;
    pf = spk_malloc((full.meta.nfiles ? full.meta.nfiles : 1) * sizeof(*pf));
    for (size_t i = 0; i < full.meta.nfiles; i++)
        pf[i] =
            (struct spk_proto_file){full.meta.files[i].path, full.contents[i], full.lens[i], NULL};
    if (registry_compile(app, pf, full.meta.nfiles, full.meta.deps, full.meta.ndeps, &r, err))
        goto out;
    if (!r.ok) {
        spk_error_set(err, SPK_E_INTERNAL, "stored version %s no longer compiles", l->ref.text);
        goto out;
    }
    spk_sha256_hex(r.descriptor_set, r.descriptor_len, sha);
    const char *shas[1] = {sha};
    if (spk_store_blob_claim(app->db, shas, 1, err))
        goto out;
    int have = spk_blob_exists(app->blobs, sha, err);
    if (have < 0 ||
        (!have && spk_blob_put(app->blobs, sha, r.descriptor_set, r.descriptor_len, err)) ||
        spk_store_version_descriptor_set(app->db, l->ref.module, l->ref.version, sha, err))
        goto out;
    spk_logf(SPK_LOG_INFO, NULL, "recompiled %s with source info", l->ref.text);
    free(l->descriptor);
    l->descriptor = r.descriptor_set;
    l->descriptor_len = r.descriptor_len;
    r.descriptor_set = NULL;
    memcpy(l->meta.descriptor_sha256, sha, sizeof(sha));
    rc = 0;
out:
    free(pf);
    spk_proto_result_release(&r);
    spk_loaded_release(&full);
    return rc;
}

/* The image of a stored version, with source info when it can have it. version: canonical or
 * "latest"; the canonical version found is written to found. */
static int stored_image(struct spk_app *app, const char *module, const char *version,
                        struct spk_evolve_image **img, char found[SPK_SEMVER_MAX_LEN + 1],
                        struct spk_error *err)
{
    struct spk_loaded l = {0};
    const char **own = NULL;
    int rc = -1;

    *img = NULL;
    if (spk_registry_version_load(app, module, version, SPK_LOAD_DESCRIPTOR, &l, err))
        goto out;
    own = own_paths(&l.meta);
    if (l.descriptor &&
        spk_evolve_image_create(l.descriptor, l.descriptor_len, own, l.meta.nfiles, img, err))
        *img = NULL;
    if (*img && spk_evolve_image_has_source_info(*img)) {
        rc = 0;
        goto out;
    }
    /* Stored before versions kept source info (or before they kept a descriptor set at all). */
    if (recompile(app, &l, err) == 0) {
        spk_evolve_image_destroy(*img);
        *img = NULL;
        if (spk_evolve_image_create(l.descriptor, l.descriptor_len, own, l.meta.nfiles, img, err))
            goto out;
    } else if (*img) {
        /* It no longer compiles here (another protoc?): compare what was stored, without lines
         * and columns, rather than refuse every push compared with it. */
        spk_logf(SPK_LOG_WARN, NULL, "%s: %s; comparing without source info", l.ref.text, err->msg);
        spk_error_clear(err);
    } else {
        goto out;
    }
    rc = 0;
out:
    if (rc == 0 && found)
        snprintf(found, SPK_SEMVER_MAX_LEN + 1, "%s", l.meta.version);
    if (rc) {
        spk_evolve_image_destroy(*img);
        *img = NULL;
    }
    free(own);
    spk_loaded_release(&l);
    return rc;
}

/* ---- the rules ---------------------------------------------------------------------------- */

struct rules {
    int confluent;
    enum spk_evolve_mode mode;
    struct spk_evolve_config cfg;
    const char *single; /* mode naming one buf category or rule */
    char label[32];
};

static void rules_from_policy(struct rules *r, const struct spk_policy *p)
{
    memset(r, 0, sizeof(*r));
    r->cfg = (struct spk_evolve_config){(const char *const *)p->use,
                                        p->nuse,
                                        (const char *const *)p->except,
                                        p->nexcept,
                                        (const char *const *)p->ignore,
                                        p->nignore,
                                        0};
    snprintf(r->label, sizeof(r->label), "policy");
}

/* mode is a Confluent level, a buf category or a rule ID. */
static int rules_apply_mode(struct rules *r, const char *mode, struct spk_error *err)
{
    if (!mode)
        return 0;
    int m = spk_evolve_mode_parse(mode);
    if (m >= 0) {
        r->confluent = 1;
        r->mode = (enum spk_evolve_mode)m;
    } else if (spk_evolve_category_parse(mode) || spk_evolve_rule_find(mode)) {
        r->single = mode;
        r->cfg.use = &r->single;
        r->cfg.nuse = 1;
    } else {
        return spk_error_set(err, SPK_E_INVALID,
                             "mode %.64s is neither a compatibility level (BACKWARD, FORWARD, "
                             "FULL, their _TRANSITIVE forms, NONE) nor a breaking category or "
                             "rule",
                             mode);
    }
    snprintf(r->label, sizeof(r->label), "%s", mode);
    return 0;
}

static struct spk_compat_pair *add_pair(struct spk_compat *out, const char *against)
{
    out->pairs = spk_realloc(out->pairs, (out->npairs + 1) * sizeof(*out->pairs));
    struct spk_compat_pair *p = &out->pairs[out->npairs++];
    memset(p, 0, sizeof(*p));
    snprintf(p->against, sizeof(p->against), "%s", against);
    return p;
}

/* Compares stored version `against` with the candidate image. candidate_is_newer says which is
 * the old side for buf rules; Confluent levels decide their own directions. */
static int compare(struct spk_app *app, const char *module, const struct rules *r,
                   const char *against, const struct spk_evolve_image *cand, int candidate_is_newer,
                   struct spk_compat *out, struct spk_error *err)
{
    struct spk_evolve_image *img = NULL;
    char found[SPK_SEMVER_MAX_LEN + 1];
    int rc = -1;

    if (!r->confluent && r->cfg.nuse == 0) /* a policy with no rules checks nothing */
        return 0;
    if (stored_image(app, module, against, &img, found, err))
        goto out;
    if (!r->confluent) {
        const struct spk_evolve_image *o = candidate_is_newer ? img : cand;
        const struct spk_evolve_image *n = candidate_is_newer ? cand : img;
        struct spk_compat_pair *p = add_pair(out, found);
        rc = spk_evolve_check(o, n, &r->cfg, &p->result, err);
        goto out;
    }
    /* Confluent: BACKWARD = the candidate reads what `against` wrote; FORWARD the reverse. */
    if (spk_evolve_mode_backward(r->mode)) {
        struct spk_compat_pair *p = add_pair(out, found);
        if (spk_evolve_confluent_diff(img, cand, &p->result, err))
            goto out;
    }
    if (spk_evolve_mode_forward(r->mode)) {
        struct spk_compat_pair *p = add_pair(out, found);
        if (spk_evolve_confluent_diff(cand, img, &p->result, err))
            goto out;
    }
    rc = 0;
out:
    spk_evolve_image_destroy(img);
    return rc;
}

static void finish(struct spk_compat *out, const struct rules *r)
{
    out->compatible = spk_compat_violations(out) == 0;
    snprintf(out->rules, sizeof(out->rules), "%s", r->label);
}

/* ---- what a push is compared with --------------------------------------------------------- */

int registry_push_targets(struct spk_app *app, const char *module, const struct spk_semver *sv,
                          const struct spk_policy *policy, struct push_targets *out,
                          struct spk_error *err)
{
    memset(out, 0, sizeof(*out));
    if (!policy->semver) {
        struct spk_module m = {0};
        if (spk_store_module_get(app->db, module, SPK_STORE_PRIMARY, &m, err))
            return -1;
        out->guard = SPK_GUARD_LATEST;
        memcpy(out->pred, m.latest_version, sizeof(out->pred));
        spk_module_release(&m);
        return 0;
    }
    /* SemVer allows anything in 0.x and in pre-releases. */
    if (sv->major == 0 || !spk_semver_is_release(sv))
        return 0;
    out->guard = SPK_GUARD_NEIGHBORS;
    return spk_store_version_neighbors(app->db, module, sv, SPK_STORE_PRIMARY, out->pred, out->succ,
                                       err);
}

static int breaking_error(const struct spk_compat *c, const char *module, const char *what,
                          struct spk_error *err)
{
    size_t n = spk_compat_violations(c);
    const struct spk_compat_pair *first = NULL;
    for (size_t i = 0; i < c->npairs && !first; i++)
        if (c->pairs[i].result.n)
            first = &c->pairs[i];
    return spk_error_set(err, SPK_E_BREAKING,
                         "%s of module %s has %zu breaking change%s against version %s: %s: %.120s",
                         what, module, n, n == 1 ? "" : "s", first ? first->against : "?",
                         first ? first->result.v[0].rule : "?",
                         first ? first->result.v[0].message : "");
}

int registry_candidate_image(const struct spk_push_request *req,
                             const struct spk_proto_result *schema, struct spk_evolve_image **out,
                             struct spk_error *err)
{
    const char **own = spk_malloc((req->nfiles ? req->nfiles : 1) * sizeof(*own));
    for (size_t i = 0; i < req->nfiles; i++)
        own[i] = req->files[i].path;
    int rc = spk_evolve_image_create(schema->descriptor_set, schema->descriptor_len, own,
                                     req->nfiles, out, err);
    free(own);
    return rc;
}

int registry_targets_any(const struct spk_policy *policy, const struct push_targets *targets)
{
    return policy->nuse && (targets->pred[0] || targets->succ[0]);
}

int registry_check_candidate(struct spk_app *app, const char *module,
                             const struct spk_policy *policy, const struct push_targets *targets,
                             const struct spk_evolve_image *cand, struct spk_compat *out,
                             struct spk_error *err)
{
    struct rules r;

    memset(out, 0, sizeof(*out));
    rules_from_policy(&r, policy);
    if (targets->pred[0] && compare(app, module, &r, targets->pred, cand, 1, out, err))
        return -1;
    if (targets->succ[0] && compare(app, module, &r, targets->succ, cand, 0, out, err))
        return -1;
    finish(out, &r);
    return out->compatible ? 0 : breaking_error(out, module, "this push", err);
}

/* ---- POST …/compatibility ----------------------------------------------------------------- */

/* Stored versions below `below` (canonical; NULL: all), newest first, releases and pre-releases,
 * at most EARLIER_MAX of them. The list is read a page at a time, so a `below` far down a long
 * history is still found. */
static int earlier_versions(struct spk_app *app, const char *module, const char *below, char ***out,
                            size_t *n, struct spk_error *err)
{
    struct spk_semver limit, sv;
    *out = NULL;
    *n = 0;
    if (below && spk_semver_parse(below, &limit, err))
        return -1;
    for (int64_t offset = 0; *n < EARLIER_MAX; offset += EARLIER_MAX) {
        struct spk_version_summary *vers = NULL;
        size_t nv = 0;
        if (spk_store_version_list(app->db, module, EARLIER_MAX, offset, 0, &vers, &nv, err))
            return -1;
        for (size_t i = 0; i < nv && *n < EARLIER_MAX; i++) {
            if (below && (spk_semver_parse(vers[i].version, &sv, NULL) ||
                          spk_semver_compare(&sv, &limit) >= 0))
                continue;
            *out = spk_realloc(*out, (*n + 1) * sizeof(**out));
            (*out)[(*n)++] = spk_strdup(vers[i].version);
        }
        free(vers);
        if (nv < EARLIER_MAX)
            break;
    }
    return 0;
}

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int spk_registry_compatibility(struct spk_app *app, const struct spk_compat_request *req,
                               struct spk_compat *out, struct spk_proto_result *schema,
                               struct spk_error *err)
{
    struct spk_policy policy = {0};
    struct spk_evolve_image *cand = NULL;
    struct rules r;
    char **targets = NULL, newer[SPK_SEMVER_MAX_LEN + 1] = "candidate";
    size_t ntargets = 0;
    int rc = -1, is_default;

    memset(out, 0, sizeof(*out));
    if (spk_registry_policy_get(app, req->module, 0, &policy, &is_default, err))
        goto out;
    rules_from_policy(&r, &policy);
    if (req->breaking) {
        if (spk_registry_policy_validate(req->breaking, err))
            goto out;
        r.cfg.use = (const char *const *)req->breaking->use;
        r.cfg.nuse = req->breaking->nuse;
        r.cfg.except = (const char *const *)req->breaking->except;
        r.cfg.nexcept = req->breaking->nexcept;
        r.cfg.ignore = (const char *const *)req->breaking->ignore;
        r.cfg.nignore = req->breaking->nignore;
        snprintf(r.label, sizeof(r.label), "request");
    }
    if (rules_apply_mode(&r, req->mode, err))
        goto out;

    /* The new side: a stored version, or candidate files compiled like a push. */
    if (req->new_version) {
        if (stored_image(app, req->module, req->new_version, &cand, newer, err))
            goto out;
    } else {
        const struct spk_push_request *c = req->candidate;
        if (spk_registry_validate(app, c->files, c->nfiles, c->deps, c->ndeps, schema, err))
            goto out;
        if (!schema->ok) {
            spk_error_set(err, SPK_E_INVALID_SCHEMA, "schema does not compile");
            goto out;
        }
        if (registry_candidate_image(c, schema, &cand, err))
            goto out;
    }
    const char *version = req->new_version   ? newer
                          : req->has_version ? req->candidate->semver.canonical
                                             : NULL;

    /* The old side. */
    if (req->old_version) {
        if (compare(app, req->module, &r, req->old_version, cand, 1, out, err))
            goto out;
    } else if (r.confluent) {
        if (r.mode != SPK_EVOLVE_MODE_NONE) {
            if (earlier_versions(app, req->module, version, &targets, &ntargets, err))
                goto out;
            size_t upto = spk_evolve_mode_transitive(r.mode) ? ntargets : (ntargets ? 1 : 0);
            for (size_t i = 0; i < upto; i++)
                if (compare(app, req->module, &r, targets[i], cand, 1, out, err))
                    goto out;
        }
    } else if (version && policy.semver) {
        struct spk_semver sv;
        struct push_targets t;
        if (spk_semver_parse(version, &sv, err) ||
            registry_push_targets(app, req->module, &sv, &policy, &t, err))
            goto out;
        if (t.pred[0] && compare(app, req->module, &r, t.pred, cand, 1, out, err))
            goto out;
        if (t.succ[0] && compare(app, req->module, &r, t.succ, cand, 0, out, err))
            goto out;
    } else if (req->new_version) {
        /* A stored version without SemVer: the one just below it. */
        if (earlier_versions(app, req->module, newer, &targets, &ntargets, err))
            goto out;
        if (ntargets && compare(app, req->module, &r, targets[0], cand, 1, out, err))
            goto out;
    } else {
        /* A candidate without SemVer or without a version: the latest, as a push would. */
        struct spk_module mod = {0};
        if (spk_store_module_get(app->db, req->module, 0, &mod, err))
            goto out;
        int bad = mod.latest_version[0] &&
                  compare(app, req->module, &r, mod.latest_version, cand, 1, out, err);
        spk_module_release(&mod);
        if (bad)
            goto out;
    }
    finish(out, &r);
    rc = 0;
out:
    free_strs(targets, ntargets);
    spk_evolve_image_destroy(cand);
    spk_policy_release(&policy);
    return rc;
}

/* ---- GET …/diff --------------------------------------------------------------------------- */

int spk_registry_diff(struct spk_app *app, const char *module, const char *from, const char *to,
                      struct spk_diff_report *out, struct spk_error *err)
{
    struct spk_evolve_image *a = NULL, *b = NULL;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (stored_image(app, module, from, &a, out->from, err) ||
        stored_image(app, module, to, &b, out->to, err) || spk_evolve_diff(a, b, &out->diff, err))
        goto out;
    for (size_t i = 0; i < SPK_DIFF_CATEGORIES; i++) {
        const char *use[1] = {spk_evolve_category_name(spk_diff_categories[i])};
        struct spk_evolve_config cfg = {use, 1, NULL, 0, NULL, 0, 0};
        if (spk_evolve_check(a, b, &cfg, &out->categories[i], err))
            goto out;
    }
    rc = 0;
out:
    if (rc)
        spk_diff_report_release(out);
    spk_evolve_image_destroy(a);
    spk_evolve_image_destroy(b);
    return rc;
}
