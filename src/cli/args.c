/* Command-line options as tables: each command declares rows {name, short, kind, destination,
 * help}, and one parser and one help printer serve every command. Values point into argv; nothing
 * here prints or exits (the caller decides what a usage error means). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spoke/alloc.h"
#include "spoke/cli.h"
#include "spoke/banned.h"

void spk_cli_strlist_push(struct spk_cli_strlist *l, const char *s)
{
    l->v = spk_realloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = s;
}

void spk_cli_strlist_release(struct spk_cli_strlist *l)
{
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

json_t *spk_cli_strlist_json(const struct spk_cli_strlist *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(a, json_string(l->v[i]));
    return a;
}

static const struct spk_cli_opt *find_long(const struct spk_cli_opt *const *tables, size_t ntables,
                                           const char *name, size_t len)
{
    for (size_t t = 0; t < ntables; t++)
        for (const struct spk_cli_opt *o = tables[t]; o && o->name; o++)
            if (strlen(o->name) == len && memcmp(o->name, name, len) == 0)
                return o;
    return NULL;
}

static const struct spk_cli_opt *find_short(const struct spk_cli_opt *const *tables, size_t ntables,
                                            char c)
{
    for (size_t t = 0; t < ntables; t++)
        for (const struct spk_cli_opt *o = tables[t]; o && o->name; o++)
            if (o->short_name && o->short_name == c)
                return o;
    return NULL;
}

static int store(const struct spk_cli_opt *o, const char *value, struct spk_error *err)
{
    switch (o->kind) {
    case SPK_CLI_OPT_FLAG:
        *(int *)o->dest = 1;
        return 0;
    case SPK_CLI_OPT_STRING:
        *(const char **)o->dest = value;
        return 0;
    case SPK_CLI_OPT_LIST:
        spk_cli_strlist_push(o->dest, value);
        return 0;
    case SPK_CLI_OPT_UINT: {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < 0 || value[0] == '-' || value[0] == '+')
            return spk_error_set(err, SPK_E_INVALID, "--%s needs a whole number, not \"%.100s\"",
                                 o->name, value);
        *(long *)o->dest = v;
        return 0;
    }
    }
    return spk_error_set(err, SPK_E_INTERNAL, "option --%s has an unknown kind", o->name);
}

int spk_cli_args_parse(int argc, char **argv, const struct spk_cli_opt *const *tables,
                       size_t ntables, int stop_at_positional, struct spk_cli_strlist *positional,
                       int *consumed, struct spk_error *err)
{
    int i = 0;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            for (i++; i < argc && !stop_at_positional; i++)
                spk_cli_strlist_push(positional, argv[i]);
            break;
        }
        if (a[0] != '-' || a[1] == '\0') { /* "-" alone is a positional, as usual */
            if (stop_at_positional)
                break;
            spk_cli_strlist_push(positional, a);
            continue;
        }
        const struct spk_cli_opt *o;
        const char *inline_value = NULL;
        if (a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            o = find_long(tables, ntables, name, len);
            if (!o)
                return spk_error_set(err, SPK_E_INVALID, "unknown option --%.*s",
                                     (int)(len > 100 ? 100 : len), name);
            inline_value = eq ? eq + 1 : NULL;
        } else {
            if (a[2] != '\0')
                return spk_error_set(err, SPK_E_INVALID,
                                     "unknown option %.100s (short options cannot be combined)", a);
            o = find_short(tables, ntables, a[1]);
            if (!o)
                return spk_error_set(err, SPK_E_INVALID, "unknown option %.100s", a);
        }
        if (o->kind == SPK_CLI_OPT_FLAG) {
            if (inline_value)
                return spk_error_set(err, SPK_E_INVALID, "option --%s takes no value", o->name);
            if (store(o, NULL, err))
                return -1;
            continue;
        }
        if (!inline_value) {
            if (i + 1 >= argc)
                return spk_error_set(err, SPK_E_INVALID, "option --%s needs a value (%s)", o->name,
                                     o->metavar ? o->metavar : "VALUE");
            inline_value = argv[++i];
        }
        if (store(o, inline_value, err))
            return -1;
    }
    if (consumed)
        *consumed = i;
    return 0;
}

void spk_cli_opts_print(FILE *out, const struct spk_cli_opt *table)
{
    for (const struct spk_cli_opt *o = table; o && o->name; o++) {
        char left[64];
        int takes = o->kind != SPK_CLI_OPT_FLAG;
        const char *meta = takes ? (o->metavar ? o->metavar : "VALUE") : "";
        if (o->short_name)
            snprintf(left, sizeof(left), "-%c, --%s%s%s", o->short_name, o->name, takes ? " " : "",
                     meta);
        else
            snprintf(left, sizeof(left), "    --%s%s%s", o->name, takes ? " " : "", meta);
        if (strlen(left) > 24)
            fprintf(out, "  %s\n  %-24s  %s\n", left, "", o->help);
        else
            fprintf(out, "  %-24s  %s\n", left, o->help);
    }
}
