"""spoke-server against a real Postgres primary and streaming replica (ARCHITECTURE §3): bounded
pools, readiness, replica lag, loss, hang and recovery, read-your-writes while the replica lags,
primary hang, loss and recovery, and promotion of the replica without restarting instances.

The stack provides only Postgres; the spoke-server instances are started here with tuned SPOKE_*
settings (fast replica checks, short timeouts) so every failure is detected and bounded within a
few seconds. Every wait is a poll with a deadline."""

import http.client
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pg_helpers import (PsqlSession, SpokeServer, call, finish, new_workdir,  # noqa: E402
                        postgres_env, push_body, psql_value, run_tests, wait_until)
from spoketest import Stack, free_port_offset  # noqa: E402

RUN = f"p{os.getpid()}"
SEED = f"seed-{RUN}"  # a module with version 1.0.0, replayed on the replica before the tests
BOUND_S = 5.0  # no answer may take longer while a database is down

STACK = None
WORKDIR = None
A = None  # SPOKE_POSTGRES_MAX_CONNS=2
B = None
INSTANCES = []  # every instance started, checked for sanitizer reports and exit status at the end
TUNED = {
    "SPOKE_POSTGRES_HEALTH_INTERVAL_MS": "200",
    "SPOKE_POSTGRES_CONNECT_TIMEOUT_MS": "1000",
    "SPOKE_POSTGRES_ACQUIRE_TIMEOUT_MS": "1000",
    "SPOKE_POSTGRES_QUERY_TIMEOUT_MS": "2000",
}


def primary_url():
    return postgres_env(STACK)["SPOKE_POSTGRES_URL"]


def replica_url():
    return STACK.postgres_url("pg-replica")


def start_instance(name, **extra):
    env = postgres_env(STACK)
    env.update(TUNED)
    env.update(extra)
    inst = SpokeServer(name, env, WORKDIR)
    INSTANCES.append(inst)
    return inst


def on_replica(module):
    """1 when the replica has replayed the module row, 0 when not, -1 while it cannot tell (the
    schema itself not replayed yet, or the replica restarting)."""
    try:
        return int(psql_value(replica_url(),
                              f"SELECT count(*) FROM modules WHERE name = '{module}'"))
    except AssertionError:
        return -1


def replica_super(statement):
    """One statement on the replica as the superuser (replay control needs it); its output."""
    return STACK.psql("pg-replica", statement).strip()


def ready_json(inst):
    r = inst.ready()
    return r.status, r.json()


def replicas_detail(inst):
    status, body = ready_json(inst)
    return status, body["checks"]["postgres_replicas"].get("detail")


def assert_unavailable(r, what):
    assert r.status == 503, f"{what}: expected 503, got {r}"
    body = r.json()
    assert body.get("code") == "unavailable", f"{what}: code {body.get('code')!r} in {body}"
    assert body.get("error"), f"{what}: no error message in {body}"
    retry = r.header("Retry-After")
    assert retry and retry.isdigit() and int(retry) >= 1, f"{what}: Retry-After {retry!r}"
    assert body.get("request_id") and body["request_id"] == r.header("X-Request-Id"), (
        f"{what}: request_id {body.get('request_id')!r} vs X-Request-Id "
        f"{r.header('X-Request-Id')!r}")
    assert r.seconds < BOUND_S, f"{what}: answered after {r.seconds:.2f}s"


def create_module(inst, name, push_version=None):
    r = inst.post("/modules", {"name": name, "description": "postgres integration test"})
    assert r.status == 201, f"POST /modules {name}: {r}"
    if push_version:
        r = inst.post(f"/modules/{name}/versions", push_body(push_version))
        assert r.status == 201, f"push {name}@{push_version}: {r}"


def pools_served(inst, since, path_prefix):
    """The "pool" field of the access-log records for GETs under path_prefix after since."""
    return [rec.get("pool") for rec in inst.log_records(since)
            if rec.get("msg") == "request" and rec.get("method") == "GET"
            and str(rec.get("path", "")).startswith(path_prefix)]


