/* Validation and the push. A push validates everything before touching a backend, answers an
 * identical re-push as existing and a different one as CONFLICT, compiles the files against
 * their dependencies, checks the module's evolution policy, writes blobs before the metadata
 * transaction (so a failure leaves at most unreferenced blobs, never a version without its
 * files), and relies on the unique constraint, not a prior read, to settle concurrent pushes of
 * one version. Concurrent pushes of different versions are settled by the guard: the versions a
 * push was checked against are re-read under the module lock, and the check runs again when a
 * push landed in between. */
#include <stdlib.h>
#include <string.h>

#include "registry_internal.h"
#include "spoke/alloc.h"
#include "spoke/blob.h"
#include "spoke/blobrefs.h"
#include "spoke/cache.h"
#include "spoke/digest.h"
#include "spoke/error.h"
#include "spoke/metrics.h"
#include "spoke/sha256.h"
#include "spoke/time.h"
#include "spoke/banned.h"

/* A push that keeps losing the race against other pushes to its module gives up. */
#define GUARD_RETRIES 5

void spk_registry_push_digest(struct spk_push_request *req)
{
    struct spk_digest_file *df = spk_malloc((req->nfiles ? req->nfiles : 1) * sizeof(*df));
    for (size_t i = 0; i < req->nfiles; i++)
        df[i] = (struct spk_digest_file){req->files[i].path, req->files[i].sha256};
    spk_digest_compute(df, req->nfiles, (const char *const *)req->deps, req->ndeps, req->digest);
    free(df);
}

static int cmp_file_paths(const void *a, const void *b)
{
    return strcmp(((const struct spk_version_file *)a)->path,
                  ((const struct spk_version_file *)b)->path);
}

struct spk_version_file *spk_registry_push_files(const struct spk_push_request *req)
{
    struct spk_version_file *vf = spk_calloc(req->nfiles ? req->nfiles : 1, sizeof(*vf));
    for (size_t i = 0; i < req->nfiles; i++) {
        vf[i].path = (char *)req->files[i].path;
        memcpy(vf[i].sha256, req->files[i].sha256, sizeof(vf[i].sha256));
        vf[i].size = (int64_t)req->files[i].len;
    }
    qsort(vf, req->nfiles, sizeof(*vf), cmp_file_paths);
    return vf;
}

void spk_push_outcome_release(struct spk_push_outcome *o)
{
    if (!o)
        return;
    spk_version_release(&o->version);
    spk_proto_result_release(&o->schema);
    spk_compat_release(&o->compat);
    memset(o, 0, sizeof(*o));
}

int registry_compile(struct spk_app *app, const struct spk_proto_file *files, size_t nfiles,
                     char *const *deps, size_t ndeps, struct spk_proto_result *out,
                     struct spk_error *err)
{
    struct spk_closure c = {0};
    struct spk_proto_file *dfiles = NULL;
    size_t n = 0;
    int rc = -1;

    if (spk_registry_closure(app, deps, ndeps, SPK_LOAD_CONTENTS, &c, err)) {
        if (err->code == SPK_E_INVALID_SCHEMA)
            spk_proto_parse_diagnostics(err->msg, strlen(err->msg), 1, out);
        goto out;
    }
    for (size_t i = 0; i < c.n; i++)
        n += c.v[i].meta.nfiles;
    dfiles = spk_malloc((n ? n : 1) * sizeof(*dfiles));
    n = 0;
    for (size_t i = 0; i < c.n; i++)
        for (size_t f = 0; f < c.v[i].meta.nfiles; f++)
            dfiles[n++] = (struct spk_proto_file){c.v[i].meta.files[f].path, c.v[i].contents[f],
                                                  c.v[i].lens[f], c.v[i].ref.text};
    rc = spk_proto_compile(&app->protoc, files, nfiles, dfiles, n, out, err);
out:
    free(dfiles);
    spk_closure_release(&c);
    return rc;
}

static struct spk_proto_file *proto_files(const struct spk_push_file *files, size_t n)
{
    struct spk_proto_file *pf = spk_malloc((n ? n : 1) * sizeof(*pf));
    for (size_t i = 0; i < n; i++)
        pf[i] = (struct spk_proto_file){files[i].path, files[i].content, files[i].len, NULL};
    return pf;
}

