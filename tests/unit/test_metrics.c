/* The metrics registry and its encoders: Prometheus exposition and escaping, histogram bucket
 * math, counters under concurrency, cardinality collapse, the OTLP JSON shape, and the OTLP
 * exporter against a tiny in-test HTTP server (delivery, final flush, unreachable collector). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "spoke/buf.h"
#include "spoke/error.h"
#include "spoke/http.h"
#include "spoke/metrics.h"
#include "spoke/otlp.h"
#include "spoke/time.h"
#include "unit.h"

static void on_dummy(struct spk_http_ctx *ctx, void *app)
{
    (void)ctx, (void)app;
}

static const struct spk_http_route routes[] = {
    {"GET", "/modules", on_dummy},
    {"POST", "/modules", on_dummy}, /* same template twice: one series set */
    {"GET", "/modules/{name}", on_dummy},
    {"GET", "/modules/{name}/versions/{version}/files/{path...}", on_dummy},
};

static const struct spk_metric_family *family(const struct spk_metrics_snapshot *s,
                                              const char *name)
{
    for (size_t i = 0; i < s->nfamilies; i++)
        if (strcmp(s->families[i].name, name) == 0)
            return &s->families[i];
    return NULL;
}

/* The point whose labels are exactly l0, l1, l2 (NULL = label absent). */
static const struct spk_metric_point *point(const struct spk_metric_family *f, const char *l0,
                                            const char *l1, const char *l2)
{
    const char *want[3] = {l0, l1, l2};
    for (size_t i = 0; f && i < f->npoints; i++) {
        int ok = 1;
        for (size_t j = 0; j < f->nlabels; j++)
            ok &= want[j] && f->points[i].labels[j] && strcmp(want[j], f->points[i].labels[j]) == 0;
        if (ok)
            return &f->points[i];
    }
    return NULL;
}

static char *render(void)
{
    struct spk_buf b = SPK_BUF_INIT;
    struct spk_metrics_snapshot *s = spk_metrics_snapshot_take();
    spk_metrics_prometheus_render(s, &b);
    spk_metrics_snapshot_destroy(s);
    return spk_buf_detach(&b, NULL);
}

static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return 1;
    return 0;
}

/* ---- exposition ------------------------------------------------------------------------- */

static void test_escape(void)
{
    struct spk_buf b = SPK_BUF_INIT;
    spk_metrics_prometheus_escape("a\"b\\c\nd", &b);
    CHECK_STR_EQ(b.data, "a\\\"b\\\\c\\nd");
    spk_buf_reset(&b);
    spk_metrics_prometheus_escape("plain/{x}", &b);
    CHECK_STR_EQ(b.data, "plain/{x}");
    spk_buf_release(&b);
}

static void test_exposition_format(void)
{
    static const char *const labels[] = {"route", "status"};
    static const double bounds[] = {0.1, 1};
    uint64_t buckets[] = {1, 2, 3};
    struct spk_metric_point counters[] = {
        {.labels = {"/a\"q\"", "200"}, .count = 7},
        {.labels = {"back\\slash\nnl", "other"}, .count = 1},
    };
    struct spk_metric_point gauge = {.gauge = -3};
    struct spk_metric_point hist = {.labels = {"/h"}, .count = 6, .sum = 4.25, .buckets = buckets};
    struct spk_metric_family fams[] = {
        {"t_requests_total", "t.requests", "Requests.\nSecond \\ line.", "", SPK_METRIC_COUNTER,
         labels, 2, NULL, 0, counters, 2},
        {"t_gauge", NULL, "A gauge.", "", SPK_METRIC_GAUGE, NULL, 0, NULL, 0, &gauge, 1},
        {"t_seconds", "t.duration", "A histogram.", "s", SPK_METRIC_HISTOGRAM, labels, 1, bounds, 2,
         &hist, 1},
    };
    struct spk_metrics_snapshot s = {1, 2, fams, 3};
    struct spk_buf b = SPK_BUF_INIT;

    spk_metrics_prometheus_render(&s, &b);
    CHECK_STR_EQ(b.data, "# HELP t_requests_total Requests.\\nSecond \\\\ line.\n"
                         "# TYPE t_requests_total counter\n"
                         "t_requests_total{route=\"/a\\\"q\\\"\",status=\"200\"} 7\n"
                         "t_requests_total{route=\"back\\\\slash\\nnl\",status=\"other\"} 1\n"
                         "# HELP t_gauge A gauge.\n"
                         "# TYPE t_gauge gauge\n"
                         "t_gauge -3\n"
                         "# HELP t_seconds A histogram.\n"
                         "# TYPE t_seconds histogram\n"
                         "t_seconds_bucket{route=\"/h\",le=\"0.1\"} 1\n"
                         "t_seconds_bucket{route=\"/h\",le=\"1\"} 3\n"
                         "t_seconds_bucket{route=\"/h\",le=\"+Inf\"} 6\n"
                         "t_seconds_sum{route=\"/h\"} 4.25\n"
                         "t_seconds_count{route=\"/h\"} 6\n");
    spk_buf_release(&b);
}

