"""Schema validation and dependencies through NGINX and three instances: pushes that do not
compile are refused with 422 and stored nowhere, dependency chains compile across pushes, and
the dependency routes and POST /validate answer as api/openapi.yaml says."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from spoketest import Stack, request, run  # noqa: E402

STACK = None


def lb(method, path, body=None, headers=None):
    return request(STACK.lb_url, method, path, body, headers)


def proto(package, body, imports=()):
    lines = ['syntax = "proto3";', f"package {package};"]
    lines += [f'import "{i}";' for i in imports]
    return "\n".join(lines + [body, ""])


def module(name):
    r = lb("POST", "/modules", {"name": name})
    assert r.status == 201, r


def push(name, version, files, deps=None):
    body = {"version": version, "files": [{"path": p, "content": c} for p, c in files]}
    if deps is not None:
        body["dependencies"] = deps
    return lb("POST", f"/modules/{name}/versions", body)


def assert_invalid_schema(r, needle=None):
    assert r.status == 422, r
    j = r.json()
    assert j["code"] == "invalid_schema", j
    assert j["request_id"] == r.header("X-Request-Id"), j
    assert isinstance(j["details"], list) and j["details"], j
    for d in j["details"]:
        assert set(d) == {"file", "line", "column", "message"}, d
    if needle:
        assert any(needle in d["message"] for d in j["details"]) or needle in j["error"], j
    return j


def test_syntax_error_is_422_with_position_and_stores_nothing():
    module("v.syntax")
    r = push("v.syntax", "1.0.0", [("a.proto", proto("v.syntax", "message A { int32 id = 1 }"))])
    j = assert_invalid_schema(r)
    d = j["details"][0]
    assert d["file"] == "a.proto" and d["line"] == 3 and d["column"] > 0, d
    assert lb("GET", "/modules/v.syntax/versions/1.0.0").status == 404
    assert lb("GET", "/modules/v.syntax").json()["version_count"] == 0


def test_unresolved_import_names_the_import():
    module("v.imports")
    r = push("v.imports", "1.0.0",
             [("a.proto", proto("v.imports", "message A {}", ["other/missing.proto"]))])
    j = assert_invalid_schema(r)
    assert any(d["file"] == "other/missing.proto" for d in j["details"]), j
    assert any("other/missing.proto" in d["message"] and d["file"] == "a.proto"
               for d in j["details"]), j


def test_unknown_dependency_is_422_naming_it():
    module("v.ghost")
    r = push("v.ghost", "1.0.0", [("a.proto", proto("v.ghost", "message A {}"))],
             deps=["nobody.here@1.0.0"])
    assert_invalid_schema(r, "nobody.here@1.0.0")


def test_latest_is_refused_as_a_dependency():
    module("v.latest")
    r = push("v.latest", "1.0.0", [("a.proto", proto("v.latest", "message A {}"))],
             deps=["v.syntax@latest"])
    assert r.status == 400 and r.json()["code"] == "invalid_argument", r


def test_two_level_dependency_chain_compiles_and_is_queryable():
    for m in ("chain.c", "chain.b", "chain.a"):
        module(m)
    r = push("chain.c", "1.0.0", [("chain/c/v1/c.proto",
                                    proto("chain.c.v1", "message C { string id = 1; }"))])
    assert r.status == 201, r
    r = push("chain.b", "1.2.0", [("chain/b/v1/b.proto",
                                    proto("chain.b.v1", "message B { chain.c.v1.C c = 1; }",
                                          ["chain/c/v1/c.proto"]))], deps=["chain.c@1.0.0"])
    assert r.status == 201, r
    # a imports both b and (transitively available) c, declaring only b.
    a_src = proto("chain.a.v1", "message A { chain.b.v1.B b = 1; chain.c.v1.C c = 2; }",
                  ["chain/b/v1/b.proto", "chain/c/v1/c.proto"])
    r = push("chain.a", "v2.0.0", [("chain/a/v1/a.proto", a_src)], deps=["chain.b@v1.2.0"])
    assert r.status == 201, r
    assert r.json()["dependencies"] == ["chain.b@1.2.0"], r.json()

    direct = lb("GET", "/modules/chain.a/versions/2.0.0/dependencies")
    assert direct.status == 200 and direct.json() == [
        {"module_name": "chain.b", "version": "1.2.0"}], direct
    closure = lb("GET", "/modules/chain.a/versions/latest/dependencies?transitive=true")
    assert closure.json() == [{"module_name": "chain.c", "version": "1.0.0"},
                              {"module_name": "chain.b", "version": "1.2.0"}], closure
    dependents = lb("GET", "/modules/chain.c/versions/1.0.0/dependents")
    assert dependents.json() == [{"module_name": "chain.b", "version": "1.2.0"}], dependents
    page = lb("GET", "/modules/chain.b/versions/1.2.0/dependents?limit=1")
    assert page.json() == [{"module_name": "chain.a", "version": "2.0.0"}], page
    assert page.header("Link") is None, page
    assert lb("GET", "/modules/chain.c/versions/9.9.9/dependents").status == 404
    bad = lb("GET", "/modules/chain.a/versions/2.0.0/dependencies?transitive=maybe")
    assert bad.status == 400, bad


def test_dependents_paginate_with_link():
    module("fan.base")
    assert push("fan.base", "1.0.0", [("fan/base.proto", proto("fan", "message Base {}"))]).status == 201
    for i in range(3):
        module(f"fan.user{i}")
        r = push(f"fan.user{i}", "1.0.0",
                 [(f"fan/u{i}.proto", proto(f"fan.u{i}", "message U { fan.Base b = 1; }",
                                            ["fan/base.proto"]))], deps=["fan.base@1.0.0"])
        assert r.status == 201, r
    first = lb("GET", "/modules/fan.base/versions/1.0.0/dependents?limit=2")
    assert [d["module_name"] for d in first.json()] == ["fan.user0", "fan.user1"], first
    link = first.header("Link")
    assert link and 'rel="next"' in link and "offset=2" in link, first
    rest = lb("GET", "/modules/fan.base/versions/1.0.0/dependents?limit=2&offset=2")
    assert [d["module_name"] for d in rest.json()] == ["fan.user2"], rest


def test_dependency_files_may_not_be_shadowed():
    module("shadow.dep")
    module("shadow.user")
    assert push("shadow.dep", "1.0.0", [("shared.proto", proto("s", "message S {}"))]).status == 201
    r = push("shadow.user", "1.0.0", [("shared.proto", proto("s", "message S { int32 x = 1; }"))],
             deps=["shadow.dep@1.0.0"])
    assert_invalid_schema(r, "shadow.dep@1.0.0")


def test_well_known_types_and_reserved_paths():
    module("v.wkt")
    src = proto("v.wkt", "message E { google.protobuf.Timestamp at = 1; google.protobuf.Any a = 2;"
                " google.protobuf.Struct s = 3; }",
                ["google/protobuf/timestamp.proto", "google/protobuf/any.proto",
                 "google/protobuf/struct.proto"])
    assert push("v.wkt", "1.0.0", [("e.proto", src)]).status == 201
    r = push("v.wkt", "1.0.1", [("google/protobuf/mine.proto", proto("google.protobuf", "message M {}"))])
    assert_invalid_schema(r, "reserved")
    r = push("v.wkt", "1.0.2", [("h.proto", proto("v.wkt", "message H {}", ["stdio.h"]))])
    j = assert_invalid_schema(r)
    assert any(d["file"] == "stdio.h" and "not found" in d["message"] for d in j["details"]), j


def test_validate_dry_run_stores_nothing():
    r = lb("POST", "/validate", {"files": [{"path": "x/y.proto", "content": proto(
        "x.y", "message Y { map<string, int64> m = 1; oneof o { string s = 2; } }\n"
        "service S { rpc Get(Y) returns (Y); }\nenum K { K_UNSPECIFIED = 0; }")}]})
    assert r.status == 200, r
    j = r.json()
    assert j["valid"] is True, j
    assert sorted((s["kind"], s["name"]) for s in j["symbols"]) == [
        ("enum", "x.y.K"), ("message", "x.y.Y"), ("service", "x.y.S")], j
    bad = lb("POST", "/validate", {"files": [{"path": "x.proto", "content": "message {"}]})
    assert_invalid_schema(bad)
    assert lb("POST", "/validate", {"files": []}).status == 400
    assert lb("POST", "/validate", b"{nope").status == 400
    assert lb("GET", "/validate").status == 405
    dep = lb("POST", "/validate", {"files": [{"path": "z.proto", "content": proto(
        "z", "message Z { chain.c.v1.C c = 1; }", ["chain/c/v1/c.proto"])}],
        "dependencies": ["chain.c@1.0.0"]})
    assert dep.status == 200, dep


def test_hostile_schema_is_stopped_by_the_limits():
    # Enough definitions that protoc cannot finish within the instances' 300 ms limit.
    module("v.hostile")
    body = "\n".join(f"message M{i} {{ " + " ".join(
        f"string f{j} = {j + 1};" for j in range(40)) + " }" for i in range(6000))
    t0 = time.monotonic()
    r = push("v.hostile", "1.0.0", [("big.proto", proto("v.hostile", body))])
    took = time.monotonic() - t0
    j = assert_invalid_schema(r, "time limit")
    assert took < 10, took
    assert lb("GET", "/modules/v.hostile").json()["version_count"] == 0, j


def main():
    global STACK
    env = {"SPOKE_PROTOC_TIMEOUT_MS": "300", "SPOKE_MAX_BODY_BYTES": str(16 << 20),
           "SPOKE_MAX_FILE_BYTES": str(16 << 20)}
    with Stack(env=env) as s:
        STACK = s
        run(globals())


if __name__ == "__main__":
    main()
