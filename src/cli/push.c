/* `spoke push`: a directory of .proto files becomes a module version. The module is created when
 * the registry says it is missing; an identical re-push succeeds (the registry answers 200), a
 * different one exits 3 with the registry's message, and one that breaks the module's
 * compatibility policy exits 6 with its violations. The push is retried like a GET: the
 * registry settles repeats by digest. Rules the registry enforces (names, versions, paths,
 * limits) are left to it, so its message is what the user sees. */
#include <stdlib.h>
#include <string.h>

#include "spoke/alloc.h"
#include "spoke/cli.h"
#include "spoke/banned.h"

extern char **environ;

static void on_skip(const char *rel, const char *why, void *arg)
{
    const struct spk_cli *cli = arg;
    char *shown = spk_cli_printable(rel, strlen(rel));
    spk_cli_note(cli, "spoke %s: skipping %s: %s", cli->command, shown, why);
    free(shown);
}

int spk_cli_collect(struct spk_cli *cli, const char *dir, struct spk_cli_tree *tree,
                    json_t **files_out)
{
    struct spk_error err = {0};
    if (spk_cli_tree_walk(dir, tree, on_skip, cli, &err) || spk_cli_tree_read(dir, tree, &err))
        return spk_cli_fail(cli, spk_cli_exit_for_error(err.code), "%s", err.msg);
    json_t *files = json_array();
    for (size_t i = 0; i < tree->n; i++) {
        const struct spk_cli_file *f = &tree->files[i];
        json_t *content = json_stringn(f->data, f->len);
        if (!content) {
            json_decref(files);
            char *shown = spk_cli_printable(f->path, strlen(f->path));
            int rc = spk_cli_fail(cli, SPK_EXIT_ERROR,
                                  "%s is not valid UTF-8 text; .proto files must be UTF-8", shown);
            free(shown);
            return rc;
        }
        json_array_append_new(files, json_pack("{s:s, s:o}", "path", f->path, "content", content));
    }
    *files_out = files;
    return SPK_EXIT_OK;
}

