#!/usr/bin/env python3
"""The production shapes (deployments/docker-compose, deployments/kubernetes, deployments/docker)
cannot run here (no container engine), so they are checked against what does run:

- every YAML file under deployments/ parses (PyYAML, python3-yaml from SPOKE_TEST_PACKAGES);
- every SPOKE_* variable a manifest sets is a row of src/config/config.c's table, with a value
  of the row's type and bounds (tests/docs/test_configuration.py checks that the rows are
  documented);
- the compose file has the local stack's topology: one service per stack.sh component, on that
  component's ports (`stack.sh ports`), and its URLs, sentinels, scrape targets and NGINX
  upstreams point at those services and ports;
- the Kubernetes objects agree with each other and with the server's defaults (ports, probe
  paths, labels, selectors, the Secret holding the secrets, grace period vs drain + shutdown);
- the generated NGINX files are current (deployments/generate.sh --check), their body limit is
  the instances' SPOKE_MAX_BODY_BYTES, and nginx -t accepts the template rendered for each shape
  (host names replaced by loopback addresses, in a temporary prefix);
- the Dockerfile builds with SPOKE_BUILD_PACKAGES and its runtime stage installs the package of
  every shared library the built spoke-server needs, protoc and the well-known types.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from spoketest import BUILD_DIR, SOURCE_DIR, run  # noqa: E402

try:
    import yaml
except ImportError:  # CI installs it; say how rather than failing obscurely
    sys.exit("test_deployments: PyYAML is missing: install python3-yaml "
             "(SPOKE_TEST_PACKAGES in deployments/local/lib/packages.sh)")

DEPLOY = os.path.join(SOURCE_DIR, "deployments")
COMPOSE = os.path.join(DEPLOY, "docker-compose", "ha-stack.yml")
K8S = os.path.join(DEPLOY, "kubernetes")
DOCKERFILE = os.path.join(DEPLOY, "docker", "Dockerfile")
# Variables a spoke-server container may set besides SPOKE_*: libpq reads the password from it.
NON_SPOKE_ALLOWED = {"PGPASSWORD", "TMPDIR"}
SECRET_WORDS = ("PASSWORD", "SECRET", "ACCESS_KEY", "TOKEN")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def load_all(path):
    return [d for d in yaml.safe_load_all(read(path)) if d is not None]


# --------------------------------------------------------------------------------------------
# Sources of truth

def config_table():
    """{name: (kind, default, min, max)} from src/config/config.c's table."""
    text = read(os.path.join(SOURCE_DIR, "src", "config", "config.c"))
    rows = re.findall(r'\{"(SPOKE_[A-Z0-9_]+)",\s*(K_[A-Z0-9]+),\s*F\(\w+\),\s*"([^"]*)",'
                      r'\s*([^,]+),\s*([^}]+)\}', text)
    assert len(rows) >= 30, f"only {len(rows)} rows parsed from config.c"

    def num(expr):
        expr = expr.strip().replace("LLONG_MAX", str(2**63 - 1)).replace("MIB", "1048576")
        expr = re.sub(r"(\d+)LL\b", r"\1", expr)
        assert re.fullmatch(r"[0-9 ()*+-]+", expr), f"unexpected bound {expr!r}"
        return eval(expr)  # noqa: S307 - digits and operators only (checked above)
    return {n: (k, d, num(lo), num(hi)) for n, k, d, lo, hi in rows}


CONFIG = config_table()


def stack_ports():
    """{component: [port, ...]} from stack.sh at offset 0 (instances: API, health)."""
    out = subprocess.run(["bash", os.path.join(DEPLOY, "local", "stack.sh"), "ports"],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "SPOKE_STACK_PORT_OFFSET": "0"}).stdout
    return {line.split()[0]: [int(p) for p in line.split()[1:]]
            for line in out.splitlines() if line.strip()}


STACK = stack_ports()


