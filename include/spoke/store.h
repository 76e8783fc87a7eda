/* Metadata in Postgres behind two pools: the write pool on SPOKE_POSTGRES_URL (the primary) and
 * the read pool, round-robin over replicas that are healthy and within
 * SPOKE_POSTGRES_MAX_LAG_BYTES, falling back to the primary when none is. A background thread
 * re-checks replicas; one that recovers rejoins.
 *
 * Invariants:
 * - Every read that finds nothing on a replica is confirmed on the primary before NOT_FOUND is
 *   returned (read-your-writes across instances).
 * - No call blocks longer than acquire timeout + query timeout: queries run with poll deadlines,
 *   a timed-out or broken connection is discarded and replaced, and a connection is returned to
 *   its pool only outside a transaction.
 * - Backend failures become SPK_E_UNAVAILABLE (pool exhausted, primary down); unique violations
 *   (SQLSTATE 23505) become SPK_E_EXISTS. libpq text goes to the log, never into err->msg.
 * - This header is the only view of libpq the rest of the tree has: no PGresult leaves src/store.
 *
 * Output structs are caller-owned and released with their _release function (NULL-safe,
 * idempotent on zeroed structs). Times are Unix microseconds. */
#ifndef SPOKE_STORE_H
#define SPOKE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "spoke/digest.h"
#include "spoke/semver.h"
#include "spoke/validate.h"

struct spk_error;
struct spk_config;
struct spk_db;

struct spk_module {
    char name[SPK_MODULE_NAME_MAX + 1];
    char *description; /* never NULL after a successful read */
    int64_t created_at;
    int64_t updated_at;
    char latest_version[SPK_SEMVER_MAX_LEN + 1]; /* "" when the module has no version */
    int64_t version_count;
};
void spk_module_release(struct spk_module *m);
void spk_modules_free(struct spk_module *list, size_t n);

struct spk_version_summary {
    char version[SPK_SEMVER_MAX_LEN + 1];
    char digest[SPK_DIGEST_LEN + 1];
    int64_t created_at;
};

struct spk_version_file {
    char *path;
    char sha256[65];
    int64_t size;
};

struct spk_version {
    char module_name[SPK_MODULE_NAME_MAX + 1];
    char version[SPK_SEMVER_MAX_LEN + 1]; /* canonical, without "v" */
    char digest[SPK_DIGEST_LEN + 1];
    int64_t created_at;
    struct spk_version_file *files; /* sorted by path (bytes) */
    size_t nfiles;
    char **deps; /* "module@version", sorted */
    size_t ndeps;
    char *repository; /* never NULL after a successful read; "" when unknown */
    char *commit_sha;
    char *branch;
    char descriptor_sha256[65]; /* the compiled FileDescriptorSet's blob; "" when none */
};
void spk_version_release(struct spk_version *v);

/* A name a version's own files define (see include/spoke/proto.h). */
struct spk_symbol_ref {
    const char *kind; /* "message", "enum", "service" */
    const char *full_name;
    const char *file;
};

enum spk_version_guard {
    SPK_GUARD_NONE,      /* stored whatever else was pushed meanwhile */
    SPK_GUARD_NEIGHBORS, /* see spk_store_version_neighbors */
    SPK_GUARD_LATEST,    /* the module's latest version */
};

struct spk_version_new {
    const char *module_name;
    const struct spk_semver *semver;
    const char *digest;
    const struct spk_version_file *files;
    size_t nfiles;
    const char *const *deps; /* canonical "module@version" */
    size_t ndeps;
    const char *repository; /* NULL or "" when unknown */
    const char *commit_sha;
    const char *branch;
    const char *descriptor_sha256; /* the compiled FileDescriptorSet's blob; NULL if none */
    const struct spk_symbol_ref *symbols;
    size_t nsymbols;
    /* What the push was checked against, re-read under the module lock: when it moved (a
     * concurrent push landed in between), nothing is stored and the caller checks again. */
    enum spk_version_guard guard;
    const char *guard_pred; /* NEIGHBORS: expected predecessor / successor ("" for none); */
    const char *guard_succ; /* LATEST: guard_pred is the expected latest version */
};

struct spk_db_health {
    int primary_ok;
    double primary_latency_ms;
    char primary_detail[128]; /* short, no backend text with secrets */
    int replicas_healthy;
    int replicas_total;
    double replicas_latency_ms; /* of the last background check */
};

/* Creates both pools (connections are opened lazily) and starts the replica checker.
 * Free with spk_db_destroy. */
struct spk_db *spk_db_create(const struct spk_config *cfg, struct spk_error *err);
void spk_db_destroy(struct spk_db *db);

