"""Metrics and logs end to end (ARCHITECTURE §6): a real Prometheus scrapes the three instances'
/metrics, the instances push OTLP/HTTP JSON to the stack's receiver (which decodes it with the
official OTLP protobuf schema), and the numbers match the traffic this test generates. Also:
promtool accepts the exposition, the OTel names map onto the Prometheus names, an unreachable
collector costs requests nothing, and a request id reaches the store's log lines.

The tests share one stack and run in order."""

import json
import os
import random
import re
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from spoketest import run_with_stack, poll, request  # noqa: E402

ROUTE = "/modules/{name}"
TRAFFIC = [3, 5, 7]  # GET /modules/{name} sent straight to instance-1, -2, -3
NOT_FOUND_ON_1 = 2   # GETs of a missing module on instance-1 (same route, status 404)
PROM_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OTEL_NAMES = ["http.server.requests", "http.server.duration", "db.connections.active",
              "db.query.duration", "cache.hits.total", "cache.misses.total",
              "storage.operations.total", "versions.pushed.total", "build.info"]
PROTO = 'syntax = "proto3";\npackage obs.v1;\nmessage Ping { string id = 1; }\n'

S = None                                       # the shared stack
MODULE = f"obs.m{random.randrange(10**9)}"     # its name never appears in a metric


# --------------------------------------------------------------------------------------------
# helpers

def prom_url():
    return f"http://127.0.0.1:{S.port('prometheus')}"


def receiver_url():
    return f"http://127.0.0.1:{S.port('otlp-receiver')}"


def prom_query(q):
    r = request(prom_url(), "GET", "/api/v1/query?query=" + urllib.parse.quote(q), timeout=10)
    assert r.status == 200, r
    body = r.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def by_component(q):
    """{component: value} of an instant vector."""
    return {s["metric"].get("component"): float(s["value"][1]) for s in prom_query(q)}


def scrape(i):
    r = request(S.health_urls[i], "GET", "/metrics", timeout=10)
    assert r.status == 200, r
    return r


def sample(text, series):
    """The value of one exposition line `series value`, None when absent."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line[len(series) + 1:])
    return None


def received():
    r = request(receiver_url(), "GET", "/received", timeout=10)
    assert r.status == 200, r
    return r.json()


def attrs(obj):
    return {a["key"]: a["value"].get("stringValue") for a in obj.get("attributes", [])}


def otlp_metrics(entry):
    rm = entry["request"]["resourceMetrics"][0]
    return {m["name"]: m for sm in rm["scopeMetrics"] for m in sm["metrics"]}


def instance_entry(data, i):
    """The latest payload from instance i (service.instance.id is host:<API port>)."""
    port = S.ports()[S.instances[i]][0]
    for iid, entry in data["instances"].items():
        if iid.endswith(f":{port}"):
            return entry
    return None


def otlp_requests(entry, method, route, status):
    m = otlp_metrics(entry).get("http.server.requests")
    for dp in (m or {}).get("sum", {}).get("dataPoints", []):
        if attrs(dp) == {"method": method, "route": route, "status": status}:
            return int(dp["asInt"])
    return 0


def pushed_requests(i):
    """http.server.requests for GET /modules/{name} 200 in instance i's latest push (0: none)."""
    entry = instance_entry(received(), i)
    return otlp_requests(entry, "GET", ROUTE, "200") if entry else 0


def series_labels(text, family):
    """The label-name sets (le left out) of the exposition lines of one family."""
    out = set()
    for ln in text.splitlines():
        m = re.match(r"^(\w+)(?:\{(.*)\})? ", ln)
        if m and m.group(1) in (family, family + "_bucket", family + "_sum", family + "_count"):
            out.add(frozenset(k for k in re.findall(r'(\w+)="', m.group(2) or "") if k != "le"))
    return out


def log_lines(component):
    out = []
    for line in S.log(component).splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


# --------------------------------------------------------------------------------------------
# tests, in order

