/* The registry: what a request to the registry means, decided once for every front end (the
 * module API today, the Confluent-compatible API next). It loads versions with their files and
 * descriptor sets, walks dependency closures, resolves "latest", validates and pushes versions,
 * and governs evolution (policies, compatibility, diffs). It sits between the front ends and
 * store/, cache/, blob/, proto/ and evolve/, and knows nothing of HTTP.
 *
 * Failures: -1 with err set; results that explain a refusal (compiler diagnostics, breaking
 * changes) come back in the output struct next to err, for the front end to render.
 * Output structs are caller-owned and released with their _release function (NULL-safe,
 * idempotent on zeroed structs). */
#ifndef SPOKE_REGISTRY_H
#define SPOKE_REGISTRY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "spoke/evolve.h"
#include "spoke/proto.h"
#include "spoke/semver.h"
#include "spoke/store.h"
#include "spoke/validate.h"

struct spk_config;
struct spk_db;
struct spk_blob_store;
struct spk_l1;
struct spk_cache;
struct spk_error;

/* What every request shares; the server wires it up once. */
struct spk_app {
    const struct spk_config *cfg;
    struct spk_db *db;
    struct spk_blob_store *blobs;
    struct spk_l1 *l1;       /* rendered concrete versions, keyed "module@version"; also sources */
    struct spk_cache *cache; /* L1 → Redis read-through, over l1 (include/spoke/cache.h) */
    struct spk_protoc_options
        protoc;          /* runs the private toolchain, see spk_proto_toolchain_create */
    atomic_int draining; /* set on SIGTERM: readiness answers 503 from then on */
};

/* ---- versions ---------------------------------------------------------------------------- */

/* A version with what the caller asked for: metadata always, contents and descriptor set on
 * request. */
struct spk_loaded {
    struct spk_ref ref; /* meta.module_name@meta.version */
    struct spk_version meta;
    char **contents; /* per meta.files[i] (with SPK_LOAD_CONTENTS); NUL-terminated */
    size_t *lens;
    unsigned char
        *descriptor; /* FileDescriptorSet with imports and source info (SPK_LOAD_DESCRIPTOR) */
    size_t descriptor_len;
};
void spk_loaded_release(struct spk_loaded *l);

/* What spk_registry_version_load reads besides metadata:
 * - CONTENTS: every file's bytes;
 * - DESCRIPTOR: the descriptor set (may be absent for versions stored before there was one);
 * - KEEP: keep the blobs read in memory (L1, by SHA-256) for later loads, for dependencies,
 *   which every push naming them reads again;
 * - PRIMARY: metadata from the primary. */
#define SPK_LOAD_PRIMARY    0x1
#define SPK_LOAD_CONTENTS   0x2
#define SPK_LOAD_DESCRIPTOR 0x4
#define SPK_LOAD_KEEP       0x8

/* version is a canonical SemVer or "latest". NOT_FOUND names what is missing. */
int spk_registry_version_load(struct spk_app *app, const char *module, const char *version,
                              int flags, struct spk_loaded *out, struct spk_error *err);
/* One file's bytes (NUL-terminated; free with free()); INTERNAL when its blob is missing or
 * corrupt. */
int spk_registry_file_read(struct spk_app *app, const struct spk_version_file *f, char **data,
                           size_t *len, struct spk_error *err);
/* "latest" or a SemVer (a leading "v" allowed) into canonical text (or "latest"); INVALID
 * otherwise. */
int spk_registry_version_param(const char *param, char out[SPK_SEMVER_MAX_LEN + 1],
                               struct spk_error *err);

/* ---- dependency closures ----------------------------------------------------------------- */

/* The versions reachable from some roots, each once, in topological order (every version after
 * the versions it depends on). */
struct spk_closure {
    struct spk_loaded *v;
    size_t n;
    size_t bytes; /* file contents held */
};
void spk_closure_release(struct spk_closure *c);

/* How a walk reads one version; a pure walk with a fake loader is what the unit tests run.
 * Returns 0 with out filled, or -1 with err (NOT_FOUND when the version does not exist). */
typedef int (*spk_closure_load_fn)(void *arg, const struct spk_ref *ref, struct spk_loaded *out,
                                   struct spk_error *err);

#define SPK_CLOSURE_MAX_VERSIONS 256
#define SPK_CLOSURE_MAX_BYTES    ((size_t)256 << 20)

/* Walks depth-first from roots (canonical "module@version"). Fails with INVALID_SCHEMA past
 * max_versions versions or max_bytes of contents, and with NOT_FOUND naming the first missing
 * version. */
int spk_closure_walk(char *const *roots, size_t nroots, spk_closure_load_fn load, void *arg,
                     size_t max_versions, size_t max_bytes, struct spk_closure *out,
                     struct spk_error *err);
/* The registry's walk: with contents (SPK_LOAD_CONTENTS) or metadata only (0). A missing root is
 * INVALID_SCHEMA ("dependency … does not exist"); a missing inner version is INTERNAL. */
int spk_registry_closure(struct spk_app *app, char *const *roots, size_t nroots, int flags,
                         struct spk_closure *out, struct spk_error *err);

/* ---- validation and push ----------------------------------------------------------------- */

