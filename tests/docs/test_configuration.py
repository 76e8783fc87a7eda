"""docs/configuration.md documents every SPOKE_* variable spoke-server reads.

The variable table in src/config/config.c is the source of truth: each of its rows must have a
row in the documentation, and every variable the server section documents must be read."""
import os
import re
import sys

SRC = os.environ.get("SPOKE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def main():
    table = open(os.path.join(SRC, "src/config/config.c"), encoding="utf-8").read()
    read = set(re.findall(r'\{"(SPOKE_[A-Z0-9_]+)"', table))
    doc = open(os.path.join(SRC, "docs/configuration.md"), encoding="utf-8").read()
    # The server's variables come first; the CLI and CI script have their own section after it.
    server = doc.split("\n## The `spoke` CLI", 1)[0]
    documented = set(re.findall(r"^\| `(SPOKE_[A-Z0-9_]+)` \|", server, flags=re.M))
    failures = []
    if len(read) < 20:
        failures.append(f"only {len(read)} variables parsed from config.c")
    failures += [f"{v} is read by spoke-server but not documented" for v in sorted(read - documented)]
    failures += [f"{v} is documented for spoke-server but not read by it"
                 for v in sorted(documented - read)]
    for f in failures:
        print("FAIL", f)
    print(f"{0 if failures else 1} passed, {1 if failures else 0} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
