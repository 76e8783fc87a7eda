/* A Redis client for the cache tier, written on hiredis 0.14 (which has no Sentinel support):
 * master discovery through Sentinel or a direct redis:// URL, a small connection pool,
 * per-command timeouts, a circuit breaker, and one background thread that re-resolves the master,
 * follows +switch-master on every sentinel and delivers the messages of one pub/sub channel.
 *
 * Invariants:
 * - Fail-open: a command completes within timeout_ms (connecting included) or returns -1. The
 *   caller treats -1 as a cache miss; nothing here ever blocks a request longer than that.
 * - While the breaker is open, commands return -1 at once without touching the network; only the
 *   background thread probes (with exponential backoff) and closes it. Connection errors,
 *   timeouts and -READONLY open it; in Sentinel mode each probe asks the sentinels for the master
 *   and confirms it with ROLE.
 * - The password is sent with AUTH and never logged or copied into err->msg.
 * - hiredis is seen only in src/cache: replies are struct redisReply, freed with
 *   spk_redis_reply_free. */
#ifndef SPOKE_REDIS_H
#define SPOKE_REDIS_H

#include <stddef.h>
#include <stdint.h>

struct redisReply;
struct spk_error;
struct spk_redis;

#define SPK_REDIS_HOST_MAX 255

struct spk_redis_addr {
    char host[SPK_REDIS_HOST_MAX + 1];
    int port;
};

/* redis://[[user]:password@]host[:port][/db]; password and user are percent-decoded, the port
 * defaults to 6379, db to 0; "[::1]" brackets an IPv6 host. Errors never echo the URL (it may
 * hold the password). */
struct spk_redis_url {
    struct spk_redis_addr addr;
    int db;
    char user[128];
    char password[512];
};
int spk_redis_url_parse(const char *url, struct spk_redis_url *out, struct spk_error *err);

/* "host:port,host:port" (blanks around items ignored) into a new array (free with free()). */
int spk_redis_hostports_parse(const char *list, struct spk_redis_addr **out, size_t *n,
                              struct spk_error *err);

/* SENTINEL get-master-addr-by-name → out. -1 for nil (unknown master name) or a malformed reply. */
int spk_redis_parse_master_addr(const struct redisReply *r, struct spk_redis_addr *out);
/* ROLE → 1 for "master", 0 for "slave"/"sentinel", -1 for a malformed reply. */
int spk_redis_parse_role(const struct redisReply *r);
/* A +switch-master payload "<name> <old-ip> <old-port> <new-ip> <new-port>": 0 and the new
 * address when it is about master `name`, -1 otherwise. */
int spk_redis_parse_switch_master(const char *payload, size_t len, const char *name,
                                  struct spk_redis_addr *out);

struct spk_redis_options {
    const char *url;         /* direct connection, or NULL */
    const char *sentinels;   /* "host:port,…" (used when url is NULL) */
    const char *master_name; /* Sentinel master name */
    const char *password;    /* NULL/"" for none; a password in url wins */
    int timeout_ms;          /* per command, connecting included */
    int pool_size;           /* idle connections kept */
    /* Subscribed from the background thread on the current master; NULL for none. on_message runs
     * on that thread for every message. */
    const char *channel;
    void (*on_message)(void *arg, const char *payload, size_t len);
    /* Runs on the background thread each time the breaker closes (a master answers again); it may
     * run commands. May be NULL. */
    void (*on_connect)(void *arg);
    void *arg;
};

/* Validates the options and starts the background thread; connections open lazily. Free with
 * spk_redis_destroy (stops the thread, closes every connection). */
struct spk_redis *spk_redis_create(const struct spk_redis_options *o, struct spk_error *err);
void spk_redis_destroy(struct spk_redis *r);

/* One command in argv form. 0 with *out set (any reply type except an error) or -1 (breaker
 * open, connection failure, timeout, error reply). */
int spk_redis_command(struct spk_redis *r, int argc, const char **argv, const size_t *argvlen,
                      struct redisReply **out);

/* A Lua script sent with EVALSHA, falling back to EVAL when the server does not know it yet. */
struct spk_redis_script {
    const char *body;
    char sha1[41];
};
void spk_redis_script_init(struct spk_redis_script *s, const char *body);
/* argv holds nkeys keys followed by the other arguments (nargs in all). Same result as
 * spk_redis_command. */
int spk_redis_eval(struct spk_redis *r, const struct spk_redis_script *s, int nkeys, int nargs,
                   const char **argv, const size_t *argvlen, struct redisReply **out);

void spk_redis_reply_free(struct redisReply *reply);

/* Nonzero while subscribed to the channel, and different for every subscription: a value derived
 * from data that a channel message could invalidate stays trustworthy only while this returns the
 * number seen when the value was read. 0 when not subscribed (messages may be missed). */
uint64_t spk_redis_subscription_epoch(struct spk_redis *r);

struct spk_redis_status {
    int ok;                              /* breaker closed and a PING answered */
    double latency_ms;                   /* of that PING; 0 when not run */
    char master[SPK_REDIS_HOST_MAX + 8]; /* "host:port", "" when unknown */
    char detail[192];                    /* why not ok, or the master in use */
};
/* For readiness: a PING through the pool, bounded by the timeout, unless the breaker is open. */
void spk_redis_status(struct spk_redis *r, struct spk_redis_status *out);

#endif
