#!/usr/bin/env python3
"""End-to-end tests of the HTTP contract (ARCHITECTURE.md §2) against the real local stack:
Postgres primary + replica, three spoke-server instances and NGINX in front.

One stack serves the whole file. Requests go through NGINX unless a check is about one instance.
Limits are lowered (SPOKE_MAX_FILES, SPOKE_MAX_BODY_BYTES, SPOKE_MAX_FILE_BYTES) so that the 413
paths are cheap to reach. Every test uses its own module names, so tests do not depend on each
other's data, only on running in one stack.
"""
import datetime
import hashlib
import json
import os
import re
import socket
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from spoketest import run_with_stack, request  # noqa: E402
from e2e_util import eventually, header  # noqa: E402

MAX_FILES = 250
MAX_BODY = 4 * 1024 * 1024
MAX_FILE = 1024 * 1024
STACK_ENV = {
    "SPOKE_MAX_FILES": str(MAX_FILES),
    "SPOKE_MAX_BODY_BYTES": str(MAX_BODY),
    "SPOKE_MAX_FILE_BYTES": str(MAX_FILE),
}

STACK = None  # set by main()

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
REQUEST_ID_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
IMMUTABLE = "public, max-age=31536000, immutable"
JSON_HEADERS = {"Content-Type": "application/json"}
MODULE_KEYS = {"name", "description", "created_at", "updated_at", "latest_version", "version_count"}
VERSION_KEYS = {"module_name", "version", "digest", "created_at", "files", "dependencies",
                "source_info"}
SUMMARY_KEYS = {"version", "digest", "created_at"}


# ---- helpers ------------------------------------------------------------------------------------

def body_bytes(resp):
    b = resp.body
    return b if b is not None else b""


def call(method, path, body=None, headers=None, base=None):
    """One request through NGINX (or base). dict/list bodies are sent as UTF-8 JSON."""
    hdrs = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body, ensure_ascii=False).encode("utf-8")
        hdrs.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode("utf-8")
    return request(base or STACK.lb_url, method, path, body=body, headers=hdrs)


def get_json(path, base=None, status=200):
    r = call("GET", path, base=base)
    assert r.status == status, f"GET {path}: expected {status}, got {describe(r)}"
    return r.json()


def describe(resp):
    return f"{resp.status} {body_bytes(resp)[:300]!r}"


def assert_request_id(resp):
    rid = header(resp, "X-Request-Id")
    assert rid, f"no X-Request-Id on a {resp.status} response"
    assert REQUEST_ID_SANE.match(rid), f"X-Request-Id {rid!r} is not sane"
    return rid


def assert_error(resp, status, code, what=""):
    """The one error shape: {"error", "code", "request_id"}, request_id == X-Request-Id."""
    label = f"{what}: " if what else ""
    assert resp.status == status, f"{label}expected {status} {code}, got {describe(resp)}"
    ctype = header(resp, "Content-Type") or ""
    assert ctype.startswith("application/json"), f"{label}error Content-Type is {ctype!r}"
    try:
        j = json.loads(body_bytes(resp))
    except ValueError:
        raise AssertionError(f"{label}error body is not JSON: {body_bytes(resp)[:300]!r}")
    assert isinstance(j, dict), f"{label}error body is not an object: {j!r}"
    for k in ("error", "code", "request_id"):
        assert isinstance(j.get(k), str), f"{label}error body lacks string {k}: {j!r}"
    assert j["error"], f"{label}empty error message: {j!r}"
    assert j["code"] == code, f"{label}expected code {code}, got {j['code']!r} ({j['error']})"
    rid = assert_request_id(resp)
    assert j["request_id"] == rid, f"{label}request_id {j['request_id']!r} != X-Request-Id {rid!r}"
    for leak in ("SQLSTATE", "PGRES", "ERROR:  ", "duplicate key", "libpq"):
        assert leak not in j["error"], f"{label}backend text leaked: {j['error']!r}"
    return j


def assert_json_response(resp, status, what=""):
    label = f"{what}: " if what else ""
    assert resp.status == status, f"{label}expected {status}, got {describe(resp)}"
    ctype = header(resp, "Content-Type") or ""
    assert ctype.startswith("application/json"), f"{label}Content-Type is {ctype!r}"
    assert_request_id(resp)
    return resp.json()


def assert_time(s, what):
    assert isinstance(s, str) and RFC3339_UTC.match(s), f"{what} is not RFC 3339 UTC: {s!r}"


