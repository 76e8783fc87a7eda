/* The registry's HTTP API as the commands use it: one call that sends JSON, maps the answer to
 * an exit status and reports the server's own message; and paged GETs that follow Link rel="next"
 * (bounded, and only ever to the registry the user named: the link's query is kept, its host is
 * not). */
#include <stdlib.h>
#include <string.h>

#include "spoke/alloc.h"
#include "spoke/cli.h"
#include "spoke/banned.h"

#define MAX_PAGES 10000

const char *spk_cli_jstr(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : "";
}

int spk_cli_route_missing(const struct spk_cli_response *r)
{
    if (r->status == 405)
        return 1;
    if (r->status != 404)
        return 0;
    /* The router's own answer (src/http/server.c), or a body that is not the registry's at all. */
    json_t *j = spk_cli_response_json(r);
    int missing = !j || strcmp(spk_cli_jstr(j, "error"), "no such endpoint") == 0;
    json_decref(j);
    return missing;
}

int spk_cli_fail_route_missing(const struct spk_cli *cli, const char *what, const char *method,
                               const char *route, const struct spk_cli_response *r)
{
    char *url = spk_cli_url_redact(cli->registry);
    int rc =
        spk_cli_fail(cli, SPK_EXIT_ERROR,
                     "the registry at %s does not offer %s (%s %s answered HTTP %ld); it needs "
                     "a newer spoke-server",
                     url, what, method, route, r->status);
    free(url);
    return rc;
}

int spk_cli_report_response(const struct spk_cli *cli, const struct spk_cli_response *r)
{
    char code[64];
    spk_cli_response_code(r, code, sizeof(code));
    char *msg = spk_cli_response_message(r);
    int rc =
        spk_cli_fail(cli, spk_cli_exit_for_status(r->status, code[0] ? code : NULL), "%s", msg);
    free(msg);
    return rc;
}

int spk_cli_call(struct spk_cli *cli, const char *method, const char *path, const json_t *body,
                 int flags, const char *label, struct spk_cli_response *resp, json_t **out)
{
    struct spk_cli_response local = {0};
    struct spk_error err = {0};
    struct spk_cli_response *r = resp ? resp : &local;
    char *text = NULL;
    size_t text_len = 0;
    int rc;

    if (out)
        *out = NULL;
    if (body) {
        text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!text) {
            memset(r, 0, sizeof(*r));
            return spk_cli_fail(cli, SPK_EXIT_ERROR, "cannot encode the request as JSON");
        }
        text_len = strlen(text);
    }
    if (spk_cli_http_request(cli->http, method, path, text, text_len, flags, label, r, &err)) {
        rc = spk_cli_fail(cli, spk_cli_exit_for_error(err.code), "%s", err.msg);
        goto out;
    }
    if (r->status < 200 || r->status > 299) {
        if (flags & SPK_CLI_CALL_NO_REPORT) {
            char code[64];
            spk_cli_response_code(r, code, sizeof(code));
            rc = spk_cli_exit_for_status(r->status, code[0] ? code : NULL);
        } else {
            rc = spk_cli_report_response(cli, r);
        }
        goto out;
    }
    rc = SPK_EXIT_OK;
    if (out) {
        *out = spk_cli_response_json(r);
        if (!*out)
            rc = spk_cli_fail(cli, SPK_EXIT_ERROR,
                              "the registry answered %s %s with a body that is not JSON (HTTP "
                              "%ld); is %s a Spoke registry?",
                              method, path, r->status, cli->registry);
    }
out:
    free(text);
    spk_cli_response_release(&local);
    return rc;
}

/* Printable ASCII without spaces: what a query may hold before it goes into a URL. */
static int query_sane(const char *q)
{
    for (const unsigned char *p = (const unsigned char *)q; *p; p++)
        if (*p <= 0x20 || *p >= 0x7F || *p == '#')
            return 0;
    return 1;
}

int spk_cli_get_all(struct spk_cli *cli, const char *path, json_t **out)
{
    json_t *all = json_array();
    const char *qmark = strchr(path, '?');
    char *base = spk_strndup(path, qmark ? (size_t)(qmark - path) : strlen(path));
    char *cur = spk_strdup(path);
    int rc = SPK_EXIT_OK;

    for (int page = 0;; page++) {
        struct spk_cli_response r = {0};
        json_t *j = NULL;
        if (page >= MAX_PAGES) {
            rc = spk_cli_fail(cli, SPK_EXIT_ERROR, "more than %d pages from %s; giving up",
                              MAX_PAGES, base);
            break;
        }
        rc = spk_cli_call(cli, "GET", cur, NULL, SPK_CLI_HTTP_RETRY, NULL, &r, &j);
        if (rc == SPK_EXIT_OK && !json_is_array(j))
            rc = spk_cli_fail(cli, SPK_EXIT_ERROR, "GET %s did not answer a JSON array", base);
        if (rc != SPK_EXIT_OK) {
            json_decref(j);
            spk_cli_response_release(&r);
            break;
        }
        size_t got = json_array_size(j);
        json_array_extend(all, j);
        json_decref(j);
        const char *q = r.link_next ? spk_cli_url_query(r.link_next) : NULL;
        char *next = q && query_sane(q) ? spk_asprintf("%s?%s", base, q) : NULL;
        if (r.link_next && !next)
            rc = spk_cli_fail(cli, SPK_EXIT_ERROR, "GET %s sent a Link header that is not usable",
                              base);
        spk_cli_response_release(&r);
        if (!next || got == 0 || strcmp(next, cur) == 0) {
            free(next);
            break;
        }
        free(cur);
        cur = next;
    }
    free(cur);
    free(base);
    if (rc != SPK_EXIT_OK) {
        json_decref(all);
        all = NULL;
    }
    *out = all;
    return rc;
}