def test_prometheus_scrapes_three_instances():
    def all_up():
        res = prom_query('up{job="spoke"}')
        return len(res) == 3 and all(s["value"][1] == "1" for s in res) and res
    res = poll(all_up, timeout=90, interval=0.5, what="3 instances up in Prometheus")
    assert sorted(s["metric"]["component"] for s in res) == S.instances, res


def test_requests_reach_prometheus_by_route_template():
    r = request(S.instance_urls[0], "POST", "/modules", {"name": MODULE})
    assert r.status == 201, r
    for i, n in enumerate(TRAFFIC):
        for _ in range(n):
            r = request(S.instance_urls[i], "GET", f"/modules/{MODULE}")
            assert r.status == 200, r
    for _ in range(NOT_FOUND_ON_1):
        r = request(S.instance_urls[0], "GET", "/modules/obs.missing")
        assert r.status == 404, r
    r = request(S.instance_urls[0], "GET", "/no/such/route/here")
    assert r.status == 404, r

    want = {c: float(n) for c, n in zip(S.instances, TRAFFIC)}
    q = f'spoke_http_server_requests_total{{route="{ROUTE}",method="GET",status="200"}}'
    poll(lambda: by_component(q) == want, timeout=60, interval=0.5,
         what=f"{q} == {want} (last {by_component(q)})")
    assert prom_query(f"sum({q})")[0]["value"][1] == str(sum(TRAFFIC))

    q404 = f'spoke_http_server_requests_total{{route="{ROUTE}",method="GET",status="404"}}'
    poll(lambda: by_component(q404) == {"instance-1": NOT_FOUND_ON_1}, timeout=30,
         what=f"{q404} on instance-1 only")
    qun = 'spoke_http_server_requests_total{route="unmatched"}'
    poll(lambda: by_component(qun) == {"instance-1": 1.0}, timeout=30, what=qun)

    # The histogram counts the same requests (no status label: the 404s join instance-1's).
    qh = f'spoke_http_server_duration_seconds_count{{route="{ROUTE}",method="GET"}}'
    hwant = {c: float(n) for c, n in zip(S.instances, TRAFFIC)}
    hwant["instance-1"] += NOT_FOUND_ON_1
    poll(lambda: by_component(qh) == hwant, timeout=30, what=f"{qh} == {hwant}")
    # Raw paths never become label values.
    assert prom_query(f'count({{__name__=~"spoke_.*", route=~".*{MODULE}.*"}})') == []


def test_exposition_is_clean_for_promtool():
    for i in range(3):
        r = scrape(i)
        assert r.header("Content-Type") == PROM_TYPE, r.headers
        p = subprocess.run(["promtool", "check", "metrics"], input=r.body, capture_output=True,
                           timeout=30)
        assert p.returncode == 0, (p.stdout, p.stderr)
        assert p.stdout.strip() == b"" and p.stderr.strip() == b"", (p.stdout, p.stderr)
        text = r.text
        assert re.search(r'^spoke_build_info\{version="[0-9][^"]*"\} 1$', text, re.M), text[:2000]
        for pool in ("primary", "replica"):
            assert sample(text, f'spoke_db_connections_active{{pool="{pool}"}}') is not None
        for family in ("spoke_http_server_requests_total counter",
                       "spoke_http_server_duration_seconds histogram",
                       "spoke_db_connections_active gauge",
                       "spoke_db_query_duration_seconds histogram",
                       "spoke_cache_hits_total counter", "spoke_cache_misses_total counter",
                       "spoke_storage_operations_total counter",
                       "spoke_versions_pushed_total counter"):
            assert f"# TYPE {family}\n" in text, (family, text[:2000])
        assert MODULE not in text
    text = scrape(0).text  # instance-1 wrote to the primary
    assert sample(text, 'spoke_db_query_duration_seconds_count{pool="primary"}') >= 1, text


