import pytest

from llm_platform_policy import catalog, cost
from llm_platform_policy.core import Resource
from tests.policies.llm_platform_policy.fixtures import compliant_gke_stack, compliant_stack, mutated, without

HOURS = 730


def by_name(report: cost.CostReport) -> dict[str, float]:
    return {item.name: item.monthly_usd for item in report.items}


def details(report: cost.CostReport) -> dict[str, str]:
    return {item.name: item.detail for item in report.items}


def test_compliant_stack_ceiling_by_hand():
    items = by_name(cost.monthly_ceiling(compliant_stack()))
    # GPU pool: both types carry one GPU, so the 2-GPU limit allows two of the dearer g6.2xlarge.
    assert items["GPU pool gpu-l4"] == round(2 * HOURS * 0.9776, 2)
    # System pool: 8 vCPU / 32 GiB allow four m7i.large or two m7i.xlarge, the same price.
    assert items["node pool system"] == round(4 * HOURS * 0.1008, 2)
    assert items["root volumes of pool gpu-l4"] == 32.0
    assert items["root volumes of pool system"] == 16.0
    assert items["EKS control plane"] == 73.0
    assert items["NAT gateways"] == 32.85
    # Fargate: two CoreDNS pods at the 0.25 vCPU / 0.5 GB minimum and Karpenter's 1 vCPU / 1 GiB
    # request plus 0.25 GB overhead, billed as 1 vCPU / 2 GB.
    assert items["Fargate vCPU"] == round(1.5 * HOURS * 0.04048, 2)
    assert items["Fargate memory"] == round(3 * HOURS * 0.004445, 2)
    assert cost.monthly_ceiling(compliant_stack()).monthly_usd == 1954.55
    assert details(cost.monthly_ceiling(compliant_stack()))["GPU pool gpu-l4"] == "2 x g6.2xlarge on-demand"
    assert details(cost.monthly_ceiling(compliant_stack()))["node pool system"] == "4 x m7i.large on-demand"


def test_spot_is_never_the_ceiling():
    def spot_only(props):
        props["spec"]["template"]["spec"]["requirements"][1]["values"] = ["spot"]

    assert cost.monthly_ceiling(mutated("gpu-l4", spot_only)).monthly_usd == cost.monthly_ceiling(compliant_stack()).monthly_usd


def test_multi_gpu_instance_counts_whole_nodes():
    def four_gpu_type(props):
        props["spec"]["template"]["spec"]["requirements"][0]["values"] = ["g6.12xlarge"]
        props["spec"]["limits"] = {"nvidia.com/gpu": "6"}

    report = cost.monthly_ceiling(mutated("gpu-l4", four_gpu_type))
    items = by_name(report)
    assert details(report)["GPU pool gpu-l4"] == "1 x g6.12xlarge on-demand"
    # A 6-GPU limit fits one 4-GPU node; a second would pass the limit, so Karpenter cannot launch it.
    assert items["GPU pool gpu-l4"] == round(HOURS * catalog.aws_instance_type("g6.12xlarge").prices["us-west-2"], 2)


@pytest.mark.parametrize(
    "stack, why",
    [
        (mutated("gpu-l4", lambda p: p["spec"].update(limits={})), "has no cpu, memory or nvidia.com/gpu limit"),
        (mutated("gpu-l4", lambda p: p["spec"]["template"]["spec"]["requirements"].pop(0)), "does not restrict instance types"),
        (mutated("gpu-l4", lambda p: p["spec"]["template"]["spec"]["requirements"][0].update(values=["x9.huge"])), "no us-west-2 price for x9.huge"),
        (without("aws"), "region is unknown"),
    ],
)
def test_unbounded_pools_are_reported(stack, why):
    report = cost.monthly_ceiling(stack)
    assert any(why in message for _, message in report.unbounded), report.unbounded


