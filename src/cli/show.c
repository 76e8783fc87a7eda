/* `spoke show M` (a module and its versions) and `spoke show M@V` (one version's metadata:
 * digest, source, dependencies, files without their contents; `spoke pull` fetches those). */
#include <stdlib.h>
#include <string.h>

#include "spoke/alloc.h"
#include "spoke/cli.h"
#include "spoke/banned.h"

static void field(const char *label, const char *value)
{
    char *v = spk_cli_printable(value, strlen(value));
    printf("%-13s %s\n", label, v[0] ? v : "-");
    free(v);
}

static void print_module(const json_t *m)
{
    char count[32];
    snprintf(count, sizeof(count), "%lld",
             (long long)json_integer_value(json_object_get(m, "version_count")));
    field("name:", spk_cli_jstr(m, "name"));
    field("description:", spk_cli_jstr(m, "description"));
    field("latest:", spk_cli_jstr(m, "latest_version"));
    field("versions:", count);
    field("created:", spk_cli_jstr(m, "created_at"));
    field("updated:", spk_cli_jstr(m, "updated_at"));
    json_t *versions = json_object_get(m, "versions");
    if (json_array_size(versions)) {
        putchar('\n');
        spk_cli_print_versions(versions);
    }
}

static void print_version(const json_t *v)
{
    json_t *src = json_object_get(v, "source_info");
    field("module:", spk_cli_jstr(v, "module_name"));
    field("version:", spk_cli_jstr(v, "version"));
    field("digest:", spk_cli_jstr(v, "digest"));
    field("created:", spk_cli_jstr(v, "created_at"));
    field("repository:", spk_cli_jstr(src, "repository"));
    field("commit:", spk_cli_jstr(src, "commit_sha"));
    field("branch:", spk_cli_jstr(src, "branch"));
    size_t i;
    json_t *e;
    json_t *deps = json_object_get(v, "dependencies");
    printf("dependencies: %s\n", json_array_size(deps) ? "" : "-");
    json_array_foreach(deps, i, e)
    {
        const char *d = json_is_string(e) ? json_string_value(e) : "";
        char *s = spk_cli_printable(d, strlen(d));
        printf("  %s\n", s);
        free(s);
    }
    json_t *files = json_object_get(v, "files");
    printf("files:        %zu\n", json_array_size(files));
    json_array_foreach(files, i, e)
    {
        json_t *jp = json_object_get(e, "path");
        char *s = json_is_string(jp)
                      ? spk_cli_printable(json_string_value(jp), json_string_length(jp))
                      : spk_strdup("?");
        printf("  %s  %lld bytes  %s\n", s,
               (long long)json_integer_value(json_object_get(e, "size")),
               spk_cli_jstr(e, "sha256"));
        free(s);
    }
}

int spk_cli_cmd_show(struct spk_cli *cli, const struct spk_cli_command *self, int argc, char **argv)
{
    struct spk_cli_strlist pos = {0};
    json_t *doc = NULL;
    char *path = NULL, *module = NULL;
    const struct spk_cli_opt opts[] = {{NULL, 0, 0, NULL, NULL, NULL}};
    int rc = spk_cli_command_begin(cli, self, opts, argc, argv, &pos);
    if (rc >= 0)
        goto out;
    if (pos.n != 1) {
        rc = spk_cli_usage_error(cli, "%s",
                                 pos.n ? "expected one MODULE or MODULE@VERSION"
                                       : "MODULE or MODULE@VERSION is required");
        goto out;
    }
    const char *at = strchr(pos.v[0], '@');
    module = spk_strndup(pos.v[0], at ? (size_t)(at - pos.v[0]) : strlen(pos.v[0]));
    if (!module[0] || (at && !at[1])) {
        rc = spk_cli_usage_error(cli, "expected MODULE or MODULE@VERSION, not \"%s\"", pos.v[0]);
        goto out;
    }
    char *em = spk_cli_escape(module);
    if (at) {
        char *ev = spk_cli_escape(at + 1);
        path = spk_asprintf("/modules/%s/versions/%s", em, ev);
        free(ev);
    } else {
        path = spk_asprintf("/modules/%s", em);
    }
    free(em);
    rc = spk_cli_call(cli, "GET", path, NULL, SPK_CLI_HTTP_RETRY, NULL, NULL, &doc);
    if (rc != SPK_EXIT_OK)
        goto out;
    if (at) { /* metadata only: contents are what `spoke pull` is for */
        size_t i;
        json_t *f;
        json_array_foreach(json_object_get(doc, "files"), i, f) json_object_del(f, "content");
    }
    if (cli->json)
        spk_cli_print_json(doc);
    else if (at)
        print_version(doc);
    else
        print_module(doc);
out:
    json_decref(doc);
    free(module);
    free(path);
    spk_cli_strlist_release(&pos);
    return rc;
}
