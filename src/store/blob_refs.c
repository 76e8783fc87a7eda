/* Blob references and claims for the garbage collector (include/spoke/blobrefs.h): the SQL behind
 * "is this blob still needed?" and the advisory lock that orders pushes' claims against the
 * collector's deletions. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_internal.h"
#include "spoke/blobrefs.h"
#include "spoke/buf.h"
#include "spoke/store.h"
#include "spoke/time.h"
#include "spoke/banned.h"

/* pg_advisory_xact_lock key: the bytes of "spoke-gc" as a bigint. Pushes hold it shared while
 * they claim, the collector exclusively while it re-checks and deletes. */
#define GC_LOCK_KEY "8318271018802964323"

/* Candidates that nothing needs: no version file, no version's descriptor set, no live claim.
 * $1 text[] of digests, $2 claim TTL in seconds. Returns the 1-based positions, in order. */
static const char UNREFERENCED_SQL[] =
    "SELECT c.i FROM unnest($1::text[]) WITH ORDINALITY AS c(s, i)"
    " WHERE NOT EXISTS (SELECT 1 FROM version_files f WHERE f.sha256 = c.s::char(64))"
    "   AND NOT EXISTS (SELECT 1 FROM versions v WHERE v.descriptor_sha256 = c.s::char(64))"
    "   AND NOT EXISTS (SELECT 1 FROM blob_claims b WHERE b.sha256 = c.s::char(64)"
    "                   AND b.claimed_at > now() - make_interval(secs => $2::double precision))"
    " ORDER BY c.i";

/* Sorted, so concurrent claims lock shared rows in the same order and cannot deadlock. */
static const char CLAIM_SQL[] =
    "INSERT INTO blob_claims (sha256, claimed_at)"
    " SELECT s, now() FROM (SELECT DISTINCT unnest($1::text[])::char(64) AS s) d ORDER BY s"
    " ON CONFLICT (sha256) DO UPDATE SET claimed_at = excluded.claimed_at";

/* Which of the claimed blobs committed versions already reference: those exist in the blob store
 * (a version commits only after its blobs are written, and the collector deletes only blobs
 * nothing references), so a push need not ask the store about them. 1-based positions. */
static const char REFERENCED_SQL[] =
    "SELECT c.i FROM unnest($1::text[]) WITH ORDINALITY AS c(s, i)"
    " WHERE EXISTS (SELECT 1 FROM version_files f WHERE f.sha256 = c.s::char(64))"
    "    OR EXISTS (SELECT 1 FROM versions v WHERE v.descriptor_sha256 = c.s::char(64))"
    " ORDER BY c.i";

/* A Postgres text[] literal of hex digests (nothing in them needs quoting). New string. */
static char *digest_array(const char *const *sha256, size_t n)
{
    struct spk_buf b = SPK_BUF_INIT;
    spk_buf_puts(&b, "{");
    for (size_t i = 0; i < n; i++)
        spk_buf_printf(&b, "%s\"%s\"", i ? "," : "", sha256[i]);
    spk_buf_puts(&b, "}");
    return spk_buf_detach(&b, NULL);
}

/* Ends the transaction after a failure; if that fails too, the pool closes the connection. */
static void rollback(struct spk_pg_conn *c)
{
    struct spk_error ignored = {0};
    if (!c->discard)
        spk_pg_exec(c, "ROLLBACK", 0, NULL, &ignored);
}

/* ---- claim ---- */

struct claim_op {
    const char *array;
    size_t n;
    unsigned char *known; /* NULL: not asked */
};

/* Marks op->known[i] for the referenced blobs; 0 or -1. */
static int find_referenced(struct spk_pg_conn *c, struct claim_op *op, struct spk_error *err)
{
    const char *params[1] = {op->array};
    /* Point lookups, always best by index. Where few blobs are shared by very many versions the
     * planner expects each digest to match a large share of rows and picks sequential scans
     * for the subplans, which then read the whole table for every new blob (measured: 140 ms
     * instead of 0.2 ms at 100,000 versions). For this transaction only. */
    if (spk_pg_exec(c, "SET LOCAL enable_seqscan = off", 0, NULL, err) < 0)
        return -1;
    PGresult *res = spk_pg_query(c, REFERENCED_SQL, 1, params, err);
    if (!res)
        return -1;
    memset(op->known, 0, op->n);
    for (int row = 0; row < PQntuples(res); row++) {
        int64_t i = spk_pg_int64(res, row, 0);
        if (i >= 1 && (size_t)i <= op->n)
            op->known[i - 1] = 1;
    }
    PQclear(res);
    return 0;
}

static int do_claim(struct spk_pg_conn *c, void *ctx, struct spk_error *err)
{
    struct claim_op *op = ctx;
    const char *params[1] = {op->array};
    if (spk_pg_exec(c, "BEGIN", 0, NULL, err) < 0)
        return -1;
    if (spk_pg_exec(c, "SELECT pg_advisory_xact_lock_shared(" GC_LOCK_KEY ")", 0, NULL, err) < 0 ||
        spk_pg_exec(c, CLAIM_SQL, 1, params, err) < 0 ||
        (op->known && find_referenced(c, op, err) < 0) ||
        spk_pg_exec(c, "COMMIT", 0, NULL, err) < 0) {
        rollback(c);
        return -1;
    }
    return 0;
}

int spk_store_blob_claim(struct spk_db *db, const char *const *sha256, size_t n,
                         struct spk_error *err)
{
    return spk_store_blob_claim_known(db, sha256, n, NULL, err);
}

