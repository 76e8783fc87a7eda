/* GET /metrics on the health listener: the registry in the Prometheus text format 0.0.4.
 * Scrapes never touch a backend; the pool gauges read counters the pools keep anyway. */
#include "api_internal.h"
#include "spoke/buf.h"
#include "spoke/metrics.h"
#include "spoke/banned.h"

void api_metrics_get(struct spk_http_ctx *ctx, void *app)
{
    struct spk_buf out = SPK_BUF_INIT;
    struct spk_metrics_snapshot *s = spk_metrics_snapshot_take();
    size_t len = 0;
    (void)app;

    spk_metrics_prometheus_render(s, &out);
    spk_metrics_snapshot_destroy(s);
    char *body = spk_buf_detach(&out, &len);
    spk_http_reply_owned(ctx, 200, SPK_METRICS_PROMETHEUS_TYPE, body, len);
}