def test_push_cache_and_storage_metrics():
    version = {"version": "1.0.0", "files": [{"path": "obs/v1/ping.proto", "content": PROTO}]}
    r = request(S.instance_urls[1], "POST", f"/modules/{MODULE}/versions", version)
    assert r.status == 201, r
    r = request(S.instance_urls[1], "POST", f"/modules/{MODULE}/versions", version)
    assert r.status == 200, r  # identical re-push: not a new version
    hits, misses = 'spoke_cache_hits_total{tier="l1"}', 'spoke_cache_misses_total{tier="l1"}'
    before = scrape(2).text
    for n in range(2):  # instance-3 has never served this version: an L1 miss, then a hit
        r = request(S.instance_urls[2], "GET", f"/modules/{MODULE}/versions/1.0.0",
                    headers={"X-Request-Id": f"obs-pull-{n}"})
        assert r.status == 200, r

    pusher, puller = scrape(1).text, scrape(2).text
    assert sample(pusher, "spoke_versions_pushed_total") == 1, pusher
    assert sample(scrape(0).text, "spoke_versions_pushed_total") == 0
    assert sample(puller, misses) - sample(before, misses) == 1, (before, puller)
    assert sample(puller, hits) - sample(before, hits) == 1, (before, puller)
    assert sample(pusher, 'spoke_storage_operations_total{op="put",result="ok"}') >= 1, pusher
    assert sample(puller, 'spoke_storage_operations_total{op="get",result="ok"}') >= 1, puller

    # The access log line: route template, status, bytes, latency, cache tier, pool. It is
    # written when the request completes, which may be just after the client has the reply.
    def access_lines():
        lines = {ln.get("request_id"): ln for ln in log_lines("instance-3")
                 if ln.get("msg") == "request"}
        return "obs-pull-1" in lines and lines
    lines = poll(access_lines, timeout=10, what="access log lines of the pulls")
    miss, hit = lines["obs-pull-0"], lines["obs-pull-1"]
    assert miss["route"] == "/modules/{name}/versions/{version}" and miss["status"] == 200, miss
    assert miss["cache"] in ("miss", "redis"), miss  # the push may have filled Redis
    assert miss["cache"] == "redis" or miss["pool"] in ("primary", "replica"), miss
    assert hit["cache"] == "l1" and hit["bytes"] == miss["bytes"] > 0, hit
    assert isinstance(hit["duration_ms"], float), hit


def test_otlp_receiver_decodes_instance_pushes():
    def matches():
        data = received()
        entries = [instance_entry(data, i) for i in range(3)]
        if not all(entries):
            return False
        got = [otlp_requests(e, "GET", ROUTE, "200") for e in entries]
        return got == TRAFFIC and (data, entries)
    data, entries = poll(matches, timeout=60, interval=0.5,
                         what=f"OTLP http.server.requests for {ROUTE} == {TRAFFIC}")
    assert data["rejected"] == 0, data["last_error"]
    names = set()
    ids = set()
    for i, e in enumerate(entries):
        assert e["unknown_fields"] == [], e["unknown_fields"]
        res = attrs(e["request"]["resourceMetrics"][0]["resource"])
        assert res["service.name"] == "spoke" and res["service.version"], res
        ids.add(res["service.instance.id"])
        m = otlp_metrics(e)
        names.update(m)
        req = m["http.server.requests"]["sum"]
        assert req["isMonotonic"] is True, req
        assert req["aggregationTemporality"] == "AGGREGATION_TEMPORALITY_CUMULATIVE", req
        dur = m["http.server.duration"]
        assert dur["unit"] == "s", dur
        for dp in dur["histogram"]["dataPoints"]:
            if attrs(dp) == {"method": "GET", "route": ROUTE}:
                want = TRAFFIC[i] + (NOT_FOUND_ON_1 if i == 0 else 0)
                assert int(dp["count"]) == want, dp
                assert sum(int(c) for c in dp["bucketCounts"]) == want, dp
                assert len(dp["bucketCounts"]) == len(dp["explicitBounds"]) + 1, dp
                break
        else:
            raise AssertionError(f"no duration point for {ROUTE} on instance {i}: {dur}")
    assert len(ids) == 3, ids
    assert names >= set(OTEL_NAMES), names - set(OTEL_NAMES)

    # The receiver refuses what the schema or the data model does not allow.
    before = received()["rejected"]
    r = request(receiver_url(), "POST", "/v1/metrics", b"{not json",
                headers={"Content-Type": "application/json"})
    assert r.status == 400, r
    r = request(receiver_url(), "POST", "/v1/metrics", {"resourceMetrics": "nope"})
    assert r.status == 400, r
    bad = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [{
        "name": "x", "histogram": {"aggregationTemporality": 2, "dataPoints": [{
            "timeUnixNano": "1", "count": "3", "bucketCounts": ["1", "1"],
            "explicitBounds": [0.1, 1]}]}}]}]}]}
    r = request(receiver_url(), "POST", "/v1/metrics", bad)
    assert r.status == 400 and "bucket counts" in r.json()["message"], r
    assert received()["rejected"] == before + 3


