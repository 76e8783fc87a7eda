/* `spoke list`: every module (following the registry's pages), optionally under a name prefix. */
#include <stdlib.h>
#include <string.h>

#include "spoke/alloc.h"
#include "spoke/cli.h"
#include "spoke/banned.h"

#define PAGE 1000

static void print_table(const json_t *mods)
{
    size_t wname = 4, wlatest = 6;
    size_t i;
    json_t *m;
    json_array_foreach(mods, i, m)
    {
        size_t a = strlen(spk_cli_jstr(m, "name")), b = strlen(spk_cli_jstr(m, "latest_version"));
        wname = a > wname ? a : wname;
        wlatest = b > wlatest ? b : wlatest;
    }
    printf("%-*s  %-*s  %8s  %s\n", (int)wname, "NAME", (int)wlatest, "LATEST", "VERSIONS",
           "DESCRIPTION");
    json_array_foreach(mods, i, m)
    {
        const char *name = spk_cli_jstr(m, "name"), *latest = spk_cli_jstr(m, "latest_version");
        const char *desc = spk_cli_jstr(m, "description");
        char *n = spk_cli_printable(name, strlen(name)),
             *l = spk_cli_printable(latest, strlen(latest));
        char *d = spk_cli_printable(desc, strlen(desc));
        printf("%-*s  %-*s  %8lld  %s\n", (int)wname, n, (int)wlatest, l[0] ? l : "-",
               (long long)json_integer_value(json_object_get(m, "version_count")), d);
        free(n);
        free(l);
        free(d);
    }
}

int spk_cli_cmd_list(struct spk_cli *cli, const struct spk_cli_command *self, int argc, char **argv)
{
    const char *prefix = NULL;
    json_t *mods = NULL;
    char *path = NULL;
    const struct spk_cli_opt opts[] = {
        {"prefix", 'p', SPK_CLI_OPT_STRING, &prefix, "PREFIX", "only modules whose name starts so"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    int rc = spk_cli_command_begin(cli, self, opts, argc, argv, NULL);
    if (rc >= 0)
        goto out;
    if (prefix) {
        char *ep = spk_cli_escape(prefix);
        path = spk_asprintf("/modules?limit=%d&prefix=%s", PAGE, ep);
        free(ep);
    } else {
        path = spk_asprintf("/modules?limit=%d", PAGE);
    }
    rc = spk_cli_get_all(cli, path, &mods);
    if (rc != SPK_EXIT_OK)
        goto out;
    if (cli->json)
        spk_cli_print_json(mods);
    else if (json_array_size(mods) == 0)
        spk_cli_note(cli, "no modules%s", prefix ? " with that prefix" : "");
    else
        print_table(mods);
out:
    json_decref(mods);
    free(path);
    return rc;
}
