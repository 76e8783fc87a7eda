"""The table of bench/run.sh: medians over rounds of the JSON lines it recorded, each figure beside
its baseline from the same run and its target. Printed, and written as Markdown. Exits non-zero
(after writing) when a measurement is missing or a request failed, so a smoke run can fail."""
import json
import statistics
import sys

PEERS = ("Published peers on 2 CPUs (not measured here): Redpanda's schema registry ~7.7k "
         "schema lookups/s, Confluent's ~6.1k; Apicurio with SQL storage 6-9 writes/s.")


def _load(results, meta):
    rows = [json.loads(line) for line in open(results) if line.strip()]
    info = {}
    for line in open(meta):
        k, _, v = line.rstrip("\n").partition("\t")
        info[k] = v
    by = {}
    for r in rows:
        by.setdefault(r["name"], []).append(r)
    return by, info


def _rps(r):
    return r["requests"] / (r["duration_us"] / 1e6) if r.get("duration_us") else r.get("rps", 0.0)


def _med(values):
    return statistics.median(values) if values else float("nan")


def _ms(us):
    return f"{us / 1000:.2f}" if us < 10000 else f"{us / 1000:.1f}"


def _fmt_rps(v):
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


class Table:
    def __init__(self):
        self.rows, self.problems = [], []

    def add(self, step, what, spoke, base="", ratio="", target="", verdict=""):
        self.rows.append((step, what, spoke, base, ratio, target, verdict))

    def markdown(self):
        head = ("step", "measurement", "Spoke", "baseline (same run)", "ratio", "target", "")
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(out)


def _verdict(ok, miss):
    return "met" if ok else f"**missed** ({miss})"


def _errors(table, name, runs):
    bad = sum(r.get("socket_errors", 0) + r.get("non2xx", 0) + r.get("errors", 0) for r in runs)
    if bad:
        table.problems.append(f"{name}: {bad} failed requests")


def _series(table, by, name):
    runs = by.get(name, [])
    if not runs:
        table.problems.append(f"{name}: no measurement")
        return None
    _errors(table, name, runs)
    rps = [_rps(r) for r in runs]
    return {"rps": _med(rps), "lo": min(rps), "hi": max(rps), "p50": _med([r["p50_us"] for r in runs]),
            "p99": _med([r["p99_us"] for r in runs]), "runs": runs}


def _rps_cell(s):
    if s["lo"] == s["hi"]:
        return _fmt_rps(s["rps"])
    return f"{_fmt_rps(s['rps'])} ({_fmt_rps(s['lo'])}-{_fmt_rps(s['hi'])})"


def _lat_cell(s):
    return f"{_ms(s['p50'])} / {_ms(s['p99'])} ms"


def _pair(table, by, step, what, app, base, base_label, ratio_target, p99_target=None):
    a, b = _series(table, by, app), _series(table, by, base)
    if not a or not b:
        return
    pairs = {r["round"]: _rps(r) for r in b["runs"]}
    ratios = [_rps(r) / pairs[r["round"]] for r in a["runs"] if pairs.get(r["round"])]
    ratio = _med(ratios)
    table.add(step, f"{what}, req/s", _rps_cell(a), f"{base_label} {_rps_cell(b)}",
              f"{ratio:.2f}", f">= {ratio_target:.2f}",
              _verdict(ratio >= ratio_target, f"{ratio / ratio_target:.0%} of the target ratio"))
    verdict, target = "", ""
    if p99_target:
        target = f"p99 < {p99_target} ms"
        verdict = _verdict(a["p99"] < p99_target * 1000, f"p99 {_ms(a['p99'])} ms")
    table.add(step, f"{what}, p50 / p99", _lat_cell(a), _lat_cell(b), "", target, verdict)


