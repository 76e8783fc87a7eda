/* Version digests: independent of file and dependency order, sensitive to every input. */
#include <string.h>

#include "spoke/digest.h"
#include "spoke/sha256.h"
#include "unit.h"

#define H1 "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
#define H2 "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9"

static void test_sha256_known_answers(void)
{
    char hex[65];
    spk_sha256_hex("", 0, hex);
    CHECK_STR_EQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    spk_sha256_hex("foo", 3, hex);
    CHECK_STR_EQ(hex, H1);
    CHECK(spk_sha256_hex_valid(H1));
    CHECK(
        !spk_sha256_hex_valid("2C26B46B68FFC68FF99B453C1D30413413422D706483BFA0F98A5E886266E7AE"));
    CHECK(!spk_sha256_hex_valid("abc"));
}

static void test_order_independent(void)
{
    struct spk_digest_file a[] = {{"a.proto", H1}, {"b/c.proto", H2}};
    struct spk_digest_file b[] = {{"b/c.proto", H2}, {"a.proto", H1}};
    const char *d1[] = {"x@1.0.0", "y@2.0.0"}, *d2[] = {"y@2.0.0", "x@1.0.0"};
    char x[SPK_DIGEST_LEN + 1], y[SPK_DIGEST_LEN + 1];
    spk_digest_compute(a, 2, d1, 2, x);
    spk_digest_compute(b, 2, d2, 2, y);
    CHECK_STR_EQ(x, y);
    CHECK(strncmp(x, "sha256:", 7) == 0);
    CHECK_INT_EQ(strlen(x), SPK_DIGEST_LEN);
}

static void test_known_manifest(void)
{
    /* The manifest format is part of the contract: recompute it by hand. */
    const char manifest[] = "spoke-manifest-v1\n"
                            "file " H1 " a.proto\n"
                            "file " H2 " b/c.proto\n"
                            "dep x@1.0.0\n";
    char want[65], got[SPK_DIGEST_LEN + 1];
    spk_sha256_hex(manifest, strlen(manifest), want);
    struct spk_digest_file f[] = {{"b/c.proto", H2}, {"a.proto", H1}};
    const char *d[] = {"x@1.0.0"};
    spk_digest_compute(f, 2, d, 1, got);
    CHECK_STR_EQ(got + 7, want);
}

static void test_sensitive(void)
{
    struct spk_digest_file base[] = {{"a.proto", H1}};
    struct spk_digest_file other_hash[] = {{"a.proto", H2}};
    struct spk_digest_file other_path[] = {{"b.proto", H1}};
    const char *dep[] = {"x@1.0.0"};
    char d0[SPK_DIGEST_LEN + 1], d1[SPK_DIGEST_LEN + 1], d2[SPK_DIGEST_LEN + 1],
        d3[SPK_DIGEST_LEN + 1];
    spk_digest_compute(base, 1, NULL, 0, d0);
    spk_digest_compute(other_hash, 1, NULL, 0, d1);
    spk_digest_compute(other_path, 1, NULL, 0, d2);
    spk_digest_compute(base, 1, dep, 1, d3);
    CHECK(strcmp(d0, d1) != 0);
    CHECK(strcmp(d0, d2) != 0);
    CHECK(strcmp(d0, d3) != 0);
    CHECK(strcmp(d1, d2) != 0);
}

static const struct unit_test tests[] = {
    {"sha256_known_answers", test_sha256_known_answers},
    {"order_independent", test_order_independent},
    {"known_manifest", test_known_manifest},
    {"sensitive", test_sensitive},
};
UNIT_MAIN(tests)
