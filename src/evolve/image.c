/* Images: a decoded FileDescriptorSet indexed for comparison. Every message, enum, extension,
 * service and field is named (full and nested names), given its SourceCodeInfo path and its
 * resolved edition features, and indexed by file, by full name and by number; source
 * locations are indexed by path so buf's location lookups are one hash probe. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "evolve_internal.h"
#include "spoke/alloc.h"
#include "spoke/error.h"
#include "spoke/banned.h"

struct builder {
    struct spk_evolve_image *img;
    struct spk_evolve_file *f;
    /* growable lists, copied into the arena when the file is done */
    struct spk_evolve_message **msgs;
    size_t nmsgs, capmsgs;
    struct spk_evolve_enum **enums;
    size_t nenums, capenums;
    struct spk_evolve_field **exts;
    size_t nexts, capexts;
};

#define PUSH(list, n, cap, item)                                                                   \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            (cap) = (cap) ? (cap)*2 : 16;                                                          \
            (list) = spk_realloc((list), (cap) * sizeof(*(list)));                                 \
        }                                                                                          \
        (list)[(n)++] = (item);                                                                    \
    } while (0)

static struct spk_evolve_path path_of(struct spk_evolve_arena *a,
                                      const struct spk_evolve_path *base, int32_t x, int32_t y)
{
    struct spk_evolve_path p = {spk_evolve_arena_alloc(a, (base->n + 2) * sizeof(int32_t)),
                                base->n + 2};
    if (base->n)
        memcpy(p.p, base->p, base->n * sizeof(int32_t));
    p.p[base->n] = x;
    p.p[base->n + 1] = y;
    return p;
}

static const char *join(struct spk_evolve_arena *a, const char *scope, const char *name)
{
    size_t ns = scope ? strlen(scope) : 0, nn = strlen(name);
    char *out = spk_evolve_arena_alloc(a, ns + nn + 2);
    if (ns) {
        memcpy(out, scope, ns);
        out[ns++] = '.';
    }
    memcpy(out + ns, name, nn + 1);
    return out;
}

static const char *trim_dot(const char *s)
{
    return !s ? "" : s[0] == '.' ? s + 1 : s;
}

/* protoc's ToJsonName: drop underscores, capitalize the letter after each. */
static const char *json_name_of(struct spk_evolve_arena *a, const pb_field *d)
{
    if (d->json_name)
        return d->json_name;
    const char *in = d->name ? d->name : "";
    char *out = spk_evolve_arena_alloc(a, strlen(in) + 1), *o = out;
    int up = 0;
    for (; *in; in++) {
        if (*in == '_')
            up = 1;
        else {
            *o++ = up && *in >= 'a' && *in <= 'z' ? (char)(*in - 'a' + 'A') : *in;
            up = 0;
        }
    }
    return out;
}

static void field_init(struct builder *b, struct spk_evolve_field *fl, const pb_field *d,
                       struct spk_evolve_message *msg, int is_ext, const char *scope,
                       struct spk_evolve_path path, const struct spk_evolve_features *parent)
{
    struct spk_evolve_arena *a = &b->img->arena;
    fl->d = d;
    fl->file = b->f;
    fl->msg = msg;
    fl->is_extension = is_ext;
    fl->name = d->name ? d->name : "";
    fl->full_name = join(a, scope, fl->name);
    size_t plen = strlen(b->f->package);
    fl->nested_name =
        plen && strncmp(fl->full_name, b->f->package, plen) == 0 && fl->full_name[plen] == '.'
            ? fl->full_name + plen + 1
            : fl->full_name;
    fl->number = d->number;
    fl->type = d->has_type ? (int)d->type : 0;
    fl->label = d->has_label ? (int)d->label
                             : GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_OPTIONAL;
    fl->type_name = trim_dot(d->type_name);
    fl->extendee = trim_dot(d->extendee);
    fl->json_name = json_name_of(a, d);
    fl->path = path;
    fl->features = *parent;
    if (!is_ext && msg && d->has_oneof_index && d->oneof_index >= 0 &&
        (size_t)d->oneof_index < msg->noneofs) {
        fl->oneof = &msg->oneofs[d->oneof_index];
        fl->features = fl->oneof->features;
    }
    spk_evolve_features_apply((const ProtobufCMessage *)d->options, 21, &fl->features);
}

