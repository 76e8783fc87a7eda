/* The `spoke` command-line client as a library (src/cli/, linked into the `spoke` executable and
 * the CLI unit tests). Pure pieces — option parsing, the directory walk, source-info resolution,
 * exit-code mapping, retry timing, Link parsing, safe writes under a directory — are exposed here
 * so that tests call the same code the program runs. The only process-wide state is libcurl's
 * global init, done once by main().
 *
 * Exit statuses are part of the interface (scripts branch on them); see enum spk_cli_exit. */
#ifndef SPOKE_CLI_H
#define SPOKE_CLI_H

#include <stddef.h>
#include <stdio.h>
#include <jansson.h>

#include "spoke/error.h"

/* ---- exit statuses -------------------------------------------------------------------------- */

enum spk_cli_exit {
    SPK_EXIT_OK = 0,
    SPK_EXIT_ERROR = 1,       /* anything else: invalid input, server-side rejection, I/O */
    SPK_EXIT_USAGE = 2,       /* bad flags or arguments */
    SPK_EXIT_CONFLICT = 3,    /* version exists with other content; conflicting dependencies */
    SPK_EXIT_NOT_FOUND = 4,   /* module, version or file does not exist */
    SPK_EXIT_UNAVAILABLE = 5, /* unreachable, or 429/502/503/504 after the retries */
    SPK_EXIT_BREAKING = 6,    /* the files break the module's compatibility rules */
};

/* HTTP status (and the error body's "code" when there is one, else NULL) → exit status. */
int spk_cli_exit_for_status(long status, const char *code);
/* An error recorded by the client itself (transport, files, responses) → exit status. */
int spk_cli_exit_for_error(enum spk_errcode code);

/* ---- options -------------------------------------------------------------------------------- */

enum spk_cli_optkind {
    SPK_CLI_OPT_FLAG,   /* int *: set to 1 */
    SPK_CLI_OPT_STRING, /* const char **: the last occurrence wins (points into argv) */
    SPK_CLI_OPT_LIST,   /* struct spk_cli_strlist *: every occurrence is appended */
    SPK_CLI_OPT_UINT,   /* long *: a decimal integer >= 0 */
};

struct spk_cli_strlist {
    const char **v; /* the array is owned (free with spk_cli_strlist_release), strings borrowed */
    size_t n;
};
void spk_cli_strlist_push(struct spk_cli_strlist *l, const char *s);
void spk_cli_strlist_release(struct spk_cli_strlist *l);

/* One row of an option table; tables end with a row whose name is NULL. */
struct spk_cli_opt {
    const char *name; /* long name without "--" */
    char short_name;  /* 0 for none */
    enum spk_cli_optkind kind;
    void *dest;
    const char *metavar; /* shown in help for options that take a value */
    const char *help;
};

/* Parses args against the tables (searched in order). Accepts "--name value", "--name=value",
 * "-x value", "-x" for flags and "--" (the rest are positional). Positional arguments are
 * appended to *positional. With stop_at_positional, parsing stops at the first positional
 * argument and *consumed says how many args were used (main() uses this to find the command).
 * An unknown option or a missing value sets err (SPK_E_INVALID) and returns -1. */
int spk_cli_args_parse(int argc, char **argv, const struct spk_cli_opt *const *tables,
                       size_t ntables, int stop_at_positional, struct spk_cli_strlist *positional,
                       int *consumed, struct spk_error *err);
/* Writes "  -x, --name VALUE   help" lines for a table. */
void spk_cli_opts_print(FILE *out, const struct spk_cli_opt *table);

/* ---- the client state shared by the commands ------------------------------------------------ */

struct spk_cli_http;

struct spk_cli {
    /* global options, as parsed (NULL/0 when not given) */
    const char *registry_flag;
    const char *token_flag;
    int json;
    int quiet;
    int help;
    long retries;   /* -1: default */
    long timeout_s; /* -1: default */
    /* resolved by spk_cli_setup */
    char *registry;    /* base URL without a trailing '/' */
    const char *token; /* NULL when none; never printed */
    int progress;      /* stderr is a terminal and not --quiet */
    const char *command;
    struct spk_cli_http *http;
    struct spk_cli_opt global_opts[8]; /* spk_cli_global_opts's table, bound to this struct */
};

/* Initialises a struct spk_cli (the numeric options default to -1: "not given"). */
#define SPK_CLI_INIT                                                                               \
    {                                                                                              \
        .retries = -1, .timeout_s = -1                                                             \
    }

