"""Seeded schema mutations for the differential test (tests/oracle/test_buf_differential.py).

A module is {path: protomodel.File}. Every mutation takes (module, rng), edits the module in
place and returns a one-line description, or None when it does not apply (then the module is
unchanged). Mutations aim at what buf's breaking rules look at; some produce schemas protoc
rejects (a dangling type reference, a proto3 enum without a zero value), which the test counts
and skips. Standard library only.
"""
import copy

from protomodel import (SCALARS, Enum, EnumValue, Extend, ExtRange, Field, File, Message, Method,
                        Oneof, Option, Reserved, Service, enums, fields_of, messages)

INTS64 = ("int64", "uint64", "sint64", "fixed64", "sfixed64")
# Type changes a retype mostly picks: the neighbours in buf's compatibility tables.
CLOSE_TYPES = {
    "int32": ("int64", "uint32", "sint32", "bool", "uint64"),
    "int64": ("int32", "uint64", "sint64"),
    "uint32": ("int32", "uint64", "fixed32"), "uint64": ("int64", "uint32", "fixed64"),
    "sint32": ("sint64", "int32"), "sint64": ("sint32", "int64"),
    "fixed32": ("sfixed32", "fixed64"), "sfixed32": ("fixed32", "int32"),
    "fixed64": ("sfixed64", "fixed32"), "sfixed64": ("fixed64",), "bool": ("int32", "uint64"),
    "string": ("bytes",), "bytes": ("string",), "float": ("double",), "double": ("float",),
}
NUMERIC = tuple(t for t in SCALARS if t not in ("string", "bytes"))
MAP_KEYS = ("int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64",
            "sfixed32", "sfixed64", "bool", "string")
FILE_OPTIONS = {
    "go_package": lambda r: f'"github.com/acme/apis/gen/{r.choice(["go", "golang"])}/v1;v1"',
    "java_package": lambda r: f'"com.acme.{r.choice(["payments", "orders", "api"])}.v1"',
    "java_multiple_files": lambda r: r.choice(["true", "false"]),
    "java_outer_classname": lambda r: f'"{r.choice(["PaymentProto", "Outer", "Api"])}"',
    "java_generic_services": lambda r: r.choice(["true", "false"]),
    "java_string_check_utf8": lambda r: r.choice(["true", "false"]),
    "cc_enable_arenas": lambda r: r.choice(["true", "false"]),
    "cc_generic_services": lambda r: r.choice(["true", "false"]),
    "py_generic_services": lambda r: r.choice(["true", "false"]),
    "csharp_namespace": lambda r: f'"Acme.{r.choice(["Payments", "Orders"])}.V1"',
    "objc_class_prefix": lambda r: f'"{r.choice(["APX", "ACM", "AOR"])}"',
    "optimize_for": lambda r: r.choice(["SPEED", "CODE_SIZE", "LITE_RUNTIME"]),
    "php_class_prefix": lambda r: f'"{r.choice(["Acme", "Ac"])}"',
    "php_namespace": lambda r: r.choice(['"Acme\\\\Payments"', '"Acme\\\\Orders"']),
    "php_metadata_namespace": lambda r: r.choice(['"Acme\\\\Meta"', '"Acme\\\\Gpb"']),
    "ruby_package": lambda r: f'"{r.choice(["Acme::Payments", "Acme::Orders"])}"',
    "swift_prefix": lambda r: f'"{r.choice(["APY", "AC"])}"',
    "deprecated": lambda r: r.choice(["true", "false"]),
}


# ---------------------------------------------------------------------------------------------
# Helpers

def syntax_of(f):
    return f.syntax or "proto2"


def full_name(f, rel):
    return "." + (f.package + "." if f.package else "") + rel


def all_messages(mod):
    return [(f, name, m, parent) for f in mod.values() for name, m, parent in messages(f.items)]


def all_enums(mod):
    return [(f, name, e, parent) for f in mod.values() for name, e, parent in enums(f.items)]