int spk_registry_validate(struct spk_app *app, const struct spk_push_file *files, size_t nfiles,
                          char *const *deps, size_t ndeps, struct spk_proto_result *out,
                          struct spk_error *err)
{
    struct spk_proto_file *pf = proto_files(files, nfiles);
    int rc = registry_compile(app, pf, nfiles, deps, ndeps, out, err);
    free(pf);
    return rc;
}

/* ---- blobs ------------------------------------------------------------------------------- */

struct blobs {
    char descriptor[SPK_SHA256_HEX_LEN + 1];
    /* Per file, then the descriptor set: 1 when a committed version references the blob, which
     * is then known to be in the blob store. */
    unsigned char *known;
    int64_t claimed_us;
};

/* Claims the version's blobs (files and descriptor set) before any existence check, so the
 * garbage collector cannot delete one this push finds present and reuses; the push must then
 * commit within SPK_BLOB_CLAIM_MAX_PUSH_S (include/spoke/blobrefs.h). claimed_us is taken
 * before the claim, which errs on the safe side. */
static int claim_blobs(struct spk_app *app, const struct spk_push_request *req,
                       const struct spk_proto_result *schema, struct blobs *b,
                       struct spk_error *err)
{
    const char **shas = spk_malloc((req->nfiles + 1) * sizeof(*shas));
    for (size_t i = 0; i < req->nfiles; i++)
        shas[i] = req->files[i].sha256;
    spk_sha256_hex(schema->descriptor_set, schema->descriptor_len, b->descriptor);
    shas[req->nfiles] = b->descriptor;
    b->claimed_us = spk_time_mono_us();
    b->known = spk_calloc(req->nfiles + 1, 1);
    int rc = spk_store_blob_claim_known(app->db, shas, req->nfiles + 1, b->known, err);
    free(shas);
    return rc;
}

static int put_missing(struct spk_app *app, const char *sha, const void *data, size_t len,
                       struct spk_error *err)
{
    int have = spk_blob_exists(app->blobs, sha, err);
    if (have < 0)
        return -1;
    return have ? 0 : spk_blob_put(app->blobs, sha, data, len, err);
}

static int write_blobs(struct spk_app *app, const struct spk_push_request *req,
                       const struct spk_proto_result *schema, const struct blobs *b,
                       struct spk_error *err)
{
    for (size_t i = 0; i < req->nfiles; i++) /* a CI push changes a few files: most are known */
        if (!b->known[i] &&
            put_missing(app, req->files[i].sha256, req->files[i].content, req->files[i].len, err))
            return -1;
    if (!b->known[req->nfiles] &&
        put_missing(app, b->descriptor, schema->descriptor_set, schema->descriptor_len, err))
        return -1;
    return 0;
}

static int claim_expired(int64_t claimed_us, struct spk_error *err)
{
    if (spk_time_mono_us() - claimed_us <= (int64_t)SPK_BLOB_CLAIM_MAX_PUSH_S * 1000000)
        return 0;
    return spk_error_set(err, SPK_E_UNAVAILABLE, "storing the files took too long; retry the push");
}

/* ---- the push ---------------------------------------------------------------------------- */

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

/* The version exists: the same content is an idempotent success, other content a CONFLICT. */
static int existing(struct spk_app *app, const struct spk_push_request *req,
                    struct spk_push_outcome *out, struct spk_error *err)
{
    /* The push that created it may not have invalidated yet: do it, as for a new version. */
    spk_cache_invalidate_module(app->cache, req->module);
    spk_version_release(&out->version);
    if (spk_store_version_get(app->db, req->module, req->semver.canonical, SPK_STORE_PRIMARY,
                              &out->version, err))
        return -1;
    out->created = 0;
    if (strcmp(out->version.digest, req->digest) != 0)
        return spk_error_set(err, SPK_E_CONFLICT,
                             "version %s of module %s already exists with digest %s; this push "
                             "has digest %s",
                             out->version.version, req->module, out->version.digest, req->digest);
    return 0;
}

static void count_refusal(const struct spk_compat *c)
{
    for (size_t p = 0; p < c->npairs; p++)
        for (size_t i = 0; i < c->pairs[p].result.n; i++)
            spk_metrics_push_refused(c->pairs[p].result.v[i].rule);
}