#define SPK_CLI_DEFAULT_REGISTRY   "http://localhost:8080"
#define SPK_CLI_DEFAULT_RETRIES    4
#define SPK_CLI_DEFAULT_TIMEOUT_S  120
#define SPK_CLI_RETRY_WINDOW_MS    60000L               /* no new attempt after this long */
#define SPK_CLI_MAX_RESPONSE_BYTES (512L * 1024 * 1024) /* a response body never exceeds this */
#define SPK_CLI_MAX_FILE_BYTES     (64L * 1024 * 1024)  /* a local file the client will read */

/* The global option table, bound to cli (stored in it). */
const struct spk_cli_opt *spk_cli_global_opts(struct spk_cli *cli);
/* Resolves registry and token (flag, then SPOKE_REGISTRY_URL / SPOKE_TOKEN, then defaults) and
 * creates the HTTP client. Returns an exit status: 0, or SPK_EXIT_USAGE after printing why. */
int spk_cli_setup(struct spk_cli *cli);
void spk_cli_release(struct spk_cli *cli);

/* What a command tells the parser and the help printer about itself. */
struct spk_cli_command {
    const char *name;
    const char *summary;
    const char *usage;  /* the line after "usage: spoke " */
    const char *detail; /* paragraph(s) printed by --help, may be NULL */
    int (*run)(struct spk_cli *cli, const struct spk_cli_command *self, int argc, char **argv);
};

/* Parses a command's arguments (argv[0] is the command name) against opts and the global options,
 * handles --help, then runs spk_cli_setup. Returns -1 to continue, else the exit status the
 * command must return (0 after --help, 2 after a usage error). A command that takes no positional
 * arguments passes positional = NULL, and any it is given is a usage error. */
int spk_cli_command_begin(struct spk_cli *cli, const struct spk_cli_command *cmd,
                          const struct spk_cli_opt *opts, int argc, char **argv,
                          struct spk_cli_strlist *positional);
void spk_cli_command_help(FILE *out, const struct spk_cli_command *cmd,
                          const struct spk_cli_opt *opts);