def all_fields(mod):
    return [(f, m, fld, cont, oneof) for f, _, m, _ in all_messages(mod)
            for fld, cont, oneof in fields_of(m)]


def all_extends(mod):
    out = []

    def walk(f, items):
        for x in items:
            if isinstance(x, Extend):
                out.append((f, x, items))
            elif isinstance(x, Message):
                walk(f, x.items)
    for f in mod.values():
        walk(f, f.items)
    return out


def all_methods(mod):
    return [(f, s, m) for f in mod.values() for s in f.items if isinstance(s, Service)
            for m in s.items if isinstance(m, Method)]


def pick(rng, seq):
    seq = list(seq)
    return rng.choice(seq) if seq else None


def used_numbers(msg):
    nums = {fld.number for fld, _, _ in fields_of(msg)}
    for x in msg.items:
        if isinstance(x, (Reserved, ExtRange)):
            for a, b in x.ranges:
                nums.update(range(a, (a + 50 if b == "max" else b) + 1))
        elif isinstance(x, Extend):
            nums.update(fl.number for fl in x.fields)
    return nums


def free_number(rng, msg):
    used = used_numbers(msg)
    choices = [n for n in range(1, 40) if n not in used]
    return rng.choice(choices[:8]) if choices else max(used) + 1


def option_of(opts, name):
    for n, v in opts:
        if n == name:
            return v
    return None


def set_option(opts, name, value):
    """Sets (value str), or removes (value None), option name in a [(name, value)] list."""
    opts[:] = [(n, v) for n, v in opts if n != name]
    if value is not None:
        opts.append((name, value))


def item_option(items, name):
    """The value of the `option name = …;` statement among items, or None."""
    return next((x.value for x in items if isinstance(x, Option) and x.name == name), None)


def set_msg_option(items, name, value):
    items[:] = [x for x in items if not (isinstance(x, Option) and x.name == name)]
    if value is not None:
        items.insert(0, Option(name, value))


def type_candidates(f):
    """Types a field in file f may take: scalars and the file's own messages and enums."""
    own = [full_name(f, n) for n, _, _ in messages(f.items)]
    own += [full_name(f, n) for n, _, _ in enums(f.items)]
    return list(SCALARS) + own


def is_enum_type(mod, type_):
    last = type_.rsplit(".", 1)[-1]
    return any(e.name == last for _, _, e, _ in all_enums(mod))


def references(mod, simple):
    """Whether any field, map, method or extend names a type whose last component is simple."""
    def hit(t):
        return t and t.rsplit(".", 1)[-1] == simple
    for _, _, fld, _, _ in all_fields(mod):
        if hit(fld.type) or (fld.map_types and hit(fld.map_types[1])):
            return True
    for f, x, _ in all_extends(mod):
        if hit(x.extendee) or any(hit(fl.type) for fl in x.fields):
            return True
    return any(hit(m.in_type) or hit(m.out_type) for _, _, m in all_methods(mod))


def rename_references(mod, old, new):
    """Renames the component old to new in every type reference of the module."""
    def ren(t):
        if not t:
            return t
        lead = "." if t.startswith(".") else ""
        parts = t.lstrip(".").split(".")
        if parts[-1] == old:
            parts[-1] = new
        return lead + ".".join(parts)
    for _, _, fld, _, _ in all_fields(mod):
        fld.type = ren(fld.type)
        if fld.map_types:
            fld.map_types = (fld.map_types[0], ren(fld.map_types[1]))
    for _, x, _ in all_extends(mod):
        x.extendee = ren(x.extendee)
        for fl in x.fields:
            fl.type = ren(fl.type)
    for _, _, m in all_methods(mod):
        m.in_type, m.out_type = ren(m.in_type), ren(m.out_type)


def camel(name):
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def drop_empty_oneofs(msg):
    msg.items[:] = [x for x in msg.items if not isinstance(x, Oneof)
                    or any(isinstance(y, Field) for y in x.items)]


