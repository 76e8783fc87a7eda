/* `spoke validate`: the registry compiles a directory's .proto files (with the declared
 * dependencies) without storing anything: POST /validate. Diagnostics print as
 * "file:line:column: message" on stderr, the form editors and CI log viewers link. A registry
 * that predates the route answers 404 "no such endpoint"; that gets a message of its own. The
 * walk, the diagnostics and that test are shared with `spoke push` and `spoke breaking`. */
#include <stdlib.h>
#include <string.h>

#include "spoke/cli.h"
#include "spoke/banned.h"

int spk_cli_cmd_validate(struct spk_cli *cli, const struct spk_cli_command *self, int argc,
                         char **argv)
{
    const char *dir = ".";
    struct spk_cli_strlist deps = {0};
    struct spk_cli_tree tree = {0};
    struct spk_cli_response r = {0};
    json_t *files = NULL, *body = NULL, *result = NULL;
    const struct spk_cli_opt opts[] = {
        {"dir", 'd', SPK_CLI_OPT_STRING, &dir, "DIR",
         "directory with the .proto files (default .)"},
        {"dep", 0, SPK_CLI_OPT_LIST, &deps, "MODULE@VERSION",
         "a dependency the files import from; repeat for more"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    int rc = spk_cli_command_begin(cli, self, opts, argc, argv, NULL);
    if (rc >= 0)
        goto out;
    rc = spk_cli_collect(cli, dir, &tree, &files);
    if (rc != SPK_EXIT_OK)
        goto out;
    body = json_pack("{s:O}", "files", files);
    if (deps.n)
        json_object_set_new(body, "dependencies", spk_cli_strlist_json(&deps));
    rc = spk_cli_call(cli, "POST", "/validate", body, SPK_CLI_HTTP_RETRY | SPK_CLI_CALL_NO_REPORT,
                      "validating", &r, &result);
    if (rc == SPK_EXIT_OK) {
        if (cli->json)
            spk_cli_print_json(result);
        else if (!cli->quiet)
            printf("valid: %zu file%s compile%s\n", tree.n, tree.n == 1 ? "" : "s",
                   tree.n == 1 ? "s" : "");
        goto out;
    }
    if (r.status == 0) /* a transport error, already reported */
        goto out;
    if (spk_cli_route_missing(&r)) {
        rc = spk_cli_fail_route_missing(cli, "validation", "POST", "/validate", &r);
        goto out;
    }
    json_t *err = spk_cli_response_json(&r);
    if (r.status == 422)
        spk_cli_print_diagnostics(err);
    if (cli->json && err)
        spk_cli_print_json(err);
    json_decref(err);
    rc = spk_cli_report_response(cli, &r);
out:
    spk_cli_response_release(&r);
    json_decref(result);
    json_decref(body);
    json_decref(files);
    spk_cli_tree_release(&tree);
    spk_cli_strlist_release(&deps);
    return rc;
}
