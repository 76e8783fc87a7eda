/* spoke: the command-line client. Subcommands are rows of a table, like git's builtins. */
#include <stdio.h>
#include <string.h>

#include "spoke/banned.h"

struct command {
    const char *name;
    const char *summary;
};

static const struct command commands[] = {
    {"push", "push a directory of .proto files as a module version"},
    {"pull", "write a module version's files to a directory"},
    {"list", "list modules"},
    {"show", "show a module or a version"},
    {"versions", "list a module's versions"},
    {"validate", "check that a directory of .proto files compiles"},
};

static void print_help(FILE *out)
{
    fputs("usage: spoke <command> [options]\n\n"
          "Client for the Spoke Protobuf module registry.\n\ncommands:\n",
          out);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("\nglobal options:\n"
          "  --help      show this help\n"
          "  --version   show the client version\n"
          "\nThe commands are not available in this build yet.\n",
          out);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        print_help(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("spoke %s\n", SPOKE_VERSION);
        return 0;
    }
    fprintf(stderr, "spoke: \"%s\" is not available in this build yet\n\n", argv[1]);
    print_help(stderr);
    return 2;
}