static void test_registry_exposition(void)
{
    spk_metrics_reset();
    spk_metrics_http_routes_set(routes, sizeof(routes) / sizeof(routes[0]));
    spk_metrics_http_request("GET", "/modules/{name}", 200, 0.002);
    spk_metrics_http_request("GET", "/modules/{name}", 200, 0.003);
    spk_metrics_http_request("POST", "/modules", 409, 0.01);
    spk_metrics_version_pushed();
    spk_metrics_storage_op("put", "ok");
    char *text = render();

    CHECK(has_line(text, "# TYPE spoke_http_server_requests_total counter"));
    CHECK(has_line(text,
                   "spoke_http_server_requests_total{method=\"GET\",route=\"/modules/{name}\","
                   "status=\"200\"} 2"));
    CHECK(has_line(text, "spoke_http_server_requests_total{method=\"POST\",route=\"/modules\","
                         "status=\"409\"} 1"));
    CHECK(has_line(text, "# TYPE spoke_http_server_duration_seconds histogram"));
    CHECK(has_line(text, "spoke_http_server_duration_seconds_count{method=\"GET\","
                         "route=\"/modules/{name}\"} 2"));
    CHECK(has_line(text, "spoke_http_server_duration_seconds_sum{method=\"GET\","
                         "route=\"/modules/{name}\"} 0.005"));
    CHECK(has_line(text, "spoke_versions_pushed_total 1"));
    CHECK(has_line(text, "spoke_storage_operations_total{op=\"put\",result=\"ok\"} 1"));
    CHECK(has_line(text, "spoke_storage_operations_total{op=\"get\",result=\"error\"} 0"));
    CHECK(has_line(text, "spoke_cache_hits_total{tier=\"l1\"} 0"));
    CHECK(has_line(text, "spoke_cache_misses_total{tier=\"redis\"} 0"));
    CHECK(has_line(text, "spoke_build_info{version=\"" SPOKE_VERSION "\"} 1"));
    CHECK(has_line(text, "# TYPE spoke_db_connections_active gauge"));
    CHECK(!strstr(text, "status=\"201\"")); /* never-seen HTTP series are left out */
    CHECK(!strstr(text, "\"other\"} 0"));   /* so are empty catch-alls */
    free(text);
}

/* ---- histograms ------------------------------------------------------------------------- */

static void test_bucket_index(void)
{
    static const double b[] = {0.005, 0.01, 1};
    CHECK_INT_EQ(spk_metrics_bucket_index(b, 3, 0), 0);
    CHECK_INT_EQ(spk_metrics_bucket_index(b, 3, 0.005), 0); /* le is inclusive */
    CHECK_INT_EQ(spk_metrics_bucket_index(b, 3, 0.0050001), 1);
    CHECK_INT_EQ(spk_metrics_bucket_index(b, 3, 0.01), 1);
    CHECK_INT_EQ(spk_metrics_bucket_index(b, 3, 1), 2);
    CHECK_INT_EQ(spk_metrics_bucket_index(b, 3, 1.5), 3); /* above every bound: +Inf only */
    CHECK_INT_EQ(spk_metrics_bucket_index(b, 3, -1), 0);
    CHECK_INT_EQ(spk_metrics_bucket_index(b, 3, 0.0 / 0.0), 3);
}

