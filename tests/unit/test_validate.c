/* Module names, file paths and dependency references. */
#include <string.h>

#include "spoke/error.h"
#include "spoke/validate.h"
#include "unit.h"

static void test_module_names(void)
{
    static const char *const ok[] = {"a", "acme", "acme.payments", "a-b_c.d", "x9", "z0-._"};
    static const char *const bad[] = {
        "", "A", "9a", "-a", ".a", "_a", "acme/payments", "a b", "Acme", "a\xc3\xa9", "a:b", "a@b"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        CHECK_INT_EQ(spk_validate_module_name(ok[i], NULL), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct spk_error err = {0};
        CHECK_INT_EQ(spk_validate_module_name(bad[i], &err), -1);
        CHECK_INT_EQ(err.code, SPK_E_INVALID);
    }
    char name[130];
    memset(name, 'a', sizeof(name));
    name[128] = '\0';
    CHECK_INT_EQ(spk_validate_module_name(name, NULL), 0);
    name[128] = 'a';
    name[129] = '\0';
    CHECK_INT_EQ(spk_validate_module_name(name, NULL), -1);
    CHECK_INT_EQ(spk_validate_module_name(NULL, NULL), -1);
}

static int path_ok(const char *p)
{
    return spk_validate_path(p, strlen(p), NULL) == 0;
}

static void test_paths(void)
{
    CHECK(path_ok("a.proto"));
    CHECK(path_ok("acme/v1/payments.proto"));
    CHECK(path_ok("d\xc3\xa9j\xc3\xa0/\xe6\x97\xa5\xe6\x9c\xac.proto"));
    CHECK(path_ok("..a/b..c/.hidden.proto"));
    CHECK(!path_ok(""));
    CHECK(!path_ok(".proto"));
    CHECK(!path_ok("a.txt"));
    CHECK(!path_ok("a.proto.bak"));
    CHECK(!path_ok("/etc/a.proto"));
    CHECK(!path_ok("../a.proto"));
    CHECK(!path_ok("a/../../b.proto"));
    CHECK(!path_ok("a/./b.proto"));
    CHECK(!path_ok("a//b.proto"));
    CHECK(!path_ok("a\\b.proto"));
    CHECK(!path_ok("..\\..\\b.proto"));
    CHECK(!path_ok("a/\x01.proto"));
    CHECK(!path_ok("a\nb.proto"));
    CHECK(!path_ok("a/\xff.proto"));
    CHECK(!path_ok("a/\xc0\xaf.proto"));     /* overlong '/' */
    CHECK(!path_ok("a/\xed\xa0\x80.proto")); /* surrogate */
    CHECK_INT_EQ(spk_validate_path("a\0b.proto", 9, NULL), -1);

    char p[600];
    memset(p, 'a', sizeof(p));
    memcpy(p + 506, ".proto", 7); /* 512 bytes */
    CHECK_INT_EQ(spk_validate_path(p, 512, NULL), 0);
    memset(p, 'a', sizeof(p));
    memcpy(p + 507, ".proto", 7); /* 513 bytes */
    CHECK_INT_EQ(spk_validate_path(p, 513, NULL), -1);
}

static void test_dependencies(void)
{
    struct spk_ref r;
    CHECK_INT_EQ(spk_ref_parse("acme.common@v1.2.3", &r, NULL), 0);
    CHECK_STR_EQ(r.text, "acme.common@1.2.3");
    CHECK_STR_EQ(r.module, "acme.common");
    CHECK_STR_EQ(r.version, "1.2.3");
    CHECK_INT_EQ(spk_ref_parse("a@1.0.0-rc.1+b", &r, NULL), 0);
    CHECK_STR_EQ(r.text, "a@1.0.0-rc.1+b");
    CHECK_STR_EQ(r.version, "1.0.0-rc.1+b");
    CHECK_INT_EQ(spk_ref_parse("a@latest", &r, NULL), -1);
    CHECK_INT_EQ(spk_ref_parse("a", &r, NULL), -1);
    CHECK_INT_EQ(spk_ref_parse("@1.0.0", &r, NULL), -1);
    CHECK_INT_EQ(spk_ref_parse("A@1.0.0", &r, NULL), -1);
    CHECK_INT_EQ(spk_ref_parse("a@1.0", &r, NULL), -1);
    CHECK_INT_EQ(spk_ref_parse(NULL, &r, NULL), -1);
}

static void test_utf8(void)
{
    CHECK(spk_utf8_valid("plain", 5));
    CHECK(spk_utf8_valid("\xf0\x9f\x98\x80", 4));
    CHECK(!spk_utf8_valid("\xf0\x9f\x98", 3));
    CHECK(!spk_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    CHECK(!spk_utf8_valid("\xe0\x80\xaf", 3));     /* overlong */
}

static const struct unit_test tests[] = {
    {"module_names", test_module_names},
    {"paths", test_paths},
    {"dependencies", test_dependencies},
    {"utf8", test_utf8},
};
UNIT_MAIN(tests)
