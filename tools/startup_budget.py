"""Print the start-up budget of every stack's models (the README's table), from the stack files.

    python -m tools.startup_budget [STACK ...]

Each model is placed on the first instance type of its pool group's first pool; the figures and their
sources are in llm_platform/platform/startup_budget.py.
"""

from __future__ import annotations

import sys

from llm_platform.config import decode_flat_config, parse
from llm_platform.platform.startup_budget import Placement, budget_table
from tools.preview import load_stack_file

STACKS = ("production", "staging", "staging-gcp")


def placements(stacks: tuple[str, ...] | list[str] = STACKS) -> list[Placement]:
    found = []
    for stack in stacks:
        config = parse(decode_flat_config(load_stack_file(stack)[0]))
        for model in config.models:
            pool = next(pool for pool in config.gpu_pools if pool.pool_group == model.pool_group)
            found.append(Placement(stack, model.name, model.weights_gib, pool.sizes()[0].name, config.cloud))
    return found


def main(argv: list[str] | None = None) -> int:
    print(budget_table(placements(argv or list(STACKS))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
