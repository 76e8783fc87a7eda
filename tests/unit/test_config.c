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

/* The S3 blob store: off unless SPOKE_S3_ENDPOINT is set; booleans; keys only as a pair. */
static void test_s3(void)
{
    struct kv none[] = {{"SPOKE_S3_ENDPOINT", ""}, {NULL, NULL}};
    struct spk_config c;
    CHECK_INT_EQ(spk_config_load(&c, lookup, none, NULL), 0);
    CHECK(c.s3_endpoint == NULL && c.s3_access_key == NULL && c.s3_secret_key == NULL);
    CHECK_STR_EQ(c.s3_bucket, "spoke");
    CHECK_STR_EQ(c.s3_region, "us-east-1");
    CHECK_INT_EQ(c.s3_path_style, 0);
    CHECK_INT_EQ(c.s3_timeout_ms, 5000);
    CHECK_INT_EQ(c.s3_max_retries, 2);
    CHECK_INT_EQ(c.gc_min_age_s, 3600);
    spk_config_release(&c);

    struct kv env[] = {{"SPOKE_S3_ENDPOINT", "http://127.0.0.1:9000"},
                       {"SPOKE_S3_USE_PATH_STYLE", "TRUE"},
                       {"SPOKE_S3_ACCESS_KEY", "AK"},
                       {"SPOKE_S3_SECRET_KEY", "SK"},
                       {"SPOKE_GC_MIN_AGE_SECONDS", "0"},
                       {NULL, NULL}};
    CHECK_INT_EQ(spk_config_load(&c, lookup, env, NULL), 0);
    CHECK_STR_EQ(c.s3_endpoint, "http://127.0.0.1:9000");
    CHECK_INT_EQ(c.s3_path_style, 1);
    CHECK_STR_EQ(c.s3_access_key, "AK");
    CHECK_STR_EQ(c.s3_secret_key, "SK");
    CHECK_INT_EQ(c.gc_min_age_s, 0);
    spk_config_release(&c);

    expect_error("SPOKE_S3_USE_PATH_STYLE", "maybe", "SPOKE_S3_USE_PATH_STYLE");
    expect_error("SPOKE_S3_ENDPOINT", "127.0.0.1:9000", "SPOKE_S3_ENDPOINT");
    expect_error("SPOKE_S3_TIMEOUT_MS", "0", "SPOKE_S3_TIMEOUT_MS");
    expect_error("SPOKE_GC_MIN_AGE_SECONDS", "-1", "SPOKE_GC_MIN_AGE_SECONDS");
    struct kv half[] = {{"SPOKE_S3_ENDPOINT", "https://s3.amazonaws.com"},
                        {"SPOKE_S3_ACCESS_KEY", "AK"},
                        {NULL, NULL}};
    struct spk_error err = {0};
    CHECK_INT_EQ(spk_config_load(&c, lookup, half, &err), -1);
    CHECK(strstr(err.msg, "SPOKE_S3_SECRET_KEY") != NULL);
}

static const struct unit_test tests[] = {
    {"defaults", test_defaults},
    {"overrides", test_overrides},
    {"errors_name_the_variable", test_errors_name_the_variable},
    {"s3", test_s3},
};
UNIT_MAIN(tests)
