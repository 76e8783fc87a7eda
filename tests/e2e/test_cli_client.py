#!/usr/bin/env python3
"""End-to-end tests of the `spoke` CLI's HTTP client against scripted registries: small HTTP
servers on loopback that answer what a test needs (503 with Retry-After, hostile paths, lying
Content-Length, redirects, pages, dependency graphs, silence). They check what a real registry
cannot be made to do on demand: retries are bounded and honour Retry-After, the token goes only
where it should, nothing is written outside --dir, and progress shows only on a terminal.

No stack: each test starts its own server and stops it.
"""
import hashlib
import http.server
import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from spoketest import BUILD_DIR, SOURCE_DIR, run  # noqa: E402

SPOKE = os.path.join(BUILD_DIR, "spoke")
DIGEST = "sha256:" + "0" * 64


# ---- a scripted registry ------------------------------------------------------------------------


class Fake:
    """An HTTP/1.1 server on 127.0.0.1. `answer(req)` gets {"method", "path", "headers", "body"}
    and returns (status, headers, body) with body bytes/str/JSON-able, or a callable taking the
    request handler (to write raw bytes). Every request is recorded in .requests."""

    def __init__(self, answer):
        self.answer = answer
        self.requests = []
        self.release = threading.Event()  # set on stop: handlers that wait give up
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                req = {"method": self.command, "path": self.path, "headers": self.headers,
                       "body": body}
                fake.requests.append(req)
                out = fake.answer(req)
                if callable(out):
                    out(self)
                    return
                status, headers, payload = out
                if not isinstance(payload, (bytes, str)):
                    payload = json.dumps(payload)
                if isinstance(payload, str):
                    payload = payload.encode()
                self.send_response(status)
                headers = dict(headers or {})
                headers.setdefault("Content-Type", "application/json")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = handle_any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        return False

    def paths(self, method=None):
        return [r["path"] for r in self.requests if method is None or r["method"] == method]


TMPDIRS = []


def tmpdir():
    d = tempfile.mkdtemp(prefix="spoke-cli-client-")
    TMPDIRS.append(d)
    return d


def error(status, code, message, headers=None):
    return status, headers or {}, {"error": message, "code": code, "request_id": "req-1"}


def version_doc(module, version, files, deps=()):
    return {"module_name": module, "version": version, "digest": DIGEST,
            "created_at": "2026-01-01T00:00:00Z",
            "files": [{"path": p, "content": c, "sha256": hashlib.sha256(c.encode()).hexdigest(),
                       "size": len(c.encode())} for p, c in files.items()],
            "dependencies": list(deps),
            "source_info": {"repository": "", "commit_sha": "", "branch": ""}}


def registry_of(versions):
    """An answer function serving {"module@version": doc} on GET /modules/{m}/versions/{v}."""
    def answer(req):
        parts = req["path"].split("/")
        if req["method"] == "GET" and len(parts) == 5 and parts[1] == "modules" and \
                parts[3] == "versions":
            doc = versions.get(f"{parts[2]}@{parts[4]}")
            if doc is not None:
                return 200, {}, doc
        return error(404, "not_found", f"{req['path']} not found")
    return answer


class Result:
    def __init__(self, p, elapsed):
        self.rc, self.out, self.err, self.elapsed = p.returncode, p.stdout, p.stderr, elapsed

    @property
    def stdout(self):
        return self.out.decode("utf-8", "replace")

    @property
    def stderr(self):
        return self.err.decode("utf-8", "replace")

    def __repr__(self):
        return f"<spoke rc={self.rc} {self.elapsed:.2f}s stdout={self.stdout[:600]!r} " \
               f"stderr={self.stderr[:600]!r}>"


