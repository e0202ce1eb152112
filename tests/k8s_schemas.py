"""Validate declared Kubernetes objects and Helm values against the real upstream schemas.

The schemas are the files under ``tests/schemas/`` derived by ``tools/derive_schemas.py`` from pinned
upstream CRDs and chart ``values.yaml`` files (see each file's ``source``). Core objects are checked with
``kubernetes_validate`` (the upstream Kubernetes OpenAPI, strict mode).

Every public function returns a list of readable error strings; an empty list means valid.

* :func:`validate_custom_resource` -- a custom resource against its CRD's ``openAPIV3Schema``, made
  strict: an object schema with ``properties`` rejects unknown fields (the API server would silently
  prune them) unless it says ``x-kubernetes-preserve-unknown-fields`` or sets ``additionalProperties``.
  CEL rules (``x-kubernetes-validations``) are NOT evaluated.
* :func:`validate_core_object` -- a built-in object with ``kubernetes_validate.validate(..., strict=True)``.
* :func:`validate_helm_values` -- every key path of user-supplied values must exist in the chart's
  default values (or the chart's own ``values.schema.json`` where it ships one).
* :func:`validate_any` -- dispatch on apiVersion group.
"""
from __future__ import annotations

import copy
import difflib
import fnmatch
import functools
import json
import re
from pathlib import Path
from typing import Any, Iterable

import jsonschema
import kubernetes_validate
from kubernetes_validate import utils as _kv_utils

from tools.derive_schemas import type_name

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
CRD_DIR = SCHEMA_DIR / "crds"
VALUES_DIR = SCHEMA_DIR / "values"

# API groups served by kube-apiserver itself (validated with kubernetes_validate). Note that
# gateway.networking.k8s.io and inference.networking.k8s.io end in k8s.io but are CRDs.
CORE_GROUPS = frozenset({
    "", "apps", "batch", "policy", "autoscaling",
    "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io",
    "authentication.k8s.io", "authorization.k8s.io", "certificates.k8s.io",
    "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io",
    "flowcontrol.apiserver.k8s.io", "internal.apiserver.k8s.io", "networking.k8s.io",
    "node.k8s.io", "rbac.authorization.k8s.io", "resource.k8s.io", "scheduling.k8s.io",
    "storage.k8s.io", "storagemigration.k8s.io",
})

_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = rf"{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*"
_QUALIFIED_NAME = rf"^({_DNS1123_SUBDOMAIN}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{{0,61}}[A-Za-z0-9])?$"
_LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"

# What a user may put in a custom resource's metadata (the CRD schemas only say "type: object").
_METADATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 253, "pattern": f"^{_DNS1123_SUBDOMAIN}$"},
        "generateName": {"type": "string"},
        "namespace": {"type": "string", "minLength": 1, "maxLength": 63, "pattern": f"^{_DNS1123_LABEL}$"},
        "labels": {
            "type": "object",
            "propertyNames": {"pattern": _QUALIFIED_NAME, "maxLength": 317},
            "additionalProperties": {"type": "string", "maxLength": 63, "pattern": _LABEL_VALUE},
        },
        "annotations": {
            "type": "object",
            "propertyNames": {"pattern": _QUALIFIED_NAME, "maxLength": 317},
            "additionalProperties": {"type": "string"},
        },
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
    },
}

_Validator = jsonschema.Draft202012Validator

# Patterns that Go's RE2 accepts but Python's re does not (recorded for the report / debugging).
UNSUPPORTED_PATTERNS: dict[str, str] = {}


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------
def _fmt_path(parts: Iterable[Any]) -> str:
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out or "<root>"


