#!/usr/bin/env python3
"""End-to-end tests of the `spoke` CLI against the real local stack (Postgres primary + replica,
three spoke-server instances, NGINX): push/pull round trips, exit statuses, recursive pulls,
source information, --json output, breaking-change checks (buf-style lines, exit 6, pushes the
registry refuses) and diffs, and the failure modes a CI job meets.

One stack (SPOKE_MAX_FILES=600, so a 500-file push fits) serves the whole file; every test uses
its own module names. The CLI runs with a scrubbed environment: no SPOKE_*, GITHUB_* or CI_*
variables leak in from the machine running the tests.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from spoketest import run_with_stack, BUILD_DIR, poll, request  # noqa: E402

SPOKE = os.path.join(BUILD_DIR, "spoke")
STACK = None  # set by main()


# ---- helpers ------------------------------------------------------------------------------------


class Result:
    def __init__(self, p, elapsed):
        self.rc = p.returncode
        self.out = p.stdout
        self.err = p.stderr
        self.elapsed = elapsed

    @property
    def stdout(self):
        return self.out.decode("utf-8", "replace")

    @property
    def stderr(self):
        return self.err.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return f"<spoke rc={self.rc} stdout={self.stdout[:800]!r} stderr={self.stderr[:800]!r}>"


def clean_env(extra=None, registry=None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SPOKE_", "GITHUB_", "CI_", "GIT_"))}
    env["SPOKE_REGISTRY_URL"] = registry or STACK.lb_url
    env.update(extra or {})
    return env


def spoke(*args, env=None, cwd=None, timeout=180, registry=None):
    t0 = time.monotonic()
    p = subprocess.run([SPOKE, *args], env=clean_env(env, registry), cwd=cwd,
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    return Result(p, time.monotonic() - t0)


def proto(pkg, msg, body="", imports=()):
    lines = ['syntax = "proto3";', f"package {pkg};"]
    lines += [f'import "{i}";' for i in imports]
    lines.append(f"message {msg} {{ string name = 1; {body} }}")
    return "\n".join(lines) + "\n"


def write_tree(root, files):
    """files: {relative path (str or bytes): content (str or bytes)}."""
    for rel, content in files.items():
        rel_b = rel if isinstance(rel, bytes) else rel.encode()
        path = os.path.join(os.fsencode(root), rel_b)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content if isinstance(content, bytes) else content.encode())


def read_tree(root):
    """{relative path: bytes} of every file under root."""
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = f.read()
    return out


TMPDIRS = []


def tmpdir():
    d = tempfile.mkdtemp(prefix="spoke-cli-test-")
    TMPDIRS.append(d)
    return d


def get_json(path):
    r = request(STACK.lb_url, "GET", path)
    return r.status, (r.json() if r.body else None)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- round trips --------------------------------------------------------------------------------


def test_push_pull_round_trip_is_byte_identical():
    src, out = tmpdir(), tmpdir()
    files = {
        "acme/v1/money.proto": proto("acme.v1", "Money", "// Grüße, 日本語, emoji \U0001F680\n"),
        "acme/v1/deep/er/still/nested.proto": proto("acme.v1.deep", "Nested"),
        "dé/日本.proto": proto("acme.intl", "Intl"),
        "crlf.proto": proto("acme.crlf", "Crlf").replace("\n", "\r\n").encode(),
        "no_newline.proto": proto("acme.nonl", "NoNl").rstrip("\n") + "\t// tab, no newline",
    }
    write_tree(src, files)
    write_tree(src, {"README.md": "not sent", ".git/HEAD.proto": "hidden, not sent"})
    r = spoke("push", "--module", "rt.round", "--version", "1.0.0", "--dir", src)
    assert r.rc == 0, r
    assert "pushed rt.round@1.0.0: 5 files" in r.stdout, r
    assert "(module created)" in r.stdout, r

    r = spoke("pull", "--module", "rt.round", "--version", "1.0.0", "--dir", out)
    assert r.rc == 0, r
    want = {k: (v if isinstance(v, bytes) else v.encode()) for k, v in files.items()}
    assert read_tree(out) == want

    # latest, into a directory that does not exist yet, from inside another working directory
    out2 = os.path.join(tmpdir(), "new", "dir")
    r = spoke("pull", "--module", "rt.round", "--version", "latest", "--dir", out2)
    assert r.rc == 0, r
    assert read_tree(out2) == want

    # The registry stored exactly these paths, sorted.
    status, v = get_json("/modules/rt.round/versions/1.0.0")
    assert status == 200
    assert [f["path"] for f in v["files"]] == sorted(files, key=lambda p: p.encode())


def test_identical_repush_succeeds_and_conflict_exits_3():
    src = tmpdir()
    write_tree(src, {"a.proto": proto("idem", "A")})
    first = spoke("push", "--module", "rt.idem", "--version", "1.2.3", "--dir", src, "--json")
    assert first.rc == 0, first
    assert first.json()["status"] == "created"
    assert first.json()["module_created"] is True

    again = spoke("push", "--module", "rt.idem", "--version", "v1.2.3", "--dir", src, "--json")
    assert again.rc == 0, again
    assert again.json()["status"] == "unchanged"
    assert again.json()["digest"] == first.json()["digest"]
    human = spoke("push", "--module", "rt.idem", "--version", "1.2.3", "--dir", src)
    assert human.rc == 0 and "same content" in human.stdout, human

    write_tree(src, {"a.proto": proto("idem", "A", "int32 extra = 2;")})
    conflict = spoke("push", "--module", "rt.idem", "--version", "1.2.3", "--dir", src)
    assert conflict.rc == 3, conflict
    # The server's message, with both digests, reaches the user.
    assert "already exists with digest " + first.json()["digest"] in conflict.stderr, conflict
    assert "HTTP 409 conflict" in conflict.stderr, conflict
    assert conflict.stdout == "", conflict


def test_recursive_pull_of_a_dependency_chain():
    c, b, a = tmpdir(), tmpdir(), tmpdir()
    write_tree(c, {"chain/c/c.proto": proto("chain.c", "C")})
    write_tree(b, {"chain/b/b.proto": proto("chain.b", "B", "chain.c.C c = 2;",
                                            ["chain/c/c.proto"])})
    write_tree(a, {"chain/a/a.proto": proto("chain.a", "A", "chain.b.B b = 2;",
                                            ["chain/b/b.proto"])})
    assert spoke("push", "-m", "rt.chain-c", "--version", "1.0.0", "-d", c).rc == 0
    r = spoke("push", "-m", "rt.chain-b", "--version", "2.0.0", "-d", b, "--dep", "rt.chain-c@1.0.0")
    assert r.rc == 0, r
    r = spoke("push", "-m", "rt.chain-a", "--version", "3.0.0", "-d", a, "--dep", "rt.chain-b@2.0.0")
    assert r.rc == 0, r

    flat = tmpdir()
    r = spoke("pull", "-m", "rt.chain-a", "--version", "3.0.0", "-d", flat)
    assert r.rc == 0, r
    assert sorted(read_tree(flat)) == ["chain/a/a.proto"]
    assert "add --recursive" in r.stderr, r

    deep = tmpdir()
    r = spoke("pull", "-m", "rt.chain-a", "--version", "latest", "-d", deep, "--recursive", "--json")
    assert r.rc == 0, r
    assert sorted(read_tree(deep)) == ["chain/a/a.proto", "chain/b/b.proto", "chain/c/c.proto"]
    j = r.json()
    assert [(m["module"], m["version"]) for m in j["modules"]] == [
        ("rt.chain-a", "3.0.0"), ("rt.chain-b", "2.0.0"), ("rt.chain-c", "1.0.0")]
    assert j["modules"][2]["required_by"] == "rt.chain-b@2.0.0"
    assert j["files_written"] == 3
    assert read_tree(deep) == {**read_tree(a), **read_tree(b), **read_tree(c)}


def test_500_files():
    src, out = tmpdir(), tmpdir()
    files = {f"big/d{i // 25:02d}/f{i:03d}.proto": proto(f"big.d{i // 25}.f{i}", f"M{i}")
             for i in range(500)}
    write_tree(src, files)
    push = spoke("push", "--module", "rt.big", "--version", "1.0.0", "--dir", src, "--json")
    assert push.rc == 0, push
    assert len(push.json()["files"]) == 500
    pull = spoke("pull", "--module", "rt.big", "--version", "1.0.0", "--dir", out, "--json")
    assert pull.rc == 0, pull
    assert pull.json()["files_written"] == 500
    assert read_tree(out) == {k: v.encode() for k, v in files.items()}
    print(f"  500 files: push {push.elapsed:.2f}s, pull {pull.elapsed:.2f}s")


# ---- what the client refuses, and what it leaves to the server ---------------------------------


def test_non_utf8_file_name_rejected_before_sending():
    src = tmpdir()
    write_tree(src, {"good.proto": proto("nonutf", "Good"), b"sub/caf\xe9.proto": b"// latin-1 name"})
    r = spoke("push", "--module", "rt.nonutf", "--version", "1.0.0", "--dir", src)
    assert r.rc == 1, r
    assert 'sub/caf\\xe9.proto' in r.stderr and "not valid UTF-8" in r.stderr, r
    # Nothing reached the registry: not even the module was created.
    assert get_json("/modules/rt.nonutf")[0] == 404
    r = spoke("validate", "--dir", src)
    assert r.rc == 1 and "not valid UTF-8" in r.stderr, r


def test_server_rules_and_messages_shown():
    src = tmpdir()
    write_tree(src, {"a.proto": proto("srv", "A")})
    r = spoke("push", "--module", "rt.srv", "--version", "not-a-version", "--dir", src)
    assert r.rc == 1, r
    assert "HTTP 400 invalid_argument" in r.stderr, r
    r = spoke("push", "--module", "Bad_Name", "--version", "1.0.0", "--dir", src)
    assert r.rc == 1 and "invalid module name" in r.stderr, r
    # An empty directory: the registry's rule and message, and no module left behind.
    r = spoke("push", "--module", "rt.empty", "--version", "1.0.0", "--dir", tmpdir())
    assert r.rc == 1 and "at least one file" in r.stderr, r
    assert get_json("/modules/rt.empty")[0] == 404
    # A schema error on push: the registry's diagnostics.
    write_tree(src, {"a.proto": 'syntax = "proto3";\nmessage A { int32 a = 1 }\n'})
    r = spoke("push", "--module", "rt.srv", "--version", "1.0.0", "--dir", src)
    assert r.rc == 1 and "HTTP 422" in r.stderr, r


def test_validate():
    good, bad = tmpdir(), tmpdir()
    write_tree(good, {"v/ok.proto": proto("val.ok", "Ok")})
    write_tree(bad, {"v/broken.proto": 'syntax = "proto3";\nmessage X { int32 a = 1 }\n'})
    r = spoke("validate", "--dir", good)
    assert r.rc == 0 and "valid: 1 file compiles" in r.stdout, r
    r = spoke("validate", "--dir", good, "--json")
    assert r.rc == 0 and isinstance(r.json(), dict), r
    r = spoke("validate", "--dir", bad)
    assert r.rc == 1, r
    assert "v/broken.proto:2:" in r.stderr, r  # file:line:column diagnostics
    r = spoke("validate", "--dir", bad, "--json")
    assert r.rc == 1 and r.json()["code"] == "invalid_schema", r
    # Nothing was stored by either.
    assert get_json("/modules?prefix=val")[1] == []


# ---- breaking changes and diffs -----------------------------------------------------------------

PAY_PATH = "acme/pay/v1/payment.proto"
PAY_V1 = """syntax = "proto3";
package acme.pay.v1;

