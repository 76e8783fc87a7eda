/* `spoke breaking`: would a directory of .proto files break a module's compatibility rules?
 * The files go, exactly as a push would send them, as a candidate to
 * POST /modules/{name}/compatibility; the registry picks what to compare with (the latest version,
 * the one named by --against, or what a push of --version would be compared with under the
 * module's SemVer policy) and answers 200 or 409 with the violations. They print one a line in
 * buf's format on stdout, a summary on stderr; a breaking change exits 6. Nothing is stored. */
#include <stdlib.h>
#include <string.h>

#include "spoke/alloc.h"
#include "spoke/buf.h"
#include "spoke/cli.h"
#include "spoke/banned.h"

/* The flags' values, else a copy of the policy's list `key`. */
static json_t *list_or_policy(const struct spk_cli_strlist *given, const json_t *policy,
                              const char *key)
{
    if (given->n)
        return spk_cli_strlist_json(given);
    json_t *cur = json_object_get(policy, key);
    return json_is_array(cur) ? json_deep_copy(cur) : json_array();
}

/* The "breaking" override of the request: the module's policy with `use` and `except` replaced
 * by the flags that were given, so `--except RULE` alone keeps the module's categories. Returns 0
 * with *out set, or an exit status (reported). */
static int breaking_override(struct spk_cli *cli, const char *em, const struct spk_cli_strlist *use,
                             const struct spk_cli_strlist *except, json_t **out)
{
    struct spk_cli_response r = {0};
    json_t *doc = NULL;
    char *path = spk_asprintf("/modules/%s/policy", em);
    int rc = spk_cli_call(cli, "GET", path, NULL, SPK_CLI_HTTP_RETRY | SPK_CLI_CALL_NO_REPORT, NULL,
                          &r, &doc);
    if (rc != SPK_EXIT_OK) {
        /* A transport error or a 2xx that is not JSON was reported already. */
        if (r.status == 0 || (r.status >= 200 && r.status <= 299))
            goto out;
        if (spk_cli_route_missing(&r))
            rc = spk_cli_fail_route_missing(cli, "compatibility policies", "GET",
                                            "/modules/{name}/policy", &r);
        else
            rc = spk_cli_report_response(cli, &r);
        goto out;
    }
    json_t *policy = json_object_get(doc, "breaking");
    json_t *b = json_object();
    json_object_set_new(b, "use", list_or_policy(use, policy, "use"));
    json_object_set_new(b, "except", list_or_policy(except, policy, "except"));
    json_t *ignore = json_object_get(policy, "ignore");
    if (json_is_array(ignore))
        json_object_set_new(b, "ignore", json_deep_copy(ignore));
    *out = b;
out:
    json_decref(doc);
    spk_cli_response_release(&r);
    free(path);
    return rc;
}

/* "M@1.0.0, M@1.1.0" from the answer's "against" (printable), or NULL when it names none. */
static char *against_list(const char *module, const json_t *answer)
{
    struct spk_buf b = SPK_BUF_INIT;
    char *m = spk_cli_printable(module, strlen(module));
    size_t i, n = 0;
    json_t *a;
    json_array_foreach(json_object_get(answer, "against"), i, a)
    {
        if (!json_is_string(a))
            continue;
        char *v = spk_cli_printable(json_string_value(a), json_string_length(a));
        spk_buf_printf(&b, "%s%s@%s", n++ ? ", " : "", m, v);
        free(v);
    }
    free(m);
    char *s = spk_buf_detach(&b, NULL);
    if (n == 0) {
        free(s);
        return NULL;
    }
    return s;
}

/* The verdict: violations on stdout (or the answer with --json), a summary on stderr. */
static int report_answer(const struct spk_cli *cli, const char *module, const json_t *answer)
{
    json_t *violations = json_object_get(answer, "violations");
    json_t *verdict = json_object_get(answer, "compatible");
    size_t n;
    if (cli->json) {
        spk_cli_print_json(answer);
        n = json_array_size(violations);
    } else {
        n = spk_cli_violations_print(stdout, violations);
    }
    char *against = against_list(module, answer);
    int rc = SPK_EXIT_OK;
    if (n || (json_is_boolean(verdict) && !json_is_true(verdict))) {
        rc = spk_cli_fail(cli, SPK_EXIT_BREAKING, "%zu breaking change%s against %s", n,
                          n == 1 ? "" : "s", against ? against : "an earlier version");
    } else if (against) {
        spk_cli_note(cli, "no breaking changes against %s", against);
    } else {
        char *m = spk_cli_printable(module, strlen(module));
        spk_cli_note(cli, "no breaking changes: nothing in %s to compare with", m);
        free(m);
    }
    free(against);
    return rc;
}

