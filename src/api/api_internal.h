/* Helpers shared by the resource files in src/api: request parsing that replies 400 on bad
 * input, JSON rendering of store objects, and the handlers the route tables point at. */
#ifndef SPOKE_API_INTERNAL_H
#define SPOKE_API_INTERNAL_H

#include <jansson.h>
#include <stdint.h>

#include "spoke/api.h"
#include "spoke/cache.h"
#include "spoke/http.h"
#include "spoke/store.h"

/* Each returns 0, or replies 400 and returns -1. */
int api_body_object(struct spk_http_ctx *ctx, json_t **out);
int api_query_int(struct spk_http_ctx *ctx, const char *key, int64_t def, int64_t min, int64_t max,
                  int64_t *out);
/* Validates the {name} parameter. */
int api_module_param(struct spk_http_ctx *ctx, const char **name);
/* Optional string member of obj (NULL when absent); replies 400 on a non-string or overlong one. */
int api_opt_string(struct spk_http_ctx *ctx, json_t *obj, const char *key, size_t max,
                   const char **out);

/* Replies with err and records the pool that served the request in the access log. */
void api_fail(struct spk_http_ctx *ctx, const struct spk_error *err);
/* Records which pool the last store call used in the access log. */
void api_log_pool(struct spk_http_ctx *ctx);
/* Sends a cached JSON value with 200 without copying it; v is consumed. */
void api_reply_cached(struct spk_http_ctx *ctx, struct spk_cache_value *v);
/* Records the cache tier in the access log ("cache": "l1" | "redis" | "miss"). */
void api_log_cache(struct spk_http_ctx *ctx, enum spk_cache_tier tier);
/* Loads GET /modules/{name}'s body from Postgres (the primary when t->primary), renders it and
 * puts it into the cache with t. *text is new (free with free()), latest gets the latest version
 * ("" when none). On failure the reply has been sent and -1 is returned. */
int api_module_doc_load(struct spk_http_ctx *ctx, struct spk_app *app, const char *name,
                        const struct spk_cache_ticket *t, char **text, size_t *len,
                        char latest[SPK_SEMVER_MAX_LEN + 1]);
/* Adds Link: <…>; rel="next" for offset pagination. extra is a pre-encoded "&k=v" suffix or "". */
void api_link_next(struct spk_http_ctx *ctx, const char *path, int64_t limit, int64_t next_offset,
                   const char *extra);

/* Percent-encodes s for a query value (RFC 3986 unreserved kept). Returns a new string. */
char *api_query_escape(const char *s);

struct spk_buf;
struct spk_version_file;
/* Resolves the {version} parameter ("latest" or a SemVer) and reads the version with its file
 * list. On failure the reply has been sent and -1 is returned. */
int api_version_load(struct spk_http_ctx *ctx, struct spk_app *app, const char *name,
                     struct spk_version *v, int *is_latest);
/* Sets ETag ("<digest>") and Cache-Control; returns 1, after replying 304, when If-None-Match
 * shows the client's copy is current. */
int api_conditional(struct spk_http_ctx *ctx, const char *digest, int is_latest);
/* Reads one file's blob; a referenced blob that is missing or corrupt is INTERNAL. */
int api_blob_read(struct spk_app *app, const struct spk_version_file *f, struct spk_buf *out,
                  struct spk_error *err);

/* The version with file contents, as served by GET …/versions/{version}. NULL with err when a
 * blob cannot be read. */
json_t *api_version_render(struct spk_app *app, const struct spk_version *v, struct spk_error *err);

/* Compiles files against the transitive closure of deps (canonical "module@version"). On success
 * returns 0 with out filled (release it); otherwise replies (422 invalid_schema with details, or
 * the backend error) and returns -1. */
int api_schema_check(struct spk_http_ctx *ctx, struct spk_app *app,
                     const struct spk_proto_file *files, size_t nfiles, char *const *deps,
                     size_t ndeps, struct spk_proto_result *out);

json_t *api_module_json(const struct spk_module *m);
json_t *api_version_summary_json(const struct spk_version_summary *v);
/* files without contents; the caller adds "content" when it has it. */
json_t *api_version_json(const struct spk_version *v);
json_t *api_time_json(int64_t unix_us);

void api_modules_create(struct spk_http_ctx *ctx, void *app);
void api_modules_list(struct spk_http_ctx *ctx, void *app);
void api_module_get(struct spk_http_ctx *ctx, void *app);
void api_module_update(struct spk_http_ctx *ctx, void *app);
void api_versions_push(struct spk_http_ctx *ctx, void *app);
void api_versions_list(struct spk_http_ctx *ctx, void *app);
void api_version_get(struct spk_http_ctx *ctx, void *app);
void api_file_get(struct spk_http_ctx *ctx, void *app);
void api_validate(struct spk_http_ctx *ctx, void *app);
void api_version_dependencies(struct spk_http_ctx *ctx, void *app);
void api_version_dependents(struct spk_http_ctx *ctx, void *app);
void api_health_live(struct spk_http_ctx *ctx, void *app);
void api_health_ready(struct spk_http_ctx *ctx, void *app);
void api_metrics_get(struct spk_http_ctx *ctx, void *app);

#endif
