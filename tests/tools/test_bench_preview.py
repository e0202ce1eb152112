"""The scaling benchmark previews copies of production with more pools and models: each copy must be a stack
the configuration accepts, or the benchmark measures an error instead of a preview."""

from __future__ import annotations

import json

from llm_platform.config import parse
from tools.bench_preview import scaled_stack
from tools.preview import load_stack_file


def test_a_scaled_copy_of_production_is_a_valid_stack_with_one_more_pool_and_model_each(tmp_path):
    stack = scaled_stack(tmp_path, 3)
    flat, _ = load_stack_file(stack, tmp_path)
    raw = {key.removeprefix("llm-platform:"): json.loads(value) if value[:1] in "[{" else value for key, value in flat.items() if key.startswith("llm-platform:")}
    config = parse(raw, stack=stack)
    assert stack.startswith("production-") and config.environment == "production"
    assert [pool.name for pool in config.gpu_pools][-3:] == ["extra-0", "extra-1", "extra-2"]
    assert [model.pool_group for model in config.models][-3:] == ["extra-0", "extra-1", "extra-2"]