# ---------------------------------------------------------------------------------------------
# Fields

def field_delete(mod, rng):
    c = pick(rng, all_fields(mod))
    if not c:
        return None
    f, msg, fld, cont, oneof = c
    cont.remove(fld)
    drop_empty_oneofs(msg)
    how = rng.choice(["plain", "reserve number", "reserve name", "reserve both"])
    if how in ("reserve number", "reserve both"):
        msg.items.append(Reserved(ranges=[(fld.number, fld.number)]))
    if how in ("reserve name", "reserve both"):
        msg.items.append(Reserved(names=[fld.name]))
    return f"delete field {msg.name}.{fld.name} ({how})"


def field_renumber(mod, rng):
    c = pick(rng, all_fields(mod))
    if not c:
        return None
    f, msg, fld, _, _ = c
    others = [o for o, _, _ in fields_of(msg) if o is not fld]
    if others and rng.random() < 0.4:
        o = rng.choice(others)
        fld.number, o.number = o.number, fld.number
        return f"swap numbers of {msg.name}.{fld.name} and {o.name}"
    old, fld.number = fld.number, free_number(rng, msg)
    return f"renumber {msg.name}.{fld.name} {old} -> {fld.number}"


def field_retype(mod, rng):
    c = pick(rng, all_fields(mod))
    if not c:
        return None
    f, msg, fld, _, _ = c
    if fld.map_types:
        k, v = fld.map_types
        if rng.random() < 0.5:
            nk = rng.choice([t for t in MAP_KEYS if t != k])
            fld.map_types = (nk, v)
            return f"map {msg.name}.{fld.name} key {k} -> {nk}"
        nv = rng.choice([t for t in type_candidates(f) if t != v])
        fld.map_types = (k, nv)
        return f"map {msg.name}.{fld.name} value {v} -> {nv}"
    old = fld.type
    # Mostly a neighbour in buf's compatibility tables, sometimes anything.
    if old in CLOSE_TYPES and rng.random() < 0.6:
        fld.type = rng.choice(CLOSE_TYPES[old])
    else:
        choices = [t for t in type_candidates(f) if t != old]
        fld.type = rng.choice(choices)
    fld.options = [(n, v) for n, v in fld.options if n != "default"]
    return f"retype {msg.name}.{fld.name} {old} -> {fld.type}"


def field_rename(mod, rng):
    c = pick(rng, all_fields(mod))
    if not c:
        return None
    f, msg, fld, _, _ = c
    old = fld.name
    fld.name = rng.choice([old + "_v2", "legacy_" + old, camel(old) if "_" in old else old + "_id"])
    if rng.random() < 0.3 and option_of(fld.options, "json_name") is None and not fld.map_types:
        set_option(fld.options, "json_name", f'"{camel(old)}"')
        return f"rename field {msg.name}.{old} -> {fld.name} keeping json_name"
    return f"rename field {msg.name}.{old} -> {fld.name}"


def field_json_name(mod, rng):
    c = pick(rng, [x for x in all_fields(mod) if not x[2].map_types])
    if not c:
        return None
    f, msg, fld, _, _ = c
    cur = option_of(fld.options, "json_name")
    choices = [f'"{camel(fld.name)}"', f'"{fld.name}"', f'"{camel(fld.name)}Value"', None]
    new = rng.choice([x for x in choices if x != cur])
    set_option(fld.options, "json_name", new)
    return f"json_name of {msg.name}.{fld.name}: {cur} -> {new}"


def field_label(mod, rng):
    c = pick(rng, [x for x in all_fields(mod) if x[4] is None and not x[2].map_types])
    if not c:
        return None
    f, msg, fld, _, _ = c
    if syntax_of(f) == "proto3":
        labels = [None, "optional", "repeated"]
    else:
        labels = ["optional", "required", "repeated"]
    old = fld.label
    fld.label = rng.choice([x for x in labels if x != old])
    if fld.label == "repeated" or old == "repeated":
        fld.options = [(n, v) for n, v in fld.options if n not in ("default", "packed")]
    return f"label of {msg.name}.{fld.name}: {old} -> {fld.label}"


