#!/usr/bin/env python3
"""Helpers of bench/run.sh (Python 3 standard library only).

  bench.py setup URL OUTDIR          push the benchmark's modules through URL (the load balancer):
                                     bench.demo@1.0.0 (the cached GET's body, saved to
                                     OUTDIR/body.json for the static baseline) and bench.seedsrc@1.0.0
                                     (whose rows and blobs the seeded registry copies)
  bench.py seed-sql N VERSIONS       SQL that seeds N modules x VERSIONS versions by copying
                                     bench.seedsrc@1.0.0's rows (docs/performance.md)
  bench.py push URL SECONDS CLIENTS ROUND
                                     CI-like pushes for SECONDS from CLIENTS threads; one JSON line
  bench.py sweep URL MODULES CONNS   GET latest of every seeded module once (first reads)
  bench.py ready BIN ENVFILE PORT RUNS
                                     start BIN RUNS times on PORT (health PORT+1) with the stack's
                                     settings; JSON line with the times from exec to /health/ready
  bench.py report RESULTS META OUT   the table from RESULTS (JSON lines), printed and written to OUT
"""
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

# ---- HTTP ------------------------------------------------------------------------------------


def _conn(url, timeout=60.0):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)


def _call(conn, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data is not None else {}
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read()


def _create_module(url, name):
    c = _conn(url)
    status, body = _call(c, "POST", "/modules", {"name": name})
    c.close()
    if status not in (201, 409):
        raise SystemExit(f"bench: creating module {name}: HTTP {status} {body[:200]!r}")


# ---- the benchmark's schemas -------------------------------------------------------------------


def _proto(package, index, messages, extra_field=None, imports=()):
    lines = ['syntax = "proto3";', f"package {package};", ""]
    lines += [f'import "{i}";' for i in imports]
    lines.append("")
    for m in range(messages):
        lines.append(f"// M{index}x{m} is one record of stream {index}.")
        lines.append(f"message M{index}x{m} {{")
        lines.append("  string id = 1;")
        lines.append("  int64 created_at = 2;")
        lines.append("  repeated string tags = 3;")
        lines.append("  map<string, string> labels = 4;")
        if imports:
            lines.append("  Base0 base = 5;")
        if extra_field and m == 0:
            lines.append(f"  int32 {extra_field} = 6;")
        lines.append("}")
        lines.append("")
    if index == 0:
        lines += ["message Base0 {", "  string name = 1;", "}", ""]
    return "\n".join(lines)


def _files(prefix, package, nfiles, messages, changed=None, field=None):
    """nfiles files; file 0 defines Base0 and the others import it (a typical module)."""
    out = []
    for i in range(nfiles):
        imports = (f"{prefix}/file0.proto",) if i else ()
        extra = field if changed == i else None
        out.append({"path": f"{prefix}/file{i}.proto",
                    "content": _proto(package, i, messages, extra, imports)})
    return out


def cmd_setup(url, outdir):
    _create_module(url, "bench.demo")
    _create_module(url, "bench.seedsrc")
    c = _conn(url)
    for name, nfiles, messages in (("bench.demo", 5, 4), ("bench.seedsrc", 3, 2)):
        files = _files(f"bench/{name.split('.')[1]}/v1", name + ".v1", nfiles, messages)
        status, body = _call(c, "POST", f"/modules/{name}/versions",
                             {"version": "1.0.0", "files": files})
        if status not in (200, 201):
            raise SystemExit(f"bench: pushing {name}@1.0.0: HTTP {status} {body[:300]!r}")
    status, body = _call(c, "GET", "/modules/bench.demo/versions/1.0.0")
    if status != 200:
        raise SystemExit(f"bench: GET bench.demo@1.0.0: HTTP {status}")
    with open(os.path.join(outdir, "body.json"), "wb") as f:
        f.write(body)
    c.close()
    print(len(body))


def cmd_seed_sql(n, versions):
    """Copies bench.seedsrc@1.0.0 (pushed through the API, so its blobs exist and its digest,
    descriptor set and symbols are real) into n modules with versions 1.0.0 .. 1.0.<versions-1>:
    every row valid, every blob shared. modules.latest_version and version_count are set as a
    push would set them."""
    n, versions = int(n), int(versions)
    print(f"""\\set ON_ERROR_STOP on
BEGIN;
CREATE TEMP TABLE src ON COMMIT DROP AS
  SELECT v.* FROM versions v JOIN modules m ON m.id = v.module_id
  WHERE m.name = 'bench.seedsrc' AND v.version = '1.0.0';
INSERT INTO modules (name, description, latest_version, version_count)
  SELECT format('seed.m%s', lpad(i::text, 5, '0')), 'seeded by bench/run.sh',
         '1.0.{versions - 1}', {versions}
  FROM generate_series(0, {n - 1}) i;
INSERT INTO versions (module_id, version, major, minor, patch, is_release, pre_key, digest,
                      repository, commit_sha, branch, descriptor_sha256)
  SELECT m.id, '1.0.' || p, 1, 0, p, true, s.pre_key, s.digest, s.repository, s.commit_sha,
         s.branch, s.descriptor_sha256
  FROM modules m CROSS JOIN generate_series(0, {versions - 1}) p CROSS JOIN src s
  WHERE m.name LIKE 'seed.m%';
INSERT INTO version_files (version_id, path, sha256, size)
  SELECT v.id, f.path, f.sha256, f.size
  FROM versions v JOIN modules m ON m.id = v.module_id
  CROSS JOIN (SELECT f.* FROM version_files f JOIN src s ON f.version_id = s.id) f
  WHERE m.name LIKE 'seed.m%';
INSERT INTO version_symbols (version_id, kind, full_name, file)
  SELECT v.id, y.kind, y.full_name, y.file
  FROM versions v JOIN modules m ON m.id = v.module_id
  CROSS JOIN (SELECT y.* FROM version_symbols y JOIN src s ON y.version_id = s.id) y
  WHERE m.name LIKE 'seed.m%';
COMMIT;
ANALYZE modules;
ANALYZE versions;
ANALYZE version_files;
SELECT count(*) AS seeded_versions FROM versions v JOIN modules m ON m.id = v.module_id
  WHERE m.name LIKE 'seed.m%';""")


# ---- pushes ------------------------------------------------------------------------------------


def _pct(values, p):
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))]