def check_value(name, value, where):
    """Problems with one SPOKE_* setting: unknown variable, or a value config.c would refuse."""
    if name not in CONFIG:
        return [f"{where}: {name} is not a variable of src/config/config.c"]
    kind, _, lo, hi = CONFIG[name]
    value = str(value)
    if "${" in value:  # compose interpolation, e.g. ${S3_SECRET_KEY:?...}
        return []
    if kind in ("K_INT", "K_I64", "K_SIZE", "K_PORT"):
        if not re.fullmatch(r"-?\d+", value) or not lo <= int(value) <= hi:
            return [f"{where}: {name}={value!r} is not an integer in [{lo}, {hi}]"]
    elif kind == "K_BOOL":
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            return [f"{where}: {name}={value!r} is not a boolean"]
    elif kind == "K_LEVEL":
        if value not in ("debug", "info", "warn", "error"):
            return [f"{where}: {name}={value!r} is not a log level"]
    elif kind == "K_STR" and not value:
        return [f"{where}: {name} must not be empty"]
    return []


def check_env(env, where):
    problems = []
    for name, value in env.items():
        if name.startswith("SPOKE_"):
            problems += check_value(name, value, where)
        elif name not in NON_SPOKE_ALLOWED:
            problems.append(f"{where}: unexpected variable {name}")
    return problems


def host_port(url_or_addr):
    if "://" in url_or_addr:
        u = urllib.parse.urlsplit(url_or_addr)
        return u.hostname, u.port
    host, _, port = url_or_addr.rpartition(":")
    return host, int(port)


def pg_hosts(url):
    """[(host, port)] of a (multi-host) postgres:// URL."""
    netloc = url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    return [host_port(h) for h in netloc.split(",")]


# --------------------------------------------------------------------------------------------
# Every YAML file parses

def test_every_yaml_file_parses():
    files = sorted(glob.glob(os.path.join(DEPLOY, "**", "*.y*ml"), recursive=True))
    files = [f for f in files if f.endswith((".yml", ".yaml"))]
    assert len(files) >= 12, f"only {len(files)} YAML files under deployments/"
    for f in files:
        try:
            docs = load_all(f)
        except yaml.YAMLError as e:
            raise AssertionError(f"{os.path.relpath(f, SOURCE_DIR)}: {e}") from None
        assert docs, f"{f}: empty"
    print(f"  {len(files)} YAML files parse")


# --------------------------------------------------------------------------------------------
# docker-compose

def compose():
    return yaml.safe_load(read(COMPOSE))


def compose_components(c):
    out = {}
    for name, svc in c["services"].items():
        comp = (svc.get("labels") or {}).get("io.spoke.stack-component")
        assert comp, f"compose service {name} has no io.spoke.stack-component label"
        assert comp not in out.values(), f"two compose services are {comp}"
        out[name] = comp
    return out


def test_compose_has_the_local_stack_topology():
    c = compose()
    comps = compose_components(c)
    assert sorted(comps.values()) == sorted(STACK), \
        f"compose components {sorted(comps.values())} != stack.sh components {sorted(STACK)}"
    for name, comp in comps.items():
        exposed = [int(p) for p in c["services"][name].get("expose", [])]
        assert exposed == STACK[comp], \
            f"compose {name} exposes {exposed}, stack.sh {comp} listens on {STACK[comp]}"
    nginx = [n for n, comp in comps.items() if comp == "nginx"][0]
    published = c["services"][nginx].get("ports", [])
    assert f"{STACK['nginx'][0]}:{STACK['nginx'][0]}" in published, published


