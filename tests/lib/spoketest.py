"""Helpers for Spoke's integration and end-to-end tests (Python standard library only).

A test file is a plain program registered with ctest (tests/CMakeLists.txt):

    import os, sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
    from spoketest import Stack, request, poll, run

    def test_push_then_pull():
        with Stack() as s:                       # the whole local stack on free ports
            r = request(s.lb_url, "POST", "/modules", {"name": "acme.billing"})
            assert r.status == 201, r

    if __name__ == "__main__":
        run(globals())

Environment: SPOKE_SOURCE_DIR and SPOKE_BUILD_DIR (set by ctest; default: this checkout and its
build/), SPOKE_TEST_SERVER_BIN (run this spoke-server instead of $SPOKE_BUILD_DIR/spoke-server),
SPOKE_KEEP_STACK=1 (keep stack directories for inspection), SPOKE_TEST_FILTER (substring of the
test names to run; command-line arguments work too).
"""

import http.client
import json
import os
import random
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

SOURCE_DIR = os.path.abspath(
    os.environ.get("SPOKE_SOURCE_DIR")
    or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD_DIR = os.path.abspath(os.environ.get("SPOKE_BUILD_DIR") or os.path.join(SOURCE_DIR, "build"))
STACK_SH = os.path.join(SOURCE_DIR, "deployments", "local", "stack.sh")

# Lines in component logs that mean a sanitizer caught something in a server process.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")


# --------------------------------------------------------------------------------------------
# Runner

def run(namespace, argv=None):
    """Runs every test_* function of `namespace` (a module's globals()) in definition order,
    prints `ok name (secs)` or `FAIL name` with the traceback, then `N passed, M failed`, and
    exits 1 when anything failed. Arguments (or SPOKE_TEST_FILTER) select tests by substring."""
    argv = sys.argv[1:] if argv is None else argv
    filters = list(argv) or [f for f in os.environ.get("SPOKE_TEST_FILTER", "").split(",") if f]
    tests = [(name, fn) for name, fn in list(namespace.items())
             if name.startswith("test_") and callable(fn)]
    if filters:
        tests = [(n, f) for n, f in tests if any(sel in n for sel in filters)]
    passed = failed = 0
    for name, fn in tests:
        t0 = time.monotonic()
        try:
            fn()
        except Exception:  # noqa: BLE001 - report every failure, keep going
            failed += 1
            print(f"FAIL {name} ({time.monotonic() - t0:.2f}s)", flush=True)
            traceback.print_exc(file=sys.stdout)
            sys.stdout.flush()
        else:
            passed += 1
            print(f"ok {name} ({time.monotonic() - t0:.2f}s)", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed or not tests else 0)


def run_with_stack(namespace, var="STACK", cleanup=None, **stack_kwargs):
    """Runs a test file against one Stack for all its tests: starts Stack(**stack_kwargs), binds
    it to namespace[var], runs the tests (see run), prints the components' logs only when a test
    failed, stops the stack, calls cleanup() if given, and exits with the tests' status."""
    code = 1
    try:
        with Stack(**stack_kwargs) as stack:
            namespace[var] = stack
            try:
                run(namespace)
            except SystemExit as e:
                code = e.code
            if code:
                stack.dump_logs()
    finally:
        if cleanup:
            cleanup()
    sys.exit(code)


def poll(fn, timeout=30.0, interval=0.1, what=None):
    """Calls fn() until it returns a truthy value (returned) or the timeout passes (TimeoutError
    naming the last value or exception). Exceptions from fn count as "not yet"."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = fn()
            if value:
                return value
            last = value
        except Exception as e:  # noqa: BLE001
            last = e
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what or getattr(fn, '__name__', fn)}: not true after "
                               f"{timeout}s (last: {last!r})")
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# HTTP

class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # http.client.HTTPMessage: case-insensitive get()/get_all()
        self.body = body

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def __repr__(self):
        body = self.text
        if len(body) > 600:
            body = body[:600] + "..."
        return f"<Response {self.status} {body!r}>"


def request(base_url, method, path, body=None, headers=None, timeout=30.0):
    """One HTTP request on a fresh connection. `path` is sent exactly as given (no normalisation,
    no quoting), so "/modules/../x" and "%00" reach the server raw. `body` is bytes, str, or a
    dict/list sent as JSON."""
    u = urllib.parse.urlsplit(base_url)
    hdrs = dict(headers or {})
    lower = {k.lower() for k in hdrs}
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        if "content-type" not in lower:
            hdrs["Content-Type"] = "application/json"
    elif isinstance(body, str):
        body = body.encode()
    prefix = u.path.rstrip("/")
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
    try:
        conn.putrequest(method, prefix + path, skip_host="host" in lower,
                        skip_accept_encoding=True)
        for k, v in hdrs.items():
            conn.putheader(k, v)
        if body is not None and "content-length" not in lower:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, resp.headers, data)
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------
# Processes and ports

def pid_alive(pid):
    """True when the process exists and is not a zombie (orphans may stay unreaped here)."""
    try:
        with open(f"/proc/{int(pid)}/stat") as f:
            stat = f.read()
    except (OSError, ValueError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def port_open(port, host="127.0.0.1", timeout=0.5):
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_free(port, host="127.0.0.1"):
    """True when a server could listen on host:port. SO_REUSEADDR as servers use it, so that
    connections lingering in TIME_WAIT do not count as busy."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def start_process(args, log_path, env=None, cwd=None):
    """Starts a helper process in the background (own session, output to log_path)."""
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=env, cwd=cwd, start_new_session=True)
    finally:
        log.close()


