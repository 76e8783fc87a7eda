/* Periodic OTLP/HTTP JSON export of the metrics registry to an OpenTelemetry Collector.
 *
 * One background thread takes a snapshot every interval, queues its encoding and POSTs the queue
 * oldest first. Nothing here is ever on a request's path: an unreachable or slow collector costs
 * requests nothing. Sends are bounded by the timeout; failures back off exponentially (capped);
 * the queue is bounded (the oldest payload is dropped and counted in spoke_otlp_dropped_total;
 * payloads are cumulative, so the newest one carries everything). A collector's 4xx other than
 * 408/429 means the payload is wrong: it is dropped, not retried. */
#ifndef SPOKE_OTLP_H
#define SPOKE_OTLP_H

#include <stddef.h>

struct spk_error;
struct spk_otlp_exporter;

struct spk_otlp_options {
    const char *endpoint;            /* http(s)://host:port/v1/metrics (copied) */
    int interval_ms;                 /* between snapshots */
    int timeout_ms;                  /* one send; also bounds the final flush */
    const char *service_name;        /* resource attributes (copied) */
    const char *service_instance_id; /* e.g. "host:port" */
    const char *service_version;
    size_t queue_max;   /* payloads kept while the collector is unreachable; 0 = 16 */
    int backoff_min_ms; /* first retry delay; 0 = 500 */
    int backoff_max_ms; /* cap of the doubling; 0 = 30000 */
};

/* Starts the exporter thread. Free with spk_otlp_exporter_destroy. */
struct spk_otlp_exporter *spk_otlp_exporter_create(const struct spk_otlp_options *opts,
                                                   struct spk_error *err);
/* Stops the thread: an export in flight is abandoned, then one last snapshot is queued and the
 * queue is flushed for at most timeout_ms. NULL-safe. */
void spk_otlp_exporter_destroy(struct spk_otlp_exporter *x);

/* Payloads waiting in the queue now, and dropped so far (for tests and logs). */
size_t spk_otlp_exporter_queued(struct spk_otlp_exporter *x);
unsigned long spk_otlp_exporter_dropped(struct spk_otlp_exporter *x);
/* Successful sends so far. */
unsigned long spk_otlp_exporter_sent(struct spk_otlp_exporter *x);

#endif