static void test_histogram_buckets(void)
{
    spk_metrics_reset();
    spk_metrics_http_routes_set(routes, sizeof(routes) / sizeof(routes[0]));
    /* 0.0005 and 0.001 are bucket bounds; 20 is above the top one (10). */
    spk_metrics_http_request("GET", "/modules", 200, 0.0005);
    spk_metrics_http_request("GET", "/modules", 200, 0.001);
    spk_metrics_http_request("GET", "/modules", 200, 0.001);
    spk_metrics_http_request("GET", "/modules", 200, 20);
    char *text = render();
    const char *p = "spoke_http_server_duration_seconds";
    char line[256];
    snprintf(line, sizeof(line), "%s_bucket{method=\"GET\",route=\"/modules\",le=\"0.0005\"} 1", p);
    CHECK(has_line(text, line));
    snprintf(line, sizeof(line), "%s_bucket{method=\"GET\",route=\"/modules\",le=\"0.001\"} 3", p);
    CHECK(has_line(text, line));
    snprintf(line, sizeof(line), "%s_bucket{method=\"GET\",route=\"/modules\",le=\"10\"} 3", p);
    CHECK(has_line(text, line));
    snprintf(line, sizeof(line), "%s_bucket{method=\"GET\",route=\"/modules\",le=\"+Inf\"} 4", p);
    CHECK(has_line(text, line));
    snprintf(line, sizeof(line), "%s_count{method=\"GET\",route=\"/modules\"} 4", p);
    CHECK(has_line(text, line));
    snprintf(line, sizeof(line), "%s_sum{method=\"GET\",route=\"/modules\"} 20.0025", p);
    CHECK(has_line(text, line));
    free(text);

    spk_metrics_db_query("primary", 0.0001);
    spk_metrics_db_query("replica", 7); /* above the top bound (5) */
    struct spk_metrics_snapshot *s = spk_metrics_snapshot_take();
    const struct spk_metric_family *f = family(s, "spoke_db_query_duration_seconds");
    const struct spk_metric_point *pt = point(f, "replica", NULL, NULL);
    CHECK(pt && pt->count == 1 && pt->sum == 7.0);
    CHECK(pt && pt->buckets[f->nbounds - 1] == 0 && pt->buckets[f->nbounds] == 1);
    pt = point(f, "primary", NULL, NULL);
    CHECK(pt && pt->buckets[0] == 1);
    spk_metrics_snapshot_destroy(s);
}

/* ---- concurrency and cardinality -------------------------------------------------------- */

#define THREADS    8
#define PER_THREAD 50000

static void *on_hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        spk_metrics_http_request("GET", "/modules/{name}", 200, 0.001);
        spk_metrics_cache_hit("l1");
        spk_metrics_storage_op("get", "ok");
    }
    return NULL;
}

static void test_counter_concurrency(void)
{
    pthread_t t[THREADS];
    spk_metrics_reset();
    spk_metrics_http_routes_set(routes, sizeof(routes) / sizeof(routes[0]));
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, on_hammer, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    struct spk_metrics_snapshot *s = spk_metrics_snapshot_take();
    const uint64_t want = (uint64_t)THREADS * PER_THREAD;
    const struct spk_metric_point *p =
        point(family(s, "spoke_http_server_requests_total"), "GET", "/modules/{name}", "200");
    CHECK(p && p->count == want);
    p = point(family(s, "spoke_http_server_duration_seconds"), "GET", "/modules/{name}", NULL);
    CHECK(p && p->count == want);
    p = point(family(s, "spoke_cache_hits_total"), "l1", NULL, NULL);
    CHECK(p && p->count == want);
    p = point(family(s, "spoke_storage_operations_total"), "get", "ok", NULL);
    CHECK(p && p->count == want);
    spk_metrics_snapshot_destroy(s);
}

