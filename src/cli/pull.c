/* `spoke pull`: a module version's files written into a directory, and with --recursive the
 * versions it depends on, transitively. Everything is fetched and checked before the first write:
 * each file's SHA-256 against the registry's, each path against the path rules, one version per
 * module across the graph, one content per path. Then each file is written atomically under the
 * directory (outdir.c), so a hostile or broken answer leaves nothing behind. */
#include <stdlib.h>
#include <string.h>

#include "spoke/alloc.h"
#include "spoke/cli.h"
#include "spoke/semver.h"
#include "spoke/sha256.h"
#include "spoke/validate.h"
#include "spoke/banned.h"

#define MAX_MODULES 1000 /* in one dependency graph */

struct node {
    char *module;
    char *version;     /* resolved (the registry's canonical form) */
    char *required_by; /* "module@version", NULL for the root */
    json_t *doc;       /* the Version, with file contents */
};

struct graph {
    struct node *v;
    size_t n;
};

/* One file to write: pointers into a node's doc. */
struct planned {
    const char *path, *content;
    size_t path_len, content_len;
    const struct node *owner;
};

static void graph_release(struct graph *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->v[i].module);
        free(g->v[i].version);
        free(g->v[i].required_by);
        json_decref(g->v[i].doc);
    }
    free(g->v);
}

static struct node *graph_find(struct graph *g, const char *module)
{
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->v[i].module, module) == 0)
            return &g->v[i];
    return NULL;
}

static char *shown(const char *s)
{
    return spk_cli_printable(s, strlen(s));
}

/* GETs module@version and appends it to the graph. */
static int fetch(struct spk_cli *cli, struct graph *g, const char *module, const char *version,
                 const char *required_by)
{
    char *em = spk_cli_escape(module), *ev = spk_cli_escape(version);
    char *path = spk_asprintf("/modules/%s/versions/%s", em, ev);
    char *label = spk_asprintf("pulling %s@%s", module, version);
    json_t *doc = NULL;
    if (cli->progress && required_by)
        spk_cli_note(cli, "fetching %s@%s (needed by %s)", module, version, required_by);
    int rc = spk_cli_call(cli, "GET", path, NULL, SPK_CLI_HTTP_RETRY, label, NULL, &doc);
    struct spk_semver sv;
    const char *resolved = spk_cli_jstr(doc, "version");
    if (rc == SPK_EXIT_OK &&
        (!json_is_array(json_object_get(doc, "files")) || spk_semver_parse(resolved, &sv, NULL)))
        rc = spk_cli_fail(cli, SPK_EXIT_ERROR,
                          "GET %s: the answer has no files array or no usable version", path);
    if (rc == SPK_EXIT_OK) {
        g->v = spk_realloc(g->v, (g->n + 1) * sizeof(*g->v));
        g->v[g->n++] = (struct node){
            .module = spk_strdup(module),
            .version = spk_strdup(sv.canonical),
            .required_by = required_by ? spk_strdup(required_by) : NULL,
            .doc = doc,
        };
        doc = NULL;
    }
    json_decref(doc);
    free(label);
    free(path);
    free(ev);
    free(em);
    return rc;
}

/* Breadth-first over "dependencies" ("module@version"), one version per module. */
static int resolve(struct spk_cli *cli, struct graph *g)
{
    for (size_t i = 0; i < g->n; i++) {
        char *parent = spk_asprintf("%s@%s", g->v[i].module, g->v[i].version);
        json_t *deps = json_object_get(g->v[i].doc, "dependencies");
        int rc = SPK_EXIT_OK;
        for (size_t k = 0; rc == SPK_EXIT_OK && k < json_array_size(deps); k++) {
            json_t *d = json_array_get(deps, k);
            struct spk_ref ref;
            struct spk_error err = {0};
            if (!json_is_string(d) || strlen(json_string_value(d)) != json_string_length(d) ||
                spk_ref_parse(json_string_value(d), &ref, &err)) {
                char *p = shown(parent);
                rc = spk_cli_fail(cli, SPK_EXIT_ERROR, "%s lists an unusable dependency: %s", p,
                                  err.msg[0] ? err.msg : "not a string");
                free(p);
                break;
            }
            const char *dm = ref.module, *dv = ref.version;
            struct node *seen = graph_find(g, dm);
            if (seen) {
                if (strcmp(seen->version, dv) != 0) {
                    char *a = shown(seen->version), *b = shown(dv), *p = shown(parent);
                    char *by = shown(seen->required_by ? seen->required_by : "the command line");
                    rc = spk_cli_fail(cli, SPK_EXIT_CONFLICT,
                                      "conflicting versions of %s in the dependency graph: %s "
                                      "(required by %s) and %s (required by %s)",
                                      dm, a, by, b, p);
                    free(a), free(b), free(p), free(by);
                }
                continue;
            }
            if (g->n >= MAX_MODULES) {
                rc = spk_cli_fail(cli, SPK_EXIT_ERROR,
                                  "the dependency graph has more than %d modules", MAX_MODULES);
                break;
            }
            rc = fetch(cli, g, dm, dv, parent);
        }
        free(parent);
        if (rc != SPK_EXIT_OK)
            return rc;
    }
    return SPK_EXIT_OK;
}

