/* Clocks and RFC 3339 formatting. */
#include <stdio.h>
#include <time.h>

#include "spoke/time.h"
#include "spoke/banned.h"

static int64_t clock_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t spk_time_now_us(void)
{
    return clock_us(CLOCK_REALTIME);
}

int64_t spk_time_mono_us(void)
{
    return clock_us(CLOCK_MONOTONIC);
}

void spk_time_rfc3339(int64_t unix_us, char out[SPK_RFC3339_LEN + 1])
{
    int64_t secs = unix_us / 1000000, frac = unix_us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    /* strftime bounds every field; only the fraction is ours. */
    char base[24];
    if (strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) != 19)
        base[0] = '\0';
    snprintf(out, SPK_RFC3339_LEN + 1, "%.19s.%06uZ", base, (unsigned)frac % 1000000u);
}
