/* Reading a FileDescriptorSet (descriptor.proto compiled by protoc-c) to list what a version's
 * files define: messages (nested ones included), enums and services, by full name. */
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "spoke/alloc.h"
#include "spoke/proto.h"
#include "spoke/banned.h"

const char *spk_proto_symbol_kind_name(enum spk_proto_symbol_kind k)
{
    static const char *const names[] = {"message", "enum", "service"};
    return (unsigned)k < 3 ? names[k] : "unknown";
}

static void add(struct spk_proto_result *out, enum spk_proto_symbol_kind kind, const char *scope,
                const char *name, const char *file)
{
    out->symbols = spk_realloc(out->symbols, (out->nsymbols + 1) * sizeof(*out->symbols));
    out->symbols[out->nsymbols++] = (struct spk_proto_symbol){
        kind, scope[0] ? spk_asprintf("%s.%s", scope, name) : spk_strdup(name), spk_strdup(file)};
}

static void add_message(struct spk_proto_result *out, const char *scope,
                        const Google__Protobuf__DescriptorProto *m, const char *file)
{
    if (!m->name || (m->options && m->options->has_map_entry && m->options->map_entry))
        return; /* map<K, V> fields generate these; they are not the schema's own types */
    add(out, SPK_SYMBOL_MESSAGE, scope, m->name, file);
    char *inner = scope[0] ? spk_asprintf("%s.%s", scope, m->name) : spk_strdup(m->name);
    for (size_t i = 0; i < m->n_nested_type; i++)
        add_message(out, inner, m->nested_type[i], file);
    for (size_t i = 0; i < m->n_enum_type; i++)
        if (m->enum_type[i]->name)
            add(out, SPK_SYMBOL_ENUM, inner, m->enum_type[i]->name, file);
    free(inner);
}

static int is_own(const char *name, const char *const *own, size_t nown)
{
    for (size_t i = 0; i < nown; i++)
        if (strcmp(own[i], name) == 0)
            return 1;
    return 0;
}

int spk_proto_symbols(const unsigned char *set, size_t len, const char *const *own, size_t nown,
                      struct spk_proto_result *out)
{
    Google__Protobuf__FileDescriptorSet *fds =
        google__protobuf__file_descriptor_set__unpack(NULL, len, set);
    if (!fds)
        return -1;
    for (size_t f = 0; f < fds->n_file; f++) {
        const Google__Protobuf__FileDescriptorProto *fd = fds->file[f];
        if (!fd->name || !is_own(fd->name, own, nown))
            continue;
        const char *pkg = fd->package ? fd->package : "";
        for (size_t i = 0; i < fd->n_message_type; i++)
            add_message(out, pkg, fd->message_type[i], fd->name);
        for (size_t i = 0; i < fd->n_enum_type; i++)
            if (fd->enum_type[i]->name)
                add(out, SPK_SYMBOL_ENUM, pkg, fd->enum_type[i]->name, fd->name);
        for (size_t i = 0; i < fd->n_service; i++)
            if (fd->service[i]->name)
                add(out, SPK_SYMBOL_SERVICE, pkg, fd->service[i]->name, fd->name);
    }
    google__protobuf__file_descriptor_set__free_unpacked(fds, NULL);
    return 0;
}