static int cmp_number(const void *a, const void *b)
{
    int32_t x = (*(struct spk_evolve_field *const *)a)->number;
    int32_t y = (*(struct spk_evolve_field *const *)b)->number;
    return (x > y) - (x < y);
}

static void add_enum(struct builder *b, const pb_enum *d, struct spk_evolve_message *parent,
                     const char *scope, struct spk_evolve_path path,
                     const struct spk_evolve_features *pf)
{
    struct spk_evolve_arena *a = &b->img->arena;
    struct spk_evolve_enum *e = spk_evolve_arena_alloc(a, sizeof(*e));
    e->d = d;
    e->file = b->f;
    e->parent = parent;
    e->name = d->name ? d->name : "";
    e->full_name = join(a, scope, e->name);
    e->nested_name = parent ? join(a, parent->nested_name, e->name) : e->name;
    e->path = path;
    e->features = *pf;
    spk_evolve_features_apply((const ProtobufCMessage *)d->options, 7, &e->features);
    e->nvalues = d->n_value;
    e->values = spk_evolve_arena_alloc(a, d->n_value * sizeof(*e->values));
    for (size_t i = 0; i < d->n_value; i++) {
        struct spk_evolve_value *v = &e->values[i];
        v->d = d->value[i];
        v->en = e;
        v->name = d->value[i]->name ? d->value[i]->name : "";
        v->number = d->value[i]->number;
        v->path = path_of(a, &path, 2, (int32_t)i);
    }
    PUSH(b->enums, b->nenums, b->capenums, e);
    spk_evolve_map_sadd(&b->f->enum_by_nested, e->nested_name, e);
    spk_evolve_map_sadd(&b->img->enum_by_name, e->full_name, e);
}

static void add_extension(struct builder *b, const pb_field *d,
                          struct spk_evolve_message *scope_msg, const char *scope,
                          struct spk_evolve_path path, const struct spk_evolve_features *pf)
{
    struct spk_evolve_field *fl = spk_evolve_arena_alloc(&b->img->arena, sizeof(*fl));
    field_init(b, fl, d, scope_msg, 1, scope, path, pf);
    PUSH(b->exts, b->nexts, b->capexts, fl);
    spk_evolve_map_sadd(&b->f->extension_by_nested, fl->nested_name, fl);
}

/* Messages in buf's order (a message, then its nested ones); enums and extensions are
 * collected per container by the callers in the same order buf walks them. */
