/* The rule table: every rule ID of buf breaking (config v2, buf 1.75.0), deprecated ones
 * included, with its categories, a one-line purpose and the function that checks it; plus the
 * category names and the validation of a configuration against the table. */
#include <string.h>

#include "evolve_internal.h"
#include "spoke/error.h"
#include "spoke/banned.h"

#define F SPK_EVOLVE_FILE
#define P SPK_EVOLVE_PACKAGE
#define J SPK_EVOLVE_WIRE_JSON
#define W SPK_EVOLVE_WIRE
#define C SPK_EVOLVE_CSR

/* X(id, categories, deprecated, function, purpose), sorted by ID. */
#define RULES(X)                                                                                   \
    X("ENUM_NO_DELETE", F | C, 0, enum_no_delete,                                                  \
      "an enum (top-level or nested) must still exist in the same file")                           \
    X("ENUM_SAME_JSON_FORMAT", F | P | J | C, 0, enum_same_json_format,                            \
      "an enum keeps its JSON support level (json_format feature: ALLOW or LEGACY_BEST_EFFORT)")   \
    X("ENUM_SAME_TYPE", F | P, 0, enum_same_type,                                                  \
      "an enum keeps its open (proto3-style) or closed (proto2-style) semantics")                  \
    X("ENUM_VALUE_NO_DELETE", F | P | C, 0, enum_value_no_delete,                                  \
      "every enum value number must still be present in its enum")                                 \
    X("ENUM_VALUE_NO_DELETE_UNLESS_NAME_RESERVED", J | C, 0,                                       \
      enum_value_no_delete_unless_name_reserved,                                                   \
      "an enum value may only disappear if its name is now reserved")                              \
    X("ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED", J | W | C, 0,                                 \
      enum_value_no_delete_unless_number_reserved,                                                 \
      "an enum value may only disappear if its number is now reserved")                            \
    X("ENUM_VALUE_SAME_NAME", F | P | J | C, 0, enum_value_same_name,                              \
      "an enum value number keeps its name (JSON carries names)")                                  \
    X("EXTENSION_MESSAGE_NO_DELETE", F | P | C, 0, extension_message_no_delete,                    \
      "a message's extension ranges must not lose any number")                                     \
    X("EXTENSION_NO_DELETE", F, 0, extension_no_delete,                                            \
      "an extension declared in a file must still be declared in that file")                       \
    X("FIELD_NO_DELETE", F | P | C, 0, field_no_delete,                                            \
      "every field number must still be present in its message")                                   \
    X("FIELD_NO_DELETE_UNLESS_NAME_RESERVED", J | C, 0, field_no_delete_unless_name_reserved,      \
      "a field may only disappear if its name is now reserved")                                    \
    X("FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED", J | W | C, 0,                                      \
      field_no_delete_unless_number_reserved,                                                      \
      "a field may only disappear if its number is now reserved")                                  \
    X("FIELD_SAME_CARDINALITY", F | P, 0, field_same_cardinality,                                  \
      "a field keeps its cardinality: implicit, explicit presence, required, repeated or map")     \
    X("FIELD_SAME_CPP_STRING_TYPE", F | P, 0, field_same_cpp_string_type,                          \
      "a string or bytes field keeps its C++ string type (ctype or pb.cpp string_type)")           \
    X("FIELD_SAME_DEFAULT", F | P | J | W | C, 0, field_same_default,                              \
      "a field keeps its default value")                                                           \
    X("FIELD_SAME_JAVA_UTF8_VALIDATION", F | P, 0, field_same_java_utf8_validation,                \
      "a string field keeps its Java UTF-8 check (java_string_check_utf8 or pb.java)")             \
    X("FIELD_SAME_JSON_NAME", F | P | J | C, 0, field_same_json_name,                              \
      "a field keeps its JSON name (explicit json_name or the derived lowerCamel one)")            \
    X("FIELD_SAME_JSTYPE", F | P, 0, field_same_jstype,                                            \
      "a 64-bit integer field keeps its jstype option")                                            \
    X("FIELD_SAME_NAME", F | P | J | C, 0, field_same_name, "a field number keeps its name")       \
    X("FIELD_SAME_ONEOF", F | P | J | W | C, 0, field_same_oneof,                                  \
      "a field stays in the same oneof, or outside any oneof")                                     \
    X("FIELD_SAME_TYPE", F | P | C, 0, field_same_type,                                            \
      "a field keeps exactly the same type (scalar, or fully-qualified message or enum)")          \
    X("FIELD_SAME_UTF8_VALIDATION", F | P, 0, field_same_utf8_validation,                          \
      "a string field keeps its UTF-8 validation mode")                                            \
    X("FIELD_WIRE_COMPATIBLE_CARDINALITY", W, 0, field_wire_compatible_cardinality,                \
      "a cardinality change keeps the binary encoding readable")                                   \
    X("FIELD_WIRE_COMPATIBLE_TYPE", W, 0, field_wire_compatible_type,                              \
      "a type change keeps the binary encoding readable")                                          \
    X("FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY", J | C, 0, field_wire_json_compatible_cardinality,  \
      "a cardinality change keeps the binary and JSON encodings readable")                         \
    X("FIELD_WIRE_JSON_COMPATIBLE_TYPE", J | C, 0, field_wire_json_compatible_type,                \
      "a type change keeps the binary and JSON encodings readable")                                \
    X("FILE_NO_DELETE", F | C, 0, file_no_delete, "a file present before must still be present")   \
    X("FILE_SAME_CC_ENABLE_ARENAS", F | P, 0, file_same_cc_enable_arenas,                          \
      "file option cc_enable_arenas unchanged")                                                    \
    X("FILE_SAME_CC_GENERIC_SERVICES", F | P, 0, file_same_cc_generic_services,                    \
      "file option cc_generic_services unchanged")                                                 \
    X("FILE_SAME_CSHARP_NAMESPACE", F | P, 0, file_same_csharp_namespace,                          \
      "file option csharp_namespace unchanged")                                                    \
    X("FILE_SAME_GO_PACKAGE", F | P, 0, file_same_go_package, "file option go_package unchanged")  \
    X("FILE_SAME_JAVA_GENERIC_SERVICES", F | P, 0, file_same_java_generic_services,                \
      "file option java_generic_services unchanged")                                               \
    X("FILE_SAME_JAVA_MULTIPLE_FILES", F | P, 0, file_same_java_multiple_files,                    \
      "file option java_multiple_files unchanged")                                                 \
    X("FILE_SAME_JAVA_OUTER_CLASSNAME", F | P, 0, file_same_java_outer_classname,                  \
      "file option java_outer_classname unchanged")                                                \
    X("FILE_SAME_JAVA_PACKAGE", F | P, 0, file_same_java_package,                                  \
      "file option java_package unchanged")                                                        \
    X("FILE_SAME_OBJC_CLASS_PREFIX", F | P, 0, file_same_objc_class_prefix,                        \
      "file option objc_class_prefix unchanged")                                                   \
    X("FILE_SAME_OPTIMIZE_FOR", F | P, 0, file_same_optimize_for,                                  \
      "file option optimize_for unchanged")                                                        \
    X("FILE_SAME_PACKAGE", F | P | J | W | C, 0, file_same_package, "a file keeps its package")    \
    X("FILE_SAME_PHP_CLASS_PREFIX", F | P, 0, file_same_php_class_prefix,                          \
      "file option php_class_prefix unchanged")                                                    \
    X("FILE_SAME_PHP_METADATA_NAMESPACE", F | P, 0, file_same_php_metadata_namespace,              \
      "file option php_metadata_namespace unchanged")                                              \
    X("FILE_SAME_PHP_NAMESPACE", F | P, 0, file_same_php_namespace,                                \
      "file option php_namespace unchanged")                                                       \
    X("FILE_SAME_PY_GENERIC_SERVICES", F | P, 0, file_same_py_generic_services,                    \
      "file option py_generic_services unchanged")                                                 \
    X("FILE_SAME_RUBY_PACKAGE", F | P, 0, file_same_ruby_package,                                  \
      "file option ruby_package unchanged")                                                        \
    X("FILE_SAME_SWIFT_PREFIX", F | P, 0, file_same_swift_prefix,                                  \
      "file option swift_prefix unchanged")                                                        \
    X("FILE_SAME_SYNTAX", F | P | C, 0, file_same_syntax, "a file keeps its syntax or edition")    \
    X("MESSAGE_NO_DELETE", F | C, 0, message_no_delete,                                            \
      "a message (top-level or nested) must still exist in the same file")                         \
    X("MESSAGE_NO_REMOVE_STANDARD_DESCRIPTOR_ACCESSOR", F | P | C, 0,                              \
      message_no_remove_standard_descriptor_accessor,                                              \
      "message option no_standard_descriptor_accessor must not turn true")                         \
    X("MESSAGE_SAME_JSON_FORMAT", F | P | J | C, 0, message_same_json_format,                      \
      "a message keeps its JSON support level (json_format feature)")                              \
    X("MESSAGE_SAME_MESSAGE_SET_WIRE_FORMAT", 0, 1, message_same_message_set_wire_format,          \
      "deprecated: message option message_set_wire_format unchanged (buf checks nothing)")         \
    X("MESSAGE_SAME_REQUIRED_FIELDS", F | P | J | W | C, 0, message_same_required_fields,          \
      "a message gains no required field and loses none")                                          \
    X("ONEOF_NO_DELETE", F | P | C, 0, oneof_no_delete,                                            \
      "every oneof (by name) must still exist in its message")                                     \
    X("PACKAGE_ENUM_NO_DELETE", P, 0, package_enum_no_delete,                                      \
      "an enum must still exist somewhere in its package (while the package has enums)")           \
    X("PACKAGE_EXTENSION_NO_DELETE", P, 0, package_extension_no_delete,                            \
      "an extension must still exist somewhere in its package (while it has extensions)")          \
    X("PACKAGE_MESSAGE_NO_DELETE", P, 0, package_message_no_delete,                                \
      "a message must still exist somewhere in its package (while it has messages)")               \
    X("PACKAGE_NO_DELETE", P, 0, package_no_delete,                                                \
      "a package present before must still have a file")                                           \
    X("PACKAGE_SERVICE_NO_DELETE", P, 0, package_service_no_delete,                                \
      "a service must still exist somewhere in its package")                                       \
    X("RESERVED_ENUM_NO_DELETE", F | P | J | W | C, 0, reserved_enum_no_delete,                    \
      "an enum's reserved numbers and names all stay reserved")                                    \
    X("RESERVED_MESSAGE_NO_DELETE", F | P | J | W | C, 0, reserved_message_no_delete,              \
      "a message's reserved numbers and names all stay reserved")                                  \
    X("RPC_NO_DELETE", F | P, 0, rpc_no_delete, "every rpc of a service must still exist in it")   \
    X("RPC_SAME_CLIENT_STREAMING", F | P | J | W | C, 0, rpc_same_client_streaming,                \
      "an rpc keeps its client-streaming flag")                                                    \
    X("RPC_SAME_IDEMPOTENCY_LEVEL", F | P | J | W | C, 0, rpc_same_idempotency_level,              \
      "an rpc keeps its idempotency_level option")                                                 \
    X("RPC_SAME_REQUEST_TYPE", F | P | J | W | C, 0, rpc_same_request_type,                        \
      "an rpc keeps its request message type")                                                     \
    X("RPC_SAME_RESPONSE_TYPE", F | P | J | W | C, 0, rpc_same_response_type,                      \
      "an rpc keeps its response message type")                                                    \
    X("RPC_SAME_SERVER_STREAMING", F | P | J | W | C, 0, rpc_same_server_streaming,                \
      "an rpc keeps its server-streaming flag")                                                    \
    X("SERVICE_NO_DELETE", F, 0, service_no_delete, "a service must still exist in the same file")

