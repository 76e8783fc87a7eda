#!/usr/bin/env python3
"""Resilience end to end: steady read traffic through NGINX (and, in most phases, a stream of
pushes) while one component is taken down and brought back: an API instance (stopped, then
killed), the Postgres replica, the Redis master, the Postgres primary. Every read must be 200:
NGINX retries on the remaining instances, the instances fall back from the replica to the
primary, Redis errors are cache misses. Pushes must all succeed except with the primary down,
when they must be 503 unavailable with Retry-After.

Each traffic phase is bounded in time and in request count, and paced so that it spans the whole
outage; counts and latencies are printed for the record.
"""
import hashlib
import json
import os
import signal
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from spoketest import run_with_stack, request  # noqa: E402
from e2e_util import eventually, header  # noqa: E402

STACK = None  # set by main()

THREADS = 6
PHASE_MAX_SECONDS = 25.0   # hard bound of one traffic phase
PHASE_MAX_REQUESTS = 6000  # hard bound of one traffic phase
PACE_SECONDS = 0.01        # per-thread pause between requests
WRITE_PACE_SECONDS = 0.05  # pause between pushes of the writer
WRITES_MAX = 300           # hard bound of the pushes of one phase
MODULE, VERSION = "resilient", "1.0.0"  # read by the traffic; never pushed to after setup
WRITE_MODULE = "resilient-writes"        # every other push goes here, so `latest` stays put
FILES = [("res/v1/a.proto", 'syntax = "proto3";\npackage res.a;\nmessage A { string x = 1; }\n'),
         ("res/v1/b.proto", 'syntax = "proto3";\npackage res.b;\nmessage B { int64 y = 1; }\n')]


