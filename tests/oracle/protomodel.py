"""A small model of .proto source files for tests/oracle/: parse, edit, print.

Covers what the breaking-change corpus and the differential test write: syntax, package, imports,
file/message/field/enum/service/method options, messages with nested messages and enums, oneofs,
maps, reserved numbers and names, extension ranges, extend blocks, enums and services. Groups and
editions are not supported (parse() raises ParseError). Option values are kept as source text.
print_file() writes one element per line in a fixed layout, so the line and column of everything
is a function of the model alone. Standard library only.
"""
import re

SCALARS = ("double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64",
           "fixed32", "fixed64", "sfixed32", "sfixed64", "bool", "string", "bytes")


class ParseError(Exception):
    pass


class File:
    def __init__(self, path):
        self.path = path
        self.syntax = None          # None (no statement: proto2), "proto2" or "proto3"
        self.package = None
        self.imports = []           # [(modifier "" | "public" | "weak", path)]
        self.options = []           # [(name, value text)]
        self.items = []             # Message | Enum | Service | Extend


class Message:
    def __init__(self, name):
        self.name = name
        # Field | Oneof | Message | Enum | Extend | Reserved | ExtRange | Option
        self.items = []


class Field:
    def __init__(self, label, type_, name, number, options=None, map_types=None):
        self.label = label          # None | "optional" | "required" | "repeated"
        self.type = type_           # as written; for a map, "map"
        self.name = name
        self.number = number
        self.options = options or []
        self.map_types = map_types  # (key type, value type) for map fields


class Oneof:
    def __init__(self, name):
        self.name = name
        self.items = []             # Field | Option


class Enum:
    def __init__(self, name):
        self.name = name
        self.items = []             # EnumValue | Reserved | Option


class EnumValue:
    def __init__(self, name, number, options=None):
        self.name = name
        self.number = number        # int
        self.options = options or []


class Reserved:
    def __init__(self, ranges=None, names=None):
        self.ranges = ranges or []  # [(start, end)]; end is "max" or an int (inclusive)
        self.names = names or []


class ExtRange:
    def __init__(self, ranges, options=None):
        self.ranges = ranges
        self.options = options or []


class Option:
    def __init__(self, name, value):
        self.name = name
        self.value = value


class Extend:
    def __init__(self, extendee):
        self.extendee = extendee
        self.fields = []


class Service:
    def __init__(self, name):
        self.name = name
        self.items = []             # Method | Option


class Method:
    def __init__(self, name, in_type, in_stream, out_type, out_stream, options=None):
        self.name = name
        self.in_type = in_type
        self.in_stream = in_stream
        self.out_type = out_type
        self.out_stream = out_stream
        self.options = options or []  # [(name, value)] written in a { } body


# ---------------------------------------------------------------------------------------------
# Tokens

TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<number>-?(?:0[xX][0-9a-fA-F]+
                  |[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?
                  |\.[0-9]+(?:[eE][+-]?[0-9]+)?)
                (?![A-Za-z_]))
  | (?P<ident>\.?[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<punct>[{}\[\]()<>;=,:.\-+/])
""", re.S | re.X)


def tokenize(text):
    out, pos = [], 0
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise ParseError(f"unexpected character {text[pos]!r}")
        pos = m.end()
        if m.lastgroup not in ("ws", "comment"):
            out.append((m.lastgroup, m.group()))
    return out


class Parser:
    def __init__(self, text):
        self.toks = tokenize(text)
        self.i = 0

    def peek(self, k=0):
        j = self.i + k
        return self.toks[j][1] if j < len(self.toks) else None

    def next(self):
        if self.i >= len(self.toks):
            raise ParseError("unexpected end of file")
        t = self.toks[self.i][1]
        self.i += 1
        return t

    def expect(self, want):
        t = self.next()
        if t != want:
            raise ParseError(f"expected {want!r}, got {t!r}")
        return t

    def ident(self):
        kind, t = self.toks[self.i] if self.i < len(self.toks) else (None, None)
        if kind != "ident":
            raise ParseError(f"expected a name, got {t!r}")
        self.i += 1
        return t

    def option_name(self):
        parts = []
        while self.peek() not in ("=", None):
            parts.append(self.next())
        return "".join(parts)

    def value(self, stops):
        """Option value text up to a token in stops at depth 0 (aggregates kept as text)."""
        parts, depth = [], 0
        while True:
            t = self.peek()
            if t is None:
                raise ParseError("unterminated option value")
            if depth == 0 and t in stops:
                return " ".join(parts)
            if t in ("{", "[", "<"):
                depth += 1
            elif t in ("}", "]", ">"):
                depth -= 1
            parts.append(self.next())

    def string(self):
        kind, t = self.toks[self.i]
        if kind != "string":
            raise ParseError(f"expected a string, got {t!r}")
        self.i += 1
        return unquote(t)

    def int_(self):
        t = self.next()
        try:
            return int(t, 0)
        except ValueError:
            raise ParseError(f"expected a number, got {t!r}") from None

    def field_options(self):
        opts = []
        if self.peek() == "[":
            self.next()
            while True:
                name = self.option_name()
                self.expect("=")
                opts.append((name, self.value((",", "]"))))
                if self.next() == "]":
                    break
        return opts

    def ranges(self):
        out = []
        while True:
            start = self.int_()
            end = start
            if self.peek() == "to":
                self.next()
                end = "max" if self.peek() == "max" else None
                if end:
                    self.next()
                else:
                    end = self.int_()
            out.append((start, end))
            if self.peek() != ",":
                return out
            self.next()

    def reserved(self):
        self.expect("reserved")
        if self.toks[self.i][0] == "string":
            names = [self.string()]
            while self.peek() == ",":
                self.next()
                names.append(self.string())
            self.expect(";")
            return Reserved(names=names)
        r = Reserved(ranges=self.ranges())
        self.expect(";")
        return r

    def field(self, in_oneof=False):
        label = None
        if self.peek() in ("optional", "required", "repeated") and not in_oneof:
            label = self.next()
        if self.peek() == "group":
            raise ParseError("groups are not supported")
        if self.peek() == "map" and self.peek(1) == "<":
            self.next()
            self.next()
            key = self.ident()
            self.expect(",")
            val = self.ident()
            self.expect(">")
            name = self.ident()
            self.expect("=")
            num = self.int_()
            f = Field(label, "map", name, num, self.field_options(), (key, val))
        else:
            type_ = self.ident()
            name = self.ident()
            self.expect("=")
            num = self.int_()
            f = Field(label, type_, name, num, self.field_options())
        self.expect(";")
        return f

    def option_stmt(self):
        self.expect("option")
        name = self.option_name()
        self.expect("=")
        v = self.value((";",))
        self.expect(";")
        return Option(name, v)

    def message(self):
        self.expect("message")
        m = Message(self.ident())
        self.expect("{")
        while self.peek() != "}":
            t = self.peek()
            if t == ";":
                self.next()
            elif t == "message":
                m.items.append(self.message())
            elif t == "enum":
                m.items.append(self.enum())
            elif t == "extend":
                m.items.append(self.extend())
            elif t == "oneof":
                m.items.append(self.oneof())
            elif t == "reserved":
                m.items.append(self.reserved())
            elif t == "extensions":
                self.next()
                r = ExtRange(self.ranges(), self.field_options())
                self.expect(";")
                m.items.append(r)
            elif t == "option":
                m.items.append(self.option_stmt())
            else:
                m.items.append(self.field())
        self.expect("}")
        return m

    def oneof(self):
        self.expect("oneof")
        o = Oneof(self.ident())
        self.expect("{")
        while self.peek() != "}":
            if self.peek() == "option":
                o.items.append(self.option_stmt())
            elif self.peek() == ";":
                self.next()
            else:
                o.items.append(self.field(in_oneof=True))
        self.expect("}")
        return o

    def enum(self):
        self.expect("enum")
        e = Enum(self.ident())
        self.expect("{")
        while self.peek() != "}":
            t = self.peek()
            if t == ";":
                self.next()
            elif t == "option":
                e.items.append(self.option_stmt())
            elif t == "reserved":
                e.items.append(self.reserved())
            else:
                name = self.ident()
                self.expect("=")
                num = self.int_()
                e.items.append(EnumValue(name, num, self.field_options()))
                self.expect(";")
        self.expect("}")
        return e

    def extend(self):
        self.expect("extend")
        x = Extend(self.ident())
        self.expect("{")
        while self.peek() != "}":
            if self.peek() == ";":
                self.next()
            else:
                x.fields.append(self.field())
        self.expect("}")
        return x

    def service(self):
        self.expect("service")
        s = Service(self.ident())
        self.expect("{")
        while self.peek() != "}":
            t = self.peek()
            if t == ";":
                self.next()
            elif t == "option":
                s.items.append(self.option_stmt())
            else:
                self.expect("rpc")
                name = self.ident()
                self.expect("(")
                in_stream = self.peek() == "stream" and self.peek(1) != ")"
                if in_stream:
                    self.next()
                in_type = self.ident()
                self.expect(")")
                self.expect("returns")
                self.expect("(")
                out_stream = self.peek() == "stream" and self.peek(1) != ")"
                if out_stream:
                    self.next()
                out_type = self.ident()
                self.expect(")")
                opts = []
                if self.peek() == "{":
                    self.next()
                    while self.peek() != "}":
                        if self.peek() == ";":
                            self.next()
                            continue
                        o = self.option_stmt()
                        opts.append((o.name, o.value))
                    self.next()
                    if self.peek() == ";":
                        self.next()
                else:
                    self.expect(";")
                s.items.append(Method(name, in_type, in_stream, out_type, out_stream, opts))
        self.expect("}")
        return s

    def file(self, path):
        f = File(path)
        while self.peek() is not None:
            t = self.peek()
            if t == ";":
                self.next()
            elif t == "syntax":
                self.next()
                self.expect("=")
                f.syntax = self.string()
                self.expect(";")
            elif t == "edition":
                raise ParseError("editions are not supported")
            elif t == "package":
                self.next()
                f.package = self.ident()
                self.expect(";")
            elif t == "import":
                self.next()
                mod = ""
                if self.peek() in ("public", "weak"):
                    mod = self.next()
                f.imports.append((mod, self.string()))
                self.expect(";")
            elif t == "option":
                o = self.option_stmt()
                f.options.append((o.name, o.value))
            elif t == "message":
                f.items.append(self.message())
            elif t == "enum":
                f.items.append(self.enum())
            elif t == "service":
                f.items.append(self.service())
            elif t == "extend":
                f.items.append(self.extend())
            else:
                raise ParseError(f"unexpected {t!r} at top level")
        return f


def unquote(tok):
    body = tok[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def parse(path, text):
    return Parser(text).file(path)


# ---------------------------------------------------------------------------------------------
# Printing

def _opts(opts):
    return " [" + ", ".join(f"{n} = {v}" for n, v in opts) + "]" if opts else ""


def _ranges(ranges):
    return ", ".join(str(a) if a == b else f"{a} to {b}" for a, b in ranges)


def _field(f, ind):
    label = f"{f.label} " if f.label else ""
    type_ = f"map<{f.map_types[0]}, {f.map_types[1]}>" if f.map_types else f.type
    return f"{ind}{label}{type_} {f.name} = {f.number}{_opts(f.options)};"


def _item(x, ind, out):
    if isinstance(x, Field):
        out.append(_field(x, ind))
    elif isinstance(x, Option):
        out.append(f"{ind}option {x.name} = {x.value};")
    elif isinstance(x, Reserved):
        if x.ranges:
            out.append(f"{ind}reserved {_ranges(x.ranges)};")
        if x.names:
            out.append(f"{ind}reserved {', '.join(quote(n) for n in x.names)};")
    elif isinstance(x, ExtRange):
        out.append(f"{ind}extensions {_ranges(x.ranges)}{_opts(x.options)};")
    elif isinstance(x, EnumValue):
        out.append(f"{ind}{x.name} = {x.number}{_opts(x.options)};")
    elif isinstance(x, Oneof):
        out.append(f"{ind}oneof {x.name} {{")
        for y in x.items:
            _item(y, ind + "  ", out)
        out.append(f"{ind}}}")
    elif isinstance(x, Message):
        out.append(f"{ind}message {x.name} {{")
        for y in x.items:
            _item(y, ind + "  ", out)
        out.append(f"{ind}}}")
    elif isinstance(x, Enum):
        out.append(f"{ind}enum {x.name} {{")
        for y in x.items:
            _item(y, ind + "  ", out)
        out.append(f"{ind}}}")
    elif isinstance(x, Extend):
        out.append(f"{ind}extend {x.extendee} {{")
        for y in x.fields:
            _item(y, ind + "  ", out)
        out.append(f"{ind}}}")
    elif isinstance(x, Service):
        out.append(f"{ind}service {x.name} {{")
        for y in x.items:
            _item(y, ind + "  ", out)
        out.append(f"{ind}}}")
    elif isinstance(x, Method):
        cs = "stream " if x.in_stream else ""
        ss = "stream " if x.out_stream else ""
        head = f"{ind}rpc {x.name}({cs}{x.in_type}) returns ({ss}{x.out_type})"
        if x.options:
            out.append(head + " {")
            out += [f"{ind}  option {n} = {v};" for n, v in x.options]
            out.append(f"{ind}}}")
        else:
            out.append(head + ";")
    else:
        raise TypeError(type(x))


def print_file(f):
    out = []
    if f.syntax:
        out += [f"syntax = {quote(f.syntax)};", ""]
    if f.package:
        out += [f"package {f.package};", ""]
    if f.imports:
        out += [f"import {m + ' ' if m else ''}{quote(p)};" for m, p in f.imports]
        out.append("")
    if f.options:
        out += [f"option {n} = {v};" for n, v in f.options]
        out.append("")
    for i, x in enumerate(f.items):
        if i:
            out.append("")
        _item(x, "", out)
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# Walking

def messages(items, prefix=""):
    """(full relative name, Message, parent items list) for every message, depth first."""
    for x in items:
        if isinstance(x, Message):
            name = prefix + x.name
            yield name, x, items
            yield from messages(x.items, name + ".")


def enums(items, prefix=""):
    for x in items:
        if isinstance(x, Enum):
            yield prefix + x.name, x, items
        elif isinstance(x, Message):
            yield from enums(x.items, prefix + x.name + ".")


def fields_of(msg):
    """(Field, container items list, Oneof or None) for the message's own fields."""
    for x in msg.items:
        if isinstance(x, Field):
            yield x, msg.items, None
        elif isinstance(x, Oneof):
            for y in x.items:
                if isinstance(y, Field):
                    yield y, x.items, x