#define AS_RULE(id, cats, dep, fn, purpose) {id, cats, dep, purpose},
#define AS_FN(id, cats, dep, fn, purpose)   spk_evolve_rule_##fn,

static const struct spk_evolve_rule rules[] = {RULES(AS_RULE)};
static const spk_evolve_rule_fn impls[] = {RULES(AS_FN)};
_Static_assert(sizeof(rules) / sizeof(rules[0]) == sizeof(impls) / sizeof(impls[0]),
               "one implementation per rule");

const struct spk_evolve_rule *spk_evolve_rules(size_t *n)
{
    *n = sizeof(rules) / sizeof(rules[0]);
    return rules;
}

spk_evolve_rule_fn spk_evolve_rule_impl(size_t i)
{
    return i < sizeof(impls) / sizeof(impls[0]) ? impls[i] : NULL;
}

const struct spk_evolve_rule *spk_evolve_rule_find(const char *id)
{
    size_t lo = 0, hi = sizeof(rules) / sizeof(rules[0]);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(rules[mid].id, id);
        if (c == 0)
            return &rules[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static const struct {
    const char *name;
    unsigned bit;
} categories[] = {
    {"FILE", SPK_EVOLVE_FILE}, {"PACKAGE", SPK_EVOLVE_PACKAGE}, {"WIRE_JSON", SPK_EVOLVE_WIRE_JSON},
    {"WIRE", SPK_EVOLVE_WIRE}, {"CSR", SPK_EVOLVE_CSR},
};

unsigned spk_evolve_category_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(categories) / sizeof(categories[0]); i++)
        if (name && strcmp(categories[i].name, name) == 0)
            return categories[i].bit;
    return 0;
}

