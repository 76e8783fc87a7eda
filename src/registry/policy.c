/* Evolution policies: which buf rules a module's pushes must pass and whether SemVer decides
 * what they are compared with. A module's own policy lives in Postgres; modules without one
 * follow the server default (SPOKE_BREAKING_*). The policy in force is cached like module
 * metadata (include/spoke/cache.h) and invalidated with it, so a change reaches every instance
 * before the PUT is answered. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "spoke/alloc.h"
#include "spoke/cache.h"
#include "spoke/config.h"
#include "spoke/error.h"
#include "spoke/list.h"
#include "spoke/registry.h"
#include "spoke/banned.h"

#define POLICY_LIST_MAX 256

static void split(const char *s, char ***out, size_t *n)
{
    const char *item;
    size_t len;
    *out = NULL;
    *n = 0;
    while (s && (item = spk_list_next(&s, &len))) {
        *out = spk_realloc(*out, (*n + 1) * sizeof(**out));
        (*out)[(*n)++] = spk_strndup(item, len);
    }
}

void spk_registry_policy_default(const struct spk_app *app, struct spk_policy *out)
{
    memset(out, 0, sizeof(*out));
    split(app->cfg->breaking_use, &out->use, &out->nuse);
    split(app->cfg->breaking_except, &out->except, &out->nexcept);
    split(app->cfg->breaking_ignore, &out->ignore, &out->nignore);
    out->semver = app->cfg->breaking_semver;
}

int spk_registry_policy_validate(const struct spk_policy *p, struct spk_error *err)
{
    if (p->nuse > POLICY_LIST_MAX || p->nexcept > POLICY_LIST_MAX || p->nignore > POLICY_LIST_MAX)
        return spk_error_set(err, SPK_E_INVALID, "a policy list has more than %d entries",
                             POLICY_LIST_MAX);
    if (p->nuse == 0) /* checks nothing: unlike buf, where no use means FILE */
        return 0;
    struct spk_evolve_config c = {(const char *const *)p->use,
                                  p->nuse,
                                  (const char *const *)p->except,
                                  p->nexcept,
                                  (const char *const *)p->ignore,
                                  p->nignore,
                                  0};
    return spk_evolve_config_validate(&c, err);
}

/* The cache's encoding of a policy (an internal format, not a reply). */
static json_t *strings(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static char *encode(const struct spk_policy *p, int is_default)
{
    json_t *j = json_pack("{s:o, s:o, s:o, s:b, s:b}", "use", strings(p->use, p->nuse), "except",
                          strings(p->except, p->nexcept), "ignore", strings(p->ignore, p->nignore),
                          "semver", p->semver, "default", is_default);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return text;
}

static int decode_list(json_t *a, char ***out, size_t *n)
{
    size_t i;
    json_t *v;
    *out = NULL;
    *n = 0;
    if (!json_is_array(a))
        return -1;
    json_array_foreach(a, i, v)
    {
        if (!json_is_string(v))
            return -1;
        *out = spk_realloc(*out, (*n + 1) * sizeof(**out));
        (*out)[(*n)++] = spk_strdup(json_string_value(v));
    }
    return 0;
}

static int decode(const char *text, size_t len, struct spk_policy *out, int *is_default)
{
    json_t *j = json_loadb(text, len, 0, NULL);
    struct spk_policy p = {0};
    int rc = -1;
    if (json_is_object(j) && decode_list(json_object_get(j, "use"), &p.use, &p.nuse) == 0 &&
        decode_list(json_object_get(j, "except"), &p.except, &p.nexcept) == 0 &&
        decode_list(json_object_get(j, "ignore"), &p.ignore, &p.nignore) == 0) {
        p.semver = json_is_true(json_object_get(j, "semver"));
        *is_default = json_is_true(json_object_get(j, "default"));
        *out = p;
        rc = 0;
    } else {
        spk_policy_release(&p);
    }
    json_decref(j);
    return rc;
}

int spk_registry_policy_get(struct spk_app *app, const char *module, int flags,
                            struct spk_policy *out, int *is_default, struct spk_error *err)
{
    struct spk_cache_value cv;
    struct spk_cache_ticket t;
    int found = 0;

    memset(out, 0, sizeof(*out));
    if (!(flags & SPK_LOAD_PRIMARY)) {
        enum spk_cache_tier tier =
            spk_cache_doc_get(app->cache, SPK_CACHE_POLICY, module, "", &cv, &t);
        if (tier != SPK_CACHE_MISS) {
            int rc = decode(cv.body, cv.len, out, is_default);
            spk_cache_value_release(&cv);
            if (rc == 0)
                return 0;
        }
    } else {
        memset(&t, 0, sizeof(t)); /* a push reads the primary and fills nothing */
    }
    int sflags = (flags & SPK_LOAD_PRIMARY) || t.primary ? SPK_STORE_PRIMARY : 0;
    if (spk_store_policy_get(app->db, module, sflags, out, &found, err))
        return -1;
    if (!found)
        spk_registry_policy_default(app, out);
    *is_default = !found;
    if (spk_cache_doc_fillable(&t)) {
        char *text = encode(out, *is_default);
        if (text)
            spk_cache_doc_put(app->cache, SPK_CACHE_POLICY, module, "", text, strlen(text), "", &t);
        free(text);
    }
    return 0;
}

int spk_registry_policy_put(struct spk_app *app, const char *module, const struct spk_policy *p,
                            struct spk_error *err)
{
    if (spk_registry_policy_validate(p, err) || spk_store_policy_put(app->db, module, p, err))
        return -1;
    spk_cache_invalidate_module(app->cache, module);
    return 0;
}