static void test_cardinality_collapse(void)
{
    spk_metrics_reset();
    spk_metrics_http_routes_set(routes, sizeof(routes) / sizeof(routes[0]));
    spk_metrics_http_request("GET", "/modules/acme.payments", 200, 0.001); /* a raw path */
    spk_metrics_http_request("BREW", "/modules", 418, 0.001);
    spk_metrics_http_request("GET", NULL, 999, 0.001);
    spk_metrics_cache_hit("disk");
    spk_metrics_storage_op("copy", "maybe");
    spk_metrics_db_query(NULL, 0.001);

    struct spk_metrics_snapshot *s = spk_metrics_snapshot_take();
    const struct spk_metric_family *f = family(s, "spoke_http_server_requests_total");
    CHECK_INT_EQ(f->npoints, 3);
    CHECK(point(f, "GET", "unmatched", "200") && point(f, "GET", "unmatched", "200")->count == 1);
    CHECK(point(f, "other", "/modules", "other"));
    CHECK(point(f, "GET", "unmatched", "other"));
    CHECK(point(family(s, "spoke_cache_hits_total"), "other", NULL, NULL));
    CHECK(point(family(s, "spoke_storage_operations_total"), "other", "other", NULL));
    CHECK(point(family(s, "spoke_db_query_duration_seconds"), "other", NULL, NULL));
    spk_metrics_snapshot_destroy(s);

    /* Routes past the limit count as unmatched; the limit holds distinct templates. */
    static struct spk_http_route many[SPK_METRICS_MAX_ROUTES + 5];
    static char names[SPK_METRICS_MAX_ROUTES + 5][16];
    for (int i = 0; i < SPK_METRICS_MAX_ROUTES + 5; i++) {
        snprintf(names[i], sizeof(names[i]), "/r%d", i);
        many[i] = (struct spk_http_route){"GET", names[i], on_dummy};
    }
    spk_metrics_reset();
    spk_metrics_http_routes_set(many, SPK_METRICS_MAX_ROUTES + 5);
    spk_metrics_http_request("GET", "/r0", 200, 0.001);
    char last[16];
    snprintf(last, sizeof(last), "/r%d", SPK_METRICS_MAX_ROUTES - 1);
    spk_metrics_http_request("GET", last, 200, 0.001);
    spk_metrics_http_request("GET", many[SPK_METRICS_MAX_ROUTES].pattern, 200, 0.001);
    s = spk_metrics_snapshot_take();
    f = family(s, "spoke_http_server_requests_total");
    CHECK(point(f, "GET", "/r0", "200"));
    CHECK(point(f, "GET", last, "200"));
    CHECK(point(f, "GET", "unmatched", "200"));
    CHECK_INT_EQ(f->npoints, 3);
    spk_metrics_snapshot_destroy(s);
}

static void on_pools(void *arg, int *primary, int *replicas)
{
    int *calls = arg;
    (*calls)++;
    *primary = 3;
    *replicas = 1;
}

static void test_pool_gauges(void)
{
    int calls = 0;
    spk_metrics_reset();
    spk_metrics_db_pools_watch(on_pools, &calls);
    char *text = render();
    CHECK(has_line(text, "spoke_db_connections_active{pool=\"primary\"} 3"));
    CHECK(has_line(text, "spoke_db_connections_active{pool=\"replica\"} 1"));
    free(text);
    CHECK_INT_EQ(calls, 1);
    spk_metrics_db_pools_watch(NULL, NULL);
    text = render();
    CHECK(!strstr(text, "spoke_db_connections_active{"));
    free(text);
    CHECK_INT_EQ(calls, 1);
}

/* ---- OTLP JSON -------------------------------------------------------------------------- */

static json_t *metric_named(json_t *metrics, const char *name)
{
    for (size_t i = 0; i < json_array_size(metrics); i++) {
        json_t *m = json_array_get(metrics, i);
        if (strcmp(json_string_value(json_object_get(m, "name")), name) == 0)
            return m;
    }
    return NULL;
}

static const char *attr(json_t *attrs, const char *key)
{
    for (size_t i = 0; i < json_array_size(attrs); i++) {
        json_t *a = json_array_get(attrs, i);
        if (strcmp(json_string_value(json_object_get(a, "key")), key) == 0)
            return json_string_value(json_object_get(json_object_get(a, "value"), "stringValue"));
    }
    return NULL;
}

