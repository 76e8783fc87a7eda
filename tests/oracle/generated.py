"""Random base modules for the differential test (tests/oracle/test_buf_differential.py).

generated_module(rng, index) builds one module ({path: protomodel.File}) of one or two packages:
an enum and a Money message in types.proto, an entity message with nested types, maps, oneofs and
reserved ranges, request/response messages and a service in a second file, and for proto2 required
fields, defaults, an extension range and an extend block in a third. Standard library only.
"""
from protomodel import Enum, EnumValue, Extend, ExtRange, Field, File, Message, Method, Oneof, \
    Reserved, Service

NAMES = ("amount", "currency", "merchant_id", "reference", "status", "created_at", "note",
         "channel", "attempts", "fee", "tags", "country", "card_token", "customer_id", "region")


def generated_module(rng, index):
    """A random module of one or two packages: enums, messages with maps, oneofs, nested types,
    reserved ranges, services, file options; proto2 ones add required fields, defaults,
    extension ranges and extensions."""
    syntax = rng.choice(["proto3", "proto3", "proto2"])
    domain = rng.choice(["payments", "orders", "ledger", "billing"])
    pkg = f"acme.{domain}.v{rng.choice([1, 1, 2])}"
    root = pkg.replace(".", "/")
    opt = "optional" if syntax == "proto2" else None
    mod = {}
    types = File(f"{root}/types.proto")
    types.syntax, types.package = syntax, pkg
    if rng.random() < 0.6:
        types.options.append(("go_package", f'"github.com/acme/apis/gen/go/{root};{domain}v1"'))
    if rng.random() < 0.4:
        types.options.append(("java_package", f'"com.acme.{domain}"'))
    status = Enum(domain.capitalize() + "Status")
    prefix = status.name.upper()
    for i, v in enumerate(["UNSPECIFIED", "PENDING", "DONE", "FAILED"][: rng.randint(3, 4)]):
        status.items.append(EnumValue(f"{prefix}_{v}", i))
    if rng.random() < 0.3:
        status.items.append(Reserved(ranges=[(10, 12)], names=[]))
    types.items.append(status)
    money = Message("Money")
    money.items += [Field(opt, "string", "currency", 1), Field(opt, "int64", "units", 2),
                    Field(opt, "int32", "nanos", 3)]
    types.items.append(money)
    mod[types.path] = types

    main = File(f"{root}/{domain}.proto")
    main.syntax, main.package = syntax, pkg
    main.imports.append(("", types.path))
    wkt = rng.random() < 0.4
    if wkt:
        main.imports.append(("", "google/protobuf/timestamp.proto"))
    if rng.random() < 0.5:
        main.options.append(("java_multiple_files", "true"))
    names = list(NAMES)
    rng.shuffle(names)
    ent = Message(domain.capitalize()[:-1] if domain.endswith("s") else domain.capitalize())
    num = 1
    id_label = "required" if syntax == "proto2" and rng.random() < 0.5 else opt
    ent.items.append(Field(id_label, "string", "id", num))
    nested = Message("Metadata")
    nested.items += [Field(opt, "string", "source", 1), Field(opt, "string", "channel", 2)]
    ent.items.insert(0, nested)
    money_t, status_t = "." + pkg + ".Money", "." + pkg + "." + status.name
    kinds = ["string", "int64", "int32", "uint32", "bool", "bytes", "double", "sint64", "fixed32",
             money_t, status_t, "Metadata", "map", "repeated", "oneof"]
    if wkt:
        kinds.append("google.protobuf.Timestamp")
    for name in names[: rng.randint(4, 7)]:
        num += 1
        k = rng.choice(kinds)
        if k == "map":
            kv = (rng.choice(["string", "int64"]), rng.choice(["int64", "string", money_t]))
            ent.items.append(Field(None, "map", name, num, map_types=kv))
        elif k == "repeated":
            ent.items.append(Field("repeated", rng.choice(["string", "int64", money_t]), name, num))
        elif k == "oneof":
            o = Oneof(name + "_kind")
            o.items += [Field(None, "string", name + "_code", num),
                        Field(None, "int64", name + "_number", num + 1)]
            num += 1
            ent.items.append(o)
        else:
            fld = Field(opt, k, name, num)
            if syntax == "proto2" and k == "string" and rng.random() < 0.3:
                fld.options.append(("default", '"EUR"'))
            if k == "int64" and rng.random() < 0.3:
                fld.options.append(("jstype", "JS_STRING"))
            ent.items.append(fld)
    if rng.random() < 0.5:
        ent.items.append(Reserved(ranges=[(num + 5, num + 6)], names=["legacy_" + names[-1]]))
    if syntax == "proto2":
        ent.items.append(ExtRange([(100, 199)]))
    main.items.append(ent)
    req = Message("Get" + ent.name + "Request")
    req.items.append(Field(opt, "string", "id", 1))
    lst = Message("List" + ent.name + "sResponse")
    lst.items += [Field("repeated", ent.name, "items", 1),
                  Field(opt, "string", "next_page_token", 2)]
    main.items += [req, lst]
    svc = Service(ent.name + "Service")
    level = [("idempotency_level", "NO_SIDE_EFFECTS")] if rng.random() < 0.5 else []
    svc.items.append(Method("Get" + ent.name, req.name, False, ent.name, False, level))
    svc.items.append(Method("List" + ent.name + "s", req.name, False, lst.name, rng.random() < 0.3))
    if rng.random() < 0.5:
        svc.items.append(Method("Watch" + ent.name, req.name, True, ent.name, True))
    main.items.append(svc)
    mod[main.path] = main
    if syntax == "proto2":
        ext = File(f"{root}/{domain}_ext.proto")
        ext.syntax, ext.package = syntax, pkg
        ext.imports.append(("", main.path))
        x = Extend(ent.name)
        x.fields += [Field("optional", "string", "risk_score", 100),
                     Field("optional", "int32", "priority", 101)]
        ext.items.append(x)
        mod[ext.path] = ext
    if rng.random() < 0.5:
        other = File(f"acme/common/v1/common_{index}.proto")
        other.syntax, other.package = rng.choice(["proto3", syntax]), "acme.common.v1"
        addr = Message("Address")
        label = None if other.syntax == "proto3" else "optional"
        addr.items += [Field(label, "string", "country", 1),
                       Field(label, "string", "postal_code", 2)]
        other.items.append(addr)
        mod[other.path] = other
        main.imports.append(("", other.path))
        ent.items.append(Field(opt, ".acme.common.v1.Address", "address", num + 10))
    return mod