static struct spk_evolve_message *add_message(struct builder *b, const pb_message *d,
                                              struct spk_evolve_message *parent, const char *scope,
                                              struct spk_evolve_path path,
                                              const struct spk_evolve_features *pf)
{
    struct spk_evolve_arena *a = &b->img->arena;
    struct spk_evolve_message *m = spk_evolve_arena_alloc(a, sizeof(*m));
    m->d = d;
    m->file = b->f;
    m->parent = parent;
    m->name = d->name ? d->name : "";
    m->full_name = join(a, scope, m->name);
    m->nested_name = parent ? join(a, parent->nested_name, m->name) : m->name;
    m->map_entry = d->options && d->options->has_map_entry && d->options->map_entry;
    m->path = path;
    m->features = *pf;
    spk_evolve_features_apply((const ProtobufCMessage *)d->options, 12, &m->features);
    PUSH(b->msgs, b->nmsgs, b->capmsgs, m);
    spk_evolve_map_sadd(&b->f->message_by_nested, m->nested_name, m);
    spk_evolve_map_sadd(&b->img->message_by_name, m->full_name, m);

    m->noneofs = d->n_oneof_decl;
    m->oneofs = spk_evolve_arena_alloc(a, d->n_oneof_decl * sizeof(*m->oneofs));
    for (size_t i = 0; i < d->n_oneof_decl; i++) {
        struct spk_evolve_oneof *o = &m->oneofs[i];
        o->d = d->oneof_decl[i];
        o->msg = m;
        o->name = o->d->name ? o->d->name : "";
        o->path = path_of(a, &path, 8, (int32_t)i);
        o->features = m->features;
        spk_evolve_features_apply((const ProtobufCMessage *)o->d->options, 1, &o->features);
    }
    m->nfields = d->n_field;
    m->fields = spk_evolve_arena_alloc(a, d->n_field * sizeof(*m->fields));
    m->by_number = spk_evolve_arena_alloc(a, d->n_field * sizeof(*m->by_number));
    for (size_t i = 0; i < d->n_field; i++) {
        field_init(b, &m->fields[i], d->field[i], m, 0, m->full_name,
                   path_of(a, &path, 2, (int32_t)i), &m->features);
        m->by_number[i] = &m->fields[i];
        if (d->field[i]->has_proto3_optional && d->field[i]->proto3_optional && m->fields[i].oneof)
            m->fields[i].oneof->synthetic = 1;
    }
    qsort(m->by_number, m->nfields, sizeof(*m->by_number), cmp_number);
    m->nnested = d->n_nested_type;
    m->nested = spk_evolve_arena_alloc(a, d->n_nested_type * sizeof(*m->nested));
    for (size_t i = 0; i < d->n_nested_type; i++)
        m->nested[i] = add_message(b, d->nested_type[i], m, m->full_name,
                                   path_of(a, &path, 3, (int32_t)i), &m->features);
    return m;
}

static void add_message_enums(struct builder *b, struct spk_evolve_message *m)
{
    struct spk_evolve_arena *a = &b->img->arena;
    for (size_t i = 0; i < m->d->n_enum_type; i++)
        add_enum(b, m->d->enum_type[i], m, m->full_name, path_of(a, &m->path, 4, (int32_t)i),
                 &m->features);
}

static void add_message_extensions(struct builder *b, struct spk_evolve_message *m)
{
    struct spk_evolve_arena *a = &b->img->arena;
    for (size_t i = 0; i < m->d->n_extension; i++)
        add_extension(b, m->d->extension[i], m, m->full_name, path_of(a, &m->path, 6, (int32_t)i),
                      &m->features);
}

/* buf walks enums (and extensions) container first, then each message depth-first. */
static void walk_nested(struct builder *b, struct spk_evolve_message *m,
                        void (*fn)(struct builder *, struct spk_evolve_message *), size_t *cursor)
{
    fn(b, m);
    size_t nested = m->d->n_nested_type;
    for (size_t i = 0; i < nested; i++) {
        struct spk_evolve_message *child = b->msgs[(*cursor)++];
        walk_nested(b, child, fn, cursor);
    }
}

