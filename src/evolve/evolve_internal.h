/* The evolution engine's own model: a decoded FileDescriptorSet indexed for comparison (files,
 * messages, fields, oneofs, enums, values, services, methods, extensions, each with its
 * source-info path and resolved edition features), plus the pieces the rule files share.
 * Nothing here is seen outside src/evolve/. */
#ifndef SPOKE_EVOLVE_INTERNAL_H
#define SPOKE_EVOLVE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "spoke/evolve.h"

typedef Google__Protobuf__FileDescriptorProto pb_file;
typedef Google__Protobuf__DescriptorProto pb_message;
typedef Google__Protobuf__FieldDescriptorProto pb_field;
typedef Google__Protobuf__EnumDescriptorProto pb_enum;
typedef Google__Protobuf__EnumValueDescriptorProto pb_value;
typedef Google__Protobuf__ServiceDescriptorProto pb_service;
typedef Google__Protobuf__MethodDescriptorProto pb_method;
/* A source location as buf reads it: the path and the 3- or 4-element span (0-based). */
struct spk_evolve_loc {
    int32_t *path;
    size_t n_path;
    int32_t span[4];
    size_t n_span;
};
typedef struct spk_evolve_loc pb_location;

/* ---- a byte-string keyed hash map (keys are borrowed) ---- */

struct spk_evolve_map {
    struct spk_evolve_slot *slots;
    size_t cap, n;
};
void spk_evolve_map_release(struct spk_evolve_map *m);
void *spk_evolve_map_get(const struct spk_evolve_map *m, const void *key, size_t len);
void *spk_evolve_map_sget(const struct spk_evolve_map *m, const char *key);
/* Adds key → val unless key is present; returns the value now stored under key. */
void *spk_evolve_map_add(struct spk_evolve_map *m, const void *key, size_t len, void *val);
void *spk_evolve_map_sadd(struct spk_evolve_map *m, const char *key, void *val);
/* Iteration: i from 0 while spk_evolve_map_next returns 1. */
int spk_evolve_map_next(const struct spk_evolve_map *m, size_t *i, const void **key, size_t *len,
                        void **val);

/* ---- a bump allocator: everything an image owns lives in one of these ---- */