def _suggest(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    cands = [c for c in candidates if isinstance(c, str)]
    close = difflib.get_close_matches(word, cands, n=n, cutoff=0.6)
    if not close:  # case-insensitive / substring fallback (e.g. "taint" -> "taints")
        lw = word.lower()
        close = [c for c in cands if lw in c.lower() or c.lower() in lw][:n]
    return close


def _py_pattern(pattern: str) -> str | None:
    """Translate an RE2 pattern to Python ``re`` syntax where needed; None if impossible."""
    try:
        re.compile(pattern)
        return pattern
    except re.error:
        pass
    # RE2 allows inline flags mid-pattern ("^(?i)(abort|warn)?$"); they apply to the rest of the
    # enclosing group. Python needs them at the start, so scope them instead: "^(?i:(abort|warn)?$)".
    m = re.search(r"\(\?([imsU]+)\)", pattern)
    if m and m.start() > 0:
        flags = m.group(1).replace("U", "")
        candidate = pattern[: m.start()] + (f"(?{flags}:" if flags else "(?:") + pattern[m.end():] + ")"
        try:
            re.compile(candidate)
            return candidate
        except re.error:
            pass
    return None


# --------------------------------------------------------------------------------------------------
# custom resources
# --------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _crd_index() -> dict[tuple[str, str], dict[str, Any]]:
    """(group, kind) -> derived CRD document (loaded once)."""
    index: dict[tuple[str, str], dict[str, Any]] = {}
    for f in sorted(CRD_DIR.glob("*.json")):
        doc = json.loads(f.read_text(encoding="utf-8"))
        doc["_file"] = f.name
        index[(doc["group"], doc["kind"])] = doc
    return index


def known_custom_kinds() -> list[str]:
    """``group/version Kind`` for every derived CRD version."""
    return sorted(f"{g}/{v} {k}" for (g, k), d in _crd_index().items() for v in d["versions"])


def _strictify(node: Any, where: str) -> Any:
    """Copy of a structural schema with unknown fields rejected, int-or-string and nullable honoured."""
    if isinstance(node, list):
        return [_strictify(n, where) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _strictify(sub, f"{where}.{name}") for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = _strictify(value, where + ("[]" if key == "items" else "{}"))
        elif key in ("anyOf", "allOf", "oneOf") and isinstance(value, list):
            out[key] = [_strictify(s, where) for s in value]
        elif key == "pattern" and isinstance(value, str):
            fixed = _py_pattern(value)
            if fixed is None:
                UNSUPPORTED_PATTERNS[where] = value  # cannot be checked here; skip it
            else:
                out[key] = fixed
        else:
            out[key] = value
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if out.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


@functools.lru_cache(maxsize=None)
def _crd_validator(group: str, version: str, kind: str) -> jsonschema.protocols.Validator:
    doc = _crd_index()[(group, kind)]
    schema = _strictify(copy.deepcopy(doc["versions"][version]), kind)
    schema.setdefault("properties", {})["metadata"] = _METADATA_SCHEMA
    schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata"})
    _Validator.check_schema(schema)
    return _Validator(schema)


def _explain(err: jsonschema.ValidationError) -> str:
    msg = err.message
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        known = list((err.schema.get("properties") or {}).keys())
        extras = [k for k in err.instance if k not in known]
        hints = []
        for extra in extras:
            close = _suggest(str(extra), known)
            hints.append(f"unknown field '{extra}'" + (f" (did you mean {', '.join(close)}?)" if close else ""))
        msg = "; ".join(hints) + f" -- allowed: {', '.join(known)}" if hints else msg
    elif err.validator in ("anyOf", "oneOf"):
        subs = err.schema.get(err.validator) or []
        if err.schema.get("x-kubernetes-int-or-string") or subs == [{"type": "integer"}, {"type": "string"}]:
            msg = f"{err.instance!r} must be an integer or a string"
        elif err.context:
            reasons = sorted({c.message for c in err.context})
            msg = f"{msg}: " + " | ".join(reasons[:4])
    elif err.validator == "enum":
        msg = f"{err.instance!r} is not one of {err.validator_value!r}"
    return msg


def _obj_label(obj: dict) -> str:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name = meta.get("name", "<no name>")
    ns = meta.get("namespace")
    return f"{obj.get('kind', '<no kind>')} {ns + '/' if ns else ''}{name}"


def _split_api_version(obj: dict) -> tuple[str, str] | None:
    api_version = obj.get("apiVersion")
    if not isinstance(api_version, str) or not api_version:
        return None
    group, _, version = api_version.rpartition("/")
    return group, version


def validate_custom_resource(obj: dict) -> list[str]:
    """Validate a custom resource (apiVersion, kind, metadata, spec, ...) against its derived CRD."""
    if not isinstance(obj, dict):
        return [f"expected a mapping, got {type(obj).__name__}"]
    label = _obj_label(obj)
    gv = _split_api_version(obj)
    kind = obj.get("kind")
    if gv is None or not isinstance(kind, str):
        return [f"{label}: apiVersion and kind must be non-empty strings"]
    group, version = gv
    doc = _crd_index().get((group, kind))
    if doc is None:
        return [f"{label}: no schema is known for apiVersion {obj['apiVersion']!r} kind {kind!r} "
                f"(derived CRDs: {', '.join(known_custom_kinds())})"]
    if version not in doc["versions"]:
        return [f"{label}: no schema is known for {group}/{version} {kind}; "
                f"the pinned CRD serves {', '.join(sorted(doc['versions']))}"]
    validator = _crd_validator(group, version, kind)
    errors = sorted(validator.iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path])
    out = [f"{label}: {_fmt_path(e.absolute_path)}: {_explain(e)}" for e in errors]
    meta = obj.get("metadata")
    if doc.get("scope") == "Cluster" and isinstance(meta, dict) and meta.get("namespace"):
        out.append(f"{label}: metadata.namespace: {kind} is cluster-scoped; namespace must not be set")
    return out


# --------------------------------------------------------------------------------------------------
# core objects
# --------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _core_validator(schema_version: str, api_version: str, kind: str):
    """A cached validator over the same strict schema files kubernetes_validate uses (for listing
    every error; kubernetes_validate.validate itself stops at the first one). None if unavailable."""
    try:
        from referencing import Registry, Resource

        kv_api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
        schema_dir = f"kubernetes-json-schema/v{schema_version}-local-strict"
        schema = _kv_utils.schema_contents(f"{schema_dir}/{kind.lower()}-{kv_api}.json", schema_version)
        defs = _kv_utils.schema_contents(f"{schema_dir}/_definitions.json", schema_version)
        registry = Resource.from_contents(schema) @ Registry()
        registry = Resource.from_contents(defs) @ registry
        return jsonschema.Draft202012Validator(schema, registry=registry)
    except Exception:  # pragma: no cover - only a convenience on top of kubernetes_validate
        return None


def _kv_schema_version(k8s_version: str) -> str | None:
    want = _kv_utils.major_minor(k8s_version.lstrip("v"))
    try:
        from packaging.version import Version

        candidates = [v for v in _kv_utils.all_versions()
                      if Version(_kv_utils.major_minor(v)) <= Version(want)]
    except Exception:  # pragma: no cover
        return None
    return candidates[-1] if candidates else None


def validate_core_object(obj: dict, k8s_version: str) -> list[str]:
    """Validate a built-in object with ``kubernetes_validate.validate(obj, k8s_version, strict=True)``.

    ``k8s_version`` may be "1.34", "1.34.0", "v1.34.0" or a patch release such as "1.34.2"; the newest
    bundled schema not newer than its major.minor is used.
    """
    if not isinstance(obj, dict):
        return [f"expected a mapping, got {type(obj).__name__}"]
    label = _obj_label(obj)
    if not isinstance(obj.get("apiVersion"), str) or not isinstance(obj.get("kind"), str):
        return [f"{label}: apiVersion and kind must be non-empty strings"]
    try:
        kubernetes_validate.validate(obj, k8s_version, strict=True)
        return []
    except _kv_utils.ValidationError as first:
        first_msg = f"{label}: {_fmt_path(first.path)}: {first.message}"
        sv = _kv_schema_version(k8s_version)
        validator = _core_validator(sv, obj["apiVersion"], obj["kind"]) if sv else None
        if validator is None:
            return [first_msg]
        errs = sorted(validator.iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path])
        msgs = [f"{label}: {_fmt_path(e.absolute_path)}: {_explain(e)}" for e in errs]
        return msgs or [first_msg]
    except _kv_utils.SchemaNotFoundError as e:
        return [f"{label}: no schema is known: {e.message}"]
    except _kv_utils.VersionNotSupportedError as e:
        return [f"{label}: {e.message} (kubernetes_validate {kubernetes_validate.__version__} "
                f"bundles {_kv_utils.all_versions()[0]}..{_kv_utils.latest_version()})"]
    except _kv_utils.InvalidSchemaError as e:  # pragma: no cover
        return [f"{label}: {e.message}"]


