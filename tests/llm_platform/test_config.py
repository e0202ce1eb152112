"""Stack configuration: both stack files load, and every kind of bad input is refused with a message
that names the key, the value and the rule."""

from __future__ import annotations

import copy

import pytest

from llm_platform.config import ConfigError, StackConfig, _decode, parse_stack_config
from tools.preview import ROOT, load_stack_file


def raw_stack(stack: str) -> dict:
    flat, _ = load_stack_file(stack, ROOT)
    raw = {}
    for key, value in flat.items():
        if key.startswith("llm-platform:"):
            raw[key.removeprefix("llm-platform:")] = _decode(value)
    return raw


VALID = {
    "environment": "staging",
    "region": "us-west-2",
    "clusterName": "llm-test",
    "network": {"cidr": "10.0.0.0/16"},
    "budget": {"monthlyLimitUsd": 1000, "alertEmails": ["team@example.com"]},
    "observability": {"alertEmails": ["oncall@example.com"]},
}


def with_change(path: str, value) -> dict:
    raw = copy.deepcopy(VALID)
    *parents, leaf = path.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
    if value is DELETE:
        node.pop(leaf)
    else:
        node[leaf] = value
    return raw


DELETE = object()


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_stack_files_load(stack):
    config = parse_stack_config(raw_stack(stack))
    assert config.environment == stack
    assert config.common_tags()["environment"] == stack
    assert config.common_tags()["managed-by"] == "pulumi"


def test_production_is_highly_available():
    config = parse_stack_config(raw_stack("production"))
    assert config.network.nat_gateways == "perAz"
    assert config.network.az_count >= 3
    assert config.network.flow_logs is not None


def test_defaults_are_safe():
    config = parse_stack_config(VALID)
    assert config.network.az_count == 3
    assert config.network.nat_gateways == "single"
    assert config.network.flow_logs is None


BAD_INPUTS = [
    ("budget.alertEmails", ["not-an-address"], 'llm-platform:budget.alertEmails: ["not-an-address"] is invalid', "are not e-mail addresses"),
    ("budget.monthlyLimitUsd", 0, "llm-platform:budget.monthlyLimitUsd: 0 is invalid", "greater than 0"),
    ("clustrName", "llm-x", "llm-platform:clustrName: unknown key", "did you mean 'clusterName'"),
    ("network.azCuont", 3, "llm-platform:network.azCuont: unknown key", "did you mean 'azCount'"),
    ("network.cidr", "10.0.0.0/33", 'llm-platform:network.cidr: "10.0.0.0/33" is invalid', "not a valid IPv4 network"),
    ("network.cidr", "10.0.0.1/16", 'llm-platform:network.cidr: "10.0.0.1/16" is invalid', "has host bits set"),
    ("network.cidr", "8.8.0.0/16", 'llm-platform:network.cidr: "8.8.0.0/16" is invalid', "private (RFC 1918)"),
    ("network.cidr", "10.0.0.0/24", 'llm-platform:network.cidr: "10.0.0.0/24" is invalid', "between /16 and /20"),
    ("network.azCount", 1, "llm-platform:network.azCount: 1 is invalid", "greater than or equal to 2"),
    ("network.natGateways", "double", 'llm-platform:network.natGateways: "double" is invalid', "'single' or 'perAz'"),
    ("network.flowLogs", {"retentionDays": 10}, "llm-platform:network.flowLogs.retentionDays: 10 is invalid", "retention periods"),
    ("environment", "prod", 'llm-platform:environment: "prod" is invalid', "'dev', 'staging' or 'production'"),
    ("region", "mars-north-1", 'llm-platform:region: "mars-north-1" is invalid', "supported regions: us-west-2"),
    ("region", DELETE, "llm-platform:region: (not set) is invalid", "Field required"),
    ("clusterName", "LLM_Staging", 'llm-platform:clusterName: "LLM_Staging" is invalid', "DNS label"),
    ("tags", {"environment": "x"}, "llm-platform:tags:", "set by the platform"),
    ("tags", {"aws:owner": "x"}, "llm-platform:tags:", "reserved 'aws:' prefix"),
]


@pytest.mark.parametrize("path,value,where,rule", BAD_INPUTS, ids=[f"{p}={v!r}"[:40] for p, v, *_ in BAD_INPUTS])
def test_bad_input_is_refused_with_key_value_and_rule(path, value, where, rule):
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(with_change(path, value))
    assert len(caught.value.problems) == 1, caught.value.problems
    problem = caught.value.problems[0]
    assert problem.startswith(where), problem
    assert rule in problem, problem


def production_with(path: str, value) -> dict:
    raw = copy.deepcopy(raw_stack("production"))
    *parents, leaf = path.split(".")
    node = raw
    for part in parents:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    if value is DELETE:
        node.pop(leaf)
    else:
        node[leaf] = value
    return raw