def test_helm_volumes_and_load_balancers_are_priced():
    values = {"prometheus": {"prometheusSpec": {"replicas": 2, "storageSpec": {"volumeClaimTemplate": {"spec": {"resources": {"requests": {"storage": "50Gi"}}}}}}}, "grafana": {"persistence": {"enabled": True, "size": "10Gi"}}}
    extra = [
        Resource("kubernetes:helm.sh/v3:Release", "urn:kps", "kps", {"name": "kps", "values": values}),
        Resource("kubernetes:networking.k8s.io/v1:Ingress", "urn:ing", "ing", {"metadata": {"annotations": {"alb.ingress.kubernetes.io/group.name": "llm"}}}),
        Resource("kubernetes:networking.k8s.io/v1:Ingress", "urn:ing2", "ing2", {"metadata": {"annotations": {"alb.ingress.kubernetes.io/group.name": "llm"}}}),
    ]
    items = by_name(cost.monthly_ceiling(compliant_stack() + extra))
    assert items["persistent volumes of kps"] == round(110 * 0.08, 2)
    # Two ingresses in one group share one ALB.
    assert items["load balancers"] == round(HOURS * 0.0225, 2)


# -- Google Cloud ---------------------------------------------------------------------------------


def test_gke_stack_ceiling_by_hand():
    report = cost.monthly_ceiling(compliant_gke_stack())
    items = by_name(report)
    assert items["GPU pool gpu-l4"] == round(2 * HOURS * 0.853624, 2), "spot pools are priced on-demand"
    assert items["node pool system"] == round(3 * HOURS * 0.134023, 2)
    assert items["boot disks of pool gpu-l4"] == 2 * 200 * 0.10
    assert items["boot disks of pool system"] == 3 * 100 * 0.10
    assert items["GKE cluster management"] == 73.0
    # Five VMs at most use the NAT gateway: 5 x $0.0014 an hour, below the 32-VM cap of $0.044.
    assert items["Cloud NAT gateways"] == round(5 * 0.0014 * HOURS, 2)
    assert items["Cloud NAT data processed"] == 200 * 0.045
    assert items["NAT addresses"] == round(0.005 * HOURS, 2)
    assert items["Cloud KMS key versions"] == round(2 * 4 * 0.06, 2)
    assert items["Cloud Logging ingestion"] == 50 * 0.50
    assert not any("EKS" in name or "S3" in name for name in items)
    assert report.unbounded == []


def test_gke_nat_gateway_charge_is_capped():
    big = mutated("gpu-l4", lambda p: p["autoscaling"].update(totalMaxNodeCount=40), compliant_gke_stack)
    assert by_name(cost.monthly_ceiling(big))["Cloud NAT gateways"] == round(0.044 * HOURS, 2)


def test_gke_pool_without_total_maximum_is_unbounded():
    report = cost.monthly_ceiling(mutated("gpu-l4", lambda p: p.update(autoscaling={"minNodeCount": 0, "maxNodeCount": 2}), compliant_gke_stack))
    assert [why for _, why in report.unbounded] == ["node pool gpu-l4 has no total maximum node count"]


def test_gke_per_zone_maximum_counts_every_zone():
    per_zone = mutated("gpu-l4", lambda p: p.update(autoscaling={"maxNodeCount": 1}, nodeLocations=["us-central1-a", "us-central1-b"]), compliant_gke_stack)
    assert details(cost.monthly_ceiling(per_zone))["GPU pool gpu-l4"] == "2 x g2-standard-8 on-demand"


def test_gke_machine_type_outside_the_catalog_is_unbounded():
    report = cost.monthly_ceiling(mutated("gpu-l4", lambda p: p["nodeConfig"].update(machineType="g4-standard-48"), compliant_gke_stack))
    assert [why for _, why in report.unbounded] == ["node pool gpu-l4: no us-central1 price for machine type g4-standard-48 in the instance catalog"]


def test_gke_region_without_prices_is_unbounded():
    report = cost.monthly_ceiling(mutated("gcp", lambda p: p.update(region="us-east4"), compliant_gke_stack))
    assert any("no us-east4 price for machine type e2-standard-4" in why for _, why in report.unbounded)


def _model_server(name: str, volumes: list[dict]) -> Resource:
    template = {"spec": {"containers": [{"name": "vllm", "image": "vllm"}], "volumes": volumes}}
    props = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "serving"}, "spec": {"template": template}}
    return Resource("kubernetes:apps/v1:Deployment", f"urn:{name}", name, props)