# --------------------------------------------------------------------------------------------------
# dispatch
# --------------------------------------------------------------------------------------------------
def is_core_group(group: str) -> bool:
    return group in CORE_GROUPS


def validate_any(obj: dict, k8s_version: str) -> list[str]:
    """Validate any declared object: derived CRD schema if its group/kind is known, else built-in."""
    if not isinstance(obj, dict):
        return [f"expected a mapping, got {type(obj).__name__}"]
    gv = _split_api_version(obj)
    if gv is None or not isinstance(obj.get("kind"), str):
        return [f"{_obj_label(obj)}: apiVersion and kind must be non-empty strings"]
    group, _ = gv
    if (group, obj["kind"]) in _crd_index() or not is_core_group(group):
        return validate_custom_resource(obj)
    return validate_core_object(obj, k8s_version)


# --------------------------------------------------------------------------------------------------
# Helm values
# --------------------------------------------------------------------------------------------------
# Maps that are free-form by Kubernetes convention (string -> string) even when the chart's default
# is non-empty, e.g. karpenter's ``nodeSelector: {kubernetes.io/os: linux}`` or
# ``resources.limits: {cpu, memory}``. Only applied when every default entry is a scalar, so
# structured maps such as keda's ``podAnnotations: {keda: {}, metricsAdapter: {}, webhooks: {}}``
# keep their keys checked.
_FREE_FORM_NAMES = re.compile(
    r"^(nodeSelector|labels|annotations|matchLabels|limits|requests|env|extraEnv|extraArgs"
    r"|[A-Za-z0-9]*(Labels|Annotations))$")
