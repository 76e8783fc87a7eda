/* Schema evolution: what changed between two compiled versions of a module, and which of those
 * changes break consumers under buf's breaking rules (same rule IDs, categories and semantics as
 * `buf breaking` with a v2 configuration) or under Confluent's Protobuf compatibility rules.
 *
 * Pure code over decoded FileDescriptorSets: no I/O, no services, no HTTP shapes. Only the
 * module's own files are compared; the other files of a set are its imports (dependencies and
 * well-known types) and only resolve types.
 *
 * Output structs are caller-owned and released with their _release function (NULL-safe,
 * idempotent on zeroed structs). Strings in them are new unless marked static. */
#ifndef SPOKE_EVOLVE_H
#define SPOKE_EVOLVE_H

#include <stddef.h>

struct spk_error;

/* buf's categories, as bits of a mask. CSR is buf's own "Confluent Schema Registry" set. */
#define SPK_EVOLVE_FILE      0x01u
#define SPK_EVOLVE_PACKAGE   0x02u
#define SPK_EVOLVE_WIRE_JSON 0x04u
#define SPK_EVOLVE_WIRE      0x08u
#define SPK_EVOLVE_CSR       0x10u

struct spk_evolve_rule {
    const char *id;      /* "FIELD_NO_DELETE" */
    unsigned categories; /* SPK_EVOLVE_* bits */
    int deprecated;      /* in no category; runs only when named in use */
    const char *purpose; /* one line, for docs and listings */
};
/* Every rule of buf breaking (v2), deprecated ones included, in ID order. Static table. */
const struct spk_evolve_rule *spk_evolve_rules(size_t *n);
const struct spk_evolve_rule *spk_evolve_rule_find(const char *id);
/* "FILE" → SPK_EVOLVE_FILE …; 0 when name is no category. */
unsigned spk_evolve_category_parse(const char *name);
/* One bit → "FILE" …; NULL for anything else. */
const char *spk_evolve_category_name(unsigned bit);

/* A compiled version: a FileDescriptorSet (with imports) and the paths of the module's own files.
 */
struct spk_evolve_image;
/* -1 with INVALID when the bytes do not decode or an own file is missing from the set. The image
 * keeps no pointer into set or own. Free with spk_evolve_image_destroy. */
int spk_evolve_image_create(const unsigned char *set, size_t len, const char *const *own,
                            size_t nown, struct spk_evolve_image **out, struct spk_error *err);
void spk_evolve_image_destroy(struct spk_evolve_image *img);
/* 1 when every own file carries source code info (violations then have lines and columns). */
int spk_evolve_image_has_source_info(const struct spk_evolve_image *img);

/* Which buf rules run, with buf's meaning of each knob. Arrays are borrowed. */
struct spk_evolve_config {
    const char *const *use; /* categories and/or rule IDs; none means FILE (buf's default) */
    size_t nuse;
    const char *const *except; /* rule IDs or categories taken out of use */
    size_t nexcept;
    const char *const *ignore; /* file paths or directory prefixes whose changes are not reported */
    size_t nignore;
    int ignore_unstable_packages; /* skip packages like foo.v1alpha1, foo.v1beta1, foo.v1test */
};
/* INVALID naming the first entry that is neither a rule ID nor a category, or a bad path. */
int spk_evolve_config_validate(const struct spk_evolve_config *cfg, struct spk_error *err);

struct spk_evolve_violation {
    const char *rule;    /* static: a buf rule ID, or a Confluent difference type */
    unsigned categories; /* every buf category the rule belongs to (0 for Confluent's) */
    char *file;          /* path in the new version; "" when it has none (deleted file) */
    int line, column;    /* 1-based; 0 when unknown (no source info, deleted file) */
    char *message;       /* for people: "field 3 \"amount\" on message \"acme.v1.Payment\" …" */
    char *old_value;     /* what it was ("int32"); NULL when not a value change */
    char *new_value;     /* what it is now ("int64"); NULL when not a value change */
};
struct spk_evolve_result {
    struct spk_evolve_violation *v; /* sorted by file, line, column, rule, message */
    size_t n;
};
void spk_evolve_result_release(struct spk_evolve_result *r);

/* buf breaking: the changes from old to new that break a rule cfg turns on. out is filled
 * (possibly empty) and must be released; -1 only when cfg does not validate. */
int spk_evolve_check(const struct spk_evolve_image *old, const struct spk_evolve_image *new_,
                     const struct spk_evolve_config *cfg, struct spk_evolve_result *out,
                     struct spk_error *err);

/* Confluent's compatibility levels. */
enum spk_evolve_mode {
    SPK_EVOLVE_MODE_NONE,
    SPK_EVOLVE_MODE_BACKWARD,
    SPK_EVOLVE_MODE_BACKWARD_TRANSITIVE,
    SPK_EVOLVE_MODE_FORWARD,
    SPK_EVOLVE_MODE_FORWARD_TRANSITIVE,
    SPK_EVOLVE_MODE_FULL,
    SPK_EVOLVE_MODE_FULL_TRANSITIVE,
};
/* "BACKWARD" → SPK_EVOLVE_MODE_BACKWARD …; -1 when name is none of them. */
int spk_evolve_mode_parse(const char *name);
const char *spk_evolve_mode_name(enum spk_evolve_mode m);
/* 1 for the _TRANSITIVE levels. backward/forward say which directions the level checks. */
int spk_evolve_mode_transitive(enum spk_evolve_mode m);
int spk_evolve_mode_backward(enum spk_evolve_mode m);
int spk_evolve_mode_forward(enum spk_evolve_mode m);

/* Confluent's Protobuf diff in one direction, keeping only its incompatible difference types
 * (PACKAGE_CHANGED, MESSAGE_REMOVED, FIELD_KIND_CHANGED, …): readers of new must read what
 * writers of old wrote. BACKWARD is (previous, candidate), FORWARD (candidate, previous).
 * Files are matched by path; a file gone counts as its messages removed. */
int spk_evolve_confluent_diff(const struct spk_evolve_image *old,
                              const struct spk_evolve_image *new_, struct spk_evolve_result *out,
                              struct spk_error *err);

/* A structured diff, for people and tools. */
enum spk_evolve_change_kind { SPK_EVOLVE_ADDED, SPK_EVOLVE_REMOVED, SPK_EVOLVE_CHANGED };
const char *spk_evolve_change_kind_name(enum spk_evolve_change_kind k); /* "added" … */

struct spk_evolve_change {
    enum spk_evolve_change_kind kind;
    const char *element; /* static: "file", "message", "field", "oneof", "enum", "enum_value",
                            "service", "method", "extension", "option", "reserved" */
    char *file;          /* the new file for added/changed, the old one for removed */
    char *name;       /* full name: "acme.v1.Payment.amount"; options "acme.v1.Payment:deprecated";
                         files their path */
    char *old_value;  /* NULL for added; a short rendering ("int32 amount = 3") otherwise */
    char *new_value;  /* NULL for removed */
    int line, column; /* in file, 0 when unknown */
};
struct spk_evolve_diff {
    struct spk_evolve_change *c; /* sorted by file, then name, then element */
    size_t n;
};
void spk_evolve_diff_release(struct spk_evolve_diff *d);
int spk_evolve_diff(const struct spk_evolve_image *old, const struct spk_evolve_image *new_,
                    struct spk_evolve_diff *out, struct spk_error *err);

#endif
