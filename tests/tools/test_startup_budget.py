"""The README's start-up budget is what the stack files and the sourced figures give."""

from pathlib import Path

from llm_platform.platform.startup_budget import budget_table
from tools.startup_budget import main, placements

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_stack_model_is_placed_on_its_pool_instance_type():
    assert [(p.stack, p.model, p.instance_type, p.cloud) for p in placements()] == [
        ("production", "llama-3-1-8b-instruct", "g5.2xlarge", "aws"),
        ("staging", "mistral-7b-instruct", "g6.xlarge", "aws"),
        ("staging-gcp", "mistral-7b-instruct", "g2-standard-8", "gcp"),
    ]


def test_the_readme_shows_the_current_budget(capsys):
    assert main([]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == budget_table(placements())
    assert printed in README.read_text()