_SCALARS = frozenset({"string", "int", "float", "bool", "null"})

# The platform's Helm releases: release name -> (chart whose default values are the reference, key paths
# the reference cannot check, for `validate_helm_values`'s ``free_form``). kube-prometheus-stack's defaults
# do not carry its subcharts' own keys (grafana, kube-state-metrics, prometheus-node-exporter charts), and
# alertmanager.config is Alertmanager's configuration file, checked in
# tests/llm_platform/platform/test_monitoring.py. The DCGM exporter's securityContext and extraVolumeMounts
# are a Kubernetes SecurityContext and VolumeMounts (its defaults show only some fields), validated as such,
# in a container, there.
CHART_OF_RELEASE: dict[str, tuple[str, tuple[str, ...]]] = {
    "karpenter": ("karpenter", ()),
    "nvidia-device-plugin": ("nvidia-device-plugin", ()),
    "dcgm-exporter": ("dcgm-exporter", ("securityContext", "extraVolumeMounts[]")),
    "keda": ("keda", ()),
    "agentgateway": ("agentgateway", ()),
    "prometheus-operator-crds": ("prometheus-operator-crds", ()),
    "kube-prometheus-stack": (
        "kube-prometheus-stack",
        ("alertmanager.config", "grafana.nodeSelector", "grafana.persistence", "kube-state-metrics.nodeSelector", "prometheus-node-exporter.tolerations"),
    ),
}


@functools.lru_cache(maxsize=None)
def _chart(chart: str) -> dict[str, Any]:
    path = VALUES_DIR / f"{chart}.json"
    if not path.exists():
        known = sorted(p.stem for p in VALUES_DIR.glob("*.json"))
        raise KeyError(f"no derived values for chart {chart!r}; known: {', '.join(known)}")
    return json.loads(path.read_text(encoding="utf-8"))


def known_charts() -> list[str]:
    return sorted(p.stem for p in VALUES_DIR.glob("*.json"))


