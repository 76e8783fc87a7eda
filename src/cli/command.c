/* What every command shares: the global options (accepted before or after the command name),
 * the registry and token resolution (flag, then environment, then default), the HTTP client's
 * settings, and the --help layout. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spoke/alloc.h"
#include "spoke/cli.h"
#include "spoke/banned.h"

#define CONNECT_TIMEOUT_MS 10000L

const struct spk_cli_opt *spk_cli_global_opts(struct spk_cli *cli)
{
    const struct spk_cli_opt rows[] = {
        {"registry", 0, SPK_CLI_OPT_STRING, &cli->registry_flag, "URL",
         "registry base URL (else $SPOKE_REGISTRY_URL, else " SPK_CLI_DEFAULT_REGISTRY ")"},
        {"token", 0, SPK_CLI_OPT_STRING, &cli->token_flag, "TOKEN",
         "bearer token (else $SPOKE_TOKEN, the safer way: flags show in ps)"},
        {"json", 0, SPK_CLI_OPT_FLAG, &cli->json, NULL, "print results as JSON on stdout"},
        {"quiet", 'q', SPK_CLI_OPT_FLAG, &cli->quiet, NULL,
         "print only errors (and data asked for)"},
        {"retries", 0, SPK_CLI_OPT_UINT, &cli->retries, "N",
         "extra attempts on 429/502/503/504 and connection errors (default 4)"},
        {"timeout", 0, SPK_CLI_OPT_UINT, &cli->timeout_s, "SECONDS",
         "limit for each request (default 120)"},
        {"help", 'h', SPK_CLI_OPT_FLAG, &cli->help, NULL, "show help"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    _Static_assert(sizeof(rows) <= sizeof(cli->global_opts), "spk_cli.global_opts is too small");
    memcpy(cli->global_opts, rows, sizeof(rows));
    return cli->global_opts;
}

static int valid_base_url(const char *u)
{
    const char *rest = strncmp(u, "http://", 7) == 0    ? u + 7
                       : strncmp(u, "https://", 8) == 0 ? u + 8
                                                        : NULL;
    if (!rest || !rest[0] || rest[0] == '/')
        return 0;
    for (const unsigned char *p = (const unsigned char *)u; *p; p++)
        if (*p <= 0x20 || *p == 0x7F)
            return 0;
    return 1;
}

int spk_cli_setup(struct spk_cli *cli)
{
    const char *env_registry = getenv("SPOKE_REGISTRY_URL");
    const char *env_token = getenv("SPOKE_TOKEN");
    const char *registry = cli->registry_flag                ? cli->registry_flag
                           : env_registry && env_registry[0] ? env_registry
                                                             : SPK_CLI_DEFAULT_REGISTRY;
    if (!valid_base_url(registry)) {
        char *shown = spk_cli_url_redact(registry);
        char *safe = spk_cli_printable(shown, strlen(shown));
        int rc = spk_cli_usage_error(cli,
                                     "registry URL \"%s\" must start with http:// or "
                                     "https:// and name a host%s",
                                     safe, cli->registry_flag ? "" : " (from SPOKE_REGISTRY_URL)");
        free(safe);
        free(shown);
        return rc;
    }
    cli->registry = spk_strdup(registry);
    size_t n = strlen(cli->registry);
    while (n > 0 && cli->registry[n - 1] == '/')
        cli->registry[--n] = '\0';
    cli->token = cli->token_flag ? cli->token_flag : env_token;
    if (cli->token && !cli->token[0])
        cli->token = NULL;
    if (cli->token && strpbrk(cli->token, "\r\n"))
        return spk_cli_usage_error(cli, "the token contains a line break");
    cli->progress = !cli->quiet && isatty(STDERR_FILENO);

    struct spk_cli_http_options o = {
        .base_url = cli->registry,
        .token = cli->token,
        .timeout_ms = (cli->timeout_s >= 0 ? cli->timeout_s : SPK_CLI_DEFAULT_TIMEOUT_S) * 1000L,
        .connect_timeout_ms = CONNECT_TIMEOUT_MS,
        .retries = cli->retries >= 0 ? cli->retries : SPK_CLI_DEFAULT_RETRIES,
        .retry_window_ms = SPK_CLI_RETRY_WINDOW_MS,
        .max_response_bytes = SPK_CLI_MAX_RESPONSE_BYTES,
        .progress = cli->progress,
    };
    if (o.timeout_ms <= 0)
        return spk_cli_usage_error(cli, "--timeout must be at least 1 second");
    if (o.connect_timeout_ms > o.timeout_ms)
        o.connect_timeout_ms = o.timeout_ms;
    struct spk_error err = {0};
    cli->http = spk_cli_http_create(&o, &err);
    if (!cli->http)
        return spk_cli_fail(cli, SPK_EXIT_ERROR, "%s", err.msg);
    return SPK_EXIT_OK;
}

void spk_cli_release(struct spk_cli *cli)
{
    spk_cli_http_destroy(cli->http);
    free(cli->registry);
    cli->http = NULL;
    cli->registry = NULL;
}

void spk_cli_command_help(FILE *out, const struct spk_cli_command *cmd,
                          const struct spk_cli_opt *opts)
{
    fprintf(out, "usage: spoke %s\n\n%s.\n", cmd->usage, cmd->summary);
    if (cmd->detail)
        fprintf(out, "\n%s\n", cmd->detail);
    if (opts && opts->name) {
        fputs("\noptions:\n", out);
        spk_cli_opts_print(out, opts);
    }
    struct spk_cli scratch = {0};
    fputs("\nglobal options:\n", out);
    spk_cli_opts_print(out, spk_cli_global_opts(&scratch));
    fputs("\nExit status: 0 ok, 1 error, 2 usage, 3 conflict, 4 not found, 5 registry "
          "unavailable, 6 breaking change.\n",
          out);
}

int spk_cli_command_begin(struct spk_cli *cli, const struct spk_cli_command *cmd,
                          const struct spk_cli_opt *opts, int argc, char **argv,
                          struct spk_cli_strlist *positional)
{
    struct spk_error err = {0};
    struct spk_cli_strlist none = {0};
    const struct spk_cli_opt *tables[] = {opts, spk_cli_global_opts(cli)};
    cli->command = cmd->name;
    int bad = spk_cli_args_parse(argc - 1, argv + 1, tables, 2, 0, positional ? positional : &none,
                                 NULL, &err);
    if (!bad && !positional && none.n)
        spk_error_set(&err, SPK_E_INVALID, "unexpected argument \"%.200s\"", none.v[0]);
    spk_cli_strlist_release(&none);
    if (bad || err.code)
        return spk_cli_usage_error(cli, "%s", err.msg);
    if (cli->help) {
        spk_cli_command_help(stdout, cmd, opts);
        return SPK_EXIT_OK;
    }
    int rc = spk_cli_setup(cli);
    return rc == SPK_EXIT_OK ? -1 : rc;
}
