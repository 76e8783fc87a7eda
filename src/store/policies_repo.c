/* Repository of module policies (migrations/004_evolution_policy.sql): one row per module that
 * set its own; modules without a row follow the server default, which lives in the config. */
#include <stdlib.h>
#include <string.h>

#include "pg_internal.h"
#include "spoke/alloc.h"
#include "spoke/buf.h"
#include "spoke/store.h"
#include "spoke/banned.h"

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void spk_policy_release(struct spk_policy *p)
{
    if (!p)
        return;
    free_list(p->use, p->nuse);
    free_list(p->except, p->nexcept);
    free_list(p->ignore, p->nignore);
    memset(p, 0, sizeof(*p));
}

/* Rule IDs, categories and paths never contain a newline (paths pass spk_validate_path), so the
 * arrays come back newline-joined. */
static void split_lines(const char *s, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    while (*s) {
        const char *end = strchr(s, '\n');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        *out = spk_realloc(*out, (*n + 1) * sizeof(**out));
        (*out)[(*n)++] = spk_strndup(s, len);
        s += len + (end ? 1 : 0);
    }
}

struct policy_get_op {
    const char *module;
    struct spk_policy *out;
    int *found;
};

static int do_policy_get(struct spk_pg_conn *c, void *ctx, struct spk_error *err)
{
    struct policy_get_op *op = ctx;
    const char *params[1] = {op->module};
    PGresult *res = spk_pg_query(c,
                                 "SELECT p.module_id IS NOT NULL,"
                                 " array_to_string(p.breaking_use, E'\\n'),"
                                 " array_to_string(p.breaking_except, E'\\n'),"
                                 " array_to_string(p.breaking_ignore, E'\\n'), p.semver"
                                 " FROM modules m LEFT JOIN module_policies p ON p.module_id = m.id"
                                 " WHERE m.name = $1",
                                 1, params, err);
    if (!res)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return spk_error_set(err, SPK_E_NOT_FOUND, "module %s not found", op->module);
    }
    *op->found = strcmp(spk_pg_text(res, 0, 0), "t") == 0;
    if (*op->found) {
        struct spk_policy p = {0};
        split_lines(spk_pg_text(res, 0, 1), &p.use, &p.nuse);
        split_lines(spk_pg_text(res, 0, 2), &p.except, &p.nexcept);
        split_lines(spk_pg_text(res, 0, 3), &p.ignore, &p.nignore);
        p.semver = strcmp(spk_pg_text(res, 0, 4), "t") == 0;
        *op->out = p;
    }
    PQclear(res);
    return 0;
}

int spk_store_policy_get(struct spk_db *db, const char *module, int flags, struct spk_policy *out,
                         int *found, struct spk_error *err)
{
    struct policy_get_op op = {module, out, found};
    return spk_db_read(db, flags & SPK_STORE_PRIMARY, do_policy_get, &op, err);
}

static char *array_of(char *const *v, size_t n)
{
    struct spk_buf b = SPK_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        spk_pg_array_add(&b, v[i]);
    return spk_pg_array_finish(&b);
}

struct policy_put_op {
    const char *module;
    const struct spk_policy *p;
};

static int do_policy_put(struct spk_pg_conn *c, void *ctx, struct spk_error *err)
{
    struct policy_put_op *op = ctx;
    char *use = array_of(op->p->use, op->p->nuse),
         *except = array_of(op->p->except, op->p->nexcept),
         *ignore = array_of(op->p->ignore, op->p->nignore);
    const char *params[5] = {op->module, use, except, ignore, op->p->semver ? "true" : "false"};
    PGresult *res = spk_pg_query(
        c,
        "INSERT INTO module_policies (module_id, breaking_use, breaking_except, breaking_ignore,"
        " semver) SELECT id, $2::text[], $3::text[], $4::text[], $5::boolean FROM modules"
        " WHERE name = $1"
        " ON CONFLICT (module_id) DO UPDATE SET breaking_use = EXCLUDED.breaking_use,"
        " breaking_except = EXCLUDED.breaking_except, breaking_ignore = EXCLUDED.breaking_ignore,"
        " semver = EXCLUDED.semver, updated_at = now()"
        " RETURNING module_id",
        5, params, err);
    free(use);
    free(except);
    free(ignore);
    if (!res)
        return -1;
    int rows = PQntuples(res);
    PQclear(res);
    if (rows != 1)
        return spk_error_set(err, SPK_E_NOT_FOUND, "module %s not found", op->module);
    return 0;
}

int spk_store_policy_put(struct spk_db *db, const char *module, const struct spk_policy *p,
                         struct spk_error *err)
{
    struct policy_put_op op = {module, p};
    return spk_db_write(db, do_policy_put, &op, err);
}
