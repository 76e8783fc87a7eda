"""The cache tier with real Redis behind three sentinels (docs/caching.md): read-through and
fill-back across instances, invalidation on push and PATCH visible everywhere within a second,
failover under load with zero failed requests, and a hung or absent Redis costing no errors and no
more than the timeout. One stack serves every test (starting it is the slow part).

Instances run with SPOKE_CACHE_LOCAL_TTL_MS and SPOKE_CACHE_MUTABLE_TTL_S far above the test's
deadlines, so a push can only become visible in time through invalidation, never by expiry."""

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from spoketest import Stack, free_port_offset, poll, request, run  # noqa: E402

TIMEOUT_MS = 100
ENV = {
    # Successive versions here are unrelated schemas: no breaking-change policy (that is
    # tests/e2e/test_evolution.py's subject).
    "SPOKE_BREAKING_USE": "",
    "SPOKE_REDIS_TIMEOUT_MS": str(TIMEOUT_MS),
    "SPOKE_CACHE_LOCAL_TTL_MS": "60000",
    "SPOKE_CACHE_MUTABLE_TTL_S": "600",
}
# Generous on a shared 2-core machine; a client that waited for Redis on every request, or for a
# connect timeout of seconds, would still blow through it.
LATENCY_BUDGET_S = TIMEOUT_MS / 1000 * 2 + 0.6  # reads: two Redis timeouts at most, plus slack
PUSH_BUDGET_S = 5.0
PROTO = 'syntax = "proto3";\npackage {pkg};\nmessage M{n} {{ string id = 1; }}\n'

_stack = None


def stack():
    global _stack
    if _stack is None:
        _stack = Stack(env=ENV)
        _stack.open()
    return _stack


# ---- helpers -----------------------------------------------------------------------------------

def redis_cli(port, *args):
    p = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
                       capture_output=True, text=True, timeout=10)
    return p.stdout.strip()


def sentinel_master_port(s):
    """The master's port as the first answering sentinel says, or None."""
    for c in ("sentinel-1", "sentinel-2", "sentinel-3"):
        out = redis_cli(s.port(c), "SENTINEL", "get-master-addr-by-name", "spoke").split()
        if len(out) == 2:
            return int(out[1])
    return None


def redis_component(s, port):
    return next(c for c in ("redis-master", "redis-replica") if s.port(c) == port)


def wait_sentinels_ready(s):
    """Every sentinel sees the other two and a replica: a failover can be elected."""
    def ready():
        for c in ("sentinel-1", "sentinel-2", "sentinel-3"):
            kv = redis_cli(s.port(c), "SENTINEL", "master", "spoke").split("\n")
            d = dict(zip(kv[0::2], kv[1::2]))
            if d.get("num-other-sentinels") != "2" or d.get("num-slaves") != "1":
                return False
        return True
    poll(ready, 30, what="sentinels know each other and the replica")


def create_module(url, name):
    r = request(url, "POST", "/modules", {"name": name, "description": "cache test"})
    assert r.status == 201, r


def push(url, module, version):
    pkg = module.replace("-", "_")
    body = {"version": version, "files": [
        {"path": f"{pkg.replace('.', '/')}/m.proto",
         "content": PROTO.format(pkg=pkg, n=version.replace(".", "_").replace("-", "_"))}]}
    r = request(url, "POST", f"/modules/{module}/versions", body)
    assert r.status == 201, r
    return r.json()


def cache_tier(s, component, request_id):
    """The "cache" field of the access-log line of request_id in component's log."""
    def find():
        for line in s.log(component).splitlines():
            if request_id in line:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("request_id") == request_id and "cache" in entry:
                    return entry["cache"]
        return None
    return poll(find, 10, interval=0.05, what=f"access log line of {request_id}")


def warm_l1(s, component, url, path):
    """GETs path on one instance until its in-process copy serves it. (A Redis hiccup on a loaded
    machine rightly drops in-process copies for a moment: hence the retries.)"""
    tiers = []

    def served_from_l1():
        rid = f"warm-{component}-{len(tiers)}-{os.getpid()}-{abs(hash(path)) % 10**8}"
        get(url, path, rid)
        tiers.append(cache_tier(s, component, rid))
        return tiers[-1] == "l1"
    poll(served_from_l1, 10, interval=0.05, what=f"{component}{path} from l1 (tiers {tiers})")


def get(url, path, rid=None):
    r = request(url, "GET", path, headers={"X-Request-Id": rid} if rid else None)
    assert r.status == 200, (url, path, r)
    return r


def redis_check(health_url):
    r = request(health_url, "GET", "/health/ready")
    return r.status, r.json()["checks"]["redis"]