static void test_otlp_json_shape(void)
{
    spk_metrics_reset();
    spk_metrics_http_routes_set(routes, sizeof(routes) / sizeof(routes[0]));
    spk_metrics_http_request("GET", "/modules/{name}", 200, 0.004);
    spk_metrics_http_request("GET", "/modules/{name}", 200, 0.2);
    spk_metrics_cache_miss("l1");
    struct spk_metrics_snapshot *s = spk_metrics_snapshot_take();
    struct spk_otlp_resource res = {"spoke-test", "host:8081", "9.9.9"};
    char *text = spk_metrics_otlp_json(s, &res);
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    CHECK(root != NULL);

    json_t *rm = json_array_get(json_object_get(root, "resourceMetrics"), 0);
    json_t *rattrs = json_object_get(json_object_get(rm, "resource"), "attributes");
    CHECK_STR_EQ(attr(rattrs, "service.name"), "spoke-test");
    CHECK_STR_EQ(attr(rattrs, "service.instance.id"), "host:8081");
    CHECK_STR_EQ(attr(rattrs, "service.version"), "9.9.9");
    json_t *sm = json_array_get(json_object_get(rm, "scopeMetrics"), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(sm, "scope"), "name")), "spoke");
    json_t *metrics = json_object_get(sm, "metrics");

    json_t *req = metric_named(metrics, "http.server.requests");
    json_t *sum = json_object_get(req, "sum");
    CHECK(sum && json_integer_value(json_object_get(sum, "aggregationTemporality")) == 2);
    CHECK(json_is_true(json_object_get(sum, "isMonotonic")));
    json_t *dp = json_array_get(json_object_get(sum, "dataPoints"), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(dp, "asInt")), "2");
    CHECK_STR_EQ(attr(json_object_get(dp, "attributes"), "route"), "/modules/{name}");
    CHECK_STR_EQ(attr(json_object_get(dp, "attributes"), "method"), "GET");
    CHECK_STR_EQ(attr(json_object_get(dp, "attributes"), "status"), "200");
    CHECK(json_is_string(json_object_get(dp, "startTimeUnixNano")));
    CHECK(strtoll(json_string_value(json_object_get(dp, "startTimeUnixNano")), NULL, 10) <=
          strtoll(json_string_value(json_object_get(dp, "timeUnixNano")), NULL, 10));

    json_t *dur = metric_named(metrics, "http.server.duration");
    CHECK_STR_EQ(json_string_value(json_object_get(dur, "unit")), "s");
    json_t *h = json_object_get(dur, "histogram");
    CHECK(h && json_integer_value(json_object_get(h, "aggregationTemporality")) == 2);
    dp = json_array_get(json_object_get(h, "dataPoints"), 0);
    json_t *counts = json_object_get(dp, "bucketCounts");
    json_t *bounds = json_object_get(dp, "explicitBounds");
    CHECK(json_array_size(counts) == json_array_size(bounds) + 1);
    long long total = 0;
    for (size_t i = 0; i < json_array_size(counts); i++)
        total += strtoll(json_string_value(json_array_get(counts, i)), NULL, 10);
    CHECK_INT_EQ(total, 2);
    CHECK_STR_EQ(json_string_value(json_object_get(dp, "count")), "2");
    CHECK(json_real_value(json_object_get(dp, "sum")) > 0.2039 &&
          json_real_value(json_object_get(dp, "sum")) < 0.2041);

    CHECK(json_object_get(metric_named(metrics, "build.info"), "gauge"));
    CHECK(metric_named(metrics, "cache.misses.total"));
    CHECK(metric_named(metrics, "versions.pushed.total"));
    CHECK(metric_named(metrics, "pushes.refused.total"));   /* one zero series per rule */
    CHECK(!metric_named(metrics, "db.connections.active")); /* no watcher: no points, no metric */
    CHECK_INT_EQ(json_array_size(metrics), 8); /* every family with points and an OTLP name */
    for (size_t i = 0; i < json_array_size(metrics); i++) /* Prometheus-only families stay out */
        CHECK(!strstr(json_string_value(json_object_get(json_array_get(metrics, i), "name")),
                      "otlp"));
    json_decref(root);
    free(text);
    spk_metrics_snapshot_destroy(s);
}

/* ---- the exporter against a tiny collector ---------------------------------------------- */

