/* Breaking-change violations as people and tools read them: buf's text format,
 * "file:line:column: RULE_ID message", which editors and CI log viewers turn into links. Used by
 * `spoke breaking` (the compatibility answer) and `spoke push` (a push refused with
 * breaking_change). Only formatting: which rules apply and what breaks is the registry's call. */
#include <stdlib.h>
#include <string.h>

#include "spoke/buf.h"
#include "spoke/cli.h"
#include "spoke/banned.h"

static char *shown(const json_t *v, const char *key)
{
    const char *s = spk_cli_jstr(v, key);
    return spk_cli_printable(s, strlen(s));
}

char *spk_cli_violation_format(const json_t *v, int with_against)
{
    struct spk_buf b = SPK_BUF_INIT;
    char *file = shown(v, "file"), *rule = shown(v, "rule"), *msg = shown(v, "message");
    json_t *jl = json_object_get(v, "line"), *jc = json_object_get(v, "column");
    long long line = json_is_integer(jl) ? json_integer_value(jl) : 0;
    long long col = json_is_integer(jc) ? json_integer_value(jc) : 0;

    if (!file[0])
        spk_buf_puts(&b, "<input>");
    else if (line > 0 && col > 0)
        spk_buf_printf(&b, "%s:%lld:%lld", file, line, col);
    else if (line > 0)
        spk_buf_printf(&b, "%s:%lld", file, line);
    else
        spk_buf_puts(&b, file);
    spk_buf_printf(&b, ": %s", rule[0] ? rule : "BREAKING");
    if (msg[0])
        spk_buf_printf(&b, " %s", msg);
    if (with_against) {
        char *against = shown(v, "against");
        if (against[0])
            spk_buf_printf(&b, " (against %s)", against);
        free(against);
    }
    free(file);
    free(rule);
    free(msg);
    return spk_buf_detach(&b, NULL);
}

/* Whether the violations name more than one version they were compared with (a back-ported
 * patch is checked against its predecessor and its successor). */
static int several_against(const json_t *violations)
{
    const char *first = NULL;
    size_t i;
    json_t *v;
    json_array_foreach(violations, i, v)
    {
        const char *a = spk_cli_jstr(v, "against");
        if (!a[0])
            continue;
        if (!first)
            first = a;
        else if (strcmp(first, a) != 0)
            return 1;
    }
    return 0;
}

size_t spk_cli_violations_print(FILE *out, const json_t *violations)
{
    int with_against = several_against(violations);
    size_t i, n = 0;
    json_t *v;
    json_array_foreach(violations, i, v)
    {
        if (!json_is_object(v))
            continue;
        char *line = spk_cli_violation_format(v, with_against);
        fprintf(out, "%s\n", line);
        free(line);
        n++;
    }
    fflush(out);
    return n;
}
