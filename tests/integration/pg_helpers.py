"""Helpers shared by the Postgres integration tests (test_postgres*.py, test_migrations*.py):
spoke-server processes started with chosen SPOKE_* settings on free loopback ports and stopped by
PID, their JSON logs, HTTP calls with a hard client-side bound, and a psql session held open (to
keep a transaction and its locks alive). The stack itself comes from tests/lib/spoketest.py."""

import http.client
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("SPOKE_SOURCE_DIR") or os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD_DIR = os.environ.get("SPOKE_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
SERVER_BIN = os.environ.get("SPOKE_TEST_SERVER_BIN") or os.path.join(BUILD_DIR, "spoke-server")
MIGRATIONS_DIR = os.path.join(SOURCE_DIR, "migrations")

sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "lib"))
from spoketest import SANITIZER_MARKERS, kill, request, run, start_process  # noqa: E402


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(fn, timeout, interval=0.1, what="condition"):
    """Calls fn until it returns a truthy value or the deadline passes; returns that value or
    raises AssertionError naming what was awaited and the last value seen. Unlike
    spoketest.poll, only connection errors count as "not yet": an assertion inside fn (say, a
    500 where only 201 or 503 may come) fails at once."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
        except (OSError, http.client.HTTPException) as e:
            last = e
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


def postgres_env(stack):
    """The SPOKE_POSTGRES_* settings an instance of this stack uses: from its env file after
    `up`, else built like stack.sh does for its instances (the primary as a multi-host URL over
    both servers with target_session_attrs=read-write, so a promoted replica takes the writes)."""
    env = {k: v for k, v in stack.env.items() if k.startswith("SPOKE_POSTGRES_")}
    if "SPOKE_POSTGRES_URL" not in env:
        ports = stack.ports()
        hosts = ",".join(f"127.0.0.1:{ports[c][0]}" for c in ("pg-primary", "pg-replica"))
        env["SPOKE_POSTGRES_URL"] = (f"postgres://spoke:spoke@{hosts}/spoke?sslmode=disable"
                                     "&target_session_attrs=read-write&connect_timeout=2")
        env["SPOKE_POSTGRES_REPLICA_URLS"] = stack.postgres_url("pg-replica")
    return env


def with_dbname(url, dbname):
    """The same libpq URI (multi-host allowed) pointing at another database."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + dbname))


def url_user(url):
    """The user name of a libpq URI, or None."""
    netloc = urllib.parse.urlsplit(url).netloc
    if "@" not in netloc:
        return None
    return urllib.parse.unquote(netloc.rsplit("@", 1)[0].split(":", 1)[0]) or None


def migration_names():
    return sorted(f[:-4] for f in os.listdir(MIGRATIONS_DIR) if f.endswith(".sql"))


# ---- HTTP with a bound ------------------------------------------------------------------------


def call(base_url, method, path, body=None, headers=None, timeout=10.0):
    """spoketest.request, timed: the Response gets .seconds. A server that does not answer
    within timeout raises (socket.timeout): a hang is a failure, never a wait."""
    t0 = time.monotonic()
    r = request(base_url, method, path, body=body, headers=headers, timeout=timeout)
    r.seconds = time.monotonic() - t0
    return r


def proto_file(package, message="Thing"):
    return (f'syntax = "proto3";\npackage {package};\n\n'
            f"message {message} {{\n  string id = 1;\n}}\n")


def push_body(version, package="spoke.test.v1"):
    return {"version": version,
            "files": [{"path": package.replace(".", "/") + "/thing.proto",
                       "content": proto_file(package)}]}


# ---- spoke-server processes -------------------------------------------------------------------


