#!/usr/bin/env python3
"""End-to-end tests of the CI integration (deployments/ci/) against the real local stack.

The GitHub Action (deployments/ci/github/action.yml) and the GitLab CI template
(deployments/ci/gitlab/spoke.gitlab-ci.yml) are read as files and executed the way their runners
would: the Action's inputs and step outputs are substituted into each step's env: (its run: holds
no expressions), and its steps run with bash in a checkout with the GITHUB_* variables a runner
sets; the template's jobs are selected by their rules for a given pipeline, extended, given their
variables, and their before_script + script run in a checkout with the CI_* variables. Both run the
same deployments/ci/spoke-ci.sh, which is thereby tested in validate (with its breaking-change
check), breaking and push modes.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from spoketest import run_with_stack, BUILD_DIR, SOURCE_DIR, request  # noqa: E402

SPOKE = os.path.join(BUILD_DIR, "spoke")
CI_DIR = os.path.join(SOURCE_DIR, "deployments", "ci")
ACTION = os.path.join(CI_DIR, "github", "action.yml")
GITLAB = os.path.join(CI_DIR, "gitlab", "spoke.gitlab-ci.yml")
STACK = None


# ---- the block-style YAML subset the CI files use ----------------------------------------------

KEY = re.compile(r"^([A-Za-z0-9_.$-]+):(?:\s+(.*))?$")


def parse_yaml(text):
    """Mappings, sequences, plain / single-quoted / double-quoted scalars, literal blocks (|, |-)
    and comments. Anything else raises ValueError, so the CI files stay within what this reads."""
    lines = text.split("\n")
    pos = [0]

    def indent(line):
        return len(line) - len(line.lstrip(" "))

    def peek():
        while pos[0] < len(lines):
            s = lines[pos[0]].strip()
            if s and not s.startswith("#"):
                return lines[pos[0]]
            pos[0] += 1
        return None

    def scalar(s):
        s = s.strip()
        if s.startswith("'"):
            if not s.endswith("'") or len(s) < 2:
                raise ValueError(f"unterminated quote: {s}")
            return s[1:-1].replace("''", "'")
        if s.startswith('"'):
            return json.loads(s)
        if s.startswith(("[", "{", "&", "*", "!", ">")):
            raise ValueError(f"unsupported YAML: {s}")
        if " #" in s:
            s = s[:s.index(" #")].rstrip()
        return {"true": True, "false": False}.get(s, s)

    def block(parent, keep_newline):
        out = []
        while pos[0] < len(lines):
            line = lines[pos[0]]
            if line.strip() and indent(line) <= parent:
                break
            out.append(line)
            pos[0] += 1
        while out and not out[-1].strip():
            out.pop()
        if not out:
            return ""
        ind = min(indent(x) for x in out if x.strip())
        return "\n".join(x[ind:] for x in out) + ("\n" if keep_newline else "")

    def value(rest, ind):
        r = (rest or "").strip()
        if r in ("|", "|-"):
            return block(ind, r == "|")
        if r == "" or r.startswith("#"):
            nxt = peek()
            if nxt is None:
                return None
            ni = indent(nxt)
            if ni > ind or (ni == ind and nxt.strip().startswith("- ")):
                return node(ni)
            return None
        return scalar(r)

    def node(ind):
        line = peek()
        return seq(ind) if line.strip().startswith("- ") else mapping(ind)

    def mapping(ind):
        out = {}
        while True:
            line = peek()
            if line is None or indent(line) < ind or line.strip().startswith("- "):
                return out
            if indent(line) > ind:
                raise ValueError(f"unexpected indentation: {line!r}")
            m = KEY.match(line.strip())
            if not m:
                raise ValueError(f"not a key: {line!r}")
            pos[0] += 1
            if m[1] in out:
                raise ValueError(f"duplicate key {m[1]}")
            out[m[1]] = value(m[2], ind)

    def seq(ind):
        out = []
        while True:
            line = peek()
            if line is None or indent(line) != ind or not line.strip().startswith("- "):
                return out
            content = line.strip()[2:]
            if KEY.match(content):
                lines[pos[0]] = " " * (ind + 2) + content
                out.append(mapping(ind + 2))
            else:
                pos[0] += 1
                out.append(value(content, ind))

    result = node(0)
    if peek() is not None:
        raise ValueError(f"unparsed YAML from: {lines[pos[0]]!r}")
    return result


# ---- GitHub Actions: the composite action, run as a runner would --------------------------------

EXPR = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")


def run_action(inputs, env, workspace):
    """Runs action.yml's steps. Returns (returncode, output text, {step id: outputs},
    action outputs)."""
    action = parse_yaml(open(ACTION).read())
    values = {}
    for name, spec in action["inputs"].items():
        if name in inputs:
            values[name] = inputs[name]
        elif spec.get("required") is True:
            raise AssertionError(f"required input {name} missing")
        else:
            values[name] = str(spec.get("default", ""))
    unknown = set(inputs) - set(values)
    assert not unknown, f"inputs the action does not declare: {unknown}"
    steps = {}

    def expand(text):
        def sub(m):
            e = m[1]
            if e.startswith("inputs."):
                return values[e[len("inputs."):]]
            m2 = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", e)
            if m2:
                return steps.get(m2[1], {}).get(m2[2], "")
            raise AssertionError(f"expression not understood: {e}")
        return EXPR.sub(sub, text)

    assert action["runs"]["using"] == "composite"
    log = ""
    tmp = tmpdir("spoke-gh-")
    for i, step in enumerate(action["runs"]["steps"]):
        assert step["shell"] == "bash", step
        # Inputs reach the script through env: only; an expression in run: would be spliced in
        # as shell text.
        assert "${{" not in step["run"], step["run"]
        out_file = os.path.join(tmp, f"output-{i}")
        open(out_file, "w").close()
        script = os.path.join(tmp, f"step-{i}.sh")
        with open(script, "w") as f:
            f.write(step["run"])
        step_env = dict(env)
        step_env.update({"GITHUB_OUTPUT": out_file,
                         "GITHUB_ACTION_PATH": os.path.dirname(ACTION)})
        for k, v in (step.get("env") or {}).items():
            step_env[k] = expand(str(v))
        p = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", script],
                           env=step_env, cwd=workspace, capture_output=True, text=True,
                           timeout=300)
        log += p.stdout + p.stderr
        outs = {}
        for line in open(out_file):
            if "=" in line:
                k, _, v = line.rstrip("\n").partition("=")
                outs[k] = v
        steps[step["id"]] = outs
        if p.returncode != 0:
            return p.returncode, log, steps, {}
    outputs = {k: expand(v["value"]) for k, v in (action.get("outputs") or {}).items()}
    return 0, log, steps, outputs


# ---- GitLab CI: the template's jobs, selected by their rules ------------------------------------


def merge(base, over):
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def rule_matches(expr, env):
    m = re.fullmatch(r"\$(\w+)", expr)
    if m:
        return bool(env.get(m[1]))
    m = re.fullmatch(r'\$(\w+)\s*(==|!=)\s*"([^"]*)"', expr)
    if m:
        return (env.get(m[1], "") == m[3]) == (m[2] == "==")
    raise AssertionError(f"rule not understood: {expr}")


def gitlab_jobs(env):
    """{job name: resolved job} of the template's jobs that a pipeline with env would run."""
    tpl = parse_yaml(open(GITLAB).read())
    jobs = {}
    for name, job in tpl.items():
        if name.startswith("."):
            continue
        resolved = merge(tpl[job["extends"]], job) if "extends" in job else job
        if any(rule_matches(r["if"], env) for r in resolved.get("rules", [{"if": "$CI"}])):
            jobs[name] = resolved
    return jobs


