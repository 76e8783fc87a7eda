/* Schema validation: compiling a version's .proto files with protoc, and reading what they define.
 *
 * protoc runs as a subprocess (posix_spawn with an argument vector, never a shell) in a private
 * temporary directory that is removed on every path, with an empty environment, resource limits
 * (CPU, address space, output file size), a wall-clock deadline after which its process group is
 * killed, and bounded capture of its diagnostics. Inputs are written below that directory only:
 * every path has passed spk_validate_path, and files are created with O_EXCL | O_NOFOLLOW.
 *
 * Include roots, in order: the version's own files, the files of its dependencies (transitively),
 * and the well-known types shipped with protoc (the .proto files under google/protobuf). An import
 * that resolves to none of them is a diagnostic. */
#ifndef SPOKE_PROTO_H
#define SPOKE_PROTO_H

#include <stddef.h>

#include <jansson.h>

struct spk_error;

struct spk_proto_file {
    const char *path;
    const char *content;
    size_t len;
    const char *origin; /* for dependency files: "module@version" (diagnostics); NULL for own */
};

struct spk_proto_diag {
    char *file; /* "" when protoc did not name one */
    int line;   /* 0 when unknown */
    int column;
    char *message;
};

enum spk_proto_symbol_kind { SPK_SYMBOL_MESSAGE, SPK_SYMBOL_ENUM, SPK_SYMBOL_SERVICE };

struct spk_proto_symbol {
    enum spk_proto_symbol_kind kind;
    char *full_name; /* "acme.payments.v1.Payment.Status" */
    char *file;
};

struct spk_proto_result {
    int ok; /* 1: compiled; 0: diags say why */
    struct spk_proto_diag *diags;
    size_t ndiags;
    unsigned char *descriptor_set; /* serialized FileDescriptorSet incl. imports (ok only) */
    size_t descriptor_len;
    struct spk_proto_symbol *symbols; /* defined by the version's own files (ok only) */
    size_t nsymbols;
};
void spk_proto_result_release(struct spk_proto_result *r);

struct spk_protoc_options {
    const char *protoc;    /* path to the protoc binary */
    const char *wkt_root;  /* directory that holds google/protobuf with the WKT files (only) */
    int timeout_ms;        /* wall-clock limit */
    size_t max_descriptor; /* largest FileDescriptorSet accepted (bytes) */
};

/* Compiles files against deps. Returns 0 when protoc ran to a verdict (out->ok tells which, a
 * time or size limit counts as a failed compile with a diagnostic), -1 with err when it could not
 * be run at all (INTERNAL / UNAVAILABLE). out is released by the caller either way. */
int spk_proto_compile(const struct spk_protoc_options *opts, const struct spk_proto_file *files,
                      size_t nfiles, const struct spk_proto_file *deps, size_t ndeps,
                      struct spk_proto_result *out, struct spk_error *err);

/* A private toolchain directory:
 *     <root>/include/google/protobuf -> include_dir/google/protobuf   (the well-known types)
 *     <root>/bin/protoc                                               (a copy of protoc)
 * protoc always adds the "include" directory beside its own binary to the import path; running
 * the copy makes that directory the one above, so imports reach the well-known types and nothing
 * else of the system (e.g. not /usr/include/stdio.h). */
struct spk_proto_toolchain {
    char *root;
    char *protoc;  /* <root>/bin/protoc */
    char *include; /* <root>/include */
};
int spk_proto_toolchain_create(const char *protoc, const char *include_dir,
                               struct spk_proto_toolchain *out, struct spk_error *err);
/* Removes the directory. NULL-safe, idempotent. */
void spk_proto_toolchain_release(struct spk_proto_toolchain *t);

/* Parses protoc's gcc-style diagnostics ("file:line:col: message", "file: message", "message")
 * into out, keeping at most max entries. Pure; exposed for unit tests. */
void spk_proto_parse_diagnostics(const char *text, size_t len, size_t max,
                                 struct spk_proto_result *out);

/* Decodes a serialized FileDescriptorSet and lists the messages (nested ones included), enums and
 * services defined in the files named in own[0..nown). -1 if the bytes do not decode. */
int spk_proto_symbols(const unsigned char *set, size_t len, const char *const *own, size_t nown,
                      struct spk_proto_result *out);

const char *spk_proto_symbol_kind_name(enum spk_proto_symbol_kind k);

/* {"error": …, "code": "invalid_schema", "details": [{file, line, column, message}]} extras:
 * returns a new {"details": [...]} object for spk_http_reply_error. */
json_t *spk_proto_details_json(const struct spk_proto_result *r);

#endif