PRODUCTION_RULES = [
    ("network.natGateways", "single", 'llm-platform:network.natGateways: "single" is invalid (rule: production must use \'perAz\''),
    ("network.flowLogs", DELETE, "llm-platform:network.flowLogs: null is invalid (rule: production must record VPC flow logs)"),
    ("cluster.publicAccessCidrs", [], "llm-platform:cluster.publicAccessCidrs: [] is invalid (rule: production must list the networks"),
    ("cluster.publicAccessCidrs", ["0.0.0.0/0"], 'llm-platform:cluster.publicAccessCidrs: ["0.0.0.0/0"] is invalid (rule: production must list'),
    ("cluster.amiAlias", "al2023@latest", 'llm-platform:cluster.amiAlias: "al2023@latest" is invalid (rule: production pins a dated AMI'),
    ("cluster.karpenterReplicas", 1, "llm-platform:cluster.karpenterReplicas: 1 is invalid (rule: production runs at least two"),
    ("systemPool.capacityTypes", ["spot", "on-demand"], 'llm-platform:systemPool.capacityTypes: ["spot", "on-demand"] is invalid (rule: production runs monitoring'),
]


@pytest.mark.parametrize("path,value,problem", PRODUCTION_RULES, ids=[f"{p}={v!r}" for p, v, _ in PRODUCTION_RULES])
def test_production_cross_field_rules(path, value, problem):
    parse_stack_config(raw_stack("production"))
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(production_with(path, value))
    assert len(caught.value.problems) == 1, caught.value.problems
    assert caught.value.problems[0].startswith(problem), caught.value.problems[0]


def test_private_endpoint_only_production_needs_no_cidrs():
    raw = production_with("cluster.publicAccessCidrs", [])
    raw["cluster"]["endpointPublicAccess"] = False
    assert parse_stack_config(raw).cluster.endpoint_public_access is False


GPU_POOL = {"name": "l4", "instanceTypes": ["g6.xlarge"], "capacityTypes": ["spot", "on-demand"], "maxGpus": 2}

GPU_POOL_PROBLEMS = [
    ({"maxGpus": DELETE}, "llm-platform:gpuPools[0].maxGpus: (not set) is invalid", "Field required"),
    ({"maxGpus": 0}, "llm-platform:gpuPools[0].maxGpus: 0 is invalid", "greater than or equal to 1"),
    ({"instanceTypes": ["g7.xlarge"]}, 'llm-platform:gpuPools[0].instanceTypes: ["g7.xlarge"] is invalid', "the catalog knows families g5, g6, g6e, p4d, p5"),
    ({"instanceTypes": ["m7i.large"]}, 'llm-platform:gpuPools[0].instanceTypes: ["m7i.large"] is invalid', "unknown GPU instance types"),
    ({"capacityTypes": ["spot", "spot"]}, "llm-platform:gpuPools[0].capacityTypes", "must not repeat"),
    ({"capacityTypes": ["reserved"]}, 'llm-platform:gpuPools[0].capacityTypes[0]: "reserved" is invalid', "'spot' or 'on-demand'"),
    ({"consolidateAfter": "ten minutes"}, 'llm-platform:gpuPools[0].consolidateAfter: "ten minutes" is invalid', "duration"),
    ({"name": "L4_Pool"}, 'llm-platform:gpuPools[0].name: "L4_Pool" is invalid', "DNS label"),
    ({"gpuCount": 2}, "llm-platform:gpuPools[0].gpuCount: unknown key", "allowed keys are name, group, capacityTypes, maxGpus"),
]


@pytest.mark.parametrize("change,where,rule", GPU_POOL_PROBLEMS, ids=[str(c)[:40] for c, *_ in GPU_POOL_PROBLEMS])
def test_gpu_pool_rules(change, where, rule):
    pool = {**GPU_POOL, **change}
    pool = {k: v for k, v in pool.items() if v is not DELETE}
    with pytest.raises(ConfigError) as caught:
        parse_stack_config({**VALID, "gpuPools": [pool]})
    assert len(caught.value.problems) == 1, caught.value.problems
    assert caught.value.problems[0].startswith(where) and rule in caught.value.problems[0], caught.value.problems[0]


def test_gpu_pool_names_are_unique():
    with pytest.raises(ConfigError) as caught:
        parse_stack_config({**VALID, "gpuPools": [GPU_POOL, GPU_POOL]})
    assert caught.value.problems == ['llm-platform:gpuPools: "l4" is invalid (rule: pool names must be unique)']


@pytest.mark.parametrize(
    "cluster,where,rule",
    [
        ({"adminPrincipalArns": ["alice"]}, "llm-platform:cluster.adminPrincipalArns", "not IAM role or user ARNs"),
        ({"logTypes": ["api"]}, "llm-platform:cluster.logTypes", "must include ['audit', 'authenticator']"),
        ({"kubernetesVersion": "1.29"}, 'llm-platform:cluster.kubernetesVersion: "1.29" is invalid', "pinned only for Kubernetes 1.36"),
        ({"amiAlias": "al2023"}, 'llm-platform:cluster.amiAlias: "al2023" is invalid', "al2023@vYYYYMMDD"),
        ({"publicAccessCidrs": ["10.0.0.0/33"]}, "llm-platform:cluster.publicAccessCidrs[0]", "IPv4"),
    ],
)
def test_cluster_rules(cluster, where, rule):
    with pytest.raises(ConfigError) as caught:
        parse_stack_config({**VALID, "cluster": cluster})
    assert caught.value.problems[0].startswith(where) and rule in caught.value.problems[0], caught.value.problems[0]


