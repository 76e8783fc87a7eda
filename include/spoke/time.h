/* Wall-clock and monotonic time, and RFC 3339 formatting (UTC, microseconds). */
#ifndef SPOKE_TIME_H
#define SPOKE_TIME_H

#include <stdint.h>

#define SPK_RFC3339_LEN 27 /* "2026-01-02T03:04:05.123456Z" */

int64_t spk_time_now_us(void);  /* Unix microseconds */
int64_t spk_time_mono_us(void); /* CLOCK_MONOTONIC microseconds */
void spk_time_rfc3339(int64_t unix_us, char out[SPK_RFC3339_LEN + 1]);

#endif