def field_option(mod, rng):
    c = pick(rng, [x for x in all_fields(mod) if not x[2].map_types])
    if not c:
        return None
    f, msg, fld, _, _ = c
    kinds = ["deprecated"]
    if fld.type in INTS64:
        kinds.append("jstype")
    if fld.type in ("string", "bytes"):
        kinds.append("ctype")
    if fld.label == "repeated" and fld.type in NUMERIC:
        kinds.append("packed")
    if syntax_of(f) == "proto2" and fld.label != "repeated" and \
            (fld.type in SCALARS or is_enum_type(mod, fld.type)):
        kinds.append("default")
    kind = rng.choice(kinds)
    values = {"deprecated": ["true", "false", None],
              "jstype": ["JS_STRING", "JS_NUMBER", "JS_NORMAL", None],
              "ctype": ["CORD", "STRING_PIECE", "STRING", None], "packed": ["true", "false", None]}
    if kind == "default":
        if fld.type == "string" or fld.type == "bytes":
            vals = ['"EUR"', '"USD"', '""']
        elif fld.type == "bool":
            vals = ["true", "false"]
        elif fld.type in ("float", "double"):
            vals = ["1.5", "0", "-2.25"]
        elif fld.type in SCALARS:
            vals = ["0", "7", "42"] + (["-1"] if not fld.type.startswith(("uint", "fixed")) else [])
        else:
            last = fld.type.rsplit(".", 1)[-1]
            e = next((e for _, _, e, _ in all_enums(mod) if e.name == last), None)
            vals = [v.name for v in e.items if isinstance(v, EnumValue)] if e else []
        values["default"] = vals + [None]
    cur = option_of(fld.options, kind)
    choices = [v for v in values[kind] if v != cur]
    if not choices:
        return None
    new = rng.choice(choices)
    set_option(fld.options, kind, new)
    return f"{kind} of {msg.name}.{fld.name}: {cur} -> {new}"


# ---------------------------------------------------------------------------------------------
# Oneofs

def oneof_move_in(mod, rng):
    c = pick(rng, [x for x in all_fields(mod)
                   if x[4] is None and not x[2].map_types and x[2].label != "repeated"])
    if not c:
        return None
    f, msg, fld, cont, _ = c
    cont.remove(fld)
    fld.label = None
    fld.options = [(n, v) for n, v in fld.options if n != "default"]
    existing = [x for x in msg.items if isinstance(x, Oneof)]
    if existing and rng.random() < 0.6:
        o = rng.choice(existing)
        o.items.append(fld)
        return f"move {msg.name}.{fld.name} into oneof {o.name}"
    o = Oneof(fld.name + "_choice")
    o.items.append(fld)
    msg.items.append(o)
    return f"wrap {msg.name}.{fld.name} in new oneof {o.name}"


def _out_label(f, rng):
    if syntax_of(f) == "proto2":
        return "optional"
    return rng.choice([None, "optional"])


def oneof_move_out(mod, rng):
    c = pick(rng, [x for x in all_fields(mod) if x[4] is not None])
    if not c:
        return None
    f, msg, fld, cont, oneof = c
    cont.remove(fld)
    fld.label = _out_label(f, rng)
    msg.items.append(fld)
    drop_empty_oneofs(msg)
    return f"move {msg.name}.{fld.name} out of oneof {oneof.name}"


