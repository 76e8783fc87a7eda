/* SPOKE_* environment → struct spk_config. Each variable is one row of a table: its name, where
 * it lands, how it is parsed and its default. A bad value names the variable in the error. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spoke/alloc.h"
#include "spoke/config.h"
#include "spoke/error.h"
#include "spoke/list.h"
#include "spoke/redis.h"
#include "spoke/banned.h"

/* K_OPT: a string that may be unset or empty (NULL then); K_BOOL: true/false/1/0/yes/no. */
enum kind { K_STR, K_OPT, K_BOOL, K_INT, K_I64, K_SIZE, K_PORT, K_LIST, K_LEVEL };

struct var {
    const char *name;
    enum kind kind;
    size_t offset;
    const char *def;
    long long min, max; /* numeric bounds */
};

#define F(field) offsetof(struct spk_config, field)
#define MIB      (1024LL * 1024LL)

static const struct var vars[] = {
    {"SPOKE_HOST", K_STR, F(host), "0.0.0.0", 0, 0},
    {"SPOKE_PORT", K_PORT, F(port), "8080", 1, 65535},
    {"SPOKE_HEALTH_PORT", K_PORT, F(health_port), "9090", 1, 65535},
    {"SPOKE_THREADS", K_INT, F(threads), "16", 1, 1024},
    {"SPOKE_LOG_LEVEL", K_LEVEL, F(log_level), "info", 0, 0},
    {"SPOKE_POSTGRES_URL", K_STR, F(postgres_url),
     "postgres://spoke:spoke@127.0.0.1:5432/spoke?sslmode=disable", 0, 0},
    {"SPOKE_POSTGRES_REPLICA_URLS", K_LIST, F(replica_urls), "", 0, 0},
    {"SPOKE_POSTGRES_MAX_CONNS", K_INT, F(pg_max_conns), "10", 1, 1000},
    {"SPOKE_POSTGRES_ACQUIRE_TIMEOUT_MS", K_INT, F(pg_acquire_timeout_ms), "2000", 1, 600000},
    {"SPOKE_POSTGRES_QUERY_TIMEOUT_MS", K_INT, F(pg_query_timeout_ms), "5000", 1, 600000},
    {"SPOKE_POSTGRES_CONNECT_TIMEOUT_MS", K_INT, F(pg_connect_timeout_ms), "2000", 1, 600000},
    {"SPOKE_POSTGRES_MAX_LAG_BYTES", K_I64, F(pg_max_lag_bytes), "16777216", 0, LLONG_MAX},
    {"SPOKE_POSTGRES_HEALTH_INTERVAL_MS", K_INT, F(pg_health_interval_ms), "1000", 10, 600000},
    {"SPOKE_FILESYSTEM_ROOT", K_STR, F(filesystem_root), "./data/blobs", 0, 0},
    {"SPOKE_S3_ENDPOINT", K_OPT, F(s3_endpoint), "", 0, 0},
    {"SPOKE_S3_BUCKET", K_STR, F(s3_bucket), "spoke", 0, 0},
    {"SPOKE_S3_REGION", K_STR, F(s3_region), "us-east-1", 0, 0},
    {"SPOKE_S3_ACCESS_KEY", K_OPT, F(s3_access_key), "", 0, 0},
    {"SPOKE_S3_SECRET_KEY", K_OPT, F(s3_secret_key), "", 0, 0},
    {"SPOKE_S3_USE_PATH_STYLE", K_BOOL, F(s3_path_style), "false", 0, 0},
    {"SPOKE_S3_TIMEOUT_MS", K_INT, F(s3_timeout_ms), "5000", 100, 600000},
    {"SPOKE_S3_MAX_RETRIES", K_INT, F(s3_max_retries), "2", 0, 10},
    {"SPOKE_S3_HEALTH_CACHE_MS", K_INT, F(s3_health_cache_ms), "1000", 0, 600000},
    {"SPOKE_GC_MIN_AGE_SECONDS", K_I64, F(gc_min_age_s), "3600", 0, 100LL * 365 * 86400},
    {"SPOKE_PROTOC", K_STR, F(protoc), "/usr/bin/protoc", 0, 0},
    {"SPOKE_PROTOC_INCLUDE", K_STR, F(protoc_include), "/usr/include", 0, 0},
    {"SPOKE_PROTOC_TIMEOUT_MS", K_INT, F(protoc_timeout_ms), "10000", 100, 600000},
    {"SPOKE_BREAKING_USE", K_OPT, F(breaking_use), "FILE", 0, 0},
    {"SPOKE_BREAKING_EXCEPT", K_OPT, F(breaking_except), "", 0, 0},
    {"SPOKE_BREAKING_IGNORE", K_OPT, F(breaking_ignore), "", 0, 0},
    {"SPOKE_BREAKING_SEMVER", K_BOOL, F(breaking_semver), "true", 0, 0},
    {"SPOKE_L1_CACHE_BYTES", K_SIZE, F(l1_cache_bytes), "67108864", 0, 64 * 1024 * MIB},
    {"SPOKE_REDIS_URL", K_OPT, F(redis_url), "", 0, 0},
    {"SPOKE_REDIS_SENTINELS", K_OPT, F(redis_sentinels), "", 0, 0},
    {"SPOKE_REDIS_MASTER_NAME", K_STR, F(redis_master_name), "spoke", 0, 0},
    {"SPOKE_REDIS_PASSWORD", K_OPT, F(redis_password), "", 0, 0},
    {"SPOKE_REDIS_TIMEOUT_MS", K_INT, F(redis_timeout_ms), "100", 1, 60000},
    {"SPOKE_REDIS_POOL_SIZE", K_INT, F(redis_pool_size), "16", 1, 1024},
    {"SPOKE_CACHE_VERSION_TTL_S", K_INT, F(cache_version_ttl_s), "604800", 1, 365 * 86400},
    {"SPOKE_CACHE_MUTABLE_TTL_S", K_INT, F(cache_mutable_ttl_s), "30", 1, 86400},
    {"SPOKE_CACHE_LOCAL_TTL_MS", K_INT, F(cache_local_ttl_ms), "1000", 0, 60000},
    {"SPOKE_MAX_BODY_BYTES", K_SIZE, F(max_body_bytes), "16777216", 1024, 1024 * MIB},
    {"SPOKE_MAX_FILES", K_SIZE, F(max_files), "1000", 1, 1000000},
    {"SPOKE_MAX_FILE_BYTES", K_SIZE, F(max_file_bytes), "4194304", 1, 1024 * MIB},
    {"SPOKE_DRAIN_MS", K_INT, F(drain_ms), "2000", 0, 600000},
    {"SPOKE_SHUTDOWN_TIMEOUT_MS", K_INT, F(shutdown_timeout_ms), "30000", 0, 3600000},
    {"SPOKE_OTEL_ENDPOINT", K_OPT, F(otel_endpoint), "", 0, 0},
    {"SPOKE_OTEL_INTERVAL_MS", K_INT, F(otel_interval_ms), "10000", 100, 3600000},
    {"SPOKE_OTEL_TIMEOUT_MS", K_INT, F(otel_timeout_ms), "5000", 100, 600000},
    {"SPOKE_OTEL_SERVICE_NAME", K_STR, F(otel_service_name), "spoke", 0, 0},
};

