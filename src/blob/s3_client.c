/* The S3 REST client: URL building in both addressing styles, AWS query/URI encoding, and
 * signed requests through libcurl with bounded, jittered retries. Connections are kept alive
 * across requests by a small pool of curl easy handles (each keeps its own connection cache), so
 * handler threads never share a handle and a request finds a warm connection most of the time.
 * It knows nothing of blobs; s3.c gives the requests their meaning. */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "s3_internal.h"
#include "spoke/alloc.h"
#include "spoke/blob.h"
#include "spoke/error.h"
#include "spoke/log.h"
#include "spoke/sha256.h"
#include "spoke/time.h"
#include "spoke/banned.h"

#define POOL_MAX        32 /* idle handles kept; more are closed on release */
#define BACKOFF_BASE_MS 50 /* first retry waits 25-50 ms, then doubling */
#define BACKOFF_MAX_MS  1000
#define ERROR_BODY_MAX  65536 /* error replies are small XML documents */

struct spk_s3_client {
    char *scheme;    /* "http" or "https" */
    char *host;      /* as written in the endpoint (IPv6 in brackets) */
    char *port;      /* ":9000" or "" */
    char *base_path; /* "" or "/prefix", no trailing slash */
    char *bucket;
    char *region;
    char *access_key; /* NULL: unsigned requests */
    char *secret_key;
    char *sigv4; /* "aws:amz:<region>:s3" */
    char *connect_to;
    int path_style;
    int timeout_ms;
    int max_retries;

    pthread_mutex_t mu; /* guards idle */
    CURL *idle[POOL_MAX];
    size_t nidle;
};

/* ---- encoding ---- */

void spk_s3_uri_encode(struct spk_buf *out, const char *s, size_t n, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/');
        if (keep) {
            spk_buf_append(out, (const char *)&c, 1);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            spk_buf_append(out, esc, 3);
        }
    }
}

struct encoded_param {
    char *name;
    char *value;
};

