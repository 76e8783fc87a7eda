#!/usr/bin/env python3
"""End-to-end tests of schema evolution (docs/evolution.md) against the real local stack:
breaking pushes refused with 409 and their violations, major bumps and 0.x allowed, back-ported
patches checked against both neighbours, policies that take effect on every instance at once,
the compatibility and diff routes, versions stored without source info, concurrent pushes that
would break each other, and the refusal metric.

One stack serves the whole file; every test uses its own module names.
"""
import json
import os
import re
import sys
import threading
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from spoketest import run_with_stack, request  # noqa: E402

STACK = None  # set by main()

PAYMENT_V1 = """syntax = "proto3";
package acme.payments.v1;

message Payment {
  string id = 1;
  int32 amount = 2;
  string currency = 3;
}
"""

# Field 3 deleted without reserving it; field 2 retyped.
PAYMENT_BROKEN = """syntax = "proto3";
package acme.payments.v1;

message Payment {
  string id = 1;
  int64 amount = 2;
}
"""

# Compatible with V1: a field added.
PAYMENT_V1_1 = PAYMENT_V1.replace('  string currency = 3;\n',
                                  '  string currency = 3;\n  string note = 4;\n')

PATH = "acme/payments/v1/payment.proto"


def call(method, path, body=None, base=None):
    hdrs = {}
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    elif isinstance(body, str):
        body = body.encode()
    return request(base or STACK.lb_url, method, path, body=body, headers=hdrs)


def describe(r):
    return f"{r.status} {(r.body or b'')[:600]!r}"


def create(module, base=None):
    r = call("POST", "/modules", {"name": module}, base=base)
    assert r.status == 201, describe(r)


def push(module, version, content, base=None, path=PATH):
    return call("POST", f"/modules/{module}/versions",
                {"version": version, "files": [{"path": path, "content": content}]}, base=base)


def pushed(module, version, content, base=None):
    r = push(module, version, content, base=base)
    assert r.status == 201, f"push {module}@{version}: {describe(r)}"


def error_of(r, status, code):
    assert r.status == status, describe(r)
    j = r.json()
    assert j.get("code") == code, j
    assert isinstance(j.get("error"), str) and j["error"], j
    assert isinstance(j.get("request_id"), str), j
    return j


def rules(violations):
    return sorted({v["rule"] for v in violations})


def check_violation_shape(v):
    for key in ("rule", "categories", "file", "line", "column", "message", "old", "new"):
        assert key in v, v
    assert isinstance(v["categories"], list), v
    assert isinstance(v["line"], int) and isinstance(v["column"], int), v


# ---- pushes -------------------------------------------------------------------------------------

def test_breaking_push_refused_with_violations_and_nothing_stored():
    m = "evo.refused"
    create(m)
    pushed(m, "1.0.0", PAYMENT_V1)
    r = push(m, "1.1.0", PAYMENT_BROKEN)
    j = error_of(r, 409, "breaking_change")
    details = j.get("details")
    assert isinstance(details, list) and details, j
    for v in details:
        check_violation_shape(v)
        assert v["against"] == "1.0.0", v
    assert rules(details) == ["FIELD_NO_DELETE", "FIELD_SAME_TYPE"], details
    retype = next(v for v in details if v["rule"] == "FIELD_SAME_TYPE")
    assert retype["file"] == PATH, retype
    assert (retype["line"], retype["column"]) == (6, 3), retype  # the type of field 2
    assert retype["old"] == "int32" and retype["new"] == "int64", retype
    # buf's own wording, so that output reads the same as `buf breaking`'s
    assert retype["message"] == ('Field "2" with name "amount" on message "Payment" changed type '
                                 'from "int32" to "int64".'), retype
    delete = next(v for v in details if v["rule"] == "FIELD_NO_DELETE")
    assert delete["line"] == 4, delete  # buf points at the message that lost the field
    assert "currency" in delete["message"] or "3" in delete["message"], delete
    # Nothing was stored, through any instance.
    for base in STACK.instance_urls:
        assert call("GET", f"/modules/{m}/versions/1.1.0", base=base).status == 404
        assert call("GET", f"/modules/{m}", base=base).json()["version_count"] == 1
    # A compatible minor goes in.
    pushed(m, "1.1.0", PAYMENT_V1_1)