def test_compose_instances():
    c = compose()
    comps = compose_components(c)
    by_comp = {comp: name for name, comp in comps.items()}
    problems = []
    instances = sorted(n for n, comp in comps.items() if comp.startswith("instance-"))
    assert len(instances) == 3, instances
    for name in instances:
        svc, comp = c["services"][name], comps[name]
        env = svc["environment"]
        problems += check_env(env, f"compose {name}")
        api, health = STACK[comp]
        if (int(env["SPOKE_PORT"]), int(env["SPOKE_HEALTH_PORT"])) != (api, health):
            problems.append(f"compose {name}: ports {env['SPOKE_PORT']}/{env['SPOKE_HEALTH_PORT']}"
                            f" != stack {api}/{health}")
        # Postgres: primary first, then the replica, on their components' ports.
        want = [(by_comp["pg-primary"], STACK["pg-primary"][0]),
                (by_comp["pg-replica"], STACK["pg-replica"][0])]
        if pg_hosts(env["SPOKE_POSTGRES_URL"]) != want:
            problems.append(f"compose {name}: SPOKE_POSTGRES_URL hosts "
                            f"{pg_hosts(env['SPOKE_POSTGRES_URL'])} != {want}")
        if "target_session_attrs=read-write" not in env["SPOKE_POSTGRES_URL"]:
            problems.append(f"compose {name}: SPOKE_POSTGRES_URL lacks target_session_attrs")
        if pg_hosts(env["SPOKE_POSTGRES_REPLICA_URLS"]) != want[1:]:
            problems.append(f"compose {name}: SPOKE_POSTGRES_REPLICA_URLS is not the replica")
        for var, comp_want in (("SPOKE_S3_ENDPOINT", "s3"), ("SPOKE_OTEL_ENDPOINT", "otlp-receiver")):
            if host_port(env[var]) != (by_comp[comp_want], STACK[comp_want][0]):
                problems.append(f"compose {name}: {var}={env[var]} is not {comp_want}")
        sentinels = [host_port(s) for s in env["SPOKE_REDIS_SENTINELS"].split(",")]
        want_s = [(by_comp[s], STACK[s][0]) for s in sorted(STACK) if s.startswith("sentinel-")]
        if sentinels != want_s:
            problems.append(f"compose {name}: sentinels {sentinels} != {want_s}")
        if any(w in k for k in env for w in ("PASSWORD", "SECRET")) and \
                not all("${" in str(env[k]) for k in env if "PASSWORD" in k or "SECRET" in k):
            problems.append(f"compose {name}: a secret is written into the file")
        # Read-only root, writable and executable /tmp for the protoc toolchain.
        if svc.get("read_only") is not True:
            problems.append(f"compose {name}: root filesystem not read-only")
        tmp = [t for t in svc.get("tmpfs", []) if t.split(":")[0] == "/tmp"]
        if not tmp or "exec" not in tmp[0].split(":", 1)[1].split(","):
            problems.append(f"compose {name}: no executable tmpfs on /tmp")
        grace = int(str(svc.get("stop_grace_period", "10s")).rstrip("s"))
        drain = int(env.get("SPOKE_DRAIN_MS", CONFIG["SPOKE_DRAIN_MS"][1]))
        shutdown = int(env.get("SPOKE_SHUTDOWN_TIMEOUT_MS", CONFIG["SPOKE_SHUTDOWN_TIMEOUT_MS"][1]))
        if grace * 1000 <= drain + shutdown:
            problems.append(f"compose {name}: stop_grace_period {grace}s <= drain + shutdown")
    assert not problems, "\n".join(problems)


def test_compose_prometheus_scrapes_the_instances():
    c = compose()
    comps = compose_components(c)
    prom = yaml.safe_load(read(os.path.join(DEPLOY, "docker-compose", "prometheus.yml")))
    targets = [t for job in prom["scrape_configs"] if job["job_name"] == "spoke"
               for sc in job["static_configs"] for t in sc["targets"]]
    want = [f"{n}:{STACK[comps[n]][1]}" for n in sorted(comps) if comps[n].startswith("instance-")]
    assert targets == want, f"prometheus targets {targets} != {want}"
    p = [n for n, comp in comps.items() if comp == "prometheus"][0]
    assert f"--web.listen-address=:{STACK['prometheus'][0]}" in c["services"][p]["command"]


# --------------------------------------------------------------------------------------------
# NGINX: generated files current, limits consistent, nginx -t on every shape

