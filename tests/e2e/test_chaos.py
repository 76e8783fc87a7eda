#!/usr/bin/env python3
"""Chaos end to end: the HA shape (three spoke-server instances behind NGINX, Postgres primary +
streaming replica, Redis master + replica watched by three sentinels, S3) under one continuous
mixed load through NGINX (pulls of existing versions, pushes of new ones, lists), while faults
are injected and healed one after another:

  instance-kill   kill -9 an instance, restart it         no failed request at all
  instance-drain  stack.sh stop (SIGTERM, drain), start   no failed request at all
  redis           kill -9 the Redis master (Sentinel      no failed request; reads never wait
                  failover), then all of Redis down,      on Redis
                  then both back
  pg-replica      kill -9 the replica, restart it         no failed request; the replica serves
                                                          reads again afterwards
  s3              stack.sh stop s3, start s3              pushes 503 unavailable; warm pulls
                                                          200; pushes succeed once it is back
  pg-primary-     stack.sh stop pg-primary, start it      pulls 200; pushes 503, then succeed
  restart                                                 again without restarting anything
  pg-primary      kill -9 the primary, promote-replica    pulls 200; pushes 503 (never 404, never
                                                          a hang); pushes succeed after the
                                                          promotion without restarting anything

After every scenario, every push answered 201/200 is read back with identical bytes; at the end
every push refused with 503 is retried (200/201, never 409) and the module's version count is
exact. A table of requests, errors and max latency per scenario is printed. Supersedes the
former test_resilience.py (its checks are folded in here).

Everything runs on loopback, bounded in time and request count.
"""
import hashlib
import json
import os
import random
import signal
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from spoketest import pid_alive, request, run_with_stack  # noqa: E402
from e2e_util import eventually, header  # noqa: E402

STACK = None  # set by run_with_stack()
LOAD = None   # the continuous load, started by the first scenario

READERS = 4                # reader threads (pulls and lists)
READ_PACE = 0.01           # pause between two requests of one reader
WRITE_PACE = 0.05          # pause between two pushes of the writer
LOAD_MAX_SECONDS = 240.0   # hard bound of the whole load
LOAD_MAX_REQUESTS = 60000  # hard bound of the whole load
REQUEST_TIMEOUT = 20.0     # client timeout of one request
HANG_SECONDS = 10.0        # a request slower than this is a violation ("hang")
REDIS_READ_BOUND = 3.0     # with Redis failing, no read may take longer than this
RECENT_MIN_AGE = 0.5       # pulls of pushed versions pick ones acknowledged at least this long ago

SEED_MODULE = "chaos.seed"  # a few versions pushed at setup, pulled throughout (kept warm)
PUSH_MODULE = "chaos.push"  # every push of the load goes here
SEED_VERSIONS = ["1.0.0", "1.1.0", "1.2.0", "2.0.0"]


# --------------------------------------------------------------------------------------------
# Content: every push is a small, valid schema (protoc compiles each push), unique per version.

def files_for(module, version):
    tag = version.replace(".", "_")
    pkg = f"{module}.v{tag}"
    event = (f'syntax = "proto3";\n// {module}@{version}\npackage {pkg};\n\n'
             'import "google/protobuf/timestamp.proto";\n\n'
             'message Event {\n  string id = 1;\n  google.protobuf.Timestamp at = 2;\n'
             f'  int64 seq = 3; // {random.getrandbits(64):016x}\n}}\n')
    service = (f'syntax = "proto3";\npackage {pkg};\n\nimport "chaos/event.proto";\n\n'
               'service Events {\n  rpc Get(Event) returns (Event);\n}\n')
    return [("chaos/event.proto", event), ("chaos/service.proto", service)]


def digest_of(files):
    lines = [b"spoke-manifest-v1\n"] + [
        b"file " + hashlib.sha256(c.encode()).hexdigest().encode() + b" " + p.encode() + b"\n"
        for p, c in sorted(files)]
    return "sha256:" + hashlib.sha256(b"".join(lines)).hexdigest()


def push(base, module, version, files):
    body = {"version": version, "files": [{"path": p, "content": c} for p, c in files]}
    return request(base, "POST", f"/modules/{module}/versions", body=body,
                   timeout=REQUEST_TIMEOUT)


