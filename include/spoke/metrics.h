/* The process-wide metrics registry: counters, gauges and fixed-bucket histograms behind a few
 * recording calls that are cheap enough for every request. Exported as Prometheus text on the
 * health listener (/metrics) and pushed as OTLP/HTTP JSON (include/spoke/otlp.h).
 *
 * Invariants:
 * - Recording never blocks and never allocates: every series lives in a fixed table of relaxed
 *   atomics, so the recording calls are safe from any thread at any time, before or without
 *   spk_metrics_http_routes_set.
 * - Cardinality is bounded by construction. Label values come from fixed tables: a route that
 *   was not registered becomes "unmatched", any other unknown value becomes "other".
 * - Everything is cumulative from process start; a snapshot is a consistent-enough copy (each
 *   histogram's count is the sum of its buckets, so _count always equals the +Inf bucket). */
#ifndef SPOKE_METRICS_H
#define SPOKE_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct spk_buf;
struct spk_http_route;

/* ---- recording -------------------------------------------------------------------------- */

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
/* spoke_pushes_refused_total{rule}: one violation of a breaking rule in a refused push. */
void spk_metrics_push_refused(const char *rule);
/* spoke_otlp_exports_total{result}: result in ok/error/rejected (the OTLP exporter's own). */
void spk_metrics_otlp_export(const char *result);
/* spoke_otlp_dropped_total: payloads dropped from the exporter's full queue. */
void spk_metrics_otlp_dropped(void);

/* ---- setup ------------------------------------------------------------------------------ */

/* Declares the route templates spoke_http_server_* may carry (at most SPK_METRICS_MAX_ROUTES
 * distinct patterns; the rest count as "unmatched"). Call at start, before traffic. The table is
 * borrowed: its pattern strings must outlive the process (route tables are static). Calling it
 * again replaces the set. */
#define SPK_METRICS_MAX_ROUTES 48
void spk_metrics_http_routes_set(const struct spk_http_route *routes, size_t n);

/* spoke_db_connections_active{pool} is read at snapshot time from fn, which fills the number of
 * connections checked out of the primary pool and of all replica pools. fn(NULL) stops watching;
 * after that call returns, fn is no longer running and will not be called again, so the caller
 * may free arg. */
typedef void (*spk_metrics_pools_fn)(void *arg, int *primary_active, int *replicas_active);
void spk_metrics_db_pools_watch(spk_metrics_pools_fn fn, void *arg);

/* Zeroes every series and forgets the routes and the pool watcher. For tests. */
void spk_metrics_reset(void);

/* ---- snapshots for the exporters -------------------------------------------------------- */

enum spk_metric_type { SPK_METRIC_COUNTER, SPK_METRIC_GAUGE, SPK_METRIC_HISTOGRAM };

#define SPK_METRICS_MAX_LABELS 3

/* One series. Label values are borrowed from static tables or registered route templates. */
struct spk_metric_point {
    const char *labels[SPK_METRICS_MAX_LABELS];
    uint64_t count;    /* counter value; histogram observation count */
    int64_t gauge;     /* gauge value */
    double sum;        /* histogram: sum of observations */
    uint64_t *buckets; /* histogram: nbounds + 1 non-cumulative counts; the last is above the top
                        * bound. Owned by the snapshot. */
};

struct spk_metric_family {
    const char *name;      /* Prometheus name: "spoke_http_server_requests_total" */
    const char *otel_name; /* OTLP name: "http.server.requests"; NULL = not exported by OTLP */
    const char *help;
    const char *unit; /* UCUM for OTLP: "s", "{request}"; "" when none */
    enum spk_metric_type type;
    const char *const *label_names; /* nlabels entries, also the OTLP attribute keys */
    size_t nlabels;
    const double *bounds; /* histogram upper bounds, ascending; a bucket includes its bound */
    size_t nbounds;
    struct spk_metric_point *points; /* owned by the snapshot */
    size_t npoints;
};

struct spk_metrics_snapshot {
    int64_t start_unix_ns; /* when counting began (process start) */
    int64_t time_unix_ns;  /* when the snapshot was taken */
    struct spk_metric_family *families;
    size_t nfamilies;
};

/* Copies the registry. Free with spk_metrics_snapshot_destroy. */
struct spk_metrics_snapshot *spk_metrics_snapshot_take(void);
void spk_metrics_snapshot_destroy(struct spk_metrics_snapshot *s);

/* Index of the bucket an observation falls in: the first bound >= v, nbounds above them all. */
size_t spk_metrics_bucket_index(const double *bounds, size_t nbounds, double v);

/* ---- encoders --------------------------------------------------------------------------- */

#define SPK_METRICS_PROMETHEUS_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Appends the Prometheus text exposition (format 0.0.4) of s to out. */
void spk_metrics_prometheus_render(const struct spk_metrics_snapshot *s, struct spk_buf *out);
/* Appends v as a label value, escaping backslash, double quote and newline. */
void spk_metrics_prometheus_escape(const char *v, struct spk_buf *out);

/* Resource attributes of an OTLP payload. */
struct spk_otlp_resource {
    const char *service_name;
    const char *service_instance_id;
    const char *service_version;
};

/* The OTLP/HTTP JSON ExportMetricsServiceRequest for s: cumulative sums, gauges and explicit-
 * bucket histograms named by otel_name. Returns a new string (free with free()). */
char *spk_metrics_otlp_json(const struct spk_metrics_snapshot *s,
                            const struct spk_otlp_resource *res);

#endif
