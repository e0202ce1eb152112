#!/usr/bin/env python3
"""Derive the structural schemas the tests validate against from an upstream schema kit.

Run by hand whenever a pin changes, from the repository root::

    python tools/derive_schemas.py --from ../shared/schemas

The kit directory must hold the upstream CRD YAML files, the charts' default ``values.yaml`` files
(named ``<chart>[-chart]-values.yaml``), optionally a chart's ``<chart>-values.schema.json``, and a
``SOURCES.md`` whose Markdown table names each file's repository, path, ref, commit and version.

Output (under ``tests/schemas/``, overwritten):

* ``crds/<group>_<plural>.json`` -- one file per CRD: ``{"source", "group", "kind", "plural",
  "scope", "storageVersion", "versions": {<served version>: <openAPIV3Schema>}}``. Every schema
  ``description`` annotation is removed; property *names* (including a property called
  ``description``) and everything else (types, enums, patterns, defaults, x-kubernetes-* keys,
  CEL rules with their messages) are kept.
* ``values/<chart>.json`` -- ``{"source", "values": <structure tree>}`` where every key of the
  chart's default values is kept and each leaf is replaced by its YAML type name (``string``,
  ``int``, ``float``, ``bool``, ``null``; ``list`` for an empty list; ``map`` for an empty map).
  A non-empty list becomes ``{"__list__": <structure of its elements>}`` (the first element's
  structure, with the keys of any further map elements merged in). If the chart also ships a
  ``values.schema.json`` (Helm enforces it), its structure (descriptions, titles, examples and
  defaults removed) is stored under ``"values_schema": {"source", "schema"}``.

Nothing here is read by the project or the tests at run time except the generated JSON files.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "tests" / "schemas"

# JSON-Schema keywords whose value is a single sub-schema / a list of sub-schemas / a map of
# name -> sub-schema. Everything else is copied verbatim (enum, default, x-kubernetes-validations ...).
_SCHEMA_KEYS = {"items", "additionalProperties", "not", "additionalItems", "contains",
                "propertyNames", "if", "then", "else", "unevaluatedItems", "unevaluatedProperties"}
_SCHEMA_LIST_KEYS = {"anyOf", "allOf", "oneOf", "prefixItems"}
_SCHEMA_MAP_KEYS = {"properties", "patternProperties", "definitions", "$defs", "dependentSchemas"}
_DATA_ANNOTATIONS = {"default", "examples", "example"}


def strip_annotations(schema: Any, drop: frozenset[str]) -> Any:
    """Return a copy of a (JSON/OpenAPI) schema without the annotation keywords in ``drop``.

    Schema-aware: keys of ``properties`` maps are property names and are never dropped, and
    data-valued keywords (enum, default, x-kubernetes-validations ...) are copied untouched.
    """
    if isinstance(schema, list):  # e.g. draft-4 style "items": [..]
        return [strip_annotations(s, drop) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in drop and (isinstance(value, str) or key in _DATA_ANNOTATIONS):
            # prose annotations are strings (description/title/$comment); examples/defaults are data
            continue
        if key in _SCHEMA_KEYS and isinstance(value, (dict, list)):
            out[key] = strip_annotations(value, drop)
        elif key in _SCHEMA_LIST_KEYS and isinstance(value, list):
            out[key] = [strip_annotations(s, drop) for s in value]
        elif key in _SCHEMA_MAP_KEYS and isinstance(value, dict):
            out[key] = {name: strip_annotations(sub, drop) for name, sub in value.items()}
        else:
            out[key] = value
    return out


CRD_DROP = frozenset({"description"})
VALUES_SCHEMA_DROP = frozenset({"description", "title", "examples", "example", "$comment", "default"})


def parse_sources(sources_md: Path) -> dict[str, dict[str, str]]:
    """Map kit file name -> {repo, path, ref, commit, version, license} from SOURCES.md's table."""
    rows: dict[str, dict[str, str]] = {}
    header: list[str] | None = None
    for line in sources_md.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line.startswith("|"):
            header = None if not line else header
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if header is None:
            header = [c.lower() for c in cells]
            continue
        if all(set(c) <= set("-: ") for c in cells):
            continue
        rec = dict(zip(header, cells))
        name = rec.get("file", "").strip("`")
        if not name:
            continue

        def col(*names: str) -> str:
            for n in names:
                for h, v in rec.items():
                    if h.startswith(n):
                        return v.replace("`", "").strip()
            return ""

        rows[name] = {
            "file": name,
            "repo": col("repository", "repo"),
            "path": col("path"),
            "ref": col("ref"),
            "commit": col("commit"),
            "version": col("upstream version", "version"),
            "license": col("licen"),
        }
    return rows


