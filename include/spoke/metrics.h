/* The process-wide metrics registry: counters, gauges and fixed-bucket histograms behind a few
 * recording calls that are cheap enough for every request. Exported as Prometheus text on the
 * health listener and pushed as OTLP/HTTP JSON.
 *
 * Label values passed here must come from small fixed sets (string literals such as "l1",
 * "redis", "get", "ok", a route template): cardinality is bounded by construction, and unknown
 * values collapse into "other". */
#ifndef SPOKE_METRICS_H
#define SPOKE_METRICS_H

#include <stddef.h>

/* spoke_http_server_requests_total{method,route,status} and
 * spoke_http_server_duration_seconds{method,route}. route is the template or "unmatched". */
void spk_metrics_http_request(const char *method, const char *route, int status, double seconds);
/* spoke_db_query_duration_seconds{pool}; pool is "primary" or "replica". */
void spk_metrics_db_query(const char *pool, double seconds);
/* spoke_cache_hits_total{tier} / spoke_cache_misses_total{tier}; tier is "l1" or "redis". */
void spk_metrics_cache_hit(const char *tier);
void spk_metrics_cache_miss(const char *tier);
/* spoke_storage_operations_total{op,result}; op in head/get/put/delete/list,
 * result in ok/not_found/error. */
void spk_metrics_storage_op(const char *op, const char *result);
/* spoke_versions_pushed_total */
void spk_metrics_version_pushed(void);

#endif
