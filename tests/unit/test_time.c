/* RFC 3339 formatting, including the per-thread reuse of the date part within one second. */
#include "spoke/time.h"
#include "unit.h"
#include "spoke/banned.h"

static void check_fmt(int64_t us, const char *want)
{
    char out[SPK_RFC3339_LEN + 1];
    spk_time_rfc3339(us, out);
    CHECK_STR_EQ(out, want);
}

static void test_rfc3339(void)
{
    check_fmt(0, "1970-01-01T00:00:00.000000Z");
    check_fmt(1700000000123456, "2023-11-14T22:13:20.123456Z");
    check_fmt(1700000000000007, "2023-11-14T22:13:20.000007Z"); /* same second, cached date */
    check_fmt(1700000001999999, "2023-11-14T22:13:21.999999Z"); /* next second */
    check_fmt(-1, "1969-12-31T23:59:59.999999Z");
    check_fmt(951782400000000, "2000-02-29T00:00:00.000000Z");
}

static void test_clocks(void)
{
    int64_t a = spk_time_mono_us(), b = spk_time_mono_us();
    CHECK(b >= a);
    CHECK(spk_time_now_us() > 1600000000000000LL);
}

static const struct unit_test tests[] = {
    {"rfc3339", test_rfc3339},
    {"clocks", test_clocks},
};
UNIT_MAIN(tests)
