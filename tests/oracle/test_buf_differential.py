"""The evolution engine against buf on seeded random schema changes.

Bases are the new/ trees of tests/fixtures/breaking/ and a few generated modules; each pair is a
base and a copy changed by one to three mutations (tests/oracle/mutations.py; generated bases
come from tests/oracle/generated.py). For each pair buf
runs once with `use:` listing every live rule (rules are independent in buf, so the answer of a
category is the violations of its rules), and $SPOKE_BUILD_DIR/tests/evolve-check runs with the
same --use list; the per-category multisets of (rule, file, line, column) must be equal. Pairs
protoc rejects are skipped and counted. A mismatch prints both trees and both answers, and the
test goes on; it fails at the end with the mismatches per rule, or when fewer than MIN_RUN pairs
were compared.

Environment: SPOKE_DIFF_SEED (default 1750), SPOKE_DIFF_COUNT (pairs to try, default 150),
SPOKE_DIFF_BUDGET (seconds after which no new pair starts, default 120), SPOKE_DIFF_JOBS,
SPOKE_DIFF_KEEP=1 (keep the temporary trees), SPOKE_BUF, SPOKE_EVOLVE_CHECK (default
$SPOKE_BUILD_DIR/tests/evolve-check). buf missing is a failure, never a skip.
"""
import collections
import concurrent.futures
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.environ.get("SPOKE_SOURCE_DIR") or os.path.join(HERE, "..", ".."))
BUILD_DIR = os.path.abspath(os.environ.get("SPOKE_BUILD_DIR") or os.path.join(SOURCE_DIR, "build"))
CORPUS = os.path.join(SOURCE_DIR, "tests", "fixtures", "breaking")
sys.path.insert(0, HERE)
sys.path.insert(0, CORPUS)
import generated  # noqa: E402
import mutations  # noqa: E402
import protomodel  # noqa: E402
import regen  # noqa: E402

SEED = int(os.environ.get("SPOKE_DIFF_SEED", "1750"))
COUNT = int(os.environ.get("SPOKE_DIFF_COUNT", "150"))
BUDGET = float(os.environ.get("SPOKE_DIFF_BUDGET", "120"))
JOBS = int(os.environ.get("SPOKE_DIFF_JOBS", str(max(2, os.cpu_count() or 1))))
KEEP = os.environ.get("SPOKE_DIFF_KEEP") == "1"
GENERATED = 12         # generated base modules
GENERATED_SHARE = 0.4  # of the pairs start from a generated module (they have services, reserved
                       # ranges, proto2 extensions: more rules to fire than most corpus trees)
MIN_RUN = 30
FULL_PRINTS = 25       # mismatches printed with both trees; later ones print the answers only


def load_corpus_bases():
    """{"corpus:<case>": module} for every new/ tree protomodel can parse."""
    bases, unparsed = {}, []
    for case in regen.case_names():
        tree = os.path.join(CORPUS, case, "new")
        mod = {}
        try:
            for rel in regen.proto_files(tree):
                with open(os.path.join(tree, rel), encoding="utf-8") as f:
                    mod[rel] = protomodel.parse(rel, f.read())
        except protomodel.ParseError as e:
            unparsed.append(f"{case} ({e})")
            continue
        bases["corpus:" + case] = mod
    return bases, unparsed


def write_tree(mod, root):
    os.makedirs(root, exist_ok=True)
    for path, f in mod.items():
        p = os.path.join(root, path)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w", encoding="utf-8") as out:
            out.write(protomodel.print_file(f))


def key(v):
    """The compared identity of a violation; line and column mean nothing without a file."""
    f = v.get("file") or ""
    return (v["rule"], f, v.get("line", 0) if f else 0, v.get("column", 0) if f else 0)


def engine_answer(tool, use, old_dir, new_dir):
    argv = [tool]
    for r in use:
        argv += ["--use", r]
    out = subprocess.run(argv + [old_dir, new_dir], capture_output=True, text=True, timeout=120,
                         check=False)
    if out.returncode not in (0, 1):
        raise RuntimeError(f"evolve-check exited {out.returncode}: {out.stderr.strip()}")
    return json.loads(out.stdout)["violations"]


