/* The OTLP/HTTP exporter: a background thread that snapshots the registry every interval, keeps
 * the JSON payloads in a bounded queue and POSTs them with libcurl, oldest first, backing off
 * exponentially while the collector fails. Requests never wait for any of it.
 * Not here: the JSON encoding (otlp_json.c) and what is measured (registry.c). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "spoke/alloc.h"
#include "spoke/error.h"
#include "spoke/log.h"
#include "spoke/metrics.h"
#include "spoke/otlp.h"
#include "spoke/time.h"
#include "spoke/banned.h"

#define DEFAULT_QUEUE       16
#define DEFAULT_BACKOFF_MIN 500
#define DEFAULT_BACKOFF_MAX 30000

enum outcome { SENT, RETRY, REJECTED };

struct spk_otlp_exporter {
    char *endpoint;
    char *service_name, *instance_id, *version;
    int interval_ms, timeout_ms, backoff_min_ms, backoff_max_ms;

    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* signalled on stop */
    int stopping;        /* under mu */
    atomic_int abandon;  /* makes a send in flight give up (curl's progress callback) */

    /* A ring of payloads. Only the thread adds and removes; mu is for the readers. */
    char **queue;
    size_t queue_max, head, len;
    atomic_ulong dropped, sent;

    CURL *curl;
    struct curl_slist *headers;
    char curl_error[CURL_ERROR_SIZE];
    int failing; /* logged once per outage, not per attempt */
    unsigned rng;
};

/* ---- the queue -------------------------------------------------------------------------- */

static void queue_push(struct spk_otlp_exporter *x, char *payload)
{
    char *dropped = NULL;
    pthread_mutex_lock(&x->mu);
    if (x->len == x->queue_max) {
        dropped = x->queue[x->head];
        x->head = (x->head + 1) % x->queue_max;
        x->len--;
    }
    x->queue[(x->head + x->len) % x->queue_max] = payload;
    x->len++;
    pthread_mutex_unlock(&x->mu);
    if (dropped) {
        free(dropped);
        atomic_fetch_add(&x->dropped, 1);
        spk_metrics_otlp_dropped();
    }
}

static char *queue_peek(struct spk_otlp_exporter *x)
{
    pthread_mutex_lock(&x->mu);
    char *p = x->len ? x->queue[x->head] : NULL;
    pthread_mutex_unlock(&x->mu);
    return p;
}

static void queue_pop(struct spk_otlp_exporter *x)
{
    pthread_mutex_lock(&x->mu);
    char *p = x->queue[x->head];
    x->head = (x->head + 1) % x->queue_max;
    x->len--;
    pthread_mutex_unlock(&x->mu);
    free(p);
}

static void collect(struct spk_otlp_exporter *x)
{
    struct spk_metrics_snapshot *s = spk_metrics_snapshot_take();
    struct spk_otlp_resource res = {x->service_name, x->instance_id, x->version};
    queue_push(x, spk_metrics_otlp_json(s, &res));
    spk_metrics_snapshot_destroy(s);
}

/* ---- sending ---------------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    (void)data, (void)arg;
    return size * n; /* the response (an ExportMetricsServiceResponse) is not needed */
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    struct spk_otlp_exporter *x = arg;
    (void)a, (void)b, (void)c, (void)d;
    return atomic_load(&x->abandon) ? 1 : 0;
}

static int curl_setup(struct spk_otlp_exporter *x)
{
    CURL *c = x->curl = curl_easy_init();
    if (!c)
        return -1;
    x->headers = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, x->endpoint);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "spoke/" SPOKE_VERSION);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->curl_error);
    return 0;
}

static void log_failure(struct spk_otlp_exporter *x, const char *detail, long status, int retry_ms)
{
    if (x->failing)
        return;
    x->failing = 1;
    json_t *f = json_pack("{s:s}", "detail", detail);
    if (status)
        json_object_set_new(f, "status", json_integer(status));
    if (retry_ms)
        json_object_set_new(f, "retry_in_ms", json_integer(retry_ms));
    spk_log_json(SPK_LOG_WARN, NULL, "otlp export failing", f);
}