def parse_time(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def settled(check, timeout=10.0, interval=0.1):
    """Runs check() until it stops raising AssertionError, for views of mutable state (module
    metadata, version lists, latest) that may trail a write by the replica's replay lag. The
    last failure is raised if the view never settles."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(interval)


def assert_module_shape(m, name=None):
    assert MODULE_KEYS <= set(m), f"module lacks fields: {sorted(MODULE_KEYS - set(m))} in {m!r}"
    if name is not None:
        assert m["name"] == name, m
    assert isinstance(m["description"], str), m
    assert_time(m["created_at"], "created_at")
    assert_time(m["updated_at"], "updated_at")
    assert m["latest_version"] is None or isinstance(m["latest_version"], str), m
    assert isinstance(m["version_count"], int) and not isinstance(m["version_count"], bool), m


def sha_hex(content):
    data = content if isinstance(content, bytes) else content.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def manifest_digest(files, deps=()):
    """digest.h: "spoke-manifest-v1\\n", "file <sha256> <path>\\n" by path bytes, then
    "dep <module@version>\\n" by bytes, SHA-256 of it all."""
    lines = [b"spoke-manifest-v1\n"]
    for path, content in sorted(files, key=lambda f: f[0].encode("utf-8")):
        lines.append(b"file " + sha_hex(content).encode() + b" " + path.encode("utf-8") + b"\n")
    for d in sorted((d.encode("utf-8") for d in deps)):
        lines.append(b"dep " + d + b"\n")
    return "sha256:" + hashlib.sha256(b"".join(lines)).hexdigest()


def proto(tag, comment=""):
    """A small valid proto3 file; tag makes the package unique, comment varies the bytes."""
    return (f'syntax = "proto3";\n\npackage e2e.{tag};\n\n// {comment}\n'
            f'message Item {{\n  string name = 1;\n  int64 id = 2;\n}}\n')


def push_body(version, files, deps=None, source_info=None):
    b = {"version": version, "files": [{"path": p, "content": c} for p, c in files]}
    if deps is not None:
        b["dependencies"] = deps
    if source_info is not None:
        b["source_info"] = source_info
    return b


def push(module, version, files, deps=None, source_info=None, base=None, ascii_json=False):
    body = json.dumps(push_body(version, files, deps, source_info), ensure_ascii=ascii_json)
    return call("POST", f"/modules/{module}/versions", body.encode("utf-8"), JSON_HEADERS, base)


def create_module(name, description=None, base=None):
    body = {"name": name}
    if description is not None:
        body["description"] = description
    r = call("POST", "/modules", body, base=base)
    assert r.status == 201, f"create {name}: {describe(r)}"
    return r.json()


def must_push(module, version, files, deps=None, source_info=None, base=None):
    r = push(module, version, files, deps, source_info, base)
    assert r.status == 201, f"push {module}@{version}: {describe(r)}"
    return r.json()


def module_state(name):
    return get_json(f"/modules/{name}")


def expect_module(name, **want):
    """Waits until GET /modules/{name} shows these field values; returns the module."""
    def check():
        m = module_state(name)
        for k, v in want.items():
            assert m[k] == v, f"{name}: {k} is {m[k]!r}, want {v!r}"
        return m
    return settled(check)


def expect_versions(name, want):
    """Waits until GET /modules/{name}/versions lists exactly these versions, in this order."""
    def check():
        got = [x["version"] for x in get_json(f"/modules/{name}/versions?limit=1000")]
        assert got == want, f"{name}: versions {got}, want {want}"
    settled(check)


def expect_latest(name, version):
    def check():
        v = get_json(f"/modules/{name}/versions/latest")
        assert v["version"] == version, f"{name}: latest is {v['version']}, want {version}"
        return v
    return settled(check)


def assert_nothing_stored(module, version, count_before, what):
    """After a rejected push: the version does not exist and version_count did not move."""
    m = module_state(module)
    assert m["version_count"] == count_before, \
        f"{what}: version_count moved {count_before} -> {m['version_count']}"
    if version is not None:
        q = urllib.parse.quote(version, safe="")
        r = call("GET", f"/modules/{module}/versions/{q}")
        assert r.status in (400, 404), f"{what}: rejected version readable: {describe(r)}"


def link_next(resp):
    link = header(resp, "Link")
    if not link:
        return None
    m = re.search(r'<([^>]*)>\s*;\s*rel="?next"?', link)
    assert m, f"Link header without rel=next: {link!r}"
    return m.group(1)


def follow(url):
    """Path and query of an absolute Link target, checked to point at the load balancer."""
    u = urllib.parse.urlsplit(url)
    lb = urllib.parse.urlsplit(STACK.lb_url)
    assert u.netloc == lb.netloc, f"Link points at {u.netloc}, not the load balancer {lb.netloc}"
    return u.path + ("?" + u.query if u.query else "")


def spread(i):
    """The i-th thread's entry point: NGINX and each instance in turn, so that racing requests
    also meet on different instances."""
    bases = [STACK.lb_url] + list(STACK.instance_urls)
    return bases[i % len(bases)]


def parallel(n, fn):
    """Runs fn(i) in n threads released together; returns results (or exceptions) by index."""
    barrier = threading.Barrier(n)
    out = [None] * n

    def worker(i):
        try:
            barrier.wait(timeout=30)
            out[i] = fn(i)
        except Exception as e:  # reported by the caller
            out[i] = e
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for i, o in enumerate(out):
        if isinstance(o, Exception):
            raise AssertionError(f"thread {i} failed: {o!r}")
    return out


def files_of(version_json):
    return {f["path"]: f for f in version_json["files"]}


def assert_contents(version_json, files, what):
    """The pulled version holds exactly these (path, content) pairs, byte for byte."""
    got = files_of(version_json)
    want = dict(files)
    assert set(got) == set(want), f"{what}: paths differ: {sorted(set(got) ^ set(want))[:5]}"
    for path, content in want.items():
        f = got[path]
        assert f["content"] == content, f"{what}: content of {path!r} differs"
        raw = content.encode("utf-8")
        assert f["size"] == len(raw), f"{what}: size of {path!r} is {f['size']}, want {len(raw)}"
        assert f["sha256"] == sha_hex(raw), f"{what}: sha256 of {path!r} differs"


class RawResponse:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


def raw_post(base, path, body, chunked=False, expect_continue=False, timeout=30):
    """POST over a plain socket, for bodies a server may answer before reading them: sending
    stops quietly when the server closes its side, and the reply is read afterwards (an early
    413 followed by a close is legitimate HTTP, but http.client cannot read it)."""
    u = urllib.parse.urlsplit(base)
    head = [f"POST {path} HTTP/1.1", f"Host: {u.netloc}", "Connection: close",
            "Content-Type: application/json"]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}")
    if expect_continue:
        head.append("Expect: 100-continue")
    data = b""
    with socket.create_connection((u.hostname, u.port), timeout=timeout) as so:
        so.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        send_body = True
        if expect_continue:
            so.settimeout(3)
            try:
                data = so.recv(65536)
            except socket.timeout:
                data = b""
            so.settimeout(timeout)
            if data.startswith(b"HTTP/1.1 100"):
                data = data.split(b"\r\n\r\n", 1)[1]
            elif data:
                send_body = False  # the final answer came before the body
        if send_body:
            try:
                step = 64 * 1024
                for i in range(0, len(body), step):
                    piece = body[i:i + step]
                    so.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                if chunked:
                    so.sendall(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
        try:
            while True:
                d = so.recv(65536)
                if not d:
                    break
                data += d
        except (ConnectionResetError, socket.timeout):
            pass
    assert data, f"POST {path} via {base}: no reply at all"
    head_raw, _, rest = data.partition(b"\r\n\r\n")
    lines = head_raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip()] = v.strip()
    n = int(headers.get("Content-Length", len(rest)))
    return RawResponse(status, headers, rest[:n])


def qpath(path):
    return urllib.parse.quote(path, safe="/")


# ---- modules ------------------------------------------------------------------------------------

def test_create_module():
    r = call("POST", "/modules", {"name": "alpha", "description": "first module"})
    m = assert_json_response(r, 201, "POST /modules")
    ctype = header(r, "Content-Type")
    assert ctype.replace(" ", "").lower() == "application/json;charset=utf-8", ctype
    assert set(m) == MODULE_KEYS, f"unexpected module fields: {sorted(m)}"
    assert_module_shape(m, "alpha")
    assert m["description"] == "first module"
    assert m["latest_version"] is None and m["version_count"] == 0, m
    loc = header(r, "Location")
    assert loc and urllib.parse.urlsplit(loc).path == "/modules/alpha", f"Location {loc!r}"
    g = get_json("/modules/alpha")
    assert g["name"] == "alpha" and g["description"] == "first module"
    assert g["created_at"] == m["created_at"], (g, m)
    assert g["versions"] == [], g


def test_create_module_without_description():
    m = create_module("alpha-nodesc")
    assert m["description"] == "", m
    r = call("POST", "/modules", {"name": "alpha-nulldesc2", "description": None})
    assert r.status == 201 and r.json()["description"] == "", describe(r)
    # Whitespace after the object is still one JSON document.
    r = call("POST", "/modules", b'{"name": "alpha-ws"}\n\t ', JSON_HEADERS)
    assert r.status == 201, describe(r)


def test_create_duplicate_module():
    create_module("dup-mod", "original")
    r = call("POST", "/modules", {"name": "dup-mod", "description": "second"})
    assert_error(r, 409, "already_exists", "duplicate POST /modules")
    assert module_state("dup-mod")["description"] == "original"


def test_module_name_boundaries():
    longest = "a" + "b" * 127
    m = create_module(longest)
    assert m["name"] == longest
    get_json(f"/modules/{longest}")
    for name in ("a", "z9", "a.b_c-d", "x-"):
        create_module(name)
        get_json(f"/modules/{name}")


def test_list_modules_order_and_pagination():
    names = ["lst-c", "lst-a", "lst-e", "lst-b", "lst-d"]
    for n in names:
        create_module(n)
    create_module("lst_x")  # '_' in a prefix must match itself, not any character

    def listed():
        r = call("GET", "/modules?prefix=lst")
        got = [m["name"] for m in assert_json_response(r, 200, "GET /modules?prefix")]
        assert got == sorted(names + ["lst_x"]), got
    settled(listed)
    r = call("GET", "/modules?prefix=lst-")
    got = assert_json_response(r, 200, "GET /modules?prefix")
    assert [m["name"] for m in got] == sorted(names), [m["name"] for m in got]
    for m in got:
        assert set(m) == MODULE_KEYS, sorted(m)
        assert_module_shape(m)
    assert link_next(r) is None, f"Link on a complete page: {header(r, 'Link')!r}"

    # Pages of 2 through Link: 2 + 2 + 1, no Link on the last one.
    seen, path, pages = [], "/modules?limit=2&prefix=lst-", 0
    while path:
        r = call("GET", path)
        page = assert_json_response(r, 200, path)
        pages += 1
        assert len(page) == (2 if pages < 3 else 1), (path, page)
        seen += [m["name"] for m in page]
        nxt = link_next(r)
        path = follow(nxt) if nxt else None
        assert pages <= 3, "Link keeps going"
    assert seen == sorted(names), seen

    # An exactly full last page has no Link.
    r = call("GET", "/modules?limit=5&prefix=lst-")
    assert len(r.json()) == 5 and link_next(r) is None, header(r, "Link")
    r = call("GET", "/modules?limit=4&offset=4&prefix=lst-")
    assert [m["name"] for m in r.json()] == ["lst-e"] and link_next(r) is None
    r = call("GET", "/modules?offset=100&prefix=lst-")
    assert r.status == 200 and r.json() == [], describe(r)

    # LIKE wildcards in the prefix are literal.
    assert [m["name"] for m in get_json("/modules?prefix=lst_")] == ["lst_x"]
    assert get_json("/modules?prefix=lst%25") == []
    assert [m["name"] for m in get_json("/modules?prefix=lst%2Da")] == ["lst-a"]
    assert get_json("/modules?prefix=zzz-nothing") == []

    # Without a prefix: name order (bytewise) over everything.
    all_names = [m["name"] for m in get_json("/modules?limit=1000")]
    assert all_names == sorted(all_names, key=lambda s: s.encode()), all_names[:20]
    assert set(names) <= set(all_names)
    r = call("GET", "/modules?limit=1")
    assert r.status == 200 and len(r.json()) == 1 and link_next(r), describe(r)


def test_list_modules_limit_bounds():
    for q in ("limit=0", "limit=1001", "limit=abc", "limit=-1", "limit=", "limit=1.5",
              "limit=99999999999999999999", "offset=-1", "offset=abc", "limit=10abc"):
        assert_error(call("GET", f"/modules?{q}"), 400, "invalid_argument", f"GET /modules?{q}")
    assert call("GET", "/modules?limit=1000").status == 200
    assert call("GET", "/modules?limit=1").status == 200
    r = call("GET", "/modules?prefix=" + "a" * 129)
    assert_error(r, 400, "invalid_argument", "prefix of 129 characters")
    # The largest accepted offset is an empty page, not an overflow.
    for path in ("/modules?offset=4611686018427387903&limit=1000",
                 "/modules/alpha/versions?offset=4611686018427387903&limit=1000"):
        r = call("GET", path)
        assert r.status in (200, 400), f"GET {path}: {describe(r)}"
        if r.status == 200:
            assert r.json() == [] and link_next(r) is None, describe(r)
        else:
            assert_error(r, 400, "invalid_argument", path)
    for q in ("offset=9223372036854775807", "offset=99999999999999999999"):
        assert_error(call("GET", f"/modules?{q}"), 400, "invalid_argument", f"GET /modules?{q}")


def test_malformed_query_escapes():
    """A query parameter whose percent-encoding is malformed or decodes to NUL is bad input
    (400, as for the path), not silently dropped: a dropped prefix would list every module and
    a dropped limit would page differently than asked."""
    for q in ("limit=%00", "limit=1%zz", "prefix=%00", "prefix=lst%zz", "prefix=%", "offset=%0"):
        assert_error(call("GET", f"/modules?{q}"), 400, "invalid_argument", f"GET /modules?{q}")


def test_patch_module():
    m0 = create_module("patchy", "before")
    time.sleep(0.02)
    r = call("PATCH", "/modules/patchy", {"description": "after ✓"})
    m1 = assert_json_response(r, 200, "PATCH")
    assert_module_shape(m1, "patchy")
    assert m1["description"] == "after ✓", m1
    assert m1["created_at"] == m0["created_at"], (m0, m1)
    assert parse_time(m1["updated_at"]) > parse_time(m0["updated_at"]), \
        f"updated_at did not move: {m0} {m1}"
    expect_module("patchy", description="after ✓")

    for body in ({"description": 5}, {"description": ["x"]}, {"description": {"a": 1}},
                 {"description": True}, {"description": "x" * 4097}):
        assert_error(call("PATCH", "/modules/patchy", body), 400, "invalid_argument",
                     f"PATCH {body!r:.40}")
    for raw in (b"", b"[]", b"{", b'"x"', b'{"description": "a"} x'):
        assert_error(call("PATCH", "/modules/patchy", raw, JSON_HEADERS), 400, "invalid_argument",
                     f"PATCH {raw!r}")
    assert module_state("patchy")["description"] == "after ✓"

    r = call("PATCH", "/modules/patchy", {"description": "x" * 4096})
    assert r.status == 200 and r.json()["description"] == "x" * 4096, describe(r)
    r = call("PATCH", "/modules/patchy", {"description": ""})
    assert r.status == 200 and r.json()["description"] == "", describe(r)
    expect_module("patchy", description="")

    assert_error(call("PATCH", "/modules/no-such-module", {"description": "x"}), 404, "not_found",
                 "PATCH missing module")
    assert_error(call("PATCH", "/modules/Bad", {"description": "x"}), 400, "invalid_argument",
                 "PATCH bad name")


# ---- push and pull ------------------------------------------------------------------------------

PUSH_FILES = [
    ("acme/v1/user.proto", proto("user", "users")),
    ("acme/v1/order.proto", proto("order", "orders")),
    ("README.proto", proto("readme", "top level")),
]


def test_push_created():
    create_module("push-a")
    src = {"repository": "https://git.example.com/acme/protos", "commit_sha": "0123abcd" * 5,
           "branch": "main"}
    r = push("push-a", "1.0.0", PUSH_FILES, source_info=src)
    v = assert_json_response(r, 201, "push")
    assert set(v) == VERSION_KEYS, f"unexpected Version fields: {sorted(v)}"
    assert v["module_name"] == "push-a" and v["version"] == "1.0.0", v
    assert_time(v["created_at"], "created_at")
    assert v["digest"] == manifest_digest(PUSH_FILES), (v["digest"], manifest_digest(PUSH_FILES))
    assert re.match(r"^sha256:[0-9a-f]{64}$", v["digest"]), v["digest"]
    assert v["dependencies"] == [], v
    assert v["source_info"] == src, v["source_info"]
    paths = [f["path"] for f in v["files"]]
    assert paths == sorted(p for p, _ in PUSH_FILES), f"files not in path order: {paths}"
    for f in v["files"]:
        assert set(f) == {"path", "sha256", "size"}, f"push reply carries {sorted(f)}"
        content = dict(PUSH_FILES)[f["path"]]
        assert f["sha256"] == sha_hex(content) and f["size"] == len(content.encode()), f
    loc = header(r, "Location")
    assert loc and urllib.parse.urlsplit(loc).path == "/modules/push-a/versions/1.0.0", loc

    m = expect_module("push-a", version_count=1, latest_version="1.0.0")
    assert [x["version"] for x in m["versions"]] == ["1.0.0"], m["versions"]
    assert m["versions"][0]["digest"] == v["digest"]


def test_push_to_missing_module():
    r = push("push-nobody", "1.0.0", PUSH_FILES)
    assert_error(r, 404, "not_found", "push to a missing module")
    get_json("/modules/push-nobody", status=404)


def test_repush_identical_and_reordered():
    create_module("repush")
    v = must_push("repush", "1.0.0", PUSH_FILES)
    r = push("repush", "1.0.0", PUSH_FILES)
    again = assert_json_response(r, 200, "identical re-push")
    assert again["digest"] == v["digest"] and again["version"] == "1.0.0", again
    assert again["created_at"] == v["created_at"], (again, v)
    # Same tree, files in reverse order: same digest, still a re-push.
    r = push("repush", "1.0.0", list(reversed(PUSH_FILES)))
    again = assert_json_response(r, 200, "re-push in reverse order")
    assert again["digest"] == v["digest"], again
    # The same tree as another version of another module has the same digest.
    create_module("repush-twin")
    twin = must_push("repush-twin", "3.1.4", list(reversed(PUSH_FILES)))
    assert twin["digest"] == v["digest"]
    expect_module("repush", version_count=1)


def test_repush_conflict():
    create_module("conflicted")
    v = must_push("conflicted", "1.0.0", PUSH_FILES)
    changed = PUSH_FILES[:2] + [("README.proto", proto("readme", "changed"))]
    r = push("conflicted", "1.0.0", changed)
    j = assert_error(r, 409, "conflict", "conflicting re-push")
    assert j.get("existing_digest") == v["digest"], j
    assert j.get("pushed_digest") == manifest_digest(changed), j
    # A file more or less is a conflict too.
    r = push("conflicted", "1.0.0", PUSH_FILES[:2])
    assert_error(r, 409, "conflict", "re-push with a file missing")
    r = push("conflicted", "v1.0.0", PUSH_FILES + [("extra.proto", proto("extra"))])
    assert_error(r, 409, "conflict", "re-push (v-prefixed) with a file more")
    got = get_json("/modules/conflicted/versions/1.0.0")
    assert got["digest"] == v["digest"]
    assert_contents(got, PUSH_FILES, "after conflicts")
    expect_module("conflicted", version_count=1)


def test_push_with_dependencies():
    create_module("dep-base")
    must_push("dep-base", "1.0.0", [("dep/base.proto", proto("depbase"))])
    create_module("dep-other")
    must_push("dep-other", "2.0.0", [("dep/other.proto", proto("depother"))])
    create_module("dep-user")
    files = [("user.proto", 'syntax = "proto3";\npackage e2e.depuser;\n'
              'import "dep/base.proto";\nimport "dep/other.proto";\n'
              'message User {\n  e2e.depbase.Item base = 1;\n  e2e.depother.Item other = 2;\n}\n')]
    deps = ["dep-other@v2.0.0", "dep-base@1.0.0"]
    canonical = ["dep-base@1.0.0", "dep-other@2.0.0"]
    v = must_push("dep-user", "0.1.0", files, deps=deps)
    assert v["dependencies"] == canonical, v["dependencies"]
    assert v["digest"] == manifest_digest(files, canonical), v["digest"]
    assert v["digest"] != manifest_digest(files), "dependencies are not part of the digest"
    got = get_json("/modules/dep-user/versions/0.1.0")
    assert got["dependencies"] == canonical, got
    # Reordered dependencies: same digest, 200.
    r = push("dep-user", "0.1.0", files, deps=list(reversed(canonical)))
    assert r.status == 200 and r.json()["digest"] == v["digest"], describe(r)
    # Different dependencies: 409 (the digest check comes before compilation).
    r = push("dep-user", "0.1.0", files, deps=["dep-base@1.0.0"])
    assert_error(r, 409, "conflict", "re-push with other dependencies")


def assert_diagnostics(j, path, what):
    details = j.get("details")
    assert isinstance(details, list) and details, f"{what}: no details: {j!r}"
    for d in details:
        assert {"file", "line", "column", "message"} <= set(d), f"{what}: detail {d!r}"
        assert isinstance(d["line"], int) and isinstance(d["column"], int), d
        assert isinstance(d["message"], str) and d["message"], d
    assert any(d["file"] == path for d in details), f"{what}: no detail names {path}: {details}"


def test_schema_validation():
    """§5: every push is compiled; files that do not compile are refused with 422
    invalid_schema and diagnostics, and nothing is stored."""
    create_module("schema")
    create_module("schema-dep")
    must_push("schema-dep", "1.0.0", [("schemadep/types.proto", proto("schemadep"))])
    ok = ("ok.proto", proto("schemaok"))
    bad_cases = [
        ([ok, ("broken.proto", 'syntax = "proto3";\nmessage Broken {\n  string x = ;\n}\n')],
         None, "broken.proto", "syntax error"),
        ([ok, ("imports.proto", 'syntax = "proto3";\nimport "nowhere/missing.proto";\n')],
         None, "imports.proto", "unresolved import"),
        ([ok, ("uses.proto", 'syntax = "proto3";\nimport "schemadep/types.proto";\n'
                             'message U { e2e.schemadep.Item i = 1; }\n')],
         None, "uses.proto", "import of an undeclared dependency's file"),
        ([ok, ("dup.proto", proto("schemaok"))], None, "dup.proto", "duplicate symbol"),
        ([ok, ("types.proto", 'syntax = "proto3";\nmessage T { NoSuchType t = 1; }\n')],
         None, "types.proto", "unknown type"),
    ]
    for files, deps, path, what in bad_cases:
        r = push("schema", "1.0.0", files, deps=deps)
        j = assert_error(r, 422, "invalid_schema", what)
        assert_diagnostics(j, path, what)
    # A dependency that does not exist cannot be compiled against.
    r = push("schema", "1.0.0", [ok], deps=["schema-dep@9.9.9"])
    assert r.status in (400, 404, 422), f"missing dependency: {describe(r)}"
    r = push("schema", "1.0.0", [ok], deps=["schema-nobody@1.0.0"])
    assert r.status in (400, 404, 422), f"dependency on a missing module: {describe(r)}"
    assert_nothing_stored("schema", "1.0.0", 0, "pushes that do not compile")

    # What does compile: imports within the version, of a declared dependency, and of the
    # well-known types shipped with protoc.
    good = [ok,
            ("a/inner.proto", 'syntax = "proto3";\npackage e2e.inner;\nimport "ok.proto";\n'
                              'import "schemadep/types.proto";\n'
                              'import "google/protobuf/timestamp.proto";\n'
                              'message Inner {\n  e2e.schemaok.Item a = 1;\n'
                              '  e2e.schemadep.Item b = 2;\n  google.protobuf.Timestamp at = 3;\n}\n')]
    v = must_push("schema", "1.0.0", good, deps=["schema-dep@1.0.0"])
    assert v["dependencies"] == ["schema-dep@1.0.0"]
    # A conflicting re-push that would not compile is still a conflict (409 before 422), and an
    # identical one is 200.
    r = push("schema", "1.0.0", [("broken.proto", "message {")])
    assert_error(r, 409, "conflict", "conflicting re-push that does not compile")
    r = push("schema", "1.0.0", list(reversed(good)), deps=["schema-dep@v1.0.0"])
    assert r.status == 200 and r.json()["digest"] == v["digest"], describe(r)


def test_get_version_with_contents():
    create_module("pull-a")
    v = must_push("pull-a", "1.2.3", PUSH_FILES)
    r = call("GET", "/modules/pull-a/versions/1.2.3")
    got = assert_json_response(r, 200, "GET version")
    assert set(got) == VERSION_KEYS, sorted(got)
    assert got["digest"] == v["digest"] and got["version"] == "1.2.3"
    assert got["created_at"] == v["created_at"], (got["created_at"], v["created_at"])
    assert got["source_info"] == v["source_info"] and got["dependencies"] == v["dependencies"]
    assert got["module_name"] == "pull-a"
    assert [f["path"] for f in got["files"]] == sorted(p for p, _ in PUSH_FILES)
    for f in got["files"]:
        assert set(f) == {"path", "sha256", "size", "content"}, sorted(f)
    assert_contents(got, PUSH_FILES, "GET version")
    etag = header(r, "ETag")
    assert etag == '"' + v["digest"] + '"', f"ETag {etag!r}"
    assert header(r, "Cache-Control") == IMMUTABLE, header(r, "Cache-Control")

    for inm in (etag, "W/" + etag, '"sha256:00", ' + etag, "*"):
        r304 = call("GET", "/modules/pull-a/versions/1.2.3", headers={"If-None-Match": inm})
        assert r304.status == 304, f"If-None-Match {inm!r}: {describe(r304)}"
        assert body_bytes(r304) == b"", f"304 with a body: {body_bytes(r304)[:100]!r}"
        assert header(r304, "ETag") == etag, header(r304, "ETag")
        assert_request_id(r304)
    r = call("GET", "/modules/pull-a/versions/1.2.3", headers={"If-None-Match": '"sha256:00"'})
    assert r.status == 200 and r.json()["digest"] == v["digest"], describe(r)

    # v-prefixed lookup is the same version.
    r = call("GET", "/modules/pull-a/versions/v1.2.3")
    assert r.status == 200 and r.json()["version"] == "1.2.3", describe(r)
    assert header(r, "ETag") == etag


def test_v_prefixed_push():
    create_module("vpref")
    r = push("vpref", "v2.0.0", PUSH_FILES)
    v = assert_json_response(r, 201, "push v2.0.0")
    assert v["version"] == "2.0.0", v
    loc = header(r, "Location")
    assert loc and urllib.parse.urlsplit(loc).path == "/modules/vpref/versions/2.0.0", loc
    for q in ("2.0.0", "v2.0.0"):
        assert get_json(f"/modules/vpref/versions/{q}")["version"] == "2.0.0"
    r = push("vpref", "2.0.0", PUSH_FILES)
    assert r.status == 200, f"re-push without v: {describe(r)}"
    expect_versions("vpref", ["2.0.0"])
    expect_module("vpref", latest_version="2.0.0", version_count=1)


# Pushed in this (shuffled) order; listed newest first by SemVer precedence.
SEMVER_PUSH_ORDER = [
    "1.0.0-beta.11", "1.10.0", "1.0.0-alpha", "2.0.0-rc.1", "1.0.0+build.5", "1.0.0-alpha.beta",
    "0.9.9", "1.0.0-rc.1", "1.2.0", "1.0.0-alpha.1", "1.0.0-beta", "1.0.1", "v1.0.0-beta.2",
    "1.2.0-rc.1+exp.sha.5114f85",
]
SEMVER_EXPECTED = [
    "2.0.0-rc.1", "1.10.0", "1.2.0", "1.2.0-rc.1+exp.sha.5114f85", "1.0.1", "1.0.0+build.5",
    "1.0.0-rc.1", "1.0.0-beta.11", "1.0.0-beta.2", "1.0.0-beta", "1.0.0-alpha.beta",
    "1.0.0-alpha.1", "1.0.0-alpha", "0.9.9",
]


def test_versions_semver_order_and_latest():
    create_module("semver")
    digests = {}
    for ver in SEMVER_PUSH_ORDER:
        files = [("s.proto", proto("semver", ver))]
        v = must_push("semver", ver, files)
        digests[v["version"]] = (v["digest"], files)
    expect_versions("semver", SEMVER_EXPECTED)
    r = call("GET", "/modules/semver/versions")
    lst = assert_json_response(r, 200, "GET versions")
    assert [x["version"] for x in lst] == SEMVER_EXPECTED, [x["version"] for x in lst]
    for x in lst:
        assert set(x) == SUMMARY_KEYS, sorted(x)
        assert x["digest"] == digests[x["version"]][0]
        assert_time(x["created_at"], "created_at")
    assert link_next(r) is None

    m = expect_module("semver", version_count=len(SEMVER_EXPECTED))
    assert [x["version"] for x in m["versions"]] == SEMVER_EXPECTED, m["versions"]
    for x in m["versions"]:
        assert set(x) == SUMMARY_KEYS, sorted(x)
    assert m["version_count"] == len(SEMVER_EXPECTED), m
    # latest: the highest release, although 2.0.0-rc.1 has higher precedence.
    assert m["latest_version"] == "1.10.0", m["latest_version"]
    r = call("GET", "/modules/semver/versions/latest")
    lat = assert_json_response(r, 200, "GET latest")
    assert lat["version"] == "1.10.0", lat["version"]
    assert_contents(lat, digests["1.10.0"][1], "latest")
    assert header(r, "ETag") == '"' + digests["1.10.0"][0] + '"'
    cc = header(r, "Cache-Control") or ""
    assert "immutable" not in cc and cc != IMMUTABLE, f"latest is cached as immutable: {cc!r}"
    mx = re.search(r"max-age=(\d+)", cc)
    assert mx is None or int(mx.group(1)) <= 300, f"latest cached for long: {cc!r}"
    r = call("GET", "/modules/semver/versions/latest", headers={"If-None-Match": header(r, "ETag")})
    assert r.status == 304, describe(r)
    # Build metadata is kept in the name and found by it.
    assert get_json("/modules/semver/versions/1.0.0+build.5")["version"] == "1.0.0+build.5"
    assert get_json("/modules/semver/versions/v1.0.0-beta.2")["version"] == "1.0.0-beta.2"
    assert get_json("/modules/semver/versions/1.0.0%2Bbuild.5")["version"] == "1.0.0+build.5"

    # Pagination in precedence order: 14 = 4 + 4 + 4 + 2, Link on every page but the last.
    seen, path, pages = [], "/modules/semver/versions?limit=4", 0
    while path:
        r = call("GET", path)
        page = assert_json_response(r, 200, path)
        pages += 1
        seen += [x["version"] for x in page]
        nxt = link_next(r)
        assert (nxt is None) == (pages == 4), (pages, nxt)
        path = follow(nxt) if nxt else None
        assert pages <= 4
    assert seen == SEMVER_EXPECTED, seen
    r = call("GET", "/modules/semver/versions?limit=7&offset=7")
    assert [x["version"] for x in r.json()] == SEMVER_EXPECTED[7:] and link_next(r) is None
    for q in ("limit=0", "limit=1001", "limit=abc", "offset=-1"):
        assert_error(call("GET", f"/modules/semver/versions?{q}"), 400, "invalid_argument", q)

    # Pushing a new highest release moves latest.
    must_push("semver", "1.11.0", [("s.proto", proto("semver", "1.11.0"))])
    expect_latest("semver", "1.11.0")
    expect_module("semver", latest_version="1.11.0")


def test_latest_with_only_prereleases():
    create_module("pre-only")
    get_json("/modules/pre-only/versions/latest", status=404)
    for ver in ("0.1.0-alpha", "0.1.0-rc.1", "0.1.0-beta"):
        must_push("pre-only", ver, [("p.proto", proto("pre", ver))])
    expect_latest("pre-only", "0.1.0-rc.1")
    expect_module("pre-only", latest_version="0.1.0-rc.1")
    must_push("pre-only", "0.0.1", [("p.proto", proto("pre", "0.0.1"))])
    expect_latest("pre-only", "0.0.1")
    expect_module("pre-only", latest_version="0.0.1")


def test_get_file():
    create_module("files-a")
    files = [("a/b/c.proto", proto("abc", "nested")), ("top.proto", proto("top"))]
    must_push("files-a", "1.0.0", files)
    base = "/modules/files-a/versions/1.0.0/files"
    r = call("GET", f"{base}/a/b/c.proto")
    f = assert_json_response(r, 200, "GET file")
    assert set(f) == {"path", "content", "sha256", "size"}, sorted(f)
    assert f["path"] == "a/b/c.proto" and f["content"] == files[0][1]
    assert f["sha256"] == sha_hex(files[0][1]) and f["size"] == len(files[0][1].encode())
    etag = header(r, "ETag")
    assert etag and etag.strip('"').endswith(f["sha256"]), f"file ETag {etag!r}"
    assert header(r, "Cache-Control") == IMMUTABLE
    r304 = call("GET", f"{base}/a/b/c.proto", headers={"If-None-Match": etag})
    assert r304.status == 304 and body_bytes(r304) == b"", describe(r304)

    for q in ("raw=1", "raw=true"):
        r = call("GET", f"{base}/top.proto?{q}")
        assert r.status == 200, describe(r)
        assert (header(r, "Content-Type") or "").startswith("text/plain"), header(r, "Content-Type")
        assert body_bytes(r) == files[1][1].encode(), body_bytes(r)[:100]
        assert_request_id(r)
    # Through latest (short-lived caching) and a v-prefixed version.
    r = call("GET", "/modules/files-a/versions/latest/files/top.proto")
    assert r.status == 200 and r.json()["content"] == files[1][1], describe(r)
    assert "immutable" not in (header(r, "Cache-Control") or ""), header(r, "Cache-Control")
    assert get_json(f"/modules/files-a/versions/v1.0.0/files/top.proto")["content"] == files[1][1]
    # An encoded slash inside the tail is a slash of the path.
    assert get_json(f"{base}/a%2Fb%2Fc.proto")["path"] == "a/b/c.proto"


def test_not_found_everywhere():
    create_module("nf-mod")
    must_push("nf-mod", "1.0.0", [("x.proto", proto("nf"))])
    cases = [
        "/modules/nf-missing",
        "/modules/nf-missing/versions",
        "/modules/nf-missing/versions/1.0.0",
        "/modules/nf-missing/versions/latest",
        "/modules/nf-missing/versions/1.0.0/files/x.proto",
        "/modules/nf-mod/versions/9.9.9",
        "/modules/nf-mod/versions/1.0.0-rc.1",
        "/modules/nf-mod/versions/9.9.9/files/x.proto",
        "/modules/nf-mod/versions/1.0.0/files/y.proto",
        "/modules/nf-mod/versions/1.0.0/files/x.proto/more.proto",
        "/modules/nf-mod/versions/latest/files/nothing.proto",
        "/no-such-endpoint",
        "/modules/nf-mod/versions/1.0.0/nope",
        "/modulesx",
    ]
    for path in cases:
        assert_error(call("GET", path), 404, "not_found", f"GET {path}")
    for path in cases[:9]:
        r = call("GET", path + ("&" if "?" in path else "?") + "raw=1")
        assert_error(r, 404, "not_found", f"GET {path}?raw=1")
    # Module without versions: empty list, latest 404.
    create_module("nf-empty")
    assert get_json("/modules/nf-empty/versions") == []
    assert_error(call("GET", "/modules/nf-empty/versions/latest"), 404, "not_found",
                 "latest of a module without versions")


def test_head_on_get_routes():
    create_module("head-mod")
    must_push("head-mod", "1.0.0", [("h.proto", proto("head"))])
    for path in ("/modules", "/modules/head-mod", "/modules/head-mod/versions",
                 "/modules/head-mod/versions/1.0.0", "/modules/head-mod/versions/latest",
                 "/modules/head-mod/versions/1.0.0/files/h.proto",
                 "/modules/head-mod/versions/1.0.0/files/h.proto?raw=1"):
        g = call("GET", path)
        h = call("HEAD", path)
        assert g.status == 200 and h.status == 200, f"HEAD {path}: {h.status}, GET {g.status}"
        assert body_bytes(h) == b"", f"HEAD {path} has a body"
        assert header(h, "Content-Type") == header(g, "Content-Type"), path
        assert header(h, "ETag") == header(g, "ETag"), path
        assert_request_id(h)
        cl = header(h, "Content-Length")
        if cl is not None and "/modules/head-mod/versions/" in path:
            assert int(cl) == len(body_bytes(g)), f"HEAD {path}: Content-Length {cl}"
    h = call("HEAD", "/modules/head-missing")
    assert h.status == 404 and body_bytes(h) == b"", describe(h)
    assert_request_id(h)


def test_method_not_allowed():
    create_module("mna")
    cases = [
        ("DELETE", "/modules/mna", "GET, HEAD, PATCH"),
        ("PUT", "/modules", "GET, HEAD, POST"),
        ("DELETE", "/modules", "GET, HEAD, POST"),
        ("PATCH", "/modules", "GET, HEAD, POST"),
        ("PUT", "/modules/mna", "GET, HEAD, PATCH"),
        ("POST", "/modules/mna", "GET, HEAD, PATCH"),
        ("DELETE", "/modules/mna/versions", "GET, HEAD, POST"),
        ("DELETE", "/modules/mna/versions/1.0.0", "GET, HEAD"),
        ("PUT", "/modules/mna/versions/1.0.0", "GET, HEAD"),
        ("POST", "/modules/mna/versions/1.0.0/files/a.proto", "GET, HEAD"),
        ("DELETE", "/modules/x", "GET, HEAD, PATCH"),
    ]
    for method, path, allow in cases:
        r = call(method, path, b"{}" if method in ("PUT", "POST", "PATCH") else None, JSON_HEADERS)
        assert_error(r, 405, "method_not_allowed", f"{method} {path}")
        got = header(r, "Allow")
        methods = {m.strip() for m in (got or "").split(",")}
        assert methods == {m.strip() for m in allow.split(",")}, \
            f"{method} {path}: Allow {got!r}, want {allow!r}"


# ---- bad input ----------------------------------------------------------------------------------

NAME_RULE = re.compile(r"^[a-z][a-z0-9._-]{0,127}$")


def assert_no_invalid_modules(absent=()):
    """Nothing a rejected create could have stored: every listed name obeys the name rule, and
    the names given are absent (a 404 is confirmed on the primary)."""
    for m in get_json("/modules?limit=1000"):
        assert NAME_RULE.match(m["name"]), f"an invalid module name was stored: {m['name']!r}"
    for n in absent:
        r = call("GET", f"/modules/{n}")
        assert r.status == 404, f"module {n} exists after rejected creates: {describe(r)}"


MALFORMED = [
    (b"", "empty body"),
    (b"{", "truncated"),
    (b'{"name": "mal', "truncated string"),
    (b'{"name": "mal-a"', "missing brace"),
    (b"[]", "array"),
    (b'["mal-a"]', "array of name"),
    (b'"mal-a"', "string"),
    (b"null", "null"),
    (b"42", "number"),
    (b'{"name": "mal-a"} x', "trailing garbage"),
    (b'{"name": "mal-a"}{"name": "mal-b"}', "two documents"),
    (b'{"name": "mal-a",}', "trailing comma"),
    (b"{'name': 'mal-a'}", "single quotes"),
    (b'{"name": "mal-\xff\xfe"}', "invalid UTF-8 in a string"),
    (b'{"name": "mal-a", "description": "\xc3\x28"}', "invalid UTF-8 sequence"),
    (b'{"name": "mal-a", "description": "\xed\xa0\x80"}', "encoded surrogate"),
    (b'{"name": "mal-a", "description": "\\ud800"}', "lone surrogate escape"),
    (b'{"name": "mal-a", "name": "mal-b"}', "duplicate key"),
    (b'{"name": NaN}', "NaN"),
    (b"\xef\xbb\xbf{}", "byte order mark"),
    (b'{"name": "mal-a"}\x00', "trailing NUL"),
    (b"[" * 100000, "100000 nested arrays"),
    (b'{"name": "mal-a", "description": ' + b"[" * 50000 + b"]" * 50000 + b"}",
     "deeply nested field"),
    (b'{"name": "mal-a", "description": ' + b'{"a":' * 20000 + b"1" + b"}" * 20001,
     "deeply nested objects"),
]


def test_malformed_json_create():
    for raw, what in MALFORMED:
        r = call("POST", "/modules", raw, JSON_HEADERS)
        assert_error(r, 400, "invalid_argument", f"POST /modules, {what}")
    assert_no_invalid_modules(absent=("mal-a", "mal-b"))


def test_malformed_json_push():
    create_module("mal-push")
    good = json.dumps(push_body("1.0.0", [("a.proto", proto("mal"))])).encode()
    cases = MALFORMED + [
        (good[:-1], "truncated push"),
        (good[: len(good) // 2], "push cut in half"),
        (good + b" x", "push with trailing garbage"),
        (good.replace(b"syntax", b"\xff\xfesyntax"), "invalid UTF-8 in content"),
        (good.replace(b'"a.proto"', b'"a\xff.proto"'), "invalid UTF-8 in a path"),
        (b"[" + good + b"]", "push wrapped in an array"),
    ]
    for raw, what in cases:
        r = call("POST", "/modules/mal-push/versions", raw, JSON_HEADERS)
        assert_error(r, 400, "invalid_argument", f"push, {what}")
    assert_nothing_stored("mal-push", "1.0.0", 0, "malformed pushes")


def test_missing_fields_and_wrong_types_create():
    for body in ({}, {"description": "x"}, {"name": None}, {"name": 5}, {"name": ["mft-a"]},
                 {"name": {"n": "mft-a"}}, {"name": True}, {"name": "mft-a", "description": 5},
                 {"name": "mft-a", "description": ["x"]}, {"name": "mft-a", "description": False},
                 {"name": "mft-a", "description": "x" * 4097}, {"name": "mft\u0000a"},
                 {"name": "mft-a", "description": "a\u0000b"}):
        r = call("POST", "/modules", body)
        assert_error(r, 400, "invalid_argument", f"POST /modules {json.dumps(body)[:60]}")
    assert_no_invalid_modules(absent=("mft-a",))


def test_missing_fields_and_wrong_types_push():
    create_module("mft-push")
    create_module("mft-dep")
    must_push("mft-dep", "1.0.0", [("d.proto", proto("mftdep"))])
    f = [{"path": "a.proto", "content": proto("mft")}]
    cases = [
        {},
        {"files": f},
        {"version": None, "files": f},
        {"version": 1, "files": f},
        {"version": 1.0, "files": f},
        {"version": ["1.0.0"], "files": f},
        {"version": "1.0.0"},
        {"version": "1.0.0", "files": None},
        {"version": "1.0.0", "files": "a.proto"},
        {"version": "1.0.0", "files": {"path": "a.proto", "content": "x"}},
        {"version": "1.0.0", "files": [1]},
        {"version": "1.0.0", "files": ["a.proto"]},
        {"version": "1.0.0", "files": [None]},
        {"version": "1.0.0", "files": [{"path": "a.proto"}]},
        {"version": "1.0.0", "files": [{"content": "x"}]},
        {"version": "1.0.0", "files": [{"path": 5, "content": "x"}]},
        {"version": "1.0.0", "files": [{"path": None, "content": "x"}]},
        {"version": "1.0.0", "files": [{"path": "a.proto", "content": 5}]},
        {"version": "1.0.0", "files": [{"path": "a.proto", "content": None}]},
        {"version": "1.0.0", "files": [{"path": "a.proto", "content": ["x"]}]},
        {"version": "1.0.0", "files": f + [{"path": "b.proto"}]},
        {"version": "1.0.0", "files": f, "dependencies": "mft-dep@1.0.0"},
        {"version": "1.0.0", "files": f, "dependencies": {"mft-dep": "1.0.0"}},
        {"version": "1.0.0", "files": f, "dependencies": [5]},
        {"version": "1.0.0", "files": f, "dependencies": [None]},
        {"version": "1.0.0", "files": f, "dependencies": ["mft-dep"]},
        {"version": "1.0.0", "files": f, "dependencies": ["mft-dep@"]},
        {"version": "1.0.0", "files": f, "dependencies": ["@1.0.0"]},
        {"version": "1.0.0", "files": f, "dependencies": ["Mft-Dep@1.0.0"]},
        {"version": "1.0.0", "files": f, "dependencies": ["mft-dep@1.0"]},
        {"version": "1.0.0", "files": f, "dependencies": ["mft-dep@latest"]},
        {"version": "1.0.0", "files": f, "dependencies": ["mft-dep@1.0.0@1.0.0"]},
        {"version": "1.0.0", "files": f, "dependencies": ["mft-push@0.1.0"]},
        {"version": "1.0.0", "files": f, "dependencies": ["mft-dep@1.0.0", "mft-dep@v1.0.0"]},
        {"version": "1.0.0", "files": f, "dependencies": ["mft-dep@1.0.0\u0000x"]},
        {"version": "1.0.0", "files": f, "source_info": "github"},
        {"version": "1.0.0", "files": f, "source_info": ["x"]},
        {"version": "1.0.0", "files": f, "source_info": {"repository": 5}},
        {"version": "1.0.0", "files": f, "source_info": {"branch": ["main"]}},
        {"version": "1.0.0", "files": f, "source_info": {"commit_sha": "x" * 1025}},
    ]
    for body in cases:
        r = call("POST", "/modules/mft-push/versions", body)
        assert_error(r, 400, "invalid_argument", f"push {json.dumps(body)[:90]}")
    assert_nothing_stored("mft-push", "1.0.0", 0, "pushes with missing or mistyped fields")
    # Unknown source_info keys and null optionals are fine.
    r = call("POST", "/modules/mft-push/versions",
             {"version": "1.0.0", "files": f, "dependencies": None, "source_info": None})
    assert r.status == 201, describe(r)


BAD_NAMES = ["Alpha", "aLpha", "1abc", "9", "a" * 129, "a/b", "", "-abc", ".abc", "_abc",
             "a b", "módulo", "a\tb", "a@b", "a%b", "a:b", "ab\n", "ALPHA"]


def test_bad_module_names_in_body():
    for name in BAD_NAMES:
        r = call("POST", "/modules", {"name": name})
        assert_error(r, 400, "invalid_argument", f"create {name[:40]!r}")
    assert_no_invalid_modules(absent=("alpha-lower", "abc"))


def test_bad_module_names_in_url():
    create_module("alpha-url")
    for name in BAD_NAMES:
        if not name or name == "a/b":
            continue
        q = urllib.parse.quote(name, safe="")
        for method, path, body in (
                ("GET", f"/modules/{q}", None),
                ("GET", f"/modules/{q}/versions", None),
                ("GET", f"/modules/{q}/versions/1.0.0", None),
                ("GET", f"/modules/{q}/versions/1.0.0/files/a.proto", None),
                ("PATCH", f"/modules/{q}", {"description": "x"}),
                ("POST", f"/modules/{q}/versions", push_body("1.0.0", [("a.proto", proto("u"))]))):
            assert_error(call(method, path, body), 400, "invalid_argument", f"{method} {path[:60]}")
    # An encoded slash stays inside the name segment and is refused, not routed elsewhere.
    assert_error(call("GET", "/modules/a%2Fb"), 400, "invalid_argument", "GET /modules/a%2Fb")
    assert_error(call("GET", "/modules/alpha-url%2Fversions"), 400, "invalid_argument",
                 "GET /modules/alpha-url%2Fversions")
    # Names are case-sensitive: the lowercase module exists, the uppercase one is invalid.
    assert_error(call("GET", "/modules/ALPHA-URL"), 400, "invalid_argument", "uppercase lookup")
    r = call("GET", "/modules/")
    assert r.status in (400, 404), describe(r)
    assert_error(r, r.status, "invalid_argument" if r.status == 400 else "not_found",
                 "GET /modules/")


BAD_VERSIONS = ["1.2", "1", "01.0.0", "1.01.0", "1.0.01", "1.0.0-", "1.0.0+", "1.0.0-01",
                "1.0.0-a..b", "latest", "", "v", "V1.0.0", "vv1.0.0", " 1.0.0", "1.0.0 ",
                "-1.0.0", "1.0.0.0", "1.0.0-" + "a" * 200, "99999999999999999999.0.0",
                "1.0.0-beta_1", "1.0.0+build!", "a.b.c", "1.0.0\u0000"]


def test_bad_versions():
    create_module("badver")
    must_push("badver", "1.0.0", [("ok.proto", proto("badver"))])
    for ver in BAD_VERSIONS:
        r = push("badver", ver, [("b.proto", proto("badver", ver))])
        assert_error(r, 400, "invalid_argument", f"push version {ver[:40]!r}")
    expect_versions("badver", ["1.0.0"])
    assert_nothing_stored("badver", None, 1, "pushes with bad versions")
    for ver in ("1.2", "01.0.0", "1.0.0-", "v", "LATEST", "1.0.0%20", "%20", "1.0.0-01"):
        path = f"/modules/badver/versions/{ver}"
        assert_error(call("GET", path), 400, "invalid_argument", f"GET {path}")
        assert_error(call("GET", path + "/files/ok.proto"), 400, "invalid_argument",
                     f"GET {path}/files/ok.proto")


HOSTILE_PATHS = [
    "../x.proto", "a/../../x.proto", "a/../x.proto", "..", "../", "/abs.proto", "//abs.proto",
    "a\\b.proto", "..\\x.proto", "a\u0000b.proto", "a.proto\u0000.txt", "a//b.proto", "./a.proto",
    "a/./b.proto", "a/.", "a/", "a.proto/", "a.txt", "a.proto.txt", "a", "", ".proto/..",
    "a\nb.proto", "a\rb.proto", "a\tb.proto", "a\u007fb.proto", "a\u001bb.proto",
    "d" * 507 + ".proto",  # 513 bytes
    "日" * 169 + ".proto",  # 513 bytes in 175 characters
]


def path_of_length(n):
    """A valid path of exactly n bytes made of segments of at most 100 bytes."""
    segs, left = [], n - len(".proto")
    while left > 100:
        segs.append("d" * 99)
        left -= 100
    return "/".join(segs + ["x" * left]) + ".proto"


def test_hostile_file_paths_in_push():
    create_module("hostile")
    good = ("good.proto", proto("hostile"))
    for p in HOSTILE_PATHS:
        r = push("hostile", "1.0.0", [good, (p, proto("hostile", "evil"))])
        assert_error(r, 400, "invalid_argument", f"push path {p[:40]!r}")
        r = push("hostile", "1.0.0", [(p, proto("hostile", "alone"))])
        assert_error(r, 400, "invalid_argument", f"push lone path {p[:40]!r}")
    # The same NUL as a raw JSON escape, in case a client library would refuse to encode it.
    raw = (b'{"version": "1.0.0", "files": [{"path": "a\\u0000b.proto", "content": "x"}]}')
    assert_error(call("POST", "/modules/hostile/versions", raw, JSON_HEADERS), 400,
                 "invalid_argument", "path with \\u0000")
    assert_nothing_stored("hostile", "1.0.0", 0, "pushes with hostile paths")

    # 512 bytes is the limit, inclusive.
    p512 = path_of_length(512)
    assert len(p512.encode()) == 512
    v = must_push("hostile", "1.0.0", [good, (p512, proto("hostilelong"))])
    assert p512 in files_of(v)
    r = call("GET", f"/modules/hostile/versions/1.0.0/files/{qpath(p512)}?raw=1")
    assert r.status == 200 and body_bytes(r) == proto("hostilelong").encode(), describe(r)
    p513 = path_of_length(513)
    assert_error(push("hostile", "1.0.1", [good, (p513, "x")]), 400, "invalid_argument",
                 "path of 513 bytes")
    assert_nothing_stored("hostile", "1.0.1", 1, "513-byte path")


def test_duplicate_paths_and_empty_files():
    create_module("dups")
    a = proto("dups")
    for files in ([("a.proto", a), ("a.proto", a)],
                  [("a.proto", a), ("b.proto", a), ("a.proto", proto("dups", "other"))],
                  [("x/y.proto", a), ("b.proto", a), ("x/y.proto", a)]):
        r = push("dups", "1.0.0", files)
        assert_error(r, 400, "invalid_argument", f"duplicate paths {[p for p, _ in files]}")
    assert_error(push("dups", "1.0.0", []), 400, "invalid_argument", "empty files array")
    assert_nothing_stored("dups", "1.0.0", 0, "duplicates and empty files")
    # Paths differing only in case are different files.
    v = must_push("dups", "1.0.0", [("A.proto", a), ("a.proto", proto("dupslower"))])
    assert sorted(files_of(v)) == ["A.proto", "a.proto"]


def test_too_many_files():
    create_module("toomany")
    files = [(f"f{i:03d}.proto", proto(f"f{i:03d}")) for i in range(MAX_FILES + 1)]
    r = push("toomany", "1.0.0", files)
    assert_error(r, 413, "too_large", f"{MAX_FILES + 1} files")
    assert_nothing_stored("toomany", "1.0.0", 0, "too many files")
    v = must_push("toomany", "1.0.0", files[:MAX_FILES])
    assert len(v["files"]) == MAX_FILES


def padded(tag, nbytes, fill="x"):
    """A proto file of exactly nbytes bytes of UTF-8 (fill must be 1, 2 or 3 bytes wide)."""
    head = f'syntax = "proto3";\npackage e2e.{tag};\n// '
    width = len(fill.encode())
    room = nbytes - len(head.encode()) - 1
    body = fill * (room // width) + "x" * (room % width)
    s = head + body + "\n"
    assert len(s.encode()) == nbytes
    return s


def test_file_size_limit():
    create_module("bigfile")
    small = ("small.proto", proto("bigfile"))
    r = push("bigfile", "1.0.0", [small, ("big.proto", padded("big", MAX_FILE + 1))])
    assert_error(r, 413, "too_large", "one file 1 byte over the limit")
    # The limit counts bytes, not characters: 2-byte characters, one byte over.
    r = push("bigfile", "1.0.0", [small, ("big.proto", padded("big", MAX_FILE + 1, "é"))])
    assert_error(r, 413, "too_large", "one file of 2-byte characters over the limit")
    assert_nothing_stored("bigfile", "1.0.0", 0, "file over the limit")
    exact = padded("big", MAX_FILE, "é")
    v = must_push("bigfile", "1.0.0", [small, ("big.proto", exact)])
    assert files_of(v)["big.proto"]["size"] == MAX_FILE
    r = call("GET", "/modules/bigfile/versions/1.0.0/files/big.proto?raw=1")
    assert r.status == 200 and body_bytes(r) == exact.encode(), describe(r)


def lb_serves():
    return call("GET", "/modules?limit=1").status == 200


def test_body_size_limit_direct():
    """Bodies over SPOKE_MAX_BODY_BYTES sent straight to an instance, in every framing."""
    create_module("bigbody")
    # Five files under the per-file limit, together over the body limit.
    files = [(f"p{i}.proto", padded(f"p{i}", MAX_FILE - 4096)) for i in range(5)]
    body = json.dumps(push_body("1.0.0", files)).encode()
    assert len(body) > MAX_BODY
    direct = STACK.instance_urls[0]
    r = raw_post(direct, "/modules/bigbody/versions", body)
    assert_error(r, 413, "too_large", "declared length over the limit, direct")
    r = raw_post(direct, "/modules/bigbody/versions", body, expect_continue=True)
    assert_error(r, 413, "too_large", "Expect: 100-continue over the limit, direct")
    r = raw_post(direct, "/modules/bigbody/versions", body, chunked=True)
    assert_error(r, 413, "too_large", "chunked body over the limit, direct")
    assert_nothing_stored("bigbody", "1.0.0", 0, "bodies over the limit, direct")
    # A chunked body under the limit is assembled and accepted.
    small = json.dumps(push_body("0.0.1", [("c.proto", proto("chunked"))])).encode()
    r = raw_post(direct, "/modules/bigbody/versions", small * 1 + b" " * 200000, chunked=True)
    assert r.status == 201, f"chunked push: {describe(r)}"


def test_body_size_limit_through_nginx():
    """Over SPOKE_MAX_BODY_BYTES (under NGINX's own limit) through NGINX: the instance's 413,
    and the refusal must not make NGINX take instances out of rotation for other clients."""
    files = [(f"p{i}.proto", padded(f"p{i}", MAX_FILE - 4096)) for i in range(5)]
    body = json.dumps(push_body("1.0.0", files)).encode()
    before = module_state("bigbody")["version_count"]  # the direct test pushed a small version
    try:
        for attempt in range(3):
            r = call("POST", "/modules/bigbody/versions", body, JSON_HEADERS)
            assert_error(r, 413, "too_large",
                         f"body of {len(body)} bytes via NGINX (try {attempt})")
            others = [call("GET", "/modules?limit=1").status for _ in range(6)]
            assert others == [200] * 6, \
                f"other requests right after an oversized push got {others}"
        r = raw_post(STACK.lb_url, "/modules/bigbody/versions", body, chunked=True)
        assert_error(r, 413, "too_large", "chunked body over the limit via NGINX")
        # Far over every limit (NGINX's own included): still the JSON shape.
        huge = b'{"version": "1.0.0", "files": [{"path": "a.proto", "content": "' + \
            b"x" * (18 * 1024 * 1024) + b'"}]}'
        r = call("POST", "/modules/bigbody/versions", huge, JSON_HEADERS)
        assert_error(r, 413, "too_large", "18 MiB body via NGINX")
        assert_nothing_stored("bigbody", "1.0.0", before, "bodies over the limit via NGINX")
    finally:
        # Whatever happened above, later tests need the load balancer serving again.
        eventually(lb_serves, 15)
    # Just under the body limit is accepted.
    must_push("bigbody", "1.0.0", files[:3])


def test_hostile_url_paths():
    create_module("urlpath")
    must_push("urlpath", "1.0.0", [("a/b.proto", proto("urlpath")), ("c.proto", proto("c"))])
    base = "/modules/urlpath/versions/1.0.0/files"
    cases = [
        f"{base}/../../etc/passwd",
        f"{base}/../../../../../../etc/passwd",
        f"{base}/a/../../../../etc/passwd.proto",
        f"{base}/%2e%2e/%2e%2e/etc/passwd",
        f"{base}/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        f"{base}/..%2f..%2f..%2fetc%2fpasswd.proto",
        f"{base}/%2E%2E/c.proto",
        f"{base}/a/%2e%2e/c.proto",
        f"{base}/./c.proto",
        f"{base}//c.proto",
        f"{base}/a//b.proto",
        f"{base}/%2Fetc%2Fpasswd.proto",
        f"{base}/%2f%2fc.proto",
        f"{base}/a%5cb.proto",
        f"{base}/..%5c..%5cc.proto",
        f"{base}/c.proto%00",
        f"{base}/c.proto%00.txt",
        f"{base}/a%00b.proto",
        f"{base}/%00",
        f"{base}/c.proto%",
        f"{base}/c.proto%zz",
        f"{base}/c.proto%0",
        f"{base}/c%0a.proto",
        f"{base}/etc/passwd",
        f"{base}/",
        f"{base}",
        "/modules/urlpath%00/versions/1.0.0/files/c.proto",
        "/modules/urlpath/versions/1.0.0%00/files/c.proto",
        "/modules/%2e%2e/versions/1.0.0/files/c.proto",
        "/modules/../etc/passwd",
        "/modules/urlpath/../../etc/passwd",
        "/modules/urlpath/versions/..%2f..%2f..%2fetc%2fpasswd",
        "/modules/urlpath/versions/%2e%2e",
        "/../../etc/passwd",
        "/modules/%00",
        "/modules/urlpath%",
    ]
    for path in cases:
        for b in (STACK.lb_url, STACK.instance_urls[0]):
            r = call("GET", path, base=b)
            where = f"GET {path} via {b}"
            assert r.status in (400, 404), f"{where}: {describe(r)}"
            data = body_bytes(r)
            assert b"root:" not in data and b"/bin/" not in data, f"{where} leaked a file"
            assert_error(r, r.status, "invalid_argument" if r.status == 400 else "not_found", where)
            r = call("GET", path + "?raw=1", base=b)
            assert r.status in (400, 404), f"{where}?raw=1: {describe(r)}"
            assert b"root:" not in body_bytes(r), f"{where}?raw=1 leaked a file"
    # Direct to an instance, the contract is exact: dot segments, NULs and malformed escapes are
    # invalid input (400), never a file.
    exact400 = [
        f"{base}/../../etc/passwd", f"{base}/%2e%2e/%2e%2e/etc/passwd", f"{base}/a/%2e%2e/c.proto",
        f"{base}/./c.proto", f"{base}/a//b.proto", f"{base}/%2Fetc%2Fpasswd.proto",
        f"{base}/a%5cb.proto", f"{base}/c.proto%00", f"{base}/a%00b.proto", f"{base}/c.proto%zz",
        f"{base}/c%0a.proto", f"{base}/etc/passwd", "/modules/%2e%2e/versions/1.0.0/files/c.proto",
        "/modules/urlpath%00/versions/1.0.0/files/c.proto",
    ]
    for path in exact400:
        r = call("GET", path, base=STACK.instance_urls[1])
        assert_error(r, 400, "invalid_argument", f"GET {path} on an instance")
    # The legitimate files are still served.
    assert get_json(f"{base}/a/b.proto")["path"] == "a/b.proto"
    assert get_json(f"{base}/c.proto")["path"] == "c.proto"


def assert_any_error(resp, statuses, codes, what):
    """The one error shape with any of these statuses and codes."""
    assert resp.status in statuses, f"{what}: expected one of {statuses}, got {describe(resp)}"
    ctype = header(resp, "Content-Type") or ""
    assert ctype.startswith("application/json"), \
        f"{what}: {resp.status} with Content-Type {ctype!r}: {body_bytes(resp)[:120]!r}"
    j = json.loads(body_bytes(resp))
    assert j.get("code") in codes, f"{what}: code {j.get('code')!r}"
    rid = header(resp, "X-Request-Id")
    assert j.get("request_id") and j["request_id"] == rid, \
        f"{what}: request_id {j.get('request_id')!r} vs X-Request-Id {rid!r}"


def test_oversized_request_line_and_headers():
    """A URI or header block too large for NGINX gets the JSON error shape with a request id,
    never an HTML page. Sent straight to an instance, libmicrohttpd 0.9.75 refuses it before
    any of our code runs and with its own page (no hook exists to change it): that path only has
    to refuse, and leave the instance serving."""
    statuses, codes = (400, 413, 414, 431), ("invalid_argument", "too_large")
    cases = [
        (STACK.lb_url, "/modules/" + "a" * 20000, {}, "20 kB URI via NGINX"),
        (STACK.lb_url, "/modules", {"X-Big": "b" * 20000}, "20 kB header via NGINX"),
    ]
    failures = []
    for base, path, hdrs, what in cases:
        try:
            assert_any_error(call("GET", path, headers=hdrs, base=base), statuses, codes, what)
        except AssertionError as e:
            failures.append(str(e))
    for path, hdrs in (("/modules/" + "a" * 100000, {}), ("/modules", {"X-Big": "b" * 60000})):
        r = call("GET", path, headers=hdrs, base=STACK.instance_urls[0])
        if r.status not in (400, 413, 414, 431):
            failures.append(f"direct oversized request: {describe(r)}")
    assert not failures, "\n".join(failures)
    assert call("GET", "/modules", base=STACK.instance_urls[0]).status == 200
    assert lb_serves()


# ---- request ids --------------------------------------------------------------------------------

def test_request_id():
    create_module("rid-mod")
    for rid in ("abc-123", "req.42:x_Y-z", "A" * 128, "0"):
        for path, status in (("/modules/rid-mod", 200), ("/modules/rid-missing", 404)):
            r = call("GET", path, headers={"X-Request-Id": rid})
            assert r.status == status, describe(r)
            got = header(r, "X-Request-Id")
            assert got == rid, f"{rid!r} not echoed: {got!r}"
            if status == 404:
                assert r.json()["request_id"] == rid
        r = call("GET", "/modules/rid-mod", headers={"X-Request-Id": rid},
                 base=STACK.instance_urls[2])
        assert header(r, "X-Request-Id") == rid, "instance did not echo the id"

    seen = set()
    insane = ["x" * 300, "A" * 129, "has space", "semi;colon", "quote\"d", "<script>", "a/b",
              "tab\there", "{}", "é", ""]
    for base in (STACK.lb_url, STACK.instance_urls[0]):
        for i in range(4):
            r = call("GET", "/modules/rid-missing", base=base)
            rid = assert_request_id(r)
            assert r.json()["request_id"] == rid
            assert rid not in seen, f"request id {rid!r} repeated"
            seen.add(rid)
        for bad in insane:
            try:
                r = call("GET", "/modules/rid-missing", headers={"X-Request-Id": bad}, base=base)
            except (ValueError, UnicodeError):
                continue  # the client library refuses to send it: nothing to check
            rid = assert_request_id(r)
            assert rid != bad, f"insane id {bad[:40]!r} echoed via {base}"
            assert r.json()["request_id"] == rid
            assert rid not in seen, f"request id {rid!r} repeated"
            seen.add(rid)
    # Ids on every kind of response: success, 201, 304, 405, 413, HEAD.
    r = call("POST", "/modules", {"name": "rid-new"}, headers={"X-Request-Id": "rid-create"})
    assert r.status == 201 and header(r, "X-Request-Id") == "rid-create"
    r = call("DELETE", "/modules/rid-mod", headers={"X-Request-Id": "rid-405"})
    assert r.status == 405 and header(r, "X-Request-Id") == "rid-405", describe(r)
    assert r.json()["request_id"] == "rid-405", describe(r)
    r = call("HEAD", "/modules/rid-mod", headers={"X-Request-Id": "rid-head"})
    assert header(r, "X-Request-Id") == "rid-head"


# ---- concurrency --------------------------------------------------------------------------------

def test_concurrent_identical_pushes():
    create_module("conc-same")
    for round_ in range(3):
        ver = f"1.0.{round_}"
        files = [(f"f{i}.proto", proto(f"f{i}", f"round {round_}")) for i in range(5)]
        rs = parallel(16, lambda i: push("conc-same", ver, files, base=spread(i)))
        statuses = sorted(r.status for r in rs)
        assert statuses.count(201) == 1 and statuses.count(200) == 15, \
            f"{ver}: statuses {statuses}: {[describe(r) for r in rs if r.status >= 500][:2]}"
        digest = manifest_digest(files)
        for r in rs:
            assert r.json()["digest"] == digest, describe(r)
        assert_contents(get_json(f"/modules/conc-same/versions/{ver}"), files, ver)
    expect_module("conc-same", version_count=3, latest_version="1.0.2")


def test_concurrent_conflicting_pushes():
    create_module("conc-diff")
    # Each round's trees are unrelated to the last round's: this race is about digests, not
    # evolution, so the module checks no breaking rules.
    r = call("PUT", "/modules/conc-diff/policy", {"breaking": {"use": []}})
    assert r.status == 200, describe(r)
    for round_ in range(3):
        ver = f"2.0.{round_}"
        trees = [[("main.proto", proto("main", f"writer {i} round {round_}")),
                  (f"w{i}.proto", proto(f"w{i}"))] for i in range(16)]
        rs = parallel(16, lambda i: push("conc-diff", ver, trees[i], base=spread(i)))
        statuses = [r.status for r in rs]
        assert statuses.count(201) == 1 and statuses.count(409) == 15, \
            f"{ver}: statuses {sorted(statuses)}: " \
            f"{[describe(r) for r in rs if r.status != 409][:3]}"
        winner = statuses.index(201)
        wdigest = manifest_digest(trees[winner])
        assert rs[winner].json()["digest"] == wdigest
        for i, r in enumerate(rs):
            if i != winner:
                j = assert_error(r, 409, "conflict", f"loser {i}")
                assert j.get("existing_digest") == wdigest, j
                assert j.get("pushed_digest") == manifest_digest(trees[i]), j
        got = get_json(f"/modules/conc-diff/versions/{ver}")
        assert got["digest"] == wdigest
        assert_contents(got, trees[winner], f"{ver} holds the winner's files")
    expect_module("conc-diff", version_count=3)


def test_concurrent_module_creation():
    for round_ in range(3):
        name = f"conc-create-{round_}"
        rs = parallel(16, lambda i: call("POST", "/modules", {"name": name, "description": f"w{i}"},
                                         base=spread(i)))
        statuses = [r.status for r in rs]
        assert statuses.count(201) == 1 and statuses.count(409) == 15, sorted(statuses)
        for r in rs:
            if r.status == 409:
                assert_error(r, 409, "already_exists", name)
        winner = statuses.index(201)
        expect_module(name, description=f"w{winner}")

        def listed_once():
            assert [m["name"] for m in get_json(f"/modules?prefix={name}")] == [name]
        settled(listed_once)


def test_concurrent_pushes_of_different_versions():
    create_module("conc-many")
    rs = parallel(16, lambda i: push("conc-many", f"0.{i}.0", [("m.proto", proto("many", str(i)))],
                                     base=spread(i)))
    assert all(r.status == 201 for r in rs), sorted(r.status for r in rs)
    expect_module("conc-many", version_count=16, latest_version="0.15.0")
    expect_versions("conc-many", [f"0.{i}.0" for i in range(15, -1, -1)])


# ---- contents -----------------------------------------------------------------------------------

def test_200_files_round_trip():
    create_module("wide")
    files = [(f"pkg{i % 7}/sub{i % 3}/file_{i:03d}.proto",
              proto(f"w{i:03d}", f"file {i} " + "z" * i)) for i in range(200)]
    v = must_push("wide", "1.0.0", files)
    assert len(v["files"]) == 200 and v["digest"] == manifest_digest(files)
    for base in (STACK.lb_url, STACK.instance_urls[1]):
        got = get_json("/modules/wide/versions/1.0.0", base=base)
        assert_contents(got, files, f"200 files via {base}")
        assert [f["path"] for f in got["files"]] == sorted(p for p, _ in files)
    for path, content in files[::37]:
        r = call("GET", f"/modules/wide/versions/1.0.0/files/{path}?raw=1")
        assert r.status == 200 and body_bytes(r) == content.encode(), describe(r)
    r = push("wide", "1.0.0", list(reversed(files)))
    assert r.status == 200 and r.json()["digest"] == v["digest"], describe(r)


UNICODE_FILES = [
    ("cjk/服务/用户.proto", proto("cjk", "用户服务 — 日本語のコメント 한국어")),
    ("emoji/🚀/launch🎉.proto", proto("emoji", "rocket 🚀 family 👨‍👩‍👧‍👦 flag 🇯🇵 skin 👍🏽")),
    ("combining/cafe\u0301.proto",
     proto("comb", "e\u0301 vs \u00e9, a\u0308\u0323, Z\u0351\u0301\u0358")),
    ("combining/caf\u00e9.proto", proto("comb2", "precomposed \u00e9")),
    ("rtl/שלום/مرحبا.proto", proto("rtl", "עברית العربية \u202eRLO\u202c \u200fRLM")),
    ("misc/zero\u200bwidth.proto", proto("misc", "NBSP\u00a0ZWJ\u200dBOM\ufeff max \U0010fffd")),
]


def test_utf8_round_trip():
    create_module("unicode")
    v = must_push("unicode", "1.0.0", UNICODE_FILES)
    assert v["digest"] == manifest_digest(UNICODE_FILES), "digest over UTF-8 paths differs"
    assert sorted(files_of(v)) == sorted(p for p, _ in UNICODE_FILES)
    assert [f["path"] for f in v["files"]] == sorted(p for p, _ in UNICODE_FILES)
    for base in (STACK.lb_url, STACK.instance_urls[2]):
        r = call("GET", "/modules/unicode/versions/1.0.0", base=base)
        assert r.status == 200
        raw = body_bytes(r)
        raw.decode("utf-8")  # the reply is valid UTF-8
        assert_contents(r.json(), UNICODE_FILES, f"unicode via {base}")
    for path, content in UNICODE_FILES:
        r = call("GET", f"/modules/unicode/versions/1.0.0/files/{qpath(path)}?raw=1")
        assert r.status == 200 and body_bytes(r) == content.encode("utf-8"), \
            f"raw {path!r}: {describe(r)}"
        f = get_json(f"/modules/unicode/versions/1.0.0/files/{qpath(path)}")
        assert f["path"] == path and f["content"] == content
    # Combining and precomposed forms are different paths (no normalisation).
    got = get_json("/modules/unicode/versions/1.0.0/files/" + qpath("combining/caf\u00e9.proto"))
    assert got["path"] == "combining/caf\u00e9.proto", got["path"]
    # The same tree sent with \\u escapes (surrogate pairs for emoji) is the same version.
    r = push("unicode", "1.0.0", UNICODE_FILES, ascii_json=True)
    assert r.status == 200 and r.json()["digest"] == v["digest"], describe(r)


def test_empty_and_nul_content():
    create_module("edge-content")
    files = [("empty.proto", ""), ("nul.proto", "a\u0000b"), ("ctl.proto", "\x01\x02\t\r\n\x7f"),
             ("quotes.proto", '"\\\\"\\n/* */ </script>')]
    r = push("edge-content", "1.0.0", files)
    if r.status == 422:
        # Schema validation refuses content that does not compile; then the empty file alone
        # (valid proto) must round-trip, and a NUL inside a comment-less file is not a concern.
        assert_error(r, 422, "invalid_schema", "non-proto contents")
        files = [("empty.proto", "")]
        r = push("edge-content", "1.0.0", files)
    v = assert_json_response(r, 201, "push of edge-case contents")
    assert v["digest"] == manifest_digest(files)
    got = get_json("/modules/edge-content/versions/1.0.0")
    assert_contents(got, files, "edge contents")
    for path, content in files:
        r = call("GET", f"/modules/edge-content/versions/1.0.0/files/{path}?raw=1")
        assert r.status == 200 and body_bytes(r) == content.encode(), f"raw {path}: {describe(r)}"
        if path == "empty.proto":
            assert files_of(got)[path]["size"] == 0
            assert files_of(got)[path]["sha256"] == hashlib.sha256(b"").hexdigest()


# ---- across instances ---------------------------------------------------------------------------

def test_read_your_writes_across_instances():
    first, others = STACK.instance_urls[0], STACK.instance_urls[1:]
    assert len(STACK.instance_urls) >= 3
    create_module("ryw", base=first)
    for b in others:
        r = call("GET", "/modules/ryw", base=b)
        assert r.status == 200, f"module created on {first} is 404 on {b}: {describe(r)}"
    for i in range(10):
        ver = f"1.{i}.0"
        files = [("r.proto", proto("ryw", ver))]
        must_push("ryw", ver, files, base=first)
        for b in others:
            r = call("GET", f"/modules/ryw/versions/{ver}", base=b)
            assert r.status == 200, f"{ver} pushed on {first} is {r.status} on {b}: {describe(r)}"
            assert_contents(r.json(), files, f"{ver} on {b}")
            r = call("GET", f"/modules/ryw/versions/{ver}/files/r.proto?raw=1", base=b)
            assert r.status == 200 and body_bytes(r) == files[0][1].encode(), describe(r)
    # Mutable views converge on every instance (replica lag, cache invalidation).
    for b in STACK.instance_urls:
        def fresh(b=b):
            m = call("GET", "/modules/ryw", base=b)
            lst = call("GET", "/modules/ryw/versions", base=b)
            return (m.status == 200 and m.json()["version_count"] == 10 and
                    m.json()["latest_version"] == "1.9.0" and lst.status == 200 and
                    len(lst.json()) == 10)
        assert eventually(fresh, 15), f"{b} never showed all 10 versions"


def test_read_your_writes_first_version_and_lists():
    """Right after a write on one instance, other instances never answer 404 for what exists:
    the module's (empty) version list, and `latest` once a first version is pushed."""
    first, others = STACK.instance_urls[0], STACK.instance_urls[1:]
    for i in range(8):
        name = f"ryw-first-{i}"
        create_module(name, base=first)
        for b in others:
            r = call("GET", f"/modules/{name}/versions", base=b)
            assert r.status == 200, f"versions of {name} (created on {first}) on {b}: {describe(r)}"
        files = [("f.proto", proto(f"rywfirst{i}"))]
        # Pushed through another instance than the one that created the module.
        must_push(name, "0.1.0", files, base=first if i % 2 else others[0])
        others_now = others if i % 2 else [first, others[1]]
        for b in others_now:
            r = call("GET", f"/modules/{name}/versions/latest", base=b)
            assert r.status == 200, f"latest of {name} (just pushed) on {b}: {describe(r)}"
            assert r.json()["version"] == "0.1.0"
            r = call("GET", f"/modules/{name}/versions/latest/files/f.proto?raw=1", base=b)
            assert r.status == 200 and body_bytes(r) == files[0][1].encode(), describe(r)
    # A dependency pushed on one instance can be depended on at once through another.
    for i in range(6):
        dep, user = f"ryw-dep-{i}", f"ryw-use-{i}"
        create_module(dep, base=first)
        create_module(user, base=first)
        must_push(dep, "1.0.0", [(f"rywdep{i}/d.proto", proto(f"rywdep{i}"))], base=first)
        r = push(user, "1.0.0", [("u.proto", 'syntax = "proto3";\n'
                                  f'import "rywdep{i}/d.proto";\n'
                                  f'message U {{ e2e.rywdep{i}.Item d = 1; }}\n')],
                 deps=[f"{dep}@1.0.0"], base=others[i % 2])
        assert r.status == 201, f"push depending on {dep}@1.0.0 just pushed elsewhere: {describe(r)}"


def blob_file(h):
    """The file holding blob h in the stack's blob store: the S3 server's object file when the
    instances use S3 (@20minutes/s3rver keeps <data>/<bucket>/<key>._S3rver_object), else the
    filesystem store's. Both use the documented key proto-files/sha256/h[0:2]/h[2:]."""
    env = STACK.env
    key = os.path.join("proto-files", "sha256", h[:2], h[2:])
    if env.get("SPOKE_S3_ENDPOINT"):
        return os.path.join(STACK.path("s3"), env.get("SPOKE_S3_BUCKET", "spoke"),
                            key + "._S3rver_object"), "s3"
    root = env.get("SPOKE_FILESYSTEM_ROOT")
    assert root, f"neither S3 nor a filesystem root in the stack env: {sorted(env)}"
    return os.path.join(root, key), root


def test_blob_integrity():
    """Blobs live under the documented key (proto-files/sha256/h[0:2]/h[2:]); a corrupted or
    missing blob is never served as content: 500 internal without detail (or, from a cache,
    the original bytes)."""
    create_module("blobcheck")
    content = proto("blobcheck", "integrity marker")
    h = sha_hex(content)
    must_push("blobcheck", "1.0.0", [("b.proto", content), ("ok.proto", proto("blobok"))])
    blob, root = blob_file(h)
    assert os.path.isfile(blob), f"blob not stored under the documented key: {blob}"
    with open(blob, "rb") as f:
        assert f.read() == content.encode(), "stored blob differs from the pushed bytes"
    evil = content.replace("integrity marker", "INTEGRITY MARKER").encode()
    paths = ["/modules/blobcheck/versions/1.0.0/files/b.proto?raw=1",
             "/modules/blobcheck/versions/1.0.0/files/b.proto",
             "/modules/blobcheck/versions/1.0.0"]

    def check(what):
        for base in [STACK.lb_url] + list(STACK.instance_urls):
            for path in paths:
                r = call("GET", path, base=base)
                where = f"{what}: GET {path} via {base}"
                assert b"INTEGRITY MARKER" not in body_bytes(r), f"{where} served corrupted bytes"
                if r.status == 200:
                    assert b"integrity marker" in body_bytes(r), f"{where}: 200 without content"
                else:
                    j = assert_error(r, 500, "internal", where)
                    assert h not in j["error"] and root not in j["error"], f"{where} leaks {j}"
        r = call("GET", "/modules/blobcheck/versions/1.0.0/files/ok.proto?raw=1")
        assert r.status == 200, f"{what}: an intact file of the version: {describe(r)}"
    try:
        with open(blob, "wb") as f:
            f.write(evil)
        check("corrupted blob")
        os.remove(blob)
        check("missing blob")
    finally:
        with open(blob, "wb") as f:
            f.write(content.encode())
    r = call("GET", "/modules/blobcheck/versions/1.0.0/files/b.proto?raw=1")
    assert r.status == 200 and body_bytes(r) == content.encode(), describe(r)


def test_health_endpoints():
    r = call("GET", "/health/live")
    assert r.status == 200, f"/health/live via NGINX: {describe(r)}"
    assert_request_id(r)
    for url in [STACK.lb_url] + list(STACK.health_urls):
        r = call("GET", "/health/ready", base=url)
        j = assert_json_response(r, 200, f"/health/ready via {url}")
        assert j.get("status") == "ready", j
        checks = j.get("checks")
        assert isinstance(checks, dict), j
        for name in ("postgres_primary", "postgres_replicas", "blob_store"):
            c = checks.get(name)
            assert isinstance(c, dict) and c.get("status") == "ok", f"{url}: {name}: {c!r}"
            assert isinstance(c.get("latency_ms"), (int, float)), f"{url}: {name}: {c!r}"
        assert "1/1" in checks["postgres_replicas"].get("detail", ""), checks["postgres_replicas"]
    # The API port does not serve health, and the health port does not serve the API.
    assert call("GET", "/modules", base=STACK.health_urls[0]).status == 404


def main():
    run_with_stack(globals(), env=STACK_ENV)


if __name__ == "__main__":
    main()