def test_weights_are_priced_at_what_each_model_cache_can_hold():
    weights = [
        _model_server("a", [{"name": "model-cache", "emptyDir": {"sizeLimit": "22Gi"}}, {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}}]),
        _model_server("b", [{"name": "model-cache", "emptyDir": {"sizeLimit": "161061273600"}}]),  # 150 GiB in bytes
    ]
    report = cost.monthly_ceiling(compliant_stack() + weights)
    assert details(report)["model weights in S3"] == "172 GiB"
    assert by_name(report)["model weights in S3"] == round(172 * 0.023, 2)
    # Other volumes (shared memory, a cache without a limit) bound nothing and cost nothing here.
    unbounded = [_model_server("c", [{"name": "model-cache", "emptyDir": {}}, {"name": "shm", "emptyDir": {"sizeLimit": "2Gi"}}])]
    assert "model weights in S3" not in by_name(cost.monthly_ceiling(compliant_stack() + unbounded))


# -- registry caches: bounded by what each cached repository keeps, per repository the pods pull ---------

ECR_IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/docker-hub/vllm/vllm-openai:v0.31.0@sha256:" + "a" * 64
AR_IMAGE = "us-central1-docker.pkg.dev/acme/docker-hub/vllm/vllm-openai:v0.31.0@sha256:" + "a" * 64
KEEP_THREE = '{"rules": [{"rulePriority": 1, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 3}, "action": {"type": "expire"}}]}'


def _pulling(image: str, name: str = "puller") -> Resource:
    props = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "serving"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}
    return Resource("kubernetes:apps/v1:Deployment", f"urn:{name}", name, props)


def _ecr_cache(template: dict | None) -> list[Resource]:
    rule = Resource(cost.ECR_PULL_THROUGH_CACHE_RULE, "urn:rule", "rule", {"ecrRepositoryPrefix": "docker-hub", "upstreamRegistryUrl": "registry-1.docker.io"})
    found = [rule]
    if template is not None:
        found.append(Resource(cost.ECR_REPOSITORY_CREATION_TEMPLATE, "urn:template", "template", {"prefix": "docker-hub", "appliedFors": ["PULL_THROUGH_CACHE"], **template}))
    return found


def test_an_ecr_pull_through_cache_is_priced_at_the_images_it_keeps():
    # Two pods of one repository (the tag-only pull of the warming Job too), and another image elsewhere.
    stack = compliant_stack() + _ecr_cache({"lifecyclePolicy": KEEP_THREE}) + [_pulling(ECR_IMAGE, "a"), _pulling(ECR_IMAGE.split("@")[0], "b"), _pulling("docker.io/library/busybox:1.37", "c")]
    report = cost.monthly_ceiling(stack)
    gb = catalog.service_prices()["assumptions"]["containerImageGb"]
    assert by_name(report)["image cache docker-hub in ECR"] == round(3 * gb * 0.10, 2)
    assert details(report)["image cache docker-hub in ECR"] == f"1 repository x 3 images x assumed {gb} GB"
    assert report.unbounded == []


@pytest.mark.parametrize(
    "template",
    [
        None,
        {"lifecyclePolicy": KEEP_THREE.replace('"any"', '"untagged"')},
        {"lifecyclePolicy": KEEP_THREE.replace("imageCountMoreThan", "sinceImagePushed")},
        {"lifecyclePolicy": "not json"},
    ],
    ids=["no template", "untagged only", "by age", "unreadable"],
)
def test_an_ecr_cache_that_keeps_images_without_a_count_is_unbounded(template):
    report = cost.monthly_ceiling(compliant_stack() + _ecr_cache(template) + [_pulling(ECR_IMAGE)])
    assert [why for _, why in report.unbounded] == [
        "pull-through cache docker-hub: no repository creation template expires its repositories' images beyond a count, so what it keeps has no bound"
    ]


def _remote_repository(**change) -> Resource:
    props = {
        "location": "us-central1",
        "project": "acme",
        "repositoryId": "docker-hub",
        "format": "DOCKER",
        "mode": "REMOTE_REPOSITORY",
        "cleanupPolicies": [
            {"id": "keep-recent", "action": "KEEP", "mostRecentVersions": {"keepCount": 3}},
            {"id": "delete-older", "action": "DELETE", "condition": {"tagState": "ANY", "olderThan": "86400s"}},
        ],
    }
    return Resource(cost.ARTIFACT_REGISTRY_REPOSITORY, "urn:repository", "repository", {**props, **change})


