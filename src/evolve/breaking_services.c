/* buf's service rules: services deleted from a file, rpcs deleted from a service, and an rpc's
 * request or response type, streaming flags or idempotency level changed. Services pair by
 * name within a file (deletes) or by full name (everything else), rpcs by name. */
#include <stdlib.h>
#include <string.h>

#include "evolve_internal.h"
#include "spoke/alloc.h"
#include "spoke/banned.h"

static const struct spk_evolve_service *service_named(const struct spk_evolve_file *f,
                                                      const char *name)
{
    for (size_t i = 0; i < f->nservices; i++)
        if (strcmp(f->services[i].name, name) == 0)
            return &f->services[i];
    return NULL;
}

static const struct spk_evolve_method *method_named(const struct spk_evolve_service *s,
                                                    const char *name)
{
    for (size_t i = 0; i < s->nmethods; i++)
        if (strcmp(s->methods[i].name, name) == 0)
            return &s->methods[i];
    return NULL;
}

SPK_EVOLVE_RULE_FN(service_no_delete)
{
    for (size_t i = 0; i < c->old.nfiles; i++) {
        const struct spk_evolve_file *of = c->old.files[i];
        const struct spk_evolve_file *nf = spk_evolve_map_sget(&c->new_.file_by_path, of->path);
        if (!nf)
            continue;
        for (size_t k = 0; k < of->nservices; k++) {
            const struct spk_evolve_service *s = &of->services[k];
            if (service_named(nf, s->name))
                continue;
            char *q = spk_evolve_quote(s->name);
            spk_evolve_emit(c, spk_evolve_nowhere(), nf, spk_evolve_at(of, &s->path, 0, NULL), NULL,
                            NULL, "Previously present service %s was deleted from file.", q);
            free(q);
        }
    }
}

typedef void (*method_pair_fn)(struct spk_evolve_check *c, const struct spk_evolve_method *om,
                               const struct spk_evolve_method *nm);

static void each_service_pair(struct spk_evolve_check *c, method_pair_fn fn, int rpc_deletes)
{
    for (size_t i = 0; i < c->old.nfiles; i++) {
        const struct spk_evolve_file *f = c->old.files[i];
        for (size_t k = 0; k < f->nservices; k++) {
            const struct spk_evolve_service *os = &f->services[k];
            const struct spk_evolve_service *ns =
                spk_evolve_map_sget(&c->new_.service_by_name, os->full_name);
            if (!ns)
                continue;
            for (size_t j = 0; j < os->nmethods; j++) {
                const struct spk_evolve_method *nm = method_named(ns, os->methods[j].name);
                if (nm && fn)
                    fn(c, &os->methods[j], nm);
                if (!nm && rpc_deletes) {
                    char *qm = spk_evolve_quote(os->methods[j].name),
                         *qs = spk_evolve_quote(ns->name);
                    spk_evolve_emit(c, spk_evolve_at(ns->file, &ns->path, 0, NULL), ns->file,
                                    spk_evolve_at(os->file, &os->path, 0, NULL), NULL, NULL,
                                    "Previously present RPC %s on service %s was deleted.", qm, qs);
                    free(qm);
                    free(qs);
                }
            }
        }
    }
}

SPK_EVOLVE_RULE_FN(rpc_no_delete)
{
    each_service_pair(c, NULL, 1);
}

static void streaming(struct spk_evolve_check *c, const struct spk_evolve_method *om,
                      const struct spk_evolve_method *nm, int was, int is, const char *side)
{
    if (!was == !is)
        return;
    const char *a = was ? "streaming" : "unary", *b = is ? "streaming" : "unary";
    char *qm = spk_evolve_quote(nm->name), *qs = spk_evolve_quote(nm->svc->name);
    spk_evolve_emit(c, spk_evolve_at(nm->svc->file, &nm->path, 0, NULL), nm->svc->file,
                    spk_evolve_at(om->svc->file, &om->path, 0, NULL), a, b,
                    "RPC %s on service %s changed from %s %s to %s %s.", qm, qs, side, a, side, b);
    free(qm);
    free(qs);
}

