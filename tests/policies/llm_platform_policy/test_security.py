"""The allow-list, environment and AWS security rules: one compliant production stack
(`compliant_security_stack`), then one mutation per violation."""

import dataclasses
import json

import pytest

from llm_platform_policy.pack import BY_NAME, POLICIES, evaluate
from tests.policies.llm_platform_policy.fixtures import (
    KEY_POLICY,
    OIDC_HOST,
    TLS_ONLY,
    compliant_security_stack,
    grant,
    irsa_trust,
    mutated,
    resource,
    without,
)

RULES = [
    "eks-endpoint-restricted",
    "stack-environment",
    "production-high-availability",
    "vpc-flow-logs",
    "buckets-protected",
    "security-group-ingress-restricted",
    "load-balancer-sources-restricted",
    "gke-control-plane-restricted",
    "iam-no-wildcard-actions",
    "iam-trust-restricted",
    "resource-policies-not-public",
    "kms-key-rotation",
    "s3-tls-only",
    "eks-control-plane-logs",
    "log-retention-set",
    "imds-hop-limit",
]


LIST_THEM = "list the actions, or add a reviewed exception (name, action, reason)"
OPEN_PATTERN = "a pattern (or an empty value) admits identities it does not name, so workloads it was not meant for could assume the role"
RESTRICTING = "aws:principalaccount, aws:principalorgid, aws:principalarn, aws:sourceaccount, aws:sourcearn, aws:sourceowner, aws:sourcevpc, aws:sourcevpce, kms:calleraccount"


def config(environment="production", **overrides):
    """Only the rules under test, mandatory; the environment where a rule takes one."""
    result = {policy.name: "disabled" for policy in POLICIES}
    for name in RULES:
        entry = {"enforcementLevel": "mandatory"}
        if "environment" in BY_NAME[name].config_properties:
            entry["environment"] = environment
        result[name] = entry | overrides.get(name, {})
    return result


def findings(stack, pack_config=None):
    return [(f.policy, f.message) for f in evaluate(stack, pack_config or config())]


def one(stack, policy, pack_config=None):
    found = findings(stack, pack_config)
    assert [name for name, _ in found] == [policy], found
    return found[0][1]


def on(name, change):
    return mutated(name, change, stack_of=compliant_security_stack)


def set_json(key, value):
    return lambda props: props.update({key: json.dumps(value)})


def test_compliant_stack_passes():
    assert findings(compliant_security_stack()) == []


def test_every_new_rule_is_exercised():
    assert set(RULES) <= set(BY_NAME)


# -- allow-lists -------------------------------------------------------------------------------------

HALVES = ["0.0.0.0/1", "128.0.0.0/1"]


