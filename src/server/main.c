/* spoke-server: wires config → log → stores → HTTP, waits for a signal, and tears down in
 * reverse. `spoke-server migrate` applies the schema migrations and exits. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spoke/api.h"
#include "spoke/blob.h"
#include "spoke/cache.h"
#include "spoke/config.h"
#include "spoke/error.h"
#include "spoke/gc.h"
#include "spoke/http.h"
#include "spoke/l1.h"
#include "spoke/log.h"
#include "spoke/metrics.h"
#include "spoke/migrate.h"
#include "spoke/otlp.h"
#include "spoke/store.h"
#include "spoke/time.h"
#include "spoke/banned.h"

#define MIGRATE_RETRY_MS   30000
#define BLOB_STORE_WAIT_MS 30000 /* S3 may come up after the instances */

static const char usage[] =
    "usage: spoke-server [serve | migrate | gc --dry-run|--apply | --version | --help]\n"
    "\n"
    "  serve     apply pending migrations, then serve the API on SPOKE_PORT and\n"
    "            /health/* on SPOKE_HEALTH_PORT (the default)\n"
    "  migrate   apply pending migrations to SPOKE_POSTGRES_URL and exit\n"
    "  gc        delete blobs no version references (--dry-run lists them;\n"
    "            --min-age SECONDS overrides SPOKE_GC_MIN_AGE_SECONDS)\n"
    "\n"
    "Configuration comes from SPOKE_* environment variables; see docs/configuration.md.\n";

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Instances may start before the primary accepts connections: retry with backoff for a while. */
static int migrate_with_retry(const struct spk_config *cfg, int retry_ms)
{
    struct spk_error err = {0};
    int64_t deadline = spk_time_mono_us() + (int64_t)retry_ms * 1000;
    int backoff = 100;
    for (;;) {
        int n = spk_migrate_run(cfg->postgres_url, cfg->pg_connect_timeout_ms, &err);
        if (n >= 0) {
            spk_log_json(SPK_LOG_INFO, NULL, "migrations up to date",
                         json_pack("{s:i, s:i}", "applied", n, "known", (int)spk_migrations_count));
            return 0;
        }
        if (err.code != SPK_E_UNAVAILABLE || spk_time_mono_us() > deadline) {
            spk_log_json(SPK_LOG_ERROR, NULL, "migrations failed",
                         json_pack("{s:s}", "error", err.msg));
            fprintf(stderr, "spoke-server: migrations failed: %s\n", err.msg);
            return -1;
        }
        spk_logf(SPK_LOG_WARN, NULL, "primary not reachable for migrations, retrying in %d ms",
                 backoff);
        sleep_ms(backoff);
        backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
    }
}

static int wait_for_signal(void)
{
    sigset_t set;
    int sig = 0;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigwait(&set, &sig);
    return sig;
}

/* SIGTERM: readiness fails at once so load balancers move away; after the drain period the
 * listener closes; requests in flight finish within the shutdown timeout. */
static void drain(struct spk_app *app, struct spk_http_server *api, const struct spk_config *cfg,
                  int sig)
{
    atomic_store(&app->draining, 1);
    spk_log_json(SPK_LOG_INFO, NULL, "draining",
                 json_pack("{s:s, s:i}", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", "drain_ms",
                           cfg->drain_ms));
    sleep_ms(cfg->drain_ms);
    spk_http_server_quiesce(api);
    int64_t deadline = spk_time_mono_us() + (int64_t)cfg->shutdown_timeout_ms * 1000;
    while (spk_http_server_inflight(api) > 0 && spk_time_mono_us() < deadline)
        sleep_ms(10);
    unsigned left = spk_http_server_inflight(api);
    if (left)
        spk_logf(SPK_LOG_WARN, NULL, "shutdown timeout with %u requests in flight", left);
}

/* spoke_db_connections_active{pool}, read when metrics are exported. */
static void on_pool_stats(void *db, int *primary, int *replicas)
{
    struct spk_db_pool_stats st;
    spk_db_pool_stats(db, &st);
    *primary = st.primary_active;
    *replicas = st.replicas_active;
}

/* API requests feed spoke_http_server_*; the health listener's probes and scrapes do not. */
static void on_api_complete(void *app, const char *method, const char *route, int status,
                            size_t bytes, double seconds)
{
    (void)app, (void)bytes;
    spk_metrics_http_request(method, route, status, seconds);
}

/* Starts the OTLP push when SPOKE_OTEL_ENDPOINT is set (*out stays NULL otherwise). The
 * instance is named host:port after the API listener. */
static int start_otlp(const struct spk_config *cfg, int port, struct spk_otlp_exporter **out,
                      struct spk_error *err)
{
    char host[256] = "localhost";
    if (!cfg->otel_endpoint)
        return 0;
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    char instance[300];
    snprintf(instance, sizeof(instance), "%s:%d", host, port);
    struct spk_otlp_options o = {
        .endpoint = cfg->otel_endpoint,
        .interval_ms = cfg->otel_interval_ms,
        .timeout_ms = cfg->otel_timeout_ms,
        .service_name = cfg->otel_service_name,
        .service_instance_id = instance,
        .service_version = SPOKE_VERSION,
    };
    *out = spk_otlp_exporter_create(&o, err);
    return *out ? 0 : -1;
}