def ready(url):
    """GET <health>/health/ready answers 200 (plain urllib: any failure is "not ready")."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health/ready", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


class Traffic:
    """Reads through NGINX from several threads until stopped or a bound is reached."""

    def __init__(self, name):
        self.name = name
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.count = 0
        self.by_status = {}
        self.failures = []  # (seconds since start, what happened)
        self.max_latency = 0.0
        self.latencies = []
        self.started = None
        self.threads = []
        self.expected_digest = None

    def _record(self, status, latency, failure=None):
        with self.lock:
            self.count += 1
            self.by_status[status] = self.by_status.get(status, 0) + 1
            self.max_latency = max(self.max_latency, latency)
            self.latencies.append(latency)
            if failure and len(self.failures) < 50:
                self.failures.append((round(time.monotonic() - self.started, 3), failure))
            if self.count >= PHASE_MAX_REQUESTS:
                self.stop_event.set()

    def _worker(self, i):
        paths = [f"/modules/{MODULE}/versions/{VERSION}", "/modules",
                 f"/modules/{MODULE}", f"/modules/{MODULE}/versions/latest"]
        n = i
        while not self.stop_event.is_set():
            if time.monotonic() - self.started > PHASE_MAX_SECONDS:
                self.stop_event.set()
                break
            path = paths[n % len(paths)]
            n += 1
            t0 = time.monotonic()
            try:
                r = request(STACK.lb_url, "GET", path)
            except Exception as e:  # a connection-level failure counts as a client error
                self._record("exception", time.monotonic() - t0, f"GET {path}: {e!r}")
                continue
            latency = time.monotonic() - t0
            failure = None
            if r.status != 200:
                failure = f"GET {path}: {r.status} {(r.body or b'')[:200]!r}"
            elif path.endswith(VERSION) or path.endswith("latest"):
                try:
                    if r.json()["digest"] != self.expected_digest:
                        failure = f"GET {path}: wrong digest {r.json()['digest']}"
                except (ValueError, KeyError) as e:
                    failure = f"GET {path}: bad body {e!r}"
            self._record(r.status if failure is None or r.status != 200 else "bad-body",
                         latency, failure)
            time.sleep(PACE_SECONDS)

    def start(self, expected_digest):
        self.expected_digest = expected_digest
        self.started = time.monotonic()
        self.threads = [threading.Thread(target=self._worker, args=(i,), daemon=True)
                        for i in range(THREADS)]
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(30)
        elapsed = time.monotonic() - self.started
        lat = sorted(self.latencies) or [0.0]
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        print(f"[{self.name}] {self.count} requests in {elapsed:.1f}s, statuses {self.by_status}, "
              f"p99 {p99 * 1000:.1f} ms, max latency {self.max_latency * 1000:.1f} ms", flush=True)
        for when, what in self.failures[:10]:
            print(f"[{self.name}]   t={when}s {what}", flush=True)
        return elapsed

    def running_for(self):
        return time.monotonic() - self.started

    def alive(self):
        return not self.stop_event.is_set()


def push_fixture():
    for name in (MODULE, WRITE_MODULE):
        r = request(STACK.lb_url, "POST", "/modules", body=json.dumps({"name": name}).encode(),
                    headers={"Content-Type": "application/json"})
        assert r.status in (201, 409), f"create module {name}: {r.status} {r.body[:200]!r}"
    body = {"version": VERSION, "files": [{"path": p, "content": c} for p, c in FILES]}
    r = request(STACK.lb_url, "POST", f"/modules/{MODULE}/versions",
                body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    assert r.status in (200, 201), f"push: {r.status} {r.body[:200]!r}"
    lines = [b"spoke-manifest-v1\n"] + [
        b"file " + hashlib.sha256(c.encode()).hexdigest().encode() + b" " + p.encode() + b"\n"
        for p, c in sorted(FILES)]
    digest = "sha256:" + hashlib.sha256(b"".join(lines)).hexdigest()
    assert r.json()["digest"] == digest, r.json()
    return digest


def sigkill(component):
    """SIGKILL to a stack component by the PID the stack recorded for it."""
    pid = STACK.pids().get(component)
    assert pid, f"no pid recorded for {component}"
    os.kill(pid, signal.SIGKILL)
    assert eventually(lambda: not os.path.exists(f"/proc/{pid}") or
                      open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] in "ZX", 10), \
        f"{component} (pid {pid}) survived SIGKILL"


class Writer:
    """Pushes a new version of MODULE every WRITE_PACE_SECONDS through NGINX. A push NGINX
    replays on another instance after the first one died mid-request answers 200 (same digest),
    so 200 and 201 both count as success."""

    def __init__(self, name, series):
        self.name, self.series = name, series
        self.stop_event = threading.Event()
        self.results = []  # (version, status, body head)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        started = time.monotonic()
        n = 0
        while not self.stop_event.is_set() and n < WRITES_MAX and \
                time.monotonic() - started < PHASE_MAX_SECONDS:
            version = f"{self.series}.{n}.0"
            body = {"version": version,
                    "files": [{"path": p, "content": c + f"// {version}\n"} for p, c in FILES]}
            try:
                r = request(STACK.lb_url, "POST", f"/modules/{WRITE_MODULE}/versions",
                            body=json.dumps(body).encode(),
                            headers={"Content-Type": "application/json"})
                self.results.append((version, r.status, (r.body or b"")[:160]))
            except Exception as e:  # a connection-level failure is a client error
                self.results.append((version, "exception", repr(e)[:160]))
            n += 1
            time.sleep(WRITE_PACE_SECONDS)

    def start(self):
        self.thread.start()

    def finish(self):
        self.stop_event.set()
        self.thread.join(60)
        counts = {}
        for _, status, _ in self.results:
            counts[status] = counts.get(status, 0) + 1
        print(f"[{self.name}] {len(self.results)} pushes, statuses {counts}", flush=True)
        return [x for x in self.results if x[1] not in (200, 201)]


def outage(name, component, down_seconds=3.0, hard=False, during=None, writes=None):
    """Traffic before, during and after taking component down (stack.sh stop, or SIGKILL when
    hard) and starting it again; asserts zero client errors. during() runs while it is down.
    With writes (a major version number), pushes run alongside and must all succeed and be
    readable afterwards."""
    digest = push_fixture()
    traffic = Traffic(name)
    traffic.start(digest)
    writer = Writer(name, writes) if writes is not None else None
    if writer:
        writer.start()
    try:
        time.sleep(1.0)
        assert traffic.alive(), f"{name}: traffic bound reached before the outage"
        t0 = time.monotonic()
        if hard:
            sigkill(component)
        else:
            STACK.stop(component)
        print(f"[{name}] {'killed' if hard else 'stopped'} {component} in "
              f"{time.monotonic() - t0:.2f}s at t={traffic.running_for():.1f}s", flush=True)
        t0 = time.monotonic()
        if during:
            during()
        time.sleep(max(0.0, down_seconds - (time.monotonic() - t0)))
        assert traffic.alive(), f"{name}: traffic bound reached during the outage"
        t0 = time.monotonic()
        STACK.start(component)
        print(f"[{name}] started {component} in {time.monotonic() - t0:.2f}s "
              f"at t={traffic.running_for():.1f}s", flush=True)
        time.sleep(2.0)
        still_running = traffic.alive()
    finally:
        traffic.finish()
        failed_writes = writer.finish() if writer else []
    assert still_running, f"{name}: traffic ended before the component was back"
    errors = {s: n for s, n in traffic.by_status.items() if s != 200}
    assert not errors, f"{name}: client errors {errors}; first: {traffic.failures[:5]}"
    assert traffic.count > 100, f"{name}: only {traffic.count} requests"
    assert not failed_writes, f"{name}: failed pushes {failed_writes[:5]}"
    if writer:
        assert len(writer.results) > 10, f"{name}: only {len(writer.results)} pushes"
        for version, _, _ in writer.results:
            r = request(STACK.lb_url, "GET", f"/modules/{WRITE_MODULE}/versions/{version}")
            assert r.status == 200, f"{name}: pushed {version} then GET: {r.status}"
    for url in STACK.health_urls:
        assert eventually(lambda: ready(url), 30), f"{url} not ready after {name}"
    return traffic


def test_baseline_traffic():
    digest = push_fixture()
    traffic = Traffic("baseline")
    traffic.start(digest)
    try:
        time.sleep(2.0)
    finally:
        traffic.finish()
    assert set(traffic.by_status) == {200}, traffic.by_status


def test_instance_stop_and_start():
    outage("instance-2", "instance-2", writes=2)
    # The restarted instance serves again on its own port.
    url = STACK.instance_urls[1]
    r = request(url, "GET", f"/modules/{MODULE}/versions/{VERSION}")
    assert r.status == 200, f"restarted instance: {r.status}"


def test_replica_stop_and_start():
    outage("pg-replica", "pg-replica", writes=3)
    # Reads keep working on every instance directly as well.
    for url in STACK.instance_urls:
        r = request(url, "GET", f"/modules/{MODULE}/versions/{VERSION}")
        assert r.status == 200, f"{url} after the replica came back: {r.status}"


def test_redis_master_stop_and_start():
    """§4: Redis holds only copies; with its master gone (and the sentinels failing over), every
    request still succeeds and none waits long for Redis."""
    stats = outage("redis-master", "redis-master", writes=5)
    assert stats.max_latency < 5.0, f"a request waited {stats.max_latency:.1f}s with Redis down"


def test_instance_killed_and_started():
    outage("instance-3-kill", "instance-3", hard=True, writes=4)
    r = request(STACK.instance_urls[2], "GET", f"/modules/{MODULE}/versions/{VERSION}")
    assert r.status == 200, f"restarted instance-3: {r.status}"


def test_primary_stop_reads_continue_writes_503():
    """§3: with the primary down, reads still succeed and writes answer 503 unavailable with
    Retry-After (never a hang, a 500 or a 404); after it returns, writes resume without
    restarting the instances."""
    seen = {}

    def write_while_down():
        time.sleep(0.5)
        body = {"version": "9.0.0", "files": [{"path": p, "content": c} for p, c in FILES]}
        t0 = time.monotonic()
        r = request(STACK.lb_url, "POST", f"/modules/{WRITE_MODULE}/versions",
                    body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        seen["push"] = (r, time.monotonic() - t0)
        r = request(STACK.lb_url, "POST", "/modules",
                    body=json.dumps({"name": "while-down"}).encode(),
                    headers={"Content-Type": "application/json"})
        seen["create"] = (r, 0)

    outage("pg-primary", "pg-primary", down_seconds=3.0, during=write_while_down)
    for what, (r, secs) in seen.items():
        print(f"[pg-primary] {what} while down: {r.status} in {secs:.2f}s {r.body[:160]!r}",
              flush=True)
        assert r.status == 503, f"{what} with the primary down: {r.status} {r.body[:200]!r}"
        j = r.json()
        assert j.get("code") == "unavailable", j
        assert j.get("request_id") == header(r, "X-Request-Id"), j
        assert header(r, "Retry-After"), f"{what}: 503 without Retry-After"
    # The version refused while the primary was down was not stored; writes work again.
    def push_works():
        body = {"version": "9.0.0", "files": [{"path": p, "content": c} for p, c in FILES]}
        r = request(STACK.lb_url, "POST", f"/modules/{WRITE_MODULE}/versions",
                    body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        return r.status == 201
    assert eventually(push_works, 20), "writes did not resume after the primary came back"


def test_writes_after_outages():
    """After both outages, a push through NGINX and reads on every instance still work."""
    body = {"version": "1.1.0", "files": [{"path": p, "content": c + "// 1.1\n"} for p, c in FILES]}
    r = request(STACK.lb_url, "POST", f"/modules/{WRITE_MODULE}/versions",
                body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    assert r.status == 201, f"push after outages: {r.status} {r.body[:200]!r}"
    for url in STACK.instance_urls:
        r = request(url, "GET", f"/modules/{WRITE_MODULE}/versions/1.1.0")
        assert r.status == 200, f"{url}: {r.status}"
        assert header(r, "X-Request-Id"), "no X-Request-Id"


def main():
    run_with_stack(globals())


if __name__ == "__main__":
    main()
