/* Replies straight from the read-through cache (include/spoke/cache.h): cached values are sent
 * without copying, and the tier that served a request goes into its access-log line. */
#include "api_internal.h"
#include "spoke/cache.h"
#include "spoke/banned.h"

void api_reply_cached(struct spk_http_ctx *ctx, struct spk_cache_value *v)
{
    void (*release)(void *);
    void *arg;
    const char *body = v->body;
    size_t len = v->len;
    spk_cache_value_give(v, &release, &arg);
    spk_http_reply_borrowed(ctx, 200, "application/json; charset=utf-8", body, len, release, arg);
}

void api_log_cache(struct spk_http_ctx *ctx, enum spk_cache_tier tier)
{
    spk_http_log_static(ctx, "cache", spk_cache_tier_name(tier));
}