static void client_streaming(struct spk_evolve_check *c, const struct spk_evolve_method *om,
                             const struct spk_evolve_method *nm)
{
    streaming(c, om, nm, om->d->client_streaming, nm->d->client_streaming, "client");
}

static void server_streaming(struct spk_evolve_check *c, const struct spk_evolve_method *om,
                             const struct spk_evolve_method *nm)
{
    streaming(c, om, nm, om->d->server_streaming, nm->d->server_streaming, "server");
}

SPK_EVOLVE_RULE_FN(rpc_same_client_streaming)
{
    each_service_pair(c, client_streaming, 0);
}

SPK_EVOLVE_RULE_FN(rpc_same_server_streaming)
{
    each_service_pair(c, server_streaming, 0);
}

static const char *idempotency(const struct spk_evolve_method *m)
{
    static const char *const names[] = {"IDEMPOTENCY_UNKNOWN", "NO_SIDE_EFFECTS", "IDEMPOTENT"};
    const Google__Protobuf__MethodOptions *o = m->d->options;
    int v = o && o->has_idempotency_level ? (int)o->idempotency_level : 0;
    return v >= 0 && v <= 2 ? names[v] : "IDEMPOTENCY_UNKNOWN";
}

static void idempotency_pair(struct spk_evolve_check *c, const struct spk_evolve_method *om,
                             const struct spk_evolve_method *nm)
{
    const char *a = idempotency(om), *b = idempotency(nm);
    if (strcmp(a, b) == 0)
        return;
    static const int32_t path[] = {4, 34};
    char *qm = spk_evolve_quote(nm->name), *qs = spk_evolve_quote(nm->svc->name);
    spk_evolve_emit(
        c, spk_evolve_at(nm->svc->file, &nm->path, 2, path), nm->svc->file,
        spk_evolve_at(om->svc->file, &om->path, 2, path), a, b,
        "RPC %s on service %s changed option \"idempotency_level\" from \"%s\" to \"%s\".", qm, qs,
        a, b);
    free(qm);
    free(qs);
}

SPK_EVOLVE_RULE_FN(rpc_same_idempotency_level)
{
    each_service_pair(c, idempotency_pair, 0);
}

static void type_pair(struct spk_evolve_check *c, const struct spk_evolve_method *om,
                      const struct spk_evolve_method *nm, int response)
{
    const char *a = response ? om->output : om->input, *b = response ? nm->output : nm->input;
    if (strcmp(a, b) == 0)
        return;
    const int32_t path[] = {response ? 3 : 2};
    char *qm = spk_evolve_quote(nm->name), *qs = spk_evolve_quote(nm->svc->name);
    char *qa = spk_evolve_quote(a), *qb = spk_evolve_quote(b);
    spk_evolve_emit(c, spk_evolve_at(nm->svc->file, &nm->path, 1, path), nm->svc->file,
                    spk_evolve_at(om->svc->file, &om->path, 1, path), a, b,
                    "RPC %s on service %s changed %s type from %s to %s.", qm, qs,
                    response ? "response" : "request", qa, qb);
    free(qm);
    free(qs);
    free(qa);
    free(qb);
}

static void request_pair(struct spk_evolve_check *c, const struct spk_evolve_method *om,
                         const struct spk_evolve_method *nm)
{
    type_pair(c, om, nm, 0);
}

static void response_pair(struct spk_evolve_check *c, const struct spk_evolve_method *om,
                          const struct spk_evolve_method *nm)
{
    type_pair(c, om, nm, 1);
}

SPK_EVOLVE_RULE_FN(rpc_same_request_type)
{
    each_service_pair(c, request_pair, 0);
}

SPK_EVOLVE_RULE_FN(rpc_same_response_type)
{
    each_service_pair(c, response_pair, 0);
}
