"""The whole program (`__main__.py`) on every committed stack file."""

from __future__ import annotations

import yaml

from tools.preview import ROOT

STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in ROOT.glob("Pulumi.*.yaml"))
CLOUD = {stack: yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]["llm-platform:cloud"] for stack in STACKS}
AWS_STACKS = [stack for stack in STACKS if CLOUD[stack] == "aws"]
GCP_STACKS = [stack for stack in STACKS if CLOUD[stack] == "gcp"]
