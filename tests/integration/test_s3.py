"""The S3 blob store against a real S3 server (the stack's s3rver, which checks SigV4 signatures):
round trips of edge-case files, dedup, a wrong secret at start, an S3 outage and its recovery
without restarts, and the garbage collector (dry run, apply, the filesystem backend, and safety
while pushes run). One stack for the whole file; each test uses its own modules."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from spoketest import (BUILD_DIR, SANITIZER_MARKERS, poll, port_free, request,  # noqa: E402
                       run_with_stack)

S = None  # the stack
RUN = uuid.uuid4().hex[:8]
MIB = 1024 * 1024
ENV = {
    # Successive versions here are unrelated schemas: no breaking-change policy (that is
    # tests/e2e/test_evolution.py's subject).
    "SPOKE_BREAKING_USE": "",
    "SPOKE_MAX_FILE_BYTES": str(4 * MIB + 4096),
    "SPOKE_MAX_BODY_BYTES": str(12 * MIB),
    "SPOKE_S3_HEALTH_CACHE_MS": "500",
}
SERVER = os.environ.get("SPOKE_TEST_SERVER_BIN") or os.path.join(BUILD_DIR, "spoke-server")
OLD = time.time() - 2 * 86400  # "two days ago", older than the default GC minimum age
CREDENTIALS_MSG = "S3 rejected the credentials (SPOKE_S3_ACCESS_KEY/SPOKE_S3_SECRET_KEY)"


# --------------------------------------------------------------------------------------------
# Helpers

def sha(data):
    return hashlib.sha256(data).hexdigest()


def key_of(h):
    return f"proto-files/sha256/{h[:2]}/{h[2:]}"


def object_path(h):
    """Where s3rver keeps the object of blob h in the stack's S3 data directory."""
    return S.path("s3", "spoke", "proto-files", "sha256", h[:2], f"{h[2:]}._S3rver_object")


def s3_keys():
    """{sha256: path} of every blob object in S3."""
    root = S.path("s3", "spoke", "proto-files", "sha256")
    found = {}
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith("._S3rver_object") and len(f) == 62 + len("._S3rver_object"):
                found[os.path.basename(d) + f[:62]] = os.path.join(d, f)
    return found


def plant(data, mtime=OLD):
    """Puts an object straight into s3rver's data directory (as an unreferenced blob left by a
    failed push would be), dated mtime. Returns its digest."""
    h = sha(data)
    path = object_path(h)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path, (mtime, mtime))
    return h


def s3_requests(method, path_part=""):
    """Requests s3rver logged ("s3 METHOD URL STATUS"), filtered."""
    return [line for line in S.log("s3").splitlines()
            if line.startswith(f"s3 {method} ") and path_part in line]


