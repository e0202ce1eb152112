"""Run the policy pack's rules over Kubernetes manifests the pack cannot see in a preview: the objects
a Helm chart renders. A `kubernetes:helm.sh/v3:Release` shows the pack only its values; `helm template`
with the same chart, version, namespace and values (`build/<stack>/helm/<release>.yaml` holds all four)
renders what the release would install, and this reads that output as the pack reads declared objects.

    helm template <release> <repository>/<chart> --version <version> --namespace <namespace> \\
        --values <values file> | python -m tools.check_manifests <stack> --namespace <namespace> -

Exit status: 0 clean (advisory findings are printed), 1 a mandatory rule is violated, 2 the input or the
policy config cannot be read. Reviewed exceptions (a node agent's hostPath, say) go into the rule's
`allowList` in `policies/config/<stack>.json`, with their reason.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Iterable

import yaml

from llm_platform_policy.core import Finding, Resource
from llm_platform_policy.kube import object_type as type_token
from llm_platform_policy.pack import evaluate
from tools.policy_config import PolicyConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent
# Rules over a whole stack's cost and capacity: a chart's objects alone are not a stack, and judged alone
# they would report a missing budget.
STACK_ACCOUNTING = ("budget-ceiling", "budget-warning", "gpu-quota")


def resources(documents: Iterable[Any], namespace: str) -> list[Resource]:
    """Each object as a policy resource; objects without a namespace get the one Helm installs into."""
    found = []
    for obj in documents:
        if not isinstance(obj, dict) or not obj.get("kind"):
            continue
        if obj["kind"] == "List":
            found += resources(obj.get("items") or [], namespace)
            continue
        metadata = {"namespace": namespace, **(obj.get("metadata") or {})}
        obj = {**obj, "metadata": metadata}
        typ = type_token(obj)
        name = f"{metadata['namespace']}/{metadata.get('name')}"
        found.append(Resource(typ, f"urn:manifest::{typ}::{name}", name, obj))
    return found


def check(documents: Iterable[Any], pack_config: dict[str, Any], namespace: str = "default") -> list[Finding]:
    config = {**pack_config, **{name: "disabled" for name in STACK_ACCOUNTING}}
    return evaluate(resources(documents, namespace), config)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack")
    parser.add_argument("files", nargs="+", help="YAML manifest files, `-` for standard input")
    parser.add_argument("--namespace", default="default", help="namespace of objects that name none (helm template --namespace)")
    parser.add_argument("--policy-config", type=Path, help="policy pack config (default: policies/config/<stack>.json)")
    args = parser.parse_args(argv)
    try:
        pack_config = load_config(args.policy_config or ROOT / "policies" / "config" / f"{args.stack}.json")
        documents = []
        for file in args.files:
            text = sys.stdin.read() if file == "-" else Path(file).read_text()
            documents += list(yaml.safe_load_all(text))
    except (OSError, PolicyConfigError, yaml.YAMLError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    findings = check(documents, pack_config, args.namespace)
    for finding in findings:
        print(f"{finding.enforcement:9} {finding.policy} [{finding.urn.rsplit('::', 1)[-1]}]: {finding.message}")
    mandatory = sorted({f.policy for f in findings if f.enforcement == "mandatory"})
    if mandatory:
        print(f"error: mandatory policy violation(s): {', '.join(mandatory)}", file=sys.stderr)
        return 1
    print(f"{len(documents)} document(s) checked: {'no' if not findings else len(findings)} finding(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