/* "spoke <command>: message" on stderr; returns status. */
int spk_cli_fail(const struct spk_cli *cli, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prints a usage error and a pointer to --help; returns SPK_EXIT_USAGE. */
int spk_cli_usage_error(const struct spk_cli *cli, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Informational line on stderr unless --quiet. */
void spk_cli_note(const struct spk_cli *cli, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Pretty JSON on stdout, one document, newline-terminated. */
void spk_cli_print_json(const json_t *j);
/* s with control characters, backslashes and invalid UTF-8 shown as \xHH, so text from the
 * server or the file system cannot drive the terminal. Returns a new string; free with free(). */
char *spk_cli_printable(const char *s, size_t len);

/* ---- HTTP ----------------------------------------------------------------------------------- */

struct spk_cli_http_options {
    const char *base_url;
    const char *token; /* sent as "Authorization: Bearer …" when not NULL */
    long timeout_ms;   /* whole request */
    long connect_timeout_ms;
    long retries;         /* extra attempts for retryable requests */
    long retry_window_ms; /* no new attempt once this much time has passed since the first */
    long max_response_bytes;
    int progress; /* transfer progress on stderr for long requests */
};

struct spk_cli_response {
    long status;
    char *body; /* NUL-terminated; len excludes the NUL */
    size_t len;
    char *link_next;  /* the rel="next" target of a Link header, or NULL */
    char *request_id; /* X-Request-Id, or NULL */
    int attempts;
};

enum {
    SPK_CLI_HTTP_RETRY = 1,     /* idempotent: retry connection errors and 502/503/504/429 */
    SPK_CLI_CALL_NO_REPORT = 2, /* spk_cli_call: leave non-2xx answers to the caller */
};

struct spk_cli_http *spk_cli_http_create(const struct spk_cli_http_options *opts,
                                         struct spk_error *err);
void spk_cli_http_destroy(struct spk_cli_http *h);
/* One request to base_url + path (path starts with '/' and is already escaped; it may carry a
 * query). body may be NULL. Returns 0 when a response arrived (any status, after retries);
 * -1 with err: SPK_E_UNAVAILABLE when the registry could not be reached, SPK_E_TOO_LARGE when the
 * body passed the limit, SPK_E_INVALID for a bad URL. label names the transfer in progress. */
int spk_cli_http_request(struct spk_cli_http *h, const char *method, const char *path,
                         const char *body, size_t body_len, int flags, const char *label,
                         struct spk_cli_response *resp, struct spk_error *err);
void spk_cli_response_release(struct spk_cli_response *r);
/* The body parsed as JSON (NULs inside strings allowed), or NULL. New reference. */
json_t *spk_cli_response_json(const struct spk_cli_response *r);
/* A one-line description of an error response: the server's "error" text (made printable),
 * its code, status and request id. Returns a new string; free with free(). */
char *spk_cli_response_message(const struct spk_cli_response *r);
/* The "code" of an error body, copied into out ("" when absent). */
void spk_cli_response_code(const struct spk_cli_response *r, char *out, size_t outsz);

/* How long to wait before attempt number `attempt` (1 = the first retry), in ms; -1 = give up.
 * retry_after_s is the server's Retry-After (-1 when absent); elapsed_ms is the time since the
 * first attempt began; jitter in [0,1) spreads clients out. */
long spk_cli_retry_delay_ms(int attempt, long retries, long retry_after_s, long elapsed_ms,
                            long window_ms, double jitter);
/* Whether a status is worth another attempt for an idempotent request. */
int spk_cli_retryable_status(long status);
/* The target of the rel="next" link in a Link header value. Returns a new string or NULL. */
char *spk_cli_link_next(const char *header);
/* The query of a URL ("limit=…&offset=…", without '?'), pointing into url, or NULL. */
const char *spk_cli_url_query(const char *url);
/* Percent-encodes everything except RFC 3986 unreserved characters. Returns a new string. */
char *spk_cli_escape(const char *s);

/* ---- local files ---------------------------------------------------------------------------- */

struct spk_cli_file {
    char *path; /* relative to the root, '/'-separated, valid UTF-8 */
    char *data; /* NULL until spk_cli_tree_read */
    size_t len;
};

struct spk_cli_tree {
    struct spk_cli_file *files; /* sorted by path bytes (strcmp) */
    size_t n, cap;
};

/* Called for entries the walk leaves out that a user might expect to be sent. */
typedef void (*spk_cli_skip_fn)(const char *relpath, const char *why, void *arg);

/* Collects the regular files named *.proto under root. Hidden entries (names starting with '.')
 * are skipped, as are symlinks that resolve outside root or to a directory (so a link can neither
 * leak files from elsewhere nor loop); symlinks to files inside root are followed. A .proto path
 * that is not valid UTF-8 is an error (SPK_E_INVALID) naming the file, before anything is read. */
int spk_cli_tree_walk(const char *root, struct spk_cli_tree *out, spk_cli_skip_fn on_skip,
                      void *arg, struct spk_error *err);
/* Reads every file's contents (at most SPK_CLI_MAX_FILE_BYTES each). */
int spk_cli_tree_read(const char *root, struct spk_cli_tree *t, struct spk_error *err);
void spk_cli_tree_release(struct spk_cli_tree *t);

/* A directory that files are written into atomically (temp file + rename), never outside it:
 * every path must pass spk_validate_path, and directories are entered without following
 * symlinks, so neither a hostile path nor a planted link can escape. */
struct spk_cli_outdir {
    int fd;
    char *path; /* for messages */
    unsigned long seq;
};
/* Opens dir, creating it and its parents when missing. */
int spk_cli_outdir_open(struct spk_cli_outdir *d, const char *dir, struct spk_error *err);
int spk_cli_outdir_write(struct spk_cli_outdir *d, const char *relpath, size_t relpath_len,
                         const void *data, size_t len, struct spk_error *err);
void spk_cli_outdir_close(struct spk_cli_outdir *d);

/* ---- source information for a push ---------------------------------------------------------- */

struct spk_cli_source {
    char *repository; /* NULL when unknown; never carries credentials */
    char *commit_sha;
    char *branch;
};

/* Fills the fields that git can tell about dir (remote "origin" URL, HEAD commit, current
 * branch; a detached HEAD has no branch). git runs as a subprocess with an argument vector,
 * bounded in time and output; without git or outside a work tree the fields stay NULL. */
void spk_cli_source_from_git(const char *dir, struct spk_cli_source *s);
/* Fills the fields still NULL from CI variables in envp ("KEY=value", NULL-terminated):
 * GitHub Actions (GITHUB_SERVER_URL + "/" + GITHUB_REPOSITORY, GITHUB_SHA, GITHUB_REF_NAME),
 * then GitLab CI (CI_PROJECT_URL, CI_COMMIT_SHA, CI_COMMIT_REF_NAME). Empty values do not count. */
void spk_cli_source_from_env(const char *const *envp, struct spk_cli_source *s);
void spk_cli_source_release(struct spk_cli_source *s);
/* url without "user:password@" (https://token@host/x → https://host/x). New string. */
char *spk_cli_url_redact(const char *url);
/* Runs argv (argv[0] looked up in PATH) with stdin and stderr on /dev/null and captures at most
 * outsz-1 bytes of stdout (NUL-terminated, trailing newlines removed). Kills the child after
 * timeout_ms. Returns the exit status, or -1 when it could not run or was killed. */
int spk_cli_run_capture(const char *const *argv, char *out, size_t outsz, long timeout_ms);

/* ---- the commands --------------------------------------------------------------------------- */

int spk_cli_cmd_push(struct spk_cli *cli, const struct spk_cli_command *self, int argc,
                     char **argv);
int spk_cli_cmd_pull(struct spk_cli *cli, const struct spk_cli_command *self, int argc,
                     char **argv);
int spk_cli_cmd_list(struct spk_cli *cli, const struct spk_cli_command *self, int argc,
                     char **argv);
int spk_cli_cmd_show(struct spk_cli *cli, const struct spk_cli_command *self, int argc,
                     char **argv);
int spk_cli_cmd_versions(struct spk_cli *cli, const struct spk_cli_command *self, int argc,
                         char **argv);
int spk_cli_cmd_validate(struct spk_cli *cli, const struct spk_cli_command *self, int argc,
                         char **argv);
int spk_cli_cmd_breaking(struct spk_cli *cli, const struct spk_cli_command *self, int argc,
                         char **argv);
int spk_cli_cmd_diff(struct spk_cli *cli, const struct spk_cli_command *self, int argc,
                     char **argv);

/* ---- helpers shared by the commands --------------------------------------------------------- */

/* A request whose non-2xx answer is reported (as "spoke <cmd>: <server message>") and mapped to
 * an exit status. Returns 0 on 2xx with *out set to the parsed JSON body (a 2xx body that is not
 * JSON is an error), else the exit status. resp (may be NULL) receives the raw response. */
int spk_cli_call(struct spk_cli *cli, const char *method, const char *path, const json_t *body,
                 int flags, const char *label, struct spk_cli_response *resp, json_t **out);
/* Reports a non-2xx response as "spoke <cmd>: <server message>" and returns its exit status. */
int spk_cli_report_response(const struct spk_cli *cli, const struct spk_cli_response *r);
/* GETs path (which may carry a query) and every rel="next" page after it, concatenating the JSON
 * arrays into *out. Returns 0 or an exit status (after reporting). */
int spk_cli_get_all(struct spk_cli *cli, const char *path, json_t **out);
/* Walks and reads dir into tree and builds the request's "files" array ([{path, content}]),
 * noting skipped entries on stderr. Returns 0 or an exit status (after reporting). */
int spk_cli_collect(struct spk_cli *cli, const char *dir, struct spk_cli_tree *tree,
                    json_t **files_out);
/* The strings of a list as a new JSON array (the request's "dependencies", say). */
json_t *spk_cli_strlist_json(const struct spk_cli_strlist *l);
/* Whether a response is the router's answer for a path it has no route for (404 "no such
 * endpoint", a proxy's 404 page, or 405): a registry older than the command. */
int spk_cli_route_missing(const struct spk_cli_response *r);
/* Reports that: "the registry at URL does not offer <what> (<method> <route> answered HTTP n);
 * it needs a newer spoke-server". Returns SPK_EXIT_ERROR. */
int spk_cli_fail_route_missing(const struct spk_cli *cli, const char *what, const char *method,
                               const char *route, const struct spk_cli_response *r);
/* The "details" of an invalid_schema error body as "file:line:column: message" lines on stderr. */
void spk_cli_print_diagnostics(const json_t *error_body);
/* One violation of a compatibility answer ({"rule", "file", "line", "column", "message",
 * "against", ...}) in buf's text format: "file:line:column: RULE message", "file:line: RULE
 * message" without a column, "file: RULE message" when the line is 0, and "<input>: RULE message"
 * without a file. With_against appends " (against VERSION)" when the violation names one. Text
 * from the server is made printable. Returns a new string without a newline; free with free(). */
char *spk_cli_violation_format(const json_t *v, int with_against);
/* Every violation of a JSON array on out, one a line; " (against VERSION)" is added only when
 * they name more than one version. Returns how many were printed. */
size_t spk_cli_violations_print(FILE *out, const json_t *violations);
/* A VERSION / DIGEST / CREATED table of VersionSummary objects on stdout. */
void spk_cli_print_versions(const json_t *versions);
/* A JSON string member, or "" when absent or not a string. */
const char *spk_cli_jstr(const json_t *obj, const char *key);

#endif