class Load:
    """Request loops through NGINX on background threads: reads of cached and mutable data, and
    (writer=True) a push of a fresh version followed by its pull. Counts every request, every
    failure (non-2xx or exception, with a sample) and the latency of each."""

    def __init__(self, url, module, reads, writer=True, threads=2, max_seconds=120):
        self.url, self.module, self.reads, self.writer = url, module, reads, writer
        self.stop_at = time.monotonic() + max_seconds
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.latencies, self.failures, self.pushed = [], [], []
        self.push_latencies = []  # pushes compile with protoc: CPU-bound, kept apart from reads
        self.threads = [threading.Thread(target=self._reader, daemon=True) for _ in range(threads)]
        if writer:
            self.threads.append(threading.Thread(target=self._writer, daemon=True))

    def _one(self, method, path, body=None, ok=(200, 201)):
        t0 = time.monotonic()
        try:
            r = request(self.url, method, path, body, timeout=10)
            good = r.status in ok
            detail = r
        except Exception as e:  # noqa: BLE001 - every failure counts
            good, detail = False, e
        with self.lock:
            (self.push_latencies if method == "POST" else self.latencies).append(
                time.monotonic() - t0)
            if not good:
                self.failures.append((method, path, repr(detail)[:300]))
        return detail if good else None

    def _running(self):
        return not self.stopped.is_set() and time.monotonic() < self.stop_at

    def _reader(self):
        i = 0
        while self._running():
            self._one("GET", self.reads[i % len(self.reads)])
            i += 1

    def _writer(self):
        n = 0
        while self._running():
            n += 1
            version = f"9.{int(time.time())}.{n}"
            pkg = self.module.replace("-", "_")
            body = {"version": version, "files": [
                {"path": f"{pkg.replace('.', '/')}/w.proto",
                 "content": PROTO.format(pkg=pkg, n=n)}]}
            if self._one("POST", f"/modules/{self.module}/versions", body):
                self._one("GET", f"/modules/{self.module}/versions/{version}")
                self._one("GET", f"/modules/{self.module}/versions/latest")
                with self.lock:
                    self.pushed.append(version)
            time.sleep(0.1)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        for t in self.threads:
            t.join(30)
        return False

    def report(self, label):
        lat = sorted(self.latencies)
        n = len(lat)
        p50 = statistics.median(lat) if lat else 0.0
        p99 = lat[int(n * 0.99) - 1] if n >= 100 else (lat[-1] if lat else 0.0)
        slow = sum(1 for x in lat if x > TIMEOUT_MS / 1000)
        worst_push = max(self.push_latencies, default=0.0)
        print(f"{label}: {n} reads, {len(self.failures)} failed, {len(self.pushed)} pushes, "
              f"read latency p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
              f"max {(lat[-1] if lat else 0) * 1000:.1f} ms, {slow} over {TIMEOUT_MS} ms; "
              f"slowest push {worst_push * 1000:.0f} ms", flush=True)
        # A push waits on Redis only for its invalidation (one bounded command): far from this.
        assert worst_push < PUSH_BUDGET_S, f"slowest push {worst_push:.3f}s > {PUSH_BUDGET_S}s"
        return n + len(self.push_latencies), lat[-1] if lat else 0.0, p50


# ---- tests -------------------------------------------------------------------------------------

