"""Promote or roll back a model's canary by editing its stack file, so the repository stays what is deployed.

    make promote STACK=production MODEL=llama-3-1-8b-instruct
    make rollback STACK=production MODEL=llama-3-1-8b-instruct
    python -m tools.release canaries --stack production   # "<model> <check.windowMinutes>" per canary
    python -m tools.release models --stack staging        # every model, one per line

- rollback: the model's `canary` key goes; the model serves what it served before the canary.
- promote: the canary's identity keys (`source`, `revision`, `image`, `engine`) become the model's, with the
  comments written beside them, and the `canary` key goes. A promotion that changes the weights (source or
  revision) needs them staged for the model first: `make stage-model STACK=<stack> MODEL=<model>` with the
  promoted file, or the model's pods refuse the old copy's manifest.

The file is edited as YAML with its comments and layout kept (ruamel.yaml round trip), then read back with the
stack-file reader and the configuration rules, and written only when it parses to exactly the expected model:
the promoted or rolled-back one. The deploy workflow commits the result and runs `pulumi up` from it.

Exit status: 0 written (or listed), 2 bad input (no such stack, model or canary; a result that does not parse).
"""

from __future__ import annotations

import argparse
import copy
import io
import sys
from pathlib import Path
from typing import Sequence

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from llm_platform.config import ConfigError, decode_flat_config, parse
from llm_platform.config.base import NAMESPACE
from llm_platform.config.models import ModelConfig, promoted
from llm_platform.config.stack_file import StackFileError, read_stack_file

ROOT = Path(__file__).resolve().parent.parent
MODELS_KEY = f"{NAMESPACE}:models"
IDENTITY = ("source", "revision", "image", "engine")


class ReleaseError(Exception):
    pass


def _yaml() -> YAML:
    # The stack files' own layout: two-space mappings, sequences indented under their key, long lines kept.
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def _config(path: Path, stack: str):
    try:
        return parse(decode_flat_config(read_stack_file(path)[0]), stack=stack)
    except (StackFileError, ConfigError) as error:
        raise ReleaseError(str(error)) from None


def _model_entry(document: CommentedMap, model: str) -> CommentedMap:
    entries = (document.get("config") or {}).get(MODELS_KEY) or []
    for entry in entries:
        if isinstance(entry, CommentedMap) and entry.get("name") == model:
            return entry
    raise ReleaseError(f"no model {model!r} under {MODELS_KEY} (models: {[e.get('name') for e in entries if isinstance(e, CommentedMap)]})")


def edit(text: str, model: str, action: str) -> str:
    """The stack file `text` with `model`'s canary promoted or rolled back (`action`)."""
    yaml = _yaml()
    document = yaml.load(text)
    entry = _model_entry(document, model)
    canary = entry.get("canary")
    if not isinstance(canary, CommentedMap):
        raise ReleaseError(f"model {model!r} has no canary to {action}")
    if action == "promote":
        for key in IDENTITY:
            if key not in canary:
                continue
            # A copy: one node under two keys would be written as a YAML anchor and alias.
            value = copy.deepcopy(canary[key])
            if key in entry:
                entry[key] = value
            else:
                # A new key goes after the last identity key the model has (its source at least).
                keys = list(entry.keys())
                entry.insert(max(keys.index(k) for k in IDENTITY if k in entry) + 1, key, value)
        # A new source without a revision of its own drops the model's (another repository's commit).
        if "source" in canary and "revision" not in canary and "revision" in entry:
            del entry["revision"]
        out = io.StringIO()
        yaml.dump(document, out)
        text = out.getvalue()
    return _without_canary(text, model)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _without_canary(text: str, model: str) -> str:
    """`text` without the model's `canary:` block, by its lines: the key, everything indented under it, and
    the comment lines right above it at its indentation (a note on the canary). Comments after the block
    belong to what follows and stay (ruamel would drop them with the block's last key)."""
    entry = _model_entry(_yaml().load(text), model)
    line, column = entry.lc.key("canary")
    lines = text.splitlines(keepends=True)
    start = line
    while start > 0 and lines[start - 1].lstrip().startswith("#") and _indent(lines[start - 1]) == column:
        start -= 1
    end = line + 1
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > column):
        end += 1
    return "".join(lines[:start] + lines[end:])


def expected(before: ModelConfig, action: str) -> ModelConfig:
    return promoted(before) if action == "promote" else before.model_copy(update={"canary": None})


def apply(path: Path, stack: str, model: str, action: str) -> str:
    """Edit the stack file at `path` in place; returns the new text. Nothing is written unless the result
    parses, passes every rule and serves exactly the expected model."""
    config = _config(path, stack)
    before = next((m for m in config.models if m.name == model), None)
    if before is None:
        raise ReleaseError(f"stack {stack} serves no model {model!r}")
    text = edit(path.read_text(), model, action)
    candidate = path.with_name(f".{path.name}.{action}")
    candidate.write_text(text)
    try:
        after = next(m for m in _config(candidate, stack).models if m.name == model)
    finally:
        candidate.unlink()
    if after != expected(before, action):
        raise ReleaseError(f"the edited {path.name} would not serve the {action}d model; the file is left as it was")
    path.write_text(text)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.release", description="Promote or roll back a model's canary in its stack file.")
    parser.add_argument("action", choices=["promote", "rollback", "canaries", "models"])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--model", help="the model (promote, rollback)")
    parser.add_argument("--root", type=Path, default=ROOT, help="project directory holding the stack files")
    args = parser.parse_args(argv)
    path = args.root / f"Pulumi.{args.stack}.yaml"
    try:
        if not path.exists():
            raise ReleaseError(f"no stack file {path.name}")
        if args.action in ("canaries", "models"):
            # What the deploy workflow loops over: the gate per model, the canary check per canary.
            for model in _config(path, args.stack).models:
                if args.action == "models":
                    print(model.name)
                elif model.canary:
                    print(model.name, model.canary.check.window_minutes)
            return 0
        if not args.model:
            raise ReleaseError(f"{args.action} needs --model")
        apply(path, args.stack, args.model, args.action)
    except ReleaseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{args.action}: {path.name} now serves {args.model} {'as its canary did' if args.action == 'promote' else 'without its canary'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
