/* The filesystem blob backend in a temporary directory: round trips (empty included), existence,
 * digest verification on read, listing for the garbage collector (in-progress writes skipped,
 * foreign files reported as such) and deletion. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spoke/blob.h"
#include "spoke/buf.h"
#include "spoke/error.h"
#include "spoke/sha256.h"
#include "unit.h"

static char root[64];

static struct spk_blob_store *open_store(void)
{
    snprintf(root, sizeof(root), "/tmp/spoke-blob-fs-XXXXXX");
    CHECK(mkdtemp(root) != NULL);
    struct spk_error err = {0};
    struct spk_blob_store *s = spk_blob_fs_create(root, &err);
    CHECK(s != NULL);
    return s;
}

static void close_store(struct spk_blob_store *s)
{
    spk_blob_store_destroy(s);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
}

static void write_file(const char *rel, const char *content)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(content, f);
        fclose(f);
    }
}

static void test_round_trip(void)
{
    struct spk_blob_store *s = open_store();
    struct spk_error err = {0};
    struct spk_buf out = SPK_BUF_INIT;
    static const char *const contents[] = {"", "x", "syntax = \"proto3\";\n// \xe6\x97\xa5\n"};
    for (size_t i = 0; i < 3; i++) {
        char h[65];
        spk_sha256_hex(contents[i], strlen(contents[i]), h);
        CHECK_INT_EQ(spk_blob_exists(s, h, &err), 0);
        CHECK_INT_EQ(spk_blob_put(s, h, contents[i], strlen(contents[i]), &err), 0);
        CHECK_INT_EQ(spk_blob_exists(s, h, &err), 1);
        spk_buf_reset(&out);
        CHECK_INT_EQ(spk_blob_get(s, h, 1024, &out, &err), 0);
        CHECK_INT_EQ(out.len, strlen(contents[i]));
        CHECK(out.len == 0 || memcmp(out.data, contents[i], out.len) == 0);
    }
    spk_buf_release(&out);
    close_store(s);
}

static void test_missing_and_corrupt(void)
{
    struct spk_blob_store *s = open_store();
    struct spk_error err = {0};
    struct spk_buf out = SPK_BUF_INIT;
    char h[65], key[SPK_BLOB_KEY_MAX];
    spk_sha256_hex("good", 4, h);
    CHECK_INT_EQ(spk_blob_get(s, h, 1024, &out, &err), -1);
    CHECK_INT_EQ(err.code, SPK_E_NOT_FOUND);

    /* Bytes that do not hash to their key are never returned. */
    CHECK_INT_EQ(spk_blob_put(s, h, "good", 4, &err), 0);
    spk_blob_key(h, key, sizeof(key));
    write_file(key, "evil");
    spk_buf_puts(&out, "prefix");
    CHECK_INT_EQ(spk_blob_get(s, h, 1024, &out, &err), -1);
    CHECK_INT_EQ(err.code, SPK_E_INTERNAL);
    CHECK_STR_EQ(out.data, "prefix"); /* nothing appended */

    /* Over the size limit is refused too. */
    CHECK_INT_EQ(spk_blob_put(s, h, "good", 4, &err), 0);
    CHECK_INT_EQ(spk_blob_get(s, h, 3, &out, &err), -1);
    CHECK_INT_EQ(err.code, SPK_E_INTERNAL);
    spk_buf_release(&out);
    close_store(s);
}

struct seen {
    int blobs, foreign;
    uint64_t bytes;
    char last_sha[65];
};

static int on_item(const struct spk_blob_info *info, void *arg)
{
    struct seen *seen = arg;
    CHECK(strncmp(info->key, "proto-files/", 12) == 0);
    CHECK(info->mtime > 0);
    if (info->sha256) {
        seen->blobs++;
        seen->bytes += info->size;
        snprintf(seen->last_sha, sizeof(seen->last_sha), "%s", info->sha256);
    } else {
        seen->foreign++;
    }
    return 0;
}

static int on_stop(const struct spk_blob_info *info, void *arg)
{
    (void)info;
    ++*(int *)arg;
    return 1;
}

static void test_list_and_remove(void)
{
    struct spk_blob_store *s = open_store();
    struct spk_error err = {0};
    struct seen seen = {0};
    char a[65], b[65], key[SPK_BLOB_KEY_MAX];

    CHECK_INT_EQ(spk_blob_list(s, on_item, &seen, &err), 0); /* empty store */
    CHECK_INT_EQ(seen.blobs + seen.foreign, 0);

    spk_sha256_hex("aaa", 3, a);
    spk_sha256_hex("bbbbb", 5, b);
    CHECK_INT_EQ(spk_blob_put(s, a, "aaa", 3, &err), 0);
    CHECK_INT_EQ(spk_blob_put(s, b, "bbbbb", 5, &err), 0);
    spk_blob_key(a, key, sizeof(key));
    char tmp[SPK_BLOB_KEY_MAX + 32];
    snprintf(tmp, sizeof(tmp), "%s.tmp.1.ff", key); /* a write in progress */
    write_file(tmp, "partial");
    write_file("proto-files/README", "not a blob");

    CHECK_INT_EQ(spk_blob_list(s, on_item, &seen, &err), 0);
    CHECK_INT_EQ(seen.blobs, 2);
    CHECK_INT_EQ(seen.foreign, 1);
    CHECK_INT_EQ(seen.bytes, 8);

    int calls = 0;
    CHECK_INT_EQ(spk_blob_list(s, on_stop, &calls, &err), 0);
    CHECK_INT_EQ(calls, 1);

    CHECK_INT_EQ(spk_blob_remove(s, a, &err), 0);
    CHECK_INT_EQ(spk_blob_remove(s, a, &err), 0); /* absent: still fine */
    CHECK_INT_EQ(spk_blob_exists(s, a, &err), 0);
    CHECK_INT_EQ(spk_blob_exists(s, b, &err), 1);
    memset(&seen, 0, sizeof(seen));
    CHECK_INT_EQ(spk_blob_list(s, on_item, &seen, &err), 0);
    CHECK_INT_EQ(seen.blobs, 1);
    CHECK_STR_EQ(seen.last_sha, b);
    close_store(s);
}

static const struct unit_test tests[] = {
    {"round_trip", test_round_trip},
    {"missing_and_corrupt", test_missing_and_corrupt},
    {"list_and_remove", test_list_and_remove},
};

UNIT_MAIN(tests)