struct collector {
    int fd, port, status;
    atomic_int stop, requests;
    pthread_mutex_t mu;
    char *last_body;
    pthread_t thread;
};

/* Serves HTTP/1.1 requests with Content-Length bodies, answering `status`. A status of 0 means
 * never answer (a collector that hangs). */
static void serve_conn(struct collector *c, int fd)
{
    char buf[1 << 16];
    size_t have = 0;
    while (!atomic_load(&c->stop)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (n <= 0)
            return;
        have += (size_t)n;
        buf[have] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        const char *cl = strstr(buf, "Content-Length:");
        if (!end || !cl)
            continue;
        size_t body_len = strtoul(cl + 15, NULL, 10), head = (size_t)(end + 4 - buf);
        if (have < head + body_len)
            continue;
        pthread_mutex_lock(&c->mu);
        free(c->last_body);
        c->last_body = strndup(end + 4, body_len);
        pthread_mutex_unlock(&c->mu);
        atomic_fetch_add(&c->requests, 1);
        if (c->status) {
            char reply[128];
            int len = snprintf(reply, sizeof(reply),
                               "HTTP/1.1 %d X\r\nContent-Length: 2\r\n"
                               "Content-Type: application/json\r\n\r\n{}",
                               c->status);
            if (write(fd, reply, (size_t)len) != len)
                return;
        }
        memmove(buf, buf + head + body_len, have - head - body_len);
        have -= head + body_len;
    }
}

static void *on_collector(void *arg)
{
    struct collector *c = arg;
    while (!atomic_load(&c->stop)) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(c->fd, NULL, NULL);
        if (fd < 0)
            continue;
        serve_conn(c, fd);
        close(fd);
    }
    return NULL;
}

static void collector_start(struct collector *c, int status)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    memset(c, 0, sizeof(*c));
    c->status = status;
    pthread_mutex_init(&c->mu, NULL);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    bind(c->fd, (struct sockaddr *)&a, sizeof(a));
    listen(c->fd, 16);
    getsockname(c->fd, (struct sockaddr *)&a, &len);
    c->port = ntohs(a.sin_port);
    pthread_create(&c->thread, NULL, on_collector, c);
}

static void collector_stop(struct collector *c)
{
    atomic_store(&c->stop, 1);
    pthread_join(c->thread, NULL);
    close(c->fd);
    free(c->last_body);
    pthread_mutex_destroy(&c->mu);
}

static struct spk_otlp_exporter *exporter_for(int port, int interval_ms, int timeout_ms,
                                              size_t queue_max)
{
    char url[64];
    struct spk_error err = {0};
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/metrics", port);
    struct spk_otlp_options o = {.endpoint = url,
                                 .interval_ms = interval_ms,
                                 .timeout_ms = timeout_ms,
                                 .service_name = "spoke",
                                 .service_instance_id = "test:1",
                                 .service_version = SPOKE_VERSION,
                                 .queue_max = queue_max,
                                 .backoff_min_ms = 20,
                                 .backoff_max_ms = 40};
    struct spk_otlp_exporter *x = spk_otlp_exporter_create(&o, &err);
    CHECK(x != NULL);
    return x;
}

static int wait_for(atomic_int *v, int at_least, int ms)
{
    int64_t deadline = spk_time_mono_us() + (int64_t)ms * 1000;
    while (atomic_load(v) < at_least && spk_time_mono_us() < deadline)
        usleep(10000);
    return atomic_load(v) >= at_least;
}