static int cmp_planned(const void *a, const void *b)
{
    const struct planned *x = a, *y = b;
    size_t n = x->path_len < y->path_len ? x->path_len : y->path_len;
    int c = memcmp(x->path, y->path, n);
    return c ? c : (x->path_len > y->path_len) - (x->path_len < y->path_len);
}

/* Collects and checks every file of the graph; nothing is written yet. */
static int plan(struct spk_cli *cli, const struct graph *g, struct planned **out, size_t *nout)
{
    size_t total = 0;
    for (size_t i = 0; i < g->n; i++)
        total += json_array_size(json_object_get(g->v[i].doc, "files"));
    struct planned *p = spk_calloc(total ? total : 1, sizeof(*p));
    size_t n = 0;
    int rc = SPK_EXIT_OK;

    for (size_t i = 0; rc == SPK_EXIT_OK && i < g->n; i++) {
        const struct node *nd = &g->v[i];
        json_t *files = json_object_get(nd->doc, "files");
        for (size_t k = 0; rc == SPK_EXIT_OK && k < json_array_size(files); k++) {
            json_t *f = json_array_get(files, k);
            json_t *jp = json_object_get(f, "path"), *jc = json_object_get(f, "content");
            const char *sum = spk_cli_jstr(f, "sha256");
            struct spk_error err = {0};
            if (!json_is_string(jp) || !json_is_string(jc)) {
                rc = spk_cli_fail(cli, SPK_EXIT_ERROR,
                                  "%s@%s: file %zu has no path or content; nothing was written",
                                  nd->module, nd->version, k);
                break;
            }
            struct planned pl = {json_string_value(jp), json_string_value(jc),
                                 json_string_length(jp), json_string_length(jc), nd};
            char *ps = spk_cli_printable(pl.path, pl.path_len);
            char hex[SPK_SHA256_HEX_LEN + 1];
            if (spk_validate_path(pl.path, pl.path_len, &err)) {
                rc = spk_cli_fail(cli, SPK_EXIT_ERROR,
                                  "%s@%s: the registry sent the unsafe path \"%s\" (%s); nothing "
                                  "was written",
                                  nd->module, nd->version, ps, err.msg);
            } else if (sum[0] &&
                       (spk_sha256_hex(pl.content, pl.content_len, hex), strcmp(hex, sum) != 0)) {
                rc = spk_cli_fail(cli, SPK_EXIT_ERROR,
                                  "%s@%s: %s does not match its SHA-256 (%s); nothing was written",
                                  nd->module, nd->version, ps, sum);
            } else {
                p[n++] = pl;
            }
            free(ps);
        }
    }
    if (rc == SPK_EXIT_OK && n > 1) {
        qsort(p, n, sizeof(*p), cmp_planned);
        size_t w = 1;
        for (size_t i = 1; rc == SPK_EXIT_OK && i < n; i++) {
            const struct planned *a = &p[w - 1], *b = &p[i];
            if (cmp_planned(a, b) != 0) {
                p[w++] = *b;
            } else if (a->content_len != b->content_len ||
                       memcmp(a->content, b->content, a->content_len) != 0) {
                char *ps = spk_cli_printable(b->path, b->path_len);
                rc = spk_cli_fail(cli, SPK_EXIT_CONFLICT,
                                  "%s is in both %s@%s and %s@%s with different contents; "
                                  "nothing was written",
                                  ps, a->owner->module, a->owner->version, b->owner->module,
                                  b->owner->version);
                free(ps);
            }
        }
        n = w;
    }
    if (rc != SPK_EXIT_OK) {
        free(p);
        return rc;
    }
    *out = p;
    *nout = n;
    return SPK_EXIT_OK;
}