def oneof_change(mod, rng):
    c = pick(rng, [(f, m, o) for f, _, m, _ in all_messages(mod)
                   for o in m.items if isinstance(o, Oneof)])
    if not c:
        return None
    f, msg, o = c
    what = rng.choice(["rename", "dissolve", "delete"])
    if what == "rename":
        old, o.name = o.name, o.name + "_kind"
        return f"rename oneof {msg.name}.{old} -> {o.name}"
    i = msg.items.index(o)
    msg.items.remove(o)
    if what == "dissolve":
        fl = [x for x in o.items if isinstance(x, Field)]
        for x in fl:
            x.label = _out_label(f, rng)
        msg.items[i:i] = fl
        return f"dissolve oneof {msg.name}.{o.name}"
    if rng.random() < 0.5:
        nums = [x.number for x in o.items if isinstance(x, Field)]
        msg.items.append(Reserved(ranges=[(n, n) for n in nums]))
    return f"delete oneof {msg.name}.{o.name} with its fields"


# ---------------------------------------------------------------------------------------------
# Enums

def enum_value_change(mod, rng):
    c = pick(rng, all_enums(mod))
    if not c:
        return None
    f, name, e, _ = c
    vals = [v for v in e.items if isinstance(v, EnumValue)]
    what = rng.choice(["delete", "renumber", "rename", "add", "alias", "reserve"])
    used = {v.number for v in vals}
    for r in e.items:
        if isinstance(r, Reserved):
            for a, b in r.ranges:
                used.update(range(a, (a + 20 if b == "max" else b) + 1))
    free = next(n for n in range(1, 100) if n not in used)
    if what == "add" or not vals:
        e.items.append(EnumValue(f"{name.upper().replace('.', '_')}_EXTRA_{free}", free))
        return f"add value to enum {name}"
    v = rng.choice(vals[1:] if len(vals) > 1 else vals)
    if what == "delete":
        e.items.remove(v)
        return f"delete enum value {name}.{v.name}"
    if what == "reserve":
        e.items.remove(v)
        how = rng.choice(["number", "name", "both"])
        if how in ("number", "both"):
            e.items.append(Reserved(ranges=[(v.number, v.number)]))
        if how in ("name", "both"):
            e.items.append(Reserved(names=[v.name]))
        return f"delete enum value {name}.{v.name} reserving its {how}"
    if what == "renumber":
        old, v.number = v.number, free
        return f"renumber enum value {name}.{v.name} {old} -> {free}"
    if what == "rename":
        old, v.name = v.name, v.name + "_V2"
        return f"rename enum value {name}.{old} -> {v.name}"
    set_msg_option(e.items, "allow_alias", "true")
    e.items.append(EnumValue(v.name + "_ALIAS", v.number))
    return f"add alias of {name}.{v.name}"


def enum_change(mod, rng):
    c = pick(rng, all_enums(mod))
    if not c:
        return None
    f, name, e, parent = c
    what = rng.choice(["delete", "rename", "deprecate", "value option"])
    if what == "delete":
        if references(mod, e.name):
            return None
        parent.remove(e)
        return f"delete enum {name}"
    if what == "rename":
        old, e.name = e.name, e.name + "Kind"
        rename_references(mod, old, e.name)
        return f"rename enum {name} -> {e.name}"
    if what == "deprecate":
        cur = item_option(e.items, "deprecated")
        set_msg_option(e.items, "deprecated", None if cur else "true")
        return f"toggle deprecated on enum {name}"
    vals = [v for v in e.items if isinstance(v, EnumValue)]
    v = rng.choice(vals)
    set_option(v.options, "deprecated", None if option_of(v.options, "deprecated") else "true")
    return f"toggle deprecated on enum value {name}.{v.name}"


# ---------------------------------------------------------------------------------------------
# Messages

