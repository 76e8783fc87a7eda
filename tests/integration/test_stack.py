"""The local stack (deployments/local/stack.sh): Postgres primary + replica, three spoke-server
instances behind NGINX, started on free loopback ports and stopped by PID."""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from spoketest import Stack, pid_alive, poll, port_open, request, run  # noqa: E402

COMPONENTS = ["pg-primary", "pg-replica", "redis-master", "redis-replica", "sentinel-1",
              "sentinel-2", "sentinel-3", "instance-1", "instance-2", "instance-3", "nginx"]
COMPONENTS += ["otlp-receiver", "prometheus"]  # metrics (docs/observability.md)
COMPONENTS += ["s3"]  # the blob store (tests/integration/test_s3.py)
ENV_KEYS = ["SPOKE_LB_URL", "SPOKE_INSTANCE_URLS", "SPOKE_HEALTH_URLS", "SPOKE_POSTGRES_URL",
            "SPOKE_POSTGRES_REPLICA_URLS", "SPOKE_FILESYSTEM_ROOT"]
ENV_KEYS += ["SPOKE_S3_ENDPOINT", "SPOKE_S3_BUCKET", "SPOKE_S3_REGION", "SPOKE_S3_ACCESS_KEY",
             "SPOKE_S3_SECRET_KEY", "SPOKE_S3_USE_PATH_STYLE"]
ENV_KEYS += ["SPOKE_REDIS_SENTINELS", "SPOKE_REDIS_MASTER_NAME"]  # docs/caching.md


def psql_url(url, sql):
    """sql over TCP with a libpq URL (password auth, as the instances connect)."""
    return subprocess.run(["/usr/lib/postgresql/15/bin/psql", "-XAtq", "-v", "ON_ERROR_STOP=1",
                           url, "-c", sql], capture_output=True, text=True, check=True,
                          timeout=30).stdout.strip()


def test_postgres_primary_replica_and_promotion():
    with Stack(components=["pg-primary", "pg-replica"]) as s:
        st = s.status()
        assert st["pg-primary"]["state"] == "running", st
        assert st["pg-replica"]["state"] == "running", st
        assert s.psql("pg-primary", "select pg_is_in_recovery()") == "f"
        assert s.psql("pg-replica", "select pg_is_in_recovery()") == "t"

        # The spoke role logs in with its password over TCP and owns the spoke database.
        primary = s.postgres_url("pg-primary")
        assert psql_url(primary, "select current_user, pg_catalog.pg_get_userbyid(datdba) "
                                 "from pg_database where datname = 'spoke'") == "spoke|spoke"
        psql_url(primary, "create table probe (x int); insert into probe values (1)")
        poll(lambda: s.psql("pg-replica", "select count(*) from probe") == "1", 30,
             what="replica sees the first row")

        # A restarted replica catches up on what it missed.
        s.stop("pg-replica")
        assert s.status()["pg-replica"]["state"] == "stopped"
        psql_url(primary, "insert into probe values (2)")
        s.start("pg-replica")
        poll(lambda: s.psql("pg-replica", "select count(*) from probe") == "2", 30,
             what="restarted replica catches up")

        # Promotion: with the primary gone, the instances' multi-host URL finds the new primary.
        s.stop("pg-primary")
        s.promote_replica()
        assert s.psql("pg-replica", "select pg_is_in_recovery()") == "f"
        multi = (f"postgres://spoke:spoke@127.0.0.1:{s.port('pg-primary')},"
                 f"127.0.0.1:{s.port('pg-replica')}/spoke"
                 "?sslmode=disable&target_session_attrs=read-write&connect_timeout=2")
        assert psql_url(multi, "insert into probe values (3) returning inet_server_port()") == \
            str(s.port("pg-replica"))
        # The old primary must not come back as a second primary.
        p = s.sh("start", "pg-primary", check=False)
        assert p.returncode != 0 and "promoted" in p.stdout, p.stdout


def test_stack_lifecycle():
    with Stack() as s:
        pids = s.pids()
        assert sorted(pids) == sorted(COMPONENTS), pids
        assert all(pid_alive(p) for p in pids.values()), pids
        seen = set(pids.values())

        # A second up starts nothing new and returns quickly.
        t0 = time.monotonic()
        out = s.up().stdout
        took = time.monotonic() - t0
        assert s.pids() == pids, (pids, s.pids(), out)
        assert took < 15, f"second up took {took:.1f}s:\n{out}"
        assert "started (pid" not in out, out

        st = s.status()
        assert sorted(st) == sorted(COMPONENTS), st
        for c in COMPONENTS:
            assert st[c]["state"] == "running" and st[c]["pid"] == pids[c], st
        for c in s.instances:
            assert st[c]["health"] == "ready=200", st

        env = s.env
        for k in ENV_KEYS:
            assert env.get(k), (k, env)
        assert env["SPOKE_LB_URL"] == s.lb_url, env
        assert env["SPOKE_INSTANCE_URLS"].split(",") == s.instance_urls, env
        assert env["SPOKE_HEALTH_URLS"].split(",") == s.health_urls, env
        assert "target_session_attrs=read-write" in env["SPOKE_POSTGRES_URL"], env
        assert env["SPOKE_FILESYSTEM_ROOT"] == s.path("blobs"), env

        for url in s.health_urls:
            r = request(url, "GET", "/health/ready")
            assert r.status == 200, (url, r)

        # One instance down: NGINX keeps answering through the other two.
        s.stop("instance-2")
        assert s.status()["instance-2"]["state"] == "stopped"
        assert not pid_alive(pids["instance-2"])
        for i in range(20):
            r = request(s.lb_url, "GET", "/health/live")
            assert r.status == 200, (i, r)

        s.start("instance-2")
        r = request(s.health_urls[1], "GET", "/health/ready")
        assert r.status == 200, r
        seen.update(s.pids().values())

        # With no instance at all, NGINX's own error is JSON in the registry's error shape.
        for c in s.instances:
            s.stop(c)
        r = request(s.lb_url, "GET", "/modules", headers={"X-Request-Id": "stack-test-1"})
        assert r.status == 502, r
        body = r.json()
        assert body["code"] == "unavailable" and body["request_id"] == "stack-test-1", body
        assert body["error"], body
        assert r.header("Retry-After"), r.headers
        assert r.header("Content-Type", "").startswith("application/json"), r.headers

        s.down()
        busy = [p for p in s.all_ports() if port_open(p)]
        assert not busy, f"ports still accepting connections after down: {busy}"
        alive = [p for p in seen if pid_alive(p)]
        assert not alive, f"processes alive after down: {alive}"


if __name__ == "__main__":
    run(globals())