static void build_file(struct spk_evolve_image *img, struct spk_evolve_file *f, const pb_file *d)
{
    struct spk_evolve_arena *a = &img->arena;
    struct builder b = {img, f, NULL, 0, 0, NULL, 0, 0, NULL, 0, 0};
    f->d = d;
    f->img = img;
    f->path = d->name;
    f->package = d->package ? d->package : "";
    if (d->syntax && strcmp(d->syntax, "proto3") == 0)
        f->syntax = EV_PROTO3;
    else if (d->syntax && strcmp(d->syntax, "editions") == 0)
        f->syntax = EV_EDITIONS;
    else
        f->syntax = EV_PROTO2;
    f->edition = f->syntax == EV_EDITIONS ? spk_evolve_file_edition(d) : 0;
    spk_evolve_features_defaults(f->syntax, f->edition, &f->features);
    spk_evolve_features_apply((const ProtobufCMessage *)d->options, 50, &f->features);

    struct spk_evolve_path root = {NULL, 0};
    for (size_t i = 0; i < d->n_message_type; i++)
        add_message(&b, d->message_type[i], NULL, f->package, path_of(a, &root, 4, (int32_t)i),
                    &f->features);
    /* enums: the file's, then each message's (depth-first); extensions likewise */
    for (size_t i = 0; i < d->n_enum_type; i++)
        add_enum(&b, d->enum_type[i], NULL, f->package, path_of(a, &root, 5, (int32_t)i),
                 &f->features);
    for (size_t cursor = 0; cursor < b.nmsgs;) {
        struct spk_evolve_message *top = b.msgs[cursor++];
        walk_nested(&b, top, add_message_enums, &cursor);
    }
    for (size_t i = 0; i < d->n_extension; i++)
        add_extension(&b, d->extension[i], NULL, f->package, path_of(a, &root, 7, (int32_t)i),
                      &f->features);
    for (size_t cursor = 0; cursor < b.nmsgs;) {
        struct spk_evolve_message *top = b.msgs[cursor++];
        walk_nested(&b, top, add_message_extensions, &cursor);
    }

    f->nservices = d->n_service;
    f->services = spk_evolve_arena_alloc(a, d->n_service * sizeof(*f->services));
    for (size_t i = 0; i < d->n_service; i++) {
        struct spk_evolve_service *s = &f->services[i];
        s->d = d->service[i];
        s->file = f;
        s->name = s->d->name ? s->d->name : "";
        s->full_name = join(a, f->package, s->name);
        s->path = path_of(a, &root, 6, (int32_t)i);
        s->nmethods = s->d->n_method;
        s->methods = spk_evolve_arena_alloc(a, s->nmethods * sizeof(*s->methods));
        for (size_t j = 0; j < s->nmethods; j++) {
            struct spk_evolve_method *m = &s->methods[j];
            m->d = s->d->method[j];
            m->svc = s;
            m->name = m->d->name ? m->d->name : "";
            m->input = trim_dot(m->d->input_type);
            m->output = trim_dot(m->d->output_type);
            m->path = path_of(a, &s->path, 2, (int32_t)j);
        }
        spk_evolve_map_sadd(&img->service_by_name, s->full_name, s);
    }

    f->nmessages = b.nmsgs;
    f->messages = spk_evolve_arena_alloc(a, b.nmsgs * sizeof(*f->messages));
    if (b.nmsgs)
        memcpy(f->messages, b.msgs, b.nmsgs * sizeof(*f->messages));
    f->nenums = b.nenums;
    f->enums = spk_evolve_arena_alloc(a, b.nenums * sizeof(*f->enums));
    if (b.nenums)
        memcpy(f->enums, b.enums, b.nenums * sizeof(*f->enums));
    f->nextensions = b.nexts;
    f->extensions = spk_evolve_arena_alloc(a, b.nexts * sizeof(*f->extensions));
    if (b.nexts)
        memcpy(f->extensions, b.exts, b.nexts * sizeof(*f->extensions));
    free(b.msgs);
    free(b.enums);
    free(b.exts);
}

static void resolve_field(struct spk_evolve_image *img, struct spk_evolve_field *fl)
{
    if (!fl->type_name[0])
        return;
    if (fl->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_ENUM)
        fl->type_enum = spk_evolve_map_sget(&img->enum_by_name, fl->type_name);
    else
        fl->type_msg = spk_evolve_map_sget(&img->message_by_name, fl->type_name);
}

