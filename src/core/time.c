/* Clocks and RFC 3339 formatting. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
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
    /* Every log line stamps the time: the date part is formatted once per second per thread
     * (gmtime_r takes a process-wide lock). */
    static _Thread_local int64_t cached_secs = INT64_MIN;
    static _Thread_local char base[24];
    if (secs != cached_secs) {
        time_t t = (time_t)secs;
        struct tm tm;
        gmtime_r(&t, &tm);
        /* strftime bounds every field; only the fraction is ours. */
        if (strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) != 19)
            base[0] = '\0';
        cached_secs = secs;
    }
    if (!base[0]) {
        snprintf(out, SPK_RFC3339_LEN + 1, ".%06uZ", (unsigned)frac % 1000000u);
        return;
    }
    memcpy(out, base, 19);
    out[19] = '.';
    for (int i = 25; i >= 20; i--, frac /= 10)
        out[i] = (char)('0' + frac % 10);
    out[26] = 'Z';
    out[27] = '\0';
}