def upstream_servers(conf, upstream):
    block = re.search(r"upstream %s \{(.*?)\}" % upstream, conf, re.S).group(1)
    return re.findall(r"^\s*server (\S+)", block, re.M)


def test_generated_files_are_current():
    p = subprocess.run(["bash", os.path.join(DEPLOY, "generate.sh"), "--check"],
                       capture_output=True, text=True)
    assert p.returncode == 0, f"deployments/generate.sh --check:\n{p.stderr[-3000:]}"


def k8s_nginx_conf():
    cm = load_all(os.path.join(K8S, "nginx-configmap.yaml"))[0]
    return cm["data"]["nginx.conf"]


def test_nginx_upstreams_and_limits_agree():
    c = compose()
    comps = compose_components(c)
    conf = read(os.path.join(DEPLOY, "docker-compose", "nginx.conf"))
    inst = sorted(n for n in comps if comps[n].startswith("instance-"))
    assert upstream_servers(conf, "spoke_api") == [f"{n}:{STACK[comps[n]][0]}" for n in inst]
    assert upstream_servers(conf, "spoke_health") == [f"{n}:{STACK[comps[n]][1]}" for n in inst]
    assert re.search(r"^\s*listen %d;" % STACK["nginx"][0], conf, re.M), "compose listen port"
    body = re.search(r"client_max_body_size (\d+);", conf).group(1)
    for n in inst:
        assert c["services"][n]["environment"]["SPOKE_MAX_BODY_BYTES"] == body, n

    kconf = k8s_nginx_conf()
    svc = load_all(os.path.join(K8S, "service.yaml"))[0]
    ports = {p["name"]: p["port"] for p in svc["spec"]["ports"]}
    name = svc["metadata"]["name"]
    assert set(upstream_servers(kconf, "spoke_api")) == {f"{name}:{ports['http']}"}
    assert set(upstream_servers(kconf, "spoke_health")) == {f"{name}:{ports['health']}"}
    cm = load_all(os.path.join(K8S, "configmap.yaml"))[0]["data"]
    assert re.search(r"client_max_body_size (\d+);", kconf).group(1) == cm["SPOKE_MAX_BODY_BYTES"]
    for text in (conf, kconf):
        for loc, upstream in (("location /health/", "spoke_health"),
                              ("location = /metrics", "spoke_health"), ("location /", "spoke_api")):
            m = re.search(re.escape(loc) + r" \{(.*?)\}", text, re.S)
            assert m and f"proxy_pass http://{upstream};" in m.group(1), f"{loc} -> {upstream}"