def write(results, meta, outpath):
    by, info = _load(results, meta)
    t = Table()
    conns64, conns16 = "wrk -t2 -c64", "wrk -t2 -c16"
    _pair(t, by, "1", f"cached GET via NGINX + 3 instances ({conns64})", "get_app", "get_ceiling",
          "NGINX->NGINX static", 0.7, 10)
    _pair(t, by, "2", f"cached GET straight to one instance ({conns64})", "get_direct",
          "get_static", "NGINX static", 0.5)

    cold = _series(t, by, "get_cold")
    if cold:
        t.add("3", f"cold GET, Redis flushed: Postgres + S3 ({conns16}), req/s", _rps_cell(cold))
        t.add("3", "cold GET, p50 / p99", _lat_cell(cold))
        per_round = int(info.get("cold_versions_per_round", "0") or 0)
        if per_round and any(r["requests"] > per_round for r in cold["runs"]):
            t.problems.append("get_cold: a round asked for more versions than it had fresh ones")

    push = _series(t, by, "push")
    if push:
        t.add("4", f"pushes/s, {info.get('clients', '8')} CI clients, 1-20 files, protoc on",
              _rps_cell(push), "Apicurio SQL 6-9 writes/s (published)", "", ">= 200/s",
              _verdict(push["rps"] >= 200, f"{push['rps'] / 200:.0%} of the target"))
        t.add("4", "push latency, p50 / p99", _lat_cell(push))

    scale = f"{int(info.get('modules', 0)):,} modules x {info.get('versions', '?')} versions"
    first = _series(t, by, "latest_first")
    if first:
        t.add("5", f"latest, first read of each of {int(info.get('modules', 0)):,} modules "
              "(16 clients), req/s", _rps_cell(first))
        t.add("5", "latest first reads, p50 / p99", _lat_cell(first))
    for name, what, peer in (("list", "GET /modules?limit=100 (random page)", ""),
                             ("latest", ".../versions/latest (random module)",
                              "Redpanda ~7.7k, Confluent ~6.1k lookups/s (published)")):
        s = _series(t, by, name)
        if not s:
            continue
        t.add("5", f"{what}, {scale}{', each read before' if name == 'latest' else ''} "
              f"({conns16}), req/s", _rps_cell(s), peer)
        t.add("5", f"{name}, p50 / p99", _lat_cell(s), "", "", "p99 < 20 ms",
              _verdict(s["p99"] < 20000, f"p99 {_ms(s['p99'])} ms"))

    idle = [kb for r in by.get("rss_idle", []) for kb in r["kb"]]
    load = [kb for r in by.get("rss_load", []) for kb in r["kb"]]
    if idle:
        mb = max(idle) / 1024
        t.add("6", "RSS per instance, idle (max of 3)", f"{mb:.1f} MB", "", "", "< 40 MB",
              _verdict(mb < 40, f"{mb:.1f} MB"))
    else:
        t.problems.append("rss_idle: no measurement")
    if load:
        t.add("6", "RSS per instance, under load (max)", f"{max(load) / 1024:.1f} MB")
    ready = by.get("ready", [])
    if ready:
        r = ready[0]
        t.add("6", f"exec to /health/ready (median of {r['runs']}, max)",
              f"{r['median_ms']:.0f} ms (max {r['max_ms']:.0f})", "", "", "< 300 ms",
              _verdict(r["median_ms"] < 300, f"{r['median_ms']:.0f} ms"))
    else:
        t.problems.append("ready: no measurement")

    dirty = int(info.get("dirty", "0") or 0)
    lines = [
        f"# Spoke benchmark, {info.get('date', '?')}" + (" (smoke)" if info.get("smoke") == "1" else ""),
        "",
        f"- Machine: {info.get('cpus', '?')} x {info.get('cpu_model', '?')}, Linux "
        f"{info.get('kernel', '?')}; client, NGINX, instances and backends share these CPUs.",
        f"- Conditions: CPUs {info.get('idle_before', '?')}% idle in the 2 s before the run; load "
        f"average {info.get('load_before', '?')} before, {info.get('load_after', '?')} after.",
        f"- Build: commit {info.get('commit', '?')}"
        + (f" with {dirty} uncommitted changes" if dirty else "") + "; wrk "
        f"{info.get('wrk', '?')}, nginx {info.get('nginx', '?')}.",
        f"- Method: {info.get('rounds', '?')} interleaved rounds of {info.get('duration', '?')} s "
        f"per wrk measurement (pushes {info.get('push_seconds', '?')} s); figures are medians over "
        "rounds (range in brackets), ratios are medians of per-round ratios. The cached body is "
        f"{info.get('body_bytes', '?')} bytes; seeding took {info.get('seed_seconds', '?')} s; the "
        f"whole run {info.get('total_seconds', '?')} s.",
        "",
        t.markdown(),
        "",
        PEERS,
    ]
    if t.problems:
        lines += ["", "Problems:", ""] + [f"- {p}" for p in t.problems]
    text = "\n".join(lines) + "\n"
    with open(outpath, "w") as f:
        f.write(text)
    sys.stdout.write(text)
    if t.problems:
        sys.exit(1)