class Readers:
    """Threads that GET existing data in a loop through the given instances and count every
    answer that is not 200 (including client timeouts) until stopped."""

    def __init__(self, instances, paths, threads=4):
        self.instances = instances
        self.paths = paths
        self.ok = 0
        self.failures = []
        self._stop = threading.Event()
        self._mu = threading.Lock()
        self._threads = [threading.Thread(target=self._loop, args=(i,), daemon=True)
                         for i in range(threads)]
        for t in self._threads:
            t.start()

    def _loop(self, k):
        i = k
        while not self._stop.is_set():
            inst = self.instances[i % len(self.instances)]
            path = self.paths[i % len(self.paths)]
            i += 1
            try:
                r = inst.get(path, timeout=BOUND_S)
                good = r.status == 200
                what = r
            except (OSError, http.client.HTTPException) as e:
                good, what = False, e
            with self._mu:
                if good:
                    self.ok += 1
                else:
                    self.failures.append((inst.name, path, repr(what)))

    def count(self):
        with self._mu:
            return self.ok

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=BOUND_S + 5)


def wait_for_reads(readers, n, timeout=20):
    """Lets at least n more reads succeed (or fail loudly at the deadline)."""
    target = readers.count() + n
    wait_until(lambda: readers.count() >= target, timeout, what=f"{n} more successful reads")


# ---- tests ------------------------------------------------------------------------------------


def test_readiness_reports_primary_and_replicas():
    for inst in (A, B):
        def replicas_healthy():
            status, body = ready_json(inst)
            detail = body["checks"]["postgres_replicas"].get("detail")
            return (status, body) if detail == "1/1 healthy" else None

        status, body = wait_until(replicas_healthy, 10,
                                  what=f"{inst.name} to report 1/1 healthy replicas")
        assert status == 200, (status, body)
        assert body["status"] == "ready", body
        primary = body["checks"]["postgres_primary"]
        assert primary["status"] == "ok", body
        assert isinstance(primary.get("latency_ms"), (int, float)), body
        replicas = body["checks"]["postgres_replicas"]
        assert replicas["status"] == "ok", body
        assert isinstance(replicas.get("latency_ms"), (int, float)), body


def test_reads_are_served_by_the_replica():
    mark = A.log_mark()
    for path in (f"/modules/{SEED}", f"/modules/{SEED}/versions",
                 f"/modules/{SEED}/versions/1.0.0"):
        r = A.get(path)
        assert r.status == 200, f"GET {path}: {r}"
    pools = wait_until(lambda: pools_served(A, mark, f"/modules/{SEED}"), 5,
                       what="access-log lines")
    assert "replica" in pools, f"reads of replayed data should use the replica, log says {pools}"


