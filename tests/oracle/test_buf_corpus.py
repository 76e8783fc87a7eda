"""buf's verdicts on the breaking-change corpus are current, and the documentation cites them.

1. tests/fixtures/breaking/regen.py --check: every committed expected.json is what buf 1.75.0
   answers now, every case compiles with protoc, every live rule is fired by some case, and the
   corpus README's rule table is up to date.
2. docs/evolution.md's rule table has a row for every live rule, and the corpus case each row
   names really fires that rule (in its expected.json).

buf is found as $SPOKE_BUF or $SPOKE_SOURCE_DIR/.cache/node/node_modules/.bin/buf; when it is
missing the test fails (tests/run.sh installs it)."""
import json
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.environ.get("SPOKE_SOURCE_DIR") or os.path.join(HERE, "..", ".."))
CORPUS = os.path.join(SOURCE_DIR, "tests", "fixtures", "breaking")
DOC = os.path.join(SOURCE_DIR, "docs", "evolution.md")
sys.path.insert(0, CORPUS)
import regen  # noqa: E402


def check_corpus():
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, os.path.join(CORPUS, "regen.py"), "--check"],
                         capture_output=True, text=True, timeout=580, check=False,
                         env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    sys.stdout.write(out.stdout)
    sys.stdout.write(out.stderr)
    print(f"regen.py --check: exit {out.returncode} in {time.monotonic() - t0:.0f}s")
    return [] if out.returncode == 0 else ["regen.py --check failed (see above)"]


def fired_by(case):
    path = os.path.join(CORPUS, case, "expected.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    rules = {v["rule"] for found in doc["categories"].values() for v in found}
    return rules | {v["rule"] for v in doc.get("config", [])}


def check_docs(live):
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^## Rules\n(.*?)(?=^## )", text, re.S | re.M)
    if not m:
        return ["docs/evolution.md has no '## Rules' section"]
    rows = {}
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        r = re.fullmatch(r"`([A-Z0-9_]+)`", cells[0]) if line.startswith("|") else None
        if r:
            rows[r.group(1)] = re.findall(r"`([0-9]{3}-[a-z0-9-]+)`", cells[-1])
    failures = [f"docs/evolution.md: no row for rule {r}" for r in live if r not in rows]
    for rule, cases in rows.items():
        if rule in live and not cases:
            failures.append(f"docs/evolution.md: rule {rule} names no corpus case")
        for case in cases:
            fired = fired_by(case)
            if fired is None:
                failures.append(f"docs/evolution.md: rule {rule} cites {case}, which is not a case")
            elif rule not in fired:
                failures.append(f"docs/evolution.md: rule {rule} cites {case}, which does not "
                                f"fire it")
    print(f"docs/evolution.md: {len(rows)} rule rows checked")
    failures += check_passing(text)
    return failures


def check_passing(text):
    """Every case the "Changes that pass" list cites (by number) is empty in every category."""
    m = re.search(r"^### Changes that pass\n(.*?)(?=^#)", text, re.S | re.M)
    if not m:
        return ["docs/evolution.md has no '### Changes that pass' section"]
    by_number = {c[:3]: c for c in regen.case_names() if re.match(r"[0-9]{3}-", c)}
    failures, numbers = [], sorted(set(re.findall(r"`([0-9]{3})`", m.group(1))))
    for n in numbers:
        case = by_number.get(n)
        fired = fired_by(case) if case else None
        if fired is None:
            failures.append(f"docs/evolution.md: 'Changes that pass' cites {n}, which is not "
                            f"a case")
        elif fired:
            failures.append(f"docs/evolution.md: 'Changes that pass' cites {case}, which fires "
                            f"{', '.join(sorted(fired))}")
    print(f"docs/evolution.md: {len(numbers)} passing cases checked")
    return failures


def main():
    try:
        live = regen.live_rules(regen.find_buf())
    except regen.Failure as e:
        print(f"FAIL {e}")
        print("0 passed, 2 failed")
        return 1
    results = {"corpus": check_corpus(), "docs": check_docs(live)}
    for name, failures in results.items():
        for f in failures:
            print("FAIL", f)
    bad = sum(1 for f in results.values() if f)
    print(f"{len(results) - bad} passed, {bad} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
