/* The metrics registry: fixed tables of relaxed atomic counters and fixed-bucket histograms, one
 * per known label combination, and snapshots of them for the exporters. Recording is a table
 * lookup plus one or two atomic adds: no locks, no allocation, safe before any setup.
 * Not here: text formats (prometheus.c, otlp_json.c) and pushing (otlp.c). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "spoke/alloc.h"
#include "spoke/evolve.h"
#include "spoke/http.h"
#include "spoke/metrics.h"
#include "spoke/time.h"
#include "spoke/banned.h"

#define NELEM(a)    (sizeof(a) / sizeof((a)[0]))
#define MAX_BUCKETS 16 /* bounds per histogram, at most */
#define MAX_RULES   96 /* breaking rules counted by name (include/spoke/evolve.h) */

/* ---- label tables: the last entry of each is the catch-all ------------------------------ */

static const char *const methods[] = {"GET",   "HEAD",   "POST",    "PUT",
                                      "PATCH", "DELETE", "OPTIONS", "other"};
/* Statuses this server and its HTTP layer produce, plus the common ones a proxy might see. */
static const char *const statuses[] = {
    "200", "201", "202", "204", "206", "301", "302", "304", "307", "308", "400", "401",
    "403", "404", "405", "406", "408", "409", "410", "411", "412", "413", "414", "415",
    "416", "422", "429", "431", "499", "500", "501", "502", "503", "504", "505", "other"};
static const char *const pools[] = {"primary", "replica", "other"};
static const char *const tiers[] = {"l1", "redis", "other"};
static const char *const storage_ops[] = {"head", "get", "put", "delete", "list", "other"};
static const char *const storage_results[] = {"ok", "not_found", "error", "other"};
static const char *const otlp_results[] = {"ok", "error", "rejected", "other"};

#define NMETHODS  NELEM(methods)
#define NSTATUSES NELEM(statuses)
#define NPOOLS    NELEM(pools)
#define NTIERS    NELEM(tiers)
#define NOPS      NELEM(storage_ops)
#define NRESULTS  NELEM(storage_results)
#define NOTLP     NELEM(otlp_results)
#define NROUTES   (SPK_METRICS_MAX_ROUTES + 1) /* [0] is "unmatched" */

/* Upper bounds in seconds. A request served from memory takes well under a millisecond; a push
 * with schema validation takes tens to hundreds. */
static const double http_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                     0.1,    0.25,  0.5,    1,     2.5,  5,     10};
static const double db_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                   0.025,  0.05,    0.1,    0.25,  0.5,    1,     5};
_Static_assert(NELEM(http_bounds) <= MAX_BUCKETS, "too many http buckets");
_Static_assert(NELEM(db_bounds) <= MAX_BUCKETS, "too many db buckets");

/* ---- storage ---------------------------------------------------------------------------- */

struct hist {
    atomic_uint_fast64_t buckets[MAX_BUCKETS + 1];
    atomic_uint_fast64_t sum_ns; /* integer nanoseconds: one atomic add, exact */
};

static struct {
    atomic_uint_fast64_t http_requests[NMETHODS][NROUTES][NSTATUSES];
    struct hist http_duration[NMETHODS][NROUTES];
    struct hist db_query[NPOOLS];
    atomic_uint_fast64_t cache_hits[NTIERS];
    atomic_uint_fast64_t cache_misses[NTIERS];
    atomic_uint_fast64_t storage[NOPS][NRESULTS];
    atomic_uint_fast64_t versions_pushed;
    atomic_uint_fast64_t
        pushes_refused[MAX_RULES + 1]; /* by spk_evolve_rules() index; last: other */
    atomic_uint_fast64_t otlp_exports[NOTLP];
    atomic_uint_fast64_t otlp_dropped;
} reg;

/* Registered route templates; [0] stays "unmatched". nroutes is published after the names. */
static const char *route_names[NROUTES] = {"unmatched"};
static atomic_size_t nroutes = 1;

