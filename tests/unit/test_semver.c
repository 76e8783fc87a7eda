/* SemVer parsing, precedence (the ordering example of SemVer 2.0 §11) and the SQL sort key. */
#include <string.h>

#include "spoke/error.h"
#include "spoke/semver.h"
#include "unit.h"

static void test_parse_valid(void)
{
    static const char *const ok[] = {"0.0.0",
                                     "1.2.3",
                                     "v1.2.3",
                                     "10.20.30",
                                     "1.1.2-prerelease+meta",
                                     "1.0.0-alpha",
                                     "1.0.0-alpha.beta",
                                     "1.0.0-alpha.1",
                                     "1.0.0-0.3.7",
                                     "1.0.0-x.7.z.92",
                                     "1.0.0+20130313144700",
                                     "1.0.0-beta+exp.sha.5114f85",
                                     "1.0.0+21AF26D3----117B344092BD",
                                     "1.0.0--",
                                     "1.0.0-a-b.-c",
                                     "9223372036854775807.0.0",
                                     "1.0.0+001"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct spk_semver v;
        struct spk_error err = {0};
        int rc = spk_semver_parse(ok[i], &v, &err);
        if (rc != 0)
            fprintf(stderr, "rejected %s: %s\n", ok[i], err.msg);
        CHECK_INT_EQ(rc, 0);
    }
}

static void test_parse_invalid(void)
{
    static const char *const bad[] = {
        "",
        "1",
        "1.2",
        "1.2.3.4",
        "01.2.3",
        "1.02.3",
        "1.2.03",
        "1.2.3-",
        "1.2.3+",
        "1.2.3-01",
        "1.2.3-alpha..1",
        "1.2.3-alpha.",
        "1.2.3+meta..x",
        "V1.2.3",
        "vv1.2.3",
        " 1.2.3",
        "1.2.3 ",
        "1.2.3-é",
        "-1.2.3",
        "1.2.-3",
        "9223372036854775808.0.0",
        "1.2.3-a_b",
        "latest",
        "1.2.3/x",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct spk_semver v;
        struct spk_error err = {0};
        int rc = spk_semver_parse(bad[i], &v, &err);
        if (rc == 0)
            fprintf(stderr, "accepted %s\n", bad[i]);
        CHECK_INT_EQ(rc, -1);
        CHECK_INT_EQ(err.code, SPK_E_INVALID);
    }
    char longv[200];
    memset(longv, 'a', sizeof(longv));
    memcpy(longv, "1.0.0-", 6);
    longv[sizeof(longv) - 1] = '\0';
    struct spk_semver v;
    CHECK_INT_EQ(spk_semver_parse(longv, &v, NULL), -1);
}

static void test_parts_and_canonical(void)
{
    struct spk_semver v;
    CHECK_INT_EQ(spk_semver_parse("v1.22.333-rc.1+build.7", &v, NULL), 0);
    CHECK_INT_EQ(v.major, 1);
    CHECK_INT_EQ(v.minor, 22);
    CHECK_INT_EQ(v.patch, 333);
    CHECK_STR_EQ(v.canonical, "1.22.333-rc.1+build.7");
    CHECK_STR_EQ(v.prerelease, "rc.1");
    CHECK_STR_EQ(v.build, "build.7");
    CHECK(!spk_semver_is_release(&v));
    CHECK_INT_EQ(spk_semver_parse("2.0.0", &v, NULL), 0);
    CHECK(spk_semver_is_release(&v));
    CHECK_STR_EQ(v.pre_key, "");
}

/* Each element must be strictly below the next, both by compare() and by the byte order of
 * (release flag, pre_key) that SQL uses. */
static void test_precedence_chain(void)
{
    static const char *const chain[] = {
        "0.9.99",        "1.0.0-0",       "1.0.0-1",
        "1.0.0-2",       "1.0.0-10",      "1.0.0-99999999999999999999",
        "1.0.0-alpha",   "1.0.0-alpha.1", "1.0.0-alpha.beta",
        "1.0.0-alpha0",  "1.0.0-beta",    "1.0.0-beta.2",
        "1.0.0-beta.11", "1.0.0-rc.1",    "1.0.0",
        "1.0.1",         "1.1.0",         "2.0.0",
        "10.0.0",
    };
    size_t n = sizeof(chain) / sizeof(chain[0]);
    for (size_t i = 0; i + 1 < n; i++) {
        struct spk_semver a, b;
        CHECK_INT_EQ(spk_semver_parse(chain[i], &a, NULL), 0);
        CHECK_INT_EQ(spk_semver_parse(chain[i + 1], &b, NULL), 0);
        int c = spk_semver_compare(&a, &b);
        if (c >= 0)
            fprintf(stderr, "%s should be < %s\n", chain[i], chain[i + 1]);
        CHECK(c < 0);
        CHECK(spk_semver_compare(&b, &a) > 0);
        if (a.major == b.major && a.minor == b.minor && a.patch == b.patch &&
            !spk_semver_is_release(&a) && !spk_semver_is_release(&b))
            CHECK(strcmp(a.pre_key, b.pre_key) < 0);
    }
}

static void test_hyphen_identifiers_order(void)
{
    /* '-' sorts below letters and digits in ASCII, and "a" < "a-" < "a.b" is wrong: a shorter
     * identifier list wins only when the identifiers are equal. "a-" vs "a": longer string wins;
     * "a.b" vs "a-": first identifiers "a" < "a-". */
    struct spk_semver a, b, c;
    CHECK_INT_EQ(spk_semver_parse("1.0.0-a", &a, NULL), 0);
    CHECK_INT_EQ(spk_semver_parse("1.0.0-a.b", &b, NULL), 0);
    CHECK_INT_EQ(spk_semver_parse("1.0.0-a-", &c, NULL), 0);
    CHECK(spk_semver_compare(&a, &b) < 0);
    CHECK(spk_semver_compare(&b, &c) < 0);
    CHECK(strcmp(a.pre_key, b.pre_key) < 0);
    CHECK(strcmp(b.pre_key, c.pre_key) < 0);
}

static void test_build_metadata_ignored(void)
{
    struct spk_semver a, b;
    CHECK_INT_EQ(spk_semver_parse("1.0.0+a", &a, NULL), 0);
    CHECK_INT_EQ(spk_semver_parse("1.0.0+b", &b, NULL), 0);
    CHECK_INT_EQ(spk_semver_compare(&a, &b), 0);
}

static const struct unit_test tests[] = {
    {"parse_valid", test_parse_valid},
    {"parse_invalid", test_parse_invalid},
    {"parts_and_canonical", test_parts_and_canonical},
    {"precedence_chain", test_precedence_chain},
    {"hyphen_identifiers_order", test_hyphen_identifiers_order},
    {"build_metadata_ignored", test_build_metadata_ignored},
};
UNIT_MAIN(tests)