def cmd_push(url, seconds, clients, round_no):
    """Each client is a CI pipeline of its own module: every push is a new version with 1-20
    files (file 0 imported by the rest), one of which changed since the previous push."""
    seconds, clients, round_no = float(seconds), int(clients), int(round_no)
    names = [f"bench.ci{k}" for k in range(clients)]
    for name in names:
        _create_module(url, name)
    lat, statuses, lock = [], {}, threading.Lock()
    deadline = time.monotonic() + seconds
    start = threading.Barrier(clients + 1)

    def client(k):
        conn = _conn(url)
        seq = 0
        start.wait()
        while time.monotonic() < deadline:
            nfiles = 1 + (seq * 7 + k * 3) % 20
            files = _files(f"ci{k}/v1", f"bench.ci{k}.v1", nfiles, 3,
                           changed=seq % nfiles, field=f"build_{round_no}_{seq}")
            body = {"version": f"{round_no}.{seq}.0", "files": files,
                    "source_info": {"repository": f"https://git.example/ci{k}",
                                    "commit_sha": f"{round_no:08x}{seq:032x}", "branch": "main"}}
            t0 = time.monotonic()
            try:
                status, _ = _call(conn, "POST", f"/modules/{names[k]}/versions", body)
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conn = _conn(url)
            dt = time.monotonic() - t0
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                if status == 201:
                    lat.append(dt)
            seq += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.monotonic()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    created = statuses.get(201, 0)
    print("BENCH_JSON " + json.dumps({
        "requests": sum(statuses.values()), "created": created, "seconds": elapsed,
        "rps": created / elapsed if elapsed > 0 else 0.0,
        "p50_us": int(_pct(lat, 50) * 1e6), "p99_us": int(_pct(lat, 99) * 1e6),
        "errors": sum(v for k, v in statuses.items() if k != 201),
        "statuses": {str(k): v for k, v in statuses.items()}}))


