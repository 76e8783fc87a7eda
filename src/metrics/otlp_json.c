/* The OTLP/HTTP JSON encoding of a metrics snapshot: one ExportMetricsServiceRequest with one
 * resource and one scope. Counters are cumulative monotonic sums, gauges are gauges, histograms
 * are cumulative explicit-bucket histograms. 64-bit integers are JSON strings and enums are
 * numbers, as the OTLP JSON mapping prescribes. Pure formatting; pushing lives in otlp.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "spoke/alloc.h"
#include "spoke/metrics.h"
#include "spoke/banned.h"

#define TEMPORALITY_CUMULATIVE 2 /* AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE */

/* jansson refuses invalid UTF-8; label values are ASCII by construction, but a replacement is
 * better than a payload the collector rejects. */
static json_t *text(const char *s)
{
    json_t *j = json_string(s ? s : "");
    return j ? j : json_string("?");
}

static json_t *u64(uint64_t v)
{
    char s[24];
    snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
    return json_string(s);
}

static json_t *i64(int64_t v)
{
    char s[24];
    snprintf(s, sizeof(s), "%lld", (long long)v);
    return json_string(s);
}

static json_t *attribute(const char *key, const char *value)
{
    return json_pack("{s:o, s:{s:o}}", "key", text(key), "value", "stringValue", text(value));
}

static json_t *attributes(const struct spk_metric_family *f, const struct spk_metric_point *p)
{
    json_t *a = json_array();
    for (size_t i = 0; i < f->nlabels; i++)
        json_array_append_new(a, attribute(f->label_names[i], p->labels[i]));
    return a;
}

static json_t *data_point(const struct spk_metrics_snapshot *s, const struct spk_metric_family *f,
                          const struct spk_metric_point *p)
{
    json_t *dp = json_object();
    json_object_set_new(dp, "attributes", attributes(f, p));
    if (f->type != SPK_METRIC_GAUGE)
        json_object_set_new(dp, "startTimeUnixNano", i64(s->start_unix_ns));
    json_object_set_new(dp, "timeUnixNano", i64(s->time_unix_ns));
    switch (f->type) {
    case SPK_METRIC_COUNTER:
        json_object_set_new(dp, "asInt", u64(p->count));
        break;
    case SPK_METRIC_GAUGE:
        json_object_set_new(dp, "asInt", i64(p->gauge));
        break;
    case SPK_METRIC_HISTOGRAM: {
        json_t *counts = json_array(), *bounds = json_array();
        for (size_t i = 0; i <= f->nbounds; i++)
            json_array_append_new(counts, u64(p->buckets[i]));
        for (size_t i = 0; i < f->nbounds; i++)
            json_array_append_new(bounds, json_real(f->bounds[i]));
        json_object_set_new(dp, "count", u64(p->count));
        json_object_set_new(dp, "sum", json_real(p->sum));
        json_object_set_new(dp, "bucketCounts", counts);
        json_object_set_new(dp, "explicitBounds", bounds);
        break;
    }
    }
    return dp;
}

static json_t *metric(const struct spk_metrics_snapshot *s, const struct spk_metric_family *f)
{
    json_t *points = json_array();
    for (size_t i = 0; i < f->npoints; i++)
        json_array_append_new(points, data_point(s, f, &f->points[i]));

    json_t *data = json_object();
    json_object_set_new(data, "dataPoints", points);
    const char *kind = "gauge";
    if (f->type != SPK_METRIC_GAUGE) {
        json_object_set_new(data, "aggregationTemporality", json_integer(TEMPORALITY_CUMULATIVE));
        kind = "histogram";
    }
    if (f->type == SPK_METRIC_COUNTER) {
        json_object_set_new(data, "isMonotonic", json_true());
        kind = "sum";
    }
    json_t *m = json_object();
    json_object_set_new(m, "name", text(f->otel_name));
    json_object_set_new(m, "description", text(f->help));
    json_object_set_new(m, "unit", text(f->unit));
    json_object_set_new(m, kind, data);
    return m;
}

char *spk_metrics_otlp_json(const struct spk_metrics_snapshot *s,
                            const struct spk_otlp_resource *res)
{
    json_t *metrics = json_array();
    for (size_t i = 0; i < s->nfamilies; i++) {
        const struct spk_metric_family *f = &s->families[i];
        if (f->otel_name && f->npoints) /* an empty metric carries nothing */
            json_array_append_new(metrics, metric(s, f));
    }

    json_t *attrs = json_array();
    json_array_append_new(attrs, attribute("service.name", res->service_name));
    if (res->service_instance_id)
        json_array_append_new(attrs, attribute("service.instance.id", res->service_instance_id));
    if (res->service_version)
        json_array_append_new(attrs, attribute("service.version", res->service_version));

    json_t *req = json_pack("{s:[{s:{s:o}, s:[{s:{s:s, s:s}, s:o}]}]}", "resourceMetrics",
                            "resource", "attributes", attrs, "scopeMetrics", "scope", "name",
                            "spoke", "version", SPOKE_VERSION, "metrics", metrics);
    char *out = json_dumps(req, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(req);
    if (!out)
        abort(); /* only allocation fails here */
    return out;
}
