/* The Redis client's pure parts: redis:// URLs, sentinel lists, Sentinel replies and events
 * (built by hand, as hiredis would hand them over), and the cache's Redis key names. */
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "spoke/cache.h"
#include "spoke/config.h"
#include "spoke/error.h"
#include "spoke/redis.h"
#include "unit.h"

static void test_url(void)
{
    struct spk_redis_url u;
    struct spk_error err = {0};
    CHECK_INT_EQ(spk_redis_url_parse("redis://127.0.0.1:6380/2", &u, &err), 0);
    CHECK_STR_EQ(u.addr.host, "127.0.0.1");
    CHECK_INT_EQ(u.addr.port, 6380);
    CHECK_INT_EQ(u.db, 2);
    CHECK_STR_EQ(u.password, "");

    CHECK_INT_EQ(spk_redis_url_parse("redis://cache.internal", &u, &err), 0);
    CHECK_STR_EQ(u.addr.host, "cache.internal");
    CHECK_INT_EQ(u.addr.port, 6379);
    CHECK_INT_EQ(u.db, 0);

    CHECK_INT_EQ(spk_redis_url_parse("redis://:s3cr%40t@host:1/", &u, &err), 0);
    CHECK_STR_EQ(u.password, "s3cr@t");
    CHECK_STR_EQ(u.user, "");
    CHECK_STR_EQ(u.addr.host, "host");

    CHECK_INT_EQ(spk_redis_url_parse("redis://app:p:w@[::1]:7000/15", &u, &err), 0);
    CHECK_STR_EQ(u.user, "app");
    CHECK_STR_EQ(u.password, "p:w");
    CHECK_STR_EQ(u.addr.host, "::1");
    CHECK_INT_EQ(u.addr.port, 7000);
    CHECK_INT_EQ(u.db, 15);

    static const char *const bad[] = {
        "http://host:6379",  "redis://",          "redis://host:0",    "redis://host:65536",
        "redis://host:x",    "redis://host/x",    "redis://ho st:1",   "redis://pw@host",
        "redis://:%zz@host", "redis://:%00@host", "redis://[::1:6379", "redis://host:6379/123456",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err.msg[0] = '\0';
        CHECK_INT_EQ(spk_redis_url_parse(bad[i], &u, &err), -1);
        CHECK(strstr(err.msg, "SPOKE_REDIS_URL") != NULL);
    }
    /* The message never repeats the password. */
    CHECK_INT_EQ(spk_redis_url_parse("redis://:hunter2@bad host", &u, &err), -1);
    CHECK(strstr(err.msg, "hunter2") == NULL);
}

static void test_hostports(void)
{
    struct spk_redis_addr *a = NULL;
    size_t n = 0;
    struct spk_error err = {0};
    CHECK_INT_EQ(
        spk_redis_hostports_parse(" 127.0.0.1:26379, s2:26380 ,,[::1]:26381", &a, &n, &err), 0);
    CHECK_INT_EQ(n, 3);
    if (n == 3) {
        CHECK_STR_EQ(a[0].host, "127.0.0.1");
        CHECK_INT_EQ(a[0].port, 26379);
        CHECK_STR_EQ(a[1].host, "s2");
        CHECK_INT_EQ(a[1].port, 26380);
        CHECK_STR_EQ(a[2].host, "::1");
        CHECK_INT_EQ(a[2].port, 26381);
    }
    free(a);
    static const char *const bad[] = {"", " , ", "host", "host:", ":26379", "host:99999", "a:1,b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_INT_EQ(spk_redis_hostports_parse(bad[i], &a, &n, &err), -1);
        CHECK(a == NULL && n == 0);
        CHECK(strstr(err.msg, "SPOKE_REDIS_SENTINELS") != NULL);
    }
}

/* Replies built by hand: the structs hiredis hands over. */
static redisReply str_reply(int type, const char *s)
{
    return (redisReply){.type = type, .str = (char *)s, .len = strlen(s)};
}

