/* `spoke diff M@V1 M@V2`: what changed between two stored versions of a module, element by
 * element, and which buf categories (FILE, PACKAGE, WIRE_JSON, WIRE) that breaks:
 * GET /modules/{name}/diff. People get the registry's text rendering, --json its JSON. */
#include <stdlib.h>
#include <string.h>

#include "spoke/alloc.h"
#include "spoke/cli.h"
#include "spoke/banned.h"

/* Splits "M@V" into module and version (new strings). Returns 0, or -1 when either is empty. */
static int split_ref(const char *ref, char **module, char **version)
{
    const char *at = strchr(ref, '@');
    if (!at || at == ref || !at[1])
        return -1;
    *module = spk_strndup(ref, (size_t)(at - ref));
    *version = spk_strdup(at + 1);
    return 0;
}

/* The text body line by line, each made printable (newlines are the only control characters it
 * keeps). */
static void print_text(const char *body, size_t len)
{
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(body + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - (body + i)) : len - i;
        char *line = spk_cli_printable(body + i, n);
        printf("%s\n", line);
        free(line);
        i += n + 1;
    }
    fflush(stdout);
}

int spk_cli_cmd_diff(struct spk_cli *cli, const struct spk_cli_command *self, int argc, char **argv)
{
    struct spk_cli_strlist pos = {0};
    struct spk_cli_response r = {0};
    json_t *doc = NULL;
    char *m1 = NULL, *v1 = NULL, *m2 = NULL, *v2 = NULL, *path = NULL;
    const struct spk_cli_opt opts[] = {{NULL, 0, 0, NULL, NULL, NULL}};
    int rc = spk_cli_command_begin(cli, self, opts, argc, argv, &pos);
    if (rc >= 0)
        goto out;
    if (pos.n != 2) {
        rc = spk_cli_usage_error(cli, "expected two versions of one module: MODULE@FROM MODULE@TO");
        goto out;
    }
    if (split_ref(pos.v[0], &m1, &v1) || split_ref(pos.v[1], &m2, &v2)) {
        rc = spk_cli_usage_error(cli, "expected MODULE@VERSION, not \"%s\"",
                                 m1 ? pos.v[1] : pos.v[0]);
        goto out;
    }
    if (strcmp(m1, m2) != 0) {
        rc = spk_cli_usage_error(cli, "both versions must be of one module (%s, %s)", m1, m2);
        goto out;
    }
    char *em = spk_cli_escape(m1), *e1 = spk_cli_escape(v1), *e2 = spk_cli_escape(v2);
    path = spk_asprintf("/modules/%s/diff?from=%s&to=%s%s", em, e1, e2,
                        cli->json ? "" : "&format=text");
    free(em);
    free(e1);
    free(e2);
    rc = spk_cli_call(cli, "GET", path, NULL, SPK_CLI_HTTP_RETRY | SPK_CLI_CALL_NO_REPORT, NULL, &r,
                      cli->json ? &doc : NULL);
    if (rc == SPK_EXIT_OK) {
        if (cli->json)
            spk_cli_print_json(doc);
        else
            print_text(r.body, r.len);
        goto out;
    }
    /* A transport error, or a 2xx that was not JSON: both reported already. */
    if (r.status == 0 || (r.status >= 200 && r.status <= 299))
        goto out;
    if (spk_cli_route_missing(&r))
        rc = spk_cli_fail_route_missing(cli, "diffs", "GET", "/modules/{name}/diff", &r);
    else
        rc = spk_cli_report_response(cli, &r);
out:
    json_decref(doc);
    spk_cli_response_release(&r);
    free(path);
    free(m1);
    free(v1);
    free(m2);
    free(v2);
    spk_cli_strlist_release(&pos);
    return rc;
}
