/* Iterating comma-separated configuration lists. */
#include <string.h>

#include "spoke/list.h"
#include "spoke/banned.h"

const char *spk_list_next(const char **cursor, size_t *len)
{
    const char *s = *cursor;
    while (s && *s) {
        const char *comma = strchr(s, ',');
        const char *e = comma ? comma : s + strlen(s);
        const char *b = s;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        const char *t = e;
        while (t > b && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        s = comma ? comma + 1 : e;
        if (t > b) {
            *cursor = s;
            *len = (size_t)(t - b);
            return b;
        }
    }
    *cursor = s;
    return NULL;
}