class SpokeServer:
    """One spoke-server on free loopback ports with the given SPOKE_* settings (on top of quiet,
    fast-stopping defaults). Output goes to <workdir>/<name>.log; stop() ends it by PID."""

    def __init__(self, name, env, workdir, wait_ready=True):
        self.name = name
        self.port = free_port()
        self.health_port = free_port()
        while self.health_port == self.port:
            self.health_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.health_url = f"http://127.0.0.1:{self.health_port}"
        full = {k: v for k, v in os.environ.items() if not k.startswith("SPOKE_")}
        full.update({
            "SPOKE_HOST": "127.0.0.1",
            "SPOKE_PORT": str(self.port),
            "SPOKE_HEALTH_PORT": str(self.health_port),
            "SPOKE_FILESYSTEM_ROOT": os.path.join(workdir, "blobs"),
            "SPOKE_LOG_LEVEL": "info",
            "SPOKE_DRAIN_MS": "0",
            "SPOKE_SHUTDOWN_TIMEOUT_MS": "5000",
        })
        full.update(env)
        self.env = full
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.proc = start_process([SERVER_BIN, "serve"], self.log_path, env=full)
        try:
            wait_until(self._started, 30, what=f"{name} to serve /health/live")
            if wait_ready:
                wait_until(lambda: self.ready().status == 200, 30, what=f"{name} to be ready")
        except BaseException:
            self.stop()
            raise

    def _started(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n"
                                 + self.log_tail())
        return call(self.health_url, "GET", "/health/live", timeout=2).status == 200

    def ready(self):
        return call(self.health_url, "GET", "/health/ready", timeout=10)

    def get(self, path, timeout=10):
        return call(self.url, "GET", path, timeout=timeout)

    def post(self, path, body, timeout=10):
        return call(self.url, "POST", path, body=body, timeout=timeout)

    def log_mark(self):
        return os.path.getsize(self.log_path)

    def log_records(self, since=0):
        """The JSON log lines written after offset since (other lines skipped)."""
        with open(self.log_path, "rb") as f:
            f.seek(since)
            data = f.read()
        out = []
        for line in data.splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                out.append(rec)
        return out

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def stop(self):
        """SIGTERM by PID (SIGKILL after 15 s); returns the exit status."""
        return kill(self.proc, timeout=15)

    def sanitizer_reports(self):
        """Lines of the log where a sanitizer (ASan/UBSan builds) reported an error."""
        with open(self.log_path, errors="replace") as f:
            return [f"{self.name}: {line.strip()}" for line in f
                    if any(m in line for m in SANITIZER_MARKERS)]


# ---- psql ----------------------------------------------------------------------------------


def psql_rows(conninfo, statement, timeout=30):
    """The rows of one statement run by psql on conninfo, each a list of column texts."""
    p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1",
                        conninfo, "-c", statement],
                       capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise AssertionError(f"psql failed on {statement!r}: {p.stderr.strip()}")
    return [line.split("|") for line in p.stdout.splitlines() if line]


def psql_value(conninfo, statement, timeout=30):
    rows = psql_rows(conninfo, statement, timeout)
    return rows[0][0] if rows else None


# ---- a psql session held open -----------------------------------------------------------------


class PsqlSession:
    """An interactive psql whose statements run in one session, so a transaction (and its locks)
    stays open between calls. run() waits for a marker echoed after the statements."""

    def __init__(self, conninfo, env=None):
        full = dict(os.environ)
        full.update(env or {})
        self.proc = subprocess.Popen(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=0", conninfo],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=full)
        self._lines = queue.Queue()
        self._n = 0
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def run(self, sql, timeout=10):
        self._n += 1
        marker = f"__pg_helpers_done_{self._n}__"
        self.proc.stdin.write(sql.rstrip() + "\n\\echo " + marker + "\n")
        self.proc.stdin.flush()
        out = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"psql did not finish {sql!r} within {timeout}s: {out}")
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"psql exited during {sql!r}: {out}")
            if line == marker:
                return out
            out.append(line)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("\\q\n")
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


def new_workdir(prefix):
    return tempfile.mkdtemp(prefix=prefix)


def run_tests(namespace):
    """spoketest.run, returning its exit status instead of exiting, so the caller can leave its
    Stack normally (a SystemExit inside `with Stack()` counts as a failure there) and still
    clean up."""
    try:
        run(namespace)
    except SystemExit as e:
        return e.code or 0
    return 0


def finish(workdir, status):
    """Removes the work directory (kept, with its instance logs, on failure or with
    SPOKE_KEEP_STACK=1) and exits with status."""
    if status or os.environ.get("SPOKE_KEEP_STACK") == "1":
        print(f"instance logs kept in {workdir}", file=sys.stderr, flush=True)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(status)
