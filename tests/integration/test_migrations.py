"""Schema migrations against a real Postgres primary (`spoke-server migrate`, ARCHITECTURE §3):
three runners at once apply each migration exactly once, a second run applies nothing, a changed
checksum stops both `migrate` and `serve` with a clear error, an unreachable or silent primary
fails fast, and invalid configuration exits 2 with a one-line message naming the variable."""

import hashlib
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pg_helpers  # noqa: E402  (also puts tests/lib on sys.path)
from pg_helpers import (MIGRATIONS_DIR, SERVER_BIN, finish, free_port,  # noqa: E402
                        migration_names, new_workdir, run_tests, with_dbname)
from spoketest import Stack, free_port_offset  # noqa: E402

STACK = None
DB_URL = None  # a database created empty for this file
WORKDIR = None


def base_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOKE_")}
    env["SPOKE_POSTGRES_URL"] = DB_URL
    env.update(extra)
    return env


def migrate(env=None, timeout=60):
    """Runs `spoke-server migrate`; returns (CompletedProcess, seconds)."""
    t0 = time.monotonic()
    p = subprocess.run([SERVER_BIN, "migrate"], env=env or base_env(), capture_output=True,
                       text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return p, time.monotonic() - t0


def applied_count(stdout):
    m = re.search(r"applied (\d+) migration", stdout)
    assert m, f"no 'applied N migration(s)' line in stdout: {stdout!r}"
    return int(m.group(1))


def sql(statement, url=None):
    """Rows of one statement on the test database."""
    return pg_helpers.psql_rows(url or DB_URL, statement)


def file_checksum(name):
    with open(os.path.join(MIGRATIONS_DIR, name + ".sql"), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# ---- tests ------------------------------------------------------------------------------------


def test_three_concurrent_runners_apply_each_migration_once():
    procs = [subprocess.Popen([SERVER_BIN, "migrate"], env=base_env(), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        results.append((p.returncode, out, err))
    for rc, out, err in results:
        assert rc == 0, f"migrate exited {rc}: stdout={out!r} stderr={err!r}"
    names = migration_names()
    assert names, "no migrations/*.sql found"
    total = sum(applied_count(out) for _, out, _ in results)
    assert total == len(names), (
        f"the three runners applied {total} migrations between them, expected {len(names)}: "
        f"{[out for _, out, _ in results]}")

    rows = sql("SELECT version, checksum, count(*) OVER (PARTITION BY version), "
               "applied_at IS NOT NULL FROM schema_migrations ORDER BY version")
    assert [r[0] for r in rows] == names, f"schema_migrations holds {rows}, expected {names}"
    for version, checksum, n, has_time in rows:
        assert n == "1", f"{version} recorded {n} times"
        assert re.fullmatch(r"[0-9a-f]{64}", checksum), f"{version} checksum {checksum!r}"
        assert checksum == file_checksum(version), (
            f"{version} checksum {checksum} is not the SHA-256 of migrations/{version}.sql")
        assert has_time == "t", f"{version} has no applied_at"

    tables = {r[0] for r in sql("SELECT table_name FROM information_schema.tables "
                                "WHERE table_schema = 'public'")}
    for t in ("schema_migrations", "modules", "versions", "version_files",
              "version_dependencies"):
        assert t in tables, f"table {t} missing after migrate; have {sorted(tables)}"


def test_second_run_applies_nothing():
    before = sql("SELECT version, checksum, applied_at FROM schema_migrations ORDER BY version")
    p, _ = migrate()
    assert p.returncode == 0, f"migrate exited {p.returncode}: {p.stderr!r}"
    assert applied_count(p.stdout) == 0, f"second run: {p.stdout!r}"
    assert "applied 0" in p.stdout
    after = sql("SELECT version, checksum, applied_at FROM schema_migrations ORDER BY version")
    assert after == before, f"schema_migrations changed on a no-op run: {before} -> {after}"


def test_changed_checksum_stops_migrate_and_serve():
    name = migration_names()[0]
    good = file_checksum(name)
    sql(f"UPDATE schema_migrations SET checksum = repeat('0', 64) WHERE version = '{name}'")
    try:
        p, secs = migrate()
        assert p.returncode != 0, f"migrate accepted a changed checksum: {p.stdout!r}"
        assert secs < 15, f"migrate took {secs:.1f}s to refuse"
        msg = p.stderr
        assert name in msg and "checksum" in msg.lower(), (
            f"the error should name {name} and the checksum: {msg!r}")

        # `serve` runs the same migrations first and must refuse to start, not retry forever.
        env = base_env(SPOKE_HOST="127.0.0.1", SPOKE_PORT=str(free_port()),
                       SPOKE_HEALTH_PORT=str(free_port()),
                       SPOKE_FILESYSTEM_ROOT=os.path.join(WORKDIR, "blobs"))
        t0 = time.monotonic()
        s = subprocess.run([SERVER_BIN, "serve"], env=env, capture_output=True, text=True,
                           timeout=30, stdin=subprocess.DEVNULL)
        secs = time.monotonic() - t0
        assert s.returncode != 0, "serve started over a changed migration"
        assert secs < 15, f"serve took {secs:.1f}s to refuse"
        assert name in s.stderr and "checksum" in s.stderr.lower(), (
            f"serve's error should name {name} and the checksum: {s.stderr[-2000:]!r}")
    finally:
        sql(f"UPDATE schema_migrations SET checksum = '{good}' WHERE version = '{name}'")
    p, _ = migrate()
    assert p.returncode == 0 and applied_count(p.stdout) == 0, (p.stdout, p.stderr)


def test_closed_port_fails_fast_without_leaking_the_url():
    port = free_port()  # bound and released: nothing listens there
    url = f"postgresql://spoke:s3cret-pw@127.0.0.1:{port}/spoke"
    p, secs = migrate(base_env(SPOKE_POSTGRES_URL=url), timeout=30)
    assert p.returncode != 0, f"migrate succeeded against a closed port: {p.stdout!r}"
    assert secs < 10, f"migrate took {secs:.1f}s to give up on a closed port"
    msg = p.stderr.strip()
    assert msg, "no message on stderr"
    assert re.search(r"unavailable|connect|unreachable|refused", msg, re.I), (
        f"the message does not say the database could not be reached: {msg!r}")
    assert "s3cret-pw" not in p.stderr + p.stdout, f"the password leaked: {p.stderr!r}"


def test_silent_server_is_bounded_by_the_connect_timeout():
    # Accepts TCP connections (kernel backlog) but never speaks the Postgres protocol.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        env = base_env(SPOKE_POSTGRES_URL=f"postgresql://spoke@127.0.0.1:{port}/spoke",
                       SPOKE_POSTGRES_CONNECT_TIMEOUT_MS="1000")
        p, secs = migrate(env, timeout=30)
    assert p.returncode != 0, f"migrate succeeded against a silent server: {p.stdout!r}"
    assert secs < 5, f"migrate took {secs:.1f}s with a 1000 ms connect timeout"
    assert p.stderr.strip(), "no message on stderr"


def test_invalid_config_exits_2_naming_the_variable():
    for var, value in (("SPOKE_PORT", "abc"), ("SPOKE_POSTGRES_QUERY_TIMEOUT_MS", "soon")):
        p, secs = migrate(base_env(**{var: value}), timeout=30)
        assert p.returncode == 2, f"{var}={value}: exit {p.returncode}, stderr {p.stderr!r}"
        assert secs < 5, f"{var}={value}: took {secs:.1f}s"
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1, f"{var}={value}: expected one line on stderr, got {lines}"
        assert var in lines[0], f"{var}={value}: message does not name it: {lines[0]!r}"
        assert value in lines[0] or "invalid" in lines[0].lower(), lines[0]


def main():
    global STACK, DB_URL, WORKDIR
    WORKDIR = new_workdir("spoke-migrations-")
    with Stack(components=["pg-primary"],
               port_offset=free_port_offset()) as stack:
        STACK = stack
        url = stack.postgres_url("pg-primary")
        # A database of our own: whatever the stack set up, this one starts empty.
        dbname = f"spoke_migrations_{os.getpid()}"
        owner = pg_helpers.url_user(url) or "spoke"
        stack.psql("pg-primary", f'CREATE DATABASE {dbname} OWNER "{owner}"')
        DB_URL = with_dbname(url, dbname)
        status = run_tests(globals())
        if status:
            stack.dump_logs()
    finish(WORKDIR, status)


if __name__ == "__main__":
    main()
