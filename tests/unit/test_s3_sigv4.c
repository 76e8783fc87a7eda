/* The S3 client's requests as S3 sees them: AWS Signature V4 known answers from the S3 docs'
 * examples (the request is sent to a loopback socket that records it, with x-amz-date fixed),
 * AWS query and URI encoding, blob keys, and URL building in both addressing styles. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "spoke/blob.h"
#include "spoke/error.h"
#include "unit.h"

#include "../../src/blob/s3_internal.h"

#define EX_ACCESS "AKIAIOSFODNN7EXAMPLE"
#define EX_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EX_DATE   "x-amz-date: 20130524T000000Z"
#define EX_SCOPE  "Credential=" EX_ACCESS "/20130524/us-east-1/s3/aws4_request"

/* ---- a loopback server that records one request ---- */

struct capture {
    int listen_fd;
    int port;
    pthread_t thread;
    char request[16384]; /* request line and headers */
};

static void *on_capture(void *arg)
{
    struct capture *cap = arg;
    int fd = accept(cap->listen_fd, NULL, NULL);
    if (fd < 0)
        return NULL;
    size_t len = 0;
    while (len < sizeof(cap->request) - 1) {
        ssize_t n = recv(fd, cap->request + len, sizeof(cap->request) - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        cap->request[len] = '\0';
        if (strstr(cap->request, "\r\n\r\n"))
            break;
    }
    static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    ssize_t w = send(fd, reply, sizeof(reply) - 1, MSG_NOSIGNAL);
    (void)w;
    shutdown(fd, SHUT_WR);
    char drain[4096];
    while (recv(fd, drain, sizeof(drain), 0) > 0)
        ;
    close(fd);
    return NULL;
}

static void capture_start(struct capture *cap)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    memset(cap, 0, sizeof(*cap));
    cap->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(cap->listen_fd >= 0);
    CHECK(bind(cap->listen_fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    CHECK(listen(cap->listen_fd, 1) == 0);
    CHECK(getsockname(cap->listen_fd, (struct sockaddr *)&a, &alen) == 0);
    cap->port = ntohs(a.sin_port);
    pthread_create(&cap->thread, NULL, on_capture, cap);
}

static void capture_finish(struct capture *cap)
{
    pthread_join(cap->thread, NULL);
    close(cap->listen_fd);
}

/* The value of header name (case-insensitive) in the captured request, or "". */
static void header_value(const struct capture *cap, const char *name, char *out, size_t outsz)
{
    out[0] = '\0';
    size_t nlen = strlen(name);
    for (const char *line = strstr(cap->request, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            const char *end = strstr(v, "\r\n");
            size_t n = end ? (size_t)(end - v) : strlen(v);
            snprintf(out, outsz, "%.*s", (int)(n < outsz ? n : outsz - 1), v);
            return;
        }
    }
}

/* A client for the docs' examplebucket, every connection routed to the capture socket. */
static struct spk_s3_client *example_client(const struct capture *cap)
{
    char connect_to[128];
    snprintf(connect_to, sizeof(connect_to), "examplebucket.s3.amazonaws.com:80:127.0.0.1:%d",
             cap->port);
    struct spk_blob_s3_options o = {
        .endpoint = "http://s3.amazonaws.com",
        .bucket = "examplebucket",
        .region = "us-east-1",
        .access_key = EX_ACCESS,
        .secret_key = EX_SECRET,
        .path_style = 0,
        .timeout_ms = 5000,
        .max_retries = 0,
        .connect_to = connect_to,
    };
    struct spk_error err = {0};
    struct spk_s3_client *c = spk_s3_client_create(&o, &err);
    CHECK(c != NULL);
    return c;
}

/* Sends req through the example client and returns what reached the socket. */
static void send_example(const struct spk_s3_request *req, struct capture *cap)
{
    struct spk_error err = {0};
    struct spk_s3_response resp = {0};
    capture_start(cap);
    struct spk_s3_client *c = example_client(cap);
    if (c)
        CHECK_INT_EQ(spk_s3_perform(c, req, &resp, &err), 0);
    CHECK_INT_EQ(resp.status, 200);
    capture_finish(cap);
    spk_s3_response_release(&resp);
    spk_s3_client_destroy(c);
}

/* ---- SigV4 known answers (Amazon S3 API Reference, "Signature Calculations for the
 * Authorization Header: Transferring Payload in a Single Chunk", examples) ---- */

static void test_sigv4_get_object(void)
{
    static const char *const headers[] = {"Range: bytes=0-9", EX_DATE, NULL};
    struct spk_s3_request req = {
        .method = "GET", .key = "test.txt", .headers = headers, .attempts = 1};
    struct capture cap;
    char auth[512], sha[128];
    send_example(&req, &cap);
    CHECK(strncmp(cap.request, "GET /test.txt HTTP/1.1\r\n", 24) == 0);
    header_value(&cap, "Host", auth, sizeof(auth));
    CHECK_STR_EQ(auth, "examplebucket.s3.amazonaws.com");
    header_value(&cap, "x-amz-content-sha256", sha, sizeof(sha));
    CHECK_STR_EQ(sha, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    header_value(&cap, "Authorization", auth, sizeof(auth));
    CHECK_STR_EQ(auth,
                 "AWS4-HMAC-SHA256 " EX_SCOPE ", "
                 "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                 "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

static void test_sigv4_put_object(void)
{
    static const char body[] = "Welcome to Amazon S3.";
    static const char *const headers[] = {"Date: Fri, 24 May 2013 00:00:00 GMT", EX_DATE,
                                          "x-amz-storage-class: REDUCED_REDUNDANCY", NULL};
    /* '$' in the key must reach the wire (and the canonical URI) as %24. */
    struct spk_s3_request req = {.method = "PUT",
                                 .key = "test$file.text",
                                 .body = body,
                                 .body_len = sizeof(body) - 1,
                                 .headers = headers,
                                 .attempts = 1};
    struct capture cap;
    char auth[512], sha[128];
    send_example(&req, &cap);
    CHECK(strncmp(cap.request, "PUT /test%24file.text HTTP/1.1\r\n", 32) == 0);
    header_value(&cap, "x-amz-content-sha256", sha, sizeof(sha));
    CHECK_STR_EQ(sha, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    header_value(&cap, "Authorization", auth, sizeof(auth));
    CHECK_STR_EQ(auth,
                 "AWS4-HMAC-SHA256 " EX_SCOPE ", "
                 "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;"
                 "x-amz-storage-class, "
                 "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

static void test_sigv4_list_objects_query_sorted(void)
{
    static const char *const headers[] = {EX_DATE, NULL};
    /* Given out of order: the canonical query (and so the URL curl signs) sorts them. */
    struct spk_s3_param params[] = {{"prefix", "J"}, {"max-keys", "2"}};
    struct spk_s3_request req = {
        .method = "GET", .params = params, .nparams = 2, .headers = headers, .attempts = 1};
    struct capture cap;
    char auth[512];
    send_example(&req, &cap);
    CHECK(strncmp(cap.request, "GET /?max-keys=2&prefix=J HTTP/1.1\r\n", 36) == 0);
    header_value(&cap, "Authorization", auth, sizeof(auth));
    CHECK_STR_EQ(auth,
                 "AWS4-HMAC-SHA256 " EX_SCOPE ", "
                 "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
                 "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

static void test_sigv4_bucket_subresource(void)
{
    static const char *const headers[] = {EX_DATE, NULL};
    struct spk_s3_param params[] = {{"lifecycle", ""}};
    struct spk_s3_request req = {
        .method = "GET", .params = params, .nparams = 1, .headers = headers, .attempts = 1};
    struct capture cap;
    char auth[512];
    send_example(&req, &cap);
    CHECK(strncmp(cap.request, "GET /?lifecycle= HTTP/1.1\r\n", 27) == 0);
    header_value(&cap, "Authorization", auth, sizeof(auth));
    CHECK_STR_EQ(auth,
                 "AWS4-HMAC-SHA256 " EX_SCOPE ", "
                 "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
                 "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

/* ---- encoding ---- */

static void test_uri_encode(void)
{
    struct spk_buf b = SPK_BUF_INIT;
    spk_buf_puts(&b, "");
    spk_s3_uri_encode(&b, "a-Z_0.9~/x y+z=&%\xc3\xa9", 19, 1);
    CHECK_STR_EQ(b.data, "a-Z_0.9~/x%20y%2Bz%3D%26%25%C3%A9");
    spk_buf_reset(&b);
    spk_s3_uri_encode(&b, "proto-files/", 12, 0);
    CHECK_STR_EQ(b.data, "proto-files%2F");
    spk_buf_release(&b);
}

static void test_query_canonical(void)
{
    struct spk_s3_param params[] = {
        {"prefix", "proto-files/"},
        {"list-type", "2"},
        {"continuation-token", "1/ab+c=="},
        {"max-keys", "1000"},
    };
    char *q = spk_s3_query_canonical(params, 4);
    CHECK_STR_EQ(q, "continuation-token=1%2Fab%2Bc%3D%3D&list-type=2&max-keys=1000&"
                    "prefix=proto-files%2F");
    free(q);

    /* Sorted by the encoded name, bare parameters keep their '='. */
    struct spk_s3_param bare[] = {{"uploads", ""}, {"delete", NULL}};
    q = spk_s3_query_canonical(bare, 2);
    CHECK_STR_EQ(q, "delete=&uploads=");
    free(q);
    q = spk_s3_query_canonical(NULL, 0);
    CHECK_STR_EQ(q, "");
    free(q);
}

/* ---- keys and URLs ---- */

static void test_blob_key(void)
{
    const char *h = "9a37996ff116d9ecacc6490025abe4f723f518b1ca779a24d6beebf18751f5d0";
    char key[SPK_BLOB_KEY_MAX], back[65];
    spk_blob_key(h, key, sizeof(key));
    CHECK_STR_EQ(
        key,
        "proto-files/sha256/9a/37996ff116d9ecacc6490025abe4f723f518b1ca779a24d6beebf18751f5d0");
    CHECK_INT_EQ(strlen(key) + 1, SPK_BLOB_KEY_MAX);
    CHECK_INT_EQ(spk_blob_key_parse(key, back), 0);
    CHECK_STR_EQ(back, h);

    static const char *const not_blobs[] = {
        "proto-files/sha256/9a",
        "proto-files/sha256/9b/37996ff116d9ecacc6490025abe4f723f518b1ca779a24d6beebf18751f5d0x",
        "proto-files/sha256/9a37996ff116d9ecacc6490025abe4f723f518b1ca779a24d6beebf18751f5d0",
        "proto-files/sha256/9A/37996ff116d9ecacc6490025abe4f723f518b1ca779a24d6beebf18751f5d0",
        "proto-files/other/9a/37996ff116d9ecacc6490025abe4f723f518b1ca779a24d6beebf18751f5d0",
        "proto-files/sha256/9a/37996ff116d9ecacc6490025abe4f723f518b1ca779a24d6beebf18751f5dg",
    };
    for (size_t i = 0; i < sizeof(not_blobs) / sizeof(not_blobs[0]); i++)
        CHECK_INT_EQ(spk_blob_key_parse(not_blobs[i], back), -1);
}

static struct spk_s3_client *client_for(const char *endpoint, int path_style, struct spk_error *err)
{
    struct spk_blob_s3_options o = {
        .endpoint = endpoint, .bucket = "spoke", .region = "eu-west-1", .path_style = path_style};
    return spk_s3_client_create(&o, err);
}

static void test_urls(void)
{
    static const struct {
        const char *endpoint;
        int path_style;
        const char *key, *query, *url;
    } cases[] = {
        {"http://127.0.0.1:9000", 1, "proto-files/sha256/ab/cd", NULL,
         "http://127.0.0.1:9000/spoke/proto-files/sha256/ab/cd"},
        {"http://127.0.0.1:9000/", 1, NULL, "list-type=2&prefix=proto-files%2F",
         "http://127.0.0.1:9000/spoke?list-type=2&prefix=proto-files%2F"},
        {"https://minio.internal/s3", 1, "a b", NULL, "https://minio.internal/s3/spoke/a%20b"},
        {"https://s3.eu-west-1.amazonaws.com", 0, "proto-files/sha256/ab/cd", NULL,
         "https://spoke.s3.eu-west-1.amazonaws.com/proto-files/sha256/ab/cd"},
        {"https://s3.eu-west-1.amazonaws.com", 0, NULL, "max-keys=1",
         "https://spoke.s3.eu-west-1.amazonaws.com/?max-keys=1"},
        {"http://minio.local:9000", 0, "k", "", "http://spoke.minio.local:9000/k"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct spk_error err = {0};
        struct spk_s3_client *c = client_for(cases[i].endpoint, cases[i].path_style, &err);
        CHECK(c != NULL);
        if (!c)
            continue;
        char *url = spk_s3_url(c, cases[i].key, cases[i].query);
        CHECK_STR_EQ(url, cases[i].url);
        free(url);
        spk_s3_client_destroy(c);
    }
}

static void test_bad_endpoints(void)
{
    static const struct {
        const char *endpoint;
        int path_style;
        const char *msg_part;
    } cases[] = {
        {"http://127.0.0.1:9000", 0, "SPOKE_S3_USE_PATH_STYLE"},
        {"http://[::1]:9000", 0, "SPOKE_S3_USE_PATH_STYLE"},
        {"ftp://s3.example.com", 1, "SPOKE_S3_ENDPOINT"},
        {"http://key:secret@s3.example.com", 1, "SPOKE_S3_ENDPOINT"},
        {"http://s3.example.com/?x=1", 1, "SPOKE_S3_ENDPOINT"},
        {"not a url", 1, "SPOKE_S3_ENDPOINT"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct spk_error err = {0};
        struct spk_s3_client *c = client_for(cases[i].endpoint, cases[i].path_style, &err);
        CHECK(c == NULL);
        CHECK_INT_EQ(err.code, SPK_E_INVALID);
        CHECK(strstr(err.msg, cases[i].msg_part) != NULL);
        CHECK(strstr(err.msg, "secret") == NULL);
        spk_s3_client_destroy(c);
    }
}

/* Nothing answers: the request fails as UNAVAILABLE after its retries, without hanging. */
static void test_unreachable_is_unavailable(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    getsockname(fd, (struct sockaddr *)&a, &alen);
    char endpoint[64];
    snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", ntohs(a.sin_port));
    close(fd); /* the port is now closed: connections are refused */

    struct spk_blob_s3_options o = {.endpoint = endpoint,
                                    .bucket = "spoke",
                                    .region = "us-east-1",
                                    .path_style = 1,
                                    .timeout_ms = 2000,
                                    .max_retries = 2};
    struct spk_error err = {0};
    struct spk_s3_client *c = spk_s3_client_create(&o, &err);
    CHECK(c != NULL);
    if (!c)
        return;
    struct spk_s3_request req = {.method = "HEAD", .key = "k"};
    struct spk_s3_response resp = {0};
    CHECK_INT_EQ(spk_s3_perform(c, &req, &resp, &err), -1);
    CHECK_INT_EQ(err.code, SPK_E_UNAVAILABLE);
    CHECK_INT_EQ(resp.status, 0);
    spk_s3_response_release(&resp);
    spk_s3_client_destroy(c);
}

static const struct unit_test tests[] = {
    {"sigv4_get_object", test_sigv4_get_object},
    {"sigv4_put_object", test_sigv4_put_object},
    {"sigv4_list_objects_query_sorted", test_sigv4_list_objects_query_sorted},
    {"sigv4_bucket_subresource", test_sigv4_bucket_subresource},
    {"uri_encode", test_uri_encode},
    {"query_canonical", test_query_canonical},
    {"blob_key", test_blob_key},
    {"urls", test_urls},
    {"bad_endpoints", test_bad_endpoints},
    {"unreachable_is_unavailable", test_unreachable_is_unavailable},
};

UNIT_MAIN(tests)