static pthread_mutex_t watch_mu = PTHREAD_MUTEX_INITIALIZER;
static spk_metrics_pools_fn watch_fn;
static void *watch_arg;

static atomic_int_fast64_t start_unix_ns;

__attribute__((constructor)) static void on_load(void)
{
    atomic_store(&start_unix_ns, spk_time_now_us() * 1000);
}

/* ---- lookups ---------------------------------------------------------------------------- */

/* Index of v in table (n entries, the last being the catch-all). */
static size_t label_index(const char *const *table, size_t n, const char *v)
{
    if (v)
        for (size_t i = 0; i + 1 < n; i++)
            if (strcmp(table[i], v) == 0)
                return i;
    return n - 1;
}

static size_t status_index(int status)
{
    char s[8];
    if (status < 100 || status > 599)
        return NSTATUSES - 1;
    s[0] = (char)('0' + status / 100);
    s[1] = (char)('0' + status / 10 % 10);
    s[2] = (char)('0' + status % 10);
    s[3] = '\0';
    return label_index(statuses, NSTATUSES, s);
}

static size_t route_index(const char *route)
{
    size_t n = atomic_load_explicit(&nroutes, memory_order_acquire);
    if (!route)
        return 0;
    for (size_t i = 1; i < n; i++) /* the caller passes the table's own string: try pointers */
        if (route_names[i] == route)
            return i;
    for (size_t i = 1; i < n; i++)
        if (strcmp(route_names[i], route) == 0)
            return i;
    return 0;
}

size_t spk_metrics_bucket_index(const double *bounds, size_t nbounds, double v)
{
    size_t i = 0;
    while (i < nbounds && !(v <= bounds[i]))
        i++;
    return i;
}