def check_version(resp, files):
    """None when resp is a 200 Version carrying exactly `files` (bytes and digest), else why not."""
    if resp.status != 200:
        return f"status {resp.status} {resp.body[:160]!r}"
    try:
        j = resp.json()
        got = {f["path"]: f["content"] for f in j["files"]}
        digest = j["digest"]
    except (ValueError, KeyError, TypeError) as e:
        return f"bad body {e!r}"
    if got != dict(files):
        return "file contents differ from what was pushed"
    if digest != digest_of(files):
        return f"digest {digest} != {digest_of(files)}"
    return None


# --------------------------------------------------------------------------------------------
# The load

class Stats:
    def __init__(self):
        self.count = {"pull": 0, "list": 0, "push": 0}
        self.status = {}      # (kind, status) -> n
        self.max_latency = {"pull": 0.0, "list": 0.0, "push": 0.0}
        self.violations = []  # texts
        self.window = None    # (start, end) of the fault, seconds since the load started

    def errors(self):
        return len(self.violations)


class Load:
    """Pulls, lists and pushes through NGINX from READERS + 1 threads until stopped or a bound is
    reached. Every request is attributed to the phase current when it started. Rules of what a
    request may answer are switched by the scenarios:
      pushes_may_503  a push may answer 503 unavailable (with Retry-After), nothing else
      pulls_may_503   a pull of a pushed (not seeded) version may answer 503: with S3 down only
                      versions in a cache tier can be served; seeded versions are kept warm
    A request is allowed an outcome if the rule held when it started or when it ended."""

    def __init__(self, base):
        self.base = base
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.phase = "baseline"
        self.stats = {"baseline": Stats()}
        self.order = ["baseline"]
        self.pushes_may_503 = False
        self.pulls_may_503 = False
        self.acked = {}       # version -> files, pushes answered 201/200
        self.acked_at = []    # (monotonic time, version), in order
        self.refused = {}     # version -> files, pushes answered 503
        self.pushes = []      # (start, end, version, status) of every push
        self.total = 0
        self.started = None
        self.threads = []
        self.seed = {}        # version -> files of SEED_MODULE

    # -- bookkeeping

    def set_phase(self, name):
        with self.lock:
            self.phase = name
            if name not in self.stats:
                self.stats[name] = Stats()
                self.order.append(name)

    def now(self):
        return time.monotonic() - self.started

    def _record(self, phase, kind, status, latency, violation=None):
        with self.lock:
            st = self.stats[phase]
            st.count[kind] += 1
            st.status[(kind, status)] = st.status.get((kind, status), 0) + 1
            st.max_latency[kind] = max(st.max_latency[kind], latency)
            if violation is None and latency > HANG_SECONDS:
                violation = f"{kind} took {latency:.1f}s"
            if violation and len(st.violations) < 200:
                st.violations.append(f"t={self.now():.2f}s {violation}")
            self.total += 1
            if self.total >= LOAD_MAX_REQUESTS:
                self.stop_event.set()

    def _bounded(self):
        if self.now() > LOAD_MAX_SECONDS:
            self.stop_event.set()
        return not self.stop_event.is_set()

    # -- readers

    def _pick_recent(self):
        with self.lock:
            cutoff = time.monotonic() - RECENT_MIN_AGE
            n = len(self.acked_at)
            while n and self.acked_at[n - 1][0] > cutoff:
                n -= 1
            if not n:
                return None
            version = self.acked_at[random.randrange(n)][1]
            return version, self.acked[version]

    def _reader(self, i):
        rng = random.Random(i)
        seeds = list(self.seed.items())
        while self._bounded():
            phase = self.phase
            roll = rng.random()
            kind, module, files, path = "list", None, None, None
            if roll < 0.35:
                version, files = rng.choice(seeds)
                kind, module = "pull", SEED_MODULE
                path = f"/modules/{SEED_MODULE}/versions/{version}"
            elif roll < 0.7 and (picked := self._pick_recent()):
                version, files = picked
                kind, module = "pull", PUSH_MODULE
                path = f"/modules/{PUSH_MODULE}/versions/{version}"
            else:
                path = rng.choice(["/modules?prefix=chaos.", f"/modules/{SEED_MODULE}",
                                   f"/modules/{PUSH_MODULE}/versions?limit=10"])
            may_503 = kind == "pull" and module == PUSH_MODULE and self.pulls_may_503
            t0 = time.monotonic()
            try:
                r = request(self.base, "GET", path, timeout=REQUEST_TIMEOUT)
            except Exception as e:  # noqa: BLE001 - a connection-level failure is a client error
                self._record(phase, kind, "exception", time.monotonic() - t0,
                             f"GET {path}: {e!r}")
                continue
            latency = time.monotonic() - t0
            may_503 = may_503 or (kind == "pull" and module == PUSH_MODULE and self.pulls_may_503)
            violation = None
            if kind == "pull":
                if r.status == 503 and may_503:
                    violation = unavailable_problem(r)
                else:
                    why = check_version(r, files)
                    if why:
                        violation = f"GET {path}: {why}"
            elif r.status != 200:
                violation = f"GET {path}: {r.status} {r.body[:160]!r}"
            else:
                try:
                    r.json()
                except ValueError as e:
                    violation = f"GET {path}: bad JSON {e!r}"
            self._record(phase, kind, r.status, latency, violation)
            time.sleep(READ_PACE)

    # -- writer

    def _writer(self):
        n = 0
        while self._bounded():
            phase = self.phase
            n += 1
            version = f"{self.order.index(phase) + 1}.{n}.0"
            files = files_for(PUSH_MODULE, version)
            may_503 = self.pushes_may_503
            t0 = time.monotonic()
            try:
                r = push(self.base, PUSH_MODULE, version, files)
            except Exception as e:  # noqa: BLE001
                self._record(phase, "push", "exception", time.monotonic() - t0,
                             f"push {version}: {e!r}")
                continue
            t1 = time.monotonic()
            may_503 = may_503 or self.pushes_may_503
            violation = None
            with self.lock:
                self.pushes.append((t0, t1, version, r.status))
                if r.status in (200, 201):
                    self.acked[version] = files
                    self.acked_at.append((t1, version))
                elif r.status == 503:
                    self.refused[version] = files
            if r.status in (200, 201):
                try:
                    if r.json().get("digest") != digest_of(files):
                        violation = f"push {version}: digest {r.json().get('digest')}"
                except ValueError as e:
                    violation = f"push {version}: bad JSON {e!r}"
            elif r.status == 503 and may_503:
                violation = unavailable_problem(r)
            else:
                violation = f"push {version}: {r.status} {r.body[:160]!r}"
            self._record(phase, "push", r.status, t1 - t0, violation)
            time.sleep(WRITE_PACE)

    # -- lifecycle

    def start(self):
        self.started = time.monotonic()
        self.threads = [threading.Thread(target=self._reader, args=(i,), daemon=True)
                        for i in range(READERS)]
        self.threads.append(threading.Thread(target=self._writer, daemon=True))
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(REQUEST_TIMEOUT + 10)

    def alive(self):
        return not self.stop_event.is_set()

    def pushes_since(self, t, statuses):
        """Pushes that started at or after monotonic time t and answered one of statuses."""
        with self.lock:
            return [p for p in self.pushes if p[0] >= t and p[3] in statuses]

    def table(self):
        rows = [("scenario", "requests", "pulls", "lists", "pushes ok/503", "errors",
                 "max ms pull/list/push", "fault window")]
        for name in self.order:
            st = self.stats[name]
            ok = sum(n for (k, s), n in st.status.items() if k == "push" and s in (200, 201))
            r503 = st.status.get(("push", 503), 0)
            lat = "/".join(f"{st.max_latency[k] * 1000:.0f}" for k in ("pull", "list", "push"))
            window = (f"{st.window[0]:.1f}-{st.window[1]:.1f}s" if st.window else "-")
            rows.append((name, str(sum(st.count.values())), str(st.count["pull"]),
                         str(st.count["list"]), f"{ok}/{r503}", str(st.errors()), lat, window))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)