def test_major_bump_and_zero_x_and_prereleases_allowed():
    m = "evo.major"
    create(m)
    pushed(m, "1.0.0", PAYMENT_V1)
    pushed(m, "2.0.0", PAYMENT_BROKEN)  # a new major may break
    # 2.1.0 is compared with 2.0.0, not 1.0.0: going back to V1's shape breaks 2.0.0.
    r = push(m, "2.1.0", PAYMENT_V1)
    error_of(r, 409, "breaking_change")
    z = "evo.zero"
    create(z)
    pushed(z, "0.1.0", PAYMENT_V1)
    pushed(z, "0.2.0", PAYMENT_BROKEN)  # SemVer allows anything in 0.x
    p = "evo.pre"
    create(p)
    pushed(p, "1.0.0", PAYMENT_V1)
    pushed(p, "1.1.0-rc.1", PAYMENT_BROKEN)  # pre-releases promise nothing
    # ... and a pre-release is never what a release is compared with
    pushed(p, "1.1.0", PAYMENT_V1_1)


def test_backported_patch_checked_against_predecessor_and_successor():
    m = "evo.backport"
    create(m)
    pushed(m, "1.2.0", PAYMENT_V1)
    pushed(m, "1.3.0", PAYMENT_V1_1)
    # 1.2.5 between them: compatible with 1.2.0, but 1.3.0 would then lose field 4's type change
    with_other_note = PAYMENT_V1.replace('  string currency = 3;\n',
                                         '  string currency = 3;\n  int64 note = 4;\n')
    r = push(m, "1.2.5", with_other_note)
    j = error_of(r, 409, "breaking_change")
    assert {v["against"] for v in j["details"]} == {"1.3.0"}, j
    assert "FIELD_SAME_TYPE" in rules(j["details"]), j
    pushed(m, "1.2.5", PAYMENT_V1)  # the same schema as its neighbour below is fine


def test_policy_takes_effect_on_every_instance_at_once():
    m = "evo.policy"
    create(m)
    a, b, c = STACK.instance_urls
    r = call("GET", f"/modules/{m}/policy", base=b)
    assert r.status == 200, describe(r)
    assert r.json() == {"breaking": {"use": ["FILE"], "except": [], "ignore": []}, "semver": True,
                        "default": True}, r.json()
    pushed(m, "1.0.0", PAYMENT_V1, base=a)
    renamed = PAYMENT_V1.replace("string currency = 3", "string currency_code = 3")
    error_of(push(m, "1.1.0", renamed, base=b), 409, "breaking_change")  # FIELD_SAME_NAME
    # Warm every instance's cache of the policy, then change it through one of them.
    for base in (a, b, c):
        assert call("GET", f"/modules/{m}/policy", base=base).json()["breaking"]["use"] == ["FILE"]
    r = call("PUT", f"/modules/{m}/policy", {"breaking": {"use": ["WIRE"]}, "semver": True}, base=a)
    assert r.status == 200, describe(r)
    assert r.json()["breaking"]["use"] == ["WIRE"], r.json()
    for base in (a, b, c):  # no waiting: the PUT invalidated before it answered
        got = call("GET", f"/modules/{m}/policy", base=base).json()
        assert got["breaking"]["use"] == ["WIRE"] and got["default"] is False, (base, got)
    r = push(m, "1.1.0", renamed, base=c)  # renames are free on the wire
    assert r.status == 201, describe(r)
    # except drops a rule, ignore drops a path.
    r = call("PUT", f"/modules/{m}/policy",
             {"breaking": {"use": ["FILE"], "except": ["FIELD_SAME_TYPE", "FIELD_NO_DELETE"]}},
             base=b)
    assert r.status == 200, describe(r)
    broken = PAYMENT_BROKEN.replace("string currency = 3", "string currency_code = 3")
    pushed(m, "1.2.0", broken.replace("  string id = 1;\n",
                                      "  string id = 1;\n  string currency_code = 3;\n"), base=c)


def test_empty_use_checks_nothing():
    m = "evo.nothing"
    create(m)
    r = call("PUT", f"/modules/{m}/policy", {"breaking": {"use": []}})
    assert r.status == 200 and r.json()["breaking"]["use"] == [], describe(r)
    pushed(m, "1.0.0", PAYMENT_V1)
    pushed(m, "1.1.0", PAYMENT_BROKEN)


