/* The CLI's HTTP client on libcurl: one handle (connections are reused across a command's
 * requests), timeouts on connect, on the whole request and on stalls, a cap on response bodies,
 * no redirects (a token must not follow one), and bounded retries with backoff for idempotent
 * requests that honour Retry-After. The token goes into one header and nowhere else. */
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "spoke/alloc.h"
#include "spoke/buf.h"
#include "spoke/cli.h"
#include "spoke/time.h"
#include "spoke/banned.h"

#define BACKOFF_FIRST_MS  250
#define BACKOFF_MAX_MS    8000
#define RETRY_AFTER_MAX_S 120
#define STALL_SECONDS     30 /* abort a transfer that moves nothing for this long */
#define PROGRESS_AFTER_US 1000000
#define PROGRESS_EVERY_US 200000

struct spk_cli_http {
    CURL *curl;
    struct spk_cli_http_options o;
    char *base_url;
    char *auth_header; /* "Authorization: Bearer …" or NULL */
    unsigned long long rng;
};

/* State of one attempt, reached from the curl callbacks. */
struct attempt {
    struct spk_cli_http *h;
    struct spk_buf body;
    int too_large;
    long retry_after_s;
    char *link_next;
    char *request_id;
    const char *label;
    int64_t started_us, last_progress_us;
    int progress_shown;
};

struct spk_cli_http *spk_cli_http_create(const struct spk_cli_http_options *opts,
                                         struct spk_error *err)
{
    CURL *curl = curl_easy_init();
    if (!curl) {
        spk_error_set(err, SPK_E_INTERNAL, "cannot initialise libcurl");
        return NULL;
    }
    struct spk_cli_http *h = spk_calloc(1, sizeof(*h));
    h->curl = curl;
    h->o = *opts;
    h->base_url = spk_strdup(opts->base_url);
    size_t n = strlen(h->base_url);
    while (n > 0 && h->base_url[n - 1] == '/')
        h->base_url[--n] = '\0';
    h->o.base_url = h->base_url;
    if (opts->token && opts->token[0])
        h->auth_header = spk_asprintf("Authorization: Bearer %s", opts->token);
    h->o.token = NULL; /* only auth_header carries it from here on */
    h->rng = (unsigned long long)spk_time_now_us() ^ ((unsigned long long)getpid() << 32);
    return h;
}

void spk_cli_http_destroy(struct spk_cli_http *h)
{
    if (!h)
        return;
    curl_easy_cleanup(h->curl);
    free(h->base_url);
    if (h->auth_header) {
        explicit_bzero(h->auth_header, strlen(h->auth_header));
        free(h->auth_header);
    }
    free(h);
}

void spk_cli_response_release(struct spk_cli_response *r)
{
    if (!r)
        return;
    free(r->body);
    free(r->link_next);
    free(r->request_id);
    memset(r, 0, sizeof(*r));
}

/* ---- retry policy (pure) -------------------------------------------------------------------- */

int spk_cli_retryable_status(long status)
{
    return status == 429 || status == 502 || status == 503 || status == 504;
}

long spk_cli_retry_delay_ms(int attempt, long retries, long retry_after_s, long elapsed_ms,
                            long window_ms, double jitter)
{
    if (attempt < 1 || attempt > retries)
        return -1;
    long backoff = BACKOFF_FIRST_MS;
    for (int i = 1; i < attempt && backoff < BACKOFF_MAX_MS; i++)
        backoff *= 2;
    if (backoff > BACKOFF_MAX_MS)
        backoff = BACKOFF_MAX_MS;
    /* "Equal jitter": half the backoff is fixed, half is spread. */
    long delay = backoff / 2 + (long)((double)(backoff / 2) * jitter);
    if (retry_after_s >= 0) {
        long ra = (retry_after_s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : retry_after_s) * 1000;
        if (ra > delay)
            delay = ra;
    }
    if (elapsed_ms + delay > window_ms)
        return -1;
    return delay;
}