def unavailable_problem(r):
    """None when r is the contract's 503: code unavailable, Retry-After, matching request id."""
    try:
        j = r.json()
    except ValueError:
        return f"503 with a non-JSON body {r.body[:120]!r}"
    if j.get("code") != "unavailable":
        return f"503 with code {j.get('code')!r}"
    if not header(r, "Retry-After"):
        return "503 without Retry-After"
    if j.get("request_id") != header(r, "X-Request-Id"):
        return "503 whose request_id differs from X-Request-Id"
    return None


# --------------------------------------------------------------------------------------------
# Faults

def children_of(pid):
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p))
        except (OSError, ValueError, IndexError):
            pass
    return out


def kill9(component, wait_children=False):
    """SIGKILL to a component by the pid the stack recorded for it. With wait_children (Postgres),
    also waits until the dead postmaster's children have exited, as they do on their own."""
    pid = STACK.pids().get(component)
    assert pid and pid_alive(pid), f"{component} is not running (pid {pid})"
    kids = children_of(pid) if wait_children else []
    os.kill(pid, signal.SIGKILL)
    assert eventually(lambda: not pid_alive(pid) and not any(pid_alive(k) for k in kids), 20), \
        f"{component} (pid {pid}) or its children survived SIGKILL"
    return pid


def readiness(health_url):
    try:
        with urllib.request.urlopen(health_url + "/health/ready", timeout=3) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")
    except (OSError, ValueError):
        return None, {}