const char *spk_evolve_category_name(unsigned bit)
{
    for (size_t i = 0; i < sizeof(categories) / sizeof(categories[0]); i++)
        if (categories[i].bit == bit)
            return categories[i].name;
    return NULL;
}

/* A relative path inside the module: no leading '/', no "." or ".." segments, no empty ones
 * (a trailing '/' is tolerated). */
static int path_ok(const char *p)
{
    if (!p || !p[0] || p[0] == '/')
        return 0;
    for (const char *s = p; *s;) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 0 && e && e[1])
            return 0;
        if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            return 0;
        s += n + (e ? 1 : 0);
    }
    return 1;
}

int spk_evolve_config_validate(const struct spk_evolve_config *cfg, struct spk_error *err)
{
    if (!cfg)
        return 0;
    for (size_t i = 0; i < cfg->nuse; i++)
        if (!spk_evolve_category_parse(cfg->use[i]) && !spk_evolve_rule_find(cfg->use[i]))
            return spk_error_set(err, SPK_E_INVALID, "unknown breaking rule or category: %s",
                                 cfg->use[i] ? cfg->use[i] : "(null)");
    for (size_t i = 0; i < cfg->nexcept; i++)
        if (!spk_evolve_category_parse(cfg->except[i]) && !spk_evolve_rule_find(cfg->except[i]))
            return spk_error_set(err, SPK_E_INVALID, "unknown breaking rule or category: %s",
                                 cfg->except[i] ? cfg->except[i] : "(null)");
    for (size_t i = 0; i < cfg->nignore; i++)
        if (!path_ok(cfg->ignore[i]))
            return spk_error_set(err, SPK_E_INVALID, "bad ignore path: %s",
                                 cfg->ignore[i] ? cfg->ignore[i] : "(null)");
    return 0;
}
