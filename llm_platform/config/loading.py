"""Reading the stack configuration the way Pulumi hands it to a program: flat `llm-platform:<key>`
strings, structured values as JSON text, and the list of keys that hold secrets. Before anything is
decoded, the flat config is checked for what Pulumi lets through: keys in a misspelt namespace or none,
values too large to be settings, secrets stored in plaintext."""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Iterable, NoReturn

from pydantic import BaseModel

from llm_platform.config.base import NAMESPACE, SECRET_VALUE, is_secret
from llm_platform.config.keys import key_problem
from llm_platform.config.violations import Rules, Violation

# A stack file (and so any one config value) is at most this large: real ones are a few KiB, and nothing
# is parsed past the limit.
MAX_FILE_BYTES = 256 * 1024
# The longest text value a setting takes (a model source, an ARN, a flag); a 10 MB "value" is refused.
MAX_VALUE_CHARS = 4096
# Credentials by their well-known shapes, with where each belongs instead: Hugging Face access tokens
# start with `hf_` (Hugging Face docs, "User access tokens"), AWS access key ids with AKIA or ASIA and 16
# more characters (IAM User Guide, "Unique identifiers"), GitHub tokens with ghp_/gho_/ghu_/ghs_/ghr_
# (GitHub docs, "About authentication to GitHub"), PEM private keys with their BEGIN line.
CREDENTIALS = (
    (re.compile(r"\bhf_[A-Za-z0-9]{20,}"), "a Hugging Face token", "set it as the secret {namespace}:huggingFaceToken"),
    (re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b"), "an AWS access key id", "the program gets AWS credentials from the environment, never from config"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"), "a GitHub token", "keep it out of the stack configuration"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key", "keep it out of the stack configuration"),
)


def decode(value: Any) -> Any:
    """Pulumi hands structured config to programs as JSON text."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def decode_flat_config(flat: dict[str, str]) -> dict[str, Any]:
    """`llm-platform:*` keys of flat Pulumi config (as a program or a stack file holds it), decoded."""
    prefix = f"{NAMESPACE}:"
    return {key[len(prefix) :]: decode(value) for key, value in flat.items() if key.startswith(prefix)}


def secret_fields(model: type[BaseModel], path: str = "") -> Iterable[str]:
    """The key path of every field of `model` (and of the sections in it) marked SECRET."""
    for name, field in model.model_fields.items():
        key = f"{path}.{field.alias or name}" if path else field.alias or name
        if is_secret(field):
            yield key
        for candidate in (*getattr(field.annotation, "__args__", ()), field.annotation):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                yield from secret_fields(candidate, key)


def flat_config_violations(flat: dict[str, Any], secret_keys: Iterable[str], secret_paths: Iterable[str]) -> Rules:
    """What is wrong with the flat config before it is decoded: keys refused by `key_problem`, values
    past the size limits, a field marked SECRET (`secret_paths`) given in plaintext, a credential in a
    plaintext value. Secret values are never echoed."""
    secret_keys = set(secret_keys)
    prefix = f"{NAMESPACE}:"
    for key, value in flat.items():
        if problem := key_problem(key):
            yield Violation(key, value, problem, unknown_key=True, full_key=True)
            continue
        if not key.startswith(prefix):
            continue
        name = key[len(prefix) :]
        if isinstance(value, str) and len(value) > MAX_FILE_BYTES:
            yield Violation(name, f"({len(value)} characters)", f"a config value is at most {MAX_FILE_BYTES} characters")
            continue
        if key in secret_keys:
            continue
        plaintext_secrets = [path for path in secret_paths if path == name or path.startswith(f"{name}.")]
        for path in plaintext_secrets:
            yield Violation(path, SECRET_VALUE, f"is a secret but stored in plaintext: remove it, then `pulumi config set --secret {prefix}{path} <value>` (for a nested key, `--path`)")
        if plaintext_secrets:
            continue
        for path, text in _strings(name, decode(value)):
            if len(text) > MAX_VALUE_CHARS:
                yield Violation(path, f"({len(text)} characters)", f"a value is at most {MAX_VALUE_CHARS} characters")
            for pattern, what, where in CREDENTIALS:
                if pattern.search(text):
                    yield Violation(path, SECRET_VALUE, f"holds {what} in plaintext; {where.format(namespace=NAMESPACE)} with `pulumi config set --secret`")
                    break


def _strings(path: str, value: Any) -> Iterable[tuple[str, str]]:
    """Every text in a decoded value, with its key path (no recursion past what JSON nests)."""
    pending = [(path, value)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str):
            yield path, value
        elif isinstance(value, dict):
            pending += [(f"{path}.{key}", item) for key, item in value.items()]
        elif isinstance(value, list):
            pending += [(f"{path}[{index}]", item) for index, item in enumerate(value)]


def flat_config_from_pulumi() -> tuple[dict[str, str], set[str]]:
    """Every config key the running Pulumi program was given, and which of them are secrets."""
    from pulumi.runtime import config as runtime_config

    flat = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = set(runtime_config.get_config_secret_keys_env()) | {key for key in flat if runtime_config.is_config_secret(key)}
    return flat, secret_keys


def raw_config_from_pulumi() -> dict[str, Any]:
    """Every `llm-platform:*` key the running Pulumi program was given, decoded."""
    return decode_flat_config(flat_config_from_pulumi()[0])


def exit_on_problems(problems: list[str]) -> NoReturn:
    """Print every problem and exit with status 2 before any resource is declared."""
    print("error: invalid stack configuration:", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    raise SystemExit(2)