static void test_exporter_delivers_and_flushes(void)
{
    struct collector c;
    spk_metrics_reset();
    spk_metrics_version_pushed();
    collector_start(&c, 200);

    /* A long interval: only the final flush on destroy sends anything. */
    struct spk_otlp_exporter *x = exporter_for(c.port, 600000, 2000, 4);
    usleep(100000);
    CHECK_INT_EQ(atomic_load(&c.requests), 0);
    spk_otlp_exporter_destroy(x);
    CHECK_INT_EQ(atomic_load(&c.requests), 1);
    pthread_mutex_lock(&c.mu);
    json_t *root = c.last_body ? json_loads(c.last_body, 0, NULL) : NULL;
    pthread_mutex_unlock(&c.mu);
    json_t *metrics = json_object_get(
        json_array_get(json_object_get(json_array_get(json_object_get(root, "resourceMetrics"), 0),
                                       "scopeMetrics"),
                       0),
        "metrics");
    json_t *pushed = metric_named(metrics, "versions.pushed.total");
    CHECK_STR_EQ(
        json_string_value(json_object_get(
            json_array_get(json_object_get(json_object_get(pushed, "sum"), "dataPoints"), 0),
            "asInt")),
        "1");
    json_decref(root);

    /* A short interval: payloads keep coming on one connection. */
    x = exporter_for(c.port, 30, 2000, 4);
    CHECK(wait_for(&c.requests, 5, 10000)); /* the 4th arrives only after the 3rd was answered */
    CHECK(spk_otlp_exporter_sent(x) >= 3);
    spk_otlp_exporter_destroy(x);
    collector_stop(&c);
}

static void test_exporter_rejected_payloads_are_dropped(void)
{
    struct collector c;
    spk_metrics_reset();
    collector_start(&c, 400);
    struct spk_otlp_exporter *x = exporter_for(c.port, 30, 2000, 4);
    CHECK(wait_for(&c.requests, 3, 10000));
    CHECK_INT_EQ(spk_otlp_exporter_sent(x), 0);
    spk_otlp_exporter_destroy(x);
    collector_stop(&c);
    char *text = render();
    CHECK(!has_line(text, "spoke_otlp_exports_total{result=\"rejected\"} 0"));
    CHECK(has_line(text, "spoke_otlp_exports_total{result=\"error\"} 0")); /* never retried */
    free(text);
}

/* A collector that accepts connections and never answers: sends time out, the queue stays
 * bounded (oldest dropped), and shutdown is bounded by the timeout. */
static void test_exporter_hanging_collector(void)
{
    struct collector c;
    spk_metrics_reset();
    collector_start(&c, 0);
    struct spk_otlp_exporter *x = exporter_for(c.port, 20, 150, 2);
    int64_t deadline = spk_time_mono_us() + 10 * 1000000LL;
    while (spk_otlp_exporter_dropped(x) < 2 && spk_time_mono_us() < deadline)
        usleep(10000);
    CHECK(spk_otlp_exporter_dropped(x) >= 2);
    CHECK(spk_otlp_exporter_queued(x) <= 2);
    CHECK_INT_EQ(spk_otlp_exporter_sent(x), 0);
    int64_t t0 = spk_time_mono_us();
    spk_otlp_exporter_destroy(x);
    int64_t took_ms = (spk_time_mono_us() - t0) / 1000;
    CHECK(took_ms < 3000); /* abandon the send in flight (~1 s at worst) + flush (150 ms) */
    collector_stop(&c);
    char *text = render();
    CHECK(!has_line(text, "spoke_otlp_dropped_total 0"));
    CHECK(!has_line(text, "spoke_otlp_exports_total{result=\"error\"} 0"));
    free(text);
}

static void test_exporter_refuses_bad_endpoint(void)
{
    struct spk_error err = {0};
    struct spk_otlp_options o = {.endpoint = "ftp://x/v1/metrics", .interval_ms = 1000};
    CHECK(spk_otlp_exporter_create(&o, &err) == NULL);
    CHECK(strstr(err.msg, "SPOKE_OTEL_ENDPOINT") != NULL);
}

static const struct unit_test tests[] = {
    {"escape", test_escape},
    {"exposition_format", test_exposition_format},
    {"registry_exposition", test_registry_exposition},
    {"bucket_index", test_bucket_index},
    {"histogram_buckets", test_histogram_buckets},
    {"counter_concurrency", test_counter_concurrency},
    {"cardinality_collapse", test_cardinality_collapse},
    {"pool_gauges", test_pool_gauges},
    {"otlp_json_shape", test_otlp_json_shape},
    {"exporter_delivers_and_flushes", test_exporter_delivers_and_flushes},
    {"exporter_rejected_payloads_are_dropped", test_exporter_rejected_payloads_are_dropped},
    {"exporter_hanging_collector", test_exporter_hanging_collector},
    {"exporter_refuses_bad_endpoint", test_exporter_refuses_bad_endpoint},
};

UNIT_MAIN(tests)