static int cmp_params(const void *a, const void *b)
{
    const struct encoded_param *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static char *encode_str(const char *s, int keep_slash)
{
    struct spk_buf b = SPK_BUF_INIT;
    spk_buf_puts(&b, "");
    spk_s3_uri_encode(&b, s, strlen(s), keep_slash);
    return spk_buf_detach(&b, NULL);
}

char *spk_s3_query_canonical(const struct spk_s3_param *params, size_t n)
{
    struct spk_buf b = SPK_BUF_INIT;
    spk_buf_puts(&b, "");
    if (n == 0)
        return spk_buf_detach(&b, NULL);
    struct encoded_param *enc = spk_calloc(n, sizeof(*enc));
    for (size_t i = 0; i < n; i++) {
        enc[i].name = encode_str(params[i].name, 0);
        enc[i].value = encode_str(params[i].value ? params[i].value : "", 0);
    }
    qsort(enc, n, sizeof(*enc), cmp_params);
    for (size_t i = 0; i < n; i++) {
        spk_buf_printf(&b, "%s%s=%s", i ? "&" : "", enc[i].name, enc[i].value);
        free(enc[i].name);
        free(enc[i].value);
    }
    free(enc);
    return spk_buf_detach(&b, NULL);
}

/* ---- endpoint and URLs ---- */

static int host_is_ip(const char *host)
{
    char buf[64];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
        return 1;
    unsigned char addr[16];
    snprintf(buf, sizeof(buf), "%s", host);
    return inet_pton(AF_INET, buf, addr) == 1;
}

/* Splits "http(s)://host[:port][/base]" into the client's fields. */
static int parse_endpoint(struct spk_s3_client *c, const char *endpoint, struct spk_error *err)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *user = NULL, *query = NULL;
    int rc = -1;
    if (!u || curl_url_set(u, CURLUPART_URL, endpoint, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        spk_error_set(err, SPK_E_INVALID, "SPOKE_S3_ENDPOINT is not a valid URL");
        goto out;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        spk_error_set(err, SPK_E_INVALID, "SPOKE_S3_ENDPOINT must be an http:// or https:// URL");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK) {
        spk_error_set(err, SPK_E_INVALID,
                      "SPOKE_S3_ENDPOINT must not carry credentials or a query string "
                      "(use SPOKE_S3_ACCESS_KEY/SPOKE_S3_SECRET_KEY)");
        goto out;
    }
    curl_url_get(u, CURLUPART_PORT, &port, 0);
    curl_url_get(u, CURLUPART_PATH, &path, 0);
    c->scheme = spk_strdup(scheme);
    c->host = spk_strdup(host);
    c->port = port ? spk_asprintf(":%s", port) : spk_strdup("");
    size_t plen = path ? strlen(path) : 0;
    while (plen > 0 && path[plen - 1] == '/')
        plen--;
    c->base_path = spk_strndup(path ? path : "", plen);
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(user);
    curl_free(query);
    curl_url_cleanup(u);
    return rc;
}

char *spk_s3_url(const struct spk_s3_client *c, const char *key, const char *query)
{
    struct spk_buf b = SPK_BUF_INIT;
    if (c->path_style) {
        spk_buf_printf(&b, "%s://%s%s%s/", c->scheme, c->host, c->port, c->base_path);
        spk_s3_uri_encode(&b, c->bucket, strlen(c->bucket), 0);
        if (key)
            spk_buf_puts(&b, "/");
    } else {
        spk_buf_printf(&b, "%s://%s.%s%s%s/", c->scheme, c->bucket, c->host, c->port, c->base_path);
    }
    if (key)
        spk_s3_uri_encode(&b, key, strlen(key), 1);
    if (query && *query)
        spk_buf_printf(&b, "?%s", query);
    return spk_buf_detach(&b, NULL);
}

/* ---- lifecycle ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void on_curl_init(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct spk_s3_client *spk_s3_client_create(const struct spk_blob_s3_options *o,
                                           struct spk_error *err)
{
    pthread_once(&curl_once, on_curl_init);
    if (curl_init_result != CURLE_OK) {
        spk_error_set(err, SPK_E_INTERNAL, "libcurl could not be initialised");
        return NULL;
    }
    if (!o->bucket || !*o->bucket || !o->region || !*o->region) {
        spk_error_set(err, SPK_E_INVALID, "SPOKE_S3_BUCKET and SPOKE_S3_REGION must be set");
        return NULL;
    }
    struct spk_s3_client *c = spk_calloc(1, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    if (parse_endpoint(c, o->endpoint ? o->endpoint : "", err)) {
        spk_s3_client_destroy(c);
        return NULL;
    }
    if (!o->path_style && host_is_ip(c->host)) {
        spk_s3_client_destroy(c);
        spk_error_set(err, SPK_E_INVALID,
                      "SPOKE_S3_ENDPOINT is an IP address: set SPOKE_S3_USE_PATH_STYLE=true "
                      "(virtual-host addressing needs a DNS name)");
        return NULL;
    }
    c->bucket = spk_strdup(o->bucket);
    c->region = spk_strdup(o->region);
    if (o->access_key && *o->access_key) {
        c->access_key = spk_strdup(o->access_key);
        c->secret_key = spk_strdup(o->secret_key ? o->secret_key : "");
    }
    c->sigv4 = spk_asprintf("aws:amz:%s:s3", o->region);
    c->connect_to = o->connect_to ? spk_strdup(o->connect_to) : NULL;
    c->path_style = o->path_style;
    c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 5000;
    c->max_retries = o->max_retries >= 0 ? o->max_retries : 0;
    return c;
}

void spk_s3_client_destroy(struct spk_s3_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nidle; i++)
        curl_easy_cleanup(c->idle[i]);
    pthread_mutex_destroy(&c->mu);
    free(c->scheme);
    free(c->host);
    free(c->port);
    free(c->base_path);
    free(c->bucket);
    free(c->region);
    free(c->access_key);
    if (c->secret_key)
        explicit_bzero(c->secret_key, strlen(c->secret_key));
    free(c->secret_key);
    free(c->sigv4);
    free(c->connect_to);
    free(c);
}

const char *spk_s3_client_bucket(const struct spk_s3_client *c)
{
    return c->bucket;
}

const char *spk_s3_client_region(const struct spk_s3_client *c)
{
    return c->region;
}

void spk_s3_response_release(struct spk_s3_response *r)
{
    if (r)
        spk_buf_release(&r->body);
}

/* ---- the handle pool ---- */

static CURL *handle_acquire(struct spk_s3_client *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->mu);
    if (c->nidle > 0)
        h = c->idle[--c->nidle];
    pthread_mutex_unlock(&c->mu);
    if (h)
        curl_easy_reset(h); /* options go, the connection cache stays */
    else
        h = curl_easy_init();
    return h;
}