int spk_evolve_image_create(const unsigned char *set, size_t len, const char *const *own,
                            size_t nown, struct spk_evolve_image **out, struct spk_error *err)
{
    *out = NULL;
    uint8_t *raw = spk_malloc(len ? len : 1), *stripped = NULL;
    const uint8_t **sci = NULL;
    size_t *sci_len = NULL, stripped_len = 0, nsplit = 0;
    if (len)
        memcpy(raw, set, len);
    Google__Protobuf__FileDescriptorSet *fds = NULL;
    if (spk_evolve_set_split(raw, len, &stripped, &stripped_len, &sci, &sci_len, &nsplit) == 0)
        fds = google__protobuf__file_descriptor_set__unpack(NULL, stripped_len, stripped);
    free(stripped);
    if (!fds || fds->n_file != nsplit) {
        if (fds)
            google__protobuf__file_descriptor_set__free_unpacked(fds, NULL);
        free(raw);
        free(sci);
        free(sci_len);
        return spk_error_set(err, SPK_E_INVALID, "the descriptor set does not decode");
    }
    struct spk_evolve_image *img = spk_calloc(1, sizeof(*img));
    img->fds = fds;
    img->raw = raw;
    img->lock = spk_malloc(sizeof(pthread_mutex_t));
    pthread_mutex_init(img->lock, NULL);
    img->nfiles = fds->n_file;
    img->files = spk_evolve_arena_alloc(&img->arena, fds->n_file * sizeof(*img->files));
    for (size_t i = 0; i < fds->n_file; i++) {
        img->files[i].sci = sci[i];
        img->files[i].sci_len = sci_len[i];
        img->files[i].has_source_info = sci_len[i] > 0;
    }
    free(sci);
    free(sci_len);
    for (size_t i = 0; i < fds->n_file; i++) {
        if (!fds->file[i]->name) {
            spk_evolve_image_destroy(img);
            return spk_error_set(err, SPK_E_INVALID, "a file of the descriptor set has no name");
        }
        if (spk_evolve_map_sadd(&img->file_by_path, fds->file[i]->name, &img->files[i]) !=
            &img->files[i]) {
            spk_error_set(err, SPK_E_INVALID, "file %s appears twice in the descriptor set",
                          fds->file[i]->name);
            spk_evolve_image_destroy(img);
            return -1;
        }
    }
    for (size_t i = 0; i < nown; i++) {
        struct spk_evolve_file *f = spk_evolve_map_sget(&img->file_by_path, own[i]);
        if (!f) {
            spk_error_set(err, SPK_E_INVALID, "file %s is not in the descriptor set", own[i]);
            spk_evolve_image_destroy(img);
            return -1;
        }
        f->own = 1;
    }
    for (size_t i = 0; i < fds->n_file; i++) {
        int own_flag = img->files[i].own;
        build_file(img, &img->files[i], fds->file[i]);
        img->files[i].own = own_flag;
    }
    for (size_t i = 0; i < img->nfiles; i++) {
        struct spk_evolve_file *f = &img->files[i];
        for (size_t m = 0; m < f->nmessages; m++)
            for (size_t k = 0; k < f->messages[m]->nfields; k++)
                resolve_field(img, &f->messages[m]->fields[k]);
        for (size_t k = 0; k < f->nextensions; k++)
            resolve_field(img, f->extensions[k]);
    }
    *out = img;
    return 0;
}

void spk_evolve_image_destroy(struct spk_evolve_image *img)
{
    if (!img)
        return;
    for (size_t i = 0; i < img->nfiles; i++) {
        struct spk_evolve_file *f = &img->files[i];
        spk_evolve_file_locs_release(f);
        spk_evolve_map_release(&f->message_by_nested);
        spk_evolve_map_release(&f->enum_by_nested);
        spk_evolve_map_release(&f->extension_by_nested);
    }
    spk_evolve_map_release(&img->file_by_path);
    spk_evolve_map_release(&img->message_by_name);
    spk_evolve_map_release(&img->enum_by_name);
    spk_evolve_map_release(&img->service_by_name);
    spk_evolve_arena_release(&img->arena);
    google__protobuf__file_descriptor_set__free_unpacked(img->fds, NULL);
    if (img->lock) {
        pthread_mutex_destroy(img->lock);
        free(img->lock);
    }
    free(img->raw);
    free(img);
}