def check_status(health_url, name):
    return readiness(health_url)[1].get("checks", {}).get(name, {})


def instance_pids():
    return {c: STACK.pids().get(c) for c in STACK.instances}


def redis_roles():
    """{component: 'master' | 'slave' | None (stopped)} from stack.sh status."""
    out = {}
    for c, st in STACK.status().items():
        if c.startswith("redis-"):
            role = None
            if st["state"] == "running" and "role=" in st["health"]:
                role = st["health"].split("role=", 1)[1].split()[0]
            out[c] = role
    return out


def sentinel_masters():
    return {c: st["health"] for c, st in STACK.status().items() if c.startswith("sentinel-")}


def verify_acked(versions, base=None):
    """Reads each acknowledged version back; returns the problems (empty when all identical)."""
    problems = []
    for version in versions:
        files = LOAD.acked[version]
        r = request(base or STACK.lb_url, "GET", f"/modules/{PUSH_MODULE}/versions/{version}",
                    timeout=REQUEST_TIMEOUT)
        why = check_version(r, files)
        if why:
            problems.append(f"{version}: {why}")
    return problems


VERIFIED = set()


class Scenario:
    """One phase of the load: `with Scenario("name") as sc:` inject inside, sc.fault_start() /
    sc.fault_end() bracket the fault window, and on exit (after a settle time) every push
    acknowledged so far and not yet verified is read back."""

    def __init__(self, name, lead=1.0, settle=2.0):
        self.name, self.lead, self.settle = name, lead, settle
        self.t_fault = None
        self.extra = []  # scenario-specific violations

    def __enter__(self):
        ensure_load()
        assert LOAD.alive(), "the load stopped before this scenario (bound reached?)"
        LOAD.set_phase(self.name)
        time.sleep(self.lead)
        return self

    def fault_start(self, what):
        self.t_fault = LOAD.now()
        print(f"[{self.name}] t={self.t_fault:.1f}s {what}", flush=True)

    def note(self, what):
        print(f"[{self.name}] t={LOAD.now():.1f}s {what}", flush=True)

    def fault_end(self, what):
        LOAD.stats[self.name].window = (self.t_fault, LOAD.now())
        print(f"[{self.name}] t={LOAD.now():.1f}s {what}", flush=True)

    def __exit__(self, exc_type, exc, tb):
        LOAD.pushes_may_503 = LOAD.pulls_may_503 = False
        if exc_type is not None:
            return False
        time.sleep(self.settle)
        assert LOAD.alive(), f"{self.name}: the load stopped during the scenario"
        with LOAD.lock:
            todo = [v for v in LOAD.acked if v not in VERIFIED]
        problems = verify_acked(todo)
        VERIFIED.update(todo)
        st = LOAD.stats[self.name]
        st.violations.extend(f"lost or changed acknowledged push {p}" for p in problems)
        st.violations.extend(self.extra)
        self.note(f"verified {len(todo)} acknowledged pushes; {st.errors()} violations")
        assert st.count["push"] > 5, f"{self.name}: only {st.count['push']} pushes ran"
        assert st.count["pull"] > 50, f"{self.name}: only {st.count['pull']} pulls ran"
        assert not st.violations, f"{self.name}: {st.errors()} violations: {st.violations[:8]}"
        return False