static int serve(const struct spk_config *cfg)
{
    struct spk_error err = {0};
    struct spk_app app = {.cfg = cfg};
    struct spk_proto_toolchain toolchain = {0};
    struct spk_http_server *api = NULL, *health = NULL;
    struct spk_otlp_exporter *otlp = NULL;
    int rc = 1;

    /* A default policy naming an unknown rule would refuse every push: refuse to start instead. */
    struct spk_policy def;
    spk_registry_policy_default(&app, &def);
    int bad = spk_registry_policy_validate(&def, &err);
    spk_policy_release(&def);
    if (bad) {
        spk_logf(SPK_LOG_ERROR, NULL, "SPOKE_BREAKING_*: %s", err.msg);
        return 1;
    }
    if (migrate_with_retry(cfg, MIGRATE_RETRY_MS))
        return 1;
    app.blobs = spk_blob_store_create(cfg, BLOB_STORE_WAIT_MS, &err);
    if (!app.blobs)
        goto fail;
    app.l1 = spk_l1_create(cfg->l1_cache_bytes);
    app.cache = spk_cache_create(cfg, app.l1, &err); /* Redis connects in the background */
    if (!app.cache)
        goto fail;
    if (spk_proto_toolchain_create(cfg->protoc, cfg->protoc_include, &toolchain, &err))
        goto fail;
    app.protoc = (struct spk_protoc_options){
        .protoc = toolchain.protoc,
        .wkt_root = toolchain.include,
        .timeout_ms = cfg->protoc_timeout_ms,
        .max_descriptor = 8 * cfg->max_body_bytes,
    };
    app.db = spk_db_create(cfg, &err);
    if (!app.db)
        goto fail;
    spk_metrics_http_routes_set(spk_api_routes, spk_api_routes_count);
    spk_metrics_db_pools_watch(on_pool_stats, app.db);

    struct spk_http_server_options hopts = {
        .name = "health",
        .host = cfg->host,
        .port = cfg->health_port,
        .threads = 2,
        .max_body_bytes = 4096,
        .routes = spk_health_routes,
        .nroutes = spk_health_routes_count,
        .app = &app,
        .access_log = 0, /* probes every second would drown the log */
    };
    health = spk_http_server_create(&hopts, &err);
    if (!health)
        goto fail;
    struct spk_http_server_options aopts = {
        .name = "api",
        .host = cfg->host,
        .port = cfg->port,
        .threads = cfg->threads,
        .max_body_bytes = cfg->max_body_bytes,
        .routes = spk_api_routes,
        .nroutes = spk_api_routes_count,
        .app = &app,
        .on_complete = on_api_complete,
        .access_log = 1,
    };
    api = spk_http_server_create(&aopts, &err);
    if (!api || start_otlp(cfg, spk_http_server_port(api), &otlp, &err))
        goto fail;
    spk_log_json(SPK_LOG_INFO, NULL, "serving",
                 json_pack("{s:s, s:i, s:i, s:s, s:i, s:s}", "host", cfg->host, "port",
                           spk_http_server_port(api), "health_port", spk_http_server_port(health),
                           "blob_store", app.blobs->ops->name, "replicas", (int)cfg->nreplicas,
                           "version", SPOKE_VERSION));

    drain(&app, api, cfg, wait_for_signal());
    rc = 0;
    goto out;
fail:
    spk_log_json(SPK_LOG_ERROR, NULL, "start failed", json_pack("{s:s}", "error", err.msg));
    fprintf(stderr, "spoke-server: %s\n", err.msg);
out:
    spk_http_server_destroy(api);
    spk_http_server_destroy(health);
    spk_otlp_exporter_destroy(otlp); /* the final push still reads the pool gauges */
    spk_metrics_db_pools_watch(NULL, NULL);
    spk_db_destroy(app.db);
    spk_blob_store_destroy(app.blobs);
    spk_cache_destroy(app.cache);
    spk_l1_destroy(app.l1);
    spk_proto_toolchain_release(&toolchain);
    if (rc == 0)
        spk_logf(SPK_LOG_INFO, NULL, "stopped");
    return rc;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "serve";
    struct spk_config cfg;
    struct spk_error err = {0};
    int rc;

    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("spoke-server %s\n", SPOKE_VERSION);
        return 0;
    }
    if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "migrate") != 0 && strcmp(cmd, "gc") != 0) {
        fprintf(stderr, "spoke-server: unknown command \"%s\"\n%s", cmd, usage);
        return 2;
    }

    /* Blocked here, so every thread started later inherits the mask and only sigwait sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (spk_config_load(&cfg, NULL, NULL, &err)) {
        fprintf(stderr, "spoke-server: invalid configuration: %s\n", err.msg);
        return 2;
    }
    spk_log_set_level(cfg.log_level);
    if (!strcmp(cmd, "migrate")) {
        int n = spk_migrate_run(cfg.postgres_url, cfg.pg_connect_timeout_ms, &err);
        if (n < 0)
            fprintf(stderr, "spoke-server: migrations failed: %s\n", err.msg);
        else
            printf("applied %d migration(s); %zu known\n", n, spk_migrations_count);
        rc = n < 0 ? 1 : 0;
    } else if (!strcmp(cmd, "gc")) {
        rc = spk_gc_command(&cfg, argc - 2, argv + 2);
    } else {
        rc = serve(&cfg);
    }
    spk_config_release(&cfg);
    return rc;
}
