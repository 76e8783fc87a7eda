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


def documented_routes():
    routes, path = set(), None
    for line in open(os.path.join(SRC, "api/openapi.yaml"), encoding="utf-8"):
        m = re.match(r"^  (/\S*):\s*$", line)
        if m:
            path = m.group(1)
            continue
        if re.match(r"^\S", line):
            path = None
        m = re.match(r"^    (get|post|put|patch|delete|head):\s*$", line)
        if m and path:
            routes.add((m.group(1).upper(), path))
    return routes


def main():
    served, documented = served_routes(), documented_routes()
    failures = 0
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