def test_quiet_hours_need_a_cron_schedule():
    with pytest.raises(ConfigError) as caught:
        parse_stack_config({**VALID, "gpuQuietHours": {"schedule": "weekdays", "duration": "9h"}})
    assert caught.value.problems[0].startswith('llm-platform:gpuQuietHours.schedule: "weekdays" is invalid (rule: must be a 5-field cron')


def test_every_problem_is_reported_at_once():
    raw = {**VALID, "clustrName": "x", "network": {"cidr": "10.0.0.0/33", "azCount": 9}}
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw)
    assert len(caught.value.problems) == 3


def test_every_field_is_documented():
    def walk(model):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no docstring"
            annotation = field.annotation
            for candidate in getattr(annotation, "__args__", (annotation,)):
                if isinstance(candidate, type) and hasattr(candidate, "model_fields"):
                    walk(candidate)

    walk(StackConfig)


# -- models: fit, tensor parallelism and replica rules ----------------------------------------------------

SERVING = {
    **VALID,
    "gpuPools": [{"name": "l4", "instanceTypes": ["g6.xlarge", "g6.2xlarge"], "capacityTypes": ["spot", "on-demand"], "maxGpus": 2}],
    "models": [{"name": "mistral", "source": "hf://mistralai/Mistral-7B-Instruct-v0.3", "parametersBillion": 7.25, "poolGroup": "l4", "maxReplicas": 2}],
}


def with_model(**changes) -> dict:
    raw = copy.deepcopy(SERVING)
    raw["models"][0].update(changes)
    return raw


def problems(raw: dict) -> str:
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(raw)
    return "\n".join(refused.value.problems)


def test_a_7b_model_fits_one_l4():
    (model,) = parse_stack_config(SERVING).models
    # 7.25 B x 2 bytes x 1.2 = 17.4 GB against 22888 MiB (24.0 GB) x 0.9 = 21.6 GB.
    assert round(model.required_gb, 1) == 17.4


def test_a_model_too_big_for_its_gpus_is_refused_with_the_numbers():
    message = problems(with_model(parametersBillion=13))
    assert "llm-platform:models[0].parametersBillion: 13.0 is invalid" in message
    assert "13B x 2 bytes (bf16) x 1.2 = 31.2 GB does not fit 1 x 24.0 GB x 0.9 = 21.6 GB of pool group l4" in message


def test_quantised_weights_fit_where_bf16_does_not():
    assert parse_stack_config(with_model(parametersBillion=13, precision="awq-4bit")).models[0].required_gb == pytest.approx(7.8)


def test_tensor_parallelism_stays_inside_one_node():
    message = problems(with_model(gpusPerReplica=2, maxReplicas=1))
    assert "llm-platform:models[0].gpusPerReplica: 2 is invalid" in message
    assert "the largest instance of pool group l4 has 1 GPU(s)" in message


def test_replicas_beyond_the_pool_gpus_are_refused():
    message = problems(with_model(maxReplicas=3))
    assert "llm-platform:models[0].maxReplicas: 3 is invalid (rule: 3 replicas x 1 GPU(s) = 3 exceeds the 2 GPUs (maxGpus) of pool group l4)" in message


def test_unknown_pool_group_and_oversized_resources():
    assert "llm-platform:models[0].poolGroup: \"a100\" is invalid (rule: must name a GPU pool group of this stack (l4))" in problems(with_model(poolGroup="a100"))
    assert "must fit the smallest instance of pool group l4 (g6.xlarge: 4 vCPU, 16 GiB)" in problems(with_model(resources={"cpu": 4, "memoryGib": 12}))


@pytest.mark.parametrize(
    "source, rule",
    [
        ("huggingface.co/org/model", "must be hf://<org>/<model>, s3://<bucket>/<prefix> (AWS) or gs://<bucket>/<prefix> (Google Cloud)"),
        ("hf://just-a-name", "'hf://just-a-name' must be hf://<org>/<model>, a Hugging Face repository id"),
        # The grammar the weight fetcher applies too: a repository part cannot start with '-'.
        ("hf://org/-model", "'hf://org/-model' must be hf://<org>/<model>"),
        ("hf://org/model--x", "without '--' or '..'"),
        ("s3://UPPER/prefix", "the S3 bucket 'UPPER' must be 3-63 lowercase letters"),
        ("s3://weights-bucket", "must name the prefix the weights are under: s3://<bucket>/<prefix>"),
        ("s3://weights-bucket/a/../b", "the prefix 'a/../b' must be '/'-separated segments"),
        ("s3://weights-bucket/models/*", "the prefix 'models/*' must be"),
    ],
)
def test_bad_sources_are_refused(source, rule):
    assert rule in problems(with_model(source=source))


def test_engine_args_the_platform_sets_cannot_be_overridden():
    assert "['--port=9000'] are set by the platform" in problems(with_model(engine={"extraArgs": ["--port=9000"]}))
