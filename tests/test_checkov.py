"""checkov's reviewed exceptions: `.checkov.yaml` and the README list the same checks with the same
reasons, and CI runs the pinned checkov with that file over every stack's manifests and the workflows."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.test_workflows import workflow

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".checkov.yaml"


def config_exceptions() -> dict[str, str]:
    """check id -> reason: the ids as checkov reads them, each reason from the comment on its line."""
    ids = yaml.safe_load(CONFIG.read_text())["skip-check"]
    reasons = dict(re.findall(r"^\s*-\s*(CKV\w*_\d+)\s*#\s*(.+?)\s*$", CONFIG.read_text(), re.M))
    assert sorted(ids) == sorted(reasons), "every skipped check needs its reason on its line"
    return reasons


def readme_exceptions() -> dict[str, str]:
    section = (ROOT / "README.md").read_text().split("### checkov exceptions", 1)[1].split("\n#", 1)[0]
    return dict(re.findall(r"^\|\s*(CKV\w*_\d+)\s*\|\s*(.+?)\s*\|$", section, re.M))


def test_the_readme_lists_exactly_the_configured_exceptions():
    assert readme_exceptions() == config_exceptions()
    assert config_exceptions(), "an empty list would make this test hold nothing"


def test_the_config_scans_manifests_and_workflows_without_calling_out():
    config = yaml.safe_load(CONFIG.read_text())
    assert config["framework"] == ["kubernetes", "github_actions"]
    assert config["skip-download"] is True


def test_ci_runs_the_pinned_checkov_with_the_config_after_every_preview():
    steps = workflow("ci.yml")["jobs"]["preview"]["steps"]
    names = [step.get("name", "") for step in steps]
    checkov = steps[names.index("checkov over the previews' manifests and the workflows")]
    assert names.index("Preview every stack at HEAD") < names.index(checkov["name"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", checkov["env"]["CHECKOV_VERSION"])
    assert '"checkov==$CHECKOV_VERSION"' in checkov["run"]
    assert "--config-file .checkov.yaml -d build" in checkov["run"] and "--config-file .checkov.yaml -d .github/workflows" in checkov["run"]
    # A checkov failure fails the job.
    final = steps[names.index("Fail on a failed preview or a mandatory policy violation")]
    assert final["env"]["CHECKOV_OUTCOME"] == "${{ steps.checkov.outcome }}"


def test_the_readme_lists_the_exception_written_in_place():
    from llm_platform.aws.registry import DIGEST_EXCEPTION, cache_warmer_job

    job = cache_warmer_job("123456789012.dkr.ecr.us-west-2.amazonaws.com/docker-hub/vllm/vllm-openai:v0.31.0@sha256:" + "0" * 64)
    check, reason = job["metadata"]["annotations"]["checkov.io/skip1"].split("=", 1)
    assert (check, reason) == DIGEST_EXCEPTION
    section = (ROOT / "README.md").read_text().split("### checkov exceptions", 1)[1].split("\n#", 1)[0]
    assert f"| {check} | {reason} |" in section