int spk_registry_push(struct spk_app *app, const struct spk_push_request *req,
                      struct spk_push_outcome *out, struct spk_error *err)
{
    struct spk_module m = {0};
    struct spk_policy policy = {0};
    struct spk_symbol_ref *symbols = NULL;
    struct spk_proto_file *pf = NULL;
    struct spk_version_file *vf = NULL;
    struct spk_evolve_image *cand = NULL;
    struct blobs b = {0};
    int rc = -1, is_default;

    memset(out, 0, sizeof(*out));
    /* The primary decides: a replica may not have seen the module or version yet. */
    if (spk_store_module_get(app->db, req->module, SPK_STORE_PRIMARY, &m, err))
        goto out;
    if (spk_store_version_get(app->db, req->module, req->semver.canonical,
                              SPK_STORE_PRIMARY | SPK_STORE_NO_FILES, &out->version, err) == 0) {
        rc = existing(app, req, out, err);
        goto out;
    }
    if (err->code != SPK_E_NOT_FOUND)
        goto out;
    spk_error_clear(err);

    pf = proto_files(req->files, req->nfiles);
    if (registry_compile(app, pf, req->nfiles, req->deps, req->ndeps, &out->schema, err))
        goto out;
    if (!out->schema.ok) {
        spk_error_set(err, SPK_E_INVALID_SCHEMA, "schema does not compile");
        goto out;
    }
    if (spk_registry_policy_get(app, req->module, SPK_LOAD_PRIMARY, &policy, &is_default, err))
        goto out;
    symbols = symbol_refs(&out->schema);
    vf = spk_registry_push_files(req);

    for (int attempt = 0;; attempt++) {
        struct push_targets t;
        spk_compat_release(&out->compat);
        if (registry_push_targets(app, req->module, &req->semver, &policy, &t, err))
            goto out;
        /* Decoded once, and only when there is something to compare with (not for 0.x, the
         * first release of a major, or a module without rules). */
        if (!cand && registry_targets_any(&policy, &t) &&
            registry_candidate_image(req, &out->schema, &cand, err))
            goto out;
        if (registry_check_candidate(app, req->module, &policy, &t, cand, &out->compat, err)) {
            if (err->code != SPK_E_BREAKING)
                goto out;
            /* A concurrent push of this very version with other content won meanwhile: that
             * it exists is the answer, as it would have been a moment later. */
            struct spk_error gone = {0};
            if (spk_store_version_get(app->db, req->module, req->semver.canonical,
                                      SPK_STORE_PRIMARY | SPK_STORE_NO_FILES, &out->version,
                                      &gone) == 0) {
                spk_compat_release(&out->compat);
                rc = existing(app, req, out, err);
                goto out;
            }
            count_refusal(&out->compat);
            goto out;
        }
        if (attempt == 0 && (claim_blobs(app, req, &out->schema, &b, err) ||
                             write_blobs(app, req, &out->schema, &b, err)))
            goto out;
        if (claim_expired(b.claimed_us, err))
            goto out;
        struct spk_version_new in = {
            .module_name = req->module,
            .semver = &req->semver,
            .digest = req->digest,
            .files = vf,
            .nfiles = req->nfiles,
            .deps = (const char *const *)req->deps,
            .ndeps = req->ndeps,
            .repository = req->repository,
            .commit_sha = req->commit_sha,
            .branch = req->branch,
            .descriptor_sha256 = b.descriptor,
            .symbols = symbols,
            .nsymbols = out->schema.nsymbols,
            .guard = t.guard,
            .guard_pred = t.pred,
            .guard_succ = t.succ,
        };
        spk_version_release(&out->version);
        int created = spk_store_version_create(app->db, &in, &out->version, err);
        if (created < 0)
            goto out;
        if (created == 0) { /* lost a race to a push of the same version */
            rc = existing(app, req, out, err);
            goto out;
        }
        if (created == 1)
            break;
        if (attempt + 1 >= GUARD_RETRIES) { /* 2: the versions it was checked against moved */
            spk_error_set(err, SPK_E_UNAVAILABLE,
                          "module %s is receiving many pushes at once; retry the push",
                          req->module);
            goto out;
        }
    }
    /* Before the reply: a client that then reads through any instance sees this version. */
    spk_cache_invalidate_module(app->cache, req->module);
    spk_metrics_version_pushed();
    out->created = 1;
    rc = 0;
out:
    spk_evolve_image_destroy(cand);
    free(vf);
    free(b.known);
    free(pf);
    free(symbols);
    spk_policy_release(&policy);
    spk_module_release(&m);
    return rc;
}