def _drop_merge_required(schema: Any, via_maps_only: bool = True) -> Any:
    """Helm deep-merges maps with the defaults but replaces lists, so ``required`` is only meaningful
    for user overrides inside list items: drop it on the map chain from the root."""
    if isinstance(schema, list):
        return [_drop_merge_required(s, via_maps_only) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for k, v in schema.items():
        if k == "required" and via_maps_only:
            continue
        if k == "properties" and isinstance(v, dict):
            out[k] = {n: _drop_merge_required(s, via_maps_only) for n, s in v.items()}
        elif k in ("items", "prefixItems"):
            out[k] = _drop_merge_required(v, False)
        elif k in ("additionalProperties", "not", "if", "then", "else") and isinstance(v, dict):
            out[k] = _drop_merge_required(v, via_maps_only)
        elif k in ("anyOf", "allOf", "oneOf") and isinstance(v, list):
            out[k] = [_drop_merge_required(s, via_maps_only) for s in v]
        else:
            out[k] = v
    return out


@functools.lru_cache(maxsize=None)
def _values_schema_validator(chart: str):
    vs = _chart(chart).get("values_schema")
    if not vs:
        return None
    schema = _drop_merge_required(vs["schema"])
    cls = jsonschema.validators.validator_for(schema, default=_Validator)
    return cls(schema)


def _inline_refs(schema: Any, root: Any) -> Any:
    """`schema` with its local `$ref`s ("#/$defs/...") replaced by what they point to, so that the key
    check below sees a chart's properties when its values.schema.json is built from references
    (cert-manager's is: every key a `$ref` into `$defs`)."""
    if isinstance(schema, list):
        return [_inline_refs(s, root) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#/"):
        target = root
        for part in schema["$ref"][2:].split("/"):
            target = target[part]
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return _inline_refs({**target, **rest}, root)
    return {k: (v if k in ("$defs", "definitions") else _inline_refs(v, root)) for k, v in schema.items()}


@functools.lru_cache(maxsize=None)
def _key_schema(chart: str) -> Any:
    schema = (_chart(chart).get("values_schema") or {}).get("schema")
    return _inline_refs(schema, schema) if schema is not None else None


class _Shape:
    """What a values node may look like, from the default-values tree and/or the values schema."""

    __slots__ = ("free", "keys", "list_elem", "list_free", "scalars")

    def __init__(self) -> None:
        self.free = False
        self.keys: dict[str, tuple[Any, Any]] = {}
        self.list_elem: list[tuple[Any, Any]] = []
        self.list_free = False
        self.scalars: set[str] = set()

    @property
    def is_map(self) -> bool:
        return bool(self.keys)

    @property
    def is_list(self) -> bool:
        return bool(self.list_elem) or self.list_free


def _shape(tree: Any, schema: Any, key_name: str) -> _Shape:
    s = _Shape()
    if tree is not None:
        if tree in ("map", "null"):
            s.free = True
        elif tree == "list":
            s.list_free = True
        elif isinstance(tree, str):
            s.scalars.add(tree)
        elif isinstance(tree, dict) and "__list__" in tree:
            s.list_elem.append((tree["__list__"], None))
        elif isinstance(tree, dict):
            if _FREE_FORM_NAMES.match(key_name) and all(v in _SCALARS for v in tree.values()):
                s.free = True
            elif any("/" in k for k in tree):  # label-style keys: a free-form map
                s.free = True
            else:
                for k, v in tree.items():
                    s.keys[k] = (v, None)
    if isinstance(schema, dict):
        types = schema.get("type")
        types = {types} if isinstance(types, str) else set(types or [])
        props = schema.get("properties")
        if not types and not props and "items" not in schema:
            s.free = True  # {} / anyOf / $ref ... : anything
        if "object" in types or props:
            ap = schema.get("additionalProperties")
            if not props or ap is True or isinstance(ap, dict):
                s.free = True
            for k, v in (props or {}).items():
                t = s.keys.get(k, (None, None))[0]
                s.keys[k] = (t, v)
        if "array" in types or "items" in schema:
            items = schema.get("items")
            if isinstance(items, dict):
                s.list_elem.append((None, items))
            else:
                s.list_free = True
        for t in types - {"object", "array"}:
            s.scalars.add({"integer": "int", "number": "float", "boolean": "bool"}.get(t, t))
    return s


def _is_free_path(norm: str, free_form: tuple[str, ...]) -> bool:
    bare = norm.replace("[]", "")
    for pat in free_form:
        p = pat.strip()
        if not p:
            continue
        if norm == p or bare == p.replace("[]", "") or fnmatch.fnmatchcase(norm, p) or fnmatch.fnmatchcase(bare, p):
            return True
        # a declared free-form subtree covers everything below it
        if norm.startswith(p + ".") or norm.startswith(p + "[") or bare.startswith(p.replace("[]", "") + "."):
            return True
    return False


def _type_of(v: Any) -> str:
    if isinstance(v, dict):
        return "map"
    if isinstance(v, list):
        return "list"
    return type_name(v)


def _check_values(value: Any, tree: Any, schema: Any, path: str, norm: str, key_name: str,
                  free_form: tuple[str, ...], errors: list[str]) -> None:
    if path and _is_free_path(norm, free_form):
        return
    shape = _shape(tree, schema, key_name)
    if shape.free:
        return
    shown = path or "<root>"
    if isinstance(value, dict):
        if not shape.is_map:
            expected = "a list" if shape.is_list else f"a {'/'.join(sorted(shape.scalars)) or 'scalar'}"
            errors.append(f"{shown}: expected {expected} (chart default), got a map")
            return
        for k, v in value.items():
            k = str(k)
            child_path = f"{path}.{k}" if path else k
            child_norm = f"{norm}.{k}" if norm else k
            if k not in shape.keys:
                if _is_free_path(child_norm, free_form):
                    continue
                close = _suggest(k, shape.keys)
                if close:
                    hint = f"did you mean {', '.join(close)}?"
                else:
                    more = " ..." if len(shape.keys) > 25 else ""
                    hint = f"existing keys here: {', '.join(sorted(shape.keys)[:25])}{more}"
                where = "default values or values.schema.json" if schema is not None else "default values"
                errors.append(f"{child_path}: unknown key {k!r} (not in the chart's {where}); {hint}")
                continue
            t, sch = shape.keys[k]
            _check_values(v, t, sch, child_path, child_norm, k, free_form, errors)
    elif isinstance(value, list):
        if not shape.is_list:
            expected = "a map" if shape.is_map else f"a {'/'.join(sorted(shape.scalars)) or 'scalar'}"
            errors.append(f"{shown}: expected {expected} (chart default), got a list")
            return
        if not shape.list_elem:
            return  # empty default list and no schema for its items: elements are free-form
        # the representative default element and/or the schema's items
        elem_tree = next((t for t, _ in shape.list_elem if t is not None), None)
        elem_schema = next((sch for _, sch in shape.list_elem if sch is not None), None)
        for i, item in enumerate(value):
            _check_values(item, elem_tree, elem_schema, f"{path}[{i}]", f"{norm}[]", "",
                          free_form, errors)
    else:
        if value is None:
            return  # null removes the key in Helm
        if shape.is_map or shape.is_list:
            if not shape.scalars:
                expected = "a map" if shape.is_map else "a list"
                errors.append(f"{shown}: expected {expected} (chart default), got {_type_of(value)} {value!r}")
            return
        if shape.scalars == {"bool"} and not isinstance(value, bool):
            errors.append(f"{shown}: expected a bool (chart default), got {_type_of(value)} {value!r} "
                          f"(a string such as \"false\" is truthy in templates)")


def validate_helm_values(chart: str, values: dict, free_form: tuple[str, ...] = ()) -> list[str]:
    """Check user-supplied Helm values against the chart's derived default-values structure.

    Every key path must exist in the chart's defaults (or its ``values.schema.json``). Below a key
    whose default is an empty map or null anything goes; conventional string maps (nodeSelector,
    labels/annotations, ``*Labels``/``*Annotations``, resources limits/requests) are free-form too.
    List elements are checked against the representative default element, if any. ``free_form``
    declares further free-form key paths, dotted, with ``[]`` for list elements and fnmatch
    wildcards allowed (e.g. ``"servingEngineSpec.modelSpec[].vllmConfig"``).
    Errors name the dotted key path and suggest close existing keys.
    """
    try:
        doc = _chart(chart)
    except KeyError as e:
        return [str(e.args[0])]
    if not isinstance(values, dict):
        return [f"{chart}: values must be a mapping, got {type(values).__name__}"]
    free_form = tuple(free_form)
    errors: list[str] = []
    _check_values(values, doc["values"], _key_schema(chart), "", "", "", free_form, errors)
    validator = _values_schema_validator(chart)
    if validator is not None:
        for e in sorted(validator.iter_errors(values), key=lambda e: [str(p) for p in e.absolute_path]):
            if e.validator == "additionalProperties":
                continue  # unknown keys are reported above, with suggestions
            norm = re.sub(r"\[\d+\]", "[]", _fmt_path(e.absolute_path))
            if _is_free_path(norm, free_form):
                continue
            errors.append(f"{_fmt_path(e.absolute_path)}: {_explain(e)} (chart values.schema.json)")
    return [f"{chart}: {msg}" for msg in errors]


def timing_probe(objects: list[dict], k8s_version: str) -> dict[str, float]:  # pragma: no cover
    """Rough timings (seconds) for a cold load + validation of ``objects``; used by the report."""
    import time

    _crd_index.cache_clear()
    _crd_validator.cache_clear()
    t0 = time.perf_counter()
    for (g, k), d in _crd_index().items():
        for v in d["versions"]:
            _crd_validator(g, v, k)
    t1 = time.perf_counter()
    for o in objects:
        validate_any(o, k8s_version)
    t2 = time.perf_counter()
    return {"load_all_crd_validators": t1 - t0, "validate_objects": t2 - t1}
