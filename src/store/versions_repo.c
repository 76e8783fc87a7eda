/* Repository of versions: list in SemVer precedence, get one (or "latest") with its files,
 * dependencies and source info, and create one with its files and dependencies in a single
 * transaction that also keeps modules.latest_version and version_count exact. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_internal.h"
#include "spoke/alloc.h"
#include "spoke/buf.h"
#include "spoke/store.h"
#include "spoke/banned.h"

/* SemVer precedence, newest first, is (major, minor, patch, is_release, pre_key); "latest"
 * prefers any release over any pre-release. */
#define LATEST_PRECEDENCE                                                                          \
    "is_release DESC, major DESC, minor DESC, patch DESC, pre_key DESC, version DESC"

void spk_version_release(struct spk_version *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->nfiles; i++)
        free(v->files[i].path);
    free(v->files);
    for (size_t i = 0; i < v->ndeps; i++)
        free(v->deps[i]);
    free(v->deps);
    free(v->repository);
    free(v->commit_sha);
    free(v->branch);
    v->files = NULL;
    v->nfiles = 0;
    v->deps = NULL;
    v->ndeps = 0;
    v->repository = v->commit_sha = v->branch = NULL;
}

static void copy_text(char *dst, size_t dstsz, const char *src)
{
    size_t n = strnlen(src, dstsz - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* ---- list ---- */

struct version_list_op {
    const char *module;
    const char *limit; /* NULL means no limit */
    const char *offset;
    struct spk_version_summary **out;
    size_t *n;
};

/* One row per version, or a single row of NULLs when the module has none in the window; no row
 * at all when the module does not exist. */
static const char VERSION_LIST_SQL[] =
    "SELECT v.version, v.digest, (extract(epoch FROM v.created_at) * 1000000)::bigint"
    " FROM modules m"
    " LEFT JOIN LATERAL ("
    "   SELECT version, digest, created_at, major, minor, patch, is_release, pre_key"
    "   FROM versions WHERE module_id = m.id"
    "   ORDER BY major DESC, minor DESC, patch DESC, is_release DESC, pre_key DESC, version DESC"
    "   LIMIT $2 OFFSET $3) v ON true"
    " WHERE m.name = $1"
    " ORDER BY v.major DESC, v.minor DESC, v.patch DESC, v.is_release DESC, v.pre_key DESC,"
    "   v.version DESC";

static int do_version_list(struct spk_pg_conn *c, void *ctx, struct spk_error *err)
{
    struct version_list_op *op = ctx;
    const char *params[3] = {op->module, op->limit, op->offset};
    PGresult *res = spk_pg_query(c, VERSION_LIST_SQL, 3, params, err);
    if (!res)
        return -1;
    int rows = PQntuples(res);
    if (rows == 0) {
        PQclear(res);
        return spk_error_set(err, SPK_E_NOT_FOUND, "module %s not found", op->module);
    }
    size_t n = 0;
    struct spk_version_summary *list = spk_calloc((size_t)rows, sizeof(*list));
    for (int i = 0; i < rows; i++) {
        if (PQgetisnull(res, i, 0))
            continue;
        struct spk_version_summary *s = &list[n++];
        copy_text(s->version, sizeof(s->version), spk_pg_text(res, i, 0));
        copy_text(s->digest, sizeof(s->digest), spk_pg_text(res, i, 1));
        s->created_at = spk_pg_int64(res, i, 2);
    }
    PQclear(res);
    if (n == 0) {
        free(list);
        list = NULL;
    }
    *op->out = list;
    *op->n = n;
    return 0;
}

int spk_store_version_list(struct spk_db *db, const char *module, int64_t limit, int64_t offset,
                           int flags, struct spk_version_summary **out, size_t *n,
                           struct spk_error *err)
{
    char limit_s[24], offset_s[24];
    snprintf(limit_s, sizeof(limit_s), "%" PRId64, limit);
    snprintf(offset_s, sizeof(offset_s), "%" PRId64, offset > 0 ? offset : 0);
    *out = NULL;
    *n = 0;
    struct version_list_op op = {module, limit >= 0 ? limit_s : NULL, offset_s, out, n};
    return spk_db_read(db, flags & SPK_STORE_PRIMARY, do_version_list, &op, err);
}

/* ---- get ---- */

#define VERSION_COLS                                                                               \
    "v.id, v.version, v.digest, (extract(epoch FROM v.created_at) * 1000000)::bigint,"             \
    " v.repository, v.commit_sha, v.branch, coalesce(v.descriptor_sha256, '')"

/* A row with the module name and the version columns, NULL when the version is missing; no row
 * when the module is missing. */
static const char VERSION_GET_SQL[] = "SELECT m.name, " VERSION_COLS " FROM modules m"
                                      " LEFT JOIN versions v ON v.module_id = m.id"
                                      " AND v.version = $2"
                                      " WHERE m.name = $1";
static const char VERSION_LATEST_SQL[] = "SELECT m.name, " VERSION_COLS " FROM modules m"
                                         " LEFT JOIN LATERAL (SELECT * FROM versions"
                                         "   WHERE module_id = m.id"
                                         "   ORDER BY " LATEST_PRECEDENCE " LIMIT 1) v ON true"
                                         " WHERE m.name = $1";

static int load_files(struct spk_pg_conn *c, const char *version_id, struct spk_version *v,
                      struct spk_error *err)
{
    const char *params[1] = {version_id};
    PGresult *res = spk_pg_query(c,
                                 "SELECT path, sha256, size FROM version_files"
                                 " WHERE version_id = $1 ORDER BY path COLLATE \"C\"",
                                 1, params, err);
    if (!res)
        return -1;
    v->nfiles = (size_t)PQntuples(res);
    v->files = v->nfiles ? spk_calloc(v->nfiles, sizeof(*v->files)) : NULL;
    for (size_t i = 0; i < v->nfiles; i++) {
        v->files[i].path = spk_strdup(spk_pg_text(res, (int)i, 0));
        copy_text(v->files[i].sha256, sizeof(v->files[i].sha256), spk_pg_text(res, (int)i, 1));
        v->files[i].size = spk_pg_int64(res, (int)i, 2);
    }
    PQclear(res);
    return 0;
}

static int load_deps(struct spk_pg_conn *c, const char *version_id, struct spk_version *v,
                     struct spk_error *err)
{
    const char *params[1] = {version_id};
    PGresult *res = spk_pg_query(c,
                                 "SELECT dep_module || '@' || dep_version FROM version_dependencies"
                                 " WHERE version_id = $1"
                                 " ORDER BY (dep_module || '@' || dep_version) COLLATE \"C\"",
                                 1, params, err);
    if (!res)
        return -1;
    v->ndeps = (size_t)PQntuples(res);
    v->deps = v->ndeps ? spk_calloc(v->ndeps, sizeof(*v->deps)) : NULL;
    for (size_t i = 0; i < v->ndeps; i++)
        v->deps[i] = spk_strdup(spk_pg_text(res, (int)i, 0));
    PQclear(res);
    return 0;
}

/* Reads one version on c into out (left untouched on failure). */
static int load_version(struct spk_pg_conn *c, const char *module, const char *version, int flags,
                        struct spk_version *out, struct spk_error *err)
{
    int latest = strcmp(version, "latest") == 0;
    const char *params[2] = {module, version};
    PGresult *res =
        spk_pg_query(c, latest ? VERSION_LATEST_SQL : VERSION_GET_SQL, latest ? 1 : 2, params, err);
    if (!res)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return spk_error_set(err, SPK_E_NOT_FOUND, "module %s not found", module);
    }
    if (PQgetisnull(res, 0, 1)) {
        PQclear(res);
        if (latest)
            return spk_error_set(err, SPK_E_NOT_FOUND, "module %s has no versions", module);
        return spk_error_set(err, SPK_E_NOT_FOUND, "version %s of module %s not found", version,
                             module);
    }

    struct spk_version v = {0};
    copy_text(v.module_name, sizeof(v.module_name), spk_pg_text(res, 0, 0));
    char id[24];
    copy_text(id, sizeof(id), spk_pg_text(res, 0, 1));
    copy_text(v.version, sizeof(v.version), spk_pg_text(res, 0, 2));
    copy_text(v.digest, sizeof(v.digest), spk_pg_text(res, 0, 3));
    v.created_at = spk_pg_int64(res, 0, 4);
    v.repository = spk_strdup(spk_pg_text(res, 0, 5));
    v.commit_sha = spk_strdup(spk_pg_text(res, 0, 6));
    v.branch = spk_strdup(spk_pg_text(res, 0, 7));
    copy_text(v.descriptor_sha256, sizeof(v.descriptor_sha256), spk_pg_text(res, 0, 8));
    PQclear(res);

    if (!(flags & SPK_STORE_NO_FILES) &&
        (load_files(c, id, &v, err) < 0 || load_deps(c, id, &v, err) < 0)) {
        spk_version_release(&v);
        return -1;
    }
    *out = v;
    return 0;
}

struct version_get_op {
    const char *module;
    const char *version;
    int flags;
    struct spk_version *out;
};

static int do_version_get(struct spk_pg_conn *c, void *ctx, struct spk_error *err)
{
    struct version_get_op *op = ctx;
    return load_version(c, op->module, op->version, op->flags, op->out, err);
}

int spk_store_version_get(struct spk_db *db, const char *module, const char *version, int flags,
                          struct spk_version *out, struct spk_error *err)
{
    struct version_get_op op = {module, version, flags, out};
    return spk_db_read(db, flags, do_version_get, &op, err);
}

/* ---- create ---- */

static int insert_files(struct spk_pg_conn *c, const char *version_id,
                        const struct spk_version_new *in, struct spk_error *err)
{
    struct spk_buf paths = SPK_BUF_INIT, shas = SPK_BUF_INIT, sizes = SPK_BUF_INIT;
    for (size_t i = 0; i < in->nfiles; i++) {
        char size[24];
        snprintf(size, sizeof(size), "%" PRId64, in->files[i].size);
        spk_pg_array_add(&paths, in->files[i].path);
        spk_pg_array_add(&shas, in->files[i].sha256);
        spk_pg_array_add(&sizes, size);
    }
    char *p = spk_pg_array_finish(&paths), *s = spk_pg_array_finish(&shas),
         *z = spk_pg_array_finish(&sizes);
    const char *params[4] = {version_id, p, s, z};
    int rc = spk_pg_exec(c,
                         "INSERT INTO version_files (version_id, path, sha256, size)"
                         " SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[])",
                         4, params, err);
    free(p);
    free(s);
    free(z);
    if (rc < 0 && err && err->code == SPK_E_EXISTS)
        spk_error_set(err, SPK_E_INVALID, "duplicate file path in version %s",
                      in->semver->canonical);
    return rc;
}

static int insert_deps(struct spk_pg_conn *c, const char *version_id,
                       const struct spk_version_new *in, struct spk_error *err)
{
    struct spk_buf mods = SPK_BUF_INIT, vers = SPK_BUF_INIT;
    for (size_t i = 0; i < in->ndeps; i++) {
        const char *at = strrchr(in->deps[i], '@');
        if (!at || at == in->deps[i] || !at[1]) {
            spk_buf_release(&mods);
            spk_buf_release(&vers);
            return spk_error_set(err, SPK_E_INVALID, "invalid dependency %s", in->deps[i]);
        }
        char *mod = spk_strndup(in->deps[i], (size_t)(at - in->deps[i]));
        spk_pg_array_add(&mods, mod);
        spk_pg_array_add(&vers, at + 1);
        free(mod);
    }
    char *m = spk_pg_array_finish(&mods), *v = spk_pg_array_finish(&vers);
    const char *params[3] = {version_id, m, v};
    int rc = spk_pg_exec(c,
                         "INSERT INTO version_dependencies (version_id, dep_module, dep_version)"
                         " SELECT $1, * FROM unnest($2::text[], $3::text[])"
                         " ON CONFLICT DO NOTHING",
                         3, params, err);
    free(m);
    free(v);
    return rc;
}

static int insert_symbols(struct spk_pg_conn *c, const char *version_id,
                          const struct spk_version_new *in, struct spk_error *err)
{
    struct spk_buf kinds = SPK_BUF_INIT, names = SPK_BUF_INIT, files = SPK_BUF_INIT;
    for (size_t i = 0; i < in->nsymbols; i++) {
        spk_pg_array_add(&kinds, in->symbols[i].kind);
        spk_pg_array_add(&names, in->symbols[i].full_name);
        spk_pg_array_add(&files, in->symbols[i].file);
    }
    char *k = spk_pg_array_finish(&kinds), *n = spk_pg_array_finish(&names),
         *f = spk_pg_array_finish(&files);
    const char *params[4] = {version_id, k, n, f};
    int rc = spk_pg_exec(c,
                         "INSERT INTO version_symbols (version_id, kind, full_name, file)"
                         " SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[])"
                         " ON CONFLICT DO NOTHING",
                         4, params, err);
    free(k);
    free(n);
    free(f);
    return rc;
}

/* Ends the transaction after a failure; if that fails too, the pool closes the connection. */
static void rollback(struct spk_pg_conn *c)
{
    struct spk_error ignored = {0};
    if (!c->discard)
        spk_pg_exec(c, "ROLLBACK", 0, NULL, &ignored);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* out for a version just created: no files, deps sorted. */
static void fill_created(const struct spk_version_new *in, int64_t created_at,
                         struct spk_version *out)
{
    struct spk_version v = {0};
    copy_text(v.module_name, sizeof(v.module_name), in->module_name);
    copy_text(v.version, sizeof(v.version), in->semver->canonical);
    copy_text(v.digest, sizeof(v.digest), in->digest);
    v.created_at = created_at;
    v.repository = spk_strdup(in->repository ? in->repository : "");
    v.commit_sha = spk_strdup(in->commit_sha ? in->commit_sha : "");
    v.branch = spk_strdup(in->branch ? in->branch : "");
    v.ndeps = in->ndeps;
    v.deps = v.ndeps ? spk_calloc(v.ndeps, sizeof(*v.deps)) : NULL;
    for (size_t i = 0; i < v.ndeps; i++)
        v.deps[i] = spk_strdup(in->deps[i]);
    if (v.ndeps > 1)
        qsort(v.deps, v.ndeps, sizeof(*v.deps), cmp_str);
    *out = v;
}

/* ---- neighbours (what a push is checked against) ---- */

static const char NEIGHBORS_SQL[] =
    "SELECT (SELECT v.version FROM versions v WHERE v.module_id = m.id AND v.major = $2"
    "   AND v.is_release"
    "   AND (v.minor, v.patch, v.is_release, v.pre_key) < ($3::bigint, $4::bigint, $5::boolean, $6)"
    "   ORDER BY v.minor DESC, v.patch DESC, v.is_release DESC, v.pre_key DESC, v.version DESC"
    "   LIMIT 1),"
    " (SELECT v.version FROM versions v WHERE v.module_id = m.id AND v.major = $2"
    "   AND v.is_release"
    "   AND (v.minor, v.patch, v.is_release, v.pre_key) > ($3::bigint, $4::bigint, $5::boolean, $6)"
    "   ORDER BY v.minor, v.patch, v.is_release, v.pre_key, v.version LIMIT 1)"
    " FROM modules m WHERE m.name = $1";

static int load_neighbors(struct spk_pg_conn *c, const char *module, const struct spk_semver *sv,
                          char *pred, char *succ, struct spk_error *err)
{
    char major[24], minor[24], patch[24];
    snprintf(major, sizeof(major), "%" PRId64, sv->major);
    snprintf(minor, sizeof(minor), "%" PRId64, sv->minor);
    snprintf(patch, sizeof(patch), "%" PRId64, sv->patch);
    const char *params[6] = {
        module, major, minor, patch, spk_semver_is_release(sv) ? "true" : "false", sv->pre_key};
    PGresult *res = spk_pg_query(c, NEIGHBORS_SQL, 6, params, err);
    if (!res)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return spk_error_set(err, SPK_E_NOT_FOUND, "module %s not found", module);
    }
    copy_text(pred, SPK_SEMVER_MAX_LEN + 1, spk_pg_text(res, 0, 0));
    copy_text(succ, SPK_SEMVER_MAX_LEN + 1, spk_pg_text(res, 0, 1));
    PQclear(res);
    return 0;
}

struct neighbors_op {
    const char *module;
    const struct spk_semver *sv;
    char *pred, *succ;
};

static int do_neighbors(struct spk_pg_conn *c, void *ctx, struct spk_error *err)
{
    struct neighbors_op *op = ctx;
    return load_neighbors(c, op->module, op->sv, op->pred, op->succ, err);
}

int spk_store_version_neighbors(struct spk_db *db, const char *module, const struct spk_semver *sv,
                                int flags, char pred[SPK_SEMVER_MAX_LEN + 1],
                                char succ[SPK_SEMVER_MAX_LEN + 1], struct spk_error *err)
{
    struct neighbors_op op = {module, sv, pred, succ};
    return spk_db_read(db, flags & SPK_STORE_PRIMARY, do_neighbors, &op, err);
}

/* 1 when what the push was checked against is no longer what it would be checked against. */
static int guard_moved(struct spk_pg_conn *c, const struct spk_version_new *in, const char *latest,
                       struct spk_error *err)
{
    char pred[SPK_SEMVER_MAX_LEN + 1], succ[SPK_SEMVER_MAX_LEN + 1];
    switch (in->guard) {
    case SPK_GUARD_NONE:
        return 0;
    case SPK_GUARD_LATEST:
        return strcmp(latest, in->guard_pred ? in->guard_pred : "") != 0;
    case SPK_GUARD_NEIGHBORS:
        if (load_neighbors(c, in->module_name, in->semver, pred, succ, err))
            return -1;
        return strcmp(pred, in->guard_pred ? in->guard_pred : "") != 0 ||
               strcmp(succ, in->guard_succ ? in->guard_succ : "") != 0;
    }
    return 0;
}

struct descriptor_set_op {
    const char *module, *version, *sha256;
};

static int do_descriptor_set(struct spk_pg_conn *c, void *ctx, struct spk_error *err)
{
    struct descriptor_set_op *op = ctx;
    const char *params[3] = {op->module, op->version, op->sha256};
    return spk_pg_exec(c,
                       "UPDATE versions v SET descriptor_sha256 = $3 FROM modules m"
                       " WHERE m.id = v.module_id AND m.name = $1 AND v.version = $2",
                       3, params, err) < 0
               ? -1
               : 0;
}

int spk_store_version_descriptor_set(struct spk_db *db, const char *module, const char *version,
                                     const char *sha256, struct spk_error *err)
{
    struct descriptor_set_op op = {module, version, sha256};
    return spk_db_write(db, do_descriptor_set, &op, err);
}

struct version_create_op {
    const struct spk_version_new *in;
    struct spk_version *out;
};

static int do_version_create(struct spk_pg_conn *c, void *ctx, struct spk_error *err)
{
    struct version_create_op *op = ctx;
    const struct spk_version_new *in = op->in;
    const struct spk_semver *sv = in->semver;
    PGresult *res = NULL;

    if (spk_pg_exec(c, "BEGIN", 0, NULL, err) < 0)
        return -1;

    /* The row lock serialises pushes to one module, so the counters below stay exact. */
    const char *mparams[1] = {in->module_name};
    res = spk_pg_query(c,
                       "SELECT id, coalesce(latest_version, '') FROM modules WHERE name = $1"
                       " FOR UPDATE",
                       1, mparams, err);
    if (!res)
        goto fail;
    if (PQntuples(res) != 1) {
        spk_error_set(err, SPK_E_NOT_FOUND, "module %s not found", in->module_name);
        goto fail;
    }
    char module_id[24], latest[SPK_SEMVER_MAX_LEN + 1];
    copy_text(module_id, sizeof(module_id), spk_pg_text(res, 0, 0));
    copy_text(latest, sizeof(latest), spk_pg_text(res, 0, 1));
    PQclear(res);
    res = NULL;
    int moved = guard_moved(c, in, latest, err);
    if (moved < 0)
        goto fail;
    if (moved) {
        rollback(c);
        return c->discard ? -1 : 2;
    }

    char major[24], minor[24], patch[24];
    snprintf(major, sizeof(major), "%" PRId64, sv->major);
    snprintf(minor, sizeof(minor), "%" PRId64, sv->minor);
    snprintf(patch, sizeof(patch), "%" PRId64, sv->patch);
    const char *vparams[12] = {
        module_id,
        sv->canonical,
        major,
        minor,
        patch,
        spk_semver_is_release(sv) ? "true" : "false",
        sv->pre_key,
        in->digest,
        in->repository ? in->repository : "",
        in->commit_sha ? in->commit_sha : "",
        in->branch ? in->branch : "",
        in->descriptor_sha256 ? in->descriptor_sha256 : "",
    };
    res = spk_pg_query(c,
                       "INSERT INTO versions (module_id, version, major, minor, patch, is_release,"
                       " pre_key, digest, repository, commit_sha, branch, descriptor_sha256)"
                       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULLIF($12, ''))"
                       " RETURNING id, (extract(epoch FROM created_at) * 1000000)::bigint",
                       12, vparams, err);
    if (!res && err && err->code == SPK_E_EXISTS) {
        /* Pushed before (or concurrently, and that push committed first): hand back what is
         * stored, read on this primary connection, so the caller can compare digests. */
        rollback(c);
        if (c->discard)
            return -1;
        return load_version(c, in->module_name, sv->canonical, 0, op->out, err) < 0 ? -1 : 0;
    }
    if (!res)
        goto fail;
    char version_id[24];
    copy_text(version_id, sizeof(version_id), spk_pg_text(res, 0, 0));
    int64_t created_at = spk_pg_int64(res, 0, 1);
    PQclear(res);
    res = NULL;

    if (in->nfiles > 0 && insert_files(c, version_id, in, err) < 0)
        goto fail;
    if (in->ndeps > 0 && insert_deps(c, version_id, in, err) < 0)
        goto fail;
    if (in->nsymbols > 0 && insert_symbols(c, version_id, in, err) < 0)
        goto fail;

    const char *idparams[1] = {module_id};
    /* A separate statement, so the subquery sees the version inserted above. */
    if (spk_pg_exec(c,
                    "UPDATE modules SET latest_version = (SELECT version FROM versions"
                    "   WHERE module_id = $1 ORDER BY " LATEST_PRECEDENCE " LIMIT 1),"
                    " version_count = version_count + 1, updated_at = now()"
                    " WHERE id = $1",
                    1, idparams, err) < 0)
        goto fail;
    if (spk_pg_exec(c, "COMMIT", 0, NULL, err) < 0)
        goto fail;

    fill_created(in, created_at, op->out);
    return 1;

fail:
    PQclear(res);
    rollback(c);
    return -1;
}

int spk_store_version_create(struct spk_db *db, const struct spk_version_new *in,
                             struct spk_version *out, struct spk_error *err)
{
    struct version_create_op op = {in, out};
    return spk_db_write(db, do_version_create, &op, err);
}
