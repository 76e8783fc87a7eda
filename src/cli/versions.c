/* `spoke versions M`: a module's versions, newest SemVer first (following the registry's pages). */
#include <stdlib.h>
#include <string.h>

#include "spoke/alloc.h"
#include "spoke/cli.h"
#include "spoke/banned.h"

#define PAGE 1000

/* Also used by `spoke show M`. */
void spk_cli_print_versions(const json_t *versions)
{
    size_t w = 7, i;
    json_t *v;
    json_array_foreach(versions, i, v)
    {
        size_t n = strlen(spk_cli_jstr(v, "version"));
        w = n > w ? n : w;
    }
    printf("%-*s  %-71s  %s\n", (int)w, "VERSION", "DIGEST", "CREATED");
    json_array_foreach(versions, i, v)
    {
        const char *ver = spk_cli_jstr(v, "version"), *dig = spk_cli_jstr(v, "digest");
        const char *at = spk_cli_jstr(v, "created_at");
        char *a = spk_cli_printable(ver, strlen(ver)), *b = spk_cli_printable(dig, strlen(dig));
        char *c = spk_cli_printable(at, strlen(at));
        printf("%-*s  %-71s  %s\n", (int)w, a, b, c);
        free(a);
        free(b);
        free(c);
    }
}

int spk_cli_cmd_versions(struct spk_cli *cli, const struct spk_cli_command *self, int argc,
                         char **argv)
{
    struct spk_cli_strlist pos = {0};
    json_t *versions = NULL;
    char *path = NULL;
    const struct spk_cli_opt opts[] = {{NULL, 0, 0, NULL, NULL, NULL}};
    int rc = spk_cli_command_begin(cli, self, opts, argc, argv, &pos);
    if (rc >= 0)
        goto out;
    if (pos.n != 1) {
        rc = spk_cli_usage_error(cli, "%s",
                                 pos.n ? "expected one module name" : "a module name is required");
        goto out;
    }
    char *em = spk_cli_escape(pos.v[0]);
    path = spk_asprintf("/modules/%s/versions?limit=%d", em, PAGE);
    free(em);
    rc = spk_cli_get_all(cli, path, &versions);
    if (rc != SPK_EXIT_OK)
        goto out;
    if (cli->json)
        spk_cli_print_json(versions);
    else if (json_array_size(versions) == 0)
        spk_cli_note(cli, "no versions yet");
    else
        spk_cli_print_versions(versions);
out:
    json_decref(versions);
    free(path);
    spk_cli_strlist_release(&pos);
    return rc;
}
