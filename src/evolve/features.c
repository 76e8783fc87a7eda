/* Edition features as protoreflect resolves them: the defaults of proto2, proto3 and each
 * edition, overridden by explicit `features` options on the file and the elements enclosing
 * an element. descriptor.proto 3.21 (what the tree is generated from) predates editions, so
 * `edition` and `features` arrive as unknown fields and are decoded here by hand. */
#include <stdint.h>
#include <string.h>

#include "evolve_internal.h"
#include "spoke/banned.h"

#define EDITION_2023       1000
#define EDITION_2024       1001
#define FILE_EDITION_FIELD 14
#define PB_CPP_EXTENSION   1000
#define PB_JAVA_EXTENSION  1001

void spk_evolve_features_defaults(int syntax, int edition, struct spk_evolve_features *out)
{
    if (syntax == EV_PROTO2) {
        *out = (struct spk_evolve_features){EV_PRESENCE_EXPLICIT,
                                            EV_ENUM_CLOSED,
                                            2,
                                            EV_UTF8_NONE,
                                            EV_ENCODING_LENGTH_PREFIXED,
                                            EV_JSON_LEGACY_BEST_EFFORT,
                                            EV_CPP_STRING,
                                            EV_JAVA_UTF8_DEFAULT};
    } else if (syntax == EV_PROTO3) {
        *out = (struct spk_evolve_features){EV_PRESENCE_IMPLICIT,
                                            EV_ENUM_OPEN,
                                            1,
                                            EV_UTF8_VERIFY,
                                            EV_ENCODING_LENGTH_PREFIXED,
                                            EV_JSON_ALLOW,
                                            EV_CPP_STRING,
                                            EV_JAVA_UTF8_DEFAULT};
    } else {
        *out = (struct spk_evolve_features){EV_PRESENCE_EXPLICIT,
                                            EV_ENUM_OPEN,
                                            1,
                                            EV_UTF8_VERIFY,
                                            EV_ENCODING_LENGTH_PREFIXED,
                                            EV_JSON_ALLOW,
                                            edition >= EDITION_2024 ? EV_CPP_VIEW : EV_CPP_STRING,
                                            EV_JAVA_UTF8_DEFAULT};
    }
}

static int varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

/* Calls fn for each field of a serialized message; stops on malformed input. */
static void walk(const uint8_t *p, size_t len,
                 void (*fn)(uint32_t field, uint64_t v, const uint8_t *data, size_t len, void *arg),
                 void *arg)
{
    const uint8_t *end = p + len;
    while (p < end) {
        uint64_t key, v = 0;
        if (varint(&p, end, &key))
            return;
        const uint8_t *data = NULL;
        size_t n = 0;
        switch (key & 7) {
        case 0:
            if (varint(&p, end, &v))
                return;
            break;
        case 1:
            if (end - p < 8)
                return;
            p += 8;
            break;
        case 2:
            if (varint(&p, end, &v) || v > (uint64_t)(end - p))
                return;
            data = p;
            n = (size_t)v;
            p += n;
            break;
        case 5:
            if (end - p < 4)
                return;
            p += 4;
            break;
        default:
            return;
        }
        fn((uint32_t)(key >> 3), v, data, n, arg);
    }
}

static void on_sub_feature(uint32_t field, uint64_t v, const uint8_t *data, size_t len, void *arg)
{
    (void)data, (void)len;
    if (field == 2 && v) /* CppFeatures.string_type, JavaFeatures.utf8_validation */
        *(int8_t *)arg = (int8_t)v;
}

static void on_feature(uint32_t field, uint64_t v, const uint8_t *data, size_t len, void *arg)
{
    struct spk_evolve_features *f = arg;
    int8_t *slots[] = {NULL,
                       &f->field_presence,
                       &f->enum_type,
                       &f->repeated_encoding,
                       &f->utf8_validation,
                       &f->message_encoding,
                       &f->json_format};
    if (field >= 1 && field <= 6 && !data && v)
        *slots[field] = (int8_t)v;
    else if (field == PB_CPP_EXTENSION && data)
        walk(data, len, on_sub_feature, &f->cpp_string_type);
    else if (field == PB_JAVA_EXTENSION && data)
        walk(data, len, on_sub_feature, &f->java_utf8_validation);
}

void spk_evolve_features_apply(const ProtobufCMessage *options, unsigned tag,
                               struct spk_evolve_features *f)
{
    if (!options)
        return;
    for (unsigned i = 0; i < options->n_unknown_fields; i++) {
        const ProtobufCMessageUnknownField *u = &options->unknown_fields[i];
        if (u->tag == tag && u->wire_type == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
            walk(u->data, u->len, on_feature, f);
    }
}

int spk_evolve_file_edition(const pb_file *fd)
{
    for (unsigned i = 0; i < fd->base.n_unknown_fields; i++) {
        const ProtobufCMessageUnknownField *u = &fd->base.unknown_fields[i];
        if (u->tag == FILE_EDITION_FIELD && u->wire_type == PROTOBUF_C_WIRE_TYPE_VARINT) {
            const uint8_t *p = u->data;
            uint64_t v;
            if (!varint(&p, p + u->len, &v))
                return (int)v;
        }
    }
    return 0;
}

const char *spk_evolve_utf8_name(int v)
{
    return v == EV_UTF8_VERIFY ? "VERIFY" : v == EV_UTF8_NONE ? "NONE" : "UTF8_VALIDATION_UNKNOWN";
}

const char *spk_evolve_json_format_name(int v)
{
    return v == EV_JSON_ALLOW                ? "ALLOW"
           : v == EV_JSON_LEGACY_BEST_EFFORT ? "LEGACY_BEST_EFFORT"
                                             : "JSON_FORMAT_UNKNOWN";
}
