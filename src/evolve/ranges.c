/* Tag ranges (reserved and extension ranges, ends inclusive) as buf compares and prints them:
 * which numbers of an old range no new range covers, and "[5]", "[5,10]", "[5,max]". */
#include <stdlib.h>
#include <string.h>

#include "evolve_internal.h"
#include "spoke/alloc.h"
#include "spoke/buf.h"
#include "spoke/banned.h"

static void put_range(struct spk_buf *b, int64_t start, int64_t end, int64_t max)
{
    if (start == end)
        spk_buf_printf(b, "[%lld]", (long long)start);
    else if (end == max)
        spk_buf_printf(b, "[%lld,max]", (long long)start);
    else
        spk_buf_printf(b, "[%lld,%lld]", (long long)start, (long long)end);
}

char *spk_evolve_range_string(struct spk_evolve_range r, int64_t max)
{
    struct spk_buf b = SPK_BUF_INIT;
    put_range(&b, r.start, r.end, max);
    return spk_buf_detach(&b, NULL);
}

static int cmp_range(const void *pa, const void *pb)
{
    const struct spk_evolve_range *a = pa, *b = pb;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    return (a->end > b->end) - (a->end < b->end);
}

char *spk_evolve_range_missing(struct spk_evolve_range r, const struct spk_evolve_range *have,
                               size_t nhave, int64_t max)
{
    struct spk_evolve_range *s = spk_malloc((nhave ? nhave : 1) * sizeof(*s));
    if (nhave)
        memcpy(s, have, nhave * sizeof(*s));
    qsort(s, nhave, sizeof(*s), cmp_range);
    size_t n = 0; /* collapse overlapping and adjacent ranges */
    for (size_t i = 0; i < nhave; i++) {
        if (n && s[i].start <= s[n - 1].end + 1) {
            if (s[i].end > s[n - 1].end)
                s[n - 1].end = s[i].end;
        } else {
            s[n++] = s[i];
        }
    }
    struct spk_buf b = SPK_BUF_INIT;
    int64_t at = r.start;
    for (size_t i = 0; i < n && at <= r.end; i++) {
        if (s[i].end < at)
            continue;
        if (s[i].start > r.end)
            break;
        if (s[i].start > at) {
            if (b.len)
                spk_buf_puts(&b, ", ");
            put_range(&b, at, s[i].start - 1, max);
        }
        at = s[i].end + 1;
    }
    if (at <= r.end) {
        if (b.len)
            spk_buf_puts(&b, ", ");
        put_range(&b, at, r.end, max);
    }
    free(s);
    return b.len ? spk_buf_detach(&b, NULL) : (spk_buf_release(&b), NULL);
}
