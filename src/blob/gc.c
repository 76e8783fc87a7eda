/* The blob garbage collector behind `spoke-server gc`: lists the blob store, keeps every blob a
 * committed version references (its files and its FileDescriptorSet) or a push has claimed, and
 * deletes the rest that are older than a minimum age. Safe while pushes run: the deciding
 * re-check and the deletions happen under the collector lock (include/spoke/blobrefs.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spoke/alloc.h"
#include "spoke/blob.h"
#include "spoke/blobrefs.h"
#include "spoke/config.h"
#include "spoke/error.h"
#include "spoke/gc.h"
#include "spoke/log.h"
#include "spoke/store.h"
#include "spoke/time.h"
#include "spoke/banned.h"

#define CHUNK           1000 /* candidates per reference query */
#define SWEEP_BUDGET_MS 1000 /* longest a sweep holds the lock (pushes' claims wait meanwhile) */
#define STORE_WAIT_MS   10000

struct candidate {
    char sha256[65]; /* first: the sweep hands back pointers to it */
    uint64_t size;
};

struct scan {
    struct candidate *list;
    size_t n, cap;
    int64_t older_than; /* Unix seconds: candidates were modified at or before this */
    struct spk_gc_report *r;
};

static int on_blob(const struct spk_blob_info *info, void *arg)
{
    struct scan *sc = arg;
    sc->r->scanned++;
    sc->r->scanned_bytes += info->size;
    if (!info->sha256) {
        sc->r->foreign++;
        return 0;
    }
    if (info->mtime <= 0 || info->mtime > sc->older_than) {
        sc->r->young++;
        return 0;
    }
    if (sc->n == sc->cap) {
        sc->cap = sc->cap ? sc->cap * 2 : 256;
        sc->list = spk_realloc(sc->list, sc->cap * sizeof(*sc->list));
    }
    memcpy(sc->list[sc->n].sha256, info->sha256, 65);
    sc->list[sc->n].size = info->size;
    sc->n++;
    return 0;
}

static void print_blob(FILE *out, const char *verb, const struct candidate *c)
{
    char key[SPK_BLOB_KEY_MAX];
    spk_blob_key(c->sha256, key, sizeof(key));
    if (out) {
        fprintf(out, "%s %s %llu bytes\n", verb, key, (unsigned long long)c->size);
        fflush(out);
    }
}

struct sweep_ctx {
    struct spk_blob_store *blobs;
    const struct spk_gc_options *o;
    struct spk_gc_report *r;
};

static int on_delete(const char *sha256, void *arg, struct spk_error *err)
{
    struct sweep_ctx *sw = arg;
    const struct candidate *c = (const struct candidate *)(const void *)sha256;
    if (spk_blob_remove(sw->blobs, sha256, err))
        return -1;
    sw->r->deleted++;
    sw->r->deleted_bytes += c->size;
    print_blob(sw->o->out, "deleted", c);
    return 0;
}

/* Sweeps the unreferenced candidates of one chunk, one lock-holding transaction at a time. */
static int sweep(struct spk_db *db, struct spk_blob_store *blobs, const struct spk_gc_options *o,
                 struct spk_gc_report *r, const char *const *shas, size_t n, struct spk_error *err)
{
    struct sweep_ctx sw = {blobs, o, r};
    size_t at = 0;
    while (at < n) {
        size_t done = 0;
        if (spk_store_blob_sweep(db, shas + at, n - at, o->claim_ttl_s, SWEEP_BUDGET_MS, on_delete,
                                 &sw, &done, err) < 0)
            return -1;
        at += done;
    }
    return 0;
}

int spk_gc_run(struct spk_db *db, struct spk_blob_store *blobs, const struct spk_gc_options *o,
               struct spk_gc_report *r, struct spk_error *err)
{
    struct scan sc = {.older_than = spk_time_now_us() / 1000000 - o->min_age_s, .r = r};
    const char **shas = NULL;
    unsigned char *unref = NULL;
    int rc = -1;

