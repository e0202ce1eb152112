"""Promotion and rollback of a canary (`make promote`, `make rollback`): edits of the stack file that keep
everything else byte for byte, checked against the configuration before anything is written."""

from __future__ import annotations

import difflib
import io
from pathlib import Path

import pytest

from llm_platform.config import decode_flat_config, parse
from llm_platform.config.stack_file import read_stack_file
from tools import release

ROOT = Path(__file__).resolve().parents[2]
MODEL = "llama-3-1-8b-instruct"
NEW_REVISION = "3e1c0d4b" * 5
PRODUCTION = (ROOT / "Pulumi.production.yaml").read_text()
# The model's last key in the production file; the canary block goes right after it, as a person writes it.
ANCHOR = "      resources:\n        cpu: 6\n        memoryGib: 24\n"
CANARY = f"""      # Release 2026-12: the new commit with a larger batch, on 5 % of requests.
      canary:
        revision: {NEW_REVISION}
        engine:
          maxModelLen: 8192
          gpuMemoryUtilization: 0.90
          maxNumSeqs: 96  # the batch the gate passed with
        poolGroup: a10g-burst
        weight: 5
"""


@pytest.fixture
def with_canary(tmp_path) -> Path:
    assert PRODUCTION.count(ANCHOR) == 1
    path = tmp_path / "Pulumi.production.yaml"
    path.write_text(PRODUCTION.replace(ANCHOR, ANCHOR + CANARY))
    return path


def model_of(path: Path):
    return next(m for m in parse(decode_flat_config(read_stack_file(path)[0]), stack="production").models if m.name == MODEL)


def changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0) if line[:1] in "+-" and line[:3] not in ("+++", "---")]


def test_every_stack_file_survives_the_round_trip_unchanged():
    yaml = release._yaml()
    for path in sorted(ROOT.glob("Pulumi.*.yaml")):
        out = io.StringIO()
        yaml.dump(yaml.load(path.read_text()), out)
        assert out.getvalue() == path.read_text(), path.name


def test_rollback_gives_back_the_file_as_it_was_before_the_canary(with_canary):
    assert release.main(["rollback", "--stack", "production", "--model", MODEL, "--root", str(with_canary.parent)]) == 0
    # The canary block and the note above it go; the comments after it (the gateway's) stay.
    assert with_canary.read_text() == PRODUCTION
    assert model_of(with_canary).canary is None


def test_promotion_moves_the_canarys_identity_into_the_model(with_canary):
    before = model_of(with_canary)
    assert release.main(["promote", "--stack", "production", "--model", MODEL, "--root", str(with_canary.parent)]) == 0
    after = model_of(with_canary)
    assert (after.revision, after.engine.max_num_seqs, after.canary, after.min_replicas, after.burst) == (NEW_REVISION, 96, None, 2, before.burst)
    # Only the identity lines change; the canary's comment comes along.
    assert changed_lines(PRODUCTION, with_canary.read_text()) == [
        "-      revision: 0e9e39f249a16976918f6564b8830bc894c89659",
        f"+      revision: {NEW_REVISION}",
        "-        maxNumSeqs: 128",
        "+        maxNumSeqs: 96    # the batch the gate passed with",
    ]


def test_promoting_an_image_inserts_it_beside_the_models_identity(with_canary):
    image = "docker.io/vllm/vllm-openai:v0.32.0@sha256:" + "c" * 64
    with_canary.write_text(with_canary.read_text().replace("        poolGroup: a10g-burst\n        weight: 5\n", f"        image: {image}\n        poolGroup: a10g-burst\n        weight: 5\n"))
    release.apply(with_canary, "production", MODEL, "promote")
    assert model_of(with_canary).image == image
    assert changed_lines(PRODUCTION, with_canary.read_text())[-1] == f"+      image: {image}"


def test_nothing_to_do_is_refused_and_leaves_the_file(tmp_path, capsys):
    path = tmp_path / "Pulumi.production.yaml"
    path.write_text(PRODUCTION)
    assert release.main(["rollback", "--stack", "production", "--model", MODEL, "--root", str(tmp_path)]) == 2
    assert "has no canary to rollback" in capsys.readouterr().err
    assert release.main(["promote", "--stack", "production", "--model", "mistral", "--root", str(tmp_path)]) == 2
    assert "serves no model 'mistral'" in capsys.readouterr().err
    assert path.read_text() == PRODUCTION and sorted(p.name for p in tmp_path.iterdir()) == ["Pulumi.production.yaml"]


def test_the_lists_the_deploy_workflow_loops_over(with_canary, capsys):
    assert release.main(["canaries", "--stack", "production", "--root", str(with_canary.parent)]) == 0
    assert capsys.readouterr().out == f"{MODEL} 30\n"
    assert release.main(["canaries", "--stack", "production", "--root", str(ROOT)]) == 0
    assert capsys.readouterr().out == ""
    assert release.main(["models", "--stack", "staging", "--root", str(ROOT)]) == 0
    assert capsys.readouterr().out == "mistral-7b-instruct\n"