static void handle_release(struct spk_s3_client *c, CURL *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&c->mu);
    if (c->nidle < POOL_MAX) {
        c->idle[c->nidle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    if (h)
        curl_easy_cleanup(h);
}

/* ---- one transfer ---- */

struct upload {
    const char *data;
    size_t len;
    size_t off;
};

static size_t on_read(char *dst, size_t size, size_t nitems, void *arg)
{
    struct upload *u = arg;
    size_t n = size * nitems;
    if (n > u->len - u->off)
        n = u->len - u->off;
    memcpy(dst, u->data + u->off, n);
    u->off += n;
    return n;
}

/* curl rewinds the body when it resends on a fresh connection. */
static int on_seek(void *arg, curl_off_t offset, int origin)
{
    struct upload *u = arg;
    if (origin != SEEK_SET || offset < 0 || (size_t)offset > u->len)
        return CURL_SEEKFUNC_CANTSEEK;
    u->off = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

struct sink {
    struct spk_buf *buf;
    size_t max;
    int overflow;
};

static size_t on_write(char *src, size_t size, size_t nitems, void *arg)
{
    struct sink *s = arg;
    size_t n = size * nitems;
    if (s->buf->len + n > s->max) {
        s->overflow = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    spk_buf_append(s->buf, src, n);
    return n;
}

static struct curl_slist *request_headers(const struct spk_s3_request *req)
{
    char sha[SPK_SHA256_HEX_LEN + 1];
    char line[128];
    struct curl_slist *h = NULL;
    spk_sha256_hex(req->body ? req->body : "", req->body ? req->body_len : 0, sha);
    snprintf(line, sizeof(line), "x-amz-content-sha256: %s", sha);
    h = curl_slist_append(h, line);
    for (const char *const *p = req->headers; p && *p; p++)
        h = curl_slist_append(h, *p);
    return h;
}

static void setup(struct spk_s3_client *c, CURL *h, const struct spk_s3_request *req,
                  const char *url, struct curl_slist *headers, struct curl_slist *connect_to,
                  struct upload *up, struct sink *sink, char *errbuf)
{
    long timeout = req->timeout_ms > 0 ? req->timeout_ms : c->timeout_ms;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (connect_to)
        curl_easy_setopt(h, CURLOPT_CONNECT_TO, connect_to);
    if (c->access_key) {
        curl_easy_setopt(h, CURLOPT_AWS_SIGV4, c->sigv4);
        curl_easy_setopt(h, CURLOPT_USERNAME, c->access_key);
        curl_easy_setopt(h, CURLOPT_PASSWORD, c->secret_key);
    }
    if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(req->method, "PUT") == 0) {
        /* An upload, not POSTFIELDS: curl would add a Content-Type that it signs. */
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, up);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, up);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)up->len);
    } else if (strcmp(req->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
    }
}