    memset(r, 0, sizeof(*r));
    if (o->apply) {
        int64_t pruned = spk_store_blob_claims_prune(db, o->claim_ttl_s, err);
        if (pruned < 0)
            goto out;
        r->claims_pruned = (uint64_t)pruned;
    }
    if (spk_blob_list(blobs, on_blob, &sc, err))
        goto out;
    shas = spk_calloc(CHUNK, sizeof(*shas));
    unref = spk_calloc(CHUNK, 1);
    for (size_t start = 0; start < sc.n; start += CHUNK) {
        size_t n = sc.n - start < CHUNK ? sc.n - start : CHUNK, m = 0;
        for (size_t i = 0; i < n; i++)
            shas[i] = sc.list[start + i].sha256;
        if (spk_store_blob_unreferenced(db, shas, n, o->claim_ttl_s, unref, err))
            goto out;
        for (size_t i = 0; i < n; i++) {
            if (!unref[i])
                continue;
            if (o->apply) {
                shas[m++] = sc.list[start + i].sha256;
            } else {
                r->deleted++;
                r->deleted_bytes += sc.list[start + i].size;
                print_blob(o->out, "would delete", &sc.list[start + i]);
            }
        }
        if (o->apply && sweep(db, blobs, o, r, shas, m, err))
            goto out;
    }
    rc = 0;
out:
    r->kept = r->scanned - r->foreign - r->young - r->deleted;
    free(unref);
    free(shas);
    free(sc.list);
    return rc;
}

static const char gc_usage[] =
    "usage: spoke-server gc (--dry-run | --apply) [--min-age SECONDS]\n"
    "\n"
    "Deletes blobs that no version references. --dry-run lists what would be deleted;\n"
    "--apply deletes it. Blobs modified within --min-age seconds (default\n"
    "SPOKE_GC_MIN_AGE_SECONDS) are kept. Safe to run while instances serve pushes.\n";

static int parse_args(int argc, char **argv, const struct spk_config *cfg, struct spk_gc_options *o)
{
    int mode = -1;
    o->min_age_s = cfg->gc_min_age_s;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--dry-run") == 0 || strcmp(argv[i], "--apply") == 0) {
            int m = strcmp(argv[i], "--apply") == 0;
            if (mode >= 0 && mode != m)
                return -1;
            mode = m;
        } else if (strcmp(argv[i], "--min-age") == 0 && i + 1 < argc) {
            char *end;
            long long v = strtoll(argv[++i], &end, 10);
            if (*end || end == argv[i] || v < 0)
                return -1;
            o->min_age_s = v;
        } else {
            return -1;
        }
    }
    if (mode < 0)
        return -1;
    o->apply = mode;
    return 0;
}

int spk_gc_command(const struct spk_config *cfg, int argc, char **argv)
{
    struct spk_gc_options o = {.claim_ttl_s = SPK_BLOB_CLAIM_TTL_S, .out = stdout};
    struct spk_gc_report r;
    struct spk_error err = {0};
    struct spk_blob_store *blobs = NULL;
    struct spk_db *db = NULL;
    int status = 1;

    if (parse_args(argc, argv, cfg, &o)) {
        fputs(gc_usage, stderr);
        return 2;
    }
    blobs = spk_blob_store_create(cfg, STORE_WAIT_MS, &err);
    if (!blobs || !(db = spk_db_create(cfg, &err)))
        goto fail;
    int64_t t0 = spk_time_mono_us();
    int rc = spk_gc_run(db, blobs, &o, &r, &err);
    printf("gc: %s%s %llu blobs (%llu bytes); scanned %llu objects (%llu bytes): kept %llu "
           "referenced or claimed, %llu younger than %lld s, %llu not blobs; pruned %llu claims; "
           "%.1f s\n",
           o.apply ? "" : "dry run: ", o.apply ? "deleted" : "would delete",
           (unsigned long long)r.deleted, (unsigned long long)r.deleted_bytes,
           (unsigned long long)r.scanned, (unsigned long long)r.scanned_bytes,
           (unsigned long long)r.kept, (unsigned long long)r.young, (long long)o.min_age_s,
           (unsigned long long)r.foreign, (unsigned long long)r.claims_pruned,
           (double)(spk_time_mono_us() - t0) / 1e6);
    fflush(stdout);
    if (rc)
        goto fail;
    status = 0;
    goto out;
fail:
    fprintf(stderr, "spoke-server gc: %s\n", err.msg);
out:
    spk_db_destroy(db);
    spk_blob_store_destroy(blobs);
    return status;
}
