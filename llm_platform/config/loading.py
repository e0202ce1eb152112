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
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Credentials by their well-known shapes, with where each belongs instead: Hugging Face access tokens
# start with `hf_` (Hugging Face docs, "User access tokens"); AWS access key ids with AKIA or ASIA and 16
# more characters, secret access keys are 40 characters of base64 (IAM User Guide, "Unique identifiers",
# "Managing access keys"); GitHub tokens with ghp_/gho_/ghu_/ghs_/ghr_ or github_pat_ (GitHub docs, "About
# authentication to GitHub"); Slack tokens with xoxb-/xoxp-/xoxa-/xoxr-/xoxs- and webhooks under
# hooks.slack.com (Slack API docs, "Token types"); Google API keys with AIza and OAuth access tokens with
# ya29. (Google Cloud docs, "Manage API keys"); JSON Web Tokens are three base64url parts, the first two
# JSON objects (`eyJ`, RFC 7519); PEM private keys (RSA, EC, OpenSSH, PGP...) by their BEGIN line; and any
# URL carrying a password (`scheme://user:password@host`) or a signature or token in its query string.
# Every repetition is bounded, so that no pattern backtracks quadratically over a long value.
_AWS_SECRET = r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]{0,39}[0-9])(?=[A-Za-z0-9/+]{0,39}[a-z])(?=[A-Za-z0-9/+]{0,39}[A-Z])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
CREDENTIALS = (
    (re.compile(r"hf_[A-Za-z0-9]{20,}"), "a Hugging Face token", "set it as the secret {namespace}:huggingFaceToken"),
    (re.compile(r"\b(AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"), "an AWS access key id", "the program gets AWS credentials from the environment, never from config"),
    (re.compile(_AWS_SECRET), "an AWS secret access key", "the program gets AWS credentials from the environment, never from config"),
    (re.compile(r"gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,}"), "a GitHub token", "keep it out of the stack configuration"),
    (re.compile(r"xox[abposr]-[A-Za-z0-9-]{10,}|hooks\.slack\.com/(services|workflows)/[A-Za-z0-9/_-]+"), "a Slack token", "keep it out of the stack configuration"),
    (re.compile(r"AIza[0-9A-Za-z_-]{33,}|ya29\.[0-9A-Za-z_-]{20,}"), "a Google Cloud API key or access token", "keep it out of the stack configuration"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), "a JSON Web Token", "keep it out of the stack configuration"),
    (re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----", re.IGNORECASE), "a private key", "keep it out of the stack configuration"),
    (re.compile(r"\b[a-z][a-z0-9+.-]{0,31}://[^/\s:@]{0,256}:[^/\s@]{1,256}@", re.IGNORECASE), "a URL with a password", "keep it out of the stack configuration"),
    (re.compile(r"[?&](X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|X-Goog-Signature|X-Goog-Credential|sig|signature|token|access_token|api_key|apikey|password)=", re.IGNORECASE), "a URL with a signature or token", "keep it out of the stack configuration"),
    (re.compile(r"(?<![\w/:.-])[^\s/:@]{1,256}:[^\s/@]{1,256}@[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63})+", re.IGNORECASE), "a user:password@host credential", "keep it out of the stack configuration"),
)
# Command-line flags whose value is a credential (`--api-key`, `--hf-token`, `--password`...): the value
# after one in `extraArgs` is a secret, and never echoed.
CREDENTIAL_FLAG = re.compile(r"^--?[a-z0-9_-]*(token|api[-_]?key|password|passwd|secret|credentials?)$", re.IGNORECASE)
# Provider settings that hold credentials (pulumi-aws `aws:accessKey`, `aws:secretKey`, `aws:token`;
# pulumi-gcp `gcp:credentials`, `gcp:accessToken`; pulumi-kubernetes `kubernetes:kubeconfig`): kept as
# secrets, like the program's own.
PROVIDER_SECRET_KEYS = ("aws:accessKey", "aws:secretKey", "aws:token", "gcp:credentials", "gcp:accessToken", "kubernetes:kubeconfig")
# Credentials found split over neighbouring values: those with a distinctive prefix (the shapes without
# one, such as 40 characters of base64, turn up in any few values joined).
SPLITTABLE = ("a Hugging Face token", "an AWS access key id", "a GitHub token", "a Slack token", "a Google Cloud API key or access token", "a JSON Web Token", "a private key")
# How many neighbouring values a credential split across fields is looked for in.
SPLIT_WINDOW = 4


def _patterns(text: str) -> list[tuple[re.Pattern, str, str]]:
    # The shapes built around `@` cost a scan per position; a text without one cannot hold them.
    return [entry for entry in CREDENTIALS if "@" in text or "@" not in entry[0].pattern]


