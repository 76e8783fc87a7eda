/* spoke: the command-line client of the Spoke registry. Subcommands are rows of a table, like
 * git's builtins; each lives in its own file under src/cli/. This file only finds the command
 * (global options may come before it) and hands over. */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "spoke/cli.h"
#include "spoke/banned.h"

static const struct spk_cli_command commands[] = {
    {"push", "Push a directory of .proto files as a module version",
     "push --module NAME --version VERSION [--dir DIR] [--dep MODULE@VERSION]... "
     "[--description TEXT]",
     "Sends every *.proto file under DIR (sorted, '/'-separated paths relative to DIR; hidden\n"
     "entries, symlinks to directories and symlinks leaving DIR are skipped). Creates the module\n"
     "when it does not exist. Source information comes from git in DIR (remote origin, HEAD,\n"
     "branch), else from GITHUB_* / CI_* variables. Pushing the same content again succeeds;\n"
     "other content under an existing version exits 3.",
     spk_cli_cmd_push},
    {"pull", "Write a module version's files into a directory",
     "pull --module NAME --version VERSION|latest [--dir DIR] [--recursive]",
     "Fetches the version (and with --recursive its dependencies, transitively), checks every\n"
     "file's SHA-256 and path, then writes each file atomically under DIR. Two versions of one\n"
     "module in the dependency graph exit 3; nothing is written then.",
     spk_cli_cmd_pull},
    {"list", "List modules", "list [--prefix PREFIX]", NULL, spk_cli_cmd_list},
    {"show", "Show a module, or one version's metadata", "show MODULE[@VERSION|@latest]", NULL,
     spk_cli_cmd_show},
    {"versions", "List a module's versions, newest first", "versions MODULE", NULL,
     spk_cli_cmd_versions},
    {"validate", "Check on the registry that a directory of .proto files compiles",
     "validate [--dir DIR] [--dep MODULE@VERSION]...",
     "Runs the registry's push checks (protoc against the files, the declared dependencies and\n"
     "the well-known types) without storing anything. Diagnostics print as file:line:column.",
     spk_cli_cmd_validate},
    {"breaking", "Check that a directory of .proto files breaks no compatibility rule",
     "breaking --module NAME [--dir DIR] [--against VERSION] [--version VERSION] "
     "[--dep MODULE@VERSION]... [--use RULE]... [--except RULE]...",
     "Sends the files a push would send, as a candidate, and compares them with the module's\n"
     "latest version, or with --against, or with what a push of --version would be compared with\n"
     "under the module's SemVer policy. The rules are the module's policy; --use and --except\n"
     "replace its categories and its exceptions for this check. Nothing is stored. Violations\n"
     "print on stdout as file:line:column: RULE message (buf's format); a breaking change exits 6.",
     spk_cli_cmd_breaking},
    {"diff", "Show what changed between two versions of a module", "diff MODULE@FROM MODULE@TO",
     "Lists every added, removed and changed element (files, messages, fields, enums, services,\n"
     "options, ...) and which of the FILE, PACKAGE, WIRE_JSON and WIRE categories the changes\n"
     "break. A version may be \"latest\".",
     spk_cli_cmd_diff},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void print_help(FILE *out)
{
    struct spk_cli scratch = SPK_CLI_INIT;
    fputs("usage: spoke [global options] <command> [options]\n\n"
          "Client of the Spoke Protobuf module registry.\n\ncommands:\n",
          out);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("\nglobal options (before or after the command):\n", out);
    spk_cli_opts_print(out, spk_cli_global_opts(&scratch));
    fputs("      --version             show the client version\n"
          "\nenvironment:\n"
          "  SPOKE_REGISTRY_URL  registry base URL (default " SPK_CLI_DEFAULT_REGISTRY ")\n"
          "  SPOKE_TOKEN         bearer token sent as \"Authorization: Bearer ...\"\n"
          "\nexit status:\n"
          "  0  success (including a push of content the version already has)\n"
          "  1  error: invalid input, rejected by the registry, local I/O\n"
          "  2  usage: unknown command or option, missing argument\n"
          "  3  conflict: the version exists with other content, or two versions of one\n"
          "     module (or two contents of one path) in a dependency graph\n"
          "  4  not found: module, version or file\n"
          "  5  registry unavailable: unreachable, or 429/502/503/504 after retries\n"
          "  6  breaking change: the files break the module's compatibility rules\n"
          "\nRun 'spoke <command> --help' for a command's options; 'man spoke' for more.\n",
          out);
}

static const struct spk_cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int run(int argc, char **argv)
{
    struct spk_cli cli = SPK_CLI_INIT;
    struct spk_cli_strlist none = {0};
    struct spk_error err = {0};
    int version = 0, consumed = 0;
    const struct spk_cli_opt main_only[] = {
        {"version", 0, SPK_CLI_OPT_FLAG, &version, NULL, "show the client version"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    const struct spk_cli_opt *tables[] = {spk_cli_global_opts(&cli), main_only};

    if (spk_cli_args_parse(argc - 1, argv + 1, tables, 2, 1, &none, &consumed, &err))
        return spk_cli_usage_error(NULL, "%s", err.msg);
    const char *name = consumed + 1 < argc ? argv[consumed + 1] : NULL;
    if (version) {
        printf("spoke %s\n", SPOKE_VERSION);
        return SPK_EXIT_OK;
    }
    if (name && strcmp(name, "help") == 0) {
        const struct spk_cli_command *c =
            consumed + 2 < argc ? find_command(argv[consumed + 2]) : NULL;
        if (c) {
            /* A command's own --help prints its options table. */
            char *help_argv[] = {(char *)c->name, (char *)"--help", NULL};
            return c->run(&cli, c, 2, help_argv);
        }
        print_help(stdout);
        return SPK_EXIT_OK;
    }
    if (cli.help) {
        print_help(stdout);
        return SPK_EXIT_OK;
    }
    if (!name) {
        print_help(stderr);
        return SPK_EXIT_USAGE;
    }
    const struct spk_cli_command *cmd = find_command(name);
    if (!cmd)
        return spk_cli_usage_error(NULL, "unknown command \"%s\"", name);
    int rc = cmd->run(&cli, cmd, argc - consumed - 1, argv + consumed + 1);
    spk_cli_release(&cli);
    return rc;
}

int main(int argc, char **argv)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("spoke: cannot initialise libcurl\n", stderr);
        return SPK_EXIT_ERROR;
    }
    int rc = run(argc, argv);
    curl_global_cleanup();
    return rc;
}