static void print_result(const struct spk_cli *cli, const struct graph *g, const char *dir,
                         size_t written, int recursive)
{
    if (cli->json) {
        json_t *mods = json_array();
        for (size_t i = 0; i < g->n; i++) {
            json_t *paths = json_array();
            json_t *files = json_object_get(g->v[i].doc, "files");
            for (size_t k = 0; k < json_array_size(files); k++)
                json_array_append_new(paths,
                                      json_string(spk_cli_jstr(json_array_get(files, k), "path")));
            json_t *m = json_pack("{s:s, s:s, s:s, s:o, s:O}", "module", g->v[i].module, "version",
                                  g->v[i].version, "digest", spk_cli_jstr(g->v[i].doc, "digest"),
                                  "files", paths, "dependencies",
                                  json_object_get(g->v[i].doc, "dependencies")
                                      ? json_object_get(g->v[i].doc, "dependencies")
                                      : json_null());
            if (g->v[i].required_by)
                json_object_set_new(m, "required_by", json_string(g->v[i].required_by));
            json_array_append_new(mods, m);
        }
        json_t *j = json_pack("{s:s%, s:I, s:o}", "dir", dir, strlen(dir), "files_written",
                              (json_int_t)written, "modules", mods);
        if (j)
            spk_cli_print_json(j);
        else
            spk_cli_fail(cli, SPK_EXIT_ERROR, "cannot show the result as JSON");
        json_decref(j);
        return;
    }
    if (cli->quiet)
        return;
    for (size_t i = 0; i < g->n; i++) {
        size_t nf = json_array_size(json_object_get(g->v[i].doc, "files"));
        char *v = shown(g->v[i].version);
        printf("%s@%s  %s  %zu file%s\n", g->v[i].module, v, spk_cli_jstr(g->v[i].doc, "digest"),
               nf, nf == 1 ? "" : "s");
        free(v);
    }
    char *d = shown(dir);
    printf("wrote %zu file%s to %s\n", written, written == 1 ? "" : "s", d);
    free(d);
    size_t ndeps = json_array_size(json_object_get(g->v[0].doc, "dependencies"));
    if (!recursive && ndeps)
        spk_cli_note(cli, "%s@%s has %zu dependenc%s; add --recursive to pull %s", g->v[0].module,
                     g->v[0].version, ndeps, ndeps == 1 ? "y" : "ies", ndeps == 1 ? "it" : "them");
}

int spk_cli_cmd_pull(struct spk_cli *cli, const struct spk_cli_command *self, int argc, char **argv)
{
    const char *module = NULL, *version = NULL, *dir = ".";
    int recursive = 0;
    struct graph g = {0};
    struct planned *files = NULL;
    size_t nfiles = 0, written = 0;
    struct spk_cli_outdir out = {.fd = -1};
    const struct spk_cli_opt opts[] = {
        {"module", 'm', SPK_CLI_OPT_STRING, &module, "NAME", "module to pull"},
        {"version", 0, SPK_CLI_OPT_STRING, &version, "VERSION",
         "version to pull, or \"latest\" (highest release, else highest pre-release)"},
        {"dir", 'd', SPK_CLI_OPT_STRING, &dir, "DIR",
         "directory to write into, created when missing (default .)"},
        {"recursive", 'r', SPK_CLI_OPT_FLAG, &recursive, NULL,
         "also pull the dependencies, transitively, into the same directory"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };

    int rc = spk_cli_command_begin(cli, self, opts, argc, argv, NULL);
    if (rc >= 0)
        goto out;
    if (!module || !version) {
        rc = spk_cli_usage_error(cli, "--module and --version are required");
        goto out;
    }
    rc = fetch(cli, &g, module, version, NULL);
    if (rc == SPK_EXIT_OK && recursive)
        rc = resolve(cli, &g);
    if (rc == SPK_EXIT_OK)
        rc = plan(cli, &g, &files, &nfiles);
    if (rc != SPK_EXIT_OK)
        goto out;

    struct spk_error err = {0};
    if (spk_cli_outdir_open(&out, dir, &err)) {
        rc = spk_cli_fail(cli, SPK_EXIT_ERROR, "%s", err.msg);
        goto out;
    }
    for (size_t i = 0; i < nfiles; i++, written++) {
        if (spk_cli_outdir_write(&out, files[i].path, files[i].path_len, files[i].content,
                                 files[i].content_len, &err)) {
            rc = spk_cli_fail(cli, SPK_EXIT_ERROR, "%s (%zu of %zu files written)", err.msg,
                              written, nfiles);
            goto out;
        }
    }
    print_result(cli, &g, dir, written, recursive);
    rc = SPK_EXIT_OK;
out:
    spk_cli_outdir_close(&out);
    free(files);
    graph_release(&g);
    return rc;
}