# --------------------------------------------------------------------------------------------
# Scenarios (run in this order; pg-primary is last: its old primary stays down)

def test_baseline():
    with Scenario("baseline", lead=0.0, settle=2.0):
        pass


def test_instance_kill():
    """kill -9 of one instance under load: NGINX retries on the next instance (pushes too: they
    are idempotent by digest), then the restarted instance serves again."""
    with Scenario("instance-kill") as sc:
        sc.fault_start("kill -9 instance-2")
        kill9("instance-2")
        time.sleep(2.0)
        STACK.start("instance-2")
        sc.fault_end("instance-2 restarted")
    url = STACK.instance_urls[1]
    version = SEED_VERSIONS[0]
    assert check_version(request(url, "GET", f"/modules/{SEED_MODULE}/versions/{version}"),
                         LOAD.seed[version]) is None, "restarted instance-2 does not serve"


def test_instance_drain():
    """stack.sh stop (SIGTERM): the instance turns unready, drains, exits; nothing fails."""
    with Scenario("instance-drain") as sc:
        sc.fault_start("stop instance-3 (SIGTERM, drain)")
        STACK.stop("instance-3")
        time.sleep(1.5)
        STACK.start("instance-3")
        sc.fault_end("instance-3 started")
    version = SEED_VERSIONS[1]
    r = request(STACK.instance_urls[2], "GET", f"/modules/{SEED_MODULE}/versions/{version}")
    assert check_version(r, LOAD.seed[version]) is None, "restarted instance-3 does not serve"


def test_redis_failover_then_all_down():
    """§4: Redis holds copies only. kill -9 of the master (the sentinels promote the replica),
    then every Redis server down, then both back: no request fails, no read waits on Redis."""
    roles = redis_roles()
    masters = [c for c, r in roles.items() if r == "master"]
    assert len(masters) == 1 and None not in roles.values(), f"Redis roles before: {roles}"
    old = masters[0]
    with Scenario("redis") as sc:
        sc.fault_start(f"kill -9 {old} (the master)")
        kill9(old)
        before = sentinel_masters()

        def failed_over():
            now = redis_roles()
            return any(r == "master" for c, r in now.items() if c != old) and \
                sentinel_masters() != before
        assert eventually(failed_over, 20, 0.3), \
            f"no Sentinel failover after killing {old}: {redis_roles()} {sentinel_masters()}"
        sc.note(f"failed over: {redis_roles()}")
        time.sleep(1.0)
        STACK.stop("redis-master")  # the role: whichever server is the master now
        sc.note(f"all Redis down: {redis_roles()}")
        time.sleep(3.0)
        for _ in range(3):  # restart both (start follows the roles, see stack.sh)
            down = [c for c, r in redis_roles().items() if r is None]
            if not down:
                break
            STACK.start(down[0])
        roles = redis_roles()
        assert None not in roles.values(), f"Redis not back: {roles}"
        sc.fault_end(f"Redis back: {roles}")
        for url in STACK.health_urls:
            assert eventually(lambda: check_status(url, "redis").get("status") == "ok", 30), \
                f"{url}: Redis not ok again: {check_status(url, 'redis')}"
        st = LOAD.stats["redis"]
        for kind in ("pull", "list"):
            if st.max_latency[kind] > REDIS_READ_BOUND:
                sc.extra.append(f"a {kind} took {st.max_latency[kind]:.2f}s with Redis failing")


def replica_requests_since(offsets):
    n = 0
    for c in STACK.instances:
        log = STACK.log(c)
        n += log[offsets.get(c, 0):].count('"pool":"replica"')
    return n


