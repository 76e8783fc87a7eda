/* Pure parsing for the Redis client: redis:// URLs, sentinel address lists, and the Sentinel
 * replies and events it acts on. No I/O here, so every case is a unit test
 * (tests/unit/test_redis.c). */
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "spoke/alloc.h"
#include "spoke/error.h"
#include "spoke/redis.h"
#include "spoke/list.h"
#include "spoke/banned.h"

static int is_host_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '-' || ch == '_';
}

static int parse_port(const char *s, size_t len, int *out)
{
    int v = 0;
    if (len == 0 || len > 5)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *out = v;
    return 0;
}

/* "host", "host:port", "[v6]" or "[v6]:port" in s[0..len). port is left alone when absent. */
static int parse_hostport(const char *s, size_t len, int need_port, struct spk_redis_addr *out)
{
    const char *host = s, *port = NULL;
    size_t hlen, plen = 0;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close || close == s + 1)
            return -1;
        host = s + 1;
        hlen = (size_t)(close - host);
        for (size_t i = 0; i < hlen; i++)
            if (!(is_host_char(host[i]) || host[i] == ':'))
                return -1;
        const char *rest = close + 1;
        size_t rlen = len - (size_t)(rest - s);
        if (rlen > 0) {
            if (rest[0] != ':')
                return -1;
            port = rest + 1;
            plen = rlen - 1;
        }
    } else {
        const char *colon = memchr(s, ':', len);
        hlen = colon ? (size_t)(colon - s) : len;
        if (colon) {
            port = colon + 1;
            plen = len - hlen - 1;
        }
        for (size_t i = 0; i < hlen; i++)
            if (!is_host_char(host[i]))
                return -1;
    }
    if (hlen == 0 || hlen > SPK_REDIS_HOST_MAX)
        return -1;
    if (port) {
        if (parse_port(port, plen, &out->port))
            return -1;
    } else if (need_port) {
        return -1;
    }
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    return 0;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..len) into out (NUL-terminated); -1 on a bad escape, a NUL or overflow. */
static int pct_decode(const char *s, size_t len, char *out, size_t outsz)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            ch = (char)(hi * 16 + lo);
            i += 2;
        }
        if (ch == '\0' || o + 1 >= outsz)
            return -1;
        out[o++] = ch;
    }
    out[o] = '\0';
    return 0;
}

int spk_redis_url_parse(const char *url, struct spk_redis_url *out, struct spk_error *err)
{
    static const char scheme[] = "redis://";
    static const char shape[] = "must look like redis://[:password@]host[:port][/db]";
    memset(out, 0, sizeof(*out));
    out->addr.port = 6379;
    if (!url || strncmp(url, scheme, sizeof(scheme) - 1) != 0)
        return spk_error_set(err, SPK_E_INVALID, "SPOKE_REDIS_URL %s", shape);
    const char *p = url + sizeof(scheme) - 1;
    const char *end = p + strlen(p);
    const char *slash = memchr(p, '/', (size_t)(end - p));
    const char *auth_end = NULL;
    for (const char *q = p; q < (slash ? slash : end); q++)
        if (*q == '@')
            auth_end = q; /* the last '@' before the path: passwords may contain '@' encoded */
    if (auth_end) {
        const char *colon = memchr(p, ':', (size_t)(auth_end - p));
        if (!colon)
            return spk_error_set(err, SPK_E_INVALID,
                                 "SPOKE_REDIS_URL: the part before '@' must be [user]:password");
        if (pct_decode(p, (size_t)(colon - p), out->user, sizeof(out->user)) ||
            pct_decode(colon + 1, (size_t)(auth_end - colon - 1), out->password,
                       sizeof(out->password)))
            return spk_error_set(err, SPK_E_INVALID,
                                 "SPOKE_REDIS_URL: bad percent-encoding or overlong user/password");
        p = auth_end + 1;
    }
    const char *hp_end = slash ? slash : end;
    if (parse_hostport(p, (size_t)(hp_end - p), 0, &out->addr))
        return spk_error_set(err, SPK_E_INVALID, "SPOKE_REDIS_URL: bad host or port (%s)", shape);
    if (slash && slash + 1 < end) {
        const char *d = slash + 1;
        size_t dlen = (size_t)(end - d);
        int db = 0;
        if (dlen > 5)
            return spk_error_set(err, SPK_E_INVALID, "SPOKE_REDIS_URL: bad database number");
        for (size_t i = 0; i < dlen; i++) {
            if (d[i] < '0' || d[i] > '9')
                return spk_error_set(err, SPK_E_INVALID, "SPOKE_REDIS_URL: bad database number");
            db = db * 10 + (d[i] - '0');
        }
        out->db = db;
    }
    return 0;
}

