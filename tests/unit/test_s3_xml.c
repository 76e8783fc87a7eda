/* Reading S3's XML replies: ListObjectsV2 pages (keys with entities, sizes, times, pagination)
 * and error codes, plus what the scanner must refuse. */
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "../../src/blob/s3_internal.h"

static const char page[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Name>spoke</Name><Prefix>proto-files/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>"
    "<IsTruncated>true</IsTruncated>"
    "<Contents><Key>proto-files/sha256/ab/cd</Key><LastModified>2026-01-02T03:04:05.000Z"
    "</LastModified><ETag>&quot;9e107d9d372bb6826bd81d3542a419d6&quot;</ETag><Size>123</Size>"
    "<StorageClass>STANDARD</StorageClass></Contents>"
    "<Contents><Key>proto-files/a&amp;b &lt;c&gt; &#233;&#x263A;</Key>"
    "<LastModified>1970-01-01T00:00:10Z</LastModified><Size>0</Size></Contents>"
    "<NextContinuationToken>1/ab+c==</NextContinuationToken>"
    "</ListBucketResult>";

static void test_list_page(void)
{
    struct spk_s3_object *objs = NULL;
    size_t n = 0;
    int truncated = 0;
    char *token = NULL;
    CHECK_INT_EQ(spk_s3_list_parse(page, strlen(page), &objs, &n, &truncated, &token), 0);
    CHECK_INT_EQ(n, 2);
    CHECK_INT_EQ(truncated, 1);
    CHECK_STR_EQ(token, "1/ab+c==");
    if (n == 2) {
        CHECK_STR_EQ(objs[0].key, "proto-files/sha256/ab/cd");
        CHECK_INT_EQ(objs[0].size, 123);
        CHECK_INT_EQ(objs[0].mtime, 1767323045);
        CHECK_STR_EQ(objs[1].key, "proto-files/a&b <c> \xc3\xa9\xe2\x98\xba");
        CHECK_INT_EQ(objs[1].size, 0);
        CHECK_INT_EQ(objs[1].mtime, 10);
    }
    spk_s3_objects_free(objs, n);
    free(token);
}

static void test_list_last_and_empty(void)
{
    static const char last[] = "<ListBucketResult><IsTruncated>false</IsTruncated>"
                               "<Contents><Key>k</Key><Size>7</Size></Contents>"
                               "</ListBucketResult>";
    static const char empty[] = "<ListBucketResult xmlns=\"x\"><KeyCount>0</KeyCount>"
                                "<IsTruncated>false</IsTruncated></ListBucketResult>";
    struct spk_s3_object *objs = NULL;
    size_t n = 0;
    int truncated = 1;
    char *token = (char *)"unset";
    CHECK_INT_EQ(spk_s3_list_parse(last, strlen(last), &objs, &n, &truncated, &token), 0);
    CHECK_INT_EQ(n, 1);
    CHECK_INT_EQ(truncated, 0);
    CHECK(token == NULL);
    if (n == 1) {
        CHECK_INT_EQ(objs[0].size, 7);
        CHECK_INT_EQ(objs[0].mtime, 0); /* no LastModified: unknown, which gc treats as young */
    }
    spk_s3_objects_free(objs, n);
    CHECK_INT_EQ(spk_s3_list_parse(empty, strlen(empty), &objs, &n, &truncated, &token), 0);
    CHECK_INT_EQ(n, 0);
    spk_s3_objects_free(objs, n);
}

static void test_list_malformed(void)
{
    static const char *const bad[] = {
        "<Error><Code>AccessDenied</Code></Error>", /* not a listing */
        "<ListBucketResult><Contents><Key>k</Key>", /* cut short */
        "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>", /* no key */
        "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",     /* no token */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct spk_s3_object *objs = NULL;
        size_t n = 0;
        int truncated = 0;
        char *token = NULL;
        CHECK_INT_EQ(spk_s3_list_parse(bad[i], strlen(bad[i]), &objs, &n, &truncated, &token), -1);
        CHECK(objs == NULL && n == 0 && token == NULL);
    }
}

static void test_error_code(void)
{
    static const char reply[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code>"
        "<Message>The request signature we calculated does not match</Message></Error>";
    struct spk_buf b = SPK_BUF_INIT;
    size_t pos = 0;
    CHECK_INT_EQ(spk_s3_xml_find(reply, strlen(reply), &pos, "Code", &b), 0);
    CHECK_STR_EQ(b.data, "SignatureDoesNotMatch");
    CHECK(pos > 0 && pos < strlen(reply));
    spk_buf_reset(&b);
    CHECK_INT_EQ(spk_s3_xml_find(reply, strlen(reply), &pos, "Code", &b), -1); /* only one */
    pos = 0;
    CHECK_INT_EQ(spk_s3_xml_find(reply, strlen(reply), &pos, "Resource", &b), -1);
    /* Bounded by len: a tag past it does not exist. */
    pos = 0;
    CHECK_INT_EQ(spk_s3_xml_find(reply, 60, &pos, "Code", &b), -1);
    spk_buf_release(&b);
}

static void test_entities_kept_when_unknown(void)
{
    static const char text[] = "<K>&bogus; &#0; &#xZZ; & alone &amp;</K>";
    struct spk_buf b = SPK_BUF_INIT;
    size_t pos = 0;
    CHECK_INT_EQ(spk_s3_xml_find(text, strlen(text), &pos, "K", &b), 0);
    CHECK_STR_EQ(b.data, "&bogus; &#0; &#xZZ; & alone &");
    spk_buf_release(&b);
}

static void test_parse_time(void)
{
    CHECK_INT_EQ(spk_s3_parse_time("2026-01-02T03:04:05.000Z"), 1767323045);
    CHECK_INT_EQ(spk_s3_parse_time("1970-01-01T00:00:00Z"), 0);
    CHECK_INT_EQ(spk_s3_parse_time("yesterday"), -1);
}

static const struct unit_test tests[] = {
    {"list_page", test_list_page},
    {"list_last_and_empty", test_list_last_and_empty},
    {"list_malformed", test_list_malformed},
    {"error_code", test_error_code},
    {"entities_kept_when_unknown", test_entities_kept_when_unknown},
    {"parse_time", test_parse_time},
};

UNIT_MAIN(tests)