def test_semver_off_compares_with_latest():
    m = "evo.latest"
    create(m)
    r = call("PUT", f"/modules/{m}/policy", {"semver": False})
    assert r.status == 200 and r.json()["semver"] is False, describe(r)
    pushed(m, "1.0.0", PAYMENT_V1)
    error_of(push(m, "2.0.0", PAYMENT_BROKEN), 409, "breaking_change")  # even a major
    pushed(m, "2.0.0", PAYMENT_V1_1)


def test_policy_bad_input():
    m = "evo.policybad"
    create(m)
    for body, fragment in [
        ("{", "malformed JSON"),
        ("[]", "JSON object"),
        ({"breaking": {"use": ["NOT_A_RULE"]}}, "NOT_A_RULE"),
        ({"breaking": {"except": "FILE"}}, "array"),
        ({"breaking": {"ignore": ["../x"]}}, ""),
        ({"breaking": {"colour": ["FILE"]}}, "colour"),
        ({"semver": "yes"}, "semver"),
        ({"retention": 1}, "retention"),
    ]:
        r = call("PUT", f"/modules/{m}/policy", body)
        j = error_of(r, 400, "invalid_argument")
        assert fragment in j["error"], (body, j)
    error_of(call("PUT", "/modules/evo.nosuch/policy", {"semver": False}), 404, "not_found")
    error_of(call("GET", "/modules/evo.nosuch/policy"), 404, "not_found")
    error_of(call("GET", "/modules/Bad..Name/policy"), 400, "invalid_argument")
    # The policy is unchanged by all of that.
    assert call("GET", f"/modules/{m}/policy").json()["default"] is True