static void test_master_addr_reply(void)
{
    struct spk_redis_addr a = {0};
    redisReply host = str_reply(REDIS_REPLY_STRING, "127.0.0.1");
    redisReply port = str_reply(REDIS_REPLY_STRING, "6380");
    redisReply *el[2] = {&host, &port};
    redisReply arr = {.type = REDIS_REPLY_ARRAY, .elements = 2, .element = el};
    CHECK_INT_EQ(spk_redis_parse_master_addr(&arr, &a), 0);
    CHECK_STR_EQ(a.host, "127.0.0.1");
    CHECK_INT_EQ(a.port, 6380);

    redisReply nil = {.type = REDIS_REPLY_NIL};
    CHECK_INT_EQ(spk_redis_parse_master_addr(&nil, &a), -1); /* unknown master name */
    CHECK_INT_EQ(spk_redis_parse_master_addr(NULL, &a), -1);
    redisReply badport = str_reply(REDIS_REPLY_STRING, "63x0");
    el[1] = &badport;
    CHECK_INT_EQ(spk_redis_parse_master_addr(&arr, &a), -1);
    redisReply badhost = str_reply(REDIS_REPLY_STRING, "a b");
    el[0] = &badhost;
    el[1] = &port;
    CHECK_INT_EQ(spk_redis_parse_master_addr(&arr, &a), -1);
    arr.elements = 1;
    CHECK_INT_EQ(spk_redis_parse_master_addr(&arr, &a), -1);
}

static void test_role_reply(void)
{
    redisReply master = str_reply(REDIS_REPLY_STRING, "master");
    redisReply slave = str_reply(REDIS_REPLY_STRING, "slave");
    redisReply sentinel = str_reply(REDIS_REPLY_STRING, "sentinel");
    redisReply odd = str_reply(REDIS_REPLY_STRING, "primary");
    redisReply offset = {.type = REDIS_REPLY_INTEGER, .integer = 42};
    redisReply *el[2] = {&master, &offset};
    redisReply arr = {.type = REDIS_REPLY_ARRAY, .elements = 2, .element = el};
    CHECK_INT_EQ(spk_redis_parse_role(&arr), 1);
    el[0] = &slave;
    CHECK_INT_EQ(spk_redis_parse_role(&arr), 0);
    el[0] = &sentinel;
    CHECK_INT_EQ(spk_redis_parse_role(&arr), 0);
    el[0] = &odd;
    CHECK_INT_EQ(spk_redis_parse_role(&arr), -1);
    el[0] = &offset;
    CHECK_INT_EQ(spk_redis_parse_role(&arr), -1);
    redisReply err = str_reply(REDIS_REPLY_ERROR, "NOAUTH Authentication required.");
    CHECK_INT_EQ(spk_redis_parse_role(&err), -1);
    arr.elements = 0;
    CHECK_INT_EQ(spk_redis_parse_role(&arr), -1);
}

static void test_switch_master(void)
{
    struct spk_redis_addr a = {0};
    const char *msg = "spoke 127.0.0.1 6379 127.0.0.1 6380";
    CHECK_INT_EQ(spk_redis_parse_switch_master(msg, strlen(msg), "spoke", &a), 0);
    CHECK_STR_EQ(a.host, "127.0.0.1");
    CHECK_INT_EQ(a.port, 6380);
    const char *v6 = "spoke ::1 6379 ::1 6381";
    CHECK_INT_EQ(spk_redis_parse_switch_master(v6, strlen(v6), "spoke", &a), 0);
    CHECK_STR_EQ(a.host, "::1");
    CHECK_INT_EQ(a.port, 6381);
    /* Another master's event, a prefix of our name, and malformed payloads are ignored. */
    static const char *const other[] = {
        "other 127.0.0.1 6379 127.0.0.1 6380",
        "spok 127.0.0.1 6379 127.0.0.1 6380",
        "spoke 127.0.0.1 6379 127.0.0.1",
        "spoke 127.0.0.1 6379 127.0.0.1 x",
        "spoke 127.0.0.1 6379 127.0.0.1 6380 extra",
        "",
    };
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
        CHECK_INT_EQ(spk_redis_parse_switch_master(other[i], strlen(other[i]), "spoke", &a), -1);
    /* Bounded by len, not by a NUL. */
    CHECK_INT_EQ(spk_redis_parse_switch_master(msg, strlen(msg) - 1, "spoke", &a), 0);
    CHECK_INT_EQ(a.port, 638);
}