def test_pg_replica_kill():
    """§3: reads fall back to the primary while the replica is down; after it is back the read
    pools use it again (readiness 1/1 healthy, and requests logged with "pool":"replica")."""
    with Scenario("pg-replica") as sc:
        sc.fault_start("kill -9 pg-replica")
        kill9("pg-replica", wait_children=True)
        for url in STACK.health_urls:
            assert eventually(lambda: "0/1" in check_status(url, "postgres_replicas")
                              .get("detail", ""), 15), f"{url}: replica loss not noticed"
        time.sleep(2.0)
        STACK.start("pg-replica")
        sc.fault_end("pg-replica restarted")
        offsets = {c: len(STACK.log(c)) for c in STACK.instances}
        for url in STACK.health_urls:
            assert eventually(lambda: check_status(url, "postgres_replicas").get("detail")
                              == "1/1 healthy", 20), \
                f"{url}: replica not used again: {check_status(url, 'postgres_replicas')}"
        assert eventually(lambda: replica_requests_since(offsets) > 0, 20), \
            "no request served by the replica pool after it came back"
        sc.note(f"replica back in the read pools ({replica_requests_since(offsets)} requests "
                "logged with pool=replica)")


def warm_seeds():
    """Puts every seeded version in every instance's in-process cache (and Redis)."""
    for url in STACK.instance_urls:
        for version, files in LOAD.seed.items():
            r = request(url, "GET", f"/modules/{SEED_MODULE}/versions/{version}")
            assert check_version(r, files) is None, f"{url} {version}: {r.status}"


def test_s3_down():
    """S3 down: pushes 503 unavailable (no version stored), pulls of cached versions 200, lists
    200; S3 back: pushes succeed again without restarting anything."""
    warm_seeds()
    pids = instance_pids()
    with Scenario("s3") as sc:
        LOAD.pushes_may_503 = LOAD.pulls_may_503 = True
        sc.fault_start("stop s3")
        t_down = time.monotonic()
        STACK.stop("s3")
        time.sleep(3.0)
        refused = LOAD.pushes_since(t_down + 0.5, (503,))
        STACK.start("s3")
        t_up = time.monotonic()
        ok = eventually(lambda: LOAD.pushes_since(t_up, (201,)), 20, 0.1)
        LOAD.pushes_may_503 = LOAD.pulls_may_503 = False
        sc.fault_end(f"s3 back; first push after it "
                     f"{'succeeded' if ok else 'never succeeded'}")
        if not refused:
            sc.extra.append("no push was refused with 503 while S3 was down")
        if not ok:
            sc.extra.append("pushes did not succeed again within 20 s of S3 coming back")
    assert instance_pids() == pids, "an instance restarted during the S3 outage"


def test_pg_primary_restart():
    """§3: the primary stopped and started again: reads keep working, pushes answer 503
    unavailable meanwhile, and succeed again once it is back, without restarting instances."""
    pids = instance_pids()
    with Scenario("pg-primary-restart") as sc:
        LOAD.pushes_may_503 = True
        sc.fault_start("stop pg-primary")
        t_down = time.monotonic()
        STACK.stop("pg-primary")
        time.sleep(2.5)
        refused = LOAD.pushes_since(t_down + 0.5, (503,))
        STACK.start("pg-primary")
        t_up = time.monotonic()
        ok = eventually(lambda: LOAD.pushes_since(t_up, (201,)), 20, 0.1)
        LOAD.pushes_may_503 = False
        sc.fault_end(f"pg-primary back; first push after it "
                     f"{'succeeded' if ok else 'never succeeded'}")
        if not refused:
            sc.extra.append("no push was refused with 503 while the primary was down")
        if not ok:
            sc.extra.append("pushes did not succeed again within 20 s of the primary's return")
    assert instance_pids() == pids, "an instance restarted during the primary outage"


def test_pg_primary_kill_and_promote():
    """§3: kill -9 of the primary: pulls and lists keep working from the replica, pushes and
    module creation answer 503 unavailable with Retry-After (never 404, never a hang); after
    promote-replica, pushes succeed again without restarting any instance (the multi-host
    SPOKE_POSTGRES_URL with target_session_attrs=read-write finds the new primary)."""
    pids = instance_pids()
    with Scenario("pg-primary", settle=3.0) as sc:
        LOAD.pushes_may_503 = True
        sc.fault_start("kill -9 pg-primary")
        t_down = time.monotonic()
        kill9("pg-primary", wait_children=True)
        time.sleep(1.0)
        r = request(STACK.lb_url, "POST", "/modules", body={"name": "chaos.while-down"},
                    timeout=REQUEST_TIMEOUT)
        if r.status != 503 or unavailable_problem(r):
            sc.extra.append(f"create module with the primary down: {r.status} {r.body[:160]!r}")
        time.sleep(2.0)
        refused = LOAD.pushes_since(t_down + 0.5, (503,))
        STACK.promote_replica()
        t_up = time.monotonic()
        sc.note("promote-replica done")
        ok = eventually(lambda: LOAD.pushes_since(t_up, (201,)), 30, 0.1)
        LOAD.pushes_may_503 = False
        sc.fault_end(f"first push after the promotion "
                     f"{'succeeded' if ok else 'never succeeded'}")
        if not refused:
            sc.extra.append("no push was refused with 503 while the primary was down")
        if not ok:
            sc.extra.append("pushes did not succeed within 30 s of promote-replica")
        r = request(STACK.lb_url, "POST", "/modules", body={"name": "chaos.after-promote"},
                    timeout=REQUEST_TIMEOUT)
        if r.status != 201:
            sc.extra.append(f"create module after the promotion: {r.status} {r.body[:160]!r}")
    assert instance_pids() == pids, "an instance restarted during the primary outage"