struct spk_evolve_arena {
    struct spk_evolve_chunk *head;
};
void *spk_evolve_arena_alloc(struct spk_evolve_arena *a, size_t n); /* zeroed */
char *spk_evolve_arena_strdup(struct spk_evolve_arena *a, const char *s);
char *spk_evolve_arena_printf(struct spk_evolve_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void spk_evolve_arena_release(struct spk_evolve_arena *a);

/* ---- edition features (descriptor.proto numbering) ---- */

enum { EV_PROTO2 = 1, EV_PROTO3, EV_EDITIONS };
enum { EV_PRESENCE_EXPLICIT = 1, EV_PRESENCE_IMPLICIT, EV_PRESENCE_LEGACY_REQUIRED };
enum { EV_ENUM_OPEN = 1, EV_ENUM_CLOSED };
enum { EV_UTF8_VERIFY = 2, EV_UTF8_NONE = 3 };
enum { EV_ENCODING_LENGTH_PREFIXED = 1, EV_ENCODING_DELIMITED };
enum { EV_JSON_ALLOW = 1, EV_JSON_LEGACY_BEST_EFFORT };
enum { EV_CPP_VIEW = 1, EV_CPP_CORD, EV_CPP_STRING };
enum { EV_JAVA_UTF8_DEFAULT = 1, EV_JAVA_UTF8_VERIFY };

struct spk_evolve_features {
    int8_t field_presence, enum_type, repeated_encoding, utf8_validation, message_encoding,
        json_format, cpp_string_type, java_utf8_validation;
};
/* Defaults of a syntax (EV_PROTO2 …) or edition number (1000 = 2023, …). */
void spk_evolve_features_defaults(int syntax, int edition, struct spk_evolve_features *out);
/* Applies the explicit `features` (field number tag of the options message) found among an
 * options message's unknown fields (descriptor.proto 3.21 predates editions). */
void spk_evolve_features_apply(const ProtobufCMessage *options, unsigned tag,
                               struct spk_evolve_features *f);
/* The file's edition from FileDescriptorProto.edition (an unknown field here); 0 if absent. */
int spk_evolve_file_edition(const pb_file *fd);
const char *spk_evolve_utf8_name(int v);
const char *spk_evolve_json_format_name(int v);

/* ---- the model ---- */

struct spk_evolve_file;
struct spk_evolve_message;
struct spk_evolve_enum;

struct spk_evolve_path {
    int32_t *p;
    size_t n;
};

struct spk_evolve_oneof {
    const Google__Protobuf__OneofDescriptorProto *d;
    struct spk_evolve_message *msg;
    const char *name;
    int synthetic; /* proto3 `optional` */
    struct spk_evolve_path path;
    struct spk_evolve_features features;
};

struct spk_evolve_field {
    const pb_field *d;
    struct spk_evolve_file *file;
    struct spk_evolve_message *msg; /* containing message; for extensions the declaring scope */
    int is_extension;
    const char *name;
    const char *full_name;   /* "acme.v1.Payment.amount" / an extension's full name */
    const char *nested_name; /* without the package */
    int32_t number;
    int type;              /* FieldDescriptorProto.Type */
    int label;             /* FieldDescriptorProto.Label */
    const char *type_name; /* without the leading dot, "" for scalars */
    const char *extendee;  /* without the leading dot, "" for fields */
    const char *json_name; /* as compiled, or derived like protoc */
    struct spk_evolve_oneof *oneof;
    struct spk_evolve_path path;
    struct spk_evolve_features features;
    struct spk_evolve_message *type_msg; /* resolved in the image, NULL when not found */
    struct spk_evolve_enum *type_enum;
};

struct spk_evolve_message {
    const pb_message *d;
    struct spk_evolve_file *file;
    struct spk_evolve_message *parent;
    const char *name;
    const char *full_name;
    const char *nested_name;
    int map_entry;
    struct spk_evolve_path path;
    struct spk_evolve_features features;
    struct spk_evolve_field *fields; /* declaration order */
    size_t nfields;
    struct spk_evolve_field **by_number; /* sorted by number */
    struct spk_evolve_oneof *oneofs;
    size_t noneofs;
    struct spk_evolve_message **nested; /* declared inside, in order */
    size_t nnested;
};

struct spk_evolve_value {
    const pb_value *d;
    struct spk_evolve_enum *en;
    const char *name;
    int32_t number;
    struct spk_evolve_path path;
};

struct spk_evolve_enum {
    const pb_enum *d;
    struct spk_evolve_file *file;
    struct spk_evolve_message *parent;
    const char *name;
    const char *full_name;
    const char *nested_name;
    struct spk_evolve_path path;
    struct spk_evolve_features features;
    struct spk_evolve_value *values;
    size_t nvalues;
};

struct spk_evolve_method {
    const pb_method *d;
    struct spk_evolve_service *svc;
    const char *name;
    const char *input, *output; /* without the leading dot */
    struct spk_evolve_path path;
};

struct spk_evolve_service {
    const pb_service *d;
    struct spk_evolve_file *file;
    const char *name;
    const char *full_name;
    struct spk_evolve_path path;
    struct spk_evolve_method *methods;
    size_t nmethods;
};

struct spk_evolve_file {
    const pb_file *d;
    struct spk_evolve_image *img;
    const char *path;
    const char *package; /* "" when none */
    int own;
    int syntax; /* EV_PROTO2 … (an absent syntax is proto2) */
    int edition;
    struct spk_evolve_features features;
    int has_source_info;
    /* SourceCodeInfo, kept encoded (a slice of the image's copy of the set) and indexed on the
     * first lookup: most files of a comparison are never asked for a location. */
    const uint8_t *sci;
    size_t sci_len;
    int locs_ready;             /* atomic; the index below is complete once set */
    struct spk_evolve_map locs; /* path (int32 array bytes) → first location */
    struct spk_evolve_loc *loc_list;
    size_t nloc_list;
    /* Every element, nested ones included, in buf's walk order. */
    struct spk_evolve_message **messages;
    size_t nmessages;
    struct spk_evolve_enum **enums;
    size_t nenums;
    struct spk_evolve_field **extensions;
    size_t nextensions;
    struct spk_evolve_service *services;
    size_t nservices;
    struct spk_evolve_map message_by_nested, enum_by_nested, extension_by_nested;
};

struct spk_evolve_image {
    Google__Protobuf__FileDescriptorSet *fds;
    uint8_t *raw; /* a copy of the serialized set: the files' source info points into it */
    void *lock;   /* a pthread mutex for the lazy location indexes */
    struct spk_evolve_arena arena;
    struct spk_evolve_file *files; /* set order */
    size_t nfiles;
    struct spk_evolve_map file_by_path, message_by_name, enum_by_name, service_by_name;
};

/* Splits a serialized set into one without source info (decoded by protobuf-c) and each file's
 * SourceCodeInfo bytes (slices of raw, in file order). -1 when malformed. */
int spk_evolve_set_split(const uint8_t *raw, size_t len, uint8_t **stripped, size_t *stripped_len,
                         const uint8_t ***sci, size_t **sci_len, size_t *nfiles);
void spk_evolve_file_locs_release(struct spk_evolve_file *f);

struct spk_evolve_file *spk_evolve_image_file(const struct spk_evolve_image *img, const char *path);
struct spk_evolve_message *spk_evolve_image_message(const struct spk_evolve_image *img,
                                                    const char *full_name);
struct spk_evolve_enum *spk_evolve_image_enum(const struct spk_evolve_image *img,
                                              const char *full_name);
struct spk_evolve_field *spk_evolve_message_field(const struct spk_evolve_message *m,
                                                  int32_t number);

/* The first source location recorded for path + suffix in f, NULL when none. */
const pb_location *spk_evolve_file_loc(const struct spk_evolve_file *f,
                                       const struct spk_evolve_path *base, size_t nsuffix,
                                       const int32_t *suffix);
/* buf's lookup of an option inside an options message: the exact path, else the closest
 * recorded ancestor at least ext_len long, else the first recorded descendant. */
const pb_location *spk_evolve_file_option_loc(const struct spk_evolve_file *f,
                                              const struct spk_evolve_path *base, size_t nsuffix,
                                              const int32_t *suffix, size_t ext_len);

/* protoreflect's view of a field. */
enum {
    EV_CARD_EXPLICIT = 1, /* optional with explicit presence */
    EV_CARD_IMPLICIT,
    EV_CARD_REQUIRED,
    EV_CARD_REPEATED,
    EV_CARD_MAP
};
int spk_evolve_field_kind(const struct spk_evolve_field *f); /* a Type, GROUP for delimited */
int spk_evolve_field_cardinality(const struct spk_evolve_field *f);
int spk_evolve_field_is_map(const struct spk_evolve_field *f);
int spk_evolve_field_is_list(const struct spk_evolve_field *f);
int spk_evolve_field_has_presence(const struct spk_evolve_field *f);
const char *spk_evolve_type_name(int type); /* "int32", … "group" */
const char *spk_evolve_cardinality_name(int card);

/* ---- running buf's rules ---- */

struct spk_evolve_check;
typedef void (*spk_evolve_rule_fn)(struct spk_evolve_check *c);

/* Where an annotation points: a file of one side and, when found, a source location in it. */
struct spk_evolve_where {
    const struct spk_evolve_file *file;
    const pb_location *loc;
    int named; /* no location, but the file itself is named (deleted files and packages) */
    int shift; /* columns before loc's start where buf's span starts (see default_where) */
};

/* One side of a comparison: the files compared (own files, or every file with imports). */
struct spk_evolve_side {
    const struct spk_evolve_image *img;
    struct spk_evolve_file **files;
    size_t nfiles;
    struct spk_evolve_map file_by_path, message_by_name, enum_by_name, service_by_name;
};

struct spk_evolve_field_pair {
    const struct spk_evolve_field *old, *new_;
};
struct spk_evolve_message_pair {
    const struct spk_evolve_message *old, *new_;
};
struct spk_evolve_enum_pair {
    const struct spk_evolve_enum *old, *new_;
};

struct spk_evolve_check {
    struct spk_evolve_side old, new_;
    const struct spk_evolve_config *cfg;
    const struct spk_evolve_rule *rule;   /* the rule running */
    struct spk_evolve_field_pair *fields; /* same message and number, or extendee and number */
    size_t nfields;
    struct spk_evolve_message_pair *messages; /* same full name */
    size_t nmessages;
    struct spk_evolve_enum_pair *enums; /* same full name */
    size_t nenums;
    struct spk_evolve_violation *v;
    size_t n, cap;
};

/* Records a violation of the running rule unless cfg ignores it. at: the location (file set,
 * loc NULL when there is none); fallback: the file named when at has no location; against: the
 * old side's location, used only for ignores. old_value/new_value may be NULL. */
void spk_evolve_emit(struct spk_evolve_check *c, struct spk_evolve_where at,
                     const struct spk_evolve_file *fallback, struct spk_evolve_where against,
                     const char *old_value, const char *new_value, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

struct spk_evolve_where spk_evolve_at(const struct spk_evolve_file *f,
                                      const struct spk_evolve_path *base, size_t nsuffix,
                                      const int32_t *suffix);
struct spk_evolve_where spk_evolve_or(struct spk_evolve_where a, struct spk_evolve_where b);
struct spk_evolve_where spk_evolve_nowhere(void);
struct spk_evolve_where spk_evolve_message_where(const struct spk_evolve_message *m);
struct spk_evolve_where spk_evolve_field_where(const struct spk_evolve_field *f, int32_t suffix);
struct spk_evolve_where spk_evolve_enum_where(const struct spk_evolve_enum *e);
/* buf's location of a deleted element: the closest surviving enclosing message of nested in f,
 * else no location (the file itself). */
struct spk_evolve_where spk_evolve_deleted_where(const struct spk_evolve_file *f,
                                                 const char *nested);

/* Go's %q of s into a new string. */
char *spk_evolve_quote(const char *s);

/* Rule implementations, one per buf rule ID. */
#define SPK_EVOLVE_RULE_FN(name) void spk_evolve_rule_##name(struct spk_evolve_check *c)
SPK_EVOLVE_RULE_FN(enum_no_delete);
SPK_EVOLVE_RULE_FN(enum_same_json_format);
SPK_EVOLVE_RULE_FN(enum_same_type);
SPK_EVOLVE_RULE_FN(enum_value_no_delete);
SPK_EVOLVE_RULE_FN(enum_value_no_delete_unless_name_reserved);
SPK_EVOLVE_RULE_FN(enum_value_no_delete_unless_number_reserved);
SPK_EVOLVE_RULE_FN(enum_value_same_name);
SPK_EVOLVE_RULE_FN(extension_message_no_delete);
SPK_EVOLVE_RULE_FN(extension_no_delete);
SPK_EVOLVE_RULE_FN(field_no_delete);
SPK_EVOLVE_RULE_FN(field_no_delete_unless_name_reserved);
SPK_EVOLVE_RULE_FN(field_no_delete_unless_number_reserved);
SPK_EVOLVE_RULE_FN(field_same_cardinality);
SPK_EVOLVE_RULE_FN(field_same_cpp_string_type);
SPK_EVOLVE_RULE_FN(field_same_default);
SPK_EVOLVE_RULE_FN(field_same_java_utf8_validation);
SPK_EVOLVE_RULE_FN(field_same_json_name);
SPK_EVOLVE_RULE_FN(field_same_jstype);
SPK_EVOLVE_RULE_FN(field_same_name);
SPK_EVOLVE_RULE_FN(field_same_oneof);
SPK_EVOLVE_RULE_FN(field_same_type);
SPK_EVOLVE_RULE_FN(field_same_utf8_validation);
SPK_EVOLVE_RULE_FN(field_wire_compatible_cardinality);
SPK_EVOLVE_RULE_FN(field_wire_compatible_type);
SPK_EVOLVE_RULE_FN(field_wire_json_compatible_cardinality);
SPK_EVOLVE_RULE_FN(field_wire_json_compatible_type);
SPK_EVOLVE_RULE_FN(file_no_delete);
SPK_EVOLVE_RULE_FN(file_same_cc_enable_arenas);
SPK_EVOLVE_RULE_FN(file_same_cc_generic_services);
SPK_EVOLVE_RULE_FN(file_same_csharp_namespace);
SPK_EVOLVE_RULE_FN(file_same_go_package);
SPK_EVOLVE_RULE_FN(file_same_java_generic_services);
SPK_EVOLVE_RULE_FN(file_same_java_multiple_files);
SPK_EVOLVE_RULE_FN(file_same_java_outer_classname);
SPK_EVOLVE_RULE_FN(file_same_java_package);
SPK_EVOLVE_RULE_FN(file_same_objc_class_prefix);
SPK_EVOLVE_RULE_FN(file_same_optimize_for);
SPK_EVOLVE_RULE_FN(file_same_package);
SPK_EVOLVE_RULE_FN(file_same_php_class_prefix);
SPK_EVOLVE_RULE_FN(file_same_php_metadata_namespace);
SPK_EVOLVE_RULE_FN(file_same_php_namespace);
SPK_EVOLVE_RULE_FN(file_same_py_generic_services);
SPK_EVOLVE_RULE_FN(file_same_ruby_package);
SPK_EVOLVE_RULE_FN(file_same_swift_prefix);
SPK_EVOLVE_RULE_FN(file_same_syntax);
SPK_EVOLVE_RULE_FN(message_no_delete);
SPK_EVOLVE_RULE_FN(message_no_remove_standard_descriptor_accessor);
SPK_EVOLVE_RULE_FN(message_same_json_format);
SPK_EVOLVE_RULE_FN(message_same_message_set_wire_format);
SPK_EVOLVE_RULE_FN(message_same_required_fields);
SPK_EVOLVE_RULE_FN(oneof_no_delete);
SPK_EVOLVE_RULE_FN(package_enum_no_delete);
SPK_EVOLVE_RULE_FN(package_extension_no_delete);
SPK_EVOLVE_RULE_FN(package_message_no_delete);
SPK_EVOLVE_RULE_FN(package_no_delete);
SPK_EVOLVE_RULE_FN(package_service_no_delete);
SPK_EVOLVE_RULE_FN(reserved_enum_no_delete);
SPK_EVOLVE_RULE_FN(reserved_message_no_delete);
SPK_EVOLVE_RULE_FN(rpc_no_delete);
SPK_EVOLVE_RULE_FN(rpc_same_client_streaming);
SPK_EVOLVE_RULE_FN(rpc_same_idempotency_level);
SPK_EVOLVE_RULE_FN(rpc_same_request_type);
SPK_EVOLVE_RULE_FN(rpc_same_response_type);
SPK_EVOLVE_RULE_FN(rpc_same_server_streaming);
SPK_EVOLVE_RULE_FN(service_no_delete);

/* The implementation of rules[i] (same order as spk_evolve_rules). */
spk_evolve_rule_fn spk_evolve_rule_impl(size_t i);

/* Tag ranges, for reserved and extension ranges (ends inclusive). */
struct spk_evolve_range {
    int64_t start, end;
};
/* "[5]", "[5,10]", "[5,max]" into a new string. */
char *spk_evolve_range_string(struct spk_evolve_range r, int64_t max);
/* The parts of [start, end] no range of have covers, as "[1], [4,max]"; NULL when none. */
char *spk_evolve_range_missing(struct spk_evolve_range r, const struct spk_evolve_range *have,
                               size_t nhave, int64_t max);

/* Field defaults, for FIELD_SAME_DEFAULT. */
struct spk_evolve_default {
    int kind; /* 's' string/bytes, 'n' number/bool/enum */
    char *bytes;
    size_t len;
    int is_float, is_double, is_nan;
    double d;   /* floats */
    int64_t i;  /* signed integers, bools, enums */
    uint64_t u; /* unsigned integers */
    int is_unsigned;
    char *printable; /* Go's %v of the value as buf prints it */
};
int spk_evolve_field_can_have_default(const struct spk_evolve_field *f);
/* printable: also fill printable (otherwise NULL). */
void spk_evolve_default_get(const struct spk_evolve_field *f, int printable,
                            struct spk_evolve_default *out);
int spk_evolve_default_is_zero(const struct spk_evolve_default *d);
int spk_evolve_default_equal(const struct spk_evolve_default *a,
                             const struct spk_evolve_default *b);
void spk_evolve_default_release(struct spk_evolve_default *d);

/* Result helpers shared by check.c, confluent.c and diff.c. */
void spk_evolve_result_sort(struct spk_evolve_result *r);

#endif