static void test_cache_keys(void)
{
    char buf[64];
    CHECK_INT_EQ(spk_cache_redis_key(buf, sizeof(buf), "version", "acme.billing", "1.2.3-rc.1+b"),
                 0);
    CHECK_STR_EQ(buf, "version:acme.billing:1.2.3-rc.1+b");
    CHECK_INT_EQ(spk_cache_redis_key(buf, sizeof(buf), "module", "acme.billing", NULL), 0);
    CHECK_STR_EQ(buf, "module:acme.billing");
    CHECK_INT_EQ(spk_cache_redis_key(buf, sizeof(buf), "versions", "a", NULL), 0);
    CHECK_STR_EQ(buf, "versions:a");
    CHECK_INT_EQ(spk_cache_redis_key(buf, 10, "module", "acme.billing", NULL), -1);
    CHECK_STR_EQ(spk_cache_tier_name(SPK_CACHE_L1), "l1");
    CHECK_STR_EQ(spk_cache_tier_name(SPK_CACHE_REDIS), "redis");
    CHECK_STR_EQ(spk_cache_tier_name(SPK_CACHE_MISS), "miss");
}

static void test_script_sha(void)
{
    struct spk_redis_script s;
    spk_redis_script_init(&s, "return 1");
    /* SHA-1 of "return 1", as SCRIPT LOAD reports it */
    CHECK_STR_EQ(s.sha1, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

static const char *lookup(const char *name, void *ctx)
{
    for (const char *const *kv = ctx; kv[0]; kv += 2)
        if (strcmp(kv[0], name) == 0)
            return kv[1];
    return NULL;
}

static void test_config(void)
{
    struct spk_config cfg;
    struct spk_error err = {0};
    const char *none[] = {NULL};
    CHECK_INT_EQ(spk_config_load(&cfg, lookup, (void *)none, &err), 0);
    CHECK(cfg.redis_url == NULL && cfg.redis_sentinels == NULL && cfg.redis_password == NULL);
    CHECK_STR_EQ(cfg.redis_master_name, "spoke");
    CHECK_INT_EQ(cfg.redis_timeout_ms, 100);
    CHECK_INT_EQ(cfg.cache_local_ttl_ms, 1000);
    spk_config_release(&cfg);

    const char *sentinels[] = {"SPOKE_REDIS_SENTINELS",
                               "127.0.0.1:26379,127.0.0.1:26380",
                               "SPOKE_REDIS_PASSWORD",
                               "pw",
                               "SPOKE_REDIS_TIMEOUT_MS",
                               "50",
                               NULL};
    CHECK_INT_EQ(spk_config_load(&cfg, lookup, (void *)sentinels, &err), 0);
    CHECK_STR_EQ(cfg.redis_sentinels, "127.0.0.1:26379,127.0.0.1:26380");
    CHECK_STR_EQ(cfg.redis_password, "pw");
    CHECK_INT_EQ(cfg.redis_timeout_ms, 50);
    spk_config_release(&cfg);

    const char *both[] = {"SPOKE_REDIS_SENTINELS", "h:1", "SPOKE_REDIS_URL", "redis://h", NULL};
    CHECK_INT_EQ(spk_config_load(&cfg, lookup, (void *)both, &err), -1);
    CHECK(strstr(err.msg, "SPOKE_REDIS_URL and SPOKE_REDIS_SENTINELS") != NULL);
    const char *bad_url[] = {"SPOKE_REDIS_URL", "redis://:topsecret@", NULL};
    CHECK_INT_EQ(spk_config_load(&cfg, lookup, (void *)bad_url, &err), -1);
    CHECK(strstr(err.msg, "SPOKE_REDIS_URL") != NULL && strstr(err.msg, "topsecret") == NULL);
    const char *bad_list[] = {"SPOKE_REDIS_SENTINELS", "h", NULL};
    CHECK_INT_EQ(spk_config_load(&cfg, lookup, (void *)bad_list, &err), -1);
    CHECK(strstr(err.msg, "SPOKE_REDIS_SENTINELS") != NULL);
}

static const struct unit_test tests[] = {
    {"config", test_config},         {"url", test_url},
    {"hostports", test_hostports},   {"master_addr_reply", test_master_addr_reply},
    {"role_reply", test_role_reply}, {"switch_master", test_switch_master},
    {"cache_keys", test_cache_keys}, {"script_sha", test_script_sha},
};
UNIT_MAIN(tests)
