"""The llm-platform policy pack: wires the rules of `llm_platform_policy` (beside this file) into Pulumi
CrossGuard. The pack is self-contained: this directory is all `pulumi policy publish` uploads, and the
offline preview imports the same package.

Run with `pulumi preview --policy-pack policies --policy-pack-config policies/config/<stack>.json`.
"""

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from llm_platform_policy.core import Policy, Resource
from llm_platform_policy.kube import inline_objects, with_inline_objects
from llm_platform_policy.pack import POLICIES, resource_messages

LEVELS = {"advisory": EnforcementLevel.ADVISORY, "mandatory": EnforcementLevel.MANDATORY, "disabled": EnforcementLevel.DISABLED}


def _schema(policy: Policy) -> PolicyConfigSchema | None:
    if not policy.config_properties:
        return None
    return PolicyConfigSchema(properties=policy.config_properties, required=list(policy.required_config))


def _resource_policy(policy: Policy) -> ResourceValidationPolicy:
    def validate(args, report_violation):
        config = policy.config_with_defaults(args.get_config())
        resource = Resource(args.resource_type, args.urn, args.name, args.props, (), args.opts.protect)
        for message in resource_messages(policy, resource, inline_objects(resource), config):
            report_violation(message, None)

    return ResourceValidationPolicy(policy.name, policy.description, validate, LEVELS[policy.enforcement], _schema(policy))


def _stack_policy(policy: Policy) -> StackValidationPolicy:
    def validate(args, report_violation):
        resources = [
            Resource(r.resource_type, r.urn, r.name, r.props, tuple(dependency.urn for dependency in r.dependencies), r.opts.protect)
            for r in args.resources
        ]
        for urn, message in policy.check_stack(with_inline_objects(resources), policy.config_with_defaults(args.get_config())):
            report_violation(message, urn or None)

    return StackValidationPolicy(policy.name, policy.description, validate, LEVELS[policy.enforcement], _schema(policy))


PolicyPack(
    "llm-platform",
    [_stack_policy(policy) if policy.check_stack else _resource_policy(policy) for policy in POLICIES],
)
