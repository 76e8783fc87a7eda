/* A minimal unit-test harness: CHECK macros that count failures, and a table of tests.
 * Each test file defines `static const struct unit_test tests[]` and calls UNIT_MAIN(tests).
 * Output ends with "N passed, M failed"; the exit status is non-zero on any failure. */
#ifndef SPOKE_TESTS_UNIT_H
#define SPOKE_TESTS_UNIT_H

#include <stdio.h>
#include <string.h>

struct unit_test {
    const char *name;
    void (*fn)(void);
};

static int unit_failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            unit_failures++;                                                                       \
        }                                                                                          \
    } while (0)

#define CHECK_INT_EQ(a, b)                                                                         \
    do {                                                                                           \
        long long ua_ = (long long)(a), ub_ = (long long)(b);                                      \
        if (ua_ != ub_) {                                                                          \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b,  \
                    ua_, ub_);                                                                     \
            unit_failures++;                                                                       \
        }                                                                                          \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                                         \
    do {                                                                                           \
        const char *sa_ = (a), *sb_ = (b);                                                         \
        if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) {                                               \
            fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__, #a,  \
                    #b, sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");                               \
            unit_failures++;                                                                       \
        }                                                                                          \
    } while (0)

static inline int unit_run(const struct unit_test *tests, size_t n)
{
    int passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        int before = unit_failures;
        tests[i].fn();
        if (unit_failures == before) {
            passed++;
        } else {
            failed++;
            fprintf(stderr, "FAIL %s\n", tests[i].name);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#define UNIT_MAIN(tests)                                                                           \
    int main(void)                                                                                 \
    {                                                                                              \
        return unit_run(tests, sizeof(tests) / sizeof(tests[0]));                                  \
    }

#endif