static void inc(atomic_uint_fast64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static uint64_t load(atomic_uint_fast64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static void observe(struct hist *h, const double *bounds, size_t nbounds, double seconds)
{
    uint64_t ns = 0;
    if (seconds > 0)
        ns = seconds < 1e9 ? (uint64_t)(seconds * 1e9 + 0.5) : (uint64_t)1e18;
    inc(&h->buckets[spk_metrics_bucket_index(bounds, nbounds, seconds)]);
    atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
}

/* ---- recording -------------------------------------------------------------------------- */

void spk_metrics_http_request(const char *method, const char *route, int status, double seconds)
{
    size_t m = label_index(methods, NMETHODS, method), r = route_index(route);
    inc(&reg.http_requests[m][r][status_index(status)]);
    observe(&reg.http_duration[m][r], http_bounds, NELEM(http_bounds), seconds);
}

void spk_metrics_db_query(const char *pool, double seconds)
{
    observe(&reg.db_query[label_index(pools, NPOOLS, pool)], db_bounds, NELEM(db_bounds), seconds);
}

void spk_metrics_cache_hit(const char *tier)
{
    inc(&reg.cache_hits[label_index(tiers, NTIERS, tier)]);
}

void spk_metrics_cache_miss(const char *tier)
{
    inc(&reg.cache_misses[label_index(tiers, NTIERS, tier)]);
}

void spk_metrics_storage_op(const char *op, const char *result)
{
    inc(&reg.storage[label_index(storage_ops, NOPS, op)]
                    [label_index(storage_results, NRESULTS, result)]);
}

void spk_metrics_version_pushed(void)
{
    inc(&reg.versions_pushed);
}

void spk_metrics_push_refused(const char *rule)
{
    size_t n, i = MAX_RULES;
    const struct spk_evolve_rule *rules = spk_evolve_rules(&n);
    for (size_t k = 0; rule && k < n && k < MAX_RULES; k++)
        if (strcmp(rules[k].id, rule) == 0)
            i = k;
    inc(&reg.pushes_refused[i]);
}

void spk_metrics_otlp_export(const char *result)
{
    inc(&reg.otlp_exports[label_index(otlp_results, NOTLP, result)]);
}

void spk_metrics_otlp_dropped(void)
{
    inc(&reg.otlp_dropped);
}

/* ---- setup ------------------------------------------------------------------------------ */

void spk_metrics_http_routes_set(const struct spk_http_route *routes, size_t n)
{
    size_t k = 1;
    atomic_store_explicit(&nroutes, 1, memory_order_release);
    for (size_t i = 0; i < n && k < NROUTES; i++) {
        size_t j = 1;
        while (j < k && strcmp(route_names[j], routes[i].pattern) != 0)
            j++;
        if (j == k)
            route_names[k++] = routes[i].pattern;
    }
    atomic_store_explicit(&nroutes, k, memory_order_release);
}

void spk_metrics_db_pools_watch(spk_metrics_pools_fn fn, void *arg)
{
    pthread_mutex_lock(&watch_mu);
    watch_fn = fn;
    watch_arg = arg;
    pthread_mutex_unlock(&watch_mu);
}

void spk_metrics_reset(void)
{
    atomic_store(&nroutes, 1);
    spk_metrics_db_pools_watch(NULL, NULL);
    /* Not atomic as a whole: tests call it while nothing records. */
    memset(&reg, 0, sizeof(reg));
}

/* ---- snapshots -------------------------------------------------------------------------- */

static const char *const http_req_labels[] = {"method", "route", "status"};
static const char *const http_dur_labels[] = {"method", "route"};
static const char *const pool_labels[] = {"pool"};
static const char *const tier_labels[] = {"tier"};
static const char *const storage_labels[] = {"op", "result"};
static const char *const version_labels[] = {"version"};
static const char *const result_labels[] = {"result"};
static const char *const rule_labels[] = {"rule"};

enum family_id {
    F_HTTP_REQUESTS,
    F_HTTP_DURATION,
    F_DB_CONNECTIONS,
    F_DB_QUERY,
    F_CACHE_HITS,
    F_CACHE_MISSES,
    F_STORAGE,
    F_VERSIONS_PUSHED,
    F_PUSHES_REFUSED,
    F_BUILD_INFO,
    F_OTLP_EXPORTS,
    F_OTLP_DROPPED,
    NFAMILIES
};

#define LABELS(a) a, NELEM(a)
#define BOUNDS(a) a, NELEM(a)

/* The exported names. OTLP names are chosen so that an OpenTelemetry Collector's Prometheus
 * exporter with namespace "spoke" yields the Prometheus names (see docs/observability.md). */
static const struct spk_metric_family descs[NFAMILIES] = {
    [F_HTTP_REQUESTS] = {"spoke_http_server_requests_total", "http.server.requests",
                         "HTTP requests served by the API listener.", "{request}",
                         SPK_METRIC_COUNTER, LABELS(http_req_labels), NULL, 0, NULL, 0},
    [F_HTTP_DURATION] = {"spoke_http_server_duration_seconds", "http.server.duration",
                         "Time from request headers to the end of the reply.", "s",
                         SPK_METRIC_HISTOGRAM, LABELS(http_dur_labels), BOUNDS(http_bounds), NULL,
                         0},
    [F_DB_CONNECTIONS] = {"spoke_db_connections_active", "db.connections.active",
                          "Postgres connections checked out of the pool (replica pools summed).",
                          "{connection}", SPK_METRIC_GAUGE, LABELS(pool_labels), NULL, 0, NULL, 0},
    [F_DB_QUERY] = {"spoke_db_query_duration_seconds", "db.query.duration",
                    "Duration of one Postgres statement on a pool connection.", "s",
                    SPK_METRIC_HISTOGRAM, LABELS(pool_labels), BOUNDS(db_bounds), NULL, 0},
    [F_CACHE_HITS] = {"spoke_cache_hits_total", "cache.hits.total",
                      "Lookups answered by a cache tier.", "{lookup}", SPK_METRIC_COUNTER,
                      LABELS(tier_labels), NULL, 0, NULL, 0},
    [F_CACHE_MISSES] = {"spoke_cache_misses_total", "cache.misses.total",
                        "Lookups a cache tier could not answer.", "{lookup}", SPK_METRIC_COUNTER,
                        LABELS(tier_labels), NULL, 0, NULL, 0},
    [F_STORAGE] = {"spoke_storage_operations_total", "storage.operations.total",
                   "Blob store operations by outcome.", "{operation}", SPK_METRIC_COUNTER,
                   LABELS(storage_labels), NULL, 0, NULL, 0},
    [F_VERSIONS_PUSHED] = {"spoke_versions_pushed_total", "versions.pushed.total",
                           "Versions created (201) by this instance.", "{version}",
                           SPK_METRIC_COUNTER, NULL, 0, NULL, 0, NULL, 0},
    [F_PUSHES_REFUSED] = {"spoke_pushes_refused_total", "pushes.refused.total",
                          "Breaking changes that made this instance refuse a push (409), by the "
                          "rule they broke; a push breaking several rules counts once per "
                          "violation.",
                          "{violation}", SPK_METRIC_COUNTER, LABELS(rule_labels), NULL, 0, NULL, 0},
    [F_BUILD_INFO] = {"spoke_build_info", "build.info",
                      "Always 1; the version label is the running build.", "", SPK_METRIC_GAUGE,
                      LABELS(version_labels), NULL, 0, NULL, 0},
    [F_OTLP_EXPORTS] = {"spoke_otlp_exports_total", NULL,
                        "OTLP export attempts by outcome (rejected: the collector refused the "
                        "payload).",
                        "", SPK_METRIC_COUNTER, LABELS(result_labels), NULL, 0, NULL, 0},
    [F_OTLP_DROPPED] = {"spoke_otlp_dropped_total", NULL,
                        "OTLP payloads dropped because the export queue was full.", "",
                        SPK_METRIC_COUNTER, NULL, 0, NULL, 0, NULL, 0},
};

static struct spk_metric_point *add_point(struct spk_metric_family *f, size_t cap)
{
    if (!f->points)
        f->points = spk_calloc(cap, sizeof(*f->points));
    return &f->points[f->npoints++];
}

static void counter_point(struct spk_metric_family *f, size_t cap, uint64_t v, const char *l0,
                          const char *l1, const char *l2)
{
    struct spk_metric_point *p = add_point(f, cap);
    p->count = v;
    p->labels[0] = l0;
    p->labels[1] = l1;
    p->labels[2] = l2;
}

static void hist_point(struct spk_metric_family *f, size_t cap, struct hist *h, const char *l0,
                       const char *l1)
{
    uint64_t b[MAX_BUCKETS + 1], count = 0;
    for (size_t i = 0; i <= f->nbounds; i++)
        count += b[i] = load(&h->buckets[i]);
    if (count == 0)
        return;
    struct spk_metric_point *p = add_point(f, cap);
    p->labels[0] = l0;
    p->labels[1] = l1;
    p->count = count;
    p->sum = (double)load(&h->sum_ns) / 1e9;
    p->buckets = spk_malloc((f->nbounds + 1) * sizeof(*p->buckets));
    memcpy(p->buckets, b, (f->nbounds + 1) * sizeof(*p->buckets));
}

/* Series with known label sets are always present (zeros included), so rate() works from the
 * first scrape; the catch-all "other" and the HTTP tables appear once something is counted. */
static void fill(struct spk_metric_family *fams)
{
    size_t nr = atomic_load_explicit(&nroutes, memory_order_acquire);
    struct spk_metric_family *f;

    f = &fams[F_HTTP_REQUESTS];
    for (size_t r = 0; r < nr; r++)
        for (size_t m = 0; m < NMETHODS; m++)
            for (size_t s = 0; s < NSTATUSES; s++) {
                uint64_t v = load(&reg.http_requests[m][r][s]);
                if (v)
                    counter_point(f, NROUTES * NMETHODS * NSTATUSES, v, methods[m], route_names[r],
                                  statuses[s]);
            }
    f = &fams[F_HTTP_DURATION];
    for (size_t r = 0; r < nr; r++)
        for (size_t m = 0; m < NMETHODS; m++)
            hist_point(f, NROUTES * NMETHODS, &reg.http_duration[m][r], methods[m], route_names[r]);

    f = &fams[F_DB_CONNECTIONS];
    int primary = 0, replicas = 0, watched = 0;
    pthread_mutex_lock(&watch_mu); /* held while fn runs, so unwatching waits for it */
    if (watch_fn) {
        watch_fn(watch_arg, &primary, &replicas);
        watched = 1;
    }
    pthread_mutex_unlock(&watch_mu);
    if (watched) {
        add_point(f, 2)->gauge = primary;
        f->points[0].labels[0] = "primary";
        add_point(f, 2)->gauge = replicas;
        f->points[1].labels[0] = "replica";
    }

    f = &fams[F_DB_QUERY];
    for (size_t i = 0; i < NPOOLS; i++)
        hist_point(f, NPOOLS, &reg.db_query[i], pools[i], NULL);

    for (size_t i = 0; i < NTIERS; i++) {
        uint64_t h = load(&reg.cache_hits[i]), m = load(&reg.cache_misses[i]);
        int known = i + 1 < NTIERS;
        if (known || h)
            counter_point(&fams[F_CACHE_HITS], NTIERS, h, tiers[i], NULL, NULL);
        if (known || m)
            counter_point(&fams[F_CACHE_MISSES], NTIERS, m, tiers[i], NULL, NULL);
    }

    f = &fams[F_STORAGE];
    for (size_t o = 0; o < NOPS; o++)
        for (size_t r = 0; r < NRESULTS; r++) {
            uint64_t v = load(&reg.storage[o][r]);
            if (v || (o + 1 < NOPS && r + 1 < NRESULTS))
                counter_point(f, NOPS * NRESULTS, v, storage_ops[o], storage_results[r], NULL);
        }

    counter_point(&fams[F_VERSIONS_PUSHED], 1, load(&reg.versions_pushed), NULL, NULL, NULL);

    size_t nrules;
    const struct spk_evolve_rule *rules = spk_evolve_rules(&nrules);
    for (size_t i = 0; i <= MAX_RULES; i++) {
        uint64_t v = load(&reg.pushes_refused[i]);
        if (v || i < nrules)
            counter_point(&fams[F_PUSHES_REFUSED], MAX_RULES + 1, v,
                          i < nrules && i < MAX_RULES ? rules[i].id : "other", NULL, NULL);
    }

    f = &fams[F_BUILD_INFO];
    add_point(f, 1)->gauge = 1;
    f->points[0].labels[0] = SPOKE_VERSION;

    for (size_t i = 0; i < NOTLP; i++) {
        uint64_t v = load(&reg.otlp_exports[i]);
        if (v || i + 1 < NOTLP)
            counter_point(&fams[F_OTLP_EXPORTS], NOTLP, v, otlp_results[i], NULL, NULL);
    }
    counter_point(&fams[F_OTLP_DROPPED], 1, load(&reg.otlp_dropped), NULL, NULL, NULL);
}

struct spk_metrics_snapshot *spk_metrics_snapshot_take(void)
{
    struct spk_metrics_snapshot *s = spk_calloc(1, sizeof(*s));
    s->start_unix_ns = atomic_load(&start_unix_ns);
    s->time_unix_ns = spk_time_now_us() * 1000;
    s->nfamilies = NFAMILIES;
    s->families = spk_calloc(NFAMILIES, sizeof(*s->families));
    memcpy(s->families, descs, sizeof(descs));
    fill(s->families);
    return s;
}

void spk_metrics_snapshot_destroy(struct spk_metrics_snapshot *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nfamilies; i++) {
        for (size_t j = 0; j < s->families[i].npoints; j++)
            free(s->families[i].points[j].buckets);
        free(s->families[i].points);
    }
    free(s->families);
    free(s);
}