def env_for(url, extra=None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SPOKE_", "GITHUB_", "CI_", "GIT_"))}
    env["SPOKE_REGISTRY_URL"] = url
    env.update(extra or {})
    return env


def spoke(url, *args, env=None, timeout=60, cwd=None):
    t0 = time.monotonic()
    p = subprocess.run([SPOKE, *args], env=env_for(url, env), cwd=cwd, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    return Result(p, time.monotonic() - t0)


def tree(root):
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            out[os.path.relpath(p, root)] = open(p, "rb").read()
    return out


# ---- retries ------------------------------------------------------------------------------------


def test_retry_after_is_honoured():
    answers = iter([error(503, "unavailable", "primary down", {"Retry-After": "1"}),
                    error(503, "unavailable", "primary down", {"Retry-After": "1"})])

    def answer(req):
        return next(answers, (200, {}, []))
    with Fake(answer) as f:
        r = spoke(f.url, "list", "--json")
        assert r.rc == 0, r
        assert json.loads(r.out) == []
        assert len(f.requests) == 3
        assert 2.0 <= r.elapsed < 10, r.elapsed


def test_retries_are_bounded_in_count():
    with Fake(lambda req: error(503, "unavailable", "the primary is down",
                                {"Retry-After": "0"})) as f:
        r = spoke(f.url, "versions", "acme", "--retries", "2")
        assert r.rc == 5, r
        assert len(f.requests) == 3
        assert "the primary is down (HTTP 503 unavailable, request id req-1)" in r.stderr, r
        f.requests.clear()
        r = spoke(f.url, "versions", "acme")  # the default: 4 retries
        assert r.rc == 5 and len(f.requests) == 5, r
        assert r.elapsed < 15, r


def test_retry_after_past_the_window_gives_up_at_once():
    with Fake(lambda req: error(503, "unavailable", "maintenance", {"Retry-After": "3600"})) as f:
        r = spoke(f.url, "show", "acme")
        assert r.rc == 5, r
        assert len(f.requests) == 1
        assert r.elapsed < 5, r


def test_gateway_errors_are_retried_and_other_errors_are_not():
    for status, want_requests, want_rc in ((502, 3, 5), (504, 3, 5), (500, 1, 1), (400, 1, 1)):
        with Fake(lambda req, s=status: (s, {"Content-Type": "text/html"},
                                         f"<html>{s}</html>")) as f:
            r = spoke(f.url, "list", "--retries", "2")
            assert r.rc == want_rc, (status, r)
            assert len(f.requests) == want_requests, (status, len(f.requests))
            assert f"<html>{status}</html> (HTTP {status})" in r.stderr, r


def test_push_is_retried_with_the_same_body():
    answers = iter([error(503, "unavailable", "busy", {"Retry-After": "0"})])
    src = tmpdir()
    with open(os.path.join(src, "a.proto"), "w") as fh:
        fh.write('syntax = "proto3";\n')

    def answer(req):
        if req["method"] == "POST" and req["path"] == "/modules/acme/versions":
            nxt = next(answers, None)
            if nxt:
                return nxt
            return 201, {}, {**version_doc("acme", "1.0.0", {"a.proto": ""}), "files": [{}]}
        return error(404, "not_found", "?")
    with Fake(answer) as f:
        r = spoke(f.url, "push", "-m", "acme", "--version", "1.0.0", "-d", src)
        assert r.rc == 0, r
        posts = [q for q in f.requests if q["method"] == "POST"]
        assert len(posts) == 2
        assert posts[0]["body"] == posts[1]["body"]
        body = json.loads(posts[0]["body"])
        assert body["version"] == "1.0.0"
        assert body["files"] == [{"path": "a.proto", "content": 'syntax = "proto3";\n'}]
        assert "dependencies" not in body and "source_info" not in body


def test_push_creates_only_a_missing_module():
    src = tmpdir()
    with open(os.path.join(src, "a.proto"), "w") as fh:
        fh.write('syntax = "proto3";\n')
    created = []

    def answer(req):
        m, p = req["method"], req["path"]
        if m == "POST" and p == "/modules":
            created.append(json.loads(req["body"]))
            return 201, {}, {"name": "acme"}
        if m == "POST" and p == "/modules/acme/versions":
            if not created:
                return error(404, "not_found", "module acme not found")
            return 201, {}, version_doc("acme", "1.0.0", {"a.proto": ""})
        if m == "GET" and p == "/modules/acme":
            return error(404, "not_found", "module acme not found") if not created else \
                (200, {}, {"name": "acme"})
        return error(404, "not_found", "no such endpoint")
    with Fake(answer) as f:
        r = spoke(f.url, "push", "-m", "acme", "--version", "1.0.0", "-d", src,
                  "--description", "d")
        assert r.rc == 0 and "(module created)" in r.stdout, r
        assert created == [{"name": "acme", "description": "d"}]
        assert [q["method"] + " " + q["path"] for q in f.requests] == [
            "POST /modules/acme/versions", "GET /modules/acme", "POST /modules",
            "POST /modules/acme/versions"]

    # A 404 about a dependency while the module exists: no module is created, exit 4.
    def dep_missing(req):
        if req["method"] == "GET" and req["path"] == "/modules/acme":
            return 200, {}, {"name": "acme"}
        if req["method"] == "POST" and req["path"] == "/modules":
            raise AssertionError("must not create the module")
        return error(404, "not_found", "dependency dep@1.0.0 does not exist")
    with Fake(dep_missing) as f:
        r = spoke(f.url, "push", "-m", "acme", "--version", "1.0.0", "-d", src,
                  "--dep", "dep@1.0.0")
        assert r.rc == 4 and "dependency dep@1.0.0 does not exist" in r.stderr, r
        assert [q["method"] for q in f.requests] == ["POST", "GET"]


def test_silent_server_times_out_in_bounded_time():
    def hang(handler):
        fake.release.wait(30)
    with Fake(lambda req: hang) as fake:
        r = spoke(fake.url, "list", "--timeout", "1", "--retries", "1")
        assert r.rc == 5, r
        assert "2 attempts" in r.stderr, r
        assert r.elapsed < 8, r


# ---- what goes over the wire --------------------------------------------------------------------


def test_token_sent_as_bearer_and_never_printed():
    with Fake(lambda req: error(500, "internal", "something broke")) as f:
        r = spoke(f.url, "list", env={"SPOKE_TOKEN": "tok-from-env-123"})
        assert r.rc == 1, r
        assert f.requests[0]["headers"]["Authorization"] == "Bearer tok-from-env-123"
        assert "tok-from-env-123" not in r.stdout + r.stderr
        r = spoke(f.url, "list", "--token", "tok-flag-456", env={"SPOKE_TOKEN": "other"})
        assert f.requests[-1]["headers"]["Authorization"] == "Bearer tok-flag-456"
        assert "tok-flag-456" not in r.stdout + r.stderr
        r = spoke(f.url, "list")
        assert f.requests[-1]["headers"].get("Authorization") is None
        assert f.requests[-1]["headers"]["User-Agent"].startswith("spoke/")


def test_redirects_are_not_followed():
    with Fake(lambda req: (200, {}, [])) as other:
        with Fake(lambda req: (302, {"Location": other.url + "/modules"}, "")) as f:
            r = spoke(f.url, "list", env={"SPOKE_TOKEN": "secret-token"})
            assert r.rc == 1, r
            assert other.requests == []


def test_pages_are_followed_on_the_named_registry_only():
    pages = {
        "0": ([{"name": "m1"}, {"name": "m2"}], "2"),
        "2": ([{"name": "m3"}, {"name": "m4"}], "4"),
        "4": ([{"name": "m5"}], None),
    }

    def answer(req):
        q = dict(kv.split("=", 1) for kv in req["path"].split("?", 1)[1].split("&"))
        items, nxt = pages[q.get("offset", "0")]
        headers = {}
        if nxt:  # the link names another host: only its query may be used
            headers["Link"] = f'<http://evil.invalid:1/modules?limit=2&offset={nxt}' \
                              f'&prefix=m>; rel="next"'
        return 200, headers, [{**m, "description": "", "latest_version": None,
                               "version_count": 0} for m in items]
    with Fake(answer) as f:
        r = spoke(f.url, "list", "--prefix", "m", "--json")
        assert r.rc == 0, r
        assert [m["name"] for m in json.loads(r.out)] == ["m1", "m2", "m3", "m4", "m5"]
        assert f.paths() == ["/modules?limit=1000&prefix=m",
                             "/modules?limit=2&offset=2&prefix=m",
                             "/modules?limit=2&offset=4&prefix=m"]

    # A link that never advances ends the listing instead of looping.
    with Fake(lambda req: (200, {"Link": '</modules?limit=1000>; rel="next"'},
                           [{"name": "x"}])) as f:
        r = spoke(f.url, "list", "--json")
        assert r.rc == 0 and len(f.requests) <= 2, r


def test_response_size_is_limited():
    def huge(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(4 * 1024 ** 3))
        handler.end_headers()
        handler.wfile.write(b"[")
    with Fake(lambda req: huge) as f:
        r = spoke(f.url, "list", "--retries", "0")
        assert r.rc == 1, r
        assert "larger than the client's limit of 512 MiB" in r.stderr, r
        assert r.elapsed < 5, r


def test_server_text_is_made_printable():
    with Fake(lambda req: error(400, "invalid_argument", "bad \x1b[31mred\x1b[0m \u0007 name")) as f:
        r = spoke(f.url, "show", "acme")
        assert r.rc == 1, r
        assert "\x1b" not in r.stderr and "\x07" not in r.stderr, r
        assert "bad \\x1b[31mred\\x1b[0m \\x07 name" in r.stderr, r


def test_non_json_success_is_an_error():
    with Fake(lambda req: (200, {"Content-Type": "text/html"}, "<html>portal</html>")) as f:
        r = spoke(f.url, "show", "acme")
        assert r.rc == 1 and "not JSON" in r.stderr, r


# ---- pull: what the server sends is checked before anything is written --------------------------


def test_hostile_paths_write_nothing():
    for bad in ("../escape.proto", "/tmp/abs.proto", "a/../../escape.proto", "a\\..\\x.proto",
                "ok/\u0000.proto", "not-a-proto.sh"):
        versions = {"evil@1.0.0": version_doc("evil", "1.0.0",
                                              {"good/first.proto": "ok", bad: "pwned"})}
        base = tmpdir()
        out = os.path.join(base, "out")
        with Fake(registry_of(versions)) as f:
            r = spoke(f.url, "pull", "-m", "evil", "--version", "1.0.0", "-d", out)
        assert r.rc == 1, (bad, r)
        assert "unsafe path" in r.stderr and "nothing was written" in r.stderr, r
        assert tree(base) == {}, (bad, tree(base))
        assert not os.path.exists("/tmp/abs.proto")


def test_checksum_mismatch_writes_nothing():
    doc = version_doc("acme", "1.0.0", {"a.proto": "real"})
    doc["files"][0]["content"] = "tampered"
    out = tmpdir()
    with Fake(registry_of({"acme@1.0.0": doc})) as f:
        r = spoke(f.url, "pull", "-m", "acme", "--version", "1.0.0", "-d", out)
    assert r.rc == 1 and "does not match its SHA-256" in r.stderr, r
    assert tree(out) == {}


def test_recursive_conflicting_versions_exit_3():
    versions = {
        "a@1.0.0": version_doc("a", "1.0.0", {"a.proto": "a"}, ["b@1.0.0", "c@1.0.0"]),
        "b@1.0.0": version_doc("b", "1.0.0", {"b.proto": "b"}, ["c@2.0.0"]),
        "c@1.0.0": version_doc("c", "1.0.0", {"c.proto": "c1"}),
        "c@2.0.0": version_doc("c", "2.0.0", {"c.proto": "c2"}),
    }
    out = tmpdir()
    with Fake(registry_of(versions)) as f:
        r = spoke(f.url, "pull", "-m", "a", "--version", "1.0.0", "-d", out, "-r")
    assert r.rc == 3, r
    assert "conflicting versions of c in the dependency graph: 1.0.0 (required by a@1.0.0) " \
           "and 2.0.0 (required by b@1.0.0)" in r.stderr, r
    assert tree(out) == {}


def test_recursive_dedupes_shared_dependencies_and_cycles():
    versions = {
        "a@1.0.0": version_doc("a", "1.0.0", {"a.proto": "a"}, ["b@1.0.0", "c@1.0.0"]),
        "b@1.0.0": version_doc("b", "1.0.0", {"b.proto": "b", "shared.proto": "same"},
                               ["c@1.0.0", "a@1.0.0"]),
        "c@1.0.0": version_doc("c", "1.0.0", {"c.proto": "c", "shared.proto": "same"}),
    }
    out = tmpdir()
    with Fake(registry_of(versions)) as f:
        r = spoke(f.url, "pull", "-m", "a", "--version", "1.0.0", "-d", out, "-r", "--json")
        assert r.rc == 0, r
        assert sorted(f.paths()) == ["/modules/a/versions/1.0.0", "/modules/b/versions/1.0.0",
                                     "/modules/c/versions/1.0.0"]
    assert tree(out) == {"a.proto": b"a", "b.proto": b"b", "c.proto": b"c", "shared.proto": b"same"}
    assert json.loads(r.out)["files_written"] == 4

    # One path with two contents across the graph: a conflict, nothing written.
    versions["c@1.0.0"] = version_doc("c", "1.0.0", {"shared.proto": "different"})
    out = tmpdir()
    with Fake(registry_of(versions)) as f:
        r = spoke(f.url, "pull", "-m", "a", "--version", "1.0.0", "-d", out, "-r")
    assert r.rc == 3 and "shared.proto is in both" in r.stderr, r
    assert tree(out) == {}


def test_validate_on_a_registry_without_the_route():
    src = tmpdir()
    open(os.path.join(src, "a.proto"), "w").write('syntax = "proto3";\n')
    for answer in (lambda req: error(404, "not_found", "no such endpoint"),
                   lambda req: (404, {"Content-Type": "text/html"}, "<html>404</html>")):
        with Fake(answer) as f:
            r = spoke(f.url, "validate", "-d", src)
            assert r.rc == 1, r
            assert "does not offer validation (POST /validate answered HTTP 404)" in r.stderr, r
    # A 404 about something else (a dependency) is the registry's message, exit 4.
    with Fake(lambda req: error(404, "not_found", "dependency dep@1.0.0 not found")) as f:
        r = spoke(f.url, "validate", "-d", src, "--dep", "dep@1.0.0")
        assert r.rc == 4 and "dependency dep@1.0.0 not found" in r.stderr, r
        assert json.loads(f.requests[0]["body"])["dependencies"] == ["dep@1.0.0"]


# ---- breaking changes and diffs -----------------------------------------------------------------

VIOLATIONS = [
    {"rule": "FIELD_SAME_TYPE", "categories": ["FILE", "PACKAGE"], "file": "acme/v1/pay.proto",
     "line": 12, "column": 3,
     "message": 'field 3 "amount" on message "acme.v1.Payment" changed type from "int32" to '
                '"int64"', "old": "int32", "new": "int64", "against": "1.0.0"},
    {"rule": "FILE_NO_DELETE", "categories": ["FILE"], "file": "acme/v1/old.proto", "line": 0,
     "column": 0, "message": 'previously present file "acme/v1/old.proto" was deleted',
     "old": None, "new": None, "against": "1.0.0"},
    {"rule": "PACKAGE_NO_DELETE", "categories": ["PACKAGE"], "file": "", "line": 0, "column": 0,
     "message": 'previously present package "acme.v0" was deleted\x1b[2J', "old": None,
     "new": None, "against": "1.0.0"},
]
VIOLATION_LINES = [
    'acme/v1/pay.proto:12:3: FIELD_SAME_TYPE field 3 "amount" on message "acme.v1.Payment" '
    'changed type from "int32" to "int64"',
    'acme/v1/old.proto: FILE_NO_DELETE previously present file "acme/v1/old.proto" was deleted',
    '<input>: PACKAGE_NO_DELETE previously present package "acme.v0" was deleted\\x1b[2J',
]
POLICY = {"breaking": {"use": ["FILE"], "except": ["FIELD_NO_DELETE"], "ignore": ["vendor/"]},
          "semver": True}


def compat_registry(verdict, calls=None):
    """Serves GET /modules/acme/policy and answers POST /modules/acme/compatibility with verdict
    (status, body)."""
    def answer(req):
        if calls is not None:
            calls.append(req)
        if req["method"] == "GET" and req["path"] == "/modules/acme/policy":
            return 200, {}, POLICY
        if req["method"] == "POST" and req["path"] == "/modules/acme/compatibility":
            return verdict[0], {}, verdict[1]
        return error(404, "not_found", "no such endpoint")
    return answer


def proto_dir():
    src = tmpdir()
    os.makedirs(os.path.join(src, "acme", "v1"))
    with open(os.path.join(src, "acme", "v1", "pay.proto"), "w") as fh:
        fh.write('syntax = "proto3";\n')
    with open(os.path.join(src, "notes.txt"), "w") as fh:
        fh.write("not sent\n")
    return src


def test_breaking_prints_buf_lines_and_exits_6():
    src = proto_dir()
    verdict = (409, {"compatible": False, "rules": "policy", "against": ["1.0.0"],
                     "violations": VIOLATIONS})
    with Fake(compat_registry(verdict)) as f:
        r = spoke(f.url, "breaking", "-m", "acme", "-d", src)
        assert r.rc == 6, r
        assert r.stdout.splitlines() == VIOLATION_LINES, r
        assert "spoke breaking: 3 breaking changes against acme@1.0.0" in r.stderr, r
        # The candidate is what a push would send; nothing else is asked for.
        assert f.paths() == ["/modules/acme/compatibility"], f.paths()
        body = json.loads(f.requests[0]["body"])
        assert body == {"files": [{"path": "acme/v1/pay.proto", "content": 'syntax = "proto3";\n'}]}

        r = spoke(f.url, "breaking", "-m", "acme", "-d", src, "--json")
        assert r.rc == 6 and json.loads(r.out) == verdict[1], r
        r = spoke(f.url, "breaking", "-m", "acme", "-d", src, "-q")
        assert r.rc == 6 and len(r.stdout.splitlines()) == 3, r

    # Compared with two versions (a back-ported patch): each line names its version.
    two = [dict(VIOLATIONS[0]), dict(VIOLATIONS[0], against="1.2.0")]
    with Fake(compat_registry((409, {"compatible": False, "against": ["1.0.0", "1.2.0"],
                                     "violations": two}))) as f:
        r = spoke(f.url, "breaking", "-m", "acme", "-d", src, "--version", "1.1.1")
        assert r.rc == 6, r
        assert [ln.rsplit(" ", 2)[1:] for ln in r.stdout.splitlines()] == [
            ["(against", "1.0.0)"], ["(against", "1.2.0)"]], r
        assert "2 breaking changes against acme@1.0.0, acme@1.2.0" in r.stderr, r


def test_breaking_options_reach_the_request():
    src = proto_dir()
    calls = []
    ok = (200, {"compatible": True, "rules": "request", "against": ["1.0.0"], "violations": []})
    with Fake(compat_registry(ok, calls)) as f:
        r = spoke(f.url, "breaking", "--module", "acme", "--dir", src, "--against", "1.0.0",
                  "--version", "1.1.0", "--dep", "money@2.0.0", "--dep", "geo@1.0.0",
                  "--except", "FIELD_SAME_TYPE", "--except", "FILE_NO_DELETE")
        assert r.rc == 0, r
        assert r.stdout == "", r
        assert "no breaking changes against acme@1.0.0" in r.stderr, r
        assert [q["method"] + " " + q["path"] for q in calls] == [
            "GET /modules/acme/policy", "POST /modules/acme/compatibility"]
        body = json.loads(calls[1]["body"])
        assert body["old_version"] == "1.0.0" and body["version"] == "1.1.0", body
        assert body["dependencies"] == ["money@2.0.0", "geo@1.0.0"], body
        # --except replaces the policy's exceptions; its categories and ignores stay.
        assert body["breaking"] == {"use": ["FILE"], "except": ["FIELD_SAME_TYPE",
                                                                "FILE_NO_DELETE"],
                                    "ignore": ["vendor/"]}, body
        calls.clear()
        r = spoke(f.url, "breaking", "-m", "acme", "-d", src, "--use", "WIRE", "--use",
                  "WIRE_JSON")
        assert r.rc == 0, r
        body = json.loads(calls[1]["body"])
        assert body["breaking"] == {"use": ["WIRE", "WIRE_JSON"], "except": ["FIELD_NO_DELETE"],
                                    "ignore": ["vendor/"]}, body
        assert "old_version" not in body and "version" not in body, body
        r = spoke(f.url, "breaking", "-m", "acme", "-d", src, "-q")
        assert r.rc == 0 and r.out == b"" and r.err == b"", r

    # Nothing to compare with (no versions yet, or a first major under SemVer).
    with Fake(compat_registry((200, {"compatible": True, "against": [], "violations": []}))) as f:
        r = spoke(f.url, "breaking", "-m", "acme", "-d", src)
        assert r.rc == 0 and "nothing in acme to compare with" in r.stderr, r


def test_breaking_errors():
    src = proto_dir()
    # An unknown module or version: the registry's message, exit 4.
    with Fake(lambda req: error(404, "not_found", "module acme not found")) as f:
        r = spoke(f.url, "breaking", "-m", "acme", "-d", src)
        assert r.rc == 4 and "module acme not found (HTTP 404 not_found" in r.stderr, r
        assert r.stdout == "", r
        r = spoke(f.url, "breaking", "-m", "acme", "-d", src, "--except", "X")
        assert r.rc == 4 and f.requests[-1]["path"] == "/modules/acme/policy", r
    # A registry without the route.
    with Fake(lambda req: error(404, "not_found", "no such endpoint")) as f:
        r = spoke(f.url, "breaking", "-m", "acme", "-d", src)
        assert r.rc == 1, r
        assert "does not offer breaking-change checks (POST /modules/{name}/compatibility " \
               "answered HTTP 404)" in r.stderr, r
    # Files that do not compile: the diagnostics, as validate prints them.
    bad = {"error": "schema does not compile", "code": "invalid_schema", "request_id": "r",
           "details": [{"file": "acme/v1/pay.proto", "line": 2, "column": 1,
                        "message": "Expected top-level statement"}]}
    with Fake(lambda req: (422, {}, bad)) as f:
        r = spoke(f.url, "breaking", "-m", "acme", "-d", src)
        assert r.rc == 1, r
        assert "acme/v1/pay.proto:2:1: Expected top-level statement" in r.stderr, r
        r = spoke(f.url, "breaking", "-m", "acme", "-d", src, "--json")
        assert r.rc == 1 and json.loads(r.out)["code"] == "invalid_schema", r
    # Usage.
    for args in (["breaking"], ["breaking", "-d", src], ["breaking", "-m", "acme", "extra"]):
        r = spoke("http://127.0.0.1:9", *args)
        assert r.rc == 2 and r.stdout == "", (args, r)


def test_push_refused_for_breaking_changes_exits_6():
    src = proto_dir()
    refusal = {"error": "this push of module acme breaks 3 rules against version 1.0.0",
               "code": "breaking_change", "request_id": "req-9", "details": VIOLATIONS}
    with Fake(lambda req: (409, {}, refusal)) as f:
        r = spoke(f.url, "push", "-m", "acme", "--version", "1.1.0", "-d", src)
        assert r.rc == 6, r
        assert r.stdout == "", r
        lines = r.stderr.splitlines()
        assert lines[:3] == VIOLATION_LINES, r
        assert "breaks 3 rules against version 1.0.0 (HTTP 409 breaking_change" in lines[3], r
        r = spoke(f.url, "push", "-m", "acme", "--version", "1.1.0", "-d", src, "--json")
        assert r.rc == 6 and json.loads(r.out)["details"] == VIOLATIONS, r
    # A digest conflict stays a conflict.
    with Fake(lambda req: error(409, "conflict", "1.1.0 already exists with digest x")) as f:
        r = spoke(f.url, "push", "-m", "acme", "--version", "1.1.0", "-d", src)
        assert r.rc == 3 and "FIELD" not in r.stderr, r


def test_diff():
    text = ("acme 1.0.0 -> 1.1.0: 1 change\n- field acme.v1.Payment.currency (a.proto:5)\n"
            "\nFILE: breaking\n  a.proto:4:1: FIELD_NO_DELETE gone\x1b[2J\n")
    doc = {"module": "acme", "from": "1.0.0", "to": "1.1.0", "changes": [],
           "violations": {"FILE": [], "PACKAGE": [], "WIRE_JSON": [], "WIRE": []}}

    def answer(req):
        if req["path"].startswith("/modules/acme/diff?"):
            if "format=text" in req["path"]:
                return 200, {"Content-Type": "text/plain; charset=utf-8"}, text
            return 200, {}, doc
        return error(404, "not_found", "version 9.9.9 of module acme not found")
    with Fake(answer) as f:
        r = spoke(f.url, "diff", "acme@1.0.0", "acme@1.1.0")
        assert r.rc == 0, r
        assert f.paths() == ["/modules/acme/diff?from=1.0.0&to=1.1.0&format=text"], f.paths()
        assert r.stdout == text.replace("\x1b", "\\x1b"), r
        r = spoke(f.url, "diff", "acme@1.0.0", "acme@latest", "--json")
        assert r.rc == 0 and json.loads(r.out) == doc, r
        assert f.paths()[-1] == "/modules/acme/diff?from=1.0.0&to=latest", f.paths()
        r = spoke(f.url, "diff", "acme@1.0.0+build.1", "acme@1.1.0")
        assert f.paths()[-1] == "/modules/acme/diff?from=1.0.0%2Bbuild.1&to=1.1.0&format=text"
        r = spoke(f.url, "diff", "other@1.0.0", "other@9.9.9")
        assert r.rc == 4 and "not found" in r.stderr and r.stdout == "", r
    with Fake(lambda req: error(404, "not_found", "no such endpoint")) as f:
        r = spoke(f.url, "diff", "acme@1.0.0", "acme@1.1.0")
        assert r.rc == 1 and "does not offer diffs" in r.stderr, r
    for args in (["diff"], ["diff", "acme@1.0.0"], ["diff", "acme", "1.0.0", "1.1.0"],
                 ["diff", "acme@1.0.0", "other@1.1.0"], ["diff", "acme@", "acme@1.0.0"],
                 ["diff", "@1.0.0", "acme@1.0.0"]):
        r = spoke("http://127.0.0.1:9", *args)
        assert r.rc == 2 and r.stdout == "", (args, r)


# ---- progress -----------------------------------------------------------------------------------


def slow_version(handler):
    body = json.dumps(version_doc("slow", "1.0.0", {"s.proto": "x" * 200000})).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    for i in range(0, len(body), 20000):  # ~2 s in all
        handler.wfile.write(body[i:i + 20000])
        handler.wfile.flush()
        time.sleep(0.2)


def test_progress_only_on_a_terminal():
    with Fake(lambda req: slow_version) as f:
        out = tmpdir()
        r = spoke(f.url, "pull", "-m", "slow", "--version", "1.0.0", "-d", out)
        assert r.rc == 0, r
        assert "received" not in r.stderr, r

        master, slave = pty.openpty()
        p = subprocess.Popen([SPOKE, "pull", "-m", "slow", "--version", "1.0.0", "-d",
                              tmpdir()], env=env_for(f.url), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        seen = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            elif p.poll() is not None:
                break
        p.wait(30)
        os.close(master)
        assert p.returncode == 0, seen
        assert b"pulling slow@1.0.0: received" in seen, seen


# ---- the documentation says what the binary does -----------------------------------------------


def help_options():
    """{command: [--long options]} from the binary's own help."""
    text = subprocess.run([SPOKE, "--help"], capture_output=True, text=True, check=True).stdout
    commands = re.findall(r"^  ([a-z]+) {2,}", text.split("commands:")[1].split("global options")[0],
                          re.M)
    out = {}
    for c in commands:
        h = subprocess.run([SPOKE, c, "--help"], capture_output=True, text=True, check=True).stdout
        out[c] = sorted(set(re.findall(r"--([a-z][a-z-]*)", h)))
    return out


def test_docs_and_man_page_cover_every_command_and_option():
    options = help_options()
    assert sorted(options) == ["breaking", "diff", "list", "pull", "push", "show", "validate",
                               "versions"], options
    md = open(os.path.join(SOURCE_DIR, "docs", "cli.md"), encoding="utf-8").read()
    man = open(os.path.join(SOURCE_DIR, "docs", "spoke.1"), encoding="utf-8").read()
    man_text = man.replace("\\-", "-")
    for cmd, opts in options.items():
        assert f"spoke {cmd}" in md, cmd
        assert re.search(rf"^\.B(R)? {cmd}\b|^\.B spoke {cmd}\b", man, re.M), cmd
        for o in opts:
            assert f"--{o}" in md, (cmd, o)
            assert f"--{o}" in man_text, (cmd, o)
    for status in range(7):
        assert f"| {status} |" in md, status
        assert f".B {status}\n" in man, status


def test_man_page_renders():
    path = os.path.join(SOURCE_DIR, "docs", "spoke.1")
    p = subprocess.run(["groff", "-ww", "-man", "-z", path], capture_output=True, text=True)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    p = subprocess.run(["man", "-l", path], capture_output=True, text=True,
                       env={**os.environ, "MANWIDTH": "80", "MANPAGER": "cat", "PAGER": "cat"})
    assert p.returncode == 0 and p.stderr == "", p.stderr
    for section in ("NAME", "SYNOPSIS", "OPTIONS", "ENVIRONMENT", "EXIT STATUS"):
        assert section in p.stdout, section


if __name__ == "__main__":
    try:
        run(globals())
    finally:
        for d in TMPDIRS:
            shutil.rmtree(d, ignore_errors=True)
