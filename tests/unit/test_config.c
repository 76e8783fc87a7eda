/* SPOKE_* parsing: defaults, overrides, lists, and errors that name the variable. */
#include <string.h>

#include "spoke/config.h"
#include "spoke/error.h"
#include "unit.h"

struct kv {
    const char *k, *v;
};

static const char *lookup(const char *name, void *ctx)
{
    for (const struct kv *p = ctx; p->k; p++)
        if (strcmp(p->k, name) == 0)
            return p->v;
    return NULL;
}

static void test_defaults(void)
{
    struct kv env[] = {{NULL, NULL}};
    struct spk_config c;
    struct spk_error err = {0};
    CHECK_INT_EQ(spk_config_load(&c, lookup, env, &err), 0);
    CHECK_INT_EQ(c.port, 8080);
    CHECK_INT_EQ(c.health_port, 9090);
    CHECK_INT_EQ((long long)c.max_body_bytes, 16 * 1024 * 1024);
    CHECK_INT_EQ((long long)c.max_files, 1000);
    CHECK_INT_EQ((long long)c.max_file_bytes, 4 * 1024 * 1024);
    CHECK_INT_EQ((long long)c.nreplicas, 0);
    CHECK_INT_EQ(c.log_level, SPK_LOG_INFO);
    CHECK(strstr(c.postgres_url, "5432") != NULL);
    spk_config_release(&c);
}

static void test_overrides(void)
{
    struct kv env[] = {{"SPOKE_PORT", "18081"},
                       {"SPOKE_HEALTH_PORT", "19091"},
                       {"SPOKE_POSTGRES_REPLICA_URLS", " postgres://a/x , ,postgres://b/y,"},
                       {"SPOKE_LOG_LEVEL", "DEBUG"},
                       {"SPOKE_MAX_FILES", "10"},
                       {"SPOKE_POSTGRES_MAX_LAG_BYTES", "0"},
                       {NULL, NULL}};
    struct spk_config c;
    CHECK_INT_EQ(spk_config_load(&c, lookup, env, NULL), 0);
    CHECK_INT_EQ(c.port, 18081);
    CHECK_INT_EQ(c.health_port, 19091);
    CHECK_INT_EQ((long long)c.nreplicas, 2);
    if (c.nreplicas == 2) {
        CHECK_STR_EQ(c.replica_urls[0], "postgres://a/x");
        CHECK_STR_EQ(c.replica_urls[1], "postgres://b/y");
    }
    CHECK_INT_EQ(c.log_level, SPK_LOG_DEBUG);
    CHECK_INT_EQ((long long)c.max_files, 10);
    CHECK_INT_EQ(c.pg_max_lag_bytes, 0);
    spk_config_release(&c);
}

static void expect_error(const char *name, const char *value, const char *needle)
{
    struct kv env[] = {{name, value}, {NULL, NULL}};
    struct spk_config c;
    struct spk_error err = {0};
    CHECK_INT_EQ(spk_config_load(&c, lookup, env, &err), -1);
    CHECK_INT_EQ(err.code, SPK_E_INVALID);
    if (!strstr(err.msg, needle))
        fprintf(stderr, "message \"%s\" does not name %s\n", err.msg, needle);
    CHECK(strstr(err.msg, needle) != NULL);
}

static void test_errors_name_the_variable(void)
{
    expect_error("SPOKE_PORT", "http", "SPOKE_PORT");
    expect_error("SPOKE_PORT", "70000", "SPOKE_PORT");
    expect_error("SPOKE_PORT", "", "SPOKE_PORT");
    expect_error("SPOKE_PORT", "80x", "SPOKE_PORT");
    expect_error("SPOKE_THREADS", "0", "SPOKE_THREADS");
    expect_error("SPOKE_LOG_LEVEL", "loud", "SPOKE_LOG_LEVEL");
    expect_error("SPOKE_POSTGRES_URL", "", "SPOKE_POSTGRES_URL");
    expect_error("SPOKE_MAX_BODY_BYTES", "-1", "SPOKE_MAX_BODY_BYTES");
    expect_error("SPOKE_HEALTH_PORT", "8080", "SPOKE_HEALTH_PORT");
    expect_error("SPOKE_MAX_FILE_BYTES", "999999999", "SPOKE_MAX_FILE_BYTES");
}

static const struct unit_test tests[] = {
    {"defaults", test_defaults},
    {"overrides", test_overrides},
    {"errors_name_the_variable", test_errors_name_the_variable},
};
UNIT_MAIN(tests)