def instance_env(**overrides):
    """The instances' environment (from the stack's env file) for running spoke-server here."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOKE_")}
    env.update({k: v for k, v in S.env.items() if k.startswith("SPOKE_")})
    env.update(ENV)
    env["SPOKE_HOST"] = "127.0.0.1"
    env["SPOKE_LOG_LEVEL"] = "warn"
    env.update(overrides)
    return env


def free_ports(n):
    ports = []
    for p in range(30000, 32000):
        if len(ports) == n:
            break
        if port_free(p):
            ports.append(p)
    return ports


def clean_exit(p):
    """p, after checking that no sanitizer reported anything (it may have failed on purpose)."""
    found = [line for line in p.stderr.splitlines() if any(m in line for m in SANITIZER_MARKERS)]
    assert not found, "sanitizer report:\n" + p.stderr[-4000:]
    return p


def gc(*args, env=None, timeout=120):
    return clean_exit(subprocess.run([SERVER, "gc", *args], env=env or instance_env(),
                                     capture_output=True, text=True, timeout=timeout))


def proto(package, extra=""):
    return f'syntax = "proto3";\npackage {package};\n{extra}'


def create_module(name, url=None):
    r = request(url or S.lb_url, "POST", "/modules", {"name": name})
    assert r.status == 201, r


def push(name, version, files, url=None, timeout=60):
    body = {"version": version, "files": [{"path": p, "content": c} for p, c in files.items()]}
    return request(url or S.lb_url, "POST", f"/modules/{name}/versions", body, timeout=timeout)


def get_version(name, version, url):
    r = request(url, "GET", f"/modules/{name}/versions/{version}", timeout=60)
    assert r.status == 200, (url, r)
    return {f["path"]: f for f in r.json()["files"]}


def version_rows(name, version):
    return S.psql("pg-primary", "SELECT count(*) FROM versions v JOIN modules m ON m.id = v.module_id"
                                f" WHERE m.name = '{name}' AND v.version = '{version}'")


def ready(url):
    r = request(url, "GET", "/health/ready", timeout=10)
    return r.status, r.json()


# --------------------------------------------------------------------------------------------
# Round trips and dedup

BIG = None


def big_file():
    """Exactly 4 MiB of valid proto: a header, then comment lines."""
    head = proto("big.v1", "message Big { string id = 1; }\n").encode()
    line = b"// " + b"x" * 76 + b"\n"
    body = head + line * ((4 * MIB - len(head)) // len(line))
    body += b"/" * (4 * MIB - len(body) - 1) + b"\n"
    assert len(body) == 4 * MIB
    return body.decode()


def test_round_trips_of_empty_small_large_and_utf8_files():
    global BIG
    BIG = big_file()
    files = {
        "empty.proto": "",
        "one.proto": "\n",
        "big.proto": BIG,
        "utf8/names.proto": proto("utf8.v1", "// Grüße, 日本語, emoji 🚀, Ω≈ç√\n"
                                             "message Names { string n = 1; }\n"),
    }
    name = f"s3.rt{RUN}"
    create_module(name)
    r = push(name, "1.0.0", files)
    assert r.status == 201, r

    objects = s3_keys()
    for path, content in files.items():
        data = content.encode()
        h = sha(data)
        assert h in objects, (path, h, "not in S3")
        with open(objects[h], "rb") as f:
            assert f.read() == data, f"S3 object of {path} differs from what was pushed"
    # The filesystem root is not used when S3 is configured.
    assert not os.path.exists(S.path("blobs", "proto-files")), os.listdir(S.path("blobs"))

    # Every instance reads them back from S3 (none has the version cached yet).
    for url in S.instance_urls:
        got = get_version(name, "1.0.0", url)
        for path, content in files.items():
            assert got[path]["content"] == content, (url, path, len(got[path]["content"]))
            assert got[path]["sha256"] == sha(content.encode()), (url, path)
            assert got[path]["size"] == len(content.encode()), (url, path)
    for path, content in files.items():
        r = request(S.instance_urls[1], "GET",
                    f"/modules/{name}/versions/1.0.0/files/{path}?raw=1", timeout=60)
        assert r.status == 200 and r.body == content.encode(), (path, r.status, len(r.body))


def test_second_push_of_the_same_content_makes_no_put():
    name = f"s3.dedup{RUN}"
    files = {"a.proto": proto("dedup.a", f"message A{RUN} {{}}\n"),
             "b.proto": proto("dedup.b", f"message B{RUN} {{}}\n")}
    create_module(name)
    assert push(name, "1.0.0", files).status == 201
    hashes = [sha(c.encode()) for c in files.values()]
    for h in hashes:
        poll(lambda h=h: len(s3_requests("PUT", key_of(h))) == 1, 10, what=f"one PUT of {h}")
        os.utime(object_path(h), (OLD, OLD))
    puts_before = len(s3_requests("PUT", "/proto-files/"))
    heads_before = {h: len(s3_requests("HEAD", key_of(h))) for h in hashes}

    # Same contents, another version: every blob (and the same descriptor set) is referenced by
    # 1.0.0, hence known to exist, so the push asks S3 nothing about them: no PUT, not even a HEAD.
    r = push(name, "1.0.1", files)
    assert r.status == 201, r
    # A later push with a new file: once its PUT is in the log, the log has caught up with 1.0.1.
    marker = proto("dedup.c", f"message C{RUN} {{}}\n")
    assert push(name, "1.0.2", {"c.proto": marker}).status == 201
    poll(lambda: len(s3_requests("PUT", key_of(sha(marker.encode())))) == 1, 10,
         what="the marker push's PUT in the s3 log")
    # The marker's file and its descriptor set, nothing else.
    assert len(s3_requests("PUT", "/proto-files/")) == puts_before + 2, \
        s3_requests("PUT", "/proto-files/")[-5:]
    assert {h: len(s3_requests("HEAD", key_of(h))) for h in hashes} == heads_before
    for h in hashes:
        assert int(os.stat(object_path(h)).st_mtime) == int(OLD), "an existing blob was rewritten"
    got = get_version(name, "1.0.1", S.instance_urls[2])
    assert {p: f["content"] for p, f in got.items()} == files


def test_connections_to_s3_are_kept_alive_and_reused():
    name = f"s3.conn{RUN}"
    content = proto("conn.v1", "message Conn {}\n")
    create_module(name)
    assert push(name, "1.0.0", {"c.proto": content}).status == 201
    url = S.instance_urls[2]
    for _ in range(30):  # one blob read per request: the file route does not cache contents
        r = request(url, "GET", f"/modules/{name}/versions/1.0.0/files/c.proto?raw=1")
        assert r.status == 200 and r.body == content.encode(), r
    # s3rver logs a request once its reply is flushed, which may be a moment after we got ours.
    gets = poll(lambda: (lambda g: g if len(g) >= 30 else None)(
        s3_requests("GET", key_of(sha(content.encode())))), 10, what="30 GETs in the s3 log")
    # Readiness probes borrow connections from the same pool meanwhile, so a few take part (3
    # seen); without reuse every read would open its own.
    ports = {line.rsplit("port=", 1)[1] for line in gets[-30:]}
    assert len(ports) <= 8, f"30 sequential reads used {len(ports)} connections"


# --------------------------------------------------------------------------------------------
# Credentials

def start_with(**overrides):
    api, health = free_ports(2)
    env = instance_env(SPOKE_PORT=str(api), SPOKE_HEALTH_PORT=str(health), **overrides)
    t0 = time.monotonic()
    p = subprocess.run([SERVER], env=env, capture_output=True, text=True, timeout=90)
    return clean_exit(p), time.monotonic() - t0


def test_wrong_secret_or_key_is_a_clear_startup_error():
    secret = f"not-the-secret-{RUN}"
    p, took = start_with(SPOKE_S3_SECRET_KEY=secret)
    assert p.returncode != 0, (p.returncode, p.stderr[-2000:])
    assert CREDENTIALS_MSG in p.stderr and "SignatureDoesNotMatch" in p.stderr, p.stderr[-2000:]
    assert took < 30, f"took {took:.1f}s to give up"  # no waiting as for an outage
    assert secret not in p.stderr + p.stdout, "the secret was printed"

    p, _ = start_with(SPOKE_S3_ACCESS_KEY=f"NOBODY{RUN}")
    assert p.returncode != 0 and CREDENTIALS_MSG in p.stderr and "InvalidAccessKeyId" in p.stderr, \
        p.stderr[-2000:]

    # The collector checks the same way before touching anything.
    p = gc("--dry-run", env=instance_env(SPOKE_S3_SECRET_KEY=secret))
    assert p.returncode == 1 and CREDENTIALS_MSG in p.stderr, (p.returncode, p.stderr[-2000:])


# --------------------------------------------------------------------------------------------
# Outage

def test_s3_outage_push_503_cached_reads_200_readiness_and_recovery():
    name = f"s3.outage{RUN}"
    a, b = S.instance_urls[0], S.instance_urls[1]
    create_module(name)
    v1 = {"v1.proto": proto("outage.v1", "message One {}\n")}
    assert push(name, "1.0.0", v1, url=a).status == 201
    assert push(name, "1.1.0", {"v11.proto": proto("outage.v11", "message Eleven {}\n")},
                url=a).status == 201
    for url in S.instance_urls:  # 1.0.0 now in every instance's in-process cache; 1.1.0 in none
        get_version(name, "1.0.0", url)
    pids = {c: p for c, p in S.pids().items() if c.startswith("instance-")}

    S.stop("s3")
    try:
        v2 = {"v2.proto": proto("outage.v2", f"message Two{RUN} {{}}\n")}
        for url in (a, b):
            t0 = time.monotonic()
            r = push(name, "2.0.0", v2, url=url)
            took = time.monotonic() - t0
            assert r.status == 503, (url, r)
            assert r.json()["code"] == "unavailable", r
            assert r.header("Retry-After"), r.headers
            assert took < 15, f"push took {took:.1f}s to fail"
        assert version_rows(name, "2.0.0") == "0", "a version was stored without its blobs"

        for url in S.instance_urls:  # served from the cache tier, blobs untouched
            r = request(url, "GET", f"/modules/{name}/versions/1.0.0")
            assert r.status == 200, (url, r)
            assert r.json()["files"][0]["content"] == v1["v1.proto"]
        # Not cached: the blobs are needed, and their store is down: 503, never 404 or 500.
        r = request(b, "GET", f"/modules/{name}/versions/1.1.0")
        assert r.status == 503 and r.json()["code"] == "unavailable", r

        for url in S.health_urls:
            status, body = poll(lambda u=url: (lambda st: st if st[0] == 503 else None)(ready(u)),
                                20, what=f"{url} readiness 503")
            check = body["checks"]["blob_store"]
            assert body["status"] == "not_ready" and check["status"] == "down", body
            assert "s3" in check.get("detail", ""), body
    finally:
        S.start("s3")

    # Back without restarting anything.
    r = poll(lambda: (lambda r: r if r.status == 201 else None)(push(name, "2.0.0", v2, url=a)),
             30, interval=0.5, what="push after S3 recovery")
    assert r.status == 201, r
    for url in S.health_urls:
        poll(lambda u=url: ready(u)[0] == 200, 20, what=f"{url} ready again")
        assert ready(url)[1]["checks"]["blob_store"]["status"] == "ok"
    assert get_version(name, "2.0.0", b)["v2.proto"]["content"] == v2["v2.proto"]
    assert get_version(name, "1.1.0", b)["v11.proto"]["content"]
    now = {c: p for c, p in S.pids().items() if c.startswith("instance-")}
    assert now == pids, f"instances restarted: {pids} -> {now}"


# --------------------------------------------------------------------------------------------
# Garbage collection

def push_something(label):
    """A version of our own, so the collector has referenced blobs to keep."""
    name = f"s3.{label}{RUN}"
    create_module(name)
    r = push(name, "1.0.0", {"k.proto": proto(f"{label}{RUN}.k", "message K {}\n")})
    assert r.status == 201, r
    return name


def referenced():
    """Every blob digest the committed versions reference (files and descriptor sets)."""
    out = S.psql("pg-primary", "SELECT sha256 FROM version_files UNION "
                               "SELECT descriptor_sha256 FROM versions WHERE descriptor_sha256 IS NOT NULL")
    return set(out.split())


def test_gc_dry_run_lists_and_apply_deletes_a_planted_old_blob():
    push_something("gckeep")
    old = plant(f"unreferenced old blob {RUN}\n".encode())
    young = plant(f"unreferenced young blob {RUN}\n".encode(), mtime=time.time())
    refs = referenced()
    assert refs and refs <= set(s3_keys()), "pushed blobs missing before gc"

    p = gc("--dry-run")
    assert p.returncode == 0, p.stderr
    assert f"would delete {key_of(old)} " in p.stdout, p.stdout
    assert key_of(young) not in p.stdout, "a blob younger than the minimum age was listed"
    for h in refs:
        assert key_of(h) not in p.stdout, f"referenced blob {h} listed"
    assert "dry run: would delete" in p.stdout, p.stdout
    assert os.path.exists(object_path(old)), "the dry run deleted"

    p = gc("--apply")
    assert p.returncode == 0, p.stderr
    assert f"deleted {key_of(old)} " in p.stdout, p.stdout
    assert not os.path.exists(object_path(old)), "the planted blob is still in S3"
    assert os.path.exists(object_path(young)), "the young blob was deleted"
    assert refs <= set(s3_keys()), f"referenced blobs deleted: {refs - set(s3_keys())}"
    summary = p.stdout.strip().splitlines()[-1]
    assert summary.startswith("gc: deleted ") and " bytes)" in summary, summary

    # --min-age 0 lets the young one go too; a second run finds nothing.
    p = gc("--apply", "--min-age", "0")
    assert p.returncode == 0 and f"deleted {key_of(young)} " in p.stdout, p.stdout + p.stderr
    p = gc("--dry-run", "--min-age", "0")
    assert p.returncode == 0 and "would delete 0 blobs" in p.stdout, p.stdout

    # Bad usage is refused before anything is touched.
    assert gc().returncode == 2
    assert gc("--dry-run", "--apply").returncode == 2


def test_gc_on_the_filesystem_backend():
    root = tempfile.mkdtemp(prefix="spoke-gc-fs-")
    try:
        env = instance_env(SPOKE_S3_ENDPOINT="", SPOKE_FILESYSTEM_ROOT=root)
        push_something("gcfs")
        keep = sorted(referenced())[0]
        blobs = {}
        for label, h, data in (("keep", keep, None),
                               ("drop", None, f"fs garbage {RUN}\n".encode())):
            if data is None:
                with open(s3_keys()[h], "rb") as f:
                    data = f.read()
            h = sha(data)
            path = os.path.join(root, key_of(h))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
            os.utime(path, (OLD, OLD))
            blobs[label] = (h, path)
        p = gc("--dry-run", env=env)
        assert p.returncode == 0, p.stderr
        assert f"would delete {key_of(blobs['drop'][0])} " in p.stdout, p.stdout
        assert key_of(blobs["keep"][0]) not in p.stdout, p.stdout
        p = gc("--apply", env=env)
        assert p.returncode == 0 and f"deleted {key_of(blobs['drop'][0])} " in p.stdout, p.stdout
        assert not os.path.exists(blobs["drop"][1]) and os.path.exists(blobs["keep"][1])
    finally:
        shutil.rmtree(root, ignore_errors=True)


def anchor_prefix_directories():
    """s3rver deletes a key's directory when it looks empty after a DELETE, which can race with a
    PUT into the same directory (a real S3 has no directories). A non-blob object in each of the
    256 prefix directories keeps them from ever being empty; the collector never touches it."""
    for i in range(256):
        d = S.path("s3", "spoke", "proto-files", "sha256", f"{i:02x}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "anchor._S3rver_object"), "wb") as f:
            f.write(b"anchor")


def test_gc_in_a_loop_never_deletes_what_concurrent_pushes_reference():
    anchor_prefix_directories()
    pool = [proto(f"race{RUN}.p{i}", f"message M{i} {{ string f = 1; }}\n") for i in range(48)]
    # Every pooled content starts as unreferenced garbage, old enough to collect: pushes that
    # reuse one find it present (HEAD, no PUT) while the collector wants it gone.
    for c in pool:
        plant(c.encode())

    stop = threading.Event()
    gc_runs, gc_deleted, gc_errors = [0], [0], []

    def collector():
        while not stop.is_set():
            p = gc("--apply", "--min-age", "0")
            gc_runs[0] += 1
            if p.returncode != 0:
                gc_errors.append(p.stderr[-500:])
                continue
            gc_deleted[0] += sum(1 for line in p.stdout.splitlines() if line.startswith("deleted "))

    pushed, failures = [], []

    def pusher(k):
        name = f"s3.race{RUN}.{k}"
        create_module(name, url=S.instance_urls[k % 3])
        for v in range(12):
            files = {f"f{j}.proto": pool[(k * 7 + v * 5 + j * 11) % len(pool)] for j in range(4)}
            r = push(name, f"1.{v}.0", files, url=S.instance_urls[(k + v) % 3])
            if r.status == 201:
                pushed.append((name, f"1.{v}.0", files))
            else:
                failures.append(r)

    t = threading.Thread(target=collector)
    t.start()
    try:
        time.sleep(0.5)  # the collector is already deleting planted blobs
        workers = [threading.Thread(target=pusher, args=(k,)) for k in range(3)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(120)
    finally:
        stop.set()
        t.join(120)
    assert not failures, failures[:3]
    assert not gc_errors, gc_errors[:3]
    assert len(pushed) == 36, len(pushed)
    assert gc_runs[0] >= 3 and gc_deleted[0] > 0, (gc_runs, gc_deleted)

    p = gc("--apply", "--min-age", "0")  # and once more with nothing running
    assert p.returncode == 0, p.stderr
    present = set(s3_keys())
    missing = referenced() - present
    assert not missing, f"{len(missing)} referenced blobs deleted: {sorted(missing)[:5]}"
    for i, (name, version, files) in enumerate(pushed):
        got = get_version(name, version, S.instance_urls[i % 3])
        assert {p: f["content"] for p, f in got.items()} == files, (name, version)
    print(f"  gc runs {gc_runs[0]}, blobs deleted while pushing {gc_deleted[0]}, "
          f"versions pushed {len(pushed)}", flush=True)


# --------------------------------------------------------------------------------------------

def main():
    run_with_stack(globals(), var="S", env=ENV)


if __name__ == "__main__":
    main()