def kill(proc, timeout=10.0):
    """Stops a process started by start_process: SIGTERM, then SIGKILL after timeout."""
    if proc.poll() is not None:
        return proc.returncode
    proc.terminate()
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout)


# --------------------------------------------------------------------------------------------
# The local stack

class StackError(Exception):
    pass


def _stack_ports(offset=0):
    """{component: [port, ...]} as stack.sh computes them for an offset."""
    out = subprocess.run(["bash", STACK_SH, "ports"], capture_output=True, text=True, check=True,
                         env={**os.environ, "SPOKE_STACK_PORT_OFFSET": str(offset)}).stdout
    return {line.split()[0]: [int(p) for p in line.split()[1:]]
            for line in out.splitlines() if line.strip()}


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port_offset(attempts=500):
    """A random offset (multiple of 10, from 10000, or from 100 when the highest default port, a
    sentinel's 26381, leaves no room above 10000) at which every port stack.sh lists is free.
    When possible the offsets keep all ports under the kernel's ephemeral range, where outgoing
    connections (and their TIME_WAIT leftovers) could take them."""
    ports = [p for ps in _stack_ports(0).values() for p in ps]
    top = max(ports)
    low, high = 10000, _ephemeral_low() - top - 1
    if high < low:
        low = 100
    if high < low:
        low, high = 10000, 65535 - top
    for _ in range(attempts):
        offset = random.randrange(low, high + 1, 10)
        if all(port_free(p + offset) for p in ports):
            return offset
    raise StackError("no free port offset found")


