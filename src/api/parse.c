/* Request parsing shared by the resource handlers: the body, query parameters and path
 * parameters, each into a value or an INVALID error that names what is wrong. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "spoke/alloc.h"
#include "spoke/error.h"
#include "spoke/validate.h"
#include "spoke/banned.h"

int api_body_object(struct spk_http_ctx *ctx, json_t **out, struct spk_error *err)
{
    size_t len = 0;
    const char *body = spk_http_body(ctx, &len);
    json_error_t jerr;
    *out = NULL;
    /* JSON_ALLOW_NUL so that "\u0000" in a path reaches the path rules and gets their message. */
    json_t *j =
        body && len ? json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr) : NULL;
    if (!j) {
        if (!body || !len)
            return spk_error_set(err, SPK_E_INVALID,
                                 "request body is empty; expected a JSON object");
        return spk_error_set(err, SPK_E_INVALID, "malformed JSON at line %d column %d: %s",
                             jerr.line, jerr.column, jerr.text);
    }
    if (!json_is_object(j)) {
        json_decref(j);
        return spk_error_set(err, SPK_E_INVALID, "request body must be a JSON object");
    }
    *out = j;
    return 0;
}

int api_query_int(struct spk_http_ctx *ctx, const char *key, int64_t def, int64_t min, int64_t max,
                  int64_t *out, struct spk_error *err)
{
    const char *s = spk_http_query(ctx, key);
    if (!s) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return spk_error_set(err, SPK_E_INVALID, "%s must be an integer between %lld and %lld", key,
                             (long long)min, (long long)max);
    *out = v;
    return 0;
}

int api_query_bool(struct spk_http_ctx *ctx, const char *key, int def, int *out,
                   struct spk_error *err)
{
    const char *s = spk_http_query(ctx, key);
    if (!s)
        *out = def;
    else if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
        *out = 1;
    else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
        *out = 0;
    else
        return spk_error_set(err, SPK_E_INVALID, "%s must be true or false", key);
    return 0;
}

int api_module_param(struct spk_http_ctx *ctx, const char **name, struct spk_error *err)
{
    *name = spk_http_param(ctx, "name");
    return spk_validate_module_name(*name, err);
}

int api_version_param(struct spk_http_ctx *ctx, char out[SPK_SEMVER_MAX_LEN + 1],
                      struct spk_error *err)
{
    return spk_registry_version_param(spk_http_param(ctx, "version"), out, err);
}

static int check_string(json_t *v, const char *key, size_t max, struct spk_error *err)
{
    if (!json_is_string(v))
        return spk_error_set(err, SPK_E_INVALID, "%s must be a string", key);
    size_t len = json_string_length(v);
    if (len > max)
        return spk_error_set(err, SPK_E_INVALID, "%s is longer than %zu bytes", key, max);
    if (strlen(json_string_value(v)) != len)
        return spk_error_set(err, SPK_E_INVALID, "%s contains a NUL character", key);
    return 0;
}

int api_opt_string(json_t *obj, const char *key, size_t max, const char **out,
                   struct spk_error *err)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (check_string(v, key, max, err))
        return -1;
    *out = json_string_value(v);
    return 0;
}

int api_opt_strings(json_t *obj, const char *key, size_t max, size_t maxn, char ***out, size_t *n,
                    struct spk_error *err)
{
    json_t *arr = json_object_get(obj, key), *v;
    size_t i;
    *out = NULL;
    *n = 0;
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return spk_error_set(err, SPK_E_INVALID, "%s must be an array of strings", key);
    if (json_array_size(arr) > maxn)
        return spk_error_set(err, SPK_E_INVALID, "%s has more than %zu entries", key, maxn);
    json_array_foreach(arr, i, v)
    {
        if (check_string(v, key, max, err)) {
            for (size_t k = 0; k < *n; k++)
                free((*out)[k]);
            free(*out);
            *out = NULL;
            *n = 0;
            return -1;
        }
        *out = spk_realloc(*out, (*n + 1) * sizeof(**out));
        (*out)[(*n)++] = spk_strdup(json_string_value(v));
    }
    return 0;
}