def test_an_artifact_registry_remote_repository_is_priced_at_the_versions_it_keeps():
    report = cost.monthly_ceiling(compliant_gke_stack() + [_remote_repository(), _pulling(AR_IMAGE)])
    gb = catalog.service_prices()["assumptions"]["containerImageGb"]
    assert by_name(report)["image cache docker-hub in Artifact Registry"] == round(3 * gb * 0.10, 2)
    assert report.unbounded == []


@pytest.mark.parametrize(
    "change",
    [{"cleanupPolicies": []}, {"cleanupPolicies": [{"id": "keep", "action": "KEEP", "mostRecentVersions": {"keepCount": 3}}]}, {"cleanupPolicyDryRun": True}],
    ids=["no policies", "keep without delete", "dry run"],
)
def test_a_remote_repository_without_a_deleting_cleanup_is_unbounded(change):
    report = cost.monthly_ceiling(compliant_gke_stack() + [_remote_repository(**change), _pulling(AR_IMAGE)])
    assert [why for _, why in report.unbounded] == ["remote repository docker-hub: no cleanup policy deletes all but its most recent versions, so what it keeps has no bound"]


# -- the inference gateway ------------------------------------------------------------------------

NLB_ANNOTATIONS = {"service.beta.kubernetes.io/aws-load-balancer-type": "external", "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"}


def _gateway(annotations: dict) -> list[Resource]:
    """agentgateway's parameters (its controller creates the LoadBalancer Service from `spec.service`) and
    one pool's Endpoint Picker release, as the program declares them."""
    spec = {"service": {"metadata": {"annotations": annotations}, "spec": {"type": "LoadBalancer"}}, "resources": {"requests": {"cpu": "250m"}}, "deployment": {"spec": {"replicas": 2}}}
    params = {"apiVersion": "agentgateway.dev/v1alpha1", "kind": "AgentgatewayParameters", "metadata": {"name": "edge", "namespace": "gateway"}, "spec": spec}
    epp = {"chart": "oci://ghcr.io/llm-d/charts/llm-d-router-gateway", "name": "m", "values": {"router": {"epp": {"replicas": 1, "resources": {"requests": {"cpu": "500m"}}}}}}
    return [
        Resource("kubernetes:agentgateway.dev/v1alpha1:AgentgatewayParameters", "urn:edge", "edge", params),
        Resource("kubernetes:helm.sh/v3:Release", "urn:epp", "epp", epp),
    ]


def test_the_gateway_s_nlb_is_priced_from_its_parameters_and_its_pods_by_their_share_of_the_system_pool():
    report = cost.monthly_ceiling(compliant_stack() + _gateway(NLB_ANNOTATIONS))
    items = by_name(report)
    assert items["network load balancers"] == round(HOURS * 0.0225, 2)
    assert items["network load balancer capacity units"] == round(2 * HOURS * 0.006, 2)
    assert "load balancers" not in items
    # The pods sit on the system pool (m7i.large: 2 vCPU at $0.1008): shown, not added again.
    shares = {item.name: item for item in report.included}
    assert shares["gateway proxies (share of the system pool)"].detail == "2 pod(s), 0.5 vCPU requested"
    assert shares["Endpoint Pickers (share of the system pool)"].monthly_usd == round(0.5 * HOURS * 0.0504, 2)
    assert report.monthly_usd == round(cost.monthly_ceiling(compliant_stack()).monthly_usd + items["network load balancers"] + items["network load balancer capacity units"], 2)


def test_a_load_balancer_service_without_the_nlb_type_is_priced_as_an_alb():
    items = by_name(cost.monthly_ceiling(compliant_stack() + _gateway({})))
    assert items["load balancers"] == round(HOURS * 0.0225, 2) and "network load balancers" not in items


def test_the_gke_gateway_s_passthrough_balancer_is_a_forwarding_rule_and_its_data():
    report = cost.monthly_ceiling(compliant_gke_stack() + _gateway({"networking.gke.io/load-balancer-type": "Internal"}))
    items = by_name(report)
    assert items["load balancer forwarding rules"] == round(HOURS * 0.025, 2)
    assert items["load balancer data processed"] == round(200 * 0.008, 2)
    assert {item.name for item in report.included} == {"gateway proxies (share of the system pool)", "Endpoint Pickers (share of the system pool)"}