@pytest.mark.parametrize(
    "stack, policy, message",
    [
        (on("cluster", lambda p: p.update(publicAccessCidrs=HALVES)), "eks-endpoint-restricted", f"the EKS API endpoint is public and its publicAccessCidrs {HALVES} admits the whole public IPv4 internet"),
        (on("cluster", lambda p: p.pop("publicAccessCidrs")), "eks-endpoint-restricted", "the EKS API endpoint is public and its publicAccessCidrs (unset: 0.0.0.0/0) admits the whole public IPv4 internet"),
        (
            on("eks", lambda p: p["vpcConfig"].update(publicAccessCidrs=[f"{n}.0.0.0/8" for n in range(1, 4)])),
            "eks-endpoint-restricted",
            "the EKS API endpoint is public and its publicAccessCidrs ['1.0.0.0/8', '2.0.0.0/8', '3.0.0.0/8'] admits 1.36% of the public IPv4 internet (at most 1% allowed)",
        ),
        (
            on("nodes", lambda p: p["ingress"].append({"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]})),
            "security-group-ingress-restricted",
            "security group ingress from ['0.0.0.0/0', '10.0.0.0/16'] admits the whole public IPv4 internet, on tcp 22, tcp 443, remote administration (SSH) among them",
        ),
        (
            on("nodes", lambda p: p["ingress"].append({"protocol": "-1", "fromPort": 0, "toPort": 0, "ipv6CidrBlocks": ["2000::/3"]})),
            "security-group-ingress-restricted",
            "security group ingress from ['10.0.0.0/16', '2000::/3'] admits the whole public IPv6 internet, on all ports, tcp 443, remote administration (RDP, SSH) among them",
        ),
        # Two rules of one group, each half the internet: judged together.
        (
            on("https-from-office", lambda p: p.update(cidrBlocks=["0.0.0.0/1"], fromPort=3389, toPort=3389)),
            "security-group-ingress-restricted",
            "security group ingress from ['0.0.0.0/1', '198.51.100.0/24'] admits 56.53% of the public IPv4 internet (at most 1% allowed), on tcp 3389, tcp 8443, remote administration (RDP) among them",
        ),
        (
            on("api-from-partner", lambda p: p.update(cidrIpv4=None, cidrIpv6="::/0")),
            "security-group-ingress-restricted",
            "security group ingress from ['203.0.113.0/24', '::/0'] admits the whole public IPv6 internet, on tcp 443, tcp 8443",
        ),
        (
            on("gateway", lambda p: p["spec"].pop("loadBalancerSourceRanges")),
            "load-balancer-sources-restricted",
            "internet-facing Service serving/gateway admits ['0.0.0.0/0', '::/0'] (loadBalancerSourceRanges), which admits the whole public IPv4 internet",
        ),
        (
            on("gateway", lambda p: p["spec"].update(loadBalancerSourceRanges=HALVES)),
            "load-balancer-sources-restricted",
            f"internet-facing Service serving/gateway admits {HALVES} (loadBalancerSourceRanges), which admits the whole public IPv4 internet",
        ),
        # The gateway's Service is declared inside AgentgatewayParameters: judged the same way, and a
        # LoadBalancer when the type is left out.
        (
            on("edge", lambda p: p["spec"]["service"]["spec"].update(loadBalancerSourceRanges=HALVES)),
            "load-balancer-sources-restricted",
            f"internet-facing AgentgatewayParameters gateway/edge admits {HALVES} (loadBalancerSourceRanges), which admits the whole public IPv4 internet",
        ),
        (
            on("edge", lambda p: p["spec"]["service"].update(spec={})),
            "load-balancer-sources-restricted",
            "internet-facing AgentgatewayParameters gateway/edge admits ['0.0.0.0/0', '::/0'] (loadBalancerSourceRanges), which admits the whole public IPv4 internet",
        ),
        (
            on("models", lambda p: p["metadata"]["annotations"].pop("alb.ingress.kubernetes.io/inbound-cidrs")),
            "load-balancer-sources-restricted",
            "internet-facing Ingress serving/models admits ['0.0.0.0/0'] (alb.ingress.kubernetes.io/inbound-cidrs), which admits the whole public IPv4 internet",
        ),
        (
            on("models", lambda p: p["metadata"]["annotations"].update({"alb.ingress.kubernetes.io/inbound-cidrs": "0.0.0.0/1,128.0.0.0/1"})),
            "load-balancer-sources-restricted",
            f"internet-facing Ingress serving/models admits {HALVES} (alb.ingress.kubernetes.io/inbound-cidrs), which admits the whole public IPv4 internet",
        ),
        (
            on("models", lambda p: p["metadata"]["annotations"].update({"alb.ingress.kubernetes.io/security-groups": "sg-1"})),
            "load-balancer-sources-restricted",
            "internet-facing Ingress serving/models takes its security groups from alb.ingress.kubernetes.io/security-groups, which the pack cannot judge; list the allowed networks in alb.ingress.kubernetes.io/inbound-cidrs",
        ),
        (on("gke", lambda p: p.pop("masterAuthorizedNetworksConfig")), "gke-control-plane-restricted", "the GKE control plane has a public endpoint and no masterAuthorizedNetworksConfig: it admits the whole internet"),
        (
            on("gke", lambda p: p["masterAuthorizedNetworksConfig"].update(cidrBlocks=[{"cidrBlock": c} for c in HALVES])),
            "gke-control-plane-restricted",
            f"the GKE control plane's authorized networks {HALVES} admits the whole public IPv4 internet",
        ),
        (
            on("gke", lambda p: p["masterAuthorizedNetworksConfig"].update(gcpPublicCidrsAccessEnabled=True)),
            "gke-control-plane-restricted",
            "the GKE control plane admits every Google Cloud public address (gcpPublicCidrsAccessEnabled): any Compute Engine VM of any customer",
        ),
        # IPv6 prefixes that embed IPv4 addresses admit the IPv4 internet, in every allow-list.
        (
            on("eks", lambda p: p["vpcConfig"].update(publicAccessCidrs=["::ffff:0:0/96"])),
            "eks-endpoint-restricted",
            "the EKS API endpoint is public and its publicAccessCidrs ['::ffff:0:0/96'] admits the whole public IPv4 internet",
        ),
        (
            on("nodes", lambda p: p["ingress"].append({"protocol": "tcp", "fromPort": 22, "toPort": 22, "ipv6CidrBlocks": ["2002::/16"]})),
            "security-group-ingress-restricted",
            "security group ingress from ['10.0.0.0/16', '2002::/16'] admits the whole public IPv4 internet, on tcp 22, tcp 443, remote administration (SSH) among them",
        ),
        (
            on("gke", lambda p: p["masterAuthorizedNetworksConfig"].update(cidrBlocks=[{"cidrBlock": "64:ff9b::/96"}])),
            "gke-control-plane-restricted",
            "the GKE control plane's authorized networks ['64:ff9b::/96'] admits the whole public IPv4 internet",
        ),
        (
            on("https-from-office", lambda p: p.update(type="Ingress", cidrBlocks=HALVES)),
            "security-group-ingress-restricted",
            f"security group ingress from {sorted([*HALVES, '198.51.100.0/24'])} admits the whole public IPv4 internet, on tcp 443, tcp 8443",
        ),
        # A Service type however spelt, and an explicit internet-facing scheme beside the legacy internal flag.
        (
            on("gateway", lambda p: p["spec"].update(type="loadbalancer", loadBalancerSourceRanges=HALVES)),
            "load-balancer-sources-restricted",
            f"internet-facing Service serving/gateway admits {HALVES} (loadBalancerSourceRanges), which admits the whole public IPv4 internet",
        ),
        (
            on("gateway", lambda p: [p["spec"].update(loadBalancerSourceRanges=HALVES), p["metadata"].update(annotations={"service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing", "service.beta.kubernetes.io/aws-load-balancer-internal": "true"})]),
            "load-balancer-sources-restricted",
            f"internet-facing Service serving/gateway admits {HALVES} (loadBalancerSourceRanges), which admits the whole public IPv4 internet",
        ),
        (
            on("gke", lambda p: [p.update(privateClusterConfig={"enablePrivateNodes": True, "enablePrivateEndpoint": "false"}), p["masterAuthorizedNetworksConfig"].update(cidrBlocks=[{"cidrBlock": c} for c in HALVES])]),
            "gke-control-plane-restricted",
            f"the GKE control plane's authorized networks {HALVES} admits the whole public IPv4 internet",
        ),
    ],
)
def test_open_allow_lists_are_refused(stack, policy, message):
    assert one(stack, policy) == message


@pytest.mark.parametrize(
    "stack",
    [
        on("cluster", lambda p: p.update(endpointPublicAccess=False, publicAccessCidrs=["0.0.0.0/0"])),  # no public endpoint
        on("gateway", lambda p: p.update(metadata={**p["metadata"], "annotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}}, spec={"type": "LoadBalancer"})),
        on("gateway", lambda p: p.update(spec={"type": "ClusterIP"})),
        on("models", lambda p: p["metadata"]["annotations"].update({"alb.ingress.kubernetes.io/scheme": "internal", "alb.ingress.kubernetes.io/inbound-cidrs": "0.0.0.0/0"})),
        on("gke", lambda p: p.update(privateClusterConfig={"enablePrivateNodes": True, "enablePrivateEndpoint": True}, masterAuthorizedNetworksConfig=None)),
        on("nodes", lambda p: p["ingress"].append({"protocol": "tcp", "fromPort": 443, "toPort": 443, "securityGroups": ["sg-2"]})),
    ],
)
def test_closed_or_internal_endpoints_pass(stack):
    assert findings(stack) == []


def test_the_share_threshold_is_policy_config():
    stack = on("cluster", lambda p: p.update(publicAccessCidrs=["17.0.0.0/8"]))
    assert findings(stack) == []
    strict = config(**{"eks-endpoint-restricted": {"maxInternetSharePercent": 0.1}})
    assert "admits 0.45% of the public IPv4 internet (at most 0.1% allowed)" in one(stack, "eks-endpoint-restricted", strict)


# -- the stack's environment ---------------------------------------------------------------------------


def test_a_stack_declaring_another_environment_is_refused():
    stack = [dataclasses.replace(r, props={**r.props, "tags": {**r.props["tags"], "environment": "staging"}}) if r.name in ("vpc", "key") else r for r in compliant_security_stack()]
    assert one(stack, "stack-environment") == (
        "the stack declares environment 'staging' (vpc, key) but its environment is 'production' (its policy config): "
        "a stack cannot choose its own environment; set llm-platform:environment to 'production'"
    )


def test_gcp_labels_and_node_class_tags_declare_the_environment_too():
    stack = on("gke", lambda p: p.update(resourceLabels={"environment": "dev"}))
    assert "declares environment 'dev' (gke)" in one(stack, "stack-environment")
    stack = on("gpu-class", lambda p: p["spec"]["tags"].update(environment="dev"))
    assert "declares environment 'dev' (gpu-class)" in one(stack, "stack-environment")


def test_production_rules_follow_the_configured_environment_not_the_declared_one():
    single_nat = without("nat-b", stack_of=compliant_security_stack)
    # Configured as staging, the production rules do not apply ...
    assert findings(single_nat, config("staging")) == [("stack-environment", findings(single_nat, config("staging"))[0][1])]
    # ... configured as production they do, whatever the resources declare.
    assert one(single_nat, "production-high-availability").startswith("zones ['us-west-2b'] have subnets but no NAT gateway of their own (1 NAT gateway(s) for 2 zones)")


@pytest.mark.parametrize(
    "stack, policy, message",
    [
        (
            on("nat-b", lambda p: p.update(connectivityType="private")),
            "production-high-availability",
            "zones ['us-west-2b'] have subnets but no NAT gateway of their own (2 NAT gateway(s) for 2 zones): one zone's outage would cut the others' egress; production runs one NAT gateway per zone",
        ),
        (
            on("mistral-scaler", lambda p: p["spec"].pop("minReplicaCount")),
            "production-high-availability",
            "Deployment serving/mistral keeps 0 replica(s) (its autoscaler's minimum); production keeps at least 2 so one can drain or fail",
        ),
        (
            on("router", lambda p: p["spec"].pop("replicas")),
            "production-high-availability",
            "Deployment serving/router keeps 1 replica(s) (replicas); production keeps at least 2 so one can drain or fail",
        ),
        (on("karpenter", lambda p: p["values"].update(replicas=1)), "production-high-availability", "the Karpenter controller runs 1 replica(s); production runs at least 2"),
        (
            on("system", lambda p: p["spec"]["template"]["spec"]["requirements"][1].update(values=["spot", "on-demand"])),
            "production-high-availability",
            "NodePool system runs system workloads on spot capacity (['spot', 'on-demand']); production runs them on on-demand nodes only",
        ),
        (without("flow-log", stack_of=compliant_security_stack), "vpc-flow-logs", "VPC vpc records no flow logs; production records them"),
        (on("flow-logs", lambda p: p.update(retentionInDays=30)), "vpc-flow-logs", "flow log group /vpc/flow-logs keeps records 30 days; production keeps them at least 90"),
    ],
)
def test_production_rules(stack, policy, message):
    assert one(stack, policy) == message


def test_an_unprotected_bucket_is_refused_in_production_only():
    stack = [dataclasses.replace(r, protect=False) if r.name == "weights" else r for r in compliant_security_stack()]
    assert one(stack, "buckets-protected") == "bucket weights is not protected (resource option protect); production protects its buckets from `pulumi destroy` and replacement"
    staging = [dataclasses.replace(r, props=json.loads(json.dumps(r.props).replace('"environment": "production"', '"environment": "staging"'))) for r in stack]
    assert findings(staging, config("staging")) == []


def test_gke_subnetworks_record_flow_logs_in_production():
    from tests.policies.llm_platform_policy.fixtures import resource

    subnetwork = resource("gcp:compute/subnetwork:Subnetwork", "nodes", {"name": "nodes", "ipCidrRange": "10.40.0.0/20"})
    assert one([subnetwork], "vpc-flow-logs") == "subnetwork nodes records no VPC flow logs (logConfig); production records them"
    logged = dataclasses.replace(subnetwork, props={**subnetwork.props, "logConfig": {"flowSampling": 0.5}})
    assert findings([logged]) == []


# -- IAM, keys, buckets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stack, policy, message",
    [
        (on("read-weights", set_json("policy", grant("s3:*"))), "iam-no-wildcard-actions", "statement 'Read' of read-weights grants wildcard actions ['s3:*']; list the actions, or add a reviewed exception (name, action, reason)"),
        (on("read-weights", set_json("policy", grant("*"))), "iam-no-wildcard-actions", "statement 'Read' of read-weights grants wildcard actions ['*']; list the actions, or add a reviewed exception (name, action, reason)"),
        (
            on("read-weights", set_json("policy", {"Statement": {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}})),
            "iam-no-wildcard-actions",
            "an Allow statement of read-weights allows everything but ['iam:*'] (NotAction); list the actions it grants",
        ),
        (on("publish", lambda p: p.update(policy=grant("SNS:*"))), "iam-no-wildcard-actions", "statement 'Read' of publish grants wildcard actions ['SNS:*']; list the actions, or add a reviewed exception (name, action, reason)"),
        (
            on("node", lambda p: p["inlinePolicies"][0].update(policy=json.dumps(grant("ec2:*", resource="*")))),
            "iam-no-wildcard-actions",
            "statement 'Read' of  grants wildcard actions ['ec2:*']; list the actions, or add a reviewed exception (name, action, reason)",
        ),
        (on("read-weights", lambda p: p.update(policy="{not json")), "iam-no-wildcard-actions", "policy document of read-weights is not a JSON object; it cannot be reviewed"),
        # Partial patterns grant families of actions, including ones a service adds later.
        (on("read-weights", set_json("policy", grant("s3:*Object"))), "iam-no-wildcard-actions", f"statement 'Read' of read-weights grants wildcard actions ['s3:*Object']; {LIST_THEM}"),
        (on("read-weights", set_json("policy", grant("iam:Pass*"))), "iam-no-wildcard-actions", f"statement 'Read' of read-weights grants wildcard actions ['iam:Pass*']; {LIST_THEM}"),
        (on("read-weights", set_json("policy", grant("s3:Get?bject"))), "iam-no-wildcard-actions", f"statement 'Read' of read-weights grants wildcard actions ['s3:Get?bject']; {LIST_THEM}"),
        (on("read-weights", set_json("policy", grant("*:*"))), "iam-no-wildcard-actions", f"statement 'Read' of read-weights grants wildcard actions ['*:*']; {LIST_THEM}"),
        # Element names and Effect read as IAM reads them, whatever their case or padding.
        (on("read-weights", set_json("policy", {"statement": [{"effect": " allow", "action": "*", "resource": "*"}]})), "iam-no-wildcard-actions", f"an Allow statement of read-weights grants wildcard actions ['*']; {LIST_THEM}"),
        (
            on("read-weights", set_json("policy", {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::other/*"}]})),
            "iam-no-wildcard-actions",
            "an Allow statement of read-weights allows on every resource but ['arn:aws:s3:::other/*'] (NotResource with Allow); list the resources",
        ),
        (
            on("read-weights", set_json("policy", {"Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::123456789012:role/*"}]})),
            "iam-no-wildcard-actions",
            "an Allow statement of read-weights grants iam:PassRole on ['arn:aws:iam::123456789012:role/*']: any role of the account could be handed to a service; name the roles",
        ),
        (
            [*compliant_security_stack(), resource("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "admin", {"role": "irsa", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"})],
            "iam-no-wildcard-actions",
            "irsa is given the AWS managed policy AdministratorAccess, which grants whole services; attach a policy listing the actions, or add a reviewed exception (name, action: AdministratorAccess, reason)",
        ),
        (
            on("node", lambda p: p.update(managedPolicyArns=["arn:aws:iam::aws:policy/AmazonS3FullAccess"])),
            "iam-no-wildcard-actions",
            "the resource is given the AWS managed policy AmazonS3FullAccess, which grants whole services; attach a policy listing the actions, or add a reviewed exception (name, action: AmazonS3FullAccess, reason)",
        ),
        (
            on("irsa", set_json("assumeRolePolicy", irsa_trust("system:serviceaccount:serving:*"))),
            "iam-trust-restricted",
            f"the web-identity trust of {OIDC_HOST} admits sub ['system:serviceaccount:serving:*']: {OPEN_PATTERN}",
        ),
        (
            on("irsa", set_json("assumeRolePolicy", {"Statement": [{**irsa_trust()["Statement"][0], "Condition": {"StringLike": {f"{OIDC_HOST}:sub": "system:serviceaccount:serving:mistral", f"{OIDC_HOST}:aud": "*"}}}]})),
            "iam-trust-restricted",
            f"the web-identity trust of {OIDC_HOST} admits aud ['*']: {OPEN_PATTERN}",
        ),
        (
            # A provider named directly rather than by an IAM OIDC provider ARN is a web identity too.
            on("node", set_json("assumeRolePolicy", {"Statement": [{"Effect": "Allow", "Principal": {"Federated": "cognito-identity.amazonaws.com"}, "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": {"cognito-identity.amazonaws.com:aud": "us-west-2:pool"}}}]})),
            "iam-trust-restricted",
            "the web-identity trust of cognito-identity.amazonaws.com does not pin cognito-identity.amazonaws.com:sub with StringEquals or StringLike: any token of that provider could assume the role",
        ),
        (
            on("node", set_json("assumeRolePolicy", {"Statement": [{"Effect": "Allow", "Principal": {"aws": "arn:aws:iam::*:root"}, "Action": "sts:AssumeRole"}]})),
            "iam-trust-restricted",
            'the trust policy lets any AWS principal assume the role (Principal {"aws": "arn:aws:iam::*:root"}) without a condition confining it to an account, organisation or source',
        ),
        (
            on("node", set_json("assumeRolePolicy", {"Statement": [{"Effect": "Allow", "Principal": {"Service": "*"}, "Action": "sts:AssumeRole"}]})),
            "iam-trust-restricted",
            'the trust policy lets any AWS principal assume the role (Principal {"Service": "*"}) without a condition confining it to an account, organisation or source',
        ),
        (
            # A condition on the right key with a pattern (or with Null) confines nothing.
            on("node", set_json("assumeRolePolicy", {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole", "Condition": {"StringLike": {"aws:PrincipalAccount": "1*"}, "Null": {"aws:PrincipalOrgID": "false"}}}]})),
            "iam-trust-restricted",
            'the trust policy lets any AWS principal assume the role (Principal "*") without a condition confining it to an account, organisation or source',
        ),
        (
            on("irsa", lambda p: p.update(assumeRolePolicy=json.dumps({"Statement": [{**irsa_trust()["Statement"][0], "Condition": {"StringEquals": {f"{OIDC_HOST}:aud": "sts.amazonaws.com"}}}]}))),
            "iam-trust-restricted",
            f"the web-identity trust of {OIDC_HOST} does not pin {OIDC_HOST}:sub with StringEquals or StringLike: any token of that provider could assume the role",
        ),
        (
            on("irsa", lambda p: p.update(assumeRolePolicy=json.dumps({"Statement": [{**irsa_trust()["Statement"][0], "Condition": {"StringEqualsIfExists": {f"{OIDC_HOST}:aud": "sts.amazonaws.com"}, "StringEquals": {f"{OIDC_HOST}:sub": "system:serviceaccount:serving:mistral"}}}]}))),
            "iam-trust-restricted",
            f"the web-identity trust of {OIDC_HOST} does not pin {OIDC_HOST}:aud with StringEquals or StringLike: any token of that provider could assume the role",
        ),
        (
            on("irsa", set_json("assumeRolePolicy", irsa_trust("system:serviceaccount:*:mistral"))),
            "iam-trust-restricted",
            f"the web-identity trust of {OIDC_HOST} admits sub ['system:serviceaccount:*:mistral']: {OPEN_PATTERN}",
        ),
        (
            on("node", set_json("assumeRolePolicy", {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]})),
            "iam-trust-restricted",
            'the trust policy lets any AWS principal assume the role (Principal {"AWS": "*"}) without a condition confining it to an account, organisation or source',
        ),
        (
            on("node", set_json("assumeRolePolicy", {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]})),
            "iam-trust-restricted",
            'the trust policy lets any AWS principal assume the role (Principal "*") without a condition confining it to an account, organisation or source',
        ),
        (
            on("key", set_json("policy", {"Statement": [{**KEY_POLICY["Statement"][1], "Condition": {"StringEquals": {"kms:ViaService": "s3.us-west-2.amazonaws.com"}}}]})),
            "resource-policies-not-public",
            "statement 'ViaS3' allows ['kms:Decrypt', 'kms:GenerateDataKey'] to any principal without a condition confining it to an account, organisation or source "
            "(aws:principalaccount, aws:principalorgid, aws:principalarn, aws:sourceaccount, aws:sourcearn, aws:sourceowner, aws:sourcevpc, aws:sourcevpce, kms:calleraccount)",
        ),
        (
            on("weights-tls-only", set_json("policy", {"Statement": [*TLS_ONLY["Statement"], {"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": "s3:GetObject", "Resource": "*"}]})),
            "resource-policies-not-public",
            "an Allow statement allows ['s3:GetObject'] to any principal without a condition confining it to an account, organisation or source "
            "(aws:principalaccount, aws:principalorgid, aws:principalarn, aws:sourceaccount, aws:sourcearn, aws:sourceowner, aws:sourcevpc, aws:sourcevpce, kms:calleraccount)",
        ),
        (
            on("interruptions", set_json("policy", {"Statement": [{"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}, "Action": "sqs:SendMessage"}]})),
            "resource-policies-not-public",
            "an Allow statement allows every principal but some (NotPrincipal)",
        ),
        (on("key", lambda p: p.update(enableKeyRotation=False)), "kms-key-rotation", "the KMS key does not rotate its key material (enableKeyRotation: true)"),
        (on("key", lambda p: p.update(enableKeyRotation="false")), "kms-key-rotation", "the KMS key does not rotate its key material (enableKeyRotation: true)"),
        (
            # A key policy given as an object instead of JSON text is read the same.
            on("key", lambda p: p.update(policy={"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::*:root"}, "Action": "kms:Decrypt", "Resource": "*"}]})),
            "resource-policies-not-public",
            f"an Allow statement allows ['kms:Decrypt'] to any principal without a condition confining it to an account, organisation or source ({RESTRICTING})",
        ),
        (
            on("weights", lambda p: p.update(policy=json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]}))),
            "resource-policies-not-public",
            f"an Allow statement allows ['s3:GetObject'] to any principal without a condition confining it to an account, organisation or source ({RESTRICTING})",
        ),
        (on("weights", lambda p: p.update(acl="Public-Read")), "resource-policies-not-public", "the bucket ACL 'Public-Read' grants access to everyone"),
        (
            on("weights-tls-only", set_json("policy", {"Statement": [{**TLS_ONLY["Statement"][0], "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]})),
            "s3-tls-only",
            "S3 bucket weights has no bucket policy statement denying s3:* to everyone when aws:SecureTransport is false",
        ),
        (without("weights-tls-only", stack_of=compliant_security_stack), "s3-tls-only", "S3 bucket weights has no bucket policy statement denying s3:* to everyone when aws:SecureTransport is false"),
        # A deny on the bucket alone leaves the objects readable over plain HTTP.
        (
            on("weights-tls-only", set_json("policy", {"Statement": [{**TLS_ONLY["Statement"][0], "Resource": "arn:aws:s3:::weights"}]})),
            "s3-tls-only",
            "S3 bucket weights has no bucket policy statement denying s3:* to everyone when aws:SecureTransport is false",
        ),
        # Another condition can keep the deny from ever applying.
        (
            on(
                "weights-tls-only",
                set_json("policy", {"Statement": [{**TLS_ONLY["Statement"][0], "Condition": {"Bool": {"aws:SecureTransport": "false"}, "StringEquals": {"aws:SourceVpce": "vpce-0"}}}]}),
            ),
            "s3-tls-only",
            "S3 bucket weights has no bucket policy statement denying s3:* to everyone when aws:SecureTransport is false",
        ),
    ],
)
def test_iam_keys_and_buckets(stack, policy, message):
    assert one(stack, policy) == message


def test_a_public_bucket_acl_is_refused():
    from tests.policies.llm_platform_policy.fixtures import resource

    acl = resource("aws:s3/bucketAclV2:BucketAclV2", "acl", {"acl": "public-read"})
    assert one([*compliant_security_stack(), acl], "resource-policies-not-public") == "the bucket ACL 'public-read' grants access to everyone"


def test_a_reviewed_wildcard_is_an_exception_for_its_policy_only():
    stack = on("read-weights", set_json("policy", grant("s3:*")))
    reviewed = config(**{"iam-no-wildcard-actions": {"exceptions": [{"name": "read-weights", "action": "S3:*", "reason": "the bucket is this role's own scratch space"}]}})
    assert findings(stack, reviewed) == []
    other = config(**{"iam-no-wildcard-actions": {"exceptions": [{"name": "other", "action": "s3:*", "reason": "the bucket is this role's own scratch space"}]}})
    assert "grants wildcard actions ['s3:*']" in one(stack, "iam-no-wildcard-actions", other)


# -- logs and nodes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stack, policy, message",
    [
        (on("cluster", lambda p: p.update(enabledClusterLogTypes=["api"])), "eks-control-plane-logs", "EKS control-plane logs ['audit', 'authenticator'] are off (enabledClusterLogTypes: ['api'])"),
        (on("eks", lambda p: p.pop("enabledClusterLogTypes")), "eks-control-plane-logs", "EKS control-plane logs ['api', 'audit', 'authenticator'] are off (enabledClusterLogTypes: [])"),
        (on("flow-logs", lambda p: p.pop("retentionInDays")), "log-retention-set", "log group /vpc/flow-logs sets no retentionInDays: CloudWatch keeps (and bills) its records forever"),
        (
            on("gpu-class", lambda p: p["spec"]["metadataOptions"].update(httpPutResponseHopLimit=2)),
            "imds-hop-limit",
            "instance metadata answers 2 network hops away (httpPutResponseHopLimit: 2): pods can reach the node's IAM credentials; set it to 1",
        ),
        (
            on("nodes-lt", lambda p: p["metadataOptions"].update(httpPutResponseHopLimit=3)),
            "imds-hop-limit",
            "instance metadata answers 3 network hops away (httpPutResponseHopLimit: 3): pods can reach the node's IAM credentials; set it to 1",
        ),
        (
            on("nodes-lt", lambda p: p["metadataOptions"].pop("httpPutResponseHopLimit")),
            "imds-hop-limit",
            "the launch template does not set metadataOptions.httpPutResponseHopLimit: instances inherit the AMI's (2 on AL2023), and pods reach the node's credentials",
        ),
    ],
)
def test_logs_and_nodes(stack, policy, message):
    assert one(stack, policy) == message


def test_node_class_hop_limit_defaults_to_one():
    # The EC2NodeClass CRD defaults httpPutResponseHopLimit to 1; leaving it out is compliant.
    assert findings(on("gpu-class", lambda p: p["spec"].pop("metadataOptions"))) == []


def _behind_one_service(floor: int) -> list:
    """The compliant stack whose model keeps `floor` replicas, with a spot burst Deployment that may scale to
    none and one Service in front of both (the platform's floor and burst)."""
    stack = []
    for r in compliant_security_stack():
        props = json.loads(json.dumps(r.props))
        if r.name == "mistral":
            props["spec"]["template"].setdefault("metadata", {})["labels"] = {"llm-platform.io/model": "mistral", "app.kubernetes.io/name": "mistral"}
        if r.name == "mistral-scaler":
            props["spec"]["minReplicaCount"] = floor
        stack.append(dataclasses.replace(r, props=props))
    burst = json.loads(json.dumps(next(r.props for r in stack if r.name == "mistral")))
    burst["metadata"]["name"] = "mistral-burst"
    burst["spec"]["template"]["metadata"]["labels"] = {"llm-platform.io/model": "mistral", "app.kubernetes.io/name": "mistral-burst"}
    scaler = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "mistral-burst", "namespace": "serving"}, "spec": {"scaleTargetRef": {"name": "mistral-burst"}, "minReplicaCount": 0}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "mistral", "namespace": "serving"}, "spec": {"selector": {"llm-platform.io/model": "mistral"}}}
    return stack + [
        resource("kubernetes:apps/v1:Deployment", "mistral-burst", burst),
        resource("kubernetes:keda.sh/v1alpha1:ScaledObject", "mistral-burst-scaler", scaler),
        resource("kubernetes:core/v1:Service", "mistral-service", service),
    ]


def test_a_burst_that_may_scale_to_none_counts_with_the_floor_behind_its_service():
    assert [f for f in findings(_behind_one_service(floor=2)) if f[0] == "production-high-availability"] == []
    messages = [m for policy, m in findings(_behind_one_service(floor=1)) if policy == "production-high-availability"]
    assert "Deployment serving/mistral-burst keeps 1 replica(s) (with the 1 other workload(s) behind its Service); production keeps at least 2 so one can drain or fail" in messages


# -- second red-team pass: values the pack once crashed on, a bucket of the newer type ---------------------


def test_a_retention_given_as_text_is_read_not_crashed_on():
    assert one(on("flow-logs", lambda p: p.update(retentionInDays="30")), "vpc-flow-logs") == "flow log group /vpc/flow-logs keeps records 30 days; production keeps them at least 90"
    assert one(on("flow-logs", lambda p: p.update(retentionInDays="forever")), "vpc-flow-logs").startswith("flow log group /vpc/flow-logs keeps records 1 days")


def test_unreadable_ports_are_judged_as_all_ports():
    message = one(on("https-from-office", lambda p: p.update(fromPort="22a", toPort="22a", cidrBlocks=["0.0.0.0/0"])), "security-group-ingress-restricted")
    assert "all ports" in message and "SSH" in message


def test_a_bucket_v2_is_held_to_the_same_rules():
    def v2(urn: str) -> str:
        return urn.replace("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")

    bucket_v2 = [
        dataclasses.replace(r, type=v2(r.type), urn=v2(r.urn), dependencies=tuple(v2(d) for d in r.dependencies)) for r in compliant_security_stack()
    ]
    assert findings(bucket_v2) == []
    unprotected = [dataclasses.replace(r, protect=False) if r.type == "aws:s3/bucketV2:BucketV2" else r for r in bucket_v2]
    assert [policy for policy, _ in findings(unprotected)] == ["buckets-protected"]


def _firewall(**props) -> list:
    rule = {"name": "allow-ssh", "network": "vpc", "sourceRanges": ["203.0.113.0/24"], "allows": [{"protocol": "tcp", "ports": ["22"]}], **props}
    return compliant_security_stack() + [resource("gcp:compute/firewall:Firewall", "allow-ssh", rule)]


def test_a_compute_engine_firewall_is_judged_by_what_it_admits():
    assert findings(_firewall()) == []
    assert one(_firewall(sourceRanges=["0.0.0.0/1", "128.0.0.0/1"]), "security-group-ingress-restricted") == (
        "firewall ingress from ['0.0.0.0/1', '128.0.0.0/1'] admits the whole public IPv4 internet, on tcp 22, remote administration (SSH) among them"
    )
    assert "on all ports" in one(_firewall(sourceRanges=["0.0.0.0/0"], allows=[{"protocol": "all"}]), "security-group-ingress-restricted")
    # Egress and disabled rules admit nothing.
    assert findings(_firewall(sourceRanges=["0.0.0.0/0"], direction="EGRESS")) == []
    assert findings(_firewall(sourceRanges=["0.0.0.0/0"], disabled=True)) == []


@pytest.mark.parametrize(
    "arn, name",
    [
        ("arn:aws:iam::aws:policy/AdministratorAccess-Amplify", "AdministratorAccess-Amplify"),
        ("arn:aws:iam::aws:policy/job-function/SystemAdministrator", "SystemAdministrator"),
        ("arn:aws:iam::aws:policy/SecretsManagerReadWrite", "SecretsManagerReadWrite"),
        ("arn:aws:iam::aws:policy/ReadOnlyAccess", "ReadOnlyAccess"),
        ("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess", "AmazonS3ReadOnlyAccess"),
    ],
)
def test_every_broad_aws_managed_policy_is_refused(arn, name):
    stack = [*compliant_security_stack(), resource("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "broad", {"role": "irsa", "policyArn": arn})]
    assert one(stack, "iam-no-wildcard-actions") == (
        f"irsa is given the AWS managed policy {name}, which grants whole services; attach a policy listing the actions, or add a reviewed exception (name, action: {name}, reason)"
    )


def test_the_narrow_managed_policies_nodes_need_pass():
    for arn in ("arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly", "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"):
        stack = [*compliant_security_stack(), resource("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "node", {"role": "node", "policyArn": arn})]
        assert findings(stack) == []
