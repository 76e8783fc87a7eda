/* SPOKE_* environment variables parsed once into an immutable struct. Defaults work for the
 * local stack. A bad value fails the parse with a one-line message naming the variable. */
#ifndef SPOKE_CONFIG_H
#define SPOKE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "spoke/log.h"

struct spk_error;

struct spk_config {
    char *host;      /* SPOKE_HOST, listen address of both listeners (default 0.0.0.0) */
    int port;        /* SPOKE_PORT (8080) */
    int health_port; /* SPOKE_HEALTH_PORT (9090) */
    int threads;     /* SPOKE_THREADS (16): libmicrohttpd pool threads; handlers may block */
    enum spk_log_level log_level; /* SPOKE_LOG_LEVEL (info) */

    char *postgres_url;  /* SPOKE_POSTGRES_URL: the write pool (primary) */
    char **replica_urls; /* SPOKE_POSTGRES_REPLICA_URLS, comma-separated; may be empty */
    size_t nreplicas;
    int pg_max_conns;          /* SPOKE_POSTGRES_MAX_CONNS (10), per pool */
    int pg_acquire_timeout_ms; /* SPOKE_POSTGRES_ACQUIRE_TIMEOUT_MS (2000) */
    int pg_query_timeout_ms;   /* SPOKE_POSTGRES_QUERY_TIMEOUT_MS (5000) */
    int pg_connect_timeout_ms; /* SPOKE_POSTGRES_CONNECT_TIMEOUT_MS (2000) */
    int64_t pg_max_lag_bytes;  /* SPOKE_POSTGRES_MAX_LAG_BYTES (16 MiB) */
    int pg_health_interval_ms; /* SPOKE_POSTGRES_HEALTH_INTERVAL_MS (1000) */

    char *filesystem_root; /* SPOKE_FILESYSTEM_ROOT (./data/blobs); unused with S3 */

    /* S3 blob store: used when s3_endpoint is set (NULL = filesystem). Keys are never logged. */
    char *s3_endpoint;      /* SPOKE_S3_ENDPOINT, http(s)://host[:port] (unset) */
    char *s3_bucket;        /* SPOKE_S3_BUCKET (spoke), created at start if missing */
    char *s3_region;        /* SPOKE_S3_REGION (us-east-1) */
    char *s3_access_key;    /* SPOKE_S3_ACCESS_KEY; NULL with the secret = unsigned requests */
    char *s3_secret_key;    /* SPOKE_S3_SECRET_KEY */
    int s3_path_style;      /* SPOKE_S3_USE_PATH_STYLE (false: virtual-host addressing) */
    int s3_timeout_ms;      /* SPOKE_S3_TIMEOUT_MS (5000), per request attempt */
    int s3_max_retries;     /* SPOKE_S3_MAX_RETRIES (2), for idempotent requests */
    int s3_health_cache_ms; /* SPOKE_S3_HEALTH_CACHE_MS (1000): readiness probe result reuse */
    int64_t gc_min_age_s;   /* SPOKE_GC_MIN_AGE_SECONDS (3600): gc spares younger blobs */

    char *protoc;          /* SPOKE_PROTOC (/usr/bin/protoc) */
    char *protoc_include;  /* SPOKE_PROTOC_INCLUDE (/usr/include): holds google/protobuf */
    int protoc_timeout_ms; /* SPOKE_PROTOC_TIMEOUT_MS (10000) */

    /* The evolution policy of modules that set none of their own (docs/evolution.md). */
    char *breaking_use;    /* SPOKE_BREAKING_USE (FILE): buf categories and/or rule IDs, a,b,…;
                              empty: pushes are not checked */
    char *breaking_except; /* SPOKE_BREAKING_EXCEPT (unset): rule IDs or categories to skip */
    char *breaking_ignore; /* SPOKE_BREAKING_IGNORE (unset): path prefixes not checked */
    int breaking_semver;   /* SPOKE_BREAKING_SEMVER (true): breaking only in a new major */

    size_t l1_cache_bytes; /* SPOKE_L1_CACHE_BYTES (64 MiB; 0 disables) */

    /* Redis (docs/caching.md): through Sentinel, or directly; neither set = no Redis (L1 only).
     * Setting both is a configuration error. The password is never logged. */
    char *redis_url;         /* SPOKE_REDIS_URL redis://[:password@]host:port[/db] (unset) */
    char *redis_sentinels;   /* SPOKE_REDIS_SENTINELS host:port,… (unset) */
    char *redis_master_name; /* SPOKE_REDIS_MASTER_NAME (spoke) */
    char *redis_password;    /* SPOKE_REDIS_PASSWORD (unset): AUTH to the Redis servers */
    int redis_timeout_ms;    /* SPOKE_REDIS_TIMEOUT_MS (100): per command, connect included */
    int redis_pool_size;     /* SPOKE_REDIS_POOL_SIZE (16): idle connections kept */
    int cache_version_ttl_s; /* SPOKE_CACHE_VERSION_TTL_S (604800): version:* keys in Redis */
    int cache_mutable_ttl_s; /* SPOKE_CACHE_MUTABLE_TTL_S (30): module:* and versions:* keys */
    int cache_local_ttl_ms;  /* SPOKE_CACHE_LOCAL_TTL_MS (1000): module data in-process; 0 off */

    size_t max_body_bytes; /* SPOKE_MAX_BODY_BYTES (16 MiB) */
    size_t max_files;      /* SPOKE_MAX_FILES (1000) */
    size_t max_file_bytes; /* SPOKE_MAX_FILE_BYTES (4 MiB) */

    int drain_ms;            /* SPOKE_DRAIN_MS (2000) */
    int shutdown_timeout_ms; /* SPOKE_SHUTDOWN_TIMEOUT_MS (30000) */

    /* OTLP/HTTP metrics push (docs/observability.md); a NULL endpoint disables it. */
    char *otel_endpoint;     /* SPOKE_OTEL_ENDPOINT, http(s)://host:port/v1/metrics (unset) */
    int otel_interval_ms;    /* SPOKE_OTEL_INTERVAL_MS (10000) */
    int otel_timeout_ms;     /* SPOKE_OTEL_TIMEOUT_MS (5000): one push; bounds the final flush */
    char *otel_service_name; /* SPOKE_OTEL_SERVICE_NAME (spoke) */
};

/* getenv-like lookup, so tests can feed their own table. */
typedef const char *(*spk_config_getenv_fn)(const char *name, void *ctx);

/* Fills cfg from lookup (NULL means getenv). On error: -1, err->msg names the variable,
 * cfg is left released. */
int spk_config_load(struct spk_config *cfg, spk_config_getenv_fn lookup, void *ctx,
                    struct spk_error *err);
void spk_config_release(struct spk_config *cfg);

#endif