def test_read_through_fills_every_tier():
    s = stack()
    i1, i2, i3 = s.instance_urls
    for h in s.health_urls:  # connected and subscribed
        poll(lambda: redis_check(h)[1]["status"] == "ok", 30, what=f"{h} redis ok")
    create_module(s.lb_url, "cache.tiers")
    v = push(i1, "cache.tiers", "1.0.0")
    path = "/modules/cache.tiers/versions/1.0.0"

    # Instance 1: Postgres + blobs, then its L1. The fill-back reached Redis: instance 2's first
    # pull comes from there, its second from its own L1.
    first = get(i1, path, "tiers-1a")
    assert first.json()["digest"] == v["digest"], first
    assert cache_tier(s, "instance-1", "tiers-1a") == "miss"
    assert get(i1, path, "tiers-1b").body == first.body
    assert cache_tier(s, "instance-1", "tiers-1b") == "l1"
    assert get(i2, path, "tiers-2a").body == first.body
    assert cache_tier(s, "instance-2", "tiers-2a") == "redis"
    assert get(i2, path, "tiers-2b").body == first.body
    assert cache_tier(s, "instance-2", "tiers-2b") == "l1"
    # ETags work the same from every tier.
    r = request(i2, "GET", path, headers={"If-None-Match": f'"{v["digest"]}"'})
    assert r.status == 304, r

    master = sentinel_master_port(s)
    stored = redis_cli(master, "GET", "version:cache.tiers:1.0.0")
    assert stored.startswith(v["digest"] + "\n"), stored[:120]
    ttl = int(redis_cli(master, "TTL", "version:cache.tiers:1.0.0"))
    assert 6 * 86400 < ttl <= 7 * 86400, ttl

    # Mutable documents: module and version list, and "latest" resolved through the module.
    for rid, p in (("tiers-m", "/modules/cache.tiers"), ("tiers-v", "/modules/cache.tiers/versions"),
                   ("tiers-l", "/modules/cache.tiers/versions/latest")):
        a = get(i3, p, rid + "a")
        assert cache_tier(s, "instance-3", rid + "a") in ("miss", "redis")
        tiers = []

        def same_from_l1():
            r = get(i3, p, f"{rid}b{len(tiers)}")
            tiers.append(cache_tier(s, "instance-3", f"{rid}b{len(tiers)}"))
            assert r.body == a.body
            return tiers[-1] == "l1"
        poll(same_from_l1, 10, interval=0.05, what=f"{p} from l1 (tiers {tiers})")
    assert get(i3, "/modules/cache.tiers/versions/latest").json()["version"] == "1.0.0"
    assert redis_cli(master, "EXISTS", "module:cache.tiers") == "1"
    assert 0 < int(redis_cli(master, "TTL", "module:cache.tiers")) <= 600

    env = s.env
    assert env["SPOKE_REDIS_SENTINELS"] == ",".join(
        f"127.0.0.1:{s.port(c)}" for c in ("sentinel-1", "sentinel-2", "sentinel-3")), env
    assert env["SPOKE_REDIS_MASTER_NAME"] == "spoke" and "SPOKE_REDIS_PASSWORD" not in env, env
    for h in s.health_urls:
        status, check = redis_check(h)
        assert status == 200 and check["status"] == "ok", (h, check)
        assert check["detail"] == f"master 127.0.0.1:{master}", check
    metrics = request(s.health_urls[1], "GET", "/metrics").text
    assert any(line.startswith('spoke_cache_hits_total{tier="redis"}') and
               float(line.split()[-1]) >= 1 for line in metrics.splitlines()), \
        [line for line in metrics.splitlines() if "cache" in line]


def test_push_and_patch_invalidate_every_instance_within_a_second():
    s = stack()
    i1, i2, i3 = s.instance_urls
    create_module(i1, "cache.inval")
    push(i1, "cache.inval", "1.0.0")
    paths = ["/modules/cache.inval", "/modules/cache.inval/versions/latest",
             "/modules/cache.inval/versions"]
    # Warm both readers until their in-process copies serve (so staleness would show).
    for comp, url in (("instance-2", i2), ("instance-3", i3)):
        for p in paths:
            warm_l1(s, comp, url, p)

    checks = {
        "/modules/cache.inval": lambda j: j["latest_version"] == "1.1.0" and j["version_count"] == 2,
        "/modules/cache.inval/versions/latest": lambda j: j["version"] == "1.1.0",
        "/modules/cache.inval/versions": lambda j: [x["version"] for x in j] == ["1.1.0", "1.0.0"],
    }
    push(i1, "cache.inval", "1.1.0")
    t_push = time.monotonic()
    immediate = {}
    for url in (i2, i3):
        for p, ok in checks.items():
            immediate[(url, p)] = ok(get(url, p).json())
            poll(lambda: ok(get(url, p).json()), max(0.0, t_push + 1.0 - time.monotonic()),
                 interval=0.02, what=f"{url}{p} shows 1.1.0 within 1 s of the push")
    took = time.monotonic() - t_push
    print(f"push visible on instances 2 and 3 after {took * 1000:.0f} ms "
          f"(fresh on the first read: {sum(immediate.values())}/{len(immediate)})", flush=True)

    r = request(i1, "PATCH", "/modules/cache.inval", {"description": "patched"})
    assert r.status == 200, r
    t_patch = time.monotonic()
    for url in (i2, i3):
        poll(lambda: get(url, "/modules/cache.inval").json()["description"] == "patched",
             max(0.0, t_patch + 1.0 - time.monotonic()), interval=0.02,
             what=f"{url} shows the PATCH within 1 s")
    master = sentinel_master_port(s)
    assert int(redis_cli(master, "GET", "gen:cache.inval")) >= 2