def message_change(mod, rng):
    c = pick(rng, all_messages(mod))
    if not c:
        return None
    f, name, msg, parent = c
    what = rng.choice(["delete", "rename", "to top level", "add nested",
                       "no_standard_descriptor_accessor", "deprecated"])
    if what == "delete":
        if references(mod, msg.name):
            return None
        parent.remove(msg)
        return f"delete message {name}"
    if what == "rename":
        old, msg.name = msg.name, msg.name + "Info"
        rename_references(mod, old, msg.name)
        return f"rename message {name} -> {msg.name}"
    if what == "to top level":
        if parent is f.items:
            return None
        old = msg.name
        parent.remove(msg)
        msg.name = name.replace(".", "")
        f.items.append(msg)
        rename_references(mod, old, msg.name)
        for _, _, fld, _, _ in all_fields(mod):   # Outer.Inner -> OuterInner
            for outer in name.split(".")[:-1]:
                fld.type = fld.type.replace(outer + "." + msg.name, msg.name)
        return f"move nested message {name} to top level as {msg.name}"
    if what == "add nested":
        label = "optional" if syntax_of(f) == "proto2" else None
        n = Message("Detail")
        n.items.append(Field(label, "string", "text", 1))
        msg.items.insert(0, n)
        if rng.random() < 0.5:
            msg.items.append(Field(label, "Detail", "detail", free_number(rng, msg)))
        return f"add nested message {name}.Detail"
    cur = item_option(msg.items, what)
    new = rng.choice([v for v in ("true", "false", None) if v != cur])
    set_msg_option(msg.items, what, new)
    return f"{what} of message {name}: {cur} -> {new}"


def reserved_change(mod, rng):
    targets = [(m.name, m.items) for _, _, m, _ in all_messages(mod)] + \
              [(e.name, e.items) for _, _, e, _ in all_enums(mod)]
    with_reserved = [t for t in targets if any(isinstance(x, Reserved) for x in t[1])]
    c = pick(rng, with_reserved if with_reserved and rng.random() < 0.6 else targets)
    if not c:
        return None
    name, items = c
    res = [x for x in items if isinstance(x, Reserved)]
    what = rng.choice(["add range", "add name"] + (["remove", "shrink"] if res else []))
    if what == "add range":
        a = rng.choice([500, 600, 700])
        items.append(Reserved(ranges=[(a, a + rng.choice([0, 9, 99]))]))
        return f"reserve numbers in {name}"
    if what == "add name":
        items.append(Reserved(names=[rng.choice(["legacy_id", "old_status", "LEGACY_VALUE"])]))
        return f"reserve a name in {name}"
    r = rng.choice(res)
    if what == "remove":
        if r.ranges and r.names and rng.random() < 0.5:
            r.names.pop()
        elif r.ranges:
            r.ranges.pop(rng.randrange(len(r.ranges)))
        else:
            r.names.pop(rng.randrange(len(r.names)))
        if not r.ranges and not r.names:
            items.remove(r)
        return f"drop a reserved entry of {name}"
    spans = [i for i, (a, b) in enumerate(r.ranges) if b == "max" or b > a]
    if not spans:
        return None
    i = rng.choice(spans)
    a, b = r.ranges[i]
    r.ranges[i] = (a, a + 1 if b == "max" else b - 1)
    return f"shrink a reserved range of {name}"