def test_concurrent_pushes_cannot_break_each_other():
    """1.1.0 and 1.2.0 are each compatible with 1.0.0 but 1.2.0 breaks 1.1.0 (field 4 changes
    type). Pushed at the same moment, they must never both be stored."""
    a = PAYMENT_V1.replace('  string currency = 3;\n', '  string currency = 3;\n  int32 note = 4;\n')
    b = PAYMENT_V1.replace('  string currency = 3;\n', '  string currency = 3;\n  string note = 4;\n')
    both = 0
    for round_ in range(6):
        m = f"evo.race{round_}"
        create(m)
        pushed(m, "1.0.0", PAYMENT_V1)
        results = {}
        barrier = threading.Barrier(2)
        urls = STACK.instance_urls

        def go(version, content, base):
            barrier.wait()
            results[version] = push(m, version, content, base=base).status

        ts = [threading.Thread(target=go, args=("1.1.0", a, urls[0])),
              threading.Thread(target=go, args=("1.2.0", b, urls[1]))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert set(results.values()) <= {201, 409}, results
        if list(results.values()).count(201) == 2:
            both += 1
    assert both == 0, f"{both} rounds stored two versions that break each other"


def test_refusals_are_counted_by_rule():
    m = "evo.metrics"
    base = STACK.instance_urls[2]
    create(m, base=base)
    pushed(m, "1.0.0", PAYMENT_V1, base=base)

    def count():
        text = request(STACK.health_urls[2], "GET", "/metrics").body.decode()
        found = re.search(r'^spoke_pushes_refused_total\{rule="FIELD_SAME_TYPE"\} (\d+)$', text,
                          re.M)
        return int(found.group(1)) if found else 0

    before = count()
    error_of(push(m, "1.1.0", PAYMENT_BROKEN, base=base), 409, "breaking_change")
    assert count() == before + 1


# ---- compatibility ------------------------------------------------------------------------------

def test_compatibility_of_stored_versions_and_candidates():
    m = "evo.compat"
    create(m)
    pushed(m, "1.0.0", PAYMENT_V1)
    pushed(m, "1.1.0", PAYMENT_V1_1)
    pushed(m, "2.0.0", PAYMENT_BROKEN)
    r = call("POST", f"/modules/{m}/compatibility", {"old_version": "1.0.0", "new_version": "1.1.0"})
    assert r.status == 200, describe(r)
    j = r.json()
    assert j["compatible"] is True and j["violations"] == [] and j["against"] == ["1.0.0"], j
    r = call("POST", f"/modules/{m}/compatibility", {"old_version": "1.1.0", "new_version": "2.0.0"})
    assert r.status == 409, describe(r)
    j = r.json()
    assert j["compatible"] is False, j
    assert rules(j["violations"]) == ["FIELD_NO_DELETE", "FIELD_SAME_TYPE"], j
    # The same pair under WIRE: only the wire-incompatible changes.
    r = call("POST", f"/modules/{m}/compatibility",
             {"old_version": "1.1.0", "new_version": "2.0.0", "mode": "WIRE"})
    assert r.status == 409, describe(r)
    assert rules(r.json()["violations"]) == ["FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED"], r.json()
    # A candidate (CI before tagging) against what a push of 1.2.0 would be compared with.
    cand = {"version": "1.2.0", "files": [{"path": PATH, "content": PAYMENT_BROKEN}]}
    r = call("POST", f"/modules/{m}/compatibility", cand)
    assert r.status == 409, describe(r)
    assert r.json()["against"] == ["1.1.0"], r.json()
    # ... with an override that skips both rules.
    cand["breaking"] = {"use": ["FILE"], "except": ["FIELD_NO_DELETE", "FIELD_SAME_TYPE"]}
    r = call("POST", f"/modules/{m}/compatibility", cand)
    assert r.status == 200 and r.json()["compatible"] is True, describe(r)
    # Without a version the candidate is compared with the latest.
    r = call("POST", f"/modules/{m}/compatibility",
             {"files": [{"path": PATH, "content": PAYMENT_V1}]})
    assert r.status == 409 and r.json()["against"] == ["2.0.0"], describe(r)
    # Nothing was stored by any of it.
    assert call("GET", f"/modules/{m}").json()["version_count"] == 3


def test_compatibility_confluent_modes():
    m = "evo.confluent"
    create(m)
    pushed(m, "1.0.0", PAYMENT_V1)
    pushed(m, "1.1.0", PAYMENT_V1_1)
    # int32 → int64 stays in Confluent's varint group and removing a field is allowed there:
    # compatible for Confluent, breaking for buf.
    r = call("POST", f"/modules/{m}/compatibility",
             {"files": [{"path": PATH, "content": PAYMENT_BROKEN}], "mode": "BACKWARD"})
    assert r.status == 200, describe(r)
    assert r.json()["against"] == ["1.1.0"], r.json()
    # string → int32 crosses groups.
    cand = {"files": [{"path": PATH, "content": PAYMENT_V1.replace("string id", "int32 id")}]}
    r = call("POST", f"/modules/{m}/compatibility", dict(cand, mode="BACKWARD"))
    assert r.status == 409, describe(r)
    j = r.json()
    assert j["against"] == ["1.1.0"], j
    assert rules(j["violations"]) == ["FIELD_SCALAR_KIND_CHANGED"], j
    removed_only = PAYMENT_V1.replace('  string currency = 3;\n', '')
    r = call("POST", f"/modules/{m}/compatibility",
             {"files": [{"path": PATH, "content": removed_only}], "mode": "BACKWARD_TRANSITIVE"})
    assert r.status == 200, describe(r)
    assert sorted(r.json()["against"]) == ["1.0.0", "1.1.0"], r.json()
    r = call("POST", f"/modules/{m}/compatibility", dict(cand, mode="NONE"))
    assert r.status == 200 and r.json()["compatible"] is True, describe(r)
    renamed_message = PAYMENT_V1.replace("message Payment", "message Charge")
    r = call("POST", f"/modules/{m}/compatibility",
             {"files": [{"path": PATH, "content": renamed_message}], "mode": "FULL"})
    assert r.status == 409 and "MESSAGE_REMOVED" in rules(r.json()["violations"]), describe(r)


def test_compatibility_bad_input():
    m = "evo.compatbad"
    create(m)
    pushed(m, "1.0.0", PAYMENT_V1)
    url = f"/modules/{m}/compatibility"
    for body, fragment in [
        ("{", "malformed JSON"),
        ({}, "either new_version"),
        ({"new_version": "1.0.0", "files": []}, "either new_version"),
        ({"new_version": "1.0"}, "new_version"),
        ({"old_version": "latest", "new_version": "1.0.0"}, "old_version"),
        ({"new_version": "1.0.0", "mode": "SIDEWAYS"}, "SIDEWAYS"),
        ({"new_version": "1.0.0", "breaking": {"use": ["NOPE"]}}, "NOPE"),
        ({"new_version": "1.0.0", "breaking": {"except": ["FIELD_NO_DELETE"]}}, "use is required"),
        ({"new_version": "1.0.0", "surprise": 1}, "surprise"),
        ({"files": [{"path": "../a.proto", "content": ""}]}, ""),
        ({"new_version": "1.0.0", "dependencies": ["x@1.0.0"]}, "go with files"),
    ]:
        r = call("POST", url, body)
        j = error_of(r, 400, "invalid_argument")
        assert fragment in j["error"], (body, j)
    error_of(call("POST", url, {"old_version": "9.9.9", "new_version": "1.0.0"}), 404, "not_found")
    error_of(call("POST", "/modules/evo.none/compatibility", {"new_version": "1.0.0"}), 404,
             "not_found")
    r = call("POST", url, {"files": [{"path": PATH, "content": "syntax = \"proto3\";\nmessage {"}]})
    j = error_of(r, 422, "invalid_schema")
    assert j["details"] and j["details"][0]["file"] == PATH, j
    error_of(call("GET", url), 405, "method_not_allowed")


# ---- diff ---------------------------------------------------------------------------------------

def test_diff_json_and_text():
    m = "evo.diff"
    create(m)
    pushed(m, "1.0.0", PAYMENT_V1)
    pushed(m, "2.0.0", PAYMENT_BROKEN.replace("message Payment {",
                                              "enum Status { STATUS_UNSPECIFIED = 0; }\n\n"
                                              "message Payment {"))
    r = call("GET", f"/modules/{m}/diff?from=1.0.0&to=2.0.0")
    assert r.status == 200, describe(r)
    j = r.json()
    assert (j["module"], j["from"], j["to"]) == (m, "1.0.0", "2.0.0"), j
    kinds = {(c["kind"], c["element"], c["name"]) for c in j["changes"]}
    assert ("removed", "field", "acme.payments.v1.Payment.currency") in kinds, kinds
    assert ("added", "enum", "acme.payments.v1.Status") in kinds, kinds
    assert any(k == "changed" and e == "field" and n == "acme.payments.v1.Payment.amount"
               for k, e, n in kinds), kinds
    assert set(j["violations"]) == {"FILE", "PACKAGE", "WIRE_JSON", "WIRE"}, j["violations"]
    assert "FIELD_SAME_TYPE" in rules(j["violations"]["FILE"]), j["violations"]
    assert rules(j["violations"]["WIRE"]) == ["FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED"], j
    r = call("GET", f"/modules/{m}/diff?from=1.0.0&to=latest&format=text")
    assert r.status == 200, describe(r)
    text = r.body.decode()
    assert "acme.payments.v1.Payment.currency" in text and "FIELD_SAME_TYPE" in text, text
    assert "WIRE: breaking" in text, text
    for q, status in [("from=1.0.0", 400), ("from=1.0.0&to=2.0.0&format=xml", 400),
                      ("from=1.0&to=2.0.0", 400), ("from=1.0.0&to=3.0.0", 404)]:
        r = call("GET", f"/modules/{m}/diff?{q}")
        assert r.status == status, (q, describe(r))
        assert "code" in r.json(), describe(r)


# ---- versions stored before source info ---------------------------------------------------------

def test_versions_without_source_info_still_compare():
    m = "evo.legacy"
    create(m)
    pushed(m, "1.0.0", PAYMENT_V1)
    # As stored before pushes kept a descriptor set: none at all.
    STACK.psql("pg-primary", "UPDATE versions SET descriptor_sha256 = NULL WHERE module_id = "
               f"(SELECT id FROM modules WHERE name = '{m}')")
    r = push(m, "1.1.0", PAYMENT_BROKEN)
    j = error_of(r, 409, "breaking_change")
    assert all(v["line"] > 0 for v in j["details"]), j
    # It was compiled again once and now points at a descriptor set with source info.
    sha = STACK.psql("pg-primary", "SELECT coalesce(descriptor_sha256, '') FROM versions v JOIN "
                     f"modules m ON m.id = v.module_id WHERE m.name = '{m}'")
    assert re.fullmatch(r"[0-9a-f]{64}", sha), sha
    q = urllib.parse.urlencode({"from": "1.0.0", "to": "1.0.0"})
    r = call("GET", f"/modules/{m}/diff?{q}")
    assert r.status == 200 and r.json()["changes"] == [], describe(r)


def main():
    run_with_stack(globals())


if __name__ == "__main__":
    main()
