/* Reverse dependency lookups from version_dependencies: which versions declare module@version as
 * a direct dependency. (Forward dependencies come with the version itself, see versions_repo.c.) */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "pg_internal.h"
#include "spoke/alloc.h"
#include "spoke/store.h"
#include "spoke/banned.h"

struct dependents_op {
    const char *module, *version;
    const char *limit, *offset;
    char ***out;
    size_t *n;
};

/* The first row says whether module@version exists; the rest are its dependents, in module-name
 * order and SemVer precedence (newest first) within a module. */
static const char DEPENDENTS_SQL[] =
    "SELECT NULL, EXISTS (SELECT 1 FROM versions v JOIN modules m ON m.id = v.module_id"
    "                      WHERE m.name = $1 AND v.version = $2), 0 AS o, NULL, 0, 0, 0, false, ''"
    " UNION ALL"
    " (SELECT * FROM (SELECT m.name || '@' || v.version, true, 1 AS o, m.name, v.major, v.minor,"
    "                        v.patch, v.is_release, v.pre_key"
    "   FROM version_dependencies d JOIN versions v ON v.id = d.version_id"
    "   JOIN modules m ON m.id = v.module_id"
    "   WHERE d.dep_module = $1 AND d.dep_version = $2) s"
    "  ORDER BY 4, 5 DESC, 6 DESC, 7 DESC, 8 DESC, 9 DESC, 1 DESC LIMIT $3 OFFSET $4)"
    " ORDER BY 3";

static int do_dependents(struct spk_pg_conn *c, void *ctx, struct spk_error *err)
{
    struct dependents_op *op = ctx;
    const char *params[4] = {op->module, op->version, op->limit, op->offset};
    PGresult *res = spk_pg_query(c, DEPENDENTS_SQL, 4, params, err);
    if (!res)
        return -1;
    int rows = PQntuples(res);
    if (rows < 1 || spk_pg_text(res, 0, 1)[0] != 't') {
        PQclear(res);
        return spk_error_set(err, SPK_E_NOT_FOUND, "version %s of module %s not found", op->version,
                             op->module);
    }
    char **list = spk_calloc((size_t)rows, sizeof(*list));
    for (int i = 1; i < rows; i++)
        list[i - 1] = spk_strdup(spk_pg_text(res, i, 0));
    PQclear(res);
    *op->out = list;
    *op->n = (size_t)rows - 1;
    return 0;
}

int spk_store_version_dependents(struct spk_db *db, const char *module, const char *version,
                                 int64_t limit, int64_t offset, char ***out, size_t *n,
                                 struct spk_error *err)
{
    char l[24], o[24];
    snprintf(l, sizeof(l), "%" PRId64, limit);
    snprintf(o, sizeof(o), "%" PRId64, offset);
    struct dependents_op op = {module, version, l, o, out, n};
    *out = NULL;
    *n = 0;
    return spk_db_read(db, 0, do_dependents, &op, err);
}