static int retryable_status(long status)
{
    return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

static void backoff_sleep(int attempt)
{
    int ceiling = BACKOFF_BASE_MS << (attempt - 1 < 5 ? attempt - 1 : 5);
    if (ceiling > BACKOFF_MAX_MS)
        ceiling = BACKOFF_MAX_MS;
    unsigned seed = (unsigned)spk_time_mono_us() ^ (unsigned)(uintptr_t)&attempt;
    int ms = ceiling / 2 + (int)(rand_r(&seed) % (unsigned)(ceiling / 2 + 1));
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

int spk_s3_perform(struct spk_s3_client *c, const struct spk_s3_request *req,
                   struct spk_s3_response *resp, struct spk_error *err)
{
    char *query = spk_s3_query_canonical(req->params, req->nparams);
    char *url = spk_s3_url(c, req->key, query);
    struct curl_slist *headers = request_headers(req);
    struct curl_slist *connect_to = c->connect_to ? curl_slist_append(NULL, c->connect_to) : NULL;
    int attempts = req->attempts > 0 ? req->attempts : 1 + c->max_retries;
    char errbuf[CURL_ERROR_SIZE] = "";
    CURLcode cc = CURLE_OK;
    int rc = -1;

    resp->status = 0;
    resp->code[0] = '\0';
    resp->content_length = -1;
    for (int attempt = 0; attempt < attempts; attempt++) {
        if (attempt > 0)
            backoff_sleep(attempt);
        CURL *h = handle_acquire(c);
        if (!h) {
            spk_error_set(err, SPK_E_INTERNAL, "libcurl handle allocation failed");
            goto out;
        }
        struct upload up = {req->body, req->body ? req->body_len : 0, 0};
        spk_buf_reset(&resp->body);
        struct sink sink = {&resp->body, req->max_body ? req->max_body : ERROR_BODY_MAX, 0};
        errbuf[0] = '\0';
        setup(c, h, req, url, headers, connect_to, &up, &sink, errbuf);
        cc = curl_easy_perform(h);
        long status = 0;
        curl_off_t clen = -1;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
        handle_release(c, h);
        if (cc == CURLE_WRITE_ERROR && sink.overflow) {
            spk_logf(SPK_LOG_ERROR, NULL, "s3 %s %s: reply larger than %zu bytes", req->method,
                     req->key ? req->key : "(bucket)", sink.max);
            spk_error_set(err, SPK_E_INTERNAL, "blob store reply too large");
            goto out;
        }
        if (cc != CURLE_OK) {
            spk_logf(SPK_LOG_DEBUG, NULL, "s3 %s %s: attempt %d/%d: %s", req->method,
                     req->key ? req->key : "(bucket)", attempt + 1, attempts,
                     errbuf[0] ? errbuf : curl_easy_strerror(cc));
            continue;
        }
        resp->status = status;
        resp->content_length = (int64_t)clen;
        if (retryable_status(status) && attempt + 1 < attempts) {
            spk_logf(SPK_LOG_DEBUG, NULL, "s3 %s %s: attempt %d/%d: HTTP %ld", req->method,
                     req->key ? req->key : "(bucket)", attempt + 1, attempts, status);
            continue;
        }
        rc = 0;
        break;
    }
    if (rc != 0) {
        spk_logf(req->quiet ? SPK_LOG_DEBUG : SPK_LOG_WARN, NULL,
                 "s3 %s %s failed after %d attempt(s): %s", req->method,
                 req->key ? req->key : "(bucket)", attempts,
                 errbuf[0] ? errbuf : curl_easy_strerror(cc));
        spk_error_set(err, SPK_E_UNAVAILABLE, "blob store unavailable");
        goto out;
    }
    if (resp->status >= 300 && resp->body.len > 0) {
        struct spk_buf code = SPK_BUF_INIT;
        size_t pos = 0;
        if (spk_s3_xml_find(resp->body.data, resp->body.len, &pos, "Code", &code) == 0 && code.data)
            snprintf(resp->code, sizeof(resp->code), "%s", code.data);
        spk_buf_release(&code);
    }
out:
    curl_slist_free_all(connect_to);
    curl_slist_free_all(headers);
    free(url);
    free(query);
    return rc;
}