class Stack:
    """A local stack (deployments/local/stack.sh) in a fresh temporary SPOKE_STACK_DIR, on a free
    port offset. `Stack()` runs `up` (everything); `Stack(components=[...])` only starts those,
    in that order. `env` adds SPOKE_* settings for the instances (e.g. {"SPOKE_MAX_FILES": "10"}).
    Used as a context manager, it always ends with `down --purge` (SPOKE_KEEP_STACK=1 keeps the
    directory and prints its path), then fails the test if a sanitizer reported an error in a
    server log."""

    def __init__(self, components=None, env=None, port_offset=None, check_sanitizers=True):
        self.components = list(components) if components is not None else None
        self.extra_env = {k: str(v) for k, v in (env or {}).items()}
        self.port_offset = port_offset
        self.check_sanitizers = check_sanitizers
        self.dir = None
        self.server_bin = (os.environ.get("SPOKE_TEST_SERVER_BIN")
                           or os.path.join(BUILD_DIR, "spoke-server"))
        self._ports = None

    # -- lifecycle

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, exc_type, exc, tb):
        # run() ends with sys.exit(): a clean exit (code 0) inside the block is not a failure.
        clean_exit = exc_type is not None and issubclass(exc_type, SystemExit) and not exc.code
        self.close(failed=exc_type is not None and not clean_exit)
        return False

    def open(self):
        if self.port_offset is None:
            self.port_offset = free_port_offset()
        self.dir = tempfile.mkdtemp(prefix="spoke-stack-")
        os.chmod(self.dir, 0o755)  # Postgres and the nginx workers run as other users
        try:
            if self.components is None:
                self.up()
            else:
                for c in self.components:
                    self.start(c)
        except BaseException:
            self.close(failed=True)
            raise

    def close(self, failed=False):
        if self.dir is None or not os.path.isdir(self.dir):
            return
        keep = os.environ.get("SPOKE_KEEP_STACK") == "1"
        if failed:
            self.dump_logs()
        try:
            self.sh("down", check=False)
            problems = self.sanitizer_reports() if self.check_sanitizers else []
        finally:
            if keep:
                print(f"stack kept in {self.dir}", file=sys.stderr, flush=True)
            else:
                self.sh("down", "--purge", check=False)
                shutil.rmtree(self.dir, ignore_errors=True)
        if problems and not failed:
            raise AssertionError("sanitizer reports in server logs:\n" + "\n".join(problems))
        if problems:
            print("sanitizer reports in server logs:\n" + "\n".join(problems), file=sys.stderr)

    # -- stack.sh

    def shell_env(self):
        env = dict(os.environ)
        env.update({
            "SPOKE_STACK_DIR": self.dir,
            "SPOKE_STACK_PORT_OFFSET": str(self.port_offset),
            "SPOKE_SERVER_BIN": self.server_bin,
        })
        env.update(self.extra_env)
        return env

    def sh(self, *args, check=True, timeout=900):
        """Runs stack.sh ARGS; returns the CompletedProcess (stdout and stderr merged, text)."""
        p = subprocess.run(["bash", STACK_SH, *args], env=self.shell_env(), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=timeout)
        if check and p.returncode != 0:
            raise StackError(f"stack.sh {' '.join(args)} exited {p.returncode}:\n{p.stdout}")
        return p

    def up(self):
        return self.sh("up")

    def down(self, purge=False):
        return self.sh("down", *(["--purge"] if purge else []))

    def start(self, component):
        return self.sh("start", component)

    def stop(self, component):
        return self.sh("stop", component)

    def promote_replica(self):
        return self.sh("promote-replica")

    def status(self):
        """{component: {"state", "pid" (int or None), "ports", "health"}}"""
        out = self.sh("status").stdout
        result = {}
        for line in out.splitlines():
            f = line.split(None, 4)
            if len(f) < 4:
                continue
            result[f[0]] = {"state": f[1], "pid": int(f[2]) if f[2].isdigit() else None,
                            "ports": f[3], "health": f[4] if len(f) > 4 else ""}
        return result

    def psql(self, component, sql):
        """Runs sql as the postgres superuser in database spoke on pg-primary or pg-replica;
        returns the unaligned, tuples-only output without the trailing newline."""
        p = self.sh("psql", component, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql, check=False)
        if p.returncode != 0:
            raise StackError(f"psql on {component} failed: {p.stdout.strip()}")
        return p.stdout.rstrip("\n")

    # -- files

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def log(self, component):
        try:
            with open(self.path("logs", f"{component}.log"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def pids(self):
        """{component: pid} from the pid files of running components."""
        result = {}
        piddir = self.path("pids")
        if os.path.isdir(piddir):
            for name in sorted(os.listdir(piddir)):
                if name.endswith(".pid"):
                    with open(os.path.join(piddir, name)) as f:
                        text = f.read().strip()
                    if text.isdigit():
                        result[name[:-4]] = int(text)
        return result

    @property
    def env(self):
        """The stack's env file (written by `up`) as a dict; {} before that."""
        result = {}
        try:
            with open(self.path("env")) as f:
                for line in f:
                    line = line.strip()
                    if line and not line.startswith("#"):
                        key, _, value = shlex.split(line)[0].partition("=")
                        result[key] = value
        except FileNotFoundError:
            pass
        return result

    # -- endpoints (computed from the ports, so they work before `up` wrote the env file)

    def ports(self):
        """{component: [port, ...]} (instances: API port then health port)."""
        if self._ports is None:
            self._ports = _stack_ports(self.port_offset)
        return self._ports

    def port(self, component):
        return self.ports()[component][0]

    def all_ports(self):
        return sorted(p for ps in self.ports().values() for p in ps)

    @property
    def instances(self):
        return [c for c in self.ports() if c.startswith("instance-")]

    @property
    def lb_url(self):
        return f"http://127.0.0.1:{self.port('nginx')}"

    @property
    def instance_urls(self):
        return [f"http://127.0.0.1:{self.ports()[c][0]}" for c in self.instances]

    @property
    def health_urls(self):
        return [f"http://127.0.0.1:{self.ports()[c][1]}" for c in self.instances]

    def postgres_url(self, component, **params):
        query = urllib.parse.urlencode({"sslmode": "disable", "connect_timeout": "2", **params})
        return f"postgres://spoke:spoke@127.0.0.1:{self.port(component)}/spoke?{query}"

    # -- diagnostics

    def sanitizer_reports(self):
        found = []
        logdir = self.path("logs")
        if not os.path.isdir(logdir):
            return found
        for name in sorted(os.listdir(logdir)):
            if not name.startswith("instance-"):
                continue
            for line in self.log(name[:-4]).splitlines():
                if any(m in line for m in SANITIZER_MARKERS):
                    found.append(f"{name}: {line.strip()}")
        return found

    def dump_logs(self, lines=40):
        logdir = self.path("logs")
        if not os.path.isdir(logdir):
            return
        for name in sorted(os.listdir(logdir)):
            if name == "build.log":
                continue
            tail = self.log(name[:-4]).splitlines()[-lines:]
            print(f"--- {self.path('logs', name)} (last {lines} lines) ---", file=sys.stderr)
            print("\n".join(tail), file=sys.stderr, flush=True)
