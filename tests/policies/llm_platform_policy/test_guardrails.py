import pytest

from llm_platform_policy import guardrails
from llm_platform_policy.pack import BY_NAME, evaluate
from tests.policies.llm_platform_policy.fixtures import compliant_stack, mutated, without

GUARDRAILS = [name for name in BY_NAME if not name.startswith(("budget", "gpu-quota"))]
ENVIRONMENT = {"environment": "staging"}  # what the fixtures declare
CONFIG = {name: {"enforcementLevel": "mandatory"} | (ENVIRONMENT if "environment" in BY_NAME[name].required_config else {}) for name in GUARDRAILS} | {
    "budget-ceiling": "disabled",
    "budget-warning": "disabled",
    "gpu-quota": "disabled",
}


def findings(stack, config=CONFIG):
    return [(f.policy, f.message) for f in evaluate(stack, config)]


def container(props):
    return props["spec"]["template"]["spec"]["containers"][0]


def test_compliant_stack_passes_every_guardrail():
    assert findings(compliant_stack()) == []


@pytest.mark.parametrize(
    "stack, policy, message",
    [
        (mutated("gpu-class", lambda p: p["spec"]["metadataOptions"].update(httpTokens="optional")), "imdsv2-required", "instance metadata allows IMDSv1 (httpTokens: optional); nodes must require IMDSv2 tokens"),
        (mutated("gpu-class", lambda p: p["spec"]["blockDeviceMappings"][0]["ebs"].update(encrypted=False)), "encryption-at-rest", "EBS volume /dev/xvda of the node class is not encrypted"),
        (mutated("gp3", lambda p: p.update(parameters={})), "encryption-at-rest", 'EBS StorageClass does not set parameters.encrypted: "true"'),
        (mutated("c", lambda p: p.pop("encryptionConfigKeyArn")), "encryption-at-rest", "Kubernetes Secrets are not envelope-encrypted with a KMS key (encryptionConfigKeyArn)"),
        (without("weights-sse"), "s3-encrypted", "S3 bucket weights has no default KMS encryption (found: none)"),
        (
            mutated("weights-sse", lambda p: p["rules"][0]["applyServerSideEncryptionByDefault"].update(sseAlgorithm="AES256")),
            "s3-encrypted",
            "S3 bucket weights has no default KMS encryption (found: ['AES256'])",
        ),
        (mutated("weights-pab", lambda p: p.update(restrictPublicBuckets=False)), "s3-public-access-blocked", "S3 bucket weights has no public access block with all of blockPublicAcls, blockPublicPolicy, ignorePublicAcls, restrictPublicBuckets"),
        (mutated("mistral", lambda p: container(p)["securityContext"].update(privileged=True)), "no-privilege-escalation", "container vllm is privileged"),
        (mutated("mistral", lambda p: container(p)["securityContext"].pop("allowPrivilegeEscalation")), "no-privilege-escalation", "container vllm does not set allowPrivilegeEscalation: false"),
        (mutated("mistral", lambda p: container(p).update(image="vllm/vllm-openai:latest")), "images-pinned", "container vllm uses image 'vllm/vllm-openai:latest' without a pinned tag or digest"),
        (mutated("mistral", lambda p: container(p).update(image="registry:5000/vllm")), "images-pinned", "container vllm uses image 'registry:5000/vllm' without a pinned tag or digest"),
        (mutated("karpenter", lambda p: p.pop("version")), "images-pinned", "Helm release of chart oci://public.ecr.aws/karpenter/karpenter has no pinned chart version"),
        (mutated("mistral", lambda p: container(p)["resources"]["limits"].pop("nvidia.com/gpu")), "gpu-limits-set", "pods of serving/mistral run on GPU nodes but no container sets a nvidia.com/gpu limit"),
        (mutated("nat", lambda p: p["tags"].pop("project")), "required-tags", "missing required tags ['project']"),
        (mutated("system-class", lambda p: p["spec"]["amiSelectorTerms"][0].update(alias="al2023@latest")), "karpenter-ami-pinned", "AMI alias al2023@latest follows the newest release: nodes change image without a review"),
    ],
)
def test_each_violation_is_reported(stack, policy, message):
    assert findings(stack) == [(policy, message)]


def test_allow_list_exempts_a_reviewed_workload():
    stack = mutated("mistral", lambda p: container(p)["securityContext"].update(privileged=True))
    config = CONFIG | {"no-privilege-escalation": {"enforcementLevel": "mandatory", "allowList": [{"name": "serving/mistral", "reason": "reviewed: needs the device files"}]}}
    assert findings(stack, config) == []


def test_imdsv2_defaults_to_required_on_node_classes():
    # The EC2NodeClass CRD defaults httpTokens to "required"; omitting it is compliant.
    assert findings(mutated("gpu-class", lambda p: p["spec"].pop("metadataOptions"))) == []


def test_taggable_types_cover_every_aws_type_the_program_declares():
    # Every AWS resource type the AWS base can declare (its Kinds) whose typed SDK class takes tags must be
    # in the tag rule's list, or a resource of it would escape the rule.
    import importlib
    import inspect

    from llm_platform.aws import kinds
    from llm_platform.resources import Kind

    declared = [kind for kind in vars(kinds).values() if isinstance(kind, Kind)]
    assert len(declared) > 20
    untagged = set()
    for kind in declared:
        package, module, name = kind.token.split(":")
        sdk = importlib.import_module(f"pulumi_{package}" if module == "index" else f"pulumi_{package}.{module.split('/')[0]}")
        if "tags" in inspect.signature(getattr(sdk, name)._internal_init).parameters and kind.token not in guardrails.TAGGABLE_TYPES:
            untagged.add(kind.token)
    assert untagged == set()