class Pair:
    def __init__(self, index, base_name, old, new, what):
        self.index, self.base_name, self.old, self.new, self.what = index, base_name, old, new, what
        self.status = None   # "same", "mismatch", "skip-protoc", "skip-buf", "engine-error"
        self.detail = ""
        self.buf = []
        self.engine = []
        self.diff = {}       # category -> (missing keys, extra keys)


def run_pair(pair, buf, rules, tool, tmp):
    d = os.path.join(tmp, f"{pair.index:04d}")
    old_dir, new_dir = os.path.join(d, "old"), os.path.join(d, "new")
    write_tree(pair.old, old_dir)
    write_tree(pair.new, new_dir)
    for side, tree in (("old", old_dir), ("new", new_dir)):
        err = regen.protoc_error(tree)
        if err:
            pair.status, pair.detail = "skip-protoc", f"{side}/ {err}"
            return pair
    try:
        pair.buf = regen.run_buf_dirs(buf, old_dir, new_dir, {"use": list(rules)})
    except regen.Failure as e:
        pair.status, pair.detail = "skip-buf", str(e)
        return pair
    try:
        pair.engine = engine_answer(tool, list(rules), old_dir, new_dir)
    except (RuntimeError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
        pair.status, pair.detail = "engine-error", str(e)
        return pair
    for cat in regen.CATEGORIES:
        want = collections.Counter(key(v) for v in pair.buf if cat in rules[v["rule"]])
        got = collections.Counter(key(v) for v in pair.engine if cat in v.get("categories", []))
        if want != got:
            pair.diff[cat] = (sorted((want - got).elements()), sorted((got - want).elements()))
    pair.status = "mismatch" if pair.diff else "same"
    if not KEEP:
        shutil.rmtree(d, ignore_errors=True)
    return pair


def show_tree(title, mod, only=None):
    print(f"  --- {title}")
    for path in sorted(mod):
        text = protomodel.print_file(mod[path])
        if only is not None and path in only and protomodel.print_file(only[path]) == text:
            continue
        print(f"  >>> {path}")
        for i, line in enumerate(text.splitlines(), 1):
            print(f"  {i:4d} | {line}")
    if only is not None:
        same = [p for p in sorted(mod)
                if p in only and protomodel.print_file(only[p]) == protomodel.print_file(mod[p])]
        if same:
            print(f"  (unchanged: {', '.join(same)})")
        gone = sorted(set(only) - set(mod))
        if gone:
            print(f"  (deleted: {', '.join(gone)})")


def report(pair, full):
    print(f"\nMISMATCH pair {pair.index} (seed {SEED}, base {pair.base_name}): "
          f"{'; '.join(pair.what)}")
    if full:
        show_tree("old tree", pair.old)
        show_tree("new tree (files that differ)", pair.new, only=pair.old)
    print("  --- buf")
    for v in pair.buf:
        print(f"  {v['rule']} {v['file']}:{v['line']}:{v['column']} {v['message']}")
    print("  --- engine")
    for v in pair.engine:
        cats = ",".join(v.get("categories", []))
        print(f"  {v['rule']} [{cats}] {v.get('file')}:{v.get('line')}:{v.get('column')} "
              f"{v.get('message')}")
    for cat, (missing, extra) in pair.diff.items():
        for k in missing:
            print(f"  {cat}: buf only    {k[0]} {k[1]}:{k[2]}:{k[3]}")
        for k in extra:
            print(f"  {cat}: engine only {k[0]} {k[1]}:{k[2]}:{k[3]}")


def main():
    t0 = time.monotonic()
    print(f"seed {SEED} (SPOKE_DIFF_SEED), {COUNT} pairs (SPOKE_DIFF_COUNT), budget {BUDGET:.0f}s "
          f"(SPOKE_DIFF_BUDGET), {JOBS} jobs")
    try:
        buf = regen.find_buf()
        rules = regen.live_rules(buf)
    except regen.Failure as e:
        print(f"FAIL {e}")
        print("0 passed, 1 failed")
        return 1
    tool = os.environ.get("SPOKE_EVOLVE_CHECK") or os.path.join(BUILD_DIR, "tests", "evolve-check")
    if not os.access(tool, os.X_OK):
        print(f"FAIL evolve-check not found at {tool} (build the tests/ tools of {BUILD_DIR})")
        print("0 passed, 1 failed")
        return 1
    rng = random.Random(SEED)
    bases, unparsed = load_corpus_bases()
    if unparsed:
        print(f"corpus trees the model does not cover (not used as bases): {', '.join(unparsed)}")
    for i in range(GENERATED):
        bases[f"generated:{i}"] = generated.generated_module(rng, i)
    generated_names = sorted(n for n in bases if n.startswith("generated:"))
    corpus_names = sorted(n for n in bases if n.startswith("corpus:"))
    print(f"{len(bases)} base modules ({len(corpus_names)} corpus trees, "
          f"{len(generated_names)} generated)")

    tmp = tempfile.mkdtemp(prefix="spoke-differential-")
    done, stopped_at = [], None
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=JOBS) as pool:
            pending = set()
            for index in range(COUNT):
                # Each pair comes from the seeded generator in order, whatever ran before it.
                pool_names = generated_names if rng.random() < GENERATED_SHARE else corpus_names
                base_name = rng.choice(pool_names)
                new, what = mutations.mutate(bases[base_name], rng, rng.choice([1, 1, 1, 2, 2, 3]))
                if time.monotonic() - t0 > BUDGET:
                    stopped_at = index
                    break
                while len(pending) >= JOBS:
                    finished, pending = concurrent.futures.wait(
                        pending, return_when=concurrent.futures.FIRST_COMPLETED)
                    done += [f.result() for f in finished]
                pair = Pair(index, base_name, bases[base_name], new, what)
                pending.add(pool.submit(run_pair, pair, buf, rules, tool, tmp))
            done += [f.result() for f in concurrent.futures.as_completed(pending)]
    finally:
        if KEEP:
            print(f"trees kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    done.sort(key=lambda p: p.index)
    by = collections.Counter(p.status for p in done)
    # rule -> [violations only buf reports, only the engine reports, pairs]
    per_rule = collections.defaultdict(lambda: [0, 0, set()])
    mismatches = [p for p in done if p.status == "mismatch"]
    for n, p in enumerate(mismatches):
        report(p, n < FULL_PRINTS)
        for cat, (missing, extra) in p.diff.items():
            for k in missing:
                per_rule[k[0]][0] += 1
                per_rule[k[0]][2].add(p.index)
            for k in extra:
                per_rule[k[0]][1] += 1
                per_rule[k[0]][2].add(p.index)
    for p in done:
        if p.status == "engine-error":
            print(f"\nENGINE ERROR pair {p.index} ({p.base_name}: {'; '.join(p.what)}): {p.detail}")
        elif p.status == "skip-buf":
            print(f"buf refused pair {p.index} ({'; '.join(p.what)}): {p.detail.splitlines()[0]}")
    fired = collections.Counter(v["rule"] for p in done if p.status in ("same", "mismatch")
                                for v in p.buf)
    ran = by["same"] + by["mismatch"] + by["engine-error"]
    took = time.monotonic() - t0
    stop = f" (budget reached, stopped before pair {stopped_at})" if stopped_at is not None else ""
    print(f"\n{len(done)} pairs in {took:.0f}s{stop}: {ran} compared ({by['same']} agree, "
          f"{by['mismatch']} differ, {by['engine-error']} engine errors), {by['skip-protoc']} "
          f"skipped (protoc rejects the change), {by['skip-buf']} skipped (buf rejects it)")
    print(f"rules buf fired across the pairs: {len(fired)} of {len(rules)}; never: "
          f"{', '.join(r for r in rules if r not in fired) or 'none'}")
    if per_rule:
        print("mismatches per rule (violations only buf reports / only the engine reports / "
              "pairs):")
        for rule, (missing, extra, pairs) in sorted(per_rule.items(),
                                                    key=lambda kv: (-len(kv[1][2]), kv[0])):
            print(f"  {rule:48s} {missing:4d} {extra:4d} {len(pairs):4d}")
    failures = []
    if ran < MIN_RUN:
        failures.append(f"only {ran} pairs compared (at least {MIN_RUN} needed)")
    if mismatches:
        failures.append(f"{len(mismatches)} pairs differ")
    if by["engine-error"]:
        failures.append(f"{by['engine-error']} engine errors")
    for f in failures:
        print("FAIL", f)
    print(f"{0 if failures else 1} passed, {1 if failures else 0} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
