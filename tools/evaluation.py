"""Evaluation data sets (`evals/datasets/<name>.json`, format in evals/README.md) and their scorer.

An answer passes an item when it contains at least one alternative of every `expect` group and none of
the `forbid` strings; matching ignores case, whitespace and thousands separators, so `3,000원`, `3000원`
and `3000 원` are one answer. The score of a run is the share of passing items.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from llm_platform.config.gates import dataset_path

_IGNORED = re.compile(r"[\s,]+")


@dataclass(frozen=True)
class Item:
    id: str
    question: str
    expect: tuple[tuple[str, ...], ...]
    forbid: tuple[str, ...]
    reference: str


@dataclass(frozen=True)
class Dataset:
    name: str
    system: str
    items: tuple[Item, ...]


def load_dataset(name: str) -> Dataset:
    data = json.loads(dataset_path(name).read_text())
    items = tuple(
        Item(item["id"], item["question"], tuple(tuple(group) for group in item["expect"]), tuple(item.get("forbid", ())), item["reference"]) for item in data["items"]
    )
    return Dataset(data["name"], data["system"], items)


def normalise(text: str) -> str:
    return _IGNORED.sub("", text).casefold()


def missing(item: Item, answer: str) -> list[str]:
    """Why `answer` fails `item`: each expected group it lacks and each forbidden string it holds; empty
    when it passes."""
    text = normalise(answer)
    problems = [f"none of {list(group)}" for group in item.expect if not any(normalise(alternative) in text for alternative in group)]
    problems += [f"forbidden {word!r}" for word in item.forbid if normalise(word) in text]
    return problems
