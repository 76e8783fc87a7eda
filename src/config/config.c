/* SPOKE_* environment → struct spk_config. Each variable is one row of a table: its name, where
 * it lands, how it is parsed and its default. A bad value names the variable in the error. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "spoke/alloc.h"
#include "spoke/config.h"
#include "spoke/error.h"
#include "spoke/banned.h"

enum kind { K_STR, K_INT, K_I64, K_SIZE, K_PORT, K_LIST, K_LEVEL };

struct var {
    const char *name;
    enum kind kind;
    size_t offset;
    const char *def;
    long long min, max; /* numeric bounds */
};

#define F(field) offsetof(struct spk_config, field)
#define MIB (1024LL * 1024LL)

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
    {"SPOKE_PROTOC", K_STR, F(protoc), "/usr/bin/protoc", 0, 0},
    {"SPOKE_PROTOC_INCLUDE", K_STR, F(protoc_include), "/usr/include", 0, 0},
    {"SPOKE_PROTOC_TIMEOUT_MS", K_INT, F(protoc_timeout_ms), "10000", 100, 600000},
    {"SPOKE_L1_CACHE_BYTES", K_SIZE, F(l1_cache_bytes), "67108864", 0, 64 * 1024 * MIB},
    {"SPOKE_MAX_BODY_BYTES", K_SIZE, F(max_body_bytes), "16777216", 1024, 1024 * MIB},
    {"SPOKE_MAX_FILES", K_SIZE, F(max_files), "1000", 1, 1000000},
    {"SPOKE_MAX_FILE_BYTES", K_SIZE, F(max_file_bytes), "4194304", 1, 1024 * MIB},
    {"SPOKE_DRAIN_MS", K_INT, F(drain_ms), "2000", 0, 600000},
    {"SPOKE_SHUTDOWN_TIMEOUT_MS", K_INT, F(shutdown_timeout_ms), "30000", 0, 3600000},
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

/* Splits a comma-separated list, trimming blanks and dropping empty items. */
static void parse_list(const char *s, char ***items, size_t *n)
{
    *items = NULL;
    *n = 0;
    while (*s) {
        const char *comma = strchr(s, ',');
        const char *e = comma ? comma : s + strlen(s);
        const char *b = s;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        const char *t = e;
        while (t > b && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if (t > b) {
            *items = spk_realloc(*items, (*n + 1) * sizeof(**items));
            (*items)[(*n)++] = spk_strndup(b, (size_t)(t - b));
        }
        if (!comma)
            break;
        s = comma + 1;
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
            return spk_error_set(err, SPK_E_INVALID, "%s must be an integer in [%lld, %lld] (got \"%.64s\")",
                                 v->name, v->min, v->max, val);
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
    return 0;
}

void spk_config_release(struct spk_config *cfg)
{
    free(cfg->host);
    free(cfg->postgres_url);
    free(cfg->filesystem_root);
    free(cfg->protoc);
    free(cfg->protoc_include);
    for (size_t i = 0; i < cfg->nreplicas; i++)
        free(cfg->replica_urls[i]);
    free(cfg->replica_urls);
    memset(cfg, 0, sizeof(*cfg));
}
