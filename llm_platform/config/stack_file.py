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
import math
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from llm_platform.config.base import NAMESPACE
from llm_platform.config.keys import OUR_KEYS, key_problem
from llm_platform.config.loading import MAX_FILE_BYTES, MAX_VALUE_CHARS, find_credentials

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
# YAML 1.1's `=` (the "value" key type), which PyYAML's safe constructor cannot build: the text it is.
_VALUE = "tag:yaml.org,2002:value"
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
    text = _text(path)
    document = _parse(path, text)
    if not isinstance(document.value, dict):
        kind = "empty" if document.value is None else f"a YAML {type(document.value).__name__}"
        raise StackFileError(path, document.line, f"is {kind}, not a mapping with a 'config:' section (rule: a stack file is a mapping of {', '.join(STACK_FILE_KEYS)})")
    top_lines = document.key_lines[id(document.value)]
    for key in document.value:
        if key not in STACK_FILE_KEYS:
            hint = f"; did you mean 'config: {{{NAMESPACE}:{key}: ...}}'?" if key in OUR_KEYS else ""
            raise StackFileError(path, top_lines[key], f"unknown top-level key '{key}' (rule: a stack file holds {', '.join(STACK_FILE_KEYS)}{hint})")
    for key in ("secretsprovider", "encryptedkey", "encryptionsalt"):
        if key in document.value and not isinstance(document.value[key], str):
            raise StackFileError(path, top_lines[key], f"'{key}:' is a {type(document.value[key]).__name__} (rule: '{key}:' is text, as Pulumi writes it)")
    _refuse_stray_credentials(path, text, document)
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
        try:
            plain = _placeholder_secrets(value)
        except ValueError as error:
            raise StackFileError(path, lines[key], f"{key}: {error}") from None
        if plain != value:
            secret_keys.append(key)
        config[key] = plain if isinstance(plain, str) else json.dumps(plain)
    return config, secret_keys


def _strings_of(value: Any) -> list[str]:
    """Every key and text value under `value` (no recursion past what the parser nested)."""
    found, pending = [], [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            found += [key for key in item if isinstance(key, str)]
            pending += item.values()
        elif isinstance(item, list):
            pending += item
    return found


def _refuse_stray_credentials(path: Path, text: str, document: _Document) -> None:
    """A credential anywhere in the file but inside a `config:` key or value (a comment, a top-level
    field): committed with the file, and no configuration rule would name it. Those inside `config:`
    are refused by the configuration's rules, naming their key."""
    config_text = "\n".join(_strings_of((document.value or {}).get("config") if isinstance(document.value, dict) else None))
    for number, line in enumerate(text.splitlines(), start=1):
        for match, what in find_credentials(line):
            if match not in config_text:
                raise StackFileError(path, number, f"holds {what} in plaintext outside any config value (rule: no credential in a stack file; revoke it, remove it, and keep secrets as `pulumi config set --secret` values)")


def _text(path: Path) -> str:
    regular = "(rule: a stack file is a regular file in the project, not a link, device or pipe)"
    try:
        if path.is_symlink():
            raise StackFileError(path, 1, f"is a symbolic link {regular}")
        # O_NOFOLLOW and O_NONBLOCK: a path swapped for a link or a FIFO after the check neither follows
        # the link nor blocks on the pipe; fstat then judges what was opened.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(descriptor, "rb") as file:
            status = os.fstat(file.fileno())
            if not stat.S_ISREG(status.st_mode):
                raise StackFileError(path, 1, f"is not a regular file {regular}")
            if status.st_size > MAX_FILE_BYTES:
                raise StackFileError(path, 1, f"is {status.st_size} bytes (rule: a stack file is at most {MAX_FILE_BYTES} bytes)")
            # A file that grows between stat and read is still cut at the limit.
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise StackFileError(path, 1, f"cannot be read ({error.strerror or error}) {regular}") from None
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


# What a plain scalar is under the YAML 1.2 core schema, which Pulumi's stack-file reader follows
# (https://yaml.org/spec/1.2.2/#1032-tag-resolution). PyYAML follows YAML 1.1, where `on`, `yes`, `0777`,
# `1:30` and `1_000` are booleans and numbers and `1e3` is text.
_CORE_NULL = re.compile(r"~|null|Null|NULL|")
_CORE_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_CORE_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_CORE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.nan|\.NaN|\.NAN")


def _core(text: str) -> Any:
    """A plain scalar as YAML 1.2 reads it."""
    if _CORE_NULL.fullmatch(text):
        return None
    if text in _CORE_BOOL:
        return _CORE_BOOL[text]
    if _CORE_INT.fullmatch(text):
        return int(text, 0) if text[:2] in ("0o", "0x") else int(text)
    if _CORE_FLOAT.fullmatch(text):
        return float(text.replace(".inf", "inf").replace(".Inf", "inf").replace(".INF", "inf").replace(".nan", "nan").replace(".NaN", "nan").replace(".NAN", "nan"))
    return text


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def _scalar(path: Path, line: int, event: yaml.ScalarEvent, constructor: Any, resolver: Any, is_key: bool) -> Any:
    tag = event.tag if event.tag not in (None, "!") else resolver.resolve(yaml.ScalarNode, event.value, event.implicit)
    if tag == _MERGE and is_key:
        raise StackFileError(path, line, "YAML merge key '<<' (rule: anchors and aliases are not supported; write each value out)")
    if tag in (_TIMESTAMP, _MERGE, _VALUE):
        # A date stays the text it was written as, as Pulumi keeps it.
        value: Any = event.value
    else:
        try:
            value = constructor.construct_object(yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style))
        except (ValueError, KeyError, TypeError, OverflowError, yaml.YAMLError):
            # An explicit tag the text does not fit (`!!int abc`, `!!bool maybe`).
            raise StackFileError(path, line, f"{event.value!r} is not a valid {tag.rsplit(':', 1)[-1]} (rule: a tagged value must be what its tag says)") from None
    if event.tag is None and not event.style and not _same(value, core := _core(event.value)):
        raise StackFileError(
            path,
            line,
            f"{event.value!r} reads as {json.dumps(value)} in YAML 1.1 but as {json.dumps(core)} in YAML 1.2, which Pulumi reads "
            "(rule: a plain value means the same in both; quote text, write numbers in decimal and booleans as true or false)",
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise StackFileError(path, line, f"{event.value!r} is not a finite number (rule: numbers are finite)")
    return value


def _placeholder_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            if not isinstance(value["secure"], str) or not value["secure"].strip():
                raise ValueError(f"'secure:' holds {json.dumps(value['secure'])} (rule: a secure value is the ciphertext `pulumi config set --secret` writes)")
            return SECRET_PLACEHOLDER
        return {key: _placeholder_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_placeholder_secrets(item) for item in value]
    return value