def test_module_lists_follow_creates_pushes_and_patches_everywhere():
    """GET /modules pages are kept in process (60 s here), so only invalidation can make a
    create, a push or a PATCH through instance 1 show on instances 2 and 3 within a second."""
    s = stack()
    i1, i2, i3 = s.instance_urls
    create_module(i1, "lists.a")
    page = "/modules?prefix=lists.&limit=10"

    def names(url):
        return [m["name"] for m in get(url, page).json()]

    for comp, url in (("instance-2", i2), ("instance-3", i3)):
        warm_l1(s, comp, url, page)

    def visible_everywhere(what, ok):
        t0 = time.monotonic()
        for url in (i2, i3):
            poll(lambda: ok(get(url, page).json()), max(0.0, t0 + 1.0 - time.monotonic()),
                 interval=0.02, what=f"{url}: {what} within 1 s")

    create_module(i1, "lists.b")
    visible_everywhere("the new module listed", lambda j: [m["name"] for m in j] ==
                       ["lists.a", "lists.b"])
    push(i1, "lists.b", "1.0.0")
    visible_everywhere("the push counted", lambda j: j[1]["version_count"] == 1 and
                       j[1]["latest_version"] == "1.0.0")
    assert request(i1, "PATCH", "/modules/lists.a", {"description": "listed"}).status == 200
    visible_everywhere("the PATCH listed", lambda j: j[0]["description"] == "listed")
    assert names(i1) == ["lists.a", "lists.b"]


def test_failover_under_load_loses_no_request():
    s = stack()
    wait_sentinels_ready(s)
    create_module(s.lb_url, "cache.failover")
    push(s.lb_url, "cache.failover", "1.0.0")
    reads = ["/modules/cache.failover/versions/1.0.0", "/modules/cache.failover",
             "/modules/cache.failover/versions/latest", "/modules/cache.failover/versions"]
    old_port = sentinel_master_port(s)
    old = redis_component(s, old_port)
    old_pid = s.status()[old]["pid"]

    with Load(s.lb_url, "cache.failover", reads) as load:
        time.sleep(1.0)
        t_kill = time.monotonic()
        os.kill(old_pid, signal.SIGKILL)
        new_port = poll(lambda: (p := sentinel_master_port(s)) != old_port and p, 30,
                        what="sentinels elect a new master")
        print(f"new master {new_port} announced {time.monotonic() - t_kill:.1f} s after kill -9",
              flush=True)

        # Cache writes land on the new master: a freshly pushed version, once pulled, is there.
        def fresh_pull_cached():
            v = f"8.{int(time.time() * 1000)}.0"
            push(s.lb_url, "cache.failover", v)
            get(s.lb_url, f"/modules/cache.failover/versions/{v}")
            return redis_cli(new_port, "EXISTS", f"version:cache.failover:{v}") == "1"
        poll(fresh_pull_cached, 20, interval=0.2, what="pulls cached on the new master")
        print(f"cache writes on the new master {time.monotonic() - t_kill:.1f} s after the kill",
              flush=True)
        for h in s.health_urls:
            poll(lambda: redis_check(h)[1]["detail"] == f"master 127.0.0.1:{new_port}", 20,
                 what=f"{h} uses the new master")

        # The old master comes back as a replica of the new one, under load.
        s.start(old)
        poll(lambda: redis_cli(old_port, "ROLE").split("\n")[0] == "slave", 20,
             what="old master rejoins as a replica")
        time.sleep(1.5)
    n, worst, _ = load.report("failover")
    assert n > 50 and len(load.pushed) >= 5, (n, load.pushed)
    assert not load.failures, load.failures[:5]
    assert sentinel_master_port(s) == new_port
    assert redis_cli(new_port, "ROLE").split("\n")[0] == "master"