int spk_redis_hostports_parse(const char *list, struct spk_redis_addr **out, size_t *n,
                              struct spk_error *err)
{
    *out = NULL;
    *n = 0;
    const char *cursor = list, *item;
    size_t len;
    struct spk_redis_addr *addrs = NULL;
    size_t count = 0;
    while ((item = spk_list_next(&cursor, &len))) {
        struct spk_redis_addr a = {0};
        if (parse_hostport(item, len, 1, &a)) {
            free(addrs);
            return spk_error_set(err, SPK_E_INVALID,
                                 "SPOKE_REDIS_SENTINELS: \"%.*s\" is not host:port",
                                 (int)(len > 80 ? 80 : len), item);
        }
        addrs = spk_realloc(addrs, (count + 1) * sizeof(*addrs));
        addrs[count++] = a;
    }
    if (count == 0)
        return spk_error_set(err, SPK_E_INVALID,
                             "SPOKE_REDIS_SENTINELS must list at least one host:port");
    *out = addrs;
    *n = count;
    return 0;
}

static int is_str(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

int spk_redis_parse_master_addr(const struct redisReply *r, struct spk_redis_addr *out)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || !is_str(r->element[0]) ||
        !is_str(r->element[1]))
        return -1;
    const redisReply *h = r->element[0], *p = r->element[1];
    struct spk_redis_addr a = {0};
    if (h->len == 0 || h->len > SPK_REDIS_HOST_MAX || memchr(h->str, '\0', h->len))
        return -1;
    for (size_t i = 0; i < h->len; i++)
        if (!(is_host_char(h->str[i]) || h->str[i] == ':'))
            return -1;
    memcpy(a.host, h->str, h->len);
    a.host[h->len] = '\0';
    if (parse_port(p->str, p->len, &a.port))
        return -1;
    *out = a;
    return 0;
}

int spk_redis_parse_role(const struct redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 || !is_str(r->element[0]))
        return -1;
    const redisReply *role = r->element[0];
    if (role->len == 6 && memcmp(role->str, "master", 6) == 0)
        return 1;
    if ((role->len == 5 && memcmp(role->str, "slave", 5) == 0) ||
        (role->len == 8 && memcmp(role->str, "sentinel", 8) == 0))
        return 0;
    return -1;
}

/* Next space-separated field of s[*pos..len). */
static int next_field(const char *s, size_t len, size_t *pos, const char **f, size_t *flen)
{
    while (*pos < len && s[*pos] == ' ')
        (*pos)++;
    if (*pos >= len)
        return -1;
    *f = s + *pos;
    while (*pos < len && s[*pos] != ' ')
        (*pos)++;
    *flen = (size_t)(s + *pos - *f);
    return 0;
}

int spk_redis_parse_switch_master(const char *payload, size_t len, const char *name,
                                  struct spk_redis_addr *out)
{
    const char *f[5];
    size_t fl[5], pos = 0, extra_len;
    const char *extra;
    for (int i = 0; i < 5; i++)
        if (next_field(payload, len, &pos, &f[i], &fl[i]))
            return -1;
    if (next_field(payload, len, &pos, &extra, &extra_len) == 0)
        return -1;
    if (fl[0] != strlen(name) || memcmp(f[0], name, fl[0]) != 0)
        return -1;
    struct spk_redis_addr a = {0};
    if (fl[3] == 0 || fl[3] > SPK_REDIS_HOST_MAX || parse_port(f[4], fl[4], &a.port))
        return -1;
    for (size_t i = 0; i < fl[3]; i++) /* sentinels send IPv6 addresses unbracketed */
        if (!(is_host_char(f[3][i]) || f[3][i] == ':'))
            return -1;
    memcpy(a.host, f[3], fl[3]);
    a.host[fl[3]] = '\0';
    *out = a;
    return 0;
}
