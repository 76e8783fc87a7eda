/* Reading S3's XML replies: error codes and ListObjectsV2 pages. A deliberately small scanner
 * (find a tag, decode its text) rather than an XML library: S3's replies are flat, generated
 * documents, and only a handful of elements are ever read. Not a general XML parser. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "s3_internal.h"
#include "spoke/alloc.h"
#include "spoke/banned.h"

static const char *find_bytes(const char *hay, size_t haylen, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0 || haylen < n)
        return NULL;
    for (size_t i = 0; i + n <= haylen; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0)
            return hay + i;
    return NULL;
}

static void append_utf8(struct spk_buf *out, unsigned long cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    spk_buf_append(out, b, n);
}

static const struct {
    const char *name;
    char c;
} entities[] = {{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};

/* An entity reference's name: letters, digits and '#' only. */
static int entity_name(const char *p, const char *end)
{
    if (p == end)
        return 0;
    for (; p < end; p++)
        if (!isalnum((unsigned char)*p) && *p != '#')
            return 0;
    return 1;
}

/* Appends s[0..n) with entity references decoded; an unknown reference is kept as written. */
static void decode_text(struct spk_buf *out, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const char *semi = s[i] == '&' ? memchr(s + i, ';', n - i) : NULL;
        if (semi && (semi - (s + i) > 12 || !entity_name(s + i + 1, semi)))
            semi = NULL;
        if (!semi) {
            spk_buf_append(out, s + i, 1);
            i++;
            continue;
        }
        const char *name = s + i + 1;
        size_t nlen = (size_t)(semi - name);
        int done = 0;
        if (nlen >= 2 && name[0] == '#') {
            char num[12] = {0};
            memcpy(num, name + 1, nlen - 1 < sizeof(num) - 1 ? nlen - 1 : sizeof(num) - 1);
            char *end;
            int hex = num[0] == 'x' || num[0] == 'X';
            unsigned long cp = strtoul(hex ? num + 1 : num, &end, hex ? 16 : 10);
            if (*end == '\0' && end != (hex ? num + 1 : num) && cp > 0 && cp <= 0x10FFFF) {
                append_utf8(out, cp);
                done = 1;
            }
        } else {
            for (size_t k = 0; k < sizeof(entities) / sizeof(entities[0]) && !done; k++) {
                if (strlen(entities[k].name) == nlen && memcmp(entities[k].name, name, nlen) == 0) {
                    spk_buf_append(out, &entities[k].c, 1);
                    done = 1;
                }
            }
        }
        if (!done)
            spk_buf_append(out, s + i, nlen + 2);
        i += nlen + 2;
    }
}

int spk_s3_xml_find(const char *text, size_t len, size_t *pos, const char *tag, struct spk_buf *out)
{
    char open[80], close[82];
    size_t tlen = strlen(tag);
    if (tlen + 4 > sizeof(open) || *pos > len)
        return -1;
    open[0] = '<';
    memcpy(open + 1, tag, tlen);
    open[tlen + 1] = '>';
    open[tlen + 2] = '\0';
    close[0] = '<';
    close[1] = '/';
    memcpy(close + 2, tag, tlen + 1);
    close[tlen + 2] = '>';
    close[tlen + 3] = '\0';

    const char *start = find_bytes(text + *pos, len - *pos, open);
    if (!start)
        return -1;
    const char *body = start + tlen + 2;
    const char *end = find_bytes(body, (size_t)(text + len - body), close);
    if (!end)
        return -1;
    decode_text(out, body, (size_t)(end - body));
    *pos = (size_t)(end - text) + tlen + 3;
    return 0;
}

int64_t spk_s3_parse_time(const char *s)
{
    struct tm tm = {0};
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return -1;
    time_t t = timegm(&tm);
    return t == (time_t)-1 ? -1 : (int64_t)t;
}

void spk_s3_objects_free(struct spk_s3_object *objects, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(objects[i].key);
    free(objects);
}

/* Reads one <Contents> element's Key, Size and LastModified. */
static int parse_contents(const char *xml, size_t len, struct spk_s3_object *o)
{
    struct spk_buf b = SPK_BUF_INIT;
    size_t pos = 0;
    int rc = -1;
    if (spk_s3_xml_find(xml, len, &pos, "Key", &b) || !b.data)
        goto out;
    o->key = spk_buf_detach(&b, NULL);
    pos = 0;
    if (spk_s3_xml_find(xml, len, &pos, "Size", &b) == 0 && b.data) {
        char *end;
        unsigned long long v = strtoull(b.data, &end, 10);
        o->size = *end == '\0' ? (uint64_t)v : 0;
    }
    spk_buf_reset(&b);
    pos = 0;
    if (spk_s3_xml_find(xml, len, &pos, "LastModified", &b) == 0 && b.data) {
        int64_t t = spk_s3_parse_time(b.data);
        o->mtime = t > 0 ? t : 0;
    }
    rc = 0;
out:
    spk_buf_release(&b);
    return rc;
}

int spk_s3_list_parse(const char *xml, size_t len, struct spk_s3_object **objects, size_t *n,
                      int *truncated, char **next_token)
{
    struct spk_buf b = SPK_BUF_INIT;
    struct spk_s3_object *list = NULL;
    size_t count = 0, cap = 0, pos = 0;

    *objects = NULL;
    *n = 0;
    *truncated = 0;
    *next_token = NULL;
    if (!find_bytes(xml, len, "<ListBucketResult"))
        return -1;
    for (;;) {
        const char *start = find_bytes(xml + pos, len - pos, "<Contents>");
        if (!start)
            break;
        const char *end = find_bytes(start, (size_t)(xml + len - start), "</Contents>");
        if (!end)
            goto fail;
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
            list = spk_realloc(list, cap * sizeof(*list));
        }
        memset(&list[count], 0, sizeof(list[count]));
        if (parse_contents(start, (size_t)(end - start), &list[count]))
            goto fail;
        count++;
        pos = (size_t)(end - xml) + strlen("</Contents>");
    }
    pos = 0;
    if (spk_s3_xml_find(xml, len, &pos, "IsTruncated", &b) == 0 && b.data)
        *truncated = strcmp(b.data, "true") == 0;
    spk_buf_reset(&b);
    pos = 0;
    if (spk_s3_xml_find(xml, len, &pos, "NextContinuationToken", &b) == 0 && b.data)
        *next_token = spk_buf_detach(&b, NULL);
    spk_buf_release(&b);
    if (*truncated && !*next_token) {
        spk_s3_objects_free(list, count);
        return -1;
    }
    *objects = list;
    *n = count;
    return 0;
fail:
    spk_buf_release(&b);
    spk_s3_objects_free(list, count);
    return -1;
}