def test_hung_then_absent_redis_costs_no_errors_and_no_waiting():
    s = stack()
    create_module(s.lb_url, "cache.down")
    push(s.lb_url, "cache.down", "1.0.0")
    reads = ["/modules/cache.down/versions/1.0.0", "/modules/cache.down",
             "/modules/cache.down/versions/latest", "/modules/cache.down/versions"]
    pids = {c: s.status()[c]["pid"] for c in
            ("sentinel-1", "sentinel-2", "sentinel-3", "redis-master", "redis-replica")}
    assert all(pids.values()), pids

    # Hung: every Redis process (sentinels too, so nothing fails over) stops answering while its
    # sockets still accept connections. Requests may wait once for the timeout, never longer.
    with Load(s.lb_url, "cache.down", reads) as load:
        time.sleep(0.5)
        try:
            for pid in pids.values():
                os.kill(pid, signal.SIGSTOP)
            t_hung = time.monotonic()

            def degraded_but_ready():
                status, check = redis_check(s.health_urls[0])
                return status == 200 and check["status"] == "degraded" and (status, check)
            status, check = poll(degraded_but_ready, 10, interval=0.1,
                                 what="readiness 200 with redis degraded while Redis hangs")
            print(f"hung: readiness {status}, redis {check}", flush=True)
            # Keep the load running through a 3 s outage in all.
            time.sleep(max(0.0, 3.0 - (time.monotonic() - t_hung)))
        finally:
            for pid in pids.values():
                os.kill(pid, signal.SIGCONT)
        time.sleep(0.5)
    n, worst, p50 = load.report("redis hung")
    assert n > 50 and not load.failures, (n, load.failures[:5])
    assert worst < LATENCY_BUDGET_S, f"slowest request {worst:.3f}s > {LATENCY_BUDGET_S}s"
    # The breaker: after the first timeout, requests stop waiting for Redis at all.
    assert p50 < TIMEOUT_MS / 1000 / 2, f"median {p50 * 1000:.1f} ms while Redis hung"
    for h in s.health_urls:
        poll(lambda: redis_check(h)[1]["status"] == "ok", 20, what=f"{h} recovers after SIGCONT")

    # Absent: all Redis processes stopped. Served from L1 and Postgres, correctly and promptly.
    for c in ("sentinel-1", "sentinel-2", "sentinel-3", "redis-master", "redis-replica"):
        s.stop(c)
    assert all(s.status()[c]["state"] == "stopped" for c in pids), s.status()
    with Load(s.lb_url, "cache.down", reads) as load:
        time.sleep(3.0)
    n, worst, p50 = load.report("redis down")
    assert n > 50 and len(load.pushed) >= 5 and not load.failures, (n, load.failures[:5])
    assert worst < LATENCY_BUDGET_S, f"slowest request {worst:.3f}s > {LATENCY_BUDGET_S}s"
    assert p50 < TIMEOUT_MS / 1000 / 2, f"median {p50 * 1000:.1f} ms while Redis is down"
    # The pushes made while Redis was away are visible everywhere (reads go to the replica now,
    # so allow for its replay lag).
    last = load.pushed[-1]
    for url in s.instance_urls:
        poll(lambda: get(url, "/modules/cache.down").json()["latest_version"] == last and
             get(url, "/modules/cache.down/versions/latest").json()["version"] == last, 10,
             interval=0.05, what=f"{url} shows the last push")
    for h in s.health_urls:
        status, check = redis_check(h)
        assert status == 200 and check["status"] == "degraded", (h, status, check)
        assert "unavailable" in check["detail"], check
    print(f"down: readiness 200, redis {check}", flush=True)


def test_direct_url_with_password_and_database():
    """SPOKE_REDIS_URL instead of Sentinel: AUTH with the URL's password, SELECT its database, and
    the password never in a log line."""
    password = "cache-pw-7f3e"
    offset = free_port_offset()
    port = 6379 + offset
    env = {"SPOKE_REDIS_PASSWORD": password,
           "SPOKE_REDIS_URL": f"redis://:{password}@127.0.0.1:{port}/3"}
    with Stack(components=["pg-primary", "s3", "redis-master", "instance-1"], env=env,
               port_offset=offset) as s:
        assert s.port("redis-master") == port
        url, health = s.instance_urls[0], s.health_urls[0]
        poll(lambda: redis_check(health)[1]["status"] == "ok", 20, what="redis ok")
        status, check = redis_check(health)
        assert status == 200 and check["detail"] == f"master 127.0.0.1:{port}", check
        create_module(url, "cache.direct")
        v = push(url, "cache.direct", "1.0.0")
        get(url, "/modules/cache.direct/versions/1.0.0", "direct-a")
        assert cache_tier(s, "instance-1", "direct-a") == "miss"
        get(url, "/modules/cache.direct/versions/1.0.0", "direct-b")
        assert cache_tier(s, "instance-1", "direct-b") == "l1"
        cli = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "-n", "3", "GET",
                              "version:cache.direct:1.0.0"], capture_output=True, text=True,
                             timeout=10, env={**os.environ, "REDISCLI_AUTH": password})
        assert cli.stdout.startswith(v["digest"] + "\n"), (cli.stdout[:100], cli.stderr)
        assert redis_cli(port, "PING").startswith("NOAUTH"), "the stack's Redis requires AUTH"
        assert password not in s.log("instance-1")


def main():
    failed = True
    try:
        run(globals())
    except SystemExit as e:
        failed = e.code != 0
        raise
    finally:
        if _stack is not None:
            _stack.close(failed=failed)


if __name__ == "__main__":
    main()