message Payment {
  string id = 1;
  int32 amount = 2;
  string currency = 3;
}
"""
# Field 2 retyped, field 3 deleted without reserving it.
PAY_BROKEN = """syntax = "proto3";
package acme.pay.v1;

message Payment {
  string id = 1;
  int64 amount = 2;
}
"""
PAY_V1_1 = PAY_V1.replace("  string currency = 3;\n", "  string currency = 3;\n  string note = 4;\n")
BUF_LINE = re.compile(r"^[^:\s]+\.proto(:\d+(:\d+)?)?: [A-Z0-9_]+ \S.*$")


def pay_dir(content):
    d = tmpdir()
    write_tree(d, {PAY_PATH: content, "README.md": "not sent"})
    return d


def rules_of(violations):
    return sorted({v["rule"] for v in violations})


def test_breaking_exits_6_with_buf_lines():
    m = "rt.brk"
    assert spoke("push", "-m", m, "--version", "1.0.0", "-d", pay_dir(PAY_V1)).rc == 0
    broken = pay_dir(PAY_BROKEN)
    r = spoke("breaking", "-m", m, "-d", broken)
    assert r.rc == 6, r
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and all(BUF_LINE.match(ln) for ln in lines), r
    assert any(ln.startswith(f"{PAY_PATH}:6:3: FIELD_SAME_TYPE ") and "amount" in ln
               for ln in lines), r
    assert any(re.match(rf"{re.escape(PAY_PATH)}:4:\d+: FIELD_NO_DELETE ", ln) for ln in lines), r
    assert f"spoke breaking: 2 breaking changes against {m}@1.0.0" in r.stderr, r

    # --json: the registry's answer, same verdict.
    r = spoke("breaking", "-m", m, "-d", broken, "--json")
    assert r.rc == 6, r
    j = r.json()
    assert j["compatible"] is False and j["against"] == ["1.0.0"], j
    assert rules_of(j["violations"]) == ["FIELD_NO_DELETE", "FIELD_SAME_TYPE"], j

    # Compatible: nothing on stdout, exit 0.
    r = spoke("breaking", "-m", m, "-d", pay_dir(PAY_V1_1))
    assert r.rc == 0 and r.stdout == "", r
    assert f"no breaking changes against {m}@1.0.0" in r.stderr, r
    r = spoke("breaking", "-m", m, "-d", pay_dir(PAY_V1_1), "--json")
    assert r.rc == 0 and r.json()["compatible"] is True and r.json()["violations"] == [], r

    # Nothing was stored by any of it.
    assert get_json(f"/modules/{m}")[1]["version_count"] == 1


def test_breaking_against_version_and_rules():
    m = "rt.brk-against"
    assert spoke("push", "-m", m, "--version", "1.0.0", "-d", pay_dir(PAY_V1)).rc == 0
    assert spoke("push", "-m", m, "--version", "1.1.0", "-d", pay_dir(PAY_V1_1)).rc == 0
    v1 = pay_dir(PAY_V1)
    # Against the latest (1.1.0), V1 lacks field 4; against 1.0.0 it is the same.
    r = spoke("breaking", "-m", m, "-d", v1)
    assert r.rc == 6 and "FIELD_NO_DELETE" in r.stdout and f"{m}@1.1.0" in r.stderr, r
    r = spoke("breaking", "-m", m, "-d", v1, "--against", "1.0.0")
    assert r.rc == 0 and f"no breaking changes against {m}@1.0.0" in r.stderr, r
    # As a new major (the module's SemVer policy): nothing to compare with.
    broken = pay_dir(PAY_BROKEN)
    r = spoke("breaking", "-m", m, "-d", broken, "--version", "2.0.0")
    assert r.rc == 0 and f"nothing in {m} to compare with" in r.stderr, r
    r = spoke("breaking", "-m", m, "-d", broken, "--version", "1.2.0", "--json")
    assert r.rc == 6 and r.json()["against"] == ["1.1.0"], r
    # The rules for this check only.
    r = spoke("breaking", "-m", m, "-d", broken, "--except", "FIELD_SAME_TYPE", "--except",
              "FIELD_NO_DELETE")
    assert r.rc == 0, r
    r = spoke("breaking", "-m", m, "-d", broken, "--use", "WIRE", "--json")
    assert r.rc == 6, r
    assert rules_of(r.json()["violations"]) == ["FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED"], r
    assert get_json(f"/modules/{m}")[1]["version_count"] == 2


def test_breaking_errors():
    cand = pay_dir(PAY_V1)
    r = spoke("breaking", "-m", "rt.brk-none", "-d", cand)
    assert r.rc == 4 and "not found" in r.stderr and r.stdout == "", r
    m = "rt.brk-err"
    assert spoke("push", "-m", m, "--version", "1.0.0", "-d", cand).rc == 0
    r = spoke("breaking", "-m", m, "-d", cand, "--against", "9.9.9")
    assert r.rc == 4 and "not found" in r.stderr, r
    bad = pay_dir('syntax = "proto3";\nmessage X { int32 a = 1 }\n')
    r = spoke("breaking", "-m", m, "-d", bad)
    assert r.rc == 1 and f"{PAY_PATH}:2:" in r.stderr and "HTTP 422" in r.stderr, r
    r = spoke("breaking", "-m", m, "-d", cand, "--use", "NO_SUCH_RULE")
    assert r.rc == 1 and "NO_SUCH_RULE" in r.stderr, r


def test_push_refused_for_breaking_changes_exits_6():
    m = "rt.brk-push"
    assert spoke("push", "-m", m, "--version", "1.0.0", "-d", pay_dir(PAY_V1)).rc == 0
    r = spoke("push", "-m", m, "--version", "1.1.0", "-d", pay_dir(PAY_BROKEN))
    assert r.rc == 6, r
    assert r.stdout == "", r
    lines = r.stderr.splitlines()
    assert any(ln.startswith(f"{PAY_PATH}:6:3: FIELD_SAME_TYPE ") for ln in lines), r
    assert any(re.match(rf"{re.escape(PAY_PATH)}:4:\d+: FIELD_NO_DELETE ", ln) for ln in lines), r
    assert "HTTP 409 breaking_change" in lines[-1], r
    assert get_json(f"/modules/{m}/versions/1.1.0")[0] == 404
    r = spoke("push", "-m", m, "--version", "1.1.0", "-d", pay_dir(PAY_BROKEN), "--json")
    assert r.rc == 6 and r.json()["code"] == "breaking_change", r
    assert rules_of(r.json()["details"]) == ["FIELD_NO_DELETE", "FIELD_SAME_TYPE"], r
    # A new major may break; a digest conflict stays exit 3.
    assert spoke("push", "-m", m, "--version", "2.0.0", "-d", pay_dir(PAY_BROKEN)).rc == 0
    r = spoke("push", "-m", m, "--version", "1.0.0", "-d", pay_dir(PAY_V1 + "// changed\n"))
    assert r.rc == 3 and "HTTP 409 conflict" in r.stderr, r


def test_diff_prints():
    m = "rt.diff"
    assert spoke("push", "-m", m, "--version", "1.0.0", "-d", pay_dir(PAY_V1)).rc == 0
    assert spoke("push", "-m", m, "--version", "2.0.0", "-d", pay_dir(PAY_BROKEN)).rc == 0
    r = spoke("diff", f"{m}@1.0.0", f"{m}@2.0.0")
    assert r.rc == 0, r
    assert "acme.pay.v1.Payment.currency" in r.stdout, r
    assert "FIELD_SAME_TYPE" in r.stdout and "WIRE: breaking" in r.stdout, r
    r = spoke("diff", f"{m}@1.0.0", f"{m}@latest", "--json")
    assert r.rc == 0, r
    j = r.json()
    assert (j["module"], j["from"], j["to"]) == (m, "1.0.0", "2.0.0"), j
    assert ("removed", "field", "acme.pay.v1.Payment.currency") in {
        (c["kind"], c["element"], c["name"]) for c in j["changes"]}, j
    assert set(j["violations"]) == {"FILE", "PACKAGE", "WIRE_JSON", "WIRE"}, j
    r = spoke("diff", f"{m}@1.0.0", f"{m}@3.0.0")
    assert r.rc == 4 and r.stdout == "", r


# ---- exit statuses -----------------------------------------------------------------------------


def test_unknown_module_exits_4():
    out = tmpdir()
    for args in (["pull", "--module", "rt.nope", "--version", "1.0.0", "--dir", out],
                 ["show", "rt.nope"], ["show", "rt.nope@1.0.0"], ["versions", "rt.nope"]):
        r = spoke(*args)
        assert r.rc == 4, (args, r)
        assert "not found" in r.stderr, r
    assert os.listdir(out) == []
    src = tmpdir()
    write_tree(src, {"a.proto": proto("nf", "A")})
    assert spoke("push", "-m", "rt.nf", "--version", "1.0.0", "-d", src).rc == 0
    r = spoke("pull", "-m", "rt.nf", "--version", "9.9.9", "-d", out)
    assert r.rc == 4, r


def test_bad_flags_exit_2():
    cases = [
        ["push", "--bogus"],
        ["push", "--module", "m"],                       # --version missing
        ["push", "--module"],                            # value missing
        ["pull", "--version", "1.0.0"],                  # --module missing
        ["pull", "-m", "m", "--version", "1", "extra"],  # stray argument
        ["show"],
        ["show", "a", "b"],
        ["versions"],
        ["list", "--retries", "many"],
        ["list", "--registry", "ftp://example.com"],
        ["list", "--json=yes"],
        ["breaking"],                                    # --module missing
        ["breaking", "-m", "m", "stray"],
        ["diff", "m@1.0.0"],
        ["diff", "m@1.0.0", "n@1.1.0"],                  # two modules
        ["diff", "m", "1.0.0", "1.1.0"],
        ["frobnicate"],
        [],
    ]
    for args in cases:
        r = spoke(*args)
        assert r.rc == 2, (args, r)
        assert r.stderr.strip(), (args, r)
        assert r.stdout == "", (args, r)
    for args in (["--help"], ["help"], ["push", "--help"], ["help", "pull"], ["--version"]):
        r = spoke(*args)
        assert r.rc == 0 and r.stdout, (args, r)
    r = spoke("--help")
    for line in ("0  success", "2  usage", "3  conflict", "4  not found", "5  registry unavailable",
                 "6  breaking change"):
        assert line in r.stdout, r
    r = spoke("push", "--help")
    assert "--module NAME" in r.stdout and "--dep MODULE@VERSION" in r.stdout, r
    r = spoke("breaking", "--help")
    assert r.rc == 0 and "--against VERSION" in r.stdout and "--except RULE" in r.stdout, r


def test_unreachable_registry_exits_5_in_bounded_time():
    url = f"http://127.0.0.1:{free_port()}"
    r = spoke("list", registry=url, timeout=60)
    assert r.rc == 5, r
    assert f"cannot reach the registry at {url}" in r.stderr, r
    assert "5 attempts" in r.stderr, r  # default: 4 retries
    assert r.elapsed < 20, r.elapsed
    r = spoke("pull", "-m", "x", "--version", "1.0.0", "--retries", "0", registry=url)
    assert r.rc == 5 and "1 attempt " in r.stderr and r.elapsed < 5, r
    # The registry URL from the environment, with credentials in it: never shown.
    r = spoke("list", "--retries", "0", registry=f"http://user:pa55w0rd@127.0.0.1:{free_port()}")
    assert r.rc == 5 and "pa55w0rd" not in r.stderr, r


# ---- output for scripts and people --------------------------------------------------------------


def test_json_outputs_parse():
    src = tmpdir()
    write_tree(src, {"j/a.proto": proto("js", "A")})
    for v in ("1.0.0", "1.1.0", "2.0.0-rc.1"):
        assert spoke("push", "-m", "rt.json", "--version", v, "-d", src, "-q").rc == 0
    # Lists are read from a replica, which may trail the pushes by a moment.
    def listed_all():
        r = spoke("list", "--prefix", "rt.js", "--json")
        return r if r.rc == 0 and r.json() and r.json()[0]["version_count"] == 3 else None
    listed = poll(listed_all, timeout=30, what="rt.json listed with 3 versions")
    assert [m["name"] for m in listed.json()] == ["rt.json"]
    assert listed.json()[0]["latest_version"] == "1.1.0"
    versions = spoke("versions", "rt.json", "--json")
    assert [v["version"] for v in versions.json()] == ["2.0.0-rc.1", "1.1.0", "1.0.0"]
    show = spoke("show", "rt.json", "--json").json()
    assert show["name"] == "rt.json" and show["version_count"] == 3
    one = spoke("show", "rt.json@latest", "--json").json()
    assert one["version"] == "1.1.0"
    assert [f["path"] for f in one["files"]] == ["j/a.proto"]
    assert "content" not in one["files"][0]
    # Global options before the command work too.
    r = spoke("--json", "versions", "rt.json")
    assert r.rc == 0 and len(r.json()) == 3, r
    # Human tables carry the same facts.
    r = spoke("versions", "rt.json")
    assert r.rc == 0 and r.stdout.splitlines()[0].split() == ["VERSION", "DIGEST", "CREATED"], r
    r = spoke("list", "--prefix", "rt.js")
    assert r.rc == 0 and "rt.json" in r.stdout and "1.1.0" in r.stdout, r
    r = spoke("show", "rt.json@1.0.0")
    assert r.rc == 0 and "j/a.proto" in r.stdout, r


def test_quiet_prints_nothing_on_success():
    src, out = tmpdir(), tmpdir()
    write_tree(src, {"q.proto": proto("quiet", "Q")})
    r = spoke("push", "-m", "rt.quiet", "--version", "1.0.0", "-d", src, "--quiet")
    assert r.rc == 0 and r.out == b"" and r.err == b"", r
    r = spoke("pull", "-m", "rt.quiet", "--version", "1.0.0", "-d", out, "-q")
    assert r.rc == 0 and r.out == b"" and r.err == b"", r


def test_description_and_source_info_from_git():
    repo = tmpdir()
    write_tree(repo, {"proto/g.proto": proto("gitsrc", "G")})
    git = ["git", "-C", repo, "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", "-b", "feature/x", repo], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "protos"], check=True)
    subprocess.run(git + ["remote", "add", "origin",
                          "https://oauth2:glpat-SECRET@git.example.com/acme/protos.git"], check=True)
    head = subprocess.run(git + ["rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()
    r = spoke("push", "-m", "rt.git", "--version", "1.0.0", "-d", os.path.join(repo, "proto"),
              "--description", "first words")
    assert r.rc == 0, r
    _, v = get_json("/modules/rt.git/versions/1.0.0")
    assert v["source_info"] == {"repository": "https://git.example.com/acme/protos.git",
                                "commit_sha": head, "branch": "feature/x"}, v
    assert get_json("/modules/rt.git")[1]["description"] == "first words"
    # --description on an existing module updates it.
    r = spoke("push", "-m", "rt.git", "--version", "1.0.1", "-d", os.path.join(repo, "proto"),
              "--description", "second words")
    assert r.rc == 0, r
    assert get_json("/modules/rt.git")[1]["description"] == "second words"


def main():
    run_with_stack(globals(), env={"SPOKE_MAX_FILES": "600"}, cleanup=remove_tmpdirs)


def remove_tmpdirs():
    for d in TMPDIRS:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