def run_job(job, env, project_dir):
    job_env = dict(env)
    job_env.update({k: str(v) for k, v in (job.get("variables") or {}).items()})
    script = "set -eo pipefail\n" + "\n".join(job.get("before_script", []) + job["script"])
    p = subprocess.run(["bash", "--noprofile", "--norc", "-c", script], env=job_env,
                       cwd=project_dir, capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout + p.stderr


# ---- checkouts and environments -----------------------------------------------------------------


TMPDIRS = []


def tmpdir(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    TMPDIRS.append(d)
    return d


def proto(pkg, msg, extra=""):
    return f'syntax = "proto3";\npackage {pkg};\nmessage {msg} {{ string name = 1; {extra}}}\n'


def git(repo, *args):
    return subprocess.run(["git", "-C", repo, "-c", "user.email=ci@example.com", "-c",
                           "user.name=ci", *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def checkout(files, origin, tag=None):
    """A CI checkout: a git work tree with files, remote origin, and (for tags) a detached HEAD
    at the tag, as runners check tags out. Returns (dir, head sha)."""
    d = tmpdir("spoke-ci-checkout-")
    for rel, content in files.items():
        p = os.path.join(d, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(content)
    subprocess.run(["git", "init", "-q", "-b", "main", d], check=True)
    git(d, "add", ".")
    git(d, "commit", "-q", "-m", "protos")
    git(d, "remote", "add", "origin", origin)
    if tag:
        git(d, "tag", tag)
        git(d, "checkout", "-q", "--detach", tag)
    return d, git(d, "rev-parse", "HEAD")


def base_env(extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SPOKE_", "GITHUB_", "CI_", "GIT_", "RUNNER_"))}
    env.update(extra)
    return env


def github_env(workspace, event, ref, sha, **extra):
    tmp = tmpdir("spoke-runner-")
    ref_type = "tag" if ref.startswith("refs/tags/") else "branch"
    name = ref.split("/", 2)[2] if ref_type == "tag" else ref[len("refs/"):].split("/", 1)[1]
    env = {"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": event,
           "GITHUB_REF": ref, "GITHUB_REF_TYPE": ref_type, "GITHUB_REF_NAME": name,
           "GITHUB_SHA": sha, "GITHUB_SERVER_URL": "https://github.com",
           "GITHUB_REPOSITORY": "acme/protos", "GITHUB_WORKSPACE": workspace,
           "RUNNER_TEMP": tmp, "GITHUB_STEP_SUMMARY": os.path.join(tmp, "summary.md")}
    env.update(extra)
    return base_env(env)


def gitlab_env(project_dir, sha, source, tag=None, **extra):
    env = {"CI": "true", "GITLAB_CI": "true", "CI_PIPELINE_SOURCE": source,
           "CI_PROJECT_DIR": project_dir, "CI_COMMIT_SHA": sha,
           "CI_PROJECT_URL": "https://gitlab.example.com/acme/protos",
           "CI_COMMIT_REF_NAME": tag or "feature/login"}
    if tag:
        env["CI_COMMIT_TAG"] = tag
    if source == "merge_request_event":
        env["CI_MERGE_REQUEST_IID"] = "5"
    env.update(extra)
    return base_env(env)


def version_of(module, version):
    r = request(STACK.lb_url, "GET", f"/modules/{module}/versions/{version}")
    return r.status, (r.json() if r.body else None)


GOOD = {"proto/acme/v1/user.proto": proto("acme.v1", "User"),
        "proto/acme/v1/order.proto": proto("acme.v1", "Order"),
        "README.md": "# protos\n"}
BROKEN = {"proto/acme/v1/user.proto": 'syntax = "proto3";\nmessage User { int32 id = 1 }\n'}


def action_inputs(module, **extra):
    return {"module": module, "directory": "proto", "registry-url": STACK.lb_url,
            "token": "gh-token", "spoke-bin": SPOKE, **extra}


# ---- tests: the files themselves ----------------------------------------------------------------


def test_files_parse_and_keep_their_shape():
    action = parse_yaml(open(ACTION).read())
    assert set(action["inputs"]) >= {"mode", "module", "directory", "dependencies", "version",
                                     "registry-url", "token"}
    for step in action["runs"]["steps"]:
        assert "${{" not in step["run"]
        assert "spoke-ci.sh" in step["run"]
    tpl = parse_yaml(open(GITLAB).read())
    assert set(tpl) == {".spoke", "spoke-validate", "spoke-push"}
    # Defaults live in the script: job variables would override the pipeline's own.
    for job in ("spoke-validate", "spoke-push"):
        assert set(tpl[job]["variables"]) == {"SPOKE_CI_MODE"}, tpl[job]
    p = subprocess.run(["bash", os.path.join(CI_DIR, "spoke-ci.sh"), "--help"],
                       capture_output=True, text=True)
    assert p.returncode == 0 and "validate" in p.stdout and "SPOKE_MODULE" in p.stdout, p
    assert "breaking" in p.stdout and "SPOKE_AGAINST" in p.stdout, p
    p = subprocess.run(["bash", os.path.join(CI_DIR, "spoke-ci.sh"), "deploy"],
                       capture_output=True, text=True, env=base_env({"SPOKE_BIN": SPOKE}))
    assert p.returncode == 2, p
    p = subprocess.run(["bash", os.path.join(CI_DIR, "spoke-ci.sh"), "breaking"],
                       capture_output=True, text=True, env=base_env({"SPOKE_BIN": SPOKE}))
    assert p.returncode == 2 and "SPOKE_MODULE is not set" in p.stderr, p


# ---- tests: GitHub ------------------------------------------------------------------------------


def test_github_pull_request_validates_and_stores_nothing():
    ws, sha = checkout(GOOD, "https://github.com/acme/protos")
    env = github_env(ws, "pull_request", "refs/pull/7/merge", sha)
    rc, log, _, _ = run_action(action_inputs("ci.gh-pr"), env, ws)
    assert rc == 0, log
    assert "mode auto: validate" in log and "valid: 2 files compile" in log, log
    # A module's first version cannot break anything: the check says so and passes.
    assert "ci.gh-pr is not in the registry yet: no breaking-change check" in log, log
    assert request(STACK.lb_url, "GET", "/modules/ci.gh-pr").status == 404

    ws, sha = checkout(BROKEN, "https://github.com/acme/protos")
    env = github_env(ws, "pull_request", "refs/pull/8/merge", sha)
    rc, log, _, _ = run_action(action_inputs("ci.gh-pr"), env, ws)
    assert rc == 1, log
    assert "acme/v1/user.proto:2:" in log, log


def test_github_tag_pushes_the_tag_as_version():
    ws, sha = checkout(GOOD, "https://github.com/acme/protos.git", tag="v1.2.0")
    env = github_env(ws, "push", "refs/tags/v1.2.0", sha)
    rc, log, steps, outputs = run_action(action_inputs("ci.gh", description="from CI"), env, ws)
    assert rc == 0, log
    assert steps["setup"]["spoke-bin"] == SPOKE
    assert outputs["version"] == "1.2.0" and outputs["status"] == "created", (outputs, log)
    status, v = version_of("ci.gh", "1.2.0")
    assert status == 200, v
    assert outputs["digest"] == v["digest"]
    assert [f["path"] for f in v["files"]] == ["acme/v1/order.proto", "acme/v1/user.proto"]
    # git gives the remote and the commit; the detached tag checkout has no branch, so
    # GITHUB_REF_NAME fills it.
    assert v["source_info"] == {"repository": "https://github.com/acme/protos.git",
                                "commit_sha": sha, "branch": "v1.2.0"}, v
    summary = open(env["GITHUB_STEP_SUMMARY"]).read()
    assert "ci.gh@1.2.0" in summary and v["digest"] in summary, summary
    assert "gh-token" not in log

    # A re-run of the job (CI retries) succeeds without a change.
    rc, log, _, outputs = run_action(action_inputs("ci.gh"), env, ws)
    assert rc == 0 and outputs["status"] == "unchanged", log

    # The same tag with other content: conflict, exit 3, the step fails.
    with open(os.path.join(ws, "proto/acme/v1/user.proto"), "a") as f:
        f.write("// changed\n")
    rc, log, _, _ = run_action(action_inputs("ci.gh"), env, ws)
    assert rc == 3 and "already exists with digest" in log, log


def test_github_tag_prefix_dependencies_and_env_only_source():
    # A monorepo tag "billing/v0.3.0", a dependency, and a workspace that is no git checkout
    # (source information from the GITHUB_* variables alone).
    dep_ws, dep_sha = checkout({"proto/dep/d.proto": proto("dep", "D")}, "https://github.com/a/d")
    rc, log, _, _ = run_action(action_inputs("ci.gh-dep", version="1.0.0"),
                               github_env(dep_ws, "push", "refs/heads/main", dep_sha,
                                          ), dep_ws)
    assert rc == 0 and "mode auto: validate" in log, log  # a branch build only validates
    rc, log, _, _ = run_action(action_inputs("ci.gh-dep", mode="push", version="1.0.0"),
                               github_env(dep_ws, "push", "refs/heads/main", dep_sha), dep_ws)
    assert rc == 0, log

    ws = tmpdir("spoke-ci-plain-")
    os.makedirs(os.path.join(ws, "proto"))
    with open(os.path.join(ws, "proto", "b.proto"), "w") as f:
        f.write('syntax = "proto3";\npackage billing;\nimport "dep/d.proto";\n'
                "message B { dep.D d = 1; }\n")
    sha = "0123456789abcdef0123456789abcdef01234567"
    env = github_env(ws, "push", "refs/tags/billing/v0.3.0", sha)
    rc, log, _, outputs = run_action(
        action_inputs("ci.gh-billing", **{"tag-prefix": "billing/",
                                          "dependencies": "ci.gh-dep@1.0.0"}), env, ws)
    assert rc == 0, log
    assert outputs["version"] == "0.3.0", outputs
    status, v = version_of("ci.gh-billing", "0.3.0")
    assert status == 200 and v["dependencies"] == ["ci.gh-dep@1.0.0"], v
    assert v["source_info"] == {"repository": "https://github.com/acme/protos",
                                "commit_sha": sha, "branch": "billing/v0.3.0"}, v


BROKEN_USER = proto("acme.v1", "User").replace("string name = 1", "int64 name = 1")
GROWN_USER = proto("acme.v1", "User", "string email = 2; ")


def test_github_pull_requests_check_breaking_changes():
    m = "ci.gh-brk"
    ws, sha = checkout(GOOD, "https://github.com/acme/protos", tag="v1.0.0")
    rc, log, _, _ = run_action(action_inputs(m), github_env(ws, "push", "refs/tags/v1.0.0", sha),
                               ws)
    assert rc == 0, log

    # A pull request that retypes a field: validation passes, the breaking check fails the step
    # with exit 6, a buf-style line, an annotation on the file's line and a summary entry.
    ws, sha = checkout({**GOOD, "proto/acme/v1/user.proto": BROKEN_USER},
                       "https://github.com/acme/protos")
    env = github_env(ws, "pull_request", "refs/pull/10/merge", sha)
    rc, log, _, _ = run_action(action_inputs(m), env, ws)
    assert rc == 6, log
    assert "valid: 2 files compile" in log, log
    assert re.search(r"^acme/v1/user\.proto:3:\d+: FIELD_SAME_TYPE \S", log, re.M), log
    assert re.search(r"^::error file=proto/acme/v1/user\.proto,line=3,col=\d+,"
                     r"title=FIELD_SAME_TYPE::FIELD_SAME_TYPE \S", log, re.M), log
    assert f"1 breaking change against {m}@1.0.0" in log, log
    summary = open(env["GITHUB_STEP_SUMMARY"]).read()
    assert f"Breaking changes in `{m}`" in summary and "FIELD_SAME_TYPE" in summary, summary

    # Turned off: validation only.
    rc, log, _, _ = run_action(action_inputs(m, breaking="false"), env, ws)
    assert rc == 0 and "no breaking-change check" in log, log
    # The breaking mode alone, against a named version.
    rc, log, _, _ = run_action(action_inputs(m, mode="breaking", against="1.0.0"), env, ws)
    assert rc == 6 and "valid:" not in log and f"against {m}@1.0.0" in log, log
    # Compatible: a field added.
    ws, sha = checkout({**GOOD, "proto/acme/v1/user.proto": GROWN_USER},
                       "https://github.com/acme/protos")
    env = github_env(ws, "pull_request", "refs/pull/11/merge", sha)
    rc, log, _, _ = run_action(action_inputs(m), env, ws)
    assert rc == 0 and f"no breaking changes against {m}@1.0.0" in log, log
    assert "::error" not in log, log
    # Nothing was stored by the checks.
    assert version_of(m, "1.0.0")[0] == 200
    assert request(STACK.lb_url, "GET", f"/modules/{m}").json()["version_count"] == 1

    # A tag with the breaking change: the registry refuses the push, exit 6, the violations shown.
    ws, sha = checkout({**GOOD, "proto/acme/v1/user.proto": BROKEN_USER},
                       "https://github.com/acme/protos", tag="v1.1.0")
    rc, log, _, _ = run_action(action_inputs(m), github_env(ws, "push", "refs/tags/v1.1.0", sha),
                               ws)
    assert rc == 6, log
    assert re.search(r"^acme/v1/user\.proto:3:\d+: FIELD_SAME_TYPE \S", log, re.M), log
    assert version_of(m, "1.1.0")[0] == 404


def test_github_finds_spoke_on_path():
    bindir = tmpdir("spoke-bin-")
    os.symlink(SPOKE, os.path.join(bindir, "spoke"))
    ws, sha = checkout(GOOD, "https://github.com/acme/protos")
    env = github_env(ws, "pull_request", "refs/pull/9/merge", sha)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    inputs = action_inputs("ci.gh-path")
    del inputs["spoke-bin"]
    rc, log, steps, _ = run_action(inputs, env, ws)
    assert rc == 0, log
    assert steps["setup"]["spoke-bin"] == os.path.join(bindir, "spoke")


# ---- tests: GitLab ------------------------------------------------------------------------------


def pipeline_vars(module, **extra):
    """What a project sets in its .gitlab-ci.yml / CI/CD settings."""
    return {"SPOKE_MODULE": module, "SPOKE_DIR": "proto", "SPOKE_REGISTRY_URL": STACK.lb_url,
            "SPOKE_TOKEN": "gl-token", "SPOKE_BIN": SPOKE,
            "SPOKE_CI_SCRIPT": os.path.join(CI_DIR, "spoke-ci.sh"), **extra}


def test_gitlab_rules_select_the_jobs():
    assert list(gitlab_jobs({"CI_PIPELINE_SOURCE": "merge_request_event"})) == ["spoke-validate"]
    assert list(gitlab_jobs({"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_TAG": "v1.0.0"})) == \
        ["spoke-push"]
    assert list(gitlab_jobs({"CI_PIPELINE_SOURCE": "push"})) == []
    assert list(gitlab_jobs({"CI_PIPELINE_SOURCE": "schedule"})) == []


def test_gitlab_merge_request_validates():
    proj, sha = checkout(GOOD, "https://gitlab.example.com/acme/protos.git")
    env = gitlab_env(proj, sha, "merge_request_event", **pipeline_vars("ci.gl-mr"))
    jobs = gitlab_jobs(env)
    rc, log = run_job(jobs["spoke-validate"], env, proj)
    assert rc == 0 and "valid: 2 files compile" in log, log
    assert "ci.gl-mr is not in the registry yet: no breaking-change check" in log, log
    assert request(STACK.lb_url, "GET", "/modules/ci.gl-mr").status == 404

    proj, sha = checkout(BROKEN, "https://gitlab.example.com/acme/protos.git")
    env = gitlab_env(proj, sha, "merge_request_event", **pipeline_vars("ci.gl-mr"))
    rc, log = run_job(gitlab_jobs(env)["spoke-validate"], env, proj)
    assert rc == 1 and "acme/v1/user.proto:2:" in log, log


def test_gitlab_merge_request_checks_breaking_changes():
    m = "ci.gl-brk"
    proj, sha = checkout(GOOD, "https://gitlab.example.com/acme/protos.git", tag="v1.0.0")
    env = gitlab_env(proj, sha, "push", tag="v1.0.0", **pipeline_vars(m))
    rc, log = run_job(gitlab_jobs(env)["spoke-push"], env, proj)
    assert rc == 0, log

    proj, sha = checkout({**GOOD, "proto/acme/v1/user.proto": BROKEN_USER},
                         "https://gitlab.example.com/acme/protos.git")
    env = gitlab_env(proj, sha, "merge_request_event", **pipeline_vars(m))
    rc, log = run_job(gitlab_jobs(env)["spoke-validate"], env, proj)
    assert rc == 6, log
    assert re.search(r"^acme/v1/user\.proto:3:\d+: FIELD_SAME_TYPE \S", log, re.M), log
    assert "::error" not in log, log  # annotations are GitHub's
    env = gitlab_env(proj, sha, "merge_request_event", SPOKE_BREAKING="false", **pipeline_vars(m))
    rc, log = run_job(gitlab_jobs(env)["spoke-validate"], env, proj)
    assert rc == 0, log

    proj, sha = checkout({**GOOD, "proto/acme/v1/user.proto": GROWN_USER},
                         "https://gitlab.example.com/acme/protos.git")
    env = gitlab_env(proj, sha, "merge_request_event", **pipeline_vars(m))
    rc, log = run_job(gitlab_jobs(env)["spoke-validate"], env, proj)
    assert rc == 0 and f"no breaking changes against {m}@1.0.0" in log, log


def test_gitlab_tag_pushes_without_leaking_the_clone_token():
    # GitLab runners clone with the job token in the remote URL.
    origin = "https://gitlab-ci-token:glcbt-SECRET123@gitlab.example.com/acme/protos.git"
    proj, sha = checkout(GOOD, origin, tag="v2.0.0")
    env = gitlab_env(proj, sha, "push", tag="v2.0.0", **pipeline_vars("ci.gl"))
    jobs = gitlab_jobs(env)
    assert list(jobs) == ["spoke-push"]
    rc, log = run_job(jobs["spoke-push"], env, proj)
    assert rc == 0, log
    assert "ci.gl@2.0.0 sha256:" in log and "(created)" in log, log
    status, v = version_of("ci.gl", "2.0.0")
    assert status == 200, v
    assert v["source_info"] == {"repository": "https://gitlab.example.com/acme/protos.git",
                                "commit_sha": sha, "branch": "v2.0.0"}, v
    assert "SECRET123" not in json.dumps(v) and "SECRET123" not in log
    assert "gl-token" not in log
    rc, log = run_job(jobs["spoke-push"], env, proj)  # a retried job
    assert rc == 0 and "(unchanged)" in log, log


def test_gitlab_job_fetches_the_script_from_the_spoke_repository():
    # No spoke-ci.sh in the image: the job clones SPOKE_CI_SOURCE_URL (here a local repository
    # holding the CI files) and runs the script from there. SPOKE_DIR defaults to "." and the
    # clone (.spoke-ci, hidden) is not pushed.
    src = tmpdir("spoke-src-")
    for rel in ("deployments/ci/spoke-ci.sh", "deployments/local/lib/packages.sh"):
        os.makedirs(os.path.join(src, os.path.dirname(rel)), exist_ok=True)
        shutil.copy(os.path.join(SOURCE_DIR, rel), os.path.join(src, rel))
    subprocess.run(["git", "init", "-q", "-b", "main", src], check=True)
    git(src, "add", ".")
    git(src, "commit", "-q", "-m", "ci files")

    proj, sha = checkout({"acme/x.proto": proto("acme.x", "X")},
                         "https://gitlab.example.com/acme/x.git", tag="v0.1.0")
    pv = pipeline_vars("ci.gl-clone", SPOKE_CI_SOURCE_URL="file://" + src)
    del pv["SPOKE_CI_SCRIPT"], pv["SPOKE_DIR"]
    env = gitlab_env(proj, sha, "push", tag="v0.1.0", **pv)
    rc, log = run_job(gitlab_jobs(env)["spoke-push"], env, proj)
    assert rc == 0, log
    assert os.path.isfile(os.path.join(proj, ".spoke-ci", "deployments", "ci", "spoke-ci.sh"))
    status, v = version_of("ci.gl-clone", "0.1.0")
    assert status == 200 and [f["path"] for f in v["files"]] == ["acme/x.proto"], v

    # Neither a script nor a source: a clear failure.
    pv = pipeline_vars("ci.gl-clone")
    del pv["SPOKE_CI_SCRIPT"]
    env = gitlab_env(proj, sha, "push", tag="v0.1.0", **pv)
    rc, log = run_job(gitlab_jobs(env)["spoke-push"], env, proj)
    assert rc == 1 and "SPOKE_CI_SOURCE_URL" in log, log


def main():
    run_with_stack(globals(), cleanup=remove_tmpdirs)


def remove_tmpdirs():
    for d in TMPDIRS:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