static int parse_ll(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *name, const char *s, int *out, struct spk_error *err)
{
    static const struct {
        const char *text;
        int value;
    } words[] = {{"true", 1}, {"1", 1}, {"yes", 1}, {"false", 0}, {"0", 0}, {"no", 0}};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strcasecmp(s, words[i].text) == 0) {
            *out = words[i].value;
            return 0;
        }
    }
    return spk_error_set(err, SPK_E_INVALID, "%s must be true or false (got \"%.64s\")", name, s);
}

/* Splits a comma-separated list (spoke/list.h) into new strings. */
static void parse_list(const char *s, char ***items, size_t *n)
{
    const char *item;
    size_t len;
    *items = NULL;
    *n = 0;
    while ((item = spk_list_next(&s, &len))) {
        *items = spk_realloc(*items, (*n + 1) * sizeof(**items));
        (*items)[(*n)++] = spk_strndup(item, len);
    }
}

static int load_var(struct spk_config *cfg, const struct var *v, const char *val,
                    struct spk_error *err)
{
    char *base = (char *)cfg + v->offset;
    long long n = 0;
    switch (v->kind) {
    case K_STR:
        if (!*val)
            return spk_error_set(err, SPK_E_INVALID, "%s must not be empty", v->name);
        *(char **)base = spk_strdup(val);
        return 0;
    case K_OPT:
        *(char **)base = *val ? spk_strdup(val) : NULL;
        return 0;
    case K_BOOL:
        return parse_bool(v->name, val, (int *)base, err);
    case K_LIST:
        parse_list(val, (char ***)base, &cfg->nreplicas);
        return 0;
    case K_LEVEL:
        if (spk_log_parse_level(val, (enum spk_log_level *)base))
            return spk_error_set(err, SPK_E_INVALID,
                                 "%s must be one of debug, info, warn, error (got \"%.64s\")",
                                 v->name, val);
        return 0;
    case K_INT:
    case K_PORT:
    case K_I64:
    case K_SIZE:
        if (parse_ll(val, &n) || n < v->min || n > v->max)
            return spk_error_set(err, SPK_E_INVALID,
                                 "%s must be an integer in [%lld, %lld] (got \"%.64s\")", v->name,
                                 v->min, v->max, val);
        if (v->kind == K_I64)
            *(int64_t *)base = n;
        else if (v->kind == K_SIZE)
            *(size_t *)base = (size_t)n;
        else
            *(int *)base = (int)n;
        return 0;
    }
    return spk_error_set(err, SPK_E_INTERNAL, "%s: unknown kind", v->name);
}