def test_no_lost_pushes():
    """The end state, after the load stopped: every acknowledged push is identical on every
    instance; every refused push, retried as a client would, is stored (201) or was stored
    already (200), never a conflict; the module's version count is exact."""
    ensure_load()
    LOAD.stop()
    problems = []
    versions = sorted(LOAD.acked)
    for i, url in enumerate(STACK.instance_urls):
        # all through NGINX were checked after each scenario; spread a full pass over instances
        problems += verify_acked(versions[i::len(STACK.instance_urls)], base=url)
    retried = {}
    for version, files in sorted(LOAD.refused.items()):
        if version in LOAD.acked:
            continue
        r = push(STACK.lb_url, PUSH_MODULE, version, files)
        retried[r.status] = retried.get(r.status, 0) + 1
        if r.status not in (200, 201):
            problems.append(f"retry of refused {version}: {r.status} {r.body[:160]!r}")
        elif check_version(request(STACK.lb_url, "GET",
                                   f"/modules/{PUSH_MODULE}/versions/{version}"), files):
            problems.append(f"retried {version} does not read back identically")
    pushed = set(LOAD.acked) | set(LOAD.refused)
    r = request(STACK.lb_url, "GET", f"/modules/{PUSH_MODULE}")
    count = r.json().get("version_count") if r.status == 200 else None
    if count != len(pushed):
        problems.append(f"{PUSH_MODULE} has {count} versions, {len(pushed)} were pushed")
    r = request(STACK.lb_url, "GET", f"/modules/{PUSH_MODULE}/versions?limit=1")
    if not header(r, "X-Request-Id"):
        problems.append("a reply through NGINX without X-Request-Id")
    print(f"[final] {len(versions)} acknowledged pushes read back on the instances; "
          f"{sum(retried.values())} refused pushes retried: {retried}; version_count {count}",
          flush=True)
    assert not problems, f"{len(problems)} problems: {problems[:8]}"


# --------------------------------------------------------------------------------------------

def ensure_load():
    """Creates the modules and the seeded versions and starts the load, once (the first scenario
    run does it, so any selection of scenarios works)."""
    global LOAD
    if LOAD is not None:
        return
    for name in (SEED_MODULE, PUSH_MODULE):
        r = request(STACK.lb_url, "POST", "/modules", body={"name": name})
        assert r.status == 201, f"create {name}: {r.status} {r.body[:200]!r}"
    load = Load(STACK.lb_url)
    for version in SEED_VERSIONS:
        files = files_for(SEED_MODULE, version)
        r = push(STACK.lb_url, SEED_MODULE, version, files)
        assert r.status == 201, f"seed {version}: {r.status} {r.body[:200]!r}"
        load.seed[version] = files
    LOAD = load
    warm_seeds()
    LOAD.start()


def report():
    """After the tests (and the stack) are done: stop the load if a failure left it running and
    print the table."""
    if LOAD is None:
        return
    LOAD.stop()
    print(f"\nchaos results ({LOAD.total} requests in {LOAD.now():.1f}s):\n{LOAD.table()}",
          flush=True)


if __name__ == "__main__":
    # Seeded and loaded versions are unrelated schemas: no breaking-change policy (that is
    # tests/e2e/test_evolution.py's subject).
    run_with_stack(globals(), cleanup=report, env={"SPOKE_BREAKING_USE": ""})