def find_credentials(text: str) -> list[tuple[str, str]]:
    """(the matched text, what it is) of every credential shape in `text`."""
    return [(match.group(0), what) for pattern, what, _ in _patterns(text) for match in pattern.finditer(text)]


def _credential(text: str) -> tuple[str, str] | None:
    for pattern, what, where in _patterns(text):
        if pattern.search(text):
            return what, where.format(namespace=NAMESPACE)
    return None


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
    past the size limits, a field marked SECRET (`secret_paths`) or a provider credential given in
    plaintext, a credential in any plaintext key or value of any namespace (whole, after a credential
    flag, or split over neighbouring values). Secret values are never echoed."""
    secret_keys = set(secret_keys)
    prefix = f"{NAMESPACE}:"
    for key, value in flat.items():
        if problem := key_problem(key):
            yield Violation(key, SECRET_VALUE if _credential(f"{key} {value}") else value, problem, unknown_key=True, full_key=True)
            continue
        if key in secret_keys:
            continue
        ours = key.startswith(prefix)
        name = key[len(prefix) :] if ours else key
        full = not ours
        if isinstance(value, str) and len(value) > MAX_FILE_BYTES:
            yield Violation(name, f"({len(value)} characters)", f"a config value is at most {MAX_FILE_BYTES} characters", full_key=full)
            continue
        if key in PROVIDER_SECRET_KEYS:
            yield Violation(key, SECRET_VALUE, f"is a credential but stored in plaintext: remove it, then `pulumi config set --secret {key} <value>`", full_key=True)
            continue
        plaintext_secrets = [path for path in secret_paths if ours and (path == name or path.startswith(f"{name}."))]
        for path in plaintext_secrets:
            yield Violation(path, SECRET_VALUE, f"is a secret but stored in plaintext: remove it, then `pulumi config set --secret {prefix}{path} <value>` (for a nested key, `--path`)")
        if plaintext_secrets:
            continue
        texts = list(_strings(name, decode(value)))
        for path, text in texts:
            if len(text) > MAX_VALUE_CHARS:
                yield Violation(path, f"({len(text)} characters)", f"a value is at most {MAX_VALUE_CHARS} characters", full_key=full)
            elif found := _credential(text):
                yield Violation(path, SECRET_VALUE, f"holds {found[0]} in plaintext; {found[1]} with `pulumi config set --secret`", full_key=full)
            elif ours and _CONTROL.search(text):
                # A trailing newline or a tab would pass a name's pattern and end up in ARNs and object names.
                yield Violation(path, text.encode("unicode_escape").decode(), "holds a control character (newline, tab, ...): values are one line of text", full_key=full)
        yield from _flag_and_split_credentials(_strings(name, decode(value), keys=False), full)


def _flag_and_split_credentials(texts: list[tuple[str, str]], full: bool) -> Rules:
    """A credential given after a credential flag (`[--api-key, s3cr3t]`, `--api-key=s3cr3t`), or split
    over neighbouring values (`hf_` in one tag, the rest in the next)."""
    for index, (path, text) in enumerate(texts):
        flag, equals, rest = text.partition("=")
        following = texts[index + 1][1] if index + 1 < len(texts) else ""
        value = rest if equals else following if not following.startswith("-") else ""
        # A value that is itself a credential's shape is reported on its own path.
        if CREDENTIAL_FLAG.match(flag) and value and not _credential(value):
            yield Violation(path, SECRET_VALUE, f"passes a credential on the command line ({flag}); keep credentials out of the stack configuration, as `pulumi config set --secret` values the platform mounts", full_key=full)
        if _credential(text):
            continue
        for width in range(2, SPLIT_WINDOW + 1):
            window = texts[index : index + width]
            if len(window) < width or any(_credential(part) for _, part in window):
                break
            if (found := _credential("".join(part for _, part in window))) and found[0] in SPLITTABLE:
                paths = ", ".join(p for p, _ in window)
                yield Violation(path, SECRET_VALUE, f"holds {found[0]} in plaintext, split over {paths}; {found[1]} with `pulumi config set --secret`", full_key=full)
                break


def _strings(path: str, value: Any, keys: bool = True) -> list[tuple[str, str]]:
    """Every text in a decoded value (mapping keys too, unless `keys` is false), with its key path, in
    document order (no recursion past what JSON nests)."""
    found, pending = [], [(path, value)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str):
            found.append((path, value))
        elif isinstance(value, dict):
            items = []
            for key, item in value.items():
                # A key that is itself a credential is named by its place, not by itself.
                shown = f"{path}.[key {len(items) // (1 + keys)}]" if _credential(str(key)) else f"{path}.{key}"
                items += [(shown, str(key))] * keys + [(shown, item)]
            pending += reversed(items)
        elif isinstance(value, list):
            pending += reversed([(f"{path}[{index}]", item) for index, item in enumerate(value)])
    return found


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