/* Runs "SELECT 1" on the write pool with a short deadline; replica state comes from the checker. */
void spk_db_health(struct spk_db *db, struct spk_db_health *out);

/* Which pool served the last store call on this thread: "primary", "replica" or NULL. For logs. */
const char *spk_store_last_pool(void);

/* Connections checked out right now (spoke_db_connections_active{pool}); replicas summed. */
struct spk_db_pool_stats {
    int primary_active;
    int replicas_active;
};
void spk_db_pool_stats(struct spk_db *db, struct spk_db_pool_stats *out);

/* Flags for reads. */
#define SPK_STORE_PRIMARY  0x1 /* read from the primary only (e.g. before a write) */
#define SPK_STORE_NO_FILES 0x2 /* version reads: skip files, deps and source info */

/* EXISTS if the name is taken. */
int spk_store_module_create(struct spk_db *db, const char *name, const char *description,
                            struct spk_module *out, struct spk_error *err);
int spk_store_module_get(struct spk_db *db, const char *name, int flags, struct spk_module *out,
                         struct spk_error *err);
/* Name order; prefix may be NULL or "". Returns up to limit rows in a new array
 * (free with spk_modules_free). Pass limit + 1 to learn whether there are more. */
int spk_store_module_list(struct spk_db *db, const char *prefix, int64_t limit, int64_t offset,
                          struct spk_module **out, size_t *n, struct spk_error *err);
/* description NULL leaves it unchanged (still bumps nothing). NOT_FOUND if missing. */
int spk_store_module_update(struct spk_db *db, const char *name, const char *description,
                            struct spk_module *out, struct spk_error *err);

/* SemVer precedence, newest first. NOT_FOUND if the module does not exist. flags: PRIMARY.
 * New array, free with free(). */
int spk_store_version_list(struct spk_db *db, const char *module, int64_t limit, int64_t offset,
                           int flags, struct spk_version_summary **out, size_t *n,
                           struct spk_error *err);
/* version is a canonical SemVer or "latest" (highest release, else highest pre-release).
 * NOT_FOUND names what is missing: the module or the version. */
int spk_store_version_get(struct spk_db *db, const char *module, const char *version, int flags,
                          struct spk_version *out, struct spk_error *err);
/* Inserts the version, its files and dependencies in one transaction, locking the module row so
 * latest_version/version_count stay exact under concurrent pushes.
 * Returns 1 when created (out = the new version, without files), 0 when the version already
 * existed (out = the existing version from the primary, so the caller can compare digests),
 * 2 when in->guard found that what the push was checked against moved (nothing stored, out
 * untouched), -1 on error (NOT_FOUND if the module is missing). */
int spk_store_version_create(struct spk_db *db, const struct spk_version_new *in,
                             struct spk_version *out, struct spk_error *err);

/* The neighbours of sv among the releases of its major version: pred is the highest stored
 * release below sv with the same major, succ the lowest above it; "" when there is none.
 * Pre-releases are never neighbours. flags: PRIMARY. */
int spk_store_version_neighbors(struct spk_db *db, const char *module, const struct spk_semver *sv,
                                int flags, char pred[SPK_SEMVER_MAX_LEN + 1],
                                char succ[SPK_SEMVER_MAX_LEN + 1], struct spk_error *err);
/* Points an existing version at another FileDescriptorSet blob (a recompilation of the same
 * files, e.g. one with source info). The caller has claimed and written the blob. */
int spk_store_version_descriptor_set(struct spk_db *db, const char *module, const char *version,
                                     const char *sha256, struct spk_error *err);

/* A module's evolution policy (see include/spoke/registry.h). Strings are owned. */
struct spk_policy {
    char **use; /* buf categories and/or rule IDs */
    size_t nuse;
    char **except;
    size_t nexcept;
    char **ignore; /* path prefixes */
    size_t nignore;
    int semver;
};
void spk_policy_release(struct spk_policy *p);
/* *found = 0 (out untouched) when the module follows the server default. NOT_FOUND if the module
 * does not exist. flags: PRIMARY. */
int spk_store_policy_get(struct spk_db *db, const char *module, int flags, struct spk_policy *out,
                         int *found, struct spk_error *err);
/* Creates or replaces the module's own policy. NOT_FOUND if the module does not exist. */
int spk_store_policy_put(struct spk_db *db, const char *module, const struct spk_policy *p,
                         struct spk_error *err);

/* Versions that declare module@version as a direct dependency, as "module@version" strings in
 * module-name order, newest version first within a module. New array of new strings: free each
 * and the array. NOT_FOUND if module@version itself does not exist. */
int spk_store_version_dependents(struct spk_db *db, const char *module, const char *version,
                                 int64_t limit, int64_t offset, char ***out, size_t *n,
                                 struct spk_error *err);

#endif