def test_pool_of_two_connections_serves_32_concurrent_clients():
    paths = [f"/modules/{SEED}", f"/modules/{SEED}/versions", f"/modules?prefix={SEED}",
             f"/modules/{SEED}/versions/1.0.0"]
    name = f"pool-{RUN}"
    create_module(A, name)
    failures, lock = [], threading.Lock()

    def reader(k):
        # One keep-alive connection per client: 1600 fresh connections would only measure accept().
        conn = http.client.HTTPConnection("127.0.0.1", A.port, timeout=15)
        try:
            for j in range(50):
                path = paths[(k + j) % len(paths)]
                try:
                    conn.request("GET", path)
                    r = conn.getresponse()
                    body = r.read()
                    bad = None if r.status == 200 else (r.status, body[:200])
                except (OSError, http.client.HTTPException) as e:
                    conn.close()
                    bad = e
                if bad is not None:
                    with lock:
                        failures.append((path, repr(bad)))
        finally:
            conn.close()

    def pusher(k):  # the write pool has two connections too
        for j in range(10):
            try:
                r = A.post(f"/modules/{name}/versions", push_body(f"1.{k}.{j}"), timeout=15)
                bad = None if r.status == 201 else r
            except (OSError, http.client.HTTPException) as e:
                bad = e
            if bad is not None:
                with lock:
                    failures.append((f"push 1.{k}.{j}", repr(bad)))

    threads = [threading.Thread(target=reader, args=(k,)) for k in range(32)]
    threads += [threading.Thread(target=pusher, args=(k,)) for k in range(4)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "clients still running after 120 s"
    assert not failures, (f"{len(failures)} of 1640 requests failed with 2 connections per pool "
                          f"in {time.monotonic() - t0:.1f}s; first: {failures[:5]}")
    # All 40 pushes are counted (read from the replica, which may need a moment to replay them).
    wait_until(lambda: A.get(f"/modules/{name}").json()["version_count"] == 40, 10,
               what="version_count 40")


def test_exhausted_write_pool_answers_503_within_the_acquire_timeout():
    c = start_instance("pool-c", SPOKE_POSTGRES_MAX_CONNS="2",
                       SPOKE_POSTGRES_ACQUIRE_TIMEOUT_MS="300",
                       SPOKE_POSTGRES_QUERY_TIMEOUT_MS="4500")
    names = [f"locked-{RUN}-{i}" for i in range(3)]
    lock = None
    try:
        for n in names:
            create_module(c, n)
        # SHARE on versions blocks the pushes' INSERTs but no reads (and is not replayed on the
        # replica): two pushes then hold both write connections, waiting.
        lock = PsqlSession(primary_url())
        lock.run("BEGIN; LOCK TABLE versions IN SHARE MODE;")
        results = {}

        def push(n):
            try:
                results[n] = c.post(f"/modules/{n}/versions", push_body("1.0.0"), timeout=20)
            except (OSError, http.client.HTTPException) as e:
                results[n] = e

        holders = [threading.Thread(target=push, args=(n,)) for n in names[:2]]
        for t in holders:
            t.start()
        # (From another session: pg_stat_activity is a snapshot fixed for the transaction.)
        def both_blocked():
            blocked = int(psql_value(primary_url(), "SELECT count(*) FROM pg_stat_activity "
                                                    "WHERE wait_event_type = 'Lock'"))
            done = dict(results)
            assert blocked >= 2 or len(done) < 2, f"pushes finished without both blocking: {done}"
            return blocked >= 2

        wait_until(both_blocked, 15, what="two pushes blocked on the lock")

        r = c.post(f"/modules/{names[2]}/versions", push_body("1.0.0"), timeout=15)
        assert_unavailable(r, "push while the write pool is exhausted")
        assert r.seconds < 0.3 + 1.5, f"acquire timeout is 300 ms, answered after {r.seconds:.2f}s"
        # Reads use the replica pool, which is free.
        g = c.get(f"/modules/{SEED}")
        assert g.status == 200, f"read while the write pool is exhausted: {g}"

        for t in holders:
            t.join(timeout=20)
        for n in names[:2]:
            res = results.get(n)
            assert not isinstance(res, Exception) and res is not None, f"push {n}: {res!r}"
            assert_unavailable(res, f"push {n} blocked past the 4500 ms query timeout")
            # Validation (protoc) runs before the INSERT, so allow for it on a loaded machine.
            assert res.seconds < 4.5 + 3.0, f"push {n} took {res.seconds:.2f}s"
    finally:
        if lock:
            lock.run("ROLLBACK;")
            lock.close()
    try:
        # The timed-out pushes left nothing behind on the primary: their connections were closed,
        # not returned to the pool inside a transaction.
        wait_until(lambda: psql_value(primary_url(), "SELECT count(*) FROM pg_stat_activity "
                                      "WHERE application_name = 'spoke' AND (state LIKE "
                                      "'idle in transaction%' OR wait_event_type = 'Lock')")
                   == "0", 10, what="no spoke session left in a transaction or waiting")
        # Timed-out connections were discarded; new ones serve the next pushes.
        for n in names:
            wait_until(lambda: c.post(f"/modules/{n}/versions", push_body("1.0.0"))
                       .status in (200, 201), 10, interval=0.2, what=f"push {n} after the lock")
        r = c.get(f"/modules/{names[0]}/versions/1.0.0")
        assert r.status == 200, r
    finally:
        c.stop()


def test_read_your_writes_while_the_replica_is_paused():
    name = f"ryw-{RUN}"
    replica_super("SELECT pg_wal_replay_pause()")
    try:
        wait_until(lambda: replica_super("SELECT pg_get_wal_replay_pause_state()") == "paused",
                   10, what="replay to pause")
        create_module(A, name, push_version="1.0.0")
        # A new version of a module the replica already has: only the version row is missing.
        r = A.post(f"/modules/{SEED}/versions", push_body("1.5.0"))
        assert r.status == 201, r
        file_path = push_body("1.0.0")["files"][0]["path"]
        # Another instance, at once: the replica has not replayed these rows.
        for inst in (B, A):
            for path in (f"/modules/{name}", f"/modules/{name}/versions/1.0.0",
                         f"/modules/{name}/versions/latest", f"/modules/{name}/versions",
                         f"/modules/{name}/versions/1.0.0/files/{file_path}",
                         f"/modules/{SEED}/versions/1.5.0",
                         f"/modules/{SEED}/versions/1.5.0/files/{file_path}"):
                r = inst.get(path)
                assert r.status == 200, f"{inst.name} GET {path} right after the push: {r}"
            v = inst.get(f"/modules/{name}/versions/1.0.0").json()
            assert v["version"] == "1.0.0" and v["files"] and v["files"][0].get("content"), v
        assert on_replica(name) == 0, "the replica replayed the push although replay is paused"
        assert psql_value(replica_url(), "SELECT count(*) FROM versions v JOIN modules m ON "
                          f"m.id = v.module_id WHERE m.name = '{SEED}' AND v.version = '1.5.0'"
                          ) == "0", "the replica replayed 1.5.0 although replay is paused"
        # The replica stayed in rotation (lag is tiny), so the reads above went there first.
        status, detail = replicas_detail(B)
        assert (status, detail) == (200, "1/1 healthy"), (status, detail)
        # Still a real 404 for what does not exist anywhere.
        r = B.get(f"/modules/{name}/versions/9.9.9")
        assert r.status == 404 and r.json().get("code") == "not_found", r
        r = B.get(f"/modules/missing-{RUN}")
        assert r.status == 404 and r.json().get("code") == "not_found", r
    finally:
        replica_super("SELECT pg_wal_replay_resume()")
    wait_until(lambda: on_replica(name) == 1, 15, what="the replica to replay the push")


def test_replica_beyond_max_lag_leaves_rotation_and_rejoins():
    lagged = start_instance("lag", SPOKE_POSTGRES_MAX_LAG_BYTES="1024")
    name = f"lag-{RUN}"
    try:
        wait_until(lambda: replicas_detail(lagged) == (200, "1/1 healthy"), 10,
                   what="the lag-checking instance to trust the replica")
        replica_super("SELECT pg_wal_replay_pause()")
        try:
            create_module(A, name)
            for i in range(10):  # well over 1 KiB of WAL the replica does not replay
                r = A.post(f"/modules/{name}/versions", push_body(f"0.{i}.0"))
                assert r.status == 201, r
            wait_until(lambda: replicas_detail(lagged) == (200, "0/1 healthy"), 10,
                       what="a replica lagging past SPOKE_POSTGRES_MAX_LAG_BYTES to leave rotation")
            assert replicas_detail(B) == (200, "1/1 healthy"), "B allows 16 MiB of lag"
            mark = lagged.log_mark()
            r = lagged.get(f"/modules/{name}")
            assert r.status == 200 and r.json()["version_count"] == 10, r
            pools = wait_until(lambda: pools_served(lagged, mark, f"/modules/{name}"), 5,
                               what="access-log lines")
            assert pools == ["primary"], f"reads while the only replica lags: {pools}"
        finally:
            replica_super("SELECT pg_wal_replay_resume()")
        wait_until(lambda: replicas_detail(lagged) == (200, "1/1 healthy"), 10,
                   what="the caught-up replica to rejoin")
    finally:
        lagged.stop()


def test_replica_loss_and_recovery():
    paths = [f"/modules/{SEED}", f"/modules/{SEED}/versions/1.0.0"]
    readers = Readers([A, B], paths)
    not_ready = []
    try:
        wait_for_reads(readers, 50)
        STACK.stop("pg-replica")

        def degraded(inst):
            status, detail = replicas_detail(inst)
            if status != 200:
                not_ready.append((inst.name, status))
            return detail == "0/1 healthy"

        for inst in (A, B):
            wait_until(lambda: degraded(inst), 10, what=f"{inst.name} to report 0/1 healthy")
        wait_for_reads(readers, 200)  # served by the primary meanwhile

        STACK.start("pg-replica")
        for inst in (A, B):
            wait_until(lambda: replicas_detail(inst) == (200, "1/1 healthy"), 30,
                       what=f"{inst.name} to report 1/1 healthy again")
        wait_for_reads(readers, 50)
    finally:
        readers.stop()
    assert not readers.failures, (f"{len(readers.failures)} reads failed around the replica "
                                  f"outage ({readers.ok} ok); first: {readers.failures[:5]}")
    assert not not_ready, f"readiness left 200 while only the replica was down: {not_ready[:5]}"

    # The recovered replica serves reads again.
    mark = A.log_mark()

    def served_by_replica():
        assert A.get(f"/modules/{SEED}").status == 200
        return "replica" in pools_served(A, mark, f"/modules/{SEED}")

    wait_until(served_by_replica, 10, interval=0.2, what="reads served by the recovered replica")


def postgres_pids(component):
    """The postmaster of a stack component and its children (from the data dir's
    postmaster.pid and /proc)."""
    with open(STACK.path(component, "data", "postmaster.pid")) as f:
        postmaster = int(f.readline())
    pids = [postmaster]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == postmaster:
            pids.append(int(entry))
    return pids


def test_hung_replica_fails_over_to_the_primary():
    # SIGSTOP: the replica accepts connections but never answers. Reads wait at most a query
    # timeout on it before the primary serves them; the checker then takes it out of rotation.
    paths = [f"/modules/{SEED}", f"/modules/{SEED}/versions", f"/modules/{SEED}/versions/1.0.0"]
    pids = postgres_pids("pg-replica")
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        slow = []
        for inst in (A, B):
            for path in paths:
                r = inst.get(path, timeout=BOUND_S + 5)
                assert r.status == 200, f"{inst.name} GET {path} with the replica hung: {r}"
                slow.append((inst.name, path, round(r.seconds, 2)))
        assert all(t < BOUND_S for _, _, t in slow), f"reads with the replica hung: {slow}"
        for inst in (A, B):
            wait_until(lambda: replicas_detail(inst) == (200, "0/1 healthy"), 10,
                       what=f"{inst.name} to take the hung replica out of rotation")
            t0 = time.monotonic()
            for path in paths:
                r = inst.get(path, timeout=BOUND_S)
                assert r.status == 200, f"{inst.name} GET {path}: {r}"
            assert time.monotonic() - t0 < 1.0, "reads still wait for the hung replica"
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    for inst in (A, B):
        wait_until(lambda: replicas_detail(inst) == (200, "1/1 healthy"), 15,
                   what=f"{inst.name} to take the replica back")


def test_hung_primary_bounds_every_answer():
    # SIGSTOP: the primary accepts TCP connections (kernel backlog) but never answers, the worst
    # case for timeouts. Writes get 503 within connect/acquire + query timeout; reads of replayed
    # data still succeed from the replica.
    pids = postgres_pids("pg-primary")
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        for inst in (A, B):
            r = inst.post(f"/modules/{SEED}/versions", push_body("3.0.0"), timeout=BOUND_S + 5)
            assert_unavailable(r, f"{inst.name} push to a hung primary")
            r = inst.post("/modules", {"name": f"hung-{RUN}-{inst.name}"}, timeout=BOUND_S + 5)
            assert_unavailable(r, f"{inst.name} POST /modules to a hung primary")
            for path in (f"/modules/{SEED}", f"/modules/{SEED}/versions/1.0.0"):
                r = inst.get(path, timeout=BOUND_S + 5)
                assert r.status == 200 and r.seconds < BOUND_S, f"{inst.name} GET {path}: {r}"
            rr = inst.ready()
            assert rr.status == 503 and rr.seconds < BOUND_S, f"{inst.name} readiness: {rr}"
            assert rr.json()["checks"]["postgres_primary"]["status"] == "down", rr
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    for inst in (A, B):
        name = f"unhung-{RUN}-{inst.name}"
        wait_until(lambda: inst.post("/modules", {"name": name}).status == 201, 20,
                   interval=0.25, what=f"{inst.name} to write once the primary answers again")
        wait_until(lambda: inst.ready().status == 200, 10, what=f"{inst.name} ready again")


def test_primary_loss_and_recovery():
    STACK.stop("pg-primary")
    try:
        for inst in (A, B):
            for path in (f"/modules/{SEED}", f"/modules/{SEED}/versions/1.0.0",
                         f"/modules/{SEED}/versions"):
                r = inst.get(path, timeout=BOUND_S)
                assert r.status == 200, f"{inst.name} GET {path} with the primary down: {r}"
                assert r.seconds < BOUND_S, r

            r = inst.post("/modules", {"name": f"down-{RUN}-{inst.name}"}, timeout=BOUND_S + 5)
            assert_unavailable(r, f"{inst.name} POST /modules with the primary down")
            r = inst.post(f"/modules/{SEED}/versions", push_body("2.0.0"), timeout=BOUND_S + 5)
            assert_unavailable(r, f"{inst.name} push with the primary down")
            # A miss on the replica cannot be confirmed: unavailable, never a false 404.
            r = inst.get(f"/modules/absent-{RUN}", timeout=BOUND_S + 5)
            assert_unavailable(r, f"{inst.name} GET of an unknown module with the primary down")
            r = inst.get(f"/modules/{SEED}/versions/9.9.9", timeout=BOUND_S + 5)
            assert_unavailable(r, f"{inst.name} GET of an unknown version with the primary down")

            def primary_down():
                rr = inst.ready()
                body = rr.json()
                ok = (rr.status == 503 and body.get("status") == "not_ready"
                      and body["checks"]["postgres_primary"]["status"] == "down")
                return (rr, body) if ok else None

            rr, body = wait_until(primary_down, 10, what=f"{inst.name} readiness to report "
                                  "postgres_primary down")
            live = call(inst.health_url, "GET", "/health/live", timeout=BOUND_S)
            assert live.status == 200, f"{inst.name} liveness with the primary down: {live}"
            assert rr.seconds < BOUND_S, rr
            assert body["checks"]["postgres_replicas"].get("detail") == "1/1 healthy", body

        # With the replica gone too, nothing can answer: 503, never a 404 or a hang.
        STACK.stop("pg-replica")
        try:
            for inst in (A, B):
                r = inst.get(f"/modules/{SEED}", timeout=BOUND_S + 5)
                assert_unavailable(r, f"{inst.name} GET with both databases down")
        finally:
            STACK.start("pg-replica")
        for inst in (A, B):
            wait_until(lambda: inst.get(f"/modules/{SEED}").status == 200, 10, interval=0.2,
                       what=f"{inst.name} to read from the restarted replica")
    finally:
        STACK.start("pg-primary")

    for inst in (A, B):
        name = f"back-{RUN}-{inst.name}"
        wait_until(lambda: inst.post("/modules", {"name": name}).status == 201, 30,
                   interval=0.25, what=f"{inst.name} to create a module after the primary is back")
        r = inst.post(f"/modules/{name}/versions", push_body("1.0.0"))
        assert r.status == 201, r
        wait_until(lambda: inst.ready().status == 200, 10, what=f"{inst.name} ready again")
        # Once one write went through, no pooled connection from before the outage is reused:
        # a burst wider than the pool succeeds at the first attempt.
        results = [None] * 12

        def write(i):
            try:
                results[i] = inst.post("/modules", {"name": f"{name}-{i}"}, timeout=BOUND_S + 5)
            except (OSError, http.client.HTTPException) as e:
                results[i] = e

        burst = [threading.Thread(target=write, args=(i,)) for i in range(len(results))]
        for t in burst:
            t.start()
        for t in burst:
            t.join(timeout=BOUND_S + 10)
        bad = [r for r in results if getattr(r, "status", None) != 201]
        assert not bad, f"{inst.name}: writes after the primary came back: {bad[:3]}"
    wait_until(lambda: on_replica(f"back-{RUN}-{B.name}") == 1, 30,
               what="the replica to stream from the restarted primary")


def test_promoted_replica_takes_writes_without_restarting_instances():
    STACK.stop("pg-primary")
    STACK.promote_replica()
    for inst in (A, B):
        name = f"promoted-{RUN}-{inst.name}"

        def created():
            r = inst.post("/modules", {"name": name}, timeout=BOUND_S + 5)
            assert r.status in (201, 503), f"{inst.name} POST /modules during promotion: {r}"
            return r.status == 201

        wait_until(created, 30, interval=0.25, what=f"{inst.name} to write to the promoted replica")
        r = inst.post(f"/modules/{name}/versions", push_body("1.0.0"))
        assert r.status == 201, r
    for inst in (A, B):
        for path in (f"/modules/{SEED}/versions/1.0.0",
                     f"/modules/promoted-{RUN}-{A.name}/versions/1.0.0"):
            r = inst.get(path)
            assert r.status == 200, f"{inst.name} GET {path} after promotion: {r}"
        wait_until(lambda: inst.ready().status == 200, 10, what=f"{inst.name} ready after promotion")


def main():
    global STACK, WORKDIR, A, B
    WORKDIR = new_workdir("spoke-postgres-")
    with Stack(components=["pg-primary", "pg-replica"],
               port_offset=free_port_offset()) as stack:
        STACK = stack
        try:
            A = start_instance("a", SPOKE_POSTGRES_MAX_CONNS="2")
            B = start_instance("b")
            create_module(A, SEED, push_version="1.0.0")
            wait_until(lambda: on_replica(SEED) == 1, 15, what="the replica to replay the seed")
            status = run_tests(globals())
            if status:
                stack.dump_logs()
        finally:
            for inst in INSTANCES:
                inst.stop()
    reports = [line for inst in INSTANCES for line in inst.sanitizer_reports()]
    reports += [f"{inst.name}: exit status {inst.proc.returncode} after SIGTERM"
                for inst in INSTANCES if inst.proc.returncode != 0]
    if reports:
        print("problems in instance logs:\n" + "\n".join(reports), flush=True)
        status = 1
    finish(WORKDIR, status)


if __name__ == "__main__":
    main()