static int retryable_curl(CURLcode rc)
{
    static const CURLcode rows[] = {
        CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT,
        CURLE_SEND_ERROR,           CURLE_RECV_ERROR,      CURLE_GOT_NOTHING,
        CURLE_PARTIAL_FILE,         CURLE_HTTP2,           CURLE_HTTP2_STREAM,
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (rc == rows[i])
            return 1;
    return 0;
}

static double next_jitter(struct spk_cli_http *h)
{
    /* xorshift64: spreading retries needs no more than this. */
    h->rng ^= h->rng << 13;
    h->rng ^= h->rng >> 7;
    h->rng ^= h->rng << 17;
    return (double)(h->rng >> 11) / (double)(1ULL << 53);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- Link headers (pure) -------------------------------------------------------------------- */

char *spk_cli_link_next(const char *header)
{
    const char *p = header;
    while (p && *p) {
        const char *lt = strchr(p, '<');
        if (!lt)
            return NULL;
        const char *gt = strchr(lt + 1, '>');
        if (!gt)
            return NULL;
        /* Parameters run to the next link (a ',' outside quotes) or the end. */
        const char *q = gt + 1, *end = q;
        int quoted = 0;
        while (*end && (quoted || *end != ',')) {
            if (*end == '"')
                quoted = !quoted;
            end++;
        }
        for (const char *r = q; r + 3 <= end; r++) {
            if (strncasecmp(r, "rel", 3) != 0)
                continue;
            const char *v = r + 3;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            if (v >= end || *v != '=')
                continue;
            v++;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            int dq = v < end && *v == '"';
            if (dq)
                v++;
            /* rel may list several space-separated types: "next last". */
            while (v < end && *v != '"' && *v != ';') {
                const char *w = v;
                while (v < end && *v != ' ' && *v != '"' && *v != ';')
                    v++;
                if (v - w == 4 && strncasecmp(w, "next", 4) == 0)
                    return spk_strndup(lt + 1, (size_t)(gt - lt - 1));
                while (v < end && *v == ' ')
                    v++;
                if (!dq)
                    break;
            }
        }
        p = *end ? end + 1 : end;
    }
    return NULL;
}

const char *spk_cli_url_query(const char *url)
{
    const char *q = url ? strchr(url, '?') : NULL;
    return q ? q + 1 : NULL;
}

char *spk_cli_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    struct spk_buf b = SPK_BUF_INIT;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            spk_buf_append(&b, p, 1);
        } else {
            char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            spk_buf_append(&b, enc, 3);
        }
    }
    return spk_buf_detach(&b, NULL);
}

/* ---- curl callbacks ------------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct attempt *a = arg;
    size_t n = size * nmemb;
    if (a->body.len + n > (size_t)a->h->o.max_response_bytes) {
        a->too_large = 1;
        return 0; /* makes curl fail the transfer with CURLE_WRITE_ERROR */
    }
    spk_buf_append(&a->body, data, n);
    return n;
}

/* Copies a header's value (trimmed) when the line is "name: value". */
static char *header_value(const char *line, size_t len, const char *name)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return NULL;
    const char *v = line + nl + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    return spk_strndup(v, (size_t)(end - v));
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *arg)
{
    struct attempt *a = arg;
    size_t n = size * nmemb;
    char *v;
    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* A new response (after a 100 Continue, say): forget the previous one's headers. */
        a->retry_after_s = -1;
        free(a->link_next);
        a->link_next = NULL;
        free(a->request_id);
        a->request_id = NULL;
    } else if ((v = header_value(line, n, "Retry-After"))) {
        char *end;
        long s = strtol(v, &end, 10);
        if (end != v && *end == '\0' && s >= 0)
            a->retry_after_s = s; /* an HTTP-date is left to the backoff */
        free(v);
    } else if ((v = header_value(line, n, "Link"))) {
        char *next = spk_cli_link_next(v);
        if (next && !a->link_next)
            a->link_next = next;
        else
            free(next);
        free(v);
    } else if ((v = header_value(line, n, "X-Request-Id"))) {
        free(a->request_id);
        a->request_id = v;
    }
    return n;
}

static void human_bytes(char *out, size_t outsz, curl_off_t n)
{
    if (n >= 1024 * 1024)
        snprintf(out, outsz, "%.1f MiB", (double)n / (1024.0 * 1024.0));
    else if (n >= 1024)
        snprintf(out, outsz, "%.1f KiB", (double)n / 1024.0);
    else
        snprintf(out, outsz, "%ld B", (long)n);
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct attempt *a = arg;
    int64_t now = spk_time_mono_us();
    if (now - a->started_us < PROGRESS_AFTER_US || now - a->last_progress_us < PROGRESS_EVERY_US)
        return 0;
    a->last_progress_us = now;
    a->progress_shown = 1;
    char done[32], total[32];
    int up = ultotal > 0 && ulnow < ultotal;
    human_bytes(done, sizeof(done), up ? ulnow : dlnow);
    human_bytes(total, sizeof(total), up ? ultotal : dltotal);
    fprintf(stderr, "\r%s: %s %s%s%s   ", a->label, up ? "sent" : "received", done,
            (up ? ultotal : dltotal) > 0 ? " of " : "", (up ? ultotal : dltotal) > 0 ? total : "");
    fflush(stderr);
    return 0;
}

/* ---- requests ------------------------------------------------------------------------------- */

static CURLcode perform(struct spk_cli_http *h, const char *method, const char *url,
                        const char *body, size_t body_len, long timeout_ms, struct attempt *a,
                        char *errbuf)
{
    CURL *c = h->curl;
    struct curl_slist *hdrs = NULL;
    curl_easy_reset(c);
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (body)
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json; charset=utf-8");
    if (h->auth_header)
        hdrs = curl_slist_append(hdrs, h->auth_header);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "spoke/" SPOKE_VERSION);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* the size cap applies after decoding */
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->o.connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)STALL_SECONDS);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->o.max_response_bytes);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    if (h->o.progress && a->label) {
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, a);
    }
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
    }
    errbuf[0] = '\0';
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(hdrs);
    if (a->progress_shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    return rc;
}

