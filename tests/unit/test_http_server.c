/* The HTTP server end to end on loopback: a real libmicrohttpd daemon on 127.0.0.1 with test
 * handlers, spoken to over plain sockets with hand-written HTTP/1.1. Covers request ids, the
 * error shape for every code, 404/405/413/400/500, HEAD, query decoding, access logging and
 * quiescing with a request in flight. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "spoke/http.h"
#include "expected_errors.h"
#include "unit.h"

#define MAX_BODY 1024

/* ---- what the server reported --------------------------------------------------------- */

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned done_count;
static char done_route[128];
static char done_method[16];
static int done_status;
static size_t done_bytes;

static void on_complete(void *app, const char *method, const char *route, int status, size_t bytes,
                        double seconds)
{
    (void)app;
    pthread_mutex_lock(&done_lock);
    done_count++;
    snprintf(done_route, sizeof(done_route), "%s", route);
    snprintf(done_method, sizeof(done_method), "%s", method);
    done_status = status;
    done_bytes = bytes;
    if (seconds < 0)
        done_status = -1;
    pthread_mutex_unlock(&done_lock);
}

static unsigned completions(void)
{
    pthread_mutex_lock(&done_lock);
    unsigned n = done_count;
    pthread_mutex_unlock(&done_lock);
    return n;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Completion runs after the reply is on the wire, so a test waits for it. */
static int wait_completions(unsigned n)
{
    for (int i = 0; i < 500; i++) {
        if (completions() >= n)
            return 1;
        sleep_ms(10);
    }
    return 0;
}

static int wait_inflight(struct spk_http_server *s, unsigned n)
{
    for (int i = 0; i < 500; i++) {
        if (spk_http_server_inflight(s) == n)
            return 1;
        sleep_ms(10);
    }
    return 0;
}

/* ---- handlers ------------------------------------------------------------------------- */

static void h_hello(struct spk_http_ctx *ctx, void *app)
{
    (void)app;
    spk_http_reply_json(
        ctx, 200,
        json_pack("{s:s, s:s}", "hello", "world", "request_id", spk_http_request_id(ctx)));
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static void h_echo(struct spk_http_ctx *ctx, void *app)
{
    (void)app;
    json_t *o = json_object();
    json_object_set_new(o, "name", str_or_null(spk_http_param(ctx, "name")));
    json_object_set_new(o, "q", str_or_null(spk_http_query(ctx, "q")));
    json_object_set_new(o, "raw", str_or_null(spk_http_query(ctx, "raw")));
    json_object_set_new(o, "bad", str_or_null(spk_http_query(ctx, "bad")));
    json_object_set_new(o, "sp ace", str_or_null(spk_http_query(ctx, "sp ace")));
    json_object_set_new(o, "method", json_string(spk_http_method(ctx)));
    json_object_set_new(o, "route", json_string(spk_http_route(ctx)));
    json_object_set_new(o, "path", json_string(spk_http_path(ctx)));
    spk_http_log_field(ctx, "custom", json_string("value"));
    spk_http_reply_json(ctx, 200, o);
}

static void h_upload(struct spk_http_ctx *ctx, void *app)
{
    size_t len;
    const char *body = spk_http_body(ctx, &len);
    int all_x = 1;
    (void)app;
    for (size_t i = 0; i < len; i++)
        all_x &= body[i] == 'x';
    spk_http_reply_json(ctx, 200, json_pack("{s:I, s:b}", "len", (json_int_t)len, "all_x", all_x));
}

static void h_silent(struct spk_http_ctx *ctx, void *app)
{
    (void)ctx;
    (void)app;
}

static void h_fail(struct spk_http_ctx *ctx, void *app)
{
    (void)app;
    int code = atoi(spk_http_param(ctx, "code"));
    spk_http_reply_errorf(ctx, (enum spk_errcode)code, "failure %d secret-detail", code);
}

static void h_extra(struct spk_http_ctx *ctx, void *app)
{
    (void)app;
    struct spk_error err = {SPK_E_INVALID_SCHEMA, "does not compile"};
    spk_http_add_header(ctx, "X-Custom", "yes");
    spk_http_reply_error(
        ctx, &err,
        json_pack("{s:[{s:s}], s:s}", "details", "file", "a.proto", "code", "must-not-override"));
    /* A second reply is ignored; a header added before the reply is queued still counts. */
    spk_http_reply(ctx, 200, "text/plain", "second", 6);
    spk_http_add_header(ctx, "X-Late", "late");
}

static void h_slow(struct spk_http_ctx *ctx, void *app)
{
    (void)app;
    sleep_ms(300);
    spk_http_reply(ctx, 200, "text/plain", "slow", 4);
}

/* Blocks until a second request arrives here too: only a pool of threads can answer both. */
static pthread_mutex_t meet_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t meet_cond = PTHREAD_COND_INITIALIZER;
static int meet_count;

static void h_meet(struct spk_http_ctx *ctx, void *app)
{
    struct timespec deadline;
    int met;
    (void)app;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 3;
    pthread_mutex_lock(&meet_lock);
    meet_count++;
    pthread_cond_broadcast(&meet_cond);
    while (meet_count < 2 && pthread_cond_timedwait(&meet_cond, &meet_lock, &deadline) != ETIMEDOUT)
        ;
    met = meet_count >= 2;
    pthread_mutex_unlock(&meet_lock);
    spk_http_reply(ctx, met ? 200 : 503, "text/plain", "met", 3);
}

static void h_ok(struct spk_http_ctx *ctx, void *app)
{
    (void)app;
    spk_http_reply(ctx, 204, NULL, NULL, 0);
}

static void h_base(struct spk_http_ctx *ctx, void *app)
{
    (void)app;
    spk_http_reply_json(ctx, 200, json_pack("{s:s}", "base", spk_http_base_url(ctx)));
}

static void h_files(struct spk_http_ctx *ctx, void *app)
{
    (void)app;
    const char *p = spk_http_param(ctx, "path");
    spk_http_reply(ctx, 200, "text/plain", p, strlen(p));
}

static const struct spk_http_route routes[] = {
    {"GET", "/hello", h_hello},
    {"GET", "/echo/{name}", h_echo},
    {"POST", "/upload", h_upload},
    {"GET", "/silent", h_silent},
    {"GET", "/fail/{code}", h_fail},
    {"GET", "/extra", h_extra},
    {"GET", "/slow", h_slow},
    {"GET", "/modules/{name}", h_ok},
    {"PATCH", "/modules/{name}", h_ok},
    {"GET", "/base", h_base},
    {"GET", "/files/{path...}", h_files},
    {"GET", "/meet", h_meet},
};

static struct spk_http_server *start(int access_log)
{
    struct spk_http_server_options opts = {
        .name = "test",
        .host = "127.0.0.1",
        .port = 0,
        .threads = 2,
        .max_body_bytes = MAX_BODY,
        .routes = routes,
        .nroutes = sizeof(routes) / sizeof(routes[0]),
        .on_complete = on_complete,
        .access_log = access_log,
    };
    struct spk_error err = {0};
    struct spk_http_server *s = spk_http_server_create(&opts, &err);
    if (!s)
        fprintf(stderr, "server: %s\n", err.msg);
    CHECK(s != NULL);
    if (s)
        CHECK(spk_http_server_port(s) > 0);
    return s;
}

/* ---- a hand-written HTTP client -------------------------------------------------------- */

struct resp {
    int status;
    char *raw; /* the whole response, NUL-terminated */
    size_t rawlen;
    const char *body;
    size_t body_len;
    char hdr[512]; /* last header looked up */
};

static int connect_port(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {5, 0};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads until the server closes, then splits status, headers and body. */
static int read_resp(int fd, struct resp *r)
{
    size_t cap = 4096;
    memset(r, 0, sizeof(*r));
    r->raw = malloc(cap);
    for (;;) {
        if (r->rawlen + 1 == cap)
            r->raw = realloc(r->raw, cap *= 2);
        ssize_t n = recv(fd, r->raw + r->rawlen, cap - r->rawlen - 1, 0);
        if (n <= 0)
            break;
        r->rawlen += (size_t)n;
    }
    r->raw[r->rawlen] = '\0';
    char *end = strstr(r->raw, "\r\n\r\n");
    if (!end || sscanf(r->raw, "HTTP/1.%*d %d", &r->status) != 1)
        return -1;
    r->body = end + 4;
    r->body_len = r->rawlen - (size_t)(r->body - r->raw);
    return 0;
}

static void resp_free(struct resp *r)
{
    free(r->raw);
    r->raw = NULL;
}

/* One request on a fresh connection; the request must carry "Connection: close". */
static int roundtrip(int port, const char *req, struct resp *r)
{
    int fd = connect_port(port);
    if (fd < 0)
        return -1;
    int rc = send_all(fd, req, strlen(req));
    if (rc == 0)
        rc = read_resp(fd, r);
    close(fd);
    return rc;
}

static int get(int port, const char *method, const char *target, const char *extra_headers,
               struct resp *r)
{
    char req[2048];
    snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: test.local\r\n%sConnection: close\r\n\r\n",
             method, target, extra_headers ? extra_headers : "");
    return roundtrip(port, req, r);
}

/* The first header of that name (case-insensitive) in the response head, or NULL. */
static const char *header(struct resp *r, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = strstr(r->raw, "\r\n");
    while (p && p + 2 < r->body - 2) {
        p += 2;
        const char *eol = strstr(p, "\r\n");
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            while (*v == ' ')
                v++;
            snprintf(r->hdr, sizeof(r->hdr), "%.*s", (int)(eol - v), v);
            return r->hdr;
        }
        p = eol;
    }
    return NULL;
}

static json_t *body_json(const struct resp *r)
{
    json_error_t e;
    return json_loadb(r->body, r->body_len, 0, &e);
}

static int is_hex32(const char *s)
{
    if (!s || strlen(s) != 32)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

/* Checks the one error shape: exactly error, code, request_id; the id matches the header. */
static void check_error(struct resp *r, int status, const char *code)
{
    CHECK_INT_EQ(r->status, status);
    CHECK_STR_EQ(header(r, "Content-Type"), "application/json; charset=utf-8");
    json_t *j = body_json(r);
    CHECK(j != NULL);
    CHECK_STR_EQ(json_string_value(json_object_get(j, "code")), code);
    CHECK(json_is_string(json_object_get(j, "error")));
    CHECK_STR_EQ(json_string_value(json_object_get(j, "request_id")), header(r, "X-Request-Id"));
    json_decref(j);
}

/* ---- tests ----------------------------------------------------------------------------- */

static void test_json_reply_and_request_id(void)
{
    struct spk_http_server *s = start(0);
    int port = spk_http_server_port(s);
    struct resp r;
    char long_id[200], hdrs[300];

    CHECK_INT_EQ(get(port, "GET", "/hello", NULL, &r), 0);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(header(&r, "Content-Type"), "application/json; charset=utf-8");
    CHECK(is_hex32(header(&r, "X-Request-Id")));
    /* Compact JSON. */
    CHECK(r.body_len > 0 && memchr(r.body, '\n', r.body_len) == NULL);
    CHECK(strstr(r.body, "\"hello\":\"world\"") != NULL);
    json_t *j = body_json(&r);
    CHECK_STR_EQ(json_string_value(json_object_get(j, "request_id")), header(&r, "X-Request-Id"));
    json_decref(j);
    resp_free(&r);

    /* Two generated ids differ. */
    char first[64];
    CHECK_INT_EQ(get(port, "GET", "/hello", NULL, &r), 0);
    snprintf(first, sizeof(first), "%s", header(&r, "X-Request-Id"));
    resp_free(&r);
    CHECK_INT_EQ(get(port, "GET", "/hello", NULL, &r), 0);
    CHECK(strcmp(first, header(&r, "X-Request-Id")) != 0);
    resp_free(&r);

    /* A sane id is echoed, on success and on errors. */
    CHECK_INT_EQ(get(port, "GET", "/hello", "X-Request-Id: abc.DEF_1:2-3\r\n", &r), 0);
    CHECK_STR_EQ(header(&r, "X-Request-Id"), "abc.DEF_1:2-3");
    resp_free(&r);
    CHECK_INT_EQ(get(port, "GET", "/nowhere", "X-Request-Id: trace-42\r\n", &r), 0);
    check_error(&r, 404, "not_found");
    CHECK_STR_EQ(header(&r, "X-Request-Id"), "trace-42");
    resp_free(&r);

    /* Insane ones are replaced. */
    static const char *const insane[] = {"bad id", "semi;colon", "quote\"", "slash/x", ""};
    for (size_t i = 0; i < sizeof(insane) / sizeof(insane[0]); i++) {
        snprintf(hdrs, sizeof(hdrs), "X-Request-Id: %s\r\n", insane[i]);
        CHECK_INT_EQ(get(port, "GET", "/hello", hdrs, &r), 0);
        CHECK_INT_EQ(r.status, 200);
        CHECK(is_hex32(header(&r, "X-Request-Id")));
        resp_free(&r);
    }
    memset(long_id, 'a', 128);
    long_id[128] = '\0';
    snprintf(hdrs, sizeof(hdrs), "X-Request-Id: %s\r\n", long_id);
    CHECK_INT_EQ(get(port, "GET", "/hello", hdrs, &r), 0);
    CHECK_STR_EQ(header(&r, "X-Request-Id"), long_id);
    resp_free(&r);
    memcpy(long_id + 128, "a", 2);
    snprintf(hdrs, sizeof(hdrs), "X-Request-Id: %s\r\n", long_id);
    CHECK_INT_EQ(get(port, "GET", "/hello", hdrs, &r), 0);
    CHECK(is_hex32(header(&r, "X-Request-Id")));
    resp_free(&r);

    spk_http_server_destroy(s);
}

static void test_not_found_and_method_not_allowed(void)
{
    struct spk_http_server *s = start(0);
    int port = spk_http_server_port(s);
    unsigned before = completions();
    struct resp r;

    CHECK_INT_EQ(get(port, "GET", "/modules", NULL, &r), 0);
    check_error(&r, 404, "not_found");
    resp_free(&r);
    CHECK(wait_completions(before + 1));
    pthread_mutex_lock(&done_lock);
    CHECK_STR_EQ(done_route, "unmatched");
    CHECK_INT_EQ(done_status, 404);
    pthread_mutex_unlock(&done_lock);

    /* A trailing slash does not reach "/modules/{name}" with an empty name. */
    CHECK_INT_EQ(get(port, "GET", "/modules/", NULL, &r), 0);
    check_error(&r, 404, "not_found");
    resp_free(&r);

    CHECK_INT_EQ(get(port, "DELETE", "/modules/acme", NULL, &r), 0);
    check_error(&r, 405, "method_not_allowed");
    CHECK_STR_EQ(header(&r, "Allow"), "GET, HEAD, PATCH");
    resp_free(&r);

    CHECK_INT_EQ(get(port, "POST", "/hello", "Content-Length: 0\r\n", &r), 0);
    check_error(&r, 405, "method_not_allowed");
    CHECK_STR_EQ(header(&r, "Allow"), "GET, HEAD");
    resp_free(&r);

    CHECK_INT_EQ(get(port, "PATCH", "/modules/acme", "Content-Length: 0\r\n", &r), 0);
    CHECK_INT_EQ(r.status, 204);
    resp_free(&r);

    spk_http_server_destroy(s);
}

static void test_bad_path_is_400(void)
{
    struct spk_http_server *s = start(0);
    int port = spk_http_server_port(s);
    struct resp r;

    static const char *const bad[] = {"/echo/%00", "/echo/a%zz", "/echo/%4", "/nowhere/%00"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_INT_EQ(get(port, "GET", bad[i], NULL, &r), 0);
        check_error(&r, 400, "invalid_argument");
        resp_free(&r);
    }
    spk_http_server_destroy(s);
}

static void test_params_and_query(void)
{
    struct spk_http_server *s = start(0);
    int port = spk_http_server_port(s);
    struct resp r;

    CHECK_INT_EQ(
        get(port, "GET", "/echo/a%20b%2Fc?q=x+y%2Bz%26w&raw&q=second&sp%20ace=1", NULL, &r), 0);
    CHECK_INT_EQ(r.status, 200);
    json_t *j = body_json(&r);
    CHECK_STR_EQ(json_string_value(json_object_get(j, "name")), "a b/c");
    CHECK_STR_EQ(json_string_value(json_object_get(j, "q")), "x y+z&w"); /* first occurrence */
    CHECK_STR_EQ(json_string_value(json_object_get(j, "raw")), "");      /* present, no value */
    CHECK_STR_EQ(json_string_value(json_object_get(j, "sp ace")), "1");
    CHECK_STR_EQ(json_string_value(json_object_get(j, "route")), "/echo/{name}");
    CHECK_STR_EQ(json_string_value(json_object_get(j, "path")), "/echo/a%20b%2Fc");
    CHECK_STR_EQ(json_string_value(json_object_get(j, "method")), "GET");
    json_decref(j);
    resp_free(&r);

    /* A bad escape or an encoded NUL in the query is a 400, not a silently dropped parameter. */
    static const char *const bad_queries[] = {"/echo/a?bad=%zz", "/echo/a?x=%00", "/echo/a?%=1",
                                              "/echo/a?ok=1&p=%4"};
    for (size_t i = 0; i < sizeof(bad_queries) / sizeof(bad_queries[0]); i++) {
        CHECK_INT_EQ(get(port, "GET", bad_queries[i], NULL, &r), 0);
        check_error(&r, 400, "invalid_argument");
        resp_free(&r);
    }

    CHECK_INT_EQ(get(port, "GET", "/echo/x", NULL, &r), 0);
    j = body_json(&r);
    CHECK(json_is_null(json_object_get(j, "q")));
    json_decref(j);
    resp_free(&r);

    CHECK_INT_EQ(get(port, "GET", "/files/google/api/a%2Bb.proto?raw=1", NULL, &r), 0);
    CHECK_INT_EQ(r.status, 200);
    CHECK_INT_EQ(r.body_len, strlen("google/api/a+b.proto"));
    CHECK(memcmp(r.body, "google/api/a+b.proto", r.body_len) == 0);
    resp_free(&r);

    spk_http_server_destroy(s);
}

static void test_head(void)
{
    struct spk_http_server *s = start(0);
    int port = spk_http_server_port(s);
    struct resp r;

    CHECK_INT_EQ(get(port, "HEAD", "/hello", NULL, &r), 0);
    CHECK_INT_EQ(r.status, 200);
    CHECK_INT_EQ(r.body_len, 0);
    CHECK(header(&r, "Content-Length") && atoi(r.hdr) > 0);
    CHECK(is_hex32(header(&r, "X-Request-Id")));
    CHECK_STR_EQ(header(&r, "Content-Type"), "application/json; charset=utf-8");
    resp_free(&r);

    CHECK_INT_EQ(get(port, "HEAD", "/nowhere", NULL, &r), 0);
    CHECK_INT_EQ(r.status, 404);
    CHECK_INT_EQ(r.body_len, 0);
    resp_free(&r);
    spk_http_server_destroy(s);
}

static void test_bodies_and_limits(void)
{
    struct spk_http_server *s = start(0);
    int port = spk_http_server_port(s);
    struct resp r;
    char req[8192];
    char body[MAX_BODY + 1];

    memset(body, 'x', sizeof(body));
    /* Up to the limit is fine. */
    int n = snprintf(req, sizeof(req),
                     "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n"
                     "Connection: close\r\n\r\n%.*s",
                     MAX_BODY, MAX_BODY, body);
    CHECK(n > 0 && (size_t)n < sizeof(req));
    CHECK_INT_EQ(roundtrip(port, req, &r), 0);
    CHECK_INT_EQ(r.status, 200);
    json_t *j = body_json(&r);
    CHECK_INT_EQ(json_integer_value(json_object_get(j, "len")), MAX_BODY);
    CHECK(json_is_true(json_object_get(j, "all_x")));
    json_decref(j);
    resp_free(&r);

    /* An empty body. */
    CHECK_INT_EQ(get(port, "POST", "/upload", "Content-Length: 0\r\n", &r), 0);
    CHECK_INT_EQ(r.status, 200);
    CHECK(strstr(r.body, "\"len\":0") != NULL);
    resp_free(&r);

    /* A declared length somewhat over the limit: the body is read and dropped, then 413, so a
     * client (or proxy) that writes the whole body first still gets the answer. */
    {
        static char big[8192];
        memset(big, 'x', 5000);
        n = snprintf(req, sizeof(req),
                     "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n"
                     "Connection: close\r\n\r\n%.5000s",
                     big);
        CHECK(n > 0 && (size_t)n < sizeof(req));
        CHECK_INT_EQ(roundtrip(port, req, &r), 0);
        check_error(&r, 413, "too_large");
        resp_free(&r);
    }
    /* Refused at once when the client waits for 100-continue, or declares far too much. */
    CHECK_INT_EQ(
        get(port, "POST", "/upload", "Content-Length: 5000\r\nExpect: 100-continue\r\n", &r), 0);
    check_error(&r, 413, "too_large");
    resp_free(&r);
    CHECK_INT_EQ(get(port, "POST", "/upload", "Content-Length: 900000000\r\n", &r), 0);
    check_error(&r, 413, "too_large");
    resp_free(&r);

    /* Chunked within the limit, in several chunks. */
    snprintf(req, sizeof(req),
             "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
             "Connection: close\r\n\r\n"
             "100\r\n%.256s\r\n100\r\n%.256s\r\n0\r\n\r\n",
             body, body);
    CHECK_INT_EQ(roundtrip(port, req, &r), 0);
    CHECK_INT_EQ(r.status, 200);
    CHECK(strstr(r.body, "\"len\":512") != NULL);
    resp_free(&r);

    /* Chunked over the limit: 3 x 512 bytes. */
    snprintf(req, sizeof(req),
             "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
             "Connection: close\r\n\r\n"
             "200\r\n%.512s\r\n200\r\n%.512s\r\n200\r\n%.512s\r\n0\r\n\r\n",
             body, body, body);
    CHECK_INT_EQ(roundtrip(port, req, &r), 0);
    check_error(&r, 413, "too_large");
    resp_free(&r);

    /* The server still serves after all that. */
    CHECK_INT_EQ(get(port, "GET", "/hello", NULL, &r), 0);
    CHECK_INT_EQ(r.status, 200);
    resp_free(&r);
    CHECK(wait_inflight(s, 0));
    spk_http_server_destroy(s);
}

/* A client that streams far past the limit is cut off rather than read forever. */
static void test_endless_body_is_cut(void)
{
    struct spk_http_server *s = start(0);
    int port = spk_http_server_port(s);
    unsigned before = completions();
    const char *head = "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    char chunk[8192 + 16];
    int fd = connect_port(port), failed = 0;

    CHECK(fd >= 0);
    CHECK_INT_EQ(send_all(fd, head, strlen(head)), 0);
    int n = snprintf(chunk, sizeof(chunk), "2000\r\n");
    memset(chunk + n, 'x', 8192);
    memcpy(chunk + n + 8192, "\r\n", 2);
    for (int i = 0; i < 1024 && !failed; i++) /* up to 8 MiB */
        failed = send_all(fd, chunk, (size_t)n + 8192 + 2) != 0;
    CHECK(failed);
    close(fd);
    CHECK(wait_completions(before + 1));
    pthread_mutex_lock(&done_lock);
    CHECK_INT_EQ(done_status, 413);
    pthread_mutex_unlock(&done_lock);
    CHECK(wait_inflight(s, 0));
    spk_http_server_destroy(s);
}

/* A client that goes away mid-upload leaves nothing behind. */
static void test_client_disconnect(void)
{
    struct spk_http_server *s = start(0);
    int port = spk_http_server_port(s);
    unsigned before = completions();
    const char *req = "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 500\r\n\r\nxxxxxxxxxx";
    int fd = connect_port(port);

    CHECK(fd >= 0);
    CHECK_INT_EQ(send_all(fd, req, strlen(req)), 0);
    CHECK(wait_inflight(s, 1));
    close(fd);
    CHECK(wait_completions(before + 1));
    CHECK(wait_inflight(s, 0));
    pthread_mutex_lock(&done_lock);
    CHECK_INT_EQ(done_status, 499);
    CHECK_STR_EQ(done_route, "/upload");
    pthread_mutex_unlock(&done_lock);

    /* And one that leaves mid-headers never reaches the handler at all. */
    fd = connect_port(port);
    CHECK_INT_EQ(send_all(fd, "GET /hello HTTP/1.1\r\nHo", 23), 0);
    close(fd);
    spk_http_server_destroy(s);
}

static void test_keepalive(void)
{
    struct spk_http_server *s = start(0);
    int port = spk_http_server_port(s);
    struct resp r;
    const char *reqs = "GET /hello HTTP/1.1\r\nHost: t\r\nX-Request-Id: one\r\n\r\n"
                       "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxxx"
                       "GET /echo/z?q=2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

    CHECK_INT_EQ(roundtrip(port, reqs, &r), 0);
    int count = 0;
    for (const char *p = r.raw; (p = strstr(p, "HTTP/1.1 200")); p++)
        count++;
    CHECK_INT_EQ(count, 3);
    CHECK(strstr(r.raw, "X-Request-Id: one\r\n") != NULL);
    CHECK(strstr(r.raw, "\"len\":3") != NULL);
    CHECK(strstr(r.raw, "\"q\":\"2\"") != NULL);
    resp_free(&r);
    CHECK(wait_inflight(s, 0));
    spk_http_server_destroy(s);
}

static int meet_arrivals(void)
{
    pthread_mutex_lock(&meet_lock);
    int n = meet_count;
    pthread_mutex_unlock(&meet_lock);
    return n;
}

/* Handlers may block (on Postgres, say): while one does, new connections are accepted and
 * served by the pool's other threads. */
static void test_thread_pool(void)
{
    struct spk_http_server *s = start(0);
    int port = spk_http_server_port(s);
    const char *req = "GET /meet HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    struct resp r1, r2;
    int fd1, fd2;

    meet_count = 0;
    fd1 = connect_port(port);
    CHECK(fd1 >= 0);
    CHECK_INT_EQ(send_all(fd1, req, strlen(req)), 0);
    for (int i = 0; i < 300 && meet_arrivals() < 1; i++)
        sleep_ms(10);
    CHECK_INT_EQ(meet_arrivals(), 1);
    fd2 = connect_port(port);
    CHECK(fd2 >= 0);
    CHECK_INT_EQ(send_all(fd2, req, strlen(req)), 0);
    CHECK_INT_EQ(read_resp(fd1, &r1), 0);
    CHECK_INT_EQ(read_resp(fd2, &r2), 0);
    CHECK_INT_EQ(r1.status, 200);
    CHECK_INT_EQ(r2.status, 200);
    resp_free(&r1);
    resp_free(&r2);
    close(fd1);
    close(fd2);
    spk_http_server_destroy(s);
}

static void test_handler_without_reply_is_500(void)
{
    struct spk_http_server *s = start(0);
    struct resp r;

    CHECK_INT_EQ(get(spk_http_server_port(s), "GET", "/silent", NULL, &r), 0);
    check_error(&r, 500, "internal");
    json_t *j = body_json(&r);
    CHECK_STR_EQ(json_string_value(json_object_get(j, "error")), "internal error");
    json_decref(j);
    resp_free(&r);
    spk_http_server_destroy(s);
}

static void test_error_body_shape(void)
{
    for (size_t i = 0; i < EXPECTED_ERRORS_COUNT; i++) {
        const struct expected_error *x = &expected_errors[i];
        struct spk_error err = {x->code, "module acme not found"};
        json_t *b = spk_http_error_body(&err, "rid-1");

        CHECK_INT_EQ(spk_errcode_http_status(x->code), x->status);
        CHECK_STR_EQ(spk_errcode_name(x->code), x->name);
        CHECK_INT_EQ(json_object_size(b), 3);
        CHECK_STR_EQ(json_string_value(json_object_get(b, "code")), x->name);
        CHECK_STR_EQ(json_string_value(json_object_get(b, "request_id")), "rid-1");
        CHECK_STR_EQ(json_string_value(json_object_get(b, "error")),
                     x->code == SPK_E_INTERNAL ? "internal error" : "module acme not found");
        json_decref(b);
    }
    /* Messages that are not UTF-8 (e.g. cut mid-character) still make a body. */
    struct spk_error err = {SPK_E_INVALID, "bad name \xc3"};
    json_t *b = spk_http_error_body(&err, NULL);
    CHECK(b != NULL);
    CHECK_STR_EQ(json_string_value(json_object_get(b, "error")), "bad name ?");
    CHECK(json_is_null(json_object_get(b, "request_id")));
    json_decref(b);
}

static void test_error_replies(void)
{
    struct spk_http_server *s = start(0);
    int port = spk_http_server_port(s);
    struct resp r;
    char target[64];

    for (size_t i = 0; i < EXPECTED_ERRORS_COUNT; i++) {
        const struct expected_error *x = &expected_errors[i];
        snprintf(target, sizeof(target), "/fail/%d", (int)x->code);
        CHECK_INT_EQ(get(port, "GET", target, NULL, &r), 0);
        check_error(&r, x->status, x->name);
        if (x->code == SPK_E_INTERNAL)
            CHECK(strstr(r.body, "secret-detail") == NULL);
        else
            CHECK(strstr(r.body, "secret-detail") != NULL);
        if (x->code == SPK_E_UNAVAILABLE)
            CHECK_STR_EQ(header(&r, "Retry-After"), "1");
        else
            CHECK(header(&r, "Retry-After") == NULL);
        resp_free(&r);
    }

    /* Extra fields join the body without replacing the three fixed ones. */
    CHECK_INT_EQ(get(port, "GET", "/extra", NULL, &r), 0);
    check_error(&r, 422, "invalid_schema");
    CHECK_STR_EQ(header(&r, "X-Custom"), "yes");
    CHECK_STR_EQ(header(&r, "X-Late"), "late");
    json_t *j = body_json(&r);
    CHECK_STR_EQ(json_string_value(
                     json_object_get(json_array_get(json_object_get(j, "details"), 0), "file")),
                 "a.proto");
    CHECK_STR_EQ(json_string_value(json_object_get(j, "error")), "does not compile");
    json_decref(j);
    resp_free(&r);
    spk_http_server_destroy(s);
}

static void test_base_url(void)
{
    struct spk_http_server *s = start(0);
    int port = spk_http_server_port(s);
    struct resp r;
    char expect[64];

    CHECK_INT_EQ(get(port, "GET", "/base", "X-Forwarded-Proto: https\r\n", &r), 0);
    CHECK(strstr(r.body, "\"base\":\"https://test.local\"") != NULL);
    resp_free(&r);
    CHECK_INT_EQ(get(port, "GET", "/base", NULL, &r), 0);
    CHECK(strstr(r.body, "\"base\":\"http://test.local\"") != NULL);
    resp_free(&r);

    /* No Host (HTTP/1.0): the listen address. */
    CHECK_INT_EQ(roundtrip(port, "GET /base HTTP/1.0\r\n\r\n", &r), 0);
    snprintf(expect, sizeof(expect), "\"base\":\"http://127.0.0.1:%d\"", port);
    CHECK(strstr(r.body, expect) != NULL);
    resp_free(&r);
    spk_http_server_destroy(s);
}

static void test_access_log(void)
{
    char path[] = "/tmp/spoke-http-log-XXXXXX";
    int logfd = mkstemp(path);
    int saved = dup(STDERR_FILENO);
    struct spk_http_server *s = start(1);
    unsigned before = completions();
    struct resp r;

    fflush(stderr);
    dup2(logfd, STDERR_FILENO);
    CHECK_INT_EQ(get(spk_http_server_port(s), "GET", "/echo/acme?q=1",
                     "User-Agent: spoke-test/1.0\r\nX-Request-Id: log-1\r\n", &r),
                 0);
    size_t body_len = r.body_len;
    resp_free(&r);
    CHECK(wait_completions(before + 1));
    spk_http_server_destroy(s);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);

    pthread_mutex_lock(&done_lock);
    CHECK_STR_EQ(done_route, "/echo/{name}");
    CHECK_STR_EQ(done_method, "GET");
    CHECK_INT_EQ(done_status, 200);
    CHECK_INT_EQ(done_bytes, body_len);
    pthread_mutex_unlock(&done_lock);

    FILE *f = fdopen(logfd, "r");
    char line[4096];
    int found = 0;
    rewind(f);
    while (fgets(line, sizeof(line), f)) {
        json_t *j = json_loads(line, 0, NULL);
        const char *route = json_string_value(json_object_get(j, "route"));
        if (route && strcmp(route, "/echo/{name}") == 0) {
            found++;
            CHECK_STR_EQ(json_string_value(json_object_get(j, "method")), "GET");
            CHECK_STR_EQ(json_string_value(json_object_get(j, "path")), "/echo/acme");
            CHECK_INT_EQ(json_integer_value(json_object_get(j, "status")), 200);
            CHECK_INT_EQ(json_integer_value(json_object_get(j, "bytes")), body_len);
            CHECK(json_is_number(json_object_get(j, "duration_ms")));
            CHECK_STR_EQ(json_string_value(json_object_get(j, "request_id")), "log-1");
            CHECK_STR_EQ(json_string_value(json_object_get(j, "user_agent")), "spoke-test/1.0");
            CHECK_STR_EQ(json_string_value(json_object_get(j, "custom")), "value");
        }
        json_decref(j);
    }
    CHECK_INT_EQ(found, 1);
    fclose(f);
    unlink(path);
}

static void test_quiesce_with_request_in_flight(void)
{
    struct spk_http_server *s = start(0);
    int port = spk_http_server_port(s);
    const char *req = "GET /slow HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    struct resp r;
    int fd = connect_port(port);

    CHECK(fd >= 0);
    CHECK_INT_EQ(send_all(fd, req, strlen(req)), 0);
    CHECK(wait_inflight(s, 1));
    spk_http_server_quiesce(s);
    spk_http_server_quiesce(s); /* twice is harmless */

    /* No new connections... */
    int fd2 = connect_port(port);
    CHECK(fd2 < 0);
    if (fd2 >= 0)
        close(fd2);
    /* ...but the one in flight finishes. */
    CHECK_INT_EQ(read_resp(fd, &r), 0);
    CHECK_INT_EQ(r.status, 200);
    CHECK_INT_EQ(r.body_len, 4);
    CHECK(memcmp(r.body, "slow", 4) == 0);
    resp_free(&r);
    close(fd);
    CHECK(wait_inflight(s, 0));
    spk_http_server_destroy(s);
}

/* Destroying with a request still open completes it (and frees it) rather than leaking. */
static void test_destroy_with_open_request(void)
{
    struct spk_http_server *s = start(0);
    const char *req = "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nxx";
    int fd = connect_port(spk_http_server_port(s));

    CHECK_INT_EQ(send_all(fd, req, strlen(req)), 0);
    CHECK(wait_inflight(s, 1));
    spk_http_server_destroy(s);
    close(fd);
}

static void test_create_errors(void)
{
    struct spk_http_server_options opts = {
        .name = "bad", .host = "not-an-ip", .threads = 1, .routes = routes, .nroutes = 1};
    struct spk_error err = {0};

    CHECK(spk_http_server_create(&opts, &err) == NULL);
    CHECK_INT_EQ(err.code, SPK_E_INVALID);
    CHECK(strstr(err.msg, "not-an-ip") != NULL);

    opts.host = "127.0.0.1";
    opts.port = 70000;
    CHECK(spk_http_server_create(&opts, &err) == NULL);
    CHECK_INT_EQ(err.code, SPK_E_INVALID);

    /* A port already taken. */
    struct spk_http_server *s = start(0);
    opts.port = spk_http_server_port(s);
    spk_error_clear(&err);
    CHECK(spk_http_server_create(&opts, &err) == NULL);
    CHECK(err.code != SPK_OK);
    spk_http_server_destroy(s);
    spk_http_server_destroy(NULL);
}

/* IPv6 loopback, where the machine has it. */
static void test_ipv6(void)
{
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int have_v6 = probe >= 0 && bind(probe, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (probe >= 0)
        close(probe);
    if (!have_v6) {
        fprintf(stderr, "ipv6: no ::1 here, skipped\n");
        return;
    }
    struct spk_http_server_options opts = {
        .name = "v6", .host = "::1", .threads = 1, .routes = routes, .nroutes = 2};
    struct spk_error err = {0};
    struct spk_http_server *s = spk_http_server_create(&opts, &err);
    CHECK(s != NULL);
    if (!s)
        return;
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    a.sin6_port = htons((uint16_t)spk_http_server_port(s));
    CHECK_INT_EQ(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    const char *req = "GET /base HTTP/1.0\r\n\r\n";
    struct resp r;
    CHECK_INT_EQ(send_all(fd, req, strlen(req)), 0);
    CHECK_INT_EQ(read_resp(fd, &r), 0);
    CHECK_INT_EQ(r.status, 404); /* /base is not in the first two rows */
    resp_free(&r);
    close(fd);
    spk_http_server_destroy(s);
}

static const struct unit_test tests[] = {
    {"json_reply_and_request_id", test_json_reply_and_request_id},
    {"not_found_and_method_not_allowed", test_not_found_and_method_not_allowed},
    {"bad_path_is_400", test_bad_path_is_400},
    {"params_and_query", test_params_and_query},
    {"head", test_head},
    {"bodies_and_limits", test_bodies_and_limits},
    {"endless_body_is_cut", test_endless_body_is_cut},
    {"client_disconnect", test_client_disconnect},
    {"keepalive", test_keepalive},
    {"thread_pool", test_thread_pool},
    {"handler_without_reply_is_500", test_handler_without_reply_is_500},
    {"error_body_shape", test_error_body_shape},
    {"error_replies", test_error_replies},
    {"base_url", test_base_url},
    {"access_log", test_access_log},
    {"quiesce_with_request_in_flight", test_quiesce_with_request_in_flight},
    {"destroy_with_open_request", test_destroy_with_open_request},
    {"create_errors", test_create_errors},
    {"ipv6", test_ipv6},
};

UNIT_MAIN(tests)
