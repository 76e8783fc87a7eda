/* Postgres array literals as single text parameters (see pg_internal.h), so a list of values
 * travels in one parameterised statement instead of one statement per value. */
#include "pg_internal.h"
#include "spoke/buf.h"
#include "spoke/banned.h"

void spk_pg_array_add(struct spk_buf *b, const char *s)
{
    spk_buf_puts(b, b->len ? ",\"" : "{\"");
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\')
            spk_buf_append(b, "\\", 1);
        spk_buf_append(b, p, 1);
    }
    spk_buf_append(b, "\"", 1);
}

char *spk_pg_array_finish(struct spk_buf *b)
{
    spk_buf_puts(b, b->len ? "}" : "{}");
    return spk_buf_detach(b, NULL);
}