static void attempt_reset(struct attempt *a)
{
    spk_buf_release(&a->body);
    free(a->link_next);
    free(a->request_id);
    a->link_next = a->request_id = NULL;
    a->too_large = 0;
    a->retry_after_s = -1;
    a->progress_shown = 0;
    a->started_us = a->last_progress_us = spk_time_mono_us();
}

int spk_cli_http_request(struct spk_cli_http *h, const char *method, const char *path,
                         const char *body, size_t body_len, int flags, const char *label,
                         struct spk_cli_response *resp, struct spk_error *err)
{
    char *url = spk_asprintf("%s%s", h->base_url, path);
    char errbuf[CURL_ERROR_SIZE];
    struct attempt a = {.h = h, .label = label};
    int64_t first = spk_time_mono_us();
    long retries = (flags & SPK_CLI_HTTP_RETRY) ? h->o.retries : 0;
    int rc = -1;

    memset(resp, 0, sizeof(*resp));
    for (int n = 1;; n++) {
        attempt_reset(&a);
        CURLcode cc = perform(h, method, url, body, body_len, h->o.timeout_ms, &a, errbuf);
        long elapsed = (long)((spk_time_mono_us() - first) / 1000);
        resp->attempts = n;
        long delay;
        if (cc == CURLE_OK) {
            long status = 0;
            curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
            delay = spk_cli_retryable_status(status)
                        ? spk_cli_retry_delay_ms(n, retries, a.retry_after_s, elapsed,
                                                 h->o.retry_window_ms, next_jitter(h))
                        : -1;
            if (delay < 0) {
                resp->status = status;
                resp->body = spk_buf_detach(&a.body, &resp->len);
                resp->link_next = a.link_next;
                resp->request_id = a.request_id;
                a.link_next = a.request_id = NULL;
                rc = 0;
                break;
            }
        } else {
            if (a.too_large || cc == CURLE_FILESIZE_EXCEEDED) {
                spk_error_set(err, SPK_E_TOO_LARGE,
                              "the response to %s %s is larger than the client's limit of %ld MiB",
                              method, path, h->o.max_response_bytes / (1024 * 1024));
                break;
            }
            if (cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL) {
                spk_error_set(err, SPK_E_INVALID, "bad registry URL: %s",
                              errbuf[0] ? errbuf : curl_easy_strerror(cc));
                break;
            }
            delay = retryable_curl(cc)
                        ? spk_cli_retry_delay_ms(n, retries, -1, elapsed, h->o.retry_window_ms,
                                                 next_jitter(h))
                        : -1;
            if (delay < 0) {
                char *shown = spk_cli_url_redact(h->base_url);
                spk_error_set(err, SPK_E_UNAVAILABLE,
                              "cannot reach the registry at %s: %s (%d attempt%s in %.1fs)", shown,
                              errbuf[0] ? errbuf : curl_easy_strerror(cc), n, n == 1 ? "" : "s",
                              (double)elapsed / 1000.0);
                free(shown);
                break;
            }
        }
        sleep_ms(delay);
    }
    attempt_reset(&a);
    spk_buf_release(&a.body);
    free(url);
    return rc;
}

/* ---- reading responses ---------------------------------------------------------------------- */

json_t *spk_cli_response_json(const struct spk_cli_response *r)
{
    if (!r->body || r->len == 0)
        return NULL;
    return json_loadb(r->body, r->len, JSON_ALLOW_NUL, NULL);
}

void spk_cli_response_code(const struct spk_cli_response *r, char *out, size_t outsz)
{
    json_t *j = spk_cli_response_json(r);
    snprintf(out, outsz, "%s", spk_cli_jstr(j, "code"));
    json_decref(j);
}

char *spk_cli_response_message(const struct spk_cli_response *r)
{
    json_t *j = spk_cli_response_json(r);
    const char *text = spk_cli_jstr(j, "error"), *code = spk_cli_jstr(j, "code");
    char *shown;
    if (text[0]) {
        shown = spk_cli_printable(text, strlen(text));
    } else {
        /* Not our error shape (a proxy's page, say): a short, printable excerpt. */
        size_t n = r->len > 200 ? 200 : r->len;
        shown = n ? spk_cli_printable(r->body, n) : spk_strdup("no details in the response");
    }
    struct spk_buf b = SPK_BUF_INIT;
    spk_buf_printf(&b, "%s (HTTP %ld", shown, r->status);
    if (code[0]) {
        char *c = spk_cli_printable(code, strlen(code));
        spk_buf_printf(&b, " %s", c);
        free(c);
    }
    const char *rid = r->request_id ? r->request_id : spk_cli_jstr(j, "request_id");
    if (rid[0]) {
        char *id = spk_cli_printable(rid, strlen(rid));
        spk_buf_printf(&b, ", request id %s", id);
        free(id);
    }
    spk_buf_puts(&b, ")");
    free(shown);
    json_decref(j);
    return spk_buf_detach(&b, NULL);
}