def otel_to_prometheus(metric):
    """The OpenTelemetry Collector's Prometheus exporter naming (namespace "spoke", unit and
    type suffixes): the mapping docs/observability.md documents."""
    name = re.sub(r"[^a-zA-Z0-9]+", "_", metric["name"])
    tokens = name.split("_")
    if metric.get("unit") == "s":
        tokens.append("seconds")
    if metric.get("sum", {}).get("isMonotonic"):
        tokens = [t for t in tokens if t != "total"] + ["total"]
    return "spoke_" + "_".join(tokens)


def test_otel_names_map_to_prometheus_names():
    entry = instance_entry(received(), 0)
    text = scrape(0).text
    families = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    mapped = set()
    for name, m in otlp_metrics(entry).items():
        prom = otel_to_prometheus(m)
        assert prom in families, (name, prom, families)
        mapped.add(prom)
        kind = next(k for k in ("sum", "gauge", "histogram") if k in m)
        labels = series_labels(text, prom)
        for dp in m[kind]["dataPoints"]:  # attribute keys are the Prometheus label names
            assert frozenset(attrs(dp)) in labels, (prom, sorted(attrs(dp)), labels)
    # Every family but the exporter's own reaches a collector.
    assert families - mapped == {"spoke_otlp_exports_total", "spoke_otlp_dropped_total"}, \
        families - mapped


def test_unreachable_collector_costs_requests_nothing():
    S.stop("otlp-receiver")
    try:
        slowest = 0.0
        for _ in range(30):
            t0 = time.monotonic()
            r = request(S.instance_urls[0], "GET", f"/modules/{MODULE}")
            slowest = max(slowest, time.monotonic() - t0)
            assert r.status == 200, r
        assert slowest < 2.0, slowest  # served from the pools; the exporter is a separate thread
        series = 'spoke_otlp_exports_total{result="error"}'
        poll(lambda: sample(scrape(0).text, series) >= 1, timeout=30, what=series)
    finally:
        S.start("otlp-receiver")
    # Back up: pushes resume (after the backoff) and carry the requests made meanwhile.
    want = TRAFFIC[0] + 30
    poll(lambda: pushed_requests(0) == want, timeout=90, interval=0.5,
         what=f"instance-1 pushes {want} again")


def test_request_id_reaches_store_log_lines():
    S.stop("pg-primary")  # last test: the stack is torn down after it
    rid = f"obs-store-{random.randrange(10**9)}"
    r = request(S.instance_urls[0], "POST", "/modules", {"name": "obs.nowrite"},
                headers={"X-Request-Id": rid})
    assert r.status == 503, r
    assert r.json()["request_id"] == rid and r.header("X-Request-Id") == rid, r
    def mine():  # the access line is written when the request completes
        lines = [ln for ln in log_lines("instance-1") if ln.get("request_id") == rid]
        return any(ln.get("msg") == "request" for ln in lines) and lines
    lines = poll(mine, timeout=10, what=f"the access log line of {rid}")
    store = [ln for ln in lines if ln.get("msg", "").startswith("postgres")]
    assert store, lines
    assert store[0].get("pool") == "primary", store[0]
    access = [ln for ln in lines if ln.get("msg") == "request"]
    assert len(access) == 1, lines
    a = access[0]
    assert (a["route"], a["status"], a["pool"]) == ("/modules", 503, "primary"), a
    assert a["bytes"] > 0 and a["duration_ms"] >= 0, a


if __name__ == "__main__":
    run_with_stack(globals(), var="S")
