"""The GitHub workflows: valid against GitHub's schema, pinned, least-privilege, and safe for forks.

Schema validation uses the copy of the workflow schema vendored in check-jsonschema, so it runs offline.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from tools.plan_diff import MARKER

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW_DIR = ROOT / ".github" / "workflows"
WORKFLOWS = sorted(WORKFLOW_DIR.glob("*.y*ml"))
SHA = re.compile(r"^[0-9a-f]{40}$")
# `uses: owner/repo[/path]@<sha> # v1.2.3`: the comment is what tells a reader (and Dependabot) the version.
PINNED_LINE = re.compile(r"uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # v\d+(\.\d+)*[ \t]*$", re.M)


def load(path: Path) -> dict[str, Any]:
    workflow = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as the boolean True.
    if True in workflow:
        workflow["on"] = workflow.pop(True)
    return workflow


def workflow(name: str) -> dict[str, Any]:
    return load(WORKFLOW_DIR / name)


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job.get("steps", []) if s.get("uses", "").split("@")[0] == action]


def all_jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path in WORKFLOWS:
        for name, job in load(path)["jobs"].items():
            yield path.name, name, job


def test_the_three_workflows_exist():
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "cloud-preview.yml", "deploy.yml"}


def test_workflows_match_githubs_schema():
    check_jsonschema = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run(
        [str(check_jsonschema), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit(path):
    for name, job in load(path)["jobs"].items():
        for step in job.get("steps", []):
            if "uses" in step:
                ref = step["uses"].split("@")[-1]
                assert SHA.match(ref), f"{path.name}:{name}: {step['uses']} is not pinned to a commit SHA"
    for line in path.read_text().splitlines():
        if re.match(r"^\s*(- )?uses:", line):
            assert PINNED_LINE.search(line), f"{path.name}: {line.strip()!r} lacks `@<sha> # vX.Y.Z`"


def test_one_action_one_commit_across_workflows():
    # A bump must reach every workflow, or two jobs would run different code under one name.
    pins: dict[str, set[str]] = {}
    for path in WORKFLOWS:
        for match in PINNED_LINE.finditer(path.read_text()):
            pins.setdefault(match.group(1), set()).add(match.group(2))
    assert pins and all(len(shas) == 1 for shas in pins.values()), pins


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_job_declares_its_permissions(path):
    wf = load(path)
    # Nothing by default at the top, so a new job without its own block gets no token rights at all.
    assert wf.get("permissions") == {}
    for name, job in wf["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {name} does not declare permissions"


def test_jobs_with_aws_credentials_request_an_oidc_token():
    aws_jobs = [(f, n, j) for f, n, j in all_jobs() if steps_using(j, "aws-actions/configure-aws-credentials")]
    assert {(f, n) for f, n, _ in aws_jobs} == {
        ("cloud-preview.yml", "preview"),
        ("deploy.yml", "staging"),
        ("deploy.yml", "gate"),
        ("deploy.yml", "production"),
    }
    for file, name, job in aws_jobs:
        assert job["permissions"].get("id-token") == "write", f"{file}:{name}"
        # OIDC, not stored keys.
        (step,) = steps_using(job, "aws-actions/configure-aws-credentials")
        assert step["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"
        assert not {"aws-access-key-id", "aws-secret-access-key"} & step["with"].keys()


def test_ci_needs_no_secrets_so_forks_work():
    text = (WORKFLOW_DIR / "ci.yml").read_text()
    assert "secrets." not in text
    jobs = workflow("ci.yml")["jobs"]
    # The preview job runs the PR's code: read-only. Only the comment job writes, and never for a fork.
    assert jobs["preview"]["permissions"] == {"contents": "read"}
    assert jobs["test"]["permissions"] == {"contents": "read"}
    assert jobs["comment"]["permissions"] == {"pull-requests": "write"}
    assert "github.event.pull_request.head.repo.full_name == github.repository" in jobs["comment"]["if"]


def test_ci_runs_on_pull_requests_and_all_pushes():
    on = workflow("ci.yml")["on"]
    assert set(on) == {"pull_request", "push"}
    assert not (on["push"] or {}).get("branches")


def test_ci_preview_diffs_and_comments_with_the_plan_diff_marker():
    text = (WORKFLOW_DIR / "ci.yml").read_text()
    assert "python -m tools.plan_diff --stack-dir base/build build --out plan-diff.md --fail-on-mandatory" in text
    # The comment job finds its earlier comment by the marker the tool writes.
    assert MARKER in text
    preview = workflow("ci.yml")["jobs"]["preview"]
    assert any("GITHUB_STEP_SUMMARY" in s.get("run", "") for s in preview["steps"])
    assert steps_using(preview, "actions/upload-artifact")


def test_cloud_preview_only_for_same_repo_prs_with_credentials_configured():
    wf = workflow("cloud-preview.yml")
    assert set(wf["on"]) == {"pull_request"}
    gate = wf["jobs"]["stacks"]["if"]
    for condition in (
        "github.event.pull_request.head.repo.full_name == github.repository",
        "vars.PULUMI_BACKEND_URL != ''",
        "vars.AWS_ROLE_ARN != ''",
        "vars.GCP_WORKLOAD_IDENTITY_PROVIDER != ''",
    ):
        assert condition in gate
    preview = wf["jobs"]["preview"]
    assert preview["needs"] == "stacks"
    assert preview["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    assert wf["jobs"]["stacks"]["permissions"] == {"contents": "read"}
    (pulumi,) = steps_using(preview, "pulumi/actions")
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["comment-on-pr"] is True
    assert pulumi["with"]["policyPackConfigs"] == "policies/config/${{ matrix.stack }}.json"
    # Each stack authenticates to its own cloud only.
    (aws,) = steps_using(preview, "aws-actions/configure-aws-credentials")
    (gcp,) = steps_using(preview, "google-github-actions/auth")
    assert aws["if"] == "matrix.cloud == 'aws'" and gcp["if"] == "matrix.cloud == 'gcp'"


def test_cloud_preview_runs_pull_request_code_only_in_the_protected_environment_with_secrets_at_one_step():
    wf = workflow("cloud-preview.yml")
    preview = wf["jobs"]["preview"]
    # The job that gets an OIDC token and secrets waits for the `preview` environment's reviewers.
    assert preview["environment"] == "preview"
    for name, job in wf["jobs"].items():
        if job.get("permissions", {}).get("id-token") == "write":
            assert job.get("environment") == "preview", name
    # No secret at workflow or job level: only the step that logs in to the backend reads them.
    assert "secrets." not in json.dumps({k: v for k, v in wf.items() if k != "jobs"})
    for name, job in wf["jobs"].items():
        assert "secrets." not in json.dumps({k: v for k, v in job.items() if k != "steps"}), name
        for step in job["steps"]:
            if "secrets." in json.dumps(step):
                assert step.get("uses", "").split("@")[0] == "pulumi/actions", step
                assert set(step["env"]) == {"PULUMI_CONFIG_PASSPHRASE", "PULUMI_ACCESS_TOKEN"}
    # The README documents the environment and its reviewers.
    readme = (ROOT / "README.md").read_text()
    assert "`preview` environment" in readme and "repo:<owner>/<repo>:environment:preview" in readme


def test_cloud_preview_matrix_lists_each_stack_with_its_cloud(tmp_path):
    script = workflow("cloud-preview.yml")["jobs"]["stacks"]["steps"][1]["run"]
    out = tmp_path / "out"
    for clouds, expected in (("aws gcp", ["production", "staging-gcp", "staging"]), (" gcp", ["staging-gcp"])):
        subprocess.run(["bash", "-c", script], cwd=ROOT, env={"PATH": os.environ["PATH"], "CLOUDS": clouds, "GITHUB_OUTPUT": str(out)}, check=True)
        listed = json.loads(out.read_text().strip().removeprefix("stacks="))
        assert [entry["stack"] for entry in listed] == expected
        assert {entry["stack"]: entry["cloud"] for entry in listed}.get("staging-gcp") == "gcp"
        out.unlink()


def test_deploys_are_serialised_per_stack_and_production_waits_for_staging():
    jobs = workflow("deploy.yml")["jobs"]
    for stack in ("staging", "production"):
        job = jobs[stack]
        assert job["concurrency"] == {"group": f"deploy-{stack}", "cancel-in-progress": False}
        assert job["environment"] == stack
        # Every `pulumi up` of the stack (production's second one is the rollback's).
        for pulumi in steps_using(job, "pulumi/actions"):
            assert pulumi["with"]["command"] == "up"
            assert pulumi["with"]["stack-name"] == stack
            assert pulumi["with"]["policyPacks"] == "policies"
            assert pulumi["with"]["policyPackConfigs"] == f"policies/config/{stack}.json"
    assert jobs["staging"]["needs"] == "test"
    # staging -> gate -> production: production's deploy waits for the gate against staging.
    assert jobs["gate"]["needs"] == "staging"
    assert jobs["production"]["needs"] == "gate"
    gcp = jobs["staging-gcp"]
    assert gcp["needs"] == "test" and gcp["environment"] == "staging-gcp"
    assert gcp["concurrency"] == {"group": "deploy-staging-gcp", "cancel-in-progress": False}
    (pulumi,) = steps_using(gcp, "pulumi/actions")
    assert pulumi["with"]["stack-name"] == "staging-gcp" and pulumi["with"]["policyPackConfigs"] == "policies/config/staging-gcp.json"
    assert steps_using(gcp, "google-github-actions/auth") and not steps_using(gcp, "aws-actions/configure-aws-credentials")


def test_deploy_runs_on_main_only():
    wf = workflow("deploy.yml")
    assert wf["on"]["push"] == {"branches": ["main"]}
    assert "workflow_dispatch" in wf["on"]
    assert wf["jobs"]["staging"]["if"] == "github.ref == 'refs/heads/main'"


def test_pulumi_cli_matches_the_sdk_pin():
    (sdk,) = re.findall(r"\"pulumi==(\S+)\"", (ROOT / "pyproject.toml").read_text())
    (pack,) = re.findall(r"^pulumi==(\S+)$", (ROOT / "policies" / "requirements.txt").read_text(), flags=re.M)
    assert pack == sdk, "the policy pack runs the same Pulumi SDK as the program"
    for name in ("cloud-preview.yml", "deploy.yml"):
        assert workflow(name)["env"]["PULUMI_VERSION"] == sdk, name


def test_the_gate_runs_against_staging_through_its_gateway_for_every_model():
    gate = workflow("deploy.yml")["jobs"]["gate"]
    assert gate["environment"] == "staging" and gate["permissions"] == {"contents": "read", "id-token": "write"}
    # It shares staging's deploy group: no staging update lands while a gate measures it.
    assert gate["concurrency"] == {"group": "deploy-staging", "cancel-in-progress": False}
    (pulumi,) = steps_using(gate, "pulumi/actions")
    assert "command" not in pulumi["with"], "the gate only reads stack outputs"
    script = "\n".join(step.get("run", "") for step in gate["steps"])
    assert "python -m tools.release models --stack staging" in script
    assert 'make gate STACK=staging MODEL="$model" URL=http://127.0.0.1:8443/v1 HOST_HEADER="$host"' in script
    assert "GITHUB_STEP_SUMMARY" in script and "exit $status" in script


def test_a_failed_canary_check_rolls_back_by_a_commit_and_a_pulumi_up_without_a_person():
    production = workflow("deploy.yml")["jobs"]["production"]
    assert production["permissions"] == {"contents": "write", "pull-requests": "write", "id-token": "write"}
    (judge,) = [step for step in production["steps"] if step.get("id") == "canary"]
    script = judge["run"]
    assert "python -m tools.release canaries --stack production" in script
    assert '.venv/bin/python -m tools.canary_check --stack production --model "$model" --prometheus http://127.0.0.1:9090' in script
    # Decisions by the tool's exit status: 0 promote (a pull request), 1 roll back (a commit to main), 3 hold.
    assert 'make rollback STACK=production MODEL="$model"' in script and "push origin HEAD:main" in script
    assert 'make promote STACK=production MODEL="$model"' in script and "gh pr create --base main" in script
    assert "3) echo" in script and 'echo "rolled-back=true" >> "$GITHUB_OUTPUT"' in script
    # The stack follows the rollback commit in the same job: its second `pulumi up`.
    first, rollback = steps_using(production, "pulumi/actions")
    assert production["steps"].index(first) < production["steps"].index(judge) < production["steps"].index(rollback)
    assert rollback["if"] == "steps.canary.outputs.rolled-back == 'true'"
    # The token only reaches git through a header, never a remote URL that could be printed.
    assert "x-access-token:%s" in script and "https://x-access-token" not in script