int spk_evolve_image_has_source_info(const struct spk_evolve_image *img)
{
    int any = 0;
    for (size_t i = 0; i < img->nfiles; i++) {
        if (!img->files[i].own)
            continue;
        any = 1;
        if (!img->files[i].has_source_info)
            return 0;
    }
    return any;
}

struct spk_evolve_file *spk_evolve_image_file(const struct spk_evolve_image *img, const char *path)
{
    return spk_evolve_map_sget(&img->file_by_path, path);
}

struct spk_evolve_message *spk_evolve_image_message(const struct spk_evolve_image *img,
                                                    const char *full_name)
{
    return spk_evolve_map_sget(&img->message_by_name, full_name);
}

struct spk_evolve_enum *spk_evolve_image_enum(const struct spk_evolve_image *img,
                                              const char *full_name)
{
    return spk_evolve_map_sget(&img->enum_by_name, full_name);
}

struct spk_evolve_field *spk_evolve_message_field(const struct spk_evolve_message *m,
                                                  int32_t number)
{
    size_t lo = 0, hi = m->nfields;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->by_number[mid]->number < number)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->nfields && m->by_number[lo]->number == number ? m->by_number[lo] : NULL;
}

/* ---- protoreflect's view of fields ---- */

int spk_evolve_field_kind(const struct spk_evolve_field *f)
{
    if (f->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_MESSAGE &&
        f->file->syntax == EV_EDITIONS && f->features.message_encoding == EV_ENCODING_DELIMITED &&
        !(f->type_msg && f->type_msg->map_entry))
        return GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_GROUP;
    return f->type;
}

int spk_evolve_field_is_map(const struct spk_evolve_field *f)
{
    return f->label == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED &&
           f->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_MESSAGE && f->type_msg &&
           f->type_msg->map_entry;
}

int spk_evolve_field_is_list(const struct spk_evolve_field *f)
{
    return f->label == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED &&
           !spk_evolve_field_is_map(f);
}

int spk_evolve_field_has_presence(const struct spk_evolve_field *f)
{
    if (f->label == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED)
        return 0;
    if (f->is_extension || f->oneof)
        return 1;
    if (f->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_MESSAGE ||
        f->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_GROUP)
        return 1;
    if (f->file->syntax == EV_PROTO2)
        return 1;
    if (f->file->syntax == EV_PROTO3)
        return 0;
    return f->features.field_presence != EV_PRESENCE_IMPLICIT;
}

int spk_evolve_field_cardinality(const struct spk_evolve_field *f)
{
    if (spk_evolve_field_is_list(f))
        return EV_CARD_REPEATED;
    if (spk_evolve_field_is_map(f))
        return EV_CARD_MAP;
    if (f->label == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REQUIRED ||
        (f->file->syntax == EV_EDITIONS && !f->is_extension &&
         f->features.field_presence == EV_PRESENCE_LEGACY_REQUIRED))
        return EV_CARD_REQUIRED;
    return spk_evolve_field_has_presence(f) ? EV_CARD_EXPLICIT : EV_CARD_IMPLICIT;
}

const char *spk_evolve_type_name(int type)
{
    static const char *const names[] = {"",         "double",   "float",   "int64",  "uint64",
                                        "int32",    "fixed64",  "fixed32", "bool",   "string",
                                        "group",    "message",  "bytes",   "uint32", "enum",
                                        "sfixed32", "sfixed64", "sint32",  "sint64"};
    return type > 0 && type <= 18 ? names[type] : "unknown";
}

const char *spk_evolve_cardinality_name(int card)
{
    static const char *const names[] = {"",
                                        "optional with explicit presence",
                                        "optional with implicit presence",
                                        "required",
                                        "repeated",
                                        "map"};
    return card > 0 && card <= EV_CARD_MAP ? names[card] : "unknown";
}
