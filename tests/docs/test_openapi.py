"""api/openapi.yaml describes exactly the routes the server serves.

The route tables in src/api/routes.c are the source of truth; every (method, path) there must be
in the spec and every operation in the spec must be served.
"""
import os
import re
import sys

SRC = os.environ.get("SPOKE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def served_routes():
    text = open(os.path.join(SRC, "src/api/routes.c"), encoding="utf-8").read()
    rows = re.findall(r'\{"([A-Z]+)",\s*"([^"]+)",\s*api_\w+\}', text)
    return {(m, p.replace("...}", "}")) for m, p in rows}


def load_spec():
    import yaml  # python3-yaml, installed by tests/run.sh
    with open(os.path.join(SRC, "api/openapi.yaml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def documented_routes(spec):
    methods = {"get", "post", "put", "patch", "delete", "head"}
    return {(m.upper(), path) for path, item in spec["paths"].items() for m in item
            if m in methods}


def broken_refs(spec):
    """Every "$ref": "#/a/b" must point at something in the document."""
    bad = []

    def resolve(ref):
        node = spec
        for part in ref[2:].split("/"):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    def walk(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and not (ref.startswith("#/") and resolve(ref)):
                bad.append(ref)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(spec)
    return bad


def main():
    spec = load_spec()
    served, documented = served_routes(), documented_routes(spec)
    failures = 0
    for ref in broken_refs(spec):
        print(f"FAIL unresolved $ref in api/openapi.yaml: {ref}")
        failures += 1
    if len(served) < 8:
        print(f"FAIL only {len(served)} routes parsed from routes.c")
        failures += 1
    for r in sorted(served - documented):
        print(f"FAIL served but not in api/openapi.yaml: {r[0]} {r[1]}")
        failures += 1
    for r in sorted(documented - served):
        print(f"FAIL in api/openapi.yaml but not served: {r[0]} {r[1]}")
        failures += 1
    passed = 1 if failures == 0 else 0
    print(f"{passed} passed, {1 - passed} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
