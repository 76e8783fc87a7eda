/* SPOKE_* environment variables parsed once into an immutable struct. Defaults work for the
 * local stack. A bad value fails the parse with a one-line message naming the variable. */
#ifndef SPOKE_CONFIG_H
#define SPOKE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "spoke/log.h"

struct spk_error;

struct spk_config {
    char *host;        /* SPOKE_HOST, listen address of both listeners (default 0.0.0.0) */
    int port;          /* SPOKE_PORT (8080) */
    int health_port;   /* SPOKE_HEALTH_PORT (9090) */
    int threads;       /* SPOKE_THREADS (16): libmicrohttpd pool threads; handlers may block */
    enum spk_log_level log_level; /* SPOKE_LOG_LEVEL (info) */

    char *postgres_url;          /* SPOKE_POSTGRES_URL: the write pool (primary) */
    char **replica_urls;         /* SPOKE_POSTGRES_REPLICA_URLS, comma-separated; may be empty */
    size_t nreplicas;
    int pg_max_conns;            /* SPOKE_POSTGRES_MAX_CONNS (10), per pool */
    int pg_acquire_timeout_ms;   /* SPOKE_POSTGRES_ACQUIRE_TIMEOUT_MS (2000) */
    int pg_query_timeout_ms;     /* SPOKE_POSTGRES_QUERY_TIMEOUT_MS (5000) */
    int pg_connect_timeout_ms;   /* SPOKE_POSTGRES_CONNECT_TIMEOUT_MS (2000) */
    int64_t pg_max_lag_bytes;    /* SPOKE_POSTGRES_MAX_LAG_BYTES (16 MiB) */
    int pg_health_interval_ms;   /* SPOKE_POSTGRES_HEALTH_INTERVAL_MS (1000) */

    char *filesystem_root;       /* SPOKE_FILESYSTEM_ROOT (./data/blobs) */

    char *protoc;                /* SPOKE_PROTOC (/usr/bin/protoc) */
    char *protoc_include;        /* SPOKE_PROTOC_INCLUDE (/usr/include): holds google/protobuf */
    int protoc_timeout_ms;       /* SPOKE_PROTOC_TIMEOUT_MS (10000) */

    size_t l1_cache_bytes;       /* SPOKE_L1_CACHE_BYTES (64 MiB; 0 disables) */

    size_t max_body_bytes;       /* SPOKE_MAX_BODY_BYTES (16 MiB) */
    size_t max_files;            /* SPOKE_MAX_FILES (1000) */
    size_t max_file_bytes;       /* SPOKE_MAX_FILE_BYTES (4 MiB) */

    int drain_ms;                /* SPOKE_DRAIN_MS (2000) */
    int shutdown_timeout_ms;     /* SPOKE_SHUTDOWN_TIMEOUT_MS (30000) */
};

/* getenv-like lookup, so tests can feed their own table. */
typedef const char *(*spk_config_getenv_fn)(const char *name, void *ctx);

/* Fills cfg from lookup (NULL means getenv). On error: -1, err->msg names the variable,
 * cfg is left released. */
int spk_config_load(struct spk_config *cfg, spk_config_getenv_fn lookup, void *ctx,
                    struct spk_error *err);
void spk_config_release(struct spk_config *cfg);

#endif