struct spk_push_file {
    const char *path; /* validated by spk_validate_path */
    const char *content;
    size_t len;
    char sha256[65];
};

/* A push as the registry sees it; front ends fill it from their request (strings borrowed). */
struct spk_push_request {
    const char *module;
    struct spk_semver semver;
    struct spk_push_file *files; /* request order, no duplicate path */
    size_t nfiles;
    char **deps; /* canonical "module@version", sorted, unique, not the module itself */
    size_t ndeps;
    const char *repository, *commit_sha, *branch; /* NULL when unknown */
    char digest[SPK_DIGEST_LEN + 1];              /* spk_registry_push_digest */
};
/* Computes req->digest from its files and dependencies. */
void spk_registry_push_digest(struct spk_push_request *req);
/* The store's view of req's files, in path order (paths borrowed from req): a new array, free
 * it with free(). */
struct spk_version_file *spk_registry_push_files(const struct spk_push_request *req);

/* Compiles files against the closure of deps and the well-known types. 0 when protoc reached a
 * verdict: out->ok says which (INVALID_SCHEMA is not set for a file that does not compile);
 * -1 with err otherwise (a missing dependency is INVALID_SCHEMA with a diagnostic in out). */
int spk_registry_validate(struct spk_app *app, const struct spk_push_file *files, size_t nfiles,
                          char *const *deps, size_t ndeps, struct spk_proto_result *out,
                          struct spk_error *err);

/* ---- evolution --------------------------------------------------------------------------- */

/* The policy in force for a module: its own, or the server default (*is_default = 1). Cached
 * like module metadata and invalidated with it on every instance. */
int spk_registry_policy_get(struct spk_app *app, const char *module, int flags,
                            struct spk_policy *out, int *is_default, struct spk_error *err);
/* INVALID naming the first unknown rule or category, or a bad path. */
int spk_registry_policy_validate(const struct spk_policy *p, struct spk_error *err);
int spk_registry_policy_put(struct spk_app *app, const char *module, const struct spk_policy *p,
                            struct spk_error *err);
/* The server default, from SPOKE_BREAKING_* (a copy; release it). */
void spk_registry_policy_default(const struct spk_app *app, struct spk_policy *out);

/* One comparison (the candidate or new version against one stored version) and its result. */
struct spk_compat_pair {
    char against[SPK_SEMVER_MAX_LEN + 1];
    struct spk_evolve_result result;
};
/* A verdict: every comparison made (none when nothing needed checking) and the rules applied. */
struct spk_compat {
    int compatible;
    char rules[32]; /* "policy", a buf category or rule, or a Confluent level */
    struct spk_compat_pair *pairs;
    size_t npairs;
};
void spk_compat_release(struct spk_compat *c);
size_t spk_compat_violations(const struct spk_compat *c);

struct spk_compat_request {
    const char *module;
    const char *old_version; /* canonical; NULL: what the policy compares new with */
    const char *new_version; /* a stored version (canonical or "latest"), or NULL with candidate */
    const struct spk_push_request *candidate; /* files and deps; semver used when has_version */
    int has_version;  /* candidate->semver is the version the candidate would be pushed as */
    const char *mode; /* NULL, a buf category or rule ID, or a Confluent level */
    const struct spk_policy *breaking; /* NULL: the module's; overrides use/except/ignore */
};
/* Compares as requested. A candidate that does not compile is INVALID_SCHEMA with diagnostics
 * in schema. out->compatible = 0 is not an error. */
int spk_registry_compatibility(struct spk_app *app, const struct spk_compat_request *req,
                               struct spk_compat *out, struct spk_proto_result *schema,
                               struct spk_error *err);

/* GET …/diff: the structured diff and buf's verdict per category (FILE, PACKAGE, WIRE_JSON,
 * WIRE, in that order). */
#define SPK_DIFF_CATEGORIES 4
struct spk_diff_report {
    char from[SPK_SEMVER_MAX_LEN + 1], to[SPK_SEMVER_MAX_LEN + 1];
    struct spk_evolve_diff diff;
    struct spk_evolve_result categories[SPK_DIFF_CATEGORIES];
};
extern const unsigned spk_diff_categories[SPK_DIFF_CATEGORIES];
void spk_diff_report_release(struct spk_diff_report *r);
int spk_registry_diff(struct spk_app *app, const char *module, const char *from, const char *to,
                      struct spk_diff_report *out, struct spk_error *err);

/* ---- push -------------------------------------------------------------------------------- */

struct spk_push_outcome {
    int created;                /* 1: a new version; 0: it existed with this digest */
    struct spk_version version; /* created: without files; existing (also on CONFLICT): stored */
    struct spk_proto_result schema; /* INVALID_SCHEMA: why the files do not compile */
    struct spk_compat compat;       /* BREAKING: what the push would break */
};
void spk_push_outcome_release(struct spk_push_outcome *o);

/* Validates, checks the module's policy, writes blobs, then the metadata (see docs/design.md).
 * CONFLICT when the version exists with another digest (out->version is the stored one),
 * INVALID_SCHEMA and BREAKING with their reports in out. Invalidates the module's caches on
 * every outcome that found or created the version. */
int spk_registry_push(struct spk_app *app, const struct spk_push_request *req,
                      struct spk_push_outcome *out, struct spk_error *err);

#endif