def nginx_t(conf_text, what):
    """nginx -t on conf_text with every upstream host replaced by 127.0.0.1 and the container
    prefix by a temporary directory."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert os.path.exists(nginx), "nginx is not installed (SPOKE_SERVER_PACKAGES)"
    d = tempfile.mkdtemp(prefix="spoke-nginx-t-")
    try:
        os.makedirs(os.path.join(d, "logs"))
        os.makedirs(os.path.join(d, "tmp"))
        text = conf_text.replace("/run/spoke-nginx", d)
        text = re.sub(r"^(\s*server )[A-Za-z][\w.-]*:", r"\g<1>127.0.0.1:", text, flags=re.M)
        path = os.path.join(d, "nginx.conf")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([nginx, "-t", "-p", d + "/", "-c", path, "-e", os.path.join(d, "e.log"),
                            "-g", "daemon off;"], capture_output=True, text=True)
        assert p.returncode == 0, f"nginx -t rejected the {what} configuration:\n{p.stderr}"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_nginx_accepts_every_shape():
    args = ["bash", os.path.join(DEPLOY, "nginx", "render.sh"), "--prefix", "/run/spoke-nginx",
            "--error-log", "/dev/stderr", "--listen", "127.0.0.1:8080", "--max-body", "16777216"]
    for i in range(3):
        args += ["--upstream", f"127.0.0.1:{8081 + i} max_fails=1 fail_timeout=2s",
                 "--health-upstream", f"127.0.0.1:{9091 + i} max_fails=1 fail_timeout=2s"]
    local = subprocess.run(args, capture_output=True, text=True)
    assert local.returncode == 0, local.stderr
    nginx_t(local.stdout, "loopback (local stack)")
    nginx_t(read(os.path.join(DEPLOY, "docker-compose", "nginx.conf")), "docker-compose")
    nginx_t(k8s_nginx_conf(), "kubernetes")
    # The renderer refuses what would break the file.
    bad = subprocess.run(args[:-4] + ["--max-body", "16m"], capture_output=True, text=True)
    assert bad.returncode != 0, "render.sh accepted a body limit that is not a byte count"


def test_nginx_retry_policy():
    """Retries on the next upstream for errors/timeouts/502 (pushes included), never on 503
    (a shared backend is down: retrying would count every instance as failed)."""
    conf = read(os.path.join(DEPLOY, "nginx", "nginx.conf"))
    m = re.search(r"^\s*proxy_next_upstream ([^;]+);", conf, re.M)
    words = set(m.group(1).split())
    assert {"error", "timeout", "http_502", "non_idempotent"} <= words, words
    assert "http_503" not in words, "http_503 must not be retried (see the comment in nginx.conf)"
    for directive in ("zone spoke_api", "least_conn", "keepalive ", "client_max_body_size @MAX_BODY@"):
        assert directive in conf, directive


# --------------------------------------------------------------------------------------------
# Kubernetes

def k8s_objects():
    objs = {}
    for f in sorted(glob.glob(os.path.join(K8S, "*.yaml"))):
        for d in load_all(f):
            objs[(d["kind"], d.get("metadata", {}).get("name"))] = d
    return objs


def test_kubernetes_kustomization_lists_every_file():
    k = load_all(os.path.join(K8S, "kustomization.yaml"))[0]
    files = sorted(os.path.basename(f) for f in glob.glob(os.path.join(K8S, "*.yaml"))
                   if not f.endswith("kustomization.yaml"))
    assert sorted(k["resources"]) == files, f"{k['resources']} != {files}"


def test_kubernetes_spoke_deployment():
    objs = k8s_objects()
    dep = objs[("Deployment", "spoke")]
    spec = dep["spec"]
    assert spec["replicas"] == 3
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in spec["selector"]["matchLabels"].items())
    (ctr,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in ctr["ports"]}
    env = {e["name"]: e["value"] for e in ctr.get("env", [])}
    cm = objs[("ConfigMap", "spoke-config")]["data"]
    secret = objs[("Secret", "spoke-secrets")]["stringData"]
    problems = check_env(env, "deployment env") + check_env(cm, "spoke-config") + \
        check_env(secret, "spoke-secrets")
    # Ports: the container's ports are what it is told to listen on (the server defaults).
    assert ports["http"] == int(env.get("SPOKE_PORT", CONFIG["SPOKE_PORT"][1])) == 8080
    assert ports["health"] == int(env.get("SPOKE_HEALTH_PORT", CONFIG["SPOKE_HEALTH_PORT"][1])) == 9090
    for probe, path in (("startupProbe", "/health/live"), ("livenessProbe", "/health/live"),
                        ("readinessProbe", "/health/ready")):
        get = ctr[probe]["httpGet"]
        assert get["path"] == path and get["port"] in ("health", ports["health"]), (probe, get)
    ann = spec["template"]["metadata"].get("annotations", {})
    assert ann.get("prometheus.io/port") == str(ports["health"])
    # Config from the ConfigMap and the Secret; secrets only in the Secret.
    refs = [(list(e)[0], list(e.values())[0]["name"]) for e in ctr["envFrom"]]
    assert refs == [("configMapRef", "spoke-config"), ("secretRef", "spoke-secrets")], refs
    for key in cm:
        if any(w in key for w in SECRET_WORDS):
            problems.append(f"spoke-config holds a secret ({key}); it belongs in spoke-secrets")
    for key in ("PGPASSWORD", "SPOKE_S3_ACCESS_KEY", "SPOKE_S3_SECRET_KEY"):
        if key not in secret:
            problems.append(f"spoke-secrets lacks {key}")
    for url in (cm["SPOKE_POSTGRES_URL"], cm["SPOKE_POSTGRES_REPLICA_URLS"]):
        if re.search(r"://[^/@]*:[^/@]*@", url):
            problems.append("a Postgres URL in the ConfigMap carries a password")
    if "target_session_attrs=read-write" not in cm["SPOKE_POSTGRES_URL"]:
        problems.append("SPOKE_POSTGRES_URL lacks target_session_attrs=read-write")
    # Resources, security, /tmp, grace period.
    res = ctr["resources"]
    for part in ("requests", "limits"):
        if "memory" not in res.get(part, {}):
            problems.append(f"no memory {part}")
    if "cpu" not in res.get("requests", {}):
        problems.append("no cpu request")
    sc = ctr["securityContext"]
    if sc.get("readOnlyRootFilesystem") is not True or sc.get("allowPrivilegeEscalation") is not False:
        problems.append("root filesystem not read-only or privilege escalation allowed")
    if pod["securityContext"].get("runAsNonRoot") is not True:
        problems.append("pod may run as root")
    vols = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in ctr["volumeMounts"]}
    if "/tmp" not in mounts or "emptyDir" not in vols[mounts["/tmp"]]:
        problems.append("/tmp is not a writable emptyDir")
    drain = int(cm.get("SPOKE_DRAIN_MS", CONFIG["SPOKE_DRAIN_MS"][1]))
    shutdown = int(cm.get("SPOKE_SHUTDOWN_TIMEOUT_MS", CONFIG["SPOKE_SHUTDOWN_TIMEOUT_MS"][1]))
    if pod["terminationGracePeriodSeconds"] * 1000 <= drain + shutdown:
        problems.append("terminationGracePeriodSeconds does not cover drain + shutdown")
    assert not problems, "\n".join(problems)


def test_kubernetes_service_pdb_hpa():
    objs = k8s_objects()
    dep = objs[("Deployment", "spoke")]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    ctr_ports = {p["name"] for p in dep["spec"]["template"]["spec"]["containers"][0]["ports"]}
    svc = objs[("Service", "spoke")]["spec"]
    assert all(labels.get(k) == v for k, v in svc["selector"].items())
    assert {p["targetPort"] for p in svc["ports"]} <= ctr_ports
    assert svc.get("publishNotReadyAddresses") is True  # see service.yaml
    pdb = objs[("PodDisruptionBudget", "spoke")]["spec"]
    assert all(labels.get(k) == v for k, v in pdb["selector"]["matchLabels"].items())
    assert 1 <= pdb["minAvailable"] < dep["spec"]["replicas"]
    hpa = objs[("HorizontalPodAutoscaler", "spoke")]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "spoke"}
    assert hpa["minReplicas"] >= dep["spec"]["replicas"] and hpa["maxReplicas"] > hpa["minReplicas"]
    ng = objs[("Deployment", "spoke-nginx")]["spec"]["template"]["spec"]
    vols = {v["name"]: v for v in ng["volumes"]}
    assert any(v.get("configMap", {}).get("name") == "spoke-nginx" for v in vols.values())
    assert "-c /etc/spoke/nginx.conf" in " ".join(ng["containers"][0]["args"])


# --------------------------------------------------------------------------------------------
# Dockerfile

def dockerfile_stages():
    """{stage: (packages installed by apt-get, text)}"""
    text = read(DOCKERFILE)
    stages = {}
    for m in re.finditer(r"^FROM (\S+) AS (\w+)\n(.*?)(?=^FROM |\Z)", text, re.M | re.S):
        body = m.group(3)
        joined = re.sub(r"\\\n", " ", body)
        pkgs = set()
        for inst in re.findall(r"apt-get install ([^&]*)", joined):
            pkgs |= {w for w in inst.split() if not w.startswith("-")}
        stages[m.group(2)] = (m.group(1), pkgs, body)
    return stages


def shell_list(name):
    out = subprocess.run(["bash", "-c", '. "$1"; printf "%s\\n" "${' + name + '[@]}"', "-",
                          os.path.join(DEPLOY, "local", "lib", "packages.sh")],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def package_of(path):
    """The Debian package owning a library file, whichever of the merged-/usr spellings (the
    linker cache's, the resolved symlink's, with or without /usr) dpkg recorded."""
    candidates = []
    for p in (path, os.path.realpath(path)):
        candidates += [p, p[4:] if p.startswith("/usr/") else "/usr" + p]
    for p in candidates:
        out = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True).stdout
        if out:
            return out.split(":")[0]
    return None


def test_dockerfile():
    stages = dockerfile_stages()
    assert set(stages) == {"build", "runtime"}, stages.keys()
    for base, _, _ in stages.values():
        assert base.startswith("debian:12"), base
    missing = shell_list("SPOKE_BUILD_PACKAGES") - stages["build"][1]
    assert not missing, f"build stage lacks SPOKE_BUILD_PACKAGES {sorted(missing)}"
    runtime, body = stages["runtime"][1], stages["runtime"][2]
    assert {"protobuf-compiler", "libprotobuf-dev"} <= runtime
    assert not [p for p in runtime if p.endswith("-dev") and p != "libprotobuf-dev"], runtime
    # The runtime packages provide every library the built server needs.
    server = os.path.join(BUILD_DIR, "spoke-server")
    assert os.path.exists(server), f"{server} is not built (SPOKE_BUILD_DIR)"
    needed = re.findall(r"\(NEEDED\).*\[(.+)\]",
                        subprocess.run(["readelf", "-d", server], capture_output=True,
                                       text=True, check=True).stdout)
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    # A sanitizer build (tests/run.sh's second pass) links the sanitizer runtimes; the image
    # builds without them.
    needed = [s for s in needed if not re.match(r"lib(asan|ubsan|lsan|tsan)\.so", s)]
    for soname in needed:
        m = re.search(r"^\s*%s \(libc6,x86-64[^)]*\) => (\S+)" % re.escape(soname), cache, re.M) \
            or re.search(r"^\s*%s \([^)]*\) => (\S+)" % re.escape(soname), cache, re.M)
        assert m, f"{soname} not in the linker cache"
        owner = package_of(m.group(1))
        assert owner == "libc6" or owner in runtime, \
            f"{soname} comes from {owner or '?'}, which the runtime stage does not install"
    ports = CONFIG["SPOKE_PORT"][1], CONFIG["SPOKE_HEALTH_PORT"][1]
    assert re.search(r"^EXPOSE %s %s$" % ports, body, re.M), "EXPOSE is not the default ports"
    env = dict(re.findall(r"(SPOKE_[A-Z_]+)=(\S+)", re.sub(r"\\\n", " ", body)))
    problems = check_env(env, "Dockerfile ENV")
    assert not problems, problems
    assert re.search(r"^USER (\d+)", body, re.M) and not re.search(r"^USER (0|root)\b", body, re.M)
    assert re.search(r"^HEALTHCHECK .*\n?.*/health/ready", body, re.M), "HEALTHCHECK on /health/ready"


def test_helper_scripts_parse():
    for f in glob.glob(os.path.join(DEPLOY, "docker-compose", "*", "*.sh")):
        p = subprocess.run(["sh", "-n", f], capture_output=True, text=True)
        assert p.returncode == 0, f"{f}: {p.stderr}"
    for f in (os.path.join(DEPLOY, "generate.sh"), os.path.join(DEPLOY, "nginx", "render.sh")):
        p = subprocess.run(["bash", "-n", f], capture_output=True, text=True)
        assert p.returncode == 0, f"{f}: {p.stderr}"


if __name__ == "__main__":
    run(globals())
