/* The metrics registry. This first version records nothing; the exporters arrive with it. */
#include "spoke/metrics.h"
#include "spoke/banned.h"

void spk_metrics_http_request(const char *method, const char *route, int status, double seconds)
{
    (void)method, (void)route, (void)status, (void)seconds;
}

void spk_metrics_db_query(const char *pool, double seconds)
{
    (void)pool, (void)seconds;
}

void spk_metrics_cache_hit(const char *tier)
{
    (void)tier;
}

void spk_metrics_cache_miss(const char *tier)
{
    (void)tier;
}

void spk_metrics_storage_op(const char *op, const char *result)
{
    (void)op, (void)result;
}

void spk_metrics_version_pushed(void)
{
}