static json_t *source_json(const char *dir)
{
    struct spk_cli_source src = {0};
    spk_cli_source_from_git(dir, &src);
    spk_cli_source_from_env((const char *const *)environ, &src);
    json_t *j = json_object();
    if (src.repository)
        json_object_set_new(j, "repository", json_string(src.repository));
    if (src.commit_sha)
        json_object_set_new(j, "commit_sha", json_string(src.commit_sha));
    if (src.branch)
        json_object_set_new(j, "branch", json_string(src.branch));
    spk_cli_source_release(&src);
    if (json_object_size(j) == 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* Sets *missing when GET /modules/{name} answers 404. Returns 0, or the exit status of a
 * transport failure (reported). */
static int module_missing(struct spk_cli *cli, const char *mpath, int *missing)
{
    struct spk_cli_response r = {0};
    int rc = spk_cli_call(cli, "GET", mpath, NULL, SPK_CLI_HTTP_RETRY | SPK_CLI_CALL_NO_REPORT,
                          NULL, &r, NULL);
    *missing = r.status == 404;
    if (r.status != 0)
        rc = SPK_EXIT_OK;
    spk_cli_response_release(&r);
    return rc;
}

static int create_module(struct spk_cli *cli, const char *module, const char *description,
                         int *created)
{
    struct spk_cli_response r = {0};
    json_t *body = json_pack("{s:s}", "name", module);
    if (description)
        json_object_set_new(body, "description", json_string(description));
    int rc = spk_cli_call(cli, "POST", "/modules", body,
                          SPK_CLI_HTTP_RETRY | SPK_CLI_CALL_NO_REPORT, NULL, &r, NULL);
    if (rc == SPK_EXIT_OK) {
        *created = 1;
    } else if (r.status == 409) { /* created meanwhile, by a concurrent job say: fine */
        rc = SPK_EXIT_OK;
    } else if (r.status != 0) {
        rc = spk_cli_report_response(cli, &r);
    }
    spk_cli_response_release(&r);
    json_decref(body);
    return rc;
}

static int update_description(struct spk_cli *cli, const char *mpath, const char *description)
{
    json_t *body = json_pack("{s:s}", "description", description);
    int rc = spk_cli_call(cli, "PATCH", mpath, body, SPK_CLI_HTTP_RETRY, NULL, NULL, NULL);
    json_decref(body);
    return rc;
}

/* A refused push. A schema error prints its diagnostics as `spoke validate` does; one that breaks
 * the module's compatibility policy (409 breaking_change, exit 6) lists its violations first, on
 * stderr like the rest of the error; with --json the error object goes to stdout too, as `spoke
 * validate` does with its diagnostics. */
static int report_refusal(const struct spk_cli *cli, const struct spk_cli_response *r)
{
    char code[64];
    spk_cli_response_code(r, code, sizeof(code));
    if (r->status == 409 && strcmp(code, "breaking_change") == 0) {
        json_t *err = spk_cli_response_json(r);
        fflush(stdout);
        spk_cli_violations_print(stderr, json_object_get(err, "details"));
        if (cli->json && err)
            spk_cli_print_json(err);
        json_decref(err);
    } else if (r->status == 422) {
        json_t *err = spk_cli_response_json(r);
        spk_cli_print_diagnostics(err);
        json_decref(err);
    }
    return spk_cli_report_response(cli, r);
}

static void print_result(const struct spk_cli *cli, json_t *version, const char *status,
                         int module_created)
{
    if (cli->json) {
        json_object_set_new(version, "status", json_string(status));
        json_object_set_new(version, "module_created", json_boolean(module_created));
        spk_cli_print_json(version);
        return;
    }
    if (cli->quiet)
        return;
    char *m = spk_cli_printable(spk_cli_jstr(version, "module_name"),
                                strlen(spk_cli_jstr(version, "module_name")));
    char *v = spk_cli_printable(spk_cli_jstr(version, "version"),
                                strlen(spk_cli_jstr(version, "version")));
    size_t nfiles = json_array_size(json_object_get(version, "files"));
    if (strcmp(status, "created") == 0)
        printf("pushed %s@%s: %zu file%s, %s%s\n", m, v, nfiles, nfiles == 1 ? "" : "s",
               spk_cli_jstr(version, "digest"), module_created ? " (module created)" : "");
    else
        printf("%s@%s is already in the registry with the same content (%s); nothing to do\n", m, v,
               spk_cli_jstr(version, "digest"));
    free(m);
    free(v);
}

int spk_cli_cmd_push(struct spk_cli *cli, const struct spk_cli_command *self, int argc, char **argv)
{
    const char *module = NULL, *version = NULL, *dir = ".", *description = NULL;
    struct spk_cli_strlist deps = {0};
    struct spk_cli_tree tree = {0};
    struct spk_cli_response r = {0};
    json_t *files = NULL, *body = NULL, *result = NULL;
    char *mpath = NULL, *vpath = NULL, *label = NULL;
    int module_created = 0;
    const struct spk_cli_opt opts[] = {
        {"module", 'm', SPK_CLI_OPT_STRING, &module, "NAME", "module name (created when missing)"},
        {"version", 0, SPK_CLI_OPT_STRING, &version, "VERSION", "semantic version to push"},
        {"dir", 'd', SPK_CLI_OPT_STRING, &dir, "DIR",
         "directory with the .proto files (default .)"},
        {"dep", 0, SPK_CLI_OPT_LIST, &deps, "MODULE@VERSION", "a dependency; repeat for more"},
        {"description", 0, SPK_CLI_OPT_STRING, &description, "TEXT",
         "module description: set on create, updated otherwise"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };

    int rc = spk_cli_command_begin(cli, self, opts, argc, argv, NULL);
    if (rc >= 0)
        goto out;
    if (!module || !version) {
        rc = spk_cli_usage_error(cli, "--module and --version are required");
        goto out;
    }
    rc = spk_cli_collect(cli, dir, &tree, &files);
    if (rc != SPK_EXIT_OK)
        goto out;

    body = json_pack("{s:s, s:O}", "version", version, "files", files);
    if (deps.n)
        json_object_set_new(body, "dependencies", spk_cli_strlist_json(&deps));
    json_t *src = source_json(dir);
    if (src)
        json_object_set_new(body, "source_info", src);

    char *em = spk_cli_escape(module);
    mpath = spk_asprintf("/modules/%s", em);
    vpath = spk_asprintf("/modules/%s/versions", em);
    free(em);
    label = spk_asprintf("pushing %s@%s", module, version);

    const int flags = SPK_CLI_HTTP_RETRY | SPK_CLI_CALL_NO_REPORT;
    rc = spk_cli_call(cli, "POST", vpath, body, flags, label, &r, &result);
    if (rc != SPK_EXIT_OK && r.status == 404) {
        char code[64];
        spk_cli_response_code(&r, code, sizeof(code));
        /* The 404 may be about something else (a dependency): create only a missing module. */
        int missing = 0;
        if (strcmp(code, "not_found") == 0) {
            int mrc = module_missing(cli, mpath, &missing);
            if (mrc != SPK_EXIT_OK) {
                rc = mrc;
                goto out;
            }
        }
        if (missing) {
            spk_cli_response_release(&r);
            rc = create_module(cli, module, description, &module_created);
            if (rc != SPK_EXIT_OK)
                goto out;
            rc = spk_cli_call(cli, "POST", vpath, body, flags, label, &r, &result);
        }
    }
    if (rc != SPK_EXIT_OK) {
        if (r.status != 0) /* 0: a transport error, already reported */
            rc = report_refusal(cli, &r);
        goto out;
    }
    if (description && !module_created) {
        rc = update_description(cli, mpath, description);
        if (rc != SPK_EXIT_OK)
            goto out;
    }
    print_result(cli, result, r.status == 201 ? "created" : "unchanged", module_created);
    rc = SPK_EXIT_OK;
out:
    spk_cli_response_release(&r);
    json_decref(result);
    json_decref(body);
    json_decref(files);
    free(label);
    free(vpath);
    free(mpath);
    spk_cli_tree_release(&tree);
    spk_cli_strlist_release(&deps);
    return rc;
}