int spk_store_blob_claim_known(struct spk_db *db, const char *const *sha256, size_t n,
                               unsigned char *known, struct spk_error *err)
{
    if (n == 0)
        return 0;
    struct claim_op op = {digest_array(sha256, n), n, known};
    int rc = spk_db_write(db, do_claim, &op, err);
    free((char *)op.array);
    return rc < 0 ? -1 : 0;
}

/* ---- unreferenced (hint) ---- */

struct unref_op {
    const char *array;
    const char *ttl;
    size_t n;
    unsigned char *unref;
};

static int do_unreferenced(struct spk_pg_conn *c, void *ctx, struct spk_error *err)
{
    struct unref_op *op = ctx;
    const char *params[2] = {op->array, op->ttl};
    PGresult *res = spk_pg_query(c, UNREFERENCED_SQL, 2, params, err);
    if (!res)
        return -1;
    memset(op->unref, 0, op->n);
    for (int r = 0; r < PQntuples(res); r++) {
        int64_t i = spk_pg_int64(res, r, 0);
        if (i >= 1 && (uint64_t)i <= op->n)
            op->unref[i - 1] = 1;
    }
    PQclear(res);
    return 0;
}

int spk_store_blob_unreferenced(struct spk_db *db, const char *const *sha256, size_t n,
                                int64_t claim_ttl_s, unsigned char *unref, struct spk_error *err)
{
    if (n == 0)
        return 0;
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%" PRId64, claim_ttl_s);
    struct unref_op op = {digest_array(sha256, n), ttl, n, unref};
    int rc = spk_db_read(db, SPK_STORE_PRIMARY, do_unreferenced, &op, err);
    free((char *)op.array);
    return rc < 0 ? -1 : 0;
}

/* ---- sweep ---- */

struct sweep_op {
    const char *const *sha256;
    size_t n;
    const char *array;
    const char *ttl;
    int budget_ms;
    spk_store_blob_delete_fn fn;
    void *ctx;
    size_t *done;
    int deleted;
};

static int do_sweep(struct spk_pg_conn *c, void *ctx, struct spk_error *err)
{
    struct sweep_op *op = ctx;
    const char *params[2] = {op->array, op->ttl};
    PGresult *res = NULL;

    op->deleted = 0;
    *op->done = 0;
    if (spk_pg_exec(c, "BEGIN", 0, NULL, err) < 0)
        return -1;
    if (spk_pg_exec(c, "SELECT pg_advisory_xact_lock(" GC_LOCK_KEY ")", 0, NULL, err) < 0 ||
        !(res = spk_pg_query(c, UNREFERENCED_SQL, 2, params, err)))
        goto fail;

    /* Deleting happens with the lock held, so leave the commit time to spare. */
    int64_t now = spk_time_mono_us();
    int64_t stop_at = now + (int64_t)op->budget_ms * 1000;
    if (c->deadline_us - now > 0 && stop_at > now + (c->deadline_us - now) / 2)
        stop_at = now + (c->deadline_us - now) / 2;
    size_t done = op->n;
    for (int r = 0; r < PQntuples(res); r++) {
        int64_t i = spk_pg_int64(res, r, 0);
        if (i < 1 || (uint64_t)i > op->n)
            continue;
        if (spk_time_mono_us() >= stop_at) {
            done = (size_t)(i - 1);
            break;
        }
        if (op->fn(op->sha256[i - 1], op->ctx, err))
            goto fail;
        op->deleted++;
    }
    PQclear(res);
    res = NULL;
    if (spk_pg_exec(c, "COMMIT", 0, NULL, err) < 0)
        goto fail;
    *op->done = done;
    return op->deleted;
fail:
    PQclear(res);
    rollback(c);
    return -1;
}

int spk_store_blob_sweep(struct spk_db *db, const char *const *sha256, size_t n,
                         int64_t claim_ttl_s, int budget_ms, spk_store_blob_delete_fn fn, void *ctx,
                         size_t *done, struct spk_error *err)
{
    *done = 0;
    if (n == 0)
        return 0;
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%" PRId64, claim_ttl_s);
    struct sweep_op op = {sha256, n, digest_array(sha256, n), ttl, budget_ms, fn, ctx, done, 0};
    int rc = spk_db_write(db, do_sweep, &op, err);
    free((char *)op.array);
    return rc;
}

/* ---- prune ---- */

struct prune_op {
    const char *ttl;
    int64_t pruned;
};

static int do_prune(struct spk_pg_conn *c, void *ctx, struct spk_error *err)
{
    struct prune_op *op = ctx;
    const char *params[1] = {op->ttl};
    PGresult *res = NULL;
    if (spk_pg_exec(c, "BEGIN", 0, NULL, err) < 0)
        return -1;
    /* Under the lock: no claim transaction runs meanwhile, so no row lock can be contended. */
    if (spk_pg_exec(c, "SELECT pg_advisory_xact_lock(" GC_LOCK_KEY ")", 0, NULL, err) < 0 ||
        !(res = spk_pg_query(
              c,
              "DELETE FROM blob_claims"
              " WHERE claimed_at < now() - make_interval(secs => $1::double precision)",
              1, params, err)))
        goto fail;
    op->pruned = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    res = NULL;
    if (spk_pg_exec(c, "COMMIT", 0, NULL, err) < 0)
        goto fail;
    return 0;
fail:
    PQclear(res);
    rollback(c);
    return -1;
}

int64_t spk_store_blob_claims_prune(struct spk_db *db, int64_t claim_ttl_s, struct spk_error *err)
{
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%" PRId64, claim_ttl_s);
    struct prune_op op = {ttl, 0};
    if (spk_db_write(db, do_prune, &op, err) < 0)
        return -1;
    return op.pruned;
}