/* The endpoint's scheme, and the keys only as a pair (both unset = unsigned requests). */
static int check_s3(const struct spk_config *cfg, struct spk_error *err)
{
    if (!cfg->s3_endpoint)
        return 0;
    if (strncmp(cfg->s3_endpoint, "http://", 7) != 0 &&
        strncmp(cfg->s3_endpoint, "https://", 8) != 0)
        return spk_error_set(
            err, SPK_E_INVALID,
            "SPOKE_S3_ENDPOINT must start with http:// or https:// (got \"%.64s\")",
            cfg->s3_endpoint);
    if (!cfg->s3_access_key != !cfg->s3_secret_key)
        return spk_error_set(err, SPK_E_INVALID, "%s is set but %s is not",
                             cfg->s3_access_key ? "SPOKE_S3_ACCESS_KEY" : "SPOKE_S3_SECRET_KEY",
                             cfg->s3_access_key ? "SPOKE_S3_SECRET_KEY" : "SPOKE_S3_ACCESS_KEY");
    return 0;
}

/* One way to reach Redis, and a well-formed one (the messages never echo the URL's password). */
static int check_redis(const struct spk_config *cfg, struct spk_error *err)
{
    struct spk_redis_url url;
    struct spk_redis_addr *addrs = NULL;
    size_t n = 0;
    int rc = 0;
    if (cfg->redis_url && cfg->redis_sentinels)
        return spk_error_set(err, SPK_E_INVALID,
                             "SPOKE_REDIS_URL and SPOKE_REDIS_SENTINELS are both set; choose one");
    if (cfg->redis_url)
        rc = spk_redis_url_parse(cfg->redis_url, &url, err);
    else if (cfg->redis_sentinels)
        rc = spk_redis_hostports_parse(cfg->redis_sentinels, &addrs, &n, err);
    free(addrs);
    explicit_bzero(&url, sizeof(url));
    return rc;
}

int spk_config_load(struct spk_config *cfg, spk_config_getenv_fn lookup, void *ctx,
                    struct spk_error *err)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        const char *val = lookup ? lookup(vars[i].name, ctx) : getenv(vars[i].name);
        if (!val)
            val = vars[i].def;
        if (load_var(cfg, &vars[i], val, err)) {
            spk_config_release(cfg);
            return -1;
        }
    }
    if (cfg->port == cfg->health_port) {
        spk_config_release(cfg);
        return spk_error_set(err, SPK_E_INVALID, "SPOKE_HEALTH_PORT must differ from SPOKE_PORT");
    }
    if (cfg->max_file_bytes > cfg->max_body_bytes) {
        spk_config_release(cfg);
        return spk_error_set(err, SPK_E_INVALID,
                             "SPOKE_MAX_FILE_BYTES must not exceed SPOKE_MAX_BODY_BYTES");
    }
    if (check_s3(cfg, err) || check_redis(cfg, err)) {
        spk_config_release(cfg);
        return -1;
    }
    if (cfg->otel_endpoint && strncmp(cfg->otel_endpoint, "http://", 7) != 0 &&
        strncmp(cfg->otel_endpoint, "https://", 8) != 0) {
        spk_config_release(cfg);
        return spk_error_set(err, SPK_E_INVALID,
                             "SPOKE_OTEL_ENDPOINT must start with http:// or https://");
    }
    return 0;
}

/* Strings are wiped before they are freed: URLs and keys among them carry credentials. */
static void free_wiped(char *s)
{
    if (s)
        explicit_bzero(s, strlen(s));
    free(s);
}

void spk_config_release(struct spk_config *cfg)
{
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        char *base = (char *)cfg + vars[i].offset;
        if (vars[i].kind == K_STR || vars[i].kind == K_OPT) {
            free_wiped(*(char **)base);
        } else if (vars[i].kind == K_LIST) {
            char **items = *(char ***)base;
            for (size_t j = 0; j < cfg->nreplicas; j++)
                free_wiped(items[j]);
            free(items);
        }
    }
    memset(cfg, 0, sizeof(*cfg));
}