def _source_for(sources: dict[str, dict[str, str]], fname: str) -> dict[str, str]:
    if fname not in sources:
        raise SystemExit(f"{fname}: no row in SOURCES.md; add one before deriving")
    return sources[fname]


def derive_crd(doc: dict, source: dict) -> tuple[str, dict]:
    spec = doc["spec"]
    group, plural = spec["group"], spec["names"]["plural"]
    versions: dict[str, Any] = {}
    storage = None
    for v in spec["versions"]:
        if not v.get("served", False):
            continue
        schema = (v.get("schema") or {}).get("openAPIV3Schema")
        if schema is None:
            raise SystemExit(f"{group}/{v['name']} {spec['names']['kind']}: served version without a schema")
        versions[v["name"]] = strip_annotations(schema, CRD_DROP)
        if v.get("storage"):
            storage = v["name"]
    return f"{group}_{plural}.json", {
        "source": source,
        "group": group,
        "kind": spec["names"]["kind"],
        "plural": plural,
        "scope": spec.get("scope", "Namespaced"),
        "storageVersion": storage,
        "versions": versions,
    }


def type_name(value: Any) -> str:
    """The YAML type name of a scalar default value, as stored in tests/schemas/values."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (_dt.date, _dt.datetime)):
        return "string"  # YAML timestamp; Helm (Go YAML) would read it as a string
    if isinstance(value, bytes):
        return "string"
    raise TypeError(f"unexpected YAML value type {type(value).__name__}")


def _merge(a: Any, b: Any) -> Any:
    """Merge structure b into structure a (union of map keys); on conflicting kinds a wins."""
    if isinstance(a, dict) and isinstance(b, dict):
        if ("__list__" in a) != ("__list__" in b):
            return a
        out = dict(a)
        for k, v in b.items():
            out[k] = _merge(out[k], v) if k in out else v
        return out
    if a == "null" and b != "null":
        return b
    return a


def structure(value: Any) -> Any:
    if isinstance(value, dict):
        if not value:
            return "map"
        return {str(k): structure(v) for k, v in value.items()}
    if isinstance(value, list):
        if not value:
            return "list"
        elem = structure(value[0])
        for other in value[1:]:
            elem = _merge(elem, structure(other))
        return {"__list__": elem}
    return type_name(value)


def chart_key(fname: str) -> str:
    base = re.sub(r"-values\.ya?ml$", "", fname)
    return re.sub(r"-chart$", "", base)


def _dump(path: Path, data: Any) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=1, sort_keys=False, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")
    return len(text.encode())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--from", dest="src", required=True, type=Path, help="upstream schema kit directory")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    args = ap.parse_args(argv)

    src: Path = args.src
    out: Path = args.out
    sources = parse_sources(src / "SOURCES.md")

    # Start from a clean slate so removed CRDs/charts disappear.
    for sub in ("crds", "values"):
        d = out / sub
        if d.is_dir():
            for f in d.glob("*.json"):
                f.unlink()

    written: list[tuple[str, int]] = []
    crd_count = 0
    for f in sorted(src.glob("*.yaml")):
        docs = [d for d in yaml.load_all(f.read_text(encoding="utf-8"), Loader=yaml.SafeLoader) if d]
        crds = [d for d in docs if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"]
        if crds:
            for doc in crds:
                name, data = derive_crd(doc, _source_for(sources, f.name))
                written.append((f"crds/{name}", _dump(out / "crds" / name, data)))
                crd_count += 1
            continue
        if not f.name.endswith("-values.yaml"):
            print(f"skipping {f.name}: neither a CRD nor chart values", file=sys.stderr)
            continue
        if len(docs) != 1 or not isinstance(docs[0], dict):
            raise SystemExit(f"{f.name}: expected one YAML mapping")
        key = chart_key(f.name)
        data: dict[str, Any] = {"source": _source_for(sources, f.name), "values": structure(docs[0])}
        schema_file = f.with_name(f.name[: -len(".yaml")] + ".schema.json")
        if schema_file.exists():
            data["values_schema"] = {
                "source": _source_for(sources, schema_file.name),
                "schema": strip_annotations(json.loads(schema_file.read_text(encoding="utf-8")),
                                            VALUES_SCHEMA_DROP),
            }
        written.append((f"values/{key}.json", _dump(out / "values" / f"{key}.json", data)))

    for name, size in written:
        print(f"{size:>9,}  {out / name}")
    print(f"{crd_count} CRDs, {len(written) - crd_count} charts -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
