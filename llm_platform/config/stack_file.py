"""Reading a stack file (`Pulumi.<stack>.yaml`) into the flat config Pulumi hands a program, the way the
offline preview and the tools do without the Pulumi CLI.

The file is untrusted input: it is bounded before any parsing work grows (file size, nesting depth,
value length), YAML anchors and aliases are refused (an alias bomb never expands), duplicate keys are
refused at any depth (YAML would keep the last one silently), and every problem, from invalid UTF-8 to a
misspelt namespace, is one `StackFileError` naming the file and the line. The values are built from the
parser's events with an explicit stack, never by recursion, so no input reaches Python's recursion limit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from llm_platform.config.base import NAMESPACE
from llm_platform.config.keys import OUR_KEYS, key_problem
from llm_platform.config.loading import MAX_FILE_BYTES, MAX_VALUE_CHARS

# libyaml's parser where PyYAML has it (its wheels do): several times faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Deeper than any stack file needs (the deepest real path is about six levels).
MAX_DEPTH = 32
# The top-level keys of a Pulumi stack file (Pulumi's `ProjectStack`: config, secrets provider, encryption
# salt and key, ESC environment imports).
STACK_FILE_KEYS = ("config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment")
# Explicit tags that name what an untagged value would be anyway; any other tag (`!!binary`,
# `!!python/object`, a custom `!tag`) is refused.
_CORE_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map")}
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"
# Placeholder handed to the program for a `secure:` config value: the offline preview cannot decrypt it,
# and the value only ever reaches the plan as "[secret]".
SECRET_PLACEHOLDER = "offline-preview-secret-value"


class StackFileError(Exception):
    """A stack file that cannot be read: which file, which line, what is wrong."""

    def __init__(self, path: Path, line: int, problem: str):
        self.path, self.line, self.problem = path, line, problem
        super().__init__(f"{path.name}:{line}: {problem}")


@dataclass
class _Mapping:
    value: dict
    lines: dict[str, int]
    line: int
    key: Any = None
    key_line: int = 0
    has_key: bool = False


@dataclass
class _Document:
    value: Any
    line: int
    key_lines: dict[int, dict[str, int]]
    """The line of every key, by the id() of the dict holding it."""


def read_stack_file(path: Path) -> tuple[dict[str, str], list[str]]:
    """`path` as the flat string config Pulumi hands a program (structured values as JSON text, `secure:`
    values as a placeholder), plus the keys that hold secrets. Raises `StackFileError`."""
    document = _parse(path, _text(path))
    if not isinstance(document.value, dict):
        kind = "empty" if document.value is None else f"a YAML {type(document.value).__name__}"
        raise StackFileError(path, document.line, f"is {kind}, not a mapping with a 'config:' section (rule: a stack file is a mapping of {', '.join(STACK_FILE_KEYS)})")
    top_lines = document.key_lines[id(document.value)]
    for key in document.value:
        if key not in STACK_FILE_KEYS:
            hint = f"; did you mean 'config: {{{NAMESPACE}:{key}: ...}}'?" if key in OUR_KEYS else ""
            raise StackFileError(path, top_lines[key], f"unknown top-level key '{key}' (rule: a stack file holds {', '.join(STACK_FILE_KEYS)}{hint})")
    section = document.value.get("config")
    if section is None:
        return {}, []
    if not isinstance(section, dict):
        raise StackFileError(path, top_lines["config"], f"'config:' is a {type(section).__name__} (rule: 'config:' is a mapping of '<namespace>:<key>' to values)")
    lines = document.key_lines[id(section)]
    config, secret_keys = {}, []
    for key, value in section.items():
        if problem := key_problem(key):
            raise StackFileError(path, lines[key], f"{key}: unknown key (rule: {problem})")
        # Pulumi marks a whole top-level key secret when any value inside it is `secure:`.
        plain = _placeholder_secrets(value)
        if plain != value:
            secret_keys.append(key)
        config[key] = plain if isinstance(plain, str) else json.dumps(plain)
    return config, secret_keys


def _text(path: Path) -> str:
    try:
        if not path.is_file():
            raise StackFileError(path, 1, "is not a regular file")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise StackFileError(path, 1, f"is {size} bytes (rule: a stack file is at most {MAX_FILE_BYTES} bytes)")
        with path.open("rb") as file:
            # A file that grows between stat and read is still cut at the limit.
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise StackFileError(path, 1, f"cannot be read ({error.strerror or error})") from None
    if len(data) > MAX_FILE_BYTES:
        raise StackFileError(path, 1, f"is more than {MAX_FILE_BYTES} bytes (rule: a stack file is at most {MAX_FILE_BYTES} bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise StackFileError(path, line, f"byte 0x{data[error.start]:02x} is not UTF-8 (rule: a stack file is UTF-8 text)") from None


def _parse(path: Path, text: str) -> _Document:
    """The one YAML document in `text`, built from the parser's events."""
    stack: list[_Mapping | list] = []
    lines_by_container: dict[int, dict[str, int]] = {}
    starts: list[int] = []
    root: list[Any] = []
    root_line = 1
    constructor = yaml.constructor.SafeConstructor()
    resolver = yaml.resolver.Resolver()

    def add(value: Any, line: int, is_str_key_candidate: bool) -> None:
        if not stack:
            root.append(value)
            return
        top = stack[-1]
        if isinstance(top, list):
            top.append(value)
        elif not top.has_key:
            if not is_str_key_candidate or not isinstance(value, str):
                raise StackFileError(path, line, f"the key {json.dumps(value, default=str)} is not a string (rule: keys are plain strings)")
            if value in top.lines:
                raise StackFileError(path, line, f"duplicate key '{value}' (first at line {top.lines[value]}) (rule: a key appears once in a mapping)")
            top.key, top.key_line, top.has_key = value, line, True
        else:
            top.value[top.key] = value
            top.lines[top.key] = top.key_line
            top.has_key = False

    try:
        for event in yaml.parse(text, Loader=_LOADER):
            line = event.start_mark.line + 1
            if isinstance(event, yaml.DocumentStartEvent):
                if root or stack:
                    raise StackFileError(path, event.end_mark.line + 1, "holds a second YAML document (rule: a stack file is one document)")
                root_line = line
            elif isinstance(event, yaml.AliasEvent):
                raise StackFileError(path, line, f"YAML alias *{event.anchor} (rule: anchors and aliases are not supported; write each value out)")
            elif isinstance(event, (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                if event.anchor is not None:
                    raise StackFileError(path, line, f"YAML anchor &{event.anchor} (rule: anchors and aliases are not supported; write each value out)")
                if event.tag not in (None, "!") and event.tag not in _CORE_TAGS:
                    raise StackFileError(path, line, f"YAML tag {event.tag} (rule: only plain strings, numbers, booleans, lists and mappings)")
                if isinstance(event, yaml.ScalarEvent):
                    if len(event.value) > MAX_VALUE_CHARS:
                        raise StackFileError(path, line, f"a value of {len(event.value)} characters (rule: values are at most {MAX_VALUE_CHARS} characters)")
                    awaiting_key = bool(stack) and isinstance(stack[-1], _Mapping) and not stack[-1].has_key
                    add(_scalar(path, line, event, constructor, resolver, awaiting_key), line, True)
                else:
                    if len(stack) >= MAX_DEPTH:
                        raise StackFileError(path, line, f"nesting deeper than {MAX_DEPTH} levels (rule: a stack file nests at most {MAX_DEPTH} levels)")
                    if isinstance(event, yaml.MappingStartEvent):
                        stack.append(_Mapping({}, {}, line))
                    else:
                        stack.append([])
                    starts.append(line)
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                done = stack.pop()
                start = starts.pop()
                if isinstance(done, _Mapping):
                    lines_by_container[id(done.value)] = done.lines
                    add(done.value, start, False)
                else:
                    add(done, start, False)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        if mark is not None:
            line = mark.line + 1
        else:
            line = text[: getattr(error, "position", 0)].count("\n") + 1
        problem = getattr(error, "problem", None) or getattr(error, "reason", None) or "not valid YAML"
        raise StackFileError(path, line, f"invalid YAML: {problem} (rule: a stack file is one YAML mapping)") from None
    return _Document(root[0] if root else None, root_line, lines_by_container)


def _scalar(path: Path, line: int, event: yaml.ScalarEvent, constructor: Any, resolver: Any, is_key: bool) -> Any:
    tag = event.tag if event.tag not in (None, "!") else resolver.resolve(yaml.ScalarNode, event.value, event.implicit)
    if tag == _MERGE and is_key:
        raise StackFileError(path, line, "YAML merge key '<<' (rule: anchors and aliases are not supported; write each value out)")
    if tag in (_TIMESTAMP, _MERGE):
        # A date stays the text it was written as, as Pulumi keeps it.
        return event.value
    return constructor.construct_object(yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style))


def _placeholder_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER
        return {key: _placeholder_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_placeholder_secrets(item) for item in value]
    return value