# ---- first reads -------------------------------------------------------------------------------


def cmd_sweep(url, modules, conns):
    """GET .../versions/latest of every seeded module once, from conns threads (wrk cannot stop
    after a fixed number of requests): the first read of each module, so the later latest
    rounds measure a registry whose modules have been read before. At most 300 s."""
    modules, conns = int(modules), int(conns)
    lat, errors, lock = [], [0], threading.Lock()
    next_idx = [0]
    deadline = time.monotonic() + 300

    def worker():
        conn = _conn(url)
        while time.monotonic() < deadline:
            with lock:
                i = next_idx[0]
                next_idx[0] += 1
            if i >= modules:
                break
            t0 = time.monotonic()
            try:
                status, _ = _call(conn, "GET", f"/modules/seed.m{i:05d}/versions/latest")
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conn = _conn(url)
            dt = time.monotonic() - t0
            with lock:
                if status == 200:
                    lat.append(dt)
                else:
                    errors[0] += 1
        conn.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    print("BENCH_JSON " + json.dumps({
        "requests": len(lat) + errors[0], "seconds": elapsed,
        "rps": (len(lat) + errors[0]) / elapsed if elapsed > 0 else 0.0,
        "p50_us": int(_pct(lat, 50) * 1e6), "p99_us": int(_pct(lat, 99) * 1e6),
        "errors": errors[0] + max(0, modules - len(lat) - errors[0])}))


# ---- start-to-ready ----------------------------------------------------------------------------


def _stack_env(envfile):
    out = subprocess.run(["bash", "-c", 'set -a; . "$1"; env -0', "_", envfile],
                         capture_output=True, check=True).stdout
    env = {}
    for item in out.split(b"\0"):
        if b"=" in item:
            k, v = item.split(b"=", 1)
            env[k.decode()] = v.decode()
    return env


def _ready(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"GET /health/ready HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
            return s.recv(16).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def cmd_ready(binary, envfile, port, runs):
    port, runs = int(port), int(runs)
    base = {k: v for k, v in os.environ.items() if not k.startswith("SPOKE_")}
    stack = {k: v for k, v in _stack_env(envfile).items() if k.startswith("SPOKE_")}
    env = {**base, **stack, "SPOKE_HOST": "127.0.0.1", "SPOKE_PORT": str(port),
           "SPOKE_HEALTH_PORT": str(port + 1), "SPOKE_DRAIN_MS": "0"}
    env.pop("SPOKE_OTEL_ENDPOINT", None)
    times, rss = [], []
    logpath = os.path.join(os.path.dirname(envfile), "logs", "bench-ready.log")
    for _ in range(runs):
        with open(logpath, "ab") as log:
            t0 = time.monotonic()
            proc = subprocess.Popen([binary], env=env, stdout=log, stderr=log,
                                    stdin=subprocess.DEVNULL)
        try:
            deadline = t0 + 30
            while not _ready(port + 1):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"bench: {binary} did not become ready (log: {logpath})")
                time.sleep(0.002)
            times.append(time.monotonic() - t0)
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss.append(int(line.split()[1]))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    print("BENCH_JSON " + json.dumps({
        "runs": runs, "median_ms": statistics.median(times) * 1000,
        "max_ms": max(times) * 1000, "min_ms": min(times) * 1000,
        "rss_at_ready_kb": int(statistics.median(rss)) if rss else 0}))


# ---- report ------------------------------------------------------------------------------------


def cmd_report(results, meta, out):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import report  # bench/lib/report.py

    report.write(results, meta, out)


COMMANDS = {"setup": (cmd_setup, 2), "seed-sql": (cmd_seed_sql, 2), "push": (cmd_push, 4),
            "sweep": (cmd_sweep, 3), "ready": (cmd_ready, 4), "report": (cmd_report, 3)}

if __name__ == "__main__":
    if (len(sys.argv) < 2 or sys.argv[1] not in COMMANDS
            or len(sys.argv) - 2 != COMMANDS[sys.argv[1]][1]):
        sys.stderr.write(__doc__)
        sys.exit(2)
    COMMANDS[sys.argv[1]][0](*sys.argv[2:])
