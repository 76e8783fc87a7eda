/* The Prometheus text exposition format 0.0.4 of a metrics snapshot: HELP and TYPE per family,
 * one line per series, histograms as cumulative _bucket lines (le inclusive, ending with +Inf)
 * plus _sum and _count. Pure formatting: what to export is decided by registry.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spoke/buf.h"
#include "spoke/metrics.h"
#include "spoke/banned.h"

static const char *const type_names[] = {
    [SPK_METRIC_COUNTER] = "counter",
    [SPK_METRIC_GAUGE] = "gauge",
    [SPK_METRIC_HISTOGRAM] = "histogram",
};

/* The shortest of %.15g..%.17g that reads back as v, so 0.005 prints as "0.005". */
static void format_double(double v, char *out, size_t outsz)
{
    if (isnan(v)) {
        snprintf(out, outsz, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, outsz, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, outsz, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

void spk_metrics_prometheus_escape(const char *v, struct spk_buf *out)
{
    const char *run = v;
    for (const char *p = v; *p; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
        if (!esc)
            continue;
        spk_buf_append(out, run, (size_t)(p - run));
        spk_buf_puts(out, esc);
        run = p + 1;
    }
    spk_buf_puts(out, run);
}

/* HELP text escapes only backslash and newline. */
static void escape_help(const char *v, struct spk_buf *out)
{
    for (const char *p = v; *p; p++) {
        if (*p == '\\')
            spk_buf_puts(out, "\\\\");
        else if (*p == '\n')
            spk_buf_puts(out, "\\n");
        else
            spk_buf_append(out, p, 1);
    }
}

/* name{l1="v1",...,extra="..."} — the braces are left out when there is no label at all. */
static void series_name(struct spk_buf *out, const struct spk_metric_family *f,
                        const struct spk_metric_point *p, const char *suffix, const char *le)
{
    int n = 0;
    spk_buf_puts(out, f->name);
    spk_buf_puts(out, suffix);
    for (size_t i = 0; i < f->nlabels; i++) {
        spk_buf_puts(out, n++ ? "," : "{");
        spk_buf_puts(out, f->label_names[i]);
        spk_buf_puts(out, "=\"");
        spk_metrics_prometheus_escape(p->labels[i] ? p->labels[i] : "", out);
        spk_buf_puts(out, "\"");
    }
    if (le) {
        spk_buf_puts(out, n++ ? ",le=\"" : "{le=\"");
        spk_buf_puts(out, le);
        spk_buf_puts(out, "\"");
    }
    if (n)
        spk_buf_puts(out, "}");
    spk_buf_puts(out, " ");
}

static void render_histogram(struct spk_buf *out, const struct spk_metric_family *f,
                             const struct spk_metric_point *p)
{
    char num[64];
    uint64_t cumulative = 0;

    for (size_t i = 0; i <= f->nbounds; i++) {
        cumulative += p->buckets[i];
        if (i < f->nbounds)
            format_double(f->bounds[i], num, sizeof(num));
        series_name(out, f, p, "_bucket", i < f->nbounds ? num : "+Inf");
        spk_buf_printf(out, "%llu\n", (unsigned long long)cumulative);
    }
    format_double(p->sum, num, sizeof(num));
    series_name(out, f, p, "_sum", NULL);
    spk_buf_printf(out, "%s\n", num);
    series_name(out, f, p, "_count", NULL);
    spk_buf_printf(out, "%llu\n", (unsigned long long)cumulative);
}

void spk_metrics_prometheus_render(const struct spk_metrics_snapshot *s, struct spk_buf *out)
{
    for (size_t i = 0; i < s->nfamilies; i++) {
        const struct spk_metric_family *f = &s->families[i];
        spk_buf_printf(out, "# HELP %s ", f->name);
        escape_help(f->help, out);
        spk_buf_printf(out, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
        for (size_t j = 0; j < f->npoints; j++) {
            const struct spk_metric_point *p = &f->points[j];
            switch (f->type) {
            case SPK_METRIC_COUNTER:
                series_name(out, f, p, "", NULL);
                spk_buf_printf(out, "%llu\n", (unsigned long long)p->count);
                break;
            case SPK_METRIC_GAUGE:
                series_name(out, f, p, "", NULL);
                spk_buf_printf(out, "%lld\n", (long long)p->gauge);
                break;
            case SPK_METRIC_HISTOGRAM:
                render_histogram(out, f, p);
                break;
            }
        }
    }
}