def extension_change(mod, rng):
    what = rng.choice(["range", "extend"])
    if what == "range":
        c = pick(rng, [(m, x) for _, _, m, _ in all_messages(mod)
                       for x in m.items if isinstance(x, ExtRange)])
        if not c:
            return None
        msg, r = c
        a, b = r.ranges[0]
        how = rng.choice(["shrink", "remove", "grow"])
        if how == "remove":
            msg.items.remove(r)
        elif how == "shrink":
            r.ranges[0] = (a, a + (10 if b == "max" else max(0, (b - a) // 2)))
        else:
            r.ranges[0] = (a, "max" if b == "max" else b + 100)
        return f"{how} extension range of {msg.name}"
    c = pick(rng, [(f, x, items, fl) for f, x, items in all_extends(mod) for fl in x.fields])
    if not c:
        return None
    f, x, items, fl = c
    how = rng.choice(["delete", "retype", "rename", "label"])
    if how == "delete":
        x.fields.remove(fl)
        if not x.fields:
            items.remove(x)
    elif how == "retype":
        fl.type = rng.choice([t for t in SCALARS if t != fl.type])
        fl.options = [(n, v) for n, v in fl.options if n != "default"]
    elif how == "rename":
        fl.name += "_v2"
    else:
        fl.label = "repeated" if fl.label != "repeated" else "optional"
        fl.options = [(n, v) for n, v in fl.options if n not in ("default", "packed")]
    return f"{how} extension {x.extendee}.{fl.name}"


# ---------------------------------------------------------------------------------------------
# Services

def service_change(mod, rng):
    c = pick(rng, [(f, s) for f in mod.values() for s in f.items if isinstance(s, Service)])
    if not c:
        return None
    f, s = c
    what = rng.choice(["delete", "rename", "deprecated"])
    if what == "delete":
        f.items.remove(s)
        return f"delete service {s.name}"
    if what == "rename":
        old, s.name = s.name, s.name.replace("Service", "") + "ApiService"
        return f"rename service {old} -> {s.name}"
    cur = item_option(s.items, "deprecated")
    set_msg_option(s.items, "deprecated", None if cur else "true")
    return f"toggle deprecated on service {s.name}"


def method_change(mod, rng):
    c = pick(rng, all_methods(mod))
    if not c:
        return None
    f, s, m = c
    what = rng.choice(["delete", "rename", "client stream", "server stream", "request", "response",
                       "idempotency", "idempotency", "deprecated"])
    if what == "delete":
        s.items.remove(m)
        return f"delete rpc {s.name}.{m.name}"
    if what == "rename":
        old, m.name = m.name, m.name + "V2"
        return f"rename rpc {s.name}.{old} -> {m.name}"
    if what == "client stream":
        m.in_stream = not m.in_stream
        return f"client streaming of {s.name}.{m.name} -> {m.in_stream}"
    if what == "server stream":
        m.out_stream = not m.out_stream
        return f"server streaming of {s.name}.{m.name} -> {m.out_stream}"
    if what in ("request", "response"):
        msgs = [full_name(f, n) for n, _, _ in messages(f.items)]
        cur = m.in_type if what == "request" else m.out_type
        others = [t for t in msgs if t.rsplit(".", 1)[-1] != cur.rsplit(".", 1)[-1]]
        if not others:
            return None
        t = rng.choice(others)
        if what == "request":
            m.in_type = t
        else:
            m.out_type = t
        return f"{what} type of {s.name}.{m.name}: {cur} -> {t}"
    if what == "idempotency":
        cur = option_of(m.options, "idempotency_level")
        levels = ("NO_SIDE_EFFECTS", "IDEMPOTENT", "IDEMPOTENCY_UNKNOWN", None)
        new = rng.choice([v for v in levels if v != cur])
        set_option(m.options, "idempotency_level", new)
        return f"idempotency_level of {s.name}.{m.name}: {cur} -> {new}"
    set_option(m.options, "deprecated", None if option_of(m.options, "deprecated") else "true")
    return f"toggle deprecated on rpc {s.name}.{m.name}"


# ---------------------------------------------------------------------------------------------
# Files and packages

def file_option(mod, rng):
    f = pick(rng, mod.values())
    name = rng.choice(list(FILE_OPTIONS))
    cur = option_of(f.options, name)
    new = FILE_OPTIONS[name](rng)
    if cur is not None and (new == cur or rng.random() < 0.4):
        new = None
    set_option(f.options, name, new)
    return f"file option {name} of {f.path}: {cur} -> {new}"


def package_change(mod, rng):
    f = pick(rng, mod.values())
    old = f.package or ""
    new = rng.choice([old.replace("v1", "v2") if "v1" in old else old + ".v2",
                      old + "alpha1" if old else "acme.v1alpha1", "acme.shared.v1"])
    if rng.random() < 0.5 or not old:
        f.package = new
        return f"package of {f.path}: {old} -> {new}"
    # The whole package, with qualified references rewritten.
    for g in mod.values():
        if g.package == old:
            g.package = new
    for _, _, fld, _, _ in all_fields(mod):
        if fld.type.startswith("." + old + "."):
            fld.type = "." + new + fld.type[len(old) + 1:]
    return f"package {old} -> {new} in every file"


def file_rename(mod, rng):
    f = pick(rng, mod.values())
    old = f.path
    base, ext = old.rsplit(".", 1)
    sibling = base.rsplit("/", 1)[0] + "/renamed." + ext if "/" in base else "renamed." + ext
    new = rng.choice([base + "_v2." + ext, "moved/" + old, sibling])
    if new in mod:
        return None
    del mod[old]
    f.path = new
    mod[new] = f
    for g in mod.values():
        g.imports = [(m, new if p == old else p) for m, p in g.imports]
    return f"rename file {old} -> {new}"


def file_delete(mod, rng):
    imported = {p for g in mod.values() for _, p in g.imports}
    f = pick(rng, [g for g in mod.values() if g.path not in imported])
    if not f or len(mod) < 2:
        return None
    del mod[f.path]
    return f"delete file {f.path}"


def move_between_files(mod, rng):
    c = pick(rng, [(f, x) for f in mod.values() for x in f.items
                   if isinstance(x, (Message, Enum, Service))])
    if not c:
        return None
    f, x = c
    dest = x.name.lower() + ".proto"
    if "/" in f.path:
        dest = f.path.rsplit("/", 1)[0] + "/" + dest
    if dest in mod:
        return None
    g = File(dest)
    g.syntax, g.package = f.syntax, f.package
    g.imports, g.options = list(f.imports), list(f.options)
    f.items.remove(x)
    g.items.append(x)
    if isinstance(x, Service):
        g.imports.append(("", f.path))
    else:
        f.imports.append(("", dest))
    mod[dest] = g
    return f"move {x.name} from {f.path} to new file {dest}"


def syntax_flip(mod, rng):
    f = pick(rng, mod.values())
    if syntax_of(f) == "proto2":
        f.syntax = "proto3"
        for _, m, fld, _, oneof in [x for x in all_fields({f.path: f})]:
            if oneof is None and fld.label in ("optional", "required"):
                fld.label = rng.choice([None, "optional"]) if fld.label == "optional" else None
            fld.options = [(n, v) for n, v in fld.options if n != "default"]
        for _, _, m, _ in all_messages({f.path: f}):
            m.items[:] = [y for y in m.items if not isinstance(y, ExtRange)]
        return f"syntax of {f.path}: proto2 -> proto3"
    f.syntax = "proto2"
    for _, m, fld, _, oneof in all_fields({f.path: f}):
        if oneof is None and fld.label is None and not fld.map_types:
            fld.label = "optional"
    for _, x, _ in all_extends({f.path: f}):
        for fl in x.fields:
            if fl.label is None:
                fl.label = "optional"
    return f"syntax of {f.path}: proto3 -> proto2"


# (mutation, weight)
MUTATIONS = [
    (field_delete, 4), (field_renumber, 3), (field_retype, 5), (field_rename, 3),
    (field_json_name, 2), (field_label, 4), (field_option, 4),
    (oneof_move_in, 2), (oneof_move_out, 2), (oneof_change, 2),
    (enum_value_change, 4), (enum_change, 2), (message_change, 3), (reserved_change, 3),
    (extension_change, 2), (service_change, 2), (method_change, 4),
    (file_option, 4), (package_change, 1), (file_rename, 1), (file_delete, 1),
    (move_between_files, 2), (syntax_flip, 2),
]


def mutate(mod, rng, count):
    """Applies count mutations (weighted, each retried a few times until one applies) to a deep
    copy of mod; returns (new module, [descriptions])."""
    mod = copy.deepcopy(mod)
    funcs = [f for f, w in MUTATIONS for _ in range(w)]
    done = []
    for _ in range(count):
        for _attempt in range(10):
            what = rng.choice(funcs)(mod, rng)
            if what:
                done.append(what)
                break
    return mod, done
