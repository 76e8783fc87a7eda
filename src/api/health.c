/* /health/live and /health/ready on the health listener. Liveness checks nothing but the process;
 * readiness checks what a request needs: the write pool, the blob store and a server that is not
 * draining. Replicas and Redis are reported but never make an instance unready: reads fall back
 * to the primary, and Redis is only a cache. */
#include <stdatomic.h>
#include <stdio.h>

#include "api_internal.h"
#include "spoke/blob.h"
#include "spoke/error.h"
#include "spoke/time.h"
#include "spoke/banned.h"

void api_health_live(struct spk_http_ctx *ctx, void *app)
{
    (void)app;
    spk_http_reply_json(ctx, 200, json_pack("{s:s}", "status", "live"));
}

static json_t *check(const char *status, double latency_ms, const char *detail)
{
    json_t *c = json_pack("{s:s, s:f}", "status", status, "latency_ms", latency_ms);
    if (detail && *detail)
        json_object_set_new(c, "detail", json_string(detail));
    return c;
}

void api_health_ready(struct spk_http_ctx *ctx, void *appv)
{
    struct spk_app *app = appv;
    struct spk_db_health db;
    struct spk_error err = {0};
    char detail[64];
    int ready = 1;
    json_t *checks = json_object();

    spk_db_health(app->db, &db);
    ready &= db.primary_ok;
    json_object_set_new(checks, "postgres_primary",
                        check(db.primary_ok ? "ok" : "down", db.primary_latency_ms,
                              db.primary_ok ? NULL : db.primary_detail));
    snprintf(detail, sizeof(detail), "%d/%d healthy", db.replicas_healthy, db.replicas_total);
    json_object_set_new(checks, "postgres_replicas",
                        check(db.replicas_healthy == db.replicas_total ? "ok" : "degraded",
                              db.replicas_latency_ms, detail));

    int64_t t0 = spk_time_mono_us();
    int blob_ok = spk_blob_check(app->blobs, &err) == 0;
    ready &= blob_ok;
    json_object_set_new(checks, "blob_store",
                        check(blob_ok ? "ok" : "down", (double)(spk_time_mono_us() - t0) / 1000.0,
                              blob_ok ? app->blobs->ops->name : err.msg));

    /* Redis is a cache: degraded (or disabled) never makes the instance unready. */
    struct spk_cache_status cst;
    spk_cache_status(app->cache, &cst);
    json_object_set_new(checks, "redis", check(cst.status, cst.latency_ms, cst.detail));

    int draining = atomic_load(&app->draining);
    ready &= !draining;
    json_object_set_new(checks, "http_server", check(draining ? "draining" : "ok", 0.0, NULL));

    spk_http_reply_json(
        ctx, ready ? 200 : 503,
        json_pack("{s:s, s:o}", "status", ready ? "ready" : "not_ready", "checks", checks));
}
