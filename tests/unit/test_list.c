/* Comma-separated configuration lists: trimming, empty items, the end. */
#include <string.h>

#include "spoke/list.h"
#include "unit.h"

static int items(const char *list, char out[][32], int max)
{
    const char *cursor = list, *item;
    size_t len;
    int n = 0;
    while ((item = spk_list_next(&cursor, &len)) && n < max) {
        memcpy(out[n], item, len);
        out[n++][len] = '\0';
    }
    return n;
}

static void test_items(void)
{
    char got[8][32];
    CHECK_INT_EQ(items(" a, b,,\tc ,", got, 8), 3);
    CHECK_STR_EQ(got[0], "a");
    CHECK_STR_EQ(got[1], "b");
    CHECK_STR_EQ(got[2], "c");
    CHECK_INT_EQ(items("host:1", got, 8), 1);
    CHECK_STR_EQ(got[0], "host:1");
    CHECK_INT_EQ(items("", got, 8), 0);
    CHECK_INT_EQ(items(" , ,", got, 8), 0);
    CHECK_INT_EQ(items(NULL, got, 8), 0);
}

static const struct unit_test tests[] = {
    {"items", test_items},
};
UNIT_MAIN(tests)