/* POSTs one payload within timeout_ms. */
static enum outcome send_payload(struct spk_otlp_exporter *x, const char *payload, int timeout_ms,
                                 long *status, const char **detail)
{
    long code = 0;
    x->curl_error[0] = '\0';
    curl_easy_setopt(x->curl, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(x->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(payload));
    curl_easy_setopt(x->curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(x->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    CURLcode rc = curl_easy_perform(x->curl);
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
    *status = code;
    if (rc != CURLE_OK) {
        *detail = x->curl_error[0] ? x->curl_error : curl_easy_strerror(rc);
        return RETRY;
    }
    *detail = "collector answered with an error";
    if (code >= 200 && code < 300)
        return SENT;
    if (code == 408 || code == 429 || code >= 500)
        return RETRY;
    return REJECTED;
}

/* Sends the oldest payload. Returns the retry delay in ms after a failure, 0 otherwise. */
static int send_oldest(struct spk_otlp_exporter *x, int timeout_ms, int *backoff_ms)
{
    long status = 0;
    const char *detail = NULL;
    enum outcome o = send_payload(x, queue_peek(x), timeout_ms, &status, &detail);

    if (o == SENT) {
        queue_pop(x);
        atomic_fetch_add(&x->sent, 1);
        spk_metrics_otlp_export("ok");
        if (x->failing)
            spk_log_json(SPK_LOG_INFO, NULL, "otlp export recovered", NULL);
        x->failing = 0;
        *backoff_ms = 0;
        return 0;
    }
    if (o == REJECTED) { /* the same payload would be refused again */
        queue_pop(x);
        spk_metrics_otlp_export("rejected");
        spk_log_json(SPK_LOG_WARN, NULL, "otlp payload rejected",
                     json_pack("{s:i}", "status", (int)status));
        return 0;
    }
    if (atomic_load(&x->abandon)) /* cut short by shutdown, not the collector's fault */
        return x->backoff_min_ms;
    spk_metrics_otlp_export("error");
    *backoff_ms = *backoff_ms ? *backoff_ms * 2 : x->backoff_min_ms;
    if (*backoff_ms > x->backoff_max_ms)
        *backoff_ms = x->backoff_max_ms;
    int delay = *backoff_ms + (int)(rand_r(&x->rng) % (unsigned)(*backoff_ms / 4 + 1));
    log_failure(x, detail, status, delay);
    return delay;
}

/* ---- the thread ------------------------------------------------------------------------- */

static void timespec_at(int64_t mono_us, struct timespec *ts)
{
    ts->tv_sec = (time_t)(mono_us / 1000000);
    ts->tv_nsec = (long)(mono_us % 1000000) * 1000;
}

/* The last snapshot, and the queue flushed until it is empty, a send fails or time is up. */
static void final_flush(struct spk_otlp_exporter *x)
{
    int64_t deadline = spk_time_mono_us() + (int64_t)x->timeout_ms * 1000;
    int backoff = 0;

    atomic_store(&x->abandon, 0);
    collect(x);
    while (queue_peek(x)) {
        int64_t left_ms = (deadline - spk_time_mono_us()) / 1000;
        if (left_ms <= 0 || send_oldest(x, (int)left_ms, &backoff) > 0)
            break;
    }
}

static void *on_thread(void *arg)
{
    struct spk_otlp_exporter *x = arg;
    int64_t interval_us = (int64_t)x->interval_ms * 1000;
    int64_t next_collect = spk_time_mono_us() + interval_us, retry_at = 0;
    int backoff = 0;

    pthread_mutex_lock(&x->mu);
    while (!x->stopping) {
        int64_t now = spk_time_mono_us();
        if (now >= next_collect) {
            pthread_mutex_unlock(&x->mu);
            collect(x);
            pthread_mutex_lock(&x->mu);
            next_collect += interval_us;
            if (next_collect <= now) /* fell behind (a long send): skip, do not burst */
                next_collect = now + interval_us;
            continue;
        }
        if (x->len && now >= retry_at) {
            pthread_mutex_unlock(&x->mu);
            int delay = send_oldest(x, x->timeout_ms, &backoff);
            retry_at = spk_time_mono_us() + (int64_t)delay * 1000;
            pthread_mutex_lock(&x->mu);
            continue;
        }
        int64_t until = next_collect;
        if (x->len && retry_at < until)
            until = retry_at;
        struct timespec ts;
        timespec_at(until, &ts);
        pthread_cond_timedwait(&x->wake, &x->mu, &ts);
    }
    pthread_mutex_unlock(&x->mu);
    final_flush(x);
    return NULL;
}

/* ---- lifecycle -------------------------------------------------------------------------- */

static void exporter_free(struct spk_otlp_exporter *x)
{
    while (x->len) {
        free(x->queue[x->head]);
        x->head = (x->head + 1) % x->queue_max;
        x->len--;
    }
    if (x->curl)
        curl_easy_cleanup(x->curl);
    curl_slist_free_all(x->headers);
    pthread_cond_destroy(&x->wake);
    pthread_mutex_destroy(&x->mu);
    free(x->queue);
    free(x->endpoint);
    free(x->service_name);
    free(x->instance_id);
    free(x->version);
    free(x);
    curl_global_cleanup();
}

struct spk_otlp_exporter *spk_otlp_exporter_create(const struct spk_otlp_options *o,
                                                   struct spk_error *err)
{
    if (!o->endpoint || (strncasecmp(o->endpoint, "http://", 7) != 0 &&
                         strncasecmp(o->endpoint, "https://", 8) != 0)) {
        spk_error_set(err, SPK_E_INVALID, "SPOKE_OTEL_ENDPOINT must be an http:// or https:// URL");
        return NULL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        spk_error_set(err, SPK_E_INTERNAL, "libcurl could not be initialised");
        return NULL;
    }
    struct spk_otlp_exporter *x = spk_calloc(1, sizeof(*x));
    x->endpoint = spk_strdup(o->endpoint);
    x->service_name = spk_strdup(o->service_name ? o->service_name : "spoke");
    x->instance_id = o->service_instance_id ? spk_strdup(o->service_instance_id) : NULL;
    x->version = o->service_version ? spk_strdup(o->service_version) : NULL;
    x->interval_ms = o->interval_ms > 0 ? o->interval_ms : 10000;
    x->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 5000;
    x->backoff_min_ms = o->backoff_min_ms > 0 ? o->backoff_min_ms : DEFAULT_BACKOFF_MIN;
    x->backoff_max_ms = o->backoff_max_ms > 0 ? o->backoff_max_ms : DEFAULT_BACKOFF_MAX;
    if (x->backoff_max_ms < x->backoff_min_ms)
        x->backoff_max_ms = x->backoff_min_ms;
    x->queue_max = o->queue_max ? o->queue_max : DEFAULT_QUEUE;
    x->queue = spk_calloc(x->queue_max, sizeof(*x->queue));
    x->rng = (unsigned)spk_time_now_us();
    atomic_init(&x->abandon, 0);
    atomic_init(&x->dropped, 0);
    atomic_init(&x->sent, 0);
    pthread_mutex_init(&x->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&x->wake, &ca);
    pthread_condattr_destroy(&ca);

    if (curl_setup(x) != 0) {
        spk_error_set(err, SPK_E_INTERNAL, "libcurl could not create a handle");
        exporter_free(x);
        return NULL;
    }
    int rc = pthread_create(&x->thread, NULL, on_thread, x);
    if (rc != 0) {
        spk_error_set(err, SPK_E_INTERNAL, "cannot start the OTLP exporter thread: %s",
                      strerror(rc));
        exporter_free(x);
        return NULL;
    }
    x->started = 1;
    return x;
}

void spk_otlp_exporter_destroy(struct spk_otlp_exporter *x)
{
    if (!x)
        return;
    if (x->started) {
        pthread_mutex_lock(&x->mu);
        x->stopping = 1;
        atomic_store(&x->abandon, 1);
        pthread_cond_signal(&x->wake);
        pthread_mutex_unlock(&x->mu);
        pthread_join(x->thread, NULL);
    }
    exporter_free(x);
}

size_t spk_otlp_exporter_queued(struct spk_otlp_exporter *x)
{
    pthread_mutex_lock(&x->mu);
    size_t n = x->len;
    pthread_mutex_unlock(&x->mu);
    return n;
}

unsigned long spk_otlp_exporter_dropped(struct spk_otlp_exporter *x)
{
    return atomic_load(&x->dropped);
}

unsigned long spk_otlp_exporter_sent(struct spk_otlp_exporter *x)
{
    return atomic_load(&x->sent);
}