int spk_cli_cmd_breaking(struct spk_cli *cli, const struct spk_cli_command *self, int argc,
                         char **argv)
{
    const char *module = NULL, *dir = ".", *against = NULL, *version = NULL;
    struct spk_cli_strlist deps = {0}, use = {0}, except = {0};
    struct spk_cli_tree tree = {0};
    struct spk_cli_response r = {0};
    json_t *files = NULL, *body = NULL, *answer = NULL, *err = NULL;
    char *em = NULL, *path = NULL, *label = NULL;
    const struct spk_cli_opt opts[] = {
        {"module", 'm', SPK_CLI_OPT_STRING, &module, "NAME", "module the files would be pushed to"},
        {"dir", 'd', SPK_CLI_OPT_STRING, &dir, "DIR",
         "directory with the .proto files (default .)"},
        {"against", 0, SPK_CLI_OPT_STRING, &against, "VERSION",
         "version to compare with (default: the latest; see --version)"},
        {"version", 0, SPK_CLI_OPT_STRING, &version, "VERSION",
         "compare as a push of this version would be (SemVer policy)"},
        {"dep", 0, SPK_CLI_OPT_LIST, &deps, "MODULE@VERSION",
         "a dependency the files import from; repeat for more"},
        {"use", 0, SPK_CLI_OPT_LIST, &use, "RULE",
         "category (FILE, PACKAGE, WIRE_JSON, WIRE) or rule to check; repeat"},
        {"except", 0, SPK_CLI_OPT_LIST, &except, "RULE", "category or rule to skip; repeat"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    int rc = spk_cli_command_begin(cli, self, opts, argc, argv, NULL);
    if (rc >= 0)
        goto out;
    if (!module) {
        rc = spk_cli_usage_error(cli, "--module is required");
        goto out;
    }
    rc = spk_cli_collect(cli, dir, &tree, &files);
    if (rc != SPK_EXIT_OK)
        goto out;
    body = json_pack("{s:O}", "files", files);
    if (deps.n)
        json_object_set_new(body, "dependencies", spk_cli_strlist_json(&deps));
    if (against)
        json_object_set_new(body, "old_version", json_string(against));
    if (version)
        json_object_set_new(body, "version", json_string(version));

    em = spk_cli_escape(module);
    if (use.n || except.n) {
        json_t *b = NULL;
        rc = breaking_override(cli, em, &use, &except, &b);
        if (rc != SPK_EXIT_OK)
            goto out;
        json_object_set_new(body, "breaking", b);
    }
    path = spk_asprintf("/modules/%s/compatibility", em);
    label = spk_asprintf("checking %s", module);
    rc = spk_cli_call(cli, "POST", path, body, SPK_CLI_HTTP_RETRY | SPK_CLI_CALL_NO_REPORT, label,
                      &r, &answer);
    if (rc == SPK_EXIT_OK) {
        rc = report_answer(cli, module, answer);
        goto out;
    }
    /* A transport error or a 2xx that is not JSON was reported already. */
    if (r.status == 0 || (r.status >= 200 && r.status <= 299))
        goto out;
    err = spk_cli_response_json(&r);
    /* 409 is the verdict "breaking" (an answer with "compatible"), not an error. */
    if (r.status == 409 && json_is_false(json_object_get(err, "compatible"))) {
        rc = report_answer(cli, module, err);
        goto out;
    }
    if (spk_cli_route_missing(&r)) {
        rc = spk_cli_fail_route_missing(cli, "breaking-change checks", "POST",
                                        "/modules/{name}/compatibility", &r);
        goto out;
    }
    if (r.status == 422)
        spk_cli_print_diagnostics(err);
    if (cli->json && err)
        spk_cli_print_json(err);
    rc = spk_cli_report_response(cli, &r);
out:
    spk_cli_response_release(&r);
    json_decref(err);
    json_decref(answer);
    json_decref(body);
    json_decref(files);
    free(label);
    free(path);
    free(em);
    spk_cli_tree_release(&tree);
    spk_cli_strlist_release(&except);
    spk_cli_strlist_release(&use);
    spk_cli_strlist_release(&deps);
    return rc;
}
