"""The llm-platform policy pack: wires the rules of `llm_platform.policy` into Pulumi CrossGuard.

Run with `pulumi preview --policy-pack policies --policy-pack-config policies/config/<stack>.json`.
"""

import sys
from pathlib import Path

# The rules live in the project beside this directory, so the pack and the offline preview share them.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import (  # noqa: E402
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from llm_platform.policy.core import Policy, Resource  # noqa: E402
from llm_platform.policy.pack import POLICIES  # noqa: E402

LEVELS = {"advisory": EnforcementLevel.ADVISORY, "mandatory": EnforcementLevel.MANDATORY, "disabled": EnforcementLevel.DISABLED}


def _schema(policy: Policy) -> PolicyConfigSchema | None:
    if not policy.config_properties:
        return None
    return PolicyConfigSchema(properties=policy.config_properties, required=list(policy.required_config))


def _resource_policy(policy: Policy) -> ResourceValidationPolicy:
    def validate(args, report_violation):
        config = policy.config_with_defaults(args.get_config())
        for message in policy.check_resource(args.resource_type, args.props, config):
            report_violation(message, None)

    return ResourceValidationPolicy(policy.name, policy.description, validate, LEVELS[policy.enforcement], _schema(policy))


def _stack_policy(policy: Policy) -> StackValidationPolicy:
    def validate(args, report_violation):
        resources = [
            Resource(r.resource_type, r.urn, r.name, r.props, tuple(dependency.urn for dependency in r.dependencies))
            for r in args.resources
        ]
        for urn, message in policy.check_stack(resources, policy.config_with_defaults(args.get_config())):
            report_violation(message, urn or None)

    return StackValidationPolicy(policy.name, policy.description, validate, LEVELS[policy.enforcement], _schema(policy))


PolicyPack(
    "llm-platform",
    [_stack_policy(policy) if policy.check_stack else _resource_policy(policy) for policy in POLICIES],
)
