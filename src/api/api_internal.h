/* Helpers shared by the resource files in src/api. One failure convention: helpers fill err and
 * return -1; only handlers reply, errors through api_fail. What a request means is the registry
 * layer's business (include/spoke/registry.h): handlers parse, call it, and render. */
#ifndef SPOKE_API_INTERNAL_H
#define SPOKE_API_INTERNAL_H

#include <jansson.h>
#include <stdint.h>

#include "spoke/api.h"
#include "spoke/cache.h"
#include "spoke/http.h"
#include "spoke/registry.h"
#include "spoke/store.h"

/* ---- parsing (0, or -1 with err) --------------------------------------------------------- */

/* The request body as a JSON object (new reference). */
int api_body_object(struct spk_http_ctx *ctx, json_t **out, struct spk_error *err);
int api_query_int(struct spk_http_ctx *ctx, const char *key, int64_t def, int64_t min, int64_t max,
                  int64_t *out, struct spk_error *err);
/* A query flag: absent → def; "true"/"1" → 1; "false"/"0" → 0; anything else INVALID. */
int api_query_bool(struct spk_http_ctx *ctx, const char *key, int def, int *out,
                   struct spk_error *err);
/* The validated {name} parameter. */
int api_module_param(struct spk_http_ctx *ctx, const char **name, struct spk_error *err);
/* The {version} parameter: canonical SemVer or "latest". */
int api_version_param(struct spk_http_ctx *ctx, char out[SPK_SEMVER_MAX_LEN + 1],
                      struct spk_error *err);
/* Optional string member of obj (NULL when absent or null); INVALID on a non-string, an overlong
 * one or one with a NUL. */
int api_opt_string(json_t *obj, const char *key, size_t max, const char **out,
                   struct spk_error *err);
/* Optional array of strings (each at most max bytes, at most maxn of them): new strings. */
int api_opt_strings(json_t *obj, const char *key, size_t max, size_t maxn, char ***out, size_t *n,
                    struct spk_error *err);

/* ---- push bodies (src/api/push_body.c: pure, unit-tested) -------------------------------- */

/* The files, dependencies, version and source info of a push body (strings borrowed from body,
 * which must outlive req). with_version: "version" is required; otherwise it is optional and
 * req->semver is left zeroed when absent (*has_version says which). module may be NULL (POST
 * /validate). Release req with api_push_request_release. */
int api_push_request_parse(json_t *body, const char *module, int with_version,
                           const struct spk_config *cfg, struct spk_push_request *req,
                           int *has_version, struct spk_error *err);
void api_push_request_release(struct spk_push_request *req);

/* ---- replies ----------------------------------------------------------------------------- */

/* The one error reply: err with extra (stolen, may be NULL) such as "details". Records the pool
 * that served the request in the access log. */
void api_fail(struct spk_http_ctx *ctx, const struct spk_error *err, json_t *extra);
/* A push or check that does not compile: 422 with the first diagnostic in the message and all
 * of them in details. */
void api_fail_schema(struct spk_http_ctx *ctx, const struct spk_error *err,
                     const struct spk_proto_result *schema);
/* Records which pool the last store call used in the access log. */
void api_log_pool(struct spk_http_ctx *ctx);
/* Sends a cached JSON value with 200 without copying it; v is consumed. */
void api_reply_cached(struct spk_http_ctx *ctx, struct spk_cache_value *v);
/* Records the cache tier in the access log ("cache": "l1" | "redis" | "miss"). */
void api_log_cache(struct spk_http_ctx *ctx, enum spk_cache_tier tier);
/* Loads GET /modules/{name}'s body from Postgres (the primary when t->primary), renders it and
 * puts it into the cache with t. *text is new (free with free()), latest gets the latest version
 * ("" when none). */
int api_module_doc_load(struct spk_http_ctx *ctx, struct spk_app *app, const char *name,
                        const struct spk_cache_ticket *t, char **text, size_t *len,
                        char latest[SPK_SEMVER_MAX_LEN + 1], struct spk_error *err);
/* Adds Link: <…>; rel="next" for offset pagination. extra is a pre-encoded "&k=v" suffix or "". */
void api_link_next(struct spk_http_ctx *ctx, const char *path, int64_t limit, int64_t next_offset,
                   const char *extra);
/* Percent-encodes s for a query value (RFC 3986 unreserved kept). Returns a new string. */
char *api_query_escape(const char *s);
/* Sets ETag ("<digest>") and Cache-Control; returns 1 when If-None-Match shows the client's copy
 * is current (the handler then replies 304). */
int api_etag(struct spk_http_ctx *ctx, const char *digest, int is_latest);

/* ---- rendering ----------------------------------------------------------------------------- */

json_t *api_module_json(const struct spk_module *m);
json_t *api_version_summary_json(const struct spk_version_summary *v);
/* files without contents; the caller adds "content" when it has it. */
json_t *api_version_json(const struct spk_version *v);
json_t *api_time_json(int64_t unix_us);
/* {"breaking": {"use", "except", "ignore"}, "semver"} */
json_t *api_policy_json(const struct spk_policy *p);
/* One violation: {"rule", "categories", "file", "line", "column", "message", "old", "new"}, plus
 * "against" when given. */
json_t *api_violation_json(const struct spk_evolve_violation *v, const char *against);
/* Every violation of every comparison, in one array. */
json_t *api_compat_violations_json(const struct spk_compat *c);

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
void api_policy_get(struct spk_http_ctx *ctx, void *app);
void api_policy_put(struct spk_http_ctx *ctx, void *app);
void api_compatibility(struct spk_http_ctx *ctx, void *app);
void api_diff(struct spk_http_ctx *ctx, void *app);
void api_health_live(struct spk_http_ctx *ctx, void *app);
void api_health_ready(struct spk_http_ctx *ctx, void *app);
void api_metrics_get(struct spk_http_ctx *ctx, void *app);

#endif
